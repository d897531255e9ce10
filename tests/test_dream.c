/* The dreamer and its run loop (core/dream.c, core/dream-step.c):
 * determinism, initialisations, batching, divergence, the trace and
 * keep-best, stopping, the optimisers, z-normalisation, cancellation and
 * the diversity term's gradient. The parts of a dream have their own
 * files: test_dream_objective.c, _regularizer.c, _spectrum.c,
 * _feature.c, _check.c, _config.c, and _forda.c for the real model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

/* engine_gradient for one dream of length T. */
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/diversity-gradient", test_diversity_gradient);
  g_test_add_func ("/dream/determinism", test_determinism);
  g_test_add_func ("/dream/init-types", test_init_types);
  g_test_add_func ("/dream/batch-equals-single", test_batch_equals_single);
  g_test_add_func ("/dream/divergence", test_divergence);
  g_test_add_func ("/dream/trace-and-keep-best", test_trace_and_keep_best);
  g_test_add_func ("/dream/stopping", test_stopping);
  g_test_add_func (
      "/dream/optimizers-and-schedule", test_optimizers_and_schedule);
  g_test_add_func ("/dream/keep-best-skips-init", test_keep_best_skips_init);
  g_test_add_func ("/dream/denormalize", test_denormalize);
  g_test_add_func ("/dream/znormalize", test_znormalize);
  g_test_add_func ("/dream/cancel", test_cancel);
  return g_test_run ();
}
