/* seqdream: safetensors reading and writing (docs/model-format.md).
 *
 * The reader treats the file as untrusted. json-glib 1.6 is lenient (it
 * accepts comments, single quotes, hex numbers, raw control characters in
 * strings, silently wraps integers that do not fit in 64 bits, truncates
 * strings at \u0000, keeps the last of duplicate keys and recurses without
 * a depth limit), so the header is first checked by a strict RFC 8259
 * validator below (which also rejects duplicate keys, NUL escapes, lone
 * surrogates, out-of-range integers and nesting deeper than
 * SD_ST_MAX_JSON_DEPTH); only then is it handed to json-glib to build the
 * tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/safetensors.h"
#include "sd-private.h"
#include "seqdream/error.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define SD_ST_MAX_HEADER ((guint64) 100 * 1024 * 1024)
#define SD_ST_MAX_JSON_DEPTH 64
#define SD_ST_QUOTE_MAX 80 /* characters of a name quoted in a message */

/* ---- dtypes ---- */

static const struct
{
  const char *name;
  gsize size;
} dtype_info[] = {
  [SD_DTYPE_F32] = { "F32", 4 },
  [SD_DTYPE_F64] = { "F64", 8 },
  [SD_DTYPE_F16] = { "F16", 2 },
  [SD_DTYPE_BF16] = { "BF16", 2 },
  [SD_DTYPE_I64] = { "I64", 8 },
  [SD_DTYPE_I32] = { "I32", 4 },
  [SD_DTYPE_I16] = { "I16", 2 },
  [SD_DTYPE_I8] = { "I8", 1 },
  [SD_DTYPE_U8] = { "U8", 1 },
  [SD_DTYPE_BOOL] = { "BOOL", 1 },
};

#define SUPPORTED_DTYPES "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL"

const char *
sd_dtype_to_string (SdDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtype_info), "?");
  return dtype_info[dtype].name;
}

gsize
sd_dtype_size (SdDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtype_info), 0);
  return dtype_info[dtype].size;
}

