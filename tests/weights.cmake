# SPDX-License-Identifier: MIT
# tests/weights.cmake: the file readers (JSON, .npy, safetensors) and weights inference/checking.
dc_test(test_json SOURCES test_json.c LABELS unit)
dc_test(test_npy SOURCES test_npy.c LABELS unit)
dc_test(test_safetensors SOURCES test_safetensors.c LABELS unit)
