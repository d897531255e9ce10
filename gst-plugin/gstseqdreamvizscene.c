/* GStreamer seqdreamviz: what the frames show, from the metas and dreams
 * that arrive (gstseqdreamvizprivate.h): the audio history, the latest
 * result and window, the probability strip's entries, the attribution
 * and its window, the dreams; and the scene of a frame, drawn by
 * gstseqdreamvizdraw.c.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamvizprivate.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_EXTERN (gst_seq_dream_viz_debug);
#define GST_CAT_DEFAULT gst_seq_dream_viz_debug

void
gst_seq_dream_viz_prob_free (gpointer p)
{
  VizProb *e = p;

  g_free (e->p);
  g_free (e);
}

void
gst_seq_dream_viz_dream_free (gpointer p)
{
  Dream *d = p;

  g_free (d->x);
  g_free (d);
}

static const gchar *
label_of (const GValue *labels, guint i, gchar *buf, gsize size)
{
  if (labels != NULL && GST_VALUE_HOLDS_ARRAY (labels)
      && i < gst_value_array_get_size (labels)) {
    const GValue *v = gst_value_array_get_value (labels, i);
    if (G_VALUE_HOLDS_STRING (v) && g_value_get_string (v) != NULL)
      return g_value_get_string (v);
  }
  g_snprintf (buf, size, "%u", i);
  return buf;
}

/* Gives a dream the class of the window with its PTS, newest first. */
void
gst_seq_dream_viz_resolve_class_locked (GstSeqDreamViz *self, Dream *d)
{
  if (d->class_index >= 0 || !GST_CLOCK_TIME_IS_VALID (d->pts))
    return;
  for (guint k = 1; k <= self->history_count; k++) {
    const HistoryEntry *e
        = &self->history[(self->history_pos + HISTORY_LEN - k) % HISTORY_LEN];
    if (e->ts == d->pts) {
      d->class_index = e->class_index;
      return;
    }
  }
}

/* The class labels of a result (n of them; numbers where missing). */
static gchar **
result_labels (const GstStructure *result, gint n)
{
  const GValue *labels = gst_structure_get_value (result, "labels");
  gchar **out = g_new0 (gchar *, n + 1);
  gchar num[16];

  for (gint i = 0; i < n; i++)
    out[i] = g_strdup (label_of (labels, (guint) i, num, sizeof num));
  return out;
}

/* The hint when no seqdream data arrive (NULL when they do): none yet
 * after HINT_AFTER of audio, or none for a while (3 s, or 3 windows). */
static gchar *
make_hint (GstSeqDreamViz *self)
{
  if (!GST_CLOCK_TIME_IS_VALID (self->pos_rt)
      || !GST_CLOCK_TIME_IS_VALID (self->first_rt))
    return NULL;
  if (self->result == NULL)
    return g_strdup (self->pos_rt - self->first_rt >= HINT_AFTER
                         ? "no seqdream data: put seqdream before seqdreamviz"
                         : "waiting for the first scored window");
  if (GST_CLOCK_TIME_IS_VALID (self->result_rt)) {
    GstClockTime quiet = self->pos_rt - MIN (self->pos_rt, self->result_rt);
    GstClockTime limit
        = MAX (3 * GST_SECOND, (GstClockTime) (3e9 * self->win_dur));
    if (quiet > limit)
      return g_strdup_printf (
          "no seqdream data for %.1f s", (gdouble) quiet / GST_SECOND);
  }
  return NULL;
}

/* The newest dream of class cls into the scene (a copy, freed by the
 * caller), or the reason why there is none. */
static gfloat *
pick_dream (GstSeqDreamViz *self, VizScene *sc)
{
  gfloat *x = NULL;

  g_mutex_lock (&self->dream_lock);
  for (GList *l = self->dreams.head; l != NULL && sc->cls >= 0; l = l->next) {
    Dream *d = l->data;
    gst_seq_dream_viz_resolve_class_locked (self, d);
    if (d->class_index == sc->cls) {
      x = g_memdup2 (d->x, d->n * sizeof (gfloat));
      sc->dream_n = d->n;
      sc->dream_p = d->p;
      break;
    }
  }
  if (x == NULL)
    sc->dream_note = g_queue_is_empty (&self->dreams)
                         ? "no dreams: link dream_src"
                         : "no dream of this class yet";
  g_mutex_unlock (&self->dream_lock);
  sc->dream = x;
  return x;
}