static gboolean
dtype_from_string (const char *s, SdDtype *dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_info); i++) {
    if (strcmp (s, dtype_info[i].name) == 0) {
      *dtype = (SdDtype) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- message helpers ---- */

/* 'name' for an error message: quotes and backslashes escaped, characters
 * that are not printable as \u{XXXX}, at most SD_ST_QUOTE_MAX characters.
 * s must be valid UTF-8. */
static char *
quote (const char *s)
{
  GString *q = g_string_new ("'");
  guint n = 0;

  for (const char *p = s; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (n++ == SD_ST_QUOTE_MAX) {
      g_string_append (q, "...");
      break;
    }
    if (c == '\'' || c == '\\')
      g_string_append_printf (q, "\\%c", (char) c);
    else if (!g_unichar_isprint (c))
      g_string_append_printf (q, "\\u{%04X}", c);
    else
      g_string_append_len (q, p, g_utf8_next_char (p) - p);
  }
  g_string_append_c (q, '\'');
  return g_string_free (q, FALSE);
}

static char *
format_shape (int ndim, const gint64 *shape)
{
  GString *s = g_string_new ("[");

  for (int i = 0; i < ndim; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void set_error (GError **error, SdErrorCode code, const char *display,
    const char *format, ...) G_GNUC_PRINTF (4, 5);

/* "display: message" */
static void
set_error (GError **error, SdErrorCode code, const char *display,
    const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, SD_ERROR, code, "%s: %s", display, msg);
}

/* ---- strict JSON validator ---- */

typedef struct
{
  const char *s;
  gsize len;
  gsize pos;
  int depth;
  char *err; /* complete message (without the display name) */
} JsonCheck;

static gboolean jc_fail (JsonCheck *c, const char *format, ...)
    G_GNUC_PRINTF (2, 3);

/* A syntax error at the current position. */
static gboolean
jc_fail (JsonCheck *c, const char *format, ...)
{
  va_list args;
  g_autofree char *msg = NULL;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_free (c->err);
  c->err = g_strdup_printf ("%s at byte %" G_GSIZE_FORMAT, msg, c->pos);
  return FALSE;
}

static char *
describe_char (JsonCheck *c)
{
  guchar ch;

  if (c->pos >= c->len)
    return g_strdup ("end of header");
  ch = (guchar) c->s[c->pos];
  if (ch > 0x20 && ch < 0x7f)
    return g_strdup_printf ("'%c'", ch);
  return g_strdup_printf ("byte 0x%02x", ch);
}

static void
jc_skip_ws (JsonCheck *c)
{
  while (c->pos < c->len
         && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n'
             || c->s[c->pos] == '\r'))
    c->pos++;
}

static gboolean jc_value (JsonCheck *c, const char *owner);

static int
jc_hex4 (JsonCheck *c, gsize at)
{
  int v = 0;

  if (at + 4 > c->len)
    return -1;
  for (int i = 0; i < 4; i++) {
    int d = g_ascii_xdigit_value (c->s[at + i]);
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* At the opening quote. The decoded string is appended to out when it is
 * not NULL (the header has been checked to be valid UTF-8). */
static gboolean
jc_string (JsonCheck *c, GString *out)
{
  c->pos++;
  for (;;) {
    guchar ch;

    if (c->pos >= c->len)
      return jc_fail (c, "unterminated string");
    ch = (guchar) c->s[c->pos];
    if (ch == '"') {
      c->pos++;
      return TRUE;
    }
    if (ch < 0x20)
      return jc_fail (c, "unescaped control character 0x%02x in a string", ch);
    if (ch != '\\') {
      if (out)
        g_string_append_c (out, (char) ch);
      c->pos++;
      continue;
    }
    if (c->pos + 1 >= c->len)
      return jc_fail (c, "unterminated string");
    switch (c->s[c->pos + 1]) {
      case '"':
      case '\\':
      case '/':
        if (out)
          g_string_append_c (out, c->s[c->pos + 1]);
        break;
      case 'b':
        if (out)
          g_string_append_c (out, '\b');
        break;
      case 'f':
        if (out)
          g_string_append_c (out, '\f');
        break;
      case 'n':
        if (out)
          g_string_append_c (out, '\n');
        break;
      case 'r':
        if (out)
          g_string_append_c (out, '\r');
        break;
      case 't':
        if (out)
          g_string_append_c (out, '\t');
        break;
      case 'u': {
        int u = jc_hex4 (c, c->pos + 2);
        gunichar cp;

        if (u < 0)
          return jc_fail (c, "invalid \\u escape");
        if (u == 0)
          return jc_fail (c, "\\u0000 (NUL) in a string is not supported");
        if (u >= 0xDC00 && u <= 0xDFFF)
          return jc_fail (c, "unpaired surrogate \\u%04x", (guint) u);
        cp = (gunichar) u;
        if (u >= 0xD800 && u <= 0xDBFF) {
          int lo = -1;

          if (c->pos + 7 < c->len && c->s[c->pos + 6] == '\\'
              && c->s[c->pos + 7] == 'u')
            lo = jc_hex4 (c, c->pos + 8);
          if (lo < 0xDC00 || lo > 0xDFFF)
            return jc_fail (c, "unpaired surrogate \\u%04x", (guint) u);
          cp = 0x10000 + (((gunichar) u - 0xD800) << 10)
               + ((gunichar) lo - 0xDC00);
          c->pos += 6;
        }
        if (out)
          g_string_append_unichar (out, cp);
        c->pos += 6;
        continue;
      }
      default:
        c->pos++;
        return jc_fail (c, "invalid escape in a string");
    }
    c->pos += 2;
  }
}

static gboolean
jc_number (JsonCheck *c)
{
  gsize start = c->pos;
  guint64 v = 0;
  gboolean overflow = FALSE, integer = TRUE;

  if (c->s[c->pos] == '-')
    c->pos++;
  if (c->pos >= c->len || !g_ascii_isdigit (c->s[c->pos]))
    return jc_fail (c, "invalid number");
  if (c->s[c->pos] == '0') {
    c->pos++;
    if (c->pos < c->len && g_ascii_isdigit (c->s[c->pos]))
      return jc_fail (c, "number with a leading zero");
  } else {
    while (c->pos < c->len && g_ascii_isdigit (c->s[c->pos])) {
      guint d = (guint) (c->s[c->pos] - '0');
      if (v > ((guint64) G_MAXINT64 - d) / 10)
        overflow = TRUE;
      else
        v = v * 10 + d;
      c->pos++;
    }
  }
  if (c->pos < c->len && c->s[c->pos] == '.') {
    integer = FALSE;
    c->pos++;
    if (c->pos >= c->len || !g_ascii_isdigit (c->s[c->pos]))
      return jc_fail (c, "invalid number (no digit after '.')");
    while (c->pos < c->len && g_ascii_isdigit (c->s[c->pos]))
      c->pos++;
  }
  if (c->pos < c->len && (c->s[c->pos] == 'e' || c->s[c->pos] == 'E')) {
    integer = FALSE;
    c->pos++;
    if (c->pos < c->len && (c->s[c->pos] == '+' || c->s[c->pos] == '-'))
      c->pos++;
    if (c->pos >= c->len || !g_ascii_isdigit (c->s[c->pos]))
      return jc_fail (c, "invalid number (no digit in the exponent)");
    while (c->pos < c->len && g_ascii_isdigit (c->s[c->pos]))
      c->pos++;
  }
  if (integer && overflow) {
    gsize n = c->pos - start;
    c->pos = start;
    return jc_fail (c, "integer %.*s%s does not fit in 64 bits",
        (int) MIN (n, 40), c->s + start, n > 40 ? "..." : "");
  }
  return TRUE;
}

static gboolean
jc_literal (JsonCheck *c, const char *lit)
{
  gsize n = strlen (lit);

  if (c->len - c->pos < n || memcmp (c->s + c->pos, lit, n) != 0) {
    g_autofree char *what = describe_char (c);
    return jc_fail (c, "unexpected %s", what);
  }
  c->pos += n;
  return TRUE;
}

/* owner: the root-level key this object is the value of (NULL for the root
 * object itself); only used to word duplicate-key messages. */
static gboolean
jc_object (JsonCheck *c, const char *owner)
{
  g_autoptr (GHashTable) keys = NULL;
  gboolean is_root = c->depth == 0;

  if (++c->depth > SD_ST_MAX_JSON_DEPTH)
    return jc_fail (c, "nested deeper than %d levels", SD_ST_MAX_JSON_DEPTH);
  c->pos++;
  jc_skip_ws (c);
  if (c->pos < c->len && c->s[c->pos] == '}') {
    c->pos++;
    c->depth--;
    return TRUE;
  }
  keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (;;) {
    GString *key;
    char *key_str;
    gsize key_pos;

    jc_skip_ws (c);
    if (c->pos >= c->len || c->s[c->pos] != '"') {
      g_autofree char *what = describe_char (c);
      return jc_fail (c, "expected a string key, found %s", what);
    }
    key_pos = c->pos;
    key = g_string_new (NULL);
    if (!jc_string (c, key)) {
      g_string_free (key, TRUE);
      return FALSE;
    }
    if (g_hash_table_contains (keys, key->str)) {
      g_autofree char *q = quote (key->str);
      g_autofree char *qo = owner ? quote (owner) : NULL;

      g_free (c->err);
      if (is_root && strcmp (key->str, "__metadata__") == 0)
        c->err = g_strdup ("header: \"__metadata__\" appears more than once");
      else if (is_root)
        c->err = g_strdup_printf ("header: duplicate tensor name %s", q);
      else if (owner && strcmp (owner, "__metadata__") == 0)
        c->err = g_strdup_printf (
            "header: duplicate key %s in \"__metadata__\"", q);
      else if (owner)
        c->err = g_strdup_printf ("tensor %s: duplicate key %s", qo, q);
      else
        c->err = g_strdup_printf (
            "header: duplicate key %s at byte %" G_GSIZE_FORMAT
            " of the header",
            q, key_pos);
      g_string_free (key, TRUE);
      return FALSE;
    }
    key_str = g_string_free (key, FALSE);
    g_hash_table_add (keys, key_str); /* owns key_str until we return */
    jc_skip_ws (c);
    if (c->pos >= c->len || c->s[c->pos] != ':') {
      g_autofree char *what = describe_char (c);
      return jc_fail (c, "expected ':', found %s", what);
    }
    c->pos++;
    if (!jc_value (c, is_root ? key_str : owner))
      return FALSE;
    jc_skip_ws (c);
    if (c->pos < c->len && c->s[c->pos] == ',') {
      c->pos++;
      continue;
    }
    if (c->pos < c->len && c->s[c->pos] == '}') {
      c->pos++;
      c->depth--;
      return TRUE;
    }
    {
      g_autofree char *what = describe_char (c);
      return jc_fail (c, "expected ',' or '}', found %s", what);
    }
  }
}

static gboolean
jc_array (JsonCheck *c)
{
  if (++c->depth > SD_ST_MAX_JSON_DEPTH)
    return jc_fail (c, "nested deeper than %d levels", SD_ST_MAX_JSON_DEPTH);
  c->pos++;
  jc_skip_ws (c);
  if (c->pos < c->len && c->s[c->pos] == ']') {
    c->pos++;
    c->depth--;
    return TRUE;
  }
  for (;;) {
    if (!jc_value (c, NULL))
      return FALSE;
    jc_skip_ws (c);
    if (c->pos < c->len && c->s[c->pos] == ',') {
      c->pos++;
      continue;
    }
    if (c->pos < c->len && c->s[c->pos] == ']') {
      c->pos++;
      c->depth--;
      return TRUE;
    }
    {
      g_autofree char *what = describe_char (c);
      return jc_fail (c, "expected ',' or ']', found %s", what);
    }
  }
}

static gboolean
jc_value (JsonCheck *c, const char *owner)
{
  jc_skip_ws (c);
  if (c->pos >= c->len)
    return jc_fail (c, "unexpected end of header");
  switch (c->s[c->pos]) {
    case '{':
      return jc_object (c, owner);
    case '[':
      return jc_array (c);
    case '"':
      return jc_string (c, NULL);
    case 't':
      return jc_literal (c, "true");
    case 'f':
      return jc_literal (c, "false");
    case 'n':
      return jc_literal (c, "null");
    default:
      if (c->s[c->pos] == '-' || g_ascii_isdigit (c->s[c->pos]))
        return jc_number (c);
      else {
        g_autofree char *what = describe_char (c);
        return jc_fail (c, "unexpected %s", what);
      }
  }
}

/* ---- reader ---- */

typedef struct
{
  SdTensorView view; /* view.name owned here */
  guint64 begin, end;
} Entry;

struct _SdSafetensors
{
  char *display_name;
  GBytes *bytes;
  Entry *entries; /* sorted by data offset */
  guint n_entries;
  GHashTable *by_name;      /* name -> SdTensorView * */
  GHashTable *metadata;     /* key -> value, both owned */
  GPtrArray *metadata_keys; /* file order; strings owned by metadata */
};

static const char *
describe_node (JsonNode *node)
{
  switch (json_node_get_node_type (node)) {
    case JSON_NODE_OBJECT:
      return "an object";
    case JSON_NODE_ARRAY:
      return "an array";
    case JSON_NODE_NULL:
      return "null";
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node)) {
        case G_TYPE_STRING:
          return "a string";
        case G_TYPE_BOOLEAN:
          return "a boolean";
        case G_TYPE_INT64:
          return "an integer";
        case G_TYPE_DOUBLE:
          return "a non-integer number";
        default:
          return "a value";
      }
  }
  return "a value";
}

static gboolean
node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* A non-negative integer element of an array; what is e.g. "shape[1]". */
static gboolean
get_count (const char *dn, const char *qname, const char *what, JsonNode *node,
    guint64 *out, GError **error)
{
  gint64 v;

  if (!JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: %s is %s, not a non-negative integer", qname, what,
        describe_node (node));
    return FALSE;
  }
  v = json_node_get_int (node);
  if (v < 0) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: %s is %" G_GINT64_FORMAT ", not a non-negative integer",
        qname, what, v);
    return FALSE;
  }
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse_tensor (const char *dn, const char *name, JsonNode *node,
    guint64 data_size, Entry *e, GError **error)
{
  g_autofree char *qname = quote (name);
  g_autoptr (GList) members = NULL;
  JsonObject *obj;
  JsonNode *dtype_node = NULL, *shape_node = NULL, *offsets_node = NULL;
  JsonArray *arr;
  guint n;
  guint64 numel = 1, nbytes, begin, end;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: entry is %s, not an object", qname, describe_node (node));
    return FALSE;
  }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  for (GList *l = members; l; l = l->next) {
    const char *key = l->data;

    if (strcmp (key, "dtype") == 0)
      dtype_node = json_object_get_member (obj, key);
    else if (strcmp (key, "shape") == 0)
      shape_node = json_object_get_member (obj, key);
    else if (strcmp (key, "data_offsets") == 0)
      offsets_node = json_object_get_member (obj, key);
    else {
      g_autofree char *qkey = quote (key);
      set_error (error, SD_ERROR_FORMAT, dn,
          "tensor %s: unknown key %s (a tensor entry has only \"dtype\", "
          "\"shape\" and \"data_offsets\")",
          qname, qkey);
      return FALSE;
    }
  }
  if (!dtype_node || !shape_node || !offsets_node) {
    set_error (error, SD_ERROR_FORMAT, dn, "tensor %s: missing \"%s\"", qname,
        !dtype_node   ? "dtype"
        : !shape_node ? "shape"
                      : "data_offsets");
    return FALSE;
  }

  /* dtype */
  if (!node_is_string (dtype_node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"dtype\" is %s, not a string", qname,
        describe_node (dtype_node));
    return FALSE;
  }
  if (!dtype_from_string (json_node_get_string (dtype_node), &e->view.dtype)) {
    g_autofree char *qd = quote (json_node_get_string (dtype_node));
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: unsupported dtype %s (expected one of " SUPPORTED_DTYPES
        ")",
        qname, qd);
    return FALSE;
  }

  /* shape */
  if (!JSON_NODE_HOLDS_ARRAY (shape_node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"shape\" is %s, not an array", qname,
        describe_node (shape_node));
    return FALSE;
  }
  arr = json_node_get_array (shape_node);
  n = json_array_get_length (arr);
  if (n > SD_TENSOR_MAX_DIMS) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: shape has %u dimensions, more than the maximum of %d",
        qname, n, SD_TENSOR_MAX_DIMS);
    return FALSE;
  }
  e->view.ndim = (int) n;
  for (guint i = 0; i < n; i++) {
    char what[32];
    guint64 d;

    g_snprintf (what, sizeof what, "shape[%u]", i);
    if (!get_count (
            dn, qname, what, json_array_get_element (arr, i), &d, error))
      return FALSE;
    e->view.shape[i] = (gint64) d;
  }
  for (guint i = 0; i < n; i++) {
    if (!g_uint64_checked_mul (&numel, numel, (guint64) e->view.shape[i])
        || numel > G_MAXINT64) {
      g_autofree char *shape = format_shape ((int) n, e->view.shape);
      set_error (error, SD_ERROR_FORMAT, dn,
          "tensor %s: shape %s has too many elements (overflow)", qname, shape);
      return FALSE;
    }
  }
  e->view.numel = (gint64) numel;
  if (!g_uint64_checked_mul (&nbytes, numel, sd_dtype_size (e->view.dtype))
      || nbytes > G_MAXSIZE) {
    g_autofree char *shape = format_shape (e->view.ndim, e->view.shape);
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: shape %s of %s is too large (overflow)", qname, shape,
        sd_dtype_to_string (e->view.dtype));
    return FALSE;
  }
  e->view.nbytes = (gsize) nbytes;

  /* data_offsets */
  if (!JSON_NODE_HOLDS_ARRAY (offsets_node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"data_offsets\" is %s, not an array", qname,
        describe_node (offsets_node));
    return FALSE;
  }
  arr = json_node_get_array (offsets_node);
  if (json_array_get_length (arr) != 2) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: data_offsets has %u elements, not 2 ([begin, end])", qname,
        json_array_get_length (arr));
    return FALSE;
  }
  if (!get_count (dn, qname, "data_offsets[0]", json_array_get_element (arr, 0),
          &begin, error)
      || !get_count (dn, qname, "data_offsets[1]",
          json_array_get_element (arr, 1), &end, error))
    return FALSE;
  if (begin > end) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        "] begin after end",
        qname, begin, end);
    return FALSE;
  }
  if (end - begin != nbytes) {
    g_autofree char *shape = format_shape (e->view.ndim, e->view.shape);
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        "] give %" G_GUINT64_FORMAT
        " bytes but shape %s of %s needs %" G_GUINT64_FORMAT,
        qname, begin, end, end - begin, shape,
        sd_dtype_to_string (e->view.dtype), nbytes);
    return FALSE;
  }
  if (end > data_size) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        "] go beyond the end of the data section (%" G_GUINT64_FORMAT " bytes)",
        qname, begin, end, data_size);
    return FALSE;
  }
  e->begin = begin;
  e->end = end;
  e->view.name = g_strdup (name);
  return TRUE;
}

