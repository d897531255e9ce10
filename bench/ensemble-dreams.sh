#!/bin/sh
# Do dreams of an ensemble transfer better to an independent model than
# the dreams of its members? (issue 18, part 3; docs/results.md)
#
# Trains 3 resnet-small members on FordA (2015 orientation, seeds 0..2,
# the models/README.md recipe with a time budget), joins them into one
# ensemble file (seqdream ensemble), then dreams 10 series per class of
# every member and of the ensemble, with the default (realistic) preset
# and with --preset none, and asks the judge (models/forda-fcn-small,
# trained independently: another architecture and seed) to classify
# them. Prints the held-out accuracies and the judge's agreement.
#
#   bench/ensemble-dreams.sh [OUTDIR]   (default /tmp/seqdream-ensemble)
# Env: SEQDREAM (the CLI, default build/tools/seqdream), SEQDREAM_DATA
# (../shared/data), BUDGET (seconds of training per member, 240), ARCH
# (resnet-small), N (dreams per class, 10).
set -eu
SD=${SEQDREAM:-build/tools/seqdream}
DATA=${SEQDREAM_DATA:-../shared/data}
F=$DATA/forda
OUT=${1:-/tmp/seqdream-ensemble}
BUDGET=${BUDGET:-240}
ARCH=${ARCH:-resnet-small}
N=${N:-10}
JUDGE=${JUDGE:-models/forda-fcn-small.safetensors}
mkdir -p "$OUT"

for s in 0 1 2; do
  [ -f "$OUT/member$s.safetensors" ] && continue
  nice -n 10 "$SD" train --data "$F/FordA_TEST_partial.tsv" \
    --test "$F/FordA_TRAIN_partial.tsv" --arch "$ARCH" --seed $s --threads 1 \
    --time-budget "$BUDGET" --val-fraction 0.1 --weight-decay 0.05 \
    --epochs 150 --batch-size 16 --augment-shift --augment-reverse --quiet \
    --out "$OUT/member$s.safetensors" > "$OUT/member$s.train.txt"
done
