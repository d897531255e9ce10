/* GStreamer seqdreamviz element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-seqdreamviz
 * @title: seqdreamviz
 * @short_description: render seqdream's scores and dreams as video
 *
 * seqdreamviz turns the output of seqdream into an overlay video. Its
 * `sink` pad takes the audio that leaves seqdream's `src` pad (F32 mono,
 * carrying "SeqDreamMeta" metas); its `dream_sink` pad optionally takes
 * the dreams of seqdream's `dream_src` pad. The `src` pad renders
 * video/x-raw (BGRx or RGBA, any size from 16x16, default 640x360 at
 * 25/1; size, format and framerate are negotiated with downstream) with
 * cairo:
 *
 * - the background, colour #181820;
 * - the waveform of the latest scored window (colour #aac8ff) in the plot
 *   area x in [W/20, W - W/20), y in [H/10, 3H/5);
 * - the latest dream of the window's predicted class over it (colour
 *   #ff8c00, the same vertical scale);
 * - one bar per class in the area y in [13H/20, 19H/20): row i spans
 *   row_h = (19H/20 - 13H/20) / n_classes pixels; its bar starts at
 *   x = W/4, is (3 row_h / 5) high from row_h / 5 into the row and
 *   p * (W - W/20 - W/4) long; the predicted class is #40c860, the others
 *   #506ea0, on a track of #303040; labels and percentages left of the
 *   bars;
 * - the running time of the frame, the class and its confidence on top.
 *
 * One frame is produced per 1/framerate of audio **running time**: frame n
 * has PTS n / framerate (running time, in a segment starting at 0) and
 * shows the state once the audio up to (n + 1) / framerate has arrived; at
 * EOS a last frame covers the partial frame interval, if any. The first
 * frame is the one that contains the running time of the first audio
 * sample. The latency query adds one frame duration to upstream's.
 *
 * Dream buffers carry no class: a dream is matched to the class of the
 * scored window with the same PTS (seqdream stamps dreams with the
 * window's PTS); a SeqDreamMeta on the dream buffer, when present, wins.
 * The `dream_sink` chain only stores the dream under a lock and never
 * waits for the audio; its EOS is ignored (the audio drives the output).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=s dream-trigger=class-change ! seqdreamviz name=v ! \
 *     videoconvert ! vp8enc ! webmmux ! filesink location=out.webm \
 *     s.dream_src ! queue ! v.dream_sink
 * ]| records the overlay video.
 * |[
 * gst-launch-1.0 audiotestsrc is-live=true ! \
 *     audio/x-raw,format=F32LE,channels=1,rate=8000 ! seqdream name=s ! \
 *     seqdreamviz name=v ! videoconvert ! autovideosink \
 *     s.dream_src ! queue ! v.dream_sink
 * ]| shows it live.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamviz.h"
#include "gstseqdreammeta.h"

#include <cairo.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_seq_dream_viz_debug);
#define GST_CAT_DEFAULT gst_seq_dream_viz_debug

#define AUDIO_CAPS                                                             \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, "      \
  "rate = (int) [ 1, MAX ], channels = (int) 1"
#define VIDEO_CAPS                                                             \
  "video/x-raw, format = (string) { BGRx, RGBA }, "                            \
  "width = (int) [ 16, 8192 ], height = (int) [ 16, 8192 ], "                  \
  "framerate = (fraction) [ 1/1, 1000/1 ], "                                   \
  "pixel-aspect-ratio = (fraction) 1/1"

#define DEFAULT_WIDTH 640
#define DEFAULT_HEIGHT 360
#define DEFAULT_FPS_N 25
#define DEFAULT_FPS_D 1

/* Scored windows remembered to match dreams with their class: dreams can
 * lag the audio by seconds when a file is processed faster than real time
 * (8192 windows: 42 s at 48 kHz with a 500-sample window and hop 250). */
