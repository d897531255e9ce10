/* The novelty protocol of docs/trust.md: how well scores of a model say
 * "I don't know" on the shared data. A measurement, not a test.
 *
 *   seqdream-novelty DATA_DIR CWRU007_MODEL CWRU014_MODEL FORDA_MODEL...
 *
 * FORDA_MODEL: calibrated FordA models, each scored on CWRU vibration cut
 * into its windows (the unfamiliar input) against the FordA test file.
 * CWRU014_MODEL: the same recipe on the normal and 0.014 in.
 * recordings, through the same protocol with the 0.007 in. faults as the
 * unfamiliar input: a check of the novelty's design on data it was not
 * chosen on.
 * CWRU007_MODEL: fcn-pool trained on the first 70 % of the normal and
 * 0.007 in. recordings (docs/trust.md gives the command). It is
 * calibrated here on its training windows (fit) and its held-out windows
 * (the rest of those recordings), then scored on
 *   - the held-out windows (in-distribution),
 *   - every window of the 0.014 in. recordings (the same faults, another
 *     size: the model names most of them wrongly),
 *   - FordA engine noise cut into the model's windows.
 * Scores: the Mahalanobis distance of the stored statistics (the
 * library's novelty), the negative energy -logsumexp (logits), the
 * negative max-softmax, and the distance to the 10th nearest training
 * window of the L2-normalised pooled features (k-NN). Every threshold
 * sits at the 0.5 % false-alarm rate of the first half (in time) of
 * every recording's held-out windows; the false alarms are counted on
 * the second half (one window of gap between them). The Mahalanobis
 * distance is also reported at the threshold stored by calibrating on
 * all held-out windows (what the model file carries). The control: the
 * same architecture, randomly initialised, untrained, with the model's
 * normalisation, through the same protocol. Then FORDA_MODEL (with its
 * stored statistics) on CWRU vibration cut into its windows, its
 * thresholds from the first half of the FordA test file, and its control:
 * the same architecture untrained, calibrated on the FordA training file
 * as `seqdream calibrate --data` would.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <seqdream/seqdream.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FA 0.005
#define KNN 10

enum
{
  M_MAHA,
  M_POOLED,
  M_ENERGY,
  M_MSP,
  M_KNN,
  N_METHODS
};

static const char *const method_names[N_METHODS]
    = { "**Mahalanobis, every stage** (the library's novelty)",
        "Mahalanobis, pooled features only (the novelty before)", "energy",
        "max-softmax", "k-NN (k = 10, normalised features)" };

/* Pooled features (n, C), novelty features (n, D) and the library's
 * novelty (n; an ensemble's: every member's) when the model has
 * statistics, logits (n, K) and predicted class of a dataset. */
typedef struct
{
  guint n;
  int C, D, K;
  float *f, *nf, *l;
  double *nov;
  int *pred;
  const int *y;
} Out;

static void
out_clear (Out *o)
{
  g_free (o->f);
  g_free (o->nf);
  g_free (o->nov);
  g_free (o->l);
  g_free (o->pred);
}

