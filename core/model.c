/* Models: compiling an architecture into the op list (model-private.h),
 * the parameters and their initialisation, metadata accessors.
 * Loading and saving: model-file.c; forward and backward: workspace.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"
#include "json-strict.h"
#include "model-private.h"

#include <math.h>
#include <string.h>

static void
param_info_free (gpointer p)
{
  SdParamInfo *info = p;
  g_free (info->name);
  g_free (info);
}

gsize
sd_model_add_tensor (SdModel *m, char *name, int ndim, gint64 d0, gint64 d1,
    gint64 d2, gboolean trainable)
{
  SdParamInfo *info = g_new0 (SdParamInfo, 1);
  info->name = name;
  info->ndim = ndim;
  info->shape[0] = d0;
  info->shape[1] = d1;
  info->shape[2] = d2;
  info->numel
      = (gsize) d0 * (ndim > 1 ? (gsize) d1 : 1) * (ndim > 2 ? (gsize) d2 : 1);
  info->offset = m->n_params;
  info->trainable = trainable;
  m->n_params += info->numel;
  if (trainable)
    m->n_trainable += info->numel;
  g_ptr_array_add (m->tensors, info);
  g_hash_table_insert (m->tensor_index, info->name, info);
  return info->offset;
}

static int
new_act (SdModel *m, int channels, int div)
{
  g_assert (m->n_acts < MAX_ACTS);
  m->act_channels[m->n_acts] = channels;
  m->act_div[m->n_acts] = div;
  return m->n_acts++;
}

static Op *
new_op (SdModel *m, OpType type)
{
  g_assert (m->n_ops < MAX_OPS);
  Op *op = &m->ops[m->n_ops++];
  memset (op, 0, sizeof *op);
  op->type = type;
  op->in2 = -1;
  return op;
}

/* conv (no bias) + batch norm (+ ReLU when relu) under `prefix`; returns
 * the output activation. */
static int
compile_conv_bn (
    SdModel *m, const char *prefix, int in, int C, int OC, int K, gboolean relu)
{
  Op *conv = new_op (m, OP_CONV);
  conv->in = in;
  conv->out = new_act (m, OC, m->act_div[in]);
  conv->C = C;
  conv->OC = OC;
  conv->K = K;
  conv->fold_bn = !relu;
  conv->w = sd_model_add_tensor (
      m, g_strdup_printf ("%s.conv.weight", prefix), 3, OC, C, K, TRUE);

  Op *bn = new_op (m, relu ? OP_BN_RELU : OP_BN);
  bn->in = conv->out;
  bn->out = new_act (m, OC, m->act_div[in]);
  bn->C = OC;
  bn->w = sd_model_add_tensor (
      m, g_strdup_printf ("%s.bn.weight", prefix), 1, OC, 0, 0, TRUE);
  bn->b = sd_model_add_tensor (
      m, g_strdup_printf ("%s.bn.bias", prefix), 1, OC, 0, 0, TRUE);
  bn->rm = sd_model_add_tensor (
      m, g_strdup_printf ("%s.bn.running_mean", prefix), 1, OC, 0, 0, FALSE);
  bn->rv = sd_model_add_tensor (
      m, g_strdup_printf ("%s.bn.running_var", prefix), 1, OC, 0, 0, FALSE);
  bn->bn_slot = m->bn_channels_total;
  m->bn_channels_total += OC;
  return bn->out;
}

/* Stage i, a residual block on activation x of C channels: its convs with
 * BN (ReLU between them), the shortcut (x, or a 1x1 conv + BN when the
 * channel count changes), the join and its ReLU. Returns the output. */
