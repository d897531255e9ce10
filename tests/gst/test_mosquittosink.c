/* gst-check tests of mosquittosink against a real mosquitto broker on a
 * free loopback port (mqtt-test-broker.h): every message arrives once at
 * QoS 1; the broker stopped and started again mid-stream (pushes stay
 * fast, what was queued is delivered, the counts are printed); a full
 * queue drops the oldest while no broker listens; a host that does not
 * resolve; credentials the broker refuses; and impossible settings. The
 * whole program is skipped (exit 77) when mosquitto is not installed.
 *
 * Each message is "m<N>" (N = 0, 1, ...), so the subscriber's payloads
 * say which arrived, how often and in what order.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst-test-fixture.h"
#include "mqtt-test-broker.h"

#include <string.h>

/* A push may take this long at most (µs): render only queues. Generous
 * for loaded CI machines and sanitizers; a blocking connect or publish
 * takes seconds. */
#define PUSH_LIMIT_US (500 * 1000)

static GstHarness *
make_sink (const gchar *first_prop, ...)
{
  GstElement *el = gst_element_factory_make ("mosquittosink", NULL);
  GstHarness *h;
  GstBus *bus;
  va_list ap;

  fail_unless (el != NULL, "no mosquittosink (GST_PLUGIN_PATH?)");
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  /* The bus before the harness starts the element: the connection is
   * made (and its message posted) from libmosquitto's thread, which may
   * win the race against a bus set afterwards (it did under ASan). */
  gst_element_set_bus (el, bus = gst_bus_new ());
  gst_object_unref (bus);
  h = fx_harness (el, "sink", NULL);
  gst_object_unref (el);
  gst_harness_set_src_caps_str (h, "text/x-raw, format=utf8");
  return h;
}

/* Drops make_sink's bus before the harness goes: the messages it holds
 * reference the element, which holds the bus. */
static void
teardown_sink (GstHarness *h)
{
  gst_element_set_bus (h->element, NULL);
  fx_harness_teardown (h);
}

/* Pushes m<from> .. m<from + n - 1>; fails when a push is slow. */
static void
push_messages (GstHarness *h, guint from, guint n)
{
  for (guint i = from; i < from + n; i++) {
    g_autofree gchar *text = g_strdup_printf ("m%u", i);
    gint64 t0 = g_get_monotonic_time ();
    fail_unless_equals_int (
        gst_harness_push (h, gst_buffer_new_memdup (text, strlen (text))),
        GST_FLOW_OK);
    fail_unless (g_get_monotonic_time () - t0 < PUSH_LIMIT_US,
        "push %u took %" G_GINT64_FORMAT " us", i,
        g_get_monotonic_time () - t0);
  }
}

static guint64
get_count (GstHarness *h, const gchar *name)
{
  guint64 v;

  g_object_get (h->element, name, &v, NULL);
  return v;
}

/* How often each of m0 .. m<n - 1> arrived (counts[n]); anything else
 * fails. Returns the number of distinct messages. */
static guint
count_arrivals (Subscriber *s, guint n, guint *counts)
{
  guint distinct = 0;

  memset (counts, 0, n * sizeof (guint));
  g_mutex_lock (&s->lock);
  for (guint i = 0; i < s->payloads->len; i++) {
    const gchar *p = g_ptr_array_index (s->payloads, i);
    guint64 k;
    fail_unless (
        p[0] == 'm'
            && g_ascii_string_to_unsigned (p + 1, 10, 0, n - 1, &k, NULL),
        "unexpected payload %s", p);
    distinct += counts[k]++ == 0;
  }
  g_mutex_unlock (&s->lock);
  return distinct;
}

/* The next element message named `name` on the bus within `seconds`, or
 * a warning when name is NULL. */
static GstMessage *
wait_message (GstBus *bus, const gchar *name, gint seconds)
{
  gint64 until = g_get_monotonic_time () + seconds * G_TIME_SPAN_SECOND;

  while (g_get_monotonic_time () < until) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 50 * GST_MSECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_WARNING | GST_MESSAGE_ERROR);
    if (m == NULL)
      continue;
    if (name == NULL ? GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING
                     : gst_message_has_name (m, name))
      return m;
    gst_message_unref (m);
  }
  return NULL;
}

/* The element's bus (set by make_sink), a new reference. */
static GstBus *
harness_bus (GstHarness *h)
{
  return gst_element_get_bus (h->element);
}

/* The text of a warning or error message. */
static gchar *
message_text (GstMessage *m)
{
  GError *e = NULL;
  gchar *text;

  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING)
    gst_message_parse_warning (m, &e, NULL);
  else
    gst_message_parse_error (m, &e, NULL);
  text = g_strdup (e->message);
  g_error_free (e);
  return text;
}

