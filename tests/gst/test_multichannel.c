/* gst-check tests of seqdream on multichannel input: every channel of an
 * interleaved stream is scored as a mono stream of that channel would be
 * (scores, novelty, states, timestamps), whatever the threads; src passes
 * the data bit for bit; results name their channel (message, meta,
 * score_src); more than 64 channels are refused; the channel count may
 * change mid-stream; a NaN in one channel leaves the others scored;
 * dreams explain dream-channel. With ../shared/data: three CWRU
 * recordings (healthy, inner race, outer race) as channels 0-2 of one
 * stream, classified by the embedded default model.
 *
 * Models: tests/data/golden/resnet-small.model.safetensors (2 classes,
 * length 37) with statistics calibrated in the test (trust-inputs.h), and
 * the embedded default model (models/cwru-fcn-pool.safetensors).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-fixture.h"
#include "seqdream-test-util.h"
#include "trust-inputs.h"
#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

#define RATE 8000
#define TOL 1e-5

static GstCaps *
caps_channels (gint rate, guint channels)
{
  return gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, rate,
      "channels", G_TYPE_INT, (gint) channels, NULL);
}

/* n frames of C interleaved channels x (n, C) starting at frame offset. */
static GstBuffer *
make_frames (const gfloat *x, guint n, guint C, guint64 offset, gint rate)
{
  GstBuffer *buf = gst_buffer_new_memdup (x, (gsize) n * C * sizeof (gfloat));
  GstClockTime t0 = gst_util_uint64_scale_int (offset, GST_SECOND, rate);
  GstClockTime t1 = gst_util_uint64_scale_int (offset + n, GST_SECOND, rate);

  GST_BUFFER_PTS (buf) = t0;
  GST_BUFFER_DURATION (buf) = t1 - t0;
  return buf;
}

/* x (n, C) from C mono signals xs[c] (n). */
static gfloat *
interleave (gfloat **xs, guint C, guint n)
{
  gfloat *x = g_new (gfloat, (gsize) n * C);

  for (guint t = 0; t < n; t++)
    for (guint c = 0; c < C; c++)
      x[(gsize) t * C + c] = xs[c][t];
  return x;
}

/* Pushes x (n, C) into el in buffers of `chunk` frames, then EOS; every
 * buffer must leave src bit for bit as it came. Returns the element
 * messages of the given name (in order); the SeqDreamMetas on the buffers
 * must name the channels of the "seqdream" messages, in their order. */
