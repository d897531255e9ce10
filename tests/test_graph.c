/* The layers of op graphs (seqdream/graph.h) against finite differences:
 * for every op, loss = sum (out * R) with fixed random R, and each
 * gradient the backward gives (input, weights, bias, scale, shift) must
 * match the central difference (loss(v + h) - loss(v - h)) / 2h, in
 * double over the float forward, to 2e-3 relative to the largest
 * gradient. Inputs stay 0.05 away from the kinks of ReLU-like ops, and
 * their values are distinct, so that no difference crosses a kink or
 * changes a maximum. A whole imported model's parameter gradients are
 * checked the same way (its input gradients are checked against PyTorch
 * in test_onnx).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <math.h>
#include <string.h>

#define FD_H 1e-2
#define FD_TOL 2e-3

/* One op under test: forward into out from the current x and params. */
typedef struct FdCase FdCase;
struct FdCase
{
  const char *name;
  gsize n_out;
  void (*forward) (FdCase *c, float *out);
  /* the analytical gradients of sum (out * R) into c's gradient arrays */
  void (*backward) (FdCase *c, const float *R);
  float *v[4];  /* x and up to 3 parameter arrays */
  float *dv[4]; /* their gradients */
  gsize n[4];
  int n_v;
  /* geometry */
  int B, C, OC, T, group;
  SdWindow w;
  gboolean flag;
  SdActivation act;
  float alpha;
};

static GRand *rng;

/* Values in [-1.5, 1.5], at least 0.05 from 0, all distinct. */
static float *
rand_vec (gsize n)
{
  float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++) {
    float x;
    do
      x = (float) g_rand_double_range (rng, -1.5, 1.5);
    while (fabsf (x) < 0.05f);
    v[i] = x + (float) i * 1e-6f;
  }
  return v;
}

static double
loss (FdCase *c, const float *R, float *out)
{
  double s = 0;
  c->forward (c, out);
  for (gsize i = 0; i < c->n_out; i++)
    s += (double) out[i] * R[i];
  return s;
}

static void
fd_check (FdCase *c)
{
  g_autofree float *R = rand_vec (c->n_out);
  g_autofree float *out = g_new (float, c->n_out);
  for (int k = 0; k < c->n_v; k++)
    c->dv[k] = g_new0 (float, c->n[k]);
  c->backward (c, R);
  for (int k = 0; k < c->n_v; k++) {
    double max_g = 1e-6, max_err = 0;
    for (gsize i = 0; i < c->n[k]; i++)
      max_g = MAX (max_g, fabs (c->dv[k][i]));
    for (gsize i = 0; i < c->n[k]; i++) {
      const float keep = c->v[k][i];
      c->v[k][i] = keep + FD_H;
      const double lp = loss (c, R, out);
      c->v[k][i] = keep - FD_H;
      const double lm = loss (c, R, out);
      c->v[k][i] = keep;
      max_err = MAX (max_err, fabs ((lp - lm) / (2 * FD_H) - c->dv[k][i]));
    }
    g_test_message ("%s, array %d: max error %.2g of max gradient %.2g",
        c->name, k, max_err, max_g);
    if (!(max_err <= FD_TOL * max_g))
      g_error ("%s: gradient %d off by %.3g (max gradient %.3g)", c->name, k,
          max_err, max_g);
  }
  for (int k = 0; k < 4; k++) {
    g_free (c->v[k]);
    g_free (c->dv[k]);
  }
}

static void
setup (FdCase *c, int n_v, const gsize *n)
{
  c->n_v = n_v;
  for (int k = 0; k < n_v; k++) {
    c->n[k] = n[k];
    c->v[k] = rand_vec (n[k]);
  }
}

/* ---- conv ---- */

static void
conv_fwd (FdCase *c, float *out)
{
  const int To = sd_window_out_length (&c->w, c->T);
  g_autofree float *col
      = g_new (float, sd_conv1d_ex_scratch_size (c->C, c->group, c->w.K, To));
  sd_conv1d_ex_forward (out, c->v[0], c->v[1], c->v[2], c->B, c->C, c->OC,
      c->group, c->T, &c->w, col);
}

