/* The objective's gradients (class scores, the border, layer channels and
 * neurons, weighted sums) against finite differences of an independent
 * objective from a plain forward (core/dream-objective.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

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
  return g_test_run ();
}
