/* Architectures as data: presets and the JSON form stored in model files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/arch.h"
#include "seqdream/error.h"
#include "json-strict.h"

#include <json-glib/json-glib.h>
#include <string.h>

static const char *const preset_names[] = { "resnet-small", "resnet", "fcn",
  "fcn-small", "fcn-pool", "inception", "inception-small", NULL };

const char *const *
sd_arch_list_presets (void)
{
  return preset_names;
}

static void
arch_init (SdArch *arch, const char *name, int n_classes)
{
  const char *valid_end;

  memset (arch, 0, sizeof *arch);
  g_strlcpy (arch->name, name, sizeof arch->name);
  /* A long name is cut at a character boundary: cut inside a UTF-8
   * sequence it could not be written to a model file again. */
  if (!g_utf8_validate (arch->name, -1, &valid_end))
    arch->name[valid_end - arch->name] = '\0';
  arch->in_channels = 1;
  arch->n_classes = n_classes;
  arch->bn_eps = 1e-5f;
  arch->bn_momentum = 0.1f;
}

static void
arch_add_conv (SdArch *arch, int channels, int kernel)
{
  SdStage *s = &arch->stages[arch->n_stages++];
  s->type = SD_STAGE_CONV;
  s->n_convs = 1;
  s->channels[0] = channels;
  s->kernels[0] = kernel;
}

static void
arch_add_conv_pool (SdArch *arch, int channels, int kernel, int pool)
{
  arch_add_conv (arch, channels, kernel);
  arch->stages[arch->n_stages - 1].pool = pool;
}

static void
arch_add_residual (SdArch *arch, int channels, const int *kernels, int n)
{
  SdStage *s = &arch->stages[arch->n_stages++];
  s->type = SD_STAGE_RESIDUAL;
  s->n_convs = n;
  for (int i = 0; i < n; i++) {
    s->channels[i] = channels;
    s->kernels[i] = kernels[i];
  }
}

gboolean
sd_arch_from_preset (
    const char *name, int n_classes, SdArch *arch, GError **error)
{
  static const int res_kernels[] = { 5, 3, 1 };
  static const int wang_kernels[] = { 8, 5, 3 };

  if (n_classes < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "a classifier needs at least 2 classes, got %d", n_classes);
    return FALSE;
  }
  arch_init (arch, name, n_classes);
  if (g_strcmp0 (name, "resnet-small") == 0) {
    /* The classifier of the Sequence Dreaming paper: 3 residual blocks of
     * 10, 20, 20 channels, kernels 5, 3, 1 (Wang et al. 2017, narrowed). */
    arch_add_residual (arch, 10, res_kernels, 3);
    arch_add_residual (arch, 20, res_kernels, 3);
    arch_add_residual (arch, 20, res_kernels, 3);
  } else if (g_strcmp0 (name, "resnet") == 0) {
    /* Wang et al. 2017 ResNet: 3 residual blocks of 64, 128, 128 filters,
     * kernels 8, 5, 3 (about 500 k parameters). */
    arch_add_residual (arch, 64, wang_kernels, 3);
    arch_add_residual (arch, 128, wang_kernels, 3);
    arch_add_residual (arch, 128, wang_kernels, 3);
  } else if (g_strcmp0 (name, "fcn") == 0) {
    /* Wang et al. 2017 FCN: 128, 256, 128 filters, kernels 8, 5, 3. */
    arch_add_conv (arch, 128, 8);
    arch_add_conv (arch, 256, 5);
    arch_add_conv (arch, 128, 3);
  } else if (g_strcmp0 (name, "fcn-small") == 0) {
    /* The Keras FordA example: 3 x 64 filters of kernel 3. */
    arch_add_conv (arch, 64, 3);
    arch_add_conv (arch, 64, 3);
    arch_add_conv (arch, 64, 3);
  } else if (g_strcmp0 (name, "fcn-pool") == 0) {
    /* For raw vibration at tens of kHz: conv + ReLU + average pooling is
     * band-pass, rectification and low-pass, i.e. envelope demodulation,
     * and the pooling (4 x 4 x 4 x 2 = 128) lets the later layers see
     * 982 samples (20 ms at 48 kHz: several bearing-defect periods) at a
     * fraction of the cost of full-rate layers. */
    arch_add_conv_pool (arch, 16, 7, 4);
    arch_add_conv_pool (arch, 32, 5, 4);
    arch_add_conv_pool (arch, 32, 5, 4);
    arch_add_conv_pool (arch, 32, 5, 2);
    arch_add_conv (arch, 32, 5);
  } else if (g_strcmp0 (name, "inception") == 0
             || g_strcmp0 (name, "inception-small") == 0) {
    /* InceptionTime (Ismail Fawaz et al. 2020) with 32 filters per branch
     * (the paper's) or 16: an op graph, not a stage list; sd_model_new
     * builds it from the name (sd_model_new_inception). */
  } else {
    g_autofree char *list = g_strjoinv (", ", (char **) preset_names);
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown architecture '%s' (known: %s)", name, list);
    return FALSE;
  }
  return TRUE;
}

