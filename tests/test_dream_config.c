/* The configuration of a run (core/dream-config.c): its defaults, the
 * presets (none, recommended, band, prototype) and the reference data the
 * spectral regularisers and the feature anchor take their targets from.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

static void
test_config_defaults (void)
{
  g_autoptr (SdModel) m = test_model (2);
  SdDreamConfig c;
  sd_model_set_train_length (m, 123);
  sd_dream_config_init (&c, m);
  c.znormalize = FALSE;
  g_assert_cmpint (c.length, ==, 123);
  g_assert_cmpint (c.steps, ==, 500);
  g_assert_cmpint (c.optimizer, ==, SD_DREAM_OPT_ADAM);
  g_assert_cmpfloat (c.lr, ==, 0.05f);
  g_assert_cmpfloat (c.border_tolerance, ==, 0.005f);
  g_assert_true (c.keep_best);
  /* z-normalised dreams for per-series models only; no model: length 0 */
  sd_dream_config_init (&c, m);
  g_assert_true (c.znormalize);
  sd_model_set_normalization (m, (SdNormalization){ SD_NORM_FIXED, 0, 1 });
  sd_dream_config_init (&c, m);
  g_assert_false (c.znormalize);
  sd_dream_config_init (&c, NULL);
  g_assert_cmpint (c.length, ==, 0);
  g_assert_cmpint (c.n_regs, ==, 0);
}

/* The presets add what docs/dreaming.md says, in that order, and nothing
 * else; a preset that cannot apply leaves the configuration as it was. */
