#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# classify_tests.sh DENSECL SCRATCH - end-to-end tests of `densecl classify`.
#
# DENSECL is build/bin/densecl, SCRATCH a directory this script empties and uses. Fixtures (small
# seeded models, images in several formats, IDX and label files) come from
# tests/generators/classify_reference.py, which also recomputes densecl's answers with
# torch/torchvision; the ImageNet model is written by tools/export/export_torchvision.py --random 0.
# $DENSECL_PYTHON names the Python (default /usr/bin/python3). Each case prints "ok NAME" or "FAIL NAME: why"; the last
# line is "N passed, N failed" and the exit status is non-zero on any failure. Nothing is skipped:
# a missing Python, dataset or OpenCL device fails the cases that need it.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 DENSECL SCRATCH" >&2
    exit 2
fi
BIN=$(realpath -- "$1") || exit 2
TMP=$(realpath -m -- "$2") || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${DENSECL_PYTHON:-/usr/bin/python3}
REF="$HERE/../generators/classify_reference.py"
FASHION=/usr/share/datasets/fashion-mnist
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2
FX="$TMP/fx"

# shellcheck source=lib.sh
. "$(dirname "$0")/../support/lib.sh"

# cli ARGS...: runs `densecl classify ARGS`; sets rc, leaves stdout in $TMP/out, stderr in
# $TMP/err.
cli() {
    capture "$TMP/out" "$TMP/err" "$BIN" classify "$@"
}

# expect_error NAME CODE PATTERN ARGS...: exit status CODE, one error line matching PATTERN,
# nothing on stdout.
expect_error() {
    local name=$1 code=$2 pattern=$3
    shift 3
    cli "$@"
    if [ "$rc" -ne "$code" ]; then
        bad "$name" "exit status $rc, want $code; stderr: $(head -c 600 "$TMP/err")"
    elif [ "$(wc -l <"$TMP/err")" -ne 1 ] || ! grep -q '^densecl: error: ' "$TMP/err"; then
        bad "$name" "want one 'densecl: error:' line, got: $(head -c 600 "$TMP/err")"
    elif ! grep -Eiq -- "$pattern" "$TMP/err"; then
        bad "$name" "stderr does not match /$pattern/: $(cat "$TMP/err")"
    elif [ -s "$TMP/out" ]; then
        bad "$name" "stdout not empty: $(head -c 300 "$TMP/out")"
    else
        ok "$name"
    fi
}

# expect_ok NAME ARGS...: exit status 0 and an empty stderr; returns 1 (reported) otherwise.
# POCL's compiler prints "N warnings generated." when it builds kernels.cl into an empty
# POCL_CACHE_DIR: that line is not densecl's and is dropped.
expect_ok() {
    local name=$1
    shift
    cli "$@"
    sed -i -E '/^[0-9]+ warnings? generated\.$/d' "$TMP/err"
    if [ "$rc" -ne 0 ]; then
        bad "$name" "exit status $rc; stderr: $(head -c 1500 "$TMP/err")"
        return 1
    elif [ -s "$TMP/err" ]; then
        bad "$name" "stderr not empty: $(head -c 600 "$TMP/err")"
        return 1
    fi
    return 0
}

# reference NAME WEIGHTS JSON [--loose]: torchvision agrees with densecl's JSON document.
reference() {
    local name=$1 why
    if why=$("$PY" "$REF" check "$2" "$3" ${4:+"$4"} 2>&1); then
        ok "$name"
    else
        bad "$name" "$(echo "$why" | head -c 1500)"
    fi
}

# pycheck NAME CODE ARGS...: runs Python CODE (sys.argv[1:] = ARGS); ok when it prints nothing.
pycheck() {
    local name=$1 code=$2 why
    shift 2
    why=$("$PY" -c "$code" "$@" 2>&1)
    if [ -n "$why" ]; then
        bad "$name" "$(echo "$why" | head -c 1500)"
    else
        ok "$name"
    fi
}

# ----------------------------------------------------------------------------- fixtures

if "$PY" "$REF" prepare "$FX" >"$TMP/prep.log" 2>&1; then
    ok "fixtures"
else
    bad "fixtures" "$(tail -c 1500 "$TMP/prep.log")"
fi
D121="$TMP/densenet121.safetensors"
if "$PY" "$HERE/../../tools/export/export_torchvision.py" --model densenet121 --random 0 \
    --out "$D121" >"$TMP/export.log" 2>&1; then
    ok "export densenet121"
else
    bad "export densenet121" "$(tail -c 1500 "$TMP/export.log")"
fi
FASHION_NAMES='T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot'
GREY="$FX/grey.safetensors"
COLOUR="$FX/colour.safetensors"
cd "$FX" || exit 2 # inputs by short names, as a user types them

# ----------------------------------------------------------------------------- usage

expect_error "usage: no input" 2 "missing INPUT" --weights "$GREY"
expect_error "usage: no weights" 2 "missing --weights" fashion3.idx
expect_error "usage: bad --top" 2 "--top" --weights "$GREY" --top 0 fashion3.idx
expect_error "usage: bad --batch" 2 "--batch" --weights "$GREY" --batch x fashion3.idx
expect_error "usage: unknown option" 2 "unknown option '--frobnicate'" --weights "$GREY" \
    --frobnicate fashion3.idx
