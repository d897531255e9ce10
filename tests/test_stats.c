/* Model statistics (core/stats*.c): calibration on synthetic two-class
 * data, the novelty score against a direct double-precision Mahalanobis
 * distance, bit-exact save and load, and the errors for bad calibration
 * data and corrupt stats in a file.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-glib/json-glib.h>
#include <math.h>
#include <seqdream/seqdream.h>
#include <string.h>

#define T 64
#define FREQ_A 4  /* DFT bin of class a's sine */
#define FREQ_B 13 /* of class b's */

static const char *const labels[] = { "a", "b", NULL };

/* n series of T samples: class i % 2, a sine of its class's frequency
 * with random phase, amplitude amp and white noise of sd 0.3 amp. */
static SdDataset *
two_class_data (guint n, guint32 seed, double amp, double rate)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (seed);
  SdDataset *d = g_new0 (SdDataset, 1);
  d->n = n;
  d->length = T;
  d->x = g_new (float, (gsize) n *T);
  d->y = g_new (int, n);
  d->n_classes = 2;
  d->labels = g_strdupv ((char **) labels);
  d->sample_rate = rate;
  for (guint i = 0; i < n; i++) {
    const int c = (int) (i % 2);
    const double f = c == 0 ? FREQ_A : FREQ_B;
    const double ph = g_rand_double_range (rng, 0, 2 * G_PI);
    d->y[i] = c;
    for (int t = 0; t < T; t++) {
      /* Box-Muller noise */
      double u = g_rand_double_range (rng, 1e-12, 1.0);
      double v = g_rand_double (rng);
      double z = sqrt (-2 * log (u)) * cos (2 * G_PI * v);
      d->x[(gsize) i * T + t]
          = (float) (amp * (sin (2 * G_PI * f * t / T + ph) + 0.3 * z));
    }
  }
  return d;
}

/* A small fcn-small classifier trained briefly on two_class_data, with a
 * fixed normalisation (so the level of the input matters). */
static SdModel *
trained_model (void)
{
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 2, &arch, NULL));
  SdModel *m = sd_model_new (&arch, labels, 1, NULL);
  sd_model_set_normalization (m, (SdNormalization){ SD_NORM_FIXED, 0, 1 });
  g_autoptr (SdDataset) d = two_class_data (120, 1, 1.0, 1000);
  SdTrainConfig cfg;
  sd_train_config_init (&cfg);
  cfg.epochs = 4;
  cfg.val_fraction = 0;
  cfg.seed = 1;
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_train (m, d, &cfg, NULL, &error));
  g_assert_no_error (error);
  return m;
}

/* The model calibrated on 200 fresh windows, a fifth held out. */
static SdModel *
calibrated_model (void)
{
  SdModel *m = trained_model ();
  g_autoptr (SdDataset) fit = two_class_data (200, 2, 1.0, 1000);
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_model_calibrate (m, fit, NULL, NULL, &error));
  g_assert_no_error (error);
  return m;
}

/* novelty (n) of the series of d through m's workspace API. */
static void
novelty_of (SdModel *m, const SdDataset *d, double *novelty)
{
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 8, T, SD_MODE_EVAL, NULL);
  float buf[8 * T];
  for (guint s = 0; s < d->n; s += 8) {
    const int B = (int) MIN (8u, d->n - s);
    memcpy (buf, d->x + (gsize) s * T, (gsize) B * T * sizeof (float));
    sd_model_normalize_input (m, buf, B, T);
    sd_model_forward (m, ws, buf, B, T);
    g_autoptr (GError) error = NULL;
    g_assert_true (sd_workspace_novelty (m, ws, B, novelty + s, &error));
    g_assert_no_error (error);
  }
}

static double
share_above (const double *v, guint n, double threshold)
{
  guint k = 0;
  for (guint i = 0; i < n; i++)
    k += v[i] > threshold;
  return (double) k / n;
}

/* What calibration stores: counts, spectra peaking at the classes' sine
 * bins, a positive threshold, ascending quantiles, positive typical
 * margins and the level of the raw windows; fresh windows like the
 * training data are known, far louder ones and the other shape are not. */
static void
test_calibrate_two_class (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  const SdModelStats *s = sd_model_get_stats (m);
  g_assert_nonnull (s);
  g_assert_cmpint (sd_model_stats_get_length (s), ==, T);
  g_assert_cmpint (sd_model_stats_get_n_classes (s), ==, 2);
  g_assert_cmpuint (sd_model_stats_get_class_count (s, 0), ==, 80);
  g_assert_cmpuint (sd_model_stats_get_heldout_count (s, 1), ==, 20);
  g_assert_cmpfloat (sd_model_stats_get_false_alarm (s), ==, 0.005);
  const double shrink = sd_model_stats_get_shrinkage (s);
  g_assert_cmpfloat (shrink, >, 0.0);
  g_assert_cmpfloat (shrink, <, 1.0);

  const float *sp = sd_model_stats_get_spectra (s);
  const int nb = T / 2 + 1;
  for (int k = 0; k < 2; k++) {
    int peak = 0;
    for (int b = 1; b < nb; b++)
      if (sp[k * nb + b] > sp[k * nb + peak])
        peak = b;
    g_assert_cmpint (peak, ==, k == 0 ? FREQ_A : FREQ_B);
  }

  const double th = sd_model_stats_get_novelty_threshold (s);
  g_assert_cmpfloat (th, >, 0.0);
  g_assert_cmpfloat (th, >=, sd_model_stats_novelty_quantile (s, 0.5));
  /* the quantiles are floats */
  g_assert_cmpfloat (
      th, <=, sd_model_stats_novelty_quantile (s, 1.0) * (1 + 1e-6));
  for (int k = 0; k < 2; k++) {
    const double m10 = sd_model_stats_margin_quantile (s, k, 0.1);
    const double m50 = sd_model_stats_margin_quantile (s, k, 0.5);
    g_assert_cmpfloat (m50, >, 0.0);
    g_assert_cmpfloat (m10, <=, m50);
  }
  g_assert_true (isnan (sd_model_stats_margin_quantile (s, 2, 0.5)));

  /* RMS of amp (sine + 0.3 noise) = sqrt (0.5 + 0.09) = 0.77 */
  double lo, hi;
  sd_model_stats_get_level_range (s, &lo, &hi);
  g_assert_cmpfloat (lo, >, 0.6);
  g_assert_cmpfloat (hi, <, 0.95);
  g_assert_cmpfloat (lo, <, 0.77);
  g_assert_cmpfloat (hi, >, 0.77);

  g_autoptr (SdDataset) same = two_class_data (200, 3, 1.0, 1000);
  g_autoptr (SdDataset) loud = two_class_data (200, 4, 20.0, 1000);
  g_autofree double *nv = g_new (double, 200);
  novelty_of (m, same, nv);
  g_assert_cmpfloat (share_above (nv, 200, th), <=, 0.05);
  novelty_of (m, loud, nv);
  g_assert_cmpfloat (share_above (nv, 200, th), ==, 1.0);
  /* white noise of the training level: neither class's shape */
  g_autoptr (GRand) rng = g_rand_new_with_seed (5);
  for (gsize i = 0; i < 200 * T; i++)
    same->x[i] = (float) g_rand_double_range (rng, -1.3, 1.3);
  novelty_of (m, same, nv);
  g_assert_cmpfloat (share_above (nv, 200, th), >=, 0.9);
}

