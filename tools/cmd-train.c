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

/* Why the training ended: "epochs", "early stop" or "time budget". */
static const char *
stopped_by (const SdTrainConfig *cfg, const SdTrainResult *res)
{
  if (res->stopped_by_time)
    return "time budget";
  if (res->stopped_early)
    return "early stop";
  return res->epochs_run >= cfg->epochs ? "epochs" : "?";
}

/* What the defaults chose, the settings that follow the data, and how
 * the run ended, into the provenance object b. */
static void
add_schedule (JsonBuilder *b, const SdTrainConfig *cfg, const char *adapted,
    const SdTrainResult *res)
{
  const struct
  {
    const char *key;
    double value;
  } nums[] = { { "val_fraction", cfg->val_fraction },
    { "max_epochs", cfg->epochs }, { "min_lr", cfg->min_lr },
    { "plateau_patience", cfg->plateau_patience },
    { "early_stop_patience", cfg->early_stop_patience },
    { "time_budget_s", cfg->time_budget_s }, { "threads", cfg->n_threads },
    { "train_seconds", round (res->seconds * 10) / 10 } };
  json_builder_set_member_name (b, "defaults");
  json_builder_add_string_value (b, adapted);
  for (gsize i = 0; i < G_N_ELEMENTS (nums); i++) {
    json_builder_set_member_name (b, nums[i].key);
    if (nums[i].value == (gint64) nums[i].value)
      json_builder_add_int_value (b, (gint64) nums[i].value);
    else
      json_builder_add_double_value (b, nums[i].value);
  }
  json_builder_set_member_name (b, "stopped_by");
  json_builder_add_string_value (b, stopped_by (cfg, res));
}

static char *
provenance_json (const char *data, const char *protocol, const char *arch,
    guint64 seed, const SdTrainConfig *cfg, const char *adapted,
    const char *const *labels, const SdTrainResult *res, const char *test_path,
    const SdEvalResult *test, int argc, char **argv)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
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
  add_schedule (b, cfg, adapted, res);
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
  return cli_provenance_finish (b, argc, argv);
}

/* The options of `seqdream train`. The strings stay NULL until given:
 * GOption does not free a default it replaces, so the defaults are applied
 * after parsing. */
typedef struct
{
  CliData data;
  char *out, *test, *protocol;
  char *arch_name, *optimizer, *schedule, *normalize;
  char *shuffle_classes, *shuffle_pieces;
  gint64 seed;
  int threads;
  int ensemble; /* --ensemble: members to train (1: one model) */
  double time_budget;
  double lr, min_lr, wd, momentum;
  char *adapted; /* what the data-adapted defaults chose, or NULL */
  gboolean quiet;
  SdTrainConfig config; /* some options are bound to it directly */
  SdNormalization norm;
  int argc; /* the command as given, for the provenance */
  char **argv;
} TrainOptions;

