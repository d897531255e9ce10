/* Training: the loop (sd_train, in named steps), optimisers, schedules,
 * augmentation (carrier shift, shuffled pieces).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/train.h"
#include "seqdream/layers.h"
#include "sd-parallel.h"
#include "sd-private.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

void
sd_train_config_init (SdTrainConfig *c)
{
  memset (c, 0, sizeof *c);
  c->epochs = 100;
  c->batch_size = 32;
  c->optimizer = SD_OPTIMIZER_ADAM;
  c->lr = 1e-3f;
  c->momentum = 0.9f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->adam_eps = 1e-8f;
  c->weight_decay = 0.0f;
  c->schedule = SD_SCHEDULE_PLATEAU;
  c->min_lr = 1e-5f;
  c->plateau_factor = 0.5f;
  c->plateau_patience = 10;
  c->val_fraction = 0.2;
  c->early_stop_patience = 30;
  c->augment_carrier_hz = 0.0;
  c->augment_carrier_prob = 0.5;
  c->seed = 0;
}

/* Minibatch steps the adapted epoch budget aims at: the published 1,500
 * epochs of a 200-series set at batch 16 (13 steps an epoch). */
#define ADAPT_STEPS 20000

char *
sd_train_config_adapt (
    SdTrainConfig *c, const SdDataset *data, SdTrainSplit split)
{
  g_return_val_if_fail (c != NULL && data != NULL, NULL);
  const guint n = data->n;
  const gboolean small = split == SD_TRAIN_SPLIT_AUTO
                             ? n < SD_TRAIN_SMALL_SET
                             : split == SD_TRAIN_SPLIT_NONE;

  c->val_fraction = small ? 0.0 : 0.2;
  c->schedule = SD_SCHEDULE_PLATEAU;
  c->plateau_factor = 0.5f;
  c->plateau_patience = small ? 50 : 10;
  c->min_lr = MIN (small ? 1e-4f : 1e-5f, c->lr);
  c->early_stop_patience = small ? 0 : 30;
  /* Large sets keep the batch of the earlier default (32): the recipes of
   * models/README.md were made with it. */
  c->batch_size = small ? (int) CLAMP (n / 10, 2, 16) : 32;
  guint n_train = small ? n : n - (guint) (0.2 * n);
  guint steps = MAX ((n_train + c->batch_size - 1) / c->batch_size, 1);
  c->epochs = (int) CLAMP ((ADAPT_STEPS + steps - 1) / steps, 100, 1500);
  if (small)
    return g_strdup_printf (
        "%u series%s: all train (no validation split), lr halved after "
        "%d epochs without a lower training loss (min %g), the lowest "
        "training loss kept, batch %d, up to %d epochs",
        n, split == SD_TRAIN_SPLIT_AUTO ? " (a small set)" : "",
        c->plateau_patience, c->min_lr, c->batch_size, c->epochs);
  return g_strdup_printf (
      "%u series%s: validation split %.2f, lr halved after %d epochs "
      "without a lower validation loss (min %g), early stop after %d, the "
      "lowest validation loss kept, batch %d, up to %d epochs",
      n, split == SD_TRAIN_SPLIT_AUTO ? " (a large set)" : "", c->val_fraction,
      c->plateau_patience, c->min_lr, c->early_stop_patience, c->batch_size,
      c->epochs);
}

struct _SdCarrierShift
{
  int n;
  float *re;           /* n, fftwf_malloc'ed */
  fftwf_complex *spec; /* n/2 + 1 */
  fftwf_complex *tmp;  /* n/2 + 1 */
  fftwf_plan fwd, inv;
};

SdCarrierShift *
sd_carrier_shift_new (guint n, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (n < 4 || n > G_MAXINT / 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "carrier shift: %u samples is not a usable length", n);
    return NULL;
  }
  SdCarrierShift *cs = g_new0 (SdCarrierShift, 1);
  cs->n = (int) n;
  cs->re = fftwf_alloc_real (n);
  cs->spec = fftwf_alloc_complex (n / 2 + 1);
  cs->tmp = fftwf_alloc_complex (n / 2 + 1);
  g_mutex_lock (&sd_fftw_planner_lock);
  cs->fwd = fftwf_plan_dft_r2c_1d (cs->n, cs->re, cs->spec, FFTW_ESTIMATE);
  cs->inv = fftwf_plan_dft_c2r_1d (cs->n, cs->tmp, cs->re, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);
  if (cs->fwd == NULL || cs->inv == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "FFTW could not plan a transform of %u samples", n);
    sd_carrier_shift_free (cs);
    return NULL;
  }
  return cs;
}

