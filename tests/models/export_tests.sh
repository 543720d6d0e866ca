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
# is not the --model preset, a labels file of the wrong length, a file that is no checkpoint;
# pickles that would run code (never run: no marker file appears); the head mappings it prints;
# the command densecl's .pth hint names, run as given; and the output rules every densecl writer
# follows (README "The tools"): links, devices, FIFOs, a bind-mounted file, outputs that are
# inputs or each other.
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
    # A head that is not torchvision's classifier.*: the mapping used is printed.
    case $name in
    sequential_head_bc) want="prefix 'module.' dropped; head classifier.1.{bias,weight} read as classifier.*" ;;
    fc_head_bc) want="prefix 'model.' dropped; head fc.{bias,weight} read as classifier.*" ;;
    *) want= ;;
    esac
    if [[ -n $want ]]; then
        grep -qF -- "$want" "$work/export.log" && ok "$name: mapping printed: $want" ||
            bad "$name: mapping printed" "want '$want': $(cat "$work/export.log")"
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
refuse "not a checkpoint" "not a checkpoint that torch.load reads with weights_only=True" \
    --weights "$dir/labels5.txt"
refuse "mean without size" "need --size" --weights "$dir/plain_densenet.pth" --mean 0.5
refuse "a pickled whole model without --trust-pickle" \
    "class 'torchvision.models.densenet.DenseNet', which cannot be loaded without running code" \
    --weights "$dir/pickled_model_bc.pth"

# ------------------------------------------------------------------ pickles that run code
# Each would create $work/PWNED when unpickled: torch.save's zip and legacy formats, plain
# pickles (protocols 2 and 4: torch's legacy reader unpickles the file's first pickle first),
# and a valid checkpoint with a payload beside its state_dict, once after a float (torch 1.13's
# own safe unpickler stops at the float, and densecl-export's full-opcode one, with the same
# allowed globals, takes over). None may run, with or without --model.
if ! "$python" - "$work" "$dir/checkpoint_dict_bc.pth" <<'PY' > "$work/mk.log" 2>&1
import os, pickle, sys
import torch
work, good = sys.argv[1], sys.argv[2]
class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(work, "PWNED"),))
torch.save(Payload(), os.path.join(work, "evil_zip.pth"))
torch.save(Payload(), os.path.join(work, "evil_legacy.pth"), _use_new_zipfile_serialization=False)
with open(os.path.join(work, "evil_plain.pkl"), "wb") as f:
    pickle.dump(Payload(), f, protocol=2)
with open(os.path.join(work, "evil_plain4.pkl"), "wb") as f:
    pickle.dump({"lr": 0.1, "x": Payload()}, f, protocol=4)
with open(good, "rb") as f:  # (the test's own file: a plain load is safe here)
    sd = torch.load(f)["state_dict"]
torch.save({"state_dict": sd, "epoch": Payload()}, os.path.join(work, "evil_checkpoint.pth"))
torch.save({"state_dict": sd, "lr": 0.1, "epoch": Payload()},
           os.path.join(work, "evil_checkpoint_float.pth"), _use_new_zipfile_serialization=False)
torch.save({"classifier.0.weight": torch.zeros(3, 4), "classifier.3.weight": torch.zeros(2, 3),
            **{k: v for k, v in sd.items() if k.startswith("features.")}},
           os.path.join(work, "mlp_head.pth"))
PY
then
    bad "malicious pickles made" "$(cat "$work/mk.log")"
fi
refuse "an MLP head" "is not one Linear layer" --weights "$work/mlp_head.pth"
for f in evil_zip.pth evil_legacy.pth evil_plain.pkl evil_plain4.pkl evil_checkpoint.pth \
    evil_checkpoint_float.pth; do
    for model in "" densenet121; do
        rm -f "$work/PWNED" "$work/refused.safetensors"
        capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$work/$f" \
            ${model:+--model "$model"} --out "$work/refused.safetensors"
        if [[ -e "$work/PWNED" ]]; then
            bad "$f${model:+ --model $model}: no code runs" "the payload ran (exit $rc)"
        elif [[ $rc -eq 0 || -e "$work/refused.safetensors" ]]; then
            bad "$f${model:+ --model $model}: no code runs" "exit $rc, output written"
        elif ! grep -q "posix.system\|weights_only" "$work/err"; then
            bad "$f${model:+ --model $model}: no code runs" "the error: $(cat "$work/err")"
        else
            ok "$f${model:+ --model $model}: refused, no code ran: $(tail -n 1 "$work/err")"
        fi
    done
done

# ------------------------------------------------------------------ densecl's .pth hint
# `densecl run` on a checkpoint names a densecl-export command; run as given (densecl-export
# being this tree's), it must convert this checkpoint, a CIFAR DenseNet-BC (not densenet121).
cp "$dir/checkpoint_dict_bc.pth" "$work/hint.pth"
capture "$work/out" "$work/err" "$densecl" run --weights "$work/hint.pth" \
    --input "$dir/checkpoint_dict_bc.input.npy" --output "$work/hint.npy"
hint=$(sed -n 's/.*convert it with: densecl-export \(.*\) (it infers.*/\1/p' "$work/err")
if [[ $rc -eq 0 || -z $hint ]]; then
    bad ".pth hint" "exit $rc, no command: $(cat "$work/err")"
else
    read -r -a words <<< "$hint"
    capture "$work/out" "$work/err2" "$python" "$export_tool" "${words[@]}"
    if [[ $rc -eq 0 && -f "$work/hint.safetensors" ]]; then
        ok ".pth hint: 'densecl-export $hint' converts the checkpoint it saw"
        run_compare checkpoint_dict_bc "$work/hint.safetensors"
    else
        bad ".pth hint: 'densecl-export $hint'" "exit $rc: $(cat "$work/err2")"
    fi
