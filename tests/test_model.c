/* Models: architectures, parameter layout, save/load round trips, the
 * loader's handling of bad files, and whole-network gradients.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static const char *const labels2[] = { "-1", "1", NULL };
static const char *const labels3[] = { "a", "b", "c", NULL };

/* A stage list with pooling (37 -> 18 -> 4 as the PyTorch golden case):
 * "pooled" in new_model. */
#define POOLED_ARCH                                                            \
  "{\"name\":\"pooled\",\"num_classes\":%d,\"in_channels\":1,"                 \
  "\"stages\":[{\"type\":\"conv\",\"channels\":[6],\"kernels\":[5],"           \
  "\"pool\":2},{\"type\":\"residual\",\"channels\":[8,8],"                     \
  "\"kernels\":[3,1],\"pool\":3},{\"type\":\"conv\",\"channels\":[5],"         \
  "\"kernels\":[3]}]}"

/* A preset, or "pooled" (POOLED_ARCH). */
static SdModel *
new_model (const char *preset, int K, guint64 seed)
{
  SdArch arch;
  g_autoptr (GError) error = NULL;
  if (g_strcmp0 (preset, "pooled") == 0) {
    g_autofree char *json = g_strdup_printf (POOLED_ARCH, K);
    g_assert_true (sd_arch_from_json (json, &arch, &error));
  } else
    g_assert_true (sd_arch_from_preset (preset, K, &arch, &error));
  SdModel *m = sd_model_new (&arch, K == 2 ? labels2 : labels3, seed, &error);
  g_assert_no_error (error);
  return m;
}

static void
fill_random (float *x, gsize n, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (r, -1.5, 1.5);
}

/* Non-trivial BN statistics so eval mode differs from identity. */
static void
perturb_bn (SdModel *m, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  float *p = sd_model_get_params (m);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (strstr (t->name, ".bn.") == NULL)
      continue;
    for (gsize k = 0; k < t->numel; k++) {
      if (g_str_has_suffix (t->name, "running_var"))
        p[t->offset + k] = (float) g_rand_double_range (r, 0.5, 2.0);
      else
        p[t->offset + k] += (float) g_rand_double_range (r, -0.3, 0.3);
    }
  }
}

static void
test_presets_param_counts (void)
{
  /* Hand-counted trainable parameters (conv weights, BN affine, fc). */
  struct
  {
    const char *name;
    gsize n;
  } cases[] = {
    /* 1->10: 10*1*(5) + 10*10*3 + 10*10*1 + sc 10*1 + 4 BN*20 =
       50+300+100+10+80 */
    { "resnet-small", 540 + 20 * 10 * 5 + 20 * 20 * 3 + 20 * 20 + 20 * 10
                          + 4 * 40 + 20 * 20 * 5 + 20 * 20 * 3 + 20 * 20
                          + 3 * 40 + 20 * 2 + 2 },
    { "fcn", 128 * 8 + 256 * 128 * 5 + 128 * 256 * 3 + 2 * (128 + 256 + 128)
                 + 128 * 2 + 2 },
    { "fcn-small", 64 * 3 + 2 * 64 * 64 * 3 + 2 * 3 * 64 + 64 * 2 + 2 },
    { "fcn-pool", 16 * 7 + 32 * 16 * 5 + 3 * 32 * 32 * 5 + 2 * (16 + 4 * 32)
                      + 32 * 2 + 2 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (SdModel) m = new_model (cases[i].name, 2, 1);
    g_assert_cmpuint (sd_model_get_n_trainable (m), ==, cases[i].n);
  }
  g_autoptr (SdModel) m = new_model ("resnet-small", 2, 1);
  g_assert_nonnull (sd_model_find_tensor (m, "stages.0.shortcut.conv.weight"));
  g_assert_nonnull (
      sd_model_find_tensor (m, "stages.2.convs.1.bn.running_var"));
  /* Stage 2 keeps 20 channels: identity shortcut, no tensors. */
  g_assert_null (sd_model_find_tensor (m, "stages.2.shortcut.conv.weight"));
  const SdParamInfo *w
      = sd_model_find_tensor (m, "stages.1.convs.0.conv.weight");
  g_assert_cmpint (w->shape[0], ==, 20);
  g_assert_cmpint (w->shape[1], ==, 10);
  g_assert_cmpint (w->shape[2], ==, 5);
}

static void
test_arch_json_round_trip (void)
{
  for (const char *const *p = sd_arch_list_presets (); *p; p++) {
    SdArch a, b;
    g_autoptr (GError) error = NULL;
    g_assert_true (sd_arch_from_preset (*p, 3, &a, &error));
    if (a.n_stages == 0)
      continue; /* a graph preset: its model file stores the graph */
    g_autofree char *json = sd_arch_to_json (&a);
    g_assert_true (sd_arch_from_json (json, &b, &error));
    g_assert_no_error (error);
    g_autofree char *json2 = sd_arch_to_json (&b);
    g_assert_cmpstr (json, ==, json2);
  }
}

/* A name longer than SdArch.name is cut at a character boundary, so that
 * the model still saves and loads (found by fuzzing: cut inside a UTF-8
 * sequence, the arch JSON could not be written back). */
static void
test_arch_json_long_name (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) json = g_string_new ("{\"name\":\"");
  SdArch arch;

  for (int i = 0; i < 40; i++)
    g_string_append (json, "\u00e9"); /* 2 bytes in UTF-8: 80 in all */
  g_string_append (json, "\",\"num_classes\":2,\"in_channels\":1,"
                         "\"stages\":[{\"type\":\"conv\",\"channels\":[2],"
                         "\"kernels\":[3]}]}");
  g_assert_true (sd_arch_from_json (json->str, &arch, &error));
  g_assert_no_error (error);
  g_assert_true (g_utf8_validate (arch.name, -1, NULL));
  g_assert_cmpuint (strlen (arch.name), ==, 62); /* 31 characters */

  g_autoptr (SdModel) m = sd_model_new (&arch, labels2, 1, &error);
  g_assert_no_error (error);
  g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
  g_autoptr (SdModel) l = sd_model_load_from_bytes (bytes, "long", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_model_get_arch (l)->name, ==, arch.name);
}

