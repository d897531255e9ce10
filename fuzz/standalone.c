/* A main () for the fuzz targets without libFuzzer: runs every file named
 * on the command line, and every file of every directory named (sorted by
 * name, dot files skipped), through LLVMFuzzerTestOneInput once. With gcc
 * or clang, with or without sanitizers, it turns a target into a
 * regression test that replays the committed corpus (fuzz/meson.build).
 *
 *   fuzz_model [-v] FILE|DIR...
 *
 * Each input is copied to a buffer of exactly its size, as libFuzzer does,
 * so that AddressSanitizer sees a read one byte past the end. A missing
 * file or directory is an error; an empty directory is not.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gboolean verbose;

static void
run_file (const char *path, guint *n_run)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree guint8 *exact = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, &error)) {
    fprintf (stderr, "standalone: %s\n", error->message);
    exit (2);
  }
  /* No NUL after the data: g_file_get_contents adds one. */
  exact = g_malloc (MAX (len, 1));
  memcpy (exact, contents, len);
  if (verbose)
    fprintf (stderr, "running %s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
  LLVMFuzzerTestOneInput (exact, len);
  (*n_run)++;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
run_dir (const char *dir_path, guint *n_run)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GDir *dir = g_dir_open (dir_path, 0, &error);
  const char *name;

  if (dir == NULL) {
    fprintf (stderr, "standalone: %s\n", error->message);
    exit (2);
  }
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_dir_close (dir);
  g_ptr_array_sort (names, compare_names);

  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path
        = g_build_filename (dir_path, g_ptr_array_index (names, i), NULL);
    if (!g_file_test (path, G_FILE_TEST_IS_DIR))
      run_file (path, n_run);
  }
}

int
main (int argc, char **argv)
{
  guint n_run = 0;
  gint64 t0 = g_get_monotonic_time ();

  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "-v") == 0)
      verbose = TRUE;
    else if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
      run_dir (argv[i], &n_run);
    else if (g_file_test (argv[i], G_FILE_TEST_EXISTS))
      run_file (argv[i], &n_run);
    else {
      fprintf (stderr, "standalone: %s does not exist\n", argv[i]);
      return 2;
    }
  }
  printf ("%s: %u inputs ran without a failure in %.2f s\n", argv[0], n_run,
      (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}
