# SPDX-License-Identifier: MIT
# tests/models/models.cmake - label "model": whole models against torchvision, malformed
# weights/inputs, ONNX weights and densecl-export round trips (include()d from
# tests/CMakeLists.txt).
#
# The fixtures are generated at test time by Debian's python3-torch/torchvision (not at build
# time, so that building needs no Python; the writers are tests/generators/gen_*.py):
# model_fixtures writes ${PROJECT_BINARY_DIR}/fixtures (about 350 MB, 15-30 s on 2 cores; skipped
# when up to date), malformed_fixtures writes ${PROJECT_BINARY_DIR}/malformed. A missing device
# fails these tests; they are never skipped.
set(dc_dir ${CMAKE_CURRENT_LIST_DIR})
set(DENSECL_FIXTURES_DIR ${PROJECT_BINARY_DIR}/fixtures)
set(DENSECL_MALFORMED_DIR ${PROJECT_BINARY_DIR}/malformed)
# Must match `gen_fixtures.py --list`.
set(DENSECL_MODEL_CASES
  densenet121 densenet161_64 densenet169_48x40 densenet201_33x45 densenet121_legacy
  densenet121_f16 densenet121_bf16 densenet_bc100_k12 densenet40_k12 densenet_bc_c1_k7)
set(DENSECL_MODEL_TEST_ENV ${DENSECL_TEST_ENV} "DENSECL_PYTHON=${DENSECL_PYTHON}")

add_test(NAME model_fixtures
         COMMAND ${DENSECL_PYTHON} ${DENSECL_TEST_GENERATORS}/gen_fixtures.py
                 ${DENSECL_FIXTURES_DIR})
set_tests_properties(model_fixtures PROPERTIES FIXTURES_SETUP models LABELS model TIMEOUT 600)

add_test(NAME malformed_fixtures
         COMMAND ${DENSECL_PYTHON} ${DENSECL_TEST_GENERATORS}/gen_malformed.py
                 ${DENSECL_MALFORMED_DIR})
set_tests_properties(malformed_fixtures PROPERTIES FIXTURES_SETUP malformed LABELS "model;cli"
                     TIMEOUT 300)

# Model tests run on POCL with 2 cores in CI: generous timeouts, never timing-based pass/fail.
foreach(case IN LISTS DENSECL_MODEL_CASES)
  add_test(NAME model_${case}
           COMMAND bash ${dc_dir}/run_model_case.sh $<TARGET_FILE:densecl-cli>
                   ${DENSECL_FIXTURES_DIR} ${case})
  set_tests_properties(model_${case} PROPERTIES LABELS model FIXTURES_REQUIRED models
                       ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 600)
endforeach()

# The same fixtures with every conv on one family: "CASE:FAMILY" entries (model_CASE_FAMILY).
# direct is the default family off GPUs, so its entry checks the --conv path itself; gemm and
# clblast (the GPU families, correct everywhere) run DenseNet-121 (7x7/2 stem, bottlenecks,
# transitions), DenseNet-BC-100 (CIFAR stem) and DenseNet-40 (3x3 convs with the BN+ReLU
# prologue). A family that cannot run a conv of the model fails its case. winograd runs the
# 3x3/1/1 convs only (the rest on direct): DenseNet-121 (growth 32), DenseNet-BC-100 (growth
# 12, the CIFAR stem) and DenseNet-40 (its kernel with the prologue); since auto runs the 3x3
# convs on winograd on AVX-512 CPUs, DenseNet-121 on direct keeps that path covered there.
# "CASE:FAMILY@PROFILE" entries run under a device profile (DENSECL_DEVICE_PROFILE, test
# model_CASE_FAMILY_PROFILE): the tiles, K split and launches of that GPU, on POCL. The gemm
# family as an H200 resolves it (local-memory tiles, every conv split at this batch) and as a
# Mali-G710 does (no local memory, 32 accumulators a work-item); DenseNet-BC-100 as an MI300X
# and an Arc A770 resolve it, so that each built-in profile meets torchvision.
# The default list is not cached, so that a build tree configured before a case was added
# gets it; -DDENSECL_MODEL_CONV_CASES=... replaces it. Trees configured before 0.7.0 cached the
# default list itself under the old help text: that entry is dropped, as not the user's.
get_property(dc_cases_help CACHE DENSECL_MODEL_CONV_CASES PROPERTY HELPSTRING)
if(dc_cases_help STREQUAL "model cases run with --conv, as CASE:FAMILY[@PROFILE] entries")
  unset(DENSECL_MODEL_CONV_CASES CACHE)
