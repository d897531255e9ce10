/* seqdream eval / predict / info.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static void
add_double_array (JsonBuilder *b, const char *name, const float *v, int n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i]);
  json_builder_end_array (b);
}

static void
print_json (JsonBuilder *b, gboolean pretty)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *s = json_to_string (root, pretty);
  printf ("%s\n", s);
}

#define DATA_ENTRIES(d, part)                                                  \
  { "data", 'd', 0, G_OPTION_ARG_FILENAME, &(d).ucr,                           \
    "Series, UCR TSV/TXT (label first)", "FILE" },                             \
      { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &(d).wav,                  \
        "Instead of --data: a mono recording and its class (repeatable)",      \
        "FILE=LABEL" },                                                        \
      { "window", 0, 0, G_OPTION_ARG_INT, &(d).window,                         \
        "Window length in samples for --wav", "N" },                           \
      { "hop", 0, 0, G_OPTION_ARG_INT, &(d).hop,                               \
        "Hop between windows in samples for --wav", "N" },                     \
      { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &(d).train_fraction,      \
        "Split point of every recording for --part (default 0.7)", "F" },      \
  {                                                                            \
    "part", 0, 0, G_OPTION_ARG_STRING, &(part),                                \
        "With --wav: all, train or test windows (default test)", "PART"        \
  }

/* Loads a model and the data mapped onto the model's labels (or not, for
 * predict, whose label column means nothing). */
static gboolean
load_model_and_data (const char *model_path, const CliData *d,
    const char *part_name, gboolean map_labels, SdModel **model,
    SdDataset **data, GError **error)
{
  SdSplitPart part = SD_SPLIT_TEST;
  if (part_name && !cli_parse_part (part_name, &part, error))
    return FALSE;
  *model = sd_model_load (model_path, error);
  if (*model == NULL)
    return FALSE;
  *data = cli_load_data (d, part,
      map_labels || d->wav ? sd_model_get_labels (*model) : NULL, error);
  return *data != NULL;
}

