/* GStreamer vibrationsrc element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-vibrationsrc
 * @title: vibrationsrc
 * @short_description: synthesize rolling-element-bearing vibration (healthy
 *   or with an inner-race, outer-race or ball defect)
 *
 * vibrationsrc generates the acceleration signal (in g) of a motor shaft
 * supported by a rolling-element bearing, as mono F32LE audio, in the spirit
 * of the Case Western Reserve University (CWRU) bearing data set: the
 * default geometry is the CWRU drive-end bearing (SKF 6205-2RS JEM: n = 9
 * balls, ball diameter d = 0.3126 in, pitch diameter D = 1.537 in, contact
 * angle a = 0) at 1796 rpm.
 *
 * ## Signal model
 *
 * x(t) = shaft(t) + fault(t) + noise(t), with
 *
 * - shaft(t): the rotation frequency f_r = rpm / 60 and its harmonics 2, 3
 *   and 4 with amplitudes 0.030, 0.015, 0.008 and 0.004 g (random phases
 *   drawn from `seed`).
 * - fault(t): a train of unit impulses at the defect frequency, each
 *   exciting a damped structural resonance (a two-pole resonator at 3.5 kHz
 *   with a 0.4 ms time constant: every impulse rings for about 1.8 ms).
 *   The peak of an impulse response is `severity` g (1 g is about 14 times
 *   the RMS of the healthy signal; severity 1 gives an RMS of 0.09-0.13 g,
 *   the order of the CWRU 0.014 in. faults, 0.13-0.18 g). Every
 *   inter-impulse interval varies at random by 1 % (standard deviation,
 *   Gaussian, clipped at 3 %): the slip of the rolling elements. The defect
 * frequencies follow from the geometry (r = d / D cos a):
 *   - BPFO = n / 2 f_r (1 - r), about 3.585 f_r (107.3 Hz at 1796 rpm);
 *   - BPFI = n / 2 f_r (1 + r), about 5.415 f_r (162.1 Hz); the impulses
 *     are amplitude-modulated at f_r by 0.55 + 0.45 cos (2 pi f_r t): the
 *     defect passes through the load zone once per revolution;
 *   - BSF = D / (2 d) f_r (1 - r^2), about 2.357 f_r (70.5 Hz), modulated
 *     the same way at the cage frequency FTF = f_r / 2 (1 - r), about
 *     0.398 f_r (11.9 Hz).
 * - noise(t): the broadband response of the machine structure: white
 *   Gaussian noise through a broad resonance (4 kHz, 0.1 ms time constant),
 *   scaled to the standard deviation `noise` (default 0.065 g, which with
 *   the shaft lines gives the 0.073 g RMS of the CWRU normal recording
 *   097; the real recordings carry most of their energy at 2-4 kHz, not
 *   as white noise).
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
 * gst-launch-1.0 vibrationsrc fault=inner-race num-buffers=500 ! \
 *     seqdream model-file=models/cwru-resnet-small.safetensors ! \
 *     fakesink -m
 * ]| Classify ten seconds of a synthetic inner-race fault with the CWRU
 * model (one seqdream message per window).
 * |[
 * gst-launch-1.0 vibrationsrc fault=outer-race severity=0.5 is-live=true ! \
 *     audioconvert ! autoaudiosink
 * ]| Listen to an outer-race fault (at 0.5 g peak it is loud: turn the
 * volume down).
 * |[
 * gst-launch-1.0 vibrationsrc fault=ball seed=7 num-buffers=235 ! \
 *     wavenc ! filesink location=ball.wav
 * ]| Write five seconds of a ball fault to a WAV file.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstvibrationsrc.h"

#include <math.h>

GST_DEBUG_CATEGORY_STATIC (gst_vibration_src_debug);
#define GST_CAT_DEFAULT gst_vibration_src_debug

/* Bearing geometry: the CWRU drive-end bearing, SKF 6205-2RS JEM. */
#define BEARING_BALLS 9.0
#define BEARING_BALL_DIAMETER 0.3126 /* in */
#define BEARING_PITCH_DIAMETER 1.537 /* in */
#define BEARING_CONTACT_ANGLE 0.0    /* rad */

