/* seqdream: how realistic is a dream? Nearest real series (Euclidean and
 * banded DTW with exact LB_Keogh pruning and early abandoning), smoothness
 * and spectra against the real series of the dream's class.
 * Formulas and reasons: docs/metrics.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/metrics.h>
#include "sd-private.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A lower bound must exceed a threshold by more than rounding (sums of up
 * to a few thousand terms in another order) before a candidate is
 * dropped: pruning stays exact. */
#define PRUNE_MARGIN (1.0 + 1e-12)

/* FFTW's planner is not thread-safe; execution is. Shared with the
 * carrier shift of core/train.c. */
GMutex sd_fftw_planner_lock;

struct _SdReference
{
  int length;
  int n_classes; /* the model's */
  guint n;
  float *x; /* (n, length), normalised as the model normalises */
  int *y;
  int band;
  double hf_cutoff;
  SdNormalization norm;
  char **labels; /* the model's */

  /* Sakoe-Chiba envelopes of every series, for LB_Keogh. */
  float *upper, *lower;

  guint *class_size;
  guint **class_rows;
  float *class_mean, *class_sd; /* (n_classes, length) */
  double *median_nn_euclidean, *median_nn_dtw, *median_tv, *median_hf;
  int n_bins;
  double *class_spectrum; /* (n_classes, n_bins), sums to 1, or NaN */

  float *window; /* periodic Hann of the reference length */
  fftwf_plan plan;
};

void
sd_reference_config_init (SdReferenceConfig *config)
{
  g_return_if_fail (config != NULL);
  config->dtw_band_fraction = 0.1;
  config->max_per_class = 200;
  config->hf_cutoff = 0.5;
  config->seed = 0;
}

/* ---- dynamic time warping ---- */

/* Squared banded DTW: the smallest sum of (a[i] - b[j])^2 along a warping
 * path through cells with |i - j| <= band (band < max (n, m), |n - m| <=
 * band). Two rolling rows of 2 band + 1 cells in diagonal coordinates
 * k = j - i + band; buf holds 2 (2 band + 1) + 4 doubles. Every path
 * visits every row, so once a whole row exceeds thr2 so does the result:
 * INFINITY then (early abandoning). */
static double
dtw_sq (const float *a, int n, const float *b, int m, int band, double thr2,
    double *buf)
{
  const int W = 2 * band + 1;
  double *prev = buf + 1, *cur = buf + W + 3;
  const double limit = thr2 * PRUNE_MARGIN;

  buf[0] = buf[W + 1] = buf[W + 2] = buf[2 * W + 3] = INFINITY;
  for (int i = 0; i < n; i++) {
    const int jlo = MAX (0, i - band), jhi = MIN (m - 1, i + band);
    const int klo = jlo - i + band, khi = jhi - i + band;
    const double ai = a[i];
    double row_min = INFINITY;

    for (int k = 0; k < klo; k++)
      cur[k] = INFINITY;
    if (i == 0) {
      double acc = 0.0;
      for (int j = jlo; j <= jhi; j++) {
        double d = ai - b[j];
        acc += d * d;
        cur[j + band] = acc;
      }
      row_min = cur[klo];
    } else {
      for (int j = jlo, k = klo; j <= jhi; j++, k++) {
        double d = ai - b[j];
        double best = prev[k];  /* (i-1, j-1) */
        if (prev[k + 1] < best) /* (i-1, j) */
          best = prev[k + 1];
        if (cur[k - 1] < best) /* (i, j-1) */
          best = cur[k - 1];
        double v = d * d + best;
        cur[k] = v;
        if (v < row_min)
          row_min = v;
      }
    }
    for (int k = khi + 1; k < W; k++)
      cur[k] = INFINITY;
    if (i < n - 1 && row_min > limit)
      return INFINITY;
    double *t = prev;
    prev = cur;
    cur = t;
  }
  return prev[(m - 1) - (n - 1) + band];
}

double
sd_dtw_distance (const float *a, int n, const float *b, int m, int band,
    double abandon_above)
{
  if (a == NULL || b == NULL || n < 1 || m < 1 || band < 0
      || ABS (n - m) > band)
    return NAN;
  /* Beyond max (n, m) - 1 every cell is inside the band anyway. */
  band = MIN (band, MAX (n, m) - 1);

  double stack_buf[512];
  gsize need = 2 * (gsize) (2 * band + 1) + 4;
  double *buf
      = need <= G_N_ELEMENTS (stack_buf) ? stack_buf : g_new (double, need);
  double thr2 = abandon_above < 0 ? -1.0 : abandon_above * abandon_above;
  double d2 = dtw_sq (a, n, b, m, band, thr2, buf);
  if (buf != stack_buf)
    g_free (buf);

  double d = sqrt (d2);
  return d > abandon_above ? INFINITY : d;
}

/* ---- lower bounds ---- */

/* Sakoe-Chiba envelope: upper[i] = max x[i-w .. i+w], lower[i] = min, with
 * Lemire's streaming deques (O(n)); dq holds n ints. */
static void
envelope (const float *x, int n, int w, float *upper, float *lower, int *dq)
{
  int head = 0, tail = 0, next = 0;
  for (int i = 0; i < n; i++) {
    for (; next <= MIN (n - 1, i + w); next++) {
      while (tail > head && x[dq[tail - 1]] <= x[next])
        tail--;
      dq[tail++] = next;
    }
    while (dq[head] < i - w)
      head++;
    upper[i] = x[dq[head]];
  }
  head = tail = next = 0;
  for (int i = 0; i < n; i++) {
    for (; next <= MIN (n - 1, i + w); next++) {
      while (tail > head && x[dq[tail - 1]] >= x[next])
        tail--;
      dq[tail++] = next;
    }
    while (dq[head] < i - w)
      head++;
    lower[i] = x[dq[head]];
  }
}

/* ---- DTW of one query against many candidates, in lockstep lanes ----
 *
 * A single DTW is latency-bound: each cell waits for its left neighbour.
 * The nearest-neighbour search instead runs LANES candidates at once, one
 * per SIMD lane, each in its own row (a lane whose candidate finishes or
 * is abandoned takes the next one at once). In diagonal coordinates the
 * cell k of row i of lane l needs b_l[i - band + k]; with lane l started
 * at step g_l, its row at step g is g - g_l, so the value sits at position
 * P = g + k of a ring where lane l stores b_l[P - band - g_l]: one
 * contiguous vector per cell for all lanes. Outside the series the ring
 * holds INFINITY, which makes those cells infinite. The arithmetic is the
 * scalar one (no FMA), so the results are bitwise those of dtw_sq. */

#define LANES 16

/* cur[k] = (q - z[k])^2 + min (prev[k], prev[k+1], cur[k-1]) for k in
 * [0, W), every lane; prev[-1] and prev[W] are INFINITY. Writes the row
 * minima. Arrays of LANES doubles per cell. */
typedef void (*RowKernel) (const double *z, const double *q, const double *prev,
    double *cur, int W, double *row_min);

#define LB_BLOCK 8

/* sums[b] = LB_Keogh terms of block b (LB_BLOCK samples), b < n_blocks. */
typedef void (*LbKernel) (const float *q, const float *upper,
    const float *lower, int n_blocks, double *sums);