/* x^T A^-1 x for a symmetric positive definite A (C, C), by Gauss-Jordan
 * elimination in double precision, independent of the library's
 * Cholesky. */
static double
direct_quadratic (const float *A, const double *x, int C)
{
  g_autofree double *M = g_new (double, (gsize) C *(C + 1));
  for (int i = 0; i < C; i++) {
    for (int j = 0; j < C; j++)
      M[i * (C + 1) + j] = A[i * C + j];
    M[i * (C + 1) + C] = x[i];
  }
  for (int p = 0; p < C; p++) {
    int best = p;
    for (int i = p + 1; i < C; i++)
      if (fabs (M[i * (C + 1) + p]) > fabs (M[best * (C + 1) + p]))
        best = i;
    for (int j = 0; j <= C; j++) {
      double t = M[p * (C + 1) + j];
      M[p * (C + 1) + j] = M[best * (C + 1) + j];
      M[best * (C + 1) + j] = t;
    }
    for (int i = 0; i < C; i++) {
      if (i == p)
        continue;
      const double f = M[i * (C + 1) + p] / M[p * (C + 1) + p];
      for (int j = p; j <= C; j++)
        M[i * (C + 1) + j] -= f * M[p * (C + 1) + j];
    }
  }
  double v = 0.0;
  for (int i = 0; i < C; i++)
    v += x[i] * M[i * (C + 1) + C] / M[i * (C + 1) + i];
  return v;
}

/* sd_workspace_novelty equals sqrt (sum_l min_k (f_l - mu_lk)^T S_l^-1
 * (f_l - mu_lk) / C_l) computed directly from the stored means and
 * covariances and the time means of the stage outputs; and
 * sd_workspace_novelty_features + sd_model_stats_novelty give the same. */
static void
test_mahalanobis_direct (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  const SdModelStats *s = sd_model_get_stats (m);
  const int S = sd_model_get_n_stage_layers (m);
  g_assert_cmpint (sd_model_stats_get_novelty_stages (s), ==, S);
  g_autoptr (SdDataset) d = two_class_data (16, 6, 1.5, 1000);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 16, T, SD_MODE_EVAL, NULL);
  sd_model_normalize_input (m, d->x, 16, T);
  sd_model_forward (m, ws, d->x, 16, T);
  double nov[16], direct[16] = { 0 }, via[16];
  g_assert_true (sd_workspace_novelty (m, ws, 16, nov, NULL));
  for (int l = 0; l < S; l++) {
    int C, len;
    const float *a = sd_workspace_get_layer_output (ws, l, &C, &len);
    g_assert_cmpint (C, ==, sd_model_stats_get_stage_size (s, l));
    const float *Sl = sd_model_stats_get_stage_covariance (s, l);
    const float *mu = sd_model_stats_get_stage_means (s, l);
    g_autofree double *x = g_new (double, C);
    for (int b = 0; b < 16; b++) {
      double best = INFINITY;
      for (int k = 0; k < 2; k++) {
        for (int c = 0; c < C; c++) {
          double mean = 0.0;
          for (int t = 0; t < len; t++)
            mean += a[((gsize) b * C + c) * len + t];
          x[c] = (double) (float) (mean / len) - mu[k * C + c];
        }
        best = MIN (best, direct_quadratic (Sl, x, C));
      }
      direct[b] += best / C;
    }
  }
  const int D = sd_model_stats_get_novelty_size (s);
  g_autofree float *f = g_new (float, 16 * D);
  g_assert_true (sd_workspace_novelty_features (m, ws, 16, f, NULL));
  sd_model_stats_novelty (s, f, 16, via);
  for (int b = 0; b < 16; b++) {
    g_assert_cmpfloat (nov[b], >, 0.0);
    g_assert_cmpfloat (
        fabs (nov[b] - sqrt (direct[b])), <=, 1e-6 * sqrt (direct[b]));
    g_assert_cmpfloat (fabs (nov[b] - via[b]), <=, 1e-12 * nov[b]);
  }
  /* A window with a NaN feature is never known. */
  f[D - 1] = NAN;
  sd_model_stats_novelty (s, f, 1, nov);
  g_assert_true (isinf (nov[0]));
}

