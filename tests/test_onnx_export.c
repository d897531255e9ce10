/* ONNX export round trip: every kind of model (the golden and shipped
 * preset models, fresh models of every preset and of an arch JSON, the
 * imported graphs of tests/data/onnx/) is written by sd_model_save_onnx
 * and read back by the ONNX reader. The re-imported model must keep the
 * labels, training length, rate, normalisation and input range, and give
 * the same logits and input gradients to 1e-5 relative (max abs
 * difference over the tensor / max abs reference) on raw series
 * normalised as each model says. Bad input: an unwritable path and an op
 * opset 13 cannot express are errors naming them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define REL_TOL 1e-5
#define B 3

static char *
data_path (const char *a, const char *b)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  return g_build_filename (dir ? dir : "tests/data", a, b, NULL);
}

static double
rel_error (const float *a, const float *ref, gsize n)
{
  double max_diff = 0, max_ref = 0;
  for (gsize i = 0; i < n; i++) {
    max_diff = MAX (max_diff, fabs ((double) a[i] - ref[i]));
    max_ref = MAX (max_ref, fabs ((double) ref[i]));
  }
  return max_diff / MAX (max_ref, 1e-12);
}

static void
assert_close (const char *what, const float *a, const float *ref, gsize n)
{
  const double rel = rel_error (a, ref, n);
  g_test_message ("%s: relative error %.3g", what, rel);
  if (!(rel <= REL_TOL))
    g_error ("%s: relative error %.3g > %g", what, rel, REL_TOL);
}

/* The length a model is run at: its training length, else 96 samples
 * (or its shortest input when longer). */
static int
test_length (const SdModel *m)
{
  const int T = (int) sd_model_get_train_length (m);
  return T > 0 ? T : MAX (96, sd_model_get_min_length (m));
}

/* Raw series away from zero mean and unit scale, so that every
 * normalisation changes them: 3 + 2 sin (..) plus a ramp, per row. */
static float *
raw_input (int T)
{
  float *x = g_new (float, (gsize) B *T);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      x[(gsize) b * T + t]
          = 3.0f + 2.0f * sinf (0.11f * t * (b + 1) + b) + 0.01f * t * (b - 1);
  return x;
}

/* logits (B,K) and the input gradient dx (B,T) of sum_k (k+1) logits_k,
 * with respect to the normalised input (what dreams follow). */
static void
run (SdModel *m, const float *raw, int T, float *logits, float *dx)
{
  g_autoptr (GError) error = NULL;
  const int K = sd_model_get_n_classes (m);
  g_autofree float *x = g_memdup2 (raw, (gsize) B * T * sizeof (float));
  sd_model_normalize_input (m, x, B, T);
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  const float *out = sd_model_forward (m, ws, x, B, T);
  g_assert_nonnull (out);
  memcpy (logits, out, (gsize) B * K * sizeof (float));
  g_autofree float *dl = g_new (float, (gsize) B *K);
  for (int i = 0; i < B * K; i++)
    dl[i] = (float) (i % K + 1);
  sd_model_backward (m, ws, dl, NULL, dx);
}

