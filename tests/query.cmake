# SPDX-License-Identifier: MIT
# tests/query.cmake - densecl-query end to end (include()d from tests/CMakeLists.txt).
# The second registration runs the whole suite with two POCL devices. POCL_DEVICES is a
# space-separated list: POCL 3.1 reads "pthread;pthread" as one unknown device and offers none.
add_test(NAME query_tests
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query_tests.sh $<TARGET_FILE:densecl-query>
                 ${CMAKE_CURRENT_BINARY_DIR}/query-scratch 1)
set_tests_properties(query_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

add_test(NAME query_tests_two_devices
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/query_tests.sh $<TARGET_FILE:densecl-query>
                 ${CMAKE_CURRENT_BINARY_DIR}/query-scratch-2 2)
set_tests_properties(query_tests_two_devices PROPERTIES LABELS cli
                     ENVIRONMENT "${DENSECL_TEST_ENV};POCL_DEVICES=pthread pthread")
