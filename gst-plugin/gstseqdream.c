/* GStreamer seqdream element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-seqdream
 * @title: seqdream
 * @short_description: classify windows of a mono stream with a 1-D CNN and
 *   dream class prototypes
 *
 * seqdream cuts a mono F32 audio/sensor stream into windows of `window`
 * samples every `hop` samples, scores each window with one forward pass of
 * a seqdream model (a safetensors file, `model-file`, or the model embedded
 * in the plugin) and reports the class as an element message and as a
 * #GstCustomMeta on the buffer. Every input buffer leaves the `src` pad
 * unchanged (same memory, timestamps and flags).
 *
 * On request (`dream-trigger` or the "dream" action signal) a worker thread
 * runs Sequence Dreaming (activation maximisation, Schlegel et al. 2024)
 * for the class of a window and pushes the dreamed sequence on the
 * `dream_src` pad, stamped with the timestamp and duration of the window it
 * explains, and posts a "seqdream-dream" message. The streaming thread
 * never waits for a dream: requests go to a queue of `dream-queue-size`
 * entries that drops the oldest request when full (`dream-dropped` counts
 * them).
 *
 * ## Windows
 *
 * Windows start at sample 0, hop, 2 hop, ... counted from the first buffer
 * after the start, a DISCONT buffer, a GAP event, a new segment or a
 * flush; a partial window at such a restart is dropped. At EOS the tail is
 * scored at its actual length (the networks end with global average
 * pooling, so they accept any length; no zero padding) when it holds at
 * least half a window and samples no scored window covered; else it is
 * dropped. Windows that complete in one buffer are scored together in
 * batches of up to 16. A window that contains NaN or Inf is not scored (no
 * message, no meta); the data still passes untouched and one warning
 * message is posted per run of such windows (a run ends when a window is
 * scored again).
 *
 * ## Message "seqdream" (one per scored window)
 *
 * - `timestamp` (G_TYPE_UINT64, ns): start of the window (the PTS of the
 *   first buffer after the last restart plus the samples before the window).
 * - `stream-time` (G_TYPE_UINT64): `timestamp` as stream time.
 * - `running-time` (G_TYPE_UINT64): `timestamp` as running time.
 * - `duration` (G_TYPE_UINT64): duration of the window.
 * - `class` (G_TYPE_STRING): label of the most probable class.
 * - `class-index` (G_TYPE_INT): its index in `labels`.
 * - `confidence` (G_TYPE_DOUBLE): its probability (softmax of the logits).
 * - `probabilities` (GST_TYPE_ARRAY of G_TYPE_DOUBLE): every class.
 * - `logits` (GST_TYPE_ARRAY of G_TYPE_DOUBLE): the network's outputs.
 * - `labels` (GST_TYPE_ARRAY of G_TYPE_STRING): the model's class labels.
 *
 * ## Meta "SeqDreamMeta"
 *
 * The same fields, in a #GstCustomMeta named "SeqDreamMeta" (registered
 * without tags), attached to the output buffer that completes the window
 * (the buffer holding its last sample); a buffer that completes several
 * windows carries one meta per window, in window order. The window scored
 * at EOS has no buffer and no meta. Read it with
 * gst_buffer_get_custom_meta (buffer, "SeqDreamMeta") and
 * gst_custom_meta_get_structure ().
 *
 * ## Message "seqdream-dream" (one per finished dream)
 *
 * - `timestamp`, `stream-time`, `running-time`, `duration` (G_TYPE_UINT64):
 *   of the window the dream explains.
 * - `class` (G_TYPE_STRING), `class-index` (G_TYPE_INT): the target class.
 * - `mode` (G_TYPE_STRING): "centered", "border" or "from-window".
 * - `border-class` (G_TYPE_STRING), `border-class-index` (G_TYPE_INT):
 *   the other class of a border dream (border mode only).
 * - `probability` (G_TYPE_DOUBLE): the target's probability at the dream
 *   (border: p_a / (p_a + p_b), 0.5 on the boundary).
 * - `probabilities` (GST_TYPE_ARRAY of G_TYPE_DOUBLE): every class.
 * - `logit-margin` (G_TYPE_DOUBLE): z_a - max other z (border: z_a - z_b).
 * - `objective` (G_TYPE_DOUBLE): the objective at the dream.
 * - `steps` (G_TYPE_INT): optimisation steps run; `best-step` (G_TYPE_INT);
 *   `converged` (G_TYPE_BOOLEAN): the stop criterion was met.
 * - `tv` (G_TYPE_DOUBLE): mean |x[t+1] - x[t]| of the dream (normalised).
 * - `dtw-to-window` (G_TYPE_DOUBLE): DTW distance (band 10 %) between the
 *   dream and the window, both normalised.
 * - `sequence` (GST_TYPE_ARRAY of G_TYPE_DOUBLE): the dream in the units
 *   of the data: per-series normalisation is undone with the window's mean
 *   and standard deviation, fixed normalisation with the model's.
 *
 * The same sequence leaves `dream_src` as one F32 mono buffer at the stream
 * rate. `dream_src` sends stream-start, caps and the segment first, a
 * zero-length GAP at the first sample's time (so that its sink prerolls
 * before the first window is complete), then dreams and GAP events (up to
 * the start of the latest window, whenever no dream is pending) in
 * non-decreasing timestamp order; dreams of
 * overlapping windows overlap. An unlinked `dream_src` is not an error. As
 * after a demuxer, put a queue on each branch.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream ! fakesink
 * ]| prints one "seqdream" message per window (embedded default model).
 * |[
 * gst-launch-1.0 -m filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=sd model-file=model.safetensors \
 *       dream-trigger=class-change ! queue ! mux.audio_0 \
 *     sd.dream_src ! queue ! mux.audio_1 \
 *     matroskamux name=mux ! filesink location=out.mkv
 * ]| records the signal and its dreams as two audio tracks.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdream.h"
#include "gstseqdreammeta.h"

#include <gio/gio.h>
#include <gst/audio/audio.h>
#include <gst/base/gstflowcombiner.h>
#include <seqdream/dream.h>
#include <seqdream/metrics.h>
#include <seqdream/model.h>

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (gst_seq_dream_debug);
#define GST_CAT_DEFAULT gst_seq_dream_debug

/* F32LE, read as native floats (libseqdream runs on little-endian hosts). */
#define SEQ_DREAM_CAPS                                                         \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, "      \
  "rate = (int) [ 1, MAX ], channels = (int) 1"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SEQ_DREAM_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SEQ_DREAM_CAPS));
