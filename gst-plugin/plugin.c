/* GStreamer seqdream plugin: time-series classification and Sequence
 * Dreaming (activation maximisation) for audio/sensor streams.
 * Every element of the plugin registers itself here.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "gstseqdream.h"
#include "gstseqdreammeta.h"
#include "gstvibrationsrc.h"
#ifdef HAVE_SEQDREAMVIZ
#include "gstseqdreamviz.h"
#endif
#ifdef HAVE_MOSQUITTOSINK
#include "gstmosquittosink.h"
#endif

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ret = FALSE;

  gst_seq_dream_meta_get_info ();

  ret |= GST_ELEMENT_REGISTER (seqdream, plugin);
  ret |= GST_ELEMENT_REGISTER (vibrationsrc, plugin);
#ifdef HAVE_SEQDREAMVIZ
  ret |= GST_ELEMENT_REGISTER (seqdreamviz, plugin);
#endif
#ifdef HAVE_MOSQUITTOSINK
  ret |= GST_ELEMENT_REGISTER (mosquittosink, plugin);
#endif

  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, seqdream,
    "Time-series classification and Sequence Dreaming with 1-D CNNs",
    plugin_init, VERSION, GST_LICENSE, GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
