/* seqdream export: a model (preset, arch JSON or imported) as an ONNX file
 * that other runtimes run (docs/model-import.md, Export).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <stdio.h>

int
cli_cmd_export (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *onnx = NULL;
  GError *error = NULL;
  GOptionEntry entries[]
      = { { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
              "Model file (.safetensors or .onnx)", "FILE" },
          { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx, "ONNX file to write",
              "FILE" },
          { NULL } };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- write a model as an ONNX file");
  g_option_context_set_description (ctx,
      "The file maps raw series [batch, 1, time] to the logits [batch, "
      "classes] that seqdream predict prints: the model's normalisation is "
      "in the graph. Labels, rate and training length are in its metadata; "
      "seqdream import restores them. See docs/model-import.md.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return cli_fail (error) + 1;
  if (argc != 1 || model_path == NULL || onnx == NULL) {
    fprintf (stderr,
        "seqdream export: give --model FILE and --onnx FILE (see --help)\n");
    return 2;
  }
  g_autoptr (SdModel) model = sd_model_load (model_path, &error);
  if (model == NULL || !sd_model_save_onnx (model, onnx, &error))
    return cli_fail (error);
  printf ("%s: %d classes, normalisation %s -> %s\n", model_path,
      sd_model_get_n_classes (model),
      sd_norm_mode_to_string (sd_model_get_normalization (model).mode), onnx);
  return 0;
}
