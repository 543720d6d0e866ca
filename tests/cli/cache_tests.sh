#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The kernel cache and program binaries, end to end through the CLI.
# Usage: cache_tests.sh DENSECL SCRATCH_DIR
set -u
densecl=$1
dir=$2
rm -rf "$dir" && mkdir -p "$dir"
# shellcheck source=lib.sh
. "$(dirname "$0")/../support/lib.sh"
py=${DENSECL_PYTHON:-/usr/bin/python3}

"$py" - "$dir/x.npy" <<'PY' || { echo "cannot write the input"; exit 1; }
import sys, numpy as np
np.save(sys.argv[1], np.random.RandomState(3).randn(2, 3, 16, 16).astype(np.float32))
PY
run() { "$densecl" run --model densenet-bc-100-k12 --random-weights 5 --input "$dir/x.npy" "$@"; }
# damage SRC DST [cut]: a copy of program binary SRC whose binary has every densecl_linear
# renamed (or, with cut, only its first half), with length and checksum made right again:
# damage past the sizes, key and checksum checks (issue 15 item 5). POCL 3.1 loads the first
# and then has no kernel densecl_linear; it asserts (exit 134) on the second.
damage() {
    "$py" - "$@" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
o = 12 + struct.unpack("<I", d[8:12])[0]
n = struct.unpack("<Q", d[o:o + 8])[0]
b = d[o + 8:o + 8 + n].replace(b"densecl_linear", b"densecl_lineaX")
if sys.argv[3:] == ["cut"]:
    b = d[o + 8:o + 8 + n // 2]
h = 14695981039346656037
for x in b:
    h = ((h ^ x) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
open(sys.argv[2], "wb").write(d[:o] + struct.pack("<Q", len(b)) + b + struct.pack("<Q", h))
PY
}
same() { cmp -s "$1" "$2"; }
# refused NAME PATTERN OUT CMD...: CMD fails, says PATTERN (grep) and writes no OUT.
refused() {
    local name=$1 pattern=$2 out=$3
    shift 3
    if "$@" 2>"$dir/err"; then
        bad "$name" "it ran"
    elif grep -q "$pattern" "$dir/err" && [ ! -e "$out" ]; then
        ok "$name"
    else
        bad "$name" "$(cat "$dir/err")"
    fi
}

# Every run here compares its logits bit for bit, so every run must build the same 1x1 tile:
# no tuning file (the ctest environment's cache directory may hold one).
export DENSECL_NO_TUNING=1
# Reference without any cache of ours.
DENSECL_NO_CACHE=1 DENSECL_CACHE_DIR="$dir/ref-cache" run --output "$dir/ref.npy" 2>"$dir/err" ||
    bad reference "$(cat "$dir/err")"

export DENSECL_CACHE=1 DENSECL_CACHE_DIR="$dir/cache"
if run --output "$dir/a.npy" 2>"$dir/err" && same "$dir/ref.npy" "$dir/a.npy"; then
    ok "cold run fills the cache"
else
    bad "cold run fills the cache" "$(cat "$dir/err")"
fi
entry=$(ls "$dir"/cache/*.clbin 2>/dev/null | head -1)
if [ -n "$entry" ] && [ -s "$entry" ]; then ok "cache entry written"; else bad "cache entry written" "none in $dir/cache"; fi
ls -A "$dir"/cache | grep -q '\.tmp\.\|\.densecl-' && bad "no temporary files left" "$(ls -A "$dir/cache")" || ok "no temporary files left"

if run --output "$dir/b.npy" 2>"$dir/err" && same "$dir/ref.npy" "$dir/b.npy"; then
    ok "warm run from the cache"
else
    bad "warm run from the cache" "$(cat "$dir/err")"
fi

[ -n "$entry" ] && cp "$entry" "$dir/bc100.clbin"

# A corrupt entry falls back to a fresh build and is replaced by a valid one.
if [ -n "$entry" ]; then
    size=$(stat -c %s "$entry")
    head -c 100 "$entry" >"$entry.cut" && mv "$entry.cut" "$entry"
    if run --output "$dir/c.npy" 2>"$dir/err" && same "$dir/ref.npy" "$dir/c.npy"; then
        ok "corrupt entry rebuilt"
    else
        bad "corrupt entry rebuilt" "$(cat "$dir/err")"
    fi
    [ "$(stat -c %s "$entry")" = "$size" ] && ok "corrupt entry replaced" ||
        bad "corrupt entry replaced" "size $(stat -c %s "$entry"), was $size"
    # A FIFO in its place is neither waited on nor written into: rebuilt and replaced (issue 15
    # item 8; timeout: 0.3.0 waited forever).
    rm -f "$entry" && mkfifo "$entry"
    if timeout 120 "$densecl" run --model densenet-bc-100-k12 --random-weights 5 \
        --input "$dir/x.npy" --output "$dir/fifo.npy" 2>"$dir/err" && same "$dir/ref.npy" "$dir/fifo.npy" &&
        [ -f "$entry" ] && [ "$(stat -c %s "$entry")" = "$size" ]; then
        ok "FIFO entry rebuilt and replaced"
    else
        bad "FIFO entry rebuilt and replaced" "$(ls -l "$entry") $(cat "$dir/err")"
    fi
fi

# An entry whose checksum is right but whose content is damaged: the driver loads it, then
# lacks a kernel. It is deleted (and logged) and rebuilt, and the next run uses the new one.
if [ -n "$entry" ] && damage "$dir/bc100.clbin" "$entry"; then
    if run --output "$dir/c2.npy" --verbose 2>"$dir/err" && same "$dir/ref.npy" "$dir/c2.npy" &&
        grep -q "kernel cache entry unusable, deleted.*$(basename "$entry").*densecl_linear" "$dir/err"; then
        ok "damaged entry deleted and rebuilt"
    else
        bad "damaged entry deleted and rebuilt" "$(cat "$dir/err")"
    fi
    if grep -q densecl_lineaX "$entry"; then
        bad "damaged entry replaced" "still damaged"
    elif run --output "$dir/c3.npy" --verbose 2>"$dir/err" && same "$dir/ref.npy" "$dir/c3.npy" &&
        ! grep -q "unusable" "$dir/err" && grep -q "kernels from the cache" "$dir/err"; then
        ok "damaged entry replaced"
    else
        bad "damaged entry replaced" "$(cat "$dir/err")"
    fi
fi
# An entry on which the driver's loader crashes: the run that loads it may die (binaries are
# trusted input), but not every run after it: its marker shows the next run that the entry
# killed a process, and that run deletes it and rebuilds.
if [ -n "$entry" ] && damage "$dir/bc100.clbin" "$entry" cut; then
    (ulimit -c 0 && run --output "$dir/c4.npy") 2>/dev/null
    if run --output "$dir/c5.npy" --verbose 2>"$dir/err" && same "$dir/ref.npy" "$dir/c5.npy"; then
        ok "entry that crashes the driver rebuilt by the next run"
    else
        bad "entry that crashes the driver rebuilt by the next run" "$(cat "$dir/err")"
    fi
    if ls "$dir"/cache/*.loading.* >/dev/null 2>&1; then
        bad "no loading markers left" "$(ls "$dir/cache")"
    elif run --output "$dir/c6.npy" --verbose 2>"$dir/err" && grep -q "kernels from the cache" "$dir/err"; then
        ok "no loading markers left"
    else
        bad "no loading markers left" "the next run did not use the cache: $(cat "$dir/err")"
    fi
fi

# --no-kernel-cache neither reads nor writes.
rm -rf "$dir/cache"
run --output "$dir/d.npy" --no-kernel-cache 2>"$dir/err" && same "$dir/ref.npy" "$dir/d.npy" &&
    [ ! -e "$dir/cache" ] && ok "--no-kernel-cache" || bad "--no-kernel-cache" "cache written or run failed"
# No kernel cache from here on (off on POCL without DENSECL_CACHE=1), and a cache directory of
# our own, so that no tuning file of the caller's changes the tiles.
unset DENSECL_CACHE
export DENSECL_CACHE_DIR="$dir/no-cache"

# Program binaries: written, loaded, and refused when corrupt or for another device.
if "$densecl" compile-kernels --out "$dir/k.bin" >/dev/null 2>"$dir/err" && [ -s "$dir/k.bin" ]; then
    ok "compile-kernels"
else
    bad "compile-kernels" "$(cat "$dir/err")"
fi
if run --output "$dir/e.npy" --kernels-binary "$dir/k.bin" 2>"$dir/err" && same "$dir/ref.npy" "$dir/e.npy"; then
    ok "run --kernels-binary"
else
    bad "run --kernels-binary" "$(cat "$dir/err")"
fi
# A binary brings its own conv tiles: a tuning file written after it changes nothing for it
# (tuning files read here).
tfile=$(DENSECL_NO_TUNING=0 "$densecl" info |
    sed -n "s/^tiles: .* would save better ones in \(.*\))\$/\1/p")
if [ -n "$tfile" ]; then
    mkdir -p "$(dirname "$tfile")" && printf 'conv1x1 2x8\nconv 4x2\n' >"$tfile"
    if DENSECL_NO_TUNING=0 run --output "$dir/e2.npy" --kernels-binary "$dir/k.bin" 2>"$dir/err" &&
        same "$dir/ref.npy" "$dir/e2.npy"; then
        ok "--kernels-binary keeps its tiles after a tune"
    else
        bad "--kernels-binary keeps its tiles after a tune" "$(cat "$dir/err")"
    fi
    rm -f "$tfile"
else
    bad "--kernels-binary keeps its tiles after a tune" "densecl info names no tuning file"
fi
head -c 2000 "$dir/k.bin" >"$dir/cut.bin"
if run --output "$dir/f.npy" --kernels-binary "$dir/cut.bin" 2>"$dir/err"; then
    bad "truncated binary refused" "it ran"
elif grep -qi "corrupt\|truncated" "$dir/err" && [ ! -e "$dir/f.npy" ] && [ "$(wc -l <"$dir/err")" = 1 ]; then
    ok "truncated binary refused"
else
    bad "truncated binary refused" "$(cat "$dir/err")"
fi
# Damaged content behind a right checksum: refused in one line naming the file, no output.
damage "$dir/k.bin" "$dir/damaged.bin"
if run --output "$dir/f2.npy" --kernels-binary "$dir/damaged.bin" 2>"$dir/err"; then
    bad "damaged binary refused" "it ran"
elif grep -q "damaged.bin: the program binary is damaged" "$dir/err" && [ ! -e "$dir/f2.npy" ] &&
    [ "$(wc -l <"$dir/err")" = 1 ]; then
    ok "damaged binary refused"
else
    bad "damaged binary refused" "$(cat "$dir/err")"
fi
# Same length device name, so only the key differs: what a binary from another board looks like.
"$py" - "$dir/k.bin" "$dir/other.bin" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"device=") + len(b"device=")
j = b.index(b"\n", i)
open(sys.argv[2], "wb").write(b[:i] + b"X" * (j - i) + b[j:])
PY
refused "binary for another device refused" "device=XXX" "$dir/g.npy" \
    run --output "$dir/g.npy" --kernels-binary "$dir/other.bin"
# A cache entry holds only the conv kernels of its model (DenseNet-BC-100: 1x1 and 3x3): a
# binary for that model, refused, with the reason, by one that needs the 7x7/2 stem.
if run --output "$dir/i.npy" --kernels-binary "$dir/bc100.clbin" 2>"$dir/err" &&
    same "$dir/ref.npy" "$dir/i.npy"; then
    ok "a model's own cache entry as --kernels-binary"
else
    bad "a model's own cache entry as --kernels-binary" "$(cat "$dir/err")"
fi
"$py" -c "import numpy as np; np.save('$dir/x64.npy', np.zeros((1, 3, 64, 64), np.float32))"
d121() { "$densecl" run --model densenet121 --random-weights 1 --input "$dir/x64.npy" "$@"; }
refused "binary without the stem's kernel refused" "built without conv kernels this model needs" \
    "$dir/j.npy" d121 --output "$dir/j.npy" --kernels-binary "$dir/bc100.clbin"
# ... while DenseNet-121's (1x1, 3x3 and the stem) serves DenseNet-BC-100 (1x1 and 3x3).
mkdir -p "$dir/c121"
DENSECL_CACHE=1 DENSECL_CACHE_DIR="$dir/c121" d121 --output "$dir/k.npy" 2>"$dir/err" ||
    bad "DenseNet-121 cache entry" "$(cat "$dir/err")"
e121=$(ls "$dir"/c121/*.clbin 2>/dev/null | head -1)
if [ -n "$e121" ] && run --output "$dir/l.npy" --kernels-binary "$e121" 2>"$dir/err" &&
    same "$dir/ref.npy" "$dir/l.npy"; then
    ok "a binary with more conv kernels than the model needs"
else
    bad "a binary with more conv kernels than the model needs" "$(cat "$dir/err")"
fi
# A binary stores what it was resolved to as a readable line of its key, parsed strictly.
if grep -aq '^resolved=1x1=direct .*; direct:FLAT_CO=[0-9]*,FLAT_PX=' "$dir/k.bin"; then
    ok "binary names its resolved conv families"
else
    bad "binary names its resolved conv families" "$(grep -a '^resolved=' "$dir/k.bin")"
fi
# rekey IN OUT PY-EXPR: OUT is IN with its key (bytes k) replaced by PY-EXPR, lengths fixed.
rekey() {
    "$py" - "$1" "$2" "$3" <<'PY'
import re, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<I", b[8:12])[0]
k = b[12:12 + n]
k = eval(sys.argv[3])
open(sys.argv[2], "wb").write(b[:8] + struct.pack("<I", len(k)) + k + b[12 + n:])
PY
}
rekey "$dir/k.bin" "$dir/bad-res.bin" 're.sub(rb",ORDER=[0-9],", b",ORDER=x,", k)'
refused "binary with a damaged resolved line refused" "program binary.*ORDER='x'" \
    "$dir/m.npy" run --output "$dir/m.npy" --kernels-binary "$dir/bad-res.bin"
rekey "$dir/k.bin" "$dir/old.bin" \
    'b"".join(l + b"\n" for l in k.split(b"\n") if l and not l.startswith(b"resolved="))'
refused "binary without a resolved line refused" "made by an older densecl" "$dir/n.npy" \
    run --output "$dir/n.npy" --kernels-binary "$dir/old.bin"
echo "not a binary" >"$dir/junk.bin"
run --output "$dir/h.npy" --kernels-binary "$dir/junk.bin" 2>"$dir/err" &&
    bad "junk binary refused" "it ran" ||
    { grep -q "not a densecl program binary" "$dir/err" && ok "junk binary refused" ||
        bad "junk binary refused" "$(cat "$dir/err")"; }

finish