static void
conv_bwd (FdCase *c, const float *R)
{
  const int To = sd_window_out_length (&c->w, c->T);
  g_autofree float *col
      = g_new (float, sd_conv1d_ex_scratch_size (c->C, c->group, c->w.K, To));
  sd_conv1d_ex_backward (c->dv[0], c->dv[1], c->dv[2], R, c->v[0], c->v[1],
      c->B, c->C, c->OC, c->group, c->T, &c->w, col);
}

static void
test_conv (void)
{
  /* grouped, strided, dilated, asymmetric padding, bias */
  FdCase c = { .name = "conv g2 s2 d2 pad 1/2",
    .B = 2,
    .C = 4,
    .OC = 6,
    .T = 11,
    .group = 2,
    .w = { 3, 2, 2, 1, 2 } };
  const int To = sd_window_out_length (&c.w, c.T);
  g_assert_cmpint (To, ==, 5); /* floor ((11 + 3 - 5) / 2) + 1 */
  const gsize n[] = { (gsize) c.B * c.C * c.T, (gsize) c.OC * 2 * 3, c.OC };
  c.n_out = (gsize) c.B * c.OC * To;
  c.forward = conv_fwd;
  c.backward = conv_bwd;
  setup (&c, 3, n);
  fd_check (&c);

  /* depthwise, no padding, K = 1 */
  FdCase d = { .name = "conv depthwise k1",
    .B = 1,
    .C = 3,
    .OC = 3,
    .T = 5,
    .group = 3,
    .w = { 1, 1, 1, 0, 0 } };
  const gsize n2[] = { 15, 3, 3 };
  d.n_out = 15;
  d.forward = conv_fwd;
  d.backward = conv_bwd;
  setup (&d, 3, n2);
  fd_check (&d);
}

/* A conv of known values: x = 1..6, one kernel [1, 10], stride 2,
 * dilation 2, one zero before: out[t] = x[2t - 1] + 10 x[2t + 1]. */
static void
test_conv_values (void)
{
  const float x[] = { 1, 2, 3, 4, 5, 6 }, w[] = { 1, 10 };
  const SdWindow win = { 2, 2, 2, 1, 0 };
  float out[3], col[64];
  g_assert_cmpint (sd_window_out_length (&win, 6), ==, 3);
  sd_conv1d_ex_forward (out, x, w, NULL, 1, 1, 1, 1, 6, &win, col);
  g_assert_cmpfloat (out[0], ==, 0 + 10 * 2);
  g_assert_cmpfloat (out[1], ==, 2 + 10 * 4);
  g_assert_cmpfloat (out[2], ==, 4 + 10 * 6);
}

/* ---- pooling ---- */

static void
pool_fwd (FdCase *c, float *out)
{
  if (c->OC == 0)
    sd_maxpool_forward (out, c->v[0], c->B, c->C, c->T, &c->w);
  else if (c->OC == 1)
    sd_avgpool_ex_forward (out, c->v[0], c->B, c->C, c->T, &c->w, c->flag);
  else
    sd_gmp_forward (out, c->v[0], c->B, c->C, c->T);
}

static void
pool_bwd (FdCase *c, const float *R)
{
  if (c->OC == 0)
    sd_maxpool_backward (c->dv[0], R, c->v[0], c->B, c->C, c->T, &c->w);
  else if (c->OC == 1)
    sd_avgpool_ex_backward (c->dv[0], R, c->B, c->C, c->T, &c->w, c->flag);
  else
    sd_gmp_backward (c->dv[0], R, c->v[0], c->B, c->C, c->T);
}

