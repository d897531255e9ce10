/* seqdream: how realistic is a dream? Nearest real series (Euclidean, and
 * banded DTW searched by dtw.c), smoothness and spectra against the real
 * series of the dream's class. Formulas and reasons: docs/metrics.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dtw-search.h"
#include "sd-private.h"
#include "seqdream/layers.h"
#include "seqdream/metrics.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* FFTW's planner is not thread-safe; execution is. Shared with the
 * carrier shift of core/train.c, the envelope spectrum of envelope.c and
 * the dreams' spectra. */
GMutex sd_fftw_planner_lock;

struct _SdReference
{
  int length;
  int n_classes; /* the model's */
  guint n;
  float *x; /* (n, length), normalised as the model normalises */
  int *y;
  int band;
  double hf_cutoff;
  SdNormalization norm;
  char **labels; /* the model's */

  /* Sakoe-Chiba envelopes of every series, for LB_Keogh. */
  float *upper, *lower;

  guint *class_size;
  guint **class_rows;
  float *class_mean, *class_sd; /* (n_classes, length) */
  double *median_nn_euclidean, *median_nn_dtw, *median_tv, *median_hf;
  int n_bins;
  double *class_spectrum; /* (n_classes, n_bins), sums to 1, or NaN */

  float *window; /* periodic Hann of the reference length */
  fftwf_plan plan;
};

void
sd_reference_config_init (SdReferenceConfig *config)
{
  g_return_if_fail (config != NULL);
  config->dtw_band_fraction = 0.1;
  config->max_per_class = 200;
  config->hf_cutoff = 0.5;
  config->seed = 0;
}

/* Nearest neighbours of q (reference length) among the rows of one class,
 * skipping row `exclude` (leave-one-out; -1 for none), both exact.
 * Euclidean: early abandoning once the running sum exceeds the best; the
 * first row wins ties. DTW: sd_dtw_nearest_sq, starting from the
 * Euclidean nearest row. */
static void
nn_search (const SdReference *ref, const float *q, const guint *rows,
    guint n_rows, int exclude, SdDtwSearch *s, double *out_euclidean,
    int *out_index, double *out_dtw)
{
  const int L = ref->length;
  const SdDtwSet set = { ref->x, ref->upper, ref->lower };
  double best2 = INFINITY;
  int best = -1;

  for (guint c = 0; c < n_rows; c++) {
    int r = (int) rows[c];
    if (r == exclude)
      continue;
    const float *x = ref->x + (gsize) r * L;
    double acc = 0.0;
    int t = 0;
    for (; t < L; t++) {
      double d = (double) q[t] - x[t];
      acc += d * d;
      if (acc > best2)
        break;
    }
    if (t == L && acc < best2) {
      best2 = acc;
      best = r;
    }
  }
  *out_index = best;
  *out_euclidean = best < 0 ? NAN : sqrt (best2);
  *out_dtw = best < 0 ? NAN
                      : sqrt (sd_dtw_nearest_sq (
                          s, &set, q, rows, n_rows, exclude, best));
}

/* ---- spectra ---- */

static void
hann (float *w, int len)
{
  /* Periodic: overlapping by half, the windows sum to a constant. */
  for (int t = 0; t < len; t++)
    w[t] = (float) (0.5 - 0.5 * cos (2.0 * G_PI * t / len));
}

/* Adds the one-sided power spectrum of seg (len <= reference length
 * samples: mean removed, Hann-windowed, zero-padded) to acc (n_bins). */
static void
add_power (const SdReference *ref, const float *seg, int len,
    const float *window, float *in, fftwf_complex *out, double *acc)
{
  const int L = ref->length;
  double mean = 0.0;
  for (int t = 0; t < len; t++)
    mean += seg[t];
  mean /= len;
  for (int t = 0; t < len; t++)
    in[t] = (float) ((seg[t] - mean) * window[t]);
  for (int t = len; t < L; t++)
    in[t] = 0.0f;
  fftwf_execute_dft_r2c (ref->plan, in, out);
  for (int k = 0; k < ref->n_bins; k++) {
    double re = out[k][0], im = out[k][1];
    /* One-sided: every bin but DC and Nyquist stands for two. */
    double w = (k == 0 || 2 * k == L) ? 1.0 : 2.0;
    acc[k] += w * (re * re + im * im);
  }
}

