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
gst_seq_dream_make_result (GstSeqDream *self, const gfloat *logits,
    gdouble novelty, gboolean known, GstClockTime ts, GstClockTime duration,
    WindowResult *r)
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
      G_TYPE_DOUBLE, novelty, "known", G_TYPE_BOOLEAN, known, NULL);
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
  gst_structure_set (s, "windows", G_TYPE_UINT, windows, NULL);
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
      gst_seq_dream_mode_nick (item->mode), NULL);
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
      (gdouble) a->baseline_logit[0], "steps", G_TYPE_INT, a->steps[0], NULL);
  set_double_array (s, "attribution", a->values, a->length);
  return s;
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