expect_error "usage: unknown model" 2 "--model" --model nosuch --weights "$GREY" fashion3.idx
cli --help
if [ "$rc" -eq 0 ] && grep -q '^usage: densecl classify' "$TMP/out" &&
    grep -q 'Exit status' "$TMP/out"; then
    ok "help"
else
    bad "help" "exit $rc: $(head -c 300 "$TMP/out")"
fi
expect_error "missing weights file" 1 "nosuch.safetensors" --weights nosuch.safetensors \
    fashion3.idx

# ----------------------------------------------------------------------------- ImageNet model

IMAGES=(photo.png odd.bmp rgba.png grey16.png grey.pgm)
if expect_ok "imagenet: text" --weights "$D121" "${IMAGES[@]}" photo.jpg; then
    why=""
    for f in "${IMAGES[@]}" photo.jpg; do
        line=$(grep -F "$f: " "$TMP/out")
        # 'NAME: P1 CLASS1, ... P5 CLASS5' with a real ImageNet name first
        top1=$(echo "$line" | sed -E 's/^[^:]*: [0-9.]+ ([^,]*),.*/\1/')
        [ "$(echo "$line" | tr ',' '\n' | wc -l)" -eq 5 ] || why="$why; $f: not 5 classes: $line"
        grep -Fxq -- "$top1" "$HERE/../../models/imagenet-classes.txt" ||
            why="$why; $f: top-1 '$top1' is no ImageNet class name"
    done
    grep -q '^device: ' "$TMP/out" || why="$why; no device line"
    grep -Eq '^images: 6 in [0-9.]+ s, [0-9.]+ images/s \(start-up [0-9.]+ s\)$' "$TMP/out" ||
        why="$why; no summary line: $(tail -n 2 "$TMP/out")"
    if [ -z "$why" ]; then ok "imagenet: text"; else bad "imagenet: text" "${why#; }"; fi
fi
if expect_ok "imagenet: json" --weights "$D121" --json "${IMAGES[@]}" fashion3.idx; then
    cp "$TMP/out" "$TMP/imagenet.json"
    reference "imagenet: PNG/BMP/PGM/IDX match torchvision" "$D121" "$TMP/imagenet.json"
fi
if expect_ok "imagenet: jpeg json" --weights "$D121" --json photo.jpg; then
    cp "$TMP/out" "$TMP/jpeg.json"
    reference "imagenet: JPEG matches torchvision" "$D121" "$TMP/jpeg.json" --loose
fi

# ----------------------------------------------------------------------------- small models

if expect_ok "idx gz: text" --weights "$GREY" fashion12.idx.gz; then
    n=$(grep -Ec '^fashion12\.idx\.gz\[([0-9]|1[01])\]: [0-9.]+ ' "$TMP/out")
    if [ "$n" -ne 12 ]; then
        bad "idx gz: text" "$n of 12 image lines: $(head -c 400 "$TMP/out")"
    elif ! grep -Eq "^fashion12\.idx\.gz\[0\]: [0-9.]+ ($FASHION_NAMES)," "$TMP/out"; then
        bad "idx gz: text" "no densecl.labels names: $(head -n 1 "$TMP/out")"
    else
        ok "idx gz: text"
    fi
fi
if expect_ok "grey model: json" --weights "$GREY" --json --batch 5 fashion12.idx.gz fashion3.idx \
    photo.png odd.bmp rgba.png grey16.png grey.pgm 'we"ird, name.png' x28.npy x32.npy; then
    cp "$TMP/out" "$TMP/grey5.json"
    reference "grey model: IDX, luminance, resizes, .npy match torchvision" "$GREY" \
        "$TMP/grey5.json"
    expect_ok "grey model: batch 32" --weights "$GREY" --json fashion12.idx.gz fashion3.idx \
        photo.png odd.bmp rgba.png grey16.png grey.pgm 'we"ird, name.png' x28.npy x32.npy &&
        pycheck "batch size does not change results" '
import json, sys
a, b = (json.load(open(p))["images"] for p in sys.argv[1:])
if len(a) != len(b) or len(a) != 26:
    print("image counts", len(a), len(b))
for x, y in zip(a, b):
    if [t["class_id"] for t in x["top"]] != [t["class_id"] for t in y["top"]] or any(
            abs(s["probability"] - t["probability"]) > 1e-5 for s, t in zip(x["top"], y["top"])):
        print(x, y)
        break' "$TMP/grey5.json" "$TMP/out"
fi
if expect_ok "colour model: json" --weights "$COLOUR" --json fashion12.idx.gz photo.png odd.bmp \
    rgba.png grey16.png grey.pgm; then
    cp "$TMP/out" "$TMP/colour.json"
    reference "colour model: resize, crop, resize, grey replicated match torchvision" \
        "$COLOUR" "$TMP/colour.json"
    pycheck "colour model: class N names" '
import json, sys
d = json.load(open(sys.argv[1]))
t = d["images"][0]["top"]
if len(t) != 5 or t[0]["label"] != "class %d" % t[0]["class_id"] or d["classes"] != 7:
    print(t)' "$TMP/colour.json"
fi

# ----------------------------------------------------------------------------- --top, --limit

if expect_ok "--top capped at the classes" --weights "$GREY" --top 50 fashion3.idx; then
    n=$(awk -F', ' '/^fashion3/ { print NF }' "$TMP/out" | sort -u)
    if [ "$n" = "10" ]; then ok "--top capped at the classes"; else
        bad "--top capped at the classes" "classes per line: $n"
    fi
