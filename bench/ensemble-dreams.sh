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

# The ensemble of the three, with training statistics of its own (the
# realistic preset needs them; calibrate as models/README.md does).
E=$OUT/ensemble.safetensors
if [ ! -f "$E" ]; then
  "$SD" ensemble --out "$E.tmp" --model "$OUT/member0.safetensors" \
    --model "$OUT/member1.safetensors" --model "$OUT/member2.safetensors"
  nice -n 10 "$SD" calibrate --model "$E.tmp" --data "$F/FordA_TEST_partial.tsv" \
    --threads 1 --out "$E" > "$OUT/calibrate.txt"
  rm -f "$E.tmp"
fi

echo "held-out accuracy on FordA_TRAIN_partial (577 series):"
for m in member0 member1 member2 ensemble; do
  acc=$("$SD" eval --model "$OUT/$m.safetensors" --data "$F/FordA_TRAIN_partial.tsv" \
    | awk '/^accuracy/ { print $2 }')
  echo "  $m $acc"
done

# N dreams per class of every model, both presets; the judge rates each.
# "geometric" is the ensemble dreamed with --ensemble-rule geometric.
for preset in realistic none; do
  for m in member0 member1 member2 ensemble geometric; do
    for c in -1 1; do
      j=$OUT/dream-$m-$preset-$c.json
      [ -f "$j" ] && continue
      file=$m rule=
      [ $m = geometric ] && file=ensemble rule="--ensemble-rule geometric"
      nice -n 10 "$SD" dream --model "$OUT/$file.safetensors" --class "$c" \
        --batch "$N" --seed 100 --preset "$preset" --threads 1 $rule \
        --reference "$F/FordA_TEST_partial.tsv" --second-model "$JUDGE" \
        --json "$j" > /dev/null
    done
  done
done

/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
print("judge agreement (dreams the judge assigns to the dreamed class), "
      "mean judge probability of that class, mean dreaming-model probability:")
for preset in ("realistic", "none"):
    for m in ("member0", "member1", "member2", "ensemble", "geometric"):
        ds = []
        for c in ("-1", "1"):
            ds += json.load(open(f"{out}/dream-{m}-{preset}-{c}.json"))["dreams"]
        agree = sum(d["metrics"]["second_model_agrees"] for d in ds)
        pj = sum(d["metrics"]["second_model_probability"] for d in ds) / len(ds)
        pm = sum(d["probability"] for d in ds) / len(ds)
        per = {c: sum(d["metrics"]["second_model_agrees"] for d in ds if d["class"] == c)
               for c in ("-1", "1")}
        print(f"  {preset:9s} {m:9s} {agree:2d}/{len(ds)} "
              f"(class -1 {per['-1']}, class 1 {per['1']}), "
              f"judge p {pj:.3f}, own p {pm:.3f}")
PY

# A graded view: the judge's logit margin for the dreamed class (its
# logit minus the other's; the probabilities above saturate at 0 and 1),
# from seqdream predict on the dreams written as a UCR file.
echo "judge's mean logit margin for the dreamed class (class -1 / class 1):"
for preset in realistic none; do
  for m in member0 member1 member2 ensemble geometric; do
    tsv=$OUT/dreams-$m-$preset.tsv
    /usr/bin/python3 - "$OUT" "$m" "$preset" > "$tsv" <<'PY'
import json, sys
out, m, preset = sys.argv[1:]
for c in ("-1", "1"):
    for d in json.load(open(f"{out}/dream-{m}-{preset}-{c}.json"))["dreams"]:
        print("\t".join([c] + ["%.9g" % v for v in d["sequence"]]))
PY
    "$SD" predict --model "$JUDGE" --data "$tsv" --json > "$tsv.judge.jsonl"
    /usr/bin/python3 - "$tsv" "$tsv.judge.jsonl" "$m" "$preset" <<'PY'
import json, sys
tsv, pred, m, preset = sys.argv[1:]
labels = [l.split("\t", 1)[0] for l in open(tsv)]
rows = [json.loads(l) for l in open(pred)]
margin = {"-1": [], "1": []}
for c, r in zip(labels, rows):
    k = 0 if c == "-1" else 1  # the judge's labels are -1, 1
    margin[c].append(r["logits"][k] - r["logits"][1 - k])
mean = lambda v: sum(v) / len(v)
print(f"  {preset:9s} {m:9s} {mean(margin['-1']):8.2f} / {mean(margin['1']):8.2f}")
PY
  done
done