static Out
run_model (SdModel *m, const SdDataset *d)
{
  const int B = 32, T = (int) d->length;
  Out o = { .n = d->n,
    .C = sd_dream_feature_size (m),
    .K = sd_model_get_n_classes (m),
    .y = d->y };
  const SdModelStats *st = sd_model_get_stats (m);
  o.D = st ? sd_model_stats_get_novelty_size (st) : 0;
  o.f = g_new (float, (gsize) o.n *o.C);
  o.nf = g_new (float, (gsize) o.n *MAX (o.D, 1));
  o.nov = g_new (double, o.n);
  o.l = g_new (float, (gsize) o.n *o.K);
  o.pred = g_new (int, o.n);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, NULL);
  g_assert (ws != NULL);
  g_autofree float *x = g_new (float, (gsize) B *T);
  const int gap = sd_model_find_layer (m, "gap");
  for (guint s = 0; s < d->n; s += B) {
    const int b = (int) MIN ((guint) B, d->n - s);
    memcpy (x, d->x + (gsize) s * T, (gsize) b * T * sizeof (float));
    sd_model_normalize_input (m, x, b, T);
    const float *l = sd_model_forward (m, ws, x, b, T);
    int c, len;
    const float *f = sd_workspace_get_layer_output (ws, gap, &c, &len);
    memcpy (o.f + (gsize) s * o.C, f, (gsize) b * o.C * sizeof (float));
    memcpy (o.l + (gsize) s * o.K, l, (gsize) b * o.K * sizeof (float));
    if (st != NULL
        && !sd_workspace_novelty_features (
            m, ws, b, o.nf + (gsize) s * o.D, NULL))
      g_error ("novelty features");
    if (st != NULL && !sd_workspace_novelty (m, ws, b, o.nov + s, NULL))
      g_error ("novelty");
  }
  for (guint i = 0; i < o.n; i++) {
    int best = 0;
    for (int k = 1; k < o.K; k++)
      if (o.l[i * o.K + k] > o.l[i * o.K + best])
        best = k;
    o.pred[i] = best;
  }
  return o;
}

static void
normalise_rows (float *f, guint n, int C)
{
  for (guint i = 0; i < n; i++) {
    double s = 0;
    for (int c = 0; c < C; c++)
      s += (double) f[i * C + c] * f[i * C + c];
    const double r = s > 0 ? 1.0 / sqrt (s) : 0.0;
    for (int c = 0; c < C; c++)
      f[i * C + c] = (float) (f[i * C + c] * r);
  }
}

/* Distance of every normalised row of q to its KNN-th nearest row of the
 * normalised fit rows. */
static void
knn_scores (const Out *fit, const Out *q, double *out)
{
  const int C = q->C;
  g_autofree float *a = g_memdup2 (fit->f, (gsize) fit->n * C * 4);
  g_autofree float *b = g_memdup2 (q->f, (gsize) q->n * C * 4);
  normalise_rows (a, fit->n, C);
  normalise_rows (b, q->n, C);
  double best[KNN];
  for (guint i = 0; i < q->n; i++) {
    for (int k = 0; k < KNN; k++)
      best[k] = INFINITY;
    for (guint j = 0; j < fit->n; j++) {
      double d = 0;
      for (int c = 0; c < C; c++) {
        const double t = (double) b[i * C + c] - a[j * C + c];
        d += t * t;
      }
      if (d >= best[KNN - 1])
        continue;
      int k = KNN - 1;
      while (k > 0 && best[k - 1] > d) {
        best[k] = best[k - 1];
        k--;
      }
      best[k] = d;
    }
    out[i] = sqrt (best[KNN - 1]);
  }
}

/* The score of method for every row of q (larger: more novel). */
static double *
scores (int method, const SdModelStats *stats, const Out *fit, const Out *q)
{
  double *s = g_new (double, q->n);
  const int K = q->K;
  if (method == M_MAHA)
    memcpy (s, q->nov, q->n * sizeof (double));
  else if (method == M_POOLED)
    for (guint i = 0; i < q->n; i++) {
      const float *mu = sd_model_stats_get_feature_means (stats);
      double best = INFINITY;
      for (int k = 0; k < K; k++)
        best = MIN (
            best, sd_model_stats_mahalanobis (stats, q->f + (gsize) i * q->C,
                      mu + (gsize) k * q->C, NULL));
      s[i] = sqrt (best);
    }
  else if (method == M_KNN)
    knn_scores (fit, q, s);
  else
    for (guint i = 0; i < q->n; i++) {
      const float *l = q->l + (gsize) i * K;
      double mx = l[0], z = 0;
      for (int k = 1; k < K; k++)
        mx = MAX (mx, l[k]);
      for (int k = 0; k < K; k++)
        z += exp (l[k] - mx);
      /* energy: -logsumexp; max-softmax: -max p = -1 / z */
      s[i] = method == M_ENERGY ? -(mx + log (z)) : -1.0 / z;
    }
  return s;
}

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* The order statistic with at most FA of v above it (as the library). */
static double
threshold_of (const double *v, guint n)
{
  g_autofree double *s = g_memdup2 (v, n * sizeof (double));
  qsort (s, n, sizeof (double), cmp_double);
  double pos = ceil ((1.0 - FA) * n - 1e-9) - 1.0;
  return s[(guint) CLAMP (pos, 0.0, n - 1.0)];
}

