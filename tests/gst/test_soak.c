/* Soak test of the seqdream element: one hour of 48 kHz stream time
 * (172.8 M samples) pushed as fast as possible through
 *
 *   appsrc ! seqdream dream-trigger=interval dream-interval=1s ! fakesink
 *            seqdream.dream_src ! queue ! fakesink
 *
 * with the element's default (embedded) model, window and hop, a dream
 * requested every second of stream time. Checks:
 *
 * - the bytes leaving src are the bytes pushed (count and a running 64-bit
 *   hash over both sides), in order;
 * - one "seqdream" message per complete window (from the total samples and
 *   the effective window and hop), plus the tail window the element scores
 *   at EOS when the documented rule says so; message k has the timestamp
 *   of sample k * hop (so none is missing, repeated or out of order) and
 *   the duration of a window;
 * - dream messages come in strictly increasing timestamp order, one buffer
 *   on dream_src per dream message, and every request was either dreamed or
 *   counted in `dream-dropped`;
 * - no error or warning message;
 * - the heap in use (glibc's mallinfo2 over every arena: allocated bytes
 *   plus mmapped blocks), at its lowest in the last tenth of the stream,
 *   is less than 1 MB above its lowest in the tenth after the warm-up
 *   (the first tenth, at least 10 s of it); the resident set size
 *   (current RSS, /proc/self/statm) grows by less than 4 MB from the end
 *   of the warm-up to the end. The heap is the leak check: 1 MB over
 *   168,749 windows and some 3,000 dreams catches a leak of 7 bytes a
 *   window or 350 bytes a dream; its lowest value over a tenth (sampled
 *   every 16 buffers) leaves out what is only in flight (a dream being
 *   made holds its workspace: single readings moved by -890 to +631 kB
 *   between runs). RSS also counts pages malloc's per-thread arenas keep
 *   after a peak (+108 to +1,052 kB between runs), so it only bounds the
 *   process as a whole.
 *
 * The messages (scores, state changes, dreams) are counted and dropped by
 * a bus sync handler: the bus never holds more than a few messages.
 *
 * The default model is whatever the plugin embeds; the test does not
 * assume one. The window and hop are the element's `window`/`hop` after it
 * started when those report a value, else (they report 0 = "the model's")
 * they are read off the first two messages: the duration of a window and
 * the distance between window starts.
 *
 * SEQDREAM_SOAK_SECONDS sets the stream time (default 3600). The sanitizer
 * builds set it lower in tests/gst/meson.build and skip the RSS check:
 * AddressSanitizer keeps freed memory in quarantine (256 MB by default)
 * before reusing it, so RSS grows for a long while without a leak.
 * SEQDREAM_SOAK_NO_RSS=1 skips the RSS check too (valgrind, same reason).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>

#include "gst-test-env.h"
#include "gst-test-fixture.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RATE 48000
#define MAX_CLASSES 64
/* The signal: a ring of 8 one-second segments, each a different
 * "machine state", so the scored class changes along the stream. */
#define RING_SEGMENTS 8
#define RING_LEN (RING_SEGMENTS * RATE)
/* Buffer sizes in samples, in turn: 0.1 s to 1 s, as wavparse and
 * audio sources push them, and odd sizes so windows straddle buffers at
 * every phase. */
static const guint buffer_sizes[]
    = { 4800, 48000, 7200, 24000, 9600, 4801, 19200, 44100, 12000, 36000 };
#define MAX_BUFFER 48000

