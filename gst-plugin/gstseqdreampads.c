/* GStreamer seqdream: the pad functions (gstseqdreampads.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreampads.h"
#include "gstseqdreammessage.h"
#include "gstseqdreamattribution.h"
#include "gstseqdreamchannels.h"
#include "gstseqdreammeta.h"
#include "gstseqdreamscore.h"
#include "gstseqdreamtrust.h"
#include "gstseqdreamworker.h"

#include <gst/audio/audio.h>
#include <math.h>

/* ---- score_src: one JSON line per scored window ---- */

/* Its stream-start (upstream's id + "/score", upstream's group) and caps,
 * pushed from the streaming thread when upstream's stream starts: an
 * unlinked pad stores them, and a peer linked later gets them before its
 * first buffer. */
static void
score_src_start_stream (GstSeqDream *self, GstEvent *upstream)
{
  const gchar *id = NULL;
  g_autofree gchar *score_id = NULL;
  GstEvent *ev;
  GstCaps *caps;
  guint group;

  gst_event_parse_stream_start (upstream, &id);
  score_id = g_strconcat (id != NULL ? id : "seqdream", "/score", NULL);
  ev = gst_event_new_stream_start (score_id);
  if (gst_event_parse_group_id (upstream, &group))
    gst_event_set_group_id (ev, group);
  gst_event_set_stream_flags (ev, GST_STREAM_FLAG_SPARSE);
  gst_pad_push_event (self->score_srcpad, ev);
  caps = gst_caps_new_simple (
      "text/x-raw", "format", G_TYPE_STRING, "utf8", NULL);
  gst_pad_push_event (self->score_srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
}

/* Push the "seqdream" results (in window order) as buffers on score_src,
 * after a zero-length GAP at the segment's first buffer (a sink behind
 * score_src then prerolls before the first window is complete, as the one
 * behind dream_src does). Unlinked, nothing is built: the cost is the
 * linked check. Returns the flow of the last push (GST_FLOW_OK when
 * nothing was pushed). */
GstFlowReturn
gst_seq_dream_push_scores (GstSeqDream *self, GPtrArray *results)
{
  GstFlowReturn ret = GST_FLOW_OK;

  if (!self->score_gap_sent && GST_CLOCK_TIME_IS_VALID (self->base_ts)) {
    self->score_gap_sent = TRUE;
    gst_pad_push_event (
        self->score_srcpad, gst_event_new_gap (self->base_ts, 0));
  }
  if (results->len == 0 || !gst_pad_is_linked (self->score_srcpad))
    return GST_FLOW_OK;
  for (guint i = 0; i < results->len && ret == GST_FLOW_OK; i++) {
    const GstStructure *st = g_ptr_array_index (results, i);
    GstBuffer *buf;
    guint64 ts = GST_CLOCK_TIME_NONE, dur = GST_CLOCK_TIME_NONE;
    gsize len;
    gchar *line;

    if (st == NULL || !gst_structure_has_name (st, "seqdream"))
      continue;
    line = gst_seq_dream_score_json (st, &len);
    buf = gst_buffer_new_wrapped (line, len);
    gst_structure_get_uint64 (st, "timestamp", &ts);
    gst_structure_get_uint64 (st, "duration", &dur);
    GST_BUFFER_PTS (buf) = ts;
    GST_BUFFER_DURATION (buf) = dur;
    ret = gst_pad_push (self->score_srcpad, buf);
  }
  return ret;
}

/* ---- sink: buffers ---- */

GstFlowReturn
gst_seq_dream_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  Settings s;
  GstMapInfo map;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func (gst_seq_dream_structure_free0);
  GstFlowReturn ret, score_ret;
  gsize frames;

  if (G_UNLIKELY (self->rate <= 0 || self->n_channels == 0)) {
    GST_ELEMENT_ERROR (
        self, CORE, NEGOTIATION, (NULL), ("received a buffer before caps"));
    gst_buffer_unref (buffer);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  gst_seq_dream_get_settings (self, &s);

  if (GST_BUFFER_IS_DISCONT (buffer) && self->windower.n_received > 0) {
    GST_DEBUG_OBJECT (self, "DISCONT at %" GST_TIME_FORMAT ": windows restart",
        GST_TIME_ARGS (GST_BUFFER_PTS (buffer)));
    gst_seq_dream_restart_windows (self);
  }
  if (self->restart) {
    self->restart = FALSE;
    self->base_ts = GST_BUFFER_PTS (buffer);
  }

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("could not map buffer"));
    gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  /* (interleaved frames; a partial frame at the end is not audio) */
  frames = map.size / (sizeof (gfloat) * self->n_channels);
  seq_dream_windower_append (
      &self->windower, (const gfloat *) map.data, frames);
  self->stream_samples += frames;
  gst_buffer_unmap (buffer, &map);
  gst_seq_dream_score_full_windows (self, &s, results);
  /* (not-linked, the unlinked score_src's flow, never reaches upstream
   * while src is linked: the combiner) */
  score_ret = gst_seq_dream_push_scores (self, results);
  gst_flow_combiner_update_pad_flow (
      self->flow_combiner, self->score_srcpad, score_ret);

  if (results->len > 0) {
    /* Shares the memory when the buffer is not writable. */
    buffer = gst_buffer_make_writable (buffer);
    for (guint i = 0; i < results->len; i++) {
      const GstStructure *st = g_ptr_array_index (results, i);
      /* (seqdream-state messages have no meta) */
      if (gst_structure_has_name (st, "seqdream"))
        gst_buffer_add_seq_dream_meta (buffer, st);
    }
    gst_seq_dream_post_results (self, &s, results);
  }

  buffer = gst_seq_dream_attach_attributions (self, buffer);
  gst_seq_dream_queue_preroll_gap (self);
  ret = gst_pad_push (self->srcpad, buffer);
  return gst_flow_combiner_update_pad_flow (
      self->flow_combiner, self->srcpad, ret);
}

