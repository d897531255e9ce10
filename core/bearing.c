/* Rolling-bearing geometry and defect frequencies (seqdream/bearing.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/bearing.h"

#include <math.h>
#include <string.h>

const SdBearing sd_bearing_skf_6205
    = { "skf-6205", "SKF 6205-2RS JEM", 9, 0.3126, 1.537, 0.0 };
const SdBearing sd_bearing_skf_6203
    = { "skf-6203", "SKF 6203-2RS JEM", 8, 0.2656, 1.122, 0.0 };

const SdBearing *
sd_bearing_lookup (const char *id)
{
  static const SdBearing *const known[]
      = { &sd_bearing_skf_6205, &sd_bearing_skf_6203 };

  g_return_val_if_fail (id != NULL, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (known); i++)
    if (strcmp (known[i]->id, id) == 0)
      return known[i];
  return NULL;
}

SdBearingFrequencies
sd_bearing_frequencies (const SdBearing *bearing, double shaft)
{
  SdBearingFrequencies f = { 0 };

  g_return_val_if_fail (bearing != NULL, f);
  g_return_val_if_fail (bearing->n_balls > 0, f);
  g_return_val_if_fail (bearing->ball_diameter > 0.0
                            && bearing->ball_diameter < bearing->pitch_diameter,
      f);

  const double n = bearing->n_balls;
  const double d = bearing->ball_diameter, D = bearing->pitch_diameter;
  const double r = d / D * cos (bearing->contact_angle);
  /* The shaft frequency multiplies in second place: the order in which
   * seqdream envelope and vibrationsrc always computed them. */
  f.shaft = shaft;
  f.bpfi = n / 2.0 * shaft * (1.0 + r);
  f.bpfo = n / 2.0 * shaft * (1.0 - r);
  f.bsf = D / (2.0 * d) * shaft * (1.0 - r * r);
  f.ftf = 0.5 * shaft * (1.0 - r);
  return f;
}
