/* Unit tests of core/layers.c: finite-difference gradients of every layer,
 * direct value checks against naive references, accumulation and NULL
 * gradient semantics.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/layers.h"

#include <math.h>
#include <string.h>

#define SEED 20240611u

/* Finite differences: the forward runs in float, the central difference is
 * taken in double. A gradient entry passes when
 *   |analytic - numeric| / max (FD_FLOOR, |numeric|) <= FD_TOL.
 * Step: FD_EPS = 1e-2 where the loss is (piecewise) linear or mildly curved
 * (conv, dense, relu, add, gap, bn eval, softmax+CE): the FD is then nearly
 * exact and a big step keeps float rounding noise small. Batchnorm train is
 * curved like rstd^3, so it uses FD_EPS_CURVED = 3e-3 (truncation ~ eps^2
 * vs. noise ~ 1/eps; measured optimum). Observed worst errors are ~2e-3
 * (softmax+CE), typically 1e-4; a wrong gradient gives errors of O(1). */
#define FD_EPS 1e-2
#define FD_EPS_CURVED 3e-3
#define FD_FLOOR 1e-2
#define FD_TOL 2e-2

/* ----------------------------------------------------------------- helpers */

static void
fill_uniform (GRand *r, float *x, gsize n, double lo, double hi)
{
  for (gsize i = 0; i < n; i++)
    x[i] = (float) g_rand_double_range (r, lo, hi);
}

/* uniform in +-[lo,hi]: keeps relu inputs away from the kink at 0 */
static void
fill_away_from_zero (GRand *r, float *x, gsize n, double lo, double hi)
{
  for (gsize i = 0; i < n; i++) {
    const double v = g_rand_double_range (r, lo, hi);
    x[i] = (float) (g_rand_boolean (r) ? v : -v);
  }
}

static double
dot (const float *a, const float *b, gsize n)
{
  double s = 0.0;
  for (gsize i = 0; i < n; i++)
    s += (double) a[i] * b[i];
  return s;
}

static float *
fdup (const float *x, gsize n)
{
  return g_memdup2 (x, n * sizeof (float));
}

/* max_i |a_i - b_i| / max (floor, |b_i|) */
static double
max_rel_err (const float *a, const double *b, gsize n, double floor_)
{
  double e = 0.0;
  for (gsize i = 0; i < n; i++) {
    const double d = fabs ((double) a[i] - b[i]) / MAX (floor_, fabs (b[i]));
    e = isnan (d) ? INFINITY : MAX (e, d);
  }
  return e;
}

static void
assert_close (
    const char *what, const float *a, const float *b, gsize n, double tol)
{
  double *bd = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    bd[i] = b[i];
  const double e = max_rel_err (a, bd, n, 1.0);
  g_free (bd);
  if (!(e <= tol))
    g_test_message ("%s: max err %.3g > %.3g", what, e, tol);
  g_assert_cmpfloat (e, <=, tol);
}

typedef double (*LossFunc) (gpointer ctx);

/* Central differences of loss w.r.t. p[0..n). The step actually taken is the
 * float-rounded one, so the denominator is exact. */
static void
fd_gradient (
    LossFunc loss, gpointer ctx, float *p, gsize n, double eps, double *num)
{
  for (gsize i = 0; i < n; i++) {
    const float v = p[i];
    const float vp = (float) (v + eps), vm = (float) (v - eps);
    p[i] = vp;
    const double lp = loss (ctx);
    p[i] = vm;
    const double lm = loss (ctx);
    p[i] = v;
    num[i] = (lp - lm) / ((double) vp - (double) vm);
  }
}

static void
check_fd_eps (const char *what, LossFunc loss, gpointer ctx, float *p,
    const float *analytic, gsize n, double eps)
{
  double *num = g_new (double, n);
  fd_gradient (loss, ctx, p, n, eps, num);
  double scale = 0.0;
  for (gsize i = 0; i < n; i++)
    scale = MAX (scale, fabs (num[i]));
  const double e = max_rel_err (analytic, num, n, FD_FLOOR);
  g_test_message ("%s: n=%zu max|grad|=%.3g rel err=%.3g", what, n, scale, e);
  g_free (num);
  /* a vanishing gradient would make the check vacuous */
  g_assert_cmpfloat (scale, >, 1e-2);
  g_assert_cmpfloat (e, <=, FD_TOL);
}

/* piecewise-linear layers: the FD is exact up to rounding, so a large step
 * keeps the float noise small */
static void
check_fd (const char *what, LossFunc loss, gpointer ctx, float *p,
    const float *analytic, gsize n)
{
  check_fd_eps (what, loss, ctx, p, analytic, n, FD_EPS);
}

/* batchnorm train: the batch statistics make the loss strongly curved */
static void
check_fd_curved (const char *what, LossFunc loss, gpointer ctx, float *p,
    const float *analytic, gsize n)
{
  check_fd_eps (what, loss, ctx, p, analytic, n, FD_EPS_CURVED);
}

/* ------------------------------------------------------------- conv1d */

typedef struct
{
  int B, C, OC, T, K;
  float *x, *w, *b, *out, *R, *col;
} ConvCtx;

static double
conv_loss (gpointer p)
{
  ConvCtx *c = p;
  sd_conv1d_forward (
      c->out, c->x, c->w, c->b, c->B, c->C, c->OC, c->T, c->K, c->col);
  return dot (c->out, c->R, (gsize) c->B * c->OC * c->T);
}

/* naive 'same' conv: out[b,o,t] = bias[o] + sum w[o,c,k] x[b,c,t+k-left] */
static void
conv_ref (float *out, const float *x, const float *w, const float *bias, int B,
    int C, int OC, int T, int K)
{
  const int left = (K - 1) / 2;
  for (int b = 0; b < B; b++)
    for (int o = 0; o < OC; o++)
      for (int t = 0; t < T; t++) {
        double s = bias != NULL ? bias[o] : 0.0;
        for (int c = 0; c < C; c++)
          for (int k = 0; k < K; k++) {
            const int ti = t + k - left;
            if (ti >= 0 && ti < T)
              s += (double) w[(o * C + c) * K + k] * x[(b * C + c) * T + ti];
          }
        out[(b * OC + o) * T + t] = (float) s;
      }
}