static gboolean
parse_metadata (SdSafetensors *st, JsonNode *node, GError **error)
{
  g_autoptr (GList) members = NULL;
  JsonObject *obj;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    set_error (error, SD_ERROR_FORMAT, st->display_name,
        "\"__metadata__\" is %s, not an object of strings",
        describe_node (node));
    return FALSE;
  }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  for (GList *l = members; l; l = l->next) {
    const char *key = l->data;
    JsonNode *v = json_object_get_member (obj, key);
    char *k;

    if (!node_is_string (v)) {
      g_autofree char *qkey = quote (key);
      set_error (error, SD_ERROR_FORMAT, st->display_name,
          "\"__metadata__\" value of %s is %s, not a string", qkey,
          describe_node (v));
      return FALSE;
    }
    k = g_strdup (key);
    g_hash_table_insert (st->metadata, k, g_strdup (json_node_get_string (v)));
    g_ptr_array_add (st->metadata_keys, k);
  }
  return TRUE;
}

static int
entry_compare (gconstpointer pa, gconstpointer pb)
{
  const Entry *a = pa, *b = pb;

  if (a->begin != b->begin)
    return a->begin < b->begin ? -1 : 1;
  if (a->end != b->end)
    return a->end < b->end ? -1 : 1;
  return strcmp (a->view.name, b->view.name);
}

