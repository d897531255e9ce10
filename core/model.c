/* Models: parameters, metadata, the compiled op list, forward/backward.
 *
 * An SdArch is compiled once into a flat list of ops (conv, batch norm,
 * ReLU, add, GAP, dense) over numbered activation buffers; forward walks
 * the list, backward walks it in reverse. Parameters live in one float
 * array laid out in state_dict order; gradients use the same layout.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/model.h"
#include "seqdream/layers.h"
#include "seqdream/safetensors.h"
#include "json-strict.h"
#include "sd-private.h"

#include <float.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

typedef enum
{
  OP_CONV,
  OP_BN,
  OP_RELU, /* in place: in == out */
  OP_ADD,
  OP_GAP,
  OP_DENSE,
  OP_POOL, /* average pooling over time, kernel = stride = K */
} OpType;

typedef struct
{
  OpType type;
  int in, in2, out; /* activation indices */
  int C, OC, K;
  gsize w, b, rm, rv; /* parameter offsets */
  int bn_slot;        /* index into the saved BN statistics */
} Op;

#define MAX_ACTS 128
#define MAX_TOTAL_POOL 65536
#define MAX_OPS 256

struct _SdModel
{
  gint ref_count;
  SdArch arch;
  char *display_name;
  char **labels;
  guint train_length;
  double sample_rate;
  SdNormalization norm;
  float range_lo, range_hi;
  char *provenance;

  GPtrArray *tensors;       /* SdParamInfo* in state_dict order */
  GHashTable *tensor_index; /* name -> SdParamInfo* */
  gsize n_params, n_trainable;
  float *params;

  Op ops[MAX_OPS];
  int n_ops;
  int n_acts;
  int act_channels[MAX_ACTS];  /* channels of each (B,C,T) activation */
  int act_div[MAX_ACTS];       /* its length is T / act_div (pooling) */
  int min_length;              /* product of the pooling factors */
  int receptive_field;         /* of the last stage, in input samples */
  gboolean conv_out[MAX_ACTS]; /* written by a conv, read only by its BN */
  int n_bn;
  int bn_channels_total;
  int stage_out[SD_MAX_STAGES]; /* activation index of each stage output */
  int feat_channels;            /* channels into GAP */
  char **layer_names;
};

struct _SdWorkspace
{
  SdModel *model;
  SdMode mode;
  int max_B, max_T;
  int B, T; /* of the last forward */
  float *mem;
  float *act[MAX_ACTS];
  float *dact[MAX_ACTS];
  float *col;
  float *wfold;             /* a conv weight with its BN's scale folded in */
  float *bn_mean, *bn_rstd; /* bn_channels_total each */
  float *pooled, *dpooled;  /* (B, feat_channels) */
  float *logits;            /* (B, K) */
};

const char *
sd_norm_mode_to_string (SdNormMode mode)
{
  switch (mode) {
    case SD_NORM_PER_SERIES:
      return "per-series";
    case SD_NORM_FIXED:
      return "fixed";
    case SD_NORM_NONE:
      return "none";
  }
  return "none";
}

gboolean
sd_norm_mode_from_string (const char *s, SdNormMode *mode)
{
  if (g_strcmp0 (s, "per-series") == 0)
    *mode = SD_NORM_PER_SERIES;
  else if (g_strcmp0 (s, "fixed") == 0)
    *mode = SD_NORM_FIXED;
  else if (g_strcmp0 (s, "none") == 0)
    *mode = SD_NORM_NONE;
  else
    return FALSE;
  return TRUE;
}

/* ---- compilation of the architecture ---- */

static void
param_info_free (gpointer p)
{
  SdParamInfo *info = p;
  g_free (info->name);
  g_free (info);
}

static gsize
add_tensor (SdModel *m, char *name, int ndim, gint64 d0, gint64 d1, gint64 d2,
    gboolean trainable)
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

/* conv (no bias) + batch norm under `prefix`; returns the BN output act. */
static int
compile_conv_bn (SdModel *m, const char *prefix, int in, int C, int OC, int K)
{
  Op *conv = new_op (m, OP_CONV);
  conv->in = in;
  conv->out = new_act (m, OC, m->act_div[in]);
  m->conv_out[conv->out] = TRUE;
  conv->C = C;
  conv->OC = OC;
  conv->K = K;
  conv->w = add_tensor (
      m, g_strdup_printf ("%s.conv.weight", prefix), 3, OC, C, K, TRUE);

  Op *bn = new_op (m, OP_BN);
  bn->in = conv->out;
  bn->out = new_act (m, OC, m->act_div[in]);
  bn->C = OC;
  bn->w = add_tensor (
      m, g_strdup_printf ("%s.bn.weight", prefix), 1, OC, 0, 0, TRUE);
  bn->b = add_tensor (
      m, g_strdup_printf ("%s.bn.bias", prefix), 1, OC, 0, 0, TRUE);
  bn->rm = add_tensor (
      m, g_strdup_printf ("%s.bn.running_mean", prefix), 1, OC, 0, 0, FALSE);
  bn->rv = add_tensor (
      m, g_strdup_printf ("%s.bn.running_var", prefix), 1, OC, 0, 0, FALSE);
  bn->bn_slot = m->bn_channels_total;
  m->bn_channels_total += OC;
  m->n_bn++;
  return bn->out;
}

