/* ONNX import against PyTorch: tests/onnx/make_onnx.py exported small
 * models (the presets, a plain Sequential, a fixed-length model,
 * InceptionTime) with PyTorch's logits and input gradients for a fixed
 * input (tests/data/onnx/). The imported model must reproduce both to
 * 1e-4 relative (max abs difference over the tensor / max abs reference),
 * survive a save and load as a seqdream model file bit for bit, and
 * reject what it cannot run with an error naming the node.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define REL_TOL 1e-4

static const char *const models[] = { "resnet-small", "fcn-small", "fcn-pool",
  "sequential", "fixed-length", "inceptiontime" };

static char *
data_path (const char *file)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  return g_build_filename (dir ? dir : "tests/data", "onnx", file, NULL);
}

typedef struct
{
  int B, T, K;
  float *x, *R, *logits, *dx;
} Golden;

static float *
read_floats (JsonObject *o, const char *key, gsize expect)
{
  JsonArray *a = json_object_get_array_member (o, key);
  g_assert_nonnull (a);
  if (expect)
    g_assert_cmpuint (json_array_get_length (a), ==, expect);
  float *v = g_new (float, json_array_get_length (a));
  for (guint i = 0; i < json_array_get_length (a); i++)
    v[i] = (float) json_array_get_double_element (a, i);
  return v;
}

static void
golden_load (const char *name, Golden *g)
{
  g_autofree char *file = g_strdup_printf ("%s.golden.json", name);
  g_autofree char *path = data_path (file);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (json_parser_load_from_file (p, path, &error));
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  g->B = (int) json_object_get_int_member (o, "B");
  g->T = (int) json_object_get_int_member (o, "T");
  g->K = (int) json_array_get_length (json_object_get_array_member (o, "R"))
         / g->B;
  g->x = read_floats (o, "x", (gsize) g->B * g->T);
  g->R = read_floats (o, "R", (gsize) g->B * g->K);
  g->logits = read_floats (o, "logits", (gsize) g->B * g->K);
  g->dx = read_floats (o, "dx", (gsize) g->B * g->T);
}

static void
golden_clear (Golden *g)
{
  g_free (g->x);
  g_free (g->R);
  g_free (g->logits);
  g_free (g->dx);
}

static void
assert_close (const char *what, const float *a, const float *ref, gsize n)
{
  double max_diff = 0, max_ref = 0;
  for (gsize i = 0; i < n; i++) {
    max_diff = MAX (max_diff, fabs ((double) a[i] - ref[i]));
    max_ref = MAX (max_ref, fabs ((double) ref[i]));
  }
  const double rel = max_diff / MAX (max_ref, 1e-12);
  g_test_message ("%s: relative error %.3g", what, rel);
  if (!(rel <= REL_TOL))
    g_error ("%s: relative error %.3g > %g (max diff %.3g, max ref %.3g)", what,
        rel, REL_TOL, max_diff, max_ref);
}

static SdModel *
load (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s.onnx", name);
  g_autofree char *path = data_path (file);
  g_autoptr (GError) error = NULL;
  SdModel *m = sd_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

/* logits and dx of model on g's input; with_grads: the parameter
 * backward (an SD_MODE_TRAIN workspace with a gradient array). */
static void
run (SdModel *m, const Golden *g, gboolean with_grads, float *logits, float *dx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdWorkspace) ws = sd_workspace_new (
      m, g->B, g->T, with_grads ? SD_MODE_TRAIN : SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  g_autofree float *grads
      = with_grads ? g_new0 (float, sd_model_get_n_params (m)) : NULL;
  const float *out = sd_model_forward (m, ws, g->x, g->B, g->T);
  g_assert_nonnull (out);
  memcpy (logits, out, (gsize) g->B * g->K * sizeof (float));
  sd_model_backward (m, ws, g->R, grads, dx);
}

