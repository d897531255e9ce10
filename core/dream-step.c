/* One update of the live dreams of a chunk of rows, x_s -> x_{s+1}, after
 * their forward (evaluate, dream.c):
 *   transform      jitter / scale / noise drawn per dream -> a second
 *                  forward of the transformed inputs
 *   backpropagate  dJ/dlogits, the injected dJ/d(layer), diversity and the
 *                  FEATURE anchor at "gap" -> dx (A,T), mapped back through
 *                  the transform to g (T) per dream
 *   penalties      g -= the penalties' gradients, then the gradient
 *                  filters and the RMS clip
 *   optimiser      Adam / SGD with momentum / normalised step on x
 *   projection     the sequence filters and projections in list order,
 *                  z-normalisation
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <seqdream/stats.h>

#include <math.h>
#include <string.h>

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8f
/* Added to |f|^2 in the cosine similarity so a dead (all-zero) feature
 * vector has a defined, zero similarity. */
#define DIVERSITY_EPS 1e-8

static double
rms (const float *x, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++)
    s += (double) x[t] * x[t];
  return sqrt (s / T);
}

static double
rms_diff (const float *a, const float *b, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++) {
    double u = (double) a[t] - b[t];
    s += u * u;
  }
  return sqrt (s / T);
}

/* ---------------------------------------------------------- transform */

/* TRUE when a transform (jitter, scale, noise) acts at step s. */
static gboolean
any_transform (const DreamRun *run, int s)
{
  const SdDreamConfig *c = run->cfg;
  for (int k = 0; k < c->n_regs; k++)
    if (dream_reg_is_transform (c->regs[k].type)
        && dream_reg_active (run, k, s))
      return TRUE;
  return FALSE;
}

/* Draws dream dr's transform of step s: dr->shift (samples, 0..T-1) and
 * dr->scale, both traced; returns the sd of the additive noise. */
static double
draw_transform (const DreamRun *run, DreamState *dr, int s)
{
  const SdDreamConfig *c = run->cfg;
  int shift = 0;
  double scale = 1.0, noise = 0.0;
  for (int k = 0; k < c->n_regs; k++) {
    const SdRegularizer *reg = &c->regs[k];
    if (!dream_reg_is_transform (reg->type) || !dream_reg_active (run, k, s))
      continue;
    if (reg->type == SD_REG_NOISE) {
      /* independent noise sources add in variance */
      noise = sqrt (noise * noise + (double) reg->param * reg->param);
      *dream_trace_reg (dr, run, k, s) = reg->param;
    } else if (reg->type == SD_REG_JITTER) {
      int m = (int) reg->param;
      int v = g_rand_int_range (dr->rng, -m, m + 1);
      shift += v;
      *dream_trace_reg (dr, run, k, s) = (float) v;
    } else {
      double v
          = reg->param + (reg->param2 - reg->param) * g_rand_double (dr->rng);
      scale *= v;
      *dream_trace_reg (dr, run, k, s) = (float) v;
    }
  }
  shift %= run->T;
  if (shift < 0)
    shift += run->T;
  dr->shift = shift;
  dr->scale = (float) scale;
  return noise;
}

/* xi (T) <- the transformed x (T): xi[(t + shift) mod T] = scale * x[t],
 * plus Gaussian noise of sd `noise` drawn from dr's generator. */
static void
transform_row (DreamState *dr, const float *x, float *xi, int T, double noise)
{
  const int shift = dr->shift;
  const float f = dr->scale;
  for (int t = 0; t < T - shift; t++)
    xi[t + shift] = f * x[t];
  for (int t = T - shift; t < T; t++)
    xi[t + shift - T] = f * x[t];
  /* additive noise leaves the gradient as it is (d xin / d x = f) */
  if (noise > 0.0)
    for (int t = 0; t < T; t += 2) {
      /* Box-Muller: two normal draws per two uniforms */
      double u1 = g_rand_double (dr->rng), u2 = g_rand_double (dr->rng);
      double rad = sqrt (-2.0 * log (1.0 - u1)) * noise;
      xi[t] += (float) (rad * cos (2.0 * G_PI * u2));
      if (t + 1 < T)
        xi[t + 1] += (float) (rad * sin (2.0 * G_PI * u2));
    }
}

