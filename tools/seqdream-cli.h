/* The seqdream command line: shared helpers of the subcommands.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/seqdream.h>

int sd_cmd_train (int argc, char **argv);
int sd_cmd_eval (int argc, char **argv);
int sd_cmd_predict (int argc, char **argv);
int sd_cmd_info (int argc, char **argv);

/* Parse argv with a context named "seqdream SUB"; prints the error and
 * returns FALSE on failure. */
gboolean sd_cli_parse (GOptionContext *ctx, int *argc, char ***argv);
/* Print "seqdream: message" to stderr and return exit status 1. */
int sd_cli_fail (GError *error);
/* Apply --threads (0 = OpenBLAS default). */
void sd_cli_set_threads (int threads);