#define HISTORY_LEN 8192
/* Dreams kept at most. */
#define MAX_DREAMS 16

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (AUDIO_CAPS));
static GstStaticPadTemplate dream_sink_template = GST_STATIC_PAD_TEMPLATE (
    "dream_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (AUDIO_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

typedef struct
{
  GstClockTime pts;
  gint class_index; /* -1: not known yet */
  gfloat *x;
  guint n;
} Dream;

typedef struct
{
  GstClockTime ts;
  gint class_index;
} HistoryEntry;

struct _GstSeqDreamViz
{
  GstElement parent;

  GstPad *sinkpad, *dream_sinkpad, *srcpad;

  /* streaming state, protected by the sink pad's stream lock */
  gint rate;
  GstSegment segment;
  GstVideoInfo vinfo;
  gboolean negotiated;
  gboolean need_segment;
  GstClockTime next_frame_rt; /* NONE: set from the next audio */
  guint64 frame_n;
  GstClockTime pos_rt; /* running time of the end of the audio so far */
  gfloat *hist;        /* the latest samples */
  guint hist_len, hist_cap;
  guint64 n_samples; /* samples since restart; hist ends here */
  gfloat *win;       /* the latest scored window */
  guint win_len;
  GstStructure *result; /* its SeqDreamMeta fields */

  /* dreams and the class of recent windows, protected by dream_lock */
  GMutex dream_lock;
  GQueue dreams;         /* Dream*, newest first */
  HistoryEntry *history; /* (HISTORY_LEN) ring */
  guint history_pos, history_count;
};

#define gst_seq_dream_viz_parent_class parent_class
G_DEFINE_TYPE (GstSeqDreamViz, gst_seq_dream_viz, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (seqdreamviz, "seqdreamviz",
    GST_RANK_NONE, GST_TYPE_SEQ_DREAM_VIZ, gst_seq_dream_meta_get_info ());

static void gst_seq_dream_viz_finalize (GObject *object);
static GstStateChangeReturn gst_seq_dream_viz_change_state (
    GstElement *element, GstStateChange transition);
static GstFlowReturn gst_seq_dream_viz_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
static GstFlowReturn gst_seq_dream_viz_dream_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_seq_dream_viz_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_seq_dream_viz_dream_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_seq_dream_viz_src_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_seq_dream_viz_src_query (
    GstPad *pad, GstObject *parent, GstQuery *query);

static void
gst_seq_dream_viz_class_init (GstSeqDreamVizClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->finalize = gst_seq_dream_viz_finalize;
  element_class->change_state
      = GST_DEBUG_FUNCPTR (gst_seq_dream_viz_change_state);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (
      element_class, &dream_sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Sequence Dreaming visualisation", "Visualization",
      "Renders the seqdream window, dream and class probabilities as video",
      "seqdream developers");

  GST_DEBUG_CATEGORY_INIT (
      gst_seq_dream_viz_debug, "seqdreamviz", 0, "seqdream visualisation");
}

static void
gst_seq_dream_viz_init (GstSeqDreamViz *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_viz_chain));
  gst_pad_set_event_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_viz_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->dream_sinkpad
      = gst_pad_new_from_static_template (&dream_sink_template, "dream_sink");
  gst_pad_set_chain_function (
      self->dream_sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_viz_dream_chain));
  gst_pad_set_event_function (self->dream_sinkpad,
      GST_DEBUG_FUNCPTR (gst_seq_dream_viz_dream_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->dream_sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_viz_src_event));
  gst_pad_set_query_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_viz_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  g_mutex_init (&self->dream_lock);
  g_queue_init (&self->dreams);
  self->history = g_new0 (HistoryEntry, HISTORY_LEN);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  gst_video_info_init (&self->vinfo);
}

static void
dream_free (gpointer p)
{
  Dream *d = p;

  g_free (d->x);
  g_free (d);
}

static void
clear_dreams (GstSeqDreamViz *self)
{
  g_mutex_lock (&self->dream_lock);
  g_queue_clear_full (&self->dreams, dream_free);
  g_mutex_unlock (&self->dream_lock);
}

/* Forgets the audio state (start, flush). */
static void
reset_stream (GstSeqDreamViz *self)
{
  self->next_frame_rt = GST_CLOCK_TIME_NONE;
  self->frame_n = 0;
  self->pos_rt = GST_CLOCK_TIME_NONE;
  self->hist_len = 0;
  self->n_samples = 0;
  g_clear_pointer (&self->win, g_free);
  self->win_len = 0;
  g_clear_pointer (&self->result, gst_structure_free);
  g_mutex_lock (&self->dream_lock);
  self->history_pos = 0;
  self->history_count = 0;
  g_mutex_unlock (&self->dream_lock);
  self->need_segment = TRUE;
}

