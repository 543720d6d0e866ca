# tests/ops.cmake - every kernel of kernels.cl against the naive C reference.
dc_test(test_ops SOURCES test_ops.c ref_ops.c LABELS ops)
