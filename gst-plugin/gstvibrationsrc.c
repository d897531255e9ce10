/* GStreamer vibrationsrc element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-vibrationsrc
 * @title: vibrationsrc
 * @short_description: synthesize rolling-element-bearing vibration (healthy
 *   or with an inner-race, outer-race or ball defect), calibrated to the
 *   CWRU recordings
 *
 * vibrationsrc generates the acceleration signal (in g) of the drive-end
 * bearing of the Case Western Reserve University (CWRU) bearing test rig,
 * as mono F32LE audio: an SKF 6205-2RS JEM (n = 9 balls, ball diameter
 * d = 0.3126 in, pitch diameter D = 1.537 in, contact angle a = 0) at
 * 1796 rpm, 0 HP. With the default properties every fault type reproduces
 * the measurable statistics of its 48 kHz drive-end recording: 097
 * (healthy), 109 (inner race), 135 (outer race, 6 o'clock) and 122 (ball),
 * the last three with a 0.007 in. (0.18 mm) defect. Matched are the RMS,
 * the kurtosis, the resonance frequency and bandwidth, the energy in five
 * bands from 0 to 24 kHz, the levels of the shaft harmonics, of the lines
 * of the rig and of the broadband background, and the envelope spectrum
 * (docs/vibrationsrc.md has the side-by-side table and how the embedded
 * CWRU model classifies the result; scripts/calibrate-vibrationsrc.py
 * measures, fits and compares).
 *
 * ## Signal model
 *
 * x(t) = shaft(t) + lines(t) + background(t) + severity fault(t), with
 *
 * - shaft(t): the rotation frequency f_r = rpm / 60 and its harmonics 2-6,
 *   with the amplitudes measured in 097: 0.4, 0.4, 0.5, 3.8, 2.1 and 0.6 mg
 *   (random phases drawn from `seed`).
 * - lines(t), with `rig-tones` (default): narrow-band lines of the test rig
 *   that appear in every recording and are not bearing kinematics: a line
 *   at 4144 Hz with sidebands at +-120 and +240 Hz (twice the 60 Hz mains;
 *   4025, 4264, 4384 Hz) and one at 8409 Hz, at the amplitudes of the
 *   recording of the fault type (097: 12, 60, 41, 20 and 21 mg, 59 % of its
 *   power; 109: up to 158 mg; 135 and 122: 2-21 mg).
 * - background(t): the broadband response of the rig, a white floor
 *   (-104 dB re 1 g^2/Hz) plus 13 resonances (586 Hz to 19.7 kHz), each a
 *   two-pole resonator (below) driven by its own white Gaussian noise,
 *   fitted to the power spectrum of 097 with its lines removed (2.1 dB rms
 *   error from 100 Hz to 21 kHz). `noise` is its standard deviation at
 *   48 kHz (default 0.0453 g, the fitted value; the old default 0.065 g
 *   stood in for the lines too). The ball recording's background is lower
 *   (x0.073 in power: 122 has 3-10 dB less energy above 5 kHz than 097).
 * - fault(t): a train of impulses at the defect frequency, each ringing a
 *   sum of damped sinusoids h(t) = sum_m c_m exp (-t / tau_m)
 *   sin (2 pi f_m t), plus a random (white Gaussian) excitation of the same
 *   h. The terms of h (15 for the inner race, 0.6-8.2 kHz; 11 for the
 *   outer race, 0.5-8.8 kHz; 10 for the ball, 1.0-4.1 kHz; tau_m
 *   0.2-10 ms) are fitted to the power spectrum of the recording above the
 *   background; their amplitudes are signed, so neighbouring terms also
 *   shape the flanks of a resonance and the rise of a ring-down (they are
 *   a fitted transfer function, not a modal analysis). The resulting
 *   resonance (peak of the smoothed spectrum, -3 dB bandwidth B, ring-down
 *   1 / (pi B)) is the recording's: inner race 2.58 kHz, 0.65 ms
 *   (109: 2.63 kHz, 0.56 ms); outer race 3.38-3.42 kHz, 1.26 ms (135:
 *   3.42 kHz, 1.22 ms); ball 2.91 kHz, 0.92 ms (122: 2.86 kHz, 1.01 ms).
 *   The real inner and outer races ring at different modes of the
 *   structure, and so do these. The previous single 3.5 kHz resonance with
 *   a 0.4 ms time constant rang far too briefly.
 *   - Impulse amplitude: 1 + m1 cos (2 pi f_r t) + m2 cos (4 pi f_r t) +
 *     mc cos (2 pi FTF t), times 1 + s g (g standard normal clipped at
 *     +-2). The modulation depths are measured on the envelope peaks of the
 *     impulses of the recordings: inner race m1 = 0.09, m2 = 0.32 (at 0 HP
 *     there is hardly a load zone; the envelope varies at 2 f_r), outer
 *     race 0.22 and 0.13 (the fixed defect feels the shaft's once- and
 *     twice-per-revolution load), ball mc = 0.07 (the cage carries the
 *     ball round); s = 0.10, 0.05, 0.10 (the modulation explains most of
 *     the measured spread of the impulse envelopes: coefficient of
 *     variation 0.27 in 109, 0.23 in 135; 0.25 and 0.21 here).
 *   - Interval: the mean period 1 / f_defect varying at random (slip,
 *     Gaussian, clipped at 3 sd) by 0.6 % for the outer race (measured: the
 *     impulse times of 135 agree with a constant period to 0.58 %) and 1 %
 *     for the inner race and the ball (not measurable in 109 and 122; 1-2 %
 *     is typical).
 *   - Share of the fault energy from the impulses: 78 % (inner race), 83 %
 *     (outer race), 11 % (ball), chosen by bisection so that the kurtosis
 *     of the synthesis is the recording's (3.03, 3.74, 0.15); the random
 *     part stands for what varies from impact to impact (load path,
 *     contact) and for roughness. A single impulse response rings for
 *     about 3 tau_m, so pure impulses would be far more impulsive than the
 *     recordings (the previous version: kurtosis 12-15).
 *   - Level: the RMS of the recording (0.583, 1.258, 0.146 g). `severity`
 *     multiplies fault(t) (impulses and random part): 1 (default) is the
 *     0.007 in. defect at 0 HP, 0 leaves the background and the lines.
 *
 * The defect frequencies follow from the geometry (r = d / D cos a):
 *   - BPFO = n / 2 f_r (1 - r), about 3.585 f_r (107.3 Hz at 1796 rpm);
 *   - BPFI = n / 2 f_r (1 + r), about 5.415 f_r (162.1 Hz);
 *   - BSF = D / (2 d) f_r (1 - r^2), about 2.357 f_r (70.5 Hz), and the
 *     cage frequency FTF = f_r / 2 (1 - r), about 0.398 f_r (11.9 Hz).
 * The envelope spectrum (2-5 kHz) of the synthesis peaks at BPFI and BPFO,
 * as 109 and 135 do, and at BSF for the ball (122 itself shows no ball
 * line; its weak envelope peak is at BPFO), and at 120 Hz (the rig lines)
 * for the healthy bearing, as 097 does.
 *
 * Resonator: y[k] = 2 p cos (w) y[k-1] - p^2 y[k-2] + sin (w) x[k] with
 * w = 2 pi f / rate and p = exp (-1 / (tau rate)); an input of A at sample
 * 0 gives A p^k sin (w (k + 1)). The calibration is at 48 kHz; at another
 * rate the resonances keep their frequencies and time constants, the noise
 * inputs are scaled so that the power spectral densities stay the same,
 * and resonances and lines at or above 0.45 times the rate are left out.
 * A different `rpm` moves the shaft harmonics and the defect frequencies,
 * not the resonances, the rig lines or the levels.
 *
 * The output depends only on the properties and `seed`: two runs with the
 * same settings are sample-identical (the random generator is
 * xoshiro256** seeded through splitmix64). The rate is negotiated: the
 * caps are fixated to `rate`, and a downstream restriction (a capsfilter)
 * may choose another rate; the synthesis then runs at the negotiated rate.
 *
 * Buffers hold `samplesperbuffer` samples; PTS and duration come from the
 * sample count (the first buffer starts at 0), offsets are sample offsets.
 * `num-buffers` ends the stream with EOS. With `is-live` the element is a
 * live source, like audiotestsrc: every buffer waits on the pipeline clock
 * for its timestamp, so data comes at the real-time rate. The element does
 * not seek.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m vibrationsrc fault=inner-race num-buffers=470 ! \
 *     seqdream ! fakesink
 * ]| Classify ten seconds of a synthetic inner-race fault with the
 * embedded CWRU model (one seqdream message per window).
 * |[
 * gst-launch-1.0 vibrationsrc fault=outer-race severity=0.1 is-live=true ! \
 *     audioconvert ! autoaudiosink
 * ]| Listen to an outer-race fault (at severity 1 it peaks at about 7 g,
 * far beyond the full scale of 1).
 * |[
 * gst-launch-1.0 vibrationsrc fault=ball rig-tones=false seed=7 \
 *     num-buffers=235 ! wavenc ! filesink location=ball.wav
 * ]| Write five seconds of a ball fault without the lines of the rig to a
 * WAV file.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstvibrationsrc.h"

#include <math.h>
#include <seqdream/bearing.h>

GST_DEBUG_CATEGORY_STATIC (gst_vibration_src_debug);
#define GST_CAT_DEFAULT gst_vibration_src_debug

/* The bearing: the CWRU drive-end bearing, SKF 6205-2RS JEM. */
static const SdBearing *const bearing = &sd_bearing_skf_6205;

