# SPDX-License-Identifier: MIT
# tests/python/python.cmake - the Python module from the source tree (python/densecl over the
# built libdensecl.so; include()d from tests/CMakeLists.txt), label "cli":
#   python_module_features  batches and streaming, folders and ImageFolder truth, engine options,
#                           preprocessing fields, C strings with a NUL; against the CLI and
#                           torchvision (the folder fixtures of tests/cli/cli.cmake)
#   python_interrupts       a KeyboardInterrupt injected at every point of the module where
#                           Python can raise one: no orphaned job, no freed buffer in use
# The installed module is tested by tests/install/. Needs the shared library.
if(NOT DENSECL_SHARED)
  return()
endif()
set(dc_py_env ${DENSECL_TEST_ENV} "DENSECL_LIBRARY=$<TARGET_FILE:densecl_shared>"
              "PYTHONPATH=${PROJECT_SOURCE_DIR}/python" "PYTHONDONTWRITEBYTECODE=1")
if(DENSECL_SANITIZE)
  # The interpreter is not instrumented: the sanitizer runtime must be loaded first (as
  # tests/install/install_test.sh does), and CPython's own allocations are not ours to check.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE dc_asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND dc_py_env "LD_PRELOAD=${dc_asan}" "ASAN_OPTIONS=detect_leaks=0")
endif()
add_test(NAME python_module_features
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/module_features_test.py
                 ${DENSECL_FOLDERS_DIR} $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/python-scratch)
set_tests_properties(python_module_features PROPERTIES LABELS cli TIMEOUT 600
                     FIXTURES_REQUIRED folders ENVIRONMENT "${dc_py_env}")
add_test(NAME python_interrupts
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/interrupt_test.py)
set_tests_properties(python_interrupts PROPERTIES LABELS cli TIMEOUT 900
                     ENVIRONMENT "${dc_py_env}")
