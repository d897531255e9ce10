/* GStreamer seqdream: attributions of scored windows
 * (gstseqdreamattribution.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamattribution.h"
#include "gstseqdreammessage.h"
#include "gstseqdreammeta.h"

#include <string.h>

#define DEFAULT_ATTRIBUTION GST_SEQ_DREAM_ATTRIBUTION_NONE
#define DEFAULT_ATTRIBUTION_INTERVAL GST_SECOND
/* 0: each method's own default below */
#define DEFAULT_ATTRIBUTION_STEPS 0
/* Integrated gradients in the element start from 8 trapezoid intervals
 * (the library's default is 32): refinement still brings every window
 * within 1 % completeness, the attributions stay within 6 % (relative L2)
 * of 1024 intervals, and a normal window costs half the rows
 * (docs/element-seqdream.md, "Cost"). SmoothGrad keeps the library's 32
 * noisy copies: fewer leave visible noise. */
#define ELEMENT_IG_STEPS 8

/* ---- properties ---- */

void
gst_seq_dream_attribution_install_properties (
    GObjectClass *gobject_class, guint first)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  /**
   * GstSeqDream:attribution:
   *
   * Which samples of a window made its class: computed on the dream
   * thread for at most one window per attribution-interval and posted as
   * a "seqdream-attribution" message (and a SeqDreamAttributionMeta on
   * the next buffer leaving src).
   */
  g_object_class_install_property (gobject_class,
      first + ATTRIBUTION_PROP_METHOD,
      g_param_spec_enum ("attribution", "Attribution",
          "Attribution method for the windows' classes (none: off)",
          GST_TYPE_SEQ_DREAM_ATTRIBUTION, DEFAULT_ATTRIBUTION,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class,
      first + ATTRIBUTION_PROP_INTERVAL,
      g_param_spec_uint64 ("attribution-interval", "Attribution interval",
          "Stream time (ns) from one attributed window to the next: the "
          "first window, then the first at least this long after the last "
          "(0: every window)",
          0, G_MAXUINT64, DEFAULT_ATTRIBUTION_INTERVAL,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class,
      first + ATTRIBUTION_PROP_STEPS,
      g_param_spec_uint ("attribution-steps", "Attribution steps",
          "Integrated gradients: trapezoid intervals before refinement (a "
          "window whose completeness misses 1 % gets more, up to 512); "
          "SmoothGrad: noisy copies. The cost of one attribution grows with "
          "it. 0: 8 intervals for ig, 32 copies for smoothgrad",
          0, 512, DEFAULT_ATTRIBUTION_STEPS, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class,
      first + ATTRIBUTION_PROP_DROPPED,
      g_param_spec_uint64 ("attribution-dropped", "Attributions dropped",
          "Attribution requests dropped because dream-queue-size of them "
          "were waiting (since start)",
          0, G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  gst_type_mark_as_plugin_api (GST_TYPE_SEQ_DREAM_ATTRIBUTION, 0);
}

void
gst_seq_dream_attribution_init_settings (Settings *s)
{
  s->attribution = DEFAULT_ATTRIBUTION;
  s->attribution_interval = DEFAULT_ATTRIBUTION_INTERVAL;
  s->attribution_steps = DEFAULT_ATTRIBUTION_STEPS;
}

void
gst_seq_dream_attribution_set_property (
    GstSeqDream *self, guint which, const GValue *value)
{
  GST_OBJECT_LOCK (self);
  switch (which) {
    case ATTRIBUTION_PROP_METHOD:
      self->settings.attribution = g_value_get_enum (value);
      break;
    case ATTRIBUTION_PROP_INTERVAL:
      self->settings.attribution_interval = g_value_get_uint64 (value);
      break;
    case ATTRIBUTION_PROP_STEPS:
      self->settings.attribution_steps = g_value_get_uint (value);
      break;
    default:
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

void
gst_seq_dream_attribution_get_property (
    GstSeqDream *self, guint which, GValue *value)
{
  if (which == ATTRIBUTION_PROP_DROPPED) {
    g_mutex_lock (&self->dream_lock);
    g_value_set_uint64 (value, self->attributions_dropped);
    g_mutex_unlock (&self->dream_lock);
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (which) {
    case ATTRIBUTION_PROP_METHOD:
      g_value_set_enum (value, self->settings.attribution);
      break;
    case ATTRIBUTION_PROP_INTERVAL:
      g_value_set_uint64 (value, self->settings.attribution_interval);
      break;
    case ATTRIBUTION_PROP_STEPS:
      g_value_set_uint (value, self->settings.attribution_steps);
      break;
    default:
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- requests (streaming thread) ---- */

void
gst_seq_dream_maybe_attribute (GstSeqDream *self, const Settings *s,
    const gfloat *x, guint T, gint cls, guint64 start_sample, GstClockTime ts,
    GstClockTime duration, GstClockTime stream_time, GstClockTime running_time)
{
  GstClockTime pos;
  Item *item;

  if (s->attribution == GST_SEQ_DREAM_ATTRIBUTION_NONE)
    return;
  /* as dream-trigger=interval: the first window, then the first at least
   * attribution-interval after the last one */
  pos = GST_CLOCK_TIME_IS_VALID (ts)
            ? ts
            : gst_util_uint64_scale_int (start_sample, GST_SECOND, self->rate);
  if (GST_CLOCK_TIME_IS_VALID (self->last_attribution_pos)
      && pos >= self->last_attribution_pos
      && pos - self->last_attribution_pos < s->attribution_interval)
    return;
  self->last_attribution_pos = pos;

  item = gst_seq_dream_window_item_new (
      ITEM_ATTRIBUTION, x, T, ts, duration, stream_time, running_time);
  item->method = s->attribution;
  item->gain = s->gain;
  item->steps = s->attribution_steps;
  item->class_a = cls;
  item->seed = s->seed;
  g_mutex_lock (&self->dream_lock);
  gst_seq_dream_queue_item_locked (self, item, s->queue_size);
  g_mutex_unlock (&self->dream_lock);
}

static SdAttributionMethod
library_method (GstSeqDreamAttribution m)
{
  switch (m) {
    case GST_SEQ_DREAM_ATTRIBUTION_GRADXINPUT:
      return SD_ATTRIBUTION_GRADIENT_X_INPUT;
    case GST_SEQ_DREAM_ATTRIBUTION_IG:
      return SD_ATTRIBUTION_INTEGRATED_GRADIENTS;
    case GST_SEQ_DREAM_ATTRIBUTION_SMOOTHGRAD:
      return SD_ATTRIBUTION_SMOOTHGRAD;
    case GST_SEQ_DREAM_ATTRIBUTION_SALIENCY:
    default:
      return SD_ATTRIBUTION_SALIENCY;
  }
}

/* The attributor, made on first use for windows of up to the window
 * length; its batch holds about 2^16 samples (32 rows of 2048: the 33
 * points of integrated gradients' default 32 intervals in two passes). */
static gboolean
ensure_attributor (GstSeqDream *self)
{
  g_autoptr (GError) error = NULL;
  gint T = (gint) self->windower.window;

  if (self->attributor != NULL)
    return TRUE;
  self->attributor = sd_attributor_new (
      self->model, CLAMP (131072 / MAX (T, 1), 1, 64), T, &error);
  if (self->attributor == NULL) {
    GST_ELEMENT_WARNING (self, LIBRARY, INIT,
        ("Could not set up attributions: %s", error->message), (NULL));
    return FALSE;
  }
  return TRUE;
}

void
gst_seq_dream_worker_attribution (GstSeqDream *self, Item *item)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdAttribution) a = NULL;
  g_autofree gfloat *x = NULL;
  SdAttributionConfig c;
  GstStructure *st;
  gboolean stale;
  guint T = item->length;

  if (!ensure_attributor (self))
    return;
  /* the model's units: what the windower normalises */
  x = g_new (gfloat, T);
  for (guint t = 0; t < T; t++)
    x[t] = (gfloat) (item->gain * item->window[t]);
  sd_attribution_config_init (&c, library_method (item->method));
  c.target = item->class_a;
  c.normalization = &self->windower.norm;
  c.seed = item->seed;
  c.steps = item->steps > 0 ? (int) item->steps : ELEMENT_IG_STEPS;
  if (item->steps > 0)
    c.samples = (int) item->steps;
  a = sd_attributor_run (self->attributor, &c, x, 1, (int) T, &error);
  if (a == NULL) {
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("Attribution of the window at %" GST_TIME_FORMAT " failed: %s",
            GST_TIME_ARGS (item->pts), error->message),
        (NULL));
    return;
  }
  /* Gradients per unit of the model's input become per unit of the
   * stream (x_model = gain x); gradient x input and integrated gradients
   * are in logit units, whatever the units of x. */
  if (item->method == GST_SEQ_DREAM_ATTRIBUTION_SALIENCY
      || item->method == GST_SEQ_DREAM_ATTRIBUTION_SMOOTHGRAD)
    for (guint t = 0; t < T; t++)
      a->values[t] = (gfloat) (a->values[t] * item->gain);

  g_mutex_lock (&self->dream_lock);
  stale = self->flushing || self->worker_stop
          || item->generation != self->generation;
  g_mutex_unlock (&self->dream_lock);
  if (stale) {
    GST_DEBUG_OBJECT (self, "dropping an attribution made stale by a flush");
    return;
  }

  st = gst_seq_dream_make_attribution_message (self, item, a);
  GST_DEBUG_OBJECT (self, "attribution %s of class %d for %" GST_TIME_FORMAT,
      sd_attribution_method_to_string (a->method), item->class_a,
      GST_TIME_ARGS (item->pts));
  g_mutex_lock (&self->dream_lock);
  if (g_queue_get_length (&self->attributions_pending)
      >= MAX_PENDING_ATTRIBUTIONS)
    gst_structure_free (g_queue_pop_head (&self->attributions_pending));
  g_queue_push_tail (&self->attributions_pending, gst_structure_copy (st));
  g_mutex_unlock (&self->dream_lock);
  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), st));
}

GstBuffer *
gst_seq_dream_attach_attributions (GstSeqDream *self, GstBuffer *buffer)
{
  GQueue pending;

  g_mutex_lock (&self->dream_lock);
  pending = self->attributions_pending;
  g_queue_init (&self->attributions_pending);
  g_mutex_unlock (&self->dream_lock);
  if (g_queue_is_empty (&pending))
    return buffer;

  buffer = gst_buffer_make_writable (buffer);
  for (GList *l = pending.head; l != NULL; l = l->next)
    gst_buffer_add_seq_dream_attribution_meta (buffer, l->data);
  g_queue_clear_full (&pending, (GDestroyNotify) gst_structure_free);
  return buffer;
}