static gboolean
get_int_member (
    JsonObject *o, const char *key, int lo, int hi, int *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_INT64) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_FORMAT, "arch: '%s' must be an integer", key);
    return FALSE;
  }
  gint64 v = json_node_get_int (n);
  if (v < lo || v > hi) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "arch: '%s' = %" G_GINT64_FORMAT " is outside [%d, %d]", key, v, lo,
        hi);
    return FALSE;
  }
  *out = (int) v;
  return TRUE;
}

static gboolean
get_int_array (JsonObject *o, const char *key, int lo, int hi, int *out,
    int max_n, int *n_out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "arch: stage '%s' must be an array of integers", key);
    return FALSE;
  }
  JsonArray *a = json_node_get_array (n);
  guint len = json_array_get_length (a);
  if (len < 1 || (int) len > max_n) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "arch: stage '%s' has %u entries, expected 1 to %d", key, len, max_n);
    return FALSE;
  }
  for (guint i = 0; i < len; i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (json_node_get_value_type (e) != G_TYPE_INT64) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: stage '%s'[%u] is not an integer", key, i);
      return FALSE;
    }
    gint64 v = json_node_get_int (e);
    if (v < lo || v > hi) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: stage '%s'[%u] = %" G_GINT64_FORMAT " is outside [%d, %d]",
          key, i, v, lo, hi);
      return FALSE;
    }
    out[i] = (int) v;
  }
  *n_out = (int) len;
  return TRUE;
}

static gboolean
get_float_member (JsonObject *o, const char *key, float def, float lo, float hi,
    float *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL) {
    *out = def;
    return TRUE;
  }
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_FORMAT, "arch: '%s' must be a number", key);
    return FALSE;
  }
  double v = json_node_get_double (n);
  if (!(v >= lo && v <= hi)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "arch: '%s' = %g is outside [%g, %g]", key, v, lo, hi);
    return FALSE;
  }
  *out = (float) v;
  return TRUE;
}

/* Limits keep a hostile file from asking for absurd allocations. */
#define MAX_KERNEL 1024
#define MAX_POOL 1024

