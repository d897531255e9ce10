/* The feature anchor (FEATURE): the model's pooled features (the output
 * of its "gap" layer, the input of its dense layer), the class mean
 * features of reference data and the per-dream target features of a run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"
#include "model-private.h"

#include <seqdream/stats.h>

#include "stats-private.h"

#include <math.h>
#include <string.h>

/* The segments of dream_foreach_feature in batches of BATCH rows through
 * the model. */
enum
{
  BATCH = 16
};

typedef struct
{
  const SdModel *model;
  SdWorkspace *ws;
  int gap, T, C, K;
  int D;        /* stage means per segment; 0: none asked for */
  float *batch; /* (BATCH, T) segments */
  float *means; /* (BATCH, D) */
  int cls[BATCH];
  int n; /* segments in batch */
  DreamFeatureFunc fn;
  gpointer user;
} FeatureWalk;

/* fn for the pooled features and logits of every segment in the batch;
 * the batch is empty after. */
static void
flush_features (FeatureWalk *walk)
{
  if (walk->n == 0)
    return;
  const float *logits = sd_model_forward (
      (SdModel *) walk->model, walk->ws, walk->batch, walk->n, walk->T);
  int gc, gl;
  const float *f
      = sd_workspace_get_layer_output (walk->ws, walk->gap, &gc, &gl);
  if (walk->D > 0)
    stats_stage_means (walk->model, walk->ws, walk->n, walk->means);
  for (int b = 0; b < walk->n; b++)
    walk->fn (f + (gsize) b * walk->C,
        walk->D > 0 ? walk->means + (gsize) b * walk->D : NULL,
        logits + (gsize) b * walk->K, walk->cls[b], walk->user);
  walk->n = 0;
}

static void
add_segment (const float *segment, int c, gpointer user)
{
  FeatureWalk *walk = user;
  memcpy (walk->batch + (gsize) walk->n * walk->T, segment,
      (gsize) walk->T * sizeof (float));
  walk->cls[walk->n++] = c;
  if (walk->n == BATCH)
    flush_features (walk);
}

gboolean
dream_foreach_feature (const SdModel *model, const SdDataset *data, int T,
    gboolean with_stages, DreamFeatureFunc fn, gpointer user, GError **error)
{
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new ((SdModel *) model, BATCH, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  g_autofree float *batch = g_new (float, (gsize) BATCH *T);
  const int D = with_stages ? stats_stage_means_size (model) : 0;
  g_autofree float *means = g_new (float, (gsize) BATCH *MAX (D, 1));
  FeatureWalk walk = { .model = model,
    .ws = ws,
    .gap = sd_model_find_layer (model, "gap"),
    .T = T,
    .C = sd_dream_feature_size (model),
    .K = sd_model_get_n_classes (model),
    .D = D,
    .batch = batch,
    .means = means,
    .fn = fn,
    .user = user };
  dream_foreach_segment (model, data, T, add_segment, &walk);
  flush_features (&walk);
  return TRUE;
}

typedef struct
{
  int C;
  double *acc; /* (K, C) sums of the pooled features */
  int *count;  /* (K) segments */
} FeatureSum;

static void
add_features (const float *f, const float *stage_means, const float *logits,
    int c, gpointer user)
{
  FeatureSum *sum = user;
  (void) stage_means;
  (void) logits;
  for (int ch = 0; ch < sum->C; ch++)
    sum->acc[(gsize) c * sum->C + ch] += f[ch];
  sum->count[c]++;
}

int
sd_dream_feature_size (const SdModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  /* the channels into the "gap" layer, of an architecture or a graph */
  return model->feat_channels;
}

gboolean
sd_dream_class_features (const SdModel *model, const SdDataset *data, int T,
    float *features, GError **error)
{
  g_return_val_if_fail (
      model != NULL && data != NULL && features != NULL, FALSE);
  const int K = sd_model_get_n_classes (model);
  const int C = sd_dream_feature_size (model);
  if (!dream_check_class_data (model, data, T, 1, "features", error))
    return FALSE;
  g_autofree double *acc = g_new0 (double, (gsize) K *C);
  g_autofree int *count = g_new0 (int, K);
  FeatureSum sum = { C, acc, count };
  if (!dream_foreach_feature (model, data, T, FALSE, add_features, &sum, error))
    return FALSE;
  dream_class_means (acc, count, K, C, features);
  return TRUE;
}

/* The stage anchors of a FEATURE regulariser r in the Mahalanobis metric
 * when the model's statistics have stage spaces (see DreamRun). */
static gboolean
stage_anchor_setup (DreamRun *run, int r, GError **error)
{
  const SdModelStats *st = sd_model_get_stats (run->d->model);
  if (st == NULL || sd_model_stats_get_novelty_stages (st) < 2
      || run->n_stage_anchor > 0)
    return TRUE;
  const int K = run->d->K, S = sd_model_stats_get_novelty_stages (st);
  run->stage_anchor_reg = r;
  for (int l = 0; l < S - 1; l++) {
    const int C = sd_model_stats_get_stage_size (st, l);
    const float *mu = sd_model_stats_get_stage_means (st, l);
    float *tg = run->stage_target[l] = g_new (float, (gsize) run->n *C);
    run->stage_grad[l] = g_try_new0 (float, (gsize) run->n *C * run->T);
    run->n_stage_anchor = l + 1;
    if (run->stage_grad[l] == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
          "out of memory for the feature anchor at stage %d", l);
      return FALSE;
    }
    for (int i = 0; i < run->n; i++) {
      const DreamState *dr = &run->dreams[i];
      const int rows[2] = { dr->a, dr->b };
      const gboolean all = dr->kind == DREAM_TARGET_NONE;
      const int n_rows = all ? K : (dr->kind == DREAM_TARGET_BORDER ? 2 : 1);
      for (int ch = 0; ch < C; ch++) {
        double v = 0.0;
        for (int j = 0; j < n_rows; j++)
          v += mu[(gsize) (all ? j : rows[j]) * C + ch];
        tg[(gsize) i * C + ch] = (float) (v / n_rows);
      }
    }
  }
  return TRUE;
}

