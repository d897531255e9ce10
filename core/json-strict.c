/* seqdream: the strict JSON checker run on text from untrusted files
 * before json-glib parses it (why: json-strict.h). A recursive-descent
 * walk over the text that builds nothing but the key sets of the objects
 * it is in.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-strict.h"
#include "seqdream/error.h"

#include <string.h>

#define QUOTE_MAX 80 /* characters of a name quoted in a message */

char *
sd_quote_name (const char *s)
{
  GString *q = g_string_new ("'");
  guint n = 0;

  for (const char *p = s; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);

    if (n++ == QUOTE_MAX) {
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

gsize
sd_json_skip_whitespace (const char *text, gsize len, gsize pos)
{
  while (pos < len
         && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n'
             || text[pos] == '\r'))
    pos++;
  return pos;
}

static void
jc_skip_ws (JsonCheck *c)
{
  c->pos = sd_json_skip_whitespace (c->s, c->len, c->pos);
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

  if (++c->depth > SD_JSON_MAX_DEPTH)
    return jc_fail (c, "nested deeper than %d levels", SD_JSON_MAX_DEPTH);
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
      g_autofree char *q = sd_quote_name (key->str);
      g_autofree char *qo = owner ? sd_quote_name (owner) : NULL;

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
  if (++c->depth > SD_JSON_MAX_DEPTH)
    return jc_fail (c, "nested deeper than %d levels", SD_JSON_MAX_DEPTH);
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

char *
sd_json_check (const char *text, gsize len, const char *trailing)
{
  JsonCheck c = { .s = text, .len = len };

  if (jc_value (&c, NULL)) {
    jc_skip_ws (&c);
    if (c.pos != c.len)
      jc_fail (&c, "%s", trailing);
  }
  return c.err;
}

gboolean
sd_json_validate (const char *text, GError **error)
{
  g_autofree char *err = sd_json_check (
      text, strlen (text), "unexpected data after the JSON value");

  if (err != NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_FORMAT, "invalid JSON: %s", err);
    return FALSE;
  }
  return TRUE;
}
