/* seqdream: forward/backward of the 1-D CNN layers (see layers.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
sd_set_num_threads (int n)
{
  g_return_if_fail (n >= 1);
  openblas_set_num_threads (n);
}

int
sd_get_num_threads (void)
{
  return openblas_get_num_threads ();
}

/* ---------------------------------------------------------------- conv1d */

gsize
sd_conv1d_scratch_size (int C, int K, int T)
{
  g_return_val_if_fail (C > 0 && K > 0 && T > 0, 0);
  return K == 1 ? 0 : (gsize) C * K * T;
}

gsize
sd_conv1d_backward_scratch_size (int C, int OC, int K, int T)
{
  g_return_val_if_fail (C > 0 && OC > 0 && K > 0 && T > 0, 0);
  if (K == 1)
    return 0;
  /* the columns (of the input for dweight, of dout for dinp), then W' */
  return (gsize) MAX (C, OC) * K * T + (gsize) C * OC * K;
}

/* inp (C,T) -> col (C*K,T); row (c,k) is channel c shifted by s0 + ds k
 * (forward: s0 = -left, ds = 1). Each row is [zeros | contiguous copy |
 * zeros], so no per-element branch. */
static void
im2col_shifted (
    float *col, const float *inp, int C, int T, int K, int s0, int ds)
{
  for (int c = 0; c < C; c++) {
    const float *x = inp + (gsize) c * T;
    for (int k = 0; k < K; k++) {
      float *row = col + ((gsize) c * K + k) * T;
      const int s = s0 + ds * k; /* row[t] = x[t + s] */
      const int t0 = MAX (0, -s);
      const int t1 = MIN (T, T - s);
      if (t1 <= t0) {
        memset (row, 0, (gsize) T * sizeof (float));
        continue;
      }
      memset (row, 0, (gsize) t0 * sizeof (float));
      memcpy (row + t0, x + t0 + s, (gsize) (t1 - t0) * sizeof (float));
      memset (row + t1, 0, (gsize) (T - t1) * sizeof (float));
    }
  }
}

/* inp (C,T) -> col (C*K,T); row (c,k) is channel c shifted by k - left. */
static void
im2col (float *col, const float *inp, int C, int T, int K)
{
  im2col_shifted (col, inp, C, T, K, -((K - 1) / 2), 1);
}

/* col (C*K,T) -> inp (C,T), accumulating: the adjoint of im2col (padding
 * positions are dropped). */
static void
col2im_add (float *inp, const float *col, int C, int T, int K)
{
  const int left = (K - 1) / 2;
  for (int c = 0; c < C; c++) {
    float *x = inp + (gsize) c * T;
    for (int k = 0; k < K; k++) {
      const float *row = col + ((gsize) c * K + k) * T;
      const int s = k - left;
      const int t0 = MAX (0, -s);
      const int t1 = MIN (T, T - s);
      for (int t = t0; t < t1; t++)
        x[t + s] += row[t];
    }
  }
}

/* Below this many input channels the input gradient is W^T dout (CK,T)
 * scattered back by col2im_add: a W' sgemm with fewer rows than that is
 * slower (OpenBLAS 0.3.21, C = 1, OC = 10, K = 5, T = 500: 2.5 us against
 * 0.9 us; C = 10, OC = 10, K = 3: 3.9 us against 5.3 us). */
#define CONV_DINP_MIN_C 4

/* inp (B,C,T), weight (OC,C*K) -> out (B,OC,T): per sample
 * out_b (OC,T) = W (OC,CK) . col (CK,T) [+ bias broadcast over T]. */
