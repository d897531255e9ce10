#!/bin/sh
# Tests of `seqdream plot` (TAP). Usage: test-plot.sh SEQDREAM DATA_DIR
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

# run DESCRIPTION CMD...: exit 0, stderr shown as a TAP comment otherwise
run () {
  desc=$1; shift
  if "$@" >"$TMP/out" 2>"$TMP/err"; then
    ok 0 "$desc"
  else
    sed 's/^/# /' "$TMP/err"
    ok 1 "$desc"
  fi
}

# A PNG reader (standard library only): png.py FILE W H [CHECK...] checks
# the signature, the IHDR size and each CHECK:
#   at:X,Y=RRGGBB     the pixel at X,Y (negative counts from the end)
#   has:RRGGBB:N      at least N pixels within 3 of the colour per channel
#   lacks:RRGGBB      no pixel within 3 of it
cat >"$TMP/png.py" <<'PY'
import struct, sys, zlib

def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("%s: no PNG signature" % path)
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        sys.exit("unsupported PNG: depth %d colour type %d" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pr) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows

def near(px, rgb, tol=3):
    return all(abs(px[k] - rgb[k]) <= tol for k in range(3))

path, W, H = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w, h, bpp, rows = read_png(path)
if (w, h) != (W, H):
    sys.exit("%s is %dx%d, expected %dx%d" % (path, w, h, W, H))
def pixel(x, y):
    x, y = x % w, y % h
    return tuple(rows[y][x * bpp:x * bpp + 3])
def count(rgb):
    return sum(1 for y in range(h) for x in range(w) if near(pixel(x, y), rgb))
for check in sys.argv[4:]:
    kind, arg = check.split(":", 1)
    if kind == "at":
        xy, hexc = arg.split("=")
        x, y = map(int, xy.split(","))
        want = bytes.fromhex(hexc)
        if not near(pixel(x, y), want):
            sys.exit("pixel %d,%d is %s, expected %s" % (x, y, bytes(pixel(x, y)).hex(), hexc))
    elif kind == "has":
        hexc, need = arg.split(":")
        got = count(bytes.fromhex(hexc))
        if got < int(need):
            sys.exit("%d pixels of %s, expected at least %s" % (got, hexc, need))
    elif kind == "lacks":
        got = count(bytes.fromhex(arg))
        if got:
            sys.exit("%d pixels of %s, expected none" % (got, arg))
PY

# png FILE W H CHECK...: the PNG checks, failures as TAP comments
png () {
  python3 "$TMP/png.py" "$@" 2>"$TMP/png.err"
  rc=$?
  [ $rc -eq 0 ] || sed 's/^/# /' "$TMP/png.err"
  return $rc
}

# Colours: white, the dream line (vermillion d55e00) and the reference band
# (sky blue 56b4e9 at 30 % over white).
WHITE=ffffff
LINE=d55e00
BAND=cce8f8

echo "1..31"

# Dreams written by hand: a sine of length 64 (the fixture's length), the
# same as two dreams with traces, one of length 100, and broken files.
python3 - "$TMP" <<'PY'
import json, math, sys
tmp = sys.argv[1]
def dream(mode, label, index, T, period, p):
    steps = 120
    obj = [6 * (1 - math.exp(-s / 20)) for s in range(steps)]
    return {
        "sequence": [2 * math.sin(2 * math.pi * t / period) for t in range(T)],
        "class": label, "class_index": index, "mode": mode,
        "probability": p, "logit_margin": 6.5, "steps": steps,
        "sample_rate": 0,
        "trace": {"objective": obj,
                  "probability": [1 / (1 + math.exp(2 - o)) for o in obj],
                  "regularizers": {"tv": [0.3 * math.exp(-s / 30) for s in range(steps)],
                                   "l2": [0.1 + 0.01 * s / steps for s in range(steps)]}},
        "metrics": {"nn_euclidean_ratio": 1.4, "nn_dtw_ratio": 1.21,
                    "spectral_distance": 0.08, "tv_ratio": None},
    }
json.dump(dream("centered", "1", 1, 64, 32, 0.998), open(tmp + "/one.json", "w"))
json.dump({"dreams": [dream("centered", "1", 1, 64, 32, 0.998),
                      dream("border", "-1", 0, 64, 16, 0.5)]},
          open(tmp + "/two.json", "w"))
json.dump(dream("centered", "1", 1, 100, 25, 0.9), open(tmp + "/long.json", "w"))
open(tmp + "/bad.json", "w").write('{"sequence": [1, 2,')
json.dump({"class": "1", "probability": 0.5}, open(tmp + "/noseq.json", "w"))
json.dump({"sequence": [1, "x", 3]}, open(tmp + "/nan.json", "w"))
d = dream("centered", "1", 1, 64, 32, 0.998)
del d["trace"]
json.dump(d, open(tmp + "/notrace.json", "w"))
PY
ok $? "write dream JSON files"

