/* GStreamer seqdream: what READY->PAUSED sets up before the stream: the
 * model (model-file or the embedded default), the windows, the labels of
 * the messages and the configuration every dream starts from
 * (dream-preset, dream-reference). Each function posts the element error
 * that says what is wrong before it returns FALSE (or NULL).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreamsetup.h"

#include <gio/gio.h>
#include <math.h>

/* The error of a file libseqdream could not load (what: "model file",
 * ...): not found, not readable, or not valid. */
static void
post_file_error (GstSeqDream *self, const gchar *what, const gchar *file,
    const GError *error)
{
  g_autofree gchar *What = g_strdup (what);

  What[0] = g_ascii_toupper (What[0]);
  if (!g_file_test (file, G_FILE_TEST_EXISTS))
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("%s \"%s\" not found: %s", What, file, error->message), (NULL));
  else if (g_error_matches (error, SD_ERROR, SD_ERROR_IO))
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not read %s \"%s\": %s", what, file, error->message), (NULL));
  else
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not load %s \"%s\": %s", what, file, error->message), (NULL));
}

#ifdef HAVE_DEFAULT_MODEL
static SdModel *
load_default_model (GError **error)
{
  GBytes *bytes = g_resources_lookup_data (
      SEQDREAM_DEFAULT_MODEL_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  SdModel *model;

  if (bytes == NULL)
    return NULL;
  model = sd_model_load_from_bytes (bytes, "embedded default model", error);
  g_bytes_unref (bytes);
  return model;
}
#endif

gchar *
gst_seq_dream_default_model_summary (void)
{
#ifdef HAVE_DEFAULT_MODEL
  g_autoptr (GError) error = NULL;
  SdModel *model = load_default_model (&error);
  g_autofree gchar *labels = NULL;
  gchar *summary;

  if (model == NULL)
    return g_strdup_printf ("none usable (%s)", error->message);
  labels = g_strjoinv (", ", (gchar **) sd_model_get_labels (model));
  summary = g_strdup_printf ("%s: %s at %g Hz, windows of %d samples, "
                             "classes %s",
      SEQDREAM_DEFAULT_MODEL_NAME, SEQDREAM_DEFAULT_MODEL_INPUT,
      sd_model_get_sample_rate (model), sd_model_get_train_length (model),
      labels);
  sd_model_unref (model);
  return summary;
#else
  return g_strdup ("none in this build");
#endif
}

SdModel *
gst_seq_dream_load_model (GstSeqDream *self, const gchar *file)
{
  g_autoptr (GError) error = NULL;
  SdModel *model;

  if (file != NULL) {
    model = sd_model_load (file, &error);
    if (model == NULL)
      post_file_error (self, "model file", file, error);
    return model;
  }

#ifdef HAVE_DEFAULT_MODEL
  model = load_default_model (&error);
  if (model == NULL)
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not load the embedded default model: %s", error->message),
        (NULL));
  return model;
#else
  GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
      ("No model: set the model-file property (this build of the plugin "
       "has no embedded default model)."),
      (NULL));
  return NULL;
#endif
}

/* The windower's window (the property, else the model's training length),
 * hop and normalisation (the property's, else the model's); FALSE after
 * posting the error. */
gboolean
gst_seq_dream_setup_windows (
    GstSeqDream *self, guint window, guint hop, GstSeqDreamNormalize normalize)
{
  SeqDreamWindower *w = &self->windower;

  if (window == 0)
    window = sd_model_get_train_length (self->model);
  if (window == 0) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The model %s records no training length: set the window property.",
            sd_model_get_display_name (self->model)),
        (NULL));
    return FALSE;
  }
  seq_dream_windower_init (w, window, hop > 0 ? hop : MAX (1, window / 2));

  w->norm = sd_model_get_normalization (self->model);
  if (normalize != GST_SEQ_DREAM_NORMALIZE_MODEL) {
    SdNormMode mode
        = normalize == GST_SEQ_DREAM_NORMALIZE_PER_SERIES ? SD_NORM_PER_SERIES
          : normalize == GST_SEQ_DREAM_NORMALIZE_FIXED    ? SD_NORM_FIXED
                                                          : SD_NORM_NONE;
    w->norm.mode = mode;
  }
  if (w->norm.mode == SD_NORM_FIXED
      && !(w->norm.std > 0.0f && isfinite (w->norm.std)
           && isfinite (w->norm.mean))) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("normalize=fixed needs the mean and std of the model, and %s has "
         "none.",
            sd_model_get_display_name (self->model)),
        (NULL));
    return FALSE;
  }

  return TRUE;
}

/* The presets' spectral filter targets the mean spectrum of all classes,
 * so a class without series in the reference data (its row NaN) would
 * make every dream fail; FALSE after posting the error. */
