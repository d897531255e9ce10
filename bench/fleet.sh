#!/bin/sh
# Messages per second through one mosquitto broker on this machine, from N
# publishing pipelines (default: 16, then 64):
#   live:  N x `vibrationsrc is-live=true ! audioresample ! seqdream !
#          score_src ! queue ! mosquittosink qos=1` (examples/fleet's
#          pipeline: one score line per 1024 samples at 48 kHz, 46.9
#          messages/s each)
#   paced: N x `fakesrc datarate=... ! mosquittosink sync=true qos=1`
#          (360-byte messages, a score line's size, at R messages/s
#          each, default the live rate of 46.875): cheap publishers, so
#          64 of them offer what 64 live pipelines would without the CPU
#          of 64 models; raise --rate to find the broker's ceiling
#          (received falls below offered; mosquittosink drops the oldest)
# One subscriber (mosquitto_sub, QoS 1, on plant/#) counts what arrives in
# a window of S seconds after a warm-up; the CPU of the broker, the
# publishers and the subscriber over that window comes from /proc.
#   bench/fleet.sh [--pipelines "16 64"] [--seconds S] [--mode live|paced|both]
#                  [--rate R]
#                  [--builddir DIR]
# Run it with nice -n 10 on a shared machine; results in docs/results.md.
set -eu
cd "$(dirname "$0")/.."
B=build
NS="16 64"
S=10
MODE=live
RATE=46.875
while [ $# -gt 0 ]; do
  case $1 in
    --pipelines) NS=$2; shift 2 ;;
    --seconds) S=$2; shift 2 ;;
    --mode) MODE=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --builddir) B=$2; shift 2 ;;
    *) echo "fleet.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
export GST_PLUGIN_PATH="$PWD/$B/gst-plugin" OPENBLAS_NUM_THREADS=1
MQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MQ" ] || { echo "fleet.sh: mosquitto is not installed" >&2; exit 1; }
. examples/fleet/broker.sh
gst-inspect-1.0 mosquittosink >/dev/null 2>&1 ||
  { echo "fleet.sh: no mosquittosink in $B/gst-plugin" >&2; exit 1; }
tmp=$(mktemp -d)
pids=
stop_all() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=; }
trap 'stop_all; rm -rf "$tmp"' EXIT
HZ=$(getconf CLK_TCK)

# cpu PID...: utime + stime of the processes, in clock ticks
cpu() {
  t=0
  for p in "$@"; do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    t=$((t + v))
  done
  echo $t
}

run() {
  mode=$1; n=$2
  start_broker "$tmp" 100000 || exit 1
  broker=$BROKER_PID; port=$BROKER_PORT; pids="$broker"
  mosquitto_sub -h 127.0.0.1 -p "$port" -t 'plant/#' -q 1 -F '%t' >"$tmp/sub.txt" &
  sub=$!; pids="$pids $sub"
  sleep 0.3
  pubs=
  i=0
  while [ $i -lt "$n" ]; do
    m=$(printf 'm%02d' "$i")
    if [ "$mode" = live ]; then
      fault=$(echo none inner-race outer-race ball | cut -d' ' -f$((i % 4 + 1)))
      gst-launch-1.0 -q vibrationsrc is-live=true fault=$fault seed=$((i + 1)) ! \
        audioresample ! seqdream name=s post-messages=false ! fakesink \
        s.score_src ! queue ! mosquittosink port="$port" host=127.0.0.1 \
        topic="plant/$m/0" qos=1 >/dev/null 2>&1 &
    else
      # buffer timestamps 1/RATE s apart; the sink waits for each (sync)
      gst-launch-1.0 -q fakesrc sizetype=fixed sizemax=360 filltype=zero \
        datarate="$(awk -v r="$RATE" 'BEGIN{printf "%d", 360 * r}')" ! \
        mosquittosink sync=true port="$port" host=127.0.0.1 \
        topic="plant/$m/0" qos=1 >/dev/null 2>&1 &
    fi
    p=$!; pubs="$pubs $p"; pids="$pids $p"
    i=$((i + 1))
  done
  sleep 4
  c0=$(wc -l <"$tmp/sub.txt"); b0=$(cpu $broker); p0=$(cpu $pubs); s0=$(cpu $sub)
  t0=$(date +%s.%N)
  sleep "$S"
  c1=$(wc -l <"$tmp/sub.txt"); b1=$(cpu $broker); p1=$(cpu $pubs); s1=$(cpu $sub)
  t1=$(date +%s.%N)
  machines=$(sort -u "$tmp/sub.txt" | wc -l)
  stop_all
  awk -v mode="$mode" -v n="$n" -v c="$((c1 - c0))" -v t="$t0" -v u="$t1" \
      -v b="$((b1 - b0))" -v p="$((p1 - p0))" -v s="$((s1 - s0))" -v hz="$HZ" \
      -v k="$machines" -v r="$RATE" 'BEGIN {
    d = u - t; rate = c / d
    offered = (mode == "live") ? n * 48000 / 1024 : n * r
    printf "| %-5s | %3d | %.0f | %8.0f | %d of %d | %5.1f %% | %5.1f %% | %5.1f %% |\n", \
      mode, n, offered, rate, k, n, 100 * b / hz / d, 100 * p / hz / d, 100 * s / hz / d
  }'
}

echo "# $(date -u +%FT%TZ), $(nproc) cores, mosquitto $("$MQ" -h 2>&1 | head -1 | awk '{print $3}'), $S s windows"
echo "| mode | pipelines | offered msg/s | received msg/s | topics seen | broker CPU | publishers CPU | subscriber CPU |"
echo "|---|---|---|---|---|---|---|---|"
for n in $NS; do
  if [ "$MODE" = live ] || [ "$MODE" = both ]; then run live "$n"; fi
  if [ "$MODE" = paced ] || [ "$MODE" = both ]; then run paced "$n"; fi
done
