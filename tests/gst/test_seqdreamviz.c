/* gst-check tests of the seqdreamviz element: caps negotiation, frame count
 * and timestamps, rendered pixels where the element's layout
 * (gst_seq_dream_viz_layout) puts the panels: window, dream, the
 * attribution's heat band, the probability strip and legend, the
 * known/unknown badge, the hint without seqdream upstream, the draw flags
 * and colours; EOS and flushing. The audio carries hand-made SeqDreamMeta
 * and SeqDreamAttributionMeta metas, so no model is needed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>

#include "gst-test-env.h"
#include "gst-test-fixture.h"
#include "gstseqdreamvizdraw.h"
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include <math.h>
#include <string.h>

#define RATE 8000
#define AUDIO_CAPS                                                             \
  "audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate=8000"

#define COLOR_BG 0x181820
#define COLOR_WINDOW 0xaac8ff
/* the default draw flags: everything */
#define DRAW_ALL                                                               \
  (VIZ_DRAW_WINDOW | VIZ_DRAW_DREAM | VIZ_DRAW_ATTRIBUTION                     \
      | VIZ_DRAW_PROBABILITIES)

static GstHarness *
make_harness (const gchar *video_caps)
{
  GstHarness *h = gst_harness_new_with_padnames ("seqdreamviz", "sink", "src");

  if (video_caps != NULL)
    gst_harness_set_sink_caps_str (h, video_caps);
  gst_harness_set_src_caps_str (h, AUDIO_CAPS);
  return h;
}

static void
set_doubles (GstStructure *s, const gchar *field, const gdouble *v, guint n)
{
  GValue arr = G_VALUE_INIT, item = G_VALUE_INIT;

  gst_value_array_init (&arr, n);
  for (guint i = 0; i < n; i++) {
    g_value_init (&item, G_TYPE_DOUBLE);
    g_value_set_double (&item, v[i]);
    gst_value_array_append_and_take_value (&arr, &item);
    memset (&item, 0, sizeof (item));
  }
  gst_structure_take_value (s, field, &arr);
}

/* A SeqDreamMeta on buf: the window [win_start, win_start + win_len)
 * samples, class cls, probabilities probs[0..n_classes), known. */
static void
add_result_meta (GstBuffer *buf, gint cls, const gdouble *probs,
    guint n_classes, guint64 win_start, guint win_len, gboolean known)
{
  GstCustomMeta *meta = gst_buffer_add_custom_meta (buf, "SeqDreamMeta");
  GValue labels = G_VALUE_INIT, v = G_VALUE_INIT;
  GstStructure *s;

  fail_unless (meta != NULL);
  s = gst_custom_meta_get_structure (meta);
  gst_value_array_init (&labels, n_classes);
  for (guint i = 0; i < n_classes; i++) {
    g_value_init (&v, G_TYPE_STRING);
    g_value_take_string (&v, g_strdup_printf ("c%u", i));
    gst_value_array_append_and_take_value (&labels, &v);
    memset (&v, 0, sizeof (v));
  }
  gst_structure_set (s, "timestamp", G_TYPE_UINT64,
      gst_util_uint64_scale_int (win_start, GST_SECOND, RATE), "stream-time",
      G_TYPE_UINT64, gst_util_uint64_scale_int (win_start, GST_SECOND, RATE),
      "duration", G_TYPE_UINT64,
      gst_util_uint64_scale_int (win_len, GST_SECOND, RATE), "class-index",
      G_TYPE_INT, cls, "class", G_TYPE_STRING, "cls", "confidence",
      G_TYPE_DOUBLE, probs[cls], "known", G_TYPE_BOOLEAN, known, "novelty",
      G_TYPE_DOUBLE, known ? 2.0 : 20.0, NULL);
  set_doubles (s, "probabilities", probs, n_classes);
  gst_structure_take_value (s, "labels", &labels);
}

/* A SeqDreamAttributionMeta on buf for the window [win_start, win_start +
 * win_len) samples: values a[0..win_len). */
static void
add_attribution_meta (
    GstBuffer *buf, guint64 win_start, guint win_len, const gdouble *a)
{
  GstCustomMeta *meta
      = gst_buffer_add_custom_meta (buf, "SeqDreamAttributionMeta");
  GstStructure *s;

  fail_unless (meta != NULL);
  s = gst_custom_meta_get_structure (meta);
  gst_structure_set (s, "timestamp", G_TYPE_UINT64,
      gst_util_uint64_scale_int (win_start, GST_SECOND, RATE), "stream-time",
      G_TYPE_UINT64, gst_util_uint64_scale_int (win_start, GST_SECOND, RATE),
      "duration", G_TYPE_UINT64,
      gst_util_uint64_scale_int (win_len, GST_SECOND, RATE), "method",
      G_TYPE_STRING, "ig", "class-index", G_TYPE_INT, 0, NULL);
  set_doubles (s, "attribution", a, win_len);
}

