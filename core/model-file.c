/* Model files: safetensors with the architecture, labels, normalisation,
 * training length, sample rate, input range and provenance as metadata
 * (docs/model-format.md). A file is untrusted: every metadata value and
 * every tensor is checked before the model is built.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "json-strict.h"
#include "model-private.h"
#include "sd-private.h"
#include "stats-private.h"
#include "seqdream/onnx.h"
#include "seqdream/safetensors.h"

#include <float.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

JsonNode *
sd_model_parse_json_meta (const SdSafetensors *st, const char *key,
    gboolean required, JsonParser *parser, GError **error)
{
  const char *text = sd_safetensors_get_metadata (st, key);
  const char *file = sd_safetensors_get_display_name (st);
  GError *local = NULL;

  if (text == NULL) {
    if (required)
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata '%s' is missing (not a seqdream model file?)", file,
          key);
    return NULL;
  }
  if (!sd_json_validate (text, error)) {
    g_prefix_error (error, "%s: metadata '%s': ", file, key);
    return NULL;
  }
  if (!json_parser_load_from_data (parser, text, -1, &local)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: metadata '%s' is not valid JSON: %s", file, key, local->message);
    g_error_free (local);
    return NULL;
  }
  return json_parser_get_root (parser);
}

gboolean
sd_model_json_number (JsonNode *n, double *out)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_double (n);
  return isfinite (*out);
}

static gboolean
parse_uint_meta (const SdSafetensors *st, const char *key, guint64 max,
    guint64 *out, GError **error)
{
  const char *text = sd_safetensors_get_metadata (st, key);
  if (text == NULL) {
    *out = 0;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata '%s' = '%s' is not an integer in [0, %" G_GUINT64_FORMAT
        "]",
        sd_safetensors_get_display_name (st), key, text, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_metadata (SdModel *m, const SdSafetensors *st, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  g_autoptr (JsonParser) lp = json_parser_new ();
  JsonNode *labels = sd_model_parse_json_meta (st, "labels", TRUE, lp, error);
  if (labels == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (labels)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'labels' must be a JSON array of strings", file);
    return FALSE;
  }
  JsonArray *la = json_node_get_array (labels);
  guint n = json_array_get_length (la);
  if ((int) n != m->arch.n_classes) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: %u labels for %d classes", file, n, m->arch.n_classes);
    return FALSE;
  }
  m->labels = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (la, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: label %u is not a string", file, i);
      return FALSE;
    }
    m->labels[i] = g_strdup (json_node_get_string (e));
  }
  if (!sd_model_check_labels (
          (const char *const *) m->labels, (int) n, file, error))
    return FALSE;

  g_autoptr (JsonParser) np = json_parser_new ();
  JsonNode *norm
      = sd_model_parse_json_meta (st, "normalization", FALSE, np, error);
  if (norm == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (norm != NULL) {
    JsonObject *o
        = JSON_NODE_HOLDS_OBJECT (norm) ? json_node_get_object (norm) : NULL;
    const char *mode
        = o ? json_object_get_string_member_with_default (o, "mode", NULL)
            : NULL;
    if (mode == NULL || !sd_norm_mode_from_string (mode, &m->norm.mode)) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'normalization' needs a mode of per-series, fixed "
          "or none",
          file);
      return FALSE;
    }
    if (m->norm.mode == SD_NORM_FIXED) {
      double mean, sd;
      /* Stored as floats: they must stay finite, and std positive, as
       * floats (1e300 would be Inf, 1e-50 zero). */
      if (!sd_model_json_number (json_object_get_member (o, "mean"), &mean)
          || !sd_model_json_number (json_object_get_member (o, "std"), &sd)
          || !(fabs (mean) <= FLT_MAX && sd > 0 && sd <= FLT_MAX
               && (float) sd > 0)) {
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
            "%s: fixed normalization needs a 'mean' and a positive 'std' "
            "that are finite 32-bit floats",
            file);
        return FALSE;
      }
      m->norm.mean = (float) mean;
      m->norm.std = (float) sd;
    }
  }

  guint64 len;
  if (!parse_uint_meta (st, "train_length", 100000000, &len, error))
    return FALSE;
  m->train_length = (guint) len;

  const char *rate = sd_safetensors_get_metadata (st, "sample_rate");
  if (rate != NULL) {
    char *end = NULL;
    double r = g_ascii_strtod (rate, &end);
    if (end == rate || *end != '\0' || !isfinite (r) || r < 0) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'sample_rate' = '%s' is not a non-negative number",
          file, rate);
      return FALSE;
    }
    m->sample_rate = r;
  }

  g_autoptr (JsonParser) rp = json_parser_new ();
  JsonNode *range
      = sd_model_parse_json_meta (st, "input_range", FALSE, rp, error);
  if (range == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (range != NULL) {
    double lo, hi;
    JsonArray *ra
        = JSON_NODE_HOLDS_ARRAY (range) ? json_node_get_array (range) : NULL;
    /* lo < hi as the floats they are stored as ([1e-50, 2e-50] is [0, 0]
     * in floats). */
    if (ra == NULL || json_array_get_length (ra) != 2
        || !sd_model_json_number (json_array_get_element (ra, 0), &lo)
        || !sd_model_json_number (json_array_get_element (ra, 1), &hi)
        || !(fabs (lo) <= FLT_MAX && fabs (hi) <= FLT_MAX
             && (float) lo < (float) hi)) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'input_range' must be [lo, hi] with lo < hi, both "
          "finite 32-bit floats",
          file);
      return FALSE;
    }
    m->range_lo = (float) lo;
    m->range_hi = (float) hi;
  }

  const char *prov = sd_safetensors_get_metadata (st, "provenance");
  if (prov != NULL) {
    g_autoptr (JsonParser) pp = json_parser_new ();
    if (sd_model_parse_json_meta (st, "provenance", FALSE, pp, error) == NULL)
      return FALSE;
    m->provenance = g_strdup (prov);
  }
  return TRUE;
}