static int
compile_residual (SdModel *m, int i, const SdStage *s, int x, int C, int div)
{
  int h = x, hc = C;
  const int OC = s->channels[s->n_convs - 1];

  for (int j = 0; j < s->n_convs; j++) {
    g_autofree char *prefix = g_strdup_printf ("stages.%d.convs.%d", i, j);
    h = compile_conv_bn (
        m, prefix, h, hc, s->channels[j], s->kernels[j], j < s->n_convs - 1);
    hc = s->channels[j];
  }
  int sc = x;
  if (C != OC) {
    g_autofree char *prefix = g_strdup_printf ("stages.%d.shortcut", i);
    sc = compile_conv_bn (m, prefix, x, C, OC, 1, FALSE);
  }
  Op *add = new_op (m, OP_ADD_RELU);
  add->in = h;
  add->in2 = sc;
  add->out = new_act (m, OC, div);
  add->C = OC;
  return add->out;
}

/* Average pooling by P of activation `in` (C channels) after the stage;
 * returns its output. */
static int
compile_pool (SdModel *m, int in, int C, int P, int div)
{
  Op *pool = new_op (m, OP_POOL);
  pool->in = in;
  pool->C = C;
  pool->K = P;
  pool->out = new_act (m, C, div * P);
  return pool->out;
}

/* Global average pooling of activation `in` (C channels) and the dense
 * layer to the classes. */
static void
compile_head (SdModel *m, int in, int C)
{
  const int K = m->arch.n_classes;
  Op *gap = new_op (m, OP_GAP);
  gap->in = in;
  gap->C = C;
  Op *fc = new_op (m, OP_DENSE);
  fc->C = C;
  fc->OC = K;
  fc->w = sd_model_add_tensor (m, g_strdup ("fc.weight"), 2, K, C, 0, TRUE);
  fc->b = sd_model_add_tensor (m, g_strdup ("fc.bias"), 1, K, 0, 0, TRUE);
}

static gboolean
compile_arch (SdModel *m, GError **error)
{
  const SdArch *a = &m->arch;
  int div = 1; /* the pooling so far */
  int cur = new_act (m, a->in_channels, div);
  int C = a->in_channels;
  int rf = 1; /* receptive field and the stride of the current stage */

  if (a->n_stages < 1 || a->n_stages > SD_MAX_STAGES || a->n_classes < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "architecture '%s' needs 1 to %d stages and at least 2 classes",
        a->name, SD_MAX_STAGES);
    return FALSE;
  }
  for (int i = 0; i < a->n_stages; i++) {
    const SdStage *s = &a->stages[i];
    /* Every stage adds at most 5 + 2 n acts and 3 n + 5 ops. */
    if (m->n_acts + 2 * SD_MAX_STAGE_CONVS + 7 > MAX_ACTS
        || m->n_ops + 3 * SD_MAX_STAGE_CONVS + 7 > MAX_OPS) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "architecture '%s' is too deep", a->name);
      return FALSE;
    }
    if (s->type == SD_STAGE_CONV) {
      g_autofree char *prefix = g_strdup_printf ("stages.%d", i);
      cur = compile_conv_bn (
          m, prefix, cur, C, s->channels[0], s->kernels[0], TRUE);
      C = s->channels[0];
    } else {
      cur = compile_residual (m, i, s, cur, C, div);
      C = s->channels[s->n_convs - 1];
    }
    for (int j = 0; j < s->n_convs; j++)
      rf += (s->kernels[j] - 1) * div;
    if (s->pool > 1) {
      if (div > MAX_TOTAL_POOL / s->pool) {
        g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
            "architecture '%s' pools by more than %d in total", a->name,
            MAX_TOTAL_POOL);
        return FALSE;
      }
      cur = compile_pool (m, cur, C, s->pool, div);
      rf += (s->pool - 1) * div;
      div *= s->pool;
    }
    m->stage_out[i] = cur;
  }
  m->min_length = div;
  m->receptive_field = rf;
  m->feat_channels = C;
  m->n_stage_layers = a->n_stages;
  compile_head (m, cur, C);

  m->layer_names = g_new0 (char *, a->n_stages + 3);
  for (int i = 0; i < a->n_stages; i++)
    m->layer_names[i] = g_strdup_printf ("stages.%d", i);
  m->layer_names[a->n_stages] = g_strdup ("gap");
  m->layer_names[a->n_stages + 1] = g_strdup ("fc");
  return TRUE;
}