fi
if expect_ok "--limit across inputs" --weights "$GREY" --limit 5 fashion3.idx fashion12.idx.gz \
    photo.png; then
    got=$(grep -Eo '^[^:]+\]:' "$TMP/out" | tr '\n' ' ')
    want="fashion3.idx[0]: fashion3.idx[1]: fashion3.idx[2]: fashion12.idx.gz[0]: "
    want="${want}fashion12.idx.gz[1]: "
    if [ "$got" = "$want" ]; then ok "--limit across inputs"; else
        bad "--limit across inputs" "$got"
    fi
fi
if expect_ok "over 100 images: summary only" --weights "$GREY" --limit 150 \
    "$FASHION/t10k-images-idx3-ubyte.gz"; then
    if [ "$(wc -l <"$TMP/out")" -eq 2 ] && grep -q '^images: 150 in' "$TMP/out"; then
        ok "over 100 images: summary only"
    else
        bad "over 100 images: summary only" "$(head -c 400 "$TMP/out")"
    fi
fi
if expect_ok "over 100 images with --top" --weights "$GREY" --limit 150 --top 2 \
    "$FASHION/t10k-images-idx3-ubyte.gz"; then
    n=$(grep -c '^/.*\[[0-9]*\]: ' "$TMP/out")
    if [ "$n" -eq 150 ]; then ok "over 100 images with --top"; else
        bad "over 100 images with --top" "$n image lines"
    fi
fi

# ----------------------------------------------------------------------------- --truth

accuracy_lines() { # the accuracy lines densecl printed, from the JSON's counts: "a b n"
    read -r a b n <<<"$("$PY" "$REF" accuracy "$1")"
    printf 'top-1 accuracy: %s (%s/%s)\ntop-5 accuracy: %s (%s/%s)\n' \
        "$(awk -v a="$a" -v n="$n" 'BEGIN { printf "%.2f%%", 100 * a / n }')" "$a" "$n" \
        "$(awk -v a="$b" -v n="$n" 'BEGIN { printf "%.2f%%", 100 * a / n }')" "$b" "$n"
}
for labels in labels12.txt labels12.idx.gz; do
    name="--truth $labels"
    expect_ok "$name: json" --weights "$GREY" --json --truth "$labels" fashion12.idx.gz || continue
    cp "$TMP/out" "$TMP/truth.json"
    want=$(accuracy_lines "$TMP/truth.json")
    expect_ok "$name" --weights "$GREY" --truth "$labels" fashion12.idx.gz || continue
    got=$(grep accuracy "$TMP/out")
    if [ "$got" = "$want" ] && grep -q '(truth: ' "$TMP/out"; then ok "$name"; else
        bad "$name" "got '$got', want '$want'"
    fi
done
if expect_ok "--truth IDX gz, --limit" --weights "$GREY" --limit 20 --json \
    --truth "$FASHION/t10k-labels-idx1-ubyte.gz" "$FASHION/t10k-images-idx3-ubyte.gz"; then
    cp "$TMP/out" "$TMP/limit.json"
    want=$(accuracy_lines "$TMP/limit.json")
    cli --weights "$GREY" --limit 20 --truth "$FASHION/t10k-labels-idx1-ubyte.gz" \
        "$FASHION/t10k-images-idx3-ubyte.gz"
    got=$(grep accuracy "$TMP/out")
    if [ "$rc" -eq 0 ] && [ "$got" = "$want" ] && echo "$want" | grep -q '/20)$'; then
        ok "--truth IDX gz, --limit"
    else
        bad "--truth IDX gz, --limit" "exit $rc, got '$got', want '$want'"
    fi
fi
expect_error "--truth too short" 1 "12 labels.*15 images" --weights "$GREY" \
    --truth labels12.txt fashion12.idx.gz fashion3.idx
printf '1\n2\nx\n' >"$TMP/badlabels.txt"
expect_error "--truth not class ids" 1 "line 3" --weights "$GREY" --truth "$TMP/badlabels.txt" \
    fashion3.idx

# ----------------------------------------------------------------------------- --csv, --json

rm -f "$TMP/out.csv"
if expect_ok "--csv" --weights "$GREY" --csv "$TMP/out.csv" --batch 2 fashion3.idx \
    'we"ird, name.png'; then
    pycheck "--csv" '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
if rows[0] != ["input", "index", "class_id", "label", "probability"]:
    print("header", rows[0])
elif [r[:2] for r in rows[1:]] != [["fashion3.idx", "0"], ["fashion3.idx", "1"],
                                   ["fashion3.idx", "2"], ["we\"ird, name.png", "0"]]:
    print("rows", rows[1:])
elif any(labels[int(r[2])] != r[3] or not 0 < float(r[4]) <= 1 for r in rows[1:]):
    print("labels or probabilities", rows[1:])' "$TMP/out.csv"
fi
if expect_ok "--json" --weights "$GREY" --json --truth labels12.txt fashion12.idx.gz; then
    pycheck "--json" '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
if len(d["images"]) != 12 or d["failed"] != [] or s["images"] != 12 or s["failed_inputs"] != 0 \
        or s["interrupted"] is not False:
    print(d)
elif not (0 <= s["top1_accuracy"] <= s["top5_accuracy"] <= 1) or s["labelled"] != 12:
    print(s)
