/* seqdream plot: dreams against their class's real series, or how the
 * dreams converged, as PNG or SVG.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plot.h"
#include "seqdream-cli.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The metrics shown in the subtitle, in this order, when present. */
static const struct
{
  const char *key;
  const char *name;
  int decimals;
} known_metrics[] = {
  { "nn_euclidean_ratio", "NN ratio", 2 },
  { "nn_dtw_ratio", "DTW-NN ratio", 2 },
  { "spectral_distance", "spectral distance", 2 },
  { "tv_ratio", "TV ratio", 2 },
  { "hf_ratio", "HF ratio", 2 },
  { "second_probability", "second model p", 3 },
};

#define N_METRICS G_N_ELEMENTS (known_metrics)

typedef struct
{
  char *source;     /* "FILE" or "FILE, dream N", for messages */
  GArray *sequence; /* float */
  char *label;      /* class label, may be NULL */
  int class_index;  /* -1 when missing */
  char *mode;
  char *normalization;                     /* may be NULL */
  double probability, margin, sample_rate; /* NAN when missing */
  int steps;                               /* -1 when missing */
  double metrics[N_METRICS];               /* NAN when missing */
  gboolean has_trace;
  GArray *objective, *trace_p; /* float; may be empty */
  GPtrArray *reg_names;        /* char * */
  GPtrArray *reg_values;       /* GArray of float */
} Dream;

static void
dream_free (gpointer data)
{
  Dream *d = data;
  g_free (d->source);
  g_array_unref (d->sequence);
  g_free (d->label);
  g_free (d->mode);
  g_free (d->normalization);
  g_array_unref (d->objective);
  g_array_unref (d->trace_p);
  g_ptr_array_unref (d->reg_names);
  g_ptr_array_unref (d->reg_values);
  g_free (d);
}

static Dream *
dream_new (void)
{
  Dream *d = g_new0 (Dream, 1);
  d->sequence = g_array_new (FALSE, FALSE, sizeof (float));
  d->objective = g_array_new (FALSE, FALSE, sizeof (float));
  d->trace_p = g_array_new (FALSE, FALSE, sizeof (float));
  d->reg_names = g_ptr_array_new_with_free_func (g_free);
  d->reg_values
      = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  d->class_index = -1;
  d->steps = -1;
  d->probability = d->margin = d->sample_rate = NAN;
  for (guint i = 0; i < N_METRICS; i++)
    d->metrics[i] = NAN;
  return d;
}

/* ---- reading the JSON ---- */

static gboolean
node_is_number (JsonNode *n)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

/* A numeric member; NAN when missing, null or not a number. */
static double
get_number (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  return node_is_number (n) ? json_node_get_double (n) : NAN;
}

static char *
get_string (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n && JSON_NODE_HOLDS_VALUE (n)
      && json_node_get_value_type (n) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (n));
  return NULL;
}

/* An array of numbers into out; null elements become NaN when allow_null. */
static gboolean
read_numbers (JsonNode *node, GArray *out, gboolean allow_null,
    const char *source, const char *what, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: \"%s\" must be an array of numbers", source, what);
    return FALSE;
  }
  JsonArray *a = json_node_get_array (node);
  guint n = json_array_get_length (a);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (a, i);
    float v;
    if (node_is_number (e))
      v = json_node_get_double (e);
    else if (allow_null && JSON_NODE_HOLDS_NULL (e))
      v = NAN;
    else {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "%s: \"%s\"[%u] is not a number", source, what, i);
      return FALSE;
    }
    g_array_append_val (out, v);
  }
  return TRUE;
}

static gboolean
read_trace (JsonObject *t, Dream *d, GError **error)
{
  JsonNode *n;
  if ((n = json_object_get_member (t, "objective")) && !JSON_NODE_HOLDS_NULL (n)
      && !read_numbers (
          n, d->objective, TRUE, d->source, "trace.objective", error))
    return FALSE;
  if ((n = json_object_get_member (t, "probability"))
      && !JSON_NODE_HOLDS_NULL (n)
      && !read_numbers (
          n, d->trace_p, TRUE, d->source, "trace.probability", error))
    return FALSE;
  n = json_object_get_member (t, "regularizers");
  if (n && JSON_NODE_HOLDS_OBJECT (n)) {
    JsonObject *r = json_node_get_object (n);
    g_autoptr (GList) names = json_object_get_members (r);
    for (GList *l = names; l; l = l->next) {
      g_autofree char *what
          = g_strdup_printf ("trace.regularizers.%s", (const char *) l->data);
      GArray *v = g_array_new (FALSE, FALSE, sizeof (float));
      g_ptr_array_add (d->reg_values, v);
      g_ptr_array_add (d->reg_names, g_strdup (l->data));
      if (!read_numbers (json_object_get_member (r, l->data), v, TRUE,
              d->source, what, error))
        return FALSE;
    }
  }
  d->has_trace = d->objective->len > 0 || d->trace_p->len > 0;
  return TRUE;
}

