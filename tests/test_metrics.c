/* Realism metrics of dreams: banded DTW against a naive reference, exact
 * early abandoning and pruned nearest-neighbour searches, reference
 * statistics of hand-made classes with known answers, spectra of sines and
 * white noise, the second model's verdict, argument checks, the real
 * FordA data (from $SEQDREAM_DATA, skipped when absent), and envelope
 * spectra of synthetic bearing-defect and amplitude-modulated signals.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---- */

/* O(n m) DTW over the whole matrix, cells with |i - j| > band excluded. */
static double
naive_dtw (const float *a, int n, const float *b, int m, int band)
{
  g_autofree double *D = g_new (double, (gsize) n *m);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < m; j++) {
      double best;
      if (ABS (i - j) > band) {
        D[i * m + j] = INFINITY;
        continue;
      }
      if (i == 0 && j == 0)
        best = 0.0;
      else {
        best = INFINITY;
        if (i > 0 && j > 0)
          best = MIN (best, D[(i - 1) * m + j - 1]);
        if (i > 0)
          best = MIN (best, D[(i - 1) * m + j]);
        if (j > 0)
          best = MIN (best, D[i * m + j - 1]);
      }
      double d = (double) a[i] - b[j];
      D[i * m + j] = d * d + best;
    }
  return sqrt (D[(gsize) n * m - 1]);
}

static double
euclidean (const float *a, const float *b, int n)
{
  double s = 0.0;
  for (int t = 0; t < n; t++)
    s += ((double) a[t] - b[t]) * ((double) a[t] - b[t]);
  return sqrt (s);
}

static void
fill_random_walk (GRand *rng, float *x, int n)
{
  double v = 0.0;
  for (int t = 0; t < n; t++) {
    v += g_rand_double_range (rng, -1.0, 1.0);
    x[t] = (float) v;
  }
}

static double
gauss (GRand *rng)
{
  double u = g_rand_double_range (rng, 1e-12, 1.0);
  double v = g_rand_double (rng);
  return sqrt (-2.0 * log (u)) * cos (2.0 * G_PI * v);
}

static int
cmp_double (const void *pa, const void *pb)
{
  double a = *(const double *) pa, b = *(const double *) pb;
  return (a > b) - (a < b);
}

static const char *const labels3[] = { "a", "b", "c", NULL };

static SdModel *
make_model (int n_classes, SdNormMode mode, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  const char *names[4] = { NULL };
  SdArch arch;
  for (int c = 0; c < n_classes; c++)
    names[c] = labels3[c];
  g_assert_true (
      sd_arch_from_preset ("resnet-small", n_classes, &arch, &error));
  SdModel *m = sd_model_new (&arch, names, seed, &error);
  g_assert_no_error (error);
  SdNormalization norm = { mode, 0.0f, 1.0f };
  sd_model_set_normalization (m, norm);
  return m;
}

/* A dataset holding copies of x (n, length) and y, classes named as the
 * first n_classes of labels3. */
static SdDataset *
make_dataset (
    const float *x, const int *y, guint n, guint length, guint n_classes)
{
  SdDataset *d = g_new0 (SdDataset, 1);
  d->n = n;
  d->length = length;
  d->x = g_memdup2 (x, sizeof (float) * n * length);
  d->y = g_memdup2 (y, sizeof (int) * n);
  d->n_classes = n_classes;
  d->labels = g_new0 (char *, n_classes + 1);
  for (guint c = 0; c < n_classes; c++)
    d->labels[c] = g_strdup (labels3[c]);
  return d;
}

static SdReference *
make_reference (
    SdModel *m, const SdDataset *d, double band_fraction, double hf_cutoff)
{
  g_autoptr (GError) error = NULL;
  SdReferenceConfig c;
  sd_reference_config_init (&c);
  c.dtw_band_fraction = band_fraction;
  c.hf_cutoff = hf_cutoff;
  SdReference *ref = sd_reference_new (m, d, &c, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ref);
  return ref;
}

static SdDreamMetrics
metrics_ok (SdReference *ref, int cls, const float *x, int T, SdModel *second)
{
  g_autoptr (GError) error = NULL;
  SdDreamMetrics m;
  g_assert_true (sd_dream_metrics (ref, cls, x, T, second, &m, &error));
  g_assert_no_error (error);
  return m;
}

#define assert_close(a, b, tol) g_assert_cmpfloat_with_epsilon (a, b, tol)

/* ---- DTW ---- */

static void
test_dtw_matches_naive (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (11);
  const int bands[] = { 0, 1, 2, 3, 5, 10, 1000 };
  int checked = 0;
  for (int trial = 0; trial < 60; trial++) {
    for (gsize bi = 0; bi < G_N_ELEMENTS (bands); bi++) {
      int band = bands[bi];
      int n = g_rand_int_range (rng, 1, 41);
      int dm = band == 0
                   ? 0
                   : g_rand_int_range (rng, -MIN (band, 8), MIN (band, 8) + 1);
      int m = MAX (1, n + dm);
      float a[64], b[64];
      if (trial % 2) {
        fill_random_walk (rng, a, n);
        fill_random_walk (rng, b, m);
      } else {
        for (int t = 0; t < 48; t++) {
          a[t] = (float) gauss (rng);
          b[t] = (float) gauss (rng);
        }
      }
      double want = naive_dtw (a, n, b, m, band);
      double got = sd_dtw_distance (a, n, b, m, band, INFINITY);
      assert_close (got, want, 1e-12 * MAX (1.0, want));
      /* Symmetric. */
      assert_close (sd_dtw_distance (b, m, a, n, band, INFINITY), got,
          1e-12 * MAX (1.0, want));
      /* Identical series: 0. */
      g_assert_cmpfloat (sd_dtw_distance (a, n, a, n, band, INFINITY), ==, 0.0);
      if (n == m) {
        double ed = euclidean (a, b, n);
        g_assert_cmpfloat (got, <=, ed * (1 + 1e-12));
        if (band == 0)
          assert_close (got, ed, 1e-12 * MAX (1.0, ed));
      }
      checked++;
    }
  }
  /* A band as wide as the series is plain DTW. */
  float a[30], b[25];
  fill_random_walk (rng, a, 30);
  fill_random_walk (rng, b, 25);
  assert_close (sd_dtw_distance (a, 30, b, 25, 29, INFINITY),
      naive_dtw (a, 30, b, 25, 1000), 1e-9);
  /* A known answer: b is a with one sample repeated. */
  const float p[] = { 0, 1, 2, 3, 2, 1 }, q[] = { 0, 1, 1, 2, 3, 2, 1 };
  g_assert_cmpfloat (sd_dtw_distance (p, 6, q, 7, 1, INFINITY), ==, 0.0);
  assert_close (sd_dtw_distance (p, 6, q, 6, 0, INFINITY), sqrt (4.0), 1e-12);
  g_test_message ("%d DTW pairs checked", checked);
}