static void
gst_seq_dream_viz_finalize (GObject *object)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (object);

  reset_stream (self);
  g_clear_pointer (&self->hist, g_free);
  clear_dreams (self);
  g_clear_pointer (&self->history, g_free);
  g_mutex_clear (&self->dream_lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static GstStateChangeReturn
gst_seq_dream_viz_change_state (GstElement *element, GstStateChange transition)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    reset_stream (self);
    self->negotiated = FALSE;
    self->rate = 0;
    gst_segment_init (&self->segment, GST_FORMAT_TIME);
    clear_dreams (self);
  }
  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    reset_stream (self);
    g_clear_pointer (&self->hist, g_free);
    self->hist_cap = 0;
    self->negotiated = FALSE;
    clear_dreams (self);
  }
  return ret;
}

/* ---- negotiation ---- */

static gboolean
negotiate (GstSeqDreamViz *self)
{
  GstCaps *caps = gst_pad_get_allowed_caps (self->srcpad);
  GstStructure *s;
  GstVideoInfo info;
  gboolean ok;

  if (caps == NULL)
    caps = gst_pad_get_pad_template_caps (self->srcpad);
  if (gst_caps_is_empty (caps)) {
    gst_caps_unref (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("downstream accepts no BGRx/RGBA video"));
    return FALSE;
  }
  caps = gst_caps_truncate (caps);
  caps = gst_caps_make_writable (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "width", DEFAULT_WIDTH);
  gst_structure_fixate_field_nearest_int (s, "height", DEFAULT_HEIGHT);
  gst_structure_fixate_field_nearest_fraction (
      s, "framerate", DEFAULT_FPS_N, DEFAULT_FPS_D);
  gst_structure_fixate_field_string (s, "format", "BGRx");
  caps = gst_caps_fixate (caps);

  if (!gst_video_info_from_caps (&info, caps)
      || GST_VIDEO_INFO_FPS_N (&info) <= 0
      || GST_VIDEO_INFO_FPS_D (&info) <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("could not fixate the video caps %" GST_PTR_FORMAT, caps));
    gst_caps_unref (caps);
    return FALSE;
  }
  GST_DEBUG_OBJECT (self, "output caps %" GST_PTR_FORMAT, caps);
  ok = gst_pad_set_caps (self->srcpad, caps);
  gst_caps_unref (caps);
  if (!ok)
    return FALSE;
  /* A new framerate: restart the frame grid at the next audio. */
  if (GST_VIDEO_INFO_FPS_N (&info) != GST_VIDEO_INFO_FPS_N (&self->vinfo)
      || GST_VIDEO_INFO_FPS_D (&info) != GST_VIDEO_INFO_FPS_D (&self->vinfo))
    self->next_frame_rt = GST_CLOCK_TIME_NONE;
  self->vinfo = info;
  self->negotiated = TRUE;
  return TRUE;
}

/* ---- drawing ---- */

static GstClockTime
frame_time (GstSeqDreamViz *self, guint64 n)
{
  return gst_util_uint64_scale (n,
      GST_SECOND * GST_VIDEO_INFO_FPS_D (&self->vinfo),
      GST_VIDEO_INFO_FPS_N (&self->vinfo));
}

static void
set_rgb (cairo_t *cr, guint32 rgb)
{
  cairo_set_source_rgb (cr, ((rgb >> 16) & 0xff) / 255.0,
      ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0);
}

#define COLOR_BG 0x181820
#define COLOR_FRAME 0x484858
#define COLOR_WAVE 0xaac8ff
#define COLOR_DREAM 0xff8c00
#define COLOR_TRACK 0x303040
#define COLOR_BAR 0x506ea0
#define COLOR_BAR_PREDICTED 0x40c860
#define COLOR_TEXT 0xf0f0f0

/* x[0..n) as a polyline in the rectangle, y = mid - x / amp * half. */
static void
draw_series (cairo_t *cr, const gfloat *x, guint n, gdouble x0, gdouble x1,
    gdouble mid, gdouble half, gdouble amp)
{
  guint step = 1;

  if (n < 2)
    return;
  if (n > 4 * (guint) (x1 - x0))
    step = n / (2 * (guint) (x1 - x0));
  for (guint i = 0; i < n; i += step) {
    gdouble px = x0 + (x1 - x0) * i / (n - 1);
    gdouble py = mid - CLAMP (x[i] / amp, -1.0, 1.0) * half;
    if (i == 0)
      cairo_move_to (cr, px, py);
    else
      cairo_line_to (cr, px, py);
  }
  cairo_stroke (cr);
}

