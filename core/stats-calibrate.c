/* sd_model_calibrate: the model statistics (seqdream/stats.h) from
 * labelled windows. The fit windows give the class spectra, the class
 * means of the pooled features, their shared covariance (shrunk toward
 * the scaled identity, Ledoit-Wolf) and the input level; the held-out
 * windows give the novelty distribution, its threshold and the margins.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"
#include "model-private.h"
#include "seqdream/evaluate.h"
#include "stats-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
sd_calibrate_options_init (SdCalibrateOptions *o)
{
  g_return_if_fail (o != NULL);
  o->false_alarm = 0.005;
  o->shrinkage = -1.0;
  o->holdout_fraction = 0.2;
  o->seed = 0;
}

static gboolean
check_options (const SdCalibrateOptions *o, gboolean split, GError **error)
{
  if (!(o->false_alarm > 0.0 && o->false_alarm < 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "false-alarm rate %g is not between 0 and 1 (exclusive)",
        o->false_alarm);
    return FALSE;
  }
  if (!(o->shrinkage <= 1.0) || isnan (o->shrinkage)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "shrinkage %g is not in [0, 1] (or negative: chosen from the data)",
        o->shrinkage);
    return FALSE;
  }
  if (split && !(o->holdout_fraction > 0.0 && o->holdout_fraction < 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "holdout fraction %g is not between 0 and 1 (exclusive)",
        o->holdout_fraction);
    return FALSE;
  }
  return TRUE;
}

/* view <- data with the model's labels: the same series (borrowed), y
 * mapped by label name into *y (n, owned by the caller). Checks the
 * length (T), the sample rate and that every value is finite; errors name
 * `what`. */
static gboolean
map_onto_model (const SdModel *model, const SdDataset *data, int T,
    const char *what, SdDataset *view, int **y, GError **error)
{
  const int K = model->arch.n_classes;
  if (data->n == 0 || (int) data->length != T) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: %u series of %u samples, the model needs windows of %d "
        "samples (its train length)",
        what, data->n, data->length, T);
    return FALSE;
  }
  if (model->sample_rate > 0 && data->sample_rate > 0
      && data->sample_rate != model->sample_rate) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: sampled at %g Hz, the model at %g Hz", what, data->sample_rate,
        model->sample_rate);
    return FALSE;
  }
  g_autofree int *map = g_new (int, data->n_classes);
  for (guint c = 0; c < data->n_classes; c++) {
    map[c] = sd_model_find_label (model, data->labels[c]);
    if (map[c] < 0) {
      g_autofree char *all = g_strjoinv (", ", model->labels);
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: label '%s' is not one of the model's (%s)", what,
          data->labels[c], all);
      return FALSE;
    }
  }
  for (gsize i = 0; i < (gsize) data->n * T; i++)
    if (!isfinite (data->x[i])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "%s: series %" G_GSIZE_FORMAT " has a non-finite value at sample "
          "%" G_GSIZE_FORMAT,
          what, i / T, i % T);
      return FALSE;
    }
  *y = g_new (int, data->n);
  for (guint i = 0; i < data->n; i++) {
    if (data->y[i] < 0 || (guint) data->y[i] >= data->n_classes) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: series %u has class index %d of %u", what, i, data->y[i],
          data->n_classes);
      return FALSE;
    }
    (*y)[i] = map[data->y[i]];
  }
  *view = *data;
  view->y = *y;
  view->n_classes = (guint) K;
  view->labels = model->labels;
  return TRUE;
}

/* Per class, a seeded random holdout_fraction of its series (at least
 * one) into *held, the rest into *fit. */
