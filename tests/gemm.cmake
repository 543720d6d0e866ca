# SPDX-License-Identifier: MIT
# tests/gemm.cmake - the gemm conv family (host/conv/gemm.c, kernels/gemm.cl) against the C
# reference; it builds kernels/*.cl from the source tree at run time.
dc_test(test_conv_gemm SOURCES test_conv_gemm.c ref_ops.c LABELS ops)
target_compile_definitions(test_conv_gemm PRIVATE DENSECL_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
