/* seqdream: the layers of a general 1-D CNN graph (imported ONNX models,
 * core/graph-ops.c) as plain forward/backward functions.
 *
 * The conventions of seqdream/layers.h hold: float32, activations (B,C,T)
 * row-major, forward functions overwrite their output, backward functions
 * ACCUMULATE into every gradient they produce and take NULL for a
 * gradient that is not needed, nothing allocates.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A sliding window over time, as ONNX's Conv / MaxPool / AveragePool
 * attributes with one spatial axis: kernel K, stride, dilation, zeros
 * pad_l before and pad_r after the series. */
typedef struct
{
  int K, stride, dilation, pad_l, pad_r;
} SdWindow;

/* The output length floor ((T + pad_l + pad_r - dilation (K-1) - 1) /
 * stride) + 1 (ceil_mode 0); 0 when the window does not fit at all. */
int sd_window_out_length (const SdWindow *w, int T);

/* Floats of scratch sd_conv1d_ex_forward / _backward need: twice the
 * columns of one group of one sample, 2 (C/group) K To. */
gsize sd_conv1d_ex_scratch_size (int C, int group, int K, int To);

/* Grouped, strided, dilated, padded convolution (ONNX Conv, torch Conv1d):
 * inp (B,C,T), weight (OC, C/group, K), bias (OC) or NULL, out (B,OC,To)
 * with To = sd_window_out_length (w, T). Uses sgemm per group. */
void sd_conv1d_ex_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int C, int OC, int group, int T,
    const SdWindow *w, float *col);
/* dout (B,OC,To) -> dinp (B,C,T), dweight (OC,C/group,K), dbias (OC). */
void sd_conv1d_ex_backward (float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int B, int C,
    int OC, int group, int T, const SdWindow *w, float *col);

/* Max pooling: inp (B,C,T) -> out (B,C,To); padding never wins (it is
 * -inf, as ONNX). The backward routes dout to the first maximum of each
 * window, found again from inp. */
void sd_maxpool_forward (
    float *out, const float *inp, int B, int C, int T, const SdWindow *w);
void sd_maxpool_backward (float *dinp, const float *dout, const float *inp,
    int B, int C, int T, const SdWindow *w);

/* Average pooling: the mean over the window, dividing by K when
 * count_pad (ONNX count_include_pad = 1) and by the number of real
 * samples in it otherwise. inp (B,C,T) -> out (B,C,To). */
void sd_avgpool_ex_forward (float *out, const float *inp, int B, int C, int T,
    const SdWindow *w, gboolean count_pad);
void sd_avgpool_ex_backward (float *dinp, const float *dout, int B, int C,
    int T, const SdWindow *w, gboolean count_pad);

/* Global max pooling over time: inp (B,C,T) -> out (B,C); the backward
 * routes to the first maximum. */
void sd_gmp_forward (float *out, const float *inp, int B, int C, int T);
void sd_gmp_backward (
    float *dinp, const float *dout, const float *inp, int B, int C, int T);

typedef enum
{
  SD_ACT_RELU,
  SD_ACT_LEAKY_RELU, /* x < 0: alpha x */
  SD_ACT_ELU,        /* x < 0: alpha (exp (x) - 1) */
  SD_ACT_SIGMOID,
  SD_ACT_TANH,
  SD_ACT_GELU, /* x Phi (x), the exact (erf) form */
  SD_ACT_ERF,  /* erf (x): torch's GELU as exported to ONNX before opset 20 */
} SdActivation;

const char *sd_activation_name (SdActivation a);

/* Elementwise: out (N) = f (inp); out may equal inp. */
void sd_activation_forward (
    SdActivation a, float alpha, float *out, const float *inp, gsize N);
/* dinp += f' (inp) dout: uses the forward INPUT. */
void sd_activation_backward (SdActivation a, float alpha, float *dinp,
    const float *dout, const float *inp, gsize N);

/* out = a * b, N elements; da += b dout, db += a dout. */
void sd_mul_forward (float *out, const float *a, const float *b, gsize N);
void sd_mul_backward (float *da, float *db, const float *dout, const float *a,
    const float *b, gsize N);

/* Per-channel affine map: out (B,C,T) = inp * scale[c] + shift[c]; scale
 * or shift NULL: 1 or 0 (Mul, Add, Sub, Div by a constant). */
void sd_channel_affine_forward (float *out, const float *inp,
    const float *scale, const float *shift, int B, int C, int T);
void sd_channel_affine_backward (float *dinp, float *dscale, float *dshift,
    const float *dout, const float *inp, const float *scale, int B, int C,
    int T);

/* Concatenation over channels of n inputs inps[i] (B,Cs[i],T) -> out
 * (B, sum Cs, T); the backward splits dout back. */
void sd_concat_forward (
    float *out, const float *const *inps, const int *Cs, int n, int B, int T);
void sd_concat_backward (
    float *const *dinps, const float *dout, const int *Cs, int n, int B, int T);

/* Zero padding over time: inp (B,C,T) -> out (B,C,l+T+r). */
void sd_pad_forward (
    float *out, const float *inp, int B, int C, int T, int l, int r);
void sd_pad_backward (
    float *dinp, const float *dout, int B, int C, int T, int l, int r);

G_END_DECLS
