#!/bin/sh
# Command-line tests of `seqdream` (TAP). Usage: test-cli.sh SEQDREAM DATA_DIR
set -u
SD=$1
DATA=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

. "$(dirname "$0")/tap.sh"

echo "1..75"

"$SD" --help >"$TMP/out" 2>&1; ok $? "seqdream --help"
for c in train eval predict info dream plot calibrate; do
  "$SD" $c --help >"$TMP/out" 2>&1 && grep -q -- "--" "$TMP/out"
  ok $? "seqdream $c --help"
done
expect_fail "unknown command" "unknown command 'frobnicate'" "$SD" frobnicate

"$SD" train --data "$DATA/ucr-small.tsv" --arch fcn-small --epochs 20 \
  --seed 1 --lr 0.01 --batch-size 8 --test "$DATA/ucr-small-test.tsv" \
  --out "$TMP/m.safetensors" >"$TMP/train.out" 2>"$TMP/train.err"
ok $? "train fcn-small on the fixture"
grep -q "^epoch 20/20" "$TMP/train.err"; ok $? "plain progress lines when not on a terminal"
grep -q "test accuracy" "$TMP/train.out"; ok $? "train reports the test accuracy"

"$SD" info --model "$TMP/m.safetensors" >"$TMP/info" 2>&1
ok $? "info exits 0"
grep -q "fcn-small" "$TMP/info" && grep -q "labels        -1, 1" "$TMP/info" \
  && grep -q '"seed":1' "$TMP/info" && grep -q "train length  64" "$TMP/info"
ok $? "info shows architecture, labels, provenance and length"

"$SD" eval --model "$TMP/m.safetensors" --data "$DATA/ucr-small-test.tsv" --json >"$TMP/eval.json"
ok $? "eval --json exits 0"
python3 - "$TMP/eval.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n"] == 20, r
assert sum(map(sum, r["confusion"])) == 20
assert abs(r["accuracy"] - sum(r["confusion"][i][i] for i in range(2)) / 20) < 1e-9
assert r["accuracy"] >= 0.9, r["accuracy"]
PY
ok $? "eval JSON has accuracy, n and a consistent confusion matrix"

"$SD" eval --model "$TMP/m.safetensors" --data "$DATA/ucr-small-test.tsv" | grep -q "confusion"
ok $? "eval prints a confusion matrix"

"$SD" predict --model "$TMP/m.safetensors" --data "$DATA/ucr-small-test.tsv" --json >"$TMP/pred.jsonl"
ok $? "predict --json exits 0"
python3 - "$TMP/pred.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 20
for i, r in enumerate(rows):
    assert r["index"] == i
    assert len(r["logits"]) == 2 and len(r["probabilities"]) == 2
    assert abs(sum(r["probabilities"]) - 1) < 1e-5
    assert r["class"] in ("-1", "1")
    best = max(range(2), key=lambda k: r["logits"][k])
    assert r["class"] == ["-1", "1"][best]
PY
ok $? "predict JSON lines: index, logits, probabilities, class"

expect_fail "info on a missing file" "no-such.safetensors" "$SD" info --model "$TMP/no-such.safetensors"
printf 'garbage' >"$TMP/bad.safetensors"
expect_fail "info on a corrupt file" "bad.safetensors" "$SD" info --model "$TMP/bad.safetensors"
printf -- '-1\t0.1\t0.2\n1\t0.3\n' >"$TMP/ragged.tsv"
expect_fail "train on ragged data names the file and line" "ragged.tsv:2:" "$SD" train --data "$TMP/ragged.tsv" --out "$TMP/x.safetensors"
expect_fail "unknown architecture" "unknown architecture 'vgg'" "$SD" train --data "$DATA/ucr-small.tsv" --arch vgg --out "$TMP/x.safetensors"
expect_fail "negative epochs" "epochs" "$SD" train --data "$DATA/ucr-small.tsv" --epochs -3 --out "$TMP/x.safetensors"
expect_fail "negative time budget" "time budget" "$SD" train --data "$DATA/ucr-small.tsv" --time-budget -1 --out "$TMP/x.safetensors"
expect_fail "zero threads" "--threads" "$SD" train --data "$DATA/ucr-small.tsv" --threads 0 --out "$TMP/x.safetensors"

# Defaults that follow the data: the fixture's 40 series train without a
# validation split; the choice is printed and kept in the provenance. Two
# runs with the same seed and threads write the same weights.
for r in 1 2; do
  "$SD" train --data "$DATA/ucr-small.tsv" --epochs 30 --seed 3 --threads 2 \
    --out "$TMP/det$r.safetensors" >"$TMP/det$r.out" 2>"$TMP/det$r.err" || break
