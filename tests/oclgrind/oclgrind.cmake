# SPDX-License-Identifier: MIT
# tests/oclgrind/oclgrind.cmake - the gemm family under oclgrind (Debian's OpenCL device simulator) with
# --data-races, at each device profile's limits: test_conv_gemm's small cases and the shipped
# model (tests/oclgrind/oclgrind_tests.sh). A few minutes on 2 cores. Not in sanitizer builds: oclgrind
# preloads its own OpenCL library, which ASan will not run after.
if(NOT DENSECL_SANITIZE)
  add_test(NAME oclgrind_tests
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/oclgrind_tests.sh $<TARGET_FILE:densecl-cli>
                   $<TARGET_FILE:test_conv_gemm> ${CMAKE_CURRENT_BINARY_DIR}/oclgrind-scratch)
  set_tests_properties(oclgrind_tests PROPERTIES LABELS oclgrind TIMEOUT 1200
                       ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_PYTHON=${DENSECL_PYTHON}")
endif()
