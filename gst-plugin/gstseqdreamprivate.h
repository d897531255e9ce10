/* GStreamer seqdream: the instance struct, shared by the files of the
 * element: gstseqdream.c (GObject, properties, states), gstseqdreamsetup.c
 * (the model, windows and dream preset of READY->PAUSED), gstseqdreampads.c
 * (pad functions), gstseqdreamscore.c (scoring windows),
 * gstseqdreamworker.c (the dream queue and thread) and gstseqdreammessage.c
 * (message structures); seqdreamwindower.c cuts the windows.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdream.h"
#include "seqdreamwindower.h"

#include <gst/base/gstflowcombiner.h>
#include <seqdream/attribution.h>
#include <seqdream/dream.h>
#include <seqdream/model.h>
#include <seqdream/stats.h>

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_seq_dream_debug);
#define GST_CAT_DEFAULT gst_seq_dream_debug

/* Windows scored by one forward pass per thread at most: a larger batch
 * of the default model is slower per window on the 2-core reference
 * machine (300 us at 16, 350-430 us at 64; docs/results.md). */
#define MAX_BATCH 16

/* Interleaved channels the sink pad takes at most. */
#define MAX_CHANNELS 64

/* A copy of the properties that the streaming thread and the "dream"
 * signal need, taken under the object lock. */
typedef struct
{
  gboolean post_messages;
  GstSeqDreamTrigger trigger;
  GstClockTime interval;
  gdouble threshold;
  GstSeqDreamMode mode;
  guint steps;
  gdouble learning_rate, l2, tv, smoothing_alpha, gaussian_sigma;
  guint64 seed;
  guint queue_size;
  gdouble gain;              /* input units to the model's; > 0 */
  gdouble novelty_threshold; /* < 0: the model's; 0: every window known */
  guint state_holdoff;       /* windows that confirm a state; 0: off */
  GstSeqDreamAttribution attribution;
  GstClockTime attribution_interval; /* stream time between them; 0: all */
  guint attribution_steps;           /* IG intervals, SmoothGrad samples */
  guint dream_channel; /* the channel dreams and attributions explain */
  guint threads;       /* forward-pass threads; 0: automatic */
} Settings;

/* The stream's state as the seqdream-state message tells it: a class
 * index, or one of these. */
#define STATE_UNKNOWN (-1) /* the windows are not known to the model */
#define STATE_NONE (-2)    /* none confirmed yet in this stream */

/* What the element keeps of one channel of the stream between windows
 * (streaming thread). */
typedef struct
{
  gboolean bad_run; /* a NaN/Inf window was warned about, none scored since */
  /* the seqdream-state messages: the state confirmed last (a class,
   * STATE_UNKNOWN or STATE_NONE), the state of the latest windows and how
   * many consecutive windows had it */
  gint state, state_candidate;
  guint state_run;
  /* the level warning: given in this stream; the run of windows outside
   * the trained range (from sample level_start since the last restart,
   * level_n windows, their mean squares summed in level_sumsq) at the
   * gain level_gain */
  gboolean level_warned;
  guint64 level_start;
  guint level_n;
  gdouble level_sumsq, level_gain;
} SeqDreamChannel;

/* A row of the batch: channel c of window j of the accumulator, and the
 * map of its normalisation back to the stream's units,
 * data = x * sd + mean. */
typedef struct
{
  guint j, c;
  gdouble mean, sd;
} SeqDreamRow;

struct _GstSeqDream
{
  GstElement parent;

  GstPad *sinkpad, *srcpad, *dream_srcpad, *score_srcpad;

  /* properties, protected by the object lock */
  gchar *model_file;
  guint window_prop, hop_prop;
  GstSeqDreamNormalize normalize;
  gchar *dream_preset; /* a name of sd_dream_preset_names, checked at start */
  gboolean dream_preset_set; /* set by the user, not the default */
  gchar *dream_reference;    /* labelled UCR text file, or NULL */
  Settings settings;
  guint32 last_seek_seqnum;
  gint model_rate; /* the model's sample rate (Hz, rounded), 0: none or
                    * not started; the caps query prefers it */

  /* set in READY->PAUSED, constant until PAUSED->READY */
  SdModel *model;
  const SdModelStats *stats; /* the model's, or NULL: no novelty, no level */
  SdWorkspace *ws; /* rebuilt (streaming thread) when caps need more rows */
  gint n_classes;
  GValue labels; /* GST_TYPE_ARRAY of strings */
  GstFlowCombiner *flow_combiner;
  /* What every dream's configuration starts from: sd_dream_config_init and
   * the regularisers of dream-preset (regs[0, n_regs)), at the window
   * length, their targets pointing at ref_spectra / ref_features. */
  SdDreamConfig preset_config;
  SdDataset *reference; /* dream-reference; NULL when the preset needs none */
  gfloat *ref_spectra;  /* (n_classes, window / 2 + 1) or NULL */
  gfloat *ref_features; /* (n_classes, sd_dream_feature_size) or NULL */
  gfloat *ref_margins;  /* (2 n_classes) stop margins, ceilings, or NULL */

