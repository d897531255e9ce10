/* seqdream explain: attributions of series (saliency, gradient x input,
 * integrated gradients, SmoothGrad) as JSON lines, and a plot of the
 * series with its attribution as a heat strip and the top segments
 * shaded. docs/explain.md describes the methods and the output.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plot.h"
#include "seqdream-cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Series attributed per call: bounds the memory of long recordings. */
#define EXPLAIN_CHUNK 32
/* Series drawn in a plot (one panel each). */
#define EXPLAIN_MAX_PANELS 6
/* The top segments: runs of the TOP_FRACTION highest-scoring samples,
 * merged across gaps of up to 1/TOP_MERGE of the series (at least 2
 * samples); the TOP_SEGMENTS with the largest total score are shaded. */
#define TOP_FRACTION 0.05
#define TOP_MERGE 200
#define TOP_SEGMENTS 5

typedef struct
{
  char *model_path, *method, *class_label, *baseline, *json_out, *plot_out;
  char *part, *rule;
  int steps, samples, index, limit, threads, max_steps;
  double noise, tolerance;
  gint64 seed;
} ExplainOptions;

static void
explain_options_clear (ExplainOptions *o)
{
  char **strs[] = { &o->model_path, &o->method, &o->class_label, &o->baseline,
    &o->json_out, &o->plot_out, &o->part, &o->rule };
  for (gsize i = 0; i < G_N_ELEMENTS (strs); i++)
    g_clear_pointer (strs[i], g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ExplainOptions, explain_options_clear)

/* What the run needs besides the options. */
typedef struct
{
  SdModel *model;
  SdDataset *data;
  SdAttributor *at;
  SdAttributionConfig cfg;
  gboolean class_mean; /* --baseline mean */
  float *baseline;     /* a FILE baseline or a class mean (T) */
  gboolean labelled;   /* the data's labels are meaningful */
  FILE *json;
} Explain;

/* ---- configuration ---- */

static gboolean
parse_config (const ExplainOptions *o, Explain *e, GError **error)
{
  SdAttributionMethod method = SD_ATTRIBUTION_INTEGRATED_GRADIENTS;
  if (o->method && !sd_attribution_method_from_string (o->method, &method)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown method '%s' (saliency, gradxinput, ig or smoothgrad)",
        o->method);
    return FALSE;
  }
  SdAttributionConfig *c = &e->cfg;
  sd_attribution_config_init (c, method);
  if (o->class_label) {
    c->target = sd_model_find_label (e->model, o->class_label);
    if (c->target < 0) {
      g_autofree char *all
          = g_strjoinv (", ", (char **) sd_model_get_labels (e->model));
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "unknown class '%s' (the model's classes: %s)", o->class_label, all);
      return FALSE;
    }
  }
  if (o->rule && !sd_ig_rule_from_string (o->rule, &c->rule)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown rule '%s' (trapezoid or gauss-legendre)", o->rule);
    return FALSE;
  }
  /* 0 (unset) keeps a default; impossible values reach the library's
   * checks */
  if (o->steps != 0)
    c->steps = o->steps;
  if (o->max_steps != 0)
    c->max_steps = o->max_steps;
  if (o->samples != 0)
    c->samples = o->samples;
  if (!isnan (o->noise))
    c->noise = (float) o->noise;
  if (!isnan (o->tolerance))
    c->tolerance = (float) o->tolerance;
  c->seed = (guint64) o->seed;
  return TRUE;
}

