/* gst-check tests of seqdream's score_src pad: its sticky events, one JSON
 * line per window equal to the "seqdream" message, EOS, flushing, an
 * unlinked score_src (and an unlinked src), a peer linked mid-stream, and
 * two pipelines: JSON lines into filesink and a subtitle track through
 * matroskamux and matroskademux.
 *
 * The model is tests/data/golden/resnet-small.model.safetensors (2 classes
 * "c0"/"c1", length 37, no statistics: novelty is null, known true).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <json-glib/json-glib.h>

#include "gst-test-fixture.h"
#include "seqdream-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

/* The JSON object of a score_src buffer: one line, ending in a newline. */
static JsonObject *
parse_line (GstBuffer *buf)
{
  GstMapInfo map;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  fail_unless (map.size > 2 && map.data[map.size - 1] == '\n');
  fail_unless (memchr (map.data, '\n', map.size - 1) == NULL,
      "more than one line in a buffer");
  fail_unless (json_parser_load_from_data (
                   parser, (const gchar *) map.data, map.size, &error),
      "%s", error != NULL ? error->message : "");
  gst_buffer_unmap (buf, &map);
  o = json_node_get_object (json_parser_get_root (parser));
  return json_object_ref (o);
}

/* Every field of the line against the "seqdream" message of its window. */
static void
check_line (GstBuffer *buf, const GstStructure *m)
{
  JsonObject *o = parse_line (buf);
  JsonArray *p = json_object_get_array_member (o, "probabilities");
  JsonArray *labels = json_object_get_array_member (o, "labels");
  gint index;

  fail_unless_equals_string (json_object_get_string_member (o, "class"),
      gst_structure_get_string (m, "class"));
  fail_unless (gst_structure_get_int (m, "class-index", &index));
  fail_unless_equals_int (json_object_get_int_member (o, "class_index"), index);
  fail_unless_equals_int (json_array_get_length (p), 2);
  fail_unless_equals_int (json_array_get_length (labels), 2);
  fail_unless_equals_string (json_array_get_string_element (labels, 1), "c1");
  for (guint k = 0; k < 2; k++)
    fail_unless (fabs (json_array_get_double_element (p, k)
                       - array_double (m, "probabilities", k))
                     < 1e-5,
        "p[%u]", k);
  fail_unless_equals_int (json_object_get_int_member (o, "channel"), 0);
  fail_unless_equals_uint64 (
      json_object_get_int_member (o, "timestamp"), get_u64 (m, "timestamp"));
  fail_unless_equals_uint64 (
      json_object_get_int_member (o, "duration"), get_u64 (m, "duration"));
  fail_unless_equals_uint64 (json_object_get_int_member (o, "stream-time"),
      get_u64 (m, "stream-time"));
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), get_u64 (m, "timestamp"));
  fail_unless_equals_uint64 (
      GST_BUFFER_DURATION (buf), get_u64 (m, "duration"));
  /* No statistics: novelty NaN (JSON null), every window known. */
  fail_unless (json_object_get_null_member (o, "novelty"));
  fail_unless (json_object_get_boolean_member (o, "known"));
  json_object_unref (o);
}

/* The next event on h of `type`, failing on anything else. */
static GstEvent *
expect_event (GstHarness *h, GstEventType type)
{
  GstEvent *ev = gst_harness_pull_event (h);

  fail_unless (ev != NULL, "no %s", gst_event_type_get_name (type));
  fail_unless_equals_string (gst_event_type_get_name (GST_EVENT_TYPE (ev)),
      gst_event_type_get_name (type));
  return ev;
}

