/* seqdream train: fit a classifier and write it as a model file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  gboolean tty;
  gboolean quiet;
} Progress;

static void
format_duration (char *buf, gsize n, double s)
{
  if (!isfinite (s) || s < 0)
    g_strlcpy (buf, "?", n);
  else if (s >= 3600)
    g_snprintf (buf, n, "%dh%02dm", (int) (s / 3600), (int) fmod (s / 60, 60));
  else if (s >= 60)
    g_snprintf (buf, n, "%dm%02ds", (int) (s / 60), (int) fmod (s, 60));
  else
    g_snprintf (buf, n, "%.0fs", s);
}

/* A bar on a terminal, one plain line per epoch otherwise (logs, CI). */
static void
on_progress (const SdTrainProgress *p, gpointer user_data)
{
  Progress *pr = user_data;
  char eta[32];
  if (pr->quiet)
    return;
  format_duration (eta, sizeof eta, p->eta_s);
  if (pr->tty) {
    const int width = 24;
    int fill = (int) (width * (double) p->batch / p->n_batches);
    char bar[32];
    memset (bar, '#', fill);
    memset (bar + fill, '.', width - fill);
    bar[width] = '\0';
    fprintf (stderr, "\r\033[Kepoch %d/%d [%s] loss %.4f acc %.3f", p->epoch,
        p->epochs, bar, p->train_loss, p->train_acc);
    if (!isnan (p->val_loss))
      fprintf (stderr, " val %.4f/%.3f%s", p->val_loss, p->val_acc,
          p->best ? "*" : " ");
    fprintf (stderr, " lr %.1e left %s", p->lr, eta);
    if (p->batch == p->n_batches && p->epoch == p->epochs)
      fputc ('\n', stderr);
  } else if (p->batch == p->n_batches) {
    fprintf (stderr,
        "epoch %d/%d loss %.4f acc %.4f val_loss %.4f val_acc "
        "%.4f lr %.2e elapsed %.1fs left %s%s\n",
        p->epoch, p->epochs, p->train_loss, p->train_acc, p->val_loss,
        p->val_acc, p->lr, p->elapsed_s, eta, p->best ? " best" : "");
  }
  fflush (stderr);
}

/* --augment-shuffle-classes and --augment-shuffle-pieces onto cfg, with
 * the data's labels and sample rate. */
static gboolean
shuffle_config (SdTrainConfig *cfg, const char *classes, const char *pieces,
    const SdDataset *ds, GError **error)
{
  if (cfg->augment_shuffle_prob == 0) {
    if (classes || pieces) {
      g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--augment-shuffle-classes and --augment-shuffle-pieces need "
          "--augment-shuffle P");
      return FALSE;
    }
    return TRUE;
  }
  if (classes == NULL) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--augment-shuffle needs --augment-shuffle-classes (the classes "
        "that bursts without their rhythm cannot tell apart)");
    return FALSE;
  }
  g_auto (GStrv) names = g_strsplit (classes, ",", -1);
  cfg->augment_shuffle_classes = 0;
  for (int i = 0; names[i]; i++) {
    int k = 0;
    while (ds->labels[k] && strcmp (ds->labels[k], names[i]) != 0)
      k++;
    if (ds->labels[k] == NULL || k >= 64) {
      g_autofree char *all = g_strjoinv (", ", ds->labels);
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--augment-shuffle-classes: '%s' is not a class of the data (%s)%s",
          names[i], all, k >= 64 ? " or is past the 64th" : "");
      return FALSE;
    }
    cfg->augment_shuffle_classes |= (guint64) 1 << k;
  }
  if (!(ds->sample_rate > 0)) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--augment-shuffle cuts pieces of milliseconds and needs the data's "
        "sample rate (recordings, not UCR files)");
    return FALSE;
  }
  double lo = 2.0, hi = 12.0;
  if (pieces) {
    char *end = NULL;
    lo = g_ascii_strtod (pieces, &end);
    if (end == pieces || *end != ':'
        || (hi = g_ascii_strtod (end + 1, &end), *end != '\0')
        || !(lo > 0 && lo <= hi && isfinite (hi))) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--augment-shuffle-pieces '%s' must be MIN:MAX in ms with 0 < MIN "
          "<= MAX",
          pieces);
      return FALSE;
    }
  }
  double min_s = round (lo * 1e-3 * ds->sample_rate);
  double max_s = round (hi * 1e-3 * ds->sample_rate);
  if (min_s < 1 || max_s > ds->length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--augment-shuffle-pieces %g:%g ms are %.0f:%.0f samples at %g Hz; "
        "they must be at least 1 and at most the series length %u",
        lo, hi, min_s, max_s, ds->sample_rate, ds->length);
    return FALSE;
  }
  cfg->augment_shuffle_min = (guint) min_s;
  cfg->augment_shuffle_max = (guint) max_s;
  return TRUE;
}

