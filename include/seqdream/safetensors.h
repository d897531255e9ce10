/* seqdream: safetensors reading and writing.
 *
 * The format (https://github.com/huggingface/safetensors): 8-byte
 * little-endian header length N, N bytes of JSON header, then the raw
 * little-endian tensor data. The header maps tensor names to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
 * start of the data section) and may hold "__metadata__", a map of string
 * to string.
 *
 * The reader treats the file as untrusted: header length, JSON, dtypes,
 * shapes, offsets, overlap and coverage of the data section are all checked
 * before any tensor is exposed; every failure is a GError (SD_ERROR_FORMAT)
 * naming the file and the problem.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SD_DTYPE_F32,
  SD_DTYPE_F64,
  SD_DTYPE_F16,
  SD_DTYPE_BF16,
  SD_DTYPE_I64,
  SD_DTYPE_I32,
  SD_DTYPE_I16,
  SD_DTYPE_I8,
  SD_DTYPE_U8,
  SD_DTYPE_BOOL,
} SdDtype;

#define SD_TENSOR_MAX_DIMS 8

typedef struct
{
  const char *name; /* owned by the SdSafetensors */
  SdDtype dtype;
  int ndim; /* 0 (scalar) .. SD_TENSOR_MAX_DIMS */
  gint64 shape[SD_TENSOR_MAX_DIMS];
  gint64 numel;       /* product of shape (1 for a scalar) */
  const guint8 *data; /* NOT necessarily aligned: use memcpy */
  gsize nbytes;
} SdTensorView;

typedef struct _SdSafetensors SdSafetensors;

/* Read and validate a whole file. */
SdSafetensors *sd_safetensors_open (const char *path, GError **error);
/* Validate an in-memory file (e.g. from a GResource); display_name is used
 * in error messages. The bytes are referenced, not copied. */
SdSafetensors *sd_safetensors_new_from_bytes (
    GBytes *bytes, const char *display_name, GError **error);
void sd_safetensors_free (SdSafetensors *st);

const char *sd_safetensors_get_display_name (const SdSafetensors *st);
guint sd_safetensors_get_n_tensors (const SdSafetensors *st);
/* Tensors in data-offset order. */
const SdTensorView *sd_safetensors_get_nth (const SdSafetensors *st, guint i);
/* NULL when absent. */
const SdTensorView *sd_safetensors_get (
    const SdSafetensors *st, const char *name);
/* "__metadata__" string value or NULL. */
const char *sd_safetensors_get_metadata (
    const SdSafetensors *st, const char *key);
/* NULL-terminated list of metadata keys; free with g_free (strings are
 * owned by st). */
const char **sd_safetensors_get_metadata_keys (const SdSafetensors *st);

/* Copy an F32 tensor to dst (numel floats), converting from little endian.
 * Fails (naming the tensor and the file) if the dtype is not F32, if the
 * shape differs from expect_shape (when expect_ndim >= 0), or if
 * require_finite and a value is NaN/Inf. */
gboolean sd_safetensors_copy_f32 (const SdSafetensors *st,
    const SdTensorView *t, float *dst, int expect_ndim,
    const gint64 *expect_shape, gboolean require_finite, GError **error);

const char *sd_dtype_to_string (SdDtype dtype);
gsize sd_dtype_size (SdDtype dtype);

/* Writer: collects tensors (copied) and metadata, writes in insertion
 * order with the header padded with spaces to a multiple of 8 bytes. */
typedef struct _SdSafetensorsWriter SdSafetensorsWriter;

SdSafetensorsWriter *sd_safetensors_writer_new (void);
void sd_safetensors_writer_free (SdSafetensorsWriter *w);
void sd_safetensors_writer_add_metadata (
    SdSafetensorsWriter *w, const char *key, const char *value);
void sd_safetensors_writer_add_f32 (SdSafetensorsWriter *w, const char *name,
    const float *data, int ndim, const gint64 *shape);
GBytes *sd_safetensors_writer_to_bytes (SdSafetensorsWriter *w);
/* Atomic: writes to a temporary file and renames it. */
gboolean sd_safetensors_writer_write (
    SdSafetensorsWriter *w, const char *path, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdSafetensors, sd_safetensors_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SdSafetensorsWriter, sd_safetensors_writer_free)

G_END_DECLS
