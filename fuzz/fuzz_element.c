/* Fuzz target: the seqdream element, driven through GstHarness.
 *
 * The input is a script; a read past its end gives 0.
 *   byte 0      dream_src linked (bit 0), no caps at all (bits 1-4 all
 *               set), a fuzzed first segment (bit 5), buffers pushed even
 *               without caps (bit 6), EOS at the end (bit 7)
 *   bytes 1-6   window (1-1008, or 0: the model's; a byte >= 240 takes two
 *               more), hop, normalize, post-messages, dream-trigger,
 *               dream-mode, dream-steps (1-4), dream-queue-size and the
 *               other dream properties (set_properties)
 *   then        the caps: F32LE mono at a sane rate most of the time, else
 *               another format, channel count, layout, a nonsense rate or
 *               an odd channel-mask (make_caps); and a segment
 *   then ops until the input ends, each one byte and its arguments:
 *     0-10  a buffer: size in bytes (0 to 4096, sometimes not a whole
 *           number of samples), DISCONT and GAP flags, a timestamp
 *           (continuing, jumping ahead, going back, GST_CLOCK_TIME_NONE,
 *           any value), one or two memories, and samples taken from the
 *           input or synthesised (sines, constants, NaN, Inf, FLT_MAX,
 *           denormals, -0) (push_buffer)
 *     11    flush-start, sometimes a buffer while flushing, flush-stop and
 *           a new segment
 *     12    EOS
 *     13    a new segment (TIME mostly, rates 1, 2, 0.5, -1)
 *     14    a GAP event; or a new stream-start, caps and segment
 *     15    the "dream" action signal with a label and a mode
 *
 * Checked (abort () otherwise):
 *   - passthrough: a buffer the element accepts (GST_FLOW_OK) leaves src
 *     exactly once, with the same bytes, timestamps, duration and
 *     DISCONT/GAP flags; a refused one does not; nothing else leaves src;
 *   - while every caps event has been valid F32LE (1 or 2 channels), no
 *     ERROR message;
 *   - the harness's own checks: every state change succeeds;
 *   - an EOS that sink takes reaches dream_src, after the dreams queued
 *     before it;
 *   - no GLib warning or critical (they abort), and ASan/UBSan/LSan.
 * FUZZ_VERBOSE=1 in the environment prints what each input did.
 * The work per input is bounded (budget, in window samples scored) so an
 * iteration stays in the milliseconds.
 *
 * The model is the small golden one of the tests
 * (tests/data/golden/resnet-small.model.safetensors: 2 classes, training
 * length 37); the plugin is the one built in gst-plugin/ (GST_PLUGIN_PATH_1_0
 * defaults to it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <gst/check/gstharness.h>

#include <seqdream/layers.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef FUZZ_MODEL
#error "FUZZ_MODEL (the model file) must be defined"
#endif

/* Samples of all the windows scored by one input, at most. */
#define BUDGET (1 << 15)
#define MAX_BUFFER_BYTES 4096

typedef struct
{
  const guint8 *p;
  size_t n;
} Input;

typedef struct
{
  Input in;
  GstHarness *h;
  GstHarness *dream_h; /* on dream_src, or NULL */
  GstElement *el;
  GstBus *bus;
  gboolean has_caps;   /* a caps event has been sent */
  gboolean caps_valid; /* every caps event sent was valid F32LE */
  gint rate;           /* of the last caps, for durations; may be nonsense */
  guint window, hop;
  GstClockTime next_pts, last_pts;
  guint64 phase; /* sample counter of the synthesised signals */
  guint64 budget;
  guint n_streams;
  /* For FUZZ_VERBOSE: what the input did. */
  guint n_pushed, n_passed, n_windows, n_dreams, n_errors, n_warnings;
} Fuzz;

static gboolean verbose;