/* naive backward, overwriting */
static void
conv_ref_backward (float *dx, float *dw, float *db, const float *dout,
    const float *x, const float *w, int B, int C, int OC, int T, int K)
{
  const int left = (K - 1) / 2;
  memset (dx, 0, sizeof (float) * B * C * T);
  memset (dw, 0, sizeof (float) * OC * C * K);
  memset (db, 0, sizeof (float) * OC);
  for (int b = 0; b < B; b++)
    for (int o = 0; o < OC; o++)
      for (int t = 0; t < T; t++) {
        const float g = dout[(b * OC + o) * T + t];
        db[o] += g;
        for (int c = 0; c < C; c++)
          for (int k = 0; k < K; k++) {
            const int ti = t + k - left;
            if (ti < 0 || ti >= T)
              continue;
            dw[(o * C + c) * K + k] += g * x[(b * C + c) * T + ti];
            dx[(b * C + c) * T + ti] += g * w[(o * C + c) * K + k];
          }
      }
}

static ConvCtx *
conv_ctx_new (GRand *r, int B, int C, int OC, int T, int K)
{
  ConvCtx *c = g_new0 (ConvCtx, 1);
  c->B = B, c->C = C, c->OC = OC, c->T = T, c->K = K;
  c->x = g_new (float, (gsize) B *C *T);
  c->w = g_new (float, (gsize) OC *C *K);
  c->b = g_new (float, OC);
  c->out = g_new (float, (gsize) B *OC *T);
  c->R = g_new (float, (gsize) B *OC *T);
  /* exactly the backward's scratch (which covers the forward's), so ASan
   * sees any overrun */
  g_assert_cmpuint (sd_conv1d_backward_scratch_size (C, OC, K, T), >=,
      sd_conv1d_scratch_size (C, K, T));
  c->col
      = g_new0 (float, MAX (sd_conv1d_backward_scratch_size (C, OC, K, T), 1));
  fill_uniform (r, c->x, (gsize) B * C * T, -1, 1);
  fill_uniform (r, c->w, (gsize) OC * C * K, -1, 1);
  fill_uniform (r, c->b, OC, -1, 1);
  fill_uniform (r, c->R, (gsize) B * OC * T, -1, 1);
  return c;
}

static void
conv_ctx_free (ConvCtx *c)
{
  g_free (c->x), g_free (c->w), g_free (c->b), g_free (c->out);
  g_free (c->R), g_free (c->col), g_free (c);
}

/* {B, C, OC, T, K}: odd, even, K == 1, T < K, T == 1 */
static const int conv_cfgs[][5] = {
  { 2, 3, 4, 10, 1 }, { 1, 1, 1, 6, 1 }, { 2, 3, 4, 10, 3 }, { 1, 2, 3, 7, 5 },
  { 3, 2, 3, 12, 8 }, { 2, 3, 2, 4, 8 }, /* T < K */
  { 2, 2, 3, 3, 5 },                     /* T < K */
  { 1, 2, 2, 1, 3 },                     /* T == 1 */
  { 2, 2, 2, 9, 2 }, { 1, 3, 2, 11, 4 },
  /* C >= 4: the input gradient through W' and the columns of dout */
  { 2, 4, 3, 10, 3 },
  { 2, 6, 3, 9, 5 }, /* OC < C: W' behind the larger input columns */
  { 1, 4, 6, 12, 4 }, { 2, 5, 3, 3, 5 }, /* T < K */
};

static void
test_conv_fd (gconstpointer data)
{
  const int *cfg = data;
  GRand *r = g_rand_new_with_seed (SEED + cfg[4]);
  ConvCtx *c = conv_ctx_new (r, cfg[0], cfg[1], cfg[2], cfg[3], cfg[4]);
  const gsize nx = (gsize) c->B * c->C * c->T, nw = (gsize) c->OC * c->C * c->K;
  float *dx = g_new0 (float, nx), *dw = g_new0 (float, nw);
  float *db = g_new0 (float, c->OC);

  conv_loss (c);
  sd_conv1d_backward (
      dx, dw, db, c->R, c->x, c->w, c->B, c->C, c->OC, c->T, c->K, c->col);
  check_fd ("conv dinp", conv_loss, c, c->x, dx, nx);
  check_fd ("conv dweight", conv_loss, c, c->w, dw, nw);
  check_fd ("conv dbias", conv_loss, c, c->b, db, c->OC);

  g_free (dx), g_free (dw), g_free (db);
  conv_ctx_free (c);
  g_rand_free (r);
}

/* random shapes against the naive loops, forward and backward, with and
 * without bias */
static void
test_conv_reference (void)
{
  GRand *r = g_rand_new_with_seed (SEED);
  const int Ks[] = { 1, 2, 3, 4, 5, 7, 8, 9 };
  const int Ts[] = { 1, 3, 8, 37 };
  /* {C, OC}: both input-gradient paths (C < 4 and C >= 4), OC > C and
   * OC < C */
  const int COs[][2] = { { 5, 6 }, { 6, 3 }, { 2, 4 } };
  for (guint ic = 0; ic < G_N_ELEMENTS (COs); ic++)
    for (guint ik = 0; ik < G_N_ELEMENTS (Ks); ik++)
      for (guint it = 0; it < G_N_ELEMENTS (Ts); it++) {
        const int B = 2, C = COs[ic][0], OC = COs[ic][1], T = Ts[it],
                  K = Ks[ik];
        ConvCtx *c = conv_ctx_new (r, B, C, OC, T, K);
        const gsize nx = (gsize) B * C * T, nw = (gsize) OC * C * K;
        const gsize no = (gsize) B * OC * T;
        float *ref = g_new (float, no);
        for (int with_bias = 0; with_bias < 2; with_bias++) {
          const float *bias = with_bias ? c->b : NULL;
          sd_conv1d_forward (c->out, c->x, c->w, bias, B, C, OC, T, K, c->col);
          conv_ref (ref, c->x, c->w, bias, B, C, OC, T, K);
          assert_close ("conv forward", c->out, ref, no, 1e-5);
        }

        float *dx = g_new0 (float, nx), *dw = g_new0 (float, nw);
        float *db = g_new0 (float, OC);
        float *rdx = g_new (float, nx), *rdw = g_new (float, nw);
        float *rdb = g_new (float, OC);
        sd_conv1d_backward (
            dx, dw, db, c->R, c->x, c->w, B, C, OC, T, K, c->col);
        conv_ref_backward (rdx, rdw, rdb, c->R, c->x, c->w, B, C, OC, T, K);
        assert_close ("conv dinp", dx, rdx, nx, 1e-5);
        assert_close ("conv dweight", dw, rdw, nw, 1e-5);
        assert_close ("conv dbias", db, rdb, OC, 1e-5);

        g_free (dx), g_free (dw), g_free (db);
        g_free (rdx), g_free (rdw), g_free (rdb);
        g_free (ref);
        conv_ctx_free (c);
      }
  g_rand_free (r);
}

