# SPDX-License-Identifier: MIT
# host/'s layering, checked on the compiled objects (check_layers.py): no call from a
# folder to one above it, no circle between files, no family reaching another, each function
# declared once, and the tools within tools_internal.h's list.
add_test(NAME layers
         COMMAND ${DENSECL_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/check_layers.py ${PROJECT_SOURCE_DIR}/host
                 --lib $<TARGET_OBJECTS:densecl>
                 --tools $<TARGET_OBJECTS:densecl-cli> $<TARGET_OBJECTS:densecl-query>
                         $<TARGET_OBJECTS:densecl_inputs> $<TARGET_OBJECTS:densecl_tool_cli>
         COMMAND_EXPAND_LISTS)
set_tests_properties(layers PROPERTIES LABELS unit)

# One brace and format style: .clang-format, checked over every C, header and OpenCL C file.
add_test(NAME format COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/check_format.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(format PROPERTIES LABELS unit)