elif any(len(i["top"]) != 5 or "truth" not in i for i in d["images"]) or not d["device"]:
    print(d["images"][0])' "$TMP/out"
fi

# ----------------------------------------------------------------------------- bad inputs

rm -f "$TMP/fail.csv"
cli --weights "$GREY" --csv "$TMP/fail.csv" photo.png corrupt.png missing.png notes.txt \
    fashion3.idx
why=""
[ "$rc" -eq 3 ] || why="$why; exit status $rc, want 3"
for f in corrupt.png missing.png notes.txt; do
    grep -q "^densecl: warning: $f: " "$TMP/err" || why="$why; no warning for $f"
done
grep -q '^densecl: warning: 3 of 5 inputs' "$TMP/err" || why="$why; no count of failed inputs"
[ "$(wc -l <"$TMP/err")" -eq 4 ] || why="$why; stderr: $(cat "$TMP/err")"
[ "$(grep -Ec '^(photo\.png|fashion3\.idx\[[012]\]): ' "$TMP/out")" -eq 4 ] ||
    why="$why; results missing: $(cat "$TMP/out")"
[ "$(cat "$TMP/fail.csv" 2>/dev/null | wc -l)" -eq 5 ] ||
    why="$why; csv: $(cat "$TMP/fail.csv" 2>&1)"
if [ -z "$why" ]; then ok "bad inputs skipped, exit 3"; else
    bad "bad inputs skipped, exit 3" "${why#; }"
fi
cli --weights "$GREY" --json photo.png corrupt.png missing.png
if [ "$rc" -eq 3 ]; then
    pycheck "bad inputs in --json" '
import json, sys
d = json.load(open(sys.argv[1]))
if [f["input"] for f in d["failed"]] != ["missing.png", "corrupt.png"] or len(d["images"]) != 1:
    print(d["failed"], d["images"])' "$TMP/out"
else
    bad "bad inputs in --json" "exit status $rc"
fi
for c in "truncated.idx.gz:truncated" "labels12.idx.gz:--truth" "x3ch.npy:3 channels" \
    "empty.png:not an image" "huffman.jpg:Huffman table" \
    "nodht.jpg:uses a Huffman table the file does not define" \
    "hugechunk.png:chunk IDAT at byte [0-9]* declares 1073741824 bytes, only 8 follow"; do
    f=${c%%:*}
    [ "$f" = empty.png ] && : >"$f"
    cli --weights "$GREY" "$f" fashion3.idx
    if [ "$rc" -eq 3 ] && grep -q "^densecl: warning: $f: .*${c#*:}" "$TMP/err" &&
        [ "$(grep -c '^fashion3' "$TMP/out")" -eq 3 ]; then
        ok "bad input $f"
    else
        bad "bad input $f" "exit $rc: $(head -c 600 "$TMP/err")"
    fi
done

# ----------------------------------------------------------------------------- no metadata

expect_error "no preprocessing metadata: images refused" 1 "densecl.preprocess" \
    --weights "$FX/bare.safetensors" photo.png
expect_ok "no preprocessing metadata: .npy accepted" --weights "$FX/bare.safetensors" x28.npy &&
    if [ "$(grep -c '^x28.npy\[[0-2]\]: [0-9.]* class [0-9]' "$TMP/out")" -eq 3 ]; then
        ok "no preprocessing metadata: .npy accepted"
    else
        bad "no preprocessing metadata: .npy accepted" "$(cat "$TMP/out")"
    fi

# Preprocessing numbers are checked as the floats they become, with the key and the value.
expect_error "preprocess mean that overflows a float" 1 \
    '"mean" value 6\.7e\+0?95 is not a finite float' --weights "$FX/bigmean.safetensors" photo.png
expect_error "preprocess std that underflows a float" 1 \
    '"std" value 1e-300 is not a normal positive float' --weights "$FX/tinystd.safetensors" photo.png
expect_error "preprocess std that is a subnormal float" 1 \
    '"std" value 1e-40 is not a normal positive float' \
    --weights "$FX/subnormalstd.safetensors" photo.png

# ----------------------------------------------------------------------------- hardening (issue 15)

# --csv naming an input is refused, and the input is intact.
cp photo.png "$TMP/photo-copy.png"
expect_error "--csv that is an input" 2 "--csv photo\.png is also an input" \
    --weights "$GREY" --csv photo.png photo.png
cmp -s photo.png "$TMP/photo-copy.png" && ok "--csv that is an input: input intact" ||
    bad "--csv that is an input: input intact" "photo.png changed"
cp "$TMP/photo-copy.png" photo.png # (0.3.0 overwrote it)
cp "$GREY" "$TMP/wcopy.safetensors" # (a copy: 0.3.0 overwrote it)
expect_error "--csv that is the weights" 2 "is also an input" --weights "$TMP/wcopy.safetensors" \
    --csv "$TMP/wcopy.safetensors" fashion3.idx
cmp -s "$GREY" "$TMP/wcopy.safetensors" && ok "--csv that is the weights: weights intact" ||
    bad "--csv that is the weights: weights intact" "the weights changed"
# A run that cannot start leaves an old CSV file as it was.
echo "old results" >"$TMP/keep.csv"
expect_error "--csv with a bad --device" 1 "no-such-device" --weights "$GREY" --device no-such-device \
    --csv "$TMP/keep.csv" fashion3.idx
