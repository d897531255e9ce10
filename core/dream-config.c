/* The configuration of a dream run: its defaults, the recommended
 * presets and the reference data the spectral regularisers and the
 * feature anchor take their targets from.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <math.h>
#include <string.h>

#include <seqdream/stats.h>

void
sd_dream_config_init (SdDreamConfig *c, const SdModel *model)
{
  g_return_if_fail (c != NULL);
  memset (c, 0, sizeof *c);
  c->length = model != NULL ? (int) sd_model_get_train_length (model) : 0;
  c->steps = 500;
  c->optimizer = SD_DREAM_OPT_ADAM;
  c->lr = 0.05f;
  c->lr_decay = 1.0f;
  c->momentum = 0.9f;
  c->grad_clip = 0.0f;
  c->keep_best = TRUE;
  c->stop_probability = 0.0f;
  c->border_tolerance = 0.005f;
  c->diversity = 0.0f;
  c->znormalize
      = model != NULL
        && sd_model_get_normalization (model).mode == SD_NORM_PER_SERIES;
  c->n_regs = 0;
}

gboolean
sd_dream_config_add (SdDreamConfig *c, SdRegularizer reg)
{
  g_return_val_if_fail (c != NULL, FALSE);
  if (c->n_regs < 0 || c->n_regs >= SD_DREAM_MAX_REGS)
    return FALSE;
  c->regs[c->n_regs++] = reg;
  return TRUE;
}

/* ------------------------------------------------------------ presets */

static const char *const preset_names[]
    = { "none", "recommended", "band", "prototype", "realistic", NULL };

/* The band presets smooth the target spectrum by a Gaussian of this width
 * (Hz): above every bearing-defect line spacing of the CWRU recordings
 * (BPFI 162 Hz), so no impulse rhythm survives in the filter, and a sixth
 * of their 1.2 kHz resonance band, whose shape it keeps
 * (docs/dreaming.md, docs/vibration-report.md). */
#define BAND_SMOOTH_HZ 200.0

/* The realistic preset's steps for models with a sample rate (below). */
#define REALISTIC_RECORDING_STEPS 1500

const char *const *
sd_dream_preset_names (void)
{
  return preset_names;
}

static gboolean
preset_add (
    SdDreamConfig *c, SdRegularizer reg, const char *preset, GError **error)
{
  if (sd_dream_config_add (c, reg))
    return TRUE;
  g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
      "dream preset '%s': no room for its regularisers (at most %d in all)",
      preset, SD_DREAM_MAX_REGS);
  return FALSE;
}

