/* seqdream-bench: the C side of the seqdream benchmarks.
 *
 * Every measurement does exactly the work of the measurement of the same
 * name in bench/torch_bench.py (read its docstring) and prints ONE JSON
 * object on one line of stdout with the same fields:
 *
 *   {"name": ..., "impl": "seqdream", "value": ..., "unit": ...,
 *    "samples": [...], ..., "config": {...}, "threads": 1, ...}
 *
 * value is the median of samples (one sample per timed repeat); every
 * measurement warms up first; time is CLOCK_MONOTONIC around the timed
 * region only; OpenBLAS runs on one thread. bench/run pairs these lines
 * with torch_bench.py's by name.
 *
 * Benchmarks are not tests: nothing here checks results beyond printing a
 * sanity value (training loss, dream objective).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <seqdream/seqdream.h>

#include <cblas.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_LEN 500

typedef struct
{
  gboolean quick;
  int repeat;
  int epochs;
  gint64 seed;
  char *forda_train;
} Options;

static Options opt = { FALSE, 5, 1, 0, NULL };

/* The single-thread sgemm peak in GFLOP/s once measured (0: not yet). */
static double sgemm_peak_gflops;

static const char *const labels2[] = { "0", "1", NULL };

/* ------------------------------------------------------------- helpers */

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
median (const double *v, int n)
{
  g_autofree double *s = g_memdup2 (v, (gsize) n * sizeof (double));
  qsort (s, (size_t) n, sizeof (double), cmp_double);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* Standard normal draws (Box-Muller) from a seeded GRand. */
static void
fill_normal (float *x, gsize n, float scale, guint64 seed)
{
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (s, 2);
  for (gsize i = 0; i < n; i += 2) {
    double u1 = 1.0 - g_rand_double (rng); /* (0, 1] */
    double u2 = g_rand_double (rng);
    double r = sqrt (-2.0 * log (u1));
    x[i] = scale * (float) (r * cos (2 * G_PI * u2));
    if (i + 1 < n)
      x[i + 1] = scale * (float) (r * sin (2 * G_PI * u2));
  }
}

static SdModel *
new_model (const char *preset, GError **error)
{
  SdArch arch;
  if (!sd_arch_from_preset (preset, 2, &arch, error))
    return NULL;
  return sd_model_new (&arch, labels2, (guint64) opt.seed, error);
}

/* Multiply-accumulates of all convolutions for one series of length T
 * (shortcut 1x1 convs included), as conv_macs() of export_pytorch.py. */
static double
conv_macs (const SdArch *a, int T)
{
  double total = 0;
  int c = a->in_channels;
  for (int i = 0; i < a->n_stages; i++) {
    const SdStage *s = &a->stages[i];
    int ic = c;
    for (int j = 0; j < s->n_convs; j++) {
      total += (double) s->channels[j] * ic * s->kernels[j] * T;
      ic = s->channels[j];
    }
    int oc = s->channels[s->n_convs - 1];
    if (s->type == SD_STAGE_RESIDUAL && c != oc)
      total += (double) oc * c * T;
    c = oc;
  }
  return total;
}

/* A record: begin it, add the extra members, then emit_end (). */
static JsonBuilder *
emit_begin (const char *name, double value, const char *unit,
    const double *samples, int n)
{
  JsonBuilder *b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  json_builder_set_member_name (b, "impl");
  json_builder_add_string_value (b, "seqdream");
  json_builder_set_member_name (b, "value");
  json_builder_add_double_value (b, value);
  json_builder_set_member_name (b, "unit");
  json_builder_add_string_value (b, unit);
  json_builder_set_member_name (b, "samples");
  json_builder_begin_array (b);
  for (int i = 0; i < n; i++)
    json_builder_add_double_value (b, samples[i]);
  json_builder_end_array (b);
  return b;
}

static void
add_double (JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, v);
}

static void
add_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, v);
}

static void
add_string (JsonBuilder *b, const char *name, const char *v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, v);
}

static void
add_bool (JsonBuilder *b, const char *name, gboolean v)
{
  json_builder_set_member_name (b, name);
  json_builder_add_boolean_value (b, v);
}

