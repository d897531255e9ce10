/* GStreamer seqdream: the dream queue and the worker thread
 * (gstseqdreamworker.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamworker.h"
#include "gstseqdreamattribution.h"
#include "gstseqdreammessage.h"
#include "gstseqdreammeta.h"
#include "gstseqdreamscore.h"

#include <string.h>

/* ---- the queue ---- */

static void
item_free (Item *item)
{
  if (item->event)
    gst_event_unref (item->event);
  g_free (item->window);
  g_free (item);
}

void
gst_seq_dream_queue_item_locked (
    GstSeqDream *self, Item *item, guint queue_size)
{
  if (self->worker_stop || self->worker == NULL) {
    item_free (item);
    return;
  }
  item->generation = self->generation;
  /* Dreams and attributions explain windows of the dream channel (fixed
   * while caps hold; dream_lock orders this with set_caps). */
  item->channel = self->dream_channel;

  if (item->type == ITEM_GAP) {
    Item *tail = g_queue_peek_tail (&self->items);
    if (tail != NULL && tail->type == ITEM_GAP) {
      tail->end = MAX (tail->end, item->end);
      item_free (item);
      return;
    }
  }

  if (item->type == ITEM_DREAM || item->type == ITEM_ATTRIBUTION) {
    gboolean dream = item->type == ITEM_DREAM;
    guint *queued
        = dream ? &self->n_dreams_queued : &self->n_attributions_queued;
    while (*queued >= queue_size) {
      for (GList *l = self->items.head; l != NULL; l = l->next) {
        Item *old = l->data;
        if (old->type == item->type) {
          GST_DEBUG_OBJECT (self,
              "queue full: dropping the %s request for %" GST_TIME_FORMAT,
              dream ? "dream" : "attribution", GST_TIME_ARGS (old->pts));
          g_queue_delete_link (&self->items, l);
          item_free (old);
          (*queued)--;
          if (dream)
            self->dropped++;
          else
            self->attributions_dropped++;
          break;
        }
      }
    }
    (*queued)++;
  }

  g_queue_push_tail (&self->items, item);
  g_cond_signal (&self->dream_cond);
}

static void
queue_item (GstSeqDream *self, Item *item, guint queue_size)
{
  g_mutex_lock (&self->dream_lock);
  gst_seq_dream_queue_item_locked (self, item, queue_size);
  g_mutex_unlock (&self->dream_lock);
}

void
gst_seq_dream_queue_event (GstSeqDream *self, ItemType type, GstEvent *event)
{
  Item *item = g_new0 (Item, 1);
  item->type = type;
  item->event = event;
  queue_item (self, item, G_MAXUINT);
}

void
gst_seq_dream_clear_items_locked (GstSeqDream *self, gboolean keep_sticky)
{
  GQueue kept = G_QUEUE_INIT;
  Item *item;

  self->generation++;
  while ((item = g_queue_pop_head (&self->items)) != NULL) {
    if (keep_sticky && item->type == ITEM_STICKY)
      g_queue_push_tail (&kept, item);
    else
      item_free (item);
  }
  self->items = kept;
  self->n_dreams_queued = 0;
  self->n_attributions_queued = 0;
  g_queue_clear_full (
      &self->attributions_pending, (GDestroyNotify) gst_structure_free);
  g_cond_signal (&self->dream_cond);
}

void
gst_seq_dream_queue_gap (
    GstSeqDream *self, GstClockTime start, GstClockTime end)
{
  Item *item = g_new0 (Item, 1);

  item->type = ITEM_GAP;
  item->start = start;
  item->end = end;
  self->gap_end = end;
  queue_item (self, item, G_MAXUINT);
}

void
gst_seq_dream_queue_gap_until (GstSeqDream *self, guint64 sample)
{
  GstClockTime end = gst_seq_dream_sample_time (self, sample);
  GstClockTime start;

  if (!GST_CLOCK_TIME_IS_VALID (end))
    return;
  start
      = GST_CLOCK_TIME_IS_VALID (self->gap_end) ? self->gap_end : self->base_ts;
  if (end <= start)
    return;
  gst_seq_dream_queue_gap (self, start, end);
}

/* A GAP of zero duration at the start of the stream, queued before the
 * first buffer goes out on src: with a window longer than the buffers no
 * window completes before that push, and a sink on src blocks this thread
 * in preroll until every sink has prerolled, including the one behind
 * dream_src, which would otherwise wait for data forever. */