static void
round_trip (SdModel *m, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sd_model_save_onnx_to_bytes (m, &error);
  g_assert_no_error (error);
  g_autoptr (SdModel) r
      = sd_model_load_onnx_from_bytes (bytes, what, NULL, &error);
  g_assert_no_error (error);

  const int K = sd_model_get_n_classes (m), T = test_length (m);
  g_assert_cmpint (sd_model_get_n_classes (r), ==, K);
  for (int k = 0; k < K; k++)
    g_assert_cmpstr (
        sd_model_get_labels (r)[k], ==, sd_model_get_labels (m)[k]);
  g_assert_cmpuint (
      sd_model_get_train_length (r), ==, sd_model_get_train_length (m));
  g_assert_cmpfloat (
      sd_model_get_sample_rate (r), ==, sd_model_get_sample_rate (m));
  const SdNormalization nm = sd_model_get_normalization (m);
  const SdNormalization nr = sd_model_get_normalization (r);
  g_assert_cmpint (nr.mode, ==, nm.mode);
  if (nm.mode == SD_NORM_FIXED) {
    g_assert_cmpfloat (nr.mean, ==, nm.mean);
    g_assert_cmpfloat (nr.std, ==, nm.std);
  }
  float lo, hi, lo2, hi2;
  sd_model_get_input_range (m, &lo, &hi);
  sd_model_get_input_range (r, &lo2, &hi2);
  g_assert_true ((isinf (lo) && isinf (lo2)) || lo == lo2);
  g_assert_true ((isinf (hi) && isinf (hi2)) || hi == hi2);
  g_assert_cmpint (sd_model_get_min_length (r), <=, T);

  g_autofree float *x = raw_input (T);
  g_autofree float *l1 = g_new (float, B *K), *l2 = g_new (float, B *K);
  g_autofree float *d1 = g_new (float, (gsize) B *T);
  g_autofree float *d2 = g_new (float, (gsize) B *T);
  run (m, x, T, l1, d1);
  run (r, x, T, l2, d2);
  g_autofree char *w1 = g_strdup_printf ("%s logits (T %d)", what, T);
  g_autofree char *w2 = g_strdup_printf ("%s input gradient", what);
  assert_close (w1, l2, l1, (gsize) B * K);
  assert_close (w2, d2, d1, (gsize) B * T);

  /* the re-imported model exports again to the same logits (a graph
   * model's own path through the writer) */
  g_autoptr (GBytes) again = sd_model_save_onnx_to_bytes (r, &error);
  g_assert_no_error (error);
  g_autoptr (SdModel) r2
      = sd_model_load_onnx_from_bytes (again, what, NULL, &error);
  g_assert_no_error (error);
  run (r2, x, T, l2, d2);
  assert_close (w1, l2, l1, (gsize) B * K);
}

static void
test_file (gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (data, &error);
  g_assert_no_error (error);
  round_trip (m, data);
}

/* A fresh model of a preset or arch JSON, with BN statistics away from
 * 0/1 and a fixed normalisation, rate and training length. */
static void
test_arch (gconstpointer data)
{
  const char *name = data;
  g_autoptr (GError) error = NULL;
  SdArch arch;
  if (name[0] == '{')
    sd_arch_from_json (name, &arch, &error);
  else
    sd_arch_from_preset (name, 3, &arch, &error);
  g_assert_no_error (error);
  const char *labels[] = { "normal", "inner race", "outer,ball", NULL };
  g_autoptr (SdModel) m = sd_model_new (&arch, labels, 7, &error);
  g_assert_no_error (error);
  float *p = sd_model_get_params (m);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    const gboolean var = g_str_has_suffix (t->name, "running_var");
    for (gsize k = 0; !t->trainable && k < t->numel; k++)
      p[t->offset + k] = var ? 0.5f + 0.1f * (k % 7) : 0.05f * (k % 5) - 0.1f;
  }
  sd_model_set_normalization (
      m, (SdNormalization){ .mode = SD_NORM_FIXED, .mean = 3, .std = 2 });
  sd_model_set_sample_rate (m, 12000);
  sd_model_set_train_length (m, MAX (120, 2 * sd_model_get_min_length (m) + 3));
  sd_model_set_input_range (m, -2.5f, 3.25f);
  round_trip (m, name);
}

/* Sets "key" of every op of type op to v (an int, or a string when s). */
typedef struct
{
  const char *op, *key, *s;
  int v;
} OpEdit;

static const OpEdit dilate_avgpool[]
    = { { "avgpool", "dilation", NULL, 2 }, { NULL } };
/* ops an ONNX file reaches only through opset-20 Gelu and GlobalMaxPool */
static const OpEdit gelu_gmp[] = { { "activation", "activation", "Gelu", 0 },
  { "global_avgpool", "op", "global_maxpool", 0 }, { NULL } };

/* The imported tests/data/onnx/NAME.onnx, saved as a seqdream model file
 * with its graph (metadata "graph") edited, and loaded again: the graph
 * ops the committed ONNX files do not contain. */
static const OpEdit no_edit[] = { { NULL } };
/* tensor names that are also the names of values in the exported graph */
static const char *const clashing[]
    = { "onnx::Conv_53", "input", "onnx::Conv_54", "logits", "net.4.weight",
        "value.1", "net.4.bias", "normalized", NULL };

