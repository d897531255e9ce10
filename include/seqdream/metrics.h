/* seqdream: how realistic is a dream? Distances and spectra against the
 * real series of its class. Formulas and reasons: docs/metrics.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/dtw.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Mean absolute step of x (T samples): sum |x[t+1] - x[t]| / (T - 1), the
 * differences taken in double; 0 for T < 2. The smoothness of a dream
 * (SdDreamMetrics.tv) and the library's one total variation. */
double sd_total_variation (const float *x, int T);

/* Real data of every class, normalised as the model normalises its input,
 * with per-class statistics computed once. */
typedef struct _SdReference SdReference;

typedef struct
{
  double dtw_band_fraction; /* band = round (fraction * length), at most
                             * length - 1 (0.1) */
  int max_per_class;        /* series per class used for the typical
                             * nearest-neighbour distance (200; the
                             * nearest neighbour itself is searched in
                             * every series of the class) */
  double hf_cutoff;         /* high-frequency share: energy above this
                             * fraction of Nyquist (0.5) */
  guint64 seed;             /* subsampling seed (0) */
} SdReferenceConfig;

void sd_reference_config_init (SdReferenceConfig *config);

/* data's labels must be the model's (load it with the model's labels):
 * data->labels[c] must equal the model's label c for every class of the
 * data, which may hold fewer classes than the model (SD_ERROR_INVALID_ARG
 * otherwise). The series are normalised with sd_model_normalize_input. A
 * reference is immutable: any number of threads may use one at once. */
SdReference *sd_reference_new (const SdModel *model, const SdDataset *data,
    const SdReferenceConfig *config, GError **error);
void sd_reference_free (SdReference *ref);

int sd_reference_get_length (const SdReference *ref);
guint sd_reference_get_class_size (const SdReference *ref, int class_index);
/* Mean and (population) standard deviation over time of the class's
 * series (length values; NaN for a class without series). */
const float *sd_reference_get_class_mean (
    const SdReference *ref, int class_index);
const float *sd_reference_get_class_sd (
    const SdReference *ref, int class_index);

typedef struct
{
  /* Nearest real series of the target class, searched among all its
   * series (NaN when the dream's length differs from the reference's).
   * Ratios divide by the class's median leave-one-out nearest-neighbour
   * distance among its own series: 1.0 = as typical as a real series (NaN
   * when that median is 0 or unknown, e.g. a class of one series). */
  double nn_euclidean, nn_euclidean_ratio;
  double nn_dtw, nn_dtw_ratio;
  int nn_index; /* row in the reference data of the Euclidean nearest
                 * (the first on ties); -1 with NaN distances */
  /* Smoothness: mean |x[t+1] - x[t]| and the share of spectral energy above
   * the cut-off, each also divided by the class median (NaN when that is
   * 0; hf_energy is NaN for a constant dream). */
  double tv, tv_ratio;
  double hf_energy, hf_ratio;
  /* Spectral distance to the class mean power spectrum: half the L1
   * distance of the two normalised spectra (0 = same shape, 1 = disjoint;
   * a single real series is not 0: about 0.3-0.6 on FordA). The dream's
   * spectrum is on the reference's frequency grid (Hann window of the
   * reference length): Welch-averaged over reference-length segments
   * overlapping by at least half when the dream is longer, Hann-windowed
   * over its own length and zero-padded when shorter. NaN for a constant
   * dream. */
  double spectral_distance;
  /* An independent second model's verdict on the dream as given (-1 / NaN
   * without one): its argmax class and its probability of the target. */
  int second_class;
  double second_probability; /* of the target class */
} SdDreamMetrics;

/* Metrics of x (T >= 2 samples, in the model's normalised input space)
 * as a dream of target_class. second may be NULL; else it must normalise
 * its input exactly as the reference's model (the dream is not normalised
 * again) and have the same labels, or SD_ERROR_INVALID_ARG. Also
 * SD_ERROR_INVALID_ARG for NULL arguments, T < 2, a class out of range or
 * without reference series; SD_ERROR_NONFINITE for NaN / Inf samples.
 * Thread-safe for a shared reference (the second model gets a workspace
 * per call). */
gboolean sd_dream_metrics (const SdReference *ref, int target_class,
    const float *x, int T, SdModel *second, SdDreamMetrics *out,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdReference, sd_reference_free)

G_END_DECLS
