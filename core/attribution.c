/* Attributions (seqdream/attribution.h): saliency, gradient x input,
 * integrated gradients, SmoothGrad. docs/explain.md gives the formulas and
 * the measurements behind the defaults.
 *
 * Every method is a sequence of rows through the model: a row is one
 * series in the model's input space (x normalised, a point on the IG
 * path, a noisy copy), forwarded and, for the gradient methods,
 * backpropagated from a one-hot dlogits at its series' target class with
 * the input-only backward (eval workspace, no parameter gradients). The
 * rows go through the workspace max_batch at a time (run_rows); what
 * fills a row and what becomes of its gradient are small callbacks per
 * method.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/attribution.h"

#include <math.h>
#include <string.h>

struct _SdAttributor
{
  SdModel *model;
  SdWorkspace *ws;
  int max_B, max_T, K;
  float *mem;     /* one allocation for xin, dx, dlogits */
  float *xin;     /* (max_B, max_T) rows in the model's input space */
  float *dx;      /* (max_B, max_T) their input gradients */
  float *dlogits; /* (max_B, K) one-hot at the target */
  double *sd;     /* (max_B) the data-unit scale of each row */
};

/* -------------------------------------------------------------- names */

static const char *const method_names[]
    = { "saliency", "gradxinput", "ig", "smoothgrad" };
static const char *const rule_names[] = { "gauss-legendre", "trapezoid" };

const char *
sd_attribution_method_to_string (SdAttributionMethod method)
{
  if ((guint) method < G_N_ELEMENTS (method_names))
    return method_names[method];
  return "unknown";
}

gboolean
sd_attribution_method_from_string (const char *s, SdAttributionMethod *method)
{
  for (guint i = 0; i < G_N_ELEMENTS (method_names); i++)
    if (g_strcmp0 (s, method_names[i]) == 0) {
      *method = (SdAttributionMethod) i;
      return TRUE;
    }
  return FALSE;
}

const char *
sd_ig_rule_to_string (SdIgRule rule)
{
  if ((guint) rule < G_N_ELEMENTS (rule_names))
    return rule_names[rule];
  return "unknown";
}

gboolean
sd_ig_rule_from_string (const char *s, SdIgRule *rule)
{
  for (guint i = 0; i < G_N_ELEMENTS (rule_names); i++)
    if (g_strcmp0 (s, rule_names[i]) == 0) {
      *rule = (SdIgRule) i;
      return TRUE;
    }
  return FALSE;
}

/* ------------------------------------------------------------- config */

void
sd_attribution_config_init (
    SdAttributionConfig *config, SdAttributionMethod method)
{
  g_return_if_fail (config != NULL);
  memset (config, 0, sizeof *config);
  config->method = method;
  config->target = -1;
  config->baseline_type = SD_BASELINE_ZEROS;
  config->steps = SD_IG_DEFAULT_STEPS;
  config->rule = SD_IG_TRAPEZOID;
  config->tolerance = 0.01f;
  config->max_steps = SD_IG_DEFAULT_MAX_STEPS;
  config->samples = SD_SMOOTHGRAD_DEFAULT_SAMPLES;
  config->noise = 0.15f;
  config->seed = 0;
}

void
sd_attribution_free (SdAttribution *a)
{
  if (a == NULL)
    return;
  g_free (a->values);
  g_free (a->target);
  g_free (a->predicted);
  g_free (a->logits);
  g_free (a->logit);
  g_free (a->baseline_logit);
  g_free (a->steps);
  g_free (a);
}

/* --------------------------------------------------------- attributor */