GST_START_TEST (test_qos1_once_each)
{
  Broker *b = broker_new (NULL);
  Subscriber *s;
  GstHarness *h;
  guint counts[300];

  broker_start (b);
  s = subscriber_new (b, "plant/#");
  h = make_sink ("host", "127.0.0.1", "port", b->port, "topic", "plant/pump1/0",
      "qos", 1, NULL);
  push_messages (h, 0, 300);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (subscriber_wait (s, 300, 20), 300);
  /* (a late duplicate would come now) */
  g_usleep (200 * 1000);
  fail_unless_equals_int (count_arrivals (s, 300, counts), 300);
  for (guint i = 0; i < 300; i++) {
    g_autofree gchar *want = g_strdup_printf ("m%u", i);
    fail_unless_equals_int (counts[i], 1);
    /* (in order) */
    fail_unless_equals_string (g_ptr_array_index (s->payloads, i), want);
  }
  fail_unless_equals_uint64 (get_count (h, "published"), 300);
  fail_unless_equals_uint64 (get_count (h, "dropped"), 0);
  fail_unless_equals_uint64 (get_count (h, "lost"), 0);

  teardown_sink (h);
  subscriber_free (s);
  broker_free (b);
}

GST_END_TEST;

/* 100 messages with the broker up, 100 while it is down (every push
 * stays fast), 100 after it is back; QoS 1, a queue big enough. Every
 * message arrives; duplicates (a message in flight when the broker went
 * away is sent again) are counted and printed. */
GST_START_TEST (test_broker_restart)
{
  Broker *b = broker_new (NULL);
  Subscriber *s;
  GstHarness *h;
  GstBus *bus;
  GstMessage *m;
  guint counts[300], distinct, dups = 0;

  broker_start (b);
  s = subscriber_new (b, "plant/#");
  h = make_sink ("host", "127.0.0.1", "port", b->port, "topic", "plant/pump1/0",
      "qos", 1, "queue-size", 1000, "flush-timeout", 30000, NULL);
  bus = harness_bus (h);
  m = wait_message (bus, "mosquittosink-connection", 10);
  fail_unless (m != NULL);
  gst_message_unref (m);
  push_messages (h, 0, 100);
  fail_unless_equals_int (subscriber_wait (s, 100, 20), 100);

  broker_stop (b);
  m = wait_message (bus, NULL, 10);
  fail_unless (m != NULL, "no warning when the broker went away");
  gst_message_unref (m);
  push_messages (h, 100, 100);
  g_usleep (300 * 1000);
  broker_start (b);
  push_messages (h, 200, 100);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  subscriber_wait (s, 300, 30);
  g_usleep (200 * 1000);
  distinct = count_arrivals (s, 300, counts);
  for (guint i = 0; i < 300; i++)
    dups += counts[i] > 1 ? counts[i] - 1 : 0;
  g_print ("# broker restart: 300 sent, %u arrived (%u duplicates), "
           "sink: published %" G_GUINT64_FORMAT ", dropped %" G_GUINT64_FORMAT
           ", lost %" G_GUINT64_FORMAT "\n",
      distinct, dups, get_count (h, "published"), get_count (h, "dropped"),
      get_count (h, "lost"));
  fail_unless_equals_int (distinct, 300);
  fail_unless_equals_uint64 (get_count (h, "dropped"), 0);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  teardown_sink (h);
  subscriber_free (s);
  broker_free (b);
}

GST_END_TEST;

/* No broker yet: the queue of 10 keeps the newest 10 of 100 messages
 * (90 dropped, counted and posted); a broker on that port then gets
 * exactly those 10. */
GST_START_TEST (test_queue_drops_oldest)
{
  Broker *b = broker_new (NULL);
  Subscriber *s;
  GstHarness *h;
  GstBus *bus;
  GstMessage *m;
  guint64 dropped = 0;
  guint counts[100];

  h = make_sink ("host", "127.0.0.1", "port", b->port, "topic", "plant/pump1/0",
      "qos", 1, "queue-size", 10, "flush-timeout", 20000, NULL);
  bus = harness_bus (h);
  push_messages (h, 0, 100);
  fail_unless_equals_uint64 (get_count (h, "dropped"), 90);
  m = wait_message (bus, "mosquittosink-dropped", 5);
  fail_unless (m != NULL);
  fail_unless (gst_structure_get_uint64 (
      gst_message_get_structure (m), "dropped", &dropped));
  fail_unless (dropped >= 1 && dropped <= 90);
  gst_message_unref (m);

  broker_start (b);
  s = subscriber_new (b, "plant/#");
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (subscriber_wait (s, 10, 30), 10);
  g_usleep (200 * 1000);
  fail_unless_equals_int (count_arrivals (s, 100, counts), 10);
  for (guint i = 90; i < 100; i++)
    fail_unless_equals_int (counts[i], 1);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  teardown_sink (h);
  subscriber_free (s);
  broker_free (b);
}

GST_END_TEST;

/* A name that cannot resolve: a warning naming the broker, the stream
 * flows (drops counted), and stopping does not hang. */