SdModel *
sd_model_new_empty (const SdArch *arch)
{
  SdModel *m = g_new0 (SdModel, 1);
  m->ref_count = 1;
  m->arch = *arch;
  m->tensors = g_ptr_array_new_with_free_func (param_info_free);
  m->tensor_index = g_hash_table_new (g_str_hash, g_str_equal);
  m->norm.mode = SD_NORM_PER_SERIES;
  m->norm.mean = 0.0f;
  m->norm.std = 1.0f;
  m->range_lo = -INFINITY;
  m->range_hi = INFINITY;
  m->display_name = g_strdup (arch->name);
  return m;
}

SdModel *
sd_model_compile (const SdArch *arch, GError **error)
{
  SdModel *m = sd_model_new_empty (arch);
  if (!compile_arch (m, error)) {
    sd_model_unref (m);
    return NULL;
  }
  return m;
}

static SdModel *
model_alloc (const SdArch *arch, GError **error)
{
  SdModel *m = sd_model_compile (arch, error);

  if (m != NULL)
    m->params = g_new0 (float, m->n_params);
  return m;
}

/* PyTorch's default initialisation: kaiming_uniform(a=sqrt(5)) for conv
 * and linear weights, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the same
 * bound for the linear bias; BN weight 1, bias 0, running stats 0 / 1. */
static void
model_init_params (SdModel *m, guint64 seed)
{
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (s, 2);
  float fc_bound = 1.0f;

  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    float *p = m->params + t->offset;
    if (g_str_has_suffix (t->name, ".running_var")
        || g_str_has_suffix (t->name, ".bn.weight")) {
      for (gsize k = 0; k < t->numel; k++)
        p[k] = 1.0f;
    } else if (g_str_has_suffix (t->name, ".running_mean")
               || g_str_has_suffix (t->name, ".bn.bias")) {
      memset (p, 0, t->numel * sizeof (float));
    } else {
      float bound;
      if (t->ndim >= 2) {
        gint64 fan_in = t->shape[1] * (t->ndim == 3 ? t->shape[2] : 1);
        bound = 1.0f / sqrtf ((float) fan_in);
        if (g_strcmp0 (t->name, "fc.weight") == 0)
          fc_bound = bound;
      } else {
        bound = fc_bound; /* fc.bias follows fc.weight */
      }
      for (gsize k = 0; k < t->numel; k++)
        p[k] = (float) g_rand_double_range (rng, -bound, bound);
    }
  }
}

gboolean
sd_model_check_labels (
    const char *const *labels, int n, const char *where, GError **error)
{
  for (int i = 0; i < n; i++) {
    if (labels[i] == NULL || labels[i][0] == '\0') {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: class %d has no label",
          where, i);
      return FALSE;
    }
    for (int j = 0; j < i; j++)
      if (strcmp (labels[i], labels[j]) == 0) {
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
            "%s: label '%s' appears twice", where, labels[i]);
        return FALSE;
      }
  }
  if (labels[n] != NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: more labels than the %d classes", where, n);
    return FALSE;
  }
  return TRUE;
}

SdModel *
sd_model_new (
    const SdArch *arch, const char *const *labels, guint64 seed, GError **error)
{
  g_return_val_if_fail (arch != NULL && labels != NULL, NULL);
  for (int i = 0; i < arch->n_classes; i++)
    if (labels[i] == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "architecture '%s' has %d classes but only %d labels were given",
          arch->name, arch->n_classes, i);
      return NULL;
    }
  if (!sd_model_check_labels (labels, arch->n_classes, arch->name, error))
    return NULL;
  /* the graph presets (sd_arch_from_preset leaves their stages empty) */
  if (arch->n_stages == 0 && g_strcmp0 (arch->name, "inception") == 0)
    return sd_model_new_inception (32, arch->n_classes, labels, seed, error);
  if (arch->n_stages == 0 && g_strcmp0 (arch->name, "inception-small") == 0)
    return sd_model_new_inception (16, arch->n_classes, labels, seed, error);
  SdModel *m = model_alloc (arch, error);
  if (m == NULL)
    return NULL;
  m->labels = g_strdupv ((char **) labels);
  model_init_params (m, seed);
  return m;
}