void
sd_conv1d_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int C, int OC, int T, int K, float *col)
{
  g_return_if_fail (out != NULL && inp != NULL && weight != NULL);
  g_return_if_fail (B > 0 && C > 0 && OC > 0 && T > 0 && K > 0);
  g_return_if_fail (K == 1 || col != NULL);

  const int CK = C * K;
  for (int b = 0; b < B; b++) {
    const float *x = inp + (gsize) b * C * T;
    float *o = out + (gsize) b * OC * T;
    const float *m = x; /* K == 1: the input already is the column matrix */
    if (K > 1) {
      im2col (col, x, C, T, K);
      m = col;
    }
    /* bias first, then let sgemm add onto it (beta = 1) */
    float beta = 0.0f;
    if (bias != NULL) {
      for (int oc = 0; oc < OC; oc++) {
        float *orow = o + (gsize) oc * T;
        const float bv = bias[oc];
        for (int t = 0; t < T; t++)
          orow[t] = bv;
      }
      beta = 1.0f;
    }
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, T, CK, 1.0f,
        weight, CK, m, T, beta, o, T);
  }
}

/* W' (C, OC*K) of the input gradient behind the columns in col, or NULL
 * when C < CONV_DINP_MIN_C (see below). */
static float *
conv1d_dinp_weight (
    float *col, const float *weight, int C, int OC, int T, int K)
{
  if (K == 1 || C < CONV_DINP_MIN_C)
    return NULL;
  const int OK = OC * K;
  float *wt = col + (gsize) MAX (C, OC) * K * T;
  for (int o = 0; o < OC; o++)
    for (int c = 0; c < C; c++)
      for (int k = 0; k < K; k++)
        wt[(gsize) c * OK + o * K + k] = weight[((gsize) o * C + c) * K + k];
  return wt;
}

/* The input gradient of one sample: dx (C,T) = beta dx + the gradient
 * from g (OC,T); wt from conv1d_dinp_weight. */
static void
conv1d_dinp_sample (float *dx, float beta, const float *g, const float *weight,
    const float *wt, int C, int OC, int T, int K, float *col)
{
  const int CK = C * K, OK = OC * K;
  if (K == 1) {
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, C, T, OC, 1.0f,
        weight, C, g, T, beta, dx, T);
  } else if (wt == NULL) {
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, CK, T, OC, 1.0f,
        weight, CK, g, T, 0.0f, col, T);
    if (beta == 0.0f)
      memset (dx, 0, (gsize) C * T * sizeof (float));
    col2im_add (dx, col, C, T, K);
  } else {
    im2col_shifted (col, g, OC, T, K, (K - 1) / 2, -1);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, C, T, OK, 1.0f, wt,
        OK, col, T, beta, dx, T);
  }
}

/* dout (B,OC,T) -> dinp (B,C,T) += W' . im2col'(dout), dweight (OC,CK) +=
 * dout_b . col^T, dbias (OC) += sum_{b,t} dout.
 * The input gradient of out[o][t] = sum_{c,k} W[o][c][k] x[c][t + k - left]
 * is dx[c][t] = sum_{o,k} W[o][c][k] dout[o][t - k + left]: a convolution
 * of dout with the mirrored shifts, i.e. one sgemm of W' (C, OC*K),
 * W'[c][o*K+k] = W[o][c][k], with the columns of dout (OC*K,T) whose row
 * (o,k) is dout[o] shifted by left - k. It accumulates into dx directly
 * (beta = 1): no W^T dout columns to scatter back. For C <
 * CONV_DINP_MIN_C, the columns W^T dout (CK,T) are scattered back. */
