/* ONNX nodes onto the op graph (onnx-private.h). Each handler checks the
 * node's inputs (a value of the graph or a constant), attributes and
 * shapes, adds at most one op and binds the node's output. Shape-only
 * nodes (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout) bind
 * their output to their input's value.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "onnx-private.h"

#include <string.h>

typedef const Onnx__NodeProto Node;

const Onnx__AttributeProto *
onnx_attr (Node *n, const char *name)
{
  for (gsize k = 0; k < n->n_attribute; k++)
    if (n->attribute[k]->name && strcmp (n->attribute[k]->name, name) == 0)
      return n->attribute[k];
  return NULL;
}

gint64
onnx_attr_int (Node *n, const char *name, gint64 def)
{
  const Onnx__AttributeProto *a = onnx_attr (n, name);
  return a && a->has_i ? a->i : def;
}

static float
attr_float (Node *n, const char *name, float def)
{
  const Onnx__AttributeProto *a = onnx_attr (n, name);
  return a && a->has_f ? a->f : def;
}

/* The string attribute equals s (def when absent). */
static gboolean
attr_str_is (Node *n, const char *name, const char *def, const char *s)
{
  const Onnx__AttributeProto *a = onnx_attr (n, name);
  if (a == NULL || !a->has_s)
    return g_strcmp0 (def, s) == 0;
  return a->s.len == strlen (s) && memcmp (a->s.data, s, a->s.len) == 0;
}

/* The ints attribute into out (at most max): its length, -1 when absent,
 * -2 when longer than max. */
static int
attr_ints (Node *n, const char *name, gint64 *out, int max)
{
  const Onnx__AttributeProto *a = onnx_attr (n, name);
  if (a == NULL)
    return -1;
  if (a->n_ints > (gsize) max)
    return -2;
  for (gsize k = 0; k < a->n_ints; k++)
    out[k] = a->ints[k];
  return (int) a->n_ints;
}

static OnnxEntry *
in_entry (OnnxImporter *imp, Node *n, gsize j)
{
  if (j >= n->n_input || n->input[j] == NULL || n->input[j][0] == '\0') {
    onnx_fail (imp, n, "input %zu is missing", j);
    return NULL;
  }
  OnnxEntry *e = g_hash_table_lookup (imp->names, n->input[j]);
  if (e == NULL)
    onnx_fail (
        imp, n, "input '%s' is not defined before this node", n->input[j]);
  return e;
}

/* Input j is a value of the graph (not after a recorded Softmax). */
static OnnxEntry *
in_value (OnnxImporter *imp, Node *n, gsize j)
{
  OnnxEntry *e = in_entry (imp, n, j);
  if (e == NULL)
    return NULL;
  if (e->value < 0) {
    onnx_fail (imp, n,
        "input '%s' is a constant where a computed tensor is "
        "expected",
        n->input[j]);
    return NULL;
  }
  if (e->post != GRAPH_OUT_LOGITS) {
    onnx_fail (imp, n,
        "reads the output of a Softmax/LogSoftmax, which "
        "seqdream supports only as the last node");
    return NULL;
  }
  return e;
}

static OnnxEntry *
in_const (OnnxImporter *imp, Node *n, gsize j)
{
  OnnxEntry *e = in_entry (imp, n, j);
  if (e != NULL && e->value >= 0) {
    onnx_fail (
        imp, n, "input '%s' must be a constant (an initializer)", n->input[j]);
    return NULL;
  }
  return e;
}

static gboolean
bind (OnnxImporter *imp, Node *n, int value, int rank, GraphOutput post)
{
  if (n->n_output < 1 || n->output[0] == NULL || n->output[0][0] == '\0')
    return onnx_fail (imp, n, "has no output");
  OnnxEntry *e = onnx_new_value (value, rank);
  e->post = post;
  onnx_define (imp, n->output[0], e);
  return TRUE;
}

static int
channels (OnnxImporter *imp, int value)
{
  return g_array_index (imp->g->values, GraphValue, value).C;
}