/* The tensors must tile [0, data_size) exactly. */
static gboolean
check_tiling (SdSafetensors *st, guint64 data_size, GError **error)
{
  guint64 pos = 0;
  const Entry *prev = NULL;

  for (guint i = 0; i < st->n_entries; i++) {
    const Entry *e = &st->entries[i];
    g_autofree char *qn = quote (e->view.name);

    if (e->begin < pos) {
      g_autofree char *qp = quote (prev->view.name);
      set_error (error, SD_ERROR_FORMAT, st->display_name,
          "tensor %s (data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
          "]) overlaps tensor %s (data_offsets [%" G_GUINT64_FORMAT
          ", %" G_GUINT64_FORMAT "])",
          qn, e->begin, e->end, qp, prev->begin, prev->end);
      return FALSE;
    }
    if (e->begin > pos) {
      if (prev) {
        g_autofree char *qp = quote (prev->view.name);
        set_error (error, SD_ERROR_FORMAT, st->display_name,
            "hole of %" G_GUINT64_FORMAT " bytes in the data section between "
            "tensor %s (ending at %" G_GUINT64_FORMAT ") and tensor %s "
            "(beginning at %" G_GUINT64_FORMAT ")",
            e->begin - pos, qp, pos, qn, e->begin);
      } else {
        set_error (error, SD_ERROR_FORMAT, st->display_name,
            "hole of %" G_GUINT64_FORMAT " bytes at the start of the data "
            "section (the first tensor, %s, begins at %" G_GUINT64_FORMAT ")",
            e->begin, qn, e->begin);
      }
      return FALSE;
    }
    pos = e->end;
    prev = e;
  }
  if (pos != data_size) {
    set_error (error, SD_ERROR_FORMAT, st->display_name,
        "%" G_GUINT64_FORMAT " trailing bytes of the data section are not "
        "covered by any tensor (the data section has %" G_GUINT64_FORMAT
        " bytes, the tensors end at %" G_GUINT64_FORMAT ")",
        data_size - pos, data_size, pos);
    return FALSE;
  }
  return TRUE;
}

