/* Op graphs (graph-private.h): building and checking them, the length of
 * every value, the JSON form stored in model files, and the model of a
 * graph.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "json-strict.h"

#include <math.h>
#include <string.h>

static const char *const op_names[GOP_N_TYPES] = { "conv", "batchnorm",
  "activation", "add", "mul", "affine", "concat", "maxpool", "avgpool",
  "global_avgpool", "global_maxpool", "dense", "pad", "flatten" };

static void
op_clear (gpointer p)
{
  GraphOp *op = p;
  g_free (op->name);
  for (int s = 0; s < GRAPH_N_TENSORS; s++)
    g_free (op->tensor[s]);
}

SdGraph *
sd_graph_new (void)
{
  SdGraph *g = g_new0 (SdGraph, 1);
  GraphValue input = { .C = 1, .unit = FALSE, .rf = 1, .jump = 1 };
  g->ref_count = 1;
  g->ops = g_array_new (FALSE, TRUE, sizeof (GraphOp));
  g_array_set_clear_func (g->ops, op_clear);
  g->values = g_array_new (FALSE, TRUE, sizeof (GraphValue));
  g_array_append_val (g->values, input);
  g->logits = -1;
  g->features = -1;
  return g;
}

SdGraph *
sd_graph_ref (SdGraph *g)
{
  g_atomic_int_inc (&g->ref_count);
  return g;
}

void
sd_graph_unref (SdGraph *g)
{
  if (g == NULL || !g_atomic_int_dec_and_test (&g->ref_count))
    return;
  g_array_unref (g->ops);
  g_array_unref (g->values);
  g_free (g->arch_name);
  g_free (g);
}

#define VAL(g, i) (&g_array_index ((g)->values, GraphValue, (i)))
#define OP(g, i) (&g_array_index ((g)->ops, GraphOp, (i)))

static gboolean fail (GError **error, const GraphOp *op, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
fail (GError **error, const GraphOp *op, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "node '%s' (%s): %s",
      op->name ? op->name : "?", op_names[op->type], msg);
  return FALSE;
}

static gboolean
window_ok (const GraphOp *op, GError **error)
{
  const SdWindow *w = &op->win;
  if (w->K < 1 || w->K > GRAPH_MAX_WINDOW || w->stride < 1
      || w->stride > GRAPH_MAX_WINDOW || w->dilation < 1
      || w->dilation > GRAPH_MAX_WINDOW || w->pad_l < 0
      || w->pad_l > GRAPH_MAX_WINDOW || w->pad_r < 0
      || w->pad_r > GRAPH_MAX_WINDOW)
    return fail (error, op,
        "kernel %d, stride %d, dilation %d, pads %d/%d: each must be in "
        "1..%d (pads 0..%d)",
        w->K, w->stride, w->dilation, w->pad_l, w->pad_r, GRAPH_MAX_WINDOW,
        GRAPH_MAX_WINDOW);
  return TRUE;
}

/* The number of inputs and of required tensors of each op type, and the
 * checks that need the input values; fills the output value. */
