/* seqdream: datasets of univariate series (UCR text files, WAV windows).
 *
 * UCR text files are read whole and parsed by a hand-rolled tokenizer
 * (g_ascii_strtod per value, no per-line allocation except the label).
 *
 * Label tokens become class indices in sorted order: numerically when
 * every token is a finite number (tokens with the same value, "1" and
 * "1.0", are one class, named by the smallest token), else with g_strcmp0.
 * Against an external label set a token matches an identical label, or
 * else a label with the same numeric value (so a test file written with
 * "1.0" maps onto training labels written "1").
 *
 * WAV windows: for a recording of n samples,
 *   SD_SPLIT_ALL    windows start at 0, hop, 2 hop, ... and end <= n;
 *   SD_SPLIT_TRAIN  same grid, windows end <= train_end, where train_end =
 *                   floor (train_fraction * n) (a product within 1e-9 of an
 *                   integer counts as that integer, so 0.29 * 100 = 29);
 *   SD_SPLIT_TEST   windows start at train_end + window, then every hop,
 *                   and end <= n: at least one full window of gap between
 *                   the last training sample and the first test sample.
 * train_fraction must be in (0, 1) for TRAIN and TEST; it is ignored for
 * ALL. A recording with no window in the requested part is an
 * SD_ERROR_INVALID_ARG naming it, its sample count and the window.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/data.h"
#include "seqdream/error.h"
#include "seqdream/model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sndfile.h>

/* ------------------------------------------------------------------ */
/* Labels                                                              */

typedef struct
{
  GHashTable *ids;    /* token (owned by tokens) -> id + 1 */
  GPtrArray *tokens;  /* id -> token */
  GArray *first_seen; /* id -> guint: line (UCR) or source index (WAV) */
} LabelTable;

static void
label_table_init (LabelTable *t)
{
  t->ids = g_hash_table_new (g_str_hash, g_str_equal);
  t->tokens = g_ptr_array_new_with_free_func (g_free);
  t->first_seen = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
label_table_clear (LabelTable *t)
{
  g_clear_pointer (&t->ids, g_hash_table_unref);
  g_clear_pointer (&t->tokens, g_ptr_array_unref);
  if (t->first_seen != NULL)
    g_array_free (t->first_seen, TRUE);
  t->first_seen = NULL;
}

static guint
label_table_add (LabelTable *t, const char *token, gsize len, guint where)
{
  char *key = g_strndup (token, len);
  gpointer found = g_hash_table_lookup (t->ids, key);
  guint id;

  if (found != NULL) {
    g_free (key);
    return GPOINTER_TO_UINT (found) - 1;
  }
  id = t->tokens->len;
  g_ptr_array_add (t->tokens, key);
  g_array_append_val (t->first_seen, where);
  g_hash_table_insert (t->ids, key, GUINT_TO_POINTER (id + 1));
  return id;
}

/* TRUE if the whole of s is a finite number. */
static gboolean
parse_number_label (const char *s, double *value)
{
  char *end = NULL;
  double v = g_ascii_strtod (s, &end);

  if (end == s || *end != '\0' || !isfinite (v))
    return FALSE;
  *value = v;
  return TRUE;
}

typedef struct
{
  const char *token;
  double value;
  guint id;
} LabelKey;

static int
label_key_cmp_numeric (const void *pa, const void *pb)
{
  const LabelKey *a = pa, *b = pb;

  if (a->value < b->value)
    return -1;
  if (a->value > b->value)
    return 1;
  return g_strcmp0 (a->token, b->token);
}

static int
label_key_cmp_lexical (const void *pa, const void *pb)
{
  const LabelKey *a = pa, *b = pb;

  return g_strcmp0 (a->token, b->token);
}

/* A readable list of the labels for error messages. */
static char *
describe_label_set (const char *const *labels)
{
  GString *s = g_string_new (NULL);
  guint i;

  for (i = 0; labels[i] != NULL; i++) {
    if (i == 10) {
      g_string_append (s, ", …");
      break;
    }
    g_string_append_printf (s, "%s“%s”", i ? ", " : "", labels[i]);
  }
  return g_string_free (s, FALSE);
}

static gboolean
check_label_set (const char *const *labels, GError **error)
{
  guint i, j;

  if (labels[0] == NULL) {
    g_set_error (
        error, SD_ERROR, SD_ERROR_INVALID_ARG, "The label set is empty");
    return FALSE;
  }
  for (i = 0; labels[i] != NULL; i++)
    for (j = 0; j < i; j++)
      if (g_strcmp0 (labels[i], labels[j]) == 0) {
        g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
            "The label set holds “%s” twice", labels[i]);
        return FALSE;
      }
  return TRUE;
}

