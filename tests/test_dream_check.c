/* The checks of a run's configuration (core/dream-check.c): every
 * impossible value is SD_ERROR_INVALID_ARG with a message that names it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/rejects-bad-config", test_rejects_bad_config);
  return g_test_run ();
}
