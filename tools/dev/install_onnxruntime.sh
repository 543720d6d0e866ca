#!/bin/sh
# SPDX-License-Identifier: MIT
# install_onnxruntime.sh - installs ONNX Runtime, the CPU peer of tools/dev/compare_pytorch.py, into
# a git-ignored folder of the checkout (default: third_party/onnxruntime-node).
#
# ONNX Runtime comes as npm's onnxruntime-node, whose prebuilt libonnxruntime.so ships inside the
# package. --ignore-scripts skips its install script, which would download CUDA and DirectML
# parts the CPU run does not use. Needs node and npm (Debian 12: nodejs, npm).
#
#     tools/dev/install_onnxruntime.sh [DIR]
#
# compare_pytorch.py looks in the default folder, or in $DENSECL_ORT_DIR (the same DIR).
set -eu

VERSION=1.20.1
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-${DENSECL_ORT_DIR:-$here/third_party/onnxruntime-node}}

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install_onnxruntime: needs $tool (apt-get install nodejs npm)" >&2
        exit 1
    fi
done

mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || printf '{"name": "densecl-ort-peer", "private": true}\n' > package.json
npm install --no-audit --no-fund --ignore-scripts "onnxruntime-node@$VERSION"

# The check compare_pytorch.py relies on: the package loads and says its version.
node -e "const o = require('onnxruntime-node'); \
const v = require('onnxruntime-node/package.json').version; \
if (typeof o.InferenceSession !== 'function') throw new Error('no InferenceSession'); \
console.log('onnxruntime-node ' + v + ' in $dir');"
