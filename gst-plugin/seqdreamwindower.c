/* seqdream element: the windower (seqdreamwindower.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdreamwindower.h"

#include <math.h>
#include <string.h>

void
seq_dream_windower_init (SeqDreamWindower *w, guint window, guint hop)
{
  g_return_if_fail (window > 0 && hop > 0);

  w->window = window;
  w->hop = hop;
  seq_dream_windower_restart (w);
}

void
seq_dream_windower_clear (SeqDreamWindower *w)
{
  g_clear_pointer (&w->acc, g_free);
  w->len = w->cap = 0;
}

void
seq_dream_windower_restart (SeqDreamWindower *w)
{
  w->len = 0;
  w->offset = 0;
  w->skip = 0;
  w->n_received = 0;
  w->last_window_end = 0;
}

void
seq_dream_windower_append (SeqDreamWindower *w, const gfloat *x, gsize n)
{
  gsize k = (gsize) MIN ((guint64) n, w->skip);

  w->n_received += n;
  w->skip -= k;
  n -= k;
  /* Before the pointer moves: an empty buffer maps to x == NULL. */
  if (n == 0)
    return;
  x += k;
  if (w->len + n > w->cap) {
    w->cap = MAX (w->len + n, 2 * w->cap);
    w->acc = g_renew (gfloat, w->acc, w->cap);
  }
  memcpy (w->acc + w->len, x, n * sizeof (gfloat));
  w->len += n;
}

guint
seq_dream_windower_n_complete (const SeqDreamWindower *w)
{
  if (w->window == 0 || w->len < w->window)
    return 0;
  return (guint) ((w->len - w->window) / w->hop + 1);
}

const gfloat *
seq_dream_windower_window (const SeqDreamWindower *w, guint j)
{
  return w->acc + (gsize) j * w->hop;
}

guint64
seq_dream_windower_window_start (const SeqDreamWindower *w, guint j)
{
  return w->offset + (guint64) j * w->hop;
}

/* Drops the first n samples of the accumulator (n may exceed its length:
 * the rest is skipped as it arrives). */
static void
consume_samples (SeqDreamWindower *w, guint64 n)
{
  if (n >= w->len) {
    w->skip += n - w->len;
    w->len = 0;
  } else {
    memmove (w->acc, w->acc + n, (w->len - (gsize) n) * sizeof (gfloat));
    w->len -= (gsize) n;
  }
  w->offset += n;
}

void
seq_dream_windower_consume (SeqDreamWindower *w, guint n_windows)
{
  g_return_if_fail (n_windows > 0);

  w->last_window_end
      = seq_dream_windower_window_start (w, n_windows - 1) + w->window;
  consume_samples (w, (guint64) n_windows * w->hop);
}

gsize
seq_dream_windower_tail (const SeqDreamWindower *w)
{
  if (w->len == 0 || 2 * w->len < w->window
      || w->offset + w->len <= w->last_window_end)
    return 0;
  return w->len;
}

void
seq_dream_windower_consume_tail (SeqDreamWindower *w)
{
  w->last_window_end = w->offset + w->len;
  consume_samples (w, w->len);
}

/* Mean and standard deviation of x (T), as the library's per-series
 * normalisation computes them. */
static void
window_stats (const gfloat *x, guint T, gdouble *mean, gdouble *sd)
{
  gdouble s = 0.0, ss = 0.0, m;

  for (guint t = 0; t < T; t++)
    s += x[t];
  m = s / T;
  for (guint t = 0; t < T; t++)
    ss += (x[t] - m) * (x[t] - m);
  *mean = m;
  *sd = sqrt (ss / T);
}

void
seq_dream_windower_normalize (const SeqDreamWindower *w, const SdModel *model,
    gfloat *x, guint T, gdouble *mean, gdouble *sd)
{
  gdouble m, s;

  switch (w->norm.mode) {
    case SD_NORM_PER_SERIES:
      window_stats (x, T, &m, &s);
      *mean = m;
      *sd = s > 1e-8 ? s : 1.0;
      if (!w->norm_is_models) {
        gfloat scale = s > 1e-8 ? (gfloat) (1.0 / s) : 0.0f;
        for (guint t = 0; t < T; t++)
          x[t] = (gfloat) (x[t] - m) * scale;
        return;
      }
      break;
    case SD_NORM_FIXED:
      *mean = w->norm.mean;
      *sd = w->norm.std;
      if (!w->norm_is_models) {
        gfloat inv = 1.0f / w->norm.std;
        for (guint t = 0; t < T; t++)
          x[t] = (x[t] - w->norm.mean) * inv;
        return;
      }
      break;
    case SD_NORM_NONE:
    default:
      *mean = 0.0;
      *sd = 1.0;
      return;
  }
  sd_model_normalize_input (model, x, 1, (int) T);
}

gboolean
seq_dream_window_is_finite (const gfloat *x, guint n)
{
  for (guint i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return FALSE;
  return TRUE;
}