/* Opens the "config" object; close it with emit_end (). */
static void
config_begin (JsonBuilder *b, const char *arch, const char *mode, int batch)
{
  json_builder_set_member_name (b, "config");
  json_builder_begin_object (b);
  add_string (b, "arch", arch);
  if (mode != NULL)
    add_string (b, "mode", mode);
  add_int (b, "batch", batch);
}

static void
emit_end (JsonBuilder *b)
{
  json_builder_end_object (b); /* config */
  add_int (b, "threads", openblas_get_num_threads ());
  g_autofree char *config = g_strstrip (g_strdup (openblas_get_config ()));
  add_string (b, "openblas", config);
  add_string (b, "seqdream", SD_VERSION);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *s = json_to_string (root, FALSE);
  printf ("%s\n", s);
  fflush (stdout);
  g_object_unref (b);
}

static void
emit_skipped (const char *name, const char *why)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_string (b, "name", name);
  add_string (b, "impl", "seqdream");
  add_string (b, "skipped", why);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *s = json_to_string (root, FALSE);
  printf ("%s\n", s);
  fflush (stdout);
}

/* ---------------------------------------------- (a) resnet-small b1 */

/* resnet-small eval, one window of T=500 per forward, x ~ N(0,1) drawn
 * once and fed as is (torch_bench applies no normalisation here). 20
 * warm-up forwards; a repeat is 500 forwards (50 with --quick). */
static gboolean
bench_infer_resnet_small_b1 (GError **error)
{
  const int n = opt.quick ? 50 : 500;
  g_autoptr (SdModel) m = new_model ("resnet-small", error);
  if (m == NULL)
    return FALSE;
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, 1, T_LEN, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  float x[T_LEN];
  fill_normal (x, T_LEN, 1.0f, (guint64) opt.seed);

  volatile float sink = 0.0f;
  for (int i = 0; i < 20; i++)
    sink += sd_model_forward (m, ws, x, 1, T_LEN)[0];
  g_autofree double *samples = g_new (double, opt.repeat);
  for (int r = 0; r < opt.repeat; r++) {
    double t0 = now_s ();
    for (int i = 0; i < n; i++)
      sink += sd_model_forward (m, ws, x, 1, T_LEN)[0];
    samples[r] = n / (now_s () - t0);
  }
  (void) sink;

  JsonBuilder *b = emit_begin ("infer_resnet_small_b1",
      median (samples, opt.repeat), "windows/s", samples, opt.repeat);
  config_begin (b, "resnet-small", "eval", 1);
  add_int (b, "length", T_LEN);
  add_int (b, "forwards_per_repeat", n);
  emit_end (b);
  return TRUE;
}

/* ------------------------------------------- (b) training epoch, FordA */

static const char *
default_forda_train (void)
{
  static char *path;
  if (path == NULL) {
    const char *data = g_getenv ("SEQDREAM_DATA");
    g_autofree char *def = NULL;
    if (data == NULL || data[0] == '\0') {
      /* ../shared/data next to the project (set by bench/meson.build). */
      def = g_build_filename (
          SD_BENCH_SOURCE_ROOT, "..", "shared", "data", NULL);
      data = def;
    }
    g_autofree char *p
        = g_build_filename (data, "forda", "FordA_TEST_partial.tsv", NULL);
    path = g_canonicalize_filename (p, NULL);
  }
  return path;
}

/* The training configuration of torch_bench: Adam(1e-3, 0.9, 0.999, 1e-8)
 * without weight decay (seqdream's AdamW with 0 decay is Adam), batch 32,
 * no validation split, no schedule, no early stop, one epoch. */
static void
train_config (SdTrainConfig *c, guint64 seed)
{
  sd_train_config_init (c);
  c->epochs = 1;
  c->batch_size = 32;
  c->optimizer = SD_OPTIMIZER_ADAM;
  c->lr = 1e-3f;
  c->beta1 = 0.9f;
  c->beta2 = 0.999f;
  c->adam_eps = 1e-8f;
  c->weight_decay = 0.0f;
  c->schedule = SD_SCHEDULE_CONSTANT;
  c->val_fraction = 0.0;
  c->early_stop_patience = 0;
  c->seed = seed;
}

