/* Model statistics (seqdream/stats.h): their memory, the whitening of the
 * shared covariance, the novelty score, the accessors, and the
 * calibration that computes them from labelled windows. Their form in
 * model files: core/stats-file.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"
#include "model-private.h"
#include "stats-private.h"

#include <math.h>
#include <string.h>

/* ---- memory ---- */

static void
space_alloc (StatsSpace *sp, int K, int C)
{
  sp->C = C;
  sp->means = g_new0 (float, (gsize) K *C);
  sp->covariance = g_new0 (float, (gsize) C *C);
  sp->whiten = g_new0 (double, (gsize) C *C);
  sp->white_means = g_new0 (double, (gsize) K *C);
}

static void
space_clear (StatsSpace *sp)
{
  g_free (sp->means);
  g_free (sp->covariance);
  g_free (sp->whiten);
  g_free (sp->white_means);
}

static void
space_copy (StatsSpace *dst, const StatsSpace *src, int K)
{
  const gsize C = src->C;
  dst->shrinkage = src->shrinkage;
  memcpy (dst->means, src->means, K * C * sizeof (float));
  memcpy (dst->covariance, src->covariance, C * C * sizeof (float));
  memcpy (dst->whiten, src->whiten, C * C * sizeof (double));
  memcpy (dst->white_means, src->white_means, K * C * sizeof (double));
}

SdModelStats *
stats_new (int K, int C, int T, int Q, int n_stages, const int *stage_C)
{
  SdModelStats *s = g_new0 (SdModelStats, 1);
  s->K = K;
  s->T = T;
  s->nb = sd_dream_spectrum_bins (T);
  s->Q = Q;
  s->class_count = g_new0 (guint, K);
  s->heldout_count = g_new0 (guint, K);
  s->spectra = g_new0 (float, (gsize) K * s->nb);
  s->novelty_q = g_new0 (float, Q);
  s->margin_q = g_new0 (float, (gsize) K *Q);
  space_alloc (&s->pooled, K, C);
  s->n_stages = n_stages;
  s->stages = n_stages > 0 ? g_new0 (StatsSpace, n_stages) : NULL;
  for (int l = 0; l < n_stages; l++)
    space_alloc (&s->stages[l], K, stage_C[l]);
  return s;
}

void
sd_model_stats_free (SdModelStats *s)
{
  if (s == NULL)
    return;
  g_free (s->class_count);
  g_free (s->heldout_count);
  g_free (s->spectra);
  g_free (s->novelty_q);
  g_free (s->margin_q);
  space_clear (&s->pooled);
  for (int l = 0; l < s->n_stages; l++)
    space_clear (&s->stages[l]);
  g_free (s->stages);
  g_free (s);
}

SdModelStats *
sd_model_stats_copy (const SdModelStats *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  int stage_C[SD_MAX_STAGES];
  for (int l = 0; l < s->n_stages; l++)
    stage_C[l] = s->stages[l].C;
  SdModelStats *c
      = stats_new (s->K, s->pooled.C, s->T, s->Q, s->n_stages, stage_C);
  const gsize K = s->K;
  c->false_alarm = s->false_alarm;
  c->threshold = s->threshold;
  c->level_lo = s->level_lo;
  c->level_hi = s->level_hi;
  c->members = s->members;
  memcpy (c->class_count, s->class_count, K * sizeof (guint));
  memcpy (c->heldout_count, s->heldout_count, K * sizeof (guint));
  memcpy (c->spectra, s->spectra, K * s->nb * sizeof (float));
  memcpy (c->novelty_q, s->novelty_q, s->Q * sizeof (float));
  memcpy (c->margin_q, s->margin_q, K * s->Q * sizeof (float));
  space_copy (&c->pooled, &s->pooled, s->K);
  for (int l = 0; l < s->n_stages; l++)
    space_copy (&c->stages[l], &s->stages[l], s->K);
  return c;
}

/* ---- whitening and novelty ---- */

