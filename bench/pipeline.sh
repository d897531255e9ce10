#!/bin/sh
# The seqdream element in a pipeline: real-time factor and peak memory of
#   filesrc ! wavparse ! seqdream ! fakesink
# next to the same pipeline with identity in its place, with and without a
# dream every second of stream time, with score_src (the JSON lines)
# linked to a second fakesink, and with integrated gradients every second
# (attribution=ig). One OpenBLAS thread.
#   bench/pipeline.sh [REC.wav] [--builddir DIR] [--model FILE] [--repeat N]
#                     [--channels N] [--threads T]
# The recording's samples are repeated N times (default 12: one minute of
# a 5 s CWRU recording) into a temporary WAV, so that the start-up of
# gst-launch and the loading of the model do not dominate the timing.
# --channels N: an N-channel WAV instead (channel c is the recording
# rotated by c/N of its length, so every channel differs; --repeat
# defaults to 2 then), scored by one seqdream, or for N > 64 by
# ceil(N/64) seqdreams of N/ceil(N/64) channels each behind a tee, each in
# its own streaming thread; the speed is that of all N channels together.
# --threads T sets the element's threads property (default: its own).
set -eu
cd "$(dirname "$0")/.."
B=build
REC=${SEQDREAM_DATA:-../shared/data}/cwru/wav/097_normal_0hp_DE_48k.wav
MODEL=
REPEAT=
CHANNELS=0
THREADS=
while [ $# -gt 0 ]; do
  case $1 in
    --builddir) B=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    *) REC=$1; shift ;;
  esac
done
case $CHANNELS in
  ''|*[!0-9]*) echo "--channels wants a count of channels, not '$CHANNELS'" >&2; exit 2 ;;
esac
# elements and channels per element (--channels)
N_EL=1; PER_EL=1
if [ "$CHANNELS" -gt 0 ]; then
  N_EL=$(( (CHANNELS + 63) / 64 ))
  PER_EL=$(( (CHANNELS + N_EL - 1) / N_EL ))
  [ -n "$REPEAT" ] || REPEAT=2
fi
[ -n "$REPEAT" ] || REPEAT=12
export GST_PLUGIN_PATH="$PWD/$B/gst-plugin" OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$REC" ]; then
  REC=$tmp/pink.wav
  gst-launch-1.0 -q audiotestsrc wave=pink-noise num-buffers=150 samplesperbuffer=1600 \
    ! audio/x-raw,format=F32LE,rate=48000,channels=1 ! wavenc ! filesink location="$REC"