/* A dataset of the first n rows of a seeded permutation of ds. */
static SdDataset *
random_subset (const SdDataset *ds, guint n, guint64 seed)
{
  g_autofree guint *idx = g_new (guint, ds->n);
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  g_autoptr (GRand) rng = g_rand_new_with_seed_array (s, 2);
  for (guint i = 0; i < ds->n; i++)
    idx[i] = i;
  for (guint i = ds->n; i > 1; i--) {
    guint j = (guint) g_rand_int_range (rng, 0, (gint32) i);
    guint t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
  return sd_dataset_subset (ds, idx, MIN (n, ds->n));
}

typedef struct
{
  double *epoch_end; /* CLOCK_MONOTONIC time at the end of every epoch */
  int n;
  float last_loss;
} EpochClock;

static void
epoch_clock_cb (const SdTrainProgress *p, gpointer user_data)
{
  EpochClock *c = user_data;
  /* Per-batch callbacks come with batch < n_batches; the epoch's last
   * callback has batch == n_batches. */
  if (p->batch == p->n_batches && c->n < p->epochs) {
    c->epoch_end[c->n++] = now_s ();
    c->last_loss = p->train_loss;
  }
}

/* Epochs of sd_train on FordA's training set: 1319 series of 500,
 * z-normalised per series at load (not timed; the model's normalisation
 * is then "none" so sd_train does not normalise again), 42 Adam steps of
 * batch 32 (the last of 7) in a seeded random order, no validation.
 *
 * One sd_train call runs 1 + --epochs epochs: the first is the warm-up
 * (torch_bench warms up with 3 steps; the warm-up is longer here so that
 * sd_train's one-off set-up, e.g. page-faulting its fresh workspace, is
 * not timed, as torch's allocator is warm too), and every further epoch
 * is timed from the end of the previous one (epoch-end callback) to its
 * own end: the shuffle and all 42 steps, exactly torch_bench's timed
 * region. --quick trains on 320 random series (10 batches) and
 * extrapolates to the full epoch, like torch_bench. */
static gboolean
bench_train_epoch_forda (const char *name, const char *preset, GError **error)
{
  const char *path = opt.forda_train ? opt.forda_train : default_forda_train ();
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_autofree char *why = g_strdup_printf ("FordA training file not found: "
                                            "%s (--forda-train or "
                                            "SEQDREAM_DATA)",
        path);
    emit_skipped (name, why);
    return TRUE;
  }
  g_autoptr (SdDataset) ds = sd_dataset_load_ucr (path, NULL, error);
  if (ds == NULL)
    return FALSE;
  for (guint i = 0; i < ds->n; i++)
    sd_zscore_series (ds->x + (gsize) i * ds->length, ds->length);

  SdArch arch;
  if (!sd_arch_from_preset (preset, (int) ds->n_classes, &arch, error))
    return FALSE;
  g_autoptr (SdModel) m = sd_model_new (
      &arch, (const char *const *) ds->labels, (guint64) opt.seed, error);
  if (m == NULL)
    return FALSE;
  SdNormalization none = { SD_NORM_NONE, 0.0f, 1.0f };
  sd_model_set_normalization (m, none);

  const guint bs = 32;
  const guint n_batches = (ds->n + bs - 1) / bs;
  const guint timed = opt.quick ? MIN (10, n_batches) : n_batches;
  g_autoptr (SdDataset) part = NULL;
  const SdDataset *data = ds;
  if (timed < n_batches) {
    part = random_subset (ds, timed * bs, (guint64) opt.seed + 1);
    data = part;
  }

  g_autofree double *ends = g_new (double, opt.epochs + 1);
  EpochClock clock = { ends, 0, NAN };
  SdTrainConfig c;
  SdTrainResult res;
  train_config (&c, (guint64) opt.seed);
  c.epochs = 1 + opt.epochs;
  c.callback = epoch_clock_cb;
  c.user_data = &clock;
  if (!sd_train (m, data, &c, &res, error))
    return FALSE;
  if (clock.n != c.epochs) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "sd_train ran %d of %d epochs", clock.n, c.epochs);
    return FALSE;
  }
  g_autofree double *samples = g_new (double, opt.epochs);
  for (int e = 0; e < opt.epochs; e++)
    samples[e] = (ends[e + 1] - ends[e]) * ds->n / data->n;
  double v = median (samples, opt.epochs);

  JsonBuilder *b = emit_begin (name, v, "s/epoch", samples, opt.epochs);
  add_bool (b, "extrapolated", timed < n_batches);
  add_int (b, "batches_timed", timed);
  add_double (b, "series_per_s", ds->n / v);
  add_double (b, "mean_train_loss", clock.last_loss);
  config_begin (b, preset, NULL, (int) bs);
  g_autofree char *base = g_path_get_basename (path);
  add_string (b, "data", base);
  add_int (b, "series", ds->n);
  add_int (b, "length", ds->length);
  add_int (b, "batches_per_epoch", n_batches);
  add_string (b, "optimizer", "adam");
  add_double (b, "lr", 1e-3);
  add_string (b, "loss", "cross-entropy (mean)");
  add_string (b, "warmup", "1 epoch (same sd_train call)");
  emit_end (b);
  return TRUE;
}

