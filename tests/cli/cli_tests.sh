#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_tests.sh DENSECL SCRATCH - end-to-end tests of the densecl tool.
#
# DENSECL is build/bin/densecl, SCRATCH a directory this script empties and uses. Inputs are made
# with numpy; one case ties the tool's logits to torchvision (torch then needed). Each case prints
# "ok NAME" or "FAIL NAME: why"; the last line is "N passed, N failed" and the exit status is
# non-zero on any failure. A missing numpy, torch or OpenCL device fails the cases that need it;
# nothing is skipped.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 DENSECL SCRATCH" >&2
    exit 2
fi
BIN=$1
TMP=$2
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2

PY=
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import numpy' >/dev/null 2>&1; then
        PY=$p
        break
    fi
done

# shellcheck source=lib.sh
. "$(dirname "$0")/../support/lib.sh"

# cli ARGS...: runs the tool; sets rc, and leaves stdout in $TMP/out and stderr in $TMP/err.
CLI_PREFIX=("$BIN")
cli() {
    capture "$TMP/out" "$TMP/err" "${CLI_PREFIX[@]}" "$@"
}

# Why the last command's stderr is not exactly one "densecl: error: ..." line, or "".
one_error_line() {
    local n
    n=$(wc -l <"$TMP/err")
    if [ "$n" -ne 1 ]; then
        echo "$n stderr lines, want 1: $(head -c 600 "$TMP/err")"
    elif ! grep -q '^densecl: error: ' "$TMP/err"; then
        echo "stderr does not start with 'densecl: error: ': $(cat "$TMP/err")"
    fi
}

# expect_fail NAME CODE PATTERN ARGS...: exit status CODE, one error line matching the
# extended regular expression PATTERN (case-insensitive), and no $TMP/y.npy left behind.
expect_fail() {
    local name=$1 code=$2 pattern=$3 why left
    shift 3
    rm -f "$TMP/y.npy"
    cli "$@"
    why=$(one_error_line)
    if [ "$rc" -ne "$code" ]; then
        bad "$name" "exit status $rc, want $code; stderr: $(head -c 600 "$TMP/err")"
    elif [ -n "$why" ]; then
        bad "$name" "$why"
    elif ! grep -Eiq -- "$pattern" "$TMP/err"; then
        bad "$name" "stderr does not match /$pattern/: $(cat "$TMP/err")"
    elif [ -e "$TMP/y.npy" ]; then
        bad "$name" "output file left behind"
    elif left=$(compgen -G "$TMP/y.npy?*"); then
        bad "$name" "temporary output file left behind: $left"
    else
        ok "$name"
    fi
}

# expect_ok NAME ARGS...: exit status 0 and an empty stderr.
expect_ok() {
    local name=$1
    shift
    cli "$@"
    if [ "$rc" -ne 0 ]; then
        bad "$name" "exit status $rc; stderr: $(head -c 2000 "$TMP/err")"
        return 1
    elif [ -s "$TMP/err" ]; then
        bad "$name" "stderr not empty: $(head -c 600 "$TMP/err")"
        return 1
    fi
    return 0
}

# check_logits NAME FILE ROWS COLS: FILE is a finite float32 [ROWS, COLS] .npy.
check_logits() {
    local why
    if [ -z "$PY" ]; then
        bad "$1" "no python3 with numpy to read $2"
        return
    fi
    why=$("$PY" - "$2" "$3" "$4" 2>&1 <<'EOF'
import sys
import numpy as np
y = np.load(sys.argv[1])
want = (int(sys.argv[2]), int(sys.argv[3]))
if y.dtype != np.float32 or y.shape != want:
    print("got %s %s, want float32 %s" % (y.dtype, y.shape, want))
elif not np.isfinite(y).all():
    print("non-finite logits: %s" % y)
elif float(np.abs(y).max()) == 0.0:
    print("all logits are 0")
EOF
    )
    if [ -n "$why" ]; then
        bad "$1" "$why"
    else
        ok "$1"
    fi
}

# ----------------------------------------------------------------------------- inputs

