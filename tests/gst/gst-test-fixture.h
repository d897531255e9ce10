/* The checked fixture of the gst-check programs of tests/gst/: what a test
 * starts is stopped after it, also when a failed check left the test body
 * early. Without fork (CK_FORK=no, as under valgrind) a failure longjmps
 * out of the body and the next test runs in the same process: an element
 * left PLAYING keeps its streaming and dream threads running, and they
 * call probes and handlers whose data the test freed or whose stack frame
 * is gone (the valgrind stage once hung on such a probe's mutex).
 *
 * The order is the point: first every harness is torn down and every
 * element and pipeline brought to NULL (newest first), so that no thread
 * of theirs runs any more; only then is the data of their probes and
 * handlers freed (newest first). So a test
 *   - makes harnesses with fx_harness () (and tears one down early with
 *     fx_harness_teardown (), never gst_harness_teardown ());
 *   - hands elements and pipelines it starts to fx_element ();
 *   - allocates what a probe, handler or sync handler gets as user data
 *     with fx_take (), never on its stack, and does not free it itself.
 * Add fx_setup/fx_teardown with tcase_add_checked_fixture.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

typedef struct
{
  GstHarness *harness; /* or */
  GstElement *element; /* a reference of the fixture's */
} FxStop;

typedef struct
{
  gpointer data;
  GDestroyNotify free_func;
} FxFree;

static GArray *fx_stops; /* FxStop, in the order of creation */
static GArray *fx_frees; /* FxFree */

static inline void
fx_setup (void)
{
  fx_stops = g_array_new (FALSE, FALSE, sizeof (FxStop));
  fx_frees = g_array_new (FALSE, FALSE, sizeof (FxFree));
}

static inline void
fx_teardown (void)
{
  /* Stop: no streaming, dream or worker thread runs after this. */
  for (guint i = fx_stops->len; i-- > 0;) {
    FxStop *s = &g_array_index (fx_stops, FxStop, i);
    if (s->harness != NULL) {
      gst_harness_teardown (s->harness);
    } else {
      gst_element_set_state (s->element, GST_STATE_NULL);
      gst_object_unref (s->element);
    }
  }
  g_array_unref (fx_stops);
  fx_stops = NULL;
  /* Then free what their probes and handlers used. */
  for (guint i = fx_frees->len; i-- > 0;) {
    FxFree *f = &g_array_index (fx_frees, FxFree, i);
    f->free_func (f->data);
  }
  g_array_unref (fx_frees);
  fx_frees = NULL;
}

/* gst_harness_new_with_element (), torn down after the test. */
static inline GstHarness *
fx_harness (GstElement *element, const gchar *sink, const gchar *src)
{
  FxStop s = { gst_harness_new_with_element (element, sink, src), NULL };

  fail_unless (s.harness != NULL);
  g_array_append_val (fx_stops, s);
  return s.harness;
}

/* Tears h down now (it must come from fx_harness ()). */
static inline void
fx_harness_teardown (GstHarness *h)
{
  for (guint i = 0; i < fx_stops->len; i++)
    if (g_array_index (fx_stops, FxStop, i).harness == h) {
      g_array_remove_index (fx_stops, i);
      gst_harness_teardown (h);
      return;
    }
  fail ("fx_harness_teardown: %p is not a harness of the fixture", h);
}

/* The element (or pipeline) goes to NULL after the test; the fixture takes
 * a reference of its own (a floating one is sunk first: the test keeps
 * its reference). Returns it. */
static inline GstElement *
fx_element (GstElement *element)
{
  FxStop s = { NULL, element };

  fail_unless (element != NULL);
  if (g_object_is_floating (element))
    gst_object_ref_sink (element);
  gst_object_ref (element);
  g_array_append_val (fx_stops, s);
  return element;
}

/* data, freed with free_func after every element of the test stopped. */
static inline gpointer
fx_take (gpointer data, GDestroyNotify free_func)
{
  FxFree f = { data, free_func };

  g_array_append_val (fx_frees, f);
  return data;
}