static gboolean
is_unit (OnnxImporter *imp, int value)
{
  return g_array_index (imp->g->values, GraphValue, value).unit;
}

/* Registers data (n floats) as a parameter tensor: under the
 * initializer's own name when c's data is used as it is, else under
 * "<node>.<slot>". Returns the name (owned by imp). */
static const char *
param (OnnxImporter *imp, const char *slot, const OnnxEntry *c,
    const float *data, gsize n)
{
  g_autofree char *name = c && c->param_name && data == c->f && n == c->n
                              ? g_strdup (c->param_name)
                              : g_strdup_printf ("%s.%s", imp->node_name, slot);
  GArray *old = g_hash_table_lookup (imp->params, name);
  if (old != NULL
      && (old->len != n || memcmp (old->data, data, n * sizeof (float)))) {
    for (int k = 1; old != NULL; k++) {
      g_free (name);
      name = g_strdup_printf ("%s.%s.%d", imp->node_name, slot, k);
      old = g_hash_table_lookup (imp->params, name);
    }
  }
  if (old == NULL) {
    GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (float), n);
    g_array_append_vals (a, data, n);
    g_hash_table_insert (imp->params, g_strdup (name), a);
  }
  gpointer key = NULL;
  g_hash_table_lookup_extended (imp->params, name, &key, NULL);
  return key;
}

static int
add_op (OnnxImporter *imp, Node *n, GraphOp *op)
{
  op->name = imp->node_name;
  int v = sd_graph_add (imp->g, op, imp->error);
  if (v < 0)
    g_prefix_error (imp->error, "%s: ", imp->file);
  return v;
}

/* The window of a Conv / MaxPool / AveragePool node; K is the weight's
 * kernel for Conv, 0 for pooling (then kernel_shape is required). */
static gboolean
read_window (OnnxImporter *imp, Node *n, int K, SdWindow *w)
{
  gint64 v[4];
  int c;

  memset (w, 0, sizeof *w);
  w->K = K;
  w->stride = w->dilation = 1;
  if ((c = attr_ints (n, "kernel_shape", v, 1)) == 1)
    w->K = (int) CLAMP (v[0], 0, G_MAXINT);
  else if (c != -1 || K == 0)
    return onnx_fail (imp, n, "needs a 1-D kernel_shape");
  if (K > 0 && w->K != K)
    return onnx_fail (
        imp, n, "kernel_shape %d differs from the weight's %d", w->K, K);
  if ((c = attr_ints (n, "strides", v, 1)) == 1)
    w->stride = (int) CLAMP (v[0], 0, G_MAXINT);
  else if (c != -1)
    return onnx_fail (imp, n, "strides must have 1 entry (1-D)");
  if ((c = attr_ints (n, "dilations", v, 1)) == 1)
    w->dilation = (int) CLAMP (v[0], 0, G_MAXINT);
  else if (c != -1)
    return onnx_fail (imp, n, "dilations must have 1 entry (1-D)");
  if ((c = attr_ints (n, "pads", v, 2)) == 2) {
    w->pad_l = (int) CLAMP (v[0], -1, G_MAXINT);
    w->pad_r = (int) CLAMP (v[1], -1, G_MAXINT);
  } else if (c != -1)
    return onnx_fail (imp, n, "pads must have 2 entries (begin, end)");
  if (onnx_attr_int (n, "ceil_mode", 0) != 0)
    return onnx_fail (imp, n, "ceil_mode 1 is not supported (use floor)");
  if (attr_str_is (n, "auto_pad", "NOTSET", "SAME_UPPER")
      || attr_str_is (n, "auto_pad", "NOTSET", "SAME_LOWER")) {
    if (w->stride != 1)
      return onnx_fail (imp, n, "auto_pad SAME with stride %d", w->stride);
    const gint64 total = (gint64) w->dilation * (w->K - 1);
    if (total < 0 || total > GRAPH_MAX_WINDOW)
      return onnx_fail (imp, n, "a window of %d x %d", w->K, w->dilation);
    const gboolean upper = attr_str_is (n, "auto_pad", "", "SAME_UPPER");
    w->pad_l = (int) (upper ? total / 2 : total - total / 2);
    w->pad_r = (int) (total - w->pad_l);
  } else if (!attr_str_is (n, "auto_pad", "NOTSET", "NOTSET")
             && !attr_str_is (n, "auto_pad", "NOTSET", "VALID")) {
    return onnx_fail (imp, n, "unknown auto_pad");
  }
  return TRUE;
}

