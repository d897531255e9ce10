/* seqdream: attributions, which samples of a series made the model's
 * decision: saliency, gradient x input, integrated gradients and
 * SmoothGrad, all from the input-only backward of the model.
 *
 * Units. Attributions refer to the series as the caller gave it (data
 * units, before the model's normalisation), sample by sample:
 *   saliency, SmoothGrad  d logit_c / d x[t], logit per data unit: the
 *                         model's normalisation is part of the function
 *                         differentiated (a fixed normalisation divides
 *                         by its sd, a per-series one also projects out
 *                         the mean and the series' own direction)
 *   gradient x input,     logit units; they sum to (about, exactly for
 *   integrated gradients  IG at infinitely many steps) logit_c (x) -
 *                         logit_c (baseline)
 * Integrated gradients follow the straight path between the baseline and
 * the input in the model's input space (after normalisation). For a fixed
 * or no normalisation this is the straight path in data units; for a
 * per-series one the straight path in data units is useless (every
 * alpha x normalises to the same series) and the path in the model's
 * input space is the one whose endpoints are the two series the model
 * actually sees. docs/explain.md gives the formulas, the defaults and the
 * measurements behind them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

typedef enum
{
  SD_ATTRIBUTION_SALIENCY,
  SD_ATTRIBUTION_GRADIENT_X_INPUT,
  SD_ATTRIBUTION_INTEGRATED_GRADIENTS,
  SD_ATTRIBUTION_SMOOTHGRAD,
} SdAttributionMethod;

/* "saliency", "gradxinput", "ig", "smoothgrad". */
const char *sd_attribution_method_to_string (SdAttributionMethod method);
gboolean sd_attribution_method_from_string (
    const char *s, SdAttributionMethod *method);

/* The quadrature of the path integral of integrated gradients over
 * alpha in [0, 1]. */
typedef enum
{
  SD_IG_GAUSS_LEGENDRE, /* steps Gauss-Legendre nodes, no refinement */
  SD_IG_TRAPEZOID,      /* steps intervals: steps + 1 points, the
                         * endpoints at half weight; refined (nested,
                         * the midpoints added) where completeness
                         * misses the tolerance */
} SdIgRule;

const char *sd_ig_rule_to_string (SdIgRule rule);
gboolean sd_ig_rule_from_string (const char *s, SdIgRule *rule);

/* Where the attributions start from (integrated gradients, gradient x
 * input). */
typedef enum
{
  SD_BASELINE_ZEROS,       /* the all-zero series in data units,
                            * normalised as the model normalises (per
                            * series: zeros; fixed: -mean / std) */
  SD_BASELINE_SERIES,      /* `baseline`, in data units, normalised as
                            * the model normalises its input */
  SD_BASELINE_MODEL_INPUT, /* `baseline`, already in the model's input
                            * space (sd_attribution_class_mean) */
} SdBaselineType;

#define SD_IG_DEFAULT_STEPS 32
#define SD_IG_DEFAULT_MAX_STEPS 512
#define SD_SMOOTHGRAD_DEFAULT_SAMPLES 32

typedef struct
{
  SdAttributionMethod method;
  int target; /* class index; -1 (default): the predicted class of
               * every series */
  /* integrated gradients (and the baseline of gradient x input) */
  SdBaselineType baseline_type; /* zeros */
  const float *baseline;        /* length values, one series for all */
  int steps;                    /* SD_IG_DEFAULT_STEPS (32) */
  SdIgRule rule;                /* trapezoid */
  /* trapezoid: a series whose completeness gap, |sum of attributions -
   * (logit - baseline logit)|, exceeds tolerance * |logit - baseline
   * logit| gets twice the intervals, again and again up to max_steps
   * (the gap is known exactly from the two logits, so the check costs
   * nothing). tolerance 0 turns the refinement off. */
  float tolerance; /* 0.01 */
  int max_steps;   /* SD_IG_DEFAULT_MAX_STEPS (512) */
  /* SmoothGrad */
  int samples;  /* noisy copies per series, SD_SMOOTHGRAD_DEFAULT_SAMPLES */
  float noise;  /* sd of the Gaussian noise as a fraction of the series'
                 * range, max - min (0.15) */
  guint64 seed; /* every series draws its noise from a generator of this
                 * seed: its SmoothGrad does not depend on the batch */
  /* The normalisation x gets before the model (also the baseline's and
   * the noisy copies'); NULL (default): the model's. For a caller that
   * feeds the model otherwise than the model file says (the element's
   * normalize property). */
  const SdNormalization *normalization;
} SdAttributionConfig;

/* The defaults above for method. */
void sd_attribution_config_init (
    SdAttributionConfig *config, SdAttributionMethod method);

/* The attributions of n series of `length` samples. */
typedef struct
{
  int n, length, n_classes;
  SdAttributionMethod method;
  float *values;         /* (n, length), units above */
  int *target;           /* (n) the class attributed */
  int *predicted;        /* (n) the predicted class */
  float *logits;         /* (n, n_classes) at the input */
  float *logit;          /* (n) logit of the target at the input */
  float *baseline_logit; /* (n) logit of the target at the baseline
                          * (IG, gradient x input); NaN otherwise */
  int *steps;            /* (n) IG: the intervals (nodes) used; 0
                          * otherwise */
} SdAttribution;

void sd_attribution_free (SdAttribution *a);

typedef struct _SdAttributor SdAttributor;

/* An attributor owns an evaluation workspace of max_batch rows of up to
 * max_length samples; integrated gradients and SmoothGrad run their
 * steps x series (samples x series) rows through it max_batch at a time.
 * Reuse it for many calls; one per thread, any number sharing the model. */
SdAttributor *sd_attributor_new (
    SdModel *model, int max_batch, int max_length, GError **error);
void sd_attributor_free (SdAttributor *a);

/* The attributions of x (n, length), in data units, under config.
 * SD_ERROR_INVALID_ARG: a length the model or the attributor cannot take,
 * n < 1, an unknown class, steps or samples < 1, a noise that is not
 * finite and >= 0, a baseline missing for a SERIES / MODEL_INPUT type;
 * SD_ERROR_NONFINITE: a NaN or Inf in x or the baseline, naming the
 * series and the sample. */
SdAttribution *sd_attributor_run (SdAttributor *a,
    const SdAttributionConfig *config, const float *x, int n, int length,
    GError **error);

/* One call: an attributor of a suitable batch for this length, run once. */
SdAttribution *sd_attribution_compute (SdModel *model,
    const SdAttributionConfig *config, const float *x, int n, int length,
    GError **error);

/* The mean of the series of class `cls` of data, each normalised as the
 * model normalises its input, into out (data->length values, model input
 * space: use it with SD_BASELINE_MODEL_INPUT). Per-series normalised
 * windows are averaged after their normalisation, since the mean of raw
 * series would be re-normalised to sd 1. SD_ERROR_INVALID_ARG when the
 * class is out of range or data have no series of it. */
gboolean sd_attribution_class_mean (const SdModel *model, const SdDataset *data,
    int cls, float *out, GError **error);

/* Spearman's rank correlation of a and b (n values each; ties at their
 * mean rank), of |a| and |b| when absolute: the measure of the
 * model-parameter randomisation check (docs/explain.md). NaN when n < 2
 * or either is constant. */
double sd_attribution_rank_correlation (
    const float *a, const float *b, int n, gboolean absolute);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdAttribution, sd_attribution_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdAttributor, sd_attributor_free)

G_END_DECLS
