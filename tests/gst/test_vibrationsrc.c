/* gst-check tests of the vibrationsrc element: caps and timestamps,
 * determinism for a seed, the bearing physics (envelope-spectrum peak at
 * BPFI / BPFO computed from the geometry) and live operation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>

#include <fftw3.h>
#include <math.h>
#include <string.h>

/* CWRU drive-end bearing, SKF 6205-2RS: n balls, ball and pitch diameter
 * (in), contact angle 0. */
#define N_BALLS 9.0
#define BALL_D 0.3126
#define PITCH_D 1.537

typedef struct
{
  GByteArray *data;
  GArray *pts, *dur;
  GstCaps *caps;
} Collected;

static void
on_handoff (GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer user)
{
  Collected *c = user;
  GstMapInfo map;
  GstClockTime pts = GST_BUFFER_PTS (buf), dur = GST_BUFFER_DURATION (buf);

  (void) sink;
  if (c->caps == NULL)
    c->caps = gst_pad_get_current_caps (pad);
  gst_buffer_map (buf, &map, GST_MAP_READ);
  g_byte_array_append (c->data, map.data, (guint) map.size);
  gst_buffer_unmap (buf, &map);
  g_array_append_val (c->pts, pts);
  g_array_append_val (c->dur, dur);
}

/* Runs "vibrationsrc <props> ! <filter> ! fakesink" to EOS; the caller
 * frees the result with collected_free. */
static Collected *
run_pipeline (const gchar *props, const gchar *filter, gboolean sync)
{
  gchar *desc = g_strdup_printf (
      "vibrationsrc %s ! %s%sfakesink name=sink signal-handoffs=true "
      "sync=%s",
      props, filter ? filter : "", filter ? " ! " : "",
      sync ? "true" : "false");
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (desc, &err);
  GstElement *sink;
  GstBus *bus;
  GstMessage *msg;
  Collected *c = g_new0 (Collected, 1);

  fail_unless (pipe != NULL, "%s: %s", desc, err ? err->message : "?");
  c->data = g_byte_array_new ();
  c->pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  c->dur = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), c);
  gst_object_unref (sink);

  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
               != GST_STATE_CHANGE_FAILURE);
  bus = gst_element_get_bus (pipe);
  msg = gst_bus_timed_pop_filtered (
      bus, 30 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "timeout: %s", desc);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_free (desc);
  return c;
}

static void
collected_free (Collected *c)
{
  g_byte_array_unref (c->data);
  g_array_unref (c->pts);
  g_array_unref (c->dur);
  if (c->caps)
    gst_caps_unref (c->caps);
  g_free (c);
}

static gint
caps_rate (GstCaps *caps)
{
  gint rate = 0;
  fail_unless (caps != NULL);
  fail_unless (
      gst_structure_get_int (gst_caps_get_structure (caps, 0), "rate", &rate));
  return rate;
}

/* Buffers are contiguous from the first PTS (0, except for a live source,
 * which basesrc shifts to the running time of its first buffer). */
static void
check_timestamps (Collected *c, gint rate, gint spb, guint n_buffers)
{
  GstClockTime pts0;

  fail_unless_equals_int (c->pts->len, n_buffers);
  fail_unless_equals_uint64 (
      c->data->len, (guint64) n_buffers * spb * sizeof (gfloat));
  pts0 = g_array_index (c->pts, GstClockTime, 0);
  for (guint i = 0; i < c->pts->len; i++) {
    GstClockTime pts = g_array_index (c->pts, GstClockTime, i) - pts0;
    GstClockTime dur = g_array_index (c->dur, GstClockTime, i);
    GstClockTime want
        = gst_util_uint64_scale_int ((guint64) i * spb, GST_SECOND, rate);
    GstClockTime want_end
        = gst_util_uint64_scale_int ((guint64) (i + 1) * spb, GST_SECOND, rate);
    fail_unless_equals_uint64 (pts, want);
    fail_unless_equals_uint64 (dur, want_end - want);
  }
}

