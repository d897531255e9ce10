/* The layers of a general 1-D CNN graph (seqdream/graph.h): grouped,
 * strided, dilated convolution, max and average pooling with windows,
 * activations, products, channel affine maps, concatenation, padding.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream/graph.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int
sd_window_out_length (const SdWindow *w, int T)
{
  const gint64 span = (gint64) w->dilation * (w->K - 1) + 1;
  const gint64 padded = (gint64) T + w->pad_l + w->pad_r;
  if (T < 1 || padded < span)
    return 0;
  return (int) ((padded - span) / w->stride + 1);
}

gsize
sd_conv1d_ex_scratch_size (int C, int group, int K, int To)
{
  return 2 * (gsize) (C / group) * K * To;
}

/* The columns of one sample's group: col (C*K, To), row (c,k) holds x[c]
 * at t*stride + k*dilation - pad_l, zero outside [0, T). x is (C,T). */
static void
im2col_ex (float *col, const float *x, int C, int T, const SdWindow *w, int To)
{
  for (int c = 0; c < C; c++)
    for (int k = 0; k < w->K; k++) {
      float *row = col + ((gsize) c * w->K + k) * To;
      const float *xr = x + (gsize) c * T;
      const int off = k * w->dilation - w->pad_l;
      if (w->stride == 1) { /* a shifted copy of x[c] between zeros */
        const int t0 = CLAMP (-off, 0, To), t1 = CLAMP (T - off, t0, To);
        memset (row, 0, (gsize) t0 * sizeof (float));
        memcpy (row + t0, xr + t0 + off, (gsize) (t1 - t0) * sizeof (float));
        memset (row + t1, 0, (gsize) (To - t1) * sizeof (float));
        continue;
      }
      for (int t = 0; t < To; t++) {
        const int s = t * w->stride + off;
        row[t] = (s >= 0 && s < T) ? xr[s] : 0.0f;
      }
    }
}

/* The adjoint of im2col_ex: dx (C,T) += the columns scattered back. */
static void
col2im_ex_add (
    float *dx, const float *col, int C, int T, const SdWindow *w, int To)
{
  for (int c = 0; c < C; c++)
    for (int k = 0; k < w->K; k++) {
      const float *row = col + ((gsize) c * w->K + k) * To;
      float *xr = dx + (gsize) c * T;
      const int off = k * w->dilation - w->pad_l;
      if (w->stride == 1) {
        const int t0 = CLAMP (-off, 0, To), t1 = CLAMP (T - off, t0, To);
        float *xs = xr + off;
        for (int t = t0; t < t1; t++)
          xs[t] += row[t];
        continue;
      }
      for (int t = 0; t < To; t++) {
        const int s = t * w->stride + off;
        if (s >= 0 && s < T)
          xr[s] += row[t];
      }
    }
}

/* A 1x1 window without stride or padding: the columns are x itself. */
static gboolean
window_is_identity (const SdWindow *w)
{
  return w->K == 1 && w->stride == 1 && w->pad_l == 0 && w->pad_r == 0;
}

void
sd_conv1d_ex_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int C, int OC, int group, int T,
    const SdWindow *w, float *col)
{
  g_return_if_fail (out && inp && weight && col && group > 0);
  g_return_if_fail (C % group == 0 && OC % group == 0);
  const int To = sd_window_out_length (w, T);
  const int Cg = C / group, OCg = OC / group, CK = Cg * w->K;
  g_return_if_fail (To > 0);

  for (int b = 0; b < B; b++)
    for (int g = 0; g < group; g++) {
      float *o = out + ((gsize) b * OC + (gsize) g * OCg) * To;
      float beta = 0.0f;
      const float *x = inp + ((gsize) b * C + (gsize) g * Cg) * T;
      const float *cols = x;
      if (!window_is_identity (w)) {
        im2col_ex (col, x, Cg, T, w, To);
        cols = col;
      }
      if (bias != NULL) {
        for (int oc = 0; oc < OCg; oc++)
          for (int t = 0; t < To; t++)
            o[(gsize) oc * To + t] = bias[g * OCg + oc];
        beta = 1.0f;
      }
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, OCg, To, CK, 1.0f,
          weight + (gsize) g * OCg * CK, CK, cols, To, beta, o, To);
    }
}

