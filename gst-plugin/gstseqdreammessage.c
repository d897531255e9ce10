/* GStreamer seqdream: the structures of the "seqdream" message (and meta)
 * and of the "seqdream-dream" message (gstseqdreammessage.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreammessage.h"

#include <math.h>
#include <seqdream/layers.h>
#include <seqdream/metrics.h>

static void
set_double_array (GstStructure *s, const gchar *field, const gfloat *v, gint n)
{
  GValue arr = G_VALUE_INIT, item = G_VALUE_INIT;

  gst_value_array_init (&arr, n);
  g_value_init (&item, G_TYPE_DOUBLE);
  for (gint i = 0; i < n; i++) {
    g_value_set_double (&item, v[i]);
    gst_value_array_append_value (&arr, &item);
  }
  g_value_unset (&item);
  gst_structure_take_value (s, field, &arr);
}

static void
set_time_fields (GstStructure *s, GstClockTime ts, GstClockTime duration,
    GstClockTime stream_time, GstClockTime running_time)
{
  gst_structure_set (s, "timestamp", G_TYPE_UINT64, ts, "stream-time",
      G_TYPE_UINT64, stream_time, "running-time", G_TYPE_UINT64, running_time,
      "duration", G_TYPE_UINT64, duration, NULL);
}

void
gst_seq_dream_make_result (GstSeqDream *self, guint channel,
    const gfloat *logits, gdouble novelty, gboolean known, GstClockTime ts,
    GstClockTime duration, WindowResult *r)
{
  gint K = self->n_classes;
  gfloat *p = g_newa (gfloat, K);
  gint top = 0, second = -1;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  const gchar *const *labels = sd_model_get_labels (self->model);

  sd_softmax_forward (p, logits, 1, K);
  for (gint k = 1; k < K; k++)
    if (logits[k] > logits[top])
      top = k;
  for (gint k = 0; k < K; k++)
    if (k != top && (second < 0 || logits[k] > logits[second]))
      second = k;

  if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts)) {
    stream_time
        = gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME, ts);
    running_time
        = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, ts);
  }

  r->top = top;
  r->runner_up = second;
  r->channel = channel;
  r->ts = ts;
  r->duration = duration;
  r->stream_time = stream_time;
  r->running_time = running_time;
  r->confidence = p[top];
  r->novelty = novelty;
  r->known = known;
  r->s = gst_structure_new_empty ("seqdream");
  set_time_fields (r->s, ts, duration, stream_time, running_time);
  gst_structure_set (r->s, "class", G_TYPE_STRING, labels[top], "class-index",
      G_TYPE_INT, top, "confidence", G_TYPE_DOUBLE, (gdouble) p[top], "novelty",
      G_TYPE_DOUBLE, novelty, "known", G_TYPE_BOOLEAN, known, "channel",
      G_TYPE_UINT, channel, NULL);
  set_double_array (r->s, "probabilities", p, K);
  set_double_array (r->s, "logits", logits, K);
  gst_structure_set_value (r->s, "labels", &self->labels);
}

/* A state's name: its class's label, or "unknown". */
static const gchar *
state_name (GstSeqDream *self, gint state)
{
  return state >= 0 ? sd_model_get_labels (self->model)[state] : "unknown";
}

GstStructure *
gst_seq_dream_make_state_message (GstSeqDream *self, gint previous, gint state,
    guint windows, const WindowResult *r)
{
  GstStructure *s = gst_structure_new_empty ("seqdream-state");

  gst_structure_set (s, "state", G_TYPE_STRING, state_name (self, state),
      "class-index", G_TYPE_INT, state, NULL);
  /* (none before the first state of a stream) */
  if (previous != STATE_NONE)
    gst_structure_set (s, "previous", G_TYPE_STRING,
        state_name (self, previous), "previous-class-index", G_TYPE_INT,
        previous, NULL);
  set_time_fields (s, r->ts, r->duration, r->stream_time, r->running_time);
  gst_structure_set (s, "windows", G_TYPE_UINT, windows, "channel", G_TYPE_UINT,
      r->channel, NULL);
  return s;
}

const gchar *
gst_seq_dream_mode_nick (GstSeqDreamMode mode)
{
  switch (mode) {
    case GST_SEQ_DREAM_MODE_BORDER:
      return "border";
    case GST_SEQ_DREAM_MODE_FROM_WINDOW:
      return "from-window";
    case GST_SEQ_DREAM_MODE_CENTERED:
    default:
      return "centered";
  }
}

GstStructure *
gst_seq_dream_make_dream_message (GstSeqDream *self, const Item *item,
    const SdDreamResult *res, const gfloat *data)
{
  const gchar *const *labels = sd_model_get_labels (self->model);
  GstStructure *s = gst_structure_new_empty ("seqdream-dream");
  const gfloat *x = res->sequence;
  gint T = res->length;
  const gdouble tv = sd_total_variation (x, T);
  gdouble dtw;

  dtw = sd_dtw_distance (
      x, T, item->window, (int) item->length, MAX (1, T / 10), INFINITY);

  set_time_fields (
      s, item->pts, item->duration, item->stream_time, item->running_time);
  gst_structure_set (s, "class", G_TYPE_STRING, labels[item->class_a],
      "class-index", G_TYPE_INT, item->class_a, "mode", G_TYPE_STRING,
      gst_seq_dream_mode_nick (item->mode), "channel", G_TYPE_UINT,
      item->channel, NULL);
  if (item->mode == GST_SEQ_DREAM_MODE_BORDER)
    gst_structure_set (s, "border-class", G_TYPE_STRING, labels[item->class_b],
        "border-class-index", G_TYPE_INT, item->class_b, NULL);
  gst_structure_set (s, "probability", G_TYPE_DOUBLE,
      (gdouble) res->probability, "logit-margin", G_TYPE_DOUBLE,
      (gdouble) res->logit_margin, "objective", G_TYPE_DOUBLE,
      (gdouble) res->objective, "steps", G_TYPE_INT, res->steps, "best-step",
      G_TYPE_INT, res->best_step, "converged", G_TYPE_BOOLEAN, res->converged,
      "tv", G_TYPE_DOUBLE, tv, "dtw-to-window", G_TYPE_DOUBLE, dtw, NULL);
  set_double_array (s, "probabilities", res->probabilities, self->n_classes);
  set_double_array (s, "sequence", data, T);
  return s;
}