static void
test_golden (gconstpointer data)
{
  const char *name = data;
  Golden g;
  golden_load (name, &g);
  g_autoptr (SdModel) m = load (name);
  g_assert_cmpint (sd_model_get_n_classes (m), ==, g.K);
  g_assert_cmpint (sd_model_get_normalization (m).mode, ==, SD_NORM_NONE);
  g_autofree float *logits = g_new (float, g.B *g.K);
  g_autofree float *dx = g_new (float, g.B *g.T);
  for (int with_grads = 0; with_grads < 2; with_grads++) {
    g_autofree char *w1 = g_strdup_printf (
        "%s logits%s", name, with_grads ? " (parameter backward)" : "");
    g_autofree char *w2 = g_strdup_printf (
        "%s dx%s", name, with_grads ? " (parameter backward)" : "");
    run (m, &g, with_grads, logits, dx);
    assert_close (w1, logits, g.logits, (gsize) g.B * g.K);
    assert_close (w2, dx, g.dx, (gsize) g.B * g.T);
  }

  /* as a seqdream model file: the same graph and parameters */
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
  g_autoptr (SdModel) m2 = sd_model_load_from_bytes (bytes, "saved", &error);
  g_assert_no_error (error);
  g_autofree float *logits2 = g_new (float, g.B *g.K);
  g_autofree float *dx2 = g_new (float, g.B *g.T);
  run (m2, &g, FALSE, logits2, dx2);
  g_assert_cmpmem (logits, g.B * g.K * 4, logits2, g.B * g.K * 4);
  g_assert_cmpint (
      sd_model_get_min_length (m2), ==, sd_model_get_min_length (m));
  golden_clear (&g);
}

static void
assert_rejects (
    const char *bytes, gsize len, const char *name, const char *expect)
{
  g_autoptr (GBytes) b = g_bytes_new (bytes, len);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load_from_bytes (b, name, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  if (strstr (error->message, expect) == NULL)
    g_error ("'%s' does not mention '%s'", error->message, expect);
}

static void
test_errors (void)
{
  g_autofree char *path = data_path ("unsupported.onnx");
  g_autofree char *good = data_path ("sequential.onnx");
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) error = NULL;

  /* an op outside the list: the node, the op and the supported ops */
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  g_assert_null (m);
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "op 'Abs' is not supported"));
  g_assert_nonnull (strstr (error->message, "/Abs"));
  g_assert_nonnull (strstr (error->message, "GlobalAveragePool"));
  g_clear_error (&error);

  g_assert_null (sd_model_load ("no-such-file.onnx", &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_IO);
  g_clear_error (&error);

  assert_rejects ("\xff\xff\xff", 3, "x.onnx", "does not decode");
  assert_rejects ("", 0, "x.onnx", "no graph");
  /* every truncation of a good file is rejected or loads; never a crash
   * (the last bytes are the graph output, so a cut file loses it) */
  g_assert_true (g_file_get_contents (good, &data, &len, NULL));
  for (gsize cut = 1; cut < 64; cut++) {
    g_autoptr (GBytes) b = g_bytes_new (data, len - cut);
    g_autoptr (SdModel) t = sd_model_load_from_bytes (b, "cut.onnx", &error);
    g_assert_true (t == NULL ? error != NULL : error == NULL);
    g_clear_error (&error);
  }

  /* labels must match the classes */
  static const char *const two[] = { "a", "b", NULL };
  SdOnnxOptions opts = { .labels = two };
  g_assert_null (sd_model_load_onnx (good, &opts, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "2 labels given for 3 classes"));
  g_clear_error (&error);
  static const char *const three[] = { "a", "b", "c", NULL };
  opts.labels = three;
  opts.sample_rate = 100;
  opts.use_norm = TRUE;
  opts.norm = (SdNormalization){ SD_NORM_FIXED, 1.5f, 2.0f };
  g_autoptr (SdModel) ok = sd_model_load_onnx (good, &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_model_get_labels (ok)[2], ==, "c");
  g_assert_cmpfloat (sd_model_get_sample_rate (ok), ==, 100);
  g_assert_cmpfloat (sd_model_get_normalization (ok).std, ==, 2.0f);
}