/* The model of metadata "graph" (an imported model), without its
 * parameters. */
static SdModel *
model_of_graph (const SdSafetensors *st, const char *json, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  g_autoptr (SdGraph) g = sd_graph_from_json (json, error);
  SdModel *m = g ? sd_model_compile_graph (
                   g, g->arch_name ? g->arch_name : "onnx", error)
                 : NULL;
  if (m == NULL)
    g_prefix_error (error, "%s: ", file);
  return m;
}

/* The parameters of m's architecture from the tensors prefix + name of
 * st. Every one must be in the file, as F32 of its shape, before the
 * parameters are allocated: then the file holds them all and bounds the
 * allocation, whatever size the architecture asks for (its limits allow
 * terabytes). */
static gboolean
load_params (
    SdModel *m, const SdSafetensors *st, const char *prefix, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    g_autofree char *name = g_strconcat (prefix, t->name, NULL);
    const SdTensorView *v = sd_safetensors_get (st, name);
    if (v == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: tensor '%s' required by architecture '%s' is missing", file,
          name, m->arch.name);
      return FALSE;
    }
    if (!sd_safetensors_check_f32 (st, v, t->ndim, t->shape, error))
      return FALSE;
  }
  m->params = g_new0 (float, m->n_params);

  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    g_autofree char *name = g_strconcat (prefix, t->name, NULL);
    const SdTensorView *v = sd_safetensors_get (st, name);
    if (!sd_safetensors_copy_f32 (
            st, v, m->params + t->offset, t->ndim, t->shape, TRUE, error))
      return FALSE;
    if (g_str_has_suffix (t->name, ".running_var"))
      for (gsize k = 0; k < t->numel; k++)
        if (m->params[t->offset + k] < 0) {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
              "%s: tensor '%s'[%" G_GSIZE_FORMAT "] is a negative variance",
              file, name, k);
          return FALSE;
        }
  }
  return TRUE;
}

/* TRUE when tensor `name` of a file belongs to model m (a model or an
 * ensemble, whose members' tensors are "members.<i>.<name>"). */
