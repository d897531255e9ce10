/* Sequence Dreaming: gradient ascent on the input of a 1-D CNN classifier
 * (activation maximisation) with the regularisers that keep a dream
 * realistic. Every formula and default is in docs/dreaming.md. This file
 * has the dreamer and the run loop; dream-private.h lists the other parts.
 *
 * One step of a batch of A running dreams (x by dream, rows by forward):
 *   evaluate   forward of x_s (A,T) -> J, probability, penalties, trace
 *              entry s, keep-best, stop (a dream that stops freezes)
 *   update     (dream-step.c) transform, backpropagate, penalties,
 *              optimiser step, projection: x_s -> x_{s+1}
 * The spectral regularisers (SPECTRUM, SPECTRAL_FILTER) work on real
 * FFTs (bins 0..T/2) against a per-dream target spectrum, FEATURE
 * against per-dream target features, both prepared before the first
 * step.
 * In eval mode the rows of a forward are independent, so a step runs
 * evaluate, transform, backward and update chunk by chunk of rows
 * (chunk_rows): a chunk's activations are still in cache when its
 * backward reads them. Only diversity couples the rows (through the "gap"
 * features of all dreams); with it a step is one chunk.
 * Nothing is allocated inside the loop: every buffer is the dreamer's
 * (sized at sd_dreamer_new) or the run's (sized before the first step).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dream-private.h"

#include <seqdream/stats.h>

#include <math.h>
#include <string.h>

void
sd_dream_result_free (SdDreamResult *r)
{
  if (r == NULL)
    return;
  g_free (r->sequence);
  g_free (r->logits);
  g_free (r->probabilities);
  g_free (r->trace.objective);
  g_free (r->trace.probability);
  g_free (r->trace.reg_values);
  g_free (r);
}

void
sd_dream_denormalize (const SdModel *model, float *x, int T)
{
  g_return_if_fail (model != NULL && (x != NULL || T == 0));
  /* (Per-series dreams have no scale to go back to.) */
  sd_normalization_invert (
      sd_model_get_normalization (model), x, 1, T, NULL, NULL);
}

/* ----------------------------------------------------------- dreamer */

SdDreamer *
sd_dreamer_new (SdModel *model, int max_batch, int max_length, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  SdWorkspace *ws
      = sd_workspace_new (model, max_batch, max_length, SD_MODE_EVAL, error);
  if (ws == NULL)
    return NULL;
  SdDreamer *d = g_new0 (SdDreamer, 1);
  d->model = sd_model_ref (model);
  d->ws = ws;
  d->max_B = max_batch;
  d->max_T = max_length;
  d->K = sd_model_get_n_classes (model);
  d->n_stages = sd_model_get_n_stage_layers (model);
  d->gap_layer = sd_model_find_layer (model, "gap");
  d->fc_layer = sd_model_find_layer (model, "fc");
  g_assert (d->gap_layer == d->n_stages && d->fc_layer == d->n_stages + 1);
  int len;
  sd_workspace_get_layer_output (ws, d->gap_layer, &d->gap_C, &len);

  gsize BT = (gsize) max_batch * max_length;
  gsize BK = (gsize) max_batch * d->K;
  gsize BC = (gsize) max_batch * d->gap_C;
  gsize total = 7 * BT + max_length + 2 * BK + 2 * BC + BC / max_batch;
  d->mem = g_try_new0 (float, total);
  if (d->mem == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for a dreamer of batch %d x length %d (%.1f GiB)",
        max_batch, max_length, (double) total * sizeof (float) / (1 << 30));
    sd_dreamer_free (d);
    return NULL;
  }
  float *p = d->mem;
  float **bt[] = { &d->x, &d->best, &d->g, &d->m1, &d->m2, &d->xin, &d->dx };
  for (guint i = 0; i < G_N_ELEMENTS (bt); i++) {
    *bt[i] = p;
    p += BT;
  }
  d->orig = p;
  p += max_length;
  d->probs = p;
  p += BK;
  d->dlogits = p;
  p += BK;
  d->feats = p;
  p += BC;
  d->dgap = p;
  p += BC;
  d->dgap_scratch = p;
  d->novelty = g_new (double, max_batch);
  d->nov_rows = g_new (double, max_batch);
  for (int i = 0; i < max_batch; i++)
    d->novelty[i] = NAN;
  return d;
}

