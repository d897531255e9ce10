/* The inside of SdModelStats, shared by core/stats.c (calibration,
 * novelty, accessors) and core/stats-file.c (the "stats" metadata and the
 * stats.* tensors of a model file); internal.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "seqdream/safetensors.h"
#include "seqdream/stats.h"

G_BEGIN_DECLS

struct _SdModelStats
{
  int K; /* classes */
  int C; /* pooled features */
  int T; /* window length; nb = T/2 + 1 spectrum bins */
  int nb;
  int Q; /* quantiles per distribution, at q = i / (Q - 1) */
  double false_alarm, threshold, shrinkage;
  double level_lo, level_hi; /* RMS of the raw fit windows, input units */
  guint *class_count;        /* (K) fit windows */
  guint *heldout_count;      /* (K) held-out windows */
  float *spectra;            /* (K, nb) */
  float *feature_means;      /* (K, C) */
  float *covariance;         /* (C, C), as stored */
  float *novelty_q;          /* (Q) ascending */
  float *margin_q;           /* (K, Q) ascending; NaN rows: no windows */
  /* Derived from the above by stats_prepare: the novelty in O(C^2) per
   * window without allocating. */
  double *whiten;      /* (C, C) L^-1, lower triangular; S = L L^T */
  double *white_means; /* (K, C) L^-1 mu_k */
};

/* Empty statistics of these sizes (every array allocated, zeroed). */
G_GNUC_INTERNAL SdModelStats *stats_new (int K, int C, int T, int Q);
/* whiten and white_means from covariance and feature_means: FALSE
 * (SD_ERROR_INVALID_ARG, naming `what`) when the covariance is not
 * positive definite. */
G_GNUC_INTERNAL gboolean stats_prepare (
    SdModelStats *s, const char *what, GError **error);

/* The model's statistics from the "stats" metadata and the stats.*
 * tensors of st (none when there are neither; an error naming the key or
 * tensor when anything does not fit the model). stats.* tensors are
 * skipped by the check for tensors outside the architecture. */
G_GNUC_INTERNAL gboolean stats_read (
    SdModel *model, const SdSafetensors *st, GError **error);
/* Adds the model's statistics, if any, to w. */
G_GNUC_INTERNAL void stats_write (const SdModel *model, SdSafetensorsWriter *w);

/* The checks of sd_model_set_stats: stats fit model (classes, features,
 * window length); else SD_ERROR_INVALID_ARG naming `where`. */
G_GNUC_INTERNAL gboolean stats_check_model (const SdModelStats *stats,
    const SdModel *model, const char *where, GError **error);

G_END_DECLS
