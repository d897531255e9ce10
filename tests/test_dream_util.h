/* The helpers of the dream tests (test_dream*.c): small models, specs
 * and configurations, the engine's gradient, finite differences and an
 * independent objective. Header-only (every test file is one
 * executable); each file uses a part, hence G_GNUC_UNUSED.
 *
 * Most checks run one SGD step (lr 1, no momentum) from a given series:
 * the returned sequence is then x0 + dJ/dx, so the engine's gradient is
 * read back through the public API.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

static const char *const labels2[] G_GNUC_UNUSED = { "-1", "1", NULL };
static const char *const labels3[] G_GNUC_UNUSED = { "a", "b", "c", NULL };

#define TT 32 /* dream length of the unit tests */
/* Finite differences, 6 estimates per coordinate: central, forward and
 * backward at steps 1e-2 and 1e-3 (FD_N floats per coordinate block). */
#define FD_N 6

G_GNUC_UNUSED static SdModel *
new_model (const char *preset, int K, guint64 seed)
{
  SdArch arch;
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_arch_from_preset (preset, K, &arch, &error));
  SdModel *m = sd_model_new (&arch, K == 2 ? labels2 : labels3, seed, &error);
  g_assert_no_error (error);
  return m;
}

/* Non-trivial BN statistics so eval mode is not an identity. */
G_GNUC_UNUSED static void
perturb_bn (SdModel *m, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  float *p = sd_model_get_params (m);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (strstr (t->name, ".bn.") == NULL)
      continue;
    for (gsize k = 0; k < t->numel; k++) {
      if (g_str_has_suffix (t->name, "running_var"))
        p[t->offset + k] = (float) g_rand_double_range (r, 0.5, 2.0);
      else
        p[t->offset + k] += (float) g_rand_double_range (r, -0.3, 0.3);
    }
  }
}

G_GNUC_UNUSED static SdModel *
test_model (int K)
{
  SdModel *m = new_model ("resnet-small", K, 7);
  perturb_bn (m, 11);
  return m;
}

/* A fresh model's logits hardly depend on its input; scaled up 20 times
 * they move like a trained classifier's, so dreams reach their targets in
 * tens of steps. */
G_GNUC_UNUSED static SdModel *
confident_model (int K)
{
  SdModel *m = test_model (K);
  const SdParamInfo *w = sd_model_find_tensor (m, "fc.weight");
  for (gsize k = 0; k < w->numel; k++)
    sd_model_get_params (m)[w->offset + k] *= 20.0f;
  return m;
}

G_GNUC_UNUSED static void
fill_random (float *x, int n, guint32 seed, double amp)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (int i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (r, -amp, amp);
}

G_GNUC_UNUSED static SdDreamSpec
series_spec (SdObjective obj, const float *x)
{
  SdDreamSpec s;
  memset (&s, 0, sizeof s);
  s.objective = obj;
  s.init.type = SD_INIT_SERIES;
  s.init.series = x;
  s.seed = 1;
  return s;
}

G_GNUC_UNUSED static SdDreamSpec
noise_spec (SdObjective o, guint64 seed)
{
  SdDreamSpec s;
  memset (&s, 0, sizeof s);
  s.objective = o;
  s.init.type = SD_INIT_GAUSSIAN;
  s.init.scale = 0.1f;
  s.seed = seed;
  return s;
}

/* One plain SGD step: x1 = x0 + dJ/dx (without the filters the config
 * may add after it). */
G_GNUC_UNUSED static void
one_step_config (SdDreamConfig *c, SdModel *m)
{
  sd_dream_config_init (c, m);
  /* The checks below are of raw gradients; z-normalisation is tested
   * on its own. */
  c->znormalize = FALSE;
  c->length = TT;
  c->steps = 1;
  c->optimizer = SD_DREAM_OPT_SGD;
  c->momentum = 0.0f;
  c->lr = 1.0f;
  c->keep_best = FALSE;
  c->border_tolerance = 0.0f;
}