static int
find_known_label (const char *token, const char *const *known)
{
  double v, w;
  int i;

  for (i = 0; known[i] != NULL; i++)
    if (strcmp (token, known[i]) == 0)
      return i;
  if (!parse_number_label (token, &v))
    return -1;
  for (i = 0; known[i] != NULL; i++)
    if (parse_number_label (known[i], &w) && v == w)
      return i;
  return -1;
}

/* Maps every label id of t to a class index. Without known labels the
 * classes are the sorted distinct tokens; with them, each token is looked
 * up and, if one is missing, NULL is returned with *unknown set to its id.
 * On success *labels_out is a new NULL-terminated vector. */
static guint *
label_table_resolve (const LabelTable *t, const char *const *known,
    char ***labels_out, guint *n_classes_out, guint *unknown)
{
  guint n_ids = t->tokens->len;
  guint *map = g_new (guint, n_ids);
  LabelKey *keys;
  gboolean numeric = TRUE;
  GPtrArray *names;
  guint i;

  if (known != NULL) {
    for (i = 0; i < n_ids; i++) {
      int k = find_known_label (g_ptr_array_index (t->tokens, i), known);
      if (k < 0) {
        *unknown = i;
        g_free (map);
        return NULL;
      }
      map[i] = (guint) k;
    }
    *labels_out = g_strdupv ((char **) known);
    *n_classes_out = g_strv_length (*labels_out);
    return map;
  }

  keys = g_new (LabelKey, n_ids);
  for (i = 0; i < n_ids; i++) {
    keys[i].token = g_ptr_array_index (t->tokens, i);
    keys[i].id = i;
    keys[i].value = 0;
    if (numeric && !parse_number_label (keys[i].token, &keys[i].value))
      numeric = FALSE;
  }
  qsort (keys, n_ids, sizeof (LabelKey),
      numeric ? label_key_cmp_numeric : label_key_cmp_lexical);

  names = g_ptr_array_new ();
  for (i = 0; i < n_ids; i++) {
    /* Numeric tokens of equal value ("1", "1.0") are one class. */
    if (i == 0 || !numeric || keys[i].value != keys[i - 1].value)
      g_ptr_array_add (names, g_strdup (keys[i].token));
    map[keys[i].id] = names->len - 1;
  }
  *n_classes_out = names->len;
  g_ptr_array_add (names, NULL);
  *labels_out = (char **) g_ptr_array_free (names, FALSE);
  g_free (keys);
  return map;
}

/* ------------------------------------------------------------------ */
/* UCR text files                                                      */

typedef struct
{
  const char *path;
  GArray *x;         /* float, row-major */
  GArray *row_label; /* guint label id of each row */
  LabelTable labels;
  guint length;      /* values per row, 0 until the first row */
  guint length_line; /* line that fixed length */
} UcrParser;

static inline gboolean
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static inline const char *
skip_blanks (const char *s, const char *eol)
{
  while (s < eol && is_blank (*s))
    s++;
  return s;
}

