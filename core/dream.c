/* Sequence Dreaming: gradient ascent on the input of a 1-D CNN classifier
 * (activation maximisation) with the regularisers that keep a dream
 * realistic. Every formula and default is in docs/dreaming.md.
 *
 * One step of a batch of A running dreams (x by dream, rows by forward):
 *   evaluate   forward of x_s (A,T) -> J, probability, penalties, trace
 *              entry s, keep-best, stop (a dream that stops freezes)
 *   transform  jitter / scale drawn per dream -> a second forward
 *   backward   dJ/dlogits, injected dJ/d(layer), diversity and the
 *              FEATURE anchor at "gap" -> dx (A,T), mapped back through
 *              the transform
 *   update     - penalty gradients, gradient filters, RMS clip, optimiser,
 *              then sequence filters and projections in list order.
 * The spectral regularisers (SPECTRUM, SPECTRAL_FILTER) work on real
 * FFTs (bins 0..T/2) against a per-dream target spectrum, FEATURE
 * against per-dream target features, both prepared before the first
 * step.
 * In eval mode the rows of a forward are independent, so a step runs
 * evaluate, transform, backward and update chunk by chunk of rows
 * (chunk_rows): a chunk's activations are still in cache when its
 * backward reads them. Only diversity couples the rows (through the "gap"
 * features of all dreams); with it a step is one chunk.
 * Nothing is allocated inside the loop: every buffer is the dreamer's
 * (sized at sd_dreamer_new) or the run's (sized before the first step).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/dream.h"
#include "seqdream/layers.h"
#include "sd-private.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8f
/* Added to |f|^2 in the cosine similarity so a dead (all-zero) feature
 * vector has a defined, zero similarity. */
#define DIVERSITY_EPS 1e-8
#define MAX_STEPS 10000000

/* ------------------------------------------------------------- names */

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
};

const char *
sd_reg_type_to_string (SdRegType type)
{
  if ((guint) type >= G_N_ELEMENTS (reg_names))
    return NULL;
  return reg_names[type];
}

