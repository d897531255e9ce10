/* Golden tests against PyTorch: tests/golden/make_golden.py dumped small
 * models and, for a fixed input, PyTorch's logits, input gradients,
 * parameter gradients and updated BN statistics (tests/data/golden/).
 * The C implementation must reproduce every one of them to 1e-4 relative
 * (max abs difference over the tensor / max abs reference value).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define REL_TOL 1e-4

static const char *golden_names[] = { "resnet-small", "resnet-narrow",
  "fcn-small", "fcn-tiny", "resnet-identity", "pool" };

static float *
ref_tensor (SdSafetensors *st, const char *name, gsize expect_numel)
{
  const SdTensorView *v = sd_safetensors_get (st, name);
  if (v == NULL)
    g_error ("%s: reference tensor '%s' missing",
        sd_safetensors_get_display_name (st), name);
  g_assert_cmpint (v->numel, ==, (gint64) expect_numel);
  float *d = g_new (float, v->numel);
  g_autoptr (GError) error = NULL;
  g_assert_true (sd_safetensors_copy_f32 (st, v, d, -1, NULL, TRUE, &error));
  return d;
}

/* max |a - ref| / max (max |ref|, floor) <= REL_TOL. The floor is used for
 * parameter gradients (tests/golden/README.md): some, such as the 1x1
 * shortcut of a one-channel input followed by train-mode BN, are sums of
 * O(0.1) terms that cancel to O(1e-4), where float32 rounding is relative
 * to the terms, not to the result. */
static void
assert_close_floor (
    const char *what, const float *a, const float *ref, gsize n, double floor)
{
  double max_diff = 0, max_ref = 0;
  for (gsize i = 0; i < n; i++) {
    max_diff = MAX (max_diff, fabs ((double) a[i] - ref[i]));
    max_ref = MAX (max_ref, fabs ((double) ref[i]));
  }
  double rel = max_diff / MAX (MAX (max_ref, floor), 1e-12);
  g_test_message (
      "%s: max |c - torch| = %.3g, relative %.3g", what, max_diff, rel);
  if (!(rel <= REL_TOL))
    g_error ("%s: relative error %.3g > %g (max diff %.3g, max ref %.3g)", what,
        rel, REL_TOL, max_diff, max_ref);
}

static void
assert_close (const char *what, const float *a, const float *ref, gsize n)
{
  assert_close_floor (what, a, ref, n, 0.0);
}

/* Every parameter gradient of `mode` and, in train mode, the running
 * statistics after the forward. */
static void
check_param_tensors (
    SdModel *m, SdSafetensors *ref, const char *mode, const float *grads)
{
  gboolean train = strcmp (mode, "train") == 0;
  double gmax = 0;
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (!t->trainable)
      continue;
    g_autofree char *key = g_strdup_printf ("%s.grad.%s", mode, t->name);
    g_autofree float *r = ref_tensor (ref, key, t->numel);
    for (gsize k = 0; k < t->numel; k++)
      gmax = MAX (gmax, fabs (r[k]));
  }
  guint checked = 0;
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (!t->trainable && !train)
      continue;
    g_autofree char *key = g_strdup_printf (
        "%s.%s.%s", mode, t->trainable ? "grad" : "after", t->name);
    g_autofree float *r = ref_tensor (ref, key, t->numel);
    const float *mine = t->trainable ? grads + t->offset
                                     : sd_model_get_params (m) + t->offset;
    assert_close_floor (
        key, mine, r, t->numel, t->trainable ? 1e-2 * gmax : 0.0);
    checked++;
  }
  g_assert_cmpuint (checked, >, 0);
}

