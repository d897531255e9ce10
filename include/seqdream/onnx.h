/* seqdream: models from ONNX files (core/onnx.c, docs/model-import.md).
 *
 * An ONNX model of a 1-D CNN classifier, input [batch, 1, time] (time
 * fixed or dynamic), output the class scores [batch, classes], becomes an
 * SdModel over an op graph: it predicts, evaluates, dreams and explains
 * as a preset model does, and saves as a seqdream model file (metadata
 * "graph" instead of "arch"). A trailing Softmax or LogSoftmax is
 * recorded and left out: the model's outputs stay the logits.
 *
 * Supported ops: Conv (1-D; pads, strides, dilations, group, bias),
 * BatchNormalization (inference), Relu, LeakyRelu, Elu, Sigmoid, Tanh,
 * Gelu, Erf, Add, Sub/Mul/Div by a constant (scalar or per channel), Mul
 * of two tensors, Concat (channels), MaxPool, AveragePool,
 * GlobalAveragePool, GlobalMaxPool, ReduceMean / ReduceMax over time,
 * Flatten, Reshape / Squeeze / Unsqueeze of unit dims, Gemm, MatMul (+
 * Add), Dropout, Identity, Softmax / LogSoftmax at the end, Constant, Pad
 * (zeros, time axis). Anything else is an error naming the node and op.
 *
 * A file that sd_model_save_onnx wrote keeps its labels, rate, training
 * length and normalisation: its seqdream.* metadata_props are read, and
 * its normalisation ops become the model's SdNormalization again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/model.h>

G_BEGIN_DECLS

typedef struct
{
  /* class labels (NULL-terminated, one per class); NULL: "0", "1", ... */
  const char *const *labels;
  double sample_rate;   /* Hz; 0: unknown */
  SdNormalization norm; /* the default {SD_NORM_PER_SERIES} is NOT used:
                         * see use_norm */
  gboolean use_norm;    /* FALSE: no normalisation (the model gets the data
                         * as it is, as in the framework it came from) */
} SdOnnxOptions;

/* The ONNX file at path as a model; opts may be NULL (defaults). */
SdModel *sd_model_load_onnx (
    const char *path, const SdOnnxOptions *opts, GError **error);
SdModel *sd_model_load_onnx_from_bytes (GBytes *bytes, const char *display_name,
    const SdOnnxOptions *opts, GError **error);

/* The op graph of an imported model, one op a line; NULL for a model of a
 * preset architecture. */
char *sd_model_describe_graph (const SdModel *model);

/* The model as an ONNX file (opset 13, IR version 7): input "input"
 * [batch, 1, time], output "logits" [batch, classes]; the model's input
 * normalisation as ops, so the file maps raw series to the logits that
 * `seqdream predict` prints; labels, sample rate, training length,
 * normalisation and input range in metadata_props, which
 * sd_model_load_onnx reads back (docs/model-import.md, Export). FALSE
 * and an error naming the op for an op opset 13 cannot express, or when
 * the file cannot be written. */
gboolean sd_model_save_onnx (SdModel *model, const char *path, GError **error);
GBytes *sd_model_save_onnx_to_bytes (SdModel *model, GError **error);

/* The ops the reader maps, comma-separated (static). */
const char *sd_onnx_supported_ops (void);

G_END_DECLS