void
sd_carrier_shift_free (SdCarrierShift *cs)
{
  if (cs == NULL)
    return;
  g_mutex_lock (&sd_fftw_planner_lock);
  if (cs->fwd)
    fftwf_destroy_plan (cs->fwd);
  if (cs->inv)
    fftwf_destroy_plan (cs->inv);
  g_mutex_unlock (&sd_fftw_planner_lock);
  fftwf_free (cs->re);
  fftwf_free (cs->spec);
  fftwf_free (cs->tmp);
  g_free (cs);
}

void
sd_carrier_shift_apply (SdCarrierShift *cs, const float *x, float *y, int bins)
{
  const int n = cs->n, half = n / 2;
  memcpy (cs->re, x, (gsize) n * sizeof (float));
  fftwf_execute (cs->fwd);
  /* The positive frequencies 0 < k < n/2 move by bins; what lands outside
   * (0, n/2) is dropped, the Nyquist bin too; DC stays. The odd-n top bin
   * (n-1)/2 is an ordinary positive frequency. */
  memset (cs->tmp, 0, sizeof (fftwf_complex) * (half + 1));
  cs->tmp[0][0] = cs->spec[0][0];
  cs->tmp[0][1] = 0.0f;
  const int top = (n % 2 == 0) ? half - 1 : half; /* last positive bin */
  for (int k = 1; k <= top; k++) {
    int j = k + bins;
    if (j >= 1 && j <= top) {
      cs->tmp[j][0] = cs->spec[k][0];
      cs->tmp[j][1] = cs->spec[k][1];
    }
  }
  fftwf_execute (cs->inv); /* unnormalised, overwrites tmp */
  const float s = 1.0f / (float) n;
  for (int t = 0; t < n; t++)
    y[t] = cs->re[t] * s;
}

static gboolean
check_config (const SdTrainConfig *c, GError **error)
{
  const char *bad = NULL;
  if (c->epochs < 1)
    bad = "epochs must be at least 1";
  else if (c->batch_size < 1)
    bad = "batch size must be at least 1";
  else if (!(c->lr > 0) || !isfinite (c->lr))
    bad = "learning rate must be a positive number";
  else if (!(c->min_lr >= 0) || c->min_lr > c->lr)
    bad = "min-lr must be in [0, lr]";
  else if (!(c->weight_decay >= 0))
    bad = "weight decay must be >= 0";
  else if (!(c->momentum >= 0 && c->momentum < 1))
    bad = "momentum must be in [0, 1)";
  else if (!(c->beta1 >= 0 && c->beta1 < 1 && c->beta2 >= 0 && c->beta2 < 1))
    bad = "Adam betas must be in [0, 1)";
  else if (!(c->val_fraction >= 0 && c->val_fraction < 1))
    bad = "validation fraction must be in [0, 1)";
  else if (!(c->plateau_factor > 0 && c->plateau_factor < 1))
    bad = "plateau factor must be in (0, 1)";
  else if (c->plateau_patience < 1 || c->early_stop_patience < 0)
    bad = "patience must be positive";
  else if (!(c->time_budget_s >= 0) || !isfinite (c->time_budget_s))
    bad = "time budget must be a non-negative number of seconds";
  else if (c->n_threads < 0 || c->n_threads > SD_PARALLEL_MAX_THREADS)
    bad = "threads must be from 1 to " G_STRINGIFY (
        SD_PARALLEL_MAX_THREADS) " (0: OpenBLAS's setting)";
  else if (!(c->augment_carrier_hz >= 0) || !isfinite (c->augment_carrier_hz))
    bad = "carrier shift must be a non-negative number of Hz";
  else if (!(c->augment_carrier_prob >= 0 && c->augment_carrier_prob <= 1))
    bad = "carrier shift probability must be in [0, 1]";
  else if (!(c->augment_gain >= 0) || !isfinite (c->augment_gain))
    bad = "augmentation gain must be a non-negative number";
  else if (!(c->augment_shuffle_prob >= 0 && c->augment_shuffle_prob <= 1))
    bad = "shuffled-piece probability must be in [0, 1]";
  else if (c->augment_shuffle_prob > 0
           && (c->augment_shuffle_min < 1
               || c->augment_shuffle_min > c->augment_shuffle_max))
    bad = "shuffled pieces need 1 <= minimum length <= maximum length";
  else if (c->augment_shuffle_prob > 0
           && (c->augment_shuffle_classes & (c->augment_shuffle_classes - 1))
                  == 0)
    bad = "shuffled-piece negatives need at least two classes (a target "
          "spread over one class would be a plain label)";
  if (bad != NULL) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG, bad);
    return FALSE;
  }
  return TRUE;
}

