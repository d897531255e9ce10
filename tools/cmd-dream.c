/* seqdream dream: Sequence Dreaming from the command line.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char *model_path, *class_label, *mode, *other, *init, *reference;
  char *second_path, *json_out, *csv_out, *plot_out, *optimizer, *preset;
  char *clip, *scale, *objective, *ensemble_rule;
  char **regs;
  char **reference_wav; /* FILE=LABEL recordings as reference data */
  int steps, batch, length, threads, jitter;
  gint64 seed;
  double lr, lr_decay, grad_clip, stop_probability, border_tolerance;
  double stop_margin_quantile;    /* < 0: the preset's */
  double margin_ceiling_quantile; /* < 0: the preset's */
  double diversity, l1, l2, tv, tv2, exp_smooth, exp_smooth_zp, gaussian;
  double norm_bound;
  gboolean filter_gradient, no_keep_best, quiet;
} DreamOptions;

static void
dream_options_clear (DreamOptions *o)
{
  char **strs[] = { &o->model_path, &o->class_label, &o->mode, &o->other,
    &o->init, &o->reference, &o->second_path, &o->json_out, &o->csv_out,
    &o->plot_out, &o->optimizer, &o->preset, &o->clip, &o->scale, &o->objective,
    &o->ensemble_rule };
  for (gsize i = 0; i < G_N_ELEMENTS (strs); i++)
    g_clear_pointer (strs[i], g_free);
  g_clear_pointer (&o->regs, g_strfreev);
  g_clear_pointer (&o->reference_wav, g_strfreev);
}

static gboolean
has_reference (const DreamOptions *o)
{
  return o->reference != NULL || o->reference_wav != NULL;
}

/* The reference data: --reference (UCR series) or --reference-wav
 * recordings, cut into windows of the model's training length (every
 * half window, the whole recording). */
static SdDataset *
load_reference (const DreamOptions *o, SdModel *model, GError **error)
{
  CliData d = CLI_DATA_INIT;
  d.ucr = o->reference;
  d.wav = o->reference_wav;
  d.window = (int) sd_model_get_train_length (model);
  if (o->length > 0)
    d.window = o->length;
  d.hop = MAX (d.window / 2, 1);
  return cli_load_data (&d, SD_SPLIT_ALL, sd_model_get_labels (model), error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DreamOptions, dream_options_clear)

static gboolean
parse_range (
    const char *s, const char *what, float *lo, float *hi, GError **error)
{
  char *end = NULL;
  double a = g_ascii_strtod (s, &end);
  if (end == s || *end != ':')
    goto bad;
  const char *s2 = end + 1;
  double b = g_ascii_strtod (s2, &end);
  if (end == s2 || *end != '\0' || !isfinite (a) || !isfinite (b) || !(a < b))
    goto bad;
  *lo = (float) a;
  *hi = (float) b;
  return TRUE;
bad:
  g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
      "%s '%s' must be LO:HI with LO < HI", what, s);
  return FALSE;
}

static gboolean
add_reg (SdDreamConfig *c, SdRegularizer r, GError **error)
{
  if (!sd_dream_config_add (c, r)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "too many regularizers (at most %d)", SD_DREAM_MAX_REGS);
    return FALSE;
  }
  return TRUE;
}

/* The preset: --preset, else realistic (the model's own training
 * statistics, or --reference, give its targets), else none with a note:
 * without either there is nothing to keep a dream realistic, and the
 * paper's unregularised ascent is what remains. Explicit regularisers
 * without --preset mean exactly those (none). */
static const char *
dream_preset (const DreamOptions *o, SdModel *model)
{
  static gboolean noted;
  const gboolean explicit_regs
      = (o->regs != NULL && o->regs[0] != NULL) || o->l1 != 0 || o->l2 != 0
        || o->tv != 0 || o->tv2 != 0 || o->exp_smooth != 0
        || o->exp_smooth_zp != 0 || o->gaussian != 0 || o->norm_bound != 0
        || o->jitter != 0 || o->clip || o->scale;
  if (o->preset != NULL)
    return o->preset;
  if (explicit_regs)
    return "none";
  if (sd_model_get_stats (model) != NULL || has_reference (o))
    return "realistic";
  if (!noted)
    fprintf (stderr,
        "seqdream dream: note: %s has no training statistics and no "
        "--reference is given: dreaming without a prior (--preset none, "
        "the paper's ascent; 'seqdream calibrate' adds them)\n",
        o->model_path);
  noted = TRUE;
  return "none";
}