/* The calibration below was measured at this rate; noise inputs scale with
 * it so that power spectral densities do not depend on the rate. */
#define CALIBRATION_RATE 48000.0
/* Resonances at or above this fraction of the rate are left out. */
#define MAX_FREQ_FRACTION 0.45

/* ---- Calibration: CWRU drive end, 0 HP, 1796 rpm, 0.007 in. faults ----
 * Generated by scripts/calibrate-vibrationsrc.py --fit (docs/vibrationsrc.md
 * explains every number). */

typedef struct
{
  gdouble freq; /* Hz */
  gdouble tau;  /* s: ring-down time constant, 1 / (pi bandwidth) */
  gdouble amp;  /* background: std of the white input at 48 kHz;
                 * fault: amplitude (g) of the damped sine per impulse */
} Mode;

#define N_HARMONICS 6
#define N_LINES 5
#define DEFAULT_NOISE 0.0453
#define FLOOR_STD 0.000988

/* Shaft harmonics 1-6 x f_r (g). */
static const double shaft_amp[N_HARMONICS]
    = { 0.0004, 0.0004, 0.0005, 0.0038, 0.0021, 0.0006 };

/* Rig lines (Hz). */
static const double rig_line_hz[N_LINES]
    = { 4024.7, 4144.4, 4264.2, 4383.9, 8408.6 };

