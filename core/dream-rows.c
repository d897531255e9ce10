/* The dream rows through the model, and what the run loop (dream.c), the
 * step (dream-step.c) and the checks (dream-check.c) share: the forward of
 * a chunk of rows with its probabilities and pooled features, the
 * per-series normalisation of a row (in float: its gradient is
 * dream-step.c's znorm_project_grad), divergence errors and layer widths.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <seqdream/stats.h>

#include <math.h>
#include <string.h>

int
dream_layer_channels (const SdDreamer *d, int layer)
{
  int C, len;
  sd_workspace_get_layer_output (d->ws, layer, &C, &len);
  return C;
}

int
dream_first_nonfinite (const float *x, gsize n)
{
  for (gsize k = 0; k < n; k++)
    if (!isfinite (x[k]))
      return (int) k;
  return -1;
}

gboolean
dream_diverged (
    GError **error, int dream, int step, const char *what, int index)
{
  if (step == 0 && strcmp (what, "the sequence") == 0)
    g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
        "dream %d diverged at step 0: the initial sequence has a non-finite "
        "value at index %d",
        dream, index);
  else
    g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
        "dream %d diverged at step %d: %s has a non-finite value at index "
        "%d (lower the learning rate or add a clip / norm-bound regulariser)",
        dream, step, what, index);
  return FALSE;
}

void
dream_znorm_row (float *x, int T)
{
  double m = 0.0, v = 0.0;
  for (int t = 0; t < T; t++)
    m += x[t];
  m /= T;
  for (int t = 0; t < T; t++)
    v += (x[t] - m) * (x[t] - m);
  double sd = sqrt (v / T);
  const float f = sd > 1e-8 ? (float) (1.0 / sd) : 0.0f, mf = (float) m;
  for (int t = 0; t < T; t++)
    x[t] = (x[t] - mf) * f;
}

const float *
dream_forward_rows (DreamRun *run, int r0, int r1, gboolean all_rows)
{
  SdDreamer *d = run->d;
  const int K = d->K;
  const float *z = sd_model_forward (
      d->model, d->ws, d->xin + (gsize) r0 * run->T, r1 - r0, run->T);
  sd_softmax_forward (d->probs + (gsize) r0 * K, z, r1 - r0, K);
  int C, L;
  const float *gap
      = sd_workspace_get_layer_output (d->ws, d->gap_layer, &C, &L);
  /* the novelty of every row while the model has statistics (what a
   * stop on "known" asks); it allocates nothing */
  const gboolean nov
      = sd_model_get_stats (d->model) != NULL
        && sd_workspace_novelty (d->model, d->ws, r1 - r0, d->nov_rows, NULL);
  for (int r = r0; r < r1; r++)
    if (all_rows || run->live[r]) {
      memcpy (d->feats + (gsize) run->row_dream[r] * C,
          gap + (gsize) (r - r0) * C, (gsize) C * sizeof (float));
      d->novelty[run->row_dream[r]] = nov ? d->nov_rows[r - r0] : NAN;
    }
  return z;
}
