# tests/weights.cmake