[ "$(cat "$TMP/keep.csv")" = "old results" ] && ok "--csv kept when the run cannot start" ||
    bad "--csv kept when the run cannot start" "$(head -c 200 "$TMP/keep.csv")"
# A full disk (a 4 KiB tmpfs in a private mount namespace): the CSV holds whole batches only.
if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
    bad "--csv on a full disk" "needs root and unshare -m (CI runs as root)"
else
    mkdir -p "$TMP/full"
    capture "$TMP/out" "$TMP/err" unshare -m --propagation private sh -c \
        'mount -t tmpfs -o size=4k tmpfs "$1" && "$2" classify --weights "$3" --batch 16 \
         --limit 1000 --csv "$1/o.csv" "$4" >/dev/null; rc=$?; cp "$1/o.csv" "$5"; exit $rc' \
        sh "$TMP/full" "$BIN" "$GREY" "$FASHION/t10k-images-idx3-ubyte.gz" "$TMP/full.csv"
    rows=$(($(wc -l <"$TMP/full.csv") - 1))
    whole=$(awk -F, 'NR > 1 && NF != 5 { bad++ } END { print bad + 0 }' "$TMP/full.csv")
    if [ "$rc" -eq 1 ] && [ "$(wc -l <"$TMP/err")" -eq 1 ] &&
        grep -q "^densecl: error: .*o.csv: write error: No space left on device" "$TMP/err" &&
        [ "$rows" -gt 0 ] && [ $((rows % 16)) -eq 0 ] && [ "$whole" -eq 0 ] &&
        [ "$(tail -c 1 "$TMP/full.csv" | od -An -c)" = '  \n' ]; then
        ok "--csv on a full disk keeps whole batches"
    else
        bad "--csv on a full disk keeps whole batches" "exit $rc, $rows rows, $whole bad: $(cat "$TMP/err")"
    fi
fi

# FIFOs are refused at once, as an image, as --truth.
rm -f "$TMP/fifo"
mkfifo "$TMP/fifo"
capture "$TMP/out" "$TMP/err" timeout 60 "$BIN" classify --weights "$GREY" "$TMP/fifo" fashion3.idx
if [ "$rc" -eq 3 ] && grep -q "warning: .*fifo is a FIFO, not a regular file" "$TMP/err"; then
    ok "FIFO input refused"
else
    bad "FIFO input refused" "exit $rc: $(head -c 300 "$TMP/err")"
fi
capture "$TMP/out" "$TMP/err" timeout 60 "$BIN" classify --weights "$GREY" --truth "$TMP/fifo" \
    fashion3.idx
if [ "$rc" -eq 1 ] && grep -q "error: .*fifo is a FIFO, not a regular file" "$TMP/err"; then
    ok "FIFO --truth refused"
else
    bad "FIFO --truth refused" "exit $rc: $(head -c 300 "$TMP/err")"
fi

# A huge image is refused from its header (a sparse 3 GB BMP of 20000x20000: over the 2 GiB a
# file may have, so reading it first fails otherwise).
"$PY" - "$TMP/huge.bmp" <<'EOF_PY'
import struct, sys
w = h = 20000
hdr = b"BM" + struct.pack("<IHHI", 0, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 32, 0,
                                                               0, 2835, 2835, 0, 0)
open(sys.argv[1], "wb").write(hdr)
EOF_PY
truncate -s 3000000000 "$TMP/huge.bmp"
cli --weights "$GREY" "$TMP/huge.bmp" fashion3.idx
if [ "$rc" -eq 3 ] && grep -q "huge.bmp: a 20000x20000 image is too large" "$TMP/err"; then
    ok "huge image refused from its header"
else
    bad "huge image refused from its header" "exit $rc: $(head -c 300 "$TMP/err")"
fi
rm -f "$TMP/huge.bmp"

# --limit 5 on a gzip'd IDX inflates only what it needs: a damaged tail goes unread.
head -c 100000 "$FASHION/t10k-images-idx3-ubyte.gz" >"$TMP/cut.idx.gz"
if expect_ok "--limit on a gzip'd IDX with a damaged tail" --weights "$GREY" --limit 5 \
    "$TMP/cut.idx.gz"; then
    [ "$(grep -c 'cut.idx.gz\[[0-4]\]: ' "$TMP/out")" -eq 5 ] &&
        ok "--limit 5 classifies 5 images of a damaged gzip'd IDX" ||
        bad "--limit 5 classifies 5 images of a damaged gzip'd IDX" "$(head -c 300 "$TMP/out")"
fi

# Class names with control characters are printed escaped.
"$PY" - "$GREY" "$TMP/ctl.safetensors" <<'EOF_PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.setdefault("__metadata__", {})
meta["densecl.labels"] = json.dumps(["c%d\x1b[2J\x07" % i for i in range(10)])
t = json.dumps(h).encode()
t += b" " * (-len(t) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(t)) + t + b[8 + n:])
EOF_PY
if expect_ok "control characters in labels" --weights "$TMP/ctl.safetensors" --top 3 fashion3.idx
then
    if grep -q $'\x1b\|\x07' "$TMP/out"; then
        bad "labels escaped" "raw control characters on stdout"
    elif grep -q 'c[0-9]\\x1b\[2J\\x07' "$TMP/out"; then
        ok "labels escaped"
    else
        bad "labels escaped" "$(head -c 300 "$TMP/out")"
    fi
