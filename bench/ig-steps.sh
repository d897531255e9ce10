#!/bin/sh
# How many trapezoid intervals integrated gradients need on the default
# model: 20 test windows (hop 2048) of each CWRU 0.007 in. recording,
# attributed with --steps 8, 16 and 32 (refined to 1 % completeness, as
# the element does) and with the Gauss-Legendre rule at 8 and 16 nodes,
# against 1024 intervals without refinement. Prints per recording and
# setting the intervals used (the cost), the relative L2 distance to the
# 1024-interval attribution, the least correlation and the worst
# completeness error.
#   bench/ig-steps.sh [--builddir DIR] [--model FILE]
set -eu
cd "$(dirname "$0")/.."
B=build
M=models/cwru-fcn-pool.safetensors
while [ $# -gt 0 ]; do
  case $1 in
    --builddir) B=$2; shift 2 ;;
    --model) M=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
W=${SEQDREAM_DATA:-../shared/data}/cwru/wav
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ex() {
  r=$1; out=$2; shift 2
  "$B/tools/seqdream" explain --model "$M" --wav "$W/${r}_0hp_DE_48k.wav" \
    --part test --hop 2048 -n 20 -j 1 -o "$tmp/$r.$out.json" "$@"
}
for r in 097_normal 109_IR007 122_B007 135_OR007; do
  for s in 8 16 32; do ex $r $s --steps $s; done
  for s in 8 16; do ex $r gl$s --steps $s --rule gauss-legendre; done
  ex $r ref --steps 1024 --tolerance 0 --max-steps 1024
done
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
import numpy as np
tmp = sys.argv[1]
print("| recording | rule | intervals used (mean, max) | rel. L2 to 1024 (median, max) | least correlation | worst completeness error |")
print("|---|---|---|---|---|---|")
def gap(a):
    return abs(a["sum"] - (a["logit"] - a["baseline_logit"])) / abs(a["logit"] - a["baseline_logit"])
for r in ["097_normal", "109_IR007", "122_B007", "135_OR007"]:
    ref = [json.loads(l) for l in open(f"{tmp}/{r}.ref.json")]
    for s, name in [("8", "trapezoid 8, refined"), ("16", "trapezoid 16, refined"),
                    ("32", "trapezoid 32, refined"), ("gl8", "Gauss-Legendre 8"),
                    ("gl16", "Gauss-Legendre 16")]:
        d = [json.loads(l) for l in open(f"{tmp}/{r}.{s}.json")]
        err = [np.linalg.norm(np.array(a["attribution"]) - np.array(b["attribution"]))
               / np.linalg.norm(np.array(b["attribution"])) for a, b in zip(d, ref)]
        cor = [np.corrcoef(a["attribution"], b["attribution"])[0, 1] for a, b in zip(d, ref)]
        steps = [a["steps"] for a in d]
        print(f"| {r} | {name} | {np.mean(steps):.1f}, {max(steps)} | "
              f"{np.median(err):.4f}, {max(err):.4f} | {min(cor):.5f} | {max(gap(a) for a in d):.4f} |")
    print(f"| {r} | trapezoid 1024 (reference) | 1024 | 0 | 1 | {max(gap(b) for b in ref):.4f} |")
PY
