/* The inside of SdModelStats, shared by core/stats.c (calibration,
 * novelty, accessors) and core/stats-file.c (the "stats" metadata and the
 * stats.* tensors of a model file); internal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "seqdream/safetensors.h"
#include "seqdream/stats.h"

G_BEGIN_DECLS

/* One feature space of the statistics: class means and one shared,
 * shrunk covariance of C features, with the whitening derived from them
 * (stats_prepare_space). */
typedef struct
{
  int C;
  double shrinkage;    /* weight of the scaled identity in covariance */
  float *means;        /* (K, C) */
  float *covariance;   /* (C, C), as stored */
  double *whiten;      /* (C, C) L^-1, lower triangular; S = L L^T */
  double *white_means; /* (K, C) L^-1 mu_k */
} StatsSpace;

struct _SdModelStats
{
  int K; /* classes */
  int T; /* window length; nb = T/2 + 1 spectrum bins */
  int nb;
  int Q; /* quantiles per distribution, at q = i / (Q - 1) */
  double false_alarm, threshold;
  double level_lo, level_hi; /* RMS of the raw fit windows, input units */
  guint *class_count;        /* (K) fit windows */
  guint *heldout_count;      /* (K) held-out windows */
  float *spectra;            /* (K, nb) */
  float *novelty_q;          /* (Q) ascending */
  float *margin_q;           /* (K, Q) ascending; NaN rows: no windows */
  /* The pooled features (the "gap" layer): the feature anchor of dreams,
   * and the novelty of files written before the stage spaces (version 1
   * of the "stats" metadata). */
  StatsSpace pooled;
  /* The novelty spaces: the time means of every stage's output, stage by
   * stage (n_stages of them); 0: the novelty is on pooled. */
  int n_stages;
  StatsSpace *stages;
  /* An ensemble's statistics whose novelty combines its members' (every
   * member then carries statistics of its own, calibrated on the same
   * windows): the largest member novelty in units of that member's
   * held-out median; novelty_q and threshold are of that score. FALSE:
   * the novelty is the first member's stage spaces above. */
  gboolean members;
};

/* Empty statistics of these sizes (every array allocated, zeroed): C
 * pooled features, and n_stages novelty spaces of stage_C[l] features
 * (n_stages 0: the novelty is on the pooled features). */
G_GNUC_INTERNAL SdModelStats *stats_new (
    int K, int C, int T, int Q, int n_stages, const int *stage_C);
/* whiten and white_means of a space from its covariance and means: FALSE
 * (SD_ERROR_INVALID_ARG, naming `what`) when the covariance is not
 * positive definite. */
G_GNUC_INTERNAL gboolean stats_prepare_space (
    StatsSpace *sp, int K, const char *what, GError **error);
/* stats_prepare_space of every space of s; `what` names the file (then
 * key, the statistics' key in it: errors name the tensor too) or the data
 * (key NULL). */
G_GNUC_INTERNAL gboolean stats_prepare (
    SdModelStats *s, const char *what, const char *key, GError **error);
/* The channels of stage l's output of model (the size of its novelty
 * space). */
G_GNUC_INTERNAL int stats_stage_channels (const SdModel *model, int l);
/* The channels of all stages' outputs together (D). */
G_GNUC_INTERNAL int stats_stage_means_size (const SdModel *model);
/* out (B, D) <- the time means of every stage's output of the B windows
 * of the last forward on ws, stage after stage. */
G_GNUC_INTERNAL void stats_stage_means (
    const SdModel *model, const SdWorkspace *ws, int B, float *out);

/* The model's statistics from the "stats" metadata and the stats.*
 * tensors of st (none when there are neither; an error naming the key or
 * tensor when anything does not fit the model). stats.* tensors are
 * skipped by the check for tensors outside the architecture. */
G_GNUC_INTERNAL gboolean stats_read (
    SdModel *model, const SdSafetensors *st, GError **error);
/* Adds the model's statistics, if any, to w. */
G_GNUC_INTERNAL void stats_write (const SdModel *model, SdSafetensorsWriter *w);
/* The same under another key: metadata `key` and tensors "<key>.*" (an
 * ensemble member's statistics: "members.<i>.stats"). */
G_GNUC_INTERNAL gboolean stats_read_as (
    SdModel *model, const SdSafetensors *st, const char *key, GError **error);
G_GNUC_INTERNAL void stats_write_as (
    const SdModelStats *s, SdSafetensorsWriter *w, const char *key);

/* The checks of sd_model_set_stats: stats fit model (classes, features,
 * window length); else SD_ERROR_INVALID_ARG naming `where`. */
G_GNUC_INTERNAL gboolean stats_check_model (const SdModelStats *stats,
    const SdModel *model, const char *where, GError **error);

G_END_DECLS