/* h:mm:ss.mmm */
#define TIME_ARGS(t)                                                           \
  (guint) ((t) / (3600 * GST_SECOND)), (guint) ((t) / (60 * GST_SECOND) % 60), \
      (guint) ((t) / GST_SECOND % 60), (guint) ((t) / GST_MSECOND % 1000)

static const gchar *
label_of (const GValue *labels, guint i, gchar *buf, gsize size)
{
  if (labels != NULL && GST_VALUE_HOLDS_ARRAY (labels)
      && i < gst_value_array_get_size (labels)) {
    const GValue *v = gst_value_array_get_value (labels, i);
    if (G_VALUE_HOLDS_STRING (v) && g_value_get_string (v) != NULL)
      return g_value_get_string (v);
  }
  g_snprintf (buf, size, "%u", i);
  return buf;
}

/* Gives a dream the class of the window with its PTS, newest first. */
static void
resolve_class_locked (GstSeqDreamViz *self, Dream *d)
{
  if (d->class_index >= 0 || !GST_CLOCK_TIME_IS_VALID (d->pts))
    return;
  for (guint k = 1; k <= self->history_count; k++) {
    const HistoryEntry *e
        = &self->history[(self->history_pos + HISTORY_LEN - k) % HISTORY_LEN];
    if (e->ts == d->pts) {
      d->class_index = e->class_index;
      return;
    }
  }
}

