/* gst-check tests of what the seqdream element tells a user about how far
 * to trust its scores on their stream: the input gain (pass-through
 * untouched, scores and dreams in the right units, bad values refused),
 * the model's sample rate preferred in caps negotiation (audioresample
 * then resamples by itself), the "seqdream-state" messages (only when
 * the stream's state changes, after state-holdoff windows that agree),
 * every window's novelty and known, and the input level warning.
 *
 * Models (trust-inputs.h): tests/data/golden/resnet-small.model.safetensors
 * (2 classes "c0"/"c1", training length 37, no sample rate, no
 * statistics), the same with statistics calibrated in the test, and the
 * embedded default model with vibrationsrc's synthetic bearing vibration
 * (the tests that need it skip in a build without one).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-fixture.h"
#include "seqdream-test-util.h"
#include "trust-inputs.h"
#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

/* ---- gain ---- */

/* The data on src stays bit for bit what came in, whatever the gain, also
 * when it changes while playing; the meta is added to a writable copy of
 * the buffer's structure, never to its memory. */
GST_START_TEST (test_gain_passthrough_bit_exact)
{
  GstBus *bus;
  GstElement *el
      = make_element (golden_model, &bus, "gain", 10.0, "hop", 10, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  const guint n = 50, nbuf = 8;
  g_autofree gfloat *x = make_signal (n * nbuf, 3);
  guint metas = 0;

  gst_harness_set_src_caps (h, f32_caps (8000));
  for (guint i = 0; i < nbuf; i++) {
    GstBuffer *in = make_buffer (x + i * n, n, i * n, 8000, 0);
    GstBuffer *out;
    GstMapInfo a;

    if (i == 4)
      g_object_set (el, "gain", 0.25, NULL);
    gst_buffer_ref (in);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless (
        gst_buffer_peek_memory (out, 0) == gst_buffer_peek_memory (in, 0));
    fail_unless (gst_buffer_map (out, &a, GST_MAP_READ));
    fail_unless_equals_int (a.size, n * sizeof (gfloat));
    fail_unless (memcmp (a.data, x + i * n, a.size) == 0);
    gst_buffer_unmap (out, &a);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), GST_BUFFER_PTS (in));
    metas += count_metas (out);
    gst_buffer_unref (in);
    gst_buffer_unref (out);
  }
  /* 400 samples, window 37, hop 10: every window scored. */
  fail_unless_equals_int (metas, (400 - 37) / 10 + 1);
}

GST_END_TEST;

/* Every window is scored as the model sees gain * input, with the gain in
 * force when the window completes (a change applies from the next window
 * on). */