/* A token quoted for an error message: escaped, at most 40 bytes. */
static char *
quote_token (const char *s, gsize len)
{
  g_autofree char *raw = g_strndup (s, MIN (len, 40));
  g_autofree char *esc = g_strescape (raw, NULL);

  return g_strdup_printf ("“%s%s”", esc, len > 40 ? "…" : "");
}

static gboolean
ucr_parse_line (
    UcrParser *p, const char *s, const char *eol, guint line, GError **error)
{
  const char *label = NULL;
  gsize label_len = 0;
  guint n_fields = 0;
  guint n_values = 0;
  guint id;

  s = skip_blanks (s, eol);
  if (s == eol)
    return TRUE; /* blank line */

  for (;;) {
    const char *tok = s;

    while (s < eol && !is_blank (*s) && *s != ',')
      s++;
    if (s == tok) {
      if (n_fields == 0)
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "%s:%u: empty label (the line starts with a comma)", p->path, line);
      else
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "%s:%u: value %u is empty (two commas in a row)", p->path, line,
            n_values + 1);
      return FALSE;
    }

    if (n_fields == 0) {
      label = tok;
      label_len = (gsize) (s - tok);
      if (memchr (label, '\0', label_len) != NULL) {
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "%s:%u: the label holds a NUL byte (not a text file?)", p->path,
            line);
        return FALSE;
      }
    } else {
      char *end = NULL;
      double v = g_ascii_strtod (tok, &end);
      float f;

      if (end != s) {
        g_autofree char *q = quote_token (tok, (gsize) (s - tok));
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "%s:%u: value %u, %s, is not a number", p->path, line, n_values + 1,
            q);
        return FALSE;
      }
      f = (float) v;
      if (!isfinite (f)) {
        g_autofree char *q = quote_token (tok, (gsize) (s - tok));
        g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
            "%s:%u: value %u, %s, is %s", p->path, line, n_values + 1, q,
            isfinite (v) ? "out of the range of a 32-bit float" : "not finite");
        return FALSE;
      }
      g_array_append_val (p->x, f);
      n_values++;
    }
    n_fields++;

    s = skip_blanks (s, eol);
    if (s == eol)
      break;
    if (*s == ',') {
      s = skip_blanks (s + 1, eol);
      if (s == eol) {
        g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
            "%s:%u: trailing comma after value %u (an empty value)", p->path,
            line, n_values);
        return FALSE;
      }
    }
  }

  if (n_values == 0) {
    g_autofree char *q = quote_token (label, label_len);
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s:%u: the line holds a label, %s, but no values", p->path, line, q);
    return FALSE;
  }
  if (p->length == 0) {
    p->length = n_values;
    p->length_line = line;
  } else if (n_values != p->length) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s:%u: expected %u values (as on line %u) but found %u", p->path, line,
        p->length, p->length_line, n_values);
    return FALSE;
  }

  id = label_table_add (&p->labels, label, label_len, line);
  g_array_append_val (p->row_label, id);
  return TRUE;
}

static SdDataset *
ucr_finish (UcrParser *p, const char *const *known, GError **error)
{
  SdDataset *ds;
  char **names = NULL;
  guint n_classes = 0, unknown = 0;
  guint *map;
  guint n = p->row_label->len;
  guint i;

  if (n == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s: the file holds no series (it is empty or blank)", p->path);
    return NULL;
  }

  map = label_table_resolve (&p->labels, known, &names, &n_classes, &unknown);
  if (map == NULL) {
    g_autofree char *set = describe_label_set (known);
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "%s:%u: label “%s” is not one of the known labels (%s)", p->path,
        g_array_index (p->labels.first_seen, guint, unknown),
        (const char *) g_ptr_array_index (p->labels.tokens, unknown), set);
    return NULL;
  }

  ds = g_new0 (SdDataset, 1);
  ds->n = n;
  ds->length = p->length;
  ds->x = (float *) (void *) g_array_free (p->x, FALSE);
  p->x = NULL;
  ds->y = g_new (int, n);
  for (i = 0; i < n; i++)
    ds->y[i] = (int) map[g_array_index (p->row_label, guint, i)];
  ds->n_classes = n_classes;
  ds->labels = names;
  ds->sample_rate = 0;
  g_free (map);
  return ds;
}

