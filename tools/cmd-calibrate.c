/* seqdream calibrate: add the statistics of labelled data (class
 * spectra, feature means and covariance, novelty threshold, margins,
 * input level) to a model file; and how train, info and calibrate print
 * them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
cli_print_stats (const SdModel *model)
{
  const SdModelStats *s = sd_model_get_stats (model);
  if (s == NULL) {
    printf ("statistics    none (no training statistics: run seqdream "
            "calibrate)\n");
    return;
  }
  const char *const *labels = sd_model_get_labels (model);
  const int K = sd_model_stats_get_n_classes (s);
  guint nf = 0, nh = 0;
  for (int k = 0; k < K; k++) {
    nf += sd_model_stats_get_class_count (s, k);
    nh += sd_model_stats_get_heldout_count (s, k);
  }
  double lo, hi;
  sd_model_stats_get_level_range (s, &lo, &hi);
  printf ("statistics    of %u windows of %d samples, %u held out\n", nf,
      sd_model_stats_get_length (s), nh);
  printf ("  novelty     threshold %.4g (false-alarm rate %g); held-out "
          "median %.4g, 99th percentile %.4g\n",
      sd_model_stats_get_novelty_threshold (s),
      sd_model_stats_get_false_alarm (s),
      sd_model_stats_novelty_quantile (s, 0.5),
      sd_model_stats_novelty_quantile (s, 0.99));
  if (nh * sd_model_stats_get_false_alarm (s) < 1)
    printf ("              (%u held-out windows: the threshold is their "
            "largest novelty)\n",
        nh);
  printf ("  features    %d pooled, covariance shrinkage %.4f (the feature "
          "anchor)\n",
      sd_model_stats_get_feature_size (s), sd_model_stats_get_shrinkage (s));
  const int S = sd_model_stats_get_novelty_stages (s);
  if (sd_model_stats_get_novelty_members (s)) {
    printf ("  novelty of  every member: the largest member novelty over its "
            "held-out median\n");
    for (int i = 0; i < sd_model_get_n_members (model); i++) {
      const SdModelStats *si
          = sd_model_get_stats (sd_model_get_member (model, i));
      printf ("    member %-3d median %.4g, threshold %.4g, %d stages\n", i,
          sd_model_stats_novelty_quantile (si, 0.5),
          sd_model_stats_get_novelty_threshold (si),
          sd_model_stats_get_novelty_stages (si));
    }
  } else if (S == 0 && sd_model_find_layer (model, "stages.0") < 0)
    printf ("  novelty on  the pooled features (the model has no stages to "
            "read: an op graph without ReLU-type activations)\n");
  else if (S == 0)
    printf ("  novelty on  the pooled features alone (statistics of an "
            "earlier seqdream: calibrate again for every stage)\n");
  else {
    printf ("  novelty on  %d stages (%d channels), shrinkage", S,
        sd_model_stats_get_novelty_size (s));
    for (int l = 0; l < S; l++)
      printf (" %.4f", sd_model_stats_get_stage_shrinkage (s, l));
    printf ("\n");
  }
  printf ("  level       RMS %.4g to %.4g (input units, 0.5 %% to 99.5 %%)\n",
      lo, hi);
  printf (
      "  %-11s %7s %8s %14s\n", "class", "fit", "held-out", "margin p50/p99");
  for (int k = 0; k < K; k++) {
    const double p50 = sd_model_stats_margin_quantile (s, k, 0.5);
    printf ("  %-11s %7u %8u ", labels[k],
        sd_model_stats_get_class_count (s, k),
        sd_model_stats_get_heldout_count (s, k));
    /* no held-out window of the class was named right: no margins */
    if (isnan (p50))
      printf ("%14s\n", "none named");
    else
      printf (
          "%7.3g/%-6.3g\n", p50, sd_model_stats_margin_quantile (s, k, 0.99));
  }
}

/* The --hop of the command that trained the model (its provenance), 0
 * when it is not there. */
static int
hop_from_provenance (const SdModel *model)
{
  const char *prov = sd_model_get_provenance (model);
  g_autoptr (JsonParser) p = json_parser_new ();
  if (prov == NULL || !json_parser_load_from_data (p, prov, -1, NULL))
    return 0;
  JsonNode *root = json_parser_get_root (p);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  const char *cmd = json_object_get_string_member_with_default (
      json_node_get_object (root), "command", NULL);
  g_auto (GStrv) argv = NULL;
  if (cmd == NULL || !g_shell_parse_argv (cmd, NULL, &argv, NULL))
    return 0;
  for (int i = 0; argv[i] != NULL; i++) {
    const char *v = NULL;
    if (strcmp (argv[i], "--hop") == 0)
      v = argv[i + 1];
    else if (g_str_has_prefix (argv[i], "--hop="))
      v = argv[i] + 6;
    guint64 hop;
    if (v && g_ascii_string_to_unsigned (v, 10, 1, G_MAXINT, &hop, NULL))
      return (int) hop;
  }
  return 0;
}

typedef struct
{
  CliData data;
  char *model, *heldout, *out;
  double false_alarm, shrinkage, holdout_fraction;
  gint64 seed;
  int threads;
} CalibrateOptions;

static void
calibrate_options_clear (CalibrateOptions *o)
{
  cli_data_clear (&o->data);
  g_free (o->model);
  g_free (o->heldout);
  g_free (o->out);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CalibrateOptions, calibrate_options_clear)

