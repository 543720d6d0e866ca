#!/bin/bash
# SPDX-License-Identifier: MIT
# install_test.sh BUILD_DIR SOURCE_DIR SANITIZE(0|1) PYTHON
#
# The install as a user meets it (issue 14): `cmake --install` into a temporary prefix, which is
# then moved (everything must be relocatable); the file list; the shared library's exports;
# examples/embed.c built three ways and run: pkg-config (shared and static), find_package(densecl)
# (densecl::densecl, densecl::densecl_shared, densecl::densecl_static), and a parent project that
# add_subdirectory()s the source tree; then the Python module (tests/install/python_module_test.py)
# against torchvision and the CLI. Every program must print the same line as the build's own
# densecl-example. A missing OpenCL device fails the test.
#
# In a sanitizer build (SANITIZE=1) the installed libraries are instrumented: C consumers are
# built with -fsanitize=address,undefined too, and /usr/bin/python3 (not instrumented) gets
# libasan preloaded, with leak detection off in Python only (the interpreter's own allocations
# would be reported).
set -euo pipefail

if [[ $# -ne 4 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR SANITIZE PYTHON" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sanitize=$3
python=$4

tmp=$(mktemp -d "${TMPDIR:-/tmp}/densecl-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "install_test: FAIL: $*" >&2
    exit 1
}
step() { echo "=== $*"; }

cflags=()
if [[ $sanitize == 1 ]]; then
    cflags=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi

# --- install, then move the tree: nothing may remember where it was installed -----------------
step "cmake --install into a temporary prefix, then moved"
cmake --install "$build" --prefix "$tmp/first" > "$tmp/install.log" || {
    cat "$tmp/install.log"
    fail "cmake --install"
}
mv "$tmp/first" "$tmp/prefix"
prefix=$tmp/prefix
solib=$(find "$prefix" -name 'libdensecl.so.0' -print -quit)
[[ -n $solib ]] || fail "no libdensecl.so.0 installed"
libdir=$(dirname "$solib")
for f in bin/densecl bin/densecl-query include/densecl.h share/densecl/imagenet-classes.txt \
         share/densecl/densenet-fashion.safetensors share/doc/densecl/examples/embed.c \
         share/doc/densecl/examples/pipeline.c \
         share/doc/densecl/LICENSE share/man/man1/densecl.1 share/man/man1/densecl-query.1; do
    [[ -f $prefix/$f ]] || fail "not installed: $f"
done
for f in libdensecl.a libdensecl.so pkgconfig/densecl.pc cmake/densecl/densecl-config.cmake \
         cmake/densecl/densecl-config-version.cmake; do
    [[ -e $libdir/$f ]] || fail "not installed: ${libdir#"$prefix"/}/$f"
done
# The Python module: where the prefix's Python would look (cmake/python_install.cmake); no Python
# reads a temporary prefix, so sysconfig's lib/pythonX.Y/site-packages.
py_dir=$prefix/$("$python" -c 'import sysconfig; print(sysconfig.get_path("purelib", "posix_prefix", {"base": "", "platbase": ""}).lstrip("/"))')
[[ -f $py_dir/densecl/__init__.py && -f $py_dir/densecl/_install.py ]] ||
    fail "the Python module is not in ${py_dir#"$prefix"/}: $(cd "$prefix" && find . -name '__init__.py')"
if [[ -f $src/tools/export/densecl-export ]]; then
    [[ -x $prefix/bin/densecl-export ]] ||
        fail "tools/export/densecl-export exists but is not installed"
    grep -qi 'usage: densecl-export' "$prefix/share/man/man1/densecl-export.1" ||
        fail "densecl-export.1 lacks its --help"
fi
grep -q '^densecl \\- ' "$prefix/share/man/man1/densecl.1" || fail "densecl.1 has no NAME line"
grep -q 'usage: densecl classify' "$prefix/share/man/man1/densecl.1" ||
    fail "densecl.1 lacks the classify command's --help"
grep -q 'usage: densecl-query' "$prefix/share/man/man1/densecl-query.1" ||
    fail "densecl-query.1 lacks its --help"
soname=$(readelf -d "$solib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $soname == libdensecl.so.0 ]] || fail "SONAME is '$soname', expected libdensecl.so.0"
others=$(nm -D --defined-only "$solib" | awk '{print $3}' | grep -v '^densecl_' || true)
[[ -z $others ]] || fail "libdensecl.so exports more than densecl_*: $(echo $others | head -c 300)"
count=$(nm -D --defined-only "$solib" | grep -c ' densecl_')
header_count=$(grep -c '^DENSECL_API$' "$prefix/include/densecl.h")
[[ $count == "$header_count" ]] ||
    fail "libdensecl.so exports $count densecl_* functions, the header declares $header_count"
echo "installed; libdensecl.so exports the $count densecl_* functions only, SONAME $soname"

# The reference line: the build's own example (random DenseNet-BC-100 weights, seed 42).
expected=$("$build/bin/densecl-example") || fail "build/bin/densecl-example failed"
echo "reference: $expected"
# links BINARY TEXT: whether ldd's list for BINARY contains TEXT. No pipe: with pipefail,
# `ldd | grep -q` fails at random when grep exits at its match and ldd gets SIGPIPE.
links() {
    local out
    out=$(ldd "$1") || fail "ldd $1"
    [[ $out == *"$2"* ]]
}
run_embed() { # NAME BINARY
    local out
    out=$("$2") || fail "$1: exited with status $?"
    [[ $out == "$expected" ]] || fail "$1 printed '$out', expected '$expected'"
    echo "$1: $out"
}

# --- (a) pkg-config, shared and static ----------------------------------------------------------
step "pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
cli_version=$("$prefix/bin/densecl" --version | awk '{print $NF}')
[[ $(pkg-config --modversion densecl) == "$cli_version" ]] ||
    fail "pkg-config --modversion differs from densecl --version"
read -r -a pc_cflags <<< "$(pkg-config --cflags densecl)"
read -r -a pc_libs <<< "$(pkg-config --libs densecl)"
# -l:libdensecl.a: with both kinds installed, -ldensecl would link the .so
read -r -a pc_static <<< \
    "$(pkg-config --libs --static densecl | sed 's/-ldensecl\b/-l:libdensecl.a/')"
# No -rpath here: densecl.pc's Libs carry it (tests/install/cmake_routes_test.sh checks that alone)
cc -std=c11 "${cflags[@]}" "$src/examples/embed.c" -o "$tmp/embed-pc-shared" "${pc_cflags[@]}" \
    "${pc_libs[@]}"
links "$tmp/embed-pc-shared" "libdensecl.so.0 => $libdir/" ||
    fail "embed-pc-shared does not use the installed libdensecl.so.0"
run_embed "pkg-config shared" "$tmp/embed-pc-shared"
cc -std=c11 "${cflags[@]}" "$src/examples/embed.c" -o "$tmp/embed-pc-static" "${pc_cflags[@]}" \
    "${pc_static[@]}"
! links "$tmp/embed-pc-static" libdensecl || fail "embed-pc-static needs libdensecl.so"
run_embed "pkg-config static" "$tmp/embed-pc-static"
# The pipelined example, as installed, against the installed library and shipped model.
cc -std=c11 "${cflags[@]}" "$prefix/share/doc/densecl/examples/pipeline.c" \
    -o "$tmp/pipeline-pc-shared" "${pc_cflags[@]}" "${pc_libs[@]}"
out=$("$tmp/pipeline-pc-shared" "$prefix/share/densecl/densenet-fashion.safetensors" 3 8) ||
    fail "pipeline example: exited with status $?"
[[ $out == *"the same logits both ways"* ]] || fail "pipeline example printed '$out'"
echo "pipeline example: $out"

# --- (b) find_package(densecl) -------------------------------------------------------------------
step "find_package(densecl)"
version=$(pkg-config --modversion densecl)
mkdir -p "$tmp/consumer"
cat > "$tmp/consumer/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(consumer C)
find_package(densecl $version EXACT REQUIRED)
if(NOT densecl_VERSION STREQUAL "$version")
  message(FATAL_ERROR "densecl_VERSION is \${densecl_VERSION}")
endif()
foreach(kind default shared static)
  add_executable(embed-\${kind} "$src/examples/embed.c")
endforeach()
target_link_libraries(embed-default PRIVATE densecl::densecl)
target_link_libraries(embed-shared PRIVATE densecl::densecl_shared)
target_link_libraries(embed-static PRIVATE densecl::densecl_static)
EOF
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_FLAGS="${cflags[*]}" > "$tmp/consumer.log" 2>&1 || {
    cat "$tmp/consumer.log"
    fail "find_package consumer: configure"
}
cmake --build "$tmp/consumer/build" -j2 >> "$tmp/consumer.log" 2>&1 || {
    cat "$tmp/consumer.log"
    fail "find_package consumer: build"
}
links "$tmp/consumer/build/embed-shared" "libdensecl.so.0 => $libdir/" ||
    fail "densecl::densecl_shared does not link the installed libdensecl.so.0"
links "$tmp/consumer/build/embed-default" "libdensecl.so.0 => $libdir/" ||
    fail "densecl::densecl is not the installed libdensecl.so.0"
! links "$tmp/consumer/build/embed-static" libdensecl ||
    fail "densecl::densecl_static links libdensecl.so"
run_embed "find_package densecl::densecl" "$tmp/consumer/build/embed-default"
run_embed "find_package densecl::densecl_shared" "$tmp/consumer/build/embed-shared"
run_embed "find_package densecl::densecl_static" "$tmp/consumer/build/embed-static"

# --- (c) a parent project that add_subdirectory()s the source tree ------------------------------
step "add_subdirectory(densecl)"
mkdir -p "$tmp/parent"
cat > "$tmp/parent/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(parent C)
add_subdirectory("$src" densecl)
add_executable(embed "$src/examples/embed.c")
target_link_libraries(embed PRIVATE densecl::densecl)
EOF
cmake -S "$tmp/parent" -B "$tmp/parent/build" > "$tmp/parent.log" 2>&1 || {
    cat "$tmp/parent.log"
    fail "parent project: configure"
}
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$tmp/parent/build/CMakeCache.txt")
[[ -z $build_type ]] || fail "densecl set the parent's CMAKE_BUILD_TYPE to '$build_type'"
grep -q '^DENSECL_TESTS:BOOL=OFF' "$tmp/parent/build/CMakeCache.txt" ||
    fail "densecl's tests are on in a parent project"
nice cmake --build "$tmp/parent/build" --target embed -j2 >> "$tmp/parent.log" 2>&1 || {
    cat "$tmp/parent.log"
    fail "parent project: build"
}
run_embed "add_subdirectory" "$tmp/parent/build/embed"

# --- the Python module ---------------------------------------------------------------------------
step "Python module"
py_env=(env -u DENSECL_LIBRARY PYTHONPATH="$py_dir"
        PYTHONDONTWRITEBYTECODE=1)
if [[ $sanitize == 1 ]]; then
    asan=$(cc -print-file-name=libasan.so)
    [[ -f $asan ]] || fail "sanitizer build: no libasan.so to preload into $python"
    py_env+=(LD_PRELOAD="$asan" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
    echo "sanitizer build: $python runs with LD_PRELOAD=$asan, leak detection off"
fi
"${py_env[@]}" "$python" "$src/tests/install/python_module_test.py" "$prefix" "$src" \
    "$tmp/python" || fail "the Python module"
echo "install_test: all passed"