static gboolean
build_config (
    const DreamOptions *o, SdModel *model, SdDreamConfig *c, GError **error)
{
  sd_dream_config_init (c, model);
  /* The preset first: explicit options override it. */
  if (!sd_dream_config_apply_preset (c, dream_preset (o, model), model, error))
    return FALSE;
  /* --init noise asks for the noise itself, not the preset's draw of the
   * class's spectrum (prior_start); --init prior for that draw */
  if (o->init != NULL)
    c->prior_start = strcmp (o->init, "prior") == 0;
  if (o->length > 0)
    c->length = o->length;
  if (c->length <= 0) {
    /* an imported model with a dynamic time axis records none */
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s records no training length: give the dream's --length",
        sd_model_get_display_name (model));
    return FALSE;
  }
  if (o->steps != 0)
    c->steps = o->steps;
  if (o->lr != 0)
    c->lr = (float) o->lr;
  if (o->lr_decay != 0)
    c->lr_decay = (float) o->lr_decay;
  if (o->grad_clip != 0)
    c->grad_clip = (float) o->grad_clip;
  if (o->stop_probability != 0)
    c->stop_probability = (float) o->stop_probability;
  if (o->border_tolerance != 0)
    c->border_tolerance = (float) o->border_tolerance;
  if (o->stop_margin_quantile >= 0)
    c->stop_margin_quantile = (float) o->stop_margin_quantile;
  if (o->margin_ceiling_quantile >= 0)
    c->margin_ceiling_quantile = (float) o->margin_ceiling_quantile;
  c->diversity = (float) o->diversity;
  if (o->no_keep_best)
    c->keep_best = FALSE;
  if (o->optimizer) {
    if (strcmp (o->optimizer, "adam") == 0)
      c->optimizer = SD_DREAM_OPT_ADAM;
    else if (strcmp (o->optimizer, "sgd") == 0)
      c->optimizer = SD_DREAM_OPT_SGD;
    else if (strcmp (o->optimizer, "normalized") == 0)
      c->optimizer = SD_DREAM_OPT_NORMALIZED;
    else {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "unknown optimizer '%s' (adam, sgd, normalized)", o->optimizer);
      return FALSE;
    }
  }

  SdApplyTo apply = o->filter_gradient ? SD_APPLY_GRADIENT : SD_APPLY_SEQUENCE;
  struct
  {
    double v;
    SdRegType type;
    gboolean is_weight;
  } simple[] = {
    { o->l1, SD_REG_L1, TRUE },
    { o->l2, SD_REG_L2, TRUE },
    { o->tv, SD_REG_TV, TRUE },
    { o->tv2, SD_REG_TV2, TRUE },
    { o->exp_smooth, SD_REG_EXP_SMOOTH, FALSE },
    { o->exp_smooth_zp, SD_REG_EXP_SMOOTH_ZEROPHASE, FALSE },
    { o->gaussian, SD_REG_GAUSSIAN, FALSE },
    { o->norm_bound, SD_REG_NORM_BOUND, FALSE },
    { o->jitter, SD_REG_JITTER, FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (simple); i++) {
    if (simple[i].v == 0)
      continue;
    SdRegularizer r = sd_regularizer_default (simple[i].type);
    if (simple[i].is_weight)
      r.weight = (float) simple[i].v;
    else
      r.param = (float) simple[i].v;
    r.apply_to = apply;
    if (!add_reg (c, r, error))
      return FALSE;
  }
  if (o->clip) {
    SdRegularizer r = sd_regularizer_default (SD_REG_CLIP);
    if (strcmp (o->clip, "auto") != 0
        && !parse_range (o->clip, "--clip", &r.param, &r.param2, error))
      return FALSE;
    if (!add_reg (c, r, error))
      return FALSE;
  }
  if (o->scale) {
    SdRegularizer r = sd_regularizer_default (SD_REG_SCALE);
    if (!parse_range (o->scale, "--scale", &r.param, &r.param2, error)
        || !add_reg (c, r, error))
      return FALSE;
  }
  for (int i = 0; o->regs && o->regs[i]; i++) {
    SdRegularizer r;
    if (!sd_regularizer_parse (o->regs[i], model, &r, error)
        || !add_reg (c, r, error))
      return FALSE;
  }
  gboolean spectra = FALSE;
  for (int k = 0; k < c->n_regs; k++)
    spectra |= c->regs[k].type == SD_REG_SPECTRUM
               || c->regs[k].type == SD_REG_SPECTRAL_FILTER
               || c->regs[k].type == SD_REG_SPECTRAL_PROJECT;
  if (c->prior_start && !spectra) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--init prior draws from the class spectra of a spectral "
        "regulariser and these settings have none (use the realistic "
        "preset, or add spectral-filter or spectral-project)");
    return FALSE;
  }
  return TRUE;
}

/* The spectrum, spectral-filter and feature regularisers take the class
 * mean spectra / pooled features of the --reference data (the training
 * series), at the dream length, or of the model's training statistics;
 * the realistic stop takes the statistics' margins. */
static gboolean
attach_reference (const DreamOptions *o, SdModel *model, SdDreamConfig *c,
    float **spectra, float **features, float **margins, GError **error)
{
  if (!has_reference (o) && sd_model_get_stats (model) == NULL
      && sd_dream_config_needs_reference (c)) {
    const gboolean preset = o->preset && strcmp (o->preset, "none") != 0;
    g_autofree char *who
        = preset ? g_strdup_printf ("--preset %s", o->preset)
                 : g_strdup ("the spectrum, spectral-filter and feature "
                             "regularizers");
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%s need%s --reference (real training series of the classes: their "
        "mean spectra or features are the target)",
        who, preset ? "s" : "");
    return FALSE;
  }
  g_autoptr (SdDataset) ds = NULL;
  if (has_reference (o)) {
    ds = load_reference (o, model, error);
    if (ds == NULL)
      return FALSE;
  }
  gboolean dropped = FALSE;
  if (!sd_dream_config_attach_targets (
          c, model, ds, spectra, features, margins, &dropped, error))
    return FALSE;
  if (dropped)
    fprintf (stderr,
        "seqdream dream: note: %s has no training statistics: the dream "
        "stops without the typical margin and features of real series "
        "('seqdream calibrate' adds them)\n",
        o->model_path);
  return TRUE;
}

