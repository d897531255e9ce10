/* A strict JSON checker for text from untrusted files (internal).
 *
 * json-glib 1.6 is lenient: it accepts comments, single quotes, hex
 * numbers, raw control characters in strings, silently wraps integers that
 * do not fit in 64 bits, truncates strings at \u0000, keeps the last of
 * duplicate keys and recurses without a depth limit. Text from a file is
 * therefore checked here against RFC 8259 (also rejecting duplicate keys,
 * NUL escapes, lone surrogates, out-of-range integers and nesting deeper
 * than SD_JSON_MAX_DEPTH) before json-glib builds a tree from it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SD_JSON_MAX_DEPTH 64

/* NULL when the len bytes of text (valid UTF-8, not necessarily
 * NUL-terminated) are one strictly valid JSON value with nothing but
 * whitespace around it; else the reason and where, e.g. "unexpected ','
 * at byte 12" (free it). trailing is the reason given for data after the
 * value. Duplicate keys are worded for safetensors headers ("duplicate
 * tensor name ..." at the root). */
G_GNUC_INTERNAL char *sd_json_check (
    const char *text, gsize len, const char *trailing);

/* The first position at or after pos of the len bytes of text that is not
 * JSON whitespace (len when there is none). */
G_GNUC_INTERNAL gsize sd_json_skip_whitespace (
    const char *text, gsize len, gsize pos);

/* TRUE when text is one strictly valid JSON value; else an
 * SD_ERROR_FORMAT error "invalid JSON: ...". Call it before json-glib
 * parses text from an untrusted file. */
G_GNUC_INTERNAL gboolean sd_json_validate (const char *text, GError **error);

/* 'name' for an error message about untrusted text (valid UTF-8): quotes
 * and backslashes escaped, characters that are not printable as
 * \u{XXXX}, cut after 80 characters. */
G_GNUC_INTERNAL char *sd_quote_name (const char *s);

G_END_DECLS
