# SPDX-License-Identifier: MIT
# tests/device/device.cmake - label "ops": the kernels and the conv families on an OpenCL device
# against the naive C reference (tests/support/ref_ops.c); include()d from tests/CMakeLists.txt.
set(dc_dir ${CMAKE_CURRENT_LIST_DIR})

# The kernels other than the convs, and the launch helpers. The argument is the source folder:
# the build-log test copies kernels.cl and kernels/ from it.
dc_test(test_ops SOURCES ${dc_dir}/test_ops.c ${DENSECL_TEST_SUPPORT}/ref_ops.c LABELS ops
        ARGS ${PROJECT_SOURCE_DIR})

# Every conv family of the registry on every conv case (tests/support/conv_run.h), plus the
# direct family's other tunables and the winograd family's.
dc_test(test_families SOURCES ${dc_dir}/test_families.c ${DENSECL_TEST_SUPPORT}/ref_ops.c
        LABELS ops)

# The gemm conv family (host/conv/gemm.c, kernels/gemm.cl); it builds kernels/*.cl from the
# source tree at run time.
dc_test(test_conv_gemm SOURCES ${dc_dir}/test_conv_gemm.c ${DENSECL_TEST_SUPPORT}/ref_ops.c
        LABELS ops)
target_compile_definitions(test_conv_gemm PRIVATE DENSECL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# The CLBlast conv family. Reads kernels/abi.h and kernels/clblast.cl from the source tree at run
# time; fails (never skips) when densecl was built without CLBlast.
dc_test(test_conv_clblast SOURCES ${dc_dir}/test_conv_clblast.c ${DENSECL_TEST_SUPPORT}/ref_ops.c
        LABELS ops)
target_compile_definitions(test_conv_clblast PRIVATE DENSECL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
