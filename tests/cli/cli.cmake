# SPDX-License-Identifier: MIT
# tests/cli/cli.cmake - label "cli": the tools and examples end to end, as users run them
# (include()d from tests/CMakeLists.txt): densecl, its kernel cache, --shard and mpirun,
# densecl-query, densecl classify, the README's embedding examples.
# The tool's target is densecl-cli (the name densecl is the library's); its file is bin/densecl.
set(dc_dir ${CMAKE_CURRENT_LIST_DIR})
add_test(NAME cli_tests
         COMMAND bash ${dc_dir}/cli_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/cli-scratch)
set_tests_properties(cli_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

# --shard K/N on classify and run: the shards' outputs, merged, equal one whole run.
add_test(NAME shard_tests
         COMMAND bash ${dc_dir}/mpi_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/shard-scratch)
if(DENSECL_MPI)
  set(dc_no_mpi 0)
else()
  set(dc_no_mpi 1) # and the tool must say so when a launcher starts it
endif()
set_tests_properties(shard_tests PROPERTIES LABELS cli TIMEOUT 600
                     ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_BUILT_WITHOUT_MPI=${dc_no_mpi}")

# The same under mpirun at 1, 2 and 3 ranks (--oversubscribe: this may have fewer cores), when
# the tool was built with MPI (tools/CMakeLists.txt, tools/densecl/).
if(DENSECL_MPI)
  add_test(NAME mpi_tests
           COMMAND bash ${dc_dir}/mpi_tests.sh $<TARGET_FILE:densecl-cli>
                   ${CMAKE_CURRENT_BINARY_DIR}/mpi-scratch ${DENSECL_MPIEXEC})
  # In the ASan build, LeakSanitizer reports Open MPI's own allocations at exit (its op and MCA
  # components, freed by nothing and partly in dlclose'd modules, so their stacks cannot be
  # suppressed by library name): leak checking is off for this test alone (ASan's memory checks
  # stay on; classify and run are leak-checked by classify_tests and cli_tests). Ignored by a
  # build without ASan.
  set_tests_properties(mpi_tests PROPERTIES LABELS cli TIMEOUT 900 ENVIRONMENT
                       "${DENSECL_TEST_ENV};ASAN_OPTIONS=detect_odr_violation=0:abort_on_error=1:detect_leaks=0")
endif()

# The output rules of every command that writes, C or Python (README, "The tools").
add_test(NAME writers_tests
         COMMAND bash ${dc_dir}/writers_tests.sh $<TARGET_FILE:densecl-cli>
                 $<TARGET_FILE:test_files> ${CMAKE_CURRENT_BINARY_DIR}/writers-scratch)
set_tests_properties(writers_tests PROPERTIES LABELS cli TIMEOUT 900
                     ENVIRONMENT "${DENSECL_TEST_ENV}")

# Kernel cache and program binaries through the CLI.
add_test(NAME cache_tests COMMAND bash ${dc_dir}/cache_tests.sh
                                  $<TARGET_FILE:densecl-cli> ${CMAKE_CURRENT_BINARY_DIR}/cache-scratch)
set_tests_properties(cache_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

# The README's embedding examples against the reference: tests/cli/example_reference.c rebuilds
# their inputs and runs them through a DenseNet on the naive reference ops (tests/support/
# ref_model.c, which shares no plan, fold or kernel with the engine); examples.sh runs the example
# (its exit status counts) and the comparison. embed: the top class, its name and its
# probability; pipeline: the first batch's logits, max|diff| <= 1e-4 x max|reference| per image
# and the same argmax, besides the example's own check that the pipelined logits equal the
# blocking run's bit for bit.
add_executable(example_reference ${dc_dir}/example_reference.c ${DENSECL_TEST_SUPPORT}/ref_model.c
                                 ${DENSECL_TEST_SUPPORT}/ref_ops.c)
target_link_libraries(example_reference PRIVATE densecl m)
target_include_directories(example_reference PRIVATE ${DENSECL_HOST_INCLUDES}
                                                     ${DENSECL_TEST_SUPPORT})
target_compile_options(example_reference PRIVATE ${DENSECL_WARNINGS})
set(dc_examples bash ${dc_dir}/examples.sh)
# Seeded random DenseNet-BC-100 weights (no labels: "unnamed"), 32x32 stand-in preprocessing.
add_test(NAME example_embed
         COMMAND ${dc_examples} embed $<TARGET_FILE:densecl-example>
                 $<TARGET_FILE:example_reference> ${CMAKE_CURRENT_BINARY_DIR}/example-embed)
# The shipped model: its preprocessing (1 channel, 28x28) from the weights, a class name from its
# labels.
add_test(NAME example_embed_shipped_model
         COMMAND ${dc_examples} embed $<TARGET_FILE:densecl-example>
                 $<TARGET_FILE:example_reference> ${CMAKE_CURRENT_BINARY_DIR}/example-embed-shipped
                 ${PROJECT_SOURCE_DIR}/models/densenet-fashion.safetensors)
# The pipelined loop: random DenseNet-BC-100 with an odd batch count (the last job waited for
# alone), and the shipped model.
add_test(NAME example_pipeline
         COMMAND ${dc_examples} pipeline $<TARGET_FILE:densecl-example-pipeline>
                 $<TARGET_FILE:example_reference> ${CMAKE_CURRENT_BINARY_DIR}/example-pipeline
                 - 5 6)
add_test(NAME example_pipeline_shipped_model
         COMMAND ${dc_examples} pipeline $<TARGET_FILE:densecl-example-pipeline>
                 $<TARGET_FILE:example_reference>
                 ${CMAKE_CURRENT_BINARY_DIR}/example-pipeline-shipped
                 ${PROJECT_SOURCE_DIR}/models/densenet-fashion.safetensors 7 32)
set_tests_properties(example_embed example_embed_shipped_model example_pipeline
                     example_pipeline_shipped_model PROPERTIES LABELS cli
                     ENVIRONMENT "${DENSECL_TEST_ENV}")

# densecl-query. The second registration runs the whole suite with two POCL devices.
# POCL_DEVICES is a space-separated list: POCL 3.1 reads "pthread;pthread" as one unknown device
# and offers none.
add_test(NAME query_tests
         COMMAND bash ${dc_dir}/query_tests.sh $<TARGET_FILE:densecl-query>
                 ${CMAKE_CURRENT_BINARY_DIR}/query-scratch 1)
set_tests_properties(query_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

add_test(NAME query_tests_two_devices
         COMMAND bash ${dc_dir}/query_tests.sh $<TARGET_FILE:densecl-query>
                 ${CMAKE_CURRENT_BINARY_DIR}/query-scratch-2 2)
set_tests_properties(query_tests_two_devices PROPERTIES LABELS cli
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread")

# densecl classify. The fixtures (small seeded models, images in several formats, IDX and label
# files) and the torchvision reference come from tests/generators/classify_reference.py at test
# time; the ImageNet case exports a seeded densenet121 (about 30 MB) with
# tools/export/export_torchvision.py. Needs Debian's python3-torch/torchvision/numpy and the
# Fashion-MNIST test set (/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist);
# nothing is skipped.
add_test(NAME classify_tests
         COMMAND bash ${dc_dir}/classify_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/classify-scratch)
set_tests_properties(classify_tests PROPERTIES LABELS cli TIMEOUT 900
                     ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_PYTHON=${DENSECL_PYTHON}")

# The GPU pack's library check (tools/dev/carry_check.sh): what a carried binary needs is
# carried or on every machine; an MPI build's libmpi is named and refused.
add_test(NAME carry_check
         COMMAND bash ${dc_dir}/carry_check_test.sh $<TARGET_FILE:densecl-cli>
                 $<TARGET_FILE:densecl-query> ${PROJECT_SOURCE_DIR}/tools/dev/carry_check.sh)
set_tests_properties(carry_check PROPERTIES LABELS cli)

# OpenCL calls per DenseNet-121 batch-1 forward after the first: every op bound once, so a
# forward launches kernels and sets no argument (issue 22's budgets: 130 launches, 64
# clSetKernelArg). On this device's own resolution, and as an H200 resolves it (the gemm family
# with every conv's K split, the split-K sum in the GEMM's launch: 126 launches; 1 and 2
# forwards, slow on POCL).
add_test(NAME cl_count_densenet121
         COMMAND bash ${dc_dir}/cl_count_check.sh $<TARGET_FILE:densecl-cli>
                 $<TARGET_FILE:dc_cl_count> 130 64 --model densenet121 --batch 1)
set_tests_properties(cl_count_densenet121 PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")
add_test(NAME cl_count_densenet121_nvidia-h200
         COMMAND bash ${dc_dir}/cl_count_check.sh $<TARGET_FILE:densecl-cli>
                 $<TARGET_FILE:dc_cl_count> 130 64 --model densenet121 --batch 1)
set_tests_properties(
  cl_count_densenet121_nvidia-h200 PROPERTIES
  LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_DEVICE_PROFILE=nvidia-h200;DC_CL_COUNT_RUNS=1 2")

# A user's own model and folders (issue 24): a 48x48 DenseNet exported plainly to ONNX
# classifies an ImageFolder tree at its declared size, as torch and torchvision's ImageFolder
# do; contradicting sizes refused; class folders matched to names; --threads and gpu|cpu. The
# fixtures (tests/generators/gen_folders.py: torch, torchvision; half a minute, skipped when up
# to date) are shared with the Python module's test (tests/python/).
set(DENSECL_FOLDERS_DIR ${PROJECT_BINARY_DIR}/folders)
add_test(NAME folder_fixtures
         COMMAND ${DENSECL_PYTHON} ${DENSECL_TEST_GENERATORS}/gen_folders.py prepare
                 ${DENSECL_FOLDERS_DIR})
set_tests_properties(folder_fixtures PROPERTIES FIXTURES_SETUP folders LABELS cli TIMEOUT 600)
add_test(NAME folder_tests
         COMMAND bash ${dc_dir}/folder_tests.sh $<TARGET_FILE:densecl-cli> ${DENSECL_FOLDERS_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/folder-scratch)
set_tests_properties(folder_tests PROPERTIES LABELS cli TIMEOUT 600 FIXTURES_REQUIRED folders
                     ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_PYTHON=${DENSECL_PYTHON}")

# The cold-start compile timer (tools/dev/compile_time.sh and densecl-compile-time): per tree,
# a time for the build and each kernel; a missing tree, a missing kernel and a broken
# kernels.cl are refused.
add_test(NAME compile_time_tool
         COMMAND bash ${dc_dir}/compile_time_test.sh ${PROJECT_SOURCE_DIR}/tools/dev/compile_time.sh
                 $<TARGET_FILE:densecl-compile-time> ${PROJECT_SOURCE_DIR})
set_tests_properties(compile_time_tool PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")
