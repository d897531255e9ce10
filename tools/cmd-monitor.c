/* seqdream monitor: the state of every machine of a fleet, from the JSON
 * score lines (seqdream's score_src) that mosquittosink publishes on
 * plant/<machine>/<channel>: a table redrawn in place on a terminal,
 * plain lines (or --json) per state change otherwise. A libmosquitto
 * client in this thread (mosquitto_loop), reconnecting on its own.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "seqdream-cli.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Redraws of the table per second at most (a fleet sends hundreds of
 * messages a second). */
#define REDRAW_INTERVAL_US (250 * 1000)

/* One machine channel: a topic. Its latest window (class_, p, known,
 * novelty) and its state: a window's state is its class when known, else
 * "unknown"; the channel's state changes when `holdoff` consecutive
 * windows agree on another one (as the element's seqdream-state
 * message). */
typedef struct
{
  char *topic, *machine, *channel;
  char *class_; /* NULL before the first valid message */
  double p, novelty;
  gboolean known;
  char *state;       /* NULL before the first confirmed state */
  char *candidate;   /* the state of the latest windows */
  guint run;         /* how many consecutive windows had it */
  gint64 changed_us; /* wall-clock time of the last state change (µs) */
  guint64 messages;
} Row;

typedef struct
{
  char *host, *topic, *username, *password;
  int port, holdoff;
  gboolean json, tty;
  GHashTable *rows; /* topic -> Row */
  guint64 messages, invalid;
  gboolean dirty, connected;
  char *status; /* connection state for the table's header */
} Monitor;

static volatile sig_atomic_t stop_requested;

static void
on_signal (int sig)
{
  (void) sig;
  stop_requested = 1;
}

static void
row_free (gpointer data)
{
  Row *r = data;
  g_free (r->topic);
  g_free (r->machine);
  g_free (r->channel);
  g_free (r->class_);
  g_free (r->state);
  g_free (r->candidate);
  g_free (r);
}

/* plant/<machine>/<channel>: the second level is the machine, the third
 * the channel; other topics are their own machine, channel from the
 * message. */
static Row *
row_new (const char *topic, gint64 channel)
{
  Row *r = g_new0 (Row, 1);
  g_auto (GStrv) levels = g_strsplit (topic, "/", -1);

  r->topic = g_strdup (topic);
  if (g_strv_length (levels) >= 3) {
    r->machine = g_strdup (levels[1]);
    r->channel = g_strdup (levels[2]);
  } else {
    r->machine = g_strdup (topic);
    r->channel = g_strdup_printf ("%" G_GINT64_FORMAT, channel);
  }
  r->novelty = NAN;
  return r;
}

static char *
format_time (gint64 us)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (us / 1000000);
  return t != NULL ? g_date_time_format (t, "%H:%M:%S") : g_strdup ("?");
}

/* One state change: a JSON line (--json) or a plain one. */
static void
print_change (
    const Monitor *m, const Row *r, const char *previous, gint64 stream_time)
{
  if (m->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonGenerator) gen = json_generator_new ();
    g_autoptr (JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "time_us");
    json_builder_add_int_value (b, r->changed_us);
    json_builder_set_member_name (b, "topic");
    json_builder_add_string_value (b, r->topic);
    json_builder_set_member_name (b, "machine");
    json_builder_add_string_value (b, r->machine);
    json_builder_set_member_name (b, "channel");
    json_builder_add_string_value (b, r->channel);
    json_builder_set_member_name (b, "state");
    json_builder_add_string_value (b, r->state);
    json_builder_set_member_name (b, "class");
    json_builder_add_string_value (b, r->class_);
    cli_json_add_double (b, "p", r->p);
    json_builder_set_member_name (b, "known");
    json_builder_add_boolean_value (b, r->known);
    cli_json_add_double (b, "novelty", r->novelty);
    json_builder_set_member_name (b, "previous");
    if (previous != NULL)
      json_builder_add_string_value (b, previous);
    else
      json_builder_add_null_value (b);
    json_builder_set_member_name (b, "stream-time");
    if (stream_time >= 0)
      json_builder_add_int_value (b, stream_time);
    else
      json_builder_add_null_value (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    json_generator_set_root (gen, root);
    text = json_generator_to_data (gen, NULL);
    printf ("%s\n", text);
  } else {
    g_autofree char *when = format_time (r->changed_us);
    printf ("%s %s/%s %s (class %s p=%.3f) was %s\n", when, r->machine,
        r->channel, r->state, r->class_, r->p,
        previous != NULL ? previous : "-");
  }
  fflush (stdout);
}

