/* seqdream: the library's one input normalisation rule (SdNormalization,
 * declared in seqdream/model.h): per-series z-score, fixed mean and sd, or
 * none; and its inverse, back to data units.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/model.h"

#include <math.h>

const char *
sd_norm_mode_to_string (SdNormMode mode)
{
  switch (mode) {
    case SD_NORM_PER_SERIES:
      return "per-series";
    case SD_NORM_FIXED:
      return "fixed";
    case SD_NORM_NONE:
      return "none";
  }
  return "none";
}

gboolean
sd_norm_mode_from_string (const char *s, SdNormMode *mode)
{
  if (g_strcmp0 (s, "per-series") == 0)
    *mode = SD_NORM_PER_SERIES;
  else if (g_strcmp0 (s, "fixed") == 0)
    *mode = SD_NORM_FIXED;
  else if (g_strcmp0 (s, "none") == 0)
    *mode = SD_NORM_NONE;
  else
    return FALSE;
  return TRUE;
}

/* Per-series: mean and population sd in double; the rows are mapped with
 * float arithmetic ((float) (x - mean) times the float 1 / sd), the rule
 * every trained model has seen. A series whose sd exceeds 1e30 (no real
 * signal: x - mean could overflow a float) is divided in double instead,
 * so that finite values stay finite. */
static void
zscore_row (float *row, int T, double *mean_out, double *sd_out)
{
  double s = 0.0, ss = 0.0;

  for (int t = 0; t < T; t++)
    s += row[t];
  const double mean = s / T;
  for (int t = 0; t < T; t++)
    ss += (row[t] - mean) * (row[t] - mean);
  const double sd = sqrt (ss / T);
  if (sd > 1e30) {
    for (int t = 0; t < T; t++)
      row[t] = (float) ((row[t] - mean) / sd);
  } else {
    /* A flat window carries no shape: map it to zeros, not NaN. */
    const float scale = sd > 1e-8 ? (float) (1.0 / sd) : 0.0f;
    for (int t = 0; t < T; t++)
      row[t] = (float) (row[t] - mean) * scale;
  }
  if (mean_out != NULL)
    *mean_out = mean;
  if (sd_out != NULL)
    *sd_out = sd > 1e-8 ? sd : 1.0;
}

void
sd_normalization_apply (
    SdNormalization norm, float *x, int n, int T, double *mean, double *sd)
{
  g_return_if_fail (n >= 0 && T >= 0 && (x != NULL || n == 0 || T == 0));

  for (int i = 0; i < n; i++) {
    float *row = x + (gsize) i * T;
    double m = 0.0, s = 1.0;

    switch (norm.mode) {
      case SD_NORM_PER_SERIES:
        if (T > 0)
          zscore_row (row, T, &m, &s);
        break;
      case SD_NORM_FIXED: {
        const float inv = 1.0f / norm.std;
        for (int t = 0; t < T; t++)
          row[t] = (row[t] - norm.mean) * inv;
        m = norm.mean;
        s = norm.std;
        break;
      }
      case SD_NORM_NONE:
        break;
    }
    if (mean != NULL)
      mean[i] = m;
    if (sd != NULL)
      sd[i] = s;
  }
}

void
sd_normalization_invert (SdNormalization norm, float *x, int n, int T,
    const double *mean, const double *sd)
{
  g_return_if_fail (n >= 0 && T >= 0 && (x != NULL || n == 0 || T == 0));
  g_return_if_fail ((mean == NULL) == (sd == NULL));

  for (int i = 0; i < n; i++) {
    float *row = x + (gsize) i * T;

    if (mean != NULL) {
      for (int t = 0; t < T; t++)
        row[t] = (float) (row[t] * sd[i] + mean[i]);
    } else if (norm.mode == SD_NORM_FIXED) {
      /* float arithmetic, as sd_dream_denormalize has always used */
      for (int t = 0; t < T; t++)
        row[t] = row[t] * norm.std + norm.mean;
    }
  }
}