SdAttributor *
sd_attributor_new (
    SdModel *model, int max_batch, int max_length, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  SdWorkspace *ws
      = sd_workspace_new (model, max_batch, max_length, SD_MODE_EVAL, error);
  if (ws == NULL)
    return NULL;
  SdAttributor *a = g_new0 (SdAttributor, 1);
  a->model = sd_model_ref (model);
  a->ws = ws;
  a->max_B = max_batch;
  a->max_T = max_length;
  a->K = sd_model_get_n_classes (model);
  const gsize BT = (gsize) max_batch * max_length;
  const gsize total = 2 * BT + (gsize) max_batch * a->K;
  a->mem = g_try_new0 (float, total);
  if (a->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for an attributor of batch %d x length %d (%.1f GiB)",
        max_batch, max_length, (double) total * sizeof (float) / (1 << 30));
    sd_attributor_free (a);
    return NULL;
  }
  a->xin = a->mem;
  a->dx = a->xin + BT;
  a->dlogits = a->dx + BT;
  a->sd = g_new (double, max_batch);
  return a;
}

void
sd_attributor_free (SdAttributor *a)
{
  if (a == NULL)
    return;
  sd_workspace_free (a->ws);
  sd_model_unref (a->model);
  g_free (a->mem);
  g_free (a->sd);
  g_free (a);
}

/* ------------------------------------------------------ rows and units */

/* The normalisation of the rows: the config's, else the model's. */
static SdNormalization
config_normalization (const SdModel *m, const SdAttributionConfig *c)
{
  return c->normalization != NULL ? *c->normalization
                                  : sd_model_get_normalization (m);
}

/* What a method does with its rows: fill row `row` (T values, model
 * input space) and set sd[0] to its data-unit scale; after the forward,
 * the class to backpropagate from (-1: none) given its logits (K); after
 * the backward, use its input gradient dx (T). */
typedef struct
{
  void (*fill) (void *user, int row, float *xin, double *sd);
  int (*target) (void *user, int row, const float *logits);
  void (*use) (
      void *user, int row, const float *xin, double sd, const float *dx);
  void *user;
} RowJob;

/* Rows 0..n_rows-1 of length T through the model, max_B at a time. */
static void
run_rows (SdAttributor *a, int n_rows, int T, const RowJob *job)
{
  const int K = a->K;
  for (int r0 = 0; r0 < n_rows; r0 += a->max_B) {
    const int B = MIN (a->max_B, n_rows - r0);
    for (int b = 0; b < B; b++)
      job->fill (job->user, r0 + b, a->xin + (gsize) b * T, &a->sd[b]);
    const float *logits = sd_model_forward (a->model, a->ws, a->xin, B, T);
    gboolean any = FALSE;
    memset (a->dlogits, 0, (gsize) B * K * sizeof (float));
    for (int b = 0; b < B; b++) {
      int c = job->target (job->user, r0 + b, logits + (gsize) b * K);
      if (c >= 0) {
        a->dlogits[(gsize) b * K + c] = 1.0f;
        any = TRUE;
      }
    }
    if (!any || job->use == NULL)
      continue;
    sd_model_backward (a->model, a->ws, a->dlogits, NULL, a->dx);
    for (int b = 0; b < B; b++)
      job->use (job->user, r0 + b, a->xin + (gsize) b * T, a->sd[b],
          a->dx + (gsize) b * T);
  }
}

/* out (T) += w * d logit / d x in data units, from g = d logit / d z at
 * the row z (T) of data-unit scale sd:
 *   per-series  z = (x - mean) / sd: (g - mean (g) - z mean (g z)) / sd,
 *               zero for a flat series (z = 0: the model sees no shape
 *               and the derivative does not exist)
 *   fixed       g / std
 *   none        g */
static void
add_data_unit_gradient (SdNormMode mode, const float *z, double sd,
    const float *g, int T, double w, float *out)
{
  if (mode != SD_NORM_PER_SERIES) {
    const double f = w / sd;
    for (int t = 0; t < T; t++)
      out[t] += (float) (f * g[t]);
    return;
  }
  double mg = 0.0, gz = 0.0, zz = 0.0;
  for (int t = 0; t < T; t++) {
    mg += g[t];
    gz += (double) g[t] * z[t];
    zz += (double) z[t] * z[t];
  }
  if (zz == 0.0)
    return;
  mg /= T;
  gz /= T;
  const double f = w / sd;
  for (int t = 0; t < T; t++)
    out[t] += (float) (f * (g[t] - mg - z[t] * gz));
}