/* The row's state after a window of state `st`; TRUE when it changed
 * (*previous: the state before, or NULL). */
static gboolean
update_state (Row *r, const char *st, guint holdoff, char **previous)
{
  if (r->candidate != NULL && strcmp (r->candidate, st) == 0)
    r->run++;
  else {
    g_free (r->candidate);
    r->candidate = g_strdup (st);
    r->run = 1;
  }
  if (r->run < holdoff || (r->state != NULL && strcmp (r->state, st) == 0))
    return FALSE;
  *previous = r->state;
  r->state = g_strdup (st);
  return TRUE;
}

/* A score line: updates its row, and prints a state change. */
static void
handle_message (Monitor *m, const char *topic, const char *payload, int len)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;
  JsonNode *root;
  Row *r;
  const char *cls;
  g_autofree char *previous = NULL;
  gint64 stream_time = -1;

  m->messages++;
  if (!json_parser_load_from_data (parser, payload, len, NULL)
      || (root = json_parser_get_root (parser)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (root)
      || !json_object_has_member ((o = json_node_get_object (root)), "class")
      || (cls = json_object_get_string_member (o, "class")) == NULL) {
    m->invalid++;
    if (!m->tty && m->invalid == 1)
      fprintf (stderr,
          "seqdream monitor: %s: a message that is not a seqdream score "
          "line (JSON with \"class\"); such messages are counted, not shown\n",
          topic);
    return;
  }
  r = g_hash_table_lookup (m->rows, topic);
  if (r == NULL) {
    r = row_new (
        topic, json_object_get_int_member_with_default (o, "channel", 0));
    g_hash_table_insert (m->rows, r->topic, r);
  }
  g_free (r->class_);
  r->class_ = g_strdup (cls);
  r->known = json_object_get_boolean_member_with_default (o, "known", TRUE);
  r->p = json_object_get_double_member_with_default (o, "confidence", NAN);
  r->novelty = json_object_get_double_member_with_default (o, "novelty", NAN);
  r->messages++;
  if (json_object_has_member (o, "stream-time")
      && !json_object_get_null_member (o, "stream-time"))
    stream_time = json_object_get_int_member (o, "stream-time");
  m->dirty = TRUE;
  if (!update_state (
          r, r->known ? cls : "unknown", (guint) m->holdoff, &previous))
    return;
  r->changed_us = g_get_real_time ();
  if (m->json || !m->tty)
    print_change (m, r, previous, stream_time);
}

static gint
compare_rows (gconstpointer a, gconstpointer b)
{
  const Row *x = *(Row *const *) a, *y = *(Row *const *) b;
  return strcmp (x->topic, y->topic);
}

