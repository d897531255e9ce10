/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/error.h"

G_DEFINE_QUARK (seqdream - error - quark, sd_error)
