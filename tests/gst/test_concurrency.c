/* Concurrency tests of the seqdream element, with the default (embedded)
 * model, whichever it is:
 *
 * - 8 elements in 8 threads of one process, each scoring the same signal
 *   while its dream thread dreams, give the same scores (class, timestamps,
 *   probabilities and logits, compared bit for bit; a difference above
 *   1e-6 fails) as one element alone on the same data. Each element loads
 *   its own copy of the model from the plugin's GResource and has its own
 *   workspaces; only the read-only resource bytes are shared.
 * - pipelines whose state is changed from another thread (PLAYING, then
 *   NULL, READY or PAUSED, sometimes a flushing seek) while dreams run and
 *   a third thread emits the "dream" action signal and reads and writes
 *   properties: no deadlock (a watchdog aborts when no cycle finished for
 *   SEQDREAM_WATCHDOG_SECONDS, default 120), no crash, no error message.
 *
 * Environment: SEQDREAM_CONCURRENCY_SECONDS (stream seconds per element,
 * default 4), SEQDREAM_CONCURRENCY_THREADS (elements in parallel, 2..8,
 * default 8), SEQDREAM_STATE_CYCLES (cycles per pipeline, default 200);
 * scripts/valgrind-gst lowers all three (valgrind runs one thread at a
 * time: more threads only take longer, they race no more).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-env.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE 48000
/* Elements scoring in parallel (at most; SEQDREAM_CONCURRENCY_THREADS
 * lowers it). */
#define N_THREADS 8

/* ---- the same scores in 8 threads ---- */

/* A signal whose character changes every half second (tones, noise of
 * different strength, impulse trains), so the class changes. */
static gfloat *
make_signal (guint n)
{
  GRand *r = g_rand_new_with_seed (77);
  gfloat *x = g_new (gfloat, n);

  for (guint i = 0; i < n; i++) {
    guint seg = (i / (RATE / 2)) % 5;
    gdouble t = (gdouble) i / RATE;
    gdouble v = 0.03 * sin (2.0 * G_PI * 29.93 * t);
    gdouble noise[5] = { 0.06, 0.3, 0.06, 1.0, 0.1 };

    if (seg == 2 && i % 447 < 40)
      v += 0.8 * exp (-(gdouble) (i % 447) / 8.0)
           * sin (2.0 * G_PI * 3500.0 * t);
    if (seg == 4 && i % 296 < 40)
      v += 2.0 * exp (-(gdouble) (i % 296) / 8.0)
           * sin (2.0 * G_PI * 3500.0 * t);
    v += noise[seg] * g_rand_double_range (r, -1.0, 1.0);
    x[i] = (gfloat) v;
  }
  g_rand_free (r);
  return x;
}

/* What one element reported: per window its timestamp, duration, class,
 * then K probabilities and K logits, as doubles in one array. */
typedef struct
{
  const gfloat *signal;
  guint n;
  GArray *scores;
  guint n_windows, n_dreams, n_classes;
  gchar *error;
} Run;

static void run_error (Run *run, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static void
run_error (Run *run, const gchar *format, ...)
{
  va_list ap;

  if (run->error != NULL)
    return;
  va_start (ap, format);
  run->error = g_strdup_vprintf (format, ap);
  va_end (ap);
}

static void
append_array (Run *run, const GstStructure *s, const gchar *field)
{
  const GValue *arr = gst_structure_get_value (s, field);

  if (arr == NULL || !GST_VALUE_HOLDS_ARRAY (arr)) {
    run_error (run, "no %s", field);
    return;
  }
  if (run->n_classes == 0)
    run->n_classes = gst_value_array_get_size (arr);
  if (gst_value_array_get_size (arr) != run->n_classes) {
    run_error (run, "%s: %u values", field, gst_value_array_get_size (arr));
    return;
  }
  for (guint k = 0; k < run->n_classes; k++) {
    gdouble v = g_value_get_double (gst_value_array_get_value (arr, k));
    g_array_append_val (run->scores, v);
  }
}

static void
drain_bus (Run *run, GstBus *bus)
{
  GstMessage *m;

  while ((m = gst_bus_pop (bus)) != NULL) {
    const GstStructure *s = gst_message_get_structure (m);

    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR
        || GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
      GError *err = NULL;
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        gst_message_parse_error (m, &err, NULL);
      else
        gst_message_parse_warning (m, &err, NULL);
      run_error (run, "%s: %s", GST_MESSAGE_TYPE_NAME (m), err->message);
      g_error_free (err);
    } else if (s != NULL && gst_structure_has_name (s, "seqdream")) {
      guint64 ts = 0, dur = 0;
      gint index = -1;
      gdouble v;
      gst_structure_get_uint64 (s, "timestamp", &ts);
      gst_structure_get_uint64 (s, "duration", &dur);
      gst_structure_get_int (s, "class-index", &index);
      v = (gdouble) ts;
      g_array_append_val (run->scores, v);
      v = (gdouble) dur;
      g_array_append_val (run->scores, v);
      v = index;
      g_array_append_val (run->scores, v);
      append_array (run, s, "probabilities");
      append_array (run, s, "logits");
      run->n_windows++;
    } else if (s != NULL && gst_structure_has_name (s, "seqdream-dream")) {
      run->n_dreams++;
    }
    gst_message_unref (m);
  }
}

