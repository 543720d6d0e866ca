#!/bin/bash
# SPDX-License-Identifier: MIT
# onnx_tests.sh DENSECL DIR
#
# The ONNX files of gen_onnx.py: each DIR/parity.tsv case is run with `DENSECL run --weights
# CASE.onnx` and its logits compared with torchvision's (compare_logits.py: max|diff| <= 1e-4 x
# max|expected|, same argmax); each DIR/refused.tsv file must be refused by `DENSECL run` with a
# status below 128, exactly one stderr line "densecl: error: ..." holding every ";"-separated
# text of its row (a "|" separates alternatives) and none of the ";"-separated texts of its
# third column (what must not leak: an outside file's name), and no output file. A missing
# device fails.
set -uo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DENSECL DIR" >&2
    exit 2
fi
densecl=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
python=${DENSECL_PYTHON:-/usr/bin/python3}
. "$here/../support/lib.sh"

for f in parity.tsv refused.tsv; do
    if [[ ! -f "$dir/$f" ]]; then
        echo "onnx_tests: no $dir/$f (run gen_onnx.py first)" >&2
        exit 1
    fi
done
work=$(mktemp -d "${TMPDIR:-/tmp}/densecl-onnx.XXXXXX")
trap 'rm -rf "$work"' EXIT
device=()
[[ -n "${DENSECL_TEST_DEVICE:-}" ]] && device=(--device "$DENSECL_TEST_DEVICE")

while read -r name; do
    [[ -z $name ]] && continue
    out="$work/$name.npy"
    capture "$work/out" "$work/err" "$densecl" run --weights "$dir/$name.onnx" \
        --input "$dir/$name.input.npy" --output "$out" "${device[@]}"
    if [[ $rc -ne 0 ]]; then
        bad "$name" "densecl exited with $rc: $(cat "$work/err")"
        continue
    fi
    if cmp=$("$python" "$here/../support/compare_logits.py" --name "$name" \
        "$dir/$name.expected.npy" "$out" 2>&1); then
        ok "$name: $cmp"
    else
        bad "$name" "$cmp"
    fi
done < "$dir/parity.tsv"

# Every ";" group of $2 has a "|" alternative in $1 (case-sensitive, fixed strings).
has_all() {
    local groups group alts alt found
    IFS=';' read -r -a groups <<< "$2"
    for group in "${groups[@]}"; do
        IFS='|' read -r -a alts <<< "$group"
        found=0
        for alt in "${alts[@]}"; do
            grep -qF -- "$alt" <<< "$1" && found=1
        done
        [[ $found -eq 1 ]] || { echo "$group"; return 1; }
    done
}

# has_none TEXT ABSENT: the first of ABSENT's ';'-separated strings that TEXT holds, if any.
has_none() {
    local -a groups
    IFS=';' read -r -a groups <<< "$2"
    for group in "${groups[@]}"; do
        [[ -n $group ]] && grep -qF -- "$group" <<< "$1" && { echo "$group"; return 1; }
    done
    return 0
}

while IFS=$'\t' read -r file expect absent; do
    [[ -z $file ]] && continue
    out="$work/refused.npy"
    rm -f "$out"
    capture "$work/out" "$work/err" "$densecl" run --weights "$dir/$file" \
        --input "$dir/bc100_op17.input.npy" --output "$out" "${device[@]}"
    err=$(cat "$work/err")
    lines=$(wc -l < "$work/err")
    if [[ $rc -eq 0 || $rc -ge 128 ]]; then
        bad "$file" "exit status $rc (want a refusal, 1..127): $err"
    elif [[ $lines -ne 1 || $err != "densecl: error: "* ]]; then
        bad "$file" "want one 'densecl: error:' line, got $lines: $err"
    elif missing=$(has_all "$err" "$expect"); [[ -n $missing ]]; then
        bad "$file" "the error does not say '$missing': $err"
    elif ! leaked=$(has_none "$err" "${absent:-}"); then
        bad "$file" "the error must not say '$leaked': $err"
    elif [[ -e $out ]]; then
        bad "$file" "an output file was left behind"
    else
        ok "$file: $err"
    fi
done < "$dir/refused.tsv"
finish