/* Per dream and FEATURE regulariser: the target features, its class's
 * row (border: the mean of its two classes' rows; no class target: the
 * mean of all rows). */
gboolean
dream_features_setup (DreamRun *run, GError **error)
{
  const SdDreamConfig *c = run->cfg;
  const int K = run->d->K, C = run->d->gap_C;
  for (int r = 0; r < c->n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    if (reg->type != SD_REG_FEATURE)
      continue;
    float *tg = run->feat_target[r] = g_new (float, (gsize) run->n *C);
    for (int i = 0; i < run->n; i++) {
      const DreamState *dr = &run->dreams[i];
      int rows[2] = { dr->a, dr->b }, n_rows = 1;
      const gboolean all = dr->kind == DREAM_TARGET_NONE;
      if (all)
        n_rows = K;
      else if (dr->kind == DREAM_TARGET_BORDER)
        n_rows = 2;
      for (int ch = 0; ch < C; ch++) {
        double v = 0.0;
        for (int j = 0; j < n_rows; j++)
          v += reg->features[(gsize) (all ? j : rows[j]) * C + ch];
        v /= n_rows;
        if (!isfinite (v)) {
          g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
              "regulariser %d (%s), dream %d: the class features have no "
              "finite value at feature %d for its class (a class without "
              "reference series?)",
              r, sd_reg_type_to_string (reg->type), i, ch);
          return FALSE;
        }
        tg[(gsize) i * C + ch] = (float) v;
      }
    }
    if (reg->param2 == 1.0f && reg->weight > 0.0f
        && !stage_anchor_setup (run, r, error))
      return FALSE;
  }
  return TRUE;
}

void
dream_stage_anchor_grads (
    DreamRun *run, int s, int r0, int r1, SdLayerGrad *extra, int *n_extra)
{
  const int k = run->stage_anchor_reg;
  if (run->n_stage_anchor == 0 || !dream_reg_active (run, k, s))
    return;
  SdDreamer *d = run->d;
  const SdModelStats *st = sd_model_get_stats (d->model);
  const float w2 = 2.0f * run->cfg->regs[k].weight;
  /* the time means and their gradient, one row of one stage at a time */
  float f[SD_MAX_CHANNELS], g[SD_MAX_CHANNELS];
  for (int l = 0; l < run->n_stage_anchor; l++) {
    int C, L;
    const float *a = sd_workspace_get_layer_output (d->ws, l, &C, &L);
    for (int r = r0; r < r1; r++) {
      float *dst = run->stage_grad[l] + (gsize) (r - r0) * C * L;
      if (!run->live[r]) {
        memset (dst, 0, (gsize) C * L * sizeof (float));
        continue;
      }
      const float *ar = a + (gsize) (r - r0) * C * L;
      for (int c = 0; c < C; c++) {
        double m = 0.0;
        for (int t = 0; t < L; t++)
          m += ar[(gsize) c * L + t];
        f[c] = (float) (m / L);
      }
      const int i = run->row_dream[r];
      sd_model_stats_stage_mahalanobis (
          st, l, f, run->stage_target[l] + (gsize) i * C, g);
      /* d/dy_ct of w (f - mu)^T S^-1 (f - mu), f_c = mean_t y_ct:
       * 2 w (S^-1 (f - mu))_c / L; minus: the ascent minimises it */
      for (int c = 0; c < C; c++) {
        const float v = -w2 * g[c] / L;
        for (int t = 0; t < L; t++)
          dst[(gsize) c * L + t] = v;
      }
    }
    extra[(*n_extra)++] = (SdLayerGrad){ l, run->stage_grad[l] };
  }
}

double
dream_feature_penalty (const DreamRun *run, int k, int i, const float *f)
{
  const int C = run->d->gap_C;
  const float *mu = run->feat_target[k] + (gsize) i * C;
  const SdRegularizer *reg = &run->cfg->regs[k];
  if (reg->param2 == 1.0f)
    return reg->weight
           * sd_model_stats_mahalanobis (
               sd_model_get_stats (run->d->model), f, mu, NULL);
  double v = 0.0;
  for (int ch = 0; ch < C; ch++)
    v += ((double) f[ch] - mu[ch]) * ((double) f[ch] - mu[ch]);
  return reg->weight * v;
}
