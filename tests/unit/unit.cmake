# SPDX-License-Identifier: MIT
# tests/unit/unit.cmake - label "unit": fast tests of one part each, no model file (include()d from
# tests/CMakeLists.txt). Config, plan and the public header; the file readers; the engine; the
# library's preprocessing; the tools' shared helpers and the device self-test.
set(dc_dir ${CMAKE_CURRENT_LIST_DIR})
dc_test(test_config SOURCES ${dc_dir}/test_config.c LABELS unit)
dc_test(test_plan SOURCES ${dc_dir}/test_plan.c LABELS unit)

# The public header alone, as strict C99 and as C++.
add_executable(test_header_c99 ${dc_dir}/test_header.c)
set_target_properties(test_header_c99 PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
target_compile_options(test_header_c99 PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(test_header_c99 PRIVATE densecl)
add_test(NAME test_header_c99 COMMAND test_header_c99)
add_executable(test_header_cxx ${dc_dir}/test_header.cpp)
target_compile_options(test_header_cxx PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(test_header_cxx PRIVATE densecl)
add_test(NAME test_header_cxx COMMAND test_header_cxx)
set_tests_properties(test_header_c99 test_header_cxx PROPERTIES LABELS unit
                     ENVIRONMENT "${DENSECL_TEST_ENV}")

# The file readers (JSON, .npy, safetensors) and weights inference/checking.
dc_test(test_json SOURCES ${dc_dir}/test_json.c LABELS unit)
dc_test(test_npy SOURCES ${dc_dir}/test_npy.c LABELS unit)
dc_test(test_safetensors SOURCES ${dc_dir}/test_safetensors.c LABELS unit)
# The library's writer as tune saves its file: links, directories, mount points.
dc_test(test_files SOURCES ${dc_dir}/test_files.c LABELS unit)

# The engine on two POCL devices (replicas, failover, profiling, threads, caller's context).
dc_test(test_engine SOURCES ${dc_dir}/test_engine.c LABELS unit)
set_tests_properties(test_engine PROPERTIES
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread")
# A device whose clFinish fails while the engine calibrates: taken out with a reason.
dc_test(test_calibration SOURCES ${dc_dir}/test_calibration.c LABELS unit)
target_link_libraries(test_calibration PRIVATE ${CMAKE_DL_LIBS})
set_tests_properties(test_calibration PROPERTIES
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread")
target_link_libraries(test_engine PRIVATE Threads::Threads m)
# Again with the uploads staged through pinned host buffers, the path of discrete GPUs
# (DENSECL_PINNED=1 forces it on POCL, whose memory is the host's): jobs back to back, failover
# and every result the same, bit for bit.
add_test(NAME test_engine_pinned COMMAND test_engine)
set_tests_properties(test_engine_pinned PROPERTIES LABELS unit
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread;DENSECL_PINNED=1")

# densecl_image_to_input against the tensors classify's own preprocessing made before it moved
# into the library (tests/unit/data/image_to_input/, written by tests/dump_preprocess.c of commit
# 2633ccf), bit for bit; its argument checks; densecl_weights_preprocess and the labels.
dc_test(test_image_to_input SOURCES ${dc_dir}/test_image_to_input.c LABELS unit
        ARGS ${dc_dir}/data/image_to_input)
target_link_libraries(test_image_to_input PRIVATE densecl_inputs)

# The ONNX reader (host/formats/onnx.c) on the fuzz seed corpus (tiny torch exports) and the
# format sniffing: no OpenCL, no Python.
dc_test(test_onnx SOURCES ${dc_dir}/test_onnx.c LABELS unit
        ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/onnx)
# It rewrites exports with FLOAT16/BFLOAT16 initializers through the generated protobuf-c code.
target_include_directories(test_onnx PRIVATE ${DENSECL_ONNX_PB_DIR} ${DENSECL_PROTOBUF_C_INCLUDE})

# The tools' shared helpers (tools/cli/) alone: signals, output checks, escaping.
dc_test(test_cli SOURCES ${dc_dir}/test_cli.c LABELS unit)
target_link_libraries(test_cli PRIVATE densecl_tool_cli)

# The library's device self-test (what densecl-query reports), through the public header. The
# argument is the source folder: the test copies kernels.cl and kernels/ from it and makes them
# wrong, which the self-test must report.
dc_test(test_selftest SOURCES ${dc_dir}/test_selftest.c LABELS unit ARGS ${PROJECT_SOURCE_DIR})

# densecl_softmax on extreme rows (large, equal, very negative) and its NaN/Inf rule (torch's).
dc_test(test_softmax SOURCES ${dc_dir}/test_softmax.c LABELS unit)
target_link_libraries(test_softmax PRIVATE m)

# Whole engine runs of tiny models (both stems, with and without bottleneck, odd sizes) against a
# DenseNet on the naive reference ops (tests/support/ref_model.c: no plan, fold or kernel of
# ours), at the model tests' tolerance.
dc_test(test_model_reference SOURCES ${dc_dir}/test_model_reference.c
        ${DENSECL_TEST_SUPPORT}/ref_model.c ${DENSECL_TEST_SUPPORT}/ref_ops.c LABELS unit)
target_link_libraries(test_model_reference PRIVATE m)

# densecl_device_info's strings against the driver's own (full device_version, cut visibly).
dc_test(test_device_info SOURCES ${dc_dir}/test_device_info.c LABELS unit)

# tools/setup.sh sized to the job: no PyTorch without --tests, and enough for the build.
add_test(NAME setup_packages
         COMMAND bash ${dc_dir}/setup_test.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(setup_packages PROPERTIES LABELS unit)

# Device profiles (DENSECL_DEVICE_PROFILE, host/cl/device_profile.c): the parser, and the conv
# resolution under each built-in profile (no device needed).
dc_test(test_device_profile SOURCES ${dc_dir}/test_device_profile.c LABELS unit)

# The preprocessing of models without metadata (an ONNX graph's declared input, what is
# assumed, the caller's overrides) and the message for graphs that are not DenseNets: no OpenCL.
dc_test(test_preprocess_onnx SOURCES ${dc_dir}/test_preprocess_onnx.c LABELS unit
        ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/onnx)

# Engine options and device specs of 0.7.0 on the CPU device: --threads as a sub-device, the
# "gpu|cpu" fallback against the "gpu,cpu" list, an ONNX graph's static input size.
dc_test(test_engine_options SOURCES ${dc_dir}/test_engine_options.c LABELS unit
        ARGS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/onnx)