GST_START_TEST (test_gain_scales_the_model_input)
{
  GstBus *bus;
  GstElement *el = make_element (
      golden_model, &bus, "gain", 2.0, "window", 37, "hop", 37, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  const guint T = 37;
  g_autofree gfloat *x = make_signal (4 * T, 11);
  const gdouble gains[4] = { 2.0, 2.0, 0.001, 50.0 };
  GList *msgs;
  guint j = 0;

  gst_harness_set_src_caps (h, f32_caps (1000));
  for (guint i = 0; i < 4; i++) {
    g_object_set (el, "gain", gains[i], NULL);
    fail_unless_equals_int (
        gst_harness_push (h, make_buffer (x + i * T, T, i * T, 1000, 0)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
  msgs = pop_element_messages (bus, "seqdream");
  fail_unless_equals_int (g_list_length (msgs), 4);
  for (GList *l = msgs; l != NULL; l = l->next, j++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    gdouble ref[2];

    reference_logits (x + j * T, T, gains[j], ref);
    for (guint k = 0; k < 2; k++)
      fail_unless (array_double (s, "logits", k) == (gfloat) ref[k],
          "window %u logit %u: %g, libseqdream %g", j, k,
          array_double (s, "logits", k), ref[k]);
  }
  /* The control: the gain changed the scores (window 2 at gain 1). */
  {
    gdouble ungained[2];
    reference_logits (x + 2 * T, T, 1.0, ungained);
    fail_if (
        array_double (
            gst_message_get_structure (g_list_nth_data (msgs, 2)), "logits", 0)
        == (gfloat) ungained[0]);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* The first dream of an element with dream-trigger=interval (the first
 * window triggers), given input x (T samples) and gain: its "sequence". */
static GArray *
first_dream (const gfloat *x, guint T, gdouble gain, const gchar *normalize)
{
  GstBus *bus;
  GstElement *el
      = make_element (golden_model, &bus, "gain", gain, "dream-trigger",
          2 /* interval */, "dream-steps", 20, "dream-seed", (guint64) 5, NULL);
  GstHarness *h;
  GstMessage *m;
  const GValue *seq;
  GArray *out = g_array_new (FALSE, FALSE, sizeof (gdouble));

  /* (before the harness starts the element) */
  gst_util_set_object_arg (G_OBJECT (el), "normalize", normalize);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (1000));
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, T, 0, 1000, 0)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  m = wait_element_message (bus, "seqdream-dream", 20);
  fail_unless (m != NULL, "no dream");
  seq = gst_structure_get_value (gst_message_get_structure (m), "sequence");
  for (guint i = 0; i < gst_value_array_get_size (seq); i++) {
    gdouble v = g_value_get_double (gst_value_array_get_value (seq, i));
    g_array_append_val (out, v);
  }
  gst_message_unref (m);
  fx_harness_teardown (h);
  return out;
}

/* gain = 10 on x is the model's view of 10 x: the same dream, returned in
 * the units of the stream (1/10 of the dream of 10 x at gain 1), with the
 * model's normalisation and per series. */
GST_START_TEST (test_gain_dreams_in_stream_units)
{
  const guint T = 37;
  g_autofree gfloat *x = make_signal (T, 21);
  g_autofree gfloat *x10 = g_new (gfloat, T);
  /* (the golden model's own normalisation is none) */
  const gchar *modes[] = { "model", "per-series" };

  for (guint t = 0; t < T; t++)
    x10[t] = (gfloat) (10.0 * x[t]);
  for (guint i = 0; i < G_N_ELEMENTS (modes); i++) {
    const gchar *mode = modes[i];
    g_autoptr (GArray) a = first_dream (x10, T, 1.0, mode);
    g_autoptr (GArray) b = first_dream (x, T, 10.0, mode);
    gdouble amax = 0.0;

    fail_unless_equals_int (a->len, T);
    fail_unless_equals_int (b->len, T);
    for (guint t = 0; t < T; t++) {
      gdouble va = g_array_index (a, gdouble, t);
      gdouble vb = g_array_index (b, gdouble, t);
      fail_unless (fabs (vb * 10.0 - va) <= 1e-5 * MAX (1.0, fabs (va)),
          "%s sample %u: %g x 10 vs %g", mode, t, vb, va);
      amax = MAX (amax, fabs (va));
    }
    /* The control: a dream of something, not of zeros. */
    fail_unless (amax > 1e-3, "%s: a flat dream", mode);
  }
}

GST_END_TEST;

/* gain must be a positive number (1e-9 .. 1e9): 0, negative, NaN and
 * Inf are refused with a warning and the old value stays; so are
 * novelty-threshold below -1 and NaN. */
GST_START_TEST (test_bad_values_refused)
{
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  const gdouble bad_gain[] = { 0.0, -1.0, NAN, INFINITY, -INFINITY, 2e9 };
  const gdouble bad_threshold[] = { -1.5, -2.0, NAN, INFINITY };
  gdouble v;
  guint holdoff;

  gst_object_unref (fx_element (el));
  g_object_set (el, "gain", 2.5, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad_gain); i++) {
    ASSERT_WARNING (g_object_set (el, "gain", bad_gain[i], NULL));
    g_object_get (el, "gain", &v, NULL);
    fail_unless (v == 2.5, "gain %g: now %g", bad_gain[i], v);
  }
  /* Also from a launch line's text. */
  ASSERT_WARNING (gst_util_set_object_arg (G_OBJECT (el), "gain", "-3"));
  g_object_get (el, "gain", &v, NULL);
  fail_unless (v == 2.5);
  /* The control: a valid value is taken. */
  g_object_set (el, "gain", 1e-9, NULL);
  g_object_get (el, "gain", &v, NULL);
  fail_unless (v == 1e-9);

  g_object_get (el, "novelty-threshold", &v, NULL);
  fail_unless (v == -1.0, "default novelty-threshold %g", v);
  g_object_set (el, "novelty-threshold", 7.5, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (bad_threshold); i++) {
    ASSERT_WARNING (
        g_object_set (el, "novelty-threshold", bad_threshold[i], NULL));
    g_object_get (el, "novelty-threshold", &v, NULL);
    fail_unless (v == 7.5, "novelty-threshold %g: now %g", bad_threshold[i], v);
  }
  g_object_set (el, "novelty-threshold", 0.0, NULL);
  g_object_get (el, "novelty-threshold", &v, NULL);
  fail_unless (v == 0.0);

  g_object_get (el, "state-holdoff", &holdoff, NULL);
  fail_unless_equals_int (holdoff, 3);
  ASSERT_WARNING (g_object_set (el, "state-holdoff", 100001, NULL));
  g_object_get (el, "state-holdoff", &holdoff, NULL);
  fail_unless_equals_int (holdoff, 3);
}

GST_END_TEST;

/* ---- rate ---- */

/* The rate of the first structure of the sink pad's answer to a caps
 * query (0 when it is not fixed), and whether the answer also takes
 * other_rate. */
static gint
preferred_rate (GstElement *el, gint other_rate, gboolean *takes_other)
{
  GstPad *sink = gst_element_get_static_pad (el, "sink");
  GstCaps *caps = gst_pad_query_caps (sink, NULL);
  GstCaps *other = f32_caps (other_rate);
  gint rate = 0;

  fail_if (gst_caps_is_empty (caps));
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "rate", &rate);
  *takes_other = gst_caps_can_intersect (caps, other);
  gst_caps_unref (other);
  gst_caps_unref (caps);
  gst_object_unref (sink);
  return rate;
}

/* With a model that records its rate, the caps query lists that rate
 * first and still takes any other; without one (or before the model is
 * loaded) nothing is preferred. */
GST_START_TEST (test_caps_query_prefers_model_rate)
{
  GstBus *bus;
  GstElement *el;
  gboolean other;

  el = make_element (golden_model, &bus, NULL);
  fail_unless_equals_int (preferred_rate (el, 8000, &other), 0);
  fail_unless (other);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  /* the golden model has no rate */
  fail_unless_equals_int (preferred_rate (el, 8000, &other), 0);
  fail_unless (other);
  gst_element_set_state (el, GST_STATE_NULL);

  if (!have_default_model ())
    return;
  el = make_element (NULL, &bus, NULL);
  fail_unless_equals_int (preferred_rate (el, 8000, &other), 0);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (preferred_rate (el, 8000, &other), 48000);
  fail_unless (other, "the preferred rate must not refuse others");
  gst_element_set_state (el, GST_STATE_NULL);
  /* Released with the model. */
  fail_unless_equals_int (preferred_rate (el, 8000, &other), 0);
}

GST_END_TEST;

typedef struct
{
  gint rate;       /* the rate seqdream's sink pad got */
  guint windows;   /* "seqdream" messages */
  gchar *warnings; /* the warnings' texts, one a line */
} RunResult;

static void
run_result_free (RunResult *r)
{
  g_free (r->warnings);
  g_free (r);
}

/* Runs `audiotestsrc ... ! audio/x-raw,rate=8000 ! MIDDLE seqdream !
 * fakesink` to EOS. */
static RunResult *
run_8k (const gchar *middle)
{
  g_autofree gchar *desc = g_strdup_printf (
      "audiotestsrc num-buffers=4 samplesperbuffer=4000 wave=white-noise "
      "volume=0.1 ! audio/x-raw,rate=8000 ! %s seqdream name=sd ! fakesink",
      middle);
  g_autoptr (GError) error = NULL;
  GstElement *pipe = gst_parse_launch (desc, &error);
  GstElement *sd;
  GstBus *bus;
  RunResult *r
      = fx_take (g_new0 (RunResult, 1), (GDestroyNotify) run_result_free);
  GString *warnings = g_string_new (NULL);
  GstPad *pad;
  GstCaps *caps;
  GstMessage *m;

  fail_unless (pipe != NULL, "%s: %s", desc, error ? error->message : "");
  gst_object_unref (fx_element (pipe));
  bus = gst_element_get_bus (pipe);
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  while ((m = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING
                  | GST_MESSAGE_ELEMENT))
         != NULL) {
    GstMessageType type = GST_MESSAGE_TYPE (m);
    if (type == GST_MESSAGE_WARNING) {
      g_autoptr (GError) w = NULL;
      gst_message_parse_warning (m, &w, NULL);
      g_string_append_printf (warnings, "%s\n", w->message);
    } else if (type == GST_MESSAGE_ELEMENT
               && gst_message_has_name (m, "seqdream")) {
      r->windows++;
    }
    gst_message_unref (m);
    fail_if (type == GST_MESSAGE_ERROR, "%s: error", desc);
    if (type == GST_MESSAGE_EOS)
      break;
  }
  sd = gst_bin_get_by_name (GST_BIN (pipe), "sd");
  pad = gst_element_get_static_pad (sd, "sink");
  caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != NULL);
  fail_unless (gst_structure_get_int (
      gst_caps_get_structure (caps, 0), "rate", &r->rate));
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_object_unref (sd);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  r->warnings = g_string_free (warnings, FALSE);
  return r;
}

