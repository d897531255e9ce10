#!/bin/sh
# Three sensors as the channels 0-2 of one stream: interleaves three mono
# recordings into one 3-channel WAV, streams it through one seqdream
# (embedded default model) and prints, per channel, the class of most of
# its windows and how many windows had it.
# usage: multichannel.sh [REC0.wav REC1.wav REC2.wav]
#   Without arguments: the CWRU recordings 097 (healthy), 109 (inner race
#   0.007") and 135 (outer race 0.007") next to the checkout, expected
#   normal, inner_race and outer_race (exit status 1 when a channel has
#   its class on fewer than 95 % of its windows); without them, 5 s of
#   vibrationsrc (fault none, inner-race, outer-race) each.
# Uninstalled plugin: GST_PLUGIN_PATH=build/gst-plugin examples/...
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
ex_dir=$(cd "$(dirname "$0")" && pwd)
. "$ex_dir/common.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cwru=$ex_dir/../../shared/data/cwru/wav
expect="normal inner_race outer_race"
if [ $# -eq 3 ]; then
  set -- "$1" "$2" "$3"
  expect=
elif [ -f "$cwru/097_normal_0hp_DE_48k.wav" ]; then
  set -- "$cwru/097_normal_0hp_DE_48k.wav" "$cwru/109_IR007_0hp_DE_48k.wav" \
    "$cwru/135_OR007_0hp_DE_48k.wav"
else
  c=0
  for fault in none inner-race outer-race; do
    gst-launch-1.0 -q vibrationsrc fault=$fault seed=$c num-buffers=240 ! \
      wavenc ! filesink location="$tmp/$c.wav"
    c=$((c + 1))
  done
  set -- "$tmp/0.wav" "$tmp/1.wav" "$tmp/2.wav"
fi
echo "# channel 0: $1"
echo "# channel 1: $2"
echo "# channel 2: $3"
# One 3-channel F32 WAV (as long as the shortest recording).
gst-launch-1.0 -q interleave name=i ! audio/x-raw,format=F32LE ! wavenc ! \
    filesink location="$tmp/three.wav" \
  filesrc location="$1" ! wavparse ! audioconvert ! audio/x-raw,format=F32LE ! i.sink_0 \
  filesrc location="$2" ! wavparse ! audioconvert ! audio/x-raw,format=F32LE ! i.sink_1 \
  filesrc location="$3" ! wavparse ! audioconvert ! audio/x-raw,format=F32LE ! i.sink_2
# One "seqdream" message per window and channel: channel and class.
gst-launch-1.0 -m filesrc location="$tmp/three.wav" ! wavparse ! seqdream ! \
    fakesink |
  sed -n 's/.* seqdream, .* class=(string)\([^,]*\),.* channel=(uint)\([0-9]*\).*/\2 \1/p' \
    >"$tmp/classes.txt"
echo "# channel class windows_with_it windows share_%"
awk -v expect="$expect" '
  { n[$1]++; k[$1 " " $2]++ }
  END {
    split(expect, want, " ")
    bad = 0
    for (c = 0; c < 3; c++) {
      best = ""; bn = 0
      for (key in k) {
        split(key, f, " ")
        if (f[1] == c && k[key] > bn) { best = f[2]; bn = k[key] }
      }
      share = n[c] > 0 ? 100 * bn / n[c] : 0
      printf "%d %s %d %d %.1f", c, best, bn, n[c], share
      if (expect != "") {
        ok = best == want[c + 1] && share >= 95
        printf " %s", ok ? "ok" : "WRONG (expected " want[c + 1] ")"
        if (!ok) bad = 1
      }
      printf "\n"
    }
    exit bad
  }' "$tmp/classes.txt"
