/* The measurements of docs/explain.md: integrated-gradient completeness
 * per quadrature rule and step count, the model-parameter randomisation
 * check, the deletion / insertion check against random samples, and the
 * cost of every method per window.
 *
 *   seqdream-explain-checks MODE --model M (--data F.tsv | --wav F=L ...
 *       --window N --hop N) [--n 20] [--seed 1]
 *
 * MODE: completeness | randomization | deletion | timing. The series are
 * n evenly spread ones of the data (--wav: the test windows, split at
 * 0.7 of every recording as the models were trained). Prints Markdown
 * tables.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  SdModel *model;
  float *x; /* (n, T) data units */
  int n, T;
  guint64 seed;
} Checks;

static void
die (GError *error)
{
  fprintf (stderr, "seqdream-explain-checks: %s\n", error->message);
  exit (1);
}

/* The attributions under the defaults of method; steps > 0: that many
 * steps of rule with the refinement off (tolerance 0). */
static SdAttribution *
attribute (SdModel *m, SdAttributionMethod method, const float *x, int n, int T,
    int steps, SdIgRule rule)
{
  SdAttributionConfig c;
  sd_attribution_config_init (&c, method);
  if (steps > 0) {
    c.steps = steps;
    c.rule = rule;
    c.tolerance = 0.0f;
  }
  GError *error = NULL;
  SdAttribution *a = sd_attribution_compute (m, &c, x, n, T, &error);
  if (a == NULL)
    die (error);
  return a;
}

/* |sum a - (logit - baseline_logit)| / |logit - baseline_logit| of
 * series i. */
static double
completeness_error (const SdAttribution *a, int i)
{
  double s = 0.0;
  for (int t = 0; t < a->length; t++)
    s += a->values[(gsize) i * a->length + t];
  const double d = (double) a->logit[i] - a->baseline_logit[i];
  return fabs (s - d) / fabs (d);
}

/* One row of the completeness table: IG at steps (0: the defaults,
 * refinement on) of rule. */
static void
completeness_row (const Checks *ck, int steps, SdIgRule rule)
{
  g_autoptr (SdAttribution) a = attribute (ck->model,
      SD_ATTRIBUTION_INTEGRATED_GRADIENTS, ck->x, ck->n, ck->T, steps, rule);
  g_autofree double *e = g_new (double, ck->n);
  double emax = 0.0, dmin = INFINITY, rows = 0.0;
  int ok = 0, smax = 0;
  for (int i = 0; i < ck->n; i++) {
    e[i] = completeness_error (a, i);
    emax = MAX (emax, e[i]);
    ok += e[i] <= 0.02;
    dmin = MIN (dmin, fabs ((double) a->logit[i] - a->baseline_logit[i]));
    rows += a->steps[i] + (rule == SD_IG_TRAPEZOID);
    smax = MAX (smax, a->steps[i]);
  }
  for (int i = 1; i < ck->n; i++)
    for (int j = i; j > 0 && e[j] < e[j - 1]; j--) {
      double tmp = e[j];
      e[j] = e[j - 1];
      e[j - 1] = tmp;
    }
  const double med
      = ck->n % 2 ? e[ck->n / 2] : 0.5 * (e[ck->n / 2 - 1] + e[ck->n / 2]);
  g_autofree char *what
      = steps > 0 ? g_strdup_printf ("%d", steps)
                  : g_strdup_printf ("default: %d, refined to <= %d",
                      SD_IG_DEFAULT_STEPS, SD_IG_DEFAULT_MAX_STEPS);
  printf ("| %s | %s | %.1f (max %d) | %.2f %% | %.2f %% | %d / %d | %.3g |\n",
      sd_ig_rule_to_string (rule), what, rows / ck->n, smax, 100 * med,
      100 * emax, ok, ck->n, dmin);
}

static void
completeness (const Checks *ck)
{
  const int steps[] = { 8, 16, 32, 64, 128, 256, 512 };
  printf ("| rule | steps | rows per series | median error | max error | "
          "series within 2 %% | min abs(logit - baseline logit) |\n"
          "|---|---|---|---|---|---|---|\n");
  for (int r = 0; r < 2; r++)
    for (guint s = 0; s < G_N_ELEMENTS (steps); s++)
      completeness_row (ck, steps[s], (SdIgRule) r);
  completeness_row (ck, 0, SD_IG_TRAPEZOID);
}

