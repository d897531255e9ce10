/* GStreamer seqdreamviz: drawing one frame (gstseqdreamvizdraw.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamvizdraw.h"

#include <math.h>
#include <string.h>

/* Tableau-like, distinguishable on the dark background. */
static const guint32 class_palette[] = { 0x4e9be0, 0xf28e2b, 0x59c26b, 0xe15759,
  0xb07aa1, 0xedc948, 0x76b7b2, 0xff9da7, 0x9c755f, 0xbab0ac };

guint32
gst_seq_dream_viz_class_color (gint class_index)
{
  guint n = G_N_ELEMENTS (class_palette);
  return class_palette[(guint) ABS (class_index) % n];
}

static void
set_rgb (cairo_t *cr, guint32 rgb)
{
  cairo_set_source_rgb (cr, ((rgb >> 16) & 0xff) / 255.0,
      ((rgb >> 8) & 0xff) / 255.0, (rgb & 0xff) / 255.0);
}

void
gst_seq_dream_viz_layout (gint W, gint H, guint draw, VizLayout *l)
{
  const gdouble f = CLAMP (H / 28.0, 7.0, 28.0);
  const gdouble m = MAX (2.0, W / 50.0), axis_w = 4.2 * f, axis_h = 1.5 * f;
  const gboolean top = (draw & (VIZ_DRAW_WINDOW | VIZ_DRAW_DREAM)) != 0;
  const gboolean strip = (draw & VIZ_DRAW_PROBABILITIES) != 0;
  const gboolean band
      = (draw & VIZ_DRAW_WINDOW) && (draw & VIZ_DRAW_ATTRIBUTION);
  gdouble top_y0 = 2.2 * f + 1.4 * f, top_y1, split;
  gdouble band_h = band ? MAX (6.0, H / 22.0) : 0.0;

  l->font = f;
  l->header = (VizRect){ 0, 0, W, 2.2 * f };
  /* the top row ends where the strip (and its title) begins */
  top_y1 = strip && top ? H * 0.58 : H - m;
  top_y1 -= axis_h + band_h + (band ? 3.0 : 0.0);

  /* window left, dream right (each alone: the whole width) */
  if ((draw & VIZ_DRAW_WINDOW) && (draw & VIZ_DRAW_DREAM))
    split = W * 0.62;
  else if (draw & VIZ_DRAW_WINDOW)
    split = W - m;
  else
    split = m;
  memset (&l->window, 0, sizeof (VizRect));
  memset (&l->band, 0, sizeof (VizRect));
  memset (&l->dream, 0, sizeof (VizRect));
  memset (&l->strip, 0, sizeof (VizRect));
  memset (&l->legend, 0, sizeof (VizRect));
  if (draw & VIZ_DRAW_WINDOW) {
    l->window = (VizRect){ m + axis_w, top_y0, split, top_y1 };
    if (band)
      l->band
          = (VizRect){ m + axis_w, top_y1 + 3.0, split, top_y1 + 3.0 + band_h };
  }
  if (draw & VIZ_DRAW_DREAM)
    l->dream = (VizRect){ split + axis_w, top_y0, W - m, top_y1 };
  if (strip) {
    gdouble y0 = top ? H * 0.58 + 1.6 * f : top_y0;
    l->strip = (VizRect){ m + axis_w, y0, W * 0.76, H - axis_h - m / 2 };
    l->legend = (VizRect){ W * 0.76 + m, y0, W - m, H - axis_h - m / 2 };
  }
}

/* ---- pieces ---- */

static void
text_at (cairo_t *cr, gdouble x, gdouble y, const gchar *s, gdouble align)
{
  cairo_text_extents_t e;

  cairo_text_extents (cr, s, &e);
  cairo_move_to (cr, x - align * e.x_advance, y);
  cairo_show_text (cr, s);
}

/* text_at, the font made smaller (down to 5 px) when s is wider than
 * max_w, so that labels and notes stay inside their column or panel. */
static void
text_fit (cairo_t *cr, gdouble x, gdouble y, const gchar *s, gdouble align,
    gdouble max_w)
{
  cairo_text_extents_t e;
  cairo_font_extents_t fe;

  cairo_text_extents (cr, s, &e);
  if (e.x_advance <= max_w || max_w <= 0) {
    text_at (cr, x, y, s, align);
    return;
  }
  cairo_save (cr);
  cairo_font_extents (cr, &fe);
  cairo_set_font_size (cr, MAX (5.0, fe.height * 0.8 * max_w / e.x_advance));
  text_at (cr, x, y, s, align);
  cairo_restore (cr);
}

