/* gst-check tests that the seqdream element loses nothing silently at the
 * end of a stream:
 *
 * - with dream_src unlinked, the dreams requested during a stream are
 *   still dreamed and their "seqdream-dream" messages posted before EOS
 *   leaves src (nothing downstream waits for them: an application that
 *   stops at EOS used to cancel them all);
 * - a stream shorter than one window (nothing scored) ends with a warning
 *   that says so.
 *
 * Model: tests/data/golden/resnet-small.model.safetensors (2 classes,
 * windows of 37 samples, no statistics: dream-preset none), at 1 kHz.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-fixture.h"
#include "seqdream-test-util.h"
#include "trust-inputs.h"

#include <math.h>
#include <string.h>

#define RATE 1000

/* A harness around a seqdream of the golden model on `bus`, caps at 1 kHz;
 * dream_src unlinked. */
static GstHarness *
golden_harness (GstBus **bus, const gchar *trigger)
{
  /* long dreams (2000 steps, tens of ms each) and room for all five: the
   * stream is through long before the first is done */
  GstElement *el
      = make_element (golden_model, bus, "dream-preset", "none", "dream-steps",
          2000, "dream-queue-size", 8, "dream-interval", GST_SECOND, NULL);
  GstHarness *h;

  gst_util_set_object_arg (G_OBJECT (el), "dream-trigger", trigger);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (RATE));
  return h;
}

static guint
count_dreams (GstBus *bus)
{
  GList *l = take_messages (bus, GST_MESSAGE_ELEMENT, "seqdream-dream");
  guint n = g_list_length (l);

  g_list_free_full (l, (GDestroyNotify) gst_message_unref);
  return n;
}

/* n samples of a sine in buffers of 500, each pulled from src. */
static void
push_stream (GstHarness *h, guint n)
{
  g_autofree gfloat *x = g_new (gfloat, n);

  for (guint i = 0; i < n; i++)
    x[i] = (gfloat) sin (2 * G_PI * 13.0 * i / RATE);
  for (guint off = 0; off < n; off += 500) {
    const guint len = MIN (500, n - off);
    fail_unless_equals_int (
        gst_harness_push (h, make_buffer (x + off, len, off, RATE, 0)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
}

/* 5 s with a dream requested every second and dream_src unlinked: by the
 * time EOS has passed the element, a dream message for every request (at
 * least 4, the figure; 5 here). Control: no trigger, no dream. */
GST_START_TEST (test_dreams_posted_with_dream_src_unlinked)
{
  GstBus *bus;
  GstHarness *h = golden_harness (&bus, "interval");
  GstPad *dream_src = gst_element_get_static_pad (h->element, "dream_src");
  guint n;

  fail_if (gst_pad_is_linked (dream_src));
  gst_object_unref (dream_src);
  push_stream (h, 5 * RATE);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  /* no wait: the messages are on the bus when the EOS has passed */
  n = count_dreams (bus);
  fail_unless (n >= 4, "%u dream messages", n);
  fail_unless_equals_int (n, 5);
  fx_harness_teardown (h);

  h = golden_harness (&bus, "none");
  push_stream (h, 5 * RATE);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  n = count_dreams (bus);
  fail_unless_equals_int (n, 0);
}

GST_END_TEST;

/* A stream of 10 samples (the window is 37, a tail needs half of it) ends
 * with one warning naming the samples and the window; 100 samples (two
 * windows) end without one. */
GST_START_TEST (test_eos_warning_when_nothing_scored)
{
  GstBus *bus;
  GstHarness *h = golden_harness (&bus, "none");
  GstMessage *m;
  g_autoptr (GError) err = NULL;

  push_stream (h, 10);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL, "no warning");
  gst_message_parse_warning (m, &err, NULL);
  fail_unless (strstr (err->message, "after 10 samples") != NULL
                   && strstr (err->message, "window of 37 samples") != NULL,
      "%s", err->message);
  gst_message_unref (m);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  fx_harness_teardown (h);

  h = golden_harness (&bus, "none");
  push_stream (h, 100);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
}

GST_END_TEST;

static Suite *
nothing_lost_suite (void)
{
  Suite *s = suite_create ("nothing-lost");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  tcase_add_test (tc, test_dreams_posted_with_dream_src_unlinked);
  tcase_add_test (tc, test_eos_warning_when_nothing_scored);
  return s;
}

GST_CHECK_MAIN (nothing_lost);
