# SPDX-License-Identifier: MIT
# tests/readme/readme.cmake - label "readme" (include()d from tests/CMakeLists.txt): every shell
# block of README.md run top to bottom in a copy of the tree, as a reader would, from the first
# command's build on (tests/readme/readme_test.py); blocks marked as needing a GPU, Slurm or
# minutes are listed, not run. readme_rules checks the markers and that no runnable block holds
# a placeholder, in a moment.
add_test(NAME readme_rules
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/readme_test.py ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/readme-scratch --list)
set_tests_properties(readme_rules PROPERTIES LABELS "readme;unit")
add_test(NAME readme
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/readme_test.py ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/readme-scratch)
set_tests_properties(readme PROPERTIES LABELS readme ENVIRONMENT "${DENSECL_TEST_ENV}"
                     TIMEOUT 2400)
