/* Constant folding in the ONNX reader: nodes whose inputs are all
 * constants compute a constant. PyTorch 1.13 exports, e.g., the pads of
 * ConstantPad1d / F.pad as a chain of ConstantOfShape, Concat, Reshape,
 * Slice, Transpose and Cast on constants, which its own folding leaves in
 * the file; they become the constant pads of the Pad node here.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "onnx-private.h"

#include <string.h>

typedef const Onnx__NodeProto Node;

#define MAX_CONST (1 << 24)

static double
get (const OnnxEntry *e, gsize k)
{
  return e->f ? (double) e->f[k] : (double) e->i[k];
}

/* A new constant of ndim dims (numel checked), integer or float. */
static OnnxEntry *
new_const (
    OnnxImporter *imp, Node *n, int ndim, const gint64 *dims, gboolean is_int)
{
  gsize numel = 1;
  if (ndim > ONNX_MAX_DIMS) {
    onnx_fail (imp, n, "a constant of %d dims", ndim);
    return NULL;
  }
  for (int d = 0; d < ndim; d++) {
    if (dims[d] < 0 || dims[d] > MAX_CONST
        || (numel *= (gsize) dims[d]) > MAX_CONST) {
      onnx_fail (imp, n, "a constant of more than %d elements", MAX_CONST);
      return NULL;
    }
  }
  /* all folded constants together, so that many nodes cannot add up */
  if ((imp->folded += numel) > MAX_CONST) {
    onnx_fail (
        imp, n, "folds constants of more than %d elements in all", MAX_CONST);
    return NULL;
  }
  OnnxEntry *e = g_new0 (OnnxEntry, 1);
  e->value = -1;
  e->ndim = ndim;
  memcpy (e->dims, dims, ndim * sizeof (gint64));
  e->n = numel;
  if (is_int)
    e->i = g_new0 (gint64, MAX (numel, 1));
  else
    e->f = g_new0 (float, MAX (numel, 1));
  return e;
}

static void
set (OnnxEntry *e, gsize k, double v)
{
  if (e->f)
    e->f[k] = (float) v;
  else
    e->i[k] = (gint64) v;
}

/* Input j, a constant, or NULL when absent (empty name). */
static const OnnxEntry *
const_in (OnnxImporter *imp, Node *n, gsize j)
{
  if (j >= n->n_input || n->input[j][0] == '\0')
    return NULL;
  return g_hash_table_lookup (imp->names, n->input[j]);
}

/* The element strides of dims (row-major). */
static void
strides_of (const OnnxEntry *e, gint64 *st)
{
  gint64 s = 1;
  for (int d = e->ndim - 1; d >= 0; d--) {
    st[d] = s;
    s *= e->dims[d];
  }
}

/* out[idx] = in[sum_a (base[a] + idx[a] step[a]) stride[a]] over every
 * index of out (the odometer of Slice and Transpose). */
static void
gather (OnnxEntry *out, const OnnxEntry *in, const gint64 *base,
    const gint64 *step, const gint64 *stride)
{
  gint64 idx[ONNX_MAX_DIMS] = { 0 };
  for (gsize k = 0; k < out->n; k++) {
    gint64 src = 0;
    for (int a = 0; a < out->ndim; a++)
      src += (base[a] + idx[a] * step[a]) * stride[a];
    set (out, k, get (in, (gsize) src));
    for (int a = out->ndim - 1; a >= 0; a--) {
      if (++idx[a] < out->dims[a])
        break;
      idx[a] = 0;
    }
  }
}

static OnnxEntry *
fold_constant_of_shape (OnnxImporter *imp, Node *n, const OnnxEntry *s)
{
  const Onnx__AttributeProto *a = onnx_attr (n, "value");
  g_autoptr (OnnxEntry) v
      = a && a->t ? onnx_const_from_tensor (imp, a->t) : NULL;
  gint64 dims[ONNX_MAX_DIMS];
  if (a && a->t && v == NULL)
    return NULL;
  if (s->i == NULL || s->n > ONNX_MAX_DIMS || (v && v->n != 1)) {
    onnx_fail (imp, n, "needs a shape of at most %d integers and one value",
        ONNX_MAX_DIMS);
    return NULL;
  }
  memcpy (dims, s->i, s->n * sizeof (gint64));
  OnnxEntry *e = new_const (imp, n, (int) s->n, dims, v && v->i);
  for (gsize k = 0; e && k < e->n; k++)
    set (e, k, v ? get (v, 0) : 0.0);
  return e;
}