static gboolean
node_conv (OnnxImporter *imp, Node *n)
{
  GraphOp op = { .type = GOP_CONV };
  OnnxEntry *x = in_value (imp, n, 0), *w = x ? in_const (imp, n, 1) : NULL;
  OnnxEntry *b = NULL;
  if (w == NULL)
    return FALSE;
  if (x->rank != 3 || w->ndim != 3 || w->f == NULL)
    return onnx_fail (imp, n,
        "only 1-D convolutions: input [B,C,T], weight "
        "[OC, C/group, K] of floats");
  if (n->n_input > 2 && n->input[2][0] != '\0') {
    if ((b = in_const (imp, n, 2)) == NULL)
      return FALSE;
    if (b->f == NULL || b->n != (gsize) w->dims[0])
      return onnx_fail (imp, n,
          "bias of %zu values for %" G_GINT64_FORMAT " output channels", b->n,
          w->dims[0]);
  }
  op.group = (int) CLAMP (onnx_attr_int (n, "group", 1), 0, G_MAXINT);
  op.OC = (int) MIN (w->dims[0], G_MAXINT);
  if (!read_window (imp, n, (int) MIN (w->dims[2], G_MAXINT), &op.win))
    return FALSE;
  if (op.group < 1 || w->dims[1] * op.group != channels (imp, x->value))
    return onnx_fail (imp, n,
        "weight for %" G_GINT64_FORMAT " x %d input "
        "channels, the input has %d",
        w->dims[1], op.group, channels (imp, x->value));
  op.n_in = 1;
  op.in[0] = x->value;
  op.tensor[0] = (char *) param (imp, "weight", w, w->f, w->n);
  if (b != NULL)
    op.tensor[1] = (char *) param (imp, "bias", b, b->f, b->n);
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, 3, GRAPH_OUT_LOGITS);
}

static gboolean
node_batchnorm (OnnxImporter *imp, Node *n)
{
  static const char *const slots[] = { "scale", "bias", "mean", "var" };
  GraphOp op = { .type = GOP_BN, .n_in = 1 };
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  if (onnx_attr_int (n, "training_mode", 0) != 0)
    return onnx_fail (imp, n,
        "training_mode 1: export the model in eval "
        "mode (model.eval ())");
  const int C = channels (imp, x->value);
  for (int s = 0; s < 4; s++) {
    OnnxEntry *c = in_const (imp, n, s + 1);
    if (c == NULL)
      return FALSE;
    if (c->f == NULL || c->n != (gsize) C)
      return onnx_fail (
          imp, n, "%s has %zu values for %d channels", slots[s], c->n, C);
    op.tensor[s] = (char *) param (imp, slots[s], c, c->f, c->n);
  }
  op.in[0] = x->value;
  op.eps = attr_float (n, "epsilon", 1e-5f);
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, x->rank, GRAPH_OUT_LOGITS);
}

static gboolean
node_activation (OnnxImporter *imp, Node *n, SdActivation act, float alpha)
{
  GraphOp op = { .type = GOP_ACT, .n_in = 1, .act = act, .alpha = alpha };
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  if (act == SD_ACT_GELU && !attr_str_is (n, "approximate", "none", "none"))
    return onnx_fail (imp, n, "only the exact (erf) GELU is supported");
  op.in[0] = x->value;
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, x->rank, GRAPH_OUT_LOGITS);
}

/* The constant c as C per-channel floats for value x (a scalar, or
 * [.., C, 1] against [B,C,T], [.., C] against [B,F]); NULL and an error
 * otherwise. */
