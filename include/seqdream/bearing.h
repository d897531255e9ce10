/* seqdream: rolling-bearing geometry and its defect frequencies, the
 * markers of the envelope spectrum (seqdream envelope) and the impulse
 * rates of the vibrationsrc element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The geometry of a rolling-element bearing. Ball and pitch diameter share
 * one unit (only their ratio counts). */
typedef struct
{
  const char *id;        /* for lookups: "skf-6205" */
  const char *name;      /* for people: "SKF 6205-2RS JEM" */
  int n_balls;           /* rolling elements */
  double ball_diameter;  /* d */
  double pitch_diameter; /* D, of the circle through the ball centres */
  double contact_angle;  /* rad; 0 for a deep-groove ball bearing */
} SdBearing;

/* The characteristic frequencies of a bearing at one shaft speed, in the
 * unit of the shaft frequency (Hz, or orders for a shaft of 1). With
 * r = d / D cos (contact angle) and n balls:
 *   BPFI = n / 2 f_r (1 + r)        inner-race defect (ball pass, inner)
 *   BPFO = n / 2 f_r (1 - r)        outer-race defect (ball pass, outer)
 *   BSF  = D / (2 d) f_r (1 - r^2)  ball spin; a ball defect strikes both
 *                                   races, so its line is 2 BSF
 *   FTF  = f_r / 2 (1 - r)          cage (fundamental train) */
typedef struct
{
  double shaft; /* f_r */
  double bpfi, bpfo, bsf, ftf;
} SdBearingFrequencies;

/* The drive-end bearing of the CWRU bearing data rig: SKF 6205-2RS JEM,
 * 9 balls of 0.3126 in on a pitch diameter of 1.537 in, contact angle 0.
 * Multiples of the shaft frequency: BPFI 5.4152, BPFO 3.5848,
 * BSF 2.3567 (2 BSF 4.7134), FTF 0.3983. */
extern const SdBearing sd_bearing_skf_6205;

/* The fan-end bearing of the same rig: SKF 6203-2RS JEM, 8 balls of
 * 0.2656 in on 1.122 in. BPFI 4.9469, BPFO 3.0531, 2 BSF 3.9877,
 * FTF 0.3817. */
extern const SdBearing sd_bearing_skf_6203;

/* The bearing with this id ("skf-6205", "skf-6203"), or NULL. */
const SdBearing *sd_bearing_lookup (const char *id);

/* The frequencies of @bearing at a shaft frequency of @shaft (Hz; 1 gives
 * the multiples of the shaft frequency). */
SdBearingFrequencies sd_bearing_frequencies (
    const SdBearing *bearing, double shaft);

G_END_DECLS
