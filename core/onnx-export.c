/* The ONNX writer (seqdream/onnx.h): any model, of a preset architecture
 * (its compiled op list, model-private.h) or imported (its op graph,
 * graph-private.h), as an ONNX ModelProto of opset 13 (IR version 7),
 * packed by the code protoc-c generates from Debian's onnx.proto.
 *
 * The graph: input "input" float [batch, 1, time] (time dynamic unless
 * the model flattens its time axis), the model's input normalisation as
 * ops, the layers, output "logits" float [batch, classes]. Parameters are
 * initializers under the model's tensor names (float32, raw little-endian
 * data). Labels, rate, training length, normalisation and input range go
 * into metadata_props, so `seqdream import` restores them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "onnx-export-private.h"

#include "seqdream/version.h"

#include <string.h>

#define ONNX_EXPORT_OPSET 13
#define ONNX_EXPORT_IR 7 /* the IR version of opset 13 (ONNX 1.8) */

typedef struct
{
  const SdModel *m;
  GPtrArray *pool;        /* every allocation of the message, freed together */
  GPtrArray *nodes;       /* Onnx__NodeProto* */
  GPtrArray *inits;       /* Onnx__TensorProto* */
  GHashTable *init_names; /* name -> Onnx__TensorProto* */
  GHashTable *names;      /* value index * 4 + rank -> tensor name (graphs) */
  int *native;            /* rank each graph value is produced with */
  const char *x;          /* the normalised input */
  int n_tmp;
  GError **error;
} Exporter;

static gpointer
ex_alloc (Exporter *ex, gsize size)
{
  gpointer p = g_malloc0 (MAX (size, 1));
  g_ptr_array_add (ex->pool, p);
  return p;
}

static char *
ex_strdup (Exporter *ex, const char *s)
{
  char *p = g_strdup (s);
  g_ptr_array_add (ex->pool, p);
  return p;
}

static char *ex_printf (Exporter *ex, const char *fmt, ...)
    G_GNUC_PRINTF (2, 3);
static char *
ex_printf (Exporter *ex, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *p = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_ptr_array_add (ex->pool, p);
  return p;
}

/* A fresh tensor name for an intermediate result. */
static const char *
ex_tmp (Exporter *ex, const char *what)
{
  return ex_printf (ex, "%s.%d", what, ex->n_tmp++);
}

/* A node op_type(in...) -> out, named name. */
static Onnx__NodeProto *
ex_node (Exporter *ex, const char *op, const char *name, int n_in,
    const char *const *in, const char *out)
{
  Onnx__NodeProto *n = ex_alloc (ex, sizeof *n);
  onnx__node_proto__init (n);
  n->op_type = ex_strdup (ex, op);
  n->name = ex_strdup (ex, name);
  n->n_input = n_in;
  n->input = ex_alloc (ex, n_in * sizeof (char *));
  /* the pointers themselves (pool strings or literals): an initializer is
   * recognised by its name's address when fix_clashes renames it */
  for (int k = 0; k < n_in; k++)
    n->input[k] = (char *) in[k];
  n->n_output = 1;
  n->output = ex_alloc (ex, sizeof (char *));
  n->output[0] = ex_strdup (ex, out);
  g_ptr_array_add (ex->nodes, n);
  return n;
}

/* Appends item to the pool-allocated pointer array *arr of *n items. */
static void
ex_append (Exporter *ex, gpointer arr_ptr, size_t *n, gpointer item)
{
  gpointer **arr = arr_ptr;
  gpointer *grown = ex_alloc (ex, (*n + 1) * sizeof (gpointer));
  if (*n > 0)
    memcpy (grown, *arr, *n * sizeof (gpointer));
  grown[(*n)++] = item;
  *arr = grown;
}

static Onnx__AttributeProto *
ex_attr (Exporter *ex, Onnx__NodeProto *n, const char *name,
    Onnx__AttributeProto__AttributeType type)
{
  Onnx__AttributeProto *a = ex_alloc (ex, sizeof *a);
  onnx__attribute_proto__init (a);
  a->name = ex_strdup (ex, name);
  a->has_type = TRUE;
  a->type = type;
  ex_append (ex, &n->attribute, &n->n_attribute, a);
  return a;
}