gboolean
stats_prepare_space (StatsSpace *sp, int K, const char *what, GError **error)
{
  const int C = sp->C;
  g_autofree double *L = g_new0 (double, (gsize) C *C);
  /* Cholesky, S = L L^T, in double from the stored floats: a file and
   * the statistics it was written from give the same whitening. */
  for (int j = 0; j < C; j++) {
    double d = sp->covariance[(gsize) j * C + j];
    for (int k = 0; k < j; k++)
      d -= L[(gsize) j * C + k] * L[(gsize) j * C + k];
    /* A pivot this small relative to its diagonal entry is a covariance
     * that rounding has made singular. */
    if (!(d > 1e-12 * fabs ((double) sp->covariance[(gsize) j * C + j]))
        || !(d > 0) || !isfinite (d)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s is not positive definite (pivot %d of %d is %g; a feature "
          "that never varies needs a shrinkage above 0)",
          what, j, C, d);
      return FALSE;
    }
    const double ljj = sqrt (d);
    L[(gsize) j * C + j] = ljj;
    for (int i = j + 1; i < C; i++) {
      double v = sp->covariance[(gsize) i * C + j];
      for (int k = 0; k < j; k++)
        v -= L[(gsize) i * C + k] * L[(gsize) j * C + k];
      L[(gsize) i * C + j] = v / ljj;
    }
  }
  /* W = L^-1 (lower triangular), column by column: L w_j = e_j. */
  double *W = sp->whiten;
  memset (W, 0, (gsize) C * C * sizeof (double));
  for (int j = 0; j < C; j++)
    for (int i = j; i < C; i++) {
      double v = i == j ? 1.0 : 0.0;
      for (int k = j; k < i; k++)
        v -= L[(gsize) i * C + k] * W[(gsize) k * C + j];
      W[(gsize) i * C + j] = v / L[(gsize) i * C + i];
    }
  for (int k = 0; k < K; k++)
    for (int i = 0; i < C; i++) {
      double v = 0.0;
      for (int j = 0; j <= i; j++)
        v += W[(gsize) i * C + j] * sp->means[(gsize) k * C + j];
      sp->white_means[(gsize) k * C + i] = v;
    }
  return TRUE;
}

gboolean
stats_prepare (
    SdModelStats *s, const char *what, const char *key, GError **error)
{
  g_autofree char *tensor
      = key ? g_strdup_printf ("tensor '%s.covariance': ", key) : g_strdup ("");
  g_autofree char *name = g_strdup_printf (
      "%s: %sthe covariance of the pooled features", what, tensor);
  if (!stats_prepare_space (&s->pooled, s->K, name, error))
    return FALSE;
  for (int l = 0; l < s->n_stages; l++) {
    g_free (name);
    g_free (tensor);
    tensor = key ? g_strdup_printf ("tensor '%s.stage_covariance.%d': ", key, l)
                 : g_strdup ("");
    name = g_strdup_printf (
        "%s: %sthe covariance of the time means of stage %d", what, tensor, l);
    if (!stats_prepare_space (&s->stages[l], s->K, name, error))
      return FALSE;
  }
  return TRUE;
}

int
stats_stage_channels (const SdModel *model, int l)
{
  return model->act_channels[model->stage_out[l]];
}

int
stats_stage_means_size (const SdModel *model)
{
  int D = 0;
  for (int l = 0; l < model->n_stage_layers; l++)
    D += stats_stage_channels (model, l);
  return D;
}

/* Class distances are accumulated in chunks of this many classes on the
 * stack: the novelty allocates nothing and costs O(C^2) per window for up
 * to CHUNK classes (O(ceil(K / CHUNK) C^2 + K C) beyond). */
enum
{
  CHUNK = 32
};

/* The smallest squared Mahalanobis distance of f (C) to a class mean of
 * sp: +Inf when f has a non-finite value. */