/* --baseline zeros | mean | FILE (a UCR file: its first series). */
static gboolean
parse_baseline (const ExplainOptions *o, Explain *e, GError **error)
{
  const char *b = o->baseline;
  if (b == NULL || strcmp (b, "zeros") == 0)
    return TRUE;
  if (strcmp (b, "mean") == 0) {
    e->class_mean = TRUE;
    e->cfg.baseline_type = SD_BASELINE_MODEL_INPUT;
    return TRUE;
  }
  g_autoptr (SdDataset) ds = sd_dataset_load_ucr (b, NULL, error);
  if (ds == NULL)
    return FALSE;
  if (ds->length != e->data->length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "baseline %s has %u samples, the series %u", b, ds->length,
        e->data->length);
    return FALSE;
  }
  memcpy (e->baseline, ds->x, ds->length * sizeof (float));
  e->cfg.baseline_type = SD_BASELINE_SERIES;
  e->cfg.baseline = e->baseline;
  return TRUE;
}

/* ---- output ---- */

static void
add_float_array (JsonBuilder *b, const char *name, const float *v, int n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i]);
  json_builder_end_array (b);
}

static const char *
units_of (SdAttributionMethod m)
{
  return m == SD_ATTRIBUTION_SALIENCY || m == SD_ATTRIBUTION_SMOOTHGRAD
             ? "logit per data unit"
             : "logit";
}

static void
write_line (const Explain *e, const SdAttribution *a, int k, guint index)
{
  const char *const *labels = sd_model_get_labels (e->model);
  const int T = a->length;
  const float *v = a->values + (gsize) k * T;
  double sum = 0.0;
  for (int t = 0; t < T; t++)
    sum += v[t];
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "index");
  json_builder_add_int_value (b, index);
  if (e->labelled) {
    json_builder_set_member_name (b, "label");
    json_builder_add_string_value (b, e->data->labels[e->data->y[index]]);
  }
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (
      b, sd_attribution_method_to_string (a->method));
  json_builder_set_member_name (b, "class");
  json_builder_add_string_value (b, labels[a->target[k]]);
  json_builder_set_member_name (b, "class_index");
  json_builder_add_int_value (b, a->target[k]);
  json_builder_set_member_name (b, "predicted");
  json_builder_add_string_value (b, labels[a->predicted[k]]);
  cli_json_add_double (b, "logit", a->logit[k]);
  if (!isnan (a->baseline_logit[k]))
    cli_json_add_double (b, "baseline_logit", a->baseline_logit[k]);
  if (a->method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS) {
    json_builder_set_member_name (b, "steps");
    json_builder_add_int_value (b, a->steps[k]);
  }
  cli_json_add_double (b, "sum", sum);
  json_builder_set_member_name (b, "units");
  json_builder_add_string_value (b, units_of (a->method));
  add_float_array (b, "attribution", v, T);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *s = json_to_string (root, FALSE);
  fprintf (e->json, "%s\n", s);
}

/* ---- the run ---- */

/* Attributions of the series idx (n) with target `target` (-1: config's)
 * and, for --baseline mean, the mean of that class. */
static SdAttribution *
attribute (Explain *e, const guint *idx, int n, int target, GError **error)
{
  const int T = (int) e->data->length;
  g_autofree float *x = g_new (float, (gsize) n *T);
  for (int i = 0; i < n; i++)
    memcpy (x + (gsize) i * T, e->data->x + (gsize) idx[i] * T,
        (gsize) T * sizeof (float));
  SdAttributionConfig c = e->cfg;
  if (target >= 0)
    c.target = target;
  if (e->class_mean) {
    if (!sd_attribution_class_mean (
            e->model, e->data, c.target, e->baseline, error))
      return NULL;
    c.baseline = e->baseline;
  }
  return sd_attributor_run (e->at, &c, x, n, T, error);
}

/* The predicted class of series idx[i] into pred (n). */
static gboolean
predict (Explain *e, const guint *idx, int n, int *pred, GError **error)
{
  const int K = sd_model_get_n_classes (e->model);
  g_autoptr (SdDataset) sub = sd_dataset_subset (e->data, idx, n);
  g_autofree float *logits = g_new (float, (gsize) n *K);
  if (!sd_model_predict (e->model, sub, logits, error))
    return FALSE;
  for (int i = 0; i < n; i++) {
    pred[i] = 0;
    for (int k = 1; k < K; k++)
      if (logits[(gsize) i * K + k] > logits[(gsize) i * K + pred[i]])
        pred[i] = k;
  }
  return TRUE;
}