/* The LB_Keogh terms of n samples; at most one of hi, lo is positive. */
static double
lb_terms (const float *q, const float *upper, const float *lower, int n)
{
  double sum = 0.0;
  for (int i = 0; i < n; i++) {
    double hi = (double) q[i] - upper[i], lo = (double) lower[i] - q[i];
    hi = hi > 0.0 ? hi : 0.0;
    lo = lo > 0.0 ? lo : 0.0;
    sum += hi * hi + lo * lo;
  }
  return sum;
}

static void
lb_generic (const float *q, const float *upper, const float *lower,
    int n_blocks, double *sums)
{
  for (int b = 0; b < n_blocks; b++)
    sums[b] = lb_terms (
        q + b * LB_BLOCK, upper + b * LB_BLOCK, lower + b * LB_BLOCK, LB_BLOCK);
}

static void
row_generic (const double *z, const double *q, const double *prev, double *cur,
    int W, double *row_min)
{
  double left[LANES], rmin[LANES];
  for (int l = 0; l < LANES; l++)
    left[l] = rmin[l] = INFINITY;
  for (int k = 0; k < W; k++)
    for (int l = 0; l < LANES; l++) {
      double d = q[l] - z[k * LANES + l];
      double a = prev[k * LANES + l], b = prev[(k + 1) * LANES + l];
      double best = a < b ? a : b;
      best = left[l] < best ? left[l] : best;
      double v = d * d + best;
      cur[k * LANES + l] = v;
      left[l] = v;
      rmin[l] = v < rmin[l] ? v : rmin[l];
    }
  memcpy (row_min, rmin, sizeof rmin);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_X86_KERNELS 1

/* _mm_min_pd (a, b) is a < b ? a : b, as in row_generic. */
__attribute__ ((target ("sse2"))) static void
row_sse2 (const double *z, const double *q, const double *prev, double *cur,
    int W, double *row_min)
{
  enum
  {
    N = LANES / 2
  };
  __m128d left[N], rmin[N], qv[N];
  for (int v = 0; v < N; v++) {
    left[v] = rmin[v] = _mm_set1_pd (INFINITY);
    qv[v] = _mm_loadu_pd (q + 2 * v);
  }
  for (int k = 0; k < W; k++) {
    const double *zk = z + k * LANES, *pk = prev + k * LANES;
    double *ck = cur + k * LANES;
#pragma GCC unroll 8
    for (int v = 0; v < N; v++) {
      __m128d d = _mm_sub_pd (qv[v], _mm_loadu_pd (zk + 2 * v));
      __m128d best = _mm_min_pd (
          _mm_loadu_pd (pk + 2 * v), _mm_loadu_pd (pk + LANES + 2 * v));
      best = _mm_min_pd (left[v], best);
      __m128d x = _mm_add_pd (_mm_mul_pd (d, d), best);
      _mm_storeu_pd (ck + 2 * v, x);
      left[v] = x;
      rmin[v] = _mm_min_pd (x, rmin[v]);
    }
  }
  for (int v = 0; v < N; v++)
    _mm_storeu_pd (row_min + 2 * v, rmin[v]);
}

__attribute__ ((target ("sse2"))) static void
lb_sse2 (const float *q, const float *upper, const float *lower, int n_blocks,
    double *sums)
{
  const __m128d zero = _mm_setzero_pd ();
  for (int b = 0; b < n_blocks; b++) {
    __m128d acc = zero;
    for (int h = 0; h < LB_BLOCK; h += 4) {
      const int o = b * LB_BLOCK + h;
      __m128 qf = _mm_loadu_ps (q + o), uf = _mm_loadu_ps (upper + o),
             lf = _mm_loadu_ps (lower + o);
      __m128d qd[2]
          = { _mm_cvtps_pd (qf), _mm_cvtps_pd (_mm_movehl_ps (qf, qf)) };
      __m128d ud[2]
          = { _mm_cvtps_pd (uf), _mm_cvtps_pd (_mm_movehl_ps (uf, uf)) };
      __m128d ld[2]
          = { _mm_cvtps_pd (lf), _mm_cvtps_pd (_mm_movehl_ps (lf, lf)) };
      for (int v = 0; v < 2; v++) {
        __m128d hi = _mm_max_pd (_mm_sub_pd (qd[v], ud[v]), zero);
        __m128d lo = _mm_max_pd (_mm_sub_pd (ld[v], qd[v]), zero);
        acc = _mm_add_pd (
            acc, _mm_add_pd (_mm_mul_pd (hi, hi), _mm_mul_pd (lo, lo)));
      }
    }
    sums[b] = _mm_cvtsd_f64 (_mm_add_sd (acc, _mm_unpackhi_pd (acc, acc)));
  }
}

__attribute__ ((target ("avx2"))) static void
lb_avx2 (const float *q, const float *upper, const float *lower, int n_blocks,
    double *sums)
{
  const __m256d zero = _mm256_setzero_pd ();
  for (int b = 0; b < n_blocks; b++) {
    const int o = b * LB_BLOCK;
    __m256d acc = zero;
    for (int h = 0; h < LB_BLOCK; h += 4) {
      __m256d qd = _mm256_cvtps_pd (_mm_loadu_ps (q + o + h));
      __m256d hi = _mm256_max_pd (
          _mm256_sub_pd (qd, _mm256_cvtps_pd (_mm_loadu_ps (upper + o + h))),
          zero);
      __m256d lo = _mm256_max_pd (
          _mm256_sub_pd (_mm256_cvtps_pd (_mm_loadu_ps (lower + o + h)), qd),
          zero);
      acc = _mm256_add_pd (
          acc, _mm256_add_pd (_mm256_mul_pd (hi, hi), _mm256_mul_pd (lo, lo)));
    }
    __m128d x = _mm_add_pd (
        _mm256_castpd256_pd128 (acc), _mm256_extractf128_pd (acc, 1));
    sums[b] = _mm_cvtsd_f64 (_mm_add_sd (x, _mm_unpackhi_pd (x, x)));
  }
}

/* AVX2 without FMA: the same roundings as the scalar code. */
__attribute__ ((target ("avx2"))) static void
row_avx2 (const double *z, const double *q, const double *prev, double *cur,
    int W, double *row_min)
{
  enum
  {
    N = LANES / 4
  };
  __m256d left[N], rmin[N], qv[N];
  for (int v = 0; v < N; v++) {
    left[v] = rmin[v] = _mm256_set1_pd (INFINITY);
    qv[v] = _mm256_loadu_pd (q + 4 * v);
  }
  for (int k = 0; k < W; k++) {
    const double *zk = z + k * LANES, *pk = prev + k * LANES;
    double *ck = cur + k * LANES;
#pragma GCC unroll 4
    for (int v = 0; v < N; v++) {
      __m256d d = _mm256_sub_pd (qv[v], _mm256_loadu_pd (zk + 4 * v));
      __m256d best = _mm256_min_pd (
          _mm256_loadu_pd (pk + 4 * v), _mm256_loadu_pd (pk + LANES + 4 * v));
      best = _mm256_min_pd (left[v], best);
      __m256d x = _mm256_add_pd (_mm256_mul_pd (d, d), best);
      _mm256_storeu_pd (ck + 4 * v, x);
      left[v] = x;
      rmin[v] = _mm256_min_pd (x, rmin[v]);
    }
  }
  for (int v = 0; v < N; v++)
    _mm256_storeu_pd (row_min + 4 * v, rmin[v]);
}
#endif

typedef struct
{
  RowKernel row;
  LbKernel lb;
} SimdKernels;

/* The widest kernels the CPU runs; SEQDREAM_SIMD=sse2 or none forces
 * narrower ones (tests, benchmarks). */
static const SimdKernels *
simd_kernels (void)
{
  static const SimdKernels generic = { row_generic, lb_generic };
  static gsize chosen = 0;
  if (g_once_init_enter (&chosen)) {
    const SimdKernels *k = &generic;
#ifdef HAVE_X86_KERNELS
    static const SimdKernels sse2 = { row_sse2, lb_sse2 };
    static const SimdKernels avx2 = { row_avx2, lb_avx2 };
    const char *force = g_getenv ("SEQDREAM_SIMD");
    __builtin_cpu_init ();
    if (force != NULL && g_str_equal (force, "none"))
      k = &generic;
    else if (__builtin_cpu_supports ("avx2")
             && !(force != NULL && g_str_equal (force, "sse2")))
      k = &avx2;
    else if (__builtin_cpu_supports ("sse2"))
      k = &sse2;
#endif
    g_once_init_leave (&chosen, (gsize) k);
  }
  return (const SimdKernels *) chosen;
}

/* LB_Keogh of q against the envelope (upper, lower) of another series:
 * every warping path visits each q[i] at a cell whose other value lies in
 * [lower[i], upper[i]], so the summed squared distances to the envelope
 * never exceed the squared DTW. Summed in blocks of LB_BLOCK samples (and
 * abandoned, INFINITY, once the sum exceeds limit after a chunk of
 * blocks); else returns the sum, with cb[b] = the terms of blocks b,
 * b + 1, ... (n_blocks + 1 entries): a lower bound of the cost of every
 * row from b * LB_BLOCK on. */
static double
lb_keogh (const float *q, const float *upper, const float *lower, int n,
    double limit, double *cb)
{
  const int n_full = n / LB_BLOCK, n_blocks = (n + LB_BLOCK - 1) / LB_BLOCK;
  const LbKernel kernel = simd_kernels ()->lb;
  double acc = 0.0;
  for (int blk = 0; blk < n_full; blk += 8) {
    const int nb = MIN (8, n_full - blk);
    const int o = blk * LB_BLOCK;
    kernel (q + o, upper + o, lower + o, nb, cb + blk);
    for (int b = blk; b < blk + nb; b++)
      acc += cb[b];
    if (acc > limit)
      return INFINITY;
  }
  if (n_full < n_blocks) {
    const int o = n_full * LB_BLOCK;
    cb[n_full] = lb_terms (q + o, upper + o, lower + o, n - o);
    acc += cb[n_full];
    if (acc > limit)
      return INFINITY;
  }
  cb[n_blocks] = 0.0;
  for (int blk = n_blocks - 1; blk >= 0; blk--)
    cb[blk] += cb[blk + 1];
  return acc;
}

/* The bound of rows (or columns) from `from` on: the blocks that start
 * there or later. */
static inline double
lb_from (const double *cb, int from)
{
  return cb[(from + LB_BLOCK - 1) / LB_BLOCK];
}

typedef struct
{
  int length, band, W, n_blocks;
  float *upper, *lower; /* the query's envelope */
  int *dq;
  double *dtw_buf;
  double *ring;      /* 2 W positions of LANES values */
  double *rows;      /* two rows of W + 2 cells of LANES values */
  double *cb;        /* 2 x (n_blocks + 1) per candidate */
  guint cb_capacity; /* candidates */
  struct Candidate *order;
  /* Leave-one-out searches of the reference's own series: known[r] is the
   * smallest squared DTW found so far between row r and another series
   * of its class (an upper bound of r's answer, DTW being symmetric), or
   * NULL. */
  double *known;
  RowKernel kernel;
} NnScratch;

typedef struct Candidate
{
  double lb;
  int row;
  guint index; /* into the cb arrays */
} Candidate;

static void
nn_scratch_init (NnScratch *s, int length, int band)
{
  s->length = length;
  s->band = band;
  s->W = 2 * band + 1;
  s->n_blocks = (length + LB_BLOCK - 1) / LB_BLOCK;
  s->upper = g_new (float, length);
  s->lower = g_new (float, length);
  s->dq = g_new (int, length);
  s->dtw_buf = g_new (double, 2 * (gsize) s->W + 4);
  s->ring = g_new (double, 2 * (gsize) s->W * LANES);
  s->rows = g_new (double, 2 * (gsize) (s->W + 2) * LANES);
  s->cb = NULL;
  s->order = NULL;
  s->cb_capacity = 0;
  s->known = NULL;
  s->kernel = simd_kernels ()->row;
}

static void
nn_scratch_clear (NnScratch *s)
{
  g_free (s->upper);
  g_free (s->lower);
  g_free (s->dq);
  g_free (s->dtw_buf);
  g_free (s->ring);
  g_free (s->rows);
  g_free (s->cb);
  g_free (s->order);
}

static int
cmp_candidate (const void *pa, const void *pb)
{
  const Candidate *a = pa, *b = pb;
  if (a->lb != b->lb)
    return a->lb < b->lb ? -1 : 1;
  return (a->row > b->row) - (a->row < b->row);
}

typedef struct
{
  int row;       /* row to compute next; -1: idle */
  gint64 start;  /* step of its row 0 */
  int candidate; /* row of the reference */
  const float *b;
  double *cb_row, *cb_col;
} Lane;

/* Squared DTW distance from q to its nearest candidate among the rows of
 * the reference (skipping `exclude`), all of length L: exact. The
 * candidate `first` goes first and alone, its DTW being the best so far
 * that the others must beat (being the Euclidean nearest, it is likely
 * close). A candidate is skipped when LB_Keogh either way exceeds the best
 * so far, and abandoned when its row minimum plus the LB_Keogh bound of
 * the rows (or columns) still to come does. */
static double
nn_dtw (const SdReference *ref, const float *q, const guint *rows, guint n_rows,
    int exclude, int first, NnScratch *s)
{
  const int L = s->length, band = s->band, W = s->W;
  double *prev = s->rows + LANES, *cur = s->rows + (W + 3) * LANES;
  double qv[LANES], row_min[LANES];
  Lane lane[LANES];
  guint next = 0;
  int active = 0;

  double best2 = dtw_sq (
      q, L, ref->x + (gsize) first * L, L, band, INFINITY, s->dtw_buf);
  if (s->known != NULL && exclude >= 0) {
    s->known[first] = MIN (s->known[first], best2);
    best2 = MIN (best2, s->known[exclude]);
  }
  const gsize stride = 2 * (gsize) (s->n_blocks + 1);

  /* LB_Keogh both ways for every candidate; the survivors in increasing
   * order of their bound, so that a close candidate tightens the best so
   * far early and the rest can stop at the first bound above it. */
  envelope (q, L, band, s->upper, s->lower, s->dq);
  if (s->cb_capacity < n_rows) {
    s->cb_capacity = n_rows;
    const gsize cb_size = stride * n_rows;
    s->cb = g_renew (double, s->cb, cb_size);
    s->order = g_renew (Candidate, s->order, n_rows);
  }
  guint n_cand = 0;
  for (guint c = 0; c < n_rows; c++) {
    int r = (int) rows[c];
    if (r == exclude || r == first)
      continue;
    const double limit = best2 * PRUNE_MARGIN;
    double *cb = s->cb + stride * n_cand;
    double lb1 = lb_keogh (q, ref->upper + (gsize) r * L,
        ref->lower + (gsize) r * L, L, limit, cb);
    if (lb1 > limit)
      continue;
    double lb2 = lb_keogh (
        ref->x + (gsize) r * L, s->upper, s->lower, L, limit, cb + stride / 2);
    if (lb2 > limit)
      continue;
    s->order[n_cand] = (Candidate){ MAX (lb1, lb2), r, n_cand };
    n_cand++;
  }
  qsort (s->order, n_cand, sizeof (Candidate), cmp_candidate);

  for (int k = -1; k <= W; k++)
    for (int l = 0; l < LANES; l++)
      prev[k * LANES + l] = cur[k * LANES + l] = INFINITY;
  for (int l = 0; l < LANES; l++)
    lane[l].row = -1;

  for (gint64 step = 0;; step++) {
    /* The ring slot of position step (the window is step .. step + W-1). */
    const int slot0 = (int) (step % W);

    /* Give every idle lane the next candidate, while its bound is below
     * the best so far. */
    for (int l = 0; l < LANES && next < n_cand; l++) {
      Lane *ln = &lane[l];
      if (ln->row >= 0)
        continue;
      const Candidate *c = &s->order[next++];
      if (c->lb > best2 * PRUNE_MARGIN) {
        next = n_cand;
        break;
      }
      const float *b = ref->x + (gsize) c->row * L;
      ln->cb_row = s->cb + stride * c->index;
      ln->cb_col = ln->cb_row + stride / 2;
      ln->row = 0;
      ln->start = step;
      ln->candidate = c->row;
      ln->b = b;
      active++;
      /* Row -1 is infinite but for the corner before (0, 0); cell k of
       * row 0 is column k - band. */
      for (int k = 0; k < W; k++) {
        int j = k - band, slot = slot0 + k - (slot0 + k >= W ? W : 0);
        double v = j >= 0 && j < L ? b[j] : INFINITY;
        prev[k * LANES + l] = INFINITY;
        s->ring[slot * LANES + l] = v;
        s->ring[(slot + W) * LANES + l] = v;
      }
      prev[band * LANES + l] = 0.0;
    }
    if (active == 0)
      break;

    for (int l = 0; l < LANES; l++)
      qv[l] = lane[l].row >= 0 ? q[lane[l].row] : 0.0;
    s->kernel (s->ring + (gsize) slot0 * LANES, qv, prev, cur, W, row_min);

    const double limit = best2 * PRUNE_MARGIN;
    for (int l = 0; l < LANES; l++) {
      Lane *ln = &lane[l];
      const int i = ln->row;
      if (i < 0)
        continue;
      if (i == L - 1) {
        double d2 = cur[band * LANES + l]; /* cell (L-1, L-1) */
        if (d2 < best2)
          best2 = d2;
        if (s->known != NULL)
          s->known[ln->candidate] = MIN (s->known[ln->candidate], d2);
        ln->row = -1;
        active--;
        continue;
      }
      double bound = lb_from (ln->cb_row, i + 1);
      if (i + band + 1 < L)
        bound = MAX (bound, lb_from (ln->cb_col, i + band + 1));
      if (row_min[l] + bound > limit) {
        ln->row = -1;
        active--;
        continue;
      }
      ln->row++;
      /* Position step + W enters the next window, in slot0's slots. */
      int j = (int) (step + W - band - ln->start);
      double v = j < L ? ln->b[j] : INFINITY;
      s->ring[slot0 * LANES + l] = v;
      s->ring[(slot0 + W) * LANES + l] = v;
    }
    double *t = prev;
    prev = cur;
    cur = t;
  }
  return best2;
}

/* Nearest neighbours of q (reference length) among the rows of one class,
 * skipping row `exclude` (leave-one-out; -1 for none), both exact.
 * Euclidean: early abandoning once the running sum exceeds the best; the
 * first row wins ties. DTW: nn_dtw, starting from the Euclidean nearest
 * row. */
static void
nn_search (const SdReference *ref, const float *q, const guint *rows,
    guint n_rows, int exclude, NnScratch *s, double *out_euclidean,
    int *out_index, double *out_dtw)
{
  const int L = ref->length;
  double best2 = INFINITY;
  int best = -1;

  for (guint c = 0; c < n_rows; c++) {
    int r = (int) rows[c];
    if (r == exclude)
      continue;
    const float *x = ref->x + (gsize) r * L;
    double acc = 0.0;
    int t = 0;
    for (; t < L; t++) {
      double d = (double) q[t] - x[t];
      acc += d * d;
      if (acc > best2)
        break;
    }
    if (t == L && acc < best2) {
      best2 = acc;
      best = r;
    }
  }
  *out_index = best;
  *out_euclidean = best < 0 ? NAN : sqrt (best2);
  *out_dtw
      = best < 0 ? NAN : sqrt (nn_dtw (ref, q, rows, n_rows, exclude, best, s));
}

/* ---- spectra ---- */

static void
hann (float *w, int len)
{
  /* Periodic: overlapping by half, the windows sum to a constant. */
  for (int t = 0; t < len; t++)
    w[t] = (float) (0.5 - 0.5 * cos (2.0 * G_PI * t / len));
}

/* Adds the one-sided power spectrum of seg (len <= reference length
 * samples: mean removed, Hann-windowed, zero-padded) to acc (n_bins). */
static void
add_power (const SdReference *ref, const float *seg, int len,
    const float *window, float *in, fftwf_complex *out, double *acc)
{
  const int L = ref->length;
  double mean = 0.0;
  for (int t = 0; t < len; t++)
    mean += seg[t];
  mean /= len;
  for (int t = 0; t < len; t++)
    in[t] = (float) ((seg[t] - mean) * window[t]);
  for (int t = len; t < L; t++)
    in[t] = 0.0f;
  fftwf_execute_dft_r2c (ref->plan, in, out);
  for (int k = 0; k < ref->n_bins; k++) {
    double re = out[k][0], im = out[k][1];
    /* One-sided: every bin but DC and Nyquist stands for two. */
    double w = (k == 0 || 2 * k == L) ? 1.0 : 2.0;
    acc[k] += w * (re * re + im * im);
  }
}

/* Normalises p to sum 1; FALSE (p untouched) when it carries no power. */
static gboolean
normalise_spectrum (double *p, int n_bins)
{
  double total = 0.0;
  for (int k = 0; k < n_bins; k++)
    total += p[k];
  if (!(total > 0.0) || !isfinite (total))
    return FALSE;
  for (int k = 0; k < n_bins; k++)
    p[k] /= total;
  return TRUE;
}

/* Normalised power spectrum of x (T samples) on the reference's frequency
 * grid: one segment when T equals the reference length, Welch's average
 * over evenly spaced reference-length segments overlapping by at least
 * half when longer, one zero-padded segment when shorter. FALSE for a
 * constant x. in / out: fftwf_malloc'ed (same alignment as the plan's). */
static gboolean
spectrum (const SdReference *ref, const float *x, int T, float *in,
    fftwf_complex *out, double *p)
{
  const int L = ref->length;
  memset (p, 0, sizeof (double) * ref->n_bins);
  if (T < L) {
    g_autofree float *w = g_new (float, T);
    hann (w, T);
    add_power (ref, x, T, w, in, out, p);
  } else {
    const int hop = MAX (1, L / 2);
    const int n_seg = 1 + (T - L + hop - 1) / hop;
    for (int s = 0; s < n_seg; s++) {
      gint64 start = n_seg == 1 ? 0 : (gint64) s * (T - L) / (n_seg - 1);
      add_power (ref, x + start, L, ref->window, in, out, p);
    }
  }
  return normalise_spectrum (p, ref->n_bins);
}

static double
hf_share (const SdReference *ref, const double *p)
{
  double s = 0.0;
  for (int k = 0; k < ref->n_bins; k++)
    if (2.0 * k > ref->hf_cutoff * ref->length)
      s += p[k];
  return s;
}

static double
total_variation (const float *x, int T)
{
  double s = 0.0;
  for (int t = 0; t + 1 < T; t++)
    s += fabs ((double) x[t + 1] - x[t]);
  return s / (T - 1);
}

static int
cmp_double (const void *pa, const void *pb)
{
  double a = *(const double *) pa, b = *(const double *) pb;
  return (a > b) - (a < b);
}

/* Median of the finite values of v (reordered); NaN when there are none. */
static double
median (double *v, guint n)
{
  guint k = 0;
  for (guint i = 0; i < n; i++)
    if (isfinite (v[i]))
      v[k++] = v[i];
  if (k == 0)
    return NAN;
  qsort (v, k, sizeof (double), cmp_double);
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

static double
ratio (double value, double typical)
{
  return typical > 0.0 && isfinite (typical) ? value / typical : NAN;
}

/* ---- the reference ---- */

void
sd_reference_free (SdReference *ref)
{
  if (ref == NULL)
    return;
  if (ref->plan != NULL) {
    g_mutex_lock (&sd_fftw_planner_lock);
    fftwf_destroy_plan (ref->plan);
    g_mutex_unlock (&sd_fftw_planner_lock);
  }
  g_free (ref->x);
  g_free (ref->y);
  g_strfreev (ref->labels);
  g_free (ref->upper);
  g_free (ref->lower);
  if (ref->class_rows != NULL)
    for (int c = 0; c < ref->n_classes; c++)
      g_free (ref->class_rows[c]);
  g_free (ref->class_rows);
  g_free (ref->class_size);
  g_free (ref->class_mean);
  g_free (ref->class_sd);
  g_free (ref->median_nn_euclidean);
  g_free (ref->median_nn_dtw);
  g_free (ref->median_tv);
  g_free (ref->median_hf);
  g_free (ref->class_spectrum);
  g_free (ref->window);
  g_free (ref);
}

static gboolean
check_config (const SdReferenceConfig *c, GError **error)
{
  if (!(c->dtw_band_fraction >= 0.0 && c->dtw_band_fraction <= 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "DTW band fraction %g is not in [0, 1]", c->dtw_band_fraction);
    return FALSE;
  }
  if (c->max_per_class < 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "max_per_class %d: at least one series per class is needed",
        c->max_per_class);
    return FALSE;
  }
  if (!(c->hf_cutoff > 0.0 && c->hf_cutoff < 1.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "High-frequency cut-off %g is not in (0, 1) (a fraction of Nyquist)",
        c->hf_cutoff);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_data (const SdModel *model, const SdDataset *data, GError **error)
{
  const int K = sd_model_get_n_classes (model);
  const char *const *labels = sd_model_get_labels (model);

  if (data->n < 1 || data->length < 2 || data->x == NULL || data->y == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Reference data need at least one series of at least 2 samples "
        "(got %u of %u)",
        data->n, data->length);
    return FALSE;
  }
  if (data->length > (guint) (G_MAXINT / 4)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Reference series of %u samples are too long", data->length);
    return FALSE;
  }
  if (data->n_classes > (guint) K) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The reference data have %u classes, the model %d: load them with "
        "the model's labels",
        data->n_classes, K);
    return FALSE;
  }
  if (data->labels != NULL && labels != NULL)
    for (guint c = 0; c < data->n_classes; c++)
      if (g_strcmp0 (data->labels[c], labels[c]) != 0) {
        g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
            "Class %u of the reference data is “%s”, of the model “%s”: "
            "load the data with the model's labels",
            c, data->labels[c], labels[c]);
        return FALSE;
      }
  for (guint i = 0; i < data->n; i++)
    if (data->y[i] < 0 || data->y[i] >= (int) data->n_classes) {
      g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
          "Reference series %u has class index %d, not in [0, %u)", i,
          data->y[i], data->n_classes);
      return FALSE;
    }
  return TRUE;
}