/* ---- queries, events and caps ---- */

static void
warn_refused_caps (GstSeqDream *self, GstCaps *caps)
{
  gchar *str;

  if (!g_atomic_int_compare_and_exchange (&self->warned_no_caps_filter, 0, 1))
    return;
  str = gst_caps_to_string (caps);
  GST_ELEMENT_WARNING (self, CORE, NEGOTIATION,
      ("seqdream accepts only 32-bit float audio of 1 to %d channels "
       "(audio/x-raw, format=F32LE, layout=interleaved, channels=1..%d); it "
       "was offered %s. Put audioconvert before seqdream (and deinterleave "
       "or split streams of more channels).",
          MAX_CHANNELS, MAX_CHANNELS, str),
      (NULL));
  g_free (str);
}

/* The model's rate first, then the rest (takes caps): upstream picks the
 * first structure it can, and audioresample's fixation keeps only the
 * first of our caps, so `audioresample ! seqdream` resamples to the
 * model's rate by itself while any other rate is still accepted. */
static GstCaps *
prefer_model_rate (GstSeqDream *self, GstCaps *caps)
{
  GstCaps *fixed, *preferred;
  gint model_rate;

  GST_OBJECT_LOCK (self);
  model_rate = self->model_rate;
  GST_OBJECT_UNLOCK (self);
  if (model_rate <= 0 || gst_caps_is_empty (caps))
    return caps;
  fixed = gst_caps_copy (caps);
  for (guint i = 0; i < gst_caps_get_size (fixed); i++)
    gst_structure_set (gst_caps_get_structure (fixed, i), "rate", G_TYPE_INT,
        model_rate, NULL);
  /* (drops the structures whose rates exclude the model's) */
  preferred = gst_caps_intersect_full (fixed, caps, GST_CAPS_INTERSECT_FIRST);
  gst_caps_unref (fixed);
  return gst_caps_merge (preferred, caps);
}