/* n samples of a sine from sample offset, optionally with a SeqDreamMeta of
 * a window [win_start, win_start + win_len) samples, class cls,
 * probabilities probs[0..n_classes) (known). */
static GstBuffer *
audio_buffer (guint64 offset, guint n, gint cls, const gdouble *probs,
    guint n_classes, guint64 win_start, guint win_len)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, n * sizeof (gfloat), NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (guint i = 0; i < n; i++)
    ((gfloat *) map.data)[i] = (gfloat) sin ((offset + i) * 0.05);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale_int (offset, GST_SECOND, RATE);
  GST_BUFFER_DURATION (buf)
      = gst_util_uint64_scale_int (offset + n, GST_SECOND, RATE)
        - GST_BUFFER_PTS (buf);
  if (cls >= 0)
    add_result_meta (buf, cls, probs, n_classes, win_start, win_len, TRUE);
  return buf;
}

/* Pushes n samples from offset in buffers of 800 samples (0.1 s). */
static void
push_audio (GstHarness *h, guint64 offset, guint n)
{
  for (guint done = 0; done < n;) {
    guint k = MIN (800u, n - done);
    fail_unless_equals_int (gst_harness_push (h, audio_buffer (offset + done, k,
                                                     -1, NULL, 0, 0, 0)),
        GST_FLOW_OK);
    done += k;
  }
}

static GList *
pull_all (GstHarness *h)
{
  GList *l = NULL;
  GstBuffer *b;

  while ((b = gst_harness_try_pull (h)) != NULL)
    l = g_list_append (l, b);
  return l;
}

static void
free_buffers (GList *l)
{
  g_list_free_full (l, (GDestroyNotify) gst_buffer_unref);
}

/* The RGB value of pixel (x, y) of a mapped frame. */
static guint32
frame_pixel (GstVideoFrame *f, gint x, gint y)
{
  const guint8 *p = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, 0)
                    + y * GST_VIDEO_FRAME_PLANE_STRIDE (f, 0) + 4 * x;

  if (GST_VIDEO_FRAME_FORMAT (f) == GST_VIDEO_FORMAT_RGBA)
    return (p[0] << 16) | (p[1] << 8) | p[2];
  return (p[2] << 16) | (p[1] << 8) | p[0];
}

/* The RGB value of pixel (x, y) of a frame. */
static guint32
pixel (GstBuffer *buf, const GstVideoInfo *info, gint x, gint y)
{
  GstVideoFrame f;
  guint32 rgb;

  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_READ));
  rgb = frame_pixel (&f, x, y);
  gst_video_frame_unmap (&f);
  return rgb;
}

static void
current_info (GstHarness *h, GstVideoInfo *info)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);

  fail_unless (caps != NULL);
  fail_unless (gst_video_info_from_caps (info, caps));
  gst_caps_unref (caps);
}

/* With VIZ_TEST_DUMP=DIR set, frames checked are written there as
 * NAME.png (BGRx only), to look at what a test saw. */
static void
dump_frame (GstBuffer *buf, const GstVideoInfo *info, const gchar *name)
{
  const gchar *dir = g_getenv ("VIZ_TEST_DUMP");
  GstVideoFrame f;
  cairo_surface_t *surface;
  gchar *path;

  if (dir == NULL || GST_VIDEO_INFO_FORMAT (info) != GST_VIDEO_FORMAT_BGRx)
    return;
  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_READ));
  surface
      = cairo_image_surface_create_for_data (GST_VIDEO_FRAME_PLANE_DATA (&f, 0),
          CAIRO_FORMAT_RGB24, GST_VIDEO_FRAME_WIDTH (&f),
          GST_VIDEO_FRAME_HEIGHT (&f), GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0));
  path = g_strdup_printf ("%s/%s.png", dir, name);
  cairo_surface_write_to_png (surface, path);
  g_free (path);
  cairo_surface_destroy (surface);
  gst_video_frame_unmap (&f);
}

/* The layout of the frames of info with the default draw flags. */
static void
layout_of (const GstVideoInfo *info, guint draw, VizLayout *l)
{
  gst_seq_dream_viz_layout (
      GST_VIDEO_INFO_WIDTH (info), GST_VIDEO_INFO_HEIGHT (info), draw, l);
}

