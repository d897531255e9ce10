/* Dreaming: every gradient of the engine against finite differences of an
 * independent re-implementation, every filter and projection against a
 * hand-computed result, batching, determinism, divergence, validation,
 * the trace, and (when present) dreams on the real FordA model.
 *
 * Most checks run one SGD step (lr 1, no momentum) from a given series:
 * the returned sequence is then x0 + dJ/dx, so the engine's gradient is
 * read back through the public API.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static const char *const labels2[] = { "-1", "1", NULL };
static const char *const labels3[] = { "a", "b", "c", NULL };

#define TT 32 /* dream length of the unit tests */
/* Finite differences, 6 estimates per coordinate: central, forward and
 * backward at steps 1e-2 and 1e-3 (FD_N floats per coordinate block). */
#define FD_N 6

static SdModel *
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
static void
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

static SdModel *
test_model (int K)
{
  SdModel *m = new_model ("resnet-small", K, 7);
  perturb_bn (m, 11);
  return m;
}

/* A fresh model's logits hardly depend on its input; scaled up 20 times
 * they move like a trained classifier's, so dreams reach their targets in
 * tens of steps. */
static SdModel *
confident_model (int K)
{
  SdModel *m = test_model (K);
  const SdParamInfo *w = sd_model_find_tensor (m, "fc.weight");
  for (gsize k = 0; k < w->numel; k++)
    sd_model_get_params (m)[w->offset + k] *= 20.0f;
  return m;
}

static void
fill_random (float *x, int n, guint32 seed, double amp)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (int i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (r, -amp, amp);
}

static SdDreamSpec
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

/* One plain SGD step: x1 = x0 + dJ/dx (without the filters the config
 * may add after it). */
static void
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
static void
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

/* The same for one dream of length T. */
static void
engine_gradient_at (SdModel *m, const SdDreamConfig *c, const SdDreamSpec *spec,
    float *g, int T)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, T, &error);
  g_autoptr (SdDreamResult) r = NULL;
  g_assert_true (sd_dreamer_run (d, c, spec, 1, &r, &error));
  g_assert_no_error (error);
  for (int t = 0; t < T; t++)
    g[t] = r->sequence[t] - spec->init.series[t];
}

/* ---- an independent objective, in double, from a plain forward ---- */

static double
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

static double
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
static void
fd_gradient (
    Score f, gpointer data, const float *x0, int n, double sign, double *fd)
{
  g_autofree float *x = g_memdup2 (x0, (gsize) n * sizeof (float));
  const double f0 = f (x, data);
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

/* Every g[i] within rtol * max |fd| of one of its estimates. Two effects
 * make a single estimate miss the exact derivative: the float32 forward
 * rounds at ~1e-7 of its values (noise ~1e-7 / h, which the larger step
 * keeps small), and the networks are piecewise linear (ReLU), so a step
 * that crosses a kink mixes two slopes (the smaller step, or the side
 * without the kink, sees only the slope at x). A wrong gradient matches
 * none of them. */
static void
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
    if (e > rtol * scale)
      g_error ("gradient differs from finite differences at %d: %g vs %g "
               "(h 1e-2), %g (h 1e-3); max |fd| %g",
          i, g[i], fd[i], fd[3 * n + i], scale);
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

static double
score_objective (const float *x, gpointer data)
{
  ObjFx *f = data;
  float xin[TT];
  for (int t = 0; t < TT; t++)
    xin[((t + f->shift) % TT + TT) % TT] = f->scale * x[t];
  return objective_of (f->m, f->ws, f->o, xin);
}

static void
check_objective_gradient (SdModel *m, SdObjective o, guint32 seed)
{
  SdDreamConfig c;
  one_step_config (&c, m);
  float x0[TT], g[TT];
  double fd[FD_N * TT];
  fill_random (x0, TT, seed, 1.5);
  SdDreamSpec spec = series_spec (o, x0);
  engine_gradient (m, &c, &spec, 1, g);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 4, TT, SD_MODE_EVAL, NULL);
  ObjFx f = { m, ws, &o, 1.0f, 0 };
  fd_gradient (score_objective, &f, x0, TT, 1.0, fd);
  assert_gradient_close (g, fd, TT, 1e-2);
}

static void
test_class_objective_gradients (void)
{
  g_autoptr (SdModel) m = test_model (3);
  check_objective_gradient (m, sd_objective_centered (1), 1);
  SdObjective o = sd_objective_centered (2);
  o.terms[0].type = SD_OBJECTIVE_PROBABILITY;
  check_objective_gradient (m, o, 2);
  o.terms[0].type = SD_OBJECTIVE_LOG_PROBABILITY;
  check_objective_gradient (m, o, 3);
}

/* Separates the logits of a fresh model (z_a - z_b ~ 1, not ~ 0) so the
 * border gradient stands well above the rounding of the forward. */
static void
shift_bias (SdModel *m, const float *delta)
{
  const SdParamInfo *b = sd_model_find_tensor (m, "fc.bias");
  for (gsize k = 0; k < b->numel; k++)
    sd_model_get_params (m)[b->offset + k] += delta[k];
}

static void
test_border_gradient (void)
{
  /* Three classes, so log(p_a + p_b) is not constant. */
  g_autoptr (SdModel) m = test_model (3);
  shift_bias (m, (float[]){ 1.0f, -0.5f, 0.0f });
  check_objective_gradient (m, sd_objective_border (0, 2), 4);
  check_objective_gradient (m, sd_objective_border (1, 0), 5);
  /* binary: log(p_a + p_b) = 0, only the quadratic term is left */
  g_autoptr (SdModel) m2 = new_model ("resnet-small", 2, 3);
  perturb_bn (m2, 4);
  shift_bias (m2, (float[]){ 0.0f, 1.0f });
  check_objective_gradient (m2, sd_objective_border (1, 0), 6);
}

static void
test_layer_objective_gradients (void)
{
  /* CHANNEL and NEURON go through sd_model_backward_full's injection
   * (channels that are alive, not all-zero after the ReLU, at these x) */
  g_autoptr (SdModel) m = test_model (2);
  SdObjective o;
  memset (&o, 0, sizeof o);
  o.n_terms = 1;
  o.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_CHANNEL,
    .weight = 1.0f,
    .layer = sd_model_find_layer (m, "stages.1"),
    .channel = 3 };
  check_objective_gradient (m, o, 7);
  o.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 2.0f,
    .layer = sd_model_find_layer (m, "stages.2"),
    .channel = 11,
    .position = -4 };
  check_objective_gradient (m, o, 8);
  o.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_CHANNEL,
    .weight = 1.0f,
    .layer = sd_model_find_layer (m, "gap"),
    .channel = 11 };
  check_objective_gradient (m, o, 9);
  o.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 1.0f,
    .layer = sd_model_find_layer (m, "fc"),
    .channel = 1 };
  check_objective_gradient (m, o, 10);
  o.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 1.0f,
    .layer = sd_model_find_layer (m, "stages.0"),
    .channel = 9,
    .position = 0 };
  check_objective_gradient (m, o, 11);
}

static void
test_weighted_terms_gradient (void)
{
  g_autoptr (SdModel) m = test_model (3);
  SdObjective o;
  memset (&o, 0, sizeof o);
  o.n_terms = 5;
  o.terms[0] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_LOGIT, .weight = 0.5f, .class_a = 0
  };
  o.terms[1] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_PROBABILITY, .weight = 2.0f, .class_a = 1
  };
  o.terms[2] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_LOG_PROBABILITY, .weight = -1.0f, .class_a = 2
  };
  o.terms[3] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_CHANNEL, .weight = 0.7f, .layer = 1, .channel = 2
  };
  o.terms[4] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = -0.3f,
    .layer = 1,
    .channel = 2,
    .position = 10 };
  check_objective_gradient (m, o, 12);
}

/* ---- penalties ---- */

typedef struct
{
  SdModel *m;
  SdRegType type;
  float weight;
} PenFx;

/* The penalty as the engine reports it (trace entry 0), so the value and
 * the gradient of the engine are checked against each other. */
static double
score_penalty_trace (const float *x, gpointer data)
{
  PenFx *f = data;
  SdDreamConfig c;
  one_step_config (&c, f->m);
  SdRegularizer r = sd_regularizer_default (f->type);
  r.weight = f->weight;
  sd_dream_config_add (&c, r);
  SdObjective o = sd_objective_centered (0);
  o.terms[0].weight = 0.0f;
  SdDreamSpec spec = series_spec (o, x);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (f->m, 1, TT, &error);
  g_autoptr (SdDreamResult) res = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  return res->trace.reg_values[0];
}

static double
penalty_by_hand (SdRegType type, const float *x, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++) {
    double u = t + 1 < T ? (double) x[t + 1] - x[t] : 0.0;
    switch (type) {
      case SD_REG_L1:
        s += fabs (x[t]) / T;
        break;
      case SD_REG_L2:
        s += (double) x[t] * x[t] / T;
        break;
      case SD_REG_TV:
        s += fabs (u) / (T - 1);
        break;
      case SD_REG_TV2:
        s += u * u / (T - 1);
        break;
      default:
        g_assert_not_reached ();
    }
  }
  return s;
}

static void
test_penalty_gradients (void)
{
  g_autoptr (SdModel) m = test_model (2);
  const SdRegType types[] = { SD_REG_L1, SD_REG_L2, SD_REG_TV, SD_REG_TV2 };
  float x0[TT];
  /* away from the kinks of |x| and |x[t+1]-x[t]| */
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  x0[0] = 0.4f;
  for (int t = 0; t < TT; t++) {
    float v = (float) g_rand_double_range (r, 0.1, 1.0);
    float sgn = g_rand_boolean (r) ? 1.0f : -1.0f;
    if (t > 0)
      x0[t] = x0[t - 1] + sgn * v;
    if (fabsf (x0[t]) < 0.05f)
      x0[t] += 0.2f;
  }
  for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
    const float w = 3.0f;
    SdDreamConfig c;
    one_step_config (&c, m);
    SdRegularizer reg = sd_regularizer_default (types[k]);
    reg.weight = w;
    sd_dream_config_add (&c, reg);
    SdObjective o = sd_objective_centered (0);
    o.terms[0].weight = 0.0f;
    SdDreamSpec spec = series_spec (o, x0);
    float g[TT];
    double fd[FD_N * TT];
    engine_gradient (m, &c, &spec, 1, g);
    PenFx f = { m, types[k], w };
    /* the value, against the formula of docs/dreaming.md */
    g_assert_cmpfloat_with_epsilon (score_penalty_trace (x0, &f),
        w * penalty_by_hand (types[k], x0, TT), 1e-5);
    /* J = objective - penalty */
    fd_gradient (score_penalty_trace, &f, x0, TT, -1.0, fd);
    assert_gradient_close (g, fd, TT, 1e-2);
  }
}

/* ---- filters and projections ---- */

/* The sequence after one step with a zero gradient and one regulariser:
 * exactly that regulariser applied to x0. */
static void
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

static double
rms_diff (const float *a, const float *b, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++)
    s += ((double) a[t] - b[t]) * ((double) a[t] - b[t]);
  return sqrt (s / T);
}