static void
test_dtw_invalid (void)
{
  const float a[] = { 1, 2, 3, 4 };
  g_assert_true (isnan (sd_dtw_distance (a, 4, a, 2, 1, INFINITY)));
  g_assert_true (isnan (sd_dtw_distance (a, 0, a, 0, 3, INFINITY)));
  g_assert_true (isnan (sd_dtw_distance (a, 4, a, 4, -1, INFINITY)));
  g_assert_true (isnan (sd_dtw_distance (NULL, 4, a, 4, 1, INFINITY)));
  g_assert_cmpfloat (sd_dtw_distance (a, 4, a, 2, 2, INFINITY), >, 0.0);
}

/* The mean absolute step, 0 for fewer than two samples. */
static void
test_total_variation (void)
{
  const float x[] = { 0.0f, 1.0f, 3.0f, 2.5f };
  assert_close (sd_total_variation (x, 4), 3.5 / 3.0, 1e-15);
  g_assert_cmpfloat (sd_total_variation (x, 1), ==, 0.0);
  g_assert_cmpfloat (sd_total_variation (NULL, 0), ==, 0.0);
}

static void
test_dtw_abandoning (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (5);
  const double factors[] = { 0.0, 0.25, 0.5, 0.9, 0.999, 1.0, 1.001, 1.5, 4.0 };
  int abandoned = 0, kept = 0;
  for (int trial = 0; trial < 200; trial++) {
    int n = g_rand_int_range (rng, 2, 60);
    int band = g_rand_int_range (rng, 0, 12);
    int m = n + g_rand_int_range (rng, -band, band + 1);
    m = CLAMP (m, 1, 80);
    if (ABS (n - m) > band)
      m = n;
    float a[80], b[80];
    fill_random_walk (rng, a, n);
    fill_random_walk (rng, b, m);
    double truth = naive_dtw (a, n, b, m, band);
    double own = sd_dtw_distance (a, n, b, m, band, INFINITY);
    for (gsize f = 0; f < G_N_ELEMENTS (factors); f++) {
      double bound = factors[f] == 1.0 ? own : truth * factors[f];
      double got = sd_dtw_distance (a, n, b, m, band, bound);
      if (isinf (got)) {
        g_assert_cmpfloat (truth, >, bound * (1 - 1e-12));
        g_assert_cmpfloat (own, >, bound);
        abandoned++;
      } else {
        assert_close (got, truth, 1e-12 * MAX (1.0, truth));
        g_assert_cmpfloat (got, <=, bound);
        kept++;
      }
    }
    /* Not abandoned exactly when within the bound. */
    g_assert_false (isinf (sd_dtw_distance (a, n, b, m, band, own)));
    if (own > 0)
      g_assert_true (isinf (sd_dtw_distance (a, n, b, m, band, own * 0.999)));
  }
  g_assert_cmpint (abandoned, >, 0);
  g_assert_cmpint (kept, >, 0);
}

/* ---- reference statistics with known answers ---- */

/* Class a: constants 0, 1, 3; class b: (0, s, 0, s) for s = 1, 2, 4;
 * interleaved. Band fraction 0.25 of 4 samples: band 1. */
static const float handmade_x[] = {
  0, 0, 0, 0, /* a */
  0, 1, 0, 1, /* b */
  1, 1, 1, 1, /* a */
  0, 2, 0, 2, /* b */
  3, 3, 3, 3, /* a */
  0, 4, 0, 4, /* b */
};
static const int handmade_y[] = { 0, 1, 0, 1, 0, 1 };