SdModel *
sd_model_new_inception (int n_filters, int n_classes, const char *const *labels,
    guint64 seed, GError **error)
{
  g_return_val_if_fail (labels != NULL, NULL);
  if (n_filters < 1 || n_filters > 1024 || n_classes < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "InceptionTime needs 1 to 1024 filters and at least 2 classes, not "
        "%d and %d",
        n_filters, n_classes);
    return NULL;
  }
  g_autofree char *name = n_filters == 32 ? g_strdup ("inception")
                          : n_filters == 16
                              ? g_strdup ("inception-small")
                              : g_strdup_printf ("inception-%d", n_filters);
  if (!sd_model_check_labels (labels, n_classes, name, error))
    return NULL;
  g_autoptr (SdGraph) g
      = sd_inception_graph (n_filters, n_classes, 1e-5f, error);
  if (g == NULL)
    return NULL;
  g->arch_name = g_strdup (name);
  SdModel *m = sd_model_compile_graph (g, name, error);
  if (m == NULL)
    return NULL;
  m->params = g_new0 (float, m->n_params);
  m->labels = g_strdupv ((char **) labels);
  model_init_params (m, seed);
  return m;
}

SdModel *
sd_model_ref (SdModel *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_atomic_int_inc (&model->ref_count);
  return model;
}

void
sd_model_unref (SdModel *m)
{
  if (m == NULL || !g_atomic_int_dec_and_test (&m->ref_count))
    return;
  g_free (m->display_name);
  g_strfreev (m->labels);
  g_free (m->provenance);
  sd_model_stats_free (m->stats);
  g_hash_table_unref (m->tensor_index);
  g_ptr_array_unref (m->tensors);
  g_free (m->params);
  g_strfreev (m->layer_names);
  sd_graph_unref (m->graph);
  sd_ensemble_free_members (m);
  g_free (m);
}

SdModel *
sd_model_copy (SdModel *model)
{
  if (model->members != NULL)
    return sd_ensemble_copy (model);
  SdModel *m = model->graph != NULL ? sd_model_compile_graph (
                   model->graph, model->arch.name, NULL)
                                    : model_alloc (&model->arch, NULL);
  g_assert (m != NULL); /* the arch or graph compiled once already */
  if (m->params == NULL)
    m->params = g_new0 (float, m->n_params);
  g_free (m->display_name);
  m->display_name = g_strdup (model->display_name);
  m->labels = g_strdupv (model->labels);
  m->train_length = model->train_length;
  m->sample_rate = model->sample_rate;
  m->norm = model->norm;
  m->range_lo = model->range_lo;
  m->range_hi = model->range_hi;
  m->provenance = g_strdup (model->provenance);
  if (model->stats != NULL)
    m->stats = sd_model_stats_copy (model->stats);
  memcpy (m->params, model->params, m->n_params * sizeof (float));
  return m;
}

/* ---- accessors ---- */

const SdArch *
sd_model_get_arch (const SdModel *model)
{
  return &model->arch;
}

const char *
sd_model_get_display_name (const SdModel *model)
{
  return model->display_name;
}

int
sd_model_get_n_classes (const SdModel *model)
{
  return model->arch.n_classes;
}

const char *const *
sd_model_get_labels (const SdModel *model)
{
  return (const char *const *) model->labels;
}

int
sd_model_find_label (const SdModel *model, const char *label)
{
  for (int i = 0; model->labels[i] != NULL; i++)
    if (g_strcmp0 (model->labels[i], label) == 0)
      return i;
  return -1;
}

int
sd_model_get_min_length (const SdModel *model)
{
  return model->min_length;
}

gboolean
sd_model_check_length (const SdModel *model, int T, GError **error)
{
  if (T < model->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' needs series of at least %d samples, not %d", model->display_name,
        model->min_length, T);
    return FALSE;
  }
  for (int i = 0; i < model->n_members; i++)
    if (!sd_model_check_length (model->members[i], T, error))
      return FALSE;
  if (model->graph == NULL)
    return TRUE;
  g_autofree int *len = g_new (int, model->graph->values->len);
  if (!sd_graph_lengths (model->graph, T, TRUE, len, error)) {
    g_prefix_error (
        error, "'%s' cannot take %d samples: ", model->display_name, T);
    return FALSE;
  }
  return TRUE;
}