int
cli_cmd_eval (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *part = NULL;
  g_auto (CliData) d = CLI_DATA_INIT;
  gboolean json = FALSE;
  int threads = 0;
  GError *error = NULL;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &model_path,
                                 "Model file (.safetensors or .onnx)", "FILE" },
    DATA_ENTRIES (d, part),
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
        "Print one JSON object (accuracy, n, loss, labels, confusion, "
        "precision, recall, f1)",
        NULL },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "OpenBLAS threads", "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- evaluate a "
                              "model on labelled data");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (model_path == NULL || (d.ucr == NULL && d.wav == NULL)) {
    fprintf (stderr, "seqdream eval: --model and --data (or --wav) are "
                     "required\n");
    return 2;
  }
  cli_set_threads (threads);
  g_autoptr (SdModel) model = NULL;
  g_autoptr (SdDataset) data = NULL;
  if (!load_model_and_data (model_path, &d, part, TRUE, &model, &data, &error))
    return cli_fail (error);
  const char *data_path = d.ucr ? d.ucr : "recordings";
  g_autoptr (SdEvalResult) r = sd_model_evaluate (model, data, &error);
  if (r == NULL)
    return cli_fail (error);
  const char *const *labels = sd_model_get_labels (model);
  int n_classes = r->n_classes;

  if (json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "model");
    json_builder_add_string_value (b, model_path);
    json_builder_set_member_name (b, "data");
    json_builder_add_string_value (b, data_path);
    json_builder_set_member_name (b, "n");
    json_builder_add_int_value (b, r->n);
    json_builder_set_member_name (b, "accuracy");
    json_builder_add_double_value (b, r->accuracy);
    json_builder_set_member_name (b, "loss");
    json_builder_add_double_value (b, r->loss);
    json_builder_set_member_name (b, "labels");
    json_builder_begin_array (b);
    for (int k = 0; k < n_classes; k++)
      json_builder_add_string_value (b, labels[k]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "confusion");
    json_builder_begin_array (b);
    for (int i = 0; i < n_classes; i++) {
      json_builder_begin_array (b);
      for (int j = 0; j < n_classes; j++)
        json_builder_add_int_value (b, r->confusion[i * n_classes + j]);
      json_builder_end_array (b);
    }
    json_builder_end_array (b);
    if (r->unknown != NULL) {
      /* windows above the novelty threshold, by true class */
      json_builder_set_member_name (b, "novelty_threshold");
      json_builder_add_double_value (
          b, sd_model_stats_get_novelty_threshold (sd_model_get_stats (model)));
      json_builder_set_member_name (b, "unknown");
      json_builder_add_int_value (b, r->n_unknown);
      json_builder_set_member_name (b, "unknown_per_class");
      json_builder_begin_array (b);
      for (int k = 0; k < n_classes; k++)
        json_builder_add_int_value (b, r->unknown[k]);
      json_builder_end_array (b);
    }
    const char *names[] = { "precision", "recall", "f1" };
    const double *vals[] = { r->precision, r->recall, r->f1 };
    for (int m = 0; m < 3; m++) {
      json_builder_set_member_name (b, names[m]);
      json_builder_begin_array (b);
      for (int k = 0; k < n_classes; k++)
        json_builder_add_double_value (b, vals[m][k]);
      json_builder_end_array (b);
    }
    json_builder_end_object (b);
    print_json (b, FALSE);
    return 0;
  }
  printf ("model     %s\ndata      %s (%u series)\naccuracy  %.4f\n"
          "loss      %.4f\n\n",
      model_path, data_path, r->n, r->accuracy, r->loss);
  if (r->unknown != NULL)
    printf ("unknown   %u of %u windows (%.2f %%) above the novelty threshold "
            "%.4g\n\n",
        r->n_unknown, r->n, r->n ? 100.0 * r->n_unknown / r->n : 0.0,
        sd_model_stats_get_novelty_threshold (sd_model_get_stats (model)));
  else
    printf ("unknown   - (no training statistics: run seqdream calibrate)\n\n");
  printf ("%-12s %9s %9s %9s %7s", "class", "precision", "recall", "f1", "n");
  printf (r->unknown ? " %8s\n" : "\n", "unknown");
  for (int k = 0; k < n_classes; k++) {
    guint row = 0;
    for (int j = 0; j < n_classes; j++)
      row += r->confusion[k * n_classes + j];
    printf ("%-12s %9.4f %9.4f %9.4f %7u", labels[k], r->precision[k],
        r->recall[k], r->f1[k], row);
    if (r->unknown != NULL)
      printf (" %8u", r->unknown[k]);
    printf ("\n");
  }
  printf ("\nconfusion (rows: true, columns: predicted)\n%-12s", "");
  for (int j = 0; j < n_classes; j++)
    printf (" %8s", labels[j]);
  printf ("\n");
  for (int i = 0; i < n_classes; i++) {
    printf ("%-12s", labels[i]);
    for (int j = 0; j < n_classes; j++)
      printf (" %8u", r->confusion[i * n_classes + j]);
    printf ("\n");
  }
  return 0;
}

/* predict's data: a UCR file with its label column as it is (it may hold
 * anything), or recordings (each window's file, first sample and time go
 * into the JSON); --wav FILE without =LABEL scores the whole recording
 * (--part all) in windows of the model's training length every window. */
static gboolean
load_for_predict (const char *model_path, CliData *d, const char *part_name,
    SdModel **model, SdDataset **data, GError **error)
{
  const gboolean labelled = cli_label_wavs (d);
  SdSplitPart part = labelled ? SD_SPLIT_TEST : SD_SPLIT_ALL;
  if (part_name && !cli_parse_part (part_name, &part, error))
    return FALSE;
  *model = sd_model_load (model_path, error);
  if (*model == NULL)
    return FALSE;
  if (d->wav != NULL && d->window == 0)
    d->window = (int) sd_model_get_train_length (*model);
  if (d->wav != NULL && d->hop == 0)
    d->hop = d->window;
  *data = cli_load_data (d, part,
      d->wav != NULL && labelled ? sd_model_get_labels (*model) : NULL, error);
  if (*data == NULL)
    return FALSE;
  /* FILE=LABEL (loaded now) becomes FILE, the name in the JSON */
  for (int i = 0; d->wav != NULL && d->wav[i] != NULL; i++)
    *strrchr (d->wav[i], '=') = '\0';
  return TRUE;
}