static gboolean
bench_train_epoch_resnet_small_forda (GError **error)
{
  return bench_train_epoch_forda (
      "train_epoch_resnet_small_forda", "resnet-small", error);
}

/* The same for the resnet preset (Wang et al.'s 64/128/128 filters). */
static gboolean
bench_train_epoch_resnet_forda (GError **error)
{
  return bench_train_epoch_forda ("train_epoch_resnet_forda", "resnet", error);
}

/* The same for InceptionTime (an op graph; 32 and 16 filters). */
static gboolean
bench_train_epoch_inception_forda (GError **error)
{
  return bench_train_epoch_forda (
      "train_epoch_inception_forda", "inception", error);
}

static gboolean
bench_train_epoch_inception_small_forda (GError **error)
{
  return bench_train_epoch_forda (
      "train_epoch_inception_small_forda", "inception-small", error);
}

/* ------------------------------------------------- (c) sgemm peak, fcn */

typedef struct
{
  int M, N, K;
  const char *what;
} GemmShape;

/* Best-of-runs GFLOP/s of one row-major C = A.B (as conv1d forward). */
static double
sgemm_gflops (int M, int N, int K, int runs)
{
  g_autofree float *a = g_new (float, (gsize) M *K);
  g_autofree float *bm = g_new (float, (gsize) K *N);
  g_autofree float *cm = g_new0 (float, (gsize) M *N);
  fill_normal (a, (gsize) M * K, 1.0f, 1);
  fill_normal (bm, (gsize) K * N, 1.0f, 2);
  const double flop = 2.0 * M * N * K;
  /* Repeat small products so one timing covers >= ~20 ms. */
  int inner = (int) MAX (1.0, 2e9 / flop);
  double best = 0;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K,
      bm, N, 0.0f, cm, N);
  for (int r = 0; r < runs; r++) {
    double t0 = now_s ();
    for (int i = 0; i < inner; i++)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a,
          K, bm, N, 0.0f, cm, N);
    double g = flop * inner / (now_s () - t0) / 1e9;
    best = MAX (best, g);
  }
  return best;
}

/* Single-thread sgemm peak: the best GFLOP/s of a square product and of
 * the per-sample gemms of fcn's convolutions (OC x T x C*K). */
static gboolean
bench_sgemm_peak (GError **error)
{
  static const GemmShape shapes[] = {
    { 1024, 1024, 1024, "square" },
    { 256, 500, 640, "fcn conv2: OC 256 x T 500 x C*K 128*5" },
    { 128, 500, 768, "fcn conv3: OC 128 x T 500 x C*K 256*3" },
  };
  const int runs = opt.quick ? 3 : 10;
  double g[G_N_ELEMENTS (shapes)];
  double best = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++) {
    g[i] = sgemm_gflops (shapes[i].M, shapes[i].N, shapes[i].K, runs);
    best = MAX (best, g[i]);
  }
  sgemm_peak_gflops = best;

  JsonBuilder *b
      = emit_begin ("sgemm_peak", best, "GFLOP/s", g, G_N_ELEMENTS (shapes));
  json_builder_set_member_name (b, "shapes");
  json_builder_begin_array (b);
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++) {
    json_builder_begin_object (b);
    add_int (b, "M", shapes[i].M);
    add_int (b, "N", shapes[i].N);
    add_int (b, "K", shapes[i].K);
    add_string (b, "what", shapes[i].what);
    add_double (b, "gflops", g[i]);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  add_string (b, "corename", openblas_get_corename ());
  config_begin (b, "cblas_sgemm row-major NN, best of runs", NULL, 1);
  add_int (b, "runs", runs);
  emit_end (b);
  return TRUE;
}

