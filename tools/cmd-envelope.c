/* seqdream envelope: the envelope spectrum of dreams or recordings, the
 * classic bearing-fault diagnosis, with markers at the shaft and defect
 * frequencies.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "plot.h"
#include "seqdream-cli.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_RANGE_LO 10.0
#define DEFAULT_RANGE_HI 500.0
#define DEFAULT_TOLERANCE 0.02
#define DEFAULT_HARMONICS 3
#define DEFAULT_ZOOM_MS 20.0
#define PSD_RESOLUTION 100.0 /* Hz per band of the plain spectrum */

/* One series to analyse. */
typedef struct
{
  char *source; /* for messages and the output */
  char *label;  /* a dream's class, else NULL */
  gint64 seed;  /* a dream's seed, else -1 */
  double probability;
  gint64 offset; /* first sample in the recording (0 for a dream) */
  GArray *x;     /* float */
  double rate;
  gboolean data_units; /* else the model's normalised input space */
} Series;

static void
series_free (gpointer data)
{
  Series *s = data;
  g_free (s->source);
  g_free (s->label);
  g_array_unref (s->x);
  g_free (s);
}

static Series *
series_new (void)
{
  Series *s = g_new0 (Series, 1);
  s->x = g_array_new (FALSE, FALSE, sizeof (float));
  s->seed = -1;
  s->probability = NAN;
  s->rate = NAN;
  return s;
}

/* A family of marker frequencies: multiples first_multiple * h (h = 1 ..
 * harmonics) of base. */
typedef struct
{
  char *key;   /* JSON key, ASCII */
  char *name;  /* in labels: "BPFO", "BSF" */
  double base; /* Hz */
  int first_multiple;
  PlotColor color;
} Family;

static void
family_clear (gpointer data)
{
  Family *f = data;
  g_free (f->key);
  g_free (f->name);
}

typedef struct
{
  char *input, *wav, *band, *range, *json_out, *plot_out, *title;
  char **markers;
  int segment, hop, max_segments, harmonics, plot_index, width, height;
  double rate, rpm, tolerance, zoom_ms;
  gboolean quiet;
  /* --band and --range, parsed (Hz); band_hi INFINITY: Nyquist */
  double band_lo, band_hi, range_lo, range_hi;
} EnvelopeOptions;

static void
envelope_options_clear (EnvelopeOptions *o)
{
  char **strs[] = { &o->input, &o->wav, &o->band, &o->range, &o->json_out,
    &o->plot_out, &o->title };
  for (gsize i = 0; i < G_N_ELEMENTS (strs); i++)
    g_clear_pointer (strs[i], g_free);
  g_clear_pointer (&o->markers, g_strfreev);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EnvelopeOptions, envelope_options_clear)

static gboolean
parse_hz_range (const char *s, const char *what, double *lo, double *hi)
{
  char *end = NULL;
  double a = g_ascii_strtod (s, &end);
  if (end == s || *end != ':')
    goto bad;
  const char *s2 = end + 1;
  double b = g_ascii_strtod (s2, &end);
  if (end == s2 || *end != '\0' || !isfinite (a) || !isfinite (b) || a < 0
      || !(a < b))
    goto bad;
  *lo = a;
  *hi = b;
  return TRUE;
bad:
  fprintf (stderr,
      "seqdream envelope: %s '%s' must be LO:HI in Hz with 0 <= LO < HI\n",
      what, s);
  return FALSE;
}

/* ---- input ---- */

static gboolean
json_number (JsonObject *o, const char *name, double *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return FALSE;
  GType t = json_node_get_value_type (n);
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return FALSE;
  *out = json_node_get_double (n);
  return TRUE;
}

static Series *
read_dream (JsonNode *node, const char *source, GError **error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: a dream must be a JSON object", source);
    return NULL;
  }
  JsonObject *o = json_node_get_object (node);
  /* The dream in the units of the data when the model has them. */
  gboolean units = json_object_has_member (o, "sequence_units");
  const char *key = units ? "sequence_units" : "sequence";
  JsonNode *seq = json_object_get_member (o, key);
  if (seq == NULL || !JSON_NODE_HOLDS_ARRAY (seq)) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: no \"sequence\" array (not a dream written by seqdream dream?)",
        source);
    return NULL;
  }
  g_autoptr (GPtrArray) hold = g_ptr_array_new_with_free_func (series_free);
  Series *s = series_new ();
  g_ptr_array_add (hold, s);
  JsonArray *a = json_node_get_array (seq);
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || (json_node_get_value_type (e) != G_TYPE_DOUBLE
            && json_node_get_value_type (e) != G_TYPE_INT64)) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "%s: \"%s\"[%u] is not a number", source, key, i);
      return NULL;
    }
    float v = (float) json_node_get_double (e);
    g_array_append_val (s->x, v);
  }
  s->data_units = units;
  s->source = g_strdup (source);
  JsonNode *cls = json_object_get_member (o, "class");
  if (cls && JSON_NODE_HOLDS_VALUE (cls)
      && json_node_get_value_type (cls) == G_TYPE_STRING)
    s->label = g_strdup (json_node_get_string (cls));
  double v;
  if (json_number (o, "seed", &v))
    s->seed = (gint64) v;
  if (json_number (o, "probability", &v))
    s->probability = v;
  if (json_number (o, "sample_rate", &v) && v > 0)
    s->rate = v;
  return g_ptr_array_steal_index (hold, 0);
}

