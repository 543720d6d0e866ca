# SPDX-License-Identifier: MIT
# tests/install/install.cmake - the install as users meet it (issues 14 and 24; include()d from
# tests/CMakeLists.txt). Label "install": cmake --install into a temporary prefix, examples/embed.c
# built with pkg-config, find_package and add_subdirectory, the Python module against torchvision;
# cmake_routes.sh and pip_test.sh (below) the other routes.
# Needs the whole build (it installs it), an OpenCL device, and python3-torch/torchvision.
if(DENSECL_SANITIZE)
  set(dc_sanitize 1)
else()
  set(dc_sanitize 0)
endif()
if(NOT DENSECL_SHARED)
  message(STATUS "densecl: DENSECL_SHARED=OFF: no 'install' test (it checks the shared library "
                 "and the Python module)")
  return()
endif()
add_test(NAME install
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install_test.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} ${dc_sanitize} ${DENSECL_PYTHON})
set_tests_properties(install PROPERTIES LABELS install ENVIRONMENT "${DENSECL_TEST_ENV}"
                     TIMEOUT 900)

# The other routes into a C/C++ project (issue 24): the build tree's package, the installed one on a
# machine view without CLBlast or OpenCL headers, pkg-config without LD_LIBRARY_PATH, the run
# paths, and a parent project taking densecl by FetchContent at a version tag and installing.
add_test(NAME cmake_routes
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/cmake_routes_test.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} ${dc_sanitize})
set_tests_properties(cmake_routes PROPERTIES LABELS install ENVIRONMENT "${DENSECL_TEST_ENV}"
                     TIMEOUT 900)

# The Python module by pip (offline, with and without build isolation) and by cmake --install
# into a venv and, under DESTDIR, into /usr/local and /usr: importable with no PYTHONPATH.
add_test(NAME pip
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pip_test.sh ${PROJECT_BINARY_DIR}
                 ${PROJECT_SOURCE_DIR} ${dc_sanitize} ${DENSECL_PYTHON})
set_tests_properties(pip PROPERTIES LABELS install ENVIRONMENT "${DENSECL_TEST_ENV}" TIMEOUT 900)
