#!/bin/sh
# The seqdream element in a pipeline: real-time factor and peak memory of
#   filesrc ! wavparse ! seqdream ! fakesink
# next to the same pipeline with identity in its place, with and without a
# dream every second of stream time. One OpenBLAS thread.
#   bench/pipeline.sh [REC.wav] [--builddir DIR]
set -eu
cd "$(dirname "$0")/.."
B=build
REC=${SEQDREAM_DATA:-../shared/data}/cwru/wav/097_normal_0hp_DE_48k.wav
while [ $# -gt 0 ]; do
  case $1 in
    --builddir) B=$2; shift 2 ;;
    *) REC=$1; shift ;;
  esac
done
export GST_PLUGIN_PATH="$PWD/$B/gst-plugin" OPENBLAS_NUM_THREADS=1
if [ ! -f "$REC" ]; then
  REC=$(mktemp --suffix=.wav)
  gst-launch-1.0 -q audiotestsrc wave=pink-noise num-buffers=1500 samplesperbuffer=1600 \
    ! audio/x-raw,format=F32LE,rate=48000,channels=1 ! wavenc ! filesink location="$REC"
fi
# duration from the WAV header: data bytes / (rate * block align)
dur=$(python3 - "$REC" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
pos, rate, align = 12, 0, 0
while pos + 8 <= len(d):
    cid, size = d[pos:pos + 4], struct.unpack("<I", d[pos + 4:pos + 8])[0]
    if cid == b"fmt ":
        rate, align = struct.unpack("<I", d[pos + 12:pos + 16])[0], struct.unpack("<H", d[pos + 20:pos + 22])[0]
    if cid == b"data":
        print(size / (rate * align))
        break
    pos += 8 + size + (size & 1)
PY
)
echo "recording: $REC ($dur s)"
run () {
  name=$1; shift
  best=999999; rss=0
  for i in 1 2 3; do
    out=$( { /usr/bin/time -f "%e %M" gst-launch-1.0 -q filesrc location="$REC" ! wavparse ! "$@" ! fakesink >/dev/null; } 2>&1 | tail -1)
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
run "seqdream (default model)" seqdream
run "seqdream, a dream every second" seqdream dream-trigger=interval dream-interval=1000000000

# Time inside the element per live buffer (probes on its pads) and the
# latency from a dream's trigger to its message, dreams every second.
if [ -x "$B/bench/seqdream-pipeline-bench" ]; then
  "$B/bench/seqdream-pipeline-bench" "$REC" --dream-interval-ms 1000
fi