static gboolean
load_dreams (const char *path, GPtrArray *out, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *e = NULL;
  if (!json_parser_load_from_file (parser, path, &e)) {
    gboolean io = e->domain == G_FILE_ERROR;
    g_set_error (error, SD_ERROR, io ? SD_ERROR_IO : SD_ERROR_FORMAT, "%s: %s",
        path, e->message);
    g_error_free (e);
    return FALSE;
  }
  JsonNode *root = json_parser_get_root (parser);
  JsonArray *list;
  if (!cli_dream_list (root, path, &list, error))
    return FALSE;
  if (list == NULL) {
    Series *s = read_dream (root, path, error);
    if (s == NULL)
      return FALSE;
    g_ptr_array_add (out, s);
    return TRUE;
  }
  if (json_array_get_length (list) == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "%s: no dreams", path);
    return FALSE;
  }
  for (guint i = 0; i < json_array_get_length (list); i++) {
    g_autofree char *src = g_strdup_printf ("%s, dream %u", path, i + 1);
    Series *s = read_dream (json_array_get_element (list, i), src, error);
    if (s == NULL)
      return FALSE;
    g_ptr_array_add (out, s);
  }
  return TRUE;
}

/* The recording, or segments of `segment` samples every `hop` of it. */
static gboolean
load_wav (const char *path, int segment, int hop, int max_segments,
    GPtrArray *out, GError **error)
{
  g_autofree float *buf = NULL;
  gint64 n = 0;
  int rate = 0;
  if (!sd_wav_read (path, &buf, &n, &rate, error))
    return FALSE;
  if (n <= 0 || n > G_MAXINT) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "“%s” has %" G_GINT64_FORMAT " samples; 1 to %d are supported", path, n,
        G_MAXINT);
    return FALSE;
  }
  const gint64 len = segment > 0 ? segment : n;
  if (len > n) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "“%s” has %" G_GINT64_FORMAT " samples, fewer than one segment of %d",
        path, n, segment);
    return FALSE;
  }
  const gint64 step = hop > 0 ? hop : len;
  int count = 0;
  for (gint64 start = 0; start + len <= n; start += step) {
    if (max_segments > 0 && count >= max_segments)
      break;
    Series *s = series_new ();
    g_array_append_vals (s->x, buf + start, (guint) len);
    s->rate = rate;
    s->offset = start;
    s->data_units = TRUE;
    s->source = segment > 0 ? g_strdup_printf ("%s, %.3f-%.3f s", path,
                    (double) start / rate, (double) (start + len) / rate)
                            : g_strdup (path);
    g_ptr_array_add (out, s);
    count++;
  }
  return TRUE;
}

/* ---- markers ---- */

/* Okabe-Ito colours (plot.h): blue is the spectrum's own. */
enum
{
  VERMILLION = 0,
  GREEN = 2,
  PURPLE = 3,
  ORANGE = 4,
  SKY = 5,
  BLACK = 6,
};

static void
add_family (GArray *families, const char *key, const char *name, double base,
    int first_multiple, int color)
{
  Family f = { g_strdup (key), g_strdup (name), base, first_multiple,
    plot_palette (color) };
  g_array_append_val (families, f);
}

/* Shaft, BPFO, ball-defect (2 BSF) and BPFI frequencies at rpm of the
 * CWRU drive-end bearing (SKF 6205), then the --marker NAME=HZ families. */
