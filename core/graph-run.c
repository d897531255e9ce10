/* Workspaces of graph models (graph-private.h): every value and its
 * gradient, sized for the longest input; the forward pass walks the ops,
 * the backward pass walks them in reverse, every op accumulating into the
 * gradients of its inputs (the layers' convention), so that a value read
 * by several ops (a residual, a concat) gets the sum.
 *
 * Batch norm runs in its inference form, except in a training workspace
 * of a graph with train_bn (a preset trained from scratch): an imported
 * model keeps its statistics, and fine-tuning one trains the other
 * parameters with them fixed.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "seqdream/layers.h"

#include <string.h>

struct _SdGraphWs
{
  int max_B, max_T;
  int B, T;
  int n_values;
  int *len;   /* of each value in the last forward */
  gsize *cap; /* floats of each value buffer */
  float **act, **dact;
  /* batch statistics: mean and 1/std of every batch norm op's channels
   * in the last forward (train_bn in SD_MODE_TRAIN; else NULL) */
  float **bn_mean, **bn_rstd;
  float *col;
  float *mem;
  /* threads (sd_graph_ws_set_parallel): chunk c > 0 of a convolution has
   * its own columns and weight gradient at (c - 1) * col_size and
   * (c - 1) * wgrad_size */
  SdParallel *par;
  gsize col_size, wgrad_size;
  float *par_col, *par_wgrad;
};

#define OP(g, i) (&g_array_index ((g)->ops, GraphOp, (i)))
#define VAL(g, i) (&g_array_index ((g)->values, GraphValue, (i)))

SdGraphWs *
sd_graph_ws_new (
    const SdModel *m, int max_B, int max_T, SdMode mode, GError **error)
{
  const SdGraph *g = m->graph;
  const int nv = (int) g->values->len;
  g_autofree int *len = g_new (int, nv);
  gsize total = 0, col = 0, wgrad = 0;

  sd_graph_lengths (g, max_T, FALSE, len, NULL);
  for (int v = 0; v < nv; v++)
    total += 2 * (gsize) max_B * VAL (g, v)->C * MAX (len[v], 1);
  for (guint i = 0; i < g->ops->len; i++) {
    const GraphOp *op = OP (g, i);
    const int C = VAL (g, op->in[0])->C;
    if (op->type != GOP_CONV)
      continue;
    col = MAX (col, sd_conv1d_ex_scratch_size (
                        C, op->group, op->win.K, MAX (len[i + 1], 1)));
    wgrad = MAX (wgrad, (gsize) op->OC * (C / op->group) * op->win.K + op->OC);
  }
  if (total + col > ((gsize) 1 << 31)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "workspace for batch %d x length %d of '%s' would need %.1f GiB", max_B,
        max_T, m->arch.name, (double) (total + col) * 4.0 / (1 << 30));
    return NULL;
  }
  SdGraphWs *w = g_new0 (SdGraphWs, 1);
  w->mem = g_try_new0 (float, total + col);
  if (w->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for a workspace of batch %d x length %d (%.1f GiB)",
        max_B, max_T, (double) (total + col) * 4.0 / (1 << 30));
    g_free (w);
    return NULL;
  }
  w->max_B = max_B;
  w->max_T = max_T;
  w->n_values = nv;
  w->len = g_new0 (int, nv);
  w->cap = g_new0 (gsize, nv);
  w->act = g_new0 (float *, nv);
  w->dact = g_new0 (float *, nv);
  float *p = w->mem;
  for (int v = 0; v < nv; v++) {
    w->cap[v] = (gsize) max_B * VAL (g, v)->C * MAX (len[v], 1);
    w->act[v] = p;
    p += w->cap[v];
    w->dact[v] = p;
    p += w->cap[v];
  }
  w->col = p;
  w->col_size = col;
  w->wgrad_size = wgrad;
  if (g->train_bn && mode == SD_MODE_TRAIN) {
    w->bn_mean = g_new0 (float *, g->ops->len);
    w->bn_rstd = g_new0 (float *, g->ops->len);
    for (guint i = 0; i < g->ops->len; i++)
      if (OP (g, i)->type == GOP_BN) {
        const int C = VAL (g, OP (g, i)->in[0])->C;
        w->bn_mean[i] = g_new0 (float, C);
        w->bn_rstd[i] = g_new0 (float, C);
      }
  }
  return w;
}

void
sd_graph_ws_free (SdGraphWs *w)
{
  if (w == NULL)
    return;
  for (int i = 0; w->bn_mean != NULL && i < w->n_values - 1; i++) {
    g_free (w->bn_mean[i]);
    g_free (w->bn_rstd[i]);
  }
  g_free (w->bn_mean);
  g_free (w->bn_rstd);
  g_free (w->par_col);
  g_free (w->par_wgrad);
  g_free (w->mem);
  g_free (w->len);
  g_free (w->cap);
  g_free (w->act);
  g_free (w->dact);
  g_free (w);
}