static double
space_min_d2 (const StatsSpace *sp, int K, const float *f)
{
  const int C = sp->C;
  double best = INFINITY;
  for (int k0 = 0; k0 < K; k0 += CHUNK) {
    const int nk = MIN (CHUNK, K - k0);
    double acc[CHUNK] = { 0 };
    for (int i = 0; i < C; i++) {
      const double *w = sp->whiten + (gsize) i * C;
      double z = 0.0;
      for (int j = 0; j <= i; j++)
        z += w[j] * f[j];
      for (int k = 0; k < nk; k++) {
        const double d = z - sp->white_means[(gsize) (k0 + k) * C + i];
        acc[k] += d * d;
      }
    }
    /* NaN features leave best at +Inf: such a window is never known. */
    for (int k = 0; k < nk; k++)
      if (acc[k] < best)
        best = acc[k];
  }
  return best;
}

int
sd_model_stats_get_novelty_stages (const SdModelStats *s)
{
  return s->n_stages;
}

int
sd_model_stats_get_novelty_size (const SdModelStats *s)
{
  if (s->n_stages == 0)
    return s->pooled.C;
  int D = 0;
  for (int l = 0; l < s->n_stages; l++)
    D += s->stages[l].C;
  return D;
}

void
sd_model_stats_novelty (
    const SdModelStats *s, const float *features, int B, double *novelty)
{
  g_return_if_fail (s != NULL && (features != NULL || B == 0));
  const int D = sd_model_stats_get_novelty_size (s);
  for (int b = 0; b < B; b++) {
    const float *f = features + (gsize) b * D;
    if (s->n_stages == 0) {
      novelty[b] = sqrt (space_min_d2 (&s->pooled, s->K, f));
      continue;
    }
    double acc = 0.0;
    for (int l = 0; l < s->n_stages; l++) {
      acc += space_min_d2 (&s->stages[l], s->K, f) / s->stages[l].C;
      f += s->stages[l].C;
    }
    novelty[b] = sqrt (acc);
  }
}

/* The squared Mahalanobis distance of f to mu in sp and its half-gradient
 * S^-1 (f - mu) in grad (may be NULL). */
static double
space_mahalanobis (
    const StatsSpace *sp, const float *f, const float *mu, float *grad)
{
  const int C = sp->C;
  const double *W = sp->whiten;
  double d2 = 0.0;
  /* z = L^-1 (f - mu) (whiten is lower triangular), then S^-1 (f - mu) =
   * L^-T z, in place in grad: grad_j needs z_i for i >= j only, so an
   * ascending j overwrites nothing still needed */
  for (int i = 0; i < C; i++) {
    const double *w = W + (gsize) i * C;
    double z = 0.0;
    for (int j = 0; j <= i; j++)
      z += w[j] * ((double) f[j] - mu[j]);
    d2 += z * z;
    if (grad != NULL)
      grad[i] = (float) z;
  }
  if (grad != NULL)
    for (int j = 0; j < C; j++) {
      double g = 0.0;
      for (int i = j; i < C; i++)
        g += W[(gsize) i * C + j] * grad[i];
      grad[j] = (float) g;
    }
  return d2;
}

double
sd_model_stats_mahalanobis (
    const SdModelStats *s, const float *f, const float *mu, float *grad)
{
  g_return_val_if_fail (s != NULL && f != NULL && mu != NULL, NAN);
  return space_mahalanobis (&s->pooled, f, mu, grad);
}

double
sd_model_stats_stage_mahalanobis (
    const SdModelStats *s, int l, const float *f, const float *mu, float *grad)
{
  g_return_val_if_fail (s != NULL && f != NULL && mu != NULL, NAN);
  g_return_val_if_fail (l >= 0 && l < s->n_stages, NAN);
  return space_mahalanobis (&s->stages[l], f, mu, grad);
}

/* The checks of the sd_workspace_novelty* functions. */
static gboolean
check_novelty_ws (
    const SdModel *model, const SdWorkspace *ws, int B, GError **error)
{
  if (model->stats == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s has no training statistics (add them with seqdream calibrate)",
        model->display_name);
    return FALSE;
  }
  if (sd_workspace_peek_model (ws) != model) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the workspace is not one of %s", model->display_name);
    return FALSE;
  }
  if (B < 0 || B > sd_workspace_last_batch (ws)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "novelty of %d windows, but the last forward had %d", B,
        sd_workspace_last_batch (ws));
    return FALSE;
  }
  return TRUE;
}