/* Fisher-Yates with a GRand: deterministic for a seed. */
static void
shuffle (guint *idx, guint n, GRand *rng)
{
  for (guint i = n; i > 1; i--) {
    guint j = (guint) g_rand_int_range (rng, 0, (gint32) i);
    guint t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}

/* Stratified split: the first round(frac * n_c) shuffled series of every
 * class go to validation. */
static void
split_stratified (
    const SdDataset *d, double frac, GRand *rng, GArray *train, GArray *val)
{
  for (guint c = 0; c < d->n_classes; c++) {
    g_autoptr (GArray) cls = g_array_new (FALSE, FALSE, sizeof (guint));
    for (guint i = 0; i < d->n; i++)
      if (d->y[i] == (int) c)
        g_array_append_val (cls, i);
    shuffle ((guint *) cls->data, cls->len, rng);
    guint nv = (guint) floor (frac * cls->len + 0.5);
    if (nv >= cls->len && cls->len > 0)
      nv = cls->len - 1;
    for (guint i = 0; i < cls->len; i++)
      g_array_append_val (i < nv ? val : train, g_array_index (cls, guint, i));
  }
}

typedef struct
{
  float *m, *v; /* Adam moments or SGD velocity (m) */
  long step;
} OptState;

static void
optimizer_step (SdModel *model, const SdTrainConfig *c, OptState *s,
    const float *grads, float lr)
{
  float *p = sd_model_get_params (model);
  s->step++;
  double bc1 = 1.0 - pow (c->beta1, (double) s->step);
  double bc2 = 1.0 - pow (c->beta2, (double) s->step);

  for (guint t = 0; t < sd_model_get_n_tensors (model); t++) {
    const SdParamInfo *info = sd_model_get_tensor (model, t);
    if (!info->trainable)
      continue;
    /* Decay weights only, not BN affine parameters or biases. */
    float wd = info->ndim >= 2 ? c->weight_decay : 0.0f;
    gsize o = info->offset;
    if (c->optimizer == SD_OPTIMIZER_ADAM) {
      float a = (float) (lr / bc1);
      float ib2 = (float) (1.0 / sqrt (bc2));
      for (gsize k = o; k < o + info->numel; k++) {
        float g = grads[k];
        s->m[k] = c->beta1 * s->m[k] + (1 - c->beta1) * g;
        s->v[k] = c->beta2 * s->v[k] + (1 - c->beta2) * g * g;
        p[k] -= a * s->m[k] / (sqrtf (s->v[k]) * ib2 + c->adam_eps)
                + lr * wd * p[k];
      }
    } else {
      for (gsize k = o; k < o + info->numel; k++) {
        float g = grads[k] + wd * p[k];
        s->m[k] = c->momentum * s->m[k] + g;
        p[k] -= lr * s->m[k];
      }
    }
  }
}

void
sd_piece_shuffle (
    const float *x, float *y, guint n, guint min_len, guint max_len, GRand *rng)
{
  g_return_if_fail (x != NULL && y != NULL && rng != NULL);
  g_return_if_fail (min_len >= 1 && min_len <= max_len);
  if (n == 0)
    return;
  /* piece p is x[start[p] .. start[p + 1]) */
  g_autofree guint *start = g_new (guint, n + 1);
  guint np = 0;
  for (guint t = 0; t < n; np++) {
    start[np] = t;
    guint len = min_len == max_len ? min_len
                                   : (guint) g_rand_int_range (rng,
                                       (gint32) min_len, (gint32) max_len + 1);
    t = len >= n - t ? n : t + len;
  }
  start[np] = n;
  g_autofree guint *order = g_new (guint, np);
  for (guint p = 0; p < np; p++)
    order[p] = p;
  for (guint i = np; i > 1; i--) {
    guint j = (guint) g_rand_int_range (rng, 0, (gint32) i);
    guint tmp = order[i - 1];
    order[i - 1] = order[j];
    order[j] = tmp;
  }
  float *out = y;
  for (guint p = 0; p < np; p++) {
    guint a = start[order[p]], len = start[order[p] + 1] - a;
    memcpy (out, x + a, (gsize) len * sizeof (float));
    out += len;
  }
}

/* Copy one training series of class y into the batch, augmented as
 * configured; cs is NULL without the carrier shift, max_bins its largest
 * shift; scratch has T floats. Returns TRUE when the series became a
 * shuffled-piece negative (its target is then not its label). */
static gboolean
augment_copy (float *dst, const float *src, int y, guint T,
    const SdTrainConfig *c, GRand *rng, SdCarrierShift *cs, int max_bins,
    float *scratch)
{
  gboolean negative = FALSE;
  guint shift
      = c->augment_shift ? (guint) g_rand_int_range (rng, 0, (gint32) T) : 0;
  gboolean rev = c->augment_reverse && g_rand_boolean (rng);
  /* dst[t] = src[(t + shift) mod T], read backwards when reversed. */
  memcpy (dst, src + shift, (T - shift) * sizeof (float));
  memcpy (dst + (T - shift), src, shift * sizeof (float));
  if (rev)
    for (guint i = 0, j = T - 1; i < j; i++, j--) {
      float tmp = dst[i];
      dst[i] = dst[j];
      dst[j] = tmp;
    }
  if (c->augment_shuffle_prob > 0 && y < 64
      && (c->augment_shuffle_classes >> y & 1)
      && g_rand_double (rng) < c->augment_shuffle_prob) {
    memcpy (scratch, dst, (gsize) T * sizeof (float));
    sd_piece_shuffle (scratch, dst, T, c->augment_shuffle_min,
        MIN (c->augment_shuffle_max, T), rng);
    negative = TRUE;
  }
  if (cs != NULL && g_rand_double (rng) < c->augment_carrier_prob) {
    int bins = g_rand_int_range (rng, -max_bins, max_bins + 1);
    if (bins != 0)
      sd_carrier_shift_apply (cs, dst, dst, bins);
  }
  if (c->augment_gain > 1) {
    double lg = log (c->augment_gain);
    float g = (float) exp (g_rand_double_range (rng, -lg, lg));
    for (guint t = 0; t < T; t++)
      dst[t] *= g;
  }
  return negative;
}

/* Mean loss and accuracy of rows idx (or all rows when idx NULL) of the
 * normalised x, in eval mode. */
static void
evaluate_rows (SdModel *model, SdWorkspace *ws, const float *x, const int *y,
    guint T, const guint *idx, guint n, float *buf, float *probs, double *loss,
    double *acc)
{
  const int K = sd_model_get_n_classes (model);
  const int maxB = sd_workspace_get_max_batch (ws);
  double l = 0.0;
  guint correct = 0;
  g_autofree int *labels = g_new (int, maxB);

  for (guint s = 0; s < n; s += maxB) {
    int B = (int) MIN ((guint) maxB, n - s);
    for (int b = 0; b < B; b++) {
      guint r = idx ? idx[s + b] : s + b;
      memcpy (buf + (gsize) b * T, x + (gsize) r * T, T * sizeof (float));
      labels[b] = y[r];
    }
    const float *logits = sd_model_forward (model, ws, buf, B, (int) T);
    sd_softmax_forward (probs, logits, B, K);
    l += sd_crossentropy_forward_backward (NULL, probs, labels, B, K) * B;
    for (int b = 0; b < B; b++) {
      int best = 0;
      for (int k = 1; k < K; k++)
        if (logits[b * K + k] > logits[b * K + best])
          best = k;
      correct += best == labels[b];
    }
  }
  *loss = n ? l / n : NAN;
  *acc = n ? (double) correct / n : NAN;
}

static gboolean
all_finite (const float *p, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (p[i]))
      return FALSE;
  return TRUE;
}