static GList *
run_stream (GstElement *el, GstBus *bus, const gfloat *x, guint C, guint n,
    guint chunk, const gchar *name)
{
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autoptr (GArray) meta_channels = g_array_new (FALSE, FALSE, sizeof (guint));
  GList *msgs, *l;
  guint k = 0;

  gst_harness_set_src_caps (h, caps_channels (RATE, C));
  for (guint pos = 0; pos < n; pos += chunk) {
    guint len = MIN (chunk, n - pos);
    GstBuffer *in = make_frames (x + (gsize) pos * C, len, C, pos, RATE);
    GstBuffer *out;
    GstMapInfo a;
    gpointer state = NULL;
    GstMeta *meta;

    fail_unless_equals_int (
        gst_harness_push (h, gst_buffer_ref (in)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (gst_buffer_map (out, &a, GST_MAP_READ));
    fail_unless_equals_int (a.size, (gsize) len * C * sizeof (gfloat));
    fail_unless (memcmp (a.data, x + (gsize) pos * C, a.size) == 0);
    gst_buffer_unmap (out, &a);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_BUFFER_PTS (in));
    while ((meta = gst_buffer_iterate_meta (out, &state)) != NULL) {
      guint ch = G_MAXUINT;
      if (!gst_meta_info_is_custom (meta->info)
          || !gst_custom_meta_has_name ((GstCustomMeta *) meta, "SeqDreamMeta"))
        continue;
      fail_unless (gst_structure_get_uint (
          gst_custom_meta_get_structure ((GstCustomMeta *) meta), "channel",
          &ch));
      fail_unless (ch < C);
      g_array_append_val (meta_channels, ch);
    }
    gst_buffer_unref (in);
    gst_buffer_unref (out);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fx_harness_teardown (h);
  msgs = take_messages (bus, GST_MESSAGE_ELEMENT, name);
  /* (the window scored at EOS has no buffer, no meta) */
  for (l = msgs; l != NULL && k < meta_channels->len; l = l->next) {
    guint ch = G_MAXUINT;
    if (!gst_message_has_name (l->data, "seqdream"))
      continue;
    fail_unless (gst_structure_get_uint (
        gst_message_get_structure (l->data), "channel", &ch));
    fail_unless_equals_int (ch, g_array_index (meta_channels, guint, k));
    k++;
  }
  fail_unless_equals_int (k, meta_channels->len);
  return msgs;
}

/* The messages of list whose channel is c, in order (a new list of the
 * same references). */
static GList *
of_channel (GList *list, guint c)
{
  GList *out = NULL;

  for (GList *l = list; l != NULL; l = l->next) {
    guint ch = G_MAXUINT;
    fail_unless (gst_structure_get_uint (
        gst_message_get_structure (l->data), "channel", &ch));
    if (ch == c)
      out = g_list_append (out, l->data);
  }
  return out;
}

static void
assert_close (const GstStructure *a, const GstStructure *b, const gchar *f)
{
  gdouble x = NAN, y = NAN;

  fail_unless (gst_structure_get_double (a, f, &x));
  fail_unless (gst_structure_get_double (b, f, &y));
  fail_unless (fabs (x - y) <= TOL, "%s: %.9g vs %.9g", f, x, y);
}

/* Two lists of "seqdream" messages say the same, to TOL. */
static void
assert_same_results (GList *multi, GList *mono)
{
  fail_unless_equals_int (g_list_length (multi), g_list_length (mono));
  for (GList *a = multi, *b = mono; a != NULL; a = a->next, b = b->next) {
    const GstStructure *sa = gst_message_get_structure (a->data);
    const GstStructure *sb = gst_message_get_structure (b->data);
    gint ia = -1, ib = -2;
    gboolean ka, kb;

    fail_unless_equals_uint64 (
        get_u64 (sa, "timestamp"), get_u64 (sb, "timestamp"));
    fail_unless_equals_uint64 (
        get_u64 (sa, "duration"), get_u64 (sb, "duration"));
    fail_unless (gst_structure_get_int (sa, "class-index", &ia));
    fail_unless (gst_structure_get_int (sb, "class-index", &ib));
    fail_unless_equals_int (ia, ib);
    assert_close (sa, sb, "confidence");
    assert_close (sa, sb, "novelty");
    for (guint k = 0; k < 2; k++) {
      fail_unless (
          fabs (array_double (sa, "logits", k) - array_double (sb, "logits", k))
          <= TOL);
      fail_unless (fabs (array_double (sa, "probabilities", k)
                         - array_double (sb, "probabilities", k))
                   <= TOL);
    }
    fail_unless (gst_structure_get_boolean (sa, "known", &ka));
    fail_unless (gst_structure_get_boolean (sb, "known", &kb));
    fail_unless_equals_int (ka, kb);
  }
}

static void
free_signals (gfloat **xs)
{
  for (guint c = 0; c < 3; c++)
    g_free (xs[c]);
  g_free (xs);
}

/* Three different signals (n samples each): two levels of make_signal
 * and a slow sine; freed after the test. */
static gfloat **
three_signals (guint n)
{
  gfloat **xs = g_new0 (gfloat *, 3);

  xs[0] = make_signal (n, 11);
  xs[1] = make_signal (n, 12);
  xs[2] = g_new (gfloat, n);
  for (guint t = 0; t < n; t++) {
    xs[1][t] *= 0.5f;
    xs[2][t] = (gfloat) (1.5 * sin (t * 0.05) + 0.1 * sin (t * 1.3));
  }
  return fx_take (xs, (GDestroyNotify) free_signals);
}

/* ---- every channel as its own mono stream ---- */

GST_START_TEST (test_channels_equal_mono_runs)
{
  const gchar *model = calibrated_golden ();
  const guint n = 400, C = 3, chunk = 50;
  gfloat **xs = three_signals (n);
  g_autofree gfloat *x = interleave (xs, C, n);
  GList *mono[3], *mono_states[3];
  guint threads[] = { 1, 2 };

  for (guint c = 0; c < C; c++) {
    GstBus *bus;
    GstElement *el = make_element (model, &bus, "hop", 10, NULL);
    GList *all = run_stream (el, bus, xs[c], 1, n, chunk, NULL);
    GList *l;

    mono[c] = mono_states[c] = NULL;
    for (l = all; l != NULL; l = l->next) {
      if (gst_message_has_name (l->data, "seqdream"))
        mono[c] = g_list_append (mono[c], l->data);
      else if (gst_message_has_name (l->data, "seqdream-state"))
        mono_states[c] = g_list_append (mono_states[c], l->data);
      else
        gst_message_unref (l->data);
    }
    g_list_free (all);
    /* (400 samples, window 37, hop 10, and a tail at EOS) */
    fail_unless (g_list_length (mono[c]) >= (n - 37) / 10 + 1);
  }
  /* The signals differ: so must some of their classes or scores. */
  fail_if (fabs (array_double (
                     gst_message_get_structure (mono[0]->data), "logits", 0)
                 - array_double (
                     gst_message_get_structure (mono[2]->data), "logits", 0))
           < 1e-3);

  for (guint i = 0; i < G_N_ELEMENTS (threads); i++) {
    GstBus *bus;
    GstElement *el
        = make_element (model, &bus, "hop", 10, "threads", threads[i], NULL);
    GList *res = run_stream (el, bus, x, C, n, chunk, "seqdream");
    GList *states = take_messages (bus, GST_MESSAGE_ELEMENT, "seqdream-state");

    for (guint c = 0; c < C; c++) {
      g_autoptr (GList) mine = of_channel (res, c);
      g_autoptr (GList) my_states = of_channel (states, c);

      assert_same_results (mine, mono[c]);
      fail_unless_equals_int (
          g_list_length (my_states), g_list_length (mono_states[c]));
      for (GList *a = my_states, *b = mono_states[c]; a != NULL;
           a = a->next, b = b->next)
        fail_unless_equals_string (
            gst_structure_get_string (
                gst_message_get_structure (a->data), "state"),
            gst_structure_get_string (
                gst_message_get_structure (b->data), "state"));
    }
    /* Hop-major order: the channels of a window, then the next window. */
    fail_unless_equals_int (g_list_length (res), C * g_list_length (mono[0]));
    g_list_free_full (res, (GDestroyNotify) gst_message_unref);
    g_list_free_full (states, (GDestroyNotify) gst_message_unref);
  }
  for (guint c = 0; c < C; c++) {
    g_list_free_full (mono[c], (GDestroyNotify) gst_message_unref);
    g_list_free_full (mono_states[c], (GDestroyNotify) gst_message_unref);
  }
}

GST_END_TEST;

/* score_src: one line per channel per window, each naming its channel. */
GST_START_TEST (test_score_src_names_channels)
{
  const guint n = 111, C = 2;
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "score_src");
  g_autofree gfloat *x = make_signal (n * C, 5);
  GstBuffer *out;
  guint lines = 0;

  gst_harness_set_src_caps (h, caps_channels (RATE, C));
  fail_unless_equals_int (
      gst_harness_push (h, make_frames (x, n, C, 0, RATE)), GST_FLOW_OK);
  while ((out = gst_harness_try_pull (h)) != NULL) {
    GstMapInfo a;
    g_autofree gchar *want = g_strdup_printf ("\"channel\":%u,", lines % C);
    g_autofree gchar *line = NULL;

    fail_unless (gst_buffer_map (out, &a, GST_MAP_READ));
    line = g_strndup ((const gchar *) a.data, a.size);
    gst_buffer_unmap (out, &a);
    fail_unless (strstr (line, want) != NULL, "%s", line);
    gst_buffer_unref (out);
    lines++;
  }
  fail_unless_equals_int (lines, C * (n / 37));
}

GST_END_TEST;

/* ---- caps ---- */

/* 65 channels: refused by the template (caps query, accept-caps), with a
 * warning that says what is taken; data then fails to negotiate. */
GST_START_TEST (test_65_channels_refused)
{
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GstCaps *caps = caps_channels (RATE, 65), *ok = caps_channels (RATE, 64);
  GstCaps *answer;
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  GstSegment seg;
  gfloat x[65] = { 0 };

  answer = gst_pad_query_caps (GST_PAD_PEER (h->srcpad), caps);
  fail_unless (gst_caps_is_empty (answer));
  gst_caps_unref (answer);
  fail_unless (gst_pad_query_accept_caps (GST_PAD_PEER (h->srcpad), ok));
  fail_if (gst_pad_query_accept_caps (GST_PAD_PEER (h->srcpad), caps));
  gst_harness_push_event (h, gst_event_new_caps (caps));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  fail_unless_equals_int (gst_harness_push (h, make_frames (x, 1, 65, 0, RATE)),
      GST_FLOW_NOT_NEGOTIATED);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL);
  gst_message_parse_warning (m, &err, &dbg);
  fail_unless (
      strstr (err->message, "1 to 64 channels") != NULL, "%s", err->message);
  fail_unless (strstr (err->message, "65") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);
  gst_caps_unref (caps);
  gst_caps_unref (ok);
}