static const char *
renamed (const char *const *renames, const char *name)
{
  for (int i = 0; renames != NULL && renames[i] != NULL; i += 2)
    if (strcmp (renames[i], name) == 0)
      return renames[i + 1];
  return name;
}

static SdModel *
rewrite_graph (
    const char *name, const OpEdit *edits, const char *const *renames)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *file = g_strdup_printf ("%s.onnx", name);
  g_autofree char *onnx = data_path ("onnx", file);
  g_autoptr (SdModel) g = sd_model_load (onnx, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) saved = sd_model_save_to_bytes (g);
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (saved, "saved", &error);
  g_assert_no_error (error);
  g_autoptr (JsonParser) jp = json_parser_new ();
  g_assert_true (json_parser_load_from_data (
      jp, sd_safetensors_get_metadata (st, "graph"), -1, NULL));
  JsonArray *ops = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (jp)), "ops");
  for (const OpEdit *e = edits; e->op != NULL; e++) {
    int n = 0;
    for (guint i = 0; i < json_array_get_length (ops); i++) {
      JsonObject *op = json_array_get_object_element (ops, i);
      if (g_strcmp0 (json_object_get_string_member (op, "op"), e->op) != 0)
        continue;
      if (e->s != NULL)
        json_object_set_string_member (op, e->key, e->s);
      else
        json_object_set_int_member (op, e->key, e->v);
      n++;
    }
    g_assert_cmpint (n, >, 0);
  }
  for (guint i = 0; i < json_array_get_length (ops); i++) {
    JsonArray *ts = json_object_get_array_member (
        json_array_get_object_element (ops, i), "tensors");
    for (guint k = 0; ts != NULL && k < json_array_get_length (ts); k++) {
      JsonNode *e = json_array_get_element (ts, k);
      const char *t
          = JSON_NODE_HOLDS_VALUE (e) ? json_node_get_string (e) : NULL;
      if (t != NULL && renamed (renames, t) != t)
        json_node_set_string (e, renamed (renames, t));
    }
  }
  g_autofree char *graph = json_to_string (json_parser_get_root (jp), FALSE);
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autofree const char **keys = sd_safetensors_get_metadata_keys (st);
  for (int i = 0; keys[i] != NULL; i++)
    sd_safetensors_writer_add_metadata (w, keys[i],
        strcmp (keys[i], "graph") == 0
            ? graph
            : sd_safetensors_get_metadata (st, keys[i]));
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *t = sd_safetensors_get_nth (st, i);
    g_autofree float *v = g_new (float, t->numel);
    g_assert_true (
        sd_safetensors_copy_f32 (st, t, v, t->ndim, t->shape, FALSE, &error));
    sd_safetensors_writer_add_f32 (
        w, renamed (renames, t->name), v, t->ndim, t->shape);
  }
  g_autoptr (GBytes) bytes = sd_safetensors_writer_to_bytes (w);
  SdModel *m = sd_model_load_from_bytes (bytes, name, &error);
  g_assert_no_error (error);
  return m;
}

static void
test_gelu_gmp (void)
{
  g_autoptr (SdModel) m = rewrite_graph ("sequential", gelu_gmp, NULL);
  round_trip (m, "sequential with Gelu and GlobalMaxPool");
}

/* Tensors named "input", "logits", "value.1", "normalized": the writer
 * renames them, as one namespace holds values and initializers. */
static void
test_name_clash (void)
{
  g_autoptr (SdModel) m = rewrite_graph ("sequential", no_edit, clashing);
  g_assert_nonnull (sd_model_find_tensor (m, "logits"));
  sd_model_set_normalization (
      m, (SdNormalization){ .mode = SD_NORM_PER_SERIES });
  round_trip (m, "sequential with clashing tensor names");
}

/* tests/data/onnx/exported-*.onnx: what the writer wrote when they were
 * committed, byte for byte (a change to the format shows up here), and
 * they read back as their source models (normalisation included). */