void
gst_seq_dream_queue_preroll_gap (GstSeqDream *self)
{
  if (GST_CLOCK_TIME_IS_VALID (self->gap_end)
      || !GST_CLOCK_TIME_IS_VALID (self->base_ts))
    return;
  gst_seq_dream_queue_gap (self, self->base_ts, self->base_ts);
}

/* ---- dream requests ---- */

/* The SdDreamConfig of the current properties for a dream of T samples:
 * dream-preset's (the library's defaults and the preset's regularisers,
 * their targets at the window length, see worker_retarget), then the
 * dream-* properties on top, as the command line's options override its
 * --preset. */
static void
make_dream_config (
    GstSeqDream *self, const Settings *s, guint T, SdDreamConfig *config)
{
  SdDreamConfig c = self->preset_config;

  c.cancel = &self->dream_cancel;
  c.length = (int) T;
  if (s->steps > 0)
    c.steps = (int) s->steps;
  if (s->learning_rate > 0.0)
    c.lr = (float) s->learning_rate;
  /* Centred dreams run every step, deep into the class (the paper's
   * "centred" dream); border dreams stop on the boundary
   * (border_tolerance). */

  /* Always: stay in the range the classifier saw in training and, for
   * z-normalised windows, have no more energy than a real window (RMS 1). */
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_CLIP));
  if (self->windower.norm.mode == SD_NORM_PER_SERIES)
    sd_dream_config_add (&c, sd_regularizer_default (SD_REG_NORM_BOUND));

  /* The element's properties (0 = off). */
  if (s->l2 > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_L2);
    r.weight = (float) s->l2;
    sd_dream_config_add (&c, r);
  }
  if (s->tv > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_TV);
    r.weight = (float) s->tv;
    sd_dream_config_add (&c, r);
  }
  if (s->smoothing_alpha > 0.0 && s->smoothing_alpha < 1.0) {
    /* Zero-phase: the causal filter would shift the dream against the
     * window it explains. */
    SdRegularizer r = sd_regularizer_default (SD_REG_EXP_SMOOTH_ZEROPHASE);
    r.param = (float) s->smoothing_alpha;
    sd_dream_config_add (&c, r);
  }
  if (s->gaussian_sigma > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_GAUSSIAN);
    r.param = (float) MIN (s->gaussian_sigma, (gdouble) T);
    sd_dream_config_add (&c, r);
  }
  *config = c;
}

Item *
gst_seq_dream_window_item_new (ItemType type, const gfloat *x, guint T,
    GstClockTime pts, GstClockTime duration, GstClockTime stream_time,
    GstClockTime running_time)
{
  Item *item = g_new0 (Item, 1);

  item->type = type;
  item->pts = pts;
  item->duration = duration;
  item->stream_time = stream_time;
  item->running_time = running_time;
  item->length = T;
  item->window = g_memdup2 (x, T * sizeof (gfloat));
  return item;
}

Item *
gst_seq_dream_make_dream_item_locked (GstSeqDream *self, const Settings *s,
    GstSeqDreamMode mode, gint class_a, gint class_b, const gfloat *x, guint T,
    gdouble mean, gdouble sd, GstClockTime pts, GstClockTime duration,
    GstClockTime stream_time, GstClockTime running_time)
{
  Item *item = gst_seq_dream_window_item_new (
      ITEM_DREAM, x, T, pts, duration, stream_time, running_time);

  item->mode = mode;
  item->class_a = class_a;
  item->class_b = class_b;
  item->mean = mean;
  item->sd = sd;
  item->seed = s->seed + self->dreams_requested++;
  make_dream_config (self, s, T, &item->config);
  return item;
}