/* The warning's advice works: an 8 kHz stream straight into seqdream
 * (default model, 48 kHz) is scored at 8 kHz with the warning that says
 * to put audioresample before it; with audioresample the stream is
 * resampled to 48 kHz by negotiation alone, and no warning. */
GST_START_TEST (test_audioresample_takes_model_rate)
{
  RunResult *direct, *resampled;
  GstElementFactory *f = gst_element_factory_find ("audioresample");

  if (f == NULL) {
    g_printerr ("no audioresample: test skipped\n");
    return;
  }
  gst_object_unref (f);
  if (!have_default_model ())
    return;

  direct = run_8k ("");
  fail_unless_equals_int (direct->rate, 8000);
  fail_unless (strstr (direct->warnings, "48000 Hz") != NULL
                   && strstr (direct->warnings, "8000 Hz") != NULL
                   && strstr (direct->warnings, "audioresample") != NULL,
      "warnings: %s", direct->warnings);
  /* 16000 samples, window 2048, hop 1024, and the tail at EOS */
  fail_unless_equals_int (direct->windows, (16000 - 2048) / 1024 + 1 + 1);

  resampled = run_8k ("audioresample !");
  fail_unless_equals_int (resampled->rate, 48000);
  fail_unless_equals_string (resampled->warnings, "");
  /* 2 s at 48 kHz: 92 windows and the tail, give or take the
   * resampler's delay */
  fail_unless (resampled->windows >= 91 && resampled->windows <= 94,
      "%u windows", resampled->windows);
}

GST_END_TEST;

/* ---- states ---- */

/* The "seqdream-state" messages on the bus, in order. */
static GList *
pop_states (GstBus *bus)
{
  return pop_element_messages (bus, "seqdream-state");
}

static GstClockTime
window_ts (guint j)
{
  return gst_util_uint64_scale_int (j * 2048, GST_SECOND, 48000);
}

/* m says: the state became `state` (class index) from `previous` (NULL:
 * none; class index prev_index), `windows` agreed, the last was the
 * window at ts (its running and stream time too: segments start at 0) of
 * duration dur. */
static void
check_state_at (GstMessage *m, const gchar *state, gint index,
    const gchar *previous, gint prev_index, guint windows, GstClockTime ts,
    GstClockTime dur)
{
  const GstStructure *s = gst_message_get_structure (m);
  gint k;
  guint n;

  fail_unless_equals_string (gst_structure_get_string (s, "state"), state);
  fail_unless (gst_structure_get_int (s, "class-index", &k));
  fail_unless_equals_int (k, index);
  if (previous == NULL) {
    fail_if (gst_structure_has_field (s, "previous"));
    fail_if (gst_structure_has_field (s, "previous-class-index"));
  } else {
    fail_unless_equals_string (
        gst_structure_get_string (s, "previous"), previous);
    fail_unless (gst_structure_get_int (s, "previous-class-index", &k));
    fail_unless_equals_int (k, prev_index);
  }
  fail_unless (gst_structure_get_uint (s, "windows", &n));
  fail_unless_equals_int (n, windows);
  fail_unless_equals_uint64 (get_u64 (s, "timestamp"), ts);
  fail_unless_equals_uint64 (get_u64 (s, "running-time"), ts);
  fail_unless_equals_uint64 (get_u64 (s, "stream-time"), ts);
  fail_unless_equals_uint64 (get_u64 (s, "duration"), dur);
}