SdReference *
sd_reference_new (const SdModel *model, const SdDataset *data,
    const SdReferenceConfig *config, GError **error)
{
  SdReferenceConfig defaults;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (model == NULL || data == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A reference needs a model and data");
    return NULL;
  }
  if (config == NULL) {
    sd_reference_config_init (&defaults);
    config = &defaults;
  }
  if (!check_config (config, error) || !check_data (model, data, error))
    return NULL;

  const int L = (int) data->length, K = sd_model_get_n_classes (model);
  const guint n = data->n;
  g_autoptr (SdReference) ref = g_new0 (SdReference, 1);
  ref->length = L;
  ref->n_classes = K;
  ref->n = n;
  ref->band = MIN ((int) lround (config->dtw_band_fraction * L), L - 1);
  ref->hf_cutoff = config->hf_cutoff;
  ref->norm = sd_model_get_normalization (model);
  ref->labels = g_strdupv ((char **) sd_model_get_labels (model));

  ref->x = g_memdup2 (data->x, sizeof (float) * n * (gsize) L);
  ref->y = g_memdup2 (data->y, sizeof (int) * n);
  sd_model_normalize_input (model, ref->x, (int) n, L);
  for (gsize i = 0; i < (gsize) n * (gsize) L; i++)
    if (!isfinite (ref->x[i])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "Reference series %zu is not finite after normalisation at "
          "sample %zu",
          i / L, i % L);
      return NULL;
    }

  /* Rows of every class. */
  ref->class_size = g_new0 (guint, K);
  ref->class_rows = g_new0 (guint *, K);
  for (guint i = 0; i < n; i++)
    ref->class_size[ref->y[i]]++;
  for (int c = 0; c < K; c++)
    ref->class_rows[c] = g_new (guint, MAX (ref->class_size[c], 1));
  {
    g_autofree guint *fill = g_new0 (guint, K);
    for (guint i = 0; i < n; i++)
      ref->class_rows[ref->y[i]][fill[ref->y[i]]++] = i;
  }

  /* Mean and standard deviation over time. */
  const gsize class_cells = (gsize) K * L, cells = (gsize) n * L;
  ref->class_mean = g_new (float, class_cells);
  ref->class_sd = g_new (float, class_cells);
  {
    g_autofree double *s = g_new (double, L);
    g_autofree double *ss = g_new (double, L);
    for (int c = 0; c < K; c++) {
      const guint nc = ref->class_size[c];
      memset (s, 0, sizeof (double) * L);
      memset (ss, 0, sizeof (double) * L);
      for (guint i = 0; i < nc; i++) {
        const float *x = ref->x + (gsize) ref->class_rows[c][i] * L;
        for (int t = 0; t < L; t++)
          s[t] += x[t];
      }
      for (int t = 0; t < L; t++)
        s[t] /= nc;
      for (guint i = 0; i < nc; i++) {
        const float *x = ref->x + (gsize) ref->class_rows[c][i] * L;
        for (int t = 0; t < L; t++)
          ss[t] += (x[t] - s[t]) * (x[t] - s[t]);
      }
      for (int t = 0; t < L; t++) {
        ref->class_mean[(gsize) c * L + t] = nc ? (float) s[t] : NAN;
        ref->class_sd[(gsize) c * L + t] = nc ? (float) sqrt (ss[t] / nc) : NAN;
      }
    }
  }

  /* Spectra: one FFTW plan, made once. */
  ref->n_bins = L / 2 + 1;
  ref->window = g_new (float, L);
  hann (ref->window, L);
  float *in = fftwf_alloc_real (L);
  fftwf_complex *out = fftwf_alloc_complex (ref->n_bins);
  g_mutex_lock (&sd_fftw_planner_lock);
  ref->plan = fftwf_plan_dft_r2c_1d (L, in, out, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);
  if (ref->plan == NULL) {
    fftwf_free (in);
    fftwf_free (out);
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "FFTW could not plan a transform of %d samples", L);
    return NULL;
  }

  ref->median_nn_euclidean = g_new (double, K);
  ref->median_nn_dtw = g_new (double, K);
  ref->median_tv = g_new (double, K);
  ref->median_hf = g_new (double, K);
  ref->class_spectrum = g_new0 (double, (gsize) K * ref->n_bins);
  {
    g_autofree double *tv = g_new (double, n);
    g_autofree double *hf = g_new (double, n);
    g_autofree double *p = g_new (double, ref->n_bins);
    g_autofree guint *n_spectra = g_new0 (guint, K);
    for (guint i = 0; i < n; i++) {
      const float *x = ref->x + (gsize) i * L;
      double *acc = ref->class_spectrum + (gsize) ref->y[i] * ref->n_bins;
      tv[i] = total_variation (x, L);
      hf[i] = NAN;
      if (spectrum (ref, x, L, in, out, p)) {
        hf[i] = hf_share (ref, p);
        for (int k = 0; k < ref->n_bins; k++)
          acc[k] += p[k];
        n_spectra[ref->y[i]]++;
      }
    }
    g_autofree double *v = g_new (double, n);
    g_autofree double *w = g_new (double, n);
    for (int c = 0; c < K; c++) {
      const guint nc = ref->class_size[c];
      double *acc = ref->class_spectrum + (gsize) c * ref->n_bins;
      for (int k = 0; k < ref->n_bins; k++)
        acc[k] = n_spectra[c] ? acc[k] / n_spectra[c] : NAN;
      for (guint i = 0; i < nc; i++) {
        v[i] = tv[ref->class_rows[c][i]];
        w[i] = hf[ref->class_rows[c][i]];
      }
      ref->median_tv[c] = median (v, nc);
      ref->median_hf[c] = median (w, nc);
    }
  }
  fftwf_free (in);
  fftwf_free (out);

  /* Envelopes, then the typical (leave-one-out) nearest-neighbour
   * distances of a seeded subsample of every class. */
  ref->upper = g_new (float, cells);
  ref->lower = g_new (float, cells);
  NnScratch s;
  nn_scratch_init (&s, L, ref->band);
  s.known = g_new (double, n);
  for (guint i = 0; i < n; i++)
    s.known[i] = INFINITY;
  for (guint i = 0; i < n; i++)
    envelope (ref->x + (gsize) i * L, L, ref->band, ref->upper + (gsize) i * L,
        ref->lower + (gsize) i * L, s.dq);

  guint32 seed[2] = { (guint32) config->seed, (guint32) (config->seed >> 32) };
  GRand *rng = g_rand_new_with_seed_array (seed, 2);
  g_autofree guint *pick = g_new (guint, n);
  g_autofree double *de = g_new (double, n);
  g_autofree double *dd = g_new (double, n);
  for (int c = 0; c < K; c++) {
    const guint nc = ref->class_size[c];
    const guint nq = MIN (nc, (guint) config->max_per_class);
    memcpy (pick, ref->class_rows[c], sizeof (guint) * nc);
    /* Partial Fisher-Yates: the first nq of a seeded permutation. */
    if (nq < nc)
      for (guint i = 0; i < nq; i++) {
        guint j = (guint) g_rand_int_range (rng, (gint32) i, (gint32) nc);
        guint t = pick[i];
        pick[i] = pick[j];
        pick[j] = t;
      }
    for (guint i = 0; i < nq; i++) {
      int idx;
      nn_search (ref, ref->x + (gsize) pick[i] * L, ref->class_rows[c], nc,
          (int) pick[i], &s, &de[i], &idx, &dd[i]);
    }
    ref->median_nn_euclidean[c] = median (de, nq);
    ref->median_nn_dtw[c] = median (dd, nq);
  }
  g_rand_free (rng);
  g_free (s.known);
  nn_scratch_clear (&s);

  return g_steal_pointer (&ref);
}

