/* GStreamer seqdream: the channels of the stream. The sink pad takes 1 to
 * MAX_CHANNELS interleaved channels; every channel is windowed, scored and
 * followed (state, level, NaN runs) on its own, and the windows of all
 * channels that complete at the same hop go through one forward pass.
 * Here: the properties dream-channel and threads, and what the caps set
 * up: the channel states, the batch and the workspace sized for them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

/* The properties, ids first + ChannelsProp. */
typedef enum
{
  CHANNELS_PROP_DREAM_CHANNEL, /* dream-channel */
  CHANNELS_PROP_THREADS,       /* threads */
  N_CHANNELS_PROPS
} ChannelsProp;

/* Installs them (class_init), with ids first .. first + 1. */
G_GNUC_INTERNAL
void gst_seq_dream_channels_install_properties (
    GObjectClass *gobject_class, guint first);

/* Their defaults into s (instance init). */
G_GNUC_INTERNAL
void gst_seq_dream_channels_init_settings (Settings *s);

/* set_property / get_property of one of them (under the object lock). */
G_GNUC_INTERNAL
void gst_seq_dream_channels_set_property (
    GstSeqDream *self, guint which, const GValue *value);
G_GNUC_INTERNAL
void gst_seq_dream_channels_get_property (
    GstSeqDream *self, guint which, GValue *value);

/* The forward-pass threads for `channels` channels when the threads
 * property is 0 (automatic). */
G_GNUC_INTERNAL
guint gst_seq_dream_auto_threads (guint channels);

/* Caps with `channels` channels (1..MAX_CHANNELS) arrived: checks
 * dream-channel against them, sets up the channel states (new ones when
 * the count changed, which also restarts the windows), the batch and the
 * workspace (rebuilt when it holds too few windows) and its threads.
 * FALSE after an element error that says what is wrong. Streaming
 * thread. */
G_GNUC_INTERNAL
gboolean gst_seq_dream_set_channels (GstSeqDream *self, guint channels);

/* Frees what gst_seq_dream_set_channels made (stop). */
G_GNUC_INTERNAL
void gst_seq_dream_clear_channels (GstSeqDream *self);

G_END_DECLS
