#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what densecl needs on Debian 12 (apt) and builds it into build/.
#
# Usage: tools/setup.sh [--tests] [--print-packages] [extra cmake args...]
#   (nothing)         what the library, the tools, the Python module and the README's first
#                     command need: compilers, CMake, the OpenCL loader and headers, POCL, CLBlast,
#                     stb, zlib, protobuf-c and onnx.proto, Open MPI, NumPy and PIL, python3-venv
#                     (pip install in a venv), the Fashion-MNIST data set
#   --tests           also what the tests need (tools/test.sh): PyTorch and torchvision (the
#                     reference for every model test, and densecl-export), clang (the fuzzers),
#                     clang-format-15 (the format test), oclgrind (the oclgrind tier)
#   --print-packages  print the Debian packages that would be installed, one a line, and stop
set -euo pipefail
cd "$(dirname "$0")/.."

# libclblast-dev: the "clblast" conv family (built in when CMake finds CLBlast). python3-numpy,
# python3-pil: the Python module (PIL reads image files). libprotobuf-c-dev, protobuf-c-compiler,
# libonnx-dev: the ONNX reader (its protobuf-c code is generated from onnx.proto at build time).
# openmpi-bin, libopenmpi-dev: classify and run over MPI ranks (built in when CMake finds MPI).
# g++: the C++ check of the public header. dataset-fashion-mnist: the README's first command.
packages=(cmake make gcc g++ pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          clinfo libclblast-dev libstb-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler
          libonnx-dev openmpi-bin libopenmpi-dev python3 python3-numpy python3-pil python3-venv
          dataset-fashion-mnist)
# The tests compare every model with torchvision itself; densecl-export needs PyTorch too.
# oclgrind: the gemm family's race and access checks (ctest -L oclgrind). clang-format-15: the
# format test (ctest -R format) holds every C, header and OpenCL C file to .clang-format.
test_packages=(python3-torch python3-torchvision clang clang-format-15 oclgrind)

tests=0
print=0
while [ $# -gt 0 ]; do
    case $1 in
    --tests) tests=1 ;;
    --print-packages) print=1 ;;
    *) break ;;
    esac
    shift
done
if [ "$tests" -eq 1 ]; then
    packages+=("${test_packages[@]}")
fi
if [ "$print" -eq 1 ]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
