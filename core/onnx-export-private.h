/* The ONNX writer's pieces shared with the reader (internal): the
 * metadata keys of an exported file and the op sequence of its input
 * normalisation, which `seqdream import` recognises and maps back onto
 * the model's SdNormalization (core/onnx-meta.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "onnx-private.h"

G_BEGIN_DECLS

/* metadata_props of an exported model (docs/model-import.md, Export) */
#define ONNX_META_LABELS "seqdream.labels"             /* JSON array */
#define ONNX_META_NORM "seqdream.normalization"        /* JSON object */
#define ONNX_META_NORM_OUT "seqdream.normalized_input" /* tensor name */
#define ONNX_META_TRAIN_LENGTH "seqdream.train_length" /* samples */
#define ONNX_META_RATE "seqdream.sample_rate"          /* Hz */
#define ONNX_META_RANGE "seqdream.input_range"         /* [lo, hi] */
#define ONNX_META_PROVENANCE "seqdream.provenance"     /* JSON object */

/* The flat-series threshold of per-series normalisation (core/
 * normalization.c): an sd at or below it maps the series to zeros. */
#define ONNX_NORM_SD_EPS 1e-8f

/* The op types of the exported normalisation, in node order (NULL-
 * terminated; empty for SD_NORM_NONE). */
G_GNUC_INTERNAL const char *const *onnx_norm_ops (SdNormMode mode);

/* What the metadata of an ONNX file says (all optional). */
typedef struct
{
  char **labels; /* NULL-terminated */
  gboolean has_norm;
  SdNormalization norm;
  char *norm_out; /* tensor the exported normalisation writes */
  guint train_length;
  double sample_rate;
  gboolean has_range;
  float range_lo, range_hi;
  char *provenance; /* a JSON object */
} OnnxMeta;

G_GNUC_INTERNAL void onnx_meta_clear (OnnxMeta *meta);
/* Reads the seqdream.* metadata_props of mp (an error names a bad one). */
G_GNUC_INTERNAL gboolean onnx_meta_read (
    OnnxImporter *imp, const Onnx__ModelProto *mp, OnnxMeta *meta);
/* With meta->norm_out set: checks that the first nodes of the graph are
 * the exported normalisation of meta->norm, reading the graph input and
 * writing norm_out, and defines norm_out as the input value; *first is
 * the first node after them (0 without norm_out). */
G_GNUC_INTERNAL gboolean onnx_meta_skip_norm (OnnxImporter *imp,
    const Onnx__GraphProto *gp, const OnnxMeta *meta, gsize *first);

G_END_DECLS
