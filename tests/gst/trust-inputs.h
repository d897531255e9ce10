/* The inputs of test_trust.c: seqdream elements on a bus of their own,
 * libseqdream's scores and novelty of a window (the references), the
 * golden model with statistics calibrated in the test, and windows of
 * vibrationsrc's healthy and inner-race bearing.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-fixture.h"
#include "seqdream-test-util.h"
#include <seqdream/seqdream.h>

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

/* ---- elements and references ---- */

/* The messages left on a bus hold their element, which holds the bus:
 * drop them, then the bus. */
static inline void
bus_free (GstBus *bus)
{
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

/* A seqdream with model (NULL: the embedded default) and the given
 * properties (NULL terminated name/value pairs), its messages going to a
 * bus of its own (*bus, freed after the test). */
static inline GstElement *
make_element (const gchar *model, GstBus **bus, const gchar *first_prop, ...)
{
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  va_list ap;

  fail_unless (el != NULL, "no seqdream element (GST_PLUGIN_PATH?)");
  /* (the fixture's reference keeps it until the test ends) */
  gst_object_unref (fx_element (el));
  if (model != NULL)
    g_object_set (el, "model-file", model, NULL);
  va_start (ap, first_prop);
  if (first_prop != NULL)
    g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  *bus = fx_take (gst_bus_new (), (GDestroyNotify) bus_free);
  gst_element_set_bus (el, *bus);
  return el;
}

/* Does this build embed a default model? (The element then starts
 * without model-file.) */
static inline gboolean
have_default_model (void)
{
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  gboolean ok;

  /* (the model loads in READY->PAUSED) */
  ok = gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE;
  gst_element_set_state (el, GST_STATE_NULL);
  gst_object_unref (el);
  if (!ok)
    g_printerr ("no embedded default model: test skipped\n");
  return ok;
}

/* The golden model's logits (2) for one window x (T) times gain, as
 * libseqdream computes them. */
static inline void
reference_logits (const gfloat *x, guint T, gdouble gain, gdouble *logits)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (golden_model, &error);
  g_autoptr (SdWorkspace) ws = NULL;
  g_autofree gfloat *row = g_new (gfloat, T);
  const gfloat *z;

  g_assert_no_error (error);
  ws = sd_workspace_new (model, 1, T, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  for (guint t = 0; t < T; t++)
    row[t] = (gfloat) (gain * x[t]);
  sd_model_normalize_input (model, row, 1, T);
  z = sd_model_forward (model, ws, row, 1, T);
  for (gint k = 0; k < sd_model_get_n_classes (model); k++)
    logits[k] = z[k];
}

/* The "class" of every message of the list, and the list freed. */
static inline GPtrArray *
classes_of (GList *msgs)
{
  GPtrArray *classes = g_ptr_array_new_with_free_func (g_free);

  for (GList *l = msgs; l != NULL; l = l->next)
    g_ptr_array_add (
        classes, g_strdup (gst_structure_get_string (
                     gst_message_get_structure (l->data), "class")));
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  return classes;
}

/* n samples (48 kHz, g) of vibrationsrc with `fault` and seed. */
static inline gfloat *
synth_vibration (const gchar *fault, guint64 seed, guint n)
{
  GstElement *src = gst_element_factory_make ("vibrationsrc", NULL);
  GstHarness *h;
  gfloat *x = g_new (gfloat, n);
  guint got = 0;

  fail_unless (src != NULL, "no vibrationsrc element");
  gst_object_unref (fx_element (src));
  gst_util_set_object_arg (G_OBJECT (src), "fault", fault);
  g_object_set (src, "seed", seed, "samplesperbuffer", 4096, NULL);
  h = fx_harness (src, NULL, "src");
  gst_harness_play (h);
  while (got < n) {
    GstBuffer *buf = gst_harness_pull (h);
    GstMapInfo map;
    guint m;

    fail_unless (buf != NULL);
    fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
    m = MIN (n - got, map.size / sizeof (gfloat));
    memcpy (x + got, map.data, m * sizeof (gfloat));
    got += m;
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
  }
  fx_harness_teardown (h);
  return x;
}

/* ---- a model with statistics ---- */

static inline void
tmp_file_remove (gchar *path)
{
  g_unlink (path);
  g_free (path);
}

/* The golden model with the statistics of 160 windows of make_signal
 * (seed 100, classes alternating), saved to a temporary file (removed
 * after the test): its path. Its level range is about RMS 0.8. */
static inline const gchar *
calibrated_golden (void)
{
  const guint n = 160, T = 37;
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (golden_model, &error);
  g_autoptr (SdDataset) fit = g_new0 (SdDataset, 1);
  gchar *path = NULL;
  gint fd;

  g_assert_no_error (error);
  fit->n = n;
  fit->length = T;
  fit->x = make_signal (n * T, 100);
  fit->y = g_new (int, n);
  for (guint i = 0; i < n; i++)
    fit->y[i] = (int) (i % 2);
  fit->n_classes = 2;
  fit->labels = g_strdupv ((gchar **) sd_model_get_labels (model));
  fail_unless (sd_model_calibrate (model, fit, NULL, NULL, &error), "%s",
      error ? error->message : "");
  fd = g_file_open_tmp ("seqdream-trust-XXXXXX.safetensors", &path, &error);
  g_assert_no_error (error);
  close (fd);
  fx_take (path, (GDestroyNotify) tmp_file_remove);
  fail_unless (
      sd_model_save (model, path, &error), "%s", error ? error->message : "");
  return path;
}

/* The statistics of the model in file path: its novelty threshold and
 * level range. */
static inline gdouble
stats_of (const gchar *path, gdouble *lo, gdouble *hi)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (path, &error);
  const SdModelStats *stats;

  g_assert_no_error (error);
  stats = sd_model_get_stats (model);
  fail_unless (stats != NULL);
  sd_model_stats_get_level_range (stats, lo, hi);
  return sd_model_stats_get_novelty_threshold (stats);
}

