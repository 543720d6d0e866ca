# SPDX-License-Identifier: MIT
# Usage: cmake -DROOT=<source dir> -DFILES="kernels.cl;kernels/abi.h;..." -DOUT=kernels_cl.c
#        -P embed.cmake
# Writes, for each file (a path relative to ROOT), its bytes followed by a NUL, and three tables
# indexed alike: dc_kernel_file_names (the relative path), dc_kernel_file_texts and
# dc_kernel_file_lens (bytes, without the NUL); dc_kernel_file_count. Byte-exact, so build-log
# line numbers match the files.
set(body "")
set(names "")
set(texts "")
set(lens "")
set(i 0)
foreach(rel IN LISTS FILES)
  set(path "${ROOT}/${rel}")
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "embed.cmake: ${path} does not exist")
  endif()
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR nbytes "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # 16 bytes per line keeps the generated file readable for a compiler error.
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
  string(APPEND body "static const char dc_kf${i}[] = {\n${bytes}0x00};\n")
  string(APPEND names "    \"${rel}\",\n")
  string(APPEND texts "    dc_kf${i},\n")
  string(APPEND lens "    ${nbytes},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}.tmp"
  "/* Generated from ${ROOT} by cmake/embed.cmake. Do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const char *const dc_kernel_file_names[];\n"
  "extern const char *const dc_kernel_file_texts[];\n"
  "extern const size_t dc_kernel_file_lens[];\n"
  "extern const size_t dc_kernel_file_count;\n"
  "${body}"
  "const char *const dc_kernel_file_names[] = {\n${names}};\n"
  "const char *const dc_kernel_file_texts[] = {\n${texts}};\n"
  "const size_t dc_kernel_file_lens[] = {\n${lens}};\n"
  "const size_t dc_kernel_file_count = ${i};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