static void
compile_relu (SdModel *m, int act)
{
  Op *op = new_op (m, OP_RELU);
  op->in = op->out = act;
  op->C = m->act_channels[act];
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
      cur = compile_conv_bn (m, prefix, cur, C, s->channels[0], s->kernels[0]);
      compile_relu (m, cur);
      C = s->channels[0];
    } else {
      int x = cur, h = cur, hc = C;
      int OC = s->channels[s->n_convs - 1];
      for (int j = 0; j < s->n_convs; j++) {
        g_autofree char *prefix = g_strdup_printf ("stages.%d.convs.%d", i, j);
        h = compile_conv_bn (m, prefix, h, hc, s->channels[j], s->kernels[j]);
        hc = s->channels[j];
        if (j < s->n_convs - 1)
          compile_relu (m, h);
      }
      int sc = x;
      if (C != OC) {
        g_autofree char *prefix = g_strdup_printf ("stages.%d.shortcut", i);
        sc = compile_conv_bn (m, prefix, x, C, OC, 1);
      }
      Op *add = new_op (m, OP_ADD);
      add->in = h;
      add->in2 = sc;
      add->out = new_act (m, OC, div);
      add->C = OC;
      compile_relu (m, add->out);
      cur = add->out;
      C = OC;
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
      Op *pool = new_op (m, OP_POOL);
      pool->in = cur;
      pool->C = C;
      pool->K = s->pool;
      rf += (s->pool - 1) * div;
      div *= s->pool;
      pool->out = new_act (m, C, div);
      cur = pool->out;
    }
    m->stage_out[i] = cur;
  }
  m->min_length = div;
  m->receptive_field = rf;
  m->feat_channels = C;
  Op *gap = new_op (m, OP_GAP);
  gap->in = cur;
  gap->C = C;
  Op *fc = new_op (m, OP_DENSE);
  fc->C = C;
  fc->OC = a->n_classes;
  fc->w = add_tensor (m, g_strdup ("fc.weight"), 2, a->n_classes, C, 0, TRUE);
  fc->b = add_tensor (m, g_strdup ("fc.bias"), 1, a->n_classes, 0, 0, TRUE);

  m->layer_names = g_new0 (char *, a->n_stages + 3);
  for (int i = 0; i < a->n_stages; i++)
    m->layer_names[i] = g_strdup_printf ("stages.%d", i);
  m->layer_names[a->n_stages] = g_strdup ("gap");
  m->layer_names[a->n_stages + 1] = g_strdup ("fc");
  return TRUE;
}

/* The model of an architecture, without its parameters (m->params NULL,
 * m->n_params counted). */
static SdModel *
model_compile (const SdArch *arch, GError **error)
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
  if (!compile_arch (m, error)) {
    sd_model_unref (m);
    return NULL;
  }
  return m;
}