static void
train_options_clear (TrainOptions *o)
{
  char **strs[] = { &o->out, &o->test, &o->protocol, &o->arch_name,
    &o->optimizer, &o->schedule, &o->normalize, &o->shuffle_classes,
    &o->shuffle_pieces };
  for (gsize i = 0; i < G_N_ELEMENTS (strs); i++)
    g_clear_pointer (strs[i], g_free);
  cli_data_clear (&o->data);
  g_clear_pointer (&o->argv, g_strfreev);
  g_clear_pointer (&o->adapted, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TrainOptions, train_options_clear)

/* Marks an option that follows the data (sd_train_config_adapt) as not
 * given; adapt_config fills it in once the data are loaded. */
#define UNSET G_MININT

/* The library's defaults in o->config and the options standing for its
 * float fields, the ones that follow the data marked UNSET; a copy of the
 * command before parsing takes it apart. */
static void
train_options_init (TrainOptions *o, int argc, char **argv)
{
  sd_train_config_init (&o->config);
  o->config.epochs = UNSET;
  o->config.batch_size = UNSET;
  o->config.val_fraction = UNSET;
  o->config.plateau_patience = UNSET;
  o->config.early_stop_patience = UNSET;
  o->min_lr = UNSET;
  o->threads = (int) g_get_num_processors ();
  o->ensemble = 1;
  o->time_budget = 240.0;
  o->lr = o->config.lr;
  o->wd = o->config.weight_decay;
  o->momentum = o->config.momentum;
  o->argc = argc;
  o->argv = g_strdupv (argv);
}

/* The options of `seqdream train`, bound to o. */
static void
add_train_options (GOptionContext *ctx, TrainOptions *o)
{
  GOptionEntry entries[] = {
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &o->data.ucr,
        "Training data, UCR TSV/TXT (label first)", "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->data.wav,
        "Instead of --data: a mono recording and its class (repeat for "
        "every recording); windows from the first --train-fraction of each "
        "recording train, windows after it test",
        "FILE=LABEL" },
    { "window", 0, 0, G_OPTION_ARG_INT, &o->data.window,
        "Window length in samples for --wav", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &o->data.hop,
        "Hop between windows in samples for --wav", "N" },
    { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &o->data.train_fraction,
        "Part of every recording used for training with --wav (default "
        "0.7; the test windows start one window after it)",
        "F" },
    { "arch", 'a', 0, G_OPTION_ARG_STRING, &o->arch_name,
        "Architecture: resnet-small, resnet, fcn, fcn-small, fcn-pool, "
        "inception or inception-small (default resnet-small)",
        "NAME" },
    { "epochs", 'e', 0, G_OPTION_ARG_INT, &o->config.epochs,
        "Maximum number of epochs (default: about 20,000 minibatch steps, "
        "100 to 1500, within --time-budget)",
        "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &o->seed,
        "Seed for initialisation, split and shuffling (default 0)", "S" },
    { "ensemble", 0, 0, G_OPTION_ARG_INT, &o->ensemble,
        "Train N members (initialised with seeds S, S+1, ...; the split, "
        "batch order and augmentation of seed S) into one model file that "
        "predicts the mean of their probabilities (default 1: one model)",
        "N" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &o->out,
        "Model file to write (.safetensors)", "FILE" },
    { "val-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &o->config.val_fraction,
        "Stratified validation split taken from the data (default: 0 below "
        "1000 series, all of them train and the lowest training loss is "
        "kept; 0.2 from 1000); 0 disables validation and early stopping",
        "F" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &o->lr, "Learning rate (default 1e-3)",
        "LR" },
    { "min-lr", 0, 0, G_OPTION_ARG_DOUBLE, &o->min_lr,
        "Smallest learning rate of the schedule (default 1e-4 below 1000 "
        "series, 1e-5 from 1000)",
        "LR" },
    { "batch-size", 'b', 0, G_OPTION_ARG_INT, &o->config.batch_size,
        "Minibatch size (default: series / 10, from 2 to 16, below 1000 "
        "series; 32 from 1000)",
        "B" },
    { "optimizer", 0, 0, G_OPTION_ARG_STRING, &o->optimizer,
        "adam (decoupled weight decay) or sgd (momentum) (default adam)",
        "NAME" },
    { "momentum", 0, 0, G_OPTION_ARG_DOUBLE, &o->momentum,
        "SGD momentum (default 0.9)", "M" },
    { "weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &o->wd,
        "Weight decay of conv and dense weights (default 0)", "WD" },
    { "schedule", 0, 0, G_OPTION_ARG_STRING, &o->schedule,
        "Learning-rate schedule: plateau, cosine or constant (default "
        "plateau)",
        "NAME" },
    { "plateau-patience", 0, 0, G_OPTION_ARG_INT, &o->config.plateau_patience,
        "Epochs without improvement before the lr is halved (default 50 "
        "below 1000 series, 10 from 1000)",
        "N" },
    { "patience", 0, 0, G_OPTION_ARG_INT, &o->config.early_stop_patience,
        "Stop after N epochs without a better validation loss (default 30 "
        "with a validation split, 0 = never)",
        "N" },
    { "normalize", 0, 0, G_OPTION_ARG_STRING, &o->normalize,
        "Input normalisation stored in the model: per-series, fixed or none "
        "(default per-series)",
        "MODE" },
    { "augment-shift", 0, 0, G_OPTION_ARG_NONE, &o->config.augment_shift,
        "Augment: roll every training series by a random offset", NULL },
    { "augment-reverse", 0, 0, G_OPTION_ARG_NONE, &o->config.augment_reverse,
        "Augment: reverse training series in time with probability 1/2", NULL },
    { "augment-carrier", 0, 0, G_OPTION_ARG_DOUBLE,
        &o->config.augment_carrier_hz,
        "Augment: move every frequency of a training series by a random "
        "whole number of bins within +-HZ, keeping its envelope (carrier "
        "shift of the analytic signal; needs a sample rate)",
        "HZ" },
    { "augment-carrier-prob", 0, 0, G_OPTION_ARG_DOUBLE,
        &o->config.augment_carrier_prob,
        "Probability of the carrier shift per series (default 0.5)", "P" },
    { "augment-gain", 0, 0, G_OPTION_ARG_DOUBLE, &o->config.augment_gain,
        "Augment: multiply every training series by a log-uniform random "
        "gain in [1/G, G] (off when G <= 1)",
        "G" },
    { "augment-shuffle", 0, 0, G_OPTION_ARG_DOUBLE,
        &o->config.augment_shuffle_prob,
        "Augment: with probability P cut a training series of one of the "
        "--augment-shuffle-classes into pieces, shuffle them and spread its "
        "target evenly over those classes (bursts without their rhythm do "
        "not tell these classes apart)",
        "P" },
    { "augment-shuffle-classes", 0, 0, G_OPTION_ARG_STRING, &o->shuffle_classes,
        "The classes of --augment-shuffle, comma-separated labels (at least "
        "two)",
        "LABELS" },
    { "augment-shuffle-pieces", 0, 0, G_OPTION_ARG_STRING, &o->shuffle_pieces,
        "Piece lengths of --augment-shuffle in ms, MIN:MAX (default 2:12; "
        "needs a sample rate)",
        "MS:MS" },
    { "test", 't', 0, G_OPTION_ARG_FILENAME, &o->test,
        "Held-out test file: its accuracy is printed and recorded in the "
        "model's provenance",
        "FILE" },
    { "protocol", 0, 0, G_OPTION_ARG_STRING, &o->protocol,
        "Free text describing the data protocol, kept in the provenance",
        "TEXT" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o->threads,
        "Threads (OpenBLAS; default: every core); results are deterministic "
        "for a seed and a thread count",
        "N" },
    { "time-budget", 0, 0, G_OPTION_ARG_DOUBLE, &o->time_budget,
        "Stop training before an epoch that would end after S seconds "
        "(default 240; 0 = no limit). A run it stops depends on the "
        "machine's speed",
        "S" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "No progress output",
        NULL },
    { NULL }
  };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

/* Parses argv into o and applies the defaults; the exit status 2 on a
 * usage error, else 0. */
static int
parse_train_options (int *argc, char ***argv, TrainOptions *o)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- train a "
                                                         "classifier");
  g_option_context_set_summary (ctx,
      "Trains a 1-D CNN on a UCR file and "
      "writes a safetensors model file.\nExample: seqdream train --data "
      "FordA_TRAIN.tsv --arch resnet-small --epochs 100 --seed 1 --out "
      "forda.safetensors");
  add_train_options (ctx, o);
  if (!cli_parse (ctx, argc, argv))
    return 2;
  if (o->arch_name == NULL)
    o->arch_name = g_strdup ("resnet-small");
  if (o->optimizer == NULL)
    o->optimizer = g_strdup ("adam");
  if (o->schedule == NULL)
    o->schedule = g_strdup ("plateau");
  if (o->normalize == NULL)
    o->normalize = g_strdup ("per-series");
  if ((o->data.ucr == NULL && o->data.wav == NULL) || o->out == NULL) {
    fprintf (stderr, "seqdream train: --data (or --wav) and --out are "
                     "required (see --help)\n");
    return 2;
  }
  return 0;
}

