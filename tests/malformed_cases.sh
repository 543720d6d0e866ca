#!/bin/bash
# malformed_cases.sh DENSECL OUTDIR
#
# Runs `DENSECL run` on every case of OUTDIR/cases.tsv (written by gen_malformed.py). A broken
# case passes when densecl exits non-zero without crashing (status < 128, no timeout, no sanitizer
# report), prints exactly one stderr line "densecl: error: ..." containing the expected texts,
# and leaves nothing in the output directory. An "OK" case must succeed and write its output.
# $DENSECL_TEST_DEVICE, when set, is passed as --device. Ends with "N passed, N failed".
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
trap 'rm -rf "$work"' EXIT

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

echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
