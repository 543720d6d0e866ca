#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# oclgrind_tests.sh DENSECL TEST_CONV_GEMM SCRATCH - the gemm family's GPU semantics checked on
# the CPU: Debian's oclgrind (an OpenCL device simulator) runs, with --data-races, at each device
# profile's limits (--local-mem-size, --max-wgsize):
#   - test_conv_gemm's small cases on the gemm family as each of the four device profiles
#     resolves it (its "gpu" set under --profile), every output checked against the C reference;
#   - the shipped Fashion-MNIST model at batch 2 under nvidia-h200 (local-memory tiles, K split)
#     and mali-g710 (no local memory), its logits against the same model's on POCL's default
#     path;
#   - the same model on the CPU families as AVX-512 CPUs build them (the staged direct 1x1,
#     winograd), its logits against the same reference.
# Any oclgrind report (a data race, an invalid access, work-group divergence) fails it, and so
# does a run that did not happen on oclgrind's device: a missing oclgrind, a test that ran no
# case, a model that ran elsewhere. Nothing here is skipped.
set -uo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 DENSECL TEST_CONV_GEMM SCRATCH" >&2
    exit 2
fi
densecl=$1
test_conv_gemm=$2
scratch=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${DENSECL_PYTHON:-/usr/bin/python3}
model=$root/models/densenet-fashion.safetensors
failed=0

fail() {
    echo "oclgrind_tests: FAIL: $*" >&2
    failed=1
}

if ! command -v oclgrind >/dev/null; then
    echo "oclgrind_tests: FAIL: oclgrind is not installed (Debian: apt-get install oclgrind)" >&2
    exit 1
fi
rm -rf "$scratch"
mkdir -p "$scratch" || exit 1

# oclgrind's reports, one pattern: races, invalid accesses, divergence, its error summary.
reports='data race|Invalid (read|write)|divergence|Uninitialized|Oclgrind: [0-9]+ error'

# The limits a profile reports: "... 48 KiB local memory ..., work-groups of 1024, ...".
limits() {
    local line
    line=$(DENSECL_DEVICE_PROFILE=$1 "$densecl" info 2>/dev/null | sed -n 's/^profile: //p')
    local kib wg
    kib=$(sed -n 's/.* \([0-9][0-9]*\) KiB local memory.*/\1/p' <<<"$line")
    wg=$(sed -n 's/.*work-groups of \([0-9][0-9]*\).*/\1/p' <<<"$line")
    [ -n "$kib" ] && [ -n "$wg" ] || return 1
    echo "--local-mem-size $((kib * 1024)) --max-wgsize $wg"
}

# Small cases: every kernel (1x1 with and without the prologue, 3x3 one-tap with it, the stem,
# the general kernel across taps), in place, masked rows and columns, split and not.
cases=(--case "1x1: prefix" --case "cin a multiple of KWG" --case "stem 7x7/2/3, cin 3"
       --case "3x3/2/1, one tap" --case "1x1 in place" --case "pads 0, not P(0)"
       --case "1x1 on 1x1 images" --case "cin 3 below KWG")

for profile in nvidia-h200 amd-mi300x intel-arc-a770 mali-g710; do
    if ! lim=$(limits "$profile"); then
        fail "$profile: densecl info does not say its limits"
        continue
    fi
    log=$scratch/test_conv_gemm.$profile.log
    start=$(date +%s)
    # shellcheck disable=SC2086
    oclgrind --data-races --max-errors 20 $lim "$test_conv_gemm" --set gpu \
        --profile "$profile" "${cases[@]}" >"$log" 2>&1
    status=$?
    echo "oclgrind_tests: test_conv_gemm as $profile ($lim): status $status," \
         "$(( $(date +%s) - start )) s"
    [ $status -eq 0 ] || fail "$profile: test_conv_gemm exited $status (see $log)"
    grep -q "^device: Oclgrind Simulator" "$log" || fail "$profile: test_conv_gemm did not run on oclgrind"
    grep -Eq "^\[gpu\] [1-9][0-9]* convs" "$log" || fail "$profile: test_conv_gemm ran no conv"
    grep -Eq " 0 failed$" "$log" || fail "$profile: test_conv_gemm failed (see $log)"
    if grep -Eq "$reports" "$log"; then
        grep -E -m 5 -A 8 "$reports" "$log" >&2
        fail "$profile: oclgrind reports (see $log)"
    fi