static guint8
take_u8 (Input *in)
{
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static guint16
take_u16 (Input *in)
{
  guint16 lo = take_u8 (in);

  return (guint16) (lo | (take_u8 (in) << 8));
}

static guint32
take_u32 (Input *in)
{
  guint32 lo = take_u16 (in);

  return lo | ((guint32) take_u16 (in) << 16);
}

static guint64
take_u64 (Input *in)
{
  guint64 lo = take_u32 (in);

  return lo | ((guint64) take_u32 (in) << 32);
}

static gfloat
take_f32 (Input *in)
{
  guint32 bits = take_u32 (in);
  gfloat f;

  memcpy (&f, &bits, sizeof f);
  return f;
}

/* ---- caps ---- */

/* New caps for the stream, and whether they are what seqdream accepts. */
static GstCaps *
make_caps (Fuzz *f, gboolean *valid)
{
  static const char *const formats[] = { "F32LE", "F32LE", "F32LE", "F32LE",
    "F32LE", "F32BE", "S16LE", "F64LE" };
  static const gint channels[] = { 1, 1, 1, 2 };
  static const gint sane_rates[] = { 8000, 1000, 44100, 16000, 100 };
  static const gint odd_rates[] = { 1, 2, 0, -1, G_MAXINT, 3 };
  guint8 a = take_u8 (&f->in);
  guint8 b = take_u8 (&f->in);
  const char *format = formats[a & 7];
  gint ch = channels[(a >> 3) & 3];
  gboolean planar = (a & 0x60) == 0x60;
  gint rate;
  GstCaps *caps;

  if (b < 200)
    rate = sane_rates[b % G_N_ELEMENTS (sane_rates)];
  else if (b < 250)
    rate = odd_rates[b % G_N_ELEMENTS (odd_rates)];
  else
    rate = (gint) take_u32 (&f->in);

  caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, format,
      "layout", G_TYPE_STRING, planar ? "non-interleaved" : "interleaved",
      "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, ch, NULL);
  /* A channel mask that does not fit one channel (accepted by the
   * template, refused by gst_audio_info_from_caps). */
  if ((a & 0x80) && (b & 1))
    gst_caps_set_simple (caps, "channel-mask", GST_TYPE_BITMASK,
        (guint64) take_u8 (&f->in) << (b >> 4), NULL);
  *valid = strcmp (format, "F32LE") == 0 && ch >= 1 && !planar && rate > 0
           && !((a & 0x80) && (b & 1));
  f->rate = rate;
  return caps;
}

static void
push_segment (Fuzz *f, gboolean fuzzed)
{
  static const gdouble rates[] = { 1.0, 1.0, 2.0, 0.5, -1.0 };
  GstSegment seg;
  guint8 a = fuzzed ? take_u8 (&f->in) : 0;

  gst_segment_init (&seg, (a & 7) == 7 ? GST_FORMAT_BYTES : GST_FORMAT_TIME);
  seg.rate = rates[(a >> 3) % G_N_ELEMENTS (rates)];
  if (fuzzed && (a & 0x80)) {
    seg.start = take_u16 (&f->in) * GST_MSECOND;
    seg.time = take_u16 (&f->in) * GST_MSECOND;
    seg.base = take_u16 (&f->in) * GST_MSECOND;
    seg.position = seg.start;
  }
  /* Playing backwards needs an end (GStreamer's segment functions refuse
   * a negative rate without a stop; no upstream sends one). */
  if (seg.rate < 0)
    seg.stop = seg.start + (fuzzed ? take_u16 (&f->in) : 1000) * GST_MSECOND;
  gst_harness_push_event (f->h, gst_event_new_segment (&seg));
}

static void
push_caps (Fuzz *f)
{
  gboolean valid;
  GstCaps *caps = make_caps (f, &valid);

  gst_harness_push_event (f->h, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  f->has_caps = TRUE;
  f->caps_valid = f->caps_valid && valid;
}

static void
push_stream_start (Fuzz *f)
{
  gchar id[32];

  g_snprintf (id, sizeof id, "fuzz-%u", ++f->n_streams);
  gst_harness_push_event (f->h, gst_event_new_stream_start (id));
}

/* ---- properties ---- */

static void
set_properties (Fuzz *f)
{
  guint8 w = take_u8 (&f->in);
  guint8 hb = take_u8 (&f->in);
  guint8 p = take_u8 (&f->in);
  guint8 q = take_u8 (&f->in);
  guint8 r = take_u8 (&f->in);
  guint8 s = take_u8 (&f->in);
  guint window, hop;

  /* 0: the model's training length (37). */
  if (w < 32)
    window = 0;
  else if (w < 240)
    window = w - 31u;
  else
    window = 209 + take_u16 (&f->in) % 800;
  hop = hb == 0 ? 0 : 1 + hb % (2 * MAX (window, 37u));

  g_object_set (f->el, "model-file", FUZZ_MODEL, "window", window, "hop", hop,
      "normalize", (gint) (p & 3), "post-messages", (gboolean) ((p >> 2) & 1),
      "dream-trigger", (gint) (((p >> 3) & 7) % 5), "dream-mode",
      (gint) ((p >> 6) % 3), "dream-steps", 1u + (q & 3), "dream-queue-size",
      1u + ((q >> 2) & 3), "dream-threshold", ((q >> 4) & 15) / 15.0,
      "dream-interval", (guint64) (r + 1) * 10 * GST_MSECOND, "dream-seed",
      (guint64) s, NULL);
  if (r & 1)
    g_object_set (f->el, "dream-smoothing-alpha", (s & 3) / 3.0,
        "dream-gaussian-sigma", (gdouble) ((s >> 2) & 7), "dream-l2",
        (gdouble) ((s >> 5) & 1), "dream-tv", (gdouble) ((s >> 6) & 3),
        "dream-learning-rate", (r >> 1) / 16.0, NULL);

  f->window = window == 0 ? 37 : window;
  f->hop = hop == 0 ? MAX (1, f->window / 2) : hop;
}

/* ---- buffers ---- */

static gfloat
special_value (guint8 k)
{
  switch (k % 8) {
    case 0:
      return NAN;
    case 1:
      return INFINITY;
    case 2:
      return -INFINITY;
    case 3:
      return FLT_MAX;
    case 4:
      return -FLT_MAX;
    case 5:
      return FLT_MIN / 4.0f; /* denormal */
    case 6:
      return -0.0f;
    default:
      return 1e30f;
  }
}

static void
fill_samples (Fuzz *f, guint8 *data, gsize size)
{
  static const gfloat amplitudes[]
      = { 1.0f, 1e-3f, 0.1f, 10.0f, 1000.0f, 1e30f, 0.0f, 3.0f };
  guint8 mode = take_u8 (&f->in);
  gsize n = size / sizeof (gfloat);
  gfloat amp = amplitudes[(mode >> 2) & 7];
  gfloat freq, c;
  guint every;

  switch (mode & 3) {
    case 0: {
      /* Raw bytes of the input: any float, any byte order. */
      gsize k = MIN (size, f->in.n);
      memcpy (data, f->in.p, k);
      memset (data + k, 0, size - k);
      f->in.p += k;
      f->in.n -= k;
      return;
    }
    case 1:
    case 3:
      freq = 0.01f + (gfloat) take_u8 (&f->in) / 64.0f;
      every = 1 + take_u8 (&f->in) % 64;
      for (gsize i = 0; i < n; i++) {
        gfloat v = amp * sinf (freq * (gfloat) (f->phase + i));
        if ((mode & 3) == 3 && i % every == every - 1)
          v = special_value ((guint8) (mode >> 5) + (guint8) i);
        memcpy (data + i * sizeof v, &v, sizeof v);
      }
      break;
    default:
      c = take_f32 (&f->in);
      for (gsize i = 0; i < n; i++)
        memcpy (data + i * sizeof c, &c, sizeof c);
      break;
  }
  memset (data + n * sizeof (gfloat), 0, size - n * sizeof (gfloat));
  f->phase += n;
}

static GstClockTime
next_timestamp (Fuzz *f, guint mode)
{
  GstClockTime base = GST_CLOCK_TIME_IS_VALID (f->next_pts) ? f->next_pts : 0;
  GstClockTime d;

  switch (mode) {
    case 3:
      return base + take_u16 (&f->in) * GST_MSECOND;
    case 4:
      d = take_u16 (&f->in) * GST_MSECOND;
      return base - MIN (base, d);
    case 5:
      return GST_CLOCK_TIME_NONE;
    case 6:
      return take_u64 (&f->in);
    case 7:
      return f->last_pts;
    default:
      return base;
  }
}

/* The output buffer must be the input buffer. */
static void
check_passthrough (const GstBuffer *out, const guint8 *bytes, gsize size,
    GstClockTime pts, GstClockTime dts, GstClockTime duration, guint flags)
{
  GstMapInfo map;
  const guint mask = GST_BUFFER_FLAG_DISCONT | GST_BUFFER_FLAG_GAP;

  if (GST_BUFFER_PTS (out) != pts || GST_BUFFER_DTS (out) != dts
      || GST_BUFFER_DURATION (out) != duration)
    fuzz_fail ("buffer timestamps changed: pts %" G_GUINT64_FORMAT
               " -> %" G_GUINT64_FORMAT ", duration %" G_GUINT64_FORMAT
               " -> %" G_GUINT64_FORMAT,
        pts, GST_BUFFER_PTS (out), duration, GST_BUFFER_DURATION (out));
  if ((GST_BUFFER_FLAGS (out) & mask) != (flags & mask))
    fuzz_fail ("buffer flags changed: 0x%x -> 0x%x", flags & mask,
        GST_BUFFER_FLAGS (out) & mask);
  if (!gst_buffer_map ((GstBuffer *) out, &map, GST_MAP_READ))
    fuzz_fail ("cannot map an output buffer");
  if (map.size != size || (size > 0 && memcmp (map.data, bytes, size) != 0))
    fuzz_fail ("buffer bytes changed (%" G_GSIZE_FORMAT " -> %" G_GSIZE_FORMAT
               " bytes)",
        size, map.size);
  gst_buffer_unmap ((GstBuffer *) out, &map);
}

static void
push_buffer (Fuzz *f)
{
  guint16 sz = take_u16 (&f->in);
  guint8 flags = take_u8 (&f->in);
  gsize size = sz % (MAX_BUFFER_BYTES + 1);
  guint64 cost;
  g_autofree guint8 *bytes = NULL;
  GstBuffer *buf, *out, *extra;
  GstClockTime pts, duration;
  guint buf_flags = 0;
  GstFlowReturn ret;

  /* Mostly whole samples. */
  if ((flags & 0xc0) != 0xc0)
    size &= ~(gsize) 3;
  /* Every window that the samples complete costs `window` samples. */
  cost = (size / 4) * ((f->window + f->hop - 1) / f->hop);
  if (cost > f->budget) {
    f->in.n = 0; /* spent: end the script */
    return;
  }
  f->budget -= cost;

  bytes = g_malloc (MAX (size, 1));
  fill_samples (f, bytes, size);

  if ((flags & 0x20) && size >= 3) {
    /* Two memories: the element must map them as one. (Both non-empty:
     * with 2 bytes the second was empty, and wrapping its NULL data is a
     * GStreamer CRITICAL, a harness bug the fuzzer found.) */
    gsize half = size / 2 + 1;
    gpointer rest = g_memdup2 (bytes + half, size - half);
    buf = gst_buffer_new_memdup (bytes, half);
    gst_buffer_append_memory (buf, gst_memory_new_wrapped (0, rest, size - half,
                                       0, size - half, rest, g_free));
  } else if (size > 0) {
    buf = gst_buffer_new_memdup (bytes, size);
  } else {
    buf = gst_buffer_new ();
  }

  pts = next_timestamp (f, (flags >> 2) & 7);
  duration = GST_CLOCK_TIME_NONE;
  if (f->rate > 0 && ((flags >> 2) & 7) != 5)
    duration = gst_util_uint64_scale_int (size / 4, GST_SECOND, f->rate);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = duration;
  if (flags & 1)
    buf_flags |= GST_BUFFER_FLAG_DISCONT;
  if (flags & 2)
    buf_flags |= GST_BUFFER_FLAG_GAP;
  GST_BUFFER_FLAG_SET (buf, buf_flags);
  f->last_pts = pts;
  if (GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (duration))
    f->next_pts = pts + duration;

  ret = gst_harness_push (f->h, buf);
  f->n_pushed++;
  out = gst_harness_try_pull (f->h);
  if (ret == GST_FLOW_OK && out == NULL)
    fuzz_fail ("an accepted buffer of %" G_GSIZE_FORMAT
               " bytes did not come out",
        size);
  if (out != NULL) {
    if (ret != GST_FLOW_OK)
      fuzz_fail ("a buffer came out but the push returned %s",
          gst_flow_get_name (ret));
    check_passthrough (
        out, bytes, size, pts, GST_CLOCK_TIME_NONE, duration, buf_flags);
    gst_buffer_unref (out);
    f->n_passed++;
  }
  extra = gst_harness_try_pull (f->h);
  if (extra != NULL)
    fuzz_fail ("one buffer in, two out");
}

/* ---- events and the dream signal ---- */

static void
flush (Fuzz *f)
{
  guint8 a = take_u8 (&f->in);

  gst_harness_push_event (f->h, gst_event_new_flush_start ());
  if (a & 1) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, 16, NULL);
    GstFlowReturn ret;

    gst_buffer_memset (buf, 0, 0, 16);
    ret = gst_harness_push (f->h, buf);
    if (ret != GST_FLOW_FLUSHING)
      fuzz_fail (
          "a buffer while flushing returned %s", gst_flow_get_name (ret));
    if (gst_harness_try_pull (f->h) != NULL)
      fuzz_fail ("a buffer came out while flushing");
  }
  gst_harness_push_event (f->h, gst_event_new_flush_stop ((a & 2) != 0));
  /* A flush-stop clears the segment: upstream sends a new one. */
  push_segment (f, (a & 4) != 0);
}

