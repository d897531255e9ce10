/* Workspaces: the activations of a forward pass and the two backward
 * passes over the compiled op list (model-private.h).
 *
 * The parameter backward (training; any workspace given a gradient
 * array) is the plain one: every gradient buffer is zeroed, then the
 * layers' backward functions, which accumulate, run in reverse order.
 * The input-only backward (dreaming: eval mode, no parameter gradients)
 * needs dL/dx alone and runs often, so it writes gradients instead of
 * accumulating wherever an activation has a single reader (no zeroing, one
 * pass less over memory), folds a batch norm without ReLU into the conv
 * before it, and applies each ReLU mask inside the op it is fused with.
 * Which buffers it writes is fixed by the op list: the plan is made once,
 * in sd_workspace_new. Nothing is allocated after sd_workspace_new.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "model-private.h"
#include "sd-parallel.h"
#include "seqdream/layers.h"

#include <math.h>
#include <string.h>

/* The input-only backward's plan. */
typedef struct
{
  /* The gradient of this activation is written, not accumulated, by its
   * only reader (a conv, a residual join or the GAP), unless a gradient is
   * injected there. */
  gboolean written[MAX_ACTS];
  /* A conv output: its batch norm, its only reader, writes its gradient,
   * or the conv folds that batch norm in and never reads it. */
  gboolean conv_out[MAX_ACTS];
} InputBackwardPlan;

struct _SdWorkspace
{
  SdModel *model;
  SdMode mode;
  int max_B, max_T;
  int B, T; /* of the last forward */
  float *mem;
  float *act[MAX_ACTS];
  float *dact[MAX_ACTS];
  float *col;
  float *wfold;             /* a conv weight with its BN's scale folded in */
  float *bn_mean, *bn_rstd; /* bn_channels_total each */
  float *pooled, *dpooled;  /* (B, feat_channels) */
  float *logits;            /* (B, K) */
  float *dlogits;           /* (B, K): dlogits plus gradients injected at fc */
  InputBackwardPlan plan;
  /* sd_workspace_set_threads: the convolutions of the forward and the
   * parameter backward split the batch over par's threads; thread c > 0
   * has its own columns and conv weight gradient at (c - 1) * col_size
   * and (c - 1) * wgrad_size. */
  SdParallel *par;
  gsize col_size, wgrad_size;
  float *par_col, *par_wgrad;
  SdGraphWs *graph;  /* a graph model's values (graph-run.c) */
  SdEnsembleWs *ens; /* an ensemble's member workspaces (ensemble.c) */
};

static void
plan_input_backward (const SdModel *m, InputBackwardPlan *plan)
{
  int readers[MAX_ACTS] = { 0 };

  memset (plan, 0, sizeof *plan);
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    if (op->type == OP_DENSE)
      continue; /* reads the pooled features, not an activation */
    readers[op->in]++;
    if (op->in2 >= 0)
      readers[op->in2]++;
  }
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    if (op->type == OP_CONV)
      plan->conv_out[op->out] = TRUE;
    if (op->type == OP_CONV || op->type == OP_ADD_RELU || op->type == OP_GAP) {
      plan->written[op->in] = readers[op->in] == 1;
      if (op->in2 >= 0)
        plan->written[op->in2] = readers[op->in2] == 1;
    }
  }
}

/* A workspace without memory yet. */
static SdWorkspace *
workspace_shell (SdModel *m, int max_batch, int max_length, SdMode mode)
{
  SdWorkspace *ws = g_new0 (SdWorkspace, 1);
  ws->model = sd_model_ref (m);
  ws->mode = mode;
  ws->max_B = max_batch;
  ws->max_T = max_length;
  return ws;
}

