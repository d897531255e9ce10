#!/bin/sh
# Records the signal (audio track 1), the dreams (audio track 2, one dream
# per second, each stamped with the window it explains; silence elsewhere)
# and the scores (subtitle track 1: seqdream's score_src, one JSON line per
# window at the window's time) into one Matroska file.
# usage: record-mkv.sh [REC.wav] [OUT.mkv]
# Read the scores back with
#   gst-launch-1.0 filesrc location=OUT.mkv ! matroskademux name=d \
#     d.subtitle_0 ! queue ! filesink location=scores.txt
# (matroskademux hands the track out as Pango markup: quotes as &quot;).
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
ex_dir=$(cd "$(dirname "$0")" && pwd)
. "$ex_dir/common.sh"
REC=$(pick_rec "${1:-}")
OUT=${2:-seqdream-recording.mkv}
gst-launch-1.0 -q filesrc location="$REC" ! wavparse ! audioconvert ! \
    seqdream name=s dream-trigger=interval dream-interval=1000000000 ! \
    queue ! mux.audio_0 \
  s.dream_src ! queue ! mux.audio_1 \
  s.score_src ! queue ! mux.subtitle_0 \
  matroskamux name=mux ! filesink location="$OUT"
echo "wrote $OUT"