static gsize
value_size (const SdGraph *g, const SdGraphWs *w, int v)
{
  return (gsize) w->B * VAL (g, v)->C * w->len[v];
}

gboolean
sd_graph_ws_set_parallel (SdGraphWs *w, SdParallel *par, GError **error)
{
  const int n = sd_parallel_get_n_threads (par);
  float *col = NULL, *wgrad = NULL;
  if (n > 1
      && !sd_parallel_scratch_new (
          n, w->col_size, w->wgrad_size, &col, &wgrad, error))
    return FALSE;
  g_free (w->par_col);
  g_free (w->par_wgrad);
  w->par = n > 1 ? par : NULL;
  w->par_col = col;
  w->par_wgrad = wgrad;
  return TRUE;
}

/* A convolution over a share of the batch: chunk c of n takes the samples
 * [B c / n, B (c + 1) / n), with its own columns. */
typedef struct
{
  SdGraphWs *w;
  const GraphOp *op;
  int B, C, T, To;
  const float *weight, *bias, *in;
  float *out;           /* forward */
  const float *dout;    /* backward */
  float *din, *dw, *db; /* backward; each may be NULL */
} ConvShare;

static float *
share_col (const ConvShare *j, int c)
{
  return c == 0 ? j->w->col : j->w->par_col + (gsize) (c - 1) * j->w->col_size;
}

static void
conv_forward_share (int c, int n, gpointer data)
{
  const ConvShare *j = data;
  const GraphOp *op = j->op;
  const int b0 = j->B * c / n, b1 = j->B * (c + 1) / n;
  if (b1 > b0)
    sd_conv1d_ex_forward (j->out + (gsize) b0 * op->OC * j->To,
        j->in + (gsize) b0 * j->C * j->T, j->weight, j->bias, b1 - b0, j->C,
        op->OC, op->group, j->T, &op->win, share_col (j, c));
}

/* Chunk 0 accumulates into dw and db themselves, the others into their
 * zeroed copies, which conv_backward adds in chunk order: the sums are the
 * same for a thread count, run after run. */
static void
conv_backward_share (int c, int n, gpointer data)
{
  const ConvShare *j = data;
  const GraphOp *op = j->op;
  const int b0 = j->B * c / n, b1 = j->B * (c + 1) / n;
  const gsize nw = (gsize) op->OC * (j->C / op->group) * op->win.K;
  float *dw = j->dw, *db = j->db;
  if (c > 0 && (dw != NULL || db != NULL)) {
    float *part = j->w->par_wgrad + (gsize) (c - 1) * j->w->wgrad_size;
    memset (part, 0, (nw + op->OC) * sizeof (float));
    dw = dw ? part : NULL;
    db = db ? part + nw : NULL;
  }
  if (b1 > b0)
    sd_conv1d_ex_backward (j->din ? j->din + (gsize) b0 * j->C * j->T : NULL,
        dw, db, j->dout + (gsize) b0 * op->OC * j->To,
        j->in + (gsize) b0 * j->C * j->T, j->weight, b1 - b0, j->C, op->OC,
        op->group, j->T, &op->win, share_col (j, c));
}

static void
conv_backward (ConvShare *j)
{
  sd_parallel_run (j->w->par, conv_backward_share, j);
  const int n = sd_parallel_get_n_threads (j->w->par);
  const GraphOp *op = j->op;
  const gsize nw = (gsize) op->OC * (j->C / op->group) * op->win.K;
  if (j->dw != NULL)
    sd_parallel_add_parts (j->dw, j->w->par_wgrad, j->w->wgrad_size, n, nw);
  if (j->db != NULL)
    sd_parallel_add_parts (
        j->db, j->w->par_wgrad + nw, j->w->wgrad_size, n, op->OC);
}

/* An elementwise activation or a max pooling over a share of the values
 * (activation) or of the batch (pooling): each output element is computed
 * by one chunk alone, so the split gives the bits of one thread. */
typedef struct
{
  const GraphOp *op;
  gboolean backward;
  int B, C, T, To;
  gsize n;                /* activation: elements */
  const float *in, *dout; /* dout: backward */
  float *out;             /* forward: out; backward: din */
} ElemShare;

