# SPDX-License-Identifier: MIT
# lib.sh - what the end-to-end test scripts share. Source it; then each case reports through
# ok NAME or bad NAME WHY, and the script ends with `finish`.
#
# The scripts print "ok NAME" or "FAIL NAME: why" per case and "N passed, N failed" last; ctest
# shows that output when a script fails.

passed=0
failed=0

ok() {
    echo "ok $1"
    passed=$((passed + 1))
}

bad() {
    echo "FAIL $1: $2"
    failed=$((failed + 1))
}

# capture OUT ERR COMMAND...: runs COMMAND with stdout in OUT and stderr in ERR; sets rc.
capture() {
    local out=$1 err=$2
    shift 2
    "$@" >"$out" 2>"$err"
    rc=$?
}

# The summary line; the status is non-zero when a case failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