done
grep -q "^defaults for the data: 40 series (a small set): all train (no validation split)" "$TMP/det1.err" \
  && "$SD" info --model "$TMP/det1.safetensors" >"$TMP/det.info" \
  && grep -q '"val_fraction":0' "$TMP/det.info" && grep -q '"threads":2' "$TMP/det.info" \
  && grep -q '"stopped_by":"epochs"' "$TMP/det.info" && grep -q '"defaults":"40 series' "$TMP/det.info"
ok $? "train prints the data-adapted defaults and stores them in the provenance"
python3 - "$TMP/det1.safetensors" "$TMP/det2.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
a, b = (tensors(p) for p in sys.argv[1:3])
assert len(a) > 1000 and a == b
PY
ok $? "two runs with the same seed and threads write the same weights"
"$SD" train --data "$DATA/ucr-small.tsv" --time-budget 1 --out "$TMP/tb.safetensors" >"$TMP/tb.out" 2>&1 \
  && grep -q "(stopped by time budget)" "$TMP/tb.out" \
  && "$SD" info --model "$TMP/tb.safetensors" | grep -q '"stopped_by":"time budget"'
ok $? "the time budget stops the 1500 default epochs and says so"
expect_fail "eval without --data" "--data" "$SD" eval --model "$TMP/m.safetensors"
# The golden "pool" model pools by 2 x 4 = 8: shorter inputs are refused.
expect_fail "dream shorter than a pooling model accepts" "at least 8 samples" \
  "$SD" dream --model "$DATA/golden/pool.model.safetensors" --class c0 --length 7 -q
printf c0 >"$TMP/short.tsv"
for i in 1 2 3 4 5 6 7; do printf '\t0.%d' $i >>"$TMP/short.tsv"; done
printf '\n' >>"$TMP/short.tsv"
expect_fail "eval on series shorter than a pooling model accepts" "at least 8 samples" \
  "$SD" eval --model "$DATA/golden/pool.model.safetensors" --data "$TMP/short.tsv"

"$SD" dream --model "$TMP/m.safetensors" --class 1 --steps 30 --batch 2 --seed 4 \
  --init "sample:$DATA/ucr-small.tsv" --reg noise:param=0.2 --json "$TMP/d.json" -q \
  && python3 - "$TMP/d.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["dreams"]
assert len(d) == 2 and all(len(x["sequence"]) == 64 for x in d)
assert d[0]["sequence"] != d[1]["sequence"]
for x in d:
    m = sum(x["sequence"]) / 64
    sd = (sum((v - m) ** 2 for v in x["sequence"]) / 64) ** 0.5
    assert abs(m) < 1e-4 and abs(sd - 1) < 1e-3, (m, sd)   # z-normalised
    assert len(x["trace"]["regularizers"]["noise"]) == x["steps"] + 1
PY
ok $? "dream from real series (sample:), noise transform, z-normalised results"
expect_fail "dream with an unknown class" "has no class '7'" "$SD" dream --model "$TMP/m.safetensors" --class 7
grep '^-1' "$DATA/ucr-small.tsv" >"$TMP/neg.tsv"
expect_fail "dream from a file without the class" "has no series of class '1'" "$SD" dream --model "$TMP/m.safetensors" --class 1 --init "sample:$TMP/neg.tsv"

W="--wav $DATA/wav-normal.wav=normal --wav $DATA/wav-fault.wav=fault --window 256 --hop 128"
# shellcheck disable=SC2086
"$SD" train $W --arch fcn-small --epochs 3 --normalize fixed --seed 2 \
  --out "$TMP/w.safetensors" >"$TMP/w.out" 2>&1 \
  && grep -q "test accuracy .* on 30 series (last 30% of every recording)" "$TMP/w.out"
ok $? "train on WAV recordings tests on the held-out time segments"
# shellcheck disable=SC2086
"$SD" eval --model "$TMP/w.safetensors" $W --part train --json >"$TMP/w.json" \
  && python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['n']==84, r['n']" "$TMP/w.json"
