# SPDX-License-Identifier: MIT
# cmake/package.cmake - the shared library, the CMake package, pkg-config and the install
# (issue 14). Included at the end of the top CMakeLists.txt, once every source of the static
# library `densecl` is known (other files add theirs with target_sources).
#
# Libraries:
#   densecl         libdensecl.a, always built. The tools and tests link it: they call internal
#                   dc_* functions (declared in host/tools_internal.h), which the shared
#                   library does not export.
#   densecl_shared  libdensecl.so.${PROJECT_VERSION}, SONAME libdensecl.so.<major> (ABI version 0
#                   while densecl is 0.x), compiled with hidden visibility so that it exports the
#                   densecl_* functions only (DENSECL_API in include/densecl.h). Built unless
#                   DENSECL_SHARED=OFF; the Python module needs it.
#   densecl::densecl  an ALIAS of the one BUILD_SHARED_LIBS picks (the static one by default),
#                   here and in the installed package; densecl::densecl_static and
#                   densecl::densecl_shared name each kind.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# DENSECL_SHARED is an option of the top CMakeLists.txt: tests/install/install.cmake reads it first.
if(BUILD_SHARED_LIBS AND NOT DENSECL_SHARED)
  message(FATAL_ERROR "densecl: BUILD_SHARED_LIBS=ON needs DENSECL_SHARED=ON")
endif()
# Debian's /usr/bin/python3 reads /usr/lib/python3/dist-packages (not the multiarch libdir).
set(DENSECL_PYTHON_INSTALL_DIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python module densecl is installed, relative to the prefix (or absolute)")

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
  # The generated kernel sources are made by a custom command of this directory: the static
  # library builds first so that two targets never run it at once.
  add_dependencies(densecl_shared densecl)
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

if(BUILD_SHARED_LIBS)
  add_library(densecl::densecl ALIAS densecl_shared)
  set(DENSECL_DEFAULT_KIND shared)
else()
  add_library(densecl::densecl ALIAS densecl)
  set(DENSECL_DEFAULT_KIND static)
endif()

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
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/densecl-config.cmake.in
  ${PROJECT_BINARY_DIR}/densecl-config.cmake
  INSTALL_DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/densecl-config-version.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)

# ---------------------------------------------------------------------------------------------
# The install.

install(TARGETS ${dc_install_targets} EXPORT densecl-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT densecl-targets NAMESPACE densecl:: DESTINATION ${DENSECL_CMAKE_INSTALL_DIR})
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
# relative to itself (so that the installed tree may be moved as a whole).
if(DENSECL_SHARED)
  set(dc_py_dir ${DENSECL_PYTHON_INSTALL_DIR}/densecl)
  set(dc_lib_dir ${CMAKE_INSTALL_LIBDIR})
  foreach(v dc_py_dir dc_lib_dir)
    if(NOT IS_ABSOLUTE "${${v}}")
      set(${v} "/densecl-prefix/${${v}}")
    endif()
  endforeach()
  file(RELATIVE_PATH DENSECL_PY_LIBDIR ${dc_py_dir} ${dc_lib_dir})
  configure_file(${PROJECT_SOURCE_DIR}/python/densecl/_install.py.in
                 ${PROJECT_BINARY_DIR}/python/_install.py @ONLY)
  install(FILES ${PROJECT_SOURCE_DIR}/python/densecl/__init__.py
                ${PROJECT_BINARY_DIR}/python/_install.py
          DESTINATION ${DENSECL_PYTHON_INSTALL_DIR}/densecl)
endif()