static Dream *
read_dream (JsonNode *node, const char *source, GError **error)
{
  g_autoptr (GPtrArray) hold = g_ptr_array_new_with_free_func (dream_free);
  Dream *d = dream_new ();
  g_ptr_array_add (hold, d);
  d->source = g_strdup (source);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: a dream must be a JSON object", source);
    return NULL;
  }
  JsonObject *o = json_node_get_object (node);
  if (!json_object_has_member (o, "sequence")) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: no \"sequence\" (not a dream written by seqdream dream?)", source);
    return NULL;
  }
  if (!read_numbers (json_object_get_member (o, "sequence"), d->sequence, FALSE,
          source, "sequence", error))
    return NULL;
  if (d->sequence->len < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: \"sequence\" has %u values, at least 2 are needed", source,
        d->sequence->len);
    return NULL;
  }
  d->label = get_string (o, "class");
  double ci = get_number (o, "class_index");
  if (isfinite (ci) && ci >= 0 && ci < G_MAXINT)
    d->class_index = (int) ci;
  if (d->label == NULL && d->class_index >= 0)
    d->label = g_strdup_printf ("%d", d->class_index);
  d->mode = get_string (o, "mode");
  d->probability = get_number (o, "probability");
  d->margin = get_number (o, "logit_margin");
  double steps = get_number (o, "steps");
  if (isfinite (steps) && steps >= 0 && steps < G_MAXINT)
    d->steps = (int) steps;
  d->sample_rate = get_number (o, "sample_rate");
  d->normalization = get_string (o, "normalization");
  JsonNode *n = json_object_get_member (o, "normalization");
  if (d->normalization == NULL && n && JSON_NODE_HOLDS_OBJECT (n))
    d->normalization = get_string (json_node_get_object (n), "mode");
  n = json_object_get_member (o, "metrics");
  if (n && JSON_NODE_HOLDS_OBJECT (n))
    for (guint i = 0; i < N_METRICS; i++)
      d->metrics[i]
          = get_number (json_node_get_object (n), known_metrics[i].key);
  n = json_object_get_member (o, "trace");
  if (n && JSON_NODE_HOLDS_OBJECT (n)
      && !read_trace (json_node_get_object (n), d, error))
    return NULL;
  return g_ptr_array_steal_index (hold, 0);
}

static gboolean dreams_from_node (
    JsonNode *root, const char *path, GPtrArray *dreams, GError **error);

/* Appends the dreams of one file. */
static gboolean
load_dreams (const char *path, GPtrArray *dreams, GError **error)
{
  g_autofree char *buf = NULL;
  gsize len;
  GError *e = NULL;
  if (!g_file_get_contents (path, &buf, &len, &e)) {
    /* GLib's message names the path and the reason. */
    g_set_error_literal (error, SD_ERROR, SD_ERROR_IO, e->message);
    g_error_free (e);
    return FALSE;
  }
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, buf, len, &e)) {
    /* json-glib says "<data>:LINE:COLUMN: Parse error: ...". */
    const char *msg = e->message;
    if (g_str_has_prefix (msg, "<data>:"))
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s:%s", path, msg + 7);
    else
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: not valid JSON: %s",
          path, msg);
    g_error_free (e);
    return FALSE;
  }
  return dreams_from_node (json_parser_get_root (parser), path, dreams, error);
}

/* Appends the dreams of a JSON document: one object, {"dreams": [...]} or
 * an array of objects; path names it in messages. */
static gboolean
dreams_from_node (
    JsonNode *root, const char *path, GPtrArray *dreams, GError **error)
{
  JsonArray *list;
  if (!cli_dream_list (root, path, &list, error))
    return FALSE;
  if (list == NULL) {
    Dream *d = read_dream (root, path, error);
    if (d == NULL)
      return FALSE;
    g_ptr_array_add (dreams, d);
    return TRUE;
  }
  guint n = json_array_get_length (list);
  if (n == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: no dreams", path);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    g_autofree char *src = g_strdup_printf ("%s, dream %u", path, i + 1);
    Dream *d = read_dream (json_array_get_element (list, i), src, error);
    if (d == NULL)
      return FALSE;
    g_ptr_array_add (dreams, d);
  }
  return TRUE;
}

