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
  if (w->channels != 1)
    seq_dream_windower_clear (w);
  w->channels = 1;
  seq_dream_windower_restart (w);
}

void
seq_dream_windower_set_channels (SeqDreamWindower *w, guint channels)
{
  g_return_if_fail (channels >= 1);

  /* (the accumulator's frames change size: what it holds is dropped) */
  if (channels != w->channels) {
    seq_dream_windower_clear (w);
    w->channels = channels;
  }
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
  x += k * w->channels;
  if (w->len + n > w->cap) {
    w->cap = MAX (w->len + n, 2 * w->cap);
    w->acc = g_renew (gfloat, w->acc, w->cap * w->channels);
  }
  memcpy (w->acc + w->len * w->channels, x, n * w->channels * sizeof (gfloat));
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
  return w->acc + (gsize) j * w->hop * w->channels;
}

void
seq_dream_windower_copy_channel (
    const SeqDreamWindower *w, guint j, guint c, gfloat *dst, guint T)
{
  const gfloat *x = seq_dream_windower_window (w, j) + c;
  guint C = w->channels;

  if (C == 1) {
    memcpy (dst, x, T * sizeof (gfloat));
    return;
  }
  for (guint t = 0; t < T; t++)
    dst[t] = x[(gsize) t * C];
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
    memmove (w->acc, w->acc + (gsize) n * w->channels,
        (w->len - (gsize) n) * w->channels * sizeof (gfloat));
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

void
seq_dream_windower_normalize (
    const SeqDreamWindower *w, gfloat *x, guint T, gdouble *mean, gdouble *sd)
{
  sd_normalization_apply (w->norm, x, 1, (int) T, mean, sd);
}

gboolean
seq_dream_window_is_finite (const gfloat *x, guint n)
{
  for (guint i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return FALSE;
  return TRUE;
}