/* libseqdream's novelty of one window x (T) of the model in path. */
static inline gdouble
reference_novelty (const gchar *path, const gfloat *x, guint T)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (path, &error);
  g_autoptr (SdWorkspace) ws = NULL;
  g_autofree gfloat *row = g_memdup2 (x, T * sizeof (gfloat));
  gdouble novelty;

  g_assert_no_error (error);
  ws = sd_workspace_new (model, 1, T, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  sd_model_normalize_input (model, row, 1, T);
  sd_model_forward (model, ws, row, 1, T);
  fail_unless (sd_workspace_novelty (model, ws, 1, &novelty, &error));
  return novelty;
}

/* The golden model's input windows that are not known: make_signal
 * times 30 (RMS about 24, far outside what it was calibrated on). */
static inline gfloat *
loud_signal (guint n, guint32 seed)
{
  gfloat *x = make_signal (n, seed);

  for (guint i = 0; i < n; i++)
    x[i] *= 30.0f;
  return x;
}

/* ---- vibration ---- */

/* The input of the state tests: blocks of 2048 samples (one window each
 * with hop = window) of a healthy bearing (N) or an inner-race fault (I)
 * from vibrationsrc, as the pattern says; the k-th N block is samples
 * [2048 k, 2048 (k + 1)) of one synthesis, the same for I. The embedded
 * model calls every such window by its fault (docs/vibrationsrc.md); the
 * tests check it. The model does not know most of these windows (its
 * novelty: 233 of 234 healthy and 147 of 234 inner-race windows above
 * its threshold; docs/trust.md), so these tests set novelty-threshold=0:
 * they are about classes, test_state_unknown about "unknown". The
 * syntheses are kept for the process (valgrind runs every test in
 * one). */
static inline gfloat *
pattern_signal (const gchar *pattern)
{
  static gfloat *synth[2];
  static guint have[2];
  const guint W = 2048, n = (guint) strlen (pattern);
  guint next[2] = { 0, 0 }, need[2] = { 0, 0 };
  gfloat *x = g_new (gfloat, n * W);

  for (guint i = 0; i < n; i++)
    need[pattern[i] == 'I']++;
  for (guint f = 0; f < 2; f++)
    if (need[f] > have[f]) {
      g_free (synth[f]);
      synth[f] = synth_vibration (
          f == 0 ? "none" : "inner-race", f + 1, need[f] * W);
      have[f] = need[f];
    }
  for (guint i = 0; i < n; i++) {
    guint f = pattern[i] == 'I';
    memcpy (x + i * W, synth[f] + next[f]++ * W, W * sizeof (gfloat));
  }
  return x;
}