static gboolean
is_model_tensor (const SdModel *m, const char *name)
{
  if (g_str_has_suffix (name, ".num_batches_tracked")
      || g_str_has_prefix (name, "stats."))
    return TRUE;
  if (m->members == NULL)
    return sd_model_find_tensor (m, name) != NULL;
  if (!g_str_has_prefix (name, "members."))
    return FALSE;
  char *end = NULL;
  guint64 i = g_ascii_strtoull (name + strlen ("members."), &end, 10);
  /* (a member's "stats.*" are checked by the statistics' reader) */
  return end != name + strlen ("members.") && *end == '.'
         && i < (guint64) m->n_members
         && (sd_model_find_tensor (m->members[i], end + 1) != NULL
             || g_str_has_prefix (end + 1, "stats."));
}

/* Every tensor of st belongs to m. */
static gboolean
check_names (const SdModel *m, const SdSafetensors *st, GError **error)
{
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *v = sd_safetensors_get_nth (st, i);
    if (!is_model_tensor (m, v->name)) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: tensor '%s' is not part of %s '%s'",
          sd_safetensors_get_display_name (st), v->name,
          m->members ? "ensemble" : "architecture",
          m->members ? m->display_name : m->arch.name);
      return FALSE;
    }
  }
  return TRUE;
}

/* Member i of an ensemble file: its architecture "members.<i>.arch" or
 * op graph "members.<i>.graph", the file's labels and other metadata, its
 * own provenance and statistics ("members.<i>.stats") if any, and its
 * tensors "members.<i>.*". */
static SdModel *
member_from_safetensors (const SdSafetensors *st, int i, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  g_autofree char *key = g_strdup_printf ("members.%d.arch", i);
  g_autofree char *gkey = g_strdup_printf ("members.%d.graph", i);
  g_autofree char *prefix = g_strdup_printf ("members.%d.", i);
  const char *arch_json = sd_safetensors_get_metadata (st, key);
  const char *graph_json = sd_safetensors_get_metadata (st, gkey);
  SdArch arch;
  g_autoptr (SdModel) m = NULL;
  if (graph_json != NULL) {
    g_autoptr (SdGraph) g = sd_graph_from_json (graph_json, error);
    m = g ? sd_model_compile_graph (
            g, g->arch_name ? g->arch_name : "onnx", error)
          : NULL;
    if (m == NULL) {
      g_prefix_error (error, "%s: ensemble member %d: ", file, i);
      return NULL;
    }
  } else if (arch_json == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: ensemble member %d: metadata '%s' (or '%s') is missing", file, i,
        key, gkey);
    return NULL;
  } else if (!sd_arch_from_json (arch_json, &arch, error)
             || (m = sd_model_compile (&arch, error)) == NULL) {
    g_prefix_error (error, "%s: ensemble member %d: ", file, i);
    return NULL;
  }
  g_free (m->display_name);
  m->display_name = g_strdup_printf ("%s member %d", file, i);
  if (!load_metadata (m, st, error)) {
    g_prefix_error (error, "ensemble member %d: ", i);
    return NULL;
  }
  g_free (key);
  key = g_strdup_printf ("members.%d.provenance", i);
  g_clear_pointer (&m->provenance, g_free);
  if (sd_safetensors_get_metadata (st, key) != NULL) {
    g_autoptr (JsonParser) pp = json_parser_new ();
    if (sd_model_parse_json_meta (st, key, FALSE, pp, error) == NULL)
      return NULL;
    m->provenance = g_strdup (sd_safetensors_get_metadata (st, key));
  }
  if (!load_params (m, st, prefix, error))
    return NULL;
  if (m->graph != NULL && !sd_graph_check_params (m, error)) {
    g_prefix_error (error, "%s: ensemble member %d: ", file, i);
    return NULL;
  }
  /* its own statistics, when the ensemble's novelty combines the
   * members' (or they were calibrated before it was joined) */
  g_free (key);
  key = g_strdup_printf ("members.%d.stats", i);
  if (!stats_read_as (m, st, key, error))
    return NULL;
  return g_steal_pointer (&m);
}

static void
unref_members (SdModel **members, int n)
{
  for (int i = 0; i < n; i++)
    sd_model_unref (members[i]);
  g_free (members);
}