/* Start gate: the threads score at the same time. */
static GMutex gate_lock;
static GCond gate_cond;
static gboolean gate_open;

/* One element, in the calling thread: push the signal through a harness
 * in buffers of varying size, dream every 100 ms of stream time, collect
 * the scores. */
static gpointer
score_run (gpointer data)
{
  static const guint sizes[] = { 4800, 9600, 4801, 48000, 2400, 19200 };
  Run *run = data;
  GstBus *bus = gst_bus_new ();
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  GstHarness *h, *h2;
  GstCaps *caps;
  guint i = 0;

  g_mutex_lock (&gate_lock);
  while (!gate_open)
    g_cond_wait (&gate_cond, &gate_lock);
  g_mutex_unlock (&gate_lock);

  if (el == NULL) {
    run_error (run, "no seqdream element");
    gst_object_unref (bus);
    return NULL;
  }
  g_object_set (el, "dream-trigger", 2 /* interval */, "dream-interval",
      (guint64) 100 * GST_MSECOND, "dream-steps", 10, NULL);
  gst_element_set_bus (el, bus);
  h = gst_harness_new_with_element (el, "sink", "src");
  h2 = gst_harness_new_with_element (el, NULL, "dream_src");
  caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, RATE,
      "channels", G_TYPE_INT, 1, NULL);
  gst_harness_set_src_caps (h, caps);

  for (guint off = 0; off < run->n && run->error == NULL; i++) {
    guint n = MIN (sizes[i % G_N_ELEMENTS (sizes)], run->n - off);
    GstBuffer *buf
        = gst_buffer_new_memdup (run->signal + off, n * sizeof (gfloat));
    GstBuffer *out;
    GstEvent *ev;

    GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (off, GST_SECOND, RATE);
    GST_BUFFER_DURATION (buf)
        = gst_util_uint64_scale_int (off + n, GST_SECOND, RATE)
          - GST_BUFFER_PTS (buf);
    if (gst_harness_push (h, buf) != GST_FLOW_OK)
      run_error (run, "push failed at sample %u", off);
    out = gst_harness_try_pull (h);
    if (out != NULL)
      gst_buffer_unref (out);
    /* What the dream thread pushed so far. */
    while ((out = gst_harness_try_pull (h2)) != NULL)
      gst_buffer_unref (out);
    while ((ev = gst_harness_try_pull_event (h2)) != NULL)
      gst_event_unref (ev);
    drain_bus (run, bus);
    off += n;
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  drain_bus (run, bus);

  gst_harness_teardown (h2);
  gst_harness_teardown (h);
  drain_bus (run, bus);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
  return NULL;
}