/* sd_conv1d_backward_input: accumulating, exactly sd_conv1d_backward's
 * input gradient; overwriting, the same onto zeros whatever dinp held. */
static void
test_conv_backward_input (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 7);
  for (guint i = 0; i < G_N_ELEMENTS (conv_cfgs); i++) {
    const int *cf = conv_cfgs[i];
    const int B = cf[0], C = cf[1], OC = cf[2], T = cf[3], K = cf[4];
    ConvCtx *c = conv_ctx_new (r, B, C, OC, T, K);
    const gsize nx = (gsize) B * C * T;
    float *pre = g_new (float, nx), *want = g_new (float, nx);
    float *got = g_new (float, nx);
    fill_uniform (r, pre, nx, -1, 1);

    memcpy (want, pre, nx * sizeof (float));
    sd_conv1d_backward (
        want, NULL, NULL, c->R, c->x, c->w, B, C, OC, T, K, c->col);
    memcpy (got, pre, nx * sizeof (float));
    sd_conv1d_backward_input (got, TRUE, c->R, c->w, B, C, OC, T, K, c->col);
    assert_close ("conv backward_input accumulate", got, want, nx, 0.0);

    memset (want, 0, nx * sizeof (float));
    sd_conv1d_backward (
        want, NULL, NULL, c->R, c->x, c->w, B, C, OC, T, K, c->col);
    for (gsize k = 0; k < nx; k++)
      got[k] = NAN;
    sd_conv1d_backward_input (got, FALSE, c->R, c->w, B, C, OC, T, K, c->col);
    assert_close ("conv backward_input overwrite", got, want, nx, 0.0);

    g_free (pre), g_free (want), g_free (got);
    conv_ctx_free (c);
  }
  g_rand_free (r);
}

/* Pins the padding placement independently of conv_ref: with a one-hot
 * kernel at tap k, out[t] = x[t + k - left] where PyTorch's 'same' uses
 * left = (K-1)/2, i.e. K=2 -> 0, K=4 -> 1, K=8 -> 3 (extra zero right). */
static void
test_conv_same_padding (void)
{
  const int Ks[] = { 2, 3, 4, 8 };
  const int lefts[] = { 0, 1, 1, 3 };
  const int T = 10;
  float x[10], out[10], w[8];
  float col[8 * 10];
  for (int t = 0; t < T; t++)
    x[t] = (float) (t + 1);
  for (guint i = 0; i < G_N_ELEMENTS (Ks); i++) {
    const int K = Ks[i];
    g_assert_cmpuint (sd_conv1d_scratch_size (1, K, T), ==, (gsize) K * T);
    for (int k = 0; k < K; k++) {
      memset (w, 0, sizeof w);
      w[k] = 1.0f;
      sd_conv1d_forward (out, x, w, NULL, 1, 1, 1, T, K, col);
      for (int t = 0; t < T; t++) {
        const int ti = t + k - lefts[i];
        const float want = ti >= 0 && ti < T ? x[ti] : 0.0f;
        g_assert_cmpfloat (out[t], ==, want);
      }
    }
  }
  /* the brief's example spelled out: K = 8 with all-ones weights sums
   * x[t-3 .. t+4] */
  for (int k = 0; k < 8; k++)
    w[k] = 1.0f;
  sd_conv1d_forward (out, x, w, NULL, 1, 1, 1, T, 8, col);
  for (int t = 0; t < T; t++) {
    float want = 0.0f;
    for (int ti = t - 3; ti <= t + 4; ti++)
      if (ti >= 0 && ti < T)
        want += x[ti];
    g_assert_cmpfloat (out[t], ==, want);
  }
  g_assert_cmpuint (sd_conv1d_scratch_size (4, 1, 100), ==, 0);
  /* backward: max (C, OC) K T + C OC K */
  g_assert_cmpuint (sd_conv1d_backward_scratch_size (2, 3, 5, 10), ==, 180);
  g_assert_cmpuint (sd_conv1d_backward_scratch_size (4, 2, 3, 10), ==, 144);
  g_assert_cmpuint (sd_conv1d_backward_scratch_size (4, 6, 1, 100), ==, 0);
}

/* ---------------------------------------------------------- batchnorm */

typedef struct
{
  int B, C, T;
  float eps;
  float *x, *gamma, *beta, *out, *mean, *rstd, *R, *rm, *rv;
} BnCtx;

static double
bn_train_loss (gpointer p)
{
  BnCtx *c = p;
  sd_batchnorm_forward_train (c->out, c->mean, c->rstd, c->x, c->gamma, c->beta,
      NULL, NULL, 0.1f, c->eps, c->B, c->C, c->T);
  return dot (c->out, c->R, (gsize) c->B * c->C * c->T);
}

static double
bn_eval_loss (gpointer p)
{
  BnCtx *c = p;
  sd_batchnorm_forward_eval (
      c->out, c->x, c->gamma, c->beta, c->rm, c->rv, c->eps, c->B, c->C, c->T);
  return dot (c->out, c->R, (gsize) c->B * c->C * c->T);
}

static BnCtx *
bn_ctx_new (GRand *r, int B, int C, int T)
{
  BnCtx *c = g_new0 (BnCtx, 1);
  const gsize n = (gsize) B * C * T;
  c->B = B, c->C = C, c->T = T, c->eps = 1e-5f;
  c->x = g_new (float, n);
  c->out = g_new (float, n);
  c->R = g_new (float, n);
  c->gamma = g_new (float, C), c->beta = g_new (float, C);
  c->mean = g_new (float, C), c->rstd = g_new (float, C);
  c->rm = g_new (float, C), c->rv = g_new (float, C);
  /* per-channel offsets and scales so the mean/var terms matter */
  for (int b = 0; b < B; b++)
    for (int ch = 0; ch < C; ch++) {
      const float off = 0.5f * (float) ch - 0.3f, sc = 0.5f + 0.4f * ch;
      float *xr = c->x + ((gsize) b * C + ch) * T;
      fill_uniform (r, xr, T, -1, 1);
      for (int t = 0; t < T; t++)
        xr[t] = off + sc * xr[t];
    }
  fill_uniform (r, c->R, n, -1, 1);
  fill_uniform (r, c->gamma, C, 0.5, 2);
  fill_uniform (r, c->beta, C, -1, 1);
  fill_uniform (r, c->rm, C, -0.5, 0.5);
  fill_uniform (r, c->rv, C, 0.3, 2);
  return c;
}