gboolean
sd_reg_type_from_string (const char *s, SdRegType *type)
{
  if (s == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (reg_names); i++) {
    if (g_ascii_strcasecmp (s, reg_names[i]) == 0) {
      if (type != NULL)
        *type = (SdRegType) i;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
is_penalty (SdRegType t)
{
  return t == SD_REG_L1 || t == SD_REG_L2 || t == SD_REG_TV || t == SD_REG_TV2
         || t == SD_REG_SPECTRUM;
}

static gboolean
is_filter (SdRegType t)
{
  return t == SD_REG_EXP_SMOOTH || t == SD_REG_EXP_SMOOTH_ZEROPHASE
         || t == SD_REG_GAUSSIAN || t == SD_REG_SPECTRAL_FILTER;
}

static gboolean
uses_spectra (SdRegType t)
{
  return t == SD_REG_SPECTRUM || t == SD_REG_SPECTRAL_FILTER;
}

static gboolean
is_transform (SdRegType t)
{
  return t == SD_REG_JITTER || t == SD_REG_SCALE || t == SD_REG_NOISE;
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
  }
  return r;
}

SdObjective
sd_objective_centered (int class_index)
{
  SdObjective o;
  memset (&o, 0, sizeof o);
  o.n_terms = 1;
  o.terms[0].type = SD_OBJECTIVE_LOGIT;
  o.terms[0].weight = 1.0f;
  o.terms[0].class_a = class_index;
  return o;
}

SdObjective
sd_objective_border (int class_a, int class_b)
{
  SdObjective o;
  memset (&o, 0, sizeof o);
  o.n_terms = 1;
  o.terms[0].type = SD_OBJECTIVE_BORDER;
  o.terms[0].weight = 1.0f;
  o.terms[0].class_a = class_a;
  o.terms[0].class_b = class_b;
  return o;
}

void
sd_dream_config_init (SdDreamConfig *c, const SdModel *model)
{
  g_return_if_fail (c != NULL);
  memset (c, 0, sizeof *c);
  c->length = model != NULL ? (int) sd_model_get_train_length (model) : 0;
  c->steps = 500;
  c->optimizer = SD_DREAM_OPT_ADAM;
  c->lr = 0.05f;
  c->lr_decay = 1.0f;
  c->momentum = 0.9f;
  c->grad_clip = 0.0f;
  c->keep_best = TRUE;
  c->stop_probability = 0.0f;
  c->border_tolerance = 0.005f;
  c->diversity = 0.0f;
  c->znormalize
      = model != NULL
        && sd_model_get_normalization (model).mode == SD_NORM_PER_SERIES;
  c->n_regs = 0;
}

gboolean
sd_dream_config_add (SdDreamConfig *c, SdRegularizer reg)
{
  g_return_val_if_fail (c != NULL, FALSE);
  if (c->n_regs < 0 || c->n_regs >= SD_DREAM_MAX_REGS)
    return FALSE;
  c->regs[c->n_regs++] = reg;
  return TRUE;
}

void
sd_dream_result_free (SdDreamResult *r)
{
  if (r == NULL)
    return;
  g_free (r->sequence);
  g_free (r->logits);
  g_free (r->probabilities);
  g_free (r->trace.objective);
  g_free (r->trace.probability);
  g_free (r->trace.reg_values);
  g_free (r);
}

void
sd_dream_denormalize (const SdModel *model, float *x, int T)
{
  g_return_if_fail (model != NULL && (x != NULL || T == 0));
  SdNormalization norm = sd_model_get_normalization (model);
  if (norm.mode != SD_NORM_FIXED)
    return;
  for (int t = 0; t < T; t++)
    x[t] = x[t] * norm.std + norm.mean;
}

/* ----------------------------------------------------------- dreamer */

struct _SdDreamer
{
  SdModel *model;
  SdWorkspace *ws;
  int max_B, max_T;
  int K;
  int n_stages; /* layers: stages.0 .. stages.{n_stages-1}, gap, fc */
  int gap_layer, fc_layer;
  int gap_C;
  float *mem;     /* one allocation for everything below */
  float *x;       /* (max_B, max_T) sequences, by dream */
  float *best;    /* (max_B, max_T) best sequences, by dream */
  float *g;       /* (max_B, max_T) gradient of J, by dream */
  float *m1, *m2; /* (max_B, max_T) optimiser state, by dream */
  float *xin;     /* (max_B, max_T) forward input, by row */
  float *dx;      /* (max_B, max_T) input gradient, by row */
  float *orig;    /* (max_T) a row before a filter or projection */
  float *probs;   /* (max_B, K) by row */
  float *dlogits; /* (max_B, K) by row */
  float *feats;   /* (max_B, gap_C) latest "gap" features, by dream */
  float *dgap;    /* (max_B, gap_C) gradient at "gap", by row */
};

SdDreamer *
sd_dreamer_new (SdModel *model, int max_batch, int max_length, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  SdWorkspace *ws
      = sd_workspace_new (model, max_batch, max_length, SD_MODE_EVAL, error);
  if (ws == NULL)
    return NULL;
  SdDreamer *d = g_new0 (SdDreamer, 1);
  d->model = sd_model_ref (model);
  d->ws = ws;
  d->max_B = max_batch;
  d->max_T = max_length;
  d->K = sd_model_get_n_classes (model);
  d->n_stages = sd_model_get_arch (model)->n_stages;
  d->gap_layer = sd_model_find_layer (model, "gap");
  d->fc_layer = sd_model_find_layer (model, "fc");
  g_assert (d->gap_layer == d->n_stages && d->fc_layer == d->n_stages + 1);
  int len;
  sd_workspace_get_layer_output (ws, d->gap_layer, &d->gap_C, &len);

  gsize BT = (gsize) max_batch * max_length;
  gsize BK = (gsize) max_batch * d->K;
  gsize BC = (gsize) max_batch * d->gap_C;
  gsize total = 7 * BT + max_length + 2 * BK + 2 * BC;
  d->mem = g_try_new0 (float, total);
  if (d->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "out of memory for a dreamer of batch %d x length %d", max_batch,
        max_length);
    sd_dreamer_free (d);
    return NULL;
  }
  float *p = d->mem;
  float **bt[] = { &d->x, &d->best, &d->g, &d->m1, &d->m2, &d->xin, &d->dx };
  for (guint i = 0; i < G_N_ELEMENTS (bt); i++) {
    *bt[i] = p;
    p += BT;
  }
  d->orig = p;
  p += max_length;
  d->probs = p;
  p += BK;
  d->dlogits = p;
  p += BK;
  d->feats = p;
  p += BC;
  d->dgap = p;
  return d;
}

void
sd_dreamer_free (SdDreamer *d)
{
  if (d == NULL)
    return;
  sd_workspace_free (d->ws);
  sd_model_unref (d->model);
  g_free (d->mem);
  g_free (d);
}

/* ------------------------------------------------ penalties (O(T)) */

static inline float
signf (float u)
{
  return (float) ((u > 0.0f) - (u < 0.0f));
}

/* The unweighted, mean-normalised penalty P(x) of x (T). */
static double
penalty_value (SdRegType type, const float *x, int T)
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

/* g -= weight * dP/dx: J = objective - weight * P is ascended. */
static void
penalty_subtract_grad (
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

/* y[0] = x[0], y[t] = a x[t] + (1-a) y[t-1], in place. */
static void
exp_smooth_forward (float *x, int T, float a)
{
  const float b = 1.0f - a;
  float y = x[0];
  for (int t = 1; t < T; t++) {
    y = a * x[t] + b * y;
    x[t] = y;
  }
}

/* The same recurrence run from the end: y[T-1] = x[T-1]. */
static void
exp_smooth_backward (float *x, int T, float a)
{
  const float b = 1.0f - a;
  float y = x[T - 1];
  for (int t = T - 2; t >= 0; t--) {
    y = a * x[t] + b * y;
    x[t] = y;
  }
}

/* Half-sample symmetric reflection (d c b a | a b c d | d c b a), any i. */
static inline int
reflect_index (int i, int T)
{
  int p = 2 * T;
  i %= p;
  if (i < 0)
    i += p;
  return i < T ? i : p - 1 - i;
}

/* Normalised Gaussian half-kernel w[0..R], R = ceil(3 sigma):
 * w[k] = exp(-k^2 / (2 sigma^2)) / (w0 + 2 sum_{k>=1} ...). */
static int
gaussian_radius (float sigma)
{
  return MAX (1, (int) ceil (3.0 * sigma));
}

static void
gaussian_kernel (float *w, float sigma, int R)
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

/* x (T) <- Gaussian filter of x with half-kernel w (R+1), reflected at
 * both ends; pad has T + 2R floats. */
static void
gaussian_filter (float *x, int T, const float *w, int R, float *pad)
{
  for (int j = 0; j < R; j++) {
    pad[j] = x[reflect_index (j - R, T)];
    pad[T + R + j] = x[reflect_index (T + j, T)];
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

/* ---------------------------------------------------------- spectra */

/* Real DFTs by FFTW (double precision), planned once per run and length
 * under the library's planner lock; executing a plan is thread-safe. */
typedef struct
{
  int T, nb;
  double *win;             /* (T) periodic Hann window */
  double *xc;              /* (T) work, FFTW-aligned */
  double *re, *im, *p, *a; /* (nb) work */
  fftw_complex *z;         /* (nb) work, FFTW-aligned */
  fftw_plan fwd;           /* xc -> z */
  fftw_plan inv;           /* z -> xc (destroys z) */
} SpecWork;

int
sd_dream_spectrum_bins (int T)
{
  return T / 2 + 1;
}

static void
spec_work_free (SpecWork *w)
{
  if (w == NULL)
    return;
  g_mutex_lock (&sd_fftw_planner_lock);
  if (w->fwd != NULL)
    fftw_destroy_plan (w->fwd);
  if (w->inv != NULL)
    fftw_destroy_plan (w->inv);
  g_mutex_unlock (&sd_fftw_planner_lock);
  fftw_free (w->xc);
  fftw_free (w->z);
  g_free (w->win);
  g_free (w);
}

static SpecWork *
spec_work_new (int T)
{
  SpecWork *w = g_new0 (SpecWork, 1);
  w->T = T;
  w->nb = sd_dream_spectrum_bins (T);
  w->win = g_new (double, (gsize) T + 4 * (gsize) w->nb);
  w->re = w->win + T;
  w->im = w->re + w->nb;
  w->p = w->im + w->nb;
  w->a = w->p + w->nb;
  w->xc = fftw_alloc_real ((gsize) T);
  w->z = fftw_alloc_complex ((gsize) w->nb);
  for (int m = 0; m < T; m++)
    w->win[m] = 0.5 - 0.5 * cos (2.0 * G_PI * m / T);
  g_mutex_lock (&sd_fftw_planner_lock);
  w->fwd = fftw_plan_dft_r2c_1d (T, w->xc, w->z, FFTW_ESTIMATE);
  w->inv = fftw_plan_dft_c2r_1d (T, w->z, w->xc, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);
  return w;
}

/* One-sided power weight of bin k: DC and (even T) Nyquist count once,
 * every other bin stands for two. */
static inline double
bin_weight (int k, int T)
{
  return (k == 0 || 2 * k == T) ? 1.0 : 2.0;
}

/* w->re / w->im: the DFT (bins 0..T/2) of the T values in w->xc,
 * X_k = sum_t xc_t e^{-2 pi i k t / T}. */
static void
spec_dft (SpecWork *w)
{
  fftw_execute (w->fwd);
  for (int k = 0; k < w->nb; k++) {
    w->re[k] = w->z[k][0];
    w->im[k] = w->z[k][1];
  }
}

/* w->xc_t <- sum_{k=0..nb-1} (ar_k cos (2 pi k t / T) - ai_k sin (...)),
 * ar, ai given in w->z (bins 0..T/2), by one inverse real FFT: FFTW's
 * c2r sums the Hermitian extension, in which bins other than DC and
 * Nyquist appear twice (and ignores the imaginary parts of those two,
 * whose sines vanish), hence the division by the bin weight. */
static void
spec_synth (SpecWork *w)
{
  for (int k = 0; k < w->nb; k++) {
    const double f = 1.0 / bin_weight (k, w->T);
    w->z[k][0] *= f;
    w->z[k][1] *= f;
  }
  fftw_execute (w->inv);
}

/* w->p <- the normalised power spectrum of x (and w->re, w->im its DFT);
 * returns the total power S (0 for a constant x, p then 0). */
static double
spec_power (SpecWork *w, const float *x)
{
  const int T = w->T;
  double mean = 0.0;
  for (int t = 0; t < T; t++)
    mean += x[t];
  mean /= T;
  for (int t = 0; t < T; t++)
    w->xc[t] = ((double) x[t] - mean) * w->win[t];
  spec_dft (w);
  double S = 0.0;
  for (int k = 0; k < w->nb; k++) {
    w->p[k] = bin_weight (k, T) * (w->re[k] * w->re[k] + w->im[k] * w->im[k]);
    S += w->p[k];
  }
  if (!(S > 0.0) || !isfinite (S)) {
    memset (w->p, 0, (gsize) w->nb * sizeof (double));
    return 0.0;
  }
  for (int k = 0; k < w->nb; k++)
    w->p[k] /= S;
  return S;
}

/* The SPECTRUM penalty of x against lq (nb: log (q_k + eps)):
 * P = (1/nb) sum_k (log (p_k + eps) - lq_k)^2. With g != NULL also
 * g -= weight * dP/dx. A constant x has no spectrum: P = 0, no gradient. */
static double
spectrum_penalty (SpecWork *w, const float *x, const double *lq, double eps,
    float weight, float *g)
{
  const int T = w->T, nb = w->nb;
  const double S = spec_power (w, x);
  if (S == 0.0)
    return 0.0;
  double P = 0.0, bp = 0.0;
  for (int k = 0; k < nb; k++) {
    const double d = log (w->p[k] + eps) - lq[k];
    P += d * d;
    /* b_k = dP/dp_k */
    w->a[k] = 2.0 * d / ((w->p[k] + eps) * nb);
    bp += w->a[k] * w->p[k];
  }
  P /= nb;
  if (g == NULL)
    return P;
  /* dP/dPow_k = (b_k - sum_j b_j p_j) / S (through the normalisation);
   * Pow_k = m_k (re_k^2 + im_k^2), re_k = sum_t xc_t cos, im_k = -sum_t
   * xc_t sin, so dP/dxc_t = 2 sum_k a_k (re_k cos - im_k sin) with
   * a_k = m_k dP/dPow_k. */
  for (int k = 0; k < nb; k++)
    w->a[k] = bin_weight (k, T) * (w->a[k] - bp) / S;
  for (int k = 0; k < nb; k++) {
    w->z[k][0] = 2.0 * w->a[k] * w->re[k];
    w->z[k][1] = 2.0 * w->a[k] * w->im[k];
  }
  spec_synth (w);
  /* back through the window and the mean removal */
  double mg = 0.0;
  for (int t = 0; t < T; t++) {
    w->xc[t] *= w->win[t];
    mg += w->xc[t];
  }
  mg /= T;
  for (int t = 0; t < T; t++)
    g[t] -= (float) (weight * (w->xc[t] - mg));
  return P;
}

/* x (T) <- the circular filter of x with real gains h (nb) per DFT bin:
 * y_t = (1/T) sum_{k=0..T-1} h_k X_k e^{2 pi i k t / T}, h_{T-k} = h_k. */
static void
spectral_filter (SpecWork *w, float *x, const double *h)
{
  const int T = w->T, nb = w->nb;
  for (int t = 0; t < T; t++)
    w->xc[t] = x[t];
  spec_dft (w);
  for (int k = 0; k < nb; k++) {
    /* bins 1..ceil(T/2)-1 stand for themselves and their mirror */
    const double f = bin_weight (k, T) * h[k] / T;
    w->z[k][0] = f * w->re[k];
    w->z[k][1] = f * w->im[k];
  }
  spec_synth (w);
  for (int t = 0; t < T; t++)
    x[t] = (float) w->xc[t];
}

gboolean
sd_dream_power_spectrum (const float *x, int T, float *spectrum)
{
  g_return_val_if_fail (x != NULL && spectrum != NULL && T >= 2, FALSE);
  SpecWork *w = spec_work_new (T);
  gboolean ok = spec_power (w, x) > 0.0;
  if (ok)
    for (int k = 0; k < w->nb; k++)
      spectrum[k] = (float) w->p[k];
  spec_work_free (w);
  return ok;
}

/* The reference data of sd_dream_class_spectra / _features: series of at
 * least T >= min_T samples, labelled with the model's labels. */
static gboolean
check_class_data (const SdModel *model, const SdDataset *data, int T, int min_T,
    const char *what, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  const int L = (int) data->length;
  if (T < min_T || L < T) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "class %s of length %d: the data's series have %d samples (at "
        "least the dream length, and it at least %d)",
        what, T, L, min_T);
    return FALSE;
  }
  if ((int) data->n_classes > K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "the data has %u classes, the model %d (load it with the model's "
        "labels)",
        data->n_classes, K);
    return FALSE;
  }
  const char *const *labels = sd_model_get_labels (model);
  for (guint c = 0; c < data->n_classes; c++)
    if (g_strcmp0 (data->labels[c], labels[c]) != 0) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "class %u of the data is '%s', of the model '%s' (load the data "
          "with the model's labels)",
          c, data->labels[c], labels[c]);
      return FALSE;
    }
  return TRUE;
}

/* Segments of T samples of a series of L >= T, hop about T/2, evenly
 * spread, the last one ending at the series' end: how many, and where
 * segment s starts. */
static int
n_segments (int L, int T)
{
  const int hop = MAX (1, T / 2);
  return L == T ? 1 : 1 + (L - T + hop - 1) / hop;
}

static gint64
segment_start (int s, int n_seg, int L, int T)
{
  return n_seg == 1 ? 0 : (gint64) s * (L - T) / (n_seg - 1);
}

