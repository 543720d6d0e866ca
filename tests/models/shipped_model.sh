#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped Fashion-MNIST model through `densecl classify` on all 10,000 test images: at least
# 92% top-1, and the same prediction as PyTorch on the same weights for at least 99.9% of them.
# Usage: shipped_model.sh DENSECL SCRATCH_DIR
set -u
densecl=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py=${DENSECL_PYTHON:-/usr/bin/python3}
data=/usr/share/datasets/fashion-mnist
weights=$root/models/densenet-fashion.safetensors
rm -rf "$dir" && mkdir -p "$dir"

if [ ! -f "$weights" ]; then
    echo "FAIL: $weights is missing"
    echo "0 passed, 1 failed"
    exit 1
fi
"$densecl" classify --weights "$weights" --csv "$dir/densecl.csv" \
    --truth "$data/t10k-labels-idx1-ubyte.gz" "$data/t10k-images-idx3-ubyte.gz" \
    >"$dir/out" 2>"$dir/err" || { echo "FAIL: classify: $(cat "$dir/err")"; echo "0 passed, 1 failed"; exit 1; }
cat "$dir/out"
"$py" "$root/tools/dev/train_fashion_mnist.py" --evaluate "$weights" --threads 2 \
    --predictions "$dir/torch.npy" || { echo "FAIL: PyTorch evaluation"; echo "0 passed, 1 failed"; exit 1; }
"$py" - "$dir/densecl.csv" "$dir/torch.npy" "$data/t10k-labels-idx1-ubyte.gz" <<'PY'
import csv, gzip, sys
import numpy as np
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
ours = np.array([int(r["class_id"]) for r in sorted(rows, key=lambda r: int(r["index"]))])
theirs = np.load(sys.argv[2])
with gzip.open(sys.argv[3]) as f:
    truth = np.frombuffer(f.read()[8:], dtype=np.uint8).astype(np.int64)
passed = failed = 0
def check(name, ok, detail):
    global passed, failed
    print(("ok " if ok else "FAIL ") + name + ": " + detail)
    passed, failed = passed + ok, failed + (not ok)
check("10,000 rows", len(ours) == 10000 and len(theirs) == 10000, f"{len(ours)} rows")
if len(ours) == len(theirs) == len(truth):
    acc = float((ours == truth).mean())
    agree = float((ours == theirs).mean())
    check("accuracy >= 92%", acc >= 0.92, f"{acc:.4f}")
    check("agrees with PyTorch on >= 99.9%", agree >= 0.999,
          f"{agree:.4f} ({int((ours != theirs).sum())} differ)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