/* With a transform active at step s: the live rows of r0..r1-1
 * transformed into d->xin and a second forward of them. Returns whether
 * it did. */
static gboolean
transform (DreamRun *run, int s, int r0, int r1)
{
  SdDreamer *d = run->d;
  const int T = run->T;
  if (!any_transform (run, s))
    return FALSE;
  for (int r = r0; r < r1; r++) {
    if (!run->live[r])
      continue;
    DreamState *dr = &run->dreams[run->row_dream[r]];
    const double noise = draw_transform (run, dr, s);
    transform_row (dr, d->x + (gsize) run->row_dream[r] * T,
        d->xin + (gsize) r * T, T, noise);
  }
  dream_forward_rows (run, r0, r1, FALSE);
  return TRUE;
}

/* ------------------------------------------------------ backpropagate */

/* dgap rows r0..r1-1 at step s: "gap" CHANNEL/NEURON terms, minus the
 * FEATURE penalties' 2 w (f - mu), minus diversity * dD/df with D = mean
 * over pairs i<j of cos(f_i, f_j) over all n dreams (frozen dreams keep
 * their last features). */
static void
gap_gradient (DreamRun *run, int r0, int r1, int s)
{
  SdDreamer *d = run->d;
  const int C = d->gap_C, n = run->n;
  const float lambda = run->cfg->diversity;
  memset (d->dgap + (gsize) r0 * C, 0, (gsize) (r1 - r0) * C * sizeof (float));
  for (int r = r0; r < r1; r++) {
    if (!run->live[r])
      continue;
    const int i = run->row_dream[r];
    const SdObjective *o = run->dreams[i].obj;
    float *dg = d->dgap + (gsize) r * C;
    for (int k = 0; k < o->n_terms; k++) {
      const SdObjectiveTerm *t = &o->terms[k];
      if ((t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
          && t->layer == d->gap_layer)
        dg[t->channel] += t->weight;
    }
    const float *fi = d->feats + (gsize) i * C;
    for (int k = 0; k < run->cfg->n_regs; k++) {
      const SdRegularizer *reg = &run->cfg->regs[k];
      if (reg->type != SD_REG_FEATURE || reg->weight <= 0.0f
          || !dream_reg_active (run, k, s))
        continue;
      const float *mu = run->feat_target[k] + (gsize) i * C;
      const float w2 = 2.0f * reg->weight;
      if (reg->param2 == 1.0f) {
        /* Mahalanobis: d/df (f-mu)^T S^-1 (f-mu) = 2 S^-1 (f - mu) */
        float *g = d->dgap_scratch;
        sd_model_stats_mahalanobis (sd_model_get_stats (d->model), fi, mu, g);
        for (int ch = 0; ch < C; ch++)
          dg[ch] -= w2 * g[ch];
      } else
        for (int ch = 0; ch < C; ch++)
          dg[ch] -= w2 * (fi[ch] - mu[ch]);
    }
    if (lambda <= 0.0f || n < 2)
      continue;
    double ni2 = DIVERSITY_EPS;
    for (int c = 0; c < C; c++)
      ni2 += (double) fi[c] * fi[c];
    const double ni = sqrt (ni2);
    const double scale = lambda / (0.5 * n * (n - 1));
    for (int j = 0; j < n; j++) {
      if (j == i)
        continue;
      const float *fj = d->feats + (gsize) j * C;
      double nj2 = DIVERSITY_EPS, dot = 0.0;
      for (int c = 0; c < C; c++) {
        nj2 += (double) fj[c] * fj[c];
        dot += (double) fi[c] * fj[c];
      }
      const double nj = sqrt (nj2);
      const double cos_ij = dot / (ni * nj);
      /* d cos/d f_i = f_j / (n_i n_j) - cos f_i / n_i^2 */
      const double aj = scale / (ni * nj), ai = scale * cos_ij / ni2;
      for (int c = 0; c < C; c++)
        dg[c] -= (float) (aj * fj[c] - ai * fi[c]);
    }
  }
}

/* dJ at the logits, at "gap" and at the stage outputs of rows r0..r1-1
 * of the last forward (the transformed one if any), backward to
 * d->dx (rows, T). */
static void
backpropagate (DreamRun *run, int s, int r0, int r1)
{
  SdDreamer *d = run->d;
  const int T = run->T, K = d->K;
  int zC, zL;
  const float *z = sd_workspace_get_layer_output (d->ws, d->fc_layer, &zC, &zL);
  for (int r = r0; r < r1; r++) {
    float *dz = d->dlogits + (gsize) r * K;
    if (run->live[r]) {
      const DreamState *dr = &run->dreams[run->row_dream[r]];
      const float *zr = z + (gsize) (r - r0) * K;
      dream_objective_dlogits (
          dr, zr, d->probs + (gsize) r * K, K, d->fc_layer, dz);
      /* more confident than real series of the class ever are: walk
       * back (config.margin_ceiling) */
      if (run->cfg->margin_ceiling != NULL && dr->kind == DREAM_TARGET_CENTERED
          && dream_logit_margin (dr, zr, K) > run->cfg->margin_ceiling[dr->a])
        for (int k = 0; k < K; k++)
          dz[k] = -dz[k];
    } else
      memset (dz, 0, (gsize) K * sizeof (float));
  }
  if (run->inj_dirty)
    dream_rebuild_injections (run);
  SdLayerGrad extra[2 * SD_MAX_STAGES + 1];
  int n_extra = 0;
  for (int l = 0; l < run->n_inj; l++)
    extra[n_extra++] = (SdLayerGrad){ run->inj[l].layer,
      run->inj[l].grad + (gsize) r0 * run->inj[l].C * T };
  if (run->use_gap) {
    gap_gradient (run, r0, r1, s);
    extra[n_extra++]
        = (SdLayerGrad){ d->gap_layer, d->dgap + (gsize) r0 * d->gap_C };
  }
  dream_stage_anchor_grads (run, s, r0, r1, extra, &n_extra);
  sd_model_backward_full (d->model, d->ws, d->dlogits + (gsize) r0 * K, extra,
      n_extra, NULL, d->dx + (gsize) r0 * T);
}

/* Project g onto the tangent space of the z-normalised series at y (mean 0,
 * sd 1): remove the mean and the component along y, the gradient of
 * f (znorm (y)) at a normalised y. */
static void
znorm_project_grad (float *g, const float *y, int T)
{
  double mg = 0.0, gy = 0.0;
  for (int t = 0; t < T; t++) {
    mg += g[t];
    gy += (double) g[t] * y[t];
  }
  const float a = (float) (mg / T), b = (float) (gy / T);
  for (int t = 0; t < T; t++)
    g[t] -= a + b * y[t];
}

/* g (T) of the dream of row r: its input gradient mapped back through the
 * transform, g[t] = scale * dx[(t + shift) % T], projected for
 * z-normalised dreams. FALSE (SD_ERROR_DIVERGED) when it is not finite. */
static gboolean
row_gradient (DreamRun *run, int s, int r, gboolean transformed, GError **error)
{
  SdDreamer *d = run->d;
  const int T = run->T, i = run->row_dream[r];
  const DreamState *dr = &run->dreams[i];
  float *g = d->g + (gsize) i * T;
  const float *dxr = d->dx + (gsize) r * T;
  if (transformed) {
    const int sh = dr->shift;
    const float f = dr->scale;
    for (int t = 0; t < T - sh; t++)
      g[t] = f * dxr[t + sh];
    for (int t = T - sh; t < T; t++)
      g[t] = f * dxr[t + sh - T];
  } else {
    memcpy (g, dxr, (gsize) T * sizeof (float));
  }
  int bad = dream_first_nonfinite (g, T);
  if (bad >= 0)
    return dream_diverged (error, i, s, "the gradient", bad);
  if (run->cfg->znormalize)
    znorm_project_grad (g, d->x + (gsize) i * T, T);
  return TRUE;
}

/* ------------------------------------------- penalties and filters */

/* g -= the gradients of the penalties of dream i active at step s, at
 * x (T). */
static void
subtract_penalties (const DreamRun *run, int i, int s, const float *x, float *g)
{
  const SdDreamConfig *c = run->cfg;
  for (int k = 0; k < c->n_regs; k++) {
    const SdRegularizer *reg = &c->regs[k];
    if (!dream_reg_is_penalty (reg->type) || !(reg->weight > 0.0f)
        || !dream_reg_active (run, k, s))
      continue;
    if (reg->type == SD_REG_SPECTRUM)
      dream_spectrum_penalty (
          run->spec, x, dream_spec_row (run, k, i), reg->param, reg->weight, g);
    else
      dream_penalty_subtract_grad (reg->type, x, run->T, reg->weight, g);
  }
}

/* Apply filter / projection k to x (T) in place. */
static void
apply_filter (DreamRun *run, int k, int i, float *x)
{
  const SdRegularizer *reg = &run->cfg->regs[k];
  const int T = run->T;
  switch (reg->type) {
    case SD_REG_EXP_SMOOTH:
      dream_exp_smooth_forward (x, T, reg->param);
      break;
    case SD_REG_EXP_SMOOTH_ZEROPHASE:
      dream_exp_smooth_forward (x, T, reg->param);
      dream_exp_smooth_backward (x, T, reg->param);
      break;
    case SD_REG_GAUSSIAN:
      dream_gaussian_filter (x, T, run->kernel[k], run->radius[k], run->pad);
      break;
    case SD_REG_SPECTRAL_FILTER:
      dream_spectral_filter (run->spec, x, dream_spec_row (run, k, i));
      break;
    case SD_REG_SPECTRAL_PROJECT:
      dream_spectral_project (
          run->spec, x, dream_spec_row (run, k, i), reg->param);
      break;
    case SD_REG_CLIP:
      if (run->clip_on[k]) {
        const float lo = run->clip_lo[k], hi = run->clip_hi[k];
        for (int t = 0; t < T; t++)
          x[t] = CLAMP (x[t], lo, hi);
      }
      break;
    case SD_REG_NORM_BOUND: {
      double v = rms (x, T);
      if (v > reg->param) {
        const float f = (float) (reg->param / v);
        for (int t = 0; t < T; t++)
          x[t] *= f;
      }
      break;
    }
    default:
      break;
  }
}

/* apply_filter, its RMS change traced in entry s + 1. */
static void
apply_filter_traced (
    DreamRun *run, DreamState *dr, int k, int i, int s, float *v)
{
  float *orig = run->d->orig;
  memcpy (orig, v, (gsize) run->T * sizeof (float));
  apply_filter (run, k, i, v);
  *dream_trace_reg (dr, run, k, s + 1) = (float) rms_diff (v, orig, run->T);
}

/* The filters on the gradient of dream i active at step s (their RMS
 * change traced in entry s + 1), then the RMS clip. */
static void
filter_gradient (DreamRun *run, DreamState *dr, int i, int s, float *g)
{
  const SdDreamConfig *c = run->cfg;
  const int T = run->T;
  for (int k = 0; k < c->n_regs; k++) {
    const SdRegularizer *reg = &c->regs[k];
    if (dream_reg_is_filter (reg->type) && reg->apply_to == SD_APPLY_GRADIENT
        && dream_reg_active (run, k, s)) {
      apply_filter_traced (run, dr, k, i, s, g);
    }
  }
  if (c->grad_clip > 0.0f) {
    double v = rms (g, T);
    if (v > c->grad_clip) {
      const float f = (float) (c->grad_clip / v);
      for (int t = 0; t < T; t++)
        g[t] *= f;
    }
  }
}

/* ---------------------------------------------------- optimiser step */

/* Ascent x += step (g) at step s (the s + 1-th update), with the
 * optimiser state m1, m2 (T) of the dream. */
static void
optimizer_step (const SdDreamConfig *c, int s, float *x, const float *g,
    float *m1, float *m2, int T)
{
  const double lr = (double) c->lr * pow (c->lr_decay, s);
  switch (c->optimizer) {
    case SD_DREAM_OPT_ADAM: {
      const int t_adam = s + 1;
      const double bc1 = 1.0 - pow (ADAM_BETA1, t_adam);
      const double bc2 = 1.0 - pow (ADAM_BETA2, t_adam);
      const float b1 = (float) ADAM_BETA1, b2 = (float) ADAM_BETA2;
      const float step = (float) (lr / bc1);
      const float rs = (float) (1.0 / sqrt (bc2));
      for (int t = 0; t < T; t++) {
        m1[t] = b1 * m1[t] + (1.0f - b1) * g[t];
        m2[t] = b2 * m2[t] + (1.0f - b2) * g[t] * g[t];
        x[t] += step * m1[t] / (sqrtf (m2[t]) * rs + ADAM_EPS);
      }
      break;
    }
    case SD_DREAM_OPT_SGD: {
      const float mu = c->momentum, step = (float) lr;
      for (int t = 0; t < T; t++) {
        m1[t] = mu * m1[t] + g[t];
        x[t] += step * m1[t];
      }
      break;
    }
    case SD_DREAM_OPT_NORMALIZED: {
      double v = rms (g, T);
      if (v > 0.0) {
        const float step = (float) (lr / v);
        for (int t = 0; t < T; t++)
          x[t] += step * g[t];
      }
      break;
    }
  }
}

/* --------------------------------------------------------- projection */

/* The filters on the sequence and the projections (clip, norm bound) of
 * dream i active at step s, in list order (their RMS change traced in
 * entry s + 1), then the z-normalisation. */
static void
project (DreamRun *run, DreamState *dr, int i, int s, float *x)
{
  const SdDreamConfig *c = run->cfg;
  for (int k = 0; k < c->n_regs; k++) {
    const SdRegularizer *reg = &c->regs[k];
    gboolean on_x = (dream_reg_is_filter (reg->type)
                        && reg->apply_to == SD_APPLY_SEQUENCE)
                    || reg->type == SD_REG_CLIP
                    || reg->type == SD_REG_NORM_BOUND;
    if (on_x && dream_reg_active (run, k, s)) {
      apply_filter_traced (run, dr, k, i, s, x);
    }
  }
  if (c->znormalize)
    dream_znorm_row (x, run->T);
}

/* ------------------------------------------------------------- update */

gboolean
dream_update (DreamRun *run, int s, int r0, int r1, GError **error)
{
  SdDreamer *d = run->d;
  const int T = run->T;
  const gboolean transformed = transform (run, s, r0, r1);
  backpropagate (run, s, r0, r1);
  for (int r = r0; r < r1; r++) {
    if (!run->live[r])
      continue;
    const int i = run->row_dream[r];
    DreamState *dr = &run->dreams[i];
    float *x = d->x + (gsize) i * T, *g = d->g + (gsize) i * T;
    if (!row_gradient (run, s, r, transformed, error))
      return FALSE;
    subtract_penalties (run, i, s, x, g);
    filter_gradient (run, dr, i, s, g);
    optimizer_step (
        run->cfg, s, x, g, d->m1 + (gsize) i * T, d->m2 + (gsize) i * T, T);
    project (run, dr, i, s, x);
    int bad = dream_first_nonfinite (x, T);
    if (bad >= 0)
      return dream_diverged (error, i, s, "the sequence", bad);
  }
  return TRUE;
}