static void
test_arch_json_rejects (void)
{
  const char *bad[][2] = {
    { "[1,2]", "not a JSON object" },
    { "{\"in_channels\":1,\"stages\":[]}", "num_classes" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[]}", "0 stages" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"pool\","
      "\"channels\":[4],\"kernels\":[3]}]}",
        "unknown type 'pool'" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[4,4],\"kernels\":[3,3]}]}",
        "exactly one conv" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[0],\"kernels\":[3]}]}",
        "outside" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[4],\"kernels\":[3,5]}]}",
        "1 channel counts but 2" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[999999],\"kernels\":[3]}]}",
        "outside" },
    { "{broken", "invalid JSON" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[4],\"kernels\":[3],\"pool\":0}]}",
        "stage 0 'pool' must be an integer from 1 to 1024" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[4],\"kernels\":[3],\"pool\":4096}]}",
        "'pool' must be an integer" },
    { "{\"num_classes\":2,\"in_channels\":1,\"stages\":[{\"type\":\"conv\","
      "\"channels\":[4],\"kernels\":[3],\"pool\":\"2\"}]}",
        "'pool' must be an integer" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    SdArch a;
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_arch_from_json (bad[i][0], &a, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
    if (strstr (error->message, bad[i][1]) == NULL)
      g_error ("'%s': message '%s' lacks '%s'", bad[i][0], error->message,
          bad[i][1]);
  }
  SdArch a;
  g_autoptr (GError) error = NULL;
  g_assert_false (sd_arch_from_preset ("transformer", 2, &a, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "resnet-small"));
}

static char *
tmp_path (const char *name)
{
  static char *dir = NULL;
  if (dir == NULL)
    dir = g_dir_make_tmp ("seqdream-model-XXXXXX", NULL);
  return g_build_filename (dir, name, NULL);
}

/* Pooling: the shortest accepted input, the receptive field, the lengths of
 * the stage outputs, a clear error for too short a workspace, and a total
 * pooling the compiler refuses. */
static void
test_pooling (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) res = new_model ("resnet-small", 2, 1);
  g_assert_cmpint (sd_model_get_min_length (res), ==, 1);
  g_assert_cmpint (sd_model_get_receptive_field (res), ==, 1 + 3 * (4 + 2));

  g_autoptr (SdModel) m = new_model ("fcn-pool", 3, 2);
  g_assert_cmpint (sd_model_get_min_length (m), ==, 128);
  /* 7, then +3 (pool 4), +4*4, +3*4 (pool 4), +4*16, +3*16, +4*64,
   * +1*64 (pool 2), +4*128 */
  g_assert_cmpint (sd_model_get_receptive_field (m), ==,
      7 + 3 + 16 + 12 + 64 + 48 + 256 + 64 + 512);
  g_assert_null (sd_workspace_new (m, 1, 127, SD_MODE_EVAL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "at least 128 samples"));
  g_clear_error (&error);

  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, 2, 1000, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  g_autofree float *x = g_new (float, 2 * 1000);
  fill_random (x, 2 * 1000, 3);
  const int lengths[] = { 128, 129, 511, 1000 };
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++) {
    const float *l = sd_model_forward (m, ws, x, 2, lengths[i]);
    for (int k = 0; k < 2 * 3; k++)
      g_assert_true (isfinite (l[k]));
    const int expect[] = { 4, 16, 64, 128, 128 };
    for (int s = 0; s < 5; s++) {
      int C, L;
      g_assert_nonnull (sd_workspace_get_layer_output (ws, s, &C, &L));
      g_assert_cmpint (L, ==, lengths[i] / expect[s]);
    }
  }

  /* 16 stages pooling by 2 would shrink the length 65536 times: allowed;
   * pooling by 4 each is refused when compiled. */
  g_autoptr (GString) json
      = g_string_new ("{\"num_classes\":2,\"in_channels\":1,\"stages\":[");
  for (int i = 0; i < 16; i++)
    g_string_append_printf (json,
        "%s{\"type\":\"conv\",\"channels\":[2],\"kernels\":[1],"
        "\"pool\":4}",
        i ? "," : "");
  g_string_append (json, "]}");
  SdArch arch;
  g_assert_true (sd_arch_from_json (json->str, &arch, &error));
  g_assert_null (sd_model_new (&arch, labels2, 1, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
  g_assert_nonnull (strstr (error->message, "pools by more than 65536"));
}

static void
test_save_load_round_trip (void)
{
  const char *presets[] = { "resnet-small", "fcn-small" };
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (SdModel) m = new_model (presets[i], 3, 7 + i);
    perturb_bn (m, 3);
    SdNormalization n = { SD_NORM_FIXED, 0.25f, 3.5f };
    sd_model_set_normalization (m, n);
    sd_model_set_train_length (m, 500);
    sd_model_set_sample_rate (m, 48000);
    sd_model_set_input_range (m, -4.5f, 6.25f);
    g_assert_true (
        sd_model_set_provenance (m, "{\"data\":\"x.tsv\",\"seed\":7}", &error));
    g_autofree char *path = tmp_path ("rt.safetensors");
    g_assert_true (sd_model_save (m, path, &error));
    g_assert_no_error (error);

    g_autoptr (SdModel) l = sd_model_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (sd_model_get_n_params (l), ==, sd_model_get_n_params (m));
    g_assert_cmpmem (sd_model_get_params (l), sd_model_get_n_params (l) * 4,
        sd_model_get_params (m), sd_model_get_n_params (m) * 4);
    g_assert_cmpstr (sd_model_get_labels (l)[2], ==, "c");
    g_assert_cmpuint (sd_model_get_train_length (l), ==, 500);
    g_assert_cmpfloat (sd_model_get_sample_rate (l), ==, 48000);
    SdNormalization ln = sd_model_get_normalization (l);
    g_assert_cmpint (ln.mode, ==, SD_NORM_FIXED);
    g_assert_cmpfloat (ln.mean, ==, 0.25f);
    g_assert_cmpfloat (ln.std, ==, 3.5f);
    float lo, hi;
    sd_model_get_input_range (l, &lo, &hi);
    g_assert_cmpfloat (lo, ==, -4.5f);
    g_assert_cmpfloat (hi, ==, 6.25f);
    g_assert_nonnull (strstr (sd_model_get_provenance (l), "x.tsv"));

    /* Same logits from the original and the reloaded model. */
    float x[2 * 77];
    fill_random (x, G_N_ELEMENTS (x), 11);
    g_autoptr (SdWorkspace) w1
        = sd_workspace_new (m, 2, 77, SD_MODE_EVAL, &error);
    g_autoptr (SdWorkspace) w2
        = sd_workspace_new (l, 2, 77, SD_MODE_EVAL, &error);
    float a[6], b[6];
    memcpy (a, sd_model_forward (m, w1, x, 2, 77), sizeof a);
    memcpy (b, sd_model_forward (l, w2, x, 2, 77), sizeof b);
    g_assert_cmpmem (a, sizeof a, b, sizeof b);
    g_unlink (path);
  }
}