/* ---- text ---- */

/* A probability with enough decimals not to round to exactly 0 or 1. */
static void
append_probability (GString *s, double p)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  for (int dec = 3; dec <= 6; dec++) {
    char fmt[8];
    g_snprintf (fmt, sizeof fmt, "%%.%df", dec);
    g_ascii_formatd (buf, sizeof buf, fmt, p);
    double back = g_ascii_strtod (buf, NULL);
    if (!((back >= 1 && p < 1) || (back <= 0 && p > 0)))
      break;
  }
  g_string_append (s, buf);
}

static void
append_number (GString *s, double v, int decimals)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE], fmt[8];
  g_snprintf (fmt, sizeof fmt, "%%.%df", decimals);
  g_ascii_formatd (buf, sizeof buf, fmt, v);
  if (buf[0] == '-')
    g_string_append_printf (s, "\u2212%s", buf + 1);
  else
    g_string_append (s, buf);
}

static void
separate (GString *s)
{
  if (s->len > 0)
    g_string_append (s, "  \u00b7  ");
}

static char *
dream_subtitle (const Dream *d, const char *note)
{
  GString *s = g_string_new (NULL);
  if (isfinite (d->probability)) {
    g_string_append (s, "p = ");
    append_probability (s, d->probability);
  }
  if (isfinite (d->margin)) {
    separate (s);
    g_string_append (s, "margin ");
    append_number (s, d->margin, 1);
  }
  if (d->steps >= 0) {
    separate (s);
    g_string_append_printf (s, "%d step%s", d->steps, d->steps == 1 ? "" : "s");
  }
  for (guint i = 0; i < N_METRICS; i++)
    if (isfinite (d->metrics[i])) {
      separate (s);
      g_string_append_printf (s, "%s ", known_metrics[i].name);
      append_number (s, d->metrics[i], known_metrics[i].decimals);
    }
  if (note) {
    separate (s);
    g_string_append (s, note);
  }
  return g_string_free (s, FALSE);
}

static char *
dream_title (const Dream *d)
{
  return g_strdup_printf ("%s%sdream of class %s", d->mode ? d->mode : "",
      d->mode ? " " : "", d->label ? d->label : "?");
}

static const char *
amplitude_label (const char *normalization, const SdModel *model)
{
  SdNormMode mode;
  gboolean known = FALSE;
  if (normalization)
    known = sd_norm_mode_from_string (normalization, &mode);
  if (!known && model) {
    mode = sd_model_get_normalization (model).mode;
    known = TRUE;
  }
  if (!known)
    return "normalised amplitude";
  switch (mode) {
    case SD_NORM_PER_SERIES:
      return "normalised amplitude (z)";
    case SD_NORM_FIXED:
      return "normalised amplitude";
    case SD_NORM_NONE:
      return "amplitude";
  }
  return "normalised amplitude";
}

/* ---- reference band ---- */

typedef struct
{
  SdDataset *data;
  float *x; /* normalised copy of data->x */
  /* per class, computed on demand */
  float **mean, **sd;
  guint *count;
} Reference;

static void
reference_clear (Reference *r)
{
  if (r->data) {
    for (guint k = 0; k < r->data->n_classes; k++) {
      g_free (r->mean[k]);
      g_free (r->sd[k]);
    }
    sd_dataset_free (r->data);
  }
  g_free (r->mean);
  g_free (r->sd);
  g_free (r->count);
  g_free (r->x);
}

static gboolean
reference_load (Reference *r, const char *path, SdModel *model, GError **error)
{
  r->data = sd_dataset_load_ucr (path, sd_model_get_labels (model), error);
  if (r->data == NULL)
    return FALSE;
  guint n = r->data->n, T = r->data->length;
  r->x = g_memdup2 (r->data->x, sizeof (float) * n * T);
  sd_model_normalize_input (model, r->x, n, T);
  r->mean = g_new0 (float *, r->data->n_classes);
  r->sd = g_new0 (float *, r->data->n_classes);
  r->count = g_new0 (guint, r->data->n_classes);
  return TRUE;
}

/* Mean and sd of class k over time (population sd); FALSE when the data
 * has no series of it. */
