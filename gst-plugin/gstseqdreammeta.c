/* GStreamer seqdream: the per-buffer classification result.
 *
 * GStreamer 1.22 has no analytics meta (GstAnalyticsRelationMeta arrives in
 * 1.24), so the result travels as a GstCustomMeta named "SeqDreamMeta"
 * whose structure has the fields of the "seqdream" element message. It is
 * registered without tags: GstBaseTransform and GstAudioFilter copy untagged
 * metas, and the default transform of a custom meta copies the structure
 * when a buffer is copied.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdreammeta.h"

const GstMetaInfo *
gst_seq_dream_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    static const gchar *tags[] = { NULL };
    const GstMetaInfo *i = gst_meta_register_custom (
        GST_SEQ_DREAM_META_NAME, tags, NULL, NULL, NULL);
    gst_meta_register_custom (
        GST_SEQ_DREAM_ATTRIBUTION_META_NAME, tags, NULL, NULL, NULL);
    g_once_init_leave (&info, i);
  }
  return info;
}

static gboolean
copy_field (GQuark field, const GValue *value, gpointer user_data)
{
  gst_structure_id_set_value (GST_STRUCTURE (user_data), field, value);
  return TRUE;
}

static GstCustomMeta *
add_meta (GstBuffer *buffer, const gchar *name, const GstStructure *fields)
{
  GstCustomMeta *meta;

  gst_seq_dream_meta_get_info ();
  meta = gst_buffer_add_custom_meta (buffer, name);
  if (meta == NULL)
    return NULL;
  gst_structure_foreach (
      fields, copy_field, gst_custom_meta_get_structure (meta));
  return meta;
}

GstCustomMeta *
gst_buffer_add_seq_dream_meta (GstBuffer *buffer, const GstStructure *result)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (result != NULL, NULL);
  return add_meta (buffer, GST_SEQ_DREAM_META_NAME, result);
}

GstCustomMeta *
gst_buffer_add_seq_dream_attribution_meta (
    GstBuffer *buffer, const GstStructure *attribution)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (gst_buffer_is_writable (buffer), NULL);
  g_return_val_if_fail (attribution != NULL, NULL);
  return add_meta (buffer, GST_SEQ_DREAM_ATTRIBUTION_META_NAME, attribution);
}

GstCustomMeta *
gst_buffer_get_seq_dream_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return gst_buffer_get_custom_meta (buffer, GST_SEQ_DREAM_META_NAME);
}
