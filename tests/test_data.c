/* Tests of the dataset loaders (UCR text, WAV windows) and helpers.
 *
 * Fixtures come from $SEQDREAM_TEST_DATA (tests/data); the real FordA and
 * CWRU data from $SEQDREAM_DATA (../shared/data), and the tests that need
 * it are skipped when it is absent.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/data.h>
#include <seqdream/error.h>

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <sndfile.h>

static char *tmp_dir;
static GPtrArray *tmp_files;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static char *
tmp_path (const char *name)
{
  char *path = g_build_filename (tmp_dir, name, NULL);

  g_ptr_array_add (tmp_files, g_strdup (path));
  return path;
}

static char *
write_text (const char *name, const char *contents)
{
  char *path = tmp_path (name);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_sound (const char *name, int channels, int rate, int format,
    const float *samples, sf_count_t frames)
{
  char *path = tmp_path (name);
  SF_INFO info = { 0 };
  SNDFILE *sf;

  info.channels = channels;
  info.samplerate = rate;
  info.format = format;
  sf = sf_open (path, SFM_WRITE, &info);
  g_assert_nonnull (sf);
  g_assert_cmpint (sf_writef_float (sf, samples, frames), ==, frames);
  g_assert_cmpint (sf_close (sf), ==, 0);
  return path;
}

/* Mono float WAV whose sample i is offset + i, so windows show where they
 * were cut. */
static char *
write_ramp (const char *name, int rate, guint n, float offset)
{
  g_autofree float *x = g_new (float, MAX (n, 1));
  guint i;

  for (i = 0; i < n; i++)
    x[i] = offset + (float) i;
  return write_sound (
      name, 1, rate, SF_FORMAT_WAV | SF_FORMAT_FLOAT, x, (sf_count_t) n);
}

/* Asserts err is SD_ERROR/code and its message holds every needle (a
 * NULL-terminated list). */
static void
assert_error (const GError *err, int code, ...)
{
  const char *needle;
  va_list ap;

  g_assert_nonnull (err);
  g_test_message ("expected error: %s", err->message);
  g_assert_error (err, SD_ERROR, code);
  va_start (ap, code);
  while ((needle = va_arg (ap, const char *)) != NULL) {
    if (strstr (err->message, needle) == NULL)
      g_error (
          "error message “%s” does not mention “%s”", err->message, needle);
  }
  va_end (ap);
}

static char *
fixture_path (const char *name)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");

  if (dir != NULL)
    return g_build_filename (dir, name, NULL);
  return g_test_build_filename (G_TEST_DIST, "data", name, NULL);
}

/* The real data, or NULL (and the test skipped) when it is absent. */
static char *
real_data_path (const char *rel)
{
  const char *dir = g_getenv ("SEQDREAM_DATA");
  char *path = g_build_filename (dir ? dir : "../shared/data", rel, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_autofree char *msg = g_strdup_printf ("real data %s not found "
                                            "(set SEQDREAM_DATA to the "
                                            "shared data folder)",
        path);
    g_test_skip (msg);
    g_free (path);
    return NULL;
  }
  return path;
}

static void
assert_labels (const SdDataset *ds, ...)
{
  const char *label;
  guint i = 0;
  va_list ap;

  va_start (ap, ds);
  while ((label = va_arg (ap, const char *)) != NULL) {
    g_assert_cmpuint (i, <, ds->n_classes);
    g_assert_cmpstr (ds->labels[i], ==, label);
    i++;
  }
  va_end (ap);
  g_assert_cmpuint (ds->n_classes, ==, i);
  g_assert_null (ds->labels[i]);
}

static guint
count_class (const SdDataset *ds, int k)
{
  guint i, c = 0;

  for (i = 0; i < ds->n; i++)
    c += ds->y[i] == k;
  return c;
}

static void
assert_zscored_rows (const SdDataset *ds, double tol)
{
  guint i, t;

  for (i = 0; i < ds->n; i++) {
    const float *r = ds->x + (gsize) i * ds->length;
    double m = 0, v = 0;

    for (t = 0; t < ds->length; t++)
      m += r[t];
    m /= ds->length;
    for (t = 0; t < ds->length; t++)
      v += (r[t] - m) * (r[t] - m);
    v /= ds->length;
    g_assert_cmpfloat_with_epsilon (m, 0.0, tol);
    g_assert_cmpfloat_with_epsilon (sqrt (v), 1.0, tol);
  }
}

/* ------------------------------------------------------------------ */
/* UCR                                                                 */