static gboolean
load (SdSafetensors *st, GError **error)
{
  const char *dn = st->display_name;
  gsize size;
  const guint8 *data = g_bytes_get_data (st->bytes, &size);
  const char *header, *bad;
  guint64 n, data_size;
  JsonCheck check = { 0 };
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GList) members = NULL;
  JsonObject *root;
  guint n_members, i;

  if (size < 8) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "file is %" G_GSIZE_FORMAT " bytes, too short to hold the 8-byte "
        "header length",
        size);
    return FALSE;
  }
  memcpy (&n, data, 8);
  n = GUINT64_FROM_LE (n);
  if (n == 0) {
    set_error (error, SD_ERROR_FORMAT, dn, "header length is 0");
    return FALSE;
  }
  if (n > SD_ST_MAX_HEADER) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header length %" G_GUINT64_FORMAT " is more than the limit of "
        "%" G_GUINT64_FORMAT " bytes (100 MiB)",
        n, SD_ST_MAX_HEADER);
    return FALSE;
  }
  if (n > size - 8) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header length %" G_GUINT64_FORMAT " is more than the %" G_GSIZE_FORMAT
        " bytes that follow it (truncated file?)",
        n, size - 8);
    return FALSE;
  }
  header = (const char *) data + 8;
  data_size = size - 8 - n;

  if (!g_utf8_validate_len (header, (gsize) n, &bad)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header is not valid UTF-8 (%s at byte %" G_GSIZE_FORMAT
        " of the header)",
        *bad ? "invalid sequence" : "NUL byte", (gsize) (bad - header));
    return FALSE;
  }

  check.s = header;
  check.len = (gsize) n;
  jc_skip_ws (&check);
  if (check.pos < check.len && check.s[check.pos] != '{') {
    /* Say what it is, if it is some other JSON value. */
    char first = check.s[check.pos];
    const char *what = first == '['                              ? "an array"
                       : first == '"'                            ? "a string"
                       : first == '-' || g_ascii_isdigit (first) ? "a number"
                       : first == 't' || first == 'f'            ? "a boolean"
                       : first == 'n'                            ? "null"
                                                                 : NULL;
    if (what && jc_value (&check, NULL)) {
      jc_skip_ws (&check);
      if (check.pos == check.len) {
        set_error (error, SD_ERROR_FORMAT, dn,
            "header is %s, not a JSON object", what);
        return FALSE;
      }
    }
    g_clear_pointer (&check.err, g_free);
    set_error (error, SD_ERROR_FORMAT, dn,
        "header does not start with '{' (it begins with byte 0x%02x)",
        (guchar) header[0]);
    return FALSE;
  }
  if (check.pos > 0) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header does not start with '{' (it begins with whitespace)");
    return FALSE;
  }
  if (jc_value (&check, NULL)) {
    jc_skip_ws (&check);
    if (check.pos != check.len)
      jc_fail (&check, "unexpected data after the JSON object");
  }
  if (check.err) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header is not valid JSON: %s of the header", check.err);
    g_free (check.err);
    return FALSE;
  }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, header, (gssize) n, &local)) {
    set_error (error, SD_ERROR_FORMAT, dn, "header is not valid JSON: %s",
        local->message);
    return FALSE;
  }
  root = json_node_get_object (json_parser_get_root (parser));
  n_members = json_object_get_size (root);
  st->entries = g_new0 (Entry, n_members);
  members = json_object_get_members (root);
  for (GList *l = members; l; l = l->next) {
    const char *name = l->data;
    JsonNode *node = json_object_get_member (root, name);

    if (strcmp (name, "__metadata__") == 0) {
      if (!parse_metadata (st, node, error))
        return FALSE;
      continue;
    }
    if (*name == '\0') {
      set_error (error, SD_ERROR_FORMAT, dn, "empty tensor name");
      return FALSE;
    }
    if (!parse_tensor (
            dn, name, node, data_size, &st->entries[st->n_entries], error))
      return FALSE;
    st->n_entries++;
  }

  if (st->n_entries > 1)
    qsort (st->entries, st->n_entries, sizeof (Entry), entry_compare);
  if (!check_tiling (st, data_size, error))
    return FALSE;

  for (i = 0; i < st->n_entries; i++) {
    Entry *e = &st->entries[i];

    e->view.data = data + 8 + n + e->begin;
    if (!g_hash_table_insert (st->by_name, (char *) e->view.name, &e->view)) {
      /* cannot happen: the validator rejects duplicate keys */
      g_autofree char *qn = quote (e->view.name);
      set_error (
          error, SD_ERROR_FORMAT, dn, "header: duplicate tensor name %s", qn);
      return FALSE;
    }
  }
  return TRUE;
}

