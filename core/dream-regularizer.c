/* The regularisers: names, defaults, the text form TYPE:KEY=VALUE,... and
 * the penalties and filters that act on a sequence or gradient (T). The
 * formulas and the reasons for every default are in docs/dreaming.md.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------- names */

/* By SdRegType; NULL-terminated for g_strjoinv. */
static const char *const reg_names[] = {
  [SD_REG_L1] = "l1",
  [SD_REG_L2] = "l2",
  [SD_REG_TV] = "tv",
  [SD_REG_TV2] = "tv2",
  [SD_REG_EXP_SMOOTH] = "exp-smooth",
  [SD_REG_EXP_SMOOTH_ZEROPHASE] = "exp-smooth-zerophase",
  [SD_REG_GAUSSIAN] = "gaussian",
  [SD_REG_CLIP] = "clip",
  [SD_REG_NORM_BOUND] = "norm-bound",
  [SD_REG_JITTER] = "jitter",
  [SD_REG_SCALE] = "scale",
  [SD_REG_NOISE] = "noise",
  [SD_REG_SPECTRUM] = "spectrum",
  [SD_REG_SPECTRAL_FILTER] = "spectral-filter",
  [SD_REG_FEATURE] = "feature",
  [SD_REG_SPECTRAL_PROJECT] = "spectral-project",
  NULL,
};

const char *
sd_reg_type_to_string (SdRegType type)
{
  if ((guint) type >= G_N_ELEMENTS (reg_names) - 1)
    return NULL;
  return reg_names[type];
}

gboolean
sd_reg_type_from_string (const char *s, SdRegType *type)
{
  if (s == NULL)
    return FALSE;
  for (guint i = 0; reg_names[i] != NULL; i++) {
    if (g_ascii_strcasecmp (s, reg_names[i]) == 0) {
      if (type != NULL)
        *type = (SdRegType) i;
      return TRUE;
    }
  }
  return FALSE;
}

/* ---------------------------------------------------------- defaults */

SdRegularizer
sd_regularizer_default (SdRegType type)
{
  /* The reasons for every number are in docs/dreaming.md. */
  SdRegularizer r;
  memset (&r, 0, sizeof r);
  r.type = type;
  r.every = 1;
  r.start = 0.0f;
  r.end = 1.0f;
  r.apply_to = SD_APPLY_SEQUENCE;
  switch (type) {
    case SD_REG_L1:
    case SD_REG_L2:
    case SD_REG_TV:
    case SD_REG_TV2:
      r.weight = 1.0f;
      break;
    case SD_REG_EXP_SMOOTH:
    case SD_REG_EXP_SMOOTH_ZEROPHASE:
      r.param = 0.8f;
      r.every = 10;
      break;
    case SD_REG_GAUSSIAN:
      r.param = 0.7f;
      r.every = 10;
      break;
    case SD_REG_CLIP:
      r.param = 0.0f; /* both 0: the model's training input range */
      r.param2 = 0.0f;
      break;
    case SD_REG_NORM_BOUND:
      r.param = 1.0f;
      break;
    case SD_REG_JITTER:
      r.param = 8.0f;
      break;
    case SD_REG_SCALE:
      r.param = 0.9f;
      r.param2 = 1.1f;
      break;
    case SD_REG_NOISE:
      r.param = 0.3f;
      break;
    case SD_REG_SPECTRUM:
      r.weight = 1.0f;
      r.param = 1e-4f;
      break;
    case SD_REG_SPECTRAL_FILTER:
      r.param = 40.0f;
      break;
    case SD_REG_FEATURE:
      r.weight = 0.1f;
      break;
    case SD_REG_SPECTRAL_PROJECT:
      r.param = 1.0f;
      r.param2 = 1.0f;
      break;
  }
  return r;
}

/* --------------------------------------------------------- text form */

/* "l1, l2, ..., feature": every name, for error messages. */
static char *
reg_name_list (void)
{
  return g_strjoinv (", ", (char **) reg_names);
}

/* One KEY=VALUE of a regulariser's text form into r. */
static gboolean
parse_reg_key (const char *spec, const char *kv, const SdModel *model,
    SdRegularizer *r, GError **error)
{
  const char *eq = strchr (kv, '=');
  if (eq == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "regulariser '%s': '%s' is not KEY=VALUE", spec, kv);
    return FALSE;
  }
  g_autofree char *key = g_strndup (kv, eq - kv);
  const char *val = eq + 1;
  if (strcmp (key, "apply") == 0) {
    if (strcmp (val, "sequence") == 0)
      r->apply_to = SD_APPLY_SEQUENCE;
    else if (strcmp (val, "gradient") == 0)
      r->apply_to = SD_APPLY_GRADIENT;
    else {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "regulariser '%s': apply must be sequence or gradient, not '%s'",
          spec, val);
      return FALSE;
    }
    return TRUE;
  }
  char *end = NULL;
  double v = g_ascii_strtod (val, &end);
  if (end == val || *end != '\0' || !isfinite (v)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "regulariser '%s': '%s' is not a number", spec, val);
    return FALSE;
  }
  if (strcmp (key, "weight") == 0)
    r->weight = (float) v;
  else if (strcmp (key, "param") == 0)
    r->param = (float) v;
  else if (strcmp (key, "param2") == 0)
    r->param2 = (float) v;
  else if (strcmp (key, "every") == 0)
    r->every = (int) v;
  else if (strcmp (key, "start") == 0)
    r->start = (float) v;
  else if (strcmp (key, "end") == 0)
    r->end = (float) v;
  else if (strcmp (key, "smooth") == 0) {
    /* Hz -> cycles per sample */
    const double rate = model != NULL ? sd_model_get_sample_rate (model) : 0;
    if (!(rate > 0.0)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "regulariser '%s': smooth is in Hz and the model has no sample "
          "rate (train it from WAV data)",
          spec);
      return FALSE;
    }
    r->smooth = (float) (v / rate);
  } else {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "regulariser '%s': unknown key '%s' (weight, param, param2, every, "
        "start, end, apply, smooth)",
        spec, key);
    return FALSE;
  }
  return TRUE;
}