/* m against the reference ref: eval and train passes. */
static void
check_model (SdModel *m, SdSafetensors *ref)
{
  g_autoptr (GError) error = NULL;
  const SdTensorView *in = sd_safetensors_get (ref, "input");
  g_assert_nonnull (in);
  g_assert_cmpint (in->ndim, ==, 2);
  const int B = (int) in->shape[0], T = (int) in->shape[1];
  const int K = sd_model_get_n_classes (m);
  g_autofree float *x = ref_tensor (ref, "input", (gsize) B * T);
  g_autofree float *ylab = ref_tensor (ref, "labels", B);
  g_autofree int *y = g_new (int, B);
  for (int b = 0; b < B; b++)
    y[b] = (int) ylab[b];

  /* Eval mode: logits and the input gradient of sum(logits * R). */
  {
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
    g_autofree float *R = ref_tensor (ref, "eval.R", (gsize) B * K);
    g_autofree float *logits = ref_tensor (ref, "eval.logits", (gsize) B * K);
    g_autofree float *dxr = ref_tensor (ref, "eval.dx", (gsize) B * T);
    g_autofree float *dx = g_new (float, (gsize) B *T);
    const float *l = sd_model_forward (m, ws, x, B, T);
    assert_close ("eval.logits", l, logits, (gsize) B * K);
    sd_model_backward (m, ws, R, NULL, dx);
    assert_close ("eval.dx", dx, dxr, (gsize) B * T);
  }

  /* Train mode: batch statistics, mean cross-entropy, every gradient, and
   * the running statistics after one forward. */
  {
    gsize NP = sd_model_get_n_params (m);
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (m, B, T, SD_MODE_TRAIN, &error);
    g_autofree float *logits = ref_tensor (ref, "train.logits", (gsize) B * K);
    g_autofree float *loss = ref_tensor (ref, "train.loss", 1);
    g_autofree float *dxr = ref_tensor (ref, "train.dx", (gsize) B * T);
    g_autofree float *dx = g_new (float, (gsize) B *T);
    g_autofree float *probs = g_new (float, (gsize) B *K);
    g_autofree float *dl = g_new (float, (gsize) B *K);
    g_autofree float *grads = g_new0 (float, NP);

    const float *l = sd_model_forward (m, ws, x, B, T);
    assert_close ("train.logits", l, logits, (gsize) B * K);
    sd_softmax_forward (probs, l, B, K);
    float c_loss = sd_crossentropy_forward_backward (dl, probs, y, B, K);
    assert_close ("train.loss", &c_loss, loss, 1);
    sd_model_backward (m, ws, dl, grads, dx);
    assert_close ("train.dx", dx, dxr, (gsize) B * T);

    check_param_tensors (m, ref, "train", grads);
  }
}

static void
test_golden (gconstpointer data)
{
  const char *name = data;
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_assert_nonnull (dir);
  g_autofree char *mfile
      = g_strdup_printf ("%s/golden/%s.model.safetensors", dir, name);
  g_autofree char *rfile
      = g_strdup_printf ("%s/golden/%s.ref.safetensors", dir, name);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (mfile, &error);
  g_assert_no_error (error);
  g_autoptr (SdSafetensors) ref = sd_safetensors_open (rfile, &error);
  g_assert_no_error (error);
  check_model (m, ref);
}

/* InceptionTime is built by sd_model_new_inception, not read from a file:
 * the reference carries torch's state_dict ("param.<name>"), copied into
 * the C model by name. Every tensor of the C model must be there with its
 * shape, and every one of the reference must be used, so the preset's ops
 * and names are those of examples/export_pytorch.py's InceptionTime. */
static void
test_golden_inception (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_assert_nonnull (dir);
  g_autofree char *rfile
      = g_strdup_printf ("%s/golden/inception-4.ref.safetensors", dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdSafetensors) ref = sd_safetensors_open (rfile, &error);
  g_assert_no_error (error);
  const int nf = atoi (sd_safetensors_get_metadata (ref, "filters"));
  const int K = atoi (sd_safetensors_get_metadata (ref, "num_classes"));
  const char *const labels[] = { "c0", "c1", "c2", NULL };
  g_assert_cmpint (K, ==, 3);
  g_autoptr (SdModel) m = sd_model_new_inception (nf, K, labels, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_model_get_arch (m)->name, ==, "inception-4");
  float *P = sd_model_get_params (m);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    g_autofree char *key = g_strconcat ("param.", t->name, NULL);
    const SdTensorView *v = sd_safetensors_get (ref, key);
    if (v == NULL)
      g_error ("the C model has '%s', torch's state_dict has not", t->name);
    g_assert_cmpint (v->ndim, ==, t->ndim);
    for (int d = 0; d < t->ndim; d++)
      g_assert_cmpint (v->shape[d], ==, t->shape[d]);
    g_autofree float *r = ref_tensor (ref, key, t->numel);
    memcpy (P + t->offset, r, t->numel * sizeof (float));
  }
  guint n_ref = 0;
  for (guint i = 0; i < sd_safetensors_get_n_tensors (ref); i++)
    n_ref += g_str_has_prefix (sd_safetensors_get_nth (ref, i)->name, "param.");
  g_assert_cmpuint (n_ref, ==, sd_model_get_n_tensors (m));
  check_model (m, ref);
}

/* The presets' sizes are torch's (metadata "preset_params" of the
 * inception reference), and a preset model survives a save and a load:
 * its architecture name, its graph and, since it trains its batch norms,
 * the batch statistics of a training workspace. */