static gboolean
check_op (const SdGraph *g, GraphOp *op, GraphValue *out, GError **error)
{
  static const int n_in[GOP_N_TYPES]
      = { 1, 1, 1, 2, 2, 1, 0, 1, 1, 1, 1, 1, 1, 1 };
  const int n_values = (int) g->values->len;

  if ((guint) op->type >= GOP_N_TYPES) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "node '%s': unknown op %d",
        op->name ? op->name : "?", op->type);
    return FALSE;
  }
  if (op->type == GOP_CONCAT ? (op->n_in < 1 || op->n_in > GRAPH_MAX_IN)
                             : op->n_in != n_in[op->type])
    return fail (error, op, "%d inputs", op->n_in);
  for (int j = 0; j < op->n_in; j++)
    if (op->in[j] < 0 || op->in[j] >= n_values)
      return fail (error, op, "input %d refers to value %d of %d", j, op->in[j],
          n_values);
  const GraphValue *a = VAL (g, op->in[0]);
  *out = *a;
  switch (op->type) {
    case GOP_CONV:
      if (op->group < 1 || a->C % op->group != 0 || op->OC < 1
          || op->OC > GRAPH_MAX_CHANNELS || op->OC % op->group != 0)
        return fail (error, op,
            "%d -> %d channels in %d groups: channels must divide evenly", a->C,
            op->OC, op->group);
      if (op->tensor[0] == NULL)
        return fail (error, op, "no weight");
      if (!window_ok (op, error))
        return FALSE;
      out->C = op->OC;
      break;
    case GOP_MAXPOOL:
    case GOP_AVGPOOL:
      if (!window_ok (op, error))
        return FALSE;
      break;
    case GOP_PAD:
      op->win.K = op->win.stride = op->win.dilation = 1;
      if (!window_ok (op, error))
        return FALSE;
      break;
    case GOP_BN:
      if (!(op->eps > 0 && op->eps < 1))
        return fail (error, op, "epsilon %g is not in (0, 1)", op->eps);
      for (int s = 0; s < 4; s++)
        if (op->tensor[s] == NULL)
          return fail (error, op, "needs scale, bias, mean and variance");
      break;
    case GOP_ACT:
      if ((guint) op->act > SD_ACT_ERF || !isfinite (op->alpha))
        return fail (error, op, "unknown activation %d", op->act);
      break;
    case GOP_ADD:
    case GOP_MUL: {
      const GraphValue *b = VAL (g, op->in[1]);
      if (a->C != b->C || a->unit != b->unit)
        return fail (error, op,
            "operands of %d and %d channels%s: only equal shapes are joined",
            a->C, b->C, a->unit != b->unit ? ", one of them pooled" : "");
      out->rf = MAX (a->rf, b->rf);
      break;
    }
    case GOP_AFFINE:
      if (op->tensor[0] == NULL && op->tensor[1] == NULL)
        return fail (error, op, "neither a scale nor a shift");
      break;
    case GOP_CONCAT: {
      gint64 C = 0;
      for (int j = 0; j < op->n_in; j++) {
        const GraphValue *v = VAL (g, op->in[j]);
        if (v->unit != a->unit)
          return fail (error, op, "joins pooled and unpooled values");
        C += v->C;
        out->rf = MAX (out->rf, v->rf);
      }
      if (C > GRAPH_MAX_CHANNELS)
        return fail (error, op, "%" G_GINT64_FORMAT " channels", C);
      out->C = (int) C;
      break;
    }
    case GOP_GAP:
    case GOP_GMP:
      out->unit = TRUE;
      break;
    case GOP_GEMM:
      if (op->OC < 1 || op->OC > GRAPH_MAX_CHANNELS || op->IN < 1
          || op->IN > (1 << 24) || op->tensor[0] == NULL)
        return fail (
            error, op, "a dense layer of %d -> %d features", op->IN, op->OC);
      if (!a->unit || op->IN != a->C)
        return fail (error, op, "weight for %d features, input has %d%s",
            op->IN, a->C, a->unit ? "" : " x time (flatten it first)");
      out->C = op->OC;
      out->unit = TRUE;
      break;
    case GOP_FLATTEN:
      if (op->OC < 1 || op->OC > (1 << 24) || op->OC % a->C != 0)
        return fail (error, op, "%d features from %d channels", op->OC, a->C);
      out->C = op->OC;
      out->unit = TRUE;
      break;
    default:
      break;
  }
  if (op->type == GOP_CONV || op->type == GOP_MAXPOOL || op->type == GOP_AVGPOOL
      || op->type == GOP_PAD) {
    out->unit = a->unit && sd_window_out_length (&op->win, 1) == 1;
    if (op->type != GOP_PAD) {
      out->rf = a->rf + op->win.dilation * (op->win.K - 1) * a->jump;
      out->jump = (int) MIN ((gint64) a->jump * op->win.stride, G_MAXINT / 2);
      out->rf = MIN (out->rf, G_MAXINT / 4);
    }
  }
  return TRUE;
}

/* Valid UTF-8 without control characters (which JSON would need
 * escaped). */
static gboolean
name_ok (const char *s)
{
  if (!g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const guchar *p = (const guchar *) s; *p; p++)
    if (*p < 0x20 || *p == 0x7f)
      return FALSE;
  return TRUE;
}