static GstStaticPadTemplate dream_src_template = GST_STATIC_PAD_TEMPLATE (
    "dream_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SEQ_DREAM_CAPS));

#define DEFAULT_MODEL_FILE NULL
#define DEFAULT_WINDOW 0
#define DEFAULT_HOP 0
#define DEFAULT_NORMALIZE GST_SEQ_DREAM_NORMALIZE_MODEL
#define DEFAULT_POST_MESSAGES TRUE
#define DEFAULT_DREAM_TRIGGER GST_SEQ_DREAM_TRIGGER_NONE
#define DEFAULT_DREAM_INTERVAL (10 * GST_SECOND)
#define DEFAULT_DREAM_THRESHOLD 0.6
#define DEFAULT_DREAM_MODE GST_SEQ_DREAM_MODE_CENTERED
#define DEFAULT_DREAM_STEPS 200
#define DEFAULT_DREAM_LEARNING_RATE 0.05
#define DEFAULT_DREAM_L2 0.0
#define DEFAULT_DREAM_TV 0.0
#define DEFAULT_DREAM_SMOOTHING_ALPHA 0.8
#define DEFAULT_DREAM_GAUSSIAN_SIGMA 0.0
#define DEFAULT_DREAM_SEED 0
#define DEFAULT_DREAM_QUEUE_SIZE 4

/* Windows scored by one forward pass at most. */
#define MAX_BATCH 16

enum
{
  PROP_0,
  PROP_MODEL_FILE,
  PROP_WINDOW,
  PROP_HOP,
  PROP_NORMALIZE,
  PROP_POST_MESSAGES,
  PROP_DREAM_TRIGGER,
  PROP_DREAM_INTERVAL,
  PROP_DREAM_THRESHOLD,
  PROP_DREAM_MODE,
  PROP_DREAM_STEPS,
  PROP_DREAM_LEARNING_RATE,
  PROP_DREAM_L2,
  PROP_DREAM_TV,
  PROP_DREAM_SMOOTHING_ALPHA,
  PROP_DREAM_GAUSSIAN_SIGMA,
  PROP_DREAM_SEED,
  PROP_DREAM_QUEUE_SIZE,
  PROP_DREAM_DROPPED,
};

enum
{
  SIGNAL_DREAM,
  LAST_SIGNAL
};

static guint gst_seq_dream_signals[LAST_SIGNAL] = { 0 };

/* A copy of the properties that the streaming thread and the "dream"
 * signal need, taken under the object lock. */
typedef struct
{
  gboolean post_messages;
  GstSeqDreamTrigger trigger;
  GstClockTime interval;
  gdouble threshold;
  GstSeqDreamMode mode;
  guint steps;
  gdouble learning_rate, l2, tv, smoothing_alpha, gaussian_sigma;
  guint64 seed;
  guint queue_size;
} Settings;

typedef enum
{
  ITEM_EVENT,  /* a serialized event for dream_src (segment, EOS) */
  ITEM_STICKY, /* a sticky event to store on dream_src (stream-start, caps) */
  ITEM_GAP,    /* nothing on dream_src in [start, end) */
  ITEM_DREAM,
} ItemType;

/* One entry of the dream_src queue; owns everything it points to. */
typedef struct
{
  ItemType type;
  guint generation; /* flush generation it belongs to */
  GstEvent *event;
  GstClockTime start, end; /* ITEM_GAP */

  /* ITEM_DREAM: what to dream and the window it explains. */
  GstSeqDreamMode mode;
  gint class_a, class_b;
  GstClockTime pts, duration, stream_time, running_time;
  guint length;
  gfloat *window;   /* (length) normalised samples of the window */
  gdouble mean, sd; /* data = normalised * sd + mean */
  SdDreamConfig config;
  guint64 seed;
} Item;

struct _GstSeqDream
{
  GstElement parent;

  GstPad *sinkpad, *srcpad, *dream_srcpad;

  /* properties, protected by the object lock */
  gchar *model_file;
  guint window_prop, hop_prop;
  GstSeqDreamNormalize normalize;
  Settings settings;
  guint32 last_seek_seqnum;

  /* set in READY->PAUSED, constant until PAUSED->READY */
  SdModel *model;
  SdWorkspace *ws;
  guint window, hop;    /* samples */
  SdNormalization norm; /* what is applied to each window */
  gboolean norm_is_models;
  gint n_classes;
  GValue labels; /* GST_TYPE_ARRAY of strings */
  gfloat *batch; /* (MAX_BATCH, window) */
  GstFlowCombiner *flow_combiner;

  /* streaming state, protected by the sink pad's stream lock */
  gint rate;
  GstSegment segment;
  gfloat *acc; /* samples from acc_offset on */
  gsize acc_len, acc_cap;
  guint64 acc_offset;      /* sample index (since restart) of acc[0] */
  guint64 skip;            /* samples to drop before acc (hop > window) */
  guint64 n_received;      /* samples since restart */
  guint64 last_window_end; /* sample index after the last full window */
  gboolean restart;
  GstClockTime base_ts; /* PTS of sample 0 after restart */
  gboolean bad_run; /* a NaN/Inf window was warned about, none scored since */
  gboolean warned_rate;
  gint prev_class;
  gdouble prev_confidence;
  GstClockTime last_trigger_pos;
  GstClockTime gap_end; /* end of the GAP last queued for dream_src */
  gboolean new_stream;  /* a new stream-start on dream_src: caps must follow */
  /* what was queued for dream_src last: its stream id and caps (the worker
   * stores them on the pad, so the pad's own may still be older) */
  gchar *dream_stream_id;
  GstCaps *dream_caps;

  /* dream queue and worker, protected by dream_lock */
  GMutex dream_lock;
  GCond dream_cond;
  GThread *worker;
  gboolean started; /* model loaded; the signal may build requests */
  gboolean worker_stop;
  gboolean flushing;
  gint dream_cancel; /* atomic: stops the dream in progress between steps */
  guint generation;
  GQueue items;
  guint n_dreams_queued;
  guint64 dreams_requested; /* seeds: dream-seed + this count */
  guint64 dropped;
  /* the last scored window, for the "dream" signal */
  gboolean have_last;
  gfloat *last_window;
  guint last_length;
  gdouble last_mean, last_sd;
  gint last_class, last_runner_up;
  GstClockTime last_pts, last_duration, last_stream_time, last_running_time;
  gboolean warned_no_caps_filter;

  /* worker thread only */
  SdDreamer *dreamer;
  GstClockTime pushed_pos; /* end of what dream_src pushed last */
  gboolean dream_discont;
};

#define gst_seq_dream_parent_class parent_class
G_DEFINE_TYPE (GstSeqDream, gst_seq_dream, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (seqdream, "seqdream", GST_RANK_NONE,
    GST_TYPE_SEQ_DREAM, gst_seq_dream_meta_get_info ());

GType
gst_seq_dream_normalize_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_NORMALIZE_MODEL, "The normalisation stored in the model",
        "model" },
    { GST_SEQ_DREAM_NORMALIZE_PER_SERIES,
        "Z-normalise every window on its own (as FordA)", "per-series" },
    { GST_SEQ_DREAM_NORMALIZE_FIXED,
        "(x - mean) / std with the model file's constants", "fixed" },
    { GST_SEQ_DREAM_NORMALIZE_NONE, "No normalisation", "none" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamNormalize", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_seq_dream_trigger_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_TRIGGER_NONE, "No dreams (the dream signal is ignored)",
        "none" },
    { GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE,
        "When the class differs from the previous window's", "class-change" },
    { GST_SEQ_DREAM_TRIGGER_INTERVAL,
        "At most once per dream-interval of stream time", "interval" },
    { GST_SEQ_DREAM_TRIGGER_THRESHOLD,
        "When the confidence falls below dream-threshold", "threshold" },
    { GST_SEQ_DREAM_TRIGGER_MANUAL, "Only the dream action signal", "manual" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamTrigger", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

GType
gst_seq_dream_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { GST_SEQ_DREAM_MODE_CENTERED,
        "From noise, deep into the class (maximise its logit)", "centered" },
    { GST_SEQ_DREAM_MODE_BORDER,
        "From noise, on the boundary with the runner-up class", "border" },
    { GST_SEQ_DREAM_MODE_FROM_WINDOW,
        "From the window itself, deep into the class", "from-window" },
    { 0, NULL, NULL },
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSeqDreamMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void gst_seq_dream_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_seq_dream_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static void gst_seq_dream_finalize (GObject *object);
static GstStateChangeReturn gst_seq_dream_change_state (
    GstElement *element, GstStateChange transition);
static GstFlowReturn gst_seq_dream_chain (
    GstPad *pad, GstObject *parent, GstBuffer *buffer);
static gboolean gst_seq_dream_sink_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static GstFlowReturn gst_seq_dream_sink_event_full (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_seq_dream_sink_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
static gboolean gst_seq_dream_src_event (
    GstPad *pad, GstObject *parent, GstEvent *event);
static gboolean gst_seq_dream_dream_src_query (
    GstPad *pad, GstObject *parent, GstQuery *query);
static GstIterator *gst_seq_dream_iterate_internal_links (
    GstPad *pad, GstObject *parent);
static gboolean gst_seq_dream_dream (
    GstSeqDream *self, const gchar *label, const gchar *mode);

static void
gst_seq_dream_class_init (GstSeqDreamClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  gobject_class->set_property = gst_seq_dream_set_property;
  gobject_class->get_property = gst_seq_dream_get_property;
  gobject_class->finalize = gst_seq_dream_finalize;

  /**
   * GstSeqDream:model-file:
   *
   * A seqdream model (safetensors). NULL: the model embedded in the plugin.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Model file",
          "Model file (safetensors, see docs/model-format.md); NULL for the "
          "model embedded in the plugin",
          DEFAULT_MODEL_FILE, rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:window:
   *
   * Window length in samples; 0 means the model's training length.
   */
  g_object_class_install_property (gobject_class, PROP_WINDOW,
      g_param_spec_uint ("window", "Window",
          "Window length in samples (0 = the model's training length)", 0,
          G_MAXINT / 4, DEFAULT_WINDOW, rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstSeqDream:hop:
   *
   * Samples between the starts of consecutive windows; 0 means window / 2.
   */
  g_object_class_install_property (gobject_class, PROP_HOP,
      g_param_spec_uint ("hop", "Hop",
          "Samples between window starts (0 = window / 2)", 0, G_MAXINT / 4,
          DEFAULT_HOP, rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_enum ("normalize", "Normalize",
          "How each window is normalised before scoring",
          GST_TYPE_SEQ_DREAM_NORMALIZE, DEFAULT_NORMALIZE,
          rw | GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post a \"seqdream\" element message per scored window",
          DEFAULT_POST_MESSAGES, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_TRIGGER,
      g_param_spec_enum ("dream-trigger", "Dream trigger",
          "What requests a dream", GST_TYPE_SEQ_DREAM_TRIGGER,
          DEFAULT_DREAM_TRIGGER, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_INTERVAL,
      g_param_spec_uint64 ("dream-interval", "Dream interval",
          "Stream time between dreams of the interval trigger (ns)", 1,
          G_MAXUINT64, DEFAULT_DREAM_INTERVAL, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSeqDream:dream-threshold:
   *
   * The threshold trigger requests a dream for a window whose confidence
   * is below this value when the previous window's was at or above it
   * (the first window after a restart counts as coming from above).
   */
  g_object_class_install_property (gobject_class, PROP_DREAM_THRESHOLD,
      g_param_spec_double ("dream-threshold", "Dream threshold",
          "Confidence below which a window triggers a dream (when the "
          "previous window's was not below)",
          0.0, 1.0, DEFAULT_DREAM_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_MODE,
      g_param_spec_enum ("dream-mode", "Dream mode",
          "Kind of dream for triggered requests", GST_TYPE_SEQ_DREAM_MODE,
          DEFAULT_DREAM_MODE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_STEPS,
      g_param_spec_uint ("dream-steps", "Dream steps",
          "Optimisation steps per dream (a border dream stops earlier when "
          "it reaches the boundary)",
          1, 100000, DEFAULT_DREAM_STEPS, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_LEARNING_RATE,
      g_param_spec_double ("dream-learning-rate", "Dream learning rate",
          "Step size of the dream optimiser (Adam)", 0.0, 100.0,
          DEFAULT_DREAM_LEARNING_RATE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_L2,
      g_param_spec_double ("dream-l2", "Dream L2",
          "Weight of the L2 penalty mean(x^2), in logits (0 = off)", 0.0,
          G_MAXDOUBLE, DEFAULT_DREAM_L2, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_TV,
      g_param_spec_double ("dream-tv", "Dream total variation",
          "Weight of the total variation penalty mean|x[t+1]-x[t]|, in logits "
          "(0 = off)",
          0.0, G_MAXDOUBLE, DEFAULT_DREAM_TV, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_SMOOTHING_ALPHA,
      g_param_spec_double ("dream-smoothing-alpha", "Dream smoothing alpha",
          "Zero-phase exponential smoothing of the sequence every 10 steps, "
          "y[t] = a x[t] + (1-a) y[t-1] forward and backward (0 or 1 = off)",
          0.0, 1.0, DEFAULT_DREAM_SMOOTHING_ALPHA,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_GAUSSIAN_SIGMA,
      g_param_spec_double ("dream-gaussian-sigma", "Dream Gaussian sigma",
          "Gaussian filtering of the sequence every 10 steps, sigma in samples "
          "(0 = off)",
          0.0, 1000.0, DEFAULT_DREAM_GAUSSIAN_SIGMA,
          rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_SEED,
      g_param_spec_uint64 ("dream-seed", "Dream seed",
          "Seed of the first dream after start; the n-th dream uses seed + n",
          0, G_MAXUINT64, DEFAULT_DREAM_SEED, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_QUEUE_SIZE,
      g_param_spec_uint ("dream-queue-size", "Dream queue size",
          "Dream requests waiting at most; when full the oldest is dropped", 1,
          1024, DEFAULT_DREAM_QUEUE_SIZE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DREAM_DROPPED,
      g_param_spec_uint64 ("dream-dropped", "Dreams dropped",
          "Dream requests dropped because the queue was full (since start)", 0,
          G_MAXUINT64, 0, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  /**
   * GstSeqDream::dream:
   * @seqdream: the element
   * @label: (nullable): class label; NULL or "" for the class of the last
   *   scored window
   * @mode: (nullable): "centered", "border" or "from-window"; NULL or ""
   *   for the dream-mode property
   *
   * Requests a dream that explains the last scored window. A border dream
   * sits between @label and the window's class (or, when they are the
   * same, its runner-up class).
   *
   * Returns: TRUE when the request was queued; FALSE when no window has
   *   been scored yet, the label or mode is unknown, or dream-trigger is
   *   none.
   */
  gst_seq_dream_signals[SIGNAL_DREAM] = g_signal_new_class_handler ("dream",
      G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION,
      G_CALLBACK (GST_DEBUG_FUNCPTR (gst_seq_dream_dream)), NULL, NULL, NULL,
      G_TYPE_BOOLEAN, 2, G_TYPE_STRING, G_TYPE_STRING);

  GST_DEBUG_CATEGORY_INIT (gst_seq_dream_debug, "seqdream", 0,
      "time-series classification and Sequence Dreaming");

  gst_element_class_set_static_metadata (element_class,
      "Sequence Dreaming classifier", "Filter/Analyzer/Audio",
      "Classifies windows of a mono stream with a 1-D CNN, posts the scores "
      "and dreams class prototypes (activation maximisation)",
      "seqdream developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (
      element_class, &dream_src_template);

  element_class->change_state = GST_DEBUG_FUNCPTR (gst_seq_dream_change_state);

  gst_type_mark_as_plugin_api (GST_TYPE_SEQ_DREAM_NORMALIZE, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SEQ_DREAM_TRIGGER, 0);
  gst_type_mark_as_plugin_api (GST_TYPE_SEQ_DREAM_MODE, 0);
}

static void
gst_seq_dream_init (GstSeqDream *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_chain));
  gst_pad_set_event_full_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_sink_event_full));
  gst_pad_set_query_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_sink_query));
  gst_pad_set_iterate_internal_links_function (
      self->sinkpad, GST_DEBUG_FUNCPTR (gst_seq_dream_iterate_internal_links));
  GST_PAD_SET_ACCEPT_TEMPLATE (self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_event_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_src_event));
  gst_pad_set_iterate_internal_links_function (
      self->srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_iterate_internal_links));
  GST_PAD_SET_PROXY_CAPS (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->dream_srcpad
      = gst_pad_new_from_static_template (&dream_src_template, "dream_src");
  gst_pad_set_event_function (
      self->dream_srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_src_event));
  gst_pad_set_query_function (
      self->dream_srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_dream_src_query));
  gst_pad_set_iterate_internal_links_function (self->dream_srcpad,
      GST_DEBUG_FUNCPTR (gst_seq_dream_iterate_internal_links));
  gst_pad_use_fixed_caps (self->dream_srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->dream_srcpad);

  self->model_file = g_strdup (DEFAULT_MODEL_FILE);
  self->window_prop = DEFAULT_WINDOW;
  self->hop_prop = DEFAULT_HOP;
  self->normalize = DEFAULT_NORMALIZE;
  self->settings.post_messages = DEFAULT_POST_MESSAGES;
  self->settings.trigger = DEFAULT_DREAM_TRIGGER;
  self->settings.interval = DEFAULT_DREAM_INTERVAL;
  self->settings.threshold = DEFAULT_DREAM_THRESHOLD;
  self->settings.mode = DEFAULT_DREAM_MODE;
  self->settings.steps = DEFAULT_DREAM_STEPS;
  self->settings.learning_rate = DEFAULT_DREAM_LEARNING_RATE;
  self->settings.l2 = DEFAULT_DREAM_L2;
  self->settings.tv = DEFAULT_DREAM_TV;
  self->settings.smoothing_alpha = DEFAULT_DREAM_SMOOTHING_ALPHA;
  self->settings.gaussian_sigma = DEFAULT_DREAM_GAUSSIAN_SIGMA;
  self->settings.seed = DEFAULT_DREAM_SEED;
  self->settings.queue_size = DEFAULT_DREAM_QUEUE_SIZE;
  self->last_seek_seqnum = GST_SEQNUM_INVALID;

  self->flow_combiner = gst_flow_combiner_new ();
  gst_flow_combiner_add_pad (self->flow_combiner, self->srcpad);
  gst_flow_combiner_add_pad (self->flow_combiner, self->dream_srcpad);

  g_mutex_init (&self->dream_lock);
  g_cond_init (&self->dream_cond);
  g_queue_init (&self->items);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
}

static void
gst_seq_dream_finalize (GObject *object)
{
  GstSeqDream *self = GST_SEQ_DREAM (object);

  /* PAUSED->READY released the model, the worker and the queue. */
  g_free (self->model_file);
  gst_flow_combiner_free (self->flow_combiner);
  g_mutex_clear (&self->dream_lock);
  g_cond_clear (&self->dream_cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_seq_dream_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSeqDream *self = GST_SEQ_DREAM (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_FILE:
      g_free (self->model_file);
      self->model_file = g_value_dup_string (value);
      break;
    case PROP_WINDOW:
      self->window_prop = g_value_get_uint (value);
      break;
    case PROP_HOP:
      self->hop_prop = g_value_get_uint (value);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_enum (value);
      break;
    case PROP_POST_MESSAGES:
      self->settings.post_messages = g_value_get_boolean (value);
      break;
    case PROP_DREAM_TRIGGER:
      self->settings.trigger = g_value_get_enum (value);
      break;
    case PROP_DREAM_INTERVAL:
      self->settings.interval = g_value_get_uint64 (value);
      break;
    case PROP_DREAM_THRESHOLD:
      self->settings.threshold = g_value_get_double (value);
      break;
    case PROP_DREAM_MODE:
      self->settings.mode = g_value_get_enum (value);
      break;
    case PROP_DREAM_STEPS:
      self->settings.steps = g_value_get_uint (value);
      break;
    case PROP_DREAM_LEARNING_RATE:
      self->settings.learning_rate = g_value_get_double (value);
      break;
    case PROP_DREAM_L2:
      self->settings.l2 = g_value_get_double (value);
      break;
    case PROP_DREAM_TV:
      self->settings.tv = g_value_get_double (value);
      break;
    case PROP_DREAM_SMOOTHING_ALPHA:
      self->settings.smoothing_alpha = g_value_get_double (value);
      break;
    case PROP_DREAM_GAUSSIAN_SIGMA:
      self->settings.gaussian_sigma = g_value_get_double (value);
      break;
    case PROP_DREAM_SEED:
      self->settings.seed = g_value_get_uint64 (value);
      break;
    case PROP_DREAM_QUEUE_SIZE:
      self->settings.queue_size = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_seq_dream_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstSeqDream *self = GST_SEQ_DREAM (object);

  /* dream-dropped lives under the dream lock; never hold both locks. */
  if (prop_id == PROP_DREAM_DROPPED) {
    g_mutex_lock (&self->dream_lock);
    g_value_set_uint64 (value, self->dropped);
    g_mutex_unlock (&self->dream_lock);
    return;
  }

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL_FILE:
      g_value_set_string (value, self->model_file);
      break;
    case PROP_WINDOW:
      g_value_set_uint (value, self->window_prop);
      break;
    case PROP_HOP:
      g_value_set_uint (value, self->hop_prop);
      break;
    case PROP_NORMALIZE:
      g_value_set_enum (value, self->normalize);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->settings.post_messages);
      break;
    case PROP_DREAM_TRIGGER:
      g_value_set_enum (value, self->settings.trigger);
      break;
    case PROP_DREAM_INTERVAL:
      g_value_set_uint64 (value, self->settings.interval);
      break;
    case PROP_DREAM_THRESHOLD:
      g_value_set_double (value, self->settings.threshold);
      break;
    case PROP_DREAM_MODE:
      g_value_set_enum (value, self->settings.mode);
      break;
    case PROP_DREAM_STEPS:
      g_value_set_uint (value, self->settings.steps);
      break;
    case PROP_DREAM_LEARNING_RATE:
      g_value_set_double (value, self->settings.learning_rate);
      break;
    case PROP_DREAM_L2:
      g_value_set_double (value, self->settings.l2);
      break;
    case PROP_DREAM_TV:
      g_value_set_double (value, self->settings.tv);
      break;
    case PROP_DREAM_SMOOTHING_ALPHA:
      g_value_set_double (value, self->settings.smoothing_alpha);
      break;
    case PROP_DREAM_GAUSSIAN_SIGMA:
      g_value_set_double (value, self->settings.gaussian_sigma);
      break;
    case PROP_DREAM_SEED:
      g_value_set_uint64 (value, self->settings.seed);
      break;
    case PROP_DREAM_QUEUE_SIZE:
      g_value_set_uint (value, self->settings.queue_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
get_settings (GstSeqDream *self, Settings *s)
{
  GST_OBJECT_LOCK (self);
  *s = self->settings;
  GST_OBJECT_UNLOCK (self);
}

/* ---- the dream queue ---- */

static void
item_free (Item *item)
{
  if (item->event)
    gst_event_unref (item->event);
  g_free (item->window);
  g_free (item);
}

/* Queue an item for the worker; takes ownership. Dream requests beyond
 * queue_size push out the oldest queued request. Call with dream_lock. */
static void
queue_item_locked (GstSeqDream *self, Item *item, guint queue_size)
{
  if (self->worker_stop || self->worker == NULL) {
    item_free (item);
    return;
  }
  item->generation = self->generation;

  if (item->type == ITEM_GAP) {
    Item *tail = g_queue_peek_tail (&self->items);
    if (tail != NULL && tail->type == ITEM_GAP) {
      tail->end = MAX (tail->end, item->end);
      item_free (item);
      return;
    }
  }

  if (item->type == ITEM_DREAM) {
    while (self->n_dreams_queued >= queue_size) {
      for (GList *l = self->items.head; l != NULL; l = l->next) {
        Item *old = l->data;
        if (old->type == ITEM_DREAM) {
          GST_DEBUG_OBJECT (self,
              "dream queue full: dropping the request for %" GST_TIME_FORMAT,
              GST_TIME_ARGS (old->pts));
          g_queue_delete_link (&self->items, l);
          item_free (old);
          self->n_dreams_queued--;
          self->dropped++;
          break;
        }
      }
    }
    self->n_dreams_queued++;
  }

  g_queue_push_tail (&self->items, item);
  g_cond_signal (&self->dream_cond);
}

static void
queue_item (GstSeqDream *self, Item *item, guint queue_size)
{
  g_mutex_lock (&self->dream_lock);
  queue_item_locked (self, item, queue_size);
  g_mutex_unlock (&self->dream_lock);
}

/* An event for dream_src (takes it): ITEM_EVENT to push, ITEM_STICKY to
 * store. */
static void
queue_event (GstSeqDream *self, ItemType type, GstEvent *event)
{
  Item *item = g_new0 (Item, 1);
  item->type = type;
  item->event = event;
  queue_item (self, item, G_MAXUINT);
}

/* Drop the queued items and invalidate the one being processed. Call with
 * dream_lock. A flush keeps the sticky events (stream-start and caps
 * survive a flush, as on any pad); a stop drops everything. */
static void
clear_items_locked (GstSeqDream *self, gboolean keep_sticky)
{
  GQueue kept = G_QUEUE_INIT;
  Item *item;

  self->generation++;
  while ((item = g_queue_pop_head (&self->items)) != NULL) {
    if (keep_sticky && item->type == ITEM_STICKY)
      g_queue_push_tail (&kept, item);
    else
      item_free (item);
  }
  self->items = kept;
  self->n_dreams_queued = 0;
  g_cond_signal (&self->dream_cond);
}

/* ---- windows ---- */

/* Mean and standard deviation of x (T), as the library's per-series
 * normalisation computes them. */
static void
window_stats (const gfloat *x, guint T, gdouble *mean, gdouble *sd)
{
  gdouble s = 0.0, ss = 0.0, m;

  for (guint t = 0; t < T; t++)
    s += x[t];
  m = s / T;
  for (guint t = 0; t < T; t++)
    ss += (x[t] - m) * (x[t] - m);
  *mean = m;
  *sd = sqrt (ss / T);
}

/* Normalise one window in place as configured; returns the affine map
 * back to data units (data = x * sd + mean) for dreams. */
static void
normalize_window (
    GstSeqDream *self, gfloat *x, guint T, gdouble *mean, gdouble *sd)
{
  gdouble m, s;

  switch (self->norm.mode) {
    case SD_NORM_PER_SERIES:
      window_stats (x, T, &m, &s);
      *mean = m;
      *sd = s > 1e-8 ? s : 1.0;
      if (!self->norm_is_models) {
        gfloat scale = s > 1e-8 ? (gfloat) (1.0 / s) : 0.0f;
        for (guint t = 0; t < T; t++)
          x[t] = (gfloat) (x[t] - m) * scale;
        return;
      }
      break;
    case SD_NORM_FIXED:
      *mean = self->norm.mean;
      *sd = self->norm.std;
      if (!self->norm_is_models) {
        gfloat inv = 1.0f / self->norm.std;
        for (guint t = 0; t < T; t++)
          x[t] = (x[t] - self->norm.mean) * inv;
        return;
      }
      break;
    case SD_NORM_NONE:
    default:
      *mean = 0.0;
      *sd = 1.0;
      return;
  }
  sd_model_normalize_input (self->model, x, 1, (int) T);
}

static gboolean
all_finite (const gfloat *x, guint n)
{
  for (guint i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return FALSE;
  return TRUE;
}

static GstClockTime
sample_time (GstSeqDream *self, guint64 sample)
{
  if (!GST_CLOCK_TIME_IS_VALID (self->base_ts) || self->rate <= 0)
    return GST_CLOCK_TIME_NONE;
  return self->base_ts
         + gst_util_uint64_scale_int (sample, GST_SECOND, self->rate);
}

/* Forget the samples collected so far: windows start again at the next
 * buffer. */
static void
restart_windows (GstSeqDream *self)
{
  self->acc_len = 0;
  self->acc_offset = 0;
  self->skip = 0;
  self->n_received = 0;
  self->last_window_end = 0;
  self->base_ts = GST_CLOCK_TIME_NONE;
  self->restart = TRUE;
  self->prev_class = -1;
  self->prev_confidence = -1.0;
  self->last_trigger_pos = GST_CLOCK_TIME_NONE;
}

static void
append_samples (GstSeqDream *self, const gfloat *x, gsize n)
{
  gsize k = (gsize) MIN ((guint64) n, self->skip);

  self->skip -= k;
  n -= k;
  /* Before the pointer moves: an empty buffer maps to x == NULL. */
  if (n == 0)
    return;
  x += k;
  if (self->acc_len + n > self->acc_cap) {
    self->acc_cap = MAX (self->acc_len + n, 2 * self->acc_cap);
    self->acc = g_renew (gfloat, self->acc, self->acc_cap);
  }
  memcpy (self->acc + self->acc_len, x, n * sizeof (gfloat));
  self->acc_len += n;
}

/* Drop the first n samples of the accumulator (n may exceed its length:
 * the rest is skipped as it arrives). */
static void
consume_samples (GstSeqDream *self, guint64 n)
{
  if (n >= self->acc_len) {
    self->skip += n - self->acc_len;
    self->acc_len = 0;
  } else {
    memmove (self->acc, self->acc + n,
        (self->acc_len - (gsize) n) * sizeof (gfloat));
    self->acc_len -= (gsize) n;
  }
  self->acc_offset += n;
}

static void
set_double_array (GstStructure *s, const gchar *field, const gfloat *v, gint n)
{
  GValue arr = G_VALUE_INIT, item = G_VALUE_INIT;

  gst_value_array_init (&arr, n);
  g_value_init (&item, G_TYPE_DOUBLE);
  for (gint i = 0; i < n; i++) {
    g_value_set_double (&item, v[i]);
    gst_value_array_append_value (&arr, &item);
  }
  g_value_unset (&item);
  gst_structure_take_value (s, field, &arr);
}

static void
set_time_fields (GstSeqDream *self, GstStructure *s, GstClockTime ts,
    GstClockTime duration, GstClockTime stream_time, GstClockTime running_time)
{
  gst_structure_set (s, "timestamp", G_TYPE_UINT64, ts, "stream-time",
      G_TYPE_UINT64, stream_time, "running-time", G_TYPE_UINT64, running_time,
      "duration", G_TYPE_UINT64, duration, NULL);
}

/* The result of one window: softmax of the logits, top class, and the
 * "seqdream" structure. */
typedef struct
{
  gint top, runner_up;
  gdouble confidence;
  GstClockTime stream_time, running_time;
  GstStructure *s;
} WindowResult;

static void
make_result (GstSeqDream *self, const gfloat *logits, GstClockTime ts,
    GstClockTime duration, WindowResult *r)
{
  gint K = self->n_classes;
  gfloat *p = g_newa (gfloat, K);
  gdouble zmax = logits[0], sum = 0.0;
  gint top = 0, second = -1;
  GstClockTime stream_time = GST_CLOCK_TIME_NONE;
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  const gchar *const *labels = sd_model_get_labels (self->model);

  for (gint k = 1; k < K; k++)
    zmax = MAX (zmax, logits[k]);
  for (gint k = 0; k < K; k++)
    sum += exp (logits[k] - zmax);
  for (gint k = 0; k < K; k++)
    p[k] = (gfloat) (exp (logits[k] - zmax) / sum);
  for (gint k = 1; k < K; k++)
    if (logits[k] > logits[top])
      top = k;
  for (gint k = 0; k < K; k++)
    if (k != top && (second < 0 || logits[k] > logits[second]))
      second = k;

  if (self->segment.format == GST_FORMAT_TIME && GST_CLOCK_TIME_IS_VALID (ts)) {
    stream_time
        = gst_segment_to_stream_time (&self->segment, GST_FORMAT_TIME, ts);
    running_time
        = gst_segment_to_running_time (&self->segment, GST_FORMAT_TIME, ts);
  }

  r->top = top;
  r->runner_up = second;
  r->stream_time = stream_time;
  r->running_time = running_time;
  r->confidence = p[top];
  r->s = gst_structure_new_empty ("seqdream");
  set_time_fields (self, r->s, ts, duration, stream_time, running_time);
  gst_structure_set (r->s, "class", G_TYPE_STRING, labels[top], "class-index",
      G_TYPE_INT, top, "confidence", G_TYPE_DOUBLE, (gdouble) p[top], NULL);
  set_double_array (r->s, "probabilities", p, K);
  set_double_array (r->s, "logits", logits, K);
  gst_structure_set_value (r->s, "labels", &self->labels);
}

/* The SdDreamConfig of the current properties for a dream of T samples. */
static void
make_dream_config (
    GstSeqDream *self, const Settings *s, guint T, SdDreamConfig *config)
{
  SdDreamConfig c;

  sd_dream_config_init (&c, self->model);
  c.cancel = &self->dream_cancel;
  c.length = (int) T;
  c.steps = (int) s->steps;
  c.lr = (float) s->learning_rate;
  /* Centred dreams run every step, deep into the class (the paper's
   * "centred" dream); border dreams stop on the boundary
   * (border_tolerance). */

  /* Always: stay in the range the classifier saw in training and, for
   * z-normalised windows, have no more energy than a real window (RMS 1). */
  sd_dream_config_add (&c, sd_regularizer_default (SD_REG_CLIP));
  if (self->norm.mode == SD_NORM_PER_SERIES)
    sd_dream_config_add (&c, sd_regularizer_default (SD_REG_NORM_BOUND));

  /* The element's properties (0 = off). */
  if (s->l2 > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_L2);
    r.weight = (float) s->l2;
    sd_dream_config_add (&c, r);
  }
  if (s->tv > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_TV);
    r.weight = (float) s->tv;
    sd_dream_config_add (&c, r);
  }
  if (s->smoothing_alpha > 0.0 && s->smoothing_alpha < 1.0) {
    /* Zero-phase: the causal filter would shift the dream against the
     * window it explains. */
    SdRegularizer r = sd_regularizer_default (SD_REG_EXP_SMOOTH_ZEROPHASE);
    r.param = (float) s->smoothing_alpha;
    sd_dream_config_add (&c, r);
  }
  if (s->gaussian_sigma > 0.0) {
    SdRegularizer r = sd_regularizer_default (SD_REG_GAUSSIAN);
    r.param = (float) MIN (s->gaussian_sigma, (gdouble) T);
    sd_dream_config_add (&c, r);
  }
  *config = c;
}

/* A dream request for a window (normalised samples x). Call with
 * dream_lock (for the seed counter). */
static Item *
make_dream_item_locked (GstSeqDream *self, const Settings *s,
    GstSeqDreamMode mode, gint class_a, gint class_b, const gfloat *x, guint T,
    gdouble mean, gdouble sd, GstClockTime pts, GstClockTime duration,
    GstClockTime stream_time, GstClockTime running_time)
{
  Item *item = g_new0 (Item, 1);

  item->type = ITEM_DREAM;
  item->mode = mode;
  item->class_a = class_a;
  item->class_b = class_b;
  item->pts = pts;
  item->duration = duration;
  item->stream_time = stream_time;
  item->running_time = running_time;
  item->length = T;
  item->window = g_memdup2 (x, T * sizeof (gfloat));
  item->mean = mean;
  item->sd = sd;
  item->seed = s->seed + self->dreams_requested++;
  make_dream_config (self, s, T, &item->config);
  return item;
}

/* Does this scored window trigger a dream? Updates the trigger state. */
static gboolean
check_trigger (GstSeqDream *self, const Settings *s, const WindowResult *r,
    guint64 start_sample, GstClockTime ts)
{
  gboolean trigger = FALSE;
  GstClockTime pos;

  switch (s->trigger) {
    case GST_SEQ_DREAM_TRIGGER_CLASS_CHANGE:
      trigger = self->prev_class >= 0 && r->top != self->prev_class;
      break;
    case GST_SEQ_DREAM_TRIGGER_INTERVAL:
      pos = GST_CLOCK_TIME_IS_VALID (ts)
                ? ts
                : gst_util_uint64_scale_int (
                    start_sample, GST_SECOND, self->rate);
      if (!GST_CLOCK_TIME_IS_VALID (self->last_trigger_pos)
          || pos < self->last_trigger_pos
          || pos - self->last_trigger_pos >= s->interval) {
        trigger = TRUE;
        self->last_trigger_pos = pos;
      }
      break;
    case GST_SEQ_DREAM_TRIGGER_THRESHOLD:
      trigger = r->confidence < s->threshold
                && (self->prev_confidence < 0.0
                    || self->prev_confidence >= s->threshold);
      break;
    case GST_SEQ_DREAM_TRIGGER_NONE:
    case GST_SEQ_DREAM_TRIGGER_MANUAL:
    default:
      break;
  }
  self->prev_class = r->top;
  self->prev_confidence = r->confidence;
  return trigger;
}

/* Score the windows [start + j*hop, + len) for j < n of the accumulator
 * (len < window only at EOS), in batches. Results are appended to
 * `results` (GstStructure*), dream requests queued. */
static void
score_windows (GstSeqDream *self, const Settings *s, guint n, guint len,
    GPtrArray *results)
{
  guint T = len;
  gdouble means[MAX_BATCH], sds[MAX_BATCH];
  guint rows[MAX_BATCH];
  gint last_valid = -1;
  WindowResult last_r = { 0 };
  GstClockTime last_ts = GST_CLOCK_TIME_NONE, last_dur = GST_CLOCK_TIME_NONE;
  gdouble last_mean = 0.0, last_sd = 1.0;

  for (guint j0 = 0; j0 < n; j0 += MAX_BATCH) {
    guint nb = MIN (MAX_BATCH, n - j0), B = 0;
    const gfloat *logits;

    /* Copy the finite windows into the batch and normalise them. */
    for (guint j = j0; j < j0 + nb; j++) {
      const gfloat *x = self->acc + (gsize) j * self->hop;
      gfloat *row = self->batch + (gsize) B * T; /* (B, T) rows */
      if (!all_finite (x, T)) {
        guint64 start = self->acc_offset + (guint64) j * self->hop;
        GST_DEBUG_OBJECT (self,
            "window at sample %" G_GUINT64_FORMAT " holds NaN/Inf", start);
        /* One warning per run of such windows. */
        if (!self->bad_run) {
          self->bad_run = TRUE;
          GST_ELEMENT_WARNING (self, STREAM, FORMAT,
              ("The input holds NaN or Inf samples; windows that contain "
               "them are not scored."),
              ("first in the window at %" GST_TIME_FORMAT
               " (sample %" G_GUINT64_FORMAT " after the last restart)",
                  GST_TIME_ARGS (sample_time (self, start)), start));
        }
        continue;
      }
      self->bad_run = FALSE;
      memcpy (row, x, T * sizeof (gfloat));
      normalize_window (self, row, T, &means[B], &sds[B]);
      rows[B++] = j;
    }
    if (B == 0)
      continue;

    logits = sd_model_forward (
        self->model, self->ws, self->batch, (int) B, (int) T);

    for (guint b = 0; b < B; b++) {
      guint64 start = self->acc_offset + (guint64) rows[b] * self->hop;
      GstClockTime ts = sample_time (self, start);
      GstClockTime end = sample_time (self, start + T);
      GstClockTime dur
          = GST_CLOCK_TIME_IS_VALID (ts)
                ? end - ts
                : gst_util_uint64_scale_int (T, GST_SECOND, self->rate);
      WindowResult r;

      make_result (self, logits + (gsize) b * self->n_classes, ts, dur, &r);
      GST_LOG_OBJECT (self,
          "window %" GST_TIME_FORMAT " + %" GST_TIME_FORMAT ": %s (%.3f)",
          GST_TIME_ARGS (ts), GST_TIME_ARGS (dur),
          gst_structure_get_string (r.s, "class"), r.confidence);

      if (check_trigger (self, s, &r, start, ts)) {
        const gfloat *row = self->batch + (gsize) b * T;
        gint class_b = r.runner_up >= 0 ? r.runner_up : r.top;
        g_mutex_lock (&self->dream_lock);
        queue_item_locked (self,
            make_dream_item_locked (self, s, s->mode, r.top, class_b, row, T,
                means[b], sds[b], ts, dur, r.stream_time, r.running_time),
            s->queue_size);
        g_mutex_unlock (&self->dream_lock);
      }
      last_valid = (gint) b;
      last_r = r;
      last_ts = ts;
      last_dur = dur;
      last_mean = means[b];
      last_sd = sds[b];
      g_ptr_array_add (results, r.s);
    }

    /* Keep the last scored window for the "dream" signal. */
    if (last_valid >= 0) {
      g_mutex_lock (&self->dream_lock);
      memcpy (self->last_window, self->batch + (gsize) last_valid * T,
          T * sizeof (gfloat));
      self->last_length = T;
      self->last_mean = last_mean;
      self->last_sd = last_sd;
      self->last_class = last_r.top;
      self->last_runner_up = last_r.runner_up;
      self->last_pts = last_ts;
      self->last_duration = last_dur;
      self->last_stream_time = last_r.stream_time;
      self->last_running_time = last_r.running_time;
      self->have_last = TRUE;
      g_mutex_unlock (&self->dream_lock);
      last_valid = -1;
    }
  }
}

/* Tell dream_src that nothing will come before the start of the window
 * that starts at `sample`. */
static void
queue_gap_until (GstSeqDream *self, guint64 sample)
{
  GstClockTime end = sample_time (self, sample);
  GstClockTime start;
  Item *item;

  if (!GST_CLOCK_TIME_IS_VALID (end))
    return;
  start
      = GST_CLOCK_TIME_IS_VALID (self->gap_end) ? self->gap_end : self->base_ts;
  if (end <= start)
    return;
  item = g_new0 (Item, 1);
  item->type = ITEM_GAP;
  item->start = start;
  item->end = end;
  self->gap_end = end;
  queue_item (self, item, G_MAXUINT);
}

/* A GAP of zero duration at the start of the stream, queued before the
 * first buffer goes out on src: with a window longer than the buffers no
 * window completes before that push, and a sink on src blocks this thread
 * in preroll until every sink has prerolled, including the one behind
 * dream_src, which would otherwise wait for data forever. */
static void
queue_preroll_gap (GstSeqDream *self)
{
  Item *item;

  if (GST_CLOCK_TIME_IS_VALID (self->gap_end)
      || !GST_CLOCK_TIME_IS_VALID (self->base_ts))
    return;
  item = g_new0 (Item, 1);
  item->type = ITEM_GAP;
  item->start = item->end = self->base_ts;
  self->gap_end = self->base_ts;
  queue_item (self, item, G_MAXUINT);
}

static void
structure_free0 (gpointer s)
{
  if (s != NULL)
    gst_structure_free (s);
}

/* Post the messages of the scored windows; take the structures. */
static void
post_results (GstSeqDream *self, const Settings *s, GPtrArray *results)
{
  for (guint i = 0; i < results->len; i++) {
    GstStructure *st = g_ptr_array_index (results, i);
    results->pdata[i] = NULL;
    if (s->post_messages)
      gst_element_post_message (
          GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), st));
    else
      gst_structure_free (st);
  }
  g_ptr_array_set_size (results, 0);
}

static GstFlowReturn
gst_seq_dream_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  Settings s;
  GstMapInfo map;
  gsize n;
  guint n_win = 0;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func (structure_free0);
  GstFlowReturn ret;

  if (G_UNLIKELY (self->rate <= 0)) {
    GST_ELEMENT_ERROR (
        self, CORE, NEGOTIATION, (NULL), ("received a buffer before caps"));
    gst_buffer_unref (buffer);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  get_settings (self, &s);

  if (GST_BUFFER_IS_DISCONT (buffer) && self->n_received > 0) {
    GST_DEBUG_OBJECT (self, "DISCONT at %" GST_TIME_FORMAT ": windows restart",
        GST_TIME_ARGS (GST_BUFFER_PTS (buffer)));
    restart_windows (self);
  }
  if (self->restart) {
    self->restart = FALSE;
    self->base_ts = GST_BUFFER_PTS (buffer);
  }

  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("could not map buffer"));
    gst_buffer_unref (buffer);
    return GST_FLOW_ERROR;
  }
  n = map.size / sizeof (gfloat);
  append_samples (self, (const gfloat *) map.data, n);
  self->n_received += n;
  gst_buffer_unmap (buffer, &map);

  if (self->acc_len >= self->window) {
    n_win = (guint) ((self->acc_len - self->window) / self->hop + 1);
    score_windows (self, &s, n_win, self->window, results);
    self->last_window_end
        = self->acc_offset + (guint64) (n_win - 1) * self->hop + self->window;
    consume_samples (self, (guint64) n_win * self->hop);
    queue_gap_until (self, self->acc_offset - self->hop);
  }

  if (results->len > 0) {
    /* Shares the memory when the buffer is not writable. */
    buffer = gst_buffer_make_writable (buffer);
    for (guint i = 0; i < results->len; i++)
      gst_buffer_add_seq_dream_meta (buffer, g_ptr_array_index (results, i));
    post_results (self, &s, results);
  }

  queue_preroll_gap (self);
  ret = gst_pad_push (self->srcpad, buffer);
  return gst_flow_combiner_update_pad_flow (
      self->flow_combiner, self->srcpad, ret);
}

/* At EOS: score the tail if it holds at least half a window of samples that
 * no window covered. */
static void
score_tail (GstSeqDream *self)
{
  Settings s;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func (structure_free0);

  if (self->rate <= 0 || self->acc_len == 0 || self->window == 0)
    return;
  if (2 * self->acc_len < self->window
      || self->acc_offset + self->acc_len <= self->last_window_end) {
    GST_DEBUG_OBJECT (self,
        "EOS: dropping a tail of %" G_GSIZE_FORMAT " samples", self->acc_len);
    return;
  }
  get_settings (self, &s);
  score_windows (self, &s, 1, (guint) self->acc_len, results);
  self->last_window_end = self->acc_offset + self->acc_len;
  consume_samples (self, self->acc_len);
  post_results (self, &s, results);
}

/* ---- the worker: dreams, and everything that dream_src pushes ---- */

/* Takes dream_src's stream lock when the item (of `generation`) is still
 * current; FALSE, without the lock, when a flush or stop made it stale. */
static gboolean
begin_push (GstSeqDream *self, guint generation)
{
  gboolean ok;

  GST_PAD_STREAM_LOCK (self->dream_srcpad);
  g_mutex_lock (&self->dream_lock);
  ok = !self->flushing && !self->worker_stop && generation == self->generation;
  g_mutex_unlock (&self->dream_lock);
  if (!ok)
    GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
  return ok;
}

static void
end_push (GstSeqDream *self)
{
  GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
}

static gboolean
dream_src_has_segment (GstSeqDream *self)
{
  GstEvent *ev
      = gst_pad_get_sticky_event (self->dream_srcpad, GST_EVENT_SEGMENT, 0);

  if (ev == NULL)
    return FALSE;
  gst_event_unref (ev);
  return TRUE;
}

static void
worker_push_event (GstSeqDream *self, Item *item)
{
  GstEvent *event = item->event;

  if (!begin_push (self, item->generation))
    return;
  item->event = NULL;
  if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    self->pushed_pos = GST_CLOCK_TIME_NONE;
    self->dream_discont = TRUE;
  }
  GST_DEBUG_OBJECT (self->dream_srcpad, "pushing %" GST_PTR_FORMAT, event);
  gst_pad_push_event (self->dream_srcpad, event);
  end_push (self);
}

/* Only this thread touches dream_src's sticky events, under its stream
 * lock: storing them from the streaming thread while a push of this one
 * was walking the pad's sticky events made that push send the old
 * stream's segment again after the new stream-start (seen under load). */
static void
worker_store_sticky (GstSeqDream *self, Item *item)
{
  GST_PAD_STREAM_LOCK (self->dream_srcpad);
  GST_DEBUG_OBJECT (
      self->dream_srcpad, "storing %" GST_PTR_FORMAT, item->event);
  gst_pad_store_sticky_event (self->dream_srcpad, item->event);
  GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
}

static void
worker_push_gap (GstSeqDream *self, Item *item)
{
  GstClockTime start = item->start;

  if (GST_CLOCK_TIME_IS_VALID (self->pushed_pos) && self->pushed_pos > start)
    start = self->pushed_pos;
  /* empty: nothing to say, except the first (preroll) GAP */
  if (item->end < start
      || (item->end == start && GST_CLOCK_TIME_IS_VALID (self->pushed_pos)))
    return;
  if (!begin_push (self, item->generation))
    return;
  if (dream_src_has_segment (self)) {
    gst_pad_push_event (
        self->dream_srcpad, gst_event_new_gap (start, item->end - start));
    self->pushed_pos = item->end;
  }
  end_push (self);
}

static const gchar *
mode_nick (GstSeqDreamMode mode)
{
  switch (mode) {
    case GST_SEQ_DREAM_MODE_BORDER:
      return "border";
    case GST_SEQ_DREAM_MODE_FROM_WINDOW:
      return "from-window";
    case GST_SEQ_DREAM_MODE_CENTERED:
    default:
      return "centered";
  }
}

static GstStructure *
make_dream_message (GstSeqDream *self, const Item *item,
    const SdDreamResult *res, const gfloat *data)
{
  const gchar *const *labels = sd_model_get_labels (self->model);
  GstStructure *s = gst_structure_new_empty ("seqdream-dream");
  const gfloat *x = res->sequence;
  gint T = res->length;
  gdouble tv = 0.0, dtw;

  for (gint t = 0; t + 1 < T; t++)
    tv += fabs (x[t + 1] - x[t]);
  tv = T > 1 ? tv / (T - 1) : 0.0;
  dtw = sd_dtw_distance (
      x, T, item->window, (int) item->length, MAX (1, T / 10), INFINITY);

  set_time_fields (self, s, item->pts, item->duration, item->stream_time,
      item->running_time);
  gst_structure_set (s, "class", G_TYPE_STRING, labels[item->class_a],
      "class-index", G_TYPE_INT, item->class_a, "mode", G_TYPE_STRING,
      mode_nick (item->mode), NULL);
  if (item->mode == GST_SEQ_DREAM_MODE_BORDER)
    gst_structure_set (s, "border-class", G_TYPE_STRING, labels[item->class_b],
        "border-class-index", G_TYPE_INT, item->class_b, NULL);
  gst_structure_set (s, "probability", G_TYPE_DOUBLE,
      (gdouble) res->probability, "logit-margin", G_TYPE_DOUBLE,
      (gdouble) res->logit_margin, "objective", G_TYPE_DOUBLE,
      (gdouble) res->objective, "steps", G_TYPE_INT, res->steps, "best-step",
      G_TYPE_INT, res->best_step, "converged", G_TYPE_BOOLEAN, res->converged,
      "tv", G_TYPE_DOUBLE, tv, "dtw-to-window", G_TYPE_DOUBLE, dtw, NULL);
  set_double_array (s, "probabilities", res->probabilities, self->n_classes);
  set_double_array (s, "sequence", data, T);
  return s;
}

static void
worker_dream (GstSeqDream *self, Item *item)
{
  g_autoptr (GError) error = NULL;
  SdDreamResult *res[1] = { NULL };
  SdDreamSpec spec;
  gboolean stale;
  gfloat *data;
  GstBuffer *buf;
  GstFlowReturn ret;
  gint T;

  if (self->dreamer == NULL) {
    self->dreamer = sd_dreamer_new (self->model, 1, (int) self->window, &error);
    if (self->dreamer == NULL) {
      GST_ELEMENT_WARNING (self, LIBRARY, INIT,
          ("Could not set up dreaming: %s", error->message), (NULL));
      return;
    }
  }

  memset (&spec, 0, sizeof (spec));
  switch (item->mode) {
    case GST_SEQ_DREAM_MODE_BORDER:
      spec.objective = sd_objective_border (item->class_a, item->class_b);
      spec.init.type = SD_INIT_GAUSSIAN;
      spec.init.scale = 0.1f;
      break;
    case GST_SEQ_DREAM_MODE_FROM_WINDOW:
      spec.objective = sd_objective_centered (item->class_a);
      spec.init.type = SD_INIT_SERIES;
      spec.init.series = item->window;
      break;
    case GST_SEQ_DREAM_MODE_CENTERED:
    default:
      spec.objective = sd_objective_centered (item->class_a);
      spec.init.type = SD_INIT_GAUSSIAN;
      spec.init.scale = 0.1f;
      break;
  }
  spec.seed = item->seed;

  GST_DEBUG_OBJECT (self, "dreaming %s of class %d for %" GST_TIME_FORMAT,
      mode_nick (item->mode), item->class_a, GST_TIME_ARGS (item->pts));
  if (!sd_dreamer_run (self->dreamer, &item->config, &spec, 1, res, &error)) {
    if (g_error_matches (error, SD_ERROR, SD_ERROR_CANCELLED)) {
      GST_DEBUG_OBJECT (self, "dream cancelled by a flush or a stop");
      g_clear_error (&error);
      return;
    }
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("Dream of class %d (%s) failed: %s", item->class_a,
            mode_nick (item->mode), error->message),
        (NULL));
    return;
  }

  g_mutex_lock (&self->dream_lock);
  stale = self->flushing || self->worker_stop
          || item->generation != self->generation;
  g_mutex_unlock (&self->dream_lock);
  if (stale) {
    GST_DEBUG_OBJECT (self, "dropping a dream made stale by a flush");
    sd_dream_result_free (res[0]);
    return;
  }

  /* Back to the units of the data. */
  T = res[0]->length;
  data = g_new (gfloat, T);
  for (gint t = 0; t < T; t++)
    data[t] = (gfloat) (res[0]->sequence[t] * item->sd + item->mean);

  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
                              make_dream_message (self, item, res[0], data)));
  sd_dream_result_free (res[0]);

  buf = gst_buffer_new_wrapped (data, (gsize) T * sizeof (gfloat));
  GST_BUFFER_PTS (buf) = item->pts;
  GST_BUFFER_DURATION (buf) = item->duration;
  if (!begin_push (self, item->generation)) {
    gst_buffer_unref (buf);
    return;
  }
  if (!dream_src_has_segment (self)) {
    end_push (self);
    gst_buffer_unref (buf);
    return;
  }
  if (self->dream_discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->dream_discont = FALSE;
  }
  ret = gst_pad_push (self->dream_srcpad, buf);
  if (GST_CLOCK_TIME_IS_VALID (item->pts)
      && GST_CLOCK_TIME_IS_VALID (item->duration)) {
    GstClockTime end = item->pts + item->duration;
    if (!GST_CLOCK_TIME_IS_VALID (self->pushed_pos) || end > self->pushed_pos)
      self->pushed_pos = end;
  }
  end_push (self);
  GST_DEBUG_OBJECT (self, "pushed a dream: %s", gst_flow_get_name (ret));
}

static gpointer
worker_func (gpointer data)
{
  GstSeqDream *self = GST_SEQ_DREAM (data);

  g_mutex_lock (&self->dream_lock);
  for (;;) {
    Item *item;

    while (!self->worker_stop && g_queue_is_empty (&self->items))
      g_cond_wait (&self->dream_cond, &self->dream_lock);
    if (self->worker_stop)
      break;
    item = g_queue_pop_head (&self->items);
    if (item->type == ITEM_DREAM)
      self->n_dreams_queued--;
    g_mutex_unlock (&self->dream_lock);

    switch (item->type) {
      case ITEM_EVENT:
        worker_push_event (self, item);
        break;
      case ITEM_STICKY:
        worker_store_sticky (self, item);
        break;
      case ITEM_GAP:
        worker_push_gap (self, item);
        break;
      case ITEM_DREAM:
        worker_dream (self, item);
        break;
    }
    item_free (item);

    g_mutex_lock (&self->dream_lock);
  }
  g_mutex_unlock (&self->dream_lock);
  return NULL;
}

/* ---- the "dream" action signal ---- */

static gboolean
gst_seq_dream_dream (GstSeqDream *self, const gchar *label, const gchar *mode)
{
  Settings s;
  GstSeqDreamMode m;
  gint a, b;
  gboolean ok = FALSE;

  get_settings (self, &s);
  if (s.trigger == GST_SEQ_DREAM_TRIGGER_NONE) {
    GST_WARNING_OBJECT (self, "dream-trigger is none: dream signal ignored");
    return FALSE;
  }
  m = s.mode;
  if (mode != NULL && *mode != '\0') {
    GEnumClass *ec = g_type_class_ref (GST_TYPE_SEQ_DREAM_MODE);
    GEnumValue *v = g_enum_get_value_by_nick (ec, mode);
    if (v != NULL)
      m = v->value;
    g_type_class_unref (ec);
    if (v == NULL) {
      GST_WARNING_OBJECT (self,
          "unknown dream mode \"%s\" (centered, border or from-window)", mode);
      return FALSE;
    }
  }

  g_mutex_lock (&self->dream_lock);
  if (!self->started || !self->have_last) {
    GST_WARNING_OBJECT (self, "no window scored yet: nothing to dream about");
    goto done;
  }
  if (label != NULL && *label != '\0') {
    a = sd_model_find_label (self->model, label);
    if (a < 0) {
      GST_WARNING_OBJECT (self, "the model has no class \"%s\"", label);
      goto done;
    }
  } else {
    a = self->last_class;
  }
  b = a == self->last_class ? self->last_runner_up : self->last_class;
  if (b < 0)
    b = a;
  queue_item_locked (self,
      make_dream_item_locked (self, &s, m, a, b, self->last_window,
          self->last_length, self->last_mean, self->last_sd, self->last_pts,
          self->last_duration, self->last_stream_time, self->last_running_time),
      s.queue_size);
  ok = TRUE;
done:
  g_mutex_unlock (&self->dream_lock);
  return ok;
}

/* ---- pads ---- */

static void
warn_refused_caps (GstSeqDream *self, GstCaps *caps)
{
  gchar *str;

  if (!g_atomic_int_compare_and_exchange (&self->warned_no_caps_filter, 0, 1))
    return;
  str = gst_caps_to_string (caps);
  GST_ELEMENT_WARNING (self, CORE, NEGOTIATION,
      ("seqdream accepts only mono 32-bit float audio (audio/x-raw, "
       "format=F32LE, layout=interleaved, channels=1); it was offered %s. "
       "Put audioconvert before seqdream.",
          str),
      (NULL));
  g_free (str);
}

static gboolean
gst_seq_dream_sink_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS: {
      GstCaps *filter, *tmpl, *caps;

      gst_query_parse_caps (query, &filter);
      tmpl = gst_pad_get_pad_template_caps (pad);
      /* Passthrough: what downstream of both source pads accepts. */
      caps = gst_pad_peer_query_caps (self->srcpad, tmpl);
      if (gst_pad_is_linked (self->dream_srcpad)) {
        GstCaps *dream = gst_pad_peer_query_caps (self->dream_srcpad, tmpl);
        GstCaps *both = gst_caps_intersect (caps, dream);
        gst_caps_unref (caps);
        gst_caps_unref (dream);
        caps = both;
      }
      if (filter != NULL) {
        GstCaps *f
            = gst_caps_intersect_full (filter, caps, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (caps);
        caps = f;
        if (gst_caps_is_empty (caps) && !gst_caps_is_empty (filter)
            && !gst_caps_can_intersect (filter, tmpl)
            && gst_structure_has_name (
                gst_caps_get_structure (filter, 0), "audio/x-raw"))
          warn_refused_caps (self, filter);
      }
      gst_query_set_caps_result (query, caps);
      gst_caps_unref (caps);
      gst_caps_unref (tmpl);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS: {
      GstCaps *caps, *tmpl;
      gboolean ok;

      gst_query_parse_accept_caps (query, &caps);
      tmpl = gst_pad_get_pad_template_caps (pad);
      ok = gst_caps_is_subset (caps, tmpl);
      gst_caps_unref (tmpl);
      if (!ok)
        warn_refused_caps (self, caps);
      gst_query_set_accept_caps_result (query, ok);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_seq_dream_dream_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY: {
      gboolean live;
      GstClockTime min, max;
      gint rate = g_atomic_int_get (&self->rate);

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      /* A dream comes at least one window after the window starts, and the
       * queue holds requests for as long as dreams take. */
      gst_query_parse_latency (query, &live, &min, &max);
      if (rate > 0 && self->window > 0)
        min += gst_util_uint64_scale_int (self->window, GST_SECOND, rate);
      gst_query_set_latency (query, live, min, GST_CLOCK_TIME_NONE);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static GstIterator *
gst_seq_dream_iterate_internal_links (GstPad *pad, GstObject *parent)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  GstPad *other = pad == self->sinkpad ? self->srcpad : self->sinkpad;
  GValue v = G_VALUE_INIT;
  GstIterator *it;

  /* sink <-> src only: allocation queries and sticky events do not go to
   * dream_src, upstream queries from dream_src reach the sink pad. */
  g_value_init (&v, GST_TYPE_PAD);
  g_value_set_object (&v, other);
  it = gst_iterator_new_single (GST_TYPE_PAD, &v);
  g_value_unset (&v);
  return it;
}

static gboolean
gst_seq_dream_src_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_SEEK: {
      /* A pipeline seek reaches us from the sinks of both branches: forward
       * it once. */
      guint32 seqnum = gst_event_get_seqnum (event);
      gboolean dup;

      GST_OBJECT_LOCK (self);
      dup = seqnum == self->last_seek_seqnum;
      self->last_seek_seqnum = seqnum;
      GST_OBJECT_UNLOCK (self);
      if (dup) {
        GST_DEBUG_OBJECT (pad, "seek %u already forwarded", seqnum);
        gst_event_unref (event);
        return TRUE;
      }
      return gst_pad_push_event (self->sinkpad, event);
    }
    case GST_EVENT_QOS:
    case GST_EVENT_RECONFIGURE:
      /* The dream branch does not steer the stream. */
      if (pad == self->dream_srcpad) {
        gst_event_unref (event);
        return TRUE;
      }
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static gboolean
set_caps (GstSeqDream *self, GstCaps *caps)
{
  GstAudioInfo info;
  GstCaps *dream_caps;
  GstEvent *ev;
  gdouble model_rate;

  if (!gst_audio_info_from_caps (&info, caps)
      || GST_AUDIO_INFO_FORMAT (&info) != GST_AUDIO_FORMAT_F32LE
      || GST_AUDIO_INFO_CHANNELS (&info) != 1
      || GST_AUDIO_INFO_LAYOUT (&info) != GST_AUDIO_LAYOUT_INTERLEAVED) {
    gchar *str = gst_caps_to_string (caps);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("seqdream accepts only mono 32-bit float audio (F32LE); it got %s. "
         "Put audioconvert before seqdream.",
            str),
        (NULL));
    g_free (str);
    return FALSE;
  }

  if (GST_AUDIO_INFO_RATE (&info) != self->rate) {
    restart_windows (self);
    g_atomic_int_set (&self->rate, GST_AUDIO_INFO_RATE (&info));
  }
  model_rate = sd_model_get_sample_rate (self->model);
  if (model_rate > 0.0 && !self->warned_rate
      && fabs (model_rate - self->rate) > 0.01 * model_rate) {
    self->warned_rate = TRUE;
    GST_ELEMENT_WARNING (self, STREAM, FORMAT,
        ("The model was trained at %g Hz but the stream is at %d Hz: put "
         "audioresample before seqdream.",
            model_rate, self->rate),
        (NULL));
  }

  /* dream_src: stream-start (now that the sink pad holds upstream's, for
   * the stream id) and caps, queued for the worker, which stores them on
   * the pad; they go out before its next segment, GAP or buffer. */
  if (self->dream_stream_id == NULL) {
    GstEvent *up
        = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_STREAM_START, 0);
    guint group;

    self->dream_stream_id = gst_pad_create_stream_id (
        self->dream_srcpad, GST_ELEMENT (self), "dream");
    ev = gst_event_new_stream_start (self->dream_stream_id);
    if (up != NULL) {
      if (gst_event_parse_group_id (up, &group))
        gst_event_set_group_id (ev, group);
      gst_event_unref (up);
    }
    queue_event (self, ITEM_STICKY, ev);
  }
  dream_caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING,
      "F32LE", "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT,
      self->rate, "channels", G_TYPE_INT, 1, NULL);
  /* Caps only when they change (an equal caps event stored again is sent
   * again) or for a new stream, which needs its caps after its
   * stream-start. */
  if (self->new_stream || self->dream_caps == NULL
      || !gst_caps_is_equal (self->dream_caps, dream_caps)) {
    queue_event (self, ITEM_STICKY, gst_event_new_caps (dream_caps));
    gst_caps_replace (&self->dream_caps, dream_caps);
  }
  self->new_stream = FALSE;
  gst_caps_unref (dream_caps);
  return TRUE;
}

static gboolean
gst_seq_dream_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);

  GST_LOG_OBJECT (pad, "%" GST_PTR_FORMAT, event);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START: {
      /* A new stream: dream_src gets a new stream-start with the next
       * caps (the sink pad stores upstream's after this returns). */
      if (self->dream_stream_id != NULL) {
        GstEvent *up = gst_pad_get_sticky_event (
            self->sinkpad, GST_EVENT_STREAM_START, 0);
        const gchar *a = NULL, *b = NULL;
        if (up != NULL)
          gst_event_parse_stream_start (up, &a);
        gst_event_parse_stream_start (event, &b);
        if (g_strcmp0 (a, b) != 0) {
          GstEvent *ev;
          guint group;
          g_free (self->dream_stream_id);
          self->dream_stream_id = g_strconcat (b, "/dream", NULL);
          ev = gst_event_new_stream_start (self->dream_stream_id);
          if (gst_event_parse_group_id (event, &group))
            gst_event_set_group_id (ev, group);
          queue_event (self, ITEM_STICKY, ev);
          self->new_stream = TRUE;
        }
        if (up != NULL)
          gst_event_unref (up);
      }
      restart_windows (self);
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_CAPS: {
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      if (!set_caps (self, caps)) {
        gst_event_unref (event);
        return FALSE;
      }
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->segment);
      restart_windows (self);
      self->gap_end = GST_CLOCK_TIME_NONE;
      queue_event (self, ITEM_EVENT, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_GAP: {
      GstClockTime ts, dur;

      gst_event_parse_gap (event, &ts, &dur);
      restart_windows (self);
      if (GST_CLOCK_TIME_IS_VALID (ts) && GST_CLOCK_TIME_IS_VALID (dur)) {
        Item *item = g_new0 (Item, 1);
        item->type = ITEM_GAP;
        item->start = ts;
        item->end = ts + dur;
        self->gap_end = item->end;
        queue_item (self, item, G_MAXUINT);
      }
      return gst_pad_push_event (self->srcpad, event);
    }
    case GST_EVENT_EOS:
      score_tail (self);
      queue_event (self, ITEM_EVENT, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->dream_lock);
      self->flushing = TRUE;
      g_atomic_int_set (&self->dream_cancel, 1);
      clear_items_locked (self, TRUE);
      g_mutex_unlock (&self->dream_lock);
      /* Unblocks a push of the worker. */
      gst_pad_push_event (self->dream_srcpad, gst_event_ref (event));
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      /* Wait for a push of the worker to return. */
      GST_PAD_STREAM_LOCK (self->dream_srcpad);
      gst_pad_push_event (self->dream_srcpad, gst_event_ref (event));
      g_mutex_lock (&self->dream_lock);
      self->flushing = FALSE;
      /* A dream still running from before the flush is stale anyway (its
       * generation); new ones must not see the cancel. */
      g_atomic_int_set (&self->dream_cancel, 0);
      g_mutex_unlock (&self->dream_lock);
      GST_PAD_STREAM_UNLOCK (self->dream_srcpad);
      restart_windows (self);
      self->gap_end = GST_CLOCK_TIME_NONE;
      gst_segment_init (&self->segment, GST_FORMAT_TIME);
      gst_flow_combiner_reset (self->flow_combiner);
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

/* A refused event becomes a flow return upstream. Going to READY, the
 * source pads are deactivated before the sink pad (and dream_src between
 * them), so an event that arrives in between (a segment right after a
 * seek) finds src flushing: that is FLUSHING, as for a buffer; the default
 * mapping of a refused event (GST_FLOW_ERROR) made upstream's next push
 * fail and the source post "Internal data stream error" while stopping. */
static GstFlowReturn
gst_seq_dream_sink_event_full (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstSeqDream *self = GST_SEQ_DREAM (parent);
  gboolean is_caps = GST_EVENT_TYPE (event) == GST_EVENT_CAPS;
  gboolean flushing;

  if (gst_seq_dream_sink_event (pad, parent, event))
    return GST_FLOW_OK;
  GST_OBJECT_LOCK (self->srcpad);
  flushing = GST_PAD_IS_FLUSHING (self->srcpad);
  GST_OBJECT_UNLOCK (self->srcpad);
  if (flushing)
    return GST_FLOW_FLUSHING;
  return is_caps ? GST_FLOW_NOT_NEGOTIATED : GST_FLOW_ERROR;
}

/* ---- state ---- */

static void
gst_seq_dream_stop (GstSeqDream *self)
{
  GThread *worker;

  g_mutex_lock (&self->dream_lock);
  self->worker_stop = TRUE;
  g_atomic_int_set (&self->dream_cancel, 1);
  self->started = FALSE;
  self->have_last = FALSE;
  clear_items_locked (self, FALSE);
  worker = self->worker;
  self->worker = NULL;
  g_mutex_unlock (&self->dream_lock);

  /* The dream in progress stops at its next step (dream_cancel). */
  if (worker != NULL)
    g_thread_join (worker);

  g_clear_pointer (&self->dreamer, sd_dreamer_free);
  g_clear_pointer (&self->ws, sd_workspace_free);
  g_clear_pointer (&self->model, sd_model_unref);
  g_clear_pointer (&self->batch, g_free);
  g_clear_pointer (&self->last_window, g_free);
  g_clear_pointer (&self->acc, g_free);
  self->acc_len = self->acc_cap = 0;
  /* (Deactivating dream_src dropped its sticky events.) */
  g_clear_pointer (&self->dream_stream_id, g_free);
  gst_caps_replace (&self->dream_caps, NULL);
  self->new_stream = FALSE;
  if (G_IS_VALUE (&self->labels))
    g_value_unset (&self->labels);
  g_atomic_int_set (&self->rate, 0);
  g_atomic_int_set (&self->warned_no_caps_filter, 0);
}

static SdModel *
load_model (GstSeqDream *self, const gchar *file)
{
  g_autoptr (GError) error = NULL;
  SdModel *model;

  if (file != NULL) {
    model = sd_model_load (file, &error);
    if (model != NULL)
      return model;
    if (!g_file_test (file, G_FILE_TEST_EXISTS))
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Model file \"%s\" not found: %s", file, error->message), (NULL));
    else if (g_error_matches (error, SD_ERROR, SD_ERROR_IO))
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not read model file \"%s\": %s", file, error->message),
          (NULL));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Could not load model file \"%s\": %s", file, error->message),
          (NULL));
    return NULL;
  }

#ifdef HAVE_DEFAULT_MODEL
  {
    GBytes *bytes = g_resources_lookup_data (
        SEQDREAM_DEFAULT_MODEL_RESOURCE, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
    model = NULL;
    if (bytes != NULL) {
      model
          = sd_model_load_from_bytes (bytes, "embedded default model", &error);
      g_bytes_unref (bytes);
    }
    if (model == NULL)
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Could not load the embedded default model: %s", error->message),
          (NULL));
    return model;
  }
#else
  GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
      ("No model: set the model-file property (this build of the plugin "
       "has no embedded default model)."),
      (NULL));
  return NULL;
#endif
}

static gboolean
gst_seq_dream_start (GstSeqDream *self)
{
  g_autoptr (GError) error = NULL;
  gchar *file;
  guint window, hop;
  GstSeqDreamNormalize normalize;
  const gchar *const *labels;
  GValue v = G_VALUE_INIT;

  GST_OBJECT_LOCK (self);
  file = g_strdup (self->model_file);
  window = self->window_prop;
  hop = self->hop_prop;
  normalize = self->normalize;
  GST_OBJECT_UNLOCK (self);

  self->model = load_model (self, file);
  if (self->model == NULL) {
    g_free (file);
    return FALSE;
  }

  if (window == 0)
    window = sd_model_get_train_length (self->model);
  if (window == 0) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("The model %s records no training length: set the window property.",
            sd_model_get_display_name (self->model)),
        (NULL));
    goto fail;
  }
  self->window = window;
  self->hop = hop > 0 ? hop : MAX (1, window / 2);

  self->norm = sd_model_get_normalization (self->model);
  self->norm_is_models = TRUE;
  if (normalize != GST_SEQ_DREAM_NORMALIZE_MODEL) {
    SdNormMode mode
        = normalize == GST_SEQ_DREAM_NORMALIZE_PER_SERIES ? SD_NORM_PER_SERIES
          : normalize == GST_SEQ_DREAM_NORMALIZE_FIXED    ? SD_NORM_FIXED
                                                          : SD_NORM_NONE;
    self->norm_is_models = mode == self->norm.mode;
    self->norm.mode = mode;
  }
  if (self->norm.mode == SD_NORM_FIXED
      && !(self->norm.std > 0.0f && isfinite (self->norm.std)
           && isfinite (self->norm.mean))) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("normalize=fixed needs the mean and std of the model, and %s has "
         "none.",
            sd_model_get_display_name (self->model)),
        (NULL));
    goto fail;
  }

  self->ws = sd_workspace_new (
      self->model, MAX_BATCH, (int) window, SD_MODE_EVAL, &error);
  if (self->ws == NULL) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT,
        ("Could not set up the model for windows of %u samples: %s", window,
            error->message),
        (NULL));
    goto fail;
  }

  self->n_classes = sd_model_get_n_classes (self->model);
  labels = sd_model_get_labels (self->model);
  gst_value_array_init (&self->labels, self->n_classes);
  g_value_init (&v, G_TYPE_STRING);
  for (gint k = 0; k < self->n_classes; k++) {
    g_value_set_string (&v, labels[k]);
    gst_value_array_append_value (&self->labels, &v);
  }
  g_value_unset (&v);

  self->batch = g_new (gfloat, (gsize) MAX_BATCH * window);
  self->last_window = g_new0 (gfloat, window);
  g_atomic_int_set (&self->rate, 0);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  restart_windows (self);
  self->gap_end = GST_CLOCK_TIME_NONE;
  self->new_stream = FALSE;
  self->bad_run = FALSE;
  self->warned_rate = FALSE;
  gst_flow_combiner_reset (self->flow_combiner);
  self->pushed_pos = GST_CLOCK_TIME_NONE;
  self->dream_discont = TRUE;

  GST_OBJECT_LOCK (self);
  self->last_seek_seqnum = GST_SEQNUM_INVALID;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->dream_lock);
  self->worker_stop = FALSE;
  self->flushing = FALSE;
  g_atomic_int_set (&self->dream_cancel, 0);
  self->started = TRUE;
  self->have_last = FALSE;
  self->dropped = 0;
  self->dreams_requested = 0;
  self->worker = g_thread_try_new ("seqdream-dream", worker_func, self, &error);
  g_mutex_unlock (&self->dream_lock);
  if (self->worker == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start the dream thread: %s", error->message), (NULL));
    goto fail;
  }

  GST_INFO_OBJECT (self,
      "model %s: %d classes, window %u, hop %u, normalisation %s",
      sd_model_get_display_name (self->model), self->n_classes, self->window,
      self->hop, sd_norm_mode_to_string (self->norm.mode));
  g_free (file);
  return TRUE;

fail:
  g_free (file);
  gst_seq_dream_stop (self);
  return FALSE;
}

static GstStateChangeReturn
gst_seq_dream_change_state (GstElement *element, GstStateChange transition)
{
  GstSeqDream *self = GST_SEQ_DREAM (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (!gst_seq_dream_start (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* Nothing new for the worker; pad deactivation below unblocks it. */
      g_mutex_lock (&self->dream_lock);
      self->worker_stop = TRUE;
      self->started = FALSE;
      clear_items_locked (self, FALSE);
      g_mutex_unlock (&self->dream_lock);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      if (ret == GST_STATE_CHANGE_FAILURE)
        gst_seq_dream_stop (self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      gst_seq_dream_stop (self);
      break;
    default:
      break;
  }
  return ret;
}
