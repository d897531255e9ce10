/* Plots of dreams and their convergence with cairo; see plot.h.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <math.h>
#include <seqdream/error.h>
#include <string.h>

/* ---- style ---- */

#define FONT "sans-serif"
#define FIG_TITLE_SIZE 18.0
#define TITLE_SIZE 15.0
#define SUBTITLE_SIZE 12.5
#define LEGEND_SIZE 12.0
#define TICK_SIZE 11.5
#define AXIS_LABEL_SIZE 12.5
#define PAD 14.0       /* around the image */
#define PANEL_GAP 16.0 /* extra space above every panel but the first */
#define RIGHT_MARGIN 34.0
#define TICK_LEN 5.0
#define LEGEND_ROW 20.0
#define LEGEND_SWATCH 28.0
#define LEGEND_GAP 22.0
#define MIN_PLOT_HEIGHT 40.0
#define HEAT_HEIGHT 16.0 /* the heat strip, with HEAT_GAP above and below */
#define HEAT_GAP 4.0
#define MIN_PLOT_WIDTH 80.0
#define MIN_SIZE 100
#define MAX_SIZE 16384
#define MAX_TICKS 60

#define COLOR_TEXT 0x222222
#define COLOR_SUBTITLE 0x555555
#define COLOR_AXIS 0x4d4d4d
#define COLOR_GRID 0xe6e6e6
#define COLOR_ZERO 0xbdbdbd
#define COLOR_BAND 0x56b4e9 /* sky blue, drawn at BAND_ALPHA */
#define BAND_ALPHA 0.30
#define COLOR_BAND_MEAN 0x0072b2
#define BAND_MEAN_WIDTH 1.5
#define BAND_MEAN_DASH 6.0

static const guint32 palette[] = {
  0xd55e00, /* vermillion */
  0x0072b2, /* blue */
  0x009e73, /* bluish green */
  0xcc79a7, /* reddish purple */
  0xe69f00, /* orange */
  0x56b4e9, /* sky blue */
  0x000000, /* black */
  0xf0e442, /* yellow */
};

static PlotColor
color_from_hex (guint32 hex)
{
  PlotColor c = { ((hex >> 16) & 0xff) / 255.0, ((hex >> 8) & 0xff) / 255.0,
    (hex & 0xff) / 255.0 };
  return c;
}

PlotColor
plot_palette (int i)
{
  int n = G_N_ELEMENTS (palette);
  return color_from_hex (palette[((i % n) + n) % n]);
}

static void
set_hex (cairo_t *cr, guint32 hex)
{
  PlotColor c = color_from_hex (hex);
  cairo_set_source_rgb (cr, c.r, c.g, c.b);
}

static void
set_dash (cairo_t *cr, double dash)
{
  if (dash > 0) {
    double pattern[2] = { dash, MAX (3.0, 0.6 * dash) };
    cairo_set_dash (cr, pattern, 2, 0);
  } else {
    cairo_set_dash (cr, NULL, 0, 0);
  }
}

/* A pixel-aligned coordinate for 1 px lines. */
static double
crisp (double v)
{
  return floor (v) + 0.5;
}

/* ---- text ---- */

static void
set_font (cairo_t *cr, double size, gboolean bold)
{
  cairo_select_font_face (cr, FONT, CAIRO_FONT_SLANT_NORMAL,
      bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, size);
}

static double
text_width (cairo_t *cr, const char *s)
{
  cairo_text_extents_t e;
  cairo_text_extents (cr, s, &e);
  return e.x_advance;
}

/* Draws s with its baseline at y; halign 0 = left, 0.5 = centred at x,
 * 1 = right-aligned at x. */
static void
show_text (cairo_t *cr, double x, double y, double halign, const char *s)
{
  cairo_move_to (cr, x - halign * text_width (cr, s), y);
  cairo_show_text (cr, s);
}

/* s, cut with an ellipsis to at most max_w px. */
static char *
fit_text (cairo_t *cr, const char *s, double max_w)
{
  if (text_width (cr, s) <= max_w)
    return g_strdup (s);
  glong n = g_utf8_strlen (s, -1);
  g_autoptr (GString) t = g_string_new (NULL);
  while (n > 0) {
    n--;
    g_string_truncate (t, 0);
    g_string_append_len (t, s, g_utf8_offset_to_pointer (s, n) - s);
    while (t->len > 0 && t->str[t->len - 1] == ' ')
      g_string_truncate (t, t->len - 1);
    g_string_append (t, "\u2026");
    if (text_width (cr, t->str) <= max_w)
      break;
  }
  return g_strdup (t->str);
}

/* ---- ticks ---- */

/* A 1-2-5 step giving about `target` intervals over range. */
static double
nice_step (double range, double target)
{
  if (!(range > 0) || !isfinite (range))
    return 1;
  double raw = range / MAX (target, 1.0);
  double mag = pow (10, floor (log10 (raw)));
  double f = raw / mag;
  double m = f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10;
  return m * mag;
}

/* The ticks k * step in [lo, hi]: the first and last k. */
static void
tick_range (double lo, double hi, double step, gint64 *first, gint64 *last)
{
  *first = (gint64) ceil (lo / step - 1e-9);
  *last = (gint64) floor (hi / step + 1e-9);
  if (*last - *first > MAX_TICKS)
    *last = *first + MAX_TICKS;
}