gboolean
sd_dream_config_apply_preset (
    SdDreamConfig *c, const char *preset, const SdModel *model, GError **error)
{
  g_return_val_if_fail (c != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (preset == NULL || strcmp (preset, "none") == 0)
    return TRUE;
  const double rate = model != NULL ? sd_model_get_sample_rate (model) : 0;
  const gboolean realistic = strcmp (preset, "realistic") == 0;
  /* realistic: band's filter where the model knows its sample rate
   * (recordings), recommended's where it does not (UCR series) */
  const gboolean band
      = strcmp (preset, "band") == 0 || (realistic && rate > 0.0);
  const gboolean prototype = strcmp (preset, "prototype") == 0;
  if (!band && !prototype && !realistic
      && strcmp (preset, "recommended") != 0) {
    g_autofree char *names = g_strjoinv (", ", (char **) preset_names);
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown dream preset '%s' (%s)", preset, names);
    return FALSE;
  }
  /* recommended, measured on FordA (docs/forda-report.md): the Wiener
   * filter of the mean class spectrum of the reference data (40 dB below
   * its peak, at every step) keeps the dream in the band real series
   * occupy and out of the stop band whose faint noise floor the
   * classifiers read; its dreams are what an independently trained model
   * also calls the class. The engine's defaults for the rest (Adam, lr
   * 0.05, 500 steps). */
  SdRegularizer filter = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  if (band || prototype) {
    /* Vibration (docs/vibration-report.md): the same filter, its target
     * spectrum smoothed. The reference's line structure (the comb of its
     * impulse rhythm, e.g. 107 or 162 Hz apart for bearing faults) would
     * otherwise be imposed on the dream by the filter alone; smoothed,
     * the filter keeps only the band. */
    if (!(rate > 0.0)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "dream preset '%s': the band and prototype presets smooth the "
          "spectrum over %g Hz and need a model with a sample rate (trained "
          "from WAV recordings)",
          preset, BAND_SMOOTH_HZ);
      return FALSE;
    }
    filter.smooth = (float) (BAND_SMOOTH_HZ / rate);
  }
  /* realistic without a sample rate (UCR series): the magnitude
   * projection to the dream's class spectrum instead of the filter. On
   * FordA the Wiener filter removes the faint stop-band floor by which an
   * independently trained model tells the classes apart, so dreams that
   * start from a real series of the other class kept its floor and were
   * never the target class to it (0 %); the projection restores the
   * target class's own floor at every step and leaves the phases to the
   * ascent (100 %, and 100 % from noise; docs/trust.md) */
  if (realistic && !band)
    filter = sd_regularizer_default (SD_REG_SPECTRAL_PROJECT);
  SdDreamConfig out = *c;
  if (!preset_add (&out, filter, preset, error))
    return FALSE;
  /* prototype: and the feature anchor, weight 0.1 (its default): the
   * class score is pushed while the pooled features stay near the
   * class's mean, so a dream is a prototype of the real class rather
   * than an extrapolation beyond it (docs/vibration-report.md) */
  /* realistic: in the metric of the model's novelty score (param2 1), so
   * the dream stays known to the model, not only near the class mean */
  SdRegularizer anchor = sd_regularizer_default (SD_REG_FEATURE);
  if (realistic)
    anchor.param2 = 1.0f;
  if ((prototype || realistic) && !preset_add (&out, anchor, preset, error))
    return FALSE;
  /* realistic: and stop as soon as the dream is as confident as a typical
   * real series of its class (its margin between the 75th and the 99th
   * percentile of the held-out series' margins) and known to the model:
   * unregularised ascent runs on to margins many times those of any real
   * series (docs/trust.md) */
  if (realistic) {
    out.stop_margin_quantile = 0.75f;
    out.margin_ceiling_quantile = 0.99f;
    out.stop_known = TRUE;
    out.lr = 0.01f;
    out.prior_start = TRUE;
  }
  /* realistic on recordings: no stop at a typical margin, a larger step
   * and 1500 steps (the ceiling still turns the ascent back above the
   * 99th percentile). A fault's impulse rhythm is what the ascent builds
   * last: stopped at the first typical margin, the dreams of the CWRU
   * rhythm model showed BPFI in 11 and BPFO in 1-2 of 20 (the prior alone
   * 2 and 0-1), run on 14 and 11, and every dream known to the model
   * (docs/trust.md, "Defect frequencies") */
  if (realistic && band) {
    out.stop_margin_quantile = 0.0f;
    out.lr = 0.05f;
    out.steps = REALISTIC_RECORDING_STEPS;
  }
  *c = out;
  return TRUE;
}

/* ------------------------------------------------------ reference data */

gboolean
sd_dream_config_needs_reference (const SdDreamConfig *c)
{
  g_return_val_if_fail (c != NULL, FALSE);
  for (int k = 0; k < c->n_regs; k++)
    if (dream_reg_uses_spectra (c->regs[k].type)
        || c->regs[k].type == SD_REG_FEATURE)
      return TRUE;
  return FALSE;
}

