# Usage: cmake -DIN=kernels.cl -DOUT=kernels_cl.c -P embed.cmake
# Writes `const char dc_kernels_cl[]`: the bytes of IN followed by a NUL, and its length.
if(NOT EXISTS "${IN}")
  message(FATAL_ERROR "embed.cmake: ${IN} does not exist")
endif()
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR nbytes "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes per line keeps the generated file readable for a compiler error.
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/embed.cmake. Do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const char dc_kernels_cl[];\nextern const size_t dc_kernels_cl_len;\n"
  "const char dc_kernels_cl[] = {\n${bytes}0x00};\n"
  "const size_t dc_kernels_cl_len = ${nbytes};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