typedef struct
{
  GMutex lock;
  GCond cond;

  /* effective window and hop (samples), 0 until known */
  guint window, hop;

  /* "seqdream" messages: streaming thread only */
  guint64 n_scores, n_full, n_short;
  GstClockTime first_ts, second_ts, first_dur, last_ts;
  guint64 bad_index; /* first message with an unexpected ts/dur */
  gchar *bad_what;
  guint64 class_hist[MAX_CLASSES];
  /* the interval trigger, replayed */
  GstClockTime interval, last_trigger;
  guint64 n_requests;

  /* "seqdream-state" messages (streaming thread): the stream's state
   * changes, dropped like the scores */
  guint64 n_states;

  /* "seqdream-dream" messages: the dream thread */
  guint64 n_dreams;
  GstClockTime last_dream_ts;
  gboolean dreams_out_of_order;

  /* dream_src buffers */
  guint64 n_dream_buffers;

  /* src side */
  guint64 out_bytes, out_hash;
  GstClockTime last_out_pts;
  gboolean out_of_order;

  /* errors, warnings, EOS */
  GString *problems;
  gboolean eos;
} Soak;

/* ---- hashing ---- */

#define HASH_INIT G_GUINT64_CONSTANT (0x6a09e667f3bcc908)

/* A running hash of a byte stream cut into the same pieces on both sides
 * (src passes every input buffer through as it is). */
static guint64
hash_bytes (guint64 h, const guint8 *p, gsize n)
{
  const guint64 k = G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  gsize i = 0;

  for (; i + 8 <= n; i += 8) {
    guint64 w;
    memcpy (&w, p + i, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
  }
  for (; i < n; i++)
    h = (h ^ p[i]) * k;
  return h;
}

static guint64
hash_buffer (guint64 h, GstBuffer *buf)
{
  GstMapInfo map;

  fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
  h = hash_bytes (h, map.data, map.size);
  gst_buffer_unmap (buf, &map);
  return h;
}

/* ---- the signal ---- */

/* One second of each of 8 machine states from the plugin's vibrationsrc
 * (bearing vibration calibrated to the CWRU recordings, docs/vibrationsrc.md):
 * healthy, and each fault type at differing severities, so the scored
 * class changes along the stream. The ring is followed by a copy of its
 * first MAX_BUFFER samples, so any buffer is one contiguous slice. */
static gfloat *
make_ring (void)
{
  static const gchar *const states[RING_SEGMENTS]
      = { "fault=none", "fault=outer-race", "fault=none severity=0",
          "fault=inner-race", "fault=ball", "fault=outer-race severity=3",
          "fault=inner-race severity=0.5", "fault=ball severity=2" };
  gfloat *ring = g_new (gfloat, RING_LEN + MAX_BUFFER);

  for (guint k = 0; k < RING_SEGMENTS; k++) {
    gchar *desc = g_strdup_printf ("vibrationsrc %s seed=%u rate=%d "
                                   "samplesperbuffer=%d num-buffers=1 ! "
                                   "appsink name=out sync=false",
        states[k], k + 1, RATE, RATE);
    GstElement *p = gst_parse_launch (desc, NULL);
    GstElement *out;
    GstSample *sample;
    GstMapInfo map;

    fail_unless (p != NULL, "%s", desc);
    out = gst_bin_get_by_name (GST_BIN (p), "out");
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING)
                 != GST_STATE_CHANGE_FAILURE);
    g_signal_emit_by_name (out, "pull-sample", &sample);
    fail_unless (sample != NULL, "%s: no sample", desc);
    fail_unless (
        gst_buffer_map (gst_sample_get_buffer (sample), &map, GST_MAP_READ));
    fail_unless_equals_uint64 (map.size, RATE * sizeof (gfloat));
    memcpy (ring + (gsize) k * RATE, map.data, map.size);
    gst_buffer_unmap (gst_sample_get_buffer (sample), &map);
    gst_sample_unref (sample);
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (out);
    gst_object_unref (p);
    g_free (desc);
  }
  memcpy (ring + RING_LEN, ring, MAX_BUFFER * sizeof (gfloat));
  return ring;
}

/* ---- what comes out ---- */

static GstClockTime
sample_ts (guint64 sample)
{
  return gst_util_uint64_scale_int (sample, GST_SECOND, RATE);
}

