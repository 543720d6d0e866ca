#!/bin/bash
# SPDX-License-Identifier: MIT
# cmake_routes_test.sh BUILD_DIR SOURCE_DIR SANITIZE(0|1)
#
# The ways a C or C++ project takes densecl, each built and run (issue 24, item 6):
#   paths       no CMake list names CMAKE_SOURCE_DIR or CMAKE_BINARY_DIR (the parent's, in a
#               subproject);
#   build-tree  find_package(densecl) with densecl_DIR=BUILD_DIR: densecl::densecl is the
#               build's libdensecl.so, densecl::densecl_static its libdensecl.a;
#   no-clblast  the installed package on a machine view without libclblast-dev or the OpenCL
#               headers (CMAKE_DISABLE_FIND_PACKAGE_CLBlast/OpenCL): densecl::densecl (the
#               shared library) configures, builds and runs; COMPONENTS static is refused
#               naming CLBlast (when densecl was built with it);
#   pkg-config  the installed densecl.pc alone (PKG_CONFIG_LIBDIR: no OpenCL.pc), linked without
#               an -rpath of our own and run without LD_LIBRARY_PATH;
#   rpath       the installed libdensecl.so and tools carry $ORIGIN-relative run paths;
#   fetch       a parent project that takes densecl by FetchContent at a version tag (v<version>
#               in a git copy of this tree, the way releases are tagged), builds it, and
#               `cmake --install`s itself: its own program and densecl's tools and library run
#               from the installed prefix.
# Every program must print the build's own densecl-example line. A missing OpenCL device fails.
set -uo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR SANITIZE" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
sanitize=$3
# shellcheck source=../support/lib.sh
. "$src/tests/support/lib.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/densecl-routes.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cflags=()
if [[ $sanitize == 1 ]]; then
    cflags=(-fsanitize=address,undefined -fno-omit-frame-pointer)
fi
unset LD_LIBRARY_PATH DENSECL_LIBRARY

