/* Out of memory is SD_ERROR_NOMEM, with the size in the message, not a
 * crash and not an "invalid argument". Each case runs in a subprocess
 * whose address space is limited (RLIMIT_AS), so an allocation of a few
 * GB fails for certain whatever the machine has.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <string.h>
#include <sys/resource.h>

/* A window of 2^20 samples: the workspace of the golden resnet-small
 * model needs 3.6 GiB for it, under the library's limit of 8 GiB (above,
 * the size itself is refused as impossible: SD_ERROR_INVALID_ARG). */
#define HUGE_LENGTH (1 << 20)

static SdModel *
golden_model (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  SdModel *m;

  g_assert_nonnull (dir);
  path = g_build_filename (
      dir, "golden", "resnet-small.model.safetensors", NULL);
  m = sd_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

/* 1 GB of address space more than now: loading and small allocations
 * work, a workspace of several GB does not. */
static void
limit_address_space (void)
{
  struct rlimit rl;
  g_autofree char *status = NULL;
  const char *vm;
  guint64 kb = 0;

  g_assert_true (
      g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  vm = strstr (status, "VmSize:");
  g_assert_nonnull (vm);
  kb = g_ascii_strtoull (vm + strlen ("VmSize:"), NULL, 10);
  rl.rlim_cur = rl.rlim_max = (kb + 1024 * 1024) * 1024;
  g_assert_cmpint (setrlimit (RLIMIT_AS, &rl), ==, 0);
}

static void
check_nomem (GError *error, const char *what)
{
  g_assert_error (error, SD_ERROR, SD_ERROR_NOMEM);
  g_assert_nonnull (strstr (error->message, what));
}

static void
test_workspace_nomem (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    SdModel *m = golden_model ();
    limit_address_space ();
    g_assert_null (sd_workspace_new (m, 1, HUGE_LENGTH, SD_MODE_EVAL, &error));
    check_nomem (error, "workspace");
    sd_model_unref (m);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_dreamer_nomem (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    SdModel *m = golden_model ();
    limit_address_space ();
    g_assert_null (sd_dreamer_new (m, 1, HUGE_LENGTH, &error));
    check_nomem (error, "out of memory");
    sd_model_unref (m);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

#if defined(__SANITIZE_ADDRESS__)
static void
test_skipped (void)
{
  /* ASan reserves terabytes of shadow address space: RLIMIT_AS cannot be
   * set below that. The optimised build runs these. */
  g_test_skip ("RLIMIT_AS does not work with AddressSanitizer");
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#if defined(__SANITIZE_ADDRESS__)
  g_test_add_func ("/nomem/asan", test_skipped);
#else
  g_test_add_func ("/nomem/workspace", test_workspace_nomem);
  g_test_add_func ("/nomem/dreamer", test_dreamer_nomem);
#endif
  return g_test_run ();
}
