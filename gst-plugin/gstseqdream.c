/* GStreamer seqdream element
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-seqdream
 * @title: seqdream
 * @short_description: classify windows of a stream of 1 to 64 channels
 *   with a 1-D CNN and dream class prototypes
 *
 * seqdream cuts every channel of an F32 audio/sensor stream (1 to 64
 * interleaved channels) into windows of `window` samples every `hop`
 * samples, scores each window with one forward pass of
 * a seqdream model (a safetensors file or an ONNX classifier, `model-file`,
 * or the model embedded in the plugin) and reports the class as an element
 * message and as a #GstCustomMeta on the buffer, with the window's novelty:
 * whether the model knows windows like it at all. Every input buffer leaves the
 * `src` pad unchanged (same memory, timestamps and flags); `gain` scales only
 * what the model sees.
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
 * batches of up to 16 per thread. A window that contains NaN or Inf is not
 * scored (no message, no meta); the data still passes untouched and one
 * warning message is posted per run of such windows of a channel (a run
 * ends when a window of it is scored again).
 *
 * ## Channels
 *
 * The sink pad takes 1 to 64 interleaved channels (with or without a
 * channel-mask: a sensor's axes need none); 65 or more fail negotiation.
 * Every channel is windowed, scored and followed on its own: gain and
 * normalisation apply to each, and its NaN warnings, level warning and
 * seqdream-state are its own. The windows of all channels that complete
 * at a hop are scored together (hop-major: every channel of a window, then
 * the next window), `threads` threads sharing each forward pass (0, the
 * default: the processors from 8 channels on, else 1; the scores do not
 * depend on it). Every result names its `channel` (0-based): the
 * "seqdream" message, the meta, the score_src line and the
 * "seqdream-state" message. Dreams and attributions explain the windows
 * of one channel, `dream-channel` (0 by default; one the stream does not
 * have is an error when caps arrive). New caps with another channel count
 * restart the windows and every channel's state. Channel c of a stream
 * scores as a mono stream of channel c would (tests/gst/test_multichannel.c).
 *
 * ## What the model expects: units, rate, level
 *
 * A model is trained on data in some units at some rate. The embedded
 * default model (models/cwru-fcn-pool-rhythm.safetensors) expects the
 * **drive-end acceleration in g at 48 kHz** of a bearing like the CWRU
 * rig's; gst-inspect-1.0 names it in the `model-file` property. `gain`
 * multiplies the input before the model: a stream in other units (a
 * 16-bit WAV whose +-1.0 full scale is +-10 g: gain=10; volts of a
 * 100 mV/g sensor: gain=10) is brought to the model's. When the model
 * carries statistics of its training data (`seqdream calibrate`), the
 * element warns once per stream when the RMS of the gain-scaled windows
 * has stayed outside the trained level range for 2 s of stream: the
 * warning (GST_STREAM_ERROR_FORMAT) names the measured level, the range
 * and the gain that puts the level in the middle of the range, and its
 * details structure "seqdream-level" holds `level`, `level-low`,
 * `level-high`, `gain`, `suggested-gain`, `suggested-gain-low` and
 * `suggested-gain-high` (G_TYPE_DOUBLE). A new stream may warn again.
 * Without statistics there is no level check (a debug log says so).
 *
 * The sink pad takes any rate, and when the model records one it answers
 * caps queries with that rate first: `audioresample ! seqdream` then
 * resamples to the model's rate by itself. A stream at another rate is
 * still scored, with one warning that says to put audioresample before
 * the element.
 *
 * ## Message "seqdream" (one per scored window of every channel)
 *
 * - `channel` (G_TYPE_UINT): the input channel of the window, 0-based.
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
 * - `novelty` (G_TYPE_DOUBLE): how unlike the model's training data the
 *   window is: the Mahalanobis distances of the features of every stage to
 *   the nearest class mean, combined (libseqdream's sd_workspace_novelty,
 *   from the same forward pass; docs/trust.md); NaN when the model has no
 *   statistics.
 * - `known` (G_TYPE_BOOLEAN): the novelty is not above the threshold
 *   (`novelty-threshold`, by default the model's); TRUE when the model has
 *   no statistics or novelty-threshold is 0. `class` stays the arg-max
 *   either way: a window that is not known still has a most probable
 *   class, it just should not be trusted.
 *
 * ## Message "seqdream-state" (when the stream's state changes)
 *
 * A window's state is its class when it is known, else "unknown". The
 * stream's state changes when `state-holdoff` consecutive windows (3 by
 * default; 0: no such messages) agree on a state other than the current
 * one; then one message is posted, after the "seqdream" message of the
 * window that confirmed it, whatever `post-messages` says (an operator
 * who wants events and no chatter sets post-messages=false). A flush or
 * a new stream starts again from no state.
 * - `state` (G_TYPE_STRING): the class label, or "unknown".
 * - `class-index` (G_TYPE_INT): its index, -1 for unknown.
 * - `previous` (G_TYPE_STRING), `previous-class-index` (G_TYPE_INT): the
 *   state before; absent for the first state of a stream.
 * - `timestamp`, `stream-time`, `running-time`, `duration`
 *   (G_TYPE_UINT64): of the window that confirmed the state.
 * - `windows` (G_TYPE_UINT): how many consecutive windows agreed
 *   (state-holdoff, or more when it was raised meanwhile).
 * - `channel` (G_TYPE_UINT): the channel whose state changed (each channel
 *   has its own state).
 *
 * ## Meta "SeqDreamMeta"
 *
 * The same fields, in a #GstCustomMeta named "SeqDreamMeta" (registered
 * without tags), attached to the output buffer that completes the window
 * (the buffer holding its last sample); a buffer that completes several
 * windows carries one meta per window and channel, in window order, then
 * channel order. The window scored
 * at EOS has no buffer and no meta. Read it with
 * gst_buffer_get_custom_meta (buffer, "SeqDreamMeta") and
 * gst_custom_meta_get_structure ().
 *
 * ## Message "seqdream-dream" (one per finished dream)
 *
 * - `timestamp`, `stream-time`, `running-time`, `duration` (G_TYPE_UINT64):
 *   of the window the dream explains.
 * - `class` (G_TYPE_STRING), `class-index` (G_TYPE_INT): the target class.
 * - `channel` (G_TYPE_UINT): the input channel of the window the dream
 *   explains (`dream-channel`).
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
 *   of the stream: per-series normalisation is undone with the window's
 *   mean and standard deviation, fixed normalisation with the model's,
 *   then the gain is divided out.
 *
 * The same sequence leaves `dream_src` as one F32 mono buffer at the stream
 * rate (in the stream's units: a dream of the gain-scaled window divided
 * by `gain`), with a SeqDreamMeta holding the other fields of the message
 * (class, probability, mode, ...; seqdreamviz labels the dream with it).
 * `dream_src` sends stream-start, caps and the segment first, a zero-length GAP
 * at the first sample's time (so that its sink prerolls before the first window
 * is complete), then dreams and GAP events (up to the start of the latest
 * window, whenever no dream is pending) in non-decreasing timestamp order;
 * dreams of overlapping windows overlap. An unlinked `dream_src` is not an
 * error: the dreams still run and post their messages, and EOS waits for the
 * ones queued so none is lost when the application stops at EOS. As
 * after a demuxer, put a queue on each branch.
 *
 * ## Message "seqdream-attribution" (attribution != none)
 *
 * Which samples of a window made its class (libseqdream's
 * seqdream/attribution.h, docs/explain.md): the first scored window, then
 * the first at least `attribution-interval` (1 s) of stream time after
 * the last attributed one, is copied into the dream queue; the dream
 * thread computes the attribution for the window's predicted class and
 * posts this message (the streaming thread never computes one; requests
 * beyond `dream-queue-size` waiting drop the oldest, counted in
 * `attribution-dropped`; at EOS with dream_src unlinked the element waits
 * for the queued ones, as for dreams).
 * - `timestamp`, `stream-time`, `running-time`, `duration` (G_TYPE_UINT64):
 *   of the window.
 * - `class` (G_TYPE_STRING), `class-index` (G_TYPE_INT): the window's
 *   predicted class, whose logit is attributed.
 * - `channel` (G_TYPE_UINT): the input channel of the window
 *   (`dream-channel`).
 * - `method` (G_TYPE_STRING): "saliency", "gradxinput", "ig" or
 *   "smoothgrad".
 * - `attribution` (GST_TYPE_ARRAY of G_TYPE_DOUBLE): one value per sample
 *   of the window. saliency and smoothgrad: d logit / d sample, logit per
 *   unit of the stream (the gain and the normalisation are part of the
 *   function); gradxinput and ig: logit units, their sum about `logit` -
 *   `baseline-logit` (ig: within 1 % after refinement).
 * - `logit` (G_TYPE_DOUBLE): the class's logit at the window.
 * - `baseline-logit` (G_TYPE_DOUBLE): at the baseline, the all-zero
 *   window (gradxinput, ig); NaN otherwise.
 * - `steps` (G_TYPE_INT): ig: the trapezoid intervals used (at least
 *   `attribution-steps`, 8 when it is 0, doubled where completeness missed
 *   1 %); else 0.
 *
 * The buffer that completed the window has left src long before the
 * attribution is ready (the streaming thread does not wait for the dream
 * thread), so it cannot carry it. A copy of the message rides as a
 * #GstCustomMeta "SeqDreamAttributionMeta" on the first buffer that
 * leaves src after the attribution finished (its timestamp fields name
 * the window; seqdreamviz reads it); the message is the carrier that
 * always arrives, also at EOS when no buffer follows.
 *
 * ## Pad score_src (JSON lines)
 *
 * `score_src` (text/x-raw, format=utf8) carries every "seqdream" result
 * as one buffer holding one JSON object and a newline, stamped with the
 * window's timestamp and duration, in window order; the tail window of
 * EOS is pushed before EOS. Into `filesink` that is a JSON-lines file;
 * into `matroskamux` a subtitle track (S_TEXT/UTF8); into `mosquittosink`
 * one MQTT message per window. The object's fields:
 * `class` (string), `class_index` (int), `confidence` (number),
 * `labels` (array of strings), `probabilities` (array of numbers),
 * `channel` (int, the input channel, 0-based), `timestamp`,
 * `duration` and `stream-time` (int, ns; null when unknown), `known`
 * (bool) and `novelty` (number; null when the model has no statistics),
 * as in the "seqdream" message. Example:
 * |[
 * {"class":"normal","class_index":0,"confidence":0.998,"labels":["normal",
 *  ...],"probabilities":[0.998,...],"channel":0,"timestamp":0,
 *  "duration":21333333,"stream-time":0,"known":true,"novelty":2.31}
 * ]|
 * The pad gets its stream-start (upstream's stream id + "/score", flagged
 * sparse), caps, the segment, upstream's GAP events, a zero-length GAP at
 * the first buffer of each segment (so its sink prerolls before the first
 * window is complete), flushes and EOS; its latency is a window more than
 * upstream's. Unlinked, it stores these sticky events and nothing else:
 * no line is built (bench/pipeline.sh measures both), its not-linked
 * never reaches upstream while src is linked, and a peer linked later
 * gets the sticky events before its first line. As with dream_src, put
 * a queue on each branch.
 *
 * ## Dream presets
 *
 * `dream-preset` applies one of libseqdream's recommended dream settings
 * (sd_dream_config_apply_preset, docs/dreaming.md): "realistic" (the
 * default: the band or recommended filter, the feature anchor in the
 * model's novelty metric, and a stop once the dream is a typical, known
 * member of its class, or on a model with a sample rate 1500 steps at lr
 * 0.05 with the margin kept below the 99th percentile of real windows';
 * every target from the model's training statistics,
 * so no dream-reference is needed; docs/trust.md), "none" (the paper's
 * unregularised ascent; what a model without training statistics gets by
 * default, with a warning when dreams are on),
 * "recommended" (the Wiener filter of the reference data's mean spectrum,
 * 40 dB below its peak, at every step; measured on FordA), "band" (the
 * same filter smoothed over 200 Hz, for models with a sample rate) or
 * "prototype" (band and the feature anchor). The preset's regularisers
 * come first and the dream-* properties apply on top of them, as the
 * command line's options override its --preset: dream-steps and
 * dream-learning-rate set the run, clip (and the norm bound for
 * per-series windows), dream-l2, dream-tv, dream-smoothing-alpha and
 * dream-gaussian-sigma add their regularisers (dream-steps and
 * dream-learning-rate 0, their defaults, keep the preset's: realistic
 * 1500 steps at 0.05 on a model with a sample rate, 500 at 0.01 without,
 * else 500 at 0.05). Every
 * preset but none takes its targets from the model's training statistics
 * or, when it is set, from reference data: `dream-reference`, a labelled
 * UCR text file of real series of the model's classes (every class, at
 * least a window long), as the command line's --reference. Both are read
 * when the element goes to PAUSED: the file is loaded and its class mean
 * spectra and features at the window length are computed once and kept
 * until PAUSED->READY (a window scored at EOS, shorter, gets its own,
 * computed by the dream thread). An unknown preset, a preset that does not
 * apply to the model, a preset that needs reference data without
 * dream-reference, and a reference file that is missing, not valid, of
 * other labels, shorter than the window or without series of a class
 * make that state change fail with an error naming the preset or the
 * file and libseqdream's explanation.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -m filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream ! fakesink
 * ]| prints one "seqdream" message per window (embedded default model).
 * |[
 * gst-launch-1.0 -m filesrc location=daq-16bit.wav ! wavparse ! \
 *     audioconvert ! audioresample ! seqdream gain=10 post-messages=false ! \
 *     fakesink
 * ]| a 16-bit recording of a +-10 g accelerometer, at any rate: resampled
 * to the model's 48 kHz, scaled to g, and only the "seqdream-state"
 * messages (and warnings) on the bus.
 * |[
 * gst-launch-1.0 -m filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=sd model-file=model.safetensors \
 *       dream-trigger=class-change ! queue ! mux.audio_0 \
 *     sd.dream_src ! queue ! mux.audio_1 \
 *     matroskamux name=mux ! filesink location=out.mkv
 * ]| records the signal and its dreams as two audio tracks.
 * |[
 * gst-launch-1.0 -m interleave name=i ! seqdream dream-channel=2 ! \
 *     fakesink filesrc location=a.wav ! wavparse ! i.sink_0 \
 *     filesrc location=b.wav ! wavparse ! i.sink_1 \
 *     filesrc location=c.wav ! wavparse ! i.sink_2
 * ]| three sensors as channels 0-2 of one stream (examples/multichannel.sh).
 * |[
 * gst-launch-1.0 filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=sd ! queue ! mux.audio_0 \
 *     sd.score_src ! queue ! mux.subtitle_0 \
 *     matroskamux name=mux ! filesink location=out.mkv
 * ]| records the signal and its scores (a subtitle track of JSON lines);
 * `sd.score_src ! queue ! filesink location=scores.jsonl` writes them to
 * a file instead.
 * |[
 * gst-launch-1.0 -m filesrc location=forda.wav ! wavparse ! audioconvert ! \
 *     seqdream name=sd model-file=models/forda-resnet-small.safetensors \
 *       dream-trigger=class-change dream-preset=recommended \
 *       dream-reference=FordA_TRAIN.tsv ! queue ! fakesink \
 *     sd.dream_src ! queue ! fakesink
 * ]| dreams with the recommended preset, its targets from the FordA
 * training series.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstseqdream.h"
#include "gstseqdreamattribution.h"
#include "gstseqdreamchannels.h"
#include "gstseqdreammeta.h"
#include "gstseqdreampads.h"
#include "gstseqdreamprops.h"
#include "gstseqdreamprivate.h"
#include "gstseqdreamscore.h"
#include "gstseqdreamsetup.h"
#include "gstseqdreamtrust.h"
#include "gstseqdreamworker.h"

#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY (gst_seq_dream_debug);

/* F32LE, read as native floats (libseqdream runs on little-endian hosts);
 * 1 to MAX_CHANNELS (64) interleaved channels, a dream is mono. */