static gboolean
make_families (const EnvelopeOptions *o, GArray *families)
{
  if (o->rpm > 0) {
    const SdBearingFrequencies f
        = sd_bearing_frequencies (&sd_bearing_skf_6205, o->rpm / 60.0);
    add_family (families, "fr", "fr", f.shaft, 1, BLACK);
    add_family (families, "BPFO", "BPFO", f.bpfo, 1, GREEN);
    /* A ball defect strikes both races once per spin revolution. */
    add_family (families, "2xBSF", "BSF", f.bsf, 2, ORANGE);
    add_family (families, "BPFI", "BPFI", f.bpfi, 1, PURPLE);
  }
  static const int more[] = { VERMILLION, SKY, BLACK, GREEN, ORANGE, PURPLE };
  for (int i = 0; o->markers && o->markers[i]; i++) {
    const char *eq = strrchr (o->markers[i], '=');
    char *end = NULL;
    double f = eq ? g_ascii_strtod (eq + 1, &end) : NAN;
    if (eq == NULL || eq == o->markers[i] || end == eq + 1 || *end != '\0'
        || !isfinite (f) || f <= 0) {
      fprintf (stderr,
          "seqdream envelope: --marker '%s' must be NAME=HZ with HZ > 0\n",
          o->markers[i]);
      return FALSE;
    }
    g_autofree char *name = g_strndup (o->markers[i], eq - o->markers[i]);
    add_family (families, name, name, f, 1, more[i % G_N_ELEMENTS (more)]);
  }
  return TRUE;
}

static char *
marker_label (const Family *f, int h)
{
  int k = f->first_multiple * h;
  return k == 1 ? g_strdup (f->name)
                : g_strdup_printf ("%d\u00d7%s", k, f->name);
}

/* ---- analysis ---- */

typedef struct
{
  Series *series;
  SdEnvelopeSpectrum *spec;
  SdEnvelopePeak peak;
  double mean, rms, kurtosis, centroid, psd_peak;
  /* the plain spectrum summed into bands of psd_df Hz, as shares of the
   * total */
  double psd_df;
  GArray *psd; /* double */
  /* the nearest marker to the peak */
  char *nearest;
  double nearest_hz, nearest_error;
} Result;

static void
result_clear (gpointer data)
{
  Result *r = data;
  sd_envelope_spectrum_free (r->spec);
  if (r->psd)
    g_array_unref (r->psd);
  g_free (r->nearest);
}