/* GAP makes the networks length-agnostic; the same series scored alone or
 * in a batch gives the same logits; a longer workspace changes nothing. */
static void
test_forward_lengths_and_batches (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = new_model ("resnet-small", 2, 3);
  perturb_bn (m, 5);
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, 4, 2048, SD_MODE_EVAL, &error);
  g_autoptr (SdWorkspace) w1
      = sd_workspace_new (m, 1, 300, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  float *x = g_new (float, 4 * 2048);
  fill_random (x, 4 * 2048, 9);
  const int lengths[] = { 1, 2, 5, 300, 2048 };
  for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++) {
    int T = lengths[i];
    const float *l = sd_model_forward (m, ws, x, 4, T);
    for (int k = 0; k < 8; k++)
      g_assert_true (isfinite (l[k]));
  }
  float batch[8], single[2];
  memcpy (batch, sd_model_forward (m, ws, x, 4, 300), sizeof batch);
  for (int b = 0; b < 4; b++) {
    memcpy (
        single, sd_model_forward (m, w1, x + b * 300, 1, 300), sizeof single);
    for (int k = 0; k < 2; k++)
      g_assert_cmpfloat_with_epsilon (single[k], batch[b * 2 + k], 1e-5);
  }
  g_free (x);

  g_assert_null (sd_workspace_new (m, 0, 10, SD_MODE_EVAL, &error));
  g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
}

/* The whole network's input gradient against central differences of a
 * weighted logit sum, in eval and train mode. */
static void
check_model_input_gradient (const char *preset, SdMode mode)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = new_model (preset, 3, 21);
  perturb_bn (m, 8);
  const int B = 2, T = 23, K = 3;
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, mode, &error);
  float x[2 * 23], dx[2 * 23], R[6];
  fill_random (x, B * T, 4);
  fill_random (R, B * K, 6);
  g_autofree float *saved
      = g_memdup2 (sd_model_get_params (m), sd_model_get_n_params (m) * 4);

  sd_model_forward (m, ws, x, B, T);
  sd_model_backward (m, ws, R, NULL, dx);
  double max_ref = 0;
  g_autofree double *num = g_new (double, B *T);
  for (int i = 0; i < B * T; i++) {
    /* Small steps: larger ones cross ReLU kinks, smaller ones drown in
     * float32 rounding of the logits. */
    double h = mode == SD_MODE_TRAIN ? 1e-4 : 2e-3, lp = 0, lm = 0;
    float keep = x[i];
    x[i] = keep + h;
    const float *l = sd_model_forward (m, ws, x, B, T);
    for (int k = 0; k < B * K; k++)
      lp += (double) l[k] * R[k];
    x[i] = keep - h;
    l = sd_model_forward (m, ws, x, B, T);
    for (int k = 0; k < B * K; k++)
      lm += (double) l[k] * R[k];
    x[i] = keep;
    num[i] = (lp - lm) / (2 * h);
    max_ref = MAX (max_ref, fabs (num[i]));
  }
  /* A whole ReLU network is only piecewise smooth, and in train mode batch
   * norm moves every pre-activation when one input moves, so a few
   * differences straddle a kink. Demand close agreement almost everywhere
   * and rough agreement everywhere; the exact check is the PyTorch golden
   * test. */
  int close = 0;
  double max_err = 0;
  for (int i = 0; i < B * T; i++) {
    double e = fabs (num[i] - dx[i]);
    max_err = MAX (max_err, e);
    close += e <= 2e-2 * max_ref;
  }
  /* Train mode moves the running statistics: restore them. */
  memcpy (sd_model_get_params (m), saved, sd_model_get_n_params (m) * 4);
  g_test_message ("%s mode %d: %d/%d within 2%%, max |fd - analytic| %.3g, "
                  "max |fd| %.3g",
      preset, mode, close, B * T, max_err, max_ref);
  g_assert_cmpfloat (max_ref, >, 1e-3);
  g_assert_cmpint (close, >=, (B * T * 9) / 10);
  g_assert_cmpfloat (max_err, <, 0.2 * max_ref);
}

