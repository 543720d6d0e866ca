#!/bin/bash
# SPDX-License-Identifier: MIT
# pip_test.sh BUILD_DIR SOURCE_DIR SANITIZE(0|1) PYTHON
#
# The Python module installed as users install it (issue 24, item 2), each in a scratch venv
# (PYTHON -m venv --system-site-packages, so Debian's numpy and PIL are there), then imported from
# another directory with no PYTHONPATH and no DENSECL_LIBRARY (tests/install/pip_check.py):
#   pip-offline      pip install --no-index --no-build-isolation SOURCE_DIR (Debian's tools only)
#   pip-isolated     pip install --no-index SOURCE_DIR: build isolation on, still no index
#                    (pyproject.toml's backend needs nothing: python/backend/densecl_build.py)
#   cmake-venv       cmake --install BUILD_DIR --prefix VENV: the module goes to the venv's
#                    site-packages, where its python looks
#   cmake-system     DESTDIR=D cmake --install BUILD_DIR --prefix /usr/local and --prefix /usr:
#                    the module lands in the directory of PYTHON's own sys.path for that prefix
#                    (Debian: /usr/local/lib/python3.X/dist-packages, /usr/lib/python3/dist-packages)
#                    and loads that prefix's library.
# pip's wheels go to a scratch cache. In a sanitizer build (SANITIZE=1) the cmake routes' library
# is instrumented: Python runs with libasan preloaded (pip's own build is a Release one).
set -uo pipefail

if [[ $# -ne 4 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR SANITIZE PYTHON" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sanitize=$3
python=$4
# shellcheck source=../support/lib.sh
. "$src/tests/support/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/densecl-pip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset PYTHONPATH DENSECL_LIBRARY PIP_REQUIRE_VIRTUALENV VIRTUAL_ENV
export PIP_CACHE_DIR=$tmp/pip-cache PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
version=$(sed -n 's/^project(densecl VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
check=$src/tests/install/pip_check.py
model=$src/models/densenet-fashion.safetensors
asan_env=()
if [[ $sanitize == 1 ]]; then
    asan=$(cc -print-file-name=libasan.so)
    asan_env=(LD_PRELOAD="$asan" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
fi

venv=$tmp/venv
if ! "$python" -m venv --system-site-packages "$venv" > "$tmp/venv.log" 2>&1; then
    echo "FAIL: $python -m venv: $(cat "$tmp/venv.log") (Debian: python3-venv)"
    exit 1
fi
vpy=$venv/bin/python
site=$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# imports NAME PY EXPECTED_MODULE_DIR EXPECTED_LIB [ENV...]: from $tmp (not the source tree)
imports() {
    local name=$1 py=$2 moddir=$3 lib=$4 out
    shift 4
    if out=$(cd "$tmp" && env "$@" "$py" "$check" "$moddir" "$lib" "$version" "$model" 2>&1); then
        ok "$name: $(tail -n 1 <<< "$out")"
    else
        bad "$name" "$out"
    fi
}

# --- pip --------------------------------------------------------------------------------------
# What pip may not change: the source tree's files, tracked, new or ignored (pip builds in place).
tree_state() { (cd "$src" && git status --porcelain --ignored | grep -v __pycache__); }
before=$(tree_state)
for mode in offline isolated; do
    args=(--no-index)
    [[ $mode == offline ]] && args+=(--no-build-isolation)
    if (cd "$tmp" && "$vpy" -m pip install "${args[@]}" "$src") > "$tmp/pip-$mode.log" 2>&1; then
        imports "pip-$mode (pip install ${args[*]} SOURCE)" "$vpy" "$site/densecl" \
            "$site/densecl/lib/libdensecl.so"
        [[ $(tree_state) == "$before" ]] &&
            ok "pip-$mode: the source tree is left as it was" ||
            bad "pip-$mode" "wrote into the source tree: $(diff <(echo "$before") <(tree_state))"
    else
        bad "pip-$mode" "pip install ${args[*]} failed: $(tail -n 25 "$tmp/pip-$mode.log")"
    fi
    "$vpy" -m pip uninstall -y densecl > /dev/null 2>&1
    [[ ! -e $site/densecl ]] || bad "pip-$mode" "pip uninstall left $site/densecl"
done

# --- cmake --install into the venv --------------------------------------------------------------
if cmake --install "$build" --prefix "$venv" > "$tmp/cmake-venv.log" 2>&1; then
    imports "cmake-venv (cmake --install --prefix VENV)" "$vpy" "$site/densecl" \
        "$(find "$venv" -name libdensecl.so -path "*/lib*" ! -path "*/densecl/*" -print -quit)" \
        "${asan_env[@]}"
else
    bad "cmake-venv" "cmake --install failed: $(tail -n 20 "$tmp/cmake-venv.log")"
fi

# --- cmake --install system-wide, into a DESTDIR ------------------------------------------------
for prefix in /usr/local /usr; do
    root=$tmp/root${prefix//\//-}
    if ! DESTDIR=$root cmake --install "$build" --prefix "$prefix" > "$tmp/cmake-sys.log" 2>&1; then
        bad "cmake-system $prefix" "cmake --install failed: $(tail -n 20 "$tmp/cmake-sys.log")"
        continue
    fi
    init=$(cd "$root" && find . -path '*/densecl/__init__.py' -print -quit)
    moddir=${init#.}
    moddir=${moddir%/densecl/__init__.py}
    # That directory must be on the system Python's own path (-I: no PYTHONPATH, no user site).
    if "$python" -I -c 'import sys; sys.exit(sys.argv[1] not in sys.path)' "$moddir"; then
        ok "cmake-system $prefix: the module went to $moddir, on $python's sys.path"
    else
        bad "cmake-system $prefix" "the module went to '$moddir', not on $python's sys.path: \
$("$python" -I -c 'import sys; print(sys.path)')"
    fi
    lib=$(cd "$root" && find . -name libdensecl.so ! -path "*/densecl/*" -print -quit)
    imports "cmake-system $prefix: import from DESTDIR" "$python" "$root$moddir/densecl" \
        "$root${lib#.}" PYTHONPATH="$root$moddir" "${asan_env[@]}"
done

finish