/* --init sample:FILE[:LABEL]: dream i starts from a real series of class
 * LABEL (default: the dreamed class) of FILE, drawn with seed + i, so a
 * batch starts from different real series. Returns (n, T), normalised. */
static float *
sample_inits (const char *spec, SdModel *model, int length, int cls, int n,
    guint64 seed, int *rows, GError **error)
{
  const char *rest = spec + strlen ("sample:");
  const char *colon = strrchr (rest, ':');
  g_autofree char *path = NULL;
  int want = cls;
  if (colon != NULL && sd_model_find_label (model, colon + 1) >= 0) {
    path = g_strndup (rest, colon - rest);
    want = sd_model_find_label (model, colon + 1);
  } else {
    path = g_strdup (rest);
  }
  g_autoptr (SdDataset) ds
      = sd_dataset_load_ucr (path, sd_model_get_labels (model), error);
  if (ds == NULL)
    return NULL;
  if ((int) ds->length != length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--init: series of %s have %u samples but the dream length is %d", path,
        ds->length, length);
    return NULL;
  }
  g_autoptr (GArray) of_class = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint r = 0; r < ds->n; r++)
    if (ds->y[r] == want)
      g_array_append_val (of_class, r);
  if (of_class->len == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--init: %s has no series of class '%s'", path,
        sd_model_get_labels (model)[want]);
    return NULL;
  }
  float *x = g_new (float, (gsize) n *length);
  for (int i = 0; i < n; i++) {
    g_autoptr (GRand) rng = g_rand_new_with_seed ((guint32) (seed + i));
    guint r = g_array_index (
        of_class, guint, g_rand_int_range (rng, 0, (gint32) of_class->len));
    rows[i] = (int) r;
    memcpy (x + (gsize) i * length, ds->x + (gsize) r * length,
        length * sizeof (float));
  }
  sd_model_normalize_input (model, x, n, length);
  return x;
}

/* --init noise|uniform|zeros|constant:V|series:FILE:ROW (ROW 0-based). */
static gboolean
parse_init (const char *s, SdModel *model, int length, SdInit *init,
    float **series_out, GError **error)
{
  init->type = SD_INIT_GAUSSIAN;
  init->scale = 0.1f;
  init->series = NULL;
  if (s == NULL || strcmp (s, "noise") == 0 || strcmp (s, "prior") == 0)
    return TRUE;
  if (strcmp (s, "uniform") == 0) {
    init->type = SD_INIT_UNIFORM;
    return TRUE;
  }
  if (strcmp (s, "zeros") == 0) {
    init->type = SD_INIT_ZEROS;
    return TRUE;
  }
  if (g_str_has_prefix (s, "constant:")) {
    char *end = NULL;
    double v = g_ascii_strtod (s + 9, &end);
    if (end == s + 9 || *end != '\0' || !isfinite (v)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--init '%s': constant:VALUE needs a number", s);
      return FALSE;
    }
    init->type = SD_INIT_CONSTANT;
    init->scale = (float) v;
    return TRUE;
  }
  if (g_str_has_prefix (s, "sample:"))
    return TRUE; /* per dream, see sample_inits */
  if (g_str_has_prefix (s, "series:")) {
    const char *colon = strrchr (s + 7, ':');
    guint64 row;
    if (colon == NULL
        || !g_ascii_string_to_unsigned (
            colon + 1, 10, 0, G_MAXUINT32, &row, NULL)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--init '%s' must be series:FILE:ROW", s);
      return FALSE;
    }
    g_autofree char *path = g_strndup (s + 7, colon - (s + 7));
    g_autoptr (SdDataset) ds = sd_dataset_load_ucr (path, NULL, error);
    if (ds == NULL)
      return FALSE;
    if (row >= ds->n) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--init: %s has %u series, row %" G_GUINT64_FORMAT
          " does not exist (rows count from 0)",
          path, ds->n, row);
      return FALSE;
    }
    if ((int) ds->length != length) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "--init: series of %s have %u samples but the dream length is %d "
          "(set --length)",
          path, ds->length, length);
      return FALSE;
    }
    float *x = g_memdup2 (
        ds->x + (gsize) row * ds->length, ds->length * sizeof (float));
    sd_model_normalize_input (model, x, 1, length);
    init->type = SD_INIT_SERIES;
    init->series = x;
    *series_out = x;
    return TRUE;
  }
  g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
      "unknown --init '%s' (prior, noise, uniform, zeros, constant:V, "
      "series:FILE:ROW, sample:FILE[:LABEL])",
      s);
  return FALSE;
}

static void
add_array (JsonBuilder *b, const char *name, const float *v, int n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_double_value (b, v[i]);
  json_builder_end_array (b);
}