static gboolean
reference_class (Reference *r, int k)
{
  guint T = r->data->length;
  if (r->mean[k])
    return r->count[k] > 0;
  r->mean[k] = g_new0 (float, T);
  r->sd[k] = g_new0 (float, T);
  g_autofree double *sum = g_new0 (double, T);
  g_autofree double *sum2 = g_new0 (double, T);
  guint c = 0;
  for (guint i = 0; i < r->data->n; i++) {
    if (r->data->y[i] != k)
      continue;
    const float *row = r->x + (gsize) i * T;
    for (guint t = 0; t < T; t++) {
      sum[t] += row[t];
      sum2[t] += (double) row[t] * row[t];
    }
    c++;
  }
  r->count[k] = c;
  for (guint t = 0; t < T && c > 0; t++) {
    double m = sum[t] / c;
    r->mean[k][t] = m;
    r->sd[k][t] = sqrt (MAX (0.0, sum2[t] / c - m * m));
  }
  return c > 0;
}

/* ---- the subcommand ---- */

static gboolean
draw_traces (GPtrArray *dreams, const char *out, const char *title, int width,
    int height, GError **error)
{
  guint n = dreams->len;
  g_autofree PlotTrace *traces = g_new0 (PlotTrace, n);
  g_autoptr (GPtrArray) hold = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++) {
    const Dream *d = g_ptr_array_index (dreams, i);
    if (!d->has_trace) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "%s: no \"trace\" with \"objective\" or \"probability\" to plot",
          d->source);
      return FALSE;
    }
    char *label = n == 1 ? dream_title (d)
                         : g_strdup_printf ("#%u %s, class %s", i + 1,
                             d->mode ? d->mode : "", d->label ? d->label : "?");
    g_ptr_array_add (hold, label);
    PlotRegTrace *regs = g_new0 (PlotRegTrace, MAX (d->reg_names->len, 1));
    g_ptr_array_add (hold, regs);
    for (guint j = 0; j < d->reg_names->len; j++) {
      GArray *v = g_ptr_array_index (d->reg_values, j);
      regs[j] = (PlotRegTrace){ g_ptr_array_index (d->reg_names, j),
        (const float *) v->data, v->len };
    }
    traces[i] = (PlotTrace){ label, (const float *) d->objective->data,
      d->objective->len, (const float *) d->trace_p->data, d->trace_p->len,
      regs, d->reg_names->len };
  }
  PlotTraceSpec spec = { traces, n, title, width, height };
  return plot_traces (&spec, out, error);
}

/* One panel per dream; with ref_path (model required) the class mean
 * +/- 1 sd of the dream's class behind it. */
static gboolean
draw_sequences (GPtrArray *dreams, const char *out, const char *ref_path,
    SdModel *model, const char *title, int width, int height, GError **error)
{
  Reference ref = { 0 };
  if (ref_path && !reference_load (&ref, ref_path, model, error)) {
    reference_clear (&ref);
    return FALSE;
  }

  guint n = dreams->len;
  g_autofree PlotPanel *panels = g_new0 (PlotPanel, n);
  g_autofree PlotLine *lines = g_new0 (PlotLine, n);
  g_autofree PlotBand *bands = g_new0 (PlotBand, n);
  g_autoptr (GPtrArray) hold = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++) {
    const Dream *d = g_ptr_array_index (dreams, i);
    PlotPanel *p = &panels[i];
    g_autofree char *note = NULL;
    p->title = (n == 1 && title) ? g_strdup (title) : dream_title (d);
    g_ptr_array_add (hold, (char *) p->title);
    p->y_label = amplitude_label (d->normalization, model);
    p->sample_rate = isfinite (d->sample_rate) && d->sample_rate > 0
                         ? d->sample_rate
                     : model ? sd_model_get_sample_rate (model)
                             : 0;
    lines[i] = (PlotLine){ "dream", (const float *) d->sequence->data,
      d->sequence->len, 0, 1, plot_palette (0), 2.2, 0 };
    p->lines = &lines[i];
    p->n_lines = 1;
    if (ref.data) {
      int k = -1;
      if (d->label)
        k = sd_model_find_label (model, d->label);
      else if (d->class_index < sd_model_get_n_classes (model))
        k = d->class_index;
      if (k < 0)
        note = g_strdup_printf (
            "no reference band: class '%s' is not one of the model's",
            d->label ? d->label : "?");
      else if (ref.data->length != d->sequence->len)
        note = g_strdup_printf (
            "no reference band: dream length %u \u2260 reference length %u",
            d->sequence->len, ref.data->length);
      else if (!reference_class (&ref, k))
        note = g_strdup_printf ("no reference band: no series of class '%s'",
            sd_model_get_labels (model)[k]);
      else {
        bands[i] = (PlotBand){ ref.mean[k], ref.sd[k], (int) ref.data->length,
          ref.count[k], NULL };
        p->band = &bands[i];
      }
    }
    p->subtitle = dream_subtitle (d, note);
    g_ptr_array_add (hold, (char *) p->subtitle);
  }
  PlotSpec spec = { panels, n, n > 1 ? title : NULL, width, height };
  gboolean ok = plot_series (&spec, out, error);
  reference_clear (&ref);
  return ok;
}