GST_START_TEST (test_caps_and_timestamps)
{
  Collected *c;

  /* Default: 48 kHz, 1024 samples a buffer. */
  c = run_pipeline ("num-buffers=7", NULL, FALSE);
  fail_unless_equals_uint64 (g_array_index (c->pts, GstClockTime, 0), 0);
  fail_unless_equals_int (caps_rate (c->caps), 48000);
  fail_unless (gst_caps_is_fixed (c->caps));
  check_timestamps (c, 48000, 1024, 7);
  collected_free (c);

  /* The rate property fixates the caps. */
  c = run_pipeline (
      "rate=16000 samplesperbuffer=100 num-buffers=5", NULL, FALSE);
  fail_unless_equals_int (caps_rate (c->caps), 16000);
  check_timestamps (c, 16000, 100, 5);
  collected_free (c);

  /* Downstream may force another rate (44100 cannot be split evenly into
   * ns: the durations follow the sample count). */
  c = run_pipeline ("samplesperbuffer=441 num-buffers=4 fault=outer-race",
      "audio/x-raw,rate=44100", FALSE);
  fail_unless_equals_int (caps_rate (c->caps), 44100);
  check_timestamps (c, 44100, 441, 4);
  collected_free (c);

  c = run_pipeline ("samplesperbuffer=333 num-buffers=3", NULL, FALSE);
  check_timestamps (c, 48000, 333, 3);
  collected_free (c);
}

GST_END_TEST;

GST_START_TEST (test_determinism)
{
  const gchar *faults[] = { "none", "inner-race", "outer-race", "ball" };

  for (guint f = 0; f < G_N_ELEMENTS (faults); f++) {
    gchar *p1 = g_strdup_printf ("fault=%s seed=42 num-buffers=20", faults[f]);
    gchar *p2 = g_strdup_printf ("fault=%s seed=43 num-buffers=20", faults[f]);
    Collected *a = run_pipeline (p1, NULL, FALSE);
    Collected *b = run_pipeline (p1, NULL, FALSE);
    Collected *d = run_pipeline (p2, NULL, FALSE);

    fail_unless_equals_int (a->data->len, b->data->len);
    fail_unless (memcmp (a->data->data, b->data->data, a->data->len) == 0,
        "fault=%s: same seed, different output", faults[f]);
    fail_unless_equals_int (a->data->len, d->data->len);
    fail_unless (memcmp (a->data->data, d->data->data, a->data->len) != 0,
        "fault=%s: different seeds, same output", faults[f]);
    /* Finite, non-silent samples. */
    {
      const gfloat *x = (const gfloat *) a->data->data;
      guint n = a->data->len / sizeof (gfloat);
      gdouble ss = 0.0;
      for (guint i = 0; i < n; i++) {
        fail_unless (isfinite (x[i]));
        ss += (gdouble) x[i] * x[i];
      }
      fail_unless (ss > 0.0);
    }
    collected_free (a);
    collected_free (b);
    collected_free (d);
    g_free (p1);
    g_free (p2);
  }
}

GST_END_TEST;

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return (x > y) - (x < y);
}

/* Envelope spectrum, as in bearing diagnostics: band-pass 2-5 kHz around
 * the resonance by an FFT mask, analytic signal (Hilbert) magnitude, mean
 * removed, Hann window, FFT, and a 2nd-order low-pass of the envelope at
 * 250 Hz (Butterworth magnitude applied to the spectrum). Every line is
 * measured by its power summed over +-1 Hz (robust to the bin position and
 * to the slip broadening). Returns the frequency of the strongest line in
 * [80, 500] Hz (above f_r and 2 f_r, which the load-zone modulation puts
 * into the envelope) and its ratio to the median in that band. */