static float *
channel_vector (
    OnnxImporter *imp, Node *n, const OnnxEntry *x, const OnnxEntry *c)
{
  const int C = channels (imp, x->value);
  int d0 = 0;
  if (c->f == NULL) {
    onnx_fail (imp, n, "the constant is not a float tensor");
    return NULL;
  }
  while (d0 < c->ndim && c->dims[d0] == 1 && c->ndim - d0 > x->rank - 1)
    d0++;
  const int nd = c->ndim - d0;
  const gboolean per_channel
      = (x->rank == 3 && nd == 2 && c->dims[d0] == C && c->dims[d0 + 1] == 1)
        || (x->rank == 2 && nd == 1 && c->dims[d0] == C);
  if (c->n != 1 && !per_channel) {
    onnx_fail (imp, n,
        "a constant of %zu values broadcasts neither as a "
        "scalar nor per channel (%d channels)",
        c->n, C);
    return NULL;
  }
  float *v = g_new (float, C);
  for (int k = 0; k < C; k++)
    v[k] = c->f[c->n == 1 ? 0 : k];
  return v;
}

/* Add, Sub, Mul, Div: of two values (Add, Mul) or of a value and a
 * constant (a per-channel affine map). */
static gboolean
node_binary (OnnxImporter *imp, Node *n, char kind)
{
  OnnxEntry *a = in_entry (imp, n, 0), *b = a ? in_entry (imp, n, 1) : NULL;
  GraphOp op = { .n_in = 1 };
  if (b == NULL)
    return FALSE;
  if (a->value >= 0 && b->value >= 0 && (kind == '+' || kind == '*')) {
    if (!in_value (imp, n, 0) || !in_value (imp, n, 1))
      return FALSE;
    op.type = kind == '+' ? GOP_ADD : GOP_MUL;
    op.n_in = 2;
    op.in[0] = a->value;
    op.in[1] = b->value;
    if (a->rank != b->rank)
      return onnx_fail (imp, n, "operands of rank %d and %d", a->rank, b->rank);
    int v = add_op (imp, n, &op);
    return v >= 0 && bind (imp, n, v, a->rank, GRAPH_OUT_LOGITS);
  }
  const gboolean value_first = a->value >= 0;
  OnnxEntry *x = value_first ? a : b, *c = value_first ? b : a;
  if (x->value < 0 || c->value >= 0
      || (!value_first && kind != '+' && kind != '*' && kind != '-'))
    return onnx_fail (imp, n,
        "supported: a tensor %s a tensor (Add, Mul), "
        "a tensor and a constant",
        "and");
  if (!in_value (imp, n, value_first ? 0 : 1))
    return FALSE;
  g_autofree float *k = channel_vector (imp, n, x, c);
  if (k == NULL)
    return FALSE;
  const int C = channels (imp, x->value);
  g_autofree float *scale = NULL;
  op.type = GOP_AFFINE;
  op.in[0] = x->value;
  if (kind == '*' || kind == '/') {
    for (int i = 0; i < C; i++) {
      if (kind == '/' && k[i] == 0)
        return onnx_fail (imp, n, "divides by zero");
      k[i] = kind == '/' ? 1.0f / k[i] : k[i];
    }
    op.tensor[0] = (char *) param (imp, "scale", kind == '*' ? c : NULL, k, C);
  } else if (kind == '-' && !value_first) {
    /* c - x */
    scale = g_new (float, C);
    for (int i = 0; i < C; i++)
      scale[i] = -1.0f;
    op.tensor[0] = (char *) param (imp, "scale", NULL, scale, C);
    op.tensor[1] = (char *) param (imp, "shift", NULL, k, C);
  } else {
    for (int i = 0; kind == '-' && i < C; i++)
      k[i] = -k[i];
    op.tensor[1] = (char *) param (imp, "shift", kind == '+' ? c : NULL, k, C);
  }
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, x->rank, GRAPH_OUT_LOGITS);
}

