/* Predicting and evaluating a model on a dataset: logits of every series,
 * accuracy, loss, confusion matrix and per-class scores.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/evaluate.h"
#include "seqdream/layers.h"
#include "seqdream/stats.h"

#include <math.h>
#include <string.h>

gboolean
sd_model_predict (
    SdModel *model, const SdDataset *data, float *logits_out, GError **error)
{
  return sd_model_predict_novelty (model, data, logits_out, NULL, error);
}

gboolean
sd_model_predict_novelty (SdModel *model, const SdDataset *data,
    float *logits_out, double *novelty, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  const int maxB = 64;
  const guint T = data->length;
  if (novelty != NULL && sd_model_get_stats (model) == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s has no training statistics, so no novelty (add them with "
        "seqdream calibrate)",
        sd_model_get_display_name (model));
    return FALSE;
  }
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (model, maxB, (int) T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  g_autofree float *buf = g_new (float, (gsize) maxB *T);
  for (guint s = 0; s < data->n; s += maxB) {
    int B = (int) MIN ((guint) maxB, data->n - s);
    memcpy (buf, data->x + (gsize) s * T, (gsize) B * T * sizeof (float));
    sd_model_normalize_input (model, buf, B, (int) T);
    const float *logits = sd_model_forward (model, ws, buf, B, (int) T);
    memcpy (logits_out + (gsize) s * K, logits, (gsize) B * K * sizeof (float));
    if (novelty != NULL
        && !sd_workspace_novelty (model, ws, B, novelty + s, error))
      return FALSE;
  }
  return TRUE;
}

void
sd_eval_result_free (SdEvalResult *r)
{
  if (r == NULL)
    return;
  g_free (r->confusion);
  g_free (r->precision);
  g_free (r->recall);
  g_free (r->f1);
  g_free (r->unknown);
  g_free (r);
}

SdEvalResult *
sd_model_evaluate (SdModel *model, const SdDataset *data, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  if ((int) data->n_classes > K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the data have %u classes but the model only %d", data->n_classes, K);
    return NULL;
  }
  const SdModelStats *stats = sd_model_get_stats (model);
  g_autofree float *logits = g_new (float, (gsize) data->n *K);
  g_autofree double *novelty = stats ? g_new (double, data->n) : NULL;
  if (!sd_model_predict_novelty (model, data, logits, novelty, error))
    return NULL;
  SdEvalResult *r = g_new0 (SdEvalResult, 1);
  r->n = data->n;
  r->n_classes = K;
  r->confusion = g_new0 (guint, (gsize) K * K);
  r->precision = g_new0 (double, K);
  r->recall = g_new0 (double, K);
  r->f1 = g_new0 (double, K);
  r->unknown = stats ? g_new0 (guint, K) : NULL;
  g_autofree float *p = g_new (float, K);
  double loss = 0;
  guint correct = 0;
  for (guint i = 0; i < data->n; i++) {
    const float *l = logits + (gsize) i * K;
    int pred = 0;
    for (int k = 1; k < K; k++)
      if (l[k] > l[pred])
        pred = k;
    sd_softmax_forward (p, l, 1, K);
    loss -= log (MAX (p[data->y[i]], 1e-30f));
    r->confusion[data->y[i] * K + pred]++;
    if (novelty != NULL
        && novelty[i] > sd_model_stats_get_novelty_threshold (stats)) {
      r->n_unknown++;
      r->unknown[data->y[i]]++;
    }
    correct += pred == data->y[i];
  }
  r->accuracy = data->n ? (double) correct / data->n : NAN;
  r->loss = data->n ? loss / data->n : NAN;
  for (int k = 0; k < K; k++) {
    guint tp = r->confusion[k * K + k], col = 0, row = 0;
    for (int j = 0; j < K; j++) {
      col += r->confusion[j * K + k];
      row += r->confusion[k * K + j];
    }
    r->precision[k] = col ? (double) tp / col : 0.0;
    r->recall[k] = row ? (double) tp / row : 0.0;
    double s = r->precision[k] + r->recall[k];
    r->f1[k] = s > 0 ? 2 * r->precision[k] * r->recall[k] / s : 0.0;
  }
  return r;
}
