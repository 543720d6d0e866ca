#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cl_count_check.sh DENSECL COUNTER MAX_LAUNCHES MAX_SETARGS [bench args...] - OpenCL calls per
# forward after the first, counted by the LD_PRELOAD counter (tests/support/cl_count.c) over two
# bench runs that differ only in their number of forwards (bench runs --iterations timed
# forwards and as many pipelined: 2 x 4 more in the second by default). Fails when a forward
# makes more kernel launches or clSetKernelArg calls than the budget. The environment picks the
# device and, with DENSECL_DEVICE_PROFILE, the device the kernels are resolved for.
set -uo pipefail
densecl=$1 counter=$2 max_launch=$3 max_setarg=$4
shift 4
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-count.XXXXXX")
trap 'rm -rf "$dir"' EXIT
# The counter comes first in the preload list; under ASan its runtime may not be first.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
# DC_CL_COUNT_RUNS="A B": the two runs' --iterations (default 2 6; fewer where forwards are slow).
read -r runs_a runs_b <<< "${DC_CL_COUNT_RUNS:-2 6}"
for n in "$runs_a" "$runs_b"; do
    if ! LD_PRELOAD="$counter${LD_PRELOAD:+:$LD_PRELOAD}" DC_CL_COUNT_OUT="$dir/$n.txt" \
        "$densecl" bench --iterations "$n" --warmup 0 "$@" > "$dir/$n.out" 2> "$dir/$n.err"; then
        echo "FAIL: densecl bench --iterations $n $*: $(cat "$dir/$n.err")"
        exit 1
    fi
    [ -s "$dir/$n.txt" ] || { echo "FAIL: the counter wrote nothing (was it preloaded?)"; exit 1; }
done
per() {
    join "$dir/$runs_a.txt" "$dir/$runs_b.txt" |
        awk -v f="$1" -v n=$((2 * (runs_b - runs_a))) '$1 == f { printf "%.1f", ($3 - $2) / n }'
}
launches=$(per clEnqueueNDRangeKernel)
setargs=$(per clSetKernelArg)
grep -m1 '^convs' "$dir/2.out"
echo "per forward after the first: $launches kernel launches (at most $max_launch)," \
    "$setargs clSetKernelArg (at most $max_setarg)"
awk -v l="$launches" -v s="$setargs" -v ml="$max_launch" -v ms="$max_setarg" \
    'BEGIN { exit !(l > 0 && l <= ml && s <= ms) }' || { echo "FAIL: over the budget"; exit 1; }