static void
elem_share (int c, int nc, gpointer data)
{
  const ElemShare *j = data;
  const GraphOp *op = j->op;
  if (op->type == GOP_ACT) {
    const gsize a = j->n * c / nc, b = j->n * (c + 1) / nc;
    if (b <= a)
      return;
    if (j->backward)
      sd_activation_backward (
          op->act, op->alpha, j->out + a, j->dout + a, j->in + a, b - a);
    else
      sd_activation_forward (op->act, op->alpha, j->out + a, j->in + a, b - a);
    return;
  }
  const int b0 = j->B * c / nc, b1 = j->B * (c + 1) / nc;
  const gsize xi = (gsize) b0 * j->C * j->T, xo = (gsize) b0 * j->C * j->To;
  if (b1 <= b0)
    return;
  if (j->backward)
    sd_maxpool_backward (
        j->out + xi, j->dout + xo, j->in + xi, b1 - b0, j->C, j->T, &op->win);
  else
    sd_maxpool_forward (j->out + xo, j->in + xi, b1 - b0, j->C, j->T, &op->win);
}

static void
elem_run (SdGraphWs *w, const GraphOp *op, gboolean backward, int B, int C,
    int T, int To, gsize n, const float *in, const float *dout, float *out)
{
  ElemShare j = { op, backward, B, C, T, To, n, in, dout, out };
  sd_parallel_run (w->par, elem_share, &j);
}

static void
op_forward (const SdModel *m, SdGraphWs *w, int i)
{
  const SdGraph *g = m->graph;
  const GraphOp *op = OP (g, i);
  const float *P = m->params;
  const int B = w->B, a = op->in[0], C = VAL (g, a)->C, T = w->len[a];
  const float *in = w->act[a];
  float *out = w->act[i + 1];
  const gsize n = value_size (g, w, a);
#define T_(s) (op->tensor[s] ? P + op->off[s] : NULL)

  switch (op->type) {
    case GOP_CONV: {
      ConvShare j = { w, op, B, C, T, w->len[i + 1], T_ (0), T_ (1), in, out };
      sd_parallel_run (w->par, conv_forward_share, &j);
      break;
    }
    case GOP_BN:
      if (w->bn_mean != NULL) /* the model is being trained: not const */
        sd_batchnorm_forward_train (out, w->bn_mean[i], w->bn_rstd[i], in,
            T_ (0), T_ (1), (float *) T_ (2), (float *) T_ (3),
            m->arch.bn_momentum, op->eps, B, C, T);
      else
        sd_batchnorm_forward_eval (
            out, in, T_ (0), T_ (1), T_ (2), T_ (3), op->eps, B, C, T);
      break;
    case GOP_ACT:
      elem_run (w, op, FALSE, B, C, T, T, n, in, NULL, out);
      break;
    case GOP_ADD:
      sd_add_forward (out, in, w->act[op->in[1]], n);
      break;
    case GOP_MUL:
      sd_mul_forward (out, in, w->act[op->in[1]], n);
      break;
    case GOP_AFFINE:
      sd_channel_affine_forward (out, in, T_ (0), T_ (1), B, C, T);
      break;
    case GOP_CONCAT: {
      const float *inps[GRAPH_MAX_IN];
      int Cs[GRAPH_MAX_IN];
      for (int j = 0; j < op->n_in; j++) {
        inps[j] = w->act[op->in[j]];
        Cs[j] = VAL (g, op->in[j])->C;
      }
      sd_concat_forward (out, inps, Cs, op->n_in, B, T);
      break;
    }
    case GOP_MAXPOOL:
      elem_run (w, op, FALSE, B, C, T, w->len[i + 1], 0, in, NULL, out);
      break;
    case GOP_AVGPOOL:
      sd_avgpool_ex_forward (out, in, B, C, T, &op->win, op->count_pad);
      break;
    case GOP_GAP:
      sd_gap_forward (out, in, B, C, T);
      break;
    case GOP_GMP:
      sd_gmp_forward (out, in, B, C, T);
      break;
    case GOP_GEMM:
      sd_dense_forward (out, in, T_ (0), T_ (1), B, op->IN, op->OC);
      break;
    case GOP_PAD:
      sd_pad_forward (out, in, B, C, T, op->win.pad_l, op->win.pad_r);
      break;
    case GOP_FLATTEN: /* (B,C,T) is (B,C*T) */
      memcpy (out, in, n * sizeof (float));
      break;
    default:
      g_assert_not_reached ();
  }
#undef T_
}

const float *
sd_graph_forward (const SdModel *m, SdGraphWs *w, const float *x, int B, int T)
{
  const SdGraph *g = m->graph;
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (
      B >= 1 && B <= w->max_B && T >= 1 && T <= w->max_T, NULL);
  if (!sd_graph_lengths (g, T, TRUE, w->len, &error)) {
    g_critical ("%s: %s", m->arch.name, error->message);
    return NULL;
  }
  w->B = B;
  w->T = T;
  memcpy (w->act[0], x, (gsize) B * T * sizeof (float));
  for (guint i = 0; i < g->ops->len; i++)
    op_forward (m, w, (int) i);
  return w->act[g->logits];
}

