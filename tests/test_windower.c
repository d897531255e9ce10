/* The seqdream element's windower (gst-plugin/seqdreamwindower.c), without
 * GStreamer: windows of `window` samples every `hop` from buffers of any
 * size, hop longer than the window, restarts, the tail at the end of the
 * stream, the normalisations and the map back to the data's units.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdreamwindower.h"

#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

/* Every window the windower completes while buffers of random sizes
 * (0 to 3 windows) arrive, checked against the stream sliced directly: the
 * start sample, the samples, and that windows come every hop. */
static void
check_stream (guint window, guint hop, guint n, guint32 seed)
{
  SeqDreamWindower w = { 0 };
  g_autofree gfloat *x = g_new (gfloat, n);
  GRand *rand = g_rand_new_with_seed (seed);
  guint64 expected_start = 0;
  guint n_windows = 0;

  for (guint i = 0; i < n; i++)
    x[i] = (gfloat) i;
  seq_dream_windower_init (&w, window, hop);
  for (guint pos = 0; pos < n;) {
    guint len = (guint) g_rand_int_range (rand, 0, 3 * window);
    guint k;

    len = MIN (len, n - pos);
    seq_dream_windower_append (&w, x + pos, len);
    pos += len;
    g_assert_cmpuint (w.n_received, ==, pos);
    k = seq_dream_windower_n_complete (&w);
    for (guint j = 0; j < k; j++) {
      guint64 start = seq_dream_windower_window_start (&w, j);
      g_assert_cmpuint (start, ==, expected_start);
      g_assert_cmpmem (seq_dream_windower_window (&w, j),
          window * sizeof (gfloat), x + start, window * sizeof (gfloat));
      expected_start += hop;
      n_windows++;
    }
    if (k > 0)
      seq_dream_windower_consume (&w, k);
    /* Never more than a window and a hop of samples kept. */
    g_assert_cmpuint (w.len, <, (gsize) window + hop);
  }
  /* Every window that fits, none more. */
  g_assert_cmpuint (n_windows, ==, (n >= window ? (n - window) / hop + 1 : 0));
  g_rand_free (rand);
  seq_dream_windower_clear (&w);
  g_assert_null (w.acc);
}

static void
test_overlapping_windows (void)
{
  check_stream (4, 2, 10, 1);
  check_stream (64, 32, 10000, 2);
  check_stream (37, 1, 2000, 3);
  check_stream (100, 100, 5000, 4);
}

/* hop > window: the samples between windows are skipped as they arrive,
 * even when one buffer ends inside the skipped stretch. */
static void
test_hop_longer_than_window (void)
{
  check_stream (3, 5, 20, 5);
  check_stream (10, 250, 20000, 6);
}

/* After a restart the next sample is sample 0 again and the partial window
 * before it is gone. */
static void
test_restart (void)
{
  SeqDreamWindower w = { 0 };
  gfloat a[6] = { 1, 2, 3, 4, 5, 6 }, b[4] = { 10, 11, 12, 13 };

  seq_dream_windower_init (&w, 4, 3);
  seq_dream_windower_append (&w, a, 6);
  g_assert_cmpuint (seq_dream_windower_n_complete (&w), ==, 1);
  seq_dream_windower_consume (&w, 1);
  /* 3 samples left ({4, 5, 6}), not a window. */
  g_assert_cmpuint (w.len, ==, 3);
  seq_dream_windower_restart (&w);
  g_assert_cmpuint (w.len, ==, 0);
  g_assert_cmpuint (w.n_received, ==, 0);
  seq_dream_windower_append (&w, b, 4);
  g_assert_cmpuint (seq_dream_windower_n_complete (&w), ==, 1);
  g_assert_cmpuint (seq_dream_windower_window_start (&w, 0), ==, 0);
  g_assert_cmpfloat (seq_dream_windower_window (&w, 0)[0], ==, 10.0f);
  seq_dream_windower_clear (&w);
}

/* An empty buffer maps to NULL: nothing happens (UBSan found the pointer
 * arithmetic on it once, docs/fuzzing.md). */
static void
test_empty_buffer (void)
{
  SeqDreamWindower w = { 0 };

  seq_dream_windower_init (&w, 4, 2);
  seq_dream_windower_append (&w, NULL, 0);
  g_assert_cmpuint (w.len, ==, 0);
  g_assert_cmpuint (w.n_received, ==, 0);
  g_assert_cmpuint (seq_dream_windower_n_complete (&w), ==, 0);
  g_assert_cmpuint (seq_dream_windower_tail (&w), ==, 0);
}