/* The "dream" action signal: a request for the last scored window. */
gboolean
gst_seq_dream_dream (GstSeqDream *self, const gchar *label, const gchar *mode)
{
  Settings s;
  GstSeqDreamMode m;
  gint a, b;
  gboolean ok = FALSE;

  gst_seq_dream_get_settings (self, &s);
  if (s.trigger == GST_SEQ_DREAM_TRIGGER_NONE) {
    GST_WARNING_OBJECT (self, "dream-trigger is none: dream signal ignored");
    return FALSE;
  }
  m = s.mode;
  if (mode != NULL && *mode != '\0') {
    GEnumClass *ec = g_type_class_ref (GST_TYPE_SEQ_DREAM_MODE);
    GEnumValue *v = g_enum_get_value_by_nick (ec, mode);
    if (v != NULL)
      m = v->value;
    g_type_class_unref (ec);
    if (v == NULL) {
      GST_WARNING_OBJECT (self,
          "unknown dream mode \"%s\" (centered, border or from-window)", mode);
      return FALSE;
    }
  }

  g_mutex_lock (&self->dream_lock);
  if (!self->started || !self->have_last) {
    GST_WARNING_OBJECT (self, "no window scored yet: nothing to dream about");
    goto done;
  }
  if (label != NULL && *label != '\0') {
    a = sd_model_find_label (self->model, label);
    if (a < 0) {
      GST_WARNING_OBJECT (self, "the model has no class \"%s\"", label);
      goto done;
    }
  } else {
    a = self->last_class;
  }
  b = a == self->last_class ? self->last_runner_up : self->last_class;
  if (b < 0)
    b = a;
  gst_seq_dream_queue_item_locked (self,
      gst_seq_dream_make_dream_item_locked (self, &s, m, a, b,
          self->last_window, self->last_length, self->last_mean, self->last_sd,
          self->last_pts, self->last_duration, self->last_stream_time,
          self->last_running_time),
      s.queue_size);
  ok = TRUE;
done:
  g_mutex_unlock (&self->dream_lock);
  return ok;
}

/* ---- the worker: dreams, and everything that dream_src pushes ---- */

/* Takes dream_src's stream lock when the item (of `generation`) is still
 * current; FALSE, without the lock, when a flush or stop made it stale. */
static gboolean
begin_push (GstSeqDream *self, guint generation)
{
  gboolean ok;

  GST_PAD_STREAM_LOCK (self->dream_srcpad);
  g_mutex_lock (&self->dream_lock);
  ok = !self->flushing && !self->worker_stop && generation == self->generation;
  g_mutex_unlock (&self->dream_lock);
  if (!ok)
    GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
  return ok;
}

static void
end_push (GstSeqDream *self)
{
  GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
}

static gboolean
dream_src_has_segment (GstSeqDream *self)
{
  GstEvent *ev
      = gst_pad_get_sticky_event (self->dream_srcpad, GST_EVENT_SEGMENT, 0);

  if (ev == NULL)
    return FALSE;
  gst_event_unref (ev);
  return TRUE;
}

static void
worker_push_event (GstSeqDream *self, Item *item)
{
  GstEvent *event = item->event;

  if (!begin_push (self, item->generation))
    return;
  item->event = NULL;
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    self->pushed_pos = GST_CLOCK_TIME_NONE;
    self->dream_discont = TRUE;
  }
  GST_DEBUG_OBJECT (self->dream_srcpad, "pushing %" GST_PTR_FORMAT, event);
  gst_pad_push_event (self->dream_srcpad, event);
  end_push (self);
}

/* Only this thread touches dream_src's sticky events, under its stream
 * lock: storing them from the streaming thread while a push of this one
 * was walking the pad's sticky events made that push send the old
 * stream's segment again after the new stream-start (seen under load). */
static void
worker_store_sticky (GstSeqDream *self, Item *item)
{
  GST_PAD_STREAM_LOCK (self->dream_srcpad);
  GST_DEBUG_OBJECT (
      self->dream_srcpad, "storing %" GST_PTR_FORMAT, item->event);
  gst_pad_store_sticky_event (self->dream_srcpad, item->event);
  GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
}

static void
worker_push_gap (GstSeqDream *self, Item *item)
{
  GstClockTime start = item->start;

  if (GST_CLOCK_TIME_IS_VALID (self->pushed_pos) && self->pushed_pos > start)
    start = self->pushed_pos;
  /* empty: nothing to say, except the first (preroll) GAP */
  if (item->end < start
      || (item->end == start && GST_CLOCK_TIME_IS_VALID (self->pushed_pos)))
    return;
  if (!begin_push (self, item->generation))
    return;
  if (dream_src_has_segment (self)) {
    gst_pad_push_event (
        self->dream_srcpad, gst_event_new_gap (start, item->end - start));
    self->pushed_pos = item->end;
  }
  end_push (self);
}

/* The preset's targets (regs[0, preset_config.n_regs) of every dream's
 * config) are computed at the window length in READY->PAUSED; a dream of
 * another length (a window scored at EOS) needs them at its own: computed
 * here, from the reference data, and kept for the next dream of that
 * length. FALSE after posting a warning. */