/* Row j of src into row i of dst (same length and classes). */
static void
copy_row (SdAttribution *dst, int i, const SdAttribution *src, int j)
{
  const int T = dst->length, K = dst->n_classes;
  memcpy (dst->values + (gsize) i * T, src->values + (gsize) j * T,
      (gsize) T * sizeof (float));
  memcpy (dst->logits + (gsize) i * K, src->logits + (gsize) j * K,
      (gsize) K * sizeof (float));
  dst->target[i] = src->target[j];
  dst->predicted[i] = src->predicted[j];
  dst->logit[i] = src->logit[j];
  dst->baseline_logit[i] = src->baseline_logit[j];
  dst->steps[i] = src->steps[j];
}

/* The attributions of the series idx (n), in that order. With --baseline
 * mean and no --class every series starts from the mean of its
 * predicted class: the series run class by class and are put back in
 * order. */
static SdAttribution *
attribute_chunk (Explain *e, const guint *idx, int n, GError **error)
{
  if (!e->class_mean || e->cfg.target >= 0)
    return attribute (e, idx, n, -1, error);
  g_autofree int *pred = g_new (int, n);
  if (!predict (e, idx, n, pred, error))
    return NULL;
  const int T = (int) e->data->length, K = sd_model_get_n_classes (e->model);
  g_autoptr (SdAttribution) all = g_new0 (SdAttribution, 1);
  *all = (SdAttribution){ n, T, K, e->cfg.method, g_new (float, (gsize) n *T),
    g_new (int, n), g_new (int, n), g_new (float, (gsize) n *K),
    g_new (float, n), g_new (float, n), g_new (int, n) };
  g_autofree guint *sel = g_new (guint, n);
  for (int k = 0; k < K; k++) {
    int m = 0;
    for (int i = 0; i < n; i++)
      if (pred[i] == k)
        sel[m++] = idx[i];
    if (m == 0)
      continue;
    g_autoptr (SdAttribution) a = attribute (e, sel, m, k, error);
    if (a == NULL)
      return NULL;
    for (int i = 0, j = 0; i < n; i++)
      if (pred[i] == k)
        copy_row (all, i, a, j++);
  }
  return g_steal_pointer (&all);
}

/* ---- the plot ---- */

/* The score that ranks samples: the signed value for IG and gradient x
 * input (support for the class), the magnitude for the gradients. */
static double
score (SdAttributionMethod m, float v)
{
  return m == SD_ATTRIBUTION_SALIENCY || m == SD_ATTRIBUTION_SMOOTHGRAD
             ? fabsf (v)
             : v;
}

static int
cmp_desc (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x < y) - (x > y);
}

/* The top segments of v (T) into spans (at most TOP_SEGMENTS, x in the
 * panel's units: samples / x_scale); returns how many. */
