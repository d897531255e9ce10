/* The spectral regularisers' spectra: real DFTs by FFTW (double
 * precision), the normalised power spectrum, the SPECTRUM penalty and its
 * gradient, the SPECTRAL_FILTER (a Wiener filter), the class mean spectra
 * of reference data and the per-dream target spectra of a run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"
#include "sd-private.h"

#include <math.h>
#include <string.h>

int
sd_dream_spectrum_bins (int T)
{
  return T / 2 + 1;
}

void
dream_spec_work_free (DreamSpecWork *w)
{
  if (w == NULL)
    return;
  g_mutex_lock (&sd_fftw_planner_lock);
  if (w->fwd != NULL)
    fftw_destroy_plan (w->fwd);
  if (w->inv != NULL)
    fftw_destroy_plan (w->inv);
  g_mutex_unlock (&sd_fftw_planner_lock);
  fftw_free (w->xc);
  fftw_free (w->z);
  g_free (w->win);
  g_free (w);
}

DreamSpecWork *
dream_spec_work_new (int T)
{
  DreamSpecWork *w = g_new0 (DreamSpecWork, 1);
  w->T = T;
  w->nb = sd_dream_spectrum_bins (T);
  w->win = g_new (double, (gsize) T + 4 * (gsize) w->nb);
  w->re = w->win + T;
  w->im = w->re + w->nb;
  w->p = w->im + w->nb;
  w->a = w->p + w->nb;
  w->xc = fftw_alloc_real ((gsize) T);
  w->z = fftw_alloc_complex ((gsize) w->nb);
  for (int m = 0; m < T; m++)
    w->win[m] = 0.5 - 0.5 * cos (2.0 * G_PI * m / T);
  g_mutex_lock (&sd_fftw_planner_lock);
  w->fwd = fftw_plan_dft_r2c_1d (T, w->xc, w->z, FFTW_ESTIMATE);
  w->inv = fftw_plan_dft_c2r_1d (T, w->z, w->xc, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);
  return w;
}

/* One-sided power weight of bin k: DC and (even T) Nyquist count once,
 * every other bin stands for two. */
static inline double
bin_weight (int k, int T)
{
  return (k == 0 || 2 * k == T) ? 1.0 : 2.0;
}

/* w->re / w->im: the DFT (bins 0..T/2) of the T values in w->xc,
 * X_k = sum_t xc_t e^{-2 pi i k t / T}. */
static void
spec_dft (DreamSpecWork *w)
{
  fftw_execute (w->fwd);
  for (int k = 0; k < w->nb; k++) {
    w->re[k] = w->z[k][0];
    w->im[k] = w->z[k][1];
  }
}

/* w->xc_t <- sum_{k=0..nb-1} (ar_k cos (2 pi k t / T) - ai_k sin (...)),
 * ar, ai given in w->z (bins 0..T/2), by one inverse real FFT: FFTW's
 * c2r sums the Hermitian extension, in which bins other than DC and
 * Nyquist appear twice (and ignores the imaginary parts of those two,
 * whose sines vanish), hence the division by the bin weight. */
static void
spec_synth (DreamSpecWork *w)
{
  for (int k = 0; k < w->nb; k++) {
    const double f = 1.0 / bin_weight (k, w->T);
    w->z[k][0] *= f;
    w->z[k][1] *= f;
  }
  fftw_execute (w->inv);
}

/* w->p <- the normalised power spectrum of x (and w->re, w->im its DFT);
 * returns the total power S (0 for a constant x, p then 0). */
static double
spec_power (DreamSpecWork *w, const float *x)
{
  const int T = w->T;
  double mean = 0.0;
  for (int t = 0; t < T; t++)
    mean += x[t];
  mean /= T;
  for (int t = 0; t < T; t++)
    w->xc[t] = ((double) x[t] - mean) * w->win[t];
  spec_dft (w);
  double S = 0.0;
  for (int k = 0; k < w->nb; k++) {
    w->p[k] = bin_weight (k, T) * (w->re[k] * w->re[k] + w->im[k] * w->im[k]);
    S += w->p[k];
  }
  if (!(S > 0.0) || !isfinite (S)) {
    memset (w->p, 0, (gsize) w->nb * sizeof (double));
    return 0.0;
  }
  for (int k = 0; k < w->nb; k++)
    w->p[k] /= S;
  return S;
}