GST_START_TEST (test_same_scores_in_parallel)
{
  const guint seconds = env_uint ("SEQDREAM_CONCURRENCY_SECONDS", 4);
  const guint n_threads = CLAMP (
      env_uint ("SEQDREAM_CONCURRENCY_THREADS", N_THREADS), 2, N_THREADS);
  const guint n = seconds * RATE;
  gfloat *x = make_signal (n);
  Run ref = { x, n, g_array_new (FALSE, FALSE, sizeof (gdouble)) };
  Run runs[N_THREADS];
  GThread *threads[N_THREADS];
  guint n_differ = 0, n_dreams = 0;
  gdouble max_diff = 0.0;
  gint64 t0, t1, t2;

  /* One element alone. */
  gate_open = TRUE;
  t0 = g_get_monotonic_time ();
  score_run (&ref);
  t1 = g_get_monotonic_time ();
  fail_unless (ref.error == NULL, "%s", ref.error);
  fail_unless (ref.n_windows > 10, "%u windows", ref.n_windows);

  /* Eight at once. */
  gate_open = FALSE;
  for (guint t = 0; t < n_threads; t++) {
    runs[t] = (Run){ x, n, g_array_new (FALSE, FALSE, sizeof (gdouble)) };
    threads[t] = g_thread_new ("scorer", score_run, &runs[t]);
  }
  g_mutex_lock (&gate_lock);
  gate_open = TRUE;
  g_cond_broadcast (&gate_cond);
  g_mutex_unlock (&gate_lock);
  for (guint t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);
  t2 = g_get_monotonic_time ();

  for (guint t = 0; t < n_threads; t++) {
    Run *r = &runs[t];
    const gdouble *a = (const gdouble *) ref.scores->data;
    const gdouble *b = (const gdouble *) r->scores->data;
    const guint stride = 3 + 2 * ref.n_classes;

    fail_unless (r->error == NULL, "thread %u: %s", t, r->error);
    fail_unless_equals_int (r->n_windows, ref.n_windows);
    fail_unless_equals_int (r->n_classes, ref.n_classes);
    fail_unless_equals_int (r->scores->len, ref.scores->len);
    for (guint i = 0; i < r->scores->len; i++) {
      guint field = i % stride;
      if (field < 3) {
        /* timestamp, duration, class: exact */
        fail_unless (a[i] == b[i], "thread %u, window %u: %s %.0f, alone %.0f",
            t, i / stride,
            field == 0   ? "timestamp"
            : field == 1 ? "duration"
                         : "class",
            b[i], a[i]);
        continue;
      }
      if (a[i] != b[i]) {
        n_differ++;
        max_diff = MAX (max_diff, fabs (a[i] - b[i]));
      }
      fail_unless (fabs (a[i] - b[i]) <= 1e-6,
          "thread %u, window %u: %s[%u] %.9g, alone %.9g", t, i / stride,
          field < 3 + ref.n_classes ? "probabilities" : "logits",
          (field - 3) % ref.n_classes, b[i], a[i]);
    }
    n_dreams += r->n_dreams;
    g_array_unref (r->scores);
  }
  g_print ("concurrency: %u windows of %u classes per element; alone %.2f s, "
           "%d in parallel %.2f s (%u dreams); %u values not bit-identical "
           "(max difference %g)\n",
      ref.n_windows, ref.n_classes, (t1 - t0) / 1e6, n_threads, (t2 - t1) / 1e6,
      n_dreams, n_differ, max_diff);

  g_array_unref (ref.scores);
  g_free (x);
}

GST_END_TEST;

/* ---- an event while src is being deactivated ---- */

/* Going to READY, a pad-based element's source pads are deactivated before
 * its sink pad. A serialized event that reaches the sink pad in between
 * (the segment a source sends right after a seek) cannot go on: upstream
 * must see FLUSHING, as for a buffer, not ERROR (a refused event's default
 * flow, which made the source post "Internal data stream error" while the
 * pipeline stopped; test_state_changes_from_other_threads hit it about once
 * in 2000 cycles). */
GST_START_TEST (test_event_while_src_deactivated)
{
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  GstPad *src = gst_element_get_static_pad (el, "src");
  GstSegment seg;
  gfloat x[480] = { 0 };
  GstBuffer *buf;

  gst_harness_set_src_caps (
      h, gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
             "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, RATE,
             "channels", G_TYPE_INT, 1, NULL));
  buf = gst_buffer_new_memdup (x, sizeof (x));
  GST_BUFFER_PTS (buf) = 0;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));

  /* What PAUSED->READY does first. */
  fail_unless (gst_pad_set_active (src, FALSE));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = GST_SECOND;
  /* (A sticky event is stored and counts as pushed; the next buffer
   * pushes it and gets its result.) */
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  buf = gst_buffer_new_memdup (x, sizeof (x));
  GST_BUFFER_PTS (buf) = GST_SECOND;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_FLUSHING);

  gst_object_unref (src);
  gst_harness_teardown (h);
  gst_object_unref (el);
}

GST_END_TEST;

/* ---- state changes from another thread while dreams run ---- */

typedef struct
{
  GstElement *pipeline, *sd;
  guint cycles;
  guint seed;
  gint done;     /* atomic: cycles finished */
  gint finished; /* atomic */
  gint64 t0;     /* monotonic start, us */
  gchar *error;
} Cycler;

