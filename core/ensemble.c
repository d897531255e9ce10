/* Ensembles (seqdream/model.h): M member models whose output is the log
 * of their mean probability,
 *
 *   l_m = logits of member m (B,K),  lp_m = log_softmax (l_m),
 *   z_k = log (1/M sum_m exp (lp_m,k)) = logsumexp_m (lp_m,k) - log M,
 *
 * so softmax (z) = z's exp = the mean of the members' probabilities
 * (z is already normalised: sum_k exp (z_k) = 1). The backward of an
 * upstream gradient g = dL/dz: with q_k = exp (z_k) and p_m = softmax
 * (l_m),
 *
 *   dz_k / dl_m,j = (1/M) p_m,k (delta_kj - p_m,j) / q_k,
 *   dL/dl_m,j = r_m,j - p_m,j sum_k r_m,k,  r_m,k = g_k p_m,k / (M q_k),
 *
 * and dL/dx = sum_m dL/dl_m . dl_m/dx. For a dream of class c (g = e_c)
 * this is sum_m w_m d log p_m,c / dx with w_m = p_m,c / sum_m' p_m',c:
 * the members that already believe in c steer the dream most.
 * p_m,k / (M q_k) = exp (lp_m,k - log M - z_k), computed in double.
 *
 * That weight is also why this output is a poor objective for a dream:
 * a member that gives class c almost no probability gets almost no
 * gradient, so a dream that convinced one member stops at z_c = log 1/M
 * (FordA, docs/results.md). The geometric rule (SD_ENSEMBLE_GEOMETRIC)
 * instead outputs z_k = (1/M) sum_m lp_m,k, the log of the members'
 * geometric mean probability up to a constant over k (softmax (z) is that
 * mean, normalised); its backward is dL/dl_m,j = (1/M) (g_j - p_m,j
 * sum_k g_k): every member keeps its own log-softmax gradient, and z_c
 * is only high when every member gives c a high probability.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-private.h"

#include <math.h>
#include <string.h>

struct _SdEnsembleWs
{
  SdEnsembleRule rule; /* the model's, when the workspace was made */
  int M, K, max_B, max_T;
  SdWorkspace **ws; /* one eval workspace per member */
  double *lp;       /* (M, B, K) the members' log-probabilities */
  double *zd;       /* (B, K) z in double */
  float *z;         /* (B, K) the output */
  float *g;         /* (B, K) dL/dz with the gradients injected at fc */
  float *dl;        /* (B, K) one member's dL/dlogits */
  float *dx;        /* (B, T) one member's input gradient */
  double *r;        /* (K) scratch of the backward */
  double *nov;      /* (B) one member's novelty */
};

static gboolean
same_norm (SdNormalization a, SdNormalization b)
{
  return a.mode == b.mode
         && (a.mode != SD_NORM_FIXED || (a.mean == b.mean && a.std == b.std));
}

/* Member i agrees with member 0 and can be one; else an error saying
 * how not. */
static gboolean
check_member (SdModel *const *members, int i, GError **error)
{
  const SdModel *a = members[0], *b = members[i];
  const char *why = NULL;
  if (b->members != NULL)
    why = "is an ensemble itself";
  else if (!g_strv_equal ((const char *const *) a->labels,
               (const char *const *) b->labels))
    why = "has other labels than member 0";
  else if (a->train_length != b->train_length)
    why = "has another training length than member 0";
  else if (a->sample_rate != b->sample_rate)
    why = "has another sample rate than member 0";
  else if (!same_norm (a->norm, b->norm))
    why = "has another input normalisation than member 0";
  if (why == NULL)
    return TRUE;
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "ensemble member %d ('%s') %s",
      i, b->display_name, why);
  return FALSE;
}