static void
test_preset_inception (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_autofree char *rfile
      = g_strdup_printf ("%s/golden/inception-4.ref.safetensors", dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdSafetensors) ref = sd_safetensors_open (rfile, &error);
  g_assert_no_error (error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (
      parser, sd_safetensors_get_metadata (ref, "preset_params"), -1, &error));
  JsonObject *counts = json_node_get_object (json_parser_get_root (parser));
  const char *const labels[] = { "a", "b", NULL };
  for (const char *const *p
       = (const char *const[]){ "inception", "inception-small", NULL };
       *p; p++) {
    SdArch arch;
    g_assert_true (sd_arch_from_preset (*p, 2, &arch, &error));
    g_autoptr (SdModel) m = sd_model_new (&arch, labels, 1, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (sd_model_get_arch (m)->name, ==, *p);
    g_assert_cmpuint (sd_model_get_n_trainable (m), ==,
        json_object_get_int_member (counts, *p));

    g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
    g_autoptr (SdModel) m2 = sd_model_load_from_bytes (bytes, "mem", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (sd_model_get_arch (m2)->name, ==, *p);
    g_assert_cmpuint (
        sd_model_get_n_params (m2), ==, sd_model_get_n_params (m));
    /* a training forward moves the running statistics of the loaded
     * model (an imported graph's would stay) */
    const SdParamInfo *rm
        = sd_model_find_tensor (m2, "blocks.0.bn.running_mean");
    g_assert_nonnull (rm);
    const float before = sd_model_get_params (m2)[rm->offset];
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (m2, 2, 50, SD_MODE_TRAIN, &error);
    g_assert_no_error (error);
    float x[100];
    for (int i = 0; i < 100; i++)
      x[i] = sinf (0.3f * i) + 0.5f;
    g_assert_nonnull (sd_model_forward (m2, ws, x, 2, 50));
    g_assert_cmpfloat (sd_model_get_params (m2)[rm->offset], !=, before);
  }
}

/* The resnet preset (500 k parameters) is checked on resnet-narrow, its
 * stage list with a eighth of the channels; its reference carries the full
 * preset as PyTorch builds it (metadata "preset_arch"), which must be what
 * sd_arch_from_preset makes, stage by stage. */
static void
test_preset_resnet (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_assert_nonnull (dir);
  g_autofree char *rfile
      = g_strdup_printf ("%s/golden/resnet-narrow.ref.safetensors", dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdSafetensors) ref = sd_safetensors_open (rfile, &error);
  g_assert_no_error (error);
  const char *json = sd_safetensors_get_metadata (ref, "preset_arch");
  g_assert_nonnull (json);
  SdArch torch_arch, c_arch;
  g_assert_true (sd_arch_from_json (json, &torch_arch, &error));
  g_assert_no_error (error);
  g_assert_true (
      sd_arch_from_preset ("resnet", torch_arch.n_classes, &c_arch, &error));
  g_assert_cmpstr (c_arch.name, ==, torch_arch.name);
  g_assert_cmpint (c_arch.n_stages, ==, 3);
  g_assert_cmpint (c_arch.n_stages, ==, torch_arch.n_stages);
  for (int i = 0; i < c_arch.n_stages; i++) {
    const SdStage *a = &c_arch.stages[i], *b = &torch_arch.stages[i];
    g_assert_cmpint (a->type, ==, SD_STAGE_RESIDUAL);
    g_assert_cmpint (a->type, ==, b->type);
    g_assert_cmpint (a->n_convs, ==, b->n_convs);
    g_assert_cmpint (MAX (a->pool, 1), ==, MAX (b->pool, 1));
    for (int j = 0; j < a->n_convs; j++) {
      g_assert_cmpint (a->channels[j], ==, b->channels[j]);
      g_assert_cmpint (a->kernels[j], ==, b->kernels[j]);
    }
  }
  /* The same parameter count as torch's model of the preset (502,979
   * with 3 classes: Wang et al.'s "about 500 k"). */
  const char *const labels[] = { "a", "b", "c", NULL };
  g_assert_cmpint (c_arch.n_classes, ==, 3);
  g_autoptr (SdModel) m = sd_model_new (&c_arch, labels, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sd_model_get_n_trainable (m), ==, 502979);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (golden_names); i++) {
    g_autofree char *path = g_strdup_printf ("/golden/%s", golden_names[i]);
    g_test_add_data_func (path, golden_names[i], test_golden);
  }
  g_test_add_func ("/golden/preset-resnet", test_preset_resnet);
  g_test_add_func ("/golden/inception", test_golden_inception);
  g_test_add_func ("/golden/preset-inception", test_preset_inception);
  return g_test_run ();
}
