/* Fuzz target: the model-file loader.
 *
 * The input is a whole model file. It goes through the safetensors reader
 * (sd_safetensors_new_from_bytes) and the model loader
 * (sd_model_load_from_bytes), and every promise the headers make about an
 * accepted file is checked:
 *   - every tensor view lies inside the input, holds numel * dtype size
 *     bytes, and is found again by its name; every metadata key has a
 *     value; an F32 tensor copies out;
 *   - a rejected file comes with an SD_ERROR;
 *   - a loaded model runs one small forward pass (2 series of 24 samples,
 *     then 1 of 1) and the backward pass of it, so that a model that loads
 *     but is inconsistent with its architecture shows up under ASan;
 *   - it saves, and the saved bytes load again into the same model (same
 *     labels and parameters, bit for bit).
 * Anything else abort ()s.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <seqdream/layers.h>
#include <seqdream/model.h>
#include <seqdream/safetensors.h>

#include <math.h>
#include <string.h>

#define FUZZ_B 2
#define FUZZ_T 24

static void
check_rejected (const GError *error, const char *what)
{
  if (error == NULL || error->domain != SD_ERROR || error->message == NULL)
    fuzz_fail ("%s failed without an SD_ERROR", what);
}

static void
exercise_safetensors (GBytes *bytes)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdSafetensors) st = NULL;
  g_autofree const char **keys = NULL;
  gsize size = 0;
  const guint8 *base = g_bytes_get_data (bytes, &size);

  st = sd_safetensors_new_from_bytes (bytes, "fuzz.safetensors", &error);
  if (st == NULL) {
    check_rejected (error, "sd_safetensors_new_from_bytes");
    return;
  }
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *t = sd_safetensors_get_nth (st, i);

    if (t == NULL || t->name == NULL)
      fuzz_fail ("tensor %u has no view or no name", i);
    if (sd_safetensors_get (st, t->name) != t)
      fuzz_fail ("tensor '%s' is not found by its name", t->name);
    if (t->ndim < 0 || t->ndim > SD_TENSOR_MAX_DIMS || t->numel < 0
        || t->nbytes != (gsize) t->numel * sd_dtype_size (t->dtype))
      fuzz_fail ("tensor '%s': inconsistent view", t->name);
    if (t->nbytes > 0 && (t->data < base || t->data + t->nbytes > base + size))
      fuzz_fail ("tensor '%s' lies outside the file", t->name);
    if (t->dtype == SD_DTYPE_F32) {
      g_autofree float *dst = g_new (float, MAX (t->numel, 1));
      g_autoptr (GError) copy_error = NULL;

      if (!sd_safetensors_copy_f32 (st, t, dst, -1, NULL, TRUE, &copy_error))
        check_rejected (copy_error, "sd_safetensors_copy_f32");
    }
  }
  keys = sd_safetensors_get_metadata_keys (st);
  for (guint i = 0; keys[i] != NULL; i++)
    if (sd_safetensors_get_metadata (st, keys[i]) == NULL)
      fuzz_fail ("metadata key '%s' has no value", keys[i]);
}

static void
run_model (SdModel *m)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (SdWorkspace) ws = NULL;
  g_autofree float *dx = NULL;
  float x[FUZZ_B * FUZZ_T];
  int K = sd_model_get_n_classes (m);
  float dlogits[FUZZ_B * 64];

  /* an imported graph (metadata "graph") may take other lengths only */
  if (!sd_model_check_length (m, FUZZ_T, NULL))
    return;
  ws = sd_workspace_new (m, FUZZ_B, FUZZ_T, SD_MODE_EVAL, &error);
  if (ws == NULL)
    fuzz_fail ("no workspace for a loaded model: %s", error->message);
  for (int i = 0; i < FUZZ_B * FUZZ_T; i++)
    x[i] = sinf (0.7f * (float) i) + 0.1f * (float) (i % 5);
  sd_model_normalize_input (m, x, FUZZ_B, FUZZ_T);
  sd_model_forward (m, ws, x, FUZZ_B, FUZZ_T);
  if (K <= 64) {
    for (int i = 0; i < FUZZ_B * K; i++)
      dlogits[i] = (i % 2) ? 1.0f : -1.0f;
    dx = g_new (float, FUZZ_B *FUZZ_T);
    sd_model_backward (m, ws, dlogits, NULL, dx);
  }
  if (sd_model_check_length (m, 1, NULL))
    sd_model_forward (m, ws, x, 1, 1);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* One thread: the fuzzer measures, and shares the machine. */
  sd_set_num_threads (1);
  fuzz_abort_on_log (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = NULL;
  const char *const *labels;
  const char *const *layers;
  int K;

  exercise_safetensors (bytes);

  m = sd_model_load_from_bytes (bytes, "fuzz.safetensors", &error);
  if (m == NULL) {
    check_rejected (error, "sd_model_load_from_bytes");
    return 0;
  }

  K = sd_model_get_n_classes (m);
  labels = sd_model_get_labels (m);
  for (int k = 0; k < K; k++)
    if (labels[k] == NULL || sd_model_find_label (m, labels[k]) != k)
      fuzz_fail ("label %d is missing or not found by its name", k);
  if (labels[K] != NULL)
    fuzz_fail ("more labels than classes");
  layers = sd_model_get_layer_names (m);
  for (int i = 0; layers[i] != NULL; i++)
    if (sd_model_find_layer (m, layers[i]) != i)
      fuzz_fail ("layer '%s' is not found by its name", layers[i]);
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (t->offset + t->numel > sd_model_get_n_params (m))
      fuzz_fail ("tensor '%s' lies outside the parameters", t->name);
  }

  run_model (m);
  fuzz_check_round_trip (m);
  return 0;
}