void
gst_seq_dream_viz_render (GstSeqDreamViz *self, cairo_t *cr, GstClockTime rt)
{
  VizScene sc = { 0 };
  g_auto (GStrv) labels = NULL;
  g_autofree VizProb *probs = NULL;
  g_autofree gchar *units = NULL, *hint = NULL;
  g_autofree gfloat *dream = NULL;
  const GValue *pv;

  GST_OBJECT_LOCK (self);
  sc.draw = self->draw;
  sc.bg = self->colors[0] & 0xffffff;
  sc.text = self->colors[1] & 0xffffff;
  sc.window_color = self->colors[2] & 0xffffff;
  sc.dream_color = self->colors[3] & 0xffffff;
  sc.history = self->history_s;
  units = g_strdup (self->units);
  GST_OBJECT_UNLOCK (self);
  sc.units = units;
  sc.rt = rt;
  sc.cls = -1;
  sc.novelty = NAN;
  sc.known = TRUE;
  sc.dream_p = -1.0;
  hint = make_hint (self);
  sc.hint = hint;

  if (self->result != NULL) {
    pv = gst_structure_get_value (self->result, "probabilities");
    sc.n_classes = pv != NULL && GST_VALUE_HOLDS_ARRAY (pv)
                       ? (gint) gst_value_array_get_size (pv)
                       : 0;
    gst_structure_get_int (self->result, "class-index", &sc.cls);
    gst_structure_get_double (self->result, "confidence", &sc.confidence);
    gst_structure_get_double (self->result, "novelty", &sc.novelty);
    gst_structure_get_boolean (self->result, "known", &sc.known);
    if (sc.n_classes > 0 && sc.cls >= 0 && sc.cls < sc.n_classes) {
      labels = result_labels (self->result, sc.n_classes);
      sc.labels = (const gchar *const *) labels;
      sc.have_result = TRUE;
    } else {
      sc.cls = -1;
    }
  }
  if (sc.have_result && self->probs_k == sc.n_classes) {
    probs = g_new (VizProb, MAX (1u, g_queue_get_length (&self->probs)));
    for (GList *l = self->probs.head; l != NULL; l = l->next)
      probs[sc.n_probs++] = *(VizProb *) l->data;
    sc.probs = probs;
  }

  /* the attributed window with its band, else the latest window, else
   * the latest 0.1 s of audio */
  if (self->attr != NULL && (sc.draw & VIZ_DRAW_ATTRIBUTION)) {
    sc.x = self->attr_x;
    sc.n = self->attr_n;
    sc.t0 = self->attr_t0;
    sc.duration = self->attr_dur;
    sc.attr = self->attr;
    sc.attr_method = self->attr_method;
  } else if (self->win != NULL) {
    sc.x = self->win;
    sc.n = self->win_len;
    sc.t0 = self->win_t0;
    sc.duration = self->win_dur;
    sc.attr_note = "no attribution: set seqdream's attribution (e.g. ig)";
  } else if (self->hist_len > 1 && self->rate > 0) {
    sc.n = MIN (self->hist_len, (guint) MAX (self->rate / 10, 2));
    sc.x = self->hist + (self->hist_len - sc.n);
    sc.duration = (gdouble) sc.n / self->rate;
    sc.t0 = (gdouble) self->pos_rt / GST_SECOND - sc.duration;
    sc.raw_audio = TRUE;
  }
  if (sc.draw & VIZ_DRAW_DREAM)
    dream = pick_dream (self, &sc);
  sc.dream_label = sc.cls >= 0 ? sc.labels[sc.cls] : "";

  gst_seq_dream_viz_draw (cr, GST_VIDEO_INFO_WIDTH (&self->vinfo),
      GST_VIDEO_INFO_HEIGHT (&self->vinfo), &sc);
}

