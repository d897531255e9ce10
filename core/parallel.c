/* A fixed team of threads that runs one function over n chunks, chunk 0
 * on the caller (sd-parallel.h).
 *
 * One dispatch: the caller publishes the job under the lock and bumps the
 * generation; every worker that sees a new generation runs its chunk and
 * counts itself done; the caller runs chunk 0 and waits for the count.
 * Which thread runs which chunk is fixed, so anything a chunk computes is
 * the same from run to run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "sd-parallel.h"

struct _SdParallel
{
  int n;           /* chunks = threads, the caller included */
  GThread **peers; /* n - 1 workers; peer i runs chunk i + 1 */
  GMutex lock;
  GCond start, done;
  guint64 generation; /* bumped by every dispatch */
  int pending;        /* workers still running the current job */
  gboolean quit;
  SdParallelFunc func;
  gpointer data;
};

typedef struct
{
  SdParallel *p;
  int chunk;
} Peer;

static gpointer
peer_main (gpointer user_data)
{
  Peer *me = user_data;
  SdParallel *p = me->p;
  guint64 seen = 0;

  g_mutex_lock (&p->lock);
  for (;;) {
    while (!p->quit && p->generation == seen)
      g_cond_wait (&p->start, &p->lock);
    if (p->quit)
      break;
    seen = p->generation;
    SdParallelFunc func = p->func;
    gpointer data = p->data;
    g_mutex_unlock (&p->lock);
    func (me->chunk, p->n, data);
    g_mutex_lock (&p->lock);
    if (--p->pending == 0)
      g_cond_signal (&p->done);
  }
  g_mutex_unlock (&p->lock);
  g_free (me);
  return NULL;
}

SdParallel *
sd_parallel_new (int n_threads, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (n_threads < 1 || n_threads > SD_PARALLEL_MAX_THREADS) {
    g_set_error (error, SD_ERROR, SD_ERROR_INVALID_ARG,
        "%d threads: expected 1 to %d", n_threads, SD_PARALLEL_MAX_THREADS);
    return NULL;
  }
  SdParallel *p = g_new0 (SdParallel, 1);
  p->n = n_threads;
  g_mutex_init (&p->lock);
  g_cond_init (&p->start);
  g_cond_init (&p->done);
  p->peers = g_new0 (GThread *, MAX (n_threads - 1, 1));
  for (int i = 0; i + 1 < n_threads; i++) {
    Peer *peer = g_new (Peer, 1);
    *peer = (Peer){ p, i + 1 };
    p->peers[i] = g_thread_try_new ("sd-parallel", peer_main, peer, error);
    if (p->peers[i] == NULL) {
      g_free (peer);
      g_prefix_error (error, "starting thread %d of %d: ", i + 2, n_threads);
      sd_parallel_free (p);
      return NULL;
    }
  }
  return p;
}

int
sd_parallel_get_n_threads (const SdParallel *p)
{
  return p ? p->n : 1;
}

void
sd_parallel_run (SdParallel *p, SdParallelFunc func, gpointer data)
{
  if (p == NULL || p->n == 1) {
    func (0, 1, data);
    return;
  }
  g_mutex_lock (&p->lock);
  p->func = func;
  p->data = data;
  p->pending = p->n - 1;
  p->generation++;
  g_cond_broadcast (&p->start);
  g_mutex_unlock (&p->lock);

  func (0, p->n, data);

  g_mutex_lock (&p->lock);
  while (p->pending > 0)
    g_cond_wait (&p->done, &p->lock);
  g_mutex_unlock (&p->lock);
}

void
sd_parallel_free (SdParallel *p)
{
  if (p == NULL)
    return;
  g_mutex_lock (&p->lock);
  p->quit = TRUE;
  g_cond_broadcast (&p->start);
  g_mutex_unlock (&p->lock);
  for (int i = 0; i + 1 < p->n; i++)
    if (p->peers[i] != NULL)
      g_thread_join (p->peers[i]);
  g_free (p->peers);
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->start);
  g_cond_clear (&p->done);
  g_free (p);
}

gboolean
sd_parallel_scratch_new (int n_threads, gsize col_size, gsize part_size,
    float **col, float **parts, GError **error)
{
  const gsize k = n_threads > 1 ? (gsize) (n_threads - 1) : 0;
  *col = g_try_new (float, col_size *k + 1);
  *parts = g_try_new (float, part_size *k + 1);
  if (*col == NULL || *parts == NULL) {
    g_set_error (error, SD_ERROR, SD_ERROR_NOMEM,
        "out of memory for the scratch of %d threads", n_threads);
    g_clear_pointer (col, g_free);
    g_clear_pointer (parts, g_free);
    return FALSE;
  }
  return TRUE;
}

void
sd_parallel_add_parts (
    float *dst, const float *parts, gsize stride, int n_threads, gsize count)
{
  for (int c = 1; c < n_threads; c++) {
    const float *part = parts + (gsize) (c - 1) * stride;
    for (gsize k = 0; k < count; k++)
      dst[k] += part[k];
  }
}
