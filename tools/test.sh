#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds and runs every test. With --asan, a separate ASan+UBSan build in build-asan/.
# Warnings are errors here. A missing OpenCL device fails the suite; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build
args=(-DCMAKE_BUILD_TYPE=Release -DDENSECL_WERROR=ON)
skip=()
if [ "${1:-}" = "--asan" ]; then
    # The tests that build trees of their own without sanitizers (the README's blocks, pip, the
    # CMake routes) and the oclgrind tier (the kernels' semantics, not the host's) would only
    # repeat the Release run's work here.
    skip=(-E '^(readme|pip|cmake_routes)$' -LE oclgrind)
    dir=build-asan
    # The Release build's POCL kernel cache: the same kernels, compiled once (tests/CMakeLists.txt).
    args=(-DCMAKE_BUILD_TYPE=Debug -DDENSECL_WERROR=ON -DDENSECL_SANITIZE=ON
          "-DDENSECL_TEST_POCL_CACHE=$PWD/build/pocl-cache")
    # POCL's LLVM is not instrumented; ODR and leak reports from it are suppressed in
    # tests/support/lsan.supp.
    export ASAN_OPTIONS=detect_odr_violation=0:abort_on_error=1
fi
cmake -S . -B "$dir" "${args[@]}"
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure --timeout 1200 -j1 "${skip[@]}"
