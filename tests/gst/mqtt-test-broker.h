/* A real mosquitto broker for the tests of mosquittosink: started on a free
 * loopback port with a configuration file in a temporary directory,
 * stopped (SIGTERM: it saves its persistence file) and started again on
 * the same port; and a libmosquitto subscriber that records every payload
 * it receives. Programs using it exit 77 (skipped) when the mosquitto
 * broker is not installed (Debian: mosquitto, mosquitto-clients).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/check/gstcheck.h>

#include <arpa/inet.h>
#include <glib/gstdio.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The broker's path: PATH, then Debian's /usr/sbin (not in a user's
 * PATH). NULL when it is not installed. */
static inline gchar *
broker_find_program (const gchar *name)
{
  gchar *p = g_find_program_in_path (name);
  gchar *sbin;

  if (p != NULL)
    return p;
  sbin = g_build_filename ("/usr/sbin", name, NULL);
  if (g_file_test (sbin, G_FILE_TEST_IS_EXECUTABLE))
    return sbin;
  g_free (sbin);
  return NULL;
}

/* A TCP port on 127.0.0.1 that nothing listens on now. */
static inline gint
broker_free_port (void)
{
  struct sockaddr_in a = { 0 };
  socklen_t len = sizeof (a);
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gint port;

  fail_unless (fd >= 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof (a)) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
  port = ntohs (a.sin_port);
  close (fd);
  return port;
}

/* Whether something accepts connections on 127.0.0.1:port. */
static inline gboolean
broker_port_open (gint port)
{
  struct sockaddr_in a = { 0 };
  int fd = socket (AF_INET, SOCK_STREAM, 0);
  gboolean ok;

  a.sin_family = AF_INET;
  a.sin_port = htons (port);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  ok = connect (fd, (struct sockaddr *) &a, sizeof (a)) == 0;
  close (fd);
  return ok;
}

typedef struct
{
  gchar *dir, *conf;
  gint port;
  GPid pid;
} Broker;

/* Writes the configuration (extra: more lines, in which @DIR@ stands for
 * the temporary directory; NULL: anonymous clients allowed) of a broker
 * on a free port; broker_start starts it. Persistence is on, in the
 * temporary directory, so that a restart keeps subscriptions of
 * persistent sessions and their queued QoS 1 messages. */
static inline Broker *
broker_new (const gchar *extra)
{
  Broker *b = g_new0 (Broker, 1);
  g_autofree gchar *text = NULL;
  g_auto (GStrv) parts = NULL;
  g_autofree gchar *lines = NULL;

  b->dir = g_dir_make_tmp ("seqdream-mqtt-XXXXXX", NULL);
  fail_unless (b->dir != NULL);
  b->conf = g_build_filename (b->dir, "mosquitto.conf", NULL);
  b->port = broker_free_port ();
  parts = g_strsplit (
      extra != NULL ? extra : "allow_anonymous true", "@DIR@", -1);
  lines = g_strjoinv (b->dir, parts);
  /* (run as root, mosquitto drops to the user "mosquitto", which cannot
   * write into our private temporary directory) */
  text = g_strdup_printf ("listener %d 127.0.0.1\n"
                          "%s"
                          "persistence true\n"
                          "persistence_location %s/\n"
                          "log_dest file %s/broker.log\n"
                          "%s\n",
      b->port, getuid () == 0 ? "user root\n" : "", b->dir, b->dir, lines);
  fail_unless (g_file_set_contents (b->conf, text, -1, NULL));
  return b;
}

/* Starts the broker; returns once it accepts connections. */
static inline void
broker_start (Broker *b)
{
  g_autofree gchar *prog = broker_find_program ("mosquitto");
  gchar *argv[] = { prog, (gchar *) "-c", b->conf, NULL };
  g_autoptr (GError) error = NULL;

  fail_unless (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                   NULL, &b->pid, &error),
      "%s", error != NULL ? error->message : "");
  for (guint i = 0; i < 500 && !broker_port_open (b->port); i++)
    g_usleep (10000);
  fail_unless (broker_port_open (b->port), "the broker did not start");
}