ok $? "eval --wav --part train scores the training windows"
expect_fail "--wav without --window" "--window" "$SD" train --wav "$DATA/wav-normal.wav=normal" --out "$TMP/x.safetensors"
# A recording without a label: every window of it (hop = the model's
# window), with its file, first sample and time.
"$SD" predict --model "$TMP/w.safetensors" --wav "$DATA/wav-fault.wav" --json >"$TMP/wu.jsonl" \
  && python3 - "$TMP/wu.jsonl" "$DATA/wav-fault.wav" <<'PY'
import json, sys, wave
rows = [json.loads(l) for l in open(sys.argv[1])]
w = wave.open(sys.argv[2]); n, rate = w.getnframes(), w.getframerate()
assert len(rows) == (n - 256) // 256 + 1, (len(rows), n)
for i, r in enumerate(rows):
    assert r["file"] == sys.argv[2] and r["sample"] == 256 * i, r
    assert abs(r["t"] - 256 * i / rate) < 1e-9, r
PY
ok $? "predict --wav FILE without a label scores the whole recording, with times"
"$SD" dream --model "$TMP/w.safetensors" --class fault --preset recommended --steps 5 \
  --reference-wav "$DATA/wav-normal.wav=normal" --reference-wav "$DATA/wav-fault.wav=fault" \
  --json "$TMP/rw.json" >/dev/null \
  && python3 -c "
import json, sys
d = json.load(open(sys.argv[1])); d = d['dreams'][0] if 'dreams' in d else d
assert 'spectral-filter' in d['trace']['regularizers'] and 'metrics' in d, d.keys()
" "$TMP/rw.json"
ok $? "dream --reference-wav: recordings as reference data (targets and metrics)"
expect_fail "dream --reference with a WAV file" "reference-wav" \
  "$SD" dream --model "$TMP/w.safetensors" --class fault --reference "$DATA/wav-fault.wav"
expect_fail "train --data with a WAV file" "with --wav" \
  "$SD" train --data "$DATA/wav-fault.wav" --out "$TMP/x.safetensors"
# shellcheck disable=SC2086
"$SD" train $W --arch fcn-small --epochs 2 --normalize fixed --seed 2 \
  --augment-shuffle 0.5 --augment-shuffle-classes normal,fault --augment-shuffle-pieces 2:4 \
  --out "$TMP/s.safetensors" >/dev/null 2>&1 \
  && "$SD" info --model "$TMP/s.safetensors" --json | python3 -c "
import json, sys
p = json.load(sys.stdin)['provenance']
assert p['augment'] == 'shuffle', p
assert p['augment_shuffle_classes'] == ['fault', 'normal'], p
assert p['augment_shuffle_pieces'] == [16, 32], p   # 2:4 ms at 8 kHz
"
ok $? "train --augment-shuffle records the classes and piece lengths"
# shellcheck disable=SC2086
expect_fail "--augment-shuffle with an unknown class" "'bogus' is not a class of the data (fault, normal)" \
  "$SD" train $W --augment-shuffle 0.5 --augment-shuffle-classes normal,bogus --out "$TMP/x.safetensors"
expect_fail "--augment-shuffle on data without a sample rate" "needs the data's sample rate" \
  "$SD" train --data "$DATA/ucr-small.tsv" --augment-shuffle 0.5 --augment-shuffle-classes -1,1 --out "$TMP/x.safetensors"
expect_fail "spectrum smoothing in Hz on a model without a sample rate" "smooth is in Hz and the model has no sample rate" \
  "$SD" dream --model "$TMP/m.safetensors" --class 1 --reference "$DATA/ucr-small.tsv" --reg spectral-filter:smooth=200
expect_fail "--preset band on a model without a sample rate" "need a model with a sample rate" \
  "$SD" dream --model "$TMP/m.safetensors" --class 1 --preset band --reference "$DATA/ucr-small.tsv"
python3 - "$DATA" "$TMP/wref.tsv" <<'PY'
import sys, wave, struct
with open(sys.argv[2], "w") as out:
    for label in ("normal", "fault"):
        w = wave.open(f"{sys.argv[1]}/wav-{label}.wav")
        x = struct.unpack("<%dh" % w.getnframes(), w.readframes(w.getnframes()))
        for s in (0, 256):
            out.write(label + "\t" + "\t".join("%g" % (v / 32768) for v in x[s:s + 256]) + "\n")
PY
"$SD" dream --model "$TMP/w.safetensors" --class fault --preset band --reference "$TMP/wref.tsv" \
  --steps 5 --length 256 --json "$TMP/band.json" -q \
  && python3 -c "
