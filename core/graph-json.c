/* The JSON form of an op graph, metadata "graph" of a model file
 * (docs/model-import.md):
 *   {"version": 1, "output": "logits" | "softmax" | "log_softmax",
 *    "logits": V, "ops": [{"op": "conv", "name": "...", "in": [0],
 *    "k": 5, "stride": 1, "dilation": 1, "pads": [2, 2], "group": 1,
 *    "out_channels": 8, "in_features": 0, "count_pad": false,
 *    "activation": "Relu", "alpha": 0, "eps": 1e-5,
 *    "tensors": ["c1.weight", "c1.bias", null, null]}, ...]}
 * Op i writes value i + 1; value 0 is the input. The file is untrusted:
 * every op goes through sd_graph_add's checks.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "json-strict.h"

#include <json-glib/json-glib.h>
#include <string.h>

static const char *const type_names[GOP_N_TYPES] = { "conv", "batchnorm",
  "activation", "add", "mul", "affine", "concat", "maxpool", "avgpool",
  "global_avgpool", "global_maxpool", "dense", "pad", "flatten" };
static const char *const output_names[]
    = { "logits", "softmax", "log_softmax" };

static void
add_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}

static void
build_op (JsonBuilder *b, const GraphOp *op)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "op");
  json_builder_add_string_value (b, type_names[op->type]);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, op->name ? op->name : "");
  json_builder_set_member_name (b, "in");
  json_builder_begin_array (b);
  for (int j = 0; j < op->n_in; j++)
    json_builder_add_int_value (b, op->in[j]);
  json_builder_end_array (b);
  add_int (b, "k", op->win.K);
  add_int (b, "stride", op->win.stride);
  add_int (b, "dilation", op->win.dilation);
  json_builder_set_member_name (b, "pads");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, op->win.pad_l);
  json_builder_add_int_value (b, op->win.pad_r);
  json_builder_end_array (b);
  add_int (b, "group", op->group);
  add_int (b, "out_channels", op->OC);
  add_int (b, "in_features", op->IN);
  json_builder_set_member_name (b, "count_pad");
  json_builder_add_boolean_value (b, op->count_pad);
  json_builder_set_member_name (b, "activation");
  json_builder_add_string_value (b, sd_activation_name (op->act));
  json_builder_set_member_name (b, "alpha");
  json_builder_add_double_value (b, op->alpha);
  json_builder_set_member_name (b, "eps");
  json_builder_add_double_value (b, op->eps);
  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (int s = 0; s < GRAPH_N_TENSORS; s++)
    if (op->tensor[s])
      json_builder_add_string_value (b, op->tensor[s]);
    else
      json_builder_add_null_value (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
}

char *
sd_graph_to_json (const SdGraph *g)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_int (b, "version", 1);
  json_builder_set_member_name (b, "output");
  json_builder_add_string_value (b, output_names[g->output]);
  add_int (b, "logits", g->logits);
  /* written only when set: an imported model's file is as before */
  if (g->arch_name != NULL) {
    json_builder_set_member_name (b, "arch");
    json_builder_add_string_value (b, g->arch_name);
  }
  if (g->train_bn) {
    json_builder_set_member_name (b, "train_batchnorm");
    json_builder_add_boolean_value (b, TRUE);
  }
  json_builder_set_member_name (b, "ops");
  json_builder_begin_array (b);
  for (guint i = 0; i < g->ops->len; i++)
    build_op (b, &g_array_index (g->ops, GraphOp, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static gboolean
get_int (JsonObject *o, const char *key, int *out, guint i, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < G_MININT || json_node_get_int (n) > G_MAXINT) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: op %u needs an integer '%s'", i, key);
    return FALSE;
  }
  *out = (int) json_node_get_int (n);
  return TRUE;
}

static gboolean
get_float (JsonObject *o, const char *key, float *out, guint i, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  GType t = n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : 0;
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: op %u needs a number '%s'", i, key);
    return FALSE;
  }
  *out = (float) json_node_get_double (n);
  return TRUE;
}

/* The int array key of exactly n (1..max) entries into out; *n_out. */
static gboolean
get_ints (JsonObject *o, const char *key, int max, int *out, int *n_out,
    guint i, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  JsonArray *a
      = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  if (a == NULL || json_array_get_length (a) > (guint) max) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: op %u needs '%s', an array of at most %d integers", i, key,
        max);
    return FALSE;
  }
  for (guint j = 0; j < json_array_get_length (a); j++) {
    JsonNode *e = json_array_get_element (a, j);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < -1 || json_node_get_int (e) > G_MAXINT) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "graph: op %u '%s'[%u] is not an integer", i, key, j);
      return FALSE;
    }
    out[j] = (int) json_node_get_int (e);
  }
  *n_out = (int) json_array_get_length (a);
  return TRUE;
}

static int
find_name (const char *const *names, int n, const char *s)
{
  for (int k = 0; k < n; k++)
    if (g_strcmp0 (names[k], s) == 0)
      return k;
  return -1;
}

