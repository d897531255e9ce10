/* watch-bus: runs a seqdream pipeline on a WAV file, watches its bus,
 * prints one line per scored window and saves the dreams as CSV.
 *
 * usage: watch-bus REC.wav [DREAMS.csv] [DREAM-INTERVAL-SECONDS] [OUT.mkv]
 *
 * stdout: "time_s class confidence" per "seqdream" message.
 * DREAMS.csv (default dreams.csv), long format, one row per sample:
 *   timestamp_ns,class,mode,probability,index,value
 * from the "seqdream-dream" messages (the `sequence` field).
 * OUT.mkv (optional): the signal (audio track 1), the dreams (audio track
 * 2) and the scores as subtitles (text/x-raw "class confidence", one per
 * window, at the window's time) in one Matroska file. The subtitles come
 * from a bus sync handler, which runs in the streaming thread that posts
 * the "seqdream" message and pushes the text into an appsrc (by its
 * action signals, so no libgstapp is needed).
 *
 * Build: meson builds it (examples/meson.build); by hand:
 *   cc watch-bus.c $(pkg-config --cflags --libs gstreamer-1.0) -o watch-bus
 * Run uninstalled: GST_PLUGIN_PATH=build/gst-plugin build/examples/watch-bus
 * x.wav
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  GMainLoop *loop;
  GstElement *subs; /* appsrc of the subtitles, or NULL */
  FILE *csv;
  guint n_windows, n_dreams;
  gboolean failed;
} App;

static void
on_scores (App *app, const GstStructure *s)
{
  guint64 ts = 0;
  gdouble conf = 0.0;
  const gchar *cls = gst_structure_get_string (s, "class");

  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_double (s, "confidence", &conf);
  g_print ("%.3f %s %.4f\n", ts / 1e9, cls != NULL ? cls : "?", conf);
  app->n_windows++;
}

static void
on_dream (App *app, const GstStructure *s)
{
  guint64 ts = 0;
  gdouble p = 0.0;
  const gchar *cls = gst_structure_get_string (s, "class");
  const gchar *mode = gst_structure_get_string (s, "mode");
  const GValue *seq = gst_structure_get_value (s, "sequence");

  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_double (s, "probability", &p);
  if (seq == NULL || !GST_VALUE_HOLDS_ARRAY (seq))
    return;
  for (guint i = 0; i < gst_value_array_get_size (seq); i++)
    fprintf (app->csv, "%" G_GUINT64_FORMAT ",%s,%s,%.6f,%u,%.7g\n", ts,
        cls != NULL ? cls : "", mode != NULL ? mode : "", p, i,
        g_value_get_double (gst_value_array_get_value (seq, i)));
  app->n_dreams++;
}

/* Streaming thread: a "seqdream" message becomes a subtitle buffer. */
static GstBusSyncReply
on_sync_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  App *app = user_data;
  const GstStructure *s;
  guint64 ts = 0, dur = 0;
  gdouble conf = 0.0;
  gchar *text;
  GstBuffer *buf;
  GstFlowReturn ret;

  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT)
    return GST_BUS_PASS;
  s = gst_message_get_structure (msg);
  if (!gst_structure_has_name (s, "seqdream"))
    return GST_BUS_PASS;
  gst_structure_get_uint64 (s, "running-time", &ts);
  gst_structure_get_uint64 (s, "duration", &dur);
  gst_structure_get_double (s, "confidence", &conf);
  text = g_strdup_printf (
      "%s %.3f", gst_structure_get_string (s, "class"), conf);
  buf = gst_buffer_new_wrapped (text, strlen (text));
  GST_BUFFER_PTS (buf) = ts;
  GST_BUFFER_DURATION (buf) = dur;
  g_signal_emit_by_name (app->subs, "push-buffer", buf, &ret);
  gst_buffer_unref (buf);
  return GST_BUS_PASS; /* the main loop prints it too */
}

/* The audio is over (the EOS window is scored): end the subtitles. */
static GstPadProbeReturn
on_src_event (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  App *app = user_data;
  GstFlowReturn ret;

  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_EOS)
    g_signal_emit_by_name (app->subs, "end-of-stream", &ret);
  return GST_PAD_PROBE_OK;
}

