/* bench/pipeline_latency.c: timing of the seqdream element in a pipeline.
 *
 *   seqdream-pipeline-bench [REC.wav] [--dream-interval-ms N] [--model FILE]
 *
 * Runs  filesrc ! wavparse ! seqdream ! fakesink  as fast as possible with
 * a dream every N ms of stream time (default 1000), with the element's
 * embedded default model or the model FILE, and reports
 * - the real-time factor (stream duration / wall time);
 * - how long each live buffer spends inside the element (pad probes on its
 *   sink and src pads, monotonic clock): median, 99th percentile and
 *   maximum, to show that no buffer waits for a dream;
 * - the latency from a dream's trigger (the scoring of the window it
 *   explains, when the element queues the request) to its "seqdream-dream"
 *   message: median and maximum.
 * Prints one JSON object. A benchmark, not a test: nothing is asserted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  GMutex lock;
  GHashTable *entered;  /* GstBuffer* -> gint64 µs at the sink pad */
  GArray *inside_us;    /* double per buffer */
  GHashTable *window_t; /* window PTS -> gint64 µs when its score was posted */
  GArray *latency_us;   /* double per dream */
  guint dreams, scores;
} Stats;

static GstPadProbeReturn
on_sink (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Stats *st = data;
  g_mutex_lock (&st->lock);
  g_hash_table_insert (st->entered, GST_PAD_PROBE_INFO_BUFFER (info),
      g_memdup2 (&(gint64){ g_get_monotonic_time () }, sizeof (gint64)));
  g_mutex_unlock (&st->lock);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
on_src (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Stats *st = data;
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&st->lock);
  /* The element pushes the buffer it received (made writable for the meta,
   * which may copy the GstBuffer struct): match by PTS when the pointer
   * differs. */
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  gint64 *t0 = g_hash_table_lookup (st->entered, buf);
  if (t0 == NULL) {
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init (&it, st->entered);
    while (g_hash_table_iter_next (&it, &k, &v))
      if (GST_BUFFER_PTS ((GstBuffer *) k) == GST_BUFFER_PTS (buf)) {
        t0 = v;
        buf = k;
        break;
      }
  }
  if (t0 != NULL) {
    double d = (double) (now - *t0);
    g_array_append_val (st->inside_us, d);
    g_hash_table_remove (st->entered, buf);
  }
  g_mutex_unlock (&st->lock);
  return GST_PAD_PROBE_OK;
}

/* Element messages arrive on the bus synchronously (sync handler): the
 * time of a score is when the window was scored and its dream queued. */
static GstBusSyncReply
on_message (GstBus *bus, GstMessage *msg, gpointer data)
{
  Stats *st = data;
  const GstStructure *s;
  GstClockTime ts;
  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT)
    return GST_BUS_PASS;
  s = gst_message_get_structure (msg);
  if (!gst_structure_get_clock_time (s, "timestamp", &ts))
    return GST_BUS_PASS;
  gint64 now = g_get_monotonic_time ();
  g_mutex_lock (&st->lock);
  if (gst_structure_has_name (s, "seqdream")) {
    st->scores++;
    g_hash_table_insert (
        st->window_t, g_memdup2 (&ts, sizeof ts), g_memdup2 (&now, sizeof now));
  } else if (gst_structure_has_name (s, "seqdream-dream")) {
    gint64 *t0 = g_hash_table_lookup (st->window_t, &ts);
    st->dreams++;
    if (t0 != NULL) {
      double d = (double) (now - *t0);
      g_array_append_val (st->latency_us, d);
    }
  }
  g_mutex_unlock (&st->lock);
  return GST_BUS_PASS;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
quantile (GArray *a, double q)
{
  if (a->len == 0)
    return NAN;
  g_array_sort (a, cmp_double);
  guint i = (guint) (q * (a->len - 1) + 0.5);
  return g_array_index (a, double, i);
}

static guint
hash_u64 (gconstpointer p)
{
  return g_int64_hash (p);
}

static gboolean
equal_u64 (gconstpointer a, gconstpointer b)
{
  return g_int64_equal (a, b);
}

int
main (int argc, char **argv)
{
  const char *rec = NULL;
  const char *model = NULL;
  int interval_ms = 1000;
  gst_init (&argc, &argv);
  for (int i = 1; i < argc; i++) {
    if (g_strcmp0 (argv[i], "--dream-interval-ms") == 0 && i + 1 < argc)
      interval_ms = atoi (argv[++i]);
    else if (g_strcmp0 (argv[i], "--model") == 0 && i + 1 < argc)
      model = argv[++i];
    else
      rec = argv[i];
  }
  if (rec == NULL || interval_ms < 1) {
    fprintf (stderr,
        "usage: %s REC.wav [--dream-interval-ms N] [--model FILE]\n", argv[0]);
    return 2;
  }
  g_autofree char *desc = g_strdup_printf (
      "filesrc location=\"%s\" ! "
      "wavparse ! audioconvert ! seqdream name=sd dream-trigger=interval "
      "dream-interval=%" G_GUINT64_FORMAT "%s%s%s ! fakesink",
      rec, (guint64) interval_ms * GST_MSECOND, model ? " model-file=\"" : "",
      model ? model : "", model ? "\"" : "");
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  if (pipeline == NULL) {
    fprintf (stderr, "%s\n", error->message);
    return 1;
  }
  Stats st = { 0 };
  g_mutex_init (&st.lock);
  st.entered = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  st.inside_us = g_array_new (FALSE, FALSE, sizeof (double));
  st.window_t = g_hash_table_new_full (hash_u64, equal_u64, g_free, g_free);
  st.latency_us = g_array_new (FALSE, FALSE, sizeof (double));
  GstElement *sd = gst_bin_get_by_name (GST_BIN (pipeline), "sd");
  GstPad *sink = gst_element_get_static_pad (sd, "sink");
  GstPad *src = gst_element_get_static_pad (sd, "src");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, on_sink, &st, NULL);
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER, on_src, &st, NULL);
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_message, &st, NULL);

  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstMessage *m = gst_bus_timed_pop_filtered (
      bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  double wall = (g_get_monotonic_time () - t0) / 1e6;
  gint64 dur = 0;
  gst_element_query_duration (pipeline, GST_FORMAT_TIME, &dur);
  int rc = 0;
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gst_message_parse_error (m, &e, NULL);
    fprintf (stderr, "pipeline error: %s\n", e->message);
    g_error_free (e);
    rc = 1;
  }
  gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  printf ("{\"recording\":\"%s\",\"stream_s\":%.3f,\"wall_s\":%.3f,"
          "\"real_time_factor\":%.1f,\"windows\":%u,\"dreams\":%u,"
          "\"buffers\":%u,\"inside_element_us\":{\"median\":%.0f,"
          "\"p99\":%.0f,\"max\":%.0f},\"dream_latency_ms\":{\"median\":%.1f,"
          "\"max\":%.1f}}\n",
      rec, dur / 1e9, wall, dur / 1e9 / wall, st.scores, st.dreams,
      st.inside_us->len, quantile (st.inside_us, 0.5),
      quantile (st.inside_us, 0.99), quantile (st.inside_us, 1.0),
      quantile (st.latency_us, 0.5) / 1e3, quantile (st.latency_us, 1.0) / 1e3);

  gst_object_unref (sink);
  gst_object_unref (src);
  gst_object_unref (sd);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_hash_table_unref (st.entered);
  g_hash_table_unref (st.window_t);
  g_array_unref (st.inside_us);
  g_array_unref (st.latency_us);
  return rc;
}
