# SPDX-License-Identifier: MIT
# tests/onnx.cmake - ONNX weights (host/formats/onnx.c) and densecl-export (include()d from
# tests/CMakeLists.txt). DenseNets exported by torch.onnx.export against torchvision's logits,
# and files that must be refused.
# gen_onnx.py writes ${CMAKE_BINARY_DIR}/onnx at test time (about 200 MB, a minute on 2 cores;
# skipped when up to date). A missing device fails the test; nothing is skipped.
set(DENSECL_ONNX_DIR ${CMAKE_BINARY_DIR}/onnx)
add_test(NAME onnx_fixtures
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen_onnx.py ${DENSECL_ONNX_DIR})
set_tests_properties(onnx_fixtures PROPERTIES FIXTURES_SETUP onnx LABELS model TIMEOUT 900)
add_test(NAME onnx_models
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/onnx_tests.sh $<TARGET_FILE:densecl-cli>
                 ${DENSECL_ONNX_DIR})
set_tests_properties(onnx_models PROPERTIES LABELS "model;cli" FIXTURES_REQUIRED onnx
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)

# densecl-export round trips: checkpoints as users save them (gen_export.py, at test time),
# converted and run, against torchvision's logits; the converter's refusals.
set(DENSECL_EXPORT_DIR ${CMAKE_BINARY_DIR}/export)
add_test(NAME export_fixtures
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/gen_export.py ${DENSECL_EXPORT_DIR})
set_tests_properties(export_fixtures PROPERTIES FIXTURES_SETUP export LABELS model TIMEOUT 600)
add_test(NAME export_roundtrip
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/export_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_SOURCE_DIR}/tools/export/densecl-export ${DENSECL_EXPORT_DIR})
set_tests_properties(export_roundtrip PROPERTIES LABELS "model;cli" FIXTURES_REQUIRED export
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)

# The ONNX reader on the fuzz seed corpus (tiny torch exports) and the format sniffing: no
# OpenCL, no Python.
dc_test(test_onnx SOURCES test_onnx.c LABELS unit ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/onnx)
# It rewrites exports with FLOAT16/BFLOAT16 initializers through the generated protobuf-c code.
target_include_directories(test_onnx PRIVATE ${DENSECL_ONNX_PB_DIR} ${DENSECL_PROTOBUF_C_INCLUDE})