/* The rest of o->config and o->norm from the options: learning rates,
 * seed, optimizer, schedule and normalisation; the exit status 2 on an
 * unknown name, else 0. */
static int
build_config (TrainOptions *o)
{
  SdTrainConfig *cfg = &o->config;
  cfg->lr = (float) o->lr;
  if (o->min_lr != UNSET)
    cfg->min_lr = (float) MIN (o->min_lr, o->lr);
  cfg->time_budget_s = o->time_budget;
  if (o->threads < 1) {
    fprintf (stderr, "seqdream train: --threads must be at least 1, got %d\n",
        o->threads);
    return 2;
  }
  cfg->n_threads = o->threads;
  if (o->ensemble < 1 || o->ensemble > SD_MAX_MEMBERS) {
    fprintf (stderr,
        "seqdream train: --ensemble must be 1 (one model) to %d, got %d\n",
        SD_MAX_MEMBERS, o->ensemble);
    return 2;
  }
  cfg->weight_decay = (float) o->wd;
  cfg->momentum = (float) o->momentum;
  cfg->seed = (guint64) o->seed;
  if (g_strcmp0 (o->optimizer, "adam") == 0)
    cfg->optimizer = SD_OPTIMIZER_ADAM;
  else if (g_strcmp0 (o->optimizer, "sgd") == 0)
    cfg->optimizer = SD_OPTIMIZER_SGD;
  else {
    fprintf (stderr, "seqdream train: unknown optimizer '%s' (adam, sgd)\n",
        o->optimizer);
    return 2;
  }
  if (g_strcmp0 (o->schedule, "plateau") == 0)
    cfg->schedule = SD_SCHEDULE_PLATEAU;
  else if (g_strcmp0 (o->schedule, "cosine") == 0)
    cfg->schedule = SD_SCHEDULE_COSINE;
  else if (g_strcmp0 (o->schedule, "constant") == 0)
    cfg->schedule = SD_SCHEDULE_CONSTANT;
  else {
    fprintf (stderr,
        "seqdream train: unknown schedule '%s' (plateau, "
        "cosine, constant)\n",
        o->schedule);
    return 2;
  }
  o->norm = (SdNormalization){ SD_NORM_PER_SERIES, 0.0f, 1.0f };
  if (!sd_norm_mode_from_string (o->normalize, &o->norm.mode)) {
    fprintf (stderr,
        "seqdream train: unknown normalisation '%s' "
        "(per-series, fixed, none)\n",
        o->normalize);
    return 2;
  }
  return 0;
}

