#!/bin/sh
# SPDX-License-Identifier: MIT
# compile_time.sh - the compile time of a cold start per kernel, for one kernels.cl tree or
# several in alternation (a change and the tree before it): densecl-compile-time in ROUNDS
# rounds, each build on an empty POCL cache, and per tree the minimum over the rounds of the
# program's build and of each kernel's first launch (POCL's work-group compile and ld). A VM's
# other processes only ever add time, hence minima, and alternation so that trees meet the same
# spells of load.
#
#     tools/dev/compile_time.sh [--rounds N] [--options TEXT] [--kernels "K[:WG] ..."] TREE...
#
# --options: the build options (default: those of DenseNet-121's engine on this device, taken
# from DENSECL_BUILD_LOG of a `densecl bench` run of build/bin/densecl, or $DENSECL). --kernels:
# default the kernels DenseNet-121 launches on a CPU with AVX-512 (the pools in groups of 16 and
# 64, as there). Example, the tree before a change against the working tree:
#     git worktree add /tmp/before HEAD~1 && tools/dev/compile_time.sh /tmp/before .
set -eu

here=$(cd "$(dirname "$0")/../.." && pwd)
densecl=${DENSECL:-$here/build/bin/densecl}
tool=${DENSECL_COMPILE_TIME:-$here/build/bin/densecl-compile-time}
rounds=4
options=
kernels="densecl_conv7x7s2 densecl_maxpool:16 densecl_conv1x1 densecl_wino3x3 densecl_bnrelu_avgpool:16 densecl_bnrelu_gap:64 densecl_linear:64"
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --options) options=$2; shift 2 ;;
    --kernels) kernels=$2; shift 2 ;;
    -h | --help) sed -n '3,17p' "$0"; exit 0 ;;
    -*) echo "compile_time.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "compile_time.sh: no tree given" >&2; exit 2; }
[ -x "$tool" ] || { echo "compile_time.sh: $tool is not built (cmake --build build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

if [ -z "$options" ]; then
    POCL_CACHE_DIR=$work/pocl DENSECL_CACHE_DIR=$work/densecl DENSECL_BUILD_LOG=$work/log \
        "$densecl" bench --iterations 1 --warmup 0 >/dev/null
    options=$(sed -n '1s/^options: //p' "$work/log")
fi
echo "options: $options"
for _ in $(seq "$rounds"); do
    for tree in "$@"; do
        rm -rf "$work/pocl"
        # shellcheck disable=SC2086 # the kernel list is words
        if ! POCL_CACHE_DIR=$work/pocl "$tool" "$tree" "$options" $kernels >"$work/out"; then
            echo "compile_time.sh: densecl-compile-time failed on $tree" >&2
            exit 1
        fi
        awk -v t="$tree" '$NF == "s" && $1 != "kernels" { print t, $1, $(NF - 1) }' \
            "$work/out" >>"$work/times"
    done
done
# Per tree and item, the minimum over the rounds, in the order the items first came.
awk '{ k = $1 " " $2; if (!(k in m) || $3 < m[k]) m[k] = $3; if (!(k in seen)) { seen[k] = 1; o[n++] = k } }
     END { for (i = 0; i < n; i++) printf "%-40s %.3f s\n", o[i], m[o[i]] }' "$work/times"