gboolean
sd_dream_class_spectra (const SdModel *model, const SdDataset *data, int T,
    float *spectra, GError **error)
{
  g_return_val_if_fail (
      model != NULL && data != NULL && spectra != NULL, FALSE);
  const int K = sd_model_get_n_classes (model);
  const int L = (int) data->length;
  if (!check_class_data (model, data, T, 2, "spectra", error))
    return FALSE;
  SpecWork *w = spec_work_new (T);
  const int nb = w->nb;
  g_autofree double *acc = g_new0 (double, (gsize) K *nb);
  g_autofree int *count = g_new0 (int, K);
  g_autofree float *x = g_new (float, L);
  const int n_seg = n_segments (L, T);
  for (guint i = 0; i < data->n; i++) {
    const int c = data->y[i];
    if (c < 0 || c >= K)
      continue;
    memcpy (x, data->x + (gsize) i * L, (gsize) L * sizeof (float));
    sd_model_normalize_input (model, x, 1, L);
    for (int s = 0; s < n_seg; s++) {
      /* evenly spread, the last one ending at the series' end */
      gint64 start = segment_start (s, n_seg, L, T);
      if (spec_power (w, x + start) == 0.0)
        continue;
      for (int k = 0; k < nb; k++)
        acc[(gsize) c * nb + k] += w->p[k];
      count[c]++;
    }
  }
  for (int c = 0; c < K; c++)
    for (int k = 0; k < nb; k++)
      spectra[(gsize) c * nb + k]
          = count[c] > 0 ? (float) (acc[(gsize) c * nb + k] / count[c]) : NAN;
  spec_work_free (w);
  return TRUE;
}

/* acc (K, C) += the pooled features of the nb series in batch, count[c]
 * += their number per class cls. */
static void
accumulate_features (const SdModel *model, SdWorkspace *ws, int gap,
    const float *batch, const int *cls, int nb, int T, int C, double *acc,
    int *count)
{
  sd_model_forward ((SdModel *) model, ws, batch, nb, T);
  int gc, gl;
  const float *f = sd_workspace_get_layer_output (ws, gap, &gc, &gl);
  for (int b = 0; b < nb; b++) {
    for (int ch = 0; ch < C; ch++)
      acc[(gsize) cls[b] * C + ch] += f[(gsize) b * C + ch];
    count[cls[b]]++;
  }
}

int
sd_dream_feature_size (const SdModel *model)
{
  g_return_val_if_fail (model != NULL, 0);
  const SdArch *a = sd_model_get_arch (model);
  const SdStage *last = &a->stages[a->n_stages - 1];
  return last->channels[last->n_convs - 1];
}

gboolean
sd_dream_class_features (const SdModel *model, const SdDataset *data, int T,
    float *features, GError **error)
{
  g_return_val_if_fail (
      model != NULL && data != NULL && features != NULL, FALSE);
  const int K = sd_model_get_n_classes (model);
  const int C = sd_dream_feature_size (model);
  const int L = (int) data->length;
  if (!check_class_data (model, data, T, 1, "features", error))
    return FALSE;
  enum
  {
    BATCH = 16
  };
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new ((SdModel *) model, BATCH, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  const int gap = sd_model_find_layer (model, "gap");
  g_autofree double *acc = g_new0 (double, (gsize) K *C);
  g_autofree int *count = g_new0 (int, K);
  g_autofree float *x = g_new (float, L);
  g_autofree float *batch = g_new (float, (gsize) BATCH *T);
  g_autofree int *cls = g_new (int, BATCH);
  const int n_seg = n_segments (L, T);
  int nb = 0;
  for (guint i = 0; i < data->n; i++) {
    const int c = data->y[i];
    if (c < 0 || c >= K)
      continue;
    memcpy (x, data->x + (gsize) i * L, (gsize) L * sizeof (float));
    sd_model_normalize_input (model, x, 1, L);
    for (int s = 0; s < n_seg; s++) {
      /* the segments of sd_dream_class_spectra */
      gint64 start = segment_start (s, n_seg, L, T);
      memcpy (batch + (gsize) nb * T, x + start, (gsize) T * sizeof (float));
      cls[nb++] = c;
      if (nb == BATCH) {
        accumulate_features (model, ws, gap, batch, cls, nb, T, C, acc, count);
        nb = 0;
      }
    }
  }
  if (nb > 0)
    accumulate_features (model, ws, gap, batch, cls, nb, T, C, acc, count);
  for (int c = 0; c < K; c++)
    for (int ch = 0; ch < C; ch++)
      features[(gsize) c * C + ch]
          = count[c] > 0 ? (float) (acc[(gsize) c * C + ch] / count[c]) : NAN;
  return TRUE;
}

static double
rms (const float *x, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++)
    s += (double) x[t] * x[t];
  return sqrt (s / T);
}

static double
rms_diff (const float *a, const float *b, int T)
{
  double s = 0.0;
  for (int t = 0; t < T; t++) {
    double u = (double) a[t] - b[t];
    s += u * u;
  }
  return sqrt (s / T);
}

static int
first_nonfinite (const float *x, gsize n)
{
  for (gsize k = 0; k < n; k++)
    if (!isfinite (x[k]))
      return (int) k;
  return -1;
}

/* --------------------------------------------------------- the run */

typedef enum
{
  TARGET_NONE,     /* no class term: the predicted class is reported */
  TARGET_CENTERED, /* LOGIT / PROBABILITY / LOG_PROBABILITY */
  TARGET_BORDER,
} TargetKind;

typedef struct
{
  const SdObjective *obj;
  TargetKind kind;
  int a, b; /* target classes (the first class term) */
  GRand *rng;
  gboolean frozen, converged;
  int steps; /* updates applied so far */
  int best_step;
  double best_score;
  int shift;   /* transform of the current step: xin[(t+shift)%T] = */
  float scale; /* scale * x[t] */
  SdDreamResult *res;
} Dream;

typedef struct
{
  int layer;
  int C;
  float *grad; /* (A, C, T) injected dJ/d(layer output), by row */
} Injection;

typedef struct
{
  SdDreamer *d;
  const SdDreamConfig *cfg;
  int n, T, N; /* dreams, length, maximum number of updates */
  int cap;     /* trace capacity per dream: N + 1 */
  Dream *dreams;
  int A;          /* rows in the current forward */
  int *row_dream; /* (n) dream of each row */
  gboolean *live; /* (n) the row's dream still takes this step */
  Injection inj[SD_MAX_STAGES];
  int n_inj;
  gboolean inj_dirty;
  gboolean use_gap; /* inject a gradient at "gap" */
  float *kernel[SD_DREAM_MAX_REGS];
  int radius[SD_DREAM_MAX_REGS];
  float *pad;
  gboolean clip_on[SD_DREAM_MAX_REGS];
  float clip_lo[SD_DREAM_MAX_REGS], clip_hi[SD_DREAM_MAX_REGS];
  /* the first step and the end of each regulariser's window */
  int first[SD_DREAM_MAX_REGS];
  double until[SD_DREAM_MAX_REGS];
  /* SPECTRUM: log (q_k + eps), SPECTRAL_FILTER: the gains, (n, nb) by
   * dream; their DFT tables and work space */
  double *spec_target[SD_DREAM_MAX_REGS];
  SpecWork *spec;
  /* FEATURE: the target features mu, (n, gap_C) by dream */
  float *feat_target[SD_DREAM_MAX_REGS];
} Run;

/* The target row (nb) of dream i for spectral regulariser r. */
static inline const double *
spec_row (const Run *run, int r, int i)
{
  return run->spec_target[r] + (gsize) i * run->spec->nb;
}

static gboolean
reg_active (const Run *run, int r, int s)
{
  const SdRegularizer *reg = &run->cfg->regs[r];
  return s >= run->first[r] && s < run->until[r]
         && (s - run->first[r]) % reg->every == 0;
}

static inline float *
trace_reg (const Dream *dr, const Run *run, int r, int s)
{
  return dr->res->trace.reg_values + (gsize) r * run->cap + s;
}

static void
run_clear (Run *run)
{
  if (run->dreams != NULL) {
    for (int i = 0; i < run->n; i++) {
      if (run->dreams[i].rng != NULL)
        g_rand_free (run->dreams[i].rng);
      sd_dream_result_free (run->dreams[i].res);
    }
  }
  g_free (run->dreams);
  g_free (run->row_dream);
  g_free (run->live);
  for (int i = 0; i < run->n_inj; i++)
    g_free (run->inj[i].grad);
  for (int r = 0; r < SD_DREAM_MAX_REGS; r++) {
    g_free (run->kernel[r]);
    g_free (run->spec_target[r]);
    g_free (run->feat_target[r]);
  }
  g_free (run->pad);
  spec_work_free (run->spec);
}

/* ------------------------------------------------------- validation */

#define FAIL(...)                                                              \
  do {                                                                         \
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG, __VA_ARGS__);          \
    return FALSE;                                                              \
  } while (0)

static int
layer_channels (const SdDreamer *d, int layer)
{
  int C, len;
  sd_workspace_get_layer_output (d->ws, layer, &C, &len);
  return C;
}

static gboolean
check_objective (
    const SdDreamer *d, const SdObjective *o, int i, int T, GError **error)
{
  const int K = d->K;
  const int n_layers = d->n_stages + 2;
  if (o->n_terms < 1 || o->n_terms > SD_DREAM_MAX_TERMS)
    FAIL ("dream %d: the objective has %d terms (expected 1..%d)", i,
        o->n_terms, SD_DREAM_MAX_TERMS);
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    if (!isfinite (t->weight))
      FAIL ("dream %d, objective term %d: weight %g is not a finite number", i,
          k, t->weight);
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
      case SD_OBJECTIVE_PROBABILITY:
      case SD_OBJECTIVE_LOG_PROBABILITY:
        if (t->class_a < 0 || t->class_a >= K)
          FAIL ("dream %d, objective term %d: class %d is not a class of "
                "the model (0..%d)",
              i, k, t->class_a, K - 1);
        break;
      case SD_OBJECTIVE_BORDER:
        if (t->class_a < 0 || t->class_a >= K || t->class_b < 0
            || t->class_b >= K)
          FAIL ("dream %d, objective term %d: border classes %d and %d must "
                "be classes of the model (0..%d)",
              i, k, t->class_a, t->class_b, K - 1);
        if (t->class_a == t->class_b)
          FAIL ("dream %d, objective term %d: border needs two different "
                "classes (got %d twice)",
              i, k, t->class_a);
        break;
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON: {
        if (t->layer < 0 || t->layer >= n_layers)
          FAIL ("dream %d, objective term %d: layer %d does not exist "
                "(0..%d, see sd_model_get_layer_names)",
              i, k, t->layer, n_layers - 1);
        int C = layer_channels (d, t->layer);
        if (t->channel < 0 || t->channel >= C)
          FAIL ("dream %d, objective term %d: channel %d is outside layer "
                "%d's channels 0..%d",
              i, k, t->channel, t->layer, C - 1);
        if (t->type == SD_OBJECTIVE_NEURON) {
          int L = sd_model_get_layer_length (d->model, t->layer, T);
          if (t->position < -L || t->position >= L)
            FAIL ("dream %d, objective term %d: position %d is outside "
                  "-%d..%d for layer %d",
                i, k, t->position, L, L - 1, t->layer);
        }
        break;
      }
      default:
        FAIL ("dream %d, objective term %d: unknown objective type %d", i, k,
            (int) t->type);
    }
  }
  return TRUE;
}