static char *
provenance_json (const char *data, const char *protocol, const char *arch,
    guint64 seed, const SdTrainConfig *cfg, const char *const *labels,
    const SdTrainResult *res, const char *test_path, const SdEvalResult *test,
    int argc, char **argv)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  g_autoptr (GString) cmd = g_string_new ("seqdream");
  for (int i = 0; i < argc; i++) {
    g_autofree char *q = g_shell_quote (argv[i]);
    g_string_append_printf (cmd, " %s", q);
  }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "data");
  json_builder_add_string_value (b, data);
  if (protocol) {
    json_builder_set_member_name (b, "protocol");
    json_builder_add_string_value (b, protocol);
  }
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, arch);
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) seed);
  json_builder_set_member_name (b, "epochs_run");
  json_builder_add_int_value (b, res->epochs_run);
  json_builder_set_member_name (b, "best_epoch");
  json_builder_add_int_value (b, res->best_epoch);
  json_builder_set_member_name (b, "optimizer");
  json_builder_add_string_value (
      b, cfg->optimizer == SD_OPTIMIZER_ADAM ? "adam" : "sgd");
  json_builder_set_member_name (b, "lr");
  json_builder_add_double_value (b, cfg->lr);
  json_builder_set_member_name (b, "batch_size");
  json_builder_add_int_value (b, cfg->batch_size);
  json_builder_set_member_name (b, "augment");
  {
    /* Every augmentation in use, in the order applied. */
    g_autoptr (GString) aug = g_string_new (NULL);
    gboolean carrier
        = cfg->augment_carrier_hz > 0 && cfg->augment_carrier_prob > 0;
    const struct
    {
      gboolean on;
      const char *name;
    } augs[] = { { cfg->augment_shift, "shift" },
      { cfg->augment_reverse, "reverse" },
      { cfg->augment_shuffle_prob > 0, "shuffle" }, { carrier, "carrier" },
      { cfg->augment_gain > 1, "gain" } };
    for (gsize i = 0; i < G_N_ELEMENTS (augs); i++)
      if (augs[i].on)
        g_string_append_printf (aug, "%s%s", aug->len ? "," : "", augs[i].name);
    json_builder_add_string_value (b, aug->len ? aug->str : "none");
  }
  if (cfg->augment_shuffle_prob > 0) {
    json_builder_set_member_name (b, "augment_shuffle_prob");
    json_builder_add_double_value (b, cfg->augment_shuffle_prob);
    json_builder_set_member_name (b, "augment_shuffle_classes");
    json_builder_begin_array (b);
    for (int k = 0; labels[k] && k < 64; k++)
      if (cfg->augment_shuffle_classes >> k & 1)
        json_builder_add_string_value (b, labels[k]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "augment_shuffle_pieces");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, cfg->augment_shuffle_min);
    json_builder_add_int_value (b, cfg->augment_shuffle_max);
    json_builder_end_array (b);
  }
  if (cfg->augment_carrier_hz > 0 && cfg->augment_carrier_prob > 0) {
    json_builder_set_member_name (b, "augment_carrier_hz");
    json_builder_add_double_value (b, cfg->augment_carrier_hz);
    json_builder_set_member_name (b, "augment_carrier_prob");
    json_builder_add_double_value (b, cfg->augment_carrier_prob);
  }
  if (cfg->augment_gain > 1) {
    json_builder_set_member_name (b, "augment_gain");
    json_builder_add_double_value (b, cfg->augment_gain);
  }
  if (!isnan (res->best_val_acc)) {
    json_builder_set_member_name (b, "val_accuracy");
    json_builder_add_double_value (b, res->best_val_acc);
  }
  if (test) {
    json_builder_set_member_name (b, "test_data");
    json_builder_add_string_value (b, test_path);
    json_builder_set_member_name (b, "accuracy");
    json_builder_add_double_value (b, test->accuracy);
  }
  json_builder_set_member_name (b, "date");
  json_builder_add_string_value (b, date);
  json_builder_set_member_name (b, "software");
  json_builder_add_string_value (b, "seqdream " SD_VERSION);
  json_builder_set_member_name (b, "command");
  json_builder_add_string_value (b, cmd->str);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