import json, sys
j = json.load(open(sys.argv[1])); d = j['dreams'][0] if 'dreams' in j else j
assert 'spectral-filter' in d['trace']['regularizers'], d['trace']['regularizers'].keys()
" "$TMP/band.json"
ok $? "dream --preset band on a model trained from recordings"
"$SD" dream --model "$TMP/w.safetensors" --class fault --preset prototype --reference "$TMP/wref.tsv" \
  --steps 5 --length 256 --json "$TMP/proto.json" -q \
  && python3 -c "
import json, sys
j = json.load(open(sys.argv[1])); d = j['dreams'][0] if 'dreams' in j else j
r = d['trace']['regularizers']
assert 'spectral-filter' in r and 'feature' in r, r.keys()
assert r['feature'][0] > 0, r['feature'][:3]
" "$TMP/proto.json"
ok $? "dream --preset prototype: the band filter and the feature anchor"
# ---- training statistics (novelty) ----
grep -q "^statistics    of 32 windows of 64 samples, 8 held out" "$TMP/train.out"
ok $? "train stores statistics: fit on its training part, held out its validation part"
"$SD" predict --model "$TMP/m.safetensors" --data "$DATA/ucr-small-test.tsv" --json \
  | python3 -c "
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert len(rows) == 20
assert all(isinstance(r['known'], bool) and r['novelty'] > 0 for r in rows), rows[0]
"
ok $? "predict --json lines have novelty and known"
"$SD" eval --model "$TMP/m.safetensors" --data "$DATA/ucr-small-test.tsv" --json \
  | python3 -c "
import json, sys
r = json.load(sys.stdin)
assert r['novelty_threshold'] > 0
assert len(r['unknown_per_class']) == 2 and sum(r['unknown_per_class']) == r['unknown'] <= r['n'], r
"
ok $? "eval --json counts the windows above the novelty threshold per class"
# The model without its statistics (stats.* tensors and metadata removed).
python3 - "$TMP/m.safetensors" "$TMP/plain.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
h = json.loads(raw[8:8 + n]); data = raw[8 + n:]
h["__metadata__"].pop("stats")
out, blob = {"__metadata__": h.pop("__metadata__")}, b""
for k, v in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    if k.startswith("stats."):
        continue
    b, e = v["data_offsets"]
    out[k] = dict(v, data_offsets=[len(blob), len(blob) + e - b]); blob += data[b:e]
hdr = json.dumps(out).encode(); hdr += b" " * (-len(hdr) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(hdr)) + hdr + blob)
PY
"$SD" info --model "$TMP/plain.safetensors" | grep -q "no training statistics: run seqdream calibrate" \
  && "$SD" eval --model "$TMP/plain.safetensors" --data "$DATA/ucr-small-test.tsv" | grep -q "^unknown   - (no training statistics" \
  && "$SD" predict --model "$TMP/plain.safetensors" --data "$DATA/ucr-small-test.tsv" --json | head -1 | grep -vq novelty \
  && "$SD" info --model "$TMP/plain.safetensors" --json | python3 -c "import json,sys; assert json.load(sys.stdin)['stats'] is None"
ok $? "a model without statistics loads; info, eval and predict say so"
expect_fail "the feature anchor without --reference or statistics" "need --reference" \
  "$SD" dream --model "$TMP/plain.safetensors" --class 1 --reg feature:weight=0.1
expect_fail "--preset realistic without --reference or statistics" "needs --reference" \
  "$SD" dream --model "$TMP/plain.safetensors" --class 1 --preset realistic
# Dreams by default: realistic from the model's own statistics (no
# --reference); without statistics the paper's ascent, with a note.
"$SD" dream --model "$TMP/m.safetensors" --class 1 --steps 30 --json "$TMP/real.json" >/dev/null \
  && python3 -c "
import json, sys
j = json.load(open(sys.argv[1])); d = j['dreams'][0] if 'dreams' in j else j
r = d['trace']['regularizers']
assert 'spectral-project' in r and 'feature' in r, r.keys()
" "$TMP/real.json"
ok $? "dream without flags: the realistic preset from the model's statistics"
expect_fail "--init prior without a spectral regulariser" "--init prior draws from the class spectra" \
  "$SD" dream --model "$TMP/m.safetensors" --class 1 --steps 5 --preset none --init prior
"$SD" dream --model "$TMP/plain.safetensors" --class 1 --steps 5 --json "$TMP/plain.json" 2>"$TMP/plain.err" >/dev/null \
  && grep -q "no training statistics and no --reference" "$TMP/plain.err" \
  && python3 -c "
