/* seqdream: safetensors reading and writing (docs/model-format.md).
 *
 * The reader treats the file as untrusted. json-glib 1.6 is lenient (it
 * accepts comments, single quotes, hex numbers, raw control characters in
 * strings, silently wraps integers that do not fit in 64 bits, truncates
 * strings at \u0000, keeps the last of duplicate keys and recurses without
 * a depth limit), so the header is first checked by the strict RFC 8259
 * checker of json-strict.c (which also rejects duplicate keys, NUL
 * escapes, lone surrogates, out-of-range integers and nesting deeper than
 * SD_JSON_MAX_DEPTH); only then is it handed to json-glib to build the
 * tree.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/safetensors.h"
#include "json-strict.h"
#include "sd-private.h"
#include "seqdream/error.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define SD_ST_MAX_HEADER ((guint64) 100 * 1024 * 1024)

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

/* The three members of a tensor entry: an object with exactly "dtype",
 * "shape" and "data_offsets". */
static gboolean
tensor_members (const char *dn, const char *qname, JsonNode *node,
    JsonNode **dtype, JsonNode **shape, JsonNode **offsets, GError **error)
{
  g_autoptr (GList) members = NULL;
  JsonObject *obj;

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: entry is %s, not an object", qname, describe_node (node));
    return FALSE;
  }
  obj = json_node_get_object (node);
  members = json_object_get_members (obj);
  *dtype = *shape = *offsets = NULL;
  for (GList *l = members; l; l = l->next) {
    const char *key = l->data;

    if (strcmp (key, "dtype") == 0)
      *dtype = json_object_get_member (obj, key);
    else if (strcmp (key, "shape") == 0)
      *shape = json_object_get_member (obj, key);
    else if (strcmp (key, "data_offsets") == 0)
      *offsets = json_object_get_member (obj, key);
    else {
      g_autofree char *qkey = sd_quote_name (key);
      set_error (error, SD_ERROR_FORMAT, dn,
          "tensor %s: unknown key %s (a tensor entry has only \"dtype\", "
          "\"shape\" and \"data_offsets\")",
          qname, qkey);
      return FALSE;
    }
  }
  if (!*dtype || !*shape || !*offsets) {
    set_error (error, SD_ERROR_FORMAT, dn, "tensor %s: missing \"%s\"", qname,
        !*dtype   ? "dtype"
        : !*shape ? "shape"
                  : "data_offsets");
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_dtype (const char *dn, const char *qname, JsonNode *node, SdDtype *dtype,
    GError **error)
{
  if (!node_is_string (node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"dtype\" is %s, not a string", qname,
        describe_node (node));
    return FALSE;
  }
  if (!dtype_from_string (json_node_get_string (node), dtype)) {
    g_autofree char *qd = sd_quote_name (json_node_get_string (node));
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: unsupported dtype %s (expected one of " SUPPORTED_DTYPES
        ")",
        qname, qd);
    return FALSE;
  }
  return TRUE;
}

/* The shape of view (whose dtype is set) and from it numel and nbytes,
 * each fitting in 63 bits and a gsize. */
static gboolean
parse_shape (const char *dn, const char *qname, JsonNode *node,
    SdTensorView *view, GError **error)
{
  JsonArray *arr;
  guint n;
  guint64 numel = 1, nbytes;

  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"shape\" is %s, not an array", qname,
        describe_node (node));
    return FALSE;
  }
  arr = json_node_get_array (node);
  n = json_array_get_length (arr);
  if (n > SD_TENSOR_MAX_DIMS) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: shape has %u dimensions, more than the maximum of %d",
        qname, n, SD_TENSOR_MAX_DIMS);
    return FALSE;
  }
  view->ndim = (int) n;
  for (guint i = 0; i < n; i++) {
    char what[32];
    guint64 d;

    g_snprintf (what, sizeof what, "shape[%u]", i);
    if (!get_count (
            dn, qname, what, json_array_get_element (arr, i), &d, error))
      return FALSE;
    view->shape[i] = (gint64) d;
  }
  for (guint i = 0; i < n; i++) {
    if (!g_uint64_checked_mul (&numel, numel, (guint64) view->shape[i])
        || numel > G_MAXINT64) {
      g_autofree char *shape = format_shape ((int) n, view->shape);
      set_error (error, SD_ERROR_FORMAT, dn,
          "tensor %s: shape %s has too many elements (overflow)", qname, shape);
      return FALSE;
    }
  }
  view->numel = (gint64) numel;
  if (!g_uint64_checked_mul (&nbytes, numel, sd_dtype_size (view->dtype))
      || nbytes > G_MAXSIZE) {
    g_autofree char *shape = format_shape (view->ndim, view->shape);
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: shape %s of %s is too large (overflow)", qname, shape,
        sd_dtype_to_string (view->dtype));
    return FALSE;
  }
  view->nbytes = (gsize) nbytes;
  return TRUE;
}