/* The data sd_train can train model on: at least 2 series, the model's
 * classes, and a shuffled-piece class mask within them. */
static gboolean
check_data (const SdModel *model, const SdDataset *data, const SdTrainConfig *c,
    GError **error)
{
  const int K = sd_model_get_n_classes (model);

  if (data->n < 2 || data->length < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "training needs at least 2 series, got %u", data->n);
    return FALSE;
  }
  if ((int) data->n_classes != K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the data have %u classes but the model has %d", data->n_classes, K);
    return FALSE;
  }
  for (guint i = 0; i < data->n; i++)
    if (data->y[i] < 0 || data->y[i] >= K) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "series %u has class index %d outside [0, %d)", i, data->y[i], K);
      return FALSE;
    }
  if (c->augment_shuffle_prob > 0 && K < 64
      && (c->augment_shuffle_classes >> K) != 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "shuffled-piece negatives: a class index in the mask "
        "0x%" G_GINT64_MODIFIER "x is not below the model's %d classes",
        c->augment_shuffle_classes, K);
    return FALSE;
  }
  return TRUE;
}

/* The state of one sd_train call. */
typedef struct
{
  SdModel *model;
  const SdDataset *data;
  const SdTrainConfig *c;
  int K;    /* classes */
  guint T;  /* series length */
  gsize NP; /* floats of parameters */
  GTimer *timer;
  GRand *rng;         /* the split and the order of the batches */
  GRand *aug_rng;     /* augmentation, a stream of its own */
  SdCarrierShift *cs; /* NULL without the carrier shift */
  int max_bins;       /* its largest shift */
  GArray *tr, *va;    /* rows of the training and validation parts */
  float *x;           /* (n, T): the data, normalised */
  SdWorkspace *ws;    /* training mode, batch BS */
  SdWorkspace *ews;   /* eval mode, batch 64, for validation */
  int BS, n_batches;
  float *grads, *best; /* NP each: gradients, the best parameters */
  OptState opt;
  /* batch buffers: 64 rows (the validation's) or BS */
  float *buf, *probs, *dlogits, *targets, *scratch;
  int *labels;
  gboolean *negative; /* row is a shuffled-piece negative */
  int n_shuffle;      /* classes in the shuffled-piece mask */
  /* schedule and best keeping */
  float lr;
  double best_val;
  int since_best, since_plateau;
  SdTrainResult res;
} Trainer;

