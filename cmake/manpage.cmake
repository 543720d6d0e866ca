# SPDX-License-Identifier: MIT
# Usage: cmake -DNAME=densecl "-DCMD=prog|arg..." -DVERSION=0.4.0 -DOUT=densecl.1 [-DCROSS=ON]
#        -P manpage.cmake
# Writes a man(7) page from `CMD --help`: NAME from the first line of the help that is not a
# usage line, the whole text as the DESCRIPTION, verbatim (.nf), escaped for roff. When the tool
# cannot run here (a cross build), the page says so and points to --help, with a warning: the
# build must not fail for a man page.
string(REPLACE "|" ";" cmd "${CMD}")
set(help "")
set(rc 1)
if(NOT CROSS)
  execute_process(COMMAND ${cmd} --help OUTPUT_VARIABLE help ERROR_VARIABLE err
                  RESULT_VARIABLE rc TIMEOUT 60)
endif()
if(NOT rc EQUAL 0 OR help STREQUAL "")
  message(WARNING "manpage.cmake: could not run '${CMD} --help' (${rc}); ${OUT} only points "
                  "to --help")
  set(help "Run '${NAME} --help' for the options.\n")
endif()

# A one-line summary: the first non-empty line that is not the usage.
set(summary "DenseNet inference on OpenCL devices")
string(REPLACE ";" "," lines_text "${help}")
string(REPLACE "\n" ";" lines "${lines_text}")
foreach(line IN LISTS lines)
  string(STRIP "${line}" s)
  if(s STREQUAL "" OR s MATCHES "^[Uu]sage:")
    continue()
  endif()
  if(line MATCHES "^[ \t]")
    continue()
  endif()
  string(REGEX REPLACE "[.:]$" "" summary "${s}")
  break()
endforeach()

# roff: backslashes doubled as \e, and a line starting with . or ' escaped with \&.
function(dc_roff text out)
  string(REPLACE "\\" "\\e" t "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" t "${t}")
  set(${out} "${t}" PARENT_SCOPE)
endfunction()
dc_roff("${help}" body)

# A tool with commands ("commands:" then "  NAME  text" lines up to a blank line) gets one
# section per command, from `CMD NAME --help`.
set(in_commands OFF)
foreach(line IN LISTS lines)
  if(line MATCHES "^commands:")
    set(in_commands ON)
  elseif(in_commands AND line MATCHES "^  ([a-z][a-z0-9-]*)  ")
    set(sub "${CMAKE_MATCH_1}")
    execute_process(COMMAND ${cmd} ${sub} --help OUTPUT_VARIABLE subhelp ERROR_VARIABLE err
                    RESULT_VARIABLE subrc TIMEOUT 60)
    if(subrc EQUAL 0 AND NOT subhelp STREQUAL "")
      dc_roff("${subhelp}" subbody)
      string(APPEND body ".fi\n.SH \"${NAME} ${sub}\"\n.nf\n${subbody}")
    else()
      message(WARNING "manpage.cmake: '${CMD} ${sub} --help' failed (${subrc})")
    endif()
  elseif(in_commands AND NOT line MATCHES "^  ")
    set(in_commands OFF)
  endif()
endforeach()
string(REPLACE "\\" "\\e" summary "${summary}")
string(REPLACE "-" "\\-" summary "${summary}")

file(WRITE "${OUT}.tmp"
  ".\\\" Generated from '${NAME} --help' by cmake/manpage.cmake. Do not edit.\n"
  ".TH ${NAME} 1 \"\" \"densecl ${VERSION}\" \"User Commands\"\n"
  ".SH NAME\n${NAME} \\- ${summary}\n"
  ".SH DESCRIPTION\n.nf\n${body}.fi\n"
  ".SH SEE ALSO\nThe README of densecl ${VERSION}, installed in share/doc/densecl.\n")
file(RENAME "${OUT}.tmp" "${OUT}")