static void
render (GstSeqDreamViz *self, cairo_t *cr, GstClockTime rt)
{
  const gint W = GST_VIDEO_INFO_WIDTH (&self->vinfo);
  const gint H = GST_VIDEO_INFO_HEIGHT (&self->vinfo);
  const gint wx0 = W / 20, wx1 = W - W / 20, wy0 = H / 10, wy1 = H * 3 / 5;
  const gint by0 = H * 13 / 20, by1 = H * 19 / 20;
  const gint bar_x0 = W / 4, bar_max = W - W / 20 - W / 4;
  const GValue *probs = NULL, *labels = NULL;
  gint cls = -1;
  gdouble conf = 0.0, amp = 1e-6;
  gfloat *dream = NULL;
  guint dream_n = 0;
  const gfloat *wave;
  guint wave_n;
  gchar text[256], num[16];
  gdouble mid = (wy0 + wy1) / 2.0, half = (wy1 - wy0) / 2.0 - 2.0;

  set_rgb (cr, COLOR_BG);
  cairo_paint (cr);

  if (self->result != NULL) {
    gst_structure_get_int (self->result, "class-index", &cls);
    gst_structure_get_double (self->result, "confidence", &conf);
    probs = gst_structure_get_value (self->result, "probabilities");
    labels = gst_structure_get_value (self->result, "labels");
  }

  /* The latest dream of the predicted class. */
  g_mutex_lock (&self->dream_lock);
  for (GList *l = self->dreams.head; l != NULL && cls >= 0; l = l->next) {
    Dream *d = l->data;
    resolve_class_locked (self, d);
    if (d->class_index == cls) {
      dream = g_memdup2 (d->x, d->n * sizeof (gfloat));
      dream_n = d->n;
      break;
    }
  }
  g_mutex_unlock (&self->dream_lock);

  /* The window (or, before the first one, the latest samples). */
  if (self->win != NULL) {
    wave = self->win;
    wave_n = self->win_len;
  } else {
    wave_n = MIN (self->hist_len, (guint) MAX (self->rate / 10, 2));
    wave = wave_n > 0 ? self->hist + (self->hist_len - wave_n) : NULL;
  }
  for (guint i = 0; i < wave_n; i++)
    amp = MAX (amp, fabsf (wave[i]));
  for (guint i = 0; i < dream_n; i++)
    amp = MAX (amp, fabsf (dream[i]));

  /* Plot area. */
  cairo_set_line_width (cr, 1.0);
  set_rgb (cr, COLOR_FRAME);
  cairo_rectangle (cr, wx0 + 0.5, wy0 + 0.5, wx1 - wx0 - 1, wy1 - wy0 - 1);
  cairo_stroke (cr);
  cairo_move_to (cr, wx0, mid);
  cairo_line_to (cr, wx1, mid);
  cairo_stroke (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_width (cr, MAX (1.0, H / 360.0));
  set_rgb (cr, COLOR_WAVE);
  draw_series (cr, wave, wave_n, wx0, wx1, mid, half, amp);
  if (dream != NULL) {
    cairo_set_line_width (cr, MAX (2.0, H / 120.0));
    set_rgb (cr, COLOR_DREAM);
    draw_series (cr, dream, dream_n, wx0, wx1, mid, half, amp);
  }
  g_free (dream);

  /* Header: running time, class and confidence. */
  cairo_select_font_face (
      cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, MAX (6.0, H / 20.0));
  set_rgb (cr, COLOR_TEXT);
  if (cls >= 0)
    g_snprintf (text, sizeof (text), "%u:%02u:%02u.%03u   class %s (%.0f %%)%s",
        TIME_ARGS (rt), label_of (labels, cls, num, sizeof (num)), 100.0 * conf,
        dream_n > 0 ? "   + dream" : "");
  else
    g_snprintf (text, sizeof (text), "%u:%02u:%02u.%03u", TIME_ARGS (rt));
  cairo_move_to (cr, wx0, H / 15.0);
  cairo_show_text (cr, text);

  /* Probability bars. */
  if (probs != NULL && GST_VALUE_HOLDS_ARRAY (probs)
      && gst_value_array_get_size (probs) > 0) {
    guint n = gst_value_array_get_size (probs);
    gint row_h = (by1 - by0) / (gint) n;

    cairo_set_font_size (cr, CLAMP (row_h * 0.5, 4.0, H / 20.0));
    for (guint i = 0; i < n; i++) {
      const GValue *v = gst_value_array_get_value (probs, i);
      gdouble p = G_VALUE_HOLDS_DOUBLE (v) ? g_value_get_double (v) : 0.0;
      gint y = by0 + (gint) i * row_h + row_h / 5, h = row_h * 3 / 5;
      gint len = (gint) lround (CLAMP (p, 0.0, 1.0) * bar_max);

      set_rgb (cr, COLOR_TRACK);
      cairo_rectangle (cr, bar_x0, y, bar_max, MAX (h, 1));
      cairo_fill (cr);
      set_rgb (cr, (gint) i == cls ? COLOR_BAR_PREDICTED : COLOR_BAR);
      cairo_rectangle (cr, bar_x0, y, len, MAX (h, 1));
      cairo_fill (cr);
      set_rgb (cr, COLOR_TEXT);
      g_snprintf (text, sizeof (text), "%s %3.0f%%",
          label_of (labels, i, num, sizeof (num)), 100.0 * p);
      cairo_move_to (cr, wx0, y + h * 0.8);
      cairo_show_text (cr, text);
    }
  }
}

static GstFlowReturn
push_frame (GstSeqDreamViz *self)
{
  GstClockTime pts = frame_time (self, self->frame_n);
  GstClockTime end = frame_time (self, self->frame_n + 1);
  GstVideoFrame frame;
  GstBuffer *buf;
  cairo_surface_t *surface;
  cairo_t *cr;
  gboolean rgba;

  if (gst_pad_check_reconfigure (self->srcpad) || !self->negotiated) {
    if (!negotiate (self)) {
      gst_pad_mark_reconfigure (self->srcpad);
      return GST_FLOW_NOT_NEGOTIATED;
    }
    pts = frame_time (self, self->frame_n);
    end = frame_time (self, self->frame_n + 1);
  }
  if (self->need_segment) {
    GstSegment seg;
    gst_segment_init (&seg, GST_FORMAT_TIME);
    gst_pad_push_event (self->srcpad, gst_event_new_segment (&seg));
    self->need_segment = FALSE;
  }

  buf = gst_buffer_new_allocate (
      NULL, GST_VIDEO_INFO_SIZE (&self->vinfo), NULL);
  if (!gst_video_frame_map (&frame, &self->vinfo, buf, GST_MAP_WRITE)) {
    gst_buffer_unref (buf);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, (NULL), ("cannot map a frame"));
    return GST_FLOW_ERROR;
  }
  rgba = GST_VIDEO_FRAME_FORMAT (&frame) == GST_VIDEO_FORMAT_RGBA;
  surface = cairo_image_surface_create_for_data (
      GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
      rgba ? CAIRO_FORMAT_ARGB32 : CAIRO_FORMAT_RGB24,
      GST_VIDEO_FRAME_WIDTH (&frame), GST_VIDEO_FRAME_HEIGHT (&frame),
      GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0));
  cr = cairo_create (surface);
  render (self, cr, pts);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  cairo_surface_destroy (surface);
  if (rgba) {
    /* cairo's ARGB32 is B,G,R,A in memory (little-endian), all opaque. */
    for (gint y = 0; y < GST_VIDEO_FRAME_HEIGHT (&frame); y++) {
      guint8 *p = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
                  + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
      for (gint x = 0; x < GST_VIDEO_FRAME_WIDTH (&frame); x++, p += 4) {
        guint8 t = p[0];
        p[0] = p[2];
        p[2] = t;
      }
    }
  }
  gst_video_frame_unmap (&frame);

  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = end - pts;
  GST_BUFFER_OFFSET (buf) = self->frame_n;
  GST_BUFFER_OFFSET_END (buf) = self->frame_n + 1;
  if (self->frame_n == 0)
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
  self->frame_n++;
  GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT,
      self->frame_n - 1, GST_TIME_ARGS (pts));
  return gst_pad_push (self->srcpad, buf);
}

