# SPDX-License-Identifier: MIT
# tests/fuzz.cmake: replays the fuzzers' seed corpora and regression inputs (tests/fuzz/corpus/,
# tests/fuzz/regressions/) through the fuzz targets' LLVMFuzzerTestOneInput, without libFuzzer
# and with the normal compiler, so every input that once crashed stays in the suite and runs
# under ASan/UBSan in the sanitizer build. The fuzzers themselves: bash tests/fuzz/run.sh SECONDS.
function(dc_fuzz_replay t)
  set(dirs)
  foreach(kind corpus regressions)
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${kind}/${t})
      list(APPEND dirs ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${kind}/${t})
    endif()
  endforeach()
  dc_test(fuzz_replay_${t} SOURCES fuzz/replay_main.c fuzz/fuzz_${t}.c ${ARGN} LABELS unit
          ARGS ${dirs})
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
