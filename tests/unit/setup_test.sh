#!/bin/bash
# SPDX-License-Identifier: MIT
# setup_test.sh BUILD_DIR SOURCE_DIR - tools/setup.sh is sized to the job (issue 24, item 11):
#   main       `tools/setup.sh --print-packages` holds no PyTorch, torchvision or clang;
#   tests      `--tests` adds them;
#   suffices   every file the build found (CMake's cache: OpenCL, CLBlast, stb, zlib, protobuf-c,
#              protoc-c, onnx.proto, MPI) and the README's first command's data set and the
#              Python module's NumPy come from a package of the main list or a direct dependency
#              of one (dpkg -S on this machine);
#   commands   the README's test command is `tools/setup.sh --tests && tools/test.sh`, and .ci/run
#              runs that form.
set -uo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
# shellcheck source=../support/lib.sh
. "$src/tests/support/lib.sh"

mapfile -t main < <(bash "$src/tools/setup.sh" --print-packages)
mapfile -t full < <(bash "$src/tools/setup.sh" --tests --print-packages)
in_list() { # NAME LIST...
    local n=$1
    shift
    for x in "$@"; do [[ $x == "$n" ]] && return 0; done
    return 1
}

heavy=()
for p in python3-torch python3-torchvision clang; do
    in_list "$p" "${main[@]}" && heavy+=("$p")
done
[[ ${#main[@]} -gt 0 && ${#heavy[@]} -eq 0 ]] && ok "main: ${#main[@]} packages, no PyTorch" ||
    bad main "tools/setup.sh installs ${heavy[*]:-nothing} for the main job"
missing=()
for p in "${main[@]}" python3-torch python3-torchvision clang; do
    in_list "$p" "${full[@]}" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && ok "tests: --tests adds PyTorch, torchvision, clang" ||
    bad tests "--tests lacks ${missing[*]}"

# The main list and the packages each of them depends on directly.
allowed=("${main[@]}")
for p in "${main[@]}"; do
    deps=$(dpkg-query -W -f='${Depends}' "$p" 2>/dev/null | tr ',|' '\n\n' |
           sed 's/([^)]*)//; s/:any//; s/^ *//; s/ *$//')
    while read -r d; do [[ -n $d ]] && allowed+=("$d"); done <<< "$deps"
done
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
files=("$(cache OpenCL_LIBRARY)" "$(cache OpenCL_INCLUDE_DIR)/CL/cl.h"
       "$(cache DC_STB_INCLUDE)/stb/stb_image.h" "$(cache DENSECL_PROTOBUF_C_LIB)"
       "$(cache DENSECL_PROTOC_C)" "$(cache DENSECL_ONNX_PROTO_DIR)/onnx/onnx.proto"
       /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
       "$(/usr/bin/python3 -c 'import numpy; print(numpy.__file__)')")
[[ -n $(cache CLBlast_DIR | grep -v NOTFOUND) ]] && files+=("$(cache CLBlast_DIR)/CLBlastConfig.cmake")
[[ -n $(cache MPI_C_HEADER_DIR) ]] && files+=("$(cache MPI_C_HEADER_DIR)/mpi.h")
[[ -n $(cache ZLIB_LIBRARY_RELEASE) ]] && files+=("$(cache ZLIB_LIBRARY_RELEASE)")
for f in "${files[@]}"; do
    real=$(realpath "$f" 2>/dev/null || echo "$f")
    owner=$(dpkg -S "$f" 2>/dev/null || dpkg -S "$real" 2>/dev/null)
    owner=${owner%%:*}
    owner=${owner%%,*}
    if [[ -z $owner ]]; then
        bad "suffices: $f" "no Debian package owns it"
    elif in_list "$owner" "${allowed[@]}"; then
        ok "suffices: $f ($owner)"
    else
        bad "suffices: $f" "comes from $owner, which tools/setup.sh does not install"
    fi
done

grep -q '^tools/setup.sh --tests && tools/test.sh$' "$src/README.md" &&
    ok "commands: the README's test command" ||
    bad commands "README.md has no line 'tools/setup.sh --tests && tools/test.sh'"
grep -q '^tools/setup.sh --tests && tools/test.sh$' "$src/.ci/run" &&
    ok "commands: .ci/run" || bad commands ".ci/run does not run 'tools/setup.sh --tests && tools/test.sh'"
finish
