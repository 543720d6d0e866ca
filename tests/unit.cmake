# SPDX-License-Identifier: MIT
# tests/unit.cmake: config, plan and the public header.
dc_test(test_config SOURCES test_config.c LABELS unit)
dc_test(test_plan SOURCES test_plan.c LABELS unit)

# The public header alone, as strict C99 and as C++.
add_executable(test_header_c99 test_header.c)
set_target_properties(test_header_c99 PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
target_compile_options(test_header_c99 PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(test_header_c99 PRIVATE densecl)
add_test(NAME test_header_c99 COMMAND test_header_c99)
add_executable(test_header_cxx test_header.cpp)
target_compile_options(test_header_cxx PRIVATE -Wall -Wextra -Wpedantic -Werror)
target_link_libraries(test_header_cxx PRIVATE densecl)
add_test(NAME test_header_cxx COMMAND test_header_cxx)
set_tests_properties(test_header_c99 test_header_cxx PROPERTIES LABELS unit
                     ENVIRONMENT "${DENSECL_TEST_ENV}")

# The engine on two POCL devices (replicas, failover, profiling, threads, caller's context).
dc_test(test_engine SOURCES test_engine.c LABELS unit)
set_tests_properties(test_engine PROPERTIES
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread")
target_link_libraries(test_engine PRIVATE Threads::Threads m)

# Kernel cache and program binaries through the CLI.
add_test(NAME cache_tests COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cache_tests.sh
                                  $<TARGET_FILE:densecl-cli> ${CMAKE_CURRENT_BINARY_DIR}/cache-scratch)
set_tests_properties(cache_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

# The README's embedding example runs and prints a class.
add_test(NAME example_embed COMMAND densecl-example)
set_tests_properties(example_embed PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}"
                     PASS_REGULAR_EXPRESSION "class [0-9]+ \\(unnamed\\), probability 0\\.[0-9]+, on ")
# With the shipped model: its preprocessing (1 channel, 28x28) from the weights, and a class
# name from its labels.
add_test(NAME example_embed_shipped_model
         COMMAND densecl-example ${PROJECT_SOURCE_DIR}/models/densenet-fashion.safetensors)
set_tests_properties(example_embed_shipped_model PROPERTIES LABELS cli
    ENVIRONMENT "${DENSECL_TEST_ENV}"
    PASS_REGULAR_EXPRESSION
    "class [0-9] \\((T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot)\\), probability [01]\\.[0-9]+, on ")

# The pipelined loop gives a blocking run's logits bit for bit: random DenseNet-BC-100 and the
# shipped model, with an odd batch count (the last job waited for alone).
add_test(NAME example_pipeline COMMAND densecl-example-pipeline - 5 6)
add_test(NAME example_pipeline_shipped_model
         COMMAND densecl-example-pipeline ${PROJECT_SOURCE_DIR}/models/densenet-fashion.safetensors
                 7 32)
set_tests_properties(example_pipeline example_pipeline_shipped_model PROPERTIES LABELS cli
    ENVIRONMENT "${DENSECL_TEST_ENV}"
    PASS_REGULAR_EXPRESSION "the same logits both ways; pipelined [0-9.]+ images/s")

# densecl_image_to_input against the tensors classify's own preprocessing made before it moved
# into the library (tests/data/image_to_input/, written by tests/dump_preprocess.c of commit
# 2633ccf), bit for bit; its argument checks; densecl_weights_preprocess and the labels.
dc_test(test_image_to_input SOURCES test_image_to_input.c LABELS unit
        ARGS ${CMAKE_CURRENT_SOURCE_DIR}/data/image_to_input)
target_link_libraries(test_image_to_input PRIVATE densecl_inputs)

# Device profiles (DENSECL_DEVICE_PROFILE): the parser, and the conv resolution under each.
dc_test(test_profile SOURCES test_profile.c LABELS unit)
