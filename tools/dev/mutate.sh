#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mutate.sh - mutation testing for developers: does the suite notice one-line bugs?
#
#   tools/dev/mutate.sh [-L "LABEL ..."] [-j JOBS] [-m MUTANTS] [--only N,N,...] [--keep]
#   tools/dev/mutate.sh --check [-m MUTANTS]
#
# For each mutant of MUTANTS (default tools/dev/mutants.txt beside this script: a file, the exact
# text of one of its lines, what the line becomes, a description), in a scratch copy of this
# source tree (tracked and untracked files that git does not ignore, uncommitted changes included;
# the caller's tree is never touched): change the line, build, run the ctest labels (default
# "unit ops", in that order, stopping at the first failing test), restore the line. A mutant is
#   killed     a test failed (its name is printed),
#   SURVIVED   every test passed: a hole in the tests, or an equivalent mutant (say why in
#              mutants.txt, or add a test that kills it),
#   unviable   it does not build (not counted),
#   stale      its line is not in the file exactly once (update mutants.txt; not counted).
# A mutant's "labels:" adds labels it needs (the Python module's tests are the install label's).
# The unmutated copy is built and tested first; if that fails, nothing is judged.
#
# Not in CI: it builds and tests once per mutant, about 1 to 3 minutes each on 2 cores (the ops
# label alone takes a minute and a half on POCL). Run it before a release, and after changing
# the tests. It prints one line per mutant and "killed K/T" at the end; the exit status is 0
# when every viable mutant was killed, 1 when one survived, 2 on a setup error.
#
#   -L LABELS   the labels to run, in order (default "unit ops"); e.g. "unit ops cli"
#   -j JOBS     build jobs (default 2)
#   -m FILE     the mutant list
#   --only N,.. only these mutants (1-based, in the list's order)
#   --keep      keep the scratch folder (its path is printed), with the logs in it
#   --check     only check that every mutant's line is found once in this tree; builds nothing
# Environment: DENSECL_MUTATE_CMAKE_ARGS, extra arguments for the scratch build's cmake
# configure (e.g. -DDENSECL_CLBLAST=OFF); TMPDIR, where the scratch folder goes.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
labels="unit ops"
jobs=2
list=$here/mutants.txt
only=
keep=0
check=0

usage() {
    sed -n '3,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    -L) [ $# -ge 2 ] || usage; labels=$2; shift 2 ;;
    -j) [ $# -ge 2 ] || usage; jobs=$2; shift 2 ;;
    -m) [ $# -ge 2 ] || usage; list=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || usage; only=,$2,; shift 2 ;;
    --keep) keep=1; shift ;;
    --check) check=1; shift ;;
    -h | --help) usage ;;
    *) echo "mutate.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
[ -f "$list" ] || { echo "mutate.sh: no mutant list $list" >&2; exit 2; }

# --- the mutant list ---------------------------------------------------------------------------
m_file=() m_line=() m_with=() m_what=() m_labels=()
n=0
flush() {
    if [ -n "$cur_file$cur_line$cur_with" ]; then
        if [ -z "$cur_file" ] || [ -z "$cur_line" ] || [ -z "$cur_with" ]; then
            echo "mutate.sh: $list: a mutant before line $lineno lacks file, line or with" >&2
            exit 2
        fi
        m_file[n]=$cur_file m_line[n]=$cur_line m_with[n]=$cur_with
        m_what[n]=${cur_what:-(no description)} m_labels[n]=$cur_labels
        n=$((n + 1))
    fi
    cur_file= cur_line= cur_with= cur_what= cur_labels=
}
cur_file= cur_line= cur_with= cur_what= cur_labels=
lineno=0
while IFS= read -r l || [ -n "$l" ]; do
    lineno=$((lineno + 1))
    case $l in
    '#'*) continue ;;
    esac
    if [ -z "${l//[[:space:]]/}" ]; then
        flush
        continue
    fi
    key=${l%%:*} val=${l#*:}
    val=${val# }
    case $key in
    file) cur_file=$val ;;
    line) cur_line=$val ;;
    with) cur_with=$val ;;
    what) cur_what=$val ;;
    labels) cur_labels=$val ;;
    *) echo "mutate.sh: $list:$lineno: unknown key '$key'" >&2; exit 2 ;;
    esac
done <"$list"
flush
[ "$n" -gt 0 ] || { echo "mutate.sh: $list has no mutants" >&2; exit 2; }

# apply DIR I: changes mutant I's line in DIR/file (indentation kept). Status 0 when the line was
# found exactly once and changed, 3 otherwise (the file is left as it was).
apply() {
    local f=$1/${m_file[$2]}
    [ -f "$f" ] || return 3
    MUT_LINE=${m_line[$2]} MUT_WITH=${m_with[$2]} awk '
        BEGIN { want = ENVIRON["MUT_LINE"]; with = ENVIRON["MUT_WITH"]; hits = 0 }
        {
            t = $0
            sub(/^[ \t]+/, "", t)
            sub(/[ \t\r]+$/, "", t)
            if (t == want) {
                hits++
                match($0, /^[ \t]*/)
                print substr($0, 1, RLENGTH) with
                next
            }
            print
        }
        END { exit hits == 1 ? 0 : 3 }' "$f" >"$f.mutant" || { rm -f "$f.mutant"; return 3; }
    cp "$f" "$f.orig" && cat "$f.mutant" >"$f" && rm -f "$f.mutant"
}

# restore DIR I: puts mutant I's file back.
restore() {
    local f=$1/${m_file[$2]}
    [ -f "$f.orig" ] && cat "$f.orig" >"$f" && rm -f "$f.orig"
}

selected() { # I: whether mutant I (0-based) is to be run
    [ -z "$only" ] || [[ $only == *",$(($1 + 1)),"* ]]
}