"$SD" plot --help >"$TMP/out" 2>&1 && grep -q -- "--input" "$TMP/out" \
  && grep -q -- "--reference" "$TMP/out" && grep -q -- "--trace" "$TMP/out"
ok $? "seqdream plot --help"
"$SD" --help | grep -q "plot"
ok $? "seqdream --help lists plot"

run "plot one dream to PNG" "$SD" plot --input "$TMP/one.json" --out "$TMP/one.png"
png "$TMP/one.png" 1000 420 "at:0,0=$WHITE" "at:-1,-1=$WHITE" "has:$LINE:50" "lacks:$BAND"
ok $? "PNG signature, default size 1000x420, white corners, the dream's colour, no band"

run "plot one dream to SVG" "$SD" plot --input "$TMP/one.json" --out "$TMP/one.svg"
python3 -c "
import sys, xml.etree.ElementTree as ET
s = open(sys.argv[1]).read()
assert '<svg' in s
root = ET.fromstring(s)
assert root.tag.endswith('svg') and root.get('width') == '1000pt', root.attrib
" "$TMP/one.svg"
ok $? "the SVG is XML with an <svg> root of the default width"

"$SD" train --data "$DATA/ucr-small.tsv" --arch fcn-small --epochs 2 \
  --out "$TMP/m.safetensors" >"$TMP/train.out" 2>&1
ok $? "train a model on the fixture"

run "plot with --reference and --model" "$SD" plot --input "$TMP/one.json" \
  --reference "$DATA/ucr-small.tsv" --model "$TMP/m.safetensors" \
  --out "$TMP/ref.png" --width 800 --height 500
png "$TMP/ref.png" 800 500 "at:0,0=$WHITE" "at:799,0=$WHITE" "at:0,-1=$WHITE" \
  "has:$BAND:2000" "has:$LINE:40"
ok $? "--width/--height give 800x500; the reference band and the dream are drawn"

run "reference plot to SVG" "$SD" plot --input "$TMP/one.json" \
  --reference "$DATA/ucr-small.tsv" --model "$TMP/m.safetensors" --out "$TMP/ref.svg"
grep -q "<svg" "$TMP/ref.svg"
ok $? "reference SVG has <svg"

run "a dream longer than the reference still plots" "$SD" plot \
  --input "$TMP/long.json" --reference "$DATA/ucr-small.tsv" \
  --model "$TMP/m.safetensors" --out "$TMP/long.png"
png "$TMP/long.png" 1000 420 "lacks:$BAND" "has:$LINE:50"
ok $? "no band when the lengths differ"

run "several inputs, several dreams each" "$SD" plot --input "$TMP/two.json" \
  --input "$TMP/one.json" --reference "$DATA/ucr-small.tsv" \
  --model "$TMP/m.safetensors" --out "$TMP/three.png"
png "$TMP/three.png" 1000 1260 "at:0,0=$WHITE" "has:$BAND:6000"
ok $? "three dreams stack as three 420 px panels, each with its band"

run "--title over stacked panels" "$SD" plot --input "$TMP/two.json" \
  --title "two dreams" --out "$TMP/titled.svg"

run "plot the convergence to PNG" "$SD" plot --trace --input "$TMP/two.json" \
  --out "$TMP/trace.png" --height 900
png "$TMP/trace.png" 1000 900 "at:0,0=$WHITE" "has:$LINE:50" "has:0072b2:50" "lacks:$BAND"
ok $? "trace PNG: one colour per dream"
run "plot the convergence to SVG" "$SD" plot --trace --input "$TMP/one.json" \
  --out "$TMP/trace.svg"
grep -q "<svg" "$TMP/trace.svg"
ok $? "trace SVG has <svg"

expect_fail "missing input file" "no-such.json" "$SD" plot --input "$TMP/no-such.json" --out "$TMP/x.png"
expect_fail "malformed JSON names the file and line" "bad.json:1:" "$SD" plot --input "$TMP/bad.json" --out "$TMP/x.png"
expect_fail "JSON without a sequence" "no \"sequence\"" "$SD" plot --input "$TMP/noseq.json" --out "$TMP/x.png"
expect_fail "a sequence with a string in it" "\"sequence\"[1] is not a number" "$SD" plot --input "$TMP/nan.json" --out "$TMP/x.png"
expect_fail "unknown image extension" "x.jpg" "$SD" plot --input "$TMP/one.json" --out "$TMP/x.jpg"
[ ! -e "$TMP/x.jpg" ] && [ ! -e "$TMP/x.png" ]
ok $? "nothing written on failure"
expect_fail "--trace without a trace" "notrace.json: no \"trace\"" "$SD" plot --trace --input "$TMP/notrace.json" --out "$TMP/x.png"
expect_fail "--reference without --model" "--model" "$SD" plot --input "$TMP/one.json" --reference "$DATA/ucr-small.tsv" --out "$TMP/x.png"
expect_fail "--out is required" "--out" "$SD" plot --input "$TMP/one.json"
expect_fail "an image too small" "too" "$SD" plot --input "$TMP/two.json" --height 200 --out "$TMP/x.png"
exit $fail