import json, sys
j = json.load(open(sys.argv[1])); d = j['dreams'][0] if 'dreams' in j else j
assert d['trace']['regularizers'] == {}, d['trace']['regularizers']
" "$TMP/plain.json"
ok $? "dream without flags or statistics: no prior, and a note that says so"
cp "$TMP/plain.safetensors" "$TMP/plain0.safetensors"
sed 's/^-1/normal/; s/^1/fault/' "$DATA/ucr-small.tsv" >"$TMP/nf64.tsv"
expect_fail "calibrate on series of the wrong length" "64 samples, the model needs windows of 256 samples" \
  "$SD" calibrate --model "$TMP/w.safetensors" --data "$TMP/nf64.tsv" --out "$TMP/x.safetensors"
printf '7\t1\t2\t3\n' >"$TMP/label7.tsv"
expect_fail "calibrate on an unknown label" "label7.tsv" \
  "$SD" calibrate --model "$TMP/plain.safetensors" --data "$TMP/label7.tsv"
expect_fail "calibrate with an impossible false-alarm rate" "false-alarm rate 2 is not between 0 and 1" \
  "$SD" calibrate --model "$TMP/plain.safetensors" --data "$DATA/ucr-small.tsv" --false-alarm 2
head -3 "$DATA/ucr-small-test.tsv" | grep -v '^1' >"$TMP/onecls.tsv"
expect_fail "calibrate with a class of fewer than 2 windows" "class '1' has 0 windows" \
  "$SD" calibrate --model "$TMP/plain.safetensors" --data "$TMP/onecls.tsv" --heldout "$DATA/ucr-small-test.tsv"
cmp -s "$TMP/plain.safetensors" "$TMP/plain0.safetensors"
ok $? "failed calibrations leave the model file as it was"
"$SD" calibrate --model "$TMP/plain.safetensors" --data "$DATA/ucr-small.tsv" \
  --heldout "$DATA/ucr-small-test.tsv" --false-alarm 0.1 >"$TMP/cal.out" \
  && grep -q "threshold .* (false-alarm rate 0.1)" "$TMP/cal.out" \
  && grep -q "of 40 windows of 64 samples, 20 held out" "$TMP/cal.out" \
  && python3 - "$TMP/plain0.safetensors" "$TMP/plain.safetensors" <<'PY'