static void
test_exp_smoothing (void)
{
  g_autoptr (SdModel) m = test_model (2);
  float x[TT], y[TT], change;
  fill_random (x, TT, 21, 2.0);
  SdRegularizer reg = sd_regularizer_default (SD_REG_EXP_SMOOTH);
  reg.param = 0.3f;
  reg.every = 1;
  apply_one (m, reg, x, TT, y, &change);
  /* y[0] = x[0], y[t] = a x[t] + (1-a) y[t-1] */
  double e[TT];
  e[0] = x[0];
  for (int t = 1; t < TT; t++)
    e[t] = 0.3 * x[t] + 0.7 * e[t - 1];
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);
  g_assert_cmpfloat_with_epsilon (change, rms_diff (x, y, TT), 1e-6);

  /* zero-phase: the causal pass, then the same recurrence backwards */
  reg.type = SD_REG_EXP_SMOOTH_ZEROPHASE;
  apply_one (m, reg, x, TT, y, NULL);
  for (int t = TT - 2; t >= 0; t--)
    e[t] = 0.3 * e[t] + 0.7 * e[t + 1];
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);

  /* a centred impulse comes out symmetric (no phase shift), the causal
   * one does not */
  enum
  {
    N = 61
  };
  float imp[N] = { 0 }, z[N];
  imp[N / 2] = 1.0f;
  reg.param = 0.5f;
  apply_one (m, reg, imp, N, z, NULL);
  for (int k = 1; k <= N / 2; k++)
    g_assert_cmpfloat_with_epsilon (z[N / 2 - k], z[N / 2 + k], 1e-7);
  g_assert_cmpfloat (z[N / 2], >, z[N / 2 + 1]);
  reg.type = SD_REG_EXP_SMOOTH;
  apply_one (m, reg, imp, N, z, NULL);
  g_assert_cmpfloat (z[N / 2 - 1], ==, 0.0f);
  g_assert_cmpfloat (z[N / 2 + 1], >, 0.0f);

  /* a constant is unchanged by both */
  float cst[TT], out[TT];
  for (int t = 0; t < TT; t++)
    cst[t] = 1.25f;
  for (int k = 0; k < 2; k++) {
    reg.type = k ? SD_REG_EXP_SMOOTH : SD_REG_EXP_SMOOTH_ZEROPHASE;
    apply_one (m, reg, cst, TT, out, &change);
    for (int t = 0; t < TT; t++)
      g_assert_cmpfloat_with_epsilon (out[t], 1.25f, 1e-6);
    g_assert_cmpfloat (change, <, 1e-6);
  }
}

static void
test_gaussian_filter (void)
{
  g_autoptr (SdModel) m = test_model (2);
  const double sigma = 1.5;
  const int R = 5; /* ceil (3 sigma) */
  double w[R + 2], z = 0.0;
  for (int k = 0; k <= R; k++) {
    w[k] = exp (-k * k / (2 * sigma * sigma));
    z += k ? 2 * w[k] : w[k];
  }
  w[R + 1] = 0.0;
  for (int k = 0; k <= R; k++)
    w[k] /= z;
  SdRegularizer reg = sd_regularizer_default (SD_REG_GAUSSIAN);
  reg.param = (float) sigma;
  reg.every = 1;

  /* an impulse in the middle gives the kernel, which sums to 1 */
  float imp[TT] = { 0 }, y[TT];
  imp[16] = 1.0f;
  apply_one (m, reg, imp, TT, y, NULL);
  double sum = 0.0;
  for (int t = 0; t < TT; t++) {
    int k = abs (t - 16);
    g_assert_cmpfloat_with_epsilon (y[t], k <= R ? w[k] : 0.0, 1e-7);
    sum += y[t];
  }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);

  /* at the edge the half-sample reflection (x[-1] = x[0]) folds the
   * kernel back: y[t] = w[t] + w[t+1]; the sum is still 1 */
  float edge[TT] = { 0 };
  edge[0] = 1.0f;
  apply_one (m, reg, edge, TT, y, NULL);
  sum = 0.0;
  for (int t = 0; t < TT; t++) {
    double e = t <= R ? w[t] + w[t + 1] : 0.0;
    g_assert_cmpfloat_with_epsilon (y[t], e, 1e-7);
    sum += y[t];
  }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-6);
  memset (edge, 0, sizeof edge);
  edge[TT - 1] = 1.0f;
  apply_one (m, reg, edge, TT, y, NULL);
  for (int t = 0; t < TT; t++) {
    int k = TT - 1 - t;
    g_assert_cmpfloat_with_epsilon (y[t], k <= R ? w[k] + w[k + 1] : 0.0, 1e-7);
  }

  /* a constant is unchanged, even with a kernel wider than the series */
  float cst[8], out[8];
  for (int t = 0; t < 8; t++)
    cst[t] = -0.75f;
  reg.param = 8.0f;
  apply_one (m, reg, cst, 8, out, NULL);
  for (int t = 0; t < 8; t++)
    g_assert_cmpfloat_with_epsilon (out[t], -0.75f, 1e-6);
}

static void
test_projections (void)
{
  g_autoptr (SdModel) m = test_model (2);
  float x[TT], y[TT], change;
  fill_random (x, TT, 31, 3.0);

  SdRegularizer clip = sd_regularizer_default (SD_REG_CLIP);
  clip.param = -1.0f;
  clip.param2 = 0.5f;
  apply_one (m, clip, x, TT, y, &change);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (y[t], ==, CLAMP (x[t], -1.0f, 0.5f));
  g_assert_cmpfloat_with_epsilon (change, rms_diff (x, y, TT), 1e-6);

  /* both 0: the model's input range; an infinite range clips nothing */
  clip.param = clip.param2 = 0.0f;
  apply_one (m, clip, x, TT, y, &change);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (y[t], ==, x[t]);
  sd_model_set_input_range (m, -0.5f, 0.7f);
  apply_one (m, clip, x, TT, y, NULL);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (y[t], ==, CLAMP (x[t], -0.5f, 0.7f));

  /* RMS bound: scaled onto the bound when above it, untouched below */
  SdRegularizer nb = sd_regularizer_default (SD_REG_NORM_BOUND);
  nb.param = 0.5f;
  apply_one (m, nb, x, TT, y, NULL);
  double rx = 0.0, ry = 0.0;
  for (int t = 0; t < TT; t++) {
    rx += (double) x[t] * x[t] / TT;
    ry += (double) y[t] * y[t] / TT;
  }
  g_assert_cmpfloat (sqrt (rx), >, 0.5);
  g_assert_cmpfloat_with_epsilon (sqrt (ry), 0.5, 1e-6);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], x[t] * 0.5 / sqrt (rx), 1e-6);
  nb.param = 10.0f;
  apply_one (m, nb, x, TT, y, &change);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (y[t], ==, x[t]);
  g_assert_cmpfloat (change, ==, 0.0f);
}

/* ---- transforms ---- */

static void
check_transform (SdModel *m, SdRegularizer *regs, int n_regs, guint32 seed)
{
  SdDreamConfig c;
  one_step_config (&c, m);
  for (int k = 0; k < n_regs; k++)
    sd_dream_config_add (&c, regs[k]);
  float x0[TT];
  double fd[FD_N * TT];
  fill_random (x0, TT, seed, 1.5);
  SdObjective o = sd_objective_centered (1);
  SdDreamSpec spec = series_spec (o, x0);
  spec.seed = seed;
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, &error);
  g_autoptr (SdDreamResult) res = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  /* the draw of step 0 is in the trace: shift in samples, the factor */
  const int ns = res->trace.n_steps;
  ObjFx f = { m, NULL, &o, 1.0f, 0 };
  for (int k = 0; k < n_regs; k++) {
    float v = res->trace.reg_values[k * ns + 0];
    if (regs[k].type == SD_REG_JITTER) {
      g_assert_cmpfloat (fabsf (v), <=, regs[k].param);
      g_assert_cmpfloat (v, ==, rintf (v));
      f.shift += (int) v;
    } else {
      g_assert_cmpfloat (v, >=, regs[k].param);
      g_assert_cmpfloat (v, <=, regs[k].param2);
      f.scale *= v;
    }
    /* the last entry (no update after it) shows no transform */
    g_assert_cmpfloat (res->trace.reg_values[k * ns + 1], ==,
        regs[k].type == SD_REG_JITTER ? 0.0f : 1.0f);
  }
  float g[TT];
  for (int t = 0; t < TT; t++)
    g[t] = res->sequence[t] - x0[t];
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, TT, SD_MODE_EVAL, NULL);
  f.ws = ws;
  fd_gradient (score_objective, &f, x0, TT, 1.0, fd);
  assert_gradient_close (g, fd, TT, 1e-2);
  /* the objective of the trace is at x itself, not at the transform */
  ObjFx plain = { m, ws, &o, 1.0f, 0 };
  g_assert_cmpfloat_with_epsilon (
      res->trace.objective[0], score_objective (x0, &plain), 1e-4);
}

static void
test_transform_gradients (void)
{
  g_autoptr (SdModel) m = test_model (2);
  SdRegularizer scale = sd_regularizer_default (SD_REG_SCALE);
  scale.param = scale.param2 = 1.7f;
  check_transform (m, &scale, 1, 41);
  SdRegularizer jitter = sd_regularizer_default (SD_REG_JITTER);
  jitter.param = 5.0f;
  /* several seeds: different shifts, including negative ones */
  for (guint32 s = 42; s < 46; s++)
    check_transform (m, &jitter, 1, s);
  SdRegularizer both[2] = { jitter, sd_regularizer_default (SD_REG_SCALE) };
  both[1].param = 0.6f;
  both[1].param2 = 1.4f;
  check_transform (m, both, 2, 47);
  check_transform (m, both, 2, 48);
}

/* ---- diversity ---- */

typedef struct
{
  SdModel *m;
  SdWorkspace *ws;
  float *xs; /* (n, TT), one entry of which the FD moves */
  int n;
} DivFx;

/* D = mean over pairs of cos (gap_i, gap_j), |f| = sqrt (f.f + 1e-8) */
static double
diversity_of (SdModel *m, SdWorkspace *ws, const float *xs, int n)
{
  sd_model_forward (m, ws, xs, n, TT);
  int C, L;
  const float *f = sd_workspace_get_layer_output (
      ws, sd_model_find_layer (m, "gap"), &C, &L);
  double D = 0.0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double dot = 0.0, ni = 1e-8, nj = 1e-8;
      for (int c = 0; c < C; c++) {
        dot += (double) f[i * C + c] * f[j * C + c];
        ni += (double) f[i * C + c] * f[i * C + c];
        nj += (double) f[j * C + c] * f[j * C + c];
      }
      D += dot / sqrt (ni * nj);
    }
  return D / (0.5 * n * (n - 1));
}

static double
score_diversity (const float *x, gpointer data)
{
  DivFx *f = data;
  return diversity_of (f->m, f->ws, x, f->n);
}

static void
test_diversity_gradient (void)
{
  g_autoptr (SdModel) m = test_model (2);
  enum
  {
    N = 3
  };
  float xs[N * TT], g[N * TT];
  double fd[FD_N * N * TT];
  fill_random (xs, N * TT, 51, 1.5);
  SdDreamConfig c;
  one_step_config (&c, m);
  c.diversity = 2.0f;
  SdDreamSpec specs[N];
  for (int i = 0; i < N; i++) {
    SdObjective o = sd_objective_centered (i % 2);
    o.terms[0].weight = 0.0f;
    specs[i] = series_spec (o, xs + i * TT);
  }
  engine_gradient (m, &c, specs, N, g);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, N, TT, SD_MODE_EVAL, NULL);
  DivFx f = { m, ws, xs, N };
  /* J = ... - diversity * D */
  fd_gradient (score_diversity, &f, xs, N * TT, -2.0, fd);
  assert_gradient_close (g, fd, N * TT, 1e-2);
  /* the term is why the dreams differ: it pushes their features apart */
  for (int k = 0; k < N * TT; k++)
    xs[k] += 0.05f * g[k];
  double D1 = diversity_of (m, ws, xs, N);
  for (int k = 0; k < N * TT; k++)
    xs[k] -= 0.05f * g[k];
  g_assert_cmpfloat (D1, <, diversity_of (m, ws, xs, N));
}