int
cli_cmd_predict (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *part = NULL;
  g_auto (CliData) d = CLI_DATA_INIT;
  gboolean json = FALSE;
  int threads = 0;
  GError *error = NULL;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &model_path,
                                 "Model file (.safetensors or .onnx)", "FILE" },
    DATA_ENTRIES (d, part),
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
        "One JSON object per line: index, logits, probabilities, class, "
        "class_index; novelty and known when the model has training "
        "statistics",
        NULL },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "OpenBLAS threads", "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- classify "
                                                         "series");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (model_path == NULL || (d.ucr == NULL && d.wav == NULL)) {
    fprintf (stderr, "seqdream predict: --model and --data (or --wav) are "
                     "required\n");
    return 2;
  }
  cli_set_threads (threads);
  g_autoptr (SdModel) model = NULL;
  g_autoptr (SdDataset) data = NULL;
  if (!load_for_predict (model_path, &d, part, &model, &data, &error))
    return cli_fail (error);
  int n_classes = sd_model_get_n_classes (model);
  const char *const *labels = sd_model_get_labels (model);
  g_autofree float *logits = g_new (float, (gsize) data->n *n_classes);
  g_autofree float *p = g_new (float, n_classes);
  const SdModelStats *stats = sd_model_get_stats (model);
  g_autofree double *novelty = stats ? g_new (double, data->n) : NULL;
  if (!sd_model_predict_novelty (model, data, logits, novelty, &error))
    return cli_fail (error);
  const double threshold
      = stats ? sd_model_stats_get_novelty_threshold (stats) : INFINITY;
  if (!json)
    printf ("%-7s %-12s %-11s%s%s\n", "index", "class", "probability",
        data->start ? " time       " : "", novelty ? " novelty" : "");
  for (guint i = 0; i < data->n; i++) {
    const float *l = logits + (gsize) i * n_classes;
    int best = 0;
    for (int k = 1; k < n_classes; k++)
      if (l[k] > l[best])
        best = k;
    sd_softmax_forward (p, l, 1, n_classes);
    if (json) {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "index");
      json_builder_add_int_value (b, i);
      if (data->start != NULL) {
        json_builder_set_member_name (b, "file");
        json_builder_add_string_value (b, d.wav[data->source[i]]);
        json_builder_set_member_name (b, "sample");
        json_builder_add_int_value (b, data->start[i]);
        cli_json_add_double (
            b, "t", (double) data->start[i] / data->sample_rate);
      }
      add_double_array (b, "logits", l, n_classes);
      add_double_array (b, "probabilities", p, n_classes);
      json_builder_set_member_name (b, "class");
      json_builder_add_string_value (b, labels[best]);
      json_builder_set_member_name (b, "class_index");
      json_builder_add_int_value (b, best);
      if (novelty != NULL) {
        cli_json_add_double (b, "novelty", novelty[i]);
        json_builder_set_member_name (b, "known");
        json_builder_add_boolean_value (b, novelty[i] <= threshold);
      }
      json_builder_end_object (b);
      print_json (b, FALSE);
    } else {
      printf ("%-7u %-12s %-11.4f", i, labels[best], p[best]);
      if (data->start != NULL)
        printf (" %9.3f s", (double) data->start[i] / data->sample_rate);
      if (novelty != NULL)
        printf (
            " %.4g%s", novelty[i], novelty[i] <= threshold ? "" : " unknown");
      printf ("\n");
    }
  }
  return 0;
}

/* The model's training statistics as JSON (null without them): threshold,
 * false-alarm rate, shrinkage, length, level, counts and the quantiles
 * of the novelty and the margins at 0.5, 0.9, 0.99. */
