#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples.sh - the README's embedding examples run, exit 0, and give the reference's numbers
# (tests/cli/example_reference.c: the same inputs through a DenseNet on the naive reference
# ops). The exit status of the example and of the comparison both count.
#
#   examples.sh embed EXAMPLE REFERENCE SCRATCH [WEIGHTS]
#   examples.sh pipeline EXAMPLE REFERENCE SCRATCH WEIGHTS|- BATCHES BATCH
set -u
if [ $# -lt 4 ]; then
    echo "usage: $0 embed|pipeline EXAMPLE REFERENCE SCRATCH ..." >&2
    exit 2
fi
mode=$1 example=$2 reference=$3 dir=$4
shift 4
rm -rf "$dir" && mkdir -p "$dir" || exit 2

case $mode in
embed)
    "$example" "$@" >"$dir/out" 2>"$dir/err"
    rc=$?
    cat "$dir/out" "$dir/err"
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: the example exited with status $rc"
        exit 1
    fi
    "$reference" embed "$dir/out" "$@"
    ;;
pipeline)
    [ $# -eq 3 ] || { echo "usage: $0 pipeline EXAMPLE REFERENCE SCRATCH WEIGHTS|- BATCHES BATCH" >&2; exit 2; }
    "$example" "$1" "$2" "$3" "$dir/first.f32" >"$dir/out" 2>"$dir/err"
    rc=$?
    cat "$dir/out" "$dir/err"
    if [ "$rc" -ne 0 ]; then
        echo "FAIL: the example exited with status $rc"
        exit 1
    fi
    if ! grep -Eq 'the same logits both ways; pipelined [0-9.]+ images/s' "$dir/out"; then
        echo "FAIL: the example did not say its pipelined logits equal the blocking run's"
        exit 1
    fi
    "$reference" pipeline "$1" "$3" "$dir/first.f32"
    ;;
*)
    echo "$0: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