static gboolean
split_holdout (const SdModel *model, const SdDataset *data,
    const SdCalibrateOptions *o, SdDataset **fit, SdDataset **held,
    GError **error)
{
  guint32 seed[2] = { (guint32) o->seed, (guint32) (o->seed >> 32) };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (seed, 2);
  g_autoptr (GArray) fi = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) hi = g_array_new (FALSE, FALSE, sizeof (guint));
  for (int c = 0; c < model->arch.n_classes; c++) {
    g_autoptr (GArray) cls = g_array_new (FALSE, FALSE, sizeof (guint));
    for (guint i = 0; i < data->n; i++)
      if (data->y[i] == c)
        g_array_append_val (cls, i);
    guint *idx = (guint *) cls->data;
    for (guint i = cls->len; i > 1; i--) {
      guint j = (guint) g_rand_int_range (rng, 0, (gint32) i), t = idx[i - 1];
      idx[i - 1] = idx[j];
      idx[j] = t;
    }
    guint nh = MAX (1u, (guint) floor (o->holdout_fraction * cls->len + 0.5));
    if (cls->len < nh + 2) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "class '%s' has %u windows: the statistics need at least 2 and "
          "%u held out (or give held-out data)",
          model->labels[c], cls->len, nh);
      return FALSE;
    }
    g_array_append_vals (hi, idx, nh);
    g_array_append_vals (fi, idx + nh, cls->len - nh);
  }
  *fit = sd_dataset_subset (data, (guint *) fi->data, fi->len);
  *held = sd_dataset_subset (data, (guint *) hi->data, hi->len);
  return TRUE;
}

/* The rows of a feature walk: features (n, C), logits (n, K), class (n). */
typedef struct
{
  int C, K, D;
  guint n;
  float *f, *means, *logits; /* (n, C), (n, D), (n, K) */
  int *cls;
} Rows;

static void
collect_row (const float *f, const float *means, const float *logits, int c,
    gpointer user)
{
  Rows *r = user;
  memcpy (r->f + (gsize) r->n * r->C, f, (gsize) r->C * sizeof (float));
  if (r->D > 0) /* a model without stages (an imported graph) has none */
    memcpy (
        r->means + (gsize) r->n * r->D, means, (gsize) r->D * sizeof (float));
  memcpy (
      r->logits + (gsize) r->n * r->K, logits, (gsize) r->K * sizeof (float));
  r->cls[r->n++] = c;
}

static void
rows_clear (Rows *r)
{
  g_free (r->f);
  g_free (r->means);
  g_free (r->logits);
  g_free (r->cls);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Rows, rows_clear)

/* The pooled features, stage means and logits of every window of data
 * (length T, one segment each). */
static gboolean
walk_rows (
    const SdModel *model, const SdDataset *data, int T, Rows *r, GError **error)
{
  r->C = sd_dream_feature_size (model);
  r->K = model->arch.n_classes;
  r->D = stats_stage_means_size (model);
  r->n = 0;
  r->f = g_new (float, (gsize) data->n * r->C);
  r->means = g_new (float, (gsize) data->n * r->D);
  r->logits = g_new (float, (gsize) data->n * r->K);
  r->cls = g_new (int, data->n);
  return dream_foreach_feature (model, data, T, TRUE, collect_row, r, error);
}

/* The Ledoit-Wolf shrinkage toward m I (m = tr S / C) of the covariance
 * S (C, C) of the n centred rows x (n, C): min (b, d) / d with d = |S -
 * m I|^2 / C and b = sum_i |x_i x_i^T - S|^2 / (n^2 C) (Frobenius norms;
 * Ledoit and Wolf 2004, as scikit-learn computes it). */
static double
ledoit_wolf (const double *S, const double *x, guint n, int C)
{
  double m = 0.0, s2 = 0.0, d = 0.0, b = 0.0;
  for (int i = 0; i < C; i++)
    m += S[(gsize) i * C + i];
  m /= C;
  for (int i = 0; i < C; i++)
    for (int j = 0; j < C; j++) {
      const double v = S[(gsize) i * C + j];
      s2 += v * v;
      d += (v - (i == j ? m : 0.0)) * (v - (i == j ? m : 0.0));
    }
  for (guint r = 0; r < n; r++) {
    const double *xi = x + (gsize) r * C;
    double nn = 0.0, xsx = 0.0;
    for (int i = 0; i < C; i++) {
      double sx = 0.0;
      for (int j = 0; j < C; j++)
        sx += S[(gsize) i * C + j] * xi[j];
      xsx += xi[i] * sx;
      nn += xi[i] * xi[i];
    }
    b += nn * nn - 2.0 * xsx + s2;
  }
  b /= (double) n * n;
  if (!(d > 0.0))
    return 1.0;
  return MIN (b, d) / d;
}

/* The class means and the shared covariance, shrunk (shrinkage < 0:
 * Ledoit-Wolf), of the n rows f (n, stride; the space's C features start
 * at column off) of classes cls, rounded to the floats a file stores;
 * count (K) the rows per class. */