int
cli_cmd_train (int argc, char **argv)
{
  CliData data = CLI_DATA_INIT;
  g_autofree char *out = NULL, *test = NULL, *protocol = NULL;
  /* GOption does not free a default it replaces: defaults are applied
   * after parsing. */
  g_autofree char *arch_name = NULL, *optimizer = NULL, *schedule = NULL;
  g_autofree char *normalize = NULL;
  g_autofree char *shuffle_classes = NULL, *shuffle_pieces = NULL;
  SdTrainConfig cfg;
  gint64 seed = 0;
  int threads = 0;
  double lr, min_lr, wd, momentum;
  gboolean quiet = FALSE;
  GError *error = NULL;

  sd_train_config_init (&cfg);
  lr = cfg.lr;
  min_lr = cfg.min_lr;
  wd = cfg.weight_decay;
  momentum = cfg.momentum;
  int orig_argc = argc;
  char **orig_argv = g_strdupv (argv);

  GOptionEntry entries[] = { { "data", 'd', 0, G_OPTION_ARG_FILENAME, &data.ucr,
                                 "Training data, UCR TSV/TXT (label first)",
                                 "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &data.wav,
        "Instead of --data: a mono recording and its class (repeat for "
        "every recording); windows from the first --train-fraction of each "
        "recording train, windows after it test",
        "FILE=LABEL" },
    { "window", 0, 0, G_OPTION_ARG_INT, &data.window,
        "Window length in samples for --wav", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &data.hop,
        "Hop between windows in samples for --wav", "N" },
    { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &data.train_fraction,
        "Part of every recording used for training with --wav (default "
        "0.7; the test windows start one window after it)",
        "F" },
    { "arch", 'a', 0, G_OPTION_ARG_STRING, &arch_name,
        "Architecture: resnet-small, fcn, fcn-small or fcn-pool (default "
        "resnet-small)",
        "NAME" },
    { "epochs", 'e', 0, G_OPTION_ARG_INT, &cfg.epochs,
        "Maximum number of epochs (default 100)", "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &seed,
        "Seed for initialisation, split and shuffling (default 0)", "S" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
        "Model file to write (.safetensors)", "FILE" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &cfg.val_fraction,
        "Stratified validation split taken from the data (default 0.2; 0 "
        "disables validation and early stopping)",
        "F" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, "Learning rate (default 1e-3)",
        "LR" },
    { "min-lr", 0, 0, G_OPTION_ARG_DOUBLE, &min_lr,
        "Smallest learning rate of the schedule (default 1e-5)", "LR" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &cfg.batch_size,
        "Minibatch size (default 32)", "B" },
    { "optimizer", 0, 0, G_OPTION_ARG_STRING, &optimizer,
        "adam (decoupled weight decay) or sgd (momentum) (default adam)",
        "NAME" },
    { "momentum", 0, 0, G_OPTION_ARG_DOUBLE, &momentum,
        "SGD momentum (default 0.9)", "M" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &wd,
        "Weight decay of conv and dense weights (default 0)", "WD" },
    { "schedule", 0, 0, G_OPTION_ARG_STRING, &schedule,
        "Learning-rate schedule: plateau, cosine or constant (default "
        "plateau)",
        "NAME" },
    { "plateau-patience", 0, 0, G_OPTION_ARG_INT, &cfg.plateau_patience,
        "Epochs without improvement before the lr is halved (default 10)",
        "N" },
    { "patience", 0, 0, G_OPTION_ARG_INT, &cfg.early_stop_patience,
        "Stop after N epochs without a better validation loss (default 30, "
        "0 = never)",
        "N" },
    { "normalize", 0, 0, G_OPTION_ARG_STRING, &normalize,
        "Input normalisation stored in the model: per-series, fixed or none "
        "(default per-series)",
        "MODE" },
    { "augment-shift", 0, 0, G_OPTION_ARG_NONE, &cfg.augment_shift,
        "Augment: roll every training series by a random offset", NULL },
    { "augment-reverse", 0, 0, G_OPTION_ARG_NONE, &cfg.augment_reverse,
        "Augment: reverse training series in time with probability 1/2", NULL },
    { "augment-carrier", 0, 0, G_OPTION_ARG_DOUBLE, &cfg.augment_carrier_hz,
        "Augment: move every frequency of a training series by a random "
        "whole number of bins within +-HZ, keeping its envelope (carrier "
        "shift of the analytic signal; needs a sample rate)",
        "HZ" },
    { "augment-carrier-prob", 0, 0, G_OPTION_ARG_DOUBLE,
        &cfg.augment_carrier_prob,
        "Probability of the carrier shift per series (default 0.5)", "P" },
    { "augment-gain", 0, 0, G_OPTION_ARG_DOUBLE, &cfg.augment_gain,
        "Augment: multiply every training series by a log-uniform random "
        "gain in [1/G, G] (off when G <= 1)",
        "G" },
    { "augment-shuffle", 0, 0, G_OPTION_ARG_DOUBLE, &cfg.augment_shuffle_prob,
        "Augment: with probability P cut a training series of one of the "
        "--augment-shuffle-classes into pieces, shuffle them and spread its "
        "target evenly over those classes (bursts without their rhythm do "
        "not tell these classes apart)",
        "P" },
    { "augment-shuffle-classes", 0, 0, G_OPTION_ARG_STRING, &shuffle_classes,
        "The classes of --augment-shuffle, comma-separated labels (at least "
        "two)",
        "LABELS" },
    { "augment-shuffle-pieces", 0, 0, G_OPTION_ARG_STRING, &shuffle_pieces,
        "Piece lengths of --augment-shuffle in ms, MIN:MAX (default 2:12; "
        "needs a sample rate)",
        "MS:MS" },
    { "test", 't', 0, G_OPTION_ARG_FILENAME, &test,
        "Held-out test file: its accuracy is printed and recorded in the "
        "model's provenance",
        "FILE" },
    { "protocol", 0, 0, G_OPTION_ARG_STRING, &protocol,
        "Free text describing the data protocol, kept in the provenance",
        "TEXT" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads,
        "OpenBLAS threads (default: OpenBLAS's choice); results are "
        "deterministic for a seed and a thread count",
        "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress output", NULL },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- train a "
                                                         "classifier");
  g_option_context_set_summary (ctx,
      "Trains a 1-D CNN on a UCR file and "
      "writes a safetensors model file.\nExample: seqdream train --data "
      "FordA_TRAIN.tsv --arch resnet-small --epochs 100 --seed 1 --out "
      "forda.safetensors");
  g_option_context_add_main_entries (ctx, entries, NULL);
  gboolean parsed = cli_parse (ctx, &argc, &argv);
  if (!parsed) {
    g_strfreev (orig_argv);
    return 2;
  }
  int rc = 1;
  if (arch_name == NULL)
    arch_name = g_strdup ("resnet-small");
  if (optimizer == NULL)
    optimizer = g_strdup ("adam");
  if (schedule == NULL)
    schedule = g_strdup ("plateau");
  if (normalize == NULL)
    normalize = g_strdup ("per-series");
  if ((data.ucr == NULL && data.wav == NULL) || out == NULL) {
    fprintf (stderr, "seqdream train: --data (or --wav) and --out are "
                     "required (see --help)\n");
    rc = 2;
    goto done;
  }
  cfg.lr = (float) lr;
  cfg.min_lr = (float) MIN (min_lr, lr);
  cfg.weight_decay = (float) wd;
  cfg.momentum = (float) momentum;
  cfg.seed = (guint64) seed;
  if (g_strcmp0 (optimizer, "adam") == 0)
    cfg.optimizer = SD_OPTIMIZER_ADAM;
  else if (g_strcmp0 (optimizer, "sgd") == 0)
    cfg.optimizer = SD_OPTIMIZER_SGD;
  else {
    fprintf (stderr, "seqdream train: unknown optimizer '%s' (adam, sgd)\n",
        optimizer);
    rc = 2;
    goto done;
  }
  if (g_strcmp0 (schedule, "plateau") == 0)
    cfg.schedule = SD_SCHEDULE_PLATEAU;
  else if (g_strcmp0 (schedule, "cosine") == 0)
    cfg.schedule = SD_SCHEDULE_COSINE;
  else if (g_strcmp0 (schedule, "constant") == 0)
    cfg.schedule = SD_SCHEDULE_CONSTANT;
  else {
    fprintf (stderr,
        "seqdream train: unknown schedule '%s' (plateau, "
        "cosine, constant)\n",
        schedule);
    rc = 2;
    goto done;
  }
  SdNormalization norm = { SD_NORM_PER_SERIES, 0.0f, 1.0f };
  if (!sd_norm_mode_from_string (normalize, &norm.mode)) {
    fprintf (stderr,
        "seqdream train: unknown normalisation '%s' "
        "(per-series, fixed, none)\n",
        normalize);
    rc = 2;
    goto done;
  }
  cli_set_threads (threads);

  {
    g_autoptr (SdDataset) ds = cli_load_data (
        &data, data.wav ? SD_SPLIT_TRAIN : SD_SPLIT_ALL, NULL, &error);
    if (ds == NULL) {
      rc = cli_fail (error);
      goto done;
    }
    g_autoptr (SdDataset) ts = NULL;
    g_autofree char *test_name = NULL;
    if (test) {
      ts = sd_dataset_load_ucr (test, (const char *const *) ds->labels, &error);
      test_name = g_strdup (test);
    } else if (data.wav) {
      /* Recordings: the held-out time segments are the test set. */
      ts = cli_load_data (
          &data, SD_SPLIT_TEST, (const char *const *) ds->labels, &error);
      test_name = g_strdup_printf (
          "last %.0f%% of every recording", 100 * (1 - data.train_fraction));
    }
    if ((test || data.wav) && ts == NULL) {
      rc = cli_fail (error);
      goto done;
    }
    if (!shuffle_config (&cfg, shuffle_classes, shuffle_pieces, ds, &error)) {
      rc = cli_fail (error);
      goto done;
    }
    SdArch arch;
    if (!sd_arch_from_preset (arch_name, (int) ds->n_classes, &arch, &error)) {
      rc = cli_fail (error);
      goto done;
    }
    g_autoptr (SdModel) model = sd_model_new (
        &arch, (const char *const *) ds->labels, (guint64) seed, &error);
    if (model == NULL) {
      rc = cli_fail (error);
      goto done;
    }
    sd_model_set_normalization (model, norm);
    Progress pr = { isatty (2), quiet };
    cfg.callback = on_progress;
    cfg.user_data = &pr;
    if (!quiet)
      fprintf (stderr,
          "training %s (%" G_GSIZE_FORMAT " parameters) on %u "
          "series of length %u, %u classes\n",
          arch_name, sd_model_get_n_trainable (model), ds->n, ds->length,
          ds->n_classes);
    SdTrainResult res;
    if (!sd_train (model, ds, &cfg, &res, &error)) {
      if (pr.tty)
        fputc ('\n', stderr);
      rc = cli_fail (error);
      goto done;
    }
    g_autoptr (SdEvalResult) ev = NULL;
    if (ts) {
      ev = sd_model_evaluate (model, ts, &error);
      if (ev == NULL) {
        rc = cli_fail (error);
        goto done;
      }
    }
    g_autofree char *base = data.ucr ? g_path_get_basename (data.ucr)
                                     : g_strjoinv (" ", data.wav);
    g_autofree char *prov = provenance_json (base, protocol, arch_name,
        (guint64) seed, &cfg, (const char *const *) ds->labels, &res, test_name,
        ev, orig_argc, orig_argv);
    sd_model_set_provenance (model, prov);
    if (!sd_model_save (model, out, &error)) {
      rc = cli_fail (error);
      goto done;
    }
    printf ("trained %s: %d epochs in %.1f s, best epoch %d (val loss %.4f, "
            "val accuracy %.4f)\n",
        arch_name, res.epochs_run, res.seconds, res.best_epoch,
        res.best_val_loss, res.best_val_acc);
    if (ev)
      printf ("test accuracy %.4f on %u series (%s)\n", ev->accuracy, ev->n,
          test_name);
    printf ("wrote %s\n", out);
    rc = 0;
  }
done:
  g_free (data.ucr);
  g_strfreev (data.wav);
  g_strfreev (orig_argv);
  return rc;
}
