/* The regularisers (core/dream-regularizer.c): names, defaults and the
 * text form; every penalty's value and gradient, every filter and
 * projection against a hand-computed result, the transforms' gradients.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

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

/* ---- names, defaults, text form ---- */

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
}

/* Every field of a and b (a struct compare would read padding). */
static void
assert_reg_equal (const SdRegularizer *a, const SdRegularizer *b)
{
  g_assert_cmpint (a->type, ==, b->type);
  g_assert_cmpfloat (a->weight, ==, b->weight);
  g_assert_cmpfloat (a->param, ==, b->param);
  g_assert_cmpfloat (a->param2, ==, b->param2);
  g_assert_cmpint (a->apply_to, ==, b->apply_to);
  g_assert_cmpint (a->every, ==, b->every);
  g_assert_cmpfloat (a->start, ==, b->start);
  g_assert_cmpfloat (a->end, ==, b->end);
  g_assert_true (a->spectra == b->spectra);
  g_assert_cmpfloat (a->smooth, ==, b->smooth);
  g_assert_true (a->features == b->features);
}

/* The text form TYPE[:KEY=VALUE,...]: every key, the defaults for the
 * keys not given, smooth in Hz at the model's sample rate, and an error
 * that names the bad part (the regulariser untouched). */
static void
test_regularizer_parse (void)
{
  g_autoptr (GError) error = NULL;
  SdRegularizer r;
  g_assert_true (sd_regularizer_parse (
      "gaussian:param=2,every=5,start=0.1,end=0.8", NULL, &r, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.type, ==, SD_REG_GAUSSIAN);
  g_assert_cmpfloat (r.param, ==, 2.0f);
  g_assert_cmpint (r.every, ==, 5);
  g_assert_cmpfloat (r.start, ==, 0.1f);
  g_assert_cmpfloat (r.end, ==, 0.8f);
  g_assert_cmpint (r.apply_to, ==, SD_APPLY_SEQUENCE);

  g_assert_true (
      sd_regularizer_parse ("L2:weight=0.25,apply=gradient", NULL, &r, &error));
  g_assert_cmpint (r.type, ==, SD_REG_L2);
  g_assert_cmpfloat (r.weight, ==, 0.25f);
  g_assert_cmpint (r.apply_to, ==, SD_APPLY_GRADIENT);
  g_assert_cmpint (r.every, ==, 1);

  /* a type alone: its defaults */
  g_assert_true (sd_regularizer_parse ("scale", NULL, &r, &error));
  SdRegularizer d = sd_regularizer_default (SD_REG_SCALE);
  assert_reg_equal (&r, &d);
  g_assert_true (sd_regularizer_parse (
      "spectrum:weight=2,param=0.001,param2=1", NULL, &r, &error));
  g_assert_cmpfloat (r.weight, ==, 2.0f);
  g_assert_cmpfloat (r.param, ==, 0.001f);
  g_assert_cmpfloat (r.param2, ==, 1.0f);

  /* smooth: Hz -> cycles per sample */
  g_autoptr (SdModel) m = test_model (2);
  g_assert_false (
      sd_regularizer_parse ("spectral-filter:smooth=200", m, &r, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "no sample rate"));
  g_clear_error (&error);
  sd_model_set_sample_rate (m, 8000.0);
  g_assert_true (sd_regularizer_parse (
      "spectral-filter:smooth=200,param=30", m, &r, &error));
  g_assert_cmpfloat (r.smooth, ==, (float) (200.0 / 8000.0));
  g_assert_cmpfloat (r.param, ==, 30.0f);

  struct
  {
    const char *spec, *message;
  } bad[] = {
    { "blur:param=2", "regulariser 'blur:param=2': unknown type 'blur' (l1, "
                      "l2, tv" },
    { "", "unknown type ''" },
    { "l2:weight", "'weight' is not KEY=VALUE" },
    { "l2:weight=abc", "'abc' is not a number" },
    { "l2:weight=inf", "'inf' is not a number" },
    { "l2:weight=1,foo=1", "unknown key 'foo'" },
    { "l2:apply=both", "apply must be sequence or gradient, not 'both'" },
    { "spectrum:smooth=10", "smooth is in Hz and the model has no sample "
                            "rate" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (bad); k++) {
    SdRegularizer before = sd_regularizer_default (SD_REG_TV);
    r = before;
    g_assert_false (sd_regularizer_parse (bad[k].spec, NULL, &r, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    if (strstr (error->message, bad[k].message) == NULL)
      g_error ("'%s': '%s' does not contain '%s'", bad[k].spec, error->message,
          bad[k].message);
    assert_reg_equal (&r, &before);
    g_clear_error (&error);
  }
}
int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/penalty-gradients", test_penalty_gradients);
  g_test_add_func ("/dream/exp-smoothing", test_exp_smoothing);
  g_test_add_func ("/dream/gaussian-filter", test_gaussian_filter);
  g_test_add_func ("/dream/projections", test_projections);
  g_test_add_func ("/dream/transform-gradients", test_transform_gradients);
  g_test_add_func ("/dream/noise-transform", test_noise_transform);
  g_test_add_func (
      "/dream/reg-names-and-defaults", test_reg_names_and_defaults);
  g_test_add_func ("/dream/regularizer-parse", test_regularizer_parse);
  return g_test_run ();
}
