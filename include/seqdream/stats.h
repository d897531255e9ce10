/* seqdream: what a model learnt from. Statistics of its training (or a
 * later calibration) data, stored in the model file (docs/model-format.md,
 * tensors "stats.*" and metadata "stats"):
 *   - per-class mean power spectra (the SPECTRUM / SPECTRAL_FILTER targets
 *     of the realistic dream presets, without a reference file),
 *   - per-class means of the pooled features ("gap") with one shared,
 *     shrunk covariance (the FEATURE anchor),
 *   - per-class means of the time means of every stage's output, with one
 *     shared, shrunk covariance per stage (the novelty score),
 *   - the novelty score's distribution on held-out windows and the
 *     threshold at a chosen false-alarm rate,
 *   - the distribution of real logit margins per class (how confident a
 *     typical member of a class is: where a realistic dream stops),
 *   - the input level range (RMS of the raw windows, in input units,
 *     before the model's normalisation).
 * `seqdream train` stores them; `seqdream calibrate` (sd_model_calibrate)
 * adds them to any model. Files without them still load
 * (sd_model_get_stats returns NULL; callers say what is missing).
 *
 * The novelty of a window combines the Mahalanobis distances of its
 * features at every stage (the time means of stage l's output, f_l of
 * C_l values) to the nearest class mean under that stage's shared
 * covariance S_l:
 *   novelty = sqrt (sum_l min_k (f_l - mu_lk)^T S_l^-1 (f_l - mu_lk) / C_l)
 * (the "feature ensemble" of Lee et al. 2018 with equal weights; each
 * term is about 1 for a typical window). Early stages see the character
 * of the signal that the last layer, trained to separate the classes,
 * learns to ignore (docs/trust.md measures both). Statistics from files of
 * version 1 have no stage spaces: their novelty is that of the pooled
 * features alone, min_k sqrt ((f - mu_k)^T S^-1 (f - mu_k)). A window is
 * "known" when its novelty is not above the stored threshold (the
 * held-out novelty's order statistic at 1 - false_alarm, so at most that
 * share of the held-out windows is above it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

typedef struct _SdModelStats SdModelStats;

/* The quantiles written for the novelty and margin distributions: at
 * q = i / (SD_STATS_QUANTILES - 1). Files may hold any number >= 2. */
#define SD_STATS_QUANTILES 201

typedef struct
{
  /* Share of held-out windows allowed above the novelty threshold
   * (0 < false_alarm < 1; default 0.005). */
  double false_alarm;
  /* Covariance shrinkage toward the scaled identity, in [0, 1]; negative
   * (the default) chooses it from the data (Ledoit-Wolf). */
  double shrinkage;
  /* Without separate held-out data: the share of the windows of every
   * class held out of the means and the covariance and used for the
   * threshold and the margins (default 0.2; seeded). */
  double holdout_fraction;
  guint64 seed;
} SdCalibrateOptions;

void sd_calibrate_options_init (SdCalibrateOptions *options);

/* Computes the statistics from labelled windows and stores them in model
 * (replacing any it had). fit: series of the model's train length (or,
 * when the model has none, of one common length) whose labels are the
 * model's (mapped by name; unknown labels are SD_ERROR_INVALID_ARG naming
 * the label); it gives the spectra, the feature means, the covariance and
 * the level range. heldout: windows the model and the means have not seen,
 * for the novelty threshold and the margins; NULL holds out
 * options->holdout_fraction of fit instead. Every class of the model needs
 * at least 2 windows in fit; a length or sample rate other than the
 * model's is SD_ERROR_INVALID_ARG naming both. options NULL: defaults.
 * An ensemble's members are calibrated first, on the same fit and
 * held-out windows (their statistics are replaced: they are shared with
 * whoever else holds them), and the ensemble's novelty then combines
 * theirs (sd_model_stats_get_novelty_members). On failure the model and
 * its members keep the statistics they had. */
gboolean sd_model_calibrate (SdModel *model, const SdDataset *fit,
    const SdDataset *heldout, const SdCalibrateOptions *options,
    GError **error);

/* The model's statistics, NULL when it has none. Owned by the model;
 * immutable once stored. */
const SdModelStats *sd_model_get_stats (const SdModel *model);
/* Stores stats in model (taking ownership; NULL removes them).
 * SD_ERROR_INVALID_ARG when they do not fit the model (classes, features). */
gboolean sd_model_set_stats (
    SdModel *model, SdModelStats *stats, GError **error);
SdModelStats *sd_model_stats_copy (const SdModelStats *stats);
void sd_model_stats_free (SdModelStats *stats);

/* The window length the spectra were taken over (T; T/2 + 1 bins). */
int sd_model_stats_get_length (const SdModelStats *stats);
int sd_model_stats_get_n_classes (const SdModelStats *stats);
/* Windows of class k the statistics were computed from (fit part). */
guint sd_model_stats_get_class_count (const SdModelStats *stats, int k);
/* Held-out windows of class k (the novelty and margin distributions). */
guint sd_model_stats_get_heldout_count (const SdModelStats *stats, int k);
/* (n_classes, T/2 + 1): the class means of the windows' normalised power
 * spectra (sd_dream_class_spectra of the fit windows); finite. */