/* A model of the same architecture, labels and input conventions with
 * fresh PyTorch-default parameters. */
static SdModel *
randomized (SdModel *m, guint64 seed)
{
  GError *error = NULL;
  SdModel *r = sd_model_new (
      sd_model_get_arch (m), sd_model_get_labels (m), seed, &error);
  if (r == NULL)
    die (error);
  sd_model_set_normalization (r, sd_model_get_normalization (m));
  sd_model_set_train_length (r, sd_model_get_train_length (m));
  sd_model_set_sample_rate (r, sd_model_get_sample_rate (m));
  return r;
}

static void
randomization (const Checks *ck)
{
  g_autoptr (SdModel) rnd = randomized (ck->model, ck->seed);
  printf ("| method | Spearman abs, mean | max | Spearman signed, mean | max "
          "| control: trained vs trained, SmoothGrad seed + 1 |\n"
          "|---|---|---|---|---|---|\n");
  for (int m = 0; m < 4; m++) {
    SdAttributionConfig c;
    sd_attribution_config_init (&c, (SdAttributionMethod) m);
    /* the class of the trained model's prediction for both models */
    GError *error = NULL;
    g_autoptr (SdAttribution) a
        = sd_attribution_compute (ck->model, &c, ck->x, ck->n, ck->T, &error);
    if (a == NULL)
      die (error);
    double sa = 0, sa_max = -1, ss = 0, ss_max = -1, ctl = 0;
    for (int i = 0; i < ck->n; i++) {
      c.target = a->target[i];
      g_autoptr (SdAttribution) b = sd_attribution_compute (
          rnd, &c, ck->x + (gsize) i * ck->T, 1, ck->T, &error);
      if (b == NULL)
        die (error);
      const float *va = a->values + (gsize) i * ck->T;
      double r1 = sd_attribution_rank_correlation (va, b->values, ck->T, TRUE);
      double r2 = sd_attribution_rank_correlation (va, b->values, ck->T, FALSE);
      sa += r1;
      ss += r2;
      sa_max = MAX (sa_max, r1);
      ss_max = MAX (ss_max, r2);
      if (m == SD_ATTRIBUTION_SMOOTHGRAD) {
        SdAttributionConfig c2 = c;
        c2.seed = c.seed + 1;
        g_autoptr (SdAttribution) b2 = sd_attribution_compute (
            ck->model, &c2, ck->x + (gsize) i * ck->T, 1, ck->T, &error);
        if (b2 == NULL)
          die (error);
        ctl += sd_attribution_rank_correlation (va, b2->values, ck->T, TRUE);
      }
    }
    printf ("| %s | %.3f | %.3f | %.3f | %.3f |",
        sd_attribution_method_to_string ((SdAttributionMethod) m), sa / ck->n,
        sa_max, ss / ck->n, ss_max);
    if (m == SD_ATTRIBUTION_SMOOTHGRAD)
      printf (" %.3f |\n", ctl / ck->n);
    else
      printf (" 1 (deterministic) |\n");
  }
}

/* Order of the samples of v (T) by decreasing score: the signed value for
 * IG and gradient x input (support for the class), the magnitude for the
 * gradients. */
static void
rank_samples (const float *v, int T, gboolean signed_score, int *order)
{
  for (int t = 0; t < T; t++)
    order[t] = t;
#define SCORE(t) (signed_score ? v[t] : fabsf (v[t]))
  for (int gap = T / 2; gap > 0; gap /= 2)
    for (int i = gap; i < T; i++)
      for (int j = i; j >= gap && SCORE (order[j - gap]) < SCORE (order[j]);
           j -= gap) {
        int tmp = order[j];
        order[j] = order[j - gap];
        order[j - gap] = tmp;
      }
#undef SCORE
}

/* The target logit of x (T) through the whole model (normalisation
 * included). */
static float
target_logit (SdModel *m, SdWorkspace *ws, const float *x, int T, int target)
{
  g_autofree float *z = g_memdup2 (x, (gsize) T * sizeof (float));
  sd_model_normalize_input (m, z, 1, T);
  return sd_model_forward (m, ws, z, 1, T)[target];
}

/* Deletion: the samples `order[0..k-1]` of x set to the value the model
 * normalises to 0 (the series' mean for per-series models, the fixed
 * mean, or 0); insertion: every other sample set to it instead. Returns
 * the target logit. */