  /* streaming state, protected by the sink pad's stream lock; the
   * windower's window, hop and normalisation are set in READY->PAUSED and
   * constant until PAUSED->READY */
  gint rate;
  GstSegment segment;
  SeqDreamWindower windower;
  gboolean restart;
  GstClockTime base_ts; /* PTS of sample 0 after restart */
  gboolean warned_rate;
  /* the channels of the caps (0 before caps) and their states; a forward
   * pass takes batch_rows windows (MAX_BATCH per thread), the workspace
   * holds them (gstseqdreamchannels.c, at caps) */
  guint n_channels;
  SeqDreamChannel *channels; /* (n_channels) */
  guint dream_channel;       /* < n_channels: dream-channel at caps */
  guint batch_rows;
  gfloat *batch;     /* (batch_rows, window) */
  SeqDreamRow *rows; /* (batch_rows) what the batch's rows are */
  gdouble *novelty;  /* (batch_rows) of the last pass */
  gboolean *known;   /* (batch_rows) of the last pass */
  gfloat *scratch;   /* (window): one channel's window in stream units */
  /* of the dream channel: */
  gint prev_class;
  gdouble prev_confidence;
  GstClockTime last_trigger_pos;
  GstClockTime last_attribution_pos; /* as last_trigger_pos, attributions */
  GstClockTime gap_end; /* end of the GAP last queued for dream_src */
  gboolean new_stream;  /* a new stream-start on dream_src: caps must follow */
  /* what was queued for dream_src last: its stream id and caps (the worker
   * stores them on the pad, so the pad's own may still be older) */
  gchar *dream_stream_id;
  GstCaps *dream_caps;
  /* score_src has had its zero-length GAP of this segment (for preroll) */
  gboolean score_gap_sent;
  /* this stream's samples and scored windows (streaming thread; for the
   * EOS warning when not one window was scored) */
  guint64 stream_samples, stream_windows;

  /* dream queue and worker, protected by dream_lock */
  GMutex dream_lock;
  GCond dream_cond;
  GCond idle_cond;      /* broadcast when the worker finished an item, and
                         * on flush and stop */
  gboolean worker_busy; /* the worker is on an item it took */
  GThread *worker;
  gboolean started; /* model loaded; the signal may build requests */
  gboolean worker_stop;
  gboolean flushing;
  gint dream_cancel; /* atomic: stops the dream in progress between steps */
  guint generation;
  GQueue items;
  guint n_dreams_queued;
  guint64 dreams_requested; /* seeds: dream-seed + this count */
  guint64 dropped;
  guint n_attributions_queued;
  guint64 attributions_dropped;
  /* finished attributions (GstStructure*, oldest first) for the meta on
   * the next buffer that leaves src; at most MAX_PENDING_ATTRIBUTIONS */
  GQueue attributions_pending;
  /* the last scored window, for the "dream" signal */
  gboolean have_last;
  gfloat *last_window;
  guint last_length;
  gdouble last_mean, last_sd;
  gint last_class, last_runner_up;
  GstClockTime last_pts, last_duration, last_stream_time, last_running_time;
  gboolean warned_no_caps_filter;

  /* worker thread only */
  SdDreamer *dreamer;
  SdAttributor *attributor;
  /* preset_config with its targets at the length of the last dream shorter
   * than the window (the EOS tail); its arrays as ref_spectra/_features */
  SdDreamConfig tail_config;
  gfloat *tail_spectra, *tail_features;
  GstClockTime pushed_pos; /* end of what dream_src pushed last */
  gboolean dream_discont;
};

/* The properties the streaming thread and the signal use, as one copy. */
static inline void
gst_seq_dream_get_settings (GstSeqDream *self, Settings *s)
{
  GST_OBJECT_LOCK (self);
  *s = self->settings;
  GST_OBJECT_UNLOCK (self);
}

/* Time of a sample index since the last restart; NONE before the first
 * PTS or caps. (Streaming thread.) */
static inline GstClockTime
gst_seq_dream_sample_time (GstSeqDream *self, guint64 sample)
{
  if (!GST_CLOCK_TIME_IS_VALID (self->base_ts) || self->rate <= 0)
    return GST_CLOCK_TIME_NONE;
  return self->base_ts
         + gst_util_uint64_scale_int (sample, GST_SECOND, self->rate);
}

G_END_DECLS
