#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# compile_time_test.sh COMPILE_TIME_SH DENSECL_COMPILE_TIME SOURCE_TREE - the cold-start compile
# timer (tools/dev/compile_time.sh over densecl-compile-time): two trees in alternation give a
# positive time for the build and each kernel named, per tree; a tree without kernels.cl, a
# kernel that is not there and a kernels.cl that does not build fail with a message.
set -uo pipefail
script=$1 tool=$2 src=$3
# shellcheck source=../support/lib.sh
. "$(dirname "$0")/../support/lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/compile-time.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export DENSECL_COMPILE_TIME=$tool

cp -r "$src/kernels.cl" "$src/kernels" "$dir/"
mkdir "$dir/copy" && cp -r "$src/kernels.cl" "$src/kernels" "$dir/copy/"
kernels="densecl_linear:64 densecl_maxpool:16"
if out=$("$script" --rounds 2 --options "-cl-std=CL1.2" --kernels "$kernels" "$dir" "$dir/copy" 2>&1); then
    for tree in "$dir" "$dir/copy"; do
        for item in build densecl_linear:64 densecl_maxpool:16; do
            if awk -v t="$tree" -v i="$item" '$1 == t && $2 == i && $3 > 0 && $4 == "s" { f = 1 }
                                              END { exit !f }' <<<"$out"; then
                ok "time of $tree $item"
            else
                bad "time of $tree $item" "none in: $out"
            fi
        done
    done
else
    bad "two trees" "$out"
fi

# expect_fail NAME PATTERN ARGS...: exit status not 0, PATTERN in the output.
expect_fail() {
    local name=$1 pattern=$2 out
    shift 2
    if out=$("$@" 2>&1); then
        bad "$name" "succeeded: $out"
    elif grep -q -- "$pattern" <<<"$out"; then
        ok "$name refused"
    else
        bad "$name" "no '$pattern' in: $out"
    fi
}
expect_fail "a tree without kernels.cl" "cannot read $dir/none/kernels.cl" \
    "$script" --rounds 1 --options "-cl-std=CL1.2" --kernels densecl_linear:64 "$dir/none"
expect_fail "a kernel not in the program" "densecl_nosuch: no such kernel" \
    "$script" --rounds 1 --options "-cl-std=CL1.2" --kernels densecl_nosuch "$dir"
echo "kernel void broken(void) { this is not OpenCL C }" >"$dir/copy/kernels.cl"
expect_fail "a kernels.cl that does not build" "the build failed" \
    "$script" --rounds 1 --options "-cl-std=CL1.2" --kernels broken "$dir/copy"
finish
