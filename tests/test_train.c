/* Training: a small model learns the fixture task, results are
 * reproducible for a seed, the best epoch is kept, bad configurations are
 * refused, and evaluation reports consistent numbers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

static SdDataset *
load_fixture (const char *name, const char *const *labels)
{
  g_autofree char *path
      = g_build_filename (g_getenv ("SEQDREAM_TEST_DATA"), name, NULL);
  g_autoptr (GError) error = NULL;
  SdDataset *d = sd_dataset_load_ucr (path, labels, &error);
  g_assert_no_error (error);
  return d;
}

static SdModel *
train_fixture (
    const char *preset, SdOptimizer opt, guint64 seed, SdTrainResult *res)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  SdArch arch;
  g_autoptr (GError) error = NULL;
  g_assert_true (
      sd_arch_from_preset (preset, (int) d->n_classes, &arch, &error));
  SdModel *m
      = sd_model_new (&arch, (const char *const *) d->labels, seed, &error);
  g_assert_no_error (error);
  SdTrainConfig c;
  sd_train_config_init (&c);
  c.epochs = 25;
  c.batch_size = 8;
  c.seed = seed;
  c.optimizer = opt;
  c.lr = opt == SD_OPTIMIZER_ADAM ? 1e-2f : 5e-2f;
  c.val_fraction = 0.25;
  c.early_stop_patience = 0;
  g_assert_true (sd_train (m, d, &c, res, &error));
  g_assert_no_error (error);
  return m;
}

static void
test_learns_fixture (void)
{
  const SdOptimizer opts[] = { SD_OPTIMIZER_ADAM, SD_OPTIMIZER_SGD };
  for (gsize i = 0; i < G_N_ELEMENTS (opts); i++) {
    SdTrainResult res;
    g_autoptr (SdModel) m = train_fixture ("fcn-small", opts[i], 3, &res);
    g_autoptr (SdDataset) test
        = load_fixture ("ucr-small-test.tsv", sd_model_get_labels (m));
    g_autoptr (GError) error = NULL;
    g_autoptr (SdEvalResult) r = sd_model_evaluate (m, test, &error);
    g_assert_no_error (error);
    g_test_message ("optimizer %d: test accuracy %.3f, best epoch %d",
        (int) opts[i], r->accuracy, res.best_epoch);
    g_assert_cmpfloat (r->accuracy, >=, 0.9);
    g_assert_cmpint (res.epochs_run, ==, 25);
    g_assert_cmpint (res.best_epoch, >=, 1);
    g_assert_cmpuint (sd_model_get_train_length (m), ==, 64);
    float lo, hi;
    sd_model_get_input_range (m, &lo, &hi);
    g_assert_cmpfloat (lo, <, 0);
    g_assert_cmpfloat (hi, >, 0);
  }
}

static void
test_deterministic_for_seed (void)
{
  SdTrainResult r1, r2, r3;
  g_autoptr (SdModel) a
      = train_fixture ("resnet-small", SD_OPTIMIZER_ADAM, 5, &r1);
  g_autoptr (SdModel) b
      = train_fixture ("resnet-small", SD_OPTIMIZER_ADAM, 5, &r2);
  g_autoptr (SdModel) c
      = train_fixture ("resnet-small", SD_OPTIMIZER_ADAM, 6, &r3);
  gsize n = sd_model_get_n_params (a) * sizeof (float);
  g_assert_cmpmem (sd_model_get_params (a), n, sd_model_get_params (b), n);
  g_assert_cmpint (r1.best_epoch, ==, r2.best_epoch);
  g_assert_true (
      memcmp (sd_model_get_params (a), sd_model_get_params (c), n) != 0);
}

static void
test_rejects_bad_config (void)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  g_autoptr (SdModel) m
      = sd_model_new (&arch, (const char *const *) d->labels, 1, NULL);
  struct
  {
    int epochs, batch;
    float lr;
    double val;
    const char *msg;
  } cases[] = {
    { 0, 8, 1e-3f, 0.2, "epochs" },
    { 5, 0, 1e-3f, 0.2, "batch size" },
    { 5, 8, -1.0f, 0.2, "learning rate" },
    { 5, 8, NAN, 0.2, "learning rate" },
    { 5, 8, 1e-3f, 1.0, "validation fraction" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    SdTrainConfig c;
    sd_train_config_init (&c);
    c.epochs = cases[i].epochs;
    c.batch_size = cases[i].batch;
    c.lr = cases[i].lr;
    c.min_lr = 0;
    c.val_fraction = cases[i].val;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_train (m, d, &c, NULL, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    g_assert_nonnull (strstr (error->message, cases[i].msg));
  }
  /* A model with the wrong number of classes. */
  g_autoptr (SdDataset) d3 = load_fixture ("ucr-3class.txt", NULL);
  SdTrainConfig c;
  sd_train_config_init (&c);
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_train (m, d3, &c, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "3 classes"));
}