static void
trainer_clear (Trainer *t)
{
  g_clear_pointer (&t->timer, g_timer_destroy);
  g_clear_pointer (&t->rng, g_rand_free);
  g_clear_pointer (&t->aug_rng, g_rand_free);
  g_clear_pointer (&t->cs, sd_carrier_shift_free);
  g_clear_pointer (&t->tr, g_array_unref);
  g_clear_pointer (&t->va, g_array_unref);
  g_clear_pointer (&t->ws, sd_workspace_free);
  g_clear_pointer (&t->ews, sd_workspace_free);
  g_free (t->x);
  g_free (t->grads);
  g_free (t->best);
  g_free (t->opt.m);
  g_free (t->opt.v);
  g_free (t->buf);
  g_free (t->probs);
  g_free (t->dlogits);
  g_free (t->targets);
  g_free (t->scratch);
  g_free (t->labels);
  g_free (t->negative);
}

/* The carrier shift moves by whole bins of rate / T Hz. */
static gboolean
trainer_carrier_shift (Trainer *t, GError **error)
{
  const SdTrainConfig *c = t->c;
  const guint T = t->T;

  if (!(c->augment_carrier_hz > 0 && c->augment_carrier_prob > 0))
    return TRUE;
  if (!(t->data->sample_rate > 0)) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the carrier shift needs the data's sample rate (recordings, not "
        "UCR files)");
    return FALSE;
  }
  double m = floor (c->augment_carrier_hz * T / t->data->sample_rate + 1e-9);
  t->max_bins = (int) MIN (m, (double) (T / 2));
  if (t->max_bins < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "a carrier shift of %g Hz is less than one bin (%g Hz at %u "
        "samples)",
        c->augment_carrier_hz, t->data->sample_rate / T, T);
    return FALSE;
  }
  t->cs = sd_carrier_shift_new (T, error);
  return t->cs != NULL;
}

/* The split's rows: validation first drawn from rng (a generator seeded
 * as sd_train seeds its own), as sd_train makes it. */
static void
split_rows (const SdDataset *data, double val_fraction, GRand *rng,
    GArray *train, GArray *val)
{
  if (val_fraction > 0)
    split_stratified (data, val_fraction, rng, train, val);
  else
    for (guint i = 0; i < data->n; i++)
      g_array_append_val (train, i);
}

static GRand *
split_rng (guint64 seed)
{
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  return g_rand_new_with_seed_array (s, 2);
}

void
sd_train_split (const SdDataset *data, const SdTrainConfig *config,
    guint **train_rows, guint *n_train, guint **val_rows, guint *n_val)
{
  g_return_if_fail (data != NULL && config != NULL);
  g_autoptr (GRand) rng = split_rng (config->seed);
  GArray *tr = g_array_new (FALSE, FALSE, sizeof (guint));
  GArray *va = g_array_new (FALSE, FALSE, sizeof (guint));
  split_rows (data, config->val_fraction, rng, tr, va);
  *n_train = tr->len;
  *n_val = va->len;
  *train_rows = (guint *) g_array_free (tr, FALSE);
  *val_rows = va->len ? (guint *) g_array_free (va, FALSE) : NULL;
  if (*val_rows == NULL)
    g_array_free (va, TRUE);
}

/* The split, then the data normalised once (a fixed normalisation is
 * fitted on the training part); the model records the normalisation, the
 * input range of the training part, the length and the sample rate. */