#define SEQ_DREAM_CAPS                                                         \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, "      \
  "rate = (int) [ 1, MAX ], channels = (int) [ 1, 64 ]"
#define SEQ_DREAM_MONO_CAPS                                                    \
  "audio/x-raw, format = (string) F32LE, layout = (string) interleaved, "      \
  "rate = (int) [ 1, MAX ], channels = (int) 1"
G_STATIC_ASSERT (MAX_CHANNELS == 64);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (SEQ_DREAM_CAPS));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE (
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (SEQ_DREAM_CAPS));
static GstStaticPadTemplate dream_src_template
    = GST_STATIC_PAD_TEMPLATE ("dream_src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS (SEQ_DREAM_MONO_CAPS));
static GstStaticPadTemplate score_src_template
    = GST_STATIC_PAD_TEMPLATE ("score_src", GST_PAD_SRC, GST_PAD_ALWAYS,
        GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

enum
{
  SIGNAL_DREAM,
  LAST_SIGNAL
};

static guint gst_seq_dream_signals[LAST_SIGNAL] = { 0 };

#define gst_seq_dream_parent_class parent_class
G_DEFINE_TYPE (GstSeqDream, gst_seq_dream, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (seqdream, "seqdream", GST_RANK_NONE,
    GST_TYPE_SEQ_DREAM, gst_seq_dream_meta_get_info ());

static void gst_seq_dream_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec);
static void gst_seq_dream_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec);
static void gst_seq_dream_finalize (GObject *object);
static GstStateChangeReturn gst_seq_dream_change_state (
    GstElement *element, GstStateChange transition);

static void
gst_seq_dream_class_init (GstSeqDreamClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  gobject_class->set_property = gst_seq_dream_set_property;
  gobject_class->get_property = gst_seq_dream_get_property;
  gobject_class->finalize = gst_seq_dream_finalize;
  gst_seq_dream_install_properties (gobject_class);

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
      "Classifies windows of each channel with a 1-D CNN, posts the scores "
      "and dreams class prototypes (activation maximisation)",
      "seqdream developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (
      element_class, &dream_src_template);
  gst_element_class_add_static_pad_template (
      element_class, &score_src_template);

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

  self->score_srcpad
      = gst_pad_new_from_static_template (&score_src_template, "score_src");
  gst_pad_set_event_function (
      self->score_srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_src_event));
  /* (late by a window, as dream_src) */
  gst_pad_set_query_function (
      self->score_srcpad, GST_DEBUG_FUNCPTR (gst_seq_dream_dream_src_query));
  gst_pad_set_iterate_internal_links_function (self->score_srcpad,
      GST_DEBUG_FUNCPTR (gst_seq_dream_iterate_internal_links));
  gst_pad_use_fixed_caps (self->score_srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->score_srcpad);

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
  self->settings.gain = DEFAULT_GAIN;
  self->settings.novelty_threshold = DEFAULT_NOVELTY_THRESHOLD;
  self->settings.state_holdoff = DEFAULT_STATE_HOLDOFF;
  gst_seq_dream_attribution_init_settings (&self->settings);
  gst_seq_dream_channels_init_settings (&self->settings);
  self->dream_preset = g_strdup (DEFAULT_DREAM_PRESET);
  self->dream_reference = g_strdup (DEFAULT_DREAM_REFERENCE);
  self->last_seek_seqnum = GST_SEQNUM_INVALID;

  self->flow_combiner = gst_flow_combiner_new ();
  gst_flow_combiner_add_pad (self->flow_combiner, self->srcpad);
  gst_flow_combiner_add_pad (self->flow_combiner, self->dream_srcpad);
  gst_flow_combiner_add_pad (self->flow_combiner, self->score_srcpad);

  g_mutex_init (&self->dream_lock);
  g_cond_init (&self->dream_cond);
  g_cond_init (&self->idle_cond);
  g_queue_init (&self->items);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
}