static int
top_segments (SdAttributionMethod m, const float *v, int T, double x_scale,
    PlotSpan *spans)
{
  g_autofree double *sorted = g_new (double, T);
  for (int t = 0; t < T; t++)
    sorted[t] = score (m, v[t]);
  qsort (sorted, T, sizeof (double), cmp_desc);
  const int k = MAX (1, (int) (TOP_FRACTION * T));
  const double thr = sorted[k - 1];
  const int merge = MAX (2, T / TOP_MERGE);
  int n = 0;
  double mass[TOP_SEGMENTS];
  for (int t = 0; t < T;) {
    if (!(score (m, v[t]) >= thr && score (m, v[t]) > 0)) {
      t++;
      continue;
    }
    /* a run of top samples, joined across short gaps */
    int end = t, gap = 0;
    double sum = 0.0;
    for (int u = t; u < T && gap <= merge; u++) {
      if (score (m, v[u]) >= thr) {
        end = u;
        gap = 0;
        sum += score (m, v[u]);
      } else {
        gap++;
      }
    }
    /* keep the TOP_SEGMENTS largest by total score */
    int slot = n < TOP_SEGMENTS ? n++ : -1;
    if (slot < 0) {
      int lo = 0;
      for (int j = 1; j < TOP_SEGMENTS; j++)
        if (mass[j] < mass[lo])
          lo = j;
      if (mass[lo] < sum)
        slot = lo;
    }
    if (slot >= 0) {
      mass[slot] = sum;
      spans[slot] = (PlotSpan){ (t - 0.5) / x_scale, (end + 0.5) / x_scale,
        plot_palette (4), 0.25 };
    }
    t = end + 1;
  }
  return n;
}

/* The colour scale of the heat strip: the 98th percentile of |v|, so a
 * few extreme samples do not wash out the rest (they saturate). */
static double
heat_scale (const float *v, int T)
{
  g_autofree double *m = g_new (double, T);
  for (int t = 0; t < T; t++)
    m[t] = fabsf (v[t]);
  qsort (m, T, sizeof (double), cmp_desc);
  return m[MIN (T - 1, (int) (0.02 * T))];
}

static gboolean
plot (const Explain *e, const SdAttribution *a, const guint *idx,
    const char *out, GError **error)
{
  const int n = MIN (a->n, EXPLAIN_MAX_PANELS), T = a->length;
  const char *const *labels = sd_model_get_labels (e->model);
  const double rate = e->data->sample_rate;
  const double x_scale = rate > 0 ? rate : 1.0;
  PlotPanel panels[EXPLAIN_MAX_PANELS];
  PlotLine lines[EXPLAIN_MAX_PANELS];
  PlotHeat heats[EXPLAIN_MAX_PANELS];
  PlotSpan spans[EXPLAIN_MAX_PANELS][TOP_SEGMENTS];
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++) {
    const float *v = a->values + (gsize) i * T;
    double sum = 0.0;
    for (int t = 0; t < T; t++)
      sum += v[t];
    lines[i] = (PlotLine){ NULL, e->data->x + (gsize) idx[i] * T, T, 0, 0,
      plot_palette (1), 1.5, 0 };
    heats[i] = (PlotHeat){ v, T, 0, 0, heat_scale (v, T),
      sd_attribution_method_to_string (a->method) };
    char *title = g_strdup_printf ("series %u%s%s: attribution to %s "
                                   "(logit %.3g)",
        idx[i], e->labelled ? ", label " : "",
        e->labelled ? e->data->labels[e->data->y[idx[i]]] : "",
        labels[a->target[i]], a->logit[i]);
    char *sub = isnan (a->baseline_logit[i])
                    ? g_strdup_printf ("%s, %s  ·  predicted %s  ·  shaded: "
                                       "top segments (%g %% of the samples)",
                        sd_attribution_method_to_string (a->method),
                        units_of (a->method), labels[a->predicted[i]],
                        100 * TOP_FRACTION)
                    : g_strdup_printf ("%s  ·  sum %.4g = logit %.4g - "
                                       "baseline logit %.4g (gap %.2g)  ·  "
                                       "predicted %s  ·  shaded: top "
                                       "segments (%g %% of the samples)",
                        sd_attribution_method_to_string (a->method), sum,
                        a->logit[i], a->baseline_logit[i],
                        sum - (a->logit[i] - a->baseline_logit[i]),
                        labels[a->predicted[i]], 100 * TOP_FRACTION);
    g_ptr_array_add (texts, title);
    g_ptr_array_add (texts, sub);
    panels[i] = (PlotPanel){ .title = title,
      .subtitle = sub,
      .y_label = "input (data units)",
      .sample_rate = rate,
      .lines = &lines[i],
      .n_lines = 1,
      .spans = spans[i],
      .n_spans = top_segments (a->method, v, T, x_scale, spans[i]),
      .heat = &heats[i] };
  }
  PlotSpec spec = { panels, n, NULL, 0, 0 };
  return plot_series (&spec, out, error);
}