#define RESONANCE_HZ 3500.0
#define RESONANCE_TAU 0.0004 /* s */
#define NOISE_HZ 4000.0
#define NOISE_TAU 0.0001 /* s */
#define SLIP_JITTER 0.01
#define N_HARMONICS 4

static const double harmonic_amp[N_HARMONICS] = { 0.030, 0.015, 0.008, 0.004 };

#define DEFAULT_RATE 48000
#define DEFAULT_RPM 1796.0
#define DEFAULT_FAULT GST_VIBRATION_SRC_FAULT_NONE
#define DEFAULT_SEVERITY 1.0
#define DEFAULT_NOISE 0.065
#define DEFAULT_SEED 0
#define DEFAULT_SAMPLES_PER_BUFFER 1024
#define DEFAULT_IS_LIVE FALSE

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
};

static GstStaticPadTemplate src_template
    = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("audio/x-raw, format = (string) F32LE, "
                         "layout = (string) interleaved, "
                         "rate = (int) [ 1, MAX ], channels = (int) 1"));

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

  /* streaming state */
  gint caps_rate; /* negotiated rate, 0 before caps */
  gboolean need_init;
  guint64 next_sample;
  guint64 rng[4];
  gboolean have_gauss;
  gdouble gauss;
  gdouble harm_phase[N_HARMONICS]; /* in cycles */
  gdouble next_impulse;            /* sample index (fractional) */
  gdouble res_y1, res_y2;          /* resonator state */
  gdouble noise_y1, noise_y2;      /* noise-shaping resonator state */
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
  const gdouble r = BEARING_BALL_DIAMETER / BEARING_PITCH_DIAMETER
                    * cos (BEARING_CONTACT_ANGLE);

  switch (fault) {
    case GST_VIBRATION_SRC_FAULT_INNER_RACE:
      return BEARING_BALLS / 2.0 * (1.0 + r); /* BPFI */
    case GST_VIBRATION_SRC_FAULT_OUTER_RACE:
      return BEARING_BALLS / 2.0 * (1.0 - r); /* BPFO */
    case GST_VIBRATION_SRC_FAULT_BALL:        /* BSF */
      return BEARING_PITCH_DIAMETER / (2.0 * BEARING_BALL_DIAMETER)
             * (1.0 - r * r);
    case GST_VIBRATION_SRC_FAULT_NONE:
    default:
      return 0.0;
  }
}

/* Order of the amplitude modulation of the impulses (0: none). */
static gdouble
modulation_order (GstVibrationSrcFault fault)
{
  const gdouble r = BEARING_BALL_DIAMETER / BEARING_PITCH_DIAMETER
                    * cos (BEARING_CONTACT_ANGLE);

  switch (fault) {
    case GST_VIBRATION_SRC_FAULT_INNER_RACE:
      return 1.0; /* shaft: load zone once per revolution */
    case GST_VIBRATION_SRC_FAULT_BALL:
      return 0.5 * (1.0 - r); /* FTF: the cage carries the ball round */
    default:
      return 0.0;
  }
}

/* Next inter-impulse interval in samples: the mean period with slip. */
static gdouble
next_interval (GstVibrationSrc *self, gdouble period)
{
  gdouble j = CLAMP (rng_gauss (self), -3.0, 3.0) * SLIP_JITTER;
  return period * (1.0 + j);
}

static void
gst_vibration_src_init_synth (GstVibrationSrc *self, gdouble rpm,
    GstVibrationSrcFault fault, guint64 seed, gint rate)
{
  guint64 sm = seed;
  gdouble order = defect_order (fault);
  gint i;

  for (i = 0; i < 4; i++)
    self->rng[i] = splitmix64 (&sm);
  self->have_gauss = FALSE;
  for (i = 0; i < N_HARMONICS; i++)
    self->harm_phase[i] = rng_uniform (self);
  self->res_y1 = self->res_y2 = 0.0;
  self->noise_y1 = self->noise_y2 = 0.0;
  self->next_impulse = 0.0;
  if (order > 0.0 && rpm > 0.0)
    self->next_impulse = rng_uniform (self) * rate / (order * rpm / 60.0);
  self->need_init = FALSE;
}