fi

# SIGTERM and SIGHUP are handled like SIGINT; --json stays valid with "interrupted": true.
for sig in INT TERM HUP; do
    rm -f "$TMP/sig.csv"
    "$BIN" classify --weights "$GREY" --batch 16 --json --csv "$TMP/sig.csv" \
        "$FASHION/t10k-images-idx3-ubyte.gz" >"$TMP/sig.json" 2>"$TMP/err" &
    pid=$!
    for _ in $(seq 300); do
        [ "$(cat "$TMP/sig.csv" 2>/dev/null | wc -l)" -gt 32 ] && break
        sleep 0.1
    done
    kill -"$sig" "$pid"
    wait "$pid" 2>/dev/null # (bash would report the job's "Hangup")
    rc=$?
    want=$((128 + $(kill -l "$sig")))
    if [ "$rc" -ne "$want" ]; then
        bad "SIG$sig: exit $want and valid --json" "exit $rc: $(head -c 300 "$TMP/err")"
        continue
    fi
    pycheck "SIG$sig: exit $want and valid --json" '
import csv, json, sys
d = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[2], newline="")))[1:]
s = d["summary"]
if s["interrupted"] is not True or s["images"] != len(d["images"]) or not 0 < s["images"] < 10000:
    print(s, len(d["images"]))
elif len(rows) != s["images"] or any(len(r) != 5 for r in rows):
    print(len(rows), "CSV rows for", s["images"], "images")' "$TMP/sig.json" "$TMP/sig.csv"
done

# ----------------------------------------------------------------------------- --labels

# Ten names: UTF-8, a comma and a quote (CSV quoting), CRLF line ends and a byte order mark, as
# a Windows editor writes them.
printf '\xef\xbb\xbfzero\r\nun, deux\r\ncaf\xc3\xa9\r\n"q"\r\n%b' \
    'four\r\nfive\r\nsix\r\nseven\r\neight\r\nnine' >"$TMP/names.txt"
if expect_ok "--labels" --weights "$GREY" --labels "$TMP/names.txt" --top 10 fashion3.idx; then
    if grep -Eq "$FASHION_NAMES" "$TMP/out"; then
        bad "--labels" "the weights' names are still used: $(head -n 1 "$TMP/out")"
    elif [ "$(grep '^fashion3\.idx\[0\]: ' "$TMP/out" |
        grep -Eo 'zero|un, deux|café|"q"|four|five|six|seven|eight|nine' | sort -u | wc -l)" -ne 10 ]
    then
        bad "--labels" "not the ten names of the file: $(head -n 1 "$TMP/out")"
    else
        ok "--labels"
    fi
fi
printf 'a\nb\nc\nd\ne\nf\ng\nh\ni\n' >"$TMP/names9.txt"
expect_error "--labels: too few lines" 1 "names9\.txt: 9 lines, want one name for each of 10" \
    --weights "$GREY" --labels "$TMP/names9.txt" fashion3.idx
printf 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n' >"$TMP/names11.txt"
expect_error "--labels: a blank line too many" 1 "names11\.txt: 11 lines" \
    --weights "$GREY" --labels "$TMP/names11.txt" fashion3.idx
printf 'a\nb\nc\n \t\ne\nf\ng\nh\ni\nj\n' >"$TMP/empty4.txt"
expect_error "--labels: an empty name" 1 "empty4\.txt: line 4 is an empty class name" \
    --weights "$GREY" --labels "$TMP/empty4.txt" fashion3.idx
printf 'a\nb\xff\nc\nd\ne\nf\ng\nh\ni\nj\n' >"$TMP/latin.txt"
expect_error "--labels: not UTF-8" 1 "latin\.txt: line 2 is not UTF-8" \
    --weights "$GREY" --labels "$TMP/latin.txt" fashion3.idx
expect_error "--labels: a directory" 1 "$TMP: .*not a regular file|$TMP.*directory" \
    --weights "$GREY" --labels "$TMP" fashion3.idx
rm -f "$TMP/names.fifo"
mkfifo "$TMP/names.fifo"
expect_error "--labels: a FIFO is not waited on" 1 "names\.fifo" \
    --weights "$GREY" --labels "$TMP/names.fifo" fashion3.idx
expect_error "--labels: missing file" 1 "nosuch-names\.txt" \
    --weights "$GREY" --labels nosuch-names.txt fashion3.idx
expect_error "--csv that is the --labels file" 2 "is also an input" --weights "$GREY" \
    --labels "$TMP/names.txt" --csv "$TMP/names.txt" fashion3.idx

# ----------------------------------------------------------------------------- pipeline

# Batches are pipelined (batch i+1 is filled while batch i computes, two buffers): whatever the
# batch size, the rows are the same, in input order, byte for byte. 37 images (a prime: no
# batch size divides it), with two changes of image size (28x28 -> 32x32 -> 28x28), each of
# which starts a batch early; --limit ends the run inside the last file.
PIPE_IN=(fashion12.idx.gz x32.npy x28.npy "$FASHION/t10k-images-idx3-ubyte.gz")
for b in 1 3 7 32; do
    rm -f "$TMP/pipe$b.csv"
    if expect_ok "pipeline: --batch $b" --weights "$GREY" --csv "$TMP/pipe$b.csv" --json \
        --batch "$b" --limit 37 "${PIPE_IN[@]}"; then
        cp "$TMP/out" "$TMP/pipe$b.json"
        ok "pipeline: --batch $b"
    fi
