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
 * This header has the dreamer and its results and includes the parts of
 * a dream's description: dream-objective.h, dream-regularizer.h,
 * dream-spectrum.h, dream-feature.h and dream-config.h.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/dream-config.h>
#include <seqdream/dream-feature.h>
#include <seqdream/dream-objective.h>
#include <seqdream/dream-regularizer.h>
#include <seqdream/dream-spectrum.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

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

/* ---- the dreamer ---- */

/* One dream of a batch. */
typedef struct
{
  SdObjective objective;
  SdInit init;
  guint64 seed;
} SdDreamSpec;

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