static SdModel *
model_alloc (const SdArch *arch, GError **error)
{
  SdModel *m = model_compile (arch, error);

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

static gboolean
check_labels (
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
  if (!check_labels (labels, arch->n_classes, arch->name, error))
    return NULL;
  SdModel *m = model_alloc (arch, error);
  if (m == NULL)
    return NULL;
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
  g_hash_table_unref (m->tensor_index);
  g_ptr_array_unref (m->tensors);
  g_free (m->params);
  g_strfreev (m->layer_names);
  g_free (m);
}

SdModel *
sd_model_copy (SdModel *model)
{
  SdModel *m = model_alloc (&model->arch, NULL);
  g_assert (m != NULL); /* the arch compiled once already */
  g_free (m->display_name);
  m->display_name = g_strdup (model->display_name);
  m->labels = g_strdupv (model->labels);
  m->train_length = model->train_length;
  m->sample_rate = model->sample_rate;
  m->norm = model->norm;
  m->range_lo = model->range_lo;
  m->range_hi = model->range_hi;
  m->provenance = g_strdup (model->provenance);
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

void
sd_model_set_provenance (SdModel *model, const char *json_object)
{
  g_free (model->provenance);
  model->provenance = g_strdup (json_object);
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
  for (int b = 0; b < B; b++) {
    float *row = x + (gsize) b * T;
    switch (model->norm.mode) {
      case SD_NORM_PER_SERIES: {
        double s = 0.0, ss = 0.0;
        for (int t = 0; t < T; t++)
          s += row[t];
        double mean = s / T;
        for (int t = 0; t < T; t++)
          ss += (row[t] - mean) * (row[t] - mean);
        double sd = sqrt (ss / T);
        /* A flat window carries no shape: map it to zeros, not NaN. */
        float scale = sd > 1e-8 ? (float) (1.0 / sd) : 0.0f;
        for (int t = 0; t < T; t++)
          row[t] = (float) (row[t] - mean) * scale;
        break;
      }
      case SD_NORM_FIXED: {
        float inv = 1.0f / model->norm.std;
        for (int t = 0; t < T; t++)
          row[t] = (row[t] - model->norm.mean) * inv;
        break;
      }
      case SD_NORM_NONE:
        break;
    }
  }
}

/* ---- loading and saving ---- */

static JsonNode *
parse_json_meta (const SdSafetensors *st, const char *key, gboolean required,
    JsonParser *parser, GError **error)
{
  const char *text = sd_safetensors_get_metadata (st, key);
  const char *file = sd_safetensors_get_display_name (st);
  GError *local = NULL;

  if (text == NULL) {
    if (required)
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata '%s' is missing (not a seqdream model file?)", file,
          key);
    return NULL;
  }
  if (!sd_json_validate (text, error)) {
    g_prefix_error (error, "%s: metadata '%s': ", file, key);
    return NULL;
  }
  if (!json_parser_load_from_data (parser, text, -1, &local)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: metadata '%s' is not valid JSON: %s", file, key, local->message);
    g_error_free (local);
    return NULL;
  }
  return json_parser_get_root (parser);
}

static gboolean
json_number (JsonNode *n, double *out)
{
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_double (n);
  return isfinite (*out);
}

static gboolean
parse_uint_meta (const SdSafetensors *st, const char *key, guint64 max,
    guint64 *out, GError **error)
{
  const char *text = sd_safetensors_get_metadata (st, key);
  if (text == NULL) {
    *out = 0;
    return TRUE;
  }
  if (!g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata '%s' = '%s' is not an integer in [0, %" G_GUINT64_FORMAT
        "]",
        sd_safetensors_get_display_name (st), key, text, max);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_metadata (SdModel *m, const SdSafetensors *st, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  g_autoptr (JsonParser) lp = json_parser_new ();
  JsonNode *labels = parse_json_meta (st, "labels", TRUE, lp, error);
  if (labels == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (labels)) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'labels' must be a JSON array of strings", file);
    return FALSE;
  }
  JsonArray *la = json_node_get_array (labels);
  guint n = json_array_get_length (la);
  if ((int) n != m->arch.n_classes) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: %u labels for %d classes", file, n, m->arch.n_classes);
    return FALSE;
  }
  m->labels = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (la, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: label %u is not a string", file, i);
      return FALSE;
    }
    m->labels[i] = g_strdup (json_node_get_string (e));
  }
  if (!check_labels ((const char *const *) m->labels, (int) n, file, error))
    return FALSE;

  g_autoptr (JsonParser) np = json_parser_new ();
  JsonNode *norm = parse_json_meta (st, "normalization", FALSE, np, error);
  if (norm == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (norm != NULL) {
    JsonObject *o
        = JSON_NODE_HOLDS_OBJECT (norm) ? json_node_get_object (norm) : NULL;
    const char *mode
        = o ? json_object_get_string_member_with_default (o, "mode", NULL)
            : NULL;
    if (mode == NULL || !sd_norm_mode_from_string (mode, &m->norm.mode)) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'normalization' needs a mode of per-series, fixed "
          "or none",
          file);
      return FALSE;
    }
    if (m->norm.mode == SD_NORM_FIXED) {
      double mean, sd;
      /* Stored as floats: they must stay finite, and std positive, as
       * floats (1e300 would be Inf, 1e-50 zero). */
      if (!json_number (json_object_get_member (o, "mean"), &mean)
          || !json_number (json_object_get_member (o, "std"), &sd)
          || !(fabs (mean) <= FLT_MAX && sd > 0 && sd <= FLT_MAX
               && (float) sd > 0)) {
        g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
            "%s: fixed normalization needs a 'mean' and a positive 'std' "
            "that are finite 32-bit floats",
            file);
        return FALSE;
      }
      m->norm.mean = (float) mean;
      m->norm.std = (float) sd;
    }
  }

  guint64 len;
  if (!parse_uint_meta (st, "train_length", 100000000, &len, error))
    return FALSE;
  m->train_length = (guint) len;

  const char *rate = sd_safetensors_get_metadata (st, "sample_rate");
  if (rate != NULL) {
    char *end = NULL;
    double r = g_ascii_strtod (rate, &end);
    if (end == rate || *end != '\0' || !isfinite (r) || r < 0) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'sample_rate' = '%s' is not a non-negative number",
          file, rate);
      return FALSE;
    }
    m->sample_rate = r;
  }

  g_autoptr (JsonParser) rp = json_parser_new ();
  JsonNode *range = parse_json_meta (st, "input_range", FALSE, rp, error);
  if (range == NULL && error != NULL && *error != NULL)
    return FALSE;
  if (range != NULL) {
    double lo, hi;
    JsonArray *ra
        = JSON_NODE_HOLDS_ARRAY (range) ? json_node_get_array (range) : NULL;
    /* lo < hi as the floats they are stored as ([1e-50, 2e-50] is [0, 0]
     * in floats). */
    if (ra == NULL || json_array_get_length (ra) != 2
        || !json_number (json_array_get_element (ra, 0), &lo)
        || !json_number (json_array_get_element (ra, 1), &hi)
        || !(fabs (lo) <= FLT_MAX && fabs (hi) <= FLT_MAX
             && (float) lo < (float) hi)) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'input_range' must be [lo, hi] with lo < hi, both "
          "finite 32-bit floats",
          file);
      return FALSE;
    }
    m->range_lo = (float) lo;
    m->range_hi = (float) hi;
  }

  const char *prov = sd_safetensors_get_metadata (st, "provenance");
  if (prov != NULL) {
    g_autoptr (JsonParser) pp = json_parser_new ();
    if (parse_json_meta (st, "provenance", FALSE, pp, error) == NULL)
      return FALSE;
    m->provenance = g_strdup (prov);
  }
  return TRUE;
}