int
sd_model_get_receptive_field (const SdModel *model)
{
  return model->receptive_field;
}

guint
sd_model_get_train_length (const SdModel *model)
{
  return model->train_length;
}

void
sd_model_set_train_length (SdModel *model, guint length)
{
  model->train_length = length;
}

double
sd_model_get_sample_rate (const SdModel *model)
{
  return model->sample_rate;
}

void
sd_model_set_sample_rate (SdModel *model, double rate)
{
  model->sample_rate = rate;
}

SdNormalization
sd_model_get_normalization (const SdModel *model)
{
  return model->norm;
}

void
sd_model_set_normalization (SdModel *model, SdNormalization norm)
{
  model->norm = norm;
}

void
sd_model_get_input_range (const SdModel *model, float *lo, float *hi)
{
  *lo = model->range_lo;
  *hi = model->range_hi;
}

void
sd_model_set_input_range (SdModel *model, float lo, float hi)
{
  model->range_lo = lo;
  model->range_hi = hi;
}

const char *
sd_model_get_provenance (const SdModel *model)
{
  return model->provenance;
}

gboolean
sd_model_set_provenance (
    SdModel *model, const char *json_object, GError **error)
{
  g_return_val_if_fail (model != NULL, FALSE);
  if (json_object != NULL) {
    g_autoptr (GError) local = NULL;
    g_autoptr (JsonParser) p = json_parser_new ();
    if (!sd_json_validate (json_object, &local)
        || !json_parser_load_from_data (p, json_object, -1, &local)
        || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "provenance must be a JSON object%s%s",
          local ? ": " : " (not another JSON value)",
          local ? local->message : "");
      return FALSE;
    }
  }
  g_free (model->provenance);
  model->provenance = g_strdup (json_object);
  return TRUE;
}

gsize
sd_model_get_n_params (const SdModel *model)
{
  return model->n_params;
}

gsize
sd_model_get_n_trainable (const SdModel *model)
{
  return model->n_trainable;
}

guint
sd_model_get_n_tensors (const SdModel *model)
{
  return model->tensors->len;
}

const SdParamInfo *
sd_model_get_tensor (const SdModel *model, guint i)
{
  g_return_val_if_fail (i < model->tensors->len, NULL);
  return g_ptr_array_index (model->tensors, i);
}

const SdParamInfo *
sd_model_find_tensor (const SdModel *model, const char *name)
{
  return g_hash_table_lookup (model->tensor_index, name);
}

float *
sd_model_get_params (SdModel *model)
{
  return model->params;
}

const char *const *
sd_model_get_layer_names (const SdModel *model)
{
  return (const char *const *) model->layer_names;
}

void
sd_model_normalize_input (const SdModel *model, float *x, int B, int T)
{
  sd_normalization_apply (model->norm, x, B, T, NULL, NULL);
}

int
sd_model_find_layer (const SdModel *model, const char *name)
{
  for (int i = 0; model->layer_names[i] != NULL; i++)
    if (g_strcmp0 (model->layer_names[i], name) == 0)
      return i;
  return -1;
}

int
sd_model_get_layer_length (const SdModel *m, int layer, int length)
{
  g_return_val_if_fail (layer >= 0 && layer < m->n_stage_layers + 2, 0);
  if (layer >= m->n_stage_layers)
    return 1;
  if (m->members != NULL) /* the layers are member 0's */
    return sd_model_get_layer_length (m->members[0], layer, length);
  if (m->graph != NULL)
    return sd_graph_value_length (m->graph, m->graph_stage[layer], length);
  return length / m->act_div[m->stage_out[layer]];
}

int
sd_model_get_n_stage_layers (const SdModel *model)
{
  return model->n_stage_layers;
}
