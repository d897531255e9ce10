/* seqdream: the configuration of a dream run (length, steps, optimiser,
 * stopping, regularisers), its defaults and the recommended presets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/dream-regularizer.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

typedef enum
{
  SD_DREAM_OPT_ADAM,
  SD_DREAM_OPT_SGD,        /* with momentum */
  SD_DREAM_OPT_NORMALIZED, /* x += lr * g / RMS(g) */
} SdDreamOptimizer;

#define SD_DREAM_MAX_REGS 16

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
  /* centered on a class k: stop when the logit margin (z_k minus the
   * largest other logit) reaches stop_margin[k] (n_classes values; NULL:
   * no margin stop). With stop_probability too, both must hold. A typical
   * member of a class rather than an extreme one: the realistic preset
   * takes it from the margins of real series (stop_margin_quantile). */
  const float *stop_margin;
  /* The quantile of the real margins of each class (the model's training
   * statistics, sd_model_stats_margin_quantile) that
   * sd_dream_config_attach_model_stats makes stop_margin; 0: none. */
  float stop_margin_quantile;
  /* centered on a class k: above margin_ceiling[k] the class term's
   * gradient is reversed, so a dream more confident than real series of
   * its class ever are is walked back (n_classes values; NULL: none), and
   * a margin stop needs the margin at or below it. From
   * margin_ceiling_quantile (realistic: 0.99) as stop_margin. */
  const float *margin_ceiling;
  float margin_ceiling_quantile;
  /* centered: a stop also needs the dream to be "known" to the model (its
   * novelty, seqdream/stats.h, at or below the model's threshold): its
   * pooled features are those of real series, not only its margin. Needs
   * a model with training statistics (realistic: TRUE). */
  gboolean stop_known;
  /* Dreams centred on a class whose initialisation is Gaussian noise
   * (SD_INIT_GAUSSIAN) start instead from a draw of the prior: a series
   * of random phases whose power spectrum is the class's mean spectrum
   * (the `spectra` of the first spectral regulariser), at the level, of
   * 8 spaced evenly in log between the 0.5 % and 99.5 % quantiles of the
   * training windows' RMS (the model's statistics), that the model finds
   * most familiar (lowest novelty) among those it names the class (none:
   * the largest margin). One level (the training data's sd) for a model
   * without statistics; z-normalised dreams have no level. A real class
   * can be louder than small noise can become in a run: outer-race
   * vibration has 20 times the RMS of a healthy bearing's (docs/trust.md).
   * realistic: TRUE. */
  gboolean prior_start;
  float border_tolerance; /* border: stop when |p_a - p_b| / (p_a +
                           * p_b) <= 2 tol, i.e. |p - 0.5| <= tol
                           * for binary models (0.005) */
  float diversity;        /* weight of the batch diversity term (0) */
  gboolean znormalize;    /* keep every dream z-normalised (mean 0,
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

/* The defaults above; length, znormalize from the model (NULL: length 0,
 * no z-normalisation). */
void sd_dream_config_init (SdDreamConfig *config, const SdModel *model);
/* Add a regulariser; FALSE when the list is full. */
gboolean sd_dream_config_add (SdDreamConfig *config, SdRegularizer reg);

/* ---- presets: the recommended settings (docs/dreaming.md) ---- */

/* The preset names, NULL-terminated: "none", "recommended", "band",
 * "prototype", "realistic". */
const char *const *sd_dream_preset_names (void);

