#!/bin/sh
# Command-line tests of ONNX export (TAP): seqdream export of shipped models
# (per-series and fixed normalisation) and of an imported graph; the
# exported file imports back with the same labels, rate, training length,
# normalisation and input range, predicts the same classes, and dreams as
# the original does; bad arguments are clear errors. The numerical round
# trip of every model is tests/test_onnx_export.c; ONNX Runtime's view is
# tests/test-onnxruntime.sh. Usage: test-onnx-export.sh SEQDREAM SOURCE_ROOT
set -u
SD=$1
ROOT=$2
DATA=$ROOT/tests/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. "$ROOT/tests/tap.sh"

echo "1..10"

"$SD" export --help >"$TMP/out" 2>&1 && grep -q -- "--onnx" "$TMP/out"
ok $? "seqdream export --help"

# what info says about a model's metadata
meta () {
  "$SD" info --model "$1" | grep -E '^(labels|train length|sample rate|normalisation|input range|provenance) '
}

for m in forda-fcn-small cwru-fcn-pool; do
  "$SD" export --model "$ROOT/models/$m.safetensors" --onnx "$TMP/$m.onnx" >"$TMP/out" 2>&1 \
    && "$SD" import "$TMP/$m.onnx" --out "$TMP/$m.re.safetensors" >"$TMP/out" 2>&1 \
    && meta "$ROOT/models/$m.safetensors" >"$TMP/a" && meta "$TMP/$m.re.safetensors" >"$TMP/b" \
    && [ "$(wc -l <"$TMP/a")" -eq 6 ] && cmp -s "$TMP/a" "$TMP/b"
  ok $? "$m: export and import keep labels, rate, length, normalisation, range, provenance"
done

# predict on the .onnx file directly: the same classes as the original
"$SD" predict --model "$ROOT/models/forda-fcn-small.safetensors" --data "$DATA/ucr-small.tsv" \
  --json 2>/dev/null | grep -o '"class":"[^"]*"' >"$TMP/a"
"$SD" predict --model "$TMP/forda-fcn-small.onnx" --data "$DATA/ucr-small.tsv" \
  --json 2>/dev/null | grep -o '"class":"[^"]*"' >"$TMP/b"
[ "$(wc -l <"$TMP/a")" -eq 40 ] && cmp -s "$TMP/a" "$TMP/b"
ok $? "predict on the exported .onnx gives the original's classes (40 series)"

# a dream on the re-imported model reaches what it reaches on the original
# (without a prior: training statistics are not part of the ONNX file)
for f in "$ROOT/models/forda-fcn-small.safetensors" "$TMP/forda-fcn-small.re.safetensors"; do
  "$SD" dream --model "$f" --class 1 --steps 10 --length 500 --seed 1 --preset none -q \
    --json "$TMP/d.json" >/dev/null 2>&1
  grep -o '"logit_margin":[0-9.e-]*' "$TMP/d.json" | head -1 | cut -d: -f2
done >"$TMP/p"
awk 'NR == 1 { a = $1 } NR == 2 { b = $1 } END { d = a - b; if (d < 0) d = -d
  m = a < 0 ? -a : a; exit !(NR == 2 && m > 0 && d <= 1e-4 * m) }' "$TMP/p"
ok $? "dream (10 steps) on the re-imported model: logit margin $(tr '\n' ' ' <"$TMP/p")"

# an imported graph (InceptionTime) goes out and back in with its ops
"$SD" export --model "$DATA/onnx/inceptiontime.onnx" --onnx "$TMP/it.onnx" >/dev/null 2>&1 \
  && "$SD" info --model "$DATA/onnx/inceptiontime.onnx" | grep -c '^  [0-9]' >"$TMP/a" \
  && "$SD" info --model "$TMP/it.onnx" | grep -c '^  [0-9]' >"$TMP/b" && cmp -s "$TMP/a" "$TMP/b"
ok $? "inceptiontime.onnx: exported and read again, $(cat "$TMP/a") ops"

# a model without labels keeps "0", "1", ...; --labels on import still wins
"$SD" import "$TMP/forda-fcn-small.onnx" --labels neg,pos --out "$TMP/l.safetensors" >/dev/null 2>&1 \
  && "$SD" info --model "$TMP/l.safetensors" | grep -q '^labels *neg, pos$'
ok $? "import --labels overrides the exported labels"

expect_fail "an unwritable path is named" "cannot write $TMP/no/such/dir/m.onnx" \
  "$SD" export --model "$ROOT/models/forda-fcn-small.safetensors" --onnx "$TMP/no/such/dir/m.onnx"
expect_fail "a missing model is named" "$TMP/missing.safetensors" \
  "$SD" export --model "$TMP/missing.safetensors" --onnx "$TMP/m.onnx"
expect_fail "--onnx is required" "give --model FILE and --onnx FILE" \
  "$SD" export --model "$ROOT/models/forda-fcn-small.safetensors"
exit $fail
