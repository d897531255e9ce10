/* seqdream: the envelope spectrum of a signal for bearing diagnostics
 * (band-pass by FFT masking, Hilbert envelope, its spectrum) and its peak
 * and prominences. Formulas and reasons: docs/metrics.md, "Envelope
 * spectrum".
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sd-private.h"
#include "seqdream/envelope.h"
#include "seqdream/error.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

void
sd_envelope_spectrum_free (SdEnvelopeSpectrum *s)
{
  if (s == NULL)
    return;
  g_free (s->amplitude);
  g_free (s->power);
  g_free (s->envelope);
  g_free (s);
}

static gboolean
check_envelope_args (const float *x, guint n, double rate, double band_lo,
    double band_hi, GError **error)
{
  if (x == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "An envelope spectrum needs a signal");
    return FALSE;
  }
  if (n < SD_ENVELOPE_MIN_SAMPLES) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A signal of %u samples is too short for an envelope spectrum (at "
        "least %d)",
        n, SD_ENVELOPE_MIN_SAMPLES);
    return FALSE;
  }
  if (n > (guint) (G_MAXINT / 2)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A signal of %u samples is too long for an envelope spectrum", n);
    return FALSE;
  }
  if (!(isfinite (rate) && rate > 0.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Sample rate %g Hz: it must be finite and positive", rate);
    return FALSE;
  }
  if (!(isfinite (band_lo) && isfinite (band_hi) && band_lo >= 0.0
          && band_lo < band_hi)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz: it must be finite with 0 <= low < high", band_lo,
        band_hi);
    return FALSE;
  }
  if (band_hi > 0.5 * rate) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz reaches beyond the Nyquist frequency (%g Hz at "
        "%g Hz)",
        band_lo, band_hi, 0.5 * rate, rate);
    return FALSE;
  }
  /* The bins k with lo <= k df <= hi. */
  const double df = rate / n;
  if (floor (band_hi / df) < ceil (band_lo / df)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz holds no frequency bin: it must be wider than the "
        "resolution of %g Hz (rate / samples)",
        band_lo, band_hi, df);
    return FALSE;
  }
  for (guint t = 0; t < n; t++)
    if (!isfinite (x[t])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "The signal is not finite at sample %u", t);
      return FALSE;
    }
  return TRUE;
}

SdEnvelopeSpectrum *
sd_envelope_spectrum (const float *x, guint n, double rate, double band_lo,
    double band_hi, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_envelope_args (x, n, rate, band_lo, band_hi, error))
    return NULL;

  const int N = (int) n, n_bins = N / 2 + 1;
  const double df = rate / N;
  float *re = fftwf_alloc_real (N);
  fftwf_complex *spec = fftwf_alloc_complex (n_bins);
  fftwf_complex *z = fftwf_alloc_complex (N);
  g_mutex_lock (&sd_fftw_planner_lock);
  fftwf_plan fwd = fftwf_plan_dft_r2c_1d (N, re, spec, FFTW_ESTIMATE);
  fftwf_plan inv = fftwf_plan_dft_1d (N, z, z, FFTW_BACKWARD, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);

  SdEnvelopeSpectrum *s = NULL;
  double *env = NULL, *power = NULL;
  if (fwd == NULL || inv == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "FFTW could not plan a transform of %d samples", N);
    goto out;
  }

  /* Mean removed (in double: a large offset must not cost precision). */
  double mean = 0.0;
  for (int t = 0; t < N; t++)
    mean += x[t];
  mean /= N;
  for (int t = 0; t < N; t++)
    re[t] = (float) (x[t] - mean);
  fftwf_execute (fwd);

  /* Analytic signal of the band: Z[k] = 2 X[k] for 0 < k < N/2 inside
   * the band, X[k] for k = 0 and k = N/2 (their own conjugates), 0
   * elsewhere and at every negative frequency. */
  const int k_lo = (int) ceil (band_lo / df - 1e-9);
  const int k_hi = MIN ((int) floor (band_hi / df + 1e-9), N / 2);
  double e_total = 0.0, e_band = 0.0;
  power = g_new (double, n_bins);
  memset (z, 0, sizeof (fftwf_complex) * N);
  for (int k = 0; k < n_bins; k++) {
    const double p
        = (double) spec[k][0] * spec[k][0] + (double) spec[k][1] * spec[k][1];
    const gboolean edge = k == 0 || 2 * k == N;
    const double w = edge ? 1.0 : 2.0;
    power[k] = w * p / ((double) N * N); /* Parseval */
    e_total += w * p;
    if (k >= k_lo && k <= k_hi) {
      e_band += w * p;
      z[k][0] = (float) (w * spec[k][0]);
      z[k][1] = (float) (w * spec[k][1]);
    }
  }
  fftwf_execute (inv);

  /* Envelope |z| / N (FFTW's inverse is unnormalised), its mean removed,
   * Hann-windowed. */
  double env_mean = 0.0, band_power = 0.0;
  env = g_new (double, N);
  for (int t = 0; t < N; t++) {
    const double a = z[t][0] / (double) N, b = z[t][1] / (double) N;
    env[t] = sqrt (a * a + b * b);
    env_mean += env[t];
    band_power += a * a; /* the band-passed signal is Re z */
  }
  env_mean /= N;
  double wsum = 0.0;
  for (int t = 0; t < N; t++) {
    const double w = 0.5 - 0.5 * cos (2.0 * G_PI * t / N);
    wsum += w;
    re[t] = (float) (w * (env[t] - env_mean));
  }
  fftwf_execute (fwd);

  s = g_new0 (SdEnvelopeSpectrum, 1);
  s->n = n;
  s->rate = rate;
  s->band_lo = band_lo;
  s->band_hi = band_hi;
  s->df = df;
  s->n_bins = (guint) n_bins;
  s->amplitude = g_new (double, n_bins);
  for (int k = 0; k < n_bins; k++) {
    /* One-sided: a cosine of amplitude m on bin k shows m wsum / 2. */
    const double scale = (k == 0 || 2 * k == N) ? 1.0 / wsum : 2.0 / wsum;
    s->amplitude[k] = scale * hypot (spec[k][0], spec[k][1]);
  }
  s->power = g_steal_pointer (&power);
  s->envelope = g_steal_pointer (&env);
  s->envelope_mean = env_mean;
  s->band_rms = sqrt (band_power / N);
  s->band_energy_share = e_total > 0.0 ? e_band / e_total : NAN;

