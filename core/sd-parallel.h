/* seqdream (private): a fixed team of threads running one function over
 * n chunks (core/parallel.c). Used by training workspaces to split a batch
 * over threads; each chunk always runs on the same thread, so a
 * computation split by it is deterministic for a thread count.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "seqdream/error.h"

#include <glib.h>

G_BEGIN_DECLS

#define SD_PARALLEL_MAX_THREADS 64

typedef struct _SdParallel SdParallel;

/* f (chunk, n_chunks, data), chunk in [0, n_chunks). */
typedef void (*SdParallelFunc) (int chunk, int n_chunks, gpointer data);

/* n_threads - 1 worker threads; the caller of sd_parallel_run is the
 * n-th. */
SdParallel *sd_parallel_new (int n_threads, GError **error);
void sd_parallel_free (SdParallel *p);
int sd_parallel_get_n_threads (const SdParallel *p);

/* Runs func over every chunk and returns when all are done; chunk 0 runs
 * on the calling thread. p NULL: func (0, 1, data) on the caller. One
 * dispatch at a time per SdParallel. */
void sd_parallel_run (SdParallel *p, SdParallelFunc func, gpointer data);

/* The scratch of a batch split over n_threads: for each thread but the
 * caller's, col_size floats of columns in *col and part_size floats of a
 * partial weight gradient in *parts ((n_threads - 1) of each; one float
 * for a single thread). FALSE with SD_ERROR_NOMEM, both NULL, when they do
 * not fit. */
gboolean sd_parallel_scratch_new (int n_threads, gsize col_size,
    gsize part_size, float **col, float **parts, GError **error);
/* dst (count) += the n_threads - 1 partial gradients of parts, stride
 * apart, in thread order: the sum is the same for a thread count. */
void sd_parallel_add_parts (
    float *dst, const float *parts, gsize stride, int n_threads, gsize count);

G_END_DECLS
