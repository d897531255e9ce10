/* GStreamer seqdream: states and input level (gstseqdreamtrust.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamtrust.h"

#include <math.h>

/* ---- states ---- */

void
gst_seq_dream_reset_state (GstSeqDream *self)
{
  for (guint c = 0; c < self->n_channels; c++) {
    SeqDreamChannel *ch = &self->channels[c];
    ch->state = STATE_NONE;
    ch->state_candidate = STATE_NONE;
    ch->state_run = 0;
  }
}

void
gst_seq_dream_trust_new_stream (GstSeqDream *self)
{
  gst_seq_dream_reset_state (self);
  gst_seq_dream_reset_level_run (self);
  for (guint c = 0; c < self->n_channels; c++)
    self->channels[c].level_warned = FALSE;
  self->stream_samples = self->stream_windows = 0;
}

void
gst_seq_dream_update_state (GstSeqDream *self, const Settings *s,
    const WindowResult *r, GPtrArray *results)
{
  SeqDreamChannel *ch = &self->channels[r->channel];
  gint state = r->known ? r->top : STATE_UNKNOWN;

  if (state == ch->state_candidate) {
    ch->state_run++;
  } else {
    ch->state_candidate = state;
    ch->state_run = 1;
  }
  /* state-holdoff 0: counted, not reported (so that setting it later
   * reports the state the stream is in) */
  if (s->state_holdoff == 0 || state == ch->state
      || ch->state_run < s->state_holdoff)
    return;
  GST_INFO_OBJECT (self,
      "channel %u: state %d -> %d after %u windows at %" GST_TIME_FORMAT,
      r->channel, ch->state, state, ch->state_run, GST_TIME_ARGS (r->ts));
  g_ptr_array_add (results, gst_seq_dream_make_state_message (
                                self, ch->state, state, ch->state_run, r));
  ch->state = state;
}

/* ---- novelty ---- */

void
gst_seq_dream_check_stats (GstSeqDream *self)
{
  const gchar *model = sd_model_get_display_name (self->model);
  gdouble threshold, lo, hi;

  GST_OBJECT_LOCK (self);
  threshold = self->settings.novelty_threshold;
  GST_OBJECT_UNLOCK (self);
  if (self->stats != NULL) {
    sd_model_stats_get_level_range (self->stats, &lo, &hi);
    GST_INFO_OBJECT (self,
        "model %s: novelty threshold %g (false alarms %g), level range "
        "[%g, %g]",
        model, sd_model_stats_get_novelty_threshold (self->stats),
        sd_model_stats_get_false_alarm (self->stats), lo, hi);
    return;
  }
  GST_DEBUG_OBJECT (self,
      "model %s has no statistics: novelty NaN, every window known, no "
      "level check (seqdream calibrate adds them)",
      model);
  /* A threshold the user chose cannot work: say so once. */
  if (threshold > 0.0)
    GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
        ("novelty-threshold is %g, but the model %s has no statistics to "
         "measure novelty with: every window counts as known. Add them "
         "with `seqdream calibrate`.",
            threshold, model),
        (NULL));
}

void
gst_seq_dream_novelty (GstSeqDream *self, const Settings *s, guint B,
    gdouble *novelty, gboolean *known)
{
  g_autoptr (GError) error = NULL;
  gdouble threshold;

  if (self->stats == NULL
      || !sd_workspace_novelty (
          self->model, self->ws, (int) B, novelty, &error)) {
    if (error != NULL)
      GST_WARNING_OBJECT (self, "no novelty: %s", error->message);
    for (guint b = 0; b < B; b++) {
      novelty[b] = NAN;
      known[b] = TRUE;
    }
    return;
  }
  threshold = s->novelty_threshold < 0.0
                  ? sd_model_stats_get_novelty_threshold (self->stats)
                  : s->novelty_threshold;
  /* known: not above the threshold (libseqdream's rule); a window whose
   * features are not finite has novelty +Inf */
  for (guint b = 0; b < B; b++)
    known[b] = threshold == 0.0 || !(novelty[b] > threshold);
}

/* ---- input level ---- */

void
gst_seq_dream_reset_level_run (GstSeqDream *self)
{
  for (guint c = 0; c < self->n_channels; c++) {
    self->channels[c].level_n = 0;
    self->channels[c].level_sumsq = 0.0;
  }
}

