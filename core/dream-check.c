/* The checks of a dream run's configuration, objectives and
 * initialisations before anything is allocated: every impossible value is
 * an SD_ERROR_INVALID_ARG that names it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <seqdream/stats.h>

#include <math.h>

/* The most updates a run takes. */
#define MAX_STEPS 10000000

#define FAIL(...)                                                              \
  do {                                                                         \
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG, __VA_ARGS__);          \
    return FALSE;                                                              \
  } while (0)

static gboolean
check_objective (
    const SdDreamer *d, const SdObjective *o, int i, int T, GError **error)
{
  const int K = d->K;
  const int n_layers = d->n_stages + 2;
  if (o->n_terms < 1 || o->n_terms > SD_DREAM_MAX_TERMS)
    FAIL ("dream %d: the objective has %d terms (expected 1..%d)", i,
        o->n_terms, SD_DREAM_MAX_TERMS);
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    if (!isfinite (t->weight))
      FAIL ("dream %d, objective term %d: weight %g is not a finite number", i,
          k, t->weight);
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
      case SD_OBJECTIVE_PROBABILITY:
      case SD_OBJECTIVE_LOG_PROBABILITY:
        if (t->class_a < 0 || t->class_a >= K)
          FAIL ("dream %d, objective term %d: class %d is not a class of "
                "the model (0..%d)",
              i, k, t->class_a, K - 1);
        break;
      case SD_OBJECTIVE_BORDER:
        if (t->class_a < 0 || t->class_a >= K || t->class_b < 0
            || t->class_b >= K)
          FAIL ("dream %d, objective term %d: border classes %d and %d must "
                "be classes of the model (0..%d)",
              i, k, t->class_a, t->class_b, K - 1);
        if (t->class_a == t->class_b)
          FAIL ("dream %d, objective term %d: border needs two different "
                "classes (got %d twice)",
              i, k, t->class_a);
        break;
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON: {
        if (t->layer < 0 || t->layer >= n_layers)
          FAIL ("dream %d, objective term %d: layer %d does not exist "
                "(0..%d, see sd_model_get_layer_names)",
              i, k, t->layer, n_layers - 1);
        int C = dream_layer_channels (d, t->layer);
        if (t->channel < 0 || t->channel >= C)
          FAIL ("dream %d, objective term %d: channel %d is outside layer "
                "%d's channels 0..%d",
              i, k, t->channel, t->layer, C - 1);
        if (t->type == SD_OBJECTIVE_NEURON) {
          int L = sd_model_get_layer_length (d->model, t->layer, T);
          if (t->position < -L || t->position >= L)
            FAIL ("dream %d, objective term %d: position %d is outside "
                  "-%d..%d for layer %d",
                i, k, t->position, L, L - 1, t->layer);
        }
        break;
      }
      default:
        FAIL ("dream %d, objective term %d: unknown objective type %d", i, k,
            (int) t->type);
    }
  }
  return TRUE;
}