static void
build_dream_json (JsonBuilder *b, const DreamOptions *o, SdModel *model,
    const SdDreamConfig *c, const SdDreamSpec *spec, const char *mode,
    const SdDreamResult *r, const SdDreamMetrics *m, SdModel *second,
    int init_row)
{
  const char *const *labels = sd_model_get_labels (model);
  const SdObjectiveTerm *t = &spec->objective.terms[0];
  int n_classes = sd_model_get_n_classes (model);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, o->model_path);
  json_builder_set_member_name (b, "class");
  json_builder_add_string_value (b, labels[t->class_a]);
  json_builder_set_member_name (b, "class_index");
  json_builder_add_int_value (b, t->class_a);
  json_builder_set_member_name (b, "mode");
  json_builder_add_string_value (b, mode);
  if (t->type == SD_OBJECTIVE_BORDER) {
    json_builder_set_member_name (b, "other");
    json_builder_add_string_value (b, labels[t->class_b]);
  }
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) spec->seed);
  if (init_row >= 0) {
    /* --init sample: the row of the real series the dream started from */
    json_builder_set_member_name (b, "init_row");
    json_builder_add_int_value (b, init_row);
  }
  json_builder_set_member_name (b, "length");
  json_builder_add_int_value (b, r->length);
  json_builder_set_member_name (b, "sample_rate");
  json_builder_add_double_value (b, sd_model_get_sample_rate (model));
  json_builder_set_member_name (b, "steps");
  json_builder_add_int_value (b, r->steps);
  json_builder_set_member_name (b, "best_step");
  json_builder_add_int_value (b, r->best_step);
  json_builder_set_member_name (b, "converged");
  json_builder_add_boolean_value (b, r->converged);
  cli_json_add_double (b, "probability", r->probability);
  cli_json_add_double (b, "logit_margin", r->logit_margin);
  cli_json_add_double (b, "objective", r->objective);
  add_array (b, "logits", r->logits, n_classes);
  add_array (b, "probabilities", r->probabilities, n_classes);
  add_array (b, "sequence", r->sequence, r->length);
  SdNormalization norm = sd_model_get_normalization (model);
  if (norm.mode == SD_NORM_FIXED) {
    /* The same dream in the units of the data. */
    g_autofree float *u = g_memdup2 (r->sequence, r->length * sizeof (float));
    sd_dream_denormalize (model, u, r->length);
    add_array (b, "sequence_units", u, r->length);
  }

  json_builder_set_member_name (b, "trace");
  json_builder_begin_object (b);
  add_array (b, "objective", r->trace.objective, r->trace.n_steps);
  add_array (b, "probability", r->trace.probability, r->trace.n_steps);
  json_builder_set_member_name (b, "regularizers");
  json_builder_begin_object (b);
  for (int i = 0; i < r->trace.n_regs && i < c->n_regs; i++) {
    /* Unique keys: "l2", "tv", "gaussian", and "l2#2" for a repeat. */
    g_autofree char *key = NULL;
    int seen = 0;
    for (int j = 0; j < i; j++)
      seen += c->regs[j].type == c->regs[i].type;
    key = seen ? g_strdup_printf (
              "%s#%d", sd_reg_type_to_string (c->regs[i].type), seen + 1)
               : g_strdup (sd_reg_type_to_string (c->regs[i].type));
    add_array (b, key, r->trace.reg_values + (gsize) i * r->trace.n_steps,
        r->trace.n_steps);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  cli_json_add_double (b, "probability", r->probability);
  cli_json_add_double (b, "logit_margin", r->logit_margin);
  if (m != NULL) {
    cli_json_add_double (b, "nn_euclidean", m->nn_euclidean);
    cli_json_add_double (b, "nn_euclidean_ratio", m->nn_euclidean_ratio);
    cli_json_add_double (b, "nn_dtw", m->nn_dtw);
    cli_json_add_double (b, "nn_dtw_ratio", m->nn_dtw_ratio);
    if (m->nn_index >= 0) {
      json_builder_set_member_name (b, "nn_index");
      json_builder_add_int_value (b, m->nn_index);
    }
    cli_json_add_double (b, "tv", m->tv);
    cli_json_add_double (b, "tv_ratio", m->tv_ratio);
    cli_json_add_double (b, "hf_energy", m->hf_energy);
    cli_json_add_double (b, "hf_ratio", m->hf_ratio);
    cli_json_add_double (b, "spectral_distance", m->spectral_distance);
    if (second != NULL && m->second_class >= 0) {
      json_builder_set_member_name (b, "second_model");
      json_builder_add_string_value (b, o->second_path);
      json_builder_set_member_name (b, "second_model_class");
      json_builder_add_string_value (
          b, sd_model_get_labels (second)[m->second_class]);
      cli_json_add_double (
          b, "second_model_probability", m->second_probability);
      json_builder_set_member_name (b, "second_model_agrees");
      json_builder_add_boolean_value (b, m->second_class == t->class_a);
    }
  }
  json_builder_end_object (b);
  json_builder_end_object (b);
}

static gboolean
write_csv (const char *path, SdDreamResult **results, int n,
    const SdDreamSpec *specs, SdModel *model, GError **error)
{
  g_autoptr (GString) s = g_string_new ("t");
  const char *const *labels = sd_model_get_labels (model);
  double rate = sd_model_get_sample_rate (model);
  if (rate > 0)
    g_string_append (s, ",time_s");
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, ",dream%d_%s_seed%" G_GUINT64_FORMAT, i,
        labels[specs[i].objective.terms[0].class_a], specs[i].seed);
  g_string_append_c (s, '\n');
  for (int t = 0; t < results[0]->length; t++) {
    g_string_append_printf (s, "%d", t);
    if (rate > 0)
      g_string_append_printf (s, ",%.9g", t / rate);
    for (int i = 0; i < n; i++)
      g_string_append_printf (s, ",%.9g", results[i]->sequence[t]);
    g_string_append_c (s, '\n');
  }
  return g_file_set_contents (path, s->str, (gssize) s->len, error);
}

