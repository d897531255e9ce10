/* seqdream: envelope spectra for bearing diagnostics (core/envelope.c).
 *
 * A localised defect in a rolling-element bearing makes a short impulse
 * every time a ball passes it; each impulse rings a structural resonance
 * (kHz), so the defect frequency (tens to hundreds of Hz) shows in the
 * envelope of the resonance band, not in the plain spectrum. Formulas and
 * the reasons for them: docs/metrics.md, "Envelope spectrum".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The fewest samples sd_envelope_spectrum analyses. */
#define SD_ENVELOPE_MIN_SAMPLES 16

typedef struct
{
  guint n;                  /* samples analysed */
  double rate;              /* sample rate, Hz */
  double band_lo, band_hi;  /* the band-pass, Hz */
  double df;                /* bin spacing rate / n, Hz */
  guint n_bins;             /* n / 2 + 1: bin k is at k * df Hz */
  double *amplitude;        /* n_bins: one-sided amplitude spectrum of the
                             * mean-removed, Hann-windowed envelope, in the
                             * units of x: an envelope A (1 + m cos (2 pi
                             * f t)) with f on a bin gives A m there */
  double *power;            /* n_bins: one-sided power spectrum of the
                             * mean-removed x (no window), sums to its
                             * mean square: where the energy is */
  double *envelope;         /* n: the Hilbert envelope of the band */
  double envelope_mean;     /* mean of the envelope (units of x) */
  double band_rms;          /* RMS of the band-passed signal */
  double band_energy_share; /* the band's share of the energy of the
                             * mean-removed signal (0..1; NaN for a
                             * constant x) */
} SdEnvelopeSpectrum;

/* The envelope spectrum of x (n samples at rate Hz) in the band
 * [band_lo, band_hi] Hz: the mean is removed, the band kept by masking the
 * FFT (the bins outside are zeroed, the negative frequencies too, so the
 * inverse FFT is the analytic signal of the band), the envelope is its
 * magnitude (Hilbert envelope), and the spectrum is the FFT magnitude of
 * the mean-removed, Hann-windowed envelope. SD_ERROR_INVALID_ARG for NULL
 * x, n < SD_ENVELOPE_MIN_SAMPLES, a rate that is not finite and positive,
 * a band not 0 <= band_lo < band_hi <= rate / 2 (beyond Nyquist) or one
 * holding no FFT bin; SD_ERROR_NONFINITE for NaN / Inf samples.
 * Thread-safe. Free with sd_envelope_spectrum_free. */
SdEnvelopeSpectrum *sd_envelope_spectrum (const float *x, guint n, double rate,
    double band_lo, double band_hi, GError **error);
void sd_envelope_spectrum_free (SdEnvelopeSpectrum *s);

typedef struct
{
  double frequency;  /* Hz, parabolic interpolation of the log amplitude
                      * of the largest bin and its neighbours */
  double amplitude;  /* interpolated amplitude at frequency */
  double prominence; /* amplitude / median amplitude of the range */
  guint bin;         /* the largest bin in the range */
} SdEnvelopePeak;

/* The dominant envelope frequency in [f_lo, f_hi] Hz (bins k >= 1 with
 * f_lo <= k df <= f_hi, at least 3 of them): the largest bin, refined by
 * parabolic interpolation when it is a local maximum (its neighbours may
 * lie outside the range). SD_ERROR_INVALID_ARG for a range that is not
 * finite, increasing and at least 3 bins wide inside the spectrum, or an
 * envelope spectrum that is 0 throughout the range (a constant envelope). */
gboolean sd_envelope_spectrum_peak (const SdEnvelopeSpectrum *s, double f_lo,
    double f_hi, SdEnvelopePeak *peak, GError **error);

/* The median amplitude of the bins k >= 1 with lo <= k df <= hi; NaN
 * without any. */
double sd_envelope_spectrum_median (
    const SdEnvelopeSpectrum *s, double lo, double hi);

/* How far the envelope spectrum stands out at frequency f: the largest
 * amplitude of the bins within f +/- tolerance Hz (at least the nearest
 * bin), divided by sd_envelope_spectrum_median (s, ref_lo, ref_hi). About
 * 1-2 at a frequency where the envelope has nothing but noise; NaN for
 * an f outside the spectrum, a negative tolerance or a median of 0 or
 * NaN. */
double sd_envelope_spectrum_prominence (const SdEnvelopeSpectrum *s, double f,
    double tolerance, double ref_lo, double ref_hi);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdEnvelopeSpectrum, sd_envelope_spectrum_free)

G_END_DECLS
