/* seqdream: supervised training of SdModel classifiers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

typedef enum
{
  SD_OPTIMIZER_ADAM, /* Adam with decoupled weight decay (AdamW) */
  SD_OPTIMIZER_SGD,  /* SGD with (heavy-ball) momentum */
} SdOptimizer;

typedef enum
{
  SD_SCHEDULE_CONSTANT,
  SD_SCHEDULE_COSINE,  /* cosine from lr to min_lr over the epochs */
  SD_SCHEDULE_PLATEAU, /* lr *= factor after `patience` epochs
                        * without a better validation loss */
} SdSchedule;

typedef struct
{
  int epoch; /* 1-based */
  int epochs;
  float train_loss, train_acc;
  float val_loss, val_acc; /* NaN without a validation split */
  float lr;
  double elapsed_s, eta_s;
  gboolean best;        /* this epoch is the best so far */
  int batch, n_batches; /* progress inside the epoch */
} SdTrainProgress;

/* Called after every batch (best = FALSE, val_* NaN) and after every
 * epoch (batch == n_batches). */
typedef void (*SdTrainCallback) (
    const SdTrainProgress *progress, gpointer user_data);

typedef struct
{
  int epochs;                   /* 100 */
  int batch_size;               /* 32 */
  SdOptimizer optimizer;        /* Adam */
  float lr;                     /* 1e-3 */
  float momentum;               /* 0.9 (SGD) */
  float beta1, beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
  float weight_decay;           /* 0 */
  SdSchedule schedule;          /* plateau */
  float min_lr;                 /* 1e-5 */
  float plateau_factor;         /* 0.5 */
  int plateau_patience;         /* 10 epochs */
  double val_fraction;          /* 0.2 (stratified); 0 = no validation */
  int early_stop_patience;      /* 30 epochs; 0 = never stop early */
  /* Augmentation of every training batch, off by default; label-preserving
   * for stationary signals such as engine noise or vibration:
   * augment_shift rolls each series circularly by a random offset,
   * augment_reverse reverses it in time with probability 1/2. */
  gboolean augment_shift;
  gboolean augment_reverse;
  /* Carrier shift, off when 0: with probability augment_carrier_prob
   * (0.5 after sd_train_config_init) a training series x of length T is
   * replaced by Re{ analytic(x) exp(i 2 pi m t / T) }, m a uniform random
   * whole number of bins in [-M, M], M = floor(augment_carrier_hz T /
   * rate), i.e. every frequency moves by m rate / T Hz. The envelope
   * (amplitude modulation, impulse rhythm, decay) stays; the carrier
   * (resonance) moves. See sd_carrier_shift_apply. Needs the data's
   * sample rate. Applied after augment_shift and augment_reverse. */
  double augment_carrier_hz;
  double augment_carrier_prob;
  /* Random gain, off when <= 1: every training series is multiplied by
   * exp(u), u uniform in [-ln G, ln G] (log-uniform in [1/G, G]), after
   * the carrier shift, so the absolute amplitude stops being a cue. */
  double augment_gain;
  /* Shuffled-piece negatives, off when augment_shuffle_prob is 0: with
   * this probability a training series of a class in
   * augment_shuffle_classes (bit k set: class k; at least two classes) is
   * cut into pieces of augment_shuffle_min..augment_shuffle_max samples
   * which are put back in random order (sd_piece_shuffle), and its target
   * becomes the uniform distribution over those classes (soft-label
   * cross-entropy). Every sample, and so every burst, survives; their
   * rhythm does not. The model is told that without the rhythm these
   * classes cannot be told apart, i.e. to read it: for bearing faults,
   * inner and outer race, whose impulses differ in their repetition rate
   * (BPFI, BPFO) more than in their shape. Applied after augment_shift
   * and augment_reverse, before the carrier shift and the gain. */
  double augment_shuffle_prob;
  guint64 augment_shuffle_classes;
  guint augment_shuffle_min, augment_shuffle_max;
  guint64 seed; /* 0 */
  /* Wall-clock limit in seconds, 0 = none: no epoch starts that would end
   * after it (by the mean epoch time so far). A run stopped by it depends
   * on the machine's speed; one that ends by epochs or early stopping does
   * not. */
  double time_budget_s;
  /* Threads, 0 = none of sd_train's own: OpenBLAS's setting as it is.
   * N >= 1: every batch is split over N threads by samples
   * (sd_workspace_set_threads), OpenBLAS set to one thread while training
   * and its previous count restored after. OpenBLAS's thread count is per
   * process: inference running meanwhile in the same process runs on one
   * OpenBLAS thread too. */
  int n_threads;
  SdTrainCallback callback;
  gpointer user_data;
} SdTrainConfig;