/* The options of `seqdream dream`, bound to o. */
static void
add_dream_options (GOptionContext *ctx, DreamOptions *o)
{
  GOptionEntry entries[] = { { "model", 'm', 0, G_OPTION_ARG_FILENAME,
                                 &o->model_path,
                                 "Model file (.safetensors or .onnx)", "FILE" },
    { "class", 'c', 0, G_OPTION_ARG_STRING, &o->class_label,
        "Class to dream (its label as in `seqdream info`)", "LABEL" },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &o->mode,
        "centered (deep inside the class, default) or border (on the "
        "decision boundary with --other)",
        "MODE" },
    { "other", 0, 0, G_OPTION_ARG_STRING, &o->other,
        "Border: the other class (default: the other class of a binary "
        "model)",
        "LABEL" },
    { "steps", 'n', 0, G_OPTION_ARG_INT, &o->steps,
        "Optimisation steps (default 500; the realistic preset for a model "
        "with a sample rate: 1500)",
        "N" },
    { "seed", 's', 0, G_OPTION_ARG_INT64, &o->seed,
        "Seed of the first dream; dream i of a batch uses seed + i", "S" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &o->batch,
        "Dreams run together, seeds S, S+1, ... (default 1)", "B" },
    { "length", 'l', 0, G_OPTION_ARG_INT, &o->length,
        "Dream length in samples (default: the model's training length)", "T" },
    { "init", 0, 0, G_OPTION_ARG_STRING, &o->init,
        "Start: prior (the default of the realistic preset: random phases "
        "with the class's mean spectrum, at the level the model knows "
        "best), noise (small white noise, the default otherwise), uniform, "
        "zeros, constant:V, "
        "series:FILE:ROW (a real series, row from 0) or sample:FILE[:LABEL] "
        "(dream i from a random real series of the class, seed + i)",
        "INIT" },
    { "optimizer", 0, 0, G_OPTION_ARG_STRING, &o->optimizer,
        "adam (default), sgd or normalized", "NAME" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &o->lr, "Step size (default 0.05)",
        "LR" },
    { "lr-decay", 0, 0, G_OPTION_ARG_DOUBLE, &o->lr_decay,
        "Learning-rate factor per step (default 1)", "F" },
    { "grad-clip", 0, 0, G_OPTION_ARG_DOUBLE, &o->grad_clip,
        "Clip the gradient's RMS to this (default off)", "G" },
    { "stop-probability", 0, 0, G_OPTION_ARG_DOUBLE, &o->stop_probability,
        "Centered: stop once the class probability reaches this", "P" },
    { "stop-margin-quantile", 0, 0, G_OPTION_ARG_DOUBLE,
        &o->stop_margin_quantile,
        "Centered: stop once the logit margin reaches this quantile of the "
        "margins of real series of the class (the model's training "
        "statistics; realistic: 0.75, for a model with a sample rate 0; 0 = "
        "no margin stop)",
        "Q" },
    { "margin-ceiling-quantile", 0, 0, G_OPTION_ARG_DOUBLE,
        &o->margin_ceiling_quantile,
        "Centered: above this quantile of the margins of real series of "
        "the class the ascent turns back (realistic: 0.99; 0 = none)",
        "Q" },
    { "border-tolerance", 0, 0, G_OPTION_ARG_DOUBLE, &o->border_tolerance,
        "Border: stop once |p - 0.5| <= this (default 0.005)", "TOL" },
    { "no-keep-best", 0, 0, G_OPTION_ARG_NONE, &o->no_keep_best,
        "Return the last sequence rather than the best seen", NULL },
    { "diversity", 0, 0, G_OPTION_ARG_DOUBLE, &o->diversity,
        "Weight of the batch diversity term (default 0)", "W" },
    { "objective", 0, 0, G_OPTION_ARG_STRING, &o->objective,
        "Centered: logit (default, the raw class score), probability or "
        "log-probability (both saturate)",
        "NAME" },
    { "ensemble-rule", 0, 0, G_OPTION_ARG_STRING, &o->ensemble_rule,
        "An ensemble's output while dreaming: mean (default: the log of the "
        "members' mean probability, what predict reports) or geometric "
        "(their mean log-probability: every member must agree; its "
        "probability and margins are those of the geometric mean)",
        "RULE" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &o->preset,
        "realistic (the default when the model has training statistics or "
        "--reference is given and no regulariser option is: the model's "
        "class spectra, the feature anchor of every stage, a stop once the "
        "dream is a typical member of its class, lr 0.01; for a model with "
        "a sample rate instead no margin stop, lr 0.05 and 1500 steps, which "
        "let the ascent build a fault's rhythm; docs/trust.md), none (the "
        "paper's unregularised ascent; the default otherwise), "
        "recommended: the spectral filter (the Wiener "
        "filter of the --reference data's mean spectrum, 40 dB, every step; "
        "needs --reference), Adam lr 0.05, 500 steps "
        "(docs/forda-report.md), or band: the same filter with the spectrum "
        "smoothed over 200 Hz, for recordings, or prototype: band and the "
        "feature anchor (weight 0.1) (docs/vibration-report.md); other "
        "options add to or override it",
        "NAME" },
    { "l1", 0, 0, G_OPTION_ARG_DOUBLE, &o->l1, "L1 penalty weight", "W" },
    { "l2", 0, 0, G_OPTION_ARG_DOUBLE, &o->l2, "L2 penalty weight", "W" },
    { "tv", 0, 0, G_OPTION_ARG_DOUBLE, &o->tv,
        "Total-variation (absolute) penalty weight", "W" },
    { "tv2", 0, 0, G_OPTION_ARG_DOUBLE, &o->tv2,
        "Total-variation (squared) penalty weight", "W" },
    { "exp-smooth", 0, 0, G_OPTION_ARG_DOUBLE, &o->exp_smooth,
        "Causal exponential smoothing with this alpha", "ALPHA" },
    { "exp-smooth-zerophase", 0, 0, G_OPTION_ARG_DOUBLE, &o->exp_smooth_zp,
        "Zero-phase (forward-backward) exponential smoothing", "ALPHA" },
    { "gaussian", 0, 0, G_OPTION_ARG_DOUBLE, &o->gaussian,
        "Gaussian filter with this sigma (samples)", "SIGMA" },
    { "filter-gradient", 0, 0, G_OPTION_ARG_NONE, &o->filter_gradient,
        "Apply --exp-smooth* and --gaussian to the gradient, not the "
        "sequence",
        NULL },
    { "clip", 0, 0, G_OPTION_ARG_STRING, &o->clip,
        "Clip to LO:HI, or auto (the model's training range)", "RANGE" },
    { "norm-bound", 0, 0, G_OPTION_ARG_DOUBLE, &o->norm_bound,
        "Keep the RMS of the sequence at most this", "R" },
    { "jitter", 0, 0, G_OPTION_ARG_INT, &o->jitter,
        "Random circular shift of up to N samples before each step", "N" },
    { "scale", 0, 0, G_OPTION_ARG_STRING, &o->scale,
        "Random amplitude factor in LO:HI before each step", "RANGE" },
    { "reg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->regs,
        "Any regularizer with its schedule, e.g. gaussian:param=2,every=5,"
        "end=0.8 or l2:weight=0.1,apply=gradient (repeatable). "
        "spectrum:weight=W,param=FLOOR (log-spectrum penalty) and "
        "spectral-filter:param=DB (Wiener filter, DB below the peak) take "
        "the mean spectrum of the --reference series (param2=1: of the "
        "dreamed class only; smooth=HZ: smoothed by a Gaussian of HZ along "
        "frequency); feature:weight=W keeps the pooled features near the "
        "class's mean over the --reference series",
        "SPEC" },
    { "reference-wav", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o->reference_wav,
        "Reference data from a recording of a class (repeatable), cut into "
        "windows of the dream length every half window",
        "FILE=LABEL" },
    { "reference", 'r', 0, G_OPTION_ARG_FILENAME, &o->reference,
        "Real training data (UCR) for the quality metrics and the spectral "
        "regularizers",
        "FILE" },
    { "second-model", 0, 0, G_OPTION_ARG_FILENAME, &o->second_path,
        "An independently trained model: does it agree with the dreamed "
        "class?",
        "FILE" },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &o->json_out,
        "Write the dream(s), trace and metrics as JSON (- for stdout)",
        "FILE" },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &o->csv_out,
        "Write the sequences as CSV, one column per dream", "FILE" },
    { "plot", 'p', 0, G_OPTION_ARG_FILENAME, &o->plot_out,
        "Plot the dream(s) (.png or .svg; with --reference the class "
        "mean +/- 1 sd is drawn behind)",
        "FILE" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o->threads, "OpenBLAS threads",
        "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "No summary on stdout",
        NULL },
    { NULL } };
  g_option_context_add_main_entries (ctx, entries, NULL);
}