int
sd_graph_add (SdGraph *g, const GraphOp *tmpl, GError **error)
{
  GraphOp op = *tmpl;
  GraphValue out;

  if (g->ops->len >= GRAPH_MAX_OPS) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_MODEL, "more than %d ops", GRAPH_MAX_OPS);
    return -1;
  }
  /* names go into JSON metadata and messages (an ONNX file's strings are
   * not checked by the protobuf decoder) */
  if (tmpl->name != NULL && !name_ok (tmpl->name)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "a node name is not valid UTF-8 or holds control characters");
    return -1;
  }
  for (int s = 0; s < GRAPH_N_TENSORS; s++)
    if (tmpl->tensor[s] != NULL
        && (tmpl->tensor[s][0] == '\0' || !name_ok (tmpl->tensor[s]))) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "node '%s': a tensor name is empty, not valid UTF-8 or holds "
          "control characters",
          tmpl->name ? tmpl->name : "?");
      return -1;
    }
  op.name = g_strdup (tmpl->name);
  for (int s = 0; s < GRAPH_N_TENSORS; s++)
    op.tensor[s] = g_strdup (tmpl->tensor[s]);
  if (!check_op (g, &op, &out, error)) {
    op_clear (&op);
    return -1;
  }
  if (g->total_channels + out.C > GRAPH_MAX_TOTAL_CHANNELS) {
    fail (error, &op, "the graph's values hold more than %d channels in all",
        GRAPH_MAX_TOTAL_CHANNELS);
    op_clear (&op);
    return -1;
  }
  g->total_channels += out.C;
  g_array_append_val (g->ops, op);
  g_array_append_val (g->values, out);
  return (int) g->values->len - 1;
}

gboolean
sd_graph_set_logits (SdGraph *g, int value, GraphOutput output, GError **error)
{
  if (value < 1 || value >= (int) g->values->len || !VAL (g, value)->unit
      || VAL (g, value)->C < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "the output must be class scores (batch, classes) of at least 2 "
        "classes after pooling or a dense layer");
    return FALSE;
  }
  g->logits = value;
  g->output = output;
  g->features = value;
  const GraphOp *op = OP (g, value - 1);
  if (op->type == GOP_GEMM)
    g->features = op->in[0];
  return TRUE;
}

gboolean
sd_graph_lengths (
    const SdGraph *g, int T, gboolean check, int *len, GError **error)
{
  len[0] = T;
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    const int L = len[op->in[0]];
    int out = L;
    switch (op->type) {
      case GOP_CONV:
      case GOP_MAXPOOL:
      case GOP_AVGPOOL:
        out = sd_window_out_length (&op->win, L);
        if (check && out < 1)
          return fail (error, op,
              "an input of %d samples is too short for this layer, which "
              "sees %d samples of %d",
              T, L, op->win.dilation * (op->win.K - 1) + 1);
        break;
      case GOP_PAD:
        out = L + op->win.pad_l + op->win.pad_r;
        break;
      case GOP_ADD:
      case GOP_MUL:
      case GOP_CONCAT:
        for (int j = 1; j < op->n_in; j++) {
          if (check && len[op->in[j]] != L)
            return fail (error, op,
                "for an input of %d samples its operands are %d and %d "
                "samples long",
                T, L, len[op->in[j]]);
          out = MAX (out, len[op->in[j]]);
        }
        break;
      case GOP_GAP:
      case GOP_GMP:
      case GOP_GEMM:
      case GOP_FLATTEN:
        if (check && L < 1)
          return fail (error, op, "an empty input");
        if (check && op->type == GOP_FLATTEN
            && (gint64) VAL (g, op->in[0])->C * L != op->OC)
          return fail (error, op,
              "gives %d features for the dense layers after it, an input of "
              "%d samples gives %d x %d (the model takes one input length)",
              op->OC, T, VAL (g, op->in[0])->C, L);
        out = 1;
        break;
      default:
        break;
    }
    len[i + 1] = out;
  }
  return TRUE;
}

/* A flatten of a time axis, which fixes the input length. */
static const GraphOp *
fixed_length_op (const SdGraph *g)
{
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    if (op->type == GOP_FLATTEN && !VAL (g, op->in[0])->unit)
      return op;
  }
  return NULL;
}