/* Normalises p to sum 1; FALSE (p untouched) when it carries no power. */
static gboolean
normalise_spectrum (double *p, int n_bins)
{
  double total = 0.0;
  for (int k = 0; k < n_bins; k++)
    total += p[k];
  if (!(total > 0.0) || !isfinite (total))
    return FALSE;
  for (int k = 0; k < n_bins; k++)
    p[k] /= total;
  return TRUE;
}

/* Normalised power spectrum of x (T samples) on the reference's frequency
 * grid: one segment when T equals the reference length, Welch's average
 * over evenly spaced reference-length segments overlapping by at least
 * half when longer, one zero-padded segment when shorter. FALSE for a
 * constant x. in / out: fftwf_malloc'ed (same alignment as the plan's). */
static gboolean
spectrum (const SdReference *ref, const float *x, int T, float *in,
    fftwf_complex *out, double *p)
{
  const int L = ref->length;
  memset (p, 0, sizeof (double) * ref->n_bins);
  if (T < L) {
    g_autofree float *w = g_new (float, T);
    hann (w, T);
    add_power (ref, x, T, w, in, out, p);
  } else {
    const int hop = MAX (1, L / 2);
    const int n_seg = 1 + (T - L + hop - 1) / hop;
    for (int s = 0; s < n_seg; s++) {
      gint64 start = n_seg == 1 ? 0 : (gint64) s * (T - L) / (n_seg - 1);
      add_power (ref, x + start, L, ref->window, in, out, p);
    }
  }
  return normalise_spectrum (p, ref->n_bins);
}

static double
hf_share (const SdReference *ref, const double *p)
{
  double s = 0.0;
  for (int k = 0; k < ref->n_bins; k++)
    if (2.0 * k > ref->hf_cutoff * ref->length)
      s += p[k];
  return s;
}

double
sd_total_variation (const float *x, int T)
{
  double s = 0.0;

  g_return_val_if_fail (x != NULL || T < 2, NAN);
  if (T < 2)
    return 0.0;
  for (int t = 0; t + 1 < T; t++)
    s += fabs ((double) x[t + 1] - x[t]);
  return s / (T - 1);
}

static int
cmp_double (const void *pa, const void *pb)
{
  double a = *(const double *) pa, b = *(const double *) pb;
  return (a > b) - (a < b);
}