static void
fit_space (StatsSpace *sp, int K, const guint *count, const float *f,
    int stride, int off, const int *cls, guint n, double shrinkage)
{
  const int C = sp->C;
  g_autofree double *mu = g_new0 (double, (gsize) K *C);
  g_autofree double *x = g_new (double, (gsize) n *C);
  g_autofree double *S = g_new0 (double, (gsize) C *C);
  for (guint i = 0; i < n; i++)
    for (int j = 0; j < C; j++)
      mu[(gsize) cls[i] * C + j] += f[(gsize) i * stride + off + j];
  for (int k = 0; k < K; k++)
    for (int j = 0; j < C; j++) {
      mu[(gsize) k * C + j] /= count[k];
      sp->means[(gsize) k * C + j] = (float) mu[(gsize) k * C + j];
    }
  for (guint i = 0; i < n; i++)
    for (int j = 0; j < C; j++)
      x[(gsize) i * C + j]
          = f[(gsize) i * stride + off + j] - mu[(gsize) cls[i] * C + j];
  for (guint i = 0; i < n; i++)
    for (int a = 0; a < C; a++)
      for (int b = 0; b <= a; b++)
        S[(gsize) a * C + b] += x[(gsize) i * C + a] * x[(gsize) i * C + b];
  for (int a = 0; a < C; a++)
    for (int b = 0; b <= a; b++)
      S[(gsize) b * C + a] = S[(gsize) a * C + b] /= n;
  sp->shrinkage = shrinkage >= 0.0 ? shrinkage : ledoit_wolf (S, x, n, C);
  double m = 0.0;
  for (int i = 0; i < C; i++)
    m += S[(gsize) i * C + i];
  m /= C;
  for (int a = 0; a < C; a++)
    for (int b = 0; b < C; b++)
      sp->covariance[(gsize) a * C + b]
          = (float) ((1.0 - sp->shrinkage) * S[(gsize) a * C + b]
                     + (a == b ? sp->shrinkage * m : 0.0));
}

/* Counts, the pooled space and every stage's space from the fit rows,
 * then the whitening. */