/* ---- whole runs ---- */

static SdDreamSpec
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

static void
realistic_config (SdDreamConfig *c, SdModel *m, int T, int steps)
{
  sd_dream_config_init (c, m);
  c->znormalize = FALSE;
  c->length = T;
  c->steps = steps;
  /* light penalties: the logits of an untrained model move ~100 times
   * less per unit of input than those of a trained one */
  SdRegularizer l2 = sd_regularizer_default (SD_REG_L2);
  l2.weight = 0.01f;
  sd_dream_config_add (c, l2);
  SdRegularizer tv = sd_regularizer_default (SD_REG_TV);
  tv.weight = 0.01f;
  sd_dream_config_add (c, tv);
  sd_dream_config_add (c, sd_regularizer_default (SD_REG_GAUSSIAN));
  SdRegularizer clip = sd_regularizer_default (SD_REG_CLIP);
  clip.param = -3.0f;
  clip.param2 = 3.0f;
  sd_dream_config_add (c, clip);
  sd_dream_config_add (c, sd_regularizer_default (SD_REG_JITTER));
  sd_dream_config_add (c, sd_regularizer_default (SD_REG_SCALE));
}

static void
test_determinism (void)
{
  g_autoptr (SdModel) m = test_model (2);
  enum
  {
    T = 64
  };
  SdDreamConfig c;
  realistic_config (&c, m, T, 30);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 2, T, NULL);
  SdDreamSpec specs[2] = { noise_spec (sd_objective_centered (0), 5),
    noise_spec (sd_objective_centered (0), 6) };
  specs[1].init.type = SD_INIT_UNIFORM;
  SdDreamResult *a[2], *b[2];
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, a, NULL));
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, b, NULL));
  for (int i = 0; i < 2; i++) {
    g_assert_cmpmem (
        a[i]->sequence, T * sizeof (float), b[i]->sequence, T * sizeof (float));
    g_assert_cmpmem (a[i]->trace.reg_values,
        a[i]->trace.n_steps * 6 * sizeof (float), b[i]->trace.reg_values,
        b[i]->trace.n_steps * 6 * sizeof (float));
  }
  /* another seed, another dream */
  specs[0].seed = 99;
  SdDreamResult *e[2];
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, e, NULL));
  g_assert_true (memcmp (e[0]->sequence, a[0]->sequence, T * sizeof (float)));
  g_assert_cmpmem (
      e[1]->sequence, T * sizeof (float), a[1]->sequence, T * sizeof (float));
  for (int i = 0; i < 2; i++) {
    sd_dream_result_free (a[i]);
    sd_dream_result_free (b[i]);
    sd_dream_result_free (e[i]);
  }
}

static void
test_init_types (void)
{
  g_autoptr (SdModel) m = test_model (2);
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = TT;
  c.steps = 1;
  c.lr = 1e-30f; /* the returned sequence is the initial one */
  c.keep_best = FALSE;
  SdDreamSpec s = noise_spec (sd_objective_centered (0), 3);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, NULL);
  const SdInitType types[]
      = { SD_INIT_GAUSSIAN, SD_INIT_UNIFORM, SD_INIT_ZEROS, SD_INIT_CONSTANT };
  for (guint k = 0; k < G_N_ELEMENTS (types); k++) {
    s.init.type = types[k];
    s.init.scale = 0.5f;
    g_autoptr (SdDreamResult) r = NULL;
    g_assert_true (sd_dreamer_run (d, &c, &s, 1, &r, NULL));
    double mean = 0.0, ms = 0.0, mx = 0.0;
    for (int t = 0; t < TT; t++) {
      mean += r->sequence[t] / TT;
      ms += r->sequence[t] * r->sequence[t] / TT;
      mx = MAX (mx, fabs (r->sequence[t]));
    }
    if (types[k] == SD_INIT_GAUSSIAN) {
      g_assert_cmpfloat (sqrt (ms), >, 0.3);
      g_assert_cmpfloat (sqrt (ms), <, 0.7);
    } else if (types[k] == SD_INIT_UNIFORM) {
      g_assert_cmpfloat (mx, <=, 0.5);
      g_assert_cmpfloat (mx, >, 0.3);
    } else {
      g_assert_cmpfloat_with_epsilon (
          mean, types[k] == SD_INIT_ZEROS ? 0.0 : 0.5, 1e-6);
      g_assert_cmpfloat_with_epsilon (ms, mean * mean, 1e-6);
    }
  }
}

static void
test_batch_equals_single (void)
{
  g_autoptr (SdModel) m = test_model (3);
  enum
  {
    T = 64,
    N = 4
  };
  SdDreamConfig c;
  realistic_config (&c, m, T, 60);
  /* some dreams stop, freeze and leave the batch, at different steps */
  c.stop_probability = 0.36f;
  c.border_tolerance = 0.04f;
  SdObjective neuron;
  memset (&neuron, 0, sizeof neuron);
  neuron.n_terms = 1;
  neuron.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 1.0f,
    .layer = 1,
    .channel = 2,
    .position = 20 };
  SdDreamSpec specs[N] = { noise_spec (sd_objective_centered (0), 1),
    noise_spec (sd_objective_centered (2), 2),
    noise_spec (sd_objective_border (1, 2), 3), noise_spec (neuron, 4) };
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, N, T, NULL);
  SdDreamResult *batch[N];
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dreamer_run (d, &c, specs, N, batch, &error));
  g_assert_no_error (error);
  gboolean some_stopped = FALSE;
  for (int i = 0; i < N; i++) {
    SdDreamResult *one;
    g_assert_true (sd_dreamer_run (d, &c, specs + i, 1, &one, &error));
    g_assert_cmpint (one->steps, ==, batch[i]->steps);
    g_assert_cmpint (one->converged, ==, batch[i]->converged);
    g_assert_cmpint (one->best_step, ==, batch[i]->best_step);
    for (int t = 0; t < T; t++)
      g_assert_cmpfloat_with_epsilon (
          one->sequence[t], batch[i]->sequence[t], 1e-5);
    g_assert_cmpfloat_with_epsilon (one->objective, batch[i]->objective,
        1e-5 * MAX (1.0, fabs (one->objective)));
    g_test_message (
        "dream %d: %d steps, p %g", i, batch[i]->steps, batch[i]->probability);
    some_stopped |= batch[i]->steps < c.steps;
    sd_dream_result_free (one);
    sd_dream_result_free (batch[i]);
  }
  g_assert_true (some_stopped);
}

static void
test_divergence (void)
{
  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 2, TT, NULL);
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = TT;
  c.steps = 20;

  /* a NaN in an initial series */
  float x[TT];
  fill_random (x, TT, 61, 1.0);
  x[5] = NAN;
  SdDreamSpec specs[2] = { noise_spec (sd_objective_centered (0), 1),
    series_spec (sd_objective_centered (1), x) };
  SdDreamResult *res[2] = { (SdDreamResult *) 1, (SdDreamResult *) 1 };
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_dreamer_run (d, &c, specs, 2, res, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_DIVERGED);
  g_assert_nonnull (strstr (error->message, "dream 1 diverged at step 0"));
  g_assert_nonnull (strstr (error->message, "index 5"));
  g_assert_null (res[0]);
  g_assert_null (res[1]);
  g_clear_error (&error);

  /* an exploding plain SGD: |x| grows 1000-fold per step until Inf */
  c.optimizer = SD_DREAM_OPT_SGD;
  c.momentum = 0.0f;
  c.lr = 1e4f;
  SdRegularizer l2 = sd_regularizer_default (SD_REG_L2);
  l2.weight = 1.6f;
  sd_dream_config_add (&c, l2);
  x[5] = 0.5f;
  g_assert_false (sd_dreamer_run (d, &c, specs, 1, res, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_DIVERGED);
  g_assert_nonnull (strstr (error->message, "dream 0 diverged at step"));
  g_assert_null (res[0]);
  g_clear_error (&error);

  /* the same dreamer still works afterwards */
  c.lr = 0.05f;
  c.optimizer = SD_DREAM_OPT_ADAM;
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, res, &error));
  g_assert_no_error (error);
  sd_dream_result_free (res[0]);
  sd_dream_result_free (res[1]);
}

typedef void (*Mutate) (SdDreamConfig *c, SdDreamSpec *s, int *n);

static void
mut_class (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0].class_a = 5;
}
static void
mut_border_same (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective = sd_objective_border (1, 1);
}
static void
mut_border_class (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective = sd_objective_border (0, -1);
}
static void
mut_layer (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_CHANNEL, .weight = 1, .layer = 99
  };
}
static void
mut_channel (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0] = (SdObjectiveTerm){
    .type = SD_OBJECTIVE_CHANNEL, .weight = 1, .layer = 0, .channel = 10
  };
}
static void
mut_position (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 1,
    .layer = 1,
    .channel = 0,
    .position = -(TT + 1) };
}
static void
mut_gap_position (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0] = (SdObjectiveTerm){ .type = SD_OBJECTIVE_NEURON,
    .weight = 1,
    .layer = 3,
    .channel = 0,
    .position = 1 };
}
static void
mut_terms (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.n_terms = 0;
}
static void
mut_weight (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->objective.terms[0].weight = INFINITY;
}
static void
mut_length (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->length = TT + 1;
}
static void
mut_steps (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->steps = 0;
}
static void
mut_lr (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->lr = 0.0f;
}
static void
mut_lr_nan (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->lr = NAN;
}
static void
mut_decay (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->lr_decay = 1.5f;
}
static void
mut_momentum (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->momentum = 1.0f;
}
static void
mut_tolerance (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  c->border_tolerance = -0.1f;
}
static void
mut_batch (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  *n = 3;
}
static void
mut_series (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  s->init.type = SD_INIT_SERIES;
  s->init.series = NULL;
}
static void
add_reg (SdDreamConfig *c, SdRegType type, float param, float param2)
{
  SdRegularizer r = sd_regularizer_default (type);
  r.param = param;
  r.param2 = param2;
  sd_dream_config_add (c, r);
}
static void
mut_sigma (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_GAUSSIAN, 0.0f, 0.0f);
}
static void
mut_alpha (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_EXP_SMOOTH, 1.5f, 0.0f);
}
static void
mut_alpha0 (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_EXP_SMOOTH_ZEROPHASE, 0.0f, 0.0f);
}
static void
mut_clip (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_CLIP, 1.0f, -1.0f);
}
static void
mut_norm (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_NORM_BOUND, -1.0f, 0.0f);
}
static void
mut_jitter (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_JITTER, (float) TT, 0.0f);
}
static void
mut_scale (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  add_reg (c, SD_REG_SCALE, 1.2f, 0.8f);
}
static void
mut_penalty (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  SdRegularizer r = sd_regularizer_default (SD_REG_TV);
  r.weight = -1.0f;
  sd_dream_config_add (c, r);
}
static void
mut_every (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  SdRegularizer r = sd_regularizer_default (SD_REG_L2);
  r.every = 0;
  sd_dream_config_add (c, r);
}
static void
mut_window (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  SdRegularizer r = sd_regularizer_default (SD_REG_L2);
  r.start = 0.5f;
  r.end = 0.5f;
  sd_dream_config_add (c, r);
}
static void
mut_window_end (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  SdRegularizer r = sd_regularizer_default (SD_REG_L2);
  r.end = 1.5f;
  sd_dream_config_add (c, r);
}
static void
mut_type (SdDreamConfig *c, SdDreamSpec *s, int *n)
{
  SdRegularizer r = sd_regularizer_default (SD_REG_L2);
  r.type = (SdRegType) 42;
  sd_dream_config_add (c, r);
}