static void
test_ucr_fixtures (void)
{
  g_autofree char *train_path = fixture_path ("ucr-small.tsv");
  g_autofree char *test_path = fixture_path ("ucr-small-test.tsv");
  g_autofree char *txt_path = fixture_path ("ucr-3class.txt");
  g_autoptr (SdDataset) train = NULL;
  g_autoptr (SdDataset) test = NULL;
  g_autoptr (SdDataset) txt = NULL;
  g_autoptr (GError) error = NULL;
  guint i;

  train = sd_dataset_load_ucr (train_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (train->n, ==, 40);
  g_assert_cmpuint (train->length, ==, 64);
  g_assert_cmpfloat (train->sample_rate, ==, 0);
  assert_labels (train, "-1", "1", NULL);
  for (i = 0; i < train->n; i++)
    g_assert_cmpint (train->y[i], ==, (int) (i % 2));
  assert_zscored_rows (train, 1e-4);

  test = sd_dataset_load_ucr (
      test_path, (const char *const *) train->labels, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (test->n, ==, 20);
  g_assert_cmpuint (test->length, ==, 64);
  assert_labels (test, "-1", "1", NULL);
  g_assert_cmpuint (count_class (test, 1), ==, 10);

  txt = sd_dataset_load_ucr (txt_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (txt->n, ==, 30);
  g_assert_cmpuint (txt->length, ==, 48);
  assert_labels (txt, "inner", "normal", "outer", NULL);
  g_assert_cmpint (txt->y[0], ==, 1);
  g_assert_cmpint (txt->y[1], ==, 0);
  g_assert_cmpint (txt->y[2], ==, 2);
  assert_zscored_rows (txt, 1e-5);
}

/* Every layout must give the same two rows: 1 | 0.5 -2 3e2, 2 | 1 2 3. */
static void
test_ucr_separators (void)
{
  static const char *const layouts[] = {
    "1\t0.5\t-2\t3e2\n2\t1\t2\t3\n",
    "1,0.5,-2,3e2\n2,1,2,3",
    "1, 0.5 ,-2 , 3e2\n2 ,1,2,3\n",
    "  1  5.0000000e-01  -2.0000000e+00  3.0000000e+02\n"
    "  2  1.0000000e+00  2.0000000e+00  3.0000000e+00\n",
    "1\t0.5 -2,3e2\t\n\n\n2 1\t\t2  3\n\n",
    "1\t0.5\t-2\t3e2\r\n2\t1\t2\t3\r\n",
    "1\t0.5\t-2\t3e2\r\n\r\n2\t1\t2\t3",
    "1\t0.5\t-2\t3e2\r2\t1\t2\t3\r",
    "\xEF\xBB\xBF"
    "1\t0.5\t-2\t3e2\n2\t1\t2\t3\n",
    "\n  \t\n1\t+0.5\t-2.\t300\n2\t1\t2\t3\n\t\n",
  };
  static const float expect[] = { 0.5f, -2.f, 300.f, 1.f, 2.f, 3.f };
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (layouts); i++) {
    g_autofree char *name = g_strdup_printf ("sep-%u.txt", i);
    g_autofree char *path = write_text (name, layouts[i]);
    g_autoptr (GError) error = NULL;
    g_autoptr (SdDataset) ds = sd_dataset_load_ucr (path, NULL, &error);

    g_test_message ("layout %u", i);
    g_assert_no_error (error);
    g_assert_cmpuint (ds->n, ==, 2);
    g_assert_cmpuint (ds->length, ==, 3);
    assert_labels (ds, "1", "2", NULL);
    g_assert_cmpint (ds->y[0], ==, 0);
    g_assert_cmpint (ds->y[1], ==, 1);
    for (j = 0; j < 6; j++)
      g_assert_cmpfloat (ds->x[j], ==, expect[j]);
  }
}

static SdDataset *
load_text (const char *name, const char *contents, const char *const *labels,
    GError **error)
{
  g_autofree char *path = write_text (name, contents);

  return sd_dataset_load_ucr (path, labels, error);
}

static void
test_ucr_label_order (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) num = NULL;
  g_autoptr (SdDataset) merged = NULL;
  g_autoptr (SdDataset) lex = NULL;
  g_autoptr (SdDataset) one = NULL;

  /* Numeric: -1 < 1 < 2 < 10 (not "10" < "2"). */
  num = load_text (
      "num.tsv", "10\t1\n2\t2\n-1\t3\n1\t4\n10\t5\n", NULL, &error);
  g_assert_no_error (error);
  assert_labels (num, "-1", "1", "2", "10", NULL);
  g_assert_cmpint (num->y[0], ==, 3);
  g_assert_cmpint (num->y[1], ==, 2);
  g_assert_cmpint (num->y[2], ==, 0);
  g_assert_cmpint (num->y[3], ==, 1);
  g_assert_cmpint (num->y[4], ==, 3);

  /* Tokens of the same value are one class, named by the smallest. */
  merged = load_text (
      "merged.tsv", "1.0\t1\n2.5\t2\n1\t3\n1e0\t4\n", NULL, &error);
  g_assert_no_error (error);
  assert_labels (merged, "1", "2.5", NULL);
  g_assert_cmpint (merged->y[0], ==, 0);
  g_assert_cmpint (merged->y[1], ==, 1);
  g_assert_cmpint (merged->y[2], ==, 0);
  g_assert_cmpint (merged->y[3], ==, 0);

  /* One non-number makes the order lexicographic (g_strcmp0). */
  lex = load_text ("lex.tsv",
      "normal\t1\nabnormal\t2\nZeta\t3\n1\t4\n10\t5\n2\t6\n", NULL, &error);
  g_assert_no_error (error);
  assert_labels (lex, "1", "10", "2", "Zeta", "abnormal", "normal", NULL);
  g_assert_cmpint (lex->y[0], ==, 5);
  g_assert_cmpint (lex->y[3], ==, 0);

  /* "nan" is not a numeric label. */
  one = load_text ("nanlabel.tsv", "nan\t1\n1\t2\n", NULL, &error);
  g_assert_no_error (error);
  assert_labels (one, "1", "nan", NULL);
}

static void
test_ucr_known_labels (void)
{
  static const char *const known[] = { "-1", "1", NULL };
  static const char *const empty[] = { NULL };
  static const char *const twice[] = { "a", "b", "a", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) only1 = NULL;
  g_autoptr (SdDataset) old = NULL;
  SdDataset *bad;

  /* A file with one class keeps the whole label set. */
  only1 = load_text ("only1.tsv", "1\t1\t2\n1\t3\t4\n", known, &error);
  g_assert_no_error (error);
  assert_labels (only1, "-1", "1", NULL);
  g_assert_cmpint (only1->y[0], ==, 1);
  g_assert_cmpint (only1->y[1], ==, 1);

  /* Old .txt labels written as floats match by value. */
  old = load_text ("old.txt", "  1.0000000e+00  1  2\n -1.0000000e+00  3  4\n",
      known, &error);
  g_assert_no_error (error);
  assert_labels (old, "-1", "1", NULL);
  g_assert_cmpint (old->y[0], ==, 1);
  g_assert_cmpint (old->y[1], ==, 0);

  bad = load_text ("unknown.tsv", "1\t1\t2\n\n2\t3\t4\n", known, &error);
  g_assert_null (bad);
  assert_error (
      error, SD_ERROR_FORMAT, "unknown.tsv:3:", "“2”", "“-1”", "“1”", NULL);
  g_clear_error (&error);

  bad = load_text ("empty-set.tsv", "1\t1\n", empty, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "empty", NULL);
  g_clear_error (&error);

  bad = load_text ("twice.tsv", "a\t1\n", twice, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "“a” twice", NULL);
  g_clear_error (&error);
}

typedef struct
{
  const char *contents;
  int code;
  const char *needles[4];
} BadText;

static void
test_ucr_errors (void)
{
  static const BadText cases[] = {
    { "1\t1\t2\t3\n2\t1\t2\n", SD_ERROR_FORMAT,
        { ":2:", "expected 3 values", "found 2", "line 1" } },
    { "\n1 1 2\n1 1 2 3\n", SD_ERROR_FORMAT,
        { ":3:", "expected 2 values", "found 3", "line 2" } },
    { "1\t1\tabc\t3\n", SD_ERROR_FORMAT, { ":1:", "“abc”", "value 2" } },
    { "1\t1\t2\n1\t1\t2x\n", SD_ERROR_FORMAT, { ":2:", "“2x”", "number" } },
    { "1\t1\t-\n", SD_ERROR_FORMAT, { ":1:", "“-”" } },
    { "1,2\r\n1,2\r\n1,z\r\n", SD_ERROR_FORMAT, { ":3:", "“z”" } },
    { "1 1\r1 2\r1 3\rx\r", SD_ERROR_FORMAT, { ":4:", "“x”", "no values" } },
    { "1\t1\tNaN\n", SD_ERROR_NONFINITE, { ":1:", "“NaN”", "not finite" } },
    { "1\t1\t2\n1\tinf\t2\n", SD_ERROR_NONFINITE, { ":2:", "“inf”" } },
    { "1\t-Infinity\t2\n", SD_ERROR_NONFINITE, { "“-Infinity”" } },
    { "1\t1e999\t2\n", SD_ERROR_NONFINITE, { "“1e999”" } },
    { "1\t1e39\t2\n", SD_ERROR_NONFINITE, { "“1e39”", "32-bit float" } },
    { "1\t1\t2\n3\n", SD_ERROR_FORMAT, { ":2:", "“3”", "no values" } },
    { "1\t1\t2\n\n3\t\n", SD_ERROR_FORMAT, { ":3:", "no values" } },
    { "1,2,,3\n", SD_ERROR_FORMAT, { ":1:", "value 2 is empty" } },
    { "1,2,3,\n", SD_ERROR_FORMAT, { ":1:", "trailing comma" } },
    { ",1,2\n", SD_ERROR_FORMAT, { ":1:", "empty label" } },
    { "", SD_ERROR_FORMAT, { "no series" } },
    { "\n\n  \t\r\n\n", SD_ERROR_FORMAT, { "no series" } },
  };
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *name = g_strdup_printf ("bad-%u.tsv", i);
    g_autoptr (GError) error = NULL;
    SdDataset *ds = load_text (name, cases[i].contents, NULL, &error);

    g_test_message ("case %u", i);
    g_assert_null (ds);
    assert_error (error, cases[i].code, name, NULL);
    for (j = 0; j < G_N_ELEMENTS (cases[i].needles); j++)
      if (cases[i].needles[j] != NULL)
        assert_error (error, cases[i].code, cases[i].needles[j], NULL);
  }
}