expected=$("$build/bin/densecl-example") || {
    echo "FAIL: build/bin/densecl-example failed"
    exit 1
}
echo "reference: $expected"
version=$(sed -n 's/^project(densecl VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")

# same NAME BINARY: the binary runs and prints the reference line.
same() {
    local out
    if ! out=$("$2" 2>&1); then
        bad "$1" "exited non-zero: $out"
    elif [[ $out != "$expected" ]]; then
        bad "$1" "printed '$out', expected '$expected'"
    else
        ok "$1"
    fi
}
# loads BINARY TEXT: ldd's list for BINARY contains TEXT (no pipe: see install_test.sh).
loads() {
    local out
    out=$(ldd "$1" 2>&1) && [[ $out == *"$2"* ]]
}
# loads_from BINARY DIR: BINARY loads libdensecl.so.0 from DIR ($ORIGIN/.. paths resolved).
loads_from() {
    local out path
    out=$(ldd "$1" 2>&1) || return 1
    path=$(sed -n 's/^[[:space:]]*libdensecl\.so\.0 => \(.*\) (0x.*/\1/p' <<< "$out")
    [[ -n $path && $(realpath "$(dirname "$path")") == "$(realpath "$2")" ]]
}
# consumer DIR TARGETS...: a CMake project in DIR with one program per target, embed-<n> linked
# to the n-th target.
consumer() {
    local dir=$1 comps=$2 i=0
    shift 2
    mkdir -p "$dir"
    {
        echo "cmake_minimum_required(VERSION 3.20)"
        echo "project(consumer C)"
        echo "find_package(densecl $version REQUIRED $comps)"
        for t in "$@"; do
            echo "add_executable(embed-$i \"$src/examples/embed.c\")"
            echo "target_link_libraries(embed-$i PRIVATE $t)"
            i=$((i + 1))
        done
    } > "$dir/CMakeLists.txt"
}
# configure_build NAME DIR CMAKE_ARGS...: configure and build; 0 on success, log in DIR.log.
configure_build() {
    local name=$1 dir=$2
    shift 2
    if ! cmake -S "$dir" -B "$dir/build" -DCMAKE_C_FLAGS="${cflags[*]}" "$@" \
            > "$dir.log" 2>&1; then
        bad "$name" "configure failed: $(tail -n 15 "$dir.log")"
        return 1
    fi
    if ! cmake --build "$dir/build" -j2 >> "$dir.log" 2>&1; then
        bad "$name" "build failed: $(tail -n 15 "$dir.log")"
        return 1
    fi
}

# --- subproject paths ---------------------------------------------------------------------------
# Under add_subdirectory or FetchContent CMAKE_SOURCE_DIR/CMAKE_BINARY_DIR are the parent's:
# densecl's lists name its own tree by PROJECT_* or CMAKE_CURRENT_* (the top-level test excepted).
uses=$(cd "$src" && git ls-files -co --exclude-standard -- '*CMakeLists.txt' '*.cmake' |
       xargs grep -n 'CMAKE_SOURCE_DIR\|CMAKE_BINARY_DIR' |
       grep -v '^CMakeLists.txt:[0-9]*:string(COMPARE EQUAL "${CMAKE_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}"')
[[ -z $uses ]] && ok "subproject paths: no CMAKE_SOURCE_DIR/CMAKE_BINARY_DIR" ||
    bad "subproject paths" "the parent's tree would be used: $uses"

# --- build-tree ----------------------------------------------------------------------------------
consumer "$tmp/tree" "" densecl::densecl densecl::densecl_static
if configure_build build-tree "$tmp/tree" -Ddensecl_DIR="$build"; then
    same "build-tree: densecl::densecl" "$tmp/tree/build/embed-0"
    loads_from "$tmp/tree/build/embed-0" "$build" &&
        ok "build-tree: densecl::densecl is the build's libdensecl.so" ||
        bad "build-tree: densecl::densecl" "does not load $build/libdensecl.so.0"
    same "build-tree: densecl::densecl_static" "$tmp/tree/build/embed-1"
    ! loads "$tmp/tree/build/embed-1" libdensecl &&
        ok "build-tree: densecl::densecl_static is libdensecl.a" ||
        bad "build-tree: densecl::densecl_static" "loads libdensecl.so"
fi

# --- install --------------------------------------------------------------------------------------
prefix=$tmp/prefix
if ! cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1; then
    echo "FAIL: cmake --install: $(tail -n 20 "$tmp/install.log")"
    exit 1
fi
solib=$(find "$prefix" -name 'libdensecl.so.0.*' -type f -print -quit)
libdir=$(dirname "$solib")

# --- no-clblast ----------------------------------------------------------------------------------
hide=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_DISABLE_FIND_PACKAGE_CLBlast=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_OpenCL=ON)
consumer "$tmp/noclblast" "" densecl::densecl
if configure_build no-clblast "$tmp/noclblast" "${hide[@]}"; then
    same "no-clblast: densecl::densecl without CLBlast's or OpenCL's CMake package" \
        "$tmp/noclblast/build/embed-0"
    loads_from "$tmp/noclblast/build/embed-0" "$libdir" &&
        ok "no-clblast: densecl::densecl is the installed libdensecl.so" ||
        bad "no-clblast: densecl::densecl" "does not load $libdir/libdensecl.so.0"
fi
consumer "$tmp/nostatic" "COMPONENTS static" densecl::densecl_static
if grep -q 'clblast' "$build/densecl-static-targets.cmake"; then
    if cmake -S "$tmp/nostatic" -B "$tmp/nostatic/build" "${hide[@]}" > "$tmp/nostatic.log" 2>&1
    then
        bad "no-clblast: COMPONENTS static" "configured without CLBlast"
    elif grep -q CLBlast "$tmp/nostatic.log"; then
        ok "no-clblast: COMPONENTS static is refused, naming CLBlast"
    else
        bad "no-clblast: COMPONENTS static" "refused without naming CLBlast: $(tail "$tmp/nostatic.log")"
    fi
else
    echo "(densecl was built without CLBlast: its static library needs no CLBlast to refuse)"
fi