static float
perturbed_logit (SdModel *m, SdWorkspace *ws, const float *x, int T, int target,
    const int *order, int k, gboolean insertion)
{
  g_autofree float *y = g_memdup2 (x, (gsize) T * sizeof (float));
  g_autofree float *tmp = g_memdup2 (x, (gsize) T * sizeof (float));
  double mean, sd;
  sd_normalization_apply (
      sd_model_get_normalization (m), tmp, 1, T, &mean, &sd);
  if (sd_model_get_normalization (m).mode == SD_NORM_NONE)
    mean = 0.0;
  g_autofree gboolean *sel = g_new0 (gboolean, T);
  for (int j = 0; j < k; j++)
    sel[order[j]] = TRUE;
  for (int t = 0; t < T; t++)
    if (sel[t] != insertion)
      y[t] = (float) mean;
  return target_logit (m, ws, y, T, target);
}

static void
deletion (const Checks *ck)
{
  const int T = ck->T, n_random = 10;
  const double fracs[] = { 0.05, 0.1, 0.2 };
  GError *error = NULL;
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (ck->model, 1, T, SD_MODE_EVAL, &error);
  if (ws == NULL)
    die (error);
  g_autofree int *order = g_new (int, T);
  g_autoptr (GRand) rng = g_rand_new_with_seed ((guint32) ck->seed);
  printf ("Mean target-logit change over %d series (deletion: logit(x) - "
          "logit(x without the top k %%), larger is better; insertion: "
          "logit(only the top k %%) - logit(nothing), larger is better); "
          "random: %d random draws of k %% of the samples per series.\n\n",
      ck->n, n_random);
  printf ("| method | k | deletion, top | deletion, random | insertion, top | "
          "insertion, random |\n|---|---|---|---|---|---|\n");
  for (int m = 0; m < 4; m++) {
    g_autoptr (SdAttribution) a = attribute (ck->model, (SdAttributionMethod) m,
        ck->x, ck->n, T, 0, SD_IG_GAUSS_LEGENDRE);
    const gboolean signed_score = m == SD_ATTRIBUTION_INTEGRATED_GRADIENTS
                                  || m == SD_ATTRIBUTION_GRADIENT_X_INPUT;
    for (guint f = 0; f < G_N_ELEMENTS (fracs); f++) {
      const int k = MAX (1, (int) (fracs[f] * T + 0.5));
      double del = 0, del_r = 0, ins = 0, ins_r = 0;
      for (int i = 0; i < ck->n; i++) {
        const float *x = ck->x + (gsize) i * T;
        const int c = a->target[i];
        const float l0 = a->logit[i];
        const float empty
            = perturbed_logit (ck->model, ws, x, T, c, order, 0, TRUE);
        rank_samples (a->values + (gsize) i * T, T, signed_score, order);
        del += l0 - perturbed_logit (ck->model, ws, x, T, c, order, k, FALSE);
        ins += perturbed_logit (ck->model, ws, x, T, c, order, k, TRUE) - empty;
        for (int r = 0; r < n_random; r++) {
          for (int t = 0; t < T; t++)
            order[t] = t;
          for (int j = 0; j < k; j++) {
            int u = g_rand_int_range (rng, j, T), tmp = order[j];
            order[j] = order[u];
            order[u] = tmp;
          }
          del_r += (l0
                       - perturbed_logit (
                           ck->model, ws, x, T, c, order, k, FALSE))
                   / n_random;
          ins_r += (perturbed_logit (ck->model, ws, x, T, c, order, k, TRUE)
                       - empty)
                   / n_random;
        }
      }
      printf ("| %s | %g %% | %.3f | %.3f | %.3f | %.3f |\n",
          sd_attribution_method_to_string ((SdAttributionMethod) m),
          100 * fracs[f], del / ck->n, del_r / ck->n, ins / ck->n,
          ins_r / ck->n);
    }
  }
}