int
sd_reference_get_length (const SdReference *ref)
{
  g_return_val_if_fail (ref != NULL, 0);
  return ref->length;
}

guint
sd_reference_get_class_size (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, 0);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, 0);
  return ref->class_size[class_index];
}

const float *
sd_reference_get_class_mean (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, NULL);
  return ref->class_mean + (gsize) class_index * ref->length;
}

const float *
sd_reference_get_class_sd (const SdReference *ref, int class_index)
{
  g_return_val_if_fail (ref != NULL, NULL);
  g_return_val_if_fail (class_index >= 0 && class_index < ref->n_classes, NULL);
  return ref->class_sd + (gsize) class_index * ref->length;
}

/* ---- metrics of a dream ---- */

static gboolean
same_normalization (SdNormalization a, SdNormalization b)
{
  if (a.mode != b.mode)
    return FALSE;
  if (a.mode != SD_NORM_FIXED)
    return TRUE;
  return fabsf (a.mean - b.mean) <= 1e-6f * MAX (1.0f, fabsf (a.mean))
         && fabsf (a.std - b.std) <= 1e-6f * MAX (1.0f, fabsf (a.std));
}

static gboolean
second_opinion (const SdReference *ref, int target_class, const float *x, int T,
    SdModel *second, SdDreamMetrics *out, GError **error)
{
  const int K = sd_model_get_n_classes (second);
  const char *const *labels = sd_model_get_labels (second);
  SdNormalization norm = sd_model_get_normalization (second);

  if (!same_normalization (norm, ref->norm)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model normalises its input (%s) unlike the reference's "
        "model (%s): the dream lives in one normalised input space, both "
        "models must share it",
        sd_norm_mode_to_string (norm.mode),
        sd_norm_mode_to_string (ref->norm.mode));
    return FALSE;
  }
  gboolean same = K == ref->n_classes && labels != NULL;
  for (int c = 0; same && c < K; c++)
    same = g_strcmp0 (labels[c], ref->labels[c]) == 0;
  if (!same) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model's classes are not the reference model's (%d and "
        "%d classes with the same labels are required)",
        K, ref->n_classes);
    return FALSE;
  }
  if (sd_model_get_arch (second)->in_channels != 1) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The second model takes %d input channels, a dream has 1",
        sd_model_get_arch (second)->in_channels);
    return FALSE;
  }

  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (second, 1, T, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  const float *z = sd_model_forward (second, ws, x, 1, T);
  int arg = 0;
  double zmax = z[0], sum = 0.0;
  for (int c = 1; c < K; c++)
    if (z[c] > zmax) {
      zmax = z[c];
      arg = c;
    }
  for (int c = 0; c < K; c++)
    sum += exp ((double) z[c] - zmax);
  out->second_class = arg;
  out->second_probability = exp ((double) z[target_class] - zmax) / sum;
  if (!isfinite (out->second_probability)) {
    g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
        "The second model's logits are not finite");
    return FALSE;
  }
  return TRUE;
}