static SdModel *
model_from_safetensors (const SdSafetensors *st, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  const char *arch_json = sd_safetensors_get_metadata (st, "arch");
  SdArch arch;

  if (arch_json == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'arch' is missing (not a seqdream model file?)", file);
    return NULL;
  }
  if (!sd_arch_from_json (arch_json, &arch, error)) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  }
  g_autoptr (SdModel) m = model_compile (&arch, error);
  if (m == NULL) {
    g_prefix_error (error, "%s: ", file);
    return NULL;
  }
  g_free (m->display_name);
  m->display_name = g_strdup (file);
  if (!load_metadata (m, st, error))
    return NULL;

  /* Every tensor of the architecture must be in the file, as F32 of its
   * shape, before the parameters are allocated: then the file holds them
   * all and bounds the allocation, whatever size the architecture asks
   * for (its limits allow terabytes). */
  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    const SdTensorView *v = sd_safetensors_get (st, t->name);
    if (v == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: tensor '%s' required by architecture '%s' is missing", file,
          t->name, arch.name);
      return NULL;
    }
    if (!sd_safetensors_check_f32 (st, v, t->ndim, t->shape, error))
      return NULL;
  }
  m->params = g_new0 (float, m->n_params);

  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    const SdTensorView *v = sd_safetensors_get (st, t->name);
    if (!sd_safetensors_copy_f32 (
            st, v, m->params + t->offset, t->ndim, t->shape, TRUE, error))
      return NULL;
    if (g_str_has_suffix (t->name, ".running_var"))
      for (gsize k = 0; k < t->numel; k++)
        if (m->params[t->offset + k] < 0) {
          g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
              "%s: tensor '%s'[%" G_GSIZE_FORMAT "] is a negative variance",
              file, t->name, k);
          return NULL;
        }
  }
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *v = sd_safetensors_get_nth (st, i);
    if (sd_model_find_tensor (m, v->name) == NULL
        && !g_str_has_suffix (v->name, ".num_batches_tracked")) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: tensor '%s' is not part of architecture '%s'", file, v->name,
          arch.name);
      return NULL;
    }
  }
  return g_steal_pointer (&m);
}

SdModel *
sd_model_load (const char *path, GError **error)
{
  g_autoptr (SdSafetensors) st = sd_safetensors_open (path, error);
  if (st == NULL)
    return NULL;
  return model_from_safetensors (st, error);
}

SdModel *
sd_model_load_from_bytes (
    GBytes *bytes, const char *display_name, GError **error)
{
  g_autoptr (SdSafetensors) st
      = sd_safetensors_new_from_bytes (bytes, display_name, error);
  if (st == NULL)
    return NULL;
  return model_from_safetensors (st, error);
}

static SdSafetensorsWriter *
model_writer (SdModel *m)
{
  SdSafetensorsWriter *w = sd_safetensors_writer_new ();
  g_autofree char *arch = sd_arch_to_json (&m->arch);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  sd_safetensors_writer_add_metadata (w, "format", "pt");
  sd_safetensors_writer_add_metadata (w, "seqdream.format_version", "1");
  sd_safetensors_writer_add_metadata (w, "arch", arch);

  g_autoptr (JsonBuilder) lb = json_builder_new ();
  json_builder_begin_array (lb);
  for (int i = 0; m->labels[i] != NULL; i++)
    json_builder_add_string_value (lb, m->labels[i]);
  json_builder_end_array (lb);
  g_autoptr (JsonNode) lroot = json_builder_get_root (lb);
  g_autofree char *labels = json_to_string (lroot, FALSE);
  sd_safetensors_writer_add_metadata (w, "labels", labels);

  g_autoptr (JsonBuilder) nb = json_builder_new ();
  json_builder_begin_object (nb);
  json_builder_set_member_name (nb, "mode");
  json_builder_add_string_value (nb, sd_norm_mode_to_string (m->norm.mode));
  if (m->norm.mode == SD_NORM_FIXED) {
    json_builder_set_member_name (nb, "mean");
    json_builder_add_double_value (nb, m->norm.mean);
    json_builder_set_member_name (nb, "std");
    json_builder_add_double_value (nb, m->norm.std);
  }
  json_builder_end_object (nb);
  g_autoptr (JsonNode) nroot = json_builder_get_root (nb);
  g_autofree char *norm = json_to_string (nroot, FALSE);
  sd_safetensors_writer_add_metadata (w, "normalization", norm);

  g_autofree char *len = g_strdup_printf ("%u", m->train_length);
  sd_safetensors_writer_add_metadata (w, "train_length", len);
  sd_safetensors_writer_add_metadata (
      w, "sample_rate", g_ascii_dtostr (buf, sizeof buf, m->sample_rate));
  if (isfinite (m->range_lo) && isfinite (m->range_hi)) {
    char lo[G_ASCII_DTOSTR_BUF_SIZE], hi[G_ASCII_DTOSTR_BUF_SIZE];
    g_autofree char *range = g_strdup_printf ("[%s, %s]",
        g_ascii_dtostr (lo, sizeof lo, m->range_lo),
        g_ascii_dtostr (hi, sizeof hi, m->range_hi));
    sd_safetensors_writer_add_metadata (w, "input_range", range);
  }
  if (m->provenance != NULL)
    sd_safetensors_writer_add_metadata (w, "provenance", m->provenance);

  for (guint i = 0; i < m->tensors->len; i++) {
    SdParamInfo *t = g_ptr_array_index (m->tensors, i);
    sd_safetensors_writer_add_f32 (
        w, t->name, m->params + t->offset, t->ndim, t->shape);
  }
  return w;
}