/* An ensemble file: metadata "ensemble" is its member count. */
static SdModel *
ensemble_from_safetensors (
    const SdSafetensors *st, const char *count, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  guint64 n;
  if (!g_ascii_string_to_unsigned (count, 10, 2, SD_MAX_MEMBERS, &n, NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'ensemble' = '%s' is not a member count in [2, %d]", file,
        count, SD_MAX_MEMBERS);
    return NULL;
  }
  SdModel **members = g_new0 (SdModel *, n);
  for (int i = 0; i < (int) n; i++)
    if ((members[i] = member_from_safetensors (st, i, error)) == NULL) {
      unref_members (members, i);
      return NULL;
    }
  g_autoptr (SdModel) e = sd_model_new_ensemble (members, (int) n, error);
  unref_members (members, (int) n);
  if (e == NULL) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  }
  g_free (e->display_name);
  e->display_name = g_strdup (file);
  const char *prov = sd_safetensors_get_metadata (st, "provenance");
  e->provenance = g_strdup (prov); /* checked by load_metadata */
  if (!check_names (e, st, error) || !stats_read (e, st, error))
    return NULL;
  return g_steal_pointer (&e);
}

static SdModel *
model_from_safetensors (const SdSafetensors *st, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  const char *ensemble = sd_safetensors_get_metadata (st, "ensemble");
  const char *arch_json = sd_safetensors_get_metadata (st, "arch");
  const char *graph_json = sd_safetensors_get_metadata (st, "graph");
  SdArch arch;
  g_autoptr (SdModel) m = NULL;

  if (ensemble != NULL)
    return ensemble_from_safetensors (st, ensemble, error);
  if (graph_json != NULL) {
    m = model_of_graph (st, graph_json, error);
    if (m == NULL)
      return NULL;
    arch = m->arch;
  } else if (arch_json == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'arch' is missing (not a seqdream model file?)", file);
    return NULL;
  } else if (!sd_arch_from_json (arch_json, &arch, error)) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  } else if ((m = sd_model_compile (&arch, error)) == NULL) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  }
  g_free (m->display_name);
  m->display_name = g_strdup (file);
  if (!load_metadata (m, st, error))
    return NULL;

  if (!load_params (m, st, "", error) || !check_names (m, st, error))
    return NULL;
  if (m->graph != NULL && !sd_graph_check_params (m, error)) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  }
  if (!stats_read (m, st, error))
    return NULL;
  return g_steal_pointer (&m);
}

/* An ONNX file by its name (the loader of seqdream/onnx.h, with its
 * defaults). */
static gboolean
is_onnx_name (const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name ? name : "", -1);
  return g_str_has_suffix (lower, ".onnx");
}

SdModel *
sd_model_load (const char *path, GError **error)
{
  if (is_onnx_name (path))
    return sd_model_load_onnx (path, NULL, error);
  g_autoptr (SdSafetensors) st = sd_safetensors_open (path, error);
  if (st == NULL)
    return NULL;
  return model_from_safetensors (st, error);
}

SdModel *
sd_model_load_from_bytes (
    GBytes *bytes, const char *display_name, GError **error)
{
  if (is_onnx_name (display_name))
    return sd_model_load_onnx_from_bytes (bytes, display_name, NULL, error);
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (bytes, display_name, error);
  if (st == NULL)
    return NULL;
  return model_from_safetensors (st, error);
}

/* An ensemble's member count, and every member's architecture,
 * provenance and tensors under "members.<i>.". */