gboolean
sd_dream_metrics (const SdReference *ref, int target_class, const float *x,
    int T, SdModel *second, SdDreamMetrics *out, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (ref == NULL || x == NULL || out == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Dream metrics need a reference, a series and a result");
    return FALSE;
  }
  *out = (SdDreamMetrics){
    .nn_euclidean = NAN,
    .nn_euclidean_ratio = NAN,
    .nn_dtw = NAN,
    .nn_dtw_ratio = NAN,
    .nn_index = -1,
    .tv = NAN,
    .tv_ratio = NAN,
    .hf_energy = NAN,
    .hf_ratio = NAN,
    .spectral_distance = NAN,
    .second_class = -1,
    .second_probability = NAN,
  };
  if (target_class < 0 || target_class >= ref->n_classes) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Target class %d is not in [0, %d)", target_class, ref->n_classes);
    return FALSE;
  }
  if (ref->class_size[target_class] == 0) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The reference data hold no series of class %d (“%s”)", target_class,
        ref->labels[target_class]);
    return FALSE;
  }
  if (T < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A dream of %d samples is too short (at least 2)", T);
    return FALSE;
  }
  for (int t = 0; t < T; t++)
    if (!isfinite (x[t])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "The dream is not finite at sample %d", t);
      return FALSE;
    }

  const int c = target_class;
  if (T == ref->length) {
    NnScratch s;
    nn_scratch_init (&s, T, ref->band);
    nn_search (ref, x, ref->class_rows[c], ref->class_size[c], -1, &s,
        &out->nn_euclidean, &out->nn_index, &out->nn_dtw);
    nn_scratch_clear (&s);
    out->nn_euclidean_ratio
        = ratio (out->nn_euclidean, ref->median_nn_euclidean[c]);
    out->nn_dtw_ratio = ratio (out->nn_dtw, ref->median_nn_dtw[c]);
  }

  out->tv = total_variation (x, T);
  out->tv_ratio = ratio (out->tv, ref->median_tv[c]);

  float *in = fftwf_alloc_real (ref->length);
  fftwf_complex *spec = fftwf_alloc_complex (ref->n_bins);
  g_autofree double *p = g_new (double, ref->n_bins);
  if (spectrum (ref, x, T, in, spec, p)) {
    const double *q = ref->class_spectrum + (gsize) c * ref->n_bins;
    out->hf_energy = hf_share (ref, p);
    out->hf_ratio = ratio (out->hf_energy, ref->median_hf[c]);
    double l1 = 0.0;
    for (int k = 0; k < ref->n_bins; k++)
      l1 += fabs (p[k] - q[k]);
    out->spectral_distance = 0.5 * l1; /* NaN without a class spectrum */
  }
  fftwf_free (in);
  fftwf_free (spec);

  if (second != NULL
      && !second_opinion (ref, target_class, x, T, second, out, error))
    return FALSE;
  return TRUE;
}

