# SPDX-License-Identifier: MIT
# cmake/package.cmake - the shared library, the CMake package, pkg-config and the install
# (issues 14 and 24). Included at the end of the top CMakeLists.txt, once every source of the
# static library `densecl` is known (other files add theirs with target_sources).
#
# Libraries:
#   densecl         libdensecl.a, always built. The tools and tests link it: they call internal
#                   dc_* functions (declared in host/tools_internal.h), which the shared
#                   library does not export.
#   densecl_shared  libdensecl.so.${PROJECT_VERSION}, SONAME libdensecl.so.<major> (ABI version 0
#                   while densecl is 0.x), compiled with hidden visibility so that it exports the
#                   densecl_* functions only (DENSECL_API in include/densecl.h). Built unless
#                   DENSECL_SHARED=OFF; the Python module needs it.
#   densecl::densecl  the shared library wherever it is built, else the static one: here (for
#                   add_subdirectory and FetchContent), in the build tree's package
#                   (densecl_DIR=build) and in the installed one. densecl::densecl_static and
#                   densecl::densecl_shared name each kind.
#
# The CMake package has one export set per kind: densecl-shared-targets.cmake needs nothing from
# the consumer's machine (include/densecl.h includes no OpenCL header, and the .so's own
# dependencies are the loader's business), while densecl-static-targets.cmake names OpenCL,
# Threads and, when densecl was built with it, CLBlast, which densecl-config.cmake finds only
# when the static library is asked for (cmake/densecl-config.cmake.in).
#
# Relative rpaths: the installed libdensecl.so and tools find libraries in PREFIX/LIBDIR
# ($ORIGIN-relative, so the tree stays relocatable), and densecl.pc's Libs carry
# -Wl,-rpath,${libdir} so that a program linked with `pkg-config --libs densecl` runs without
# LD_LIBRARY_PATH or ldconfig.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Where the Python module goes. "auto": where the target prefix's Python looks, decided at install
# time for the prefix given then (cmake/python_install.cmake).
set(dc_py_help "Where the Python module densecl is installed: auto (where the install prefix's \
Python looks, e.g. /usr/local/lib/python3.11/dist-packages on Debian), or a directory relative to \
the prefix, or absolute")
get_property(dc_py_old_help CACHE DENSECL_PYTHON_INSTALL_DIR PROPERTY HELPSTRING)
if(dc_py_old_help MATCHES "^Where the Python module densecl is installed, relative to the prefix"
   AND DENSECL_PYTHON_INSTALL_DIR STREQUAL "lib/python3/dist-packages")
  # A build tree configured before issue 24 holds the old default, which Debian's
  # /usr/bin/python3 does not read for /usr/local: take the new default instead.
  set(DENSECL_PYTHON_INSTALL_DIR auto CACHE STRING "${dc_py_help}" FORCE)
endif()
set(DENSECL_PYTHON_INSTALL_DIR auto CACHE STRING "${dc_py_help}")
# The Python whose sys.path "auto" follows when the prefix has no bin/python3 of its own (a venv
# or /usr has one, and is asked instead): Debian's /usr/bin/python3 first, whatever PATH says.
find_program(DENSECL_INSTALL_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH
             DOC "The Python whose sys.path DENSECL_PYTHON_INSTALL_DIR=auto follows")
if(NOT DENSECL_INSTALL_PYTHON)
  find_program(DENSECL_INSTALL_PYTHON NAMES python3
               DOC "The Python whose sys.path DENSECL_PYTHON_INSTALL_DIR=auto follows")
endif()

get_target_property(dc_libs densecl LINK_LIBRARIES)
set_target_properties(densecl PROPERTIES EXPORT_NAME densecl_static)
add_library(densecl::densecl_static ALIAS densecl)
set(dc_install_targets densecl)