gboolean
sd_regularizer_parse (
    const char *spec, const SdModel *model, SdRegularizer *reg, GError **error)
{
  g_return_val_if_fail (spec != NULL && reg != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_auto (GStrv) parts = g_strsplit (spec, ":", 2);
  SdRegType type;
  if (!sd_reg_type_from_string (parts[0], &type)) {
    g_autofree char *names = reg_name_list ();
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "regulariser '%s': unknown type '%s' (%s)", spec,
        parts[0] ? parts[0] : "", names);
    return FALSE;
  }
  SdRegularizer r = sd_regularizer_default (type);
  if (parts[1] != NULL) {
    g_auto (GStrv) kvs = g_strsplit (parts[1], ",", -1);
    for (int i = 0; kvs[i]; i++)
      if (!parse_reg_key (spec, kvs[i], model, &r, error))
        return FALSE;
  }
  *reg = r;
  return TRUE;
}

/* ------------------------------------------------ penalties (O(T)) */

static inline float
signf (float u)
{
  return (float) ((u > 0.0f) - (u < 0.0f));
}

double
dream_penalty_value (SdRegType type, const float *x, int T)
{
  double s = 0.0;
  switch (type) {
    case SD_REG_L1:
      for (int t = 0; t < T; t++)
        s += fabsf (x[t]);
      return s / T;
    case SD_REG_L2:
      for (int t = 0; t < T; t++)
        s += (double) x[t] * x[t];
      return s / T;
    case SD_REG_TV:
      for (int t = 0; t + 1 < T; t++)
        s += fabsf (x[t + 1] - x[t]);
      return T > 1 ? s / (T - 1) : 0.0;
    case SD_REG_TV2:
      for (int t = 0; t + 1 < T; t++) {
        double u = (double) x[t + 1] - x[t];
        s += u * u;
      }
      return T > 1 ? s / (T - 1) : 0.0;
    default:
      return 0.0;
  }
}

void
dream_penalty_subtract_grad (
    SdRegType type, const float *x, int T, float weight, float *g)
{
  switch (type) {
    case SD_REG_L1: {
      const float c = weight / T;
      for (int t = 0; t < T; t++)
        g[t] -= c * signf (x[t]);
      break;
    }
    case SD_REG_L2: {
      const float c = 2.0f * weight / T;
      for (int t = 0; t < T; t++)
        g[t] -= c * x[t];
      break;
    }
    case SD_REG_TV: {
      if (T < 2)
        break;
      /* dP/dx[t] = (sign(x[t]-x[t-1]) - sign(x[t+1]-x[t])) / (T-1) */
      const float c = weight / (T - 1);
      for (int t = 0; t + 1 < T; t++) {
        float u = c * signf (x[t + 1] - x[t]);
        g[t] += u;
        g[t + 1] -= u;
      }
      break;
    }
    case SD_REG_TV2: {
      if (T < 2)
        break;
      const float c = 2.0f * weight / (T - 1);
      for (int t = 0; t + 1 < T; t++) {
        float u = c * (x[t + 1] - x[t]);
        g[t] += u;
        g[t + 1] -= u;
      }
      break;
    }
    default:
      break;
  }
}

/* ------------------------------------------------- filters (O(T)) */

void
dream_exp_smooth_forward (float *x, int T, float a)
{
  const float b = 1.0f - a;
  float y = x[0];
  for (int t = 1; t < T; t++) {
    y = a * x[t] + b * y;
    x[t] = y;
  }
}

void
dream_exp_smooth_backward (float *x, int T, float a)
{
  const float b = 1.0f - a;
  float y = x[T - 1];
  for (int t = T - 2; t >= 0; t--) {
    y = a * x[t] + b * y;
    x[t] = y;
  }
}

int
dream_gaussian_radius (float sigma)
{
  return MAX (1, (int) ceil (3.0 * sigma));
}

void
dream_gaussian_kernel (float *w, float sigma, int R)
{
  double z = 0.0;
  g_autofree double *e = g_new (double, R + 1);
  for (int k = 0; k <= R; k++) {
    e[k] = exp (-(double) k * k / (2.0 * (double) sigma * sigma));
    z += k == 0 ? e[k] : 2.0 * e[k];
  }
  for (int k = 0; k <= R; k++)
    w[k] = (float) (e[k] / z);
}

void
dream_gaussian_filter (float *x, int T, const float *w, int R, float *pad)
{
  for (int j = 0; j < R; j++) {
    pad[j] = x[dream_reflect_index (j - R, T)];
    pad[T + R + j] = x[dream_reflect_index (T + j, T)];
  }
  memcpy (pad + R, x, (gsize) T * sizeof (float));
  const float *c = pad + R;
  for (int t = 0; t < T; t++)
    x[t] = w[0] * c[t];
  for (int k = 1; k <= R; k++) {
    const float wk = w[k];
    const float *l = c - k, *r = c + k;
    for (int t = 0; t < T; t++)
      x[t] += wk * (l[t] + r[t]);
  }
}