void
sd_conv1d_ex_backward (float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int B, int C,
    int OC, int group, int T, const SdWindow *w, float *col)
{
  g_return_if_fail (dout && col && group > 0);
  g_return_if_fail (C % group == 0 && OC % group == 0);
  g_return_if_fail (dweight == NULL || inp != NULL);
  g_return_if_fail (dinp == NULL || weight != NULL);
  const int To = sd_window_out_length (w, T);
  const int Cg = C / group, OCg = OC / group, CK = Cg * w->K;
  float *dcol = col + (gsize) CK * To;
  g_return_if_fail (To > 0);

  for (int b = 0; b < B; b++)
    for (int g = 0; g < group; g++) {
      const float *d = dout + ((gsize) b * OC + (gsize) g * OCg) * To;
      const gsize xo = ((gsize) b * C + (gsize) g * Cg) * T;
      if (dbias != NULL)
        for (int oc = 0; oc < OCg; oc++) {
          double s = 0.0;
          for (int t = 0; t < To; t++)
            s += d[(gsize) oc * To + t];
          dbias[g * OCg + oc] += (float) s;
        }
      const gboolean identity = window_is_identity (w);
      if (dweight != NULL) {
        const float *cols = inp + xo;
        if (!identity) {
          im2col_ex (col, inp + xo, Cg, T, w, To);
          cols = col;
        }
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, OCg, CK, To, 1.0f,
            d, To, cols, To, 1.0f, dweight + (gsize) g * OCg * CK, CK);
      }
      if (dinp != NULL && identity) /* accumulate straight into dinp */
        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, CK, To, OCg, 1.0f,
            weight + (gsize) g * OCg * CK, CK, d, To, 1.0f, dinp + xo, To);
      else if (dinp != NULL) {
        cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, CK, To, OCg, 1.0f,
            weight + (gsize) g * OCg * CK, CK, d, To, 0.0f, dcol, To);
        col2im_ex_add (dinp + xo, dcol, Cg, T, w, To);
      }
    }
}

/* The first position of the maximum of x (T) under window t of w; -1 when
 * the window holds only padding. */
static int
window_argmax (const float *x, int T, const SdWindow *w, int t)
{
  int best = -1;
  for (int k = 0; k < w->K; k++) {
    const int s = t * w->stride + k * w->dilation - w->pad_l;
    if (s >= 0 && s < T && (best < 0 || x[s] > x[best]))
      best = s;
  }
  return best;
}

void
sd_maxpool_forward (
    float *out, const float *inp, int B, int C, int T, const SdWindow *w)
{
  const int To = sd_window_out_length (w, T);
  /* windows t0..t1-1 of a dense window (stride and dilation 1) lie inside
   * the series: their maximum needs no bounds (the same first maximum:
   * a later value replaces it only when greater) */
  const gboolean dense = w->stride == 1 && w->dilation == 1;
  const int t0 = dense ? MIN (w->pad_l, To) : To;
  const int t1 = dense ? CLAMP (T - w->K + 1 + w->pad_l, t0, To) : To;
  for (gsize r = 0; r < (gsize) B * C; r++) {
    const float *x = inp + r * T;
    float *o = out + r * To;
    for (int t = 0; t < t0; t++) {
      const int s = window_argmax (x, T, w, t);
      o[t] = s >= 0 ? x[s] : -INFINITY;
    }
    for (int t = t0; t < t1; t++) {
      const float *xs = x + t - w->pad_l;
      float m = xs[0];
      for (int k = 1; k < w->K; k++)
        m = xs[k] > m ? xs[k] : m;
      o[t] = m;
    }
    for (int t = t1; t < To; t++) {
      const int s = window_argmax (x, T, w, t);
      o[t] = s >= 0 ? x[s] : -INFINITY;
    }
  }
}

void
sd_maxpool_backward (float *dinp, const float *dout, const float *inp, int B,
    int C, int T, const SdWindow *w)
{
  const int To = sd_window_out_length (w, T);
  for (gsize r = 0; r < (gsize) B * C; r++) {
    const float *x = inp + r * T;
    for (int t = 0; t < To; t++) {
      const int s = window_argmax (x, T, w, t);
      if (s >= 0)
        dinp[r * T + s] += dout[r * To + t];
    }
  }
}