/* One training run: its data, the model and what came out. */
typedef struct
{
  SdDataset *train; /* --data, or the first part of every --wav recording */
  SdDataset *test;  /* --test, or the rest of every recording; or NULL */
  char *test_name;  /* the test data as the report names them */
  SdModel *model;
  Progress progress;
  SdTrainResult result;
  SdEvalResult *eval; /* on the test data */
  /* --ensemble: every member's test accuracy (NaN without test data) and
   * the seconds of all their training */
  double *member_acc;
  double seconds;
} TrainJob;

static void
train_job_clear (TrainJob *job)
{
  g_clear_pointer (&job->train, sd_dataset_free);
  g_clear_pointer (&job->test, sd_dataset_free);
  g_clear_pointer (&job->test_name, g_free);
  g_clear_pointer (&job->model, sd_model_unref);
  g_clear_pointer (&job->eval, sd_eval_result_free);
  g_clear_pointer (&job->member_acc, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TrainJob, train_job_clear)

/* The training data and the test data, if any, with the training data's
 * labels. */
static gboolean
load_train_data (const TrainOptions *o, TrainJob *job, GError **error)
{
  const CliData *data = &o->data;
  job->train = cli_load_data (
      data, data->wav ? SD_SPLIT_TRAIN : SD_SPLIT_ALL, NULL, error);
  if (job->train == NULL)
    return FALSE;
  const char *const *labels = (const char *const *) job->train->labels;
  if (o->test) {
    job->test = sd_dataset_load_ucr (o->test, labels, error);
    job->test_name = g_strdup (o->test);
  } else if (data->wav) {
    /* Recordings: the held-out time segments are the test set. */
    job->test = cli_load_data (data, SD_SPLIT_TEST, labels, error);
    job->test_name = g_strdup_printf (
        "last %.0f%% of every recording", 100 * (1 - data->train_fraction));
  } else
    return TRUE;
  return job->test != NULL;
}

/* The settings that follow the data (sd_train_config_adapt) for every
 * option of them not given; the description of the choice in o->adapted.
 * A --val-fraction given picks the protocol: 0 all series, > 0 a
 * validation split. */
static void
adapt_config (TrainOptions *o, const SdDataset *ds)
{
  SdTrainConfig *cfg = &o->config;
  SdTrainConfig a = *cfg;
  SdTrainSplit split = cfg->val_fraction == UNSET ? SD_TRAIN_SPLIT_AUTO
                       : cfg->val_fraction > 0    ? SD_TRAIN_SPLIT_VALIDATION
                                                  : SD_TRAIN_SPLIT_NONE;
  g_autofree char *choice = sd_train_config_adapt (&a, ds, split);
  struct
  {
    int *value;
    int adapted;
    const char *option;
  } ints[] = { { &cfg->epochs, a.epochs, "--epochs" },
    { &cfg->batch_size, a.batch_size, "--batch-size" },
    { &cfg->plateau_patience, a.plateau_patience, "--plateau-patience" },
    { &cfg->early_stop_patience, a.early_stop_patience, "--patience" } };
  g_autoptr (GString) given = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (ints); i++) {
    if (*ints[i].value == UNSET)
      *ints[i].value = ints[i].adapted;
    else
      g_string_append_printf (given, " %s", ints[i].option);
  }
  if (cfg->val_fraction == UNSET)
    cfg->val_fraction = a.val_fraction;
  else
    g_string_append (given, " --val-fraction");
  if (o->min_lr == UNSET)
    cfg->min_lr = a.min_lr;
  else
    g_string_append (given, " --min-lr");
  o->adapted = given->len > 0 ? g_strdup_printf (
                   "%s; given instead:%s", choice, given->str)
                              : g_steal_pointer (&choice);
}

