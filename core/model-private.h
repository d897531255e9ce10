/* The inside of an SdModel, shared by the files that make up the model
 * (internal):
 *   model.c      compiling an architecture into an op list, parameters,
 *                accessors
 *   model-file.c loading and saving safetensors model files
 *   workspace.c  workspaces, the forward and the two backward passes
 *
 * An SdArch is compiled once into a flat list of ops over numbered
 * activation buffers; forward walks the list, backward walks it in
 * reverse. Parameters live in one float array laid out in state_dict
 * order; gradients use the same layout.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/model.h>
#include <seqdream/safetensors.h>
#include <seqdream/stats.h>

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The compiler fuses every ReLU into the op before it (a batch norm or a
 * residual join, the only ops a ReLU follows): the ReLU is applied in
 * place on that op's output, so its activation index is the op's out. */
typedef enum
{
  OP_CONV,     /* conv1d 'same', no bias */
  OP_BN,       /* batch norm without a ReLU (before a residual join) */
  OP_BN_RELU,  /* batch norm, then ReLU */
  OP_ADD_RELU, /* residual join, then ReLU */
  OP_POOL,     /* average pooling over time, kernel = stride = K */
  OP_GAP,
  OP_DENSE,
} OpType;

typedef struct
{
  OpType type;
  int in, in2, out; /* activation indices (in2: second input of a join) */
  int C, OC, K;
  gsize w, b, rm, rv; /* parameter offsets */
  int bn_slot;        /* index into the saved BN statistics */
  /* OP_CONV followed by its OP_BN (no ReLU): that BN is a per-channel
   * scale in the input-only backward, folded into this conv's weight. */
  gboolean fold_bn;
} Op;

/* An imported op graph (graph-private.h), instead of the op list. */
typedef struct _SdGraph SdGraph;

#define MAX_ACTS 128
#define MAX_TOTAL_POOL 65536
#define MAX_OPS 256

struct _SdModel
{
  gint ref_count;
  SdArch arch;
  char *display_name;
  char **labels;
  guint train_length;
  double sample_rate;
  SdNormalization norm;
  float range_lo, range_hi;
  char *provenance;
  SdModelStats *stats; /* NULL without training statistics */

  GPtrArray *tensors;       /* SdParamInfo* in state_dict order */
  GHashTable *tensor_index; /* name -> SdParamInfo* */
  gsize n_params, n_trainable;
  float *params;

  Op ops[MAX_OPS];
  int n_ops;
  int n_acts;
  int act_channels[MAX_ACTS]; /* channels of each (B,C,T) activation */
  int act_div[MAX_ACTS];      /* its length is T / act_div (pooling) */
  int min_length;             /* product of the pooling factors */
  int receptive_field;        /* of the last stage, in input samples */
  int bn_channels_total;
  int stage_out[SD_MAX_STAGES]; /* activation index of each stage output */
  int feat_channels;            /* channels into GAP */
  /* The "stages.i" layers: arch.n_stages for an architecture; for a graph
   * its stage values (graph_stage; act_channels[i] is stage i's channels,
   * stage_out[i] = i). The layers are stages.0.., "gap", "fc". */
  int n_stage_layers;
  int graph_stage[SD_MAX_STAGES]; /* a graph's value of each stage */
  char **layer_names;
  /* Not NULL for a graph model (imported from ONNX, or a graph preset):
   * then it runs this graph and the op list and arch.stages are empty
   * (arch.n_stages 0; its layers are its stage values, "gap", the input of
   * its last dense layer, and "fc"). */
  SdGraph *graph;
  /* An ensemble (ensemble.c): its members (n_members >= 2), each owned;
   * then it has no ops, tensors or parameters of its own, and its act_*,
   * stage_out, feat_channels and layer_names are its first member's. */
  SdModel **members;
  int n_members;
  SdEnsembleRule ensemble_rule; /* a runtime choice, not in the file */
};

/* The model of an architecture, without its parameters (params NULL,
 * n_params counted), labels or metadata. */
G_GNUC_INTERNAL SdModel *sd_model_compile (const SdArch *arch, GError **error);

/* A model of arch without ops, tensors or parameters (for graphs). */
G_GNUC_INTERNAL SdModel *sd_model_new_empty (const SdArch *arch);
/* Registers a tensor (name is taken) after the others; its offset. */
G_GNUC_INTERNAL gsize sd_model_add_tensor (SdModel *m, char *name, int ndim,
    gint64 d0, gint64 d1, gint64 d2, gboolean trainable);

/* labels[0..n) are non-empty and distinct and labels[n] is NULL; else an
 * SD_ERROR_MODEL error naming `where`. */
G_GNUC_INTERNAL gboolean sd_model_check_labels (
    const char *const *labels, int n, const char *where, GError **error);

/* The model a workspace was made for, and the batch of its last forward
 * (0 before the first). */
G_GNUC_INTERNAL const SdModel *sd_workspace_peek_model (const SdWorkspace *ws);
G_GNUC_INTERNAL int sd_workspace_last_batch (const SdWorkspace *ws);
G_GNUC_INTERNAL int sd_workspace_last_length (const SdWorkspace *ws);

/* The JSON value of metadata key of st (checked strictly first), parsed
 * by parser; NULL when absent (an error when required) or not valid. */
G_GNUC_INTERNAL JsonNode *sd_model_parse_json_meta (const SdSafetensors *st,
    const char *key, gboolean required, JsonParser *parser, GError **error);
/* n is a finite JSON number: *out. */
G_GNUC_INTERNAL gboolean sd_model_json_number (JsonNode *n, double *out);

/* Ensembles (ensemble.c): a workspace's member workspaces and scores. */
typedef struct _SdEnsembleWs SdEnsembleWs;
G_GNUC_INTERNAL SdEnsembleWs *sd_ensemble_ws_new (
    SdModel *m, int max_batch, int max_length, GError **error);
G_GNUC_INTERNAL void sd_ensemble_ws_free (SdEnsembleWs *ew);
G_GNUC_INTERNAL gboolean sd_ensemble_ws_set_threads (
    SdEnsembleWs *ew, int n_threads, GError **error);
/* The forward: the members' logits, then z (B,K), owned by ew. */
G_GNUC_INTERNAL const float *sd_ensemble_forward (
    SdModel *m, SdEnsembleWs *ew, const float *x, int B, int T);
G_GNUC_INTERNAL void sd_ensemble_backward (SdModel *m, SdEnsembleWs *ew,
    const float *dlogits, const SdLayerGrad *extra, int n_extra, float *dx);
G_GNUC_INTERNAL const float *sd_ensemble_layer_output (const SdModel *m,
    const SdEnsembleWs *ew, int layer, int *channels, int *length);
/* The novelty of the B windows of the last forward on ws (a workspace
 * of ensemble m whose statistics combine the members'): per window the
 * largest member novelty divided by that member's held-out median. */
G_GNUC_INTERNAL gboolean sd_ensemble_novelty (const SdModel *m,
    const SdWorkspace *ws, int B, double *novelty, GError **error);
G_GNUC_INTERNAL SdEnsembleWs *sd_workspace_peek_ensemble (
    const SdWorkspace *ws);
G_GNUC_INTERNAL void sd_ensemble_free_members (SdModel *m);
G_GNUC_INTERNAL SdModel *sd_ensemble_copy (SdModel *m);

G_END_DECLS