SdWorkspace *
sd_workspace_new (
    SdModel *m, int max_batch, int max_length, SdMode mode, GError **error)
{
  g_return_val_if_fail (m != NULL, NULL);
  if (max_batch < 1 || max_length < 1 || max_batch > (1 << 20)
      || max_length > (1 << 26)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "workspace size %d x %d is impossible (batch 1..%d, length 1..%d)",
        max_batch, max_length, 1 << 20, 1 << 26);
    return NULL;
  }
  if (m->members != NULL && mode != SD_MODE_EVAL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' is an ensemble of %d: it runs in eval mode only (train its "
        "members)",
        m->display_name, m->n_members);
    return NULL;
  }
  if (m->graph != NULL || m->members != NULL) {
    /* the longest input must fit (the usual case: one length for all) */
    if (!sd_model_check_length (m, max_length, error))
      return NULL;
    SdGraphWs *gw = NULL;
    SdEnsembleWs *ew = NULL;
    if (m->graph != NULL)
      gw = sd_graph_ws_new (m, max_batch, max_length, mode, error);
    else
      ew = sd_ensemble_ws_new (m, max_batch, max_length, error);
    if (gw == NULL && ew == NULL)
      return NULL;
    SdWorkspace *ws = workspace_shell (m, max_batch, max_length, mode);
    ws->graph = gw;
    ws->ens = ew;
    return ws;
  }
  if (max_length < m->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' needs series of at least %d samples (its pooling divides the "
        "length by %d), not %d",
        m->arch.name, m->min_length, m->min_length, max_length);
    return NULL;
  }
  gsize col = 0, wfold = 0;
  gsize total = 0;
  for (int i = 0; i < m->n_ops; i++)
    if (m->ops[i].type == OP_CONV) {
      const Op *op = &m->ops[i];
      col = MAX (col, sd_conv1d_backward_scratch_size (op->C, op->OC, op->K,
                          max_length / m->act_div[op->in]));
      wfold = MAX (wfold, (gsize) op->OC * op->C * op->K);
    }
  for (int i = 0; i < m->n_acts; i++)
    total += 2 * (gsize) max_batch * (max_length / m->act_div[i])
             * m->act_channels[i];
  gsize feat = (gsize) max_batch * m->feat_channels;
  gsize logits = (gsize) max_batch * m->arch.n_classes;
  gsize extra = col + wfold + 2 * m->bn_channels_total + 2 * feat + 2 * logits;
  /* 2^31 floats = 8 GiB: far beyond any sensible window. */
  if (total + extra > ((gsize) 1 << 31)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "workspace for batch %d x length %d of '%s' would need %.1f GiB",
        max_batch, max_length, m->arch.name,
        (double) (total + extra) * 4.0 / (1 << 30));
    return NULL;
  }
  SdWorkspace *ws = workspace_shell (m, max_batch, max_length, mode);
  ws->mem = g_try_new0 (float, total + extra);
  if (ws->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for a workspace of batch %d x length %d (%.1f GiB)",
        max_batch, max_length,
        (double) (total + extra) * sizeof (float) / (1 << 30));
    sd_workspace_free (ws);
    return NULL;
  }
  float *p = ws->mem;
  for (int i = 0; i < m->n_acts; i++) {
    gsize n
        = (gsize) max_batch * (max_length / m->act_div[i]) * m->act_channels[i];
    ws->act[i] = p;
    p += n;
    ws->dact[i] = p;
    p += n;
  }
  ws->col = p;
  p += col;
  ws->wfold = p;
  p += wfold;
  ws->bn_mean = p;
  p += m->bn_channels_total;
  ws->bn_rstd = p;
  p += m->bn_channels_total;
  ws->pooled = p;
  p += feat;
  ws->dpooled = p;
  p += feat;
  ws->logits = p;
  p += logits;
  ws->dlogits = p;
  ws->col_size = col;
  ws->wgrad_size = wfold;
  plan_input_backward (m, &ws->plan);
  return ws;
}

void
sd_workspace_free (SdWorkspace *ws)
{
  if (ws == NULL)
    return;
  sd_model_unref (ws->model);
  sd_parallel_free (ws->par);
  g_free (ws->par_col);
  g_free (ws->par_wgrad);
  sd_graph_ws_free (ws->graph);
  sd_ensemble_ws_free (ws->ens);
  g_free (ws->mem);
  g_free (ws);
}

gboolean
sd_workspace_set_threads (SdWorkspace *ws, int n_threads, GError **error)
{
  g_return_val_if_fail (ws != NULL, FALSE);
  if (ws->ens != NULL)
    return sd_ensemble_ws_set_threads (ws->ens, n_threads, error);
  /* the same count again (the element renegotiating caps of as many
   * channels): keep the running threads and their scratch */
  if (n_threads == sd_parallel_get_n_threads (ws->par))
    return TRUE;
  SdParallel *par = NULL;
  float *col = NULL, *wgrad = NULL;
  if (n_threads != 1) {
    par = sd_parallel_new (n_threads, error);
    if (par == NULL)
      return FALSE;
    if (!sd_parallel_scratch_new (
            n_threads, ws->col_size, ws->wgrad_size, &col, &wgrad, error)) {
      sd_parallel_free (par);
      return FALSE;
    }
  }
  if (ws->graph != NULL && !sd_graph_ws_set_parallel (ws->graph, par, error)) {
    sd_parallel_free (par);
    g_free (col);
    g_free (wgrad);
    return FALSE;
  }
  sd_parallel_free (ws->par);
  g_free (ws->par_col);
  g_free (ws->par_wgrad);
  ws->par = par;
  ws->par_col = col;
  ws->par_wgrad = wgrad;
  return TRUE;
}