endif()
set(DENSECL_MODEL_CONV_CASES "" CACHE STRING
    "model cases run with --conv, as CASE:FAMILY[@PROFILE] entries (empty: the default list)")
set(dc_model_conv_cases ${DENSECL_MODEL_CONV_CASES})
if(NOT dc_model_conv_cases)
  set(dc_model_conv_cases
      densenet_bc100_k12:direct
      densenet121:direct
      densenet121:gemm
      densenet_bc100_k12:gemm
      densenet40_k12:gemm
      densenet121:clblast
      densenet_bc100_k12:clblast
      densenet40_k12:clblast
      densenet121:winograd
      densenet_bc100_k12:winograd
      densenet40_k12:winograd
      densenet121:gemm@nvidia-h200
      densenet121:gemm@mali-g710
      densenet_bc100_k12:gemm@amd-mi300x
      densenet_bc100_k12:gemm@intel-arc-a770
  )
endif()
foreach(entry IN LISTS dc_model_conv_cases)
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 case)
  list(GET parts 1 conv)
  set(name model_${case}_${conv})
  set(env ${DENSECL_MODEL_TEST_ENV})
  if(conv MATCHES "^([^@]+)@(.+)$")
    set(conv ${CMAKE_MATCH_1})
    set(name model_${case}_${conv}_${CMAKE_MATCH_2})
    list(APPEND env "DENSECL_DEVICE_PROFILE=${CMAKE_MATCH_2}")
  endif()
  add_test(NAME ${name}
           COMMAND bash ${dc_dir}/run_model_case.sh $<TARGET_FILE:densecl-cli>
                   ${DENSECL_FIXTURES_DIR} ${case} ${conv})
  set_tests_properties(${name} PROPERTIES LABELS model FIXTURES_REQUIRED models
                       ENVIRONMENT "${env}" TIMEOUT 600)
endforeach()

add_test(NAME malformed_inputs
         COMMAND bash ${dc_dir}/malformed_cases.sh $<TARGET_FILE:densecl-cli>
                 ${DENSECL_MALFORMED_DIR})
set_tests_properties(malformed_inputs PROPERTIES LABELS "model;cli" FIXTURES_REQUIRED malformed
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)

# The shipped Fashion-MNIST model: accuracy and agreement with PyTorch through `classify`.
add_test(NAME shipped_fashion_model
         COMMAND bash ${dc_dir}/shipped_model.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/shipped-scratch)
set_tests_properties(shipped_fashion_model PROPERTIES LABELS model
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)

# ONNX weights (host/formats/onnx.c): DenseNets exported by torch.onnx.export against
# torchvision's logits, and files that must be refused. gen_onnx.py writes ${PROJECT_BINARY_DIR}/onnx
# at test time (about 200 MB, a minute on 2 cores; skipped when up to date). A missing device
# fails the test; nothing is skipped.
set(DENSECL_ONNX_DIR ${PROJECT_BINARY_DIR}/onnx)
add_test(NAME onnx_fixtures
         COMMAND ${DENSECL_PYTHON} ${DENSECL_TEST_GENERATORS}/gen_onnx.py ${DENSECL_ONNX_DIR})
set_tests_properties(onnx_fixtures PROPERTIES FIXTURES_SETUP onnx LABELS model TIMEOUT 900)
add_test(NAME onnx_models
         COMMAND bash ${dc_dir}/onnx_tests.sh $<TARGET_FILE:densecl-cli> ${DENSECL_ONNX_DIR})
set_tests_properties(onnx_models PROPERTIES LABELS "model;cli" FIXTURES_REQUIRED onnx
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)

# densecl-export round trips: checkpoints as users save them (gen_export.py, at test time),
# converted and run, against torchvision's logits; the converter's refusals.
set(DENSECL_EXPORT_DIR ${PROJECT_BINARY_DIR}/export)
add_test(NAME export_fixtures
         COMMAND ${DENSECL_PYTHON} ${DENSECL_TEST_GENERATORS}/gen_export.py ${DENSECL_EXPORT_DIR})
set_tests_properties(export_fixtures PROPERTIES FIXTURES_SETUP export LABELS model TIMEOUT 600)
add_test(NAME export_roundtrip
         COMMAND bash ${dc_dir}/export_tests.sh $<TARGET_FILE:densecl-cli>
                 ${PROJECT_SOURCE_DIR}/tools/export/densecl-export ${DENSECL_EXPORT_DIR})
set_tests_properties(export_roundtrip PROPERTIES LABELS "model;cli" FIXTURES_REQUIRED export
                     ENVIRONMENT "${DENSECL_MODEL_TEST_ENV}" TIMEOUT 900)