static void
trainer_split_and_normalise (Trainer *t)
{
  const SdDataset *data = t->data;
  const guint T = t->T;

  t->tr = g_array_new (FALSE, FALSE, sizeof (guint));
  t->va = g_array_new (FALSE, FALSE, sizeof (guint));
  split_rows (data, t->c->val_fraction, t->rng, t->tr, t->va);

  SdNormalization norm = sd_model_get_normalization (t->model);
  if (norm.mode == SD_NORM_FIXED) {
    double s = 0, ss = 0, cnt = (double) t->tr->len * T;
    for (guint i = 0; i < t->tr->len; i++) {
      const float *row = data->x + (gsize) g_array_index (t->tr, guint, i) * T;
      for (guint k = 0; k < T; k++)
        s += row[k];
    }
    double mean = s / cnt;
    for (guint i = 0; i < t->tr->len; i++) {
      const float *row = data->x + (gsize) g_array_index (t->tr, guint, i) * T;
      for (guint k = 0; k < T; k++)
        ss += (row[k] - mean) * (row[k] - mean);
    }
    norm.mean = (float) mean;
    norm.std = (float) MAX (sqrt (ss / cnt), 1e-12);
    sd_model_set_normalization (t->model, norm);
  }
  t->x = g_memdup2 (data->x, (gsize) data->n * T * sizeof (float));
  sd_model_normalize_input (t->model, t->x, (int) data->n, (int) T);
  float lo = INFINITY, hi = -INFINITY;
  for (guint i = 0; i < t->tr->len; i++) {
    const float *row = t->x + (gsize) g_array_index (t->tr, guint, i) * T;
    for (guint k = 0; k < T; k++) {
      lo = MIN (lo, row[k]);
      hi = MAX (hi, row[k]);
    }
  }
  if (lo < hi)
    sd_model_set_input_range (t->model, lo, hi);
  sd_model_set_train_length (t->model, T);
  sd_model_set_sample_rate (t->model, data->sample_rate);
}

/* The workspaces and every buffer of the loop. */
static gboolean
trainer_alloc (Trainer *t, GError **error)
{
  const int K = t->K;
  const guint T = t->T;
  const gsize NP = t->NP;

  t->BS = (int) MIN ((guint) t->c->batch_size, t->tr->len);
  t->n_batches = (int) ((t->tr->len + t->BS - 1) / t->BS);
  t->ws = sd_workspace_new (t->model, t->BS, (int) T, SD_MODE_TRAIN, error);
  if (t->ws == NULL)
    return FALSE;
  t->ews = sd_workspace_new (t->model, 64, (int) T, SD_MODE_EVAL, error);
  if (t->ews == NULL)
    return FALSE;
  if (t->c->n_threads > 1
      && (!sd_workspace_set_threads (t->ws, t->c->n_threads, error)
          || !sd_workspace_set_threads (t->ews, t->c->n_threads, error)))
    return FALSE;
  t->grads = g_new0 (float, NP);
  t->best = g_memdup2 (sd_model_get_params (t->model), NP * sizeof (float));
  t->opt.m = g_new0 (float, NP);
  t->opt.v = g_new0 (float, NP);
  t->buf = g_new (float, (gsize) 64 * T);
  t->probs = g_new (float, (gsize) 64 * K);
  t->dlogits = g_new (float, (gsize) t->BS *K);
  t->labels = g_new (int, t->BS);
  t->targets = g_new (float, (gsize) t->BS *K);
  t->negative = g_new (gboolean, t->BS);
  t->scratch = g_new (float, T);
  for (int k = 0; k < K && k < 64; k++)
    t->n_shuffle += (int) (t->c->augment_shuffle_classes >> k & 1);
  return TRUE;
}

/* Batch bi of the epoch's order (B rows) into buf, augmented, with its
 * targets: one-hot, or uniform over the shuffled-piece classes. */
static void
fill_batch (Trainer *t, int bi, int B)
{
  const SdTrainConfig *c = t->c;
  const guint *order = (const guint *) t->tr->data;
  const int K = t->K;
  const guint T = t->T;

  for (int b = 0; b < B; b++) {
    guint r = order[bi * t->BS + b];
    t->labels[b] = t->data->y[r];
    t->negative[b] = augment_copy (t->buf + (gsize) b * T, t->x + (gsize) r * T,
        t->labels[b], T, c, t->aug_rng, t->cs, t->max_bins, t->scratch);
    float *tg = t->targets + (gsize) b * K;
    for (int k = 0; k < K; k++)
      tg[k] = t->negative[b] ? (k < 64 && (c->augment_shuffle_classes >> k & 1)
                                    ? 1.0f / (float) t->n_shuffle
                                    : 0.0f)
                             : (float) (k == t->labels[b]);
  }
}