/* ----------------------------------------------------------- the run */

typedef struct
{
  SdAttributor *a;
  const SdAttributionConfig *cfg;
  SdNormMode mode;
  int n, T;
  const float *x;   /* (n, T) data units */
  float *z;         /* (n, T) model input */
  double *sd;       /* (n) data-unit scale of z */
  const float *zb;  /* (T) baseline, model input */
  SdAttribution *r; /* the result being filled */
  /* integrated gradients: row r of a round is series row_series[r] at
   * row_alpha[r] on the path, its gradient weighted by row_w[r] */
  int *row_series;
  float *row_alpha, *row_w;
  float *range; /* SmoothGrad: (n) noise sd per series, data units */
  float *noisy; /* SmoothGrad: (T) one noisy copy in data units */
} Run;

static int
pick_target (Run *run, int i, const float *logits)
{
  const int K = run->a->K;
  int best = 0;
  for (int k = 1; k < K; k++)
    if (logits[k] > logits[best])
      best = k;
  SdAttribution *r = run->r;
  memcpy (r->logits + (gsize) i * K, logits, (gsize) K * sizeof (float));
  r->predicted[i] = best;
  r->target[i] = run->cfg->target >= 0 ? run->cfg->target : best;
  r->logit[i] = logits[r->target[i]];
  return r->target[i];
}

/* ---- pass 1: the input itself (logits, targets; the gradient of
 * saliency and gradient x input) */

static void
input_fill (void *user, int row, float *xin, double *sd)
{
  Run *run = user;
  memcpy (xin, run->z + (gsize) row * run->T, (gsize) run->T * sizeof (float));
  *sd = run->sd[row];
}

static int
input_target (void *user, int row, const float *logits)
{
  return pick_target (user, row, logits);
}

static void
input_use (void *user, int row, const float *xin, double sd, const float *dx)
{
  Run *run = user;
  const int T = run->T;
  float *v = run->r->values + (gsize) row * T;
  if (run->cfg->method == SD_ATTRIBUTION_SALIENCY) {
    add_data_unit_gradient (run->mode, xin, sd, dx, T, 1.0, v);
    return;
  }
  /* gradient x input: d logit / dz * (z - z_baseline) */
  for (int t = 0; t < T; t++)
    v[t] = dx[t] * (xin[t] - run->zb[t]);
}

/* ---- integrated gradients: the rows of a round are (series, alpha,
 * weight) triples from the run's tables; the weighted gradients add up in
 * the series' values */

static void
ig_fill (void *user, int row, float *xin, double *sd)
{
  Run *run = user;
  const int T = run->T;
  const float al = run->row_alpha[row];
  const float *z = run->z + (gsize) run->row_series[row] * T;
  for (int t = 0; t < T; t++)
    xin[t] = run->zb[t] + al * (z[t] - run->zb[t]);
  *sd = 1.0;
}

static int
ig_target (void *user, int row, const float *logits)
{
  Run *run = user;
  return run->r->target[run->row_series[row]];
}

static void
ig_use (void *user, int row, const float *xin, double sd, const float *dx)
{
  Run *run = user;
  const int T = run->T;
  const float w = run->row_w[row];
  float *v = run->r->values + (gsize) run->row_series[row] * T;
  for (int t = 0; t < T; t++)
    v[t] += w * dx[t];
}

/* ---- the baseline's logits (one row, no backward) */

static void
baseline_fill (void *user, int row, float *xin, double *sd)
{
  Run *run = user;
  memcpy (xin, run->zb, (gsize) run->T * sizeof (float));
  *sd = 1.0;
}

static int
baseline_target (void *user, int row, const float *logits)
{
  Run *run = user;
  for (int i = 0; i < run->n; i++)
    run->r->baseline_logit[i] = logits[run->r->target[i]];
  return -1;
}

/* ---- SmoothGrad: row = series * samples + sample */

