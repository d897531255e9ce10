/* seqdream: dynamic time warping. The banded distance of two series, and
 * the exact nearest-neighbour search of a query among many series of its
 * length (LB_Keogh pruning both ways, early abandoning, the candidates run
 * in lockstep SIMD lanes). Formulas and reasons: docs/metrics.md.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dtw-search.h"
#include "seqdream/dtw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A lower bound must exceed a threshold by more than rounding (sums of up
 * to a few thousand terms in another order) before a candidate is
 * dropped: pruning stays exact. */
#define PRUNE_MARGIN (1.0 + 1e-12)

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
sakoe_chiba_envelope (
    const float *x, int n, int w, float *upper, float *lower, int *dq)
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

struct _SdDtwSearch
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
  /* Leave-one-out searches of a set's own series: known[r] is the
   * smallest squared DTW found so far between row r and another series
   * searched with it (an upper bound of r's answer, DTW being symmetric),
   * or NULL. */
  double *known;
  RowKernel kernel;
};

typedef struct Candidate
{
  double lb;
  int row;
  guint index; /* into the cb arrays */
} Candidate;

SdDtwSearch *
sd_dtw_search_new (int length, int band)
{
  SdDtwSearch *s = g_new0 (SdDtwSearch, 1);

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
  s->kernel = simd_kernels ()->row;
  return s;
}

void
sd_dtw_search_remember (SdDtwSearch *s, guint n_rows)
{
  g_free (s->known);
  s->known = g_new (double, n_rows);
  for (guint i = 0; i < n_rows; i++)
    s->known[i] = INFINITY;
}

void
sd_dtw_search_free (SdDtwSearch *s)
{
  if (s == NULL)
    return;
  g_free (s->upper);
  g_free (s->lower);
  g_free (s->dq);
  g_free (s->dtw_buf);
  g_free (s->ring);
  g_free (s->rows);
  g_free (s->cb);
  g_free (s->order);
  g_free (s->known);
  g_free (s);
}

void
sd_dtw_search_envelope (
    SdDtwSearch *s, const float *x, float *upper, float *lower)
{
  sakoe_chiba_envelope (x, s->length, s->band, upper, lower, s->dq);
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
  int candidate; /* row of the set */
  const float *b;
  double *cb_row, *cb_col;
} Lane;

/* The candidate `first` goes first and alone, its DTW being the best so
 * far that the others must beat (being the Euclidean nearest, it is likely
 * close). A candidate is skipped when LB_Keogh either way exceeds the best
 * so far, and abandoned when its row minimum plus the LB_Keogh bound of
 * the rows (or columns) still to come does. */
double
sd_dtw_nearest_sq (SdDtwSearch *s, const SdDtwSet *set, const float *q,
    const guint *rows, guint n_rows, int exclude, int first)
{
  const int L = s->length, band = s->band, W = s->W;
  double *prev = s->rows + LANES, *cur = s->rows + (W + 3) * LANES;
  double qv[LANES], row_min[LANES];
  Lane lane[LANES];
  guint next = 0;
  int active = 0;

  double best2 = dtw_sq (
      q, L, set->x + (gsize) first * L, L, band, INFINITY, s->dtw_buf);
  if (s->known != NULL && exclude >= 0) {
    s->known[first] = MIN (s->known[first], best2);
    best2 = MIN (best2, s->known[exclude]);
  }
  const gsize stride = 2 * (gsize) (s->n_blocks + 1);

  /* LB_Keogh both ways for every candidate; the survivors in increasing
   * order of their bound, so that a close candidate tightens the best so
   * far early and the rest can stop at the first bound above it. */
  sakoe_chiba_envelope (q, L, band, s->upper, s->lower, s->dq);
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
    double lb1 = lb_keogh (q, set->upper + (gsize) r * L,
        set->lower + (gsize) r * L, L, limit, cb);
    if (lb1 > limit)
      continue;
    double lb2 = lb_keogh (
        set->x + (gsize) r * L, s->upper, s->lower, L, limit, cb + stride / 2);
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
      const float *b = set->x + (gsize) c->row * L;
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