static gint stop_pokers; /* atomic */
static gint progress;    /* atomic: cycles finished, all pipelines */

static gpointer
cycle_states (gpointer data)
{
  Cycler *c = data;
  GRand *r = g_rand_new_with_seed (c->seed);
  const GstState down[] = { GST_STATE_NULL, GST_STATE_READY, GST_STATE_PAUSED };

  for (guint i = 0; i < c->cycles && c->error == NULL; i++) {
    GstStateChangeReturn ret;
    GstState target = down[(i + c->seed) % 3];

    if (gst_element_set_state (c->pipeline, GST_STATE_PLAYING)
        == GST_STATE_CHANGE_FAILURE) {
      c->error = g_strdup_printf ("cycle %u: PLAYING failed", i);
      break;
    }
    ret = gst_element_get_state (c->pipeline, NULL, NULL, 60 * GST_SECOND);
    if (ret != GST_STATE_CHANGE_SUCCESS) {
      c->error = g_strdup_printf ("cycle %u: PLAYING: %s", i,
          gst_element_state_change_return_get_name (ret));
      break;
    }
    g_usleep (g_rand_int_range (r, 0, 30000));
    if (i % 5 == 2
        && !gst_element_seek_simple (c->pipeline, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH, g_rand_int_range (r, 0, 2000) * GST_MSECOND)) {
      c->error = g_strdup_printf ("cycle %u: seek failed", i);
      break;
    }
    if (gst_element_set_state (c->pipeline, target)
        == GST_STATE_CHANGE_FAILURE) {
      c->error = g_strdup_printf (
          "cycle %u: %s failed", i, gst_element_state_get_name (target));
      break;
    }
    ret = gst_element_get_state (c->pipeline, NULL, NULL, 60 * GST_SECOND);
    if (ret != GST_STATE_CHANGE_SUCCESS) {
      c->error = g_strdup_printf ("cycle %u: %s: %s", i,
          gst_element_state_get_name (target),
          gst_element_state_change_return_get_name (ret));
      break;
    }
    g_atomic_int_inc (&c->done);
    g_atomic_int_inc (&progress);
    /* Progress in the log, ten lines per pipeline: a run killed by
     * scripts/watchdog then shows whether it was slow or stuck. */
    if ((i + 1) % MAX (c->cycles / 10, 1) == 0)
      g_printerr ("pipeline %u: cycle %u of %u done after %.1f s\n",
          c->seed - 1, i + 1, c->cycles,
          (g_get_monotonic_time () - c->t0) / 1e6);
  }
  gst_element_set_state (c->pipeline, GST_STATE_NULL);
  g_rand_free (r);
  g_atomic_int_set (&c->finished, 1);
  return NULL;
}

/* Meanwhile: the "dream" signal and property traffic on the element. */
static gpointer
poke_element (gpointer data)
{
  Cycler *c = data;
  const gchar *modes[] = { NULL, "centered", "border", "from-window" };
  guint i = 0;

  while (!g_atomic_int_get (&stop_pokers)) {
    gboolean ok;
    guint64 dropped;
    guint window;

    g_signal_emit_by_name (c->sd, "dream", NULL, modes[i % 4], &ok);
    g_object_get (c->sd, "dream-dropped", &dropped, "window", &window, NULL);
    g_object_set (c->sd, "dream-steps", 4 + (i % 4) * 8, NULL);
    i++;
    g_usleep (500);
  }
  return NULL;
}

/* Aborts the process when no state-change cycle finished for too long:
 * a deadlock. (check's own timeout does not work without fork, as under
 * valgrind.) */
static gpointer
watchdog (gpointer data)
{
  const gint64 limit
      = (gint64) env_uint ("SEQDREAM_WATCHDOG_SECONDS", 120) * G_USEC_PER_SEC;

  gint seen = -1;
  gint64 since = g_get_monotonic_time ();

  while (!g_atomic_int_get (&stop_pokers)) {
    gint now = g_atomic_int_get (&progress);
    if (now != seen) {
      seen = now;
      since = g_get_monotonic_time ();
    } else if (g_get_monotonic_time () - since > limit) {
      g_printerr ("watchdog: no state change finished for %" G_GINT64_FORMAT
                  " s: deadlock\n",
          limit / G_USEC_PER_SEC);
      abort ();
    }
    g_usleep (200000);
  }
  return NULL;
}

#define N_PIPELINES 2