/* out (C) <- the time means of row b of stage l's output in ws. */
static void
stage_means (const SdWorkspace *ws, int l, int b, float *out)
{
  int C, len;
  const float *a = sd_workspace_get_layer_output (ws, l, &C, &len);
  a += (gsize) b * C * len;
  for (int c = 0; c < C; c++) {
    double v = 0.0;
    for (int t = 0; t < len; t++)
      v += a[(gsize) c * len + t];
    out[c] = (float) (v / len);
  }
}

void
stats_stage_means (
    const SdModel *model, const SdWorkspace *ws, int B, float *out)
{
  const int S = model->n_stage_layers, D = stats_stage_means_size (model);
  for (int b = 0; b < B; b++) {
    float *f = out + (gsize) b * D;
    for (int l = 0; l < S; l++) {
      stage_means (ws, l, b, f);
      f += stats_stage_channels (model, l);
    }
  }
}

gboolean
sd_workspace_novelty_features (const SdModel *model, const SdWorkspace *ws,
    int B, float *features, GError **error)
{
  g_return_val_if_fail (model != NULL && ws != NULL, FALSE);
  if (!check_novelty_ws (model, ws, B, error))
    return FALSE;
  const SdModelStats *s = model->stats;
  if (s->n_stages > 0) {
    stats_stage_means (model, ws, B, features);
    return TRUE;
  }
  int C, len;
  const float *pooled
      = sd_workspace_get_layer_output (ws, model->n_stage_layers, &C, &len);
  memcpy (features, pooled, (gsize) B * C * sizeof (float));
  return TRUE;
}

gboolean
sd_workspace_novelty (const SdModel *model, const SdWorkspace *ws, int B,
    double *novelty, GError **error)
{
  g_return_val_if_fail (model != NULL && ws != NULL, FALSE);
  if (!check_novelty_ws (model, ws, B, error))
    return FALSE;
  const SdModelStats *s = model->stats;
  if (s->members)
    return sd_ensemble_novelty (model, ws, B, novelty, error);
  int C, len;
  const float *pooled
      = sd_workspace_get_layer_output (ws, model->n_stage_layers, &C, &len);
  if (s->n_stages == 0) {
    sd_model_stats_novelty (s, pooled, B, novelty);
    return TRUE;
  }
  /* one stage's means at a time on the stack: no allocation */
  float f[SD_MAX_CHANNELS];
  for (int b = 0; b < B; b++) {
    double acc = 0.0;
    for (int l = 0; l < s->n_stages; l++) {
      g_assert (s->stages[l].C <= SD_MAX_CHANNELS);
      stage_means (ws, l, b, f);
      acc += space_min_d2 (&s->stages[l], s->K, f) / s->stages[l].C;
    }
    novelty[b] = sqrt (acc);
  }
  return TRUE;
}

/* ---- accessors ---- */

const SdModelStats *
sd_model_get_stats (const SdModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return model->stats;
}

gboolean
stats_check_model (const SdModelStats *s, const SdModel *model,
    const char *where, GError **error)
{
  const int C = sd_dream_feature_size (model);
  const guint L = sd_model_get_train_length (model);
  if (s->K != model->arch.n_classes || s->pooled.C != C) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: statistics of %d classes and %d features, the model has %d and "
        "%d",
        where, s->K, s->pooled.C, model->arch.n_classes, C);
    return FALSE;
  }
  if (s->members && model->members == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: statistics that combine an ensemble's members, but the model is "
        "not an ensemble",
        where);
    return FALSE;
  }
  for (int i = 0; s->members && i < model->n_members; i++)
    if (model->members[i]->stats == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: the novelty combines the members', but member %d has no "
          "statistics (calibrate the ensemble again)",
          where, i);
      return FALSE;
    }
  if (s->n_stages != 0 && s->n_stages != model->n_stage_layers) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: novelty statistics of %d stages, the model has %d", where,
        s->n_stages, model->n_stage_layers);
    return FALSE;
  }
  for (int l = 0; l < s->n_stages; l++)
    if (s->stages[l].C != stats_stage_channels (model, l)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: novelty statistics of %d channels at stage %d, the model's "
          "stage has %d",
          where, s->stages[l].C, l, stats_stage_channels (model, l));
      return FALSE;
    }
  if ((L > 0 && (guint) s->T != L) || s->T < model->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: statistics of windows of %d samples, the model's train length "
        "is %u (shortest input %d)",
        where, s->T, L, model->min_length);
    return FALSE;
  }
  return TRUE;
}

