/* GStreamer vibrationsrc: synthesizes rolling-element-bearing vibration
 * (shaft harmonics, fault impulse trains exciting a structural resonance,
 * noise) as mono F32 audio.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/base/gstbasesrc.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_VIBRATION_SRC (gst_vibration_src_get_type ())
G_DECLARE_FINAL_TYPE (
    GstVibrationSrc, gst_vibration_src, GST, VIBRATION_SRC, GstBaseSrc)

/**
 * GstVibrationSrcFault:
 * @GST_VIBRATION_SRC_FAULT_NONE: a healthy bearing (shaft harmonics and
 *   noise only)
 * @GST_VIBRATION_SRC_FAULT_INNER_RACE: inner-race defect: impulses at BPFI,
 *   amplitude-modulated at the shaft frequency
 * @GST_VIBRATION_SRC_FAULT_OUTER_RACE: outer-race defect (fixed, in the
 *   load zone): impulses at BPFO
 * @GST_VIBRATION_SRC_FAULT_BALL: rolling-element defect: impulses at BSF,
 *   amplitude-modulated at the cage frequency FTF
 *
 * The simulated bearing condition.
 */
typedef enum
{
  GST_VIBRATION_SRC_FAULT_NONE,
  GST_VIBRATION_SRC_FAULT_INNER_RACE,
  GST_VIBRATION_SRC_FAULT_OUTER_RACE,
  GST_VIBRATION_SRC_FAULT_BALL,
} GstVibrationSrcFault;

GType gst_vibration_src_fault_get_type (void);
#define GST_TYPE_VIBRATION_SRC_FAULT (gst_vibration_src_fault_get_type ())

GST_ELEMENT_REGISTER_DECLARE (vibrationsrc);

G_END_DECLS