/* Op i of the JSON form into op (strings borrowed from o). */
static gboolean
parse_op (JsonObject *o, guint i, GraphOp *op, GError **error)
{
  int pads[2], n, type, act = 0;
  memset (op, 0, sizeof *op);
  type = find_name (type_names, GOP_N_TYPES,
      json_object_get_string_member_with_default (o, "op", ""));
  if (type < 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: op %u has an unknown type", i);
    return FALSE;
  }
  op->type = type;
  op->name
      = (char *) json_object_get_string_member_with_default (o, "name", "");
  if (!get_ints (o, "in", GRAPH_MAX_IN, op->in, &op->n_in, i, error)
      || !get_int (o, "k", &op->win.K, i, error)
      || !get_int (o, "stride", &op->win.stride, i, error)
      || !get_int (o, "dilation", &op->win.dilation, i, error)
      || !get_ints (o, "pads", 2, pads, &n, i, error)
      || !get_int (o, "group", &op->group, i, error)
      || !get_int (o, "out_channels", &op->OC, i, error)
      || !get_int (o, "in_features", &op->IN, i, error)
      || !get_float (o, "alpha", &op->alpha, i, error)
      || !get_float (o, "eps", &op->eps, i, error))
    return FALSE;
  if (n != 2) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_FORMAT, "graph: op %u needs 2 pads", i);
    return FALSE;
  }
  op->win.pad_l = pads[0];
  op->win.pad_r = pads[1];
  op->count_pad
      = json_object_get_boolean_member_with_default (o, "count_pad", FALSE);
  for (; act <= SD_ACT_ERF; act++)
    if (g_strcmp0 (sd_activation_name (act),
            json_object_get_string_member_with_default (o, "activation", ""))
        == 0)
      break;
  op->act = act;
  JsonNode *tn = json_object_get_member (o, "tensors");
  JsonArray *ta
      = tn && JSON_NODE_HOLDS_ARRAY (tn) ? json_node_get_array (tn) : NULL;
  if (ta == NULL || json_array_get_length (ta) != GRAPH_N_TENSORS) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: op %u needs 'tensors', %d names or nulls", i, GRAPH_N_TENSORS);
    return FALSE;
  }
  for (int s = 0; s < GRAPH_N_TENSORS; s++) {
    JsonNode *e = json_array_get_element (ta, s);
    if (JSON_NODE_HOLDS_NULL (e))
      continue;
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING
        || json_node_get_string (e)[0] == '\0') {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "graph: op %u tensor %d is not a name", i, s);
      return FALSE;
    }
    op->tensor[s] = (char *) json_node_get_string (e);
  }
  return TRUE;
}

SdGraph *
sd_graph_from_json (const char *json, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (SdGraph) g = sd_graph_new ();
  int logits;

  if (!sd_json_validate (json, error)) {
    g_prefix_error (error, "graph: ");
    return NULL;
  }
  if (!json_parser_load_from_data (parser, json, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "graph: not a JSON object");
    return NULL;
  }
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  JsonNode *on = json_object_get_member (o, "ops");
  if (on == NULL || !JSON_NODE_HOLDS_ARRAY (on)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "graph: no 'ops' array");
    return NULL;
  }
  JsonArray *ops = json_node_get_array (on);
  for (guint i = 0; i < json_array_get_length (ops); i++) {
    JsonNode *e = json_array_get_element (ops, i);
    GraphOp op;
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (
          error, SD_ERROR, SD_ERROR_FORMAT, "graph: op %u is not an object", i);
      return NULL;
    }
    if (!parse_op (json_node_get_object (e), i, &op, error)
        || sd_graph_add (g, &op, error) < 0)
      return NULL;
  }
  int output = find_name (output_names, G_N_ELEMENTS (output_names),
      json_object_get_string_member_with_default (o, "output", ""));
  if (output < 0 || !get_int (o, "logits", &logits, 0, error)) {
    g_clear_error (error);
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: needs 'output' (logits, softmax or log_softmax) and 'logits'");
    return NULL;
  }
  if (!sd_graph_set_logits (g, logits, output, error)) {
    g_prefix_error (error, "graph: ");
    return NULL;
  }
  JsonNode *an = json_object_get_member (o, "arch");
  JsonNode *tn = json_object_get_member (o, "train_batchnorm");
  if (an != NULL
      && (!JSON_NODE_HOLDS_VALUE (an)
          || json_node_get_value_type (an) != G_TYPE_STRING
          || json_node_get_string (an)[0] == '\0'
          || strlen (json_node_get_string (an)) >= sizeof ((SdArch *) 0)->name
          || !g_utf8_validate (json_node_get_string (an), -1, NULL))) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: 'arch' must be a name of 1 to %d bytes",
        (int) sizeof ((SdArch *) 0)->name - 1);
    return NULL;
  }
  if (tn != NULL
      && (!JSON_NODE_HOLDS_VALUE (tn)
          || json_node_get_value_type (tn) != G_TYPE_BOOLEAN)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "graph: 'train_batchnorm' must be true or false");
    return NULL;
  }
  g->arch_name = an ? g_strdup (json_node_get_string (an)) : NULL;
  g->train_bn = tn ? json_node_get_boolean (tn) : FALSE;
  return g_steal_pointer (&g);
}
