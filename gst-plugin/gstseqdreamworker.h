/* GStreamer seqdream: the dream queue and the worker thread that empties
 * it. The streaming thread and the "dream" signal queue items (events and
 * GAPs for dream_src, dream requests); the worker pushes the events and
 * GAPs and runs the dreams, never holding dream_lock while it pushes or
 * dreams.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

typedef enum
{
  ITEM_EVENT,  /* a serialized event for dream_src (segment, EOS) */
  ITEM_STICKY, /* a sticky event to store on dream_src (stream-start, caps) */
  ITEM_GAP,    /* nothing on dream_src in [start, end) */
  ITEM_DREAM,
  ITEM_ATTRIBUTION, /* attributions of a window, a message and a meta */
} ItemType;

/* One entry of the dream_src queue; owns everything it points to. */
typedef struct
{
  ItemType type;
  guint generation; /* flush generation it belongs to */
  GstEvent *event;
  GstClockTime start, end; /* ITEM_GAP */

  /* ITEM_DREAM: what to dream and the window it explains. */
  GstSeqDreamMode mode;
  gint class_a, class_b;
  GstClockTime pts, duration, stream_time, running_time;
  guint channel; /* of the window: dream-channel when it was queued */
  guint length;
  gfloat *window;   /* (length) normalised samples of the window */
  gdouble mean, sd; /* data = normalised * sd + mean */
  SdDreamConfig config;
  guint64 seed;

  /* ITEM_ATTRIBUTION: the window (length) in the stream's units (before
   * gain and normalisation), its class class_a, the time fields above */
  GstSeqDreamAttribution method;
  gdouble gain;
  guint steps; /* IG intervals, SmoothGrad samples */
} Item;

/* Queue an item for the worker; takes ownership. Dream requests beyond
 * queue_size push out the oldest queued request, and so do attribution
 * requests (counted apart). Call with dream_lock. */
G_GNUC_INTERNAL
void gst_seq_dream_queue_item_locked (
    GstSeqDream *self, Item *item, guint queue_size);

/* An event for dream_src (takes it): ITEM_EVENT, a serialized event
 * (segment, EOS) to push; ITEM_STICKY, a sticky event (stream-start, caps)
 * to store on the pad. */
G_GNUC_INTERNAL
void gst_seq_dream_queue_event (
    GstSeqDream *self, ItemType type, GstEvent *event);

/* Nothing on dream_src in [start, end); gap_end becomes end. */
G_GNUC_INTERNAL
void gst_seq_dream_queue_gap (
    GstSeqDream *self, GstClockTime start, GstClockTime end);

/* Nothing on dream_src before the window that starts at `sample`. */
G_GNUC_INTERNAL
void gst_seq_dream_queue_gap_until (GstSeqDream *self, guint64 sample);

/* The zero-length GAP at the start of the stream (see the .c file). */
G_GNUC_INTERNAL
void gst_seq_dream_queue_preroll_gap (GstSeqDream *self);

/* Drop the queued items and invalidate the one being processed. Call with
 * dream_lock. A flush keeps the sticky events (stream-start and caps
 * survive a flush, as on any pad); a stop drops everything. */
G_GNUC_INTERNAL
void gst_seq_dream_clear_items_locked (GstSeqDream *self, gboolean keep_sticky);

/* An item of `type` with a copy of the window x (T samples) and its
 * times. */
G_GNUC_INTERNAL
Item *gst_seq_dream_window_item_new (ItemType type, const gfloat *x, guint T,
    GstClockTime pts, GstClockTime duration, GstClockTime stream_time,
    GstClockTime running_time);

/* A dream request for a window (normalised samples x, T), with the dream
 * configuration of the settings s. Call with dream_lock (for the seed
 * counter). */
G_GNUC_INTERNAL
Item *gst_seq_dream_make_dream_item_locked (GstSeqDream *self,
    const Settings *s, GstSeqDreamMode mode, gint class_a, gint class_b,
    const gfloat *x, guint T, gdouble mean, gdouble sd, GstClockTime pts,
    GstClockTime duration, GstClockTime stream_time, GstClockTime running_time);

/* The class handler of the "dream" action signal (see class_init). */
G_GNUC_INTERNAL
gboolean gst_seq_dream_dream (
    GstSeqDream *self, const gchar *label, const gchar *mode);

/* The worker thread (data: the element), from READY->PAUSED until
 * worker_stop. */
G_GNUC_INTERNAL
gpointer gst_seq_dream_worker_func (gpointer data);

/* At EOS with dream_src unlinked: returns once the worker has finished
 * the dreams it has, or on a flush or stop. Streaming thread. */
G_GNUC_INTERNAL
void gst_seq_dream_wait_for_dreams (GstSeqDream *self);

G_END_DECLS
