/* What the fuzz targets share.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <stdio.h>
#include <stdlib.h>

static GLogLevelFlags abort_levels;

static GLogWriterOutput
abort_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
    gpointer user_data)
{
  GLogWriterOutput ret
      = g_log_writer_default (level, fields, n_fields, user_data);

  if (level & abort_levels)
    abort ();
  return ret;
}

void
fuzz_abort_on_log (GLogLevelFlags levels)
{
  abort_levels = levels | G_LOG_LEVEL_ERROR;
  /* g_log () passes through the writer too (GLib >= 2.50). */
  g_log_set_writer_func (abort_writer, NULL, NULL);
}

void
fuzz_fail (const char *format, ...)
{
  va_list args;

  va_start (args, format);
  fprintf (stderr, "fuzz: check failed: ");
  vfprintf (stderr, format, args);
  fprintf (stderr, "\n");
  va_end (args);
  abort ();
}