SdSafetensors *
sd_safetensors_new_from_bytes (
    GBytes *bytes, const char *display_name, GError **error)
{
  SdSafetensors *st;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  st = g_new0 (SdSafetensors, 1);
  st->display_name = g_strdup (display_name ? display_name : "(memory)");
  st->bytes = g_bytes_ref (bytes);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  st->metadata_keys = g_ptr_array_new ();
  if (!load (st, error)) {
    sd_safetensors_free (st);
    return NULL;
  }
  return st;
}

SdSafetensors *
sd_safetensors_open (const char *path, GError **error)
{
  g_autofree char *display = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GBytes) bytes = NULL;
  char *contents;
  gsize len;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  display = g_filename_display_name (path);
  if (!g_file_get_contents (path, &contents, &len, &local)) {
    set_error (error, SD_ERROR_IO, display, "cannot read: %s", local->message);
    return NULL;
  }
  bytes = g_bytes_new_take (contents, len);
  return sd_safetensors_new_from_bytes (bytes, display, error);
}

void
sd_safetensors_free (SdSafetensors *st)
{
  if (!st)
    return;
  for (guint i = 0; i < st->n_entries; i++)
    g_free ((char *) st->entries[i].view.name);
  g_free (st->entries);
  g_hash_table_unref (st->by_name);
  g_ptr_array_unref (st->metadata_keys);
  g_hash_table_unref (st->metadata);
  g_bytes_unref (st->bytes);
  g_free (st->display_name);
  g_free (st);
}

const char *
sd_safetensors_get_display_name (const SdSafetensors *st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->display_name;
}

guint
sd_safetensors_get_n_tensors (const SdSafetensors *st)
{
  g_return_val_if_fail (st != NULL, 0);
  return st->n_entries;
}

const SdTensorView *
sd_safetensors_get_nth (const SdSafetensors *st, guint i)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (i < st->n_entries, NULL);
  return &st->entries[i].view;
}

const SdTensorView *
sd_safetensors_get (const SdSafetensors *st, const char *name)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (st->by_name, name);
}