double
dream_spectrum_penalty (DreamSpecWork *w, const float *x, const double *lq,
    double eps, float weight, float *g)
{
  const int T = w->T, nb = w->nb;
  const double S = spec_power (w, x);
  if (S == 0.0)
    return 0.0;
  double P = 0.0, bp = 0.0;
  for (int k = 0; k < nb; k++) {
    const double d = log (w->p[k] + eps) - lq[k];
    P += d * d;
    /* b_k = dP/dp_k */
    w->a[k] = 2.0 * d / ((w->p[k] + eps) * nb);
    bp += w->a[k] * w->p[k];
  }
  P /= nb;
  if (g == NULL)
    return P;
  /* dP/dPow_k = (b_k - sum_j b_j p_j) / S (through the normalisation);
   * Pow_k = m_k (re_k^2 + im_k^2), re_k = sum_t xc_t cos, im_k = -sum_t
   * xc_t sin, so dP/dxc_t = 2 sum_k a_k (re_k cos - im_k sin) with
   * a_k = m_k dP/dPow_k. */
  for (int k = 0; k < nb; k++)
    w->a[k] = bin_weight (k, T) * (w->a[k] - bp) / S;
  for (int k = 0; k < nb; k++) {
    w->z[k][0] = 2.0 * w->a[k] * w->re[k];
    w->z[k][1] = 2.0 * w->a[k] * w->im[k];
  }
  spec_synth (w);
  /* back through the window and the mean removal */
  double mg = 0.0;
  for (int t = 0; t < T; t++) {
    w->xc[t] *= w->win[t];
    mg += w->xc[t];
  }
  mg /= T;
  for (int t = 0; t < T; t++)
    g[t] -= (float) (weight * (w->xc[t] - mg));
  return P;
}

void
dream_spectral_filter (DreamSpecWork *w, float *x, const double *h)
{
  const int T = w->T, nb = w->nb;
  for (int t = 0; t < T; t++)
    w->xc[t] = x[t];
  spec_dft (w);
  for (int k = 0; k < nb; k++) {
    /* bins 1..ceil(T/2)-1 stand for themselves and their mirror */
    const double f = bin_weight (k, T) * h[k] / T;
    w->z[k][0] = f * w->re[k];
    w->z[k][1] = f * w->im[k];
  }
  spec_synth (w);
  for (int t = 0; t < T; t++)
    x[t] = (float) w->xc[t];
}

gboolean
sd_dream_power_spectrum (const float *x, int T, float *spectrum)
{
  g_return_val_if_fail (x != NULL && spectrum != NULL && T >= 2, FALSE);
  DreamSpecWork *w = dream_spec_work_new (T);
  gboolean ok = spec_power (w, x) > 0.0;
  if (ok)
    for (int k = 0; k < w->nb; k++)
      spectrum[k] = (float) w->p[k];
  dream_spec_work_free (w);
  return ok;
}

gboolean
dream_check_class_data (const SdModel *model, const SdDataset *data, int T,
    int min_T, const char *what, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  const int L = (int) data->length;
  if (T < min_T || L < T) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "class %s of length %d: the data's series have %d samples (at "
        "least the dream length, and it at least %d)",
        what, T, L, min_T);
    return FALSE;
  }
  if ((int) data->n_classes > K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the data has %u classes, the model %d (load it with the model's "
        "labels)",
        data->n_classes, K);
    return FALSE;
  }
  const char *const *labels = sd_model_get_labels (model);
  for (guint c = 0; c < data->n_classes; c++)
    if (g_strcmp0 (data->labels[c], labels[c]) != 0) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "class %u of the data is '%s', of the model '%s' (load the data "
          "with the model's labels)",
          c, data->labels[c], labels[c]);
      return FALSE;
    }
  return TRUE;
}

/* How many segments of T a series of L >= T has, and where segment s of
 * n_seg starts (dream_foreach_segment). */
static int
n_segments (int L, int T)
{
  const int hop = MAX (1, T / 2);
  return L == T ? 1 : 1 + (L - T + hop - 1) / hop;
}

static gint64
segment_start (int s, int n_seg, int L, int T)
{
  return n_seg == 1 ? 0 : (gint64) s * (L - T) / (n_seg - 1);
}

void
dream_foreach_segment (const SdModel *model, const SdDataset *data, int T,
    DreamSegmentFunc fn, gpointer user)
{
  const int K = sd_model_get_n_classes (model);
  const int L = (int) data->length;
  g_autofree float *x = g_new (float, L);
  const int n_seg = n_segments (L, T);
  for (guint i = 0; i < data->n; i++) {
    const int c = data->y[i];
    if (c < 0 || c >= K)
      continue;
    memcpy (x, data->x + (gsize) i * L, (gsize) L * sizeof (float));
    sd_model_normalize_input (model, x, 1, L);
    for (int s = 0; s < n_seg; s++)
      fn (x + segment_start (s, n_seg, L, T), c, user);
  }
}