/* Parses argv into o; the exit status 2 on a usage error, else 0. */
static int
parse_dream_options (int *argc, char ***argv, DreamOptions *o)
{
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- dream a "
                              "class prototype (Sequence Dreaming)");
  g_option_context_set_summary (ctx,
      "Optimises an input sequence until the "
      "model's class score is maximal (centered)\nor the sequence sits on "
      "the decision boundary (border).\nExample: seqdream dream --model "
      "forda.safetensors --class 1 --preset recommended \\\n  --reference "
      "FordA_TEST.tsv --json dream.json --plot dream.png");
  add_dream_options (ctx, o);
  if (!cli_parse (ctx, argc, argv))
    return 2;
  if (o->model_path == NULL || o->class_label == NULL) {
    fprintf (stderr, "seqdream dream: --model and --class are required (see "
                     "--help)\n");
    return 2;
  }
  if (o->batch < 1 || o->batch > 4096) {
    fprintf (stderr, "seqdream dream: --batch %d is impossible (1 to 4096)\n",
        o->batch);
    return 2;
  }
  return 0;
}

/* One dream command: the model, what is dreamed, the batch's
 * specifications and results, and their quality metrics. */
typedef struct
{
  SdModel *model;
  int cls;          /* the dreamed class */
  const char *mode; /* centered or border */
  SdObjective objective;
  SdDreamConfig config;
  float *spectra, *features; /* the targets from --reference or the
                              * model's statistics */
  float *margins;            /* stop margins (n_classes) or NULL */
  float *init_series;        /* --init series: (T) */
  float *samples;            /* --init sample: (batch, T) */
  int *sample_rows;          /* --init sample: (batch) rows of the file */
  int n;                     /* batch */
  SdDreamSpec *specs;        /* (n) */
  SdDreamResult **results;   /* (n) */
  SdModel *second;           /* --second-model */
  SdDreamMetrics *metrics;   /* (n) with --reference */
} DreamJob;