static OnnxEntry *
fold_concat (OnnxImporter *imp, Node *n)
{
  const OnnxEntry *a = const_in (imp, n, 0);
  gint64 axis = onnx_attr_int (n, "axis", 0), dims[ONNX_MAX_DIMS];
  if (axis < 0)
    axis += a->ndim;
  if (axis < 0 || axis >= a->ndim) {
    onnx_fail (imp, n, "axis out of range");
    return NULL;
  }
  memcpy (dims, a->dims, sizeof dims);
  dims[axis] = 0;
  for (gsize j = 0; j < n->n_input; j++) {
    const OnnxEntry *b = const_in (imp, n, j);
    for (int d = 0; b && d < a->ndim; d++)
      if (b->ndim != a->ndim || (d != axis && b->dims[d] != a->dims[d])
          || (b->i == NULL) != (a->i == NULL))
        b = NULL;
    if (b == NULL) {
      onnx_fail (imp, n, "constants of different shapes or types");
      return NULL;
    }
    dims[axis] += b->dims[axis];
    if (dims[axis] > MAX_CONST)
      break;
  }
  OnnxEntry *e = new_const (imp, n, a->ndim, dims, a->i != NULL);
  if (e == NULL)
    return NULL;
  gsize outer = 1, k = 0;
  for (int d = 0; d < axis; d++)
    outer *= (gsize) dims[d];
  for (gsize o = 0; o < outer; o++)
    for (gsize j = 0; j < n->n_input; j++) {
      const OnnxEntry *b = const_in (imp, n, j);
      const gsize chunk = outer ? b->n / outer : 0;
      for (gsize c = 0; c < chunk; c++)
        set (e, k++, get (b, o * chunk + c));
    }
  return e;
}

static OnnxEntry *
fold_reshape (
    OnnxImporter *imp, Node *n, const OnnxEntry *a, const OnnxEntry *s)
{
  gint64 dims[ONNX_MAX_DIMS];
  gint64 known = 1;
  int infer = -1;
  if (s == NULL || s->i == NULL || s->n > ONNX_MAX_DIMS) {
    onnx_fail (imp, n, "needs a shape of at most %d integers", ONNX_MAX_DIMS);
    return NULL;
  }
  for (gsize d = 0; d < s->n; d++) {
    dims[d] = s->i[d] == 0 && (int) d < a->ndim ? a->dims[d] : s->i[d];
    if (dims[d] == -1 && infer < 0)
      infer = (int) d;
    else if (dims[d] < 0 || dims[d] > MAX_CONST
             || (known *= MAX (dims[d], 1)) > MAX_CONST) {
      onnx_fail (imp, n, "an impossible shape");
      return NULL;
    }
  }
  if (infer >= 0)
    dims[infer] = known ? (gint64) a->n / known : 0;
  OnnxEntry *e = new_const (imp, n, (int) s->n, dims, a->i != NULL);
  if (e != NULL && e->n != a->n) {
    onnx_entry_free (e);
    onnx_fail (imp, n, "reshapes %zu elements into another count", a->n);
    return NULL;
  }
  for (gsize k = 0; e && k < e->n; k++)
    set (e, k, get (a, k));
  return e;
}

static OnnxEntry *
fold_transpose (OnnxImporter *imp, Node *n, const OnnxEntry *a)
{
  const Onnx__AttributeProto *p = onnx_attr (n, "perm");
  gint64 perm[ONNX_MAX_DIMS], dims[ONNX_MAX_DIMS], st[ONNX_MAX_DIMS];
  gint64 base[ONNX_MAX_DIMS] = { 0 }, one[ONNX_MAX_DIMS], stride[ONNX_MAX_DIMS];
  guint seen = 0;
  strides_of (a, st);
  for (int d = 0; d < a->ndim; d++) {
    perm[d] = p ? (d < (int) p->n_ints ? p->ints[d] : -1) : a->ndim - 1 - d;
    if (perm[d] < 0 || perm[d] >= a->ndim || (seen & (1u << perm[d]))
        || (p && (int) p->n_ints != a->ndim)) {
      onnx_fail (imp, n, "perm is not a permutation of %d axes", a->ndim);
      return NULL;
    }
    seen |= 1u << perm[d];
    dims[d] = a->dims[perm[d]];
    stride[d] = st[perm[d]];
    one[d] = 1;
  }
  OnnxEntry *e = new_const (imp, n, a->ndim, dims, a->i != NULL);
  if (e != NULL)
    gather (e, a, base, one, stride);
  return e;
}