/* A convolution over a share of the batch: chunk c of n takes the samples
 * [B c / n, B (c + 1) / n). */
typedef struct
{
  SdWorkspace *ws;
  const Op *op;
  int B, T;
  const float *w;
  const float *in;   /* (B, C, T) */
  float *out;        /* forward: (B, OC, T) */
  const float *dout; /* backward: (B, OC, T) */
  float *din;        /* backward: (B, C, T) or NULL */
  float *dw;         /* backward: (OC, C K) or NULL */
} ConvShare;

static float *
share_col (const ConvShare *j, int c)
{
  return c == 0 ? j->ws->col
                : j->ws->par_col + (gsize) (c - 1) * j->ws->col_size;
}

static void
conv_forward_share (int c, int n, gpointer data)
{
  const ConvShare *j = data;
  const Op *op = j->op;
  const int b0 = j->B * c / n, b1 = j->B * (c + 1) / n;
  if (b1 > b0)
    sd_conv1d_forward (j->out + (gsize) b0 * op->OC * j->T,
        j->in + (gsize) b0 * op->C * j->T, j->w, NULL, b1 - b0, op->C, op->OC,
        j->T, op->K, share_col (j, c));
}

/* Thread 0 accumulates into dw itself, the others into their zeroed
 * copies, which conv_backward adds in thread order. */
static void
conv_backward_share (int c, int n, gpointer data)
{
  const ConvShare *j = data;
  const Op *op = j->op;
  const int b0 = j->B * c / n, b1 = j->B * (c + 1) / n;
  const gsize nw = (gsize) op->OC * op->C * op->K;
  float *dw = j->dw;
  if (dw != NULL && c > 0) {
    dw = j->ws->par_wgrad + (gsize) (c - 1) * j->ws->wgrad_size;
    memset (dw, 0, nw * sizeof (float));
  }
  if (b1 > b0)
    sd_conv1d_backward (j->din ? j->din + (gsize) b0 * op->C * j->T : NULL, dw,
        NULL, j->dout + (gsize) b0 * op->OC * j->T,
        j->in + (gsize) b0 * op->C * j->T, j->w, b1 - b0, op->C, op->OC, j->T,
        op->K, share_col (j, c));
}

static void
conv_forward (SdWorkspace *ws, const Op *op, float *out, const float *in,
    const float *w, int B, int T)
{
  ConvShare j = { ws, op, B, T, w, in, out, NULL, NULL, NULL };
  sd_parallel_run (ws->par, conv_forward_share, &j);
}

static void
conv_backward (SdWorkspace *ws, const Op *op, float *din, float *dw,
    const float *dout, const float *in, const float *w, int B, int T)
{
  ConvShare j = { ws, op, B, T, w, in, NULL, dout, din, dw };
  sd_parallel_run (ws->par, conv_backward_share, &j);
  if (dw != NULL)
    sd_parallel_add_parts (dw, ws->par_wgrad, ws->wgrad_size,
        sd_parallel_get_n_threads (ws->par), (gsize) op->OC * op->C * op->K);
}

int
sd_workspace_get_max_batch (const SdWorkspace *ws)
{
  return ws->max_B;
}

int
sd_workspace_get_max_length (const SdWorkspace *ws)
{
  return ws->max_T;
}

const SdModel *
sd_workspace_peek_model (const SdWorkspace *ws)
{
  return ws->model;
}

SdEnsembleWs *
sd_workspace_peek_ensemble (const SdWorkspace *ws)
{
  return ws->ens;
}

int
sd_workspace_last_batch (const SdWorkspace *ws)
{
  return ws->B;
}

int
sd_workspace_last_length (const SdWorkspace *ws)
{
  return ws->T;
}

