/* Fuzz target: the ONNX reader.
 *
 * The input is a whole .onnx file. It goes through
 * sd_model_load_onnx_from_bytes (protobuf decoding, constant folding, the
 * mapping of every node, the graph checks) and every promise the headers
 * make about an accepted file is checked:
 *   - a rejected file comes with an SD_ERROR;
 *   - a loaded model has one label per class and its tensors inside its
 *     parameters;
 *   - it runs a forward and backward pass (2 series) at its shortest
 *     accepted length and, when it takes it, at twice that plus 3, so a
 *     graph that loads but is inconsistent shows up under ASan;
 *   - it saves as a seqdream model file, and that loads again into the
 *     same parameters, bit for bit, with the same shortest length;
 *   - it exports as ONNX (or fails with an SD_ERROR), and the export
 *     reads back with the same classes, labels and shortest length.
 * Anything else abort ()s.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fuzz-target.h"

#include <seqdream/layers.h>
#include <seqdream/model.h>
#include <seqdream/onnx.h>

#include <math.h>
#include <string.h>

#define FUZZ_B 2
/* longer inputs are not run: the fuzzer's time and memory go to the
 * reader (the graph's channels are bounded, GRAPH_MAX_TOTAL_CHANNELS, so
 * a workspace stays under 2^18 x 2 x 2 x 64 floats) */
#define FUZZ_MAX_T 64

static void
run_model (SdModel *m, int T)
{
  g_autoptr (GError) error = NULL;
  const int K = sd_model_get_n_classes (m);

  if (T > FUZZ_MAX_T || K > 4096 || !sd_model_check_length (m, T, NULL))
    return;
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, FUZZ_B, T, SD_MODE_EVAL, &error);
  if (ws == NULL) {
    /* only a workspace too large for memory may fail */
    if (error == NULL || error->domain != SD_ERROR)
      fuzz_fail ("no workspace and no SD_ERROR");
    return;
  }
  g_autofree float *x = g_new (float, FUZZ_B *T);
  g_autofree float *dx = g_new (float, FUZZ_B *T);
  g_autofree float *dlogits = g_new (float, FUZZ_B *K);
  for (int i = 0; i < FUZZ_B * T; i++)
    x[i] = sinf (0.7f * (float) i) + 0.1f * (float) (i % 5);
  for (int i = 0; i < FUZZ_B * K; i++)
    dlogits[i] = (i % 2) ? 1.0f : -1.0f;
  if (sd_model_forward (m, ws, x, FUZZ_B, T) == NULL)
    fuzz_fail ("a length the model accepts does not run");
  sd_model_backward (m, ws, dlogits, NULL, dx);
}

/* sd_model_save_onnx_to_bytes and back through the reader. */
static void
check_onnx_round_trip (SdModel *m)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = sd_model_save_onnx_to_bytes (m, &error);
  if (bytes == NULL) {
    if (error == NULL || error->domain != SD_ERROR)
      fuzz_fail ("the ONNX writer failed without an SD_ERROR");
    return;
  }
  g_autoptr (SdModel) r
      = sd_model_load_onnx_from_bytes (bytes, "export.onnx", NULL, &error);
  if (r == NULL)
    fuzz_fail ("an exported model does not read back: %s", error->message);
  const int K = sd_model_get_n_classes (m);
  if (sd_model_get_n_classes (r) != K
      || sd_model_get_min_length (r) != sd_model_get_min_length (m))
    fuzz_fail ("the exported model has other classes or lengths");
  for (int k = 0; k < K; k++)
    if (strcmp (sd_model_get_labels (r)[k], sd_model_get_labels (m)[k]) != 0)
      fuzz_fail ("the exported model has other labels");
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  sd_set_num_threads (1);
  fuzz_abort_on_log (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m
      = sd_model_load_onnx_from_bytes (bytes, "fuzz.onnx", NULL, &error);

  if (m == NULL) {
    if (error == NULL || error->domain != SD_ERROR || error->message == NULL)
      fuzz_fail ("the reader failed without an SD_ERROR");
    return 0;
  }
  const int K = sd_model_get_n_classes (m);
  const char *const *labels = sd_model_get_labels (m);
  for (int k = 0; k < K; k++)
    if (labels[k] == NULL)
      fuzz_fail ("class %d has no label", k);
  if (labels[K] != NULL)
    fuzz_fail ("more labels than classes");
  for (guint i = 0; i < sd_model_get_n_tensors (m); i++) {
    const SdParamInfo *t = sd_model_get_tensor (m, i);
    if (t->offset + t->numel > sd_model_get_n_params (m))
      fuzz_fail ("tensor '%s' lies outside the parameters", t->name);
  }
  const int T = sd_model_get_min_length (m);
  run_model (m, T);
  run_model (m, 2 * T + 3);
  fuzz_check_round_trip (m);
  check_onnx_round_trip (m);
  return 0;
}