const float *sd_model_stats_get_spectra (const SdModelStats *stats);
/* (n_classes, C) class means of the pooled features, C =
 * sd_dream_feature_size. */
const float *sd_model_stats_get_feature_means (const SdModelStats *stats);
int sd_model_stats_get_feature_size (const SdModelStats *stats);
/* (C, C): the shared, shrunk covariance of the pooled features (about
 * their class means), symmetric positive definite. */
const float *sd_model_stats_get_covariance (const SdModelStats *stats);
/* The weight of the scaled identity in it, in [0, 1]. */
double sd_model_stats_get_shrinkage (const SdModelStats *stats);

double sd_model_stats_get_novelty_threshold (const SdModelStats *stats);
double sd_model_stats_get_false_alarm (const SdModelStats *stats);
/* The q-quantile (0 <= q <= 1) of the novelty of the held-out windows
 * (stored at SD_STATS_QUANTILES evenly spaced q, interpolated between). */
double sd_model_stats_novelty_quantile (const SdModelStats *stats, double q);
/* The q-quantile of the logit margin (the class's logit minus the largest
 * other logit) of the held-out windows of class k that the model
 * classifies as k; NaN when there are none. */
double sd_model_stats_margin_quantile (
    const SdModelStats *stats, int k, double q);
/* The range of the RMS (sqrt of the mean square) of the raw fit windows,
 * in input units, before the model's normalisation: their 0.5 % and
 * 99.5 % quantiles. */
void sd_model_stats_get_level_range (
    const SdModelStats *stats, double *lo, double *hi);

/* ---- novelty ---- */

/* The stages whose features the novelty combines; 0: the pooled features
 * alone (statistics of a version-1 file). */
int sd_model_stats_get_novelty_stages (const SdModelStats *stats);
/* TRUE for the statistics of an ensemble calibrated by this version: its
 * novelty combines its members' (each member carries statistics of its
 * own, from the same windows): per window, the largest member novelty
 * divided by that member's held-out median, so a window any member finds
 * unfamiliar is not known; the threshold and quantiles are of that score.
 * The stage spaces above are then the first member's, for the feature
 * anchor of dreams, and sd_model_stats_novelty and
 * sd_workspace_novelty_features give the first member's distance, not the
 * ensemble's novelty: use sd_workspace_novelty or
 * sd_model_predict_novelty. FALSE: the novelty is of the stage spaces
 * (for an ensemble calibrated before, its first member's). */
gboolean sd_model_stats_get_novelty_members (const SdModelStats *stats);
/* The features of one window the novelty is computed from (D): the sum of
 * the stages' channels, or the pooled features' C. */
int sd_model_stats_get_novelty_size (const SdModelStats *stats);

/* Stage l's novelty space (0 <= l < sd_model_stats_get_novelty_stages):
 * its channels C_l, the class means (n_classes, C_l) of the time means of
 * its output, their shared shrunk covariance (C_l, C_l) and the weight of
 * the scaled identity in it. */
int sd_model_stats_get_stage_size (const SdModelStats *stats, int l);
const float *sd_model_stats_get_stage_means (const SdModelStats *stats, int l);
const float *sd_model_stats_get_stage_covariance (
    const SdModelStats *stats, int l);
double sd_model_stats_get_stage_shrinkage (const SdModelStats *stats, int l);

/* The novelty of B windows from their novelty features (B, D; see
 * sd_workspace_novelty_features): novelty (B). A window with a non-finite
 * feature has novelty +Inf. Allocates nothing. */
void sd_model_stats_novelty (
    const SdModelStats *stats, const float *features, int B, double *novelty);

/* The squared Mahalanobis distance of the feature vector f (C) to mu (C)
 * under the shared covariance S, (f - mu)^T S^-1 (f - mu), and its
 * half-gradient S^-1 (f - mu) in grad (C; may be NULL). The metric of the
 * feature anchor that keeps dreams "known" (SD_REG_FEATURE with param2 =
 * 1). Allocates nothing. */
double sd_model_stats_mahalanobis (
    const SdModelStats *stats, const float *f, const float *mu, float *grad);

/* The novelty features (B, D) of the B windows of the last
 * sd_model_forward on ws: the time means of every stage's output, stage
 * after stage (or the pooled features for version-1 statistics). Errors
 * as sd_workspace_novelty. */
gboolean sd_workspace_novelty_features (const SdModel *model,
    const SdWorkspace *ws, int B, float *features, GError **error);

/* The same in stage l's novelty space: f and mu (C_l) time means of the
 * stage's output (the anchor of every stage, SD_REG_FEATURE with param2 =
 * 1). */
double sd_model_stats_stage_mahalanobis (const SdModelStats *stats, int l,
    const float *f, const float *mu, float *grad);

/* The novelty of the B windows of the last sd_model_forward on ws (as
 * above): novelty (B). FALSE with SD_ERROR_INVALID_ARG when the model has
 * no statistics, or B is more than that forward's batch, or ws is not a
 * workspace of model. Costs O(B sum_l C_l (L_l + C_l)) for stage outputs
 * of L_l samples; allocates nothing. */
gboolean sd_workspace_novelty (const SdModel *model, const SdWorkspace *ws,
    int B, double *novelty, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdModelStats, sd_model_stats_free)

G_END_DECLS