static void
test_rejects_bad_config (void)
{
  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 2, TT, NULL);
  struct
  {
    Mutate mutate;
    const char *message;
  } cases[] = {
    { mut_class, "class 5 is not a class of the model (0..1)" },
    { mut_border_same, "two different classes" },
    { mut_border_class, "border classes 0 and -1" },
    { mut_layer, "layer 99 does not exist" },
    { mut_channel, "channel 10 is outside layer 0's channels 0..9" },
    { mut_position, "position -33 is outside -32..31" },
    { mut_gap_position, "position 1 is outside -1..0 for layer 3" },
    { mut_terms, "0 terms" },
    { mut_weight, "weight inf is not a finite number" },
    { mut_length, "length 33 is outside 1..32" },
    { mut_steps, "steps = 0" },
    { mut_lr, "learning rate 0 must be" },
    { mut_lr_nan, "learning rate nan" },
    { mut_decay, "decay 1.5 must be in (0, 1]" },
    { mut_momentum, "momentum 1 must be in [0, 1)" },
    { mut_tolerance, "border tolerance -0.1" },
    { mut_batch, "3 dreams do not fit this dreamer (1..2" },
    { mut_series, "without a series" },
    { mut_sigma, "gaussian): sigma 0 must be in (0, 32]" },
    { mut_alpha, "exp-smooth): alpha 1.5 must be in (0, 1]" },
    { mut_alpha0, "exp-smooth-zerophase): alpha 0" },
    { mut_clip, "lower bound 1 must be below the upper bound -1" },
    { mut_norm, "RMS bound -1" },
    { mut_jitter, "shift 32 must be in [0, 32)" },
    { mut_scale, "factor range [1.2, 0.8]" },
    { mut_penalty, "tv): weight -1 must be" },
    { mut_every, "every = 0 must be at least 1" },
    { mut_window, "window [0.5, 0.5)" },
    { mut_window_end, "window [0, 1.5)" },
    { mut_type, "unknown type 42" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    SdDreamConfig c;
    sd_dream_config_init (&c, m);
    c.znormalize = FALSE;
    c.length = TT;
    c.steps = 3;
    SdDreamSpec s[3];
    for (int i = 0; i < 3; i++)
      s[i] = noise_spec (sd_objective_centered (0), i);
    int n = 1;
    cases[k].mutate (&c, s, &n);
    SdDreamResult *res[3] = { NULL, NULL, NULL };
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_dreamer_run (d, &c, s, n, res, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    if (strstr (error->message, cases[k].message) == NULL)
      g_error ("case %u: '%s' does not contain '%s'", k, error->message,
          cases[k].message);
    g_assert_null (res[0]);
  }
}

static void
test_trace_and_keep_best (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  enum
  {
    T = 64,
    STEPS = 80
  };
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = T;
  c.steps = STEPS;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, T, NULL);
  SdDreamSpec s = noise_spec (sd_objective_centered (1), 9);

  /* Adam on a logit alone: the objective climbs, with few setbacks */
  g_autoptr (SdDreamResult) plain = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &plain, NULL));
  g_assert_cmpint (plain->trace.n_regs, ==, 0);
  g_assert_null (plain->trace.reg_values);
  int down = 0;
  for (int k = 1; k < plain->trace.n_steps; k++)
    down += plain->trace.objective[k] < plain->trace.objective[k - 1];
  g_assert_cmpint (down, <, STEPS / 10);
  g_assert_cmpfloat (
      plain->trace.objective[STEPS], >, plain->trace.objective[0] + 2.0f);

  /* with penalties the objective peaks and comes back down a little */
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_L2));
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_TV2));
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_EXP_SMOOTH));
  g_autoptr (SdDreamResult) r = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &r, NULL));
  const SdDreamTrace *tr = &r->trace;
  /* entry s is the sequence after s updates: 0 .. steps */
  g_assert_cmpint (r->steps, ==, STEPS);
  g_assert_cmpint (tr->n_steps, ==, STEPS + 1);
  g_assert_cmpint (tr->n_regs, ==, 3);
  g_assert_false (r->converged);
  /* keep-best: the highest objective of the trace, re-evaluated */
  int best = 1; /* entry 0, the initialisation, is never returned */
  for (int k = 1; k < tr->n_steps; k++)
    if (tr->objective[k] > tr->objective[best])
      best = k;
  g_assert_cmpint (r->best_step, ==, best);
  g_assert_cmpint (best, >, 0);
  g_assert_cmpint (best, <, STEPS);
  g_assert_cmpfloat_with_epsilon (r->objective, tr->objective[best], 1e-5);
  g_assert_cmpfloat_with_epsilon (r->logits[1], r->objective, 1e-6);
  g_assert_cmpfloat_with_epsilon (
      r->logit_margin, r->logits[1] - r->logits[0], 1e-6);
  g_assert_cmpfloat_with_epsilon (r->probability, r->probabilities[1], 1e-7);
  g_assert_cmpfloat_with_epsilon (
      r->probabilities[0] + r->probabilities[1], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (r->probability, tr->probability[best], 1e-6);
  /* penalties: weight * P at every entry; the filter acts every 10 steps:
   * entries 1, 11, 21, ... show its change */
  double l2 = 0.0;
  for (int t = 0; t < T; t++)
    l2 += (double) r->sequence[t] * r->sequence[t] / T;
  g_assert_cmpfloat_with_epsilon (tr->reg_values[best], l2, 1e-5);
  const float *smooth = tr->reg_values + 2 * tr->n_steps;
  for (int k = 0; k < tr->n_steps; k++) {
    if (k % 10 == 1)
      g_assert_cmpfloat (smooth[k], >, 0.0f);
    else
      g_assert_cmpfloat (smooth[k], ==, 0.0f);
  }

  /* the returned values are those of a fresh forward of the sequence */
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, T, SD_MODE_EVAL, NULL);
  const float *z = sd_model_forward (m, ws, r->sequence, 1, T);
  g_assert_cmpmem (z, 2 * sizeof (float), r->logits, 2 * sizeof (float));

  /* without keep-best the last sequence comes back */
  c.keep_best = FALSE;
  g_autoptr (SdDreamResult) last = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &last, NULL));
  g_assert_cmpint (last->best_step, ==, STEPS);
  g_assert_cmpfloat_with_epsilon (
      last->objective, last->trace.objective[STEPS], 1e-5);
}

static void
test_stopping (void)
{
  g_autoptr (SdModel) m = confident_model (3);
  enum
  {
    T = 64
  };
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = T;
  c.steps = 300;
  c.stop_probability = 0.95f;
  c.border_tolerance = 0.005f;
  SdRegularizer l2 = sd_regularizer_default (SD_REG_L2);
  l2.weight = 0.01f;
  sd_dream_config_add (&c, l2);
  SdRegularizer tv = sd_regularizer_default (SD_REG_TV);
  tv.weight = 0.01f;
  sd_dream_config_add (&c, tv);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 3, T, NULL);
  /* (class 2 of this random model is out of reach: the features it
   * weighs positively are dead for every input the ascent finds) */
  SdDreamSpec specs[3] = { noise_spec (sd_objective_centered (0), 1),
    noise_spec (sd_objective_border (0, 1), 2),
    noise_spec (sd_objective_border (0, 2), 3) };
  SdDreamResult *r[3];
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dreamer_run (d, &c, specs, 3, r, &error));
  for (int i = 0; i < 3; i++) {
    const SdDreamTrace *tr = &r[i]->trace;
    g_assert_true (r[i]->converged);
    g_assert_cmpint (r[i]->steps, <, c.steps);
    g_assert_cmpint (tr->n_steps, ==, r[i]->steps + 1);
    g_assert_cmpint (r[i]->best_step, ==, r[i]->steps);
    /* the stop entry is the first that meets the criterion */
    for (int k = 0; k < tr->n_steps; k++) {
      gboolean met = i == 0 ? tr->probability[k] >= 0.95f
                            : fabsf (tr->probability[k] - 0.5f) <= 0.005f;
      g_assert_cmpint (met, ==, k == tr->n_steps - 1);
    }
    if (i == 0) {
      g_assert_cmpfloat (r[i]->probability, >=, 0.95f);
    } else {
      /* border: p_a / (p_a + p_b) within tol of 1/2 */
      int a = specs[i].objective.terms[0].class_a;
      int b = specs[i].objective.terms[0].class_b;
      double q = r[i]->probabilities[a]
                 / (r[i]->probabilities[a] + r[i]->probabilities[b]);
      g_assert_cmpfloat_with_epsilon (r[i]->probability, q, 1e-6);
      g_assert_cmpfloat (fabs (q - 0.5), <=, 0.005 + 1e-6);
      g_assert_cmpfloat_with_epsilon (
          r[i]->logit_margin, r[i]->logits[a] - r[i]->logits[b], 1e-6);
    }
    /* the trace rows were laid out for all steps; now for n_steps */
    double tv_x = 0.0;
    for (int t = 0; t + 1 < T; t++)
      tv_x += fabs (r[i]->sequence[t + 1] - r[i]->sequence[t]) / (T - 1);
    g_assert_cmpfloat_with_epsilon (
        tr->reg_values[tr->n_steps + tr->n_steps - 1], 0.01 * tv_x, 1e-7);
  }
  for (int i = 0; i < 3; i++)
    sd_dream_result_free (r[i]);
}

static void
test_optimizers_and_schedule (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  enum
  {
    T = 48
  };
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, T, NULL);
  float x0[T];
  fill_random (x0, T, 71, 1.0);
  SdDreamSpec s = series_spec (sd_objective_centered (0), x0);

  /* the gradients g0 at x0 and g1 at x1 = x0 + 0.01 g0 */
  float g0[T], x1[T], g1[T];
  SdDreamConfig one;
  one_step_config (&one, m);
  one.length = T;
  engine_gradient_at (m, &one, &s, g0, T);
  for (int t = 0; t < T; t++)
    x1[t] = x0[t] + 0.01f * g0[t];
  SdDreamSpec s1 = series_spec (sd_objective_centered (0), x1);
  engine_gradient_at (m, &one, &s1, g1, T);

  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = T;
  c.steps = 1;
  c.keep_best = FALSE;
  /* the first Adam step is lr g / (|g| + 1e-8): about lr sign (g) */
  g_autoptr (SdDreamResult) a = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &a, NULL));
  for (int t = 0; t < T; t++)
    g_assert_cmpfloat_with_epsilon (
        a->sequence[t], x0[t] + 0.05f * g0[t] / (fabsf (g0[t]) + 1e-8f), 1e-6);
  /* normalised ascent: a step of RMS exactly lr */
  c.optimizer = SD_DREAM_OPT_NORMALIZED;
  c.lr = 0.3f;
  g_autoptr (SdDreamResult) nr = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &nr, NULL));
  g_assert_cmpfloat_with_epsilon (rms_diff (nr->sequence, x0, T), 0.3, 1e-6);
  /* gradient clipping by RMS, then plain SGD: a step of RMS lr * clip */
  c.optimizer = SD_DREAM_OPT_SGD;
  c.lr = 2.0f;
  c.grad_clip = 1e-3f;
  g_autoptr (SdDreamResult) cl = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &cl, NULL));
  g_assert_cmpfloat_with_epsilon (rms_diff (cl->sequence, x0, T), 2e-3, 1e-7);
  /* SGD momentum and lr decay: step 1 moves by lr decay (mu g0 + g1) */
  c.grad_clip = 0.0f;
  c.lr = 0.01f;
  c.momentum = 0.5f;
  c.lr_decay = 0.5f;
  c.steps = 2;
  g_autoptr (SdDreamResult) sg = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &sg, NULL));
  for (int t = 0; t < T; t++)
    g_assert_cmpfloat_with_epsilon (
        sg->sequence[t], x1[t] + 0.005f * (0.5f * g0[t] + g1[t]), 1e-6);
}