/* The divisor of window t: K, or the real samples under it. */
static int
avg_divisor (int T, const SdWindow *w, int t, gboolean count_pad)
{
  int n = 0;
  if (count_pad)
    return w->K;
  for (int k = 0; k < w->K; k++) {
    const int s = t * w->stride + k * w->dilation - w->pad_l;
    n += s >= 0 && s < T;
  }
  return MAX (n, 1);
}

void
sd_avgpool_ex_forward (float *out, const float *inp, int B, int C, int T,
    const SdWindow *w, gboolean count_pad)
{
  const int To = sd_window_out_length (w, T);
  for (gsize r = 0; r < (gsize) B * C; r++) {
    const float *x = inp + r * T;
    for (int t = 0; t < To; t++) {
      float s = 0.0f;
      for (int k = 0; k < w->K; k++) {
        const int p = t * w->stride + k * w->dilation - w->pad_l;
        if (p >= 0 && p < T)
          s += x[p];
      }
      out[r * To + t] = s / (float) avg_divisor (T, w, t, count_pad);
    }
  }
}

void
sd_avgpool_ex_backward (float *dinp, const float *dout, int B, int C, int T,
    const SdWindow *w, gboolean count_pad)
{
  const int To = sd_window_out_length (w, T);
  for (gsize r = 0; r < (gsize) B * C; r++)
    for (int t = 0; t < To; t++) {
      const float g
          = dout[r * To + t] / (float) avg_divisor (T, w, t, count_pad);
      for (int k = 0; k < w->K; k++) {
        const int p = t * w->stride + k * w->dilation - w->pad_l;
        if (p >= 0 && p < T)
          dinp[r * T + p] += g;
      }
    }
}

void
sd_gmp_forward (float *out, const float *inp, int B, int C, int T)
{
  for (gsize r = 0; r < (gsize) B * C; r++) {
    const float *x = inp + r * T;
    float m = x[0];
    for (int t = 1; t < T; t++)
      m = x[t] > m ? x[t] : m;
    out[r] = m;
  }
}

void
sd_gmp_backward (
    float *dinp, const float *dout, const float *inp, int B, int C, int T)
{
  for (gsize r = 0; r < (gsize) B * C; r++) {
    const float *x = inp + r * T;
    int best = 0;
    for (int t = 1; t < T; t++)
      if (x[t] > x[best])
        best = t;
    dinp[r * T + best] += dout[r];
  }
}

const char *
sd_activation_name (SdActivation a)
{
  static const char *const names[]
      = { "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Gelu", "Erf" };
  return (guint) a < G_N_ELEMENTS (names) ? names[a] : "?";
}

static inline float
sigmoidf (float x)
{
  return 1.0f / (1.0f + expf (-x));
}

void
sd_activation_forward (
    SdActivation a, float alpha, float *out, const float *inp, gsize N)
{
  for (gsize i = 0; i < N; i++) {
    const float x = inp[i];
    float y;
    switch (a) {
      case SD_ACT_RELU:
        y = x > 0.0f ? x : 0.0f;
        break;
      case SD_ACT_LEAKY_RELU:
        y = x >= 0.0f ? x : alpha * x;
        break;
      case SD_ACT_ELU:
        y = x > 0.0f ? x : alpha * expm1f (x);
        break;
      case SD_ACT_SIGMOID:
        y = sigmoidf (x);
        break;
      case SD_ACT_TANH:
        y = tanhf (x);
        break;
      case SD_ACT_GELU:
        y = 0.5f * x * (1.0f + erff (x * (float) M_SQRT1_2));
        break;
      case SD_ACT_ERF:
      default:
        y = erff (x);
        break;
    }
    out[i] = y;
  }
}

void
sd_activation_backward (SdActivation a, float alpha, float *dinp,
    const float *dout, const float *inp, gsize N)
{
  /* 1 / sqrt (2 pi) and 2 / sqrt (pi) */
  const float inv_sqrt_2pi = 0.3989422804014327f,
              two_sqrt_pi = 1.1283791670955126f;
  for (gsize i = 0; i < N; i++) {
    const float x = inp[i];
    float d;
    switch (a) {
      case SD_ACT_RELU:
        d = x > 0.0f ? 1.0f : 0.0f;
        break;
      case SD_ACT_LEAKY_RELU:
        d = x >= 0.0f ? 1.0f : alpha;
        break;
      case SD_ACT_ELU:
        d = x > 0.0f ? 1.0f : alpha * expf (x);
        break;
      case SD_ACT_SIGMOID: {
        const float s = sigmoidf (x);
        d = s * (1.0f - s);
        break;
      }
      case SD_ACT_TANH: {
        const float t = tanhf (x);
        d = 1.0f - t * t;
        break;
      }
      case SD_ACT_GELU:
        d = 0.5f * (1.0f + erff (x * (float) M_SQRT1_2))
            + x * inv_sqrt_2pi * expf (-0.5f * x * x);
        break;
      case SD_ACT_ERF:
      default:
        d = two_sqrt_pi * expf (-x * x);
        break;
    }
    dinp[i] += d * dout[i];
  }
}