void
sd_conv1d_backward (float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int B, int C,
    int OC, int T, int K, float *col)
{
  g_return_if_fail (dout != NULL);
  g_return_if_fail (B > 0 && C > 0 && OC > 0 && T > 0 && K > 0);
  g_return_if_fail (dweight == NULL || inp != NULL);
  g_return_if_fail (dinp == NULL || weight != NULL);
  g_return_if_fail (K == 1 || (dinp == NULL && dweight == NULL) || col);

  const int CK = C * K;
  /* W' after the columns, built once for the batch */
  const float *wt
      = dinp != NULL ? conv1d_dinp_weight (col, weight, C, OC, T, K) : NULL;
  for (int b = 0; b < B; b++) {
    const float *g = dout + (gsize) b * OC * T;

    if (dbias != NULL) {
      for (int oc = 0; oc < OC; oc++) {
        const float *grow = g + (gsize) oc * T;
        double s = 0.0;
        for (int t = 0; t < T; t++)
          s += grow[t];
        dbias[oc] += (float) s;
      }
    }

    if (dweight != NULL) {
      const float *x = inp + (gsize) b * C * T;
      const float *m = x;
      if (K > 1) {
        im2col (col, x, C, T, K);
        m = col;
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, OC, CK, T, 1.0f, g,
          T, m, T, 1.0f, dweight, CK);
    }

    /* the columns are free again: the dweight product above is complete */
    if (dinp != NULL)
      conv1d_dinp_sample (
          dinp + (gsize) b * C * T, 1.0f, g, weight, wt, C, OC, T, K, col);
  }
}

void
sd_conv1d_backward_input (float *dinp, gboolean accumulate, const float *dout,
    const float *weight, int B, int C, int OC, int T, int K, float *col)
{
  g_return_if_fail (dinp != NULL && dout != NULL && weight != NULL);
  g_return_if_fail (B > 0 && C > 0 && OC > 0 && T > 0 && K > 0);
  g_return_if_fail (K == 1 || col != NULL);

  const float *wt = conv1d_dinp_weight (col, weight, C, OC, T, K);
  for (int b = 0; b < B; b++)
    conv1d_dinp_sample (dinp + (gsize) b * C * T, accumulate ? 1.0f : 0.0f,
        dout + (gsize) b * OC * T, weight, wt, C, OC, T, K, col);
}

/* ------------------------------------------------------------- batchnorm */

/* Row reductions with 8 independent float accumulators: the compiler
 * vectorises them (a single running sum is a serial dependency it may not
 * reorder), and the rows (one channel of one series) are short enough for
 * float partial sums; rows are combined in double. */
static inline double
row_sum (const float *x, int T)
{
  float a[8] = { 0 };
  int t = 0;
  for (; t + 8 <= T; t += 8)
    for (int k = 0; k < 8; k++)
      a[k] += x[t + k];
  double s = 0.0;
  for (; t < T; t++)
    s += x[t];
  for (int k = 0; k < 8; k++)
    s += a[k];
  return s;
}

/* sum (x - mu)^2 */
static inline double
row_sum_sq_dev (const float *x, int T, float mu)
{
  float a[8] = { 0 };
  int t = 0;
  for (; t + 8 <= T; t += 8)
    for (int k = 0; k < 8; k++) {
      float d = x[t + k] - mu;
      a[k] += d * d;
    }
  double s = 0.0;
  for (; t < T; t++) {
    double d = x[t] - mu;
    s += d * d;
  }
  for (int k = 0; k < 8; k++)
    s += a[k];
  return s;
}

/* sum dy and sum dy * (x - mu) */
static inline void
row_sum_dy_dev (const float *dy, const float *x, int T, float mu,
    double *sum_dy, double *sum_dy_dev)
{
  float a[8] = { 0 }, b[8] = { 0 };
  int t = 0;
  for (; t + 8 <= T; t += 8)
    for (int k = 0; k < 8; k++) {
      a[k] += dy[t + k];
      b[k] += dy[t + k] * (x[t + k] - mu);
    }
  double s = 0.0, sd = 0.0;
  for (; t < T; t++) {
    s += dy[t];
    sd += (double) dy[t] * (x[t] - mu);
  }
  for (int k = 0; k < 8; k++) {
    s += a[k];
    sd += b[k];
  }
  *sum_dy += s;
  *sum_dy_dev += sd;
}

/* inp (B,C,T) -> out (B,C,T); mean, rstd (C). Two-pass double statistics:
 * one-pass E[x^2]-E[x]^2 cancels badly for offset signals. */
