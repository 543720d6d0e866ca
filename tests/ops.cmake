# tests/ops.cmake