GST_START_TEST (test_one_line_per_window)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GstHarness *hs = fx_harness (el, NULL, "score_src");
  gfloat *x = make_signal (131, 3);
  GstEvent *ev;
  GstCaps *caps;
  GList *msgs, *l;
  const gchar *id;
  GstStreamFlags flags;

  gst_harness_set_src_caps (h, f32_caps (1000));
  /* 3 windows at 1.000, 1.037, 1.074 s; then 20 samples: the EOS tail. */
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 111, 0, 1000, GST_SECOND)),
      GST_FLOW_OK);
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x + 111, 20, 111, 1000, GST_SECOND)),
      GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  ev = expect_event (hs, GST_EVENT_STREAM_START);
  gst_event_parse_stream_start (ev, &id);
  fail_unless (g_str_has_suffix (id, "/score"), "%s", id);
  gst_event_parse_stream_flags (ev, &flags);
  fail_unless (flags & GST_STREAM_FLAG_SPARSE);
  gst_event_unref (ev);
  ev = expect_event (hs, GST_EVENT_CAPS);
  gst_event_parse_caps (ev, &caps);
  {
    GstCaps *want = gst_caps_from_string ("text/x-raw, format=(string)utf8");
    fail_unless (gst_caps_is_equal (caps, want));
    gst_caps_unref (want);
  }
  gst_event_unref (ev);
  gst_event_unref (expect_event (hs, GST_EVENT_SEGMENT));
  /* The preroll GAP at the first sample. */
  ev = expect_event (hs, GST_EVENT_GAP);
  {
    GstClockTime ts, dur;
    gst_event_parse_gap (ev, &ts, &dur);
    fail_unless_equals_uint64 (ts, GST_SECOND);
    fail_unless_equals_uint64 (dur, 0);
  }
  gst_event_unref (ev);

  msgs = pop_element_messages (bus, "seqdream");
  fail_unless_equals_int (g_list_length (msgs), 4);
  fail_unless_equals_int (gst_harness_buffers_received (hs), 4);
  for (l = msgs; l != NULL; l = l->next) {
    GstBuffer *buf = gst_harness_pull (hs);
    check_line (buf, gst_message_get_structure (l->data));
    gst_buffer_unref (buf);
  }
  /* The tail window: the 20 samples no window covered. */
  fail_unless_equals_uint64 (
      get_u64 (
          gst_message_get_structure (g_list_last (msgs)->data), "duration"),
      20 * GST_MSECOND);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  /* EOS after the last line. */
  gst_event_unref (expect_event (hs, GST_EVENT_EOS));

  g_free (x);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* score_src unlinked: the live path is untouched (flow OK, every buffer
 * out on src), the pad holds the sticky events, and a peer linked later
 * gets them before its first line. */
GST_START_TEST (test_unlinked_then_linked)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GstPad *score = gst_element_get_static_pad (el, "score_src");
  GstHarness *hs;
  gfloat *x = make_signal (222, 5);
  GstEvent *ev;

  gst_harness_set_src_caps (h, f32_caps (1000));
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 111, 0, 1000, 0)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  {
    GList *msgs = pop_element_messages (bus, "seqdream");
    fail_unless_equals_int (g_list_length (msgs), 3);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  }
  fail_if (gst_pad_is_linked (score));
  ev = gst_pad_get_sticky_event (score, GST_EVENT_CAPS, 0);
  fail_unless (ev != NULL);
  gst_event_unref (ev);
  ev = gst_pad_get_sticky_event (score, GST_EVENT_SEGMENT, 0);
  fail_unless (ev != NULL);
  gst_event_unref (ev);

  /* Linked mid-stream. */
  hs = fx_harness (el, NULL, "score_src");
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x + 111, 111, 111, 1000, 0)),
      GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  gst_event_unref (expect_event (hs, GST_EVENT_STREAM_START));
  gst_event_unref (expect_event (hs, GST_EVENT_CAPS));
  gst_event_unref (expect_event (hs, GST_EVENT_SEGMENT));
  fail_unless_equals_int (gst_harness_buffers_received (hs), 3);
  {
    GstBuffer *buf = gst_harness_pull (hs);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 111 * GST_MSECOND);
    gst_buffer_unref (buf);
  }

  g_free (x);
  gst_object_unref (score);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* src unlinked, score_src linked: src's not-linked does not stop the
 * scores (the flow combiner), and the pushes return OK. */
GST_START_TEST (test_only_scores_linked)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, NULL);
  GstHarness *hs = fx_harness (el, "sink", "score_src");
  gfloat *x = make_signal (222, 7);

  gst_harness_set_src_caps (hs, f32_caps (1000));
  for (guint i = 0; i < 2; i++)
    fail_unless_equals_int (
        gst_harness_push (hs, make_buffer (x + 111 * i, 111, 111 * i, 1000, 0)),
        GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (hs), 6);

  g_free (x);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* A flush reaches score_src; lines start again with the new segment. */
GST_START_TEST (test_flush)
{
  GstBus *bus;
  GstElement *el = make_seqdream (&bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GstHarness *hs = fx_harness (el, NULL, "score_src");
  gfloat *x = make_signal (111, 9);
  GstSegment seg;
  GstEvent *ev;
  GstBuffer *buf;

  gst_harness_set_src_caps (h, f32_caps (1000));
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 111, 0, 1000, 0)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (hs), 3);
  while ((ev = gst_harness_try_pull_event (hs)) != NULL)
    gst_event_unref (ev);

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_event_unref (expect_event (hs, GST_EVENT_FLUSH_START));
  gst_event_unref (expect_event (hs, GST_EVENT_FLUSH_STOP));

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = 5 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  gst_event_unref (expect_event (hs, GST_EVENT_SEGMENT));
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, 111, 0, 1000, 5 * GST_SECOND)),
      GST_FLOW_OK);
  /* A new preroll GAP, then the new segment's lines. */
  gst_event_unref (expect_event (hs, GST_EVENT_GAP));
  fail_unless_equals_int (gst_harness_buffers_received (hs), 6);
  for (guint i = 0; i < 3; i++)
    gst_buffer_unref (gst_harness_pull (hs));
  buf = gst_harness_pull (hs);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 5 * GST_SECOND);
  gst_buffer_unref (buf);

  g_free (x);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
}

