# SPDX-License-Identifier: MIT
# tests/ops.cmake - every kernel of kernels/ against the naive C reference. The argument is the
# source folder: the build-log test copies kernels.cl and kernels/ from it.
dc_test(test_ops SOURCES test_ops.c ref_ops.c LABELS ops ARGS ${PROJECT_SOURCE_DIR})