void
sd_dreamer_free (SdDreamer *d)
{
  if (d == NULL)
    return;
  sd_workspace_free (d->ws);
  sd_model_unref (d->model);
  g_free (d->mem);
  g_free (d->novelty);
  g_free (d->nov_rows);
  g_free (d);
}

/* -------------------------------------------------------------- init */

/* prior_start: the levels tried (SdDreamConfig) */
#define PRIOR_LEVELS 8

static void
init_dream (const SdInit *init, GRand *rng, float *x, int T)
{
  switch (init->type) {
    case SD_INIT_GAUSSIAN:
      /* Box-Muller on GRand: the same numbers for a seed everywhere. */
      for (int t = 0; t < T; t += 2) {
        double u1 = 1.0 - g_rand_double (rng), u2 = g_rand_double (rng);
        double rr = sqrt (-2.0 * log (u1));
        x[t] = (float) (init->scale * rr * cos (2.0 * G_PI * u2));
        if (t + 1 < T)
          x[t + 1] = (float) (init->scale * rr * sin (2.0 * G_PI * u2));
      }
      break;
    case SD_INIT_UNIFORM:
      for (int t = 0; t < T; t++)
        x[t] = (float) g_rand_double_range (rng, -init->scale, init->scale);
      break;
    case SD_INIT_ZEROS:
      memset (x, 0, (gsize) T * sizeof (float));
      break;
    case SD_INIT_CONSTANT:
      for (int t = 0; t < T; t++)
        x[t] = init->scale;
      break;
    case SD_INIT_SERIES:
      memcpy (x, init->series, (gsize) T * sizeof (float));
      break;
  }
}

/* ------------------------------------------------------------ setup */

/* The results of dream i, with a trace of run->cap entries per row. */
static SdDreamResult *
result_new (const DreamRun *run, GError **error)
{
  const int T = run->T, K = run->d->K, n_regs = run->cfg->n_regs;
  const gsize cap = (gsize) run->cap;
  SdDreamResult *res = g_new0 (SdDreamResult, 1);
  res->length = T;
  res->sequence = g_new0 (float, T);
  res->logits = g_new0 (float, K);
  res->probabilities = g_new0 (float, K);
  res->trace.n_regs = n_regs;
  res->trace.objective = g_try_new0 (float, cap);
  res->trace.probability = g_try_new0 (float, cap);
  res->trace.reg_values = n_regs > 0 ? g_try_new0 (float, cap *n_regs) : NULL;
  if (res->trace.objective == NULL || res->trace.probability == NULL
      || (n_regs > 0 && res->trace.reg_values == NULL)) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for the trace of %d dreams x %d steps", run->n,
        run->cfg->steps);
    sd_dream_result_free (res);
    return NULL;
  }
  return res;
}

