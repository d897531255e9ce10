/* Helpers shared by the gst-check programs of the seqdream element
 * (test_seqdream.c, test_trust.c): the golden model and the fixture, test
 * signals and buffers, F32 mono caps, and the messages on a bus.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>

#include "gst-test-fixture.h"
#include <math.h>

/* tests/data/golden/resnet-small.model.safetensors (2 classes "c0"/"c1",
 * training length 37, no normalisation, no sample rate, no statistics),
 * set by setup_paths, the checked fixture (with the fixture of
 * gst-test-fixture.h) of every test case. */
static gchar *golden_model;

static inline void
setup_paths (void)
{
  const gchar *dir = g_getenv ("SEQDREAM_TEST_DATA");

  fx_setup ();
  fail_unless (dir != NULL, "SEQDREAM_TEST_DATA is not set");
  golden_model = g_build_filename (
      dir, "golden", "resnet-small.model.safetensors", NULL);
}

static inline void
teardown_paths (void)
{
  fx_teardown ();
  g_clear_pointer (&golden_model, g_free);
}

/* A seqdream with the golden model and the given properties (NULL
 * terminated name/value pairs), its messages going to *bus; stopped after
 * the test (fx_element). */
static inline GstElement *
make_seqdream (GstBus **bus, const gchar *first_prop, ...)
{
  GstElement *el = gst_element_factory_make ("seqdream", NULL);
  va_list ap;

  fail_unless (el != NULL, "no seqdream element (GST_PLUGIN_PATH?)");
  fx_element (el);
  g_object_set (el, "model-file", golden_model, NULL);
  va_start (ap, first_prop);
  if (first_prop != NULL)
    g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  *bus = gst_bus_new ();
  gst_element_set_bus (el, *bus);
  return el;
}

/* A deterministic test signal: two sines and seeded noise. */
static inline gfloat *
make_signal (guint n, guint32 seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  gfloat *x = g_new (gfloat, n);

  for (guint i = 0; i < n; i++)
    x[i] = (gfloat) (sin (i * 0.21) + 0.5 * sin (i * 0.037 + 1.0)
                     + 0.3 * g_rand_double_range (r, -1.0, 1.0));
  g_rand_free (r);
  return x;
}

static inline GstBuffer *
make_buffer (
    const gfloat *x, guint n, guint64 offset, gint rate, GstClockTime base)
{
  GstBuffer *buf = gst_buffer_new_memdup (x, n * sizeof (gfloat));
  GstClockTime t0 = gst_util_uint64_scale_int (offset, GST_SECOND, rate);
  GstClockTime t1 = gst_util_uint64_scale_int (offset + n, GST_SECOND, rate);

  GST_BUFFER_PTS (buf) = base + t0;
  GST_BUFFER_DURATION (buf) = t1 - t0;
  GST_BUFFER_OFFSET (buf) = offset;
  GST_BUFFER_OFFSET_END (buf) = offset + n;
  return buf;
}

static inline GstCaps *
f32_caps (gint rate)
{
  return gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, rate,
      "channels", G_TYPE_INT, 1, NULL);
}

static inline GstEvent *
f32_caps_event (gint rate)
{
  GstCaps *caps = f32_caps (rate);
  GstEvent *ev = gst_event_new_caps (caps);

  gst_caps_unref (caps);
  return ev;
}

/* Messages now on the bus of `type` (and, when name is not NULL, with a
 * structure of that name), in order; the others stay on the bus. */
static inline GList *
take_messages (GstBus *bus, GstMessageType type, const gchar *name)
{
  GList *taken = NULL, *others = NULL, *l;
  GstMessage *m;

  while ((m = gst_bus_pop (bus)) != NULL) {
    if ((GST_MESSAGE_TYPE (m) & type) != 0
        && (name == NULL || gst_message_has_name (m, name)))
      taken = g_list_append (taken, m);
    else
      others = g_list_append (others, m);
  }
  for (l = others; l != NULL; l = l->next)
    gst_bus_post (bus, l->data);
  g_list_free (others);
  return taken;
}

static inline GList *
pop_element_messages (GstBus *bus, const gchar *name)
{
  return take_messages (bus, GST_MESSAGE_ELEMENT, name);
}

static inline guint
count_messages (GstBus *bus, GstMessageType type)
{
  GList *l = take_messages (bus, type, NULL);
  guint n = g_list_length (l);

  g_list_free_full (l, (GDestroyNotify) gst_message_unref);
  return n;
}

/* Wait up to `seconds` for an element message named `name`. */
static inline GstMessage *
wait_element_message (GstBus *bus, const gchar *name, gint seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND;

  while (g_get_monotonic_time () < deadline) {
    GstMessage *m = gst_bus_timed_pop_filtered (
        bus, 100 * GST_MSECOND, GST_MESSAGE_ELEMENT);
    if (m == NULL)
      continue;
    if (gst_message_has_name (m, name))
      return m;
    gst_message_unref (m);
  }
  return NULL;
}

static inline guint64
get_u64 (const GstStructure *s, const gchar *field)
{
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no field %s", field);
  return v;
}

static inline gdouble
array_double (const GstStructure *s, const gchar *field, guint i)
{
  const GValue *arr = gst_structure_get_value (s, field);

  fail_unless (arr != NULL && GST_VALUE_HOLDS_ARRAY (arr), "%s", field);
  fail_unless (i < gst_value_array_get_size (arr));
  return g_value_get_double (gst_value_array_get_value (arr, i));
}

static inline guint
count_metas (GstBuffer *buf)
{
  gpointer state = NULL;
  GstMeta *meta;
  guint n = 0;

  while ((meta = gst_buffer_iterate_meta (buf, &state)) != NULL)
    if (gst_meta_info_is_custom (meta->info)
        && gst_custom_meta_has_name ((GstCustomMeta *) meta, "SeqDreamMeta"))
      n++;
  return n;
}