/* A tick label: as many decimals as the step needs, a real minus sign. */
static char *
format_tick (double v, double step, double magnitude)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (fabs (v) < step * 1e-6)
    v = 0;
  if (magnitude >= 1e6 || step < 1e-5) {
    g_ascii_formatd (buf, sizeof buf, "%.3g", v);
  } else {
    int dec = step >= 1 ? 0 : (int) ceil (-log10 (step) - 1e-9);
    char fmt[16];
    g_snprintf (fmt, sizeof fmt, "%%.%df", CLAMP (dec, 0, 10));
    g_ascii_formatd (buf, sizeof buf, fmt, v);
  }
  if (buf[0] == '-')
    return g_strconcat ("\u2212", buf + 1, NULL);
  return g_strdup (buf);
}

/* ---- layout ---- */

typedef struct
{
  const char *text;
  const PlotLine *line; /* NULL: the band */
  double width;         /* px of swatch + text */
} LegendEntry;

typedef struct
{
  const PlotPanel *p;
  char *band_label;
  GArray *legend;            /* LegendEntry */
  GPtrArray *subtitle_lines; /* the subtitle wrapped to the plot width */
  double x_scale;            /* samples per x unit */
  /* view range, and the range that gets ticks */
  double x_lo, x_hi, y_lo, y_hi;
  double yt_lo, yt_hi;
  double x_step, y_step;
  /* the panel's box and its plot area */
  double top, bottom;
  double plot_l, plot_r, plot_t, plot_b;
  double axis_b; /* the x axis: plot_b, or under the heat strip */
  int legend_rows;
} Panel;

static void
panel_clear (Panel *pl)
{
  g_free (pl->band_label);
  if (pl->legend)
    g_array_unref (pl->legend);
  if (pl->subtitle_lines)
    g_ptr_array_unref (pl->subtitle_lines);
}

#define SUBTITLE_SEPARATOR "  \u00b7  "
#define MAX_SUBTITLE_LINES 3

/* Greedy wrapping of s into at most MAX_SUBTITLE_LINES lines of max_w px,
 * breaking between "  ·  " separated items when there are any, else
 * between words; the last line is cut with an ellipsis if need be. */
static GPtrArray *
wrap_text (cairo_t *cr, const char *s, double max_w)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  const char *sep = strstr (s, SUBTITLE_SEPARATOR) ? SUBTITLE_SEPARATOR : " ";
  g_auto (GStrv) items = g_strsplit (s, sep, -1);
  g_autoptr (GString) line = g_string_new (NULL);
  for (int i = 0; items[i]; i++) {
    gsize keep = line->len;
    if (line->len > 0)
      g_string_append (line, sep);
    g_string_append (line, items[i]);
    if (keep > 0 && text_width (cr, line->str) > max_w
        && lines->len + 1 < MAX_SUBTITLE_LINES) {
      g_string_truncate (line, keep);
      g_ptr_array_add (lines, g_strdup (line->str));
      g_string_assign (line, items[i]);
    }
  }
  g_ptr_array_add (lines, fit_text (cr, line->str, max_w));
  for (guint i = 0; i + 1 < lines->len; i++) {
    char *fitted = fit_text (cr, g_ptr_array_index (lines, i), max_w);
    g_free (g_ptr_array_index (lines, i));
    g_ptr_array_index (lines, i) = fitted;
  }
  return lines;
}

static void
panel_ranges (Panel *pl)
{
  const PlotPanel *p = pl->p;
  pl->x_scale = p->sample_rate > 0 ? p->sample_rate : 1;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  if (p->band && p->band->n > 0) {
    xlo = 0;
    xhi = (p->band->n - 1) / pl->x_scale;
    for (int i = 0; i < p->band->n; i++) {
      double m = p->band->mean[i], s = fabs (p->band->sd[i]);
      if (isfinite (m) && isfinite (s)) {
        ylo = MIN (ylo, m - s);
        yhi = MAX (yhi, m + s);
      }
    }
  }
  for (int l = 0; l < p->n_lines; l++) {
    const PlotLine *ln = &p->lines[l];
    if (ln->n <= 0)
      continue;
    double dx = ln->dx > 0 ? ln->dx : 1;
    xlo = MIN (xlo, ln->x0 / pl->x_scale);
    xhi = MAX (xhi, (ln->x0 + (ln->n - 1) * dx) / pl->x_scale);
    for (int i = 0; i < ln->n; i++)
      if (isfinite (ln->y[i])) {
        ylo = MIN (ylo, ln->y[i]);
        yhi = MAX (yhi, ln->y[i]);
      }
  }
  if (!isfinite (xlo) || !isfinite (xhi)) {
    xlo = 0;
    xhi = 1;
  }
  if (xhi <= xlo)
    xhi = xlo + 1;
  pl->x_lo = xlo;
  pl->x_hi = xhi;

  if (p->fixed_y && p->y_max > p->y_min) {
    /* A little room so lines along the limits stay visible. */
    double pad = 0.03 * (p->y_max - p->y_min);
    pl->yt_lo = p->y_min;
    pl->yt_hi = p->y_max;
    pl->y_lo = p->y_min - pad;
    pl->y_hi = p->y_max + pad;
    return;
  }
  if (!isfinite (ylo) || !isfinite (yhi)) {
    ylo = -1;
    yhi = 1;
  }
  if (yhi - ylo <= 1e-12 * MAX (1.0, fabs (yhi))) {
    double h = MAX (0.5, 0.1 * fabs (yhi));
    ylo -= h;
    yhi += h;
  }
  double pad = 0.06 * (yhi - ylo);
  pl->y_lo = pl->yt_lo = ylo - pad;
  pl->y_hi = pl->yt_hi = yhi + pad;
}