/* Parses buf, len bytes followed by a '\0' (g_ascii_strtod stops at a
 * terminator, not at len: a value at the very end needs the NUL). */
static SdDataset *
ucr_parse (const char *buf, gsize len, const char *display_name,
    const char *const *labels, GError **error)
{
  const char *s, *end;
  UcrParser p = { 0 };
  SdDataset *ds = NULL;
  guint line = 0;
  gboolean reserved = FALSE;

  p.path = display_name;
  p.x = g_array_new (FALSE, FALSE, sizeof (float));
  p.row_label = g_array_new (FALSE, FALSE, sizeof (guint));
  label_table_init (&p.labels);

  s = buf;
  end = buf + len;
  if (len >= 3 && memcmp (buf, "\xEF\xBB\xBF", 3) == 0)
    s += 3; /* UTF-8 byte order mark */

  while (s < end) {
    const char *eol = s;

    while (eol < end && *eol != '\n' && *eol != '\r')
      eol++;
    line++;
    if (!ucr_parse_line (&p, s, eol, line, error))
      goto out;
    /* LF, CRLF or a lone CR ends a line. */
    if (eol < end && *eol == '\r' && eol + 1 < end && eol[1] == '\n')
      eol++;
    if (!reserved && p.length > 0) {
      /* Reserve room for the whole file, guessed from the first row. */
      gsize rows = len / (gsize) (eol + 1 - s) + 2;
      guint have = p.x->len;

      if (rows <= G_MAXUINT / p.length) {
        g_array_set_size (p.x, (guint) rows * p.length);
        g_array_set_size (p.x, have);
      }
      reserved = TRUE;
    }
    s = eol + 1;
  }

  ds = ucr_finish (&p, labels, error);

out:
  if (p.x != NULL)
    g_array_free (p.x, TRUE);
  g_array_free (p.row_label, TRUE);
  label_table_clear (&p.labels);
  return ds;
}

SdDataset *
sd_dataset_load_ucr (
    const char *path, const char *const *labels, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *buf = NULL;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (labels != NULL && !check_label_set (labels, error))
    return NULL;

  /* NUL-terminated, as ucr_parse needs. */
  if (!g_file_get_contents (path, &buf, &len, &local)) {
    /* GLib's message names the path and the reason. */
    g_set_error_literal (error, SD_ERROR, SD_ERROR_IO, local->message);
    return NULL;
  }
  return ucr_parse (buf, len, path, labels, error);
}

SdDataset *
sd_dataset_load_ucr_from_bytes (GBytes *bytes, const char *display_name,
    const char *const *labels, GError **error)
{
  g_autofree char *buf = NULL;
  const char *data;
  gsize len = 0;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (labels != NULL && !check_label_set (labels, error))
    return NULL;

  /* A NUL-terminated copy: the bytes need not be followed by one. */
  data = g_bytes_get_data (bytes, &len);
  buf = g_malloc (len + 1);
  if (len > 0)
    memcpy (buf, data, len);
  buf[len] = '\0';
  return ucr_parse (buf, len, display_name, labels, error);
}

/* ------------------------------------------------------------------ */
/* WAV windows                                                         */

static SNDFILE *
open_sound (const char *path, SF_INFO *info, GError **error)
{
  SNDFILE *sf;

  memset (info, 0, sizeof *info);
  sf = sf_open (path, SFM_READ, info);
  if (sf == NULL) {
    int sf_err = sf_error (NULL);

    if (g_access (path, R_OK) != 0) {
      int saved = errno;
      g_set_error (error, SD_ERROR, SD_ERROR_IO, "Cannot open “%s”: %s", path,
          g_strerror (saved));
    } else {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "Cannot read “%s” as audio: %s", path, sf_error_number (sf_err));
    }
    return NULL;
  }
  if (info->channels != 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "“%s” has %d channels; only mono recordings are supported", path,
        info->channels);
    sf_close (sf);
    return NULL;
  }
  if (info->frames < 0 || info->frames == SF_COUNT_MAX) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "“%s” does not state its length", path);
    sf_close (sf);
    return NULL;
  }
  return sf;
}

