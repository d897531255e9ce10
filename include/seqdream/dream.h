/* seqdream: Sequence Dreaming — activation maximisation for univariate
 * time-series classifiers (Schlegel, Keim, Sutter, TempXAI @ ECML-PKDD 2024).
 *
 * A dream is an input sequence x (length T, in the model's normalised input
 * space) optimised by gradient ascent on
 *
 *   J(x) = sum_i w_i * objective_i (f(transform(x)))  - sum_r penalty_r (x)
 *          [+ diversity across the batch]
 *
 * with the regularisers that keep it realistic applied as loss terms (L1,
 * L2, total variation, distance to a class spectrum), as filters of the
 * sequence or of its gradient (exponential smoothing, Gaussian filtering,
 * the Wiener filter of a class spectrum) and as projections (value
 * clipping, norm bound). docs/dreaming.md gives every formula and default.
 *
 * Many dreams run as one batch through one forward and one backward per
 * step; each has its own objective, seed and initialisation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* ---- objectives ---- */

typedef enum
{
  SD_OBJECTIVE_LOGIT,           /* z_a: "centered", push deep into class a */
  SD_OBJECTIVE_PROBABILITY,     /* p_a */
  SD_OBJECTIVE_LOG_PROBABILITY, /* log p_a */
  SD_OBJECTIVE_BORDER,          /* p_a = p_b: log(p_a + p_b) -
                                 * (z_a - z_b)^2, the decision boundary of
                                 * classes a and b, above all others */
  SD_OBJECTIVE_CHANNEL,         /* mean over time of channel c of a layer */
  SD_OBJECTIVE_NEURON,          /* channel c of a layer at time `position` */
} SdObjectiveType;

typedef struct
{
  SdObjectiveType type;
  float weight; /* 1 */
  int class_a;  /* LOGIT / PROBABILITY / LOG_PROB / BORDER */
  int class_b;  /* BORDER */
  int layer;    /* CHANNEL / NEURON: sd_model_find_layer */
  int channel;
  int position; /* NEURON; negative counts from the end */
} SdObjectiveTerm;

#define SD_DREAM_MAX_TERMS 8

/* A weighted sum of terms. */
typedef struct
{
  int n_terms;
  SdObjectiveTerm terms[SD_DREAM_MAX_TERMS];
} SdObjective;

/* Convenience constructors (one term of weight 1). */
SdObjective sd_objective_centered (int class_index);
SdObjective sd_objective_border (int class_a, int class_b);

/* ---- initialisation ---- */

typedef enum
{
  SD_INIT_GAUSSIAN, /* N(0, scale^2), seeded */
  SD_INIT_UNIFORM,  /* U(-scale, scale), seeded */
  SD_INIT_ZEROS,
  SD_INIT_CONSTANT, /* every sample = scale */
  SD_INIT_SERIES,   /* a given series (dream from a window) */
} SdInitType;

typedef struct
{
  SdInitType type;
  float scale;         /* 0.1 for noise */
  const float *series; /* SD_INIT_SERIES: T values, normalised */
} SdInit;

/* ---- regularisers ---- */

typedef enum
{
  SD_REG_L1,                   /* penalty weight * mean |x| */
  SD_REG_L2,                   /* penalty weight * mean x^2 */
  SD_REG_TV,                   /* penalty weight * mean |x[t+1] - x[t]| */
  SD_REG_TV2,                  /* penalty weight * mean (x[t+1]-x[t])^2 */
  SD_REG_EXP_SMOOTH,           /* filter: causal exponential smoothing,
                                * y[t] = a x[t] + (1-a) y[t-1], a = param */
  SD_REG_EXP_SMOOTH_ZEROPHASE, /* filter: the same forward then backward */
  SD_REG_GAUSSIAN,             /* filter: Gaussian, sigma = param samples,
                                * reflected boundary */
  SD_REG_CLIP,                 /* projection to [param, param2]; both 0:
                                * the model's training input range */
  SD_REG_NORM_BOUND,           /* projection to RMS(x) <= param */
  SD_REG_JITTER,               /* transform: random circular shift of up to
                                * param samples before each forward */
  SD_REG_SCALE,                /* transform: random amplitude factor in
                                * [param, param2] before each forward */
  SD_REG_NOISE,                /* transform: Gaussian noise of sd param
                                * added before each forward (robustness
                                * to noise, as expectation over
                                * transformations) */
  SD_REG_SPECTRUM,             /* penalty weight * mean over the T/2+1
                                * frequency bins of (log (p_k + param) -
                                * log (q_k + param))^2: p the dream's
                                * normalised power spectrum, q the target
                                * spectrum from `spectra` (param2 0: the
                                * mean of all classes, 1: the dream's
                                * class) */
  SD_REG_SPECTRAL_FILTER,      /* filter: the Wiener filter of the target
                                * spectrum q (as for SPECTRUM) in white
                                * noise param dB below its peak: the DFT
                                * of the sequence or gradient times
                                * q_k / (q_k + 10^(-param/10) max q) */
  SD_REG_FEATURE,              /* penalty weight * sum_c (f_c - mu_c)^2: f
                                * the dream's pooled features (the model's
                                * global average pool, the input of its
                                * dense layer), mu the mean pooled
                                * features of the dream's class from
                                * `features`. A centred dream then pushes
                                * its class score while staying near the
                                * features of the class's real series
                                * instead of going beyond them */
} SdRegType;