static void
test_reg_names_and_defaults (void)
{
  const char *names[]
      = { "l1", "l2", "tv", "tv2", "exp-smooth", "exp-smooth-zerophase",
          "gaussian", "clip", "norm-bound", "jitter", "scale" };
  for (guint k = 0; k < G_N_ELEMENTS (names); k++) {
    SdRegType t;
    g_assert_true (sd_reg_type_from_string (names[k], &t));
    g_assert_cmpint (t, ==, (int) k);
    g_assert_cmpstr (sd_reg_type_to_string (t), ==, names[k]);
  }
  SdRegType t;
  g_assert_false (sd_reg_type_from_string ("blur", &t));
  g_assert_false (sd_reg_type_from_string (NULL, &t));
  g_assert_null (sd_reg_type_to_string ((SdRegType) 99));

  /* every default is a valid configuration and runs */
  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, 64, NULL);
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  c.length = 64;
  c.steps = 12;
  for (guint k = 0; k < G_N_ELEMENTS (names); k++) {
    SdRegularizer r = sd_regularizer_default ((SdRegType) k);
    g_assert_cmpint (r.type, ==, (int) k);
    g_assert_cmpint (r.every, >=, 1);
    g_assert_cmpfloat (r.start, ==, 0.0f);
    g_assert_cmpfloat (r.end, ==, 1.0f);
    g_assert_true (sd_dream_config_add (&c, r));
  }
  SdDreamSpec s = noise_spec (sd_objective_centered (0), 1);
  g_autoptr (SdDreamResult) res = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &res, &error));
  g_assert_no_error (error);
  /* the list is bounded */
  while (c.n_regs < SD_DREAM_MAX_REGS)
    g_assert_true (sd_dream_config_add (&c, sd_regularizer_default (0)));
  g_assert_false (sd_dream_config_add (&c, sd_regularizer_default (0)));

  /* config defaults */
  sd_model_set_train_length (m, 123);
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  g_assert_cmpint (c.length, ==, 123);
  g_assert_cmpint (c.steps, ==, 500);
  g_assert_cmpint (c.optimizer, ==, SD_DREAM_OPT_ADAM);
  g_assert_cmpfloat (c.lr, ==, 0.05f);
  g_assert_cmpfloat (c.border_tolerance, ==, 0.005f);
  g_assert_true (c.keep_best);
}

static void
test_denormalize (void)
{
  g_autoptr (SdModel) m = test_model (2);
  float x[3] = { -1.0f, 0.0f, 2.0f };
  sd_dream_denormalize (m, x, 3); /* per-series: unchanged */
  g_assert_cmpfloat (x[0], ==, -1.0f);
  sd_model_set_normalization (m, (SdNormalization){ SD_NORM_FIXED, 2, 3 });
  sd_dream_denormalize (m, x, 3);
  g_assert_cmpfloat (x[0], ==, -1.0f);
  g_assert_cmpfloat (x[1], ==, 2.0f);
  g_assert_cmpfloat (x[2], ==, 8.0f);
}

/* ---- spectra ---- */

/* The normalised power spectrum of docs/dreaming.md, by hand: mean
 * removed, periodic Hann window, one-sided |DFT|^2 with the bins between
 * DC and Nyquist doubled, divided by the sum. FALSE for no power. */
static gboolean
spectrum_by_hand (const float *x, int T, double *p)
{
  const int nb = T / 2 + 1;
  double mean = 0.0, total = 0.0;
  for (int t = 0; t < T; t++)
    mean += x[t];
  mean /= T;
  for (int k = 0; k < nb; k++) {
    double re = 0.0, im = 0.0;
    for (int t = 0; t < T; t++) {
      double w = 0.5 - 0.5 * cos (2.0 * G_PI * t / T);
      double v = (x[t] - mean) * w;
      re += v * cos (2.0 * G_PI * k * t / T);
      im -= v * sin (2.0 * G_PI * k * t / T);
    }
    p[k] = (k == 0 || 2 * k == T ? 1.0 : 2.0) * (re * re + im * im);
    total += p[k];
  }
  if (!(total > 1e-20))
    return FALSE;
  for (int k = 0; k < nb; k++)
    p[k] /= total;
  return TRUE;
}

static void
test_power_spectrum (void)
{
  const int lengths[] = { TT, 33 };
  for (guint n = 0; n < G_N_ELEMENTS (lengths); n++) {
    const int T = lengths[n], nb = T / 2 + 1;
    g_assert_cmpint (sd_dream_spectrum_bins (T), ==, nb);
    float x[33], p[17];
    double e[17];
    fill_random (x, T, 40 + n, 2.0);
    g_assert_true (sd_dream_power_spectrum (x, T, p));
    g_assert_true (spectrum_by_hand (x, T, e));
    double sum = 0.0;
    for (int k = 0; k < nb; k++) {
      g_assert_cmpfloat_with_epsilon (p[k], e[k], 1e-6);
      sum += p[k];
    }
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
    /* a sinusoid on bin 5 (plus an offset): the spectrum peaks there */
    for (int t = 0; t < T; t++)
      x[t] = 3.0f + (float) cos (2.0 * G_PI * 5 * t / T + 0.3);
    g_assert_true (sd_dream_power_spectrum (x, T, p));
    for (int k = 0; k < nb; k++)
      if (k != 5)
        g_assert_cmpfloat (p[k], <, p[5]);
    /* a constant has none */
    for (int t = 0; t < T; t++)
      x[t] = -2.0f;
    p[0] = 7.0f;
    g_assert_false (sd_dream_power_spectrum (x, T, p));
    g_assert_cmpfloat (p[0], ==, 7.0f);
  }
}

/* Class spectra: the mean of the segments' spectra per class (segments of
 * T with hop T/2, the last ending at the series' end), NaN for a class
 * without series; labels and lengths are checked. */
