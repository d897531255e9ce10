#!/bin/sh
# Command-line tests of ONNX import (TAP): seqdream import, and predict,
# eval, dream, explain, calibrate and info on .onnx files and on imported
# models. Usage: test-onnx.sh SEQDREAM DATA_DIR
set -u
SD=$1
DATA=$2
O=$DATA/onnx
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. "$(dirname "$0")/tap.sh"

echo "1..15"

"$SD" import --help >"$TMP/out" 2>&1 && grep -q -- "--normalize" "$TMP/out"
ok $? "seqdream import --help"

# trained-3class.onnx: PyTorch trained it on ucr-3class.txt, z-normalising
# every series (tests/onnx/make_onnx.py); trained-3class.json has its
# predictions.
"$SD" import "$O/trained-3class.onnx" --labels inner,normal,outer \
  --normalize series --rate 1000 --out "$TMP/t.safetensors" >"$TMP/out" 2>&1
ok $? "import with labels, normalisation and rate"
"$SD" info --model "$TMP/t.safetensors" >"$TMP/info" 2>&1 \
  && grep -q "op graph (imported from ONNX)" "$TMP/info" \
  && grep -q "maxpool .* k2 s2" "$TMP/info" \
  && grep -q "conv .* k3 s1 d2 pad 2/2" "$TMP/info" \
  && grep -q "labels        inner, normal, outer" "$TMP/info" \
  && grep -q "sample rate   1000 Hz" "$TMP/info" \
  && grep -q "normalisation per-series" "$TMP/info"
ok $? "info lists the graph, labels, rate and normalisation"

"$SD" predict --model "$TMP/t.safetensors" --data "$DATA/ucr-3class.txt" --json >"$TMP/pred" 2>&1
ok $? "predict with the imported model"
python3 - "$TMP/pred" "$O/trained-3class.json" <<'PY'
import json, sys
got = [json.loads(l)["class"] for l in open(sys.argv[1])]
ref = json.load(open(sys.argv[2]))["predicted"]
assert got == ref, (got, ref)
PY
ok $? "the imported model predicts every series as PyTorch did"

"$SD" eval --model "$TMP/t.safetensors" --data "$DATA/ucr-3class.txt" --json >"$TMP/eval" 2>&1
python3 - "$TMP/eval" "$O/trained-3class.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n"] == 30 and abs(r["accuracy"] - json.load(open(sys.argv[2]))["accuracy"]) < 1e-9, r
PY
ok $? "eval: PyTorch's accuracy"

# Control: without the normalisation it was trained with, the model does
# worse, so the checks above see the normalisation.
"$SD" import "$O/trained-3class.onnx" --labels inner,normal,outer \
  --normalize fixed:0,10 --out "$TMP/raw.safetensors" >"$TMP/out" 2>&1
"$SD" eval --model "$TMP/raw.safetensors" --data "$DATA/ucr-3class.txt" --json >"$TMP/eval" 2>&1
python3 -c "import json,sys; a = json.load(open(sys.argv[1]))['accuracy']; assert a < 0.9, a" "$TMP/eval"
ok $? "control: the wrong normalisation loses accuracy"

# The .onnx file directly: no normalisation, labels 0, 1, 2; the same
# logits as the imported model without normalisation.
"$SD" import "$O/sequential.onnx" --out "$TMP/s.safetensors" >"$TMP/out" 2>&1
"$SD" predict --model "$O/sequential.onnx" --data "$DATA/ucr-3class.txt" --json >"$TMP/p1" 2>&1 \
  && "$SD" predict --model "$TMP/s.safetensors" --data "$DATA/ucr-3class.txt" --json >"$TMP/p2" 2>&1 \
  && cmp -s "$TMP/p1" "$TMP/p2" && grep -q '"class":"0"' "$TMP/p1"
ok $? "predict on the .onnx file equals the imported model"

for c in inner normal outer; do
  "$SD" dream --model "$TMP/t.safetensors" --class $c --steps 200 --length 48 \
    --seed 1 --json "$TMP/d.json" -q >"$TMP/out" 2>&1
  python3 - "$TMP/d.json" $c <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d = d["dreams"][0] if "dreams" in d else d
assert d["class"] == sys.argv[2] and d["probability"] > 0.95, d["probability"]
assert len(d["sequence"]) == 48
PY
  ok $? "dream of '$c' on the imported model reaches p > 0.95"
done

"$SD" explain --model "$O/trained-3class.onnx" --data "$DATA/ucr-3class.txt" \
  --json "$TMP/e.json" >"$TMP/out" 2>&1
python3 - "$TMP/e.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 30
for r in rows:
    assert len(r["attribution"]) == 48
    # integrated gradients: the attributions add up to the logit change
    gap = r["logit"] - r["baseline_logit"]
    assert abs(sum(r["attribution"]) - gap) <= 0.02 * abs(gap) + 1e-3, (r["sum"], gap)
PY
ok $? "explain on the .onnx file: integrated gradients add up to the logit change"

# (the graph's stages are its two ReLU outputs, 8 channels each: the
# novelty reads their time means; the held-out novelty of its own classes
# stays within a few units)
"$SD" calibrate --model "$TMP/t.safetensors" --data "$DATA/ucr-3class.txt" \
  --out "$TMP/tc.safetensors" >"$TMP/out" 2>&1 \
  && ! grep -q CRITICAL "$TMP/out" \
  && "$SD" info --model "$TMP/tc.safetensors" >"$TMP/info" \
  && grep -q "features    8 pooled" "$TMP/info" \
  && grep -q "novelty on  2 stages (16 channels)" "$TMP/info" \
  && grep -q "/5/Relu .*\[stages.1\]" "$TMP/info" \
  && awk '/held-out median/ { m = $NF; gsub(/,/, "", m); med = $(NF - 3); gsub(/,/, "", med)
      exit !(med + 0 > 0 && med + 0 < 10 && m + 0 >= med + 0) }' "$TMP/info"
ok $? "calibrate adds training statistics to an imported model"

expect_fail "an unsupported op names the node and the op" "node '/Abs' (Abs): op 'Abs' is not supported" \
  "$SD" import "$O/unsupported.onnx" --out "$TMP/u.safetensors"
expect_fail "labels must match the classes" "2 labels given for 3 classes" \
  "$SD" import "$O/sequential.onnx" --labels a,b --out "$TMP/u.safetensors"
exit $fail
