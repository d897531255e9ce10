/* seqdream: datasets of univariate series (UCR text files, WAV windows).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seqdream/error.h>

G_BEGIN_DECLS

/* n series of equal length; x is (n, length) row-major, y holds class
 * indices into labels. */
typedef struct
{
  guint n;
  guint length;
  float *x;
  int *y;
  guint n_classes;
  char **labels;      /* NULL-terminated, n_classes entries */
  double sample_rate; /* Hz, 0 when unknown (UCR) */
  /* Windows cut from recordings (sd_dataset_load_wav_windows): row i is
   * samples start[i] .. start[i] + length - 1 of recording source[i] (an
   * index into the sources given); both NULL for other data. */
  guint *source;
  gint64 *start;
} SdDataset;

/* UCR TSV/TXT: one series per line, the label first, then the values,
 * separated by tabs, commas or spaces. Labels may be any token; they are
 * mapped to indices in sorted order (numerically when every label is a
 * number, else lexicographically). Ragged rows, non-numbers, NaN/Inf and
 * empty files are errors naming the file and the line number.
 *
 * If labels is not NULL the file's labels are mapped onto that set (e.g. a
 * test file onto the training labels) and an unknown label is an error. */
SdDataset *sd_dataset_load_ucr (
    const char *path, const char *const *labels, GError **error);
/* The same from a file already in memory (e.g. a GResource or a network
 * buffer); display_name stands for the path in error messages. The bytes
 * need not be NUL-terminated. */
SdDataset *sd_dataset_load_ucr_from_bytes (GBytes *bytes,
    const char *display_name, const char *const *labels, GError **error);

/* One recording to cut into windows. */
typedef struct
{
  const char *path; /* WAV (or any libsndfile format), mono */
  const char *label;
} SdWavSource;

typedef enum
{
  SD_SPLIT_ALL,   /* every window */
  SD_SPLIT_TRAIN, /* windows in the first train_fraction */
  SD_SPLIT_TEST,  /* windows after it, one window of gap */
} SdSplitPart;

/* Windows of `window` samples every `hop` samples from each recording,
 * split by time inside each recording: the first train_fraction of the
 * samples gives the training windows, the test windows start at least one
 * full window after the last training sample, so no test window overlaps
 * a training window. Labels are taken from the sources (sorted, as for UCR,
 * or mapped onto `labels` when given). A recording too short for one
 * window in the requested part is an error naming it. Every recording must
 * have the same sample rate, recorded in the dataset. */
SdDataset *sd_dataset_load_wav_windows (const SdWavSource *sources,
    guint n_sources, guint window, guint hop, SdSplitPart part,
    double train_fraction, const char *const *labels, GError **error);

/* The samples of a mono recording (any format libsndfile reads), in its
 * own units, as floats: *samples (free with g_free) holds *n_samples of
 * them at *rate Hz. Every sample must be finite. Errors name the file:
 * SD_ERROR_IO (cannot open), SD_ERROR_FORMAT (not audio, not mono, no
 * length, truncated), SD_ERROR_NONFINITE (the sample and its time),
 * SD_ERROR_NOMEM. */
gboolean sd_wav_read (const char *path, float **samples, gint64 *n_samples,
    int *rate, GError **error);

/* A new dataset with the rows of idx (copies). */
SdDataset *sd_dataset_subset (const SdDataset *ds, const guint *idx, guint n);
void sd_dataset_free (SdDataset *ds);

/* Per-series z-normalisation (mean 0, sd 1; a flat series becomes 0):
 * sd_normalization_apply with SD_NORM_PER_SERIES, the rule of the models. */
void sd_zscore_series (float *x, guint length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdDataset, sd_dataset_free)

G_END_DECLS