gboolean
gst_seq_dream_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter, *tmpl, *caps;

      gst_query_parse_caps (query, &filter);
      tmpl = gst_pad_get_pad_template_caps (pad);
      /* Passthrough: what downstream of both source pads accepts. */
      caps = gst_pad_peer_query_caps (self->srcpad, tmpl);
      if (gst_pad_is_linked (self->dream_srcpad)) {
        GstCaps *dream = gst_pad_peer_query_caps (self->dream_srcpad, tmpl);
        GstCaps *both = gst_caps_intersect (caps, dream);
        gst_caps_unref (caps);
        gst_caps_unref (dream);
        caps = both;
      }
      caps = prefer_model_rate (self, caps);
      if (filter != NULL) {
        /* Our order first: audioresample's filter lists the input rate
         * first, and filter-first would keep that preference. */
        GstCaps *f
            = gst_caps_intersect_full (caps, filter, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = f;
        if (gst_caps_is_empty (caps) && !gst_caps_is_empty (filter)
            && !gst_caps_can_intersect (filter, tmpl)
            && gst_structure_has_name (
                gst_caps_get_structure (filter, 0), "audio/x-raw"))
          warn_refused_caps (self, filter);
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      gst_caps_unref (tmpl);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS: {
      GstCaps *caps, *tmpl;
      gboolean ok;

      gst_query_parse_accept_caps (query, &caps);
      tmpl = gst_pad_get_pad_template_caps (pad);
      ok = gst_caps_is_subset (caps, tmpl);
      gst_caps_unref (tmpl);
      if (!ok)
        warn_refused_caps (self, caps);
      gst_query_set_accept_caps_result (query, ok);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

gboolean
gst_seq_dream_dream_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      gboolean live;
      GstClockTime min, max;
      gint rate = g_atomic_int_get (&self->rate);

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      /* A dream comes at least one window after the window starts, and the
       * queue holds requests for as long as dreams take. */
      gst_query_parse_latency (query, &live, &min, &max);
      if (rate > 0 && self->windower.window > 0)
        min += gst_util_uint64_scale_int (
            self->windower.window, GST_SECOND, rate);
      gst_query_set_latency (query, live, min, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

GstIterator *
gst_seq_dream_iterate_internal_links (GstPad *pad, GstObject *parent)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  GstPad *other = pad == self->sinkpad ? self->srcpad : self->sinkpad;
  GValue v = G_VALUE_INIT;
  GstIterator *it;

  /* sink <-> src only: allocation queries and sticky events do not go to
   * dream_src or score_src, upstream queries from them reach the sink
   * pad. */
  g_value_init (&v, GST_TYPE_PAD);
  g_value_set_object (&v, other);
  it = gst_iterator_new_single (GST_TYPE_PAD, &v);
  g_value_unset (&v);
  return it;
}

gboolean
gst_seq_dream_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK: {
      /* A pipeline seek reaches us from the sinks of both branches: forward
       * it once. */
      guint32 seqnum = gst_event_get_seqnum (event);
      gboolean dup;

      GST_OBJECT_LOCK (self);
      dup = seqnum == self->last_seek_seqnum;
      self->last_seek_seqnum = seqnum;
      GST_OBJECT_UNLOCK (self);
      if (dup) {
        GST_DEBUG_OBJECT (pad, "seek %u already forwarded", seqnum);
        gst_event_unref (event);
        return TRUE;
      }
      return gst_pad_push_event (self->sinkpad, event);
    }
    case GST_EVENT_QOS:
    case GST_EVENT_RECONFIGURE:
      /* The dream and score branches do not steer the stream. */
      if (pad != self->srcpad) {
        gst_event_unref (event);
        return TRUE;
      }
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

/* The rate and channels of caps the sink pad takes: F32LE, interleaved,
 * rate > 0, 1..MAX_CHANNELS channels, any channel-mask that fits them or
 * none (a sensor's axes have no positions; GstAudioInfo wants a mask
 * beyond two channels). */
static gboolean
parse_caps (GstCaps *caps, gint *rate, gint *channels)
{
  GstAudioInfo info;
  const GstStructure *st;

  if (gst_audio_info_from_caps (&info, caps)) {
    *rate = GST_AUDIO_INFO_RATE (&info);
    *channels = GST_AUDIO_INFO_CHANNELS (&info);
    return GST_AUDIO_INFO_FORMAT (&info) == GST_AUDIO_FORMAT_F32LE
           && GST_AUDIO_INFO_LAYOUT (&info) == GST_AUDIO_LAYOUT_INTERLEAVED
           && *channels >= 1 && *channels <= MAX_CHANNELS;
  }
  if (!gst_caps_is_fixed (caps))
    return FALSE;
  st = gst_caps_get_structure (caps, 0);
  return gst_structure_has_name (st, "audio/x-raw")
         && !gst_structure_has_field (st, "channel-mask")
         && g_strcmp0 (gst_structure_get_string (st, "format"), "F32LE") == 0
         && g_strcmp0 (gst_structure_get_string (st, "layout"), "interleaved")
                == 0
         && gst_structure_get_int (st, "rate", rate) && *rate > 0
         && gst_structure_get_int (st, "channels", channels) && *channels >= 1
         && *channels <= MAX_CHANNELS;
}

static gboolean
set_caps (GstSeqDream *self, GstCaps *caps)
{
  GstCaps *dream_caps;
  GstEvent *ev;
  gdouble model_rate;
  gint rate = 0, channels = 0;

  if (!parse_caps (caps, &rate, &channels)) {
    gchar *str = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("seqdream accepts only 32-bit float audio (F32LE, interleaved) of 1 "
         "to %d channels; it got %s. Put audioconvert before seqdream.",
            MAX_CHANNELS, str),
        (NULL));
    g_free (str);
    return FALSE;
  }
  if (!gst_seq_dream_set_channels (self, (guint) channels))
    return FALSE;

  if (rate != self->rate) {
    gst_seq_dream_restart_windows (self);
    g_atomic_int_set (&self->rate, rate);
  }
  model_rate = sd_model_get_sample_rate (self->model);
  if (model_rate > 0.0 && !self->warned_rate
      && fabs (model_rate - self->rate) > 0.01 * model_rate) {
    self->warned_rate = TRUE;
    GST_ELEMENT_WARNING (self, STREAM, FORMAT,
        ("The model was trained at %g Hz but the stream is at %d Hz: put "
         "audioresample before seqdream.",
            model_rate, self->rate),
        (NULL));
  }

  /* dream_src: stream-start (now that the sink pad holds upstream's, for
   * the stream id) and caps, queued for the worker, which stores them on
   * the pad; they go out before its next segment, GAP or buffer. */
  if (self->dream_stream_id == NULL) {
    GstEvent *up
        = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_STREAM_START, 0);
    guint group;

    self->dream_stream_id = gst_pad_create_stream_id (
        self->dream_srcpad, GST_ELEMENT (self), "dream");
    ev = gst_event_new_stream_start (self->dream_stream_id);
    if (up != NULL) {
      if (gst_event_parse_group_id (up, &group))
        gst_event_set_group_id (ev, group);
      gst_event_unref (up);
    }
    gst_seq_dream_queue_event (self, ITEM_STICKY, ev);
  }
  dream_caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING,
      "F32LE", "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT,
      self->rate, "channels", G_TYPE_INT, 1, NULL);
  /* Caps only when they change (an equal caps event stored again is sent
   * again) or for a new stream, which needs its caps after its
   * stream-start. */
  if (self->new_stream || self->dream_caps == NULL
      || !gst_caps_is_equal (self->dream_caps, dream_caps)) {
    gst_seq_dream_queue_event (
        self, ITEM_STICKY, gst_event_new_caps (dream_caps));
    gst_caps_replace (&self->dream_caps, dream_caps);
  }
  self->new_stream = FALSE;
  gst_caps_unref (dream_caps);
  return TRUE;
}

