#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# writers_tests.sh DENSECL TEST_FILES SCRATCH - the output rules (README, "The tools") for every
# command that writes a file, C or Python:
#
#   densecl run --output, bench --trace, compile-kernels --out, classify --csv; the tuning file
#   tune saves (TEST_FILES --tuning PATH writes one, as tune does: its saving depends on timing);
#   tools/dev/train_fashion_mnist.py --out, --log and --predictions. (densecl-export's --out and
#   --onnx: tests/models/export_tests.sh, with its checkpoints.)
#
# Each writes through a symbolic link (the target gets the file, the link stays), into a
# character device and a FIFO (never replaced), into a bind-mounted single file (written in
# place, the atomic writers saying so once, before the work), refuses a directory, and refuses
# an output that is one of its inputs or another output, before anything is written. Root and
# unshare -m are needed for the device nodes and the bind mounts (CI runs as root); without them
# those cases fail, never skip.
set -u

if [ $# -ne 3 ]; then
    echo "usage: $0 DENSECL TEST_FILES SCRATCH" >&2
    exit 2
fi
BIN=$1
TF=$2
TMP=$3
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$TMP/pocl-cache} DENSECL_CACHE_DIR=$TMP/dc-cache
SRC=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
W=$SRC/models/densenet-fashion.safetensors
TRAIN=$SRC/tools/dev/train_fashion_mnist.py

# shellcheck source=../support/lib.sh
. "$(dirname "$0")/../support/lib.sh"

# Inputs: 2 preprocessed images for run, 3 IDX images for classify, and a Fashion-MNIST-shaped
# data directory of 32 training and 16 test images, so that training takes seconds.
"$PY" - "$TMP" <<'PY' || bad "make inputs" "python failed"
import gzip, os, struct, sys
import numpy as np
tmp = sys.argv[1]
rng = np.random.RandomState(3)
np.save(os.path.join(tmp, "x.npy"), rng.randn(2, 1, 28, 28).astype(np.float32))
def idx(path, a, opener=open):
    with opener(path, "wb") as f:
        f.write(struct.pack(">I", 0x800 | a.ndim) + b"".join(struct.pack(">I", d) for d in a.shape)
                + a.tobytes())
idx(os.path.join(tmp, "a.idx"), rng.randint(0, 256, (3, 28, 28)).astype(np.uint8))
os.makedirs(os.path.join(tmp, "data"))
for prefix, n in (("train", 32), ("t10k", 16)):
    idx(os.path.join(tmp, "data", f"{prefix}-images-idx3-ubyte.gz"),
        rng.randint(0, 256, (n, 28, 28)).astype(np.uint8), gzip.open)
    idx(os.path.join(tmp, "data", f"{prefix}-labels-idx1-ubyte.gz"),
        rng.randint(0, 10, n).astype(np.uint8), gzip.open)
PY

# write NAME OUT: runs writer NAME with its output at OUT; rc, $TMP/out, $TMP/err.
T_ARGS=(--data "$TMP/data" --epochs 1 --batch 16 --threads 1 --growth-rate 4 --blocks 1,1
    --init-features 8)
write() {
    local out=$2
    case $1 in
    run) capture "$TMP/out" "$TMP/err" "$BIN" run --weights "$W" --input "$TMP/x.npy" \
        --output "$out" ;;
    bench) capture "$TMP/out" "$TMP/err" "$BIN" bench --weights "$W" --iterations 1 --warmup 0 \
        --trace "$out" ;;
    compile-kernels) capture "$TMP/out" "$TMP/err" "$BIN" compile-kernels --out "$out" ;;
    classify) capture "$TMP/out" "$TMP/err" "$BIN" classify --weights "$W" --csv "$out" \
        "$TMP/a.idx" ;;
    tuning) capture "$TMP/out" "$TMP/err" "$TF" --tuning "$out" ;;
    train-out) capture "$TMP/out" "$TMP/err" "$PY" "$TRAIN" "${T_ARGS[@]}" --out "$out" \
        --log "$TMP/t.log" ;;
    train-log) capture "$TMP/out" "$TMP/err" "$PY" "$TRAIN" "${T_ARGS[@]}" \
        --out "$TMP/t.safetensors" --log "$out" ;;
    predictions) capture "$TMP/out" "$TMP/err" "$PY" "$TRAIN" --data "$TMP/data" --threads 1 \
        --evaluate "$W" --predictions "$out" ;;
    esac
}
# magic NAME FILE: FILE holds what writer NAME writes (its first bytes).
magic() {
    local f=$2
    case $1 in
    run | predictions) [ "$(head -c 6 "$f" | tail -c 5)" = NUMPY ] ;;
    bench) [ "$(head -c 1 "$f")" = "{" ] || [ "$(head -c 1 "$f")" = "[" ] ;;
    compile-kernels) [ "$(head -c 7 "$f")" = DCLBIN1 ] ;;
    classify) [ "$(head -c 11 "$f")" = input,index ] ;;
    tuning) [ "$(head -c 12 "$f")" = "# test_files" ] ;;
    train-out) [ "$(head -c 9 "$f" | tail -c 1)" = "{" ] ;;
    train-log) [ "$(head -c 9 "$f")" = "command: " ] ;;
    esac
}
# The notes a writer prints for a bind-mounted output: 1 for the tools that replace files
# atomically (they say, before the work, that they cannot); 0 for classify's CSV, which is
# written in place, row by row, in every case, and for the tuning file, which the library writes
# (it never prints; its log says so).
notes_wanted() {
    case $1 in
    classify | tuning) echo 0 ;;
    *) echo 1 ;;
    esac
}
# No temporary left in $TMP/w.
no_temps() { [ -z "$(ls -A "$TMP/w" | grep densecl-)" ]; }

