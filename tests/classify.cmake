# SPDX-License-Identifier: MIT
# tests/classify.cmake - `densecl classify` end to end (include()d from tests/CMakeLists.txt).
# The fixtures (small seeded models, images in several formats, IDX and label files) and the
# torchvision reference come from tests/classify_reference.py at test time; the ImageNet case
# exports a seeded densenet121 (about 30 MB) with tools/export/export_torchvision.py. Needs
# Debian's python3-torch/torchvision/numpy and the Fashion-MNIST test set
# (/usr/share/datasets/fashion-mnist, package dataset-fashion-mnist); nothing is skipped.
set(DENSECL_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with torch, torchvision and numpy")
add_test(NAME classify_tests
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/classify_tests.sh $<TARGET_FILE:densecl-cli>
                 ${CMAKE_CURRENT_BINARY_DIR}/classify-scratch)
set_tests_properties(classify_tests PROPERTIES LABELS cli TIMEOUT 900
                     ENVIRONMENT "${DENSECL_TEST_ENV};DENSECL_PYTHON=${DENSECL_PYTHON}")