static void
assert_stats_equal (const SdModelStats *a, const SdModelStats *b)
{
  const int K = sd_model_stats_get_n_classes (a);
  const int C = sd_model_stats_get_feature_size (a);
  const int nb = sd_model_stats_get_length (a) / 2 + 1;
  g_assert_cmpint (K, ==, sd_model_stats_get_n_classes (b));
  g_assert_cmpint (C, ==, sd_model_stats_get_feature_size (b));
  g_assert_cmpint (memcmp (sd_model_stats_get_spectra (a),
                       sd_model_stats_get_spectra (b), K * nb * 4),
      ==, 0);
  g_assert_cmpint (memcmp (sd_model_stats_get_feature_means (a),
                       sd_model_stats_get_feature_means (b), K * C * 4),
      ==, 0);
  g_assert_cmpint (memcmp (sd_model_stats_get_covariance (a),
                       sd_model_stats_get_covariance (b), C * C * 4),
      ==, 0);
  g_assert_cmpfloat (sd_model_stats_get_novelty_threshold (a), ==,
      sd_model_stats_get_novelty_threshold (b));
  g_assert_cmpfloat (
      sd_model_stats_get_shrinkage (a), ==, sd_model_stats_get_shrinkage (b));
  g_assert_cmpfloat (sd_model_stats_get_false_alarm (a), ==,
      sd_model_stats_get_false_alarm (b));
  double la, ha, lb, hb;
  sd_model_stats_get_level_range (a, &la, &ha);
  sd_model_stats_get_level_range (b, &lb, &hb);
  g_assert_cmpfloat (la, ==, lb);
  g_assert_cmpfloat (ha, ==, hb);
  for (double q = 0; q <= 1.0; q += 0.05) {
    g_assert_cmpfloat (sd_model_stats_novelty_quantile (a, q), ==,
        sd_model_stats_novelty_quantile (b, q));
    for (int k = 0; k < K; k++)
      g_assert_cmpfloat (sd_model_stats_margin_quantile (a, k, q), ==,
          sd_model_stats_margin_quantile (b, k, q));
  }
  for (int k = 0; k < K; k++) {
    g_assert_cmpuint (sd_model_stats_get_class_count (a, k), ==,
        sd_model_stats_get_class_count (b, k));
    g_assert_cmpuint (sd_model_stats_get_heldout_count (a, k), ==,
        sd_model_stats_get_heldout_count (b, k));
  }
}

/* Saved and loaded, the statistics are the same bits and give the same
 * novelty; written again, the file is the same bytes; a copy of the
 * model carries them; a file without them loads without. */
static void
test_save_load_bit_exact (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) back = sd_model_load_from_bytes (bytes, "mem", &error);
  g_assert_no_error (error);
  assert_stats_equal (sd_model_get_stats (m), sd_model_get_stats (back));
  g_autoptr (GBytes) again = sd_model_save_to_bytes (back);
  g_assert_true (g_bytes_equal (bytes, again));

  g_autoptr (SdDataset) d = two_class_data (24, 7, 3.0, 1000);
  double a[24], b[24];
  novelty_of (m, d, a);
  novelty_of (back, d, b);
  g_assert_cmpint (memcmp (a, b, sizeof a), ==, 0);

  g_autoptr (SdModel) copy = sd_model_copy (m);
  assert_stats_equal (sd_model_get_stats (m), sd_model_get_stats (copy));

  g_assert_true (sd_model_set_stats (copy, NULL, &error));
  g_assert_null (sd_model_get_stats (copy));
  g_autoptr (GBytes) plain = sd_model_save_to_bytes (copy);
  g_autoptr (SdModel) none = sd_model_load_from_bytes (plain, "mem", &error);
  g_assert_no_error (error);
  g_assert_null (sd_model_get_stats (none));
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (none, 1, T, SD_MODE_EVAL, NULL);
  sd_model_forward (none, ws, d->x, 1, T);
  g_assert_false (sd_workspace_novelty (none, ws, 1, a, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "seqdream calibrate"));
  g_clear_error (&error);
  /* more windows than the last forward, or another model's workspace */
  g_autoptr (SdWorkspace) ws2 = sd_workspace_new (m, 4, T, SD_MODE_EVAL, NULL);
  sd_model_forward (m, ws2, d->x, 2, T);
  g_assert_false (sd_workspace_novelty (m, ws2, 3, a, &error));
  g_assert_nonnull (strstr (error->message, "last forward had 2"));
  g_clear_error (&error);
  g_assert_false (sd_workspace_novelty (m, ws, 1, a, &error));
  g_assert_nonnull (strstr (error->message, "workspace"));
}

/* sd_model_calibrate fails with error code and a message containing
 * `expect`; the model keeps the statistics it had. */
static void
assert_calibrate_fails (SdModel *m, const SdDataset *fit, const SdDataset *held,
    const SdCalibrateOptions *o, const char *expect)
{
  g_autoptr (GError) error = NULL;
  const SdModelStats *before = sd_model_get_stats (m);
  const double th = sd_model_stats_get_novelty_threshold (before);
  g_assert_false (sd_model_calibrate (m, fit, held, o, &error));
  g_assert_nonnull (error);
  if (strstr (error->message, expect) == NULL)
    g_error ("expected '%s' in: %s", expect, error->message);
  g_assert_true (sd_model_get_stats (m) == before);
  g_assert_cmpfloat (sd_model_stats_get_novelty_threshold (before), ==, th);
}

