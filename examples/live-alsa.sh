#!/bin/sh
# Live monitoring from an ALSA capture device: the overlay video on screen
# and the scores on the terminal. Needs a sound card and a display; not run
# by the tests. Stop with Ctrl-C.
# usage: live-alsa.sh [DEVICE] [RATE]
#   DEVICE: ALSA device (default "default"; see `arecord -L`)
#   RATE: capture rate handed to seqdream (default 48000; use the rate the
#         model was trained at, audioresample converts)
# Dreams (one every 5 s) arrive late by design (the dream thread); the video
# shows the latest dream of the predicted class.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu
DEVICE=${1:-default}
RATE=${2:-48000}
exec gst-launch-1.0 -m alsasrc device="$DEVICE" ! queue ! audioconvert ! \
    audioresample ! "audio/x-raw,format=F32LE,channels=1,rate=$RATE" ! \
    seqdream name=s dream-trigger=interval dream-interval=5000000000 ! \
    seqdreamviz name=v ! queue ! videoconvert ! autovideosink sync=false \
  s.dream_src ! queue ! v.dream_sink