gboolean
sd_arch_from_json (const char *json, SdArch *arch, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *local = NULL;

  if (!sd_json_validate (json, error)) {
    g_prefix_error (error, "arch: ");
    return FALSE;
  }
  if (!json_parser_load_from_data (parser, json, -1, &local)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "arch: invalid JSON: %s",
        local->message);
    g_clear_error (&local);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error_literal (
        error, SD_ERROR, SD_ERROR_FORMAT, "arch: not a JSON object");
    return FALSE;
  }
  JsonObject *o = json_node_get_object (root);
  const char *name
      = json_object_get_string_member_with_default (o, "name", "custom");
  int n_classes, in_channels;
  if (!get_int_member (o, "num_classes", 2, 100000, &n_classes, error)
      || !get_int_member (o, "in_channels", 1, 1, &in_channels, error))
    return FALSE;
  arch_init (arch, name, n_classes);
  arch->in_channels = in_channels;
  if (!get_float_member (o, "bn_eps", 1e-5f, 1e-12f, 1.0f, &arch->bn_eps, error)
      || !get_float_member (
          o, "bn_momentum", 0.1f, 0.0f, 1.0f, &arch->bn_momentum, error))
    return FALSE;

  JsonNode *sn = json_object_get_member (o, "stages");
  if (sn == NULL || !JSON_NODE_HOLDS_ARRAY (sn)) {
    g_set_error_literal (
        error, SD_ERROR, SD_ERROR_FORMAT, "arch: 'stages' must be an array");
    return FALSE;
  }
  JsonArray *stages = json_node_get_array (sn);
  guint n_stages = json_array_get_length (stages);
  if (n_stages < 1 || n_stages > SD_MAX_STAGES) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "arch: %u stages, expected 1 to %d", n_stages, SD_MAX_STAGES);
    return FALSE;
  }
  for (guint i = 0; i < n_stages; i++) {
    JsonNode *e = json_array_get_element (stages, i);
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: stage %u is not an object", i);
      return FALSE;
    }
    JsonObject *so = json_node_get_object (e);
    const char *type
        = json_object_get_string_member_with_default (so, "type", "");
    SdStage *s = &arch->stages[i];
    int nc, nk;
    if (g_strcmp0 (type, "conv") == 0)
      s->type = SD_STAGE_CONV;
    else if (g_strcmp0 (type, "residual") == 0)
      s->type = SD_STAGE_RESIDUAL;
    else {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: stage %u has unknown type '%s' (conv or residual)", i, type);
      return FALSE;
    }
    if (!get_int_array (so, "channels", 1, SD_MAX_CHANNELS, s->channels,
            SD_MAX_STAGE_CONVS, &nc, error)
        || !get_int_array (so, "kernels", 1, MAX_KERNEL, s->kernels,
            SD_MAX_STAGE_CONVS, &nk, error))
      return FALSE;
    if (nc != nk) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: stage %u has %d channel counts but %d kernels", i, nc, nk);
      return FALSE;
    }
    if (s->type == SD_STAGE_CONV && nc != 1) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "arch: conv stage %u must have exactly one conv, has %d", i, nc);
      return FALSE;
    }
    s->n_convs = nc;
    s->pool = 1;
    JsonNode *pn = json_object_get_member (so, "pool");
    if (pn != NULL) {
      if (json_node_get_value_type (pn) != G_TYPE_INT64
          || json_node_get_int (pn) < 1 || json_node_get_int (pn) > MAX_POOL) {
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "arch: stage %u 'pool' must be an integer from 1 to %d", i,
            MAX_POOL);
        return FALSE;
      }
      s->pool = (int) json_node_get_int (pn);
    }
  }
  arch->n_stages = (int) n_stages;
  return TRUE;
}

char *
sd_arch_to_json (const SdArch *arch)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, arch->name);
  json_builder_set_member_name (b, "in_channels");
  json_builder_add_int_value (b, arch->in_channels);
  json_builder_set_member_name (b, "num_classes");
  json_builder_add_int_value (b, arch->n_classes);
  json_builder_set_member_name (b, "bn_eps");
  json_builder_add_double_value (b, arch->bn_eps);
  json_builder_set_member_name (b, "bn_momentum");
  json_builder_add_double_value (b, arch->bn_momentum);
  json_builder_set_member_name (b, "stages");
  json_builder_begin_array (b);
  for (int i = 0; i < arch->n_stages; i++) {
    const SdStage *s = &arch->stages[i];
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "type");
    json_builder_add_string_value (
        b, s->type == SD_STAGE_CONV ? "conv" : "residual");
    json_builder_set_member_name (b, "channels");
    json_builder_begin_array (b);
    for (int j = 0; j < s->n_convs; j++)
      json_builder_add_int_value (b, s->channels[j]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "kernels");
    json_builder_begin_array (b);
    for (int j = 0; j < s->n_convs; j++)
      json_builder_add_int_value (b, s->kernels[j]);
    json_builder_end_array (b);
    if (s->pool > 1) {
      /* Written only when there is pooling: files without it stay as
       * they were. */
      json_builder_set_member_name (b, "pool");
      json_builder_add_int_value (b, s->pool);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);

  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}
