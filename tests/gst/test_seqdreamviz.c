/* gst-check tests of the seqdreamviz element: caps negotiation, frame count
 * and timestamps, rendered pixels (background, probability bars, dreams),
 * EOS and flushing. The audio carries hand-made SeqDreamMeta metas, so no
 * model is needed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>

#include "gst-test-env.h"
#include "gst-test-fixture.h"
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include <math.h>
#include <string.h>

#define RATE 8000
#define AUDIO_CAPS                                                             \
  "audio/x-raw,format=F32LE,layout=interleaved,channels=1,rate=8000"

#define COLOR_BG 0x181820
#define COLOR_DREAM 0xff8c00
#define COLOR_BAR 0x506ea0
#define COLOR_BAR_PREDICTED 0x40c860

static GstHarness *
make_harness (const gchar *video_caps)
{
  GstHarness *h = gst_harness_new_with_padnames ("seqdreamviz", "sink", "src");

  if (video_caps != NULL)
    gst_harness_set_sink_caps_str (h, video_caps);
  gst_harness_set_src_caps_str (h, AUDIO_CAPS);
  return h;
}

/* n samples of a sine from sample offset, optionally with a SeqDreamMeta of
 * a window [win_start, win_start + win_len) samples, class cls,
 * probabilities probs[0..n_classes). */
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

  if (cls >= 0) {
    GstCustomMeta *meta = gst_buffer_add_custom_meta (buf, "SeqDreamMeta");
    GstStructure *s;
    GValue arr = G_VALUE_INIT, labels = G_VALUE_INIT, v = G_VALUE_INIT;

    fail_unless (meta != NULL);
    s = gst_custom_meta_get_structure (meta);
    gst_value_array_init (&arr, n_classes);
    gst_value_array_init (&labels, n_classes);
    for (guint i = 0; i < n_classes; i++) {
      gchar *l = g_strdup_printf ("c%u", i);
      g_value_init (&v, G_TYPE_DOUBLE);
      g_value_set_double (&v, probs[i]);
      gst_value_array_append_and_take_value (&arr, &v);
      memset (&v, 0, sizeof (v));
      g_value_init (&v, G_TYPE_STRING);
      g_value_take_string (&v, l);
      gst_value_array_append_and_take_value (&labels, &v);
      memset (&v, 0, sizeof (v));
    }
    gst_structure_set (s, "timestamp", G_TYPE_UINT64,
        gst_util_uint64_scale_int (win_start, GST_SECOND, RATE), "duration",
        G_TYPE_UINT64, gst_util_uint64_scale_int (win_len, GST_SECOND, RATE),
        "class-index", G_TYPE_INT, cls, "class", G_TYPE_STRING, "cls",
        "confidence", G_TYPE_DOUBLE, probs[cls], NULL);
    gst_structure_take_value (s, "probabilities", &arr);
    gst_structure_take_value (s, "labels", &labels);
  }
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

/* The RGB value of pixel (x, y) of a frame. */
static guint32
pixel (GstBuffer *buf, const GstVideoInfo *info, gint x, gint y)
{
  GstVideoFrame f;
  const guint8 *p;
  guint32 rgb;

  fail_unless (gst_video_frame_map (&f, info, buf, GST_MAP_READ));
  p = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
      + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0) + 4 * x;
  if (GST_VIDEO_INFO_FORMAT (info) == GST_VIDEO_FORMAT_RGBA)
    rgb = (p[0] << 16) | (p[1] << 8) | p[2];
  else
    rgb = (p[2] << 16) | (p[1] << 8) | p[0];
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

/* Pixels close to the dream colour in the plot area. */
static guint
count_dream_pixels (GstBuffer *buf, const GstVideoInfo *info)
{
  gint W = GST_VIDEO_INFO_WIDTH (info), H = GST_VIDEO_INFO_HEIGHT (info);
  guint count = 0;

  for (gint y = H / 10; y < H * 3 / 5; y++)
    for (gint x = W / 20; x < W - W / 20; x += 1) {
      guint32 c = pixel (buf, info, x, y);
      guint r = c >> 16, g = (c >> 8) & 0xff, b = c & 0xff;
      if (r > 200 && g > 90 && g < 180 && b < 80)
        count++;
    }
  return count;
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

static void
check_bars (const gchar *format)
{
  gchar *caps = g_strdup_printf (
      "video/x-raw,format=%s,width=640,height=360,framerate=25/1", format);
  GstHarness *h = make_harness (caps);
  const gdouble probs[3] = { 0.2, 0.7, 0.1 };
  const gint W = 640, H = 360;
  const gint by0 = H * 13 / 20, by1 = H * 19 / 20, bar_x0 = W / 4;
  const gint bar_max = W - W / 20 - W / 4, row_h = (by1 - by0) / 3;
  GstVideoInfo info;
  GstBuffer *buf;

  /* One frame of audio whose buffer completes a window of class 1. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 1, probs, 3, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  fail_unless_equals_int (pixel (buf, &info, 0, 0), COLOR_BG);
  fail_unless_equals_int (pixel (buf, &info, W - 1, H - 1), COLOR_BG);
  for (gint i = 0; i < 3; i++) {
    gint yc = by0 + i * row_h + row_h / 2;
    guint32 colour = i == 1 ? COLOR_BAR_PREDICTED : COLOR_BAR;
    gint x = bar_x0 + 2, expected = (gint) lround (probs[i] * bar_max);

    fail_unless_equals_int (pixel (buf, &info, x, yc), colour);
    while (x < W && pixel (buf, &info, x, yc) == colour)
      x++;
    fail_unless (abs ((x - bar_x0) - expected) <= 3,
        "class %d: bar %d px long, expected %d", i, x - bar_x0, expected);
  }
  /* No dream. */
  fail_unless_equals_int (count_dream_pixels (buf, &info), 0);
  gst_buffer_unref (buf);
  gst_harness_teardown (h);
  g_free (caps);
}

GST_START_TEST (test_pixels_bgrx)
{
  check_bars ("BGRx");
}

GST_END_TEST;

GST_START_TEST (test_pixels_rgba)
{
  check_bars ("RGBA");
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

  hd = gst_harness_new_with_element (h->element, "dream_sink", NULL);
  gst_harness_set_src_caps_str (hd, AUDIO_CAPS);

  /* Frame 0: window [0, 320) of class 1, no dream yet. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (0, 320, 1, probs, 2, 0, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  current_info (h, &info);
  fail_unless_equals_int (count_dream_pixels (buf, &info), 0);
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
  fail_unless (count_dream_pixels (buf, &info) > 50);
  gst_buffer_unref (buf);

  /* A window of class 0: the class-1 dream is not drawn. */
  fail_unless_equals_int (
      gst_harness_push (h, audio_buffer (640, 320, 0, probs, 2, 320, 320)),
      GST_FLOW_OK);
  buf = gst_harness_pull (h);
  fail_unless_equals_int (count_dream_pixels (buf, &info), 0);
  gst_buffer_unref (buf);

  gst_harness_teardown (hd);
  gst_harness_teardown (h);
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
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_pipeline);
  return s;
}

GST_CHECK_MAIN (seqdreamviz);