static gdouble
envelope_peak (const gfloat *x, gint n, gint rate, gdouble *prominence)
{
  fftwf_complex *spec = fftwf_malloc (sizeof (fftwf_complex) * n);
  fftwf_complex *ana = fftwf_malloc (sizeof (fftwf_complex) * n);
  fftwf_complex *espec = fftwf_malloc (sizeof (fftwf_complex) * (n / 2 + 1));
  gfloat *env = fftwf_malloc (sizeof (gfloat) * n);
  gdouble *pw = g_new0 (gdouble, n / 2 + 1);
  fftwf_plan p;
  gdouble mean = 0.0, best = 0.0, best_f = 0.0, df = (gdouble) rate / n;
  gint half = (gint) ceil (1.0 / df);
  GArray *mags = g_array_new (FALSE, FALSE, sizeof (gdouble));

  for (gint i = 0; i < n; i++) {
    ana[i][0] = x[i];
    ana[i][1] = 0.0f;
  }
  p = fftwf_plan_dft_1d (n, ana, spec, FFTW_FORWARD, FFTW_ESTIMATE);
  fftwf_execute (p);
  fftwf_destroy_plan (p);
  for (gint k = 0; k < n; k++) {
    gdouble f = k * df;
    /* Keep the positive band, doubled; zero the rest. */
    gfloat g = (k > 0 && k < n / 2 && f >= 2000.0 && f <= 5000.0) ? 2.0f : 0.0f;
    spec[k][0] *= g;
    spec[k][1] *= g;
  }
  p = fftwf_plan_dft_1d (n, spec, ana, FFTW_BACKWARD, FFTW_ESTIMATE);
  fftwf_execute (p);
  fftwf_destroy_plan (p);
  for (gint i = 0; i < n; i++) {
    env[i] = hypotf (ana[i][0], ana[i][1]) / n;
    mean += env[i];
  }
  mean /= n;
  for (gint i = 0; i < n; i++)
    env[i] = (gfloat) ((env[i] - mean)
                       * (0.5 - 0.5 * cos (2.0 * G_PI * i / (n - 1))));
  p = fftwf_plan_dft_r2c_1d (n, env, espec, FFTW_ESTIMATE);
  fftwf_execute (p);
  fftwf_destroy_plan (p);
  for (gint k = 0; k <= n / 2; k++) {
    gdouble f = k * df / 250.0;
    pw[k] = (espec[k][0] * (gdouble) espec[k][0]
                + espec[k][1] * (gdouble) espec[k][1])
            / (1.0 + f * f * f * f);
  }
  for (gint k = half; k <= n / 2 - half; k++) {
    gdouble f = k * df, m = 0.0;
    if (f < 80.0 || f > 500.0)
      continue;
    for (gint j = -half; j <= half; j++)
      m += pw[k + j];
    m = sqrt (m);
    g_array_append_val (mags, m);
    if (m > best) {
      best = m;
      best_f = f;
    }
  }
  g_array_sort (mags, cmp_double);
  *prominence = best / g_array_index (mags, gdouble, mags->len / 2);
  g_array_unref (mags);
  g_free (pw);
  fftwf_free (spec);
  fftwf_free (ana);
  fftwf_free (espec);
  fftwf_free (env);
  return best_f;
}

/* Defect frequencies from the geometry (contact angle 0). */
static gdouble
bpfi (gdouble rpm)
{
  return N_BALLS / 2.0 * rpm / 60.0 * (1.0 + BALL_D / PITCH_D);
}

static gdouble
bpfo (gdouble rpm)
{
  return N_BALLS / 2.0 * rpm / 60.0 * (1.0 - BALL_D / PITCH_D);
}

#define SPECTRUM_N 131072 /* 2.7 s at 48 kHz */

static gdouble
fault_envelope_peak (
    const gchar *fault, gdouble rpm, guint64 seed, gdouble *prominence)
{
  gchar *props = g_strdup_printf ("fault=%s rpm=%g seed=%" G_GUINT64_FORMAT
                                  " samplesperbuffer=4096 num-buffers=%d",
      fault, rpm, seed, SPECTRUM_N / 4096);
  Collected *c = run_pipeline (props, NULL, FALSE);
  gdouble f;

  fail_unless_equals_int (c->data->len, SPECTRUM_N * sizeof (gfloat));
  f = envelope_peak (
      (const gfloat *) c->data->data, SPECTRUM_N, 48000, prominence);
  GST_INFO ("fault=%s rpm=%g: envelope peak %.2f Hz (%.1f x median)", fault,
      rpm, f, *prominence);
  collected_free (c);
  g_free (props);
  return f;
}