/* fcn eval, batch 64, T=500, x ~ N(0,1). One warm-up forward; a repeat is
 * 3 forwards (1 with --quick). GFLOP/s over the convolution FLOP only. */
static gboolean
bench_infer_fcn_b64 (GError **error)
{
  const int B = 64;
  const int n = opt.quick ? 1 : 3;
  if (sgemm_peak_gflops <= 0 && !bench_sgemm_peak (error))
    return FALSE;
  g_autoptr (SdModel) m = new_model ("fcn", error);
  if (m == NULL)
    return FALSE;
  g_autoptr (SdWorkspace) ws
      = sd_workspace_new (m, B, T_LEN, SD_MODE_EVAL, error);
  if (ws == NULL)
    return FALSE;
  g_autofree float *x = g_new (float, (gsize) B *T_LEN);
  fill_normal (x, (gsize) B * T_LEN, 1.0f, (guint64) opt.seed);
  const double flop = 2.0 * B * conv_macs (sd_model_get_arch (m), T_LEN);

  volatile float sink = sd_model_forward (m, ws, x, B, T_LEN)[0];
  g_autofree double *samples = g_new (double, opt.repeat);
  for (int r = 0; r < opt.repeat; r++) {
    double t0 = now_s ();
    for (int i = 0; i < n; i++)
      sink += sd_model_forward (m, ws, x, B, T_LEN)[0];
    samples[r] = 1e3 * (now_s () - t0) / n;
  }
  (void) sink;
  double ms = median (samples, opt.repeat);
  double gflops = flop / (ms * 1e-3) / 1e9;

  JsonBuilder *b
      = emit_begin ("infer_fcn_b64", ms, "ms/batch", samples, opt.repeat);
  add_double (b, "gflops", gflops);
  add_double (b, "sgemm_peak_gflops", sgemm_peak_gflops);
  add_double (b, "fraction_of_peak", gflops / sgemm_peak_gflops);
  config_begin (b, "fcn", "eval", B);
  add_int (b, "length", T_LEN);
  add_int (b, "forwards_per_repeat", n);
  add_double (b, "flop_per_batch", flop);
  emit_end (b);
  return TRUE;
}

/* ------------------------------------------------------ (d) dream step */

/* The dream step of torch_bench.py: gradient ascent on the input of
 *   J = sum_b logits[b, target] - l2 sum x^2 - tv sum_t |x[t+1] - x[t]|,
 *   x = clamp (x + step * dJ/dx, lo, hi). */
#define DREAM_TARGET 0
#define DREAM_L2 1e-3
#define DREAM_TV 1e-2
#define DREAM_STEP 0.01
#define DREAM_LO -5.0
#define DREAM_HI 5.0

/* The same dream step through the library's engine (sd_dreamer_run): the
 * logit objective, L2 and TV penalties (the engine's penalties are means,
 * so the weights are the sums' weights times T and T - 1), SGD without
 * momentum, a clip to [-5, 5], no keep-best, no z-normalisation. One
 * repeat is one run of n steps; every step is one forward and one backward
 * as on the PyTorch side (plus the engine's per-step trace). */
