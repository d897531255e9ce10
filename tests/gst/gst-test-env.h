/* Helpers shared by the gst-check programs of tests/gst/.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>

/* The positive integer in the environment variable `name`, or `fallback`
 * when it is unset or empty; anything else fails the test. (Lengths,
 * cycle counts and timeouts that valgrind and the sanitizer builds
 * shorten or stretch.) */
static inline guint
env_uint (const gchar *name, guint fallback)
{
  const gchar *v = g_getenv (name);
  guint64 n;

  if (v == NULL || *v == '\0')
    return fallback;
  fail_unless (g_ascii_string_to_unsigned (v, 10, 1, G_MAXUINT, &n, NULL),
      "%s=%s is not a positive number", name, v);
  return (guint) n;
}
