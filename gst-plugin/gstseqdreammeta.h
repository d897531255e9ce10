/* GStreamer seqdream: the per-buffer classification result.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Name of the GstCustomMeta the seqdream element attaches; also the name of
 * its GstStructure. Applications that do not link the plugin read it with
 * gst_buffer_get_custom_meta (buffer, "SeqDreamMeta"). */
#define GST_SEQ_DREAM_META_NAME "SeqDreamMeta"

/* Registers the meta (once; registered without tags, so that elements that
 * copy untagged metas keep it). Returns its info. */
const GstMetaInfo *gst_seq_dream_meta_get_info (void);

/* Adds one SeqDreamMeta to a writable buffer with a copy of every field of
 * result (the fields of the "seqdream" element message, documented in
 * gstseqdream.c: timestamp, stream-time, running-time, duration, class,
 * class-index, confidence, probabilities, logits, labels, and whether the
 * model knows the window: novelty (G_TYPE_DOUBLE, NaN without model
 * statistics) and known (G_TYPE_BOOLEAN)). */
GstCustomMeta *gst_buffer_add_seq_dream_meta (
    GstBuffer *buffer, const GstStructure *result);

/* The first SeqDreamMeta of buffer, or NULL; iterate with
 * gst_buffer_iterate_meta and gst_custom_meta_has_name for the others. */
GstCustomMeta *gst_buffer_get_seq_dream_meta (GstBuffer *buffer);

/* Name of the GstCustomMeta (and its structure) that carries a finished
 * attribution, with the fields of the "seqdream-attribution" message. The
 * attribution is computed on the dream thread after the buffer that
 * completed its window has left: it rides on the first buffer leaving src
 * after it finished, and its timestamp fields name the window. Registered
 * with SeqDreamMeta by gst_seq_dream_meta_get_info. */
#define GST_SEQ_DREAM_ATTRIBUTION_META_NAME "SeqDreamAttributionMeta"

GstCustomMeta *gst_buffer_add_seq_dream_attribution_meta (
    GstBuffer *buffer, const GstStructure *attribution);

G_END_DECLS