static void
panel_legend (Panel *pl, cairo_t *cr)
{
  const PlotPanel *p = pl->p;
  pl->legend = g_array_new (FALSE, TRUE, sizeof (LegendEntry));
  set_font (cr, LEGEND_SIZE, FALSE);
  if (p->band && p->band->n > 0) {
    pl->band_label = p->band->label
                         ? g_strdup (p->band->label)
                         : g_strdup_printf (
                             "class mean \u00b1 1 sd (n = %u)", p->band->count);
    LegendEntry e = { pl->band_label, NULL, 0 };
    e.width = LEGEND_SWATCH + 7 + text_width (cr, e.text);
    g_array_append_val (pl->legend, e);
  }
  for (int l = 0; l < p->n_lines; l++) {
    if (p->lines[l].label == NULL || p->lines[l].label[0] == '\0')
      continue;
    LegendEntry e = { p->lines[l].label, &p->lines[l], 0 };
    e.width = LEGEND_SWATCH + 7 + text_width (cr, e.text);
    g_array_append_val (pl->legend, e);
  }
}

static int
legend_rows (const Panel *pl, double avail)
{
  int rows = pl->legend->len > 0 ? 1 : 0;
  double x = 0;
  for (guint i = 0; i < pl->legend->len; i++) {
    double w = g_array_index (pl->legend, LegendEntry, i).width;
    if (x > 0 && x + w > avail) {
      rows++;
      x = 0;
    }
    x += w + LEGEND_GAP;
  }
  return rows;
}

static double
header_height (const Panel *pl, int rows, gboolean first)
{
  double h = first ? PAD : PAD + PANEL_GAP;
  if (pl->p->title)
    h += TITLE_SIZE + 7;
  if (pl->p->subtitle)
    h += (SUBTITLE_SIZE + 7)
         * (pl->subtitle_lines ? MAX (pl->subtitle_lines->len, 1) : 1);
  if (rows > 0)
    h += 3 + rows * LEGEND_ROW;
  return h + 8;
}

static double
footer_height (void)
{
  return TICK_LEN + 5 + TICK_SIZE + 11 + AXIS_LABEL_SIZE + PAD;
}

static double
y_tick_label_width (cairo_t *cr, const Panel *pl)
{
  gint64 k0, k1;
  double mag = MAX (fabs (pl->yt_lo), fabs (pl->yt_hi));
  double w = 0;
  set_font (cr, TICK_SIZE, FALSE);
  tick_range (pl->yt_lo, pl->yt_hi, pl->y_step, &k0, &k1);
  for (gint64 k = k0; k <= k1; k++) {
    g_autofree char *s = format_tick (k * pl->y_step, pl->y_step, mag);
    w = MAX (w, text_width (cr, s));
  }
  return w;
}

/* Places every panel; FALSE when the image is too small for them. */
static gboolean
layout (cairo_t *cr, Panel *pls, int n, double W, double H, double fig_top,
    GError **error)
{
  double panel_h = (H - fig_top) / n;
  double est_w = W - 2 * PAD - 80 - RIGHT_MARGIN;
  double left = 0;
  for (int i = 0; i < n; i++) {
    Panel *pl = &pls[i];
    panel_ranges (pl);
    panel_legend (pl, cr);
    pl->top = fig_top + i * panel_h;
    pl->bottom = pl->top + panel_h;
    double est_h = panel_h - header_height (pl, legend_rows (pl, est_w), i == 0)
                   - footer_height ();
    pl->y_step
        = nice_step (pl->yt_hi - pl->yt_lo, CLAMP (est_h / 55.0, 2.0, 10.0));
    left = MAX (left, y_tick_label_width (cr, pl));
  }
  /* One left edge for every panel, so stacked x axes line up. */
  left += PAD + AXIS_LABEL_SIZE + 12 + TICK_LEN + 5;
  double plot_w = W - left - RIGHT_MARGIN;
  if (plot_w < MIN_PLOT_WIDTH) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "an image %.0f px wide is too narrow for the plot", W);
    return FALSE;
  }
  for (int i = 0; i < n; i++) {
    Panel *pl = &pls[i];
    pl->legend_rows = legend_rows (pl, plot_w);
    if (pl->p->subtitle) {
      set_font (cr, SUBTITLE_SIZE, FALSE);
      pl->subtitle_lines = wrap_text (cr, pl->p->subtitle, W - left - PAD);
    }
    pl->plot_l = left;
    pl->plot_r = left + plot_w;
    pl->plot_t = pl->top + header_height (pl, pl->legend_rows, i == 0);
    pl->plot_b = pl->axis_b = pl->bottom - footer_height ();
    if (pl->p->heat != NULL)
      pl->plot_b -= HEAT_HEIGHT + 2 * HEAT_GAP;
    if (pl->plot_b - pl->plot_t < MIN_PLOT_HEIGHT) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "an image %.0f px high is too small for %d panel%s (at least "
          "%.0f px each)",
          H, n, n == 1 ? "" : "s",
          ceil (panel_h - (pl->plot_b - pl->plot_t) + MIN_PLOT_HEIGHT));
      return FALSE;
    }
    pl->x_step
        = nice_step (pl->x_hi - pl->x_lo, CLAMP (plot_w / 95.0, 2.0, 14.0));
  }
  return TRUE;
}