static void soak_problem (Soak *s, const gchar *format, ...)
    G_GNUC_PRINTF (2, 3);

static void
soak_problem (Soak *s, const gchar *format, ...)
{
  va_list ap;

  g_mutex_lock (&s->lock);
  va_start (ap, format);
  g_string_append_vprintf (s->problems, format, ap);
  va_end (ap);
  g_string_append_c (s->problems, '\n');
  g_mutex_unlock (&s->lock);
}

/* A "seqdream" message (streaming thread). */
static void
on_score (Soak *s, const GstStructure *st)
{
  guint64 k = s->n_scores++;
  GstClockTime ts = GST_CLOCK_TIME_NONE, dur = GST_CLOCK_TIME_NONE;
  gint index = -1;

  gst_structure_get_uint64 (st, "timestamp", &ts);
  gst_structure_get_uint64 (st, "duration", &dur);
  gst_structure_get_int (st, "class-index", &index);
  if (index >= 0 && index < MAX_CLASSES)
    s->class_hist[index]++;

  /* The interval trigger: the first window, then the first window at
   * least dream-interval after the last triggered one. */
  if (!GST_CLOCK_TIME_IS_VALID (s->last_trigger)
      || ts - s->last_trigger >= s->interval) {
    s->n_requests++;
    s->last_trigger = ts;
  }

  if (GST_CLOCK_TIME_IS_VALID (s->last_ts) && ts <= s->last_ts
      && s->bad_what == NULL) {
    s->bad_index = k;
    s->bad_what = g_strdup_printf ("timestamp %" GST_TIME_FORMAT
                                   " after %" GST_TIME_FORMAT,
        GST_TIME_ARGS (ts), GST_TIME_ARGS (s->last_ts));
  }
  s->last_ts = ts;

  if (k == 0) {
    s->first_ts = ts;
    s->first_dur = dur;
    if (s->window == 0)
      s->window = (guint) gst_util_uint64_scale_round (dur, RATE, GST_SECOND);
    return;
  }
  if (k == 1) {
    s->second_ts = ts;
    if (s->hop == 0)
      s->hop = (guint) gst_util_uint64_scale_round (
          ts - s->first_ts, RATE, GST_SECOND);
  }
  /* Message k starts at sample k * hop and lasts a window (only the tail
   * window scored at EOS may be shorter). */
  if (s->bad_what == NULL) {
    guint64 start = k * s->hop;
    GstClockTime want_ts = sample_ts (start);
    GstClockTime want_dur = sample_ts (start + s->window) - want_ts;
    if (ts != want_ts)
      s->bad_what = g_strdup_printf ("timestamp %" GST_TIME_FORMAT
                                     ", expected %" GST_TIME_FORMAT,
          GST_TIME_ARGS (ts), GST_TIME_ARGS (want_ts));
    else if (dur != want_dur) {
      if (dur < want_dur && s->n_short == 0)
        s->n_short++;
      else
        s->bad_what = g_strdup_printf ("duration %" GST_TIME_FORMAT
                                       ", expected %" GST_TIME_FORMAT,
            GST_TIME_ARGS (dur), GST_TIME_ARGS (want_dur));
    }
    if (s->bad_what != NULL)
      s->bad_index = k;
  }
}

/* A "seqdream-dream" message (dream thread). */
static void
on_dream (Soak *s, const GstStructure *st)
{
  GstClockTime ts = GST_CLOCK_TIME_NONE;

  gst_structure_get_uint64 (st, "timestamp", &ts);
  g_mutex_lock (&s->lock);
  if (GST_CLOCK_TIME_IS_VALID (s->last_dream_ts) && ts <= s->last_dream_ts)
    s->dreams_out_of_order = TRUE;
  s->last_dream_ts = ts;
  s->n_dreams++;
  g_mutex_unlock (&s->lock);
}

/* Counts and drops the element messages where they are posted; keeps
 * errors and warnings as text. */