static void
frame_rect (cairo_t *cr, const VizRect *r)
{
  set_rgb (cr, VIZ_COLOR_FRAME);
  cairo_set_line_width (cr, 1.0);
  cairo_rectangle (
      cr, r->x0 - 0.5, r->y0 - 0.5, r->x1 - r->x0 + 1, r->y1 - r->y0 + 1);
  cairo_stroke (cr);
}

/* x[0..n) as a polyline in r, amp at the top and -amp at the bottom. */
static void
draw_series (cairo_t *cr, const gfloat *x, guint n, const VizRect *r,
    gdouble amp, guint32 color, gdouble width)
{
  const gdouble mid = (r->y0 + r->y1) / 2, half = (r->y1 - r->y0) / 2 - 1;
  guint step = 1;

  if (n < 2)
    return;
  if (n > 4 * (guint) (r->x1 - r->x0))
    step = n / (2 * (guint) (r->x1 - r->x0));
  cairo_save (cr);
  cairo_rectangle (cr, r->x0, r->y0, r->x1 - r->x0, r->y1 - r->y0);
  cairo_clip (cr);
  set_rgb (cr, color);
  cairo_set_line_width (cr, width);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  for (guint i = 0; i < n; i += step) {
    gdouble px = r->x0 + (r->x1 - r->x0) * i / (n - 1);
    gdouble py = mid - CLAMP (x[i] / amp, -1.0, 1.0) * half;
    if (i == 0)
      cairo_move_to (cr, px, py);
    else
      cairo_line_to (cr, px, py);
  }
  cairo_stroke (cr);
  cairo_restore (cr);
}

/* The y axis of a signal panel: +amp, 0, -amp and the units. */
static void
y_axis (
    cairo_t *cr, const VizScene *sc, const VizRect *r, gdouble amp, gdouble f)
{
  const gdouble mid = (r->y0 + r->y1) / 2;
  gchar s[32];

  frame_rect (cr, r);
  cairo_move_to (cr, r->x0, mid);
  cairo_line_to (cr, r->x1, mid);
  cairo_stroke (cr);
  set_rgb (cr, sc->text);
  g_snprintf (s, sizeof s, "%+.3g", amp);
  text_at (cr, r->x0 - 0.3 * f, r->y0 + 0.8 * f, s, 1.0);
  text_at (cr, r->x0 - 0.3 * f, mid + 0.35 * f, "0", 1.0);
  g_snprintf (s, sizeof s, "%+.3g", -amp);
  text_at (cr, r->x0 - 0.3 * f, r->y1, s, 1.0);
  text_fit (cr, r->x0 - 0.3 * f, mid + 1.5 * f, sc->units, 1.0, 3.8 * f);
}

/* The panel's title, above it. */
static void
title (cairo_t *cr, const VizScene *sc, const VizRect *r, gdouble f,
    const gchar *s)
{
  set_rgb (cr, sc->text);
  text_at (cr, r->x0, r->y0 - 0.45 * f, s, 0.0);
}

/* A note in the middle of a panel (hint, missing data), on a box of the
 * background colour: readable over a waveform. */
static void
note (cairo_t *cr, const VizScene *sc, const VizRect *r, const gchar *s)
{
  const gdouble xc = (r->x0 + r->x1) / 2, yc = (r->y0 + r->y1) / 2;
  cairo_text_extents_t e;
  gdouble w;

  cairo_text_extents (cr, s, &e);
  w = MIN (e.x_advance, r->x1 - r->x0 - 4);
  set_rgb (cr, sc->bg);
  cairo_rectangle (
      cr, xc - w / 2 - 2, yc - e.height - 2, w + 4, e.height * 1.6 + 4);
  cairo_fill (cr);
  set_rgb (cr, sc->text);
  text_fit (cr, xc, yc, s, 0.5, r->x1 - r->x0 - 4);
}

static gdouble
max_abs (const gfloat *x, guint n)
{
  gdouble a = 0.0;

  for (guint i = 0; i < n; i++)
    if (isfinite (x[i]))
      a = MAX (a, fabs (x[i]));
  return a > 0.0 ? a : 1.0;
}