/* A learning rate absurd enough to blow up is reported, not hidden. */
static void
test_divergence_is_an_error (void)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  g_autoptr (SdModel) m
      = sd_model_new (&arch, (const char *const *) d->labels, 1, NULL);
  SdTrainConfig c;
  sd_train_config_init (&c);
  c.optimizer = SD_OPTIMIZER_SGD;
  c.lr = 1e30f;
  c.epochs = 5;
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_train (m, d, &c, NULL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_DIVERGED);
  g_assert_nonnull (strstr (error->message, "diverged"));
}

static void
test_evaluate_counts (void)
{
  SdTrainResult res;
  g_autoptr (SdModel) m
      = train_fixture ("fcn-small", SD_OPTIMIZER_ADAM, 2, &res);
  g_autoptr (SdDataset) test
      = load_fixture ("ucr-small-test.tsv", sd_model_get_labels (m));
  g_autoptr (GError) error = NULL;
  g_autoptr (SdEvalResult) r = sd_model_evaluate (m, test, &error);
  guint total = 0, diag = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      total += r->confusion[i * 2 + j];
      diag += i == j ? r->confusion[i * 2 + j] : 0;
    }
  g_assert_cmpuint (total, ==, test->n);
  g_assert_cmpfloat_with_epsilon (r->accuracy, (double) diag / total, 1e-12);
  for (int k = 0; k < 2; k++) {
    g_assert_cmpfloat (r->f1[k], >=, 0);
    g_assert_cmpfloat (r->f1[k], <=, 1);
  }
}

/* An amplitude-modulated carrier (bin 400 of 2048, envelope up to bin
 * 23) on a DC offset: band-limited, so a shift of up to 64 bins drops
 * nothing. */
static void
am_signal (float *x, int n, double phase)
{
  for (int t = 0; t < n; t++) {
    double u = 2 * G_PI * t / n;
    double env = 1.0 + 0.5 * cos (7 * u) + 0.3 * cos (23 * u + 1.0);
    x[t] = (float) (0.25 + env * cos (400 * u + phase));
  }
}

/* The carrier shift keeps the Hilbert envelope to float precision, moves
 * every bin by the chosen number, keeps the mean, and drops what would
 * cross 0 Hz. */
