/* GStreamer seqdream: the model, the windows and the dream preset, set up
 * in READY->PAUSED (gstseqdreamsetup.c). Each posts the element error
 * that names what is wrong before it fails.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "gstseqdreamprivate.h"

G_BEGIN_DECLS

/* The model of model-file, or the embedded default when file is NULL. */
G_GNUC_INTERNAL
SdModel *gst_seq_dream_load_model (GstSeqDream *self, const gchar *file);

/* What the embedded default model is and expects (its file, input units,
 * rate, window and labels), for gst-inspect-1.0; "none ..." without one. */
G_GNUC_INTERNAL
gchar *gst_seq_dream_default_model_summary (void);

/* The windower's window (the property, else the model's training length),
 * hop and normalisation (the property's, else the model's). */
G_GNUC_INTERNAL
gboolean gst_seq_dream_setup_windows (
    GstSeqDream *self, guint window, guint hop, GstSeqDreamNormalize normalize);

/* preset_config: the defaults and dream-preset at the window length, with
 * the targets of dream-reference when the preset needs them. */
G_GNUC_INTERNAL
gboolean gst_seq_dream_setup_dream_preset (GstSeqDream *self,
    const gchar *preset, gboolean preset_set, gboolean dreams,
    const gchar *reference);

/* The labels of the messages, as one GST_TYPE_ARRAY of strings. */
G_GNUC_INTERNAL
void gst_seq_dream_set_labels (GstSeqDream *self);

G_END_DECLS
