#!/bin/sh
# The novelty protocol of docs/trust.md (section "Novelty"): trains the
# protocol model (fcn-pool on normal + the 0.007 in. faults, 40 s on one
# thread) when BUILDDIR does not hold it yet, then runs
# bench/seqdream-novelty. Usage: bench/novelty.sh [BUILDDIR]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
DATA=${SEQDREAM_DATA:-$ROOT/../shared/data}
W=$DATA/cwru/wav
export OPENBLAS_NUM_THREADS=1
ninja -C "$B" tools/seqdream bench/seqdream-novelty >/dev/null
M=$B/cwru007-fcn-pool.safetensors
if [ ! -f "$M" ]; then
  "$B/tools/seqdream" train \
    --wav "$W/097_normal_0hp_DE_48k.wav=normal" --wav "$W/109_IR007_0hp_DE_48k.wav=inner_race" \
    --wav "$W/122_B007_0hp_DE_48k.wav=ball" --wav "$W/135_OR007_0hp_DE_48k.wav=outer_race" \
    --window 2048 --hop 256 --train-fraction 0.7 --normalize fixed \
    --arch fcn-pool --epochs 40 --seed 1 --threads 1 --time-budget 0 -q \
    --protocol "CWRU 48 kHz drive end, 0 HP, normal and the 0.007 in faults: every recording split by time, first 70 % train, test windows start one window after" \
    --out "$M"
fi
"$B/bench/seqdream-novelty" "$DATA" "$M" "$ROOT/models/forda-resnet-small.safetensors"
