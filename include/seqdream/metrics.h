/* seqdream: how realistic is a dream? Distances and spectra against the
 * real series of its class. Formulas and reasons: docs/metrics.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Dynamic time warping distance (sqrt of the summed squared differences
 * along the best path) with a Sakoe-Chiba band of `band` samples: cells
 * with |i - j| <= band, so series may differ in length by at most band
 * (band >= max (n, m) - 1 is unconstrained DTW). Returns INFINITY exactly
 * when the distance exceeds `abandon_above` (early abandoning; pass
 * INFINITY for none), NaN for NULL series, n or m < 1, band < 0 or
 * |n - m| > band. O(n band) time, O(band) memory. */
double sd_dtw_distance (const float *a, int n, const float *b, int m, int band,
    double abandon_above);

/* Real data of every class, normalised as the model normalises its input,
 * with per-class statistics computed once. */
typedef struct _SdReference SdReference;

typedef struct
{
  double dtw_band_fraction; /* band = round (fraction * length), at most
                             * length - 1 (0.1) */
  int max_per_class;        /* series per class used for the typical
                             * nearest-neighbour distance (200; the
                             * nearest neighbour itself is searched in
                             * every series of the class) */
  double hf_cutoff;         /* high-frequency share: energy above this
                             * fraction of Nyquist (0.5) */
  guint64 seed;             /* subsampling seed (0) */
} SdReferenceConfig;

void sd_reference_config_init (SdReferenceConfig *config);

/* data's labels must be the model's (load it with the model's labels):
 * data->labels[c] must equal the model's label c for every class of the
 * data, which may hold fewer classes than the model (SD_ERROR_INVALID_ARG
 * otherwise). The series are normalised with sd_model_normalize_input. A
 * reference is immutable: any number of threads may use one at once. */
SdReference *sd_reference_new (const SdModel *model, const SdDataset *data,
    const SdReferenceConfig *config, GError **error);
void sd_reference_free (SdReference *ref);

int sd_reference_get_length (const SdReference *ref);
guint sd_reference_get_class_size (const SdReference *ref, int class_index);
/* Mean and (population) standard deviation over time of the class's
 * series (length values; NaN for a class without series). */
const float *sd_reference_get_class_mean (
    const SdReference *ref, int class_index);
const float *sd_reference_get_class_sd (
    const SdReference *ref, int class_index);

typedef struct
{
  /* Nearest real series of the target class, searched among all its
   * series (NaN when the dream's length differs from the reference's).
   * Ratios divide by the class's median leave-one-out nearest-neighbour
   * distance among its own series: 1.0 = as typical as a real series (NaN
   * when that median is 0 or unknown, e.g. a class of one series). */
  double nn_euclidean, nn_euclidean_ratio;
  double nn_dtw, nn_dtw_ratio;
  int nn_index; /* row in the reference data of the Euclidean nearest
                 * (the first on ties); -1 with NaN distances */
  /* Smoothness: mean |x[t+1] - x[t]| and the share of spectral energy above
   * the cut-off, each also divided by the class median (NaN when that is
   * 0; hf_energy is NaN for a constant dream). */
  double tv, tv_ratio;
  double hf_energy, hf_ratio;
  /* Spectral distance to the class mean power spectrum: half the L1
   * distance of the two normalised spectra (0 = same shape, 1 = disjoint;
   * a single real series is not 0: about 0.3-0.6 on FordA). The dream's
   * spectrum is on the reference's frequency grid (Hann window of the
   * reference length): Welch-averaged over reference-length segments
   * overlapping by at least half when the dream is longer, Hann-windowed
   * over its own length and zero-padded when shorter. NaN for a constant
   * dream. */
  double spectral_distance;
  /* An independent second model's verdict on the dream as given (-1 / NaN
   * without one): its argmax class and its probability of the target. */
  int second_class;
  double second_probability; /* of the target class */
} SdDreamMetrics;

/* Metrics of x (T >= 2 samples, in the model's normalised input space)
 * as a dream of target_class. second may be NULL; else it must normalise
 * its input exactly as the reference's model (the dream is not normalised
 * again) and have the same labels, or SD_ERROR_INVALID_ARG. Also
 * SD_ERROR_INVALID_ARG for NULL arguments, T < 2, a class out of range or
 * without reference series; SD_ERROR_NONFINITE for NaN / Inf samples.
 * Thread-safe for a shared reference (the second model gets a workspace
 * per call). */
gboolean sd_dream_metrics (const SdReference *ref, int target_class,
    const float *x, int T, SdModel *second, SdDreamMetrics *out,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdReference, sd_reference_free)

/* ---- envelope spectrum (bearing diagnostics) ----
 *
 * A localised defect in a rolling-element bearing makes a short impulse
 * every time a ball passes it; each impulse rings a structural resonance
 * (kHz), so the defect frequency (tens to hundreds of Hz) shows in the
 * envelope of the resonance band, not in the plain spectrum. Formulas and
 * the reasons for them: docs/metrics.md, "Envelope spectrum". */

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