/* v (T) <- N(0, sigma^2) draws of generator (seed, sample): the same for
 * every series, whatever the batch. Box-Muller, two per two uniforms. */
static void
gaussian_noise (guint64 seed, int sample, double sigma, float *v, int T)
{
  guint32 s[3] = { (guint32) seed, (guint32) (seed >> 32), (guint32) sample };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (s, 3);
  for (int t = 0; t < T; t += 2) {
    double u1 = g_rand_double (rng), u2 = g_rand_double (rng);
    double rad = sqrt (-2.0 * log (1.0 - u1)) * sigma;
    v[t] = (float) (rad * cos (2.0 * G_PI * u2));
    if (t + 1 < T)
      v[t + 1] = (float) (rad * sin (2.0 * G_PI * u2));
  }
}

static void
smooth_fill (void *user, int row, float *xin, double *sd)
{
  Run *run = user;
  const int T = run->T, S = run->cfg->samples, i = row / S;
  const float *x = run->x + (gsize) i * T;
  gaussian_noise (run->cfg->seed, row % S, run->range[i], xin, T);
  for (int t = 0; t < T; t++)
    xin[t] += x[t];
  double mean;
  sd_normalization_apply (
      config_normalization (run->a->model, run->cfg), xin, 1, T, &mean, sd);
}

static int
smooth_target (void *user, int row, const float *logits)
{
  Run *run = user;
  return run->r->target[row / run->cfg->samples];
}

static void
smooth_use (void *user, int row, const float *xin, double sd, const float *dx)
{
  Run *run = user;
  const int S = run->cfg->samples;
  add_data_unit_gradient (run->mode, xin, sd, dx, run->T, 1.0 / S,
      run->r->values + (gsize) (row / S) * run->T);
}

/* ------------------------------------------------ integrated gradients */

/* n Gauss-Legendre nodes and weights on [0, 1]: the roots of P_n by
 * Newton's iteration from Tricomi's approximation, in double. */
