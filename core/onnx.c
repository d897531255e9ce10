/* The ONNX reader (seqdream/onnx.h): the protobuf is decoded by the code
 * protoc-c generates at build time from Debian's onnx.proto; every node is
 * mapped onto the op graph (graph-private.h) here, in onnx-nodes.c. The
 * file is untrusted: every name, shape, attribute and tensor size is
 * checked before use.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "onnx-export-private.h"

#include <math.h>
#include <string.h>

static const char supported[]
    = "Conv, BatchNormalization, Relu, LeakyRelu, Elu, Sigmoid, Tanh, Gelu, "
      "Erf, Add, Sub, Mul, Div, Concat, MaxPool, AveragePool, "
      "GlobalAveragePool, GlobalMaxPool, ReduceMean, ReduceMax, Flatten, "
      "Reshape, Squeeze, Unsqueeze, Gemm, MatMul, Dropout, Identity, "
      "Softmax, LogSoftmax, Constant, Pad";

const char *
sd_onnx_supported_ops (void)
{
  return supported;
}

void
onnx_entry_free (OnnxEntry *e)
{
  g_free (e->f);
  g_free (e->i);
  g_free (e);
}

gboolean
onnx_fail (OnnxImporter *imp, const Onnx__NodeProto *node, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (node != NULL)
    g_set_error (imp->error, SD_ERROR, SD_ERROR_MODEL, "%s: node '%s' (%s): %s",
        imp->file, imp->node_name, node->op_type ? node->op_type : "?", msg);
  else
    g_set_error (
        imp->error, SD_ERROR, SD_ERROR_MODEL, "%s: %s", imp->file, msg);
  return FALSE;
}

/* A tensor's dims and element count (at most 2^28: no model of ours comes
 * near, and the check keeps every product in range). */
static gboolean
tensor_numel (OnnxImporter *imp, const Onnx__TensorProto *t, gsize *numel)
{
  gsize n = 1;
  if (t->n_dims > ONNX_MAX_DIMS)
    return onnx_fail (
        imp, NULL, "tensor '%s' has %zu dims", t->name, t->n_dims);
  for (gsize d = 0; d < t->n_dims; d++) {
    if (t->dims[d] < 0 || t->dims[d] > (1 << 28))
      return onnx_fail (imp, NULL, "tensor '%s' has dim %" G_GINT64_FORMAT,
          t->name, t->dims[d]);
    n *= (gsize) t->dims[d];
    if (n > (1 << 28))
      return onnx_fail (imp, NULL, "tensor '%s' is too large", t->name);
  }
  *numel = n;
  return TRUE;
}

/* A constant from a TensorProto: FLOAT (and DOUBLE) as floats, INT64 and
 * INT32 as integers, from the typed field or raw_data (little-endian). */