/* ---- drawing ---- */

static double
map_x (const Panel *pl, double x)
{
  return pl->plot_l
         + (x - pl->x_lo) / (pl->x_hi - pl->x_lo) * (pl->plot_r - pl->plot_l);
}

static double
map_y (const Panel *pl, double y)
{
  return pl->plot_b
         - (y - pl->y_lo) / (pl->y_hi - pl->y_lo) * (pl->plot_b - pl->plot_t);
}

static void
draw_grid (cairo_t *cr, const Panel *pl)
{
  gint64 k0, k1;
  cairo_set_line_width (cr, 1);
  set_dash (cr, 0);
  set_hex (cr, COLOR_GRID);
  tick_range (pl->x_lo, pl->x_hi, pl->x_step, &k0, &k1);
  for (gint64 k = k0; k <= k1; k++) {
    double x = crisp (map_x (pl, k * pl->x_step));
    cairo_move_to (cr, x, pl->plot_t);
    cairo_line_to (cr, x, pl->plot_b);
  }
  tick_range (pl->yt_lo, pl->yt_hi, pl->y_step, &k0, &k1);
  for (gint64 k = k0; k <= k1; k++) {
    if (k == 0)
      continue;
    double y = crisp (map_y (pl, k * pl->y_step));
    cairo_move_to (cr, pl->plot_l, y);
    cairo_line_to (cr, pl->plot_r, y);
  }
  cairo_stroke (cr);
  /* The zero line a little darker, when zero is inside. */
  if (pl->y_lo < 0 && pl->y_hi > 0 && k0 <= 0 && k1 >= 0) {
    double y = crisp (map_y (pl, 0));
    set_hex (
        cr, pl->y_lo < -0.02 * (pl->y_hi - pl->y_lo) ? COLOR_ZERO : COLOR_GRID);
    cairo_move_to (cr, pl->plot_l, y);
    cairo_line_to (cr, pl->plot_r, y);
    cairo_stroke (cr);
  }
}

static void
draw_band (cairo_t *cr, const Panel *pl)
{
  const PlotBand *b = pl->p->band;
  if (b == NULL || b->n <= 0)
    return;
  PlotColor c = color_from_hex (COLOR_BAND);
  cairo_set_source_rgba (cr, c.r, c.g, c.b, BAND_ALPHA);
  /* One polygon per run of finite values. */
  int i = 0;
  while (i < b->n) {
    while (i < b->n && !(isfinite (b->mean[i]) && isfinite (b->sd[i])))
      i++;
    int start = i;
    while (i < b->n && isfinite (b->mean[i]) && isfinite (b->sd[i]))
      i++;
    if (i - start < 2)
      continue;
    for (int j = start; j < i; j++)
      cairo_line_to (cr, map_x (pl, j / pl->x_scale),
          map_y (pl, b->mean[j] + fabs (b->sd[j])));
    for (int j = i - 1; j >= start; j--)
      cairo_line_to (cr, map_x (pl, j / pl->x_scale),
          map_y (pl, b->mean[j] - fabs (b->sd[j])));
    cairo_close_path (cr);
    cairo_fill (cr);
  }
  set_hex (cr, COLOR_BAND_MEAN);
  cairo_set_line_width (cr, BAND_MEAN_WIDTH);
  set_dash (cr, BAND_MEAN_DASH);
  gboolean pen = FALSE;
  for (int j = 0; j < b->n; j++) {
    if (!isfinite (b->mean[j])) {
      pen = FALSE;
      continue;
    }
    double x = map_x (pl, j / pl->x_scale), y = map_y (pl, b->mean[j]);
    if (pen)
      cairo_line_to (cr, x, y);
    else
      cairo_move_to (cr, x, y);
    pen = TRUE;
  }
  cairo_stroke (cr);
  set_dash (cr, 0);
}

static void
draw_line (cairo_t *cr, const Panel *pl, const PlotLine *ln)
{
  double dx = ln->dx > 0 ? ln->dx : 1;
  double width = ln->width > 0 ? ln->width : 2;
  /* Thinner when the points are denser than two px apart, so a long
   * series stays a line and not a smear. */
  double spacing
      = dx / pl->x_scale * (pl->plot_r - pl->plot_l) / (pl->x_hi - pl->x_lo);
  if (spacing < 2)
    width = MAX (1.0, width * spacing / 2);
  cairo_set_source_rgb (cr, ln->color.r, ln->color.g, ln->color.b);
  cairo_set_line_width (cr, width);
  set_dash (cr, ln->dash);
  gboolean pen = FALSE;
  for (int i = 0; i < ln->n; i++) {
    if (!isfinite (ln->y[i])) {
      pen = FALSE;
      continue;
    }
    double x = map_x (pl, (ln->x0 + i * dx) / pl->x_scale);
    double y = map_y (pl, ln->y[i]);
    if (pen)
      cairo_line_to (cr, x, y);
    else
      cairo_move_to (cr, x, y);
    pen = TRUE;
  }
  cairo_stroke (cr);
  set_dash (cr, 0);
}