make_inputs() {
    [ -n "$PY" ] || return 1
    "$PY" - "$TMP" <<'EOF'
import json
import struct
import sys
import numpy as np

d = sys.argv[1]
rng = np.random.default_rng(0)
f32 = np.float32
np.save(d + "/x.npy", rng.standard_normal((2, 3, 32, 32)).astype(f32))
np.save(d + "/x64.npy", rng.standard_normal((1, 3, 32, 32)))  # float64, converted on read
np.save(d + "/x1.npy", rng.standard_normal((2, 1, 32, 32)).astype(f32))
np.save(d + "/x3d.npy", rng.standard_normal((3, 32, 32)).astype(f32))
np.save(d + "/x8.npy", rng.standard_normal((1, 3, 8, 8)).astype(f32))
np.save(d + "/x0.npy", np.zeros((0, 3, 32, 32), f32))
np.save(d + "/xi.npy", np.zeros((1, 3, 32, 32), np.int32))
with open(d + "/notnpy.npy", "w") as f:
    f.write("this is not a .npy file\n")
with open(d + "/garbage.safetensors", "wb") as f:
    f.write(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())

# DenseNet-40 (k=12, 3 blocks of 12 plain layers, 16 initial features, no compression), in
# torchvision's key names: weights for --weights, written without torch or safetensors.
tensors = {}
def conv(name, cout, cin, k):
    std = np.sqrt(2.0 / (cin * k * k))
    tensors[name + ".weight"] = rng.standard_normal((cout, cin, k, k)) * std
def bn(name, c):
    tensors[name + ".weight"] = rng.uniform(0.5, 1.5, c)
    tensors[name + ".bias"] = rng.standard_normal(c) * 0.1
    tensors[name + ".running_mean"] = rng.standard_normal(c) * 0.1
    tensors[name + ".running_var"] = rng.uniform(0.5, 1.5, c)
conv("features.conv0", 16, 3, 3)
c = 16
for b in range(3):
    for i in range(12):
        layer = "features.denseblock%d.denselayer%d" % (b + 1, i + 1)
        bn(layer + ".norm1", c)
        conv(layer + ".conv1", 12, c, 3)
        c += 12
    if b < 2:
        bn("features.transition%d.norm" % (b + 1), c)
        conv("features.transition%d.conv" % (b + 1), c, c, 1)
bn("features.norm5", c)
tensors["classifier.weight"] = rng.standard_normal((10, c)) / np.sqrt(c)
tensors["classifier.bias"] = rng.standard_normal(10) * 0.1

header, blobs, off = {}, [], 0
for key, t in tensors.items():
    b = np.ascontiguousarray(t, dtype="<f4").tobytes()
    header[key] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(d + "/d40.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
EOF
}

if make_inputs; then
    ok "make inputs"
else
    bad "make inputs" "need a python3 with numpy (tried /usr/bin/python3 and python3)"
fi

# ----------------------------------------------------------------------------- top level

cli --version
if [ "$rc" -eq 0 ] && grep -Eq '^densecl [0-9]+\.[0-9]+\.[0-9]+$' "$TMP/out" && [ ! -s "$TMP/err" ]
then
    ok "version"
else
    bad "version" "exit $rc, stdout: $(cat "$TMP/out")"
fi

cli --help
if [ "$rc" -eq 0 ] && grep -q '^  models ' "$TMP/out" && grep -q '^  run ' "$TMP/out" &&
    grep -q '^  info ' "$TMP/out"; then
    ok "help lists commands"
else
    bad "help lists commands" "exit $rc, stdout: $(cat "$TMP/out")"
fi

expect_fail "no command" 2 "missing command.*densecl --help"
expect_fail "unknown command" 2 "unknown command 'frobnicate'.*densecl --help" frobnicate
expect_fail "unknown global option" 2 "unknown option '--frob'" --frob run

for c in models run info; do
    cli "$c" --help
    if [ "$rc" -eq 0 ] && grep -q "^usage: densecl $c" "$TMP/out" && [ ! -s "$TMP/err" ]; then
        ok "$c --help"
    else
        bad "$c --help" "exit $rc, stdout: $(head -c 300 "$TMP/out") stderr: $(cat "$TMP/err")"
    fi
done

# ----------------------------------------------------------------------------- models

if expect_ok "models" models; then
    if grep -Eq '^densenet121 .* 7,978,856 ' "$TMP/out"; then
        ok "models lists densenet121 with 7,978,856 params"
    else
        bad "models lists densenet121 with 7,978,856 params" "$(cat "$TMP/out")"
    fi
fi

if expect_ok "models --json" models --json; then
    if ! python3 -m json.tool "$TMP/out" >/dev/null 2>"$TMP/json-err"; then
        bad "models --json parses" "$(cat "$TMP/json-err")"
    else
        ok "models --json parses"
        why=$(python3 - "$TMP/out" 2>&1 <<'EOF'
import json
import sys
models = json.load(open(sys.argv[1]))
fields = {"name", "stem", "growth_rate", "block_layers", "init_features", "bottleneck",
          "bn_size", "compression", "in_channels", "num_classes", "params", "macs",
          "input_size"}
by_name = {m["name"]: m for m in models}
if len(models) != 9:
    print("%d presets, want 9" % len(models))
elif any(set(m) != fields for m in models):
    print("fields differ: %s" % [sorted(set(m) ^ fields) for m in models])
elif by_name["densenet121"]["params"] != 7978856:
    print("densenet121 params %s" % by_name["densenet121"]["params"])
elif by_name["densenet121"]["block_layers"] != [6, 12, 24, 16]:
    print("densenet121 blocks %s" % by_name["densenet121"]["block_layers"])
elif [by_name[n]["input_size"] for n in ("densenet121", "densenet-bc-100-k12")] != [224, 32]:
    print("input sizes wrong")
elif any(m["macs"] <= 0 for m in models):
    print("a preset has no MACs")
EOF
        )
        if [ -n "$why" ]; then
            bad "models --json content" "$why"
        else
            ok "models --json content"
        fi
    fi
fi

expect_fail "models unknown option" 2 "unknown option '--xml'.*densecl models --help" \
    models --xml

# ----------------------------------------------------------------------------- info

if expect_ok "info" info; then
    if grep -q '^densecl [0-9]' "$TMP/out" && grep -Eq '^  [0-9]+:[0-9]+  ' "$TMP/out" &&
        grep -Eq '^auto: [0-9]+:[0-9]+  ' "$TMP/out"; then
        ok "info lists devices and auto"
    else
        bad "info lists devices and auto" "$(cat "$TMP/out")"
    fi
    # What auto resolves to, and why; the families of this build with their parameters.
    if grep -Eq '^convs: 1x1=[a-z]+ .*; [a-z]+:[A-Z_0-9]+=[0-9]+.* \(auto: ' "$TMP/out" &&
        grep -q '^conv families:$' "$TMP/out" &&
        grep -q '^  direct: FLAT_CO=1\.\.16 FLAT_PX=2\.\.32 TCO=2\.\.32 TPX=1\.\.8 VEC=8\.\.16' \
            "$TMP/out"; then
        ok "info shows the conv families and what auto resolves"
    else
        bad "info shows the conv families and what auto resolves" "$(cat "$TMP/out")"
    fi
fi

mkdir -p "$TMP/no-vendors"
rm -f "$TMP/y.npy"
OCL_ICD_VENDORS=$TMP/no-vendors OCL_ICD_FILENAMES='' cli info
why=$(one_error_line)
if [ "$rc" -ne 1 ]; then
    bad "info without platform" "exit status $rc, want 1; stderr: $(cat "$TMP/err")"
elif [ -n "$why" ]; then
    bad "info without platform" "$why"
elif ! grep -q 'OCL_ICD_VENDORS' "$TMP/err" || ! grep -q 'pocl-opencl-icd' "$TMP/err"; then
    bad "info without platform" "no hint at ICD files: $(cat "$TMP/err")"
else
    ok "info without platform"
fi

# ----------------------------------------------------------------------------- run: success

BC=densenet-bc-100-k12
# The first run builds the kernels with empty caches: the driver's compiler must not write to
# stderr either (POCL's clang prints "N warnings generated." for a kernels.cl with warnings).
mkdir -p "$TMP/cold-pocl" "$TMP/cold-densecl"
if POCL_CACHE_DIR=$TMP/cold-pocl DENSECL_CACHE_DIR=$TMP/cold-densecl \
    expect_ok "run random weights (cold caches)" run --model "$BC" --random-weights 42 \
    --input "$TMP/x.npy" --output "$TMP/a.npy"; then
    check_logits "run random weights gives [2, 10]" "$TMP/a.npy" 2 10
fi

# Bit for bit: with the same cache directory as the first run, so that both build the same 1x1
# tile (a tuning file in the suite's directory could name another).
if DENSECL_CACHE_DIR=$TMP/cold-densecl expect_ok "run same seed again" run --model=$BC \
    --random-weights=42 --input="$TMP/x.npy" --output="$TMP/b.npy"; then
    if cmp -s "$TMP/a.npy" "$TMP/b.npy"; then
        ok "same seed gives identical bytes"
    else
        bad "same seed gives identical bytes" "a.npy and b.npy differ"
    fi
fi

# --conv: off GPUs auto is the direct family (with the 3x3 convs on winograd on AVX-512 CPUs,
# which winograd:ON=0 turns off), so --conv direct runs the very same kernels.
if expect_ok "run --conv direct" run --model "$BC" --random-weights 42 --input "$TMP/x.npy" \
    --output "$TMP/b.npy" --conv direct &&
    expect_ok "run winograd:ON=0" run --model "$BC" --random-weights 42 --input "$TMP/x.npy" \
        --output "$TMP/c.npy" --kernel-params winograd:ON=0; then
    cmp -s "$TMP/c.npy" "$TMP/b.npy" && ok "--conv direct gives auto's bytes off GPUs" ||
        bad "--conv direct gives auto's bytes off GPUs" "c.npy and b.npy differ"
fi
# --kernel-params: other tiles and tunables, the same model (fp32 reordering only).
if expect_ok "run --kernel-params" run --model "$BC" --random-weights 42 --input "$TMP/x.npy" \
    --output "$TMP/b.npy" --kernel-params "direct:1x1=4x8,conv=8x2,ORDER=0,VEC=8"; then
    check_logits "run --kernel-params gives [2, 10]" "$TMP/b.npy" 2 10
    "$PY" -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]);
sys.exit(0 if np.allclose(a, b, rtol=1e-4, atol=1e-4) else 1)" "$TMP/a.npy" "$TMP/b.npy" &&
        ok "--kernel-params gives the same logits" ||
        bad "--kernel-params gives the same logits" "a.npy and b.npy differ beyond 1e-4"
fi
# The 1x1 convs unstaged, one work-item per tile (DYN=0 needs STAGE=0: below), the same model.
if expect_ok "run --kernel-params STAGE=0,DYN=0" run --model "$BC" --random-weights 42 \
    --input "$TMP/x.npy" --output "$TMP/b.npy" --conv direct --kernel-params "STAGE=0,DYN=0"; then
    "$PY" -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]);
sys.exit(0 if np.allclose(a, b, rtol=1e-4, atol=1e-4) else 1)" "$TMP/a.npy" "$TMP/b.npy" &&
        ok "unstaged 1x1 convs give the same logits" ||
        bad "unstaged 1x1 convs give the same logits" "a.npy and b.npy differ beyond 1e-4"
fi

# Device profiles (DENSECL_DEVICE_PROFILE): another device's conv resolution, the kernels run
# here. One stderr line says so on run; info prints a profile line only under one.
cli info
if [ "$rc" -eq 0 ] && ! grep -q '^profile' "$TMP/out"; then
    ok "info names no profile without one"
else
    bad "info names no profile without one" "exit status $rc: $(cat "$TMP/out" "$TMP/err")"
fi
DENSECL_DEVICE_PROFILE=nvidia-h200 cli info --model densenet121 --batch 1
if [ "$rc" -eq 0 ] && grep -q '^profile: nvidia-h200 (NVIDIA H200: GPU, 132 SMs' "$TMP/out" &&
    grep -Eq '^convs: 1x1=gemm 3x3=gemm 7x7s2=gemm; gemm:.*KSPLIT=.* \(auto: GPU default\)' \
        "$TMP/out" && grep -q '^build options: .*-DDC_GEMM_MWG1=' "$TMP/out"; then
    ok "info resolves for the nvidia-h200 profile"
else
    bad "info resolves for the nvidia-h200 profile" "exit status $rc: $(cat "$TMP/out" "$TMP/err")"
fi
# nvidia-h200 with empty caches: POCL's compiler must not warn about the gemm family's build
# for it either (a loop clang would not unroll did).
mkdir -p "$TMP/cold-pocl-h200"
for profile in nvidia-h200 mali-g710; do
    CLI_PREFIX=(env "DENSECL_DEVICE_PROFILE=$profile" "$BIN")
    [ "$profile" = nvidia-h200 ] && CLI_PREFIX=(env "POCL_CACHE_DIR=$TMP/cold-pocl-h200" \
        "DENSECL_DEVICE_PROFILE=$profile" "$BIN")
    cli run --model "$BC" --random-weights 42 --input "$TMP/x.npy" --output "$TMP/b.npy"
    CLI_PREFIX=("$BIN")
    if [ "$rc" -ne 0 ] || [ "$(wc -l <"$TMP/err")" -ne 1 ] ||
        ! grep -q "^densecl: device profile $profile (" "$TMP/err"; then
        bad "run under the $profile profile" "exit status $rc; stderr: $(cat "$TMP/err")"
    else
        "$PY" -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]);
