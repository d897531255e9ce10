/* seqdream: a model's predictions and scores on a labelled dataset
 * (core/evaluate.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

typedef struct
{
  guint n;
  int n_classes;
  double accuracy;
  double loss;                     /* mean cross-entropy */
  guint *confusion;                /* n_classes x n_classes, [true][pred] */
  double *precision, *recall, *f1; /* per class */
  /* With training statistics (seqdream/stats.h): the windows whose
   * novelty is above the model's threshold, in all and per true class
   * (n_classes); unknown NULL without statistics. */
  guint n_unknown;
  guint *unknown;
} SdEvalResult;

/* Predict logits (n, K) for every series of data (normalised with the
 * model's normalisation; the data are not modified). */
gboolean sd_model_predict (
    SdModel *model, const SdDataset *data, float *logits, GError **error);
/* sd_model_predict, and the novelty of every series (n; as
 * sd_workspace_novelty) into novelty when it is not NULL: then
 * SD_ERROR_INVALID_ARG when the model has no training statistics. */
gboolean sd_model_predict_novelty (SdModel *model, const SdDataset *data,
    float *logits, double *novelty, GError **error);
SdEvalResult *sd_model_evaluate (
    SdModel *model, const SdDataset *data, GError **error);
void sd_eval_result_free (SdEvalResult *r);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdEvalResult, sd_eval_result_free)

G_END_DECLS