static void
test_carrier_shift (void)
{
  const int n = 2048;
  const double rate = 48000, df = rate / n;
  g_autofree float *x = g_new (float, n);
  g_autofree float *y = g_new (float, n);
  am_signal (x, n, 0.3);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdCarrierShift) cs = sd_carrier_shift_new (n, &error);
  g_assert_no_error (error);
  SdEnvelopeSpectrum *a
      = sd_envelope_spectrum (x, n, rate, df, rate / 2 - df, &error);
  g_assert_no_error (error);
  double emax = 0;
  for (int t = 0; t < n; t++)
    emax = MAX (emax, a->envelope[t]);
  const int shifts[] = { -64, -17, -1, 1, 5, 64 };
  for (gsize i = 0; i < G_N_ELEMENTS (shifts); i++) {
    const int m = shifts[i];
    sd_carrier_shift_apply (cs, x, y, m);
    SdEnvelopeSpectrum *b
        = sd_envelope_spectrum (y, n, rate, df, rate / 2 - df, &error);
    g_assert_no_error (error);
    double de = 0, mx = 0, my = 0;
    for (int t = 0; t < n; t++) {
      de = MAX (de, fabs (a->envelope[t] - b->envelope[t]));
      mx += x[t];
      my += y[t];
    }
    g_assert_cmpfloat (de, <, 1e-5 * emax);
    g_assert_cmpfloat_with_epsilon (my / n, mx / n, 1e-5);
    /* The power spectrum moved by m bins. */
    double pmax = 0;
    for (guint k = 0; k < a->n_bins; k++)
      pmax = MAX (pmax, a->power[k]);
    for (int k = 1; k < n / 2; k++) {
      int j = k + m;
      double want = (j >= 1 && j < n / 2) ? b->power[j] : 0.0;
      g_assert_cmpfloat (fabs (a->power[k] - want), <, 1e-5 * pmax);
    }
    /* The carrier itself is now at 400 + m. */
    g_assert_cmpfloat (b->power[400 + m], >, 0.1 * pmax);
    sd_envelope_spectrum_free (b);
  }
  /* In place is the same as out of place. */
  g_autofree float *z = g_memdup2 (x, n * sizeof (float));
  sd_carrier_shift_apply (cs, x, y, 9);
  sd_carrier_shift_apply (cs, z, z, 9);
  g_assert_cmpmem (y, n * sizeof (float), z, n * sizeof (float));
  /* Moved below 0 Hz, the whole band is dropped: only the mean stays. */
  sd_carrier_shift_apply (cs, x, y, -500);
  for (int t = 0; t < n; t++)
    g_assert_cmpfloat (fabs (y[t] - 0.25), <, 1e-5);
  sd_envelope_spectrum_free (a);
}

/* Two classes of AM carriers (modulation at 4 or 9 cycles per series) at
 * 48 kHz, with a random carrier and phase. */
static SdDataset *
am_dataset (guint n, guint T)
{
  SdDataset *d = g_new0 (SdDataset, 1);
  d->n = n;
  d->length = T;
  d->n_classes = 2;
  d->sample_rate = 48000;
  d->x = g_new (float, (gsize) n *T);
  d->y = g_new (int, n);
  const char *labels[] = { "slow", "fast", NULL };
  d->labels = g_strdupv ((char **) labels);
  GRand *r = g_rand_new_with_seed (7);
  for (guint i = 0; i < n; i++) {
    d->y[i] = (int) (i % 2);
    double f = d->y[i] ? 9 : 4, c = g_rand_double_range (r, 20, 60);
    double ph = g_rand_double_range (r, 0, 2 * G_PI);
    for (guint t = 0; t < T; t++) {
      double u = 2 * G_PI * t / T;
      d->x[(gsize) i * T + t]
          = (float) ((1 + 0.8 * cos (f * u)) * cos (c * u + ph));
    }
  }
  g_rand_free (r);
  return d;
}

static SdModel *
train_carrier (
    const SdDataset *d, double hz, double gain, guint64 seed, GError **error)
{
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  SdModel *m
      = sd_model_new (&arch, (const char *const *) d->labels, seed, NULL);
  SdTrainConfig c;
  sd_train_config_init (&c);
  c.epochs = 3;
  c.batch_size = 8;
  c.seed = seed;
  c.val_fraction = 0.25;
  c.augment_carrier_hz = hz;
  c.augment_gain = gain;
  if (!sd_train (m, d, &c, NULL, error)) {
    sd_model_unref (m);
    return NULL;
  }
  return m;
}

/* Training with the carrier shift is deterministic for a seed and differs
 * from training without it; it needs a sample rate and at least one bin. */