OnnxEntry *
onnx_const_from_tensor (OnnxImporter *imp, const Onnx__TensorProto *t)
{
  gsize n = 0;
  const char *name = t->name ? t->name : "";
  if (!tensor_numel (imp, t, &n))
    return NULL;
  if (t->n_external_data > 0) {
    onnx_fail (imp, NULL,
        "tensor '%s' is stored outside the file (external data): save the "
        "model as one file",
        name);
    return NULL;
  }
  g_autoptr (OnnxEntry) e = g_new0 (OnnxEntry, 1);
  e->value = -1;
  e->ndim = (int) t->n_dims;
  for (int d = 0; d < e->ndim; d++)
    e->dims[d] = t->dims[d];
  e->n = n;
  const gsize raw = t->has_raw_data ? t->raw_data.len : 0;
  const guint8 *rd = t->raw_data.data;
  switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
      const gboolean dbl
          = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
      const gsize have = raw ? raw / (dbl ? 8 : 4)
                             : (dbl ? t->n_double_data : t->n_float_data);
      if (have != n || (raw && raw % (dbl ? 8 : 4)))
        goto bad_size;
      e->f = g_new (float, MAX (n, 1));
      for (gsize k = 0; k < n; k++) {
        if (raw && dbl) {
          guint64 u;
          double v;
          memcpy (&u, rd + 8 * k, 8);
          u = GUINT64_FROM_LE (u);
          memcpy (&v, &u, 8);
          e->f[k] = (float) v;
        } else if (raw) {
          guint32 u;
          memcpy (&u, rd + 4 * k, 4);
          u = GUINT32_FROM_LE (u);
          memcpy (&e->f[k], &u, 4);
        } else {
          e->f[k] = dbl ? (float) t->double_data[k] : t->float_data[k];
        }
        if (!isfinite (e->f[k])) {
          onnx_fail (imp, NULL, "tensor '%s'[%zu] is not finite", name, k);
          return NULL;
        }
      }
      break;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
      const gboolean i64 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
      const gsize have = raw ? raw / (i64 ? 8 : 4)
                             : (i64 ? t->n_int64_data : t->n_int32_data);
      if (have != n || (raw && raw % (i64 ? 8 : 4)))
        goto bad_size;
      e->i = g_new (gint64, MAX (n, 1));
      for (gsize k = 0; k < n; k++) {
        if (raw && i64) {
          guint64 u;
          memcpy (&u, rd + 8 * k, 8);
          e->i[k] = (gint64) GUINT64_FROM_LE (u);
        } else if (raw) {
          guint32 u;
          memcpy (&u, rd + 4 * k, 4);
          e->i[k] = (gint32) GUINT32_FROM_LE (u);
        } else {
          e->i[k] = i64 ? t->int64_data[k] : t->int32_data[k];
        }
      }
      break;
    }
    default:
      onnx_fail (imp, NULL,
          "tensor '%s' has data type %d; seqdream reads float, double, int64 "
          "and int32 tensors",
          name, t->data_type);
      return NULL;
  }
  return g_steal_pointer (&e);

bad_size:
  onnx_fail (imp, NULL,
      "tensor '%s' holds a different number of values "
      "than its %zu elements",
      name, n);
  return NULL;
}

void
onnx_define (OnnxImporter *imp, const char *name, OnnxEntry *e)
{
  g_hash_table_replace (imp->names, g_strdup (name), e);
}

OnnxEntry *
onnx_new_value (int value, int rank)
{
  OnnxEntry *e = g_new0 (OnnxEntry, 1);
  e->value = value;
  e->rank = rank;
  return e;
}

/* The single graph input: float [batch, 1, time]. */
static gboolean
read_input (OnnxImporter *imp, const Onnx__GraphProto *gp)
{
  const Onnx__ValueInfoProto *in = NULL;
  for (gsize k = 0; k < gp->n_input; k++) {
    if (gp->input[k]->name == NULL)
      return onnx_fail (imp, NULL, "graph input %zu has no name", k);
    if (g_hash_table_contains (imp->names, gp->input[k]->name))
      continue; /* an initializer listed as an input (IR < 4) */
    if (in != NULL)
      return onnx_fail (imp, NULL,
          "the graph has several inputs ('%s', '%s'); seqdream models take "
          "one series [batch, 1, time]",
          in->name, gp->input[k]->name);
    in = gp->input[k];
  }
  if (in == NULL)
    return onnx_fail (imp, NULL, "the graph has no input");
  const Onnx__TypeProto *tp = in->type;
  if (tp == NULL || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
      || tp->tensor_type == NULL
      || tp->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
      || tp->tensor_type->shape == NULL || tp->tensor_type->shape->n_dim != 3)
    return onnx_fail (imp, NULL,
        "input '%s' must be a float tensor [batch, 1, time]", in->name);
  Onnx__TensorShapeProto__Dimension **dim = tp->tensor_type->shape->dim;
  const gboolean fixed_c
      = dim[1]->value_case
        == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
  if (!fixed_c || dim[1]->dim_value != 1)
    return onnx_fail (imp, NULL,
        "input '%s' must have 1 channel ([batch, 1, time]); seqdream models "
        "are univariate",
        in->name);
  if (dim[2]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
      && dim[2]->dim_value > 0 && dim[2]->dim_value <= (1 << 26))
    imp->input_length = (int) dim[2]->dim_value;
  onnx_define (imp, in->name, onnx_new_value (0, 3));
  return TRUE;
}

/* The single output: class scores (batch, classes), maybe after a
 * recorded Softmax / LogSoftmax. */
