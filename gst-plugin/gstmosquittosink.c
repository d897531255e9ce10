/* GStreamer mosquittosink
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-mosquittosink
 * @title: mosquittosink
 * @short_description: publish each buffer as one MQTT message (libmosquitto)
 *
 * mosquittosink publishes the content of every buffer as one MQTT message
 * on `topic` at the broker `host`:`port`, with libmosquitto (the client
 * library of Eclipse Mosquitto; named after its backend as alsasink and
 * pulsesink are, NNStreamer's element is called mqttsink). It is made for
 * seqdream's `score_src` (one JSON line per window) but takes any buffer.
 *
 * ## Never blocking the pipeline
 *
 * render() only queues the buffer (a reference, no copy) and returns: a
 * slow, unreachable or restarting broker never holds the streaming thread.
 * The queue holds at most `queue-size` messages; when it is full the
 * oldest is dropped (`dropped` counts them, and a "mosquittosink-dropped"
 * message is posted at the first drop and then at most once a second).
 * Messages leave the queue while the client is connected, at most 20
 * handed to libmosquitto and not yet sent (QoS 0) or acknowledged (QoS 1,
 * 2) at a time. libmosquitto's own thread (mosquitto_loop_start) does the
 * network work and reconnects with exponential back-off from 1 s to 30 s
 * (mosquitto_reconnect_delay_set); the first connection (and its name
 * lookup) is made by a thread of the element, retried with the same
 * back-off. Messages of QoS 1 and 2 that were handed over but not
 * acknowledged when the connection broke are sent again after it is back
 * (the broker may then see one twice); QoS 0 messages handed over but not
 * yet written are lost (`lost` counts them). At EOS the element waits up
 * to `flush-timeout` ms for the queue to empty before it posts EOS, so an
 * application that stops at EOS loses nothing to a connected broker.
 *
 * Errors: only impossible settings fail the state change to PAUSED with an
 * element error (GST_RESOURCE_ERROR_SETTINGS) naming the property: no
 * host, port not in 1..65535, qos not 0, 1 or 2, an empty topic or one
 * with the wildcards + or #, keep-alive 1..4, a password without a user
 * name, a tls-ca-file that cannot be read. A broker that cannot be
 * reached within 5 s of the start, or that refuses the connection (bad
 * credentials, not authorised), is a warning naming the broker and the
 * reason; the element keeps queueing, dropping and retrying.
 *
 * ## Messages
 *
 * - "mosquittosink-connection": `connected` (G_TYPE_BOOLEAN), `host`
 *   (G_TYPE_STRING), `port` (G_TYPE_INT), `reason` (G_TYPE_STRING):
 *   posted when the client connects or loses its connection.
 * - "mosquittosink-dropped": `dropped` (G_TYPE_UINT64): the messages the
 *   full queue dropped so far.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=x.wav ! wavparse ! audioconvert ! \
 *     seqdream name=s ! queue ! fakesink \
 *     s.score_src ! queue ! \
 *     mosquittosink host=127.0.0.1 port=1883 topic=plant/pump1/0 qos=1
 * ]| one message per window; `mosquitto_sub -t 'plant/#'` prints them.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstmosquittosink.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <mosquitto.h>
#include <string.h>
#include <unistd.h>

GST_DEBUG_CATEGORY_STATIC (gst_mosquitto_sink_debug);
#define GST_CAT_DEFAULT gst_mosquitto_sink_debug

/* Messages handed to libmosquitto and not yet sent or acknowledged. */
#define MAX_IN_FLIGHT 20
/* Seconds: the first reconnect delay, the longest, and how long after the
 * start a missing connection is a warning. */
#define RECONNECT_DELAY 1
#define RECONNECT_DELAY_MAX 30
#define CONNECT_WARN_AFTER 5

