#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mpi_tests.sh DENSECL SCRATCH [MPIEXEC] - classify and run split over shards and MPI ranks.
#
# Without MPIEXEC: --shard K/N, whose outputs, merged as README (Clusters) says, must equal one
# whole run byte for byte (CSV) or exactly (logits), with a bad input reported by one shard only.
# With MPIEXEC (mpirun of the Open MPI the tool was built with): the same under 1, 2 and 3 ranks.
# Uses the shipped Fashion-MNIST model and /usr/share/datasets/fashion-mnist. Each case prints
# "ok NAME" or "FAIL NAME: why"; a missing dataset, numpy or device fails, nothing is skipped.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 DENSECL SCRATCH [MPIEXEC]" >&2
    exit 2
fi
BIN=$1
TMP=$2
MPIEXEC=${3:-}
rm -rf "$TMP"
mkdir -p "$TMP" || exit 2
export POCL_CACHE_DIR=${POCL_CACHE_DIR:-$TMP/pocl-cache}

# shellcheck source=lib.sh
. "$(dirname "$0")/../support/lib.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
W=$SRC/models/densenet-fashion.safetensors
DATA=/usr/share/datasets/fashion-mnist
IMG=$DATA/t10k-images-idx3-ubyte.gz
LAB=$DATA/t10k-labels-idx1-ubyte.gz
PY=/usr/bin/python3
# Images for the CSV comparisons (all 10,000 take minutes on POCL under 2 cores).
N_IMG=${DENSECL_MPI_IMAGES:-2000}

