/* Tests of the safetensors reader and writer (core/safetensors.c).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/error.h>
#include <seqdream/safetensors.h>

#include <float.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static char *tmpdir;

/* ---- helpers ---- */

/* 8-byte little-endian header_len, the header, then data_len bytes of data
 * (zeros when data is NULL). header_len < 0: strlen (header). */
static GBytes *
make_file (
    const char *header, gssize header_len, const void *data, gsize data_len)
{
  GByteArray *a = g_byte_array_new ();
  guint64 le;
  gsize hl = header_len < 0 ? strlen (header) : (gsize) header_len;

  le = GUINT64_TO_LE ((guint64) hl);
  g_byte_array_append (a, (const guint8 *) &le, 8);
  g_byte_array_append (a, (const guint8 *) header, (guint) hl);
  if (data) {
    g_byte_array_append (a, data, (guint) data_len);
  } else {
    gsize old = a->len;
    g_byte_array_set_size (a, (guint) (old + data_len));
    memset (a->data + old, 0, data_len);
  }
  return g_byte_array_free_to_bytes (a);
}

static char *
write_fixture (const char *name, GBytes *bytes)
{
  char *path = g_build_filename (tmpdir, name, NULL);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  GError *error = NULL;

  g_file_set_contents (path, data, (gssize) len, &error);
  g_assert_no_error (error);
  return path;
}

/* The error is in SD_ERROR with the code, starts with "display: " and
 * contains substr. */
static void
assert_error (
    const GError *error, int code, const char *display, const char *substr)
{
  g_autofree char *prefix = g_strconcat (display, ": ", NULL);

  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_error (error, SD_ERROR, code);
  if (!g_str_has_prefix (error->message, prefix))
    g_error ("message '%s' does not start with '%s'", error->message, prefix);
  if (!strstr (error->message, substr))
    g_error ("message '%s' does not contain '%s'", error->message, substr);
}