static gboolean
check_reg (
    const SdDreamer *d, const SdRegularizer *r, int k, int T, GError **error)
{
  const char *name = sd_reg_type_to_string (r->type);
  if (name == NULL)
    FAIL ("regulariser %d: unknown type %d", k, (int) r->type);
  if (r->every < 1)
    FAIL ("regulariser %d (%s): every = %d must be at least 1", k, name,
        r->every);
  if (!(r->start >= 0.0f && r->start < r->end && r->end <= 1.0f))
    FAIL ("regulariser %d (%s): window [%g, %g) must satisfy 0 <= start < "
          "end <= 1",
        k, name, r->start, r->end);
  if (r->apply_to != SD_APPLY_SEQUENCE && r->apply_to != SD_APPLY_GRADIENT)
    FAIL ("regulariser %d (%s): apply_to %d is neither sequence nor "
          "gradient",
        k, name, (int) r->apply_to);
  switch (r->type) {
    case SD_REG_L1:
    case SD_REG_L2:
    case SD_REG_TV:
    case SD_REG_TV2:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      break;
    case SD_REG_EXP_SMOOTH:
    case SD_REG_EXP_SMOOTH_ZEROPHASE:
      if (!(r->param > 0.0f && r->param <= 1.0f))
        FAIL ("regulariser %d (%s): alpha %g must be in (0, 1]", k, name,
            r->param);
      break;
    case SD_REG_GAUSSIAN:
      if (!(r->param > 0.0f && r->param <= (float) T))
        FAIL ("regulariser %d (%s): sigma %g must be in (0, %d] samples (the "
              "dream length)",
            k, name, r->param, T);
      break;
    case SD_REG_CLIP:
      if (!isfinite (r->param) || !isfinite (r->param2))
        FAIL ("regulariser %d (%s): bounds [%g, %g] must be finite", k, name,
            r->param, r->param2);
      if (!(r->param == 0.0f && r->param2 == 0.0f) && !(r->param < r->param2))
        FAIL ("regulariser %d (%s): lower bound %g must be below the upper "
              "bound %g (both 0: the model's input range)",
            k, name, r->param, r->param2);
      break;
    case SD_REG_NORM_BOUND:
      if (!(r->param > 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): RMS bound %g must be a finite number > "
              "0",
            k, name, r->param);
      break;
    case SD_REG_JITTER:
      if (!(r->param >= 0.0f && r->param < (float) T))
        FAIL ("regulariser %d (%s): shift %g must be in [0, %d) samples", k,
            name, r->param, T);
      break;
    case SD_REG_SCALE:
      if (!(r->param > 0.0f && r->param <= r->param2 && isfinite (r->param2)))
        FAIL ("regulariser %d (%s): factor range [%g, %g] must satisfy 0 < "
              "min <= max",
            k, name, r->param, r->param2);
      break;
    case SD_REG_NOISE:
      if (!(r->param >= 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): noise sd %g must be a finite number >= "
              "0",
            k, name, r->param);
      break;
    case SD_REG_SPECTRUM:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      if (!(r->param > 0.0f && isfinite (r->param)))
        FAIL ("regulariser %d (%s): floor %g must be a finite number > 0", k,
            name, r->param);
      break;
    case SD_REG_SPECTRAL_FILTER:
      if (!isfinite (r->param))
        FAIL ("regulariser %d (%s): noise level %g dB below the spectrum's "
              "peak must be a finite number",
            k, name, r->param);
      break;
    case SD_REG_FEATURE:
      if (!(r->weight >= 0.0f && isfinite (r->weight)))
        FAIL ("regulariser %d (%s): weight %g must be a finite number >= 0", k,
            name, r->weight);
      if (r->features == NULL)
        FAIL ("regulariser %d (%s): no class features (set features, see "
              "sd_dream_class_features)",
            k, name);
      break;
  }
  if (uses_spectra (r->type) && r->spectra == NULL)
    FAIL ("regulariser %d (%s): no class spectra (set spectra, see "
          "sd_dream_class_spectra)",
        k, name);
  if (uses_spectra (r->type) && !(r->smooth >= 0.0f && r->smooth <= 0.5f))
    FAIL ("regulariser %d (%s): spectrum smoothing %g must be between 0 and "
          "0.5 cycles per sample",
        k, name, r->smooth);
  if (!uses_spectra (r->type) && r->smooth != 0.0f)
    FAIL ("regulariser %d (%s): smoothing of the target spectrum is for the "
          "spectrum and spectral-filter regularisers only",
        k, name);
  if (uses_spectra (r->type) && T < 2)
    FAIL ("regulariser %d (%s): a dream of %d samples has no spectrum", k, name,
        T);
  return TRUE;
}

static gboolean
check_config (const SdDreamer *d, const SdDreamConfig *c,
    const SdDreamSpec *specs, int n, int *T_out, GError **error)
{
  if (n < 1 || n > d->max_B)
    FAIL ("%d dreams do not fit this dreamer (1..%d per run)", n, d->max_B);
  if (specs == NULL)
    FAIL ("no dream specifications given for %d dreams", n);
  int T = c->length;
  if (T == 0)
    T = (int) sd_model_get_train_length (d->model);
  if (T == 0)
    T = d->max_T;
  if (T < 1 || T > d->max_T)
    FAIL ("dream length %d is outside 1..%d (the dreamer's maximum length)", T,
        d->max_T);
  if (T < sd_model_get_min_length (d->model))
    FAIL ("dream length %d is shorter than the %d samples '%s' needs (its "
          "pooling divides the length by %d)",
        T, sd_model_get_min_length (d->model),
        sd_model_get_arch (d->model)->name, sd_model_get_min_length (d->model));
  if (c->steps < 1 || c->steps > MAX_STEPS)
    FAIL ("steps = %d must be in 1..%d", c->steps, MAX_STEPS);
  if ((guint) c->optimizer > SD_DREAM_OPT_NORMALIZED)
    FAIL ("unknown optimiser %d", (int) c->optimizer);
  if (!(c->lr > 0.0f && isfinite (c->lr)))
    FAIL ("learning rate %g must be a finite number > 0", c->lr);
  if (!(c->lr_decay > 0.0f && c->lr_decay <= 1.0f))
    FAIL ("learning-rate decay %g must be in (0, 1] (a per-step factor)",
        c->lr_decay);
  if (!(c->momentum >= 0.0f && c->momentum < 1.0f))
    FAIL ("momentum %g must be in [0, 1)", c->momentum);
  if (!(c->grad_clip >= 0.0f && isfinite (c->grad_clip)))
    FAIL ("gradient clip %g must be a finite number >= 0 (0 = none)",
        c->grad_clip);
  if (!(c->stop_probability >= 0.0f && c->stop_probability <= 1.0f))
    FAIL ("stop probability %g must be in [0, 1] (0 = run all steps)",
        c->stop_probability);
  if (!(c->border_tolerance >= 0.0f && c->border_tolerance < 0.5f))
    FAIL ("border tolerance %g must be in [0, 0.5) (0 = run all steps)",
        c->border_tolerance);
  if (!(c->diversity >= 0.0f && isfinite (c->diversity)))
    FAIL ("diversity weight %g must be a finite number >= 0", c->diversity);
  if (c->n_regs < 0 || c->n_regs > SD_DREAM_MAX_REGS)
    FAIL ("%d regularisers (expected 0..%d)", c->n_regs, SD_DREAM_MAX_REGS);
  for (int k = 0; k < c->n_regs; k++)
    if (!check_reg (d, &c->regs[k], k, T, error))
      return FALSE;
  for (int i = 0; i < n; i++) {
    const SdDreamSpec *sp = &specs[i];
    if (!check_objective (d, &sp->objective, i, T, error))
      return FALSE;
    switch (sp->init.type) {
      case SD_INIT_GAUSSIAN:
      case SD_INIT_UNIFORM:
      case SD_INIT_ZEROS:
      case SD_INIT_CONSTANT:
        if (!isfinite (sp->init.scale))
          FAIL ("dream %d: init scale %g is not a finite number", i,
              sp->init.scale);
        break;
      case SD_INIT_SERIES:
        if (sp->init.series == NULL)
          FAIL ("dream %d: series initialisation without a series (%d "
                "values expected)",
              i, T);
        break;
      default:
        FAIL ("dream %d: unknown initialisation %d", i, (int) sp->init.type);
    }
  }
  *T_out = T;
  return TRUE;
}

#undef FAIL

/* -------------------------------------------------------- objective */

static double
logsumexp (const float *z, int K)
{
  double m = z[0];
  for (int k = 1; k < K; k++)
    m = MAX (m, z[k]);
  double s = 0.0;
  for (int k = 0; k < K; k++)
    s += exp ((double) z[k] - m);
  return m + log (s);
}

/* Value of a CHANNEL / NEURON term at row r of the last forward (layer
 * outputs in the workspace). */
static double
layer_term_value (const Run *run, const SdObjectiveTerm *t, int r)
{
  const SdDreamer *d = run->d;
  int C, L;
  const float *h = sd_workspace_get_layer_output (d->ws, t->layer, &C, &L);
  h += ((gsize) r * C + t->channel) * L;
  if (t->type == SD_OBJECTIVE_NEURON)
    return h[t->position < 0 ? L + t->position : t->position];
  double s = 0.0;
  for (int k = 0; k < L; k++)
    s += h[k];
  return s / L;
}

/* J (no penalties, no diversity) of dream dr at row r of the last forward
 * with logits z (K). */