/* ---- envelope spectrum ---- */

void
sd_envelope_spectrum_free (SdEnvelopeSpectrum *s)
{
  if (s == NULL)
    return;
  g_free (s->amplitude);
  g_free (s->power);
  g_free (s->envelope);
  g_free (s);
}

static gboolean
check_envelope_args (const float *x, guint n, double rate, double band_lo,
    double band_hi, GError **error)
{
  if (x == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "An envelope spectrum needs a signal");
    return FALSE;
  }
  if (n < SD_ENVELOPE_MIN_SAMPLES) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A signal of %u samples is too short for an envelope spectrum (at "
        "least %d)",
        n, SD_ENVELOPE_MIN_SAMPLES);
    return FALSE;
  }
  if (n > (guint) (G_MAXINT / 2)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A signal of %u samples is too long for an envelope spectrum", n);
    return FALSE;
  }
  if (!(isfinite (rate) && rate > 0.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Sample rate %g Hz: it must be finite and positive", rate);
    return FALSE;
  }
  if (!(isfinite (band_lo) && isfinite (band_hi) && band_lo >= 0.0
          && band_lo < band_hi)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz: it must be finite with 0 <= low < high", band_lo,
        band_hi);
    return FALSE;
  }
  if (band_hi > 0.5 * rate) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz reaches beyond the Nyquist frequency (%g Hz at "
        "%g Hz)",
        band_lo, band_hi, 0.5 * rate, rate);
    return FALSE;
  }
  /* The bins k with lo <= k df <= hi. */
  const double df = rate / n;
  if (floor (band_hi / df) < ceil (band_lo / df)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Band %g..%g Hz holds no frequency bin: it must be wider than the "
        "resolution of %g Hz (rate / samples)",
        band_lo, band_hi, df);
    return FALSE;
  }
  for (guint t = 0; t < n; t++)
    if (!isfinite (x[t])) {
      g_set_error (error, SD_ERROR, SD_ERROR_NONFINITE,
          "The signal is not finite at sample %u", t);
      return FALSE;
    }
  return TRUE;
}

