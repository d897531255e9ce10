/* GStreamer seqdream: scoring the windows of the stream. The windower
 * (seqdreamwindower.h) cuts them; here they are normalised, scored in
 * batches of up to MAX_BATCH by one forward pass, turned into results
 * (gstseqdreammessage.h) and checked against the dream trigger.
 * Streaming thread only (the sink pad's stream lock).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

/* Forget the samples collected so far: windows start again at the next
 * buffer, the trigger forgets the previous window. */
G_GNUC_INTERNAL
void gst_seq_dream_restart_windows (GstSeqDream *self);

/* Score every window the samples appended last completed; their results
 * (GstStructure *) are appended to results, their dream requests
 * queued. */
G_GNUC_INTERNAL
void gst_seq_dream_score_full_windows (
    GstSeqDream *self, const Settings *s, GPtrArray *results);

/* At EOS: score the tail and post its message if it deserves a window. */
G_GNUC_INTERNAL
void gst_seq_dream_score_tail (GstSeqDream *self);

G_END_DECLS
