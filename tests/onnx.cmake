# tests/onnx.cmake - ONNX weights (host/onnx.c): DenseNets exported by torch.onnx.export against
# torchvision's logits, and files that must be refused (include()d from tests/CMakeLists.txt).
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