/* Write bytes to a file, open it, expect failure. */
static void
expect_open_fails (GBytes *bytes, int code, const char *substr)
{
  g_autofree char *path = write_fixture ("corrupt.safetensors", bytes);
  g_autofree char *display = g_filename_display_name (path);
  GError *error = NULL;
  SdSafetensors *st = sd_safetensors_open (path, &error);

  g_assert_null (st);
  assert_error (error, code, display, substr);
  g_error_free (error);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

static SdSafetensors *
load_ok (GBytes *bytes)
{
  GError *error = NULL;
  SdSafetensors *st = sd_safetensors_new_from_bytes (bytes, "mem", &error);

  g_assert_no_error (error);
  g_assert_nonnull (st);
  return st;
}

static guint32
float_bits (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  return u;
}

static float
bits_float (guint32 u)
{
  float f;
  memcpy (&f, &u, 4);
  return f;
}

static void
assert_floats_bit_equal (const float *a, const float *b, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (float_bits (a[i]) != float_bits (b[i]))
      g_error ("value %" G_GSIZE_FORMAT ": 0x%08x != 0x%08x", i,
          float_bits (a[i]), float_bits (b[i]));
}

/* ---- dtypes ---- */

static void
test_dtypes (void)
{
  static const struct
  {
    SdDtype d;
    const char *s;
    gsize size;
  } t[] = {
    { SD_DTYPE_F64, "F64", 8 },
    { SD_DTYPE_F32, "F32", 4 },
    { SD_DTYPE_F16, "F16", 2 },
    { SD_DTYPE_BF16, "BF16", 2 },
    { SD_DTYPE_I64, "I64", 8 },
    { SD_DTYPE_I32, "I32", 4 },
    { SD_DTYPE_I16, "I16", 2 },
    { SD_DTYPE_I8, "I8", 1 },
    { SD_DTYPE_U8, "U8", 1 },
    { SD_DTYPE_BOOL, "BOOL", 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (t); i++) {
    g_assert_cmpstr (sd_dtype_to_string (t[i].d), ==, t[i].s);
    g_assert_cmpuint (sd_dtype_size (t[i].d), ==, t[i].size);
  }
}

/* ---- round trip ---- */

#define N3 (2 * 3 * 4)

static void
test_roundtrip (void)
{
  float w3[N3], w2[5 * 3], b[5], scalar = 42.125f;
  gint64 s3[] = { 2, 3, 4 }, s2[] = { 5, 3 }, s1[] = { 5 }, s0[] = { 0, 3 };
  static const char *names[] = { "stages.0.conv.weight", "fc.weight", "fc.bias",
    "scalar", "empty", "na\xc3\xafve \"\\\n\xf0\x9f\x98\x80" };
  static const char *meta_keys[]
      = { "format", "arch", "weird", "empty", "\xc3\xa9" };
  static const char *meta_values[]
      = { "pt", "{\"name\":\"fcn\",\"stages\":[{\"type\":\"conv\"}]}",
          ("quote\" backslash\\ slash/ newline\n tab\t \x01\x1f\x7f "
           "\xc3\xa9\xf0\x9f\x98\x80 \xe2\x80\xae"),
          "", "accent" };
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autoptr (SdSafetensorsWriter) w2w = NULL;
  g_autoptr (SdSafetensors) st = NULL;
  g_autoptr (GBytes) bytes = NULL, bytes2 = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "rt.safetensors", NULL);
  g_autofree char *contents = NULL;
  g_autofree const char **keys = NULL;
  GError *error = NULL;
  gsize len;
  guint64 hl;
  const guint8 *raw;

  for (int i = 0; i < N3; i++)
    w3[i] = (float) i * 0.37f - 3.0f;
  w3[0] = -0.0f;
  w3[1] = FLT_MIN / 4;             /* denormal */
  w3[2] = bits_float (0x00000001); /* smallest denormal */
  w3[3] = FLT_MAX;
  w3[4] = -FLT_MAX;
  w3[5] = bits_float (0x7fc12345); /* NaN with a payload */
  w3[6] = -INFINITY;
  for (int i = 0; i < 15; i++)
    w2[i] = 1.0f / (float) (i + 1);
  for (int i = 0; i < 5; i++)
    b[i] = (float) -i;

  sd_safetensors_writer_add_metadata (w, meta_keys[0], "to be replaced");
  for (guint i = 0; i < G_N_ELEMENTS (meta_keys); i++)
    sd_safetensors_writer_add_metadata (w, meta_keys[i], meta_values[i]);
  sd_safetensors_writer_add_f32 (w, names[0], w3, 3, s3);
  sd_safetensors_writer_add_f32 (w, names[1], w2, 2, s2);
  sd_safetensors_writer_add_f32 (w, names[2], b, 1, s1);
  sd_safetensors_writer_add_f32 (w, names[3], &scalar, 0, NULL);
  sd_safetensors_writer_add_f32 (w, names[4], NULL, 2, s0);
  sd_safetensors_writer_add_f32 (w, names[5], b, 1, s1);

  g_assert_true (sd_safetensors_writer_write (w, path, &error));
  g_assert_no_error (error);
  bytes = sd_safetensors_writer_to_bytes (w);

  /* file == to_bytes; header padded to a multiple of 8 with spaces */
  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_no_error (error);
  raw = g_bytes_get_data (bytes, NULL);
  g_assert_cmpmem (contents, len, raw, g_bytes_get_size (bytes));
  memcpy (&hl, raw, 8);
  hl = GUINT64_FROM_LE (hl);
  g_assert_cmpuint (hl % 8, ==, 0);
  g_assert_cmpuint (len, ==, 8 + hl + 4 * (N3 + 15 + 5 + 1 + 0 + 5));
  g_assert_cmpint (raw[8], ==, '{');
  g_assert_true (g_str_has_prefix ((const char *) raw + 8,
      "{\"__metadata__\":{\"format\":\"pt\",\"arch\":"));
  {
    gsize e = hl;

    while (e > 0 && raw[8 + e - 1] == ' ')
      e--;
    g_assert_cmpint (raw[8 + e - 1], ==, '}');
    g_assert_cmpuint (hl - e, <, 8);
  }

  st = sd_safetensors_open (path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (st);
  g_assert_true (
      strstr (sd_safetensors_get_display_name (st), "rt.safetensors"));

  /* metadata: values, order, replacement */
  for (guint i = 0; i < G_N_ELEMENTS (meta_keys); i++)
    g_assert_cmpstr (
        sd_safetensors_get_metadata (st, meta_keys[i]), ==, meta_values[i]);
  g_assert_null (sd_safetensors_get_metadata (st, "nope"));
  keys = sd_safetensors_get_metadata_keys (st);
  g_assert_cmpuint (
      g_strv_length ((char **) keys), ==, G_N_ELEMENTS (meta_keys));
  for (guint i = 0; i < G_N_ELEMENTS (meta_keys); i++)
    g_assert_cmpstr (keys[i], ==, meta_keys[i]);

  /* tensors in insertion (= offset) order, bit exact */
  g_assert_cmpuint (sd_safetensors_get_n_tensors (st), ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_cmpstr (sd_safetensors_get_nth (st, i)->name, ==, names[i]);
  g_assert_null (sd_safetensors_get (st, "missing"));
  {
    const SdTensorView *t = sd_safetensors_get (st, names[0]);
    float got[N3];

    g_assert_nonnull (t);
    g_assert_true (t == sd_safetensors_get_nth (st, 0));
    g_assert_cmpint (t->dtype, ==, SD_DTYPE_F32);
    g_assert_cmpint (t->ndim, ==, 3);
    g_assert_cmpint (t->shape[0], ==, 2);
    g_assert_cmpint (t->shape[1], ==, 3);
    g_assert_cmpint (t->shape[2], ==, 4);
    g_assert_cmpint (t->numel, ==, N3);
    g_assert_cmpuint (t->nbytes, ==, 4 * N3);
    g_assert_true (sd_safetensors_copy_f32 (st, t, got, 3, s3, FALSE, &error));
    g_assert_no_error (error);
    assert_floats_bit_equal (got, w3, N3);
  }
  {
    const SdTensorView *t = sd_safetensors_get (st, names[1]);
    float got[15];

    g_assert_true (sd_safetensors_copy_f32 (st, t, got, 2, s2, TRUE, &error));
    g_assert_no_error (error);
    assert_floats_bit_equal (got, w2, 15);
  }
  {
    const SdTensorView *t = sd_safetensors_get (st, names[3]);
    float got = 0;

    g_assert_cmpint (t->ndim, ==, 0);
    g_assert_cmpint (t->numel, ==, 1);
    g_assert_true (
        sd_safetensors_copy_f32 (st, t, &got, 0, NULL, TRUE, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (got, ==, scalar);
  }
  {
    const SdTensorView *t = sd_safetensors_get (st, names[4]);

    g_assert_cmpint (t->ndim, ==, 2);
    g_assert_cmpint (t->numel, ==, 0);
    g_assert_cmpuint (t->nbytes, ==, 0);
    g_assert_true (sd_safetensors_copy_f32 (st, t, NULL, 2, s0, TRUE, &error));
    g_assert_no_error (error);
  }
  {
    const SdTensorView *t = sd_safetensors_get (st, names[5]);
    float got[5];

    g_assert_true (
        sd_safetensors_copy_f32 (st, t, got, -1, NULL, TRUE, &error));
    g_assert_no_error (error);
    assert_floats_bit_equal (got, b, 5);
  }

  /* writing what was read gives the same bytes */
  w2w = sd_safetensors_writer_new ();
  for (guint i = 0; i < G_N_ELEMENTS (meta_keys); i++)
    sd_safetensors_writer_add_metadata (
        w2w, keys[i], sd_safetensors_get_metadata (st, keys[i]));
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *t = sd_safetensors_get_nth (st, i);
    g_autofree float *buf = g_new (float, MAX (t->numel, 1));

    g_assert_true (
        sd_safetensors_copy_f32 (st, t, buf, -1, NULL, FALSE, &error));
    sd_safetensors_writer_add_f32 (w2w, t->name, buf, t->ndim, t->shape);
  }
  bytes2 = sd_safetensors_writer_to_bytes (w2w);
  g_assert_true (g_bytes_equal (bytes, bytes2));

  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* An empty writer: "{}" padded to 8 bytes, no data. */
static void
test_empty (void)
{
  static const guint8 expect[]
      = { 8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' ' };
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autoptr (GBytes) bytes = sd_safetensors_writer_to_bytes (w);
  g_autoptr (SdSafetensors) st = NULL;
  g_autofree const char **keys = NULL;

  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
      expect, sizeof expect);
  st = load_ok (bytes);
  g_assert_cmpuint (sd_safetensors_get_n_tensors (st), ==, 0);
  keys = sd_safetensors_get_metadata_keys (st);
  g_assert_null (keys[0]);
  g_assert_cmpstr (sd_safetensors_get_display_name (st), ==, "mem");
}

/* ---- the format pinned by hand ---- */

/* {"__metadata__":{"format":"pt"},
 *  "w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
 *  "s":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}
 * is 138 bytes, padded with 6 spaces to 144 = 0x90; w = [1.0, -2.5],
 * s = 0.5. */
static const guint8 hand_file[] = {
  /* header length, u64 little endian */
  0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  /* header */
  '{', '"', '_', '_', 'm', 'e', 't', 'a', 'd', 'a', 't', 'a', '_', '_', '"',
  ':', '{', '"', 'f', 'o', 'r', 'm', 'a', 't', '"', ':', '"', 'p', 't', '"',
  '}', ',', '"', 'w', '"', ':', '{', '"', 'd', 't', 'y', 'p', 'e', '"', ':',
  '"', 'F', '3', '2', '"', ',', '"', 's', 'h', 'a', 'p', 'e', '"', ':', '[',
  '2', ']', ',', '"', 'd', 'a', 't', 'a', '_', 'o', 'f', 'f', 's', 'e', 't',
  's', '"', ':', '[', '0', ',', '8', ']', '}', ',', '"', 's', '"', ':', '{',
  '"', 'd', 't', 'y', 'p', 'e', '"', ':', '"', 'F', '3', '2', '"', ',', '"',
  's', 'h', 'a', 'p', 'e', '"', ':', '[', ']', ',', '"', 'd', 'a', 't', 'a',
  '_', 'o', 'f', 'f', 's', 'e', 't', 's', '"', ':', '[', '8', ',', '1', '2',
  ']', '}', '}', ' ', ' ', ' ', ' ', ' ', ' ',
  /* data: 1.0f = 0x3f800000, -2.5f = 0xc0200000, 0.5f = 0x3f000000 */
  0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, 0x00, 0x00, 0x00, 0x3f
};

static void
test_byte_exact (void)
{
  const float wv[] = { 1.0f, -2.5f }, sv = 0.5f;
  const gint64 ws[] = { 2 };
  g_autoptr (GBytes) hand = g_bytes_new_static (hand_file, sizeof hand_file);
  g_autoptr (SdSafetensors) st = NULL;
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autoptr (GBytes) ours = NULL;
  g_autofree char *path = g_build_filename (tmpdir, "hand.safetensors", NULL);
  g_autofree char *contents = NULL;
  const SdTensorView *t;
  float got[2];
  GError *error = NULL;
  gsize len;

  g_assert_cmpuint (sizeof hand_file, ==, 8 + 144 + 12);

  /* our reader understands the hand-made file */
  st = load_ok (hand);
  g_assert_cmpstr (sd_safetensors_get_metadata (st, "format"), ==, "pt");
  g_assert_cmpuint (sd_safetensors_get_n_tensors (st), ==, 2);
  t = sd_safetensors_get_nth (st, 0);
  g_assert_cmpstr (t->name, ==, "w");
  g_assert_true (t->data == hand_file + 8 + 144);
  g_assert_true (sd_safetensors_copy_f32 (st, t, got, 1, ws, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (got[0], ==, 1.0f);
  g_assert_cmpfloat (got[1], ==, -2.5f);
  t = sd_safetensors_get_nth (st, 1);
  g_assert_cmpstr (t->name, ==, "s");
  g_assert_cmpint (t->ndim, ==, 0);
  g_assert_true (t->data == hand_file + 8 + 144 + 8);
  g_assert_true (sd_safetensors_copy_f32 (st, t, got, 0, NULL, TRUE, &error));
  g_assert_cmpfloat (got[0], ==, 0.5f);

  /* our writer produces exactly these bytes */
  sd_safetensors_writer_add_metadata (w, "format", "pt");
  sd_safetensors_writer_add_f32 (w, "w", wv, 1, ws);
  sd_safetensors_writer_add_f32 (w, "s", &sv, 0, NULL);
  ours = sd_safetensors_writer_to_bytes (w);
  g_assert_cmpmem (g_bytes_get_data (ours, NULL), g_bytes_get_size (ours),
      hand_file, sizeof hand_file);
  g_assert_true (sd_safetensors_writer_write (w, path, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, &len, &error));
  g_assert_cmpmem (contents, len, hand_file, sizeof hand_file);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* Views of a file that starts at an odd address (UBSan checks alignment). */
static void
test_unaligned (void)
{
  g_autoptr (GBytes) big = NULL, sub = NULL;
  g_autoptr (SdSafetensors) st = NULL;
  guint8 *buf = g_malloc (sizeof hand_file + 1);
  float got[2];
  GError *error = NULL;

  memcpy (buf + 1, hand_file, sizeof hand_file);
  big = g_bytes_new_take (buf, sizeof hand_file + 1);
  sub = g_bytes_new_from_bytes (big, 1, sizeof hand_file);
  st = load_ok (sub);
  g_assert_true (sd_safetensors_copy_f32 (
      st, sd_safetensors_get (st, "w"), got, -1, NULL, TRUE, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (got[1], ==, -2.5f);
}

/* Things the reader must accept. */
static void
test_accept (void)
{
  /* every dtype, listed out of offset order, a zero-size tensor between
   * others and at the end, whitespace inside and after the JSON, escapes */
  static const char header[]
      = "{ \"b\" : "
        "{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},\r\n"
        "\"a\\u00e9\\ud83d\\ude00\":{\"data_offsets\":[0,8],\"shape\":[],"
        "\"dtype\":\"I64\"},\n"
        "\"z0\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[14,14]},"
        "\"c\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[14,16]},"
        "\"d\":{\"dtype\":\"U8\",\"shape\":[1,1],\"data_offsets\":[16,17]},"
        "\"e\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[17,18]},"
        "\"f\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[18,20]},"
        "\"g\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[20,24]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
        "\"i\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[28,36]},"
        "\"z1\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[36,36]},"
        "\"__metadata__\":{\"k\":\"v\\/\\\"\\\\\\b\\f\\n\\r\\t\"}"
        "} \t\r\n  ";
  static const char *order[] = { "a\xc3\xa9\xf0\x9f\x98\x80", "b", "z0", "c",
    "d", "e", "f", "g", "h", "i", "z1" };
  g_autoptr (GBytes) bytes = make_file (header, -1, NULL, 36);
  g_autoptr (SdSafetensors) st = load_ok (bytes);
  const SdTensorView *t;

  g_assert_cmpuint (
      sd_safetensors_get_n_tensors (st), ==, G_N_ELEMENTS (order));
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    g_assert_cmpstr (sd_safetensors_get_nth (st, i)->name, ==, order[i]);
  g_assert_cmpstr (
      sd_safetensors_get_metadata (st, "k"), ==, "v/\"\\\b\f\n\r\t");
  t = sd_safetensors_get (st, order[0]);
  g_assert_cmpint (t->dtype, ==, SD_DTYPE_I64);
  g_assert_cmpint (t->ndim, ==, 0);
  g_assert_cmpuint (t->nbytes, ==, 8);
  t = sd_safetensors_get (st, "b");
  g_assert_cmpint (t->dtype, ==, SD_DTYPE_BF16);
  g_assert_cmpuint (t->nbytes, ==, 6);
  t = sd_safetensors_get (st, "z0");
  g_assert_cmpint (t->numel, ==, 0);
  g_assert_cmpint (t->shape[1], ==, 5);
  t = sd_safetensors_get (st, "i");
  g_assert_cmpint (t->dtype, ==, SD_DTYPE_F64);
  g_assert_true (t->data
                 == (const guint8 *) g_bytes_get_data (bytes, NULL) + 8
                        + strlen (header) + 28);
}

static void
test_open_missing (void)
{
  g_autofree char *path = g_build_filename (tmpdir, "nope.safetensors", NULL);
  g_autofree char *bad = g_build_filename (tmpdir, "no", "dir.st", NULL);
  g_autofree char *display = g_filename_display_name (path);
  g_autofree char *display_bad = g_filename_display_name (bad);
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  GError *error = NULL;

  g_assert_null (sd_safetensors_open (path, &error));
  assert_error (error, SD_ERROR_IO, display, "cannot read");
  g_clear_error (&error);
  g_assert_null (sd_safetensors_open (tmpdir, &error));
  assert_error (error, SD_ERROR_IO, tmpdir, "cannot read");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_writer_write (w, bad, &error));
  assert_error (error, SD_ERROR_IO, display_bad, "cannot write");
  g_clear_error (&error);
}

/* ---- corrupt files ---- */

#define T1 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

typedef struct
{
  const char *name;
  const char *header;
  gssize header_len; /* -1: strlen */
  gsize data_len;
  int code;
  const char *substr;
} CorruptCase;

static const CorruptCase corrupt_cases[] = {
  { "not-json", "{hello}", -1, 0, SD_ERROR_FORMAT,
      "header is not valid JSON: expected a string key, found 'h' at byte 1" },
  { "not-json-start", "hello", -1, 0, SD_ERROR_FORMAT,
      "header does not start with '{'" },
  { "json-array", "[1, 2]  ", -1, 0, SD_ERROR_FORMAT,
      "header is an array, not a JSON object" },
  { "json-string", "\"x\"", -1, 0, SD_ERROR_FORMAT,
      "header is a string, not a JSON object" },
  { "leading-space", " {}", -1, 0, SD_ERROR_FORMAT,
      "header does not start with '{' (it begins with whitespace)" },
  { "trailing-garbage", "{}  x", -1, 0, SD_ERROR_FORMAT,
      "unexpected data after the JSON object" },
  { "two-objects", "{}{}", -1, 0, SD_ERROR_FORMAT,
      "unexpected data after the JSON object" },
  { "unterminated", "{\"a\":" T1, -1, 8, SD_ERROR_FORMAT,
      "expected ',' or '}', found end of header" },
  { "invalid-utf8", "{\"a\xff\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "header is not valid UTF-8 (invalid sequence at byte 3" },
  { "nul-byte", "{\"a\":" T1 "}\0  ", 57, 8, SD_ERROR_FORMAT,
      "header is not valid UTF-8 (NUL byte at byte 54 of the header)" },
  { "comment", "{\"a\":" T1 " /* c */}", -1, 8, SD_ERROR_FORMAT,
      "not valid JSON: expected ',' or '}', found '/'" },
  { "single-quotes", "{'a':" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "expected a string key, found '''" },
  { "trailing-comma", "{\"a\":" T1 ",}", -1, 8, SD_ERROR_FORMAT,
      "expected a string key, found '}'" },
  { "hex-number",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[0x2],\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT, "expected ',' or ']', found 'x'" },
  { "leading-zero",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT, "number with a leading zero" },
  { "integer-wraps",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
      "\"data_offsets\":[18446744073709551616,18446744073709551624]}}",
      -1, 8, SD_ERROR_FORMAT,
      "integer 18446744073709551616 does not fit in 64 bits" },
  { "nan-literal",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT, "unexpected 'N'" },
  { "nul-escape", "{\"a\\u0000b\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "\\u0000 (NUL) in a string is not supported" },
  { "lone-surrogate", "{\"a\\ud800\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "unpaired surrogate \\ud800" },
  { "lone-low-surrogate", "{\"a\\udc00x\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "unpaired surrogate \\udc00" },
  { "bad-escape", "{\"a\\x\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "invalid escape in a string" },
  { "raw-control-char", "{\"a\tb\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "unescaped control character 0x09" },
  { "duplicate-tensor", "{\"a\":" T1 ",\"a\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "header: duplicate tensor name 'a'" },
  { "duplicate-escaped", "{\"a\":" T1 ",\"\\u0061\":" T1 "}", -1, 8,
      SD_ERROR_FORMAT, "header: duplicate tensor name 'a'" },
  { "duplicate-field",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"dtype\":\"F32\","
      "\"data_offsets\":[0,8]}}",
      -1, 8, SD_ERROR_FORMAT, "tensor 'a': duplicate key 'dtype'" },
  { "duplicate-metadata-key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}",
      -1, 0, SD_ERROR_FORMAT, "header: duplicate key 'k' in \"__metadata__\"" },
  { "duplicate-metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", -1, 0,
      SD_ERROR_FORMAT, "\"__metadata__\" appears more than once" },
  { "empty-name", "{\"\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "empty tensor name" },
  { "entry-not-object", "{\"a\":[0,8]}", -1, 8, SD_ERROR_FORMAT,
      "tensor 'a': entry is an array, not an object" },
  { "missing-dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': missing \"dtype\"" },
  { "missing-shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT, "tensor 'a': missing \"shape\"" },
  { "missing-offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': missing \"data_offsets\"" },
  { "unknown-key",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],"
      "\"extra\":1}}",
      -1, 8, SD_ERROR_FORMAT, "tensor 'a': unknown key 'extra'" },
  { "bad-dtype",
      "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}",
      -1, 2, SD_ERROR_FORMAT,
      "tensor 'a': unsupported dtype 'F8_E4M3' (expected one of F64, F32" },
  { "lowercase-dtype",
      "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8,
      SD_ERROR_FORMAT, "unsupported dtype 'f32'" },
  { "dtype-not-string",
      "{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': \"dtype\" is an integer, not a string" },
  { "negative-shape",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT,
      "tensor 'a': shape[1] is -3, not a non-negative integer" },
  { "float-shape",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", -1,
      8, SD_ERROR_FORMAT,
      "tensor 'a': shape[0] is a non-integer number, not a non-negative "
      "integer" },
  { "string-shape",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}",
      -1, 8, SD_ERROR_FORMAT, "tensor 'a': shape[0] is a string" },
  { "shape-not-array",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': \"shape\" is an integer, not an array" },
  { "too-many-dims",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],"
      "\"data_offsets\":[0,8]}}",
      -1, 8, SD_ERROR_FORMAT,
      "tensor 'a': shape has 9 dimensions, more than the maximum of 8" },
  { "shape-overflow",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],"
      "\"data_offsets\":[0,0]}}",
      -1, 0, SD_ERROR_FORMAT,
      "tensor 'a': shape [4294967296, 4294967296, 0] has too many elements" },
  { "bytes-overflow",
      "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],"
      "\"data_offsets\":[0,0]}}",
      -1, 0, SD_ERROR_FORMAT, "is too large (overflow)" },
  { "offsets-not-array",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":null}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': \"data_offsets\" is null, not an array" },
  { "offsets-length",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", -1,
      8, SD_ERROR_FORMAT, "tensor 'a': data_offsets has 3 elements" },
  { "offsets-negative",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", -1,
      8, SD_ERROR_FORMAT, "data_offsets[0] is -8, not a non-negative" },
  { "offsets-reversed",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", -1, 8,
      SD_ERROR_FORMAT, "tensor 'a': data_offsets [8, 0] begin after end" },
  { "size-mismatch",
      "{\"fc.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],"
      "\"data_offsets\":[0,40]}}",
      -1, 40, SD_ERROR_FORMAT,
      "tensor 'fc.weight': data_offsets [0, 40] give 40 bytes but shape "
      "[2, 3] of F32 needs 24" },
  { "offsets-beyond-end", "{\"a\":" T1 "}", -1, 4, SD_ERROR_FORMAT,
      "tensor 'a': data_offsets [0, 8] go beyond the end of the data section "
      "(4 bytes)" },
  { "offsets-far-beyond-end",
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],"
      "\"data_offsets\":[9223372036854775799,9223372036854775807]}}",
      -1, 8, SD_ERROR_FORMAT, "go beyond the end of the data section" },
  { "overlap",
      "{\"a\":" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
      "\"data_offsets\":[4,12]}}",
      -1, 12, SD_ERROR_FORMAT,
      "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets "
      "[0, 8])" },
  { "same-offsets", "{\"b\":" T1 ",\"a\":" T1 "}", -1, 8, SD_ERROR_FORMAT,
      "tensor 'b' (data_offsets [0, 8]) overlaps tensor 'a'" },
  { "empty-inside-other",
      "{\"a\":" T1 ",\"e\":{\"dtype\":\"F32\",\"shape\":[0],"
      "\"data_offsets\":[4,4]}}",
      -1, 8, SD_ERROR_FORMAT, "tensor 'e' (data_offsets [4, 4]) overlaps" },
  { "hole",
      "{\"a\":" T1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
      "\"data_offsets\":[12,20]}}",
      -1, 20, SD_ERROR_FORMAT,
      "hole of 4 bytes in the data section between tensor 'a' (ending at 8) "
      "and tensor 'b' (beginning at 12)" },
  { "hole-at-start",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", -1,
      12, SD_ERROR_FORMAT, "hole of 4 bytes at the start of the data section" },
  { "trailing-bytes", "{\"a\":" T1 "}", -1, 12, SD_ERROR_FORMAT,
      "4 trailing bytes of the data section are not covered by any tensor" },
  { "no-tensors-but-data", "{}", -1, 3, SD_ERROR_FORMAT,
      "3 trailing bytes of the data section are not covered" },
  { "metadata-int-value", "{\"__metadata__\":{\"k\":1}}", -1, 0,
      SD_ERROR_FORMAT,
      "\"__metadata__\" value of 'k' is an integer, not a string" },
  { "metadata-null-value", "{\"__metadata__\":{\"k\":null}}", -1, 0,
      SD_ERROR_FORMAT, "\"__metadata__\" value of 'k' is null, not a string" },
  { "metadata-object-value", "{\"__metadata__\":{\"k\":{\"a\":\"b\"}}}", -1, 0,
      SD_ERROR_FORMAT, "value of 'k' is an object, not a string" },
  { "metadata-not-object", "{\"__metadata__\":\"x\"}", -1, 0, SD_ERROR_FORMAT,
      "\"__metadata__\" is a string, not an object" },
  { "metadata-null", "{\"__metadata__\":null}", -1, 0, SD_ERROR_FORMAT,
      "\"__metadata__\" is null, not an object" },
  { "quoted-name",
      "{\"it's\\n\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9]}}",
      -1, 9, SD_ERROR_FORMAT, "tensor 'it\\'s\\u{000A}': data_offsets" },
};

static void
test_corrupt (gconstpointer data)
{
  const CorruptCase *c = data;
  g_autoptr (GBytes) bytes
      = make_file (c->header, c->header_len, NULL, c->data_len);

  expect_open_fails (bytes, c->code, c->substr);
}

static void
test_short_file (void)
{
  static const guint8 five[] = { 1, 2, 3, 4, 5 };
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GBytes) short5 = g_bytes_new_static (five, sizeof five);

  expect_open_fails (empty, SD_ERROR_FORMAT,
      "file is 0 bytes, too short to hold the 8-byte header length");
  expect_open_fails (short5, SD_ERROR_FORMAT, "file is 5 bytes, too short");
}

/* Rewrite the 8-byte length of a valid file. */
static GBytes *
with_header_length (guint64 n)
{
  g_autoptr (GBytes) b = make_file ("{\"a\":" T1 "}", -1, NULL, 8);
  gsize len;
  guint8 *d = g_bytes_unref_to_data (g_steal_pointer (&b), &len);

  n = GUINT64_TO_LE (n);
  memcpy (d, &n, 8);
  return g_bytes_new_take (d, len);
}

static void
test_header_length (void)
{
  g_autoptr (GBytes) zero = with_header_length (0);
  g_autoptr (GBytes) huge = with_header_length (G_MAXUINT64);
  g_autoptr (GBytes) limit = with_header_length (100 * 1024 * 1024 + 1);
  g_autoptr (GBytes) over = with_header_length (1000);
  g_autoptr (GBytes) into_data = with_header_length (54 + 4);
  g_autoptr (GBytes) short_json = with_header_length (20);

  expect_open_fails (zero, SD_ERROR_FORMAT, "header length is 0");
  expect_open_fails (huge, SD_ERROR_FORMAT,
      "header length 18446744073709551615 is more than the limit of "
      "104857600 bytes (100 MiB)");
  expect_open_fails (
      limit, SD_ERROR_FORMAT, "header length 104857601 is more than the limit");
  expect_open_fails (over, SD_ERROR_FORMAT,
      "header length 1000 is more than the 62 bytes that follow it");
  /* the header swallows 4 data bytes (zeros: NUL) */
  expect_open_fails (into_data, SD_ERROR_FORMAT, "NUL byte at byte 54");
  expect_open_fails (short_json, SD_ERROR_FORMAT, "not valid JSON");
}

static void
test_deep_nesting (void)
{
  GString *h = g_string_new ("{\"a\":");
  g_autoptr (GBytes) bytes = NULL;

  for (int i = 0; i < 100000; i++)
    g_string_append_c (h, '[');
  for (int i = 0; i < 100000; i++)
    g_string_append_c (h, ']');
  g_string_append_c (h, '}');
  bytes = make_file (h->str, (gssize) h->len, NULL, 0);
  g_string_free (h, TRUE);
  expect_open_fails (bytes, SD_ERROR_FORMAT, "nested deeper than 64 levels");
}

/* Names in messages are escaped and shortened. */
static void
test_long_name (void)
{
  g_autofree char *name = g_strnfill (10000, 'x');
  g_autofree char *header = g_strdup_printf (
      "{\"%s\":{\"dtype\":\"Q\",\"shape\":[],\"data_offsets\":[0,0]}}", name);
  g_autoptr (GBytes) bytes = make_file (header, -1, NULL, 0);
  GError *error = NULL;

  g_assert_null (sd_safetensors_new_from_bytes (bytes, "long", &error));
  assert_error (error, SD_ERROR_FORMAT, "long", "xxx...': unsupported dtype");
  g_assert_cmpuint (strlen (error->message), <, 300);
  g_error_free (error);
}

/* Every proper prefix of a valid file fails cleanly. */
static void
test_truncated (void)
{
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  const float v[6] = { 1, 2, 3, 4, 5, 6 }, s = 7;
  const gint64 shape[] = { 2, 3 };
  g_autoptr (GBytes) full = NULL;
  const guint8 *d;
  gsize len;

  sd_safetensors_writer_add_metadata (w, "format", "pt");
  sd_safetensors_writer_add_f32 (w, "a", v, 2, shape);
  sd_safetensors_writer_add_f32 (w, "s", &s, 0, NULL);
  full = sd_safetensors_writer_to_bytes (w);
  d = g_bytes_get_data (full, &len);
  sd_safetensors_free (load_ok (full));

  for (gsize n = 0; n < len; n++) {
    /* a copy, so that ASan sees reads past the end */
    g_autoptr (GBytes) part = g_bytes_new (d, n);
    GError *error = NULL;
    SdSafetensors *st = sd_safetensors_new_from_bytes (part, "cut", &error);

    if (st)
      g_error ("prefix of %" G_GSIZE_FORMAT " bytes loaded", n);
    g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
    g_assert_true (g_str_has_prefix (error->message, "cut: "));
    g_error_free (error);
  }
}

static void
test_truncated_file (void)
{
  g_autoptr (GBytes) full = g_bytes_new_static (hand_file, sizeof hand_file);
  g_autoptr (GBytes) part = g_bytes_new_from_bytes (full, 0, 8 + 144 + 10);

  expect_open_fails (part, SD_ERROR_FORMAT,
      "tensor 's': data_offsets [8, 12] go beyond the end of the data "
      "section (10 bytes)");
}

/* ---- copy_f32 ---- */

static void
test_copy_not_f32 (void)
{
  static const char h[]
      = "{\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}";
  g_autoptr (GBytes) bytes = make_file (h, -1, NULL, 8);
  g_autoptr (SdSafetensors) st = load_ok (bytes);
  float dst[2];
  GError *error = NULL;

  g_assert_false (sd_safetensors_copy_f32 (
      st, sd_safetensors_get (st, "n"), dst, -1, NULL, FALSE, &error));
  assert_error (
      error, SD_ERROR_FORMAT, "mem", "tensor 'n' has dtype I64, expected F32");
  g_error_free (error);
}

static SdSafetensors *
nonfinite_file (float bad, guint at)
{
  float v[6] = { 1, 2, 3, 4, 5, 6 };
  const gint64 shape[] = { 2, 3 };
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  g_autoptr (GBytes) bytes = NULL;

  v[at] = bad;
  sd_safetensors_writer_add_f32 (w, "fc.weight", v, 2, shape);
  bytes = sd_safetensors_writer_to_bytes (w);
  return load_ok (bytes);
}

static void
test_copy_nonfinite (void)
{
  const gint64 shape[] = { 2, 3 };
  g_autoptr (SdSafetensors) st_nan = nonfinite_file (NAN, 3);
  g_autoptr (SdSafetensors) pinf = nonfinite_file (INFINITY, 5);
  g_autoptr (SdSafetensors) ninf = nonfinite_file (-INFINITY, 0);
  float dst[6];
  GError *error = NULL;

  g_assert_false (sd_safetensors_copy_f32 (st_nan,
      sd_safetensors_get (st_nan, "fc.weight"), dst, 2, shape, TRUE, &error));
  assert_error (error, SD_ERROR_NONFINITE, "mem",
      "tensor 'fc.weight': value at flat index 3 is NaN");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_copy_f32 (pinf,
      sd_safetensors_get (pinf, "fc.weight"), dst, 2, shape, TRUE, &error));
  assert_error (error, SD_ERROR_NONFINITE, "mem",
      "tensor 'fc.weight': value at flat index 5 is +Inf");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_copy_f32 (ninf,
      sd_safetensors_get (ninf, "fc.weight"), dst, 2, shape, TRUE, &error));
  assert_error (error, SD_ERROR_NONFINITE, "mem", "flat index 0 is -Inf");
  g_clear_error (&error);

  /* without require_finite the values are copied as they are */
  g_assert_true (sd_safetensors_copy_f32 (st_nan,
      sd_safetensors_get (st_nan, "fc.weight"), dst, 2, shape, FALSE, &error));
  g_assert_no_error (error);
  g_assert_true (isnan (dst[3]));
  g_assert_cmpfloat (dst[5], ==, 6);
}

static void
test_copy_shape (void)
{
  const gint64 want[] = { 3, 2 }, flat[] = { 6 }, want3[] = { 2, 3, 1 };
  g_autoptr (SdSafetensors) st = nonfinite_file (0, 0);
  const SdTensorView *t = sd_safetensors_get (st, "fc.weight");
  float dst[6];
  GError *error = NULL;

  g_assert_false (sd_safetensors_copy_f32 (st, t, dst, 2, want, TRUE, &error));
  assert_error (error, SD_ERROR_MODEL, "mem",
      "tensor 'fc.weight': expected shape [3, 2] but the file has [2, 3]");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_copy_f32 (st, t, dst, 1, flat, TRUE, &error));
  assert_error (error, SD_ERROR_MODEL, "mem", "expected shape [6] but");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_copy_f32 (st, t, dst, 3, want3, TRUE, &error));
  assert_error (error, SD_ERROR_MODEL, "mem", "expected shape [2, 3, 1] but");
  g_clear_error (&error);
  g_assert_false (sd_safetensors_copy_f32 (st, t, dst, 0, NULL, TRUE, &error));
  assert_error (error, SD_ERROR_MODEL, "mem", "expected shape [] but");
  g_clear_error (&error);
}

/* ---- random corruption ---- */

static void
check_loaded (SdSafetensors *st, GBytes *bytes)
{
  gsize len;
  const guint8 *d = g_bytes_get_data (bytes, &len);
  g_autofree const char **keys = sd_safetensors_get_metadata_keys (st);
  float buf[64];

  for (guint i = 0; keys[i]; i++)
    g_assert_nonnull (sd_safetensors_get_metadata (st, keys[i]));
  for (guint i = 0; i < sd_safetensors_get_n_tensors (st); i++) {
    const SdTensorView *t = sd_safetensors_get_nth (st, i);
    GError *error = NULL;

    g_assert_true (sd_safetensors_get (st, t->name) == t);
    g_assert_cmpuint (t->nbytes, ==, t->numel * sd_dtype_size (t->dtype));
    g_assert_true (t->data >= d && t->data + t->nbytes <= d + len);
    if (t->dtype == SD_DTYPE_F32 && t->numel <= 64) {
      g_assert_true (
          sd_safetensors_copy_f32 (st, t, buf, -1, NULL, FALSE, &error));
      g_assert_no_error (error);
    }
  }
}

static const char interesting[] = "{}[]\",:0123456789-+.eE \\u/ntfal\x80\xff";

static guint8
random_byte (GRand *rng)
{
  if (g_rand_boolean (rng))
    return (guint8) g_rand_int_range (rng, 0, 256);
  return (
      guint8) interesting[g_rand_int_range (rng, 0, sizeof interesting - 1)];
}

/* A copy of the valid file with 1-4 random mutations: bit flips, random or
 * JSON-ish bytes, and bytes deleted from or inserted into the header (the
 * header length is adjusted so that the JSON parser sees the result). */
static GBytes *
mutate (GRand *rng, const guint8 *d, gsize len)
{
  GByteArray *m = g_byte_array_sized_new ((guint) len + 8);
  int n_mut = g_rand_int_range (rng, 1, 5);

  g_byte_array_append (m, d, (guint) len);
  for (int k = 0; k < n_mut; k++) {
    guint64 hl;
    gsize pos;
    guint8 c;

    memcpy (&hl, m->data, 8);
    hl = GUINT64_FROM_LE (hl);
    if (hl == 0 || hl > m->len - 8)
      hl = m->len - 8; /* length already broken: anywhere */
    /* mostly the header, which is where the parsing is */
    pos = g_rand_int_range (rng, 0, 4)
              ? 8 + (gsize) g_rand_int_range (rng, 0, (gint32) MAX (hl, 1))
              : (gsize) g_rand_int_range (rng, 0, (gint32) m->len);
    pos = MIN (pos, m->len - 1);
    switch (g_rand_int_range (rng, 0, 4)) {
      case 0:
        m->data[pos] ^= (guint8) (1u << g_rand_int_range (rng, 0, 8));
        break;
      case 1:
        m->data[pos] = random_byte (rng);
        break;
      case 2:
        if (pos >= 8 && pos < 8 + hl && hl > 1) {
          g_byte_array_remove_index (m, (guint) pos);
          hl = GUINT64_TO_LE (hl - 1);
          memcpy (m->data, &hl, 8);
        }
        break;
      default:
        if (pos >= 8 && pos < 8 + hl) {
          c = random_byte (rng);
          g_byte_array_set_size (m, m->len + 1);
          memmove (m->data + pos + 1, m->data + pos, m->len - 1 - pos);
          m->data[pos] = c;
          hl = GUINT64_TO_LE (hl + 1);
          memcpy (m->data, &hl, 8);
        }
        break;
    }
  }
  return g_byte_array_free_to_bytes (m);
}

static void
test_fuzz (void)
{
  g_autoptr (SdSafetensorsWriter) w = sd_safetensors_writer_new ();
  const float v[6] = { 1, 2, 3, 4, 5, 6 }, s = 7;
  const gint64 shape[] = { 2, 3 }, s1[] = { 3 }, s0[] = { 0 };
  g_autoptr (GBytes) valid = NULL;
  g_autoptr (GRand) rng = g_rand_new_with_seed (20240601);
  const guint8 *d;
  gsize len;
  guint n_ok = 0, n_fail = 0;

  sd_safetensors_writer_add_metadata (w, "format", "pt");
  sd_safetensors_writer_add_metadata (w, "labels", "[\"-1\",\"1\"]");
  sd_safetensors_writer_add_f32 (w, "a", v, 2, shape);
  sd_safetensors_writer_add_f32 (w, "s", &s, 0, NULL);
  sd_safetensors_writer_add_f32 (w, "e", NULL, 1, s0);
  sd_safetensors_writer_add_f32 (w, "b", v, 1, s1);
  valid = sd_safetensors_writer_to_bytes (w);
  d = g_bytes_get_data (valid, &len);

  for (int iter = 0; iter < 5000; iter++) {
    g_autoptr (GBytes) bytes = mutate (rng, d, len);
    GError *error = NULL;
    SdSafetensors *st = sd_safetensors_new_from_bytes (bytes, "fuzz", &error);

    if (st) {
      g_assert_no_error (error);
      check_loaded (st, bytes);
      sd_safetensors_free (st);
      n_ok++;
    } else {
      g_assert_error (error, SD_ERROR, SD_ERROR_FORMAT);
      g_assert_true (g_str_has_prefix (error->message, "fuzz: "));
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      /* json-glib's own errors ("<data>:1:2: Parse error...") would mean
       * the strict validator let through something json-glib rejects */
      if (strstr (error->message, "<data>"))
        g_error ("validator and json-glib disagree: %s", error->message);
      g_error_free (error);
      n_fail++;
    }
  }
  g_test_message ("fuzz: %u loaded, %u rejected", n_ok, n_fail);
  g_assert_cmpuint (n_ok, >, 0);
  g_assert_cmpuint (n_fail, >, 0);
}

int
main (int argc, char **argv)
{
  GError *error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);

  tmpdir = g_dir_make_tmp ("seqdream-st-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/safetensors/dtypes", test_dtypes);
  g_test_add_func ("/safetensors/roundtrip", test_roundtrip);
  g_test_add_func ("/safetensors/empty", test_empty);
  g_test_add_func ("/safetensors/byte-exact", test_byte_exact);
  g_test_add_func ("/safetensors/unaligned", test_unaligned);
  g_test_add_func ("/safetensors/accept", test_accept);
  g_test_add_func ("/safetensors/open-missing", test_open_missing);
  g_test_add_func ("/safetensors/short-file", test_short_file);
  g_test_add_func ("/safetensors/header-length", test_header_length);
  g_test_add_func ("/safetensors/deep-nesting", test_deep_nesting);
  g_test_add_func ("/safetensors/long-name", test_long_name);
  g_test_add_func ("/safetensors/truncated", test_truncated);
  g_test_add_func ("/safetensors/truncated-file", test_truncated_file);
  for (guint i = 0; i < G_N_ELEMENTS (corrupt_cases); i++) {
    g_autofree char *path
        = g_strconcat ("/safetensors/corrupt/", corrupt_cases[i].name, NULL);
    g_test_add_data_func (path, &corrupt_cases[i], test_corrupt);
  }
  g_test_add_func ("/safetensors/copy/not-f32", test_copy_not_f32);
  g_test_add_func ("/safetensors/copy/nonfinite", test_copy_nonfinite);
  g_test_add_func ("/safetensors/copy/shape", test_copy_shape);
  g_test_add_func ("/safetensors/fuzz", test_fuzz);

  ret = g_test_run ();

  g_assert_cmpint (g_rmdir (tmpdir), ==, 0);
  g_free (tmpdir);
  return ret;
}