static gboolean
analyse (const EnvelopeOptions *o, Series *s, GArray *families, Result *r,
    GError **error)
{
  const float *x = (const float *) s->x->data;
  const guint n = s->x->len;
  r->series = s;
  /* A band up to Nyquist by default. */
  double hi = isfinite (o->band_hi) ? o->band_hi : 0.5 * s->rate;
  r->spec = sd_envelope_spectrum (x, n, s->rate, o->band_lo, hi, error);
  if (r->spec == NULL)
    return FALSE;
  if (!sd_envelope_spectrum_peak (
          r->spec, o->range_lo, o->range_hi, &r->peak, error))
    return FALSE;

  double m = 0, m2 = 0, m4 = 0;
  for (guint t = 0; t < n; t++)
    m += x[t];
  m /= n;
  for (guint t = 0; t < n; t++) {
    double d = x[t] - m;
    m2 += d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m4 /= n;
  r->mean = m;
  r->rms = sqrt (m2);
  r->kurtosis = m2 > 0 ? m4 / (m2 * m2) : NAN;

  const SdEnvelopeSpectrum *e = r->spec;
  double total = 0, moment = 0;
  for (guint k = 1; k < e->n_bins; k++) {
    total += e->power[k];
    moment += k * e->df * e->power[k];
  }
  r->centroid = total > 0 ? moment / total : NAN;
  const guint group = MAX (1u, (guint) lround (PSD_RESOLUTION / e->df));
  r->psd_df = group * e->df;
  r->psd = g_array_new (FALSE, FALSE, sizeof (double));
  double best = -1;
  r->psd_peak = NAN;
  for (guint k0 = 0; k0 < e->n_bins; k0 += group) {
    const guint k1 = MIN (k0 + group, e->n_bins);
    double sum = 0;
    for (guint k = k0; k < k1; k++)
      sum += e->power[k];
    /* A last, partial band (Nyquist) at the same density. */
    sum = total > 0 ? sum / total * group / (k1 - k0) : NAN;
    g_array_append_val (r->psd, sum);
    if (sum > best) {
      best = sum;
      r->psd_peak = (k0 + 0.5 * (k1 - k0 - 1)) * e->df;
    }
  }

  r->nearest_error = INFINITY;
  for (guint i = 0; i < families->len; i++) {
    const Family *f = &g_array_index (families, Family, i);
    for (int h = 1; h <= o->harmonics; h++) {
      double hz = f->base * f->first_multiple * h;
      double err = 100.0 * (r->peak.frequency - hz) / hz;
      if (fabs (err) < fabs (r->nearest_error)) {
        g_free (r->nearest);
        r->nearest = marker_label (f, h);
        r->nearest_hz = hz;
        r->nearest_error = err;
      }
    }
  }
  return TRUE;
}

/* ---- output ---- */

static void
add_doubles (JsonBuilder *b, const char *name, const double *v, guint n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    if (isfinite (v[i]))
      json_builder_add_double_value (b, v[i]);
    else
      json_builder_add_null_value (b);
  json_builder_end_array (b);
}

static JsonNode *
build_json (const EnvelopeOptions *o, GArray *results, GArray *families)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "band");
  json_builder_begin_array (b);
  json_builder_add_double_value (b, o->band_lo);
  if (isfinite (o->band_hi))
    json_builder_add_double_value (b, o->band_hi);
  else
    json_builder_add_null_value (b); /* Nyquist of each series */
  json_builder_end_array (b);
  json_builder_set_member_name (b, "range");
  json_builder_begin_array (b);
  json_builder_add_double_value (b, o->range_lo);
  json_builder_add_double_value (b, o->range_hi);
  json_builder_end_array (b);
  cli_json_add_double (b, "tolerance", o->tolerance);
  if (o->rpm > 0)
    cli_json_add_double (b, "rpm", o->rpm);
  json_builder_set_member_name (b, "markers");
  json_builder_begin_object (b);
  for (guint i = 0; i < families->len; i++) {
    const Family *f = &g_array_index (families, Family, i);
    cli_json_add_double (b, f->key, f->base * f->first_multiple);
  }
  json_builder_end_object (b);

  json_builder_set_member_name (b, "series");
  json_builder_begin_array (b);
  for (guint i = 0; i < results->len; i++) {
    const Result *r = &g_array_index (results, Result, i);
    const Series *s = r->series;
    const SdEnvelopeSpectrum *e = r->spec;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "source");
    json_builder_add_string_value (b, s->source);
    if (s->label) {
      json_builder_set_member_name (b, "class");
      json_builder_add_string_value (b, s->label);
    }
    if (s->seed >= 0) {
      json_builder_set_member_name (b, "seed");
      json_builder_add_int_value (b, s->seed);
    }
    if (isfinite (s->probability))
      cli_json_add_double (b, "probability", s->probability);
    json_builder_set_member_name (b, "offset");
    json_builder_add_int_value (b, s->offset);
    json_builder_set_member_name (b, "samples");
    json_builder_add_int_value (b, e->n);
    cli_json_add_double (b, "sample_rate", e->rate);
    json_builder_set_member_name (b, "units");
    json_builder_add_string_value (b, s->data_units ? "data" : "normalised");
    cli_json_add_double (b, "band_lo", e->band_lo);
    cli_json_add_double (b, "band_hi", e->band_hi);
    cli_json_add_double (b, "mean", r->mean);
    cli_json_add_double (b, "rms", r->rms);
    cli_json_add_double (b, "kurtosis", r->kurtosis);
    cli_json_add_double (b, "band_rms", e->band_rms);
    cli_json_add_double (b, "band_energy_share", e->band_energy_share);
    cli_json_add_double (b, "envelope_mean", e->envelope_mean);
    cli_json_add_double (b, "spectral_centroid", r->centroid);
    cli_json_add_double (b, "spectral_peak", r->psd_peak);

    json_builder_set_member_name (b, "dominant");
    json_builder_begin_object (b);
    cli_json_add_double (b, "frequency", r->peak.frequency);
    cli_json_add_double (b, "amplitude", r->peak.amplitude);
    cli_json_add_double (b, "prominence", r->peak.prominence);
    if (r->nearest) {
      json_builder_set_member_name (b, "nearest");
      json_builder_add_string_value (b, r->nearest);
      cli_json_add_double (b, "nearest_frequency", r->nearest_hz);
      cli_json_add_double (b, "error_percent", r->nearest_error);
    }
    json_builder_end_object (b);

    /* How far the spectrum stands out at every marker. */
    json_builder_set_member_name (b, "markers");
    json_builder_begin_object (b);
    for (guint j = 0; j < families->len; j++) {
      const Family *f = &g_array_index (families, Family, j);
      json_builder_set_member_name (b, f->key);
      json_builder_begin_array (b);
      for (int h = 1; h <= o->harmonics; h++) {
        double hz = f->base * f->first_multiple * h;
        g_autofree char *label = marker_label (f, h);
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "label");
        json_builder_add_string_value (b, label);
        cli_json_add_double (b, "frequency", hz);
        cli_json_add_double (b, "prominence",
            sd_envelope_spectrum_prominence (
                e, hz, MAX (o->tolerance * hz, 0.0), o->range_lo, o->range_hi));
        json_builder_end_object (b);
      }
      json_builder_end_array (b);
    }
    json_builder_end_object (b);

    json_builder_set_member_name (b, "envelope_spectrum");
    json_builder_begin_object (b);
    cli_json_add_double (b, "df", e->df);
    guint n_env = MIN (e->n_bins, (guint) floor (o->range_hi / e->df) + 1);
    add_doubles (b, "amplitude", e->amplitude, n_env);
    json_builder_end_object (b);
    json_builder_set_member_name (b, "power_spectrum");
    json_builder_begin_object (b);
    cli_json_add_double (b, "df", r->psd_df);
    add_doubles (b, "share", (const double *) r->psd->data, r->psd->len);
    json_builder_end_object (b);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