typedef enum
{
  SD_APPLY_SEQUENCE, /* filters act on x after each step */
  SD_APPLY_GRADIENT, /* filters act on the gradient before it */
} SdApplyTo;

typedef struct
{
  SdRegType type;
  float weight;        /* penalties: the weight */
  float param, param2; /* see SdRegType */
  SdApplyTo apply_to;  /* filters only */
  int every;           /* act every k-th step (>= 1) */
  float start, end;    /* active for steps in [start, end) * steps,
                        * 0 <= start < end <= 1 */
  /* SPECTRUM, SPECTRAL_FILTER: (n_classes, T/2 + 1) normalised power
   * spectra, one row per class of the model, from
   * sd_dream_class_spectra for the dream length T. A dream's target is
   * the mean of all rows (param2 = 0, the default), or with param2 = 1
   * its class's row (a border dream: the mean of its two classes' rows;
   * a dream without a class target keeps the mean of all). Not copied:
   * it must outlive the run. A row with a NaN or negative value fails
   * the run (SD_ERROR_INVALID_ARG). */
  const float *spectra;
  /* SPECTRUM, SPECTRAL_FILTER: the target spectrum is smoothed along
   * frequency by a Gaussian of this sigma, in cycles per sample (0, the
   * default: not smoothed; the sigma in bins is smooth * T, the kernel
   * reaches 4 sigma and reflects at bin 1 and at the Nyquist frequency;
   * bin 0, the mean, is left as it is).
   * Smoothing keeps the spectral envelope (where the energy is) and
   * removes fine structure: a periodic signal's harmonic comb, whose
   * line spacing is its repetition rate, is flattened to within
   * exp (-2 pi^2 (sigma / spacing)^2) of its mean, so a filter built
   * from it can no longer impose the reference data's rhythm. */
  float smooth;
  /* FEATURE: (n_classes, sd_dream_feature_size) mean pooled features, one
   * row per class, from sd_dream_class_features at the dream length. A
   * dream's target is its class's row (a border dream: the mean of its two
   * classes' rows; a dream without a class target: the mean of all). Not
   * copied: it must outlive the run. A NaN in a row used fails the run.
   * Keep-best scores a dream by its objective minus this penalty. */
  const float *features;
} SdRegularizer;

/* A regulariser of `type` with the defaults of docs/dreaming.md. */
SdRegularizer sd_regularizer_default (SdRegType type);
const char *sd_reg_type_to_string (SdRegType type);
gboolean sd_reg_type_from_string (const char *s, SdRegType *type);

#define SD_DREAM_MAX_REGS 16

/* Number of frequency bins of the spectra of a dream of length T:
 * T/2 + 1. */
int sd_dream_spectrum_bins (int T);

/* The normalised power spectrum of x (T >= 2 samples) as the SPECTRUM
 * regulariser sees it: mean removed, periodic Hann window, one-sided
 * |DFT|^2 (bins 1..ceil(T/2)-1 doubled), divided by its sum.
 * spectrum: sd_dream_spectrum_bins (T) values. FALSE (spectrum
 * untouched) for a constant x. */
gboolean sd_dream_power_spectrum (const float *x, int T, float *spectrum);

/* The class mean spectra for SPECTRUM / SPECTRAL_FILTER: every series of
 * data (labels mapped onto the model's, as sd_reference_new expects),
 * normalised as the model normalises its input, cut into segments of T
 * samples (hop T/2, the last segment ending at the series' end; one
 * segment when the length is T), the mean of the segments' normalised
 * power spectra per class. spectra: (n_classes, T/2 + 1); the rows of
 * classes without series are NaN. SD_ERROR_INVALID_ARG when the series
 * are shorter than T, T < 2 or data has more classes than the model. */
gboolean sd_dream_class_spectra (const SdModel *model, const SdDataset *data,
    int T, float *spectra, GError **error);

/* Number of pooled features of the model (the channels of its last
 * stage, averaged over time by the "gap" layer). */
int sd_dream_feature_size (const SdModel *model);

/* The class mean features for FEATURE: every series of data (labels
 * mapped onto the model's), normalised as the model normalises its input,
 * cut into segments of T samples as sd_dream_class_spectra does, run
 * through the model (eval mode); the mean of the segments' pooled features
 * per class. features: (n_classes, sd_dream_feature_size); rows of classes
 * without series are NaN. Errors as sd_dream_class_spectra, and when T is
 * shorter than the model accepts. */