/* Background modes: frequency, time constant, input std at 48 kHz. */
static const Mode bg_modes[] = {
  { 585.8, 0.9320e-3, 0.009462 },
  { 1432.1, 20.0000e-3, 0.001099 },
  { 2300.0, 0.0500e-3, 0.018165 },
  { 2729.4, 1.4520e-3, 0.003348 },
  { 3244.4, 2.1048e-3, 0.002032 },
  { 4179.8, 1.0070e-3, 0.004586 },
  { 5364.0, 1.7745e-3, 0.001332 },
  { 6080.1, 4.3939e-3, 0.000385 },
  { 6713.5, 6.5797e-3, 0.000214 },
  { 8251.7, 1.9356e-3, 0.000795 },
  { 12971.1, 0.3093e-3, 0.000628 },
  { 11833.4, 3.1763e-3, 0.000141 },
  { 19679.8, 1.2355e-3, 0.000434 },
};

/* inner-race: frequency, time constant, amplitude (g) per impulse. */
static const Mode inner_race_modes[] = {
  { 620.0, 4.1309e-3, -0.30745 },
  { 900.0, 0.2000e-3, -0.72033 },
  { 1265.0, 0.2893e-3, 4.12474 },
  { 1247.0, 1.0024e-3, -1.44640 },
  { 1441.9, 2.5256e-3, -0.34446 },
  { 1485.0, 0.2000e-3, -2.08081 },
  { 1985.0, 4.5392e-3, 0.15004 },
  { 2563.8, 1.2738e-3, 1.29272 },
  { 2882.0, 2.7294e-3, -0.37030 },
  { 2917.5, 4.1051e-3, -0.26714 },
  { 3386.1, 0.8315e-3, 0.93411 },
  { 4106.2, 0.6893e-3, -1.20064 },
  { 4532.0, 5.5931e-3, -0.12003 },
  { 7066.1, 1.1054e-3, 0.11383 },
  { 8185.2, 1.0992e-3, -0.17677 },
};

/* outer-race: frequency, time constant, amplitude (g) per impulse. */
static const Mode outer_race_modes[] = {
  { 528.0, 0.2000e-3, -0.58181 },
  { 1540.0, 0.2000e-3, 1.07708 },
  { 1746.0, 10.0000e-3, -0.03904 },
  { 2675.0, 2.0045e-3, 1.19650 },
  { 2535.0, 1.5321e-3, -1.12922 },
  { 2810.8, 2.6312e-3, 1.63039 },
  { 3674.0, 0.6147e-3, 1.05184 },
  { 3355.7, 4.1254e-3, -1.14591 },
  { 3438.7, 3.0948e-3, -2.63851 },
  { 6071.1, 0.8791e-3, -0.07952 },
  { 8800.0, 0.2000e-3, 0.15447 },
};