void
gst_seq_dream_viz_hist_append (GstSeqDreamViz *self, const gfloat *x, guint n)
{
  if (self->hist_cap == 0) {
    self->hist_cap = CLAMP ((guint) self->rate * 4, 1u << 16, 1u << 22);
    self->hist = g_new (gfloat, self->hist_cap);
  }
  if (n >= self->hist_cap) {
    memcpy (
        self->hist, x + (n - self->hist_cap), self->hist_cap * sizeof (gfloat));
    self->hist_len = self->hist_cap;
  } else {
    if (self->hist_len + n > self->hist_cap) {
      guint drop = self->hist_len + n - self->hist_cap;
      memmove (self->hist, self->hist + drop,
          (self->hist_len - drop) * sizeof (gfloat));
      self->hist_len -= drop;
    }
    memcpy (self->hist + self->hist_len, x, n * sizeof (gfloat));
    self->hist_len += n;
  }
  self->n_samples += n;
}

/* A copy of the samples of the window at ts (dur long) from the history,
 * the buffer in hand starting at sample buf_start with PTS pts (a window
 * without timestamps ends with that buffer); NULL when they are no longer
 * (or not) there. *n: its length. */
static gfloat *
copy_window (GstSeqDreamViz *self, GstClockTime ts, GstClockTime dur,
    guint64 buf_start, GstClockTime pts, guint *n)
{
  guint64 hist_start = self->n_samples - self->hist_len;
  gint64 start, len;

  len = GST_CLOCK_TIME_IS_VALID (dur)
            ? (gint64) gst_util_uint64_scale_round (dur, self->rate, GST_SECOND)
            : 0;
  if (len <= 0)
    return NULL;
  if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (pts)) {
    if (ts >= pts)
      start = (gint64) buf_start
              + (gint64) gst_util_uint64_scale_round (
                  ts - pts, self->rate, GST_SECOND);
    else
      start = (gint64) buf_start
              - (gint64) gst_util_uint64_scale_round (
                  pts - ts, self->rate, GST_SECOND);
  } else {
    start = (gint64) self->n_samples - len; /* ends with the buffer */
  }
  start = MAX (start, (gint64) hist_start);
  if (start + len > (gint64) self->n_samples)
    len = (gint64) self->n_samples - start;
  if (len <= 1)
    return NULL;
  *n = (guint) len;
  return g_memdup2 (
      self->hist + (start - (gint64) hist_start), len * sizeof (gfloat));
}

/* Stream time (s) of a message's window start, and its duration (s). */
static void
window_times (const GstStructure *s, gdouble *t0, gdouble *dur)
{
  GstClockTime st = GST_CLOCK_TIME_NONE, d = GST_CLOCK_TIME_NONE;

  if (!gst_structure_get_uint64 (s, "stream-time", &st)
      || !GST_CLOCK_TIME_IS_VALID (st))
    gst_structure_get_uint64 (s, "timestamp", &st);
  gst_structure_get_uint64 (s, "duration", &d);
  *t0 = GST_CLOCK_TIME_IS_VALID (st) ? (gdouble) st / GST_SECOND : 0.0;
  *dur = GST_CLOCK_TIME_IS_VALID (d) ? (gdouble) d / GST_SECOND : 0.0;
}

/* The probabilities of a result into the strip's history; entries older
 * than `history` before it go. */
static void
add_prob (GstSeqDreamViz *self, const GstStructure *s, gint cls)
{
  const GValue *pv = gst_structure_get_value (s, "probabilities");
  gboolean known = TRUE;
  gdouble t0, dur, history;
  VizProb *e;
  guint K;

  if (pv == NULL || !GST_VALUE_HOLDS_ARRAY (pv))
    return;
  K = gst_value_array_get_size (pv);
  if (K == 0 || cls < 0 || (guint) cls >= K)
    return;
  if ((guint) self->probs_k != K) {
    g_queue_clear_full (&self->probs, gst_seq_dream_viz_prob_free);
    self->probs_k = (gint) K;
  }
  gst_structure_get_boolean (s, "known", &known);
  window_times (s, &t0, &dur);
  e = g_new0 (VizProb, 1);
  e->t = t0 + dur;
  e->cls = cls;
  e->known = known;
  e->p = g_new (gfloat, K);
  for (guint k = 0; k < K; k++) {
    const GValue *v = gst_value_array_get_value (pv, k);
    e->p[k] = G_VALUE_HOLDS_DOUBLE (v) ? (gfloat) g_value_get_double (v) : 0;
  }
  /* a restart of stream time (a new segment) starts the strip again */
  if (!g_queue_is_empty (&self->probs)
      && ((VizProb *) g_queue_peek_tail (&self->probs))->t > e->t)
    g_queue_clear_full (&self->probs, gst_seq_dream_viz_prob_free);
  g_queue_push_tail (&self->probs, e);
  GST_OBJECT_LOCK (self);
  history = self->history_s;
  GST_OBJECT_UNLOCK (self);
  while (g_queue_get_length (&self->probs) > MAX_PROBS
         || ((VizProb *) g_queue_peek_head (&self->probs))->t
                < e->t - history - dur)
    gst_seq_dream_viz_prob_free (g_queue_pop_head (&self->probs));
}

