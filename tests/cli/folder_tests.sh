#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# folder_tests.sh DENSECL FIXTURES SCRATCH - a user's own model and folders, end to end (issue 24):
#   - a 48x48 3-channel DenseNet without metadata, exported plainly with torch.onnx.export,
#     classifies a labelled ImageFolder tree at its declared size, saying in one warning line
#     (and in --json) what it assumed; its images, their order and truths are torchvision's
#     ImageFolder's and its probabilities the torch model's (tests/generators/gen_folders.py);
#   - a size that contradicts the graph's static input is refused naming it as ONNX Runtime
#     does, by classify and by run; the preprocessing options set every field;
#   - class folders matched to the model's names, by sorted position when none is a name, and
#     refused when some are; what a folder walk skipped is counted;
#   - --threads and the gpu|cpu fallback through the tools, and what info says of them.
# FIXTURES is what gen_folders.py prepare wrote (the ctest fixture folder_fixtures; this script
# writes only to SCRATCH). Each case prints "ok NAME" or "FAIL NAME: why"; nothing is skipped.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 DENSECL FIXTURES SCRATCH" >&2
    exit 2
fi
BIN=$(realpath -- "$1") || exit 2
FX=$(realpath -- "$2") || exit 2
TMP=$(realpath -m -- "$3") || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${DENSECL_PYTHON:-/usr/bin/python3}
GEN="$HERE/../generators/gen_folders.py"
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2
. "$HERE/../support/lib.sh"
if [ ! -f "$FX/stamp" ]; then
    echo "folder_tests: no $FX/stamp (run gen_folders.py prepare first)" >&2
    exit 1
fi
cd "$FX" || exit 2

cli() {
    capture "$TMP/out" "$TMP/err" "$BIN" "$@"
}

# The warnings of stderr, one a line, without POCL's "N warnings generated." of a first build.
warnings() {
    grep -v 'warnings\? generated\.$' "$TMP/err"
}

# expect_error NAME CODE PATTERN ARGS...: exit status CODE, one error line matching PATTERN.
expect_error() {
    local name=$1 code=$2 pattern=$3
    shift 3
    cli "$@"
    if [ "$rc" -ne "$code" ]; then
        bad "$name" "exit status $rc, want $code; stderr: $(head -c 600 "$TMP/err")"
    elif [ "$(grep -c '^densecl: error: ' "$TMP/err")" -ne 1 ]; then
        bad "$name" "want one 'densecl: error:' line, got: $(head -c 600 "$TMP/err")"
    elif ! grep -Fq -- "$pattern" "$TMP/err"; then
        bad "$name" "stderr does not say '$pattern': $(cat "$TMP/err")"
    else
        ok "$name"
    fi
}

# --- the model of item 1: declared size, one warning, ImageFolder's images and truths --------
cli classify --weights model48.onnx --truth folders --json tree
cp "$TMP/out" "$TMP/assumed.json"
n_assume=$(grep -c 'model48.onnx has no preprocessing metadata: assuming --resize 48 --size 48 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 (the input size its ONNX graph declares' "$TMP/err")
if [ "$rc" -ne 0 ]; then
    bad "declared size" "exit status $rc: $(cat "$TMP/err")"
elif [ "$n_assume" -ne 1 ]; then
    bad "declared size" "want one warning saying what is assumed, got: $(cat "$TMP/err")"
elif ! check=$("$PY" "$GEN" check "$FX" "$TMP/assumed.json" tree 2>&1); then
    bad "declared size" "$check"
elif ! "$PY" - "$TMP/assumed.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["preprocessing"]
assert p["source"] == "onnx-input" and p["assumed"] is True, p
assert "assuming --resize 48 --size 48" in p["warning"], p
assert (p["height"], p["width"], p["resize"], p["crop"]) == (48, 48, 48, [48, 48]), p
assert d["summary"]["top1_accuracy"] == 1.0 and d["summary"]["labelled"] == 9, d["summary"]
assert d["summary"]["skipped_files"] == 3, d["summary"]
EOF
then
    bad "declared size" "the --json document: $(head -c 800 "$TMP/assumed.json")"
else
    ok "declared size: 9/9 as torch and ImageFolder ($check)"
fi
# What the old silent guess (ImageNet's 256/224) scores in torch: less, so the case can tell.
if old=$("$PY" "$GEN" torch_accuracy "$FX" tree 256 224 2>/dev/null) && [ "$old" != "9/9" ]; then
    ok "ImageNet's preprocessing would score $old in torch"
else
    bad "the fixture" "ImageNet's preprocessing scores ${old:-?} in torch: the case cannot tell"
fi
if grep -q "skipped 1 file not named as an image (tree/cat/notes.txt), 1 image outside the class folders, 1 hidden entry" "$TMP/err" &&
    grep -q "folder i in sorted order is class i, as torchvision's ImageFolder numbers them ('cat' is class 0)" "$TMP/err"; then
    ok "skipped files counted, positional classes said"
else
    bad "skipped files counted, positional classes said" "$(cat "$TMP/err")"
fi

cli classify --weights model48.onnx --truth folders tree
if [ "$rc" -eq 0 ] && grep -q '^top-1 accuracy: 100.00% (9/9)$' "$TMP/out"; then
    ok "text accuracy"
else
    bad "text accuracy" "rc $rc: $(cat "$TMP/out" "$TMP/err")"
fi

# Every field given: nothing assumed, no warning, the same probabilities.
cli classify --weights model48.onnx --truth folders --json --size 48 --resize 48 \
    --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 tree