static gboolean
gst_seq_dream_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  GST_LOG_OBJECT (pad, "%" GST_PTR_FORMAT, event);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START: {
      /* (the sink pad stores upstream's after this returns) */
      GstEvent *up
          = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_STREAM_START, 0);
      const gchar *a = NULL, *b = NULL;

      if (up != NULL)
        gst_event_parse_stream_start (up, &a);
      gst_event_parse_stream_start (event, &b);
      if (g_strcmp0 (a, b) != 0) {
        /* A new stream: its own states; dream_src gets a new stream-start
         * with the next caps. */
        gst_seq_dream_trust_new_stream (self);
        score_src_start_stream (self, event);
        if (self->dream_stream_id != NULL) {
          GstEvent *ev;
          guint group;
          g_free (self->dream_stream_id);
          self->dream_stream_id = g_strconcat (b, "/dream", NULL);
          ev = gst_event_new_stream_start (self->dream_stream_id);
          if (gst_event_parse_group_id (event, &group))
            gst_event_set_group_id (ev, group);
          gst_seq_dream_queue_event (self, ITEM_STICKY, ev);
          self->new_stream = TRUE;
        }
      }
      if (up != NULL)
        gst_event_unref (up);
      gst_seq_dream_restart_windows (self);
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_CAPS: {
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      if (!set_caps (self, caps)) {
        gst_event_unref (event);
        return FALSE;
      }
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      gst_seq_dream_restart_windows (self);
      self->gap_end = GST_CLOCK_TIME_NONE;
      gst_seq_dream_queue_event (self, ITEM_EVENT, gst_event_ref (event));
      self->score_gap_sent = FALSE;
      gst_pad_push_event (self->score_srcpad, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_GAP: {
      GstClockTime ts, dur;

      gst_event_parse_gap (event, &ts, &dur);
      gst_seq_dream_restart_windows (self);
      if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (dur))
        gst_seq_dream_queue_gap (self, ts, ts + dur);
      gst_pad_push_event (self->score_srcpad, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_EOS:
      gst_seq_dream_score_tail (self);
      if (self->stream_windows == 0 && self->stream_samples > 0)
        GST_ELEMENT_WARNING (self, STREAM, FAILED,
            ("The stream ended after %" G_GUINT64_FORMAT " samples, before "
             "a single window of %u samples was complete: nothing was "
             "scored.",
                self->stream_samples, self->windower.window),
            ("set window (and hop) smaller than the stream, or feed a "
             "longer one"));
      gst_seq_dream_queue_event (self, ITEM_EVENT, gst_event_ref (event));
      gst_pad_push_event (self->score_srcpad, gst_event_ref (event));
      gst_seq_dream_wait_for_dreams (self);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->dream_lock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->idle_cond);
      g_atomic_int_set (&self->dream_cancel, 1);
      gst_seq_dream_clear_items_locked (self, TRUE);
      g_mutex_unlock (&self->dream_lock);
      /* Unblocks a push of the worker. */
      gst_pad_push_event (self->dream_srcpad, gst_event_ref (event));
      gst_pad_push_event (self->score_srcpad, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      /* Wait for a push of the worker to return. */
      GST_PAD_STREAM_LOCK (self->dream_srcpad);
      gst_pad_push_event (self->dream_srcpad, gst_event_ref (event));
      g_mutex_lock (&self->dream_lock);
      self->flushing = FALSE;
      /* A dream still running from before the flush is stale anyway (its
       * generation); new ones must not see the cancel. */
      g_atomic_int_set (&self->dream_cancel, 0);
      g_mutex_unlock (&self->dream_lock);
      GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
      /* (score_src is pushed by this thread only: no lock to wait for) */
      gst_pad_push_event (self->score_srcpad, gst_event_ref (event));
      self->score_gap_sent = FALSE;
      gst_seq_dream_restart_windows (self);
      gst_seq_dream_reset_state (self);
      self->stream_samples = self->stream_windows = 0;
      self->gap_end = GST_CLOCK_TIME_NONE;
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      gst_flow_combiner_reset (self->flow_combiner);
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* A refused event becomes a flow return upstream. Going to READY, the
 * source pads are deactivated before the sink pad (and dream_src between
 * them), so an event that arrives in between (a segment right after a
 * seek) finds src flushing: that is FLUSHING, as for a buffer; the default
 * mapping of a refused event (GST_FLOW_ERROR) made upstream's next push
 * fail and the source post "Internal data stream error" while stopping. */
GstFlowReturn
gst_seq_dream_sink_event_full (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  gboolean is_caps = GST_EVENT_TYPE (event) == GST_EVENT_CAPS;
  gboolean flushing;

  if (gst_seq_dream_sink_event (pad, parent, event))
    return GST_FLOW_OK;
  GST_OBJECT_LOCK (self->srcpad);
  flushing = GST_PAD_IS_FLUSHING (self->srcpad);
  GST_OBJECT_UNLOCK (self->srcpad);
  if (flushing)
    return GST_FLOW_FLUSHING;
  return is_caps ? GST_FLOW_NOT_NEGOTIATED : GST_FLOW_ERROR;
}