/* [begin, end) of e in the data section: exactly view.nbytes long and
 * inside the data_size bytes of the section. */
static gboolean
parse_offsets (const char *dn, const char *qname, JsonNode *node,
    guint64 data_size, Entry *e, GError **error)
{
  JsonArray *arr;
  guint64 begin, end;

  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: \"data_offsets\" is %s, not an array", qname,
        describe_node (node));
    return FALSE;
  }
  arr = json_node_get_array (node);
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
  if (end - begin != e->view.nbytes) {
    g_autofree char *shape = format_shape (e->view.ndim, e->view.shape);
    set_error (error, SD_ERROR_FORMAT, dn,
        "tensor %s: data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        "] give %" G_GUINT64_FORMAT
        " bytes but shape %s of %s needs %" G_GUINT64_FORMAT,
        qname, begin, end, end - begin, shape,
        sd_dtype_to_string (e->view.dtype), (guint64) e->view.nbytes);
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
  return TRUE;
}

/* One tensor entry of the header: e gets its dtype, shape, sizes, offsets
 * and (last, so that a failed entry owns nothing) its name. */
static gboolean
parse_tensor (const char *dn, const char *name, JsonNode *node,
    guint64 data_size, Entry *e, GError **error)
{
  g_autofree char *qname = sd_quote_name (name);
  JsonNode *dtype_node, *shape_node, *offsets_node;

  if (!tensor_members (
          dn, qname, node, &dtype_node, &shape_node, &offsets_node, error)
      || !parse_dtype (dn, qname, dtype_node, &e->view.dtype, error)
      || !parse_shape (dn, qname, shape_node, &e->view, error)
      || !parse_offsets (dn, qname, offsets_node, data_size, e, error))
    return FALSE;
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
      g_autofree char *qkey = sd_quote_name (key);
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
    g_autofree char *qn = sd_quote_name (e->view.name);

    if (e->begin < pos) {
      g_autofree char *qp = sd_quote_name (prev->view.name);
      set_error (error, SD_ERROR_FORMAT, st->display_name,
          "tensor %s (data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
          "]) overlaps tensor %s (data_offsets [%" G_GUINT64_FORMAT
          ", %" G_GUINT64_FORMAT "])",
          qn, e->begin, e->end, qp, prev->begin, prev->end);
      return FALSE;
    }
    if (e->begin > pos) {
      if (prev) {
        g_autofree char *qp = sd_quote_name (prev->view.name);
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

/* The header length n of the file's first 8 bytes (little endian): more
 * than 0, at most SD_ST_MAX_HEADER and inside the file. */
static gboolean
read_header_length (
    const char *dn, const guint8 *data, gsize size, guint64 *n, GError **error)
{
  if (size < 8) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "file is %" G_GSIZE_FORMAT " bytes, too short to hold the 8-byte "
        "header length",
        size);
    return FALSE;
  }
  memcpy (n, data, 8);
  *n = GUINT64_FROM_LE (*n);
  if (*n == 0) {
    set_error (error, SD_ERROR_FORMAT, dn, "header length is 0");
    return FALSE;
  }
  if (*n > SD_ST_MAX_HEADER) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header length %" G_GUINT64_FORMAT " is more than the limit of "
        "%" G_GUINT64_FORMAT " bytes (100 MiB)",
        *n, SD_ST_MAX_HEADER);
    return FALSE;
  }
  if (*n > size - 8) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header length %" G_GUINT64_FORMAT " is more than the %" G_GSIZE_FORMAT
        " bytes that follow it (truncated file?)",
        *n, size - 8);
    return FALSE;
  }
  return TRUE;
}