static void
test_class_spectra (void)
{
  enum
  {
    L = 2 * TT,
    N = 4,
    NB = TT / 2 + 1
  };
  g_autoptr (SdModel) m3 = test_model (3);
  float x[N * L];
  int y[N] = { 0, 1, 0, 1 };
  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  for (int i = 0; i < N; i++)
    for (int t = 0; t < L; t++)
      x[i * L + t]
          = (float) (5.0 * sin (2.0 * G_PI * (y[i] ? 9 : 3) * t / TT + i)
                     + g_rand_double_range (r, -1.0, 1.0));
  char *labels[] = { "a", "b", NULL };
  SdDataset ds = {
    .n = N, .length = L, .x = x, .y = y, .n_classes = 2, .labels = labels
  };
  float spectra[3 * (L / 2 + 1)]; /* room for T = L too */
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dream_class_spectra (m3, &ds, TT, spectra, &error));
  g_assert_no_error (error);
  for (int c = 0; c < 2; c++) {
    double e[NB] = { 0 }, p[NB];
    for (int i = 0; i < N; i++) {
      if (y[i] != c)
        continue;
      /* 3 segments: 0, 16, 32 */
      for (int s = 0; s < 3; s++) {
        g_assert_true (spectrum_by_hand (x + i * L + s * TT / 2, TT, p));
        for (int k = 0; k < NB; k++)
          e[k] += p[k] / 6.0;
      }
    }
    for (int k = 0; k < NB; k++)
      g_assert_cmpfloat_with_epsilon (spectra[c * NB + k], e[k], 1e-6);
    g_assert_cmpfloat (spectra[c * NB + (c ? 9 : 3)], >, 0.5f);
  }
  for (int k = 0; k < NB; k++)
    g_assert_true (isnan (spectra[2 * NB + k]));

  /* series of exactly T: one segment each */
  g_assert_true (sd_dream_class_spectra (m3, &ds, L, spectra, &error));
  double p[L / 2 + 1];
  g_assert_true (spectrum_by_hand (x, L, p));
  double e3 = p[3];
  g_assert_true (spectrum_by_hand (x + 2 * L, L, p));
  g_assert_cmpfloat_with_epsilon (spectra[3], (e3 + p[3]) / 2, 1e-6);

  /* shorter series, foreign labels, more classes than the model */
  g_assert_false (sd_dream_class_spectra (m3, &ds, L + 1, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_clear_error (&error);
  labels[1] = "z";
  g_assert_false (sd_dream_class_spectra (m3, &ds, TT, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "'z'"));
  g_clear_error (&error);
  g_autoptr (SdModel) m1 = new_model ("resnet-small", 2, 1);
  char *three[] = { "-1", "1", "2", NULL };
  ds.labels = three;
  ds.n_classes = 3;
  g_assert_false (sd_dream_class_spectra (m1, &ds, TT, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

/* Three made-up class spectra of TT / 2 + 1 bins (rows sum to 1). */
static void
make_spectra (float *s)
{
  const int nb = TT / 2 + 1;
  for (int c = 0; c < 3; c++) {
    double sum = 0.0;
    for (int k = 0; k < nb; k++) {
      double v = exp (-0.5 * pow (k - 3.0 - 4.0 * c, 2)) + 1e-5 * k;
      s[c * nb + k] = (float) v;
      sum += v;
    }
    for (int k = 0; k < nb; k++)
      s[c * nb + k] /= (float) sum;
  }
}

/* The dream's target row: its class (own = TRUE) or the mean of all. */
static void
target_spectrum (
    const float *spectra, const SdObjective *o, gboolean own, int K, double *q)
{
  const int nb = TT / 2 + 1;
  const SdObjectiveTerm *t = &o->terms[0];
  for (int k = 0; k < nb; k++) {
    double v = 0.0;
    if (!own) {
      for (int c = 0; c < K; c++)
        v += spectra[c * nb + k] / K;
    } else if (t->type == SD_OBJECTIVE_BORDER) {
      v = 0.5 * (spectra[t->class_a * nb + k] + spectra[t->class_b * nb + k]);
    } else {
      v = spectra[t->class_a * nb + k];
    }
    q[k] = v;
  }
}

typedef struct
{
  const double *q;
  double eps, weight;
} SpecFx;

/* weight * (1/nb) sum_k (log (p_k + eps) - log (q_k + eps))^2 */
static double
score_spectrum (const float *x, gpointer data)
{
  const SpecFx *f = data;
  const int nb = TT / 2 + 1;
  double p[TT / 2 + 1], s = 0.0;
  if (!spectrum_by_hand (x, TT, p))
    return 0.0;
  for (int k = 0; k < nb; k++) {
    double d = log (p[k] + f->eps) - log (f->q[k] + f->eps);
    s += d * d;
  }
  return f->weight * s / nb;
}

static void
test_spectrum_penalty_gradient (void)
{
  g_autoptr (SdModel) m = test_model (3);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  struct
  {
    SdObjective o;
    gboolean own;
    double eps;
  } cases[] = {
    { sd_objective_centered (1), TRUE, 1e-3 },
    { sd_objective_border (0, 2), TRUE, 1e-2 },
    { sd_objective_centered (2), FALSE, 1e-3 },
  };
  for (guint n = 0; n < G_N_ELEMENTS (cases); n++) {
    const float w = 3.0f;
    SdDreamConfig c;
    one_step_config (&c, m);
    SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRUM);
    g_assert_cmpfloat (reg.weight, ==, 1.0f);
    g_assert_cmpfloat (reg.param, ==, 1e-4f);
    g_assert_cmpfloat (reg.param2, ==, 0.0f);
    reg.weight = w;
    reg.param = (float) cases[n].eps;
    reg.param2 = cases[n].own ? 1.0f : 0.0f;
    reg.spectra = spectra;
    sd_dream_config_add (&c, reg);
    SdObjective o = cases[n].o;
    o.terms[0].weight = 0.0f;
    float x0[TT], g[TT];
    fill_random (x0, TT, 50 + n, 1.0);
    SdDreamSpec spec = series_spec (o, x0);
    double q[TT / 2 + 1], fd[FD_N * TT];
    target_spectrum (spectra, &o, cases[n].own, 3, q);
    SpecFx f = { q, (float) cases[n].eps, w };

    g_autoptr (GError) error = NULL;
    g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, &error);
    g_autoptr (SdDreamResult) res = NULL;
    g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
    g_assert_no_error (error);
    /* the traced value is weight * P (x0) */
    g_assert_cmpfloat_with_epsilon (
        res->trace.reg_values[0], score_spectrum (x0, &f), 1e-4);
    for (int t = 0; t < TT; t++)
      g[t] = res->sequence[t] - x0[t];
    /* J = objective - penalty */
    fd_gradient (score_spectrum, &f, x0, TT, -1.0, fd);
    assert_gradient_close (g, fd, TT, 1e-2);
    /* the normalised spectrum ignores offset and gain: the gradient is
     * orthogonal to constants and to x - mean */
    double sg = 0.0, sgx = 0.0, mean = 0.0, gn = 0.0, xn = 0.0;
    for (int t = 0; t < TT; t++)
      mean += x0[t] / TT;
    for (int t = 0; t < TT; t++) {
      sg += g[t];
      sgx += g[t] * (x0[t] - mean);
      gn += (double) g[t] * g[t];
      xn += (x0[t] - mean) * (x0[t] - mean);
    }
    g_assert_cmpfloat (fabs (sg), <, 1e-4 * sqrt (gn * TT));
    g_assert_cmpfloat (fabs (sgx), <, 1e-4 * sqrt (gn * xn));
  }
}

/* The circular filter with the Wiener gains q / (q + 10^(-dB/10) max q). */
static void
wiener_by_hand (const float *x, const double *q, double db, float *y)
{
  const int nb = TT / 2 + 1;
  double qmax = 0.0, h[TT / 2 + 1];
  for (int k = 0; k < nb; k++)
    qmax = MAX (qmax, q[k]);
  for (int k = 0; k < nb; k++)
    h[k] = q[k] / (q[k] + qmax * pow (10.0, -db / 10.0));
  for (int t = 0; t < TT; t++) {
    double s = 0.0;
    for (int k = 0; k < TT; k++) {
      double re = 0.0, im = 0.0;
      for (int u = 0; u < TT; u++) {
        re += x[u] * cos (2.0 * G_PI * k * u / TT);
        im -= x[u] * sin (2.0 * G_PI * k * u / TT);
      }
      double hk = h[k <= TT / 2 ? k : TT - k];
      s += hk
           * (re * cos (2.0 * G_PI * k * t / TT)
               - im * sin (2.0 * G_PI * k * t / TT));
    }
    y[t] = (float) (s / TT);
  }
}

static void
test_spectral_filter (void)
{
  g_autoptr (SdModel) m = test_model (3);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (reg.param, ==, 40.0f);
  g_assert_cmpint (reg.every, ==, 1);
  reg.param = 20.0f;
  reg.spectra = spectra;
  float x[TT], y[TT], e[TT], change;
  double q[TT / 2 + 1];
  fill_random (x, TT, 61, 1.0);

  /* on the sequence: the default target is the mean of all classes */
  SdObjective o = sd_objective_centered (0);
  target_spectrum (spectra, &o, FALSE, 3, q);
  apply_one (m, reg, x, TT, y, &change);
  wiener_by_hand (x, q, 20.0, e);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);
  g_assert_cmpfloat_with_epsilon (change, rms_diff (x, y, TT), 1e-6);
  /* a component where the spectrum is high passes, one where it is low
   * is removed: bin 7 (q at the peak of the mean) vs 16 (Nyquist, q ~ 5e-4
   * of the peak) */
  float s7[TT], s16[TT];
  for (int t = 0; t < TT; t++) {
    s7[t] = (float) cos (2.0 * G_PI * 7 * t / TT);
    s16[t] = (float) cos (G_PI * t);
  }
  apply_one (m, reg, s7, TT, y, NULL);
  g_assert_cmpfloat (rms_diff (y, s7, TT), <, 0.05);
  apply_one (m, reg, s16, TT, y, NULL);
  double r16 = 0.0;
  for (int t = 0; t < TT; t++)
    r16 += y[t] * y[t] / TT;
  g_assert_cmpfloat (sqrt (r16), <, 0.1);

  /* on the gradient, with the dream's own class: x1 = x0 + H (g) */
  SdDreamConfig c;
  one_step_config (&c, m);
  o = sd_objective_centered (2);
  SdDreamSpec spec = series_spec (o, x);
  float g[TT], hg[TT];
  engine_gradient (m, &c, &spec, 1, g);
  reg.apply_to = SD_APPLY_GRADIENT;
  reg.param2 = 1.0f;
  sd_dream_config_add (&c, reg);
  engine_gradient (m, &c, &spec, 1, hg);
  target_spectrum (spectra, &o, TRUE, 3, q);
  wiener_by_hand (g, q, 20.0, e);
  double scale = 0.0;
  for (int t = 0; t < TT; t++)
    scale = MAX (scale, fabs (e[t]));
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (hg[t], e[t], 1e-4 * scale);
}

/* Smoothing the target spectrum: the Gaussian of doc (bins 1..nb-1,
 * half-sample reflection, 4 sigma), bin 0 kept; a comb (a periodic
 * signal's lines) is flattened, so the filter passes every frequency of
 * the band alike, and a constant (DC) is still removed. */
static void
test_spectral_filter_smooth (void)
{
  g_autoptr (SdModel) m = test_model (3);
  const int nb = TT / 2 + 1, n = nb - 1;
  float spectra[3 * (TT / 2 + 1)];
  for (int c = 0; c < 3; c++)
    for (int k = 0; k < nb; k++)
      spectra[c * nb + k] = k == 0 ? 0.0f : (k % 2 ? 1.0f : 0.01f);
  const double sigma = 1.0; /* the kernel stays inside bins 1..16 for
                             * the bins checked below */
  SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (reg.smooth, ==, 0.0f);
  reg.param = 20.0f;
  reg.smooth = (float) (sigma / TT);
  reg.spectra = spectra;

  /* by hand */
  double q[TT / 2 + 1], w[5], z = 0.0;
  for (int j = 0; j <= 4; j++) {
    w[j] = exp (-j * j / (2.0 * sigma * sigma));
    z += j ? 2.0 * w[j] : w[j];
  }
  q[0] = 0.0;
  for (int k = 0; k < n; k++) {
    double v = 0.0;
    for (int j = -4; j <= 4; j++) {
      int i = k + j;
      while (i < 0 || i >= n) /* d c b a | a b c d | d c b a */
        i = i < 0 ? -1 - i : 2 * n - 1 - i;
      v += w[abs (j)] * spectra[i + 1];
    }
    q[k + 1] = v / z;
  }
  /* the comb is flattened away from the edges: 1 and 0.01 alternate
   * before (+-98 % of their mean), within +-1.5 % after (a comb of
   * spacing 2 bins keeps 2 exp (-pi^2 sigma^2 / 2) of its ripple) */
  for (int k = 5; k < nb - 5; k++)
    g_assert_cmpfloat (fabs (q[k] / q[k + 1] - 1.0), <, 0.03);
  float x[TT], y[TT], e[TT];
  fill_random (x, TT, 62, 1.0);
  apply_one (m, reg, x, TT, y, NULL);
  wiener_by_hand (x, q, 20.0, e);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);
  /* DC: gain 0 before and after smoothing */
  for (int t = 0; t < TT; t++)
    x[t] = 0.7f;
  apply_one (m, reg, x, TT, y, NULL);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (fabs (y[t]), <, 1e-6);
}

/* ---- FEATURE: the pooled-feature anchor ---- */

typedef struct
{
  SdModel *m;
  SdWorkspace *ws;
  const float *mu;
  double w;
} FeatFx;

/* w sum_c (f_c (x) - mu_c)^2, f from a plain forward */
static double
score_feature (const float *x, gpointer data)
{
  const FeatFx *f = data;
  sd_model_forward (f->m, f->ws, x, 1, TT);
  int C, L;
  const float *g = sd_workspace_get_layer_output (
      f->ws, sd_model_find_layer (f->m, "gap"), &C, &L);
  double v = 0.0;
  for (int c = 0; c < C; c++)
    v += ((double) g[c] - f->mu[c]) * ((double) g[c] - f->mu[c]);
  return f->w * v;
}

/* The engine's gradient is -d/dx of w |f - mu|^2 (finite differences),
 * the traced value w |f (x0) - mu|^2, mu the dream's class row (border:
 * the mean of its two rows); with the objective too, keep-best ranks by
 * the objective minus the penalty. */
static void
test_feature_penalty (void)
{
  g_autoptr (SdModel) m = test_model (3);
  const int C = sd_dream_feature_size (m);
  g_assert_cmpint (C, ==, 20); /* resnet-small: 10, 20, 20 */
  g_autofree float *feat = g_new (float, 3 * C);
  fill_random (feat, 3 * C, 70, 0.5);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, TT, SD_MODE_EVAL, NULL);
  struct
  {
    SdObjective o;
    int a, b;
  } cases[] = {
    { sd_objective_centered (1), 1, 1 },
    { sd_objective_border (0, 2), 0, 2 },
  };
  for (guint n = 0; n < G_N_ELEMENTS (cases); n++) {
    SdDreamConfig c;
    one_step_config (&c, m);
    SdRegularizer reg = sd_regularizer_default (SD_REG_FEATURE);
    g_assert_cmpfloat (reg.weight, ==, 0.1f);
    reg.weight = 2.0f;
    reg.features = feat;
    sd_dream_config_add (&c, reg);
    SdObjective o = cases[n].o;
    o.terms[0].weight = 0.0f;
    float x0[TT], g[TT];
    fill_random (x0, TT, 80 + n, 1.0);
    SdDreamSpec spec = series_spec (o, x0);
    g_autofree float *mu = g_new (float, C);
    for (int k = 0; k < C; k++)
      mu[k] = 0.5f * (feat[cases[n].a * C + k] + feat[cases[n].b * C + k]);
    FeatFx f = { m, ws, mu, 2.0 };
    g_autoptr (GError) error = NULL;
    g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, &error);
    g_autoptr (SdDreamResult) res = NULL;
    g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
    g_assert_no_error (error);
    const double v0 = score_feature (x0, &f);
    g_assert_cmpfloat (v0, >, 0.0);
    g_assert_cmpfloat_with_epsilon (
        res->trace.reg_values[0], v0, 1e-4 * MAX (1.0, v0));
    for (int t = 0; t < TT; t++)
      g[t] = res->sequence[t] - x0[t];
    double fd[FD_N * TT];
    fd_gradient (score_feature, &f, x0, TT, -1.0, fd);
    assert_gradient_close (g, fd, TT, 1e-2);
  }

  /* keep-best: a run that only lowers the penalty (objective weight 0)
   * keeps its last step, whose penalty is the lowest */
  SdDreamConfig c;
  one_step_config (&c, m);
  c.steps = 20;
  c.lr = 0.05f;
  c.optimizer = SD_DREAM_OPT_ADAM;
  c.keep_best = TRUE;
  SdRegularizer reg = sd_regularizer_default (SD_REG_FEATURE);
  reg.features = feat;
  sd_dream_config_add (&c, reg);
  SdObjective o = sd_objective_centered (1);
  o.terms[0].weight = 0.0f;
  float x0[TT];
  fill_random (x0, TT, 90, 1.0);
  SdDreamSpec spec = series_spec (o, x0);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, &error);
  g_autoptr (SdDreamResult) res = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  const float *pv = res->trace.reg_values;
  g_assert_cmpfloat (pv[20], <, pv[0]);
  int best = 1;
  for (int s = 1; s <= 20; s++)
    if (pv[s] < pv[best])
      best = s;
  g_assert_cmpint (res->best_step, ==, best);
}