#define DEFAULT_HOST "localhost"
#define DEFAULT_PORT 1883
#define DEFAULT_TOPIC "seqdream"
#define DEFAULT_QOS 0
#define DEFAULT_RETAIN FALSE
#define DEFAULT_KEEP_ALIVE 60
#define DEFAULT_QUEUE_SIZE 1000
#define DEFAULT_FLUSH_TIMEOUT 2000

enum
{
  PROP_0,
  PROP_HOST,
  PROP_PORT,
  PROP_TOPIC,
  PROP_QOS,
  PROP_CLIENT_ID,
  PROP_RETAIN,
  PROP_KEEP_ALIVE,
  PROP_USERNAME,
  PROP_PASSWORD,
  PROP_TLS_CA_FILE,
  PROP_QUEUE_SIZE,
  PROP_FLUSH_TIMEOUT,
  PROP_PUBLISHED,
  PROP_DROPPED,
  PROP_LOST,
};

/* What start() fixes for a run (copied from the properties). */
typedef struct
{
  gchar *host, *topic, *client_id, *username, *password, *tls_ca_file;
  gint port, qos, keep_alive;
  gboolean retain;
} Config;

struct _GstMosquittoSink
{
  GstBaseSink parent;

  /* properties (object lock) */
  Config props;
  guint queue_size;
  guint flush_timeout; /* ms */

  /* the run, set in start() and constant until stop() */
  Config run;
  struct mosquitto *mosq;
  GThread *connect_thread;

  /* lock: the queue, the connection state and the counters */
  GMutex lock;
  GCond cond;            /* connected, drained, stopping or unlocked */
  GQueue queue;          /* GstBuffer *, oldest first */
  GHashTable *in_flight; /* message ids handed to libmosquitto */
  gboolean connected, loop_started, stopping, unlocked;
  guint64 published, dropped, lost;
  gint64 last_drop_post; /* monotonic us, 0: none */
  gint last_refused;     /* connack code warned about last, 0: none */
};