static double
objective_value (const Run *run, const Dream *dr, int r, const float *z)
{
  const int K = run->d->K;
  const SdObjective *o = dr->obj;
  double J = 0.0, lse = logsumexp (z, K);
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    double v = 0.0;
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
        v = z[t->class_a];
        break;
      case SD_OBJECTIVE_PROBABILITY:
        v = exp (z[t->class_a] - lse);
        break;
      case SD_OBJECTIVE_LOG_PROBABILITY:
        v = z[t->class_a] - lse;
        break;
      case SD_OBJECTIVE_BORDER: {
        double za = z[t->class_a], zb = z[t->class_b];
        double m = MAX (za, zb);
        double lab = m + log (exp (za - m) + exp (zb - m));
        v = (lab - lse) - (za - zb) * (za - zb);
        break;
      }
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON:
        v = layer_term_value (run, t, r);
        break;
    }
    J += t->weight * v;
  }
  return J;
}

/* Target probability (border: p_a / (p_a + p_b)) and, for border dreams,
 * the closeness |p_a - p_b| / (p_a + p_b) = |tanh ((z_a - z_b) / 2)|, both
 * from the logits so they stay exact when p_a + p_b underflows. */
static double
target_probability (
    const Dream *dr, const float *z, const float *p, int K, double *closeness)
{
  *closeness = NAN;
  switch (dr->kind) {
    case TARGET_CENTERED:
      return p[dr->a];
    case TARGET_BORDER: {
      double u = (double) z[dr->a] - z[dr->b];
      *closeness = fabs (tanh (0.5 * u));
      return 1.0 / (1.0 + exp (-u));
    }
    case TARGET_NONE:
    default: {
      double m = p[0];
      for (int k = 1; k < K; k++)
        m = MAX (m, p[k]);
      return m;
    }
  }
}

static double
logit_margin (const Dream *dr, const float *z, int K)
{
  if (dr->kind == TARGET_BORDER)
    return (double) z[dr->a] - z[dr->b];
  int a = dr->a;
  if (dr->kind == TARGET_NONE) {
    a = 0;
    for (int k = 1; k < K; k++)
      if (z[k] > z[a])
        a = k;
  }
  double best = -INFINITY;
  for (int k = 0; k < K; k++)
    if (k != a)
      best = MAX (best, z[k]);
  return K > 1 ? z[a] - best : 0.0;
}

/* dJ/dz (K) of the class terms and of CHANNEL/NEURON terms on "fc";
 * OVERWRITES dz. */
static void
objective_dlogits (const Dream *dr, const float *z, const float *p, int K,
    int fc_layer, float *dz)
{
  const SdObjective *o = dr->obj;
  memset (dz, 0, (gsize) K * sizeof (float));
  for (int k = 0; k < o->n_terms; k++) {
    const SdObjectiveTerm *t = &o->terms[k];
    const float w = t->weight;
    const int a = t->class_a;
    switch (t->type) {
      case SD_OBJECTIVE_LOGIT:
        dz[a] += w;
        break;
      case SD_OBJECTIVE_PROBABILITY: /* dp_a/dz_k = p_a (d_ak - p_k) */
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[a] * p[j];
        dz[a] += w * p[a];
        break;
      case SD_OBJECTIVE_LOG_PROBABILITY:
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[j];
        dz[a] += w;
        break;
      case SD_OBJECTIVE_BORDER: {
        /* d log(p_a+p_b)/dz_k = [k=a] q_a + [k=b] q_b - p_k with
         * q_a = p_a/(p_a+p_b) = sigmoid(z_a - z_b); the quadratic term
         * gives -+2 (z_a - z_b). */
        const int b = t->class_b;
        double u = (double) z[a] - z[b];
        double qa = 1.0 / (1.0 + exp (-u));
        for (int j = 0; j < K; j++)
          dz[j] -= w * p[j];
        dz[a] += (float) (w * (qa - 2.0 * u));
        dz[b] += (float) (w * ((1.0 - qa) + 2.0 * u));
        break;
      }
      case SD_OBJECTIVE_CHANNEL:
      case SD_OBJECTIVE_NEURON:
        if (t->layer == fc_layer)
          dz[t->channel] += w;
        break;
    }
  }
}

/* The constant injected gradients at stage outputs for the live rows:
 * CHANNEL w/T at every time of its channel, NEURON w at its position. */
static void
rebuild_injections (Run *run)
{
  const int T = run->T;
  for (int l = 0; l < run->n_inj; l++) {
    Injection *in = &run->inj[l];
    memset (in->grad, 0, (gsize) run->A * in->C * T * sizeof (float));
    for (int r = 0; r < run->A; r++) {
      if (!run->live[r])
        continue;
      const SdObjective *o = run->dreams[run->row_dream[r]].obj;
      for (int k = 0; k < o->n_terms; k++) {
        const SdObjectiveTerm *t = &o->terms[k];
        if ((t->type != SD_OBJECTIVE_CHANNEL && t->type != SD_OBJECTIVE_NEURON)
            || t->layer != in->layer)
          continue;
        float *h = in->grad + ((gsize) r * in->C + t->channel) * T;
        if (t->type == SD_OBJECTIVE_NEURON) {
          h[t->position < 0 ? T + t->position : t->position] += t->weight;
        } else {
          const float w = t->weight / T;
          for (int k2 = 0; k2 < T; k2++)
            h[k2] += w;
        }
      }
    }
  }
  run->inj_dirty = FALSE;
}

/* dgap rows r0..r1-1 at step s: "gap" CHANNEL/NEURON terms, minus the
 * FEATURE penalties' 2 w (f - mu), minus diversity * dD/df with D = mean
 * over pairs i<j of cos(f_i, f_j) over all n dreams (frozen dreams keep
 * their last features). */
static void
gap_gradient (Run *run, int r0, int r1, int s)
{
  SdDreamer *d = run->d;
  const int C = d->gap_C, n = run->n;
  const float lambda = run->cfg->diversity;
  memset (d->dgap + (gsize) r0 * C, 0, (gsize) (r1 - r0) * C * sizeof (float));
  for (int r = r0; r < r1; r++) {
    if (!run->live[r])
      continue;
    const int i = run->row_dream[r];
    const SdObjective *o = run->dreams[i].obj;
    float *dg = d->dgap + (gsize) r * C;
    for (int k = 0; k < o->n_terms; k++) {
      const SdObjectiveTerm *t = &o->terms[k];
      if ((t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
          && t->layer == d->gap_layer)
        dg[t->channel] += t->weight;
    }
    const float *fi = d->feats + (gsize) i * C;
    for (int k = 0; k < run->cfg->n_regs; k++) {
      const SdRegularizer *reg = &run->cfg->regs[k];
      if (reg->type != SD_REG_FEATURE || reg->weight <= 0.0f
          || !reg_active (run, k, s))
        continue;
      const float *mu = run->feat_target[k] + (gsize) i * C;
      const float w2 = 2.0f * reg->weight;
      for (int ch = 0; ch < C; ch++)
        dg[ch] -= w2 * (fi[ch] - mu[ch]);
    }
    if (lambda <= 0.0f || n < 2)
      continue;
    double ni2 = DIVERSITY_EPS;
    for (int c = 0; c < C; c++)
      ni2 += (double) fi[c] * fi[c];
    const double ni = sqrt (ni2);
    const double scale = lambda / (0.5 * n * (n - 1));
    for (int j = 0; j < n; j++) {
      if (j == i)
        continue;
      const float *fj = d->feats + (gsize) j * C;
      double nj2 = DIVERSITY_EPS, dot = 0.0;
      for (int c = 0; c < C; c++) {
        nj2 += (double) fj[c] * fj[c];
        dot += (double) fi[c] * fj[c];
      }
      const double nj = sqrt (nj2);
      const double cos_ij = dot / (ni * nj);
      /* d cos/d f_i = f_j / (n_i n_j) - cos f_i / n_i^2 */
      const double aj = scale / (ni * nj), ai = scale * cos_ij / ni2;
      for (int c = 0; c < C; c++)
        dg[c] -= (float) (aj * fj[c] - ai * fi[c]);
    }
  }
}

/* ------------------------------------------------------------- init */

static void
init_dream (const SdInit *init, GRand *rng, float *x, int T)
{
  switch (init->type) {
    case SD_INIT_GAUSSIAN:
      /* Box-Muller on GRand: the same numbers for a seed everywhere. */
      for (int t = 0; t < T; t += 2) {
        double u1 = 1.0 - g_rand_double (rng), u2 = g_rand_double (rng);
        double rr = sqrt (-2.0 * log (u1));
        x[t] = (float) (init->scale * rr * cos (2.0 * G_PI * u2));
        if (t + 1 < T)
          x[t + 1] = (float) (init->scale * rr * sin (2.0 * G_PI * u2));
      }
      break;
    case SD_INIT_UNIFORM:
      for (int t = 0; t < T; t++)
        x[t] = (float) g_rand_double_range (rng, -init->scale, init->scale);
      break;
    case SD_INIT_ZEROS:
      memset (x, 0, (gsize) T * sizeof (float));
      break;
    case SD_INIT_CONSTANT:
      for (int t = 0; t < T; t++)
        x[t] = init->scale;
      break;
    case SD_INIT_SERIES:
      memcpy (x, init->series, (gsize) T * sizeof (float));
      break;
  }
}

/* ------------------------------------------------------------ setup */

/* x (T) -> (x - mean) / sd in place (population sd); a flat series becomes
 * zeros, as sd_model_normalize_input does. */
static void
znorm_row (float *x, int T)
{
  double m = 0.0, v = 0.0;
  for (int t = 0; t < T; t++)
    m += x[t];
  m /= T;
  for (int t = 0; t < T; t++)
    v += (x[t] - m) * (x[t] - m);
  double sd = sqrt (v / T);
  const float f = sd > 1e-8 ? (float) (1.0 / sd) : 0.0f, mf = (float) m;
  for (int t = 0; t < T; t++)
    x[t] = (x[t] - mf) * f;
}

/* Project g onto the tangent space of the z-normalised series at y (mean 0,
 * sd 1): remove the mean and the component along y, the gradient of
 * f (znorm (y)) at a normalised y. */
static void
znorm_project_grad (float *g, const float *y, int T)
{
  double mg = 0.0, gy = 0.0;
  for (int t = 0; t < T; t++) {
    mg += g[t];
    gy += (double) g[t] * y[t];
  }
  const float a = (float) (mg / T), b = (float) (gy / T);
  for (int t = 0; t < T; t++)
    g[t] -= a + b * y[t];
}

/* q (nb bins) <- q smoothed by a Gaussian of sigma bins along frequency,
 * reaching 4 sigma, reflected at both ends (half-sample symmetric, as the
 * spectrum of a real series is symmetric about 0 and Nyquist). Bin 0 (the
 * mean, which the spectra remove) is kept out of it: smoothing must not
 * invent a DC offset the data do not have. */
static void
smooth_spectrum (double *q, int nb, double sigma)
{
  const int n = nb - 1; /* bins 1 .. nb - 1 */
  if (n < 2)
    return;
  const int R = (int) ceil (4.0 * sigma);
  g_autofree double *w = g_new (double, R + 1);
  g_autofree double *src = g_memdup2 (q + 1, (gsize) n * sizeof (double));
  double z = 0.0;
  for (int j = 0; j <= R; j++) {
    w[j] = exp (-(double) j * j / (2.0 * sigma * sigma));
    z += j == 0 ? w[j] : 2.0 * w[j];
  }
  for (int k = 0; k < n; k++) {
    double v = w[0] * src[k];
    for (int j = 1; j <= R; j++)
      v += w[j]
           * (src[reflect_index (k - j, n)] + src[reflect_index (k + j, n)]);
    q[k + 1] = v / z;
  }
}

/* Per dream and spectral regulariser: the target spectrum q (the mean of
 * all rows, or with param2 != 0 its class's row / the mean of its two
 * border classes' rows; smoothed when reg->smooth > 0) as log (q + eps)
 * for SPECTRUM or as the Wiener gains q / (q + N) for SPECTRAL_FILTER. */
static gboolean
spectra_setup (Run *run, GError **error)
{
  const SdDreamConfig *c = run->cfg;
  const int K = run->d->K, T = run->T;
  for (int r = 0; r < c->n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    if (!uses_spectra (reg->type))
      continue;
    if (run->spec == NULL)
      run->spec = spec_work_new (T);
    const int nb = run->spec->nb;
    double *tg = run->spec_target[r] = g_new (double, (gsize) run->n *nb);
    for (int i = 0; i < run->n; i++) {
      const Dream *dr = &run->dreams[i];
      double *q = tg + (gsize) i * nb;
      int rows[2] = { dr->a, dr->b }, n_rows = 1;
      const gboolean all = dr->kind == TARGET_NONE || reg->param2 == 0.0f;
      if (all)
        n_rows = K;
      else if (dr->kind == TARGET_BORDER)
        n_rows = 2;
      for (int k = 0; k < nb; k++) {
        double v = 0.0;
        for (int j = 0; j < n_rows; j++) {
          int row = all ? j : rows[j];
          v += reg->spectra[(gsize) row * nb + k];
        }
        v /= n_rows;
        if (!(v >= 0.0 && isfinite (v))) {
          g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
              "regulariser %d (%s), dream %d: the class spectra have no "
              "finite, non-negative value at bin %d for its class (a class "
              "without reference series?)",
              r, sd_reg_type_to_string (reg->type), i, k);
          return FALSE;
        }
        q[k] = v;
      }
      if (reg->smooth > 0.0f)
        smooth_spectrum (q, nb, (double) reg->smooth * T);
      double qmax = 0.0;
      for (int k = 0; k < nb; k++)
        qmax = MAX (qmax, q[k]);
      /* SPECTRAL_FILTER: the Wiener gain for the signal spectrum q in
       * white noise `param` dB below its peak */
      const double noise = qmax * pow (10.0, -reg->param / 10.0);
      for (int k = 0; k < nb; k++) {
        if (reg->type == SD_REG_SPECTRUM)
          q[k] = log (q[k] + reg->param);
        else
          q[k] = q[k] > 0.0 ? q[k] / (q[k] + noise) : 0.0;
      }
    }
  }
  return TRUE;
}

