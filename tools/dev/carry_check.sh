#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# carry_check.sh LIBDIR FILE... - checks that the programs and libraries a GPU carry folder
# holds will start on a machine that has none of this one's packages: every shared library
# FILE needs (ldd, transitively) must be in LIBDIR (carried) or on the short list every Linux
# machine has (the C and C++ runtimes, libm, libdl, libpthread, librt, libz, the loader).
# Prints one line per library that is neither, naming the file that needs it (an MPI build's
# libmpi.so.40, say), and exits 1 when there is one; 0 when all is carried or allowed.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: carry_check.sh LIBDIR FILE..." >&2; exit 2; }
libdir=$1
shift
allowed=' linux-vdso.so.1 ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 '
allowed+=' librt.so.1 libz.so.1 libstdc++.so.6 libgcc_s.so.1 '
bad=0
for f in "$@"; do
    [ -f "$f" ] || { echo "carry_check: $f: no such file" >&2; bad=1; continue; }
    if ! deps=$(LD_LIBRARY_PATH="$libdir" ldd "$f" 2>&1); then
        echo "carry_check: $f: ldd failed: $deps" >&2
        bad=1
        continue
    fi
    while read -r name _; do
        name=${name##*/}
        [ -n "$name" ] || continue
        case $allowed in *" $name "*) continue ;; esac
        [ -f "$libdir/$name" ] && continue
        echo "carry_check: $f needs $name, which is neither carried ($libdir) nor on every machine"
        bad=1
    done <<< "$(printf '%s\n' "$deps" | sed -n 's/^[[:space:]]*\([^ ]*\).*/\1/p' | grep -v '^statically$')"
done
exit "$bad"