static void
test_input_gradient (void)
{
  check_model_input_gradient ("resnet-small", SD_MODE_EVAL);
  check_model_input_gradient ("resnet-small", SD_MODE_TRAIN);
  check_model_input_gradient ("fcn-small", SD_MODE_EVAL);
  check_model_input_gradient ("fcn-small", SD_MODE_TRAIN);
  check_model_input_gradient ("pooled", SD_MODE_EVAL);
  check_model_input_gradient ("pooled", SD_MODE_TRAIN);
}

/* Parameter gradients of the whole network against central differences
 * for a sample of parameters of every tensor (eval mode). */
static void
test_param_gradient (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = new_model ("resnet-small", 2, 5);
  const int B = 3, T = 19, K = 2;
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
  perturb_bn (m, 2);
  float x[3 * 19], R[6];
  fill_random (x, B * T, 12);
  fill_random (R, B * K, 13);
  gsize NP = sd_model_get_n_params (m);
  g_autofree float *grads = g_new0 (float, NP);
  float *p = sd_model_get_params (m);
  sd_model_forward (m, ws, x, B, T);
  sd_model_backward (m, ws, R, grads, NULL);
  for (guint t = 0; t < sd_model_get_n_tensors (m); t++) {
    const SdParamInfo *info = sd_model_get_tensor (m, t);
    if (!info->trainable)
      continue;
    for (gsize k = 0; k < info->numel; k += 1 + info->numel / 5) {
      gsize i = info->offset + k;
      float keep = p[i];
      double h = 2e-3, lp = 0, lm = 0;
      p[i] = keep + h;
      const float *l = sd_model_forward (m, ws, x, B, T);
      for (int j = 0; j < B * K; j++)
        lp += (double) l[j] * R[j];
      p[i] = keep - h;
      l = sd_model_forward (m, ws, x, B, T);
      for (int j = 0; j < B * K; j++)
        lm += (double) l[j] * R[j];
      p[i] = keep;
      double num = (lp - lm) / (2 * h);
      if (fabs (num - grads[i]) > 2e-2 * MAX (fabs (num), 1e-1))
        g_error ("%s[%" G_GSIZE_FORMAT "]: analytic %g numeric %g", info->name,
            k, grads[i], num);
    }
  }
}

/* ---- the loader against bad files ---- */

static char *
write_variant (SdModel *m, const char *name, const char *const *meta_override,
    const char *skip_tensor, const char *bad_tensor, float bad_value,
    const char *extra_tensor)
{
  g_autoptr (GBytes) good = sd_model_save_to_bytes (m);
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (good, "good", NULL);
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autofree const char **keys = sd_safetensors_get_metadata_keys (st);
  for (int i = 0; keys[i]; i++) {
    const char *v = sd_safetensors_get_metadata (st, keys[i]);
    for (int j = 0; meta_override && meta_override[j]; j += 2)
      if (strcmp (meta_override[j], keys[i]) == 0)
        v = meta_override[j + 1];
    if (v != NULL)
      sd_safetensors_writer_add_metadata (w, keys[i], v);
  }
  for (int j = 0; meta_override && meta_override[j]; j += 2)
    if (meta_override[j + 1] != NULL
        && sd_safetensors_get_metadata (st, meta_override[j]) == NULL)
      sd_safetensors_writer_add_metadata (
          w, meta_override[j], meta_override[j + 1]);
  float *p = sd_model_get_params (m);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (g_strcmp0 (t->name, skip_tensor) == 0)
      continue;
    g_autofree float *d = g_memdup2 (p + t->offset, t->numel * 4);
    if (g_strcmp0 (t->name, bad_tensor) == 0)
      d[t->numel / 2] = bad_value;
    sd_safetensors_writer_add_f32 (w, t->name, d, t->ndim, t->shape);
  }
  if (extra_tensor) {
    float v[3] = { 1, 2, 3 };
    gint64 shape[1] = { 3 };
    sd_safetensors_writer_add_f32 (w, extra_tensor, v, 1, shape);
  }
  char *path = tmp_path (name);
  g_assert_true (sd_safetensors_writer_write (w, path, NULL));
  return path;
}

static void
expect_load_error (const char *path, int code, const char *substring)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  if (m != NULL)
    g_error ("%s loaded, expected an error saying '%s'", path, substring);
  g_assert_nonnull (error);
  g_assert_true (error->domain == SD_ERROR);
  if (code >= 0)
    g_assert_cmpint (error->code, ==, code);
  g_autofree char *base = g_path_get_basename (path);
  if (strstr (error->message, base) == NULL
      || strstr (error->message, substring) == NULL)
    g_error ("message '%s' should name '%s' and say '%s'", error->message, base,
        substring);
}

