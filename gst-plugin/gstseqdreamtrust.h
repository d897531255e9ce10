/* GStreamer seqdream: what tells a user how far to trust the scores of
 * a stream, beyond each window's class: the stream's state, confirmed by
 * state-holdoff windows that agree (the "seqdream-state" message), and
 * the input level against the range the model was trained on (one
 * warning per stream). Streaming thread only (the sink pad's stream
 * lock).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreammessage.h"
#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

/* The input level must stay outside the trained range for this long
 * (stream time, s) before the warning. */
#define LEVEL_SECONDS 2.0

/* A flush: no state confirmed, no window counted. */
G_GNUC_INTERNAL
void gst_seq_dream_reset_state (GstSeqDream *self);

/* A new stream (or the start): the same, and the level warning may come
 * again. */
G_GNUC_INTERNAL
void gst_seq_dream_trust_new_stream (GstSeqDream *self);

/* A restart of the windows: the run of windows outside the level range
 * starts again. */
G_GNUC_INTERNAL
void gst_seq_dream_reset_level_run (GstSeqDream *self);

/* Counts the scored window r (its class when known, else "unknown") for
 * its channel; when state-holdoff windows in a row of that channel agree on a
 * state other than the confirmed one, appends its "seqdream-state" structure to
 * results. */
G_GNUC_INTERNAL
void gst_seq_dream_update_state (GstSeqDream *self, const Settings *s,
    const WindowResult *r, GPtrArray *results);

/* At start, with self->stats set: logs what the model's statistics say,
 * or that it has none (and warns when novelty-threshold asks for a
 * threshold they would need). */
G_GNUC_INTERNAL
void gst_seq_dream_check_stats (GstSeqDream *self);

/* The novelty (B) of the B windows of the last forward pass on the
 * element's workspace and whether each is known (novelty below the
 * threshold of novelty-threshold or the model's). Without statistics in
 * the model: NaN and known. */
G_GNUC_INTERNAL
void gst_seq_dream_novelty (GstSeqDream *self, const Settings *s, guint B,
    gdouble *novelty, gboolean *known);

/* Counts the level (RMS) of a window of a channel (row, T samples in the
 * model's units, starting at sample `start` since the last restart); warns
 * once per stream and channel when consecutive windows stayed outside the
 * model's trained level range for LEVEL_SECONDS, naming their level, the range
 * and the gain that fits. Nothing when the model has no statistics. */
G_GNUC_INTERNAL
void gst_seq_dream_check_level (GstSeqDream *self, const Settings *s,
    guint channel, const gfloat *row, guint T, guint64 start);

G_END_DECLS