SdEnvelopeSpectrum *
sd_envelope_spectrum (const float *x, guint n, double rate, double band_lo,
    double band_hi, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!check_envelope_args (x, n, rate, band_lo, band_hi, error))
    return NULL;

  const int N = (int) n, n_bins = N / 2 + 1;
  const double df = rate / N;
  float *re = fftwf_alloc_real (N);
  fftwf_complex *spec = fftwf_alloc_complex (n_bins);
  fftwf_complex *z = fftwf_alloc_complex (N);
  g_mutex_lock (&sd_fftw_planner_lock);
  fftwf_plan fwd = fftwf_plan_dft_r2c_1d (N, re, spec, FFTW_ESTIMATE);
  fftwf_plan inv = fftwf_plan_dft_1d (N, z, z, FFTW_BACKWARD, FFTW_ESTIMATE);
  g_mutex_unlock (&sd_fftw_planner_lock);

  SdEnvelopeSpectrum *s = NULL;
  double *env = NULL, *power = NULL;
  if (fwd == NULL || inv == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "FFTW could not plan a transform of %d samples", N);
    goto out;
  }

  /* Mean removed (in double: a large offset must not cost precision). */
  double mean = 0.0;
  for (int t = 0; t < N; t++)
    mean += x[t];
  mean /= N;
  for (int t = 0; t < N; t++)
    re[t] = (float) (x[t] - mean);
  fftwf_execute (fwd);

  /* Analytic signal of the band: Z[k] = 2 X[k] for 0 < k < N/2 inside
   * the band, X[k] for k = 0 and k = N/2 (their own conjugates), 0
   * elsewhere and at every negative frequency. */
  const int k_lo = (int) ceil (band_lo / df - 1e-9);
  const int k_hi = MIN ((int) floor (band_hi / df + 1e-9), N / 2);
  double e_total = 0.0, e_band = 0.0;
  power = g_new (double, n_bins);
  memset (z, 0, sizeof (fftwf_complex) * N);
  for (int k = 0; k < n_bins; k++) {
    const double p
        = (double) spec[k][0] * spec[k][0] + (double) spec[k][1] * spec[k][1];
    const gboolean edge = k == 0 || 2 * k == N;
    const double w = edge ? 1.0 : 2.0;
    power[k] = w * p / ((double) N * N); /* Parseval */
    e_total += w * p;
    if (k >= k_lo && k <= k_hi) {
      e_band += w * p;
      z[k][0] = (float) (w * spec[k][0]);
      z[k][1] = (float) (w * spec[k][1]);
    }
  }
  fftwf_execute (inv);

  /* Envelope |z| / N (FFTW's inverse is unnormalised), its mean removed,
   * Hann-windowed. */
  double env_mean = 0.0, band_power = 0.0;
  env = g_new (double, N);
  for (int t = 0; t < N; t++) {
    const double a = z[t][0] / (double) N, b = z[t][1] / (double) N;
    env[t] = sqrt (a * a + b * b);
    env_mean += env[t];
    band_power += a * a; /* the band-passed signal is Re z */
  }
  env_mean /= N;
  double wsum = 0.0;
  for (int t = 0; t < N; t++) {
    const double w = 0.5 - 0.5 * cos (2.0 * G_PI * t / N);
    wsum += w;
    re[t] = (float) (w * (env[t] - env_mean));
  }
  fftwf_execute (fwd);

  s = g_new0 (SdEnvelopeSpectrum, 1);
  s->n = n;
  s->rate = rate;
  s->band_lo = band_lo;
  s->band_hi = band_hi;
  s->df = df;
  s->n_bins = (guint) n_bins;
  s->amplitude = g_new (double, n_bins);
  for (int k = 0; k < n_bins; k++) {
    /* One-sided: a cosine of amplitude m on bin k shows m wsum / 2. */
    const double scale = (k == 0 || 2 * k == N) ? 1.0 / wsum : 2.0 / wsum;
    s->amplitude[k] = scale * hypot (spec[k][0], spec[k][1]);
  }
  s->power = g_steal_pointer (&power);
  s->envelope = g_steal_pointer (&env);
  s->envelope_mean = env_mean;
  s->band_rms = sqrt (band_power / N);
  s->band_energy_share = e_total > 0.0 ? e_band / e_total : NAN;