static void
test_ucr_binary (void)
{
  static const char bin[] = "1\t1\t2\na\0b\t1\t2\n1\t1\0\t2\n";
  g_autofree char *path = tmp_path ("binary.tsv");
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, bin, sizeof bin - 1, &error);
  g_assert_no_error (error);
  g_assert_null (sd_dataset_load_ucr (path, NULL, &error));
  assert_error (error, SD_ERROR_FORMAT, "binary.tsv:2:", "NUL", NULL);
}

static void
test_ucr_missing (void)
{
  g_autofree char *path = g_build_filename (tmp_dir, "no-such.tsv", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_null (sd_dataset_load_ucr (path, NULL, &error));
  assert_error (error, SD_ERROR_IO, path, NULL);
}

/* The in-memory loader gives what the file loader gives, names the display
 * name in errors, and stops at the end of the bytes even when they are
 * followed by more digits (GBytes need not be NUL-terminated). */
static void
test_ucr_from_bytes (void)
{
  static const char text[] = "2\t0.5\t-1\n1\t3\t2.25" /* end */ "75\n";
  g_autofree char *path = fixture_path ("ucr-3class.txt");
  g_autofree char *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GBytes) cut = NULL;
  g_autoptr (GBytes) bad = NULL;
  g_autoptr (SdDataset) from_file = NULL;
  g_autoptr (SdDataset) from_mem = NULL;
  g_autoptr (SdDataset) small = NULL;
  g_autoptr (SdDataset) mapped = NULL;
  static const char *const known[] = { "2", "1", NULL };

  g_file_get_contents (path, &contents, &len, &error);
  g_assert_no_error (error);
  bytes = g_bytes_new (contents, len);
  from_file = sd_dataset_load_ucr (path, NULL, &error);
  g_assert_no_error (error);
  from_mem = sd_dataset_load_ucr_from_bytes (bytes, "mem.txt", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (from_mem->n, ==, from_file->n);
  g_assert_cmpuint (from_mem->length, ==, from_file->length);
  g_assert_cmpmem (from_mem->x, from_mem->n * from_mem->length * sizeof (float),
      from_file->x, from_file->n * from_file->length * sizeof (float));
  g_assert_cmpmem (from_mem->y, from_mem->n * sizeof (int), from_file->y,
      from_file->n * sizeof (int));
  assert_labels (from_mem, "inner", "normal", "outer", NULL);

  /* The last value ends with the bytes: 2.25, not 2.2575. */
  cut = g_bytes_new_static (text, strlen ("2\t0.5\t-1\n1\t3\t2.25"));
  small = sd_dataset_load_ucr_from_bytes (cut, "cut.txt", NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (small->n, ==, 2);
  g_assert_cmpuint (small->length, ==, 2);
  assert_labels (small, "1", "2", NULL);
  g_assert_cmpint (small->y[0], ==, 1);
  g_assert_cmpfloat (small->x[3], ==, 2.25f);

  mapped = sd_dataset_load_ucr_from_bytes (cut, "cut.txt", known, &error);
  g_assert_no_error (error);
  g_assert_cmpint (mapped->y[0], ==, 0);
  g_assert_cmpint (mapped->y[1], ==, 1);

  bad = g_bytes_new_static ("1\t2\t3\n1\t2\n", 10);
  g_assert_null (sd_dataset_load_ucr_from_bytes (bad, "bad.txt", NULL, &error));
  assert_error (
      error, SD_ERROR_FORMAT, "bad.txt:2:", "expected 2 values", NULL);
}

static void
test_ucr_forda (void)
{
  g_autofree char *test_path = real_data_path ("forda/FordA_TEST_partial.tsv");
  g_autofree char *train_path = NULL;
  g_autoptr (SdDataset) big = NULL;
  g_autoptr (SdDataset) small = NULL;
  g_autoptr (GError) error = NULL;
  gint64 t0;
  double secs;

  if (test_path == NULL)
    return;
  train_path = real_data_path ("forda/FordA_TRAIN_partial.tsv");
  if (train_path == NULL)
    return;

  t0 = g_get_monotonic_time ();
  big = sd_dataset_load_ucr (test_path, NULL, &error);
  secs = (g_get_monotonic_time () - t0) / 1e6;
  g_assert_no_error (error);
  g_test_message ("FordA_TEST_partial.tsv (1319 x 500) loaded in %.3f s", secs);
  g_assert_cmpuint (big->n, ==, 1319);
  g_assert_cmpuint (big->length, ==, 500);
  assert_labels (big, "-1", "1", NULL);
  g_assert_cmpuint (count_class (big, 0), ==, 680);
  g_assert_cmpuint (count_class (big, 1), ==, 639);
  g_assert_cmpint (big->y[0], ==, 0);
  g_assert_cmpfloat (big->x[0], ==, 0.33403757f);
  g_assert_cmpfloat (big->x[1], ==, 0.32225332f);
  /* FordA is z-normalised with the sample sd: sqrt (499 / 500) here. */
  assert_zscored_rows (big, 2e-3);
#if !defined(__SANITIZE_ADDRESS__)
  g_assert_cmpfloat (secs, <, 2.0);
#endif

  small = sd_dataset_load_ucr (
      train_path, (const char *const *) big->labels, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (small->n, ==, 577);
  g_assert_cmpuint (small->length, ==, 500);
  assert_labels (small, "-1", "1", NULL);
  g_assert_cmpuint (count_class (small, 0), ==, 295);
  g_assert_cmpuint (count_class (small, 1), ==, 282);
}

/* ------------------------------------------------------------------ */
/* WAV windows, synthetic                                              */

/* Asserts that window w of ds starts at sample value start (ramps). */
static void
assert_window_at (const SdDataset *ds, guint w, float start)
{
  guint k;

  for (k = 0; k < ds->length; k++)
    g_assert_cmpfloat (ds->x[(gsize) w * ds->length + k], ==, start + k);
}

static SdDataset *
load_one (const char *path, const char *label, guint window, guint hop,
    SdSplitPart part, double frac, GError **error)
{
  SdWavSource src = { path, label };

  return sd_dataset_load_wav_windows (
      &src, 1, window, hop, part, frac, NULL, error);
}

static void
test_wav_all (void)
{
  g_autofree char *path = write_ramp ("ramp100.wav", 1000, 100, 0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) ds = NULL;
  g_autoptr (SdDataset) sparse = NULL;
  guint w;

  /* train_fraction is ignored for SD_SPLIT_ALL. */
  ds = load_one (path, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 19);
  g_assert_cmpuint (ds->length, ==, 10);
  g_assert_cmpfloat (ds->sample_rate, ==, 1000);
  assert_labels (ds, "a", NULL);
  for (w = 0; w < ds->n; w++) {
    g_assert_cmpint (ds->y[w], ==, 0);
    assert_window_at (ds, w, 5.f * w);
    /* where each window comes from */
    g_assert_cmpuint (ds->source[w], ==, 0);
    g_assert_cmpint (ds->start[w], ==, 5 * w);
  }
  /* ... kept by a subset */
  {
    const guint idx[2] = { 7, 2 };
    g_autoptr (SdDataset) sub = sd_dataset_subset (ds, idx, 2);
    g_assert_cmpint (sub->start[0], ==, 35);
    g_assert_cmpint (sub->start[1], ==, 10);
    g_assert_cmpuint (sub->source[1], ==, 0);
  }

  /* hop > window leaves gaps; the last window ends at the last sample. */
  sparse = load_one (path, "a", 10, 30, SD_SPLIT_ALL, 0.7, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sparse->n, ==, 4);
  for (w = 0; w < sparse->n; w++)
    assert_window_at (sparse, w, 30.f * w);
}

static void
check_split (const char *path, guint n_samples, guint window, guint hop,
    double frac, guint train_end, guint n_train, guint n_test)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) train = NULL;
  g_autoptr (SdDataset) test = NULL;
  float last_train_end, first_test;
  guint w;

  train = load_one (path, "a", window, hop, SD_SPLIT_TRAIN, frac, &error);
  g_assert_no_error (error);
  test = load_one (path, "a", window, hop, SD_SPLIT_TEST, frac, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (train->n, ==, n_train);
  g_assert_cmpuint (test->n, ==, n_test);
  for (w = 0; w < train->n; w++) {
    assert_window_at (train, w, (float) (w * hop));
    g_assert_cmpint (train->start[w], ==, (gint64) w * hop);
  }
  for (w = 0; w < test->n; w++) {
    assert_window_at (test, w, (float) (train_end + window + w * hop));
    g_assert_cmpint (test->start[w], ==, (gint64) train_end + window + w * hop);
  }

  /* Train windows inside [0, train_end), test windows inside
   * [train_end + window, n): one full window of gap, no overlap. */
  last_train_end = train->x[(gsize) train->n * window - 1] + 1;
  first_test = test->x[0];
  g_assert_cmpfloat (last_train_end, <=, train_end);
  g_assert_cmpfloat (first_test, >=, train_end + window);
  g_assert_cmpfloat (test->x[(gsize) test->n * window - 1], <, n_samples);
}

static void
test_wav_split (void)
{
  g_autofree char *path = write_ramp ("split100.wav", 1000, 100, 0);
  g_autofree char *odd = write_ramp ("split1001.wav", 1000, 1001, 0);

  /* train_end 50: starts 0..40; test starts 60..90. */
  check_split (path, 100, 10, 5, 0.5, 50, 9, 7);
  /* 0.29 * 100 is 28.999999999999996 in binary, but means 29. */
  check_split (path, 100, 10, 5, 0.29, 29, 4, 11);
  /* hop = window: no overlap inside a part either. */
  check_split (path, 100, 10, 10, 0.7, 70, 7, 2);
  /* train_end = floor (0.7 * 1001) = 700; test from 764. */
  check_split (odd, 1001, 64, 32, 0.7, 700, 20, 6);
}

static void
test_wav_labels (void)
{
  g_autofree char *b1 = write_ramp ("b1.wav", 2000, 100, 0);
  g_autofree char *a1 = write_ramp ("a1.wav", 2000, 50, 1000);
  g_autofree char *b2 = write_ramp ("b2.wav", 2000, 30, 2000);
  static const char *const known[] = { "x", "b", "a", NULL };
  static const char *const wrong[] = { "a", "c", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) ds = NULL;
  g_autoptr (SdDataset) mapped = NULL;
  g_autoptr (SdDataset) num = NULL;
  SdDataset *bad;
  guint w;
  SdWavSource src[3] = { { b1, "b" }, { a1, "a" }, { b2, "b" } };
  SdWavSource nsrc[2] = { { b1, "10" }, { a1, "2" } };

  ds = sd_dataset_load_wav_windows (
      src, 3, 10, 10, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 10 + 5 + 3);
  g_assert_cmpfloat (ds->sample_rate, ==, 2000);
  assert_labels (ds, "a", "b", NULL);
  for (w = 0; w < 10; w++) {
    g_assert_cmpint (ds->y[w], ==, 1);
    assert_window_at (ds, w, 10.f * w);
  }
  for (w = 0; w < 5; w++) {
    g_assert_cmpint (ds->y[10 + w], ==, 0);
    assert_window_at (ds, 10 + w, 1000 + 10.f * w);
  }
  for (w = 0; w < 3; w++) {
    g_assert_cmpint (ds->y[15 + w], ==, 1);
    assert_window_at (ds, 15 + w, 2000 + 10.f * w);
  }
  /* each window's recording and first sample in it */
  g_assert_cmpuint (ds->source[9], ==, 0);
  g_assert_cmpuint (ds->source[10], ==, 1);
  g_assert_cmpint (ds->start[10], ==, 0);
  g_assert_cmpuint (ds->source[17], ==, 2);
  g_assert_cmpint (ds->start[17], ==, 20);

  mapped = sd_dataset_load_wav_windows (
      src, 3, 10, 10, SD_SPLIT_ALL, 0, known, &error);
  g_assert_no_error (error);
  assert_labels (mapped, "x", "b", "a", NULL);
  g_assert_cmpint (mapped->y[0], ==, 1);
  g_assert_cmpint (mapped->y[10], ==, 2);

  num = sd_dataset_load_wav_windows (
      nsrc, 2, 10, 10, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_no_error (error);
  assert_labels (num, "2", "10", NULL);
  g_assert_cmpint (num->y[0], ==, 1);
  g_assert_cmpint (num->y[10], ==, 0);

  bad = sd_dataset_load_wav_windows (
      src, 3, 10, 10, SD_SPLIT_ALL, 0, wrong, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "“b”", b1, NULL);
  g_clear_error (&error);
}

static void
test_wav_formats (void)
{
  static const float pcm[] = { 0.5f, -0.25f, 0.f, 0.75f };
  g_autofree char *p16 = write_sound (
      "pcm16.wav", 1, 8000, SF_FORMAT_WAV | SF_FORMAT_PCM_16, pcm, 4);
  g_autofree char *flac = write_sound (
      "pcm.flac", 1, 8000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, pcm, 4);
  g_autofree char *normal = fixture_path ("wav-normal.wav");
  g_autofree char *fault = fixture_path ("wav-fault.wav");
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) a = NULL;
  g_autoptr (SdDataset) b = NULL;
  g_autoptr (SdDataset) fx = NULL;
  SdWavSource src[2] = { { normal, "normal" }, { fault, "fault" } };
  guint i;

  a = load_one (p16, "a", 4, 1, SD_SPLIT_ALL, 0, &error);
  g_assert_no_error (error);
  b = load_one (flac, "a", 2, 2, SD_SPLIT_ALL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (a->n, ==, 1);
  g_assert_cmpuint (b->n, ==, 2);
  for (i = 0; i < 4; i++) {
    /* 16-bit PCM: written with 1/32767, read with 1/32768. */
    g_assert_cmpfloat_with_epsilon (a->x[i], pcm[i], 1e-4);
    g_assert_cmpfloat_with_epsilon (b->x[i], pcm[i], 1e-4);
  }

  /* The committed 8 kHz fixtures: (8000 - 256) / 128 + 1 = 61 each. */
  fx = sd_dataset_load_wav_windows (
      src, 2, 256, 128, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (fx->n, ==, 122);
  g_assert_cmpfloat (fx->sample_rate, ==, 8000);
  assert_labels (fx, "fault", "normal", NULL);
  g_assert_cmpint (fx->y[0], ==, 1);
  g_assert_cmpint (fx->y[61], ==, 0);
}

static void
test_wav_errors (void)
{
  g_autofree float *st = g_new0 (float, 2 * 100);
  g_autofree float *nan_x = g_new0 (float, 100);
  g_autofree char *ok = write_ramp ("ok.wav", 1000, 100, 0);
  g_autofree char *other_rate = write_ramp ("rate2000.wav", 2000, 100, 0);
  g_autofree char *short_ = write_ramp ("short15.wav", 1000, 15, 0);
  g_autofree char *stereo = NULL;
  g_autofree char *nan_path = NULL;
  g_autofree char *inf_path = NULL;
  g_autofree char *text = write_text ("text.wav", "not a sound file\n");
  g_autofree char *missing = g_build_filename (tmp_dir, "missing.wav", NULL);
  g_autoptr (GError) error = NULL;
  SdWavSource two_rates[2] = { { ok, "a" }, { other_rate, "b" } };
  SdWavSource with_short[2] = { { ok, "a" }, { short_, "b" } };
  SdWavSource no_label[1] = { { ok, NULL } };
  SdDataset *ds;

  stereo = write_sound (
      "stereo.wav", 2, 1000, SF_FORMAT_WAV | SF_FORMAT_FLOAT, st, 100);
  nan_x[37] = NAN;
  nan_path = write_sound (
      "nan.wav", 1, 1000, SF_FORMAT_WAV | SF_FORMAT_FLOAT, nan_x, 100);
  nan_x[37] = 0;
  nan_x[99] = -INFINITY;
  inf_path = write_sound (
      "inf.wav", 1, 1000, SF_FORMAT_WAV | SF_FORMAT_FLOAT, nan_x, 100);

  ds = load_one (stereo, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_FORMAT, stereo, "2 channels", NULL);
  g_clear_error (&error);

  ds = sd_dataset_load_wav_windows (
      two_rates, 2, 10, 5, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_null (ds);
  assert_error (
      error, SD_ERROR_FORMAT, ok, other_rate, "1000 Hz", "2000 Hz", NULL);
  g_clear_error (&error);

  /* 15 samples: one window of 10 in all, none in the first half. */
  ds = load_one (short_, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ds->n, ==, 2);
  sd_dataset_free (ds);
  ds = sd_dataset_load_wav_windows (
      with_short, 2, 10, 5, SD_SPLIT_TRAIN, 0.5, NULL, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_INVALID_ARG, short_, "15 samples",
      "training window of 10 samples", NULL);
  g_clear_error (&error);
  ds = sd_dataset_load_wav_windows (
      with_short, 2, 4, 2, SD_SPLIT_TEST, 0.5, NULL, &error);
  g_assert_no_error (error); /* test part of short15: samples 11..14 */
  g_assert_cmpuint (ds->n, ==, 22 + 1);
  sd_dataset_free (ds);
  ds = sd_dataset_load_wav_windows (
      with_short, 2, 5, 2, SD_SPLIT_TEST, 0.5, NULL, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_INVALID_ARG, short_, "15 samples",
      "test window of 5 samples", "sample 12", NULL);
  g_clear_error (&error);
  ds = load_one (short_, "a", 16, 1, SD_SPLIT_ALL, 0, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_INVALID_ARG, short_, "15 samples",
      "window of 16 samples", NULL);
  g_clear_error (&error);

  ds = load_one (nan_path, "a", 10, 5, SD_SPLIT_TRAIN, 0.5, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_NONFINITE, nan_path, "sample 37", NULL);
  g_clear_error (&error);
  ds = load_one (inf_path, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_NONFINITE, inf_path, "sample 99", NULL);
  g_clear_error (&error);

  ds = load_one (missing, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_IO, missing, NULL);
  g_clear_error (&error);
  ds = load_one (text, "a", 10, 5, SD_SPLIT_ALL, 0, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_FORMAT, text, NULL);
  g_clear_error (&error);

  /* Impossible parameters. */
  {
    static const struct
    {
      guint window, hop;
      SdSplitPart part;
      double frac;
      const char *needle;
    } bad[] = {
      { 0, 5, SD_SPLIT_ALL, 0.5, "Window (0)" },
      { 10, 0, SD_SPLIT_ALL, 0.5, "hop (0)" },
      { 10, 5, SD_SPLIT_TRAIN, 0, "train_fraction 0" },
      { 10, 5, SD_SPLIT_TEST, 1, "train_fraction 1" },
      { 10, 5, SD_SPLIT_TRAIN, -0.5, "train_fraction -0.5" },
      { 10, 5, SD_SPLIT_TEST, 1.5, "train_fraction 1.5" },
      { 10, 5, SD_SPLIT_TRAIN, NAN, "train_fraction nan" },
      { 10, 5, (SdSplitPart) 7, 0.5, "split part 7" },
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS (bad); i++) {
      ds = load_one (
          ok, "a", bad[i].window, bad[i].hop, bad[i].part, bad[i].frac, &error);
      g_assert_null (ds);
      assert_error (error, SD_ERROR_INVALID_ARG, bad[i].needle, NULL);
      g_clear_error (&error);
    }
  }
  ds = sd_dataset_load_wav_windows (
      no_label, 1, 10, 5, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_INVALID_ARG, "label", NULL);
  g_clear_error (&error);
  ds = sd_dataset_load_wav_windows (
      NULL, 0, 10, 5, SD_SPLIT_ALL, 0, NULL, &error);
  g_assert_null (ds);
  assert_error (error, SD_ERROR_INVALID_ARG, "No recordings", NULL);
  g_clear_error (&error);
}

/* ------------------------------------------------------------------ */
/* WAV windows, CWRU                                                   */

typedef struct
{
  char *path;
  char *condition;
  gint64 n_samples;
  int rate;
} CwruRow;

/* Rows of manifest.csv keyed by the recording number ("097"). */
static GHashTable *
read_manifest (const char *cwru_dir)
{
  g_autofree char *path = g_build_filename (cwru_dir, "manifest.csv", NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  GHashTable *rows
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint i;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpstr (
      lines[0] ? g_strstr_len (lines[0], -1, "wav_file") : NULL, !=, NULL);
  for (i = 1; lines[i] != NULL; i++) {
    g_auto (GStrv) f = g_strsplit (lines[i], ",", -1);
    CwruRow *row;

    if (g_strv_length (f) < 12)
      continue;
    /* mat_file,wav_file,no,de,fe,condition,location,diameter,load,rpm,
     * fs_hz,n_samples,... */
    row = g_new0 (CwruRow, 1);
    row->path = g_build_filename (cwru_dir, f[1], NULL);
    row->condition = g_strdup (f[5]);
    row->rate = atoi (f[10]);
    row->n_samples = g_ascii_strtoll (f[11], NULL, 10);
    g_hash_table_insert (rows, g_strdup (f[2]), row);
  }
  return rows;
}

static void
cwru_row_free (gpointer p)
{
  CwruRow *row = p;

  g_free (row->path);
  g_free (row->condition);
  g_free (row);
}

static void
free_manifest (GHashTable *rows)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, rows);
  while (g_hash_table_iter_next (&it, NULL, &v))
    cwru_row_free (v);
  g_hash_table_unref (rows);
}

/* The documented window counts, computed independently. */
static guint
expected_windows (gint64 n, guint window, guint hop, SdSplitPart part,
    double frac, gint64 *first)
{
  gint64 train_end = (gint64) floor (frac * n);
  gint64 lo = 0, hi = n;

  if (part == SD_SPLIT_TRAIN)
    hi = train_end;
  else if (part == SD_SPLIT_TEST)
    lo = train_end + window;
  if (first != NULL)
    *first = lo;
  return hi - lo >= window ? (guint) ((hi - lo - window) / hop + 1) : 0;
}

static void
test_wav_cwru_097 (void)
{
  g_autofree char *dir = real_data_path ("cwru");
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) all = NULL;
  g_autoptr (SdDataset) train = NULL;
  g_autoptr (SdDataset) test = NULL;
  g_autofree float *raw = NULL;
  GHashTable *manifest;
  CwruRow *row;
  SF_INFO info = { 0 };
  SNDFILE *sf;
  gint64 test_first;
  const guint window = 2048, hop = 1024;
  guint w;

  if (dir == NULL)
    return;
  manifest = read_manifest (dir);
  row = g_hash_table_lookup (manifest, "097");
  g_assert_nonnull (row);
  g_assert_cmpstr (row->condition, ==, "normal");
  g_assert_cmpint (row->n_samples, ==, 243938);

  all = load_one (
      row->path, row->condition, window, hop, SD_SPLIT_ALL, 0.7, &error);
  g_assert_no_error (error);
  train = load_one (
      row->path, row->condition, window, hop, SD_SPLIT_TRAIN, 0.7, &error);
  g_assert_no_error (error);
  test = load_one (
      row->path, row->condition, window, hop, SD_SPLIT_TEST, 0.7, &error);
  g_assert_no_error (error);

  /* n = 243938, train_end = 170756, test from 172804. */
  g_assert_cmpuint (all->n, ==, 237);
  g_assert_cmpuint (train->n, ==, 165);
  g_assert_cmpuint (test->n, ==, 68);
  g_assert_cmpuint (all->n, ==,
      expected_windows (row->n_samples, window, hop, SD_SPLIT_ALL, 0.7, NULL));
  g_assert_cmpuint (train->n, ==,
      expected_windows (
          row->n_samples, window, hop, SD_SPLIT_TRAIN, 0.7, NULL));
  g_assert_cmpuint (test->n, ==,
      expected_windows (
          row->n_samples, window, hop, SD_SPLIT_TEST, 0.7, &test_first));
  g_assert_cmpint (test_first, ==, 172804);
  g_assert_cmpfloat (train->sample_rate, ==, row->rate);
  assert_labels (train, "normal", NULL);

  /* Windows are where they should be in the recording ... */
  sf = sf_open (row->path, SFM_READ, &info);
  g_assert_nonnull (sf);
  raw = g_new (float, info.frames);
  g_assert_cmpint (sf_readf_float (sf, raw, info.frames), ==, info.frames);
  sf_close (sf);
  for (w = 0; w < train->n; w++)
    g_assert_true (memcmp (train->x + (gsize) w * window, raw + (gsize) w * hop,
                       window * sizeof (float))
                   == 0);
  for (w = 0; w < test->n; w++)
    g_assert_true (
        memcmp (test->x + (gsize) w * window,
            raw + test_first + (gsize) w * hop, window * sizeof (float))
        == 0);
  /* ... so the last training window ends a full window before the first
   * test window starts: no overlap. */
  g_assert_cmpint (
      (gint64) (train->n - 1) * hop + window + window, <=, test_first);
  g_assert_cmpint ((gint64) (train->n - 1) * hop + window, <=, 170756);
  g_assert_cmpint (
      test_first + (gint64) (test->n - 1) * hop + window, <=, row->n_samples);

  free_manifest (manifest);
}

static void
test_wav_cwru_all (void)
{
  g_autofree char *dir = real_data_path ("cwru");
  static const char *const numbers[]
      = { "097", "109", "174", "122", "189", "135", "201" };
  SdWavSource src[G_N_ELEMENTS (numbers)];
  GHashTable *manifest;
  guint i, p;

  if (dir == NULL)
    return;
  manifest = read_manifest (dir);
  for (i = 0; i < G_N_ELEMENTS (numbers); i++) {
    CwruRow *row = g_hash_table_lookup (manifest, numbers[i]);
    g_assert_nonnull (row);
    src[i].path = row->path;
    src[i].label = row->condition;
  }

  for (p = SD_SPLIT_ALL; p <= SD_SPLIT_TEST; p++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (SdDataset) ds = NULL;
    guint expect = 0, row_i = 0;

    ds = sd_dataset_load_wav_windows (src, G_N_ELEMENTS (src), 2048, 1024,
        (SdSplitPart) p, 0.7, NULL, &error);
    g_assert_no_error (error);
    assert_labels (
        ds, "ball", "inner_race", "normal", "outer_race_6oclock", NULL);
    g_assert_cmpfloat (ds->sample_rate, ==, 48000);
    for (i = 0; i < G_N_ELEMENTS (numbers); i++) {
      CwruRow *row = g_hash_table_lookup (manifest, numbers[i]);
      guint c = expected_windows (
          row->n_samples, 2048, 1024, (SdSplitPart) p, 0.7, NULL);
      g_assert_cmpuint (c, >, 0);
      g_assert_cmpstr (ds->labels[ds->y[row_i]], ==, row->condition);
      g_assert_cmpstr (ds->labels[ds->y[row_i + c - 1]], ==, row->condition);
      row_i += c;
      expect += c;
    }
    g_test_message ("CWRU part %u: %u windows", p, ds->n);
    g_assert_cmpuint (ds->n, ==, expect);
  }
  free_manifest (manifest);
}

static void
test_wav_cwru_short (void)
{
  g_autofree char *dir = real_data_path ("cwru");
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) train = NULL;
  g_autoptr (SdDataset) test = NULL;
  SdDataset *bad;
  GHashTable *manifest;
  CwruRow *row, *normal;
  SdWavSource both[2];

  if (dir == NULL)
    return;
  manifest = read_manifest (dir);
  row = g_hash_table_lookup (manifest, "174");
  normal = g_hash_table_lookup (manifest, "097");
  g_assert_nonnull (row);
  g_assert_cmpint (row->n_samples, ==, 63788); /* 1.33 s */
  both[0] = (SdWavSource){ normal->path, normal->condition };
  both[1] = (SdWavSource){ row->path, row->condition };

  /* A small window: train_end 44651, test from 44907. */
  train = load_one (row->path, "ir", 256, 256, SD_SPLIT_TRAIN, 0.7, &error);
  g_assert_no_error (error);
  test = load_one (row->path, "ir", 256, 256, SD_SPLIT_TEST, 0.7, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (train->n, ==, 174);
  g_assert_cmpuint (test->n, ==, 73);

  /* One second is too long for its 70 % ... */
  bad = sd_dataset_load_wav_windows (
      both, 2, 48000, 48000, SD_SPLIT_TRAIN, 0.7, NULL, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "174_IR014_0hp_DE_48k.wav",
      "63788 samples", "48000 samples", "44651", NULL);
  g_clear_error (&error);
  /* ... and 32768 samples fit in its training part but not after it. */
  bad = sd_dataset_load_wav_windows (
      both, 2, 32768, 16384, SD_SPLIT_TEST, 0.7, NULL, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "174_IR014_0hp_DE_48k.wav",
      "63788 samples", "test window of 32768 samples", NULL);
  g_clear_error (&error);
  bad = sd_dataset_load_wav_windows (
      both, 2, 65536, 1024, SD_SPLIT_ALL, 0.7, NULL, &error);
  g_assert_null (bad);
  assert_error (error, SD_ERROR_INVALID_ARG, "174_IR014_0hp_DE_48k.wav",
      "63788 samples", "65536 samples", NULL);
  g_clear_error (&error);

  free_manifest (manifest);
}

/* ------------------------------------------------------------------ */
/* Subsets and z-normalisation                                         */

static void
test_subset (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) ds = NULL;
  g_autoptr (SdDataset) sub = NULL;
  g_autoptr (SdDataset) none = NULL;
  static const guint idx[] = { 2, 0, 2 };

  ds = load_text ("subset.tsv", "b\t1\t2\na\t3\t4\nc\t5\t6\n", NULL, &error);
  g_assert_no_error (error);
  sub = sd_dataset_subset (ds, idx, 3);
  g_assert_cmpuint (sub->n, ==, 3);
  g_assert_cmpuint (sub->length, ==, 2);
  assert_labels (sub, "a", "b", "c", NULL);
  g_assert_true (sub->labels != ds->labels);
  g_assert_cmpint (sub->y[0], ==, 2);
  g_assert_cmpint (sub->y[1], ==, 1);
  g_assert_cmpint (sub->y[2], ==, 2);
  g_assert_cmpfloat (sub->x[0], ==, 5);
  g_assert_cmpfloat (sub->x[1], ==, 6);
  g_assert_cmpfloat (sub->x[2], ==, 1);
  g_assert_cmpfloat (sub->x[5], ==, 6);
  sub->x[0] = 42; /* a copy */
  g_assert_cmpfloat (ds->x[4], ==, 5);

  none = sd_dataset_subset (ds, NULL, 0);
  g_assert_cmpuint (none->n, ==, 0);
  g_assert_cmpuint (none->n_classes, ==, 3);

  sd_dataset_free (NULL);
}

static void
test_zscore (void)
{
  float x[] = { 1, 2, 3, 4 };
  float c[] = { 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f, 0.1f };
  float one[] = { 7 };
  float big[] = { 1e6f + 1, 1e6f + 2, 1e6f + 3, 1e6f + 4 };
  double sd = sqrt (1.25);
  guint i;

  sd_zscore_series (x, 4);
  sd_zscore_series (big, 4);
  for (i = 0; i < 4; i++) {
    g_assert_cmpfloat_with_epsilon (x[i], (i + 1 - 2.5) / sd, 1e-6);
    g_assert_cmpfloat_with_epsilon (big[i], (i + 1 - 2.5) / sd, 1e-6);
  }
  sd_zscore_series (c, G_N_ELEMENTS (c));
  for (i = 0; i < G_N_ELEMENTS (c); i++)
    g_assert_cmpfloat (c[i], ==, 0);
  sd_zscore_series (one, 1);
  g_assert_cmpfloat (one[0], ==, 0);
  sd_zscore_series (NULL, 0);
}

/* ------------------------------------------------------------------ */

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;
  guint i;

  g_test_init (&argc, &argv, NULL);

  tmp_dir = g_dir_make_tmp ("seqdream-test-data-XXXXXX", &error);
  g_assert_no_error (error);
  tmp_files = g_ptr_array_new_with_free_func (g_free);

  g_test_add_func ("/data/ucr/fixtures", test_ucr_fixtures);
  g_test_add_func ("/data/ucr/separators", test_ucr_separators);
  g_test_add_func ("/data/ucr/label-order", test_ucr_label_order);
  g_test_add_func ("/data/ucr/known-labels", test_ucr_known_labels);
  g_test_add_func ("/data/ucr/errors", test_ucr_errors);
  g_test_add_func ("/data/ucr/binary", test_ucr_binary);
  g_test_add_func ("/data/ucr/missing", test_ucr_missing);
  g_test_add_func ("/data/ucr/from-bytes", test_ucr_from_bytes);
  g_test_add_func ("/data/ucr/forda", test_ucr_forda);
  g_test_add_func ("/data/wav/all", test_wav_all);
  g_test_add_func ("/data/wav/split", test_wav_split);
  g_test_add_func ("/data/wav/labels", test_wav_labels);
  g_test_add_func ("/data/wav/formats", test_wav_formats);
  g_test_add_func ("/data/wav/errors", test_wav_errors);
  g_test_add_func ("/data/wav/cwru-097", test_wav_cwru_097);
  g_test_add_func ("/data/wav/cwru-all", test_wav_cwru_all);
  g_test_add_func ("/data/wav/cwru-short", test_wav_cwru_short);
  g_test_add_func ("/data/subset", test_subset);
  g_test_add_func ("/data/zscore", test_zscore);

  ret = g_test_run ();

  for (i = 0; i < tmp_files->len; i++)
    g_unlink (g_ptr_array_index (tmp_files, i));
  g_rmdir (tmp_dir);
  g_ptr_array_unref (tmp_files);
  g_free (tmp_dir);
  return ret;
}