static void
test_calibrate_bad_inputs (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (SdDataset) good = two_class_data (40, 8, 1.0, 1000);
  SdCalibrateOptions o;

  g_autoptr (SdDataset) rate = two_class_data (40, 8, 1.0, 2000);
  assert_calibrate_fails (m, rate, NULL, NULL, "2000 Hz, the model at 1000");
  assert_calibrate_fails (m, good, rate, NULL, "held-out data: sampled");

  g_autoptr (SdDataset) longer = two_class_data (40, 8, 1.0, 1000);
  longer->length = T / 2; /* same memory, shorter rows */
  longer->n = 40;
  assert_calibrate_fails (m, longer, NULL, NULL, "windows of 64 samples");

  g_autoptr (SdDataset) unknown = two_class_data (40, 8, 1.0, 1000);
  g_free (unknown->labels[1]);
  unknown->labels[1] = g_strdup ("c");
  assert_calibrate_fails (m, unknown, NULL, NULL, "label 'c' is not one");

  /* class b with a single window */
  guint idx[] = { 0, 2, 4, 6, 1 };
  g_autoptr (SdDataset) few = sd_dataset_subset (good, idx, 5);
  assert_calibrate_fails (m, few, good, NULL, "class 'b' has 1 window;");
  assert_calibrate_fails (m, few, NULL, NULL, "class 'b' has 1 windows");

  g_autoptr (SdDataset) nan = two_class_data (40, 8, 1.0, 1000);
  nan->x[3 * T + 5] = NAN;
  assert_calibrate_fails (m, nan, NULL, NULL, "series 3 has a non-finite");

  g_autoptr (SdDataset) one = sd_dataset_subset (good, idx, 1);
  assert_calibrate_fails (m, good, one, NULL, "needs at least 2");

  const double bad_fa[] = { 0.0, 1.0, -0.1, NAN };
  for (guint i = 0; i < G_N_ELEMENTS (bad_fa); i++) {
    sd_calibrate_options_init (&o);
    o.false_alarm = bad_fa[i];
    assert_calibrate_fails (m, good, NULL, &o, "false-alarm rate");
  }
  sd_calibrate_options_init (&o);
  o.shrinkage = 1.5;
  assert_calibrate_fails (m, good, NULL, &o, "shrinkage 1.5");
  sd_calibrate_options_init (&o);
  o.holdout_fraction = 1.0;
  assert_calibrate_fails (m, good, NULL, &o, "holdout fraction");

  /* no shrinkage: the covariance of 64 features from 32 windows is
   * singular */
  sd_calibrate_options_init (&o);
  o.shrinkage = 0.0;
  assert_calibrate_fails (m, good, NULL, &o, "not positive definite");

  /* statistics of another model do not fit */
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("fcn-small", 3, &arch, NULL));
  const char *l3[] = { "a", "b", "c", NULL };
  g_autoptr (SdModel) other = sd_model_new (&arch, l3, 1, NULL);
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_model_set_stats (
      other, sd_model_stats_copy (sd_model_get_stats (m)), &error));
  g_assert_nonnull (strstr (error->message, "2 classes"));
}

/* ---- corrupt files ---- */

typedef void (*Corrupt) (const char *name, float *v, gsize n, gpointer user);

/* The file bytes rewritten: metadata `key` replaced by value (removed
 * when value is NULL; added when absent), every F32 tensor passed through
 * fn, tensor `drop` left out and a tensor `extra` of 4 floats added. */
static GBytes *
rewrite (GBytes *bytes, const char *key, const char *value, Corrupt fn,
    gpointer user, const char *drop, const char *extra)
{
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (bytes, "in", NULL);
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autofree const char **keys = sd_safetensors_get_metadata_keys (st);
  gboolean seen = FALSE;
  for (int i = 0; keys[i]; i++) {
    const char *v = sd_safetensors_get_metadata (st, keys[i]);
    if (key && strcmp (keys[i], key) == 0) {
      seen = TRUE;
      v = value;
    }
    if (v)
      sd_safetensors_writer_add_metadata (w, keys[i], v);
  }
  if (key && !seen && value)
    sd_safetensors_writer_add_metadata (w, key, value);
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *t = sd_safetensors_get_nth (st, i);
    if (drop && strcmp (t->name, drop) == 0)
      continue;
    g_autofree float *v = g_new (float, t->numel);
    g_assert_true (sd_safetensors_copy_f32 (st, t, v, -1, NULL, FALSE, NULL));
    if (fn)
      fn (t->name, v, t->numel, user);
    sd_safetensors_writer_add_f32 (w, t->name, v, t->ndim, t->shape);
  }
  if (extra) {
    const float four[4] = { 0 };
    const gint64 shape[1] = { 4 };
    sd_safetensors_writer_add_f32 (w, extra, four, 1, shape);
  }
  return sd_safetensors_writer_to_bytes (w);
}

static void
assert_load_fails (GBytes *bytes, const char *expect)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load_from_bytes (bytes, "bad", &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  if (strstr (error->message, expect) == NULL)
    g_error ("expected '%s' in: %s", expect, error->message);
}

typedef struct
{
  const char *tensor;
  int what; /* 0: NaN at 1, 1: asymmetric, 2: zero, 3: reverse, 4: -1 */
} TensorHarm;

static void
harm_tensor (const char *name, float *v, gsize n, gpointer user)
{
  const TensorHarm *h = user;
  if (strcmp (name, h->tensor) != 0)
    return;
  if (h->what == 0)
    v[1] = NAN;
  else if (h->what == 1)
    v[1] += 0.5f; /* (0, 1) but not (1, 0) */
  else if (h->what == 2)
    memset (v, 0, n * sizeof (float));
  else if (h->what == 3)
    for (gsize i = 0; i < n / 2; i++) {
      float t = v[i];
      v[i] = v[n - 1 - i];
      v[n - 1 - i] = t;
    }
  else
    v[0] = -1.0f;
}

/* The "stats" metadata with one member replaced by `member`:`value`. */
static char *
meta_with (GBytes *bytes, const char *member, const char *value)
{
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (bytes, "in", NULL);
  const char *text = sd_safetensors_get_metadata (st, "stats");
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, text, -1, NULL));
  g_autoptr (JsonNode) v = json_from_string (value, NULL);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  json_object_set_member (o, member, g_steal_pointer (&v));
  return json_to_string (json_parser_get_root (p), FALSE);
}