append_hz (GString *s, double hz)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, hz < 100 ? "%.2f" : "%.1f", hz);
  g_string_append (s, buf);
}

static char *
summary (const Result *r)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%s", r->series->source);
  if (r->series->label)
    g_string_append_printf (s, " (class %s)", r->series->label);
  g_string_append (s, ": dominant envelope frequency ");
  append_hz (s, r->peak.frequency);
  g_string_append_printf (s, " Hz, prominence %.1f", r->peak.prominence);
  if (r->nearest) {
    g_string_append_printf (s, "; nearest %s (", r->nearest);
    append_hz (s, r->nearest_hz);
    g_string_append_printf (s, " Hz) %+.1f %%", r->nearest_error);
  }
  g_string_append_printf (s, "; %.0f %% of the energy in the band",
      100.0 * r->spec->band_energy_share);
  return g_string_free (s, FALSE);
}

/* ---- plot ---- */

static gboolean
draw_result (
    const EnvelopeOptions *o, const Result *r, GArray *families, GError **error)
{
  const Series *s = r->series;
  const SdEnvelopeSpectrum *e = r->spec;
  const float *x = (const float *) s->x->data;
  const guint n = s->x->len;
  const char *units = s->data_units ? "amplitude" : "normalised amplitude";

  /* Waveform: zoom_ms around the middle, with the band's envelope. */
  guint w = (guint) CLAMP (lround (o->zoom_ms * 1e-3 * s->rate), 2, (long) n);
  guint t0 = (n - w) / 2;
  g_autofree float *env = g_new (float, w);
  for (guint t = 0; t < w; t++)
    env[t] = (float) e->envelope[t0 + t];
  g_autofree char *env_label = g_strdup_printf (
      "envelope of %.0f\u2013%.0f Hz", e->band_lo, e->band_hi);
  PlotLine wave[2] = {
    { s->data_units ? "signal" : "signal (normalised)", x + t0, (int) w,
        (double) (s->offset + t0), 1, plot_palette (1), 1.4, 0 },
    { env_label, env, (int) w, (double) (s->offset + t0), 1, plot_palette (0),
        1.6, 0 },
  };

  /* Plain spectrum in dB, band edges marked. */
  guint np = r->psd->len;
  g_autofree float *db = g_new (float, np);
  for (guint k = 0; k < np; k++) {
    double v = g_array_index (r->psd, double, k);
    db[k] = v > 0 ? (float) (10.0 * log10 (v)) : NAN;
  }
  PlotLine psd = { NULL, db, (int) np, 0.5 * r->psd_df / 1000.0,
    r->psd_df / 1000.0, plot_palette (1), 1.6, 0 };
  PlotColor grey = { 0.45, 0.45, 0.45 };
  PlotMarker band_marks[2] = {
    { e->band_lo / 1000.0, "band", grey, 1.2, 5 },
    { e->band_hi / 1000.0, "band", grey, 1.2, 5 },
  };

  /* Envelope spectrum up to the range's end, with the markers. */
  guint ne = MIN (e->n_bins, (guint) floor (o->range_hi / e->df) + 1);
  g_autofree float *amp = g_new (float, ne);
  double amax = 0;
  for (guint k = 0; k < ne; k++) {
    amp[k] = (float) e->amplitude[k];
    if (k * e->df >= o->range_lo)
      amax = MAX (amax, e->amplitude[k]);
  }
  g_autoptr (GPtrArray) hold = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) marks = g_array_new (FALSE, TRUE, sizeof (PlotMarker));
  g_autoptr (GArray) lines = g_array_new (FALSE, TRUE, sizeof (PlotLine));
  PlotLine spec_line = { "envelope spectrum", amp, (int) ne, 0, e->df,
    plot_palette (1), 1.6, 0 };
  g_array_append_val (lines, spec_line);
  for (guint i = 0; i < families->len; i++) {
    const Family *f = &g_array_index (families, Family, i);
    for (int h = 1; h <= o->harmonics; h++) {
      char *label = marker_label (f, h);
      g_ptr_array_add (hold, label);
      PlotMarker m = { f->base * f->first_multiple * h, label, f->color,
        h == 1 ? 1.6 : 1.1, h == 1 ? 0 : 4 };
      g_array_append_val (marks, m);
    }
    /* The family in the legend: a line without points. */
    GString *l = g_string_new (NULL);
    g_autofree char *first = marker_label (f, 1);
    g_string_append_printf (l, "%s ", first);
    append_hz (l, f->base * f->first_multiple);
    g_string_append (l, " Hz");
    char *legend = g_string_free (l, FALSE);
    g_ptr_array_add (hold, legend);
    PlotLine key = { legend, NULL, 0, 0, 0, f->color, 1.6, 0 };
    g_array_append_val (lines, key);
  }
  g_autofree char *peak_label
      = g_strdup_printf ("peak %.1f Hz", r->peak.frequency);
  PlotMarker pm = { r->peak.frequency, peak_label, { 0.35, 0.35, 0.35 }, 1, 2 };
  g_array_append_val (marks, pm);

  GString *sub = g_string_new (NULL);
  g_string_append (sub, "dominant ");
  append_hz (sub, r->peak.frequency);
  g_string_append_printf (
      sub, " Hz in %.0f\u2013%.0f Hz", o->range_lo, o->range_hi);
  g_string_append_printf (
      sub, "  \u00b7  prominence %.1f (\u00d7 median)", r->peak.prominence);
  if (r->nearest) {
    g_string_append_printf (sub, "  \u00b7  %s ", r->nearest);
    append_hz (sub, r->nearest_hz);
    g_string_append_printf (sub, " Hz %+.1f %%", r->nearest_error);
  }
  g_string_append_printf (sub, "  \u00b7  %u samples (%.3f s), bins %.2f Hz",
      e->n, e->n / e->rate, e->df);
  g_autofree char *env_sub = g_string_free (sub, FALSE);
  g_autofree char *wave_sub = g_strdup_printf (
      "%.0f ms from %.3f s  \u00b7  RMS %.3g  \u00b7  kurtosis %.1f",
      w * 1e3 / s->rate, (s->offset + t0) / s->rate, r->rms, r->kurtosis);
  g_autofree char *psd_sub = g_strdup_printf (
      "power per %.0f Hz, dB of the total  \u00b7  %.0f %% in the band "
      "%.0f\u2013%.0f Hz  \u00b7  peak %.2f kHz, centroid %.2f kHz",
      r->psd_df, 100.0 * e->band_energy_share, e->band_lo, e->band_hi,
      r->psd_peak / 1000.0, r->centroid / 1000.0);
  g_autofree char *amp_label = g_strdup_printf ("envelope %s", units);

  PlotPanel panels[3] = {
    { "waveform", wave_sub, "time (ms)", units, s->rate / 1000.0, FALSE, 0, 0,
        NULL, wave, 2, NULL, 0 },
    { "spectrum", psd_sub, "frequency (kHz)", "power (dB)", 0, FALSE, 0, 0,
        NULL, &psd, 1, band_marks, 2 },
    { "envelope spectrum", env_sub, "frequency (Hz)", amp_label, 0, TRUE, 0,
        amax > 0 ? 1.4 * amax : 1, NULL, (const PlotLine *) lines->data,
        (int) lines->len, (const PlotMarker *) marks->data, (int) marks->len },
  };
  g_autofree char *title = NULL;
  if (o->title)
    title = g_strdup (o->title);
  else if (s->label && s->seed >= 0)
    title = g_strdup_printf (
        "dream of class %s (seed %" G_GINT64_FORMAT ")", s->label, s->seed);
  else
    title = g_strdup (s->source);
  PlotSpec spec = { panels, 3, title, o->width, o->height > 0 ? o->height : 0 };
  return plot_series (&spec, o->plot_out, error);
}

