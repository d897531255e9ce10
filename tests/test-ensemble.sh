#!/bin/sh
# Command-line tests of ensembles (TAP): train --ensemble, seqdream
# ensemble, and the commands that take an ensemble as one model.
# Usage: test-ensemble.sh SEQDREAM DATA_DIR
set -u
SD=$1
DATA=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. "$(dirname "$0")/tap.sh"

echo "1..26"
TR="$DATA/ucr-small.tsv"
TE="$DATA/ucr-small-test.tsv"
COMMON="--arch fcn-small --epochs 8 --lr 0.01 --batch-size 8 --threads 1 --quiet"

"$SD" train --data "$TR" $COMMON --seed 1 --ensemble 3 --test "$TE" \
  --out "$TMP/e.safetensors" >"$TMP/train.out" 2>&1
ok $? "train --ensemble 3"
[ "$(grep -c '^member [0-2] (seed [1-3])' "$TMP/train.out")" -eq 3 ] \
  && grep -q "trained an ensemble of 3 fcn-small" "$TMP/train.out"
ok $? "train reports every member and the ensemble"
"$SD" info --model "$TMP/e.safetensors" >"$TMP/info" 2>&1 \
  && grep -q "ensemble of 3 members" "$TMP/info" \
  && grep -q "^member 2 .*fcn-small.*seed 3" "$TMP/info" \
  && grep -q '"seeds":\[1,2,3\]' "$TMP/info"
ok $? "info lists the members and their seeds"
expect_fail "--ensemble 0 is refused" "--ensemble must be 1" \
  "$SD" train --data "$TR" $COMMON --ensemble 0 --out "$TMP/x.safetensors"

# Three single models joined: the ensemble's probabilities are their mean.
for s in 1 2 3; do
  "$SD" train --data "$TR" $COMMON --seed $s --out "$TMP/m$s.safetensors" >/dev/null 2>&1
done
"$SD" ensemble --out "$TMP/j.safetensors" --model "$TMP/m1.safetensors" \
  --model "$TMP/m2.safetensors" --model "$TMP/m3.safetensors" >"$TMP/out" 2>&1
ok $? "seqdream ensemble joins three model files"
for f in j m1 m2 m3; do
  "$SD" predict --model "$TMP/$f.safetensors" --data "$TE" --json >"$TMP/$f.jsonl"
done
python3 - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
rows = {f: [json.loads(l) for l in open(f"{d}/{f}.jsonl")] for f in ("j", "m1", "m2", "m3")}
worst = spread = 0.0
for i, r in enumerate(rows["j"]):
    for k, p in enumerate(r["probabilities"]):
        ps = [rows[m][i]["probabilities"][k] for m in ("m1", "m2", "m3")]
        worst = max(worst, abs(p - sum(ps) / 3))
        spread = max(spread, max(ps) - min(ps))
print(f"# max |p - mean| {worst:.3g}, members' spread {spread:.3g}")
sys.exit(0 if worst < 1e-5 and spread > 1e-4 else 1)
PY
ok $? "predict: the joined ensemble's probabilities are the members' mean"
"$SD" eval --model "$TMP/j.safetensors" --data "$TE" >"$TMP/out" 2>&1 \
  && grep -q "^accuracy" "$TMP/out"
ok $? "eval takes an ensemble"

expect_fail "one file is not an ensemble" "needs --out and 2 to 64 --model files" \
  "$SD" ensemble --out "$TMP/x.safetensors" --model "$TMP/m1.safetensors"
expect_fail "a missing member file" "nope.safetensors" \
  "$SD" ensemble --out "$TMP/x.safetensors" --model "$TMP/m1.safetensors" --model "$TMP/nope.safetensors"
expect_fail "an ensemble is no member" "is an ensemble itself" \
  "$SD" ensemble --out "$TMP/x.safetensors" --model "$TMP/m1.safetensors" --model "$TMP/j.safetensors"
awk -F'\t' '{ $1 = ($1 == "1") ? "up" : "down"; print }' OFS='\t' "$TR" >"$TMP/other.tsv"
"$SD" train --data "$TMP/other.tsv" $COMMON --out "$TMP/other.safetensors" >/dev/null 2>&1
expect_fail "members with other labels" "has other labels than member 0" \
  "$SD" ensemble --out "$TMP/x.safetensors" --model "$TMP/m1.safetensors" --model "$TMP/other.safetensors"
[ ! -e "$TMP/x.safetensors" ]; ok $? "no file after a refused join"