static gint64
split_point (gint64 n, double train_fraction)
{
  double p = train_fraction * (double) n;
  double r = nearbyint (p);

  if (fabs (p - r) <= 1e-9 * MAX (1.0, p))
    return (gint64) r;
  return (gint64) floor (p);
}

/* The windows of one recording: starts first, first + hop, ..., count. */
typedef struct
{
  gint64 n_samples;
  gint64 train_end;
  gint64 first;
  guint64 count;
} WindowPlan;

static void
plan_windows (WindowPlan *plan, gint64 n, guint window, guint hop,
    SdSplitPart part, double train_fraction)
{
  gint64 limit = n;

  plan->n_samples = n;
  plan->first = 0;
  plan->train_end = part == SD_SPLIT_ALL ? n : split_point (n, train_fraction);
  if (part == SD_SPLIT_TRAIN)
    limit = plan->train_end;
  else if (part == SD_SPLIT_TEST)
    plan->first = plan->train_end + window;
  if (limit - plan->first >= (gint64) window)
    plan->count = (guint64) (limit - plan->first - window) / hop + 1;
  else
    plan->count = 0;
}

static void
set_no_window_error (GError **error, const char *path, const WindowPlan *plan,
    guint window, SdSplitPart part, double train_fraction)
{
  switch (part) {
    case SD_SPLIT_TRAIN:
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "“%s” (%" G_GINT64_FORMAT " samples) yields no training window of "
          "%u samples: its training part (train_fraction %g) is only the "
          "first %" G_GINT64_FORMAT " samples",
          path, plan->n_samples, window, train_fraction, plan->train_end);
      break;
    case SD_SPLIT_TEST:
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "“%s” (%" G_GINT64_FORMAT " samples) yields no test window of %u "
          "samples: test windows start at sample %" G_GINT64_FORMAT
          ", after the training part (train_fraction %g, %" G_GINT64_FORMAT
          " samples) and a gap of one window",
          path, plan->n_samples, window, plan->first, train_fraction,
          plan->train_end);
      break;
    case SD_SPLIT_ALL:
    default:
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "“%s” (%" G_GINT64_FORMAT " samples) is shorter than one window "
          "of %u samples",
          path, plan->n_samples, window);
      break;
  }
}

gboolean
sd_wav_read (const char *path, float **samples, gint64 *n_samples, int *rate,
    GError **error)
{
  SF_INFO info;
  SNDFILE *sf;
  float *buf;
  sf_count_t got;

  g_return_val_if_fail (path != NULL && samples != NULL, FALSE);
  sf = open_sound (path, &info, error);
  if (sf == NULL)
    return FALSE;
  buf = g_try_new (float, MAX (info.frames, 1));
  if (buf == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "Not enough memory to read the %" G_GINT64_FORMAT " samples of “%s”",
        (gint64) info.frames, path);
    sf_close (sf);
    return FALSE;
  }
  got = sf_readf_float (sf, buf, info.frames);
  sf_close (sf);
  if (got != info.frames) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
        "“%s”: read only %" G_GINT64_FORMAT " of its %" G_GINT64_FORMAT
        " samples (truncated file?)",
        path, (gint64) got, (gint64) info.frames);
    g_free (buf);
    return FALSE;
  }
  for (gint64 i = 0; i < info.frames; i++)
    if (!isfinite (buf[i])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "“%s”: sample %" G_GINT64_FORMAT " (at %.6f s) is not finite (%g)",
          path, i, (double) i / info.samplerate, (double) buf[i]);
      g_free (buf);
      return FALSE;
    }
  *samples = buf;
  if (n_samples != NULL)
    *n_samples = info.frames;
  if (rate != NULL)
    *rate = info.samplerate;
  return TRUE;
}