static gboolean
on_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  App *app = user_data;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "seqdream"))
        on_scores (app, s);
      else if (gst_structure_has_name (s, "seqdream-dream"))
        on_dream (app, s);
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError *err = NULL;
      gst_message_parse_warning (msg, &err, NULL);
      g_printerr ("warning: %s\n", err->message);
      g_error_free (err);
      break;
    }
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("error: %s\n%s\n", err->message, dbg != NULL ? dbg : "");
      g_error_free (err);
      g_free (dbg);
      app->failed = TRUE;
      g_main_loop_quit (app->loop);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit (app->loop);
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  App app = { 0 };
  GError *err = NULL;
  GstElement *pipeline;
  GstBus *bus;
  gchar *desc;
  const gchar *csv_path = argc > 2 ? argv[2] : "dreams.csv";
  gdouble interval = argc > 3 ? g_ascii_strtod (argv[3], NULL) : 1.0;
  const gchar *mkv_path = argc > 4 ? argv[4] : NULL;

  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr (
        "usage: %s REC.wav [DREAMS.csv] [DREAM-INTERVAL-SECONDS] [OUT.mkv]\n",
        argv[0]);
    return 2;
  }
  app.csv = fopen (csv_path, "w");
  if (app.csv == NULL) {
    g_printerr ("cannot write %s\n", csv_path);
    return 1;
  }
  fprintf (app.csv, "timestamp_ns,class,mode,probability,index,value\n");

  if (mkv_path == NULL)
    desc = g_strdup_printf (
        "filesrc name=in ! wavparse ! audioconvert ! "
        "seqdream name=s dream-trigger=interval "
        "dream-interval=%" G_GUINT64_FORMAT
        " ! fakesink s.dream_src ! queue ! fakesink sync=false",
        (guint64) (interval * GST_SECOND));
  else
    desc = g_strdup_printf (
        "filesrc name=in ! wavparse ! audioconvert ! "
        "seqdream name=s dream-trigger=interval "
        "dream-interval=%" G_GUINT64_FORMAT " ! queue ! mux.audio_0 "
        "s.dream_src ! queue ! mux.audio_1 "
        "appsrc name=subs format=time caps=text/x-raw,format=utf8 ! "
        "queue ! mux.subtitle_0 "
        "matroskamux name=mux ! filesink name=out",
        (guint64) (interval * GST_SECOND));
  pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (pipeline == NULL) {
    g_printerr ("cannot build the pipeline: %s (is the seqdream plugin on "
                "GST_PLUGIN_PATH?)\n",
        err->message);
    g_error_free (err);
    fclose (app.csv);
    return 1;
  }
  g_clear_error (&err); /* a recoverable parse warning */
  {
    GstElement *in = gst_bin_get_by_name (GST_BIN (pipeline), "in");
    g_object_set (in, "location", argv[1], NULL);
    gst_object_unref (in);
  }

  app.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  if (mkv_path != NULL) {
    GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
    GstElement *sd = gst_bin_get_by_name (GST_BIN (pipeline), "s");
    GstPad *src = gst_element_get_static_pad (sd, "src");

    g_object_set (out, "location", mkv_path, NULL);
    app.subs = gst_bin_get_by_name (GST_BIN (pipeline), "subs");
    gst_bus_set_sync_handler (bus, on_sync_message, &app, NULL);
    gst_pad_add_probe (
        src, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, on_src_event, &app, NULL);
    gst_object_unref (src);
    gst_object_unref (sd);
    gst_object_unref (out);
  }
  gst_bus_add_watch (bus, on_message, &app);
  g_print ("# time_s class confidence\n");
  if (gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE)
    app.failed = TRUE;
  g_main_loop_run (app.loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  /* Messages posted just before EOS are still queued: read them. */
  {
    GstMessage *m;
    while ((m = gst_bus_pop (bus)) != NULL) {
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT)
        on_message (bus, m, &app);
      gst_message_unref (m);
    }
  }
  gst_bus_remove_watch (bus);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  g_clear_object (&app.subs);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_main_loop_unref (app.loop);
  fclose (app.csv);
  g_printerr (
      "%u windows, %u dreams -> %s\n", app.n_windows, app.n_dreams, csv_path);
  return app.failed ? 1 : 0;
}