void
sd_batchnorm_forward_train (float *out, float *mean, float *rstd,
    const float *inp, const float *gamma, const float *beta,
    float *running_mean, float *running_var, float momentum, float eps, int B,
    int C, int T)
{
  g_return_if_fail (out != NULL && inp != NULL);
  g_return_if_fail (B > 0 && C > 0 && T > 0);

  const gsize n = (gsize) B * T;
  for (int c = 0; c < C; c++) {
    double s = 0.0;
    for (int b = 0; b < B; b++)
      s += row_sum (inp + ((gsize) b * C + c) * T, T);
    const double mu = s / (double) n;
    /* Two passes: the deviations are taken from the float mean, and the
     * mean's own rounding is corrected by the exact identity
     * sum (x - m)^2 = sum (x - mu)^2 + n (mu - m)^2. */
    const float mf = (float) mu;
    double ss = 0.0;
    for (int b = 0; b < B; b++)
      ss += row_sum_sq_dev (inp + ((gsize) b * C + c) * T, T, mf);
    const double sdev = s - (double) n * mf; /* sum (x - mf) */
    ss -= sdev * sdev / (double) n;
    if (ss < 0)
      ss = 0;
    const double var = ss / (double) n;
    const double rs = 1.0 / sqrt (var + (double) eps);

    /* (x - mean) first, not x*scale + shift: folding the mean into the
     * shift cancels catastrophically when |mean| >> std */
    const float muf = (float) mu;
    const float scale = (float) ((gamma != NULL ? gamma[c] : 1.0) * rs);
    const float shift = beta != NULL ? beta[c] : 0.0f;
    for (int b = 0; b < B; b++) {
      const float *x = inp + ((gsize) b * C + c) * T;
      float *o = out + ((gsize) b * C + c) * T;
      for (int t = 0; t < T; t++)
        o[t] = (x[t] - muf) * scale + shift;
    }

    if (mean != NULL)
      mean[c] = (float) mu;
    if (rstd != NULL)
      rstd[c] = (float) rs;
    if (running_mean != NULL)
      running_mean[c]
          = (float) ((1.0 - momentum) * running_mean[c] + momentum * mu);
    if (running_var != NULL) {
      /* n == 1 has no unbiased estimate (PyTorch refuses to train then);
       * fall back to the biased one rather than dividing by zero */
      const double uvar = n > 1 ? var * (double) n / (double) (n - 1) : var;
      running_var[c]
          = (float) ((1.0 - momentum) * running_var[c] + momentum * uvar);
    }
  }
}

/* dout (B,C,T) -> dinp (B,C,T), dgamma, dbeta (C). With xhat = (x-mu)*rstd
 * and g = dout*gamma: dx = rstd * (g - mean(g) - xhat * mean(g*xhat)). */
void
sd_batchnorm_backward_train (float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *inp, const float *mean, const float *rstd,
    const float *gamma, int B, int C, int T)
{
  g_return_if_fail (dout != NULL && inp != NULL && mean != NULL);
  g_return_if_fail (rstd != NULL);
  g_return_if_fail (B > 0 && C > 0 && T > 0);

  const double n = (double) B * T;
  for (int c = 0; c < C; c++) {
    const float mu = mean[c];
    const float rs = rstd[c];
    double sum_dy = 0.0, sum_dy_dev = 0.0;
    for (int b = 0; b < B; b++)
      row_sum_dy_dev (dout + ((gsize) b * C + c) * T,
          inp + ((gsize) b * C + c) * T, T, mu, &sum_dy, &sum_dy_dev);
    const double sum_dy_xhat = sum_dy_dev * rs;
    if (dgamma != NULL)
      dgamma[c] += (float) sum_dy_xhat;
    if (dbeta != NULL)
      dbeta[c] += (float) sum_dy;
    if (dinp == NULL)
      continue;

    /* dx = a*dy + b*xhat + c0, all per-channel constants */
    const double gm = gamma != NULL ? gamma[c] : 1.0;
    const float a = (float) (gm * rs);
    const float bx = (float) (-gm * rs * sum_dy_xhat / n);
    const float c0 = (float) (-gm * rs * sum_dy / n);
    for (int b = 0; b < B; b++) {
      const float *x = inp + ((gsize) b * C + c) * T;
      const float *dy = dout + ((gsize) b * C + c) * T;
      float *dx = dinp + ((gsize) b * C + c) * T;
      for (int t = 0; t < T; t++)
        dx[t] += a * dy[t] + bx * ((x[t] - mu) * rs) + c0;
    }
  }
}