void
sd_mul_forward (float *out, const float *a, const float *b, gsize N)
{
  for (gsize i = 0; i < N; i++)
    out[i] = a[i] * b[i];
}

void
sd_mul_backward (float *da, float *db, const float *dout, const float *a,
    const float *b, gsize N)
{
  /* Both reads come before the writes: da and db may be one buffer
   * (x * x). */
  for (gsize i = 0; i < N; i++) {
    const float g = dout[i], ai = a[i], bi = b[i];
    if (da != NULL)
      da[i] += g * bi;
    if (db != NULL)
      db[i] += g * ai;
  }
}

void
sd_channel_affine_forward (float *out, const float *inp, const float *scale,
    const float *shift, int B, int C, int T)
{
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      const gsize o = ((gsize) b * C + c) * T;
      const float s = scale ? scale[c] : 1.0f, h = shift ? shift[c] : 0.0f;
      for (int t = 0; t < T; t++)
        out[o + t] = inp[o + t] * s + h;
    }
}

void
sd_channel_affine_backward (float *dinp, float *dscale, float *dshift,
    const float *dout, const float *inp, const float *scale, int B, int C,
    int T)
{
  for (int b = 0; b < B; b++)
    for (int c = 0; c < C; c++) {
      const gsize o = ((gsize) b * C + c) * T;
      const float s = scale ? scale[c] : 1.0f;
      double gs = 0.0, gh = 0.0;
      for (int t = 0; t < T; t++) {
        const float g = dout[o + t];
        if (dinp != NULL)
          dinp[o + t] += g * s;
        gs += (double) g * inp[o + t];
        gh += g;
      }
      if (dscale != NULL)
        dscale[c] += (float) gs;
      if (dshift != NULL)
        dshift[c] += (float) gh;
    }
}

void
sd_concat_forward (
    float *out, const float *const *inps, const int *Cs, int n, int B, int T)
{
  int Ctot = 0;
  for (int i = 0; i < n; i++)
    Ctot += Cs[i];
  for (int b = 0; b < B; b++) {
    float *o = out + (gsize) b * Ctot * T;
    for (int i = 0; i < n; i++) {
      const gsize len = (gsize) Cs[i] * T;
      memcpy (o, inps[i] + b * len, len * sizeof (float));
      o += len;
    }
  }
}

void
sd_concat_backward (
    float *const *dinps, const float *dout, const int *Cs, int n, int B, int T)
{
  int Ctot = 0;
  for (int i = 0; i < n; i++)
    Ctot += Cs[i];
  for (int b = 0; b < B; b++) {
    const float *d = dout + (gsize) b * Ctot * T;
    for (int i = 0; i < n; i++) {
      const gsize len = (gsize) Cs[i] * T;
      if (dinps[i] != NULL) {
        float *di = dinps[i] + b * len;
        for (gsize k = 0; k < len; k++)
          di[k] += d[k];
      }
      d += len;
    }
  }
}

void
sd_pad_forward (float *out, const float *inp, int B, int C, int T, int l, int r)
{
  const int To = l + T + r;
  for (gsize row = 0; row < (gsize) B * C; row++) {
    float *o = out + row * To;
    memset (o, 0, (gsize) l * sizeof (float));
    memcpy (o + l, inp + row * T, (gsize) T * sizeof (float));
    memset (o + l + T, 0, (gsize) r * sizeof (float));
  }
}

void
sd_pad_backward (
    float *dinp, const float *dout, int B, int C, int T, int l, int r)
{
  const int To = l + T + r;
  for (gsize row = 0; row < (gsize) B * C; row++)
    for (int t = 0; t < T; t++)
      dinp[row * T + t] += dout[row * To + l + t];
}
