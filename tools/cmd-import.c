/* seqdream import: an ONNX model as a seqdream model file
 * (docs/model-import.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* none | series | per-series | fixed:MEAN,SD */
static gboolean
parse_normalize (const char *s, SdNormalization *norm, GError **error)
{
  double mean, sd;
  char *end;

  memset (norm, 0, sizeof *norm);
  if (strcmp (s, "none") == 0) {
    norm->mode = SD_NORM_NONE;
    return TRUE;
  }
  if (strcmp (s, "series") == 0 || strcmp (s, "per-series") == 0) {
    norm->mode = SD_NORM_PER_SERIES;
    norm->std = 1.0f;
    return TRUE;
  }
  if (g_str_has_prefix (s, "fixed:")) {
    mean = g_ascii_strtod (s + 6, &end);
    if (end != s + 6 && *end == ',') {
      const char *p = end + 1;
      sd = g_ascii_strtod (p, &end);
      if (end != p && *end == '\0' && isfinite (mean) && isfinite (sd) && sd > 0
          && (float) sd > 0 && fabs (mean) < 1e30 && sd < 1e30) {
        norm->mode = SD_NORM_FIXED;
        norm->mean = (float) mean;
        norm->std = (float) sd;
        return TRUE;
      }
    }
  }
  g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
      "--normalize '%s': expected none, series or fixed:MEAN,SD with SD > 0",
      s);
  return FALSE;
}

int
cli_cmd_import (int argc, char **argv)
{
  g_autofree char *out = NULL, *labels = NULL, *normalize = NULL;
  double rate = 0;
  GError *error = NULL;
  GOptionEntry entries[] = { { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
                                 "Model file to write (.safetensors)", "FILE" },
    { "labels", 0, 0, G_OPTION_ARG_STRING, &labels,
        "Class labels, comma-separated, in the model's output order "
        "(default 0, 1, ...)",
        "A,B,..." },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &rate,
        "Sample rate of the model's input in Hz (default unknown)", "HZ" },
    { "normalize", 0, 0, G_OPTION_ARG_STRING, &normalize,
        "What seqdream does to a series before the model: none (default: "
        "the model gets the data as it is), series (z-normalise each) or "
        "fixed:MEAN,SD",
        "MODE" },
    { NULL } };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("MODEL.onnx - import an ONNX model");
  g_option_context_set_description (ctx,
      "Ops read: see docs/model-import.md. predict, eval, dream, explain and "
      "info also take a .onnx file directly (no labels, no normalisation).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return cli_fail (error) + 1;
  if (argc != 2 || out == NULL) {
    fprintf (stderr,
        "seqdream import: give one MODEL.onnx and --out FILE (see --help)\n");
    return 2;
  }
  SdOnnxOptions opts = { .sample_rate = rate };
  g_auto (GStrv) label_list = NULL;
  if (!(rate >= 0 && isfinite (rate))) {
    fprintf (stderr, "seqdream import: --rate %g is not a rate in Hz\n", rate);
    return 2;
  }
  if (labels != NULL) {
    label_list = g_strsplit (labels, ",", -1);
    opts.labels = (const char *const *) label_list;
  }
  if (normalize != NULL) {
    if (!parse_normalize (normalize, &opts.norm, &error))
      return cli_fail (error) + 1;
    opts.use_norm = TRUE;
  }
  g_autoptr (SdModel) model = sd_model_load_onnx (argv[1], &opts, &error);
  if (model == NULL || !sd_model_save (model, out, &error))
    return cli_fail (error);
  printf ("%s: %d classes, %" G_GSIZE_FORMAT " parameters, shortest input %d "
          "samples -> %s\n",
      argv[1], sd_model_get_n_classes (model), sd_model_get_n_trainable (model),
      sd_model_get_min_length (model), out);
  return 0;
}
