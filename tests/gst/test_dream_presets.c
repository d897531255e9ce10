/* gst-check tests of the seqdream element's dream presets: the errors of
 * a preset that does not apply or lacks its reference data (missing,
 * invalid, other labels, too short, a class without series), the preset
 * none bit for bit as libseqdream's unregularised dream, and a preset
 * with dream-reference as libseqdream's dream with that reference.
 *
 * The model is tests/data/golden/resnet-small.model.safetensors (2 classes
 * "c0"/"c1", training length 37, no normalisation, no statistics).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-env.h"
#include "gst-test-fixture.h"
#include "seqdream-test-util.h"
#include <seqdream/seqdream.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

/* ---- dream presets ---- */

/* rm -r of a temporary directory of files (fx_take: after the elements
 * that read them stopped). */
static void
tmp_dir_remove (gchar *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    gchar *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
    g_free (path);
  }
  if (d != NULL)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

/* A UCR reference file dir/name: n series of T samples, series i labelled
 * labels[i % n_labels] (NULL-terminated), class j of the labels a sine of
 * 2 + 5 j cycles per series plus seeded noise, so the classes' spectra
 * differ. Returns its path (free it). */
static gchar *
write_reference (const gchar *dir, const gchar *name, guint n, guint T,
    const gchar *const *labels)
{
  GString *text = g_string_new (NULL);
  GRand *r = g_rand_new_with_seed (7);
  gchar *path = g_build_filename (dir, name, NULL);
  const guint n_labels = g_strv_length ((gchar **) labels);

  for (guint i = 0; i < n; i++) {
    const guint j = i % n_labels;
    g_string_append (text, labels[j]);
    for (guint t = 0; t < T; t++)
      g_string_append_printf (text, "\t%.6f",
          sin (2.0 * G_PI * (2 + 5 * j) * t / T)
              + 0.2 * g_rand_double_range (r, -1.0, 1.0));
    g_string_append_c (text, '\n');
  }
  fail_unless (g_file_set_contents (path, text->str, -1, NULL));
  g_string_free (text, TRUE);
  g_rand_free (r);
  return path;
}

/* A temporary directory, removed after the test. */
static const gchar *
make_tmp_dir (void)
{
  gchar *dir = g_dir_make_tmp ("seqdream-preset-XXXXXX", NULL);

  fail_unless (dir != NULL);
  return fx_take (dir, (GDestroyNotify) tmp_dir_remove);
}

/* Starting a seqdream (golden model) with dream-preset `preset` and
 * dream-reference `reference` fails with an error of `domain` and `code`
 * whose message names `name1` and `name2` (either may be NULL). */