SdModel *
sd_model_new_ensemble (SdModel *const *members, int n, GError **error)
{
  g_return_val_if_fail (members != NULL || n == 0, NULL);
  if (n < 2 || n > SD_MAX_MEMBERS) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "an ensemble needs 2 to %d members, not %d", SD_MAX_MEMBERS, n);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!check_member (members, i, error))
      return NULL;
  const SdModel *m0 = members[0];
  SdModel *e = sd_model_new_empty (&m0->arch);
  g_free (e->display_name);
  e->display_name = g_strdup_printf ("ensemble of %d", n);
  e->labels = g_strdupv (m0->labels);
  e->train_length = m0->train_length;
  e->sample_rate = m0->sample_rate;
  e->norm = m0->norm;
  e->range_lo = m0->range_lo;
  e->range_hi = m0->range_hi;
  /* the first member's layers, for layer outputs and novelty features */
  e->n_acts = m0->n_acts;
  memcpy (e->act_channels, m0->act_channels, sizeof e->act_channels);
  memcpy (e->act_div, m0->act_div, sizeof e->act_div);
  memcpy (e->stage_out, m0->stage_out, sizeof e->stage_out);
  e->n_stage_layers = m0->n_stage_layers;
  memcpy (e->graph_stage, m0->graph_stage, sizeof e->graph_stage);
  e->feat_channels = m0->feat_channels;
  e->layer_names = g_strdupv (m0->layer_names);
  e->members = g_new (SdModel *, n);
  e->n_members = n;
  for (int i = 0; i < n; i++) {
    e->members[i] = sd_model_ref (members[i]);
    e->min_length = MAX (e->min_length, members[i]->min_length);
    e->receptive_field = MAX (e->receptive_field, members[i]->receptive_field);
    e->n_params += members[i]->n_params;
    e->n_trainable += members[i]->n_trainable;
  }
  return e;
}

int
sd_model_get_n_members (const SdModel *model)
{
  return model->n_members;
}

SdEnsembleRule
sd_model_get_ensemble_rule (const SdModel *model)
{
  return model->ensemble_rule;
}

gboolean
sd_model_set_ensemble_rule (SdModel *model, SdEnsembleRule rule, GError **error)
{
  if (model->members == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' is not an ensemble: it has no rule to combine members",
        model->display_name);
    return FALSE;
  }
  g_return_val_if_fail (
      rule == SD_ENSEMBLE_MEAN || rule == SD_ENSEMBLE_GEOMETRIC, FALSE);
  model->ensemble_rule = rule;
  return TRUE;
}

SdModel *
sd_model_get_member (const SdModel *model, int i)
{
  g_return_val_if_fail (i >= 0 && i < model->n_members, NULL);
  return model->members[i];
}

void
sd_ensemble_free_members (SdModel *m)
{
  for (int i = 0; i < m->n_members; i++)
    sd_model_unref (m->members[i]);
  g_free (m->members);
}

SdModel *
sd_ensemble_copy (SdModel *m)
{
  g_autofree SdModel **copies = g_new (SdModel *, m->n_members);
  for (int i = 0; i < m->n_members; i++)
    copies[i] = sd_model_copy (m->members[i]);
  SdModel *e = sd_model_new_ensemble (copies, m->n_members, NULL);
  g_assert (e != NULL); /* the members agreed once already */
  for (int i = 0; i < m->n_members; i++)
    sd_model_unref (copies[i]);
  g_free (e->display_name);
  e->display_name = g_strdup (m->display_name);
  e->range_lo = m->range_lo;
  e->range_hi = m->range_hi;
  e->provenance = g_strdup (m->provenance);
  e->ensemble_rule = m->ensemble_rule;
  if (m->stats != NULL)
    e->stats = sd_model_stats_copy (m->stats);
  return e;
}

/* ---- workspaces ---- */

