/* Functions shared inside libseqdream, not part of its API.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when text is one strictly valid JSON value (RFC 8259, no duplicate
 * keys, nesting at most 64 deep); else an SD_ERROR_FORMAT error. Call it
 * before json-glib parses text from an untrusted file. */
G_GNUC_INTERNAL gboolean sd_json_validate (const char *text, GError **error);

G_END_DECLS