static void
check_preset_error (const gchar *preset, const gchar *reference, GQuark domain,
    gint code, const gchar *name1, const gchar *name2)
{
  GstBus *bus;
  GstElement *el = make_seqdream (
      &bus, "dream-preset", preset, "dream-reference", reference, NULL);
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;

  fail_unless_equals_int (
      gst_element_set_state (el, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "dream-preset=%s: no error message", preset);
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (err->domain == domain && err->code == code,
      "dream-preset=%s dream-reference=%s: %s (domain %s, code %d)", preset,
      reference, err->message, g_quark_to_string (err->domain), err->code);
  fail_unless (name1 == NULL || strstr (err->message, name1) != NULL,
      "no \"%s\" in: %s", name1, err->message);
  fail_unless (name2 == NULL || strstr (err->message, name2) != NULL,
      "no \"%s\" in: %s", name2, err->message);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (m);

  /* The element is usable again: NULL, then a good preset starts. */
  fail_unless_equals_int (
      gst_element_set_state (el, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  g_object_set (el, "dream-preset", "none", NULL);
  fail_unless_equals_int (
      gst_element_set_state (el, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (
      gst_element_set_state (el, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_START_TEST (test_dream_preset_errors)
{
  const gchar *dir = make_tmp_dir ();
  const gchar *both[] = { "c0", "c1", NULL };
  const gchar *only_c0[] = { "c0", NULL };
  const gchar *unknown[] = { "c0", "c7", NULL };
  gchar *missing = g_build_filename (dir, "missing.tsv", NULL);
  gchar *garbage = g_build_filename (dir, "garbage.tsv", NULL);
  gchar *labels = write_reference (dir, "labels.tsv", 10, 37, unknown);
  gchar *shorter = write_reference (dir, "short.tsv", 10, 20, both);
  gchar *one_class = write_reference (dir, "one-class.tsv", 10, 37, only_c0);
  gchar *good = write_reference (dir, "good.tsv", 10, 37, both);
  GstElement *el;
  gchar *value = NULL;

  fail_unless (
      g_file_set_contents (garbage, "c0\t1.0\tabc\t2.0\nc1\t1.0\n", -1, NULL));

  /* An unknown name set in NULL is kept as it is; start refuses it. */
  el = fx_element (gst_element_factory_make ("seqdream", NULL));
  g_object_set (el, "dream-preset", "no-such-preset", NULL);
  g_object_get (el, "dream-preset", &value, NULL);
  fail_unless_equals_string (value, "no-such-preset");
  g_free (value);
  g_object_set (el, "dream-preset", NULL, NULL);
  g_object_get (el, "dream-preset", &value, NULL);
  fail_unless_equals_string (value, "realistic");
  g_free (value);
  gst_object_unref (el);

  check_preset_error ("no-such-preset", good, GST_LIBRARY_ERROR,
      GST_LIBRARY_ERROR_SETTINGS, "\"no-such-preset\"", "recommended");
  /* band and prototype smooth over 200 Hz: the golden model has no rate */
  check_preset_error ("band", good, GST_LIBRARY_ERROR,
      GST_LIBRARY_ERROR_SETTINGS, "\"band\"", "sample rate");
  check_preset_error ("recommended", NULL, GST_LIBRARY_ERROR,
      GST_LIBRARY_ERROR_SETTINGS, "\"recommended\"",
      "carries no training statistics: set dream-reference");
  check_preset_error ("recommended", missing, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, missing, NULL);
  check_preset_error ("recommended", garbage, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_FAILED, garbage, "abc");
  check_preset_error ("recommended", labels, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_FAILED, labels, "c7");
  check_preset_error ("recommended", shorter, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_FAILED, shorter, "37 samples");
  check_preset_error ("recommended", one_class, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_FAILED, one_class, "\"c1\"");

  g_free (missing);
  g_free (garbage);
  g_free (labels);
  g_free (shorter);
  g_free (one_class);
  g_free (good);
}

GST_END_TEST;

/* libseqdream's centred dream of class k, T samples, from seed, with the
 * configuration the element builds: the library's defaults, the preset's
 * regularisers with their targets from `reference` at length T (preset
 * NULL: none), then the dream-* properties on top: clip (always), L2 of
 * weight l2 (0: off), zero-phase smoothing with alpha (0: off); `steps`
 * steps at lr 0.05 (the golden model is not normalised: no norm bound,
 * and the dream is in the data's units as it is). Returns (T). */
static gfloat *
library_dream (const gchar *preset, const gchar *reference, gint k, guint T,
    guint steps, gdouble l2, gdouble alpha, guint64 seed)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (golden_model, &error);
  g_autoptr (SdDreamer) dreamer = NULL;
  g_autoptr (SdDataset) data = NULL;
  g_autofree gfloat *spectra = NULL, *features = NULL;
  SdDreamResult *res[1] = { NULL };
  SdDreamConfig c;
  SdDreamSpec spec;
  gfloat *dream;

  g_assert_no_error (error);
  sd_dream_config_init (&c, model);
  fail_unless (sd_dream_config_apply_preset (&c, preset, model, &error));
  if (sd_dream_config_needs_reference (&c)) {
    data = sd_dataset_load_ucr (reference, sd_model_get_labels (model), &error);
    g_assert_no_error (error);
  }
  c.length = (int) T;
  fail_unless (sd_dream_config_attach_reference (
      &c, model, data, &spectra, &features, &error));
  c.steps = (int) steps;
  c.lr = 0.05f;
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_CLIP));
  if (l2 > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_L2);
    r.weight = (float) l2;
    sd_dream_config_add (&c, r);
  }
  if (alpha > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_EXP_SMOOTH_ZEROPHASE);
    r.param = (float) alpha;
    sd_dream_config_add (&c, r);
  }

  /* the element's dreamer: one dream of up to a window (37) */
  dreamer = sd_dreamer_new (model, 1, 37, &error);
  g_assert_no_error (error);
  memset (&spec, 0, sizeof spec);
  spec.objective = sd_objective_centered (k);
  spec.init.type = SD_INIT_GAUSSIAN;
  spec.init.scale = 0.1f;
  spec.seed = seed;
  fail_unless (sd_dreamer_run (dreamer, &c, &spec, 1, res, &error));
  g_assert_no_error (error);
  fail_unless_equals_int (res[0]->length, T);
  dream = g_new (gfloat, T);
  for (guint t = 0; t < T; t++)
    dream[t] = (gfloat) (res[0]->sequence[t] * 1.0 + 0.0);
  sd_dream_result_free (res[0]);
  return dream;
}

/* An element's dreams with these properties (NULL-terminated pairs after
 * the preset's): dream-seed 11, 20 steps, a dream for every window of 57
 * samples with hop 37, i.e. the window at 0 (37 samples) and the tail
 * scored at EOS (20 samples). Each is checked against the message that
 * came with it and against library_dream () with the preset, l2 and
 * alpha; the dreams go to *dreams (n_dreams, 37 + 20), when not NULL. */
static void
check_element_dreams (const gchar *preset, const gchar *reference, gdouble l2,
    gdouble alpha, gfloat *dreams)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, "dream-trigger",
      2 /* interval */, "dream-interval", (guint64) 1, "dream-steps", 20,
      "dream-seed", (guint64) 11, "dream-queue-size", 8, "dream-l2", l2,
      "dream-smoothing-alpha", alpha, NULL);
  GstHarness *h, *h2;
  gfloat *x = make_signal (57, 23);
  const guint lengths[] = { 37, 20 };
  guint off = 0;

  if (preset != NULL)
    g_object_set (el, "dream-preset", preset, NULL);
  if (reference != NULL)
    g_object_set (el, "dream-reference", reference, NULL);
  h = fx_harness (el, "sink", "src");
  h2 = fx_harness (el, NULL, "dream_src");
  gst_harness_set_src_caps (h, f32_caps (1000));
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 57, 0, 1000, 0)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++) {
    const guint T = lengths[i];
    GstMessage *m = wait_element_message (bus, "seqdream-dream", 60);
    GstBuffer *buf = gst_harness_pull (h2);
    gint k = -1;
    gfloat *expected;
    GstMapInfo map;

    fail_unless (m != NULL, "preset %s: no dream message %u", preset, i);
    fail_unless (buf != NULL);
    fail_unless (gst_structure_get_int (
        gst_message_get_structure (m), "class-index", &k));
    fail_unless_equals_uint64 (
        get_u64 (gst_message_get_structure (m), "timestamp"),
        i * 37 * GST_MSECOND);
    fail_unless_equals_int (gst_buffer_get_size (buf), T * sizeof (gfloat));
    expected = library_dream (preset, reference, k, T, 20, l2, alpha, 11 + i);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    fail_unless (memcmp (map.data, expected, T * sizeof (gfloat)) == 0,
        "preset %s: dream %u (%u samples) differs from libseqdream's", preset,
        i, T);
    if (dreams != NULL)
      memcpy (dreams + off, map.data, T * sizeof (gfloat));
    off += T;
    gst_buffer_unmap (buf, &map);
    g_free (expected);
    gst_buffer_unref (buf);
    gst_message_unref (m);
  }
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);

  g_free (x);
  fx_harness_teardown (h2);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

