/* Model statistics in model files (docs/model-format.md §2.6): the
 * metadata key "stats" (JSON: version, window length, false-alarm rate,
 * threshold, shrinkage, level range, window counts; version 2 adds
 * "novelty": "stages" and "stage_shrinkage"; an ensemble's may say
 * "members": true, and its members' statistics are under the key
 * "members.<i>.stats" and tensors "members.<i>.stats.*") and the tensors
 * stats.spectra, stats.feature_means, stats.covariance,
 * stats.novelty_quantiles and stats.margin_quantiles, and in version 2
 * stats.stage_means.L and stats.stage_covariance.L for every stage L.
 * Version 1 (no stage spaces) still loads: its novelty is on the pooled
 * features. The file is untrusted: every value is checked against the
 * model before use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-private.h"
#include "sd-private.h"
#include "seqdream/dream-spectrum.h"
#include "stats-private.h"

#include <math.h>
#include <string.h>

/* 1: pooled features; 2: stage spaces; 3: an ensemble's, its novelty
 * combining its members' (version 2 and "members": true, which a reader
 * of version 2 would ignore and misread the threshold) */
#define STATS_VERSION 3
#define MAX_QUANTILES 100001

/* The tensors of statistics under key ("stats", or "members.<i>.stats"
 * for an ensemble member's): "<key>.<name>", and "<key>.stage_means.L"
 * and "<key>.stage_covariance.L" per stage L. */
enum
{
  T_SPECTRA,
  T_MEANS,
  T_COV,
  T_NOVELTY,
  T_MARGIN,
  N_TENSORS
};

static const char *const tensor_names[N_TENSORS] = { "spectra", "feature_means",
  "covariance", "novelty_quantiles", "margin_quantiles" };

/* ---- writing ---- */

static void
add_counts (JsonBuilder *b, const char *name, const guint *v, int n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_int_value (b, v[i]);
  json_builder_end_array (b);
}

static void
add_double (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, v);
}

void
stats_write (const SdModel *model, SdSafetensorsWriter *w)
{
  if (model->stats != NULL)
    stats_write_as (model->stats, w, "stats");
}

void
stats_write_as (const SdModelStats *s, SdSafetensorsWriter *w, const char *key)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const int version = s->members ? 3 : s->n_stages > 0 ? 2 : 1;
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, version);
  json_builder_set_member_name (b, "length");
  json_builder_add_int_value (b, s->T);
  add_double (b, "false_alarm", s->false_alarm);
  add_double (b, "threshold", s->threshold);
  add_double (b, "shrinkage", s->pooled.shrinkage);
  if (version >= 2) {
    json_builder_set_member_name (b, "novelty");
    json_builder_add_string_value (b, "stages");
    json_builder_set_member_name (b, "stage_shrinkage");
    json_builder_begin_array (b);
    for (int l = 0; l < s->n_stages; l++)
      json_builder_add_double_value (b, s->stages[l].shrinkage);
    json_builder_end_array (b);
  }
  if (s->members) {
    json_builder_set_member_name (b, "members");
    json_builder_add_boolean_value (b, TRUE);
  }
  json_builder_set_member_name (b, "level");
  json_builder_begin_array (b);
  json_builder_add_double_value (b, s->level_lo);
  json_builder_add_double_value (b, s->level_hi);
  json_builder_end_array (b);
  add_counts (b, "counts", s->class_count, s->K);
  add_counts (b, "heldout_counts", s->heldout_count, s->K);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  sd_safetensors_writer_add_metadata (w, key, text);

  const int C = s->pooled.C;
  const gint64 kb[2] = { s->K, s->nb }, kc[2] = { s->K, C };
  const gint64 cc[2] = { C, C }, q[1] = { s->Q }, kq[2] = { s->K, s->Q };
  const float *data[N_TENSORS] = { s->spectra, s->pooled.means,
    s->pooled.covariance, s->novelty_q, s->margin_q };
  const gint64 *shape[N_TENSORS] = { kb, kc, cc, q, kq };
  for (int t = 0; t < N_TENSORS; t++) {
    g_autofree char *name = g_strdup_printf ("%s.%s", key, tensor_names[t]);
    sd_safetensors_writer_add_f32 (
        w, name, data[t], t == T_NOVELTY ? 1 : 2, shape[t]);
  }
  for (int l = 0; l < s->n_stages; l++) {
    const StatsSpace *sp = &s->stages[l];
    const gint64 km[2] = { s->K, sp->C }, sc[2] = { sp->C, sp->C };
    g_autofree char *mn = g_strdup_printf ("%s.stage_means.%d", key, l);
    g_autofree char *cn = g_strdup_printf ("%s.stage_covariance.%d", key, l);
    sd_safetensors_writer_add_f32 (w, mn, sp->means, 2, km);
    sd_safetensors_writer_add_f32 (w, cn, sp->covariance, 2, sc);
  }
}