sys.exit(0 if np.allclose(a, b, rtol=1e-4, atol=1e-4) else 1)" "$TMP/a.npy" "$TMP/b.npy" &&
            ok "run under the $profile profile gives the same logits" ||
            bad "run under the $profile profile gives the same logits" "differ beyond 1e-4"
    fi
done
DENSECL_DEVICE_PROFILE=no-such-gpu expect_fail "an unknown device profile" 1 \
    'DENSECL_DEVICE_PROFILE=no-such-gpu: no such device profile \(built in: nvidia-h200' \
    run --model "$BC" --random-weights 42 --input "$TMP/x.npy" --output "$TMP/y.npy"
printf '{"name": "half", "vendor": "x"}\n' >"$TMP/profile.json"
DENSECL_DEVICE_PROFILE=$TMP/profile.json expect_fail "a device profile missing a field" 1 \
    'DENSECL_DEVICE_PROFILE=.*profile\.json: the field "[a-z_]+" is missing' \
    run --model "$BC" --random-weights 42 --input "$TMP/x.npy" --output "$TMP/y.npy"
R=(run --model "$BC" --random-weights 42 --input "$TMP/x.npy" --output "$TMP/y.npy")
expect_fail "run --conv unknown" 1 "conv family 'nope': unknown" "${R[@]}" --conv nope
expect_fail "run --kernel-params unknown parameter" 1 "the direct family has no parameter 'FOO'" \
    "${R[@]}" --kernel-params direct:FOO=1
expect_fail "run --kernel-params out of range" 1 "direct VEC='99' \(a whole number from 8" \
    "${R[@]}" --kernel-params direct:VEC=99
expect_fail "run --kernel-params without a family under auto" 1 "say which family" "${R[@]}" \
    --kernel-params VEC=8
expect_fail "run --kernel-params leaves out a kernel" 1 "KERNELS=1 leaves out kernels" \
    "${R[@]}" --conv direct --kernel-params KERNELS=1
# On a CPU the 1x1 convs are staged (STAGE=1), whose buffer is one work-item's: DYN=0 alone is
# refused with the way out.
if "$BIN" info 2>/dev/null | grep -q "STAGE=1"; then
    expect_fail "run --kernel-params DYN=0 under STAGE=1" 1 "give STAGE=0 with DYN=0" \
        "${R[@]}" --conv direct --kernel-params DYN=0
fi

if expect_ok "run another seed" run --model "$BC" --random-weights 43 --input "$TMP/x.npy" \
    --output "$TMP/c.npy"; then
    if cmp -s "$TMP/a.npy" "$TMP/c.npy"; then
        bad "another seed gives other logits" "seeds 42 and 43 gave the same bytes"
    else
        ok "another seed gives other logits"
    fi
fi

if expect_ok "run --classes 7" run --model "$BC" --random-weights 42 --classes 7 \
    --input "$TMP/x64.npy" --output "$TMP/d.npy" --device auto; then
    check_logits "run --classes 7 gives [1, 7]" "$TMP/d.npy" 1 7
fi

if expect_ok "run --weights (inferred)" run --weights "$TMP/d40.safetensors" \
    --input "$TMP/x.npy" --output "$TMP/e.npy"; then
    check_logits "run --weights gives [2, 10]" "$TMP/e.npy" 2 10
    # The other cases compare the tool with itself; this batch is compared with torch: the same
    # weights in DenseNet-40 as tests/generators/gen_fixtures.py builds it (torchvision's
    # structure without bottleneck), in float64, at the model tests' tolerance (max|diff| <=
    # 1e-4 x max|expected|, the same argmax).
    why=$("$PY" - "$TMP/d40.safetensors" "$TMP/x.npy" "$TMP/e.npy" "$(dirname "$0")/../.." \
        2>&1 <<'EOF'
import sys
import numpy as np
root = sys.argv[4]
sys.path[:0] = [root + "/tests/generators", root + "/tools/export"]
import torch
from gen_fixtures import PlainDenseNet
from safetensors_io import read_safetensors
tensors, _, _ = read_safetensors(sys.argv[1])
model = PlainDenseNet(12, (12, 12, 12), 16, 1.0, 10).double().eval()
state = {k: torch.from_numpy(np.array(v, np.float64)) for k, v in tensors.items()}
missing, unexpected = model.load_state_dict(state, strict=False)
missing = [k for k in missing if not k.endswith("num_batches_tracked")]
if missing or unexpected:
    sys.exit("keys: missing %s, unexpected %s" % (missing[:3], unexpected[:3]))
with torch.no_grad():
    want = model(torch.from_numpy(np.load(sys.argv[2]).astype(np.float64))).numpy()
got = np.load(sys.argv[3]).astype(np.float64)
diff = float(np.abs(got - want).max())
limit = 1e-4 * float(np.abs(want).max())
if not (diff <= limit) or (got.argmax(1) != want.argmax(1)).any():
    sys.exit("max|diff| %.3g (limit %.3g), argmax %s, torch's %s"
             % (diff, limit, got.argmax(1), want.argmax(1)))
EOF
    ) && ok "run --weights gives torchvision's logits" ||
        bad "run --weights gives torchvision's logits" "$(echo "$why" | tail -n 2)"
fi

if expect_ok "run --weights --model" run --model densenet-40-k12 --weights "$TMP/d40.safetensors" \
    --classes 10 --input "$TMP/x.npy" --output "$TMP/f.npy"; then
    if cmp -s "$TMP/e.npy" "$TMP/f.npy"; then
        ok "run --weights with and without --model agree"
    else
        bad "run --weights with and without --model agree" "e.npy and f.npy differ"
    fi
fi

# ----------------------------------------------------------------------------- run: usage errors

R=(run --model "$BC" --random-weights 1 --input "$TMP/x.npy" --output "$TMP/y.npy")
expect_fail "usage: missing --input" 2 "missing --input.*densecl run --help" \
    run --random-weights 1 --output "$TMP/y.npy"
expect_fail "usage: missing --output" 2 "missing --output.*densecl run --help" \
    run --random-weights 1 --input "$TMP/x.npy"
expect_fail "usage: missing weights" 2 "--weights.*--random-weights" \
    run --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "usage: both weights" 2 "--weights.*--random-weights" \
    "${R[@]}" --weights "$TMP/d40.safetensors"
expect_fail "usage: --classes abc" 2 "--classes.*'abc'.*densecl run --help" "${R[@]}" --classes abc
expect_fail "usage: --classes 0" 2 "--classes" "${R[@]}" --classes 0
expect_fail "usage: --classes 7x" 2 "--classes" "${R[@]}" --classes 7x
expect_fail "usage: --classes huge" 2 "--classes" "${R[@]}" --classes 99999999999999999999
expect_fail "usage: --random-weights -1" 2 "--random-weights" \
    run --random-weights -1 --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "usage: --random-weights 2^64" 2 "--random-weights" \
    run --random-weights 18446744073709551616 --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "usage: unknown flag" 2 "unknown option '--bogus'.*densecl run --help" \
    "${R[@]}" --bogus
expect_fail "usage: missing value" 2 "--device needs a value" "${R[@]}" --device
expect_fail "usage: flag as value" 2 "--input needs a value" \
    run --random-weights 1 --input --output "$TMP/y.npy"
expect_fail "usage: given twice" 2 "--input given twice" "${R[@]}" --input "$TMP/x.npy"
expect_fail "usage: stray argument" 2 "unexpected argument 'extra'" "${R[@]}" extra
expect_fail "usage: unknown model" 2 "densenet-7.*densenet121" \
    run --model densenet-7 --random-weights 1 --input "$TMP/x.npy" --output "$TMP/y.npy"

# ----------------------------------------------------------------------------- run: runtime errors

W=(--model "$BC" --random-weights 1 --output "$TMP/y.npy")
expect_fail "input missing" 1 "nope\.npy" run "${W[@]}" --input "$TMP/nope.npy"
expect_fail "input not .npy" 1 "notnpy\.npy" run "${W[@]}" --input "$TMP/notnpy.npy"
expect_fail "input 3-D" 1 "x3d\.npy: expected a 4-D \[N, C, H, W\] array, got shape \[3, 32, 32\]" \
    run "${W[@]}" --input "$TMP/x3d.npy"
