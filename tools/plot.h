/* Plots of dreams and their convergence, drawn with cairo: PNG or SVG, by
 * the output file's extension.
 *
 * A figure is a stack of panels sharing the width of the image. A panel
 * has a title, a subtitle (key metrics), a legend row, and one plot area
 * with nice (1-2-5) ticks, a light grid, an optional reference band (mean
 * line with a +/- 1 sd ribbon) and any number of lines.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define PLOT_DEFAULT_WIDTH 1000
#define PLOT_DEFAULT_PANEL_HEIGHT 420

typedef struct
{
  double r, g, b; /* 0..1 */
} PlotColor;

/* The Okabe-Ito colour-blind-safe palette, in the order lines use it
 * (vermillion, blue, bluish green, reddish purple, orange, sky blue, black,
 * yellow); i wraps around. */
PlotColor plot_palette (int i);

typedef struct
{
  const char *label; /* legend text; NULL: not in the legend */
  const float *y;    /* n values; non-finite values break the line */
  int n;
  double x0, dx; /* y[i] is at x0 + i * dx samples (dx 0 = 1) */
  PlotColor color;
  double width; /* px, 0 = 2 */
  double dash;  /* dash length in px, 0 = solid */
} PlotLine;

/* A reference: mean[i] with a shaded mean[i] +/- sd[i] band, at x = i. */
typedef struct
{
  const float *mean;
  const float *sd;
  int n;
  guint count;       /* series behind the statistics, for the legend */
  const char *label; /* NULL: "class mean ± 1 sd (n = count)" */
} PlotBand;

/* A vertical line across the plot area at x (in the panel's x units:
 * seconds with a sample rate), under the data lines, with its label
 * written upwards beside its top. Markers outside the x range of the
 * data are left out. */
typedef struct
{
  double x;
  const char *label; /* may be NULL */
  PlotColor color;
  double width; /* px, 0 = 1.2 */
  double dash;  /* dash length in px, 0 = solid */
} PlotMarker;

/* A shaded span of the x axis, x0..x1 (panel x units), under the lines. */
typedef struct
{
  double x0, x1;
  PlotColor color;
  double alpha; /* 0 = 0.18 */
} PlotSpan;

/* A heat strip under the plot area, above the x axis: v[i] at x0 + i * dx
 * samples (dx 0 = 1) in a diverging colour map, blue (-scale) through
 * white (0) to red (+scale); scale 0 = max |v|. The label goes left of
 * the strip. */
typedef struct
{
  const float *v;
  int n;
  double x0, dx;
  double scale;
  const char *label;
} PlotHeat;

typedef struct
{
  const char *title;    /* bold, above the plot; may be NULL */
  const char *subtitle; /* under the title, wrapped (between "  ·  "
                         * items if any) to at most 3 lines; may be NULL */
  const char *x_label;  /* NULL: "time (s)" with a sample rate, else
                         * "sample" */
  const char *y_label;  /* may be NULL */
  double sample_rate;   /* Hz; > 0 puts the x axis in seconds */
  gboolean fixed_y;     /* use [y_min, y_max] instead of the data range */
  double y_min, y_max;
  const PlotBand *band; /* may be NULL */
  const PlotLine *lines;
  int n_lines;
  const PlotMarker *markers; /* may be NULL */
  int n_markers;
  const PlotSpan *spans; /* may be NULL */
  int n_spans;
  const PlotHeat *heat; /* may be NULL */
} PlotPanel;

typedef struct
{
  const PlotPanel *panels; /* stacked top to bottom */
  int n_panels;
  const char *title; /* figure title above every panel; may be NULL */
  int width, height; /* px of the whole image; 0 = 1000 wide and 420 high
                      * per panel, plus 36 for a figure title */
} PlotSpec;

/* FALSE (naming the file) unless path ends in .png or .svg. */
gboolean plot_check_path (const char *path, GError **error);

/* Draws the panels to path (.png or .svg). */
gboolean plot_series (const PlotSpec *spec, const char *path, GError **error);

/* The per-step record of one dream. */
typedef struct
{
  const char *name;
  const float *values;
  int n;
} PlotRegTrace;

typedef struct
{
  const char *label; /* legend text */
  const float *objective;
  int n_objective;
  const float *probability; /* of the target class, 0..1 */
  int n_probability;
  const PlotRegTrace *regs; /* may be NULL */
  int n_regs;
} PlotTrace;

typedef struct
{
  const PlotTrace *traces;
  int n_traces;
  const char *title; /* NULL: "dream convergence" */
  int width, height; /* 0 = 1000 wide and 340 high per panel, plus 36
                      * for the title */
} PlotTraceSpec;

/* Convergence curves over the steps: a panel for the objective, one for
 * the target probability (0..1), and one for the regularisers when any
 * trace has them; every dream in its own colour. */
gboolean plot_traces (
    const PlotTraceSpec *spec, const char *path, GError **error);

G_END_DECLS
