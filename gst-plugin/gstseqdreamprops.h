/* The seqdream element's own properties (gstseqdreamprops.c installs
 * them; gstseqdream.c sets and gets them): their ids and defaults.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef GST_SEQ_DREAM_PROPS_H
#define GST_SEQ_DREAM_PROPS_H

#include "gstseqdreamattribution.h"
#include "gstseqdreamchannels.h"

#include <glib-object.h>

G_BEGIN_DECLS

#define DEFAULT_MODEL_FILE NULL
#define DEFAULT_WINDOW 0
#define DEFAULT_HOP 0
#define DEFAULT_NORMALIZE GST_SEQ_DREAM_NORMALIZE_MODEL
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_DREAM_TRIGGER GST_SEQ_DREAM_TRIGGER_NONE
#define DEFAULT_DREAM_INTERVAL (10 * GST_SECOND)
#define DEFAULT_DREAM_THRESHOLD 0.6
#define DEFAULT_DREAM_MODE GST_SEQ_DREAM_MODE_CENTERED
/* 0: the preset's (realistic on a model with a sample rate: 1500), else
 * libseqdream's default (500) */
#define DEFAULT_DREAM_STEPS 0
/* 0: the preset's (realistic: 0.01, on a model with a sample rate 0.05),
 * else libseqdream's default (0.05) */
#define DEFAULT_DREAM_LEARNING_RATE 0.0
#define DEFAULT_DREAM_L2 0.0
#define DEFAULT_DREAM_TV 0.0
/* off: the presets shape the dream's spectrum themselves (the default
 * model through the element, docs/trust.md: at 0.8 the outer-race dreams
 * sat on BPFO 4 times in 20 instead of 14) */
#define DEFAULT_DREAM_SMOOTHING_ALPHA 0.0
#define DEFAULT_DREAM_GAUSSIAN_SIGMA 0.0
#define DEFAULT_DREAM_SEED 0
#define DEFAULT_DREAM_QUEUE_SIZE 4
#define DEFAULT_DREAM_PRESET "realistic"
#define DEFAULT_DREAM_REFERENCE NULL
#define DEFAULT_GAIN 1.0
/* gain * sample must stay a finite float for any sensible sample */
#define GAIN_MIN 1e-9
#define GAIN_MAX 1e9
#define DEFAULT_NOVELTY_THRESHOLD -1.0
#define DEFAULT_STATE_HOLDOFF 3

enum
{
  PROP_0,
  PROP_MODEL_FILE,
  PROP_WINDOW,
  PROP_HOP,
  PROP_NORMALIZE,
  PROP_POST_MESSAGES,
  PROP_DREAM_TRIGGER,
  PROP_DREAM_INTERVAL,
  PROP_DREAM_THRESHOLD,
  PROP_DREAM_MODE,
  PROP_DREAM_STEPS,
  PROP_DREAM_LEARNING_RATE,
  PROP_DREAM_L2,
  PROP_DREAM_TV,
  PROP_DREAM_SMOOTHING_ALPHA,
  PROP_DREAM_GAUSSIAN_SIGMA,
  PROP_DREAM_SEED,
  PROP_DREAM_QUEUE_SIZE,
  PROP_DREAM_DROPPED,
  PROP_DREAM_PRESET,
  PROP_DREAM_REFERENCE,
  PROP_GAIN,
  PROP_NOVELTY_THRESHOLD,
  PROP_STATE_HOLDOFF,
  /* gstseqdreamattribution.c's, in the order of AttributionProp */
  PROP_ATTRIBUTION,
  PROP_ATTRIBUTION_LAST = PROP_ATTRIBUTION + N_ATTRIBUTION_PROPS - 1,
  /* gstseqdreamchannels.c's, in the order of ChannelsProp */
  PROP_CHANNELS,
  PROP_CHANNELS_LAST = PROP_CHANNELS + N_CHANNELS_PROPS - 1,
};

/* Installs every property of the element on its class (the attribution
 * and channels ones through their files' installers). */
void gst_seq_dream_install_properties (GObjectClass *gobject_class);

G_END_DECLS

#endif
