/* seqdream: 1-D CNN classifiers: an architecture (SdArch, seqdream/arch.h)
 * with its parameters (SdModel) and the activations of a forward/backward
 * pass (SdWorkspace).
 *
 * Tensor names follow the PyTorch state_dict of the equivalent modules
 * (examples/export_pytorch.py), e.g. for stage i:
 *   conv:     stages.i.conv.weight (OC,IC,K), stages.i.bn.{weight,bias,
 *             running_mean,running_var} (OC)
 *   residual: stages.i.convs.j.conv.weight, stages.i.convs.j.bn.*,
 *             stages.i.shortcut.conv.weight (OC,IC,1), stages.i.shortcut.bn.*
 *   head:     fc.weight (K,C), fc.bias (K)
 *
 * A model is immutable once loaded (except while it is being trained), so
 * any number of workspaces, on any threads, can share one model.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <seqdream/arch.h>
#include <seqdream/error.h>

G_BEGIN_DECLS

typedef enum
{
  SD_NORM_PER_SERIES, /* z-normalise every window on its own */
  SD_NORM_FIXED,      /* (x - mean) / std with stored constants */
  SD_NORM_NONE,
} SdNormMode;

typedef struct
{
  SdNormMode mode;
  float mean;
  float std;
} SdNormalization;

const char *sd_norm_mode_to_string (SdNormMode mode);
gboolean sd_norm_mode_from_string (const char *s, SdNormMode *mode);

/* Normalises n series of T samples, x (n,T), in place as norm says:
 *   SD_NORM_PER_SERIES  every series by its own mean and population
 *                       standard deviation (a flat series, sd <= 1e-8,
 *                       becomes zeros)
 *   SD_NORM_FIXED       (x - norm.mean) / norm.std
 *   SD_NORM_NONE        unchanged.
 * mean and sd (n each, or both NULL) receive the map of every series back
 * to data units, data = x * sd[i] + mean[i]: the series' own statistics
 * (sd 1 for a flat one), the fixed constants, or 0 and 1. This is the
 * library's one rule: models, training, datasets and dreams use it. */
void sd_normalization_apply (
    SdNormalization norm, float *x, int n, int T, double *mean, double *sd);

/* The inverse, in place: x = x * sd[i] + mean[i] with the maps
 * sd_normalization_apply returned; with mean and sd NULL, the fixed
 * constants of norm (x * norm.std + norm.mean, in float), and per-series
 * or no normalisation leave x as it is (without the maps the scale of
 * each series is unknown). */
void sd_normalization_invert (SdNormalization norm, float *x, int n, int T,
    const double *mean, const double *sd);

/* One parameter or buffer tensor of the model. */
typedef struct
{
  char *name;
  int ndim;
  gint64 shape[3];
  gsize offset; /* into sd_model_get_params () */
  gsize numel;
  gboolean trainable; /* FALSE for running_mean / running_var */
} SdParamInfo;

typedef struct _SdModel SdModel;

/* A freshly initialised model (PyTorch default init: Kaiming-uniform
 * convs/dense, BN weight 1 bias 0, running stats 0/1), seeded. labels has
 * arch->n_classes entries. */
SdModel *sd_model_new (const SdArch *arch, const char *const *labels,
    guint64 seed, GError **error);
/* InceptionTime (Ismail Fawaz et al. 2020; core/inception.c): six
 * inception modules of n_filters per branch (4 n_filters channels), a
 * residual shortcut every three, global average pooling, a dense layer;
 * initialised as sd_model_new. Its layers are the ReLU output of each
 * module ("stages.0".."stages.5"), "gap" and "fc" (an op graph, as an
 * imported model, whose batch norms train). The presets
 * "inception" (32 filters, the paper's) and "inception-small" (16) of
 * sd_model_new call this; any other count is named "inception-N". */
SdModel *sd_model_new_inception (int n_filters, int n_classes,
    const char *const *labels, guint64 seed, GError **error);
SdModel *sd_model_load (const char *path, GError **error);
SdModel *sd_model_load_from_bytes (
    GBytes *bytes, const char *display_name, GError **error);
gboolean sd_model_save (SdModel *model, const char *path, GError **error);
GBytes *sd_model_save_to_bytes (SdModel *model);
SdModel *sd_model_ref (SdModel *model);
void sd_model_unref (SdModel *model);
SdModel *sd_model_copy (SdModel *model);

const SdArch *sd_model_get_arch (const SdModel *model);
const char *sd_model_get_display_name (const SdModel *model);
int sd_model_get_n_classes (const SdModel *model);
const char *const *sd_model_get_labels (const SdModel *model);
/* -1 when the label is not one of the model's. */
int sd_model_find_label (const SdModel *model, const char *label);

