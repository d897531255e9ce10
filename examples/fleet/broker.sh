# shellcheck shell=sh
# start_broker DIR [MAX_QUEUED]: starts a mosquitto broker on a free
# loopback port and waits until it accepts connections. Sourced by
# examples/fleet/run-fleet.sh, bench/fleet.sh and tests/gst/test-monitor.sh
# (`. examples/fleet/broker.sh`), so the broker is the caller's child (its
# `kill` and `wait` stop and reap it). Writes DIR/mosquitto.conf
# (anonymous clients, at most MAX_QUEUED messages queued per client,
# default 10000), logs to DIR/broker.log and sets BROKER_PID and
# BROKER_PORT; returns 1, with the broker's log on stderr, when it cannot.
start_broker () {
  _sb_mq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
  if [ ! -x "$_sb_mq" ]; then
    echo "no mosquitto broker (apt-get install mosquitto)" >&2
    return 1
  fi
  BROKER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  {
    echo "listener $BROKER_PORT 127.0.0.1"
    echo "allow_anonymous true"
    [ "$(id -u)" = 0 ] && echo "user root"
    echo "max_queued_messages ${2:-10000}"
  } >"$1/mosquitto.conf"
  "$_sb_mq" -c "$1/mosquitto.conf" 2>"$1/broker.log" &
  BROKER_PID=$!
  _sb_i=0
  while ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $BROKER_PORT), 0.2)" 2>/dev/null; do
    _sb_i=$((_sb_i + 1))
    if [ $_sb_i -ge 50 ] || ! kill -0 "$BROKER_PID" 2>/dev/null; then
      echo "the mosquitto broker did not start:" >&2
      cat "$1/broker.log" >&2
      kill "$BROKER_PID" 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
}