/* sd_dream_class_features: the mean pooled features of the segments of
 * each class's series (as sd_dream_class_spectra cuts them), NaN for a
 * class without series; the errors of a too-short length. */
static void
test_class_features (void)
{
  enum
  {
    L = 2 * TT,
    N = 4
  };
  g_autoptr (SdModel) m = test_model (3);
  const int C = sd_dream_feature_size (m);
  float x[N * L];
  int y[N] = { 0, 1, 0, 1 };
  fill_random (x, N * L, 5, 2.0);
  char *labels[] = { "a", "b", NULL };
  SdDataset ds = {
    .n = N, .length = L, .x = x, .y = y, .n_classes = 2, .labels = labels
  };
  g_autofree float *feat = g_new (float, 3 * C);
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dream_class_features (m, &ds, TT, feat, &error));
  g_assert_no_error (error);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, TT, SD_MODE_EVAL, NULL);
  const int gap = sd_model_find_layer (m, "gap");
  for (int c = 0; c < 2; c++) {
    g_autofree double *e = g_new0 (double, C);
    for (int i = 0; i < N; i++) {
      if (y[i] != c)
        continue;
      float xs[L];
      memcpy (xs, x + i * L, sizeof xs);
      sd_model_normalize_input (m, xs, 1, L);
      for (int s = 0; s < 3; s++) { /* segments at 0, 16, 32 */
        sd_model_forward (m, ws, xs + s * TT / 2, 1, TT);
        int gc, gl;
        const float *f = sd_workspace_get_layer_output (ws, gap, &gc, &gl);
        for (int k = 0; k < C; k++)
          e[k] += f[k] / 6.0;
      }
    }
    for (int k = 0; k < C; k++)
      g_assert_cmpfloat_with_epsilon (
          feat[c * C + k], e[k], 1e-5 * MAX (1.0, fabs (e[k])));
  }
  for (int k = 0; k < C; k++)
    g_assert_true (isnan (feat[2 * C + k]));
  g_assert_false (sd_dream_class_features (m, &ds, L + 1, feat, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

static void
test_spectral_validation (void)
{
  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, NULL);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  struct
  {
    SdRegType type;
    float param;
    gboolean no_spectra, nan_row;
    const char *message;
  } cases[] = {
    { SD_REG_SPECTRUM, 1e-4f, TRUE, FALSE, "spectrum): no class spectra" },
    { SD_REG_SPECTRAL_FILTER, 40.0f, TRUE, FALSE,
        "spectral-filter): no class spectra" },
    { SD_REG_SPECTRUM, 0.0f, FALSE, FALSE, "floor 0 must be" },
    { SD_REG_SPECTRAL_FILTER, NAN, FALSE, FALSE, "noise level nan dB" },
    { SD_REG_SPECTRUM, 1e-4f, FALSE, TRUE, "no finite, non-negative value" },
    { SD_REG_SPECTRAL_FILTER, 40.0f, FALSE, FALSE,
        "spectrum smoothing 0.6 must be between 0 and 0.5" },
    { SD_REG_SPECTRUM, NAN, FALSE, FALSE, "spectrum smoothing nan" },
    { SD_REG_GAUSSIAN, 1.0f, FALSE, FALSE,
        "for the spectrum and spectral-filter regularisers only" },
    { SD_REG_FEATURE, 0.0f, TRUE, FALSE, "feature): no class features" },
    { SD_REG_FEATURE, 0.0f, FALSE, TRUE, "no finite value at feature" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    SdDreamConfig c;
    sd_dream_config_init (&c, m);
    c.length = TT;
    c.steps = 2;
    SdRegularizer r = sd_regularizer_default (cases[k].type);
    r.param = cases[k].param;
    r.param2 = 1.0f;
    r.spectra = cases[k].no_spectra ? NULL : spectra;
    /* the smoothing cases: a bad width (NaN floor: its check comes
     * later), or a width on a regulariser without spectra */
    if (strstr (cases[k].message, "smoothing 0.6"))
      r.smooth = 0.6f;
    else if (strstr (cases[k].message, "smoothing nan"))
      r.param = 1e-4f, r.smooth = NAN;
    else if (cases[k].type == SD_REG_GAUSSIAN)
      r.smooth = 0.1f, r.spectra = NULL;
    else if (cases[k].type == SD_REG_FEATURE) {
      /* the NaN below lands in the dreamed class's row (class 1 of 20
       * features: index 21 is feature 1) */
      r.spectra = NULL;
      r.features = cases[k].no_spectra ? NULL : spectra;
    }
    spectra[TT / 2 + 1 + 4] = cases[k].nan_row ? NAN : 0.1f;
    sd_dream_config_add (&c, r);
    SdDreamSpec s = noise_spec (sd_objective_centered (1), 1);
    SdDreamResult *res = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_dreamer_run (d, &c, &s, 1, &res, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    if (strstr (error->message, cases[k].message) == NULL)
      g_error ("case %u: '%s' does not contain '%s'", k, error->message,
          cases[k].message);
    g_assert_null (res);
  }
}

/* Keep-best never returns the initialisation: even when the first update
 * lowers the objective, the result is entry 1. */
static void
test_keep_best_skips_init (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  float x0[TT];
  fill_random (x0, TT, 77, 1.0);
  /* an L2 penalty that halves x in one SGD step; the objective is the
   * logit (of either sign) that is higher at x0 than at x0 / 2 */
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, TT, SD_MODE_EVAL, NULL);
  float half[TT];
  for (int t = 0; t < TT; t++)
    half[t] = 0.5f * x0[t];
  float z0[2], z1[2];
  memcpy (z0, sd_model_forward (m, ws, x0, 1, TT), sizeof z0);
  memcpy (z1, sd_model_forward (m, ws, half, 1, TT), sizeof z1);
  SdObjective o = sd_objective_centered (0);
  o.terms[0].weight = z0[0] > z1[0] ? 1e-6f : -1e-6f;
  SdDreamConfig c;
  one_step_config (&c, m);
  c.keep_best = TRUE;
  SdRegularizer l2 = sd_regularizer_default (SD_REG_L2);
  l2.weight = (float) TT / 4.0f; /* x1 = x0 - 2 w x0 / T = x0 / 2 */
  sd_dream_config_add (&c, l2);
  SdDreamSpec spec = series_spec (o, x0);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, NULL);
  g_autoptr (SdDreamResult) r = NULL;
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &r, NULL));
  g_assert_cmpfloat (r->trace.objective[0], >, r->trace.objective[1]);
  g_assert_cmpint (r->best_step, ==, 1);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (r->sequence[t], half[t], 1e-5);
}

/* ---- the real FordA classifier ---- */

static char *
forda_model_path (void)
{
  const char *env = g_getenv ("SEQDREAM_FORDA_MODEL");
  if (env != NULL)
    return g_strdup (env);
  const char *data = g_getenv ("SEQDREAM_TEST_DATA");
  if (data == NULL)
    return NULL;
  return g_build_filename (
      data, "..", "..", "models", "forda-resnet-small.safetensors", NULL);
}

static SdModel *
load_forda (void)
{
  g_autofree char *path = forda_model_path ();
  if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_test_skip ("models/forda-resnet-small.safetensors is absent (set "
                 "SEQDREAM_FORDA_MODEL to a FordA model)");
    return NULL;
  }
  g_autoptr (GError) error = NULL;
  SdModel *m = sd_model_load (path, &error);
  g_assert_no_error (error);
  /* a stand-in written by some other run is not the classifier: the
   * provenance must name FordA as the training data */
  const char *prov = sd_model_get_provenance (m);
  g_autoptr (JsonNode) node = prov ? json_from_string (prov, NULL) : NULL;
  const char *data = NULL;
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    data = json_object_get_string_member_with_default (
        json_node_get_object (node), "data", NULL);
  g_autofree char *lower = g_ascii_strdown (data ? data : "", -1);
  if (sd_model_get_n_classes (m) != 2 || strstr (lower, "forda") == NULL) {
    g_test_skip ("the model file is not a FordA classifier (the data of "
                 "its provenance is not FordA)");
    sd_model_unref (m);
    return NULL;
  }
  return m;
}

static void
test_forda_centered (void)
{
  g_autoptr (SdModel) m = load_forda ();
  if (m == NULL)
    return;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.stop_probability = 0.99f;
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_CLIP));
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_NORM_BOUND));
  sd_dream_config_add (
      &c, sd_regularizer_default (SD_REG_EXP_SMOOTH_ZEROPHASE));
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 4, c.length, NULL);
  SdDreamSpec specs[4];
  for (int i = 0; i < 4; i++)
    specs[i] = noise_spec (sd_objective_centered (i % 2), 100 + i);
  SdDreamResult *r[4];
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dreamer_run (d, &c, specs, 4, r, &error));
  g_assert_no_error (error);
  for (int i = 0; i < 4; i++) {
    g_test_message ("centered class %d from noise: p %.4f after %d steps",
        i % 2, r[i]->probability, r[i]->steps);
    g_assert_true (r[i]->converged);
    g_assert_cmpfloat (r[i]->probability, >=, 0.99f);
    g_assert_cmpfloat (r[i]->probabilities[i % 2], >=, 0.99f);
  }
  /* small noise may already be one class; so also dream each class from
   * the other class's dream, across the boundary */
  float *from[4];
  for (int i = 0; i < 4; i++) {
    from[i] = g_memdup2 (r[i ^ 1]->sequence, c.length * sizeof (float));
    specs[i].init.type = SD_INIT_SERIES;
    specs[i].init.series = from[i];
  }
  for (int i = 0; i < 4; i++)
    sd_dream_result_free (r[i]);
  g_assert_true (sd_dreamer_run (d, &c, specs, 4, r, &error));
  g_assert_no_error (error);
  for (int i = 0; i < 4; i++) {
    g_test_message ("centered class %d from class %d: p %.4f after %d steps",
        i % 2, 1 - i % 2, r[i]->probability, r[i]->steps);
    g_assert_true (r[i]->converged);
    g_assert_cmpint (r[i]->steps, >, 0);
    g_assert_cmpfloat (r[i]->probabilities[i % 2], >=, 0.99f);
    sd_dream_result_free (r[i]);
    g_free (from[i]);
  }
}

