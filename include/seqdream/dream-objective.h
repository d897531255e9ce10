/* seqdream: the objective of a dream, a weighted sum of terms on the
 * model's class scores or on a layer's activations (docs/dreaming.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SD_OBJECTIVE_LOGIT,           /* z_a: "centered", push deep into class a */
  SD_OBJECTIVE_PROBABILITY,     /* p_a */
  SD_OBJECTIVE_LOG_PROBABILITY, /* log p_a */
  SD_OBJECTIVE_BORDER,          /* p_a = p_b: log(p_a + p_b) -
                                 * (z_a - z_b)^2, the decision boundary of
                                 * classes a and b, above all others */
  SD_OBJECTIVE_CHANNEL,         /* mean over time of channel c of a layer */
  SD_OBJECTIVE_NEURON,          /* channel c of a layer at time `position` */
} SdObjectiveType;

typedef struct
{
  SdObjectiveType type;
  float weight; /* 1 */
  int class_a;  /* LOGIT / PROBABILITY / LOG_PROB / BORDER */
  int class_b;  /* BORDER */
  int layer;    /* CHANNEL / NEURON: sd_model_find_layer */
  int channel;
  int position; /* NEURON; negative counts from the end */
} SdObjectiveTerm;

#define SD_DREAM_MAX_TERMS 8

/* A weighted sum of terms. */
typedef struct
{
  int n_terms;
  SdObjectiveTerm terms[SD_DREAM_MAX_TERMS];
} SdObjective;

/* Convenience constructors (one term of weight 1). */
SdObjective sd_objective_centered (int class_index);
SdObjective sd_objective_border (int class_a, int class_b);

G_END_DECLS
