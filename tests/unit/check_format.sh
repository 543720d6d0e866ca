#!/bin/sh
# SPDX-License-Identifier: MIT
# check_format.sh SOURCE_DIR - every C, header and OpenCL C file of the project is as
# clang-format (the project's .clang-format) writes it. Fails listing the files that are not,
# with the command that fixes them. The formatter is $DENSECL_CLANG_FORMAT, else clang-format-15
# (Debian 12's, which tools/setup.sh --tests installs), else clang-format if it is version 15;
# none is a failure, not a skip: a style no one checks drifts.
set -u
src=${1:?usage: check_format.sh SOURCE_DIR}
cf=${DENSECL_CLANG_FORMAT:-}
if [ -z "$cf" ]; then
    for c in clang-format-15 clang-format; do
        if command -v "$c" >/dev/null 2>&1; then
            cf=$c
            break
        fi
    done
fi
if [ -z "$cf" ]; then
    echo "check_format: no clang-format (apt install clang-format-15; tools/setup.sh --tests)" >&2
    exit 1
fi
# Other versions lay some code out otherwise: only 15 is the reference, unless named explicitly.
ver=$("$cf" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ -z "${DENSECL_CLANG_FORMAT:-}" ] && [ "$ver" != 15 ]; then
    echo "check_format: $cf is version ${ver:-unknown}, the reference is 15" \
        "(apt install clang-format-15, or set DENSECL_CLANG_FORMAT to use another)" >&2
    exit 1
fi
cd "$src" || exit 1
# The project's own sources: third_party/ and build trees are not ours.
files=$(find kernels.cl kernels host include tests tools examples \
             \( -name '*.c' -o -name '*.h' -o -name '*.cl' \) -type f | sort)
n=0
bad=""
for f in $files; do
    n=$((n + 1))
    if ! "$cf" --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
        bad="$bad $f"
    fi
done
if [ -n "$bad" ]; then
    echo "check_format: not as $("$cf" --version | sed 's/.*version /clang-format /') writes them:"
    for f in $bad; do
        echo "  $f"
    done
    echo "fix: (cd $src && $cf -i$bad)"
    exit 1
fi
echo "check_format: $n files as $("$cf" --version | sed 's/.*version /clang-format /') writes them"