/* Reads the recording planned in pass one and copies its windows to dst. */
static gboolean
read_windows (const SdWavSource *src, const WindowPlan *plan, int rate,
    guint window, guint hop, float *dst, GError **error)
{
  g_autofree float *buf = NULL;
  gint64 n = 0;
  int file_rate = 0;

  if (!sd_wav_read (src->path, &buf, &n, &file_rate, error))
    return FALSE;
  if (n != plan->n_samples || file_rate != rate) {
    g_set_error (error, SD_ERROR, SD_ERROR_IO,
        "“%s” changed while it was being read", src->path);
    return FALSE;
  }
  for (guint64 w = 0; w < plan->count; w++)
    memcpy (dst + w * window, buf + plan->first + (gint64) (w * hop),
        window * sizeof (float));
  return TRUE;
}

SdDataset *
sd_dataset_load_wav_windows (const SdWavSource *sources, guint n_sources,
    guint window, guint hop, SdSplitPart part, double train_fraction,
    const char *const *labels, GError **error)
{
  LabelTable table;
  WindowPlan *plans = NULL;
  guint *source_label = NULL;
  guint *map = NULL;
  char **names = NULL;
  guint n_classes = 0, unknown = 0;
  guint64 total = 0;
  gsize n_floats = 0;
  float *x = NULL;
  int *y = NULL;
  guint *source = NULL;
  gint64 *start = NULL;
  int rate = 0;
  const char *rate_path = NULL;
  SdDataset *ds = NULL;
  guint64 row = 0;
  guint i;

  g_return_val_if_fail (sources != NULL || n_sources == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n_sources == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG, "No recordings given");
    return NULL;
  }
  if (window == 0 || hop == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Window (%u) and hop (%u) must be at least 1 sample", window, hop);
    return NULL;
  }
  if (part != SD_SPLIT_ALL && part != SD_SPLIT_TRAIN && part != SD_SPLIT_TEST) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG, "Unknown split part %d",
        (int) part);
    return NULL;
  }
  if (part != SD_SPLIT_ALL && !(train_fraction > 0 && train_fraction < 1)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "train_fraction %g is not between 0 and 1 (exclusive)", train_fraction);
    return NULL;
  }
  for (i = 0; i < n_sources; i++)
    if (sources[i].path == NULL || sources[i].label == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "Recording %u has no %s", i,
          sources[i].path == NULL ? "path" : "label");
      return NULL;
    }
  if (labels != NULL && !check_label_set (labels, error))
    return NULL;

  /* Pass one: headers, sample rates, window counts, labels. */
  label_table_init (&table);
  plans = g_new0 (WindowPlan, n_sources);
  source_label = g_new (guint, n_sources);
  for (i = 0; i < n_sources; i++) {
    const char *path = sources[i].path;
    SF_INFO info;
    SNDFILE *sf = open_sound (path, &info, error);

    if (sf == NULL)
      goto out;
    sf_close (sf);
    if (rate_path == NULL) {
      rate = info.samplerate;
      rate_path = path;
    } else if (info.samplerate != rate) {
      g_set_error (error, SD_ERROR, SD_ERROR_FORMAT,
          "“%s” has a sample rate of %d Hz but “%s” has %d Hz; all "
          "recordings must share one sample rate",
          path, info.samplerate, rate_path, rate);
      goto out;
    }
    plan_windows (&plans[i], info.frames, window, hop, part, train_fraction);
    if (plans[i].count == 0) {
      set_no_window_error (
          error, path, &plans[i], window, part, train_fraction);
      goto out;
    }
    total += plans[i].count;
    source_label[i] = label_table_add (
        &table, sources[i].label, strlen (sources[i].label), i);
  }

  map = label_table_resolve (&table, labels, &names, &n_classes, &unknown);
  if (map == NULL) {
    g_autofree char *set = describe_label_set (labels);
    guint src = g_array_index (table.first_seen, guint, unknown);
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Label “%s” of “%s” is not one of the known labels (%s)",
        sources[src].label, sources[src].path, set);
    goto out;
  }

  if (total > G_MAXUINT || !g_size_checked_mul (&n_floats, total, window)
      || (x = g_try_new (float, n_floats)) == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "%" G_GUINT64_FORMAT " windows of %u samples do not fit in memory",
        total, window);
    goto out;
  }
  y = g_new (int, total);
  source = g_new (guint, total);
  start = g_new (gint64, total);

  /* Pass two: samples. */
  for (i = 0; i < n_sources; i++) {
    guint64 w;

    if (!read_windows (
            &sources[i], &plans[i], rate, window, hop, x + row * window, error))
      goto out;
    for (w = 0; w < plans[i].count; w++) {
      y[row + w] = (int) map[source_label[i]];
      source[row + w] = (guint) i;
      start[row + w] = plans[i].first + (gint64) (w * hop);
    }
    row += plans[i].count;
  }

  ds = g_new0 (SdDataset, 1);
  ds->n = (guint) total;
  ds->length = window;
  ds->x = g_steal_pointer (&x);
  ds->y = g_steal_pointer (&y);
  ds->n_classes = n_classes;
  ds->labels = g_steal_pointer (&names);
  ds->sample_rate = rate;
  ds->source = g_steal_pointer (&source);
  ds->start = g_steal_pointer (&start);

