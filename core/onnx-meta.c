/* What the ONNX reader takes from a file that sd_model_save_onnx wrote
 * (core/onnx-export.c): the seqdream.* metadata_props and the input
 * normalisation ops at the start of the graph, which become the model's
 * SdNormalization again instead of graph ops. Untrusted like the rest of
 * the file: every value is checked, and the normalisation ops must be
 * exactly what the writer emits for the declared mode and constants.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "onnx-export-private.h"

#include <json-glib/json-glib.h>
#include <string.h>

void
onnx_meta_clear (OnnxMeta *meta)
{
  g_strfreev (meta->labels);
  g_free (meta->norm_out);
  g_free (meta->provenance);
  memset (meta, 0, sizeof *meta);
}

static gboolean
bad_meta (OnnxImporter *imp, const char *key, const char *what)
{
  return onnx_fail (imp, NULL, "metadata '%s': %s", key, what);
}

static gboolean
meta_labels (OnnxImporter *imp, JsonNode *root, OnnxMeta *meta)
{
  if (!JSON_NODE_HOLDS_ARRAY (root))
    return bad_meta (imp, ONNX_META_LABELS, "not a JSON array");
  JsonArray *a = json_node_get_array (root);
  const guint n = json_array_get_length (a);
  meta->labels = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING)
      return bad_meta (imp, ONNX_META_LABELS, "a label is not a string");
    meta->labels[i] = g_strdup (json_node_get_string (e));
  }
  return TRUE;
}

static gboolean
json_num (JsonObject *o, const char *key, double *v)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  const GType t = json_node_get_value_type (n);
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    return FALSE;
  *v = json_node_get_double (n);
  return isfinite (*v);
}

static gboolean
meta_norm (OnnxImporter *imp, JsonNode *root, OnnxMeta *meta)
{
  JsonObject *o
      = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  const char *mode
      = o ? json_object_get_string_member_with_default (o, "mode", NULL) : NULL;
  double mean = 0, sd = 1;
  if (mode == NULL || !sd_norm_mode_from_string (mode, &meta->norm.mode))
    return bad_meta (imp, ONNX_META_NORM,
        "needs \"mode\": \"per-series\", \"fixed\" or \"none\"");
  if (meta->norm.mode == SD_NORM_FIXED
      && !(json_num (o, "mean", &mean) && json_num (o, "std", &sd) && sd > 0
           && (float) sd > 0 && fabs (mean) < 1e30 && sd < 1e30))
    return bad_meta (
        imp, ONNX_META_NORM, "fixed needs a finite mean and a std > 0");
  meta->norm.mean = (float) mean;
  meta->norm.std = (float) sd;
  meta->has_norm = TRUE;
  return TRUE;
}

static gboolean
meta_range (OnnxImporter *imp, JsonNode *root, OnnxMeta *meta)
{
  JsonArray *a
      = JSON_NODE_HOLDS_ARRAY (root) ? json_node_get_array (root) : NULL;
  double v[2];
  for (guint i = 0; i < 2 && a && json_array_get_length (a) == 2; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e))
      break;
    v[i] = json_node_get_double (e);
    if (i == 1 && isfinite (v[0]) && isfinite (v[1]) && v[0] <= v[1]) {
      meta->range_lo = (float) v[0];
      meta->range_hi = (float) v[1];
      meta->has_range = TRUE;
      return TRUE;
    }
  }
  return bad_meta (imp, ONNX_META_RANGE, "needs [lo, hi], finite, lo <= hi");
}

/* One JSON-valued entry. */
static gboolean
meta_json (
    OnnxImporter *imp, const char *key, const char *value, OnnxMeta *meta)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  if (!json_parser_load_from_data (p, value, -1, NULL)
      || json_parser_get_root (p) == NULL)
    return bad_meta (imp, key, "not valid JSON");
  JsonNode *root = json_parser_get_root (p);
  if (strcmp (key, ONNX_META_LABELS) == 0)
    return meta_labels (imp, root, meta);
  if (strcmp (key, ONNX_META_NORM) == 0)
    return meta_norm (imp, root, meta);
  if (strcmp (key, ONNX_META_PROVENANCE) == 0) {
    if (!JSON_NODE_HOLDS_OBJECT (root))
      return bad_meta (imp, key, "not a JSON object");
    /* written again by json-glib: its parser takes control characters
     * raw in a string, which JSON forbids and the model file's reader
     * refuses; written out, they are escaped (found by fuzz_onnx) */
    g_free (meta->provenance);
    meta->provenance = json_to_string (root, FALSE);
    return TRUE;
  }
  return meta_range (imp, root, meta);
}

