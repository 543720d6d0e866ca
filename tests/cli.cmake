# SPDX-License-Identifier: MIT
# tests/cli.cmake - the densecl tool end to end (include()d from tests/CMakeLists.txt).
# The tool's target is densecl-cli (the name densecl is the library's); its file is bin/densecl.
add_test(NAME cli_tests
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/cli-scratch)
set_tests_properties(cli_tests PROPERTIES LABELS cli ENVIRONMENT "${DENSECL_TEST_ENV}")

# The tools' shared helpers (tools/cli/) alone: signals, output checks, escaping.
dc_test(test_cli SOURCES test_cli.c LABELS unit)
target_link_libraries(test_cli PRIVATE densecl_tool_cli)

# The library's device self-test (what densecl-query reports), through the public header.
dc_test(test_selftest SOURCES test_selftest.c LABELS unit)

# --shard K/N on classify and run: the shards' outputs, merged, equal one whole run.
add_test(NAME shard_tests
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi_tests.sh $<TARGET_FILE:densecl-cli>
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
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mpi_tests.sh $<TARGET_FILE:densecl-cli>
                   ${CMAKE_CURRENT_BINARY_DIR}/mpi-scratch ${DENSECL_MPIEXEC})
  # In the ASan build, LeakSanitizer reports Open MPI's own allocations at exit (its op and MCA
  # components, freed by nothing and partly in dlclose'd modules, so their stacks cannot be
  # suppressed by library name): leak checking is off for this test alone (ASan's memory checks
  # stay on; classify and run are leak-checked by classify_tests and cli_tests). Ignored by a
  # build without ASan.
  set_tests_properties(mpi_tests PROPERTIES LABELS cli TIMEOUT 900 ENVIRONMENT
                       "${DENSECL_TEST_ENV};ASAN_OPTIONS=detect_odr_violation=0:abort_on_error=1:detect_leaks=0")
endif()