static void
test_load_rejects_bad_models (void)
{
  g_autoptr (SdModel) m = new_model ("fcn-small", 2, 1);
  sd_model_set_train_length (m, 500);
  const char *no_arch[] = { "arch", NULL, NULL };
  const char *bad_arch[] = { "arch", "{\"num_classes\":2}", NULL };
  const char *wrong_arch[] = { "arch",
    "{\"name\":\"x\",\"num_classes\":2,"
    "\"in_channels\":1,\"stages\":[{\"type\":\"conv\",\"channels\":[32],"
    "\"kernels\":[3]}]}",
    NULL };
  const char *three_labels[] = { "labels", "[\"a\",\"b\",\"c\"]", NULL };
  const char *dup_labels[] = { "labels", "[\"a\",\"a\"]", NULL };
  const char *num_labels[] = { "labels", "[1,2]", NULL };
  const char *bad_norm[] = { "normalization", "{\"mode\":\"minmax\"}", NULL };
  const char *bad_std[]
      = { "normalization", "{\"mode\":\"fixed\",\"mean\":0,\"std\":0}", NULL };
  /* Valid as doubles, not as the floats they are kept in. */
  const char *tiny_std[] = { "normalization",
    "{\"mode\":\"fixed\",\"mean\":0,\"std\":1e-50}", NULL };
  const char *huge_mean[] = { "normalization",
    "{\"mode\":\"fixed\",\"mean\":1e300,\"std\":1}", NULL };
  const char *float_range[] = { "input_range", "[1e-50, 2e-50]", NULL };
  /* Within the architecture limits, 137 GB of parameters, in a file of a
   * few kB: refused before anything is allocated (found by fuzzing). */
  const char *huge_arch[] = { "arch",
    "{\"name\":\"x\",\"num_classes\":2,\"in_channels\":1,\"stages\":["
    "{\"type\":\"conv\",\"channels\":[4096],\"kernels\":[1024]},"
    "{\"type\":\"conv\",\"channels\":[4096],\"kernels\":[1024]},"
    "{\"type\":\"conv\",\"channels\":[4096],\"kernels\":[1024]}]}",
    NULL };
  const char *bad_len[] = { "train_length", "-5", NULL };
  const char *bad_rate[] = { "sample_rate", "fast", NULL };
  const char *bad_range[] = { "input_range", "[3, 1]", NULL };
  const char *bad_prov[] = { "provenance", "{oops", NULL };
  g_autofree char *deep = g_strnfill (100000, '[');
  const char *deep_labels[] = { "labels", deep, NULL };
  const char *deep_arch[] = { "arch", deep, NULL };
  const char *dup_key[]
      = { "normalization", "{\"mode\":\"none\",\"mode\":\"fixed\"}", NULL };
  struct
  {
    const char *file;
    const char *const *meta;
    const char *skip, *bad;
    float value;
    const char *extra;
    int code;
    const char *msg;
  } cases[] = {
    { "no-arch.safetensors", no_arch, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "metadata 'arch' is missing" },
    { "bad-arch.safetensors", bad_arch, NULL, NULL, 0, NULL, SD_ERROR_FORMAT,
        "in_channels" },
    { "wrong-arch.safetensors", wrong_arch, NULL, NULL, 0, NULL, -1,
        "stages.0.conv.weight" },
    { "labels.safetensors", three_labels, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "3 labels for 2 classes" },
    { "dup.safetensors", dup_labels, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "appears twice" },
    { "numlabels.safetensors", num_labels, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "not a string" },
    { "norm.safetensors", bad_norm, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "normalization" },
    { "std.safetensors", bad_std, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "positive 'std'" },
    { "tiny-std.safetensors", tiny_std, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "positive 'std'" },
    { "huge-mean.safetensors", huge_mean, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "32-bit floats" },
    { "float-range.safetensors", float_range, NULL, NULL, 0, NULL,
        SD_ERROR_MODEL, "input_range" },
    { "huge-arch.safetensors", huge_arch, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "expected shape [4096, 1, 1024]" },
    { "len.safetensors", bad_len, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "train_length" },
    { "rate.safetensors", bad_rate, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "sample_rate" },
    { "range.safetensors", bad_range, NULL, NULL, 0, NULL, SD_ERROR_MODEL,
        "input_range" },
    { "prov.safetensors", bad_prov, NULL, NULL, 0, NULL, SD_ERROR_FORMAT,
        "provenance" },
    { "deep-labels.safetensors", deep_labels, NULL, NULL, 0, NULL,
        SD_ERROR_FORMAT, "metadata 'labels': invalid JSON" },
    { "deep-arch.safetensors", deep_arch, NULL, NULL, 0, NULL, SD_ERROR_FORMAT,
        "arch: invalid JSON" },
    { "dup-key.safetensors", dup_key, NULL, NULL, 0, NULL, SD_ERROR_FORMAT,
        "duplicate" },
    { "missing.safetensors", NULL, "stages.1.bn.bias", NULL, 0, NULL,
        SD_ERROR_MODEL, "'stages.1.bn.bias' required by architecture" },
    { "nan.safetensors", NULL, NULL, "stages.2.conv.weight", NAN, NULL,
        SD_ERROR_NONFINITE, "stages.2.conv.weight" },
    { "inf.safetensors", NULL, NULL, "fc.bias", INFINITY, NULL,
        SD_ERROR_NONFINITE, "fc.bias" },
    { "negvar.safetensors", NULL, NULL, "stages.0.bn.running_var", -1.0f, NULL,
        SD_ERROR_MODEL, "negative variance" },
    { "extra.safetensors", NULL, NULL, NULL, 0, "stages.9.conv.weight",
        SD_ERROR_MODEL, "'stages.9.conv.weight' is not part" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = write_variant (m, cases[i].file, cases[i].meta,
        cases[i].skip, cases[i].bad, cases[i].value, cases[i].extra);
    expect_load_error (path, cases[i].code, cases[i].msg);
    g_unlink (path);
  }

  /* A tensor of the wrong shape (fc.weight transposed). */
  {
    g_autoptr (GBytes) good = sd_model_save_to_bytes (m);
    g_autoptr (SdSafetensors) st
        = sd_safetensors_new_from_bytes (good, "g", NULL);
    g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
    g_autofree const char **keys = sd_safetensors_get_metadata_keys (st);
    for (int k = 0; keys[k]; k++)
      sd_safetensors_writer_add_metadata (
          w, keys[k], sd_safetensors_get_metadata (st, keys[k]));
    float *p = sd_model_get_params (m);
    for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
      const SdParamInfo *t = sd_model_get_tensor (m, i);
      gint64 shape[3] = { t->shape[0], t->shape[1], t->shape[2] };
      if (strcmp (t->name, "fc.weight") == 0) {
        shape[0] = t->shape[1];
        shape[1] = t->shape[0];
      }
      sd_safetensors_writer_add_f32 (w, t->name, p + t->offset, t->ndim, shape);
    }
    g_autofree char *path = tmp_path ("shape.safetensors");
    g_assert_true (sd_safetensors_writer_write (w, path, NULL));
    expect_load_error (path, -1, "fc.weight");
    g_unlink (path);
  }

  /* Missing file, empty file, not a safetensors file. */
  g_autofree char *missing = tmp_path ("does-not-exist.safetensors");
  expect_load_error (missing, SD_ERROR_IO, "does-not-exist");
  g_autofree char *empty = tmp_path ("empty.safetensors");
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  expect_load_error (empty, SD_ERROR_FORMAT, "empty");
  g_autofree char *text = tmp_path ("text.safetensors");
  g_assert_true (
      g_file_set_contents (text, "hello world, not a model", -1, NULL));
  expect_load_error (text, SD_ERROR_FORMAT, "text");
  g_unlink (empty);
  g_unlink (text);
}