double
sd_median_finite (double *v, guint n)
{
  guint k = 0;
  for (guint i = 0; i < n; i++)
    if (isfinite (v[i]))
      v[k++] = v[i];
  if (k == 0)
    return NAN;
  qsort (v, k, sizeof (double), cmp_double);
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

static double
ratio (double value, double typical)
{
  return typical > 0.0 && isfinite (typical) ? value / typical : NAN;
}

/* ---- the reference ---- */

void
sd_reference_free (SdReference *ref)
{
  if (ref == NULL)
    return;
  if (ref->plan != NULL) {
    g_mutex_lock (&sd_fftw_planner_lock);
    fftwf_destroy_plan (ref->plan);
    g_mutex_unlock (&sd_fftw_planner_lock);
  }
  g_free (ref->x);
  g_free (ref->y);
  g_strfreev (ref->labels);
  g_free (ref->upper);
  g_free (ref->lower);
  if (ref->class_rows != NULL)
    for (int c = 0; c < ref->n_classes; c++)
      g_free (ref->class_rows[c]);
  g_free (ref->class_rows);
  g_free (ref->class_size);
  g_free (ref->class_mean);
  g_free (ref->class_sd);
  g_free (ref->median_nn_euclidean);
  g_free (ref->median_nn_dtw);
  g_free (ref->median_tv);
  g_free (ref->median_hf);
  g_free (ref->class_spectrum);
  g_free (ref->window);
  g_free (ref);
}

static gboolean
check_config (const SdReferenceConfig *c, GError **error)
{
  if (!(c->dtw_band_fraction >= 0.0 && c->dtw_band_fraction <= 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "DTW band fraction %g is not in [0, 1]", c->dtw_band_fraction);
    return FALSE;
  }
  if (c->max_per_class < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "max_per_class %d: at least one series per class is needed",
        c->max_per_class);
    return FALSE;
  }
  if (!(c->hf_cutoff > 0.0 && c->hf_cutoff < 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "High-frequency cut-off %g is not in (0, 1) (a fraction of Nyquist)",
        c->hf_cutoff);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_data (const SdModel *model, const SdDataset *data, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  const char *const *labels = sd_model_get_labels (model);

  if (data->n < 1 || data->length < 2 || data->x == NULL || data->y == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Reference data need at least one series of at least 2 samples "
        "(got %u of %u)",
        data->n, data->length);
    return FALSE;
  }
  if (data->length > (guint) (G_MAXINT / 4)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Reference series of %u samples are too long", data->length);
    return FALSE;
  }
  if (data->n_classes > (guint) K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The reference data have %u classes, the model %d: load them with "
        "the model's labels",
        data->n_classes, K);
    return FALSE;
  }
  if (data->labels != NULL && labels != NULL)
    for (guint c = 0; c < data->n_classes; c++)
      if (g_strcmp0 (data->labels[c], labels[c]) != 0) {
        g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
            "Class %u of the reference data is “%s”, of the model “%s”: "
            "load the data with the model's labels",
            c, data->labels[c], labels[c]);
        return FALSE;
      }
  for (guint i = 0; i < data->n; i++)
    if (data->y[i] < 0 || data->y[i] >= (int) data->n_classes) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "Reference series %u has class index %d, not in [0, %u)", i,
          data->y[i], data->n_classes);
      return FALSE;
    }
  return TRUE;
}

/* The rows of data, normalised as the model normalises its input; every
 * value must stay finite. */
static gboolean
reference_copy_data (SdReference *ref, const SdModel *model,
    const SdDataset *data, GError **error)
{
  const int L = ref->length;
  const guint n = ref->n;

  ref->x = g_memdup2 (data->x, sizeof (float) * n * (gsize) L);
  ref->y = g_memdup2 (data->y, sizeof (int) * n);
  sd_model_normalize_input (model, ref->x, (int) n, L);
  for (gsize i = 0; i < (gsize) n * (gsize) L; i++)
    if (!isfinite (ref->x[i])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "Reference series %zu is not finite after normalisation at "
          "sample %zu",
          i / L, i % L);
      return FALSE;
    }
  return TRUE;
}

/* The rows of every class, in data order. */
static void
reference_class_rows (SdReference *ref)
{
  const int K = ref->n_classes;
  g_autofree guint *fill = g_new0 (guint, K);

  ref->class_size = g_new0 (guint, K);
  ref->class_rows = g_new0 (guint *, K);
  for (guint i = 0; i < ref->n; i++)
    ref->class_size[ref->y[i]]++;
  for (int c = 0; c < K; c++)
    ref->class_rows[c] = g_new (guint, MAX (ref->class_size[c], 1));
  for (guint i = 0; i < ref->n; i++)
    ref->class_rows[ref->y[i]][fill[ref->y[i]]++] = i;
}

/* Mean and standard deviation over time of every class (NaN without
 * series). */
static void
reference_class_stats (SdReference *ref)
{
  const int L = ref->length, K = ref->n_classes;
  g_autofree double *s = g_new (double, L);
  g_autofree double *ss = g_new (double, L);

  ref->class_mean = g_new (float, (gsize) K *L);
  ref->class_sd = g_new (float, (gsize) K *L);
  for (int c = 0; c < K; c++) {
    const guint nc = ref->class_size[c];
    memset (s, 0, sizeof (double) * L);
    memset (ss, 0, sizeof (double) * L);
    for (guint i = 0; i < nc; i++) {
      const float *x = ref->x + (gsize) ref->class_rows[c][i] * L;
      for (int t = 0; t < L; t++)
        s[t] += x[t];
    }
    for (int t = 0; t < L; t++)
      s[t] /= nc;
    for (guint i = 0; i < nc; i++) {
      const float *x = ref->x + (gsize) ref->class_rows[c][i] * L;
      for (int t = 0; t < L; t++)
        ss[t] += (x[t] - s[t]) * (x[t] - s[t]);
    }
    for (int t = 0; t < L; t++) {
      ref->class_mean[(gsize) c * L + t] = nc ? (float) s[t] : NAN;
      ref->class_sd[(gsize) c * L + t] = nc ? (float) sqrt (ss[t] / nc) : NAN;
    }
  }
}