/* The shortest input the model accepts: the product of its stages'
 * pooling factors (1 without pooling). */
int sd_model_get_min_length (const SdModel *model);
/* TRUE when the model takes series of T samples: at least
 * sd_model_get_min_length and, for a model imported from ONNX, a length
 * for which its joined branches agree (one length only for a model that
 * flattens its time axis into a dense layer); else an error saying why. */
gboolean sd_model_check_length (const SdModel *model, int T, GError **error);
/* Receptive field of one output position of the last stage, in input
 * samples (before the global average pooling). */
int sd_model_get_receptive_field (const SdModel *model);

guint sd_model_get_train_length (const SdModel *model);
void sd_model_set_train_length (SdModel *model, guint length);
double sd_model_get_sample_rate (const SdModel *model);
void sd_model_set_sample_rate (SdModel *model, double rate);
SdNormalization sd_model_get_normalization (const SdModel *model);
void sd_model_set_normalization (SdModel *model, SdNormalization norm);
/* Range of the normalised training inputs (dream clipping default). */
void sd_model_get_input_range (const SdModel *model, float *lo, float *hi);
void sd_model_set_input_range (SdModel *model, float lo, float hi);
/* Provenance: a JSON object as a string (data, protocol, accuracy, seed,
 * date, command); NULL when unknown. */
const char *sd_model_get_provenance (const SdModel *model);
/* Sets it (NULL: unknown). FALSE with SD_ERROR_INVALID_ARG, and the
 * provenance unchanged, when json_object is not a JSON object that a
 * model file can hold (the strict JSON the loader reads: no raw control
 * characters, no duplicate keys, bounded nesting), so that what is set is
 * always what a saved file gives back. */
gboolean sd_model_set_provenance (
    SdModel *model, const char *json_object, GError **error);

/* The model's input normalisation, in place, on B series of length T:
 * sd_normalization_apply with the model's SdNormalization. */
void sd_model_normalize_input (const SdModel *model, float *x, int B, int T);

gsize sd_model_get_n_params (const SdModel *model); /* all floats */
gsize sd_model_get_n_trainable (const SdModel *model);
guint sd_model_get_n_tensors (const SdModel *model);
const SdParamInfo *sd_model_get_tensor (const SdModel *model, guint i);
const SdParamInfo *sd_model_find_tensor (
    const SdModel *model, const char *name);
float *sd_model_get_params (SdModel *model);

/* ---- ensembles ----
 *
 * An ensemble is a model whose output is the log of its members' mean
 * probability: z_k = log (1/M sum_m softmax (logits_m)_k), so softmax (z)
 * is that mean exactly and every consumer of "logits" (evaluation,
 * predictions, dreams of a class, attributions) treats it as one model.
 * Its layers are its first member's ("stages.i", "gap": layer objectives
 * and the dreams' feature anchor read the first member) except "fc",
 * which is z. Its novelty, once sd_model_calibrate has run on it, is
 * every member's (seqdream/stats.h, sd_model_stats_get_novelty_members).
 * An ensemble runs in SD_MODE_EVAL workspaces only (train its members).
 * docs/model-format.md describes the file. */

/* An ensemble of members[0..n) (2..SD_MAX_MEMBERS, taking a reference on
 * each): every member a model of any architecture or op graph (built-in,
 * a graph preset or imported; not an ensemble) with the same labels,
 * training length, sample rate and normalisation; else an SD_ERROR_MODEL
 * error naming the difference. The ensemble takes its metadata and its
 * layers from members[0]. */
#define SD_MAX_MEMBERS 64
SdModel *sd_model_new_ensemble (SdModel *const *members, int n, GError **error);
/* How an ensemble combines its members' log-probabilities lp_m (the
 * output of every workspace made after the choice):
 *   SD_ENSEMBLE_MEAN       z = log mean_m exp (lp_m): softmax (z) is the
 *                          mean probability (the default; what predict,
 *                          eval and the element report)
 *   SD_ENSEMBLE_GEOMETRIC  z = mean_m lp_m: softmax (z) is the normalised
 *                          geometric mean; a dream of class c then
 *                          maximises the members' mean log-probability of
 *                          c, which a member that disagrees keeps low
 *                          (the mean rule's gradient vanishes for it).
 * Not stored in the file. Setting it on a model that is not an ensemble
 * is an SD_ERROR_INVALID_ARG error. */
typedef enum
{
  SD_ENSEMBLE_MEAN,
  SD_ENSEMBLE_GEOMETRIC,
} SdEnsembleRule;
SdEnsembleRule sd_model_get_ensemble_rule (const SdModel *model);
gboolean sd_model_set_ensemble_rule (
    SdModel *model, SdEnsembleRule rule, GError **error);