const float *
sd_workspace_get_layer_output (
    const SdWorkspace *ws, int layer, int *channels, int *length)
{
  const SdModel *m = ws->model;
  int n_stages = m->n_stage_layers;
  g_return_val_if_fail (layer >= 0 && layer < n_stages + 2, NULL);
  if (m->graph != NULL)
    return sd_graph_layer_output (m, ws->graph, layer, channels, length);
  if (m->members != NULL)
    return sd_ensemble_layer_output (m, ws->ens, layer, channels, length);
  if (layer < n_stages) {
    *channels = m->act_channels[m->stage_out[layer]];
    *length = ws->T / m->act_div[m->stage_out[layer]];
    return ws->act[m->stage_out[layer]];
  }
  *length = 1;
  if (layer == n_stages) {
    *channels = m->feat_channels;
    return ws->pooled;
  }
  *channels = m->arch.n_classes;
  return ws->logits;
}

/* ---- fused layers ---- */

/* The per-channel scale gamma / sqrt (running_var + eps) of an eval-mode
 * batch norm. */
static inline float
bn_eval_scale (float gamma, float running_var, float eps)
{
  return (float) (gamma / sqrt ((double) running_var + (double) eps));
}

/* Batch norm with running statistics followed by ReLU, fused:
 * inp (B,C,T) -> out (B,C,T) = max ((x - mean) * scale + beta, 0). */
static void
bn_relu_forward_eval (float *out, const float *inp, const float *gamma,
    const float *beta, const float *running_mean, const float *running_var,
    float eps, int B, int C, int T)
{
  for (int c = 0; c < C; c++) {
    const float scale = bn_eval_scale (gamma[c], running_var[c], eps);
    const float mu = running_mean[c], shift = beta[c];
    for (int b = 0; b < B; b++) {
      const float *x = inp + ((gsize) b * C + c) * T;
      float *o = out + ((gsize) b * C + c) * T;
      for (int t = 0; t < T; t++) {
        /* a select, not fmaxf: fmaxf's NaN rules make it a libm call */
        const float v = (x[t] - mu) * scale + shift;
        o[t] = v > 0.0f ? v : 0.0f;
      }
    }
  }
}

/* out = max (a + b, 0), N elements. */
static void
add_relu_forward (float *out, const float *a, const float *b, gsize N)
{
  for (gsize k = 0; k < N; k++) {
    const float v = a[k] + b[k];
    out[k] = v > 0.0f ? v : 0.0f;
  }
}

/* The ReLU's backward in place: dout (N) is zeroed where the ReLU's output
 * y (N) is not positive. */
static void
relu_mask_backward (float *dout, const float *y, gsize N)
{
  for (gsize k = 0; k < N; k++)
    dout[k] = y[k] > 0.0f ? dout[k] : 0.0f;
}

/* Eval-mode batch norm backward for the input only, through the ReLU on
 * its output y: dinp = gamma * rstd * (y > 0 ? dout : 0). dinp is
 * OVERWRITTEN (it is a conv output's gradient, read by nothing else). */
static void
bn_relu_backward_eval_input (float *dinp, const float *dout, const float *y,
    const float *gamma, const float *running_var, float eps, int B, int C,
    int T)
{
  for (int c = 0; c < C; c++) {
    const float a = bn_eval_scale (gamma[c], running_var[c], eps);
    for (int b = 0; b < B; b++) {
      const gsize o = ((gsize) b * C + c) * T;
      const float *dy = dout + o, *yy = y + o;
      float *dx = dinp + o;
      /* branch-free, so it vectorises: the signs are random */
      for (int t = 0; t < T; t++)
        dx[t] = (float) (yy[t] > 0.0f) * (a * dy[t]);
    }
  }
}

/* Input-gradient backward of a residual join through the ReLU on its
 * output y: g = (y > 0 ? dout : 0), then da and db (either may be NULL)
 * get g, OVERWRITTEN where set_a / set_b (the join is the only writer of
 * that gradient) and accumulated otherwise. */