static void
test_pool (void)
{
  const char *names[]
      = { "maxpool k3 s2 pad 1/1", "maxpool k2 d2", "avgpool count_pad",
          "avgpool real samples", "global max", "maxpool k3 s1 pad 1/1" };
  const SdWindow w[]
      = { { 3, 2, 1, 1, 1 }, { 2, 1, 2, 0, 0 }, { 3, 2, 1, 1, 2 },
          { 3, 2, 1, 1, 2 }, { 1, 1, 1, 0, 0 }, { 3, 1, 1, 1, 1 } };
  for (int k = 0; k < 6; k++) {
    FdCase c = { .name = names[k],
      .B = 2,
      .C = 3,
      .T = 9,
      .w = w[k],
      .OC = k < 2 || k == 5 ? 0
            : k < 4         ? 1
                            : 2,
      .flag = k == 2 };
    const gsize n[] = { 54 };
    c.n_out = (gsize) 6 * (k == 4 ? 1 : sd_window_out_length (&w[k], 9));
    c.forward = pool_fwd;
    c.backward = pool_bwd;
    setup (&c, 1, n);
    fd_check (&c);
  }
  /* the divisors: [0 1 2 | 3 ...] with one zero of padding before */
  const float x[] = { 1, 2, 3, 4 };
  const SdWindow win = { 2, 2, 1, 1, 1 };
  float out[3];
  sd_avgpool_ex_forward (out, x, 1, 1, 4, &win, TRUE);
  g_assert_cmpfloat (out[0], ==, 0.5f);
  sd_avgpool_ex_forward (out, x, 1, 1, 4, &win, FALSE);
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[1], ==, 2.5f);
  g_assert_cmpfloat (out[2], ==, 4.0f);
  sd_maxpool_forward (out, x, 1, 1, 4, &win);
  g_assert_cmpfloat (out[0], ==, 1.0f); /* padding never wins */
  /* stride 1 (InceptionTime's branch): edges padded, the inside without
   * bounds checks; both give the window maxima */
  const float y[] = { 1, 5, 2, -2, 7, -1 };
  const float want[] = { 5, 5, 5, 7, 7, 7 };
  const SdWindow dense = { 3, 1, 1, 1, 1 };
  float o6[6];
  sd_maxpool_forward (o6, y, 1, 1, 6, &dense);
  for (int t = 0; t < 6; t++)
    g_assert_cmpfloat (o6[t], ==, want[t]);
}

/* ---- elementwise ---- */

static void
act_fwd (FdCase *c, float *out)
{
  sd_activation_forward (c->act, c->alpha, out, c->v[0], c->n[0]);
}

static void
act_bwd (FdCase *c, const float *R)
{
  sd_activation_backward (c->act, c->alpha, c->dv[0], R, c->v[0], c->n[0]);
}

static void
test_activations (void)
{
  for (int a = SD_ACT_RELU; a <= SD_ACT_ERF; a++) {
    FdCase c = { .name = sd_activation_name (a), .act = a, .alpha = 0.3f };
    const gsize n[] = { 40 };
    c.n_out = 40;
    c.forward = act_fwd;
    c.backward = act_bwd;
    setup (&c, 1, n);
    fd_check (&c);
  }
  /* values: torch.nn.GELU()(1.0) = 0.8413447, ELU(alpha 1)(-1) = e^-1 - 1 */
  float x[] = { 1.0f, -1.0f }, y[2];
  sd_activation_forward (SD_ACT_GELU, 0, y, x, 1);
  g_assert_cmpfloat_with_epsilon (y[0], 0.8413447f, 1e-6);
  sd_activation_forward (SD_ACT_ELU, 1.0f, y, x + 1, 1);
  g_assert_cmpfloat_with_epsilon (y[0], expf (-1.0f) - 1.0f, 1e-6);
}

static void
misc_fwd (FdCase *c, float *out)
{
  const int B = c->B, C = c->C, T = c->T;
  switch (c->OC) {
    case 0:
      sd_mul_forward (out, c->v[0], c->v[1], c->n[0]);
      break;
    case 1:
      sd_channel_affine_forward (out, c->v[0], c->v[1], c->v[2], B, C, T);
      break;
    case 2: {
      const float *in[] = { c->v[0], c->v[1] };
      const int Cs[] = { C, 2 * C };
      sd_concat_forward (out, in, Cs, 2, B, T);
      break;
    }
    default:
      sd_pad_forward (out, c->v[0], B, C, T, 2, 1);
      break;
  }
}

