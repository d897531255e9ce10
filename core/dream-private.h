/* The parts of the dream engine (core/dream*.c) that its files share; not
 * part of the API.
 *
 *   dream.c              the dreamer, the run's setup and loop: evaluate,
 *                        update (dream-step.c), finish
 *   dream-step.c         one update: transform, backpropagate, penalties,
 *                        optimiser step, projection
 *   dream-rows.c         the forward of the dream rows, a row's
 *                        normalisation, divergence errors
 *   dream-objective.c    objective values, target probability, dJ/dlogits,
 *                        injected layer gradients
 *   dream-regularizer.c  regulariser names, defaults, text form, penalties
 *                        and filters
 *   dream-spectrum.c     power spectra, class spectra, spectral targets
 *   dream-feature.c      pooled features, class features, feature targets
 *   dream-config.c       config defaults, presets, reference data
 *   dream-check.c        the checks of a configuration before a run
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "seqdream/dream.h"
#include "seqdream/layers.h"

#include <fftw3.h>

G_BEGIN_DECLS

/* ------------------------------------------------------------- dreamer */

struct _SdDreamer
{
  SdModel *model;
  SdWorkspace *ws;
  int max_B, max_T;
  int K;
  int n_stages; /* layers: stages.0 .. stages.{n_stages-1}, gap, fc */
  int gap_layer, fc_layer;
  int gap_C;
  float *mem;          /* one allocation for everything below */
  float *x;            /* (max_B, max_T) sequences, by dream */
  float *best;         /* (max_B, max_T) best sequences, by dream */
  float *g;            /* (max_B, max_T) gradient of J, by dream */
  float *m1, *m2;      /* (max_B, max_T) optimiser state, by dream */
  float *xin;          /* (max_B, max_T) forward input, by row */
  float *dx;           /* (max_B, max_T) input gradient, by row */
  float *orig;         /* (max_T) a row before a filter or projection */
  float *probs;        /* (max_B, K) by row */
  float *dlogits;      /* (max_B, K) by row */
  float *feats;        /* (max_B, gap_C) latest "gap" features, by dream */
  float *dgap;         /* (max_B, gap_C) gradient at "gap", by row */
  float *dgap_scratch; /* (gap_C) the Mahalanobis feature anchor's */
  double *novelty;     /* (max_B) latest novelty, by dream; NaN: no stats */
  double *nov_rows;    /* (max_B) novelty of a forward's rows */
};

/* ---------------------------------------------------- regulariser kinds */

static inline gboolean
dream_reg_is_penalty (SdRegType t)
{
  return t == SD_REG_L1 || t == SD_REG_L2 || t == SD_REG_TV || t == SD_REG_TV2
         || t == SD_REG_SPECTRUM;
}

static inline gboolean
dream_reg_is_filter (SdRegType t)
{
  return t == SD_REG_EXP_SMOOTH || t == SD_REG_EXP_SMOOTH_ZEROPHASE
         || t == SD_REG_GAUSSIAN || t == SD_REG_SPECTRAL_FILTER
         || t == SD_REG_SPECTRAL_PROJECT;
}

static inline gboolean
dream_reg_uses_spectra (SdRegType t)
{
  return t == SD_REG_SPECTRUM || t == SD_REG_SPECTRAL_FILTER
         || t == SD_REG_SPECTRAL_PROJECT;
}

static inline gboolean
dream_reg_is_transform (SdRegType t)
{
  return t == SD_REG_JITTER || t == SD_REG_SCALE || t == SD_REG_NOISE;
}

/* ------------------- penalties and filters, O(T) (dream-regularizer.c) */

/* The unweighted, mean-normalised penalty P(x) of x (T): L1, L2, TV, TV2. */
G_GNUC_INTERNAL double dream_penalty_value (
    SdRegType type, const float *x, int T);
/* g (T) -= weight * dP/dx: J = objective - weight * P is ascended. */
G_GNUC_INTERNAL void dream_penalty_subtract_grad (
    SdRegType type, const float *x, int T, float weight, float *g);

/* y[0] = x[0], y[t] = a x[t] + (1-a) y[t-1], in place. */
G_GNUC_INTERNAL void dream_exp_smooth_forward (float *x, int T, float a);
/* The same recurrence run from the end: y[T-1] = x[T-1]. */
G_GNUC_INTERNAL void dream_exp_smooth_backward (float *x, int T, float a);

