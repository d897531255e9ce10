/* seqdream: the layers of a 1-D CNN as plain forward/backward functions.
 *
 * Conventions (the llm.c habit):
 * - float32, row-major; activations are (B,C,T): batch, channels, time.
 * - forward functions overwrite their output;
 * - backward functions ACCUMULATE (+=) into every gradient they produce
 *   (dinp, dweight, dbias, ...), so the caller zeroes gradients once and
 *   branches (residual adds) can share a gradient buffer. Any gradient
 *   pointer may be NULL when that gradient is not needed.
 * - nothing here allocates; scratch buffers are passed in.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The number of threads OpenBLAS's sgemm (the convolutions and dense
 * layers) runs on, for the whole process: n >= 1. Results are
 * deterministic for a given thread count. OpenBLAS is a private
 * dependency: set its threads here, not through its own API. */
void sd_set_num_threads (int n);
int sd_get_num_threads (void);

/* Size in floats of the scratch buffer sd_conv1d_forward needs: C*K*T
 * (im2col of one sample). For K == 1 no scratch is used and this returns
 * 0. */
gsize sd_conv1d_scratch_size (int C, int K, int T);

/* Size in floats of the scratch buffer sd_conv1d_backward needs:
 * max (C,OC)*K*T + C*OC*K (im2col of one input sample for dweight or of
 * one dout sample for dinp, then the rearranged weight for dinp); at least
 * sd_conv1d_scratch_size (C,K,T). For K == 1 it returns 0. */
gsize sd_conv1d_backward_scratch_size (int C, int OC, int K, int T);

/* 'same' padding as PyTorch (padding="same", stride 1, dilation 1): the
 * K-1 zeros are split left = (K-1)/2, right = K-1-left.
 * inp (B,C,T), weight (OC,C,K), bias (OC) or NULL, out (B,OC,T),
 * col scratch of sd_conv1d_scratch_size (C,K,T) floats. Uses sgemm. */
void sd_conv1d_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int C, int OC, int T, int K, float *col);

/* dout (B,OC,T) -> dinp (B,C,T), dweight (OC,C,K), dbias (OC). col is a
 * scratch of sd_conv1d_backward_scratch_size (C,OC,K,T) floats; it is
 * overwritten (input columns for dweight, then dout columns and the
 * rearranged weight for dinp), so it cannot hold anything a later backward
 * still needs. */
void sd_conv1d_backward (float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int B, int C,
    int OC, int T, int K, float *col);

/* The input gradient alone: dinp (B,C,T) += (or, with accumulate FALSE,
 * =) the gradient from dout (B,OC,T), as sd_conv1d_backward computes it;
 * col as there. Overwriting saves zeroing dinp first. */
void sd_conv1d_backward_input (float *dinp, gboolean accumulate,
    const float *dout, const float *weight, int B, int C, int OC, int T, int K,
    float *col);

/* Batch norm over (B,T) per channel, training mode: uses batch statistics
 * (biased variance), saves mean (C) and rstd (C) = 1/sqrt(var+eps) for the
 * backward pass and updates running_mean/running_var (C) as PyTorch does:
 * running = (1-momentum)*running + momentum*batch, with the unbiased
 * variance (n/(n-1)) for running_var. running_* may be NULL. */
void sd_batchnorm_forward_train (float *out, float *mean, float *rstd,
    const float *inp, const float *gamma, const float *beta,
    float *running_mean, float *running_var, float momentum, float eps, int B,
    int C, int T);

/* Batch-statistics backward: dout (B,C,T) with the saved mean/rstd. */
void sd_batchnorm_backward_train (float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *inp, const float *mean, const float *rstd,
    const float *gamma, int B, int C, int T);

/* Inference mode: normalise with the running statistics. */
void sd_batchnorm_forward_eval (float *out, const float *inp,
    const float *gamma, const float *beta, const float *running_mean,
    const float *running_var, float eps, int B, int C, int T);

/* Inference-mode backward (the statistics are constants). */
void sd_batchnorm_backward_eval (float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *inp, const float *gamma,
    const float *running_mean, const float *running_var, float eps, int B,
    int C, int T);

/* out = max(inp, 0), N elements; out may equal inp. */
void sd_relu_forward (float *out, const float *inp, gsize N);
/* dinp += dout * (out > 0); uses the forward OUTPUT. */
void sd_relu_backward (
    float *dinp, const float *dout, const float *out, gsize N);

/* out = a + b, N elements (residual join). */
void sd_add_forward (float *out, const float *a, const float *b, gsize N);
/* da += dout; db += dout. */
void sd_add_backward (float *da, float *db, const float *dout, gsize N);

/* Global average pooling over time: inp (B,C,T) -> out (B,C). */
void sd_gap_forward (float *out, const float *inp, int B, int C, int T);
void sd_gap_backward (float *dinp, const float *dout, int B, int C, int T);

/* Average pooling over time with kernel = stride = P and no padding, as
 * torch.nn.AvgPool1d(P): inp (B,C,T) -> out (B,C,T/P) (floor; the last
 * T % P samples of each row are dropped). */
void sd_avgpool_forward (
    float *out, const float *inp, int B, int C, int T, int P);
/* dinp (B,C,T) += dout / P spread over each pooled block; the dropped tail
 * gets no gradient. */
void sd_avgpool_backward (
    float *dinp, const float *dout, int B, int C, int T, int P);

/* Dense: inp (B,IN), weight (OUT,IN) as torch.nn.Linear, bias (OUT),
 * out (B,OUT). */
void sd_dense_forward (float *out, const float *inp, const float *weight,
    const float *bias, int B, int IN, int OUT);
void sd_dense_backward (float *dinp, float *dweight, float *dbias,
    const float *dout, const float *inp, const float *weight, int B, int IN,
    int OUT);

/* Softmax over the last axis: logits (B,K) -> probs (B,K), stable. */
void sd_softmax_forward (float *probs, const float *logits, int B, int K);

/* Mean cross-entropy of probs (B,K) against integer labels (B); returns the
 * loss. If dlogits is not NULL it is OVERWRITTEN with (probs - onehot)/B,
 * the gradient of the mean loss with respect to the logits. */
float sd_crossentropy_forward_backward (
    float *dlogits, const float *probs, const int *labels, int B, int K);

/* The same against target distributions (B,K) (soft labels; each row
 * non-negative, summing to 1): loss -sum_k t_k log p_k averaged over the
 * batch (as torch.nn.functional.cross_entropy with probability targets),
 * dlogits = (probs - targets)/B when not NULL. A one-hot row gives exactly
 * the integer-label loss and gradient. */
float sd_crossentropy_soft_forward_backward (
    float *dlogits, const float *probs, const float *targets, int B, int K);

G_END_DECLS