GST_END_TEST;

/* dream-channel must name a channel of the stream: an error that says so. */
GST_START_TEST (test_dream_channel_out_of_range)
{
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, "dream-channel", 3, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GstMessage *m;
  GError *err = NULL;
  gchar *dbg = NULL;
  gfloat x[3 * 40] = { 0 };

  gst_harness_set_src_caps (h, caps_channels (RATE, 3));
  fail_unless_equals_int (gst_harness_push (h, make_frames (x, 40, 3, 0, RATE)),
      GST_FLOW_NOT_NEGOTIATED);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, &dbg);
  fail_unless (
      strstr (err->message, "dream-channel is 3") != NULL, "%s", err->message);
  fail_unless (
      strstr (err->message, "3 channels (0 to 2)") != NULL, "%s", err->message);
  g_clear_error (&err);
  g_free (dbg);
  gst_message_unref (m);
}

GST_END_TEST;

/* Mono, then two channels, then mono again: the windows restart at each
 * change, every window of every channel is scored as libseqdream scores
 * it, src passes every buffer. */
GST_START_TEST (test_channel_count_change)
{
  const guint T = 37, n = 148;
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  g_autofree gfloat *a = make_signal (n, 21);
  g_autofree gfloat *b = make_signal (n, 22);
  gfloat *pair[2] = { a, b };
  g_autofree gfloat *ab = interleave (pair, 2, n);
  const guint counts[] = { 1, 2, 1 };
  GList *msgs = NULL;
  guint64 offset = 0;

  for (guint step = 0; step < G_N_ELEMENTS (counts); step++) {
    guint C = counts[step];
    const gfloat *x = C == 2 ? ab : a;
    GList *got, *l;
    guint k = 0;

    gst_harness_set_src_caps (h, caps_channels (RATE, C));
    for (guint pos = 0; pos < n; pos += 37) {
      GstBuffer *in = make_frames (x + pos * C, 37, C, pos, RATE);
      GstMapInfo m;
      GstBuffer *out;

      GST_BUFFER_PTS (in)
          += gst_util_uint64_scale_int (offset, GST_SECOND, RATE);
      fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
      out = gst_harness_pull (h);
      fail_unless (gst_buffer_map (out, &m, GST_MAP_READ));
      fail_unless (memcmp (m.data, x + pos * C, 37 * C * sizeof (gfloat)) == 0);
      gst_buffer_unmap (out, &m);
      gst_buffer_unref (out);
    }
    got = pop_element_messages (bus, "seqdream");
    /* every window of every channel, from the first sample after the
     * change */
    fail_unless_equals_int (g_list_length (got), C * (n / T));
    for (l = got; l != NULL; l = l->next, k++) {
      const GstStructure *s = gst_message_get_structure (l->data);
      guint ch = G_MAXUINT, j = k / C;
      gdouble ref[2];

      fail_unless (gst_structure_get_uint (s, "channel", &ch));
      fail_unless_equals_int (ch, k % C);
      fail_unless_equals_uint64 (get_u64 (s, "timestamp"),
          gst_util_uint64_scale_int (offset + j * T, GST_SECOND, RATE));
      reference_logits ((ch == 1 ? b : a) + j * T, T, 1.0, ref);
      for (guint c = 0; c < 2; c++)
        fail_unless (fabs (array_double (s, "logits", c) - ref[c]) < TOL);
    }
    msgs = g_list_concat (msgs, got);
    offset += n;
  }
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_ERROR), 0);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* A NaN in channel 1: its windows that hold it are not scored (one
 * warning naming the channel), channels 0 and 2 keep every window. */