/* Half-sample symmetric reflection (d c b a | a b c d | d c b a), any i. */
static inline int
dream_reflect_index (int i, int T)
{
  int p = 2 * T;
  i %= p;
  if (i < 0)
    i += p;
  return i < T ? i : p - 1 - i;
}

/* Normalised Gaussian half-kernel w[0..R], R = ceil(3 sigma):
 * w[k] = exp(-k^2 / (2 sigma^2)) / (w0 + 2 sum_{k>=1} ...). */
G_GNUC_INTERNAL int dream_gaussian_radius (float sigma);
G_GNUC_INTERNAL void dream_gaussian_kernel (float *w, float sigma, int R);
/* x (T) <- Gaussian filter of x with half-kernel w (R+1), reflected at
 * both ends; pad has T + 2R floats. */
G_GNUC_INTERNAL void dream_gaussian_filter (
    float *x, int T, const float *w, int R, float *pad);

/* ------------------------------------------- spectra (dream-spectrum.c) */

/* Real DFTs by FFTW (double precision), planned once per run and length
 * under the library's planner lock; executing a plan is thread-safe. */
typedef struct
{
  int T, nb;
  double *win;             /* (T) periodic Hann window */
  double *xc;              /* (T) work, FFTW-aligned */
  double *re, *im, *p, *a; /* (nb) work */
  fftw_complex *z;         /* (nb) work, FFTW-aligned */
  fftw_plan fwd;           /* xc -> z */
  fftw_plan inv;           /* z -> xc (destroys z) */
} DreamSpecWork;

G_GNUC_INTERNAL DreamSpecWork *dream_spec_work_new (int T);
G_GNUC_INTERNAL void dream_spec_work_free (DreamSpecWork *w);
/* The SPECTRUM penalty of x against lq (nb: log (q_k + eps)):
 * P = (1/nb) sum_k (log (p_k + eps) - lq_k)^2. With g != NULL also
 * g -= weight * dP/dx. A constant x has no spectrum: P = 0, no gradient. */
G_GNUC_INTERNAL double dream_spectrum_penalty (DreamSpecWork *w, const float *x,
    const double *lq, double eps, float weight, float *g);
/* x (T) <- the circular filter of x with real gains h (nb) per DFT bin:
 * y_t = (1/T) sum_{k=0..T-1} h_k X_k e^{2 pi i k t / T}, h_{T-k} = h_k. */
G_GNUC_INTERNAL void dream_spectral_filter (
    DreamSpecWork *w, float *x, const double *h);
G_GNUC_INTERNAL void dream_spectral_project (
    DreamSpecWork *w, float *x, const double *q, double alpha);
G_GNUC_INTERNAL void dream_spectrum_draw (
    DreamSpecWork *w, const SdRegularizer *reg, int row, GRand *rng, float *x);

/* The reference data of sd_dream_class_spectra / _features: series of at
 * least T >= min_T samples, labelled with the model's labels. */
G_GNUC_INTERNAL gboolean dream_check_class_data (const SdModel *model,
    const SdDataset *data, int T, int min_T, const char *what, GError **error);
/* Segments of T samples of the series of data (L >= T samples), hop about
 * T/2, evenly spread, the last one ending at the series' end (one when
 * L = T); every series of a class of the model, normalised as the model
 * normalises its input, in data order: fn (segment (T), class, user). */
typedef void (*DreamSegmentFunc) (const float *segment, int cls, gpointer user);
G_GNUC_INTERNAL void dream_foreach_segment (const SdModel *model,
    const SdDataset *data, int T, DreamSegmentFunc fn, gpointer user);
/* The segments of dream_foreach_segment through the model in eval mode,
 * in batches: fn (pooled features (C), logits (K), class, user) for every
 * segment in data order. FALSE when the workspace cannot be made (T
 * shorter than the model accepts). Used by sd_dream_class_features and
 * the model statistics (core/stats.c). */
typedef void (*DreamFeatureFunc) (const float *features,
    const float *stage_means, const float *logits, int cls, gpointer user);
