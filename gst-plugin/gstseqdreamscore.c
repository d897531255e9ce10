/* GStreamer seqdream: scoring windows (gstseqdreamscore.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamscore.h"
#include "gstseqdreamattribution.h"
#include "gstseqdreammessage.h"
#include "gstseqdreampads.h"
#include "gstseqdreamtrust.h"
#include "gstseqdreamworker.h"

#include <string.h>

/* ---- windows ---- */

void
gst_seq_dream_restart_windows (GstSeqDream *self)
{
  seq_dream_windower_restart (&self->windower);
  self->base_ts = GST_CLOCK_TIME_NONE;
  self->restart = TRUE;
  self->prev_class = -1;
  self->prev_confidence = -1.0;
  self->last_trigger_pos = GST_CLOCK_TIME_NONE;
  self->last_attribution_pos = GST_CLOCK_TIME_NONE;
  gst_seq_dream_reset_level_run (self);
}

/* Does this scored window trigger a dream? Updates the trigger state. */
static gboolean
check_trigger (GstSeqDream *self, const Settings *s, const WindowResult *r,
    guint64 start_sample, GstClockTime ts)
{
  gboolean trigger = FALSE;
  GstClockTime pos;

  switch (s->trigger) {
    case GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE:
      trigger = self->prev_class >= 0 && r->top != self->prev_class;
      break;
    case GST_SEQ_DREAM_TRIGGER_INTERVAL:
      pos = GST_CLOCK_TIME_IS_VALID (ts)
                ? ts
                : gst_util_uint64_scale_int (
                    start_sample, GST_SECOND, self->rate);
      if (!GST_CLOCK_TIME_IS_VALID (self->last_trigger_pos)
          || pos < self->last_trigger_pos
          || pos - self->last_trigger_pos >= s->interval) {
        trigger = TRUE;
        self->last_trigger_pos = pos;
      }
      break;
    case GST_SEQ_DREAM_TRIGGER_THRESHOLD:
      trigger = r->confidence < s->threshold
                && (self->prev_confidence < 0.0
                    || self->prev_confidence >= s->threshold);
      break;
    case GST_SEQ_DREAM_TRIGGER_NONE:
    case GST_SEQ_DREAM_TRIGGER_MANUAL:
    default:
      break;
  }
  self->prev_class = r->top;
  self->prev_confidence = r->confidence;
  return trigger;
}

/* row = gain * x (T samples, stride apart in x): the model's units. */
static void
scale_window (gfloat *row, const gfloat *x, guint stride, guint T, gdouble gain)
{
  if (gain == 1.0 && stride == 1) {
    memcpy (row, x, T * sizeof (gfloat));
    return;
  }
  for (guint t = 0; t < T; t++)
    row[t] = (gfloat) (gain * x[(gsize) t * stride]);
}

/* The window of channel c of accumulator window j (T samples) in the
 * stream's units: the accumulator itself for mono, else a copy in
 * scratch (valid until the next call). */
static const gfloat *
channel_window (GstSeqDream *self, guint j, guint c, guint T)
{
  SeqDreamWindower *w = &self->windower;

  if (w->channels == 1)
    return seq_dream_windower_window (w, j);
  seq_dream_windower_copy_channel (w, j, c, self->scratch, T);
  return self->scratch;
}

/* Fills row (T) with channel c of window j, gain-scaled and normalised.
 * FALSE when it holds NaN or Inf: not scored, one warning per run of such
 * windows of the channel. */
static gboolean
prepare_row (GstSeqDream *self, const Settings *s, guint j, guint c, guint T,
    gfloat *row, SeqDreamRow *out)
{
  SeqDreamWindower *w = &self->windower;
  SeqDreamChannel *ch = &self->channels[c];
  guint64 start = seq_dream_windower_window_start (w, j);

  /* (the gain keeps finite samples finite unless they are near
   * FLT_MAX / gain) */
  scale_window (
      row, seq_dream_windower_window (w, j) + c, w->channels, T, s->gain);
  if (!seq_dream_window_is_finite (row, T)) {
    GST_DEBUG_OBJECT (self,
        "channel %u: window at sample %" G_GUINT64_FORMAT " holds NaN/Inf", c,
        start);
    if (!ch->bad_run) {
      g_autofree gchar *what
          = self->n_channels > 1
                ? g_strdup_printf ("Channel %u of the input holds", c)
                : g_strdup ("The input holds");
      ch->bad_run = TRUE;
      GST_ELEMENT_WARNING (self, STREAM, FORMAT,
          ("%s NaN or Inf samples; windows that contain them are not "
           "scored.",
              what),
          ("first in the window at %" GST_TIME_FORMAT
           " (sample %" G_GUINT64_FORMAT " after the last restart)",
              GST_TIME_ARGS (gst_seq_dream_sample_time (self, start)), start));
    }
    return FALSE;
  }
  ch->bad_run = FALSE;
  gst_seq_dream_check_level (self, s, c, row, T, start);
  seq_dream_windower_normalize (w, row, T, &out->mean, &out->sd);
  /* Dreams leave in the units of the stream: data = x * sd + mean. */
  out->mean /= s->gain;
  out->sd /= s->gain;
  out->j = j;
  out->c = c;
  return TRUE;
}

/* Keep the last scored window of the dream channel (batch row b) for the
 * "dream" signal. */