/* Pixels of r for which match (rgb) holds. */
static guint
count_in (GstBuffer *buf, const GstVideoInfo *info, const VizRect *r,
    gboolean (*match) (guint32 rgb, guint32 ref), guint32 ref)
{
  guint count = 0;
  GstVideoFrame f;

  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_READ));
  for (gint y = (gint) ceil (r->y0); y < (gint) r->y1; y++)
    for (gint x = (gint) ceil (r->x0); x < (gint) r->x1; x++)
      if (match (frame_pixel (&f, x, y), ref))
        count++;
  gst_video_frame_unmap (&f);
  return count;
}

static gboolean
is_colour (guint32 rgb, guint32 ref)
{
  return rgb == ref;
}

/* Within 40 of ref in every channel (anti-aliased strokes). */
static gboolean
near_colour (guint32 rgb, guint32 ref)
{
  for (gint sh = 0; sh <= 16; sh += 8)
    if (abs ((gint) ((rgb >> sh) & 0xff) - (gint) ((ref >> sh) & 0xff)) > 40)
      return FALSE;
  return TRUE;
}

/* Pixels close to the dream colour (#ff8c00) in r. */
static guint
count_dream_pixels (GstBuffer *buf, const GstVideoInfo *info, const VizRect *r)
{
  return count_in (buf, info, r, near_colour, 0xff8c00);
}

GST_START_TEST (test_caps_sizes)
{
  static const struct
  {
    const gchar *caps;
    gint w, h, fps_n;
    GstVideoFormat format;
  } cases[] = {
    { "video/x-raw,format=BGRx,width=320,height=240,framerate=25/1", 320, 240,
        25, GST_VIDEO_FORMAT_BGRx },
    { "video/x-raw,format=RGBA,width=[800,1000],height=600,"
      "framerate=[1/1,10/1]",
        800, 600, 10, GST_VIDEO_FORMAT_RGBA },
    { NULL, 640, 360, 25, GST_VIDEO_FORMAT_BGRx }, /* the defaults */
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GstHarness *h = make_harness (cases[c].caps);
    GstVideoInfo info;
    GstBuffer *buf;

    push_audio (h, 0, RATE / 2);
    buf = gst_harness_pull (h);
    fail_unless (buf != NULL);
    current_info (h, &info);
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), cases[c].w);
    fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), cases[c].h);
    fail_unless_equals_int (GST_VIDEO_INFO_FPS_N (&info), cases[c].fps_n);
    fail_unless_equals_int (GST_VIDEO_INFO_FPS_D (&info), 1);
    fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), cases[c].format);
    fail_unless (
        gst_buffer_get_size (buf) >= (gsize) cases[c].w * cases[c].h * 4);
    fail_unless_equals_int (pixel (buf, &info, 0, 0), COLOR_BG);
    gst_buffer_unref (buf);
    gst_harness_teardown (h);
  }
}

GST_END_TEST;

GST_START_TEST (test_not_negotiated)
{
  GstHarness *h = make_harness ("video/x-raw,format=I420");

  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 800, -1, NULL, 0, 0, 0)),
      GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_frame_count_and_timestamps)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=160,height=90,framerate=25/1");
  GList *frames, *l;
  guint64 n = 0;
  GstEvent *ev;

  /* 1 s of audio: 25 frames of 40 ms. */
  push_audio (h, 0, RATE);
  frames = pull_all (h);
  fail_unless_equals_int (g_list_length (frames), 25);
  for (l = frames; l != NULL; l = l->next, n++) {
    GstBuffer *b = l->data;
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), n * 40 * GST_MSECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), 40 * GST_MSECOND);
    fail_unless_equals_int (
        GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_DISCONT), n == 0);
  }
  free_buffers (frames);

  /* 10 ms more: no full frame yet; EOS renders the partial one. */
  push_audio (h, RATE, RATE / 100);
  fail_unless (gst_harness_try_pull (h) == NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  frames = pull_all (h);
  fail_unless_equals_int (g_list_length (frames), 1);
  fail_unless_equals_uint64 (
      GST_BUFFER_PTS ((GstBuffer *) frames->data), GST_SECOND);
  free_buffers (frames);
  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    gboolean eos = GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
    if (eos)
      break;
  }
  fail_unless (ev != NULL, "no EOS downstream");
  gst_harness_teardown (h);
}

GST_END_TEST;