import json, struct, sys
def tensors(p):
    raw = open(p, "rb").read(); (n,) = struct.unpack("<Q", raw[:8])
    h = json.loads(raw[8:8 + n]); d = raw[8 + n:]; h.pop("__metadata__")
    return {k: d[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert all(b[k] == a[k] for k in a), "weights changed"
stages = [k for k in b if k.startswith("stats.stage_")]
assert stages and sorted(stages) == sorted(f"stats.stage_{w}.{l}" for w in ("means", "covariance")
                                           for l in range(len(stages) // 2)), stages
assert sorted(set(b) - set(a) - set(stages)) == ["stats.covariance", "stats.feature_means",
    "stats.margin_quantiles", "stats.novelty_quantiles", "stats.spectra"], set(b) - set(a)
PY
ok $? "calibrate adds the statistics in place and keeps the weights bit for bit"
# shellcheck disable=SC2086
"$SD" calibrate --model "$TMP/w.safetensors" --wav "$DATA/wav-normal.wav=normal" \
  --wav "$DATA/wav-fault.wav=fault" --out "$TMP/wc.safetensors" >"$TMP/wc.out" \
  && grep -q "windows       256 samples every 128, first 70 % of every recording fit" "$TMP/wc.out" \
  && grep -q "of 84 windows of 256 samples, 30 held out" "$TMP/wc.out"
ok $? "calibrate --wav: the model's window, the training command's hop, the recordings' split"
grep -q "of 84 windows of 256 samples, 30 held out" "$TMP/w.out"
ok $? "train --wav fits on the training windows and holds out the test windows"
# InceptionTime, a graph preset: trains (batch norms on batch statistics),
# keeps its name through the file, and every command takes it.
"$SD" train --data "$DATA/ucr-small.tsv" --arch inception-small --epochs 3 \
  --seed 1 --batch-size 8 --out "$TMP/inc.safetensors" >"$TMP/inc.out" 2>&1
ok $? "train --arch inception-small"
"$SD" info --model "$TMP/inc.safetensors" >"$TMP/inc.info" 2>&1 \
  && grep -q "^architecture  inception-small" "$TMP/inc.info" \
  && grep -q "blocks.5.bn" "$TMP/inc.info"
ok $? "info names the inception preset and lists its graph"
"$SD" eval --model "$TMP/inc.safetensors" --data "$DATA/ucr-small-test.tsv" >"$TMP/inc.eval" 2>&1 \
  && grep -q "^accuracy" "$TMP/inc.eval"
ok $? "eval an inception model"
"$SD" dream --model "$TMP/inc.safetensors" --class 1 --steps 5 >"$TMP/inc.dream" 2>&1
ok $? "dream of an inception model"
"$SD" export --model "$TMP/inc.safetensors" --onnx "$TMP/inc.onnx" >/dev/null 2>&1 \
  && test -s "$TMP/inc.onnx"
ok $? "export an inception model to ONNX"
"$SD" train --help 2>&1 | grep -q "inception or inception-small"
ok $? "train --help lists the inception presets"
# An ensemble of graph members: trained with --ensemble, joined by
# seqdream ensemble; every member's graph is in the file.
"$SD" train --data "$DATA/ucr-small.tsv" --arch inception-small --ensemble 2 \
  --epochs 2 --seed 1 --batch-size 8 --out "$TMP/inc-ens.safetensors" >"$TMP/inc.ens" 2>&1 \
  && grep -q "trained an ensemble of 2 inception-small" "$TMP/inc.ens" \
  && "$SD" info --model "$TMP/inc-ens.safetensors" >"$TMP/inc-ens.info" 2>&1 \
  && grep -q "ensemble of 2" "$TMP/inc-ens.info" \
  && "$SD" eval --model "$TMP/inc-ens.safetensors" --data "$DATA/ucr-small-test.tsv" \
    | grep -q "^accuracy" \
  && "$SD" dream --model "$TMP/inc-ens.safetensors" --class 1 --steps 5 >/dev/null 2>&1
ok $? "train --ensemble 2 --arch inception-small: info, eval and dream take it"
"$SD" ensemble --model "$TMP/inc.safetensors" --model "$TMP/inc.safetensors" \
  --out "$TMP/inc-join.safetensors" >/dev/null 2>&1 \
  && "$SD" eval --model "$TMP/inc-join.safetensors" --data "$DATA/ucr-small-test.tsv" >"$TMP/inc-join.eval" 2>&1 \
  && "$SD" eval --model "$TMP/inc.safetensors" --data "$DATA/ucr-small-test.tsv" >"$TMP/inc-one.eval" 2>&1 \
  && test "$(grep "^accuracy" "$TMP/inc-join.eval")" = "$(grep "^accuracy" "$TMP/inc-one.eval")"
ok $? "seqdream ensemble joins graph models (a model with itself predicts as it does)"
"$SD" ensemble --model "$TMP/inc.safetensors" --model "$TMP/m.safetensors" \
  --out "$TMP/mixed.safetensors" >/dev/null 2>&1 \
  && "$SD" ensemble --model "$TMP/m.safetensors" --model "$TMP/inc.safetensors" \
    --out "$TMP/mixed2.safetensors" >/dev/null 2>&1 \
  && "$SD" info --model "$TMP/mixed.safetensors" >"$TMP/mixed.info" 2>&1 \
  && grep -q "^member 0 *inception-small" "$TMP/mixed.info" \
  && grep -q "^  stages.0-5 *the outputs of its ReLU-type activations" "$TMP/mixed.info" \
  && "$SD" info --model "$TMP/mixed2.safetensors" | grep -q "^  stages.0" \
  && "$SD" eval --model "$TMP/mixed.safetensors" --data "$DATA/ucr-small-test.tsv" >"$TMP/mixed.eval" 2>&1 \
  && "$SD" eval --model "$TMP/mixed2.safetensors" --data "$DATA/ucr-small-test.tsv" >"$TMP/mixed2.eval" 2>&1 \
  && grep -q "^accuracy" "$TMP/mixed.eval" \
  && test "$(grep "^accuracy" "$TMP/mixed.eval")" = "$(grep "^accuracy" "$TMP/mixed2.eval")" \
  && "$SD" calibrate --model "$TMP/mixed2.safetensors" --data "$DATA/ucr-small.tsv" \
    --out "$TMP/mixed2-cal.safetensors" >/dev/null 2>&1 \
  && "$SD" dream --model "$TMP/mixed2-cal.safetensors" --class 1 --steps 5 >/dev/null 2>&1
ok $? "seqdream ensemble joins a graph model and a stage model in either order (same accuracy; calibrate and dream take it)"

exit $fail