G_DEFINE_TYPE (GstMosquittoSink, gst_mosquitto_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (
    mosquittosink, "mosquittosink", GST_RANK_NONE, GST_TYPE_MOSQUITTO_SINK);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE (
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void
config_clear (Config *c)
{
  g_clear_pointer (&c->host, g_free);
  g_clear_pointer (&c->topic, g_free);
  g_clear_pointer (&c->client_id, g_free);
  g_clear_pointer (&c->username, g_free);
  g_clear_pointer (&c->password, g_free);
  g_clear_pointer (&c->tls_ca_file, g_free);
}

static void
config_copy (Config *dst, const Config *src)
{
  *dst = *src;
  dst->host = g_strdup (src->host);
  dst->topic = g_strdup (src->topic);
  dst->client_id = g_strdup (src->client_id);
  dst->username = g_strdup (src->username);
  dst->password = g_strdup (src->password);
  dst->tls_ca_file = g_strdup (src->tls_ca_file);
}

/* ---- messages ---- */

static void
post_connection (GstMosquittoSink *self, gboolean connected, const gchar *why)
{
  GstStructure *s = gst_structure_new ("mosquittosink-connection", "connected",
      G_TYPE_BOOLEAN, connected, "host", G_TYPE_STRING, self->run.host, "port",
      G_TYPE_INT, self->run.port, "reason", G_TYPE_STRING, why, NULL);

  gst_element_post_message (
      GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

/* ---- the queue (lock held) ---- */

/* Hand queued messages to libmosquitto while connected and fewer than
 * MAX_IN_FLIGHT are on their way. mosquitto_publish only queues the
 * packet for libmosquitto's thread (threaded mode): it does not block. */
static void
pump_locked (GstMosquittoSink *self)
{
  while (self->connected && !g_queue_is_empty (&self->queue)
         && g_hash_table_size (self->in_flight) < MAX_IN_FLIGHT) {
    GstBuffer *buf = g_queue_pop_head (&self->queue);
    GstMapInfo map;
    int mid = 0, rc;

    if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
      self->lost++;
      gst_buffer_unref (buf);
      continue;
    }
    rc = mosquitto_publish (self->mosq, &mid, self->run.topic, (int) map.size,
        map.data, self->run.qos, self->run.retain);
    gst_buffer_unmap (buf, &map);
    if (rc == MOSQ_ERR_NO_CONN) {
      /* (the callback that says so comes next) */
      g_queue_push_head (&self->queue, buf);
      break;
    }
    gst_buffer_unref (buf);
    if (rc != MOSQ_ERR_SUCCESS) {
      GST_WARNING_OBJECT (self, "publish failed: %s", mosquitto_strerror (rc));
      self->lost++;
      continue;
    }
    g_hash_table_add (self->in_flight, GINT_TO_POINTER (mid));
  }
  if (g_queue_is_empty (&self->queue)
      && g_hash_table_size (self->in_flight) == 0)
    g_cond_broadcast (&self->cond);
}

/* ---- libmosquitto callbacks (its thread) ---- */

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  GstMosquittoSink *self = data;
  gboolean warn;

  (void) mosq;
  g_mutex_lock (&self->lock);
  if (rc == 0) {
    self->connected = TRUE;
    self->last_refused = 0;
    pump_locked (self);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
    GST_INFO_OBJECT (
        self, "connected to %s:%d", self->run.host, self->run.port);
    post_connection (self, TRUE, "connected");
    return;
  }
  /* Refused (CONNACK code): warn once per code until a connection works;
   * libmosquitto retries with its back-off. */
  warn = self->last_refused != rc;
  self->last_refused = rc;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (warn)
    GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
        ("The MQTT broker at %s:%d refused the connection: %s. Messages "
         "are queued (oldest dropped) and the connection is retried.",
            self->run.host, self->run.port, mosquitto_connack_string (rc)),
        ("CONNACK code %d", rc));
  post_connection (self, FALSE, mosquitto_connack_string (rc));
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  GstMosquittoSink *self = data;
  gboolean was_connected, stopping;
  guint lost = 0;

  (void) mosq;
  g_mutex_lock (&self->lock);
  was_connected = self->connected;
  stopping = self->stopping;
  self->connected = FALSE;
  /* QoS 0 packets not yet written are gone with the connection; QoS 1
   * and 2 messages stay with libmosquitto, which sends them again. */
  if (self->run.qos == 0) {
    lost = g_hash_table_size (self->in_flight);
    self->lost += lost;
    g_hash_table_remove_all (self->in_flight);
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (!was_connected)
    return;
  GST_INFO_OBJECT (self, "disconnected (%s), %u QoS 0 messages lost",
      mosquitto_strerror (rc), lost);
  if (rc != 0 && !stopping)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Lost the connection to the MQTT broker at %s:%d (%s); "
         "reconnecting.",
            self->run.host, self->run.port, mosquitto_strerror (rc)),
        (NULL));
  post_connection (self, FALSE, mosquitto_strerror (rc));
}

static void
on_publish (struct mosquitto *mosq, void *data, int mid)
{
  GstMosquittoSink *self = data;

  (void) mosq;
  g_mutex_lock (&self->lock);
  if (g_hash_table_remove (self->in_flight, GINT_TO_POINTER (mid)))
    self->published++;
  pump_locked (self);
  g_mutex_unlock (&self->lock);
}

/* ---- the first connection (a thread of the element) ---- */

/* Wait until the monotonic time until_us unless the element stops;
 * FALSE when it stops. */
static gboolean
wait_unless_stopping (GstMosquittoSink *self, gint64 until_us)
{
  gboolean stopping;

  g_mutex_lock (&self->lock);
  while (!self->stopping && g_get_monotonic_time () < until_us)
    g_cond_wait_until (&self->cond, &self->lock, until_us);
  stopping = self->stopping;
  g_mutex_unlock (&self->lock);
  return !stopping;
}