/* The target classes of a dream: those of its first class term. */
static void
find_target (DreamState *dr)
{
  dr->kind = DREAM_TARGET_NONE;
  for (int k = 0; k < dr->obj->n_terms; k++) {
    const SdObjectiveTerm *t = &dr->obj->terms[k];
    if (t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
      continue;
    dr->kind = t->type == SD_OBJECTIVE_BORDER ? DREAM_TARGET_BORDER
                                              : DREAM_TARGET_CENTERED;
    dr->a = t->class_a;
    dr->b = t->class_b;
    break;
  }
}

/* Every dream's state, results, random numbers and initial sequence. */
static gboolean
setup_dreams (DreamRun *run, const SdDreamSpec *specs, GError **error)
{
  SdDreamer *d = run->d;
  const int n = run->n, T = run->T;
  run->dreams = g_new0 (DreamState, n);
  run->row_dream = g_new0 (int, n);
  run->live = g_new0 (gboolean, n);
  for (int i = 0; i < n; i++) {
    DreamState *dr = &run->dreams[i];
    dr->res = result_new (run, error);
    if (dr->res == NULL)
      return FALSE;
    dr->obj = &specs[i].objective;
    find_target (dr);
    guint32 seed[2]
        = { (guint32) specs[i].seed, (guint32) (specs[i].seed >> 32) };
    dr->rng = g_rand_new_with_seed_array (seed, 2);
    dr->best_score = -INFINITY;
    dr->scale = 1.0f;
    init_dream (&specs[i].init, dr->rng, d->x + (gsize) i * T, T);
    if (run->cfg->znormalize)
      dream_znorm_row (d->x + (gsize) i * T, T);
  }
  return TRUE;
}

/* TRUE when a CHANNEL / NEURON term of one of the n dreams names layer. */
static gboolean
layer_term_used (const SdDreamSpec *specs, int n, int layer)
{
  for (int i = 0; i < n; i++)
    for (int k = 0; k < specs[i].objective.n_terms; k++) {
      const SdObjectiveTerm *t = &specs[i].objective.terms[k];
      if ((t->type == SD_OBJECTIVE_CHANNEL || t->type == SD_OBJECTIVE_NEURON)
          && t->layer == layer)
        return TRUE;
    }
  return FALSE;
}

/* The gradients injected at the stage outputs the objectives name, and
 * whether one is injected at "gap" (its terms, diversity, FEATURE). */
static gboolean
setup_injections (DreamRun *run, const SdDreamSpec *specs, GError **error)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int n = run->n;
  for (int l = 0; l < d->n_stages; l++) {
    if (!layer_term_used (specs, n, l))
      continue;
    DreamInjection *in = &run->inj[run->n_inj++];
    in->layer = l;
    in->C = dream_layer_channels (d, l);
    in->grad = g_try_new0 (float, (gsize) n * in->C * run->T);
    if (in->grad == NULL) {
      g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
          "out of memory for the gradient injected at layer %d", l);
      return FALSE;
    }
  }
  run->inj_dirty = TRUE;
  run->use_gap = (c->diversity > 0.0f && n > 1)
                 || layer_term_used (specs, n, d->gap_layer);
  for (int r = 0; r < c->n_regs; r++)
    if (c->regs[r].type == SD_REG_FEATURE && c->regs[r].weight > 0.0f)
      run->use_gap = TRUE;
  return TRUE;
}

/* Regulariser windows (in steps), Gaussian kernels and clipping ranges. */
static void
setup_regularizers (DreamRun *run)
{
  const SdDreamConfig *c = run->cfg;
  int max_R = 0;
  for (int r = 0; r < c->n_regs; r++) {
    const SdRegularizer *reg = &c->regs[r];
    run->first[r] = (int) ceil ((double) reg->start * run->N);
    run->until[r] = (double) reg->end * run->N;
    if (reg->type == SD_REG_GAUSSIAN) {
      run->radius[r] = dream_gaussian_radius (reg->param);
      run->kernel[r] = g_new (float, run->radius[r] + 1);
      dream_gaussian_kernel (run->kernel[r], reg->param, run->radius[r]);
      max_R = MAX (max_R, run->radius[r]);
    } else if (reg->type == SD_REG_CLIP) {
      float lo = reg->param, hi = reg->param2;
      if (lo == 0.0f && hi == 0.0f)
        sd_model_get_input_range (run->d->model, &lo, &hi);
      run->clip_on[r] = isfinite (lo) && isfinite (hi) && lo < hi;
      run->clip_lo[r] = lo;
      run->clip_hi[r] = hi;
    }
  }
  run->pad = g_new (float, (gsize) run->T + 2 * (gsize) max_R);
}

/* prior_start: dream i's start (at d->x) becomes the draw u_i (T, RMS 1)
 * of its class's spectrum at the level of levels[] that the model finds
 * most familiar among those it names the class (else the largest
 * margin). */