gboolean
sd_dream_config_attach_reference (SdDreamConfig *c, const SdModel *model,
    const SdDataset *data, float **spectra, float **features, GError **error)
{
  g_return_val_if_fail (c != NULL && model != NULL, FALSE);
  g_return_val_if_fail (spectra != NULL && features != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  *spectra = NULL;
  *features = NULL;
  int first = -1;
  gboolean need_spectra = FALSE, need_features = FALSE;
  for (int k = 0; k < c->n_regs; k++) {
    const gboolean s = dream_reg_uses_spectra (c->regs[k].type);
    const gboolean f = c->regs[k].type == SD_REG_FEATURE;
    if ((s || f) && first < 0)
      first = k;
    need_spectra |= s;
    need_features |= f;
  }
  if (first < 0)
    return TRUE;
  if (data == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "regulariser %d (%s) takes its target from reference data (the "
        "class means over real series of the classes) and none is given",
        first, sd_reg_type_to_string (c->regs[first].type));
    return FALSE;
  }
  /* the targets at the dream length */
  const int T = c->length > 0 ? c->length : (int) data->length;
  const gsize K = (gsize) sd_model_get_n_classes (model);
  g_autofree float *s = NULL, *f = NULL;
  if (need_spectra) {
    s = g_new (float, K *sd_dream_spectrum_bins (T));
    if (!sd_dream_class_spectra (model, data, T, s, error))
      return FALSE;
  }
  if (need_features) {
    f = g_new (float, K *sd_dream_feature_size (model));
    if (!sd_dream_class_features (model, data, T, f, error))
      return FALSE;
  }
  for (int k = 0; k < c->n_regs; k++) {
    if (dream_reg_uses_spectra (c->regs[k].type))
      c->regs[k].spectra = s;
    if (c->regs[k].type == SD_REG_FEATURE)
      c->regs[k].features = f;
  }
  *spectra = g_steal_pointer (&s);
  *features = g_steal_pointer (&f);
  return TRUE;
}

/* ------------------------------------------- the model's own statistics */

gboolean
sd_dream_config_needs_margins (const SdDreamConfig *c)
{
  g_return_val_if_fail (c != NULL, FALSE);
  return c->stop_margin_quantile > 0.0f || c->margin_ceiling_quantile > 0.0f;
}

/* Row k of the statistics' spectra (Ts/2 + 1 bins, bin j at frequency
 * j / Ts) at the bins of length T (bin i at i / T): linear interpolation
 * over frequency, then renormalised to sum 1 as every normalised power
 * spectrum is. */
static void
resample_spectrum (const float *in, int Ts, float *out, int T)
{
  const int nb_in = sd_dream_spectrum_bins (Ts);
  const int nb = sd_dream_spectrum_bins (T);
  double sum = 0.0;
  for (int i = 0; i < nb; i++) {
    const double u = (double) i * Ts / T;
    const int j = MIN ((int) u, nb_in - 1);
    const int j1 = MIN (j + 1, nb_in - 1);
    const double w = MIN (u - j, 1.0);
    out[i] = (float) ((1.0 - w) * in[j] + w * in[j1]);
    sum += out[i];
  }
  for (int i = 0; i < nb; i++)
    out[i] = sum > 0.0 ? (float) (out[i] / sum) : out[i];
}

