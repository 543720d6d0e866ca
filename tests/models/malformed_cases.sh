#!/bin/bash
# SPDX-License-Identifier: MIT
# malformed_cases.sh DENSECL OUTDIR
#
# Runs `DENSECL run` on every case of OUTDIR/cases.tsv (written by gen_malformed.py). A broken
# case passes when densecl exits non-zero without crashing (status < 128, no timeout, no sanitizer
# report), prints exactly one stderr line "densecl: error: ..." containing the expected texts,
# and leaves nothing in the output directory. An "OK" case must succeed and write its output.
# $DENSECL_TEST_DEVICE, when set, is passed as --device.
#
# Then the rewrite race (issue 15): 30 loads of a weights file that a background loop keeps
# rewriting with cp (truncate, then write) from two valid files of different sizes. A load may
# see either file or a file in the middle of being written, so it may fail, but only cleanly:
# never a signal (SIGBUS, exit 135, when the file was mmap'd), always one error line, naming the
# weights file, or the input's channels (the 3-channel race model loaded; the input has 1).
#
# Last, `classify --truth` with weights holding a NaN (gen_malformed.py's fashion_nan): one error
# line naming the tensor, and no accuracy (constant answers scored about 10% before).
# Ends with "N passed, N failed".
set -uo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 DENSECL OUTDIR" >&2
    exit 2
fi
densecl=$1
dir=$2
limit_s=${DENSECL_CASE_TIMEOUT:-300}

if [[ ! -f "$dir/cases.tsv" ]]; then
    echo "malformed_cases: no $dir/cases.tsv (run gen_malformed.py first)" >&2
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/densecl-malformed.XXXXXX")
writer=
trap '[[ -n $writer ]] && kill "$writer" 2> /dev/null; rm -rf "$work"' EXIT

# contains_groups TEXT EXPECT: every ";" group of EXPECT has a "|" alternative in TEXT
# (case-insensitive, fixed strings). Prints the first group that does not match.
contains_groups() {
    local text=$1 groups alternatives group alt found
    IFS=';' read -r -a groups <<< "$2"
    for group in "${groups[@]}"; do
        IFS='|' read -r -a alternatives <<< "$group"
        found=0
        for alt in "${alternatives[@]}"; do
            if grep -qiF -- "$alt" <<< "$text"; then
                found=1
                break
            fi
        done
        if [[ $found -eq 0 ]]; then
            echo "$group"
            return 1
        fi
    done
    return 0
}

# check_error STATUS STDERR_FILE OUTDIR EXPECT: prints the problems of a failed run (none: pass)
check_error() {
    local status=$1 err_file=$2 outdir=$3 expect=$4 lines first missing
    if [[ $status -eq 0 ]]; then
        echo "exited 0 on a broken input"
    elif [[ $status -eq 124 ]]; then
        echo "timed out after ${limit_s} s"
    elif [[ $status -ge 128 ]]; then
        echo "crashed: exit status $status (signal $((status - 128)))"
    fi
    if grep -qE 'Sanitizer|runtime error:' "$err_file"; then
        echo "sanitizer report on stderr"
    fi
    lines=$(grep -c '' "$err_file")
    first=$(head -n 1 "$err_file")
    if [[ $lines -ne 1 ]]; then
        echo "stderr has $lines lines, expected 1"
    fi
    if [[ $first != "densecl: error: "* ]]; then
        echo "stderr does not start with 'densecl: error: '"
    fi
    if ! missing=$(contains_groups "$first" "$expect"); then
        echo "message lacks any of: $missing"
    fi
    if [[ -n $(ls -A "$outdir") ]]; then
        echo "left files in the output directory: $(ls -A "$outdir" | tr '\n' ' ')"
    fi
}