/* with_stages: stage_means are the time means of every stage's output,
 * concatenated (stats_stage_means); else NULL. */
G_GNUC_INTERNAL gboolean dream_foreach_feature (const SdModel *model,
    const SdDataset *data, int T, gboolean with_stages, DreamFeatureFunc fn,
    gpointer user, GError **error);
/* means (K, n) <- acc (K, n) / count (K) per class; NaN rows for classes
 * without a count. */
G_GNUC_INTERNAL void dream_class_means (
    const double *acc, const int *count, int K, int n, float *means);

/* ------------------------------------------------------------ the run */

typedef enum
{
  DREAM_TARGET_NONE,     /* no class term: the predicted class is reported */
  DREAM_TARGET_CENTERED, /* LOGIT / PROBABILITY / LOG_PROBABILITY */
  DREAM_TARGET_BORDER,
} DreamTargetKind;

typedef struct
{
  const SdObjective *obj;
  DreamTargetKind kind;
  int a, b; /* target classes (the first class term) */
  GRand *rng;
  gboolean frozen, converged;
  int steps; /* updates applied so far */
  int best_step;
  double best_score;
  int shift;   /* transform of the current step: xin[(t+shift)%T] = */
  float scale; /* scale * x[t] */
  SdDreamResult *res;
} DreamState;

typedef struct
{
  int layer;
  int C;
  float *grad; /* (A, C, T) injected dJ/d(layer output), by row */
} DreamInjection;

typedef struct
{
  SdDreamer *d;
  const SdDreamConfig *cfg;
  int n, T, N; /* dreams, length, maximum number of updates */
  int cap;     /* trace capacity per dream: N + 1 */
  DreamState *dreams;
  int A;          /* rows in the current forward */
  int *row_dream; /* (n) dream of each row */
  gboolean *live; /* (n) the row's dream still takes this step */
  DreamInjection inj[SD_MAX_STAGES];
  int n_inj;
  gboolean inj_dirty;
  gboolean use_gap; /* inject a gradient at "gap" */
  float *kernel[SD_DREAM_MAX_REGS];
  int radius[SD_DREAM_MAX_REGS];
  float *pad;
  gboolean clip_on[SD_DREAM_MAX_REGS];
  float clip_lo[SD_DREAM_MAX_REGS], clip_hi[SD_DREAM_MAX_REGS];
  /* the first step and the end of each regulariser's window */
  int first[SD_DREAM_MAX_REGS];
  double until[SD_DREAM_MAX_REGS];
  /* SPECTRUM: log (q_k + eps), SPECTRAL_FILTER: the gains, (n, nb) by
   * dream; their DFT tables and work space */
  double *spec_target[SD_DREAM_MAX_REGS];
  DreamSpecWork *spec;
  /* FEATURE: the target features mu, (n, gap_C) by dream */
  float *feat_target[SD_DREAM_MAX_REGS];
  /* FEATURE in the Mahalanobis metric (param2 = 1) of a model whose
   * statistics have stage spaces: the anchor of every stage but the last
   * (whose time means are the pooled features, anchored above), following
   * regulariser stage_anchor_reg: the class means of the time means of
   * stage l's output, (n, C_l) by dream, and the gradient injected there,
   * (A, C_l, T) by row */
  int n_stage_anchor;
  int stage_anchor_reg;
  float *stage_target[SD_MAX_STAGES];
  float *stage_grad[SD_MAX_STAGES];
} DreamRun;

/* The target row (nb) of dream i for spectral regulariser r. */
static inline const double *
dream_spec_row (const DreamRun *run, int r, int i)
{
  return run->spec_target[r] + (gsize) i * run->spec->nb;
}

/* Regulariser r acts at step s (its window and every). */
static inline gboolean
dream_reg_active (const DreamRun *run, int r, int s)
{
  const SdRegularizer *reg = &run->cfg->regs[r];
  return s >= run->first[r] && s < run->until[r]
         && (s - run->first[r]) % reg->every == 0;
}

/* Trace entry s of regulariser r of dream dr. */
static inline float *
dream_trace_reg (const DreamState *dr, const DreamRun *run, int r, int s)
{
  return dr->res->trace.reg_values + (gsize) r * run->cap + s;
}

/* --------------------------------------------- the rows (dream-rows.c) */

