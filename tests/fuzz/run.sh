#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds the libFuzzer targets with clang and runs each for a bounded time, one after another.
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs among json npy safetensors onnx idx_image (default: every
# target built). Each run starts from a copy of tests/fuzz/corpus/<target> plus
# tests/fuzz/regressions/<target>, with tests/fuzz/dict/<target>.dict when there is one. Exits
# non-zero when any target crashes, leaks, times out or breaks an invariant; the reproducer is
# kept in $BUILD/run/<target>/artifacts/ (copy it into tests/fuzz/regressions/<target>/ once
# fixed). One summary line per target.
#
# Environment: DENSECL_FUZZ_BUILD (build directory, default build-fuzz), DENSECL_FUZZ_CC
# (default clang).
set -euo pipefail

secs=${1:-60}
shift || true
case "$secs" in
    '' | *[!0-9]*) echo "run.sh: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${DENSECL_FUZZ_BUILD:-$root/build-fuzz}
cc=${DENSECL_FUZZ_CC:-clang}

mkdir -p "$build"
cmake -S "$here" -B "$build" -DCMAKE_C_COMPILER="$cc" >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "run.sh: configuring the fuzzers failed" >&2
    exit 1
}
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 || {
    cat "$build/build.log" >&2
    echo "run.sh: building the fuzzers failed" >&2
    exit 1
}

if [ $# -eq 0 ]; then
    for t in json npy safetensors onnx idx_image; do
        [ -x "$build/fuzz_$t" ] && set -- "$@" "$t"
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for t in "$@"; do
    bin="$build/fuzz_$t"
    if [ ! -x "$bin" ]; then
        echo "fuzz $t: FAILED (no fuzzer $bin)"
        failed=1
        continue
    fi
    work="$build/run/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    for d in "$here/corpus/$t" "$here/regressions/$t"; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$work/corpus/" \;
    done
    opts=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
          -artifact_prefix="$work/artifacts/")
    [ -f "$here/dict/$t.dict" ] && opts+=(-dict="$here/dict/$t.dict")
    rc=0
    "$bin" "${opts[@]}" "$work/corpus" >"$work/log" 2>&1 || rc=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n1)
    last=$(grep -E '^#[0-9]+' "$work/log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    artifacts=$(find "$work/artifacts" -type f | wc -l)
    if [ "$rc" -eq 0 ] && [ "$artifacts" -eq 0 ]; then
        status=OK
    else
        status=FAILED
        failed=1
    fi
    echo "fuzz $t: $status ${secs}s execs=${execs:-?} exec/s=${speed:-?} cov=${cov:-?}" \
         "ft=${ft:-?} corpus=${corp:-?} crashes=$artifacts"
    if [ "$status" = FAILED ]; then
        grep -E 'ERROR|runtime error|invariant|SUMMARY|Test unit written' "$work/log" |
            head -n 20 | sed "s/^/  $t: /"
        echo "  $t: full log $work/log; reproduce with $bin $work/artifacts/<file>"
    fi
done
exit "$failed"