passed=0
failed=0
while IFS=$'\t' read -r name weights input args expect; do
    [[ -z $name ]] && continue
    outdir="$work/$name"
    mkdir -p "$outdir"
    extra=()
    [[ $args != "-" ]] && read -r -a extra <<< "$args"
    [[ -n "${DENSECL_TEST_DEVICE:-}" ]] && extra+=(--device "$DENSECL_TEST_DEVICE")
    status=0
    timeout "$limit_s" "$densecl" run --weights "$dir/$weights" --input "$dir/$input" \
        --output "$outdir/out.npy" "${extra[@]}" < /dev/null > "$work/stdout" 2> "$work/stderr" \
        || status=$?
    if [[ $expect == "OK" ]]; then
        problems=""
        [[ $status -ne 0 ]] && problems="exited with status $status on a valid input"
        [[ $status -eq 0 && ! -s "$outdir/out.npy" ]] && problems="exited 0 but wrote no output"
    else
        problems=$(check_error "$status" "$work/stderr" "$outdir" "$expect")
    fi
    if [[ -z $problems ]]; then
        passed=$((passed + 1))
        if [[ $expect == "OK" ]]; then
            echo "ok   $name: exit 0, output written"
        else
            echo "ok   $name: $(head -n 1 "$work/stderr")"
        fi
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit status $status)"
        sed 's/^/       /' <<< "$problems"
        echo "     stderr:"
        sed 's/^/       | /' "$work/stderr" | head -n 20
        if [[ -s "$work/stdout" ]]; then
            echo "     stdout:"
            sed 's/^/       | /' "$work/stdout" | head -n 5
        fi
    fi
done < "$dir/cases.tsv"

# check_race STATUS STDERR_FILE: the problems of one load during the rewrite race (none: pass)
check_race() {
    local status=$1 err_file=$2 first
    first=$(head -n 1 "$err_file")
    if [[ $status -ge 124 ]]; then
        echo "exit status $status (signal $((status - 128)) when above 128)"
    elif [[ $status -ne 1 ]]; then
        echo "exit status $status, expected 1"
    fi
    if [[ $(grep -c '' "$err_file") -ne 1 || $first != "densecl: error: "* ]]; then
        echo "stderr is not one 'densecl: error: ' line"
    elif ! grep -qF -e "race.safetensors" -e "channel" <<< "$first"; then
        echo "the error names neither the weights file nor the input's channels"
    fi
}

race_file="$work/race.safetensors"
cp "$dir/race_f32.safetensors" "$race_file"
(
    while [[ ! -e "$work/race.stop" ]]; do
        cp "$dir/race_f16.safetensors" "$race_file"
        cp "$dir/race_f32.safetensors" "$race_file"
    done
) &
writer=$!
race_failed=0
loaded=0
for i in $(seq 1 30); do
    status=0
    timeout "$limit_s" "$densecl" run --weights "$race_file" --input "$dir/base.input.npy" \
        --output "$work/race.npy" < /dev/null > /dev/null 2> "$work/stderr" || status=$?
    problems=$(check_race "$status" "$work/stderr")
    grep -qF "channel" "$work/stderr" && loaded=$((loaded + 1))
    [[ -n ${DENSECL_RACE_LOG:-} ]] && cat "$work/stderr" >> "$DENSECL_RACE_LOG"
    if [[ -n $problems ]]; then
        race_failed=1
        echo "FAIL rewrite_race, load $i (exit status $status)"
        sed 's/^/       /' <<< "$problems"
        sed 's/^/       | /' "$work/stderr" | head -n 5
    fi
done
touch "$work/race.stop" # the writer finishes its cp and stops (a kill could orphan a cp)
wait "$writer"
writer=
if [[ $race_failed -eq 0 ]]; then
    passed=$((passed + 1))
    echo "ok   rewrite_race: 30 loads while the file was rewritten, $loaded of them loaded it"
else
    failed=$((failed + 1))
fi

fashion=/usr/share/datasets/fashion-mnist
mkdir -p "$work/classify_nan"
status=0
timeout "$limit_s" "$densecl" classify --weights "$dir/fashion_nan.safetensors" --limit 20 \
    --truth "$fashion/t10k-labels-idx1-ubyte.gz" "$fashion/t10k-images-idx3-ubyte.gz" \
    < /dev/null > "$work/stdout" 2> "$work/stderr" || status=$?
problems=$(check_error "$status" "$work/stderr" "$work/classify_nan" \
    "fashion_nan.safetensors;features.conv0.weight;nan;index 7")
if grep -qi "accuracy" "$work/stdout"; then
    line=$(grep -i accuracy "$work/stdout" | head -n 1)
    problems+="${problems:+$'\n'}printed an accuracy: $line"
fi
if [[ -z $problems ]]; then
    passed=$((passed + 1))
    echo "ok   classify_truth_nan_weights: $(head -n 1 "$work/stderr")"
else
    failed=$((failed + 1))
    echo "FAIL classify_truth_nan_weights (exit status $status)"
    sed 's/^/       /' <<< "$problems"
    sed 's/^/       | /' "$work/stderr" | head -n 5
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