/* Pushes every frame whose end the audio reached (all the frames it
 * touched at EOS). */
static GstFlowReturn
push_frames (GstSeqDreamViz *self, gboolean eos)
{
  GstFlowReturn ret = GST_FLOW_OK;

  if (!GST_CLOCK_TIME_IS_VALID (self->pos_rt) || !self->negotiated)
    return GST_FLOW_OK;
  while (ret == GST_FLOW_OK) {
    GstClockTime start = frame_time (self, self->frame_n);
    GstClockTime end = frame_time (self, self->frame_n + 1);
    if (end > self->pos_rt && !(eos && start < self->pos_rt))
      break;
    ret = push_frame (self);
  }
  return ret;
}

/* The first frame contains running time rt. */
static void
start_frames (GstSeqDreamViz *self, GstClockTime rt)
{
  gint n = GST_VIDEO_INFO_FPS_N (&self->vinfo),
       d = GST_VIDEO_INFO_FPS_D (&self->vinfo);

  self->frame_n = gst_util_uint64_scale (rt, n, GST_SECOND * d);
  self->next_frame_rt = frame_time (self, self->frame_n);
}

/* ---- audio ---- */

static void
hist_append (GstSeqDreamViz *self, const gfloat *x, guint n)
{
  if (self->hist_cap == 0) {
    self->hist_cap = CLAMP ((guint) self->rate * 4, 1u << 16, 1u << 22);
    self->hist = g_new (gfloat, self->hist_cap);
  }
  if (n >= self->hist_cap) {
    memcpy (
        self->hist, x + (n - self->hist_cap), self->hist_cap * sizeof (gfloat));
    self->hist_len = self->hist_cap;
  } else {
    if (self->hist_len + n > self->hist_cap) {
      guint drop = self->hist_len + n - self->hist_cap;
      memmove (self->hist, self->hist + drop,
          (self->hist_len - drop) * sizeof (gfloat));
      self->hist_len -= drop;
    }
    memcpy (self->hist + self->hist_len, x, n * sizeof (gfloat));
    self->hist_len += n;
  }
  self->n_samples += n;
}

/* Takes the result of a SeqDreamMeta on the buffer that starts at sample
 * buf_start with PTS pts. */
