/* seqdream: dynamic time warping distance (core/dtw.c; docs/metrics.md).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Dynamic time warping distance (sqrt of the summed squared differences
 * along the best path) with a Sakoe-Chiba band of `band` samples: cells
 * with |i - j| <= band, so series may differ in length by at most band
 * (band >= max (n, m) - 1 is unconstrained DTW). Returns INFINITY exactly
 * when the distance exceeds `abandon_above` (early abandoning; pass
 * INFINITY for none), NaN for NULL series, n or m < 1, band < 0 or
 * |n - m| > band. O(n band) time, O(band) memory. */
double sd_dtw_distance (const float *a, int n, const float *b, int m, int band,
    double abandon_above);

G_END_DECLS