/* P(score of a novel row > score of a familiar row), ties counted half. */
static double
auroc (const double *in, guint nin, const double *out, guint nout)
{
  g_autofree double *a = g_memdup2 (in, nin * sizeof (double));
  qsort (a, nin, sizeof (double), cmp_double);
  double sum = 0;
  for (guint j = 0; j < nout; j++) {
    guint lo = 0, hi = nin; /* first >= out[j] */
    while (lo < hi) {
      guint mid = (lo + hi) / 2;
      if (a[mid] < out[j])
        lo = mid + 1;
      else
        hi = mid;
    }
    guint eq = lo;
    while (eq < nin && a[eq] == out[j])
      eq++;
    sum += lo + 0.5 * (eq - lo);
  }
  return sum / ((double) nin * nout);
}

static double
share_above (const double *v, guint n, double th, const int *mask)
{
  guint k = 0, m = 0;
  for (guint i = 0; i < n; i++)
    if (mask == NULL || mask[i]) {
      m++;
      k += v[i] > th;
    }
  return m ? (double) k / m : NAN;
}

/* Rows of held-out windows: per class (one recording each), the first
 * half in time for the thresholds, the second half (after a gap of
 * `gap` windows) for the false alarms. */
static void
split_halves (const SdDataset *d, int gap, int *cal, int *eval)
{
  for (guint c = 0; c < d->n_classes; c++) {
    guint first = d->n, last = 0;
    for (guint i = 0; i < d->n; i++)
      if (d->y[i] == (int) c) {
        first = MIN (first, i);
        last = i;
      }
    if (first > last)
      continue;
    const guint mid = first + (last - first + 1) / 2;
    for (guint i = first; i <= last; i++) {
      cal[i] = i < mid;
      eval[i] = i >= mid + (guint) gap;
    }
  }
}

static SdDataset *
load_wavs (const char *wav_dir, const char *const *spec, guint window,
    guint hop, SdSplitPart part, const char *const *labels)
{
  guint n = g_strv_length ((char **) spec) / 2;
  g_autofree SdWavSource *src = g_new0 (SdWavSource, n);
  g_auto (GStrv) paths = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++) {
    paths[i] = g_build_filename (wav_dir, spec[2 * i], NULL);
    src[i].path = paths[i];
    src[i].label = spec[2 * i + 1];
  }
  g_autoptr (GError) error = NULL;
  SdDataset *d = sd_dataset_load_wav_windows (
      src, n, window, hop, part, 0.7, labels, &error);
  if (d == NULL)
    g_error ("%s", error->message);
  return d;
}

/* The series of a UCR file end to end, cut into windows of T (no
 * overlap), class 0. */
static SdDataset *
stream_windows (const SdDataset *u, guint T, const char *const *labels)
{
  const gsize total = (gsize) u->n * u->length;
  SdDataset *d = g_new0 (SdDataset, 1);
  d->n = (guint) (total / T);
  d->length = T;
  d->x = g_memdup2 (u->x, (gsize) d->n * T * sizeof (float));
  d->y = g_new0 (int, d->n);
  d->labels = g_strdupv ((char **) labels);
  d->n_classes = g_strv_length (d->labels);
  return d;
}

/* One model through the protocol: thresholds from cal rows of held, false
 * alarms on the eval rows, and the flags on the novel sets. */
typedef struct
{
  const char *name;
  const SdDataset *d;
  gboolean wrong_only; /* also the share of the wrongly named rows */
} Novel;