done
pycheck "pipeline: rows in input order, whole" '
import csv, json, sys
want = [("fashion12.idx.gz", i) for i in range(12)] + [("x32.npy", i) for i in range(2)] + \
       [("x28.npy", i) for i in range(3)] + [(sys.argv[2], i) for i in range(20)]
rows = list(csv.reader(open(sys.argv[1], newline="")))[1:]
d = json.load(open(sys.argv[1][:-4] + ".json"))
if [(r[0], int(r[1])) for r in rows] != want:
    print("CSV rows", [(r[0], r[1]) for r in rows])
elif [(i["input"], i["index"]) for i in d["images"]] != want or d["summary"]["images"] != 37:
    print("JSON", [(i["input"], i["index"]) for i in d["images"]], d["summary"])' \
    "$TMP/pipe7.csv" "$FASHION/t10k-images-idx3-ubyte.gz"
for b in 1 3 32; do
    if cmp -s "$TMP/pipe7.csv" "$TMP/pipe$b.csv"; then
        ok "pipeline: --batch $b and 7 write the same CSV"
    else
        bad "pipeline: --batch $b and 7 write the same CSV" \
            "$(diff "$TMP/pipe7.csv" "$TMP/pipe$b.csv" | head -c 600)"
    fi
done
reference "pipeline: --batch 7 matches torchvision" "$GREY" "$TMP/pipe7.json"

# ----------------------------------------------------------------------------- runtime errors

# A runtime error mid-run still ends the --json document: the images classified before it,
# and the error in its summary (and on stderr). Here the --csv reader goes away after a byte:
# with SIGPIPE ignored, a write fails with EPIPE, at the latest once the 160 KB of rows
# outgrow the pipe. A batch's rows are written once the next batch is started: the error comes
# with two batches started, and the later one is waited for and dropped (the images listed are
# whole batches; under the sanitizers a job never waited for leaks).
rm -f "$TMP/csv.fifo"
mkfifo "$TMP/csv.fifo"
head -c 1 "$TMP/csv.fifo" >/dev/null &
(trap '' PIPE && exec "$BIN" classify --weights "$GREY" --json --batch 200 --limit 2000 \
    --csv "$TMP/csv.fifo" "$FASHION/t10k-images-idx3-ubyte.gz") >"$TMP/out" 2>"$TMP/err"
rc=$?
wait
# One error, said once, and no sanitizer report (a job or buffer leaked on this exit path);
# other lines (a compiler's warnings on an empty POCL cache) do not count.
if [ "$rc" -ne 1 ] || ! grep -q "^densecl: error: .*csv\.fifo: write error" "$TMP/err" ||
    [ "$(grep -c '^densecl:' "$TMP/err")" -ne 1 ] ||
    grep -q -E 'Sanitizer|runtime error:' "$TMP/err"; then
    bad "--json ended after a runtime error" "exit status $rc; stderr: $(head -c 600 "$TMP/err")"
elif why=$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
if "write error" not in s.get("error", "") or s["interrupted"]:
    print("summary", s)
elif not (len(d["images"]) == s["images"] < 2000) or s["images"] % 200:
    print(len(d["images"]), "images listed, summary", s)' "$TMP/out" 2>&1) && [ -z "$why" ]; then
    ok "--json ended after a runtime error"
else
    bad "--json ended after a runtime error" "$why"
fi

# ----------------------------------------------------------------------------- --csv-top, truth

printf "3\n" | cat labels12.txt - >"$TMP/labels13.txt"
# Asked for: K classes per row and the truth; the first five columns stay what --csv alone
# writes, byte for byte.
rm -f "$TMP/plain.csv" "$TMP/top3.csv"
if expect_ok "--csv unchanged when not asked" --weights "$GREY" --csv "$TMP/plain.csv" \
    fashion12.idx.gz 'we"ird, name.png' &&
    expect_ok "--csv-top 3 --truth" --weights "$GREY" --csv "$TMP/top3.csv" --csv-top 3 \
        --truth "$TMP/labels13.txt" --labels "$TMP/names.txt" --json fashion12.idx.gz \
        'we"ird, name.png'; then
    cp "$TMP/out" "$TMP/top3.json"
    pycheck "--csv-top 3 --truth" '
import csv, io, json, sys
plain = open(sys.argv[1], newline="").read()
rows = list(csv.reader(open(sys.argv[2], newline="")))
doc = json.load(open(sys.argv[3]))
truth = [int(x) for x in open(sys.argv[4]).read().split()]
names = open(sys.argv[5], encoding="utf-8-sig", newline="").read().split("\r\n")
head = ["input", "index", "class_id", "label", "probability", "class_id_2", "label_2",
        "probability_2", "class_id_3", "label_3", "probability_3", "truth", "truth_label"]
if not plain.startswith("input,index,class_id,label,probability\n"):
    print("plain header", plain[:80])
elif rows[0] != head:
    print("header", rows[0])
elif len(rows) != 14 or any(len(r) != 13 for r in rows):
    print("shape", [len(r) for r in rows])