const char *
sd_safetensors_get_metadata (const SdSafetensors *st, const char *key)
{
  g_return_val_if_fail (st != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  return g_hash_table_lookup (st->metadata, key);
}

const char **
sd_safetensors_get_metadata_keys (const SdSafetensors *st)
{
  const char **keys;

  g_return_val_if_fail (st != NULL, NULL);
  keys = g_new (const char *, st->metadata_keys->len + 1);
  for (guint i = 0; i < st->metadata_keys->len; i++)
    keys[i] = g_ptr_array_index (st->metadata_keys, i);
  keys[st->metadata_keys->len] = NULL;
  return keys;
}

gboolean
sd_safetensors_check_f32 (const SdSafetensors *st, const SdTensorView *t,
    int expect_ndim, const gint64 *expect_shape, GError **error)
{
  g_autofree char *qn = quote (t->name);

  if (t->dtype != SD_DTYPE_F32) {
    set_error (error, SD_ERROR_FORMAT, st->display_name,
        "tensor %s has dtype %s, expected F32", qn,
        sd_dtype_to_string (t->dtype));
    return FALSE;
  }
  if (expect_ndim >= 0) {
    gboolean same = expect_ndim == t->ndim;

    for (int i = 0; same && i < expect_ndim; i++)
      same = expect_shape[i] == t->shape[i];
    if (!same) {
      g_autofree char *want = format_shape (expect_ndim, expect_shape);
      g_autofree char *have = format_shape (t->ndim, t->shape);
      set_error (error, SD_ERROR_MODEL, st->display_name,
          "tensor %s: expected shape %s but the file has %s", qn, want, have);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean
sd_safetensors_copy_f32 (const SdSafetensors *st, const SdTensorView *t,
    float *dst, int expect_ndim, const gint64 *expect_shape,
    gboolean require_finite, GError **error)
{
  g_autofree char *qn = NULL;

  g_return_val_if_fail (st != NULL, FALSE);
  g_return_val_if_fail (t != NULL, FALSE);
  g_return_val_if_fail (dst != NULL || t->numel == 0, FALSE);
  g_return_val_if_fail (expect_ndim <= SD_TENSOR_MAX_DIMS, FALSE);
  g_return_val_if_fail (expect_ndim <= 0 || expect_shape != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!sd_safetensors_check_f32 (st, t, expect_ndim, expect_shape, error))
    return FALSE;
  qn = quote (t->name);
  for (gint64 i = 0; i < t->numel; i++) {
    guint32 u;
    float v;

    memcpy (&u, t->data + 4 * i, 4);
    u = GUINT32_FROM_LE (u);
    memcpy (&v, &u, 4);
    if (require_finite && !isfinite (v)) {
      set_error (error, SD_ERROR_NONFINITE, st->display_name,
          "tensor %s: value at flat index %" G_GINT64_FORMAT " is %s "
          "(values must be finite)",
          qn, i,
          isnan (v) ? "NaN"
          : v > 0   ? "+Inf"
                    : "-Inf");
      return FALSE;
    }
    dst[i] = v;
  }
  return TRUE;
}

/* ---- writer ---- */

typedef struct
{
  char *name;
  int ndim;
  gint64 shape[SD_TENSOR_MAX_DIMS];
  guint8 *data; /* little endian */
  gsize nbytes;
} WriterTensor;

struct _SdSafetensorsWriter
{
  GPtrArray *meta_keys;   /* owned, insertion order */
  GPtrArray *meta_values; /* owned, parallel to meta_keys */
  GArray *tensors;        /* WriterTensor, insertion order */
  GHashTable *names;      /* tensor names (owned by tensors) */
};

static void
writer_tensor_clear (gpointer p)
{
  WriterTensor *t = p;

  g_free (t->name);
  g_free (t->data);
}

SdSafetensorsWriter *
sd_safetensors_writer_new (void)
{
  SdSafetensorsWriter *w = g_new0 (SdSafetensorsWriter, 1);

  w->meta_keys = g_ptr_array_new_with_free_func (g_free);
  w->meta_values = g_ptr_array_new_with_free_func (g_free);
  w->tensors = g_array_new (FALSE, TRUE, sizeof (WriterTensor));
  g_array_set_clear_func (w->tensors, writer_tensor_clear);
  w->names = g_hash_table_new (g_str_hash, g_str_equal);
  return w;
}

void
sd_safetensors_writer_free (SdSafetensorsWriter *w)
{
  if (!w)
    return;
  g_hash_table_unref (w->names);
  g_array_unref (w->tensors);
  g_ptr_array_unref (w->meta_values);
  g_ptr_array_unref (w->meta_keys);
  g_free (w);
}

/* Adding a key again replaces its value (the key keeps its position). */
void
sd_safetensors_writer_add_metadata (
    SdSafetensorsWriter *w, const char *key, const char *value)
{
  g_return_if_fail (w != NULL);
  g_return_if_fail (key != NULL && g_utf8_validate (key, -1, NULL));
  g_return_if_fail (value != NULL && g_utf8_validate (value, -1, NULL));

  for (guint i = 0; i < w->meta_keys->len; i++) {
    if (strcmp (g_ptr_array_index (w->meta_keys, i), key) == 0) {
      g_free (g_ptr_array_index (w->meta_values, i));
      g_ptr_array_index (w->meta_values, i) = g_strdup (value);
      return;
    }
  }
  g_ptr_array_add (w->meta_keys, g_strdup (key));
  g_ptr_array_add (w->meta_values, g_strdup (value));
}

void
sd_safetensors_writer_add_f32 (SdSafetensorsWriter *w, const char *name,
    const float *data, int ndim, const gint64 *shape)
{
  WriterTensor t = { 0 };
  guint64 numel = 1;

  g_return_if_fail (w != NULL);
  g_return_if_fail (name != NULL && *name != '\0');
  g_return_if_fail (g_utf8_validate (name, -1, NULL));
  g_return_if_fail (strcmp (name, "__metadata__") != 0);
  g_return_if_fail (!g_hash_table_contains (w->names, name));
  g_return_if_fail (ndim >= 0 && ndim <= SD_TENSOR_MAX_DIMS);
  g_return_if_fail (ndim == 0 || shape != NULL);

  for (int i = 0; i < ndim; i++) {
    g_return_if_fail (shape[i] >= 0);
    g_return_if_fail (g_uint64_checked_mul (&numel, numel, (guint64) shape[i])
                      && numel <= G_MAXSIZE / 4);
    t.shape[i] = shape[i];
  }
  g_return_if_fail (data != NULL || numel == 0);

  t.name = g_strdup (name);
  t.ndim = ndim;
  t.nbytes = (gsize) numel * 4;
  t.data = g_malloc (t.nbytes);
  for (gsize i = 0; i < (gsize) numel; i++) {
    guint32 u;

    memcpy (&u, &data[i], 4);
    u = GUINT32_TO_LE (u);
    memcpy (t.data + 4 * i, &u, 4);
  }
  g_array_append_val (w->tensors, t);
  g_hash_table_add (w->names, t.name);
}

GBytes *
sd_safetensors_writer_to_bytes (SdSafetensorsWriter *w)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  gsize json_len, header_len, total, pos;
  guint64 offset = 0, le;
  guint8 *buf;

  g_return_val_if_fail (w != NULL, NULL);

  b = json_builder_new ();
  json_builder_begin_object (b);
  if (w->meta_keys->len > 0) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    for (guint i = 0; i < w->meta_keys->len; i++) {
      json_builder_set_member_name (b, g_ptr_array_index (w->meta_keys, i));
      json_builder_add_string_value (b, g_ptr_array_index (w->meta_values, i));
    }
    json_builder_end_object (b);
  }
  for (guint i = 0; i < w->tensors->len; i++) {
    const WriterTensor *t = &g_array_index (w->tensors, WriterTensor, i);

    json_builder_set_member_name (b, t->name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, "F32");
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (int d = 0; d < t->ndim; d++)
      json_builder_add_int_value (b, t->shape[d]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, (gint64) offset);
    json_builder_add_int_value (b, (gint64) (offset + t->nbytes));
    json_builder_end_array (b);
    json_builder_end_object (b);
    offset += t->nbytes;
  }
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json = json_generator_to_data (gen, &json_len);
  if (memchr (json, 0x1f, json_len)) {
    /* json-glib 1.6 writes U+001F unescaped, which is not valid JSON. A raw
     * byte 0x1f can only come from inside a string (UTF-8 continuation and
     * lead bytes are >= 0x80), so escaping every one of them is safe. */
    GString *fixed = g_string_sized_new (json_len + 16);

    for (gsize i = 0; i < json_len; i++) {
      if (json[i] == 0x1f)
        g_string_append (fixed, "\\u001f");
      else
        g_string_append_c (fixed, json[i]);
    }
    g_free (json);
    json_len = fixed->len;
    json = g_string_free (fixed, FALSE);
  }

  header_len = (json_len + 7) & ~(gsize) 7;
  total = 8 + header_len + (gsize) offset;
  buf = g_malloc (total);
  le = GUINT64_TO_LE ((guint64) header_len);
  memcpy (buf, &le, 8);
  memcpy (buf + 8, json, json_len);
  memset (buf + 8 + json_len, ' ', header_len - json_len);
  pos = 8 + header_len;
  for (guint i = 0; i < w->tensors->len; i++) {
    const WriterTensor *t = &g_array_index (w->tensors, WriterTensor, i);

    if (t->nbytes)
      memcpy (buf + pos, t->data, t->nbytes);
    pos += t->nbytes;
  }
  g_assert (pos == total);
  return g_bytes_new_take (buf, total);
}

gboolean
sd_safetensors_writer_write (
    SdSafetensorsWriter *w, const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local = NULL;
  gsize len;
  const char *data;

  g_return_val_if_fail (w != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  bytes = sd_safetensors_writer_to_bytes (w);
  data = g_bytes_get_data (bytes, &len);
  if (!g_file_set_contents_full (path, data, (gssize) len,
          G_FILE_SET_CONTENTS_CONSISTENT, 0666, &local)) {
    g_autofree char *display = g_filename_display_name (path);
    set_error (error, SD_ERROR_IO, display, "cannot write: %s", local->message);
    return FALSE;
  }
  return TRUE;
}

/* Strict validation of JSON text from an untrusted file before json-glib
 * sees it (json-glib accepts comments, wraps huge integers, keeps the last
 * of duplicate keys and recurses without bound). */
gboolean
sd_json_validate (const char *text, GError **error)
{
  JsonCheck c = { 0 };
  c.s = text;
  c.len = strlen (text);
  if (jc_value (&c, NULL)) {
    jc_skip_ws (&c);
    if (c.pos != c.len)
      jc_fail (&c, "unexpected data after the JSON value");
  }
  if (c.err != NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "invalid JSON: %s", c.err);
    g_free (c.err);
    return FALSE;
  }
  return TRUE;
}