static void
write_members (SdSafetensorsWriter *w, const SdModel *e)
{
  g_autofree char *n = g_strdup_printf ("%d", e->n_members);
  sd_safetensors_writer_add_metadata (w, "ensemble", n);
  for (int i = 0; i < e->n_members; i++) {
    const SdModel *m = e->members[i];
    /* an op-graph member (imported, inception) stores its graph */
    g_autofree char *arch
        = m->graph ? sd_graph_to_json (m->graph) : sd_arch_to_json (&m->arch);
    g_autofree char *key
        = g_strdup_printf ("members.%d.%s", i, m->graph ? "graph" : "arch");
    sd_safetensors_writer_add_metadata (w, key, arch);
    if (m->provenance != NULL) {
      g_free (key);
      key = g_strdup_printf ("members.%d.provenance", i);
      sd_safetensors_writer_add_metadata (w, key, m->provenance);
    }
    for (guint j = 0; j < m->tensors->len; j++) {
      SdParamInfo *t = g_ptr_array_index (m->tensors, j);
      g_autofree char *name = g_strdup_printf ("members.%d.%s", i, t->name);
      sd_safetensors_writer_add_f32 (
          w, name, m->params + t->offset, t->ndim, t->shape);
    }
    if (m->stats != NULL) {
      g_free (key);
      key = g_strdup_printf ("members.%d.stats", i);
      stats_write_as (m->stats, w, key);
    }
  }
}

static SdSafetensorsWriter *
model_writer (SdModel *m)
{
  SdSafetensorsWriter *w = sd_safetensors_writer_new ();
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  sd_safetensors_writer_add_metadata (w, "format", "pt");
  sd_safetensors_writer_add_metadata (w, "seqdream.format_version", "1");
  if (m->members != NULL)
    write_members (w, m);
  else {
    /* an imported model stores its op graph instead of an architecture */
    g_autofree char *arch
        = m->graph ? sd_graph_to_json (m->graph) : sd_arch_to_json (&m->arch);
    sd_safetensors_writer_add_metadata (w, m->graph ? "graph" : "arch", arch);
  }

  g_autoptr (JsonBuilder) lb = json_builder_new ();
  json_builder_begin_array (lb);
  for (int i = 0; m->labels[i] != NULL; i++)
    json_builder_add_string_value (lb, m->labels[i]);
  json_builder_end_array (lb);
  g_autoptr (JsonNode) lroot = json_builder_get_root (lb);
  g_autofree char *labels = json_to_string (lroot, FALSE);
  sd_safetensors_writer_add_metadata (w, "labels", labels);

  g_autoptr (JsonBuilder) nb = json_builder_new ();
  json_builder_begin_object (nb);
  json_builder_set_member_name (nb, "mode");
  json_builder_add_string_value (nb, sd_norm_mode_to_string (m->norm.mode));
  if (m->norm.mode == SD_NORM_FIXED) {
    json_builder_set_member_name (nb, "mean");
    json_builder_add_double_value (nb, m->norm.mean);
    json_builder_set_member_name (nb, "std");
    json_builder_add_double_value (nb, m->norm.std);
  }
  json_builder_end_object (nb);
  g_autoptr (JsonNode) nroot = json_builder_get_root (nb);
  g_autofree char *norm = json_to_string (nroot, FALSE);
  sd_safetensors_writer_add_metadata (w, "normalization", norm);

  g_autofree char *len = g_strdup_printf ("%u", m->train_length);
  sd_safetensors_writer_add_metadata (w, "train_length", len);
  sd_safetensors_writer_add_metadata (
      w, "sample_rate", g_ascii_dtostr (buf, sizeof buf, m->sample_rate));
  if (isfinite (m->range_lo) && isfinite (m->range_hi)) {
    char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];
    g_autofree char *range = g_strdup_printf ("[%s, %s]",
        g_ascii_dtostr (lo, sizeof lo, m->range_lo),
        g_ascii_dtostr (hi, sizeof hi, m->range_hi));
    sd_safetensors_writer_add_metadata (w, "input_range", range);
  }
  if (m->provenance != NULL)
    sd_safetensors_writer_add_metadata (w, "provenance", m->provenance);

  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    sd_safetensors_writer_add_f32 (
        w, t->name, m->params + t->offset, t->ndim, t->shape);
  }
  stats_write (m, w);
  return w;
}

gboolean
sd_model_save (SdModel *model, const char *path, GError **error)
{
  g_autoptr (SdSafetensorsWriter) w = model_writer (model);
  return sd_safetensors_writer_write (w, path, error);
}

GBytes *
sd_model_save_to_bytes (SdModel *model)
{
  g_autoptr (SdSafetensorsWriter) w = model_writer (model);
  return sd_safetensors_writer_to_bytes (w);
}