/* A new model of --arch for the training data's classes, initialised
 * with seed --seed + member, with the normalisation of --normalize. */
static gboolean
build_model (const TrainOptions *o, TrainJob *job, int member, GError **error)
{
  SdArch arch;
  if (!sd_arch_from_preset (
          o->arch_name, (int) job->train->n_classes, &arch, error))
    return FALSE;
  job->model = sd_model_new (&arch, (const char *const *) job->train->labels,
      (guint64) (o->seed + member), error);
  if (job->model == NULL)
    return FALSE;
  sd_model_set_normalization (job->model, o->norm);
  return TRUE;
}

/* Trains the model, with progress on stderr unless --quiet. */
static gboolean
train_model (TrainOptions *o, TrainJob *job, GError **error)
{
  const SdDataset *ds = job->train;
  char budget[32] = "none";
  if (o->config.time_budget_s > 0)
    g_snprintf (budget, sizeof budget, "%g s", o->config.time_budget_s);
  job->progress = (Progress){ isatty (2), o->quiet };
  o->config.callback = on_progress;
  o->config.user_data = &job->progress;
  if (!o->quiet)
    fprintf (stderr,
        "training %s (%" G_GSIZE_FORMAT " parameters) on %u "
        "series of length %u, %u classes\n"
        "defaults for the data: %s\n"
        "settings: validation split %g, batch %d, up to %d epochs, "
        "time budget %s, %d threads\n",
        o->arch_name, sd_model_get_n_trainable (job->model), ds->n, ds->length,
        ds->n_classes, o->adapted, o->config.val_fraction, o->config.batch_size,
        o->config.epochs, budget, o->config.n_threads);
  gboolean ok = sd_train (job->model, ds, &o->config, &job->result, error);
  /* The bar ends its line after the last epoch; not after an error, an
   * early stop or the end of the time budget. */
  if (job->progress.tty && !o->quiet
      && (!ok || job->result.epochs_run < o->config.epochs))
    fputc ('\n', stderr);
  return ok;
}