/* Takes the result of a SeqDreamMeta on the buffer that starts at sample
 * buf_start with PTS pts. */
void
gst_seq_dream_viz_take_result (GstSeqDreamViz *self, const GstStructure *s,
    guint64 buf_start, GstClockTime pts)
{
  GstClockTime ts = GST_CLOCK_TIME_NONE, dur = GST_CLOCK_TIME_NONE;
  gint cls = -1;
  gfloat *x;
  guint n = 0;

  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_uint64 (s, "duration", &dur);
  gst_structure_get_int (s, "class-index", &cls);

  g_clear_pointer (&self->result, gst_structure_free);
  self->result = gst_structure_copy (s);
  add_prob (self, s, cls);

  g_mutex_lock (&self->dream_lock);
  self->history[self->history_pos].ts = ts;
  self->history[self->history_pos].class_index = cls;
  self->history_pos = (self->history_pos + 1) % HISTORY_LEN;
  self->history_count = MIN (self->history_count + 1, HISTORY_LEN);
  g_mutex_unlock (&self->dream_lock);

  x = copy_window (self, ts, dur, buf_start, pts, &n);
  if (x == NULL)
    return;
  g_free (self->win);
  self->win = x;
  self->win_len = n;
  window_times (s, &self->win_t0, &self->win_dur);
}

/* Takes a SeqDreamAttributionMeta: its values and the samples of its
 * window, which lie before this buffer (the attribution is computed
 * after its window has passed). */
void
gst_seq_dream_viz_take_attribution (GstSeqDreamViz *self, const GstStructure *s,
    guint64 buf_start, GstClockTime pts)
{
  GstClockTime ts = GST_CLOCK_TIME_NONE, dur = GST_CLOCK_TIME_NONE;
  const GValue *av = gst_structure_get_value (s, "attribution");
  guint n = 0, na;
  gfloat *x;

  if (av == NULL || !GST_VALUE_HOLDS_ARRAY (av))
    return;
  gst_structure_get_uint64 (s, "timestamp", &ts);
  gst_structure_get_uint64 (s, "duration", &dur);
  x = copy_window (self, ts, dur, buf_start, pts, &n);
  na = gst_value_array_get_size (av);
  if (x == NULL || na < 2) {
    GST_DEBUG_OBJECT (self,
        "attribution of %" GST_TIME_FORMAT
        ": its window is no longer in the history",
        GST_TIME_ARGS (ts));
    g_free (x);
    return;
  }
  n = MIN (n, na); /* (the duration rounds to within a sample) */
  g_free (self->attr);
  g_free (self->attr_x);
  g_free (self->attr_method);
  self->attr_x = x;
  self->attr = g_new (gfloat, n);
  for (guint i = 0; i < n; i++) {
    const GValue *v = gst_value_array_get_value (av, i);
    self->attr[i]
        = G_VALUE_HOLDS_DOUBLE (v) ? (gfloat) g_value_get_double (v) : 0.0f;
  }
  self->attr_n = n;
  self->attr_method = g_strdup (gst_structure_get_string (s, "method"));
  if (self->attr_method == NULL)
    self->attr_method = g_strdup ("?");
  window_times (s, &self->attr_t0, &self->attr_dur);
}