static void
bn_ctx_free (BnCtx *c)
{
  g_free (c->x), g_free (c->out), g_free (c->R), g_free (c->gamma);
  g_free (c->beta), g_free (c->mean), g_free (c->rstd), g_free (c->rm);
  g_free (c->rv), g_free (c);
}

static const int bn_cfgs[][3] = {
  { 2, 3, 5 },
  { 1, 2, 7 },
  { 4, 1, 2 },
  { 3, 2, 1 },
};

static void
test_bn_train_fd (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 1);
  for (guint i = 0; i < G_N_ELEMENTS (bn_cfgs); i++) {
    BnCtx *c = bn_ctx_new (r, bn_cfgs[i][0], bn_cfgs[i][1], bn_cfgs[i][2]);
    const gsize n = (gsize) c->B * c->C * c->T;
    float *dx = g_new0 (float, n), *dg = g_new0 (float, c->C);
    float *dbt = g_new0 (float, c->C);
    bn_train_loss (c);
    sd_batchnorm_backward_train (
        dx, dg, dbt, c->R, c->x, c->mean, c->rstd, c->gamma, c->B, c->C, c->T);
    check_fd_curved ("bn train dinp", bn_train_loss, c, c->x, dx, n);
    check_fd_curved ("bn train dgamma", bn_train_loss, c, c->gamma, dg, c->C);
    check_fd_curved ("bn train dbeta", bn_train_loss, c, c->beta, dbt, c->C);
    g_free (dx), g_free (dg), g_free (dbt);
    bn_ctx_free (c);
  }
  g_rand_free (r);
}

static void
test_bn_eval_fd (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 2);
  for (guint i = 0; i < G_N_ELEMENTS (bn_cfgs); i++) {
    BnCtx *c = bn_ctx_new (r, bn_cfgs[i][0], bn_cfgs[i][1], bn_cfgs[i][2]);
    const gsize n = (gsize) c->B * c->C * c->T;
    float *dx = g_new0 (float, n), *dg = g_new0 (float, c->C);
    float *dbt = g_new0 (float, c->C);
    sd_batchnorm_backward_eval (dx, dg, dbt, c->R, c->x, c->gamma, c->rm, c->rv,
        c->eps, c->B, c->C, c->T);
    check_fd ("bn eval dinp", bn_eval_loss, c, c->x, dx, n);
    check_fd ("bn eval dgamma", bn_eval_loss, c, c->gamma, dg, c->C);
    check_fd ("bn eval dbeta", bn_eval_loss, c, c->beta, dbt, c->C);
    g_free (dx), g_free (dg), g_free (dbt);
    bn_ctx_free (c);
  }
  g_rand_free (r);
}

static void
test_bn_eval_values (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 3);
  BnCtx *c = bn_ctx_new (r, 3, 4, 6);
  bn_eval_loss (c);
  for (int b = 0; b < c->B; b++)
    for (int ch = 0; ch < c->C; ch++)
      for (int t = 0; t < c->T; t++) {
        const gsize i = ((gsize) b * c->C + ch) * c->T + t;
        const double want = (c->x[i] - c->rm[ch])
                                / sqrt ((double) c->rv[ch] + c->eps)
                                * c->gamma[ch]
                            + c->beta[ch];
        g_assert_cmpfloat_with_epsilon (c->out[i], want, 1e-5);
      }
  bn_ctx_free (c);
  g_rand_free (r);
}

/* hand-computed: channel 0 holds {1,2,3,4} over (B=2,T=2), channel 1
 * holds {10,10,10,14}. */
