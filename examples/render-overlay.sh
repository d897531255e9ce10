#!/bin/sh
# Renders the overlay video (window with its integrated gradients, dream of
# the predicted class, probability history, known/unknown) of a recording
# to WebM with seqdreamviz (docs/element-seqdream.md).
# usage: render-overlay.sh [REC.wav] [OUT.webm] [WIDTHxHEIGHT]
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
ex_dir=$(cd "$(dirname "$0")" && pwd)
. "$ex_dir/common.sh"
REC=$(pick_rec "${1:-}")
OUT=${2:-seqdream-overlay.webm}
SIZE=${3:-640x360}
W=${SIZE%x*}
H=${SIZE#*x}
gst-launch-1.0 -q filesrc location="$REC" ! wavparse ! audioconvert ! \
    seqdream name=s dream-trigger=interval dream-interval=1000000000 \
      attribution=ig ! \
    seqdreamviz name=v units=g ! "video/x-raw,width=$W,height=$H,framerate=25/1" ! \
    videoconvert ! vp8enc deadline=1 cpu-used=8 ! webmmux ! \
    filesink location="$OUT" \
  s.dream_src ! queue ! v.dream_sink
echo "wrote $OUT"