static void
warn_not_connected (GstMosquittoSink *self, const gchar *reason)
{
  GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE,
      ("Could not connect to the MQTT broker at %s:%d (%s). Messages are "
       "queued (oldest dropped) and the connection is retried.",
          self->run.host, self->run.port, reason),
      (NULL));
}

/* mosquitto_connect_async resolves the host name, which may take long:
 * here, not in the state change. Once it succeeds libmosquitto's thread
 * takes over (and reconnects by itself); until then this retries with the
 * same back-off, after a warning at the first failure (a name that does
 * not resolve, no route). Without such a failure it warns when no
 * connection came up within CONNECT_WARN_AFTER seconds of the start (the
 * broker does not answer) unless the broker refused it (on_connect
 * warned). */
static gpointer
connect_thread_func (gpointer data)
{
  GstMosquittoSink *self = data;
  gint64 start = g_get_monotonic_time ();
  gint64 warn_at = start + CONNECT_WARN_AFTER * G_TIME_SPAN_SECOND;
  guint delay = RECONNECT_DELAY;
  gboolean warned = FALSE, quiet;
  int rc;

  for (;;) {
    rc = mosquitto_connect_async (
        self->mosq, self->run.host, self->run.port, self->run.keep_alive);
    if (rc == MOSQ_ERR_SUCCESS
        && (rc = mosquitto_loop_start (self->mosq)) == MOSQ_ERR_SUCCESS) {
      g_mutex_lock (&self->lock);
      self->loop_started = TRUE;
      g_mutex_unlock (&self->lock);
      break;
    }
    GST_DEBUG_OBJECT (self, "connect to %s:%d: %s", self->run.host,
        self->run.port, mosquitto_strerror (rc));
    if (!warned) {
      warned = TRUE;
      warn_not_connected (self,
          rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc));
    }
    if (!wait_unless_stopping (
            self, g_get_monotonic_time () + delay * G_TIME_SPAN_SECOND))
      return NULL;
    delay = MIN (delay * 2, RECONNECT_DELAY_MAX);
  }
  if (warned)
    return NULL;

  g_mutex_lock (&self->lock);
  while (!self->connected && !self->stopping && self->last_refused == 0
         && g_get_monotonic_time () < warn_at)
    g_cond_wait_until (&self->cond, &self->lock, warn_at);
  quiet = self->connected || self->stopping || self->last_refused != 0;
  g_mutex_unlock (&self->lock);
  if (!quiet)
    warn_not_connected (self, "no answer within 5 s");
  return NULL;
}

/* ---- start and stop ---- */

#define SETTINGS_ERROR(self, ...)                                              \
  GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, (__VA_ARGS__), (NULL))

/* Impossible settings: an element error naming the property. */
static gboolean
check_config (GstMosquittoSink *self, const Config *c)
{
  if (c->host == NULL || *c->host == '\0') {
    SETTINGS_ERROR (self, "mosquittosink: host is empty.");
    return FALSE;
  }
  if (c->port < 1 || c->port > 65535) {
    SETTINGS_ERROR (
        self, "mosquittosink: port %d is not a TCP port (1..65535).", c->port);
    return FALSE;
  }
  if (c->qos < 0 || c->qos > 2) {
    SETTINGS_ERROR (self, "mosquittosink: qos %d is not 0, 1 or 2.", c->qos);
    return FALSE;
  }
  if (c->topic == NULL || *c->topic == '\0'
      || mosquitto_pub_topic_check (c->topic) != MOSQ_ERR_SUCCESS) {
    SETTINGS_ERROR (self,
        "mosquittosink: topic \"%s\" is not a topic to publish on (empty, "
        "or with the wildcards + or #).",
        c->topic != NULL ? c->topic : "");
    return FALSE;
  }
  if (c->keep_alive > 0 && c->keep_alive < 5) {
    SETTINGS_ERROR (self,
        "mosquittosink: keep-alive %d s is too short (0: off, or at least "
        "5 s).",
        c->keep_alive);
    return FALSE;
  }
  if (c->password != NULL && (c->username == NULL || *c->username == '\0')) {
    SETTINGS_ERROR (self, "mosquittosink: a password needs a username.");
    return FALSE;
  }
  if (c->tls_ca_file != NULL && g_access (c->tls_ca_file, R_OK) != 0) {
    int err = errno;
    SETTINGS_ERROR (self, "mosquittosink: tls-ca-file %s cannot be read: %s.",
        c->tls_ca_file, g_strerror (err));
    return FALSE;
  }
  return TRUE;
}