else:
    for i, (r, im) in enumerate(zip(rows[1:], doc["images"])):
        ids = [int(r[2]), int(r[5]), int(r[8])]
        probs = [float(r[4]), float(r[7]), float(r[10])]
        if ids != [t["class_id"] for t in im["top"][:3]]:
            print("row", i, ids, "JSON", im["top"][:3])
        elif [r[3], r[6], r[9]] != [names[k] for k in ids]:
            print("row", i, "names", r)
        elif probs != sorted(probs, reverse=True) or len(set(ids)) != 3:
            print("row", i, "not ranked", r)
        elif int(r[11]) != truth[i] or r[12] != names[truth[i]]:
            print("row", i, "truth", r[11:], truth[i])
    # the plain file: the same rows cut to their first five columns, with its own names
    cut = [r[:5] for r in csv.reader(io.StringIO(plain))][1:]
    if [[c[0], c[1], c[2], c[4]] for c in cut] != [[r[0], r[1], r[2], r[4]] for r in rows[1:]]:
        print("the plain CSV differs from the first columns", cut[:2], rows[1:3])
' "$TMP/plain.csv" "$TMP/top3.csv" "$TMP/top3.json" "$TMP/labels13.txt" "$TMP/names.txt"
fi
rm -f "$TMP/top99.csv"
if expect_ok "--csv-top past the classes" --weights "$GREY" --csv "$TMP/top99.csv" --csv-top 99 \
    fashion3.idx; then
    n=$(awk -F, 'NR == 1 { print NF }' "$TMP/top99.csv")
    [ "$n" = 32 ] && ok "--csv-top past the classes: 10 classes" ||
        bad "--csv-top past the classes: 10 classes" "$n columns: $(head -n 1 "$TMP/top99.csv")"
fi
expect_error "usage: --csv-top without --csv" 2 "--csv-top needs --csv" --weights "$GREY" \
    --csv-top 2 fashion3.idx
expect_error "usage: bad --csv-top" 2 "--csv-top needs a positive integer" --weights "$GREY" \
    --csv x.csv --csv-top 0 fashion3.idx

# ----------------------------------------------------------------------------- --csv -

# Standard output holds the CSV and nothing else (the same bytes as a --csv file); the summary
# goes to stderr.
capture "$TMP/out" "$TMP/err" "$BIN" classify --weights "$GREY" --csv - fashion12.idx.gz \
    'we"ird, name.png'
if [ "$rc" -ne 0 ]; then
    bad "--csv -" "exit $rc: $(head -c 600 "$TMP/err")"
elif ! cmp -s "$TMP/out" "$TMP/plain.csv"; then
    bad "--csv -" "stdout is not the --csv file: $(head -c 400 "$TMP/out")"
elif ! grep -Eq '^images: 13 in [0-9.]+ s' "$TMP/err"; then
    bad "--csv -" "no summary on stderr: $(head -c 400 "$TMP/err")"
else
    ok "--csv -"
fi
capture "$TMP/out" "$TMP/err" "$BIN" classify --weights "$GREY" --csv - --top 3 --truth \
    labels12.txt fashion12.idx.gz
if [ "$rc" -eq 0 ] && [ "$(head -n 1 "$TMP/out")" = "input,index,class_id,label,probability,truth,truth_label" ] &&
    [ "$(wc -l <"$TMP/out")" -eq 13 ] && grep -q '^top-1 accuracy: ' "$TMP/err" &&
    ! grep -q 'accuracy\|^device' "$TMP/out"; then
    ok "--csv - with --top and --truth: lines not interleaved"
else
    bad "--csv - with --top and --truth: lines not interleaved" \
        "exit $rc: $(head -c 300 "$TMP/out") / $(head -c 300 "$TMP/err")"
fi
expect_error "usage: --csv - with --json" 2 "both want standard output" --weights "$GREY" \
    --csv - --json fashion3.idx

# ----------------------------------------------------------------------------- SIGINT

# Ctrl-C mid-run: exit 130, a line saying how far it got, and only whole CSV rows (one per
# image reported, a whole number of batches).
"$BIN" classify --weights "$GREY" --batch 16 --csv "$TMP/int.csv" \
    "$FASHION/t10k-images-idx3-ubyte.gz" >"$TMP/out" 2>"$TMP/err" &
pid=$!
for _ in $(seq 100); do
    [ "$(wc -l <"$TMP/int.csv" 2>/dev/null || echo 0)" -gt 32 ] && break
    sleep 0.1
done
kill -INT "$pid"
wait "$pid"
rc=$?
rows=$(($(wc -l <"$TMP/int.csv") - 1))
said=$(sed -n 's/^densecl: interrupted after \([0-9]*\) of 10000 images.*/\1/p' "$TMP/err")
whole=$(awk -F, 'NR > 1 && NF != 5 { bad++ } END { print bad + 0 }' "$TMP/int.csv")
if [ "$rc" -eq 130 ] && [ -n "$said" ] && [ "$said" -eq "$rows" ] && [ "$rows" -lt 10000 ] &&
    [ $((rows % 16)) -eq 0 ] && [ "$whole" -eq 0 ] && [ "$(tail -c 1 "$TMP/int.csv" | od -An -c)" = '  \n' ]; then
    ok "SIGINT leaves whole rows and says how far"
else
    bad "SIGINT leaves whole rows and says how far" "exit $rc, $rows rows, said '$said': $(head -c 600 "$TMP/err")"
fi

finish