static void
dream_job_clear (DreamJob *job)
{
  for (int i = 0; job->results && i < job->n; i++)
    sd_dream_result_free (job->results[i]);
  g_clear_pointer (&job->results, g_free);
  g_clear_pointer (&job->model, sd_model_unref);
  g_clear_pointer (&job->second, sd_model_unref);
  float **floats[] = { &job->spectra, &job->features, &job->margins,
    &job->init_series, &job->samples };
  for (gsize i = 0; i < G_N_ELEMENTS (floats); i++)
    g_clear_pointer (floats[i], g_free);
  g_clear_pointer (&job->sample_rows, g_free);
  g_clear_pointer (&job->specs, g_free);
  g_clear_pointer (&job->metrics, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DreamJob, dream_job_clear)

/* The dreamed class and the objective of --mode / --other / --objective;
 * the exit status (1: no such class, 2: a usage error) or 0. */
static int
make_objective (const DreamOptions *o, DreamJob *job)
{
  SdModel *model = job->model;
  const int cls = job->cls = sd_model_find_label (model, o->class_label);
  if (cls < 0) {
    g_autofree char *list
        = g_strjoinv (", ", (char **) sd_model_get_labels (model));
    fprintf (stderr, "seqdream dream: %s has no class '%s' (classes: %s)\n",
        o->model_path, o->class_label, list);
    return 1;
  }
  const char *mode = job->mode = o->mode ? o->mode : "centered";
  if (strcmp (mode, "centered") == 0) {
    job->objective = sd_objective_centered (cls);
    if (o->objective == NULL || strcmp (o->objective, "logit") == 0)
      ;
    else if (strcmp (o->objective, "probability") == 0)
      job->objective.terms[0].type = SD_OBJECTIVE_PROBABILITY;
    else if (strcmp (o->objective, "log-probability") == 0)
      job->objective.terms[0].type = SD_OBJECTIVE_LOG_PROBABILITY;
    else {
      fprintf (stderr,
          "seqdream dream: unknown --objective '%s' (logit, probability, "
          "log-probability)\n",
          o->objective);
      return 2;
    }
  } else if (strcmp (mode, "border") == 0) {
    int other = -1;
    if (o->other)
      other = sd_model_find_label (model, o->other);
    else if (sd_model_get_n_classes (model) == 2)
      other = 1 - cls;
    if (other < 0 || other == cls) {
      fprintf (stderr,
          "seqdream dream: border mode needs --other LABEL, a "
          "class of the model other than '%s'\n",
          o->class_label);
      return 2;
    }
    job->objective = sd_objective_border (cls, other);
  } else {
    fprintf (stderr,
        "seqdream dream: unknown --mode '%s' (centered, "
        "border)\n",
        mode);
    return 2;
  }
  return 0;
}

/* The specification of every dream of the batch: the objective, the
 * --init start (per dream for sample:) and seed + i. */
static gboolean
make_specs (const DreamOptions *o, DreamJob *job, GError **error)
{
  const int T = job->config.length;
  SdInit init;
  if (!parse_init (o->init, job->model, T, &init, &job->init_series, error))
    return FALSE;
  if (o->init && g_str_has_prefix (o->init, "sample:")) {
    job->sample_rows = g_new (int, job->n);
    job->samples = sample_inits (o->init, job->model, T, job->cls, job->n,
        (guint64) o->seed, job->sample_rows, error);
    if (job->samples == NULL)
      return FALSE;
  }
  job->specs = g_new0 (SdDreamSpec, job->n);
  for (int i = 0; i < job->n; i++) {
    SdDreamSpec *spec = &job->specs[i];
    spec->objective = job->objective;
    spec->init = init;
    if (job->samples != NULL) {
      spec->init.type = SD_INIT_SERIES;
      spec->init.series = job->samples + (gsize) i * T;
    }
    spec->seed = (guint64) o->seed + (guint64) i;
  }
  return TRUE;
}

/* The batch, run as one. */
static gboolean
run_dreams (DreamJob *job, GError **error)
{
  g_autoptr (SdDreamer) dreamer
      = sd_dreamer_new (job->model, job->n, job->config.length, error);
  job->results = g_new0 (SdDreamResult *, job->n);
  return dreamer != NULL
         && sd_dreamer_run (
             dreamer, &job->config, job->specs, job->n, job->results, error);
}

/* The quality metrics against the --reference data (and the agreement of
 * a --second-model); the exit status (1: an error, 2: --second-model
 * without --reference) or 0. */
static int
score_dreams (const DreamOptions *o, DreamJob *job)
{
  GError *error = NULL;
  if (o->second_path) {
    job->second = sd_model_load (o->second_path, &error);
    if (job->second == NULL)
      return cli_fail (error);
  }
  if (!has_reference (o)) {
    if (job->second == NULL)
      return 0;
    fprintf (stderr, "seqdream dream: --second-model needs --reference "
                     "(the metrics are computed together)\n");
    return 2;
  }
  g_autoptr (SdDataset) ds = load_reference (o, job->model, &error);
  g_autoptr (SdReference) ref = NULL;
  SdReferenceConfig rc_cfg;
  sd_reference_config_init (&rc_cfg);
  if (ds != NULL)
    ref = sd_reference_new (job->model, ds, &rc_cfg, &error);
  if (ref == NULL)
    return cli_fail (error);
  job->metrics = g_new0 (SdDreamMetrics, job->n);
  for (int i = 0; i < job->n; i++) {
    const SdDreamResult *r = job->results[i];
    if (!sd_dream_metrics (ref, job->cls, r->sequence, r->length, job->second,
            &job->metrics[i], &error))
      return cli_fail (error);
  }
  return 0;
}

/* The JSON of the batch: one dream object, or {"dreams": [...]}. */
static JsonNode *
build_job_json (const DreamOptions *o, const DreamJob *job)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  if (job->n > 1) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dreams");
    json_builder_begin_array (b);
  }
  for (int i = 0; i < job->n; i++)
    build_dream_json (b, o, job->model, &job->config, &job->specs[i], job->mode,
        job->results[i], job->metrics ? &job->metrics[i] : NULL, job->second,
        job->sample_rows ? job->sample_rows[i] : -1);
  if (job->n > 1) {
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  return json_builder_get_root (b);
}