/* The number of members; 0 for a model that is not an ensemble. */
int sd_model_get_n_members (const SdModel *model);
/* Member i (0 <= i < sd_model_get_n_members), owned by the ensemble. */
SdModel *sd_model_get_member (const SdModel *model, int i);

/* ---- forward / backward ---- */

typedef enum
{
  SD_MODE_EVAL,  /* running statistics; model untouched */
  SD_MODE_TRAIN, /* batch statistics; updates running stats */
} SdMode;

typedef struct _SdWorkspace SdWorkspace;

/* All activations and scratch for batches up to max_batch series of up to
 * max_length samples. Nothing is allocated after this. */
SdWorkspace *sd_workspace_new (
    SdModel *model, int max_batch, int max_length, SdMode mode, GError **error);
void sd_workspace_free (SdWorkspace *ws);
int sd_workspace_get_max_batch (const SdWorkspace *ws);
/* Split the convolutions of sd_model_forward and of the parameter
 * backward (training) over n_threads threads by samples of the batch
 * (1, the default: none; the input-only backward of dreams is never
 * split). Results depend on the thread count only through the order in
 * which the conv weight gradients of the shares are added: deterministic
 * for a thread count, identical to one thread in the forward. Call
 * OpenBLAS with one thread meanwhile (sd_set_num_threads): its own
 * threads would compete with these. Starts n_threads - 1 threads and
 * allocates their scratch (the count it already has: nothing changes);
 * FALSE with an error when it cannot. */
gboolean sd_workspace_set_threads (
    SdWorkspace *ws, int n_threads, GError **error);
int sd_workspace_get_max_length (const SdWorkspace *ws);

/* x (B,T), already normalised -> logits (B,K), owned by ws and valid until
 * the next forward. In SD_MODE_TRAIN the running statistics of the model
 * are updated. */
const float *sd_model_forward (
    SdModel *model, SdWorkspace *ws, const float *x, int B, int T);

/* Backward of the last forward from dlogits (B,K). Parameter gradients
 * are ACCUMULATED into grads (sd_model_get_n_params floats, same layout as
 * the parameters; may be NULL); the input gradient is WRITTEN to dx (B,T)
 * when dx is not NULL. An SD_MODE_EVAL workspace without grads runs the
 * input-only backward (dreaming), which gives the same dx up to float
 * rounding with less work. */
void sd_model_backward (SdModel *model, SdWorkspace *ws, const float *dlogits,
    float *grads, float *dx);

/* Names of the layers whose outputs can be read or targeted, in order
 * ("stages.0", "stages.1", ..., "gap", "fc"). NULL-terminated, owned by the
 * model. "gap" is the pooled feature vector (B,C), "fc" the logits (B,K);
 * "stages.i" the output of stage i (B,C,T) after its final ReLU. In a
 * graph model (imported, or a graph preset) the stages are the outputs of
 * its rectifying activations (ReLU, LeakyReLU, ELU, GELU) that still have
 * a time axis, in graph order (evenly thinned to SD_MAX_STAGES, keeping
 * the last); a graph without such activations has only "gap" and "fc". */
const char *const *sd_model_get_layer_names (const SdModel *model);
/* Index into sd_model_get_layer_names, or -1. */
int sd_model_find_layer (const SdModel *model, const char *name);
/* The number of "stages.i" layers (the index of "gap"). */
int sd_model_get_n_stage_layers (const SdModel *model);

/* The length of `layer`'s output for an input of `length` samples:
 * length divided by the pooling before it (stages; a graph's value length
 * for that input), 1 for "gap" and "fc". */
int sd_model_get_layer_length (const SdModel *model, int layer, int length);

/* The output of `layer` from the last forward: (B, C, T) for stages,
 * (B, C) for "gap" (T = 1), (B, K) for "fc" (T = 1). Owned by ws. */
const float *sd_workspace_get_layer_output (
    const SdWorkspace *ws, int layer, int *channels, int *length);

/* A gradient injected at a layer output: (B, C, T) as that layer's output
 * in the last forward. */
typedef struct
{
  int layer;
  const float *grad;
} SdLayerGrad;

/* sd_model_backward with gradients of the objective with respect to
 * intermediate layer outputs added (neuron and channel objectives,
 * diversity terms). dlogits may be NULL (no gradient at the logits). */
void sd_model_backward_full (SdModel *model, SdWorkspace *ws,
    const float *dlogits, const SdLayerGrad *extra, int n_extra, float *grads,
    float *dx);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdModel, sd_model_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdWorkspace, sd_workspace_free)

G_END_DECLS