void
dream_class_means (
    const double *acc, const int *count, int K, int n, float *means)
{
  for (int c = 0; c < K; c++)
    for (int k = 0; k < n; k++)
      means[(gsize) c * n + k]
          = count[c] > 0 ? (float) (acc[(gsize) c * n + k] / count[c]) : NAN;
}

typedef struct
{
  DreamSpecWork *w;
  double *acc; /* (K, nb) sums of the segments' spectra */
  int *count;  /* (K) segments with a spectrum */
} SpectraSum;

static void
add_segment_spectrum (const float *segment, int c, gpointer user)
{
  SpectraSum *sum = user;
  const int nb = sum->w->nb;
  if (spec_power (sum->w, segment) == 0.0)
    return;
  for (int k = 0; k < nb; k++)
    sum->acc[(gsize) c * nb + k] += sum->w->p[k];
  sum->count[c]++;
}

gboolean
sd_dream_class_spectra (const SdModel *model, const SdDataset *data, int T,
    float *spectra, GError **error)
{
  g_return_val_if_fail (
      model != NULL && data != NULL && spectra != NULL, FALSE);
  const int K = sd_model_get_n_classes (model);
  if (!dream_check_class_data (model, data, T, 2, "spectra", error))
    return FALSE;
  DreamSpecWork *w = dream_spec_work_new (T);
  g_autofree double *acc = g_new0 (double, (gsize) K * w->nb);
  g_autofree int *count = g_new0 (int, K);
  SpectraSum sum = { w, acc, count };
  dream_foreach_segment (model, data, T, add_segment_spectrum, &sum);
  dream_class_means (acc, count, K, w->nb, spectra);
  dream_spec_work_free (w);
  return TRUE;
}

/* q (nb bins) <- q smoothed by a Gaussian of sigma bins along frequency,
 * reaching 4 sigma, reflected at both ends (half-sample symmetric, as the
 * spectrum of a real series is symmetric about 0 and Nyquist). Bin 0 (the
 * mean, which the spectra remove) is kept out of it: smoothing must not
 * invent a DC offset the data do not have. */
static void
smooth_spectrum (double *q, int nb, double sigma)
{
  const int n = nb - 1; /* bins 1 .. nb - 1 */
  if (n < 2)
    return;
  const int R = (int) ceil (4.0 * sigma);
  g_autofree double *w = g_new (double, R + 1);
  g_autofree double *src = g_memdup2 (q + 1, (gsize) n * sizeof (double));
  double z = 0.0;
  for (int j = 0; j <= R; j++) {
    w[j] = exp (-(double) j * j / (2.0 * sigma * sigma));
    z += j == 0 ? w[j] : 2.0 * w[j];
  }
  for (int k = 0; k < n; k++) {
    double v = w[0] * src[k];
    for (int j = 1; j <= R; j++)
      v += w[j]
           * (src[dream_reflect_index (k - j, n)]
               + src[dream_reflect_index (k + j, n)]);
    q[k + 1] = v / z;
  }
}

/* Per dream and spectral regulariser: the target spectrum q (the mean of
 * all rows, or with param2 != 0 its class's row / the mean of its two
 * border classes' rows; smoothed when reg->smooth > 0) as log (q + eps)
 * for SPECTRUM or as the Wiener gains q / (q + N) for SPECTRAL_FILTER. */