static void
report (const char *title, SdModel *m, const SdModelStats *stats,
    const Out *fit, const Out *held, const int *cal, const int *eval,
    const Novel *novel, int n_novel, gboolean stored_too)
{
  printf ("\n### %s\n\n", title);
  printf ("| score | AUROC held-out vs %s | false alarms (held-out, 2nd half) "
          "|",
      novel[0].name);
  for (int j = 0; j < n_novel; j++)
    printf (" %s flagged |%s", novel[j].name,
        novel[j].wrong_only ? " of them wrongly named, flagged |" : "");
  printf ("\n|---|---|---|");
  for (int j = 0; j < n_novel; j++)
    printf ("---|%s", novel[j].wrong_only ? "---|" : "");
  printf ("\n");
  g_autofree Out *outs = g_new0 (Out, n_novel);
  for (int j = 0; j < n_novel; j++)
    outs[j] = run_model (m, novel[j].d);
  for (int meth = 0; meth < N_METHODS + (stored_too ? 1 : 0); meth++) {
    const int mm = meth == N_METHODS ? M_MAHA : meth;
    g_autofree double *h = scores (mm, stats, fit, held);
    g_autofree double *hc = g_new (double, held->n);
    guint nc = 0;
    for (guint i = 0; i < held->n; i++)
      if (cal[i])
        hc[nc++] = h[i];
    const double th = meth == N_METHODS
                          ? sd_model_stats_get_novelty_threshold (stats)
                          : threshold_of (hc, nc);
    g_autofree double *n0 = scores (mm, stats, fit, &outs[0]);
    printf ("| %s%s | %.4f | %.2f %% |", method_names[mm],
        meth == N_METHODS
            ? ", threshold of the model file (false alarms: all held-out)"
            : "",
        auroc (h, held->n, n0, outs[0].n),
        100 * share_above (h, held->n, th, meth == N_METHODS ? NULL : eval));
    for (int j = 0; j < n_novel; j++) {
      g_autofree double *s = scores (mm, stats, fit, &outs[j]);
      printf (" %.1f %% |", 100 * share_above (s, outs[j].n, th, NULL));
      if (novel[j].wrong_only) {
        g_autofree int *wrong = g_new (int, outs[j].n);
        guint nw = 0;
        for (guint i = 0; i < outs[j].n; i++)
          nw += wrong[i] = outs[j].pred[i] != outs[j].y[i];
        printf (" %.1f %% (of %u) |",
            100 * share_above (s, outs[j].n, th, wrong), nw);
      }
    }
    printf ("\n");
  }
  for (int j = 0; j < n_novel; j++)
    out_clear (&outs[j]);
}

static SdModel *
load_model (const char *path)
{
  g_autoptr (GError) error = NULL;
  SdModel *m = sd_model_load (path, &error);
  if (m == NULL)
    g_error ("%s", error->message);
  return m;
}

static void
calibrate (SdModel *m, const SdDataset *fit, const SdDataset *held)
{
  g_autoptr (GError) error = NULL;
  if (!sd_model_calibrate (m, fit, held, NULL, &error))
    g_error ("%s", error->message);
}

/* The control of model m: the same architecture untrained (seed 7), with
 * m's normalisation and training length, calibrated on fit and held (NULL:
 * a split of fit), its scores on a (fit) and b (the reference windows)
 * reported as report() reports m's. Not for imported models or ensembles,
 * which have no preset to build from. */
static void
untrained_control (SdModel *m, const SdDataset *fit, const SdDataset *held,
    const SdDataset *a, const SdDataset *b, const int *cal, const int *eval,
    const Novel *novel, int n_novel)
{
  g_autoptr (SdModel) r = sd_model_get_n_members (m) > 0
                              ? NULL
                              : sd_model_new (sd_model_get_arch (m),
                                  sd_model_get_labels (m), 7, NULL);
  if (r == NULL) {
    printf ("\n(no untrained control: '%s' is not a preset "
            "architecture)\n",
        sd_model_get_display_name (m));
    return;
  }
  sd_model_set_normalization (r, sd_model_get_normalization (m));
  sd_model_set_train_length (r, sd_model_get_train_length (m));
  calibrate (r, fit, held);
  Out fo = run_model (r, a), bo = run_model (r, b);
  report ("control: the same architecture, untrained (seed 7)", r,
      sd_model_get_stats (r), &fo, &bo, cal, eval, novel, n_novel, TRUE);
  out_clear (&fo);
  out_clear (&bo);
}