/* Per dream and FEATURE regulariser: the target features, its class's
 * row (border: the mean of its two classes' rows; no class target: the
 * mean of all rows). */
static gboolean
features_setup (Run *run, GError **error)
{
  const SdDreamConfig *c = run->cfg;
  const int K = run->d->K, C = run->d->gap_C;
  for (int r = 0; r < c->n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    if (reg->type != SD_REG_FEATURE)
      continue;
    float *tg = run->feat_target[r] = g_new (float, (gsize) run->n *C);
    for (int i = 0; i < run->n; i++) {
      const Dream *dr = &run->dreams[i];
      int rows[2] = { dr->a, dr->b }, n_rows = 1;
      const gboolean all = dr->kind == TARGET_NONE;
      if (all)
        n_rows = K;
      else if (dr->kind == TARGET_BORDER)
        n_rows = 2;
      for (int ch = 0; ch < C; ch++) {
        double v = 0.0;
        for (int j = 0; j < n_rows; j++)
          v += reg->features[(gsize) (all ? j : rows[j]) * C + ch];
        v /= n_rows;
        if (!isfinite (v)) {
          g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
              "regulariser %d (%s), dream %d: the class features have no "
              "finite value at feature %d for its class (a class without "
              "reference series?)",
              r, sd_reg_type_to_string (reg->type), i, ch);
          return FALSE;
        }
        tg[(gsize) i * C + ch] = (float) v;
      }
    }
  }
  return TRUE;
}

/* FEATURE's value w sum_c (f_c - mu_c)^2 for dream i (features f). */
static double
feature_penalty (const Run *run, int k, int i, const float *f)
{
  const int C = run->d->gap_C;
  const float *mu = run->feat_target[k] + (gsize) i * C;
  double v = 0.0;
  for (int ch = 0; ch < C; ch++)
    v += ((double) f[ch] - mu[ch]) * ((double) f[ch] - mu[ch]);
  return run->cfg->regs[k].weight * v;
}

static gboolean
run_setup (Run *run, const SdDreamSpec *specs, GError **error)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int n = run->n, T = run->T, K = d->K;
  const int n_regs = c->n_regs;
  const gsize cap = (gsize) run->cap;

  run->dreams = g_new0 (Dream, n);
  run->row_dream = g_new0 (int, n);
  run->live = g_new0 (gboolean, n);
  for (int i = 0; i < n; i++) {
    Dream *dr = &run->dreams[i];
    SdDreamResult *res = g_new0 (SdDreamResult, 1);
    dr->res = res;
    res->length = T;
    res->sequence = g_new0 (float, T);
    res->logits = g_new0 (float, K);
    res->probabilities = g_new0 (float, K);
    res->trace.n_regs = n_regs;
    res->trace.objective = g_try_new0 (float, cap);
    res->trace.probability = g_try_new0 (float, cap);
    res->trace.reg_values = n_regs > 0 ? g_try_new0 (float, cap *n_regs) : NULL;
    if (res->trace.objective == NULL || res->trace.probability == NULL
        || (n_regs > 0 && res->trace.reg_values == NULL)) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "out of memory for the trace of %d dreams x %d steps", n, c->steps);
      return FALSE;
    }
    dr->obj = &specs[i].objective;
    dr->kind = TARGET_NONE;
    for (int k = 0; k < dr->obj->n_terms; k++) {
      const SdObjectiveTerm *t = &dr->obj->terms[k];
      if (t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
        continue;
      dr->kind
          = t->type == SD_OBJECTIVE_BORDER ? TARGET_BORDER : TARGET_CENTERED;
      dr->a = t->class_a;
      dr->b = t->class_b;
      break;
    }
    guint32 seed[2]
        = { (guint32) specs[i].seed, (guint32) (specs[i].seed >> 32) };
    dr->rng = g_rand_new_with_seed_array (seed, 2);
    dr->best_score = -INFINITY;
    dr->scale = 1.0f;
    init_dream (&specs[i].init, dr->rng, d->x + (gsize) i * T, T);
    if (run->cfg->znormalize)
      znorm_row (d->x + (gsize) i * T, T);
  }

  /* injected gradients at the stage outputs the objectives name */
  for (int l = 0; l < d->n_stages; l++) {
    gboolean used = FALSE;
    for (int i = 0; i < n && !used; i++)
      for (int k = 0; k < specs[i].objective.n_terms; k++) {
        const SdObjectiveTerm *t = &specs[i].objective.terms[k];
        if ((t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
            && t->layer == l)
          used = TRUE;
      }
    if (!used)
      continue;
    Injection *in = &run->inj[run->n_inj++];
    in->layer = l;
    in->C = layer_channels (d, l);
    in->grad = g_try_new0 (float, (gsize) n * in->C * T);
    if (in->grad == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "out of memory for the gradient injected at layer %d", l);
      return FALSE;
    }
  }
  run->inj_dirty = TRUE;
  run->use_gap = c->diversity > 0.0f && n > 1;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < specs[i].objective.n_terms; k++) {
      const SdObjectiveTerm *t = &specs[i].objective.terms[k];
      if ((t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
          && t->layer == d->gap_layer)
        run->use_gap = TRUE;
    }
  for (int r = 0; r < n_regs; r++)
    if (c->regs[r].type == SD_REG_FEATURE && c->regs[r].weight > 0.0f)
      run->use_gap = TRUE;

  /* regulariser windows, Gaussian kernels, clipping ranges */
  int max_R = 0;
  for (int r = 0; r < n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    run->first[r] = (int) ceil ((double) reg->start * run->N);
    run->until[r] = (double) reg->end * run->N;
    if (reg->type == SD_REG_GAUSSIAN) {
      run->radius[r] = gaussian_radius (reg->param);
      run->kernel[r] = g_new (float, run->radius[r] + 1);
      gaussian_kernel (run->kernel[r], reg->param, run->radius[r]);
      max_R = MAX (max_R, run->radius[r]);
    } else if (reg->type == SD_REG_CLIP) {
      float lo = reg->param, hi = reg->param2;
      if (lo == 0.0f && hi == 0.0f)
        sd_model_get_input_range (d->model, &lo, &hi);
      run->clip_on[r] = isfinite (lo) && isfinite (hi) && lo < hi;
      run->clip_lo[r] = lo;
      run->clip_hi[r] = hi;
    }
  }
  run->pad = g_new (float, (gsize) T + 2 * (gsize) max_R);
  if (!spectra_setup (run, error) || !features_setup (run, error))
    return FALSE;
  memset (d->m1, 0, (gsize) n * T * sizeof (float));
  memset (d->m2, 0, (gsize) n * T * sizeof (float));
  return TRUE;
}

