/* The enumerations of the seqdream element's properties and of its
 * "dream" signal (GstSeqDreamNormalize, GstSeqDreamTrigger,
 * GstSeqDreamMode), registered with GObject: the element, its pads and its
 * worker all name them, so they live below all three.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstseqdream.h"

GType
gst_seq_dream_normalize_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_NORMALIZE_MODEL, "The normalisation stored in the model",
        "model" },
    { GST_SEQ_DREAM_NORMALIZE_PER_SERIES,
        "Z-normalise every window on its own (as FordA)", "per-series" },
    { GST_SEQ_DREAM_NORMALIZE_FIXED,
        "(x - mean) / std with the model file's constants", "fixed" },
    { GST_SEQ_DREAM_NORMALIZE_NONE, "No normalisation", "none" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamNormalize", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_seq_dream_trigger_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_TRIGGER_NONE, "No dreams (the dream signal is ignored)",
        "none" },
    { GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE,
        "When the class differs from the previous window's", "class-change" },
    { GST_SEQ_DREAM_TRIGGER_INTERVAL,
        "At most once per dream-interval of stream time", "interval" },
    { GST_SEQ_DREAM_TRIGGER_THRESHOLD,
        "When the confidence falls below dream-threshold", "threshold" },
    { GST_SEQ_DREAM_TRIGGER_MANUAL, "Only the dream action signal", "manual" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamTrigger", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_seq_dream_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_MODE_CENTERED,
        "From noise, deep into the class (maximise its logit)", "centered" },
    { GST_SEQ_DREAM_MODE_BORDER,
        "From noise, on the boundary with the runner-up class", "border" },
    { GST_SEQ_DREAM_MODE_FROM_WINDOW,
        "From the window itself, deep into the class", "from-window" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_seq_dream_attribution_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_ATTRIBUTION_NONE, "No attributions", "none" },
    { GST_SEQ_DREAM_ATTRIBUTION_SALIENCY,
        "Saliency: the gradient of the class's logit", "saliency" },
    { GST_SEQ_DREAM_ATTRIBUTION_GRADXINPUT, "Gradient x input", "gradxinput" },
    { GST_SEQ_DREAM_ATTRIBUTION_IG,
        "Integrated gradients from the all-zero window", "ig" },
    { GST_SEQ_DREAM_ATTRIBUTION_SMOOTHGRAD, "SmoothGrad", "smoothgrad" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamAttribution", values);
    g_once_init_leave (&type, t);
  }
  return type;
}