/* libmosquitto's client for the run, with its options and callbacks. */
static gboolean
make_client (GstMosquittoSink *self)
{
  const Config *c = &self->run;
  int rc;

  self->mosq = mosquitto_new (c->client_id, TRUE, self);
  if (self->mosq == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("mosquittosink: could not make an MQTT client (client-id \"%s\"): "
         "%s.",
            c->client_id != NULL ? c->client_id : "", g_strerror (errno)),
        (NULL));
    return FALSE;
  }
  mosquitto_connect_callback_set (self->mosq, on_connect);
  mosquitto_disconnect_callback_set (self->mosq, on_disconnect);
  mosquitto_publish_callback_set (self->mosq, on_publish);
  mosquitto_reconnect_delay_set (
      self->mosq, RECONNECT_DELAY, RECONNECT_DELAY_MAX, TRUE);
  mosquitto_max_inflight_messages_set (self->mosq, MAX_IN_FLIGHT);
  if (c->username != NULL && *c->username != '\0') {
    rc = mosquitto_username_pw_set (self->mosq, c->username, c->password);
    if (rc != MOSQ_ERR_SUCCESS) {
      SETTINGS_ERROR (self, "mosquittosink: username/password: %s.",
          mosquitto_strerror (rc));
      return FALSE;
    }
  }
  if (c->tls_ca_file != NULL) {
    rc = mosquitto_tls_set (self->mosq, c->tls_ca_file, NULL, NULL, NULL, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
      SETTINGS_ERROR (self, "mosquittosink: tls-ca-file %s: %s.",
          c->tls_ca_file, mosquitto_strerror (rc));
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean gst_mosquitto_sink_stop (GstBaseSink *sink);

static gboolean
gst_mosquitto_sink_start (GstBaseSink *sink)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);
  g_autoptr (GError) error = NULL;

  GST_OBJECT_LOCK (self);
  config_clear (&self->run);
  config_copy (&self->run, &self->props);
  GST_OBJECT_UNLOCK (self);
  if (!check_config (self, &self->run) || !make_client (self)) {
    gst_mosquitto_sink_stop (sink);
    return FALSE;
  }

  g_mutex_lock (&self->lock);
  self->connected = self->loop_started = self->stopping = FALSE;
  self->published = self->dropped = self->lost = 0;
  self->last_drop_post = 0;
  self->last_refused = 0;
  g_mutex_unlock (&self->lock);

  self->connect_thread = g_thread_try_new (
      "mosquittosink-connect", connect_thread_func, self, &error);
  if (self->connect_thread == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not start a thread: %s", error->message), (NULL));
    gst_mosquitto_sink_stop (sink);
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_mosquitto_sink_stop (GstBaseSink *sink)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);
  gboolean loop_started;
  guint left;

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  if (self->connect_thread != NULL)
    g_thread_join (self->connect_thread);
  self->connect_thread = NULL;

  if (self->mosq != NULL) {
    g_mutex_lock (&self->lock);
    loop_started = self->loop_started;
    g_mutex_unlock (&self->lock);
    mosquitto_disconnect (self->mosq);
    /* (libmosquitto 2 wakes its thread from a reconnect wait) */
    if (loop_started)
      mosquitto_loop_stop (self->mosq, FALSE);
    mosquitto_destroy (self->mosq);
    self->mosq = NULL;
  }

  g_mutex_lock (&self->lock);
  left
      = g_queue_get_length (&self->queue) + g_hash_table_size (self->in_flight);
  self->lost += left;
  g_queue_clear_full (&self->queue, (GDestroyNotify) gst_buffer_unref);
  g_hash_table_remove_all (self->in_flight);
  self->connected = FALSE;
  g_mutex_unlock (&self->lock);
  if (left > 0)
    GST_INFO_OBJECT (self, "%u messages not delivered at stop", left);
  return TRUE;
}

