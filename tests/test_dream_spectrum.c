/* The spectral regularisers (core/dream-spectrum.c): the power spectrum
 * and class spectra against a hand-computed DFT, the SPECTRUM penalty's
 * gradient, the Wiener filter with and without smoothing of its target,
 * and the checks of both (with the feature anchor's).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test_dream_util.h"

#include <math.h>
#include <string.h>

/* The normalised power spectrum of docs/dreaming.md, by hand: mean
 * removed, periodic Hann window, one-sided |DFT|^2 with the bins between
 * DC and Nyquist doubled, divided by the sum. FALSE for no power. */
static gboolean
spectrum_by_hand (const float *x, int T, double *p)
{
  const int nb = T / 2 + 1;
  double mean = 0.0, total = 0.0;
  for (int t = 0; t < T; t++)
    mean += x[t];
  mean /= T;
  for (int k = 0; k < nb; k++) {
    double re = 0.0, im = 0.0;
    for (int t = 0; t < T; t++) {
      double w = 0.5 - 0.5 * cos (2.0 * G_PI * t / T);
      double v = (x[t] - mean) * w;
      re += v * cos (2.0 * G_PI * k * t / T);
      im -= v * sin (2.0 * G_PI * k * t / T);
    }
    p[k] = (k == 0 || 2 * k == T ? 1.0 : 2.0) * (re * re + im * im);
    total += p[k];
  }
  if (!(total > 1e-20))
    return FALSE;
  for (int k = 0; k < nb; k++)
    p[k] /= total;
  return TRUE;
}

static void
test_power_spectrum (void)
{
  const int lengths[] = { TT, 33 };
  for (guint n = 0; n < G_N_ELEMENTS (lengths); n++) {
    const int T = lengths[n], nb = T / 2 + 1;
    g_assert_cmpint (sd_dream_spectrum_bins (T), ==, nb);
    float x[33], p[17];
    double e[17];
    fill_random (x, T, 40 + n, 2.0);
    g_assert_true (sd_dream_power_spectrum (x, T, p));
    g_assert_true (spectrum_by_hand (x, T, e));
    double sum = 0.0;
    for (int k = 0; k < nb; k++) {
      g_assert_cmpfloat_with_epsilon (p[k], e[k], 1e-6);
      sum += p[k];
    }
    g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-5);
    /* a sinusoid on bin 5 (plus an offset): the spectrum peaks there */
    for (int t = 0; t < T; t++)
      x[t] = 3.0f + (float) cos (2.0 * G_PI * 5 * t / T + 0.3);
    g_assert_true (sd_dream_power_spectrum (x, T, p));
    for (int k = 0; k < nb; k++)
      if (k != 5)
        g_assert_cmpfloat (p[k], <, p[5]);
    /* a constant has none */
    for (int t = 0; t < T; t++)
      x[t] = -2.0f;
    p[0] = 7.0f;
    g_assert_false (sd_dream_power_spectrum (x, T, p));
    g_assert_cmpfloat (p[0], ==, 7.0f);
  }
}

/* Class spectra: the mean of the segments' spectra per class (segments of
 * T with hop T/2, the last ending at the series' end), NaN for a class
 * without series; labels and lengths are checked. */