static GstBusSyncReply
soak_sync_handler (GstBus *bus, GstMessage *m, gpointer user_data)
{
  Soak *s = user_data;

  switch (GST_MESSAGE_TYPE (m)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *st = gst_message_get_structure (m);
      if (gst_structure_has_name (st, "seqdream"))
        on_score (s, st);
      else if (gst_structure_has_name (st, "seqdream-dream"))
        on_dream (s, st);
      else if (gst_structure_has_name (st, "seqdream-state"))
        s->n_states++; /* (only the streaming thread posts them) */
      else
        return GST_BUS_PASS;
      gst_message_unref (m);
      return GST_BUS_DROP;
    }
    case GST_MESSAGE_ERROR:
    case GST_MESSAGE_WARNING: {
      GError *err = NULL;
      gchar *dbg = NULL;
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        gst_message_parse_error (m, &err, &dbg);
      else
        gst_message_parse_warning (m, &err, &dbg);
      soak_problem (s, "%s from %s: %s (%s)", GST_MESSAGE_TYPE_NAME (m),
          GST_MESSAGE_SRC_NAME (m), err->message, dbg ? dbg : "");
      g_error_free (err);
      g_free (dbg);
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
        g_mutex_lock (&s->lock);
        s->eos = TRUE; /* nothing more will come */
        g_cond_broadcast (&s->cond);
        g_mutex_unlock (&s->lock);
      }
      gst_message_unref (m);
      return GST_BUS_DROP;
    }
    case GST_MESSAGE_EOS:
      g_mutex_lock (&s->lock);
      s->eos = TRUE;
      g_cond_broadcast (&s->cond);
      g_mutex_unlock (&s->lock);
      gst_message_unref (m);
      return GST_BUS_DROP;
    default:
      /* state changes, stream status, ...: a few per run */
      gst_message_unref (m);
      return GST_BUS_DROP;
  }
}

/* Buffers leaving seqdream's src (streaming thread). */
static GstPadProbeReturn
src_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Soak *s = user_data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClockTime pts = GST_BUFFER_PTS (buf);

  s->out_hash = hash_buffer (s->out_hash, buf);
  s->out_bytes += gst_buffer_get_size (buf);
  if (GST_CLOCK_TIME_IS_VALID (s->last_out_pts) && pts <= s->last_out_pts)
    s->out_of_order = TRUE;
  s->last_out_pts = pts;
  return GST_PAD_PROBE_OK;
}

/* Buffers leaving dream_src (dream thread). */
static GstPadProbeReturn
dream_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Soak *s = user_data;

  g_mutex_lock (&s->lock);
  s->n_dream_buffers++;
  g_mutex_unlock (&s->lock);
  return GST_PAD_PROBE_OK;
}

