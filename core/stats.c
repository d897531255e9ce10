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

SdModelStats *
stats_new (int K, int C, int T, int Q)
{
  SdModelStats *s = g_new0 (SdModelStats, 1);
  s->K = K;
  s->C = C;
  s->T = T;
  s->nb = sd_dream_spectrum_bins (T);
  s->Q = Q;
  s->class_count = g_new0 (guint, K);
  s->heldout_count = g_new0 (guint, K);
  s->spectra = g_new0 (float, (gsize) K * s->nb);
  s->feature_means = g_new0 (float, (gsize) K *C);
  s->covariance = g_new0 (float, (gsize) C *C);
  s->novelty_q = g_new0 (float, Q);
  s->margin_q = g_new0 (float, (gsize) K *Q);
  s->whiten = g_new0 (double, (gsize) C *C);
  s->white_means = g_new0 (double, (gsize) K *C);
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
  g_free (s->feature_means);
  g_free (s->covariance);
  g_free (s->novelty_q);
  g_free (s->margin_q);
  g_free (s->whiten);
  g_free (s->white_means);
  g_free (s);
}

SdModelStats *
sd_model_stats_copy (const SdModelStats *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  SdModelStats *c = stats_new (s->K, s->C, s->T, s->Q);
  const gsize K = s->K, C = s->C;
  c->false_alarm = s->false_alarm;
  c->threshold = s->threshold;
  c->shrinkage = s->shrinkage;
  c->level_lo = s->level_lo;
  c->level_hi = s->level_hi;
  memcpy (c->class_count, s->class_count, K * sizeof (guint));
  memcpy (c->heldout_count, s->heldout_count, K * sizeof (guint));
  memcpy (c->spectra, s->spectra, K * s->nb * sizeof (float));
  memcpy (c->feature_means, s->feature_means, K * C * sizeof (float));
  memcpy (c->covariance, s->covariance, C * C * sizeof (float));
  memcpy (c->novelty_q, s->novelty_q, s->Q * sizeof (float));
  memcpy (c->margin_q, s->margin_q, K * s->Q * sizeof (float));
  memcpy (c->whiten, s->whiten, C * C * sizeof (double));
  memcpy (c->white_means, s->white_means, K * C * sizeof (double));
  return c;
}

/* ---- whitening and novelty ---- */

gboolean
stats_prepare (SdModelStats *s, const char *what, GError **error)
{
  const int C = s->C;
  g_autofree double *L = g_new0 (double, (gsize) C *C);
  /* Cholesky, S = L L^T, in double from the stored floats: a file and
   * the statistics it was written from give the same whitening. */
  for (int j = 0; j < C; j++) {
    double d = s->covariance[(gsize) j * C + j];
    for (int k = 0; k < j; k++)
      d -= L[(gsize) j * C + k] * L[(gsize) j * C + k];
    /* A pivot this small relative to its diagonal entry is a covariance
     * that rounding has made singular. */
    if (!(d > 1e-12 * fabs ((double) s->covariance[(gsize) j * C + j]))
        || !(d > 0) || !isfinite (d)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: the covariance of the pooled features is not positive "
          "definite (pivot %d of %d is %g; a feature that never varies "
          "needs a shrinkage above 0)",
          what, j, C, d);
      return FALSE;
    }
    const double ljj = sqrt (d);
    L[(gsize) j * C + j] = ljj;
    for (int i = j + 1; i < C; i++) {
      double v = s->covariance[(gsize) i * C + j];
      for (int k = 0; k < j; k++)
        v -= L[(gsize) i * C + k] * L[(gsize) j * C + k];
      L[(gsize) i * C + j] = v / ljj;
    }
  }
  /* W = L^-1 (lower triangular), column by column: L w_j = e_j. */
  double *W = s->whiten;
  memset (W, 0, (gsize) C * C * sizeof (double));
  for (int j = 0; j < C; j++)
    for (int i = j; i < C; i++) {
      double v = i == j ? 1.0 : 0.0;
      for (int k = j; k < i; k++)
        v -= L[(gsize) i * C + k] * W[(gsize) k * C + j];
      W[(gsize) i * C + j] = v / L[(gsize) i * C + i];
    }
  for (int k = 0; k < s->K; k++)
    for (int i = 0; i < C; i++) {
      double v = 0.0;
      for (int j = 0; j <= i; j++)
        v += W[(gsize) i * C + j] * s->feature_means[(gsize) k * C + j];
      s->white_means[(gsize) k * C + i] = v;
    }
  return TRUE;
}

/* Class distances are accumulated in chunks of this many classes on the
 * stack: the novelty allocates nothing and costs O(C^2) per window for up
 * to CHUNK classes (O(ceil(K / CHUNK) C^2 + K C) beyond). */
enum
{
  CHUNK = 32
};

void
sd_model_stats_novelty (
    const SdModelStats *s, const float *features, int B, double *novelty)
{
  g_return_if_fail (s != NULL && (features != NULL || B == 0));
  const int C = s->C, K = s->K;
  for (int b = 0; b < B; b++) {
    const float *f = features + (gsize) b * C;
    double best = INFINITY;
    for (int k0 = 0; k0 < K; k0 += CHUNK) {
      const int nk = MIN (CHUNK, K - k0);
      double acc[CHUNK] = { 0 };
      for (int i = 0; i < C; i++) {
        const double *w = s->whiten + (gsize) i * C;
        double z = 0.0;
        for (int j = 0; j <= i; j++)
          z += w[j] * f[j];
        for (int k = 0; k < nk; k++) {
          const double d = z - s->white_means[(gsize) (k0 + k) * C + i];
          acc[k] += d * d;
        }
      }
      for (int k = 0; k < nk; k++)
        if (acc[k] < best)
          best = acc[k];
    }
    /* NaN features leave best at +Inf: such a window is never known. */
    novelty[b] = sqrt (best);
  }
}

gboolean
sd_workspace_novelty (const SdModel *model, const SdWorkspace *ws, int B,
    double *novelty, GError **error)
{
  g_return_val_if_fail (model != NULL && ws != NULL, FALSE);
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
  int C, len;
  const float *f
      = sd_workspace_get_layer_output (ws, model->arch.n_stages, &C, &len);
  sd_model_stats_novelty (model->stats, f, B, novelty);
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
  if (s->K != model->arch.n_classes || s->C != C) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s: statistics of %d classes and %d features, the model has %d and "
        "%d",
        where, s->K, s->C, model->arch.n_classes, C);
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
  return s->feature_means;
}

int
sd_model_stats_get_feature_size (const SdModelStats *s)
{
  return s->C;
}

const float *
sd_model_stats_get_covariance (const SdModelStats *s)
{
  return s->covariance;
}

double
sd_model_stats_get_shrinkage (const SdModelStats *s)
{
  return s->shrinkage;
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
