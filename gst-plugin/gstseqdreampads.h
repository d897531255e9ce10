/* GStreamer seqdream: the pad functions. sink takes the stream (buffers
 * in the chain function, events, caps and allocation queries), src passes
 * it on unchanged, dream_src carries the dreams (pushed by the worker),
 * score_src the scores as JSON lines (pushed by the streaming thread).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

G_GNUC_INTERNAL
GstFlowReturn gst_seq_dream_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
G_GNUC_INTERNAL
GstFlowReturn gst_seq_dream_sink_event_full (
    GstPad *pad, GstObject *parent, GstEvent *event);
G_GNUC_INTERNAL
gboolean gst_seq_dream_sink_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
/* Events from downstream on src and dream_src. */
G_GNUC_INTERNAL
gboolean gst_seq_dream_src_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
G_GNUC_INTERNAL
gboolean gst_seq_dream_dream_src_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
/* score_src: the "seqdream" structures of results as JSON lines. */
G_GNUC_INTERNAL
GstFlowReturn gst_seq_dream_push_scores (GstSeqDream *self, GPtrArray *results);
G_GNUC_INTERNAL
GstIterator *gst_seq_dream_iterate_internal_links (
    GstPad *pad, GstObject *parent);

G_END_DECLS
