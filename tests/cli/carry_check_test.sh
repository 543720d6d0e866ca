#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# carry_check_test.sh DENSECL DENSECL_QUERY CARRY_CHECK - the GPU pack's library check
# (tools/dev/carry_check.sh): a binary whose libraries are all carried or on every machine
# passes; one that needs a library neither carried nor allowed fails, naming it (the MPI build
# of densecl needs libmpi.so.40: a GPU machine without Open MPI could not start it).
set -uo pipefail
densecl=$1 query=$2 check=$3
# shellcheck source=../support/lib.sh
. "$(dirname "$0")/../support/lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/carry-check.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# A sanitizer build (tools/test.sh --asan) also needs its runtimes, which a GPU pack (Release)
# never carries: carried here like the others.
sanitizers=$(ldd "$query" | awk '$1 ~ /^lib(asan|ubsan)\.so/ { print $1 }')
for lib in libOpenCL.so.1 libprotobuf-c.so.1 libclblast.so.1 $sanitizers; do
    path=$(ldd "$query" "$densecl" | awk -v l="$lib" '$1 == l { print $3; exit }')
    [ -n "$path" ] && cp -L "$path" "$dir/"
done
[ -f "$dir/libOpenCL.so.1" ] || bad "libOpenCL.so.1 found" "densecl-query links no libOpenCL.so.1"

if out=$("$check" "$dir" "$query" 2>&1); then
    ok "densecl-query with its libraries carried"
else
    bad "densecl-query with its libraries carried" "$out"
fi
rm -f "$dir/libprotobuf-c.so.1"
if out=$("$check" "$dir" "$query" 2>&1); then
    bad "a library neither carried nor allowed is named" "densecl-query without libprotobuf-c.so.1 carried passed"
elif grep -q "needs libprotobuf-c.so.1" <<< "$out"; then
    ok "a library neither carried nor allowed is named"
else
    bad "a library neither carried nor allowed is named" "no line naming libprotobuf-c.so.1: $out"
fi
if ldd "$densecl" | grep -q 'libmpi\.so'; then
    path=$(ldd "$densecl" | awk '$1 == "libprotobuf-c.so.1" { print $3 }')
    cp -L "$path" "$dir/"
    if out=$("$check" "$dir" "$densecl" 2>&1); then
        bad "the MPI build of densecl is refused for its libmpi" "it passed"
    elif grep -q "needs libmpi.so" <<< "$out"; then
        ok "the MPI build of densecl is refused for its libmpi"
    else
        bad "the MPI build of densecl is refused for its libmpi" "no line naming libmpi: $out"
    fi
fi
finish