/* ball: frequency, time constant, amplitude (g) per impulse. */
static const Mode ball_modes[] = {
  { 990.0, 0.2000e-3, 0.24510 },
  { 1435.9, 10.0000e-3, -0.01721 },
  { 1755.0, 0.2993e-3, -0.19147 },
  { 2250.0, 0.2000e-3, 0.60390 },
  { 2882.0, 0.2603e-3, -1.60324 },
  { 2884.3, 0.8368e-3, 0.67082 },
  { 3245.0, 0.2333e-3, 0.87819 },
  { 3252.7, 2.0209e-3, 0.12359 },
  { 3417.2, 0.7383e-3, -0.32937 },
  { 4050.0, 0.2000e-3, -0.09307 },
};

typedef struct
{
  const Mode *modes;
  guint n_modes;
  gdouble m1, m2, mc; /* impulse modulation depth at f_r, 2 f_r, FTF */
  gdouble spread;     /* impulse-to-impulse amplitude variation (sd) */
  gdouble jitter;     /* inter-impulse interval variation (sd): slip */
  gdouble random;     /* random excitation of the fault modes (sd per
                       * sample at 48 kHz, in impulses) */
  gdouble bg_scale;   /* power of the background relative to 097 */
  gdouble lines[N_LINES];
} Calibration;

static const Calibration cwru_0_007[] = {
  /* none */ { NULL, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0,
      { 0.0115, 0.0596, 0.0410, 0.0201, 0.0213 } },
  /* inner-race (q = 0.778) */
  { inner_race_modes, G_N_ELEMENTS (inner_race_modes), 0.09, 0.32, 0.00, 0.10,
      0.010, 0.03258, 1.0000, { 0.0831, 0.1577, 0.1023, 0.0327, 0.0309 } },
  /* outer-race (q = 0.833) */
  { outer_race_modes, G_N_ELEMENTS (outer_race_modes), 0.22, 0.13, 0.00, 0.05,
      0.006, 0.02183, 1.0000, { 0.0119, 0.0205, 0.0071, 0.0054, 0.0096 } },
  /* ball (q = 0.114) */
  { ball_modes, G_N_ELEMENTS (ball_modes), 0.00, 0.00, 0.07, 0.10, 0.010,
      0.10690, 0.0726, { 0.0019, 0.0151, 0.0089, 0.0042, 0.0080 } },
};

enum
{
  PROP_0,
  PROP_RATE,
  PROP_RPM,
  PROP_FAULT,
  PROP_SEVERITY,
  PROP_NOISE,
  PROP_SEED,
  PROP_SAMPLES_PER_BUFFER,
  PROP_IS_LIVE,
  PROP_RIG_TONES,
};

#define DEFAULT_RATE 48000
#define DEFAULT_RPM 1796.0
#define DEFAULT_FAULT GST_VIBRATION_SRC_FAULT_NONE
#define DEFAULT_SEVERITY 1.0
#define DEFAULT_SEED 0
#define DEFAULT_SAMPLES_PER_BUFFER 1024
#define DEFAULT_IS_LIVE FALSE
#define DEFAULT_RIG_TONES TRUE

#define MAX_RESONATORS 32

static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format = (string) F32LE, "
                         "layout = (string) interleaved, "
                         "rate = (int) [ 1, MAX ], channels = (int) 1"));

/* Two-pole resonator y[k] = a1 y[k-1] + a2 y[k-2] + gain x[k]. */
typedef struct
{
  gdouble a1, a2, gain;
  gdouble y1, y2;
} Resonator;

struct _GstVibrationSrc
{
  GstBaseSrc parent;

  /* properties, protected by the object lock */
  gint rate;
  gdouble rpm;
  GstVibrationSrcFault fault;
  gdouble severity;
  gdouble noise;
  guint64 seed;
  gint samples_per_buffer;
  gboolean rig_tones;

  /* streaming state */
  gint caps_rate; /* negotiated rate, 0 before caps */
  gboolean need_init;
  guint64 next_sample;
  guint64 rng[4];
  gboolean have_gauss;
  gdouble gauss;
  gdouble harm_phase[N_HARMONICS]; /* in cycles */
  gdouble line_phase[N_LINES];     /* in cycles */
  gdouble next_impulse;            /* sample index (fractional) */
  Resonator bg[MAX_RESONATORS];    /* noise-driven background modes */
  guint n_bg;
  Resonator fm[MAX_RESONATORS]; /* impulse-driven fault modes */
  guint n_fm;
  gdouble floor_std;  /* white floor at the negotiated rate */
  gdouble random_std; /* random fault excitation at the negotiated rate */
};