GstStructure *
gst_seq_dream_make_attribution_message (
    GstSeqDream *self, const Item *item, const SdAttribution *a)
{
  const gchar *const *labels = sd_model_get_labels (self->model);
  GstStructure *s = gst_structure_new_empty ("seqdream-attribution");

  set_time_fields (
      s, item->pts, item->duration, item->stream_time, item->running_time);
  gst_structure_set (s, "class", G_TYPE_STRING, labels[a->target[0]],
      "class-index", G_TYPE_INT, a->target[0], "method", G_TYPE_STRING,
      sd_attribution_method_to_string (a->method), "logit", G_TYPE_DOUBLE,
      (gdouble) a->logit[0], "baseline-logit", G_TYPE_DOUBLE,
      (gdouble) a->baseline_logit[0], "steps", G_TYPE_INT, a->steps[0],
      "channel", G_TYPE_UINT, item->channel, NULL);
  set_double_array (s, "attribution", a->values, a->length);
  return s;
}

/* A JSON string literal (quotes included); control characters escaped. */
static void
append_json_string (GString *out, const gchar *str)
{
  g_string_append_c (out, '"');
  for (const gchar *c = str; *c != '\0'; c++) {
    switch (*c) {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      default:
        if ((guchar) *c < 0x20)
          g_string_append_printf (out, "\\u%04x", (guint) (guchar) *c);
        else
          g_string_append_c (out, *c);
    }
  }
  g_string_append_c (out, '"');
}

/* A number in the C locale (JSON has no NaN or Inf: null). */
static void
append_json_double (GString *out, gdouble v)
{
  gchar buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (v)) {
    g_string_append (out, "null");
    return;
  }
  g_string_append (out, g_ascii_formatd (buf, sizeof (buf), "%.6g", v));
}

/* ns, or null for GST_CLOCK_TIME_NONE. */
static void
append_json_time (GString *out, const GstStructure *s, const gchar *field)
{
  guint64 t = GST_CLOCK_TIME_NONE;

  gst_structure_get_uint64 (s, field, &t);
  if (GST_CLOCK_TIME_IS_VALID (t))
    g_string_append_printf (out, "%" G_GUINT64_FORMAT, t);
  else
    g_string_append (out, "null");
}

gchar *
gst_seq_dream_score_json (const GstStructure *s, gsize *length)
{
  GString *out = g_string_sized_new (256);
  const GValue *labels = gst_structure_get_value (s, "labels");
  const GValue *probs = gst_structure_get_value (s, "probabilities");
  gint index = -1;
  guint channel = 0;
  gdouble novelty = NAN, confidence = NAN;
  gboolean known = TRUE;

  gst_structure_get_int (s, "class-index", &index);
  gst_structure_get_uint (s, "channel", &channel);
  gst_structure_get_double (s, "novelty", &novelty);
  gst_structure_get_double (s, "confidence", &confidence);
  gst_structure_get_boolean (s, "known", &known);

  g_string_append (out, "{\"class\":");
  append_json_string (out, gst_structure_get_string (s, "class"));
  g_string_append_printf (out, ",\"class_index\":%d,\"confidence\":", index);
  append_json_double (out, confidence);
  g_string_append (out, ",\"labels\":[");
  for (guint i = 0; labels != NULL && i < gst_value_array_get_size (labels);
       i++) {
    if (i > 0)
      g_string_append_c (out, ',');
    append_json_string (
        out, g_value_get_string (gst_value_array_get_value (labels, i)));
  }
  g_string_append (out, "],\"probabilities\":[");
  for (guint i = 0; probs != NULL && i < gst_value_array_get_size (probs);
       i++) {
    if (i > 0)
      g_string_append_c (out, ',');
    append_json_double (
        out, g_value_get_double (gst_value_array_get_value (probs, i)));
  }
  g_string_append_printf (out, "],\"channel\":%u,\"timestamp\":", channel);
  append_json_time (out, s, "timestamp");
  g_string_append (out, ",\"duration\":");
  append_json_time (out, s, "duration");
  g_string_append (out, ",\"stream-time\":");
  append_json_time (out, s, "stream-time");
  g_string_append_printf (
      out, ",\"known\":%s,\"novelty\":", known ? "true" : "false");
  append_json_double (out, novelty);
  g_string_append (out, "}\n");
  *length = out->len;
  return g_string_free (out, FALSE);
}

void
gst_seq_dream_structure_free0 (gpointer s)
{
  if (s != NULL)
    gst_structure_free (s);
}

void
gst_seq_dream_post_results (
    GstSeqDream *self, const Settings *s, GPtrArray *results)
{
  for (guint i = 0; i < results->len; i++) {
    GstStructure *st = g_ptr_array_index (results, i);
    results->pdata[i] = NULL;
    if (s->post_messages || !gst_structure_has_name (st, "seqdream"))
      gst_element_post_message (
          GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), st));
    else
      gst_structure_free (st);
  }
  g_ptr_array_set_size (results, 0);
}