/* ------------------------------------------------------- divergence */

static gboolean
diverged (GError **error, int dream, int step, const char *what, int index)
{
  if (step == 0 && strcmp (what, "the sequence") == 0)
    g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
        "dream %d diverged at step 0: the initial sequence has a non-finite "
        "value at index %d",
        dream, index);
  else
    g_set_error (error, SD_ERROR, SD_ERROR_DIVERGED,
        "dream %d diverged at step %d: %s has a non-finite value at index "
        "%d (lower the learning rate or add a clip / norm-bound regulariser)",
        dream, step, what, index);
  return FALSE;
}

/* ----------------------------------------------------- one step */

/* Rows per chunk of a step: about CHUNK_SAMPLES time samples, so that a
 * chunk's activations stay in cache from its forward to its backward
 * (resnet-small, T = 500, batch 16: 1.7x faster than one forward of all
 * rows); all rows when diversity couples them. Depends on the
 * configuration only, so runs stay deterministic. */
#define CHUNK_SAMPLES 1024

static int
chunk_rows (const Run *run)
{
  if (run->cfg->diversity > 0.0f && run->n > 1)
    return run->A;
  return CLAMP (CHUNK_SAMPLES / run->T, 1, run->A);
}

/* Forward of rows r0..r1-1 of d->xin (workspace rows 0..r1-r0-1); softmax
 * into their d->probs rows; the features of those rows whose dream is live
 * (or all of them) into d->feats. Returns the logits of the chunk. */
static const float *
forward_rows (Run *run, int r0, int r1, gboolean all_rows)
{
  SdDreamer *d = run->d;
  const int K = d->K;
  const float *z = sd_model_forward (
      d->model, d->ws, d->xin + (gsize) r0 * run->T, r1 - r0, run->T);
  sd_softmax_forward (d->probs + (gsize) r0 * K, z, r1 - r0, K);
  int C, L;
  const float *gap
      = sd_workspace_get_layer_output (d->ws, d->gap_layer, &C, &L);
  for (int r = r0; r < r1; r++)
    if (all_rows || run->live[r])
      memcpy (d->feats + (gsize) run->row_dream[r] * C,
          gap + (gsize) (r - r0) * C, (gsize) C * sizeof (float));
  return z;
}

/* x_s of every running dream is finite (checked for all rows before any
 * chunk, as the first error of a step). */
static gboolean
check_sequences (Run *run, int s, GError **error)
{
  SdDreamer *d = run->d;
  const int T = run->T;
  for (int r = 0; r < run->A; r++) {
    const int i = run->row_dream[r];
    int bad = first_nonfinite (d->x + (gsize) i * T, T);
    if (bad >= 0)
      return diverged (error, i, s, "the sequence", bad);
  }
  return TRUE;
}

/* Evaluate x_s of the running dreams of rows r0..r1-1: trace entry s,
 * keep-best, stop. Leaves their forward in the workspace. */
static gboolean
evaluate (Run *run, int s, int r0, int r1, GError **error)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, K = d->K;
  for (int r = r0; r < r1; r++)
    memcpy (d->xin + (gsize) r * T, d->x + (gsize) run->row_dream[r] * T,
        (gsize) T * sizeof (float));
  const float *logits = forward_rows (run, r0, r1, TRUE);
  for (int r = r0; r < r1; r++) {
    const int i = run->row_dream[r];
    Dream *dr = &run->dreams[i];
    SdDreamTrace *tr = &dr->res->trace;
    const float *z = logits + (gsize) (r - r0) * K;
    const float *x = d->x + (gsize) i * T;
    int bad = first_nonfinite (z, K);
    if (bad >= 0)
      return diverged (error, i, s, "the model output (logits)", bad);
    double closeness;
    double J = objective_value (run, dr, r - r0, z);
    double p
        = target_probability (dr, z, d->probs + (gsize) r * K, K, &closeness);
    tr->objective[s] = (float) J;
    tr->probability[s] = (float) p;
    tr->n_steps = s + 1;
    dr->steps = s;
    for (int k = 0; k < c->n_regs; k++) {
      const SdRegularizer *reg = &c->regs[k];
      if (reg->type == SD_REG_SPECTRUM)
        *trace_reg (dr, run, k, s)
            = (float) (reg->weight
                       * spectrum_penalty (run->spec, x, spec_row (run, k, i),
                           reg->param, 0.0f, NULL));
      else if (is_penalty (reg->type))
        *trace_reg (dr, run, k, s)
            = (float) (reg->weight * penalty_value (reg->type, x, T));
      else if (reg->type == SD_REG_SCALE)
        *trace_reg (dr, run, k, s) = 1.0f; /* overwritten when drawn */
      else if (reg->type == SD_REG_FEATURE)
        *trace_reg (dr, run, k, s) = (float) feature_penalty (
            run, k, i, d->feats + (gsize) i * d->gap_C);
    }
    double score = dr->kind == TARGET_BORDER ? -closeness : J;
    for (int k = 0; k < c->n_regs; k++)
      if (c->regs[k].type == SD_REG_FEATURE)
        score -= *trace_reg (dr, run, k, s);
    /* entry 0 is the initialisation, not a dream: with noise it is often
     * the strongest class evidence a filter then removes */
    if (c->keep_best && s > 0 && score > dr->best_score) {
      dr->best_score = score;
      dr->best_step = s;
      memcpy (d->best + (gsize) i * T, x, (gsize) T * sizeof (float));
    }
    gboolean stop = FALSE;
    if (dr->kind == TARGET_CENTERED && c->stop_probability > 0.0f)
      stop = p >= c->stop_probability;
    else if (dr->kind == TARGET_BORDER && c->border_tolerance > 0.0f)
      stop = closeness <= 2.0 * c->border_tolerance;
    if (stop) {
      dr->converged = TRUE;
      dr->frozen = TRUE;
      run->live[r] = FALSE;
      run->inj_dirty = TRUE;
    }
  }
  return TRUE;
}

/* Apply filter / projection k to x (T) in place. */
static void
apply_filter (Run *run, int k, int i, float *x)
{
  const SdRegularizer *reg = &run->cfg->regs[k];
  const int T = run->T;
  switch (reg->type) {
    case SD_REG_EXP_SMOOTH:
      exp_smooth_forward (x, T, reg->param);
      break;
    case SD_REG_EXP_SMOOTH_ZEROPHASE:
      exp_smooth_forward (x, T, reg->param);
      exp_smooth_backward (x, T, reg->param);
      break;
    case SD_REG_GAUSSIAN:
      gaussian_filter (x, T, run->kernel[k], run->radius[k], run->pad);
      break;
    case SD_REG_SPECTRAL_FILTER:
      spectral_filter (run->spec, x, spec_row (run, k, i));
      break;
    case SD_REG_CLIP:
      if (run->clip_on[k]) {
        const float lo = run->clip_lo[k], hi = run->clip_hi[k];
        for (int t = 0; t < T; t++)
          x[t] = CLAMP (x[t], lo, hi);
      }
      break;
    case SD_REG_NORM_BOUND: {
      double v = rms (x, T);
      if (v > reg->param) {
        const float f = (float) (reg->param / v);
        for (int t = 0; t < T; t++)
          x[t] *= f;
      }
      break;
    }
    default:
      break;
  }
}

/* Gradient and update of the live dreams of rows r0..r1-1, whose forward
 * (evaluate) is in the workspace: x_s -> x_{s+1}. */
