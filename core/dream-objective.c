/* The objective of a dream: its value at the logits (or a layer) of the
 * last forward, the target probability and margin, dJ/dlogits and the
 * constant gradients injected at the stage outputs that CHANNEL / NEURON
 * terms name.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <math.h>
#include <string.h>

SdObjective
sd_objective_centered (int class_index)
{
  SdObjective o;
  memset (&o, 0, sizeof o);
  o.n_terms = 1;
  o.terms[0].type = SD_OBJECTIVE_LOGIT;
  o.terms[0].weight = 1.0f;
  o.terms[0].class_a = class_index;
  return o;
}

SdObjective
sd_objective_border (int class_a, int class_b)
{
  SdObjective o = sd_objective_centered (class_a);
  o.terms[0].type = SD_OBJECTIVE_BORDER;
  o.terms[0].class_b = class_b;
  return o;
}

static double
logsumexp (const float *z, int K)
{
  double m = z[0];
  for (int k = 1; k < K; k++)
    m = MAX (m, z[k]);
  double s = 0.0;
  for (int k = 0; k < K; k++)
    s += exp ((double) z[k] - m);
  return m + log (s);
}

/* Value of a CHANNEL / NEURON term at row r of the last forward (layer
 * outputs in the workspace). */
static double
layer_term_value (const DreamRun *run, const SdObjectiveTerm *t, int r)
{
  const SdDreamer *d = run->d;
  int C, L;
  const float *h = sd_workspace_get_layer_output (d->ws, t->layer, &C, &L);
  h += ((gsize) r * C + t->channel) * L;
  if (t->type == SD_OBJECTIVE_NEURON)
    return h[t->position < 0 ? L + t->position : t->position];
  double s = 0.0;
  for (int k = 0; k < L; k++)
    s += h[k];
  return s / L;
}

double
dream_objective_value (
    const DreamRun *run, const DreamState *dr, int r, const float *z)
{
  const int K = run->d->K;
  const SdObjective *o = dr->obj;
  double J = 0.0, lse = logsumexp (z, K);
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    double v = 0.0;
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
        v = z[t->class_a];
        break;
      case SD_OBJECTIVE_PROBABILITY:
        v = exp (z[t->class_a] - lse);
        break;
      case SD_OBJECTIVE_LOG_PROBABILITY:
        v = z[t->class_a] - lse;
        break;
      case SD_OBJECTIVE_BORDER: {
        double za = z[t->class_a], zb = z[t->class_b];
        double m = MAX (za, zb);
        double lab = m + log (exp (za - m) + exp (zb - m));
        v = (lab - lse) - (za - zb) * (za - zb);
        break;
      }
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON:
        v = layer_term_value (run, t, r);
        break;
    }
    J += t->weight * v;
  }
  return J;
}

/* Target probability (border: p_a / (p_a + p_b)) and, for border dreams,
 * the closeness |p_a - p_b| / (p_a + p_b) = |tanh ((z_a - z_b) / 2)|, both
 * from the logits so they stay exact when p_a + p_b underflows. */
double
dream_target_probability (const DreamState *dr, const float *z, const float *p,
    int K, double *closeness)
{
  *closeness = NAN;
  switch (dr->kind) {
    case DREAM_TARGET_CENTERED:
      return p[dr->a];
    case DREAM_TARGET_BORDER: {
      double u = (double) z[dr->a] - z[dr->b];
      *closeness = fabs (tanh (0.5 * u));
      return 1.0 / (1.0 + exp (-u));
    }
    case DREAM_TARGET_NONE:
    default: {
      double m = p[0];
      for (int k = 1; k < K; k++)
        m = MAX (m, p[k]);
      return m;
    }
  }
}

double
dream_logit_margin (const DreamState *dr, const float *z, int K)
{
  if (dr->kind == DREAM_TARGET_BORDER)
    return (double) z[dr->a] - z[dr->b];
  int a = dr->a;
  if (dr->kind == DREAM_TARGET_NONE) {
    a = 0;
    for (int k = 1; k < K; k++)
      if (z[k] > z[a])
        a = k;
  }
  double best = -INFINITY;
  for (int k = 0; k < K; k++)
    if (k != a)
      best = MAX (best, z[k]);
  return K > 1 ? z[a] - best : 0.0;
}

void
dream_objective_dlogits (const DreamState *dr, const float *z, const float *p,
    int K, int fc_layer, float *dz)
{
  const SdObjective *o = dr->obj;
  memset (dz, 0, (gsize) K * sizeof (float));
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    const float w = t->weight;
    const int a = t->class_a;
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
        dz[a] += w;
        break;
      case SD_OBJECTIVE_PROBABILITY: /* dp_a/dz_k = p_a (d_ak - p_k) */
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[a] * p[j];
        dz[a] += w * p[a];
        break;
      case SD_OBJECTIVE_LOG_PROBABILITY:
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[j];
        dz[a] += w;
        break;
      case SD_OBJECTIVE_BORDER: {
        /* d log(p_a+p_b)/dz_k = [k=a] q_a + [k=b] q_b - p_k with
         * q_a = p_a/(p_a+p_b) = sigmoid(z_a - z_b); the quadratic term
         * gives -+2 (z_a - z_b). */
        const int b = t->class_b;
        double u = (double) z[a] - z[b];
        double qa = 1.0 / (1.0 + exp (-u));
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[j];
        dz[a] += (float) (w * (qa - 2.0 * u));
        dz[b] += (float) (w * ((1.0 - qa) + 2.0 * u));
        break;
      }
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON:
        if (t->layer == fc_layer)
          dz[t->channel] += w;
        break;
    }
  }
}

/* The constant injected gradients at stage outputs for the live rows:
 * CHANNEL w/T at every time of its channel, NEURON w at its position. */
void
dream_rebuild_injections (DreamRun *run)
{
  const int T = run->T;
  for (int l = 0; l < run->n_inj; l++) {
    DreamInjection *in = &run->inj[l];
    memset (in->grad, 0, (gsize) run->A * in->C * T * sizeof (float));
    for (int r = 0; r < run->A; r++) {
      if (!run->live[r])
        continue;
      const SdObjective *o = run->dreams[run->row_dream[r]].obj;
      for (int k = 0; k < o->n_terms; k++) {
        const SdObjectiveTerm *t = &o->terms[k];
        if ((t->type != SD_OBJECTIVE_CHANNEL && t->type != SD_OBJECTIVE_NEURON)
            || t->layer != in->layer)
          continue;
        float *h = in->grad + ((gsize) r * in->C + t->channel) * T;
        if (t->type == SD_OBJECTIVE_NEURON) {
          h[t->position < 0 ? T + t->position : t->position] += t->weight;
        } else {
          const float w = t->weight / T;
          for (int k2 = 0; k2 < T; k2++)
            h[k2] += w;
        }
      }
    }
  }
  run->inj_dirty = FALSE;
}