gboolean
sd_model_save (SdModel *model, const char *path, GError **error)
{
  g_autoptr (SdSafetensorsWriter) w = model_writer (model);
  return sd_safetensors_writer_write (w, path, error);
}

GBytes *
sd_model_save_to_bytes (SdModel *model)
{
  g_autoptr (SdSafetensorsWriter) w = model_writer (model);
  return sd_safetensors_writer_to_bytes (w);
}

/* ---- workspaces, forward and backward ---- */

SdWorkspace *
sd_workspace_new (
    SdModel *m, int max_batch, int max_length, SdMode mode, GError **error)
{
  g_return_val_if_fail (m != NULL, NULL);
  if (max_batch < 1 || max_length < 1 || max_batch > (1 << 20)
      || max_length > (1 << 26)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "workspace size %d x %d is impossible (batch 1..%d, length 1..%d)",
        max_batch, max_length, 1 << 20, 1 << 26);
    return NULL;
  }
  if (max_length < m->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "'%s' needs series of at least %d samples (its pooling divides the "
        "length by %d), not %d",
        m->arch.name, m->min_length, m->min_length, max_length);
    return NULL;
  }
  gsize col = 0, wfold = 0;
  gsize total = 0;
  for (int i = 0; i < m->n_ops; i++)
    if (m->ops[i].type == OP_CONV) {
      const Op *op = &m->ops[i];
      col = MAX (col, sd_conv1d_backward_scratch_size (op->C, op->OC, op->K,
                          max_length / m->act_div[op->in]));
      wfold = MAX (wfold, (gsize) op->OC * op->C * op->K);
    }
  for (int i = 0; i < m->n_acts; i++)
    total += 2 * (gsize) max_batch * (max_length / m->act_div[i])
             * m->act_channels[i];
  gsize feat = (gsize) max_batch * m->feat_channels;
  gsize extra = col + wfold + 2 * m->bn_channels_total + 2 * feat
                + (gsize) max_batch * m->arch.n_classes;
  /* 2^31 floats = 8 GiB: far beyond any sensible window. */
  if (total + extra > ((gsize) 1 << 31)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "workspace for batch %d x length %d of '%s' would need %.1f GiB",
        max_batch, max_length, m->arch.name,
        (double) (total + extra) * 4.0 / (1 << 30));
    return NULL;
  }
  SdWorkspace *ws = g_new0 (SdWorkspace, 1);
  ws->model = sd_model_ref (m);
  ws->mode = mode;
  ws->max_B = max_batch;
  ws->max_T = max_length;
  ws->mem = g_try_new0 (float, total + extra);
  if (ws->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "out of memory for a workspace of batch %d x length %d", max_batch,
        max_length);
    sd_workspace_free (ws);
    return NULL;
  }
  float *p = ws->mem;
  for (int i = 0; i < m->n_acts; i++) {
    gsize n
        = (gsize) max_batch * (max_length / m->act_div[i]) * m->act_channels[i];
    ws->act[i] = p;
    p += n;
    ws->dact[i] = p;
    p += n;
  }
  ws->col = p;
  p += col;
  ws->wfold = p;
  p += wfold;
  ws->bn_mean = p;
  p += m->bn_channels_total;
  ws->bn_rstd = p;
  p += m->bn_channels_total;
  ws->pooled = p;
  p += feat;
  ws->dpooled = p;
  p += feat;
  ws->logits = p;
  return ws;
}

void
sd_workspace_free (SdWorkspace *ws)
{
  if (ws == NULL)
    return;
  sd_model_unref (ws->model);
  g_free (ws->mem);
  g_free (ws);
}

int
sd_workspace_get_max_batch (const SdWorkspace *ws)
{
  return ws->max_B;
}

int
sd_workspace_get_max_length (const SdWorkspace *ws)
{
  return ws->max_T;
}

/* Batch norm with running statistics followed by ReLU, fused:
 * inp (B,C,T) -> out (B,C,T) = max ((x - mean) * scale + beta, 0). */
static void
bn_relu_forward_eval (float *out, const float *inp, const float *gamma,
    const float *beta, const float *running_mean, const float *running_var,
    float eps, int B, int C, int T)
{
  for (int c = 0; c < C; c++) {
    const float scale
        = (float) (gamma[c] / sqrt ((double) running_var[c] + (double) eps));
    const float mu = running_mean[c], shift = beta[c];
    for (int b = 0; b < B; b++) {
      const float *x = inp + ((gsize) b * C + c) * T;
      float *o = out + ((gsize) b * C + c) * T;
      for (int t = 0; t < T; t++) {
        /* a select, not fmaxf: fmaxf's NaN rules make it a libm call */
        const float v = (x[t] - mu) * scale + shift;
        o[t] = v > 0.0f ? v : 0.0f;
      }
    }
  }
}

/* out = max (a + b, 0), N elements. */
static void
add_relu_forward (float *out, const float *a, const float *b, gsize N)
{
  for (gsize k = 0; k < N; k++) {
    const float v = a[k] + b[k];
    out[k] = v > 0.0f ? v : 0.0f;
  }
}