/* c0 + (c1 - c0) w, per channel (w in [0, 1]). */
static guint32
mix (guint32 c0, guint32 c1, gdouble w)
{
  guint32 out = 0;

  for (gint sh = 0; sh <= 16; sh += 8) {
    gdouble a = (c0 >> sh) & 0xff, b = (c1 >> sh) & 0xff;
    out |= (guint32) lround (a + (b - a) * w) << sh;
  }
  return out;
}

/* ---- panels ---- */

static void
draw_window (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const VizRect *r = &l->window;
  const gdouble f = l->font;
  gdouble amp = sc->x != NULL ? max_abs (sc->x, sc->n) : 1.0;
  gchar s[128];

  y_axis (cr, sc, r, amp, f);
  if (sc->x != NULL && sc->n > 1) {
    g_snprintf (s, sizeof s, "%s %.3f s + %.0f ms%s%s",
        sc->raw_audio ? "audio (no scored window)" : "window", sc->t0,
        sc->duration * 1000.0, sc->attr != NULL ? ", attribution " : "",
        sc->attr != NULL ? sc->attr_method : "");
    title (cr, sc, r, f, s);
    draw_series (
        cr, sc->x, sc->n, r, amp, sc->window_color, MAX (1.0, f / 12.0));
    /* time axis under the band: start, middle, end in s */
    VizRect below = l->band.y1 > 0 ? l->band : *r;
    set_rgb (cr, sc->text);
    for (gint k = 0; k <= 2; k++) {
      g_snprintf (s, sizeof s, "%.3f", sc->t0 + sc->duration * k / 2.0);
      text_at (cr, r->x0 + (r->x1 - r->x0) * k / 2.0, below.y1 + 1.1 * f, s,
          k / 2.0);
    }
    text_at (cr, r->x0 + (r->x1 - r->x0) * 0.25, below.y1 + 1.1 * f, "time (s)",
        0.5);
  } else {
    title (cr, sc, r, f, "window");
  }
  if (sc->hint != NULL)
    note (cr, sc, r, sc->hint);
}

/* The attribution as colours under the window: blue (negative), the
 * band's dark grey (0), orange-red (positive), scaled by max |a|. */
static void
draw_band (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const VizRect *r = &l->band;
  const gint px0 = (gint) r->x0, px1 = (gint) r->x1;
  gdouble amax;

  if (sc->attr == NULL || sc->n < 1) {
    set_rgb (cr, VIZ_COLOR_FRAME);
    cairo_set_line_width (cr, 1.0);
    cairo_rectangle (
        cr, r->x0 + 0.5, r->y0 + 0.5, r->x1 - r->x0 - 1, r->y1 - r->y0 - 1);
    cairo_stroke (cr);
    if (sc->attr_note != NULL && sc->hint == NULL) {
      cairo_save (cr);
      cairo_set_font_size (cr, MIN (l->font, (r->y1 - r->y0) * 0.8));
      set_rgb (cr, sc->text);
      text_fit (cr, (r->x0 + r->x1) / 2, r->y1 - (r->y1 - r->y0) * 0.25,
          sc->attr_note, 0.5, r->x1 - r->x0 - 4);
      cairo_restore (cr);
    }
    return;
  }
  amax = max_abs (sc->attr, sc->n);
  /* one column per pixel: the sample of largest magnitude under it */
  for (gint px = px0; px < px1; px++) {
    guint i0 = (guint) ((gint64) (px - px0) * sc->n / (px1 - px0));
    guint i1 = (guint) ((gint64) (px - px0 + 1) * sc->n / (px1 - px0));
    gdouble a = 0.0;
    for (guint i = i0; i < MAX (i1, i0 + 1) && i < sc->n; i++)
      if (fabs (sc->attr[i]) > fabs (a))
        a = sc->attr[i];
    a /= amax;
    set_rgb (cr, a >= 0 ? mix (VIZ_COLOR_HEAT_ZERO, VIZ_COLOR_HEAT_POS, a)
                        : mix (VIZ_COLOR_HEAT_ZERO, VIZ_COLOR_HEAT_NEG, -a));
    cairo_rectangle (cr, px, r->y0, 1, r->y1 - r->y0);
    cairo_fill (cr);
  }
}

