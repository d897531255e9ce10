/* GStreamer seqdreamviz: the instance struct, shared by gstseqdreamviz.c
 * (GObject, pads, negotiation, frames) and gstseqdreamvizscene.c (what
 * the frames show); gstseqdreamvizdraw.c draws a scene.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamviz.h"
#include "gstseqdreamvizdraw.h"

#include <gst/video/video.h>

G_BEGIN_DECLS

/* Running time of audio without a SeqDreamMeta before the hint says that
 * no seqdream is upstream (a window longer than this delays the first). */
#define HINT_AFTER GST_SECOND
/* Scored windows kept for the probability strip at most (and those older
 * than `history` are dropped). */
#define MAX_PROBS 65536

/* Scored windows remembered to match dreams with their class: dreams can
 * lag the audio by seconds when a file is processed faster than real time
 * (8192 windows: 42 s at 48 kHz with a 500-sample window and hop 250). */
#define HISTORY_LEN 8192
/* Dreams kept at most. */
#define MAX_DREAMS 16

typedef struct
{
  GstClockTime pts;
  gint class_index; /* -1: not known yet */
  gdouble p;        /* its probability (SeqDreamMeta), -1: unknown */
  gfloat *x;
  guint n;
} Dream;

typedef struct
{
  GstClockTime ts;
  gint class_index;
} HistoryEntry;

struct _GstSeqDreamViz
{
  GstElement parent;

  GstPad *sinkpad, *dream_sinkpad, *srcpad;

  /* properties, protected by the object lock */
  gint width, height; /* preferred size; downstream caps may differ */
  gdouble history_s;  /* s of the probability strip */
  guint draw;         /* VIZ_DRAW_* */
  gchar *units;
  guint32 colors[4]; /* ARGB: background, text, window, dream */
  guint channel;     /* the input channel shown */

  /* streaming state, protected by the sink pad's stream lock */
  gint rate;
  gint channels;       /* of the sink caps */
  guint shown_channel; /* `channel` as read at the caps */
  gfloat *deint;       /* one channel of a multichannel buffer */
  guint deint_cap;
  GstSegment segment;
  GstVideoInfo vinfo;
  gboolean negotiated;
  gboolean need_segment;
  GstClockTime next_frame_rt; /* NONE: set from the next audio */
  guint64 frame_n;
  GstClockTime pos_rt; /* running time of the end of the audio so far */
  gfloat *hist;        /* the latest samples */
  guint hist_len, hist_cap;
  guint64 n_samples; /* samples since restart; hist ends here */
  gfloat *win;       /* the latest scored window */
  guint win_len;
  gdouble win_t0, win_dur;          /* its stream time and duration, s */
  gint probs_k;                     /* classes of the entries of probs */
  GstStructure *result;             /* its SeqDreamMeta fields */
  GQueue probs;                     /* VizProb*, oldest first */
  GstClockTime first_rt, result_rt; /* first audio; the latest result */
  /* the latest attribution (SeqDreamAttributionMeta): its values and its
   * window's samples (attr_n each), stream time and duration (s) */
  gfloat *attr, *attr_x;
  guint attr_n;
  gdouble attr_t0, attr_dur;
  gchar *attr_method;

  /* dreams and the class of recent windows, protected by dream_lock */
  GMutex dream_lock;
  GQueue dreams;         /* Dream*, newest first */
  HistoryEntry *history; /* (HISTORY_LEN) ring */
  guint history_pos, history_count;
};

G_GNUC_INTERNAL
void gst_seq_dream_viz_prob_free (gpointer p);
G_GNUC_INTERNAL
void gst_seq_dream_viz_dream_free (gpointer p);

/* Gives a dream the class of the window with its PTS (call with
 * dream_lock). */
G_GNUC_INTERNAL
void gst_seq_dream_viz_resolve_class_locked (GstSeqDreamViz *self, Dream *d);

/* Appends n samples to the audio history. */
G_GNUC_INTERNAL
void gst_seq_dream_viz_hist_append (
    GstSeqDreamViz *self, const gfloat *x, guint n);

/* The fields of a SeqDreamMeta / SeqDreamAttributionMeta of the buffer
 * that starts at sample buf_start with PTS pts (its samples already in the
 * history). */
G_GNUC_INTERNAL
void gst_seq_dream_viz_take_result (GstSeqDreamViz *self, const GstStructure *s,
    guint64 buf_start, GstClockTime pts);
G_GNUC_INTERNAL
void gst_seq_dream_viz_take_attribution (GstSeqDreamViz *self,
    const GstStructure *s, guint64 buf_start, GstClockTime pts);

/* Draws the frame at running time rt. */
G_GNUC_INTERNAL
void gst_seq_dream_viz_render (
    GstSeqDreamViz *self, cairo_t *cr, GstClockTime rt);

G_END_DECLS
