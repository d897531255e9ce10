/* The entry points every fuzz target defines: libFuzzer calls them, or the
 * standalone driver (standalone.c) that replays files without libFuzzer;
 * and what the targets share (fuzz-common.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seqdream/model.h>
#include <stddef.h>
#include <stdint.h>

/* Once, before the first input (argc and argv are the program's). */
int LLVMFuzzerInitialize (int *argc, char ***argv);
/* One input; returns 0. A bug aborts (ASan, UBSan, abort ()). */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Log messages of these levels (and G_LOG_LEVEL_ERROR) are printed, then
 * abort (): SIGABRT, which libFuzzer catches to keep the input, where
 * GLib's own fatal messages raise SIGTRAP, which it does not. Call first
 * in LLVMFuzzerInitialize. */
void fuzz_abort_on_log (GLogLevelFlags levels);

/* A check failed: prints "fuzz: check failed: <message>" and aborts. */
void fuzz_fail (const char *format, ...) G_GNUC_NORETURN G_GNUC_PRINTF (1, 2);

/* m saves, and the saved bytes load again into the same model: the same
 * parameters bit for bit, labels, training length and shortest length;
 * else fuzz_fail. */
void fuzz_check_round_trip (SdModel *m);