/* The trained model's scores on the test data, if any. */
static gboolean
test_model (TrainJob *job, GError **error)
{
  if (job->test == NULL)
    return TRUE;
  job->eval = sd_model_evaluate (job->model, job->test, error);
  return job->eval != NULL;
}

/* --ensemble N: N members, each trained, tested and given its own
 * provenance, joined into job->model. */
static gboolean
train_ensemble (TrainOptions *o, TrainJob *job, GError **error)
{
  const CliData *data = &o->data;
  g_autofree char *base = data->ucr ? g_path_get_basename (data->ucr)
                                    : g_strjoinv (" ", data->wav);
  g_autofree SdModel **members = g_new0 (SdModel *, o->ensemble);
  gboolean ok = TRUE;
  job->member_acc = g_new (double, o->ensemble);
  for (int i = 0; ok && i < o->ensemble; i++) {
    if (!o->quiet)
      fprintf (stderr, "ensemble member %d of %d (seed %" G_GINT64_FORMAT ")\n",
          i + 1, o->ensemble, o->seed + i);
    ok = build_model (o, job, i, error) && train_model (o, job, error)
         && test_model (job, error);
    if (!ok)
      break;
    job->seconds += job->result.seconds;
    job->member_acc[i] = job->eval ? job->eval->accuracy : NAN;
    g_autofree char *prov = provenance_json (base, o->protocol, o->arch_name,
        (guint64) (o->seed + i), &o->config, o->adapted,
        (const char *const *) job->train->labels, &job->result, job->test_name,
        job->eval, o->argc, o->argv);
    if (!sd_model_set_provenance (job->model, prov, error)) {
      ok = FALSE;
      break;
    }
    printf ("member %d (seed %" G_GINT64_FORMAT "): %d epochs in %.1f s, "
            "best epoch %d",
        i, o->seed + i, job->result.epochs_run, job->result.seconds,
        job->result.best_epoch);
    if (job->eval)
      printf (", test accuracy %.4f", job->eval->accuracy);
    printf ("\n");
    members[i] = g_steal_pointer (&job->model);
    g_clear_pointer (&job->eval, sd_eval_result_free);
  }
  if (ok)
    job->model = sd_model_new_ensemble (members, o->ensemble, error);
  for (int i = 0; i < o->ensemble; i++)
    g_clear_pointer (&members[i], sd_model_unref);
  return ok && job->model != NULL;
}

/* The ensemble's own provenance: what its members share, their seeds and
 * test accuracies (every member keeps its full provenance). */
static char *
ensemble_provenance (
    const TrainOptions *o, const TrainJob *job, const char *data)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "data");
  json_builder_add_string_value (b, data);
  if (o->protocol) {
    json_builder_set_member_name (b, "protocol");
    json_builder_add_string_value (b, o->protocol);
  }
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, o->arch_name);
  json_builder_set_member_name (b, "ensemble");
  json_builder_add_int_value (b, o->ensemble);
  json_builder_set_member_name (b, "seeds");
  json_builder_begin_array (b);
  for (int i = 0; i < o->ensemble; i++)
    json_builder_add_int_value (b, o->seed + i);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, job->seconds);
  if (job->eval) {
    json_builder_set_member_name (b, "test_data");
    json_builder_add_string_value (b, job->test_name);
    json_builder_set_member_name (b, "accuracy");
    json_builder_add_double_value (b, job->eval->accuracy);
    json_builder_set_member_name (b, "member_accuracy");
    json_builder_begin_array (b);
    for (int i = 0; i < o->ensemble; i++)
      json_builder_add_double_value (b, job->member_acc[i]);
    json_builder_end_array (b);
  }
  return cli_provenance_finish (b, o->argc, o->argv);
}

/* The model's training statistics (seqdream/stats.h). Recordings: fit on
 * their training windows, held out their test windows (neighbouring
 * windows of a recording overlap, so its validation windows are not held
 * out). A UCR file: fit on the training part of the split, held out its
 * validation part (a share of the training part without one). A failure
 * (a class too small) leaves the model without statistics, with a
 * warning: the model itself is good. */