/* The FFTW plan (made once), the mean power spectrum of every class and
 * the class medians of the total variation and the high-frequency share. */
static gboolean
reference_spectra (SdReference *ref, GError **error)
{
  const int L = ref->length, K = ref->n_classes;
  const guint n = ref->n;

  ref->n_bins = L / 2 + 1;
  ref->window = g_new (float, L);
  hann (ref->window, L);
  float *in = fftwf_alloc_real (L);
  fftwf_complex *out = fftwf_alloc_complex (ref->n_bins);
  g_mutex_lock (&sd_fftw_planner_lock);
  ref->plan = fftwf_plan_dft_r2c_1d (L, in, out, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);
  if (ref->plan == NULL) {
    fftwf_free (in);
    fftwf_free (out);
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "FFTW could not plan a transform of %d samples", L);
    return FALSE;
  }

  ref->median_tv = g_new (double, K);
  ref->median_hf = g_new (double, K);
  ref->class_spectrum = g_new0 (double, (gsize) K * ref->n_bins);
  g_autofree double *tv = g_new (double, n);
  g_autofree double *hf = g_new (double, n);
  g_autofree double *p = g_new (double, ref->n_bins);
  g_autofree guint *n_spectra = g_new0 (guint, K);
  for (guint i = 0; i < n; i++) {
    const float *x = ref->x + (gsize) i * L;
    double *acc = ref->class_spectrum + (gsize) ref->y[i] * ref->n_bins;
    tv[i] = sd_total_variation (x, L);
    hf[i] = NAN;
    if (spectrum (ref, x, L, in, out, p)) {
      hf[i] = hf_share (ref, p);
      for (int k = 0; k < ref->n_bins; k++)
        acc[k] += p[k];
      n_spectra[ref->y[i]]++;
    }
  }
  g_autofree double *v = g_new (double, n);
  g_autofree double *w = g_new (double, n);
  for (int c = 0; c < K; c++) {
    const guint nc = ref->class_size[c];
    double *acc = ref->class_spectrum + (gsize) c * ref->n_bins;
    for (int k = 0; k < ref->n_bins; k++)
      acc[k] = n_spectra[c] ? acc[k] / n_spectra[c] : NAN;
    for (guint i = 0; i < nc; i++) {
      v[i] = tv[ref->class_rows[c][i]];
      w[i] = hf[ref->class_rows[c][i]];
    }
    ref->median_tv[c] = sd_median_finite (v, nc);
    ref->median_hf[c] = sd_median_finite (w, nc);
  }
  fftwf_free (in);
  fftwf_free (out);
  return TRUE;
}

/* The DTW envelopes of every series, then the typical (leave-one-out)
 * nearest-neighbour distances of a seeded subsample of every class. */
