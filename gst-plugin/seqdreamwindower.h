/* seqdream element: the windower, which cuts a stream of interleaved frames
 * (`channels` samples each, 1 by default) into windows of `window` frames
 * every `hop` frames and normalises them for the model.
 * No GStreamer here (GLib and libseqdream only): the element feeds it the
 * samples of each buffer and turns its sample indices into timestamps;
 * tests/test_windower.c drives it directly.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Sample indices count frames (one sample of every channel) from the last
 * restart (the first frame after it is 0). Window j of the accumulator
 * starts at sample offset + j * hop, in every channel. */
typedef struct
{
  guint window, hop;    /* frames; hop may exceed window */
  guint channels;       /* samples per frame, interleaved; >= 1 */
  SdNormalization norm; /* what is applied to each window */

  gfloat *acc; /* (len, channels) frames from offset on; room for cap */
  gsize len, cap;
  guint64 offset;          /* sample index of acc[0] */
  guint64 skip;            /* samples to drop before acc (hop > window) */
  guint64 n_received;      /* samples since restart */
  guint64 last_window_end; /* sample index after the last full window */
} SeqDreamWindower;

/* Sets the geometry (window > 0, hop > 0), one channel, and restarts; the
 * normalisation is set by the caller. */
G_GNUC_INTERNAL
void seq_dream_windower_init (SeqDreamWindower *w, guint window, guint hop);

/* Frees the samples (window, hop and normalisation stay). */
G_GNUC_INTERNAL
void seq_dream_windower_clear (SeqDreamWindower *w);

/* Forgets the samples collected so far: windows start again at the next
 * sample, which becomes sample 0. */
G_GNUC_INTERNAL
void seq_dream_windower_restart (SeqDreamWindower *w);

/* Sets the number of interleaved channels (>= 1) and restarts. */
G_GNUC_INTERNAL
void seq_dream_windower_set_channels (SeqDreamWindower *w, guint channels);

/* Appends n frames, x (n, channels) (x may be NULL when n is 0). */
G_GNUC_INTERNAL
void seq_dream_windower_append (SeqDreamWindower *w, const gfloat *x, gsize n);

/* Full windows in the accumulator: window j is acc + j * hop. */
G_GNUC_INTERNAL
guint seq_dream_windower_n_complete (const SeqDreamWindower *w);

/* Window j of the accumulator (j < n_complete, or 0 for the tail): its
 * first frame; channel c's samples are at c + t * channels. */
G_GNUC_INTERNAL
const gfloat *seq_dream_windower_window (const SeqDreamWindower *w, guint j);

/* Channel c of window j, T samples copied to dst (T) (T <= window, or the
 * tail's length). */
G_GNUC_INTERNAL
void seq_dream_windower_copy_channel (
    const SeqDreamWindower *w, guint j, guint c, gfloat *dst, guint T);

/* Sample index of the start of window j of the accumulator. */
G_GNUC_INTERNAL
guint64 seq_dream_windower_window_start (const SeqDreamWindower *w, guint j);

/* Drops the first n_windows windows (scored): their hops leave the
 * accumulator, and the last one's end is remembered for the tail. */
G_GNUC_INTERNAL
void seq_dream_windower_consume (SeqDreamWindower *w, guint n_windows);

/* At the end of the stream: the length of the tail when it deserves a
 * window of its own (at least half a window, and samples that no full
 * window covered), else 0. The tail is acc[0 .. len). */
G_GNUC_INTERNAL
gsize seq_dream_windower_tail (const SeqDreamWindower *w);

/* Drops the tail after it was scored. */
G_GNUC_INTERNAL
void seq_dream_windower_consume_tail (SeqDreamWindower *w);

/* Normalises one window x (T) in place as w->norm says (the library's
 * rule, sd_normalization_apply) and gives the affine map back to the
 * units of the data: data = x * sd + mean. */
G_GNUC_INTERNAL
void seq_dream_windower_normalize (
    const SeqDreamWindower *w, gfloat *x, guint T, gdouble *mean, gdouble *sd);

/* TRUE when no sample of x (n) is NaN or Inf. */
G_GNUC_INTERNAL
gboolean seq_dream_window_is_finite (const gfloat *x, guint n);

G_END_DECLS
