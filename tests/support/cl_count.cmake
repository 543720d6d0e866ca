# SPDX-License-Identifier: MIT
# libdc_cl_count.so: an LD_PRELOAD counter of OpenCL calls (cl_count.c), for the launch and
# clSetKernelArg budgets per forward (tests/cli/cl_count_check.sh) and for developers.
add_library(dc_cl_count SHARED ${CMAKE_CURRENT_LIST_DIR}/cl_count.c)
target_link_libraries(dc_cl_count PRIVATE ${CMAKE_DL_LIBS})
target_include_directories(dc_cl_count PRIVATE ${OpenCL_INCLUDE_DIRS})
target_compile_options(dc_cl_count PRIVATE ${DENSECL_WARNINGS})
# Never instrumented: it is preloaded before everything, ASan's runtime included.
target_compile_options(dc_cl_count PRIVATE -fno-sanitize=all)
target_link_options(dc_cl_count PRIVATE -fno-sanitize=all)
