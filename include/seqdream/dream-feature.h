/* seqdream: the pooled features of the feature anchor (FEATURE) and the
 * class mean features of reference data it takes as target.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/data.h>
#include <seqdream/model.h>

G_BEGIN_DECLS

/* Number of pooled features of the model (the channels of its last
 * stage, averaged over time by the "gap" layer). */
int sd_dream_feature_size (const SdModel *model);

/* The class mean features for FEATURE: every series of data (labels
 * mapped onto the model's), normalised as the model normalises its input,
 * cut into segments of T samples as sd_dream_class_spectra does, run
 * through the model (eval mode); the mean of the segments' pooled features
 * per class. features: (n_classes, sd_dream_feature_size); rows of classes
 * without series are NaN. Errors as sd_dream_class_spectra, and when T is
 * shorter than the model accepts. */
gboolean sd_dream_class_features (const SdModel *model, const SdDataset *data,
    int T, float *features, GError **error);

G_END_DECLS