/* Seconds left: by the mean epoch so far over the remaining epochs, no
 * more than the time budget leaves. */
static double
eta_s (const SdTrainConfig *c, double elapsed, double epochs_done)
{
  double left = epochs_done > 0
                    ? elapsed / epochs_done * (c->epochs - epochs_done)
                    : NAN;
  if (c->time_budget_s > 0 && !(left < c->time_budget_s - elapsed))
    left = MAX (c->time_budget_s - elapsed, 0.0);
  return left;
}

/* One epoch of minibatch steps at the current learning rate; the mean
 * training loss and accuracy in *loss, *acc. FALSE when the loss stops
 * being finite. */
static gboolean
train_epoch (Trainer *t, int epoch, double *loss, double *acc, GError **error)
{
  const SdTrainConfig *c = t->c;
  const int K = t->K;
  double eloss = 0.0;
  guint ecorrect = 0, eseen = 0;

  shuffle ((guint *) t->tr->data, t->tr->len, t->rng);
  for (int bi = 0; bi < t->n_batches; bi++) {
    int B = (int) MIN ((guint) t->BS, t->tr->len - bi * t->BS);
    /* A batch of one has no batch statistics worth training on. */
    if (B < 2 && bi > 0)
      break;
    fill_batch (t, bi, B);
    const float *logits
        = sd_model_forward (t->model, t->ws, t->buf, B, (int) t->T);
    sd_softmax_forward (t->probs, logits, B, K);
    float l = sd_crossentropy_soft_forward_backward (
        t->dlogits, t->probs, t->targets, B, K);
    if (!isfinite (l)) {
      g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
          "training diverged: loss is %g at epoch %d batch %d (try a "
          "lower learning rate)",
          l, epoch, bi + 1);
      return FALSE;
    }
    for (int b = 0; b < B; b++) {
      int arg = 0;
      for (int k = 1; k < K; k++)
        if (logits[b * K + k] > logits[b * K + arg])
          arg = k;
      /* a negative is right when it is called one of its classes */
      ecorrect += t->negative[b] ? t->targets[(gsize) b * K + arg] > 0.0f
                                 : arg == t->labels[b];
    }
    eloss += l * B;
    eseen += B;
    memset (t->grads, 0, t->NP * sizeof (float));
    sd_model_backward (t->model, t->ws, t->dlogits, t->grads, NULL);
    optimizer_step (t->model, c, &t->opt, t->grads, t->lr);
    if (c->callback && bi + 1 < t->n_batches) {
      double el = g_timer_elapsed (t->timer, NULL);
      double done = (epoch - 1) + (double) (bi + 1) / t->n_batches;
      SdTrainProgress p = { epoch, c->epochs, (float) (eloss / eseen),
        (float) ecorrect / eseen, NAN, NAN, t->lr, el, eta_s (c, el, done),
        FALSE, bi + 1, t->n_batches };
      c->callback (&p, c->user_data);
    }
  }
  *loss = eloss / MAX (eseen, 1);
  *acc = (double) ((float) ecorrect / MAX (eseen, 1));
  return TRUE;
}

/* The epoch's selection loss (validation, or training without a
 * validation split) against the best so far: keeps the parameters of a
 * better epoch. TRUE when this epoch is the best. */
static gboolean
keep_best (Trainer *t, int epoch, double sel, double vl, double vacc)
{
  if (!(sel < t->best_val)) {
    t->since_best++;
    t->since_plateau++;
    return FALSE;
  }
  t->best_val = sel;
  t->since_best = 0;
  t->since_plateau = 0;
  t->res.best_epoch = epoch;
  t->res.best_val_loss = (float) vl;
  t->res.best_val_acc = (float) vacc;
  memcpy (t->best, sd_model_get_params (t->model), t->NP * sizeof (float));
  return TRUE;
}

/* The learning rate of an epoch: cosine from lr down to min_lr over the
 * epochs, or multiplied by plateau_factor (not below min_lr) once
 * plateau_patience epochs have passed without a better model. */
static void
schedule_lr (Trainer *t, int epoch)
{
  const SdTrainConfig *c = t->c;

  if (c->schedule == SD_SCHEDULE_COSINE)
    t->lr = c->min_lr
            + 0.5f * (c->lr - c->min_lr)
                  * (1.0f + cosf ((float) G_PI * (epoch - 1) / c->epochs));
  else if (c->schedule == SD_SCHEDULE_PLATEAU
           && t->since_plateau >= c->plateau_patience) {
    t->lr = MAX (t->lr * c->plateau_factor, c->min_lr);
    t->since_plateau = 0;
  }
}