static void
keep_last (GstSeqDream *self, const SeqDreamRow *row, guint b, guint T,
    const WindowResult *r)
{
  g_mutex_lock (&self->dream_lock);
  memcpy (self->last_window, self->batch + (gsize) b * T, T * sizeof (gfloat));
  self->last_length = T;
  self->last_mean = row->mean;
  self->last_sd = row->sd;
  self->last_class = r->top;
  self->last_runner_up = r->runner_up;
  self->last_pts = r->ts;
  self->last_duration = r->duration;
  self->last_stream_time = r->stream_time;
  self->last_running_time = r->running_time;
  self->have_last = TRUE;
  g_mutex_unlock (&self->dream_lock);
}

/* The result of batch row b (logits of the last forward pass, novelty),
 * appended to results with a state message when it confirms one; for the
 * dream channel also its dream and attribution requests. */
static void
take_result (GstSeqDream *self, const Settings *s, const SeqDreamRow *row,
    guint b, guint T, const gfloat *logits, gdouble novelty, gboolean known,
    GPtrArray *results, WindowResult *r)
{
  guint64 start = seq_dream_windower_window_start (&self->windower, row->j);
  GstClockTime ts = gst_seq_dream_sample_time (self, start);
  GstClockTime end = gst_seq_dream_sample_time (self, start + T);
  GstClockTime dur
      = GST_CLOCK_TIME_IS_VALID (ts)
            ? end - ts
            : gst_util_uint64_scale_int (T, GST_SECOND, self->rate);

  gst_seq_dream_make_result (self, row->c, logits + (gsize) b * self->n_classes,
      novelty, known, ts, dur, r);
  GST_LOG_OBJECT (self,
      "channel %u, window %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT
      ": %s (%.3f)",
      row->c, GST_TIME_ARGS (ts), GST_TIME_ARGS (dur),
      gst_structure_get_string (r->s, "class"), r->confidence);

  if (row->c == self->dream_channel) {
    if (check_trigger (self, s, r, start, ts)) {
      const gfloat *x = self->batch + (gsize) b * T;
      gint class_b = r->runner_up >= 0 ? r->runner_up : r->top;
      g_mutex_lock (&self->dream_lock);
      gst_seq_dream_queue_item_locked (self,
          gst_seq_dream_make_dream_item_locked (self, s, s->mode, r->top,
              class_b, x, T, row->mean, row->sd, ts, dur, r->stream_time,
              r->running_time),
          s->queue_size);
      g_mutex_unlock (&self->dream_lock);
    }
    if (s->attribution != GST_SEQ_DREAM_ATTRIBUTION_NONE)
      gst_seq_dream_maybe_attribute (self, s,
          channel_window (self, row->j, row->c, T), T, r->top, start, ts, dur,
          r->stream_time, r->running_time);
  }
  g_ptr_array_add (results, r->s);
  gst_seq_dream_update_state (self, s, r, results);
}

/* Score the windows [start + j*hop, + len) for j < n of the accumulator
 * (len < window only at EOS), every channel, in hop-major order (all
 * channels of a hop, then the next), batch_rows windows per forward
 * pass. Results are appended to `results` (GstStructure*) in that order,
 * dream requests queued. */
static void
score_windows (GstSeqDream *self, const Settings *s, guint n, guint len,
    GPtrArray *results)
{
  guint T = len, C = self->n_channels;
  guint64 next = 0, end = (guint64) n * C; /* (window, channel) pairs */

  g_return_if_fail (C > 0 && self->batch_rows > 0);

  self->stream_windows += n;
  while (next < end) {
    guint B = 0;
    gint last = -1;
    WindowResult r, last_r = { 0 };
    const gfloat *logits;

    /* Copy the finite windows into the batch (B, T) and normalise them. */
    for (; next < end && B < self->batch_rows; next++)
      if (prepare_row (self, s, (guint) (next / C), (guint) (next % C), T,
              self->batch + (gsize) B * T, &self->rows[B]))
        B++;
    if (B == 0)
      continue;

    logits = sd_model_forward (
        self->model, self->ws, self->batch, (int) B, (int) T);
    gst_seq_dream_novelty (self, s, B, self->novelty, self->known);
    for (guint b = 0; b < B; b++) {
      take_result (self, s, &self->rows[b], b, T, logits, self->novelty[b],
          self->known[b], results, &r);
      if (self->rows[b].c == self->dream_channel) {
        last = (gint) b;
        last_r = r;
      }
    }
    if (last >= 0)
      keep_last (self, &self->rows[last], (guint) last, T, &last_r);
  }
}

/* At EOS: score the tail if it holds at least half a window of samples that
 * no window covered. */
void
gst_seq_dream_score_tail (GstSeqDream *self)
{
  SeqDreamWindower *w = &self->windower;
  Settings s;
  gsize len;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func (gst_seq_dream_structure_free0);

  if (self->rate <= 0 || w->len == 0 || w->window == 0)
    return;
  len = seq_dream_windower_tail (w);
  if (len == 0) {
    GST_DEBUG_OBJECT (
        self, "EOS: dropping a tail of %" G_GSIZE_FORMAT " samples", w->len);
    return;
  }
  gst_seq_dream_get_settings (self, &s);
  score_windows (self, &s, 1, (guint) len, results);
  seq_dream_windower_consume_tail (w);
  gst_seq_dream_push_scores (self, results);
  gst_seq_dream_post_results (self, &s, results);
}

/* Also queues the GAP up to the start of the last of them for dream_src. */
void
gst_seq_dream_score_full_windows (
    GstSeqDream *self, const Settings *s, GPtrArray *results)
{
  SeqDreamWindower *w = &self->windower;
  guint n_win = seq_dream_windower_n_complete (w);

  if (n_win == 0)
    return;
  score_windows (self, s, n_win, w->window, results);
  seq_dream_windower_consume (w, n_win);
  gst_seq_dream_queue_gap_until (self, w->offset - w->hop);
}