#define MARKER_LABEL_SIZE 10.5

static gboolean
marker_visible (const Panel *pl, const PlotMarker *m)
{
  return isfinite (m->x) && m->x >= pl->x_lo && m->x <= pl->x_hi;
}

static void
draw_markers (cairo_t *cr, const Panel *pl)
{
  for (int i = 0; i < pl->p->n_markers; i++) {
    const PlotMarker *m = &pl->p->markers[i];
    if (!marker_visible (pl, m))
      continue;
    double x = crisp (map_x (pl, m->x));
    cairo_set_source_rgb (cr, m->color.r, m->color.g, m->color.b);
    cairo_set_line_width (cr, m->width > 0 ? m->width : 1.2);
    set_dash (cr, m->dash);
    cairo_move_to (cr, x, pl->plot_t);
    cairo_line_to (cr, x, pl->plot_b);
    cairo_stroke (cr);
  }
  set_dash (cr, 0);
}

/* The labels go over the data: upwards, right of the line's top, on a
 * white ground. */
static void
draw_marker_labels (cairo_t *cr, const Panel *pl)
{
  set_font (cr, MARKER_LABEL_SIZE, FALSE);
  for (int i = 0; i < pl->p->n_markers; i++) {
    const PlotMarker *m = &pl->p->markers[i];
    if (!marker_visible (pl, m) || m->label == NULL || m->label[0] == '\0')
      continue;
    g_autofree char *t
        = fit_text (cr, m->label, 0.6 * (pl->plot_b - pl->plot_t));
    double w = text_width (cr, t);
    double x = crisp (map_x (pl, m->x)) + 2;
    double y = pl->plot_t + 4 + w;
    cairo_save (cr);
    cairo_translate (cr, x, y);
    cairo_rotate (cr, -G_PI / 2);
    cairo_set_source_rgba (cr, 1, 1, 1, 0.85);
    cairo_rectangle (cr, -2, 0, w + 4, MARKER_LABEL_SIZE + 2);
    cairo_fill (cr);
    cairo_set_source_rgb (cr, m->color.r, m->color.g, m->color.b);
    show_text (cr, 0, 0.85 * MARKER_LABEL_SIZE, 0, t);
    cairo_restore (cr);
  }
}

static void
draw_axes (cairo_t *cr, const Panel *pl)
{
  gint64 k0, k1;
  double l = crisp (pl->plot_l), b = crisp (pl->axis_b);
  set_hex (cr, COLOR_AXIS);
  cairo_set_line_width (cr, 1);
  set_dash (cr, 0);
  cairo_move_to (cr, l, pl->plot_t);
  cairo_line_to (cr, l, b);
  cairo_line_to (cr, pl->plot_r, b);
  cairo_stroke (cr);

  set_font (cr, TICK_SIZE, FALSE);
  cairo_font_extents_t fe;
  cairo_font_extents (cr, &fe);
  double mag = MAX (fabs (pl->x_lo), fabs (pl->x_hi));
  tick_range (pl->x_lo, pl->x_hi, pl->x_step, &k0, &k1);
  for (gint64 k = k0; k <= k1; k++) {
    double x = crisp (map_x (pl, k * pl->x_step));
    set_hex (cr, COLOR_AXIS);
    cairo_move_to (cr, x, b);
    cairo_line_to (cr, x, b + TICK_LEN);
    cairo_stroke (cr);
    g_autofree char *s = format_tick (k * pl->x_step, pl->x_step, mag);
    set_hex (cr, COLOR_TEXT);
    show_text (cr, x, b + TICK_LEN + 4 + fe.ascent * 0.95, 0.5, s);
  }
  mag = MAX (fabs (pl->yt_lo), fabs (pl->yt_hi));
  tick_range (pl->yt_lo, pl->yt_hi, pl->y_step, &k0, &k1);
  for (gint64 k = k0; k <= k1; k++) {
    double y = crisp (map_y (pl, k * pl->y_step));
    set_hex (cr, COLOR_AXIS);
    cairo_move_to (cr, l, y);
    cairo_line_to (cr, l - TICK_LEN, y);
    cairo_stroke (cr);
    g_autofree char *s = format_tick (k * pl->y_step, pl->y_step, mag);
    set_hex (cr, COLOR_TEXT);
    /* Centred on the tick: digits are about 0.72 em high. */
    show_text (cr, l - TICK_LEN - 5, y + 0.36 * TICK_SIZE, 1.0, s);
  }

  set_font (cr, AXIS_LABEL_SIZE, FALSE);
  set_hex (cr, COLOR_TEXT);
  const char *xl = pl->p->x_label           ? pl->p->x_label
                   : pl->p->sample_rate > 0 ? "time (s)"
                                            : "sample";
  show_text (cr, (pl->plot_l + pl->plot_r) / 2,
      pl->bottom - PAD - 0.25 * AXIS_LABEL_SIZE, 0.5, xl);
  if (pl->p->y_label) {
    g_autofree char *yl
        = fit_text (cr, pl->p->y_label, pl->plot_b - pl->plot_t + 20);
    cairo_save (cr);
    cairo_translate (
        cr, PAD + 0.8 * AXIS_LABEL_SIZE, (pl->plot_t + pl->plot_b) / 2);
    cairo_rotate (cr, -G_PI / 2);
    show_text (cr, 0, 0, 0.5, yl);
    cairo_restore (cr);
  }
}

