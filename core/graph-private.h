/* Op graphs (internal): the form an imported ONNX model takes inside an
 * SdModel (model-private.h, field graph), instead of the compiled stage
 * list of a preset architecture.
 *
 * A graph is a list of ops in execution order. Value 0 is the input
 * (B,1,T); op i writes value i + 1, and reads only values before it, so
 * the list is its own topological order. Every value is (B,C,T) with a
 * length that follows from T (a value is "unit" when its length is 1 for
 * every T: after global pooling or a dense layer; (B,C) and (B,C,1) are
 * the same memory). Reshapes that drop unit dims, Flatten, Identity and
 * Dropout are not ops: the importer maps their output to their input's
 * value.
 *
 * Parameters are named tensors of the model (SdParamInfo); an op holds
 * their names (the safetensors form, metadata "graph", docs/model-import.md)
 * and, once the model is compiled, their offsets.
 *
 *   core/graph.c      the graph, its checks, lengths, JSON form, model
 *   core/graph-run.c  workspaces: forward and backward
 *   core/onnx.c       the ONNX reader
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "sd-parallel.h"

#include "model-private.h"
#include "seqdream/graph.h"

G_BEGIN_DECLS

typedef enum
{
  GOP_CONV,    /* tensors: weight (OC, C/group, K), bias (OC) or none */
  GOP_BN,      /* inference form; scale, bias, mean, var (C) */
  GOP_ACT,     /* act, alpha */
  GOP_ADD,     /* two values of equal shape */
  GOP_MUL,     /* two values of equal shape */
  GOP_AFFINE,  /* per-channel constants: scale (C) or none, shift (C) or none */
  GOP_CONCAT,  /* channels */
  GOP_MAXPOOL, /* win */
  GOP_AVGPOOL, /* win, count_pad */
  GOP_GAP,     /* global average over time -> unit */
  GOP_GMP,     /* global max over time -> unit */
  GOP_GEMM,    /* (B, IN) -> (B, OC): weight (OC, IN), bias (OC) */
  GOP_PAD,     /* zeros: win.pad_l, win.pad_r */
  GOP_FLATTEN, /* (B,C,L) -> unit (B, OC = C*L): the model takes the one
                * input length that gives L */
  GOP_N_TYPES
} GraphOpType;

#define GRAPH_MAX_IN 16
#define GRAPH_MAX_OPS 4096
#define GRAPH_MAX_CHANNELS 65536
#define GRAPH_MAX_WINDOW 65536
#define GRAPH_N_TENSORS 4
/* The channels of all values together: bounds a workspace (a tiny file
 * could otherwise ask for gigabytes through concats of concats). The
 * largest test model has 2,600. */
#define GRAPH_MAX_TOTAL_CHANNELS (1 << 18)

typedef struct
{
  GraphOpType type;
  char *name; /* of the ONNX node, for messages */
  int in[GRAPH_MAX_IN];
  int n_in;
  SdWindow win;
  int group;
  gboolean count_pad;
  SdActivation act;
  float alpha, eps;
  int OC; /* conv, gemm: output channels */
  int IN; /* gemm: input features */
  char *tensor[GRAPH_N_TENSORS];
  gsize off[GRAPH_N_TENSORS]; /* into the model's params, after compiling */
} GraphOp;

typedef struct
{
  int C;
  gboolean unit;
  int rf, jump; /* receptive field and stride in input samples */
} GraphValue;

typedef enum
{
  GRAPH_OUT_LOGITS,
  GRAPH_OUT_SOFTMAX,
  GRAPH_OUT_LOG_SOFTMAX,
} GraphOutput;

struct _SdGraph
{
  gint ref_count;
  GArray *ops;        /* GraphOp */
  GArray *values;     /* GraphValue; n_ops + 1 */
  int logits;         /* the value of the logits (B,K) */
  int features;       /* the "gap" layer: the input of the last dense */
  GraphOutput output; /* what the ONNX graph applied to the logits */
  gint64 total_channels;
  /* Batch norm of a graph trained from scratch (the inception presets):
   * batch statistics in SD_MODE_TRAIN workspaces, which update the
   * running ones, as the block presets. FALSE for an imported model,
   * whose statistics stay fixed while it is fine-tuned. */
  gboolean train_bn;
  /* The architecture's name ("inception"); NULL: "onnx" (imported). */
  char *arch_name;
};