static void
test_class_spectra (void)
{
  enum
  {
    L = 2 * TT,
    N = 4,
    NB = TT / 2 + 1
  };
  g_autoptr (SdModel) m3 = test_model (3);
  float x[N * L];
  int y[N] = { 0, 1, 0, 1 };
  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  for (int i = 0; i < N; i++)
    for (int t = 0; t < L; t++)
      x[i * L + t]
          = (float) (5.0 * sin (2.0 * G_PI * (y[i] ? 9 : 3) * t / TT + i)
                     + g_rand_double_range (r, -1.0, 1.0));
  char *labels[] = { "a", "b", NULL };
  SdDataset ds = {
    .n = N, .length = L, .x = x, .y = y, .n_classes = 2, .labels = labels
  };
  float spectra[3 * (L / 2 + 1)]; /* room for T = L too */
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_dream_class_spectra (m3, &ds, TT, spectra, &error));
  g_assert_no_error (error);
  for (int c = 0; c < 2; c++) {
    double e[NB] = { 0 }, p[NB];
    for (int i = 0; i < N; i++) {
      if (y[i] != c)
        continue;
      /* 3 segments: 0, 16, 32 */
      for (int s = 0; s < 3; s++) {
        g_assert_true (spectrum_by_hand (x + i * L + s * TT / 2, TT, p));
        for (int k = 0; k < NB; k++)
          e[k] += p[k] / 6.0;
      }
    }
    for (int k = 0; k < NB; k++)
      g_assert_cmpfloat_with_epsilon (spectra[c * NB + k], e[k], 1e-6);
    g_assert_cmpfloat (spectra[c * NB + (c ? 9 : 3)], >, 0.5f);
  }
  for (int k = 0; k < NB; k++)
    g_assert_true (isnan (spectra[2 * NB + k]));

  /* series of exactly T: one segment each */
  g_assert_true (sd_dream_class_spectra (m3, &ds, L, spectra, &error));
  double p[L / 2 + 1];
  g_assert_true (spectrum_by_hand (x, L, p));
  double e3 = p[3];
  g_assert_true (spectrum_by_hand (x + 2 * L, L, p));
  g_assert_cmpfloat_with_epsilon (spectra[3], (e3 + p[3]) / 2, 1e-6);

  /* shorter series, foreign labels, more classes than the model */
  g_assert_false (sd_dream_class_spectra (m3, &ds, L + 1, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_clear_error (&error);
  labels[1] = "z";
  g_assert_false (sd_dream_class_spectra (m3, &ds, TT, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "'z'"));
  g_clear_error (&error);
  g_autoptr (SdModel) m1 = new_model ("resnet-small", 2, 1);
  char *three[] = { "-1", "1", "2", NULL };
  ds.labels = three;
  ds.n_classes = 3;
  g_assert_false (sd_dream_class_spectra (m1, &ds, TT, spectra, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

/* Three made-up class spectra of TT / 2 + 1 bins (rows sum to 1). */
static void
make_spectra (float *s)
{
  const int nb = TT / 2 + 1;
  for (int c = 0; c < 3; c++) {
    double sum = 0.0;
    for (int k = 0; k < nb; k++) {
      double v = exp (-0.5 * pow (k - 3.0 - 4.0 * c, 2)) + 1e-5 * k;
      s[c * nb + k] = (float) v;
      sum += v;
    }
    for (int k = 0; k < nb; k++)
      s[c * nb + k] /= (float) sum;
  }
}

/* The dream's target row: its class (own = TRUE) or the mean of all. */
static void
target_spectrum (
    const float *spectra, const SdObjective *o, gboolean own, int K, double *q)
{
  const int nb = TT / 2 + 1;
  const SdObjectiveTerm *t = &o->terms[0];
  for (int k = 0; k < nb; k++) {
    double v = 0.0;
    if (!own) {
      for (int c = 0; c < K; c++)
        v += spectra[c * nb + k] / K;
    } else if (t->type == SD_OBJECTIVE_BORDER) {
      v = 0.5 * (spectra[t->class_a * nb + k] + spectra[t->class_b * nb + k]);
    } else {
      v = spectra[t->class_a * nb + k];
    }
    q[k] = v;
  }
}

typedef struct
{
  const double *q;
  double eps, weight;
} SpecFx;

/* weight * (1/nb) sum_k (log (p_k + eps) - log (q_k + eps))^2 */
static double
score_spectrum (const float *x, gpointer data)
{
  const SpecFx *f = data;
  const int nb = TT / 2 + 1;
  double p[TT / 2 + 1], s = 0.0;
  if (!spectrum_by_hand (x, TT, p))
    return 0.0;
  for (int k = 0; k < nb; k++) {
    double d = log (p[k] + f->eps) - log (f->q[k] + f->eps);
    s += d * d;
  }
  return f->weight * s / nb;
}

static void
test_spectrum_penalty_gradient (void)
{
  g_autoptr (SdModel) m = test_model (3);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  struct
  {
    SdObjective o;
    gboolean own;
    double eps;
  } cases[] = {
    { sd_objective_centered (1), TRUE, 1e-3 },
    { sd_objective_border (0, 2), TRUE, 1e-2 },
    { sd_objective_centered (2), FALSE, 1e-3 },
  };
  for (guint n = 0; n < G_N_ELEMENTS (cases); n++) {
    const float w = 3.0f;
    SdDreamConfig c;
    one_step_config (&c, m);
    SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRUM);
    g_assert_cmpfloat (reg.weight, ==, 1.0f);
    g_assert_cmpfloat (reg.param, ==, 1e-4f);
    g_assert_cmpfloat (reg.param2, ==, 0.0f);
    reg.weight = w;
    reg.param = (float) cases[n].eps;
    reg.param2 = cases[n].own ? 1.0f : 0.0f;
    reg.spectra = spectra;
    sd_dream_config_add (&c, reg);
    SdObjective o = cases[n].o;
    o.terms[0].weight = 0.0f;
    float x0[TT], g[TT];
    fill_random (x0, TT, 50 + n, 1.0);
    SdDreamSpec spec = series_spec (o, x0);
    double q[TT / 2 + 1], fd[FD_N * TT];
    target_spectrum (spectra, &o, cases[n].own, 3, q);
    SpecFx f = { q, (float) cases[n].eps, w };

    g_autoptr (GError) error = NULL;
    g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, &error);
    g_autoptr (SdDreamResult) res = NULL;
    g_assert_true (sd_dreamer_run (d, &c, &spec, 1, &res, &error));
    g_assert_no_error (error);
    /* the traced value is weight * P (x0) */
    g_assert_cmpfloat_with_epsilon (
        res->trace.reg_values[0], score_spectrum (x0, &f), 1e-4);
    for (int t = 0; t < TT; t++)
      g[t] = res->sequence[t] - x0[t];
    /* J = objective - penalty */
    fd_gradient (score_spectrum, &f, x0, TT, -1.0, fd);
    assert_gradient_close (g, fd, TT, 1e-2);
    /* the normalised spectrum ignores offset and gain: the gradient is
     * orthogonal to constants and to x - mean */
    double sg = 0.0, sgx = 0.0, mean = 0.0, gn = 0.0, xn = 0.0;
    for (int t = 0; t < TT; t++)
      mean += x0[t] / TT;
    for (int t = 0; t < TT; t++) {
      sg += g[t];
      sgx += g[t] * (x0[t] - mean);
      gn += (double) g[t] * g[t];
      xn += (x0[t] - mean) * (x0[t] - mean);
    }
    g_assert_cmpfloat (fabs (sg), <, 1e-4 * sqrt (gn * TT));
    g_assert_cmpfloat (fabs (sgx), <, 1e-4 * sqrt (gn * xn));
  }
}

/* The circular filter with the Wiener gains q / (q + 10^(-dB/10) max q). */
static void
wiener_by_hand (const float *x, const double *q, double db, float *y)
{
  const int nb = TT / 2 + 1;
  double qmax = 0.0, h[TT / 2 + 1];
  for (int k = 0; k < nb; k++)
    qmax = MAX (qmax, q[k]);
  for (int k = 0; k < nb; k++)
    h[k] = q[k] / (q[k] + qmax * pow (10.0, -db / 10.0));
  for (int t = 0; t < TT; t++) {
    double s = 0.0;
    for (int k = 0; k < TT; k++) {
      double re = 0.0, im = 0.0;
      for (int u = 0; u < TT; u++) {
        re += x[u] * cos (2.0 * G_PI * k * u / TT);
        im -= x[u] * sin (2.0 * G_PI * k * u / TT);
      }
      double hk = h[k <= TT / 2 ? k : TT - k];
      s += hk
           * (re * cos (2.0 * G_PI * k * t / TT)
               - im * sin (2.0 * G_PI * k * t / TT));
    }
    y[t] = (float) (s / TT);
  }
}

static void
test_spectral_filter (void)
{
  g_autoptr (SdModel) m = test_model (3);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (reg.param, ==, 40.0f);
  g_assert_cmpint (reg.every, ==, 1);
  reg.param = 20.0f;
  reg.spectra = spectra;
  float x[TT], y[TT], e[TT], change;
  double q[TT / 2 + 1];
  fill_random (x, TT, 61, 1.0);

  /* on the sequence: the default target is the mean of all classes */
  SdObjective o = sd_objective_centered (0);
  target_spectrum (spectra, &o, FALSE, 3, q);
  apply_one (m, reg, x, TT, y, &change);
  wiener_by_hand (x, q, 20.0, e);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);
  g_assert_cmpfloat_with_epsilon (change, rms_diff (x, y, TT), 1e-6);
  /* a component where the spectrum is high passes, one where it is low
   * is removed: bin 7 (q at the peak of the mean) vs 16 (Nyquist, q ~ 5e-4
   * of the peak) */
  float s7[TT], s16[TT];
  for (int t = 0; t < TT; t++) {
    s7[t] = (float) cos (2.0 * G_PI * 7 * t / TT);
    s16[t] = (float) cos (G_PI * t);
  }
  apply_one (m, reg, s7, TT, y, NULL);
  g_assert_cmpfloat (rms_diff (y, s7, TT), <, 0.05);
  apply_one (m, reg, s16, TT, y, NULL);
  double r16 = 0.0;
  for (int t = 0; t < TT; t++)
    r16 += y[t] * y[t] / TT;
  g_assert_cmpfloat (sqrt (r16), <, 0.1);

  /* on the gradient, with the dream's own class: x1 = x0 + H (g) */
  SdDreamConfig c;
  one_step_config (&c, m);
  o = sd_objective_centered (2);
  SdDreamSpec spec = series_spec (o, x);
  float g[TT], hg[TT];
  engine_gradient (m, &c, &spec, 1, g);
  reg.apply_to = SD_APPLY_GRADIENT;
  reg.param2 = 1.0f;
  sd_dream_config_add (&c, reg);
  engine_gradient (m, &c, &spec, 1, hg);
  target_spectrum (spectra, &o, TRUE, 3, q);
  wiener_by_hand (g, q, 20.0, e);
  double scale = 0.0;
  for (int t = 0; t < TT; t++)
    scale = MAX (scale, fabs (e[t]));
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (hg[t], e[t], 1e-4 * scale);
}

/* Smoothing the target spectrum: the Gaussian of doc (bins 1..nb-1,
 * half-sample reflection, 4 sigma), bin 0 kept; a comb (a periodic
 * signal's lines) is flattened, so the filter passes every frequency of
 * the band alike, and a constant (DC) is still removed. */
static void
test_spectral_filter_smooth (void)
{
  g_autoptr (SdModel) m = test_model (3);
  const int nb = TT / 2 + 1, n = nb - 1;
  float spectra[3 * (TT / 2 + 1)];
  for (int c = 0; c < 3; c++)
    for (int k = 0; k < nb; k++)
      spectra[c * nb + k] = k == 0 ? 0.0f : (k % 2 ? 1.0f : 0.01f);
  const double sigma = 1.0; /* the kernel stays inside bins 1..16 for
                             * the bins checked below */
  SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRAL_FILTER);
  g_assert_cmpfloat (reg.smooth, ==, 0.0f);
  reg.param = 20.0f;
  reg.smooth = (float) (sigma / TT);
  reg.spectra = spectra;

  /* by hand */
  double q[TT / 2 + 1], w[5], z = 0.0;
  for (int j = 0; j <= 4; j++) {
    w[j] = exp (-j * j / (2.0 * sigma * sigma));
    z += j ? 2.0 * w[j] : w[j];
  }
  q[0] = 0.0;
  for (int k = 0; k < n; k++) {
    double v = 0.0;
    for (int j = -4; j <= 4; j++) {
      int i = k + j;
      while (i < 0 || i >= n) /* d c b a | a b c d | d c b a */
        i = i < 0 ? -1 - i : 2 * n - 1 - i;
      v += w[abs (j)] * spectra[i + 1];
    }
    q[k + 1] = v / z;
  }
  /* the comb is flattened away from the edges: 1 and 0.01 alternate
   * before (+-98 % of their mean), within +-1.5 % after (a comb of
   * spacing 2 bins keeps 2 exp (-pi^2 sigma^2 / 2) of its ripple) */
  for (int k = 5; k < nb - 5; k++)
    g_assert_cmpfloat (fabs (q[k] / q[k + 1] - 1.0), <, 0.03);
  float x[TT], y[TT], e[TT];
  fill_random (x, TT, 62, 1.0);
  apply_one (m, reg, x, TT, y, NULL);
  wiener_by_hand (x, q, 20.0, e);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], e[t], 1e-5);
  /* DC: gain 0 before and after smoothing */
  for (int t = 0; t < TT; t++)
    x[t] = 0.7f;
  apply_one (m, reg, x, TT, y, NULL);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat (fabs (y[t]), <, 1e-6);
}