GST_START_TEST (test_state_changes_from_other_threads)
{
  const guint cycles = env_uint ("SEQDREAM_STATE_CYCLES", 200);
  Cycler c[N_PIPELINES];
  GThread *cyclers[N_PIPELINES], *pokers[N_PIPELINES], *dog;
  guint dreams = 0, n_msgs = 0;
  gint64 t0 = g_get_monotonic_time ();

  g_atomic_int_set (&stop_pokers, 0);
  g_atomic_int_set (&progress, 0);
  for (guint p = 0; p < N_PIPELINES; p++) {
    GError *err = NULL;
    /* Every window requests a dream (dream-interval 1 ns) and the other
     * thread asks for more, so state changes hit dreams in progress,
     * queued requests and pushes on dream_src. No capsfilter: it would
     * add a second element with the race of
     * test_event_while_src_deactivated, which GStreamer's own elements
     * have too (audiotestsrc fixates 44100 Hz from seqdream's caps; the
     * element warns that the model wants another rate). */
    c[p].pipeline = gst_parse_launch (
        "audiotestsrc wave=white-noise samplesperbuffer=1024 ! "
        "seqdream name=sd dream-trigger=interval dream-interval=1 "
        "dream-steps=8 dream-queue-size=2 ! queue ! fakesink sync=false "
        "sd.dream_src ! queue max-size-buffers=2 ! fakesink sync=false",
        &err);
    fail_unless (c[p].pipeline != NULL, "%s", err ? err->message : "");
    c[p].sd = gst_bin_get_by_name (GST_BIN (c[p].pipeline), "sd");
    c[p].cycles = cycles;
    c[p].seed = p + 1;
    c[p].done = c[p].finished = 0;
    c[p].t0 = g_get_monotonic_time ();
    c[p].error = NULL;
  }
  dog = g_thread_new ("watchdog", watchdog, NULL);
  for (guint p = 0; p < N_PIPELINES; p++) {
    cyclers[p] = g_thread_new ("cycler", cycle_states, &c[p]);
    pokers[p] = g_thread_new ("poker", poke_element, &c[p]);
  }

  /* This thread drains the buses. */
  for (;;) {
    gboolean all = TRUE;
    for (guint p = 0; p < N_PIPELINES; p++) {
      GstBus *bus = gst_element_get_bus (c[p].pipeline);
      GstMessage *m;
      while ((m = gst_bus_pop (bus)) != NULL) {
        if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
          GError *err = NULL;
          gchar *dbg = NULL;
          gst_message_parse_error (m, &err, &dbg);
          fail ("error from %s: %s (%s)", GST_MESSAGE_SRC_NAME (m),
              err->message, dbg);
        }
        if (gst_message_has_name (m, "seqdream-dream"))
          dreams++;
        n_msgs++;
        gst_message_unref (m);
      }
      gst_object_unref (bus);
      if (!g_atomic_int_get (&c[p].finished))
        all = FALSE;
    }
    if (all)
      break;
    g_usleep (5000);
  }

  g_atomic_int_set (&stop_pokers, 1);
  for (guint p = 0; p < N_PIPELINES; p++) {
    g_thread_join (cyclers[p]);
    g_thread_join (pokers[p]);
  }
  g_thread_join (dog);
  g_print ("state changes: %d pipelines x %u cycles in %.1f s, %u dreams "
           "finished, %u messages\n",
      N_PIPELINES, cycles, (g_get_monotonic_time () - t0) / 1e6, dreams,
      n_msgs);

  for (guint p = 0; p < N_PIPELINES; p++) {
    fail_unless (c[p].error == NULL, "pipeline %u: %s", p, c[p].error);
    fail_unless_equals_int (c[p].done, cycles);
    fail_unless_equals_int (
        gst_element_set_state (c[p].pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    gst_object_unref (c[p].sd);
    ASSERT_OBJECT_REFCOUNT (c[p].pipeline, "pipeline", 1);
    gst_object_unref (c[p].pipeline);
  }
  fail_unless (dreams > 0, "no dream finished");
}

GST_END_TEST;

static Suite *
concurrency_suite (void)
{
  Suite *s = suite_create ("seqdream-concurrency");
  TCase *tc = tcase_create ("concurrency");

  /* A few seconds each in the optimised build, several times that with
   * sanitizers. */
  tcase_set_timeout (tc, 280);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_same_scores_in_parallel);
  tcase_add_test (tc, test_event_while_src_deactivated);
  tcase_add_test (tc, test_state_changes_from_other_threads);
  return s;
}

GST_CHECK_MAIN (concurrency);
