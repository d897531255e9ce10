/* seqdream: how realistic is a dream? Distances and spectra against the
 * real series of its class. Formulas and reasons: docs/dreaming.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Dynamic time warping distance (sqrt of the summed squared differences
 * along the best path) with a Sakoe-Chiba band of `band` samples; series
 * may differ in length by at most band. Returns INFINITY when the
 * distance exceeds `abandon_above` (early abandoning; pass INFINITY). */
double sd_dtw_distance (const float *a, int n, const float *b, int m, int band,
    double abandon_above);

/* Real data of every class, normalised as the model normalises its input,
 * with per-class statistics computed once. */
typedef struct _SdReference SdReference;

typedef struct
{
  double dtw_band_fraction; /* band = fraction * length (0.1) */
  int max_per_class;        /* series per class used for the typical
                             * nearest-neighbour distance (200; the
                             * nearest neighbour itself is searched in
                             * every series of the class) */
  double hf_cutoff;         /* high-frequency share: energy above this
                             * fraction of Nyquist (0.5) */
  guint64 seed;             /* subsampling seed (0) */
} SdReferenceConfig;

void sd_reference_config_init (SdReferenceConfig *config);

/* data's labels must be the model's (load it with the model's labels). */
SdReference *sd_reference_new (const SdModel *model, const SdDataset *data,
    const SdReferenceConfig *config, GError **error);
void sd_reference_free (SdReference *ref);

int sd_reference_get_length (const SdReference *ref);
guint sd_reference_get_class_size (const SdReference *ref, int class_index);
/* Mean and standard deviation over time of the class's series (length). */
const float *sd_reference_get_class_mean (
    const SdReference *ref, int class_index);
const float *sd_reference_get_class_sd (
    const SdReference *ref, int class_index);

typedef struct
{
  /* Nearest real series of the target class (NaN when the dream's length
   * differs from the reference's). Ratios divide by the class's median
   * nearest-neighbour distance among its own series: 1.0 = as typical as a
   * real series. */
  double nn_euclidean, nn_euclidean_ratio;
  double nn_dtw, nn_dtw_ratio;
  int nn_index; /* row in the reference data */
  /* Smoothness: mean |x[t+1] - x[t]| and the share of spectral energy above
   * the cut-off, each also divided by the class median. */
  double tv, tv_ratio;
  double hf_energy, hf_ratio;
  /* Spectral distance to the class mean power spectrum: half the L1
   * distance of the two normalised spectra (0 = same shape, 1 = disjoint),
   * Welch-averaged over reference-length segments for longer dreams. */
  double spectral_distance;
  /* An independent second model's verdict (-1 / NaN without one). */
  int second_class;
  double second_probability; /* of the target class */
} SdDreamMetrics;

/* Metrics of x (T samples, normalised space) as a dream of target_class.
 * second may be NULL. */
gboolean sd_dream_metrics (const SdReference *ref, int target_class,
    const float *x, int T, SdModel *second, SdDreamMetrics *out,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdReference, sd_reference_free)

G_END_DECLS