static void
test_reference_handmade (void)
{
  g_autoptr (SdModel) model = make_model (2, SD_NORM_NONE, 1);
  g_autoptr (SdDataset) d = make_dataset (handmade_x, handmade_y, 6, 4, 2);
  g_autoptr (SdReference) ref = make_reference (model, d, 0.25, 0.5);

  g_assert_cmpint (sd_reference_get_length (ref), ==, 4);
  g_assert_cmpuint (sd_reference_get_class_size (ref, 0), ==, 3);
  g_assert_cmpuint (sd_reference_get_class_size (ref, 1), ==, 3);
  const float *mean0 = sd_reference_get_class_mean (ref, 0);
  const float *sd0 = sd_reference_get_class_sd (ref, 0);
  const float *mean1 = sd_reference_get_class_mean (ref, 1);
  const float *sd1 = sd_reference_get_class_sd (ref, 1);
  for (int t = 0; t < 4; t++) {
    assert_close (mean0[t], 4.0 / 3, 1e-6);
    assert_close (sd0[t], sqrt (42.0 / 27), 1e-6);
    assert_close (mean1[t], t % 2 ? 7.0 / 3 : 0.0, 1e-6);
    assert_close (sd1[t], t % 2 ? sqrt (42.0 / 27) : 0.0, 1e-6);
  }

  /* Class a: leave-one-out nearest distances 2, 2, 4 (Euclidean and DTW
   * agree for constants): median 2. A constant 2 is 2 from both 1 and 3;
   * the first row (2) wins the tie. */
  const float two[] = { 2, 2, 2, 2 };
  SdDreamMetrics m = metrics_ok (ref, 0, two, 4, NULL);
  g_assert_cmpint (m.nn_index, ==, 2);
  assert_close (m.nn_euclidean, 2.0, 1e-12);
  assert_close (m.nn_euclidean_ratio, 1.0, 1e-12);
  assert_close (m.nn_dtw, 2.0, 1e-12);
  assert_close (m.nn_dtw_ratio, 1.0, 1e-12);
  /* Flat: no variation, no spectrum; the class median TV is 0. */
  g_assert_cmpfloat (m.tv, ==, 0.0);
  g_assert_true (isnan (m.tv_ratio));
  g_assert_true (isnan (m.hf_energy));
  g_assert_true (isnan (m.spectral_distance));
  g_assert_cmpint (m.second_class, ==, -1);
  g_assert_true (isnan (m.second_probability));

  /* Class b: leave-one-out distances sqrt 2, sqrt 2, sqrt 8 (DTW cannot
   * beat the diagonal here): median sqrt 2. TV 1, 2, 4: median 2. Every
   * series has the normalised spectrum (0, 1/3, 2/3), the top bin above
   * half Nyquist. The dream equal to row 3 finds it at distance 0. */
  m = metrics_ok (ref, 1, handmade_x + 3 * 4, 4, NULL);
  g_assert_cmpint (m.nn_index, ==, 3);
  g_assert_cmpfloat (m.nn_euclidean, ==, 0.0);
  g_assert_cmpfloat (m.nn_dtw, ==, 0.0);
  g_assert_cmpfloat (m.nn_euclidean_ratio, ==, 0.0);
  assert_close (m.tv, 2.0, 1e-12);
  assert_close (m.tv_ratio, 1.0, 1e-12);
  assert_close (m.hf_energy, 2.0 / 3, 1e-6);
  assert_close (m.hf_ratio, 1.0, 1e-6);
  assert_close (m.spectral_distance, 0.0, 1e-6);

  const float c3[] = { 0, 3, 0, 3 };
  m = metrics_ok (ref, 1, c3, 4, NULL);
  g_assert_cmpint (m.nn_index, ==, 3);
  assert_close (m.nn_euclidean, sqrt (2.0), 1e-12);
  assert_close (m.nn_euclidean_ratio, 1.0, 1e-12);
  assert_close (m.nn_dtw_ratio, 1.0, 1e-12);
  assert_close (m.tv_ratio, 1.5, 1e-12);

  /* A longer dream: no nearest neighbour, but TV and spectrum (Welch over
   * 4 segments). Alternating like class b, it has the same spectrum. */
  const float alt[] = { 1, -1, 1, -1, 1, -1, 1, -1, 1, -1 };
  m = metrics_ok (ref, 1, alt, 10, NULL);
  g_assert_true (isnan (m.nn_euclidean) && isnan (m.nn_dtw));
  g_assert_true (isnan (m.nn_euclidean_ratio) && isnan (m.nn_dtw_ratio));
  g_assert_cmpint (m.nn_index, ==, -1);
  assert_close (m.tv, 2.0, 1e-12);
  assert_close (m.tv_ratio, 1.0, 1e-12);
  assert_close (m.hf_energy, 2.0 / 3, 1e-6);
  assert_close (m.hf_ratio, 1.0, 1e-6);
  assert_close (m.spectral_distance, 0.0, 1e-6);
  /* A ramp has most of its power at the lowest bin. */
  const float ramp[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
  m = metrics_ok (ref, 1, ramp, 8, NULL);
  g_assert_cmpfloat (m.hf_energy, <, 0.2);
  g_assert_cmpfloat (m.spectral_distance, >, 0.5);
  /* A shorter one is zero-padded. */
  m = metrics_ok (ref, 1, alt, 3, NULL);
  g_assert_true (isnan (m.nn_euclidean));
  g_assert_true (isfinite (m.spectral_distance));
}

/* The pruned searches against brute force: leave-one-out medians (every
 * series used) and the nearest series of dreams. */
static void
test_reference_matches_brute_force (gconstpointer data)
{
  const double band_fraction = *(const double *) data;
  enum
  {
    K = 3,
    PER = 25,
    L = 60,
    N = K * PER
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (3);
  g_autofree float *x = g_new (float, N *L);
  int y[N];
  for (int i = 0; i < N; i++) {
    y[i] = i % K;
    fill_random_walk (rng, x + i * L, L);
    for (int t = 0; t < L; t++) /* some class structure */
      x[i * L + t] += (float) (2.0 * sin (2 * G_PI * (y[i] + 1) * t / L));
  }
  g_autoptr (SdModel) model = make_model (K, SD_NORM_PER_SERIES, 2);
  g_autoptr (SdDataset) d = make_dataset (x, y, N, L, K);
  g_autoptr (SdReference) ref = make_reference (model, d, band_fraction, 0.5);
  const int band = MIN ((int) lround (band_fraction * L), L - 1);

  /* The reference's own copy, normalised. */
  g_autofree float *z = g_memdup2 (x, sizeof (float) * N * L);
  sd_model_normalize_input (model, z, N, L);

  for (int c = 0; c < K; c++) {
    double e[PER], w[PER];
    int k = 0;
    for (int i = c; i < N; i += K, k++) {
      e[k] = w[k] = INFINITY;
      for (int j = c; j < N; j += K)
        if (j != i) {
          e[k] = MIN (e[k], euclidean (z + i * L, z + j * L, L));
          w[k] = MIN (w[k], naive_dtw (z + i * L, L, z + j * L, L, band));
        }
    }
    /* Sort for the median (odd count). */
    for (int a = 0; a < PER; a++)
      for (int b = a + 1; b < PER; b++) {
        if (e[b] < e[a]) {
          double t = e[a];
          e[a] = e[b];
          e[b] = t;
        }
        if (w[b] < w[a]) {
          double t = w[a];
          w[a] = w[b];
          w[b] = t;
        }
      }
    for (int trial = 0; trial < 4; trial++) {
      float dream[L];
      fill_random_walk (rng, dream, L);
      sd_model_normalize_input (model, dream, 1, L);
      double be = INFINITY, bw = INFINITY, bp = INFINITY;
      int bi = -1;
      for (int j = c; j < N; j += K) {
        double de = euclidean (dream, z + j * L, L);
        if (de < be) {
          be = de;
          bi = j;
        }
        bw = MIN (bw, naive_dtw (dream, L, z + j * L, L, band));
        bp = MIN (bp, sd_dtw_distance (dream, L, z + j * L, L, band, INFINITY));
      }
      SdDreamMetrics m = metrics_ok (ref, c, dream, L, NULL);
      g_assert_cmpint (m.nn_index, ==, bi);
      assert_close (m.nn_euclidean, be, 1e-9);
      assert_close (m.nn_dtw, bw, 1e-9);
      /* The pruned, vectorised search computes exactly what the public
       * function does. */
      g_assert_cmpfloat (m.nn_dtw, ==, bp);
      g_assert_cmpfloat (m.nn_dtw, <=, m.nn_euclidean);
      assert_close (m.nn_euclidean / m.nn_euclidean_ratio, e[PER / 2], 1e-9);
      assert_close (m.nn_dtw / m.nn_dtw_ratio, w[PER / 2], 1e-9);
    }
    /* Every real series is its own nearest neighbour. */
    for (int i = c; i < N; i += 7 * K) {
      SdDreamMetrics m = metrics_ok (ref, c, z + i * L, L, NULL);
      g_assert_cmpint (m.nn_index, ==, i);
      g_assert_cmpfloat (m.nn_euclidean, ==, 0.0);
      g_assert_cmpfloat (m.nn_dtw, ==, 0.0);
    }
  }
}

/* ---- spectra ---- */

static void
sine (float *x, int T, double cycles_per_sample, double phase, double amp)
{
  for (int t = 0; t < T; t++)
    x[t] = (float) (amp * sin (2 * G_PI * cycles_per_sample * t + phase));
}

static void
test_spectral_distance (void)
{
  enum
  {
    L = 128,
    PER = 10,
    N = 2 * PER
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (9);
  g_autofree float *x = g_new (float, N *L);
  int y[N];
  const double f[2] = { 8.0 / L, 40.0 / L };
  for (int i = 0; i < N; i++) {
    y[i] = i % 2;
    sine (x + i * L, L, f[y[i]], g_rand_double_range (rng, 0, 2 * G_PI),
        g_rand_double_range (rng, 0.5, 2.0));
  }
  g_autoptr (SdModel) model = make_model (2, SD_NORM_PER_SERIES, 1);
  g_autoptr (SdDataset) d = make_dataset (x, y, N, L, 2);
  g_autoptr (SdReference) ref = make_reference (model, d, 0.1, 0.5);

  float dream[4 * L];
  sine (dream, L, f[0], 1.234, 1.0);
  SdDreamMetrics same = metrics_ok (ref, 0, dream, L, NULL);
  SdDreamMetrics other = metrics_ok (ref, 1, dream, L, NULL);
  g_test_message ("sine: spectral distance %.4f same, %.4f other",
      same.spectral_distance, other.spectral_distance);
  g_assert_cmpfloat (same.spectral_distance, <, 0.02);
  g_assert_cmpfloat (other.spectral_distance, >, 0.98);
  g_assert_cmpfloat (same.hf_energy, <, 1e-3);
  g_assert_cmpfloat (other.hf_energy, <, 1e-3);

  /* Longer: Welch over reference-length segments, same shape. */
  sine (dream, 3 * L + 17, f[1], 0.3, 1.0);
  SdDreamMetrics welch = metrics_ok (ref, 1, dream, 3 * L + 17, NULL);
  g_test_message ("Welch: spectral distance %.4f", welch.spectral_distance);
  g_assert_cmpfloat (welch.spectral_distance, <, 0.05);
  g_assert_cmpfloat (welch.hf_energy, >, 0.99);
  /* Shorter: zero-padded, broader, still far closer than the other class. */
  sine (dream, L / 2, f[0], 0.3, 1.0);
  SdDreamMetrics pad = metrics_ok (ref, 0, dream, L / 2, NULL);
  SdDreamMetrics pad_other = metrics_ok (ref, 1, dream, L / 2, NULL);
  g_test_message ("zero-padded: spectral distance %.4f same, %.4f other",
      pad.spectral_distance, pad_other.spectral_distance);
  g_assert_cmpfloat (pad.spectral_distance, <, 0.6);
  g_assert_cmpfloat (pad_other.spectral_distance, >, 0.95);
}

static void
test_white_noise_hf (void)
{
  enum
  {
    L = 256,
    N = 30,
    T = 16 * L
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (21);
  g_autofree float *x = g_new (float, N *L);
  g_autofree float *dream = g_new (float, T);
  int y[N] = { 0 };
  for (int i = 0; i < N * L; i++)
    x[i] = (float) gauss (rng);
  for (int t = 0; t < T; t++)
    dream[t] = (float) gauss (rng);
  g_autoptr (SdModel) model = make_model (2, SD_NORM_PER_SERIES, 1);
  g_autoptr (SdDataset) d = make_dataset (x, y, N, L, 2);
  const double cutoffs[] = { 0.5, 0.2, 0.8 };
  for (gsize i = 0; i < G_N_ELEMENTS (cutoffs); i++) {
    g_autoptr (SdReference) ref = make_reference (model, d, 0.1, cutoffs[i]);
    SdDreamMetrics m = metrics_ok (ref, 0, dream, T, NULL);
    g_test_message ("white noise, cut-off %.1f: hf %.3f ratio %.3f", cutoffs[i],
        m.hf_energy, m.hf_ratio);
    assert_close (m.hf_energy, 1.0 - cutoffs[i], 0.03);
    assert_close (m.hf_ratio, 1.0, 0.15);
    g_assert_cmpfloat (m.spectral_distance, <, 0.2);
    /* E |x[t+1] - x[t]| of unit white noise: 2 / sqrt (pi). */
    assert_close (m.tv, 2.0 / sqrt (G_PI), 0.05);
  }
  /* Class b has no series. */
  g_autoptr (SdReference) ref = make_reference (model, d, 0.1, 0.5);
  g_assert_cmpuint (sd_reference_get_class_size (ref, 1), ==, 0);
  g_autoptr (GError) error = NULL;
  SdDreamMetrics m;
  g_assert_false (sd_dream_metrics (ref, 1, dream, L, NULL, &m, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

/* ---- the second model ---- */

static void
test_second_model (void)
{
  enum
  {
    L = 64,
    N = 12
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (4);
  g_autofree float *x = g_new (float, N *L);
  int y[N];
  for (int i = 0; i < N; i++) {
    y[i] = i % 2;
    fill_random_walk (rng, x + i * L, L);
  }
  g_autoptr (SdModel) a = make_model (2, SD_NORM_PER_SERIES, 1);
  g_autoptr (SdModel) b = make_model (2, SD_NORM_PER_SERIES, 2);
  g_autoptr (SdDataset) d = make_dataset (x, y, N, L, 2);
  g_autoptr (SdReference) ref = make_reference (a, d, 0.1, 0.5);

  const int lengths[] = { L, 40, 3 * L };
  for (gsize li = 0; li < G_N_ELEMENTS (lengths); li++)
    for (int trial = 0; trial < 4; trial++) {
      const int T = lengths[li];
      g_autofree float *dream = g_new (float, T);
      fill_random_walk (rng, dream, T);
      sd_model_normalize_input (a, dream, 1, T);
      g_autoptr (GError) error = NULL;
      g_autoptr (SdWorkspace) ws
          = sd_workspace_new (b, 1, T, SD_MODE_EVAL, &error);
      g_assert_no_error (error);
      const float *z = sd_model_forward (b, ws, dream, 1, T);
      int arg = z[1] > z[0] ? 1 : 0;
      for (int target = 0; target < 2; target++) {
        double p = 1.0 / (1.0 + exp ((double) z[1 - target] - z[target]));
        SdDreamMetrics m = metrics_ok (ref, target, dream, T, b);
        g_assert_cmpint (m.second_class, ==, arg);
        assert_close (m.second_probability, p, 1e-6);
      }
    }

  /* Another input space is refused. */
  g_autoptr (SdModel) c = make_model (2, SD_NORM_NONE, 3);
  g_autoptr (SdModel) three = make_model (3, SD_NORM_PER_SERIES, 3);
  SdModel *bad[] = { c, three };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    SdDreamMetrics m;
    g_assert_false (sd_dream_metrics (ref, 0, x, L, bad[i], &m, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  }
}

/* ---- argument checks ---- */

static void
expect_metrics_error (SdReference *ref, int cls, const float *x, int T,
    SdDreamMetrics *out, int code)
{
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_dream_metrics (ref, cls, x, T, NULL, out, &error));
  g_assert_error (error, SD_ERROR, code);
  g_test_message ("%s", error->message);
}

static void
expect_reference_error (
    SdModel *model, SdDataset *d, const SdReferenceConfig *c)
{
  g_autoptr (GError) error = NULL;
  SdReference *ref = sd_reference_new (model, d, c, &error);
  g_assert_null (ref);
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_test_message ("%s", error->message);
}

static void
test_invalid_arguments (void)
{
  g_autoptr (SdModel) model = make_model (2, SD_NORM_NONE, 1);
  g_autoptr (SdDataset) d = make_dataset (handmade_x, handmade_y, 6, 4, 2);
  g_autoptr (SdReference) ref = make_reference (model, d, 0.25, 0.5);
  const float x[] = { 1, 2, 3, 4 };
  SdDreamMetrics m;

  expect_metrics_error (ref, -1, x, 4, &m, SD_ERROR_INVALID_ARG);
  expect_metrics_error (ref, 2, x, 4, &m, SD_ERROR_INVALID_ARG);
  expect_metrics_error (ref, 0, x, 1, &m, SD_ERROR_INVALID_ARG);
  expect_metrics_error (ref, 0, NULL, 4, &m, SD_ERROR_INVALID_ARG);
  expect_metrics_error (ref, 0, x, 4, NULL, SD_ERROR_INVALID_ARG);
  expect_metrics_error (NULL, 0, x, 4, &m, SD_ERROR_INVALID_ARG);
  const float nan[] = { 1, NAN, 3, 4 };
  expect_metrics_error (ref, 0, nan, 4, &m, SD_ERROR_NONFINITE);

  SdReferenceConfig c;
  sd_reference_config_init (&c);
  g_assert_cmpfloat (c.dtw_band_fraction, ==, 0.1);
  g_assert_cmpint (c.max_per_class, ==, 200);
  g_assert_cmpfloat (c.hf_cutoff, ==, 0.5);
  c.dtw_band_fraction = -0.1;
  expect_reference_error (model, d, &c);
  sd_reference_config_init (&c);
  c.max_per_class = 0;
  expect_reference_error (model, d, &c);
  sd_reference_config_init (&c);
  c.hf_cutoff = 1.0;
  expect_reference_error (model, d, &c);
  expect_reference_error (NULL, d, NULL);
  expect_reference_error (model, NULL, NULL);

  /* Labels that are not the model's, too many classes, bad class index. */
  g_autoptr (SdDataset) wrong = make_dataset (handmade_x, handmade_y, 6, 4, 2);
  g_free (wrong->labels[1]);
  wrong->labels[1] = g_strdup ("z");
  expect_reference_error (model, wrong, NULL);
  g_autoptr (SdDataset) many = make_dataset (handmade_x, handmade_y, 6, 4, 3);
  expect_reference_error (model, many, NULL);
  g_autoptr (SdDataset) bady = make_dataset (handmade_x, handmade_y, 6, 4, 2);
  bady->y[2] = 2;
  expect_reference_error (model, bady, NULL);

  /* Fewer classes in the data than in the model is fine. */
  g_autoptr (SdModel) m3 = make_model (3, SD_NORM_NONE, 1);
  g_autoptr (SdReference) r3 = make_reference (m3, d, 0.25, 0.5);
  g_assert_cmpuint (sd_reference_get_class_size (r3, 2), ==, 0);
  expect_metrics_error (r3, 2, x, 4, &m, SD_ERROR_INVALID_ARG);
  metrics_ok (r3, 1, x, 4, NULL);
}

/* ---- concurrency: plans made and destroyed on several threads, metrics
 * of one reference computed on several threads ---- */

typedef struct
{
  SdModel *model;
  SdDataset *data;
  SdReference *shared;
  const float *dreams;
  int n_dreams, T;
  SdDreamMetrics *results;
} ThreadJob;

static void
assert_same_double (double a, double b)
{
  if (isnan (a))
    g_assert_true (isnan (b));
  else
    g_assert_cmpfloat (a, ==, b);
}

static void
assert_same_metrics (const SdDreamMetrics *a, const SdDreamMetrics *b)
{
  assert_same_double (a->nn_euclidean, b->nn_euclidean);
  assert_same_double (a->nn_euclidean_ratio, b->nn_euclidean_ratio);
  assert_same_double (a->nn_dtw, b->nn_dtw);
  assert_same_double (a->nn_dtw_ratio, b->nn_dtw_ratio);
  g_assert_cmpint (a->nn_index, ==, b->nn_index);
  assert_same_double (a->tv, b->tv);
  assert_same_double (a->tv_ratio, b->tv_ratio);
  assert_same_double (a->hf_energy, b->hf_energy);
  assert_same_double (a->hf_ratio, b->hf_ratio);
  assert_same_double (a->spectral_distance, b->spectral_distance);
  g_assert_cmpint (a->second_class, ==, b->second_class);
  assert_same_double (a->second_probability, b->second_probability);
}

static gpointer
thread_main (gpointer p)
{
  ThreadJob *job = p;
  for (int r = 0; r < 10; r++) {
    SdReference *own = make_reference (job->model, job->data, 0.1, 0.5);
    sd_reference_free (own);
  }
  for (int i = 0; i < job->n_dreams; i++)
    job->results[i] = metrics_ok (
        job->shared, i % 2, job->dreams + (gsize) i * job->T, job->T, NULL);
  return NULL;
}

static void
test_threads (void)
{
  enum
  {
    L = 100,
    N = 20,
    ND = 8,
    NT = 3
  };
  g_autoptr (GRand) rng = g_rand_new_with_seed (8);
  g_autofree float *x = g_new (float, N *L);
  g_autofree float *dreams = g_new (float, ND *L);
  int y[N];
  for (int i = 0; i < N; i++) {
    y[i] = i % 2;
    fill_random_walk (rng, x + i * L, L);
  }
  for (int i = 0; i < ND; i++)
    fill_random_walk (rng, dreams + i * L, L);
  g_autoptr (SdModel) model = make_model (2, SD_NORM_NONE, 1);
  g_autoptr (SdDataset) d = make_dataset (x, y, N, L, 2);
  g_autoptr (SdReference) ref = make_reference (model, d, 0.1, 0.5);
  SdDreamMetrics want[ND], got[NT][ND];
  for (int i = 0; i < ND; i++)
    want[i] = metrics_ok (ref, i % 2, dreams + i * L, L, NULL);
  ThreadJob jobs[NT];
  GThread *threads[NT];
  for (int k = 0; k < NT; k++) {
    jobs[k] = (ThreadJob){ model, d, ref, dreams, ND, L, got[k] };
    threads[k] = g_thread_new ("metrics", thread_main, &jobs[k]);
  }
  for (int k = 0; k < NT; k++) {
    g_thread_join (threads[k]);
    for (int i = 0; i < ND; i++)
      assert_same_metrics (&got[k][i], &want[i]);
  }
}

/* ---- real data ---- */

static SdDataset *
load_forda (const char *file, SdModel *model)
{
  const char *dir = g_getenv ("SEQDREAM_DATA");
  g_autofree char *path = g_build_filename (
      dir != NULL ? dir : "../shared/data", "forda", file, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_autofree char *msg = g_strdup_printf (
        "%s is absent (set SEQDREAM_DATA to the shared data folder)", path);
    g_test_skip (msg);
    return NULL;
  }
  g_autoptr (GError) error = NULL;
  SdDataset *d
      = sd_dataset_load_ucr (path, sd_model_get_labels (model), &error);
  g_assert_no_error (error);
  return d;
}

static void
test_forda (void)
{
  const char *const names[] = { "-1", "1", NULL };
  g_autoptr (GError) error = NULL;
  SdArch arch;
  g_assert_true (sd_arch_from_preset ("resnet-small", 2, &arch, &error));
  g_autoptr (SdModel) model = sd_model_new (&arch, names, 1, &error);
  g_assert_no_error (error);
  g_autoptr (SdDataset) train = load_forda ("FordA_TEST_partial.tsv", model);
  if (train == NULL)
    return;
  g_autoptr (SdDataset) test = load_forda ("FordA_TRAIN_partial.tsv", model);
  if (test == NULL)
    return;

  gint64 t0 = g_get_monotonic_time ();
  clock_t c0 = clock ();
  g_autoptr (SdReference) ref = sd_reference_new (model, train, NULL, &error);
  double cpu = (double) (clock () - c0) / CLOCKS_PER_SEC;
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  g_assert_no_error (error);
  g_test_message ("sd_reference_new on FordA (%u x %u, band %d): %.3f s "
                  "(%.3f s CPU)",
      train->n, train->length, (int) lround (0.1 * train->length), seconds,
      cpu);
  g_assert_cmpint (sd_reference_get_length (ref), ==, 500);
  g_assert_cmpuint (sd_reference_get_class_size (ref, 0)
                        + sd_reference_get_class_size (ref, 1),
      ==, train->n);

  /* Held-out real series are as typical as the reference's own: nearest
   * neighbour ratios near 1 each; TV, high-frequency share and spectra
   * vary more from series to series, their medians are near 1 (and the
   * spectral distance of a single periodogram is far from 0). */
  const int L = (int) test->length;
  g_autofree float *z = g_memdup2 (test->x, sizeof (float) * test->n * L);
  sd_model_normalize_input (model, z, (int) test->n, L);
  t0 = g_get_monotonic_time ();
  enum
  {
    N_CHECK = 40
  };
  double tv[N_CHECK], hf[N_CHECK], sp[N_CHECK], lo = INFINITY, hi = 0.0;
  for (int i = 0; i < N_CHECK; i++) {
    SdDreamMetrics m = metrics_ok (ref, test->y[i], z + (gsize) i * L, L, NULL);
    const double r[] = { m.nn_euclidean_ratio, m.nn_dtw_ratio };
    for (gsize k = 0; k < G_N_ELEMENTS (r); k++) {
      g_assert_cmpfloat (r[k], >, 0.3);
      g_assert_cmpfloat (r[k], <, 3.0);
      lo = MIN (lo, r[k]);
      hi = MAX (hi, r[k]);
    }
    g_assert_cmpfloat (m.nn_dtw, <=, m.nn_euclidean);
    tv[i] = m.tv_ratio;
    hf[i] = m.hf_ratio;
    sp[i] = m.spectral_distance;
  }
  double per_call = (g_get_monotonic_time () - t0) / 1e3 / N_CHECK;
  qsort (tv, N_CHECK, sizeof (double), cmp_double);
  qsort (hf, N_CHECK, sizeof (double), cmp_double);
  qsort (sp, N_CHECK, sizeof (double), cmp_double);
  g_test_message ("%d held-out series: nn ratios in [%.2f, %.2f]; medians: "
                  "tv ratio %.2f, hf ratio %.2f, spectral distance %.3f "
                  "(%.3f .. %.3f); %.1f ms per sd_dream_metrics",
      N_CHECK, lo, hi, tv[N_CHECK / 2], hf[N_CHECK / 2], sp[N_CHECK / 2], sp[0],
      sp[N_CHECK - 1], per_call);
  g_assert_cmpfloat (tv[N_CHECK / 2], >, 0.5);
  g_assert_cmpfloat (tv[N_CHECK / 2], <, 2.0);
  g_assert_cmpfloat (hf[N_CHECK / 2], >, 0.5);
  g_assert_cmpfloat (hf[N_CHECK / 2], <, 2.0);
  g_assert_cmpfloat (sp[N_CHECK / 2], <, 0.7);

  /* A reference series finds itself. */
  g_autofree float *row = g_memdup2 (train->x + 17 * L, sizeof (float) * L);
  sd_model_normalize_input (model, row, 1, L);
  SdDreamMetrics m = metrics_ok (ref, train->y[17], row, L, NULL);
  g_assert_cmpint (m.nn_index, ==, 17);
  g_assert_cmpfloat (m.nn_euclidean, ==, 0.0);
  g_assert_cmpfloat (m.nn_dtw, ==, 0.0);

  /* Noise is not a typical FordA series. */
  g_autoptr (GRand) rng = g_rand_new_with_seed (1);
  for (int t = 0; t < L; t++)
    row[t] = (float) gauss (rng);
  m = metrics_ok (ref, 0, row, L, NULL);
  g_test_message ("white noise as FordA: nn ratios %.2f / %.2f, tv %.2f, "
                  "hf %.2f, spectral %.2f",
      m.nn_euclidean_ratio, m.nn_dtw_ratio, m.tv_ratio, m.hf_ratio,
      m.spectral_distance);
  g_assert_cmpfloat (m.nn_dtw_ratio, >, 1.0);
  g_assert_cmpfloat (m.tv_ratio, >, 1.5);
  g_assert_cmpfloat (m.hf_ratio, >, 2.0);
  g_assert_cmpfloat (m.spectral_distance, >, sp[N_CHECK - 1]);
}

/* The narrower kernels (SSE2, plain C) of the nearest-neighbour search
 * give the same results: the reference tests again in child processes
 * that force them. */
static const char *self_path;

static void
test_simd_variants (void)
{
  if (g_getenv ("SEQDREAM_SIMD") != NULL) {
    g_test_skip ("SEQDREAM_SIMD is set: this process is a variant");
    return;
  }
  const char *const variants[] = { "sse2", "none" };
  for (gsize i = 0; i < G_N_ELEMENTS (variants); i++) {
    g_auto (GStrv) env = g_environ_setenv (
        g_get_environ (), "SEQDREAM_SIMD", variants[i], TRUE);
    /* -p runs the tests directly in a suite, not in its sub-suites. */
    const char *argv[] = { self_path, "-p", "/metrics/reference", "-p",
      "/metrics/reference/brute-force", "-p", "/metrics/spectra", NULL };
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr (GError) error = NULL;
    int status = -1;
    g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_DEFAULT,
        NULL, NULL, &out, &err, &status, &error));
    g_assert_no_error (error);
    if (!g_spawn_check_wait_status (status, NULL))
      g_test_message ("SEQDREAM_SIMD=%s:\n%s\n%s", variants[i], out, err);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_test_message (
        "SEQDREAM_SIMD=%s: reference and spectra tests pass", variants[i]);
  }
}

/* ---- envelope spectrum ---- */

/* A bearing-defect signal: an impulse at every 1 / f_defect s (not on
 * the sample grid) rings a resonance of f_res Hz decaying with tau s,
 * plus white noise of sd noise (impulse amplitude 1). */
static float *
impulse_train (GRand *rng, guint n, double rate, double f_defect, double f_res,
    double tau, double noise)
{
  float *x = g_new (float, n);
  for (guint t = 0; t < n; t++) {
    double u1 = g_rand_double_range (rng, 1e-12, 1.0);
    double u2 = g_rand_double (rng);
    x[t] = (float) (noise * sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
  }
  for (double t0 = 0.0; t0 < n / rate; t0 += 1.0 / f_defect)
    for (guint t = (guint) ceil (t0 * rate); t < n; t++) {
      double dt = t / rate - t0;
      if (dt > 10.0 * tau)
        break;
      x[t] += (float) (exp (-dt / tau) * sin (2.0 * G_PI * f_res * dt));
    }
  return x;
}

static void
test_envelope_impulse_train (void)
{
  const double rate = 48000.0, bpfi = 162.1, bpfo = 107.3;
  g_autoptr (GRand) rng = g_rand_new_with_seed (5);
  /* 0.2 s (5 Hz bins) and 1 s (1 Hz bins). */
  const guint lengths[] = { 9600, 48000 };
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++) {
    const guint n = lengths[i];
    g_autofree float *x = impulse_train (rng, n, rate, bpfi, 3000.0, 5e-4, 0.2);
    g_autoptr (GError) error = NULL;
    g_autoptr (SdEnvelopeSpectrum) s
        = sd_envelope_spectrum (x, n, rate, 2000.0, 4000.0, &error);
    g_assert_no_error (error);
    g_assert_nonnull (s);
    g_assert_cmpuint (s->n_bins, ==, n / 2 + 1);
    g_assert_cmpfloat_with_epsilon (s->df, rate / n, 1e-12);
    /* The ringing (about 970 units of energy a second) is in the band,
     * the noise (1920) mostly not: a share of about 0.37. */
    g_assert_cmpfloat (s->band_energy_share, >, 0.25);
    g_assert_cmpfloat (s->band_energy_share, <, 0.5);
    g_assert_cmpfloat (s->band_rms, >, 0.0);
    g_assert_cmpfloat (s->envelope_mean, >, 0.0);

    SdEnvelopePeak peak;
    g_assert_true (sd_envelope_spectrum_peak (s, 20.0, 400.0, &peak, &error));
    g_assert_no_error (error);
    g_test_message ("n %u: dominant %.2f Hz (bin %.1f Hz), prominence %.1f", n,
        peak.frequency, s->df, peak.prominence);
    g_assert_cmpfloat (fabs (peak.frequency - bpfi), <=, s->df);
    g_assert_cmpfloat (fabs (peak.frequency - bpfi), <=, 0.25 * s->df);
    g_assert_cmpuint (peak.bin, ==, (guint) lround (bpfi / s->df));
    g_assert_cmpfloat (peak.prominence, >, 10.0);
    /* The defect frequency and its harmonics stand out, another fault's
     * frequency does not. */
    for (int h = 1; h <= 3; h++)
      g_assert_cmpfloat (sd_envelope_spectrum_prominence (
                             s, h * bpfi, 0.02 * h * bpfi, 20.0, 500.0),
          >, 5.0);
    g_assert_cmpfloat (
        sd_envelope_spectrum_prominence (s, bpfo, 0.02 * bpfo, 20.0, 500.0), <,
        3.0);
    g_assert_cmpfloat (
        sd_envelope_spectrum_median (s, 20.0, 500.0), <, peak.amplitude);

    /* A band without the resonance sees only noise. */
    g_autoptr (SdEnvelopeSpectrum) off
        = sd_envelope_spectrum (x, n, rate, 12000.0, 20000.0, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (off->band_energy_share, <, 0.3);
    g_assert_cmpfloat (
        sd_envelope_spectrum_prominence (off, bpfi, 0.02 * bpfi, 20.0, 500.0),
        <, 4.0);
  }
}

/* An amplitude-modulated carrier c (1 + m cos (2 pi fm t)) cos (2 pi fc t):
 * its envelope is c (1 + m cos), so the envelope spectrum has c m at fm. */
static void
test_envelope_am (void)
{
  const double rate = 48000.0, fc = 5000.0, c = 2.0, m = 0.5;
  const guint n = 9600; /* 5 Hz bins */
  g_autofree float *x = g_new (float, n);
  const double fms[] = { 100.0, 137.3, 212.5 }; /* on a bin, off, half-way */
  for (gsize i = 0; i < G_N_ELEMENTS (fms); i++) {
    const double fm = fms[i];
    for (guint t = 0; t < n; t++)
      x[t] = (float) (c * (1.0 + m * cos (2.0 * G_PI * fm * t / rate))
                      * cos (2.0 * G_PI * fc * t / rate + 0.3));
    g_autoptr (GError) error = NULL;
    g_autoptr (SdEnvelopeSpectrum) s
        = sd_envelope_spectrum (x, n, rate, 4000.0, 6000.0, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat_with_epsilon (s->envelope_mean, c, 5e-3 * c);
    g_assert_cmpfloat_with_epsilon (s->band_energy_share, 1.0, 1e-3);
    g_assert_cmpfloat_with_epsilon (
        s->band_rms, c * sqrt ((1.0 + 0.5 * m * m) / 2.0), 5e-3 * c);
    SdEnvelopePeak peak;
    g_assert_true (sd_envelope_spectrum_peak (s, 20.0, 400.0, &peak, &error));
    g_assert_no_error (error);
    g_test_message ("fm %.1f Hz: %.3f Hz, amplitude %.4f", fm, peak.frequency,
        peak.amplitude);
    g_assert_cmpfloat (fabs (peak.frequency - fm), <, 0.05 * s->df);
    /* Hann scalloping is 15 % half-way between bins; the interpolated
     * amplitude recovers it to a few per cent. */
    g_assert_cmpfloat (fabs (peak.amplitude - c * m), <, 0.05 * c * m);
    if (fm == 100.0) {
      g_assert_cmpfloat_with_epsilon (s->amplitude[20], c * m, 1e-3);
      g_assert_cmpfloat_with_epsilon (peak.amplitude, c * m, 1e-3);
      /* The Hilbert envelope itself, and Parseval for the power. */
      double ms = 0.0, mean = 0.0, total = 0.0;
      for (guint t = 0; t < n; t++)
        mean += x[t] / (double) n;
      for (guint t = 0; t < n; t++) {
        ms += (x[t] - mean) * (x[t] - mean) / n;
        g_assert_cmpfloat_with_epsilon (s->envelope[t],
            c * (1.0 + m * cos (2.0 * G_PI * fm * t / rate)), 1e-3 * c);
      }
      for (guint k = 0; k < s->n_bins; k++)
        total += s->power[k];
      g_assert_cmpfloat_with_epsilon (total, ms, 1e-4 * ms);
      /* The power is at fc and fc +/- fm. */
      g_assert_cmpfloat_with_epsilon (
          s->power[1000], c * c / 2.0, 1e-3 * c * c);
      g_assert_cmpfloat_with_epsilon (
          s->power[980] + s->power[1020], c * c * m * m / 4.0, 1e-3 * c * c);
    }
    /* The band only holds the carrier and its sidebands: nothing else in
     * the envelope. */
    g_assert_cmpfloat (
        sd_envelope_spectrum_median (s, 20.0, 400.0), <, 1e-3 * c * m);
  }

  /* A pure tone has a constant envelope: no peak to find. */
  for (guint t = 0; t < n; t++)
    x[t] = (float) cos (2.0 * G_PI * fc * t / rate);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdEnvelopeSpectrum) s
      = sd_envelope_spectrum (x, n, rate, 4000.0, 6000.0, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (s->amplitude[20], <, 1e-4);

  /* A constant signal: nothing in any band. */
  for (guint t = 0; t < n; t++)
    x[t] = 3.0f;
  g_autoptr (SdEnvelopeSpectrum) flat
      = sd_envelope_spectrum (x, n, rate, 4000.0, 6000.0, &error);
  g_assert_no_error (error);
  g_assert_true (isnan (flat->band_energy_share));
  SdEnvelopePeak peak;
  g_assert_false (sd_envelope_spectrum_peak (flat, 20.0, 400.0, &peak, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "constant envelope"));
  g_assert_true (
      isnan (sd_envelope_spectrum_prominence (flat, 100.0, 5.0, 20.0, 400.0)));
}

#define ASSERT_ENVELOPE_FAILS(x, n, rate, lo, hi, code, text)                  \
  G_STMT_START                                                                 \
  {                                                                            \
    g_autoptr (GError) e_ = NULL;                                              \
    g_assert_null (sd_envelope_spectrum (x, n, rate, lo, hi, &e_));            \
    g_assert_error (e_, SD_ERROR, code);                                       \
    if (strstr (e_->message, text) == NULL)                                    \
      g_error ("message '%s' lacks '%s'", e_->message, text);                  \
  }                                                                            \
  G_STMT_END

static void
test_envelope_invalid (void)
{
  const guint n = 480;
  g_autofree float *x = g_new0 (float, n);
  for (guint t = 0; t < n; t++)
    x[t] = (float) sin (t * 0.7);
  ASSERT_ENVELOPE_FAILS (
      NULL, n, 48000.0, 100.0, 200.0, SD_ERROR_INVALID_ARG, "needs a signal");
  ASSERT_ENVELOPE_FAILS (
      x, 15, 48000.0, 100.0, 2000.0, SD_ERROR_INVALID_ARG, "too short");
  ASSERT_ENVELOPE_FAILS (
      x, 0, 48000.0, 100.0, 2000.0, SD_ERROR_INVALID_ARG, "too short");
  ASSERT_ENVELOPE_FAILS (
      x, n, 0.0, 100.0, 200.0, SD_ERROR_INVALID_ARG, "Sample rate");
  ASSERT_ENVELOPE_FAILS (
      x, n, NAN, 100.0, 200.0, SD_ERROR_INVALID_ARG, "Sample rate");
  ASSERT_ENVELOPE_FAILS (
      x, n, -48000.0, 100.0, 200.0, SD_ERROR_INVALID_ARG, "Sample rate");
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 2000.0, 1000.0, SD_ERROR_INVALID_ARG, "low < high");
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, -5.0, 1000.0, SD_ERROR_INVALID_ARG, "0 <= low");
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 100.0, INFINITY, SD_ERROR_INVALID_ARG, "finite");
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 20000.0, 25000.0, SD_ERROR_INVALID_ARG, "Nyquist");
  ASSERT_ENVELOPE_FAILS (
      x, n, 12000.0, 2000.0, 6001.0, SD_ERROR_INVALID_ARG, "Nyquist");
  /* 100 Hz bins: 1010..1090 Hz holds none. */
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 1010.0, 1090.0, SD_ERROR_INVALID_ARG, "no frequency bin");
  x[17] = NAN;
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 100.0, 2000.0, SD_ERROR_NONFINITE, "sample 17");
  x[17] = INFINITY;
  ASSERT_ENVELOPE_FAILS (
      x, n, 48000.0, 100.0, 2000.0, SD_ERROR_NONFINITE, "sample 17");
  x[17] = 0.0f;

  /* Exactly the minimum length, and a band up to Nyquist, are fine. */
  g_autoptr (GError) error = NULL;
  g_autoptr (SdEnvelopeSpectrum) tiny = sd_envelope_spectrum (
      x, SD_ENVELOPE_MIN_SAMPLES, 48000.0, 0.0, 24000.0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (tiny->n_bins, ==, SD_ENVELOPE_MIN_SAMPLES / 2 + 1);
  g_autoptr (SdEnvelopeSpectrum) s
      = sd_envelope_spectrum (x, n, 48000.0, 1000.0, 24000.0, &error);
  g_assert_no_error (error);

  /* Peak ranges: too narrow, reversed, beyond the spectrum. */
  SdEnvelopePeak peak;
  const double bad[][2] = { { 100.0, 250.0 }, { 500.0, 100.0 },
    { 30000.0, 40000.0 }, { NAN, 500.0 }, { 0.0, 150.0 } };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) e = NULL;
    g_assert_false (
        sd_envelope_spectrum_peak (s, bad[i][0], bad[i][1], &peak, &e));
    g_assert_error (e, SD_ERROR, SD_ERROR_INVALID_ARG);
    g_assert_nonnull (strstr (e->message, "at least 3 bins"));
  }
  g_assert_true (sd_envelope_spectrum_peak (s, 100.0, 300.0, &peak, &error));
  g_assert_no_error (error);
  g_assert_true (isnan (sd_envelope_spectrum_median (s, 30000.0, 40000.0)));
  g_assert_true (
      isnan (sd_envelope_spectrum_prominence (s, -1.0, 5.0, 100.0, 2000.0)));
  g_assert_true (
      isnan (sd_envelope_spectrum_prominence (s, 30000.0, 5.0, 100.0, 2000.0)));
  g_assert_true (
      isnan (sd_envelope_spectrum_prominence (s, 500.0, -5.0, 100.0, 2000.0)));
  g_assert_true (
      isnan (sd_envelope_spectrum_prominence (s, 500.0, 5.0, 3e4, 4e4)));
  sd_envelope_spectrum_free (NULL);
}

static gpointer
envelope_thread (gpointer data)
{
  const float *x = data;
  for (int i = 0; i < 20; i++) {
    g_autoptr (SdEnvelopeSpectrum) s
        = sd_envelope_spectrum (x, 4800, 48000.0, 2000.0, 4000.0, NULL);
    SdEnvelopePeak peak;
    if (s == NULL || !sd_envelope_spectrum_peak (s, 20.0, 400.0, &peak, NULL)
        || fabs (peak.frequency - 162.1) > s->df)
      return GINT_TO_POINTER (1);
  }
  return GINT_TO_POINTER (0);
}

/* Plans are made under the planner lock, so threads may share the
 * function. */
static void
test_envelope_threads (void)
{
  g_autoptr (GRand) rng = g_rand_new_with_seed (9);
  g_autofree float *x
      = impulse_train (rng, 4800, 48000.0, 162.1, 3000.0, 5e-4, 0.1);
  GThread *threads[4];
  for (int i = 0; i < 4; i++)
    threads[i] = g_thread_new ("envelope", envelope_thread, x);
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (threads[i])), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/dtw/naive", test_dtw_matches_naive);
  g_test_add_func ("/metrics/dtw/invalid", test_dtw_invalid);
  g_test_add_func ("/metrics/dtw/abandoning", test_dtw_abandoning);
  g_test_add_func ("/metrics/total-variation", test_total_variation);
  g_test_add_func ("/metrics/reference/handmade", test_reference_handmade);
  static const double band_fractions[] = { 0.0, 0.1, 0.3, 1.0 };
  for (gsize i = 0; i < G_N_ELEMENTS (band_fractions); i++) {
    g_autofree char *path = g_strdup_printf (
        "/metrics/reference/brute-force/band-%g", band_fractions[i]);
    g_test_add_data_func (
        path, &band_fractions[i], test_reference_matches_brute_force);
  }
  self_path = argv[0];
  g_test_add_func ("/metrics/simd-variants", test_simd_variants);
  g_test_add_func ("/metrics/spectra/sines", test_spectral_distance);
  g_test_add_func ("/metrics/spectra/white-noise", test_white_noise_hf);
  g_test_add_func ("/metrics/second-model", test_second_model);
  g_test_add_func ("/metrics/invalid", test_invalid_arguments);
  g_test_add_func ("/metrics/threads", test_threads);
  g_test_add_func ("/metrics/forda", test_forda);
  g_test_add_func (
      "/metrics/envelope/impulse-train", test_envelope_impulse_train);
  g_test_add_func ("/metrics/envelope/am", test_envelope_am);
  g_test_add_func ("/metrics/envelope/invalid", test_envelope_invalid);
  g_test_add_func ("/metrics/envelope/threads", test_envelope_threads);
  return g_test_run ();
}