/* ---- the subcommand ---- */

/* The command line into o; FALSE after saying what is wrong. */
static gboolean
parse_options (EnvelopeOptions *o, int *argc, char ***argv)
{
  GOptionEntry entries[] = {
    { "input", 'i', 0, G_OPTION_ARG_FILENAME, &o->input,
        "Dream JSON written by 'seqdream dream' (every dream in it; the "
        "sequence in data units when the model has them)",
        "FILE" },
    { "wav", 'w', 0, G_OPTION_ARG_FILENAME, &o->wav,
        "A mono recording (WAV or any libsndfile format)", "FILE" },
    { "segment", 0, 0, G_OPTION_ARG_INT, &o->segment,
        "--wav: analyse segments of N samples (default: the whole "
        "recording)",
        "N" },
    { "hop", 0, 0, G_OPTION_ARG_INT, &o->hop,
        "--wav: a segment every H samples (default: the segment length)", "H" },
    { "max-segments", 0, 0, G_OPTION_ARG_INT, &o->max_segments,
        "--wav: at most K segments, from the start (default: all)", "K" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->rate,
        "Sample rate in Hz (default: the dream's or the recording's)", "HZ" },
    { "band", 'b', 0, G_OPTION_ARG_STRING, &o->band,
        "Band-pass around the resonance, Hz (default 0 to Nyquist)", "LO:HI" },
    { "range", 0, 0, G_OPTION_ARG_STRING, &o->range,
        "Where to look for the dominant envelope frequency, Hz; also the "
        "reference of the prominences and the plotted range (default "
        "10:500)",
        "LO:HI" },
    { "rpm", 0, 0, G_OPTION_ARG_DOUBLE, &o->rpm,
        "Shaft speed: markers at the shaft (fr), BPFO, ball-defect (2 BSF) "
        "and BPFI frequencies of the SKF 6205-2RS JEM (CWRU drive end)",
        "RPM" },
    { "marker", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->markers,
        "A further marker frequency (repeatable)", "NAME=HZ" },
    { "harmonics", 0, 0, G_OPTION_ARG_INT, &o->harmonics,
        "Harmonics of every marker (default 3)", "K" },
    { "tolerance", 0, 0, G_OPTION_ARG_DOUBLE, &o->tolerance,
        "Prominence at a marker: the largest bin within this fraction of "
        "its frequency (at least the nearest bin; default 0.02)",
        "F" },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &o->json_out,
        "Write the results as JSON (- for stdout)", "FILE" },
    { "plot", 'p', 0, G_OPTION_ARG_FILENAME, &o->plot_out,
        "Plot one series (.png or .svg): waveform with its envelope, "
        "spectrum, envelope spectrum with the markers",
        "FILE" },
    { "plot-index", 0, 0, G_OPTION_ARG_INT, &o->plot_index,
        "Which series to plot, from 1 (default 1)", "I" },
    { "zoom", 0, 0, G_OPTION_ARG_DOUBLE, &o->zoom_ms,
        "Milliseconds of waveform in the plot, around the middle "
        "(default 20)",
        "MS" },
    { "width", 0, 0, G_OPTION_ARG_INT, &o->width,
        "Image width in px (default 1000)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &o->height,
        "Image height in px (default 1296)", "H" },
    { "title", 0, 0, G_OPTION_ARG_STRING, &o->title, "Title of the plot", "T" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, "No summary on stdout",
        NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- envelope spectrum (bearing diagnostics)");
  g_option_context_set_summary (ctx,
      "Band-passes every series around a resonance, takes its Hilbert "
      "envelope and\nreports the dominant frequency of the envelope's "
      "spectrum (docs/metrics.md).\nExample: seqdream envelope --input "
      "dream.json --band 2000:4000 --rpm 1796 \\\n  --json env.json --plot "
      "env.png");
  g_option_context_add_main_entries (ctx, entries, NULL);
  return cli_parse (ctx, argc, argv);
}

/* The combinations and ranges of the options, and --band and --range;
 * FALSE after saying what is wrong. */
static gboolean
check_options (EnvelopeOptions *o)
{
  if ((o->input == NULL) == (o->wav == NULL)) {
    fprintf (stderr, "seqdream envelope: give either --input DREAM.json or "
                     "--wav FILE (see --help)\n");
    return FALSE;
  }
  if (o->input && (o->segment || o->hop || o->max_segments)) {
    fprintf (stderr, "seqdream envelope: --segment, --hop and --max-segments "
                     "apply to --wav only\n");
    return FALSE;
  }
  if (o->segment < 0 || o->hop < 0 || o->max_segments < 0 || o->harmonics < 1
      || o->harmonics > 100 || o->plot_index < 1 || o->width < 0
      || o->height < 0 || !(o->tolerance >= 0 && o->tolerance < 1)
      || !(o->zoom_ms > 0) || o->rate < 0 || !isfinite (o->rate) || o->rpm < 0
      || !isfinite (o->rpm)) {
    fprintf (stderr,
        "seqdream envelope: impossible value: --segment, --hop, "
        "--max-segments, --rate, --rpm, --width and --height must not be "
        "negative, --harmonics 1 to 100, --plot-index from 1, --tolerance in "
        "[0, 1), --zoom positive\n");
    return FALSE;
  }
  o->band_lo = 0;
  o->band_hi = INFINITY;
  o->range_lo = DEFAULT_RANGE_LO;
  o->range_hi = DEFAULT_RANGE_HI;
  if (o->band && !parse_hz_range (o->band, "--band", &o->band_lo, &o->band_hi))
    return FALSE;
  if (o->range
      && !parse_hz_range (o->range, "--range", &o->range_lo, &o->range_hi))
    return FALSE;
  return TRUE;
}

/* The dreams of --input or the segments of --wav into series (Series *);
 * 0 or the exit status. */
static int
load_series (const EnvelopeOptions *o, GPtrArray *series)
{
  GError *error = NULL;

  if (o->input ? !load_dreams (o->input, series, &error)
               : !load_wav (
                   o->wav, o->segment, o->hop, o->max_segments, series, &error))
    return cli_fail (error);
  if (series->len == 0) {
    fprintf (stderr, "seqdream envelope: no series to analyse\n");
    return 1;
  }
  if (o->plot_out && (guint) o->plot_index > series->len) {
    fprintf (stderr,
        "seqdream envelope: --plot-index %d, but there are %u series\n",
        o->plot_index, series->len);
    return 2;
  }
  return 0;
}

/* The envelope spectrum of every series into results (Result); 0 or the
 * exit status. */
static int
analyse_series (const EnvelopeOptions *o, GPtrArray *series, GArray *families,
    GArray *results)
{
  GError *error = NULL;

  for (guint i = 0; i < series->len; i++) {
    Series *s = g_ptr_array_index (series, i);
    if (o->rate > 0)
      s->rate = o->rate;
    if (!isfinite (s->rate)) {
      fprintf (stderr,
          "seqdream envelope: %s has no sample rate: give --rate HZ\n",
          s->source);
      return 2;
    }
    g_array_set_size (results, i + 1);
    Result *r = &g_array_index (results, Result, i);
    if (!analyse (o, s, families, r, &error)) {
      g_prefix_error (&error, "%s: ", s->source);
      return cli_fail (error);
    }
  }
  return 0;
}

/* The JSON, the plot and the summary lines; 0 or the exit status. */
static int
write_results (const EnvelopeOptions *o, GArray *results, GArray *families)
{
  GError *error = NULL;
  gboolean to_stdout = o->json_out && strcmp (o->json_out, "-") == 0;

  if (o->json_out) {
    g_autoptr (JsonNode) root = build_json (o, results, families);
    g_autofree char *text = json_to_string (root, FALSE);
    if (to_stdout)
      printf ("%s\n", text);
    else if (!g_file_set_contents (o->json_out, text, -1, &error))
      return cli_fail (error);
  }
  if (o->plot_out
      && !draw_result (o, &g_array_index (results, Result, o->plot_index - 1),
          families, &error))
    return cli_fail (error);
  if (!o->quiet && !to_stdout)
    for (guint i = 0; i < results->len; i++) {
      g_autofree char *line = summary (&g_array_index (results, Result, i));
      printf ("%s\n", line);
    }
  return 0;
}

int
cli_cmd_envelope (int argc, char **argv)
{
  g_auto (EnvelopeOptions) o = { 0 };
  o.harmonics = DEFAULT_HARMONICS;
  o.tolerance = DEFAULT_TOLERANCE;
  o.zoom_ms = DEFAULT_ZOOM_MS;
  o.plot_index = 1;
  GError *error = NULL;
  int status;

  if (!parse_options (&o, &argc, &argv) || !check_options (&o))
    return 2;
  if (o.plot_out && !plot_check_path (o.plot_out, &error))
    return cli_fail (error);
  g_autoptr (GArray) families = g_array_new (FALSE, TRUE, sizeof (Family));
  g_array_set_clear_func (families, family_clear);
  if (!make_families (&o, families))
    return 2;

  g_autoptr (GPtrArray) series = g_ptr_array_new_with_free_func (series_free);
  if ((status = load_series (&o, series)) != 0)
    return status;
  g_autoptr (GArray) results = g_array_new (FALSE, TRUE, sizeof (Result));
  g_array_set_clear_func (results, result_clear);
  if ((status = analyse_series (&o, series, families, results)) != 0)
    return status;
  return write_results (&o, results, families);
}