static void
gst_vibration_src_fill (GstVibrationSrc *self, gfloat *out, gint n, gint rate,
    gdouble rpm, GstVibrationSrcFault fault, gdouble severity, gdouble noise)
{
  const gdouble fr = rpm / 60.0;
  const gdouble order = defect_order (fault);
  const gdouble morder = modulation_order (fault);
  const gdouble period = order > 0.0 && fr > 0.0 ? rate / (order * fr) : 0.0;
  /* Two-pole resonator: y[k] = 2 p cos(w) y[k-1] - p^2 y[k-2] + x[k]; an
   * input of A sin(w) gives the response A p^k sin(w (k + 1)). */
  const gdouble w = 2.0 * G_PI * MIN (RESONANCE_HZ, 0.45 * rate) / rate;
  const gdouble p = exp (-1.0 / (RESONANCE_TAU * rate));
  const gdouble a1 = 2.0 * p * cos (w), a2 = -p * p;
  /* Background: white Gaussian noise through a broad resonator (AR(2)),
   * scaled to unit variance: var = (1 - b2) / ((1 + b2) ((1 - b2)^2 - b1^2)).
   */
  const gdouble nw = 2.0 * G_PI * MIN (NOISE_HZ, 0.45 * rate) / rate;
  const gdouble np = exp (-1.0 / (NOISE_TAU * rate));
  const gdouble b1 = 2.0 * np * cos (nw), b2 = -np * np;
  const gdouble nvar
      = (1.0 - b2) / ((1.0 + b2) * ((1.0 - b2) * (1.0 - b2) - b1 * b1));
  const gdouble ngain = noise / sqrt (nvar);
  gint k, h;

  for (k = 0; k < n; k++) {
    guint64 idx = self->next_sample + (guint64) k;
    gdouble t = (gdouble) idx / rate;
    gdouble cyc = fmod (fr * t, 1.0);
    gdouble x = 0.0, y, in = 0.0;

    for (h = 0; h < N_HARMONICS; h++)
      x += harmonic_amp[h]
           * cos (2.0 * G_PI * ((h + 1) * cyc + self->harm_phase[h]));

    if (period > 0.0) {
      while (self->next_impulse < (gdouble) idx + 0.5) {
        gdouble amp = severity * sin (w);
        if (morder > 0.0)
          amp *= 0.55 + 0.45 * cos (2.0 * G_PI * fmod (morder * fr * t, 1.0));
        in += amp;
        self->next_impulse += next_interval (self, period);
      }
    }
    y = a1 * self->res_y1 + a2 * self->res_y2 + in;
    self->res_y2 = self->res_y1;
    self->res_y1 = y;
    x += y;

    if (noise > 0.0) {
      gdouble v = b1 * self->noise_y1 + b2 * self->noise_y2
                  + ngain * rng_gauss (self);
      self->noise_y2 = self->noise_y1;
      self->noise_y1 = v;
      x += v;
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
  GST_OBJECT_UNLOCK (self);
  rate = self->caps_rate;

  if (self->need_init)
    gst_vibration_src_init_synth (self, rpm, fault, seed, rate);

  buffer = gst_buffer_new_allocate (NULL, (gsize) spb * sizeof (gfloat), NULL);
  if (buffer == NULL)
    return GST_FLOW_ERROR;
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  gst_vibration_src_fill (
      self, (gfloat *) map.data, spb, rate, rpm, fault, severity, noise);
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
          "Peak of each fault impulse response in g (1 g "
          "is about 14 times the healthy RMS; 0: no "
          "impulses)",
          0.0, 1000.0, DEFAULT_SEVERITY, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_NOISE,
      g_param_spec_double ("noise", "Noise",
          "Standard deviation of the Gaussian noise (g)", 0.0, 1000.0,
          DEFAULT_NOISE, rw | GST_PARAM_MUTABLE_PLAYING));
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

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "Bearing vibration source", "Source/Audio",
      "Synthesizes rolling-element-bearing vibration (shaft harmonics, "
      "defect impulses exciting a resonance, noise)",
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
  self->need_init = TRUE;

  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), DEFAULT_IS_LIVE);
}
