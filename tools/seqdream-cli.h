/* The seqdream command line: shared helpers of the subcommands.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <seqdream/seqdream.h>

int cli_cmd_train (int argc, char **argv);
int cli_cmd_eval (int argc, char **argv);
int cli_cmd_predict (int argc, char **argv);
int cli_cmd_info (int argc, char **argv);
int cli_cmd_dream (int argc, char **argv);
int cli_cmd_plot (int argc, char **argv);
int cli_cmd_envelope (int argc, char **argv);
int cli_cmd_calibrate (int argc, char **argv);
int cli_cmd_import (int argc, char **argv);
int cli_cmd_export (int argc, char **argv);
int cli_cmd_ensemble (int argc, char **argv);
/* "seqdream" and the arguments, each quoted for a shell. */
char *cli_command_line (int argc, char **argv);
/* Adds the date, the software and the command to the provenance object
 * being built in b, ends it: its JSON text. */
char *cli_provenance_finish (JsonBuilder *b, int argc, char **argv);
/* In tools/cmd-monitor.c when built with libmosquitto, else a message
 * that says so (tools/seqdream.c). */
int cli_cmd_monitor (int argc, char **argv);

/* The model's training statistics as `seqdream info` prints them (or
 * that it has none), on stdout. In tools/cmd-calibrate.c. */
void cli_print_stats (const SdModel *model);
int cli_cmd_explain (int argc, char **argv);

/* Parse argv with a context named "seqdream SUB"; prints the error and
 * returns FALSE on failure. */
gboolean cli_parse (GOptionContext *ctx, int *argc, char ***argv);
/* Print "seqdream: message" to stderr and return exit status 1. */
int cli_fail (GError *error);
/* Apply --threads (0 = OpenBLAS default). */
void cli_set_threads (int threads);

/* Member `name` = v, or null when v is not finite (JSON has no NaN/Inf). */
void cli_json_add_double (JsonBuilder *b, const char *name, double v);
/* Dream JSON as `seqdream dream` writes it: one dream object (*list =
 * NULL), {"dreams": [...]} or a bare array (*list = the array); else an
 * error naming path. */
gboolean cli_dream_list (
    JsonNode *root, const char *path, JsonArray **list, GError **error);

/* Where the series come from: a UCR file, or WAV recordings (FILE=LABEL)
 * cut into windows of `window` samples every `hop`, split by time at
 * train_fraction of every recording. */
typedef struct
{
  char *ucr;
  char **wav;
  int window, hop;
  double train_fraction;
} CliData;

#define CLI_DATA_INIT                                                          \
  {                                                                            \
    NULL, NULL, 0, 0, 0.7                                                      \
  }

void cli_data_clear (CliData *d);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliData, cli_data_clear)

gboolean cli_parse_part (const char *s, SdSplitPart *part, GError **error);
/* --wav FILE without =LABEL: labels such a recording "?" in place (it is
 * then not mapped onto a model's labels); FALSE when any had none. */
gboolean cli_label_wavs (CliData *d);
SdDataset *cli_load_data (const CliData *d, SdSplitPart part,
    const char *const *labels, GError **error);

/* Draws dreams given as JSON (one dream object or {"dreams": [...]}, as
 * `seqdream dream` writes them) to out (.png or .svg): one panel per
 * dream, with the class mean +/- 1 sd of `reference` (a UCR file, needs
 * model; may be NULL) behind it, or with trace the convergence curves.
 * In tools/cmd-plot.c. */
gboolean cli_plot_dream_json (JsonNode *root, const char *out,
    const char *reference, SdModel *model, gboolean trace, GError **error);
