/* gst-check tests of the seqdream element's attributions (the
 * `attribution` property): which windows get one (attribution-interval),
 * every field of the "seqdream-attribution" message against libseqdream
 * and against the "seqdream" message of the same window, the units under
 * `gain`, the thread that computes them, the meta on a later buffer, and
 * that none is lost silently at EOS or when the queue is full.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>

#include "seqdream-test-util.h"
#include <seqdream/seqdream.h>

#define RATE 1000

/* the values of the attribution property (GstSeqDreamAttribution) */
enum
{
  ATTR_NONE,
  ATTR_SALIENCY,
  ATTR_GRADXINPUT,
  ATTR_IG,
  ATTR_SMOOTHGRAD,
};

/* Pushes x (n samples at RATE) in buffers of 13 and EOS; returns the
 * buffers that left src. */
static GPtrArray *
push_all (GstHarness *h, const gfloat *x, guint n)
{
  GPtrArray *out
      = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  GstBuffer *b;

  gst_harness_set_src_caps (h, f32_caps (RATE));
  for (guint off = 0; off < n; off += 13)
    fail_unless_equals_int (
        gst_harness_push (
            h, make_buffer (x + off, MIN (13, n - off), off, RATE, 0)),
        GST_FLOW_OK);
  /* returns after the queued attributions (dream_src is unlinked) */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((b = gst_harness_try_pull (h)) != NULL)
    g_ptr_array_add (out, b);
  return out;
}

/* The thread that posted each seqdream-attribution message (a message
 * that take_messages posts again is not counted twice). */
typedef struct
{
  GMutex lock;
  GPtrArray *threads;
  GHashTable *seen; /* GstMessage* */
} PostLog;

static void
post_log_free (PostLog *log)
{
  g_ptr_array_unref (log->threads);
  g_hash_table_unref (log->seen);
  g_mutex_clear (&log->lock);
  g_free (log);
}

static GstBusSyncReply
record_thread (GstBus *bus, GstMessage *m, gpointer data)
{
  PostLog *log = data;

  if (gst_message_has_name (m, "seqdream-attribution")) {
    g_mutex_lock (&log->lock);
    if (g_hash_table_add (log->seen, m))
      g_ptr_array_add (log->threads, g_thread_self ());
    g_mutex_unlock (&log->lock);
  }
  return GST_BUS_PASS;
}

static const GstStructure *
find_window (GList *windows, guint64 ts)
{
  for (GList *l = windows; l != NULL; l = l->next) {
    const GstStructure *s = gst_message_get_structure (l->data);
    if (get_u64 (s, "timestamp") == ts)
      return s;
  }
  return NULL;
}

static guint
array_len (const GstStructure *s, const gchar *field)
{
  const GValue *v = gst_structure_get_value (s, field);
  fail_unless (v != NULL && GST_VALUE_HOLDS_ARRAY (v), "no array %s", field);
  return gst_value_array_get_size (v);
}

GST_START_TEST (test_none_posts_nothing)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autofree gfloat *x = make_signal (481, 17);
  g_autoptr (GPtrArray) out = push_all (h, x, 481);
  GList *win = pop_element_messages (bus, "seqdream");
  GList *attr = pop_element_messages (bus, "seqdream-attribution");
  gint method = -1;

  g_object_get (el, "attribution", &method, NULL);
  fail_unless_equals_int (method, ATTR_NONE);
  fail_unless_equals_int (g_list_length (win), 13);
  fail_unless_equals_int (g_list_length (attr), 0);
  for (guint i = 0; i < out->len; i++)
    fail_unless (gst_buffer_get_custom_meta (
                     g_ptr_array_index (out, i), "SeqDreamAttributionMeta")
                 == NULL);
  g_list_free_full (win, (GDestroyNotify) gst_message_unref);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* Integrated gradients every 100 ms of windows every 37 ms: the windows at
 * 0, 111, 222, 333, 444 ms of 0..481; each field checked against the
 * window's "seqdream" message and against libseqdream on the same samples;
 * completeness within 2 %; posted by the dream thread, not the one that
 * pushed. */