gboolean
dream_spectra_setup (DreamRun *run, GError **error)
{
  const SdDreamConfig *c = run->cfg;
  const int K = run->d->K, T = run->T;
  for (int r = 0; r < c->n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    if (!dream_reg_uses_spectra (reg->type))
      continue;
    if (run->spec == NULL)
      run->spec = dream_spec_work_new (T);
    const int nb = run->spec->nb;
    double *tg = run->spec_target[r] = g_new (double, (gsize) run->n *nb);
    for (int i = 0; i < run->n; i++) {
      const DreamState *dr = &run->dreams[i];
      double *q = tg + (gsize) i * nb;
      int rows[2] = { dr->a, dr->b }, n_rows = 1;
      const gboolean all = dr->kind == DREAM_TARGET_NONE || reg->param2 == 0.0f;
      if (all)
        n_rows = K;
      else if (dr->kind == DREAM_TARGET_BORDER)
        n_rows = 2;
      for (int k = 0; k < nb; k++) {
        double v = 0.0;
        for (int j = 0; j < n_rows; j++) {
          int row = all ? j : rows[j];
          v += reg->spectra[(gsize) row * nb + k];
        }
        v /= n_rows;
        if (!(v >= 0.0 && isfinite (v))) {
          g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
              "regulariser %d (%s), dream %d: the class spectra have no "
              "finite, non-negative value at bin %d for its class (a class "
              "without reference series?)",
              r, sd_reg_type_to_string (reg->type), i, k);
          return FALSE;
        }
        q[k] = v;
      }
      if (reg->smooth > 0.0f)
        smooth_spectrum (q, nb, (double) reg->smooth * T);
      double qmax = 0.0;
      for (int k = 0; k < nb; k++)
        qmax = MAX (qmax, q[k]);
      /* SPECTRAL_FILTER: the Wiener gain for the signal spectrum q in
       * white noise `param` dB below its peak */
      const double noise = qmax * pow (10.0, -reg->param / 10.0);
      for (int k = 0; k < nb; k++) {
        if (reg->type == SD_REG_SPECTRUM)
          q[k] = log (q[k] + reg->param);
        else if (reg->type == SD_REG_SPECTRAL_PROJECT)
          ; /* the spectrum itself */
        else
          q[k] = q[k] > 0.0 ? q[k] / (q[k] + noise) : 0.0;
      }
    }
  }
  return TRUE;
}

/* Magnitude projection of x (T) toward the normalised power spectrum q
 * (nb bins): every bin's magnitude moves by alpha from its own toward
 * sqrt (q_k S / m_k) (S the series' power outside DC, m_k the bin weight),
 * its phase kept; DC is left as it is. */
void
dream_spectral_project (
    DreamSpecWork *w, float *x, const double *q, double alpha)
{
  const int T = w->T, nb = w->nb;
  for (int t = 0; t < T; t++)
    w->xc[t] = x[t];
  spec_dft (w);
  double S = 0.0, Q = 0.0;
  for (int k = 1; k < nb; k++) {
    S += bin_weight (k, T) * (w->re[k] * w->re[k] + w->im[k] * w->im[k]);
    Q += q[k];
  }
  for (int k = 0; k < nb; k++) {
    double re = w->re[k], im = w->im[k];
    if (k > 0 && Q > 0.0 && S > 0.0) {
      const double mag = sqrt (re * re + im * im);
      const double tgt = sqrt (q[k] / Q * S / bin_weight (k, T));
      const double nm = (1.0 - alpha) * mag + alpha * tgt;
      if (mag > 0.0) {
        re *= nm / mag;
        im *= nm / mag;
      } else {
        re = nm;
        im = 0.0;
      }
    }
    const double f = bin_weight (k, T) / T;
    w->z[k][0] = f * re;
    w->z[k][1] = f * im;
  }
  spec_synth (w);
  for (int t = 0; t < T; t++)
    x[t] = (float) w->xc[t];
}

/* x (T) <- a random-phase series whose power spectrum is row `row` of
 * reg's spectra (nb bins, DC ignored), smoothed as the regulariser smooths
 * its target (so a draw carries no line structure the regulariser would
 * not impose), of RMS 1, phases from rng. */
void
dream_spectrum_draw (
    DreamSpecWork *w, const SdRegularizer *reg, int row, GRand *rng, float *x)
{
  const int T = w->T, nb = w->nb;
  double *q = w->a; /* spec_synth uses z and xc only */
  for (int k = 0; k < nb; k++)
    q[k] = MAX (reg->spectra[(gsize) row * nb + k], 0.0f);
  if (reg->smooth > 0.0f)
    smooth_spectrum (q, nb, (double) reg->smooth * T);
  for (int k = 0; k < nb; k++) {
    const double a = k == 0 ? 0.0 : sqrt (MAX (q[k], 0.0) / bin_weight (k, T));
    const double ph = 2.0 * G_PI * g_rand_double (rng);
    w->z[k][0] = bin_weight (k, T) * a * cos (ph);
    w->z[k][1] = (2 * k == T) ? 0.0 : bin_weight (k, T) * a * sin (ph);
  }
  spec_synth (w);
  double ss = 0.0;
  for (int t = 0; t < T; t++)
    ss += w->xc[t] * w->xc[t];
  const double r = ss > 0.0 ? sqrt (ss / T) : 1.0;
  for (int t = 0; t < T; t++)
    x[t] = (float) (w->xc[t] / r);
}
