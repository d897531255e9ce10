#!/bin/sh
# ONNX Runtime runs what `seqdream export --onnx` writes (TAP): every preset
# (trained for one epoch here), the golden and shipped models (per-series,
# fixed and no normalisation) and the imported test graphs are exported,
# and tests/onnxruntime/check.js compares ONNX Runtime's logits on raw
# series (a flat one among them) with `seqdream predict --json` on the same
# file, to 1e-4 relative; dynamic models at a second length too. Skipped
# (TAP SKIP) without node or the npm package onnxruntime-node: install with
# scripts/install-deps.sh --onnxruntime, then
#   cd tests/onnxruntime && ONNXRUNTIME_NODE_INSTALL=skip npm install
# (or point SEQDREAM_ORT_MODULES at a node_modules that holds it).
# Usage: test-onnxruntime.sh SEQDREAM SOURCE_ROOT
set -u
SD=$1
ROOT=$2
MODULES=${SEQDREAM_ORT_MODULES:-$ROOT/tests/onnxruntime/node_modules}
if ! command -v node >/dev/null 2>&1; then
  echo "1..0 # SKIP node is not installed (scripts/install-deps.sh --onnxruntime)"
  exit 0
fi
if ! NODE_PATH=$MODULES node -e "require('onnxruntime-node')" 2>/dev/null; then
  echo "1..0 # SKIP onnxruntime-node is not in $MODULES (see docs/model-import.md, Export)"
  exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/tap.sh"

# series LENGTH: five raw series (UCR TSV, label 0) that every
# normalisation changes: offset sines, a noisy one, a flat one, a spike
series () {
  awk -v T="$1" 'BEGIN {
    s = 12345
    for (r = 0; r < 5; r++) {
      line = "0"
      for (t = 0; t < T; t++) {
        if (r == 0) v = 3 + 2 * sin(0.11 * t) + 0.01 * t
        else if (r == 1) v = -1 + 0.5 * sin(0.37 * t) + cos(0.05 * t)
        else if (r == 2) { s = (s * 1103515245 + 12345) % 2147483648; v = 0.7 + 1.5 * (s / 2147483648 - 0.5) }
        else if (r == 3) v = 5
        else v = (t == int(T / 2)) ? 10 : 0
        line = line sprintf("\t%.6f", v)
      }
      print line
    }
  }'
}

# check NAME MODEL: export, then ONNX Runtime against predict at the
# training length (64 when unknown, or the shortest input) and, when predict takes it, 13 more
check () {
  name=$1
  model=$2
  if ! "$SD" export --model "$model" --onnx "$TMP/$name.onnx" >"$TMP/out" 2>"$TMP/err"; then
    echo "# $(cat "$TMP/err")"
    ok 1 "$name: export"
    return
  fi
  "$SD" info --model "$model" >"$TMP/info.$name"
  len=$(awk '/^train length/ { print $3 }' "$TMP/info.$name")
  min=$(awk '/shortest input/ { for (i = 1; i < NF; i++) if ($i == "input") print $(i + 1) }' "$TMP/info.$name")
  case $len in ''|0|*[!0-9]*) len=64 ;; esac
  [ "${min:-0}" -gt "$len" ] && len=$min
  for T in "$len" $((len + 13)); do
    series "$T" >"$TMP/x.tsv"
    if ! "$SD" predict --model "$model" --data "$TMP/x.tsv" --json >"$TMP/p.jsonl" 2>"$TMP/err"; then
      [ "$T" = "$len" ] && { echo "# $(cat "$TMP/err")"; ok 1 "$name: predict"; }
      continue # a model that takes one length only
    fi
    NODE_PATH=$MODULES node "$ROOT/tests/onnxruntime/check.js" "$TMP/$name.onnx" \
      "$TMP/x.tsv" "$TMP/p.jsonl" "$name (T $T)"
    ok $? "$name: onnxruntime logits = seqdream predict, T $T"
  done
}

# the training series twice over: 128 samples, as fcn-pool needs
awk -F '\t' '{ line = $0; for (i = 2; i <= NF; i++) line = line "\t" $i; print line }' \
  "$ROOT/tests/data/ucr-small.tsv" >"$TMP/train.tsv"
for arch in resnet-small resnet fcn fcn-small fcn-pool; do
  if "$SD" train --data "$TMP/train.tsv" --arch "$arch" --epochs 1 --threads 1 \
      --seed 1 --out "$TMP/$arch.safetensors" >"$TMP/out" 2>"$TMP/err"; then
    check "preset-$arch" "$TMP/$arch.safetensors"
  else
    echo "# $(cat "$TMP/err")"
    ok 1 "train $arch"
  fi
done
for m in "$ROOT"/tests/data/golden/*.model.safetensors; do
  check "golden-$(basename "$m" .model.safetensors)" "$m"
done
for m in "$ROOT"/models/*.safetensors; do
  check "$(basename "$m" .safetensors)" "$m"
done
for m in "$ROOT"/tests/data/onnx/*.onnx; do
  [ "$(basename "$m")" = unsupported.onnx ] && continue
  check "onnx-$(basename "$m" .onnx)" "$m"
done
# The control: the same weights without the normalisation ops (imported
# with --normalize none, then exported) must disagree with predict of the
# model that normalises, per series and fixed alike.
for m in forda-fcn-small cwru-fcn-pool; do
  "$SD" import "$TMP/$m.onnx" --normalize none --out "$TMP/bare.safetensors" >/dev/null &&
    "$SD" export --model "$TMP/bare.safetensors" --onnx "$TMP/bare.onnx" >/dev/null
  len=$(awk '/^train length/ { print $3 }' "$TMP/info.$m")
  series "$len" >"$TMP/x.tsv"
  "$SD" predict --model "$ROOT/models/$m.safetensors" --data "$TMP/x.tsv" --json >"$TMP/p.jsonl"
  NODE_PATH=$MODULES node "$ROOT/tests/onnxruntime/check.js" "$TMP/bare.onnx" \
    "$TMP/x.tsv" "$TMP/p.jsonl" "control: $m without its normalisation"
  [ $? -eq 1 ]
  ok $? "control: $m without its normalisation ops disagrees"
done
echo "1..$n"
exit $fail