GST_START_TEST (test_nan_in_one_channel)
{
  const guint n = 400, C = 3, T = 37, hop = 10, bad = 100;
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, "hop", hop, NULL);
  gfloat **xs = three_signals (n);
  g_autofree gfloat *x = NULL;
  GList *res, *warnings;
  GError *err = NULL;
  gchar *dbg = NULL;
  /* the full windows and the 30-sample tail at EOS */
  guint full = (n - T) / hop + 2;

  xs[1][bad] = NAN;
  x = interleave (xs, C, n);
  res = run_stream (el, bus, x, C, n, 64, "seqdream");
  for (guint c = 0; c < C; c++) {
    g_autoptr (GList) mine = of_channel (res, c);
    /* windows j with j*hop <= bad < j*hop + T hold the NaN: j = 7..10 */
    guint missing = c == 1 ? bad / hop - (bad - T) / hop : 0;

    fail_unless_equals_int (g_list_length (mine), full - missing);
    for (GList *l = mine; l != NULL; l = l->next) {
      guint64 start = get_u64 (gst_message_get_structure (l->data), "timestamp")
                      * RATE / GST_SECOND;
      fail_if (c == 1 && start <= bad && bad < start + T);
    }
  }
  warnings = take_messages (bus, GST_MESSAGE_WARNING, NULL);
  fail_unless_equals_int (g_list_length (warnings), 1);
  gst_message_parse_warning (warnings->data, &err, &dbg);
  fail_unless (
      strstr (err->message, "Channel 1 of the input holds NaN") != NULL, "%s",
      err->message);
  g_clear_error (&err);
  g_free (dbg);
  g_list_free_full (warnings, (GDestroyNotify) gst_message_unref);
  g_list_free_full (res, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* dream-channel=2: the dream (from the window, one tiny step) is the
 * window of channel 2, not of the others, and its message says channel 2. */
GST_START_TEST (test_dream_of_dream_channel)
{
  const guint n = 37, C = 3;
  GstBus *bus;
  GstElement *el
      = make_element (golden_model, &bus, "hop", 37, "dream-channel", 2, NULL);
  GstHarness *h;
  gfloat **xs = three_signals (n);
  g_autofree gfloat *x = interleave (xs, C, n);
  GstMessage *m;
  gdouble err[3] = { 0 };

  gst_util_set_object_arg (G_OBJECT (el), "dream-trigger", "interval");
  gst_util_set_object_arg (G_OBJECT (el), "dream-mode", "from-window");
  g_object_set (el, "dream-steps", 1, "dream-learning-rate", 1e-6,
      "dream-preset", "none", NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, caps_channels (RATE, C));
  fail_unless_equals_int (
      gst_harness_push (h, make_frames (x, n, C, 0, RATE)), GST_FLOW_OK);
  m = wait_element_message (bus, "seqdream-dream", 30);
  fail_unless (m != NULL, "no dream");
  {
    guint channel = 99;
    fail_unless (gst_structure_get_uint (
        gst_message_get_structure (m), "channel", &channel));
    fail_unless_equals_int (channel, 2);
  }
  for (guint c = 0; c < C; c++)
    for (guint t = 0; t < n; t++)
      err[c] = MAX (err[c],
          fabs (array_double (gst_message_get_structure (m), "sequence", t)
                - (xs)[c][t]));
  /* (a step of the optimiser and the dream's smoothing move it a little) */
  fail_unless (err[2] < 0.1 && err[2] * 10 < MIN (err[0], err[1]),
      "max deviation from channels 0-2: %g %g %g", err[0], err[1], err[2]);
  gst_message_unref (m);
}

GST_END_TEST;

/* ---- CWRU recordings as channels ---- */

/* The last 30 % of all (len samples; freed), the part the default model
 * was not trained on; *n becomes the shorter of *n and its length. */
static gfloat *
last_30_percent (gfloat *all, gint64 len, gint64 *n)
{
  const gint64 tail = len * 3 / 10;
  gfloat *x = g_memdup2 (all + len - tail, (gsize) tail * sizeof (gfloat));

  g_free (all);
  *n = MIN (*n, tail);
  return x;
}

/* The n frames of C interleaved channels x through el in buffers of
 * 4800 frames at 48 kHz; the seqdream messages on bus. */
static GList *
stream_frames (GstElement *el, GstBus *bus, const gfloat *x, guint C, gint64 n)
{
  GstHarness *h = fx_harness (el, "sink", "src");

  gst_harness_set_src_caps (h, caps_channels (48000, C));
  for (gint64 pos = 0; pos < n; pos += 4800) {
    guint len = (guint) MIN (4800, n - pos);
    fail_unless_equals_int (gst_harness_push (h, make_frames (x + pos * C, len,
                                                     C, (guint64) pos, 48000)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  return pop_element_messages (bus, "seqdream");
}

/* The last 30 % of every recording (the part the default model was not
 * trained on), cut to the shortest, as channels 0-2 of one stream:
 * healthy (097), inner race 0.007" (109), outer race 0.007" (135). Each
 * channel's class is right on >= 95 % of its windows. */
GST_START_TEST (test_cwru_three_channels)
{
  const gchar *data = g_getenv ("SEQDREAM_DATA");
  const gchar *files[] = { "097_normal_0hp_DE_48k.wav",
    "109_IR007_0hp_DE_48k.wav", "135_OR007_0hp_DE_48k.wav" };
  const gchar *want[] = { "normal", "inner_race", "outer_race" };
  const guint C = 3;
  gfloat *tails[3] = { NULL };
  g_autofree gfloat *x = NULL;
  gint64 n = G_MAXINT64;
  GstBus *bus;
  GstElement *el;
  GList *res;

  for (guint c = 0; c < C; c++) {
    g_autofree gchar *path
        = data != NULL ? g_build_filename (data, "cwru", "wav", files[c], NULL)
                       : NULL;
    g_autoptr (GError) error = NULL;
    gfloat *all = NULL;
    gint64 len = 0;
    gint rate = 0;

    if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS)) {
      g_printerr ("%s is absent (SEQDREAM_DATA): test skipped\n",
          path != NULL ? path : files[c]);
      goto out;
    }
    fail_unless (sd_wav_read (path, &all, &len, &rate, &error), "%s",
        error ? error->message : "");
    fail_unless_equals_int (rate, 48000);
    tails[c] = last_30_percent (all, len, &n);
  }
  if (!have_default_model ())
    goto out;
  x = interleave (tails, C, (guint) n);

  el = make_element (NULL, &bus, NULL);
  res = stream_frames (el, bus, x, C, n);
  for (guint c = 0; c < C; c++) {
    g_autoptr (GList) mine = of_channel (res, c);
    guint right = 0, total = g_list_length (mine);

    for (GList *l = mine; l != NULL; l = l->next)
      right += g_strcmp0 (gst_structure_get_string (
                              gst_message_get_structure (l->data), "class"),
                   want[c])
               == 0;
    g_print ("channel %u (%s): %u of %u windows right (%.1f %%)\n", c, files[c],
        right, total, 100.0 * right / MAX (total, 1));
    fail_unless (total >= (guint) (n / 1024) - 2);
    fail_unless (
        right >= 0.95 * total, "channel %u: %u of %u", c, right, total);
  }
  g_list_free_full (res, (GDestroyNotify) gst_message_unref);
out:
  for (guint c = 0; c < C; c++)
    g_free (tails[c]);
}

GST_END_TEST;

/* ---- a second sensor: the fan end ---- */

/* The real double matrix called var in the MATLAB 5 file at path
 * (uncompressed, little-endian: the form of the CWRU originals), as
 * floats (*n of them); NULL, with the reason on stderr, otherwise. */
static gfloat *
read_mat_doubles (const gchar *path, const gchar *var, gint64 *n)
{
  g_autofree guint8 *buf = NULL;
  gsize size = 0;
  guint32 u;

  if (!g_file_get_contents (path, (gchar **) &buf, &size, NULL) || size < 128
      || memcmp (buf, "MATLAB 5.0 MAT-file", 19) != 0
      || memcmp (buf + 126, "IM", 2) != 0) {
    g_printerr ("%s: not a little-endian MATLAB 5 file\n", path);
    return NULL;
  }
#define U32(off) (memcpy (&u, buf + (off), 4), GUINT32_FROM_LE (u))
  for (gsize pos = 128; pos + 8 <= size;) {
    const guint32 type = U32 (pos), nbytes = U32 (pos + 4);
    const gsize end = pos + 8 + nbytes;
    const guint8 *sub[4] = { NULL };
    guint32 sub_type[4] = { 0 }, sub_n[4] = { 0 };

    if (end > size)
      break;
    /* (miMATRIX: flags, dimensions, name, real part) */
    for (gsize p = pos + 8, k = 0; type == 14 && k < 4 && p + 8 <= end; k++) {
      guint32 t = U32 (p), len;
      if (t >> 16) { /* a small element: its size in the tag's upper half */
        len = t >> 16;
        sub[k] = buf + p + 4;
        t &= 0xFFFF;
        p += 8;
      } else {
        len = U32 (p + 4);
        sub[k] = buf + p + 8;
        p += 8 + len + (8 - len % 8) % 8;
      }
      if (sub[k] + len > buf + end)
        break;
      sub_type[k] = t;
      sub_n[k] = len;
    }
    if (type == 14 && sub[3] != NULL && sub_type[3] == 9
        && sub_n[2] == strlen (var) && memcmp (sub[2], var, sub_n[2]) == 0) {
      gfloat *x = g_new (gfloat, sub_n[3] / 8);
      *n = sub_n[3] / 8;
      for (gint64 i = 0; i < *n; i++) {
        guint64 bits;
        gdouble d;
        memcpy (&bits, sub[3] + 8 * i, 8);
        bits = GUINT64_FROM_LE (bits);
        memcpy (&d, &bits, 8);
        x[i] = (gfloat) d;
      }
      return x;
    }
    pos = end + (8 - nbytes % 8) % 8;
  }
#undef U32
  g_printerr ("%s: no double matrix %s\n", path, var);
  return NULL;
}

/* The default model learnt from the drive-end accelerometer. The CWRU
 * files also hold the fan-end one, recorded at the same time: on the
 * ball (122) and the 0.014" inner-race (174) recordings it makes the
 * model say "normal", a missed fault (docs/trust.md, "Another sensor
 * position"). One stream of four channels, the last 30 % of each (not
 * trained on), cut to the shortest: 122 drive end, 122 fan end, 174
 * drive end, 174 fan end. The drive-end channels are named right; the
 * fan-end channels are known=false, and none of their windows is named
 * wrongly and known. The control, novelty-threshold=0: the fan-end
 * channels are then named wrongly (the data would fail the test without
 * the novelty). */
GST_START_TEST (test_cwru_fan_end_not_known)
{
  const gchar *data = g_getenv ("SEQDREAM_DATA");
  const gchar *files[]
      = { "48k_Drive_End_B007_0_122.mat", "48k_Drive_End_IR014_0_174.mat" };
  const gchar *vars[]
      = { "X122_DE_time", "X122_FE_time", "X173_DE_time", "X173_FE_time" };
  const gchar *want[] = { "ball", "ball", "inner_race", "inner_race" };
  const guint C = 4;
  gfloat *tails[4] = { NULL };
  g_autofree gfloat *x = NULL;
  gint64 n = G_MAXINT64;

  for (guint c = 0; c < C; c++) {
    g_autofree gchar *path = data != NULL ? g_build_filename (
                                 data, "cwru", "mat", files[c / 2], NULL)
                                          : NULL;
    gfloat *all;
    gint64 len = 0;

    if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS)) {
      g_printerr ("%s is absent (SEQDREAM_DATA): test skipped\n",
          path != NULL ? path : files[c / 2]);
      goto out;
    }
    all = read_mat_doubles (path, vars[c], &len);
    fail_unless (all != NULL && len > 0);
    tails[c] = last_30_percent (all, len, &n);
  }
  if (!have_default_model ())
    goto out;
  x = interleave (tails, C, (guint) n);

  for (gint novelty_off = 0; novelty_off <= 1; novelty_off++) {
    GstBus *bus;
    GstElement *el = novelty_off ? make_element (
                         NULL, &bus, "novelty-threshold", 0.0, NULL)
                                 : make_element (NULL, &bus, NULL);
    GList *res = stream_frames (el, bus, x, C, n);

    for (guint c = 0; c < C; c++) {
      g_autoptr (GList) mine = of_channel (res, c);
      guint right = 0, unknown = 0, wrong_known = 0;
      const guint total = g_list_length (mine);

      for (GList *l = mine; l != NULL; l = l->next) {
        const GstStructure *st = gst_message_get_structure (l->data);
        gboolean known = TRUE;
        const gboolean ok
            = g_strcmp0 (gst_structure_get_string (st, "class"), want[c]) == 0;

        fail_unless (gst_structure_get_boolean (st, "known", &known));
        right += ok;
        unknown += !known;
        wrong_known += known && !ok;
      }
      g_print ("%s channel %u (%s): %u windows, %u right, %u not known, %u "
               "wrong and known\n",
          novelty_off ? "novelty off:" : "novelty on: ", c, vars[c], total,
          right, unknown, wrong_known);
      fail_unless (total >= (guint) (n / 1024) - 2);
      if (c % 2 == 0) /* drive end */
        fail_unless (
            right >= 0.95 * total, "channel %u: %u of %u", c, right, total);
      else if (!novelty_off)
        fail_unless (wrong_known == 0 && unknown >= 0.95 * total,
            "fan end, channel %u: %u of %u not known, %u wrong and known", c,
            unknown, total, wrong_known);
      else
        fail_unless (right <= 0.05 * total,
            "control: fan end, channel %u named right on %u of %u", c, right,
            total);
    }
    g_list_free_full (res, (GDestroyNotify) gst_message_unref);
  }
out:
  for (guint c = 0; c < C; c++)
    g_free (tails[c]);
}

GST_END_TEST;

static Suite *
multichannel_suite (void)
{
  Suite *s = suite_create ("seqdream-multichannel");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_channels_equal_mono_runs);
  tcase_add_test (tc, test_score_src_names_channels);
  tcase_add_test (tc, test_65_channels_refused);
  tcase_add_test (tc, test_dream_channel_out_of_range);
  tcase_add_test (tc, test_channel_count_change);
  tcase_add_test (tc, test_nan_in_one_channel);
  tcase_add_test (tc, test_dream_of_dream_channel);
  tcase_add_test (tc, test_cwru_three_channels);
  tcase_add_test (tc, test_cwru_fan_end_not_known);
  return s;
}

GST_CHECK_MAIN (multichannel);