static gboolean
worker_retarget (GstSeqDream *self, Item *item)
{
  const SdDreamConfig *preset = &self->preset_config;
  g_autoptr (GError) error = NULL;

  if (item->length == self->windower.window
      || !sd_dream_config_needs_reference (preset))
    return TRUE;
  if (self->tail_config.length != (int) item->length) {
    g_clear_pointer (&self->tail_spectra, g_free);
    g_clear_pointer (&self->tail_features, g_free);
    self->tail_config = *preset;
    self->tail_config.length = (int) item->length;
    g_autofree gfloat *margins = NULL; /* preset_config's stay valid */
    if (!sd_dream_config_attach_targets (&self->tail_config, self->model,
            self->reference, &self->tail_spectra, &self->tail_features,
            &margins, NULL, &error)) {
      self->tail_config.length = 0;
      GST_ELEMENT_WARNING (self, STREAM, FAILED,
          ("Dream of %u samples: no dream-preset targets at that length: %s",
              item->length, error->message),
          (NULL));
      return FALSE;
    }
    /* the margins do not depend on the length: the preset's */
    self->tail_config.stop_margin = preset->stop_margin;
    self->tail_config.margin_ceiling = preset->margin_ceiling;
  }
  for (gint k = 0; k < preset->n_regs; k++) {
    item->config.regs[k].spectra = self->tail_config.regs[k].spectra;
    item->config.regs[k].features = self->tail_config.regs[k].features;
  }
  return TRUE;
}

static void
worker_dream (GstSeqDream *self, Item *item)
{
  g_autoptr (GError) error = NULL;
  SdDreamResult *res[1] = { NULL };
  GstStructure *msg, *summary;
  SdDreamSpec spec;
  gboolean stale;
  gfloat *data;
  GstBuffer *buf;
  GstFlowReturn ret;
  gint T;

  if (self->dreamer == NULL) {
    self->dreamer
        = sd_dreamer_new (self->model, 1, (int) self->windower.window, &error);
    if (self->dreamer == NULL) {
      GST_ELEMENT_WARNING (self, LIBRARY, INIT,
          ("Could not set up dreaming: %s", error->message), (NULL));
      return;
    }
  }

  memset (&spec, 0, sizeof (spec));
  switch (item->mode) {
    case GST_SEQ_DREAM_MODE_BORDER:
      spec.objective = sd_objective_border (item->class_a, item->class_b);
      spec.init.type = SD_INIT_GAUSSIAN;
      spec.init.scale = 0.1f;
      break;
    case GST_SEQ_DREAM_MODE_FROM_WINDOW:
      spec.objective = sd_objective_centered (item->class_a);
      spec.init.type = SD_INIT_SERIES;
      spec.init.series = item->window;
      break;
    case GST_SEQ_DREAM_MODE_CENTERED:
    default:
      spec.objective = sd_objective_centered (item->class_a);
      spec.init.type = SD_INIT_GAUSSIAN;
      spec.init.scale = 0.1f;
      break;
  }
  spec.seed = item->seed;
  if (!worker_retarget (self, item))
    return;

  GST_DEBUG_OBJECT (self, "dreaming %s of class %d for %" GST_TIME_FORMAT,
      gst_seq_dream_mode_nick (item->mode), item->class_a,
      GST_TIME_ARGS (item->pts));
  if (!sd_dreamer_run (self->dreamer, &item->config, &spec, 1, res, &error)) {
    if (g_error_matches (error, SD_ERROR, SD_ERROR_CANCELLED)) {
      GST_DEBUG_OBJECT (self, "dream cancelled by a flush or a stop");
      g_clear_error (&error);
      return;
    }
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("Dream of class %d (%s) failed: %s", item->class_a,
            gst_seq_dream_mode_nick (item->mode), error->message),
        (NULL));
    return;
  }

  g_mutex_lock (&self->dream_lock);
  stale = self->flushing || self->worker_stop
          || item->generation != self->generation;
  g_mutex_unlock (&self->dream_lock);
  if (stale) {
    GST_DEBUG_OBJECT (self, "dropping a dream made stale by a flush");
    sd_dream_result_free (res[0]);
    return;
  }

  /* Back to the units of the data. */
  T = res[0]->length;
  data = g_new (gfloat, T);
  for (gint t = 0; t < T; t++)
    data[t] = (gfloat) (res[0]->sequence[t] * item->sd + item->mean);

  msg = gst_seq_dream_make_dream_message (self, item, res[0], data);
  /* the buffer's SeqDreamMeta: the message without the samples */
  summary = gst_structure_copy (msg);
  gst_structure_remove_field (summary, "sequence");
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), msg));
  sd_dream_result_free (res[0]);

  buf = gst_buffer_new_wrapped (data, (gsize) T * sizeof (gfloat));
  gst_buffer_add_seq_dream_meta (buf, summary);
  gst_structure_free (summary);
  GST_BUFFER_PTS (buf) = item->pts;
  GST_BUFFER_DURATION (buf) = item->duration;
  if (!begin_push (self, item->generation)) {
    gst_buffer_unref (buf);
    return;
  }
  if (!dream_src_has_segment (self)) {
    end_push (self);
    gst_buffer_unref (buf);
    return;
  }
  if (self->dream_discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->dream_discont = FALSE;
  }
  ret = gst_pad_push (self->dream_srcpad, buf);
  if (GST_CLOCK_TIME_IS_VALID (item->pts)
      && GST_CLOCK_TIME_IS_VALID (item->duration)) {
    GstClockTime end = item->pts + item->duration;
    if (!GST_CLOCK_TIME_IS_VALID (self->pushed_pos) || end > self->pushed_pos)
      self->pushed_pos = end;
  }
  end_push (self);
  GST_DEBUG_OBJECT (self, "pushed a dream: %s", gst_flow_get_name (ret));
}