/* Every truncation of a valid model file fails cleanly. */
static void
test_load_truncations (void)
{
  g_autoptr (SdModel) m = new_model ("resnet-small", 2, 1);
  g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
  gsize n;
  const guint8 *d = g_bytes_get_data (bytes, &n);
  for (gsize len = 0; len < n; len += (len < 2048 ? 1 : 97)) {
    g_autoptr (GBytes) part = g_bytes_new (d, len);
    g_autoptr (GError) error = NULL;
    g_autoptr (SdModel) l = sd_model_load_from_bytes (part, "trunc", &error);
    g_assert_null (l);
    g_assert_nonnull (error);
    g_assert_nonnull (strstr (error->message, "trunc"));
  }
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) l = sd_model_load_from_bytes (bytes, "whole", &error);
  g_assert_no_error (error);
}

static void
test_normalize_input (void)
{
  g_autoptr (SdModel) m = new_model ("fcn-small", 2, 1);
  float x[6] = { 1, 2, 3, 5, 5, 5 };
  sd_model_normalize_input (m, x, 2, 3);
  g_assert_cmpfloat_with_epsilon (x[0], -1.2247449f, 1e-5);
  g_assert_cmpfloat_with_epsilon (x[1], 0.0f, 1e-6);
  g_assert_cmpfloat_with_epsilon (x[2], 1.2247449f, 1e-5);
  /* A flat series maps to zeros, not NaN. */
  for (int i = 3; i < 6; i++)
    g_assert_cmpfloat (x[i], ==, 0.0f);
  SdNormalization n = { SD_NORM_FIXED, 2.0f, 4.0f };
  sd_model_set_normalization (m, n);
  float y[2] = { 2.0f, 10.0f };
  sd_model_normalize_input (m, y, 1, 2);
  g_assert_cmpfloat (y[0], ==, 0.0f);
  g_assert_cmpfloat (y[1], ==, 2.0f);
}

/* sd_normalization_apply and its inverse: every mode maps back to the
 * data (through the per-series maps, or the fixed constants alone), flat
 * and huge series stay finite, and the model's normalisation is exactly
 * sd_normalization_apply with its SdNormalization. */
static void
test_normalization_round_trip (void)
{
  const SdNormalization modes[] = {
    { SD_NORM_PER_SERIES, 0.0f, 1.0f },
    { SD_NORM_FIXED, 3.5f, 0.25f },
    { SD_NORM_NONE, 0.0f, 1.0f },
  };
  const int n = 3, T = 16;
  float data[3 * 16];
  fill_random (data, n * T, 31);
  for (int t = 0; t < T; t++) {
    data[t] = 40.0f + 7.0f * data[t]; /* an offset and a scale */
    data[2 * T + t] = 5.0f;           /* flat */
  }
  for (guint k = 0; k < G_N_ELEMENTS (modes); k++) {
    float x[3 * 16], y[3 * 16];
    double mean[3], sd[3];
    memcpy (x, data, sizeof x);
    sd_normalization_apply (modes[k], x, n, T, mean, sd);
    if (modes[k].mode == SD_NORM_PER_SERIES) {
      for (int i = 0; i < 2; i++) {
        double s = 0, ss = 0;
        for (int t = 0; t < T; t++) {
          s += x[i * T + t];
          ss += (double) x[i * T + t] * x[i * T + t];
        }
        g_assert_cmpfloat (fabs (s / T), <, 1e-5);
        g_assert_cmpfloat (fabs (ss / T - 1.0), <, 1e-5);
      }
      for (int t = 0; t < T; t++)
        g_assert_cmpfloat (x[2 * T + t], ==, 0.0f);
      g_assert_cmpfloat (mean[2], ==, 5.0);
      g_assert_cmpfloat (sd[2], ==, 1.0);
    }
    /* The model applies exactly this rule. */
    g_autoptr (SdModel) m = new_model ("fcn-small", 2, 1);
    sd_model_set_normalization (m, modes[k]);
    memcpy (y, data, sizeof y);
    sd_model_normalize_input (m, y, n, T);
    g_assert_cmpmem (x, sizeof x, y, sizeof y);
    /* Back through the maps. */
    memcpy (y, x, sizeof y);
    sd_normalization_invert (modes[k], y, n, T, mean, sd);
    for (int i = 0; i < n * T; i++)
      g_assert_cmpfloat_with_epsilon (y[i], data[i], 1e-4 * fabsf (data[i]));
    /* Without them only the fixed constants are known. */
    memcpy (y, x, sizeof y);
    sd_normalization_invert (modes[k], y, n, T, NULL, NULL);
    for (int i = 0; i < n * T; i++)
      if (modes[k].mode == SD_NORM_FIXED)
        g_assert_cmpfloat_with_epsilon (y[i], data[i], 1e-4 * fabsf (data[i]));
      else
        g_assert_cmpfloat (y[i], ==, x[i]);
  }
  /* A series of huge amplitude z-scores to finite values. */
  float huge[3] = { 3.0e38f, -3.0e38f, -3.0e38f };
  sd_normalization_apply (modes[0], huge, 1, 3, NULL, NULL);
  for (int t = 0; t < 3; t++)
    g_assert_true (isfinite (huge[t]));
  g_assert_cmpfloat_with_epsilon (huge[0], sqrt (2.0), 1e-6);
}

