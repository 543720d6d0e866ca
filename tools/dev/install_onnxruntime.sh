#!/bin/sh
# SPDX-License-Identifier: MIT
# install_onnxruntime.sh - installs ONNX Runtime, the CPU peer of tools/dev/compare_pytorch.py,
# into a git-ignored virtual environment of the checkout (default: third_party/onnxruntime-venv).
#
# ONNX Runtime comes as PyPI's onnxruntime wheel (its prebuilt CPU library, MLAS included, is
# inside it), installed with pip into a venv made with --system-site-packages, so that the
# system's numpy (and torch, which compare_pytorch.py does not need there) is the one it uses:
# a numpy 2 from PyPI would break Debian's torch 1.13 in the same interpreter. Needs python3 with
# the venv module (Debian 12: python3-venv) and access to PyPI (or a pip mirror: PIP_INDEX_URL).
#
#     tools/dev/install_onnxruntime.sh [DIR]
#
# compare_pytorch.py looks in the default folder, or in $DENSECL_ORT_DIR (the same DIR), or
# uses onnxruntime where the interpreter running it imports it already. $PYTHON picks the
# interpreter the venv is made from (default: /usr/bin/python3, as compare_pytorch.py's own).
set -eu

VERSION=1.20.1
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-${DENSECL_ORT_DIR:-$here/third_party/onnxruntime-venv}}
python=${PYTHON:-/usr/bin/python3}

if ! "$python" -c "import venv" >/dev/null 2>&1; then
    echo "install_onnxruntime: $python has no venv module (apt-get install python3-venv)" >&2
    exit 1
fi
[ -x "$dir/bin/python" ] || "$python" -m venv --system-site-packages "$dir"
"$dir/bin/python" -m pip install --disable-pip-version-check --no-input "onnxruntime==$VERSION"

# The check compare_pytorch.py relies on: the package loads, says its version and has the CPU
# execution provider.
"$dir/bin/python" -c "import onnxruntime as o, sys; \
assert 'CPUExecutionProvider' in o.get_available_providers(), o.get_available_providers(); \
print('onnxruntime ' + o.__version__ + ' in $dir (' + sys.executable + ')')"
