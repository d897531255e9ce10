/* seqdream: the regularisers that keep a dream realistic, their names,
 * defaults and their text form (the command line's `--reg`);
 * docs/dreaming.md gives every formula and default.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/model.h>

G_BEGIN_DECLS

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
                                * instead of going beyond them. param2 =
                                * 1: the squared Mahalanobis distance
                                * under the covariance of the model's
                                * training statistics (the metric of its
                                * novelty score), so the dream stays
                                * "known"; needs those statistics */
  SD_REG_SPECTRAL_PROJECT,     /* filter: magnitude projection toward the
                                * target spectrum q (as for SPECTRUM;
                                * param2 1, the default: the dream's
                                * class): every DFT bin but DC moves the
                                * share param (default 1) of the way
                                * from its magnitude to sqrt (q_k S), S
                                * the sequence's power outside DC, its
                                * phase kept. Unlike the Wiener filter
                                * it restores the class's own faint
                                * stop-band floor rather than removing
                                * it (docs/trust.md) */
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

/* Parse a regulariser from its text form TYPE[:KEY=VALUE,...], e.g.
 * "gaussian:param=2,every=5,end=0.8" or "l2:weight=0.1,apply=gradient":
 * TYPE a name of sd_reg_type_from_string, the keys weight, param, param2,
 * every, start, end (numbers), apply (sequence or gradient) and smooth
 * (Hz, at the model's sample rate, for the spectral regularisers). Keys
 * not given keep sd_regularizer_default (TYPE). model may be NULL when
 * smooth is not used. On failure reg is untouched and the error
 * (SD_ERROR_INVALID_ARG) names the spec and the bad part. The values are
 * not range-checked here: sd_dreamer_run checks them for the dream
 * length. */
gboolean sd_regularizer_parse (
    const char *spec, const SdModel *model, SdRegularizer *reg, GError **error);

G_END_DECLS
