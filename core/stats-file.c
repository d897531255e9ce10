/* Model statistics in model files (docs/model-format.md §2.6): the
 * metadata key "stats" (JSON: version, window length, false-alarm rate,
 * threshold, shrinkage, level range, window counts) and the tensors
 * stats.spectra, stats.feature_means, stats.covariance,
 * stats.novelty_quantiles and stats.margin_quantiles. The file is
 * untrusted: every value is checked against the model before use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model-private.h"
#include "sd-private.h"
#include "seqdream/dream-spectrum.h"
#include "stats-private.h"

#include <math.h>
#include <string.h>

#define STATS_VERSION 1
#define MAX_QUANTILES 100001

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
  const SdModelStats *s = model->stats;
  if (s == NULL)
    return;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, STATS_VERSION);
  json_builder_set_member_name (b, "length");
  json_builder_add_int_value (b, s->T);
  add_double (b, "false_alarm", s->false_alarm);
  add_double (b, "threshold", s->threshold);
  add_double (b, "shrinkage", s->shrinkage);
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
  sd_safetensors_writer_add_metadata (w, "stats", text);

  const gint64 kb[2] = { s->K, s->nb }, kc[2] = { s->K, s->C };
  const gint64 cc[2] = { s->C, s->C }, q[1] = { s->Q }, kq[2] = { s->K, s->Q };
  sd_safetensors_writer_add_f32 (w, "stats.spectra", s->spectra, 2, kb);
  sd_safetensors_writer_add_f32 (
      w, "stats.feature_means", s->feature_means, 2, kc);
  sd_safetensors_writer_add_f32 (w, "stats.covariance", s->covariance, 2, cc);
  sd_safetensors_writer_add_f32 (
      w, "stats.novelty_quantiles", s->novelty_q, 1, q);
  sd_safetensors_writer_add_f32 (
      w, "stats.margin_quantiles", s->margin_q, 2, kq);
}

/* ---- reading ---- */

/* The scalars and counts of the "stats" metadata. */
typedef struct
{
  guint64 version, length;
  double false_alarm, threshold, shrinkage, level[2];
  guint *counts, *heldout;
} StatsMeta;

static void
stats_meta_clear (StatsMeta *m)
{
  g_free (m->counts);
  g_free (m->heldout);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (StatsMeta, stats_meta_clear)

static gboolean
meta_fail (
    const char *file, const char *field, const char *expected, GError **error)
{
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
      "%s: metadata 'stats': '%s' must be %s", file, field, expected);
  return FALSE;
}

static gboolean
meta_uint (JsonObject *o, const char *name, guint64 lo, guint64 hi,
    guint64 *out, const char *file, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < (gint64) lo
      || json_node_get_int (n) > (gint64) hi) {
    g_autofree char *what = g_strdup_printf (
        "an integer in [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]", lo, hi);
    return meta_fail (file, name, what, error);
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
    const char *file, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  JsonArray *a
      = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  g_autofree char *what = g_strdup_printf (
      "an array of %d window counts (one per class), each at least %u", K, min);
  if (a == NULL || (int) json_array_get_length (a) != K)
    return meta_fail (file, name, what, error);
  *out = g_new0 (guint, K);
  for (int k = 0; k < K; k++) {
    JsonNode *e = json_array_get_element (a, k);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_INT64
        || json_node_get_int (e) < min || json_node_get_int (e) > G_MAXUINT32)
      return meta_fail (file, name, what, error);
    (*out)[k] = (guint) json_node_get_int (e);
  }
  return TRUE;
}

static gboolean
read_meta (
    JsonNode *root, int K, const char *file, StatsMeta *m, GError **error)
{
  JsonObject *o
      = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (o == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'stats' must be a JSON object", file);
    return FALSE;
  }
  if (!meta_uint (
          o, "version", STATS_VERSION, STATS_VERSION, &m->version, file, error)
      || !meta_uint (o, "length", 2, 100000000, &m->length, file, error))
    return FALSE;
  if (!meta_number (o, "false_alarm", &m->false_alarm)
      || !(m->false_alarm > 0 && m->false_alarm < 1))
    return meta_fail (file, "false_alarm", "a number in (0, 1)", error);
  if (!meta_number (o, "threshold", &m->threshold) || !(m->threshold > 0))
    return meta_fail (file, "threshold", "a finite number above 0", error);
  if (!meta_number (o, "shrinkage", &m->shrinkage)
      || !(m->shrinkage >= 0 && m->shrinkage <= 1))
    return meta_fail (file, "shrinkage", "a number in [0, 1]", error);
  JsonNode *lv = json_object_get_member (o, "level");
  JsonArray *la
      = lv && JSON_NODE_HOLDS_ARRAY (lv) ? json_node_get_array (lv) : NULL;
  if (la == NULL || json_array_get_length (la) != 2
      || !sd_model_json_number (json_array_get_element (la, 0), &m->level[0])
      || !sd_model_json_number (json_array_get_element (la, 1), &m->level[1])
      || !(m->level[0] >= 0 && m->level[0] <= m->level[1]))
    return meta_fail (
        file, "level", "[lo, hi], finite numbers with 0 <= lo <= hi", error);
  return meta_counts (o, "counts", K, 2, &m->counts, file, error)
         && meta_counts (o, "heldout_counts", K, 0, &m->heldout, file, error);
}

/* The stats.* tensors: their names, and the views once found. */
enum
{
  T_SPECTRA,
  T_MEANS,
  T_COV,
  T_NOVELTY,
  T_MARGIN,
  N_TENSORS
};

static const char *const tensor_names[N_TENSORS]
    = { "stats.spectra", "stats.feature_means", "stats.covariance",
        "stats.novelty_quantiles", "stats.margin_quantiles" };