/* inp (B,C,T) -> out (B,C,T) with the running statistics (C). */
void
sd_batchnorm_forward_eval (float *out, const float *inp, const float *gamma,
    const float *beta, const float *running_mean, const float *running_var,
    float eps, int B, int C, int T)
{
  g_return_if_fail (out != NULL && inp != NULL);
  g_return_if_fail (running_mean != NULL && running_var != NULL);
  g_return_if_fail (B > 0 && C > 0 && T > 0);

  for (int c = 0; c < C; c++) {
    const double rs = 1.0 / sqrt ((double) running_var[c] + (double) eps);
    const float mu = running_mean[c];
    const float scale = (float) ((gamma != NULL ? gamma[c] : 1.0) * rs);
    const float shift = beta != NULL ? beta[c] : 0.0f;
    for (int b = 0; b < B; b++) {
      const float *x = inp + ((gsize) b * C + c) * T;
      float *o = out + ((gsize) b * C + c) * T;
      for (int t = 0; t < T; t++)
        o[t] = (x[t] - mu) * scale + shift;
    }
  }
}

/* dout (B,C,T) -> dinp (B,C,T), dgamma, dbeta (C); a per-channel affine map
 * here, so no cross-sample terms. */
void
sd_batchnorm_backward_eval (float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *inp, const float *gamma,
    const float *running_mean, const float *running_var, float eps, int B,
    int C, int T)
{
  g_return_if_fail (dout != NULL);
  g_return_if_fail (running_var != NULL);
  g_return_if_fail (dgamma == NULL || (inp != NULL && running_mean != NULL));
  g_return_if_fail (B > 0 && C > 0 && T > 0);

  for (int c = 0; c < C; c++) {
    const double rs = 1.0 / sqrt ((double) running_var[c] + (double) eps);
    if (dgamma != NULL || dbeta != NULL) {
      const float mu = running_mean != NULL ? running_mean[c] : 0.0f;
      const float rsf = (float) rs;
      double sum_dy = 0.0, sum_dy_dev = 0.0;
      for (int b = 0; b < B; b++) {
        const float *dy = dout + ((gsize) b * C + c) * T;
        if (inp != NULL)
          row_sum_dy_dev (
              dy, inp + ((gsize) b * C + c) * T, T, mu, &sum_dy, &sum_dy_dev);
        else
          sum_dy += row_sum (dy, T);
      }
      const double sum_dy_xhat = sum_dy_dev * rsf;
      if (dgamma != NULL)
        dgamma[c] += (float) sum_dy_xhat;
      if (dbeta != NULL)
        dbeta[c] += (float) sum_dy;
    }
    if (dinp != NULL) {
      const float a = (float) ((gamma != NULL ? gamma[c] : 1.0) * rs);
      for (int b = 0; b < B; b++) {
        const float *dy = dout + ((gsize) b * C + c) * T;
        float *dx = dinp + ((gsize) b * C + c) * T;
        for (int t = 0; t < T; t++)
          dx[t] += a * dy[t];
      }
    }
  }
}

/* ------------------------------------------------------------ elementwise */