/* ---- reading ---- */

/* The scalars and counts of the "stats" metadata. */
typedef struct
{
  guint64 version, length;
  double false_alarm, threshold, shrinkage, level[2];
  guint *counts, *heldout;
  int n_stages;            /* version 2: the novelty's stage spaces */
  double *stage_shrinkage; /* (n_stages) */
  gboolean members;        /* an ensemble's novelty of its members */
} StatsMeta;

static void
stats_meta_clear (StatsMeta *m)
{
  g_free (m->counts);
  g_free (m->heldout);
  g_free (m->stage_shrinkage);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (StatsMeta, stats_meta_clear)

/* where: "<file>: metadata '<key>'" */
static gboolean
meta_fail (
    const char *where, const char *field, const char *expected, GError **error)
{
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: '%s' must be %s", where,
      field, expected);
  return FALSE;
}

static gboolean
meta_uint (JsonObject *o, const char *name, guint64 lo, guint64 hi,
    guint64 *out, const char *where, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < (gint64) lo
      || json_node_get_int (n) > (gint64) hi) {
    g_autofree char *what = g_strdup_printf (
        "an integer in [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]", lo, hi);
    return meta_fail (where, name, what, error);
  }
  *out = (guint64) json_node_get_int (n);
  return TRUE;
}

static gboolean
meta_number (JsonObject *o, const char *name, double *out)
{
  return sd_model_json_number (json_object_get_member (o, name), out);
}

/* An array of K window counts, each at least min. */
static gboolean
meta_counts (JsonObject *o, const char *name, int K, guint min, guint **out,
    const char *where, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  JsonArray *a
      = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  g_autofree char *what = g_strdup_printf (
      "an array of %d window counts (one per class), each at least %u", K, min);
  if (a == NULL || (int) json_array_get_length (a) != K)
    return meta_fail (where, name, what, error);
  *out = g_new0 (guint, K);
  for (int k = 0; k < K; k++) {
    JsonNode *e = json_array_get_element (a, k);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < min || json_node_get_int (e) > G_MAXUINT32)
      return meta_fail (where, name, what, error);
    (*out)[k] = (guint) json_node_get_int (e);
  }
  return TRUE;
}

/* Version 2: "novelty": "stages" and one shrinkage per stage of the
 * model (S). */
static gboolean
read_stage_meta (
    JsonObject *o, int S, const char *where, StatsMeta *m, GError **error)
{
  const char *nov
      = json_object_get_string_member_with_default (o, "novelty", "");
  if (strcmp (nov, "stages") != 0)
    return meta_fail (
        where, "novelty", "\"stages\" in versions 2 and 3", error);
  JsonNode *n = json_object_get_member (o, "stage_shrinkage");
  JsonArray *a
      = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  g_autofree char *what = g_strdup_printf (
      "an array of %d numbers in [0, 1] (one per stage of the model)", S);
  if (a == NULL || (int) json_array_get_length (a) != S)
    return meta_fail (where, "stage_shrinkage", what, error);
  m->n_stages = S;
  m->stage_shrinkage = g_new0 (double, S);
  for (int l = 0; l < S; l++)
    if (!sd_model_json_number (
            json_array_get_element (a, l), &m->stage_shrinkage[l])
        || !(m->stage_shrinkage[l] >= 0 && m->stage_shrinkage[l] <= 1))
      return meta_fail (where, "stage_shrinkage", what, error);
  return TRUE;
}