static gboolean
node_concat (OnnxImporter *imp, Node *n)
{
  GraphOp op = { .type = GOP_CONCAT };
  OnnxEntry *x0 = in_value (imp, n, 0);
  if (x0 == NULL)
    return FALSE;
  const gint64 axis = onnx_attr_int (n, "axis", 1);
  if (!(axis == 1 || (x0->rank == 3 && axis == -2)
          || (x0->rank == 2 && axis == -1)))
    return onnx_fail (imp, n,
        "concatenates over axis %" G_GINT64_FORMAT
        "; seqdream concatenates channels (axis 1)",
        axis);
  if (n->n_input > GRAPH_MAX_IN)
    return onnx_fail (
        imp, n, "%zu inputs (at most %d)", n->n_input, GRAPH_MAX_IN);
  for (gsize j = 0; j < n->n_input; j++) {
    OnnxEntry *x = in_value (imp, n, j);
    if (x == NULL)
      return FALSE;
    if (x->rank != x0->rank)
      return onnx_fail (imp, n, "inputs of different ranks");
    op.in[op.n_in++] = x->value;
  }
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, x0->rank, GRAPH_OUT_LOGITS);
}

static gboolean
node_pool (OnnxImporter *imp, Node *n, GraphOpType type)
{
  GraphOp op = { .type = type, .n_in = 1 };
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  if (x->rank != 3)
    return onnx_fail (imp, n, "pools [B,C,T] tensors only");
  if ((type == GOP_MAXPOOL || type == GOP_AVGPOOL)
      && !read_window (imp, n, 0, &op.win))
    return FALSE;
  if (type == GOP_MAXPOOL && n->n_output > 1 && n->output[1][0] != '\0')
    return onnx_fail (imp, n, "the Indices output is not supported");
  op.count_pad = onnx_attr_int (n, "count_include_pad", 0) != 0;
  op.in[0] = x->value;
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, 3, GRAPH_OUT_LOGITS);
}

/* The axes of a Reduce / Squeeze / Unsqueeze node (attribute, or input 1
 * from opset 13/18); *n_axes -1 when there are none. */
static gboolean
read_axes (OnnxImporter *imp, Node *n, gint64 *axes, int *n_axes)
{
  *n_axes = attr_ints (n, "axes", axes, 4);
  if (*n_axes == -2)
    return onnx_fail (imp, n, "too many axes");
  if (*n_axes == -1 && n->n_input > 1 && n->input[1][0] != '\0') {
    OnnxEntry *c = in_const (imp, n, 1);
    if (c == NULL)
      return FALSE;
    if (c->i == NULL || c->n > 4)
      return onnx_fail (imp, n, "axes must be at most 4 integers");
    for (gsize k = 0; k < c->n; k++)
      axes[k] = c->i[k];
    *n_axes = (int) c->n;
  }
  return TRUE;
}

/* The axes are exactly the time axis of a rank-3 tensor. */
static gboolean
axes_are_time (const gint64 *axes, int n_axes)
{
  return n_axes == 1 && (axes[0] == 2 || axes[0] == -1);
}

static gboolean
node_reduce (OnnxImporter *imp, Node *n, GraphOpType type)
{
  gint64 axes[4];
  int n_axes;
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL || !read_axes (imp, n, axes, &n_axes))
    return FALSE;
  if (x->rank != 3 || !axes_are_time (axes, n_axes))
    return onnx_fail (imp, n,
        "reduces over time only (axes [2] or [-1] of "
        "[B,C,T])");
  GraphOp op = { .type = type, .n_in = 1, .in = { x->value } };
  int v = add_op (imp, n, &op);
  return v >= 0
         && bind (imp, n, v, onnx_attr_int (n, "keepdims", 1) ? 3 : 2,
             GRAPH_OUT_LOGITS);
}

/* [B,C,T] -> [B, C*T] for the declared input length. */
static gboolean
flatten_time (OnnxImporter *imp, Node *n, const OnnxEntry *x)
{
  GraphOp op = { .type = GOP_FLATTEN, .n_in = 1, .in = { x->value } };
  if (imp->input_length == 0)
    return onnx_fail (imp, n,
        "flattens the time axis of an input whose "
        "length is dynamic; export with a fixed length "
        "or pool over time first");
  g_autofree int *len = g_new (int, imp->g->values->len);
  if (!sd_graph_lengths (imp->g, imp->input_length, TRUE, len, imp->error)) {
    g_prefix_error (imp->error, "%s: ", imp->file);
    return FALSE;
  }
  const gint64 F = (gint64) channels (imp, x->value) * len[x->value];
  if (F > (1 << 24))
    return onnx_fail (imp, n, "%" G_GINT64_FORMAT " features", F);
  op.OC = (int) F;
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, 2, GRAPH_OUT_LOGITS);
}