/* The Mahalanobis score with other covariance shrinkages: thresholds on
 * the first half of the held-out windows, false alarms on the second. */
static void
shrinkage_sweep (SdModel *m, const SdDataset *fit, const SdDataset *held,
    const int *cal, const int *eval, const SdDataset *big)
{
  const double shrink[] = { 0.0001, 0.001, 0.01, 0.1, 0.3, 1.0 };
  g_autoptr (SdModel) c = sd_model_copy (m);
  Out ho = run_model (c, held), bo = run_model (c, big);
  g_autofree int *wrong = g_new (int, bo.n);
  for (guint i = 0; i < bo.n; i++)
    wrong[i] = bo.pred[i] != bo.y[i];
  printf ("\n| covariance shrinkage | AUROC | false alarms (2nd half) | "
          "0.014 in. wrongly named, flagged |\n|---|---|---|---|\n");
  for (gsize k = 0; k < G_N_ELEMENTS (shrink); k++) {
    SdCalibrateOptions o;
    sd_calibrate_options_init (&o);
    o.shrinkage = shrink[k];
    g_autoptr (GError) error = NULL;
    if (!sd_model_calibrate (c, fit, held, &o, &error))
      g_error ("%s", error->message);
    const SdModelStats *s = sd_model_get_stats (c);
    g_autofree double *h = g_new (double, ho.n);
    g_autofree double *b = g_new (double, bo.n);
    g_autofree double *hc = g_new (double, ho.n);
    sd_model_stats_novelty (s, ho.nf, (int) ho.n, h);
    sd_model_stats_novelty (s, bo.nf, (int) bo.n, b);
    guint nc = 0;
    for (guint i = 0; i < ho.n; i++)
      if (cal[i])
        hc[nc++] = h[i];
    const double th = threshold_of (hc, nc);
    printf ("| %g | %.4f | %.2f %% | %.1f %% |\n", shrink[k],
        auroc (h, ho.n, b, bo.n), 100 * share_above (h, ho.n, th, eval),
        100 * share_above (b, bo.n, th, wrong));
  }
  out_clear (&ho);
  out_clear (&bo);
}

/* Time means of every stage's output, concatenated: (n, D). */
static float *
stage_means (SdModel *m, const SdDataset *d, int *D)
{
  const int B = 32, T = (int) d->length;
  const int S = sd_model_get_n_stage_layers (m);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, NULL);
  g_autofree float *x = g_new (float, (gsize) B *T);
  *D = 0;
  for (int l = 0; l < S; l++) {
    int c, len;
    sd_model_forward (m, ws, d->x, 1, T);
    sd_workspace_get_layer_output (ws, l, &c, &len);
    *D += c;
  }
  float *f = g_new0 (float, (gsize) d->n **D);
  for (guint s0 = 0; s0 < d->n; s0 += B) {
    const int b = (int) MIN ((guint) B, d->n - s0);
    memcpy (x, d->x + (gsize) s0 * T, (gsize) b * T * sizeof (float));
    sd_model_normalize_input (m, x, b, T);
    sd_model_forward (m, ws, x, b, T);
    int off = 0;
    for (int l = 0; l < S; l++) {
      int c, len;
      const float *a = sd_workspace_get_layer_output (ws, l, &c, &len);
      for (int i = 0; i < b; i++)
        for (int ch = 0; ch < c; ch++) {
          double v = 0;
          for (int t = 0; t < len; t++)
            v += a[((gsize) i * c + ch) * len + t];
          f[(gsize) (s0 + i) * *D + off + ch] = (float) (v / len);
        }
      off += c;
    }
  }
  return f;
}

