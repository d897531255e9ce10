/* seqdream: command-line entry point and subcommand dispatch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "train", cli_cmd_train, "train a classifier on a UCR file" },
  { "eval", cli_cmd_eval, "accuracy, per-class scores and confusion matrix" },
  { "predict", cli_cmd_predict, "logits and probabilities per series" },
  { "ensemble", cli_cmd_ensemble,
      "join model files into one ensemble (mean of their probabilities)" },
  { "import", cli_cmd_import, "an ONNX model as a seqdream model file" },
  { "export", cli_cmd_export, "a model as an ONNX file for other runtimes" },
  { "info", cli_cmd_info,
      "architecture, parameters, labels, provenance, statistics" },
  { "calibrate", cli_cmd_calibrate,
      "add training statistics (novelty threshold, spectra) to a model" },
  { "dream", cli_cmd_dream, "dream a class prototype or a border sequence" },
  { "plot", cli_cmd_plot, "draw dreams (PNG/SVG) or their convergence" },
  { "explain", cli_cmd_explain,
      "which samples made the decision: saliency, integrated gradients" },
  { "envelope", cli_cmd_envelope,
      "envelope spectrum of dreams or recordings (bearing faults)" },
  { "monitor", cli_cmd_monitor,
      "live state of a fleet from its MQTT score lines" },
};

#ifndef HAVE_MOSQUITTO
int
cli_cmd_monitor (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "seqdream: monitor was not built: it needs libmosquitto "
                   "(apt-get install libmosquitto-dev, then reconfigure)\n");
  return 1;
}
#endif

static void
usage (FILE *out)
{
  fprintf (out, "Usage: seqdream COMMAND [OPTIONS]\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-9s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun 'seqdream COMMAND --help' for the options of one.\n");
}

gboolean
cli_parse (GOptionContext *ctx, int *argc, char ***argv)
{
  GError *error = NULL;
  if (!g_option_context_parse (ctx, argc, argv, &error)) {
    fprintf (stderr, "seqdream: %s (see --help)\n", error->message);
    g_error_free (error);
    return FALSE;
  }
  if (*argc > 1) {
    fprintf (stderr, "seqdream: unexpected argument '%s' (see --help)\n",
        (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

void
cli_json_add_double (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

gboolean
cli_dream_list (
    JsonNode *root, const char *path, JsonArray **list, GError **error)
{
  *list = NULL;
  if (root && JSON_NODE_HOLDS_OBJECT (root)) {
    JsonNode *dn
        = json_object_get_member (json_node_get_object (root), "dreams");
    if (dn && !JSON_NODE_HOLDS_ARRAY (dn)) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "%s: \"dreams\" must be an array of dreams", path);
      return FALSE;
    }
    if (dn)
      *list = json_node_get_array (dn);
    return TRUE;
  }
  if (root && JSON_NODE_HOLDS_ARRAY (root)) {
    *list = json_node_get_array (root);
    return TRUE;
  }
  g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
      "%s: expected a dream object or {\"dreams\": [...]}", path);
  return FALSE;
}

int
cli_fail (GError *error)
{
  fprintf (stderr, "seqdream: %s\n", error ? error->message : "failed");
  g_clear_error (&error);
  return 1;
}

char *
cli_command_line (int argc, char **argv)
{
  GString *cmd = g_string_new ("seqdream");
  for (int i = 0; i < argc; i++) {
    g_autofree char *q = g_shell_quote (argv[i]);
    g_string_append_printf (cmd, " %s", q);
  }
  return g_string_free (cmd, FALSE);
}

char *
cli_provenance_finish (JsonBuilder *b, int argc, char **argv)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  g_autofree char *cmd = cli_command_line (argc, argv);
  json_builder_set_member_name (b, "date");
  json_builder_add_string_value (b, date);
  json_builder_set_member_name (b, "software");
  json_builder_add_string_value (b, "seqdream " SD_VERSION);
  json_builder_set_member_name (b, "command");
  json_builder_add_string_value (b, cmd);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

void
cli_set_threads (int threads)
{
  if (threads > 0)
    sd_set_num_threads (threads);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  if (argc < 2) {
    usage (stderr);
    return 2;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("seqdream %s\n", SD_VERSION);
    return 0;
  }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "seqdream: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return 2;
}