GST_START_TEST (test_ig_interval_fields)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, "attribution", ATTR_IG,
      "attribution-interval", (guint64) 100 * GST_MSECOND, "dream-queue-size",
      16, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  PostLog *log = fx_take (g_new0 (PostLog, 1), (GDestroyNotify) post_log_free);
  const guint64 expected[] = { 0, 111, 222, 333, 444 };
  g_autofree gfloat *x = make_signal (481, 17);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) model = sd_model_load (golden_model, &error);
  guint64 dropped = 1;

  g_assert_no_error (error);
  g_mutex_init (&log->lock);
  log->threads = g_ptr_array_new ();
  log->seen = g_hash_table_new (NULL, NULL);
  gst_bus_set_sync_handler (bus, record_thread, log, NULL);
  g_autoptr (GPtrArray) out = push_all (h, x, 481);
  GList *win = pop_element_messages (bus, "seqdream");
  GList *attr = pop_element_messages (bus, "seqdream-attribution");

  fail_unless_equals_int (g_list_length (attr), G_N_ELEMENTS (expected));
  g_object_get (el, "attribution-dropped", &dropped, NULL);
  fail_unless_equals_uint64 (dropped, 0);
  fail_unless_equals_int (log->threads->len, G_N_ELEMENTS (expected));
  for (guint i = 0; i < log->threads->len; i++)
    fail_unless (g_ptr_array_index (log->threads, i) != g_thread_self (),
        "attribution %u computed on the streaming thread", i);

  guint i = 0;
  for (GList *l = attr; l != NULL; l = l->next, i++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    guint64 ts = get_u64 (s, "timestamp");
    const GstStructure *w = find_window (win, ts);
    gint cls = -1, wcls = -2, steps = 0;
    gdouble logit = 0, base = 0, sum = 0;
    guint start = (guint) (expected[i]);

    fail_unless_equals_uint64 (ts, expected[i] * GST_MSECOND);
    fail_unless (w != NULL, "no window at %" G_GUINT64_FORMAT, ts);
    fail_unless_equals_uint64 (get_u64 (s, "duration"), 37 * GST_MSECOND);
    fail_unless_equals_uint64 (get_u64 (s, "stream-time"), ts);
    fail_unless_equals_uint64 (get_u64 (s, "running-time"), ts);
    fail_unless (gst_structure_get_int (s, "class-index", &cls));
    fail_unless (gst_structure_get_int (w, "class-index", &wcls));
    fail_unless_equals_int (cls, wcls);
    fail_unless_equals_string (gst_structure_get_string (s, "class"),
        gst_structure_get_string (w, "class"));
    fail_unless_equals_string (gst_structure_get_string (s, "method"), "ig");
    fail_unless (gst_structure_get_double (s, "logit", &logit));
    fail_unless (gst_structure_get_double (s, "baseline-logit", &base));
    fail_unless (gst_structure_get_int (s, "steps", &steps));
    /* attribution-steps 0: the element's 8 intervals, refined */
    fail_unless (steps >= 8, "steps %d", steps);
    assert_equals_float (logit, array_double (w, "logits", (guint) cls));
    fail_unless_equals_int (array_len (s, "attribution"), 37);
    for (guint t = 0; t < 37; t++)
      sum += array_double (s, "attribution", t);
    fail_unless (fabs (sum - (logit - base)) <= 0.02 * fabs (logit - base),
        "completeness: sum %g, logit - baseline %g", sum, logit - base);

    /* the library on the same samples */
    SdAttributionConfig c;
    sd_attribution_config_init (&c, SD_ATTRIBUTION_INTEGRATED_GRADIENTS);
    c.target = cls;
    c.steps = 8;
    g_autoptr (SdAttribution) ref
        = sd_attribution_compute (model, &c, x + start, 1, 37, &error);
    g_assert_no_error (error);
    for (guint t = 0; t < 37; t++)
      fail_unless (fabs (array_double (s, "attribution", t) - ref->values[t])
                       <= 1e-5 * (1.0 + fabs (ref->values[t])),
          "sample %u: %g, libseqdream %g", t,
          array_double (s, "attribution", t), ref->values[t]);
  }
  g_list_free_full (win, (GDestroyNotify) gst_message_unref);
  g_list_free_full (attr, (GDestroyNotify) gst_message_unref);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* The saliency of the first window. */
static gdouble *
first_saliency (const gfloat *x, gdouble gain)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, "attribution", ATTR_SALIENCY,
      "attribution-interval", (guint64) 10 * GST_SECOND, "gain", gain, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autoptr (GPtrArray) out = push_all (h, x, 74);
  GList *attr = pop_element_messages (bus, "seqdream-attribution");
  gdouble *v = g_new (gdouble, 37);

  fail_unless_equals_int (g_list_length (attr), 1);
  fail_unless_equals_string (
      gst_structure_get_string (
          gst_message_get_structure (attr->data), "method"),
      "saliency");
  for (guint t = 0; t < 37; t++)
    v[t] = array_double (
        gst_message_get_structure (attr->data), "attribution", t);
  g_list_free_full (attr, (GDestroyNotify) gst_message_unref);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
  return v;
}