/* The two backward passes of an eval workspace agree on the input
 * gradient: the parameter backward (taken when a gradient array is given)
 * and the input-only one (write instead of accumulate, BN folded into the
 * conv, ReLU masks fused), also with gradients injected at a stage, the
 * GAP and the logits. */
static void
test_backward_passes_agree (void)
{
  const char *presets[] = { "resnet-small", "fcn-small", "pooled" };
  for (guint p = 0; p < G_N_ELEMENTS (presets); p++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (SdModel) m = new_model (presets[p], 3, 5);
    perturb_bn (m, 9);
    const int B = 3, T = 40, K = 3;
    g_autoptr (SdWorkspace) ws
        = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
    g_assert_no_error (error);
    g_autofree float *grads = g_new0 (float, sd_model_get_n_params (m));
    float x[3 * 40], R[3 * 3], dx_in[3 * 40], dx_par[3 * 40];
    fill_random (x, B * T, 11);
    fill_random (R, B * K, 12);
    sd_model_forward (m, ws, x, B, T);

    int C, L, Cg, Lg;
    sd_workspace_get_layer_output (ws, 1, &C, &L);
    const int gap = sd_model_find_layer (m, "gap");
    const int fc = sd_model_find_layer (m, "fc");
    sd_workspace_get_layer_output (ws, gap, &Cg, &Lg);
    g_autofree float *g1 = g_new (float, (gsize) B *C *L);
    g_autofree float *g2 = g_new (float, (gsize) B *Cg);
    float g3[3 * 3];
    fill_random (g1, (gsize) B * C * L, 13);
    fill_random (g2, (gsize) B * Cg, 14);
    fill_random (g3, B * K, 15);
    const SdLayerGrad extra[] = { { 1, g1 }, { gap, g2 }, { fc, g3 } };

    for (int n_extra = 0; n_extra <= 3; n_extra += 3) {
      sd_model_backward_full (m, ws, R, extra, n_extra, NULL, dx_in);
      sd_model_backward_full (m, ws, R, extra, n_extra, grads, dx_par);
      double scale = 0;
      for (int i = 0; i < B * T; i++)
        scale = MAX (scale, fabs (dx_par[i]));
      g_assert_cmpfloat (scale, >, 0.0);
      for (int i = 0; i < B * T; i++)
        g_assert_cmpfloat (fabs (dx_in[i] - dx_par[i]), <=, 1e-5 * scale);
    }
    /* Only gradients injected at the logits: dlogits may be NULL. */
    sd_model_backward_full (m, ws, NULL, &extra[2], 1, NULL, dx_in);
    sd_model_backward_full (m, ws, g3, NULL, 0, NULL, dx_par);
    g_assert_cmpmem (dx_in, sizeof dx_in, dx_par, sizeof dx_par);
  }
}

/* In eval mode the rows of a batch are independent: a batch of 9 gives
 * each row's logits and input gradient as if it were alone (the element
 * scores several windows of a buffer as one batch, the dreamer runs many
 * dreams as one). */