static void
append_stats_json (GString *out, const SdModel *model)
{
  const SdModelStats *s = sd_model_get_stats (model);
  if (s == NULL) {
    g_string_append (out, "null");
    return;
  }
  const int K = sd_model_stats_get_n_classes (s);
  const double qs[] = { 0.5, 0.9, 0.99 };
  double lo, hi;
  sd_model_stats_get_level_range (s, &lo, &hi);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "length");
  json_builder_add_int_value (b, sd_model_stats_get_length (s));
  cli_json_add_double (
      b, "novelty_threshold", sd_model_stats_get_novelty_threshold (s));
  cli_json_add_double (b, "false_alarm", sd_model_stats_get_false_alarm (s));
  cli_json_add_double (b, "shrinkage", sd_model_stats_get_shrinkage (s));
  /* the stages the novelty combines (empty: the pooled features alone,
   * a file of version 1) and their covariance shrinkages */
  json_builder_set_member_name (b, "novelty_stage_shrinkage");
  json_builder_begin_array (b);
  for (int l = 0; l < sd_model_stats_get_novelty_stages (s); l++)
    json_builder_add_double_value (
        b, sd_model_stats_get_stage_shrinkage (s, l));
  json_builder_end_array (b);
  cli_json_add_double (b, "level_lo", lo);
  cli_json_add_double (b, "level_hi", hi);
  json_builder_set_member_name (b, "novelty_quantiles");
  json_builder_begin_object (b);
  for (gsize q = 0; q < G_N_ELEMENTS (qs); q++) {
    char name[16];
    g_snprintf (name, sizeof name, "%g", qs[q]);
    cli_json_add_double (b, name, sd_model_stats_novelty_quantile (s, qs[q]));
  }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (int k = 0; k < K; k++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "fit");
    json_builder_add_int_value (b, sd_model_stats_get_class_count (s, k));
    json_builder_set_member_name (b, "heldout");
    json_builder_add_int_value (b, sd_model_stats_get_heldout_count (s, k));
    json_builder_set_member_name (b, "margin_quantiles");
    json_builder_begin_object (b);
    for (gsize q = 0; q < G_N_ELEMENTS (qs); q++) {
      char name[16];
      g_snprintf (name, sizeof name, "%g", qs[q]);
      cli_json_add_double (
          b, name, sd_model_stats_margin_quantile (s, k, qs[q]));
    }
    json_builder_end_object (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  g_string_append (out, text);
}

/* The stages and head of architecture a, for seqdream info. */
static void
print_stages (const SdArch *a)
{
  for (int i = 0; i < a->n_stages; i++) {
    const SdStage *s = &a->stages[i];
    printf ("  stages.%d     %s", i,
        s->type == SD_STAGE_CONV ? "conv+bn+relu" : "residual");
    for (int j = 0; j < s->n_convs; j++)
      printf (" %dx k%d", s->channels[j], s->kernels[j]);
    if (s->pool > 1)
      printf (", average pooling /%d", s->pool);
    printf ("\n");
  }
  printf ("  head        global average pooling, dense -> %d classes\n",
      a->n_classes);
}

/* An ensemble's members: architecture, size, seed and test accuracy from
 * their provenance. */
static void
print_members (SdModel *model)
{
  const int n = sd_model_get_n_members (model);
  const SdModelStats *st = sd_model_get_stats (model);
  printf ("architecture  ensemble of %d members (the mean of their "
          "probabilities; layers of member 0; novelty %s)\n",
      n,
      st == NULL ? "once calibrated, of every member"
      : sd_model_stats_get_novelty_members (st)
          ? "of every member"
          : "of member 0: calibrated before, calibrate again for every "
            "member's");
  for (int i = 0; i < n; i++) {
    SdModel *m = sd_model_get_member (model, i);
    printf ("member %-6d %s, %" G_GSIZE_FORMAT " trainable parameters", i,
        sd_model_get_arch (m)->name, sd_model_get_n_trainable (m));
    g_autoptr (JsonParser) p = json_parser_new ();
    const char *prov = sd_model_get_provenance (m);
    JsonNode *root = prov && json_parser_load_from_data (p, prov, -1, NULL)
                         ? json_parser_get_root (p)
                         : NULL;
    JsonObject *o = root && JSON_NODE_HOLDS_OBJECT (root)
                        ? json_node_get_object (root)
                        : NULL;
    if (o && json_object_has_member (o, "seed"))
      printf (
          ", seed %" G_GINT64_FORMAT, json_object_get_int_member (o, "seed"));
    if (o && json_object_has_member (o, "accuracy"))
      printf (", test accuracy %.4f",
          json_object_get_double_member (o, "accuracy"));
    printf ("\n");
    const int S = sd_model_get_n_stage_layers (m);
    if (sd_model_get_arch (m)->n_stages == 0 && S > 0) /* an op graph */
      printf ("  stages.0-%d   the outputs of its ReLU-type activations "
              "(seqdream info on the member's own file lists them)\n",
          S - 1);
    print_stages (sd_model_get_arch (m));
  }
}