done

# model_on_oclgrind NAME LABEL CONVS ENV [OCLGRIND OPTION...] -- [DENSECL OPTION...]: the
# shipped model on oclgrind (ENV: one VAR=VALUE for densecl, or ""), its log saying CONVS of the
# convs, no oclgrind report, and its logits those of the reference run.
model_on_oclgrind() {
    local name=$1 label=$2 convs=$3 envs=() og=() log=$scratch/model.$1.log start status
    [ -n "$4" ] && envs=("$4")
    shift 4
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        og+=("$1")
        shift
    done
    shift
    start=$(date +%s)
    env "${envs[@]}" oclgrind --data-races --max-errors 20 "${og[@]}" \
        "$densecl" run --verbose --no-kernel-cache "$@" --weights "$model" --input "$input" \
        --output "$scratch/$name.npy" >"$log" 2>&1
    status=$?
    echo "oclgrind_tests: the Fashion-MNIST model $label: status $status," \
         "$(( $(date +%s) - start )) s"
    [ $status -eq 0 ] || fail "$name: densecl run exited $status (see $log)"
    grep -q "$convs" "$log" ||
        fail "$name: the model's convs did not run as '$convs' on oclgrind (see $log)"
    if grep -Eq "$reports" "$log"; then
        grep -E -m 5 -A 8 "$reports" "$log" >&2
        fail "$name: oclgrind reports (see $log)"
    fi
    [ $status -eq 0 ] &&
        "$python" "$root/tests/support/compare_logits.py" --name "fashion-$name" "$scratch/ref.npy" \
            "$scratch/$name.npy" || fail "$name: logits differ from the reference"
}

# The shipped model at batch 2: its logits on POCL's default path, then on oclgrind.
input=$scratch/fashion2.npy
if ! "$python" -c "import numpy as np; np.save('$input', np.random.RandomState(7).rand(2, 1, 28, 28).astype(np.float32))"; then
    fail "cannot write the input with $python"
elif ! "$densecl" run --weights "$model" --input "$input" --output "$scratch/ref.npy" \
         >"$scratch/ref.log" 2>&1; then
    fail "the reference run on the default device failed (see $scratch/ref.log)"
else
    for profile in nvidia-h200 mali-g710; do
        lim=$(limits "$profile") || { fail "$profile: no limits"; continue; }
        # shellcheck disable=SC2086
        model_on_oclgrind "$profile" "as $profile ($lim)" "convs on 'Oclgrind Simulator': .*gemm" \
            "DENSECL_DEVICE_PROFILE=$profile" $lim --
    done
    # The CPU path, as AVX-512 CPUs build it: the staged 1x1 kernel (its local-memory chunk and
    # sums, 8x32 tiles of float16, and the pair tiles on the 7x7 images of block 3 and the last
    # transition) and winograd for the 3x3 convs; PREFETCH=0, since oclgrind has no
    # llvm.prefetch. oclgrind's device has no limits to model here.
    model_on_oclgrind cpu "on the CPU families" \
        "convs on 'Oclgrind Simulator': 1x1=direct 3x3=winograd; direct:.*STAGE=1" "" -- \
        --conv winograd \
        --kernel-params "direct:1x1=8x32,VEC=16,PREFETCH=0,STAGE=1,PAIRS=1;winograd:VEC=16,CO=32,CK=32"
fi
if [ $failed -ne 0 ]; then
    exit 1
fi
echo "oclgrind_tests: PASS"