const float *
sd_model_forward (
    SdModel *m, SdWorkspace *ws, const float *x, int B, int length)
{
  g_return_val_if_fail (ws->model == m, NULL);
  g_return_val_if_fail (B >= 1 && B <= ws->max_B, NULL);
  g_return_val_if_fail (length >= m->min_length && length <= ws->max_T, NULL);
  float *P = m->params;
  const float eps = m->arch.bn_eps;
  const gboolean train = ws->mode == SD_MODE_TRAIN;

  ws->B = B;
  ws->T = length;
  memcpy (ws->act[0], x, (gsize) B * length * sizeof (float));
  const int T0 = length;
  for (int i = 0; i < m->n_ops; i++) {
    const Op *op = &m->ops[i];
    /* every op but pooling keeps the length of its input */
    const int T = T0 / m->act_div[op->in];
    switch (op->type) {
      case OP_POOL:
        sd_avgpool_forward (
            ws->act[op->out], ws->act[op->in], B, op->C, T, op->K);
        break;
      case OP_CONV:
        sd_conv1d_forward (ws->act[op->out], ws->act[op->in], P + op->w, NULL,
            B, op->C, op->OC, T, op->K, ws->col);
        break;
      case OP_BN:
        if (train)
          sd_batchnorm_forward_train (ws->act[op->out],
              ws->bn_mean + op->bn_slot, ws->bn_rstd + op->bn_slot,
              ws->act[op->in], P + op->w, P + op->b, P + op->rm, P + op->rv,
              m->arch.bn_momentum, eps, B, op->C, T);
        else if (i + 1 < m->n_ops && m->ops[i + 1].type == OP_RELU
                 && m->ops[i + 1].in == op->out) {
          /* Eval: BN is a per-channel affine map; apply it and the ReLU
           * that follows in one pass over the data. */
          bn_relu_forward_eval (ws->act[op->out], ws->act[op->in], P + op->w,
              P + op->b, P + op->rm, P + op->rv, eps, B, op->C, T);
          i++;
        } else
          sd_batchnorm_forward_eval (ws->act[op->out], ws->act[op->in],
              P + op->w, P + op->b, P + op->rm, P + op->rv, eps, B, op->C, T);
        break;
      case OP_RELU:
        sd_relu_forward (
            ws->act[op->out], ws->act[op->in], (gsize) B * op->C * T);
        break;
      case OP_ADD:
        if (i + 1 < m->n_ops && m->ops[i + 1].type == OP_RELU
            && m->ops[i + 1].in == op->out) {
          /* the residual join and the ReLU on it in one pass */
          add_relu_forward (ws->act[op->out], ws->act[op->in], ws->act[op->in2],
              (gsize) B * op->C * T);
          i++;
        } else
          sd_add_forward (ws->act[op->out], ws->act[op->in], ws->act[op->in2],
              (gsize) B * op->C * T);
        break;
      case OP_GAP:
        sd_gap_forward (ws->pooled, ws->act[op->in], B, op->C, T);
        break;
      case OP_DENSE:
        sd_dense_forward (
            ws->logits, ws->pooled, P + op->w, P + op->b, B, op->C, op->OC);
        break;
    }
  }
  return ws->logits;
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
  g_return_val_if_fail (layer >= 0 && layer < m->arch.n_stages + 2, 0);
  if (layer < m->arch.n_stages)
    return length / m->act_div[m->stage_out[layer]];
  return 1;
}

const float *
sd_workspace_get_layer_output (
    const SdWorkspace *ws, int layer, int *channels, int *length)
{
  const SdModel *m = ws->model;
  int n_stages = m->arch.n_stages;
  g_return_val_if_fail (layer >= 0 && layer < n_stages + 2, NULL);
  if (layer < n_stages) {
    *channels = m->act_channels[m->stage_out[layer]];
    *length = ws->T / m->act_div[m->stage_out[layer]];
    return ws->act[m->stage_out[layer]];
  }
  *length = 1;
  if (layer == n_stages) {
    *channels = m->feat_channels;
    return ws->pooled;
  }
  *channels = m->arch.n_classes;
  return ws->logits;
}

/* Eval-mode batch norm backward for the input only, optionally through the
 * ReLU on its output y: dinp = gamma * rstd * (y > 0 ? dout : 0). dinp is
 * OVERWRITTEN (it is a conv output's gradient, read by nothing else). */
static void
bn_relu_backward_eval_input (float *dinp, const float *dout, const float *y,
    const float *gamma, const float *running_var, float eps, int B, int C,
    int T)
{
  for (int c = 0; c < C; c++) {
    const float a
        = (float) (gamma[c] / sqrt ((double) running_var[c] + (double) eps));
    for (int b = 0; b < B; b++) {
      const gsize o = ((gsize) b * C + c) * T;
      const float *dy = dout + o;
      float *dx = dinp + o;
      if (y != NULL) {
        const float *yy = y + o;
        /* branch-free, so it vectorises: the signs are random */
        for (int t = 0; t < T; t++)
          dx[t] = (float) (yy[t] > 0.0f) * (a * dy[t]);
      } else {
        for (int t = 0; t < T; t++)
          dx[t] = a * dy[t];
      }
    }
  }
}

/* Input-gradient backward of a residual join, optionally through the ReLU
 * on its output y: g = (y > 0 ? dout : 0), then da and db (either may be
 * NULL) get g, OVERWRITTEN where set_a / set_b (the join is the only
 * writer of that gradient) and accumulated otherwise. */