static void
test_committed (void)
{
  static const char *const pairs[][2]
      = { { "exported-series.onnx", "attribution-series.model.safetensors" },
          { "exported-fixed.onnx", "attribution-fixed.model.safetensors" } };
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *onnx = data_path ("onnx", pairs[i][0]);
    g_autofree char *src = data_path ("golden", pairs[i][1]);
    g_autoptr (SdModel) m = sd_model_load (src, &error);
    g_assert_no_error (error);
    g_autoptr (GBytes) now = sd_model_save_onnx_to_bytes (m, &error);
    g_assert_no_error (error);
    g_autofree char *old = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (onnx, &old, &len, NULL));
    g_assert_cmpmem (
        old, len, g_bytes_get_data (now, NULL), g_bytes_get_size (now));
    g_autoptr (SdModel) r = sd_model_load (onnx, &error);
    g_assert_no_error (error);
    g_assert_cmpint (sd_model_get_normalization (r).mode, ==,
        sd_model_get_normalization (m).mode);
  }
}

static void
test_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = data_path ("golden", "fcn-tiny.model.safetensors");
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_false (
      sd_model_save_onnx (m, "/nonexistent-dir/model.onnx", &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "/nonexistent-dir/model.onnx"));
  g_clear_error (&error);

  /* AveragePool with a dilation (opset 19) cannot be written at opset
   * 13: the imported fcn-pool graph with its pooling dilated */
  g_autoptr (SdModel) dilated
      = rewrite_graph ("fcn-pool", dilate_avgpool, NULL);
  g_autoptr (GBytes) none = sd_model_save_onnx_to_bytes (dilated, &error);
  g_assert_null (none);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "AveragePool with dilation 2"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const char *const golden[]
      = { "fcn-small", "fcn-tiny", "pool", "resnet-identity", "resnet-narrow",
          "resnet-small", "attribution-fixed", "attribution-series" };
  static const char *const shipped[] = { "cwru-fcn-pool", "cwru-resnet-small",
    "forda-fcn-small", "forda-resnet-small" };
  static const char *const onnx[] = { "fcn-small", "fcn-pool", "resnet-small",
    "sequential", "fixed-length", "inceptiontime", "trained-3class" };
  for (guint i = 0; i < G_N_ELEMENTS (golden); i++) {
    g_autofree char *f = g_strdup_printf ("%s.model.safetensors", golden[i]);
    g_autofree char *t = g_strdup_printf ("/onnx-export/golden/%s", golden[i]);
    g_test_add_data_func_full (t, data_path ("golden", f), test_file, g_free);
  }
  for (guint i = 0; i < G_N_ELEMENTS (shipped); i++) {
    g_autofree char *f = g_strdup_printf ("%s.safetensors", shipped[i]);
    g_autofree char *t = g_strdup_printf ("/onnx-export/models/%s", shipped[i]);
    g_autofree char *models = data_path ("..", "../models");
    g_test_add_data_func_full (
        t, g_build_filename (models, f, NULL), test_file, g_free);
  }
  for (guint i = 0; i < G_N_ELEMENTS (onnx); i++) {
    g_autofree char *f = g_strdup_printf ("%s.onnx", onnx[i]);
    g_autofree char *t = g_strdup_printf ("/onnx-export/onnx/%s", onnx[i]);
    g_test_add_data_func_full (t, data_path ("onnx", f), test_file, g_free);
  }
  for (const char *const *p = sd_arch_list_presets (); *p != NULL; p++) {
    g_autofree char *t = g_strdup_printf ("/onnx-export/preset/%s", *p);
    g_test_add_data_func (t, *p, test_arch);
  }
  g_test_add_data_func ("/onnx-export/arch-json",
      "{\"name\": \"custom\", \"in_channels\": 1, \"num_classes\": 3, "
      "\"stages\": [{\"type\": \"conv\", \"channels\": [6], \"kernels\": [4], "
      "\"pool\": 2}, {\"type\": \"residual\", \"channels\": [5, 7], "
      "\"kernels\": [6, 1], \"pool\": 3}]}",
      test_arch);
  g_test_add_func ("/onnx-export/graph/gelu-gmp", test_gelu_gmp);
  g_test_add_func ("/onnx-export/graph/name-clash", test_name_clash);
  g_test_add_func ("/onnx-export/committed", test_committed);
  g_test_add_func ("/onnx-export/errors", test_errors);
  return g_test_run ();
}