static void
test_bn_running_stats (void)
{
  /* (B,C,T) = (2,2,2) */
  const float x[8] = { 1, 2, 10, 10, 3, 4, 10, 14 };
  const float gamma[2] = { 1, 1 }, beta[2] = { 0, 0 };
  float out[8], mean[2], rstd[2];
  float rm[2] = { 0.0f, 1.0f }, rv[2] = { 1.0f, 2.0f };
  const float mom = 0.1f, eps = 1e-5f;
  sd_batchnorm_forward_train (
      out, mean, rstd, x, gamma, beta, rm, rv, mom, eps, 2, 2, 2);

  /* ch0: mean 2.5, biased var 1.25, unbiased 5/3
   * ch1: mean 11, biased var 3, unbiased 4 */
  g_assert_cmpfloat_with_epsilon (mean[0], 2.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (mean[1], 11.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (rstd[0], 1.0 / sqrt (1.25 + 1e-5), 1e-6);
  g_assert_cmpfloat_with_epsilon (rstd[1], 1.0 / sqrt (3.0 + 1e-5), 1e-6);
  g_assert_cmpfloat_with_epsilon (rm[0], 0.9 * 0.0 + 0.1 * 2.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (rm[1], 0.9 * 1.0 + 0.1 * 11.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (rv[0], 0.9 * 1.0 + 0.1 * (5.0 / 3.0), 1e-6);
  g_assert_cmpfloat_with_epsilon (rv[1], 0.9 * 2.0 + 0.1 * 4.0, 1e-6);

  /* normalised output: zero mean, unit (biased) variance per channel */
  g_assert_cmpfloat_with_epsilon (out[0], (1 - 2.5) / sqrt (1.25 + 1e-5), 1e-5);
  g_assert_cmpfloat_with_epsilon (out[7], (14 - 11) / sqrt (3.0 + 1e-5), 1e-5);

  /* NULL running stats and NULL saved stats are accepted */
  float out2[8];
  sd_batchnorm_forward_train (
      out2, NULL, NULL, x, gamma, beta, NULL, NULL, mom, eps, 2, 2, 2);
  g_assert_cmpmem (out, sizeof out, out2, sizeof out2);

  /* a large common offset must not destroy the variance (two-pass) */
  float xo[8];
  for (int i = 0; i < 8; i++)
    xo[i] = x[i] + 1000.0f;
  sd_batchnorm_forward_train (
      out2, mean, rstd, xo, gamma, beta, NULL, NULL, mom, eps, 2, 2, 2);
  g_assert_cmpfloat_with_epsilon (rstd[0], 1.0 / sqrt (1.25 + 1e-5), 1e-6);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat_with_epsilon (out2[i], out[i], 1e-5);
}

/* ---------------------------------------------------- elementwise layers */

typedef struct
{
  gsize n;
  float *x, *y, *out, *R;
} EwCtx;

static double
relu_loss (gpointer p)
{
  EwCtx *c = p;
  sd_relu_forward (c->out, c->x, c->n);
  return dot (c->out, c->R, c->n);
}

static double
add_loss (gpointer p)
{
  EwCtx *c = p;
  sd_add_forward (c->out, c->x, c->y, c->n);
  return dot (c->out, c->R, c->n);
}

static void
test_relu (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 4);
  EwCtx c = { .n = 40 };
  c.x = g_new (float, c.n), c.out = g_new (float, c.n);
  c.R = g_new (float, c.n);
  /* |x| >= 0.1 > FD_EPS: never straddle the kink */
  fill_away_from_zero (r, c.x, c.n, 0.1, 1);
  fill_uniform (r, c.R, c.n, -1, 1);
  float *dx = g_new0 (float, c.n);
  relu_loss (&c);
  for (gsize i = 0; i < c.n; i++)
    g_assert_cmpfloat (c.out[i], ==, MAX (c.x[i], 0.0f));
  sd_relu_backward (dx, c.R, c.out, c.n);
  check_fd ("relu dinp", relu_loss, &c, c.x, dx, c.n);

  /* in place */
  float *y = fdup (c.x, c.n);
  sd_relu_forward (y, y, c.n);
  g_assert_cmpmem (y, c.n * sizeof (float), c.out, c.n * sizeof (float));

  g_free (y), g_free (dx), g_free (c.x), g_free (c.out), g_free (c.R);
  g_rand_free (r);
}

static void
test_add (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 5);
  EwCtx c = { .n = 30 };
  c.x = g_new (float, c.n), c.y = g_new (float, c.n);
  c.out = g_new (float, c.n), c.R = g_new (float, c.n);
  fill_uniform (r, c.x, c.n, -1, 1);
  fill_uniform (r, c.y, c.n, -1, 1);
  fill_uniform (r, c.R, c.n, -1, 1);
  float *da = g_new0 (float, c.n), *db = g_new0 (float, c.n);
  add_loss (&c);
  for (gsize i = 0; i < c.n; i++)
    g_assert_cmpfloat (c.out[i], ==, c.x[i] + c.y[i]);
  sd_add_backward (da, db, c.R, c.n);
  check_fd ("add da", add_loss, &c, c.x, da, c.n);
  check_fd ("add db", add_loss, &c, c.y, db, c.n);
  g_free (da), g_free (db);
  g_free (c.x), g_free (c.y), g_free (c.out), g_free (c.R);
  g_rand_free (r);
}

/* ---------------------------------------------------------------- gap */

typedef struct
{
  int B, C, T;
  float *x, *out, *R;
} GapCtx;

static double
gap_loss (gpointer p)
{
  GapCtx *c = p;
  sd_gap_forward (c->out, c->x, c->B, c->C, c->T);
  return dot (c->out, c->R, (gsize) c->B * c->C);
}

static void
test_gap (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 6);
  GapCtx c = { .B = 3, .C = 4, .T = 5 };
  const gsize n = (gsize) c.B * c.C * c.T, no = (gsize) c.B * c.C;
  c.x = g_new (float, n), c.out = g_new (float, no), c.R = g_new (float, no);
  fill_uniform (r, c.x, n, -1, 1);
  fill_uniform (r, c.R, no, -1, 1);
  gap_loss (&c);
  for (gsize i = 0; i < no; i++) {
    double s = 0.0;
    for (int t = 0; t < c.T; t++)
      s += c.x[i * c.T + t];
    g_assert_cmpfloat_with_epsilon (c.out[i], s / c.T, 1e-6);
  }
  float *dx = g_new0 (float, n);
  sd_gap_backward (dx, c.R, c.B, c.C, c.T);
  check_fd ("gap dinp", gap_loss, &c, c.x, dx, n);
  g_free (dx), g_free (c.x), g_free (c.out), g_free (c.R);
  g_rand_free (r);
}

/* ------------------------------------------------------------ avgpool */

typedef struct
{
  int B, C, T, P;
  float *x, *out, *R;
} PoolCtx;

static double
pool_loss (gpointer p)
{
  PoolCtx *c = p;
  sd_avgpool_forward (c->out, c->x, c->B, c->C, c->T, c->P);
  return dot (c->out, c->R, (gsize) c->B * c->C * (c->T / c->P));
}

/* T = 11 with P = 1, 3 (a tail of 2 is dropped), 4 (tail 3), 11 (one
 * block): values against a naive mean, the gradient by finite differences,
 * zero gradient on the dropped tail, accumulation. */
static void
test_avgpool (void)
{
  static const int pools[] = { 1, 3, 4, 11 };
  GRand *r = g_rand_new_with_seed (SEED + 12);
  for (guint k = 0; k < G_N_ELEMENTS (pools); k++) {
    PoolCtx c = { .B = 2, .C = 3, .T = 11, .P = pools[k] };
    const int To = c.T / c.P;
    const gsize n = (gsize) c.B * c.C * c.T, no = (gsize) c.B * c.C * To;
    c.x = g_new (float, n), c.out = g_new (float, no), c.R = g_new (float, no);
    fill_uniform (r, c.x, n, -1, 1);
    fill_uniform (r, c.R, no, -1, 1);
    pool_loss (&c);
    for (gsize row = 0; row < (gsize) c.B * c.C; row++)
      for (int j = 0; j < To; j++) {
        double s = 0.0;
        for (int q = 0; q < c.P; q++)
          s += c.x[row * c.T + (gsize) j * c.P + q];
        g_assert_cmpfloat_with_epsilon (c.out[row * To + j], s / c.P, 1e-6);
      }
    float *dx = g_new0 (float, n);
    sd_avgpool_backward (dx, c.R, c.B, c.C, c.T, c.P);
    check_fd ("avgpool dinp", pool_loss, &c, c.x, dx, n);
    for (gsize row = 0; row < (gsize) c.B * c.C; row++)
      for (int t = To * c.P; t < c.T; t++)
        g_assert_cmpfloat (dx[row * c.T + t], ==, 0.0f);
    /* accumulates: a second call doubles it */
    float *dx2 = fdup (dx, n);
    sd_avgpool_backward (dx2, c.R, c.B, c.C, c.T, c.P);
    for (gsize i = 0; i < n; i++)
      dx[i] *= 2;
    assert_close ("avgpool accumulation", dx2, dx, n, 1e-6);
    sd_avgpool_backward (NULL, c.R, c.B, c.C, c.T, c.P);
    g_free (dx), g_free (dx2), g_free (c.x), g_free (c.out), g_free (c.R);
  }
  g_rand_free (r);
}

/* -------------------------------------------------------------- dense */

typedef struct
{
  int B, IN, OUT;
  float *x, *w, *b, *out, *R;
} DenseCtx;

static double
dense_loss (gpointer p)
{
  DenseCtx *c = p;
  sd_dense_forward (c->out, c->x, c->w, c->b, c->B, c->IN, c->OUT);
  return dot (c->out, c->R, (gsize) c->B * c->OUT);
}

static DenseCtx *
dense_ctx_new (GRand *r, int B, int IN, int OUT)
{
  DenseCtx *c = g_new0 (DenseCtx, 1);
  c->B = B, c->IN = IN, c->OUT = OUT;
  c->x = g_new (float, (gsize) B *IN);
  c->w = g_new (float, (gsize) OUT *IN);
  c->b = g_new (float, OUT);
  c->out = g_new (float, (gsize) B *OUT);
  c->R = g_new (float, (gsize) B *OUT);
  fill_uniform (r, c->x, (gsize) B * IN, -1, 1);
  fill_uniform (r, c->w, (gsize) OUT * IN, -1, 1);
  fill_uniform (r, c->b, OUT, -1, 1);
  fill_uniform (r, c->R, (gsize) B * OUT, -1, 1);
  return c;
}

static void
dense_ctx_free (DenseCtx *c)
{
  g_free (c->x), g_free (c->w), g_free (c->b), g_free (c->out);
  g_free (c->R), g_free (c);
}

static void
test_dense (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 7);
  const int cfgs[][3] = { { 3, 5, 4 }, { 1, 1, 1 }, { 4, 7, 2 } };
  for (guint i = 0; i < G_N_ELEMENTS (cfgs); i++) {
    DenseCtx *c = dense_ctx_new (r, cfgs[i][0], cfgs[i][1], cfgs[i][2]);
    const int B = c->B, IN = c->IN, OUT = c->OUT;
    /* values vs the nn.Linear formula, with and without bias */
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      sd_dense_forward (
          c->out, c->x, c->w, with_bias ? c->b : NULL, B, IN, OUT);
      for (int b = 0; b < B; b++)
        for (int o = 0; o < OUT; o++) {
          double s = with_bias ? c->b[o] : 0.0;
          for (int k = 0; k < IN; k++)
            s += (double) c->x[b * IN + k] * c->w[o * IN + k];
          g_assert_cmpfloat_with_epsilon (c->out[b * OUT + o], s, 1e-5);
        }
    }
    float *dx = g_new0 (float, (gsize) B *IN);
    float *dw = g_new0 (float, (gsize) OUT *IN), *db = g_new0 (float, OUT);
    sd_dense_backward (dx, dw, db, c->R, c->x, c->w, B, IN, OUT);
    check_fd ("dense dinp", dense_loss, c, c->x, dx, (gsize) B * IN);
    check_fd ("dense dweight", dense_loss, c, c->w, dw, (gsize) OUT * IN);
    check_fd ("dense dbias", dense_loss, c, c->b, db, OUT);
    g_free (dx), g_free (dw), g_free (db);
    dense_ctx_free (c);
  }
  g_rand_free (r);
}