out:
  g_mutex_lock (&sd_fftw_planner_lock);
  if (fwd)
    fftwf_destroy_plan (fwd);
  if (inv)
    fftwf_destroy_plan (inv);
  g_mutex_unlock (&sd_fftw_planner_lock);
  fftwf_free (re);
  fftwf_free (spec);
  fftwf_free (z);
  g_free (env);
  g_free (power);
  return s;
}

/* The bins k >= 1 with lo <= k df <= hi, inside the spectrum: FALSE when
 * there are none. */
static gboolean
envelope_bins (const SdEnvelopeSpectrum *s, double lo, double hi, guint *first,
    guint *last)
{
  if (!(isfinite (lo) && isfinite (hi) && lo <= hi) || hi < s->df)
    return FALSE;
  double a = MAX (1.0, ceil (lo / s->df - 1e-9));
  double b = MIN ((double) (s->n_bins - 1), floor (hi / s->df + 1e-9));
  if (b < a)
    return FALSE;
  *first = (guint) a;
  *last = (guint) b;
  return TRUE;
}

double
sd_envelope_spectrum_median (const SdEnvelopeSpectrum *s, double lo, double hi)
{
  guint a, b;
  g_return_val_if_fail (s != NULL, NAN);
  if (!envelope_bins (s, lo, hi, &a, &b))
    return NAN;
  g_autofree double *v
      = g_memdup2 (s->amplitude + a, sizeof (double) * (b - a + 1));
  return median (v, b - a + 1);
}

gboolean
sd_envelope_spectrum_peak (const SdEnvelopeSpectrum *s, double f_lo,
    double f_hi, SdEnvelopePeak *peak, GError **error)
{
  guint a, b;
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (s == NULL || peak == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "A peak search needs an envelope spectrum and a result");
    return FALSE;
  }
  if (!(f_lo < f_hi) || !envelope_bins (s, f_lo, f_hi, &a, &b) || b - a < 2) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "Range %g..%g Hz must be increasing and hold at least 3 bins of the "
        "envelope spectrum (%g Hz apart, up to %g Hz)",
        f_lo, f_hi, s->df, (s->n_bins - 1) * s->df);
    return FALSE;
  }
  const double *A = s->amplitude;
  guint k = a;
  for (guint i = a + 1; i <= b; i++)
    if (A[i] > A[k])
      k = i;
  if (!(A[k] > 0.0)) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "The envelope spectrum is 0 from %g to %g Hz (a constant envelope: "
        "is the band empty?)",
        f_lo, f_hi);
    return FALSE;
  }

  /* Parabola through the log amplitudes of k - 1, k, k + 1 (exact for a
   * Gaussian peak, which the Hann window's main lobe nearly is); plain
   * amplitudes when a neighbour is 0. Only at a local maximum. */
  double delta = 0.0, amp = A[k];
  if (k >= 1 && k + 1 < s->n_bins && A[k - 1] <= A[k] && A[k + 1] <= A[k]) {
    gboolean logs = A[k - 1] > 0.0 && A[k + 1] > 0.0;
    double l = logs ? log (A[k - 1]) : A[k - 1];
    double c = logs ? log (A[k]) : A[k];
    double r = logs ? log (A[k + 1]) : A[k + 1];
    double den = l - 2.0 * c + r;
    if (den < 0.0) {
      delta = CLAMP (0.5 * (l - r) / den, -0.5, 0.5);
      double v = c - 0.25 * (l - r) * delta;
      amp = logs ? exp (v) : v;
    }
  }
  peak->bin = k;
  peak->frequency = (k + delta) * s->df;
  peak->amplitude = amp;
  double med = sd_envelope_spectrum_median (s, f_lo, f_hi);
  peak->prominence = med > 0.0 ? amp / med : NAN;
  return TRUE;
}

double
sd_envelope_spectrum_prominence (const SdEnvelopeSpectrum *s, double f,
    double tolerance, double ref_lo, double ref_hi)
{
  g_return_val_if_fail (s != NULL, NAN);
  if (!(isfinite (f) && f >= 0.0 && f <= (s->n_bins - 1) * s->df
          && isfinite (tolerance) && tolerance >= 0.0))
    return NAN;
  double med = sd_envelope_spectrum_median (s, ref_lo, ref_hi);
  if (!(med > 0.0))
    return NAN;
  /* The nearest bin, and every bin within the tolerance. */
  guint k0 = (guint) lround (f / s->df);
  double best = s->amplitude[MIN (k0, s->n_bins - 1)];
  guint a = (guint) MAX (0.0, ceil ((f - tolerance) / s->df - 1e-9));
  guint b = (guint) MIN (
      (double) (s->n_bins - 1), floor ((f + tolerance) / s->df + 1e-9));
  for (guint k = a; k <= b; k++)
    best = MAX (best, s->amplitude[k]);
  return best / med;
}