static void
gauss_legendre (int n, double *alpha, double *w)
{
  for (int i = 0; i < (n + 1) / 2; i++) {
    double x = cos (G_PI * (i + 0.75) / (n + 0.5)), dp = 1.0;
    for (int it = 0; it < 100; it++) {
      double p0 = 1.0, p1 = x;
      for (int k = 2; k <= n; k++) {
        double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (x * p1 - p0) / (x * x - 1.0);
      double dx = p1 / dp;
      x -= dx;
      if (fabs (dx) < 1e-15)
        break;
    }
    alpha[i] = 0.5 * (1.0 - x);
    alpha[n - 1 - i] = 0.5 * (1.0 + x);
    w[i] = w[n - 1 - i] = 1.0 / ((1.0 - x * x) * dp * dp);
  }
}

/* Fill the row tables of one round: every series i with todo[i] gets
 * the nodes (alpha, weight) of `count` entries. Returns the rows. */
static int
ig_table (Run *run, const gboolean *todo, const double *alpha, const double *w,
    int count)
{
  int rows = 0;
  for (int i = 0; i < run->n; i++) {
    if (!todo[i])
      continue;
    for (int j = 0; j < count; j++) {
      run->row_series[rows] = i;
      run->row_alpha[rows] = (float) alpha[j];
      run->row_w[rows] = (float) w[j];
      rows++;
    }
  }
  return rows;
}

/* sum_t (z - zb)_t v_t / S - (logit - baseline logit) of series i, whose
 * values hold the S-interval trapezoid sum of the gradient. */
static double
ig_gap (const Run *run, int i, int S)
{
  const int T = run->T;
  const float *z = run->z + (gsize) i * T, *v = run->r->values + (gsize) i * T;
  double s = 0.0;
  for (int t = 0; t < T; t++)
    s += (double) (z[t] - run->zb[t]) * v[t];
  return s / S - ((double) run->r->logit[i] - run->r->baseline_logit[i]);
}

/* The trapezoid rule on `steps` intervals, then, for every series whose
 * completeness gap exceeds the tolerance, the midpoints of its intervals
 * (the nested rule on twice as many) until it does or max_steps is
 * reached. Leaves the unscaled sums in the values, their intervals in
 * r->steps. */
static void
ig_trapezoid (Run *run)
{
  const SdAttributionConfig *c = run->cfg;
  const int n = run->n;
  int *S = run->r->steps;
  g_autofree gboolean *todo = g_new (gboolean, n);
  g_autofree double *alpha = g_new (double, MAX (c->steps, c->max_steps) + 1);
  g_autofree double *w = g_new (double, MAX (c->steps, c->max_steps) + 1);
  for (int i = 0; i < n; i++) {
    todo[i] = TRUE;
    S[i] = c->steps;
  }
  for (int j = 0; j <= c->steps; j++) {
    alpha[j] = (double) j / c->steps;
    w[j] = j == 0 || j == c->steps ? 0.5 : 1.0;
  }
  RowJob job = { ig_fill, ig_target, ig_use, run };
  run_rows (run->a, ig_table (run, todo, alpha, w, c->steps + 1), run->T, &job);
  for (;;) {
    /* series at the same S refine together: a round takes the smallest */
    int s_min = G_MAXINT;
    for (int i = 0; i < n; i++) {
      const double d
          = fabs ((double) run->r->logit[i] - run->r->baseline_logit[i]);
      todo[i] = c->tolerance > 0.0f && 2 * S[i] <= c->max_steps
                && !(fabs (ig_gap (run, i, S[i])) <= c->tolerance * d);
      if (todo[i])
        s_min = MIN (s_min, S[i]);
    }
    if (s_min == G_MAXINT)
      break;
    for (int i = 0; i < n; i++)
      todo[i] = todo[i] && S[i] == s_min;
    for (int j = 0; j < s_min; j++) {
      alpha[j] = (j + 0.5) / s_min;
      w[j] = 1.0;
    }
    run_rows (run->a, ig_table (run, todo, alpha, w, s_min), run->T, &job);
    for (int i = 0; i < n; i++)
      if (todo[i])
        S[i] *= 2;
  }
}

/* Integrated gradients of every series (the baseline logits known):
 * a_t = (z_t - zb_t) * integral over alpha of d logit / dz_t at
 * zb + alpha (z - zb). */
static void
integrated_gradients (Run *run)
{
  const SdAttributionConfig *c = run->cfg;
  const int n = run->n, T = run->T;
  const int per_series = MAX (c->steps, c->max_steps) + 1;
  g_autofree int *row_series = g_new (int, (gsize) n *per_series);
  g_autofree float *row_alpha = g_new (float, (gsize) n *per_series);
  g_autofree float *row_w = g_new (float, (gsize) n *per_series);
  run->row_series = row_series;
  run->row_alpha = row_alpha;
  run->row_w = row_w;
  if (c->rule == SD_IG_TRAPEZOID) {
    ig_trapezoid (run);
  } else {
    g_autofree double *alpha = g_new (double, c->steps);
    g_autofree double *w = g_new (double, c->steps);
    g_autofree gboolean *all = g_new (gboolean, n);
    gauss_legendre (c->steps, alpha, w);
    for (int i = 0; i < n; i++) {
      all[i] = TRUE;
      run->r->steps[i] = 1; /* the weights already sum to 1 */
    }
    RowJob job = { ig_fill, ig_target, ig_use, run };
    run_rows (run->a, ig_table (run, all, alpha, w, c->steps), T, &job);
  }
  for (int i = 0; i < n; i++) {
    float *v = run->r->values + (gsize) i * T;
    const float *z = run->z + (gsize) i * T;
    const float f = 1.0f / run->r->steps[i];
    for (int t = 0; t < T; t++)
      v[t] *= f * (z[t] - run->zb[t]);
    if (c->rule != SD_IG_TRAPEZOID)
      run->r->steps[i] = c->steps;
  }
  run->row_series = NULL;
  run->row_alpha = run->row_w = NULL;
}

/* ------------------------------------------------------------ checks */

static gboolean
check_finite (const float *v, int n, int T, const char *what, GError **error)
{
  for (int i = 0; i < n; i++)
    for (int t = 0; t < T; t++)
      if (!isfinite (v[(gsize) i * T + t])) {
        g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
            "%s %d has a non-finite value (%g) at sample %d", what, i,
            v[(gsize) i * T + t], t);
        return FALSE;
      }
  return TRUE;
}