/* Mahalanobis to the nearest class mean with the shared covariance of
 * fit (n, D), shrunk by a toward its mean variance; the inverse by
 * Gauss-Jordan (a measurement, not the library's path). */
static void
maha_scores (const float *fit, const int *y, guint n, int K, int D, double a,
    const float *q, guint nq, double *out)
{
  g_autofree double *mu = g_new0 (double, (gsize) K *D);
  g_autofree int *cnt = g_new0 (int, K);
  for (guint i = 0; i < n; i++) {
    cnt[y[i]]++;
    for (int j = 0; j < D; j++)
      mu[y[i] * D + j] += fit[(gsize) i * D + j];
  }
  for (int k = 0; k < K; k++)
    for (int j = 0; j < D; j++)
      mu[k * D + j] /= MAX (cnt[k], 1);
  g_autofree double *S = g_new0 (double, (gsize) D * 2 * D);
  for (guint i = 0; i < n; i++)
    for (int r = 0; r < D; r++)
      for (int c = 0; c < D; c++)
        S[r * 2 * D + c] += (fit[(gsize) i * D + r] - mu[y[i] * D + r])
                            * (fit[(gsize) i * D + c] - mu[y[i] * D + c]) / n;
  double tr = 0;
  for (int r = 0; r < D; r++)
    tr += S[r * 2 * D + r] / D;
  for (int r = 0; r < D; r++) {
    for (int c = 0; c < D; c++)
      S[r * 2 * D + c] = (1 - a) * S[r * 2 * D + c] + (r == c ? a * tr : 0);
    S[r * 2 * D + D + r] = 1;
  }
  for (int p = 0; p < D; p++) { /* SPD: no pivoting */
    const double d = S[p * 2 * D + p];
    for (int c = 0; c < 2 * D; c++)
      S[p * 2 * D + c] /= d;
    for (int r = 0; r < D; r++)
      if (r != p) {
        const double f = S[r * 2 * D + p];
        for (int c = 0; c < 2 * D; c++)
          S[r * 2 * D + c] -= f * S[p * 2 * D + c];
      }
  }
  g_autofree double *v = g_new (double, D);
  for (guint i = 0; i < nq; i++) {
    double best = INFINITY;
    for (int k = 0; k < K; k++) {
      for (int j = 0; j < D; j++)
        v[j] = q[(gsize) i * D + j] - mu[k * D + j];
      double dd = 0;
      for (int r = 0; r < D; r++)
        for (int c = 0; c < D; c++)
          dd += v[r] * S[r * 2 * D + D + c] * v[c];
      best = MIN (best, dd);
    }
    out[i] = sqrt (best);
  }
}

/* The Mahalanobis score on the time means of all stages. */
static void
all_stages (SdModel *m, const SdDataset *fit, const SdDataset *held,
    const int *cal, const int *eval, const SdDataset *big)
{
  int D;
  g_autofree float *ff = stage_means (m, fit, &D);
  g_autofree float *hf = stage_means (m, held, &D);
  g_autofree float *bf = stage_means (m, big, &D);
  Out bo = run_model (m, big);
  g_autofree int *wrong = g_new (int, bo.n);
  for (guint i = 0; i < bo.n; i++)
    wrong[i] = bo.pred[i] != bo.y[i];
  const double shrink[] = { 0.001, 0.01, 0.1 };
  printf ("\n| time means of all %d stage channels, shrinkage | AUROC | false "
          "alarms (2nd half) | 0.014 in. wrongly named, flagged |\n"
          "|---|---|---|---|\n",
      D);
  for (gsize k = 0; k < G_N_ELEMENTS (shrink); k++) {
    g_autofree double *h = g_new (double, held->n);
    g_autofree double *b = g_new (double, big->n);
    g_autofree double *hc = g_new (double, held->n);
    const int K = sd_model_get_n_classes (m);
    maha_scores (ff, fit->y, fit->n, K, D, shrink[k], hf, held->n, h);
    maha_scores (ff, fit->y, fit->n, K, D, shrink[k], bf, big->n, b);
    guint nc = 0;
    for (guint i = 0; i < held->n; i++)
      if (cal[i])
        hc[nc++] = h[i];
    const double th = threshold_of (hc, nc);
    printf ("| %g | %.4f | %.2f %% | %.1f %% |\n", shrink[k],
        auroc (h, held->n, b, big->n), 100 * share_above (h, held->n, th, eval),
        100 * share_above (b, big->n, th, wrong));
  }
  out_clear (&bo);
}