/* The table, in place: home, clear, rows sorted by topic. */
static void
draw_table (Monitor *m)
{
  g_autoptr (GPtrArray) rows = g_ptr_array_new ();
  GHashTableIter it;
  gpointer value;
  gint64 now = g_get_real_time ();
  GString *out = g_string_new ("\033[H\033[2J");

  g_hash_table_iter_init (&it, m->rows);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (rows, value);
  g_ptr_array_sort (rows, compare_rows);
  g_string_append_printf (out,
      "seqdream monitor  %s:%d  %s  %s  %u channels, %" G_GUINT64_FORMAT
      " messages (%" G_GUINT64_FORMAT " not score lines)\n\n",
      m->host, m->port, m->topic, m->status, rows->len, m->messages,
      m->invalid);
  g_string_append_printf (out,
      "%-12s %-4s %-12s %-12s %7s %-6s %9s %-20s %9s\n", "MACHINE", "CH",
      "STATE", "CLASS", "P", "KNOWN", "NOVELTY", "LAST CHANGE", "MSGS");
  for (guint i = 0; i < rows->len; i++) {
    const Row *r = g_ptr_array_index (rows, i);
    g_autofree char *when = format_time (r->changed_us);
    g_autofree char *ago = g_strdup_printf (
        "%s (%llds ago)", when, (long long) ((now - r->changed_us) / 1000000));
    /* (bold red: not known or not normal) */
    gboolean alert = !r->known || strstr (r->class_, "normal") == NULL;
    g_string_append_printf (out,
        "%s%-16s %-4s %-14s %7.3f %-6s %9.2f %-20s %9" G_GUINT64_FORMAT "%s\n",
        alert ? "\033[1;31m" : "", r->machine, r->channel, r->class_, r->p,
        r->known ? "yes" : "NO", r->novelty, ago, r->messages,
        alert ? "\033[0m" : "");
  }
  fwrite (out->str, 1, out->len, stdout);
  fflush (stdout);
  g_string_free (out, TRUE);
  m->dirty = FALSE;
}

static void
set_status (Monitor *m, const char *status)
{
  g_free (m->status);
  m->status = g_strdup (status);
  m->dirty = TRUE;
}

static void
on_connect (struct mosquitto *mosq, void *data, int rc)
{
  Monitor *m = data;

  if (rc != 0) {
    set_status (m, mosquitto_connack_string (rc));
    if (!m->tty)
      fprintf (stderr, "seqdream monitor: %s:%d refused the connection: %s\n",
          m->host, m->port, mosquitto_connack_string (rc));
    return;
  }
  m->connected = TRUE;
  set_status (m, "connected");
  mosquitto_subscribe (mosq, NULL, m->topic, 0);
}

static void
on_disconnect (struct mosquitto *mosq, void *data, int rc)
{
  Monitor *m = data;

  (void) mosq;
  m->connected = FALSE;
  set_status (m, "disconnected, reconnecting");
  if (!m->tty && rc != 0)
    fprintf (stderr, "seqdream monitor: lost %s:%d (%s), reconnecting\n",
        m->host, m->port, mosquitto_strerror (rc));
}

static void
on_message (
    struct mosquitto *mosq, void *data, const struct mosquitto_message *msg)
{
  (void) mosq;
  handle_message (data, msg->topic, msg->payload, msg->payloadlen);
}

/* HOST:PORT (the port 1..65535). */
static gboolean
parse_address (const char *s, Monitor *m)
{
  const char *colon = s != NULL ? strrchr (s, ':') : NULL;
  guint64 port;

  if (colon == NULL || colon == s
      || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL)) {
    fprintf (stderr,
        "seqdream monitor: --mqtt '%s' must be HOST:PORT with a port in "
        "1..65535\n",
        s != NULL ? s : "");
    return FALSE;
  }
  m->host = g_strndup (s, colon - s);
  m->port = (int) port;
  return TRUE;
}

/* mosquitto_loop until --duration or a signal; reconnects with a 1 s
 * pause after a network error. */
static void
run_loop (Monitor *m, struct mosquitto *mosq, double duration)
{
  gint64 start = g_get_monotonic_time (), last_draw = 0;
  gint64 end = duration > 0 ? start + (gint64) (duration * 1e6) : G_MAXINT64;

  while (!stop_requested && g_get_monotonic_time () < end) {
    int rc = mosquitto_loop (mosq, 100, 1);
    gint64 now = g_get_monotonic_time ();

    if (rc != MOSQ_ERR_SUCCESS) {
      g_usleep (MIN (G_USEC_PER_SEC, MAX (0, end - now)));
      if (g_get_monotonic_time () < end)
        mosquitto_reconnect (mosq);
    }
    if (m->tty && !m->json && m->dirty
        && now - last_draw >= REDRAW_INTERVAL_US) {
      draw_table (m);
      last_draw = now;
    }
  }
  if (m->tty && !m->json)
    draw_table (m);
}