# Small inputs: two IDX files (30 and 7 images) around a file that is no image, and a batch
# of 7 preprocessed images for `run`.
"$PY" - "$IMG" "$TMP" <<'PY' || bad "make inputs" "python failed"
import gzip, struct, sys
import numpy as np
raw = gzip.open(sys.argv[1]).read()
n, h, w = struct.unpack(">III", raw[4:16])
px = np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)
def idx(path, a):
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(a), h, w) + a.tobytes())
idx(sys.argv[2] + "/a.idx", px[:30])
idx(sys.argv[2] + "/b.idx", px[100:107])
open(sys.argv[2] + "/bad.png", "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
x = (px[200:207].astype(np.float32) / 255.0 - 0.286) / 0.353
np.save(sys.argv[2] + "/x7.npy", x.reshape(7, 1, h, w))
PY

# merge_csv OUT SHARD.csv...: the first file's header, then every file's rows, in order.
merge_csv() {
    local out=$1 f
    shift
    {
        head -n 1 "$1"
        for f in "$@"; do tail -n +2 "$f"; done
    } >"$out"
}

# merge_npy OUT SHARD.npy...: the logits concatenated along the first axis (README's one-liner).
merge_npy() {
    "$PY" -c 'import sys, numpy as np; np.save(sys.argv[1], np.concatenate([np.load(f) for f in sys.argv[2:]]))' "$@"
}

# same_npy NAME A B: exactly equal float32 arrays of one shape.
same_npy() {
    local why
    why=$("$PY" -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
if a.shape != b.shape or a.dtype != b.dtype: print("shape", a.shape, a.dtype, "vs", b.shape, b.dtype)
elif not np.array_equal(a, b): print("max abs difference", float(np.abs(a - b).max()))' "$2" "$3" 2>&1)
    if [ -z "$why" ]; then ok "$1"; else bad "$1" "$why"; fi
}

# same_file NAME A B
same_file() {
    if cmp -s "$2" "$3"; then ok "$1"; else bad "$1" "$(diff "$2" "$3" | head -c 400)"; fi
}

CLS=(classify --weights "$W")

# ------------------------------------------------------------------ reference: one process
capture "$TMP/whole.out" "$TMP/whole.err" "$BIN" "${CLS[@]}" --limit "$N_IMG" --truth "$LAB" \
    --csv "$TMP/whole.csv" "$IMG"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$TMP/whole.csv")" -eq $((N_IMG + 1)) ]; then
    ok "one process: $N_IMG images"
else
    bad "one process: $N_IMG images" "exit $rc: $(head -c 400 "$TMP/whole.err")"
fi
capture "$TMP/mixed.out" "$TMP/mixed.err" "$BIN" "${CLS[@]}" --csv "$TMP/mixed.csv" \
    "$TMP/a.idx" "$TMP/bad.png" "$TMP/b.idx"
if [ "$rc" -eq 3 ] && [ "$(grep -c 'bad.png' "$TMP/mixed.err")" -ge 1 ] &&
    [ "$(wc -l <"$TMP/mixed.csv")" -eq 38 ]; then
    ok "one process: a bad input among 37 images"
else
    bad "one process: a bad input among 37 images" "exit $rc: $(head -c 400 "$TMP/mixed.err")"
fi
capture "$TMP/whole7.out" "$TMP/whole7.err" "$BIN" run --weights "$W" --input "$TMP/x7.npy" \
    --output "$TMP/whole7.npy"
[ "$rc" -eq 0 ] && ok "one process: run on 7 images" ||
    bad "one process: run on 7 images" "exit $rc: $(head -c 400 "$TMP/whole7.err")"

if [ -z "$MPIEXEC" ]; then
    # -------------------------------------------------------------------------- --shard K/N
    for n in 2 3; do
        files=()
        for ((k = 0; k < n; k++)); do
            # --truth as the whole run had it: it adds the truth columns to every shard's rows
            "$BIN" "${CLS[@]}" --limit "$N_IMG" --shard "$k/$n" --truth "$LAB" \
                --csv "$TMP/s$k.csv" "$IMG" >/dev/null 2>"$TMP/s$k.err" ||
                bad "--shard $k/$n" "$(head -c 400 "$TMP/s$k.err")"
            files+=("$TMP/s$k.csv")
        done
        merge_csv "$TMP/merged.csv" "${files[@]}"
        same_file "--shard K/$n: CSVs merged equal the whole" "$TMP/whole.csv" "$TMP/merged.csv"
    done

    # 38 positions over 4 shards: [0,9) [9,19) [19,28) [28,38); bad.png is position 30.
    files=()
    rm -f "$TMP/all.err"
    for k in 0 1 2 3; do
        "$BIN" "${CLS[@]}" --shard "$k/4" --csv "$TMP/m$k.csv" "$TMP/a.idx" "$TMP/bad.png" \
            "$TMP/b.idx" >/dev/null 2>>"$TMP/all.err"
        code=$?
        want=0
        [ "$k" -eq 3 ] && want=3
        [ "$code" -eq "$want" ] || bad "--shard $k/4 exit status" "$code, want $want"
        files+=("$TMP/m$k.csv")
    done
    merge_csv "$TMP/merged.csv" "${files[@]}"
    same_file "--shard K/4 over 3 inputs, one bad: merged equals the whole" "$TMP/mixed.csv" \
        "$TMP/merged.csv"
    n_bad=$(grep -c 'bad.png' "$TMP/all.err")
    [ "$n_bad" -eq 1 ] && ok "--shard: the bad input reported once" ||
        bad "--shard: the bad input reported once" "$n_bad times: $(cat "$TMP/all.err")"

    files=()
    for k in 0 1 2; do
        "$BIN" run --weights "$W" --shard "$k/3" --input "$TMP/x7.npy" --output "$TMP/r$k.npy" \
            2>"$TMP/r.err" || bad "run --shard $k/3" "$(head -c 400 "$TMP/r.err")"
        files+=("$TMP/r$k.npy")
    done
    merge_npy "$TMP/merged7.npy" "${files[@]}"
    same_npy "run --shard K/3 on 7 images: merged logits equal the whole" "$TMP/whole7.npy" \
        "$TMP/merged7.npy"
    files=()
    for k in 0 1 2 3 4 5 6 7; do
        "$BIN" run --weights "$W" --shard "$k/8" --input "$TMP/x7.npy" --output "$TMP/r$k.npy" \
            2>"$TMP/r.err" || bad "run --shard $k/8" "$(head -c 400 "$TMP/r.err")"
        files+=("$TMP/r$k.npy")
    done
    merge_npy "$TMP/merged7.npy" "${files[@]}"
    same_npy "run --shard K/8 on 7 images (one shard empty): merged equal the whole" \
        "$TMP/whole7.npy" "$TMP/merged7.npy"
    for arg in 3/3 -1/2 1/0 x/2 1 /2 2/; do
        capture "$TMP/u.out" "$TMP/u.err" "$BIN" run --weights "$W" --shard "$arg" \
            --input "$TMP/x7.npy" --output "$TMP/u.npy"
        if [ "$rc" -eq 2 ] && grep -q -- '--shard' "$TMP/u.err"; then ok "--shard $arg refused"
        else bad "--shard $arg refused" "exit $rc: $(head -c 300 "$TMP/u.err")"; fi
    done
    # A build without MPI started by a launcher with 2 ranks (its environment, faked here: a
    # build with MPI would start MPI on it) says so once, from rank 0, and writes nothing.
    if [ "${DENSECL_BUILT_WITHOUT_MPI:-0}" = 1 ]; then
        for r in 0 1; do
            rm -f "$TMP/n.csv"
            capture "$TMP/n.out" "$TMP/n.err" env OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=$r \
                "$BIN" "${CLS[@]}" --csv "$TMP/n.csv" "$TMP/b.idx"
            want=0
            [ "$r" -eq 0 ] && want=1
            if [ "$rc" -eq 1 ] && [ "$(grep -c 'built without MPI' "$TMP/n.err")" -eq "$want" ] &&
                [ ! -e "$TMP/n.csv" ]; then
                ok "built without MPI, rank $r of 2: refused, said $want time(s)"
            else
                bad "built without MPI, rank $r of 2" "exit $rc: $(head -c 300 "$TMP/n.err")"
            fi
        done
    fi
    finish
    exit
fi

# ------------------------------------------------------------------------------ under mpirun
# Root may run this (containers, CI): Open MPI then needs --allow-run-as-root.
MPI=("$MPIEXEC" --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPI+=(--allow-run-as-root)
grep -E '^top-[15] accuracy' "$TMP/whole.out" >"$TMP/whole.acc"

for n in 1 2 3; do
    capture "$TMP/c.out" "$TMP/c.err" "${MPI[@]}" -n "$n" "$BIN" "${CLS[@]}" --limit "$N_IMG" \
        --truth "$LAB" --csv "$TMP/c.csv" "$IMG"
    if [ "$rc" -ne 0 ]; then
        bad "$n ranks: classify $N_IMG images" "exit $rc: $(head -c 600 "$TMP/c.err")"
    else
        same_file "$n ranks: classify $N_IMG images: the CSV of one process" "$TMP/whole.csv" \
            "$TMP/c.csv"
        grep -E '^top-[15] accuracy' "$TMP/c.out" >"$TMP/c.acc"
        same_file "$n ranks: one accuracy line each, one process's" "$TMP/whole.acc" "$TMP/c.acc"
        lines=$(grep -c '^images: ' "$TMP/c.out")
        [ "$lines" -eq 1 ] && grep -q "^images: $N_IMG in" "$TMP/c.out" &&
            ok "$n ranks: one summary, counting every rank's images" ||
            bad "$n ranks: one summary, counting every rank's images" "$(cat "$TMP/c.out")"
    fi
    # --csv -: the ranks' rows on standard output, in order, and nothing else there.
    capture "$TMP/s.out" "$TMP/s.err" "${MPI[@]}" -n "$n" "$BIN" "${CLS[@]}" --limit "$N_IMG" \
        --truth "$LAB" --csv - "$IMG"
    if [ "$rc" -eq 0 ] && grep -q "^images: $N_IMG in" "$TMP/s.err"; then
        same_file "$n ranks: --csv - is the CSV of one process" "$TMP/whole.csv" "$TMP/s.out"
    else
        bad "$n ranks: --csv -" "exit $rc: $(head -c 600 "$TMP/s.err")"
    fi

    rm -f "$TMP/m.npy"
    capture "$TMP/r.out" "$TMP/r.err" "${MPI[@]}" -n "$n" "$BIN" run --weights "$W" \
        --input "$TMP/x7.npy" --output "$TMP/m.npy"
    if [ "$rc" -eq 0 ]; then
        same_npy "$n ranks: run on 7 images: one process's logits" "$TMP/whole7.npy" "$TMP/m.npy"
    else
        bad "$n ranks: run on 7 images" "exit $rc: $(head -c 600 "$TMP/r.err")"
    fi
done

# A bad input (position 30 of 38): reported once, by the rank that owns it; the rest classified;
# the text and JSON output one process's but for the timings.
for fmt in text json; do
    extra=()
    [ "$fmt" = json ] && extra=(--json)
    capture "$TMP/one.out" "$TMP/one.err" "$BIN" "${CLS[@]}" "${extra[@]}" "$TMP/a.idx" \
        "$TMP/bad.png" "$TMP/b.idx"
    capture "$TMP/b.out" "$TMP/b.err" "${MPI[@]}" -n 3 "$BIN" "${CLS[@]}" "${extra[@]}" \
        --csv "$TMP/b.csv" "$TMP/a.idx" "$TMP/bad.png" "$TMP/b.idx"
    n_bad=$(grep -c 'warning: .*bad.png' "$TMP/b.err")
    if [ "$rc" -ne 3 ] || [ "$n_bad" -ne 1 ]; then
        bad "3 ranks, $fmt: a bad input reported once" "exit $rc, $n_bad reports: $(cat "$TMP/b.err")"
    else
        ok "3 ranks, $fmt: a bad input reported once"
    fi
    same_file "3 ranks, $fmt: the other images' CSV rows, one process's" "$TMP/mixed.csv" \
        "$TMP/b.csv"
    grep -Ev '^images: |"summary"' "$TMP/one.out" >"$TMP/one.cut"
    grep -Ev '^images: |"summary"' "$TMP/b.out" >"$TMP/b.cut"
    same_file "3 ranks, $fmt: standard output one process's but for the timings" \
        "$TMP/one.cut" "$TMP/b.cut"
done
"$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["summary"]["images"] == 37 and len(d["failed"]) == 1' \
    "$TMP/b.out" 2>"$TMP/py.err" && ok "3 ranks: one JSON document, 37 images, 1 failed" ||
    bad "3 ranks: one JSON document, 37 images, 1 failed" "$(head -c 400 "$TMP/py.err")"

# Set-up errors: each rank stores its own and rank 0 prints them, whole lines in rank order:
# once when every rank failed alike, else one per failing rank naming its rank and host.
# per_rank ARGS...: runs ARGS with rank 1 (2) of 3 given the environment in $ENV1 ($ENV2) and
# the extra arguments in $ARG1 (one word or none), under a time limit (a rank left waiting on
# the others must fail the case, not hang it); stdout and stderr in $TMP/f.out and $TMP/f.err.
host=$(hostname)
per_rank() {
    # shellcheck disable=SC2016
    capture "$TMP/f.out" "$TMP/f.err" timeout 300 "${MPI[@]}" -n 3 env ENV1="${ENV1:-}" \
        ENV2="${ENV2:-}" ARG1="${ARG1:-}" bash -c \
        'extra=()
         case "$OMPI_COMM_WORLD_RANK" in
         1) [ -n "$ENV1" ] && export "${ENV1?}"; [ -n "$ARG1" ] && extra=("$ARG1") ;;
         2) [ -n "$ENV2" ] && export "${ENV2?}" ;;
         esac
         exec "$0" "$@" "${extra[@]}"' "$@"
}
# error_lines: the lines of $TMP/f.err that hold "densecl: error" (anywhere: an interleaved
# line counts as it is), into $TMP/f.lines; their number in n_err.
error_lines() {
    grep -a 'densecl: error' "$TMP/f.err" >"$TMP/f.lines"
    n_err=$(wc -l <"$TMP/f.lines")
}
# want_lines NAME LINE-REGEX...: exactly these error lines, in this order, each one whole.
want_lines() {
    local name=$1 i=1 re
    shift
    error_lines
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
        bad "$name" "exit $rc: $(head -c 600 "$TMP/f.err")"
        return
    fi
    if [ "$n_err" -ne $# ]; then
        bad "$name" "$n_err error lines, want $#: $(head -c 900 "$TMP/f.err")"
        return
    fi
    for re in "$@"; do
        if ! sed -n "${i}p" "$TMP/f.lines" | grep -Eqx -- "$re"; then
            bad "$name" "line $i is not /$re/: $(head -c 900 "$TMP/f.err")"
            return
        fi
        i=$((i + 1))
    done
    if [ -e "$TMP/f.csv" ] || [ -e "$TMP/f.npy" ]; then
        bad "$name" "an output file was left"
        return
    fi
    ok "$name"
}
# Regular-expression-quoted $TMP and host (paths hold dots).
qtmp=$(printf '%s' "$TMP" | sed 's/[][\.*^$+?(){}|]/\\&/g')
qhost=$(printf '%s' "$host" | sed 's/[][\.*^$+?(){}|]/\\&/g')
no_platform="densecl: error: rank 1 on $qhost: no OpenCL platform found .*OCL_ICD_VENDORS"
no_kernels="densecl: error: rank 2 on $qhost: DENSECL_KERNELS: $qtmp/none\.cl: cannot open: No such file or directory"
for cmd in classify run; do
    rm -f "$TMP/f.csv" "$TMP/f.npy"
    if [ "$cmd" = classify ]; then
        args=("${CLS[@]}" --csv "$TMP/f.csv" "$TMP/a.idx" "$TMP/b.idx")
        nof=(classify --weights "$TMP/none.safetensors" --csv "$TMP/f.csv" "$TMP/a.idx")
    else
        args=(run --weights "$W" --input "$TMP/x7.npy" --output "$TMP/f.npy")
        nof=(run --weights "$TMP/none.safetensors" --input "$TMP/x7.npy" --output "$TMP/f.npy")
    fi
    # Every rank fails alike: one line, the one of one process, no rank in it.
    ENV1='' ENV2='' ARG1='' per_rank "$BIN" "${nof[@]}"
    want_lines "3 ranks, $cmd: a missing weights file said once" \
        "densecl: error: $qtmp/none\.safetensors: cannot open: No such file or directory"
    # A rank without any device (no OpenCL platform) ends the job: its error alone, naming its
    # rank and host, the exit status 1, and no CSV file (nor logits) left.
    ENV1=OCL_ICD_VENDORS=/nonexistent ENV2='' ARG1='' per_rank "$BIN" "${args[@]}"
    want_lines "3 ranks, $cmd: rank 1 without devices: its one error line" "$no_platform"
    [ "$rc" -eq 1 ] || bad "3 ranks, $cmd: rank 1 without devices: exit status" "$rc, want 1"
    # Two ranks fail differently: a line each, whole, in rank order.
    ENV1=OCL_ICD_VENDORS=/nonexistent ENV2=DENSECL_KERNELS=$TMP/none.cl ARG1='' \
        per_rank "$BIN" "${args[@]}"
    want_lines "3 ranks, $cmd: ranks 1 and 2 fail differently: a whole line each, in order" \
        "$no_platform" "$no_kernels"
    # Rank 1 stops at its command line (a usage error, before the set-up) while the others set
    # up: it meets them all the same, and the job ends with its one line and status 2.
    ENV1='' ENV2='' ARG1=--bogus per_rank "$BIN" "${args[@]}"
    want_lines "3 ranks, $cmd: rank 1's usage error, the others set up: its one line" \
        "densecl: error: rank 1 on $qhost: unknown option '--bogus' for 'densecl $cmd'; see 'densecl $cmd --help'"
    [ "$rc" -eq 2 ] || bad "3 ranks, $cmd: rank 1's usage error: exit status" "$rc, want 2"
done

# The ranks agree or stop (issue 25 item 8): before any work the ranks compare their commands,
# options, weights' content and inputs; a difference is one error line from rank 0 naming the
# first one, every rank exits 2, no output is left, and nothing hangs (0.6.0 gave mixed results
# with exit 0, or hung). by_rank N SCRIPT: N ranks each run `bash -c SCRIPT` with $r its rank,
# $BIN, $W, $T (= $TMP) and $LAB set, under a time limit.
by_rank() {
    local n=$1 script=$2
    rm -f "$TMP/f.csv" "$TMP/f.npy"
    # shellcheck disable=SC2016
    capture "$TMP/f.out" "$TMP/f.err" timeout 300 "${MPI[@]}" -n "$n" env BIN="$BIN" W="$W" \
        T="$TMP" LAB="$LAB" bash -c 'r=$OMPI_COMM_WORLD_RANK; '"$script"
}
disagree="start every rank with the same command, options, weights and inputs"
ex=(classify --weights '$W' --csv '$T/f.csv' '$T/a.idx' '$T/b.idx')
by_rank 3 'extra=(); [ "$r" = 1 ] && extra=(--limit 5); exec "$BIN" '"${ex[*]}"' "${extra[@]}"'
want_lines "disagreement: --limit on rank 1 only" \
    "densecl: error: the ranks disagree on --limit: rank 1 on $qhost has 5, rank 0 has \(not given\); $disagree"
[ "$rc" -eq 2 ] || bad "disagreement: --limit: exit status" "$rc, want 2"
by_rank 2 'extra=(); [ "$r" = 1 ] && extra=(--truth "$LAB"); exec "$BIN" '"${ex[*]}"' "${extra[@]}"'
want_lines "disagreement: --truth on rank 1 only" \
    "densecl: error: the ranks disagree on --truth: rank 1 on $qhost has .*t10k-labels-idx1-ubyte\.gz, rank 0 has \(not given\); $disagree"
by_rank 3 'f=("$T/a.idx" "$T/b.idx"); [ "$r" = 2 ] && f=("$T/b.idx" "$T/a.idx")
    exec "$BIN" classify --weights "$W" --csv "$T/f.csv" "${f[@]}"'
want_lines "disagreement: inputs in another order on rank 2" \
    "densecl: error: the ranks disagree on input 1: rank 2 on $qhost has $qtmp/b\.idx \(7 images\), rank 0 has $qtmp/a\.idx \(30 images\); $disagree"
# The same file name, other weights (one class's bias changed) on rank 1: by content.
mkdir -p "$TMP/w0" "$TMP/w1"
cp "$W" "$TMP/w0/w.safetensors"
"$PY" - "$W" "$TMP/w1/w.safetensors" "$SRC/tools/export" <<'PY' || bad "other weights" "python failed"
import sys
sys.path.insert(0, sys.argv[3])
from safetensors_io import read_safetensors, write_safetensors
t, meta, _ = read_safetensors(sys.argv[1])
t["classifier.bias"][3] += 0.5
write_safetensors(sys.argv[2], t, meta)
PY
for cmd in classify run; do
    if [ "$cmd" = classify ]; then
        args='classify --weights w.safetensors --csv "$T/f.csv" "$T/a.idx"'
    else
        args='run --weights w.safetensors --input "$T/x7.npy" --output "$T/f.npy"'
    fi
    by_rank 2 'cd "$T/w$r" && exec "$BIN" '"$args"
    want_lines "disagreement: $cmd with other weights of the same name on rank 1" \
        "densecl: error: the ranks disagree on the weights' content: rank 1 on $qhost has checksum [0-9a-f]{16}, rank 0 has checksum [0-9a-f]{16}; $disagree"
done
# run on one rank and classify on the others; --csv - against --json: no hang, one line.
by_rank 3 'if [ "$r" = 1 ]; then exec "$BIN" run --weights "$W" --input "$T/x7.npy" --output "$T/f.npy"
    else exec "$BIN" classify --weights "$W" "$T/a.idx"; fi'
want_lines "disagreement: run on rank 1, classify on the others" \
    "densecl: error: the ranks disagree on the command: rank 1 on $qhost has run, rank 0 has classify; $disagree"
by_rank 2 'o=(--json); [ "$r" = 1 ] && o=(--csv -); exec "$BIN" classify --weights "$W" "$T/a.idx" "${o[@]}"'
want_lines "disagreement: --json on rank 0, --csv - on rank 1" \
    "densecl: error: the ranks disagree on --csv: rank 1 on $qhost has -, rank 0 has \(not given\); $disagree"
# What may differ between ranks does: --batch (and --device, --conv, ...) on one rank only.
by_rank 3 'extra=(); [ "$r" = 1 ] && extra=(--batch 3); exec "$BIN" classify --weights "$W" \
    --csv "$T/f.csv" "$T/a.idx" "$T/bad.png" "$T/b.idx" "${extra[@]}"'
if [ "$rc" -eq 3 ] && cmp -s "$TMP/f.csv" "$TMP/mixed.csv"; then
    ok "agreement: --batch on one rank only is allowed, the CSV one process's"
else
    bad "agreement: --batch on one rank only" "exit $rc: $(head -c 600 "$TMP/f.err")"
fi
rm -f "$TMP/f.csv"

capture "$TMP/f.out" "$TMP/f.err" timeout 300 "${MPI[@]}" -n 2 "$BIN" run --weights "$W" \
    --shard 0/2 --input "$TMP/x7.npy" --output "$TMP/u.npy"
want_lines "--shard under mpirun refused, once" \
    "densecl: error: --shard and mpirun exclude each other: the ranks are the shards; see 'densecl run --help'"
finish
