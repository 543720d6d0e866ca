# SPDX-License-Identifier: MIT
# cmake/onnx_proto.cmake - the ONNX reader's protobuf-c code (host/formats/onnx.c), for the main build
# and tests/fuzz alike: generated at build time from the onnx.proto that Debian's libonnx-dev
# installs, by protoc-c (protobuf-c-compiler), never written by hand. Sets:
#   DENSECL_ONNX_PB_DIR          where onnx.pb-c.c and onnx.pb-c.h are generated (the current
#                                binary dir's generated/)
#   DENSECL_PROTOBUF_C_INCLUDE   protobuf-c's headers (libprotobuf-c-dev)
#   DENSECL_PROTOBUF_C_LIB       its library
# and adds the command that makes ${DENSECL_ONNX_PB_DIR}/onnx.pb-c.c: compile that file.
find_program(DENSECL_PROTOC_C protoc-c REQUIRED DOC "protoc-c (protobuf-c-compiler)")
find_path(DENSECL_ONNX_PROTO_DIR onnx/onnx.proto REQUIRED DOC "onnx.proto (libonnx-dev)")
find_path(DENSECL_PROTOBUF_C_INCLUDE protobuf-c/protobuf-c.h REQUIRED DOC "libprotobuf-c-dev")
find_library(DENSECL_PROTOBUF_C_LIB protobuf-c REQUIRED DOC "libprotobuf-c-dev")
set(DENSECL_ONNX_PB_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
add_custom_command(
  OUTPUT ${DENSECL_ONNX_PB_DIR}/onnx.pb-c.c ${DENSECL_ONNX_PB_DIR}/onnx.pb-c.h
  COMMAND ${CMAKE_COMMAND} -E make_directory ${DENSECL_ONNX_PB_DIR}
  COMMAND ${DENSECL_PROTOC_C} --proto_path=${DENSECL_ONNX_PROTO_DIR}/onnx
          --c_out=${DENSECL_ONNX_PB_DIR} ${DENSECL_ONNX_PROTO_DIR}/onnx/onnx.proto
  DEPENDS ${DENSECL_ONNX_PROTO_DIR}/onnx/onnx.proto
  COMMENT "Generating the ONNX protobuf-c code from onnx.proto")
# Generated code: protoc-c's output is not held to our warnings.
set_source_files_properties(${DENSECL_ONNX_PB_DIR}/onnx.pb-c.c PROPERTIES COMPILE_OPTIONS "-w")
