/* The feature anchor (FEATURE): the model's pooled features (the output
 * of its "gap" layer, the input of its dense layer), the class mean
 * features of reference data and the per-dream target features of a run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <math.h>
#include <string.h>

/* acc (K, C) += the pooled features of the nb series in batch, count[c]
 * += their number per class cls. */
static void
accumulate_features (const SdModel *model, SdWorkspace *ws, int gap,
    const float *batch, const int *cls, int nb, int T, int C, double *acc,
    int *count)
{
  sd_model_forward ((SdModel *) model, ws, batch, nb, T);
  int gc, gl;
  const float *f = sd_workspace_get_layer_output (ws, gap, &gc, &gl);
  for (int b = 0; b < nb; b++) {
    for (int ch = 0; ch < C; ch++)
      acc[(gsize) cls[b] * C + ch] += f[(gsize) b * C + ch];
    count[cls[b]]++;
  }
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
  const int L = (int) data->length;
  if (!dream_check_class_data (model, data, T, 1, "features", error))
    return FALSE;
  enum
  {
    BATCH = 16
  };
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new ((SdModel *) model, BATCH, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  const int gap = sd_model_find_layer (model, "gap");
  g_autofree double *acc = g_new0 (double, (gsize) K *C);
  g_autofree int *count = g_new0 (int, K);
  g_autofree float *x = g_new (float, L);
  g_autofree float *batch = g_new (float, (gsize) BATCH *T);
  g_autofree int *cls = g_new (int, BATCH);
  const int n_seg = dream_n_segments (L, T);
  int nb = 0;
  for (guint i = 0; i < data->n; i++) {
    const int c = data->y[i];
    if (c < 0 || c >= K)
      continue;
    memcpy (x, data->x + (gsize) i * L, (gsize) L * sizeof (float));
    sd_model_normalize_input (model, x, 1, L);
    for (int s = 0; s < n_seg; s++) {
      /* the segments of sd_dream_class_spectra */
      gint64 start = dream_segment_start (s, n_seg, L, T);
      memcpy (batch + (gsize) nb * T, x + start, (gsize) T * sizeof (float));
      cls[nb++] = c;
      if (nb == BATCH) {
        accumulate_features (model, ws, gap, batch, cls, nb, T, C, acc, count);
        nb = 0;
      }
    }
  }
  if (nb > 0)
    accumulate_features (model, ws, gap, batch, cls, nb, T, C, acc, count);
  for (int c = 0; c < K; c++)
    for (int ch = 0; ch < C; ch++)
      features[(gsize) c * C + ch]
          = count[c] > 0 ? (float) (acc[(gsize) c * C + ch] / count[c]) : NAN;
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
