#!/bin/sh
# The element's default model on a sensor it was not trained on
# (docs/trust.md, "Another sensor position"): every CWRU recording from
# its drive-end accelerometer (cwru/wav, the channel the model learnt
# from; the first 70 % of every recording were its training windows) and
# from the fan-end accelerometer recorded at the same time
# (bench/cwru-fan-end.py), through
#   filesrc ! wavparse ! audioconvert ! seqdream [PROPS] ! fakesink
# Prints a markdown table per recording and sensor: windows, the shares
# named right / not known / named wrongly and known, the level warning
# and the first states (bench/trust-stream.py); then both sensors as one
# two-channel stream (channel 0 drive end, 1 fan end; a two-sensor DAQ),
# scored per channel, each channel with its own states.
#   bench/fan-end.sh [--builddir DIR] [PROP=VALUE ...]
set -eu
cd "$(dirname "$0")/.."
B=build
if [ "${1:-}" = --builddir ]; then
  B=$2
  shift 2
fi
DATA=${SEQDREAM_DATA:-../shared/data}
W=$DATA/cwru/wav
if [ ! -d "$W" ]; then
  echo "fan-end: no CWRU recordings in $W (set SEQDREAM_DATA)" >&2
  exit 1
fi
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 bench/cwru-fan-end.py --stereo "$DATA" "$tmp" >/dev/null
RECORDINGS="097_normal_0hp:normal 109_IR007_0hp:inner_race 122_B007_0hp:ball
  135_OR007_0hp:outer_race 174_IR014_0hp:inner_race 189_B014_0hp:ball
  201_OR014_0hp:outer_race"
echo "| recording | sensor | windows | right | not known | wrong and known | level warning | first states |"
echo "|---|---|---|---|---|---|---|---|"
for rec in $RECORDINGS; do
  name=${rec%%:*}; label=${rec#*:}
  for sensor in DE FE; do
    dir=$W
    [ $sensor = FE ] && dir=$tmp
    /usr/bin/python3 bench/trust-stream.py "$dir/${name}_${sensor}_48k.wav" "$label" \
      --builddir "$B" "$@" | /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
warn = [w for w in d["warnings"] if "level" in w]
print("| %s %s | %s | %d | %.3f | %.3f | %.3f | %s | %s |" % (
    d["recording"].split("_")[0], sys.argv[2],
    "drive end" if sys.argv[1] == "DE" else "**fan end**", d["windows"],
    d["right"], d["unknown"], d["wrong_known"], "yes" if warn else "no",
    ", ".join(d["states"][:3])))
' "$sensor" "$label"
  done
done
echo
echo "| recording, both sensors in one stream | channel 0 (drive end): right / not known, states | channel 1 (fan end): right / not known / wrong and known, states |"
echo "|---|---|---|"
for rec in $RECORDINGS; do
  name=${rec%%:*}; label=${rec#*:}
  /usr/bin/python3 bench/trust-stream.py "$tmp/${name}_DE+FE_48k.wav" "$label" \
    --builddir "$B" "$@" | /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
c0, c1 = d["channels"]["0"], d["channels"]["1"]
print("| %s %s | %.3f / %.3f, %s | %.3f / %.3f / %.3f, %s |" % (
    d["recording"].split("_")[0], sys.argv[1], c0["right"], c0["unknown"],
    ", ".join(c0["states"][:3]), c1["right"], c1["unknown"], c1["wrong_known"],
    ", ".join(c1["states"][:3])))
' "$label"
done