/* Flatten, Reshape, Squeeze, Unsqueeze: an alias of the input's value
 * when they only move between [B,C,T] and [B, C*T] (Flatten of a
 * non-pooled tensor: the model then takes one input length) or drop or
 * add the unit time axis of a pooled one. */
static gboolean
node_reshape (OnnxImporter *imp, Node *n)
{
  const char *op = n->op_type;
  gint64 axes[4];
  int n_axes, rank = -1;
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  const gboolean unit = is_unit (imp, x->value);
  if (strcmp (op, "Flatten") == 0) {
    if (onnx_attr_int (n, "axis", 1) == 1)
      rank = 2;
  } else if (strcmp (op, "Reshape") == 0) {
    OnnxEntry *s = in_const (imp, n, 1);
    if (s == NULL)
      return FALSE;
    if (s->i == NULL)
      return onnx_fail (imp, n, "the shape must be integers");
    if (s->n == 2 && (s->i[1] == -1 || unit || s->i[1] > 0))
      rank = 2;
    else if (s->n == 3 && unit && s->i[2] == 1)
      rank = 3;
    else if (s->n == 3 && x->rank == 3
             && (s->i[1] == channels (imp, x->value) || s->i[1] == 0)
             && (s->i[2] == -1 || s->i[2] == 0))
      rank = 3;
  } else {
    if (!read_axes (imp, n, axes, &n_axes))
      return FALSE;
    if (strcmp (op, "Squeeze") == 0 && x->rank == 3 && unit
        && (n_axes == -1 || axes_are_time (axes, n_axes)))
      rank = 2;
    else if (strcmp (op, "Unsqueeze") == 0 && x->rank == 2
             && axes_are_time (axes, n_axes))
      rank = 3;
  }
  if (rank < 0)
    return onnx_fail (imp, n,
        "only reshapes between [B,C,T] and [B,C*T], or "
        "of the unit time axis after pooling, are "
        "supported");
  if (rank == 3 || unit)
    return bind (imp, n, x->value, rank, GRAPH_OUT_LOGITS);
  return flatten_time (imp, n, x);
}

/* Gemm (A [B,IN] . B^T or B, + C) and MatMul (A . B) with constant B. */
static gboolean
node_dense (OnnxImporter *imp, Node *n, gboolean gemm)
{
  GraphOp op = { .type = GOP_GEMM, .n_in = 1 };
  OnnxEntry *x = in_value (imp, n, 0), *w = x ? in_const (imp, n, 1) : NULL;
  OnnxEntry *c = NULL;
  if (w == NULL)
    return FALSE;
  if (x->rank != 2 || w->ndim != 2 || w->f == NULL)
    return onnx_fail (imp, n,
        "needs [B, features] times a constant float "
        "matrix (Flatten before it?)");
  const gboolean transB = gemm && onnx_attr_int (n, "transB", 0) != 0;
  const float alpha = gemm ? attr_float (n, "alpha", 1.0f) : 1.0f;
  const float beta = gemm ? attr_float (n, "beta", 1.0f) : 1.0f;
  if (gemm && onnx_attr_int (n, "transA", 0) != 0)
    return onnx_fail (imp, n, "transA is not supported");
  const int IN = (int) (transB ? w->dims[1] : w->dims[0]);
  const int OUT = (int) (transB ? w->dims[0] : w->dims[1]);
  g_autofree float *wt = g_new (float, w->n);
  for (int o = 0; o < OUT; o++)
    for (int i = 0; i < IN; i++)
      wt[(gsize) o * IN + i]
          = alpha * w->f[transB ? (gsize) o * IN + i : (gsize) i * OUT + o];
  op.in[0] = x->value;
  op.IN = IN;
  op.OC = OUT;
  op.tensor[0] = (char *) param (
      imp, "weight", transB && alpha == 1.0f ? w : NULL, wt, w->n);
  if (gemm && n->n_input > 2 && n->input[2][0] != '\0') {
    if ((c = in_const (imp, n, 2)) == NULL)
      return FALSE;
    if (c->f == NULL || (c->n != 1 && c->n != (gsize) OUT))
      return onnx_fail (imp, n, "bias of %zu values for %d outputs", c->n, OUT);
    g_autofree float *bias = g_new (float, OUT);
    for (int o = 0; o < OUT; o++)
      bias[o] = beta * c->f[c->n == 1 ? 0 : o];
    op.tensor[1] = (char *) param (
        imp, "bias", beta == 1.0f && c->n == (gsize) OUT ? c : NULL, bias, OUT);
  }
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, 2, GRAPH_OUT_LOGITS);
}