static void
add_relu_backward_input (float *da, gboolean set_a, float *db, gboolean set_b,
    const float *dout, const float *y, gsize N)
{
  float *dst[2] = { da, db };
  const gboolean set[2] = { set_a, set_b };
  if (da != NULL && db != NULL && set_a && set_b && y != NULL) {
    /* the usual case (a join of two branches): one pass writes both */
    for (gsize k = 0; k < N; k++) {
      const float g = dout[k];
      const float v = y[k] > 0.0f ? g : 0.0f;
      da[k] = v;
      db[k] = v;
    }
    return;
  }
  /* one simple loop per target, so each vectorises (the loads are
   * unconditional, the mask a select) */
  for (int j = 0; j < 2; j++) {
    float *d = dst[j];
    if (d == NULL)
      continue;
    if (y != NULL && set[j]) {
      for (gsize k = 0; k < N; k++) {
        const float g = dout[k];
        d[k] = y[k] > 0.0f ? g : 0.0f;
      }
    } else if (y != NULL) {
      for (gsize k = 0; k < N; k++) {
        const float g = dout[k];
        d[k] += y[k] > 0.0f ? g : 0.0f;
      }
    } else if (set[j]) {
      memcpy (d, dout, N * sizeof (float));
    } else {
      for (gsize k = 0; k < N; k++)
        d[k] += dout[k];
    }
  }
}

/* In the input-only eval backward, op i is a conv whose batch norm (its
 * only reader) has no ReLU after it: that BN is the per-channel scale
 * gamma * rstd, folded into the conv's weight, so the conv reads the BN's
 * output gradient directly and the BN pass is skipped. */
static gboolean
fold_bn_into_conv (const SdModel *m, int i)
{
  return i >= 0 && i + 1 < m->n_ops && m->ops[i].type == OP_CONV
         && m->ops[i + 1].type == OP_BN && m->ops[i + 1].in == m->ops[i].out
         && !(i + 2 < m->n_ops && m->ops[i + 2].type == OP_RELU
              && m->ops[i + 2].in == m->ops[i + 1].out);
}

void
sd_model_backward (
    SdModel *m, SdWorkspace *ws, const float *dlogits, float *grads, float *dx)
{
  sd_model_backward_full (m, ws, dlogits, NULL, 0, grads, dx);
}

