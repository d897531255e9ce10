/* seqdream: error domain shared by every part of libseqdream.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SD_ERROR (sd_error_quark ())
GQuark sd_error_quark (void);

/* Every GError that libseqdream returns is in SD_ERROR with one of these
 * codes; the message always names the file or value and what was expected. */
typedef enum
{
  SD_ERROR_IO,          /* a file could not be read or written */
  SD_ERROR_FORMAT,      /* malformed input: header, JSON, text, WAV */
  SD_ERROR_MODEL,       /* a model that does not fit its architecture */
  SD_ERROR_NONFINITE,   /* NaN or Inf where a finite value is required */
  SD_ERROR_INVALID_ARG, /* an impossible parameter value */
  SD_ERROR_DIVERGED,    /* an optimisation produced NaN/Inf */
  SD_ERROR_CANCELLED,   /* stopped on request (SdDreamConfig.cancel) */
  SD_ERROR_NOMEM,       /* an allocation failed (the size it asked for is
                         * in the message) */
} SdErrorCode;

G_END_DECLS
