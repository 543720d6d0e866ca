# tests/models.cmake