/* The tail at the end of the stream: n samples appended to an empty
 * windower of (window, hop), full windows consumed; the expected tail
 * length (0: dropped). */
static gsize
tail_after (guint window, guint hop, guint n)
{
  SeqDreamWindower w = { 0 };
  g_autofree gfloat *x = g_new0 (gfloat, n + 1);
  guint k;
  gsize tail;

  seq_dream_windower_init (&w, window, hop);
  seq_dream_windower_append (&w, x, n);
  k = seq_dream_windower_n_complete (&w);
  if (k > 0)
    seq_dream_windower_consume (&w, k);
  tail = seq_dream_windower_tail (&w);
  if (tail > 0) {
    guint64 end = w.offset + w.len;
    seq_dream_windower_consume_tail (&w);
    g_assert_cmpuint (w.len, ==, 0);
    g_assert_cmpuint (w.last_window_end, ==, end);
    /* Scored once only. */
    g_assert_cmpuint (seq_dream_windower_tail (&w), ==, 0);
  }
  seq_dream_windower_clear (&w);
  return tail;
}

static void
test_tail (void)
{
  /* Windows [0, 8) and [4, 12); the 6 samples [8, 14) hold 2 that no
   * window covered. */
  g_assert_cmpuint (tail_after (8, 4, 14), ==, 6);
  /* Window [0, 8): [4, 10) is left, [8, 10) uncovered. */
  g_assert_cmpuint (tail_after (8, 4, 10), ==, 6);
  /* Window [0, 8): what is left, [4, 8), was covered. */
  g_assert_cmpuint (tail_after (8, 4, 8), ==, 0);
  /* Window [0, 8): 3 samples left, less than half a window. */
  g_assert_cmpuint (tail_after (8, 8, 11), ==, 0);
  /* No full window: half a window is enough, less is not. */
  g_assert_cmpuint (tail_after (8, 4, 4), ==, 4);
  g_assert_cmpuint (tail_after (8, 4, 3), ==, 0);
  g_assert_cmpuint (tail_after (8, 4, 0), ==, 0);
}

/* Interleaved frames of C channels in buffers of random sizes: window j
 * of channel c is channel c's own stream sliced at j * hop, and setting
 * the channel count restarts (a partial window is dropped). */
static void
test_interleaved_channels (void)
{
  const guint C = 3, window = 16, hop = 5, n = 200;
  SeqDreamWindower w = { 0 };
  g_autofree gfloat *x = g_new (gfloat, n * C);
  gfloat got[16];
  GRand *rand = g_rand_new_with_seed (7);
  guint64 expected_start = 0;

  /* channel c, frame t: 1000 c + t */
  for (guint t = 0; t < n; t++)
    for (guint c = 0; c < C; c++)
      x[t * C + c] = (gfloat) (1000 * c + t);
  seq_dream_windower_init (&w, window, hop);
  seq_dream_windower_append (&w, x, 7);
  seq_dream_windower_set_channels (&w, C);
  g_assert_cmpuint (w.channels, ==, C);
  g_assert_cmpuint (w.len, ==, 0);
  g_assert_cmpuint (w.n_received, ==, 0);
  for (guint pos = 0; pos < n;) {
    guint r = (guint) g_rand_int_range (rand, 0, 40);
    guint len = MIN (r, n - pos);
    guint k;

    seq_dream_windower_append (&w, x + pos * C, len);
    pos += len;
    k = seq_dream_windower_n_complete (&w);
    for (guint j = 0; j < k; j++) {
      guint64 start = seq_dream_windower_window_start (&w, j);
      g_assert_cmpuint (start, ==, expected_start);
      for (guint c = 0; c < C; c++) {
        seq_dream_windower_copy_channel (&w, j, c, got, window);
        for (guint t = 0; t < window; t++)
          g_assert_cmpfloat (got[t], ==, (gfloat) (1000 * c + start + t));
      }
      expected_start += hop;
    }
    if (k > 0)
      seq_dream_windower_consume (&w, k);
  }
  g_assert_cmpuint (
      expected_start, ==, (guint64) ((n - window) / hop + 1) * hop);
  /* Back to one channel: the samples of three channels are dropped. */
  seq_dream_windower_set_channels (&w, 1);
  g_assert_cmpuint (w.len, ==, 0);
  g_assert_null (w.acc);
  g_rand_free (rand);
  seq_dream_windower_clear (&w);
}

static void
test_finite (void)
{
  gfloat x[4] = { 0.0f, 1.0f, -2.0f, 3.0f };

  g_assert_true (seq_dream_window_is_finite (x, 4));
  x[2] = NAN;
  g_assert_false (seq_dream_window_is_finite (x, 4));
  g_assert_true (seq_dream_window_is_finite (x, 2));
  x[2] = -INFINITY;
  g_assert_false (seq_dream_window_is_finite (x, 4));
}