# The joined file has no statistics, its own or its members' (each
# member file had some): calibrate gives them, to every member too.
python3 - "$TMP/j.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
sys.exit(1 if any("stats" in k for k in list(h) + list(h["__metadata__"])) else 0)
PY
ok $? "a joined ensemble keeps no statistics of its members"
"$SD" calibrate --model "$TMP/j.safetensors" --data "$TR" --out "$TMP/jc.safetensors" >"$TMP/out" 2>&1 \
  && "$SD" info --model "$TMP/jc.safetensors" >"$TMP/info" \
  && grep -q "novelty     threshold" "$TMP/info" \
  && grep -q "novelty of  every member" "$TMP/info" \
  && [ "$(grep -c '^    member [0-2] *median' "$TMP/info")" -eq 3 ]
ok $? "calibrate an ensemble: every member, and the novelty of every member"
# The novelty does not depend on the order of the members.
"$SD" ensemble --out "$TMP/r.safetensors" --model "$TMP/m3.safetensors" \
  --model "$TMP/m1.safetensors" --model "$TMP/m2.safetensors" >/dev/null 2>&1 \
  && "$SD" calibrate --model "$TMP/r.safetensors" --data "$TR" >/dev/null 2>&1 \
  && "$SD" predict --model "$TMP/jc.safetensors" --data "$TE" --json >"$TMP/jc.jsonl" \
  && "$SD" predict --model "$TMP/r.safetensors" --data "$TE" --json >"$TMP/r.jsonl"
ok $? "calibrate and predict the members in another order"
python3 - "$TMP" <<'PY'
import json, sys
d = sys.argv[1]
a = [json.loads(l) for l in open(f"{d}/jc.jsonl")]
b = [json.loads(l) for l in open(f"{d}/r.jsonl")]
worst = max(abs(x["novelty"] - y["novelty"]) / x["novelty"] for x, y in zip(a, b))
same = [x["known"] for x in a] == [y["known"] for y in b]
print(f"# {len(a)} series, largest relative novelty difference {worst:.3g}")
sys.exit(0 if len(a) == len(b) > 0 and worst < 1e-6 and same else 1)
PY
ok $? "the same novelty and known in either order"

# Dreams of an ensemble: unregularised and realistic (it has statistics),
# judged by a single model.
"$SD" dream --model "$TMP/e.safetensors" --class 1 --preset none --steps 60 --batch 2 \
  --reference "$TR" --second-model "$TMP/m1.safetensors" --json "$TMP/dn.json" >"$TMP/out" 2>&1
ok $? "dream --preset none of an ensemble"
python3 - "$TMP/dn.json" <<'PY'
import json, sys
ds = json.load(open(sys.argv[1]))["dreams"]
ok = len(ds) == 2 and all(d["probability"] > 0.9 and "second_model_agrees" in d["metrics"] for d in ds)
print("# p", [round(d["probability"], 4) for d in ds])
sys.exit(0 if ok else 1)
PY
ok $? "the ensemble's dreams reach its class and are judged"
"$SD" dream --model "$TMP/e.safetensors" --class -1 --steps 60 --json "$TMP/dr.json" >"$TMP/out" 2>&1 \
  && grep -q '"class":"-1"' "$TMP/dr.json"
ok $? "dream with the default (realistic) preset of an ensemble"
"$SD" dream --model "$TMP/e.safetensors" --class 1 --preset none --steps 30 \
  --ensemble-rule geometric --json "$TMP/dg.json" >"$TMP/out" 2>&1 \
  && grep -q '"class":"1"' "$TMP/dg.json"
ok $? "dream --ensemble-rule geometric"
expect_fail "--ensemble-rule on a single model" "is not an ensemble" \
  "$SD" dream --model "$TMP/m1.safetensors" --class 1 --steps 5 --ensemble-rule geometric
expect_fail "an unknown --ensemble-rule" "must be mean or geometric, not 'median'" \
  "$SD" dream --model "$TMP/e.safetensors" --class 1 --steps 5 --ensemble-rule median
"$SD" explain --model "$TMP/e.safetensors" --data "$TE" --method saliency --index 0 --json - >"$TMP/sal.jsonl" 2>"$TMP/err"
ok $? "explain (saliency) of an ensemble"
"$SD" explain --model "$TMP/e.safetensors" --data "$TE" --index 1 --json - >"$TMP/ig.jsonl" 2>"$TMP/err"
ok $? "explain (integrated gradients) of an ensemble"

# An ensemble file is a model file with its members' tensors: an old
# single-model reader cannot mistake it for one.
python3 - "$TMP/e.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
m = h["__metadata__"]
names = [k for k in h if k != "__metadata__"]
ok = (m["ensemble"] == "3" and "arch" not in m
      and all(("members.%d.arch" % i) in m for i in range(3))
      and all(n.startswith(("members.0.", "members.1.", "members.2.", "stats.")) for n in names))
sys.exit(0 if ok else 1)
PY
ok $? "the file: metadata ensemble, members.<i>.arch, members.<i>. tensors"
expect_fail "export --onnx refuses an ensemble" "an ensemble of 3 models cannot be exported" \
  "$SD" export --model "$TMP/j.safetensors" --onnx "$TMP/j.onnx"

exit $fail