/* Slice (opset 10+: starts, ends, axes, steps as inputs). */
static OnnxEntry *
fold_slice (OnnxImporter *imp, Node *n, const OnnxEntry *a)
{
  const OnnxEntry *st = const_in (imp, n, 1), *en = const_in (imp, n, 2);
  const OnnxEntry *ax = const_in (imp, n, 3), *sp = const_in (imp, n, 4);
  gint64 base[ONNX_MAX_DIMS] = { 0 }, step[ONNX_MAX_DIMS];
  gint64 dims[ONNX_MAX_DIMS], stride[ONNX_MAX_DIMS];
  if (st == NULL || en == NULL || !st->i || !en->i || st->n != en->n
      || (ax && (!ax->i || ax->n != st->n))
      || (sp && (!sp->i || sp->n != st->n))) {
    onnx_fail (imp, n,
        "needs integer starts, ends (and axes, steps) of "
        "one length");
    return NULL;
  }
  strides_of (a, stride);
  for (int d = 0; d < a->ndim; d++) {
    dims[d] = a->dims[d];
    step[d] = 1;
  }
  for (gsize k = 0; k < st->n; k++) {
    gint64 d = ax ? ax->i[k] : (gint64) k, s = sp ? sp->i[k] : 1;
    if (d < 0)
      d += a->ndim;
    if (d < 0 || d >= a->ndim || s == 0) {
      onnx_fail (imp, n, "axis or step out of range");
      return NULL;
    }
    const gint64 D = a->dims[d];
    gint64 b = st->i[k], e = en->i[k];
    b = b < 0 ? b + D : b;
    e = e < 0 ? e + D : e;
    /* numpy's clamping: [0, D] forwards, [-1, D-1] backwards */
    b = s > 0 ? CLAMP (b, 0, D) : CLAMP (b, -1, D - 1);
    e = s > 0 ? CLAMP (e, 0, D) : CLAMP (e, -1, D - 1);
    base[d] = b;
    step[d] = s;
    dims[d]
        = s > 0 ? MAX ((e - b + s - 1) / s, 0) : MAX ((b - e - s - 1) / -s, 0);
  }
  OnnxEntry *e = new_const (imp, n, a->ndim, dims, a->i != NULL);
  if (e != NULL)
    gather (e, a, base, step, stride);
  return e;
}

static OnnxEntry *
fold_cast (OnnxImporter *imp, Node *n, const OnnxEntry *a)
{
  const gint64 to = onnx_attr_int (n, "to", 0);
  const gboolean is_int = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                          || to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32;
  if (!is_int && to != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
      && to != ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
    onnx_fail (imp, n, "casts to type %" G_GINT64_FORMAT, to);
    return NULL;
  }
  OnnxEntry *e = new_const (imp, n, a->ndim, a->dims, is_int);
  for (gsize k = 0; e && k < e->n; k++)
    set (e, k, get (a, k));
  return e;
}

gboolean
onnx_fold (OnnxImporter *imp, Node *n, gboolean *folded)
{
  static const char *const ops[] = { "ConstantOfShape", "Concat", "Reshape",
    "Slice", "Transpose", "Cast", NULL };
  const char *t = n->op_type ? n->op_type : "";
  OnnxEntry *e = NULL;
  int which = -1;

  *folded = FALSE;
  for (int k = 0; ops[k]; k++)
    if (strcmp (t, ops[k]) == 0)
      which = k;
  if (which < 0 || n->n_input < 1 || n->n_output < 1 || n->output[0][0] == '\0')
    return TRUE;
  for (gsize j = 0; j < n->n_input; j++) {
    const OnnxEntry *in
        = n->input[j][0] ? g_hash_table_lookup (imp->names, n->input[j]) : NULL;
    if (n->input[j][0] && (in == NULL || in->value >= 0))
      return TRUE; /* not all constants: a node of the graph */
  }
  const OnnxEntry *a = const_in (imp, n, 0);
  if (a == NULL)
    return onnx_fail (imp, n, "input 0 is missing");
  switch (which) {
    case 0:
      e = fold_constant_of_shape (imp, n, a);
      break;
    case 1:
      e = fold_concat (imp, n);
      break;
    case 2:
      e = fold_reshape (imp, n, a, const_in (imp, n, 1));
      break;
    case 3:
      e = fold_slice (imp, n, a);
      break;
    case 4:
      e = fold_transpose (imp, n, a);
      break;
    default:
      e = fold_cast (imp, n, a);
      break;
  }
  if (e == NULL)
    return FALSE;
  onnx_define (imp, n->output[0], e);
  *folded = TRUE;
  return TRUE;
}