/* SIGTERM, and wait for it to exit (it writes its persistence file). */
static inline void
broker_stop (Broker *b)
{
  int status;

  if (b->pid == 0)
    return;
  kill (b->pid, SIGTERM);
  waitpid (b->pid, &status, 0);
  g_spawn_close_pid (b->pid);
  b->pid = 0;
}

static inline void
broker_free (Broker *b)
{
  g_autoptr (GDir) d = NULL;
  const gchar *name;

  broker_stop (b);
  d = g_dir_open (b->dir, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree gchar *f = g_build_filename (b->dir, name, NULL);
    g_unlink (f);
  }
  g_rmdir (b->dir);
  g_free (b->dir);
  g_free (b->conf);
  g_free (b);
}

/* ---- a subscriber ---- */

typedef struct
{
  struct mosquitto *mosq;
  gchar *topic;
  GMutex lock;
  GCond cond;
  GPtrArray *payloads; /* gchar *, in arrival order */
  gboolean subscribed;
} Subscriber;

static void
subscriber_on_connect (struct mosquitto *mosq, void *data, int rc)
{
  Subscriber *s = data;

  if (rc == 0)
    mosquitto_subscribe (mosq, NULL, s->topic, 1);
}

static void
subscriber_on_subscribe (
    struct mosquitto *mosq, void *data, int mid, int n, const int *granted)
{
  Subscriber *s = data;

  g_mutex_lock (&s->lock);
  s->subscribed = TRUE;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

static void
subscriber_on_message (
    struct mosquitto *mosq, void *data, const struct mosquitto_message *m)
{
  Subscriber *s = data;

  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->payloads, g_strndup (m->payload, m->payloadlen));
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

/* A persistent session (clean_session false, a fixed id) at QoS 1: the
 * broker keeps its subscription and queues for it across a restart. */
static inline Subscriber *
subscriber_new (const Broker *b, const gchar *topic)
{
  Subscriber *s = g_new0 (Subscriber, 1);
  g_autofree gchar *id = g_strdup_printf ("test-sub-%d", (int) getpid ());
  gint64 until = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->payloads = g_ptr_array_new_with_free_func (g_free);
  s->topic = g_strdup (topic);
  s->mosq = mosquitto_new (id, FALSE, s);
  fail_unless (s->mosq != NULL);
  mosquitto_connect_callback_set (s->mosq, subscriber_on_connect);
  mosquitto_subscribe_callback_set (s->mosq, subscriber_on_subscribe);
  mosquitto_message_callback_set (s->mosq, subscriber_on_message);
  mosquitto_reconnect_delay_set (s->mosq, 1, 1, FALSE);
  fail_unless_equals_int (
      mosquitto_connect (s->mosq, "127.0.0.1", b->port, 60), MOSQ_ERR_SUCCESS);
  fail_unless_equals_int (mosquitto_loop_start (s->mosq), MOSQ_ERR_SUCCESS);
  g_mutex_lock (&s->lock);
  while (!s->subscribed && g_cond_wait_until (&s->cond, &s->lock, until))
    ;
  g_mutex_unlock (&s->lock);
  fail_unless (s->subscribed, "the subscriber could not subscribe");
  return s;
}

/* Waits up to `seconds` for n payloads; returns how many there are. */
static inline guint
subscriber_wait (Subscriber *s, guint n, gint seconds)
{
  gint64 until = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND;
  guint have;

  g_mutex_lock (&s->lock);
  while (s->payloads->len < n && g_cond_wait_until (&s->cond, &s->lock, until))
    ;
  have = s->payloads->len;
  g_mutex_unlock (&s->lock);
  return have;
}

static inline void
subscriber_free (Subscriber *s)
{
  mosquitto_disconnect (s->mosq);
  mosquitto_loop_stop (s->mosq, FALSE);
  mosquitto_destroy (s->mosq);
  g_ptr_array_unref (s->payloads);
  g_free (s->topic);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}