static void
reference_nn_medians (SdReference *ref, int max_per_class, guint64 seed)
{
  const int L = ref->length, K = ref->n_classes;
  const guint n = ref->n;
  SdDtwSearch *s = sd_dtw_search_new (L, ref->band);

  ref->median_nn_euclidean = g_new (double, K);
  ref->median_nn_dtw = g_new (double, K);
  ref->upper = g_new (float, (gsize) n *L);
  ref->lower = g_new (float, (gsize) n *L);
  sd_dtw_search_remember (s, n);
  for (guint i = 0; i < n; i++)
    sd_dtw_search_envelope (s, ref->x + (gsize) i * L,
        ref->upper + (gsize) i * L, ref->lower + (gsize) i * L);

  guint32 seeds[2] = { (guint32) seed, (guint32) (seed >> 32) };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (seeds, 2);
  g_autofree guint *pick = g_new (guint, n);
  g_autofree double *de = g_new (double, n);
  g_autofree double *dd = g_new (double, n);
  for (int c = 0; c < K; c++) {
    const guint nc = ref->class_size[c];
    const guint nq = MIN (nc, (guint) max_per_class);
    memcpy (pick, ref->class_rows[c], sizeof (guint) * nc);
    /* Partial Fisher-Yates: the first nq of a seeded permutation. */
    if (nq < nc)
      for (guint i = 0; i < nq; i++) {
        guint j = (guint) g_rand_int_range (rng, (gint32) i, (gint32) nc);
        guint t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
      }
    for (guint i = 0; i < nq; i++) {
      int idx;
      nn_search (ref, ref->x + (gsize) pick[i] * L, ref->class_rows[c], nc,
          (int) pick[i], s, &de[i], &idx, &dd[i]);
    }
    ref->median_nn_euclidean[c] = sd_median_finite (de, nq);
    ref->median_nn_dtw[c] = sd_median_finite (dd, nq);
  }
  sd_dtw_search_free (s);
}

SdReference *
sd_reference_new (const SdModel *model, const SdDataset *data,
    const SdReferenceConfig *config, GError **error)
{
  SdReferenceConfig defaults;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (model == NULL || data == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A reference needs a model and data");
    return NULL;
  }
  if (config == NULL) {
    sd_reference_config_init (&defaults);
    config = &defaults;
  }
  if (!check_config (config, error) || !check_data (model, data, error))
    return NULL;

  const int L = (int) data->length;
  g_autoptr (SdReference) ref = g_new0 (SdReference, 1);
  ref->length = L;
  ref->n_classes = sd_model_get_n_classes (model);
  ref->n = data->n;
  ref->band = MIN ((int) lround (config->dtw_band_fraction * L), L - 1);
  ref->hf_cutoff = config->hf_cutoff;
  ref->norm = sd_model_get_normalization (model);
  ref->labels = g_strdupv ((char **) sd_model_get_labels (model));

  if (!reference_copy_data (ref, model, data, error))
    return NULL;
  reference_class_rows (ref);
  reference_class_stats (ref);
  if (!reference_spectra (ref, error))
    return NULL;
  reference_nn_medians (ref, config->max_per_class, config->seed);
  return g_steal_pointer (&ref);
}

int
sd_reference_get_length (const SdReference *ref)
{
  g_return_val_if_fail (ref != NULL, 0);
  return ref->length;
}

guint
sd_reference_get_class_size (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, 0);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, 0);
  return ref->class_size[class_index];
}

const float *
sd_reference_get_class_mean (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, NULL);
  return ref->class_mean + (gsize) class_index * ref->length;
}

const float *
sd_reference_get_class_sd (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, NULL);
  return ref->class_sd + (gsize) class_index * ref->length;
}

/* ---- metrics of a dream ---- */

static gboolean
same_normalization (SdNormalization a, SdNormalization b)
{
  if (a.mode != b.mode)
    return FALSE;
  if (a.mode != SD_NORM_FIXED)
    return TRUE;
  return fabsf (a.mean - b.mean) <= 1e-6f * MAX (1.0f, fabsf (a.mean))
         && fabsf (a.std - b.std) <= 1e-6f * MAX (1.0f, fabsf (a.std));
}

