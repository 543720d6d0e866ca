#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu_pack.sh [--build DIR] [--out DIR] - builds, here, what tools/dev/gpu_check.sh needs on a GPU
# machine that has no compiler, CMake, Debian packages or torchvision, and copies it into the
# carry folder (default gpu-carry/, git-ignored), which travels with the working tree:
#
#   bin/       densecl, densecl-query, test_ops, test_families, test_conv_clblast, test_conv_gemm,
#              densecl-launch-bench (launch and upload costs), from a build of its own
#              (default build-gpu/) configured without MPI: a GPU machine need not have Open MPI
#   lib/       libclblast.so.1, the OpenCL ICD loader libOpenCL.so.1 (ocl-icd, which honours
#              OCL_ICD_VENDORS) and libprotobuf-c.so.1, the very files the build links, found
#              through ldd; libdc_cl_count.so, the OpenCL call counter (LD_PRELOAD)
#   fixtures/  whole-model parity cases written by tests/generators/gen_fixtures.py with torchvision's
#              logits (the GPU machine's PyTorch may have no torchvision): the ImageNet
#              DenseNet-121 in F16 weights (stem, max pool, four blocks) and three CIFAR/MNIST
#              models, about 24 MB; the other cases would pass the carry limit
#   data/      the Fashion-MNIST test images and labels (dataset-fashion-mnist, 4.4 MB), for
#              the classify throughput step (models/densenet-fashion.safetensors is tracked)
#   MANIFEST   commit, build, files and sizes
#
# The binaries need glibc 2.34 and libstdc++ with GLIBCXX_3.4.29 (Debian 12 builds; Ubuntu
# 22.04 has both). Every library a packed file needs must be carried or on every machine
# (tools/dev/carry_check.sh: libc, libm, libdl, libpthread, librt, libz, libstdc++, libgcc_s,
# the loader), else packing fails naming it. The folder must stay below the device tool's 64 MiB
# carry limit: checked.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build-gpu
out=gpu-carry
python=${DENSECL_PYTHON:-/usr/bin/python3}
cases=densenet121_f16,densenet_bc100_k12,densenet40_k12,densenet_bc_c1_k7
limit=$((60 * 1024 * 1024)) # under 64 MiB, with room for the tracked files that travel too

while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_pack: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# Without MPI, whatever the build folder had: the GPU machine has no Open MPI runtime.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDENSECL_MPI=OFF -DDENSECL_TESTS=ON > /dev/null
nice cmake --build "$build" -j2 --target densecl-cli densecl-query test_ops test_families \
    test_conv_clblast test_conv_gemm densecl-launch-bench dc_cl_count

rm -rf "${out:?}/bin" "${out:?}/lib"
mkdir -p "$out/bin" "$out/lib" "$out/fixtures"
for b in densecl densecl-query test_ops test_families test_conv_clblast test_conv_gemm \
    densecl-launch-bench; do
    cp "$build/bin/$b" "$out/bin/$b"
done
cp "$build/tests/libdc_cl_count.so" "$out/lib/"
for lib in libclblast.so.1 libOpenCL.so.1; do
    path=$(ldd "$build/bin/test_conv_clblast" | awk -v l="$lib" '$1 == l { print $3 }')
    if [ -z "$path" ] || [ ! -f "$path" ]; then
        echo "gpu_pack: test_conv_clblast does not link $lib: was densecl built with CLBlast" \
            "(libclblast-dev installed, DENSECL_CLBLAST=ON)?" >&2
        exit 1
    fi
    cp -L "$path" "$out/lib/$lib"
done
# The ONNX reader's protobuf-c runtime (libprotobuf-c-dev), which the GPU machine may not have.
path=$(ldd "$build/bin/densecl" | awk '$1 == "libprotobuf-c.so.1" { print $3 }')
if [ -z "$path" ] || [ ! -f "$path" ]; then
    echo "gpu_pack: densecl does not link libprotobuf-c.so.1 (libprotobuf-c-dev)" >&2
    exit 1
fi
cp -L "$path" "$out/lib/libprotobuf-c.so.1"
# Nothing else may be needed: a library neither carried nor on every machine stops the pack.
tools/dev/carry_check.sh "$out/lib" "$out"/bin/* "$out"/lib/*

mkdir -p "$out/data"
for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    src=/usr/share/datasets/fashion-mnist/$f
    [ -f "$src" ] || { echo "gpu_pack: $src missing (apt install dataset-fashion-mnist)" >&2; exit 1; }
    cp "$src" "$out/data/$f"
done

# Skips the cases whose files are up to date (gen_fixtures.py's stamp).
"$python" tests/generators/gen_fixtures.py "$out/fixtures" --only "$cases"

{
    echo "packed $(date -u '+%Y-%m-%d %H:%M UTC') from $(git rev-parse --short HEAD 2>/dev/null)" \
        "$(git diff --quiet 2>/dev/null || echo '(with uncommitted changes)')"
    echo "build: $build ($(grep -m1 '^CMAKE_BUILD_TYPE' "$build/CMakeCache.txt" || true))"
    echo "fixtures: $cases"
    (cd "$out" && find bin lib fixtures data -type f -printf '%8k KiB  %p\n' | sort -k3)
} > "$out/MANIFEST"

size=$(du -sb "$out" | cut -f1)
if [ "$size" -gt "$limit" ]; then
    echo "gpu_pack: $out is $((size / 1024 / 1024)) MiB, above the $((limit / 1024 / 1024)) MiB" \
        "the device tool carries" >&2
    exit 1
fi
echo "gpu_pack: $out ready ($((size / 1024 / 1024)) MiB). On the GPU machine, from the" \
    "repository root (the device tool's run with carry [\"$out\"]):" \
    "tools/dev/gpu_check.sh $out \"\$OUT\""