static gboolean
node_softmax (OnnxImporter *imp, Node *n, GraphOutput kind)
{
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  const gint64 axis = onnx_attr_int (n, "axis", imp->opset >= 13 ? -1 : 1);
  if (x->rank != 2 || (axis != 1 && axis != -1))
    return onnx_fail (imp, n, "only over the classes of [B, classes]");
  return bind (imp, n, x->value, 2, kind);
}

static gboolean
node_constant (OnnxImporter *imp, Node *n)
{
  const Onnx__AttributeProto *a = onnx_attr (n, "value");
  if (a == NULL || a->t == NULL)
    return onnx_fail (imp, n, "only the tensor form ('value') is supported");
  OnnxEntry *e = onnx_const_from_tensor (imp, a->t);
  if (e == NULL)
    return FALSE;
  if (n->n_output < 1 || n->output[0][0] == '\0') {
    onnx_entry_free (e);
    return onnx_fail (imp, n, "has no output");
  }
  onnx_define (imp, n->output[0], e);
  return TRUE;
}

static gboolean
node_pad (OnnxImporter *imp, Node *n)
{
  gint64 pads[6];
  int np = -1;
  OnnxEntry *x = in_value (imp, n, 0);
  if (x == NULL)
    return FALSE;
  if (!attr_str_is (n, "mode", "constant", "constant"))
    return onnx_fail (imp, n, "only constant (zero) padding is supported");
  if (imp->opset < 11) {
    np = attr_ints (n, "pads", pads, 6);
    if (attr_float (n, "value", 0.0f) != 0.0f)
      return onnx_fail (imp, n, "pads with a non-zero value");
  } else {
    OnnxEntry *p = in_const (imp, n, 1);
    if (p == NULL)
      return FALSE;
    if (p->i != NULL && p->n <= 6) {
      np = (int) p->n;
      memcpy (pads, p->i, p->n * sizeof (gint64));
    }
    if (n->n_input > 2 && n->input[2][0] != '\0') {
      OnnxEntry *v = in_const (imp, n, 2);
      if (v == NULL)
        return FALSE;
      if (v->n != 1 || v->f == NULL || v->f[0] != 0.0f)
        return onnx_fail (imp, n, "pads with a non-zero value");
    }
    if (n->n_input > 3)
      return onnx_fail (imp, n, "the axes input is not supported");
  }
  if (x->rank != 3 || np != 6 || pads[0] || pads[1] || pads[3] || pads[4]
      || pads[2] < 0 || pads[5] < 0 || pads[2] > GRAPH_MAX_WINDOW
      || pads[5] > GRAPH_MAX_WINDOW)
    return onnx_fail (imp, n,
        "only zeros before and after the time axis of "
        "[B,C,T] are supported");
  GraphOp op = { .type = GOP_PAD, .n_in = 1, .in = { x->value } };
  op.win.pad_l = (int) pads[2];
  op.win.pad_r = (int) pads[5];
  int v = add_op (imp, n, &op);
  return v >= 0 && bind (imp, n, v, 3, GRAPH_OUT_LOGITS);
}