static void
test_carrier_shift_training (void)
{
  g_autoptr (SdDataset) d = am_dataset (32, 128);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) a = train_carrier (d, 3000, 0, 4, &error);
  g_assert_no_error (error);
  g_autoptr (SdModel) b = train_carrier (d, 3000, 0, 4, &error);
  g_assert_no_error (error);
  g_autoptr (SdModel) c = train_carrier (d, 0, 0, 4, &error);
  g_assert_no_error (error);
  gsize n = sd_model_get_n_params (a) * sizeof (float);
  g_assert_cmpmem (sd_model_get_params (a), n, sd_model_get_params (b), n);
  g_assert_true (
      memcmp (sd_model_get_params (a), sd_model_get_params (c), n) != 0);
  /* The random gain too. */
  g_autoptr (SdModel) g1 = train_carrier (d, 3000, 2, 4, &error);
  g_assert_no_error (error);
  g_autoptr (SdModel) g2 = train_carrier (d, 3000, 2, 4, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (sd_model_get_params (g1), n, sd_model_get_params (g2), n);
  g_assert_true (
      memcmp (sd_model_get_params (a), sd_model_get_params (g1), n) != 0);
  /* Less than one bin (375 Hz at 128 samples). */
  g_assert_null (train_carrier (d, 300, 0, 4, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_clear_error (&error);
  d->sample_rate = 0;
  g_assert_null (train_carrier (d, 3000, 0, 4, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "sample rate"));
}

/* sd_piece_shuffle: a permutation of whole pieces. With x[t] = t the
 * output is a sequence of runs of consecutive values; every run that is a
 * whole piece is min..max long (the piece at the end of x may be
 * shorter). Deterministic for a seed, different for another. */
static void
test_piece_shuffle (void)
{
  enum
  {
    N = 1000
  };
  float x[N], y[N], y2[N];
  for (int t = 0; t < N; t++)
    x[t] = (float) t;
  const guint lens[][2] = { { 96, 576 }, { 7, 7 }, { 1, 3 }, { 400, 2000 } };
  for (gsize c = 0; c < G_N_ELEMENTS (lens); c++) {
    const guint lo = lens[c][0], hi = lens[c][1];
    g_autoptr (GRand) r = g_rand_new_with_seed (11 + c);
    sd_piece_shuffle (x, y, N, lo, hi, r);
    gboolean seen[N] = { FALSE };
    for (int t = 0; t < N; t++) {
      int v = (int) y[t];
      g_assert_cmpint (v, >=, 0);
      g_assert_cmpint (v, <, N);
      g_assert_false (seen[v]);
      seen[v] = TRUE;
    }
    /* the pieces: cut where the value does not continue, or where a run
     * would exceed the longest piece; a run ending at N - 1 may be short */
    guint runs = 0, moved = 0;
    for (int t = 0; t < N;) {
      int e = t + 1;
      while (e < N && y[e] == y[e - 1] + 1)
        e++;
      guint len = (guint) (e - t);
      /* two pieces that happen to follow each other make one longer run:
       * it is still a whole number of pieces */
      if ((int) y[e - 1] != N - 1)
        g_assert_cmpuint (len, >=, lo);
      runs++;
      moved += y[t] != (float) t;
      t = e;
    }
    g_assert_cmpuint (runs, <=, (N + lo - 1) / lo);
    if (hi < N)
      g_assert_cmpuint (moved, >, 0);
    /* the same seed, the same order */
    g_autoptr (GRand) r2 = g_rand_new_with_seed (11 + c);
    sd_piece_shuffle (x, y2, N, lo, hi, r2);
    g_assert_cmpmem (y, sizeof y, y2, sizeof y2);
  }
  /* fixed length 10: every piece is x[10 i .. 10 i + 10) */
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  sd_piece_shuffle (x, y, N, 10, 10, r);
  for (int t = 0; t < N; t++)
    g_assert_cmpint ((int) y[t] % 10, ==, t % 10);
}

/* Shuffled-piece negatives reach the loss as soft targets: trained with
 * every series of both classes a negative (targets 1/2, 1/2), the model
 * answers 1/2 for everything, where plain training is confident. The run
 * is deterministic for a seed; bad settings are refused. */
static void
test_shuffle_training (void)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  const int T = (int) d->length, n = (int) d->n;
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  SdModel *models[3];
  for (int i = 0; i < 3; i++) {
    models[i] = sd_model_new (&arch, (const char *const *) d->labels, 3, NULL);
    SdTrainConfig c;
    sd_train_config_init (&c);
    c.epochs = 15;
    c.batch_size = 8;
    c.seed = 3;
    c.lr = 1e-2f;
    c.val_fraction = 0;
    c.augment_shuffle_prob = i < 2 ? 1.0 : 0.0;
    c.augment_shuffle_classes = 0x3;
    c.augment_shuffle_min = 4;
    c.augment_shuffle_max = 16;
    g_autoptr (GError) error = NULL;
    g_assert_true (sd_train (models[i], d, &c, NULL, &error));
    g_assert_no_error (error);
  }
  gsize np = sd_model_get_n_params (models[0]) * sizeof (float);
  g_assert_cmpmem (
      sd_model_get_params (models[0]), np, sd_model_get_params (models[1]), np);
  double dev[2] = { 0, 0 };
  for (int m = 0; m < 2; m++) {
    SdModel *model = models[m == 0 ? 0 : 2];
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (model, n, T, SD_MODE_EVAL, NULL);
    g_autofree float *x = g_memdup2 (d->x, (gsize) n * T * sizeof (float));
    sd_model_normalize_input (model, x, n, T);
    const float *z = sd_model_forward (model, ws, x, n, T);
    float p[2];
    for (int i = 0; i < n; i++) {
      sd_softmax_forward (p, z + 2 * i, 1, 2);
      dev[m] += fabs (p[0] - 0.5) / n;
    }
  }
  g_assert_cmpfloat (dev[0], <, 0.05);
  g_assert_cmpfloat (dev[1], >, 0.3);
  for (int i = 0; i < 3; i++)
    sd_model_unref (models[i]);

  g_autoptr (SdModel) m
      = sd_model_new (&arch, (const char *const *) d->labels, 1, NULL);
  struct
  {
    double prob;
    guint64 classes;
    guint lo, hi;
    const char *msg;
  } bad[] = {
    { 1.5, 0x3, 4, 16, "probability" },
    { NAN, 0x3, 4, 16, "probability" },
    { 0.5, 0x1, 4, 16, "at least two classes" },
    { 0.5, 0x3, 0, 16, "minimum length" },
    { 0.5, 0x3, 17, 16, "minimum length" },
    { 0.5, 0x7, 4, 16, "not below the model's 2 classes" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    SdTrainConfig c;
    sd_train_config_init (&c);
    c.epochs = 1;
    c.augment_shuffle_prob = bad[i].prob;
    c.augment_shuffle_classes = bad[i].classes;
    c.augment_shuffle_min = bad[i].lo;
    c.augment_shuffle_max = bad[i].hi;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_train (m, d, &c, NULL, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    if (strstr (error->message, bad[i].msg) == NULL)
      g_error ("case %" G_GSIZE_FORMAT ": '%s' lacks '%s'", i, error->message,
          bad[i].msg);
  }
}

/* A model of preset (an architecture, or "inception-N": an op graph of N
 * filters per branch) for the labels. */
static SdModel *
preset_model (const char *preset, const char *const *labels, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  SdModel *m;
  if (g_str_has_prefix (preset, "inception-"))
    m = sd_model_new_inception (
        atoi (preset + strlen ("inception-")), 2, labels, seed, &error);
  else {
    SdArch arch;
    g_assert_true (sd_arch_from_preset (preset, 2, &arch, NULL));
    m = sd_model_new (&arch, labels, seed, &error);
  }
  g_assert_no_error (error);
  return m;
}

/* preset on the fixture with n_threads threads (0: OpenBLAS's). */
static SdModel *
train_threads (const char *preset, int n_threads, guint64 seed)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  SdModel *m = preset_model (preset, (const char *const *) d->labels, seed);
  SdTrainConfig c;
  sd_train_config_init (&c);
  c.epochs = g_str_has_prefix (preset, "inception-") ? 3 : 8;
  c.batch_size = 7; /* shares of 3 and 4 series, a last batch of 5 */
  c.seed = seed;
  c.n_threads = n_threads;
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_train (m, d, &c, NULL, &error));
  g_assert_no_error (error);
  return m;
}

/* Two runs with the same seed and thread count give the same weights, bit
 * for bit; OpenBLAS's thread count is what it was before. A different
 * thread count adds the weight gradients of the shares in another order:
 * other bits, nearly the same model. */
static void
test_threads_deterministic (gconstpointer preset)
{
  sd_set_num_threads (3);
  g_autoptr (SdModel) a = train_threads (preset, 2, 4);
  g_assert_cmpint (sd_get_num_threads (), ==, 3);
  g_autoptr (SdModel) b = train_threads (preset, 2, 4);
  g_autoptr (SdModel) one = train_threads (preset, 1, 4);
  g_autoptr (SdModel) other = train_threads (preset, 2, 5);
  sd_set_num_threads (1);
  gsize np = sd_model_get_n_params (a);
  g_assert_cmpmem (sd_model_get_params (a), np * sizeof (float),
      sd_model_get_params (b), np * sizeof (float));
  double dmax = 0, dseed = 0, pmax = 0;
  for (gsize k = 0; k < np; k++) {
    const float pa = sd_model_get_params (a)[k];
    dmax = MAX (dmax, fabs (pa - sd_model_get_params (one)[k]));
    dseed = MAX (dseed, fabs (pa - sd_model_get_params (other)[k]));
    pmax = MAX (pmax, fabs (pa));
  }
  g_test_message ("%s, 2 vs 1 thread: max |diff| %.3g; other seed %.3g; max "
                  "|param| %.3g",
      (const char *) preset, dmax, dseed, pmax);
  g_assert_cmpfloat (dmax, >, 0.0); /* the shares were summed: not 1 */
  /* eight epochs of Adam amplify rounding, but stay far from what
   * another seed gives */
  g_assert_cmpfloat (dmax, <, 0.05 * dseed);
}

/* A workspace split over threads computes the same forward, bit for bit,
 * the same input gradient, and the same parameter gradients up to the
 * order of the shares' sums. */
static void
test_workspace_threads (gconstpointer preset)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  const int B = 9, T = (int) d->length;
  g_autoptr (SdModel) m
      = preset_model (preset, (const char *const *) d->labels, 2);
  g_autoptr (GError) error = NULL;
  const gsize np = sd_model_get_n_params (m);
  float *grads[2], *logits[2], *dx[2];
  float dl[2 * 9];
  for (int i = 0; i < 2 * B; i++)
    dl[i] = (float) ((i * 7) % 5) - 2.0f;
  for (int r = 0; r < 2; r++) {
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (m, B, T, SD_MODE_TRAIN, &error);
    g_assert_no_error (error);
    g_assert_true (sd_workspace_set_threads (ws, r == 0 ? 1 : 3, &error));
    logits[r] = g_memdup2 (
        sd_model_forward (m, ws, d->x, B, T), sizeof (float) * 2 * B);
    grads[r] = g_new0 (float, np);
    dx[r] = g_new0 (float, (gsize) B *T);
    sd_model_backward (m, ws, dl, grads[r], dx[r]);
  }
  g_assert_cmpmem (
      logits[0], sizeof (float) * 2 * B, logits[1], sizeof (float) * 2 * B);
  g_assert_cmpmem (
      dx[0], sizeof (float) * B * T, dx[1], sizeof (float) * B * T);
  double diff = 0, gmax = 0;
  for (gsize k = 0; k < np; k++) {
    diff = MAX (diff, fabs (grads[0][k] - grads[1][k]));
    gmax = MAX (gmax, fabs (grads[0][k]));
  }
  g_test_message ("%s gradients, 3 threads vs 1: max |diff| %.3g of %.3g",
      (const char *) preset, diff, gmax);
  g_assert_cmpfloat (gmax, >, 0);
  g_assert_cmpfloat (diff, <=, 1e-5 * gmax);
  for (int r = 0; r < 2; r++) {
    g_free (grads[r]);
    g_free (logits[r]);
    g_free (dx[r]);
  }
  /* impossible thread counts are errors */
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, NULL);
  g_assert_false (sd_workspace_set_threads (ws, 0, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

/* A time budget ends the run at an epoch boundary and says so; without
 * one the same run goes through its epochs. */
static void
test_time_budget (void)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  for (int i = 0; i < 2; i++) {
    g_autoptr (SdModel) m
        = sd_model_new (&arch, (const char *const *) d->labels, 1, NULL);
    SdTrainConfig c;
    sd_train_config_init (&c);
    c.epochs = 4;
    c.val_fraction = 0;
    c.time_budget_s = i == 0 ? 1e-6 : 0.0;
    SdTrainResult res;
    g_autoptr (GError) error = NULL;
    g_assert_true (sd_train (m, d, &c, &res, &error));
    g_assert_cmpint (res.epochs_run, ==, i == 0 ? 1 : 4);
    g_assert_cmpint (res.stopped_by_time, ==, i == 0);
    g_assert_false (res.stopped_early);
  }
}

/* The defaults that follow the data: the published protocol for small
 * sets, a validation split for large ones or when asked for. */
static void
test_adapt (void)
{
  g_autoptr (SdDataset) d = load_fixture ("ucr-small.tsv", NULL);
  g_assert_cmpuint (d->n, <, SD_TRAIN_SMALL_SET);
  SdTrainConfig c;
  sd_train_config_init (&c);
  c.time_budget_s = 60;
  g_autofree char *small = sd_train_config_adapt (&c, d, SD_TRAIN_SPLIT_AUTO);
  g_test_message ("%s", small);
  g_assert_nonnull (strstr (small, "no validation split"));
  g_assert_cmpfloat (c.val_fraction, ==, 0.0);
  g_assert_cmpint (c.early_stop_patience, ==, 0);
  g_assert_cmpint (c.plateau_patience, ==, 50);
  g_assert_cmpfloat (c.min_lr, ==, 1e-4f);
  g_assert_cmpint (c.batch_size, ==, (int) d->n / 10);
  g_assert_cmpint (c.epochs, ==, 1500);        /* 4 steps an epoch */
  g_assert_cmpfloat (c.time_budget_s, ==, 60); /* not its business */

  sd_train_config_init (&c);
  g_autofree char *val
      = sd_train_config_adapt (&c, d, SD_TRAIN_SPLIT_VALIDATION);
  g_assert_nonnull (strstr (val, "validation split 0.20"));
  g_assert_cmpfloat (c.val_fraction, ==, 0.2);
  g_assert_cmpint (c.early_stop_patience, ==, 30);
  g_assert_cmpint (c.plateau_patience, ==, 10);

  /* 2,000 series: a validation split, batch 32, 1,600 training series
   * = 50 steps an epoch, 400 epochs for 20,000 steps */
  g_autoptr (SdDataset) big = g_new0 (SdDataset, 1);
  big->n = 2000;
  sd_train_config_init (&c);
  g_autofree char *large = sd_train_config_adapt (&c, big, SD_TRAIN_SPLIT_AUTO);
  g_assert_cmpfloat (c.val_fraction, ==, 0.2);
  g_assert_cmpint (c.batch_size, ==, 32);
  g_assert_cmpint (c.epochs, ==, 400);

  /* impossible budgets and thread counts are refused by sd_train */
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  g_autoptr (SdModel) m
      = sd_model_new (&arch, (const char *const *) d->labels, 1, NULL);
  for (int i = 0; i < 3; i++) {
    sd_train_config_init (&c);
    if (i == 0)
      c.time_budget_s = -1;
    else if (i == 1)
      c.time_budget_s = NAN;
    else
      c.n_threads = -2;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_train (m, d, &c, NULL, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    g_assert_nonnull (
        strstr (error->message, i < 2 ? "time budget" : "threads"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/train/learns-fixture", test_learns_fixture);
  g_test_add_func (
      "/train/deterministic-for-seed", test_deterministic_for_seed);
  g_test_add_func ("/train/rejects-bad-config", test_rejects_bad_config);
  g_test_add_func (
      "/train/divergence-is-an-error", test_divergence_is_an_error);
  g_test_add_func ("/train/evaluate-counts", test_evaluate_counts);
  g_test_add_func ("/train/carrier-shift", test_carrier_shift);
  g_test_add_func (
      "/train/carrier-shift-training", test_carrier_shift_training);
  g_test_add_func ("/train/piece-shuffle", test_piece_shuffle);
  g_test_add_func ("/train/shuffle-training", test_shuffle_training);
  g_test_add_data_func ("/train/threads-deterministic", "resnet-small",
      test_threads_deterministic);
  g_test_add_data_func ("/train/threads-deterministic-graph", "inception-2",
      test_threads_deterministic);
  g_test_add_data_func (
      "/train/workspace-threads", "resnet-small", test_workspace_threads);
  g_test_add_data_func (
      "/train/workspace-threads-graph", "inception-2", test_workspace_threads);
  g_test_add_func ("/train/time-budget", test_time_budget);
  g_test_add_func ("/train/adapt", test_adapt);
  return g_test_run ();
}