static gboolean
read_output (OnnxImporter *imp, const Onnx__GraphProto *gp)
{
  if (gp->n_output != 1 || gp->output[0]->name == NULL)
    return onnx_fail (imp, NULL,
        "the graph has %zu outputs; seqdream takes one, the class scores",
        gp->n_output);
  const OnnxEntry *e = g_hash_table_lookup (imp->names, gp->output[0]->name);
  if (e == NULL || e->value < 0)
    return onnx_fail (imp, NULL, "output '%s' is not computed from the input",
        gp->output[0]->name);
  if (!sd_graph_set_logits (imp->g, e->value, e->post, imp->error)) {
    g_prefix_error (
        imp->error, "%s: output '%s': ", imp->file, gp->output[0]->name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_opset (OnnxImporter *imp, const Onnx__ModelProto *mp)
{
  for (gsize k = 0; k < mp->n_opset_import; k++) {
    const Onnx__OperatorSetIdProto *o = mp->opset_import[k];
    if (o->domain == NULL || o->domain[0] == '\0'
        || strcmp (o->domain, "ai.onnx") == 0)
      imp->opset = (int) CLAMP (o->version, 0, 1000);
  }
  if (imp->opset < 7)
    return onnx_fail (imp, NULL,
        "opset %d of the default domain; seqdream reads opset 7 and later",
        imp->opset);
  return TRUE;
}

/* The imported parameters into the compiled model's params. */
static gboolean
fill_params (OnnxImporter *imp, SdModel *m)
{
  m->params = g_new0 (float, m->n_params);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    GArray *a = g_hash_table_lookup (imp->params, t->name);
    g_assert (a != NULL && a->len == t->numel); /* made together */
    memcpy (m->params + t->offset, a->data, t->numel * sizeof (float));
    /* finite initialisers can still fold into non-finite parameters (a
     * Gemm's alpha times a large weight overflows float): such a model
     * would compute Inf/NaN and could not be saved, so it is refused */
    for (guint j = 0; j < t->numel; j++) {
      const float v = m->params[t->offset + j];
      if (!isfinite (v)) {
        g_set_error (imp->error, SD_ERROR, SD_ERROR_NONFINITE,
            "tensor '%s': value at flat index %u is %s after import (a "
            "non-finite initializer, or folding overflowed float)",
            t->name, j,
            isnan (v) ? "NaN"
            : v > 0   ? "+Inf"
                      : "-Inf");
        return FALSE;
      }
    }
  }
  return sd_graph_check_params (m, imp->error);
}

/* Labels, rate, training length, normalisation and input range: the
 * options first, then the file's seqdream.* metadata, then the defaults
 * ("0", "1", ...; unknown rate; the declared input length; none). */
static gboolean
apply_meta (OnnxImporter *imp, SdModel *m, const SdOnnxOptions *opts,
    const OnnxMeta *meta)
{
  const int K = sd_model_get_n_classes (m);
  const char *const *given = opts && opts->labels
                                 ? opts->labels
                                 : (const char *const *) meta->labels;
  const int n = given ? (int) g_strv_length ((char **) given) : 0;
  if (n > 0 && n != K)
    return onnx_fail (imp, NULL, "%d labels %s for %d classes", n,
        opts && opts->labels ? "given" : "in the metadata", K);
  g_auto (GStrv) labels = g_new0 (char *, K + 1);
  for (int k = 0; k < K; k++)
    labels[k] = n > 0 ? g_strdup (given[k]) : g_strdup_printf ("%d", k);
  if (!sd_model_check_labels (
          (const char *const *) labels, K, imp->file, imp->error))
    return FALSE;
  m->labels = g_steal_pointer (&labels);
  m->train_length = meta->train_length > 0  ? meta->train_length
                    : imp->input_length > 0 ? (guint) imp->input_length
                                            : 0;
  m->sample_rate
      = opts && opts->sample_rate > 0 ? opts->sample_rate : meta->sample_rate;
  m->norm.mode = SD_NORM_NONE;
  if (opts != NULL && opts->use_norm)
    m->norm = opts->norm;
  else if (meta->has_norm)
    m->norm = meta->norm;
  if (meta->has_range) {
    m->range_lo = meta->range_lo;
    m->range_hi = meta->range_hi;
  }
  if (meta->provenance != NULL)
    m->provenance = g_strdup (meta->provenance);
  return TRUE;
}

static SdModel *
import_model (OnnxImporter *imp, const Onnx__ModelProto *mp,
    const SdOnnxOptions *opts, OnnxMeta *meta)
{
  gsize first = 0;
  const Onnx__GraphProto *gp = mp->graph;
  if (gp == NULL)
    return onnx_fail (imp, NULL, "no graph (not an ONNX model?)"), NULL;
  if (!check_opset (imp, mp))
    return NULL;
  for (gsize k = 0; k < gp->n_initializer; k++) {
    const Onnx__TensorProto *t = gp->initializer[k];
    if (t->name == NULL || t->name[0] == '\0')
      return onnx_fail (imp, NULL, "initializer %zu has no name", k), NULL;
    OnnxEntry *e = onnx_const_from_tensor (imp, t);
    if (e == NULL)
      return NULL;
    e->param_name = t->name;
    onnx_define (imp, t->name, e);
  }
  if (!read_input (imp, gp) || !onnx_meta_read (imp, mp, meta)
      || !onnx_meta_skip_norm (imp, gp, meta, &first))
    return NULL;
  for (gsize k = first; k < gp->n_node; k++) {
    const Onnx__NodeProto *node = gp->node[k];
    g_free (imp->node_name);
    /* made valid UTF-8 without control characters: it is printed and
     * stored */
    imp->node_name = node->name && node->name[0]
                         ? g_utf8_make_valid (node->name, -1)
                         : g_strdup_printf ("#%zu", k);
    for (char *p = imp->node_name; *p; p++)
      if ((guchar) *p < 0x20 || *p == 0x7f)
        *p = '?';
    if (!onnx_node (imp, node))
      return NULL;
  }
  if (!read_output (imp, gp))
    return NULL;
  g_autoptr (SdModel) m = sd_model_compile_graph (imp->g, "onnx", imp->error);
  if (m == NULL) {
    g_prefix_error (imp->error, "%s: ", imp->file);
    return NULL;
  }
  if (!fill_params (imp, m)) {
    g_prefix_error (imp->error, "%s: ", imp->file);
    return NULL;
  }
  g_free (m->display_name);
  m->display_name = g_strdup (imp->file);
  if (!apply_meta (imp, m, opts, meta))
    return NULL;
  return g_steal_pointer (&m);
}

SdModel *
sd_model_load_onnx_from_bytes (GBytes *bytes, const char *display_name,
    const SdOnnxOptions *opts, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  OnnxImporter imp = { 0 };

  imp.file = display_name ? display_name : "(onnx)";
  imp.error = error;
  Onnx__ModelProto *mp = onnx__model_proto__unpack (NULL, size, data);
  if (mp == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: not an ONNX model (the protobuf does not decode)", imp.file);
    return NULL;
  }
  imp.names = g_hash_table_new_full (
      g_str_hash, g_str_equal, g_free, (GDestroyNotify) onnx_entry_free);
  imp.params = g_hash_table_new_full (
      g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  imp.g = sd_graph_new ();
  OnnxMeta meta = { 0 };
  SdModel *m = import_model (&imp, mp, opts, &meta);
  onnx_meta_clear (&meta);
  onnx__model_proto__free_unpacked (mp, NULL);
  g_hash_table_unref (imp.names);
  g_hash_table_unref (imp.params);
  sd_graph_unref (imp.g);
  g_free (imp.node_name);
  return m;
}

SdModel *
sd_model_load_onnx (const char *path, const SdOnnxOptions *opts, GError **error)
{
  g_autoptr (GMappedFile) mf = NULL;
  GError *local = NULL;

  mf = g_mapped_file_new (path, FALSE, &local);
  if (mf == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_IO, "%s: %s", path, local->message);
    g_error_free (local);
    return NULL;
  }
  g_autoptr (GBytes) bytes = g_mapped_file_get_bytes (mf);
  return sd_model_load_onnx_from_bytes (bytes, path, opts, error);
}

char *
sd_model_describe_graph (const SdModel *model)
{
  return model->graph ? sd_graph_describe (model) : NULL;
}
