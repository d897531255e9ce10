/* The nearest-neighbour search under banded DTW (core/dtw.c), for the
 * dream metrics' reference (internal).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The searched series: x (n, length) and their Sakoe-Chiba envelopes
 * upper, lower (n, length), each made by sd_dtw_search_envelope. */
typedef struct
{
  const float *x, *upper, *lower;
} SdDtwSet;

/* Scratch of searches among series of `length` samples with a band of
 * `band` samples (band < length). Not thread-safe: one per thread. */
typedef struct _SdDtwSearch SdDtwSearch;

G_GNUC_INTERNAL SdDtwSearch *sd_dtw_search_new (int length, int band);
G_GNUC_INTERNAL void sd_dtw_search_free (SdDtwSearch *s);

/* Leave-one-out searches of a set of n_rows series among themselves: from
 * now on every DTW computed is remembered for both of its series (DTW is
 * symmetric), a bound that later searches start from. */
G_GNUC_INTERNAL void sd_dtw_search_remember (SdDtwSearch *s, guint n_rows);

/* upper[i] = max x[i - band .. i + band], lower[i] = the min (length
 * samples each): what LB_Keogh bounds against. */
G_GNUC_INTERNAL void sd_dtw_search_envelope (
    SdDtwSearch *s, const float *x, float *upper, float *lower);

/* The squared DTW distance from q (length samples) to its nearest series
 * among rows[0 .. n_rows) of set, skipping row `exclude` (-1: none);
 * exact. Row `first` (not `exclude`, among rows) is computed first: give
 * the Euclidean nearest, likely close, whose distance prunes the rest. */
G_GNUC_INTERNAL double sd_dtw_nearest_sq (SdDtwSearch *s, const SdDtwSet *set,
    const float *q, const guint *rows, guint n_rows, int exclude, int first);

G_END_DECLS
