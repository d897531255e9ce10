/* Functions shared inside libseqdream, not part of its API.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seqdream/safetensors.h>

G_BEGIN_DECLS

/* The checks of sd_safetensors_copy_f32 without the copy: t is F32 and,
 * when expect_ndim >= 0, of shape expect_shape; else an error naming the
 * tensor and the file. */
G_GNUC_INTERNAL gboolean sd_safetensors_check_f32 (const SdSafetensors *st,
    const SdTensorView *t, int expect_ndim, const gint64 *expect_shape,
    GError **error);

/* Median of the finite values of v (n, reordered); NaN when there are
 * none. */
G_GNUC_INTERNAL double sd_median_finite (double *v, guint n);

/* FFTW's planner is not thread-safe (execution is): every plan is made
 * and destroyed under this lock. */
G_GNUC_INTERNAL extern GMutex sd_fftw_planner_lock;

G_END_DECLS