static void
store_stats (const TrainOptions *o, TrainJob *job)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;
  if (o->data.wav != NULL && job->test != NULL)
    ok = sd_model_calibrate (job->model, job->train, job->test, NULL, &error);
  else {
    g_autofree guint *tr = NULL, *va = NULL;
    guint ntr, nva;
    sd_train_split (job->train, &o->config, &tr, &ntr, &va, &nva);
    if (nva == 0)
      ok = sd_model_calibrate (job->model, job->train, NULL, NULL, &error);
    else {
      g_autoptr (SdDataset) fit = sd_dataset_subset (job->train, tr, ntr);
      g_autoptr (SdDataset) held = sd_dataset_subset (job->train, va, nva);
      ok = sd_model_calibrate (job->model, fit, held, NULL, &error);
    }
  }
  if (!ok)
    fprintf (stderr,
        "seqdream train: warning: the model has no training statistics "
        "(%s); add them with seqdream calibrate\n",
        error->message);
}

/* Writes the model to --out with its provenance. */
static gboolean
save_model (const TrainOptions *o, const TrainJob *job, GError **error)
{
  const CliData *data = &o->data;
  g_autofree char *base = data->ucr ? g_path_get_basename (data->ucr)
                                    : g_strjoinv (" ", data->wav);
  g_autofree char *prov
      = provenance_json (base, o->protocol, o->arch_name, (guint64) o->seed,
          &o->config, o->adapted, (const char *const *) job->train->labels,
          &job->result, job->test_name, job->eval, o->argc, o->argv);
  if (o->ensemble > 1) {
    g_free (prov);
    prov = ensemble_provenance (o, job, base);
  }
  return sd_model_set_provenance (job->model, prov, error)
         && sd_model_save (job->model, o->out, error);
}

/* What was trained, how it scored and where it went, on stdout. */
static void
print_report (const TrainOptions *o, const TrainJob *job)
{
  const SdTrainResult *res = &job->result;
  if (o->ensemble > 1)
    printf ("trained an ensemble of %d %s in %.1f s (members above)\n",
        o->ensemble, o->arch_name, job->seconds);
  else
    printf ("trained %s: %d epochs in %.1f s (stopped by %s), best epoch %d ",
        o->arch_name, res->epochs_run, res->seconds,
        stopped_by (&o->config, res), res->best_epoch);
  if (o->ensemble > 1)
    ;
  else if (isnan (res->best_val_loss))
    printf ("(the lowest training loss)\n");
  else
    printf ("(val loss %.4f, val accuracy %.4f)\n", res->best_val_loss,
        res->best_val_acc);
  if (job->eval)
    printf ("test accuracy %.4f on %u series (%s)\n", job->eval->accuracy,
        job->eval->n, job->test_name);
  cli_print_stats (job->model);
  printf ("wrote %s\n", o->out);
}

int
cli_cmd_train (int argc, char **argv)
{
  g_auto (TrainOptions) o = { .data = CLI_DATA_INIT };
  train_options_init (&o, argc, argv);
  int rc = parse_train_options (&argc, &argv, &o);
  if (rc == 0)
    rc = build_config (&o);
  if (rc != 0)
    return rc;
  cli_set_threads (o.threads);

  GError *error = NULL;
  g_auto (TrainJob) job = { 0 };
  if (!load_train_data (&o, &job, &error))
    return cli_fail (error);
  adapt_config (&o, job.train);
  if (!shuffle_config (
          &o.config, o.shuffle_classes, o.shuffle_pieces, job.train, &error)
      || !(o.ensemble > 1 ? train_ensemble (&o, &job, &error)
                          : build_model (&o, &job, 0, &error)
                                && train_model (&o, &job, &error))
      || !test_model (&job, &error))
    return cli_fail (error);
  store_stats (&o, &job);
  if (!save_model (&o, &job, &error))
    return cli_fail (error);
  print_report (&o, &job);
  return 0;
}
