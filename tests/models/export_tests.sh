#!/bin/bash
# SPDX-License-Identifier: MIT
# export_tests.sh DENSECL DENSECL_EXPORT DIR
#
# densecl-export round trips on gen_export.py's checkpoints (a state_dict, a checkpoint dict, a
# 'module.'-prefixed DDP checkpoint, a pickled whole model, 5-class and non-bottleneck models):
# each is converted to safetensors (and to ONNX where its row asks for --onnx), run with
# `DENSECL run`, and its logits compared with torchvision's (compare_logits.py: max|diff| <=
# 1e-4 x max|expected|, same argmax). The 5-class model's labels and preprocessing must be in
# its metadata and used by `DENSECL classify`. Then the converter's refusals: a checkpoint that
# is not the --model preset, a labels file of the wrong length, a file that is no checkpoint.
set -uo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 DENSECL DENSECL_EXPORT DIR" >&2
    exit 2
fi
densecl=$(realpath "$1")
export_tool=$(realpath "$2")
dir=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
python=${DENSECL_PYTHON:-/usr/bin/python3}
. "$here/../support/lib.sh"

[[ -f "$dir/cases.tsv" ]] || { echo "export_tests: no $dir/cases.tsv" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/densecl-export.XXXXXX")
trap 'rm -rf "$work"' EXIT
device=()
[[ -n "${DENSECL_TEST_DEVICE:-}" ]] && device=(--device "$DENSECL_TEST_DEVICE")

# run_compare NAME WEIGHTS: densecl's logits for NAME's input against torchvision's.
run_compare() {
    local name=$1 weights=$2 out="$work/$1.logits.npy"
    capture "$work/out" "$work/err" "$densecl" run --weights "$weights" \
        --input "$dir/$name.input.npy" --output "$out" "${device[@]}"
    if [[ $rc -ne 0 ]]; then
        bad "$name ($(basename "$weights"))" "densecl run exited $rc: $(cat "$work/err")"
        return
    fi
    local cmp
    if cmp=$("$python" "$here/../support/compare_logits.py" --name "$name" \
        "$dir/$name.expected.npy" "$out" 2>&1); then
        ok "$name ($(basename "$weights")): $cmp"
    else
        bad "$name ($(basename "$weights"))" "$cmp"
    fi
}

while IFS=$'\t' read -r name checkpoint args; do
    [[ -z $name ]] && continue
    st="$work/$name.safetensors"
    onnx=()
    read -r -a extra <<< "$args"
    for i in "${!extra[@]}"; do
        if [[ ${extra[$i]} == --onnx ]]; then
            extra[$i]="--onnx=$work/$name.onnx"
            onnx=("$work/$name.onnx")
        fi
    done
    # From DIR, so that a relative --labels file is found there.
    if ! (cd "$dir" && "$python" "$export_tool" --weights "$checkpoint" --out "$st" \
        "${extra[@]}") > "$work/export.log" 2>&1; then
        bad "$name" "densecl-export failed: $(cat "$work/export.log")"
        continue
    fi
    run_compare "$name" "$st"
    for f in "${onnx[@]}"; do
        run_compare "$name" "$f"
    done
done < "$dir/cases.tsv"

# The 5-class DDP checkpoint: labels and preprocessing in the metadata, as classify reads them.
st="$work/ddp_module_5class.safetensors"
if meta=$(TOOLS="$here/../../tools/export" "$python" - "$st" <<'PY' 2>&1
import json, sys
sys.path.insert(0, __import__("os").environ["TOOLS"])
from safetensors_io import read_safetensors
_, meta, _ = read_safetensors(sys.argv[1])
labels = json.loads(meta["densecl.labels"])
pre = json.loads(meta["densecl.preprocess"])
assert labels == ["daisy", "dandelion", "rose", "sunflower", "tulip"], labels
assert pre["crop"] == 64 and pre["resize"] == 72 and pre["channels"] == 3, pre
assert pre["mean"] == [0.5, 0.4, 0.3] and pre["std"] == [0.2, 0.25, 0.3], pre
assert "densecl.config" in meta and json.loads(meta["densecl.config"])["num_classes"] == 5
print("labels", labels, "preprocess", pre)
PY
); then
    ok "ddp_module_5class metadata: $meta"
else
    bad "ddp_module_5class metadata" "$meta"
fi
# classify on the safetensors file and on the ONNX one (its metadata_props): the same labels
# and the same answer.
for w in "$st" "$work/ddp_module_5class.onnx"; do
    capture "$work/out" "$work/err" "$densecl" classify --weights "$w" --top 5 \
        "$dir/image64.png" "${device[@]}"
    if [[ $rc -eq 0 ]] && grep -q "dandelion" "$work/out" && grep -q "tulip" "$work/out"; then
        ok "classify uses the exported labels ($(basename "$w")): $(head -n 1 "$work/out")"
        # The class order only: probabilities may differ in the last printed digit.
        head -n 1 "$work/out" | sed 's/^[^:]*: //; s/[0-9.]\+ //g' > "$work/top.$(basename "$w")"
    else
        bad "classify with exported labels ($(basename "$w"))" \
            "status $rc: $(cat "$work/out" "$work/err")"
    fi
done
if ! cmp -s "$work/top.$(basename "$st")" "$work/top.ddp_module_5class.onnx"; then
    bad "classify safetensors vs ONNX" "$(cat "$work"/top.*)"
else
    ok "classify safetensors vs ONNX: the same classes in the same order"
fi

# Refusals: one error line naming the problem, no output file.
refuse() {
    local name=$1 expect=$2
    shift 2
    rm -f "$work/refused.safetensors"
    capture "$work/out" "$work/err" "$python" "$export_tool" "$@" --out "$work/refused.safetensors"
    if [[ $rc -eq 0 ]]; then
        bad "$name" "densecl-export accepted it"
    elif ! grep -qF -- "$expect" "$work/err"; then
        bad "$name" "the error does not say '$expect': $(cat "$work/err")"
    elif [[ -e "$work/refused.safetensors" ]]; then
        bad "$name" "an output file was written"
    else
        ok "$name: $(tail -n 1 "$work/err")"
    fi
}
refuse "wrong preset" "is not a densenet169" --model densenet169 \
    --weights "$dir/state_dict_d121.pth"
refuse "labels count" "has 5 labels (one a line), the model has 1000 classes" \
    --weights "$dir/state_dict_d121.pth" --labels "$dir/labels5.txt"
refuse "not a checkpoint" "torch.load failed" --weights "$dir/labels5.txt"
refuse "mean without size" "need --size" --weights "$dir/plain_densenet.pth" --mean 0.5
finish