static void
test_normalize_per_series (void)
{
  SeqDreamWindower w = { 0 };
  gfloat x[4] = { 1.0f, 2.0f, 3.0f, 6.0f }, flat[3] = { 5.0f, 5.0f, 5.0f };
  gdouble mean, sd, m = 0.0, v = 0.0;

  w.norm.mode = SD_NORM_PER_SERIES;
  seq_dream_windower_normalize (&w, x, 4, &mean, &sd);
  g_assert_cmpfloat_with_epsilon (mean, 3.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (sd, sqrt (3.5), 1e-12);
  for (guint t = 0; t < 4; t++)
    m += x[t] / 4.0;
  for (guint t = 0; t < 4; t++)
    v += (x[t] - m) * (x[t] - m) / 4.0;
  g_assert_cmpfloat_with_epsilon (m, 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (v, 1.0, 1e-6);
  /* data = normalised * sd + mean */
  g_assert_cmpfloat_with_epsilon (x[3] * sd + mean, 6.0, 1e-5);

  /* A flat window carries no shape: zeros, and a map of scale 1. */
  seq_dream_windower_normalize (&w, flat, 3, &mean, &sd);
  g_assert_cmpfloat (mean, ==, 5.0);
  g_assert_cmpfloat (sd, ==, 1.0);
  for (guint t = 0; t < 3; t++)
    g_assert_cmpfloat (flat[t], ==, 0.0f);
}

static void
test_normalize_fixed_and_none (void)
{
  SeqDreamWindower w = { 0 };
  gfloat x[3] = { 1.0f, 3.0f, 5.0f };
  gdouble mean, sd;

  w.norm.mode = SD_NORM_FIXED;
  w.norm.mean = 1.0f;
  w.norm.std = 2.0f;
  seq_dream_windower_normalize (&w, x, 3, &mean, &sd);
  g_assert_cmpfloat (mean, ==, 1.0);
  g_assert_cmpfloat (sd, ==, 2.0);
  g_assert_cmpfloat (x[0], ==, 0.0f);
  g_assert_cmpfloat (x[1], ==, 1.0f);
  g_assert_cmpfloat (x[2], ==, 2.0f);

  w.norm.mode = SD_NORM_NONE;
  seq_dream_windower_normalize (&w, x, 3, &mean, &sd);
  g_assert_cmpfloat (mean, ==, 0.0);
  g_assert_cmpfloat (sd, ==, 1.0);
  g_assert_cmpfloat (x[2], ==, 2.0f);
}

/* The windower normalises as the model does (one rule, the library's):
 * the same samples, bit for bit, as sd_model_normalize_input. */
static void
test_normalize_model_rule (void)
{
  const gchar *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_autofree gchar *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = NULL;
  SdNormalization z = { SD_NORM_PER_SERIES, 0.0f, 1.0f };
  SeqDreamWindower w = { 0 };
  gfloat a[50], b[50];
  gdouble mean, sd;

  if (dir == NULL) {
    g_test_skip ("SEQDREAM_TEST_DATA is not set");
    return;
  }
  path = g_build_filename (
      dir, "golden", "resnet-small.model.safetensors", NULL);
  model = sd_model_load (path, &error);
  g_assert_no_error (error);
  sd_model_set_normalization (model, z);
  for (guint t = 0; t < 50; t++)
    a[t] = b[t] = (gfloat) (sin (0.3 * t) * 4.0 + 0.01 * t * t);

  w.norm = z;
  seq_dream_windower_normalize (&w, a, 50, &mean, &sd);
  sd_model_normalize_input (model, b, 1, 50);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_cmpfloat (sd, >, 1.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/windower/overlapping", test_overlapping_windows);
  g_test_add_func (
      "/windower/hop-longer-than-window", test_hop_longer_than_window);
  g_test_add_func ("/windower/restart", test_restart);
  g_test_add_func ("/windower/empty-buffer", test_empty_buffer);
  g_test_add_func ("/windower/tail", test_tail);
  g_test_add_func ("/windower/finite", test_finite);
  g_test_add_func ("/windower/channels", test_interleaved_channels);
  g_test_add_func ("/windower/normalize/per-series", test_normalize_per_series);
  g_test_add_func (
      "/windower/normalize/fixed-and-none", test_normalize_fixed_and_none);
  g_test_add_func ("/windower/normalize/model-rule", test_normalize_model_rule);
  return g_test_run ();
}
