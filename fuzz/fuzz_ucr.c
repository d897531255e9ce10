/* Fuzz target: the UCR text loader.
 *
 * The input is a whole UCR file, loaded with
 * sd_dataset_load_ucr_from_bytes (the parser behind sd_dataset_load_ucr).
 * Checked:
 *   - a rejected file comes with an SD_ERROR;
 *   - an accepted one has n > 0 rows of length > 0, finite values, class
 *     indices below n_classes and n_classes distinct labels;
 *   - loading it again onto its own labels (the path of a test file mapped
 *     onto training labels) succeeds with the same classes and values;
 *   - mapping onto a fixed label set fails cleanly or gives valid indices;
 *   - sd_dataset_subset and sd_zscore_series run on it.
 * Anything else abort ()s.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <seqdream/data.h>

#include <math.h>
#include <string.h>

static void
check_rejected (const GError *error, const char *what)
{
  if (error == NULL || error->domain != SD_ERROR || error->message == NULL)
    fuzz_fail ("%s failed without an SD_ERROR", what);
}

static void
check_dataset (const SdDataset *ds)
{
  gsize n_values = (gsize) ds->n * ds->length;

  if (ds->n == 0 || ds->length == 0 || ds->n_classes == 0)
    fuzz_fail ("empty dataset accepted (%u x %u, %u classes)", ds->n,
        ds->length, ds->n_classes);
  for (guint k = 0; k < ds->n_classes; k++) {
    if (ds->labels[k] == NULL)
      fuzz_fail ("label %u is NULL", k);
    for (guint j = 0; j < k; j++)
      if (strcmp (ds->labels[j], ds->labels[k]) == 0)
        fuzz_fail ("label '%s' twice", ds->labels[k]);
  }
  if (ds->labels[ds->n_classes] != NULL)
    fuzz_fail ("more labels than classes");
  for (guint i = 0; i < ds->n; i++)
    if (ds->y[i] < 0 || (guint) ds->y[i] >= ds->n_classes)
      fuzz_fail ("row %u has class %d of %u", i, ds->y[i], ds->n_classes);
  for (gsize i = 0; i < n_values; i++)
    if (!isfinite (ds->x[i]))
      fuzz_fail ("value %" G_GSIZE_FORMAT " is not finite", i);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_abort_on_log (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const fixed[] = { "-1", "1", "2", NULL };
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdDataset) ds = NULL;
  g_autoptr (SdDataset) again = NULL;
  g_autoptr (SdDataset) mapped = NULL;
  g_autoptr (SdDataset) sub = NULL;
  guint idx[2];

  ds = sd_dataset_load_ucr_from_bytes (bytes, "fuzz.tsv", NULL, &error);
  if (ds == NULL) {
    check_rejected (error, "sd_dataset_load_ucr_from_bytes");
    return 0;
  }
  check_dataset (ds);

  again = sd_dataset_load_ucr_from_bytes (
      bytes, "fuzz.tsv", (const char *const *) ds->labels, &error);
  if (again == NULL)
    fuzz_fail (
        "the file does not load onto its own labels: %s", error->message);
  check_dataset (again);
  if (again->n != ds->n || again->length != ds->length
      || again->n_classes != ds->n_classes
      || memcmp (again->y, ds->y, ds->n * sizeof (int)) != 0
      || memcmp (again->x, ds->x, (gsize) ds->n * ds->length * sizeof (float))
             != 0)
    fuzz_fail ("loaded onto its own labels, the file gives another dataset");

  mapped = sd_dataset_load_ucr_from_bytes (bytes, "fuzz.tsv", fixed, &error);
  if (mapped == NULL)
    check_rejected (error, "mapping onto fixed labels");
  else
    check_dataset (mapped);
  g_clear_error (&error);

  idx[0] = ds->n - 1;
  idx[1] = 0;
  sub = sd_dataset_subset (ds, idx, 2);
  check_dataset (sub);
  for (guint i = 0; i < sub->n; i++)
    sd_zscore_series (sub->x + (gsize) i * sub->length, sub->length);
  check_dataset (sub); /* z-scores of finite values are finite */
  return 0;
}