static gboolean
parse_options (int *argc, char ***argv, CalibrateOptions *o)
{
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &o->model,
        "Model file (.safetensors) to calibrate", "FILE" },
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &o->data.ucr,
        "Labelled series of the model's length, UCR TSV/TXT (the model's "
        "training data)",
        "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->data.wav,
        "Instead of --data: a mono recording and its class (repeat); "
        "windows of its first --train-fraction fit the statistics, windows "
        "after it are held out",
        "FILE=LABEL" },
    { "window", 0, 0, G_OPTION_ARG_INT, &o->data.window,
        "Window length for --wav (default: the model's train length)", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &o->data.hop,
        "Hop for --wav (default: the --hop of the training command in the "
        "model's provenance, else a quarter window)",
        "N" },
    { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &o->data.train_fraction,
        "Split point of every recording for --wav (default 0.7, as train)",
        "F" },
    { "heldout", 0, 0, G_OPTION_ARG_FILENAME, &o->heldout,
        "Held-out labelled series, UCR TSV/TXT, for the threshold and the "
        "margins (default: the recordings' test part for --wav, else "
        "--holdout-fraction of --data)",
        "FILE" },
    { "holdout-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &o->holdout_fraction,
        "Share of every class of --data held out without --heldout "
        "(default 0.2)",
        "F" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &o->seed,
        "Seed of that split (default 0)", "S" },
    { "false-alarm", 0, 0, G_OPTION_ARG_DOUBLE, &o->false_alarm,
        "Share of held-out windows allowed above the novelty threshold "
        "(default 0.005)",
        "P" },
    { "shrinkage", 0, 0, G_OPTION_ARG_DOUBLE, &o->shrinkage,
        "Covariance shrinkage in [0, 1] (default: Ledoit-Wolf)", "A" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &o->out,
        "Model file to write (default: --model, replaced atomically; the "
        "weights are kept bit for bit)",
        "FILE" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o->threads, "OpenBLAS threads",
        "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- add training statistics to a model");
  g_option_context_set_summary (ctx,
      "Stores per-class spectra, feature means and covariance, the novelty "
      "threshold, the margins and the input level in a model file.\n"
      "Example: seqdream calibrate --model forda.safetensors --data "
      "FordA_TEST.tsv --out forda-cal.safetensors");
  g_option_context_add_main_entries (ctx, entries, NULL);
  return cli_parse (ctx, argc, argv);
}

/* The fit and held-out data of the options for model (held NULL: the
 * library holds out a share of fit). */
static gboolean
load_calibration_data (CalibrateOptions *o, SdModel *model, SdDataset **fit,
    SdDataset **held, GError **error)
{
  const char *const *labels = sd_model_get_labels (model);
  CliData *d = &o->data;
  if (d->wav != NULL) {
    if (d->window == 0)
      d->window = (int) sd_model_get_train_length (model);
    if (d->hop == 0)
      d->hop = hop_from_provenance (model);
    if (d->hop == 0)
      d->hop = MAX (1, d->window / 4);
  }
  *fit = cli_load_data (
      d, d->wav ? SD_SPLIT_TRAIN : SD_SPLIT_ALL, labels, error);
  if (*fit == NULL)
    return FALSE;
  if (o->heldout != NULL)
    *held = sd_dataset_load_ucr (o->heldout, labels, error);
  else if (d->wav != NULL)
    *held = cli_load_data (d, SD_SPLIT_TEST, labels, error);
  else
    return TRUE;
  return *held != NULL;
}

int
cli_cmd_calibrate (int argc, char **argv)
{
  g_auto (CalibrateOptions) o = { .data = CLI_DATA_INIT,
    .false_alarm = 0.005,
    .shrinkage = -1.0,
    .holdout_fraction = 0.2 };
  if (!parse_options (&argc, &argv, &o))
    return 2;
  if (o.model == NULL || (o.data.ucr == NULL && o.data.wav == NULL)) {
    fprintf (stderr, "seqdream calibrate: --model and --data (or --wav) are "
                     "required (see --help)\n");
    return 2;
  }
  cli_set_threads (o.threads);
  GError *error = NULL;
  g_autoptr (SdModel) model = sd_model_load (o.model, &error);
  if (model == NULL)
    return cli_fail (error);
  g_autoptr (SdDataset) fit = NULL;
  g_autoptr (SdDataset) held = NULL;
  if (!load_calibration_data (&o, model, &fit, &held, &error))
    return cli_fail (error);
  SdCalibrateOptions co;
  sd_calibrate_options_init (&co);
  co.false_alarm = o.false_alarm;
  co.shrinkage = o.shrinkage;
  co.holdout_fraction = o.holdout_fraction;
  co.seed = (guint64) o.seed;
  if (!sd_model_calibrate (model, fit, held, &co, &error))
    return cli_fail (error);
  const char *out = o.out ? o.out : o.model;
  if (!sd_model_save (model, out, &error))
    return cli_fail (error);
  if (o.data.wav)
    printf ("windows       %d samples every %d, first %.0f %% of every "
            "recording fit, the rest held out\n",
        o.data.window, o.data.hop, 100 * o.data.train_fraction);
  cli_print_stats (model);
  printf ("wrote %s\n", out);
  return 0;
}