static const char *const size007[]
    = { "109_IR007_0hp_DE_48k.wav", "inner_race", "122_B007_0hp_DE_48k.wav",
        "ball", "135_OR007_0hp_DE_48k.wav", "outer_race", NULL };
static const char *const size014[]
    = { "174_IR014_0hp_DE_48k.wav", "inner_race", "189_B014_0hp_DE_48k.wav",
        "ball", "201_OR014_0hp_DE_48k.wav", "outer_race", NULL };

/* The CWRU part: a model trained on the normal recording and the faults
 * of one size (sizes: size007 or size014) and its untrained control
 * through the protocol, the faults of the other size as the unfamiliar
 * input; sweeps: also the shrinkage and concatenated-stage variants. */
static void
cwru_protocol (const char *data, SdModel *m, const SdDataset *forda,
    const char *const *sizes, const char *other_name, const char *const *other,
    gboolean sweeps)
{
  const char *const *labels = sd_model_get_labels (m);
  const char *seen[9] = { "097_normal_0hp_DE_48k.wav", "normal" };
  for (int i = 0; i < 6; i++)
    seen[2 + i] = sizes[i];
  g_autofree char *wav = g_build_filename (data, "cwru", "wav", NULL);
  g_autoptr (SdDataset) fit
      = load_wavs (wav, seen, 2048, 256, SD_SPLIT_TRAIN, labels);
  g_autoptr (SdDataset) held
      = load_wavs (wav, seen, 2048, 256, SD_SPLIT_TEST, labels);
  g_autoptr (SdDataset) big
      = load_wavs (wav, other, 2048, 256, SD_SPLIT_ALL, labels);
  g_autoptr (SdDataset) fw = stream_windows (forda, 2048, labels);
  g_autofree int *cal = g_new0 (int, held->n);
  g_autofree int *eval = g_new0 (int, held->n);
  split_halves (held, 2048 / 256, cal, eval);
  const Novel novel[] = { { other_name, big, TRUE }, { "FordA", fw, FALSE } };
  printf ("\nfit %u windows, held-out %u, %s %u, FordA %u\n", fit->n, held->n,
      other_name, big->n, fw->n);

  calibrate (m, fit, held);
  Out fo = run_model (m, fit), ho = run_model (m, held);
  g_autoptr (SdEvalResult) e = sd_model_evaluate (m, big, NULL);
  printf ("accuracy on %s: %.4f\n", other_name, e->accuracy);
  report (sd_model_get_display_name (m), m, sd_model_get_stats (m), &fo, &ho,
      cal, eval, novel, 2, TRUE);
  out_clear (&fo);
  out_clear (&ho);
  if (sweeps) {
    shrinkage_sweep (m, fit, held, cal, eval, big);
    all_stages (m, fit, held, cal, eval, big);
  }

  untrained_control (m, fit, held, fit, held, cal, eval, novel, 2);
}

/* FordA model on CWRU vibration cut into its windows: the drive-end
 * recordings (cwru/wav) and, when fan_end names a folder that holds them
 * (bench/cwru-fan-end.py writes it), the fan-end channel of the same
 * recordings, a second sensor that no design here was chosen on. */