static void
misc_event (Fuzz *f)
{
  guint8 a = take_u8 (&f->in);

  switch (a % 3) {
    case 0: {
      GstClockTime ts = take_u32 (&f->in) * GST_USECOND;
      GstClockTime dur
          = (a & 8) ? GST_CLOCK_TIME_NONE : take_u16 (&f->in) * GST_MSECOND;
      gst_harness_push_event (f->h, gst_event_new_gap (ts, dur));
      break;
    }
    case 1:
      push_stream_start (f);
      if (f->has_caps)
        push_caps (f);
      push_segment (f, (a & 8) != 0);
      break;
    default:
      if (f->has_caps) {
        push_caps (f);
        push_segment (f, (a & 8) != 0);
      }
      break;
  }
}

static void
dream_signal (Fuzz *f)
{
  static const char *const labels[] = { NULL, "", "c0", "c1", "c2" };
  static const char *const modes[]
      = { NULL, "", "centered", "border", "from-window", "sideways" };
  guint8 a = take_u8 (&f->in);
  gboolean queued = FALSE;

  g_signal_emit_by_name (f->el, "dream", labels[a % G_N_ELEMENTS (labels)],
      modes[(a >> 3) % G_N_ELEMENTS (modes)], &queued);
}

/* Dreams and events of dream_src: taken and dropped. */
static void
drain_dream_pad (Fuzz *f)
{
  GstBuffer *buf;
  GstEvent *ev;

  if (f->dream_h == NULL)
    return;
  while ((buf = gst_harness_try_pull (f->dream_h)) != NULL) {
    if (gst_buffer_get_size (buf) % sizeof (gfloat) != 0)
      fuzz_fail (
          "a dream of %" G_GSIZE_FORMAT " bytes", gst_buffer_get_size (buf));
    gst_buffer_unref (buf);
  }
  while ((ev = gst_harness_try_pull_event (f->dream_h)) != NULL)
    gst_event_unref (ev);
}