gboolean
sd_model_set_stats (SdModel *model, SdModelStats *stats, GError **error)
{
  g_return_val_if_fail (model != NULL, FALSE);
  if (stats != NULL
      && !stats_check_model (stats, model, model->display_name, error)) {
    sd_model_stats_free (stats);
    return FALSE;
  }
  sd_model_stats_free (model->stats);
  model->stats = stats;
  return TRUE;
}

int
sd_model_stats_get_length (const SdModelStats *s)
{
  return s->T;
}

int
sd_model_stats_get_n_classes (const SdModelStats *s)
{
  return s->K;
}

guint
sd_model_stats_get_class_count (const SdModelStats *s, int k)
{
  g_return_val_if_fail (k >= 0 && k < s->K, 0);
  return s->class_count[k];
}

guint
sd_model_stats_get_heldout_count (const SdModelStats *s, int k)
{
  g_return_val_if_fail (k >= 0 && k < s->K, 0);
  return s->heldout_count[k];
}

const float *
sd_model_stats_get_spectra (const SdModelStats *s)
{
  return s->spectra;
}

const float *
sd_model_stats_get_feature_means (const SdModelStats *s)
{
  return s->pooled.means;
}

int
sd_model_stats_get_feature_size (const SdModelStats *s)
{
  return s->pooled.C;
}

const float *
sd_model_stats_get_covariance (const SdModelStats *s)
{
  return s->pooled.covariance;
}

double
sd_model_stats_get_shrinkage (const SdModelStats *s)
{
  return s->pooled.shrinkage;
}

int
sd_model_stats_get_stage_size (const SdModelStats *s, int l)
{
  g_return_val_if_fail (l >= 0 && l < s->n_stages, 0);
  return s->stages[l].C;
}

const float *
sd_model_stats_get_stage_means (const SdModelStats *s, int l)
{
  g_return_val_if_fail (l >= 0 && l < s->n_stages, NULL);
  return s->stages[l].means;
}

const float *
sd_model_stats_get_stage_covariance (const SdModelStats *s, int l)
{
  g_return_val_if_fail (l >= 0 && l < s->n_stages, NULL);
  return s->stages[l].covariance;
}

double
sd_model_stats_get_stage_shrinkage (const SdModelStats *s, int l)
{
  g_return_val_if_fail (l >= 0 && l < s->n_stages, NAN);
  return s->stages[l].shrinkage;
}

double
sd_model_stats_get_novelty_threshold (const SdModelStats *s)
{
  return s->threshold;
}

double
sd_model_stats_get_false_alarm (const SdModelStats *s)
{
  return s->false_alarm;
}

/* The q-quantile of the Q quantiles v (at i / (Q - 1)), interpolated. */
static double
grid_quantile (const float *v, int Q, double q)
{
  if (!(q >= 0.0 && q <= 1.0))
    return NAN;
  const double pos = q * (Q - 1);
  const int i = MIN ((int) floor (pos), Q - 2);
  const double t = pos - i;
  return (1.0 - t) * v[i] + t * v[i + 1];
}

gboolean
sd_model_stats_get_novelty_members (const SdModelStats *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return s->members;
}

double
sd_model_stats_novelty_quantile (const SdModelStats *s, double q)
{
  return grid_quantile (s->novelty_q, s->Q, q);
}

double
sd_model_stats_margin_quantile (const SdModelStats *s, int k, double q)
{
  if (k < 0 || k >= s->K)
    return NAN;
  return grid_quantile (s->margin_q + (gsize) k * s->Q, s->Q, q);
}

void
sd_model_stats_get_level_range (const SdModelStats *s, double *lo, double *hi)
{
  *lo = s->level_lo;
  *hi = s->level_hi;
}