static void
prior_start_levels (DreamRun *run, const gboolean *drawn, const float *u,
    const double *levels, int n_levels)
{
  SdDreamer *d = run->d;
  const int T = run->T, K = d->K, n = run->n;
  const SdModelStats *st = sd_model_get_stats (d->model);
  g_autofree double *best = g_new (double, n);
  g_autofree int *pick = g_new (int, n);
  for (int i = 0; i < n; i++) {
    best[i] = -INFINITY;
    pick[i] = 0;
  }
  for (int g = 0; g < n_levels && n_levels > 1; g++) {
    for (int i = 0; i < n; i++)
      for (int t = 0; t < T; t++)
        d->xin[(gsize) i * T + t] = (float) (levels[g] * u[(gsize) i * T + t]);
    const float *z = sd_model_forward (d->model, d->ws, d->xin, n, T);
    const gboolean nov
        = st != NULL
          && sd_workspace_novelty (d->model, d->ws, n, d->nov_rows, NULL);
    for (int i = 0; i < n; i++) {
      if (!drawn[i])
        continue;
      const int a = run->dreams[i].a;
      const float *zi = z + (gsize) i * K;
      double other = -INFINITY;
      for (int k = 0; k < K; k++)
        if (k != a)
          other = MAX (other, zi[k]);
      const double margin = zi[a] - other;
      /* named the class: ranked by familiarity, above every level that
       * is not, which rank by margin */
      double score = margin;
      if (margin > 0.0)
        score = nov && isfinite (d->nov_rows[i]) ? 1e6 - d->nov_rows[i]
                                                 : 1e6 + margin;
      if (score > best[i]) {
        best[i] = score;
        pick[i] = g;
      }
    }
  }
  for (int i = 0; i < n; i++)
    if (drawn[i]) {
      float *x = d->x + (gsize) i * T;
      for (int t = 0; t < T; t++)
        x[t] = (float) (levels[pick[i]] * u[(gsize) i * T + t]);
      if (run->cfg->znormalize)
        dream_znorm_row (x, T);
    }
}

/* prior_start (SdDreamConfig): the class-aware start of the dreams that
 * would start from Gaussian noise. */
static void
prior_start (DreamRun *run, const SdDreamSpec *specs)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, n = run->n;
  const SdRegularizer *reg = NULL;
  for (int r = 0; r < c->n_regs && reg == NULL; r++)
    if (dream_reg_uses_spectra (c->regs[r].type))
      reg = &c->regs[r];
  if (!c->prior_start || reg == NULL || run->spec == NULL)
    return;
  g_autofree float *u = g_new0 (float, (gsize) n *T);
  g_autofree gboolean *drawn = g_new0 (gboolean, n);
  gboolean any = FALSE;
  for (int i = 0; i < n; i++) {
    DreamState *dr = &run->dreams[i];
    if (dr->kind != DREAM_TARGET_CENTERED
        || specs[i].init.type != SD_INIT_GAUSSIAN)
      continue;
    dream_spectrum_draw (run->spec, reg, dr->a, dr->rng, u + (gsize) i * T);
    drawn[i] = any = TRUE;
  }
  if (!any)
    return;
  /* the levels in the normalised input space: the RMS range of the raw
   * training windows without the mean the fixed normalisation removes */
  const SdModelStats *st = sd_model_get_stats (d->model);
  const SdNormalization norm = sd_model_get_normalization (d->model);
  double levels[PRIOR_LEVELS] = { 1.0 };
  int n_levels = 1;
  double lo, hi;
  if (!c->znormalize && st != NULL) {
    sd_model_stats_get_level_range (st, &lo, &hi);
    const gboolean fixed = norm.mode == SD_NORM_FIXED;
    const double m = fixed ? norm.mean : 0.0, sd = fixed ? norm.std : 1.0;
    lo = sqrt (MAX (lo * lo - m * m, 0.01 * lo * lo)) / sd;
    hi = sqrt (MAX (hi * hi - m * m, 0.01 * hi * hi)) / sd;
    if (lo > 0.0 && hi > lo && isfinite (hi)) {
      n_levels = PRIOR_LEVELS;
      for (int g = 0; g < n_levels; g++)
        levels[g] = lo * pow (hi / lo, (double) g / (n_levels - 1));
    }
  }
  prior_start_levels (run, drawn, u, levels, n_levels);
}