static void
test_spectral_validation (void)
{
  g_autoptr (SdModel) m = test_model (2);
  g_autoptr (SdDreamer) d = sd_dreamer_new (m, 1, TT, NULL);
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  struct
  {
    SdRegType type;
    float param;
    gboolean no_spectra, nan_row;
    const char *message;
  } cases[] = {
    { SD_REG_SPECTRUM, 1e-4f, TRUE, FALSE, "spectrum): no class spectra" },
    { SD_REG_SPECTRAL_FILTER, 40.0f, TRUE, FALSE,
        "spectral-filter): no class spectra" },
    { SD_REG_SPECTRUM, 0.0f, FALSE, FALSE, "floor 0 must be" },
    { SD_REG_SPECTRAL_FILTER, NAN, FALSE, FALSE, "noise level nan dB" },
    { SD_REG_SPECTRUM, 1e-4f, FALSE, TRUE, "no finite, non-negative value" },
    { SD_REG_SPECTRAL_FILTER, 40.0f, FALSE, FALSE,
        "spectrum smoothing 0.6 must be between 0 and 0.5" },
    { SD_REG_SPECTRUM, NAN, FALSE, FALSE, "spectrum smoothing nan" },
    { SD_REG_GAUSSIAN, 1.0f, FALSE, FALSE,
        "spectrum, spectral-filter and spectral-project regularisers only" },
    { SD_REG_SPECTRAL_PROJECT, 1.5f, FALSE, FALSE,
        "share 1.5 of the way to the target magnitudes" },
    { SD_REG_SPECTRAL_PROJECT, 1.0f, TRUE, FALSE,
        "spectral-project): no class spectra" },
    { SD_REG_FEATURE, 0.0f, TRUE, FALSE, "feature): no class features" },
    { SD_REG_FEATURE, 0.0f, FALSE, TRUE, "no finite value at feature" },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    SdDreamConfig c;
    sd_dream_config_init (&c, m);
    c.length = TT;
    c.steps = 2;
    SdRegularizer r = sd_regularizer_default (cases[k].type);
    r.param = cases[k].param;
    /* the class's own spectrum; the Euclidean feature anchor */
    r.param2 = cases[k].type == SD_REG_FEATURE ? 0.0f : 1.0f;
    r.spectra = cases[k].no_spectra ? NULL : spectra;
    /* the smoothing cases: a bad width (NaN floor: its check comes
     * later), or a width on a regulariser without spectra */
    if (strstr (cases[k].message, "smoothing 0.6"))
      r.smooth = 0.6f;
    else if (strstr (cases[k].message, "smoothing nan"))
      r.param = 1e-4f, r.smooth = NAN;
    else if (cases[k].type == SD_REG_GAUSSIAN)
      r.smooth = 0.1f, r.spectra = NULL;
    else if (cases[k].type == SD_REG_FEATURE) {
      /* the NaN below lands in the dreamed class's row (class 1 of 20
       * features: index 21 is feature 1) */
      r.spectra = NULL;
      r.features = cases[k].no_spectra ? NULL : spectra;
    }
    spectra[TT / 2 + 1 + 4] = cases[k].nan_row ? NAN : 0.1f;
    sd_dream_config_add (&c, r);
    SdDreamSpec s = noise_spec (sd_objective_centered (1), 1);
    SdDreamResult *res = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_dreamer_run (d, &c, &s, 1, &res, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    if (strstr (error->message, cases[k].message) == NULL)
      g_error ("case %u: '%s' does not contain '%s'", k, error->message,
          cases[k].message);
    g_assert_null (res);
  }
}

/* |X_k|^2 and arg X_k of the plain DFT of x (TT), bins 0..TT/2. */
static void
dft_by_hand (const float *x, double *pow2, double *arg)
{
  for (int k = 0; k <= TT / 2; k++) {
    double re = 0.0, im = 0.0;
    for (int t = 0; t < TT; t++) {
      re += x[t] * cos (2.0 * G_PI * k * t / TT);
      im -= x[t] * sin (2.0 * G_PI * k * t / TT);
    }
    pow2[k] = re * re + im * im;
    arg[k] = atan2 (im, re);
  }
}

/* The magnitude projection: at share 1 the sequence's power spectrum
 * outside DC is the dream's class spectrum, its power, its mean and its
 * phases are the sequence's own; at share 0.5 every magnitude lies half
 * way; at share 0 nothing changes. */
static void
test_spectral_project (void)
{
  g_autoptr (SdModel) m = test_model (3);
  const int nb = TT / 2 + 1;
  float spectra[3 * (TT / 2 + 1)];
  make_spectra (spectra);
  SdRegularizer reg = sd_regularizer_default (SD_REG_SPECTRAL_PROJECT);
  g_assert_cmpfloat (reg.param, ==, 1.0f);
  g_assert_cmpfloat (reg.param2, ==, 1.0f);
  reg.spectra = spectra;
  float x[TT], y[TT];
  fill_random (x, TT, 71, 1.0);
  for (int t = 0; t < TT; t++)
    x[t] += 0.3f;
  double px[TT / 2 + 1], ax[TT / 2 + 1], py[TT / 2 + 1], ay[TT / 2 + 1];
  dft_by_hand (x, px, ax);
  double Sx = 0.0, Q = 0.0;
  for (int k = 1; k < nb; k++) {
    Sx += (2 * k == TT ? 1.0 : 2.0) * px[k];
    Q += spectra[k]; /* apply_one dreams class 0 */
  }
  apply_one (m, reg, x, TT, y, NULL);
  dft_by_hand (y, py, ay);
  g_assert_cmpfloat_with_epsilon (py[0], px[0], 1e-3 * px[0]);
  for (int k = 1; k < nb; k++) {
    const double want = spectra[k] / Q * Sx / (2 * k == TT ? 1.0 : 2.0);
    g_assert_cmpfloat_with_epsilon (py[k], want, 1e-3 * Sx);
    /* the phase is kept (where there is magnitude to have one) */
    if (want > 1e-3 * Sx && 2 * k != TT) {
      double d = remainder (ay[k] - ax[k], 2.0 * G_PI);
      g_assert_cmpfloat (fabs (d), <, 1e-3);
    }
  }
  /* half way */
  reg.param = 0.5f;
  apply_one (m, reg, x, TT, y, NULL);
  dft_by_hand (y, py, ay);
  for (int k = 1; k < nb; k++) {
    const double want = sqrt (spectra[k] / Q * Sx / (2 * k == TT ? 1.0 : 2.0));
    g_assert_cmpfloat_with_epsilon (
        sqrt (py[k]), 0.5 * (sqrt (px[k]) + want), 1e-3 * sqrt (Sx));
  }
  /* share 0: the sequence itself */
  reg.param = 0.0f;
  apply_one (m, reg, x, TT, y, NULL);
  for (int t = 0; t < TT; t++)
    g_assert_cmpfloat_with_epsilon (y[t], x[t], 1e-5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dream/power-spectrum", test_power_spectrum);
  g_test_add_func ("/dream/class-spectra", test_class_spectra);
  g_test_add_func (
      "/dream/spectrum-penalty-gradient", test_spectrum_penalty_gradient);
  g_test_add_func ("/dream/spectral-filter", test_spectral_filter);
  g_test_add_func ("/dream/spectral-project", test_spectral_project);
  g_test_add_func (
      "/dream/spectral-filter-smooth", test_spectral_filter_smooth);
  g_test_add_func ("/dream/spectral-validation", test_spectral_validation);
  return g_test_run ();
}
