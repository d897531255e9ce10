/* GStreamer seqdreamviz: drawing one frame. No GStreamer state here: the
 * element copies what a frame shows into a VizScene (under its locks) and
 * gst_seq_dream_viz_draw paints it with cairo; gst_seq_dream_viz_layout
 * says where each panel is (the tests check pixels there).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <cairo.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* What to draw (the `draw` property, GstSeqDreamVizDraw flags). */
#define VIZ_DRAW_WINDOW (1 << 0)
#define VIZ_DRAW_DREAM (1 << 1)
#define VIZ_DRAW_ATTRIBUTION (1 << 2)
#define VIZ_DRAW_PROBABILITIES (1 << 3)

/* Fixed colours (0xRRGGBB) that the tests look for. */
#define VIZ_COLOR_FRAME 0x484858     /* panel frames and axes */
#define VIZ_COLOR_UNKNOWN 0xe04040   /* the "unknown" badge and strip shade */
#define VIZ_COLOR_KNOWN 0x40c860     /* the "known" badge */
#define VIZ_COLOR_HEAT_ZERO 0x303040 /* attribution 0 */
#define VIZ_COLOR_HEAT_POS 0xff5020  /* the largest positive attribution */
#define VIZ_COLOR_HEAT_NEG 0x2080ff  /* the largest negative attribution */

/* The palette of the classes (probability history, legend), by index
 * modulo its length. */
G_GNUC_INTERNAL
guint32 gst_seq_dream_viz_class_color (gint class_index);

typedef struct
{
  gdouble x0, y0, x1, y1; /* pixels, x1 and y1 exclusive */
} VizRect;

typedef struct
{
  VizRect header; /* time, class, p, known/unknown badge */
  VizRect window; /* the window's plot area (axes outside it) */
  VizRect band;   /* the attribution heat band, under the window */
  VizRect dream;  /* the dream's plot area */
  VizRect strip;  /* the probability history's plot area */
  VizRect legend; /* class labels and current probabilities */
  gdouble font;   /* font size, pixels */
} VizLayout;

/* The panels of a W x H frame for the draw flags. */
G_GNUC_INTERNAL
void gst_seq_dream_viz_layout (gint W, gint H, guint draw, VizLayout *l);

/* One scored window of the probability history. */
typedef struct
{
  gdouble t; /* stream time of the window's end, s */
  gint cls;  /* its class */
  gboolean known;
  gfloat *p; /* (n_classes) probabilities */
} VizProb;

typedef struct
{
  guint draw;
  guint32 bg, text, window_color, dream_color; /* 0xRRGGBB */
  const gchar *units; /* the y axis of window and dream */
  gdouble history;    /* seconds of the probability strip */
  GstClockTime rt;    /* running time of the frame */

  /* the hint when no seqdream data arrive: NULL, or its text */
  const gchar *hint;

  /* the latest scored window: class, its p, labels, known, novelty */
  gint cls, n_classes;
  gdouble confidence, novelty;
  gboolean known, have_result;
  const gchar *const *labels; /* (n_classes) */

  /* the window drawn: samples (n), stream time of its first sample and
   * its duration (s); with its attribution (n values, or NULL) */
  const gfloat *x;
  guint n;
  gdouble t0, duration;
  gboolean raw_audio; /* x is the latest audio, not a scored window */
  const gfloat *attr;
  const gchar *attr_method;
  const gchar *attr_note; /* why there is no band, or NULL */

  /* the dream (dream_n samples, or NULL), its class and probability
   * (< 0: unknown) */
  const gfloat *dream;
  guint dream_n;
  const gchar *dream_label;
  gdouble dream_p;
  const gchar *dream_note; /* why there is no dream, or NULL */

  /* the probability history, oldest first */
  const VizProb *probs;
  guint n_probs;
} VizScene;

G_GNUC_INTERNAL
void gst_seq_dream_viz_draw (
    cairo_t *cr, gint W, gint H, const VizScene *scene);

G_END_DECLS