/* Everything a run needs before its first step; nothing is allocated
 * after this. */
static gboolean
run_setup (DreamRun *run, const SdDreamSpec *specs, GError **error)
{
  SdDreamer *d = run->d;
  if (!setup_dreams (run, specs, error)
      || !setup_injections (run, specs, error))
    return FALSE;
  setup_regularizers (run);
  if (!dream_spectra_setup (run, error) || !dream_features_setup (run, error))
    return FALSE;
  prior_start (run, specs);
  memset (d->m1, 0, (gsize) run->n * run->T * sizeof (float));
  memset (d->m2, 0, (gsize) run->n * run->T * sizeof (float));
  return TRUE;
}

static void
run_clear (DreamRun *run)
{
  if (run->dreams != NULL) {
    for (int i = 0; i < run->n; i++) {
      if (run->dreams[i].rng != NULL)
        g_rand_free (run->dreams[i].rng);
      sd_dream_result_free (run->dreams[i].res);
    }
  }
  g_free (run->dreams);
  g_free (run->row_dream);
  g_free (run->live);
  for (int i = 0; i < run->n_inj; i++)
    g_free (run->inj[i].grad);
  for (int l = 0; l < run->n_stage_anchor; l++) {
    g_free (run->stage_target[l]);
    g_free (run->stage_grad[l]);
  }
  for (int r = 0; r < SD_DREAM_MAX_REGS; r++) {
    g_free (run->kernel[r]);
    g_free (run->spec_target[r]);
    g_free (run->feat_target[r]);
  }
  g_free (run->pad);
  dream_spec_work_free (run->spec);
}

/* ---------------------------------------------------------- one step */

/* Rows per chunk of a step: about CHUNK_SAMPLES time samples, so that a
 * chunk's activations stay in cache from its forward to its backward
 * (resnet-small, T = 500, batch 16: 1.7x faster than one forward of all
 * rows); all rows when diversity couples them. Depends on the
 * configuration only, so runs stay deterministic. */
#define CHUNK_SAMPLES 1024

static int
chunk_rows (const DreamRun *run)
{
  if (run->cfg->diversity > 0.0f && run->n > 1)
    return run->A;
  return CLAMP (CHUNK_SAMPLES / run->T, 1, run->A);
}

/* x_s of every running dream is finite (checked for all rows before any
 * chunk, as the first error of a step). */
static gboolean
check_sequences (DreamRun *run, int s, GError **error)
{
  SdDreamer *d = run->d;
  const int T = run->T;
  for (int r = 0; r < run->A; r++) {
    const int i = run->row_dream[r];
    int bad = dream_first_nonfinite (d->x + (gsize) i * T, T);
    if (bad >= 0)
      return dream_diverged (error, i, s, "the sequence", bad);
  }
  return TRUE;
}

/* Trace entry s of the penalties of dream i (at x_s and its features);
 * a scale factor reads 1 until one is drawn for the update. */
static void
record_penalties (const DreamRun *run, DreamState *dr, int i, int s)
{
  const SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T;
  const float *x = d->x + (gsize) i * T;
  for (int k = 0; k < c->n_regs; k++) {
    const SdRegularizer *reg = &c->regs[k];
    if (reg->type == SD_REG_SPECTRUM)
      *dream_trace_reg (dr, run, k, s)
          = (float) (reg->weight
                     * dream_spectrum_penalty (run->spec, x,
                         dream_spec_row (run, k, i), reg->param, 0.0f, NULL));
    else if (dream_reg_is_penalty (reg->type))
      *dream_trace_reg (dr, run, k, s)
          = (float) (reg->weight * dream_penalty_value (reg->type, x, T));
    else if (reg->type == SD_REG_SCALE)
      *dream_trace_reg (dr, run, k, s) = 1.0f; /* overwritten when drawn */
    else if (reg->type == SD_REG_FEATURE)
      *dream_trace_reg (dr, run, k, s) = (float) dream_feature_penalty (
          run, k, i, d->feats + (gsize) i * d->gap_C);
  }
}