static gboolean
check_args (SdAttributor *a, const SdAttributionConfig *c, const float *x,
    int n, int T, GError **error)
{
  const int min_T = sd_model_get_min_length (a->model);
  if (n < 1 || x == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "no series to attribute (n = %d)", n);
    return FALSE;
  }
  if (T < min_T || T > a->max_T) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "series of %d samples: this attributor takes %d to %d for '%s'", T,
        min_T, a->max_T, sd_model_get_arch (a->model)->name);
    return FALSE;
  }
  if ((guint) c->method >= G_N_ELEMENTS (method_names)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown attribution method %d", (int) c->method);
    return FALSE;
  }
  if (c->target < -1 || c->target >= a->K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "class %d is not one of the model's %d classes (0..%d, or -1 for "
        "the predicted one)",
        c->target, a->K, a->K - 1);
    return FALSE;
  }
  const gboolean ig = c->method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS;
  if (c->normalization != NULL && c->normalization->mode == SD_NORM_FIXED
      && !(c->normalization->std > 0.0f && isfinite (c->normalization->std)
           && isfinite (c->normalization->mean))) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "a fixed normalisation needs a finite mean and a std > 0 (got mean "
        "%g, std %g)",
        c->normalization->mean, c->normalization->std);
    return FALSE;
  }
  if (ig && (c->steps < 1 || c->steps > 100000)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "integrated gradients need 1 to 100000 steps, not %d", c->steps);
    return FALSE;
  }
  if (ig
      && (c->max_steps < 0 || c->max_steps > 100000 || !isfinite (c->tolerance)
          || c->tolerance < 0.0f)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "integrated gradients need a finite tolerance >= 0 and 0 to 100000 "
        "maximum steps (got %g and %d)",
        c->tolerance, c->max_steps);
    return FALSE;
  }
  if (ig && (guint) c->rule >= G_N_ELEMENTS (rule_names)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "unknown integration rule %d", (int) c->rule);
    return FALSE;
  }
  if (c->method == SD_ATTRIBUTION_SMOOTHGRAD
      && (c->samples < 1 || c->samples > 100000 || !isfinite (c->noise)
          || c->noise < 0.0f)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "SmoothGrad needs 1 to 100000 samples and a finite noise >= 0 (got "
        "%d samples, noise %g)",
        c->samples, c->noise);
    return FALSE;
  }
  const gboolean uses_baseline
      = ig || c->method == SD_ATTRIBUTION_GRADIENT_X_INPUT;
  if (uses_baseline && c->baseline_type != SD_BASELINE_ZEROS
      && (c->baseline == NULL || (guint) c->baseline_type > 2)) {
    g_set_error_literal (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "a baseline series or a model-input baseline needs its values");
    return FALSE;
  }
  if (!check_finite (x, n, T, "series", error))
    return FALSE;
  if (uses_baseline && c->baseline_type != SD_BASELINE_ZEROS)
    return check_finite (c->baseline, 1, T, "the baseline series", error);
  return TRUE;
}

/* The baseline in the model's input space, into zb (T). */
static void
model_input_baseline (
    const SdModel *m, const SdAttributionConfig *c, int T, float *zb)
{
  if (c->baseline_type == SD_BASELINE_ZEROS)
    memset (zb, 0, (gsize) T * sizeof (float));
  else
    memcpy (zb, c->baseline, (gsize) T * sizeof (float));
  if (c->baseline_type != SD_BASELINE_MODEL_INPUT)
    sd_normalization_apply (config_normalization (m, c), zb, 1, T, NULL, NULL);
}