static void
timing (const Checks *ck)
{
  printf ("| method | rows per window | ms per window (mean of %d windows, "
          "one at a time) |\n|---|---|---|\n",
      ck->n);
  for (int m = 0; m < 4; m++) {
    SdAttributionConfig c;
    sd_attribution_config_init (&c, (SdAttributionMethod) m);
    int rows = 1;
    if (m == SD_ATTRIBUTION_INTEGRATED_GRADIENTS)
      rows = c.steps;
    else if (m == SD_ATTRIBUTION_SMOOTHGRAD)
      rows = c.samples;
    GError *error = NULL;
    /* as the element would: one attributor, one window per call */
    g_autoptr (SdAttributor) at
        = sd_attributor_new (ck->model, MIN (rows, 32), ck->T, &error);
    if (at == NULL)
      die (error);
    sd_attribution_free (sd_attributor_run (at, &c, ck->x, 1, ck->T, &error));
    gint64 t0 = g_get_monotonic_time ();
    for (int i = 0; i < ck->n; i++) {
      SdAttribution *a = sd_attributor_run (
          at, &c, ck->x + (gsize) i * ck->T, 1, ck->T, &error);
      if (a == NULL)
        die (error);
      sd_attribution_free (a);
    }
    double ms = (g_get_monotonic_time () - t0) / 1e3 / ck->n;
    printf ("| %s | %d (+1 forward%s) | %.2f |\n",
        sd_attribution_method_to_string ((SdAttributionMethod) m), rows,
        m == SD_ATTRIBUTION_INTEGRATED_GRADIENTS ? ", +1 baseline" : "", ms);
  }
}

int
main (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *data_path = NULL;
  g_auto (GStrv) wav = NULL;
  int n = 20, window = 0, hop = 0;
  gint64 seed = 1;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &model_path, "Model", "FILE" },
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data_path, "UCR file", "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &wav, "Recording",
        "FILE=LABEL" },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "Window (--wav)", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &hop, "Hop (--wav)", "N" },
    { "n", 'n', 0, G_OPTION_ARG_INT, &n, "Series (20)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed (1)", "S" }, { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "completeness|randomization|deletion|timing - docs/explain.md checks");
  g_option_context_add_main_entries (ctx, entries, NULL);
  GError *error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    die (error);
  if (argc != 2 || model_path == NULL || (data_path == NULL) == (wav == NULL)
      || n < 1) {
    fprintf (stderr, "usage: seqdream-explain-checks "
                     "completeness|randomization|deletion|timing --model M "
                     "(--data F | --wav F=L ... --window N --hop N)\n");
    return 2;
  }
  g_autoptr (SdModel) model = sd_model_load (model_path, &error);
  if (model == NULL)
    die (error);
  g_autoptr (SdDataset) ds = NULL;
  if (data_path != NULL) {
    ds = sd_dataset_load_ucr (data_path, sd_model_get_labels (model), &error);
  } else {
    guint nw = g_strv_length (wav);
    g_autofree SdWavSource *src = g_new0 (SdWavSource, nw);
    g_auto (GStrv) paths = g_new0 (char *, nw + 1);
    for (guint i = 0; i < nw; i++) {
      const char *eq = strrchr (wav[i], '=');
      if (eq == NULL) {
        fprintf (stderr, "--wav %s: FILE=LABEL\n", wav[i]);
        return 2;
      }
      paths[i] = g_strndup (wav[i], eq - wav[i]);
      src[i] = (SdWavSource){ paths[i], eq + 1 };
    }
    ds = sd_dataset_load_wav_windows (src, nw, (guint) window, (guint) hop,
        SD_SPLIT_TEST, 0.7, sd_model_get_labels (model), &error);
  }
  if (ds == NULL)
    die (error);
  n = MIN (n, (int) ds->n);
  Checks ck = { model, g_new (float, (gsize) n * ds->length), n,
    (int) ds->length, (guint64) seed };
  /* n series evenly spread over the data (all classes of --wav) */
  for (int i = 0; i < n; i++)
    memcpy (ck.x + (gsize) i * ck.T,
        ds->x + (gsize) ((gint64) i * ds->n / n) * ck.T,
        (gsize) ck.T * sizeof (float));
  if (strcmp (argv[1], "completeness") == 0)
    completeness (&ck);
  else if (strcmp (argv[1], "randomization") == 0)
    randomization (&ck);
  else if (strcmp (argv[1], "deletion") == 0)
    deletion (&ck);
  else if (strcmp (argv[1], "timing") == 0)
    timing (&ck);
  else {
    fprintf (stderr, "unknown mode '%s'\n", argv[1]);
    return 2;
  }
  g_free (ck.x);
  return 0;
}
