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

# classify's inputs (tools/inputs.c, stb_image, zlib), compiled in again: the CLI is not a
# library. stb's warnings are not ours (as in tools/CMakeLists.txt), nor its two harmless kinds
# of UB (see fuzz/CMakeLists.txt): signed overflow in the PNM header parser, made defined by
# -fwrapv (regressions/idx_image/pnm_*), and memcpy(NULL, p, 0) for an empty PNG IDAT chunk
# (regressions/idx_image/png_*).
if(EXISTS ${PROJECT_SOURCE_DIR}/tools/inputs.c)
  find_package(ZLIB REQUIRED)
  set(dc_stb_impl ${PROJECT_SOURCE_DIR}/tools/stb_image_impl.c)
  set_source_files_properties(${dc_stb_impl} PROPERTIES
                              COMPILE_OPTIONS "-w;-fwrapv;-fno-sanitize=nonnull-attribute")
  dc_fuzz_replay(idx_image ${PROJECT_SOURCE_DIR}/tools/inputs.c ${dc_stb_impl})
  target_include_directories(fuzz_replay_idx_image PRIVATE ${PROJECT_SOURCE_DIR}/tools)
  target_link_libraries(fuzz_replay_idx_image PRIVATE ZLIB::ZLIB m)
endif()