static void
draw_header (cairo_t *cr, const Panel *pl, gboolean first, double W)
{
  double y = pl->top + (first ? PAD : PAD + PANEL_GAP);
  double x = pl->plot_l, avail = W - x - PAD;
  if (pl->p->title) {
    set_font (cr, TITLE_SIZE, TRUE);
    set_hex (cr, COLOR_TEXT);
    g_autofree char *t = fit_text (cr, pl->p->title, avail);
    show_text (cr, x, y + 0.8 * TITLE_SIZE, 0, t);
    y += TITLE_SIZE + 7;
  }
  if (pl->p->subtitle) {
    set_font (cr, SUBTITLE_SIZE, FALSE);
    set_hex (cr, COLOR_SUBTITLE);
    for (guint i = 0; i < pl->subtitle_lines->len; i++) {
      show_text (cr, x, y + 0.8 * SUBTITLE_SIZE, 0,
          g_ptr_array_index (pl->subtitle_lines, i));
      y += SUBTITLE_SIZE + 7;
    }
  }
  if (pl->legend->len == 0)
    return;
  y += 3;
  set_font (cr, LEGEND_SIZE, FALSE);
  double lx = 0, avail_row = pl->plot_r - pl->plot_l;
  for (guint i = 0; i < pl->legend->len; i++) {
    const LegendEntry *e = &g_array_index (pl->legend, LegendEntry, i);
    if (lx > 0 && lx + e->width > avail_row) {
      lx = 0;
      y += LEGEND_ROW;
    }
    double sx = x + lx, cy = y + LEGEND_ROW / 2;
    if (e->line == NULL) {
      PlotColor c = color_from_hex (COLOR_BAND);
      cairo_set_source_rgba (cr, c.r, c.g, c.b, BAND_ALPHA);
      cairo_rectangle (cr, sx, cy - 6, LEGEND_SWATCH, 12);
      cairo_fill (cr);
      set_hex (cr, COLOR_BAND_MEAN);
      cairo_set_line_width (cr, BAND_MEAN_WIDTH);
      set_dash (cr, BAND_MEAN_DASH);
    } else {
      const PlotLine *ln = e->line;
      cairo_set_source_rgb (cr, ln->color.r, ln->color.g, ln->color.b);
      cairo_set_line_width (cr, ln->width > 0 ? ln->width : 2);
      set_dash (cr, ln->dash);
    }
    cairo_move_to (cr, sx + 1, cy);
    cairo_line_to (cr, sx + LEGEND_SWATCH - 1, cy);
    cairo_stroke (cr);
    set_dash (cr, 0);
    set_hex (cr, COLOR_TEXT);
    show_text (cr, sx + LEGEND_SWATCH + 7, cy + 0.36 * LEGEND_SIZE, 0, e->text);
    lx += e->width + LEGEND_GAP;
  }
}

static void
draw_spans (cairo_t *cr, const Panel *pl)
{
  for (int i = 0; i < pl->p->n_spans; i++) {
    const PlotSpan *sp = &pl->p->spans[i];
    double x0 = map_x (pl, sp->x0), x1 = map_x (pl, sp->x1);
    cairo_set_source_rgba (cr, sp->color.r, sp->color.g, sp->color.b,
        sp->alpha > 0 ? sp->alpha : 0.18);
    cairo_rectangle (
        cr, x0, pl->plot_t, MAX (x1 - x0, 1.0), pl->plot_b - pl->plot_t);
    cairo_fill (cr);
  }
}

/* Blue (-1) - white (0) - red (+1), u clamped to [-1, 1]. */
static void
heat_color (cairo_t *cr, double u)
{
  const PlotColor lo = color_from_hex (0x2166ac),
                  hi = color_from_hex (0xb2182b);
  const PlotColor c = u < 0 ? lo : hi;
  const double f = MIN (fabs (u), 1.0);
  cairo_set_source_rgb (
      cr, 1 + f * (c.r - 1), 1 + f * (c.g - 1), 1 + f * (c.b - 1));
}