/* Runs n dreams; g (n, TT) receives result - x0. */
G_GNUC_UNUSED static void
engine_gradient (SdModel *m, const SdDreamConfig *c, const SdDreamSpec *specs,
    int n, float *g)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, n, TT, &error);
  g_assert_no_error (error);
  SdDreamResult *res[8];
  g_assert_true (sd_dreamer_run (d, c, specs, n, res, &error));
  g_assert_no_error (error);
  for (int i = 0; i < n; i++) {
    g_assert_cmpint (res[i]->steps, ==, 1);
    for (int t = 0; t < TT; t++)
      g[i * TT + t] = res[i]->sequence[t] - specs[i].init.series[t];
    sd_dream_result_free (res[i]);
  }
}

G_GNUC_UNUSED static double
term_value (
    SdWorkspace *ws, const SdObjectiveTerm *t, const float *z, int K, int row)
{
  double m = z[0];
  for (int k = 1; k < K; k++)
    m = MAX (m, z[k]);
  double s = 0.0;
  for (int k = 0; k < K; k++)
    s += exp (z[k] - m);
  double lse = m + log (s);
  switch (t->type) {
    case SD_OBJECTIVE_LOGIT:
      return z[t->class_a];
    case SD_OBJECTIVE_PROBABILITY:
      return exp (z[t->class_a] - lse);
    case SD_OBJECTIVE_LOG_PROBABILITY:
      return z[t->class_a] - lse;
    case SD_OBJECTIVE_BORDER: {
      double pa = exp (z[t->class_a] - lse), pb = exp (z[t->class_b] - lse);
      double u = z[t->class_a] - z[t->class_b];
      return log (pa + pb) - u * u;
    }
    case SD_OBJECTIVE_CHANNEL:
    case SD_OBJECTIVE_NEURON: {
      int C, L;
      const float *h = sd_workspace_get_layer_output (ws, t->layer, &C, &L);
      h += ((gsize) row * C + t->channel) * L;
      if (t->type == SD_OBJECTIVE_NEURON)
        return h[t->position < 0 ? L + t->position : t->position];
      double a = 0.0;
      for (int k = 0; k < L; k++)
        a += h[k];
      return a / L;
    }
  }
  g_assert_not_reached ();
}

G_GNUC_UNUSED static double
objective_of (SdModel *m, SdWorkspace *ws, const SdObjective *o, const float *x)
{
  const float *z = sd_model_forward (m, ws, x, 1, TT);
  int K = sd_model_get_n_classes (m);
  double J = 0.0;
  for (int k = 0; k < o->n_terms; k++)
    J += o->terms[k].weight * term_value (ws, &o->terms[k], z, K, 0);
  return J;
}

typedef double (*Score) (const float *x, gpointer data);

/* Finite differences of f at x (n values), times `sign`: fd[j*n + i] for
 * j = central, forward, backward at h = 1e-2, then the same at 1e-3. */
/* The rounding noise of the last fd_gradient's f, measured: the largest
 * change of f when one input moves by a few float ulps, where the true
 * change is far below the forward's float32 rounding. */
static double fd_noise G_GNUC_UNUSED;

G_GNUC_UNUSED static void
fd_gradient (
    Score f, gpointer data, const float *x0, int n, double sign, double *fd)
{
  g_autofree float *x = g_memdup2 (x0, (gsize) n * sizeof (float));
  const double f0 = f (x, data);
  fd_noise = 0.0;
  for (int i = 0; i < n; i += MAX (1, n / 16)) {
    for (int s = -1; s <= 1; s += 2) {
      x[i] = x0[i] + (float) s * 1e-6f * MAX (1.0f, fabsf (x0[i]));
      fd_noise = MAX (fd_noise, fabs (f (x, data) - f0));
    }
    x[i] = x0[i];
  }
  for (int k = 0; k < 2; k++) {
    const double h = k ? 1e-3 : 1e-2;
    double *c = fd + 3 * k * n;
    for (int i = 0; i < n; i++) {
      x[i] = x0[i] + (float) h;
      double up = f (x, data);
      x[i] = x0[i] - (float) h;
      double dn = f (x, data);
      x[i] = x0[i];
      c[i] = sign * (up - dn) / (2.0 * h);
      c[n + i] = sign * (up - f0) / h;
      c[2 * n + i] = sign * (f0 - dn) / h;
    }
  }
}

