/* Bearing defect frequencies: the CWRU bearings' published multiples of the
 * shaft frequency, the frequencies at a shaft speed, the contact angle, the
 * lookup.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <math.h>

/* The CWRU bearing data center's table of defect frequencies (multiples of
 * the running speed) gives four or five digits; its "rolling element"
 * column is 2 BSF. */
static void
test_skf_6205_multiples (void)
{
  SdBearingFrequencies f = sd_bearing_frequencies (&sd_bearing_skf_6205, 1.0);

  g_assert_cmpfloat (f.shaft, ==, 1.0);
  g_assert_cmpfloat_with_epsilon (f.bpfi, 5.4152, 1e-4);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 3.5848, 1e-4);
  g_assert_cmpfloat_with_epsilon (2.0 * f.bsf, 4.7135, 1e-4);
  /* The table says 0.39828; the geometry gives 0.3983084. */
  g_assert_cmpfloat_with_epsilon (f.ftf, 0.39828, 1e-4);

  /* The values seqdream envelope and vibrationsrc used before they shared
   * this code (r = 0.3126 / 1.537), to the last digit printed. */
  g_assert_cmpfloat_with_epsilon (f.bpfi, 5.4152245, 1e-7);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 3.5847755, 1e-7);
  g_assert_cmpfloat_with_epsilon (f.bsf, 2.3567217, 1e-7);
  g_assert_cmpfloat_with_epsilon (f.ftf, 0.3983084, 1e-7);

  /* Relations that hold for any geometry. */
  g_assert_cmpfloat_with_epsilon (f.bpfi + f.bpfo, 9.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 9.0 * f.ftf, 1e-12);
}

static void
test_skf_6203_multiples (void)
{
  SdBearingFrequencies f = sd_bearing_frequencies (&sd_bearing_skf_6203, 1.0);

  /* The table's BPFO and 2 BSF are 3.0530 and 3.9874; the geometry gives
   * 3.0531 and 3.9877. */
  g_assert_cmpfloat_with_epsilon (f.bpfi, 4.9469, 1e-4);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 3.0530, 2e-4);
  g_assert_cmpfloat_with_epsilon (2.0 * f.bsf, 3.9874, 5e-4);
  g_assert_cmpfloat_with_epsilon (f.ftf, 0.3817, 1e-4);
}

/* At 1796 rpm (CWRU, 0 hp): BPFI 162.1 Hz, BPFO 107.3 Hz, 2 BSF 141.1 Hz,
 * FTF 11.9 Hz; and every frequency scales with the shaft. */
static void
test_shaft_speed (void)
{
  const double fr = 1796.0 / 60.0;
  SdBearingFrequencies one = sd_bearing_frequencies (&sd_bearing_skf_6205, 1.0);
  SdBearingFrequencies f = sd_bearing_frequencies (&sd_bearing_skf_6205, fr);

  g_assert_cmpfloat (f.shaft, ==, fr);
  g_assert_cmpfloat_with_epsilon (f.bpfi, 162.09, 0.01);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 107.30, 0.01);
  g_assert_cmpfloat_with_epsilon (2.0 * f.bsf, 141.09, 0.01);
  g_assert_cmpfloat_with_epsilon (f.ftf, 11.92, 0.01);
  /* Bit for bit the expressions of seqdream envelope before it used this
   * code (its JSON prints every digit). */
  const double r = 0.3126 / 1.537;
  g_assert_cmpfloat (f.bpfo, ==, 9 / 2.0 * fr * (1.0 - r));
  g_assert_cmpfloat (f.bpfi, ==, 9 / 2.0 * fr * (1.0 + r));
  g_assert_cmpfloat (f.bsf, ==, 1.537 / (2.0 * 0.3126) * fr * (1.0 - r * r));
  g_assert_cmpfloat_with_epsilon (f.bpfi, one.bpfi * fr, 1e-9);
  g_assert_cmpfloat_with_epsilon (f.bsf, one.bsf * fr, 1e-9);

  SdBearingFrequencies still
      = sd_bearing_frequencies (&sd_bearing_skf_6205, 0.0);
  g_assert_cmpfloat (still.bpfi, ==, 0.0);
  g_assert_cmpfloat (still.ftf, ==, 0.0);
}

/* A contact angle shortens the effective ratio r = d / D cos (a): at 60
 * degrees it halves. */
static void
test_contact_angle (void)
{
  SdBearing b = { "test", "angular contact", 10, 0.2, 1.0, G_PI / 3.0 };
  SdBearingFrequencies f = sd_bearing_frequencies (&b, 1.0);
  const double r = 0.1;

  g_assert_cmpfloat_with_epsilon (f.bpfi, 5.0 * (1.0 + r), 1e-12);
  g_assert_cmpfloat_with_epsilon (f.bpfo, 5.0 * (1.0 - r), 1e-12);
  g_assert_cmpfloat_with_epsilon (f.bsf, 2.5 * (1.0 - r * r), 1e-12);
  g_assert_cmpfloat_with_epsilon (f.ftf, 0.5 * (1.0 - r), 1e-12);
}

static void
test_lookup (void)
{
  g_assert_true (sd_bearing_lookup ("skf-6205") == &sd_bearing_skf_6205);
  g_assert_true (sd_bearing_lookup ("skf-6203") == &sd_bearing_skf_6203);
  g_assert_null (sd_bearing_lookup ("skf-6206"));
  g_assert_null (sd_bearing_lookup (""));
  g_assert_cmpstr (sd_bearing_skf_6205.name, ==, "SKF 6205-2RS JEM");
  g_assert_cmpint (sd_bearing_skf_6205.n_balls, ==, 9);
}

/* Impossible geometry is a programmer error: a critical warning and
 * zeros. */
static void
test_invalid (void)
{
  SdBearing no_balls = { "x", "x", 0, 0.3, 1.5, 0.0 };
  SdBearing too_big = { "x", "x", 9, 1.5, 1.5, 0.0 };
  SdBearingFrequencies f;

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*n_balls*");
  f = sd_bearing_frequencies (&no_balls, 1.0);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (f.bpfi, ==, 0.0);

  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*diameter*");
  f = sd_bearing_frequencies (&too_big, 1.0);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (f.bpfo, ==, 0.0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bearing/skf-6205/multiples", test_skf_6205_multiples);
  g_test_add_func ("/bearing/skf-6203/multiples", test_skf_6203_multiples);
  g_test_add_func ("/bearing/shaft-speed", test_shaft_speed);
  g_test_add_func ("/bearing/contact-angle", test_contact_angle);
  g_test_add_func ("/bearing/lookup", test_lookup);
  g_test_add_func ("/bearing/invalid", test_invalid);
  return g_test_run ();
}