/* Channels of the output of a layer (stage, "gap" or "fc"). */
G_GNUC_INTERNAL int dream_layer_channels (const SdDreamer *d, int layer);
/* Forward of rows r0..r1-1 of d->xin (workspace rows 0..r1-r0-1); softmax
 * into their d->probs rows; the features of those rows whose dream is live
 * (or all of them) into d->feats. Returns the logits of the chunk. */
G_GNUC_INTERNAL const float *dream_forward_rows (
    DreamRun *run, int r0, int r1, gboolean all_rows);
/* Index of the first NaN or Inf of x (n), -1 when all are finite. */
G_GNUC_INTERNAL int dream_first_nonfinite (const float *x, gsize n);
/* Sets SD_ERROR_DIVERGED for dream `dream` at step `step`: `what` has a
 * non-finite value at `index`. Returns FALSE. */
G_GNUC_INTERNAL gboolean dream_diverged (
    GError **error, int dream, int step, const char *what, int index);
/* x (T) -> (x - mean) / sd in place (population sd); a flat series becomes
 * zeros, as sd_model_normalize_input does. */
G_GNUC_INTERNAL void dream_znorm_row (float *x, int T);

/* ------------------------------------------- one update (dream-step.c) */

/* Gradient and update of the live dreams of rows r0..r1-1, whose forward
 * (evaluate) is in the workspace: x_s -> x_{s+1}. */
G_GNUC_INTERNAL gboolean dream_update (
    DreamRun *run, int s, int r0, int r1, GError **error);

/* --------------------------------------------------------- objective */

/* J (no penalties, no diversity) of dream dr at row r of the last forward
 * with logits z (K). */
G_GNUC_INTERNAL double dream_objective_value (
    const DreamRun *run, const DreamState *dr, int r, const float *z);
/* Target probability (border: p_a / (p_a + p_b)) and, for border dreams,
 * the closeness |p_a - p_b| / (p_a + p_b) (else NaN). */
G_GNUC_INTERNAL double dream_target_probability (const DreamState *dr,
    const float *z, const float *p, int K, double *closeness);
/* z_a - max_{k != a} z_k (border: z_a - z_b; no class term: a the
 * predicted class). */
G_GNUC_INTERNAL double dream_logit_margin (
    const DreamState *dr, const float *z, int K);
/* dJ/dz (K) of the class terms and of CHANNEL/NEURON terms on "fc";
 * OVERWRITES dz. */
G_GNUC_INTERNAL void dream_objective_dlogits (const DreamState *dr,
    const float *z, const float *p, int K, int fc_layer, float *dz);
/* The constant injected gradients at stage outputs for the live rows. */
G_GNUC_INTERNAL void dream_rebuild_injections (DreamRun *run);

/* ----------------------------------------- targets (spectrum, feature) */

/* Per dream and spectral regulariser: the target spectrum as log (q + eps)
 * (SPECTRUM) or as Wiener gains (SPECTRAL_FILTER) in run->spec_target. */
G_GNUC_INTERNAL gboolean dream_spectra_setup (DreamRun *run, GError **error);
/* Per dream and FEATURE regulariser: the target features in
 * run->feat_target. */
G_GNUC_INTERNAL gboolean dream_features_setup (DreamRun *run, GError **error);
/* FEATURE's value w sum_c (f_c - mu_c)^2 for dream i (features f). */
/* The stage anchors' gradients at the stage outputs of rows r0..r1-1 of
 * the last forward at step s, appended to extra (*n_extra grows). */
G_GNUC_INTERNAL void dream_stage_anchor_grads (
    DreamRun *run, int s, int r0, int r1, SdLayerGrad *extra, int *n_extra);
G_GNUC_INTERNAL double dream_feature_penalty (
    const DreamRun *run, int k, int i, const float *f);

/* -------------------------------------------------------------- checks */

/* The configuration and the specs of n dreams are possible for this
 * dreamer; *T_out the dream length. Else SD_ERROR_INVALID_ARG naming the
 * dream, term or regulariser and the value. */
G_GNUC_INTERNAL gboolean dream_check_config (const SdDreamer *d,
    const SdDreamConfig *c, const SdDreamSpec *specs, int n, int *T_out,
    GError **error);

G_END_DECLS