# --- pkg-config ----------------------------------------------------------------------------------
# PKG_CONFIG_LIBDIR replaces the system's .pc directories: OpenCL.pc and the rest are hidden.
if pc=$(PKG_CONFIG_LIBDIR=$libdir/pkgconfig pkg-config --cflags --libs densecl 2>&1); then
    read -r -a pc_args <<< "$pc"
    if cc -std=c11 "${cflags[@]}" "$src/examples/embed.c" -o "$tmp/embed-pc" "${pc_args[@]}" \
            > "$tmp/pc.log" 2>&1; then
        same "pkg-config: shared, no -rpath of ours, no LD_LIBRARY_PATH" "$tmp/embed-pc"
        loads_from "$tmp/embed-pc" "$libdir" &&
            ok "pkg-config: the program loads the installed libdensecl.so" ||
            bad "pkg-config" "the program does not load $libdir/libdensecl.so.0"
    else
        bad "pkg-config" "cc failed: $(cat "$tmp/pc.log")"
    fi
else
    bad "pkg-config" "densecl.pc needs more than itself: $pc"
fi

# --- rpath ---------------------------------------------------------------------------------------
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
bin_to_lib=$(realpath --relative-to="$prefix/bin" "$libdir")
for tool in densecl densecl-query; do
    rp=$(runpath "$prefix/bin/$tool")
    [[ $rp == "\$ORIGIN/$bin_to_lib" ]] && ok "rpath: bin/$tool has \$ORIGIN/$bin_to_lib" ||
        bad "rpath: bin/$tool" "RUNPATH is '$rp', expected '\$ORIGIN/$bin_to_lib'"
done
rp=$(runpath "$solib")
[[ $rp == "\$ORIGIN" ]] && ok "rpath: libdensecl.so has \$ORIGIN" ||
    bad "rpath: libdensecl.so" "RUNPATH is '$rp', expected '\$ORIGIN'"

# --- fetch ---------------------------------------------------------------------------------------
# A git copy of this tree as it is (tracked and new files), tagged as a release is.
repo=$tmp/repo
mkdir -p "$repo"
(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$repo" 2>/dev/null)
if git -C "$repo" init -q && git -C "$repo" add -A &&
        git -C "$repo" -c user.name=t -c user.email=t@t commit -qm snapshot &&
        git -C "$repo" tag -a "v$version" -m "densecl $version"; then
    mkdir -p "$tmp/fetch"
    cat > "$tmp/fetch/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(app C)
include(FetchContent)
FetchContent_Declare(densecl GIT_REPOSITORY "file://$repo" GIT_TAG v$version)
FetchContent_MakeAvailable(densecl)
add_executable(app "$src/examples/embed.c")
target_link_libraries(app PRIVATE densecl::densecl)
set_target_properties(app PROPERTIES INSTALL_RPATH "\$ORIGIN/../lib")
install(TARGETS app)
EOF
    if cmake -S "$tmp/fetch" -B "$tmp/fetch/build" -DCMAKE_BUILD_TYPE=Release \
            -DCMAKE_C_FLAGS="${cflags[*]}" -DCMAKE_INSTALL_LIBDIR=lib > "$tmp/fetch.log" 2>&1 &&
            nice cmake --build "$tmp/fetch/build" -j2 >> "$tmp/fetch.log" 2>&1; then
        if cmake --install "$tmp/fetch/build" --prefix "$tmp/fetch/first" \
                >> "$tmp/fetch.log" 2>&1; then
            ok "fetch: the parent project installs (densecl at tag v$version)"
            mv "$tmp/fetch/first" "$tmp/fetch/prefix"
            same "fetch: the parent's installed program, moved" "$tmp/fetch/prefix/bin/app"
            loads_from "$tmp/fetch/prefix/bin/app" "$tmp/fetch/prefix/lib" &&
                ok "fetch: it loads the installed libdensecl.so" ||
                bad "fetch" "the program does not load the installed libdensecl.so"
            v=$("$tmp/fetch/prefix/bin/densecl" --version 2>&1)
            [[ $v == *"$version"* ]] && ok "fetch: the installed densecl runs: $v" ||
                bad "fetch: installed densecl --version" "$v"
        else
            bad "fetch: parent's cmake --install" "$(tail -n 20 "$tmp/fetch.log")"
        fi
    else
        bad "fetch" "configure or build failed: $(tail -n 20 "$tmp/fetch.log")"
    fi
else
    bad "fetch" "could not make the tagged git copy of the tree"
fi

finish
