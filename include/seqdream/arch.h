/* seqdream: architectures as data (SdArch), the presets and the JSON form
 * stored in model files (core/arch.c).
 *
 * An architecture is a list of stages followed by global average pooling
 * and a dense layer:
 *   conv      conv1d('same', no bias) -> batch norm -> ReLU
 *   residual  n x [conv1d -> batch norm], ReLU between them, the last
 *             output added to the shortcut (identity, or 1x1 conv + batch
 *             norm when the channel count changes), then ReLU.
 * Any stage may end in average pooling over time (`pool` P > 1: kernel =
 * stride = P, no padding, as torch.nn.AvgPool1d), which divides the length
 * by P (floor); a model therefore needs inputs of at least
 * sd_model_get_min_length () samples.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SD_MAX_STAGES 16
#define SD_MAX_STAGE_CONVS 4
/* The most channels of any convolution. */
#define SD_MAX_CHANNELS 4096

typedef enum
{
  SD_STAGE_CONV,
  SD_STAGE_RESIDUAL,
} SdStageType;

typedef struct
{
  SdStageType type;
  int n_convs; /* 1 for SD_STAGE_CONV */
  int channels[SD_MAX_STAGE_CONVS];
  int kernels[SD_MAX_STAGE_CONVS];
  int pool; /* average pooling after the stage; 0 or 1: none */
} SdStage;

typedef struct
{
  char name[64];
  int in_channels; /* 1: univariate */
  int n_classes;
  int n_stages;
  SdStage stages[SD_MAX_STAGES];
  float bn_eps;      /* 1e-5 as PyTorch */
  float bn_momentum; /* 0.1 as PyTorch */
} SdArch;

/* "resnet-small", "resnet", "fcn", "fcn-small", "fcn-pool", and the graph
 * presets "inception" and "inception-small", which have no stages here
 * (n_stages 0; their models' stage layers are graph values,
 * sd_model_get_n_stage_layers): sd_model_new makes them from their name
 * (sd_model_new_inception); sd_arch_to_json cannot describe them. */
gboolean sd_arch_from_preset (
    const char *name, int n_classes, SdArch *arch, GError **error);
/* The JSON form stored in model files (docs/model-format.md). */
gboolean sd_arch_from_json (const char *json, SdArch *arch, GError **error);
char *sd_arch_to_json (const SdArch *arch);
/* NULL-terminated list of preset names (static). */
const char *const *sd_arch_list_presets (void);

G_END_DECLS