static void
add_relu_backward_input (float *da, gboolean set_a, float *db, gboolean set_b,
    const float *dout, const float *y, gsize N)
{
  float *dst[2] = { da, db };
  const gboolean set[2] = { set_a, set_b };
  if (da != NULL && db != NULL && set_a && set_b) {
    /* the usual case (a join of two branches): one pass writes both */
    for (gsize k = 0; k < N; k++) {
      const float g = dout[k];
      const float v = y[k] > 0.0f ? g : 0.0f;
      da[k] = v;
      db[k] = v;
    }
    return;
  }
  /* one simple loop per target, so each vectorises (the loads are
   * unconditional, the mask a select) */
  for (int j = 0; j < 2; j++) {
    float *d = dst[j];
    if (d == NULL)
      continue;
    if (set[j]) {
      for (gsize k = 0; k < N; k++) {
        const float g = dout[k];
        d[k] = y[k] > 0.0f ? g : 0.0f;
      }
    } else {
      for (gsize k = 0; k < N; k++) {
        const float g = dout[k];
        d[k] += y[k] > 0.0f ? g : 0.0f;
      }
    }
  }
}

/* ---- forward ---- */

const float *
sd_model_forward (
    SdModel *m, SdWorkspace *ws, const float *x, int B, int length)
{
  g_return_val_if_fail (ws->model == m, NULL);
  g_return_val_if_fail (B >= 1 && B <= ws->max_B, NULL);
  g_return_val_if_fail (length >= m->min_length && length <= ws->max_T, NULL);
  if (m->graph != NULL || m->members != NULL) {
    const float *logits = m->graph != NULL
                              ? sd_graph_forward (m, ws->graph, x, B, length)
                              : sd_ensemble_forward (m, ws->ens, x, B, length);
    if (logits != NULL) {
      ws->B = B;
      ws->T = length;
    }
    return logits;
  }
  float *P = m->params;
  const float eps = m->arch.bn_eps, momentum = m->arch.bn_momentum;
  const gboolean train = ws->mode == SD_MODE_TRAIN;

  ws->B = B;
  ws->T = length;
  memcpy (ws->act[0], x, (gsize) B * length * sizeof (float));
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    /* every op but pooling keeps the length of its input */
    const int T = length / m->act_div[op->in];
    float *out = ws->act[op->out];
    const float *in = ws->act[op->in];
    const gsize n = (gsize) B * op->C * T;
    switch (op->type) {
      case OP_POOL:
        sd_avgpool_forward (out, in, B, op->C, T, op->K);
        break;
      case OP_CONV:
        conv_forward (ws, op, out, in, P + op->w, B, T);
        break;
      case OP_BN:
      case OP_BN_RELU:
        if (train) {
          sd_batchnorm_forward_train (out, ws->bn_mean + op->bn_slot,
              ws->bn_rstd + op->bn_slot, in, P + op->w, P + op->b, P + op->rm,
              P + op->rv, momentum, eps, B, op->C, T);
          if (op->type == OP_BN_RELU)
            sd_relu_forward (out, out, n);
        } else if (op->type == OP_BN_RELU) {
          /* BN is a per-channel affine map: it and the ReLU in one pass */
          bn_relu_forward_eval (out, in, P + op->w, P + op->b, P + op->rm,
              P + op->rv, eps, B, op->C, T);
        } else {
          sd_batchnorm_forward_eval (out, in, P + op->w, P + op->b, P + op->rm,
              P + op->rv, eps, B, op->C, T);
        }
        break;
      case OP_ADD_RELU:
        add_relu_forward (out, in, ws->act[op->in2], n);
        break;
      case OP_GAP:
        sd_gap_forward (ws->pooled, in, B, op->C, T);
        break;
      case OP_DENSE:
        sd_dense_forward (
            ws->logits, ws->pooled, P + op->w, P + op->b, B, op->C, op->OC);
        break;
    }
  }
  return ws->logits;
}

/* ---- backward ---- */

/* Adds the injected gradients to the (zeroed or written-later) gradients
 * of the layer outputs. They go in before the reverse walk: every consumer
 * of an activation accumulates into its gradient before its producer reads
 * it, so the order of the additions does not matter. Returns the gradient
 * at the logits to use: dlogits, or ws->dlogits when some are injected
 * there. */
static const float *
inject_layer_grads (const SdModel *m, SdWorkspace *ws, const float *dlogits,
    const SdLayerGrad *extra, int n_extra)
{
  const int B = ws->B, K = m->arch.n_classes;
  gboolean at_logits = FALSE;

  for (int e = 0; e < n_extra; e++) {
    const int layer = extra[e].layer;
    float *dst;
    gsize n;
    if (layer < m->arch.n_stages) {
      const int a = m->stage_out[layer];
      dst = ws->dact[a];
      n = (gsize) B * m->act_channels[a] * (ws->T / m->act_div[a]);
    } else if (layer == m->arch.n_stages) {
      dst = ws->dpooled;
      n = (gsize) B * m->feat_channels;
    } else {
      if (!at_logits) {
        if (dlogits)
          memcpy (ws->dlogits, dlogits, (gsize) B * K * sizeof (float));
        else
          memset (ws->dlogits, 0, (gsize) B * K * sizeof (float));
        at_logits = TRUE;
      }
      dst = ws->dlogits;
      n = (gsize) B * K;
    }
    for (gsize k = 0; k < n; k++)
      dst[k] += extra[e].grad[k];
  }
  return at_logits ? ws->dlogits : dlogits;
}

