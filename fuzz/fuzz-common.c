/* What the fuzz targets share.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <seqdream/stats.h>

#include <stdio.h>
#include <string.h>
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

static void
check_same_params (SdModel *x, SdModel *y)
{
  if (sd_model_get_n_params (y) != sd_model_get_n_params (x)
      || memcmp (sd_model_get_params (y), sd_model_get_params (x),
             sd_model_get_n_params (x) * sizeof (float))
             != 0)
    fuzz_fail ("the saved model has other parameters");
  if ((sd_model_get_stats (x) == NULL) != (sd_model_get_stats (y) == NULL))
    fuzz_fail ("the saved model lost or gained statistics");
}

void
fuzz_check_round_trip (SdModel *m)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) saved = sd_model_save_to_bytes (m);
  g_autoptr (SdModel) again = sd_model_load_from_bytes (saved, "saved", &error);
  const char *const *a, *const *b;

  if (again == NULL)
    fuzz_fail (
        "a loaded model, saved, does not load again: %s", error->message);
  const int M = sd_model_get_n_members (m);
  if (sd_model_get_n_members (again) != M)
    fuzz_fail ("the saved model has other members");
  if ((sd_model_get_stats (m) == NULL) != (sd_model_get_stats (again) == NULL))
    fuzz_fail ("the saved model lost or gained statistics");
  /* (an ensemble's parameters and members' statistics are its members') */
  if (M == 0)
    check_same_params (m, again);
  for (int i = 0; i < M; i++)
    check_same_params (
        sd_model_get_member (m, i), sd_model_get_member (again, i));
  a = sd_model_get_labels (m);
  b = sd_model_get_labels (again);
  for (int k = 0; k < sd_model_get_n_classes (m); k++)
    if (g_strcmp0 (a[k], b[k]) != 0)
      fuzz_fail ("label %d changed from '%s' to '%s'", k, a[k], b[k]);
  if (sd_model_get_train_length (again) != sd_model_get_train_length (m))
    fuzz_fail ("the training length changed");
  if (sd_model_get_min_length (again) != sd_model_get_min_length (m))
    fuzz_fail ("the shortest length changed");
}