SdEnsembleWs *
sd_ensemble_ws_new (SdModel *m, int max_batch, int max_length, GError **error)
{
  SdEnsembleWs *ew = g_new0 (SdEnsembleWs, 1);
  const int M = m->n_members, K = m->arch.n_classes;
  const gsize BK = (gsize) max_batch * K;
  ew->rule = m->ensemble_rule;
  ew->M = M;
  ew->K = K;
  ew->max_B = max_batch;
  ew->max_T = max_length;
  ew->ws = g_new0 (SdWorkspace *, M);
  for (int i = 0; i < M; i++) {
    ew->ws[i] = sd_workspace_new (
        m->members[i], max_batch, max_length, SD_MODE_EVAL, error);
    if (ew->ws[i] == NULL) {
      g_prefix_error (error, "ensemble member %d: ", i);
      sd_ensemble_ws_free (ew);
      return NULL;
    }
  }
  ew->lp = g_try_new (double, (gsize) M *BK);
  ew->zd = g_try_new (double, BK);
  ew->z = g_try_new (float, 3 * BK);
  ew->dx = g_try_new (float, (gsize) max_batch *max_length);
  ew->r = g_try_new (double, K);
  ew->nov = g_try_new (double, max_batch);
  if (ew->lp == NULL || ew->zd == NULL || ew->z == NULL || ew->dx == NULL
      || ew->r == NULL || ew->nov == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for an ensemble workspace of batch %d x length %d",
        max_batch, max_length);
    sd_ensemble_ws_free (ew);
    return NULL;
  }
  ew->g = ew->z + BK;
  ew->dl = ew->g + BK;
  return ew;
}

void
sd_ensemble_ws_free (SdEnsembleWs *ew)
{
  if (ew == NULL)
    return;
  for (int i = 0; i < ew->M; i++)
    sd_workspace_free (ew->ws[i]);
  g_free (ew->ws);
  g_free (ew->lp);
  g_free (ew->zd);
  g_free (ew->z);
  g_free (ew->dx);
  g_free (ew->r);
  g_free (ew->nov);
  g_free (ew);
}

gboolean
sd_ensemble_ws_set_threads (SdEnsembleWs *ew, int n_threads, GError **error)
{
  for (int i = 0; i < ew->M; i++)
    if (!sd_workspace_set_threads (ew->ws[i], n_threads, error))
      return FALSE;
  return TRUE;
}

/* lp (K) = log_softmax (l (K)), in double. */
static void
log_softmax (double *lp, const float *l, int K)
{
  double mx = l[0], s = 0.0;
  for (int k = 1; k < K; k++)
    mx = MAX (mx, (double) l[k]);
  for (int k = 0; k < K; k++)
    s += exp ((double) l[k] - mx);
  const double lse = mx + log (s);
  for (int k = 0; k < K; k++)
    lp[k] = (double) l[k] - lse;
}

const float *
sd_ensemble_forward (SdModel *m, SdEnsembleWs *ew, const float *x, int B, int T)
{
  const int M = ew->M, K = ew->K;
  const gsize BK = (gsize) B * K;
  for (int i = 0; i < M; i++) {
    const float *l = sd_model_forward (m->members[i], ew->ws[i], x, B, T);
    if (l == NULL)
      return NULL;
    for (int b = 0; b < B; b++)
      log_softmax (ew->lp + i * BK + (gsize) b * K, l + (gsize) b * K, K);
  }
  const double log_m = log ((double) M);
  for (gsize j = 0; j < BK && ew->rule == SD_ENSEMBLE_GEOMETRIC; j++) {
    double s = 0.0;
    for (int i = 0; i < M; i++)
      s += ew->lp[i * BK + j];
    ew->zd[j] = s / M;
    ew->z[j] = (float) ew->zd[j];
  }
  for (gsize j = 0; j < BK && ew->rule == SD_ENSEMBLE_MEAN; j++) {
    double mx = ew->lp[j];
    for (int i = 1; i < M; i++)
      mx = MAX (mx, ew->lp[i * BK + j]);
    double s = 0.0;
    for (int i = 0; i < M; i++)
      s += exp (ew->lp[i * BK + j] - mx);
    ew->zd[j] = mx + log (s) - log_m;
    ew->z[j] = (float) ew->zd[j];
  }
  return ew->z;
}

/* dl (B,K) = dL/dlogits of member i from g = dL/dz (B,K), by the rule at
 * the top of the file. */