/* Every g[i] within rtol * max |fd| of one of its estimates, plus twice
 * the measured rounding noise of f over the smaller step (fd_noise / 1e-3).
 * Two effects make a single estimate miss the exact derivative: the
 * float32 forward rounds at ~1e-7 of its values (noise ~1e-7 / h, which
 * the larger step keeps small), and the networks are piecewise linear
 * (ReLU), so a step that crosses a kink mixes two slopes (the smaller
 * step, or the side without the kink, sees only the slope at x). Where
 * the gradient is small against f (a binary border objective of a fresh
 * model: |dJ/dx| ~ 5e-3 at |J| ~ 1), the noise at the smaller step is a
 * few percent of the largest component and depends on OpenBLAS's kernels
 * (its Sandybridge kernels missed 1 % at one coordinate): the allowance
 * is that noise, measured, not a looser tolerance. A wrong gradient
 * matches none of them. */
G_GNUC_UNUSED static void
assert_gradient_close (const float *g, const double *fd, int n, double rtol)
{
  double scale = 0.0;
  for (int i = 0; i < n; i++)
    scale = MAX (scale, fabs (fd[i]));
  g_assert_cmpfloat (scale, >, 0.0);
  for (int i = 0; i < n; i++) {
    double e = INFINITY;
    for (int j = 0; j < FD_N; j++)
      e = MIN (e, fabs (g[i] - fd[j * n + i]));
    if (e > rtol * scale + 2.0 * fd_noise / 1e-3)
      g_error ("gradient differs from finite differences at %d: %g vs %g "
               "(h 1e-2), %g (h 1e-3); max |fd| %g, noise of f %g",
          i, g[i], fd[i], fd[3 * n + i], scale, fd_noise);
  }
}

typedef struct
{
  SdModel *m;
  SdWorkspace *ws;
  const SdObjective *o;
  float scale; /* transform: scale * roll (x, shift) */
  int shift;
} ObjFx;

G_GNUC_UNUSED static double
score_objective (const float *x, gpointer data)
{
  ObjFx *f = data;
  float xin[TT];
  for (int t = 0; t < TT; t++)
    xin[((t + f->shift) % TT + TT) % TT] = f->scale * x[t];
  return objective_of (f->m, f->ws, f->o, xin);
}

/* The sequence after one step with a zero gradient and one regulariser:
 * exactly that regulariser applied to x0. */
G_GNUC_UNUSED static void
apply_one (SdModel *m, SdRegularizer reg, const float *x0, int T, float *out,
    float *change)
{
  SdDreamConfig c;
  one_step_config (&c, m);
  c.length = T;
  sd_dream_config_add (&c, reg);
  SdObjective o = sd_objective_centered (0);
  o.terms[0].weight = 0.0f;
  SdDreamSpec spec = series_spec (o, x0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, T, &error);
  g_autoptr (SdDreamResult) res = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  g_assert_no_error (error);
  memcpy (out, res->sequence, (gsize) T * sizeof (float));
  g_assert_cmpint (res->trace.n_steps, ==, 2);
  g_assert_cmpfloat (res->trace.reg_values[0], ==, 0.0f);
  if (change)
    *change = res->trace.reg_values[1];
}

G_GNUC_UNUSED static double
rms_diff (const float *a, const float *b, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++)
    s += ((double) a[t] - b[t]) * ((double) a[t] - b[t]);
  return sqrt (s / T);
}
