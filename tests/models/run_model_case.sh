#!/bin/bash
# SPDX-License-Identifier: MIT
# run_model_case.sh DENSECL FIXDIR CASE [CONV]
#
# Runs `DENSECL run` on the fixture CASE (written by gen_fixtures.py) and compares the logits with
# torchvision's. Fails when the run fails for any reason, a missing OpenCL device included: a
# model test is never skipped. $DENSECL_TEST_DEVICE, when set, is passed as --device. CONV (or
# else $DENSECL_TEST_CONV), when given, is passed as --conv: every conv on that family, and a
# family that cannot run one of the model's convs fails the case.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
    echo "usage: $0 DENSECL FIXDIR CASE [CONV]" >&2
    exit 2
fi
densecl=$1
fixdir=$2
case_name=$3
conv=${4:-${DENSECL_TEST_CONV:-}}
here=$(cd "$(dirname "$0")" && pwd)
python=${DENSECL_PYTHON:-/usr/bin/python3}

for suffix in .safetensors .input.npy .expected.npy .args; do
    if [[ ! -f "$fixdir/$case_name$suffix" ]]; then
        echo "$case_name: FAIL: missing fixture $fixdir/$case_name$suffix" >&2
        exit 1
    fi
done

extra_args=()
read -r -a extra_args < "$fixdir/$case_name.args" || true
if [[ -n "${DENSECL_TEST_DEVICE:-}" ]]; then
    extra_args+=(--device "$DENSECL_TEST_DEVICE")
fi
if [[ -n "$conv" ]]; then
    extra_args+=(--conv "$conv")
fi

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/densecl-$case_name.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT
out="$tmpdir/logits.npy"

cmd=("$densecl" run --weights "$fixdir/$case_name.safetensors"
     --input "$fixdir/$case_name.input.npy" --output "$out" "${extra_args[@]}")
echo "+ ${cmd[*]}"
status=0
"${cmd[@]}" || status=$?
if [[ $status -ne 0 ]]; then
    echo "$case_name: FAIL: densecl exited with status $status" >&2
    exit 1
fi
if [[ ! -f "$out" ]]; then
    echo "$case_name: FAIL: densecl exited 0 but wrote no $out" >&2
    exit 1
fi
"$python" "$here/../support/compare_logits.py" --name "$case_name" \
    "$fixdir/$case_name.expected.npy" "$out"