static void
test_presets (void)
{
  const char *const *names = sd_dream_preset_names ();
  g_assert_cmpstr (names[0], ==, "none");
  g_assert_cmpstr (names[1], ==, "recommended");
  g_assert_cmpstr (names[2], ==, "band");
  g_assert_cmpstr (names[3], ==, "prototype");
  g_assert_cmpstr (names[4], ==, "realistic");
  g_assert_null (names[5]);

  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (GError) error = NULL;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, NULL, m, &error));
  g_assert_true (sd_dream_config_apply_preset (&c, "none", m, &error));
  g_assert_cmpint (c.n_regs, ==, 0);
  g_assert_false (sd_dream_config_needs_reference (&c));

  /* recommended: the Wiener filter, 40 dB, every step, unsmoothed; the
   * rest the engine's defaults */
  g_assert_true (sd_dream_config_apply_preset (&c, "recommended", m, &error));
  g_assert_no_error (error);
  g_assert_cmpint (c.n_regs, ==, 1);
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (c.regs[0].param, ==, 40.0f);
  g_assert_cmpint (c.regs[0].every, ==, 1);
  g_assert_cmpfloat (c.regs[0].smooth, ==, 0.0f);
  g_assert_cmpint (c.steps, ==, 500);
  g_assert_cmpfloat (c.lr, ==, 0.05f);
  g_assert_true (sd_dream_config_needs_reference (&c));

  /* band and prototype smooth over 200 Hz: a model without a sample rate
   * cannot have them */
  const char *band[] = { "band", "prototype" };
  for (guint k = 0; k < G_N_ELEMENTS (band); k++) {
    sd_dream_config_init (&c, m);
    g_assert_false (sd_dream_config_apply_preset (&c, band[k], m, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    g_autofree char *named = g_strdup_printf ("'%s'", band[k]);
    g_assert_nonnull (strstr (error->message, named));
    g_assert_nonnull (
        strstr (error->message, "need a model with a sample rate"));
    g_assert_cmpint (c.n_regs, ==, 0);
    g_clear_error (&error);
    g_assert_false (sd_dream_config_apply_preset (&c, band[k], NULL, &error));
    g_clear_error (&error);
  }
  sd_model_set_sample_rate (m, 48000.0);
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "band", m, &error));
  g_assert_cmpint (c.n_regs, ==, 1);
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (c.regs[0].param, ==, 40.0f);
  g_assert_cmpfloat (c.regs[0].smooth, ==, (float) (200.0 / 48000.0));
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "prototype", m, &error));
  g_assert_cmpint (c.n_regs, ==, 2);
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (c.regs[0].smooth, ==, (float) (200.0 / 48000.0));
  g_assert_cmpint (c.regs[1].type, ==, SD_REG_FEATURE);
  g_assert_cmpfloat (c.regs[1].weight, ==, 0.1f);

  /* realistic: band's filter with a rate, the Mahalanobis feature
   * anchor, the margin ceiling; with a rate (recordings) no stop at a
   * typical margin, lr 0.05 and 1500 steps (the defect rhythm is built
   * late in the ascent, docs/trust.md) */
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "realistic", m, &error));
  g_assert_cmpint (c.n_regs, ==, 2);
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (c.regs[0].smooth, ==, (float) (200.0 / 48000.0));
  g_assert_cmpint (c.regs[1].type, ==, SD_REG_FEATURE);
  g_assert_cmpfloat (c.regs[1].param2, ==, 1.0f);
  g_assert_cmpfloat (c.stop_margin_quantile, ==, 0.0f);
  g_assert_cmpfloat (c.margin_ceiling_quantile, ==, 0.99f);
  g_assert_true (c.stop_known);
  g_assert_cmpfloat (c.lr, ==, 0.05f);
  g_assert_cmpint (c.steps, ==, 1500);
  g_assert_true (c.prior_start);
  g_assert_true (sd_dream_config_needs_margins (&c));
  /* ... and without one the magnitude projection to the dream's class
   * spectrum, unsmoothed, instead of a filter */
  sd_model_set_sample_rate (m, 0.0);
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "realistic", m, &error));
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_PROJECT);
  g_assert_cmpfloat (c.regs[0].param, ==, 1.0f);
  g_assert_cmpfloat (c.regs[0].param2, ==, 1.0f);
  g_assert_cmpfloat (c.regs[0].smooth, ==, 0.0f);
  g_assert_true (c.prior_start);
  /* (UCR series: the stop of a typical member, a smaller step, the
   * library's 500 steps) */
  g_assert_cmpfloat (c.stop_margin_quantile, ==, 0.75f);
  g_assert_cmpfloat (c.margin_ceiling_quantile, ==, 0.99f);
  g_assert_true (c.stop_known);
  g_assert_cmpfloat (c.lr, ==, 0.01f);
  g_assert_cmpint (c.steps, ==, 500);
  /* recommended keeps its filter, and no preset but realistic draws its
   * start from the prior */
  sd_dream_config_init (&c, m);
  g_assert_true (sd_dream_config_apply_preset (&c, "recommended", m, &error));
  g_assert_cmpint (c.regs[0].type, ==, SD_REG_SPECTRAL_FILTER);
  g_assert_false (c.prior_start);
  sd_model_set_sample_rate (m, 48000.0);

  /* an unknown name; a list without room for both of prototype's */
  g_assert_false (sd_dream_config_apply_preset (&c, "strong", m, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_cmpstr (error->message, ==,
      "unknown dream preset 'strong' (none, recommended, band, prototype, "
      "realistic)");
  g_clear_error (&error);
  sd_dream_config_init (&c, m);
  while (c.n_regs < SD_DREAM_MAX_REGS - 1)
    sd_dream_config_add (&c, sd_regularizer_default (SD_REG_L2));
  g_assert_false (sd_dream_config_apply_preset (&c, "prototype", m, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "'prototype'"));
  g_assert_cmpint (c.n_regs, ==, SD_DREAM_MAX_REGS - 1);
  g_assert_cmpint (c.regs[c.n_regs - 1].type, ==, SD_REG_L2);
}

/* attach_reference: the class spectra / features of the data at the
 * dream length, pointed to by every regulariser that needs them; without
 * data a clear error; nothing needed, nothing done. */
static void
test_attach_reference (void)
{
  enum
  {
    L = 2 * TT,
    N = 4
  };
  g_autoptr (SdModel) m = test_model (2);
  sd_model_set_sample_rate (m, 8000.0);
  float x[N * L];
  int y[N] = { 0, 1, 0, 1 };
  fill_random (x, N * L, 12, 1.0);
  char *labels[] = { "-1", "1", NULL };
  SdDataset ds = {
    .n = N, .length = L, .x = x, .y = y, .n_classes = 2, .labels = labels
  };
  g_autoptr (GError) error = NULL;
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.length = TT;
  float *spectra = (float *) 1, *features = (float *) 1;
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_L2));
  g_assert_true (sd_dream_config_attach_reference (
      &c, m, NULL, &spectra, &features, &error));
  g_assert_null (spectra);
  g_assert_null (features);

  /* prototype without data: the error names the regulariser */
  g_assert_true (sd_dream_config_apply_preset (&c, "prototype", m, &error));
  g_assert_true (sd_dream_config_needs_reference (&c));
  g_assert_false (sd_dream_config_attach_reference (
      &c, m, NULL, &spectra, &features, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_cmpstr (error->message, ==,
      "regulariser 1 (spectral-filter) takes its target from reference "
      "data (the class means over real series of the classes) and none is "
      "given");
  g_clear_error (&error);
  /* ... and so does the run */
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, NULL);
  SdDreamSpec s = noise_spec (sd_objective_centered (1), 1);
  SdDreamResult *res = NULL;
  g_assert_false (sd_dreamer_run (d, &c, &s, 1, &res, &error));
  g_assert_nonnull (strstr (error->message,
      "no class spectra (its target comes from reference data"));
  g_clear_error (&error);

  /* too short for the dream length: the error of the class spectra */
  c.length = L + 1;
  g_assert_false (sd_dream_config_attach_reference (
      &c, m, &ds, &spectra, &features, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_null (c.regs[1].spectra);
  g_clear_error (&error);

  /* with data: exactly sd_dream_class_spectra / _features */
  c.length = TT;
  g_assert_true (sd_dream_config_attach_reference (
      &c, m, &ds, &spectra, &features, &error));
  g_assert_no_error (error);
  const int nb = sd_dream_spectrum_bins (TT), C = sd_dream_feature_size (m);
  float e_spectra[2 * (TT / 2 + 1)];
  g_autofree float *e_features = g_new (float, 2 * C);
  g_assert_true (sd_dream_class_spectra (m, &ds, TT, e_spectra, NULL));
  g_assert_true (sd_dream_class_features (m, &ds, TT, e_features, NULL));
  g_assert_cmpmem (
      spectra, 2 * nb * sizeof (float), e_spectra, 2 * nb * sizeof (float));
  g_assert_cmpmem (
      features, 2 * C * sizeof (float), e_features, 2 * C * sizeof (float));
  g_assert_null (c.regs[0].spectra);
  g_assert_true (c.regs[1].spectra == spectra);
  g_assert_true (c.regs[2].features == features);
  c.steps = 3;
  g_assert_true (sd_dreamer_run (d, &c, &s, 1, &res, &error));
  g_assert_no_error (error);
  sd_dream_result_free (res);
  g_free (spectra);
  g_free (features);

  /* length 0: the data's length */
  sd_dream_config_init (&c, NULL);
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_SPECTRUM));
  g_assert_true (sd_dream_config_attach_reference (
      &c, m, &ds, &spectra, &features, &error));
  g_assert_null (features);
  float e_long[2 * (L / 2 + 1)];
  g_assert_true (sd_dream_class_spectra (m, &ds, L, e_long, NULL));
  g_assert_cmpmem (spectra, sizeof e_long, e_long, sizeof e_long);
  g_free (spectra);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/config-defaults", test_config_defaults);
  g_test_add_func ("/dream/presets", test_presets);
  g_test_add_func ("/dream/attach-reference", test_attach_reference);
  return g_test_run ();
}