if(DENSECL_SHARED)
  # The same sources and settings as the static library, read back from it so that sources and
  # definitions added elsewhere (target_sources, the CLBlast block) reach both.
  get_target_property(dc_sources densecl SOURCES)
  get_target_property(dc_defs densecl COMPILE_DEFINITIONS)
  get_target_property(dc_opts densecl COMPILE_OPTIONS)
  get_target_property(dc_incs densecl INCLUDE_DIRECTORIES)
  add_library(densecl_shared SHARED ${dc_sources})
  # The generated sources (kernels, ONNX protobuf-c code) are made by custom commands of this
  # directory, which both libraries list: one target makes them first, so that two never run
  # them at once, and the shared library builds without the static one (pip, python/backend/).
  get_target_property(dc_generated_sources densecl SOURCES)
  list(FILTER dc_generated_sources INCLUDE REGEX "^${PROJECT_BINARY_DIR}/")
  add_custom_target(densecl_generated DEPENDS ${dc_generated_sources})
  add_dependencies(densecl densecl_generated)
  add_dependencies(densecl_shared densecl_generated)
  foreach(prop dc_defs dc_opts dc_incs)
    if(NOT ${prop})
      set(${prop} "")
    endif()
  endforeach()
  target_compile_definitions(densecl_shared PRIVATE ${dc_defs})
  target_compile_options(densecl_shared PRIVATE ${dc_opts})
  target_include_directories(densecl_shared
    PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    PRIVATE ${dc_incs})
  target_link_libraries(densecl_shared PRIVATE ${dc_libs})
  set_target_properties(densecl_shared PROPERTIES
    OUTPUT_NAME densecl
    EXPORT_NAME densecl_shared
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(NOT DENSECL_SANITIZE)
    # Every symbol resolved at link time: a missing library shows here, not in a user's program.
    target_link_options(densecl_shared PRIVATE -Wl,--no-undefined)
  endif()
  add_library(densecl::densecl_shared ALIAS densecl_shared)
  list(APPEND dc_install_targets densecl_shared)
endif()

if(DENSECL_SHARED)
  add_library(densecl::densecl ALIAS densecl_shared)
  set(DENSECL_DEFAULT_KIND shared)
  # Installed, it finds its dependencies beside it first (a relocatable tree may carry them).
  set_target_properties(densecl_shared PROPERTIES INSTALL_RPATH "$ORIGIN")
else()
  add_library(densecl::densecl ALIAS densecl)
  set(DENSECL_DEFAULT_KIND static)
endif()
# The installed tools: PREFIX/LIBDIR relative to PREFIX/BINDIR.
file(RELATIVE_PATH dc_bin_to_lib /densecl-prefix/${CMAKE_INSTALL_BINDIR}
     /densecl-prefix/${CMAKE_INSTALL_LIBDIR})
set_target_properties(densecl-cli densecl-query PROPERTIES INSTALL_RPATH "$ORIGIN/${dc_bin_to_lib}")

# ---------------------------------------------------------------------------------------------
# Man pages, made at build time from each tool's --help (cmake/manpage.cmake).

set(dc_man_dir ${PROJECT_BINARY_DIR}/man)
set(dc_man_pages "")
function(dc_man_page name)
  cmake_parse_arguments(M "" "" "COMMAND;DEPENDS" ${ARGN})
  string(REPLACE ";" "|" cmd "${M_COMMAND}")
  add_custom_command(
    OUTPUT ${dc_man_dir}/${name}.1
    COMMAND ${CMAKE_COMMAND} -DNAME=${name} "-DCMD=${cmd}" -DVERSION=${PROJECT_VERSION}
            -DCROSS=${CMAKE_CROSSCOMPILING} -DOUT=${dc_man_dir}/${name}.1
            -P ${PROJECT_SOURCE_DIR}/cmake/manpage.cmake
    DEPENDS ${M_DEPENDS} ${PROJECT_SOURCE_DIR}/cmake/manpage.cmake
    COMMENT "Man page ${name}.1 from ${name} --help")
  set(dc_man_pages ${dc_man_pages} ${dc_man_dir}/${name}.1 PARENT_SCOPE)
endfunction()

dc_man_page(densecl COMMAND $<TARGET_FILE:densecl-cli> DEPENDS densecl-cli)
dc_man_page(densecl-query COMMAND $<TARGET_FILE:densecl-query> DEPENDS densecl-query)
set(dc_export_tool ${PROJECT_SOURCE_DIR}/tools/export/densecl-export)
if(EXISTS ${dc_export_tool})
  dc_man_page(densecl-export COMMAND ${dc_export_tool} DEPENDS ${dc_export_tool})
endif()
add_custom_target(densecl-man ALL DEPENDS ${dc_man_pages})

# ---------------------------------------------------------------------------------------------
# pkg-config: relocatable (prefix from the .pc file's own place), one file for both kinds.

# The .pc file lies in PREFIX/LIBDIR/pkgconfig; LIBDIR may be lib or lib/x86_64-linux-gnu.
file(RELATIVE_PATH dc_pc_up /densecl-prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /densecl-prefix)
string(REGEX REPLACE "/$" "" dc_pc_up "${dc_pc_up}")
set(DENSECL_PC_PREFIX "\${pcfiledir}/${dc_pc_up}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/densecl.pc.in ${PROJECT_BINARY_DIR}/densecl.pc @ONLY)

# ---------------------------------------------------------------------------------------------
# CMake package: densecl-config.cmake, its version file and the exported targets.

set(DENSECL_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/densecl)
set(DENSECL_HAVE_CLBLAST_LINK OFF)
if(TARGET clblast AND "clblast" IN_LIST dc_libs)
  set(DENSECL_HAVE_CLBLAST_LINK ON)
endif()
# One config file serves the build tree (densecl_DIR=build) and the install: it only includes
# files beside it.
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/densecl-config.cmake.in
  ${PROJECT_BINARY_DIR}/densecl-config.cmake
  INSTALL_DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/densecl-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

# ---------------------------------------------------------------------------------------------
# The install.

install(TARGETS densecl EXPORT densecl-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT densecl-static-targets NAMESPACE densecl:: DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
if(DENSECL_SHARED)
  install(TARGETS densecl_shared EXPORT densecl-shared-targets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT densecl-shared-targets NAMESPACE densecl::
          DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
endif()
# The build tree's targets, beside that config file: find_package(densecl) with
# densecl_DIR=<this build directory> links the libraries where they were built.
export(EXPORT densecl-static-targets NAMESPACE densecl::
       FILE ${PROJECT_BINARY_DIR}/densecl-static-targets.cmake)
if(DENSECL_SHARED)
  export(EXPORT densecl-shared-targets NAMESPACE densecl::
         FILE ${PROJECT_BINARY_DIR}/densecl-shared-targets.cmake)
endif()
install(FILES ${PROJECT_BINARY_DIR}/densecl-config.cmake
              ${PROJECT_BINARY_DIR}/densecl-config-version.cmake
        DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/densecl.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/densecl.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(TARGETS densecl-cli densecl-query RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(EXISTS ${dc_export_tool})
  install(PROGRAMS ${dc_export_tool} DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES ${dc_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# models/imagenet-classes.txt is installed by tools/densecl/CMakeLists.txt (classify looks for it
# there).
install(FILES ${PROJECT_SOURCE_DIR}/models/densenet-fashion.safetensors
              ${PROJECT_SOURCE_DIR}/models/densenet-fashion.train.log
        DESTINATION ${CMAKE_INSTALL_DATADIR}/densecl)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The Python module, beside a generated _install.py that tells it where the shared library lies
# relative to itself (so that the installed tree may be moved as a whole). Its directory depends
# on the prefix given to `cmake --install --prefix`, so it is decided at install time
# (cmake/python_install.cmake).
if(DENSECL_SHARED)
  install(CODE "
    set(DC_PY_SOURCE_DIR \"${PROJECT_SOURCE_DIR}/python/densecl\")
    set(DC_PY_BINARY_DIR \"${PROJECT_BINARY_DIR}/python\")
    set(DC_PY_INSTALL_DIR \"${DENSECL_PYTHON_INSTALL_DIR}\")
    set(DC_PY_PYTHON \"${DENSECL_INSTALL_PYTHON}\")
    set(DC_PY_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")")
  install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/python_install.cmake)
endif()