void
sd_model_backward_full (SdModel *m, SdWorkspace *ws, const float *dlogits,
    const SdLayerGrad *extra, int n_extra, float *grads, float *dx)
{
  const int B = ws->B, T0 = ws->T;
  const float *P = m->params;
  const float eps = m->arch.bn_eps;
  const gboolean train = ws->mode == SD_MODE_TRAIN;
#define G(off) (grads ? grads + (off) : NULL)

  g_return_if_fail (ws->model == m && B > 0);
  /* Input gradients only (dreaming): a conv output's gradient is written,
   * not accumulated, by its batch norm (its only reader), fused with the
   * ReLU mask that follows the BN; those buffers need no zeroing. */
  const gboolean fast = !train && grads == NULL;
  /* Likewise the gradient of an activation whose only reader is a conv, a
   * residual join or the GAP (and that gets no injected gradient): that op
   * writes it. */
  gboolean set[MAX_ACTS] = { FALSE };
  if (fast) {
    int readers[MAX_ACTS] = { 0 };
    for (int i = 0; i < m->n_ops; i++) {
      const Op *op = &m->ops[i];
      if (op->type == OP_RELU || op->type == OP_DENSE)
        continue; /* in place / reads the pooled features */
      readers[op->in]++;
      if (op->in2 >= 0)
        readers[op->in2]++;
    }
    for (int i = 0; i < m->n_ops; i++) {
      const Op *op = &m->ops[i];
      if (op->type == OP_CONV || op->type == OP_ADD || op->type == OP_GAP) {
        set[op->in] = readers[op->in] == 1;
        if (op->in2 >= 0)
          set[op->in2] = readers[op->in2] == 1;
      }
    }
    for (int e = 0; e < n_extra; e++)
      if (extra[e].layer >= 0 && extra[e].layer < m->arch.n_stages)
        set[m->stage_out[extra[e].layer]] = FALSE;
  }
  for (int i = 0; i < m->n_acts; i++)
    if (!(fast && (m->conv_out[i] || set[i])))
      memset (ws->dact[i], 0,
          (gsize) B * (T0 / m->act_div[i]) * m->act_channels[i]
              * sizeof (float));
  memset (ws->dpooled, 0, (gsize) B * m->feat_channels * sizeof (float));
  /* Injected gradients go in before the reverse walk: every consumer of an
   * activation accumulates into its gradient before its producer reads
   * it, so the order of the additions does not matter. */
  const int K = m->arch.n_classes;
  g_autofree float *dl = NULL;
  for (int e = 0; e < n_extra; e++) {
    int layer = extra[e].layer;
    g_return_if_fail (layer >= 0 && layer < m->arch.n_stages + 2);
    float *dst;
    gsize n;
    if (layer < m->arch.n_stages) {
      int a = m->stage_out[layer];
      dst = ws->dact[a];
      n = (gsize) B * m->act_channels[a] * (T0 / m->act_div[a]);
    } else if (layer == m->arch.n_stages) {
      dst = ws->dpooled;
      n = (gsize) B * m->feat_channels;
    } else {
      /* Rare (objectives normally come as dlogits): a copy is fine. */
      if (dl == NULL) {
        dl = g_new0 (float, (gsize) B *K);
        if (dlogits)
          memcpy (dl, dlogits, (gsize) B * K * sizeof (float));
      }
      dst = dl;
      n = (gsize) B * K;
    }
    for (gsize k = 0; k < n; k++)
      dst[k] += extra[e].grad[k];
  }
  if (dl != NULL)
    dlogits = dl;

  for (int i = m->n_ops - 1; i >= 0; i--) {
    const Op *op = &m->ops[i];
    const int T = T0 / m->act_div[op->in];
    /* The input gradient of the first layer is only needed for dx. */
    float *din = (op->in == 0 && dx == NULL) ? NULL : ws->dact[op->in];
    switch (op->type) {
      case OP_POOL:
        sd_avgpool_backward (din, ws->dact[op->out], B, op->C, T, op->K);
        break;
      case OP_DENSE:
        if (dlogits != NULL)
          sd_dense_backward (ws->dpooled, G (op->w), G (op->b), dlogits,
              ws->pooled, P + op->w, B, op->C, op->OC);
        break;
      case OP_GAP:
        if (set[op->in]) {
          /* sd_gap_backward onto zeros, written directly */
          for (gsize r = 0; r < (gsize) B * op->C; r++) {
            const float g = ws->dpooled[r] / (float) T;
            float *d = ws->dact[op->in] + r * T;
            for (int t = 0; t < T; t++)
              d[t] = g;
          }
        } else
          sd_gap_backward (ws->dact[op->in], ws->dpooled, B, op->C, T);
        break;
      case OP_ADD:
        if (fast)
          add_relu_backward_input (din, set[op->in],
              (op->in2 == 0 && dx == NULL) ? NULL : ws->dact[op->in2],
              set[op->in2], ws->dact[op->out],
              (i + 1 < m->n_ops && m->ops[i + 1].type == OP_RELU
                  && m->ops[i + 1].in == op->out)
                  ? ws->act[op->out]
                  : NULL,
              (gsize) B * op->C * T);
        else
          sd_add_backward (ws->dact[op->in],
              (op->in2 == 0 && dx == NULL) ? NULL : ws->dact[op->in2],
              ws->dact[op->out], (gsize) B * op->C * T);
        break;
      case OP_RELU: {
        if (fast && i > 0
            && (m->ops[i - 1].type == OP_BN || m->ops[i - 1].type == OP_ADD)
            && m->ops[i - 1].out == op->in)
          break; /* the BN or the join below applies the mask */
        /* In place: the gradient buffer is masked where the output is 0. */
        gsize n = (gsize) B * op->C * T;
        float *d = ws->dact[op->out];
        const float *y = ws->act[op->out];
        for (gsize k = 0; k < n; k++)
          d[k] = y[k] > 0.0f ? d[k] : 0.0f;
        break;
      }
      case OP_BN:
        if (train)
          sd_batchnorm_backward_train (din, G (op->w), G (op->b),
              ws->dact[op->out], ws->act[op->in], ws->bn_mean + op->bn_slot,
              ws->bn_rstd + op->bn_slot, P + op->w, B, op->C, T);
        else if (fast && fold_bn_into_conv (m, i - 1))
          break; /* the conv below folds this BN in */
        else if (fast)
          bn_relu_backward_eval_input (ws->dact[op->in], ws->dact[op->out],
              (i + 1 < m->n_ops && m->ops[i + 1].type == OP_RELU
                  && m->ops[i + 1].in == op->out)
                  ? ws->act[op->out]
                  : NULL,
              P + op->w, P + op->rv, eps, B, op->C, T);
        else
          sd_batchnorm_backward_eval (din, G (op->w), G (op->b),
              ws->dact[op->out], ws->act[op->in], P + op->w, P + op->rm,
              P + op->rv, eps, B, op->C, T);
        break;
      case OP_CONV:
        if (fast) {
          if (din == NULL)
            break;
          const float *w = P + op->w, *dout = ws->dact[op->out];
          if (fold_bn_into_conv (m, i)) {
            const Op *bn = &m->ops[i + 1];
            const gsize CK = (gsize) op->C * op->K;
            for (int o = 0; o < op->OC; o++) {
              /* the scale bn_relu_backward_eval_input would apply */
              const float a
                  = (float) (P[bn->w + o]
                             / sqrt ((double) P[bn->rv + o] + (double) eps));
              for (gsize j = 0; j < CK; j++)
                ws->wfold[o * CK + j] = P[op->w + o * CK + j] * a;
            }
            w = ws->wfold;
            dout = ws->dact[bn->out];
          }
          sd_conv1d_backward_input (
              din, !set[op->in], dout, w, B, op->C, op->OC, T, op->K, ws->col);
          break;
        }
        sd_conv1d_backward (din, G (op->w), NULL, ws->dact[op->out],
            ws->act[op->in], P + op->w, B, op->C, op->OC, T, op->K, ws->col);
        break;
    }
  }
#undef G
  if (dx != NULL)
    memcpy (dx, ws->dact[0], (gsize) B * T0 * sizeof (float));
}