/* Add the regularisers of a preset to config (after sd_dream_config_init;
 * set what should differ afterwards):
 *   none         nothing (so does NULL)
 *   recommended  the spectral filter: the Wiener filter of the reference
 *                data's mean spectrum, 40 dB below its peak, at every
 *                step (measured on FordA, docs/forda-report.md)
 *   band         the same filter with the target spectrum smoothed by a
 *                Gaussian of 200 Hz, for recordings: it keeps the band
 *                and drops the line structure of the reference's rhythm
 *                (docs/vibration-report.md); needs a model with a sample
 *                rate
 *   prototype    band and the feature anchor (weight 0.1): the dream
 *                stays near the pooled features of its class's real
 *                series (docs/vibration-report.md)
 *   realistic    the default of the command line and the element: the
 *                feature anchor, the spectral filter (band's for models
 *                with a sample rate, else recommended's), and a stop
 *                once the margin lies between the 75th and the 99th
 *                percentile of the margins of the class's
 *                real series (above it the ascent turns back) and the
 *                dream is known to the model (stop_known): a typical
 *                member of the class, not an extreme one; lr 0.01, so a
 *                step does not jump that band; dreams from noise start
 *                from a draw of their class's spectrum (prior_start).
 *                Models without a sample rate (UCR series) get the
 *                magnitude projection to the dream's class spectrum
 *                (SPECTRAL_PROJECT) instead of the filter (docs/trust.md)
 * Every preset but none takes its targets from reference data: attach it
 * with sd_dream_config_attach_reference once the dream length is final,
 * or from the statistics the model file carries
 * (sd_dream_config_attach_model_stats).
 * An unknown name, a model without a sample rate for band / prototype or
 * a full regulariser list is SD_ERROR_INVALID_ARG naming the preset;
 * config is then unchanged. */
gboolean sd_dream_config_apply_preset (SdDreamConfig *config,
    const char *preset, const SdModel *model, GError **error);

/* ---- reference data: the targets of the spectral regularisers and the
 * feature anchor ---- */

/* TRUE when a regulariser of config takes class spectra (SPECTRUM,
 * SPECTRAL_FILTER) or class features (FEATURE) from reference data. */
gboolean sd_dream_config_needs_reference (const SdDreamConfig *config);

/* Set the targets of the regularisers of config that need reference data
 * (sd_dream_config_needs_reference): the class mean spectra
 * (sd_dream_class_spectra) and features (sd_dream_class_features) of data
 * (loaded with the model's labels) at the dream length config->length (0:
 * the data's length). *spectra and *features receive the new arrays the
 * regularisers point to, NULL when not needed: free them (g_free) after
 * the last run with config. Nothing needed: TRUE, data may be NULL. data
 * NULL while a regulariser needs it, and the errors of the class spectra
 * and features, are SD_ERROR_INVALID_ARG; config is then unchanged. */
gboolean sd_dream_config_attach_reference (SdDreamConfig *config,
    const SdModel *model, const SdDataset *data, float **spectra,
    float **features, GError **error);

/* sd_dream_config_attach_reference with the targets from the training
 * statistics the model carries (seqdream/stats.h) instead of reference
 * data: the class mean spectra (interpolated over frequency to the dream
 * length when it differs from the statistics' window length) and class
 * mean features; and stop_margin and margin_ceiling from their quantiles
 * (*margins: 2 n_classes values, the stop margins then the ceilings; NULL
 * when both quantiles are 0; a class without correctly classified
 * held-out series gets no margin condition, -Inf and +Inf). Free
 * the three arrays (g_free) after the last run with config. A model
 * without statistics while config needs them is SD_ERROR_INVALID_ARG
 * saying how to add them (seqdream calibrate); config is then unchanged. */
gboolean sd_dream_config_attach_model_stats (SdDreamConfig *config,
    const SdModel *model, float **spectra, float **features, float **margins,
    GError **error);

/* Every target of config from wherever it can come from, as the command
 * line and the element do it: the class spectra and features from data
 * when it is not NULL (sd_dream_config_attach_reference), else from the
 * model's training statistics; the stop margins and the Mahalanobis
 * anchor's metric from the statistics. A model without statistics cannot
 * give those: config then drops them (no margin stop, no known stop, a
 * Euclidean anchor) and *dropped (may be NULL) says so, for the caller to
 * tell the user. Needing spectra or features with neither data nor
 * statistics is SD_ERROR_INVALID_ARG. Free the three arrays (g_free). */
gboolean sd_dream_config_attach_targets (SdDreamConfig *config,
    const SdModel *model, const SdDataset *data, float **spectra,
    float **features, float **margins, gboolean *dropped, GError **error);

/* TRUE when attaching needs the statistics' margins
 * (stop_margin_quantile or margin_ceiling_quantile > 0). */
gboolean sd_dream_config_needs_margins (const SdDreamConfig *config);

G_END_DECLS