gpointer
gst_seq_dream_worker_func (gpointer data)
{
  GstSeqDream *self = GST_SEQ_DREAM (data);

  g_mutex_lock (&self->dream_lock);
  for (;;) {
    Item *item;

    while (!self->worker_stop && g_queue_is_empty (&self->items))
      g_cond_wait (&self->dream_cond, &self->dream_lock);
    if (self->worker_stop)
      break;
    item = g_queue_pop_head (&self->items);
    if (item->type == ITEM_DREAM)
      self->n_dreams_queued--;
    else if (item->type == ITEM_ATTRIBUTION)
      self->n_attributions_queued--;
    self->worker_busy = TRUE;
    g_mutex_unlock (&self->dream_lock);

    switch (item->type) {
      case ITEM_EVENT:
        worker_push_event (self, item);
        break;
      case ITEM_STICKY:
        worker_store_sticky (self, item);
        break;
      case ITEM_GAP:
        worker_push_gap (self, item);
        break;
      case ITEM_DREAM:
        worker_dream (self, item);
        break;
      case ITEM_ATTRIBUTION:
        gst_seq_dream_worker_attribution (self, item);
        break;
    }
    item_free (item);

    g_mutex_lock (&self->dream_lock);
    self->worker_busy = FALSE;
    g_cond_broadcast (&self->idle_cond);
  }
  self->worker_busy = FALSE;
  g_cond_broadcast (&self->idle_cond);
  g_mutex_unlock (&self->dream_lock);
  return NULL;
}

/* At EOS with dream_src unlinked nothing downstream waits for the dreams
 * and attributions still queued: the application would see EOS, stop the
 * pipeline and cancel them, and their seqdream-dream and
 * seqdream-attribution messages would never come. So the streaming thread
 * waits here until the worker has finished what it has (at most
 * dream-queue-size of each); a flush or a stop ends the wait. (With
 * dream_src linked, its EOS leaves the queue after them: the pipeline's
 * EOS comes after their messages.) */
void
gst_seq_dream_wait_for_dreams (GstSeqDream *self)
{
  if (gst_pad_is_linked (self->dream_srcpad))
    return;
  g_mutex_lock (&self->dream_lock);
  if (self->n_dreams_queued > 0 || self->n_attributions_queued > 0
      || self->worker_busy)
    GST_DEBUG_OBJECT (self,
        "EOS: waiting for %u queued dreams and %u "
        "attributions",
        self->n_dreams_queued, self->n_attributions_queued);
  while (self->worker != NULL && !self->worker_stop && !self->flushing
         && (self->n_dreams_queued > 0 || self->n_attributions_queued > 0
             || self->worker_busy))
    g_cond_wait (&self->idle_cond, &self->dream_lock);
  g_mutex_unlock (&self->dream_lock);
}