G_GNUC_INTERNAL SdGraph *sd_graph_new (void);
G_GNUC_INTERNAL SdGraph *sd_graph_ref (SdGraph *g);
G_GNUC_INTERNAL void sd_graph_unref (SdGraph *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdGraph, sd_graph_unref)

/* Appends op (its strings are copied) after checking it against the
 * values before it; returns its output value, or -1 with an error naming
 * the node. */
G_GNUC_INTERNAL int sd_graph_add (
    SdGraph *g, const GraphOp *op, GError **error);
/* Sets the logits value (unit, at least 2 channels) and the features. */
G_GNUC_INTERNAL gboolean sd_graph_set_logits (
    SdGraph *g, int value, GraphOutput output, GError **error);

/* The length of every value (n_ops + 1) for input length T. With check,
 * FALSE and an error when T does not fit the graph (a window longer than
 * its input, joined branches of different lengths, a dense layer whose
 * input is not as long as its weight); without, lengths are upper bounds
 * for every T' <= T (used to size workspaces). */
G_GNUC_INTERNAL gboolean sd_graph_lengths (
    const SdGraph *g, int T, gboolean check, int *len, GError **error);
/* The length of value for input length T (an upper bound when T does
 * not fit the graph). */
G_GNUC_INTERNAL int sd_graph_value_length (const SdGraph *g, int value, int T);
/* The shortest input length the graph accepts (searching up to limit);
 * 0 when none. */
G_GNUC_INTERNAL int sd_graph_min_length (const SdGraph *g, int limit);

/* The shape of tensor slot s of op (ndim 0 when the slot is unused). */
G_GNUC_INTERNAL void sd_graph_tensor_shape (
    const SdGraph *g, const GraphOp *op, int s, int *ndim, gint64 *shape);

G_GNUC_INTERNAL char *sd_graph_to_json (const SdGraph *g);
G_GNUC_INTERNAL SdGraph *sd_graph_from_json (const char *json, GError **error);
/* A few lines, one per op of m's graph, for `seqdream info`; the values
 * of m's layers tagged "[stages.i]", "[gap]", "[fc]". */
G_GNUC_INTERNAL char *sd_graph_describe (const SdModel *m);

/* A model over graph g (one reference taken): its tensors registered in
 * op order; params and labels NULL (the caller allocates the parameters
 * once their source has bounded their size). */
G_GNUC_INTERNAL SdModel *sd_model_compile_graph (
    SdGraph *g, const char *name, GError **error);
/* Checks of the loaded parameters (variances >= 0, finite). */
G_GNUC_INTERNAL gboolean sd_graph_check_params (
    const SdModel *m, GError **error);

/* ---- inception.c ---- */
/* InceptionTime of n_filters per branch for n_classes (train_bn set). */
G_GNUC_INTERNAL SdGraph *sd_inception_graph (
    int n_filters, int n_classes, float bn_eps, GError **error);

/* ---- graph-run.c ---- */
typedef struct _SdGraphWs SdGraphWs;
/* In SD_MODE_TRAIN, a graph with train_bn runs its batch norms on batch
 * statistics and updates the model's running ones. */
G_GNUC_INTERNAL SdGraphWs *sd_graph_ws_new (
    const SdModel *m, int max_B, int max_T, SdMode mode, GError **error);
G_GNUC_INTERNAL void sd_graph_ws_free (SdGraphWs *w);
/* The convolutions split every batch over the threads of par (NULL: the
 * caller's thread alone; borrowed, the owner frees it after w stops using
 * it): scratch for each further thread. FALSE (SD_ERROR_NOMEM) when it
 * does not fit; w then runs as before. */
G_GNUC_INTERNAL gboolean sd_graph_ws_set_parallel (
    SdGraphWs *w, SdParallel *par, GError **error);
/* x (B,T) -> logits (B,K); NULL (with a critical) when T does not fit. */
G_GNUC_INTERNAL const float *sd_graph_forward (
    const SdModel *m, SdGraphWs *w, const float *x, int B, int T);
/* Accumulates parameter gradients into grads (may be NULL), writes dx
 * (may be NULL); layer 0 of extra is "gap", 1 "fc". */
G_GNUC_INTERNAL void sd_graph_backward (const SdModel *m, SdGraphWs *w,
    const float *dlogits, const SdLayerGrad *extra, int n_extra, float *grads,
    float *dx);
G_GNUC_INTERNAL const float *sd_graph_layer_output (const SdModel *m,
    const SdGraphWs *w, int layer, int *channels, int *length);

G_END_DECLS
