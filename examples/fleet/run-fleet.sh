#!/bin/sh
# A fleet on one machine: N simulated machines (vibrationsrc, live, each
# with its own fault, shaft speed, sample rate and seed), each scored by
# seqdream and published by mosquittosink on plant/<machine>/0, all to one
# MQTT broker; then `seqdream monitor` shows every machine's state.
#   examples/fleet/run-fleet.sh [-n N] [--broker HOST:PORT] [--duration S]
#                               [--builddir DIR] [--json] [--no-monitor]
# Without --broker a mosquitto broker is started on a free loopback port
# (its configuration in a temporary directory) and stopped at the end.
# --duration S stops everything after S seconds (default: at Ctrl-C).
# --no-monitor: only the publishers (run the monitor elsewhere:
#   seqdream monitor --mqtt HOST:PORT --topic 'plant/#').
# Needs the Debian packages mosquitto (without --broker) and
# libmosquitto-dev at build time (mosquittosink, seqdream monitor).
# docs/fleet.md explains the layout and how it scales past one host.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
here=$(cd "$(dirname "$0")" && pwd)
N=4
BROKER=
DURATION=0
B="$here/../../build"
MONITOR=yes
JSON=
while [ $# -gt 0 ]; do
  case $1 in
    -n) N=$2; shift 2 ;;
    --broker) BROKER=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --builddir) B=$2; shift 2 ;;
    --json) JSON=--json; shift ;;
    --no-monitor) MONITOR=; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run-fleet.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case $N in ''|*[!0-9]*|0) echo "run-fleet.sh: -n must be a positive number" >&2; exit 2 ;; esac
B=$(cd "$B" && pwd)
export GST_PLUGIN_PATH="$B/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
export OPENBLAS_NUM_THREADS=1
if ! gst-inspect-1.0 mosquittosink >/dev/null 2>&1; then
  echo "run-fleet.sh: no mosquittosink in $B/gst-plugin (build with libmosquitto-dev installed)" >&2
  exit 1
fi

tmp=$(mktemp -d)
pids=
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$BROKER" ]; then
  . "$(dirname "$0")/broker.sh"
  start_broker "$tmp" 10000 || exit 1
  pids="$pids $BROKER_PID"
  BROKER=127.0.0.1:$BROKER_PORT
fi
host=${BROKER%:*}
port=${BROKER##*:}

# Machine i: a fault of the four (none first), one of the CWRU loads'
# shaft speeds, sensors at 48 or 96 kHz (resampled to the model's 48 kHz).
faults="none inner-race outer-race ball"
i=0
while [ $i -lt "$N" ]; do
  fault=$(echo $faults | cut -d' ' -f$((i % 4 + 1)))
  rpm=$(echo 1797 1772 1750 1730 | cut -d' ' -f$((i / 4 % 4 + 1)))
  rate=$([ $((i / 2 % 2)) = 0 ] && echo 48000 || echo 96000)
  m=$(printf 'm%02d' "$i")
  echo "$m: fault=$fault rpm=$rpm rate=$rate -> plant/$m/0" >&2
  gst-launch-1.0 -q vibrationsrc is-live=true fault=$fault rpm=$rpm \
      rate=$rate seed=$((i + 1)) ! audioresample ! \
    seqdream name=s post-messages=false ! fakesink \
    s.score_src ! queue ! mosquittosink host="$host" port="$port" \
      topic="plant/$m/0" client-id="seqdream-$m" qos=1 \
    >"$tmp/$m.log" 2>&1 &
  pids="$pids $!"
  i=$((i + 1))
done
echo "$N machines publishing to $BROKER" >&2

if [ -n "$MONITOR" ]; then
  "$B/tools/seqdream" monitor --mqtt "$BROKER" --topic 'plant/#' $JSON \
    --duration "$DURATION"
elif [ "$DURATION" != 0 ]; then
  sleep "$DURATION"
else
  wait
fi