/* The current resident set size in bytes. */
static gsize
current_rss (void)
{
  gchar *contents = NULL;
  gulong size = 0, resident = 0;

  if (!g_file_get_contents ("/proc/self/statm", &contents, NULL, NULL))
    return 0;
  if (sscanf (contents, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  g_free (contents);
  return (gsize) resident * (gsize) sysconf (_SC_PAGESIZE);
}

/* Bytes held from malloc: in use in every arena, plus mmapped blocks. */
static gsize
heap_in_use (void)
{
  const struct mallinfo2 mi = mallinfo2 ();
  return mi.uordblks + mi.hblkhd;
}

/* The state of a run; the fixture frees it after the pipeline stopped. */
static void
soak_free (Soak *s)
{
  g_free (s->bad_what);
  if (s->problems != NULL)
    g_string_free (s->problems, TRUE);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

GST_START_TEST (test_soak_one_hour)
{
  const guint seconds = env_uint ("SEQDREAM_SOAK_SECONDS", 3600);
  const gboolean check_rss = g_getenv ("SEQDREAM_SOAK_NO_RSS") == NULL
                             && g_getenv ("SEQDREAM_SANITIZED") == NULL;
  const guint64 total = (guint64) seconds * RATE;
  const guint64 warmup = MAX (total / 10, (guint64) 10 * RATE);
  const guint dream_steps = env_uint ("SEQDREAM_SOAK_DREAM_STEPS", 10);
  GstElement *pipeline, *src, *sd, *sink, *queue, *dream_sink;
  GstPad *pad;
  GstBus *bus;
  GstCaps *caps;
  gfloat *ring = fx_take (make_ring (), g_free);
  Soak *s = fx_take (g_new0 (Soak, 1), (GDestroyNotify) soak_free);
  guint64 pos = 0, in_bytes = 0, in_hash = HASH_INIT, expected;
  guint64 dropped = 0;
  gsize rss_warm = 0, rss_end, rss_max = 0;
  gsize heap_early = G_MAXSIZE, heap_late = G_MAXSIZE;
  guint n_pushed = 0, window_prop = 0, hop_prop = 0;
  gint64 t0, t_end, deadline;
  guint n_classes_seen = 0;
  GString *hist = g_string_new (NULL);

  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->first_ts = s->second_ts = s->last_ts = GST_CLOCK_TIME_NONE;
  s->last_trigger = s->last_dream_ts = s->last_out_pts = GST_CLOCK_TIME_NONE;
  s->interval = GST_SECOND;
  s->out_hash = HASH_INIT;
  s->problems = g_string_new (NULL);

  pipeline = fx_element (gst_pipeline_new ("soak"));
  src = gst_element_factory_make ("appsrc", NULL);
  sd = gst_element_factory_make ("seqdream", NULL);
  sink = gst_element_factory_make ("fakesink", NULL);
  queue = gst_element_factory_make ("queue", NULL);
  dream_sink = gst_element_factory_make ("fakesink", NULL);
  fail_unless (src && sd && sink && queue && dream_sink,
      "missing elements (GST_PLUGIN_PATH?)");

  caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, RATE,
      "channels", G_TYPE_INT, 1, NULL);
  /* At most ~4 big buffers queued: the producer blocks, memory is
   * bounded. */
  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME, "block", TRUE,
      "max-bytes", (guint64) 4 * MAX_BUFFER * sizeof (gfloat), NULL);
  gst_caps_unref (caps);
  /* The default model, window and hop. */
  g_object_set (sd, "dream-trigger", 2 /* interval */, "dream-interval",
      (guint64) GST_SECOND, "dream-steps", dream_steps, NULL);
  g_object_set (sink, "sync", FALSE, NULL);
  g_object_set (dream_sink, "sync", FALSE, NULL);
  gst_bin_add_many (GST_BIN (pipeline), src, sd, sink, queue, dream_sink, NULL);
  fail_unless (gst_element_link_many (src, sd, sink, NULL));
  fail_unless (gst_element_link_pads (sd, "dream_src", queue, "sink"));
  fail_unless (gst_element_link (queue, dream_sink));

  pad = gst_element_get_static_pad (sd, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, src_probe, s, NULL);
  gst_object_unref (pad);
  pad = gst_element_get_static_pad (sd, "dream_src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, dream_probe, s, NULL);
  gst_object_unref (pad);

  bus = gst_pipeline_get_bus (GST_PIPELINE (pipeline));
  gst_bus_set_sync_handler (bus, soak_sync_handler, s, NULL);

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
           == GST_STATE_CHANGE_FAILURE);
  /* The model is loaded now. (appsrc has nothing to push yet, so the
   * pipeline stays in ASYNC towards PLAYING; the element is PAUSED at
   * least.) */
  fail_unless (gst_element_get_state (sd, NULL, NULL, 10 * GST_SECOND)
               == GST_STATE_CHANGE_SUCCESS);
  g_object_get (sd, "window", &window_prop, "hop", &hop_prop, NULL);
  /* (Read by the streaming thread only after the first buffer.) */
  s->window = window_prop;
  s->hop = hop_prop != 0 ? hop_prop : (window_prop != 0 ? window_prop / 2 : 0);

  t0 = g_get_monotonic_time ();
  while (pos < total) {
    guint n = buffer_sizes[n_pushed % G_N_ELEMENTS (buffer_sizes)];
    guint64 ring_pos = pos % RING_LEN;
    GstBuffer *buf;
    GstFlowReturn flow = GST_FLOW_ERROR;

    n = (guint) MIN ((guint64) n, total - pos);
    /* No copy: the buffer wraps a slice of the ring. */
    buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, ring,
        (RING_LEN + MAX_BUFFER) * sizeof (gfloat), ring_pos * sizeof (gfloat),
        n * sizeof (gfloat), NULL, NULL);
    GST_BUFFER_PTS (buf) = sample_ts (pos);
    GST_BUFFER_DURATION (buf) = sample_ts (pos + n) - sample_ts (pos);
    GST_BUFFER_OFFSET (buf) = pos;
    GST_BUFFER_OFFSET_END (buf) = pos + n;
    if (pos == 0)
      GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    in_hash = hash_buffer (in_hash, buf);
    in_bytes += n * sizeof (gfloat);
    g_signal_emit_by_name (src, "push-buffer", buf, &flow);
    gst_buffer_unref (buf);
    fail_unless_equals_int (flow, GST_FLOW_OK);
    pos += n;
    n_pushed++;

    if (pos >= warmup && rss_warm == 0)
      rss_warm = current_rss ();
    else if (rss_warm != 0 && n_pushed % 64 == 0)
      rss_max = MAX (rss_max, current_rss ());
    /* (not under a sanitizer or valgrind, whose allocators are not
     * glibc's arenas) */
    if (check_rss && pos >= warmup
        && (n_pushed % 16 == 0 || heap_early == G_MAXSIZE)) {
      if (pos < 2 * warmup)
        heap_early = MIN (heap_early, heap_in_use ());
      else if (pos + warmup >= total)
        heap_late = MIN (heap_late, heap_in_use ());
    }
  }
  /* Everything is pushed; appsrc holds at most a few buffers. */
  rss_end = current_rss ();
  if (check_rss)
    heap_late = MIN (heap_late, heap_in_use ());
  else
    heap_early = heap_late = 0; /* not measured */
  rss_max = MAX (rss_max, rss_end);
  {
    GstFlowReturn flow = GST_FLOW_ERROR;
    g_signal_emit_by_name (src, "end-of-stream", &flow);
    fail_unless_equals_int (flow, GST_FLOW_OK);
  }

  /* EOS on both sinks: the last window and the last dream are through. */
  deadline = g_get_monotonic_time () + 300 * G_TIME_SPAN_SECOND;
  g_mutex_lock (&s->lock);
  while (!s->eos)
    if (!g_cond_wait_until (&s->cond, &s->lock, deadline))
      break;
  g_mutex_unlock (&s->lock);
  t_end = g_get_monotonic_time ();
  fail_unless (s->eos, "no EOS 300 s after the end of the stream");
  g_object_get (sd, "dream-dropped", &dropped, NULL);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  for (guint k = 0; k < MAX_CLASSES; k++)
    if (s->class_hist[k] > 0) {
      n_classes_seen++;
      g_string_append_printf (
          hist, " %u:%" G_GUINT64_FORMAT, k, s->class_hist[k]);
    }
  g_print (
      "soak: %u s of stream (%" G_GUINT64_FORMAT " samples, %u buffers) "
      "in %.1f s; window %u, hop %u (properties %u, %u); "
      "%" G_GUINT64_FORMAT " score messages (classes%s), %" G_GUINT64_FORMAT
      " state changes; "
      "%" G_GUINT64_FORMAT " dream requests, %" G_GUINT64_FORMAT
      " dreams, %" G_GUINT64_FORMAT " dropped; heap in use %.1f MB "
      "after warm-up, %+.0f kB in the last tenth (lowest); RSS %.1f MB after "
      "warm-up, %.1f MB at the end (%+.0f kB), max %.1f MB%s\n",
      seconds, total, n_pushed, (t_end - t0) / 1e6, s->window, s->hop,
      window_prop, hop_prop, s->n_scores, hist->str, s->n_states, s->n_requests,
      s->n_dreams, dropped, heap_early / 1048576.0,
      ((gdouble) heap_late - (gdouble) heap_early) / 1024.0,
      rss_warm / 1048576.0, rss_end / 1048576.0,
      ((gdouble) rss_end - (gdouble) rss_warm) / 1024.0, rss_max / 1048576.0,
      check_rss ? "" : " (not checked)");

  fail_unless (s->problems->len == 0, "%s", s->problems->str);

  /* src: the same bytes, in order. */
  fail_unless_equals_uint64 (s->out_bytes, in_bytes);
  fail_unless (s->out_hash == in_hash, "src bytes differ from the input");
  fail_if (s->out_of_order, "src buffers out of order");

  /* One message per complete window, each where it belongs. */
  fail_unless (
      s->window > 0 && s->hop > 0, "window %u, hop %u", s->window, s->hop);
  fail_unless (s->bad_what == NULL, "message %" G_GUINT64_FORMAT ": %s",
      s->bad_index, s->bad_what);
  expected = total >= s->window ? (total - s->window) / s->hop + 1 : 0;
  {
    /* The EOS rule (docs/element-seqdream.md, "Windows"): the rest after
     * the last full window is scored when it holds at least half a window
     * and samples no window covered. */
    guint64 rest_start = expected * s->hop;
    guint64 rest = total > rest_start ? total - rest_start : 0;
    guint64 covered = expected > 0 ? (expected - 1) * s->hop + s->window : 0;
    guint64 tail = (2 * rest >= s->window && total > covered) ? 1 : 0;
    fail_unless_equals_uint64 (s->n_scores, expected + tail);
    fail_unless_equals_uint64 (s->n_short, tail);
  }
  fail_unless (n_classes_seen >= 2, "the signal scored as one class only");
  /* the signal changes class, so the stream's state changes */
  fail_unless (
      s->n_states >= 2, "%" G_GUINT64_FORMAT " state messages", s->n_states);

  /* Dreams: in order, each pushed, none lost. */
  fail_if (s->dreams_out_of_order, "dream messages out of order");
  fail_unless (s->n_dreams > 0);
  fail_unless_equals_uint64 (s->n_dream_buffers, s->n_dreams);
  fail_unless_equals_uint64 (s->n_dreams + dropped, s->n_requests);

  if (check_rss) {
    fail_unless (heap_late < heap_early + 1024 * 1024,
        "the heap in use grew by %.0f kB after the warm-up (lowest of the "
        "tenth after it against lowest of the last tenth)",
        ((gdouble) heap_late - (gdouble) heap_early) / 1024.0);
    fail_unless (rss_end < rss_warm + 4 * 1024 * 1024,
        "RSS grew by %.0f kB after the warm-up",
        ((gdouble) rss_end - (gdouble) rss_warm) / 1024.0);
  }

  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_string_free (hist, TRUE);
}

GST_END_TEST;

static Suite *
soak_suite (void)
{
  Suite *s = suite_create ("seqdream-soak");
  TCase *tc = tcase_create ("soak");

  /* A generous limit: the stream runs at 10-20 x real time here
   * (optimised build); meson's own timeout is the outer bound. */
  tcase_set_timeout (tc, 3600);
  tcase_add_checked_fixture (tc, fx_setup, fx_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_soak_one_hour);
  return s;
}

GST_CHECK_MAIN (soak);