gboolean sd_dream_class_features (const SdModel *model, const SdDataset *data,
    int T, float *features, GError **error);

/* ---- optimiser ---- */

typedef enum
{
  SD_DREAM_OPT_ADAM,
  SD_DREAM_OPT_SGD,        /* with momentum */
  SD_DREAM_OPT_NORMALIZED, /* x += lr * g / RMS(g) */
} SdDreamOptimizer;

/* One dream of a batch. */
typedef struct
{
  SdObjective objective;
  SdInit init;
  guint64 seed;
} SdDreamSpec;

typedef struct
{
  int length;                 /* T; default the model's training length
                               * (0: that, else the dreamer's maximum) */
  int steps;                  /* 500 */
  SdDreamOptimizer optimizer; /* Adam */
  float lr;                   /* 0.05 */
  float lr_decay;             /* per-step factor, 1 = none */
  float momentum;             /* SGD, 0.9 */
  float grad_clip;            /* max RMS of the gradient, 0 = none */
  gboolean keep_best;         /* return the best sequence seen (TRUE) */
  float stop_probability;     /* centered: stop when every target p >=
                               * this (0 = run all steps) */
  float border_tolerance;     /* border: stop when |p_a - p_b| / (p_a +
                               * p_b) <= 2 tol, i.e. |p - 0.5| <= tol
                               * for binary models (0.005) */
  float diversity;            /* weight of the batch diversity term (0) */
  gboolean znormalize;        /* keep every dream z-normalised (mean 0,
                               * population sd 1) after each step and
                               * project its gradient accordingly: a
                               * model with per-series normalisation only
                               * ever sees such inputs, and without it a
                               * dream can win by amplitude alone. Default
                               * TRUE for those models, else FALSE */
  int n_regs;
  SdRegularizer regs[SD_DREAM_MAX_REGS];
  /* Cancellation: when not NULL, the run checks g_atomic_int_get (cancel)
   * before every step and stops with SD_ERROR_CANCELLED once it is non-zero
   * (no results). Set it from any thread. */
  const gint *cancel;
} SdDreamConfig;

void sd_dream_config_init (SdDreamConfig *config, const SdModel *model);
/* Add a regulariser; FALSE when the list is full. */
gboolean sd_dream_config_add (SdDreamConfig *config, SdRegularizer reg);

/* Per-step record of one dream. Entry s describes the sequence after s
 * updates: entry 0 is the initial sequence, n_steps = steps + 1. */
typedef struct
{
  int n_steps;
  float *objective;   /* J without penalties (n_steps) */
  float *probability; /* target class probability (n_steps);
                       * border: p_a / (p_a + p_b); no class term:
                       * the predicted class's */
  int n_regs;
  float *reg_values; /* (n_regs, n_steps): weighted penalty values; the
                      * RMS change made by filters/projections in the
                      * update that produced entry s; the shift / factor
                      * that jitter / scale drew for the gradient at s */
} SdDreamTrace;

typedef struct
{
  float *sequence; /* T values, normalised input space */
  int length;
  int steps;            /* updates applied (fewer when it stopped early) */
  int best_step;        /* trace entry of the returned sequence */
  gboolean converged;   /* the stop criterion was met */
  float objective;      /* at the returned sequence */
  float *logits;        /* K values at the returned sequence */
  float *probabilities; /* K */
  float probability;    /* of the target (border: p_a/(p_a+p_b)) */
  float logit_margin;   /* z_a - max_{k != a} z_k (border: z_a-z_b);
                         * the target is the first class term, else the
                         * predicted class */
  SdDreamTrace trace;
} SdDreamResult;

void sd_dream_result_free (SdDreamResult *r);

typedef struct _SdDreamer SdDreamer;

/* A dreamer owns the workspace for up to max_batch dreams of up to
 * max_length samples; reuse it for many runs. Thread-compatible: one
 * dreamer per thread, any number sharing the model. */
SdDreamer *sd_dreamer_new (
    SdModel *model, int max_batch, int max_length, GError **error);
void sd_dreamer_free (SdDreamer *d);

/* Run n dreams as one batch. results[i] receives a new SdDreamResult
 * (NULL for all on failure). Impossible configurations (bad classes,
 * layers, lengths, weights) are SD_ERROR_INVALID_ARG; a NaN or Inf in a
 * gradient, the logits or a sequence (an initial series too) stops the
 * run with SD_ERROR_DIVERGED naming the dream and the step. */
gboolean sd_dreamer_run (SdDreamer *d, const SdDreamConfig *config,
    const SdDreamSpec *specs, int n, SdDreamResult **results, GError **error);

/* Undo the model's fixed normalisation (x * std + mean) so a dream is in
 * the units of the data; per-series and no normalisation leave it as is. */
void sd_dream_denormalize (const SdModel *model, float *x, int T);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdDreamer, sd_dreamer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdDreamResult, sd_dream_result_free)

G_END_DECLS
