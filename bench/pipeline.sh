#!/bin/sh
# The seqdream element in a pipeline: real-time factor and peak memory of
#   filesrc ! wavparse ! seqdream ! fakesink
# next to the same pipeline with identity in its place, with and without a
# dream every second of stream time, with score_src (the JSON lines)
# linked to a second fakesink, and with integrated gradients every second
# (attribution=ig). One OpenBLAS thread.
#   bench/pipeline.sh [REC.wav] [--builddir DIR] [--model FILE] [--repeat N]
# The recording's samples are repeated N times (default 12: one minute of
# a 5 s CWRU recording) into a temporary WAV, so that the start-up of
# gst-launch and the loading of the model do not dominate the timing.
set -eu
cd "$(dirname "$0")/.."
B=build
REC=${SEQDREAM_DATA:-../shared/data}/cwru/wav/097_normal_0hp_DE_48k.wav
MODEL=
REPEAT=12
while [ $# -gt 0 ]; do
  case $1 in
    --builddir) B=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) REC=$1; shift ;;
  esac
done
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
dur=$(python3 - "$REC" "$tmp/long.wav" "$REPEAT" <<'PY'
import struct, sys
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
body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + (b"\0" if len(fmt) & 1 else b"")
body += b"data" + struct.pack("<I", len(data)) + data
open(sys.argv[2], "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)
rate, align = struct.unpack("<I", fmt[4:8])[0], struct.unpack("<H", fmt[12:14])[0]
print(len(data) / (rate * align))
PY
)
LONG=$tmp/long.wav
echo "recording: $REC x $REPEAT ($dur s)${MODEL:+, model $MODEL}"
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
mf=
[ -n "$MODEL" ] && mf="model-file=$MODEL"
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