/* ---- data ---- */

static GstFlowReturn
gst_mosquitto_sink_render (GstBaseSink *sink, GstBuffer *buffer)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);
  guint queue_size;
  guint64 dropped = 0;
  gint64 now;

  GST_OBJECT_LOCK (self);
  queue_size = self->queue_size;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->queue, gst_buffer_ref (buffer));
  while (g_queue_get_length (&self->queue) > queue_size) {
    gst_buffer_unref (g_queue_pop_head (&self->queue));
    self->dropped++;
    dropped = self->dropped;
  }
  pump_locked (self);
  now = g_get_monotonic_time ();
  if (dropped > 0
      && (self->last_drop_post == 0
          || now - self->last_drop_post >= G_TIME_SPAN_SECOND))
    self->last_drop_post = now;
  else
    dropped = 0;
  g_mutex_unlock (&self->lock);

  if (dropped > 0)
    gst_element_post_message (
        GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self),
                                gst_structure_new ("mosquittosink-dropped",
                                    "dropped", G_TYPE_UINT64, dropped, NULL)));
  return GST_FLOW_OK;
}

/* EOS: up to flush-timeout ms for the queue to drain (unless flushing or
 * stopping), then EOS as usual. */
static gboolean
gst_mosquitto_sink_event (GstBaseSink *sink, GstEvent *event)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    gint64 until;
    guint timeout;

    GST_OBJECT_LOCK (self);
    timeout = self->flush_timeout;
    GST_OBJECT_UNLOCK (self);
    until
        = g_get_monotonic_time () + (gint64) timeout * G_TIME_SPAN_MILLISECOND;
    g_mutex_lock (&self->lock);
    while ((!g_queue_is_empty (&self->queue)
               || g_hash_table_size (self->in_flight) > 0)
           && !self->unlocked && !self->stopping
           && g_cond_wait_until (&self->cond, &self->lock, until))
      ;
    GST_DEBUG_OBJECT (self, "EOS: %u queued, %u in flight",
        g_queue_get_length (&self->queue), g_hash_table_size (self->in_flight));
    g_mutex_unlock (&self->lock);
  }
  return GST_BASE_SINK_CLASS (gst_mosquitto_sink_parent_class)
      ->event (sink, event);
}

static gboolean
gst_mosquitto_sink_unlock (GstBaseSink *sink)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);

  g_mutex_lock (&self->lock);
  self->unlocked = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_mosquitto_sink_unlock_stop (GstBaseSink *sink)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (sink);

  g_mutex_lock (&self->lock);
  self->unlocked = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* ---- GObject ---- */