/* Every stats.* tensor of st is one of ours; with metadata, every one of
 * ours is there (views). */
static gboolean
find_tensors (const SdSafetensors *st, gboolean have_meta,
    const SdTensorView **views, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const char *name = sd_safetensors_get_nth (st, i)->name;
    if (!g_str_has_prefix (name, "stats."))
      continue;
    gboolean known = FALSE;
    for (int t = 0; t < N_TENSORS; t++)
      known |= strcmp (name, tensor_names[t]) == 0;
    if (!known || !have_meta) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor '%s' %s", file,
          name,
          known ? "without metadata 'stats'" : "is not one of the statistics");
      return FALSE;
    }
  }
  for (int t = 0; have_meta && t < N_TENSORS; t++) {
    views[t] = sd_safetensors_get (st, tensor_names[t]);
    if (views[t] == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
          "%s: metadata 'stats' without tensor '%s'", file, tensor_names[t]);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
tensor_fail (const char *file, int t, const char *why, GError **error)
{
  g_set_error (error, SD_ERROR, SD_ERROR_MODEL, "%s: tensor '%s' %s", file,
      tensor_names[t], why);
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

/* The values of the tensors beyond finiteness: spectra and novelty not
 * negative, quantiles ascending, margin rows all NaN or finite. */
static gboolean
check_values (const SdModelStats *s, const char *file, GError **error)
{
  for (gsize i = 0; i < (gsize) s->K * s->nb; i++)
    if (s->spectra[i] < 0)
      return tensor_fail (file, T_SPECTRA, "has a negative power", error);
  if (!(s->novelty_q[0] >= 0) || !ascending (s->novelty_q, s->Q))
    return tensor_fail (file, T_NOVELTY,
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
        return tensor_fail (file, T_MARGIN,
            "has a row that is neither all NaN nor finite", error);
    if (!ascending (row, s->Q))
      return tensor_fail (file, T_MARGIN, "has a row not ascending", error);
  }
  for (int a = 0; a < s->C; a++)
    for (int b = 0; b < a; b++)
      if (s->covariance[(gsize) a * s->C + b]
          != s->covariance[(gsize) b * s->C + a])
        return tensor_fail (file, T_COV, "is not symmetric", error);
  return TRUE;
}

/* The shapes of the tensors (before anything is allocated: the file then
 * bounds the sizes), then their values into s. */
static gboolean
read_tensors (const SdSafetensors *st, const SdTensorView **v, SdModelStats *s,
    GError **error)
{
  float *dst[N_TENSORS] = { s->spectra, s->feature_means, s->covariance,
    s->novelty_q, s->margin_q };
  const gint64 shapes[N_TENSORS][2] = { { s->K, s->nb }, { s->K, s->C },
    { s->C, s->C }, { s->Q, 0 }, { s->K, s->Q } };
  for (int t = 0; t < N_TENSORS; t++)
    if (!sd_safetensors_copy_f32 (st, v[t], dst[t], t == T_NOVELTY ? 1 : 2,
            shapes[t], t != T_MARGIN, error))
      return FALSE;
  return check_values (s, sd_safetensors_get_display_name (st), error);
}

gboolean
stats_read (SdModel *model, const SdSafetensors *st, GError **error)
{
  const char *file = sd_safetensors_get_display_name (st);
  const gboolean have_meta = sd_safetensors_get_metadata (st, "stats") != NULL;
  const SdTensorView *v[N_TENSORS] = { NULL };
  if (!find_tensors (st, have_meta, v, error))
    return FALSE;
  if (!have_meta)
    return TRUE;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = sd_model_parse_json_meta (st, "stats", TRUE, parser, error);
  g_auto (StatsMeta) m = { 0 };
  const int K = model->arch.n_classes, C = model->feat_channels;
  if (root == NULL || !read_meta (root, K, file, &m, error))
    return FALSE;
  if ((model->train_length > 0 && m.length != model->train_length)
      || m.length < (guint64) model->min_length) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: metadata 'stats': 'length' %" G_GUINT64_FORMAT
        " is not the model's train length %u (shortest input %d)",
        file, m.length, model->train_length, model->min_length);
    return FALSE;
  }
  const SdTensorView *nq = v[T_NOVELTY];
  if (nq->ndim != 1 || nq->shape[0] < 2 || nq->shape[0] > MAX_QUANTILES) {
    g_set_error (error, SD_ERROR, SD_ERROR_MODEL,
        "%s: tensor 'stats.novelty_quantiles' must be 1-D with 2 to %d "
        "values",
        file, MAX_QUANTILES);
    return FALSE;
  }
  const int T = (int) m.length, Q = (int) nq->shape[0];
  const gint64 want[N_TENSORS][2] = { { K, sd_dream_spectrum_bins (T) },
    { K, C }, { C, C }, { Q, 0 }, { K, Q } };
  for (int t = 0; t < N_TENSORS; t++)
    if (!sd_safetensors_check_f32 (
            st, v[t], t == T_NOVELTY ? 1 : 2, want[t], error))
      return FALSE;
  g_autoptr (SdModelStats) s = stats_new (K, C, T, Q);
  s->false_alarm = m.false_alarm;
  s->threshold = m.threshold;
  s->shrinkage = m.shrinkage;
  s->level_lo = m.level[0];
  s->level_hi = m.level[1];
  memcpy (s->class_count, m.counts, K * sizeof (guint));
  memcpy (s->heldout_count, m.heldout, K * sizeof (guint));
  g_autofree char *where
      = g_strdup_printf ("%s: tensor 'stats.covariance'", file);
  if (!read_tensors (st, v, s, error) || !stats_prepare (s, where, error)
      || !stats_check_model (s, model, file, error))
    return FALSE;
  model->stats = g_steal_pointer (&s);
  return TRUE;
}
