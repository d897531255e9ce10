#!/bin/sh
# Records the signal (audio track 1) and the dreams (audio track 2, one
# dream per second, each stamped with the window it explains; silence
# elsewhere) into one Matroska file.
# usage: record-mkv.sh [REC.wav] [OUT.mkv]
# The scores are NOT in this file: gst-launch cannot turn element messages
# into a text/x-raw stream. The C example does it (bus sync handler ->
# appsrc -> matroskamux subtitle_0):
#   build/examples/watch-bus REC.wav dreams.csv 1 OUT.mkv
# writes the signal, the dreams and the scores as subtitles.
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
  matroskamux name=mux ! filesink location="$OUT"
echo "wrote $OUT"