static gboolean
second_opinion (const SdReference *ref, int target_class, const float *x, int T,
    SdModel *second, SdDreamMetrics *out, GError **error)
{
  const int K = sd_model_get_n_classes (second);
  const char *const *labels = sd_model_get_labels (second);
  SdNormalization norm = sd_model_get_normalization (second);

  if (!same_normalization (norm, ref->norm)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model normalises its input (%s) unlike the reference's "
        "model (%s): the dream lives in one normalised input space, both "
        "models must share it",
        sd_norm_mode_to_string (norm.mode),
        sd_norm_mode_to_string (ref->norm.mode));
    return FALSE;
  }
  gboolean same = K == ref->n_classes && labels != NULL;
  for (int c = 0; same && c < K; c++)
    same = g_strcmp0 (labels[c], ref->labels[c]) == 0;
  if (!same) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model's classes are not the reference model's (%d and "
        "%d classes with the same labels are required)",
        K, ref->n_classes);
    return FALSE;
  }
  if (sd_model_get_arch (second)->in_channels != 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model takes %d input channels, a dream has 1",
        sd_model_get_arch (second)->in_channels);
    return FALSE;
  }

  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (second, 1, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  const float *z = sd_model_forward (second, ws, x, 1, T);
  g_autofree float *p = g_new (float, K);
  int arg = 0;
  for (int c = 1; c < K; c++)
    if (z[c] > z[arg])
      arg = c;
  sd_softmax_forward (p, z, 1, K);
  out->second_class = arg;
  out->second_probability = p[target_class];
  if (!isfinite (out->second_probability)) {
    g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
        "The second model's logits are not finite");
    return FALSE;
  }
  return TRUE;
}

gboolean
sd_dream_metrics (const SdReference *ref, int target_class, const float *x,
    int T, SdModel *second, SdDreamMetrics *out, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (ref == NULL || x == NULL || out == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Dream metrics need a reference, a series and a result");
    return FALSE;
  }
  *out = (SdDreamMetrics){
    .nn_euclidean = NAN,
    .nn_euclidean_ratio = NAN,
    .nn_dtw = NAN,
    .nn_dtw_ratio = NAN,
    .nn_index = -1,
    .tv = NAN,
    .tv_ratio = NAN,
    .hf_energy = NAN,
    .hf_ratio = NAN,
    .spectral_distance = NAN,
    .second_class = -1,
    .second_probability = NAN,
  };
  if (target_class < 0 || target_class >= ref->n_classes) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Target class %d is not in [0, %d)", target_class, ref->n_classes);
    return FALSE;
  }
  if (ref->class_size[target_class] == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The reference data hold no series of class %d (“%s”)", target_class,
        ref->labels[target_class]);
    return FALSE;
  }
  if (T < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A dream of %d samples is too short (at least 2)", T);
    return FALSE;
  }
  for (int t = 0; t < T; t++)
    if (!isfinite (x[t])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "The dream is not finite at sample %d", t);
      return FALSE;
    }

  const int c = target_class;
  if (T == ref->length) {
    SdDtwSearch *s = sd_dtw_search_new (T, ref->band);
    nn_search (ref, x, ref->class_rows[c], ref->class_size[c], -1, s,
        &out->nn_euclidean, &out->nn_index, &out->nn_dtw);
    sd_dtw_search_free (s);
    out->nn_euclidean_ratio
        = ratio (out->nn_euclidean, ref->median_nn_euclidean[c]);
    out->nn_dtw_ratio = ratio (out->nn_dtw, ref->median_nn_dtw[c]);
  }

  out->tv = sd_total_variation (x, T);
  out->tv_ratio = ratio (out->tv, ref->median_tv[c]);

  float *in = fftwf_alloc_real (ref->length);
  fftwf_complex *spec = fftwf_alloc_complex (ref->n_bins);
  g_autofree double *p = g_new (double, ref->n_bins);
  if (spectrum (ref, x, T, in, spec, p)) {
    const double *q = ref->class_spectrum + (gsize) c * ref->n_bins;
    out->hf_energy = hf_share (ref, p);
    out->hf_ratio = ratio (out->hf_energy, ref->median_hf[c]);
    double l1 = 0.0;
    for (int k = 0; k < ref->n_bins; k++)
      l1 += fabs (p[k] - q[k]);
    out->spectral_distance = 0.5 * l1; /* NaN without a class spectrum */
  }
  fftwf_free (in);
  fftwf_free (spec);

  if (second != NULL
      && !second_opinion (ref, target_class, x, T, second, out, error))
    return FALSE;
  return TRUE;
}