static gboolean
check_reg (
    const SdDreamer *d, const SdRegularizer *r, int k, int T, GError **error)
{
  const char *name = sd_reg_type_to_string (r->type);
  if (name == NULL)
    FAIL ("regulariser %d: unknown type %d", k, (int) r->type);
  if (r->every < 1)
    FAIL ("regulariser %d (%s): every = %d must be at least 1", k, name,
        r->every);
  if (!(r->start >= 0.0f && r->start < r->end && r->end <= 1.0f))
    FAIL ("regulariser %d (%s): window [%g, %g) must satisfy 0 <= start < "
          "end <= 1",
        k, name, r->start, r->end);
  if (r->apply_to != SD_APPLY_SEQUENCE && r->apply_to != SD_APPLY_GRADIENT)
    FAIL ("regulariser %d (%s): apply_to %d is neither sequence nor "
          "gradient",
        k, name, (int) r->apply_to);
  switch (r->type) {
    case SD_REG_L1:
    case SD_REG_L2:
    case SD_REG_TV:
    case SD_REG_TV2:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      break;
    case SD_REG_EXP_SMOOTH:
    case SD_REG_EXP_SMOOTH_ZEROPHASE:
      if (!(r->param > 0.0f && r->param <= 1.0f))
        FAIL ("regulariser %d (%s): alpha %g must be in (0, 1]", k, name,
            r->param);
      break;
    case SD_REG_GAUSSIAN:
      if (!(r->param > 0.0f && r->param <= (float) T))
        FAIL ("regulariser %d (%s): sigma %g must be in (0, %d] samples (the "
              "dream length)",
            k, name, r->param, T);
      break;
    case SD_REG_CLIP:
      if (!isfinite (r->param) || !isfinite (r->param2))
        FAIL ("regulariser %d (%s): bounds [%g, %g] must be finite", k, name,
            r->param, r->param2);
      if (!(r->param == 0.0f && r->param2 == 0.0f) && !(r->param < r->param2))
        FAIL ("regulariser %d (%s): lower bound %g must be below the upper "
              "bound %g (both 0: the model's input range)",
            k, name, r->param, r->param2);
      break;
    case SD_REG_NORM_BOUND:
      if (!(r->param > 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): RMS bound %g must be a finite number > "
              "0",
            k, name, r->param);
      break;
    case SD_REG_JITTER:
      if (!(r->param >= 0.0f && r->param < (float) T))
        FAIL ("regulariser %d (%s): shift %g must be in [0, %d) samples", k,
            name, r->param, T);
      break;
    case SD_REG_SCALE:
      if (!(r->param > 0.0f && r->param <= r->param2 && isfinite (r->param2)))
        FAIL ("regulariser %d (%s): factor range [%g, %g] must satisfy 0 < "
              "min <= max",
            k, name, r->param, r->param2);
      break;
    case SD_REG_NOISE:
      if (!(r->param >= 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): noise sd %g must be a finite number >= "
              "0",
            k, name, r->param);
      break;
    case SD_REG_SPECTRUM:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      if (!(r->param > 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): floor %g must be a finite number > 0", k,
            name, r->param);
      break;
    case SD_REG_SPECTRAL_FILTER:
      if (!isfinite (r->param))
        FAIL ("regulariser %d (%s): noise level %g dB below the spectrum's "
              "peak must be a finite number",
            k, name, r->param);
      break;
    case SD_REG_SPECTRAL_PROJECT:
      if (!(r->param >= 0.0f && r->param <= 1.0f))
        FAIL ("regulariser %d (%s): share %g of the way to the target "
              "magnitudes must be in [0, 1]",
            k, name, r->param);
      break;
    case SD_REG_FEATURE:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      if (r->features == NULL)
        FAIL ("regulariser %d (%s): no class features (its target comes "
              "from reference data: see sd_dream_config_attach_reference)",
            k, name);
      break;
  }
  if (dream_reg_uses_spectra (r->type) && r->spectra == NULL)
    FAIL ("regulariser %d (%s): no class spectra (its target comes from "
          "reference data: see sd_dream_config_attach_reference)",
        k, name);
  if (dream_reg_uses_spectra (r->type)
      && !(r->smooth >= 0.0f && r->smooth <= 0.5f))
    FAIL ("regulariser %d (%s): spectrum smoothing %g must be between 0 and "
          "0.5 cycles per sample",
        k, name, r->smooth);
  if (!dream_reg_uses_spectra (r->type) && r->smooth != 0.0f)
    FAIL ("regulariser %d (%s): smoothing of the target spectrum is for the "
          "spectrum, spectral-filter and spectral-project regularisers only",
        k, name);
  if (dream_reg_uses_spectra (r->type) && T < 2)
    FAIL ("regulariser %d (%s): a dream of %d samples has no spectrum", k, name,
        T);
  return TRUE;
}