/* The n bytes of the header are valid UTF-8 and one strictly valid JSON
 * object, starting with its '{'. */
static gboolean
check_header_text (const char *dn, const char *header, gsize n, GError **error)
{
  const char *bad;
  gsize pos;
  g_autofree char *err = NULL;

  if (!g_utf8_validate_len (header, n, &bad)) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header is not valid UTF-8 (%s at byte %" G_GSIZE_FORMAT
        " of the header)",
        *bad ? "invalid sequence" : "NUL byte", (gsize) (bad - header));
    return FALSE;
  }
  pos = sd_json_skip_whitespace (header, n, 0);
  if (pos < n && header[pos] != '{') {
    /* Say what it is, if it is some other JSON value. */
    char first = header[pos];
    const char *what = first == '['                              ? "an array"
                       : first == '"'                            ? "a string"
                       : first == '-' || g_ascii_isdigit (first) ? "a number"
                       : first == 't' || first == 'f'            ? "a boolean"
                       : first == 'n'                            ? "null"
                                                                 : NULL;
    if (what) {
      err = sd_json_check (header, n, "");
      if (err == NULL) {
        set_error (error, SD_ERROR_FORMAT, dn,
            "header is %s, not a JSON object", what);
        return FALSE;
      }
    }
    set_error (error, SD_ERROR_FORMAT, dn,
        "header does not start with '{' (it begins with byte 0x%02x)",
        (guchar) header[0]);
    return FALSE;
  }
  if (pos > 0) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header does not start with '{' (it begins with whitespace)");
    return FALSE;
  }
  err = sd_json_check (header, n, "unexpected data after the JSON object");
  if (err != NULL) {
    set_error (error, SD_ERROR_FORMAT, dn,
        "header is not valid JSON: %s of the header", err);
    return FALSE;
  }
  return TRUE;
}

/* The entries and metadata of the checked header (n bytes), in file
 * order; the data section that follows it has data_size bytes. */
static gboolean
parse_header (SdSafetensors *st, const char *header, gsize n, guint64 data_size,
    GError **error)
{
  const char *dn = st->display_name;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local = NULL;
  g_autoptr (GList) members = NULL;
  JsonObject *root;

  if (!json_parser_load_from_data (parser, header, (gssize) n, &local)) {
    set_error (error, SD_ERROR_FORMAT, dn, "header is not valid JSON: %s",
        local->message);
    return FALSE;
  }
  root = json_node_get_object (json_parser_get_root (parser));
  st->entries = g_new0 (Entry, json_object_get_size (root));
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
  return TRUE;
}

/* Sorts the entries by offset, checks that they tile the data section
 * (which starts at data) and indexes them by name. */
static gboolean
index_entries (
    SdSafetensors *st, const guint8 *data, guint64 data_size, GError **error)
{
  if (st->n_entries > 1)
    qsort (st->entries, st->n_entries, sizeof (Entry), entry_compare);
  if (!check_tiling (st, data_size, error))
    return FALSE;
  for (guint i = 0; i < st->n_entries; i++) {
    Entry *e = &st->entries[i];

    e->view.data = data + e->begin;
    if (!g_hash_table_insert (st->by_name, (char *) e->view.name, &e->view)) {
      /* cannot happen: the validator rejects duplicate keys */
      g_autofree char *qn = sd_quote_name (e->view.name);
      set_error (error, SD_ERROR_FORMAT, st->display_name,
          "header: duplicate tensor name %s", qn);
      return FALSE;
    }
  }
  return TRUE;
}

/* The file is: header length n (8 bytes), the JSON header (n bytes), the
 * data section. */
static gboolean
load (SdSafetensors *st, GError **error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (st->bytes, &size);
  guint64 n, data_size;

  if (!read_header_length (st->display_name, data, size, &n, error))
    return FALSE;
  data_size = size - 8 - n;
  return check_header_text (
             st->display_name, (const char *) data + 8, (gsize) n, error)
         && parse_header (
             st, (const char *) data + 8, (gsize) n, data_size, error)
         && index_entries (st, data + 8 + n, data_size, error);
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
  g_autofree char *qn = sd_quote_name (t->name);

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
  qn = sd_quote_name (t->name);
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
