# Sourced by the example scripts: the default recording and a generator for
# a short test WAV when the CWRU data is not there.
# SPDX-License-Identifier: LGPL-2.1-or-later
ex_dir=${ex_dir:-$(cd "$(dirname "$0")" && pwd)}
DEFAULT_REC="$ex_dir/../../shared/data/cwru/wav/097_normal_0hp_DE_48k.wav"

# make_wav FILE SECONDS: a 8 kHz mono test tone with noise.
make_wav() {
  gst-launch-1.0 -q audiotestsrc wave=sine freq=440 samplesperbuffer=800 \
      num-buffers=$(( ${2:-3} * 10 )) ! \
    audio/x-raw,format=S16LE,rate=8000,channels=1 ! wavenc ! \
    filesink location="$1"
}

# pick_rec [REC]: echoes the recording to use (generated into $TMPDIR when
# neither the argument nor the default exists).
pick_rec() {
  if [ -n "${1:-}" ]; then
    echo "$1"
  elif [ -f "$DEFAULT_REC" ]; then
    echo "$DEFAULT_REC"
  else
    gen="${TMPDIR:-/tmp}/seqdream-example-$$.wav"
    make_wav "$gen" 3
    echo "$gen"
  fi
}