/* The same for window j of the vibration tests (48 kHz, hop = window =
 * 2048). */
static void
check_state (GstMessage *m, const gchar *state, gint index,
    const gchar *previous, guint windows, guint j)
{
  /* the default model's labels: ball, inner_race, normal, outer_race */
  gint prev_index = previous == NULL                   ? -2
                    : strcmp (previous, "normal") == 0 ? 2
                                                       : 1;

  check_state_at (m, state, index, previous, prev_index, windows, window_ts (j),
      window_ts (j + 1) - window_ts (j));
}

/* Pushes the pattern (one buffer per window) into a harness of el. */
static void
push_pattern (GstHarness *h, const gchar *pattern, guint64 offset)
{
  g_autofree gfloat *x = pattern_signal (pattern);

  for (guint i = 0; pattern[i] != '\0'; i++) {
    fail_unless_equals_int (
        gst_harness_push (
            h, make_buffer (x + i * 2048, 2048, offset + i * 2048, 48000, 0)),
        GST_FLOW_OK);
    gst_buffer_unref (gst_harness_pull (h));
  }
}

/* Only changes that last state-holdoff windows are states: blips of two
 * windows under a holdoff of three are not, and each message names the
 * state, the one before, the windows that agreed and the window that
 * confirmed it. */
GST_START_TEST (test_state_only_on_lasting_change)
{
  const gchar *pattern = "NNNNNIINNIINNIIINNNN";
  GstBus *bus;
  GstElement *el;
  GstHarness *h;
  GList *states;
  g_autoptr (GPtrArray) classes = NULL;

  if (!have_default_model ())
    return;
  el = make_element (NULL, &bus, "hop", 2048, "novelty-threshold", 0.0, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, pattern, 0);

  /* The precondition: every window has the class of its block. */
  classes = classes_of (pop_element_messages (bus, "seqdream"));
  fail_unless_equals_int (classes->len, strlen (pattern));
  for (guint j = 0; j < classes->len; j++)
    fail_unless_equals_string (g_ptr_array_index (classes, j),
        pattern[j] == 'N' ? "normal" : "inner_race");

  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 3);
  /* normal confirmed by windows 0-2; inner_race by 13-15; normal by
   * 16-18. */
  check_state (states->data, "normal", 2, NULL, 3, 2);
  check_state (states->next->data, "inner_race", 1, "normal", 3, 15);
  check_state (states->next->next->data, "normal", 2, "inner_race", 3, 18);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* state-holdoff 1 reports every change, 0 none; the states come without
 * the per-window messages (post-messages=false), which a user who only
 * wants events turns off. */
GST_START_TEST (test_state_holdoff_and_post_messages)
{
  const gchar *pattern = "NNINNI";
  GstBus *bus;
  GstElement *el;
  GstHarness *h;
  GList *states;

  if (!have_default_model ())
    return;
  el = make_element (NULL, &bus, "hop", 2048, "novelty-threshold", 0.0,
      "state-holdoff", 1, "post-messages", FALSE, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, pattern, 0);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_ELEMENT), 4);
  fx_harness_teardown (h);

  el = make_element (NULL, &bus, "hop", 2048, "novelty-threshold", 0.0,
      "state-holdoff", 1, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, pattern, 0);
  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 4);
  check_state (states->data, "normal", 2, NULL, 1, 0);
  check_state (states->next->data, "inner_race", 1, "normal", 1, 2);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);
  fx_harness_teardown (h);

  /* 0: no states, until it is set (the windows before count). */
  el = make_element (NULL, &bus, "hop", 2048, "novelty-threshold", 0.0,
      "state-holdoff", 0, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, "NNNN", 0);
  states = pop_states (bus);
  fail_unless (states == NULL);
  g_object_set (el, "state-holdoff", 3, NULL);
  push_pattern (h, "N", 4 * 2048);
  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 1);
  check_state (states->data, "normal", 2, NULL, 5, 4);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* Three healthy windows from the start of a segment give the first state
 * of a stream: normal, after window 2, with no previous. */
static void
expect_first_state (GstHarness *h, GstBus *bus)
{
  GList *states;

  push_pattern (h, "NNN", 0);
  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 1);
  check_state (states->data, "normal", 2, NULL, 3, 2);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);
}

/* A flush or a new stream starts over: the state is reported again, with
 * no previous; a DISCONT within the stream does not. */
GST_START_TEST (test_state_reset_on_flush_and_new_stream)
{
  GstBus *bus;
  GstElement *el;
  GstHarness *h;
  GList *states;
  GstSegment seg;

  if (!have_default_model ())
    return;
  el = make_element (NULL, &bus, "hop", 2048, "novelty-threshold", 0.0, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, "NNNN", 0);
  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 1);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);

  /* DISCONT: the same stream, no new state. */
  {
    g_autofree gfloat *x = pattern_signal ("NNNN");
    for (guint i = 0; i < 4; i++) {
      GstBuffer *b
          = make_buffer (x + i * 2048, 2048, (10 + i) * 2048, 48000, 0);
      if (i == 0)
        GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
      fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
      gst_buffer_unref (gst_harness_pull (h));
    }
  }
  fail_unless (pop_states (bus) == NULL);

  /* Flush: again, from no state. */
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  expect_first_state (h, bus);

  /* A new stream (another stream id). */
  fail_unless (
      gst_harness_push_event (h, gst_event_new_stream_start ("other")));
  fail_unless (gst_harness_push_event (h, f32_caps_event (48000)));
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  expect_first_state (h, bus);
}

GST_END_TEST;

/* ---- novelty ---- */