/* An INT attribute, or a FLOAT one when is_float. */
static void
ex_attr_num (Exporter *ex, Onnx__NodeProto *n, const char *name,
    gboolean is_float, double v)
{
  Onnx__AttributeProto *a = ex_attr (ex, n, name,
      is_float ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT
               : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_f = is_float;
  a->f = is_float ? (float) v : 0;
  a->has_i = !is_float;
  a->i = is_float ? 0 : (gint64) v;
}

#define ex_attr_int(ex, n, name, v) ex_attr_num (ex, n, name, FALSE, v)
#define ex_attr_float(ex, n, name, v) ex_attr_num (ex, n, name, TRUE, v)

static void
ex_attr_ints (Exporter *ex, Onnx__NodeProto *n, const char *name, int count,
    const gint64 *v)
{
  Onnx__AttributeProto *a
      = ex_attr (ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->n_ints = count;
  a->ints = ex_alloc (ex, count * sizeof (int64_t));
  for (int k = 0; k < count; k++)
    a->ints[k] = v[k];
}

/* An initializer of count elements (float32 or int64, raw little-endian
 * data) under name, once: the same tensor asked for again (shared by
 * several ops) is not written again; another tensor of that name gets
 * "name_1", "name_2", .... Returns the name it has (the TensorProto's own
 * string: node inputs point at it). */
static const char *
ex_init (Exporter *ex, const char *name, gboolean i64, const void *data,
    int ndim, const gint64 *dims)
{
  gsize count = 1;
  for (int d = 0; d < ndim; d++)
    count *= (gsize) dims[d];
  guint8 *raw = ex_alloc (ex, count * (i64 ? 8 : 4));
  for (gsize k = 0; k < count; k++) {
    if (i64) {
      const guint64 u = GUINT64_TO_LE ((guint64) ((const gint64 *) data)[k]);
      memcpy (raw + 8 * k, &u, 8);
    } else {
      guint32 u;
      memcpy (&u, (const float *) data + k, 4);
      u = GUINT32_TO_LE (u);
      memcpy (raw + 4 * k, &u, 4);
    }
  }
  const char *unique = name;
  for (int k = 1;; k++) {
    const Onnx__TensorProto *o = g_hash_table_lookup (ex->init_names, unique);
    if (o == NULL)
      break;
    if (o->n_dims == (gsize) ndim && o->raw_data.len == count * (i64 ? 8 : 4)
        && (ndim == 0 || memcmp (o->dims, dims, ndim * sizeof (gint64)) == 0)
        && memcmp (o->raw_data.data, raw, o->raw_data.len) == 0)
      return o->name;
    unique = ex_printf (ex, "%s_%d", name, k);
  }
  Onnx__TensorProto *t = ex_alloc (ex, sizeof *t);
  onnx__tensor_proto__init (t);
  t->name = ex_strdup (ex, unique);
  t->has_data_type = TRUE;
  t->data_type = i64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                     : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->n_dims = ndim;
  t->dims = ex_alloc (ex, ndim * sizeof (int64_t));
  for (int d = 0; d < ndim; d++)
    t->dims[d] = dims[d];
  t->has_raw_data = TRUE;
  t->raw_data.len = count * (i64 ? 8 : 4);
  t->raw_data.data = raw;
  g_ptr_array_add (ex->inits, t);
  g_hash_table_insert (ex->init_names, t->name, t);
  return t->name;
}

static const char *
ex_scalar (Exporter *ex, const char *name, float v)
{
  return ex_init (ex, name, FALSE, &v, 0, NULL);
}

static const SdParamInfo *
param_at (Exporter *ex, gsize offset)
{
  for (guint i = 0; i < sd_model_get_n_tensors (ex->m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (ex->m, i);
    if (t->offset == offset)
      return t;
  }
  g_assert_not_reached ();
}

/* A model tensor (by its offset into the parameters) as an initializer. */
static const char *
ex_param (Exporter *ex, gsize offset)
{
  const SdParamInfo *t = param_at (ex, offset);
  return ex_init (
      ex, t->name, FALSE, ex->m->params + offset, t->ndim, t->shape);
}

/* A node name from a layer's weight: "stages.0.convs.1.conv" for
 * "stages.0.convs.1.conv.weight". */
static const char *
layer_name (Exporter *ex, gsize weight_offset)
{
  const char *w = param_at (ex, weight_offset)->name;
  const char *dot = strrchr (w, '.');
  return ex_printf (ex, "%.*s", dot ? (int) (dot - w) : (int) strlen (w), w);
}

/* ---- the input normalisation ---- */

static const char *const norm_series_ops[] = { "ReduceMean", "Sub", "Mul",
  "ReduceMean", "Sqrt", "Greater", "Max", "Reciprocal", "Where", "Mul", NULL };
static const char *const norm_fixed_ops[] = { "Sub", "Mul", NULL };
static const char *const norm_none_ops[] = { NULL };

const char *const *
onnx_norm_ops (SdNormMode mode)
{
  switch (mode) {
    case SD_NORM_PER_SERIES:
      return norm_series_ops;
    case SD_NORM_FIXED:
      return norm_fixed_ops;
    case SD_NORM_NONE:
      break;
  }
  return norm_none_ops;
}

/* input (B,1,T) -> "normalized": the model's normalisation as ops
 * (core/normalization.c). Per series: (x - mean) / sd over time, the
 * population sd, and zeros for a flat series (sd <= 1e-8), in float where
 * seqdream sums in double (a difference of about 1e-7 relative). Fixed:
 * (x - mean) * (1 / sd), both floats as seqdream computes them. */
static const char *
export_normalization (Exporter *ex, const char *x)
{
  const SdNormalization norm = ex->m->norm;
  const char *out = "normalized";
  const gint64 time_axis = 2;

  if (norm.mode == SD_NORM_FIXED) {
    const char *sub = ex_tmp (ex, "normalize.centred");
    const char *in_sub[] = { x, ex_scalar (ex, "normalize.mean", norm.mean) };
    ex_node (ex, "Sub", "normalize.sub", 2, in_sub, sub);
    const char *in_mul[]
        = { sub, ex_scalar (ex, "normalize.inv_std", 1.0f / norm.std) };
    ex_node (ex, "Mul", "normalize.scale", 2, in_mul, out);
    return out;
  }
  if (norm.mode != SD_NORM_PER_SERIES)
    return x;
  const char *mean = "normalize.mean", *d = "normalize.centred";
  const char *sq = "normalize.squares", *var = "normalize.var";
  const char *sd = "normalize.sd", *flat = "normalize.not_flat";
  const char *sdc = "normalize.sd_clamped", *inv = "normalize.inv_sd";
  const char *scale = "normalize.scale";
  const char *eps = ex_scalar (ex, "normalize.eps", ONNX_NORM_SD_EPS);
  const char *zero = ex_scalar (ex, "normalize.zero", 0.0f);
  Onnx__NodeProto *n
      = ex_node (ex, "ReduceMean", "normalize.mean", 1, &x, mean);
  ex_attr_ints (ex, n, "axes", 1, &time_axis);
  ex_node (ex, "Sub", "normalize.sub", 2, (const char *[]){ x, mean }, d);
  ex_node (ex, "Mul", "normalize.square", 2, (const char *[]){ d, d }, sq);
  n = ex_node (ex, "ReduceMean", "normalize.var", 1, &sq, var);
  ex_attr_ints (ex, n, "axes", 1, &time_axis);
  ex_node (ex, "Sqrt", "normalize.sd", 1, &var, sd);
  ex_node (ex, "Greater", "normalize.not_flat", 2, (const char *[]){ sd, eps },
      flat);
  ex_node (ex, "Max", "normalize.clamp", 2, (const char *[]){ sd, eps }, sdc);
  ex_node (ex, "Reciprocal", "normalize.inv_sd", 1, &sdc, inv);
  ex_node (ex, "Where", "normalize.scale", 3,
      (const char *[]){ flat, inv, zero }, scale);
  ex_node (ex, "Mul", "normalize.apply", 2, (const char *[]){ d, scale }, out);
  return out;
}

/* ---- windows (Conv, MaxPool, AveragePool) ---- */

static void
ex_window (
    Exporter *ex, Onnx__NodeProto *n, const SdWindow *w, gboolean dilations)
{
  const gint64 k = w->K, s = w->stride, d = w->dilation;
  const gint64 pads[2] = { w->pad_l, w->pad_r };
  ex_attr_ints (ex, n, "kernel_shape", 1, &k);
  ex_attr_ints (ex, n, "strides", 1, &s);
  if (dilations)
    ex_attr_ints (ex, n, "dilations", 1, &d);
  ex_attr_ints (ex, n, "pads", 2, pads);
}

/* ---- a preset architecture: the compiled op list ---- */

static const char *
act_name (Exporter *ex, int a)
{
  return a == 0 ? ex->x : ex_printf (ex, "act.%d", a);
}

/* The op list of model.c: conv 'same' (left (K-1)/2, as layers.c) without
 * bias, batch norm (+ ReLU), residual joins (+ ReLU), average pooling
 * (kernel = stride = P), global average pooling, the dense layer. */
static gboolean
export_ops (Exporter *ex)
{
  const SdModel *m = ex->m;
  const char *features = NULL;

  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    const char *in = act_name (ex, op->in), *out = act_name (ex, op->out);
    const gboolean weighted = op->type == OP_CONV || op->type == OP_BN
                              || op->type == OP_BN_RELU || op->type == OP_DENSE;
    const char *name
        = weighted ? layer_name (ex, op->w) : ex_printf (ex, "op%d", i);
    Onnx__NodeProto *n;
    switch (op->type) {
      case OP_CONV: {
        SdWindow w
            = { op->K, 1, 1, (op->K - 1) / 2, op->K - 1 - (op->K - 1) / 2 };
        const char *args[] = { in, ex_param (ex, op->w) };
        n = ex_node (ex, "Conv", name, 2, args, out);
        ex_window (ex, n, &w, TRUE);
        break;
      }
      case OP_BN:
      case OP_BN_RELU: {
        const char *args[] = { in, ex_param (ex, op->w), ex_param (ex, op->b),
          ex_param (ex, op->rm), ex_param (ex, op->rv) };
        const char *bn = op->type == OP_BN_RELU ? ex_tmp (ex, "bn") : out;
        n = ex_node (ex, "BatchNormalization", name, 5, args, bn);
        ex_attr_float (ex, n, "epsilon", m->arch.bn_eps);
        if (op->type == OP_BN_RELU)
          ex_node (ex, "Relu", ex_printf (ex, "%s.relu", name), 1, &bn, out);
        break;
      }
      case OP_ADD_RELU: {
        const char *args[] = { in, act_name (ex, op->in2) };
        const char *sum = ex_tmp (ex, "sum");
        ex_node (ex, "Add", name, 2, args, sum);
        ex_node (ex, "Relu", ex_printf (ex, "%s.relu", name), 1, &sum, out);
        break;
      }
      case OP_POOL: {
        SdWindow w = { op->K, op->K, 1, 0, 0 };
        n = ex_node (ex, "AveragePool", name, 1, &in, out);
        ex_window (ex, n, &w, FALSE);
        break;
      }
      case OP_GAP: {
        const char *pooled = ex_tmp (ex, "gap");
        ex_node (ex, "GlobalAveragePool", name, 1, &in, pooled);
        features = "features";
        ex_node (ex, "Flatten", ex_printf (ex, "%s.flatten", name), 1, &pooled,
            features);
        break;
      }
      case OP_DENSE: {
        g_assert (features != NULL); /* the compiler puts GAP before it */
        const char *args[]
            = { features, ex_param (ex, op->w), ex_param (ex, op->b) };
        n = ex_node (ex, "Gemm", name, 3, args, "logits");
        ex_attr_int (ex, n, "transB", 1);
        break;
      }
    }
  }
  return TRUE;
}

/* ---- an imported model: its op graph ---- */

static gpointer
val_key (int v, int rank)
{
  return GINT_TO_POINTER (v * 4 + rank);
}

/* The tensor name graph value v is produced under (its native rank). */
static const char *
val_define (Exporter *ex, int v, int rank)
{
  const char *name = v == ex->m->graph->logits && rank == 2
                         ? "logits"
                         : ex_printf (ex, "value.%d", v);
  ex->native[v] = rank;
  g_hash_table_insert (ex->names, val_key (v, rank), (gpointer) name);
  return name;
}

/* Value v as a tensor of rank 3 (B,C,L) or 2 (B,F): a unit value is
 * produced in one form and moved to the other by Flatten or Unsqueeze
 * (once); the rank-2 form of the logits is the output "logits". */
static const char *
val_name (Exporter *ex, int v, int rank)
{
  const char *name = g_hash_table_lookup (ex->names, val_key (v, rank));
  if (name != NULL)
    return name;
  const char *src = g_hash_table_lookup (ex->names, val_key (v, ex->native[v]));
  g_assert (src != NULL); /* graph values are produced before use */
  name = v == ex->m->graph->logits && rank == 2
             ? "logits"
             : ex_printf (ex, "value.%d.rank%d", v, rank);
  if (rank == 2) {
    Onnx__NodeProto *n = ex_node (
        ex, "Flatten", ex_printf (ex, "%s.flatten", src), 1, &src, name);
    ex_attr_int (ex, n, "axis", 1);
  } else {
    const gint64 axis = 2, one = 1;
    const char *args[]
        = { src, ex_init (ex, "unsqueeze.time", TRUE, &axis, 1, &one) };
    ex_node (
        ex, "Unsqueeze", ex_printf (ex, "%s.unsqueeze", src), 2, args, name);
  }
  g_hash_table_insert (ex->names, val_key (v, rank), (gpointer) name);
  return name;
}

/* Tensor slot s of op as an initializer; per-channel vectors of a rank-3
 * op as (C, 1), so they broadcast over time. */
static const char *
op_tensor (Exporter *ex, const GraphOp *op, int s, gboolean per_channel_3d)
{
  int ndim;
  gint64 shape[3];
  sd_graph_tensor_shape (ex->m->graph, op, s, &ndim, shape);
  if (per_channel_3d) {
    shape[ndim++] = 1;
    return ex_init (ex, ex_printf (ex, "%s.c1", op->tensor[s]), FALSE,
        ex->m->params + op->off[s], ndim, shape);
  }
  return ex_init (
      ex, op->tensor[s], FALSE, ex->m->params + op->off[s], ndim, shape);
}

/* x Phi (x) = 0.5 x (1 + erf (x / sqrt 2)): opset 13 has no Gelu. */
static void
export_gelu (Exporter *ex, const char *name, const char *x, const char *out)
{
  const char *s = ex_tmp (ex, "gelu"), *e = ex_tmp (ex, "gelu");
  const char *p = ex_tmp (ex, "gelu"), *h = ex_tmp (ex, "gelu");
  ex_node (ex, "Mul", ex_printf (ex, "%s.scale", name), 2,
      (const char *[]){
          x, ex_scalar (ex, "gelu.inv_sqrt2", (float) G_SQRT2 / 2) },
      s);
  ex_node (ex, "Erf", ex_printf (ex, "%s.erf", name), 1, &s, e);
  ex_node (ex, "Add", ex_printf (ex, "%s.one_plus", name), 2,
      (const char *[]){ e, ex_scalar (ex, "gelu.one", 1.0f) }, p);
  ex_node (ex, "Mul", ex_printf (ex, "%s.times_x", name), 2,
      (const char *[]){ x, p }, h);
  ex_node (ex, "Mul", ex_printf (ex, "%s.half", name), 2,
      (const char *[]){ h, ex_scalar (ex, "gelu.half", 0.5f) }, out);
}

static void
export_activation (Exporter *ex, const GraphOp *op, const char *name,
    const char *in, const char *out)
{
  static const char *const names[] = { [SD_ACT_RELU] = "Relu",
    [SD_ACT_LEAKY_RELU] = "LeakyRelu",
    [SD_ACT_ELU] = "Elu",
    [SD_ACT_SIGMOID] = "Sigmoid",
    [SD_ACT_TANH] = "Tanh",
    [SD_ACT_ERF] = "Erf" };
  if (op->act == SD_ACT_GELU) {
    export_gelu (ex, name, in, out);
    return;
  }
  Onnx__NodeProto *n = ex_node (ex, names[op->act], name, 1, &in, out);
  if (op->act == SD_ACT_LEAKY_RELU || op->act == SD_ACT_ELU)
    ex_attr_float (ex, n, "alpha", op->alpha);
}

/* A per-channel affine map: Mul by the scale, then Add the shift. */
static void
export_affine (Exporter *ex, const GraphOp *op, const char *name,
    const char *in, const char *out)
{
  const char *mid
      = op->tensor[0] && op->tensor[1] ? ex_tmp (ex, "scaled") : out;
  if (op->tensor[0] != NULL)
    ex_node (ex, "Mul", ex_printf (ex, "%s.scale", name), 2,
        (const char *[]){ in, op_tensor (ex, op, 0, TRUE) }, mid);
  if (op->tensor[1] != NULL)
    ex_node (ex, "Add", ex_printf (ex, "%s.shift", name), 2,
        (const char *[]){
            op->tensor[0] ? mid : in, op_tensor (ex, op, 1, TRUE) },
        out);
  if (op->tensor[0] == NULL && op->tensor[1] == NULL)
    ex_node (ex, "Identity", name, 1, &in, out);
}

/* One op of the graph; its output value is v. */
static gboolean
export_graph_op (Exporter *ex, const GraphOp *op, int v)
{
  const char *name = ex_printf (ex, "%d:%s", v - 1, op->name ? op->name : "");
  const char *in = NULL, *out;
  Onnx__NodeProto *n;
  switch (op->type) {
    case GOP_CONV: {
      const char *args[]
          = { val_name (ex, op->in[0], 3), op_tensor (ex, op, 0, FALSE),
              op->tensor[1] ? op_tensor (ex, op, 1, FALSE) : NULL };
      n = ex_node (
          ex, "Conv", name, op->tensor[1] ? 3 : 2, args, val_define (ex, v, 3));
      ex_window (ex, n, &op->win, TRUE);
      ex_attr_int (ex, n, "group", op->group);
      return TRUE;
    }
    case GOP_BN: {
      const char *args[] = { val_name (ex, op->in[0], 3),
        op_tensor (ex, op, 0, FALSE), op_tensor (ex, op, 1, FALSE),
        op_tensor (ex, op, 2, FALSE), op_tensor (ex, op, 3, FALSE) };
      n = ex_node (
          ex, "BatchNormalization", name, 5, args, val_define (ex, v, 3));
      ex_attr_float (ex, n, "epsilon", op->eps);
      return TRUE;
    }
    case GOP_ACT:
      in = val_name (ex, op->in[0], ex->native[op->in[0]]);
      export_activation (
          ex, op, name, in, val_define (ex, v, ex->native[op->in[0]]));
      return TRUE;
    case GOP_ADD:
    case GOP_MUL: {
      const int r = ex->native[op->in[0]];
      const char *args[]
          = { val_name (ex, op->in[0], r), val_name (ex, op->in[1], r) };
      ex_node (ex, op->type == GOP_ADD ? "Add" : "Mul", name, 2, args,
          val_define (ex, v, r));
      return TRUE;
    }
    case GOP_AFFINE:
      export_affine (
          ex, op, name, val_name (ex, op->in[0], 3), val_define (ex, v, 3));
      return TRUE;
    case GOP_CONCAT: {
      const char *args[GRAPH_MAX_IN];
      for (int k = 0; k < op->n_in; k++)
        args[k] = val_name (ex, op->in[k], 3);
      n = ex_node (ex, "Concat", name, op->n_in, args, val_define (ex, v, 3));
      ex_attr_int (ex, n, "axis", 1);
      return TRUE;
    }
    case GOP_MAXPOOL:
    case GOP_AVGPOOL:
      if (op->type == GOP_AVGPOOL && op->win.dilation != 1) {
        g_set_error (ex->error, SD_ERROR, SD_ERROR_MODEL,
            "op '%s' (AveragePool with dilation %d) cannot be exported: "
            "opset %d's AveragePool has no dilations",
            op->name ? op->name : "?", op->win.dilation, ONNX_EXPORT_OPSET);
        return FALSE;
      }
      in = val_name (ex, op->in[0], 3);
      n = ex_node (ex, op->type == GOP_MAXPOOL ? "MaxPool" : "AveragePool",
          name, 1, &in, val_define (ex, v, 3));
      ex_window (ex, n, &op->win, op->type == GOP_MAXPOOL);
      if (op->type == GOP_AVGPOOL)
        ex_attr_int (ex, n, "count_include_pad", op->count_pad ? 1 : 0);
      return TRUE;
    case GOP_GAP:
    case GOP_GMP:
      in = val_name (ex, op->in[0], 3);
      ex_node (ex, op->type == GOP_GAP ? "GlobalAveragePool" : "GlobalMaxPool",
          name, 1, &in, val_define (ex, v, 3));
      return TRUE;
    case GOP_GEMM: {
      const char *args[]
          = { val_name (ex, op->in[0], 2), op_tensor (ex, op, 0, FALSE),
              op->tensor[1] ? op_tensor (ex, op, 1, FALSE) : NULL };
      n = ex_node (
          ex, "Gemm", name, op->tensor[1] ? 3 : 2, args, val_define (ex, v, 2));
      ex_attr_int (ex, n, "transB", 1);
      return TRUE;
    }
    case GOP_PAD: {
      const gint64 pads[6] = { 0, 0, op->win.pad_l, 0, 0, op->win.pad_r };
      const gint64 six = 6;
      const char *args[] = { val_name (ex, op->in[0], 3),
        ex_init (ex, ex_printf (ex, "%s.pads", name), TRUE, pads, 1, &six) };
      n = ex_node (ex, "Pad", name, 2, args, val_define (ex, v, 3));
      return TRUE;
    }
    case GOP_FLATTEN:
      in = val_name (ex, op->in[0], 3);
      out = val_define (ex, v, 2);
      n = ex_node (ex, "Flatten", name, 1, &in, out);
      ex_attr_int (ex, n, "axis", 1);
      return TRUE;
    case GOP_N_TYPES:
      break;
  }
  g_assert_not_reached ();
}

static gboolean
export_graph (Exporter *ex)
{
  const SdGraph *g = ex->m->graph;
  ex->native = g_new0 (int, g->values->len);
  ex->native[0] = 3;
  g_hash_table_insert (ex->names, val_key (0, 3), (gpointer) ex->x);
  for (guint i = 0; i < g->ops->len; i++)
    if (!export_graph_op (ex, &g_array_index (g->ops, GraphOp, i), (int) i + 1))
      return FALSE;
  val_name (ex, g->logits, 2);
  return TRUE;
}

/* ---- the model ---- */

/* ONNX names are one namespace, and an imported model's tensor names are
 * anybody's: an initializer called like a value of the graph ("input",
 * "logits", "value.3", ...) is renamed "NAME_param", "NAME_param1", ...,
 * and the node inputs that point at it follow. */
static void
fix_clashes (Exporter *ex)
{
  g_autoptr (GHashTable) values = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_add (values, (gpointer) "input");
  for (guint i = 0; i < ex->nodes->len; i++)
    g_hash_table_add (values,
        ((Onnx__NodeProto *) g_ptr_array_index (ex->nodes, i))->output[0]);
  for (guint i = 0; i < ex->inits->len; i++) {
    Onnx__TensorProto *t = g_ptr_array_index (ex->inits, i);
    if (!g_hash_table_contains (values, t->name))
      continue;
    char *old = t->name, *name = ex_printf (ex, "%s_param", old);
    for (int k = 1; g_hash_table_contains (values, name)
                    || g_hash_table_contains (ex->init_names, name);
         k++)
      name = ex_printf (ex, "%s_param%d", old, k);
    t->name = name;
    g_hash_table_insert (ex->init_names, name, t);
    for (guint j = 0; j < ex->nodes->len; j++) {
      Onnx__NodeProto *n = g_ptr_array_index (ex->nodes, j);
      for (gsize k = 0; k < n->n_input; k++)
        if (n->input[k] == old)
          n->input[k] = name;
    }
  }
}

static Onnx__ValueInfoProto *
ex_value_info (Exporter *ex, const char *name, int ndim, const gint64 *dims,
    const char *const *params)
{
  Onnx__ValueInfoProto *vi = ex_alloc (ex, sizeof *vi);
  Onnx__TypeProto *tp = ex_alloc (ex, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = ex_alloc (ex, sizeof *tt);
  Onnx__TensorShapeProto *sh = ex_alloc (ex, sizeof *sh);
  onnx__value_info_proto__init (vi);
  onnx__type_proto__init (tp);
  onnx__type_proto__tensor__init (tt);
  onnx__tensor_shape_proto__init (sh);
  vi->name = ex_strdup (ex, name);
  vi->type = tp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = TRUE;
  tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt->shape = sh;
  sh->n_dim = ndim;
  sh->dim = ex_alloc (ex, ndim * sizeof (Onnx__TensorShapeProto__Dimension *));
  for (int d = 0; d < ndim; d++) {
    Onnx__TensorShapeProto__Dimension *dim = ex_alloc (ex, sizeof *dim);
    onnx__tensor_shape_proto__dimension__init (dim);
    if (params[d] != NULL) {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
      dim->dim_param = ex_strdup (ex, params[d]);
    } else {
      dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
      dim->dim_value = dims[d];
    }
    sh->dim[d] = dim;
  }
  return vi;
}

static void
ex_meta (Exporter *ex, Onnx__ModelProto *mp, const char *key, const char *value)
{
  Onnx__StringStringEntryProto *e = ex_alloc (ex, sizeof *e);
  onnx__string_string_entry_proto__init (e);
  e->key = ex_strdup (ex, key);
  e->value = ex_strdup (ex, value);
  ex_append (ex, &mp->metadata_props, &mp->n_metadata_props, e);
}

static void
export_metadata (Exporter *ex, Onnx__ModelProto *mp)
{
  const SdModel *m = ex->m;
  char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];

  g_autoptr (JsonBuilder) lb = json_builder_new ();
  json_builder_begin_array (lb);
  for (int i = 0; m->labels != NULL && m->labels[i] != NULL; i++)
    json_builder_add_string_value (lb, m->labels[i]);
  json_builder_end_array (lb);
  g_autoptr (JsonNode) lroot = json_builder_get_root (lb);
  g_autofree char *labels = json_to_string (lroot, FALSE);
  ex_meta (ex, mp, ONNX_META_LABELS, labels);

  g_autofree char *norm = NULL;
  if (m->norm.mode == SD_NORM_FIXED)
    norm = g_strdup_printf ("{\"mode\":\"fixed\",\"mean\":%s,\"std\":%s}",
        g_ascii_dtostr (a, sizeof a, m->norm.mean),
        g_ascii_dtostr (b, sizeof b, m->norm.std));
  else
    norm = g_strdup_printf (
        "{\"mode\":\"%s\"}", sd_norm_mode_to_string (m->norm.mode));
  ex_meta (ex, mp, ONNX_META_NORM, norm);
  if (m->norm.mode != SD_NORM_NONE)
    ex_meta (ex, mp, ONNX_META_NORM_OUT, ex->x);
  ex_meta (
      ex, mp, ONNX_META_TRAIN_LENGTH, ex_printf (ex, "%u", m->train_length));
  ex_meta (
      ex, mp, ONNX_META_RATE, g_ascii_dtostr (a, sizeof a, m->sample_rate));
  if (isfinite (m->range_lo) && isfinite (m->range_hi))
    ex_meta (ex, mp, ONNX_META_RANGE,
        ex_printf (ex, "[%s, %s]", g_ascii_dtostr (a, sizeof a, m->range_lo),
            g_ascii_dtostr (b, sizeof b, m->range_hi)));
  if (m->provenance != NULL)
    ex_meta (ex, mp, ONNX_META_PROVENANCE, m->provenance);
}

/* The time length of the exported input: 0 (dynamic) unless the model
 * takes one length only (an imported graph that flattens its time axis):
 * then its training length when the graph takes it, else its shortest. */
static int
fixed_length (const SdModel *m)
{
  if (m->graph == NULL)
    return 0;
  for (guint i = 0; i < m->graph->ops->len; i++)
    if (g_array_index (m->graph->ops, GraphOp, i).type == GOP_FLATTEN)
      return m->train_length > 0
                     && sd_model_check_length (m, (int) m->train_length, NULL)
                 ? (int) m->train_length
                 : sd_model_get_min_length (m);
  return 0;
}

GBytes *
sd_model_save_onnx_to_bytes (SdModel *model, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  if (model->n_members > 0) {
    /* the mean of the members' probabilities is no op of the exporter's */
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "an ensemble of %d models cannot be exported to ONNX (yet): export "
        "its members one by one",
        model->n_members);
    return NULL;
  }
  g_return_val_if_fail (model->params != NULL, NULL);
  if (model->graph == NULL && model->arch.in_channels != 1) {
    /* the input [batch, 1, time] and the per-series normalisation over
     * one channel are what the reader and predict take */
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "'%s' takes %d input channels; ONNX export writes univariate "
        "models ([batch, 1, time])",
        model->arch.name, model->arch.in_channels);
    return NULL;
  }
  Exporter ex = { .m = model, .error = error };
  ex.pool = g_ptr_array_new_with_free_func (g_free);
  ex.nodes = g_ptr_array_new ();
  ex.inits = g_ptr_array_new ();
  ex.init_names = g_hash_table_new (g_str_hash, g_str_equal);
  ex.names = g_hash_table_new (g_direct_hash, g_direct_equal);
  GBytes *bytes = NULL;

  ex.x = export_normalization (&ex, "input");
  if (model->graph ? export_graph (&ex) : export_ops (&ex)) {
    fix_clashes (&ex);
    Onnx__ModelProto mp;
    Onnx__GraphProto gp;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[] = { &opset };
    onnx__model_proto__init (&mp);
    onnx__graph_proto__init (&gp);
    onnx__operator_set_id_proto__init (&opset);
    opset.domain = (char *) "";
    opset.has_version = TRUE;
    opset.version = ONNX_EXPORT_OPSET;
    mp.has_ir_version = TRUE;
    mp.ir_version = ONNX_EXPORT_IR;
    mp.n_opset_import = 1;
    mp.opset_import = opsets;
    mp.producer_name = (char *) "seqdream";
    mp.producer_version = (char *) SD_VERSION;
    mp.graph = &gp;
    /* the architecture's name ("onnx" for a graph), not the file's: the
     * same model exports to the same bytes wherever it was loaded from */
    gp.name = ex_printf (&ex, "seqdream %s", model->arch.name);
    gp.n_node = ex.nodes->len;
    gp.node = (Onnx__NodeProto **) ex.nodes->pdata;
    gp.n_initializer = ex.inits->len;
    gp.initializer = (Onnx__TensorProto **) ex.inits->pdata;
    const int T = fixed_length (model);
    const gint64 in_dims[] = { 0, 1, T };
    const char *in_params[] = { "batch", NULL, T > 0 ? NULL : "time" };
    const gint64 out_dims[] = { 0, sd_model_get_n_classes (model) };
    const char *out_params[] = { "batch", NULL };
    Onnx__ValueInfoProto *in
        = ex_value_info (&ex, "input", 3, in_dims, in_params);
    Onnx__ValueInfoProto *out
        = ex_value_info (&ex, "logits", 2, out_dims, out_params);
    gp.n_input = 1;
    gp.input = &in;
    gp.n_output = 1;
    gp.output = &out;
    export_metadata (&ex, &mp);
    const gsize size = onnx__model_proto__get_packed_size (&mp);
    guint8 *buf = g_malloc (MAX (size, 1));
    onnx__model_proto__pack (&mp, buf);
    bytes = g_bytes_new_take (buf, size);
  }
  g_hash_table_unref (ex.names);
  g_hash_table_unref (ex.init_names);
  g_ptr_array_unref (ex.inits);
  g_ptr_array_unref (ex.nodes);
  g_ptr_array_unref (ex.pool);
  g_free (ex.native);
  return bytes;
}

gboolean
sd_model_save_onnx (SdModel *model, const char *path, GError **error)
{
  g_return_val_if_fail (model != NULL && path != NULL, FALSE);
  g_autoptr (GBytes) bytes = sd_model_save_onnx_to_bytes (model, error);
  if (bytes == NULL)
    return FALSE;
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  GError *local = NULL;
  if (!g_file_set_contents (path, data, size, &local)) {
    g_set_error (error, SD_ERROR, SD_ERROR_IO, "cannot write %s: %s", path,
        local->message);
    g_error_free (local);
    return FALSE;
  }
  return TRUE;
}