expect_fail "input int32" 1 "xi\.npy" run "${W[@]}" --input "$TMP/xi.npy"
expect_fail "input empty batch" 1 "x0\.npy.*empty" run "${W[@]}" --input "$TMP/x0.npy"
expect_fail "input wrong channels" 1 "has 1 channel .*expects 3 channels" \
    run "${W[@]}" --input "$TMP/x1.npy"
expect_fail "input too small" 1 "8x8.*densenet121.*minimum.*29x29" \
    run --random-weights 1 --input "$TMP/x8.npy" --output "$TMP/y.npy"
expect_fail "weights missing" 1 "nope\.safetensors" \
    run --weights "$TMP/nope.safetensors" --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "weights garbage" 1 "garbage\.safetensors" \
    run --weights "$TMP/garbage.safetensors" --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "weights of another model" 1 "." \
    run --model "$BC" --weights "$TMP/d40.safetensors" --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "weights with other classes" 1 "--classes" \
    run --weights "$TMP/d40.safetensors" --classes 5 --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "no such device" 1 "no-such-device" run "${W[@]}" --input "$TMP/x.npy" \
    --device no-such-device

rm -f "$TMP/y.npy"
expect_fail "output directory missing" 1 "no-such-dir" \
    run --model "$BC" --random-weights 1 --input "$TMP/x.npy" --output "$TMP/no-such-dir/y.npy"
if [ -e "$TMP/no-such-dir" ]; then
    bad "output directory not created" "$TMP/no-such-dir exists"
else
    ok "output directory not created"
fi

# A failed run leaves an existing output file as it was, whether it fails early or late.
for c in "wrong channels:$TMP/x1.npy:" "no device:$TMP/x.npy:no-such-device" \
    "usage error:$TMP/x.npy:"; do
    IFS=: read -r what input dev <<<"$c"
    echo "previous contents" >"$TMP/old.npy"
    args=(run --model "$BC" --random-weights 1 --input "$input" --output "$TMP/old.npy")
    [ -n "$dev" ] && args+=(--device "$dev")
    [ "$what" = "usage error" ] && args+=(--classes x)
    cli "${args[@]}"
    if [ "$rc" -eq 0 ]; then
        bad "old output kept ($what)" "the run succeeded"
    elif [ "$(cat "$TMP/old.npy")" != "previous contents" ]; then
        bad "old output kept ($what)" "old.npy was changed"
    else
        ok "old output kept ($what)"
    fi
done

# ----------------------------------------------------------------------------- bench

# A small model, so that the numbers come fast; what is checked is that they are there and agree
# with each other, never how large they are.
B=(bench --model densenet-40-k12 --size 16 --batch 3 --iterations 3 --warmup 1)
if expect_ok "bench --json --profile --trace" "${B[@]}" --json --profile --trace "$TMP/trace.json"
then
    why=$("$PY" - "$TMP/out" "$TMP/trace.json" 2>&1 <<'EOF_PY'
import json, math, sys
b = json.load(open(sys.argv[1]))
t = json.load(open(sys.argv[2]))
need = ["ms_per_image", "images_per_second", "gflops", "batch", "device", "ms_per_batch",
        "first_run_ms", "weight_bytes", "activation_bytes", "profile", "pipelined_ms_per_batch",
        "pipelined_images_per_second"]
events = [e for e in t.get("traceEvents", []) if e.get("ph") == "X"]
kinds = {k["kind"]: k for k in b.get("profile", {}).get("kinds", [])}
if [k for k in need if k not in b]:
    print("missing", [k for k in need if k not in b])
elif b["batch"] != 3 or (b["height"], b["width"]) != (16, 16) or not b["device"]:
    print("batch/size/device", b["batch"], b["height"], b["width"], b["device"])
elif not (b["ms_per_batch_min"] <= b["ms_per_batch"] <= b["ms_per_batch_max"]):
    print("median outside [min, max]", b)
elif not math.isclose(b["ms_per_image"] * 3, b["ms_per_batch"], rel_tol=1e-3):
    print("ms_per_image x batch != ms_per_batch", b)
elif not math.isclose(b["images_per_second"] * b["ms_per_image"], 1000, rel_tol=1e-3):
    print("images_per_second != 1000 / ms_per_image", b)
elif not math.isclose(b["gflops"], 2 * b["gmacs_per_image"] / (b["ms_per_image"] / 1e3),
                      rel_tol=1e-2):  # the fields are printed with 3 to 4 decimals
    print("gflops != 2 x MACs / time", b)
elif not (b["pipelined_ms_per_batch"] > 0 and
          math.isclose(b["pipelined_images_per_second"] * b["pipelined_ms_per_batch"], 3000,
                       rel_tol=1e-3)):
    print("pipelined images/s != 3000 / pipelined ms per batch", b)
elif not {"conv3x3", "bnrelu_avgpool", "linear"} <= set(kinds):
    print("profile kinds", sorted(kinds))
elif abs(sum(k["share"] for k in kinds.values()) - 1) > 1e-3:
    print("profile shares do not add up to 1", kinds)
elif not 1 <= len(b["profile"]["slowest"]) <= 10:
    print("slowest", b["profile"]["slowest"])
elif sum(k["count"] for k in kinds.values()) != len(events):
    print("%d trace events, the profile counts %d ops"
          % (len(events), sum(k["count"] for k in kinds.values())))
elif any(e["dur"] < 0 or e["cat"] not in kinds or not e["name"] for e in events):
    print("bad trace event", events[:3])
elif any(k["launches"] < k["count"] for k in kinds.values()) or \
        sum(k["launches"] for k in kinds.values()) != b["profile"]["launches"] or \
        sum(e["args"]["launches"] for e in events) != b["profile"]["launches"]:
    print("launches: every op makes one at least, and the counts agree", kinds)
elif not (0 < b["profile"]["ops_ms"] <= b["profile"]["span_ms"] * (1 + 1e-3)):
    # Each op runs from its first kernel's start to its last's end, one after the other on
    # an in-order queue: their sum never exceeds the run's device time.
    print("ops_ms %s beyond span_ms %s" % (b["profile"]["ops_ms"], b["profile"]["span_ms"]))
EOF_PY
    )
    if [ -n "$why" ]; then
        bad "bench --json --profile --trace content" "$why"
    else
        ok "bench --json --profile --trace content"
    fi
fi
# An op that launches several kernels (clblast: the im2col pre-pass, CLBlast's GEMM, the
# bias/ReLU epilogue) is timed from its first kernel's start to its last's end and counts them
# all: the 3x3 convs make more launches than ops.
if expect_ok "bench --conv clblast --profile" "${B[@]}" --conv clblast --json --profile; then
    why=$("$PY" - "$TMP/out" 2>&1 <<'EOF_PY'
import json, sys
b = json.load(open(sys.argv[1]))
k = {k["kind"]: k for k in b["profile"]["kinds"]}
c = k.get("conv3x3")
if not c or c["launches"] < 2 * c["count"]:
    print("conv3x3 with clblast: %s launches for %s ops, want 2 or more each"
          % (c and c["launches"], c and c["count"]))
EOF_PY
    )
    if [ -n "$why" ]; then
        bad "bench --conv clblast --profile counts every launch of an op" "$why"
    else
        ok "bench --conv clblast --profile counts every launch of an op"
    fi
fi
if expect_ok "bench text" "${B[@]}" --profile; then
    if grep -q '^per image  [0-9.]* ms, [0-9.]* images/s, [0-9.]* GFLOP/s$' "$TMP/out" &&
        grep -q '^time per op kind' "$TMP/out" && grep -q '^  conv3x3 ' "$TMP/out" &&
        grep -Eq '^ops [0-9.]+ ms in all, [0-9]+ launches; ' "$TMP/out" &&
        grep -q '^slowest ops:' "$TMP/out"; then
        ok "bench text lists speed and profile"
    else
        bad "bench text lists speed and profile" "$(cat "$TMP/out")"
    fi
fi
# --tiles builds with other conv tiles (the results are the same; the numbers are not checked).
if expect_ok "bench --tiles" "${B[@]}" --tiles 8x8,8x4; then
    if grep -q '^tiles      1x1 8x8, conv 8x4 (given)$' "$TMP/out"; then
        ok "bench --tiles shows the tiles"
    else
        bad "bench --tiles shows the tiles" "$(cat "$TMP/out")"
    fi