static void
test_eval_batch_rows_independent (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = new_model ("resnet-small", 3, 4);
  perturb_bn (m, 6);
  const int B = 9, T = 41, K = 3;
  g_autoptr (SdWorkspace) wb = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
  g_autoptr (SdWorkspace) w1 = sd_workspace_new (m, 1, T, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  float x[9 * 41], R[9 * 3], dxb[9 * 41], dx1[41], lb[9 * 3];
  fill_random (x, B * T, 17);
  fill_random (R, B * K, 18);
  memcpy (lb, sd_model_forward (m, wb, x, B, T), sizeof lb);
  sd_model_backward (m, wb, R, NULL, dxb);
  for (int b = 0; b < B; b++) {
    const float *l = sd_model_forward (m, w1, x + b * T, 1, T);
    for (int k = 0; k < K; k++)
      g_assert_cmpfloat_with_epsilon (l[k], lb[b * K + k], 1e-5);
    sd_model_backward (m, w1, R + b * K, NULL, dx1);
    for (int t = 0; t < T; t++)
      g_assert_cmpfloat_with_epsilon (dx1[t], dxb[b * T + t], 1e-6);
  }
}

/* sd_model_set_provenance takes what a model file can hold and refuses
 * the rest, naming the problem and keeping the provenance it had; a saved
 * file gives back what was set; NULL clears it. */
static void
test_provenance_checked (void)
{
  g_autoptr (SdModel) m = new_model ("fcn-small", 2, 3);
  g_assert_true (sd_model_set_provenance (m, "{\"seed\":1}", NULL));
  struct
  {
    const char *json, *expect;
  } bad[] = {
    { "{\"seed\":", "provenance must be a JSON object: " },
    { "[1, 2]", "not another JSON value" },
    { "\"text\"", "not another JSON value" },
    { "{\"a\":\"x\001y\"}", "provenance must be a JSON object: " },
    { "{\"a\":1,\"a\":2}", "provenance must be a JSON object: " },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_false (sd_model_set_provenance (m, bad[i].json, &error));
    g_assert_error (error, SD_ERROR, SD_ERROR_INVALID_ARG);
    g_assert_nonnull (strstr (error->message, bad[i].expect));
    g_assert_cmpstr (sd_model_get_provenance (m), ==, "{\"seed\":1}");
  }
  const char *good = "{\"data\":\"x\\u0001.tsv\",\"n\":[1,2]}";
  g_assert_true (sd_model_set_provenance (m, good, NULL));
  g_autoptr (GBytes) bytes = sd_model_save_to_bytes (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) back = sd_model_load_from_bytes (bytes, "rt", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (sd_model_get_provenance (back), ==, good);
  g_assert_true (sd_model_set_provenance (m, NULL, NULL));
  g_assert_null (sd_model_get_provenance (m));
}

/* A graph model's stage layers (InceptionTime with 2 filters per branch:
 * the ReLU after each of its six modules): named stages.0..5 before "gap"
 * and "fc", as long as the input, and a gradient injected at one of them
 * is that of L = sum R * the stage's output by central differences. */
static void
test_graph_stage_layers (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_new_inception (2, 3, labels3, 4, &error);
  g_assert_no_error (error);
  perturb_bn (m, 5);
  g_assert_cmpint (sd_model_get_n_stage_layers (m), ==, 6);
  const char *const *names = sd_model_get_layer_names (m);
  g_assert_cmpstr (names[0], ==, "stages.0");
  g_assert_cmpstr (names[5], ==, "stages.5");
  g_assert_cmpstr (names[6], ==, "gap");
  g_assert_cmpstr (names[7], ==, "fc");
  g_assert_null (names[8]);
  enum
  {
    B = 2,
    T = 30
  };
  g_autoptr (SdWorkspace) ws = sd_workspace_new (m, B, T, SD_MODE_EVAL, &error);
  g_assert_no_error (error);
  float x[B * T], dx[B * T];
  fill_random (x, B * T, 6);
  for (int layer = 0; layer <= 6; layer += 3) {
    int C, L;
    sd_model_forward (m, ws, x, B, T);
    sd_workspace_get_layer_output (ws, layer, &C, &L);
    g_assert_cmpint (C, ==, 4 * 2); /* four branches of 2 filters */
    g_assert_cmpint (L, ==, sd_model_get_layer_length (m, layer, T));
    g_assert_cmpint (L, ==, layer < 6 ? T : 1);
    const gsize n = (gsize) B * C * L;
    g_autofree float *R = g_new (float, n);
    fill_random (R, n, 7 + layer);
    SdLayerGrad at = { layer, R };
    sd_model_backward_full (m, ws, NULL, &at, 1, NULL, dx);
    int close = 0;
    double max_ref = 0;
    for (int t = 0; t < B * T; t++) {
      const float keep = x[t];
      const double h = 1e-2;
      double lp = 0, lm = 0;
      x[t] = keep + h;
      sd_model_forward (m, ws, x, B, T);
      const float *a = sd_workspace_get_layer_output (ws, layer, &C, &L);
      for (gsize k = 0; k < n; k++)
        lp += (double) a[k] * R[k];
      x[t] = keep - h;
      sd_model_forward (m, ws, x, B, T);
      a = sd_workspace_get_layer_output (ws, layer, &C, &L);
      for (gsize k = 0; k < n; k++)
        lm += (double) a[k] * R[k];
      x[t] = keep;
      const double num = (lp - lm) / (2 * h);
      max_ref = MAX (max_ref, fabs (num));
      close += fabs (num - dx[t]) <= 2e-2 * MAX (fabs (num), 1e-2);
    }
    g_test_message ("layer %d: %d/%d within 2%%, max |fd| %.3g", layer, close,
        B * T, max_ref);
    g_assert_cmpfloat (max_ref, >, 1e-3);
    /* (ReLU and max-pooling kinks a step of h crosses: a few samples) */
    g_assert_cmpint (close, >=, (B * T * 9) / 10);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model/presets-param-counts", test_presets_param_counts);
  g_test_add_func ("/model/arch-json-round-trip", test_arch_json_round_trip);
  g_test_add_func ("/model/arch-json-rejects", test_arch_json_rejects);
  g_test_add_func ("/model/arch-json-long-name", test_arch_json_long_name);
  g_test_add_func ("/model/pooling", test_pooling);
  g_test_add_func ("/model/provenance-checked", test_provenance_checked);
  g_test_add_func ("/model/save-load-round-trip", test_save_load_round_trip);
  g_test_add_func (
      "/model/forward-lengths-and-batches", test_forward_lengths_and_batches);
  g_test_add_func (
      "/model/eval-batch-rows-independent", test_eval_batch_rows_independent);
  g_test_add_func ("/model/input-gradient", test_input_gradient);
  g_test_add_func ("/model/param-gradient", test_param_gradient);
  g_test_add_func (
      "/model/load-rejects-bad-models", test_load_rejects_bad_models);
  g_test_add_func ("/model/load-truncations", test_load_truncations);
  g_test_add_func ("/model/normalize-input", test_normalize_input);
  g_test_add_func (
      "/model/normalization-round-trip", test_normalization_round_trip);
  g_test_add_func ("/model/backward-passes-agree", test_backward_passes_agree);
  g_test_add_func ("/model/graph-stage-layers", test_graph_stage_layers);
  return g_test_run ();
}
