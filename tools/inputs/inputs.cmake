# SPDX-License-Identifier: MIT
# tools/inputs/inputs.cmake - classify's input readers as the static library densecl_inputs, the
# one place that says how they and stb_image are built. include()d by tools/CMakeLists.txt (for
# the CLI and, through the target, the fuzz replay tests of tests/fuzz/replay.cmake) and by the
# libFuzzer project tests/fuzz/CMakeLists.txt, each after setting:
#   DC_INPUTS_HOST      the target that provides the library internals they call (dc_error,
#                       dc_json_parse, dc_fopen_regular; densecl_image_to_input): densecl, or the fuzzers' dc_fuzz_host
#   DC_INPUTS_WARNINGS  the warning flags for our own files
find_package(ZLIB REQUIRED)
find_path(DC_STB_INCLUDE stb/stb_image.h REQUIRED DOC "stb headers (libstb-dev)")

set(dc_inputs_dir ${CMAKE_CURRENT_LIST_DIR})
add_library(densecl_inputs STATIC ${dc_inputs_dir}/idx.c ${dc_inputs_dir}/image.c
            ${dc_inputs_dir}/labels.c
            ${dc_inputs_dir}/stb_image_impl.c)
target_include_directories(densecl_inputs PUBLIC ${dc_inputs_dir} ${DC_STB_INCLUDE})
target_compile_options(densecl_inputs PRIVATE ${DC_INPUTS_WARNINGS})
target_link_libraries(densecl_inputs PUBLIC ${DC_INPUTS_HOST} ZLIB::ZLIB m)

# stb_image is third-party code (libstb-dev): its warnings are not ours to fix, so its one
# translation unit is compiled with them off (the option comes after the target's -W flags).
# Debian's stb 2.27 also has two harmless kinds of UB that UBSan would stop at, fixed upstream
# later, made defined here: signed overflow in its PNM header parser (-fwrapv;
# tests/fuzz/regressions/idx_image/pnm_*) and memcpy of 0 bytes to a NULL buffer for an empty
# PNG IDAT chunk (png_*). Memory errors in stb are still reported by ASan.
set_source_files_properties(${dc_inputs_dir}/stb_image_impl.c PROPERTIES
                            COMPILE_OPTIONS "-w;-fwrapv;-fno-sanitize=nonnull-attribute")