static SdAttribution *
attribution_new (int n, int T, int K, SdAttributionMethod method)
{
  SdAttribution *r = g_new0 (SdAttribution, 1);
  r->n = n;
  r->length = T;
  r->n_classes = K;
  r->method = method;
  r->values = g_try_new0 (float, (gsize) n *T);
  r->target = g_new0 (int, n);
  r->predicted = g_new0 (int, n);
  r->logits = g_new0 (float, (gsize) n *K);
  r->logit = g_new0 (float, n);
  r->baseline_logit = g_new (float, n);
  r->steps = g_new0 (int, n);
  for (int i = 0; i < n; i++)
    r->baseline_logit[i] = NAN;
  return r;
}

/* The method's rows after pass 1 (targets known). */
static void
run_method (Run *run)
{
  SdAttributor *a = run->a;
  const SdAttributionConfig *c = run->cfg;
  const int n = run->n, T = run->T;
  if (c->method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS
      || c->method == SD_ATTRIBUTION_GRADIENT_X_INPUT) {
    RowJob job = { baseline_fill, baseline_target, NULL, run };
    run_rows (a, 1, T, &job);
  }
  if (c->method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS) {
    integrated_gradients (run);
  } else if (c->method == SD_ATTRIBUTION_SMOOTHGRAD) {
    g_autofree float *range = g_new (float, n);
    for (int i = 0; i < n; i++) {
      const float *x = run->x + (gsize) i * T;
      float lo = x[0], hi = x[0];
      for (int t = 1; t < T; t++) {
        lo = MIN (lo, x[t]);
        hi = MAX (hi, x[t]);
      }
      range[i] = c->noise * (hi - lo);
    }
    run->range = range;
    RowJob job = { smooth_fill, smooth_target, smooth_use, run };
    run_rows (a, n * c->samples, T, &job);
    run->range = NULL;
  }
}

SdAttribution *
sd_attributor_run (SdAttributor *a, const SdAttributionConfig *config,
    const float *x, int n, int T, GError **error)
{
  g_return_val_if_fail (a != NULL && config != NULL, NULL);
  if (!check_args (a, config, x, n, T, error))
    return NULL;
  const SdNormalization norm = config_normalization (a->model, config);
  g_autoptr (SdAttribution) r = attribution_new (n, T, a->K, config->method);
  g_autofree float *z = g_try_new (float, (gsize) n *T);
  g_autofree double *sd = g_new (double, n);
  g_autofree double *mean = g_new (double, n);
  g_autofree float *zb = g_new (float, T);
  if (r->values == NULL || z == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for the attributions of %d series of %d samples", n, T);
    return NULL;
  }
  memcpy (z, x, (gsize) n * T * sizeof (float));
  sd_normalization_apply (norm, z, n, T, mean, sd);
  model_input_baseline (a->model, config, T, zb);

  Run run = { .a = a,
    .cfg = config,
    .mode = norm.mode,
    .n = n,
    .T = T,
    .x = x,
    .z = z,
    .sd = sd,
    .zb = zb,
    .r = r };
  const gboolean grad_at_input
      = config->method == SD_ATTRIBUTION_SALIENCY
        || config->method == SD_ATTRIBUTION_GRADIENT_X_INPUT;
  RowJob pass1
      = { input_fill, input_target, grad_at_input ? input_use : NULL, &run };
  run_rows (a, n, T, &pass1);
  run_method (&run);
  return g_steal_pointer (&r);
}

/* The batch of sd_attribution_compute: the rows of one series (IG nodes,
 * SmoothGrad samples, at least the series themselves), at most 64 and
 * about 2^16 samples per batch. */
static int
compute_batch (const SdAttributionConfig *c, int n, int T)
{
  int rows = n;
  if (c->method == SD_ATTRIBUTION_INTEGRATED_GRADIENTS)
    rows = MAX (n, c->steps + 1);
  else if (c->method == SD_ATTRIBUTION_SMOOTHGRAD)
    rows = MAX (n, c->samples);
  return CLAMP (MIN (rows, 65536 / MAX (T, 1)), 1, 64);
}