/* inp (N) -> out (N); in-place allowed, so no restrict. */
void
sd_relu_forward (float *out, const float *inp, gsize N)
{
  for (gsize i = 0; i < N; i++)
    out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

/* dout (N) -> dinp (N); masks on the output so in-place forward is fine. */
void
sd_relu_backward (float *dinp, const float *dout, const float *out, gsize N)
{
  if (dinp == NULL)
    return;
  for (gsize i = 0; i < N; i++)
    dinp[i] += out[i] > 0.0f ? dout[i] : 0.0f;
}

/* a, b (N) -> out (N). */
void
sd_add_forward (float *out, const float *a, const float *b, gsize N)
{
  for (gsize i = 0; i < N; i++)
    out[i] = a[i] + b[i];
}

/* dout (N) -> da, db (N); da == db would double-count, which is right for
 * out = x + x. */
void
sd_add_backward (float *da, float *db, const float *dout, gsize N)
{
  if (da != NULL)
    for (gsize i = 0; i < N; i++)
      da[i] += dout[i];
  if (db != NULL)
    for (gsize i = 0; i < N; i++)
      db[i] += dout[i];
}

/* ---------------------------------------------------------------- pooling */

/* inp (B,C,T) -> out (B,C): the (B,C) rows are contiguous, so treat as
 * B*C rows of length T. */
void
sd_gap_forward (float *out, const float *inp, int B, int C, int T)
{
  g_return_if_fail (B > 0 && C > 0 && T > 0);
  const gsize rows = (gsize) B * C;
  for (gsize r = 0; r < rows; r++) {
    out[r] = (float) (row_sum (inp + r * T, T) / T);
  }
}

/* dout (B,C) -> dinp (B,C,T) += dout / T. */
void
sd_gap_backward (float *dinp, const float *dout, int B, int C, int T)
{
  g_return_if_fail (B > 0 && C > 0 && T > 0);
  if (dinp == NULL)
    return;
  const gsize rows = (gsize) B * C;
  for (gsize r = 0; r < rows; r++) {
    const float g = dout[r] / (float) T;
    float *dx = dinp + r * T;
    for (int t = 0; t < T; t++)
      dx[t] += g;
  }
}

/* ---------------------------------------------------------------- avgpool */

void
sd_avgpool_forward (float *out, const float *inp, int B, int C, int T, int P)
{
  g_return_if_fail (out != NULL && inp != NULL);
  g_return_if_fail (B > 0 && C > 0 && P > 0 && T >= P);
  const int To = T / P;
  const gsize rows = (gsize) B * C;
  for (gsize r = 0; r < rows; r++) {
    const float *x = inp + r * T;
    float *o = out + r * To;
    for (int j = 0; j < To; j++) {
      const float *blk = x + (gsize) j * P;
      float s = 0.0f;
      for (int k = 0; k < P; k++)
        s += blk[k];
      o[j] = s / (float) P;
    }
  }
}

void
sd_avgpool_backward (float *dinp, const float *dout, int B, int C, int T, int P)
{
  g_return_if_fail (dout != NULL);
  g_return_if_fail (B > 0 && C > 0 && P > 0 && T >= P);
  if (dinp == NULL)
    return;
  const int To = T / P;
  const gsize rows = (gsize) B * C;
  const float inv = 1.0f / (float) P;
  for (gsize r = 0; r < rows; r++) {
    float *dx = dinp + r * T;
    const float *g = dout + r * To;
    for (int j = 0; j < To; j++) {
      const float v = g[j] * inv;
      float *blk = dx + (gsize) j * P;
      for (int k = 0; k < P; k++)
        blk[k] += v;
    }
  }
}

/* ------------------------------------------------------------------ dense */

/* inp (B,IN), weight (OUT,IN) -> out (B,OUT) = inp . W^T + bias. */
void
sd_dense_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int IN, int OUT)
{
  g_return_if_fail (out != NULL && inp != NULL && weight != NULL);
  g_return_if_fail (B > 0 && IN > 0 && OUT > 0);

  float beta = 0.0f;
  if (bias != NULL) {
    for (int b = 0; b < B; b++)
      memcpy (out + (gsize) b * OUT, bias, (gsize) OUT * sizeof (float));
    beta = 1.0f;
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, B, OUT, IN, 1.0f, inp,
      IN, weight, IN, beta, out, OUT);
}

/* dout (B,OUT) -> dinp (B,IN) += dout . W, dweight (OUT,IN) += dout^T . inp,
 * dbias (OUT) += sum_b dout. */