static void
member_dlogits (SdEnsembleWs *ew, int i, int B)
{
  const int K = ew->K;
  const gsize BK = (gsize) B * K;
  const double log_m = log ((double) ew->M);
  for (int b = 0; b < B; b++) {
    const gsize o = (gsize) b * K;
    const double *lp = ew->lp + i * BK + o, *zd = ew->zd + o;
    double *r = ew->r, s = 0.0;
    for (int k = 0; k < K; k++) {
      /* the weight p_m,k / (M q_k), or 1/M for the geometric rule */
      const double w = ew->rule == SD_ENSEMBLE_GEOMETRIC
                           ? 1.0 / ew->M
                           : exp (lp[k] - log_m - zd[k]);
      r[k] = (double) ew->g[o + k] * w;
      s += r[k];
    }
    for (int k = 0; k < K; k++)
      ew->dl[o + k] = (float) (r[k] - exp (lp[k]) * s);
  }
}

void
sd_ensemble_backward (SdModel *m, SdEnsembleWs *ew, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, float *dx)
{
  const int fc = m->n_stage_layers + 1;
  const int B = sd_workspace_last_batch (ew->ws[0]);
  const gsize BK = (gsize) B * ew->K;
  if (dx == NULL)
    return; /* an ensemble has no parameter gradients: nothing to do */
  /* the gradients at the first member's layers go to it alone; those at
   * fc (z) join dlogits */
  SdLayerGrad *inner = g_newa (SdLayerGrad, n_extra + 1);
  int n_inner = 0;
  if (dlogits != NULL)
    memcpy (ew->g, dlogits, BK * sizeof (float));
  else
    memset (ew->g, 0, BK * sizeof (float));
  for (int e = 0; e < n_extra; e++) {
    if (extra[e].layer == fc)
      for (gsize j = 0; j < BK; j++)
        ew->g[j] += extra[e].grad[j];
    else
      inner[n_inner++] = extra[e];
  }
  for (int i = 0; i < ew->M; i++) {
    member_dlogits (ew, i, B);
    float *out = i == 0 ? dx : ew->dx;
    sd_model_backward_full (m->members[i], ew->ws[i], ew->dl,
        i == 0 ? inner : NULL, i == 0 ? n_inner : 0, NULL, out);
    if (i > 0) {
      const gsize n = (gsize) B * sd_workspace_last_length (ew->ws[0]);
      for (gsize k = 0; k < n; k++)
        dx[k] += ew->dx[k];
    }
  }
}

const float *
sd_ensemble_layer_output (const SdModel *m, const SdEnsembleWs *ew, int layer,
    int *channels, int *length)
{
  if (layer < m->n_stage_layers + 1)
    return sd_workspace_get_layer_output (ew->ws[0], layer, channels, length);
  *channels = ew->K;
  *length = 1;
  return ew->z;
}

gboolean
sd_ensemble_novelty (const SdModel *m, const SdWorkspace *ws, int B,
    double *novelty, GError **error)
{
  const SdEnsembleWs *ew = sd_workspace_peek_ensemble (ws);
  for (int b = 0; b < B; b++)
    novelty[b] = 0.0;
  for (int i = 0; i < ew->M; i++) {
    const SdModel *mi = m->members[i];
    if (mi->stats == NULL) { /* (taken away after the ensemble's were set) */
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "%s: the novelty combines the members', but member %d has no "
          "statistics (calibrate the ensemble again)",
          m->display_name, i);
      return FALSE;
    }
    const double med = sd_model_stats_novelty_quantile (mi->stats, 0.5);
    if (!sd_workspace_novelty (mi, ew->ws[i], B, ew->nov, error)) {
      g_prefix_error (error, "ensemble member %d: ", i);
      return FALSE;
    }
    for (int b = 0; b < B; b++) {
      const double v = ew->nov[b] / med;
      /* NaN stays: a window with a non-finite value is not known */
      if (!(v <= novelty[b]))
        novelty[b] = isnan (novelty[b]) ? novelty[b] : v;
    }
  }
  return TRUE;
}