static void
draw_heat (cairo_t *cr, const Panel *pl)
{
  const PlotHeat *h = pl->p->heat;
  if (h == NULL || h->n < 1)
    return;
  const double dx = h->dx > 0 ? h->dx : 1;
  double scale = h->scale;
  if (!(scale > 0))
    for (int i = 0; i < h->n; i++)
      if (isfinite (h->v[i]))
        scale = MAX (scale, fabs (h->v[i]));
  const double top = pl->plot_b + HEAT_GAP;
  cairo_save (cr);
  cairo_rectangle (cr, pl->plot_l, top, pl->plot_r - pl->plot_l, HEAT_HEIGHT);
  cairo_clip (cr);
  for (int i = 0; i < h->n; i++) {
    double x0 = map_x (pl, (h->x0 + (i - 0.5) * dx) / pl->x_scale);
    double x1 = map_x (pl, (h->x0 + (i + 0.5) * dx) / pl->x_scale);
    heat_color (cr, scale > 0 && isfinite (h->v[i]) ? h->v[i] / scale : 0.0);
    /* overlap by half a px so no seams show between cells */
    cairo_rectangle (cr, x0, top, x1 - x0 + 0.5, HEAT_HEIGHT);
    cairo_fill (cr);
  }
  cairo_restore (cr);
  set_hex (cr, COLOR_AXIS);
  cairo_set_line_width (cr, 1);
  cairo_rectangle (cr, crisp (pl->plot_l), crisp (top), pl->plot_r - pl->plot_l,
      HEAT_HEIGHT);
  cairo_stroke (cr);
  if (h->label) {
    set_font (cr, TICK_SIZE, FALSE);
    set_hex (cr, COLOR_TEXT);
    show_text (cr, pl->plot_l - TICK_LEN - 5,
        top + HEAT_HEIGHT / 2 + 0.36 * TICK_SIZE, 1.0, h->label);
  }
}

static void
draw_panel (cairo_t *cr, const Panel *pl, gboolean first, double W)
{
  draw_grid (cr, pl);
  cairo_save (cr);
  cairo_rectangle (cr, pl->plot_l, pl->plot_t - 1, pl->plot_r - pl->plot_l + 1,
      pl->plot_b - pl->plot_t + 2);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_BUTT);
  draw_spans (cr, pl);
  draw_markers (cr, pl);
  draw_band (cr, pl);
  for (int l = 0; l < pl->p->n_lines; l++)
    draw_line (cr, pl, &pl->p->lines[l]);
  draw_marker_labels (cr, pl);
  cairo_restore (cr);
  draw_heat (cr, pl);
  draw_axes (cr, pl);
  draw_header (cr, pl, first, W);
}

/* ---- output ---- */

typedef enum
{
  FORMAT_PNG,
  FORMAT_SVG,
} Format;

static gboolean
format_from_path (const char *path, Format *format, GError **error)
{
  const char *base = path ? strrchr (path, G_DIR_SEPARATOR) : NULL;
  base = base ? base + 1 : path;
  const char *dot = base ? strrchr (base, '.') : NULL;
  if (dot && g_ascii_strcasecmp (dot, ".png") == 0)
    *format = FORMAT_PNG;
  else if (dot && g_ascii_strcasecmp (dot, ".svg") == 0)
    *format = FORMAT_SVG;
  else {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "cannot tell the image format of '%s': the file name must end in "
        ".png or .svg",
        path ? path : "(null)");
    return FALSE;
  }
  return TRUE;
}

gboolean
plot_check_path (const char *path, GError **error)
{
  Format f;
  return format_from_path (path, &f, error);
}

static cairo_status_t
append_bytes (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

static gboolean
check_panel (const PlotPanel *p, int i, GError **error)
{
  if (p->n_lines < 0 || (p->n_lines > 0 && p->lines == NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "panel %d: %d lines without data", i + 1, p->n_lines);
    return FALSE;
  }
  for (int l = 0; l < p->n_lines; l++)
    if (p->lines[l].n < 0 || (p->lines[l].n > 0 && p->lines[l].y == NULL)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "panel %d, line %d: %d values without data", i + 1, l + 1,
          p->lines[l].n);
      return FALSE;
    }
  if (p->n_markers < 0 || (p->n_markers > 0 && p->markers == NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "panel %d: %d markers without data", i + 1, p->n_markers);
    return FALSE;
  }
  if (p->band && p->band->n > 0 && (!p->band->mean || !p->band->sd)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "panel %d: a band without mean or sd", i + 1);
    return FALSE;
  }
  return TRUE;
}