GST_END_TEST;

/* Runs the launch line to EOS; returns the number of "seqdream"
 * messages. */
static guint
run_pipeline (const gchar *launch)
{
  g_autoptr (GError) error = NULL;
  GstElement *p = gst_parse_launch (launch, &error);
  GstBus *bus;
  GstMessage *m;
  guint n = 0;

  fail_unless (p != NULL, "%s", error != NULL ? error->message : launch);
  fx_element (p);
  bus = gst_element_get_bus (p);
  fail_unless (
      gst_element_set_state (p, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  while ((m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))
         != NULL) {
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      g_autoptr (GError) e = NULL;
      gst_message_parse_error (m, &e, NULL);
      fail ("%s: %s", launch, e->message);
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS) {
      gst_message_unref (m);
      break;
    }
    n += gst_message_has_name (m, "seqdream");
    gst_message_unref (m);
  }
  fail_unless (m != NULL, "%s: no EOS", launch);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (p);
  return n;
}

#define TEST_SOURCE                                                            \
  "audiotestsrc num-buffers=20 samplesperbuffer=50 wave=pink-noise ! "         \
  "audio/x-raw,format=F32LE,rate=1000,channels=1 ! "                           \
  "seqdream model-file=\"%s\" hop=37 name=s "

/* 1000 samples: windows at 0, 37, ..., 962 and 1 sample left (no tail). */
#define TEST_WINDOWS ((1000 - 37) / 37 + 1)

GST_START_TEST (test_filesink_json_lines)
{
  g_autofree gchar *dir = g_dir_make_tmp ("score-src-XXXXXX", NULL);
  g_autofree gchar *file = g_build_filename (dir, "scores.jsonl", NULL);
  g_autofree gchar *desc = g_strdup_printf (TEST_SOURCE
      "! queue ! fakesink s.score_src ! queue ! filesink location=\"%s\"",
      golden_model, file);
  g_autofree gchar *text = NULL;
  g_auto (GStrv) lines = NULL;
  guint n;

  n = run_pipeline (desc);
  fail_unless_equals_int (n, TEST_WINDOWS);
  fail_unless (g_file_get_contents (file, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  /* n lines and the empty string after the last newline */
  fail_unless_equals_int (g_strv_length (lines), n + 1);
  for (guint i = 0; i < n; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    fail_unless (json_parser_load_from_data (parser, lines[i], -1, NULL));
    o = json_node_get_object (json_parser_get_root (parser));
    fail_unless_equals_uint64 (json_object_get_int_member (o, "timestamp"),
        gst_util_uint64_scale_int (37 * i, GST_SECOND, 1000));
  }
  g_unlink (file);
  g_rmdir (dir);
}

GST_END_TEST;

/* Into Matroska as a subtitle track and out again: one subtitle buffer per
 * window, at the window's time (matroskademux hands S_TEXT/UTF8 out as
 * Pango markup, with the quotes escaped). */
GST_START_TEST (test_matroska_subtitle_track)
{
  g_autofree gchar *dir = g_dir_make_tmp ("score-src-XXXXXX", NULL);
  g_autofree gchar *mkv = g_build_filename (dir, "s.mkv", NULL);
  g_autofree gchar *out = g_build_filename (dir, "sub.txt", NULL);
  g_autofree gchar *desc = g_strdup_printf (TEST_SOURCE
      "! queue ! mux.audio_0 s.score_src ! queue ! mux.subtitle_0 "
      "matroskamux name=mux ! filesink location=\"%s\"",
      golden_model, mkv);
  g_autofree gchar *demux = g_strdup_printf ("filesrc location=\"%s\" ! "
                                             "matroskademux name=d "
                                             "d.subtitle_0 ! queue ! filesink "
                                             "location=\"%s\" d.audio_0 ! "
                                             "queue ! fakesink",
      mkv, out);
  g_autofree gchar *text = NULL;
  guint n, lines = 0;

  n = run_pipeline (desc);
  fail_unless_equals_int (n, TEST_WINDOWS);
  fail_unless_equals_int (run_pipeline (demux), 0);
  fail_unless (g_file_get_contents (out, &text, NULL, NULL));
  for (const gchar *c = text; (c = strstr (c, "&quot;class&quot;:")) != NULL;
       c++)
    lines++;
  fail_unless_equals_int (lines, n);
  g_unlink (mkv);
  g_unlink (out);
  g_rmdir (dir);
}

GST_END_TEST;

static Suite *
score_src_suite (void)
{
  Suite *s = suite_create ("seqdream-score-src");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  tcase_add_test (tc, test_one_line_per_window);
  tcase_add_test (tc, test_unlinked_then_linked);
  tcase_add_test (tc, test_only_scores_linked);
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_filesink_json_lines);
  tcase_add_test (tc, test_matroska_subtitle_track);
  return s;
}

GST_CHECK_MAIN (score_src);