static void
draw_dream (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const VizRect *r = &l->dream;
  const gdouble f = l->font;
  gdouble amp = sc->dream != NULL ? max_abs (sc->dream, sc->dream_n) : 1.0;
  gchar s[128];

  y_axis (cr, sc, r, amp, f);
  if (sc->dream == NULL) {
    title (cr, sc, r, f, "dream");
    if (sc->dream_note != NULL) {
      cairo_save (cr);
      cairo_set_font_size (cr, f * 0.8);
      note (cr, sc, r, sc->dream_note);
      cairo_restore (cr);
    }
    return;
  }
  if (sc->dream_p >= 0.0)
    g_snprintf (s, sizeof s, "dream: %s, p %.2f", sc->dream_label, sc->dream_p);
  else
    g_snprintf (s, sizeof s, "dream: %s", sc->dream_label);
  title (cr, sc, r, f, s);
  draw_series (
      cr, sc->dream, sc->dream_n, r, amp, sc->dream_color, MAX (1.5, f / 8.0));
  set_rgb (cr, sc->text);
  g_snprintf (s, sizeof s, "%u samples", sc->dream_n);
  text_at (cr, (r->x0 + r->x1) / 2, r->y1 + 1.1 * f, s, 0.5);
}

/* The probability of every class over the last `history` seconds (x: s
 * before the latest window's end), windows the model does not know shaded
 * in VIZ_COLOR_UNKNOWN. */
static void
draw_strip (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const VizRect *r = &l->strip;
  const gdouble f = l->font, w = r->x1 - r->x0, h = r->y1 - r->y0;
  gdouble t_end = sc->n_probs > 0 ? sc->probs[sc->n_probs - 1].t : 0.0;
  gchar s[64];

  title (cr, sc, r, f, "class probability");
  frame_rect (cr, r);
  set_rgb (cr, sc->text);
  text_at (cr, r->x0 - 0.3 * f, r->y0 + 0.8 * f, "1", 1.0);
  text_at (cr, r->x0 - 0.3 * f, r->y1, "0", 1.0);
  text_at (cr, r->x0 - 0.3 * f, (r->y0 + r->y1) / 2 + 0.35 * f, "p", 1.0);
  for (gint k = 0; k <= 4; k++) {
    g_snprintf (s, sizeof s, "%.3g", -sc->history * (4 - k) / 4.0);
    text_at (cr, r->x0 + w * k / 4.0, r->y1 + 1.1 * f, s, k / 4.0);
  }
  text_at (cr, r->x0 + w * 0.375, r->y1 + 1.1 * f, "time (s)", 0.5);
  if (sc->n_probs == 0)
    return;

  cairo_save (cr);
  cairo_rectangle (cr, r->x0, r->y0, w, h);
  cairo_clip (cr);
#define TX(t) (r->x1 - ((t_end - (t)) / sc->history) * w)
  /* unknown windows: from the previous window's end to theirs */
  set_rgb (cr, mix (sc->bg, VIZ_COLOR_UNKNOWN, 0.35));
  for (guint i = 0; i < sc->n_probs; i++)
    if (!sc->probs[i].known) {
      gdouble x1 = TX (sc->probs[i].t);
      gdouble x0 = i > 0 ? TX (sc->probs[i - 1].t) : x1 - 1;
      cairo_rectangle (cr, floor (x0), r->y0, MAX (1.0, ceil (x1 - x0)), h);
      cairo_fill (cr);
    }
  cairo_set_line_width (cr, MAX (1.0, f / 8.0));
  for (gint k = 0; k < sc->n_classes; k++) {
    set_rgb (cr, gst_seq_dream_viz_class_color (k));
    for (guint i = 0; i < sc->n_probs; i++) {
      gdouble x = TX (sc->probs[i].t);
      gdouble y = r->y1 - 1 - CLAMP (sc->probs[i].p[k], 0.0, 1.0) * (h - 2);
      if (i == 0)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
    }
    if (sc->n_probs == 1) /* one window: a short dash at its time */
      cairo_rel_line_to (cr, -4, 0);
    cairo_stroke (cr);
  }
#undef TX
  cairo_restore (cr);
}

