#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gpu_check.sh [options] [CARRY [OUTDIR]] - the checks a GPU session runs, on a GPU machine lent
# for a few minutes, from a build made elsewhere (tools/dev/gpu_pack.sh fills CARRY, default
# gpu-carry/). Run from the repository root (test_conv_clblast reads kernels/ from it).
#
# Writes into OUTDIR (default $OUT, else gpu-check-out/): logs/*.log, one per step, and
# summary.md, a markdown summary with each step's result, time and key line, the per-op profiles'
# headlines and the PyTorch comparison. Steps, most important first:
#   query     densecl-query and densecl info: which devices the loader sees, and the advice
#   launch    densecl-launch-bench: a launch's round trip and back-to-back cost, with and
#             without setting 26 arguments each time and a profiling queue; a batch-64 upload
#             from pageable and from pinned memory; the device's extensions
#             (cl_khr_command_buffer?)
#   tests     test_conv_gemm, test_conv_clblast, test_families and test_ops on the device
#             (kernels against the C reference)
#   parity    densecl run on the fixtures (torchvision's logits, from gpu_pack.sh) with each
#             conv family, compared as tests/support/compare_logits.py does
#   counts    OpenCL calls per DenseNet-121 batch-1 forward (launches, clSetKernelArg, ...) with
#             gemm and auto, from two bench runs under CARRY/lib/libdc_cl_count.so
#   ptx       the gemm family's build log with -cl-nv-verbose (registers, spills, shared memory
#             per kernel) and its PTX, with the count of vector and scalar shared loads
#   sweep     a short gemm parameter sweep, DenseNet-121 at batch 1 and 64: the defaults against
#             no K split, 64x64 tiles, the 1x1 tile turned, KWG 16, and no local memory staging
#   bench     densecl bench --profile: DenseNet-121 224x224 at batch 1 with each conv family,
#             at 8 and 64 and DenseNet-BC-100 32x32 at 512 with the GPU families (direct, a
#             CPU family, is left out there to save the time)
#   classify  densecl classify of the 10,000 Fashion-MNIST test images (CARRY/data) with the
#             shipped model at batch 32 and 256: images/s with batches pipelined, and accuracy
#   compare   tools/dev/compare_pytorch.py --device gpu (PyTorch CUDA fp32, eager and CUDA graph)
#   tune      densecl tune on the device (saves into a scratch cache, not the machine's)
# The conv families are --conv direct, gemm and clblast when this densecl's `run --help` lists
# --conv, else its one default path. Every step has a time limit, and the steps stop when the
# budget (default 450 s, under the 8 minutes a 15-minute loan leaves for the checks) is spent;
# the benches leave a third of it to compare and tune. The summary marks what did not run.
#
# OpenCL: when the loader's vendor directory ($OCL_ICD_VENDORS, else /etc/OpenCL/vendors) has no
# .icd naming the vendor library, a temporary directory gets one naming it, beside copies of the
# .icd files that are there (POCL's, say), and OCL_ICD_VENDORS points to it. The library is
# NVIDIA's on the H200 machines: /usr/local/nvidia/lib64/libnvidia-opencl.so.1 (--vendor-lib
# or $DENSECL_OPENCL_VENDOR_LIB to change it). CARRY/lib (libclblast.so.1, libOpenCL.so.1) goes
# first on LD_LIBRARY_PATH.
#
# Options:
#   --device SPEC     the densecl device (default gpu)
#   --vendor-lib PATH the OpenCL vendor library to register (see above)
#   --budget S        seconds for all steps (default 450)
#   --quick           tiny workloads, for trying the script out on a CPU (POCL): --device cpu
# Exit status: 0 when every step ran and passed, 1 otherwise, 2 on a usage error.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
root=$PWD

device=gpu
vendor_lib=${DENSECL_OPENCL_VENDOR_LIB:-/usr/local/nvidia/lib64/libnvidia-opencl.so.1}
budget=450
quick=0
pos=()
while [ $# -gt 0 ]; do
    case $1 in
    --device) device=$2; shift 2 ;;
    --vendor-lib) vendor_lib=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h | --help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "gpu_check: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) pos+=("$1"); shift ;;
    esac