SdAttribution *
sd_attribution_compute (SdModel *model, const SdAttributionConfig *config,
    const float *x, int n, int T, GError **error)
{
  g_return_val_if_fail (model != NULL && config != NULL, NULL);
  if (T < sd_model_get_min_length (model) || n < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%d series of %d samples: '%s' needs at least one series of at least "
        "%d samples",
        n, T, sd_model_get_arch (model)->name, sd_model_get_min_length (model));
    return NULL;
  }
  g_autoptr (SdAttributor) a
      = sd_attributor_new (model, compute_batch (config, n, T), T, error);
  if (a == NULL)
    return NULL;
  return sd_attributor_run (a, config, x, n, T, error);
}

gboolean
sd_attribution_class_mean (const SdModel *model, const SdDataset *data, int cls,
    float *out, GError **error)
{
  g_return_val_if_fail (model != NULL && data != NULL && out != NULL, FALSE);
  const int K = sd_model_get_n_classes (model);
  if (cls < 0 || cls >= K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "class %d is not one of the model's %d classes", cls, K);
    return FALSE;
  }
  const guint T = data->length;
  g_autofree double *acc = g_new0 (double, T);
  g_autofree float *row = g_new (float, T);
  guint count = 0;
  for (guint i = 0; i < data->n; i++) {
    if (data->y[i] != cls)
      continue;
    memcpy (row, data->x + (gsize) i * T, T * sizeof (float));
    sd_normalization_apply (
        sd_model_get_normalization (model), row, 1, (int) T, NULL, NULL);
    for (guint t = 0; t < T; t++)
      acc[t] += row[t];
    count++;
  }
  if (count == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "no series of class '%s' in the data for its mean",
        sd_model_get_labels (model)[cls]);
    return FALSE;
  }
  for (guint t = 0; t < T; t++)
    out[t] = (float) (acc[t] / count);
  return TRUE;
}

/* Ranks of v (n) into rank (n), ties at their mean rank; by |v| when
 * absolute. idx is (n) scratch. */
static void
ranks (const float *v, int n, gboolean absolute, int *idx, double *rank)
{
#define KEY(i) (absolute ? fabsf (v[i]) : v[i])
  for (int i = 0; i < n; i++)
    idx[i] = i;
  /* Shell sort (gaps n/2, n/4, ...): no qsort_r in C11 for the key */
  for (int gap = n / 2; gap > 0; gap /= 2)
    for (int i = gap; i < n; i++)
      for (int j = i; j >= gap && KEY (idx[j - gap]) > KEY (idx[j]); j -= gap) {
        int tmp = idx[j];
        idx[j] = idx[j - gap];
        idx[j - gap] = tmp;
      }
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && KEY (idx[j + 1]) == KEY (idx[i]))
      j++;
    for (int m = i; m <= j; m++)
      rank[idx[m]] = 0.5 * (i + j);
    i = j + 1;
  }
#undef KEY
}

double
sd_attribution_rank_correlation (
    const float *a, const float *b, int n, gboolean absolute)
{
  g_return_val_if_fail (a != NULL && b != NULL && n >= 0, NAN);
  if (n < 2)
    return NAN;
  g_autofree double *ra = g_new (double, n);
  g_autofree double *rb = g_new (double, n);
  g_autofree int *idx = g_new (int, n);
  ranks (a, n, absolute, idx, ra);
  ranks (b, n, absolute, idx, rb);
  /* Pearson correlation of the ranks; both have mean (n - 1) / 2 */
  const double m = 0.5 * (n - 1);
  double sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; i++) {
    sab += (ra[i] - m) * (rb[i] - m);
    saa += (ra[i] - m) * (ra[i] - m);
    sbb += (rb[i] - m) * (rb[i] - m);
  }
  return saa > 0 && sbb > 0 ? sab / sqrt (saa * sbb) : NAN;
}