void
sd_dense_backward (float *dinp, float *dweight, float *dbias, const float *dout,
    const float *inp, const float *weight, int B, int IN, int OUT)
{
  g_return_if_fail (dout != NULL);
  g_return_if_fail (B > 0 && IN > 0 && OUT > 0);
  g_return_if_fail (dinp == NULL || weight != NULL);
  g_return_if_fail (dweight == NULL || inp != NULL);

  if (dinp != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, B, IN, OUT, 1.0f,
        dout, OUT, weight, IN, 1.0f, dinp, IN);
  if (dweight != NULL)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, B, 1.0f,
        dout, OUT, inp, IN, 1.0f, dweight, IN);
  if (dbias != NULL) {
    for (int o = 0; o < OUT; o++) {
      double s = 0.0;
      for (int b = 0; b < B; b++)
        s += dout[(gsize) b * OUT + o];
      dbias[o] += (float) s;
    }
  }
}

/* --------------------------------------------------- softmax/crossentropy */

/* logits (B,K) -> probs (B,K); subtracting the row max keeps expf finite
 * for any finite logits. */
void
sd_softmax_forward (float *probs, const float *logits, int B, int K)
{
  g_return_if_fail (probs != NULL && logits != NULL);
  g_return_if_fail (B > 0 && K > 0);

  for (int b = 0; b < B; b++) {
    const float *z = logits + (gsize) b * K;
    float *p = probs + (gsize) b * K;
    float mx = z[0];
    for (int k = 1; k < K; k++)
      mx = MAX (mx, z[k]);
    double s = 0.0;
    for (int k = 0; k < K; k++) {
      p[k] = expf (z[k] - mx);
      s += p[k];
    }
    const float inv = (float) (1.0 / s);
    for (int k = 0; k < K; k++)
      p[k] *= inv;
  }
}

/* probs (B,K), labels (B) -> mean loss; dlogits (B,K) = (p - onehot)/B. The
 * floor keeps log finite when a probability underflowed to 0 in float. */
float
sd_crossentropy_forward_backward (
    float *dlogits, const float *probs, const int *labels, int B, int K)
{
  g_return_val_if_fail (probs != NULL && labels != NULL, NAN);
  g_return_val_if_fail (B > 0 && K > 0, NAN);
  for (int b = 0; b < B; b++)
    g_return_val_if_fail (labels[b] >= 0 && labels[b] < K, NAN);

  double loss = 0.0;
  for (int b = 0; b < B; b++) {
    const double p = probs[(gsize) b * K + labels[b]];
    loss -= log (MAX (p, 1e-30));
  }
  if (dlogits != NULL) {
    const float invB = 1.0f / (float) B;
    for (int b = 0; b < B; b++) {
      const float *p = probs + (gsize) b * K;
      float *d = dlogits + (gsize) b * K;
      for (int k = 0; k < K; k++)
        d[k] = p[k] * invB;
      d[labels[b]] -= invB;
    }
  }
  return (float) (loss / B);
}

/* probs, targets (B,K) -> mean loss; dlogits (B,K) = (p - t)/B. Terms with
 * t_k = 0 are skipped, so an underflowed p_k there costs nothing. */
float
sd_crossentropy_soft_forward_backward (
    float *dlogits, const float *probs, const float *targets, int B, int K)
{
  g_return_val_if_fail (probs != NULL && targets != NULL, NAN);
  g_return_val_if_fail (B > 0 && K > 0, NAN);

  double loss = 0.0;
  for (gsize i = 0; i < (gsize) B * K; i++)
    if (targets[i] != 0.0f)
      loss -= targets[i] * log (MAX ((double) probs[i], 1e-30));
  if (dlogits != NULL) {
    const float invB = 1.0f / (float) B;
    for (gsize i = 0; i < (gsize) B * K; i++)
      dlogits[i] = probs[i] * invB - targets[i] * invB;
  }
  return (float) (loss / B);
}