/* ---- the command ---- */

static gboolean
load (const ExplainOptions *o, CliData *d, Explain *e, GError **error)
{
  SdSplitPart part = SD_SPLIT_ALL;
  if (o->part && !cli_parse_part (o->part, &part, error))
    return FALSE;
  e->model = sd_model_load (o->model_path, error);
  if (e->model == NULL)
    return FALSE;
  /* --wav FILE needs no label here: the JSON then has no "label" */
  e->labelled = cli_label_wavs (d);
  if (d->wav && d->window == 0)
    d->window = (int) sd_model_get_train_length (e->model);
  if (d->wav && d->hop == 0)
    d->hop = d->window;
  /* the class mean needs the data's labels to be the model's */
  const gboolean map = o->baseline && strcmp (o->baseline, "mean") == 0;
  e->data = cli_load_data (
      d, part, map ? sd_model_get_labels (e->model) : NULL, error);
  return e->data != NULL;
}

static gboolean
run (const ExplainOptions *o, Explain *e, GError **error)
{
  const SdDataset *ds = e->data;
  guint first = 0, count = ds->n;
  if (o->index >= 0) {
    if ((guint) o->index >= ds->n) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--index %d: the data have %u series (0..%u)", o->index, ds->n,
          ds->n - 1);
      return FALSE;
    }
    first = (guint) o->index;
    count = 1;
  } else if (o->limit > 0) {
    count = MIN (count, (guint) o->limit);
  }
  e->baseline = g_new0 (float, ds->length);
  if (!parse_config (o, e, error) || !parse_baseline (o, e, error))
    return FALSE;
  const int rows = e->cfg.method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS
                       ? e->cfg.steps + 1
                   : e->cfg.method == SD_ATTRIBUTION_SMOOTHGRAD ? e->cfg.samples
                                                                : EXPLAIN_CHUNK;
  e->at = sd_attributor_new (e->model,
      CLAMP (MIN (rows, 65536 / (int) ds->length), 1, 64), (int) ds->length,
      error);
  if (e->at == NULL)
    return FALSE;
  g_autofree guint *idx = g_new (guint, EXPLAIN_CHUNK);
  for (guint c0 = 0; c0 < count; c0 += EXPLAIN_CHUNK) {
    const int n = (int) MIN ((guint) EXPLAIN_CHUNK, count - c0);
    for (int i = 0; i < n; i++)
      idx[i] = first + c0 + i;
    g_autoptr (SdAttribution) a = attribute_chunk (e, idx, n, error);
    if (a == NULL)
      return FALSE;
    for (int i = 0; i < n; i++)
      write_line (e, a, i, idx[i]);
    if (c0 == 0 && o->plot_out && !plot (e, a, idx, o->plot_out, error))
      return FALSE;
  }
  return TRUE;
}

