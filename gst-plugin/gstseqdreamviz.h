/* GStreamer seqdreamviz: renders the seqdream results (window, dream,
 * class probabilities) of an audio stream as video.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SEQ_DREAM_VIZ (gst_seq_dream_viz_get_type ())
G_DECLARE_FINAL_TYPE (
    GstSeqDreamViz, gst_seq_dream_viz, GST, SEQ_DREAM_VIZ, GstElement)

/* The `draw` property's flags: window, dream, attribution, probabilities
 * (VIZ_DRAW_* of gstseqdreamvizdraw.h). */
GType gst_seq_dream_viz_draw_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (seqdreamviz);

G_END_DECLS
