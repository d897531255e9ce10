/* GStreamer mosquittosink: publishes every buffer as one MQTT message
 * through libmosquitto (Debian's libmosquitto-dev), from a bounded queue
 * that drops the oldest message, so that a slow or absent broker never
 * blocks the pipeline.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_MOSQUITTO_SINK (gst_mosquitto_sink_get_type ())
G_DECLARE_FINAL_TYPE (
    GstMosquittoSink, gst_mosquitto_sink, GST, MOSQUITTO_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (mosquittosink);

G_END_DECLS