/* Evaluate x_s of the running dreams of rows r0..r1-1: trace entry s,
 * keep-best, stop. Leaves their forward in the workspace. */
static gboolean
evaluate (DreamRun *run, int s, int r0, int r1, GError **error)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, K = d->K;
  for (int r = r0; r < r1; r++)
    memcpy (d->xin + (gsize) r * T, d->x + (gsize) run->row_dream[r] * T,
        (gsize) T * sizeof (float));
  const float *logits = dream_forward_rows (run, r0, r1, TRUE);
  for (int r = r0; r < r1; r++) {
    const int i = run->row_dream[r];
    DreamState *dr = &run->dreams[i];
    SdDreamTrace *tr = &dr->res->trace;
    const float *z = logits + (gsize) (r - r0) * K;
    const float *x = d->x + (gsize) i * T;
    int bad = dream_first_nonfinite (z, K);
    if (bad >= 0)
      return dream_diverged (error, i, s, "the model output (logits)", bad);
    double closeness;
    double J = dream_objective_value (run, dr, r - r0, z);
    double p = dream_target_probability (
        dr, z, d->probs + (gsize) r * K, K, &closeness);
    tr->objective[s] = (float) J;
    tr->probability[s] = (float) p;
    tr->n_steps = s + 1;
    dr->steps = s;
    record_penalties (run, dr, i, s);
    double score = dr->kind == DREAM_TARGET_BORDER ? -closeness : J;
    for (int k = 0; k < c->n_regs; k++)
      if (c->regs[k].type == SD_REG_FEATURE)
        score -= *dream_trace_reg (dr, run, k, s);
    /* entry 0 is the initialisation, not a dream: with noise it is often
     * the strongest class evidence a filter then removes */
    if (c->keep_best && s > 0 && score > dr->best_score) {
      dr->best_score = score;
      dr->best_step = s;
      memcpy (d->best + (gsize) i * T, x, (gsize) T * sizeof (float));
    }
    gboolean stop = FALSE;
    if (dr->kind == DREAM_TARGET_CENTERED
        && (c->stop_probability > 0.0f || c->stop_margin != NULL)) {
      const double margin = dream_logit_margin (dr, z, K);
      /* never the start itself: it has not met the regularisers yet */
      stop = s > 0 && p >= c->stop_probability;
      if (c->stop_margin != NULL)
        stop = stop && margin >= c->stop_margin[dr->a];
      if (c->margin_ceiling != NULL && c->stop_margin != NULL)
        stop = stop && margin <= c->margin_ceiling[dr->a];
      if (stop && c->stop_known) {
        const SdModelStats *st = sd_model_get_stats (d->model);
        stop = d->novelty[i] <= sd_model_stats_get_novelty_threshold (st);
      }
    } else if (dr->kind == DREAM_TARGET_BORDER && c->border_tolerance > 0.0f)
      stop = closeness <= 2.0 * c->border_tolerance;
    if (stop) {
      dr->converged = TRUE;
      dr->frozen = TRUE;
      run->live[r] = FALSE;
      run->inj_dirty = TRUE;
    }
  }
  return TRUE;
}

/* Step s: evaluate x_s of the running dreams and, unless s is the last
 * entry, update them, chunk by chunk. *done once no dream runs or after
 * the last entry. */
static gboolean
run_step (DreamRun *run, int s, gboolean *done, GError **error)
{
  /* the rows of this step: the dreams still running, in index order */
  int A = 0;
  for (int i = 0; i < run->n; i++)
    if (!run->dreams[i].frozen) {
      run->row_dream[A] = i;
      run->live[A] = TRUE;
      A++;
    }
  *done = A == 0;
  if (A == 0)
    return TRUE;
  if (A != run->A)
    run->inj_dirty = TRUE;
  run->A = A;
  gboolean ok = check_sequences (run, s, error);
  /* chunk by chunk: evaluate, then update if this is not the last
   * entry; as without chunks, an error of any evaluate wins over one of
   * an update */
  GError *update_error = NULL;
  const int R = chunk_rows (run);
  for (int r0 = 0; ok && r0 < A; r0 += R) {
    const int r1 = MIN (A, r0 + R);
    ok = evaluate (run, s, r0, r1, error);
    if (!ok || s == run->N || update_error != NULL)
      continue;
    gboolean any_live = FALSE;
    for (int r = r0; r < r1; r++)
      any_live |= run->live[r];
    if (any_live)
      dream_update (run, s, r0, r1, &update_error);
  }
  if (ok && update_error != NULL) {
    g_propagate_error (error, g_steal_pointer (&update_error));
    ok = FALSE;
  }
  g_clear_error (&update_error);
  *done = s == run->N;
  return ok;
}