static void
test_corrupt_stats_in_file (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (GBytes) good = sd_model_save_to_bytes (m);
  struct
  {
    const char *member, *value, *expect;
  } metas[] = {
    { "threshold", "-1", "'threshold' must be a finite number above 0" },
    { "threshold", "0", "'threshold'" },
    { "version", "4", "'version' must be an integer in [1, 3]" },
    /* version 3 is an ensemble's whose novelty combines its members' */
    { "version", "3", "'members' must be true in version 3" },
    { "members", "true", "'members' must be absent before version 3" },
    { "novelty", "\"pooled\"", "'novelty' must be \"stages\"" },
    { "stage_shrinkage", "[0.1]", "'stage_shrinkage' must be an array of" },
    { "stage_shrinkage", "[0.1, 0.1, 2]", "'stage_shrinkage'" },
    { "false_alarm", "1.5", "'false_alarm'" },
    { "shrinkage", "\"x\"", "'shrinkage'" },
    { "counts", "[5]", "'counts' must be an array of 2" },
    { "counts", "[5, 1]", "each at least 2" },
    { "level", "[2, 1]", "'level'" },
    { "length", "32", "'length' 32 is not the model's train length 64" },
    { "length", "0", "'length'" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (metas); i++) {
    g_autofree char *meta = meta_with (good, metas[i].member, metas[i].value);
    g_autoptr (GBytes) bad
        = rewrite (good, "stats", meta, NULL, NULL, NULL, NULL);
    assert_load_fails (bad, metas[i].expect);
  }
  g_autoptr (GBytes) notjson
      = rewrite (good, "stats", "{\"version\":1,", NULL, NULL, NULL, NULL);
  assert_load_fails (notjson, "metadata 'stats'");

  TensorHarm harms[] = {
    { "stats.spectra", 0 },
    { "stats.feature_means", 0 },
    { "stats.covariance", 1 },
    { "stats.covariance", 2 },
    { "stats.novelty_quantiles", 3 },
    { "stats.margin_quantiles", 0 },
    { "stats.spectra", 4 },
  };
  const char *expect[] = { "'stats.spectra': value at flat index 1 is NaN",
    "'stats.feature_means'", "'stats.covariance' is not symmetric",
    "'stats.covariance': the covariance of the pooled features is not "
    "positive definite",
    "'stats.novelty_quantiles' must be ascending",
    "'stats.margin_quantiles' has a row that is neither",
    "'stats.spectra' has a negative power" };
  for (guint i = 0; i < G_N_ELEMENTS (harms); i++) {
    g_autoptr (GBytes) bad
        = rewrite (good, NULL, NULL, harm_tensor, &harms[i], NULL, NULL);
    assert_load_fails (bad, expect[i]);
  }
  TensorHarm stage_harms[] = { { "stats.stage_covariance.1", 1 },
    { "stats.stage_covariance.0", 2 }, { "stats.stage_means.2", 0 } };
  const char *stage_expect[] = { "'stats.stage_covariance.1' is not symmetric",
    "the covariance of the time means of stage 0 is not positive "
    "definite",
    "'stats.stage_means.2': value at flat index 1 is NaN" };
  for (guint i = 0; i < G_N_ELEMENTS (stage_harms); i++) {
    g_autoptr (GBytes) bad
        = rewrite (good, NULL, NULL, harm_tensor, &stage_harms[i], NULL, NULL);
    assert_load_fails (bad, stage_expect[i]);
  }
  g_autoptr (GBytes) no_stage = rewrite (
      good, NULL, NULL, NULL, NULL, "stats.stage_covariance.2", NULL);
  assert_load_fails (
      no_stage, "metadata 'stats' without tensor 'stats.stage_covariance.2'");
  g_autoptr (GBytes) stage_extra
      = rewrite (good, NULL, NULL, NULL, NULL, NULL, "stats.stage_means.3");
  assert_load_fails (
      stage_extra, "'stats.stage_means.3' is not one of the statistics");
  g_autoptr (GBytes) missing
      = rewrite (good, NULL, NULL, NULL, NULL, "stats.margin_quantiles", NULL);
  assert_load_fails (
      missing, "metadata 'stats' without tensor 'stats.margin_quantiles'");
  g_autoptr (GBytes) extra
      = rewrite (good, NULL, NULL, NULL, NULL, NULL, "stats.extra");
  assert_load_fails (extra, "'stats.extra' is not one of the statistics");
  g_autoptr (GBytes) orphan
      = rewrite (good, "stats", NULL, NULL, NULL, NULL, NULL);
  assert_load_fails (orphan, "without metadata 'stats'");
  /* A wrong shape: the means replaced by 4 values. */
  g_autoptr (GBytes) shape
      = rewrite (good, NULL, NULL, NULL, NULL, "stats.feature_means", NULL);
  g_autoptr (GBytes) renamed
      = rewrite (shape, NULL, NULL, NULL, NULL, NULL, "stats.feature_means");
  assert_load_fails (renamed, "'stats.feature_means': expected shape [2, 64]");
  /* and the untouched file loads */
  g_autoptr (GBytes) same = rewrite (good, NULL, NULL, NULL, NULL, NULL, NULL);
  g_autoptr (SdModel) ok = sd_model_load_from_bytes (same, "ok", NULL);
  g_assert_nonnull (ok);
  g_assert_nonnull (sd_model_get_stats (ok));
}

/* A file of version 1 of the statistics (before the stage spaces, as
 * earlier seqdream wrote them) still loads; its novelty is the
 * Mahalanobis distance of the pooled features alone, and it is written
 * back as version 1. Version-1 metadata with stage tensors is refused. */
/* The file of m with its statistics as version 1 wrote them: no stage
 * spaces (and the metadata says version 1). */
static GBytes *
version1_bytes (SdModel *m)
{
  g_autoptr (GBytes) good = sd_model_save_to_bytes (m);
  g_autofree char *meta = meta_with (good, "version", "1");
  GBytes *cur = rewrite (good, "stats", meta, NULL, NULL, NULL, NULL);
  for (int l = 0; l < sd_model_get_n_stage_layers (m); l++)
    for (int c = 0; c < 2; c++) {
      g_autofree char *name = g_strdup_printf (
          "stats.stage_%s.%d", c ? "covariance" : "means", l);
      GBytes *next = rewrite (cur, NULL, NULL, NULL, NULL, name, NULL);
      g_bytes_unref (cur);
      cur = next;
    }
  return cur;
}

static void
test_version1_file (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (GBytes) good = sd_model_save_to_bytes (m);
  g_autofree char *meta = meta_with (good, "version", "1");
  g_autoptr (GBytes) v1 = rewrite (good, "stats", meta, NULL, NULL, NULL, NULL);
  assert_load_fails (v1, "'stats.stage_means.0' is not one of the statistics");
  g_autoptr (GBytes) cur = version1_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) old = sd_model_load_from_bytes (cur, "v1", &error);
  g_assert_no_error (error);
  const SdModelStats *s = sd_model_get_stats (old);
  g_assert_cmpint (sd_model_stats_get_novelty_stages (s), ==, 0);
  const int C = sd_model_stats_get_feature_size (s);
  g_assert_cmpint (sd_model_stats_get_novelty_size (s), ==, C);
  g_autoptr (SdDataset) d = two_class_data (8, 6, 1.5, 1000);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (old, 8, T, SD_MODE_EVAL, NULL);
  sd_model_normalize_input (old, d->x, 8, T);
  sd_model_forward (old, ws, d->x, 8, T);
  double nov[8];
  g_assert_true (sd_workspace_novelty (old, ws, 8, nov, NULL));
  int gc, gl;
  const float *f = sd_workspace_get_layer_output (
      ws, sd_model_find_layer (old, "gap"), &gc, &gl);
  const float *mu = sd_model_stats_get_feature_means (s);
  for (int b = 0; b < 8; b++) {
    double best = INFINITY;
    for (int k = 0; k < 2; k++)
      best = MIN (best, sd_model_stats_mahalanobis (
                            s, f + (gsize) b * C, mu + (gsize) k * C, NULL));
    g_assert_cmpfloat (fabs (nov[b] - sqrt (best)), <=, 1e-9 * sqrt (best));
  }
  g_autoptr (GBytes) again = sd_model_save_to_bytes (old);
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (again, "again", NULL);
  g_assert_nonnull (
      strstr (sd_safetensors_get_metadata (st, "stats"), "\"version\":1"));
  g_assert_null (sd_safetensors_get (st, "stats.stage_means.0"));
}