if [ "$rc" -eq 0 ] && ! grep -q assuming "$TMP/err" &&
    "$PY" - "$TMP/assumed.json" "$TMP/out" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert b["preprocessing"]["source"] == "given" and b["preprocessing"]["assumed"] is False
assert [i["top"] for i in a["images"]] == [i["top"] for i in b["images"]]
EOF
then
    ok "options set every field"
else
    bad "options set every field" "rc $rc: $(cat "$TMP/err")"
fi

expect_error "contradicting size refused (classify)" 1 \
    "declares its input 'input.1' [2, 3, 48, 48]: index: 2 Got: 64 Expected: 48; index: 3 Got: 64 Expected: 48" \
    classify --weights model48.onnx --size 64 tree/cat/cat1.png
expect_error "contradicting size refused (run)" 1 \
    "input of 64x64 pixels (height x width), but the ONNX graph declares its input 'input.1' [2, 3, 48, 48]: index: 2 Got: 64 Expected: 48" \
    run --weights model48.onnx --input model48.input64.npy --output "$TMP/y.npy"
cli run --weights model48.onnx --input model48.input48.npy --output "$TMP/y.npy"
[ "$rc" -eq 0 ] && ok "declared size runs (batch free)" || bad "declared size runs" "$(cat "$TMP/err")"
expect_error "bad --size" 2 "--size wants N or HxW" classify --weights model48.onnx --size 4x tree
expect_error "bad --mean" 2 "--mean wants 1 or 3 numbers" classify --weights model48.onnx \
    --mean 0.5,0.5 tree
expect_error "--channels checked" 1 "gives 1 channels, the model has 3" \
    classify --weights model48.onnx --channels 1 tree

# A 1-channel model has no standard mean and std: refused until they are given.
expect_error "no standard to assume" 1 "give the mean and std (classify's --size, --mean and --std)" \
    classify --weights gray28.onnx tree/cat/cat1.png
cli classify --weights gray28.onnx --mean 0.5 --std 0.25 --json tree/cat/cat1.png
if [ "$rc" -eq 0 ] && grep -q "assuming --resize 28 --size 28 --mean 0.5 --std 0.25" "$TMP/err"; then
    ok "given mean and std, declared size"
else
    bad "given mean and std, declared size" "rc $rc: $(cat "$TMP/err")"
fi

# --- class folders and names -------------------------------------------------------------
cli classify --weights model48.onnx --truth folders --json --labels labels.txt named
cp "$TMP/out" "$TMP/named.json"
if [ "$rc" -ne 0 ]; then
    bad "folders matched by name" "rc $rc: $(cat "$TMP/err")"
elif grep -q "sorted order" "$TMP/err"; then
    bad "folders matched by name" "matched by position: $(cat "$TMP/err")"
elif ! check=$("$PY" "$GEN" check "$FX" "$TMP/named.json" named 2>&1); then
    bad "folders matched by name" "$check"
else
    ok "folders matched by name, not by sorted position ($check)"
fi
expect_error "folders partly named as classes" 1 \
    "1 of the 3 class folders are not class names of the model ('moth')" \
    classify --weights model48.onnx --truth folders --labels partial.txt named
expect_error "--truth folders takes directories" 2 "--truth folders takes directories" \
    classify --weights model48.onnx --truth folders tree/cat/cat1.png

# A plain walk: every image in sorted(os.walk()) order, what it skipped counted.
cli classify --weights model48.onnx --json tree
if [ "$rc" -eq 0 ] && "$PY" - "$TMP/out" <<'EOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
want = []
for root, dirs, files in sorted(os.walk("tree")):
    dirs[:] = [x for x in dirs if not x.startswith(".")]
    want += [os.path.join(root, f) for f in sorted(files)
             if f.endswith(".png") and not f.startswith(".")]
got = [i["input"] for i in d["images"]]
assert got == want, (got, want)
EOF
then
    grep -q "tree: 10 images; skipped 1 file not named as an image (tree/cat/notes.txt), 1 hidden entry" "$TMP/err" &&
        ok "plain folder walk" || bad "plain folder walk" "$(cat "$TMP/err")"
else
    bad "plain folder walk" "rc $rc: $(head -c 600 "$TMP/out") $(cat "$TMP/err")"
fi
mkdir -p "$TMP/empty/sub"
: >"$TMP/empty/sub/readme.txt"
expect_error "a folder without images" 1 "holds no images" \
    classify --weights model48.onnx "$TMP/empty"

# --- threads and the fallback through the tools --------------------------------------------
cli run --device 'gpu|cpu' --threads 1 --verbose --weights model48.onnx \
    --input model48.input48.npy --output "$TMP/y1.npy"
if [ "$rc" -eq 0 ] && grep -q "1 thread (a sub-device)" "$TMP/err" && cmp -s "$TMP/y.npy" "$TMP/y1.npy"; then
    ok "gpu|cpu and --threads 1: the same logits"
else
    bad "gpu|cpu and --threads 1" "rc $rc: $(cat "$TMP/err")"
fi
cli info
if [ "$rc" -eq 0 ] && grep -q "^fallback: --device gpu|cpu takes the first that exists" "$TMP/out"; then
    ok "info says the fallback"
else
    bad "info says the fallback" "$(cat "$TMP/out" "$TMP/err")"
fi
if ! "$BIN" info | grep -q '  GPU  '; then
    expect_error "gpu,cpu splits and needs both" 1 "no OpenCL device matches 'gpu'" \
        run --device gpu,cpu --weights model48.onnx --input model48.input48.npy --output "$TMP/y2.npy"
fi
expect_error "--threads checked" 2 "--threads needs a positive integer" \
    classify --weights model48.onnx --threads 0 tree

finish