gboolean
onnx_meta_read (OnnxImporter *imp, const Onnx__ModelProto *mp, OnnxMeta *meta)
{
  for (gsize k = 0; k < mp->n_metadata_props; k++) {
    const char *key = mp->metadata_props[k]->key;
    const char *value = mp->metadata_props[k]->value;
    char *end = NULL;
    if (key == NULL || value == NULL || !g_str_has_prefix (key, "seqdream."))
      continue;
    if (strcmp (key, ONNX_META_LABELS) == 0 || strcmp (key, ONNX_META_NORM) == 0
        || strcmp (key, ONNX_META_RANGE) == 0
        || strcmp (key, ONNX_META_PROVENANCE) == 0) {
      if (!meta_json (imp, key, value, meta))
        return FALSE;
    } else if (strcmp (key, ONNX_META_NORM_OUT) == 0) {
      g_free (meta->norm_out);
      meta->norm_out = g_strdup (value);
    } else if (strcmp (key, ONNX_META_TRAIN_LENGTH) == 0) {
      const guint64 len = g_ascii_strtoull (value, &end, 10);
      if (end == value || *end != '\0' || len > 100000000)
        return bad_meta (imp, key, "not a length in samples");
      meta->train_length = (guint) len;
    } else if (strcmp (key, ONNX_META_RATE) == 0) {
      meta->sample_rate = g_ascii_strtod (value, &end);
      if (end == value || *end != '\0' || !isfinite (meta->sample_rate)
          || meta->sample_rate < 0)
        return bad_meta (imp, key, "not a rate in Hz");
    }
  }
  if (meta->norm_out != NULL
      && (!meta->has_norm || meta->norm.mode == SD_NORM_NONE))
    return bad_meta (imp, ONNX_META_NORM_OUT,
        "names a normalised input, but " ONNX_META_NORM
        " declares no normalisation");
  return TRUE;
}

/* Input j of node is the float scalar constant v. */
static gboolean
const_is (OnnxImporter *imp, const Onnx__NodeProto *node, gsize j, float v)
{
  const OnnxEntry *e = j < node->n_input
                           ? g_hash_table_lookup (imp->names, node->input[j])
                           : NULL;
  return e != NULL && e->value < 0 && e->f != NULL && e->n == 1 && e->f[0] == v;
}

gboolean
onnx_meta_skip_norm (OnnxImporter *imp, const Onnx__GraphProto *gp,
    const OnnxMeta *meta, gsize *first)
{
  *first = 0;
  if (meta->norm_out == NULL)
    return TRUE;
  const char *const *ops = onnx_norm_ops (meta->norm.mode);
  const gsize n_ops = g_strv_length ((char **) ops);
  g_autoptr (GHashTable) made = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean ok = gp->n_node >= n_ops;
  for (gsize k = 0; ok && k < n_ops; k++) {
    const Onnx__NodeProto *node = gp->node[k];
    ok = node->op_type && strcmp (node->op_type, ops[k]) == 0
         && node->n_output == 1 && node->output[0] != NULL;
    for (gsize j = 0; ok && j < node->n_input; j++) {
      const OnnxEntry *e
          = node->input[j] ? g_hash_table_lookup (imp->names, node->input[j])
                           : NULL;
      ok = (e != NULL && e->value <= 0)
           || (node->input[j] && g_hash_table_contains (made, node->input[j]));
    }
    if (ok)
      g_hash_table_add (made, node->output[0]);
  }
  if (ok && meta->norm.mode == SD_NORM_FIXED)
    ok = const_is (imp, gp->node[0], 1, meta->norm.mean)
         && const_is (imp, gp->node[1], 1, 1.0f / meta->norm.std);
  if (ok && meta->norm.mode == SD_NORM_PER_SERIES)
    ok = const_is (imp, gp->node[5], 1, ONNX_NORM_SD_EPS);
  if (ok)
    ok = strcmp (gp->node[n_ops - 1]->output[0], meta->norm_out) == 0;
  if (!ok) {
    g_autofree char *list = g_strjoinv (", ", (char **) ops);
    return onnx_fail (imp, NULL,
        "metadata '%s' declares %s normalisation, but the first nodes of the "
        "graph are not the normalisation seqdream exports (%s)",
        ONNX_META_NORM_OUT, sd_norm_mode_to_string (meta->norm.mode), list);
  }
  onnx_define (imp, meta->norm_out, onnx_new_value (0, 3));
  *first = n_ops;
  return TRUE;
}