fi
# The data chunk repeated REPEAT times under the same fmt chunk; prints
# the duration of the result (data bytes / (rate * block align)).
dur=$(python3 - "$REC" "$tmp/long.wav" "$REPEAT" "$PER_EL" "$CHANNELS" <<'PY'
import array, struct, sys
d = open(sys.argv[1], "rb").read()
pos, fmt, data = 12, None, None
while pos + 8 <= len(d):
    cid, size = d[pos:pos + 4], struct.unpack("<I", d[pos + 4:pos + 8])[0]
    if cid == b"fmt ":
        fmt = d[pos + 8:pos + 8 + size]
    if cid == b"data":
        data = d[pos + 8:pos + 8 + size]
        break
    pos += 8 + size + (size & 1)
if fmt is None or data is None:
    sys.exit("%s: not a WAV file with fmt and data chunks" % sys.argv[1])
data = data * int(sys.argv[3])
channels = int(sys.argv[4])
if int(sys.argv[5]) > 0:
    # N channels of 32-bit float, channel c rotated by c/N of the length
    tag, ch_in, bits = struct.unpack("<H", fmt[0:2])[0], struct.unpack("<H", fmt[2:4])[0], struct.unpack("<H", fmt[14:16])[0]
    if tag != 3 or ch_in != 1 or bits != 32:
        sys.exit("%s: --channels needs a mono 32-bit float WAV" % sys.argv[1])
    x = array.array("f", data)
    n = len(x)
    out = array.array("f", bytes(4 * n * channels))
    for c in range(channels):
        k = c * n // channels
        out[c::channels] = x[k:] + x[:k]
    data = out.tobytes()
    rate = struct.unpack("<I", fmt[4:8])[0]
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * 4 * channels, 4 * channels, 32)
body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + (b"\0" if len(fmt) & 1 else b"")
body += b"data" + struct.pack("<I", len(data)) + data
open(sys.argv[2], "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)
rate, align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
print(len(data) / (rate * align))
PY
)
LONG=$tmp/long.wav
echo "recording: $REC x $REPEAT ($dur s)${MODEL:+, model $MODEL}"
mf=
[ -n "$MODEL" ] && mf="model-file=$MODEL"
[ -n "$THREADS" ] && mf="$mf threads=$THREADS"
if [ "$CHANNELS" -gt 0 ]; then
  # N channels: every seqdream's channels, wall time, and the speed of
  # the whole (stream seconds / wall seconds; >= 1: real time)
  branches=
  i=0
  while [ $i -lt "$N_EL" ]; do
    branches="$branches t. ! queue max-size-time=0 max-size-bytes=0 max-size-buffers=4 ! seqdream $mf ! fakesink"
    i=$((i + 1))
  done
  # best of three by wall time, and the CPU time (user + sys) of the
  # least: on a shared machine the wall time counts the other processes,
  # the CPU time what the pipeline itself needed (channels per core at
  # 1x = channels * stream s / CPU s)
  best=999999; cpu=999999
  for i in 1 2 3; do
    # shellcheck disable=SC2086
    out=$( { /usr/bin/time -f "%e %U %S" gst-launch-1.0 -q filesrc location="$LONG" ! wavparse ! tee name=t $branches >/dev/null; } 2>&1 | tail -1)
    t=${out%% *}
    c=$(echo "$out" | awk '{print $2 + $3}')
    best=$(awk -v a="$t" -v b="$best" 'BEGIN{print (a<b)?a:b}')
    cpu=$(awk -v a="$c" -v b="$cpu" 'BEGIN{print (a<b)?a:b}')
  done
  n=$((N_EL * PER_EL))
  printf '| %d channels (%d x seqdream of %d) | %6.2f s | %7.2fx real time | %d channels at 1x | CPU %.2f s: %d channels per core at 1x | load %s |\n' \
    "$n" "$N_EL" "$PER_EL" "$best" \
    "$(awk -v d="$dur" -v t="$best" 'BEGIN{print d/(t>0?t:1e-9)}')" \
    "$(awk -v d="$dur" -v t="$best" -v n="$n" 'BEGIN{printf "%d", n*d/(t>0?t:1e-9)}')" \
    "$cpu" "$(awk -v d="$dur" -v c="$cpu" -v n="$n" 'BEGIN{printf "%d", n*d/(c>0?c:1e-9)}')" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
run () {
  name=$1; shift
  best=999999; rss=0
  for i in 1 2 3; do
    out=$( { /usr/bin/time -f "%e %M" gst-launch-1.0 -q filesrc location="$LONG" ! wavparse ! "$@" ! fakesink >/dev/null; } 2>&1 | tail -1)
    t=${out% *}; m=${out#* }
    best=$(awk -v a="$t" -v b="$best" 'BEGIN{print (a<b)?a:b}')
    rss=$m
  done
  printf '| %-34s | %6.2f s | %7.1fx real time | %6.1f MB |\n' "$name" "$best" \
    "$(awk -v d="$dur" -v t="$best" 'BEGIN{print d/(t>0?t:1e-9)}')" "$(awk -v m="$rss" 'BEGIN{print m/1024}')"
}
echo "| pipeline | wall (best of 3) | speed | peak RSS |"
echo "|---|---|---|---|"
run "identity" identity
# shellcheck disable=SC2086
run "seqdream (score_src unlinked)" seqdream $mf
# shellcheck disable=SC2086
run "seqdream, score_src to fakesink" seqdream $mf name=s ! queue ! fakesink \
  s.score_src ! queue
# shellcheck disable=SC2086
run "seqdream, a dream every second" seqdream $mf dream-trigger=interval dream-interval=1000000000
# Integrated gradients of one window per second of stream time, every one
# of them computed (a queue of 64 drops none: the message count below says
# so), and with attribution-steps=8 (trapezoid refinement still brings
# each window's completeness within 1 %).
# shellcheck disable=SC2086
run "seqdream, attribution=ig every second" seqdream $mf attribution=ig dream-queue-size=64
# shellcheck disable=SC2086
run "seqdream, ig every second, steps=8" seqdream $mf attribution=ig attribution-steps=8 dream-queue-size=64
n_attr=$(gst-launch-1.0 -m filesrc location="$LONG" ! wavparse ! seqdream $mf attribution=ig \
  dream-queue-size=64 post-messages=false ! fakesink 2>/dev/null | grep -c seqdream-attribution || true)
echo "attribution=ig: $n_attr seqdream-attribution messages for $dur s of stream"

# Time inside the element per live buffer (probes on its pads) and the
# latency from a dream's trigger to its message, dreams every second.
if [ -x "$B/bench/seqdream-pipeline-bench" ]; then
  "$B/bench/seqdream-pipeline-bench" "$LONG" --dream-interval-ms 1000 ${MODEL:+--model "$MODEL"}
fi