/* The saliency is per unit of the stream: the stream x / 2 at gain 2 is
 * the same model input as x at gain 1, and its saliency twice as large. */
GST_START_TEST (test_saliency_stream_units)
{
  g_autofree gfloat *x = make_signal (74, 5);
  g_autofree gfloat *half = g_new (gfloat, 74);
  gdouble scale = 0;

  for (guint t = 0; t < 74; t++)
    half[t] = x[t] / 2;
  g_autofree gdouble *a = first_saliency (x, 1.0);
  g_autofree gdouble *b = first_saliency (half, 2.0);
  for (guint t = 0; t < 37; t++)
    scale = MAX (scale, fabs (a[t]));
  fail_unless (scale > 0.0);
  for (guint t = 0; t < 37; t++)
    fail_unless (fabs (b[t] - 2.0 * a[t]) <= 1e-4 * scale,
        "sample %u: %g at gain 2, %g at gain 1", t, b[t], a[t]);
}

GST_END_TEST;

/* The attribution is computed after the buffer that completed its window
 * has left src: it rides on the next buffer, with the message's fields. */
GST_START_TEST (test_meta_on_next_buffer)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, "attribution",
      ATTR_GRADXINPUT, "attribution-interval", (guint64) 10 * GST_SECOND, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autofree gfloat *x = make_signal (80, 9);
  GstMessage *m;
  GstBuffer *completing, *next;
  GstCustomMeta *meta;
  const GstStructure *ms, *as;

  gst_harness_set_src_caps (h, f32_caps (RATE));
  /* 40 samples: completes the window [0, 37) */
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 40, 0, RATE, 0)), GST_FLOW_OK);
  completing = gst_harness_pull (h);
  fail_unless (gst_buffer_get_custom_meta (completing, "SeqDreamMeta") != NULL);
  fail_unless (
      gst_buffer_get_custom_meta (completing, "SeqDreamAttributionMeta")
      == NULL);
  m = wait_element_message (bus, "seqdream-attribution", 20);
  fail_unless (m != NULL, "no seqdream-attribution message");
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x + 40, 10, 40, RATE, 0)), GST_FLOW_OK);
  next = gst_harness_pull (h);
  meta = gst_buffer_get_custom_meta (next, "SeqDreamAttributionMeta");
  fail_unless (meta != NULL);
  ms = gst_custom_meta_get_structure (meta);
  as = gst_message_get_structure (m);
  fail_unless_equals_uint64 (get_u64 (ms, "timestamp"), 0);
  fail_unless_equals_string (
      gst_structure_get_string (ms, "method"), "gradxinput");
  fail_unless_equals_int (array_len (ms, "attribution"), 37);
  for (guint t = 0; t < 37; t++)
    assert_equals_float (array_double (ms, "attribution", t),
        array_double (as, "attribution", t));
  /* once */
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x + 50, 10, 50, RATE, 0)), GST_FLOW_OK);
  gst_buffer_unref (next);
  next = gst_harness_pull (h);
  fail_unless (
      gst_buffer_get_custom_meta (next, "SeqDreamAttributionMeta") == NULL);
  gst_buffer_unref (next);
  gst_buffer_unref (completing);
  gst_message_unref (m);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* Every window asks (interval 0), SmoothGrad with many samples, a queue
 * of one: each request is either posted or counted as dropped. */
GST_START_TEST (test_queue_full_counted)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, "attribution",
      ATTR_SMOOTHGRAD, "attribution-interval", (guint64) 0, "attribution-steps",
      512, "dream-queue-size", 1, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autofree gfloat *x = make_signal (3700, 3);
  g_autoptr (GPtrArray) out = push_all (h, x, 3700);
  GList *win = pop_element_messages (bus, "seqdream");
  GList *attr = pop_element_messages (bus, "seqdream-attribution");
  guint64 dropped = 0;

  g_object_get (el, "attribution-dropped", &dropped, NULL);
  fail_unless_equals_int (g_list_length (win), 100);
  fail_unless (g_list_length (attr) >= 1);
  fail_unless_equals_uint64 (g_list_length (attr) + dropped, 100);
  g_list_free_full (win, (GDestroyNotify) gst_message_unref);
  g_list_free_full (attr, (GDestroyNotify) gst_message_unref);
  fx_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

static Suite *
attribution_suite (void)
{
  Suite *s = suite_create ("seqdream-attribution");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_none_posts_nothing);
  tcase_add_test (tc, test_ig_interval_fields);
  tcase_add_test (tc, test_saliency_stream_units);
  tcase_add_test (tc, test_meta_on_next_buffer);
  tcase_add_test (tc, test_queue_full_counted);
  return s;
}

GST_CHECK_MAIN (attribution);