/* A segment starting at 10 s with base 0: running time starts at 0. */
GST_START_TEST (test_running_time)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=160,height=90,framerate=10/1");
  GstSegment seg;
  GstBuffer *b;

  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = 0;
  seg.base = 2 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  push_audio (h, 0, RATE / 5); /* 0.2 s at running time 2 s */
  b = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 2 * GST_SECOND);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 2100 * GST_MSECOND);
  gst_buffer_unref (b);
  fail_unless (gst_harness_try_pull (h) == NULL);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* One frame of a window of class 1 of 3: the legend's swatches in the
 * class colours, the strip's line of every class at its probability at
 * the right end, the window's waveform in its panel, no dream, the
 * "known" badge. */
static void
check_panels (const gchar *format)
{
  gchar *caps = g_strdup_printf (
      "video/x-raw,format=%s,width=640,height=360,framerate=25/1", format);
  GstHarness *h = make_harness (caps);
  const gdouble probs[3] = { 0.2, 0.7, 0.1 };
  const gint W = 640, H = 360;
  VizLayout l;
  GstVideoInfo info;
  GstBuffer *buf;

  /* One frame of audio whose buffer completes a window of class 1. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 1, probs, 3, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  fail_unless_equals_int (pixel (buf, &info, 0, 0), COLOR_BG);
  fail_unless_equals_int (pixel (buf, &info, W - 1, H - 1), COLOR_BG);
  for (gint k = 0; k < 3; k++) {
    gdouble row = MIN (1.4 * l.font, (l.legend.y1 - l.legend.y0) / 3);
    gint x = (gint) (l.legend.x0 + row * 0.3);
    gint y = (gint) (l.legend.y0 + row * k + row * 0.5);
    gdouble sh = l.strip.y1 - l.strip.y0;
    gint ys = (gint) lround (l.strip.y1 - 1 - probs[k] * (sh - 2));
    gboolean found = FALSE;

    fail_unless_equals_int (
        pixel (buf, &info, x, y), gst_seq_dream_viz_class_color (k));
    for (gint dy = -2; dy <= 2; dy++)
      found |= near_colour (pixel (buf, &info, (gint) l.strip.x1 - 2, ys + dy),
          gst_seq_dream_viz_class_color (k));
    fail_unless (
        found, "class %d: no line at p = %.1f in the strip", k, probs[k]);
  }
  fail_unless (
      count_in (buf, &info, &l.window, near_colour, COLOR_WINDOW) > 100);
  fail_unless_equals_int (count_dream_pixels (buf, &info, &l.dream), 0);
  fail_unless (
      count_in (buf, &info, &l.header, is_colour, VIZ_COLOR_KNOWN) > 100);
  fail_unless_equals_int (
      count_in (buf, &info, &l.header, is_colour, VIZ_COLOR_UNKNOWN), 0);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
  g_free (caps);
}

GST_START_TEST (test_pixels_bgrx)
{
  check_panels ("BGRx");
}

GST_END_TEST;

GST_START_TEST (test_pixels_rgba)
{
  check_panels ("RGBA");
}

GST_END_TEST;

GST_START_TEST (test_dream_drawn)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=320,height=180,framerate=25/1");
  GstHarness *hd;
  const gdouble probs[2] = { 0.1, 0.9 };
  GstVideoInfo info;
  GstBuffer *buf, *dream;
  GstMapInfo map;
  VizLayout l;

  hd = gst_harness_new_with_element (h->element, "dream_sink", NULL);
  gst_harness_set_src_caps_str (hd, AUDIO_CAPS);

  /* Frame 0: window [0, 320) of class 1, no dream yet. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 1, probs, 2, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  fail_unless_equals_int (count_dream_pixels (buf, &info, &l.dream), 0);
  gst_buffer_unref (buf);

  /* The dream of that window (same PTS), a square wave. */
  dream = gst_buffer_new_allocate (NULL, 320 * sizeof (gfloat), NULL);
  gst_buffer_map (dream, &map, GST_MAP_WRITE);
  for (guint i = 0; i < 320; i++)
    ((gfloat *) map.data)[i] = (i / 40) % 2 ? 0.8f : -0.8f;
  gst_buffer_unmap (dream, &map);
  GST_BUFFER_PTS (dream) = 0;
  GST_BUFFER_DURATION (dream) = 40 * GST_MSECOND;
  fail_unless_equals_int (gst_harness_push (hd, dream), GST_FLOW_OK);
  /* Its EOS does not end the video. */
  fail_unless (gst_harness_push_event (hd, gst_event_new_eos ()));

  push_audio (h, 320, 320);
  buf = gst_harness_pull (h);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (buf), 40 * GST_MSECOND);
  /* on its own panel, not over the window */
  fail_unless (count_dream_pixels (buf, &info, &l.dream) > 50);
  fail_unless_equals_int (count_dream_pixels (buf, &info, &l.window), 0);
  gst_buffer_unref (buf);

  /* A window of class 0: the class-1 dream is not drawn. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (640, 320, 0, probs, 2, 320, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (count_dream_pixels (buf, &info, &l.dream), 0);
  gst_buffer_unref (buf);

  gst_harness_teardown (hd);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* The colour of the middle row of the heat band at a fraction of its
 * width. */