/* dream-preset=none, and the property left unset, dream what the element
 * dreamed before it had presets (its configuration rebuilt with
 * libseqdream), bit for bit; a dream-reference is then not even read. */
GST_START_TEST (test_dream_preset_none_bit_identical)
{
  gfloat unset[57], none[57];

  check_element_dreams (NULL, NULL, 0.0, 0.8, unset);
  check_element_dreams ("none", "/nonexistent/reference.tsv", 0.0, 0.8, none);
  fail_unless (memcmp (unset, none, sizeof unset) == 0);
}

GST_END_TEST;

/* recommended with a small reference file: the dreams come (message and
 * buffer), are libseqdream's with the preset's spectral filter first and the
 * dream-* properties on top (also for the EOS tail, whose targets are
 * computed at its length), and differ from the dreams without the preset. */
GST_START_TEST (test_dream_preset_with_reference)
{
  const gchar *dir = make_tmp_dir ();
  const gchar *labels[] = { "c0", "c1", NULL };
  gchar *reference = write_reference (dir, "reference.tsv", 10, 37, labels);
  gfloat none[57], recommended[57];

  check_element_dreams (NULL, NULL, 0.0, 0.8, none);
  check_element_dreams ("recommended", reference, 0.0, 0.8, recommended);
  fail_if (memcmp (none, recommended, sizeof none) == 0,
      "dream-preset=recommended changed nothing");
  /* explicit dream-* properties on top of the preset */
  check_element_dreams ("recommended", reference, 0.5, 0.0, NULL);
  g_free (reference);
}

GST_END_TEST;

static Suite *
dream_presets_suite (void)
{
  Suite *s = suite_create ("seqdream-dream-presets");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_dream_preset_errors);
  tcase_add_test (tc, test_dream_preset_none_bit_identical);
  tcase_add_test (tc, test_dream_preset_with_reference);
  return s;
}

GST_CHECK_MAIN (dream_presets);