/* The warning: the level (RMS, in the model's units at gain) of a run
 * of `seconds` against the trained range [lo, hi], with the gains that
 * would bring it inside (their geometric middle suggested). */
static void
warn_level (GstSeqDream *self, guint channel, gdouble level, gdouble gain,
    gdouble seconds, gdouble lo, gdouble hi)
{
  const gchar *model = sd_model_get_display_name (self->model);
  GstStructure *details;
  /* (mono streams keep the text they always had) */
  g_autofree gchar *input = self->n_channels > 1
                                ? g_strdup_printf ("channel %u", channel)
                                : g_strdup ("input");

  if (level <= 0.0) {
    GST_ELEMENT_WARNING_WITH_DETAILS (self, STREAM, FORMAT,
        ("The %s has been silent (RMS 0) for %.1f s; the model \"%s\" was "
         "trained on windows of RMS %.3g to %.3g: its scores mean "
         "nothing here.",
            input, seconds, model, lo, hi),
        (NULL),
        ("details", GST_TYPE_STRUCTURE,
            (details = gst_structure_new ("seqdream-level", "level",
                 G_TYPE_DOUBLE, level, "level-low", G_TYPE_DOUBLE, lo,
                 "level-high", G_TYPE_DOUBLE, hi, "gain", G_TYPE_DOUBLE, gain,
                 "channel", G_TYPE_UINT, channel, NULL)),
            NULL));
    gst_structure_free (details);
    return;
  }
  {
    gdouble fit = gain * sqrt (lo * hi) / level;
    gdouble fit_lo = gain * lo / level, fit_hi = gain * hi / level;

    GST_ELEMENT_WARNING_WITH_DETAILS (self, STREAM, FORMAT,
        ("The %s level (RMS %.3g at gain %g) has been %s the range the "
         "model \"%s\" was trained on (RMS %.3g to %.3g) for %.1f s, so its "
         "scores are not reliable: check the units of the stream. A gain "
         "of %.3g fits the middle of the range (any from %.3g to %.3g "
         "fits): set gain=%.3g.",
            input, level, gain, level < lo ? "below" : "above", model, lo, hi,
            seconds, fit, fit_lo, fit_hi, fit),
        (NULL),
        ("details", GST_TYPE_STRUCTURE,
            (details = gst_structure_new ("seqdream-level", "level",
                 G_TYPE_DOUBLE, level, "level-low", G_TYPE_DOUBLE, lo,
                 "level-high", G_TYPE_DOUBLE, hi, "gain", G_TYPE_DOUBLE, gain,
                 "suggested-gain", G_TYPE_DOUBLE, fit, "suggested-gain-low",
                 G_TYPE_DOUBLE, fit_lo, "suggested-gain-high", G_TYPE_DOUBLE,
                 fit_hi, NULL)),
            NULL));
    gst_structure_free (details);
  }
}

void
gst_seq_dream_check_level (GstSeqDream *self, const Settings *s, guint channel,
    const gfloat *row, guint T, guint64 start)
{
  SeqDreamChannel *ch = &self->channels[channel];
  gdouble lo, hi, ms = 0.0, rms, seconds;

  if (self->stats == NULL || ch->level_warned || T == 0)
    return;
  for (guint t = 0; t < T; t++)
    ms += (gdouble) row[t] * row[t];
  ms /= T;
  rms = sqrt (ms);
  sd_model_stats_get_level_range (self->stats, &lo, &hi);
  /* a new gain is a new level */
  if (s->gain != ch->level_gain || (rms >= lo && rms <= hi)) {
    ch->level_gain = s->gain;
    ch->level_n = 0;
    ch->level_sumsq = 0.0;
    if (rms >= lo && rms <= hi)
      return;
  }
  if (ch->level_n == 0)
    ch->level_start = start;
  ch->level_n++;
  ch->level_sumsq += ms;
  seconds = (gdouble) (start + T - ch->level_start) / self->rate;
  if (seconds < LEVEL_SECONDS)
    return;
  ch->level_warned = TRUE;
  warn_level (self, channel, sqrt (ch->level_sumsq / ch->level_n), s->gain,
      seconds, lo, hi);
}