static void
set_string (GstMosquittoSink *self, gchar **field, const GValue *value)
{
  const gchar *s = g_value_get_string (value);

  GST_OBJECT_LOCK (self);
  g_free (*field);
  *field = s != NULL && *s != '\0' ? g_strdup (s) : NULL;
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mosquitto_sink_set_property (
    GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (object);
  Config *c = &self->props;

  switch (prop_id) {
    case PROP_HOST:
      set_string (self, &c->host, value);
      return;
    case PROP_TOPIC:
      set_string (self, &c->topic, value);
      return;
    case PROP_CLIENT_ID:
      set_string (self, &c->client_id, value);
      return;
    case PROP_USERNAME:
      set_string (self, &c->username, value);
      return;
    case PROP_PASSWORD:
      set_string (self, &c->password, value);
      return;
    case PROP_TLS_CA_FILE:
      set_string (self, &c->tls_ca_file, value);
      return;
    default:
      break;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PORT:
      c->port = g_value_get_int (value);
      break;
    case PROP_QOS:
      c->qos = g_value_get_int (value);
      break;
    case PROP_RETAIN:
      c->retain = g_value_get_boolean (value);
      break;
    case PROP_KEEP_ALIVE:
      c->keep_alive = g_value_get_int (value);
      break;
    case PROP_QUEUE_SIZE:
      self->queue_size = g_value_get_uint (value);
      break;
    case PROP_FLUSH_TIMEOUT:
      self->flush_timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mosquitto_sink_get_property (
    GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (object);
  Config *c = &self->props;

  if (prop_id == PROP_PUBLISHED || prop_id == PROP_DROPPED
      || prop_id == PROP_LOST) {
    g_mutex_lock (&self->lock);
    g_value_set_uint64 (value, prop_id == PROP_PUBLISHED ? self->published
                               : prop_id == PROP_DROPPED ? self->dropped
                                                         : self->lost);
    g_mutex_unlock (&self->lock);
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HOST:
      g_value_set_string (value, c->host);
      break;
    case PROP_PORT:
      g_value_set_int (value, c->port);
      break;
    case PROP_TOPIC:
      g_value_set_string (value, c->topic);
      break;
    case PROP_QOS:
      g_value_set_int (value, c->qos);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string (value, c->client_id);
      break;
    case PROP_RETAIN:
      g_value_set_boolean (value, c->retain);
      break;
    case PROP_KEEP_ALIVE:
      g_value_set_int (value, c->keep_alive);
      break;
    case PROP_USERNAME:
      g_value_set_string (value, c->username);
      break;
    case PROP_PASSWORD:
      g_value_set_string (value, c->password);
      break;
    case PROP_TLS_CA_FILE:
      g_value_set_string (value, c->tls_ca_file);
      break;
    case PROP_QUEUE_SIZE:
      g_value_set_uint (value, self->queue_size);
      break;
    case PROP_FLUSH_TIMEOUT:
      g_value_set_uint (value, self->flush_timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_mosquitto_sink_finalize (GObject *object)
{
  GstMosquittoSink *self = GST_MOSQUITTO_SINK (object);

  config_clear (&self->props);
  config_clear (&self->run);
  g_queue_clear_full (&self->queue, (GDestroyNotify) gst_buffer_unref);
  g_hash_table_unref (self->in_flight);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (gst_mosquitto_sink_parent_class)->finalize (object);
}

#define PARAM_RW                                                               \
  (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)
#define PARAM_RO (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

static void
install_properties (GObjectClass *gobject_class)
{
  /* The ranges of port and qos are wider than what works so that port=0
   * or qos=3 reach start() and fail there with an element error naming
   * the property, instead of being refused by GObject with a g_warning
   * (and the default kept) when set from code. */
  g_object_class_install_property (gobject_class, PROP_HOST,
      g_param_spec_string ("host", "Host", "Broker host name or address",
          DEFAULT_HOST, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_PORT,
      g_param_spec_int ("port", "Port", "Broker TCP port (1..65535)", G_MININT,
          G_MAXINT, DEFAULT_PORT, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_TOPIC,
      g_param_spec_string ("topic", "Topic",
          "Topic every message is published on (no wildcards)", DEFAULT_TOPIC,
          PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_QOS,
      g_param_spec_int ("qos", "QoS",
          "MQTT quality of service: 0 at most once, 1 at least once, 2 "
          "exactly once",
          G_MININT, G_MAXINT, DEFAULT_QOS, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_CLIENT_ID,
      g_param_spec_string ("client-id", "Client id",
          "MQTT client id (NULL: a random one)", NULL, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_RETAIN,
      g_param_spec_boolean ("retain", "Retain",
          "Publish with the retain flag (the broker keeps the last message "
          "of the topic for new subscribers)",
          DEFAULT_RETAIN, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_KEEP_ALIVE,
      g_param_spec_int ("keep-alive", "Keep-alive",
          "Seconds between pings when idle (0: none, else at least 5)", 0,
          65535, DEFAULT_KEEP_ALIVE, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_USERNAME,
      g_param_spec_string ("username", "Username",
          "User name for the broker (NULL: none)", NULL, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_PASSWORD,
      g_param_spec_string ("password", "Password",
          "Password for the broker (needs username)", NULL, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_TLS_CA_FILE,
      g_param_spec_string ("tls-ca-file", "TLS CA file",
          "PEM file of the CA certificates that verify the broker; set: "
          "connect with TLS",
          NULL, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_QUEUE_SIZE,
      g_param_spec_uint ("queue-size", "Queue size",
          "Messages waiting for the broker at most; when full the oldest "
          "is dropped",
          1, G_MAXINT, DEFAULT_QUEUE_SIZE, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_FLUSH_TIMEOUT,
      g_param_spec_uint ("flush-timeout", "Flush timeout",
          "Milliseconds EOS waits for queued messages to leave (0: none)", 0,
          G_MAXINT, DEFAULT_FLUSH_TIMEOUT, PARAM_RW));
  g_object_class_install_property (gobject_class, PROP_PUBLISHED,
      g_param_spec_uint64 ("published", "Published",
          "Messages sent (QoS 0) or acknowledged by the broker (QoS 1, 2)", 0,
          G_MAXUINT64, 0, PARAM_RO));
  g_object_class_install_property (gobject_class, PROP_DROPPED,
      g_param_spec_uint64 ("dropped", "Dropped",
          "Messages the full queue dropped (oldest first)", 0, G_MAXUINT64, 0,
          PARAM_RO));
  g_object_class_install_property (gobject_class, PROP_LOST,
      g_param_spec_uint64 ("lost", "Lost",
          "Messages lost otherwise: QoS 0 ones handed over when the "
          "connection broke, and those still queued at stop",
          0, G_MAXUINT64, 0, PARAM_RO));
}

static void
gst_mosquitto_sink_class_init (GstMosquittoSinkClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *sink_class = GST_BASE_SINK_CLASS (klass);

  gobject_class->set_property = gst_mosquitto_sink_set_property;
  gobject_class->get_property = gst_mosquitto_sink_get_property;
  gobject_class->finalize = gst_mosquitto_sink_finalize;
  install_properties (gobject_class);

  gst_element_class_set_static_metadata (element_class,
      "MQTT sink (libmosquitto)", "Sink/Network",
      "Publishes each buffer as one MQTT message, never blocking on the "
      "broker",
      "seqdream developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);

  sink_class->start = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_start);
  sink_class->stop = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_stop);
  sink_class->render = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_render);
  sink_class->event = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_event);
  sink_class->unlock = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_unlock);
  sink_class->unlock_stop = GST_DEBUG_FUNCPTR (gst_mosquitto_sink_unlock_stop);

  GST_DEBUG_CATEGORY_INIT (
      gst_mosquitto_sink_debug, "mosquittosink", 0, "MQTT sink (libmosquitto)");
  /* (once per process; libmosquitto needs it for TLS) */
  mosquitto_lib_init ();
}

static void
gst_mosquitto_sink_init (GstMosquittoSink *self)
{
  self->props.host = g_strdup (DEFAULT_HOST);
  self->props.port = DEFAULT_PORT;
  self->props.topic = g_strdup (DEFAULT_TOPIC);
  self->props.qos = DEFAULT_QOS;
  self->props.retain = DEFAULT_RETAIN;
  self->props.keep_alive = DEFAULT_KEEP_ALIVE;
  self->queue_size = DEFAULT_QUEUE_SIZE;
  self->flush_timeout = DEFAULT_FLUSH_TIMEOUT;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->queue);
  self->in_flight = g_hash_table_new (NULL, NULL);
  /* Messages leave as they are made: nothing to wait for on a clock. */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
}