int
cli_cmd_info (int argc, char **argv)
{
  g_autofree char *model_path = NULL;
  gboolean json = FALSE;
  GError *error = NULL;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &model_path,
                                 "Model file (.safetensors or .onnx)", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL }, { NULL } };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- describe a "
                                                         "model file");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (model_path == NULL) {
    fprintf (stderr, "seqdream info: --model is required\n");
    return 2;
  }
  g_autoptr (SdModel) model = sd_model_load (model_path, &error);
  if (model == NULL)
    return cli_fail (error);
  const SdArch *a = sd_model_get_arch (model);
  const char *const *labels = sd_model_get_labels (model);
  SdNormalization norm = sd_model_get_normalization (model);
  float lo, hi;
  sd_model_get_input_range (model, &lo, &hi);
  g_autofree char *arch_json = sd_arch_to_json (a);
  const char *prov = sd_model_get_provenance (model);

  if (json) {
    g_autoptr (GString) s = g_string_new ("{");
    g_autofree char *q = g_strescape (model_path, NULL);
    g_string_append_printf (s,
        "\"file\":\"%s\",\"arch\":%s,\"members\":%d,\"parameters\":"
        "%" G_GSIZE_FORMAT ",\"labels\":[",
        q, arch_json, sd_model_get_n_members (model),
        sd_model_get_n_trainable (model));
    for (int k = 0; labels[k]; k++) {
      g_autofree char *ql = g_strescape (labels[k], NULL);
      g_string_append_printf (s, "%s\"%s\"", k ? "," : "", ql);
    }
    g_string_append_printf (s,
        "],\"train_length\":%u,\"min_length\":%d,\"receptive_field\":%d,"
        "\"sample_rate\":%g,\"normalization\":\"%s\",\"provenance\":%s,"
        "\"stats\":",
        sd_model_get_train_length (model), sd_model_get_min_length (model),
        sd_model_get_receptive_field (model), sd_model_get_sample_rate (model),
        sd_norm_mode_to_string (norm.mode), prov ? prov : "null");
    append_stats_json (s, model);
    g_string_append_c (s, '}');
    printf ("%s\n", s->str);
    return 0;
  }
  printf ("file          %s\n", model_path);
  g_autofree char *graph = sd_model_describe_graph (model);
  const int n_members = sd_model_get_n_members (model);
  if (graph != NULL)
    printf ("architecture  %s\n%s",
        g_strcmp0 (a->name, "onnx") == 0
            ? "op graph (imported from ONNX)"
            : a->name, /* a graph preset: "inception" */
        graph);
  else if (n_members > 0)
    print_members (model);
  else {
    printf ("architecture  %s\n", a->name);
    print_stages (a);
  }
  printf ("span          receptive field %d samples",
      sd_model_get_receptive_field (model));
  if (sd_model_get_sample_rate (model) > 0)
    printf (" (%.3g ms)", 1e3 * sd_model_get_receptive_field (model)
                              / sd_model_get_sample_rate (model));
  printf (", shortest input %d samples\n", sd_model_get_min_length (model));
  printf ("parameters    %" G_GSIZE_FORMAT " trainable (%" G_GSIZE_FORMAT
          " floats with BN statistics)\n",
      sd_model_get_n_trainable (model), sd_model_get_n_params (model));
  printf ("labels        ");
  for (int k = 0; labels[k]; k++)
    printf ("%s%s", k ? ", " : "", labels[k]);
  printf ("\ntrain length  %u samples\n", sd_model_get_train_length (model));
  if (sd_model_get_sample_rate (model) > 0)
    printf ("sample rate   %g Hz\n", sd_model_get_sample_rate (model));
  else
    printf ("sample rate   unknown\n");
  if (norm.mode == SD_NORM_FIXED)
    printf ("normalisation fixed (mean %g, std %g)\n", norm.mean, norm.std);
  else
    printf ("normalisation %s\n", sd_norm_mode_to_string (norm.mode));
  if (isfinite (lo))
    printf ("input range   [%g, %g]\n", lo, hi);
  printf ("provenance    %s\n", prov ? prov : "unknown");
  cli_print_stats (model);
  return 0;
}