/* The plain backward: zero every gradient, then every layer's backward in
 * reverse order. Parameter gradients are accumulated into grads (may be
 * NULL); the input gradient into ws->dact[0] when need_dx. */
static void
backward_params (SdModel *m, SdWorkspace *ws, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, float *grads, gboolean need_dx)
{
  const int B = ws->B, T0 = ws->T;
  const float *P = m->params;
  const float eps = m->arch.bn_eps;
  const gboolean train = ws->mode == SD_MODE_TRAIN;
#define G(off) (grads ? grads + (off) : NULL)

  for (int i = 0; i < m->n_acts; i++)
    memset (ws->dact[i], 0,
        (gsize) B * (T0 / m->act_div[i]) * m->act_channels[i] * sizeof (float));
  memset (ws->dpooled, 0, (gsize) B * m->feat_channels * sizeof (float));
  dlogits = inject_layer_grads (m, ws, dlogits, extra, n_extra);

  for (int i = m->n_ops - 1; i >= 0; i--) {
    const Op *op = &m->ops[i];
    const int T = T0 / m->act_div[op->in];
    const gsize n = (gsize) B * op->C * T;
    /* The input gradient of the first layer is only needed for dx. */
    float *din = (op->in == 0 && !need_dx) ? NULL : ws->dact[op->in];
    float *dout = ws->dact[op->out];
    switch (op->type) {
      case OP_POOL:
        sd_avgpool_backward (din, dout, B, op->C, T, op->K);
        break;
      case OP_DENSE:
        if (dlogits != NULL)
          sd_dense_backward (ws->dpooled, G (op->w), G (op->b), dlogits,
              ws->pooled, P + op->w, B, op->C, op->OC);
        break;
      case OP_GAP:
        sd_gap_backward (ws->dact[op->in], ws->dpooled, B, op->C, T);
        break;
      case OP_ADD_RELU:
        relu_mask_backward (dout, ws->act[op->out], n);
        sd_add_backward (ws->dact[op->in],
            (op->in2 == 0 && !need_dx) ? NULL : ws->dact[op->in2], dout, n);
        break;
      case OP_BN_RELU:
      case OP_BN:
        if (op->type == OP_BN_RELU)
          relu_mask_backward (dout, ws->act[op->out], n);
        if (train)
          sd_batchnorm_backward_train (din, G (op->w), G (op->b), dout,
              ws->act[op->in], ws->bn_mean + op->bn_slot,
              ws->bn_rstd + op->bn_slot, P + op->w, B, op->C, T);
        else
          sd_batchnorm_backward_eval (din, G (op->w), G (op->b), dout,
              ws->act[op->in], P + op->w, P + op->rm, P + op->rv, eps, B, op->C,
              T);
        break;
      case OP_CONV:
        conv_backward (
            ws, op, din, G (op->w), dout, ws->act[op->in], P + op->w, B, T);
        break;
    }
  }
#undef G
}

/* The conv op i's weight with the scale of the batch norm after it (op
 * i + 1) folded in, in ws->wfold. */
static const float *
fold_bn_weight (const SdModel *m, SdWorkspace *ws, int i)
{
  const Op *conv = &m->ops[i], *bn = &m->ops[i + 1];
  const float *P = m->params;
  const gsize CK = (gsize) conv->C * conv->K;

  for (int o = 0; o < conv->OC; o++) {
    const float a = bn_eval_scale (P[bn->w + o], P[bn->rv + o], m->arch.bn_eps);
    for (gsize j = 0; j < CK; j++)
      ws->wfold[o * CK + j] = P[conv->w + o * CK + j] * a;
  }
  return ws->wfold;
}

/* The input-only backward of an eval workspace (the plan's header). The
 * input gradient goes to ws->dact[0] when need_dx. */