static void
test_forda_border (void)
{
  g_autoptr (SdModel) m = load_forda ();
  if (m == NULL)
    return;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_CLIP));
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_L2));
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 4, c.length, NULL);
  SdDreamSpec specs[4];
  for (int i = 0; i < 4; i++)
    specs[i] = noise_spec (
        i % 2 ? sd_objective_border (1, 0) : sd_objective_border (0, 1),
        200 + i);
  SdDreamResult *r[4];
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dreamer_run (d, &c, specs, 4, r, &error));
  g_assert_no_error (error);
  for (int i = 0; i < 4; i++) {
    g_test_message ("border dream %d: p %.4f after %d steps", i,
        r[i]->probabilities[0], r[i]->steps);
    g_assert_true (r[i]->converged);
    g_assert_cmpfloat (fabsf (r[i]->probabilities[0] - 0.5f), <=, 0.01f);
    sd_dream_result_free (r[i]);
  }
}

/* The recommended setting's centered dreams transfer: with the spectral
 * filter of the FordA training spectrum, a class-1 and a class -1 dream of
 * resnet-small reach p >= 0.99 and the independently trained fcn-small
 * (never used in the dreaming) assigns each to its class
 * (docs/forda-report.md measures 20 seeds per class). */
static void
test_forda_transfer (void)
{
  g_autoptr (SdModel) m = load_forda ();
  if (m == NULL)
    return;
  g_autofree char *mpath = forda_model_path ();
  g_autofree char *dir = g_path_get_dirname (mpath);
  g_autofree char *fcn_path
      = g_build_filename (dir, "forda-fcn-small.safetensors", NULL);
  const char *data = g_getenv ("SEQDREAM_DATA");
  g_autofree char *train_path = g_build_filename (
      data ? data : "../shared/data", "forda", "FordA_TEST_partial.tsv", NULL);
  if (!g_file_test (fcn_path, G_FILE_TEST_EXISTS)
      || !g_file_test (train_path, G_FILE_TEST_EXISTS)) {
    g_test_skip ("the FordA fcn-small model or the FordA training data is "
                 "absent (SEQDREAM_DATA)");
    return;
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) fcn = sd_model_load (fcn_path, &error);
  g_assert_no_error (error);
  g_autoptr (SdDataset) train
      = sd_dataset_load_ucr (train_path, sd_model_get_labels (m), &error);
  g_assert_no_error (error);

  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  const int T = c.length, nb = sd_dream_spectrum_bins (T);
  g_autofree float *spectra = g_new (float, 2 * nb);
  g_assert_true (sd_dream_class_spectra (m, train, T, spectra, &error));
  g_assert_no_error (error);
  SdRegularizer f = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  f.spectra = spectra;
  sd_dream_config_add (&c, f);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 2, T, NULL);
  SdDreamSpec specs[2] = { noise_spec (sd_objective_centered (0), 1),
    noise_spec (sd_objective_centered (1), 1) };
  SdDreamResult *r[2];
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, r, &error));
  g_assert_no_error (error);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (fcn, 1, T, SD_MODE_EVAL, NULL);
  for (int i = 0; i < 2; i++) {
    const float *z = sd_model_forward (fcn, ws, r[i]->sequence, 1, T);
    g_test_message ("class %d: p %.4f, fcn-small logits %.2f %.2f", i,
        r[i]->probability, z[0], z[1]);
    g_assert_cmpfloat (r[i]->probability, >=, 0.99f);
    g_assert_cmpint (z[1] > z[0], ==, i);
    sd_dream_result_free (r[i]);
  }
}

/* With znormalize (the default for per-series models) every dream stays a
 * z-normalised series, so the model scores it exactly as it would score it
 * after its own input normalisation; and the step direction is the
 * gradient of f (znorm (x)), which finite differences of the objective
 * through the normalisation confirm. */
static void
test_znormalize (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  g_assert_cmpint (sd_model_get_normalization (m).mode, ==, SD_NORM_PER_SERIES);
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  g_assert_true (c.znormalize);
  c.length = 64;
  c.steps = 40;
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 2, 64, &error);
  SdDreamSpec specs[2]
      = { { sd_objective_centered (1), { SD_INIT_GAUSSIAN, 0.1f, NULL }, 3 },
          { sd_objective_centered (0), { SD_INIT_UNIFORM, 0.5f, NULL }, 4 } };
  SdDreamResult *res[2];
  g_assert_true (sd_dreamer_run (d, &c, specs, 2, res, &error));
  g_assert_no_error (error);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, 1, 64, SD_MODE_EVAL, NULL);
  for (int i = 0; i < 2; i++) {
    const float *x = res[i]->sequence;
    double mean = 0, var = 0;
    for (int t = 0; t < 64; t++)
      mean += x[t];
    mean /= 64;
    for (int t = 0; t < 64; t++)
      var += (x[t] - mean) * (x[t] - mean);
    g_assert_cmpfloat (fabs (mean), <, 1e-5);
    g_assert_cmpfloat (fabs (sqrt (var / 64) - 1.0), <, 1e-4);
    /* normalising again changes nothing the model sees */
    float y[64];
    memcpy (y, x, sizeof y);
    sd_model_normalize_input (m, y, 1, 64);
    const float *z = sd_model_forward (m, ws, y, 1, 64);
    g_assert_cmpfloat (fabs (z[0] - res[i]->logits[0]), <, 1e-4);
    g_assert_cmpfloat (fabs (z[1] - res[i]->logits[1]), <, 1e-4);
    sd_dream_result_free (res[i]);
  }

  /* One SGD step of lr h from a normalised x moves along the projected
   * gradient g: then J(znorm (x + h g)) - J(x) ~ h |g|^2 > 0, and the
   * move keeps the mean at 0. */
  c.steps = 1;
  c.optimizer = SD_DREAM_OPT_SGD;
  c.momentum = 0.0f;
  c.lr = 1e-3f;
  c.keep_best = FALSE;
  float x0[64];
  fill_random (x0, 64, 9, 1.0);
  sd_model_normalize_input (m, x0, 1, 64);
  SdDreamSpec one = series_spec (sd_objective_centered (1), x0);
  SdDreamResult *r1;
  g_assert_true (sd_dreamer_run (d, &c, &one, 1, &r1, &error));
  g_assert_cmpfloat (r1->trace.objective[1], >, r1->trace.objective[0]);
  sd_dream_result_free (r1);
}

/* A set cancel flag stops the run before its next step with
 * SD_ERROR_CANCELLED and no results; the dreamer stays usable. */
static void
test_cancel (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.length = 32;
  c.steps = 50;
  gint cancel = 1;
  c.cancel = &cancel;
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, 32, &error);
  SdDreamSpec spec
      = { sd_objective_centered (1), { SD_INIT_GAUSSIAN, 0.1f, NULL }, 1 };
  SdDreamResult *r = (SdDreamResult *) 0x1;
  g_assert_false (sd_dreamer_run (d, &c, &spec, 1, &r, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_CANCELLED);
  g_assert_null (r);
  g_clear_error (&error);
  g_atomic_int_set (&cancel, 0);
  g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r->steps, ==, 50);
  sd_dream_result_free (r);
}

/* The noise transform: sd 0 changes nothing (the gradient passes through
 * unchanged); sd > 0 changes the dream, reproducibly for a seed, and the
 * trace records the sd of each step. */
static void
test_noise_transform (void)
{
  g_autoptr (SdModel) m = confident_model (2);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, 48, &error);
  SdDreamSpec spec
      = { sd_objective_centered (1), { SD_INIT_GAUSSIAN, 0.1f, NULL }, 5 };
  float *seq[4];
  for (int v = 0; v < 4; v++) {
    SdDreamConfig c;
    sd_dream_config_init (&c, m);
    c.length = 48;
    c.steps = 20;
    c.keep_best = FALSE;
    if (v > 0) {
      SdRegularizer r = sd_regularizer_default (SD_REG_NOISE);
      g_assert_cmpfloat (r.param, ==, 0.3f);
      r.param = v == 1 ? 0.0f : 0.3f;
      sd_dream_config_add (&c, r);
    }
    SdDreamResult *res;
    g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
    g_assert_no_error (error);
    if (v >= 2)
      g_assert_cmpfloat (res->trace.reg_values[3], ==, 0.3f);
    seq[v] = g_memdup2 (res->sequence, 48 * sizeof (float));
    sd_dream_result_free (res);
  }
  g_assert_cmpmem (seq[0], 48 * 4, seq[1], 48 * 4);
  g_assert_true (memcmp (seq[0], seq[2], 48 * 4) != 0);
  g_assert_cmpmem (seq[2], 48 * 4, seq[3], 48 * 4);
  for (int v = 0; v < 4; v++)
    g_free (seq[v]);

  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  SdRegularizer bad = sd_regularizer_default (SD_REG_NOISE);
  bad.param = -1.0f;
  sd_dream_config_add (&c, bad);
  SdDreamResult *res;
  g_assert_false (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "noise sd"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func (
      "/dream/class-objective-gradients", test_class_objective_gradients);
  g_test_add_func ("/dream/border-gradient", test_border_gradient);
  g_test_add_func (
      "/dream/layer-objective-gradients", test_layer_objective_gradients);
  g_test_add_func (
      "/dream/weighted-terms-gradient", test_weighted_terms_gradient);
  g_test_add_func ("/dream/penalty-gradients", test_penalty_gradients);
  g_test_add_func ("/dream/exp-smoothing", test_exp_smoothing);
  g_test_add_func ("/dream/gaussian-filter", test_gaussian_filter);
  g_test_add_func ("/dream/projections", test_projections);
  g_test_add_func ("/dream/transform-gradients", test_transform_gradients);
  g_test_add_func ("/dream/diversity-gradient", test_diversity_gradient);
  g_test_add_func ("/dream/determinism", test_determinism);
  g_test_add_func ("/dream/init-types", test_init_types);
  g_test_add_func ("/dream/batch-equals-single", test_batch_equals_single);
  g_test_add_func ("/dream/divergence", test_divergence);
  g_test_add_func ("/dream/rejects-bad-config", test_rejects_bad_config);
  g_test_add_func ("/dream/trace-and-keep-best", test_trace_and_keep_best);
  g_test_add_func ("/dream/stopping", test_stopping);
  g_test_add_func (
      "/dream/optimizers-and-schedule", test_optimizers_and_schedule);
  g_test_add_func (
      "/dream/reg-names-and-defaults", test_reg_names_and_defaults);
  g_test_add_func ("/dream/denormalize", test_denormalize);
  g_test_add_func ("/dream/znormalize", test_znormalize);
  g_test_add_func ("/dream/cancel", test_cancel);
  g_test_add_func ("/dream/noise-transform", test_noise_transform);
  g_test_add_func ("/dream/power-spectrum", test_power_spectrum);
  g_test_add_func ("/dream/class-spectra", test_class_spectra);
  g_test_add_func (
      "/dream/spectrum-penalty-gradient", test_spectrum_penalty_gradient);
  g_test_add_func ("/dream/spectral-filter", test_spectral_filter);
  g_test_add_func (
      "/dream/spectral-filter-smooth", test_spectral_filter_smooth);
  g_test_add_func ("/dream/spectral-validation", test_spectral_validation);
  g_test_add_func ("/dream/feature-penalty", test_feature_penalty);
  g_test_add_func ("/dream/class-features", test_class_features);
  g_test_add_func ("/dream/keep-best-skips-init", test_keep_best_skips_init);
  g_test_add_func ("/dream/forda-centered", test_forda_centered);
  g_test_add_func ("/dream/forda-border", test_forda_border);
  g_test_add_func ("/dream/forda-transfer", test_forda_transfer);
  return g_test_run ();
}