static void
take_result (GstSeqDreamViz *self, const GstStructure *s, guint64 buf_start,
    GstClockTime pts)
{
  GstClockTime ts = GST_CLOCK_TIME_NONE, dur = GST_CLOCK_TIME_NONE;
  gint cls = -1;
  gint64 start, len;
  guint64 hist_start = self->n_samples - self->hist_len;

  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_uint64 (s, "duration", &dur);
  gst_structure_get_int (s, "class-index", &cls);

  g_clear_pointer (&self->result, gst_structure_free);
  self->result = gst_structure_copy (s);

  g_mutex_lock (&self->dream_lock);
  self->history[self->history_pos].ts = ts;
  self->history[self->history_pos].class_index = cls;
  self->history_pos = (self->history_pos + 1) % HISTORY_LEN;
  self->history_count = MIN (self->history_count + 1, HISTORY_LEN);
  g_mutex_unlock (&self->dream_lock);

  len = GST_CLOCK_TIME_IS_VALID (dur)
            ? (gint64) gst_util_uint64_scale_round (dur, self->rate, GST_SECOND)
            : 0;
  if (len <= 0)
    return;
  if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (pts)) {
    if (ts >= pts)
      start = (gint64) buf_start
              + (gint64) gst_util_uint64_scale_round (
                  ts - pts, self->rate, GST_SECOND);
    else
      start = (gint64) buf_start
              - (gint64) gst_util_uint64_scale_round (
                  pts - ts, self->rate, GST_SECOND);
  } else {
    start = (gint64) self->n_samples - len; /* ends with the buffer */
  }
  start = MAX (start, (gint64) hist_start);
  if (start + len > (gint64) self->n_samples)
    len = (gint64) self->n_samples - start;
  if (len <= 1)
    return;
  g_free (self->win);
  self->win = g_memdup2 (
      self->hist + (start - (gint64) hist_start), len * sizeof (gfloat));
  self->win_len = (guint) len;
}

static GstFlowReturn
gst_seq_dream_viz_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);
  GstClockTime pts = GST_BUFFER_PTS (buffer), rt_start, rt_end;
  GstMapInfo map;
  guint64 buf_start = self->n_samples;
  gpointer state = NULL;
  GstMeta *meta;
  guint n;

  if (self->rate <= 0) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("audio without caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    gst_buffer_unref (buffer);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("cannot map audio"));
    return GST_FLOW_ERROR;
  }
  n = map.size / sizeof (gfloat);
  hist_append (self, (const gfloat *) map.data, n);
  gst_buffer_unmap (buffer, &map);

  while ((meta = gst_buffer_iterate_meta (buffer, &state)) != NULL) {
    if (gst_meta_info_is_custom (meta->info)
        && gst_custom_meta_has_name (
            (GstCustomMeta *) meta, GST_SEQ_DREAM_META_NAME))
      take_result (self, gst_custom_meta_get_structure ((GstCustomMeta *) meta),
          buf_start, pts);
  }

  /* Running times of the buffer's start and end. */
  if (GST_CLOCK_TIME_IS_VALID (pts)) {
    GstClockTime dur
        = GST_BUFFER_DURATION_IS_VALID (buffer)
              ? GST_BUFFER_DURATION (buffer)
              : gst_util_uint64_scale_int (n, GST_SECOND, self->rate);
    rt_start
        = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, pts);
    rt_end = gst_segment_to_running_time (
        &self->segment, GST_FORMAT_TIME, pts + dur);
  } else {
    rt_start = GST_CLOCK_TIME_IS_VALID (self->pos_rt) ? self->pos_rt : 0;
    rt_end = rt_start + gst_util_uint64_scale_int (n, GST_SECOND, self->rate);
  }
  gst_buffer_unref (buffer);
  if (!GST_CLOCK_TIME_IS_VALID (rt_end))
    return GST_FLOW_OK; /* outside the segment */
  if (!GST_CLOCK_TIME_IS_VALID (rt_start))
    rt_start = rt_end;

  if (!self->negotiated && !negotiate (self))
    return GST_FLOW_NOT_NEGOTIATED;
  if (!GST_CLOCK_TIME_IS_VALID (self->next_frame_rt))
    start_frames (self, rt_start);
  if (!GST_CLOCK_TIME_IS_VALID (self->pos_rt) || rt_end > self->pos_rt)
    self->pos_rt = rt_end;
  return push_frames (self, FALSE);
}

