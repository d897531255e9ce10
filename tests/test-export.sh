#!/bin/sh
# PyTorch interchange (TAP): models exported by examples/export_pytorch.py
# load in seqdream and give PyTorch's logits (1e-4 relative), and seqdream's
# own model files load in PyTorch with the same logits. Skipped where
# Debian's python3-torch is not installed (scripts/install-deps.sh --torch).
# Usage: test-export.sh SEQDREAM SOURCE_ROOT
set -u
SD=$1
ROOT=$2
PY=/usr/bin/python3
DATA=$ROOT/tests/data/ucr-small.tsv
if ! $PY -c "import torch" 2>/dev/null; then
  echo "1..0 # SKIP python3-torch is not installed"
  exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "1..4"
n=0
fail=0
compare () {
  # compare TORCH_JSONL SEQDREAM_JSONL: max |a - b| / max |b| <= 1e-4
  $PY - "$1" "$2" <<'PY'
import json, sys
t = [json.loads(l)["logits"] for l in open(sys.argv[1])]
s = [json.loads(l)["logits"] for l in open(sys.argv[2])]
assert len(t) == len(s) and len(t) > 0, (len(t), len(s))
diff = max(abs(a - b) for x, y in zip(t, s) for a, b in zip(x, y))
ref = max(abs(b) for x in t for b in x)
print(f"# max |torch - seqdream| = {diff:.3g}, relative {diff / ref:.3g}")
sys.exit(0 if diff <= 1e-4 * ref else 1)
PY
}
for arch in resnet-small fcn-small fcn; do
  n=$((n + 1))
  if $PY "$ROOT/examples/export_pytorch.py" --out "$TMP/$arch.safetensors" \
       --arch $arch --seed 3 --data "$DATA" >/dev/null \
     && $PY "$ROOT/examples/export_pytorch.py" --check "$TMP/$arch.safetensors" \
       --input "$DATA" >"$TMP/torch.jsonl" 2>"$TMP/err" \
     && "$SD" predict --model "$TMP/$arch.safetensors" --data "$DATA" --json \
       >"$TMP/sd.jsonl" \
     && compare "$TMP/torch.jsonl" "$TMP/sd.jsonl"; then
    echo "ok $n - $arch exported by PyTorch gives PyTorch's logits in seqdream"
  else
    echo "not ok $n - $arch exported by PyTorch gives PyTorch's logits in seqdream"
    fail=1
  fi
done
n=$((n + 1))
if "$SD" train --data "$DATA" --arch fcn-small --epochs 2 --seed 1 -q \
     --out "$TMP/c.safetensors" >/dev/null \
   && $PY "$ROOT/examples/export_pytorch.py" --check "$TMP/c.safetensors" \
     --input "$DATA" >"$TMP/torch.jsonl" 2>"$TMP/err" \
   && "$SD" predict --model "$TMP/c.safetensors" --data "$DATA" --json \
     >"$TMP/sd.jsonl" \
   && compare "$TMP/torch.jsonl" "$TMP/sd.jsonl"; then
  echo "ok $n - a model trained by seqdream gives the same logits in PyTorch"
else
  echo "not ok $n - a model trained by seqdream gives the same logits in PyTorch"
  fail=1
fi
exit $fail