/* sd_model_stats_mahalanobis: the squared distance of the direct
 * computation, and S grad = f - mu (grad = S^-1 (f - mu)). */
static void
test_mahalanobis_gradient (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  const SdModelStats *s = sd_model_get_stats (m);
  const int C = sd_model_stats_get_feature_size (s);
  const float *S = sd_model_stats_get_covariance (s);
  const float *mu = sd_model_stats_get_feature_means (s);
  g_autofree float *f = g_new (float, C);
  g_autofree float *grad = g_new (float, C);
  g_autofree double *x = g_new (double, C);
  GRand *r = g_rand_new_with_seed (5);
  for (int j = 0; j < C; j++) {
    f[j] = mu[C + j] + (float) g_rand_double_range (r, -0.5, 0.5);
    x[j] = (double) f[j] - mu[C + j];
  }
  g_rand_free (r);
  const double d2 = sd_model_stats_mahalanobis (s, f, mu + C, grad);
  const double e = direct_quadratic (S, x, C);
  g_assert_cmpfloat (fabs (d2 - e), <=, 1e-6 * e);
  g_assert_cmpfloat (sd_model_stats_mahalanobis (s, f, mu + C, NULL), ==, d2);
  double err = 0.0, norm = 0.0;
  for (int i = 0; i < C; i++) {
    double v = 0.0;
    for (int j = 0; j < C; j++)
      v += (double) S[i * C + j] * grad[j];
    err = MAX (err, fabs (v - x[i]));
    norm = MAX (norm, fabs (x[i]));
  }
  g_assert_cmpfloat (err, <=, 1e-3 * norm);
}

/* The stage version of the Mahalanobis gradient: S_l grad = f - mu. */
static void
test_stage_mahalanobis_gradient (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  const SdModelStats *s = sd_model_get_stats (m);
  for (int l = 0; l < sd_model_stats_get_novelty_stages (s); l++) {
    const int C = sd_model_stats_get_stage_size (s, l);
    const float *S = sd_model_stats_get_stage_covariance (s, l);
    const float *mu = sd_model_stats_get_stage_means (s, l);
    g_autofree float *f = g_new (float, C);
    g_autofree float *grad = g_new (float, C);
    g_autofree double *x = g_new (double, C);
    g_autoptr (GRand) r = g_rand_new_with_seed (11 + l);
    for (int j = 0; j < C; j++) {
      f[j] = mu[j] + (float) g_rand_double_range (r, -0.5, 0.5);
      x[j] = (double) f[j] - mu[j];
    }
    const double d2 = sd_model_stats_stage_mahalanobis (s, l, f, mu, grad);
    const double e = direct_quadratic (S, x, C);
    g_assert_cmpfloat (fabs (d2 - e), <=, 1e-6 * e);
    double err = 0.0, norm = 0.0;
    for (int i = 0; i < C; i++) {
      double v = 0.0;
      for (int j = 0; j < C; j++)
        v += (double) S[i * C + j] * grad[j];
      err = MAX (err, fabs (v - x[i]));
      norm = MAX (norm, fabs (x[i]));
    }
    g_assert_cmpfloat (err, <=, 1e-3 * norm);
  }
}

/* sum over the stages but the last of the squared stage distance of the
 * window x (T) to class cls's mean, each over its channels. */