static void
draw_legend (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const VizRect *r = &l->legend;
  const gdouble row
      = MIN (1.4 * l->font, (r->y1 - r->y0) / MAX (1, sc->n_classes));
  const VizProb *last = sc->n_probs > 0 ? &sc->probs[sc->n_probs - 1] : NULL;
  gchar s[96];

  for (gint k = 0; k < sc->n_classes; k++) {
    gdouble y = r->y0 + row * k;
    set_rgb (cr, gst_seq_dream_viz_class_color (k));
    cairo_rectangle (cr, r->x0, y + row * 0.2, row * 0.6, row * 0.6);
    cairo_fill (cr);
    set_rgb (cr, sc->text);
    if (last != NULL)
      g_snprintf (s, sizeof s, "%s %.0f%%", sc->labels[k], 100.0 * last->p[k]);
    else
      g_snprintf (s, sizeof s, "%s", sc->labels[k]);
    text_at (cr, r->x0 + row * 0.9, y + row * 0.75, s, 0.0);
  }
}

/* h:mm:ss.mmm, the class, its p, and the known/unknown badge. */
static void
draw_header (cairo_t *cr, const VizScene *sc, const VizLayout *l)
{
  const gdouble f = l->font;
  GstClockTime t = sc->rt;
  gchar s[192];
  cairo_text_extents_t e;
  gdouble x;

  set_rgb (cr, sc->text);
  cairo_set_font_size (cr, 1.2 * f);
  g_snprintf (s, sizeof s, "%u:%02u:%02u.%03u",
      (guint) (t / (3600 * GST_SECOND)), (guint) (t / (60 * GST_SECOND) % 60),
      (guint) (t / GST_SECOND % 60), (guint) (t / GST_MSECOND % 1000));
  if (sc->have_result)
    g_snprintf (s + strlen (s), sizeof s - strlen (s), "   %s  p %.2f",
        sc->labels[sc->cls], sc->confidence);
  text_at (cr, l->window.x1 > 0 ? l->window.x0 : l->strip.x0, 1.5 * f, s, 0.0);
  cairo_text_extents (cr, s, &e);
  x = (l->window.x1 > 0 ? l->window.x0 : l->strip.x0) + e.x_advance + f;
  if (sc->have_result) {
    /* the badge: the model knows windows like this one, or not */
    if (isfinite (sc->novelty))
      g_snprintf (s, sizeof s, "%s (novelty %.1f)",
          sc->known ? "known" : "UNKNOWN", sc->novelty);
    else
      g_snprintf (s, sizeof s, "%s", sc->known ? "known" : "UNKNOWN");
    cairo_set_font_size (cr, f);
    cairo_text_extents (cr, s, &e);
    set_rgb (cr, sc->known ? VIZ_COLOR_KNOWN : VIZ_COLOR_UNKNOWN);
    cairo_rectangle (cr, x, 0.35 * f, e.x_advance + f, 1.5 * f);
    cairo_fill (cr);
    set_rgb (cr, sc->bg);
    text_at (cr, x + 0.5 * f, 1.45 * f, s, 0.0);
  }
  cairo_set_font_size (cr, f);
}

void
gst_seq_dream_viz_draw (cairo_t *cr, gint W, gint H, const VizScene *sc)
{
  VizLayout l;

  gst_seq_dream_viz_layout (W, H, sc->draw, &l);
  set_rgb (cr, sc->bg);
  cairo_paint (cr);
  cairo_select_font_face (
      cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, l.font);

  if (sc->draw & VIZ_DRAW_WINDOW)
    draw_window (cr, sc, &l);
  if (l.band.x1 > 0)
    draw_band (cr, sc, &l);
  if (sc->draw & VIZ_DRAW_DREAM)
    draw_dream (cr, sc, &l);
  if ((sc->draw & VIZ_DRAW_PROBABILITIES) && sc->have_result) {
    draw_strip (cr, sc, &l);
    draw_legend (cr, sc, &l);
  } else if (sc->draw & VIZ_DRAW_PROBABILITIES) {
    frame_rect (cr, &l.strip);
    title (cr, sc, &l.strip, l.font, "class probability");
  }
  if (!(sc->draw & VIZ_DRAW_WINDOW) && sc->hint != NULL)
    note (cr, sc, (sc->draw & VIZ_DRAW_DREAM) ? &l.dream : &l.strip, sc->hint);
  draw_header (cr, sc, &l);
}