static void
misc_bwd (FdCase *c, const float *R)
{
  const int B = c->B, C = c->C, T = c->T;
  switch (c->OC) {
    case 0:
      sd_mul_backward (c->dv[0], c->dv[1], R, c->v[0], c->v[1], c->n[0]);
      break;
    case 1:
      sd_channel_affine_backward (
          c->dv[0], c->dv[1], c->dv[2], R, c->v[0], c->v[1], B, C, T);
      break;
    case 2: {
      float *d[] = { c->dv[0], c->dv[1] };
      const int Cs[] = { C, 2 * C };
      sd_concat_backward (d, R, Cs, 2, B, T);
      break;
    }
    default:
      sd_pad_backward (c->dv[0], R, B, C, T, 2, 1);
      break;
  }
}

static void
test_misc (void)
{
  const char *names[] = { "mul", "channel affine", "concat", "pad" };
  for (int k = 0; k < 4; k++) {
    FdCase c = { .name = names[k], .B = 2, .C = 3, .T = 5, .OC = k };
    const gsize nx = 30;
    const gsize n[][3] = { { nx, nx }, { nx, 3, 3 }, { nx, 2 * nx }, { nx } };
    const int nv[] = { 2, 3, 2, 1 };
    const gsize n_out[] = { nx, nx, 3 * nx, (gsize) 2 * 3 * 8 };
    c.n_out = n_out[k];
    c.forward = misc_fwd;
    c.backward = misc_bwd;
    setup (&c, nv[k], n[k]);
    fd_check (&c);
  }
}

/* ---- a whole imported model: parameter gradients ---- */

static void
test_model_params (void)
{
  const char *dir = g_getenv ("SEQDREAM_TEST_DATA");
  g_autofree char *path = g_build_filename (
      dir ? dir : "tests/data", "onnx", "sequential.onnx", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (SdModel) m = sd_model_load (path, &error);
  g_assert_no_error (error);
  const int B = 2, T = 40, K = sd_model_get_n_classes (m);
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, B, T, SD_MODE_TRAIN, &error);
  g_assert_no_error (error);
  g_autofree float *x = rand_vec ((gsize) B * T);
  g_autofree float *R = rand_vec ((gsize) B * K);
  const gsize np = sd_model_get_n_params (m);
  g_autofree float *grads = g_new0 (float, np);
  float *P = sd_model_get_params (m);

  sd_model_forward (m, ws, x, B, T);
  sd_model_backward (m, ws, R, grads, NULL);
  double max_g = 0, max_err = 0;
  for (gsize i = 0; i < np; i++)
    max_g = MAX (max_g, fabs (grads[i]));
  /* every trainable tensor, a few entries of each */
  guint checked = 0;
  for (guint t = 0; t < sd_model_get_n_tensors (m); t++) {
    const SdParamInfo *info = sd_model_get_tensor (m, t);
    for (gsize j = 0; j < MIN (info->numel, 3) && info->trainable; j++) {
      const gsize i = info->offset + j * (info->numel / 3 + 1) % info->numel;
      double l[2];
      const float keep = P[i];
      for (int s = 0; s < 2; s++) {
        P[i] = keep + (s ? -1 : 1) * (float) FD_H;
        const float *logits = sd_model_forward (m, ws, x, B, T);
        l[s] = 0;
        for (int k = 0; k < B * K; k++)
          l[s] += (double) logits[k] * R[k];
      }
      P[i] = keep;
      max_err = MAX (max_err, fabs ((l[0] - l[1]) / (2 * FD_H) - grads[i]));
      checked++;
    }
  }
  g_test_message ("%u parameters: max error %.2g of max gradient %.2g", checked,
      max_err, max_g);
  g_assert_cmpuint (checked, >, 30);
  g_assert_cmpfloat (max_err, <=, 5 * FD_TOL * max_g);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (7);
  g_test_add_func ("/graph/conv", test_conv);
  g_test_add_func ("/graph/conv-values", test_conv_values);
  g_test_add_func ("/graph/pool", test_pool);
  g_test_add_func ("/graph/activations", test_activations);
  g_test_add_func ("/graph/misc", test_misc);
  g_test_add_func ("/graph/model-params", test_model_params);
  int r = g_test_run ();
  g_rand_free (rng);
  return r;
}