static double
early_stage_distance (
    SdModel *m, const SdModelStats *s, const float *x, int cls)
{
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, T, SD_MODE_EVAL, NULL);
  sd_model_forward (m, ws, x, 1, T);
  const int D = sd_model_stats_get_novelty_size (s);
  g_autofree float *f = g_new (float, D);
  g_assert_true (sd_workspace_novelty_features (m, ws, 1, f, NULL));
  double sum = 0.0;
  int off = 0;
  for (int l = 0; l < sd_model_stats_get_novelty_stages (s) - 1; l++) {
    const int C = sd_model_stats_get_stage_size (s, l);
    const float *mu = sd_model_stats_get_stage_means (s, l) + (gsize) cls * C;
    sum += sd_model_stats_stage_mahalanobis (s, l, f + off, mu, NULL) / C;
    off += C;
  }
  return sum;
}

/* With stage statistics the realistic preset's feature anchor pulls every
 * stage toward its class mean: the realistic dreams' early stages end
 * nearer their class than those of the same dreams of the same model
 * whose statistics have no stage spaces (a version-1 file: only the
 * pooled features are anchored), and nearer than where they started. */
static void
test_stage_anchor (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (GBytes) v1 = version1_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) old = sd_model_load_from_bytes (v1, "v1", &error);
  g_assert_no_error (error);
  const SdModelStats *s = sd_model_get_stats (m);
  int closer = 0;
  for (int cls = 0; cls < 2; cls++) {
    double end[2], start = 0.0;
    SdModel *models[2] = { m, old };
    for (int v = 0; v < 2; v++) {
      g_autoptr (SdDreamer) d = sd_dreamer_new (models[v], 4, T, &error);
      g_assert_no_error (error);
      SdDreamConfig c;
      sd_dream_config_init (&c, models[v]);
      g_assert_true (
          sd_dream_config_apply_preset (&c, "realistic", models[v], &error));
      g_autofree float *spectra = NULL, *features = NULL, *margins = NULL;
      g_assert_true (sd_dream_config_attach_model_stats (
          &c, models[v], &spectra, &features, &margins, &error));
      c.steps = 150;
      c.stop_known = FALSE;
      c.stop_margin_quantile = 0.0f;
      SdDreamSpec spec[4];
      memset (spec, 0, sizeof spec);
      float starts[4][T];
      g_autoptr (GRand) rng = g_rand_new_with_seed (20);
      for (int i = 0; i < 4; i++) {
        for (int t = 0; t < T; t++)
          starts[i][t] = (float) g_rand_double_range (rng, -1.0, 1.0);
        spec[i].objective = sd_objective_centered (cls);
        spec[i].init.type = SD_INIT_SERIES;
        spec[i].init.series = starts[i];
        spec[i].seed = 20 + i;
      }
      SdDreamResult *res[4];
      g_assert_true (sd_dreamer_run (d, &c, spec, 4, res, &error));
      g_assert_no_error (error);
      end[v] = 0.0;
      for (int i = 0; i < 4; i++) {
        end[v] += early_stage_distance (m, s, res[i]->sequence, cls);
        if (v == 0)
          start += early_stage_distance (m, s, starts[i], cls);
        sd_dream_result_free (res[i]);
      }
    }
    g_test_message ("class %d: early-stage distance start %.2f, anchored "
                    "%.2f, pooled anchor only %.2f",
        cls, start, end[0], end[1]);
    g_assert_cmpfloat (end[0], <, start);
    closer += end[0] < end[1];
  }
  g_assert_cmpint (closer, ==, 2);
}

/* The realistic preset on a model with statistics (the committed FordA
 * model): its targets come from the model (no reference data), and a
 * dream stops as a typical member of its class: the margin between the
 * class's 75th and 99th percentile of real margins, and known to the
 * model. The same dream without the preset ends far beyond every real
 * margin (the control). */
static void
test_realistic_dream (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("SEQDREAM_TEST_DATA"),
      "..", "..", "models", "forda-resnet-small.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  g_assert_no_error (error);
  const SdModelStats *st = sd_model_get_stats (m);
  g_assert_nonnull (st);
  const int L = (int) sd_model_get_train_length (m);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, L, &error);
  g_assert_no_error (error);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, L, SD_MODE_EVAL, NULL);
  for (int cls = 0; cls < 2; cls++) {
    SdDreamConfig c;
    sd_dream_config_init (&c, m);
    g_assert_true (sd_dream_config_apply_preset (&c, "realistic", m, &error));
    g_assert_no_error (error);
    g_assert_true (c.stop_known);
    float *spectra, *features, *margins;
    g_assert_true (sd_dream_config_attach_model_stats (
        &c, m, &spectra, &features, &margins, &error));
    g_assert_no_error (error);
    g_assert_nonnull (spectra);
    g_assert_nonnull (features);
    g_assert_cmpfloat (c.stop_margin_quantile, ==, 0.75f);
    g_assert_cmpfloat (c.margin_ceiling_quantile, ==, 0.99f);
    const double lo
        = sd_model_stats_margin_quantile (st, cls, c.stop_margin_quantile);
    const double hi
        = sd_model_stats_margin_quantile (st, cls, c.margin_ceiling_quantile);
    g_assert_cmpfloat (margins[cls], ==, (float) lo);
    g_assert_cmpfloat (margins[2 + cls], ==, (float) hi);
    SdDreamSpec spec = { 0 };
    spec.objective = sd_objective_centered (cls);
    spec.init.type = SD_INIT_GAUSSIAN;
    spec.init.scale = 0.1f;
    spec.seed = 3;
    SdDreamResult *res = NULL;
    g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
    g_assert_no_error (error);
    g_assert_true (res->converged);
    g_assert_cmpfloat (res->logit_margin, >=, (float) lo);
    g_assert_cmpfloat (res->logit_margin, <=, (float) hi);
    /* known: the dream's novelty is at most the model's threshold */
    double novelty;
    sd_model_forward (m, ws, res->sequence, 1, L);
    g_assert_true (sd_workspace_novelty (m, ws, 1, &novelty, NULL));
    g_assert_cmpfloat (novelty, <=, sd_model_stats_get_novelty_threshold (st));
    sd_dream_result_free (res);

    /* the control: the paper's unregularised ascent */
    SdDreamConfig none;
    sd_dream_config_init (&none, m);
    g_assert_true (sd_dreamer_run (d, &none, &spec, 1, &res, &error));
    g_assert_cmpfloat (res->logit_margin, >, hi);
    sd_dream_result_free (res);
    g_free (spectra);
    g_free (features);
    g_free (margins);
  }
}

