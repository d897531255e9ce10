/* The configuration of a dream run: its defaults, the recommended
 * presets and the reference data the spectral regularisers and the
 * feature anchor take their targets from.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <string.h>

void
sd_dream_config_init (SdDreamConfig *c, const SdModel *model)
{
  g_return_if_fail (c != NULL);
  memset (c, 0, sizeof *c);
  c->length = model != NULL ? (int) sd_model_get_train_length (model) : 0;
  c->steps = 500;
  c->optimizer = SD_DREAM_OPT_ADAM;
  c->lr = 0.05f;
  c->lr_decay = 1.0f;
  c->momentum = 0.9f;
  c->grad_clip = 0.0f;
  c->keep_best = TRUE;
  c->stop_probability = 0.0f;
  c->border_tolerance = 0.005f;
  c->diversity = 0.0f;
  c->znormalize
      = model != NULL
        && sd_model_get_normalization (model).mode == SD_NORM_PER_SERIES;
  c->n_regs = 0;
}

gboolean
sd_dream_config_add (SdDreamConfig *c, SdRegularizer reg)
{
  g_return_val_if_fail (c != NULL, FALSE);
  if (c->n_regs < 0 || c->n_regs >= SD_DREAM_MAX_REGS)
    return FALSE;
  c->regs[c->n_regs++] = reg;
  return TRUE;
}
