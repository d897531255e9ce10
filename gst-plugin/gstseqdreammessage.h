/* GStreamer seqdream: the structures of the "seqdream" message (also the
 * content of SeqDreamMeta) and of the "seqdream-dream" message; their
 * fields are documented at the top of gstseqdream.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"
#include "gstseqdreamworker.h"

G_BEGIN_DECLS

/* The result of one window: softmax of the logits, top class, novelty,
 * and the "seqdream" structure. */
typedef struct
{
  gint top, runner_up;
  guint channel; /* of the stream, 0-based */
  gdouble confidence;
  gdouble novelty; /* NaN when the model has no statistics */
  gboolean known;
  GstClockTime ts, duration, stream_time, running_time;
  GstStructure *s;
} WindowResult;

/* The result of the window of a channel at ts (duration long) from its
 * logits (n_classes) and its novelty. */
G_GNUC_INTERNAL
void gst_seq_dream_make_result (GstSeqDream *self, guint channel,
    const gfloat *logits, gdouble novelty, gboolean known, GstClockTime ts,
    GstClockTime duration, WindowResult *r);

/* The "seqdream-state" structure: the state of r's channel became
 * `state` (a class index or STATE_UNKNOWN) from `previous` (also
 * STATE_NONE) at the window r, the last of `windows` that agreed. */
G_GNUC_INTERNAL
GstStructure *gst_seq_dream_make_state_message (GstSeqDream *self,
    gint previous, gint state, guint windows, const WindowResult *r);

/* The "seqdream-dream" structure of a finished dream: res of the request
 * item, data its sequence in the units of the data (res->length). */
G_GNUC_INTERNAL
GstStructure *gst_seq_dream_make_dream_message (GstSeqDream *self,
    const Item *item, const SdDreamResult *res, const gfloat *data);

/* The "seqdream-attribution" structure of the attribution a (one series)
 * of the request item, its values already in the units of the stream. */
G_GNUC_INTERNAL
GstStructure *gst_seq_dream_make_attribution_message (
    GstSeqDream *self, const Item *item, const SdAttribution *a);

/* "centered", "border" or "from-window". */
G_GNUC_INTERNAL
const gchar *gst_seq_dream_mode_nick (GstSeqDreamMode mode);

/* The score_src line of a "seqdream" structure: one JSON object and a
 * newline, in UTF-8 (fields in gstseqdream.c's documentation). The
 * channel is the structure's `channel` (G_TYPE_UINT) when it has one,
 * else 0. */
G_GNUC_INTERNAL
gchar *gst_seq_dream_score_json (const GstStructure *s, gsize *length);

/* A free function for arrays of structures that may hold NULL. */
G_GNUC_INTERNAL
void gst_seq_dream_structure_free0 (gpointer s);

/* Post the messages of the scored windows (the "seqdream" ones when
 * post-messages is set, the others always), in order; takes the
 * structures and empties results. */
G_GNUC_INTERNAL
void gst_seq_dream_post_results (
    GstSeqDream *self, const Settings *s, GPtrArray *results);

G_END_DECLS
