/* seqdream: Sequence Dreaming for time-series classifiers.
 * Include this header for the whole public API of libseqdream.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <seqdream/version.h>
#include <seqdream/error.h>
#include <seqdream/layers.h>
#include <seqdream/safetensors.h>
#include <seqdream/data.h>
#include <seqdream/arch.h>
#include <seqdream/model.h>
#include <seqdream/evaluate.h>
#include <seqdream/train.h>
#include <seqdream/dream-objective.h>
#include <seqdream/dream-regularizer.h>
#include <seqdream/dream-spectrum.h>
#include <seqdream/dream-feature.h>
#include <seqdream/dream-config.h>
#include <seqdream/dream.h>
#include <seqdream/attribution.h>
#include <seqdream/dtw.h>
#include <seqdream/metrics.h>
#include <seqdream/envelope.h>
#include <seqdream/bearing.h>
#include <seqdream/stats.h>
#include <seqdream/graph.h>
#include <seqdream/onnx.h>