static void
op_backward (const SdModel *m, SdGraphWs *w, int i, float *grads)
{
  const SdGraph *g = m->graph;
  const GraphOp *op = OP (g, i);
  const float *P = m->params;
  const int B = w->B, a = op->in[0], C = VAL (g, a)->C, T = w->len[a];
  const float *in = w->act[a], *dout = w->dact[i + 1];
  float *din = w->dact[a];
  const gsize n = value_size (g, w, a);
#define T_(s) (op->tensor[s] ? P + op->off[s] : NULL)
#define G_(s) (op->tensor[s] && grads ? grads + op->off[s] : NULL)

  switch (op->type) {
    case GOP_CONV: {
      ConvShare j = { w, op, B, C, T, w->len[i + 1], T_ (0), NULL, in, NULL,
        dout, din, G_ (0), G_ (1) };
      conv_backward (&j);
      break;
    }
    case GOP_BN:
      if (w->bn_mean != NULL)
        sd_batchnorm_backward_train (din, G_ (0), G_ (1), dout, in,
            w->bn_mean[i], w->bn_rstd[i], T_ (0), B, C, T);
      else
        sd_batchnorm_backward_eval (din, G_ (0), G_ (1), dout, in, T_ (0),
            T_ (2), T_ (3), op->eps, B, C, T);
      break;
    case GOP_ACT:
      elem_run (w, op, TRUE, B, C, T, T, n, in, dout, din);
      break;
    case GOP_ADD:
      sd_add_backward (din, w->dact[op->in[1]], dout, n);
      break;
    case GOP_MUL:
      sd_mul_backward (din, w->dact[op->in[1]], dout, in, w->act[op->in[1]], n);
      break;
    case GOP_AFFINE:
      sd_channel_affine_backward (
          din, G_ (0), G_ (1), dout, in, T_ (0), B, C, T);
      break;
    case GOP_CONCAT: {
      float *dinps[GRAPH_MAX_IN];
      int Cs[GRAPH_MAX_IN];
      for (int j = 0; j < op->n_in; j++) {
        dinps[j] = w->dact[op->in[j]];
        Cs[j] = VAL (g, op->in[j])->C;
      }
      sd_concat_backward (dinps, dout, Cs, op->n_in, B, T);
      break;
    }
    case GOP_MAXPOOL:
      elem_run (w, op, TRUE, B, C, T, w->len[i + 1], 0, in, dout, din);
      break;
    case GOP_AVGPOOL:
      sd_avgpool_ex_backward (din, dout, B, C, T, &op->win, op->count_pad);
      break;
    case GOP_GAP:
      sd_gap_backward (din, dout, B, C, T);
      break;
    case GOP_GMP:
      sd_gmp_backward (din, dout, in, B, C, T);
      break;
    case GOP_GEMM:
      sd_dense_backward (
          din, G_ (0), G_ (1), dout, in, T_ (0), B, op->IN, op->OC);
      break;
    case GOP_PAD:
      sd_pad_backward (din, dout, B, C, T, op->win.pad_l, op->win.pad_r);
      break;
    case GOP_FLATTEN:
      sd_add_backward (din, NULL, dout, n);
      break;
    default:
      g_assert_not_reached ();
  }
#undef T_
#undef G_
}

/* The value of layer (stages.0.., gap, fc: model.c's indices). */
static int
layer_value (const SdModel *m, int layer)
{
  const SdGraph *g = m->graph;
  if (layer < m->n_stage_layers)
    return m->graph_stage[layer];
  return layer == m->n_stage_layers ? g->features : g->logits;
}

void
sd_graph_backward (const SdModel *m, SdGraphWs *w, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, float *grads, float *dx)
{
  const SdGraph *g = m->graph;

  for (int v = 0; v < w->n_values; v++)
    memset (w->dact[v], 0, value_size (g, w, v) * sizeof (float));
  if (dlogits != NULL)
    memcpy (w->dact[g->logits], dlogits,
        value_size (g, w, g->logits) * sizeof (float));
  for (int e = 0; e < n_extra; e++) {
    const int v = layer_value (m, extra[e].layer);
    float *d = w->dact[v];
    for (gsize k = 0; k < value_size (g, w, v); k++)
      d[k] += extra[e].grad[k];
  }
  for (int i = (int) g->ops->len - 1; i >= 0; i--)
    op_backward (m, w, i, grads);
  if (dx != NULL)
    memcpy (dx, w->dact[0], (gsize) w->B * w->T * sizeof (float));
}

const float *
sd_graph_layer_output (
    const SdModel *m, const SdGraphWs *w, int layer, int *channels, int *length)
{
  const SdGraph *g = m->graph;
  const int v = layer_value (m, layer);
  *channels = VAL (g, v)->C;
  *length = VAL (g, v)->unit ? 1 : w->len[v];
  return w->act[v];
}
