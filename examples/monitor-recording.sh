#!/bin/sh
# Scores a recording window by window and prints one line per window:
#   time (s), class, confidence.
# usage: monitor-recording.sh [REC.wav]
#   REC defaults to ../shared/data/cwru/wav/097_normal_0hp_DE_48k.wav (next
#   to the checkout), else a 3 s test tone made with audiotestsrc ! wavenc.
# Uninstalled plugin: GST_PLUGIN_PATH=build/gst-plugin examples/...
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
ex_dir=$(cd "$(dirname "$0")" && pwd)
. "$ex_dir/common.sh"
REC=$(pick_rec "${1:-}")
echo "# $REC"
echo "# time_s class confidence"
gst-launch-1.0 -m filesrc location="$REC" ! wavparse ! audioconvert ! \
    seqdream ! fakesink |
  sed -n 's/.* seqdream, timestamp=(guint64)\([0-9]*\),.* class=(string)\([^,]*\),.* confidence=(double)\([-0-9.e]*\),.*/\1 \2 \3/p' |
  awk '{ printf "%.3f %s %.4f\n", $1 / 1e9, $2, $3 }'