static gboolean
check_reference_classes (
    GstSeqDream *self, const gchar *preset, const gchar *file)
{
  const SdDataset *ds = self->reference;
  const gint K = sd_model_get_n_classes (self->model);
  g_autofree guint *count = g_new0 (guint, K);

  for (guint i = 0; i < ds->n; i++)
    if (ds->y[i] >= 0 && ds->y[i] < K)
      count[ds->y[i]]++;
  for (gint k = 0; k < K; k++)
    if (count[k] == 0) {
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Reference data file \"%s\" has no series of class \"%s\" of "
           "the model %s: dream-preset \"%s\" needs series of every class.",
              file, sd_model_get_labels (self->model)[k],
              sd_model_get_display_name (self->model), preset),
          (NULL));
      return FALSE;
    }
  return TRUE;
}

/* The configuration every dream starts from: the defaults and dream-preset
 * at the window length, their targets from dream-reference when it is set,
 * else from the model's training statistics (sd_dream_config_attach_targets,
 * as the command line does it). The default preset, realistic, needs one of
 * them: without either the element dreams without a prior (none) and, when
 * dreams are on, warns once. FALSE after posting the error. */
gboolean
gst_seq_dream_setup_dream_preset (GstSeqDream *self, const gchar *preset,
    gboolean preset_set, gboolean dreams, const gchar *reference)
{
  SdDreamConfig *c = &self->preset_config;
  const gchar *model = sd_model_get_display_name (self->model);
  const gboolean has_stats = sd_model_get_stats (self->model) != NULL;
  gboolean dropped = FALSE;
  g_autoptr (GError) error = NULL;

  if (!preset_set && !has_stats && reference == NULL) {
    if (dreams)
      GST_ELEMENT_WARNING (self, LIBRARY, SETTINGS,
          ("The model %s has no training statistics: dreams run without a "
           "prior (dream-preset none), and can be extrapolations far from "
           "any real window.",
              model),
          ("the default dream-preset, realistic, takes its targets from "
           "them: add them with 'seqdream calibrate', or set "
           "dream-reference"));
    else
      GST_INFO_OBJECT (self,
          "model %s has no training statistics: dream-preset none", model);
    preset = "none";
  }
  sd_dream_config_init (c, self->model);
  c->length = (int) self->windower.window;
  if (!sd_dream_config_apply_preset (c, preset, self->model, &error)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("dream-preset \"%s\" does not apply to the model %s: %s", preset,
            model, error->message),
        (NULL));
    return FALSE;
  }
  if (!sd_dream_config_needs_reference (c)
      && !sd_dream_config_needs_margins (c)) {
    if (reference != NULL)
      GST_INFO_OBJECT (self,
          "dream-preset %s takes no reference data: dream-reference unused",
          preset);
    return TRUE;
  }
  if (reference == NULL && !has_stats) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("dream-preset \"%s\" needs reference data, and the model %s "
         "carries no training statistics: set dream-reference to a labelled "
         "data set of its classes (UCR text, as the command line's "
         "--reference), or add them with 'seqdream calibrate'",
            preset, model),
        (NULL));
    return FALSE;
  }
  if (reference != NULL) {
    self->reference = sd_dataset_load_ucr (
        reference, sd_model_get_labels (self->model), &error);
    if (self->reference == NULL) {
      post_file_error (self, "reference data file", reference, error);
      return FALSE;
    }
    if (!check_reference_classes (self, preset, reference))
      return FALSE;
  }
  if (!sd_dream_config_attach_targets (c, self->model, self->reference,
          &self->ref_spectra, &self->ref_features, &self->ref_margins, &dropped,
          &error)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Dream targets of dream-preset \"%s\" on windows of %u samples of "
         "the model %s (from %s): %s",
            preset, self->windower.window, model,
            reference != NULL ? reference : "its training statistics",
            error->message),
        (NULL));
    return FALSE;
  }
  if (dropped)
    GST_INFO_OBJECT (self,
        "model %s has no training statistics: dreams stop without the "
        "typical margin of real windows",
        model);
  GST_INFO_OBJECT (self, "dream-preset %s: %d regularisers, targets from %s",
      preset, c->n_regs,
      reference != NULL ? reference : "the model's training statistics");
  return TRUE;
}

/* The labels of the messages, as one GST_TYPE_ARRAY of strings. */
void
gst_seq_dream_set_labels (GstSeqDream *self)
{
  const gchar *const *labels = sd_model_get_labels (self->model);
  GValue v = G_VALUE_INIT;

  gst_value_array_init (&self->labels, self->n_classes);
  g_value_init (&v, G_TYPE_STRING);
  for (gint k = 0; k < self->n_classes; k++) {
    g_value_set_string (&v, labels[k]);
    gst_value_array_append_value (&self->labels, &v);
  }
  g_value_unset (&v);
}