gboolean
onnx_node (OnnxImporter *imp, Node *n)
{
  const char *t = n->op_type ? n->op_type : "";
  gboolean folded;

  if (!onnx_fold (imp, n, &folded))
    return FALSE;
  if (folded)
    return TRUE;
  if (n->domain != NULL && n->domain[0] != '\0'
      && strcmp (n->domain, "ai.onnx") != 0)
    return onnx_fail (imp, n,
        "op of domain '%s'; seqdream reads the "
        "default domain only",
        n->domain);
  if (strcmp (t, "Conv") == 0)
    return node_conv (imp, n);
  if (strcmp (t, "BatchNormalization") == 0)
    return node_batchnorm (imp, n);
  if (strcmp (t, "Relu") == 0)
    return node_activation (imp, n, SD_ACT_RELU, 0);
  if (strcmp (t, "LeakyRelu") == 0)
    return node_activation (
        imp, n, SD_ACT_LEAKY_RELU, attr_float (n, "alpha", 0.01f));
  if (strcmp (t, "Elu") == 0)
    return node_activation (imp, n, SD_ACT_ELU, attr_float (n, "alpha", 1.0f));
  if (strcmp (t, "Sigmoid") == 0)
    return node_activation (imp, n, SD_ACT_SIGMOID, 0);
  if (strcmp (t, "Tanh") == 0)
    return node_activation (imp, n, SD_ACT_TANH, 0);
  if (strcmp (t, "Gelu") == 0)
    return node_activation (imp, n, SD_ACT_GELU, 0);
  if (strcmp (t, "Erf") == 0)
    return node_activation (imp, n, SD_ACT_ERF, 0);
  if (strcmp (t, "Add") == 0 || strcmp (t, "Sub") == 0 || strcmp (t, "Mul") == 0
      || strcmp (t, "Div") == 0)
    return node_binary (imp, n,
        "+-*/"[t[0] == 'A'   ? 0
               : t[0] == 'S' ? 1
               : t[0] == 'M' ? 2
                             : 3]);
  if (strcmp (t, "Concat") == 0)
    return node_concat (imp, n);
  if (strcmp (t, "MaxPool") == 0)
    return node_pool (imp, n, GOP_MAXPOOL);
  if (strcmp (t, "AveragePool") == 0)
    return node_pool (imp, n, GOP_AVGPOOL);
  if (strcmp (t, "GlobalAveragePool") == 0)
    return node_pool (imp, n, GOP_GAP);
  if (strcmp (t, "GlobalMaxPool") == 0)
    return node_pool (imp, n, GOP_GMP);
  if (strcmp (t, "ReduceMean") == 0)
    return node_reduce (imp, n, GOP_GAP);
  if (strcmp (t, "ReduceMax") == 0)
    return node_reduce (imp, n, GOP_GMP);
  if (strcmp (t, "Flatten") == 0 || strcmp (t, "Reshape") == 0
      || strcmp (t, "Squeeze") == 0 || strcmp (t, "Unsqueeze") == 0)
    return node_reshape (imp, n);
  if (strcmp (t, "Gemm") == 0 || strcmp (t, "MatMul") == 0)
    return node_dense (imp, n, t[0] == 'G');
  if (strcmp (t, "Dropout") == 0 || strcmp (t, "Identity") == 0) {
    OnnxEntry *x = in_value (imp, n, 0);
    return x != NULL && bind (imp, n, x->value, x->rank, GRAPH_OUT_LOGITS);
  }
  if (strcmp (t, "Softmax") == 0)
    return node_softmax (imp, n, GRAPH_OUT_SOFTMAX);
  if (strcmp (t, "LogSoftmax") == 0)
    return node_softmax (imp, n, GRAPH_OUT_LOG_SOFTMAX);
  if (strcmp (t, "Constant") == 0)
    return node_constant (imp, n);
  if (strcmp (t, "Pad") == 0)
    return node_pad (imp, n);
  return onnx_fail (imp, n, "op '%s' is not supported (supported: %s)", t,
      sd_onnx_supported_ops ());
}