static gboolean
read_meta (JsonNode *root, int K, int S, const char *where, StatsMeta *m,
    GError **error)
{
  JsonObject *o
      = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (o == NULL) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_MODEL, "%s must be a JSON object", where);
    return FALSE;
  }
  if (!meta_uint (o, "version", 1, STATS_VERSION, &m->version, where, error)
      || !meta_uint (o, "length", 2, 100000000, &m->length, where, error))
    return FALSE;
  if (m->version >= 2 && !read_stage_meta (o, S, where, m, error))
    return FALSE;
  JsonNode *mem = json_object_get_member (o, "members");
  m->members = m->version == 3;
  if (m->members
      && (mem == NULL || !JSON_NODE_HOLDS_VALUE (mem)
          || json_node_get_value_type (mem) != G_TYPE_BOOLEAN
          || !json_node_get_boolean (mem)))
    return meta_fail (where, "members", "true in version 3", error);
  if (!m->members && mem != NULL)
    return meta_fail (where, "members", "absent before version 3", error);
  if (!meta_number (o, "false_alarm", &m->false_alarm)
      || !(m->false_alarm > 0 && m->false_alarm < 1))
    return meta_fail (where, "false_alarm", "a number in (0, 1)", error);
  if (!meta_number (o, "threshold", &m->threshold) || !(m->threshold > 0))
    return meta_fail (where, "threshold", "a finite number above 0", error);
  if (!meta_number (o, "shrinkage", &m->shrinkage)
      || !(m->shrinkage >= 0 && m->shrinkage <= 1))
    return meta_fail (where, "shrinkage", "a number in [0, 1]", error);
  JsonNode *lv = json_object_get_member (o, "level");
  JsonArray *la
      = lv && JSON_NODE_HOLDS_ARRAY (lv) ? json_node_get_array (lv) : NULL;
  if (la == NULL || json_array_get_length (la) != 2
      || !sd_model_json_number (json_array_get_element (la, 0), &m->level[0])
      || !sd_model_json_number (json_array_get_element (la, 1), &m->level[1])
      || !(m->level[0] >= 0 && m->level[0] <= m->level[1]))
    return meta_fail (
        where, "level", "[lo, hi], finite numbers with 0 <= lo <= hi", error);
  return meta_counts (o, "counts", K, 2, &m->counts, where, error)
         && meta_counts (o, "heldout_counts", K, 0, &m->heldout, where, error);
}

/* name (after "<key>.") is one of the tensors of statistics with S
 * stage spaces. */