out:
  g_mutex_lock (&sd_fftw_planner_lock);
  if (fwd)
    fftwf_destroy_plan (fwd);
  if (inv)
    fftwf_destroy_plan (inv);
  g_mutex_unlock (&sd_fftw_planner_lock);
  fftwf_free (re);
  fftwf_free (spec);
  fftwf_free (z);
  g_free (env);
  g_free (power);
  return s;
}

/* The bins k >= 1 with lo <= k df <= hi, inside the spectrum: FALSE when
 * there are none. */
static gboolean
envelope_bins (const SdEnvelopeSpectrum *s, double lo, double hi, guint *first,
    guint *last)
{
  if (!(isfinite (lo) && isfinite (hi) && lo <= hi) || hi < s->df)
    return FALSE;
  double a = MAX (1.0, ceil (lo / s->df - 1e-9));
  double b = MIN ((double) (s->n_bins - 1), floor (hi / s->df + 1e-9));
  if (b < a)
    return FALSE;
  *first = (guint) a;
  *last = (guint) b;
  return TRUE;
}

double
sd_envelope_spectrum_median (const SdEnvelopeSpectrum *s, double lo, double hi)
{
  guint a, b;
  g_return_val_if_fail (s != NULL, NAN);
  if (!envelope_bins (s, lo, hi, &a, &b))
    return NAN;
  g_autofree double *v
      = g_memdup2 (s->amplitude + a, sizeof (double) * (b - a + 1));
  return sd_median_finite (v, b - a + 1);
}

gboolean
sd_envelope_spectrum_peak (const SdEnvelopeSpectrum *s, double f_lo,
    double f_hi, SdEnvelopePeak *peak, GError **error)
{
  guint a, b;
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (s == NULL || peak == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A peak search needs an envelope spectrum and a result");
    return FALSE;
  }
  if (!(f_lo < f_hi) || !envelope_bins (s, f_lo, f_hi, &a, &b) || b - a < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Range %g..%g Hz must be increasing and hold at least 3 bins of the "
        "envelope spectrum (%g Hz apart, up to %g Hz)",
        f_lo, f_hi, s->df, (s->n_bins - 1) * s->df);
    return FALSE;
  }
  const double *A = s->amplitude;
  guint k = a;
  for (guint i = a + 1; i <= b; i++)
    if (A[i] > A[k])
      k = i;
  if (!(A[k] > 0.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The envelope spectrum is 0 from %g to %g Hz (a constant envelope: "
        "is the band empty?)",
        f_lo, f_hi);
    return FALSE;
  }

  /* Parabola through the log amplitudes of k - 1, k, k + 1 (exact for a
   * Gaussian peak, which the Hann window's main lobe nearly is); plain
   * amplitudes when a neighbour is 0. Only at a local maximum. */
  double delta = 0.0, amp = A[k];
  if (k >= 1 && k + 1 < s->n_bins && A[k - 1] <= A[k] && A[k + 1] <= A[k]) {
    gboolean logs = A[k - 1] > 0.0 && A[k + 1] > 0.0;
    double l = logs ? log (A[k - 1]) : A[k - 1];
    double c = logs ? log (A[k]) : A[k];
    double r = logs ? log (A[k + 1]) : A[k + 1];
    double den = l - 2.0 * c + r;
    if (den < 0.0) {
      delta = CLAMP (0.5 * (l - r) / den, -0.5, 0.5);
      double v = c - 0.25 * (l - r) * delta;
      amp = logs ? exp (v) : v;
    }
  }
  peak->bin = k;
  peak->frequency = (k + delta) * s->df;
  peak->amplitude = amp;
  double med = sd_envelope_spectrum_median (s, f_lo, f_hi);
  peak->prominence = med > 0.0 ? amp / med : NAN;
  return TRUE;
}

double
sd_envelope_spectrum_prominence (const SdEnvelopeSpectrum *s, double f,
    double tolerance, double ref_lo, double ref_hi)
{
  g_return_val_if_fail (s != NULL, NAN);
  if (!(isfinite (f) && f >= 0.0 && f <= (s->n_bins - 1) * s->df
          && isfinite (tolerance) && tolerance >= 0.0))
    return NAN;
  double med = sd_envelope_spectrum_median (s, ref_lo, ref_hi);
  if (!(med > 0.0))
    return NAN;
  /* The nearest bin, and every bin within the tolerance. */
  guint k0 = (guint) lround (f / s->df);
  double best = s->amplitude[MIN (k0, s->n_bins - 1)];
  guint a = (guint) MAX (0.0, ceil ((f - tolerance) / s->df - 1e-9));
  guint b = (guint) MIN (
      (double) (s->n_bins - 1), floor ((f + tolerance) / s->df + 1e-9));
  for (guint k = a; k <= b; k++)
    best = MAX (best, s->amplitude[k]);
  return best / med;
}