static void
forda_protocol (const char *data, const char *fan_end, SdModel *m,
    const SdDataset *train, const SdDataset *test)
{
  const char *const all[] = { "097_normal_0hp_DE_48k.wav", "-1",
    "109_IR007_0hp_DE_48k.wav", "-1", "174_IR014_0hp_DE_48k.wav", "-1",
    "122_B007_0hp_DE_48k.wav", "-1", "189_B014_0hp_DE_48k.wav", "-1",
    "135_OR007_0hp_DE_48k.wav", "-1", "201_OR014_0hp_DE_48k.wav", "-1", NULL };
  const char *const *labels = sd_model_get_labels (m);
  g_autofree char *wav = g_build_filename (data, "cwru", "wav", NULL);
  g_autoptr (SdDataset) cw
      = load_wavs (wav, all, 500, 2000, SD_SPLIT_ALL, labels);
  g_autoptr (SdDataset) fe = NULL;
  if (fan_end != NULL) {
    g_auto (GStrv) fe_all = g_strdupv ((char **) all);
    for (guint i = 0; fe_all[i] != NULL; i += 2) {
      char *p = strstr (fe_all[i], "_DE_");
      p[1] = 'F';
    }
    fe = load_wavs (
        fan_end, (const char *const *) fe_all, 500, 2000, SD_SPLIT_ALL, labels);
  }
  g_autofree int *cal = g_new0 (int, test->n);
  g_autofree int *eval = g_new0 (int, test->n);
  for (guint i = 0; i < test->n; i++) {
    cal[i] = i < test->n / 2;
    eval[i] = !cal[i];
  }
  const Novel novel[]
      = { { "CWRU vibration", cw, FALSE }, { "CWRU fan end", fe, FALSE } };
  const int n_novel = fe != NULL ? 2 : 1;
  printf ("\nFordA model: training file %u series, test file %u, CWRU %u "
          "windows of 500 (fan end: %u)\n",
      train->n, test->n, cw->n, fe != NULL ? fe->n : 0);
  Out fo = run_model (m, train), to = run_model (m, test);
  report (sd_model_get_display_name (m), m, sd_model_get_stats (m), &fo, &to,
      cal, eval, novel, n_novel, TRUE);
  out_clear (&fo);
  out_clear (&to);
  /* calibrated as `seqdream calibrate --data` calibrates: a seeded 20 %
   * of the training file held out */
  untrained_control (m, train, NULL, train, test, cal, eval, novel, n_novel);
}

int
main (int argc, char **argv)
{
  if (argc < 5) {
    fprintf (stderr,
        "usage: %s DATA_DIR CWRU007_MODEL CWRU014_MODEL FORDA_MODEL...\n",
        argv[0]);
    return 2;
  }
  g_autoptr (SdModel) m = load_model (argv[2]);
  g_autoptr (SdModel) m14 = load_model (argv[3]);
  g_autofree char *trp
      = g_build_filename (argv[1], "forda", "FordA_TEST_partial.tsv", NULL);
  g_autofree char *tep
      = g_build_filename (argv[1], "forda", "FordA_TRAIN_partial.tsv", NULL);
  g_autoptr (GError) error = NULL;
  /* the labels of every FordA model: the first one's */
  g_autoptr (SdModel) fm = load_model (argv[4]);
  g_autoptr (SdDataset) ftrain
      = sd_dataset_load_ucr (trp, sd_model_get_labels (fm), &error);
  g_autoptr (SdDataset) ftest
      = sd_dataset_load_ucr (tep, sd_model_get_labels (fm), &error);
  if (ftrain == NULL || ftest == NULL)
    g_error ("%s", error->message);
  cwru_protocol (argv[1], m, ftest, size007, "0.014 in.", size014, TRUE);
  /* the other way round, a check of the design on data it was not chosen
   * on: trained on the 0.014 in. faults, the 0.007 in. ones unfamiliar */
  cwru_protocol (argv[1], m14, ftest, size014, "0.007 in.", size007, FALSE);
  /* every FordA model on CWRU vibration */
  for (int i = 4; i < argc; i++) {
    g_autoptr (SdModel) f = load_model (argv[i]);
    if (sd_model_get_stats (f) == NULL)
      g_error ("%s has no training statistics", argv[i]);
    forda_protocol (argv[1], g_getenv ("SEQDREAM_FAN_END"), f, ftrain, ftest);
  }
  return 0;
}