done
carry=${pos[0]:-gpu-carry}
out=${pos[1]:-${OUT:-gpu-check-out}}
if ! carry=$(cd "$carry" 2>/dev/null && pwd); then
    echo "gpu_check: no carry folder ${pos[0]:-gpu-carry} (run tools/dev/gpu_pack.sh first)" >&2
    exit 2
fi
mkdir -p "$out/logs" || exit 2
out=$(cd "$out" && pwd)
bin=$carry/bin
for b in densecl densecl-query test_ops test_families test_conv_clblast test_conv_gemm \
    densecl-launch-bench; do
    [ -x "$bin/$b" ] || { echo "gpu_check: $bin/$b missing (run tools/dev/gpu_pack.sh)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
export LD_LIBRARY_PATH="$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DENSECL_CACHE_DIR=$work/densecl-cache POCL_CACHE_DIR=${POCL_CACHE_DIR:-$work/pocl-cache}
export DENSECL_SOURCE_DIR=$root
python=${PYTHON:-python3}
start=$(date +%s)
summary=$out/summary.md
rows=()
failed=0
notes=()

# ---------------------------------------------------------------- OpenCL vendor registration
vendors=${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}
vendor_name=$(basename "$vendor_lib")
if [ -d "$vendors" ] && grep -qs -F "$vendor_name" "$vendors"/*.icd; then
    notes+=("OpenCL vendors: $vendors already registers $vendor_name")
elif [ -e "$vendor_lib" ]; then
    mkdir -p "$work/vendors"
    [ -d "$vendors" ] && cp "$vendors"/*.icd "$work/vendors/" 2>/dev/null
    echo "$vendor_lib" > "$work/vendors/gpu-check-vendor.icd"
    export OCL_ICD_VENDORS=$work/vendors
    others=$(find "$work/vendors" -name '*.icd' ! -name gpu-check-vendor.icd | wc -l)
    notes+=("OpenCL vendors: registered $vendor_lib through OCL_ICD_VENDORS, beside $others .icd
        from $vendors")
else
    notes+=("OpenCL vendors: $vendor_lib does not exist and $vendors does not name it; the
        loader sees what $vendors has")
fi

# ---------------------------------------------------------------- step runner

# step NAME LIMIT_S CMD...: runs CMD with its output in logs/NAME.log, within LIMIT_S and the
# budget left (less $reserve, kept for the steps after); records ok / FAIL / TIMEOUT / skipped
# and the log's key line (see key_line).
reserve=0
step() {
    local name=$1 limit=$2 t0 rc status left key
    shift 2
    left=$((budget - reserve - ($(date +%s) - start)))
    if [ "$left" -lt 15 ]; then
        rows+=("| $name | skipped: time budget spent | 0 | |")
        failed=1
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    t0=$(date +%s)
    echo "+ $*" > "$out/logs/$name.log"
    timeout -k 5 "$limit" "$@" >> "$out/logs/$name.log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        status=ok
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        status="TIMEOUT (${limit} s)"
        failed=1
    else
        status="FAIL (exit $rc)"
        failed=1
    fi
    key=$(key_line "$out/logs/$name.log" | cut -c1-160 | sed 's/|/\\|/g')
    rows+=("| $name | $status | $(($(date +%s) - t0)) | $key |")
    echo "gpu_check: $name: $status" >&2
}

# The line of a log that says most: a test summary, a bench's speed, a comparison, an error.
key_line() {
    local what='^[0-9]+ passed, [0-9]+ failed|^per image|: max\|diff\||densecl: error|^best:'
    what+='|^images: '
    grep -E "$what|^recommendation|^auto:|CHECK failed|FAIL|^compare_pytorch:|Error" "$1" |
        head -n 1
}

# Conv families to cover: those of --conv when this densecl has it, else its default.
if "$bin/densecl" run --help 2>&1 | grep -q -- '--conv'; then
    families=(direct gemm clblast)
else
    families=(default)
    notes+=("this densecl has no --conv: every run uses its default conv path")
fi
conv_args() { [ "$1" = default ] || echo "--conv $1"; }

# Compares logits as tests/support/compare_logits.py does (max|diff| <= 1e-4 max|expected|, finite,
# same argmax per row), with numpy when this python has it, else reading the .npy files here.
cat > "$work/compare.py" << 'EOF'
import struct, sys, ast, math
def load(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    major = data[6]
    hl = struct.unpack("<H" if major == 1 else "<I", data[8:10] if major == 1 else data[8:12])[0]
    start = 10 if major == 1 else 12
    hdr = ast.literal_eval(data[start:start + hl].decode("latin1"))
    assert hdr["descr"] == "<f4" and not hdr["fortran_order"], hdr
    shape = hdr["shape"]
    n = 1
    for s in shape:
        n *= s
    vals = struct.unpack("<%df" % n, data[start + hl:start + hl + 4 * n])
    cols = shape[1]
    return shape, [vals[i * cols:(i + 1) * cols] for i in range(shape[0])]
name, exp_path, got_path = sys.argv[1:4]
es, e = load(exp_path)
gs, g = load(got_path)
if es != gs:
    print(f"{name}: shape {gs}, expected {es} -- FAIL"); sys.exit(1)
flat_e = [v for r in e for v in r]
flat_g = [v for r in g for v in r]
finite = all(math.isfinite(v) for v in flat_g)
diff = max(abs(a - b) if math.isfinite(b) else math.inf for a, b in zip(flat_e, flat_g))
limit = 1e-4 * max(abs(v) for v in flat_e)
argmax_ok = all(max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
                for a, b in zip(e, g))
ok = finite and diff <= limit and argmax_ok
print(f"{name}: max|diff| = {diff:.3g} (limit {limit:.3g}), argmax {'ok' if argmax_ok else 'BAD'}"
      + ("" if ok else " -- FAIL"))
sys.exit(0 if ok else 1)
EOF

# parity CASE FAMILY: densecl run on a fixture, then the comparison (run through bash -c, so
# that `timeout` can bound it).
# shellcheck disable=SC2317
parity() {
    local c=$1 fam=$2 fix=$carry/fixtures extra=()
    read -r -a extra < "$fix/$c.args" || true
    # shellcheck disable=SC2046
    "$bin/densecl" run --weights "$fix/$c.safetensors" --input "$fix/$c.input.npy" \
        --output "$work/$c.$fam.npy" --device "$device" "${extra[@]}" $(conv_args "$fam") ||
        return 1
    if "$python" -c 'import numpy' 2>/dev/null; then
        "$python" "$root/tests/support/compare_logits.py" --name "$c/$fam" "$fix/$c.expected.npy" \
            "$work/$c.$fam.npy"
    else
        "$python" "$work/compare.py" "$c/$fam" "$fix/$c.expected.npy" "$work/$c.$fam.npy"
    fi
}
# counts FAMILY: OpenCL calls per forward, DenseNet-121 batch 1 (--quick: DenseNet-BC-100),
# from two bench runs that differ only in their number of forwards (bench runs --iterations
# timed forwards and as many pipelined: 2 x 4 more in the second).
# shellcheck disable=SC2317
counts() {
    local fam=$1 model=densenet121 n
    [ "$quick" -eq 1 ] && model=densenet-bc-100-k12
    for n in 2 6; do
        # shellcheck disable=SC2046
        LD_PRELOAD=$carry/lib/libdc_cl_count.so DC_CL_COUNT_OUT=$work/counts-$fam-$n.txt \
            "$bin/densecl" bench --model "$model" --batch 1 --device "$device" --iterations "$n" \
            --warmup 0 $([ "$fam" = auto ] || echo "--conv $fam") > "$work/counts-$fam-$n.out" ||
            return 1
    done
    echo "OpenCL calls per $model batch-1 forward, --conv $fam (after the first):"
    join "$work/counts-$fam-2.txt" "$work/counts-$fam-6.txt" |
        awk '{ printf "  %-30s %8.1f\n", $1, ($3 - $2) / 8 }'
    grep -m1 '^convs' "$work/counts-$fam-2.out"
}
# ptx: the gemm family built for the device with -cl-nv-verbose (NVIDIA's per-kernel register,
# spill and shared-memory report lands in the build log), its binary's PTX kept, and the shared
# loads counted: vector (ld.shared.v2/v4) against scalar.
# shellcheck disable=SC2317
ptx() {
    local opt=-cl-nv-verbose
    # NVIDIA's option; another driver refuses it (then the build log is the plain one).
    for opt in -cl-nv-verbose ""; do
        DENSECL_CONV=gemm DENSECL_BUILD_OPTIONS=$opt DENSECL_BUILD_LOG=$out/build-gemm.log \
            DENSECL_NO_CACHE=1 "$bin/densecl" compile-kernels --device "$device" \
            --out "$work/gemm.bin" && break
        [ -n "$opt" ] || return 1
        echo "ptx: $opt refused; built without it"
    done
    grep -E 'ptxas|registers|spill|smem' "$out/build-gemm.log" | head -n 60
    "$python" - "$work/gemm.bin" "$out/gemm.ptx" << 'PY'
import re, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"//")  # PTX text starts with its "// Generated by NVIDIA" comment
if start < 0 or b".entry" not in data[start:]:
    print("ptx: the program binary is not PTX (not an NVIDIA device); nothing to count")
    sys.exit(0)
ptx = data[start:].split(b"\0", 1)[0].decode("latin1")
open(sys.argv[2], "w").write(ptx)
for name, body in re.findall(r"\.entry\s+(\w+)(.*?)(?=\.entry|\Z)", ptx, re.S):
    vec = len(re.findall(r"ld\.shared\.v[24]", body))
    sca = len(re.findall(r"ld\.shared\.(?!v[24])", body))
    fma = len(re.findall(r"\bfma\.rn\.f32", body))
    ins = len(re.findall(r"^\s+[a-z]", body, re.M))
    print(f"ptx {name}: {ins} instructions, {fma} fma, shared loads {vec} vector {sca} scalar")
PY
}
export -f parity conv_args counts ptx
export bin carry work device python root quick out

# ---------------------------------------------------------------- the steps
if [ "$quick" -eq 1 ]; then
    cases=(densenet_bc_c1_k7)
    benches=("densenet-bc-100-k12 2")
    bench_iter=(--iterations 2 --warmup 1)
    compare_args=(--rounds 1 --iterations 2 --warmup 1)
    tune_args=(--model densenet-bc-100-k12 --batch 2 --iterations 1 --conv1x1 4x16 --conv 16x3
               --dry-run)
else
    cases=(densenet121_f16 densenet_bc100_k12 densenet40_k12 densenet_bc_c1_k7)
    benches=("densenet121 1" "densenet121 8" "densenet121 64" "densenet-bc-100-k12 512")
    bench_iter=(--iterations 3 --warmup 1)
    compare_args=(--rounds 2 --iterations 10 --warmup 3)
    tune_args=(--iterations 5)
fi

if command -v nvidia-smi > /dev/null; then
    step nvidia-smi 20 nvidia-smi -L
fi
step query 90 "$bin/densecl-query"
step info 30 "$bin/densecl" info
step launch 60 "$bin/densecl-launch-bench" --device "$device"
step test_conv_gemm 150 "$bin/test_conv_gemm"
step test_conv_clblast 150 "$bin/test_conv_clblast"
step test_families 180 "$bin/test_families"
step test_ops 60 "$bin/test_ops" "$root" # the source folder: its build-log test copies kernels/
for c in "${cases[@]}"; do
    if [ ! -f "$carry/fixtures/$c.safetensors" ]; then
        rows+=("| parity $c | FAIL: no fixture in $carry/fixtures (gpu_pack.sh) | 0 | |")
        failed=1
        continue
    fi
    for fam in "${families[@]}"; do
        step "parity-$c-$fam" 60 bash -c 'parity "$@"' _ "$c" "$fam"
    done
done
for fam in gemm auto; do
    step "counts-$fam" 90 bash -c 'counts "$@"' _ "$fam"
done
step ptx 120 bash -c ptx
reserve=$((budget / 3)) # for compare-pytorch and tune, whatever the benches take
for b in "${benches[@]}"; do
    read -r model batch <<< "$b"
    for fam in "${families[@]}"; do
        # The CPU family only where it answers a question (batch 1): time is short.
        [ "$fam" = direct ] && [ "$batch" != 1 ] && [ "$quick" -eq 0 ] && continue
        # shellcheck disable=SC2046
        step "bench-$model-b$batch-$fam" 60 "$bin/densecl" bench --model "$model" \
            --batch "$batch" --device "$device" --profile "${bench_iter[@]}" $(conv_args "$fam")
    done
done
if [ "$quick" -eq 1 ]; then
    sweep_batches=("densenet-bc-100-k12 2")
    sweeps=("" "gemm:KSPLIT=1")
else
    sweep_batches=("densenet121 1" "densenet121 64")
    sweeps=("" "gemm:KSPLIT=1" "gemm:MWG=64,NWG=64,MDIMC=8,NDIMC=8"
            "gemm:MWG1=64,NWG1=128,MDIMC1=8,NDIMC1=16" "gemm:KWG=16" "gemm:LOCAL=0")
fi
for b in "${sweep_batches[@]}"; do
    read -r model batch <<< "$b"
    for kp in "${sweeps[@]}"; do
        tag=$(printf '%s' "${kp:-defaults}" | tr -c 'A-Za-z0-9=' '_')
        step "sweep-$model-b$batch-$tag" 45 "$bin/densecl" bench --model "$model" \
            --batch "$batch" --device "$device" --conv gemm --iterations 3 --warmup 1 \
            ${kp:+--kernel-params "$kp"}
    done
done
fashion=$carry/data/t10k-images-idx3-ubyte.gz
for batch in 32 256; do
    if [ ! -f "$fashion" ]; then
        rows+=("| classify-fashion-b$batch | FAIL: no $fashion (gpu_pack.sh) | 0 | |")
        failed=1
        continue
    fi
    step "classify-fashion-b$batch" 60 "$bin/densecl" classify --device "$device" \
        --weights "$root/models/densenet-fashion.safetensors" --batch "$batch" \
        --truth "$carry/data/t10k-labels-idx1-ubyte.gz" "$fashion"
done
reserve=$((budget / 10))
step compare-pytorch 240 "$python" "$root/tools/dev/compare_pytorch.py" --densecl "$bin/densecl" \
    --device gpu "${compare_args[@]}" --json "$out/compare_pytorch.json"
reserve=0
step tune 150 "$bin/densecl" tune --device "$device" "${tune_args[@]}"

# ---------------------------------------------------------------- the summary
{
    echo "# densecl GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname), device spec \`$device\`," \
        "$(($(date +%s) - start)) s of a $budget s budget;" \
        "carry: $(head -n 1 "$carry/MANIFEST" 2>/dev/null)"
    echo
    for n in "${notes[@]}"; do echo "- $n" | tr -s ' \n' ' '; echo; done
    echo "- devices (densecl info):"
    grep -E '^ +[0-9]+:[0-9]+ ' "$out/logs/info.log" 2>/dev/null | sed 's/^ */    - /'
    echo
    echo "| step | result | s | key line |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "## Profiles (time per op kind)"
    for f in "$out"/logs/bench-*.log; do
        [ -f "$f" ] || continue
        echo
        echo "### $(basename "$f" .log)"
        echo '```'
        grep -E '^(device|tiles|per batch|per image)' "$f"
        sed -n '/^time per op kind/,/^$/p' "$f"
        echo '```'
    done
    echo
    echo "## gemm parameter sweep (ms per batch)"
    echo '```'
    for f in "$out"/logs/sweep-*.log; do
        [ -f "$f" ] || continue
        printf '%-70s %s\n' "$(basename "$f" .log)" "$(grep -m1 '^per batch' "$f")"
    done
    echo '```'
    echo
    echo "## classify, Fashion-MNIST test set"
    echo '```'
    for batch in 32 256; do
        echo "--batch $batch:"
        grep -hE '^(images|top-1)' "$out/logs/classify-fashion-b$batch.log" 2>/dev/null
    done
    echo '```'
    echo
    echo "## PyTorch comparison"
    echo
    if grep -q '^|' "$out/logs/compare-pytorch.log" 2>/dev/null; then
        grep -v '^+ \|^# ' "$out/logs/compare-pytorch.log"
    else
        echo '```'
        tail -n 5 "$out/logs/compare-pytorch.log" 2>/dev/null
        echo '```'
    fi
    echo
    echo "## Tune"
    echo '```'
    tail -n 8 "$out/logs/tune.log" 2>/dev/null
    echo '```'
} > "$summary"
echo "gpu_check: $summary" >&2
exit "$failed"
