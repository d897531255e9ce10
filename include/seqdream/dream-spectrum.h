/* seqdream: the power spectra of the spectral regularisers (SPECTRUM,
 * SPECTRAL_FILTER) and the class mean spectra of reference data they
 * take as target.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Number of frequency bins of the spectra of a dream of length T:
 * T/2 + 1. */
int sd_dream_spectrum_bins (int T);

/* The normalised power spectrum of x (T >= 2 samples) as the SPECTRUM
 * regulariser sees it: mean removed, periodic Hann window, one-sided
 * |DFT|^2 (bins 1..ceil(T/2)-1 doubled), divided by its sum.
 * spectrum: sd_dream_spectrum_bins (T) values. FALSE (spectrum
 * untouched) for a constant x. */
gboolean sd_dream_power_spectrum (const float *x, int T, float *spectrum);

/* The class mean spectra for SPECTRUM / SPECTRAL_FILTER: every series of
 * data (labels mapped onto the model's, as sd_reference_new expects),
 * normalised as the model normalises its input, cut into segments of T
 * samples (hop T/2, the last segment ending at the series' end; one
 * segment when the length is T), the mean of the segments' normalised
 * power spectra per class. spectra: (n_classes, T/2 + 1); the rows of
 * classes without series are NaN. SD_ERROR_INVALID_ARG when the series
 * are shorter than T, T < 2 or data has more classes than the model. */
gboolean sd_dream_class_spectra (const SdModel *model, const SdDataset *data,
    int T, float *spectra, GError **error);

G_END_DECLS
