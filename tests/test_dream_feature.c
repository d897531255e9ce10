/* The feature anchor (core/dream-feature.c): its value and gradient
 * against finite differences of the pooled features of a plain forward,
 * keep-best with it, and the class mean features.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/feature-penalty", test_feature_penalty);
  g_test_add_func ("/dream/class-features", test_class_features);
  return g_test_run ();
}