/* A file whose initializers are finite but fold into a non-finite
 * parameter (a Gemm bias that overflows float when imported; found by
 * fuzz_onnx, kept in its corpus) is refused with the tensor, the index
 * and the value named, not loaded as a model that cannot be saved. */
static void
test_nonfinite_after_import (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_autofree char *path
      = g_build_filename (dir ? dir : "tests/data", "..", "..", "fuzz",
          "regressions", "fuzz_onnx", "gemm-bias-overflow.onnx", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  g_assert_null (m);
  g_assert_error (error, SD_ERROR, SD_ERROR_NONFINITE);
  g_assert_nonnull (strstr (error->message, "/fc/Gemm.bias"));
  g_assert_nonnull (strstr (error->message, "flat index 0 is +Inf"));
  g_assert_nonnull (strstr (error->message, "after import"));
}

/* The fixed-length model takes the lengths that give its dense layer the
 * features it was exported with, no shorter. */
static void
test_fixed_length (void)
{
  g_autoptr (SdModel) m = load ("fixed-length");
  g_autoptr (GError) error = NULL;
  g_assert_cmpuint (sd_model_get_train_length (m), ==, 48);
  /* conv k5 s2 then pooling by 2: 47 and 48 samples both give 11 */
  g_assert_cmpint (sd_model_get_min_length (m), ==, 47);
  g_autofree char *desc = sd_model_describe_graph (m);
  g_assert_nonnull (strstr (desc, "LogSoftmax"));
  g_assert_nonnull (strstr (desc, "flatten"));
}

/* An imported model's stage layers: its ReLU, LeakyRelu and Elu outputs
 * (not the erf inside its exported GELU, nor the sigmoid gate), at the
 * lengths its strides and pooling give, also read through an ensemble,
 * whose layers are its first member's. */
static void
test_stage_layers (void)
{
  g_autoptr (SdModel) m = load ("sequential");
  g_autoptr (SdModel) m2 = load ("sequential");
  g_assert_cmpint (sd_model_get_n_stage_layers (m), ==, 3);
  g_assert_cmpint (sd_model_find_layer (m, "gap"), ==, 3);
  g_assert_cmpint (sd_model_find_layer (m, "stages.3"), ==, -1);
  SdModel *pair[2] = { m, m2 };
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) e = sd_model_new_ensemble (pair, 2, &error);
  g_assert_no_error (error);
  const int B = 2, T = 64;
  const int want[3] = { 32, 16, 14 }; /* stride 2; maxpool 2; k3 unpadded */
  float x[2 * 64];
  for (int i = 0; i < B * T; i++)
    x[i] = sinf (0.3f * i) + 0.1f * (i % 7);
  SdModel *both[2] = { m, e };
  for (int k = 0; k < 2; k++) {
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (both[k], B, T, SD_MODE_EVAL, &error);
    g_assert_no_error (error);
    sd_model_forward (both[k], ws, x, B, T);
    for (int l = 0; l < 3; l++) {
      int C, L;
      g_assert_nonnull (sd_workspace_get_layer_output (ws, l, &C, &L));
      g_assert_cmpint (L, ==, want[l]);
      g_assert_cmpint (sd_model_get_layer_length (both[k], l, T), ==, L);
      g_assert_cmpint (C, ==, l == 0 ? 8 : 16);
    }
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (models); i++) {
    g_autofree char *path = g_strdup_printf ("/onnx/golden/%s", models[i]);
    g_test_add_data_func (path, models[i], test_golden);
  }
  g_test_add_func ("/onnx/errors", test_errors);
  g_test_add_func ("/onnx/stage-layers", test_stage_layers);
  g_test_add_func ("/onnx/fixed-length", test_fixed_length);
  g_test_add_func ("/onnx/nonfinite-after-import", test_nonfinite_after_import);
  return g_test_run ();
}