/* ------------------------------------------------ softmax + crossentropy */

typedef struct
{
  int B, K;
  float *logits, *probs;
  int *labels;
} CeCtx;

static double
ce_loss (gpointer p)
{
  CeCtx *c = p;
  sd_softmax_forward (c->probs, c->logits, c->B, c->K);
  return sd_crossentropy_forward_backward (
      NULL, c->probs, c->labels, c->B, c->K);
}

static void
test_softmax_ce_fd (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 8);
  const int cfgs[][2] = { { 4, 5 }, { 1, 2 }, { 3, 10 } };
  for (guint i = 0; i < G_N_ELEMENTS (cfgs); i++) {
    CeCtx c = { .B = cfgs[i][0], .K = cfgs[i][1] };
    const gsize n = (gsize) c.B * c.K;
    c.logits = g_new (float, n), c.probs = g_new (float, n);
    c.labels = g_new (int, c.B);
    fill_uniform (r, c.logits, n, -3, 3);
    for (int b = 0; b < c.B; b++)
      c.labels[b] = g_rand_int_range (r, 0, c.K);
    float *dl = g_new (float, n);
    /* dlogits is overwritten, not accumulated: start from garbage */
    for (gsize j = 0; j < n; j++)
      dl[j] = 123.0f;
    sd_softmax_forward (c.probs, c.logits, c.B, c.K);
    const float loss
        = sd_crossentropy_forward_backward (dl, c.probs, c.labels, c.B, c.K);
    double want = 0.0;
    for (int b = 0; b < c.B; b++)
      want -= log (c.probs[b * c.K + c.labels[b]]);
    g_assert_cmpfloat_with_epsilon (loss, want / c.B, 1e-5);
    check_fd ("softmax+ce dlogits", ce_loss, &c, c.logits, dl, n);
    g_free (dl), g_free (c.logits), g_free (c.probs), g_free (c.labels);
  }
  g_rand_free (r);
}

typedef struct
{
  int B, K;
  float *logits, *probs, *targets;
} SoftCeCtx;

static double
soft_ce_loss (gpointer p)
{
  SoftCeCtx *c = p;
  sd_softmax_forward (c->probs, c->logits, c->B, c->K);
  return sd_crossentropy_soft_forward_backward (
      NULL, c->probs, c->targets, c->B, c->K);
}

/* Soft targets: finite differences, the integer-label loss for one-hot
 * rows, and PyTorch's values (torch.nn.functional.cross_entropy (z, t) in
 * float64 with the logits z and probability targets t below; loss and
 * z.grad printed by torch 1.13, Debian 12). */