static gboolean
draw_figure (const PlotSpec *spec, int default_panel_height, const char *path,
    GError **error)
{
  Format format;
  if (!format_from_path (path, &format, error))
    return FALSE;
  if (spec->n_panels < 1 || spec->panels == NULL) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_INVALID_ARG, "nothing to plot in '%s'", path);
    return FALSE;
  }
  for (int i = 0; i < spec->n_panels; i++)
    if (!check_panel (&spec->panels[i], i, error))
      return FALSE;
  gint64 W = spec->width > 0 ? spec->width : PLOT_DEFAULT_WIDTH;
  gint64 H
      = spec->height > 0
            ? spec->height
            : (gint64) default_panel_height * spec->n_panels
                  + (spec->title ? (gint64) (PAD + FIG_TITLE_SIZE + 4) : 0);
  if (W < MIN_SIZE || H < MIN_SIZE || W > MAX_SIZE || H > MAX_SIZE) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "image size %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
        " px for '%s' is outside %d..%d",
        W, H, path, MIN_SIZE, MAX_SIZE);
    return FALSE;
  }

  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  cairo_surface_t *surface
      = format == FORMAT_PNG
            ? cairo_image_surface_create (CAIRO_FORMAT_RGB24, W, H)
            : cairo_svg_surface_create_for_stream (append_bytes, bytes, W, H);
  cairo_t *cr = cairo_create (surface);
  cairo_font_options_t *fo = cairo_font_options_create ();
  cairo_font_options_set_antialias (fo, CAIRO_ANTIALIAS_GRAY);
  cairo_font_options_set_hint_style (fo, CAIRO_HINT_STYLE_SLIGHT);
  cairo_font_options_set_hint_metrics (fo, CAIRO_HINT_METRICS_OFF);
  cairo_set_font_options (cr, fo);
  cairo_font_options_destroy (fo);
  cairo_set_antialias (cr, CAIRO_ANTIALIAS_GOOD);

  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);

  int n = spec->n_panels;
  Panel *pls = g_new0 (Panel, n);
  for (int i = 0; i < n; i++)
    pls[i].p = &spec->panels[i];
  double fig_top = spec->title ? PAD + FIG_TITLE_SIZE + 4 : 0;
  gboolean ok = layout (cr, pls, n, W, H, fig_top, error);
  if (ok) {
    if (spec->title) {
      set_font (cr, FIG_TITLE_SIZE, TRUE);
      set_hex (cr, COLOR_TEXT);
      g_autofree char *t = fit_text (cr, spec->title, W - pls[0].plot_l - PAD);
      show_text (cr, pls[0].plot_l, PAD + 0.85 * FIG_TITLE_SIZE, 0, t);
    }
    for (int i = 0; i < n; i++)
      draw_panel (cr, &pls[i], i == 0, W);
  }
  for (int i = 0; i < n; i++)
    panel_clear (&pls[i]);
  g_free (pls);

  cairo_status_t status = cairo_status (cr);
  cairo_destroy (cr);
  if (ok && status == CAIRO_STATUS_SUCCESS) {
    if (format == FORMAT_PNG) {
      cairo_surface_flush (surface);
      status = cairo_surface_write_to_png_stream (surface, append_bytes, bytes);
    } else {
      cairo_surface_finish (surface);
      status = cairo_surface_status (surface);
    }
  }
  cairo_surface_destroy (surface);
  if (!ok)
    return FALSE;
  if (status != CAIRO_STATUS_SUCCESS) {
    g_set_error (error, SD_ERROR, SD_ERROR_IO, "cannot draw '%s': %s", path,
        cairo_status_to_string (status));
    return FALSE;
  }
  GError *e = NULL;
  if (!g_file_set_contents_full (path, (const char *) bytes->data, bytes->len,
          G_FILE_SET_CONTENTS_NONE, 0666, &e)) {
    /* GLib's message names the path and the reason. */
    g_set_error_literal (error, SD_ERROR, SD_ERROR_IO, e->message);
    g_error_free (e);
    return FALSE;
  }
  return TRUE;
}

gboolean
plot_series (const PlotSpec *spec, const char *path, GError **error)
{
  return draw_figure (spec, PLOT_DEFAULT_PANEL_HEIGHT, path, error);
}

/* ---- convergence ---- */

#define TRACE_PANEL_HEIGHT 340

gboolean
plot_traces (const PlotTraceSpec *spec, const char *path, GError **error)
{
  if (!plot_check_path (path, error))
    return FALSE;
  int n = spec->n_traces;
  if (n < 1 || spec->traces == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "no convergence traces to plot in '%s'", path);
    return FALSE;
  }
  int n_reg_lines = 0;
  for (int i = 0; i < n; i++)
    n_reg_lines += MAX (spec->traces[i].n_regs, 0);

  g_autofree PlotLine *obj = g_new0 (PlotLine, n);
  g_autofree PlotLine *prob = g_new0 (PlotLine, n);
  g_autofree PlotLine *regs = g_new0 (PlotLine, MAX (n_reg_lines, 1));
  g_autoptr (GPtrArray) labels = g_ptr_array_new_with_free_func (g_free);
  int r = 0;
  for (int i = 0; i < n; i++) {
    const PlotTrace *t = &spec->traces[i];
    PlotColor c = plot_palette (i);
    obj[i]
        = (PlotLine){ t->label, t->objective, t->n_objective, 0, 1, c, 2, 0 };
    /* The legend of the first panel names the dreams for all. */
    prob[i]
        = (PlotLine){ NULL, t->probability, t->n_probability, 0, 1, c, 2, 0 };
    for (int j = 0; j < t->n_regs; j++, r++) {
      const PlotRegTrace *rt = &t->regs[j];
      char *label = n == 1 || t->label == NULL
                        ? g_strdup (rt->name)
                        : g_strdup_printf ("%s: %s", t->label, rt->name);
      g_ptr_array_add (labels, label);
      /* One dream: a colour per regulariser; several: the dream's colour
       * and a dash pattern per regulariser. */
      regs[r] = (PlotLine){ label, rt->values, rt->n, 0, 1,
        n == 1 ? plot_palette (j) : c, 1.8, n == 1 ? 0 : (j % 4) * 4.0 };
    }
  }
  PlotPanel panels[3] = {
    { "objective", NULL, "step", "objective J", 0, FALSE, 0, 0, NULL, obj, n },
    { "target class probability", NULL, "step", "probability", 0, TRUE, 0, 1,
        NULL, prob, n },
    { "regularisers",
        "penalty values; RMS change made by filters and "
        "projections",
        "step", "value", 0, FALSE, 0, 0, NULL, regs, n_reg_lines },
  };
  PlotSpec fig = { panels, n_reg_lines > 0 ? 3 : 2,
    spec->title ? spec->title : "dream convergence", spec->width,
    spec->height };
  return draw_figure (&fig, TRACE_PANEL_HEIGHT, path, error);
}