int
sd_graph_min_length (const SdGraph *g, int limit)
{
  g_autofree int *len = g_new (int, g->values->len);
  const GraphOp *fixed = fixed_length_op (g);
  int lo = 1, hi = limit;

  /* Lengths grow with T: the shortest T with every length >= 1 (and, for
   * a fixed-length model, the dense layer's input full) by bisection. */
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    gboolean ok = TRUE;
    sd_graph_lengths (g, mid, FALSE, len, NULL);
    for (guint v = 0; v < g->values->len && ok; v++)
      ok = len[v] >= 1;
    if (ok && fixed != NULL)
      ok = (gint64) VAL (g, fixed->in[0])->C * len[fixed->in[0]] >= fixed->OC;
    if (ok)
      hi = mid;
    else
      lo = mid + 1;
  }
  /* Joined branches may agree only for some lengths: the next few. */
  for (int T = lo; T <= limit && T < lo + 1024; T++)
    if (sd_graph_lengths (g, T, TRUE, len, NULL))
      return T;
  return 0;
}

void
sd_graph_tensor_shape (
    const SdGraph *g, const GraphOp *op, int s, int *ndim, gint64 *shape)
{
  const int C = VAL (g, op->in[0])->C;
  *ndim = 0;
  if (op->tensor[s] == NULL)
    return;
  *ndim = 1;
  switch (op->type) {
    case GOP_CONV:
      shape[0] = op->OC;
      if (s == 0) {
        *ndim = 3;
        shape[1] = C / op->group;
        shape[2] = op->win.K;
      }
      break;
    case GOP_GEMM:
      shape[0] = op->OC;
      if (s == 0) {
        *ndim = 2;
        shape[1] = op->IN;
      }
      break;
    default: /* per-channel vectors */
      shape[0] = C;
      break;
  }
}

int
sd_graph_value_length (const SdGraph *g, int value, int T)
{
  g_autofree int *len = g_new (int, g->values->len);
  sd_graph_lengths (g, T, FALSE, len, NULL);
  return len[value];
}

/* The stage layers of a graph model: the outputs of its rectifying
 * activations that still have a time axis (sigmoid, tanh and erf are
 * gates or parts of a GELU more often than a layer's output), in op
 * order; more than SD_MAX_STAGES are thinned evenly, keeping the last. */
static void
compile_graph_stages (SdModel *m, const SdGraph *g)
{
  g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    if (op->type == GOP_ACT && !VAL (g, i + 1)->unit
        && (op->act == SD_ACT_RELU || op->act == SD_ACT_LEAKY_RELU
            || op->act == SD_ACT_ELU || op->act == SD_ACT_GELU)) {
      const int v = (int) i + 1;
      g_array_append_val (found, v);
    }
  }
  const int n = (int) found->len, S = MIN (n, SD_MAX_STAGES);
  for (int l = 0; l < S; l++) {
    /* l = S - 1 takes the last, n - 1 */
    const int v
        = g_array_index (found, int, (int) ((gint64) (l + 1) * n / S) - 1);
    m->graph_stage[l] = v;
    m->act_channels[l] = VAL (g, v)->C;
    m->act_div[l] = 1; /* unused: a graph value's length is computed */
    m->stage_out[l] = l;
  }
  m->n_acts = S;
  m->n_stage_layers = S;
}