static void
test_softmax_soft_ce (void)
{
  float z[12] = { 0.5f, -1.25f, 2.0f, 0.0f, 3.0f, 1.0f, -2.0f, 0.25f, -0.75f,
    -0.5f, 1.5f, 1.0f };
  float t[12] = { 0, 0.5f, 0, 0.5f, 1, 0, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f };
  const double torch_loss = 1.6493382911438104;
  const double torch_grad[12]
      = { 0.05323118334403608, -0.15741647402243986, 0.23856561259412812,
          -0.1343803219157243, -0.056937784690289574, 0.037406069860945294,
          0.0018623385575399776, 0.017669376271804295, -0.06431436655376108,
          -0.05891249658922276, 0.09711359935172661, 0.026113263791257224 };
  float p[12], dl[12];
  sd_softmax_forward (p, z, 3, 4);
  for (int i = 0; i < 12; i++)
    dl[i] = 123.0f;
  float loss = sd_crossentropy_soft_forward_backward (dl, p, t, 3, 4);
  g_assert_cmpfloat_with_epsilon (loss, torch_loss, 1e-5);
  for (int i = 0; i < 12; i++)
    g_assert_cmpfloat_with_epsilon (dl[i], torch_grad[i], 1e-6);
  SoftCeCtx c = { 3, 4, z, p, t };
  check_fd ("softmax+soft ce dlogits", soft_ce_loss, &c, z, dl, 12);

  /* one-hot rows: exactly the integer-label loss and gradient */
  const int labels[3] = { 2, 0, 3 };
  float onehot[12] = { 0 }, dh[12];
  for (int b = 0; b < 3; b++)
    onehot[b * 4 + labels[b]] = 1.0f;
  float ls = sd_crossentropy_soft_forward_backward (dl, p, onehot, 3, 4);
  float lh = sd_crossentropy_forward_backward (dh, p, labels, 3, 4);
  g_assert_cmpfloat (ls, ==, lh);
  for (int i = 0; i < 12; i++)
    g_assert_cmpfloat (dl[i], ==, dh[i]);
}

static void
test_softmax_values (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 9);
  float z[6 * 7], p[6 * 7];
  fill_uniform (r, z, G_N_ELEMENTS (z), -20, 20);
  sd_softmax_forward (p, z, 6, 7);
  for (int b = 0; b < 6; b++) {
    double s = 0.0;
    for (int k = 0; k < 7; k++) {
      g_assert_cmpfloat (p[b * 7 + k], >=, 0.0f);
      s += p[b * 7 + k];
    }
    g_assert_cmpfloat_with_epsilon (s, 1.0, 1e-6);
  }

  /* huge logits: shift invariance must hold, no inf/nan */
  const float big[3] = { 1000, 1001, 1002 }, small[3] = { 0, 1, 2 };
  float pb[3], ps[3];
  sd_softmax_forward (pb, big, 1, 3);
  sd_softmax_forward (ps, small, 1, 3);
  for (int k = 0; k < 3; k++) {
    g_assert_true (isfinite (pb[k]));
    g_assert_cmpfloat_with_epsilon (pb[k], ps[k], 1e-6);
  }
  const double e1 = exp (1.0), e2 = exp (2.0);
  g_assert_cmpfloat_with_epsilon (ps[2], e2 / (1 + e1 + e2), 1e-6);

  /* a probability that underflows to 0: loss stays finite, gradient exact */
  const float far[2] = { -1000, 1000 };
  float pf[2], dl[2];
  sd_softmax_forward (pf, far, 1, 2);
  g_assert_cmpfloat (pf[0], ==, 0.0f);
  g_assert_cmpfloat (pf[1], ==, 1.0f);
  const int label0 = 0;
  const float loss = sd_crossentropy_forward_backward (dl, pf, &label0, 1, 2);
  g_assert_true (isfinite (loss));
  g_assert_cmpfloat (loss, >, 50.0f);
  g_assert_cmpfloat (dl[0], ==, -1.0f);
  g_assert_cmpfloat (dl[1], ==, 1.0f);
  g_rand_free (r);
}

/* ------------------------------------ accumulation and NULL gradients */

static void
test_accumulation_simple (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 11);
  const gsize n = 20;
  float *dout = g_new (float, n), *out = g_new (float, n);
  fill_uniform (r, dout, n, -1, 1);
  fill_away_from_zero (r, out, n, 0.1, 1);
  sd_relu_forward (out, out, n);

  float *g1 = g_new0 (float, n), *g2 = g_new0 (float, n);
  sd_relu_backward (g1, dout, out, n);
  sd_relu_backward (g1, dout, out, n);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (g1[i], ==, 2 * (out[i] > 0 ? dout[i] : 0.0f));

  memset (g1, 0, n * sizeof (float));
  sd_add_backward (g1, g2, dout, n);
  sd_add_backward (g1, g2, dout, n);
  for (gsize i = 0; i < n; i++) {
    g_assert_cmpfloat (g1[i], ==, 2 * dout[i]);
    g_assert_cmpfloat (g2[i], ==, 2 * dout[i]);
  }
  /* shared buffer: out = x + x */
  memset (g1, 0, n * sizeof (float));
  sd_add_backward (g1, g1, dout, n);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (g1[i], ==, 2 * dout[i]);

  /* gap: (B,C,T) = (2,2,5) */
  memset (g1, 0, n * sizeof (float));
  sd_gap_backward (g1, dout, 2, 2, 5);
  sd_gap_backward (g1, dout, 2, 2, 5);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (g1[i], 2 * dout[i / 5] / 5, 1e-6);

  g_free (g1), g_free (g2), g_free (dout), g_free (out);
  g_rand_free (r);
}

/* Runs a backward with every gradient present, twice (checks doubling),
 * and with each gradient alone (checks NULLs are accepted and do not change
 * the others). */
typedef void (*BackwardFunc) (gpointer ctx, float *g0, float *g1, float *g2);

static void
check_backward_semantics (
    const char *what, BackwardFunc bw, gpointer ctx, const gsize sizes[3])
{
  float *full[3], *twice[3];
  for (int j = 0; j < 3; j++) {
    full[j] = g_new0 (float, sizes[j] + 1);
    twice[j] = g_new0 (float, sizes[j] + 1);
  }
  bw (ctx, full[0], full[1], full[2]);
  bw (ctx, twice[0], twice[1], twice[2]);
  bw (ctx, twice[0], twice[1], twice[2]);
  for (int j = 0; j < 3; j++) {
    float *dbl = fdup (full[j], sizes[j] + 1);
    for (gsize i = 0; i < sizes[j]; i++)
      dbl[i] *= 2;
    g_test_message ("%s: accumulation of gradient %d", what, j);
    assert_close (what, twice[j], dbl, sizes[j], 1e-6);
    g_free (dbl);
  }
  bw (ctx, NULL, NULL, NULL);
  for (int j = 0; j < 3; j++) {
    float *g[3] = { NULL, NULL, NULL };
    g[j] = g_new0 (float, sizes[j] + 1);
    bw (ctx, g[0], g[1], g[2]);
    g_test_message ("%s: gradient %d alone", what, j);
    assert_close (what, g[j], full[j], sizes[j], 1e-6);
    g_free (g[j]);
  }
  for (int j = 0; j < 3; j++)
    g_free (full[j]), g_free (twice[j]);
}