static gboolean
fit_features (SdModelStats *s, const Rows *r, double shrinkage,
    const char *what, GError **error)
{
  for (guint i = 0; i < r->n; i++)
    s->class_count[r->cls[i]]++;
  fit_space (
      &s->pooled, s->K, s->class_count, r->f, r->C, 0, r->cls, r->n, shrinkage);
  for (int l = 0, off = 0; l < s->n_stages; off += s->stages[l++].C)
    fit_space (&s->stages[l], s->K, s->class_count, r->means, r->D, off, r->cls,
        r->n, shrinkage);
  return stats_prepare (s, what, NULL, error);
}

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The q-quantile of the n >= 1 sorted values v, interpolated between
 * order statistics (R's type 7). */
static double
quantile_sorted (const double *v, guint n, double q)
{
  const double pos = q * (n - 1);
  const guint a = MIN ((guint) floor (pos), n - 1), b = MIN (a + 1, n - 1);
  return v[a] + (pos - a) * (v[b] - v[a]);
}

/* q (Q) <- the quantiles at i / (Q - 1) of v (n >= 1, sorted here). */
static void
grid_from_values (double *v, guint n, float *q, int Q)
{
  qsort (v, n, sizeof (double), cmp_double);
  for (int i = 0; i < Q; i++)
    q[i] = (float) quantile_sorted (v, n, (double) i / (Q - 1));
}

/* The novelty quantiles and threshold, the held-out counts and the
 * margins of the correctly classified held-out windows per class; given
 * (r->n, or NULL: from the rows' features) the held-out novelty. */
static gboolean
fit_heldout (SdModelStats *s, const Rows *r, const double *given,
    const char *what, GError **error)
{
  const int K = s->K;
  if (r->n < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: %u windows; the novelty threshold needs at least 2", what, r->n);
    return FALSE;
  }
  g_autofree double *nov = g_new (double, r->n);
  /* the novelty reads every stage's time means, or the pooled features
   * of a model without stages */
  if (given != NULL)
    memcpy (nov, given, r->n * sizeof (double));
  else
    sd_model_stats_novelty (
        s, s->n_stages > 0 ? r->means : r->f, (int) r->n, nov);
  g_autofree double *margin = g_new (double, r->n);
  for (int k = 0; k < K; k++) {
    guint m = 0;
    for (guint i = 0; i < r->n; i++) {
      if (r->cls[i] != k)
        continue;
      s->heldout_count[k]++;
      const float *l = r->logits + (gsize) i * K;
      double other = -INFINITY;
      int best = 0;
      for (int j = 0; j < K; j++) {
        if (l[j] > l[best])
          best = j;
        if (j != k)
          other = MAX (other, l[j]);
      }
      if (best == k)
        margin[m++] = l[k] - other;
    }
    float *row = s->margin_q + (gsize) k * s->Q;
    if (m == 0)
      for (int i = 0; i < s->Q; i++)
        row[i] = NAN;
    else
      grid_from_values (margin, m, row, s->Q);
  }
  grid_from_values (nov, r->n, s->novelty_q, s->Q);
  /* The order statistic with at most false_alarm of the windows above. */
  double pos = ceil ((1.0 - s->false_alarm) * r->n - 1e-9) - 1.0;
  s->threshold = nov[(guint) CLAMP (pos, 0.0, r->n - 1.0)];
  if (!(s->threshold > 0.0) || !isfinite (s->threshold)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: the novelty threshold would be %g (the held-out windows are "
        "the class means themselves?)",
        what, s->threshold);
    return FALSE;
  }
  return TRUE;
}

/* The 0.5 % and 99.5 % quantiles of the RMS of the raw fit windows. */
static void
fit_level (SdModelStats *s, const SdDataset *fit)
{
  const int T = s->T;
  g_autofree double *rms = g_new (double, fit->n);
  for (guint i = 0; i < fit->n; i++) {
    double ss = 0.0;
    for (int t = 0; t < T; t++)
      ss += (double) fit->x[(gsize) i * T + t] * fit->x[(gsize) i * T + t];
    rms[i] = sqrt (ss / T);
  }
  qsort (rms, fit->n, sizeof (double), cmp_double);
  s->level_lo = quantile_sorted (rms, fit->n, 0.005);
  s->level_hi = quantile_sorted (rms, fit->n, 0.995);
}

/* The class spectra of the fit windows; a class whose windows are all
 * constant has none. */
static gboolean
fit_spectra (SdModelStats *s, const SdModel *model, const SdDataset *fit,
    const char *what, GError **error)
{
  if (!sd_dream_class_spectra (model, fit, s->T, s->spectra, error))
    return FALSE;
  for (int k = 0; k < s->K; k++)
    if (!isfinite (s->spectra[(gsize) k * s->nb])) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: every window of class '%s' is constant (no spectrum)", what,
          model->labels[k]);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_fit_counts (const SdModel *model, const SdDataset *fit, const char *what,
    GError **error)
{
  g_autofree guint *count = g_new0 (guint, model->arch.n_classes);
  for (guint i = 0; i < fit->n; i++)
    count[fit->y[i]]++;
  for (int k = 0; k < model->arch.n_classes; k++)
    if (count[k] < 2) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: class '%s' has %u window%s; every class needs at least 2", what,
          model->labels[k], count[k], count[k] == 1 ? "" : "s");
      return FALSE;
    }
  return TRUE;
}

/* The combined novelty of an ensemble's n held-out windows (its members
 * calibrated): per window the largest member novelty over that member's
 * held-out median, as sd_ensemble_novelty computes it on a stream. */
static gboolean
members_novelty (
    const SdModel *model, const SdDataset *held, double *nov, GError **error)
{
  const int K = model->arch.n_classes;
  g_autofree float *logits = g_new (float, (gsize) held->n *K);
  g_autofree double *one = g_new (double, held->n);
  for (guint j = 0; j < held->n; j++)
    nov[j] = 0.0;
  for (int i = 0; i < model->n_members; i++) {
    SdModel *mi = model->members[i];
    const double med = sd_model_stats_novelty_quantile (mi->stats, 0.5);
    if (!sd_model_predict_novelty (mi, held, logits, one, error))
      return FALSE;
    for (guint j = 0; j < held->n; j++)
      nov[j] = MAX (nov[j], one[j] / med);
  }
  return TRUE;
}

/* The statistics of the fit and held-out windows (model labels, length T)
 * into s; an ensemble's (s->members) novelty combines its calibrated
 * members'. */