fi
# The resolved conv path, per device, and why.
if expect_ok "bench --conv direct --kernel-params" "${B[@]}" --conv direct \
    --kernel-params 1x1=8x8,conv=8x4,FMA=0; then
    if grep -Eq '^convs      1x1=direct 3x3=direct 3x3_pre=direct; direct:FLAT_CO=8,FLAT_PX=8,TCO=8,TPX=4,VEC=[0-9]+,PREFETCH=[0-9]+,FMA=0,ORDER=[0-9]+,KERNELS=7,DYN=[0-9]+,STAGE=[01],PAIRS=[01] \(given, direct parameters given\)$' \
        "$TMP/out"; then
        ok "bench shows the resolved convs and why"
    else
        bad "bench shows the resolved convs and why" "$(grep -E 'convs|tiles' "$TMP/out")"
    fi
fi
expect_fail "bench --tiles malformed" 2 "--tiles needs CxP,CxP" "${B[@]}" --tiles 8x8
expect_fail "bench --tiles out of range" 2 "--tiles: 1x1 conv tile of 12 pixels" "${B[@]}" \
    --tiles 4x12,16x3

# ----------------------------------------------------------------------------- tune

# In a cache directory of its own: the tiles it saves apply to every later engine there.
TUNE=$TMP/tune-cache
T=(tune --model densenet-40-k12 --size 16 --iterations 1 --conv1x1 4x16,8x8 --conv 16x3,8x4)
# The device's default tiles ("AxB,CxD") and its tuning file, as densecl info reports them.
DENSECL_CACHE_DIR=$TUNE cli info
DEF=$(sed -n 's/^tiles: conv1x1 \([0-9x]*\), conv \([0-9x]*\) (default.*/\1,\2/p' "$TMP/out")
TFILE=$(sed -n "s/^tiles: .* would save better ones in \(.*\))\$/\1/p" "$TMP/out")
if [ -n "$DEF" ] && [ -n "$TFILE" ]; then ok "info shows the default tiles and the tuning file"
else bad "info shows the default tiles and the tuning file" "$(tail -n 2 "$TMP/out")"; fi
# An engine fits default (and tuned) conv tiles to its model: 32 channels become 16 (twice the
# pixels, up to 8) for DenseNet-40's growth rate of 12. FIT: the defaults as engines run them.
conv=${DEF#*,} ch=${DEF#*,} px=${DEF##*x}
ch=${ch%x*}
[ "$ch" = 32 ] && conv="16x$((px * 2 > 8 ? px : px * 2))"
FIT="${DEF%,*},$conv"
if DENSECL_CACHE_DIR=$TUNE expect_ok "tune --json" "${T[@]}" --json; then
    why=$("$PY" - "$TMP/out" "$FIT" "$TFILE" 2>&1 <<'EOF_PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
c = d["candidates"]
tiles = [(x["conv1x1"], x["conv"]) for x in c]
best = (d["best"]["conv1x1"], d["best"]["conv"])
d1, d3 = sys.argv[2].split(",")
# The family the file names (null: none); winograd's race entry; all-direct's time with the
# best tiles (best's own when no family won).
sf = d["saved_family"]
wino = [f for f in d["families"] if f["family"] == "winograd" and f["ms_per_batch"] > 0]
direct_ms = d["best"]["ms_per_batch"]
# Stage one: the defaults, then 4x16 and 8x8 (unless one is the default); stage two: the best
# 1x1 tile with the default conv tile, then with 16x3 and 8x4 (unless one is the default).
one = [(d1, d3)] + [(t, d3) for t in ("4x16", "8x8") if t != d1]
b1 = tiles[len(one)][0] if len(tiles) > len(one) else None
two = [(b1, d3)] + [(b1, t) for t in ("16x3", "8x4") if t != d3]
if tiles != one + two or b1 not in [t[0] for t in one]:
    print("candidates", tiles, "want", one, "then", two)
elif not all(x["ok"] and x["ms_per_batch"] > 0 and x["build_s"] > 0 for x in c):
    print("a candidate failed", c)
elif best not in tiles or not d["default_ms_per_batch"] > 0:
    print("best", d["best"], "default", d["default_ms_per_batch"])
elif abs(d["speedup"] - d["default_ms_per_batch"] / d["best"]["ms_per_batch"]) > 1e-3:
    print("speedup", d)
elif best == (d1, d3) and sf is None:
    # The defaults won: nothing saved, so that the device follows densecl's defaults.
    if d["saved"] is not None or os.path.exists(sys.argv[3]):
        print("the defaults won, yet saved", d["saved"])
elif sf not in (None, "direct") and sf != d["best"]["family"]:
    print("saved family", sf, "best", d["best"])
elif sf == "direct" and not (wino and 0 < direct_ms < 0.98 * wino[0]["ms_per_batch"]):
    # Only where auto's default runs the 3x3 convs on winograd and all-direct beat it by 2%.
    print("saved family direct, yet winograd", wino, "direct", direct_ms)
elif sf != "direct" and not d["speedup"] > 1 / 0.98 - 1e-3:
    print("a winner that does not beat the defaults by 2%", d)
elif d["saved"] != sys.argv[3] or not os.path.isfile(d["saved"]):
    print("saved", d["saved"], "want", sys.argv[3])
else:
    lines = [l.split() for l in open(d["saved"]) if not l.startswith("#")]
    want = [["conv1x1", best[0]], ["conv", best[1]]] + ([["family", sf]] if sf else [])
    if lines != want:
        print("file holds", lines, "want", want)
EOF_PY
    )
    if [ -z "$why" ]; then ok "tune --json content and file"; else
        bad "tune --json content and file" "$why"; fi
fi
# Whatever tune chose: a tuning file there is what every later engine on the device uses.
if [ -n "$TFILE" ]; then
    mkdir -p "$(dirname "$TFILE")"
    printf '# written by cli_tests\nconv1x1 4x16\nconv 8x4\n' >"$TFILE"
    if DENSECL_CACHE_DIR=$TUNE expect_ok "bench with a tuning file" "${B[@]}"; then
        grep -qxF "tiles      1x1 4x16, conv 8x4 (tuned)" "$TMP/out" &&
            ok "bench uses the tuned tiles" ||
            bad "bench uses the tuned tiles" "$(grep tiles "$TMP/out")"
    fi
    # Tuned tiles are fitted too: a tuned 32x4 becomes 16x8 for a growth rate of 12.
    printf 'conv1x1 4x16\nconv 32x4\n' >"$TFILE"
    if DENSECL_CACHE_DIR=$TUNE expect_ok "bench with a tuning file of 32 channels" "${B[@]}"; then
        grep -qxF "tiles      1x1 4x16, conv 16x8 (tuned)" "$TMP/out" &&
            ok "tuned tiles fitted to the model" ||
            bad "tuned tiles fitted to the model" "$(grep tiles "$TMP/out")"
    fi
    if DENSECL_CACHE_DIR=$TUNE DENSECL_NO_TUNING=1 expect_ok "bench, tuning off" "${B[@]}"; then
        grep -qxF "tiles      1x1 ${FIT%,*}, conv ${FIT#*,} (default)" "$TMP/out" &&
            ok "DENSECL_NO_TUNING=1 ignores the tuned tiles" ||
            bad "DENSECL_NO_TUNING=1 ignores the tuned tiles" "$(grep tiles "$TMP/out")"
    fi
    # A tuning file naming a family: auto picks it ("auto: tuned") with its parameters.
    printf 'conv1x1 4x16\nconv 8x4\nfamily direct\nparams VEC=8,ORDER=0\n' >"$TFILE"
    if DENSECL_CACHE_DIR=$TUNE expect_ok "bench with a tuned family" "${B[@]}"; then
        grep -Eq '^convs      .*direct:FLAT_CO=4,FLAT_PX=16,TCO=8,TPX=4,VEC=8,PREFETCH=[0-9]+,FMA=1,ORDER=0,KERNELS=7,DYN=[0-9]+,STAGE=[01],PAIRS=[01] \(auto: tuned' \
            "$TMP/out" && ok "auto picks the tuned family and its parameters" ||
            bad "auto picks the tuned family and its parameters" "$(grep convs "$TMP/out")"
    fi
    # A tuning file naming winograd (tune's pick where it won): the 3x3 kinds on it, the rest
    # on direct with the tuned tiles; winograd:ON=0 still turns it off.
    printf 'conv1x1 4x16\nconv 8x4\nfamily winograd\n' >"$TFILE"
    if DENSECL_CACHE_DIR=$TUNE expect_ok "bench with winograd tuned" "${B[@]}"; then
        grep -Eq '^convs      1x1=direct 3x3=winograd 3x3_pre=winograd; direct:FLAT_CO=4,FLAT_PX=16,TCO=8,TPX=4,.*\(auto: tuned' \
            "$TMP/out" && ok "auto runs the 3x3 convs on a tuned winograd" ||
            bad "auto runs the 3x3 convs on a tuned winograd" "$(grep convs "$TMP/out")"
    fi
    if DENSECL_CACHE_DIR=$TUNE expect_ok "bench with winograd tuned, ON=0" "${B[@]}" \
        --kernel-params winograd:ON=0; then
        grep -Eq '^convs      1x1=direct 3x3=direct 3x3_pre=direct; .*winograd off \(ON=0\)' \
            "$TMP/out" && ok "winograd:ON=0 overrides a tuned winograd" ||
            bad "winograd:ON=0 overrides a tuned winograd" "$(grep convs "$TMP/out")"
    fi
    # A damaged file is ignored (the defaults), and info says why.
    printf 'conv1x1 4x16\nconv 3x3\n' >"$TFILE"
    if DENSECL_CACHE_DIR=$TUNE expect_ok "info with a bad tuning file" info; then
        grep -q "^tiles: conv1x1 ${DEF%,*}, conv ${DEF#*,} (default; ignoring .*tiles-.*\\.txt: conv tile of 3 channels" "$TMP/out" &&
            ok "info names the bad tuning file" ||
            bad "info names the bad tuning file" "$(tail -n 2 "$TMP/out")"
    fi
fi
rm -rf "$TMP/tune-dry"
if DENSECL_CACHE_DIR=$TMP/tune-dry expect_ok "tune --dry-run" "${T[@]}" --dry-run; then
    if [ -e "$TMP/tune-dry" ] && compgen -G "$TMP/tune-dry/tiles-*" >/dev/null; then
        bad "tune --dry-run saves nothing" "$(ls "$TMP/tune-dry")"
    elif grep -Eq '^best: ((the defaults, )?conv1x1 |the [a-z]+ family )' "$TMP/out" && grep -q '^not saved (--dry-run)$' "$TMP/out"; then
        ok "tune --dry-run saves nothing"
    else
        bad "tune --dry-run saves nothing" "$(cat "$TMP/out")"
    fi
fi
expect_fail "tune --conv1x1 bad tile" 2 "1x1 conv tile of 3 pixels" tune --conv1x1 4x3
expect_fail "tune --conv malformed" 2 "--conv needs tiles CxP" tune --conv 16x3,,x
expect_fail "tune --conv another family" 2 "tune measures the direct family's tiles" \
    tune --conv gemm
expect_fail "tune --kernel-params with tiles" 2 "the tiles are tune's to choose" \
    tune --kernel-params direct:1x1=4x8
expect_fail "tune two devices" 2 "one device at a time" tune --device all

expect_fail "bench trace in a missing directory" 1 "cannot create" \
    "${B[@]}" --trace "$TMP/no/such/dir/trace.json"
expect_fail "bench --batch 0" 2 "--batch needs an integer" bench --batch 0
expect_fail "bench --size 0x5" 2 "--size needs HxW" bench --size 0x5
expect_fail "bench --size too small" 1 "too small for this model" \
    bench --model densenet121 --size 20
expect_fail "bench unknown model" 2 "--model" bench --model densenet999

# ----------------------------------------------------------------------------- hardening (issue 15)

RUN=(run --model "$BC" --random-weights 1 --input "$TMP/x.npy")
HD=$TMP/hard
rm -rf "$HD"
mkdir -p "$HD"
if expect_ok "outputs: reference" "${RUN[@]}" --output "$HD/ref.npy"; then
    # A symlink: its target gets the logits and the link stays a link.
    ln -s target.npy "$HD/link.npy"
    cli "${RUN[@]}" --output "$HD/link.npy"
    if [ "$rc" -eq 0 ] && [ -L "$HD/link.npy" ] && cmp -s "$HD/target.npy" "$HD/ref.npy"; then
        ok "outputs: a symlink's target is written, the link kept"
    else
        bad "outputs: a symlink's target is written, the link kept" \
            "exit $rc, $(ls -l "$HD" | tr '\n' ' ') $(cat "$TMP/err")"
    fi
    # /dev/stdout: the bytes arrive on standard output (a file here, as a shell redirects it).
    cli "${RUN[@]}" --output /dev/stdout
    if [ "$rc" -eq 0 ] && cmp -s "$TMP/out" "$HD/ref.npy"; then
        ok "outputs: /dev/stdout gets the logits"
    else
        bad "outputs: /dev/stdout gets the logits" "exit $rc, $(wc -c <"$TMP/out") bytes"
    fi
    # A FIFO: its reader gets the logits, the FIFO stays.
    mkfifo "$HD/fifo"
    timeout 120 cat "$HD/fifo" >"$HD/from-fifo" &
    reader=$!
    CLI_PREFIX=(timeout 120 "$BIN")
    cli "${RUN[@]}" --output "$HD/fifo"
    CLI_PREFIX=("$BIN")
    wait "$reader"
    if [ "$rc" -eq 0 ] && [ -p "$HD/fifo" ] && cmp -s "$HD/from-fifo" "$HD/ref.npy"; then
        ok "outputs: a FIFO's reader gets the logits"
    else
        bad "outputs: a FIFO's reader gets the logits" "exit $rc: $(cat "$TMP/err")"
    fi
    # A character device is written into. As root, a node of our own for /dev/null's device,
    # so that a writer that replaces it (0.3.0) cannot break the machine's /dev/null.
    null=/dev/null
    if [ "$(id -u)" -eq 0 ] && mknod "$HD/null" c 1 3 2>/dev/null; then null=$HD/null; fi
    cli "${RUN[@]}" --output "$null"
    if [ "$rc" -eq 0 ] && [ -c "$null" ]; then
        ok "outputs: a character device stays one"
    else
        bad "outputs: a character device stays one" "exit $rc, $(ls -l "$null") $(cat "$TMP/err")"
    fi
    # A 250-byte file name: the temporary's name must fit too.
    long=$HD/$(printf 'n%.0s' $(seq 250))
    cli "${RUN[@]}" --output "$long"
    if [ "$rc" -eq 0 ] && cmp -s "$long" "$HD/ref.npy"; then
        ok "outputs: a 250-byte name"
    else
        bad "outputs: a 250-byte name" "exit $rc: $(cat "$TMP/err")"
    fi
    rm -f "$long" "$HD/null"
fi
mkdir -p "$HD/adir"
expect_fail "outputs: a directory is refused" 1 "adir is a directory" "${RUN[@]}" --output "$HD/adir"
# An output that is an input is refused before anything is read or written.
cp "$TMP/x.npy" "$HD/in.npy"
ln -sf in.npy "$HD/in-link.npy"
for o in "$HD/in.npy" "$HD/in-link.npy" "$HD/../hard/in.npy"; do
    cli run --model "$BC" --random-weights 1 --input "$HD/in.npy" --output "$o"
    if [ "$rc" -eq 2 ] && grep -q -- "--output .* is also an input" "$TMP/err" &&
        cmp -s "$HD/in.npy" "$TMP/x.npy"; then
        ok "outputs: --output ${o#"$HD/"} as --input is refused"
    else
        bad "outputs: --output ${o#"$HD/"} as --input is refused" "exit $rc: $(cat "$TMP/err")"
    fi
done
cp "$TMP/d40.safetensors" "$HD/w.safetensors"
expect_fail "outputs: --output as --weights is refused" 2 "is also an input" \
    run --weights "$HD/w.safetensors" --input "$TMP/x.npy" --output "$HD/w.safetensors"
expect_fail "outputs: bench --trace as --weights is refused" 2 "--trace .* is also an input" \
    bench --weights "$HD/w.safetensors" --trace "$HD/w.safetensors"
cmp -s "$HD/w.safetensors" "$TMP/d40.safetensors" && ok "outputs: the weights are intact" ||
    bad "outputs: the weights are intact" "w.safetensors changed"
# Temporaries that dead processes left are removed by the next write in the directory; a
# recent one (perhaps a live writer in another PID namespace) stays.
: >"$HD/.y.npy.densecl-999999999-Ab12Cd"
touch -d '2 hours ago' "$HD/.y.npy.densecl-999999999-Ab12Cd"
: >"$HD/.y.npy.densecl-999999998-Ab12Cd"
if expect_ok "outputs: write beside stale temporaries" "${RUN[@]}" --output "$HD/y.npy"; then
    if [ ! -e "$HD/.y.npy.densecl-999999999-Ab12Cd" ] &&
        [ -e "$HD/.y.npy.densecl-999999998-Ab12Cd" ]; then
        ok "outputs: stale temporaries of dead processes removed"
    else
        bad "outputs: stale temporaries of dead processes removed" "$(ls -a "$HD" | tr '\n' ' ')"
    fi
fi
rm -f "$HD"/.y.npy.densecl-*

# FIFOs as inputs are refused at once (timeout: 0.3.0 waited forever).
mkfifo "$HD/in-fifo"
CLI_PREFIX=(timeout 60 "$BIN")
expect_fail "inputs: --input FIFO" 1 "in-fifo is a FIFO, not a regular file" \
    run --model "$BC" --random-weights 1 --input "$HD/in-fifo" --output "$TMP/y.npy"
expect_fail "inputs: --weights FIFO" 1 "in-fifo is a FIFO, not a regular file" \
    run --weights "$HD/in-fifo" --input "$TMP/x.npy" --output "$TMP/y.npy"
expect_fail "inputs: --kernels-binary FIFO" 1 "in-fifo is a FIFO, not a regular file" \
    "${RUN[@]}" --kernels-binary "$HD/in-fifo" --output "$TMP/y.npy"
expect_fail "inputs: --weights directory" 1 "is a directory, not a regular file" \
    run --weights "$HD" --input "$TMP/x.npy" --output "$TMP/y.npy"
DENSECL_KERNELS=$HD/in-fifo expect_fail "inputs: DENSECL_KERNELS FIFO" 1 \
    "DENSECL_KERNELS[=:] .*in-fifo is a FIFO" "${RUN[@]}" --output "$TMP/y.npy"
CLI_PREFIX=("$BIN")

# Signals: run dies of SIGTERM/SIGHUP like of SIGINT, leaving no file behind. It is stopped
# while it waits for a FIFO reader that never comes (a point it surely reaches).
for sig in INT TERM HUP; do
    rm -f "$HD/sig-fifo"
    mkfifo "$HD/sig-fifo"
    "$BIN" "${RUN[@]}" --output "$HD/sig-fifo" >"$TMP/out" 2>"$TMP/err" &
    pid=$!
    for _ in $(seq 600); do
        # blocked in open() of the FIFO (wait_for_partner)
        [ -r /proc/$pid/wchan ] && grep -Eq 'fifo|partner' "/proc/$pid/wchan" 2>/dev/null && break
        sleep 0.1
    done
    kill -"$sig" "$pid"
    wait "$pid" 2>/dev/null # (bash would report the job's "Hangup")
    rc=$?
    want=$((128 + $(kill -l "$sig")))
    left=$(ls -A "$HD" | grep densecl- | tr '\n' ' ')
    if [ "$rc" -eq "$want" ] && [ -z "$left" ]; then
        ok "signals: run ends on SIG$sig with $want, nothing left"
    else
        bad "signals: run ends on SIG$sig with $want, nothing left" "exit $rc, left: $left"
    fi
done

# One-line errors. A kernel build failure names a file with the compiler's log.
# The kernel sources copied (kernels.cl lists the files of kernels/ beside it), one broken.
rm -rf "$HD/broken" && mkdir -p "$HD/broken" &&
    cp "$(dirname "$0")/../../kernels.cl" "$HD/broken/" &&
    cp -r "$(dirname "$0")/../../kernels" "$HD/broken/" &&
    printf '__kernel void broken(__global float *x) { x[0] = undeclared_thing; }\n' \
        >>"$HD/broken/kernels/pool.cl"
# (POCL's compiler itself prints "1 error generated." on stderr: not densecl's line, dropped.)
DENSECL_KERNELS=$HD/broken/kernels.cl TMPDIR=$HD cli "${RUN[@]}" --output "$TMP/y.npy"
sed -i -E '/^[0-9]+ (errors?|warnings?)( and [0-9]+ (errors?|warnings?))? generated\.$/d' "$TMP/err"
why=$(one_error_line)
if [ "$rc" -eq 1 ] && [ -z "$why" ] &&
    grep -q "did not build.*; the build log is in $HD/densecl-build-.*\.log$" "$TMP/err"; then
    ok "errors: build log in a file"
else
    bad "errors: build log in a file" "exit $rc $why: $(head -c 600 "$TMP/err")"
fi
logf=$(sed -n 's/.*the build log is in \(.*\.log\)$/\1/p' "$TMP/err")
if [ -n "$logf" ] && grep -q undeclared_thing "$logf"; then
    ok "errors: the build log file holds the compiler's message"
else
    bad "errors: the build log file holds the compiler's message" "'$logf': $(head -c 300 "$logf" 2>&1)"
fi
# A full disk under POCL's cache is named (a tmpfs of 4 KiB in a private mount namespace).
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    bad "errors: full POCL cache disk named" "needs root and unshare -m (CI runs as root)"
else
    mkdir -p "$HD/pocl-full" "$HD/dc-full"
    rm -f "$TMP/y.npy"
    capture "$TMP/out" "$TMP/err" unshare -m --propagation private sh -c \
        'mount -t tmpfs -o size=4k tmpfs "$1" && POCL_CACHE_DIR=$1 DENSECL_CACHE_DIR=$2 TMPDIR=$2 \
         exec "$3" run --model densenet-40-k12 --random-weights 3 --input "$4" --output "$5"' \
        sh "$HD/pocl-full" "$HD/dc-full" "$BIN" "$TMP/x.npy" "$TMP/y.npy"
    why=$(one_error_line)
    if [ "$rc" -eq 1 ] && [ -z "$why" ] && grep -q "POCL_CACHE_DIR=$HD/pocl-full is on a full disk" "$TMP/err"
    then
        ok "errors: full POCL cache disk named"
    else
        bad "errors: full POCL cache disk named" "exit $rc $why: $(head -c 600 "$TMP/err")"
    fi
fi
# A read-only POCL cache (issue 25 item 12): POCL_CACHE_DIR on a read-only mount, and a
# read-only HOME without POCL_CACHE_DIR or XDG_CACHE_HOME (a read-only container), where POCL
# lists no device at all. Each ends in one line naming the directory and POCL_CACHE_DIR (0.6.0:
# "the kernels did not build", "OpenCL platforms found, but no devices").
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    bad "errors: read-only POCL caches named" "needs root and unshare -m (CI runs as root)"
else
    mkdir -p "$HD/pocl-ro" "$HD/home-ro" "$HD/dc-ro"
    ro_case() { # NAME PATTERN DIR ENV... -- ARGS...: DIR read-only, then densecl ARGS under ENV
        local name=$1 pattern=$2 dir=$3
        shift 3
        rm -f "$TMP/y.npy"
        capture "$TMP/out" "$TMP/err" unshare -m --propagation private sh -c \
            'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec env "$@"' \
            sh "$dir" "$@"
        why=$(one_error_line)
        if [ "$rc" -eq 1 ] && [ -z "$why" ] && grep -Eq -- "$pattern" "$TMP/err" &&
            [ ! -e "$TMP/y.npy" ]; then
            ok "errors: $name"
        else
            bad "errors: $name" "exit $rc $why: $(head -c 600 "$TMP/err")"
        fi
    }
    ro_case "read-only POCL_CACHE_DIR named" \
        "^densecl: error: POCL's kernel cache POCL_CACHE_DIR=$HD/pocl-ro is not writable \(Read-only file system\).*point POCL_CACHE_DIR at a writable directory" \
        "$HD/pocl-ro" POCL_CACHE_DIR="$HD/pocl-ro" DENSECL_CACHE_DIR="$HD/dc-ro" TMPDIR="$HD" \
        "$BIN" run --model densenet-40-k12 --random-weights 3 --input "$TMP/x.npy" --output "$TMP/y.npy"
    for c in run info; do
        args=(run --model densenet-40-k12 --random-weights 3 --input "$TMP/x.npy" --output "$TMP/y.npy")
        [ "$c" = info ] && args=(info)
        ro_case "read-only HOME without POCL_CACHE_DIR named ($c)" \
            "^densecl: error: POCL lists no device: POCL cannot create its kernel cache $HD/home-ro/\.cache/pocl/kcache: $HD/home-ro is not writable \(Read-only file system\); set POCL_CACHE_DIR to a writable directory" \
            "$HD/home-ro" -u POCL_CACHE_DIR -u XDG_CACHE_HOME HOME="$HD/home-ro" \
            DENSECL_CACHE_DIR="$HD/dc-ro" "$BIN" "${args[@]}"
    done
fi
# --help and --version to a full stdout fail, and say so.
for a in --help --version "run --help"; do
    # shellcheck disable=SC2086
    "$BIN" $a >/dev/full 2>"$TMP/err"
    rc=$?
    if [ "$rc" -ne 0 ] && grep -q "^densecl: error: writing to standard output failed: No space" "$TMP/err"
    then
        ok "errors: $a to /dev/full"
    else
        bad "errors: $a to /dev/full" "exit $rc: $(cat "$TMP/err")"
    fi
done

# Smaller things. '0:0 ' is accepted as ' 0:0' is.
for d in ' 0:0' '0:0 '; do
    expect_ok "device spec '$d'" "${RUN[@]}" --output "$HD/spec.npy" --device "$d"
done
# A huge input is refused from its header: the data (absent here) is never read.
"$PY" - "$HD/huge.npy" <<'EOF_PY'
import struct, sys
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 20000, 20000), }"
h += " " * (-(len(h) + 11) % 64) + "\n"
open(sys.argv[1], "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode())
EOF_PY
expect_fail "inputs: 20000x20000 refused from the header" 1 \
    "huge\.npy: images of 20000x20000 pixels: each side must be at most 16384" \
    run --model "$BC" --random-weights 1 --input "$HD/huge.npy" --output "$TMP/y.npy"

# --verbose routes the library's log to stderr; the error is still one "densecl: error:" line.
cli --verbose run "${W[@]}" --input "$TMP/nope.npy"
if [ "$rc" -ne 1 ]; then
    bad "verbose" "exit status $rc, want 1"
elif [ "$(grep -c '^densecl: error: ' "$TMP/err")" -ne 1 ]; then
    bad "verbose" "want one error line: $(cat "$TMP/err")"
elif ! grep -q '^densecl: \[debug\] ' "$TMP/err"; then
    bad "verbose" "no '[debug]' log line: $(cat "$TMP/err")"
elif grep -v '^densecl: \[\(error\|warn\|info\|debug\)\] \|^densecl: error: ' "$TMP/err" |
    grep -q .; then
    bad "verbose" "unexpected stderr lines: $(cat "$TMP/err")"
else
    ok "verbose"
fi

# ----------------------------------------------------------------------------- host memory
# Issue 15 item 6: a CPU device's buffers are the process's memory, and POCL allocates them
# lazily and aborts (exit 134) when it cannot. Under `ulimit -v` a run must end with one clean
# error line or a correct result.

# under_ulimit KIB ARGS...: the tool with its address space limited to KIB KiB; sets rc, $TMP/err.
under_ulimit() {
    local kib=$1
    shift
    (ulimit -v "$kib" && exec "$BIN" "$@") >"$TMP/out" 2>"$TMP/err"
    rc=$?
}

# Under ASan the tool cannot even start with its address space limited (its shadow memory alone
# reserves terabytes): there, and only there, these cases are skipped, saying why.
ulimit_skip=
under_ulimit 3000000 --version
if [ "$rc" -ne 0 ] && grep -q "ReserveShadowMemoryRange\|Sanitizer" "$TMP/err"; then
    ulimit_skip="a sanitizer build cannot start under ulimit -v: $(head -c 200 "$TMP/err" | tr "\n" " ")"
fi

# The issue's case: a 3000x3000 image (about 9 GiB of activations for DenseNet-BC-100) under
# 3 GB: too large whatever else the process holds, so refused with the sizes (on a device that
# is no CPU it may be computed instead).
if [ -n "$ulimit_skip" ]; then
    echo "skip ulimit -v: huge image: $ulimit_skip"
elif [ -z "$PY" ]; then
    bad "ulimit -v: huge image" "no python3 with numpy"
else
    "$PY" -c "import numpy as np; np.save('$TMP/huge.npy', np.zeros((1, 3, 3000, 3000), np.float32))"
    rm -f "$TMP/y.npy"
    under_ulimit 3000000 run --model "$BC" --random-weights 1 --input "$TMP/huge.npy" \
        --output "$TMP/y.npy"
    why=$(one_error_line)
    if [ "$rc" -eq 0 ] && [ -s "$TMP/y.npy" ]; then
        ok "ulimit -v: huge image"
    elif [ "$rc" -ne 1 ]; then
        bad "ulimit -v: huge image" "exit status $rc, want 0 or 1; stderr: $(head -c 600 "$TMP/err")"
    elif [ -n "$why" ]; then
        bad "ulimit -v: huge image" "$why"
    elif ! grep -Eq 'needs [0-9]+ MiB of activations in host memory.*RLIMIT_AS' "$TMP/err"; then
        bad "ulimit -v: huge image" "the error gives no sizes: $(cat "$TMP/err")"
    elif [ -e "$TMP/y.npy" ]; then
        bad "ulimit -v: huge image" "left $TMP/y.npy behind"
    else
        ok "ulimit -v: huge image"
    fi
    rm -f "$TMP/huge.npy"
fi

# A batch split to fit: a model with large activations and little compute (a 1 -> 64 channel
# stem at full resolution, one dense layer of growth rate 1), 3 images of 1500x1500 (about
# 570 MiB of activations each). The limit rises in steps of about 195 MiB, a third of one
# image, from where the engine starts at all; each run that fails must fail cleanly, and the
# first that succeeds holds one image at a time, or two (the step before held none), so it
# split the batch: its logits must equal an unlimited run's.
if [ -n "$ulimit_skip" ]; then
    echo "skip ulimit -v: batch split to fit: $ulimit_skip"
elif [ -z "$PY" ]; then
    bad "ulimit -v: batch split to fit" "no python3 with numpy"
else
    "$PY" - "$TMP" <<'EOF'
import json, struct, sys
import numpy as np
d = sys.argv[1]
rs = np.random.RandomState(1)
t = {"features.conv0.weight": rs.randn(64, 1, 3, 3) * 0.3}
def bn(name, c):
    t[name + ".weight"] = 1 + 0.1 * rs.randn(c)
    t[name + ".bias"] = 0.1 * rs.randn(c)
    t[name + ".running_mean"] = 0.1 * rs.randn(c)
    t[name + ".running_var"] = 1 + 0.1 * rs.rand(c)
bn("features.denseblock1.denselayer1.norm1", 64)
t["features.denseblock1.denselayer1.conv1.weight"] = rs.randn(1, 64, 3, 3) * 0.05
bn("features.norm5", 65)
t["classifier.weight"] = rs.randn(10, 65) * 0.1
t["classifier.bias"] = rs.randn(10) * 0.1
head, blobs, off = {}, [], 0
for k, v in t.items():
    b = np.ascontiguousarray(v, dtype="<f4").tobytes()
    head[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(head).encode()
h += b" " * (-len(h) % 8)
open(d + "/wide.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
np.save(d + "/wide1.npy", rs.rand(1, 1, 32, 32).astype(np.float32))
np.save(d + "/wide3.npy", rs.rand(3, 1, 1500, 1500).astype(np.float32))
EOF
    WIDE=(run --weights "$TMP/wide.safetensors")
    result="the unlimited run failed"
    cli "${WIDE[@]}" --input "$TMP/wide3.npy" --output "$TMP/wide-ref.npy"
    [ "$rc" -eq 0 ] && result="no run succeeded under 6 GB" || result="$result: $(cat "$TMP/err")"
    # Where the engine starts at all (a 32x32 image): below, the driver itself may fail to start.
    kib=400000
    while [ "$kib" -lt 3000000 ]; do
        under_ulimit "$kib" "${WIDE[@]}" --input "$TMP/wide1.npy" --output "$TMP/wide1-out.npy"
        [ "$rc" -eq 0 ] && break
        kib=$((kib + 100000))
    done
    while [ "$kib" -lt 6000000 ] && [ -s "$TMP/wide-ref.npy" ]; do
        rm -f "$TMP/y.npy"
        under_ulimit "$kib" "${WIDE[@]}" --input "$TMP/wide3.npy" --output "$TMP/y.npy"
        why=$(one_error_line)
        if [ "$rc" -eq 0 ]; then
            cmp -s "$TMP/y.npy" "$TMP/wide-ref.npy" && result= ||
                result="logits under ulimit -v $kib differ from the unlimited run's"
            break
        elif [ "$rc" -ne 1 ]; then
            result="ulimit -v $kib: exit status $rc; stderr: $(head -c 600 "$TMP/err")"
            break
        elif [ -n "$why" ] || [ -e "$TMP/y.npy" ]; then
            result="ulimit -v $kib: ${why:-left y.npy behind}"
            break
        fi
        kib=$((kib + 200000))
    done
    if [ -z "$result" ]; then
        ok "ulimit -v: batch split to fit"
    else
        bad "ulimit -v: batch split to fit" "$result"
    fi
    rm -f "$TMP/wide3.npy"
fi

finish