gboolean
sd_dream_config_attach_model_stats (SdDreamConfig *c, const SdModel *model,
    float **spectra, float **features, float **margins, GError **error)
{
  g_return_val_if_fail (c != NULL && model != NULL, FALSE);
  g_return_val_if_fail (spectra != NULL && features != NULL, FALSE);
  g_return_val_if_fail (margins != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  *spectra = *features = *margins = NULL;
  const gboolean need_margins = sd_dream_config_needs_margins (c);
  if (!sd_dream_config_needs_reference (c) && !need_margins)
    return TRUE;
  const SdModelStats *st = sd_model_get_stats (model);
  if (st == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s has no training statistics, which these dream settings take "
        "their targets from (class spectra, features, margins): add them "
        "with 'seqdream calibrate', give reference data, or use the preset "
        "none",
        sd_model_get_display_name (model));
    return FALSE;
  }
  const int K = sd_model_get_n_classes (model);
  const int Ts = sd_model_stats_get_length (st);
  const int T = c->length > 0 ? c->length : Ts;
  const int nb = sd_dream_spectrum_bins (T);
  const int nb_s = sd_dream_spectrum_bins (Ts);
  const int C = sd_model_stats_get_feature_size (st);
  g_autofree float *s = g_new (float, (gsize) K *nb);
  g_autofree float *f = g_memdup2 (
      sd_model_stats_get_feature_means (st), (gsize) K * C * sizeof (float));
  g_autofree float *m = NULL;
  const float *in = sd_model_stats_get_spectra (st);
  for (int k = 0; k < K; k++)
    resample_spectrum (in + (gsize) k * nb_s, Ts, s + (gsize) k * nb, T);
  if (need_margins) {
    m = g_new (float, (gsize) K * 2);
    for (int k = 0; k < K; k++) {
      const double lo
          = sd_model_stats_margin_quantile (st, k, c->stop_margin_quantile);
      const double hi
          = sd_model_stats_margin_quantile (st, k, c->margin_ceiling_quantile);
      m[k] = isfinite (lo) ? (float) lo : -INFINITY;
      m[K + k] = isfinite (hi) ? (float) hi : INFINITY;
    }
  }
  gboolean used_s = FALSE, used_f = FALSE;
  for (int k = 0; k < c->n_regs; k++) {
    if (dream_reg_uses_spectra (c->regs[k].type)) {
      c->regs[k].spectra = s;
      used_s = TRUE;
    }
    if (c->regs[k].type == SD_REG_FEATURE) {
      c->regs[k].features = f;
      used_f = TRUE;
    }
  }
  c->stop_margin = c->stop_margin_quantile > 0.0f ? m : NULL;
  c->margin_ceiling = c->margin_ceiling_quantile > 0.0f && m ? m + K : NULL;
  *spectra = used_s ? g_steal_pointer (&s) : NULL;
  *features = used_f ? g_steal_pointer (&f) : NULL;
  *margins = g_steal_pointer (&m);
  return TRUE;
}

gboolean
sd_dream_config_attach_targets (SdDreamConfig *c, const SdModel *model,
    const SdDataset *data, float **spectra, float **features, float **margins,
    gboolean *dropped, GError **error)
{
  g_return_val_if_fail (c != NULL && model != NULL, FALSE);
  g_return_val_if_fail (spectra != NULL && features != NULL, FALSE);
  g_return_val_if_fail (margins != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  *spectra = *features = *margins = NULL;
  if (dropped != NULL)
    *dropped = FALSE;
  const gboolean has_stats = sd_model_get_stats (model) != NULL;
  if (data == NULL && has_stats)
    return sd_dream_config_attach_model_stats (
        c, model, spectra, features, margins, error);
  SdDreamConfig out = *c;
  g_autofree float *m = NULL;
  if (has_stats) {
    /* data gives the spectra and features; the margins of real series
     * come from the statistics */
    float *s = NULL, *f = NULL;
    const gboolean ok
        = sd_dream_config_attach_model_stats (&out, model, &s, &f, &m, error);
    g_free (s);
    g_free (f);
    if (!ok)
      return FALSE;
  } else {
    gboolean any = out.stop_margin_quantile > 0.0f
                   || out.margin_ceiling_quantile > 0.0f || out.stop_known;
    out.stop_margin_quantile = out.margin_ceiling_quantile = 0.0f;
    out.stop_known = FALSE;
    for (int k = 0; k < out.n_regs; k++)
      if (out.regs[k].type == SD_REG_FEATURE && out.regs[k].param2 == 1.0f) {
        out.regs[k].param2 = 0.0f; /* Euclidean: no covariance */
        any = TRUE;
      }
    if (dropped != NULL)
      *dropped = any;
  }
  if (!sd_dream_config_attach_reference (
          &out, model, data, spectra, features, error))
    return FALSE;
  *c = out;
  *margins = g_steal_pointer (&m);
  return TRUE;
}