gboolean
cli_plot_dream_json (JsonNode *root, const char *out, const char *reference,
    SdModel *model, gboolean trace, GError **error)
{
  if (!plot_check_path (out, error))
    return FALSE;
  if (reference != NULL && model == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "plotting against '%s' needs the model", reference);
    return FALSE;
  }
  g_autoptr (GPtrArray) dreams = g_ptr_array_new_with_free_func (dream_free);
  if (!dreams_from_node (root, "dream JSON", dreams, error))
    return FALSE;
  if (trace)
    return draw_traces (dreams, out, NULL, 0, 0, error);
  return draw_sequences (dreams, out, reference, model, NULL, 0, 0, error);
}

int
cli_cmd_plot (int argc, char **argv)
{
  g_auto (GStrv) inputs = NULL;
  g_autofree char *out = NULL, *ref_path = NULL, *model_path = NULL;
  g_autofree char *title = NULL;
  gboolean trace = FALSE;
  int width = 0, height = 0;
  GError *error = NULL;
  GOptionEntry entries[] = {
    { "input", 'i', 0, G_OPTION_ARG_FILENAME_ARRAY, &inputs,
        "Dream JSON written by 'seqdream dream' (repeatable)", "FILE" },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
        "Image to write: .png or .svg", "FILE" },
    { "reference", 'r', 0, G_OPTION_ARG_FILENAME, &ref_path,
        "Real series (UCR TSV/TXT): draw the class mean \u00b1 1 sd behind "
        "each dream (needs --model)",
        "FILE" },
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
        "The dreams' model (.safetensors): labels, normalisation, sample "
        "rate",
        "FILE" },
    { "trace", 't', 0, G_OPTION_ARG_NONE, &trace,
        "Plot the convergence (objective, probability, regularisers per "
        "step) instead of the sequences",
        NULL },
    { "width", 0, 0, G_OPTION_ARG_INT, &width,
        "Image width in px (default 1000)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &height,
        "Image height in px (default 420 per dream, 340 per trace panel)",
        "H" },
    { "title", 0, 0, G_OPTION_ARG_STRING, &title,
        "Title (of the only panel, else above all of them)", "T" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- draw dreams or their convergence");
  g_option_context_set_summary (ctx,
      "One panel per dream: the sequence in the model's normalised input "
      "space,\nwith p, logit margin, steps and realism metrics in the "
      "subtitle; with\n--reference and --model, the dream's class mean "
      "\u00b1 1 sd behind it.\nInput: one dream object or {\"dreams\": "
      "[...]} as written by 'seqdream dream'.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (inputs == NULL || inputs[0] == NULL || out == NULL) {
    fprintf (stderr, "seqdream plot: --input and --out are required\n");
    return 2;
  }
  if (ref_path != NULL && model_path == NULL) {
    fprintf (stderr, "seqdream plot: --reference needs --model (its labels "
                     "and normalisation)\n");
    return 2;
  }
  if (width < 0 || height < 0) {
    fprintf (stderr, "seqdream plot: --width and --height must be "
                     "positive\n");
    return 2;
  }
  if (!plot_check_path (out, &error))
    return cli_fail (error);

  g_autoptr (GPtrArray) dreams = g_ptr_array_new_with_free_func (dream_free);
  for (int i = 0; inputs[i]; i++)
    if (!load_dreams (inputs[i], dreams, &error))
      return cli_fail (error);
  g_autoptr (SdModel) model = NULL;
  if (model_path && !trace) {
    model = sd_model_load (model_path, &error);
    if (model == NULL)
      return cli_fail (error);
  }
  if (!(trace ? draw_traces (dreams, out, title, width, height, &error)
              : draw_sequences (
                  dreams, out, ref_path, model, title, width, height, &error)))
    return cli_fail (error);
  return 0;
}
