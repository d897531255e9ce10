/* seqdream ensemble: join trained model files into one ensemble file
 * (seqdream/model.h), which predicts the mean of their probabilities.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <stdio.h>

/* The ensemble's provenance: the files it joined, the date and the
 * command. */
static char *
join_provenance (char **files, int n, int argc, char **argv)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ensemble");
  json_builder_add_int_value (b, n);
  json_builder_set_member_name (b, "joined");
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++) {
    g_autofree char *base = g_path_get_basename (files[i]);
    json_builder_add_string_value (b, base);
  }
  json_builder_end_array (b);
  return cli_provenance_finish (b, argc, argv);
}

int
cli_cmd_ensemble (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_auto (GStrv) files = NULL;
  const int argc0 = argc;
  g_auto (GStrv) argv0 = g_strdupv (argv);
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME_ARRAY, &files,
        "A member's model file (.safetensors; repeat for each, 2 to 64)",
        "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
        "Ensemble file to write (.safetensors)", "FILE" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- join model files into one ensemble");
  g_option_context_set_summary (ctx,
      "The ensemble predicts the mean of its members' probabilities; eval, "
      "predict, dream, explain, calibrate and the element take it as one "
      "model. The members must share labels, training length, sample rate "
      "and normalisation; they may differ in architecture and kind (built-in "
      "architectures, InceptionTime presets, imported ONNX models; on "
      "FordA, inception and fcn-small members together beat more members "
      "of one kind: docs/results.md). The ensemble's layers are the first "
      "member's. The members' training statistics are not kept: "
      "seqdream calibrate on the ensemble calibrates every member on the "
      "same data, and the ensemble's novelty is then the largest of the "
      "members' (each over its typical value), so a window any member "
      "finds unfamiliar is not known, in any order of the members.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  const int n = files ? (int) g_strv_length (files) : 0;
  if (out == NULL || n < 2 || n > SD_MAX_MEMBERS) {
    fprintf (stderr,
        "seqdream ensemble: needs --out and 2 to %d --model files, got %d\n",
        SD_MAX_MEMBERS, n);
    return 2;
  }
  g_autofree SdModel **members = g_new0 (SdModel *, n);
  GError *error = NULL;
  g_autoptr (SdModel) e = NULL;
  /* each member's own statistics come from its own data: calibrating
   * the ensemble fits them all again on one set of windows */
  for (int i = 0; i < n && error == NULL; i++)
    if ((members[i] = sd_model_load (files[i], &error)) != NULL)
      sd_model_set_stats (members[i], NULL, NULL);
  if (error == NULL)
    e = sd_model_new_ensemble (members, n, &error);
  for (int i = 0; i < n; i++)
    g_clear_pointer (&members[i], sd_model_unref);
  if (e == NULL)
    return cli_fail (error);
  g_autofree char *prov = join_provenance (files, n, argc0, argv0);
  if (!sd_model_set_provenance (e, prov, &error)
      || !sd_model_save (e, out, &error))
    return cli_fail (error);
  printf ("wrote %s: an ensemble of %d members\n", out, n);
  return 0;
}
