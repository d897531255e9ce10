/* GStreamer seqdream: attributions of scored windows (the `attribution`
 * property). The streaming thread queues a request for a window (at most
 * one per attribution-interval of stream time); the dream thread computes
 * it with libseqdream (sd_attributor_run), posts the
 * "seqdream-attribution" message and leaves a copy for the streaming
 * thread, which attaches it as SeqDreamAttributionMeta to the next buffer
 * it pushes on src.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"
#include "gstseqdreamworker.h"

G_BEGIN_DECLS

/* The attribution properties, ids first + AttributionProp. */
typedef enum
{
  ATTRIBUTION_PROP_METHOD,   /* attribution */
  ATTRIBUTION_PROP_INTERVAL, /* attribution-interval */
  ATTRIBUTION_PROP_STEPS,    /* attribution-steps */
  ATTRIBUTION_PROP_DROPPED,  /* attribution-dropped, read-only */
  N_ATTRIBUTION_PROPS
} AttributionProp;

/* Installs them (class_init), with ids first .. first + 3. */
G_GNUC_INTERNAL
void gst_seq_dream_attribution_install_properties (
    GObjectClass *gobject_class, guint first);

/* Their defaults into s (instance init). */
G_GNUC_INTERNAL
void gst_seq_dream_attribution_init_settings (Settings *s);

/* set_property / get_property of one of them (takes the object lock, or
 * the dream lock for attribution-dropped). */
G_GNUC_INTERNAL
void gst_seq_dream_attribution_set_property (
    GstSeqDream *self, guint which, const GValue *value);
G_GNUC_INTERNAL
void gst_seq_dream_attribution_get_property (
    GstSeqDream *self, guint which, GValue *value);

/* Finished attributions kept for the meta when no buffer leaves src
 * (the oldest is dropped; the message was posted anyway). */
#define MAX_PENDING_ATTRIBUTIONS 16

/* A scored window (x: T samples in the stream's units, before gain and
 * normalisation) of class cls: queue its attribution when the settings ask
 * for one and attribution-interval has passed since the last one (stream
 * time, or samples when the stream has no timestamps). Streaming thread. */
G_GNUC_INTERNAL
void gst_seq_dream_maybe_attribute (GstSeqDream *self, const Settings *s,
    const gfloat *x, guint T, gint cls, guint64 start_sample, GstClockTime ts,
    GstClockTime duration, GstClockTime stream_time, GstClockTime running_time);

/* Computes the attribution of item, posts its message and keeps it for the
 * meta. Dream thread. */
G_GNUC_INTERNAL
void gst_seq_dream_worker_attribution (GstSeqDream *self, Item *item);

/* The finished attributions not yet carried, as metas on buffer (made
 * writable when there are any). Streaming thread, before pushing on src. */
G_GNUC_INTERNAL
GstBuffer *gst_seq_dream_attach_attributions (
    GstSeqDream *self, GstBuffer *buffer);

G_END_DECLS