/* TRUE when the time budget cannot hold another epoch of the mean length
 * of the done ones. */
static gboolean
out_of_time (const Trainer *t, int epochs_done)
{
  if (t->c->time_budget_s <= 0 || epochs_done < 1)
    return FALSE;
  double el = g_timer_elapsed (t->timer, NULL);
  return el + el / epochs_done > t->c->time_budget_s;
}

/* Epochs until the last, an early stop or the end of the time budget; the
 * best parameters are put back into the model at the end. */
static gboolean
train_epochs (Trainer *t, GError **error)
{
  const SdTrainConfig *c = t->c;

  t->lr = c->lr;
  t->best_val = INFINITY;
  t->res.best_val_loss = NAN;
  t->res.best_val_acc = NAN;
  for (int epoch = 1; epoch <= c->epochs; epoch++) {
    double tl, tacc, vl = NAN, vacc = NAN;
    if (out_of_time (t, epoch - 1)) {
      t->res.stopped_by_time = TRUE;
      break;
    }
    schedule_lr (t, epoch);
    if (!train_epoch (t, epoch, &tl, &tacc, error))
      return FALSE;
    if (!all_finite (sd_model_get_params (t->model), t->NP)) {
      g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
          "training diverged: non-finite parameters after epoch %d (try a "
          "lower learning rate)",
          epoch);
      return FALSE;
    }
    if (t->va->len > 0)
      evaluate_rows (t->model, t->ews, t->x, t->data->y, t->T,
          (guint *) t->va->data, t->va->len, t->buf, t->probs, &vl, &vacc);
    /* Without a validation split the training loss selects the model. */
    gboolean is_best = keep_best (t, epoch, t->va->len > 0 ? vl : tl, vl, vacc);
    t->res.epochs_run = epoch;
    t->res.final_train_loss = (float) tl;
    t->res.final_train_acc = (float) tacc;
    if (c->callback) {
      double el = g_timer_elapsed (t->timer, NULL);
      SdTrainProgress p = { epoch, c->epochs, (float) tl, (float) tacc,
        (float) vl, (float) vacc, t->lr, el, eta_s (c, el, epoch), is_best,
        t->n_batches, t->n_batches };
      c->callback (&p, c->user_data);
    }
    if (c->early_stop_patience > 0 && t->since_best >= c->early_stop_patience) {
      t->res.stopped_early = TRUE;
      break;
    }
  }
  memcpy (sd_model_get_params (t->model), t->best, t->NP * sizeof (float));
  return TRUE;
}

gboolean
sd_train (SdModel *model, const SdDataset *data, const SdTrainConfig *c,
    SdTrainResult *result, GError **error)
{
  Trainer t = { 0 };
  gboolean ok;

  if (sd_model_get_n_members (model) > 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' is an ensemble of %d: train its members one by one",
        sd_model_get_display_name (model), sd_model_get_n_members (model));
    return FALSE;
  }
  if (!check_config (c, error) || !check_data (model, data, c, error))
    return FALSE;
  t.model = model;
  t.data = data;
  t.c = c;
  t.K = sd_model_get_n_classes (model);
  t.T = data->length;
  t.NP = sd_model_get_n_params (model);
  if (!trainer_carrier_shift (&t, error)) {
    trainer_clear (&t);
    return FALSE;
  }
  t.timer = g_timer_new ();
  t.rng = split_rng (c->seed);
  /* A separate stream, so switching augmentation on or off does not change
   * the split or the order of the batches. */
  guint32 aseed[3]
      = { (guint32) c->seed, (guint32) (c->seed >> 32), 0x61756721u };
  t.aug_rng = g_rand_new_with_seed_array (aseed, 3);

  trainer_split_and_normalise (&t);
  if (!trainer_alloc (&t, error)) {
    trainer_clear (&t);
    return FALSE;
  }
  /* The workspaces split every batch over n_threads; OpenBLAS runs one
   * thread in each share. */
  int threads_before = sd_get_num_threads ();
  if (c->n_threads > 0)
    sd_set_num_threads (1);
  ok = train_epochs (&t, error);
  if (c->n_threads > 0)
    sd_set_num_threads (threads_before);
  t.res.seconds = g_timer_elapsed (t.timer, NULL);
  if (result)
    *result = t.res;
  trainer_clear (&t);
  return ok;
}