static guint32
band_at (
    GstBuffer *buf, const GstVideoInfo *info, const VizLayout *l, gdouble frac)
{
  return pixel (buf, info,
      (gint) (l->band.x0 + frac * (l->band.x1 - l->band.x0)),
      (gint) ((l->band.y0 + l->band.y1) / 2));
}

/* The attribution of a window, carried on a later buffer, becomes the
 * band under it: positive samples at VIZ_COLOR_HEAT_POS, negative at
 * _NEG, zero at _ZERO; a new attribution changes the pixels. */
GST_START_TEST (test_attribution_band)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=640,height=360,framerate=25/1");
  const gdouble probs[2] = { 0.9, 0.1 };
  gdouble a[320];
  GstVideoInfo info;
  GstBuffer *buf;
  VizLayout l;

  /* frame 0: the window [0, 320), no attribution yet: no heat colours */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 0, probs, 2, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  fail_unless_equals_int (
      count_in (buf, &info, &l.band, is_colour, VIZ_COLOR_HEAT_POS), 0);
  gst_buffer_unref (buf);

  /* frame 1: its attribution on the next buffer, + then - */
  for (guint i = 0; i < 320; i++)
    a[i] = i < 160 ? 1.0 : -1.0;
  buf = audio_buffer (320, 320, -1, NULL, 0, 0, 0);
  add_attribution_meta (buf, 0, 320, a);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (band_at (buf, &info, &l, 0.25), VIZ_COLOR_HEAT_POS);
  fail_unless_equals_int (band_at (buf, &info, &l, 0.75), VIZ_COLOR_HEAT_NEG);
  gst_buffer_unref (buf);

  /* frame 2: another attribution of the same window: 0 then + */
  for (guint i = 0; i < 320; i++)
    a[i] = i < 160 ? 0.0 : 2.0;
  buf = audio_buffer (640, 320, -1, NULL, 0, 0, 0);
  add_attribution_meta (buf, 0, 320, a);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (band_at (buf, &info, &l, 0.25), VIZ_COLOR_HEAT_ZERO);
  fail_unless_equals_int (band_at (buf, &info, &l, 0.75), VIZ_COLOR_HEAT_POS);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Light grey text pixels (the hint, in the default text colour #f0f0f0)
 * in the middle of the window panel: the waveform (#aac8ff) is not. */
static gboolean
is_text (guint32 rgb, guint32 ref)
{
  return ((rgb >> 16) & 0xff) > 200 && ((rgb >> 8) & 0xff) > 200
         && (rgb & 0xff) > 200;
}

/* Audio without SeqDreamMeta: after a second the hint says that no
 * seqdream is upstream; with the metas there is none. */
GST_START_TEST (test_hint_without_seqdream)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=640,height=360,framerate=5/1");
  const gdouble probs[2] = { 0.9, 0.1 };
  GList *frames;
  GstVideoInfo info;
  VizLayout l;

  push_audio (h, 0, RATE * 3 / 2);
  frames = pull_all (h);
  fail_unless_equals_int (g_list_length (frames), 7); /* 1.5 s at 5/1 */
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  fail_unless (
      count_in (g_list_last (frames)->data, &info, &l.window, is_text, 0) > 20);
  free_buffers (frames);

  /* a seqdream window in every buffer from now on */
  for (guint64 off = RATE * 3 / 2; off < 2 * RATE; off += 320)
    fail_unless_equals_int (
        gst_harness_push (h, audio_buffer (off, 320, 0, probs, 2, off, 320)),
        GST_FLOW_OK);
  frames = pull_all (h);
  fail_unless (frames != NULL);
  dump_frame (g_list_last (frames)->data, &info, "hint-gone");
  fail_unless_equals_int (
      count_in (g_list_last (frames)->data, &info, &l.window, is_text, 0), 0);
  free_buffers (frames);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* known=FALSE: the badge turns VIZ_COLOR_UNKNOWN and the strip is shaded
 * where the windows were unknown. */
GST_START_TEST (test_unknown_shown)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=640,height=360,framerate=5/1");
  const gdouble probs[2] = { 0.6, 0.4 };
  GstVideoInfo info;
  GstBuffer *buf;
  GList *frames;
  VizLayout l;
  VizRect right;

  for (guint64 off = 0; off < RATE; off += 320) {
    buf = audio_buffer (off, 320, -1, NULL, 0, 0, 0);
    add_result_meta (buf, 0, probs, 2, off, 320, off < RATE / 2);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  frames = pull_all (h);
  fail_unless (frames != NULL);
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  buf = gst_buffer_ref (g_list_last (frames)->data);
  free_buffers (frames);
  fail_unless (
      count_in (buf, &info, &l.header, is_colour, VIZ_COLOR_UNKNOWN) > 100);
  fail_unless_equals_int (
      count_in (buf, &info, &l.header, is_colour, VIZ_COLOR_KNOWN), 0);
  /* the last half second of the strip (of its 10 s) is shaded: 35 % of
   * the way from the background to VIZ_COLOR_UNKNOWN */
  right = l.strip;
  right.x0 = l.strip.x1 - (l.strip.x1 - l.strip.x0) * 0.04;
  right.y0 = l.strip.y0 + 2;
  right.y1 = l.strip.y0 + 6;
  fail_unless (count_in (buf, &info, &right, near_colour, 0x5e262b) > 10);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Sets `channel` on the custom metas called name that have none yet. */
static void
set_meta_channel (GstBuffer *buf, const gchar *name, guint channel)
{
  gpointer state = NULL;
  GstMeta *meta;

  while ((meta = gst_buffer_iterate_meta (buf, &state)) != NULL) {
    GstCustomMeta *cm = (GstCustomMeta *) meta;
    GstStructure *st;
    if (!gst_meta_info_is_custom (meta->info)
        || !gst_custom_meta_has_name (cm, name))
      continue;
    st = gst_custom_meta_get_structure (cm);
    if (!gst_structure_has_field (st, "channel"))
      gst_structure_set (st, "channel", G_TYPE_UINT, channel, NULL);
  }
}

/* A frame after 0.4 s of 2-channel audio whose channel 0 windows are
 * unknown with a negative attribution and channel 1's known with a
 * positive one, shown by a seqdreamviz with channel=shown. */
static GstBuffer *
two_channel_frame (guint shown, GstVideoInfo *info, VizLayout *l)
{
  GstHarness *h = gst_harness_new_with_padnames ("seqdreamviz", "sink", "src");
  const gdouble probs[2] = { 0.6, 0.4 };
  gdouble neg[320], pos[320];
  GList *frames;
  GstBuffer *buf, *frame;

  g_object_set (h->element, "channel", shown, NULL);
  gst_harness_set_sink_caps_str (
      h, "video/x-raw,format=BGRx,width=640,height=360,framerate=5/1");
  gst_harness_set_src_caps_str (
      h, "audio/x-raw,format=F32LE,layout=interleaved,channels=2,rate=8000");
  for (guint i = 0; i < 320; i++) {
    neg[i] = -1.0;
    pos[i] = 1.0;
  }
  for (guint64 off = 0; off < 3200; off += 320) {
    GstBuffer *mono = audio_buffer (off, 320, -1, NULL, 0, 0, 0);
    GstMapInfo in, out;

    buf = gst_buffer_new_allocate (NULL, 2 * 320 * sizeof (gfloat), NULL);
    gst_buffer_map (mono, &in, GST_MAP_READ);
    gst_buffer_map (buf, &out, GST_MAP_WRITE);
    for (guint i = 0; i < 320; i++) {
      ((gfloat *) out.data)[2 * i] = ((const gfloat *) in.data)[i];
      ((gfloat *) out.data)[2 * i + 1] = ((const gfloat *) in.data)[i];
    }
    gst_buffer_unmap (buf, &out);
    gst_buffer_unmap (mono, &in);
    gst_buffer_copy_into (buf, mono, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
    gst_buffer_unref (mono);
    add_result_meta (buf, 0, probs, 2, off, 320, FALSE);
    set_meta_channel (buf, "SeqDreamMeta", 0);
    add_attribution_meta (buf, off, 320, neg);
    set_meta_channel (buf, "SeqDreamAttributionMeta", 0);
    add_result_meta (buf, 0, probs, 2, off, 320, TRUE);
    set_meta_channel (buf, "SeqDreamMeta", 1);
    add_attribution_meta (buf, off, 320, pos);
    set_meta_channel (buf, "SeqDreamAttributionMeta", 1);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  frames = pull_all (h);
  fail_unless (frames != NULL);
  current_info (h, info);
  layout_of (info, DRAW_ALL, l);
  frame = gst_buffer_ref (g_list_last (frames)->data);
  free_buffers (frames);
  gst_harness_teardown (h);
  return frame;
}

/* channel=N shows channel N's scores and attributions of a multichannel
 * stream (channel 0 is the control: the other answer); a channel the
 * stream does not have is refused at the caps. */
GST_START_TEST (test_channel)
{
  GstVideoInfo info;
  VizLayout l;
  GstBuffer *buf;
  GstHarness *h;

  for (guint shown = 0; shown < 2; shown++) {
    buf = two_channel_frame (shown, &info, &l);
    fail_unless (count_in (buf, &info, &l.header, is_colour,
                     shown ? VIZ_COLOR_KNOWN : VIZ_COLOR_UNKNOWN)
                     > 100,
        "channel %u: its known state is not in the header", shown);
    fail_unless_equals_int (count_in (buf, &info, &l.header, is_colour,
                                shown ? VIZ_COLOR_UNKNOWN : VIZ_COLOR_KNOWN),
        0);
    fail_unless_equals_int (band_at (buf, &info, &l, 0.5),
        shown ? VIZ_COLOR_HEAT_POS : VIZ_COLOR_HEAT_NEG);
    gst_buffer_unref (buf);
  }

  h = gst_harness_new_with_padnames ("seqdreamviz", "sink", "src");
  g_object_set (h->element, "channel", 2, NULL);
  gst_harness_set_sink_caps_str (
      h, "video/x-raw,format=BGRx,width=640,height=360,framerate=5/1");
  gst_harness_set_src_caps_str (
      h, "audio/x-raw,format=F32LE,layout=interleaved,channels=2,rate=8000");
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 800, -1, NULL, 0, 0, 0)),
      GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* draw=window: no dream panel, no band, no strip; the window takes the
 * width. size and colours from the properties. */
GST_START_TEST (test_properties)
{
  GstHarness *h = gst_harness_new_with_padnames ("seqdreamviz", "sink", "src");
  const gdouble probs[2] = { 0.9, 0.1 };
  GstVideoInfo info;
  GstBuffer *buf;
  VizLayout l;
  VizRect below;
  guint legend_pixels = 0;

  g_object_set (h->element, "width", 480, "height", 270, "draw",
      VIZ_DRAW_WINDOW, "background-color", 0xff102030, "window-color",
      0xff00ff00, NULL);
  /* (the audio caps negotiate the size: after the properties) */
  gst_harness_set_src_caps_str (h, AUDIO_CAPS);
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 0, probs, 2, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 480);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), 270);
  layout_of (&info, VIZ_DRAW_WINDOW, &l);
  fail_unless (l.dream.x1 == 0 && l.band.x1 == 0 && l.strip.x1 == 0);
  fail_unless (l.window.x1 > 0.9 * 480);
  fail_unless_equals_int (pixel (buf, &info, 0, 0), 0x102030);
  fail_unless (count_in (buf, &info, &l.window, near_colour, 0x00ff00) > 100);
  /* nothing in the class colours below the window */
  below = (VizRect){ 0, l.window.y1 + 2, 480, 270 };
  for (gint k = 0; k < 2; k++)
    legend_pixels += count_in (
        buf, &info, &below, is_colour, gst_seq_dream_viz_class_color (k));
  fail_unless_equals_int (legend_pixels, 0);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* history: windows of class 0 (p 1) for 2 s, then of class 1 for 0.5 s.
 * With history=1 the strip's left edge (1 s ago) shows class 0 at p 1;
 * with 10 s it is empty there (no windows 10 s ago). */
static guint32
strip_left_top (gdouble history)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=640,height=360,framerate=5/1");
  const gdouble p0[2] = { 1.0, 0.0 }, p1[2] = { 0.0, 1.0 };
  GstBuffer *buf, *last = NULL;
  GstVideoInfo info;
  VizLayout l;
  guint32 c = 0;

  g_object_set (h->element, "history", history, NULL);
  for (guint64 off = 0; off < RATE * 5 / 2; off += 400)
    fail_unless_equals_int (
        gst_harness_push (h, audio_buffer (off, 400, off < 2 * RATE ? 0 : 1,
                                 off < 2 * RATE ? p0 : p1, 2, off, 400)),
        GST_FLOW_OK);
  while ((buf = gst_harness_try_pull (h)) != NULL) {
    if (last != NULL)
      gst_buffer_unref (last);
    last = buf;
  }
  current_info (h, &info);
  layout_of (&info, DRAW_ALL, &l);
  for (gint dy = 0; dy <= 3 && c != gst_seq_dream_viz_class_color (0); dy++)
    c = pixel (last, &info, (gint) l.strip.x0 + 3, (gint) l.strip.y0 + dy);
  gst_buffer_unref (last);
  gst_harness_teardown (h);
  return c;
}

GST_START_TEST (test_history_length)
{
  fail_unless_equals_int (
      strip_left_top (1.0), gst_seq_dream_viz_class_color (0));
  fail_unless (strip_left_top (10.0) != gst_seq_dream_viz_class_color (0));
}

GST_END_TEST;

GST_START_TEST (test_flush)
{
  GstHarness *h = make_harness (
      "video/x-raw,format=BGRx,width=160,height=90,framerate=25/1");
  GstSegment seg;
  GList *frames;
  GstEvent *ev;
  gboolean saw_start = FALSE, saw_stop = FALSE;

  push_audio (h, 0, RATE / 2);
  frames = pull_all (h);
  fail_unless_equals_int (g_list_length (frames), 12);
  free_buffers (frames);

  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  while ((ev = gst_harness_try_pull_event (h)) != NULL) {
    saw_start |= GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_START;
    saw_stop |= GST_EVENT_TYPE (ev) == GST_EVENT_FLUSH_STOP;
    gst_event_unref (ev);
  }
  fail_unless (saw_start && saw_stop);

  /* After the flush, running time restarts: frames from 0 again. */
  gst_segment_init (&seg, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  push_audio (h, 0, RATE / 5);
  frames = pull_all (h);
  fail_unless_equals_int (g_list_length (frames), 5);
  fail_unless_equals_uint64 (GST_BUFFER_PTS ((GstBuffer *) frames->data), 0);
  fail_unless (GST_BUFFER_FLAG_IS_SET (
      (GstBuffer *) frames->data, GST_BUFFER_FLAG_DISCONT));
  free_buffers (frames);

  /* EOS on a frame boundary: no extra frame, EOS downstream. */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless (gst_harness_try_pull (h) == NULL);
  gst_harness_teardown (h);
}

GST_END_TEST;

static void
on_handoff (GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer user_data)
{
  guint *n = user_data;

  g_atomic_int_inc (n);
}

/* seqdream ! seqdreamviz with the dream branch, to EOS: 1 s of audio makes
 * 25 frames and no error, whenever the dreams arrive. */
GST_START_TEST (test_pipeline)
{
  const gchar *dir = g_getenv ("SEQDREAM_TEST_DATA");
  gchar *model, *desc;
  GstElement *pipeline, *sink;
  GstMessage *msg;
  GError *err = NULL;
  guint *frames = fx_take (g_new0 (guint, 1), g_free);

  fail_unless (dir != NULL, "SEQDREAM_TEST_DATA is not set");
  model = g_build_filename (
      dir, "golden", "resnet-small.model.safetensors", NULL);
  desc = g_strdup_printf (
      "audiotestsrc num-buffers=20 samplesperbuffer=400 ! "
      "audio/x-raw,format=F32LE,channels=1,rate=8000 ! "
      "seqdream name=s model-file=\"%s\" dream-trigger=interval "
      "dream-interval=100000000 dream-steps=20 ! seqdreamviz name=v ! "
      "video/x-raw,width=160,height=90,framerate=25/1 ! "
      "fakesink name=out sync=false signal-handoffs=true "
      "s.dream_src ! queue ! v.dream_sink",
      model);
  pipeline = gst_parse_launch (desc, &err);
  fail_unless (pipeline != NULL, "%s", err != NULL ? err->message : "");
  fx_element (pipeline);
  g_clear_error (&err);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), frames);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      env_uint ("SEQDREAM_TIMEOUT_SCALE", 1) * 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "timeout");
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  fail_unless_equals_int (g_atomic_int_get (frames), 25);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_free (desc);
  g_free (model);
}

GST_END_TEST;

static Suite *
seqdreamviz_suite (void)
{
  Suite *s = suite_create ("seqdreamviz");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, fx_setup, fx_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps_sizes);
  tcase_add_test (tc, test_not_negotiated);
  tcase_add_test (tc, test_frame_count_and_timestamps);
  tcase_add_test (tc, test_running_time);
  tcase_add_test (tc, test_pixels_bgrx);
  tcase_add_test (tc, test_pixels_rgba);
  tcase_add_test (tc, test_dream_drawn);
  tcase_add_test (tc, test_attribution_band);
  tcase_add_test (tc, test_hint_without_seqdream);
  tcase_add_test (tc, test_unknown_shown);
  tcase_add_test (tc, test_channel);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_history_length);
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_pipeline);
  return s;
}

GST_CHECK_MAIN (seqdreamviz);
