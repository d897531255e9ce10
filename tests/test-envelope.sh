#!/bin/sh
# Tests of `seqdream envelope` (TAP). Usage: test-envelope.sh SEQDREAM
# Synthetic recordings and dreams with known envelope frequencies; the real
# CWRU recordings under $SEQDREAM_DATA/cwru when they are there.
set -u
SD=$1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Under LeakSanitizer: fontconfig (behind cairo's text) keeps caches it
# never frees; those are not ours.
printf 'leak:libfontconfig.so\n' >"$TMP/lsan.supp"
LSAN_OPTIONS="suppressions=$TMP/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS

. "$(dirname "$0")/tap.sh"

echo "1..28"

# expect_code CODE DESCRIPTION SUBSTRING CMD...: exit status CODE and
# SUBSTRING on stderr
expect_code () {
  code=$1; desc=$2; want=$3; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err"
  got=$?
  if [ "$got" -ne "$code" ]; then
    echo "# exit $got, stderr: $(cat "$TMP/err")"
    ok 1 "$desc (exit $got, not $code)"
  elif grep -qF -- "$want" "$TMP/err"; then
    ok 0 "$desc"
  else
    echo "# stderr: $(cat "$TMP/err")"
    ok 1 "$desc (stderr lacks '$want')"
  fi
}

# Fixtures (standard library only): a bearing with an inner-race defect
# (an impulse every 1 / 162.1 s ringing a 3 kHz resonance, plus noise) as
# a 0.5 s float WAV and as 16-bit PCM; a dream JSON of an amplitude-
# modulated carrier (envelope at 137 Hz), a batch of two, one without a
# sample rate, a short one.
python3 - "$TMP" <<'PY'
import json, math, random, struct, sys
tmp = sys.argv[1]
rate, n = 48000, 24000
rng = random.Random(3)
x = [0.1 * rng.gauss(0, 1) for _ in range(n)]
t0 = 0.0
while t0 < n / rate:
    start = math.ceil(t0 * rate)
    for t in range(start, min(n, start + 480)):
        dt = t / rate - t0
        x[t] += math.exp(-dt / 5e-4) * math.sin(2 * math.pi * 3000 * dt)
    t0 += 1 / 162.1

def wav(path, samples, fmt):
    if fmt == "float":
        data = struct.pack("<%df" % len(samples), *samples)
        tag, bits = 3, 32
    else:
        data = struct.pack("<%dh" % len(samples),
                           *[max(-32768, min(32767, int(v * 8000))) for v in samples])
        tag, bits = 1, 16
    block = bits // 8
    fmt_chunk = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", len(data)) + data
    open(path, "wb").write(b"RIFF" + struct.pack("<I", len(body)) + body)

wav(tmp + "/ir.wav", x, "float")
wav(tmp + "/ir16.wav", x, "pcm")

def am(fm, m=10000):
    return [2 * (1 + 0.5 * math.cos(2 * math.pi * fm * t / rate))
            * math.cos(2 * math.pi * 5000 * t / rate) for t in range(m)]
d1 = {"class": "outer_race", "seed": 7, "probability": 0.99, "sample_rate": rate,
      "sequence": [v / 2 for v in am(137.0)], "sequence_units": am(137.0)}
d2 = dict(d1, seed=8, sequence_units=am(107.0))
json.dump(d1, open(tmp + "/one.json", "w"))
json.dump({"dreams": [d1, d2]}, open(tmp + "/two.json", "w"))
norate = {"sequence": am(137.0)}
json.dump(norate, open(tmp + "/norate.json", "w"))
json.dump({"sequence": [0.0] * 10, "sample_rate": rate}, open(tmp + "/short.json", "w"))
json.dump({"sequence": [0.0, "x"], "sample_rate": rate}, open(tmp + "/bad.json", "w"))
PY
ok $? "write the fixtures"

"$SD" envelope --help >"$TMP/out" 2>&1 && grep -q -- "--band" "$TMP/out" \
  && grep -q -- "--rpm" "$TMP/out"
ok $? "seqdream envelope --help"
"$SD" --help | grep -q "^  envelope"
ok $? "seqdream --help lists envelope"

# check.py FILE EXPR...: every Python expression holds for r = the JSON
cat >"$TMP/check.py" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["series"]
for expr in sys.argv[2:]:
    if not eval(expr):
        sys.exit("does not hold: %s" % expr)
PY
check () { python3 "$TMP/check.py" "$@"; }

"$SD" envelope --wav "$TMP/ir.wav" --band 2000:4000 --rpm 1796 --json "$TMP/ir.json" -q \
  && check "$TMP/ir.json" 'len(s) == 1' 'abs(s[0]["dominant"]["frequency"] - 162.1) <= 2' \
    's[0]["dominant"]["nearest"] == "BPFI"' 'abs(s[0]["dominant"]["error_percent"]) < 1' \
    's[0]["dominant"]["prominence"] > 10' 's[0]["samples"] == 24000' \
    's[0]["sample_rate"] == 48000' 'r["band"] == [2000, 4000]' 'r["range"] == [10, 500]'
ok $? "an inner-race defect: dominant envelope frequency at BPFI (162.1 Hz) within a bin"

check "$TMP/ir.json" 'abs(r["markers"]["BPFO"] - 107.31) < 0.05' \
  'abs(r["markers"]["BPFI"] - 162.10) < 0.05' 'abs(r["markers"]["2xBSF"] - 141.10) < 0.05' \
  'abs(r["markers"]["fr"] - 29.933) < 0.001' \
  '[m["label"] for m in s[0]["markers"]["2xBSF"]] == ["2×BSF", "4×BSF", "6×BSF"]' \
  'all(m["prominence"] > 5 for m in s[0]["markers"]["BPFI"])' \
  's[0]["markers"]["BPFO"][0]["prominence"] < 3'
ok $? "markers of the 6205 bearing at 1796 rpm; BPFI and harmonics stand out, BPFO does not"

check "$TMP/ir.json" 'abs(sum(s[0]["power_spectrum"]["share"]) - 1) < 0.02' \
  '0.2 < s[0]["band_energy_share"] < 0.9' 'abs(s[0]["power_spectrum"]["df"] - 100) < 1e-9' \
  '2000 < s[0]["spectral_peak"] < 4000' 's[0]["kurtosis"] > 3' \
  'len(s[0]["envelope_spectrum"]["amplitude"]) == 251' 's[0]["units"] == "data"'
ok $? "plain spectrum, energy in the band, kurtosis, envelope spectrum up to the range's end"

"$SD" envelope --wav "$TMP/ir16.wav" --band 2000:4000 --rpm 1796 --json - \
  | python3 -c 'import json,sys; s=json.load(sys.stdin)["series"]; assert abs(s[0]["dominant"]["frequency"] - 162.1) <= 2'
ok $? "16-bit PCM WAV, JSON on stdout"

"$SD" envelope --wav "$TMP/ir.wav" --band 2000:4000 --segment 9600 --hop 4800 --json "$TMP/seg.json" -q \
  && check "$TMP/seg.json" 'len(s) == 4' '[x["offset"] for x in s] == [0, 4800, 9600, 14400]' \
    'all(x["samples"] == 9600 for x in s)' \
    'all(abs(x["dominant"]["frequency"] - 162.1) <= 5 for x in s)'
ok $? "--segment 9600 --hop 4800: four 0.2 s segments, each at BPFI within a 5 Hz bin"

"$SD" envelope --wav "$TMP/ir.wav" --segment 9600 --max-segments 1 --json "$TMP/max.json" -q \
  && check "$TMP/max.json" 'len(s) == 1' 'r["band"] == [0, None]' 's[0]["band_hi"] == 24000'
ok $? "--max-segments; without --band the band is 0 to Nyquist"

"$SD" envelope --input "$TMP/one.json" --band 4000:6000 --range 20:400 --json "$TMP/one.out.json" >"$TMP/one.txt" \
  && check "$TMP/one.out.json" 'len(s) == 1' 'abs(s[0]["dominant"]["frequency"] - 137) < 0.5' \
    'abs(s[0]["dominant"]["amplitude"] - 1) < 0.05' 's[0]["class"] == "outer_race"' \
    's[0]["seed"] == 7' 's[0]["probability"] == 0.99' 's[0]["units"] == "data"' \
    'abs(s[0]["envelope_mean"] - 2) < 0.01' '"nearest" not in s[0]["dominant"]' \
  && grep -q "one.json (class outer_race): dominant envelope frequency 137.0 Hz" "$TMP/one.txt"
ok $? "a dream: the AM frequency and depth, from sequence_units; class and seed kept"

"$SD" envelope --input "$TMP/two.json" --band 4000:6000 --rpm 1796 --marker gear=137 \
  --harmonics 2 --json "$TMP/two.out.json" -q \
  && check "$TMP/two.out.json" 'len(s) == 2' '[x["seed"] for x in s] == [7, 8]' \
    'abs(s[1]["dominant"]["frequency"] - 107) < 0.5' 's[1]["dominant"]["nearest"] == "BPFO"' \
    's[0]["dominant"]["nearest"] == "gear"' 'r["markers"]["gear"] == 137' \
    'len(s[0]["markers"]["BPFI"]) == 2'
ok $? "a batch of dreams; --marker NAME=HZ and --harmonics"

"$SD" envelope --input "$TMP/norate.json" --rate 48000 --band 4000:6000 --json "$TMP/nr.json" -q \
  && check "$TMP/nr.json" 's[0]["units"] == "normalised"' 'abs(s[0]["dominant"]["frequency"] - 137) < 0.5'
ok $? "--rate for a dream without a sample rate; the normalised sequence"

"$SD" envelope --wav "$TMP/ir.wav" --band 2000:4000 --rpm 1796 --segment 9600 \
  --plot "$TMP/ir.png" --plot-index 2 -q \
  && python3 - "$TMP/ir.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1000, 1296), (w, h)
PY
ok $? "PNG plot of the second segment, 1000x1296 (three panels and a title)"

"$SD" envelope --input "$TMP/two.json" --band 4000:6000 --plot "$TMP/d.svg" \
  --width 800 --height 900 --zoom 5 --title "AM" -q \
  && grep -q "<svg" "$TMP/d.svg" && grep -q 'width="800' "$TMP/d.svg"
ok $? "SVG plot of a dream with --width, --height, --zoom and --title"

expect_code 2 "no input" "give either --input" "$SD" envelope --band 1:2
expect_code 2 "both inputs" "give either --input" "$SD" envelope --input "$TMP/one.json" --wav "$TMP/ir.wav"
expect_code 2 "a band that is not LO:HI" "--band '3000' must be LO:HI" "$SD" envelope --wav "$TMP/ir.wav" --band 3000
expect_code 2 "a reversed range" "--range '500:10'" "$SD" envelope --wav "$TMP/ir.wav" --range 500:10
expect_code 1 "a band beyond Nyquist" "Nyquist" "$SD" envelope --wav "$TMP/ir.wav" --band 2000:30000
expect_code 1 "a range of fewer than 3 bins" "at least 3 bins" "$SD" envelope --wav "$TMP/ir.wav" --range 100:103
expect_code 1 "a missing recording" "no-such.wav" "$SD" envelope --wav "$TMP/no-such.wav"
expect_code 1 "a dream too short" "too short" "$SD" envelope --input "$TMP/short.json"
expect_code 1 "a sequence with a string" '"sequence"[1] is not a number' "$SD" envelope --input "$TMP/bad.json"
expect_code 2 "a dream without a sample rate" "give --rate" "$SD" envelope --input "$TMP/norate.json"
expect_code 1 "a segment longer than the recording" "fewer than one segment" "$SD" envelope --wav "$TMP/ir.wav" --segment 48000
expect_code 1 "an unknown image type" "x.jpg" "$SD" envelope --wav "$TMP/ir.wav" --plot "$TMP/x.jpg"
expect_code 2 "a marker without a frequency" "--marker 'gear'" "$SD" envelope --wav "$TMP/ir.wav" --marker gear

# The real CWRU recordings: the drive-end outer-race (BPFO 107.3 Hz) and
# inner-race (BPFI 162.1 Hz) faults of 0.007 in, every 0.2 s segment.
CWRU=${SEQDREAM_DATA:-}/cwru/wav
if [ -n "${SEQDREAM_DATA:-}" ] && [ -f "$CWRU/135_OR007_0hp_DE_48k.wav" ]; then
  "$SD" envelope --wav "$CWRU/135_OR007_0hp_DE_48k.wav" --band 2000:4000 --rpm 1796 \
    --segment 9600 --json "$TMP/or.json" -q \
    && "$SD" envelope --wav "$CWRU/109_IR007_0hp_DE_48k.wav" --band 2000:4000 --rpm 1796 \
      --segment 9600 --json "$TMP/irr.json" -q \
    && check "$TMP/or.json" 'len(s) == 25' \
      'all(abs(x["dominant"]["frequency"] / 107.31 - 1) < 0.1 for x in s)' \
    && check "$TMP/irr.json" 'len(s) == 25' \
      'all(abs(x["dominant"]["frequency"] / 162.10 - 1) < 0.1 for x in s)'
  ok $? "CWRU OR007 and IR007: every 0.2 s segment within 10 % of BPFO / BPFI"
else
  echo "ok 28 # SKIP no CWRU data under \$SEQDREAM_DATA"
  n=$((n + 1))
fi
exit $fail
