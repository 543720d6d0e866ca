# SPDX-License-Identifier: MIT
# tests/fuzz/replay.cmake: replays the fuzzers' seed corpora and regression inputs
# (tests/fuzz/corpus/, tests/fuzz/regressions/) through the fuzz targets' LLVMFuzzerTestOneInput,
# without libFuzzer and with the normal compiler, so every input that once crashed stays in the
# suite (label "unit") and runs under ASan/UBSan in the sanitizer build. include()d from
# tests/CMakeLists.txt; the fuzzers themselves are the project tests/fuzz/CMakeLists.txt (bash
# tests/fuzz/run.sh SECONDS).
set(dc_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
function(dc_fuzz_replay t)
  set(dirs)
  foreach(kind corpus regressions)
    if(IS_DIRECTORY ${dc_fuzz_dir}/${kind}/${t})
      list(APPEND dirs ${dc_fuzz_dir}/${kind}/${t})
    endif()
  endforeach()
  dc_test(fuzz_replay_${t} SOURCES ${dc_fuzz_dir}/replay_main.c ${dc_fuzz_dir}/fuzz_${t}.c ${ARGN}
          LABELS unit ARGS ${dirs})
endfunction()

dc_fuzz_replay(json)
dc_fuzz_replay(npy)
dc_fuzz_replay(safetensors)
dc_fuzz_replay(onnx)

# classify's inputs: the densecl_inputs library of tools/inputs/inputs.cmake, built once (and
# with stb's flags set there) for the CLI and this replay alike.
if(TARGET densecl_inputs)
  dc_fuzz_replay(idx_image)
  target_link_libraries(fuzz_replay_idx_image PRIVATE densecl_inputs)
endif()
