/* GStreamer seqdream: the channels of the stream (gstseqdreamchannels.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamchannels.h"
#include "gstseqdreamscore.h"
#include "gstseqdreamtrust.h"

#include <string.h>

#define DEFAULT_DREAM_CHANNEL 0
#define DEFAULT_THREADS 0
#define MAX_THREADS 16

/* Below this many channels a batch is too small to share (a pass of a few
 * windows costs less than waking a thread); measured in docs/results.md
 * ("Many channels"). */
#define AUTO_THREADS_MIN_CHANNELS 8

/* ---- properties ---- */

void
gst_seq_dream_channels_install_properties (
    GObjectClass *gobject_class, guint first)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  /**
   * GstSeqDream:dream-channel:
   *
   * The channel whose windows dreams (dream-trigger, the "dream" signal)
   * and attributions explain. Read when caps arrive: a value not below
   * the stream's channel count is an error then.
   */
  g_object_class_install_property (gobject_class,
      first + CHANNELS_PROP_DREAM_CHANNEL,
      g_param_spec_uint ("dream-channel", "Dream channel",
          "The channel (0-based) that dreams and attributions explain; "
          "must be below the stream's channel count",
          0, MAX_CHANNELS - 1, DEFAULT_DREAM_CHANNEL,
          rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:threads:
   *
   * Threads that share the forward pass of a batch (libseqdream's
   * sd_workspace_set_threads: the scores do not depend on it). 0: the
   * number of processors when the stream has at least 8 channels, else 1
   * (a few windows per pass do not pay for waking a thread). Read when
   * caps arrive.
   */
  g_object_class_install_property (gobject_class, first + CHANNELS_PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "Threads for the forward pass of a batch (0: the processors when "
          "there are 8 or more channels, else 1)",
          0, MAX_THREADS, DEFAULT_THREADS, rw | GST_PARAM_MUTABLE_READY));
}

void
gst_seq_dream_channels_init_settings (Settings *s)
{
  s->dream_channel = DEFAULT_DREAM_CHANNEL;
  s->threads = DEFAULT_THREADS;
}

void
gst_seq_dream_channels_set_property (
    GstSeqDream *self, guint which, const GValue *value)
{
  GST_OBJECT_LOCK (self);
  switch (which) {
    case CHANNELS_PROP_DREAM_CHANNEL:
      self->settings.dream_channel = g_value_get_uint (value);
      break;
    case CHANNELS_PROP_THREADS:
      self->settings.threads = g_value_get_uint (value);
      break;
    default:
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

void
gst_seq_dream_channels_get_property (
    GstSeqDream *self, guint which, GValue *value)
{
  GST_OBJECT_LOCK (self);
  switch (which) {
    case CHANNELS_PROP_DREAM_CHANNEL:
      g_value_set_uint (value, self->settings.dream_channel);
      break;
    case CHANNELS_PROP_THREADS:
      g_value_set_uint (value, self->settings.threads);
      break;
    default:
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- caps ---- */

guint
gst_seq_dream_auto_threads (guint channels)
{
  if (channels < AUTO_THREADS_MIN_CHANNELS)
    return 1;
  return (guint) CLAMP (g_get_num_processors (), 1, MAX_THREADS);
}

/* A workspace for `rows` windows of the window length with `threads`
 * threads: the current one when it fits, else a new one. */
static gboolean
setup_workspace (GstSeqDream *self, guint rows, guint threads)
{
  g_autoptr (GError) error = NULL;
  guint window = self->windower.window;

  if (self->ws == NULL
      || (guint) sd_workspace_get_max_batch (self->ws) < rows) {
    SdWorkspace *ws = sd_workspace_new (
        self->model, (int) rows, (int) window, SD_MODE_EVAL, &error);
    if (ws == NULL) {
      GST_ELEMENT_ERROR (self, LIBRARY, INIT,
          ("Could not set up the model for %u windows of %u samples: %s", rows,
              window, error->message),
          (NULL));
      return FALSE;
    }
    g_clear_pointer (&self->ws, sd_workspace_free);
    self->ws = ws;
  }
  if (!sd_workspace_set_threads (self->ws, (int) threads, &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start %u threads for the forward pass: %s", threads,
            error->message),
        (NULL));
    return FALSE;
  }
  return TRUE;
}

gboolean
gst_seq_dream_set_channels (GstSeqDream *self, guint channels)
{
  Settings s;
  guint rows, threads;

  g_return_val_if_fail (channels >= 1 && channels <= MAX_CHANNELS, FALSE);

  gst_seq_dream_get_settings (self, &s);
  if (s.dream_channel >= channels) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("dream-channel is %u, but the stream has %u channel%s (0 to %u): "
         "set dream-channel to one of them.",
            s.dream_channel, channels, channels == 1 ? "" : "s", channels - 1),
        (NULL));
    return FALSE;
  }
  /* MAX_BATCH windows for every thread: the windows of a hop of up to
   * that many channels share one pass, mono takes MAX_BATCH hops per pass
   * as it always did. */
  threads = s.threads > 0 ? s.threads : gst_seq_dream_auto_threads (channels);
  rows = MAX_BATCH * threads;
  if (!setup_workspace (self, rows, threads))
    return FALSE;
  if (rows != self->batch_rows) {
    self->batch
        = g_renew (gfloat, self->batch, (gsize) rows * self->windower.window);
    self->rows = g_renew (SeqDreamRow, self->rows, rows);
    self->novelty = g_renew (gdouble, self->novelty, rows);
    self->known = g_renew (gboolean, self->known, rows);
    self->batch_rows = rows;
  }
  /* under dream_lock: queued items read it (gstseqdreamworker.c) */
  g_mutex_lock (&self->dream_lock);
  self->dream_channel = s.dream_channel;
  g_mutex_unlock (&self->dream_lock);
  if (self->scratch == NULL)
    self->scratch = g_new (gfloat, self->windower.window);

  if (channels != self->n_channels) {
    GST_INFO_OBJECT (self, "%u channel%s: %u windows per pass, %u thread%s",
        channels, channels == 1 ? "" : "s", rows, threads,
        threads == 1 ? "" : "s");
    /* A new layout: the windows restart and every channel starts from no
     * state. */
    seq_dream_windower_set_channels (&self->windower, channels);
    self->channels = g_renew (SeqDreamChannel, self->channels, channels);
    memset (self->channels, 0, channels * sizeof (SeqDreamChannel));
    self->n_channels = channels;
    gst_seq_dream_restart_windows (self);
    gst_seq_dream_trust_new_stream (self);
  }
  return TRUE;
}

void
gst_seq_dream_clear_channels (GstSeqDream *self)
{
  g_clear_pointer (&self->channels, g_free);
  self->n_channels = 0;
  g_clear_pointer (&self->batch, g_free);
  g_clear_pointer (&self->rows, g_free);
  g_clear_pointer (&self->novelty, g_free);
  g_clear_pointer (&self->known, g_free);
  g_clear_pointer (&self->scratch, g_free);
  self->batch_rows = 0;
}