out:
  g_free (x);
  g_free (y);
  g_free (source);
  g_free (start);
  g_strfreev (names);
  g_free (map);
  g_free (source_label);
  g_free (plans);
  label_table_clear (&table);
  return ds;
}

/* ------------------------------------------------------------------ */
/* Datasets                                                            */

SdDataset *
sd_dataset_subset (const SdDataset *ds, const guint *idx, guint n)
{
  SdDataset *out;
  gsize len;
  guint i;

  g_return_val_if_fail (ds != NULL, NULL);
  g_return_val_if_fail (idx != NULL || n == 0, NULL);
  for (i = 0; i < n; i++)
    g_return_val_if_fail (idx[i] < ds->n, NULL);

  len = ds->length;
  out = g_new0 (SdDataset, 1);
  out->n = n;
  out->length = ds->length;
  out->x = g_new (float, (gsize) n *len);
  out->y = g_new (int, n);
  for (i = 0; i < n; i++) {
    memcpy (out->x + i * len, ds->x + idx[i] * len, len * sizeof (float));
    out->y[i] = ds->y[idx[i]];
  }
  out->n_classes = ds->n_classes;
  out->labels = g_strdupv (ds->labels);
  out->sample_rate = ds->sample_rate;
  if (ds->source != NULL && ds->start != NULL) {
    out->source = g_new (guint, n);
    out->start = g_new (gint64, n);
    for (i = 0; i < n; i++) {
      out->source[i] = ds->source[idx[i]];
      out->start[i] = ds->start[idx[i]];
    }
  }
  return out;
}

void
sd_dataset_free (SdDataset *ds)
{
  if (ds == NULL)
    return;
  g_free (ds->x);
  g_free (ds->y);
  g_strfreev (ds->labels);
  g_free (ds->source);
  g_free (ds->start);
  g_free (ds);
}

void
sd_zscore_series (float *x, guint length)
{
  const SdNormalization per_series = { SD_NORM_PER_SERIES, 0.0f, 1.0f };

  g_return_if_fail (x != NULL || length == 0);
  g_return_if_fail (length <= G_MAXINT);
  sd_normalization_apply (per_series, x, 1, (int) length, NULL, NULL);
}