static gboolean
bench_engine_dream (int B, int n, const float *x0, SdDreamer *dreamer,
    SdModel *m, double *steps_per_s, GError **error)
{
  SdDreamConfig c;
  sd_dream_config_init (&c, m);
  c.length = T_LEN;
  c.steps = n;
  c.optimizer = SD_DREAM_OPT_SGD;
  c.momentum = 0.0f;
  c.lr = (float) DREAM_STEP;
  c.keep_best = FALSE;
  c.znormalize = FALSE;
  c.border_tolerance = 0.0f;
  SdRegularizer l2 = sd_regularizer_default (SD_REG_L2);
  l2.weight = (float) (DREAM_L2 * T_LEN);
  SdRegularizer tv = sd_regularizer_default (SD_REG_TV);
  tv.weight = (float) (DREAM_TV * (T_LEN - 1));
  SdRegularizer clip = sd_regularizer_default (SD_REG_CLIP);
  clip.param = (float) DREAM_LO;
  clip.param2 = (float) DREAM_HI;
  sd_dream_config_add (&c, l2);
  sd_dream_config_add (&c, tv);
  sd_dream_config_add (&c, clip);
  g_autofree SdDreamSpec *specs = g_new0 (SdDreamSpec, B);
  for (int b = 0; b < B; b++) {
    specs[b].objective = sd_objective_centered (DREAM_TARGET);
    specs[b].init.type = SD_INIT_SERIES;
    specs[b].init.series = x0 + (gsize) b * T_LEN;
    specs[b].seed = (guint64) b;
  }
  g_autofree SdDreamResult **res = g_new0 (SdDreamResult *, B);
  double t0 = now_s ();
  if (!sd_dreamer_run (dreamer, &c, specs, B, res, error))
    return FALSE;
  *steps_per_s = n / (now_s () - t0);
  for (int b = 0; b < B; b++)
    sd_dream_result_free (res[b]);
  return TRUE;
}

/* resnet-small eval, batch B, x = 0.1 N(0,1); a warm-up run of 3 steps; a
 * repeat is 100 steps for B=1, 20 for B=16 (5 with --quick). */
static gboolean
bench_dream (int B, GError **error)
{
  g_autofree char *name = g_strdup_printf ("dream_resnet_small_b%d", B);
  const int n = opt.quick ? 5 : (B == 1 ? 100 : 20);
  g_autoptr (SdModel) m = new_model ("resnet-small", error);
  if (m == NULL)
    return FALSE;
  g_autoptr (SdDreamer) dreamer = sd_dreamer_new (m, B, T_LEN, error);
  if (dreamer == NULL)
    return FALSE;
  g_autofree float *x0 = g_new (float, (gsize) B *T_LEN);
  fill_normal (x0, (gsize) B * T_LEN, 0.1f, (guint64) opt.seed);

  double v;
  if (!bench_engine_dream (B, 3, x0, dreamer, m, &v, error))
    return FALSE;
  g_autofree double *samples = g_new (double, opt.repeat);
  for (int r = 0; r < opt.repeat; r++)
    if (!bench_engine_dream (B, n, x0, dreamer, m, &samples[r], error))
      return FALSE;
  v = median (samples, opt.repeat);

  JsonBuilder *b = emit_begin (name, v, "steps/s", samples, opt.repeat);
  add_double (b, "series_per_s", v * B);
  config_begin (b, "resnet-small", "eval", B);
  add_int (b, "length", T_LEN);
  add_int (b, "target_class", DREAM_TARGET);
  add_double (b, "l2", DREAM_L2);
  add_double (b, "tv", DREAM_TV);
  add_double (b, "step_size", DREAM_STEP);
  json_builder_set_member_name (b, "clamp");
  json_builder_begin_array (b);
  json_builder_add_double_value (b, DREAM_LO);
  json_builder_add_double_value (b, DREAM_HI);
  json_builder_end_array (b);
  add_int (b, "steps_per_repeat", n);
  add_string (b, "implementation", "sd_dreamer_run (libseqdream's engine)");
  emit_end (b);
  return TRUE;
}

static gboolean
bench_dream_resnet_small_b1 (GError **error)
{
  return bench_dream (1, error);
}

static gboolean
bench_dream_resnet_small_b16 (GError **error)
{
  return bench_dream (16, error);
}

/* ---------------------------------------------------------------- main */

typedef struct
{
  const char *name;
  gboolean (*run) (GError **error);
} Measurement;

static const Measurement measurements[] = {
  { "infer_resnet_small_b1", bench_infer_resnet_small_b1 },
  { "train_epoch_resnet_small_forda", bench_train_epoch_resnet_small_forda },
  { "train_epoch_resnet_forda", bench_train_epoch_resnet_forda },
  { "train_epoch_inception_forda", bench_train_epoch_inception_forda },
  { "train_epoch_inception_small_forda",
      bench_train_epoch_inception_small_forda },
  { "sgemm_peak", bench_sgemm_peak },
  { "infer_fcn_b64", bench_infer_fcn_b64 },
  { "dream_resnet_small_b1", bench_dream_resnet_small_b1 },
  { "dream_resnet_small_b16", bench_dream_resnet_small_b16 },
};

