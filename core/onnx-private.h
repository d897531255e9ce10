/* The ONNX reader's state (internal): core/onnx.c reads the model, its
 * tensors, input and output; core/onnx-nodes.c maps each node.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "graph-private.h"
#include "onnx.pb-c.h"
#include "seqdream/onnx.h"

#include <math.h>

G_BEGIN_DECLS

#define ONNX_MAX_DIMS 8

/* What an ONNX tensor name stands for: a value of the graph (value >= 0;
 * rank 3 (B,C,T) or 2 (B,F)), or a constant (value -1: floats f or
 * integers i, n elements of dims). */
typedef struct
{
  int value;
  int rank;
  GraphOutput post; /* a value after a recorded Softmax / LogSoftmax */
  float *f;
  gint64 *i;
  gsize n;
  int ndim;
  gint64 dims[ONNX_MAX_DIMS];
  const char *param_name; /* an initializer's own name */
} OnnxEntry;
G_GNUC_INTERNAL void onnx_entry_free (OnnxEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OnnxEntry, onnx_entry_free)

typedef struct
{
  const char *file;
  GError **error;
  int opset;
  int input_length;   /* declared time length, 0 when dynamic */
  char *node_name;    /* of the node being read */
  gsize folded;       /* elements of the constants folded so far */
  GHashTable *names;  /* ONNX name -> OnnxEntry */
  GHashTable *params; /* tensor name -> GArray of float */
  SdGraph *g;
} OnnxImporter;

/* Sets the error (naming the current node when node is not NULL);
 * returns FALSE. */
G_GNUC_INTERNAL gboolean onnx_fail (OnnxImporter *imp,
    const Onnx__NodeProto *node, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
G_GNUC_INTERNAL OnnxEntry *onnx_const_from_tensor (
    OnnxImporter *imp, const Onnx__TensorProto *t);
G_GNUC_INTERNAL OnnxEntry *onnx_new_value (int value, int rank);
/* Binds name to e (taken). */
G_GNUC_INTERNAL void onnx_define (
    OnnxImporter *imp, const char *name, OnnxEntry *e);
/* The node's attribute called name, or NULL; an int attribute or def. */
G_GNUC_INTERNAL const Onnx__AttributeProto *onnx_attr (
    const Onnx__NodeProto *n, const char *name);
G_GNUC_INTERNAL gint64 onnx_attr_int (
    const Onnx__NodeProto *n, const char *name, gint64 def);
/* Folds a node whose inputs are all constants (onnx-const.c): *folded
 * TRUE when it did; FALSE (an error) when such a node cannot be folded. */
G_GNUC_INTERNAL gboolean onnx_fold (
    OnnxImporter *imp, const Onnx__NodeProto *node, gboolean *folded);
/* Maps one node onto the graph. */
G_GNUC_INTERNAL gboolean onnx_node (
    OnnxImporter *imp, const Onnx__NodeProto *node);

G_END_DECLS