static gboolean
gst_seq_dream_viz_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START: {
      const gchar *up = NULL;
      gchar *id;

      gst_event_parse_stream_start (event, &up);
      id = g_strdup_printf ("%s/viz", up != NULL ? up : "seqdreamviz");
      GstEvent *ev = gst_event_new_stream_start (id);
      guint group;

      if (gst_event_parse_group_id (event, &group))
        gst_event_set_group_id (ev, group);
      g_free (id);
      gst_event_unref (event);
      return gst_pad_push_event (self->srcpad, ev);
    }
    case GST_EVENT_CAPS: {
      GstCaps *caps;
      GstAudioInfo info;

      gst_event_parse_caps (event, &caps);
      if (!gst_audio_info_from_caps (&info, caps)) {
        gst_event_unref (event);
        return FALSE;
      }
      if (self->rate != 0 && self->rate != GST_AUDIO_INFO_RATE (&info)) {
        /* Sample positions start again. */
        self->hist_len = 0;
        self->n_samples = 0;
      }
      self->rate = GST_AUDIO_INFO_RATE (&info);
      gst_event_unref (event);
      return self->negotiated || negotiate (self);
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment *seg;

      gst_event_parse_segment (event, &seg);
      if (seg->format != GST_FORMAT_TIME) {
        GST_ELEMENT_ERROR (
            self, STREAM, FORMAT, (NULL), ("seqdreamviz needs a TIME segment"));
        gst_event_unref (event);
        return FALSE;
      }
      gst_segment_copy_into (seg, &self->segment);
      gst_event_unref (event);
      return TRUE;
    }
    case GST_EVENT_GAP: {
      GstClockTime ts, dur, rt;

      gst_event_parse_gap (event, &ts, &dur);
      gst_event_unref (event);
      if (!GST_CLOCK_TIME_IS_VALID (ts))
        return TRUE;
      if (GST_CLOCK_TIME_IS_VALID (dur))
        ts += dur;
      rt = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, ts);
      if (!GST_CLOCK_TIME_IS_VALID (rt) || !self->negotiated)
        return TRUE;
      if (!GST_CLOCK_TIME_IS_VALID (self->next_frame_rt))
        start_frames (self, rt);
      if (!GST_CLOCK_TIME_IS_VALID (self->pos_rt) || rt > self->pos_rt)
        self->pos_rt = rt;
      push_frames (self, FALSE);
      return TRUE;
    }
    case GST_EVENT_EOS:
      push_frames (self, TRUE);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      reset_stream (self);
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_START:
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* ---- dreams ---- */

static GstFlowReturn
gst_seq_dream_viz_dream_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);
  GstCustomMeta *meta = gst_buffer_get_seq_dream_meta (buffer);
  GstMapInfo map;
  Dream *d;

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    gst_buffer_unref (buffer);
    return GST_FLOW_OK;
  }
  d = g_new0 (Dream, 1);
  d->pts = GST_BUFFER_PTS (buffer);
  d->class_index = -1;
  if (meta != NULL)
    gst_structure_get_int (
        gst_custom_meta_get_structure (meta), "class-index", &d->class_index);
  d->n = map.size / sizeof (gfloat);
  d->x = g_memdup2 (map.data, d->n * sizeof (gfloat));
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);

  g_mutex_lock (&self->dream_lock);
  resolve_class_locked (self, d);
  g_queue_push_head (&self->dreams, d);
  while (g_queue_get_length (&self->dreams) > MAX_DREAMS)
    dream_free (g_queue_pop_tail (&self->dreams));
  g_mutex_unlock (&self->dream_lock);
  GST_LOG_OBJECT (self, "dream of %u samples at %" GST_TIME_FORMAT, d->n,
      GST_TIME_ARGS (d->pts));
  return GST_FLOW_OK;
}

static gboolean
gst_seq_dream_viz_dream_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    clear_dreams (self);
  /* The audio drives the output: nothing of the dream stream goes on. */
  gst_event_unref (event);
  return TRUE;
}

/* ---- src ---- */

static gboolean
gst_seq_dream_viz_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_QOS:
    case GST_EVENT_NAVIGATION:
      gst_event_unref (event);
      return TRUE;
    default:
      return gst_pad_push_event (self->sinkpad, event);
  }
}

static gboolean
gst_seq_dream_viz_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      gboolean live;
      GstClockTime min, max, frame;
      gint n = GST_VIDEO_INFO_FPS_N (&self->vinfo);
      gint d = GST_VIDEO_INFO_FPS_D (&self->vinfo);

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      if (n <= 0 || d <= 0) {
        n = DEFAULT_FPS_N;
        d = DEFAULT_FPS_D;
      }
      frame = gst_util_uint64_scale_int (GST_SECOND, d, n);
      min += frame;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += frame;
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    case GST_QUERY_CAPS:
    case GST_QUERY_ACCEPT_CAPS:
      return gst_pad_query_default (pad, parent, query);
    default:
      return gst_pad_peer_query (self->sinkpad, query);
  }
}