int
cli_cmd_explain (int argc, char **argv)
{
  g_auto (ExplainOptions) o = { 0 };
  g_auto (CliData) d = CLI_DATA_INIT;
  o.index = -1;
  o.noise = o.tolerance = NAN;
  GError *error = NULL;
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &o.model_path,
                                 "Model file (.safetensors or .onnx)", "FILE" },
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &d.ucr,
        "Series, UCR TSV/TXT (label first)", "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &d.wav,
        "Instead of --data: a mono recording, cut into windows "
        "(repeatable; =LABEL optional)",
        "FILE[=LABEL]" },
    { "window", 0, 0, G_OPTION_ARG_INT, &d.window,
        "Window for --wav (default the model's training length)", "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &d.hop,
        "Hop for --wav (default the window)", "N" },
    { "part", 0, 0, G_OPTION_ARG_STRING, &o.part,
        "With --wav: all (default), train or test windows", "PART" },
    { "train-fraction", 0, 0, G_OPTION_ARG_DOUBLE, &d.train_fraction,
        "Split point of every recording for --part (0.7)", "F" },
    { "method", 0, 0, G_OPTION_ARG_STRING, &o.method,
        "saliency, gradxinput, ig (default) or smoothgrad", "M" },
    { "class", 'c', 0, G_OPTION_ARG_STRING, &o.class_label,
        "Attribute to this class (default: the predicted one)", "LABEL" },
    { "baseline", 0, 0, G_OPTION_ARG_STRING, &o.baseline,
        "IG / gradxinput start: zeros (default), mean (of the class, from "
        "the data) or a UCR FILE (its first series)",
        "B" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &o.steps,
        "IG: intervals (32), refined where needed", "N" },
    { "max-steps", 0, 0, G_OPTION_ARG_INT, &o.max_steps,
        "IG: at most this many intervals after refinement (512)", "N" },
    { "tolerance", 0, 0, G_OPTION_ARG_DOUBLE, &o.tolerance,
        "IG: refine until |sum - logit gap| <= this fraction of the gap "
        "(0.01; 0 = no refinement)",
        "F" },
    { "rule", 0, 0, G_OPTION_ARG_STRING, &o.rule,
        "IG: trapezoid (default) or gauss-legendre", "R" },
    { "samples", 0, 0, G_OPTION_ARG_INT, &o.samples,
        "SmoothGrad: noisy copies (32)", "N" },
    { "noise", 0, 0, G_OPTION_ARG_DOUBLE, &o.noise,
        "SmoothGrad: noise sd as a fraction of the series' range (0.15)", "F" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &o.seed, "SmoothGrad: seed (0)", "S" },
    { "index", 'i', 0, G_OPTION_ARG_INT, &o.index, "Only series I", "I" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &o.limit, "Only the first N series",
        "N" },
    { "json", 'o', 0, G_OPTION_ARG_FILENAME, &o.json_out,
        "JSON lines to FILE (- for stdout)", "FILE" },
    { "plot", 'p', 0, G_OPTION_ARG_FILENAME, &o.plot_out,
        "Plot of the first series (up to 6) to FILE.png or .svg", "FILE" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o.threads, "OpenBLAS threads",
        "N" },
    { NULL } };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- which samples made the decision");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (o.model_path == NULL || (d.ucr == NULL && d.wav == NULL)
      || o.json_out == NULL) {
    fprintf (stderr, "seqdream explain: --model, --data (or --wav) and "
                     "--json are required\n");
    return 2;
  }
  if (o.plot_out && !plot_check_path (o.plot_out, &error))
    return cli_fail (error);
  cli_set_threads (o.threads);
  Explain e = { 0 };
  gboolean ok = load (&o, &d, &e, &error);
  if (ok) {
    const gboolean to_stdout = strcmp (o.json_out, "-") == 0;
    e.json = to_stdout ? stdout : fopen (o.json_out, "w");
    if (e.json == NULL) {
      g_set_error (&error, SD_ERROR, SD_ERROR_IO, "cannot write %s: %s",
          o.json_out, g_strerror (errno));
      ok = FALSE;
    } else {
      ok = run (&o, &e, &error);
      if (!to_stdout && fclose (e.json) != 0 && ok) {
        g_set_error (&error, SD_ERROR, SD_ERROR_IO, "cannot write %s: %s",
            o.json_out, g_strerror (errno));
        ok = FALSE;
      }
    }
  }
  g_clear_pointer (&e.at, sd_attributor_free);
  g_clear_pointer (&e.data, sd_dataset_free);
  g_clear_pointer (&e.model, sd_model_unref);
  g_free (e.baseline);
  return ok ? 0 : cli_fail (error);
}
