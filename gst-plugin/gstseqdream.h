/* GStreamer seqdream: classifies windows of a mono audio/sensor stream with
 * a 1-D CNN and dreams class prototypes (Sequence Dreaming) on demand.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_SEQ_DREAM (gst_seq_dream_get_type ())
G_DECLARE_FINAL_TYPE (GstSeqDream, gst_seq_dream, GST, SEQ_DREAM, GstElement)

/**
 * GstSeqDreamNormalize:
 * @GST_SEQ_DREAM_NORMALIZE_MODEL: the normalisation stored in the model file
 * @GST_SEQ_DREAM_NORMALIZE_PER_SERIES: z-normalise every window on its own
 * @GST_SEQ_DREAM_NORMALIZE_FIXED: (x - mean) / std with the model's constants
 * @GST_SEQ_DREAM_NORMALIZE_NONE: feed the samples as they are
 *
 * How a window is normalised before the forward pass.
 */
typedef enum
{
  GST_SEQ_DREAM_NORMALIZE_MODEL,
  GST_SEQ_DREAM_NORMALIZE_PER_SERIES,
  GST_SEQ_DREAM_NORMALIZE_FIXED,
  GST_SEQ_DREAM_NORMALIZE_NONE,
} GstSeqDreamNormalize;

/**
 * GstSeqDreamTrigger:
 * @GST_SEQ_DREAM_TRIGGER_NONE: dreaming is off (the "dream" signal too)
 * @GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE: when a window's class differs from
 *   the previous window's
 * @GST_SEQ_DREAM_TRIGGER_INTERVAL: the first window, then the first window
 *   at least dream-interval after the last triggered one
 * @GST_SEQ_DREAM_TRIGGER_THRESHOLD: when the confidence falls below
 *   dream-threshold (the previous window was at or above it)
 * @GST_SEQ_DREAM_TRIGGER_MANUAL: only the "dream" action signal
 *
 * What requests a dream. The "dream" signal works with every trigger but
 * none.
 */
typedef enum
{
  GST_SEQ_DREAM_TRIGGER_NONE,
  GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE,
  GST_SEQ_DREAM_TRIGGER_INTERVAL,
  GST_SEQ_DREAM_TRIGGER_THRESHOLD,
  GST_SEQ_DREAM_TRIGGER_MANUAL,
} GstSeqDreamTrigger;

/**
 * GstSeqDreamMode:
 * @GST_SEQ_DREAM_MODE_CENTERED: from noise, maximise the class's logit
 * @GST_SEQ_DREAM_MODE_BORDER: from noise, the decision boundary between the
 *   class and the runner-up class of the window
 * @GST_SEQ_DREAM_MODE_FROM_WINDOW: from the window itself, maximise the
 *   class's logit
 *
 * The kind of dream.
 */
typedef enum
{
  GST_SEQ_DREAM_MODE_CENTERED,
  GST_SEQ_DREAM_MODE_BORDER,
  GST_SEQ_DREAM_MODE_FROM_WINDOW,
} GstSeqDreamMode;

/**
 * GstSeqDreamAttribution:
 * @GST_SEQ_DREAM_ATTRIBUTION_NONE: no attributions
 * @GST_SEQ_DREAM_ATTRIBUTION_SALIENCY: the gradient of the class's logit
 * @GST_SEQ_DREAM_ATTRIBUTION_GRADXINPUT: gradient x input
 * @GST_SEQ_DREAM_ATTRIBUTION_IG: integrated gradients from the all-zero
 *   window
 * @GST_SEQ_DREAM_ATTRIBUTION_SMOOTHGRAD: SmoothGrad
 *
 * Which samples of a window made its class: libseqdream's methods
 * (seqdream/attribution.h, docs/explain.md).
 */
typedef enum
{
  GST_SEQ_DREAM_ATTRIBUTION_NONE,
  GST_SEQ_DREAM_ATTRIBUTION_SALIENCY,
  GST_SEQ_DREAM_ATTRIBUTION_GRADXINPUT,
  GST_SEQ_DREAM_ATTRIBUTION_IG,
  GST_SEQ_DREAM_ATTRIBUTION_SMOOTHGRAD,
} GstSeqDreamAttribution;

GType gst_seq_dream_normalize_get_type (void);
GType gst_seq_dream_trigger_get_type (void);
GType gst_seq_dream_mode_get_type (void);
#define GST_TYPE_SEQ_DREAM_NORMALIZE (gst_seq_dream_normalize_get_type ())
#define GST_TYPE_SEQ_DREAM_TRIGGER (gst_seq_dream_trigger_get_type ())
#define GST_TYPE_SEQ_DREAM_MODE (gst_seq_dream_mode_get_type ())
GType gst_seq_dream_attribution_get_type (void);
#define GST_TYPE_SEQ_DREAM_ATTRIBUTION (gst_seq_dream_attribution_get_type ())

GST_ELEMENT_REGISTER_DECLARE (seqdream);

G_END_DECLS