/* Pushes x (n windows of T, one buffer each, hop = window) at 1 kHz from
 * sample `offset` on; the metas of the buffers are appended to metas (as
 * structure copies) when it is not NULL. */
static void
push_windows (GstHarness *h, const gfloat *x, guint n, guint T, guint64 offset,
    GPtrArray *metas)
{
  for (guint j = 0; j < n; j++) {
    GstBuffer *out;
    GstCustomMeta *meta;

    fail_unless_equals_int (gst_harness_push (h, make_buffer (x + j * T, T,
                                                     offset + j * T, 1000, 0)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    meta = gst_buffer_get_custom_meta (out, "SeqDreamMeta");
    fail_unless (meta != NULL);
    if (metas != NULL)
      g_ptr_array_add (
          metas, gst_structure_copy (gst_custom_meta_get_structure (meta)));
    gst_buffer_unref (out);
  }
}

static gdouble
get_double (const GstStructure *s, const gchar *field)
{
  gdouble v;

  fail_unless (gst_structure_get_double (s, field, &v), "no %s", field);
  return v;
}

static gboolean
get_known (const GstStructure *s)
{
  gboolean v;

  fail_unless (gst_structure_get_boolean (s, "known", &v), "no known");
  return v;
}

/* Every window's novelty is libseqdream's (sd_workspace_novelty of the
 * same forward pass), in the message and in the meta; it is known when
 * the novelty is not above the model's threshold; the class is still
 * the arg-max. Windows like those the model was calibrated on are known,
 * 30 times louder ones are not. */
GST_START_TEST (test_novelty_in_message_and_meta)
{
  const gchar *model = calibrated_golden ();
  const guint T = 37, n = 4;
  gdouble lo, hi, threshold = stats_of (model, &lo, &hi);
  g_autofree gfloat *x = g_new (gfloat, 2 * n * T);
  g_autofree gfloat *quiet = make_signal (n * T, 7);
  g_autofree gfloat *loud = loud_signal (n * T, 8);
  g_autoptr (GPtrArray) metas
      = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  GstBus *bus;
  GstElement *el = make_element (model, &bus, "hop", T, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GList *msgs, *l;
  guint j = 0;

  memcpy (x, quiet, n * T * sizeof (gfloat));
  memcpy (x + n * T, loud, n * T * sizeof (gfloat));
  gst_harness_set_src_caps (h, f32_caps (1000));
  push_windows (h, x, 2 * n, T, 0, metas);
  msgs = pop_element_messages (bus, "seqdream");
  fail_unless_equals_int (g_list_length (msgs), 2 * n);
  for (l = msgs; l != NULL; l = l->next, j++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    const GstStructure *m = g_ptr_array_index (metas, j);
    gdouble novelty = get_double (s, "novelty");
    gint k;

    fail_unless (novelty == reference_novelty (model, x + j * T, T),
        "window %u: novelty %g, libseqdream %g", j, novelty,
        reference_novelty (model, x + j * T, T));
    fail_unless_equals_int (get_known (s), !(novelty > threshold));
    fail_unless_equals_int (get_known (s), j < n);
    fail_unless (get_double (m, "novelty") == novelty);
    fail_unless_equals_int (get_known (m), get_known (s));
    fail_unless (gst_structure_get_int (s, "class-index", &k));
    fail_unless_equals_int (k,
        array_double (s, "logits", 0) >= array_double (s, "logits", 1) ? 0 : 1);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
}

GST_END_TEST;

/* novelty-threshold: 0 makes every window known (the novelty is still
 * given), a value of one's own replaces the model's, and a change
 * applies from the next window on. */
GST_START_TEST (test_novelty_threshold_property)
{
  const gchar *model = calibrated_golden ();
  const guint T = 37;
  gdouble lo, hi, threshold = stats_of (model, &lo, &hi);
  g_autofree gfloat *quiet = make_signal (T, 7);
  g_autofree gfloat *loud = loud_signal (T, 8);
  const struct
  {
    gdouble property;
    const gfloat *x;
    gboolean known;
  } cases[] = {
    { 0.0, loud, TRUE },
    { -1.0, loud, FALSE },
    { 1e12, loud, TRUE },
    { -0.5, quiet, TRUE },
    { 1e-9, quiet, FALSE },
  };
  GstBus *bus;
  GstElement *el = make_element (model, &bus, "hop", T, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");

  gst_harness_set_src_caps (h, f32_caps (1000));
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GList *msgs;
    const GstStructure *s;
    gdouble novelty;

    g_object_set (el, "novelty-threshold", cases[i].property, NULL);
    push_windows (h, cases[i].x, 1, T, i * T, NULL);
    msgs = pop_element_messages (bus, "seqdream");
    fail_unless_equals_int (g_list_length (msgs), 1);
    s = gst_message_get_structure (msgs->data);
    novelty = get_double (s, "novelty");
    fail_unless (isfinite (novelty) && novelty > 0.0);
    fail_unless_equals_int (get_known (s), cases[i].known);
    /* the loud window is far above the model's threshold, the quiet one
     * below it */
    fail_unless_equals_int (novelty > threshold, cases[i].x == loud);
    g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  }
}

GST_END_TEST;

/* A model without statistics cannot tell: novelty NaN ("not measured",
 * as a missing value in numpy or pandas) and known TRUE (nothing is
 * flagged), in the message and the meta. A novelty-threshold that needs
 * statistics gets one warning at start naming `seqdream calibrate`. */
GST_START_TEST (test_novelty_without_statistics)
{
  const guint T = 37;
  g_autofree gfloat *loud = loud_signal (2 * T, 8);
  g_autoptr (GPtrArray) metas
      = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  GstBus *bus;
  GstElement *el = make_element (golden_model, &bus, "hop", T, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GList *msgs;
  GstMessage *m;
  g_autoptr (GError) err = NULL;

  gst_harness_set_src_caps (h, f32_caps (1000));
  push_windows (h, loud, 2, T, 0, metas);
  msgs = pop_element_messages (bus, "seqdream");
  fail_unless_equals_int (g_list_length (msgs), 2);
  for (GList *l = msgs; l != NULL; l = l->next) {
    const GstStructure *s = gst_message_get_structure (l->data);
    fail_unless (isnan (get_double (s, "novelty")));
    fail_unless (get_known (s));
  }
  fail_unless (isnan (get_double (g_ptr_array_index (metas, 0), "novelty")));
  fail_unless (get_known (g_ptr_array_index (metas, 0)));
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  fx_harness_teardown (h);

  el = make_element (golden_model, &bus, "novelty-threshold", 5.0, NULL);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL, "no warning");
  gst_message_parse_warning (m, &err, NULL);
  fail_unless (strstr (err->message, "novelty-threshold") != NULL
                   && strstr (err->message, "seqdream calibrate") != NULL,
      "%s", err->message);
  gst_message_unref (m);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  gst_element_set_state (el, GST_STATE_NULL);
}

GST_END_TEST;

/* ---- input level ---- */

/* The warnings now on the bus: their texts (one a line) and the details
 * of the last one (NULL when none; a copy). */
static gchar *
pop_warnings (GstBus *bus, guint *n, GstStructure **details)
{
  GList *msgs = take_messages (bus, GST_MESSAGE_WARNING, NULL);
  GString *text = g_string_new (NULL);

  *n = g_list_length (msgs);
  if (details != NULL)
    *details = NULL;
  for (GList *l = msgs; l != NULL; l = l->next) {
    g_autoptr (GError) err = NULL;
    const GstStructure *d = NULL;

    gst_message_parse_warning (l->data, &err, NULL);
    g_string_append_printf (text, "%s\n", err->message);
    gst_message_parse_warning_details (l->data, &d);
    if (details != NULL && d != NULL) {
      const GValue *v = gst_structure_get_value (d, "details");
      g_clear_pointer (details, gst_structure_free);
      if (v != NULL)
        *details = gst_structure_copy (gst_value_get_structure (v));
    }
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  return g_string_free (text, FALSE);
}

/* Pushes n samples of x (from sample offset on) at 1 kHz as one buffer. */
static void
push_samples (GstHarness *h, const gfloat *x, guint n, guint64 offset)
{
  fail_unless_equals_int (
      gst_harness_push (h, make_buffer (x, n, offset, 1000, 0)), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
}

/* The level of the run the warning measures: the RMS over windows
 * 0 .. n-1 (37 samples every 18) of gain * x, as the element computes
 * it (the root of the mean of the windows' mean squares). */
static gdouble
run_level (const gfloat *x, guint n, gdouble gain)
{
  gdouble sum = 0.0;

  for (guint j = 0; j < n; j++) {
    gdouble ms = 0.0;
    for (guint t = 0; t < 37; t++) {
      gfloat v = (gfloat) (gain * x[j * 18 + t]);
      ms += (gdouble) v * v;
    }
    sum += ms / 37;
  }
  return sqrt (sum / n);
}

/* An input 100 times quieter than the model was calibrated on gets one
 * warning once its windows have been outside the range for 2 s of
 * stream, naming the level, the range and a gain that fits; no second
 * one in the same stream, one again in a new stream. */
GST_START_TEST (test_level_warning_once_per_stream)
{
  const gchar *model = calibrated_golden ();
  gdouble lo, hi, level;
  g_autofree gfloat *x = make_signal (8000, 31);
  g_autofree gchar *text = NULL, *lo_s = NULL, *hi_s = NULL, *level_s = NULL;
  g_autoptr (GstStructure) details = NULL;
  GstBus *bus;
  GstElement *el;
  GstHarness *h;
  GstSegment seg;
  guint n;

  stats_of (model, &lo, &hi);
  for (guint i = 0; i < 8000; i++)
    x[i] *= 0.01f;
  el = make_element (model, &bus, NULL);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (1000));
  /* windows at 0, 18, ..., 1962: the last ends at 1999, not yet 2 s */
  push_samples (h, x, 1999, 0);
  g_free (pop_warnings (bus, &n, NULL));
  fail_unless_equals_int (n, 0);
  /* the window at 1980 ends at 2017 */
  push_samples (h, x + 1999, 18, 1999);
  text = pop_warnings (bus, &n, &details);
  fail_unless_equals_int (n, 1);
  fail_unless (details != NULL);
  level = run_level (x, 1980 / 18 + 1, 1.0);
  fail_unless (fabs (get_double (details, "level") - level) <= 1e-9 * level);
  fail_unless (get_double (details, "level-low") == lo);
  fail_unless (get_double (details, "level-high") == hi);
  fail_unless (get_double (details, "gain") == 1.0);
  fail_unless (
      fabs (get_double (details, "suggested-gain") - sqrt (lo * hi) / level)
      <= 1e-9 * sqrt (lo * hi) / level);
  fail_unless (fabs (get_double (details, "suggested-gain-low") - lo / level)
               <= 1e-9 * lo / level);
  fail_unless (fabs (get_double (details, "suggested-gain-high") - hi / level)
               <= 1e-9 * hi / level);
  /* the text says the same */
  level_s = g_strdup_printf ("RMS %.3g at gain 1", level);
  lo_s = g_strdup_printf ("RMS %.3g to %.3g", lo, hi);
  hi_s = g_strdup_printf ("gain=%.3g", sqrt (lo * hi) / level);
  fail_unless (strstr (text, level_s) && strstr (text, lo_s)
                   && strstr (text, hi_s) && strstr (text, "below"),
      "%s", text);

  /* the same stream: no second warning */
  push_samples (h, x + 2017, 3000, 2017);
  g_free (pop_warnings (bus, &n, NULL));
  fail_unless_equals_int (n, 0);

  /* a new stream: again */
  fail_unless (gst_harness_push_event (h, gst_event_new_stream_start ("next")));
  fail_unless (gst_harness_push_event (h, f32_caps_event (1000)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  push_samples (h, x, 2100, 0);
  g_free (pop_warnings (bus, &n, NULL));
  fail_unless_equals_int (n, 1);
}

GST_END_TEST;

/* No warning when the level fits: the calibration's own level, the quiet
 * input at the suggested gain, a quiet stretch shorter than 2 s between
 * fitting ones, and a model without statistics. */
GST_START_TEST (test_level_no_warning_when_it_fits)
{
  const gchar *model = calibrated_golden ();
  gdouble lo, hi, fit;
  g_autofree gfloat *x = make_signal (4000, 31);
  g_autofree gfloat *quiet = g_new (gfloat, 4000);
  g_autofree gfloat *mixed = g_new (gfloat, 4000);
  const struct
  {
    const gchar *model;
    const gfloat *x;
    gboolean gain_fit;
  } cases[] = {
    { model, x, FALSE },
    { model, quiet, TRUE },
    { model, mixed, FALSE },
    { golden_model, quiet, FALSE },
  };

  stats_of (model, &lo, &hi);
  for (guint i = 0; i < 4000; i++) {
    quiet[i] = 0.01f * x[i];
    /* 1.9 s quiet, 0.3 s as calibrated, 1.8 s quiet */
    mixed[i] = i < 1900 || i >= 2200 ? quiet[i] : x[i];
  }
  fit = sqrt (lo * hi) / run_level (quiet, 100, 1.0);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstBus *bus;
    GstElement *el = make_element (
        cases[i].model, &bus, "gain", cases[i].gain_fit ? fit : 1.0, NULL);
    GstHarness *h = fx_harness (el, "sink", "src");
    g_autofree gchar *text = NULL;
    guint n;

    gst_harness_set_src_caps (h, f32_caps (1000));
    /* (2.5 s: more than the 2 s a warning needs; mixed: all of it) */
    push_samples (h, cases[i].x, cases[i].x == mixed ? 4000 : 2500, 0);
    text = pop_warnings (bus, &n, NULL);
    fail_unless (n == 0, "case %u: %s", i, text);
    fx_harness_teardown (h);
  }
}

GST_END_TEST;

/* A stream whose windows stop being known is in state "unknown" (class
 * index -1) once state-holdoff of them agree, and back in its class
 * after. */
GST_START_TEST (test_state_unknown)
{
  const gchar *model = calibrated_golden ();
  const gchar *pattern = "KKKKOOOKOOOKKKK";
  const guint T = 37, n = (guint) strlen (pattern);
  g_autofree gfloat *quiet = make_signal (n * T, 7);
  g_autofree gfloat *loud = loud_signal (n * T, 8);
  g_autofree gfloat *x = g_new (gfloat, n * T);
  g_autofree gchar *label = NULL;
  GstBus *bus;
  GstElement *el = make_element (model, &bus, "hop", T, NULL);
  GstHarness *h = fx_harness (el, "sink", "src");
  GList *msgs, *states;
  gint index = -1;
  guint j = 0;
  const GstClockTime dur = 37 * GST_MSECOND;

  for (guint i = 0; i < n; i++)
    memcpy (x + i * T, (pattern[i] == 'K' ? quiet : loud) + i * T,
        T * sizeof (gfloat));
  gst_harness_set_src_caps (h, f32_caps (1000));
  push_windows (h, x, n, T, 0, NULL);

  /* The precondition: K windows known and of one class, O not known. */
  msgs = pop_element_messages (bus, "seqdream");
  fail_unless_equals_int (g_list_length (msgs), n);
  for (GList *l = msgs; l != NULL; l = l->next, j++) {
    const GstStructure *s = gst_message_get_structure (l->data);
    fail_unless_equals_int (get_known (s), pattern[j] == 'K');
    if (pattern[j] != 'K')
      continue;
    if (label == NULL) {
      label = g_strdup (gst_structure_get_string (s, "class"));
      fail_unless (gst_structure_get_int (s, "class-index", &index));
    }
    fail_unless_equals_string (gst_structure_get_string (s, "class"), label);
  }
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);

  states = pop_states (bus);
  fail_unless_equals_int (g_list_length (states), 3);
  check_state_at (states->data, label, index, NULL, -2, 3, 2 * dur, dur);
  check_state_at (
      states->next->data, "unknown", -1, label, index, 3, 6 * dur, dur);
  check_state_at (
      states->next->next->data, label, index, "unknown", -1, 3, 13 * dur, dur);
  g_list_free_full (states, (GDestroyNotify) gst_message_unref);
}

GST_END_TEST;

/* ---- the default dream preset ---- */

/* dream-preset defaults to realistic, whose targets come from the model's
 * training statistics: a model with them starts without a word; one
 * without them dreams without a prior and, when dreams are on, says so
 * once (nothing when they are off); realistic set explicitly on it, with
 * no dream-reference, is an error naming the remedy. */
GST_START_TEST (test_default_preset_needs_statistics)
{
  const gchar *calibrated = calibrated_golden ();
  GstBus *bus;
  GstElement *el;
  GstMessage *m;
  g_autoptr (GError) err = NULL;
  g_autofree gchar *preset = NULL;

  el = make_element (calibrated, &bus, "dream-trigger", 1, NULL);
  g_object_get (el, "dream-preset", &preset, NULL);
  fail_unless_equals_string (preset, "realistic");
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_ERROR), 0);
  gst_element_set_state (el, GST_STATE_NULL);

  el = make_element (golden_model, &bus, "dream-trigger", 1, NULL);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING);
  fail_unless (m != NULL, "no warning");
  gst_message_parse_warning (m, &err, NULL);
  fail_unless (strstr (err->message, "no training statistics") != NULL
                   && strstr (err->message, "dream-preset none") != NULL,
      "%s", err->message);
  gst_message_unref (m);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  gst_element_set_state (el, GST_STATE_NULL);

  el = make_element (golden_model, &bus, NULL);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) != GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (count_messages (bus, GST_MESSAGE_WARNING), 0);
  gst_element_set_state (el, GST_STATE_NULL);

  el = make_element (golden_model, &bus, "dream-preset", "realistic", NULL);
  fail_unless (
      gst_element_set_state (el, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error");
  g_clear_error (&err);
  gst_message_parse_error (m, &err, NULL);
  fail_unless (
      strstr (err->message, "seqdream calibrate") != NULL, "%s", err->message);
  gst_message_unref (m);
  gst_element_set_state (el, GST_STATE_NULL);
}

GST_END_TEST;

/* The first dream of a default element on the default model for an
 * inner-race window, with extra properties (NULL-terminated). */
static GstMessage *
default_model_dream (const gchar *first_prop, ...)
{
  GstBus *bus;
  GstElement *el = make_element (NULL, &bus, "dream-trigger", 2 /* interval */,
      "dream-interval", (guint64) 1, "dream-seed", (guint64) 3, NULL);
  GstHarness *h;
  GstMessage *m;
  va_list ap;

  va_start (ap, first_prop);
  if (first_prop != NULL)
    g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  h = fx_harness (el, "sink", "src");
  gst_harness_set_src_caps (h, f32_caps (48000));
  push_pattern (h, "I", 0);
  m = wait_element_message (bus, "seqdream-dream", 60);
  fx_harness_teardown (h);
  return m;
}

/* The element's dream defaults on the embedded model (a sample rate, so
 * the realistic preset for recordings): dream-steps 0 and
 * dream-smoothing-alpha 0 by default, so a dream runs the preset's 1500
 * steps (dream-steps overrides them) and ends its class's, at the level
 * of a real window, not flat. */
GST_START_TEST (test_default_model_dream_defaults)
{
  GstElement *el;
  GstMessage *m;
  const GstStructure *s;
  const GValue *seq;
  guint steps;
  gdouble alpha, p, sum = 0.0;
  gint n;

  if (!have_default_model ())
    return;
  el = gst_element_factory_make ("seqdream", NULL);
  g_object_get (
      el, "dream-steps", &steps, "dream-smoothing-alpha", &alpha, NULL);
  gst_object_unref (el);
  fail_unless_equals_int (steps, 0);
  fail_unless_equals_float (alpha, 0.0);

  m = default_model_dream (NULL);
  fail_unless (m != NULL, "no dream");
  s = gst_message_get_structure (m);
  fail_unless_equals_string (
      gst_structure_get_string (s, "class"), "inner_race");
  fail_unless (gst_structure_get_int (s, "steps", &n));
  fail_unless_equals_int (n, 1500);
  fail_unless (gst_structure_get_double (s, "probability", &p));
  fail_unless (p > 0.5, "p = %g", p);
  seq = gst_structure_get_value (s, "sequence");
  fail_unless_equals_int (gst_value_array_get_size (seq), 2048);
  for (guint i = 0; i < 2048; i++) {
    gdouble v = g_value_get_double (gst_value_array_get_value (seq, i));
    sum += v * v;
  }
  /* real inner-race windows: 0.17-0.59 g RMS */
  fail_unless (
      sqrt (sum / 2048) > 0.05, "a flat dream: RMS %g g", sqrt (sum / 2048));
  gst_message_unref (m);

  /* The control: dream-steps set, the preset's steps give way. */
  m = default_model_dream ("dream-steps", 7, NULL);
  fail_unless (m != NULL, "no dream");
  fail_unless (
      gst_structure_get_int (gst_message_get_structure (m), "steps", &n));
  fail_unless_equals_int (n, 7);
  gst_message_unref (m);
}

GST_END_TEST;

static Suite *
trust_suite (void)
{
  Suite *s = suite_create ("seqdream-trust");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, setup_paths, teardown_paths);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_gain_passthrough_bit_exact);
  tcase_add_test (tc, test_gain_scales_the_model_input);
  tcase_add_test (tc, test_gain_dreams_in_stream_units);
  tcase_add_test (tc, test_bad_values_refused);
  tcase_add_test (tc, test_caps_query_prefers_model_rate);
  tcase_add_test (tc, test_audioresample_takes_model_rate);
  tcase_add_test (tc, test_state_only_on_lasting_change);
  tcase_add_test (tc, test_state_holdoff_and_post_messages);
  tcase_add_test (tc, test_state_reset_on_flush_and_new_stream);
  tcase_add_test (tc, test_novelty_in_message_and_meta);
  tcase_add_test (tc, test_novelty_threshold_property);
  tcase_add_test (tc, test_novelty_without_statistics);
  tcase_add_test (tc, test_level_warning_once_per_stream);
  tcase_add_test (tc, test_level_no_warning_when_it_fits);
  tcase_add_test (tc, test_state_unknown);
  tcase_add_test (tc, test_default_preset_needs_statistics);
  tcase_add_test (tc, test_default_model_dream_defaults);
  return s;
}

GST_CHECK_MAIN (trust);