fi

# ------------------------------------------------------------------ outputs
# The rules of every densecl writer (README "The tools"), here for --out and --onnx.
ck=$dir/plain_densenet.pth
cp "$ck" "$work/victim.pth"
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$work/victim.pth" \
    --out "$work/victim.pth"
if [[ $rc -eq 2 ]] && grep -q -- "--out .*victim.pth is also an input (--weights" "$work/err" &&
    cmp -s "$ck" "$work/victim.pth"; then
    ok "outputs: --out as --weights refused, the checkpoint intact"
else
    bad "outputs: --out as --weights refused" "exit $rc: $(cat "$work/err")"
fi
ln -sf victim.pth "$work/victim-link.pth"
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$work/victim.pth" \
    --out "$work/ok.safetensors" --onnx "$work/victim-link.pth"
if [[ $rc -eq 2 ]] && grep -q -- "--onnx .* is also an input" "$work/err" &&
    cmp -s "$ck" "$work/victim.pth" && [[ ! -e "$work/ok.safetensors" ]]; then
    ok "outputs: --onnx through a link to --weights refused before anything is written"
else
    bad "outputs: --onnx through a link to --weights refused" "exit $rc: $(cat "$work/err")"
fi
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$ck" \
    --out "$work/same.x" --onnx "$work/../$(basename "$work")/same.x"
if [[ $rc -eq 2 ]] && grep -q -- "--onnx .* is also the output of --out" "$work/err" &&
    [[ ! -e "$work/same.x" ]]; then
    ok "outputs: --out X --onnx X refused"
else
    bad "outputs: --out X --onnx X refused" "exit $rc: $(cat "$work/err")"
fi
mkdir -p "$work/adir"
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$ck" --out "$work/adir"
[[ $rc -ne 0 ]] && grep -q "adir is a directory" "$work/err" && ok "outputs: a directory refused" ||
    bad "outputs: a directory refused" "exit $rc: $(cat "$work/err")"
# The reference bytes, then the same bytes through a symlink, a character device, a FIFO.
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$ck" \
    --out "$work/ref.safetensors" --onnx "$work/ref.onnx"
[[ $rc -eq 0 ]] || bad "outputs: reference export" "exit $rc: $(cat "$work/err")"
ln -sf target.safetensors "$work/link.safetensors"
ln -sf target.onnx "$work/link.onnx"
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$ck" \
    --out "$work/link.safetensors" --onnx "$work/link.onnx"
if [[ $rc -eq 0 && -L "$work/link.safetensors" && -L "$work/link.onnx" ]] &&
    cmp -s "$work/target.safetensors" "$work/ref.safetensors" &&
    cmp -s "$work/target.onnx" "$work/ref.onnx"; then
    ok "outputs: symlinks' targets written, the links kept"
else
    bad "outputs: symlinks' targets written, the links kept" "exit $rc: $(ls -l "$work" | tr '\n' ' ')"
fi
# A node of /dev/null's device of our own (as root), so that a writer replacing it (0.6.0)
# cannot break the machine's /dev/null.
null=/dev/null
if [[ $(id -u) -eq 0 ]] && mknod "$work/null" c 1 3 2>/dev/null; then null=$work/null; fi
capture "$work/out" "$work/err" "$python" "$export_tool" --weights "$ck" --out "$null" \
    --onnx "$null"
[[ $rc -eq 0 && -c $null ]] && ok "outputs: --out and --onnx $null: it stays a device" ||
    bad "outputs: --out and --onnx $null" "exit $rc, $(ls -l "$null"): $(cat "$work/err")"
mkfifo "$work/fifo"
timeout 120 cat "$work/fifo" > "$work/from-fifo" &
reader=$!
capture "$work/out" "$work/err" timeout 120 "$python" "$export_tool" --weights "$ck" \
    --out "$work/fifo"
wait "$reader"
if [[ $rc -eq 0 && -p "$work/fifo" ]] && cmp -s "$work/from-fifo" "$work/ref.safetensors"; then
    ok "outputs: a FIFO's reader gets the file, the FIFO stays"
else
    bad "outputs: a FIFO's reader gets the file" "exit $rc: $(cat "$work/err")"
fi
# A bind-mounted single file (docker -v out:/out): written in place, with one note said before
# the work; the mount's source gets the bytes.
if [[ $(id -u) -ne 0 ]] || ! unshare -m true 2>/dev/null; then
    bad "outputs: a bind-mounted file" "needs root and unshare -m (CI runs as root)"
else
    echo old > "$work/host.safetensors"
    : > "$work/mnt.safetensors"
    capture "$work/out" "$work/err" unshare -m --propagation private sh -c \
        'mount --bind "$1" "$2" && exec "$3" "$4" --weights "$5" --out "$2"' sh \
        "$work/host.safetensors" "$work/mnt.safetensors" "$python" "$export_tool" "$ck"
    if [[ $rc -eq 0 ]] && cmp -s "$work/host.safetensors" "$work/ref.safetensors" &&
        [[ $(grep -c "note: .*mnt.safetensors is a mount point" "$work/err") -eq 1 ]] &&
        [[ -z $(ls -A "$work" | grep densecl-) ]]; then
        ok "outputs: a bind-mounted file is written in place, said once"
    else
        bad "outputs: a bind-mounted file" "exit $rc: $(cat "$work/err")"
    fi
fi
finish