void sd_train_config_init (SdTrainConfig *config);

/* Below this many series a data set trains on all of them (see
 * sd_train_config_adapt). */
#define SD_TRAIN_SMALL_SET 1000

/* Which protocol sd_train_config_adapt takes: by the data's size, or the
 * one of a caller who chose to have a validation split or not. */
typedef enum
{
  SD_TRAIN_SPLIT_AUTO,       /* none below SD_TRAIN_SMALL_SET series */
  SD_TRAIN_SPLIT_NONE,       /* every series trains */
  SD_TRAIN_SPLIT_VALIDATION, /* a validation split and early stopping */
} SdTrainSplit;

/* The settings that follow the data (n series), written into config; the
 * others (optimizer, lr, augmentation, seed, time budget, threads) are left
 * as they are. With SD_TRAIN_SPLIT_AUTO:
 *
 *   n < SD_TRAIN_SMALL_SET: the published protocol of Wang et al. 2017 /
 *     Fawaz et al. 2019: every series trains (val_fraction 0), the lr is
 *     halved after 50 epochs without a lower training loss (down to 1e-4),
 *     no early stopping, the epoch with the lowest training loss is kept.
 *   otherwise: a stratified validation split of 0.2 (at least 200 series:
 *     one series is at most 0.5 % of the validation accuracy), the lr
 *     halved after 10 epochs without a lower validation loss (down to
 *     1e-5), early stopping after 30, the epoch with the lowest validation
 *     loss kept.
 *
 * Batch size min (n / 10, 16) (at least 2) as published without a split,
 * 32 with one (the earlier default); epochs enough for about 20,000
 * minibatch steps (the published 1,500 epochs of a 200-series set at
 * batch 16), from 100 to 1,500.
 *
 * Returns a one-line description of the choice (free with g_free). */
char *sd_train_config_adapt (
    SdTrainConfig *config, const SdDataset *data, SdTrainSplit split);

/* The carrier shift of a series of length n, planned once (FFTW).
 * sd_carrier_shift_apply writes y with the real FFT
 *   Y[0] = X[0] (the mean stays),
 *   Y[k + bins] = X[k] for 0 < k < n/2 and 0 < k + bins < n/2,
 *   every other bin of Y (including n/2) zero,
 * i.e. y = Re{ z exp(i 2 pi bins t / n) } with z the analytic signal of x
 * without its mean and its Nyquist bin, and the content that would cross
 * 0 Hz or n/2 dropped. Then |analytic(y - mean)| = |z| exactly as long as
 * nothing is dropped. x and y may be the same array. Not thread-safe: one
 * SdCarrierShift per thread. */
typedef struct _SdCarrierShift SdCarrierShift;
SdCarrierShift *sd_carrier_shift_new (guint n, GError **error);
void sd_carrier_shift_apply (
    SdCarrierShift *cs, const float *x, float *y, int bins);
void sd_carrier_shift_free (SdCarrierShift *cs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdCarrierShift, sd_carrier_shift_free)

/* y (n) <- x (n) cut into consecutive pieces whose lengths are drawn
 * uniformly from [min_len, max_len] (the last piece is what remains),
 * written in a uniformly random order drawn from rng. Every sample of x
 * appears once in y; x and y must not overlap. 1 <= min_len <= max_len. */
void sd_piece_shuffle (const float *x, float *y, guint n, guint min_len,
    guint max_len, GRand *rng);

typedef struct
{
  int epochs_run;
  int best_epoch;
  float best_val_loss, best_val_acc;
  float final_train_loss, final_train_acc;
  double seconds;
  gboolean stopped_early;   /* by early_stop_patience */
  gboolean stopped_by_time; /* by time_budget_s */
} SdTrainResult;

/* Train `model` in place on `data`. The data are normalised with the
 * model's normalisation (a fixed normalisation takes its mean and std from
 * the training part); the model records the training length, sample rate
 * and input range. With a validation split the parameters of the epoch
 * with the lowest validation loss are kept, without one those of the epoch
 * with the lowest training loss. Deterministic for a given seed and
 * thread count (unless stopped by the time budget). */
gboolean sd_train (SdModel *model, const SdDataset *data,
    const SdTrainConfig *config, SdTrainResult *result, GError **error);

/* The split sd_train makes of data with config (the same rows for the
 * same seed): *train_rows (*n_train) and *val_rows (*n_val) index the
 * rows of data, free both with g_free. Without a validation split
 * (val_fraction 0) every row trains and *val_rows is NULL. */
void sd_train_split (const SdDataset *data, const SdTrainConfig *config,
    guint **train_rows, guint *n_train, guint **val_rows, guint *n_val);

G_END_DECLS
