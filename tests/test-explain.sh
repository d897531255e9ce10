#!/bin/sh
# Tests of `seqdream explain` (TAP). Usage: test-explain.sh SEQDREAM DATA_DIR
set -u
SD=$1
DATA=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Under LeakSanitizer: fontconfig (behind cairo's text) keeps caches it
# never frees; those are not ours.
printf 'leak:libfontconfig.so\n' >"$TMP/lsan.supp"
LSAN_OPTIONS="suppressions=$TMP/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

. "$(dirname "$0")/tap.sh"

echo "1..20"

"$SD" explain --help >"$TMP/out" 2>&1 && grep -q -- "--baseline" "$TMP/out"
ok $? "seqdream explain --help"

"$SD" train --data "$DATA/ucr-small.tsv" --arch fcn-small --epochs 8 --seed 1 \
  --lr 0.01 --batch-size 8 --out "$TMP/m.safetensors" >/dev/null 2>&1
ok $? "train a model on the fixture"
M="$TMP/m.safetensors"
T="$DATA/ucr-small-test.tsv"

# check.py FILE ROWS LENGTH [key=value ...]: JSON lines with every field,
# IG complete within 2 %, and the given values in every line.
cat >"$TMP/check.py" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == int(sys.argv[2]), len(rows)
want = dict(a.split("=", 1) for a in sys.argv[4:])
for r in rows:
    a = r["attribution"]
    assert len(a) == int(sys.argv[3]), len(a)
    assert abs(sum(a) - r["sum"]) <= 1e-6 * max(1, abs(r["sum"])), r["sum"]
    for k in ("index", "method", "class", "class_index", "predicted", "logit", "units"):
        assert k in r, k
    if r["method"] == "ig":
        gap = r["logit"] - r["baseline_logit"]
        assert abs(r["sum"] - gap) <= 0.02 * abs(gap), (r["index"], r["sum"], gap)
        assert r["steps"] >= 32
    else:
        assert "steps" not in r
    if r["method"] in ("saliency", "smoothgrad"):
        assert "baseline_logit" not in r and r["units"] == "logit per data unit"
    for k, v in want.items():
        assert str(r.get(k)) == v, (k, r.get(k), v)
PY

"$SD" explain --model "$M" --data "$T" --json "$TMP/ig.jsonl" >"$TMP/out" 2>"$TMP/err"
ok $? "explain exits 0 (integrated gradients by default)"
python3 "$TMP/check.py" "$TMP/ig.jsonl" 20 64 method=ig
ok $? "20 JSON lines of 64 values; sums complete to 2 %"
python3 - "$TMP/ig.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["index"] for r in rows] == list(range(20))
assert all(r["class"] == r["predicted"] for r in rows)
assert sum(r["label"] == r["predicted"] for r in rows) >= 15
PY
ok $? "indices in order, the predicted class attributed, labels from the data"

"$SD" explain --model "$M" --data "$T" --method saliency --class 1 --index 3 --json - >"$TMP/sal.jsonl"
python3 "$TMP/check.py" "$TMP/sal.jsonl" 1 64 index=3 class=1 class_index=1 method=saliency
ok $? "--index 3 --class 1 --method saliency: one line, class 1, no baseline"

"$SD" explain --model "$M" --data "$T" --method gradxinput --limit 4 --json "$TMP/gx.jsonl"
python3 "$TMP/check.py" "$TMP/gx.jsonl" 4 64 method=gradxinput && grep -q baseline_logit "$TMP/gx.jsonl"
ok $? "--limit 4 --method gradxinput: four lines with the baseline logit"

sg () {
  "$SD" explain --model "$M" --data "$T" --method smoothgrad --samples 8 --seed "$1" --limit 2 --json "$2"
}
sg 5 "$TMP/sg5a.jsonl" && sg 5 "$TMP/sg5b.jsonl" && cmp -s "$TMP/sg5a.jsonl" "$TMP/sg5b.jsonl"
ok $? "SmoothGrad: the same seed gives the same output"
sg 6 "$TMP/sg6.jsonl" && ! cmp -s "$TMP/sg5a.jsonl" "$TMP/sg6.jsonl"
ok $? "SmoothGrad: another seed, other values"

"$SD" explain --model "$M" --data "$T" --baseline mean --limit 6 --json "$TMP/mean.jsonl"
python3 "$TMP/check.py" "$TMP/mean.jsonl" 6 64 method=ig && python3 - "$TMP/ig.jsonl" "$TMP/mean.jsonl" <<'PY'
import json, sys
z = [json.loads(l) for l in open(sys.argv[1])][:6]
m = [json.loads(l) for l in open(sys.argv[2])]
assert all(abs(a["baseline_logit"] - b["baseline_logit"]) > 1e-4 for a, b in zip(z, m))
assert len({(r["class"], r["baseline_logit"]) for r in m}) == len({r["class"] for r in m})
PY
ok $? "--baseline mean: the mean of the predicted class, complete to 2 %"

head -n 1 "$T" >"$TMP/base.tsv"
"$SD" explain --model "$M" --data "$T" --baseline "$TMP/base.tsv" --index 0 --json "$TMP/self.jsonl"
python3 - "$TMP/self.jsonl" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read())
# the series against itself: nothing to attribute
assert abs(r["logit"] - r["baseline_logit"]) < 1e-5 and max(map(abs, r["attribution"])) < 1e-6
PY
ok $? "--baseline FILE: a series against itself has zero attributions"

"$SD" explain --model "$M" --wav "$DATA/wav-fault.wav" --limit 5 --json "$TMP/wav.jsonl"
python3 "$TMP/check.py" "$TMP/wav.jsonl" 5 64 && ! grep -q '"label"' "$TMP/wav.jsonl"
ok $? "--wav FILE without a label: windows of the training length, no label"

"$SD" explain --model "$M" --data "$T" --limit 2 --json "$TMP/p.jsonl" --plot "$TMP/p.png" \
  && python3 - "$TMP/p.png" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n"
assert struct.unpack(">II", d[16:24]) == (1000, 840), struct.unpack(">II", d[16:24])
PY
ok $? "--plot PNG: one panel per series"
"$SD" explain --model "$M" --data "$T" --index 1 --json "$TMP/p.jsonl" --plot "$TMP/p.svg" \
  && head -c 200 "$TMP/p.svg" | grep -q "<svg"
ok $? "--plot SVG"

expect_fail "unknown method" "unknown method 'lime'" "$SD" explain --model "$M" --data "$T" --method lime --json "$TMP/x"
expect_fail "unknown class names the classes" "the model's classes: -1, 1" "$SD" explain --model "$M" --data "$T" --class 7 --json "$TMP/x"
expect_fail "negative steps" "not -1" "$SD" explain --model "$M" --data "$T" --steps -1 --json "$TMP/x"
expect_fail "index out of range" "--index 20" "$SD" explain --model "$M" --data "$T" --index 20 --json "$TMP/x"
printf '1\t0.5\t0.2\n' >"$TMP/short.tsv"
expect_fail "a baseline of another length" "has 2 samples" "$SD" explain --model "$M" --data "$T" --baseline "$TMP/short.tsv" --json "$TMP/x"
expect_fail "--json is required" "--json" "$SD" explain --model "$M" --data "$T"
exit $fail
