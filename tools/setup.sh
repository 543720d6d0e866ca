#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what densecl needs on Debian 12 (apt) and builds it into build/.
# Usage: tools/setup.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# libclblast-dev: the "clblast" conv family (built in when CMake finds CLBlast). python3-pil: the
# Python module reads image files with it (tests/install/install_test.sh). libprotobuf-c-dev,
# protobuf-c-compiler, libonnx-dev: the ONNX reader (its protobuf-c code is generated from
# onnx.proto at build time). openmpi-bin, libopenmpi-dev: classify and run over MPI ranks (built
# in when CMake finds MPI).
packages=(cmake make gcc g++ clang pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
          clinfo libclblast-dev libstb-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler
          libonnx-dev openmpi-bin libopenmpi-dev python3 python3-numpy python3-torch
          python3-torchvision python3-pil dataset-fashion-mnist)
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
