/* InceptionTime (Ismail Fawaz et al. 2020) as an op graph
 * (graph-private.h): the presets "inception" and "inception-small".
 *
 * Six inception modules; each is
 *   bottleneck  1x1 conv to nf channels (skipped on a 1-channel input)
 *   convs.0-2   convs of nf filters, kernels 40, 20, 10 on the bottleneck,
 *               'same' with Keras's padding of an even kernel (left
 *               (k-1)/2, right k/2: the reference implementation's)
 *   pool_conv   max-pool (3, stride 1, pad 1) of the module's input, then
 *               a 1x1 conv of nf filters
 *   concat (4 nf channels), batch norm, ReLU;
 * every third module adds a shortcut of the input of the three (1x1 conv
 * + batch norm) before its ReLU. Global average pooling, a dense layer.
 * No conv has a bias (batch norm follows every one), as the reference.
 *
 * Tensor names are the PyTorch state_dict of tests/golden/inception.py:
 *   blocks.i.bottleneck.weight, blocks.i.convs.j.weight,
 *   blocks.i.pool_conv.weight, blocks.i.bn.*, shortcuts.k.conv.weight,
 *   shortcuts.k.bn.*, fc.weight, fc.bias.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph-private.h"

#include <string.h>

#define INCEPTION_DEPTH 6

static const int inception_kernels[] = { 40, 20, 10 };

typedef struct
{
  SdGraph *g;
  float eps;
  GError **error;
} Builder;

static int
add_conv (Builder *bld, int in, int OC, int K, const char *name)
{
  GraphOp op = { .type = GOP_CONV, .n_in = 1, .group = 1, .OC = OC };
  op.name = (char *) name;
  op.in[0] = in;
  op.win = (SdWindow){
    .K = K, .stride = 1, .dilation = 1, .pad_l = (K - 1) / 2, .pad_r = K / 2
  };
  g_autofree char *w = g_strconcat (name, ".weight", NULL);
  op.tensor[0] = w;
  return sd_graph_add (bld->g, &op, bld->error);
}

static int
add_bn (Builder *bld, int in, const char *name)
{
  static const char *const slots[]
      = { "weight", "bias", "running_mean", "running_var" };
  GraphOp op = { .type = GOP_BN, .n_in = 1, .eps = bld->eps };
  char *t[4];
  op.name = (char *) name;
  op.in[0] = in;
  for (int s = 0; s < 4; s++)
    op.tensor[s] = t[s] = g_strconcat (name, ".", slots[s], NULL);
  int v = sd_graph_add (bld->g, &op, bld->error);
  for (int s = 0; s < 4; s++)
    g_free (t[s]);
  return v;
}

static int
add_simple (Builder *bld, GraphOpType type, int a, int b, const char *name)
{
  GraphOp op = { .type = type, .n_in = b >= 0 ? 2 : 1, .act = SD_ACT_RELU };
  op.name = (char *) name;
  op.in[0] = a;
  op.in[1] = b;
  if (type == GOP_MAXPOOL)
    op.win = (SdWindow){
      .K = 3, .stride = 1, .dilation = 1, .pad_l = 1, .pad_r = 1
    };
  return sd_graph_add (bld->g, &op, bld->error);
}

/* Module i on value in of C channels, up to its batch norm; the value of
 * the batch norm's output (before the ReLU), or -1. */
static int
add_module (Builder *bld, int i, int in, int C, int nf)
{
  char name[64];
  GraphOp cat = { .type = GOP_CONCAT, .n_in = 4 };
  int h = in;

  if (C > 1) {
    g_snprintf (name, sizeof name, "blocks.%d.bottleneck", i);
    if ((h = add_conv (bld, in, nf, 1, name)) < 0)
      return -1;
  }
  for (int j = 0; j < 3; j++) {
    g_snprintf (name, sizeof name, "blocks.%d.convs.%d", i, j);
    if ((cat.in[j] = add_conv (bld, h, nf, inception_kernels[j], name)) < 0)
      return -1;
  }
  g_snprintf (name, sizeof name, "blocks.%d.pool", i);
  int p = add_simple (bld, GOP_MAXPOOL, in, -1, name);
  g_snprintf (name, sizeof name, "blocks.%d.pool_conv", i);
  if (p < 0 || (cat.in[3] = add_conv (bld, p, nf, 1, name)) < 0)
    return -1;
  g_snprintf (name, sizeof name, "blocks.%d.concat", i);
  cat.name = name;
  int c = sd_graph_add (bld->g, &cat, bld->error);
  g_snprintf (name, sizeof name, "blocks.%d.bn", i);
  return c < 0 ? -1 : add_bn (bld, c, name);
}

SdGraph *
sd_inception_graph (int n_filters, int n_classes, float bn_eps, GError **error)
{
  g_autoptr (SdGraph) g = sd_graph_new ();
  Builder bld = { g, bn_eps, error };
  char name[64];
  int x = 0, C = 1, res = 0;

  g->train_bn = TRUE;
  for (int i = 0; i < INCEPTION_DEPTH; i++) {
    int v = add_module (&bld, i, x, C, n_filters);
    if (v < 0)
      return NULL;
    C = 4 * n_filters;
    if (i % 3 == 2) {
      const int k = i / 3;
      g_snprintf (name, sizeof name, "shortcuts.%d.conv", k);
      int s = add_conv (&bld, res, C, 1, name);
      g_snprintf (name, sizeof name, "shortcuts.%d.bn", k);
      if (s < 0 || (s = add_bn (&bld, s, name)) < 0)
        return NULL;
      g_snprintf (name, sizeof name, "shortcuts.%d.add", k);
      if ((v = add_simple (&bld, GOP_ADD, v, s, name)) < 0)
        return NULL;
    }
    g_snprintf (name, sizeof name, "blocks.%d.relu", i);
    if ((x = add_simple (&bld, GOP_ACT, v, -1, name)) < 0)
      return NULL;
    if (i % 3 == 2)
      res = x;
  }
  int f = add_simple (&bld, GOP_GAP, x, -1, "gap");
  GraphOp fc = { .type = GOP_GEMM, .n_in = 1, .OC = n_classes, .IN = C };
  fc.name = (char *) "fc";
  fc.in[0] = f;
  fc.tensor[0] = (char *) "fc.weight";
  fc.tensor[1] = (char *) "fc.bias";
  int l = f < 0 ? -1 : sd_graph_add (g, &fc, error);
  if (l < 0 || !sd_graph_set_logits (g, l, GRAPH_OUT_LOGITS, error))
    return NULL;
  return g_steal_pointer (&g);
}