/* ------------------------------------------------------------ finish */

/* The returned sequences, one forward on them, the result fields. */
static void
finish (DreamRun *run)
{
  SdDreamer *d = run->d;
  const SdDreamConfig *c = run->cfg;
  const int T = run->T, K = d->K, n = run->n;
  for (int i = 0; i < n; i++) {
    DreamState *dr = &run->dreams[i];
    SdDreamResult *res = dr->res;
    const float *src = d->x + (gsize) i * T;
    res->steps = dr->steps;
    res->converged = dr->converged;
    res->best_step = dr->steps;
    if (!dr->converged && c->keep_best) {
      src = d->best + (gsize) i * T;
      res->best_step = dr->best_step;
    }
    memcpy (res->sequence, src, (gsize) T * sizeof (float));
    memcpy (d->xin + (gsize) i * T, src, (gsize) T * sizeof (float));
    run->row_dream[i] = i;
    /* the trace rows were laid out with stride cap: make it n_steps */
    SdDreamTrace *tr = &res->trace;
    for (int k = 1; k < tr->n_regs; k++)
      memmove (tr->reg_values + (gsize) k * tr->n_steps,
          tr->reg_values + (gsize) k * run->cap,
          (gsize) tr->n_steps * sizeof (float));
  }
  run->A = n;
  const int R = chunk_rows (run);
  for (int r0 = 0; r0 < n; r0 += R) {
    const int r1 = MIN (n, r0 + R);
    const float *z = dream_forward_rows (run, r0, r1, TRUE);
    for (int i = r0; i < r1; i++) {
      DreamState *dr = &run->dreams[i];
      SdDreamResult *res = dr->res;
      const float *zi = z + (gsize) (i - r0) * K;
      memcpy (res->logits, zi, (gsize) K * sizeof (float));
      memcpy (res->probabilities, d->probs + (gsize) i * K,
          (gsize) K * sizeof (float));
      double closeness;
      res->objective = (float) dream_objective_value (run, dr, i - r0, zi);
      res->probability = (float) dream_target_probability (
          dr, zi, res->probabilities, K, &closeness);
      res->logit_margin = (float) dream_logit_margin (dr, zi, K);
    }
  }
}

gboolean
sd_dreamer_run (SdDreamer *d, const SdDreamConfig *config,
    const SdDreamSpec *specs, int n, SdDreamResult **results, GError **error)
{
  g_return_val_if_fail (d != NULL, FALSE);
  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (results != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  for (int i = 0; i < n; i++)
    results[i] = NULL;

  int T;
  if (!dream_check_config (d, config, specs, n, &T, error))
    return FALSE;

  DreamRun run;
  memset (&run, 0, sizeof run);
  run.d = d;
  run.cfg = config;
  run.n = n;
  run.T = T;
  run.N = config->steps;
  run.cap = config->steps + 1;
  gboolean ok = run_setup (&run, specs, error);

  gboolean done = FALSE;
  for (int s = 0; ok && !done; s++) {
    if (config->cancel != NULL && g_atomic_int_get (config->cancel)) {
      g_set_error (error, SD_ERROR, SD_ERROR_CANCELLED,
          "dream cancelled at step %d of %d", s, config->steps);
      ok = FALSE;
    } else {
      ok = run_step (&run, s, &done, error);
    }
  }

  if (ok) {
    finish (&run);
    for (int i = 0; i < n; i++) {
      results[i] = run.dreams[i].res;
      run.dreams[i].res = NULL;
    }
  }
  run_clear (&run);
  return ok;
}