gboolean
dream_check_config (const SdDreamer *d, const SdDreamConfig *c,
    const SdDreamSpec *specs, int n, int *T_out, GError **error)
{
  if (n < 1 || n > d->max_B)
    FAIL ("%d dreams do not fit this dreamer (1..%d per run)", n, d->max_B);
  if (specs == NULL)
    FAIL ("no dream specifications given for %d dreams", n);
  int T = c->length;
  if (T == 0)
    T = (int) sd_model_get_train_length (d->model);
  if (T == 0)
    T = d->max_T;
  if (T < 1 || T > d->max_T)
    FAIL ("dream length %d is outside 1..%d (the dreamer's maximum length)", T,
        d->max_T);
  if (T < sd_model_get_min_length (d->model))
    FAIL ("dream length %d is shorter than the %d samples '%s' needs (its "
          "pooling divides the length by %d)",
        T, sd_model_get_min_length (d->model),
        sd_model_get_arch (d->model)->name, sd_model_get_min_length (d->model));
  if (c->steps < 1 || c->steps > MAX_STEPS)
    FAIL ("steps = %d must be in 1..%d", c->steps, MAX_STEPS);
  if ((guint) c->optimizer > SD_DREAM_OPT_NORMALIZED)
    FAIL ("unknown optimiser %d", (int) c->optimizer);
  if (!(c->lr > 0.0f && isfinite (c->lr)))
    FAIL ("learning rate %g must be a finite number > 0", c->lr);
  if (!(c->lr_decay > 0.0f && c->lr_decay <= 1.0f))
    FAIL ("learning-rate decay %g must be in (0, 1] (a per-step factor)",
        c->lr_decay);
  if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
    FAIL ("momentum %g must be in [0, 1)", c->momentum);
  if (!(c->grad_clip >= 0.0f && isfinite (c->grad_clip)))
    FAIL ("gradient clip %g must be a finite number >= 0 (0 = none)",
        c->grad_clip);
  if (!(c->stop_probability >= 0.0f && c->stop_probability <= 1.0f))
    FAIL ("stop probability %g must be in [0, 1] (0 = run all steps)",
        c->stop_probability);
  if (!(c->stop_margin_quantile >= 0.0f && c->stop_margin_quantile <= 1.0f))
    FAIL ("stop margin quantile %g must be in [0, 1] (0 = none)",
        c->stop_margin_quantile);
  if (c->stop_margin_quantile > 0.0f && c->stop_margin == NULL)
    FAIL ("stop margin quantile %g: the margins of real series are not "
          "attached (sd_dream_config_attach_model_stats)",
        c->stop_margin_quantile);
  if (!(c->margin_ceiling_quantile >= 0.0f
          && c->margin_ceiling_quantile <= 1.0f))
    FAIL ("margin ceiling quantile %g must be in [0, 1] (0 = none)",
        c->margin_ceiling_quantile);
  if (c->margin_ceiling_quantile > 0.0f && c->margin_ceiling == NULL)
    FAIL ("margin ceiling quantile %g: the margins of real series are not "
          "attached (sd_dream_config_attach_model_stats)",
        c->margin_ceiling_quantile);
  for (int k = 0; k < c->n_regs; k++)
    if (c->regs[k].type == SD_REG_FEATURE && c->regs[k].param2 == 1.0f
        && sd_model_get_stats (d->model) == NULL)
      FAIL ("regulariser %d (feature, param2=1) measures in the covariance "
            "of the model's training statistics; %s has none (seqdream "
            "calibrate adds them)",
          k, sd_model_get_display_name (d->model));
  if (c->stop_known && sd_model_get_stats (d->model) == NULL)
    FAIL ("a stop once the dream is known to the model needs a model with "
          "training statistics; %s has none (seqdream calibrate adds them)",
        sd_model_get_display_name (d->model));
  if (!(c->border_tolerance >= 0.0f && c->border_tolerance < 0.5f))
    FAIL ("border tolerance %g must be in [0, 0.5) (0 = run all steps)",
        c->border_tolerance);
  if (!(c->diversity >= 0.0f && isfinite (c->diversity)))
    FAIL ("diversity weight %g must be a finite number >= 0", c->diversity);
  if (c->n_regs < 0 || c->n_regs > SD_DREAM_MAX_REGS)
    FAIL ("%d regularisers (expected 0..%d)", c->n_regs, SD_DREAM_MAX_REGS);
  for (int k = 0; k < c->n_regs; k++)
    if (!check_reg (d, &c->regs[k], k, T, error))
      return FALSE;
  for (int i = 0; i < n; i++) {
    const SdDreamSpec *sp = &specs[i];
    if (!check_objective (d, &sp->objective, i, T, error))
      return FALSE;
    switch (sp->init.type) {
      case SD_INIT_GAUSSIAN:
      case SD_INIT_UNIFORM:
      case SD_INIT_ZEROS:
      case SD_INIT_CONSTANT:
        if (!isfinite (sp->init.scale))
          FAIL ("dream %d: init scale %g is not a finite number", i,
              sp->init.scale);
        break;
      case SD_INIT_SERIES:
        if (sp->init.series == NULL)
          FAIL ("dream %d: series initialisation without a series (%d "
                "values expected)",
              i, T);
        break;
      default:
        FAIL ("dream %d: unknown initialisation %d", i, (int) sp->init.type);
    }
  }
  *T_out = T;
  return TRUE;
}

#undef FAIL