static gboolean
update (Run *run, int s, int r0, int r1, GError **error)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, K = d->K;

  /* jitter / scale: a second forward of the transformed inputs */
  gboolean transformed = FALSE;
  for (int k = 0; k < c->n_regs; k++)
    if (is_transform (c->regs[k].type) && reg_active (run, k, s))
      transformed = TRUE;
  if (transformed) {
    for (int r = r0; r < r1; r++) {
      if (!run->live[r])
        continue;
      Dream *dr = &run->dreams[run->row_dream[r]];
      int shift = 0;
      double scale = 1.0, noise = 0.0;
      for (int k = 0; k < c->n_regs; k++) {
        const SdRegularizer *reg = &c->regs[k];
        if (!is_transform (reg->type) || !reg_active (run, k, s))
          continue;
        if (reg->type == SD_REG_NOISE) {
          /* independent noise sources add in variance */
          noise = sqrt (noise * noise + (double) reg->param * reg->param);
          *trace_reg (dr, run, k, s) = reg->param;
        } else if (reg->type == SD_REG_JITTER) {
          int m = (int) reg->param;
          int v = g_rand_int_range (dr->rng, -m, m + 1);
          shift += v;
          *trace_reg (dr, run, k, s) = (float) v;
        } else {
          double v = reg->param
                     + (reg->param2 - reg->param) * g_rand_double (dr->rng);
          scale *= v;
          *trace_reg (dr, run, k, s) = (float) v;
        }
      }
      shift %= T;
      if (shift < 0)
        shift += T;
      dr->shift = shift;
      dr->scale = (float) scale;
      const float *x = d->x + (gsize) run->row_dream[r] * T;
      float *xi = d->xin + (gsize) r * T;
      const float f = dr->scale;
      /* xin[(t + shift) mod T] = scale * x[t] */
      for (int t = 0; t < T - shift; t++)
        xi[t + shift] = f * x[t];
      for (int t = T - shift; t < T; t++)
        xi[t + shift - T] = f * x[t];
      /* additive noise leaves the gradient as it is (d xin / d x = f) */
      if (noise > 0.0)
        for (int t = 0; t < T; t += 2) {
          /* Box-Muller: two normal draws per two uniforms */
          double u1 = g_rand_double (dr->rng), u2 = g_rand_double (dr->rng);
          double rad = sqrt (-2.0 * log (1.0 - u1)) * noise;
          xi[t] += (float) (rad * cos (2.0 * G_PI * u2));
          if (t + 1 < T)
            xi[t + 1] += (float) (rad * sin (2.0 * G_PI * u2));
        }
    }
    forward_rows (run, r0, r1, FALSE);
  }
  /* the logits of the last forward (the transformed one if any) */
  int zC, zL;
  const float *z = sd_workspace_get_layer_output (d->ws, d->fc_layer, &zC, &zL);

  /* dJ at the logits, at "gap" and at the stage outputs */
  for (int r = r0; r < r1; r++) {
    float *dz = d->dlogits + (gsize) r * K;
    if (run->live[r])
      objective_dlogits (&run->dreams[run->row_dream[r]],
          z + (gsize) (r - r0) * K, d->probs + (gsize) r * K, K, d->fc_layer,
          dz);
    else
      memset (dz, 0, (gsize) K * sizeof (float));
  }
  if (run->inj_dirty)
    rebuild_injections (run);
  SdLayerGrad extra[SD_MAX_STAGES + 1];
  int n_extra = 0;
  for (int l = 0; l < run->n_inj; l++)
    extra[n_extra++] = (SdLayerGrad){ run->inj[l].layer,
      run->inj[l].grad + (gsize) r0 * run->inj[l].C * T };
  if (run->use_gap) {
    gap_gradient (run, r0, r1, s);
    extra[n_extra++]
        = (SdLayerGrad){ d->gap_layer, d->dgap + (gsize) r0 * d->gap_C };
  }
  sd_model_backward_full (d->model, d->ws, d->dlogits + (gsize) r0 * K, extra,
      n_extra, NULL, d->dx + (gsize) r0 * T);

  const double lr = (double) c->lr * pow (c->lr_decay, s);
  const int t_adam = s + 1;
  const double bc1 = 1.0 - pow (ADAM_BETA1, t_adam);
  const double bc2 = 1.0 - pow (ADAM_BETA2, t_adam);
  for (int r = r0; r < r1; r++) {
    if (!run->live[r])
      continue;
    const int i = run->row_dream[r];
    Dream *dr = &run->dreams[i];
    float *x = d->x + (gsize) i * T;
    float *g = d->g + (gsize) i * T;
    const float *dxr = d->dx + (gsize) r * T;

    /* back through the transform: g[t] = scale * dxin[(t + shift) % T] */
    if (transformed) {
      const int sh = dr->shift;
      const float f = dr->scale;
      for (int t = 0; t < T - sh; t++)
        g[t] = f * dxr[t + sh];
      for (int t = T - sh; t < T; t++)
        g[t] = f * dxr[t + sh - T];
    } else {
      memcpy (g, dxr, (gsize) T * sizeof (float));
    }
    int bad = first_nonfinite (g, T);
    if (bad >= 0)
      return diverged (error, i, s, "the gradient", bad);
    if (c->znormalize)
      znorm_project_grad (g, x, T);

    for (int k = 0; k < c->n_regs; k++) {
      const SdRegularizer *reg = &c->regs[k];
      if (is_penalty (reg->type) && reg->weight > 0.0f
          && reg_active (run, k, s)) {
        if (reg->type == SD_REG_SPECTRUM)
          spectrum_penalty (
              run->spec, x, spec_row (run, k, i), reg->param, reg->weight, g);
        else
          penalty_subtract_grad (reg->type, x, T, reg->weight, g);
      }
    }
    for (int k = 0; k < c->n_regs; k++) {
      const SdRegularizer *reg = &c->regs[k];
      if (is_filter (reg->type) && reg->apply_to == SD_APPLY_GRADIENT
          && reg_active (run, k, s)) {
        memcpy (d->orig, g, (gsize) T * sizeof (float));
        apply_filter (run, k, i, g);
        *trace_reg (dr, run, k, s + 1) = (float) rms_diff (g, d->orig, T);
      }
    }
    if (c->grad_clip > 0.0f) {
      double v = rms (g, T);
      if (v > c->grad_clip) {
        const float f = (float) (c->grad_clip / v);
        for (int t = 0; t < T; t++)
          g[t] *= f;
      }
    }

    /* ascent */
    float *m1 = d->m1 + (gsize) i * T, *m2 = d->m2 + (gsize) i * T;
    switch (c->optimizer) {
      case SD_DREAM_OPT_ADAM: {
        const float b1 = (float) ADAM_BETA1, b2 = (float) ADAM_BETA2;
        const float step = (float) (lr / bc1);
        const float rs = (float) (1.0 / sqrt (bc2));
        for (int t = 0; t < T; t++) {
          m1[t] = b1 * m1[t] + (1.0f - b1) * g[t];
          m2[t] = b2 * m2[t] + (1.0f - b2) * g[t] * g[t];
          x[t] += step * m1[t] / (sqrtf (m2[t]) * rs + ADAM_EPS);
        }
        break;
      }
      case SD_DREAM_OPT_SGD: {
        const float mu = c->momentum, step = (float) lr;
        for (int t = 0; t < T; t++) {
          m1[t] = mu * m1[t] + g[t];
          x[t] += step * m1[t];
        }
        break;
      }
      case SD_DREAM_OPT_NORMALIZED: {
        double v = rms (g, T);
        if (v > 0.0) {
          const float step = (float) (lr / v);
          for (int t = 0; t < T; t++)
            x[t] += step * g[t];
        }
        break;
      }
    }

    for (int k = 0; k < c->n_regs; k++) {
      const SdRegularizer *reg = &c->regs[k];
      gboolean on_x
          = (is_filter (reg->type) && reg->apply_to == SD_APPLY_SEQUENCE)
            || reg->type == SD_REG_CLIP || reg->type == SD_REG_NORM_BOUND;
      if (on_x && reg_active (run, k, s)) {
        memcpy (d->orig, x, (gsize) T * sizeof (float));
        apply_filter (run, k, i, x);
        *trace_reg (dr, run, k, s + 1) = (float) rms_diff (x, d->orig, T);
      }
    }
    if (c->znormalize)
      znorm_row (x, T);
    bad = first_nonfinite (x, T);
    if (bad >= 0)
      return diverged (error, i, s, "the sequence", bad);
  }
  return TRUE;
}

/* The returned sequences, one forward on them, the result fields. */
static void
finish (Run *run)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, K = d->K, n = run->n;
  for (int i = 0; i < n; i++) {
    Dream *dr = &run->dreams[i];
    SdDreamResult *res = dr->res;
    const float *src = d->x + (gsize) i * T;
    res->steps = dr->steps;
    res->converged = dr->converged;
    res->best_step = dr->steps;
    if (!dr->converged && c->keep_best) {
      src = d->best + (gsize) i * T;
      res->best_step = dr->best_step;
    }
    memcpy (res->sequence, src, (gsize) T * sizeof (float));
    memcpy (d->xin + (gsize) i * T, src, (gsize) T * sizeof (float));
    run->row_dream[i] = i;
    /* the trace rows were laid out with stride cap: make it n_steps */
    SdDreamTrace *tr = &res->trace;
    for (int k = 1; k < tr->n_regs; k++)
      memmove (tr->reg_values + (gsize) k * tr->n_steps,
          tr->reg_values + (gsize) k * run->cap,
          (gsize) tr->n_steps * sizeof (float));
  }
  run->A = n;
  const int R = chunk_rows (run);
  for (int r0 = 0; r0 < n; r0 += R) {
    const int r1 = MIN (n, r0 + R);
    const float *z = forward_rows (run, r0, r1, TRUE);
    for (int i = r0; i < r1; i++) {
      Dream *dr = &run->dreams[i];
      SdDreamResult *res = dr->res;
      const float *zi = z + (gsize) (i - r0) * K;
      memcpy (res->logits, zi, (gsize) K * sizeof (float));
      memcpy (res->probabilities, d->probs + (gsize) i * K,
          (gsize) K * sizeof (float));
      double closeness;
      res->objective = (float) objective_value (run, dr, i - r0, zi);
      res->probability = (float) target_probability (
          dr, zi, res->probabilities, K, &closeness);
      res->logit_margin = (float) logit_margin (dr, zi, K);
    }
  }
}

gboolean
sd_dreamer_run (SdDreamer *d, const SdDreamConfig *config,
    const SdDreamSpec *specs, int n, SdDreamResult **results, GError **error)
{
  g_return_val_if_fail (d != NULL, FALSE);
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (results != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  for (int i = 0; i < n; i++)
    results[i] = NULL;

  int T;
  if (!check_config (d, config, specs, n, &T, error))
    return FALSE;

  Run run;
  memset (&run, 0, sizeof run);
  run.d = d;
  run.cfg = config;
  run.n = n;
  run.T = T;
  run.N = config->steps;
  run.cap = config->steps + 1;
  gboolean ok = run_setup (&run, specs, error);

  for (int s = 0; ok; s++) {
    if (config->cancel != NULL && g_atomic_int_get (config->cancel)) {
      g_set_error (error, SD_ERROR, SD_ERROR_CANCELLED,
          "dream cancelled at step %d of %d", s, config->steps);
      ok = FALSE;
      break;
    }
    /* the rows of this step: the dreams still running, in index order */
    int A = 0;
    for (int i = 0; i < n; i++)
      if (!run.dreams[i].frozen) {
        run.row_dream[A] = i;
        run.live[A] = TRUE;
        A++;
      }
    if (A == 0)
      break;
    if (A != run.A)
      run.inj_dirty = TRUE;
    run.A = A;
    ok = check_sequences (&run, s, error);
    /* chunk by chunk: evaluate, then update if this is not the last
     * entry; as without chunks, an error of any evaluate wins over one of
     * an update */
    GError *update_error = NULL;
    const int R = chunk_rows (&run);
    for (int r0 = 0; ok && r0 < A; r0 += R) {
      const int r1 = MIN (A, r0 + R);
      ok = evaluate (&run, s, r0, r1, error);
      if (!ok || s == run.N || update_error != NULL)
        continue;
      gboolean any_live = FALSE;
      for (int r = r0; r < r1; r++)
        any_live |= run.live[r];
      if (any_live)
        update (&run, s, r0, r1, &update_error);
    }
    if (ok && update_error != NULL) {
      g_propagate_error (error, g_steal_pointer (&update_error));
      ok = FALSE;
    }
    g_clear_error (&update_error);
    if (!ok || s == run.N)
      break;
  }

  if (ok) {
    finish (&run);
    for (int i = 0; i < n; i++) {
      results[i] = run.dreams[i].res;
      run.dreams[i].res = NULL;
    }
  }
  run_clear (&run);
  return ok;
}