static gboolean
compute_stats (SdModelStats *s, const SdModel *model, const SdDataset *fit,
    const SdDataset *held, const SdCalibrateOptions *o, GError **error)
{
  const char *what = "calibration data", *hwhat = "held-out data";
  g_auto (Rows) fr = { 0 };
  g_auto (Rows) hr = { 0 };
  if (!check_fit_counts (model, fit, what, error)
      || !walk_rows (model, fit, s->T, &fr, error)
      || !fit_features (s, &fr, o->shrinkage, what, error)
      || !fit_spectra (s, model, fit, what, error))
    return FALSE;
  fit_level (s, fit);
  g_autofree double *nov = s->members ? g_new (double, held->n) : NULL;
  return walk_rows (model, held, s->T, &hr, error)
         && (nov == NULL || members_novelty (model, held, nov, error))
         && fit_heldout (s, &hr, nov, hwhat, error);
}

/* New, empty statistics for model and windows of T samples. */
static SdModelStats *
stats_for (const SdModel *model, int T, const SdCalibrateOptions *o)
{
  int stage_C[SD_MAX_STAGES];
  for (int l = 0; l < model->n_stage_layers; l++)
    stage_C[l] = stats_stage_channels (model, l);
  SdModelStats *s
      = stats_new (model->arch.n_classes, sd_dream_feature_size (model), T,
          SD_STATS_QUANTILES, model->n_stage_layers, stage_C);
  s->false_alarm = o->false_alarm;
  return s;
}

gboolean
sd_model_calibrate (SdModel *model, const SdDataset *fit,
    const SdDataset *heldout, const SdCalibrateOptions *options, GError **error)
{
  g_return_val_if_fail (model != NULL && fit != NULL, FALSE);
  SdCalibrateOptions defaults;
  if (options == NULL) {
    sd_calibrate_options_init (&defaults);
    options = &defaults;
  }
  if (!check_options (options, heldout == NULL, error))
    return FALSE;
  const int T
      = model->train_length > 0 ? (int) model->train_length : (int) fit->length;
  if (T < MAX (2, model->min_length)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "windows of %d samples are shorter than the model accepts (%d)", T,
        MAX (2, model->min_length));
    return FALSE;
  }
  SdDataset fv, hv;
  g_autofree int *fy = NULL, *hy = NULL;
  g_autoptr (SdDataset) fit_part = NULL;
  g_autoptr (SdDataset) held_part = NULL;
  if (!map_onto_model (model, fit, T, "calibration data", &fv, &fy, error))
    return FALSE;
  if (heldout != NULL) {
    if (!map_onto_model (model, heldout, T, "held-out data", &hv, &hy, error))
      return FALSE;
  } else {
    if (!split_holdout (model, &fv, options, &fit_part, &held_part, error))
      return FALSE;
  }
  const SdDataset *F = fit_part ? fit_part : &fv;
  const SdDataset *H = held_part ? held_part : &hv;
  /* An ensemble: every member on the same windows first (their old
   * statistics kept until the ensemble's are in); the ensemble's novelty
   * then combines theirs. */
  SdModelStats *old[SD_MAX_MEMBERS] = { NULL };
  gboolean ok = TRUE;
  int done = 0; /* members whose statistics were taken into old */
  for (int i = 0; i < model->n_members && ok; i++, done++) {
    SdModel *mi = model->members[i];
    g_autoptr (SdModelStats) si = stats_for (mi, T, options);
    old[i] = mi->stats;
    mi->stats = NULL;
    ok = compute_stats (si, mi, F, H, options, error)
         && sd_model_set_stats (mi, g_steal_pointer (&si), error);
    if (!ok)
      g_prefix_error (error, "ensemble member %d: ", i);
  }
  g_autoptr (SdModelStats) s = stats_for (model, T, options);
  s->members = model->n_members > 0;
  ok = ok && compute_stats (s, model, F, H, options, error)
       && sd_model_set_stats (model, g_steal_pointer (&s), error);
  for (int i = 0; i < done; i++) {
    SdModel *mi = model->members[i];
    if (!ok) { /* back to what they had */
      sd_model_stats_free (mi->stats);
      mi->stats = old[i];
    } else
      sd_model_stats_free (old[i]);
  }
  return ok;
}