GST_START_TEST (test_bad_host)
{
  GstHarness *h = make_sink ("host", "no-such-host.invalid", "port", 1883,
      "topic", "plant/x/0", "queue-size", 5, "flush-timeout", 0, NULL);
  GstBus *bus = harness_bus (h);
  GstMessage *m;
  g_autofree gchar *text = NULL;
  gint64 t0;

  push_messages (h, 0, 50);
  fail_unless_equals_uint64 (get_count (h, "dropped"), 45);
  m = wait_message (bus, NULL, 10);
  fail_unless (m != NULL, "no warning for a host that does not resolve");
  text = message_text (m);
  fail_unless (strstr (text, "no-such-host.invalid:1883") != NULL, "%s", text);
  gst_message_unref (m);
  t0 = g_get_monotonic_time ();
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  teardown_sink (h);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_TIME_SPAN_SECOND);
}

GST_END_TEST;

/* A broker with a password file refuses a wrong password (a warning that
 * says so, nothing published) and accepts the right one (the control). */
GST_START_TEST (test_auth_refused)
{
  Broker *b;
  g_autofree gchar *passwd = broker_find_program ("mosquitto_passwd");
  g_autofree gchar *pwfile = NULL, *out = NULL;
  g_autofree gchar *text = NULL;
  gint status;
  GstHarness *h;
  GstBus *bus;
  GstMessage *m;

  fail_unless (passwd != NULL, "no mosquitto_passwd (mosquitto package)");
  b = broker_new ("allow_anonymous false\npassword_file @DIR@/passwd");
  pwfile = g_build_filename (b->dir, "passwd", NULL);
  {
    gchar *argv[] = { passwd, (gchar *) "-b", (gchar *) "-c", pwfile,
      (gchar *) "sensor", (gchar *) "s3cret", NULL };
    fail_unless (g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
        NULL, NULL, NULL, &out, &status, NULL));
    fail_unless (g_spawn_check_wait_status (status, NULL), "%s", out);
  }
  broker_start (b);

  h = make_sink ("host", "127.0.0.1", "port", b->port, "topic", "plant/x/0",
      "username", "sensor", "password", "wrong", "flush-timeout", 0, NULL);
  bus = harness_bus (h);
  push_messages (h, 0, 10);
  m = wait_message (bus, NULL, 10);
  fail_unless (m != NULL, "no warning for refused credentials");
  text = message_text (m);
  fail_unless (strstr (text, "refused") != NULL, "%s", text);
  gst_message_unref (m);
  fail_unless_equals_uint64 (get_count (h, "published"), 0);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  teardown_sink (h);

  h = make_sink ("host", "127.0.0.1", "port", b->port, "topic", "plant/x/0",
      "username", "sensor", "password", "s3cret", "qos", 1, NULL);
  push_messages (h, 0, 10);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_uint64 (get_count (h, "published"), 10);
  teardown_sink (h);
  broker_free (b);
}

GST_END_TEST;

/* Impossible settings fail the start with an error naming them. */
GST_START_TEST (test_impossible_settings)
{
  static const struct
  {
    const gchar *prop, *value, *says;
  } cases[] = {
    { "port", "0", "port 0" },
    { "port", "70000", "port 70000" },
    { "qos", "3", "qos 3" },
    { "topic", "plant/#", "plant/#" },
    { "keep-alive", "2", "keep-alive 2" },
    { "tls-ca-file", "/nonexistent/ca.pem", "/nonexistent/ca.pem" },
    { "password", "x", "needs a username" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstElement *el = gst_element_factory_make ("mosquittosink", NULL);
    GstBus *bus = gst_bus_new ();
    GstMessage *m;
    g_autofree gchar *text = NULL;

    gst_util_set_object_arg (G_OBJECT (el), cases[i].prop, cases[i].value);
    gst_element_set_bus (el, bus);
    fail_unless_equals_int (
        gst_element_set_state (el, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
    m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (m != NULL, "%s=%s: no error", cases[i].prop, cases[i].value);
    text = message_text (m);
    fail_unless (strstr (text, cases[i].says) != NULL, "%s=%s: %s",
        cases[i].prop, cases[i].value, text);
    gst_message_unref (m);
    gst_element_set_state (el, GST_STATE_NULL);
    gst_element_set_bus (el, NULL);
    gst_object_unref (bus);
    gst_object_unref (el);
  }
}

GST_END_TEST;

static Suite *
mosquittosink_suite (void)
{
  Suite *s = suite_create ("mosquittosink");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, fx_setup, fx_teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_impossible_settings);
  tcase_add_test (tc, test_qos1_once_each);
  tcase_add_test (tc, test_queue_drops_oldest);
  tcase_add_test (tc, test_broker_restart);
  tcase_add_test (tc, test_bad_host);
  tcase_add_test (tc, test_auth_refused);
  return s;
}

int
main (int argc, char **argv)
{
  g_autofree gchar *broker = broker_find_program ("mosquitto");

  if (broker == NULL) {
    g_print ("SKIP: the mosquitto broker is not installed (Debian: "
             "mosquitto, mosquitto-clients; scripts/install-deps.sh)\n");
    return 77;
  }
  gst_check_init (&argc, &argv);
  mosquitto_lib_init ();
  return gst_check_run_suite (
      mosquittosink_suite (), "mosquittosink", __FILE__);
}
