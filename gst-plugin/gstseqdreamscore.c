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

/* row = gain * x (T): the model's units. */
static void
scale_window (gfloat *row, const gfloat *x, guint T, gdouble gain)
{
  if (gain == 1.0) {
    memcpy (row, x, T * sizeof (gfloat));
    return;
  }
  for (guint t = 0; t < T; t++)
    row[t] = (gfloat) (gain * x[t]);
}

/* Score the windows [start + j*hop, + len) for j < n of the accumulator
 * (len < window only at EOS), in batches. Results are appended to
 * `results` (GstStructure*), dream requests queued. */
static void
score_windows (GstSeqDream *self, const Settings *s, guint n, guint len,
    GPtrArray *results)
{
  SeqDreamWindower *w = &self->windower;
  guint T = len;
  gdouble means[MAX_BATCH], sds[MAX_BATCH], novelty[MAX_BATCH];
  gboolean known[MAX_BATCH];
  guint rows[MAX_BATCH];
  gint last_valid = -1;
  WindowResult last_r = { 0 };
  GstClockTime last_ts = GST_CLOCK_TIME_NONE, last_dur = GST_CLOCK_TIME_NONE;
  gdouble last_mean = 0.0, last_sd = 1.0;

  self->stream_windows += n;
  for (guint j0 = 0; j0 < n; j0 += MAX_BATCH) {
    guint nb = MIN (MAX_BATCH, n - j0), B = 0;
    const gfloat *logits;

    /* Copy the finite windows into the batch and normalise them. */
    for (guint j = j0; j < j0 + nb; j++) {
      const gfloat *x = seq_dream_windower_window (w, j);
      gfloat *row = self->batch + (gsize) B * T; /* (B, T) rows */
      /* (the gain keeps finite samples finite unless they are near
       * FLT_MAX / gain) */
      scale_window (row, x, T, s->gain);
      if (!seq_dream_window_is_finite (row, T)) {
        guint64 start = seq_dream_windower_window_start (w, j);
        GST_DEBUG_OBJECT (self,
            "window at sample %" G_GUINT64_FORMAT " holds NaN/Inf", start);
        /* One warning per run of such windows. */
        if (!self->bad_run) {
          self->bad_run = TRUE;
          GST_ELEMENT_WARNING (self, STREAM, FORMAT,
              ("The input holds NaN or Inf samples; windows that contain "
               "them are not scored."),
              ("first in the window at %" GST_TIME_FORMAT
               " (sample %" G_GUINT64_FORMAT " after the last restart)",
                  GST_TIME_ARGS (gst_seq_dream_sample_time (self, start)),
                  start));
        }
        continue;
      }
      self->bad_run = FALSE;
      gst_seq_dream_check_level (
          self, s, row, T, seq_dream_windower_window_start (w, j));
      seq_dream_windower_normalize (w, row, T, &means[B], &sds[B]);
      /* Dreams leave in the units of the stream: data = x * sd + mean. */
      means[B] /= s->gain;
      sds[B] /= s->gain;
      rows[B++] = j;
    }
    if (B == 0)
      continue;

    logits = sd_model_forward (
        self->model, self->ws, self->batch, (int) B, (int) T);
    gst_seq_dream_novelty (self, s, B, novelty, known);

    for (guint b = 0; b < B; b++) {
      guint64 start = seq_dream_windower_window_start (w, rows[b]);
      GstClockTime ts = gst_seq_dream_sample_time (self, start);
      GstClockTime end = gst_seq_dream_sample_time (self, start + T);
      GstClockTime dur
          = GST_CLOCK_TIME_IS_VALID (ts)
                ? end - ts
                : gst_util_uint64_scale_int (T, GST_SECOND, self->rate);
      WindowResult r;

      gst_seq_dream_make_result (self, logits + (gsize) b * self->n_classes,
          novelty[b], known[b], ts, dur, &r);
      GST_LOG_OBJECT (self,
          "window %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT ": %s (%.3f)",
          GST_TIME_ARGS (ts), GST_TIME_ARGS (dur),
          gst_structure_get_string (r.s, "class"), r.confidence);

      if (check_trigger (self, s, &r, start, ts)) {
        const gfloat *row = self->batch + (gsize) b * T;
        gint class_b = r.runner_up >= 0 ? r.runner_up : r.top;
        g_mutex_lock (&self->dream_lock);
        gst_seq_dream_queue_item_locked (self,
            gst_seq_dream_make_dream_item_locked (self, s, s->mode, r.top,
                class_b, row, T, means[b], sds[b], ts, dur, r.stream_time,
                r.running_time),
            s->queue_size);
        g_mutex_unlock (&self->dream_lock);
      }
      gst_seq_dream_maybe_attribute (self, s,
          seq_dream_windower_window (w, rows[b]), T, r.top, start, ts, dur,
          r.stream_time, r.running_time);
      last_valid = (gint) b;
      last_r = r;
      last_ts = ts;
      last_dur = dur;
      last_mean = means[b];
      last_sd = sds[b];
      g_ptr_array_add (results, r.s);
      gst_seq_dream_update_state (self, s, &r, results);
    }

    /* Keep the last scored window for the "dream" signal. */
    if (last_valid >= 0) {
      g_mutex_lock (&self->dream_lock);
      memcpy (self->last_window, self->batch + (gsize) last_valid * T,
          T * sizeof (gfloat));
      self->last_length = T;
      self->last_mean = last_mean;
      self->last_sd = last_sd;
      self->last_class = last_r.top;
      self->last_runner_up = last_r.runner_up;
      self->last_pts = last_ts;
      self->last_duration = last_dur;
      self->last_stream_time = last_r.stream_time;
      self->last_running_time = last_r.running_time;
      self->have_last = TRUE;
      g_mutex_unlock (&self->dream_lock);
      last_valid = -1;
    }
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