root=0
[ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null && root=1
for w in run bench compile-kernels classify tuning train-out train-log predictions; do
    rm -rf "$TMP/w"
    mkdir -p "$TMP/w"
    # A symbolic link: its target written, the link kept.
    ln -s target "$TMP/w/link"
    write "$w" "$TMP/w/link"
    if [ "$rc" -eq 0 ] && [ -L "$TMP/w/link" ] && magic "$w" "$TMP/w/target" && no_temps; then
        ok "$w: a symlink's target written, the link kept"
    else
        bad "$w: a symlink's target written, the link kept" \
            "exit $rc, $(ls -l "$TMP/w" | tr '\n' ' ') $(head -c 600 "$TMP/err")"
    fi
    # A FIFO: its reader gets the file, the FIFO stays.
    mkfifo "$TMP/w/fifo"
    timeout 300 cat "$TMP/w/fifo" >"$TMP/w/from-fifo" &
    reader=$!
    write "$w" "$TMP/w/fifo"
    wait "$reader"
    if [ "$rc" -eq 0 ] && [ -p "$TMP/w/fifo" ] && magic "$w" "$TMP/w/from-fifo"; then
        ok "$w: a FIFO's reader gets the file, the FIFO stays"
    else
        bad "$w: a FIFO's reader gets the file" "exit $rc: $(head -c 600 "$TMP/err")"
    fi
    # A directory is refused.
    mkdir "$TMP/w/adir"
    write "$w" "$TMP/w/adir"
    if [ "$rc" -ne 0 ] && grep -Eq "adir( is a directory|: .*Is a directory)" "$TMP/err" &&
        [ -d "$TMP/w/adir" ] && no_temps; then
        ok "$w: a directory is refused"
    else
        bad "$w: a directory is refused" "exit $rc: $(head -c 600 "$TMP/err")"
    fi
    if [ "$root" -ne 1 ]; then
        bad "$w: a character device and a bind-mounted file" "need root and unshare -m"
        continue
    fi
    # A character device (a node of /dev/null's device of our own: a writer that replaced it
    # could not break the machine's /dev/null) stays one.
    mknod "$TMP/w/null" c 1 3
    write "$w" "$TMP/w/null"
    if [ "$rc" -eq 0 ] && [ -c "$TMP/w/null" ] && no_temps; then
        ok "$w: a character device stays one"
    else
        bad "$w: a character device stays one" "exit $rc, $(ls -l "$TMP/w/null") $(head -c 600 "$TMP/err")"
    fi
    # A bind-mounted single file (docker -v out:/out): the mount's source gets the file; an
    # atomic writer says once, before the work, that it writes in place.
    echo old >"$TMP/w/source"
    : >"$TMP/w/mounted"
    # shellcheck disable=SC2016
    capture "$TMP/mnt.out" "$TMP/mnt.err" env CMD="$(declare -f write capture)" WRITER="$w" \
        unshare -m --propagation private bash -c 'eval "$CMD"; mount --bind "$1" "$2" || exit 99
            TMP=$3 BIN=$4 TF=$5 W=$6 PY=$7 TRAIN=$8; shift 8; T_ARGS=("$@")
            write "$WRITER" "$TMP/w/mounted"; cat "$TMP/err" >&2; exit "$rc"' sh \
        "$TMP/w/source" "$TMP/w/mounted" "$TMP" "$BIN" "$TF" "$W" "$PY" "$TRAIN" "${T_ARGS[@]}"
    notes=$(grep -c "note: .*mounted is a mount point" "$TMP/mnt.err")
    want=$(notes_wanted "$w")
    if [ "$rc" -eq 0 ] && magic "$w" "$TMP/w/source" && [ "$notes" -eq "$want" ] && no_temps; then
        ok "$w: a bind-mounted file is written in place ($notes note)"
    else
        bad "$w: a bind-mounted file is written in place" \
            "exit $rc, $notes notes (want $want), $(head -c 40 "$TMP/w/source" | od -c | head -n 2): $(head -c 600 "$TMP/mnt.err")"
    fi
done

# Outputs that are inputs, or each other: refused before anything is written, inputs intact.
cp "$W" "$TMP/w.safetensors"
cp "$TMP/x.npy" "$TMP/in.npy"
cp "$TMP/a.idx" "$TMP/in.idx"
ln -sf w.safetensors "$TMP/w-link.safetensors"
refused() {
    local name=$1 pattern=$2
    shift 2
    capture "$TMP/out" "$TMP/err" "$@"
    if [ "$rc" -eq 2 ] && grep -Eq -- "$pattern" "$TMP/err" &&
        cmp -s "$W" "$TMP/w.safetensors" && cmp -s "$TMP/x.npy" "$TMP/in.npy" &&
        cmp -s "$TMP/a.idx" "$TMP/in.idx"; then
        ok "$name"
    else
        bad "$name" "exit $rc: $(head -c 600 "$TMP/err")"
    fi
}
refused "run --output as --input refused" "--output .* is also an input" \
    "$BIN" run --weights "$W" --input "$TMP/in.npy" --output "$TMP/in.npy"
refused "run --output through a link to --weights refused" "--output .* is also an input" \
    "$BIN" run --weights "$TMP/w.safetensors" --input "$TMP/x.npy" \
    --output "$TMP/w-link.safetensors"
refused "bench --trace as --weights refused" "--trace .* is also an input" \
    "$BIN" bench --weights "$TMP/w.safetensors" --trace "$TMP/w.safetensors"
refused "classify --csv as an input refused" "--csv .* is also an input" \
    "$BIN" classify --weights "$W" --csv "$TMP/./in.idx" "$TMP/in.idx"
refused "classify --csv as --weights refused" "--csv .* is also an input" \
    "$BIN" classify --weights "$TMP/w.safetensors" --csv "$TMP/w-link.safetensors" "$TMP/a.idx"
# Standard output is an output too: another output into it is refused (--csv - is how the
# CSV goes there alone).
refused "classify --csv as standard output's file with --json refused" \
    "--csv .*o\.json is standard output, where classify writes its results \(--json\)" \
    sh -c '"$0" classify --weights "$1" --json --csv "$2" "$3" >"$2"' "$BIN" "$W" \
    "$TMP/o.json" "$TMP/a.idx"
refused "classify --csv /dev/stdout refused" "--csv /dev/stdout is standard output" \
    "$BIN" classify --weights "$W" --csv /dev/stdout "$TMP/a.idx"
refused "bench --json --trace /dev/stdout refused" "--trace /dev/stdout is standard output" \
    "$BIN" bench --weights "$W" --json --trace /dev/stdout
capture "$TMP/out" "$TMP/err" "$BIN" classify --weights "$W" --csv /dev/null "$TMP/a.idx"
[ "$rc" -eq 0 ] && ok "classify --csv /dev/null with standard output elsewhere" ||
    bad "classify --csv /dev/null" "exit $rc: $(head -c 600 "$TMP/err")"
refused "train --out as --log refused" "--log .* is also the output of --out" \
    "$PY" "$TRAIN" "${T_ARGS[@]}" --out "$TMP/t.out" --log "$TMP/../$(basename "$TMP")/t.out"
refused "train --log as a data file refused" "--log .* is also an input \(--data" \
    "$PY" "$TRAIN" "${T_ARGS[@]}" --out "$TMP/t.out" --log "$TMP/data/t10k-images-idx3-ubyte.gz"
refused "evaluate --predictions as --evaluate refused" "--predictions .* is also an input" \
    "$PY" "$TRAIN" --data "$TMP/data" --evaluate "$TMP/w.safetensors" \
    --predictions "$TMP/w-link.safetensors"
[ ! -e "$TMP/t.out" ] && ok "train: nothing written after a refusal" ||
    bad "train: nothing written after a refusal" "$TMP/t.out exists"
finish