static void
backward_input (SdModel *m, SdWorkspace *ws, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, gboolean need_dx)
{
  const int B = ws->B, T0 = ws->T;
  const float *P = m->params;
  const float eps = m->arch.bn_eps;
  gboolean written[MAX_ACTS];

  /* An injected gradient is accumulated onto by the activation's reader. */
  memcpy (written, ws->plan.written, sizeof written);
  for (int e = 0; e < n_extra; e++)
    if (extra[e].layer < m->arch.n_stages)
      written[m->stage_out[extra[e].layer]] = FALSE;
  for (int i = 0; i < m->n_acts; i++)
    if (!ws->plan.conv_out[i] && !written[i])
      memset (ws->dact[i], 0,
          (gsize) B * (T0 / m->act_div[i]) * m->act_channels[i]
              * sizeof (float));
  memset (ws->dpooled, 0, (gsize) B * m->feat_channels * sizeof (float));
  dlogits = inject_layer_grads (m, ws, dlogits, extra, n_extra);

  for (int i = m->n_ops - 1; i >= 0; i--) {
    const Op *op = &m->ops[i];
    const int T = T0 / m->act_div[op->in];
    float *din = (op->in == 0 && !need_dx) ? NULL : ws->dact[op->in];
    switch (op->type) {
      case OP_POOL:
        sd_avgpool_backward (din, ws->dact[op->out], B, op->C, T, op->K);
        break;
      case OP_DENSE:
        if (dlogits != NULL)
          sd_dense_backward (ws->dpooled, NULL, NULL, dlogits, ws->pooled,
              P + op->w, B, op->C, op->OC);
        break;
      case OP_GAP:
        if (written[op->in]) {
          /* sd_gap_backward onto zeros, written directly */
          for (gsize r = 0; r < (gsize) B * op->C; r++) {
            const float g = ws->dpooled[r] / (float) T;
            float *d = ws->dact[op->in] + r * T;
            for (int t = 0; t < T; t++)
              d[t] = g;
          }
        } else
          sd_gap_backward (ws->dact[op->in], ws->dpooled, B, op->C, T);
        break;
      case OP_ADD_RELU:
        add_relu_backward_input (din, written[op->in],
            (op->in2 == 0 && !need_dx) ? NULL : ws->dact[op->in2],
            written[op->in2], ws->dact[op->out], ws->act[op->out],
            (gsize) B * op->C * T);
        break;
      case OP_BN_RELU:
        bn_relu_backward_eval_input (ws->dact[op->in], ws->dact[op->out],
            ws->act[op->out], P + op->w, P + op->rv, eps, B, op->C, T);
        break;
      case OP_BN:
        break; /* folded into the conv before it */
      case OP_CONV: {
        if (din == NULL)
          break;
        const float *w = P + op->w, *dout = ws->dact[op->out];
        if (op->fold_bn) {
          w = fold_bn_weight (m, ws, i);
          dout = ws->dact[m->ops[i + 1].out];
        }
        sd_conv1d_backward_input (din, !written[op->in], dout, w, B, op->C,
            op->OC, T, op->K, ws->col);
        break;
      }
    }
  }
}

void
sd_model_backward (
    SdModel *m, SdWorkspace *ws, const float *dlogits, float *grads, float *dx)
{
  sd_model_backward_full (m, ws, dlogits, NULL, 0, grads, dx);
}

void
sd_model_backward_full (SdModel *m, SdWorkspace *ws, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, float *grads, float *dx)
{
  g_return_if_fail (ws->model == m && ws->B > 0);
  for (int e = 0; e < n_extra; e++)
    g_return_if_fail (
        extra[e].layer >= 0 && extra[e].layer < m->n_stage_layers + 2);

  if (m->graph != NULL) {
    sd_graph_backward (m, ws->graph, dlogits, extra, n_extra, grads, dx);
    return;
  }
  if (m->members != NULL) {
    /* an ensemble has no parameters of its own */
    g_return_if_fail (grads == NULL);
    sd_ensemble_backward (m, ws->ens, dlogits, extra, n_extra, dx);
    return;
  }
  if (ws->mode == SD_MODE_EVAL && grads == NULL)
    backward_input (m, ws, dlogits, extra, n_extra, dx != NULL);
  else
    backward_params (m, ws, dlogits, extra, n_extra, grads, dx != NULL);
  if (dx != NULL)
    memcpy (dx, ws->dact[0], (gsize) ws->B * ws->T * sizeof (float));
}