static void
gst_seq_dream_finalize (GObject *object)
{
  GstSeqDream *self = GST_SEQ_DREAM (object);

  /* PAUSED->READY released the model, the worker and the queue. */
  g_free (self->model_file);
  g_free (self->dream_preset);
  g_free (self->dream_reference);
  gst_flow_combiner_free (self->flow_combiner);
  g_mutex_clear (&self->dream_lock);
  g_cond_clear (&self->dream_cond);
  g_cond_clear (&self->idle_cond);

  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_seq_dream_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstSeqDream *self = GST_SEQ_DREAM (object);

  if (prop_id >= PROP_ATTRIBUTION && prop_id <= PROP_ATTRIBUTION_LAST) {
    gst_seq_dream_attribution_set_property (
        self, prop_id - PROP_ATTRIBUTION, value);
    return;
  }
  if (prop_id >= PROP_CHANNELS && prop_id <= PROP_CHANNELS_LAST) {
    gst_seq_dream_channels_set_property (self, prop_id - PROP_CHANNELS, value);
    return;
  }
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
    case PROP_DREAM_PRESET:
      /* NULL is none; other names are checked at start */
      g_free (self->dream_preset);
      self->dream_preset = g_strdup (g_value_get_string (value) != NULL
                                         ? g_value_get_string (value)
                                         : DEFAULT_DREAM_PRESET);
      self->dream_preset_set = g_value_get_string (value) != NULL;
      break;
    case PROP_DREAM_REFERENCE:
      g_free (self->dream_reference);
      self->dream_reference = g_value_dup_string (value);
      break;
    case PROP_GAIN:
      self->settings.gain = g_value_get_double (value);
      break;
    case PROP_NOVELTY_THRESHOLD:
      self->settings.novelty_threshold = g_value_get_double (value);
      break;
    case PROP_STATE_HOLDOFF:
      self->settings.state_holdoff = g_value_get_uint (value);
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

  if (prop_id >= PROP_ATTRIBUTION && prop_id <= PROP_ATTRIBUTION_LAST) {
    gst_seq_dream_attribution_get_property (
        self, prop_id - PROP_ATTRIBUTION, value);
    return;
  }
  if (prop_id >= PROP_CHANNELS && prop_id <= PROP_CHANNELS_LAST) {
    gst_seq_dream_channels_get_property (self, prop_id - PROP_CHANNELS, value);
    return;
  }
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
    case PROP_DREAM_PRESET:
      g_value_set_string (value, self->dream_preset);
      break;
    case PROP_DREAM_REFERENCE:
      g_value_set_string (value, self->dream_reference);
      break;
    case PROP_GAIN:
      g_value_set_double (value, self->settings.gain);
      break;
    case PROP_NOVELTY_THRESHOLD:
      g_value_set_double (value, self->settings.novelty_threshold);
      break;
    case PROP_STATE_HOLDOFF:
      g_value_set_uint (value, self->settings.state_holdoff);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---- state ---- */

static void
gst_seq_dream_stop (GstSeqDream *self)
{
  GThread *worker;

  g_mutex_lock (&self->dream_lock);
  self->worker_stop = TRUE;
  g_cond_broadcast (&self->idle_cond);
  g_atomic_int_set (&self->dream_cancel, 1);
  self->started = FALSE;
  self->have_last = FALSE;
  gst_seq_dream_clear_items_locked (self, FALSE);
  worker = self->worker;
  self->worker = NULL;
  g_mutex_unlock (&self->dream_lock);

  /* The dream in progress stops at its next step (dream_cancel). */
  if (worker != NULL)
    g_thread_join (worker);

  g_clear_pointer (&self->dreamer, sd_dreamer_free);
  g_clear_pointer (&self->attributor, sd_attributor_free);
  g_clear_pointer (&self->tail_spectra, g_free);
  g_clear_pointer (&self->tail_features, g_free);
  memset (&self->tail_config, 0, sizeof (self->tail_config));
  g_clear_pointer (&self->reference, sd_dataset_free);
  g_clear_pointer (&self->ref_spectra, g_free);
  g_clear_pointer (&self->ref_features, g_free);
  g_clear_pointer (&self->ref_margins, g_free);
  memset (&self->preset_config, 0, sizeof (self->preset_config));
  g_clear_pointer (&self->ws, sd_workspace_free);
  self->stats = NULL;
  g_clear_pointer (&self->model, sd_model_unref);
  gst_seq_dream_clear_channels (self);
  g_clear_pointer (&self->last_window, g_free);
  seq_dream_windower_clear (&self->windower);
  /* (Deactivating dream_src dropped its sticky events.) */
  g_clear_pointer (&self->dream_stream_id, g_free);
  gst_caps_replace (&self->dream_caps, NULL);
  self->new_stream = FALSE;
  if (G_IS_VALUE (&self->labels))
    g_value_unset (&self->labels);
  g_atomic_int_set (&self->rate, 0);
  g_atomic_int_set (&self->warned_no_caps_filter, 0);
  GST_OBJECT_LOCK (self);
  self->model_rate = 0;
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_seq_dream_start (GstSeqDream *self)
{
  SeqDreamWindower *w = &self->windower;
  g_autoptr (GError) error = NULL;
  gchar *file;
  g_autofree gchar *preset = NULL, *reference = NULL;
  gboolean preset_set, dreams;
  guint window, hop;
  GstSeqDreamNormalize normalize;

  GST_OBJECT_LOCK (self);
  file = g_strdup (self->model_file);
  window = self->window_prop;
  hop = self->hop_prop;
  normalize = self->normalize;
  preset = g_strdup (self->dream_preset);
  preset_set = self->dream_preset_set;
  dreams = self->settings.trigger != GST_SEQ_DREAM_TRIGGER_NONE;
  reference = g_strdup (self->dream_reference);
  GST_OBJECT_UNLOCK (self);

  self->model = gst_seq_dream_load_model (self, file);
  if (self->model == NULL) {
    g_free (file);
    return FALSE;
  }

  if (!gst_seq_dream_setup_windows (self, window, hop, normalize))
    goto fail;
  window = w->window;

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
  gst_seq_dream_set_labels (self);
  self->stats = sd_model_get_stats (self->model);
  gst_seq_dream_check_stats (self);
  if (!gst_seq_dream_setup_dream_preset (
          self, preset, preset_set, dreams, reference))
    goto fail;

  self->last_window = g_new0 (gfloat, window);
  g_atomic_int_set (&self->rate, 0);
  gst_segment_init (&self->segment, GST_FORMAT_TIME);
  gst_seq_dream_restart_windows (self);
  self->gap_end = GST_CLOCK_TIME_NONE;
  self->new_stream = FALSE;
  self->warned_rate = FALSE;
  gst_flow_combiner_reset (self->flow_combiner);
  self->pushed_pos = GST_CLOCK_TIME_NONE;
  self->dream_discont = TRUE;

  gst_seq_dream_trust_new_stream (self);

  GST_OBJECT_LOCK (self);
  self->last_seek_seqnum = GST_SEQNUM_INVALID;
  /* (rates below 1 Hz are no caps rate) */
  self->model_rate
      = (gint) MIN (G_MAXINT, lround (sd_model_get_sample_rate (self->model)));
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->dream_lock);
  self->worker_stop = FALSE;
  self->flushing = FALSE;
  g_atomic_int_set (&self->dream_cancel, 0);
  self->started = TRUE;
  self->have_last = FALSE;
  self->dropped = 0;
  self->attributions_dropped = 0;
  self->dreams_requested = 0;
  self->worker = g_thread_try_new (
      "seqdream-dream", gst_seq_dream_worker_func, self, &error);
  g_mutex_unlock (&self->dream_lock);
  if (self->worker == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start the dream thread: %s", error->message), (NULL));
    goto fail;
  }

  GST_INFO_OBJECT (self,
      "model %s: %d classes, window %u, hop %u, normalisation %s",
      sd_model_get_display_name (self->model), self->n_classes, w->window,
      w->hop, sd_norm_mode_to_string (w->norm.mode));
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
      g_cond_broadcast (&self->idle_cond);
      self->started = FALSE;
      gst_seq_dream_clear_items_locked (self, FALSE);
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