G_DEFINE_TYPE (GstVibrationSrc, gst_vibration_src, GST_TYPE_BASE_SRC);
GST_ELEMENT_REGISTER_DEFINE (
    vibrationsrc, "vibrationsrc", GST_RANK_NONE, GST_TYPE_VIBRATION_SRC);

GType
gst_vibration_src_fault_get_type (void)
{
  static gsize type = 0;

  if (g_once_init_enter (&type)) {
    static const GEnumValue values[] = {
      { GST_VIBRATION_SRC_FAULT_NONE, "Healthy bearing", "none" },
      { GST_VIBRATION_SRC_FAULT_INNER_RACE, "Inner-race defect (BPFI)",
          "inner-race" },
      { GST_VIBRATION_SRC_FAULT_OUTER_RACE, "Outer-race defect (BPFO)",
          "outer-race" },
      { GST_VIBRATION_SRC_FAULT_BALL, "Ball defect (BSF)", "ball" },
      { 0, NULL, NULL },
    };
    GType t = g_enum_register_static ("GstVibrationSrcFault", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* Random numbers: xoshiro256** seeded with splitmix64. */
static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static guint64
rng_next (guint64 s[4])
{
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

/* Uniform in (0, 1). */
static gdouble
rng_uniform (GstVibrationSrc *self)
{
  return ((rng_next (self->rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal (Box-Muller, both values used). */
static gdouble
rng_gauss (GstVibrationSrc *self)
{
  gdouble u1, u2, r;

  if (self->have_gauss) {
    self->have_gauss = FALSE;
    return self->gauss;
  }
  u1 = rng_uniform (self);
  u2 = rng_uniform (self);
  r = sqrt (-2.0 * log (u1));
  self->gauss = r * sin (2.0 * G_PI * u2);
  self->have_gauss = TRUE;
  return r * cos (2.0 * G_PI * u2);
}

/* Defect frequency of @fault as a multiple of the shaft frequency, from the
 * bearing geometry; 0 for none. */
static gdouble
defect_order (GstVibrationSrcFault fault)
{
  const SdBearingFrequencies orders = sd_bearing_frequencies (bearing, 1.0);

  switch (fault) {
    case GST_VIBRATION_SRC_FAULT_INNER_RACE:
      return orders.bpfi;
    case GST_VIBRATION_SRC_FAULT_OUTER_RACE:
      return orders.bpfo;
    case GST_VIBRATION_SRC_FAULT_BALL:
      return orders.bsf;
    case GST_VIBRATION_SRC_FAULT_NONE:
    default:
      return 0.0;
  }
}

/* Cage frequency FTF as a multiple of the shaft frequency. */
static gdouble
cage_order (void)
{
  return sd_bearing_frequencies (bearing, 1.0).ftf;
}

static const Calibration *
calibration (GstVibrationSrcFault fault)
{
  if ((guint) fault >= G_N_ELEMENTS (cwru_0_007))
    fault = GST_VIBRATION_SRC_FAULT_NONE;
  return &cwru_0_007[fault];
}

/* Sets up @res for a mode at @freq Hz ringing with time constant @tau s:
 * an input of @amp at sample 0 gives amp p^k sin (w (k + 1)), a damped sine
 * of amplitude @amp (p = exp (-1 / (tau rate)), w = 2 pi freq / rate). */
static void
resonator_init (
    Resonator *res, gdouble freq, gdouble tau, gdouble amp, gint rate)
{
  const gdouble w = 2.0 * G_PI * freq / rate;
  const gdouble p = exp (-1.0 / (tau * rate));

  res->a1 = 2.0 * p * cos (w);
  res->a2 = -p * p;
  res->gain = amp * sin (w);
  res->y1 = res->y2 = 0.0;
}

static inline gdouble
resonator_step (Resonator *res, gdouble in)
{
  gdouble y = res->a1 * res->y1 + res->a2 * res->y2 + res->gain * in;
  res->y2 = res->y1;
  res->y1 = y;
  return y;
}

static void
gst_vibration_src_init_synth (GstVibrationSrc *self, gdouble rpm,
    GstVibrationSrcFault fault, guint64 seed, gint rate)
{
  const Calibration *cal = calibration (fault);
  const gdouble fmax = MAX_FREQ_FRACTION * rate;
  /* White noise into a resonator: its PSD grows with the rate (the peak
   * gain grows with it), so the input shrinks with sqrt (rate). */
  const gdouble in_scale = sqrt (CALIBRATION_RATE / rate);
  const gdouble bg = sqrt (cal->bg_scale);
  guint64 sm = seed;
  gdouble order = defect_order (fault);
  guint i;

  for (i = 0; i < 4; i++)
    self->rng[i] = splitmix64 (&sm);
  self->have_gauss = FALSE;
  for (i = 0; i < N_HARMONICS; i++)
    self->harm_phase[i] = rng_uniform (self);
  for (i = 0; i < N_LINES; i++)
    self->line_phase[i] = rng_uniform (self);

  self->n_bg = 0;
  for (i = 0; i < G_N_ELEMENTS (bg_modes); i++) {
    const Mode *m = &bg_modes[i];
    if (m->freq >= fmax || self->n_bg >= MAX_RESONATORS)
      continue;
    resonator_init (
        &self->bg[self->n_bg++], m->freq, m->tau, m->amp * in_scale * bg, rate);
  }
  self->floor_std = FLOOR_STD * bg / in_scale;

  self->n_fm = 0;
  for (i = 0; i < cal->n_modes; i++) {
    const Mode *m = &cal->modes[i];
    if (m->freq >= fmax || self->n_fm >= MAX_RESONATORS)
      continue;
    resonator_init (&self->fm[self->n_fm++], m->freq, m->tau, m->amp, rate);
  }
  self->random_std = cal->random * in_scale;

  self->next_impulse = 0.0;
  if (order > 0.0 && rpm > 0.0)
    self->next_impulse = rng_uniform (self) * rate / (order * rpm / 60.0);
  self->need_init = FALSE;
}

static void
gst_vibration_src_fill (GstVibrationSrc *self, gfloat *out, gint n, gint rate,
    gdouble rpm, GstVibrationSrcFault fault, gdouble severity, gdouble noise,
    gboolean rig_tones)
{
  const Calibration *cal = calibration (fault);
  const gdouble fr = rpm / 60.0;
  const gdouble fc = cage_order () * fr;
  const gdouble order = defect_order (fault);
  const gdouble period = order > 0.0 && fr > 0.0 ? rate / (order * fr) : 0.0;
  const gdouble nscale = noise / DEFAULT_NOISE;
  const gdouble fmax = MAX_FREQ_FRACTION * rate;
  gint k;
  guint h, i;

  for (k = 0; k < n; k++) {
    guint64 idx = self->next_sample + (guint64) k;
    gdouble t = (gdouble) idx / rate;
    gdouble x = 0.0, u = 0.0;

    for (h = 0; h < N_HARMONICS; h++)
      x += shaft_amp[h]
           * cos (2.0 * G_PI
                  * (fmod ((h + 1) * fr * t, 1.0) + self->harm_phase[h]));
    if (rig_tones) {
      for (i = 0; i < N_LINES; i++)
        if (rig_line_hz[i] < fmax && cal->lines[i] > 0.0)
          x += cal->lines[i]
               * cos (2.0 * G_PI
                      * (fmod (rig_line_hz[i] * t, 1.0) + self->line_phase[i]));
    }

    /* Background: every mode has its own white input, plus the floor. */
    if (nscale > 0.0) {
      for (i = 0; i < self->n_bg; i++)
        x += resonator_step (&self->bg[i], nscale * rng_gauss (self));
      x += nscale * self->floor_std * rng_gauss (self);
    }

    /* Fault: impulses and random excitation into the fault modes. */
    if (period > 0.0) {
      while (self->next_impulse < (gdouble) idx + 0.5) {
        gdouble a = 1.0 + cal->m1 * cos (2.0 * G_PI * fmod (fr * t, 1.0))
                    + cal->m2 * cos (2.0 * G_PI * fmod (2.0 * fr * t, 1.0))
                    + cal->mc * cos (2.0 * G_PI * fmod (fc * t, 1.0));
        u += a * (1.0 + cal->spread * CLAMP (rng_gauss (self), -2.0, 2.0));
        self->next_impulse
            += period
               * (1.0 + cal->jitter * CLAMP (rng_gauss (self), -3.0, 3.0));
      }
      if (self->random_std > 0.0)
        u += self->random_std * rng_gauss (self);
      u *= severity;
      for (i = 0; i < self->n_fm; i++)
        x += resonator_step (&self->fm[i], u);
    }
    out[k] = (gfloat) x;
  }
}

static GstFlowReturn
gst_vibration_src_create (
    GstBaseSrc *bsrc, guint64 offset, guint length, GstBuffer **buf)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (bsrc);
  gint rate, spb;
  gdouble rpm, severity, noise;
  gboolean rig_tones;
  GstVibrationSrcFault fault;
  guint64 seed;
  GstBuffer *buffer;
  GstMapInfo map;
  GstClockTime pts, end;

  (void) offset;
  (void) length;

  if (self->caps_rate <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL), ("no caps negotiated"));
    return GST_FLOW_NOT_NEGOTIATED;
  }

  GST_OBJECT_LOCK (self);
  rpm = self->rpm;
  fault = self->fault;
  severity = self->severity;
  noise = self->noise;
  seed = self->seed;
  spb = self->samples_per_buffer;
  rig_tones = self->rig_tones;
  GST_OBJECT_UNLOCK (self);
  rate = self->caps_rate;

  if (self->need_init)
    gst_vibration_src_init_synth (self, rpm, fault, seed, rate);

  buffer = gst_buffer_new_allocate (NULL, (gsize) spb * sizeof (gfloat), NULL);
  if (buffer == NULL)
    return GST_FLOW_ERROR;
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  gst_vibration_src_fill (self, (gfloat *) map.data, spb, rate, rpm, fault,
      severity, noise, rig_tones);
  gst_buffer_unmap (buffer, &map);

  pts = gst_util_uint64_scale_int (self->next_sample, GST_SECOND, rate);
  end = gst_util_uint64_scale_int (self->next_sample + spb, GST_SECOND, rate);
  GST_BUFFER_PTS (buffer) = pts;
  GST_BUFFER_DTS (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buffer) = end - pts;
  GST_BUFFER_OFFSET (buffer) = self->next_sample;
  GST_BUFFER_OFFSET_END (buffer) = self->next_sample + spb;
  if (self->next_sample == 0)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  self->next_sample += spb;

  *buf = buffer;
  return GST_FLOW_OK;
}

static void
gst_vibration_src_get_times (
    GstBaseSrc *bsrc, GstBuffer *buffer, GstClockTime *start, GstClockTime *end)
{
  /* Live: sync every buffer on the clock at its timestamp. */
  if (gst_base_src_is_live (bsrc)) {
    GstClockTime ts = GST_BUFFER_PTS (buffer);

    if (GST_CLOCK_TIME_IS_VALID (ts)) {
      GstClockTime dur = GST_BUFFER_DURATION (buffer);

      *start = ts;
      if (GST_CLOCK_TIME_IS_VALID (dur))
        *end = ts + dur;
    }
  }
}

static GstCaps *
gst_vibration_src_fixate (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (bsrc);
  GstStructure *s;
  gint rate;

  GST_OBJECT_LOCK (self);
  rate = self->rate;
  GST_OBJECT_UNLOCK (self);

  caps = gst_caps_make_writable (caps);
  caps = gst_caps_truncate (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_int (s, "rate", rate);
  gst_structure_fixate_field_nearest_int (s, "channels", 1);

  return GST_BASE_SRC_CLASS (gst_vibration_src_parent_class)
      ->fixate (bsrc, caps);
}

static gboolean
gst_vibration_src_set_caps (GstBaseSrc *bsrc, GstCaps *caps)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (bsrc);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint rate;

  if (!gst_structure_get_int (s, "rate", &rate) || rate <= 0)
    return FALSE;
  if (self->caps_rate != 0 && self->caps_rate != rate) {
    /* A new rate restarts the synthesis (keeps the sample clock). */
    GST_INFO_OBJECT (self, "rate changes from %d to %d", self->caps_rate, rate);
    self->next_sample
        = gst_util_uint64_scale_int (self->next_sample, rate, self->caps_rate);
    self->need_init = TRUE;
  }
  self->caps_rate = rate;
  return TRUE;
}

static gboolean
gst_vibration_src_start (GstBaseSrc *bsrc)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (bsrc);

  self->next_sample = 0;
  self->need_init = TRUE;
  self->caps_rate = 0;
  return TRUE;
}

static gboolean
gst_vibration_src_is_seekable (GstBaseSrc *bsrc)
{
  (void) bsrc;
  return FALSE;
}

static void
gst_vibration_src_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (object);

  switch (prop_id) {
    case PROP_RATE:
      GST_OBJECT_LOCK (self);
      self->rate = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_RPM:
      GST_OBJECT_LOCK (self);
      self->rpm = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_FAULT:
      GST_OBJECT_LOCK (self);
      self->fault = g_value_get_enum (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SEVERITY:
      GST_OBJECT_LOCK (self);
      self->severity = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_NOISE:
      GST_OBJECT_LOCK (self);
      self->noise = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SEED:
      GST_OBJECT_LOCK (self);
      self->seed = g_value_get_uint64 (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_SAMPLES_PER_BUFFER:
      GST_OBJECT_LOCK (self);
      self->samples_per_buffer = g_value_get_int (value);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_IS_LIVE:
      gst_base_src_set_live (GST_BASE_SRC (self), g_value_get_boolean (value));
      break;
    case PROP_RIG_TONES:
      GST_OBJECT_LOCK (self);
      self->rig_tones = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_vibration_src_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstVibrationSrc *self = GST_VIBRATION_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RATE:
      g_value_set_int (value, self->rate);
      break;
    case PROP_RPM:
      g_value_set_double (value, self->rpm);
      break;
    case PROP_FAULT:
      g_value_set_enum (value, self->fault);
      break;
    case PROP_SEVERITY:
      g_value_set_double (value, self->severity);
      break;
    case PROP_NOISE:
      g_value_set_double (value, self->noise);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_SAMPLES_PER_BUFFER:
      g_value_set_int (value, self->samples_per_buffer);
      break;
    case PROP_RIG_TONES:
      g_value_set_boolean (value, self->rig_tones);
      break;
    case PROP_IS_LIVE:
      GST_OBJECT_UNLOCK (self);
      g_value_set_boolean (value, gst_base_src_is_live (GST_BASE_SRC (self)));
      return;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_vibration_src_class_init (GstVibrationSrcClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_vibration_src_debug, "vibrationsrc", 0,
      "synthetic bearing vibration source");

  gobject_class->set_property = gst_vibration_src_set_property;
  gobject_class->get_property = gst_vibration_src_get_property;

  g_object_class_install_property (gobject_class, PROP_RATE,
      g_param_spec_int ("rate", "Rate",
          "Preferred sample rate (Hz); the caps are fixated "
          "to it",
          1, G_MAXINT, DEFAULT_RATE, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_RPM,
      g_param_spec_double ("rpm", "RPM", "Shaft speed (revolutions/minute)",
          0.0, 1e6, DEFAULT_RPM, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FAULT,
      g_param_spec_enum ("fault", "Fault", "Simulated bearing defect",
          GST_TYPE_VIBRATION_SRC_FAULT, DEFAULT_FAULT,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_SEVERITY,
      g_param_spec_double ("severity", "Severity",
          "Fault vibration relative to the CWRU 0.007 in. defect at 0 HP "
          "(amplitude factor of the impulses and the random excitation; "
          "1: as recorded, 0: background only)",
          0.0, 1000.0, DEFAULT_SEVERITY, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_NOISE,
      g_param_spec_double ("noise", "Noise",
          "Standard deviation (g) of the broadband background of the "
          "healthy bearing at 48 kHz (shaped noise, without the rig tones "
          "and shaft lines); scales the background of every fault type",
          0.0, 1000.0, DEFAULT_NOISE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the random generator (same seed, same "
          "output)",
          0, G_MAXUINT64, DEFAULT_SEED, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_SAMPLES_PER_BUFFER,
      g_param_spec_int ("samplesperbuffer", "Samples per buffer",
          "Number of samples in each outgoing buffer", 1, G_MAXINT / 4,
          DEFAULT_SAMPLES_PER_BUFFER, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Is Live",
          "Act as a live source (real-time rate)", DEFAULT_IS_LIVE,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_RIG_TONES,
      g_param_spec_boolean ("rig-tones", "Rig tones",
          "Add the narrow-band lines of the CWRU test rig (4.02-4.38 and "
          "8.41 kHz, not bearing physics) at the level of the recording "
          "of the fault type",
          DEFAULT_RIG_TONES, rw | GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Bearing vibration source", "Source/Audio",
      "Synthesizes rolling-element-bearing vibration calibrated to the "
      "CWRU recordings (shaft harmonics, defect impulses exciting "
      "structural modes, shaped background, rig tones)",
      "seqdream developers");

  basesrc_class->create = GST_DEBUG_FUNCPTR (gst_vibration_src_create);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_vibration_src_get_times);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_vibration_src_fixate);
  basesrc_class->set_caps = GST_DEBUG_FUNCPTR (gst_vibration_src_set_caps);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_vibration_src_start);
  basesrc_class->is_seekable
      = GST_DEBUG_FUNCPTR (gst_vibration_src_is_seekable);

  gst_type_mark_as_plugin_api (GST_TYPE_VIBRATION_SRC_FAULT, 0);
}

static void
gst_vibration_src_init (GstVibrationSrc *self)
{
  self->rate = DEFAULT_RATE;
  self->rpm = DEFAULT_RPM;
  self->fault = DEFAULT_FAULT;
  self->severity = DEFAULT_SEVERITY;
  self->noise = DEFAULT_NOISE;
  self->seed = DEFAULT_SEED;
  self->samples_per_buffer = DEFAULT_SAMPLES_PER_BUFFER;
  self->rig_tones = DEFAULT_RIG_TONES;
  self->need_init = TRUE;

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
}