if [ "$check" -eq 1 ]; then
    stale=0
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/densecl-mutate-check.XXXXXX") || exit 2
    for ((i = 0; i < n; i++)); do
        mkdir -p "$tmp/$(dirname "${m_file[i]}")"
        if [ -f "$root/${m_file[i]}" ] && cp "$root/${m_file[i]}" "$tmp/${m_file[i]}" &&
            apply "$tmp" "$i"; then
            echo "ok    $((i + 1)) ${m_file[i]}: ${m_what[i]}"
        else
            echo "STALE $((i + 1)) ${m_file[i]}: line not found exactly once: ${m_line[i]}"
            stale=$((stale + 1))
        fi
    done
    rm -rf "$tmp"
    echo "$n mutants, $stale stale"
    [ "$stale" -eq 0 ]
    exit
fi

# --- the scratch copy --------------------------------------------------------------------------
command -v git >/dev/null && git -C "$root" rev-parse --git-dir >/dev/null 2>&1 ||
    { echo "mutate.sh: $root is not a git checkout (the copy lists its files with git)" >&2; exit 2; }
scratch=$(mktemp -d "${TMPDIR:-/tmp}/densecl-mutate.XXXXXX") || exit 2
src=$scratch/src build=$scratch/src/build logs=$scratch/logs
cleanup() {
    if [ "$keep" -eq 1 ]; then
        echo "scratch kept: $scratch"
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$src" "$logs"
(cd "$root" && git ls-files -z -co --exclude-standard) |
    (cd "$root" && while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) |
    (cd "$root" && tar --null -T - -cf -) | tar -C "$src" -xf - ||
    { echo "mutate.sh: copying the tree failed" >&2; exit 2; }
# The copy is a git checkout of its own, one commit of what was copied: the install tests list
# the tree's files with git and tag it as a release is (tests/install/cmake_routes_test.sh).
(cd "$src" && git init -q && git add -A &&
    git -c user.name=mutate -c user.email=mutate@localhost -c commit.gpgsign=false \
        commit -q --no-verify -m "mutate.sh copy") ||
    { echo "mutate.sh: making the copy a git checkout failed" >&2; exit 2; }
echo "mutate.sh: $n mutants of $list; a copy of $root in $scratch; labels: $labels"

# build LOG: (re)builds the scratch copy.
build_it() {
    cmake --build "$build" -j "$jobs" >"$1" 2>&1
}

# run_labels LOG LABEL...: runs the labels in order; on the first failure sets $killer to the
# failing test ("NAME (label L)") and returns 1.
run_labels() {
    local log=$1 l
    shift
    for l in "$@"; do
        # Not the source checks (format, layers): a mutant's line need not be formatted, and
        # what they check is not behaviour.
        (cd "$build" && ctest -L "^$l\$" -E '^(format|layers)$' --stop-on-failure --timeout 900 \
            --output-on-failure) \
            >"$log.$l" 2>&1 && continue
        killer=$(sed -n '/The following tests FAILED:/{n;p;q}' "$log.$l" |
            sed -E 's/^[[:space:]]*[0-9]+ - //')
        killer="${killer:-ctest failed (see $log.$l)} (label $l)"
        return 1
    done
    return 0
}

# The labels every run needs: the default ones, then each selected mutant's extra ones.
extra=
for ((i = 0; i < n; i++)); do
    selected "$i" || continue
    for l in ${m_labels[i]}; do
        [[ " $labels $extra " == *" $l "* ]] || extra="$extra $l"
    done
done

t0=$(date +%s)
# shellcheck disable=SC2086
if ! cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDENSECL_WERROR=OFF \
    ${DENSECL_MUTATE_CMAKE_ARGS:-} >"$logs/configure" 2>&1 || ! build_it "$logs/build"; then
    echo "mutate.sh: the unmutated copy does not configure or build:" >&2
    tail -n 30 "$logs/configure" "$logs/build" >&2 2>/dev/null
    exit 2
fi
killer=
# shellcheck disable=SC2086
if ! run_labels "$logs/baseline" $labels $extra; then
    echo "mutate.sh: the unmutated copy fails its tests ($killer): nothing can be judged" >&2
    exit 2
fi
echo "mutate.sh: the unmutated copy builds and passes ($labels$extra) in $(($(date +%s) - t0)) s"

killed=0 survived=0 unviable=0 stale=0 total=0
survivors=()
for ((i = 0; i < n; i++)); do
    selected "$i" || continue
    tag="$((i + 1)) ${m_file[i]}: ${m_what[i]}"
    t1=$(date +%s)
    if ! apply "$src" "$i"; then
        echo "stale     $tag (line not found exactly once: ${m_line[i]})"
        stale=$((stale + 1))
        continue
    fi
    if ! build_it "$logs/build.$((i + 1))"; then
        echo "unviable  $tag (does not build)"
        unviable=$((unviable + 1))
        restore "$src" "$i"
        continue
    fi
    total=$((total + 1))
    killer=
    # shellcheck disable=SC2086
    if run_labels "$logs/test.$((i + 1))" $labels ${m_labels[i]}; then
        echo "SURVIVED  $tag ($(($(date +%s) - t1)) s)"
        survived=$((survived + 1))
        survivors+=("$tag")
    else
        echo "killed    $tag: by $killer ($(($(date +%s) - t1)) s)"
        killed=$((killed + 1))
    fi
    restore "$src" "$i"
done
# Leave the copy built unmutated (for --keep).
build_it "$logs/build.final" || true

echo "killed $killed/$total ($survived survived, $unviable unviable, $stale stale) in" \
    "$(($(date +%s) - t0)) s"
for s in "${survivors[@]}"; do
    echo "  survived: $s"
done
[ "$survived" -eq 0 ]
