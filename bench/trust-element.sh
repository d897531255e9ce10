#!/bin/sh
# The element on a user's stream (docs/trust.md): the CWRU 0.007 in.
# recordings written as a DAQ would (16-bit WAV, +-10 g full scale,
# bench/wav-int16.py) through
#   filesrc ! wavparse ! audioconvert ! seqdream [gain=G] ! fakesink
# with the element's embedded default model (the build's copy,
# DIR/gst-plugin/default-model.safetensors, which carries its training
# statistics), at gains 1 and 10, and the float
# recordings as the control. Prints a markdown table: per
# run the windows, the shares right / not known / right or not known /
# wrong and known, the median novelty, the level warnings and the first
# states (bench/trust-stream.py).
#   bench/trust-element.sh [--builddir DIR] [--model FILE]
# --model: another model with statistics (model-file). When the default
# model has none (an older file), a copy calibrated on its own training
# recordings (the recipe of models/README.md) is used instead.
set -eu
cd "$(dirname "$0")/.."
B=build
MODEL=
while [ $# -gt 0 ]; do
  case $1 in
    --builddir) B=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    *) echo "usage: bench/trust-element.sh [--builddir DIR] [--model FILE]" >&2; exit 2 ;;
  esac
done
W=${SEQDREAM_DATA:-../shared/data}/cwru/wav
if [ ! -d "$W" ]; then
  echo "trust-element: no CWRU recordings in $W (set SEQDREAM_DATA)" >&2
  exit 1
fi
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
DEFAULT=$B/gst-plugin/default-model.safetensors
if [ -z "$MODEL" ] && ! "$B/tools/seqdream" info --model "$DEFAULT" | grep -q '^  novelty '; then
  MODEL=$tmp/cwru-fcn-pool-calibrated.safetensors
  "$B/tools/seqdream" calibrate --model "$DEFAULT" \
    --wav "$W/097_normal_0hp_DE_48k.wav=normal" \
    --wav "$W/109_IR007_0hp_DE_48k.wav=inner_race" --wav "$W/174_IR014_0hp_DE_48k.wav=inner_race" \
    --wav "$W/122_B007_0hp_DE_48k.wav=ball" --wav "$W/189_B014_0hp_DE_48k.wav=ball" \
    --wav "$W/135_OR007_0hp_DE_48k.wav=outer_race" --wav "$W/201_OR014_0hp_DE_48k.wav=outer_race" \
    --out "$MODEL" >/dev/null
fi
"$B/tools/seqdream" info --model "${MODEL:-$DEFAULT}" | grep -E '^  (novelty|level) ' | sed 's/^ */model: /'
echo
echo "| recording | input | gain | windows | right | not known | right or not known | wrong and known | novelty (median) | level warning | first states |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for rec in 109_IR007_0hp_DE_48k:inner_race 097_normal_0hp_DE_48k:normal \
    122_B007_0hp_DE_48k:ball 135_OR007_0hp_DE_48k:outer_race; do
  name=${rec%%:*}; label=${rec#*:}
  bench/wav-int16.py "$W/$name.wav" "$tmp/$name-int16.wav" 2>/dev/null
  for run in "$W/$name.wav float 1" "$tmp/$name-int16.wav 16-bit 1" \
      "$tmp/$name-int16.wav 16-bit 10"; do
    set -- $run
    /usr/bin/python3 bench/trust-stream.py "$1" "$label" --builddir "$B" \
      ${MODEL:+"model-file=$MODEL"} "gain=$3" | /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
warn = [w for w in d["warnings"] if "level" in w]
print("| %s | %s | %s | %d | %.3f | %.3f | %.3f | %.3f | %s | %s | %s |" % (
    d["recording"].split("_")[0] + " " + sys.argv[3], sys.argv[1], sys.argv[2],
    d["windows"], d["right"], d["unknown"], d["right_or_unknown"], d["wrong_known"],
    d["novelty_median"], "yes" if warn else "no", ", ".join(d["states"][:3])))
' "$2" "$3" "$label"
  done
done
