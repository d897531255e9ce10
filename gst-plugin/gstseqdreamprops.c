/* The seqdream element's properties and their documentation (the
 * gtk-doc blocks gst-inspect and docs/element-seqdream.md follow),
 * grouped by concern: the stream and its windows, dreams, trust.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdream.h"
#include "gstseqdreamprops.h"
#include "gstseqdreamsetup.h"

#include <seqdream/seqdream.h>

/* The properties of the stream and its windows: model-file, window, hop,
 * normalize, post-messages. */
static void
install_stream_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  g_autofree gchar *default_model = gst_seq_dream_default_model_summary ();
  g_autofree gchar *model_blurb = g_strdup_printf (
      "Model file (safetensors, see docs/model-format.md); NULL for the "
      "model embedded in the plugin: %s",
      default_model);

  /**
   * GstSeqDream:model-file:
   *
   * A seqdream model (safetensors), or an ONNX classifier (.onnx, read with
   * the defaults of `seqdream import`: labels 0, 1, ..., no normalisation;
   * docs/model-import.md). NULL: the model embedded in the plugin
   * (its file, input units, rate, window and labels are in the blurb that
   * gst-inspect-1.0 shows; the shipped build embeds
   * models/cwru-fcn-pool-rhythm.safetensors: drive-end acceleration in g at
   * 48 kHz).
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Model file", model_blurb,
          DEFAULT_MODEL_FILE,
          G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK
              | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:window:
   *
   * Window length in samples; 0 means the model's training length.
   */
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint ("window", "Window",
          "Window length in samples (0 = the model's training length)", 0,
          G_MAXINT / 4, DEFAULT_WINDOW, rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:hop:
   *
   * Samples between the starts of consecutive windows; 0 means window / 2.
   */
  g_object_class_install_property (gobject_class, PROP_HOP,
      g_param_spec_uint ("hop", "Hop",
          "Samples between window starts (0 = window / 2)", 0, G_MAXINT / 4,
          DEFAULT_HOP, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_enum ("normalize", "Normalize",
          "How each window is normalised before scoring",
          GST_TYPE_SEQ_DREAM_NORMALIZE, DEFAULT_NORMALIZE,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"seqdream\" element message per scored window",
          DEFAULT_POST_MESSAGES, rw | GST_PARAM_MUTABLE_PLAYING));
}

/* The dream-* properties. */
static void
install_dream_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  /* the names in the blurb are the library's: its copy, not static */
  g_autofree gchar *presets
      = g_strjoinv (", ", (gchar **) sd_dream_preset_names ());
  g_autofree gchar *preset_blurb = g_strdup_printf (
      "Recommended dream settings of libseqdream: %s; all but none need "
      "dream-reference",
      presets);

  g_object_class_install_property (gobject_class, PROP_DREAM_TRIGGER,
      g_param_spec_enum ("dream-trigger", "Dream trigger",
          "What requests a dream", GST_TYPE_SEQ_DREAM_TRIGGER,
          DEFAULT_DREAM_TRIGGER, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_INTERVAL,
      g_param_spec_uint64 ("dream-interval", "Dream interval",
          "Stream time between dreams of the interval trigger (ns)", 1,
          G_MAXUINT64, DEFAULT_DREAM_INTERVAL, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSeqDream:dream-threshold:
   *
   * The threshold trigger requests a dream for a window whose confidence
   * is below this value when the previous window's was at or above it
   * (the first window after a restart counts as coming from above).
   */
  g_object_class_install_property (gobject_class, PROP_DREAM_THRESHOLD,
      g_param_spec_double ("dream-threshold", "Dream threshold",
          "Confidence below which a window triggers a dream (when the "
          "previous window's was not below)",
          0.0, 1.0, DEFAULT_DREAM_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_MODE,
      g_param_spec_enum ("dream-mode", "Dream mode",
          "Kind of dream for triggered requests", GST_TYPE_SEQ_DREAM_MODE,
          DEFAULT_DREAM_MODE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_STEPS,
      g_param_spec_uint ("dream-steps", "Dream steps",
          "Optimisation steps per dream (a border dream stops earlier when "
          "it reaches the boundary); 0: the preset's (realistic on a model "
          "with a sample rate: 1500), else 500",
          0, 100000, DEFAULT_DREAM_STEPS, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_LEARNING_RATE,
      g_param_spec_double ("dream-learning-rate", "Dream learning rate",
          "Step size of the dream optimiser (Adam); 0: the preset's "
          "(realistic: 0.01, on a model with a sample rate 0.05), else 0.05",
          0.0, 100.0, DEFAULT_DREAM_LEARNING_RATE,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_L2,
      g_param_spec_double ("dream-l2", "Dream L2",
          "Weight of the L2 penalty mean(x^2), in logits (0 = off)", 0.0,
          G_MAXDOUBLE, DEFAULT_DREAM_L2, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_TV,
      g_param_spec_double ("dream-tv", "Dream total variation",
          "Weight of the total variation penalty mean|x[t+1]-x[t]|, in logits "
          "(0 = off)",
          0.0, G_MAXDOUBLE, DEFAULT_DREAM_TV, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_SMOOTHING_ALPHA,
      g_param_spec_double ("dream-smoothing-alpha", "Dream smoothing alpha",
          "Zero-phase exponential smoothing of the sequence every 10 steps, "
          "y[t] = a x[t] + (1-a) y[t-1] forward and backward (0 or 1 = off)",
          0.0, 1.0, DEFAULT_DREAM_SMOOTHING_ALPHA,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_GAUSSIAN_SIGMA,
      g_param_spec_double ("dream-gaussian-sigma", "Dream Gaussian sigma",
          "Gaussian filtering of the sequence every 10 steps, sigma in samples "
          "(0 = off)",
          0.0, 1000.0, DEFAULT_DREAM_GAUSSIAN_SIGMA,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_SEED,
      g_param_spec_uint64 ("dream-seed", "Dream seed",
          "Seed of the first dream after start; the n-th dream uses seed + n",
          0, G_MAXUINT64, DEFAULT_DREAM_SEED, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_QUEUE_SIZE,
      g_param_spec_uint ("dream-queue-size", "Dream queue size",
          "Dream requests waiting at most; when full the oldest is dropped", 1,
          1024, DEFAULT_DREAM_QUEUE_SIZE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_DROPPED,
      g_param_spec_uint64 ("dream-dropped", "Dreams dropped",
          "Dream requests dropped because the queue was full (since start)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSeqDream:dream-preset:
   *
   * libseqdream's recommended dream settings (sd_dream_config_apply_preset,
   * docs/dreaming.md): the preset's regularisers come first, the dream-*
   * properties apply on top of them. Every preset but "none" takes its
   * targets from the model's training statistics or reference data
   * (dream-reference). The default, "realistic", falls back to "none" for
   * a model without statistics. Checked when the element goes to PAUSED.
   */
  g_object_class_install_property (gobject_class, PROP_DREAM_PRESET,
      g_param_spec_string ("dream-preset", "Dream preset", preset_blurb,
          DEFAULT_DREAM_PRESET,
          G_PARAM_READWRITE | G_PARAM_STATIC_NAME | G_PARAM_STATIC_NICK
              | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:dream-reference:
   *
   * Labelled real series of the model's classes (UCR text: the label,
   * then the samples, one series a line; as the command line's
   * --reference), at least a window long. Their class mean spectra and
   * features at the window length are the targets of dream-preset's
   * regularisers; computed once when the element goes to PAUSED.
   */
  g_object_class_install_property (gobject_class, PROP_DREAM_REFERENCE,
      g_param_spec_string ("dream-reference", "Dream reference data",
          "Labelled series of the model's classes (UCR text file, at least "
          "a window long) whose mean spectra and features dream-preset "
          "takes as targets",
          DEFAULT_DREAM_REFERENCE, rw | GST_PARAM_MUTABLE_READY));
}

/* What says how far to trust the scores: gain, novelty-threshold,
 * state-holdoff. */
static void
install_trust_properties (GObjectClass *gobject_class)
{
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  /**
   * GstSeqDream:gain:
   *
   * Multiplies the input before the model: the factor from the units of
   * the stream to those of the model's training data (the embedded
   * default model: acceleration in g). The samples that leave `src` are
   * not touched; dreams come back in the units of the stream. A value
   * outside [1e-9, 1e9], or NaN, is refused with a warning and the old
   * value kept.
   */
  g_object_class_install_property (gobject_class, PROP_GAIN,
      g_param_spec_double ("gain", "Gain",
          "Factor from the stream's units to the model's input units (see "
          "model-file; a model of g and a 16-bit stream of a +-10 g sensor, "
          "read as +-1.0, need 10); the data on src stays untouched",
          GAIN_MIN, GAIN_MAX, DEFAULT_GAIN, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSeqDream:novelty-threshold:
   *
   * A window is known when its novelty is below this threshold. Negative
   * (the default, -1): the threshold stored in the model (set by
   * `seqdream calibrate` or `train` at a false-alarm rate); 0: every
   * window known (the novelty is still reported when the model has
   * statistics). Without statistics in the model every window is known
   * and its novelty is NaN.
   */
  g_object_class_install_property (gobject_class, PROP_NOVELTY_THRESHOLD,
      g_param_spec_double ("novelty-threshold", "Novelty threshold",
          "Novelty at or above which a window is not known to the model "
          "(negative: the model's stored threshold; 0: every window known)",
          -1.0, G_MAXDOUBLE, DEFAULT_NOVELTY_THRESHOLD,
          rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSeqDream:state-holdoff:
   *
   * Consecutive windows that must agree (on a class, or on "unknown")
   * before a "seqdream-state" message says the stream's state changed;
   * 0: no such messages.
   */
  g_object_class_install_property (gobject_class, PROP_STATE_HOLDOFF,
      g_param_spec_uint ("state-holdoff", "State holdoff",
          "Consecutive windows that must agree before a seqdream-state "
          "message reports a new state (0: none)",
          0, 100000, DEFAULT_STATE_HOLDOFF, rw | GST_PARAM_MUTABLE_PLAYING));
}

void
gst_seq_dream_install_properties (GObjectClass *gobject_class)
{
  install_stream_properties (gobject_class);
  install_dream_properties (gobject_class);
  install_trust_properties (gobject_class);
  gst_seq_dream_attribution_install_properties (
      gobject_class, PROP_ATTRIBUTION);
  gst_seq_dream_channels_install_properties (gobject_class, PROP_CHANNELS);
}