static void
conv_bw (gpointer p, float *dx, float *dw, float *db)
{
  ConvCtx *c = p;
  sd_conv1d_backward (
      dx, dw, db, c->R, c->x, c->w, c->B, c->C, c->OC, c->T, c->K, c->col);
}

static void
bn_train_bw (gpointer p, float *dx, float *dg, float *db)
{
  BnCtx *c = p;
  sd_batchnorm_backward_train (
      dx, dg, db, c->R, c->x, c->mean, c->rstd, c->gamma, c->B, c->C, c->T);
}

static void
bn_eval_bw (gpointer p, float *dx, float *dg, float *db)
{
  BnCtx *c = p;
  sd_batchnorm_backward_eval (
      dx, dg, db, c->R, c->x, c->gamma, c->rm, c->rv, c->eps, c->B, c->C, c->T);
}

static void
dense_bw (gpointer p, float *dx, float *dw, float *db)
{
  DenseCtx *c = p;
  sd_dense_backward (dx, dw, db, c->R, c->x, c->w, c->B, c->IN, c->OUT);
}

static void
test_backward_semantics (void)
{
  GRand *r = g_rand_new_with_seed (SEED + 12);
  const int cks[] = { 1, 3, 8 };
  for (guint i = 0; i < G_N_ELEMENTS (cks); i++) {
    ConvCtx *c = conv_ctx_new (r, 2, 3, 4, 9, cks[i]);
    const gsize sz[3] = { (gsize) 2 * 3 * 9, (gsize) 4 * 3 * cks[i], 4 };
    check_backward_semantics ("conv", conv_bw, c, sz);
    conv_ctx_free (c);
  }
  {
    BnCtx *c = bn_ctx_new (r, 2, 3, 4);
    const gsize sz[3] = { 24, 3, 3 };
    bn_train_loss (c); /* fills mean/rstd */
    check_backward_semantics ("bn train", bn_train_bw, c, sz);
    check_backward_semantics ("bn eval", bn_eval_bw, c, sz);
    bn_ctx_free (c);
  }
  {
    DenseCtx *c = dense_ctx_new (r, 3, 5, 4);
    const gsize sz[3] = { 15, 20, 4 };
    check_backward_semantics ("dense", dense_bw, c, sz);
    dense_ctx_free (c);
  }
  /* relu/add/gap with NULL: must be no-ops */
  float d[4] = { 1, 2, 3, 4 };
  sd_relu_backward (NULL, d, d, 4);
  sd_add_backward (NULL, NULL, d, 4);
  sd_gap_backward (NULL, d, 1, 2, 2);
  g_rand_free (r);
}

/* sd_set_num_threads sets OpenBLAS's thread count (read back by
 * sd_get_num_threads) and a convolution gives the same numbers on one
 * thread or two. */
static void
test_num_threads (void)
{
  const int B = 4, C = 8, OC = 16, T = 300, K = 5;
  g_autofree float *x = g_new (float, B *C *T);
  g_autofree float *w = g_new (float, OC *C *K);
  g_autofree float *y1 = g_new (float, B *OC *T);
  g_autofree float *y2 = g_new (float, B *OC *T);
  g_autofree float *col = g_new (float, sd_conv1d_scratch_size (C, K, T));
  GRand *r = g_rand_new_with_seed (5);
  for (int i = 0; i < B * C * T; i++)
    x[i] = (float) g_rand_double_range (r, -1, 1);
  for (int i = 0; i < OC * C * K; i++)
    w[i] = (float) g_rand_double_range (r, -1, 1);
  g_rand_free (r);

  sd_set_num_threads (1);
  g_assert_cmpint (sd_get_num_threads (), ==, 1);
  sd_conv1d_forward (y1, x, w, NULL, B, C, OC, T, K, col);
  sd_set_num_threads (2);
  g_assert_cmpint (sd_get_num_threads (), ==, 2);
  sd_conv1d_forward (y2, x, w, NULL, B, C, OC, T, K, col);
  sd_set_num_threads (1);
  g_assert_cmpint (sd_get_num_threads (), ==, 1);
  g_assert_cmpmem (
      y1, B * OC * T * sizeof (float), y2, B * OC * T * sizeof (float));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (conv_cfgs); i++) {
    const int *cf = conv_cfgs[i];
    char *path = g_strdup_printf ("/layers/conv1d/fd/B%d_C%d_OC%d_T%d_K%d",
        cf[0], cf[1], cf[2], cf[3], cf[4]);
    g_test_add_data_func (path, cf, test_conv_fd);
    g_free (path);
  }
  g_test_add_func ("/layers/conv1d/reference", test_conv_reference);
  g_test_add_func ("/layers/conv1d/same-padding", test_conv_same_padding);
  g_test_add_func ("/layers/conv1d/backward-input", test_conv_backward_input);
  g_test_add_func ("/layers/batchnorm/train-fd", test_bn_train_fd);
  g_test_add_func ("/layers/batchnorm/eval-fd", test_bn_eval_fd);
  g_test_add_func ("/layers/batchnorm/eval-values", test_bn_eval_values);
  g_test_add_func ("/layers/batchnorm/running-stats", test_bn_running_stats);
  g_test_add_func ("/layers/relu", test_relu);
  g_test_add_func ("/layers/add", test_add);
  g_test_add_func ("/layers/gap", test_gap);
  g_test_add_func ("/layers/avgpool", test_avgpool);
  g_test_add_func ("/layers/dense", test_dense);
  g_test_add_func ("/layers/softmax-ce/fd", test_softmax_ce_fd);
  g_test_add_func ("/layers/softmax-ce/soft", test_softmax_soft_ce);
  g_test_add_func ("/layers/softmax-ce/values", test_softmax_values);
  g_test_add_func (
      "/layers/backward/accumulate-elementwise", test_accumulation_simple);
  g_test_add_func (
      "/layers/backward/accumulate-and-null", test_backward_semantics);
  g_test_add_func ("/layers/num-threads", test_num_threads);

  return g_test_run ();
}