/* --json, --csv and --plot. */
static gboolean
write_outputs (const DreamOptions *o, const DreamJob *job, GError **error)
{
  g_autoptr (JsonNode) root = build_job_json (o, job);
  if (o->json_out) {
    g_autofree char *text = json_to_string (root, FALSE);
    if (strcmp (o->json_out, "-") == 0)
      printf ("%s\n", text);
    else if (!g_file_set_contents (o->json_out, text, -1, error))
      return FALSE;
  }
  if (o->csv_out
      && !write_csv (
          o->csv_out, job->results, job->n, job->specs, job->model, error))
    return FALSE;
  return o->plot_out == NULL
         || cli_plot_dream_json (
             root, o->plot_out, o->reference, job->model, FALSE, error);
}

/* One line per dream on stdout (not with -q or --json -). */
static void
print_summary (const DreamOptions *o, const DreamJob *job)
{
  if (o->quiet || (o->json_out && strcmp (o->json_out, "-") == 0))
    return;
  const char *const *labels = sd_model_get_labels (job->model);
  for (int i = 0; i < job->n; i++) {
    const SdDreamResult *r = job->results[i];
    const SdDreamMetrics *m = job->metrics ? &job->metrics[i] : NULL;
    printf ("%s dream of class %s (seed %" G_GUINT64_FORMAT "): p = %.4f, "
            "margin %.3f, %d steps%s",
        job->mode, labels[job->cls], job->specs[i].seed, r->probability,
        r->logit_margin, r->steps, r->converged ? " (converged)" : "");
    if (m)
      printf (", NN ratio %.2f (DTW %.2f), spectral distance %.3f",
          m->nn_euclidean_ratio, m->nn_dtw_ratio, m->spectral_distance);
    if (m && job->second)
      printf (", second model: %s (p = %.3f)",
          m->second_class >= 0
              ? sd_model_get_labels (job->second)[m->second_class]
              : "?",
          m->second_probability);
    printf ("\n");
  }
}

/* --ensemble-rule on the model, which must then be an ensemble. */
static gboolean
set_ensemble_rule (const DreamOptions *o, SdModel *model, GError **error)
{
  if (o->ensemble_rule == NULL)
    return TRUE;
  SdEnsembleRule rule;
  if (strcmp (o->ensemble_rule, "mean") == 0)
    rule = SD_ENSEMBLE_MEAN;
  else if (strcmp (o->ensemble_rule, "geometric") == 0)
    rule = SD_ENSEMBLE_GEOMETRIC;
  else {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "--ensemble-rule must be mean or geometric, not '%s'",
        o->ensemble_rule);
    return FALSE;
  }
  return sd_model_set_ensemble_rule (model, rule, error);
}

int
cli_cmd_dream (int argc, char **argv)
{
  g_auto (DreamOptions) o = { 0 };
  o.batch = 1;
  o.stop_margin_quantile = -1;
  o.margin_ceiling_quantile = -1;
  int rc = parse_dream_options (&argc, &argv, &o);
  if (rc != 0)
    return rc;
  cli_set_threads (o.threads);

  GError *error = NULL;
  g_auto (DreamJob) job = { 0 };
  job.n = o.batch;
  job.model = sd_model_load (o.model_path, &error);
  if (job.model == NULL || !set_ensemble_rule (&o, job.model, &error))
    return cli_fail (error);
  rc = make_objective (&o, &job);
  if (rc != 0)
    return rc;
  if (!build_config (&o, job.model, &job.config, &error)
      || !attach_reference (&o, job.model, &job.config, &job.spectra,
          &job.features, &job.margins, &error)
      || !make_specs (&o, &job, &error) || !run_dreams (&job, &error))
    return cli_fail (error);
  rc = score_dreams (&o, &job);
  if (rc != 0)
    return rc;
  if (!write_outputs (&o, &job, &error))
    return cli_fail (error);
  print_summary (&o, &job);
  return 0;
}
