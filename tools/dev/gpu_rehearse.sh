#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu_rehearse.sh [CARRY [OUT]] - rehearses a GPU session on this machine: runs
# `gpu_check.sh --quick --device cpu` on the carry (tools/dev/gpu_pack.sh) as a bare GPU machine
# would see it, in a private mount namespace (needs root: unshare -m) where /etc/OpenCL/vendors
# is empty, so the loader finds POCL only through gpu_check's own registration (as it must
# find NVIDIA's library on the H200 machines), and Open MPI's libraries are masked. Every step
# but the CUDA comparison (compare-pytorch) should pass; gpu_check's summary says which did.
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=${1:-gpu-carry}
out=${2:-gpu-rehearse-out}
# (awk reads all of ldconfig's output: an early exit would kill it with SIGPIPE under pipefail)
pocl=$(ldconfig -p | awk '$1 == "libpocl.so.2" && !seen { print $NF; seen = 1 }')
[ -n "$pocl" ] || { echo "gpu_rehearse: no libpocl.so.2 (pocl-opencl-icd)" >&2; exit 2; }
mpi=$(ldconfig -p | awk '$1 ~ /^lib(mpi|open-rte|open-pal)\.so/ { print $NF }' |
      xargs -r readlink -f | sort -u)
export carry out pocl mpi
exec unshare -m --propagation private bash -c '
    set -e
    mount -t tmpfs none /etc/OpenCL/vendors
    for f in $mpi; do mount --bind /dev/null "$f"; done
    for f in $mpi; do
        [ ! -s "$f" ] || { echo "gpu_rehearse: $f is still readable" >&2; exit 2; }
    done
    echo "gpu_rehearse: /etc/OpenCL/vendors empty, Open MPI masked ($(echo $mpi | wc -w) files)" >&2
    set +e
    PYTHON=${PYTHON:-/usr/bin/python3} tools/dev/gpu_check.sh --quick --device cpu \
        --vendor-lib "$pocl" "$carry" "$out"
'