int
cli_cmd_monitor (int argc, char **argv)
{
  g_autofree char *address = NULL;
  Monitor m = { .holdoff = 3 };
  double duration = 0.0;
  struct mosquitto *mosq;
  int rc, status = 0;
  GOptionEntry entries[] = {
    { "mqtt", 0, 0, G_OPTION_ARG_STRING, &address,
        "broker address (default 127.0.0.1:1883)", "HOST:PORT" },
    { "topic", 0, 0, G_OPTION_ARG_STRING, &m.topic,
        "topic filter to subscribe to (default plant/#)", "FILTER" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &m.json,
        "one JSON line per state change (no table)", NULL },
    { "holdoff", 0, 0, G_OPTION_ARG_INT, &m.holdoff,
        "consecutive windows that confirm a state (default 3, as the "
        "element's state-holdoff)",
        "N" },
    { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &duration,
        "stop after S seconds (default: until Ctrl-C)", "S" },
    { "username", 0, 0, G_OPTION_ARG_STRING, &m.username,
        "user name for the broker", "NAME" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &m.password,
        "password for the broker", "PASSWORD" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx
      = g_option_context_new ("- the state of every machine of a fleet");

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "Subscribes to the score lines (JSON, seqdream's score_src) that\n"
      "mosquittosink publishes on plant/<machine>/<channel> and shows each\n"
      "channel's state, latest class, probability, known flag and last\n"
      "change: a table redrawn in place on a terminal, one line per state\n"
      "change otherwise (--json: as JSON). A window's state is its class\n"
      "when it is known, else \"unknown\"; a channel's state changes when\n"
      "--holdoff consecutive windows agree on another one.");
  if (!cli_parse (ctx, &argc, &argv))
    return 2;
  if (!parse_address (address != NULL ? address : "127.0.0.1:1883", &m))
    return 2;
  if (m.topic == NULL)
    m.topic = g_strdup ("plant/#");
  if (mosquitto_sub_topic_check (m.topic) != MOSQ_ERR_SUCCESS) {
    fprintf (stderr, "seqdream monitor: --topic '%s' is not a topic filter\n",
        m.topic);
    return 2;
  }
  if (m.holdoff < 1) {
    fprintf (stderr, "seqdream monitor: --holdoff must be at least 1\n");
    return 2;
  }
  if (duration < 0 || !isfinite (duration)) {
    fprintf (stderr, "seqdream monitor: --duration must be >= 0 seconds\n");
    return 2;
  }
  m.tty = isatty (STDOUT_FILENO);
  m.rows = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, row_free);
  m.status = g_strdup ("connecting");

  mosquitto_lib_init ();
  mosq = mosquitto_new (NULL, TRUE, &m);
  if (mosq == NULL) {
    fprintf (
        stderr, "seqdream monitor: no MQTT client: %s\n", g_strerror (errno));
    return 1;
  }
  mosquitto_connect_callback_set (mosq, on_connect);
  mosquitto_disconnect_callback_set (mosq, on_disconnect);
  mosquitto_message_callback_set (mosq, on_message);
  if (m.username != NULL)
    mosquitto_username_pw_set (mosq, m.username, m.password);
  rc = mosquitto_connect (mosq, m.host, m.port, 30);
  if (rc != MOSQ_ERR_SUCCESS) {
    fprintf (stderr,
        "seqdream monitor: cannot connect to %s:%d: %s (is the broker "
        "running?)\n",
        m.host, m.port,
        rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc));
    status = 1;
  } else {
    signal (SIGINT, on_signal);
    signal (SIGTERM, on_signal);
    run_loop (&m, mosq, duration);
    mosquitto_disconnect (mosq);
  }
  mosquitto_destroy (mosq);
  mosquitto_lib_cleanup ();
  g_hash_table_unref (m.rows);
  g_free (m.host);
  g_free (m.topic);
  g_free (m.username);
  g_free (m.password);
  g_free (m.status);
  return status;
}