static gboolean
known_tensor (const char *name, int S)
{
  for (int t = 0; t < N_TENSORS; t++)
    if (strcmp (name, tensor_names[t]) == 0)
      return TRUE;
  for (int l = 0; l < S; l++) {
    char mn[64], cn[64];
    g_snprintf (mn, sizeof mn, "stage_means.%d", l);
    g_snprintf (cn, sizeof cn, "stage_covariance.%d", l);
    if (strcmp (name, mn) == 0 || strcmp (name, cn) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Every "<key>.*" tensor of st is one of ours (S stage spaces; have_meta
 * FALSE: none may be there); with metadata, every one of ours is there
 * (views, and stage_views (S, 2): means and covariance). */
static gboolean
find_tensors (const SdSafetensors *st, const char *key, gboolean have_meta,
    int S, const SdTensorView **views, const SdTensorView **stage_views,
    GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  const gsize kl = strlen (key);
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const char *name = sd_safetensors_get_nth (st, i)->name;
    if (strncmp (name, key, kl) != 0 || name[kl] != '.')
      continue;
    const gboolean known = known_tensor (name + kl + 1, S);
    if (!known || !have_meta) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor '%s' %s%s%s",
          file, name,
          known ? "without metadata '" : "is not one of the statistics",
          known ? key : "", known ? "'" : "");
      return FALSE;
    }
  }
  for (int t = 0; have_meta && t < N_TENSORS + 2 * S; t++) {
    g_autofree char *name
        = t < N_TENSORS ? g_strdup_printf ("%s.%s", key, tensor_names[t])
                        : g_strdup_printf ("%s.stage_%s.%d", key,
                            (t - N_TENSORS) % 2 ? "covariance" : "means",
                            (t - N_TENSORS) / 2);
    const SdTensorView **v
        = t < N_TENSORS ? &views[t] : &stage_views[t - N_TENSORS];
    *v = sd_safetensors_get (st, name);
    if (*v == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata '%s' without tensor '%s'", file, key, name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
tensor_fail (
    const char *file, const char *key, int t, const char *why, GError **error)
{
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor '%s.%s' %s", file,
      key, tensor_names[t], why);
  return FALSE;
}

/* v (n) is non-decreasing. */
static gboolean
ascending (const float *v, int n)
{
  for (int i = 1; i < n; i++)
    if (!(v[i] >= v[i - 1]))
      return FALSE;
  return TRUE;
}

static gboolean
symmetric (const StatsSpace *sp)
{
  for (int a = 0; a < sp->C; a++)
    for (int b = 0; b < a; b++)
      if (sp->covariance[(gsize) a * sp->C + b]
          != sp->covariance[(gsize) b * sp->C + a])
        return FALSE;
  return TRUE;
}

/* The values of the tensors beyond finiteness: spectra and novelty not
 * negative, quantiles ascending, margin rows all NaN or finite. */
static gboolean
check_values (
    const SdModelStats *s, const char *file, const char *key, GError **error)
{
  for (gsize i = 0; i < (gsize) s->K * s->nb; i++)
    if (s->spectra[i] < 0)
      return tensor_fail (file, key, T_SPECTRA, "has a negative power", error);
  if (!(s->novelty_q[0] >= 0) || !ascending (s->novelty_q, s->Q))
    return tensor_fail (file, key, T_NOVELTY,
        "must be ascending quantiles of a distance (not negative)", error);
  for (int k = 0; k < s->K; k++) {
    const float *row = s->margin_q + (gsize) k * s->Q;
    gboolean all_nan = TRUE;
    for (int i = 0; i < s->Q; i++)
      all_nan &= isnan (row[i]);
    if (all_nan)
      continue;
    for (int i = 0; i < s->Q; i++)
      if (!isfinite (row[i]))
        return tensor_fail (file, key, T_MARGIN,
            "has a row that is neither all NaN nor finite", error);
    if (!ascending (row, s->Q))
      return tensor_fail (
          file, key, T_MARGIN, "has a row not ascending", error);
  }
  if (!symmetric (&s->pooled))
    return tensor_fail (file, key, T_COV, "is not symmetric", error);
  for (int l = 0; l < s->n_stages; l++)
    if (!symmetric (&s->stages[l])) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: tensor '%s.stage_covariance.%d' is not symmetric", file, key, l);
      return FALSE;
    }
  return TRUE;
}

/* The values of the tensors into s (their shapes are checked), then
 * their checks. */
static gboolean
read_tensors (const SdSafetensors *st, const char *key, const SdTensorView **v,
    const SdTensorView **sv, SdModelStats *s, GError **error)
{
  const int C = s->pooled.C;
  float *dst[N_TENSORS] = { s->spectra, s->pooled.means, s->pooled.covariance,
    s->novelty_q, s->margin_q };
  const gint64 shapes[N_TENSORS][2]
      = { { s->K, s->nb }, { s->K, C }, { C, C }, { s->Q, 0 }, { s->K, s->Q } };
  for (int t = 0; t < N_TENSORS; t++)
    if (!sd_safetensors_copy_f32 (st, v[t], dst[t], t == T_NOVELTY ? 1 : 2,
            shapes[t], t != T_MARGIN, error))
      return FALSE;
  for (int l = 0; l < s->n_stages; l++) {
    StatsSpace *sp = &s->stages[l];
    const gint64 km[2] = { s->K, sp->C }, cc[2] = { sp->C, sp->C };
    if (!sd_safetensors_copy_f32 (st, sv[2 * l], sp->means, 2, km, TRUE, error)
        || !sd_safetensors_copy_f32 (
            st, sv[2 * l + 1], sp->covariance, 2, cc, TRUE, error))
      return FALSE;
  }
  return check_values (s, sd_safetensors_get_display_name (st), key, error);
}

/* The shapes of the tensors, before anything is allocated (the file then
 * bounds the sizes): K classes, T samples, Q quantiles, C pooled
 * features, stage_C (n_stages) channels. */
static gboolean
check_shapes (const SdSafetensors *st, const SdTensorView **v,
    const SdTensorView **sv, int K, int T, int Q, int C, int n_stages,
    const int *stage_C, GError **error)
{
  const gint64 want[N_TENSORS][2] = { { K, sd_dream_spectrum_bins (T) },
    { K, C }, { C, C }, { Q, 0 }, { K, Q } };
  for (int t = 0; t < N_TENSORS; t++)
    if (!sd_safetensors_check_f32 (
            st, v[t], t == T_NOVELTY ? 1 : 2, want[t], error))
      return FALSE;
  for (int l = 0; l < n_stages; l++) {
    const gint64 km[2] = { K, stage_C[l] }, cc[2] = { stage_C[l], stage_C[l] };
    if (!sd_safetensors_check_f32 (st, sv[2 * l], 2, km, error)
        || !sd_safetensors_check_f32 (st, sv[2 * l + 1], 2, cc, error))
      return FALSE;
  }
  return TRUE;
}

gboolean
stats_read (SdModel *model, const SdSafetensors *st, GError **error)
{
  return stats_read_as (model, st, "stats", error);
}

gboolean
stats_read_as (
    SdModel *model, const SdSafetensors *st, const char *key, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  const gboolean have_meta = sd_safetensors_get_metadata (st, key) != NULL;
  const SdTensorView *v[N_TENSORS] = { NULL };
  const SdTensorView *sv[2 * SD_MAX_STAGES] = { NULL };
  if (!have_meta)
    return find_tensors (st, key, FALSE, 0, v, sv, error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = sd_model_parse_json_meta (st, key, TRUE, parser, error);
  g_auto (StatsMeta) m = { 0 };
  g_autofree char *where = g_strdup_printf ("%s: metadata '%s'", file, key);
  const int K = model->arch.n_classes, C = model->feat_channels;
  if (root == NULL
      || !read_meta (root, K, model->n_stage_layers, where, &m, error)
      || !find_tensors (st, key, TRUE, m.n_stages, v, sv, error))
    return FALSE;
  if ((model->train_length > 0 && m.length != model->train_length)
      || m.length < (guint64) model->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: 'length' %" G_GUINT64_FORMAT
        " is not the model's train length %u (shortest input %d)",
        where, m.length, model->train_length, model->min_length);
    return FALSE;
  }
  const SdTensorView *nq = v[T_NOVELTY];
  if (nq->ndim != 1 || nq->shape[0] < 2 || nq->shape[0] > MAX_QUANTILES) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: tensor '%s.novelty_quantiles' must be 1-D with 2 to %d values",
        file, key, MAX_QUANTILES);
    return FALSE;
  }
  const int T = (int) m.length, Q = (int) nq->shape[0];
  int stage_C[SD_MAX_STAGES];
  for (int l = 0; l < m.n_stages; l++)
    stage_C[l] = stats_stage_channels (model, l);
  if (!check_shapes (st, v, sv, K, T, Q, C, m.n_stages, stage_C, error))
    return FALSE;
  g_autoptr (SdModelStats) s = stats_new (K, C, T, Q, m.n_stages, stage_C);
  s->false_alarm = m.false_alarm;
  s->threshold = m.threshold;
  s->pooled.shrinkage = m.shrinkage;
  for (int l = 0; l < m.n_stages; l++)
    s->stages[l].shrinkage = m.stage_shrinkage[l];
  s->level_lo = m.level[0];
  s->level_hi = m.level[1];
  s->members = m.members;
  memcpy (s->class_count, m.counts, K * sizeof (guint));
  memcpy (s->heldout_count, m.heldout, K * sizeof (guint));
  if (!read_tensors (st, key, v, sv, s, error)
      || !stats_prepare (s, file, key, error)
      || !stats_check_model (s, model, where, error))
    return FALSE;
  model->stats = g_steal_pointer (&s);
  return TRUE;
}