/* Dreams that need the statistics say so when the model has none. */
static void
test_realistic_without_stats (void)
{
  g_autoptr (SdModel) m = trained_model ();
  g_autoptr (GError) error = NULL;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "realistic", m, &error));
  float *spectra = NULL, *features = NULL, *margins = NULL;
  g_assert_false (sd_dream_config_attach_model_stats (
      &c, m, &spectra, &features, &margins, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "seqdream calibrate"));
  g_assert_null (c.stop_margin);
  g_clear_error (&error);
  /* the run refuses the margin stop without its margins */
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, T, NULL);
  SdDreamSpec spec = { 0 };
  spec.objective = sd_objective_centered (0);
  spec.init.type = SD_INIT_GAUSSIAN;
  spec.init.scale = 0.1f;
  SdDreamResult *res = NULL;
  g_assert_false (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  g_assert_nonnull (strstr (error->message, "not attached"));
}

/* The spectra follow the dream length: at another length than the
 * statistics' window they are interpolated and still sum to 1. */
static void
test_spectra_at_other_length (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (GError) error = NULL;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.length = 2 * T;
  g_assert_true (sd_dream_config_apply_preset (&c, "recommended", m, &error));
  float *spectra, *features, *margins;
  g_assert_true (sd_dream_config_attach_model_stats (
      &c, m, &spectra, &features, &margins, &error));
  g_assert_no_error (error);
  g_assert_null (features);
  g_assert_null (margins);
  const int nb = sd_dream_spectrum_bins (2 * T);
  for (int k = 0; k < 2; k++) {
    double sum = 0.0;
    for (int i = 0; i < nb; i++)
      sum += spectra[k * nb + i];
    g_assert_cmpfloat (fabs (sum - 1.0), <, 1e-5);
  }
  /* class a's sine at bin FREQ_A of T is bin 2 FREQ_A of 2T */
  const float *a = spectra;
  g_assert_cmpfloat (a[2 * FREQ_A], >, a[2 * FREQ_B]);
  g_free (spectra);
}

/* attach_targets: reference data for the spectra and features, the
 * statistics for the margins; without statistics the realistic stop and
 * the Mahalanobis metric are dropped, and the caller is told. */
static void
test_attach_targets (void)
{
  g_autoptr (SdModel) m = calibrated_model ();
  g_autoptr (SdDataset) ref = two_class_data (20, 9, 1.0, 1000);
  g_autoptr (GError) error = NULL;
  SdDreamConfig c;
  float *spectra, *features, *margins;
  gboolean dropped = TRUE;
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "realistic", m, &error));
  /* (the model has a sample rate: realistic runs on without the margin
   * stop; the stop's targets are attached when it is asked for) */
  g_assert_cmpfloat (c.stop_margin_quantile, ==, 0.0f);
  c.stop_margin_quantile = 0.75f;
  g_assert_true (sd_dream_config_attach_targets (
      &c, m, ref, &spectra, &features, &margins, &dropped, &error));
  g_assert_no_error (error);
  g_assert_false (dropped);
  g_assert_nonnull (margins);
  g_assert_true (c.stop_margin == margins);
  g_assert_true (c.margin_ceiling == margins + 2);
  g_assert_true (c.stop_known);
  const int C = sd_dream_feature_size (m);
  g_autofree float *e = g_new (float, 2 * C);
  g_assert_true (sd_dream_class_features (m, ref, T, e, NULL));
  g_assert_cmpmem (features, 2 * C * sizeof (float), e, 2 * C * sizeof (float));
  g_free (spectra);
  g_free (features);
  g_free (margins);

  g_autoptr (SdModel) plain = trained_model ();
  sd_dream_config_init (&c, plain);
  g_assert_true (sd_dream_config_apply_preset (&c, "realistic", plain, &error));
  g_assert_false (sd_dream_config_attach_targets (
      &c, plain, NULL, &spectra, &features, &margins, &dropped, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_true (c.stop_known);
  g_clear_error (&error);
  g_assert_true (sd_dream_config_attach_targets (
      &c, plain, ref, &spectra, &features, &margins, &dropped, &error));
  g_assert_no_error (error);
  g_assert_true (dropped);
  g_assert_null (margins);
  g_assert_false (c.stop_known);
  g_assert_cmpfloat (c.stop_margin_quantile, ==, 0.0f);
  g_assert_cmpfloat (c.regs[1].param2, ==, 0.0f);
  g_free (spectra);
  g_free (features);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/stats/calibrate-two-class", test_calibrate_two_class);
  g_test_add_func ("/stats/mahalanobis-direct", test_mahalanobis_direct);
  g_test_add_func ("/stats/save-load-bit-exact", test_save_load_bit_exact);
  g_test_add_func ("/stats/calibrate-bad-inputs", test_calibrate_bad_inputs);
  g_test_add_func ("/stats/corrupt-stats-in-file", test_corrupt_stats_in_file);
  g_test_add_func ("/stats/version1-file", test_version1_file);
  g_test_add_func (
      "/stats/stage-mahalanobis-gradient", test_stage_mahalanobis_gradient);
  g_test_add_func ("/stats/stage-anchor", test_stage_anchor);
  g_test_add_func ("/stats/mahalanobis-gradient", test_mahalanobis_gradient);
  g_test_add_func ("/stats/realistic-dream", test_realistic_dream);
  g_test_add_func (
      "/stats/realistic-without-stats", test_realistic_without_stats);
  g_test_add_func (
      "/stats/spectra-at-other-length", test_spectra_at_other_length);
  g_test_add_func ("/stats/attach-targets", test_attach_targets);
  return g_test_run ();
}
