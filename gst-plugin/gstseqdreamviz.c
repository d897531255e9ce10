/* GStreamer seqdreamviz element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-seqdreamviz
 * @title: seqdreamviz
 * @short_description: render seqdream's scores and dreams as video
 *
 * seqdreamviz turns the output of seqdream into an overlay video a person
 * can read. Its `sink` pad takes the audio that leaves seqdream's `src` pad
 * (F32, carrying "SeqDreamMeta" and "SeqDreamAttributionMeta" metas; of
 * a multichannel seqdream's interleaved output it shows the channel
 * `channel`, 0 by default: its waveform, scores and attributions);
 * its `dream_sink` pad optionally takes the dreams of seqdream's
 * `dream_src` pad. The `src` pad renders video/x-raw (BGRx or RGBA, any
 * size from 16x16; `width` x `height`, 640x360 by default, at 25/1 unless
 * downstream caps say otherwise) with cairo. A frame shows (`draw` selects
 * the panels; docs/element-seqdream.md has pictures):
 *
 * - a header: the running time, the class of the latest scored window and
 *   its probability, and a badge "known" (green) or "UNKNOWN" (red) with
 *   the window's novelty (the `known` and `novelty` fields of seqdream);
 * - the window panel (`window`): the waveform with a y axis in `units`
 *   (symmetric, the window's own max |x|) and a time axis in seconds of
 *   stream time. With `attribution` and an attribution arriving, it shows
 *   the attributed window (seqdream computes one per
 *   attribution-interval) with its heat band under it, sample for sample:
 *   dark grey for 0, orange-red for the largest positive attribution,
 *   blue for the largest negative (per pixel column the sample of largest
 *   magnitude); without attributions, the latest window and a note saying
 *   how to get them;
 * - the dream panel (`dream`): the newest dream of the window's class on
 *   its own scale, titled with its class and its probability p (from the
 *   SeqDreamMeta that seqdream puts on dream buffers);
 * - the probability strip (`probabilities`): every class's probability
 *   over the last `history` seconds of stream time, windows the model did
 *   not know shaded red; a legend with the current probabilities;
 * - a hint in the window panel when no seqdream data arrive: "waiting for
 *   the first scored window" during the first second of audio, then "no
 *   seqdream data: put seqdream before seqdreamviz", and "no seqdream data
 *   for N s" when they stop (3 s, or three windows).
 *
 * Colours are properties (ARGB as textoverlay's, alpha ignored); the
 * class colours, the heat map and the badges are fixed.
 *
 * One frame is produced per 1/framerate of audio **running time**: frame n
 * has PTS n / framerate (running time, in a segment starting at 0) and
 * shows the state once the audio up to (n + 1) / framerate has arrived; at
 * EOS a last frame covers the partial frame interval, if any. The first
 * frame is the one that contains the running time of the first audio
 * sample. The latency query adds one frame duration to upstream's.
 *
 * A dream is matched to its class by the SeqDreamMeta on its buffer, or,
 * without one, to the class of the scored window with the same PTS
 * (seqdream stamps dreams with the window's PTS). An attribution arrives
 * on a buffer after its window (seqdream computes it on its dream thread):
 * its window's samples are taken from the last 4 s of audio; an
 * attribution older than that is skipped (a debug line says so).
 * The `dream_sink` chain only stores the dream under a lock and never
 * waits for the audio; its EOS is ignored (the audio drives the output).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=s dream-trigger=class-change attribution=ig ! \
 *     seqdreamviz name=v units=g ! videoconvert ! vp8enc ! webmmux ! \
 *     filesink location=out.webm \
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
#include "gstseqdreamvizprivate.h"

#include <cairo.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_seq_dream_viz_debug);
#define GST_CAT_DEFAULT gst_seq_dream_viz_debug

#define AUDIO_CAPS                                                             \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, "      \
  "rate = (int) [ 1, MAX ], channels = (int) [ 1, 64 ]"
#define DREAM_CAPS                                                             \
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
#define DEFAULT_HISTORY 10.0
#define DEFAULT_DRAW                                                           \
  (VIZ_DRAW_WINDOW | VIZ_DRAW_DREAM | VIZ_DRAW_ATTRIBUTION                     \
      | VIZ_DRAW_PROBABILITIES)
#define DEFAULT_UNITS "input units"
#define DEFAULT_CHANNEL 0
/* ARGB, as textoverlay's color (the alpha is ignored: frames are opaque) */
#define DEFAULT_BACKGROUND_COLOR 0xff181820
#define DEFAULT_TEXT_COLOR 0xfff0f0f0
#define DEFAULT_WINDOW_COLOR 0xffaac8ff
#define DEFAULT_DREAM_COLOR 0xffff8c00

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (AUDIO_CAPS));
static GstStaticPadTemplate dream_sink_template = GST_STATIC_PAD_TEMPLATE (
    "dream_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (DREAM_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

enum
{
  PROP_0,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_HISTORY,
  PROP_DRAW,
  PROP_UNITS,
  PROP_BACKGROUND_COLOR,
  PROP_TEXT_COLOR,
  PROP_WINDOW_COLOR,
  PROP_DREAM_COLOR,
  PROP_CHANNEL,
};

#define gst_seq_dream_viz_parent_class parent_class
G_DEFINE_TYPE (GstSeqDreamViz, gst_seq_dream_viz, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (seqdreamviz, "seqdreamviz",
    GST_RANK_NONE, GST_TYPE_SEQ_DREAM_VIZ, gst_seq_dream_meta_get_info ());

static void gst_seq_dream_viz_finalize (GObject *object);
static void gst_seq_dream_viz_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_seq_dream_viz_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
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

GType
gst_seq_dream_viz_draw_get_type (void)
{
  static GType type = 0;
  static const GFlagsValue values[] = {
    { VIZ_DRAW_WINDOW, "The latest scored window, with axes", "window" },
    { VIZ_DRAW_DREAM, "The dream of the window's class, on its own panel",
        "dream" },
    { VIZ_DRAW_ATTRIBUTION, "The attribution as a heat band under the window",
        "attribution" },
    { VIZ_DRAW_PROBABILITIES,
        "The class probabilities of the last history seconds",
        "probabilities" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_flags_register_static ("GstSeqDreamVizDraw", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
install_color (GObjectClass *gobject_class, guint prop_id, const gchar *name,
    const gchar *nick, const gchar *blurb, guint32 def)
{
  g_object_class_install_property (gobject_class, prop_id,
      g_param_spec_uint (name, nick, blurb, 0, G_MAXUINT32, def,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS
              | GST_PARAM_MUTABLE_PLAYING));
}

static void
gst_seq_dream_viz_class_init (GstSeqDreamVizClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  gobject_class->finalize = gst_seq_dream_viz_finalize;
  gobject_class->set_property = gst_seq_dream_viz_set_property;
  gobject_class->get_property = gst_seq_dream_viz_get_property;
  g_object_class_install_property (gobject_class, PROP_WIDTH,
      g_param_spec_int ("width", "Width",
          "Preferred frame width (pixels); a caps filter downstream wins", 16,
          8192, DEFAULT_WIDTH, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HEIGHT,
      g_param_spec_int ("height", "Height",
          "Preferred frame height (pixels); a caps filter downstream wins", 16,
          8192, DEFAULT_HEIGHT, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_HISTORY,
      g_param_spec_double ("history", "History",
          "Seconds of stream time in the probability strip", 0.1, 3600.0,
          DEFAULT_HISTORY, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DRAW,
      g_param_spec_flags ("draw", "Draw", "What the frames show",
          gst_seq_dream_viz_draw_get_type (), DEFAULT_DRAW,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_UNITS,
      g_param_spec_string ("units", "Units",
          "Units of the stream, on the y axes of window and dream (a model "
          "file does not record them; the default model's are g)",
          DEFAULT_UNITS, rw | GST_PARAM_MUTABLE_PLAYING));
  install_color (gobject_class, PROP_BACKGROUND_COLOR, "background-color",
      "Background colour", "Background, ARGB (alpha ignored)",
      DEFAULT_BACKGROUND_COLOR);
  install_color (gobject_class, PROP_TEXT_COLOR, "text-color", "Text colour",
      "Labels, axes' numbers and hints, ARGB (alpha ignored)",
      DEFAULT_TEXT_COLOR);
  install_color (gobject_class, PROP_WINDOW_COLOR, "window-color",
      "Window colour", "The window's waveform, ARGB (alpha ignored)",
      DEFAULT_WINDOW_COLOR);
  install_color (gobject_class, PROP_DREAM_COLOR, "dream-color", "Dream colour",
      "The dream's waveform, ARGB (alpha ignored)", DEFAULT_DREAM_COLOR);
  /**
   * GstSeqDreamViz:channel:
   *
   * The input channel shown when the audio has several (the interleaved
   * output of a multichannel seqdream): its waveform, and the scores and
   * attributions of that channel's windows (the `channel` field of
   * seqdream's metas). Dreams on `dream_sink` are those of seqdream's
   * `dream-channel`: set it to the same channel. Read when caps arrive: a
   * value not below the stream's channel count is an error then.
   */
  g_object_class_install_property (gobject_class, PROP_CHANNEL,
      g_param_spec_uint ("channel", "Channel",
          "The input channel (0-based) whose waveform, scores and "
          "attributions are drawn; must be below the stream's channel count",
          0, 63, DEFAULT_CHANNEL, rw | GST_PARAM_MUTABLE_READY));
  gst_type_mark_as_plugin_api (gst_seq_dream_viz_draw_get_type (), 0);
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

  self->width = DEFAULT_WIDTH;
  self->height = DEFAULT_HEIGHT;
  self->history_s = DEFAULT_HISTORY;
  self->draw = DEFAULT_DRAW;
  self->units = g_strdup (DEFAULT_UNITS);
  self->channel = DEFAULT_CHANNEL;
  self->colors[0] = DEFAULT_BACKGROUND_COLOR;
  self->colors[1] = DEFAULT_TEXT_COLOR;
  self->colors[2] = DEFAULT_WINDOW_COLOR;
  self->colors[3] = DEFAULT_DREAM_COLOR;
  g_queue_init (&self->probs);
  g_mutex_init (&self->dream_lock);
  g_queue_init (&self->dreams);
  self->history = g_new0 (HistoryEntry, HISTORY_LEN);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  gst_video_info_init (&self->vinfo);
}

static void
gst_seq_dream_viz_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_WIDTH:
      self->width = g_value_get_int (value);
      break;
    case PROP_HEIGHT:
      self->height = g_value_get_int (value);
      break;
    case PROP_HISTORY:
      self->history_s = g_value_get_double (value);
      break;
    case PROP_DRAW:
      self->draw = g_value_get_flags (value);
      break;
    case PROP_UNITS:
      g_free (self->units);
      self->units = g_value_dup_string (value);
      if (self->units == NULL)
        self->units = g_strdup ("");
      break;
    case PROP_BACKGROUND_COLOR:
    case PROP_TEXT_COLOR:
    case PROP_WINDOW_COLOR:
    case PROP_DREAM_COLOR:
      self->colors[prop_id - PROP_BACKGROUND_COLOR] = g_value_get_uint (value);
      break;
    case PROP_CHANNEL:
      self->channel = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_seq_dream_viz_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_WIDTH:
      g_value_set_int (value, self->width);
      break;
    case PROP_HEIGHT:
      g_value_set_int (value, self->height);
      break;
    case PROP_HISTORY:
      g_value_set_double (value, self->history_s);
      break;
    case PROP_DRAW:
      g_value_set_flags (value, self->draw);
      break;
    case PROP_UNITS:
      g_value_set_string (value, self->units);
      break;
    case PROP_BACKGROUND_COLOR:
    case PROP_TEXT_COLOR:
    case PROP_WINDOW_COLOR:
    case PROP_DREAM_COLOR:
      g_value_set_uint (value, self->colors[prop_id - PROP_BACKGROUND_COLOR]);
      break;
    case PROP_CHANNEL:
      g_value_set_uint (value, self->channel);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
clear_dreams (GstSeqDreamViz *self)
{
  g_mutex_lock (&self->dream_lock);
  g_queue_clear_full (&self->dreams, gst_seq_dream_viz_dream_free);
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
  g_queue_clear_full (&self->probs, gst_seq_dream_viz_prob_free);
  self->first_rt = GST_CLOCK_TIME_NONE;
  self->result_rt = GST_CLOCK_TIME_NONE;
  g_clear_pointer (&self->attr, g_free);
  g_clear_pointer (&self->attr_x, g_free);
  g_clear_pointer (&self->attr_method, g_free);
  self->attr_n = 0;
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
  g_clear_pointer (&self->deint, g_free);
  clear_dreams (self);
  g_clear_pointer (&self->history, g_free);
  g_free (self->units);
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
    self->channels = 0;
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
  gint width, height;

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
  GST_OBJECT_LOCK (self);
  width = self->width;
  height = self->height;
  GST_OBJECT_UNLOCK (self);
  gst_structure_fixate_field_nearest_int (s, "width", width);
  gst_structure_fixate_field_nearest_int (s, "height", height);
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
  gst_seq_dream_viz_render (self, cr, pts);
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

static GstFlowReturn
gst_seq_dream_viz_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstSeqDreamViz *self = GST_SEQ_DREAM_VIZ (parent);
  GstClockTime pts = GST_BUFFER_PTS (buffer), rt_start, rt_end;
  GstMapInfo map;
  guint64 buf_start = self->n_samples;
  gpointer state = NULL;
  GstMeta *meta;
  gboolean got_result = FALSE;
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
  if (self->channels > 1) {
    /* the shown channel of the interleaved frames */
    const gfloat *in = (const gfloat *) map.data;
    n /= (guint) self->channels;
    if (n > self->deint_cap) {
      self->deint = g_renew (gfloat, self->deint, n);
      self->deint_cap = n;
    }
    for (guint i = 0; i < n; i++)
      self->deint[i] = in[(gsize) i * self->channels + self->shown_channel];
    gst_seq_dream_viz_hist_append (self, self->deint, n);
  } else {
    gst_seq_dream_viz_hist_append (self, (const gfloat *) map.data, n);
  }
  gst_buffer_unmap (buffer, &map);

  while ((meta = gst_buffer_iterate_meta (buffer, &state)) != NULL) {
    GstCustomMeta *cm = (GstCustomMeta *) meta;
    if (!gst_meta_info_is_custom (meta->info))
      continue;
    if (gst_custom_meta_has_name (cm, GST_SEQ_DREAM_META_NAME)) {
      const GstStructure *st = gst_custom_meta_get_structure (cm);
      guint channel = 0;
      /* The scores of the shown channel (a mono seqdream's metas have
       * channel 0) */
      gst_structure_get_uint (st, "channel", &channel);
      if (channel != self->shown_channel)
        continue;
      gst_seq_dream_viz_take_result (self, st, buf_start, pts);
      got_result = TRUE;
    } else if (gst_custom_meta_has_name (
                   cm, GST_SEQ_DREAM_ATTRIBUTION_META_NAME)) {
      const GstStructure *st = gst_custom_meta_get_structure (cm);
      guint channel = 0;
      gst_structure_get_uint (st, "channel", &channel);
      if (channel == self->shown_channel)
        gst_seq_dream_viz_take_attribution (self, st, buf_start, pts);
    }
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
  if (!GST_CLOCK_TIME_IS_VALID (self->first_rt))
    self->first_rt = rt_start;
  if (got_result)
    self->result_rt = rt_end;
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
      guint channel;

      gst_event_parse_caps (event, &caps);
      if (!gst_audio_info_from_caps (&info, caps)) {
        gst_event_unref (event);
        return FALSE;
      }
      GST_OBJECT_LOCK (self);
      channel = self->channel;
      GST_OBJECT_UNLOCK (self);
      if (channel >= (guint) GST_AUDIO_INFO_CHANNELS (&info)) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("channel is %u, but the stream has %d channel%s (0 to %d): set "
             "channel to one of them.",
                channel, GST_AUDIO_INFO_CHANNELS (&info),
                GST_AUDIO_INFO_CHANNELS (&info) == 1 ? "" : "s",
                GST_AUDIO_INFO_CHANNELS (&info) - 1),
            (NULL));
        gst_event_unref (event);
        return FALSE;
      }
      if ((self->rate != 0 && self->rate != GST_AUDIO_INFO_RATE (&info))
          || (self->channels != 0
              && (self->channels != GST_AUDIO_INFO_CHANNELS (&info)
                  || self->shown_channel != channel))) {
        /* Sample positions start again. */
        self->hist_len = 0;
        self->n_samples = 0;
      }
      self->rate = GST_AUDIO_INFO_RATE (&info);
      self->channels = GST_AUDIO_INFO_CHANNELS (&info);
      self->shown_channel = channel;
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
  d->p = -1.0;
  if (meta != NULL) {
    const GstStructure *ms = gst_custom_meta_get_structure (meta);
    gst_structure_get_int (ms, "class-index", &d->class_index);
    gst_structure_get_double (ms, "probability", &d->p);
  }
  d->n = map.size / sizeof (gfloat);
  d->x = g_memdup2 (map.data, d->n * sizeof (gfloat));
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);

  g_mutex_lock (&self->dream_lock);
  gst_seq_dream_viz_resolve_class_locked (self, d);
  g_queue_push_head (&self->dreams, d);
  while (g_queue_get_length (&self->dreams) > MAX_DREAMS)
    gst_seq_dream_viz_dream_free (g_queue_pop_tail (&self->dreams));
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