/* --only NAME[,NAME]: a prefix selects every measurement starting with it. */
static gboolean
selected (const char *name, char **wanted)
{
  if (wanted == NULL)
    return TRUE;
  for (int i = 0; wanted[i] != NULL; i++)
    if (wanted[i][0] != '\0' && g_str_has_prefix (name, wanted[i]))
      return TRUE;
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autofree char *only = NULL;
  gboolean list = FALSE;
  GOptionEntry entries[] = {
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
        "Run only these measurements (a prefix selects all that start with "
        "it, e.g. 'dream')",
        "NAME[,NAME]" },
    { "quick", 0, 0, G_OPTION_ARG_NONE, &opt.quick,
        "Fewer iterations (smoke test; noisier)", NULL },
    { "repeat", 0, 0, G_OPTION_ARG_INT, &opt.repeat,
        "Timed repeats per measurement (default 5)", "N" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &opt.epochs,
        "Timed epochs of the training measurement (default 1)", "N" },
    { "forda-train", 0, 0, G_OPTION_ARG_FILENAME, &opt.forda_train,
        "UCR TSV of the FordA training set (default "
        "$SEQDREAM_DATA/forda/FordA_TEST_partial.tsv)",
        "PATH" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &opt.seed, "Seed (default 0)", "N" },
    { "list", 0, 0, G_OPTION_ARG_NONE, &list, "List the measurements", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (
      "- seqdream benchmarks (one JSON object per line)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  char **argv0 = g_strdupv (argv); /* for execv, before parsing */

  setlocale (LC_ALL, "");
  if (!g_option_context_parse (ctx, &argc, &argv, &error)) {
    fprintf (stderr, "seqdream-bench: %s\n", error->message);
    return 2;
  }
  if (argc > 1) {
    fprintf (stderr, "seqdream-bench: unexpected argument '%s'\n", argv[1]);
    return 2;
  }
  if (list) {
    for (gsize i = 0; i < G_N_ELEMENTS (measurements); i++)
      printf ("%s\n", measurements[i].name);
    return 0;
  }
  if (opt.repeat < 1 || opt.epochs < 1) {
    fprintf (stderr, "seqdream-bench: --repeat and --epochs must be >= 1\n");
    return 2;
  }
  setlocale (LC_NUMERIC, "C");
  sd_set_num_threads (1);
  if (g_strcmp0 (g_getenv ("OPENBLAS_NUM_THREADS"), "1") != 0) {
    /* The pthread OpenBLAS starts its worker threads when it is loaded,
     * before main; they stay idle after openblas_set_num_threads (1) but
     * still wake up now and then. Start again without them. */
    g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
    g_setenv ("OPENBLAS_NUM_THREADS", "1", TRUE);
    if (self != NULL)
      execv (self, argv0);
    /* Not fatal: the measurements are single-threaded either way. */
  }

  g_auto (GStrv) wanted = only ? g_strsplit (only, ",", -1) : NULL;
  if (wanted != NULL)
    for (int i = 0; wanted[i] != NULL; i++)
      g_strstrip (wanted[i]);
  int n_run = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (measurements); i++)
    n_run += selected (measurements[i].name, wanted);
  if (n_run == 0) {
    fprintf (stderr,
        "seqdream-bench: no measurement matches '%s' (see "
        "--list)\n",
        only);
    return 2;
  }
  int status = 0;
  for (gsize i = 0; i < G_N_ELEMENTS (measurements); i++) {
    if (!selected (measurements[i].name, wanted))
      continue;
    if (!measurements[i].run (&error)) {
      fprintf (stderr, "seqdream-bench: %s: %s\n", measurements[i].name,
          error ? error->message : "failed");
      g_clear_error (&error);
      status = 1;
    }
  }
  g_free (opt.forda_train);
  g_strfreev (argv0);
  return status;
}
