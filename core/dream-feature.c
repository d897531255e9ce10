/* The feature anchor (FEATURE): the model's pooled features (the output
 * of its "gap" layer, the input of its dense layer), the class mean
 * features of reference data and the per-dream target features of a run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <math.h>
#include <string.h>

/* The segments of sd_dream_class_features in batches of BATCH rows
 * through the model. */
enum
{
  BATCH = 16
};

typedef struct
{
  const SdModel *model;
  SdWorkspace *ws;
  int gap, T, C;
  float *batch; /* (BATCH, T) segments */
  int cls[BATCH];
  int n;       /* segments in batch */
  double *acc; /* (K, C) sums of the pooled features */
  int *count;  /* (K) segments */
} FeatureSum;

/* acc += the pooled features of the segments in the batch, count += their
 * number per class; the batch is empty after. */
static void
flush_features (FeatureSum *sum)
{
  const int C = sum->C;
  if (sum->n == 0)
    return;
  sd_model_forward (
      (SdModel *) sum->model, sum->ws, sum->batch, sum->n, sum->T);
  int gc, gl;
  const float *f = sd_workspace_get_layer_output (sum->ws, sum->gap, &gc, &gl);
  for (int b = 0; b < sum->n; b++) {
    for (int ch = 0; ch < C; ch++)
      sum->acc[(gsize) sum->cls[b] * C + ch] += f[(gsize) b * C + ch];
    sum->count[sum->cls[b]]++;
  }
  sum->n = 0;
}

static void
add_segment_features (const float *segment, int c, gpointer user)
{
  FeatureSum *sum = user;
  memcpy (sum->batch + (gsize) sum->n * sum->T, segment,
      (gsize) sum->T * sizeof (float));
  sum->cls[sum->n++] = c;
  if (sum->n == BATCH)
    flush_features (sum);
}

int
sd_dream_feature_size (const SdModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  const SdArch *a = sd_model_get_arch (model);
  const SdStage *last = &a->stages[a->n_stages - 1];
  return last->channels[last->n_convs - 1];
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
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new ((SdModel *) model, BATCH, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  g_autofree double *acc = g_new0 (double, (gsize) K *C);
  g_autofree int *count = g_new0 (int, K);
  g_autofree float *batch = g_new (float, (gsize) BATCH *T);
  FeatureSum sum = { .model = model,
    .ws = ws,
    .gap = sd_model_find_layer (model, "gap"),
    .T = T,
    .C = C,
    .batch = batch,
    .acc = acc,
    .count = count };
  dream_foreach_segment (model, data, T, add_segment_features, &sum);
  flush_features (&sum);
  dream_class_means (acc, count, K, C, features);
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
  }
  return TRUE;
}

double
dream_feature_penalty (const DreamRun *run, int k, int i, const float *f)
{
  const int C = run->d->gap_C;
  const float *mu = run->feat_target[k] + (gsize) i * C;
  double v = 0.0;
  for (int ch = 0; ch < C; ch++)
    v += ((double) f[ch] - mu[ch]) * ((double) f[ch] - mu[ch]);
  return run->cfg->regs[k].weight * v;
}