static gboolean
near (gdouble f, gdouble target)
{
  return fabs (f - target) <= 0.03 * target;
}

GST_START_TEST (test_envelope_spectrum)
{
  const gdouble rpms[] = { 1796.0, 1500.0 };

  for (guint r = 0; r < G_N_ELEMENTS (rpms); r++) {
    gdouble rpm = rpms[r], prom, f;

    f = fault_envelope_peak ("inner-race", rpm, 1, &prom);
    fail_unless (near (f, bpfi (rpm)),
        "inner-race at %g rpm: peak %.2f Hz, BPFI %.2f Hz", rpm, f, bpfi (rpm));
    fail_unless (prom > 5.0, "inner-race: weak peak (%.1f)", prom);

    f = fault_envelope_peak ("outer-race", rpm, 2, &prom);
    fail_unless (near (f, bpfo (rpm)),
        "outer-race at %g rpm: peak %.2f Hz, BPFO %.2f Hz", rpm, f, bpfo (rpm));
    fail_unless (prom > 5.0, "outer-race: weak peak (%.1f)", prom);
  }

  /* Healthy: no defect line. The envelope spectrum of the noise is flat;
   * its largest line (about 3 x median against 28-50 x for a fault) falls
   * anywhere in the band, a defect frequency included (seed 2 puts it at
   * 106.9 Hz), so "no such peak" means no prominent line, and none at a
   * defect frequency. */
  for (guint64 seed = 1; seed <= 3; seed++) {
    gdouble prom, f = fault_envelope_peak ("none", 1796.0, seed, &prom);
    fail_if (
        (near (f, bpfi (1796.0)) || near (f, bpfo (1796.0))) && prom >= 5.0,
        "none (seed %" G_GUINT64_FORMAT "): peak %.2f Hz at a defect "
        "frequency",
        seed, f);
    fail_unless (prom < 5.0, "none: prominent envelope line (%.1f)", prom);
  }

  /* severity=0 turns the impulses off. */
  {
    gchar *props
        = g_strdup_printf ("fault=inner-race severity=0 seed=5 num-buffers=10");
    gchar *props0 = g_strdup_printf ("fault=none seed=5 num-buffers=10");
    Collected *a = run_pipeline (props, NULL, FALSE);
    Collected *b = run_pipeline (props0, NULL, FALSE);
    const gfloat *x = (const gfloat *) a->data->data;
    guint n = a->data->len / sizeof (gfloat);
    gdouble ss = 0.0;
    for (guint i = 0; i < n; i++)
      ss += (gdouble) x[i] * x[i];
    /* about the healthy RMS (0.073 g) */
    fail_unless (
        sqrt (ss / n) > 0.05 && sqrt (ss / n) < 0.1, "rms %g", sqrt (ss / n));
    collected_free (a);
    collected_free (b);
    g_free (props);
    g_free (props0);
  }
}

GST_END_TEST;

GST_START_TEST (test_live)
{
  gint64 t0 = g_get_monotonic_time ();
  gdouble secs;
  /* 10 buffers of 50 ms: 0.5 s of signal. */
  Collected *c = run_pipeline (
      "is-live=true samplesperbuffer=2400 num-buffers=10 fault=ball", NULL,
      TRUE);

  secs = (g_get_monotonic_time () - t0) / 1e6;
  check_timestamps (c, 48000, 2400, 10);
  fail_unless (secs > 0.35 && secs < 5.0, "live run took %.3f s", secs);
  collected_free (c);
}

GST_END_TEST;

static Suite *
vibrationsrc_suite (void)
{
  Suite *s = suite_create ("vibrationsrc");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps_and_timestamps);
  tcase_add_test (tc, test_determinism);
  tcase_add_test (tc, test_envelope_spectrum);
  tcase_add_test (tc, test_live);
  return s;
}

GST_CHECK_MAIN (vibrationsrc);