SdModel *
sd_model_compile_graph (SdGraph *g, const char *name, GError **error)
{
  SdArch arch;

  if (g->logits < 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "the graph has no output");
    return NULL;
  }
  memset (&arch, 0, sizeof arch);
  g_strlcpy (arch.name, name, sizeof arch.name);
  arch.in_channels = 1;
  arch.n_classes = VAL (g, g->logits)->C;
  arch.bn_eps = 1e-5f;
  arch.bn_momentum = 0.1f;
  g_autoptr (SdModel) m = sd_model_new_empty (&arch);
  m->graph = sd_graph_ref (g);
  for (guint i = 0; i < g->ops->len; i++) {
    GraphOp *op = OP (g, i);
    for (int s = 0; s < GRAPH_N_TENSORS; s++) {
      gint64 shape[3] = { 0, 0, 0 };
      int ndim;
      sd_graph_tensor_shape (g, op, s, &ndim, shape);
      if (ndim == 0)
        continue;
      const SdParamInfo *t = sd_model_find_tensor (m, op->tensor[s]);
      if (t == NULL) {
        /* BN statistics are buffers, as PyTorch's */
        const gboolean trainable = op->type != GOP_BN || s < 2;
        op->off[s] = sd_model_add_tensor (m, g_strdup (op->tensor[s]), ndim,
            shape[0], shape[1], shape[2], trainable);
      } else if (t->ndim != ndim || t->shape[0] != shape[0]
                 || (ndim > 1 && t->shape[1] != shape[1])
                 || (ndim > 2 && t->shape[2] != shape[2])) {
        fail (error, op,
            "tensor '%s' is shared with a layer that needs another shape",
            op->tensor[s]);
        return NULL;
      } else {
        op->off[s] = t->offset;
      }
    }
  }
  m->min_length = sd_graph_min_length (g, 1 << 20);
  if (m->min_length == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "no input length up to %d samples fits the graph (see the lengths "
        "of its joined branches)",
        1 << 20);
    return NULL;
  }
  g_autofree int *len = g_new (int, g->values->len);
  sd_graph_lengths (g, m->min_length, TRUE, len, NULL);
  m->feat_channels = VAL (g, g->features)->C;
  m->receptive_field = 1;
  for (guint v = 0; v < g->values->len; v++)
    if (!VAL (g, v)->unit)
      m->receptive_field = MAX (m->receptive_field, VAL (g, v)->rf);
  compile_graph_stages (m, g);
  const int S = m->n_stage_layers;
  m->layer_names = g_new0 (char *, S + 3);
  for (int l = 0; l < S; l++)
    m->layer_names[l] = g_strdup_printf ("stages.%d", l);
  m->layer_names[S] = g_strdup ("gap");
  m->layer_names[S + 1] = g_strdup ("fc");
  return g_steal_pointer (&m);
}

gboolean
sd_graph_check_params (const SdModel *m, GError **error)
{
  const SdGraph *g = m->graph;
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    if (op->type != GOP_BN)
      continue;
    const float *var = m->params + op->off[3];
    for (int c = 0; c < VAL (g, op->in[0])->C; c++)
      if (!(var[c] >= 0))
        return fail (error, op, "tensor '%s'[%d] = %g is not a variance",
            op->tensor[3], c, var[c]);
  }
  return TRUE;
}

char *
sd_graph_describe (const SdModel *m)
{
  const SdGraph *g = m->graph;
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    const GraphValue *v = VAL (g, i + 1);
    g_string_append_printf (s, "  %-4u %-14s %-24s -> %d%s", i + 1,
        op->type == GOP_ACT ? sd_activation_name (op->act) : op_names[op->type],
        op->name ? op->name : "", v->C, v->unit ? "" : " x T");
    if (op->type == GOP_CONV || op->type == GOP_MAXPOOL
        || op->type == GOP_AVGPOOL)
      g_string_append_printf (s, ", k%d s%d d%d pad %d/%d", op->win.K,
          op->win.stride, op->win.dilation, op->win.pad_l, op->win.pad_r);
    if (op->type == GOP_CONV && op->group > 1)
      g_string_append_printf (s, " groups %d", op->group);
    /* the layers that dreams, explain and the novelty read */
    for (int l = 0; l < m->n_stage_layers; l++)
      if (m->graph_stage[l] == (int) i + 1)
        g_string_append_printf (s, "  [stages.%d]", l);
    if (g->features == (int) i + 1)
      g_string_append (s, "  [gap]");
    if (g->logits == (int) i + 1)
      g_string_append (s, "  [fc]");
    g_string_append_c (s, '\n');
  }
  if (g->output != GRAPH_OUT_LOGITS)
    g_string_append_printf (s, "  then %s (recorded; scores are the logits)\n",
        g->output == GRAPH_OUT_SOFTMAX ? "Softmax" : "LogSoftmax");
  return g_string_free (s, FALSE);
}
