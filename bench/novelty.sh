#!/bin/sh
# The novelty protocol of docs/trust.md (section "Novelty"): trains the
# protocol models (fcn-pool on normal + the 0.007 in. faults, and on
# normal + the 0.014 in. faults for the check the other way round; 40-60 s
# each on one thread) when BUILDDIR does not hold them yet, then runs
# bench/seqdream-novelty: the two committed FordA models and any further
# calibrated FordA model files given after BUILDDIR on CWRU vibration, the
# drive-end recordings and their fan-end channel (bench/cwru-fan-end.py).
# Usage: bench/novelty.sh [BUILDDIR [FORDA_MODEL...]]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
[ $# -gt 0 ] && shift
DATA=${SEQDREAM_DATA:-$ROOT/../shared/data}
W=$DATA/cwru/wav
export OPENBLAS_NUM_THREADS=1
ninja -C "$B" tools/seqdream bench/seqdream-novelty >/dev/null
# train_size OUT IR B OR SIZE: fcn-pool on normal + one fault size
train_size() {
  [ -f "$1" ] && return 0
  "$B/tools/seqdream" train \
    --wav "$W/097_normal_0hp_DE_48k.wav=normal" --wav "$W/$2=inner_race" \
    --wav "$W/$3=ball" --wav "$W/$4=outer_race" \
    --window 2048 --hop 256 --train-fraction 0.7 --normalize fixed \
    --arch fcn-pool --epochs 40 --seed 1 --threads 1 --time-budget 0 -q \
    --protocol "CWRU 48 kHz drive end, 0 HP, normal and the $5 in faults: every recording split by time, first 70 % train, test windows start one window after" \
    --out "$1"
}
M=$B/cwru007-fcn-pool.safetensors
M14=$B/cwru014-fcn-pool.safetensors
train_size "$M" 109_IR007_0hp_DE_48k.wav 122_B007_0hp_DE_48k.wav 135_OR007_0hp_DE_48k.wav 0.007
train_size "$M14" 174_IR014_0hp_DE_48k.wav 189_B014_0hp_DE_48k.wav 201_OR014_0hp_DE_48k.wav 0.014
# the fan-end channel of the same recordings, vibration nothing here was
# chosen on: a second unfamiliar input for the FordA models
FE=$B/cwru-fan-end
[ -f "$FE/201_OR014_0hp_FE_48k.wav" ] ||
  /usr/bin/python3 "$ROOT/bench/cwru-fan-end.py" "$DATA" "$FE" >/dev/null
export SEQDREAM_FAN_END=$FE
"$B/bench/seqdream-novelty" "$DATA" "$M" "$M14" \
  "$ROOT/models/forda-resnet-small.safetensors" "$ROOT/models/forda-fcn-small.safetensors" "$@"