/* Waits for the EOS on dream_src that follows the EOS just pushed: the
 * worker forwards events in order with the dreams, so every dream queued
 * before is done (finished or failed). */
static void
wait_dream_eos (Fuzz *f)
{
  GstEvent *ev;

  if (f->dream_h == NULL)
    return;
  for (;;) {
    ev = gst_harness_pull_event (f->dream_h); /* waits up to 60 s */
    if (ev == NULL)
      fuzz_fail ("no EOS on dream_src after an EOS on sink");
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS) {
      gst_event_unref (ev);
      return;
    }
    gst_event_unref (ev);
  }
}

static void
check_messages (Fuzz *f)
{
  GstMessage *m;

  while ((m = gst_bus_pop (f->bus)) != NULL) {
    if (gst_message_has_name (m, "seqdream"))
      f->n_windows++;
    else if (gst_message_has_name (m, "seqdream-dream"))
      f->n_dreams++;
    else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING)
      f->n_warnings++;
    else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
      f->n_errors++;
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR && f->has_caps
        && f->caps_valid) {
      g_autoptr (GError) err = NULL;
      g_autofree gchar *dbg = NULL;

      gst_message_parse_error (m, &err, &dbg);
      fuzz_fail ("ERROR message on a valid stream: %s (%s)", err->message,
          dbg ? dbg : "");
    }
    gst_message_unref (m);
  }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  GstElement *el;

  /* Only the plugin under test, loaded in this process (the scanner
   * cannot load sanitized builds); a registry of our own. An environment
   * that sets these wins. */
  fuzz_abort_on_log (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", "", FALSE);
  g_setenv ("GST_PLUGIN_PATH_1_0", FUZZ_PLUGIN_DIR, FALSE);
  g_setenv ("GST_REGISTRY_1_0", FUZZ_REGISTRY, FALSE);
  g_setenv ("GST_REGISTRY_FORK", "no", FALSE);
  g_setenv ("G_SLICE", "always-malloc", FALSE);
  sd_set_num_threads (1);
  gst_init (NULL, NULL);
  verbose = g_getenv ("FUZZ_VERBOSE") != NULL;

  /* Load the plugin now, not in the first input: its code (and its
   * coverage counters) must be there before the fuzzer starts. */
  el = gst_element_factory_make ("seqdream", NULL);
  if (el == NULL)
    fuzz_fail ("no seqdream element: is the plugin in %s?",
        g_getenv ("GST_PLUGIN_PATH_1_0"));
  gst_object_unref (el);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Fuzz f = { 0 };
  guint8 head;

  f.in.p = data;
  f.in.n = size;
  f.budget = BUDGET;
  f.caps_valid = TRUE;
  f.next_pts = 0;
  f.last_pts = GST_CLOCK_TIME_NONE;

  f.el = gst_element_factory_make ("seqdream", NULL);
  f.bus = gst_bus_new ();
  gst_element_set_bus (f.el, f.bus);
  head = take_u8 (&f.in);
  set_properties (&f);

  /* Starts the element (READY -> PLAYING must succeed). */
  f.h = gst_harness_new_with_element (f.el, "sink", "src");
  if (head & 1)
    f.dream_h = gst_harness_new_with_element (f.el, NULL, "dream_src");

  /* No caps at all, one time in 16: buffers must be refused. */
  if ((head & 0x1e) != 0x1e)
    push_caps (&f);
  push_segment (&f, (head & 0x20) != 0);

  while (f.in.n > 0) {
    guint8 op = take_u8 (&f.in) % 16;

    if (op <= 10) {
      if (f.has_caps || (head & 0x40))
        push_buffer (&f);
    } else if (op == 11) {
      flush (&f);
    } else if (op == 12) {
      gst_harness_push_event (f.h, gst_event_new_eos ());
    } else if (op == 13) {
      push_segment (&f, TRUE);
    } else if (op == 14) {
      misc_event (&f);
    } else {
      dream_signal (&f);
    }
    drain_dream_pad (&f);
    check_messages (&f);
  }
  /* With head bit 7, EOS; the teardown then waits for the dreams queued
   * before it. Without, it cancels dreams in flight. */
  if ((head & 0x80) && gst_harness_push_event (f.h, gst_event_new_eos ()))
    wait_dream_eos (&f);

  drain_dream_pad (&f);
  if (f.dream_h != NULL)
    gst_harness_teardown (f.dream_h);
  gst_harness_teardown (f.h);
  check_messages (&f);
  gst_element_set_bus (f.el, NULL);
  gst_object_unref (f.bus);
  gst_object_unref (f.el);
  if (verbose)
    fprintf (stderr,
        "  window %u hop %u: %u buffers pushed, %u passed; %u windows scored, "
        "%u dreams, %u warnings, %u errors\n",
        f.window, f.hop, f.n_pushed, f.n_passed, f.n_windows, f.n_dreams,
        f.n_warnings, f.n_errors);
  return 0;
}
