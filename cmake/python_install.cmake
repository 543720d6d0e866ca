# SPDX-License-Identifier: MIT
# cmake/python_install.cmake - installs the Python module densecl (an install(SCRIPT) of
# cmake/package.cmake; runs at `cmake --install` time, so CMAKE_INSTALL_PREFIX is the prefix
# given then). Set before it by an install(CODE):
#   DC_PY_SOURCE_DIR   python/densecl in the source tree (__init__.py, _install.py.in)
#   DC_PY_BINARY_DIR   where the generated _install.py is written
#   DC_PY_INSTALL_DIR  "auto", or a directory relative to the prefix, or absolute
#   DC_PY_PYTHON       the Python asked for "auto" when the prefix has no bin/python3
#   DC_PY_LIBDIR       CMAKE_INSTALL_LIBDIR (relative to the prefix, or absolute)
#
# "auto" puts the module where the prefix's Python looks: the first site-packages or
# dist-packages directory of that Python's sys.path that lies in PREFIX/lib*. The Python asked is
# PREFIX/bin/python3 when there is one (a venv, or /usr on Debian), else DC_PY_PYTHON (Debian's
# /usr/bin/python3, for /usr/local). Debian's answers: /usr -> lib/python3/dist-packages,
# /usr/local -> lib/python3.11/dist-packages, a venv -> lib/python3.11/site-packages, ~/.local ->
# the user site, lib/python3.11/site-packages. A prefix
# that no Python reads gets lib/pythonX.Y/site-packages (sysconfig's posix_prefix) and a message
# naming the PYTHONPATH it needs.
set(dc_prefix "${CMAKE_INSTALL_PREFIX}")
set(dc_dir "${DC_PY_INSTALL_DIR}")
if(dc_dir STREQUAL "auto" OR dc_dir STREQUAL "")
  set(dc_python "${DC_PY_PYTHON}")
  if(EXISTS "${dc_prefix}/bin/python3")
    set(dc_python "${dc_prefix}/bin/python3")
  endif()
  # -E: sys.path as that Python has it without PYTHONPATH; the user site (~/.local) counts even
  # before it exists (Python adds it to sys.path only once it does).
  set(dc_pick [=[
import os, site, sys, sysconfig
prefix = os.path.normpath(os.path.abspath(sys.argv[1]))
user = [site.getusersitepackages()] if site.ENABLE_USER_SITE is not False else []
for p in sys.path + user:
    rel = os.path.relpath(os.path.abspath(p), prefix) if p else ".."
    # PREFIX/lib*/...: /usr/local/lib/python3.11/dist-packages is not /usr's
    if os.path.basename(rel) in ("site-packages", "dist-packages") and rel.startswith("lib"):
        print("found " + rel)
        break
else:
    v = {"base": prefix, "platbase": prefix}
    print("none " + os.path.relpath(sysconfig.get_path("purelib", "posix_prefix", v), prefix))
]=])
  set(dc_out "")
  if(dc_python)
    execute_process(COMMAND "${dc_python}" -E -c "${dc_pick}" "${dc_prefix}"
                    OUTPUT_VARIABLE dc_out OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE dc_rc ERROR_VARIABLE dc_err)
    if(NOT dc_rc EQUAL 0)
      message(WARNING "densecl: ${dc_python} could not say where its modules are: ${dc_err}")
      set(dc_out "")
    endif()
  endif()
  if(dc_out MATCHES "^found (.+)$")
    set(dc_dir "${CMAKE_MATCH_1}")
  elseif(dc_out MATCHES "^none (.+)$")
    set(dc_dir "${CMAKE_MATCH_1}")
    message(STATUS "densecl: no directory of ${dc_prefix} is on ${dc_python}'s sys.path: the "
                   "Python module goes to ${dc_prefix}/${dc_dir}; use it with "
                   "PYTHONPATH=${dc_prefix}/${dc_dir}")
  else()
    set(dc_dir "lib/python3/dist-packages")
    message(STATUS "densecl: no Python to ask (DENSECL_INSTALL_PYTHON): the Python module goes "
                   "to ${dc_prefix}/${dc_dir}")
  endif()
endif()
foreach(v dc_dir DC_PY_LIBDIR)
  if(NOT IS_ABSOLUTE "${${v}}")
    set(${v} "${dc_prefix}/${${v}}")
  endif()
endforeach()
set(dc_module_dir "${dc_dir}/densecl")
file(RELATIVE_PATH DENSECL_PY_LIBDIR "${dc_module_dir}" "${DC_PY_LIBDIR}")
file(READ "${DC_PY_SOURCE_DIR}/_install.py.in" dc_text)
string(CONFIGURE "${dc_text}" dc_text @ONLY)
# One generated file per destination: installs to several prefixes may run at once.
string(MD5 dc_key "$ENV{DESTDIR}${dc_module_dir}")
set(dc_generated "${DC_PY_BINARY_DIR}/${dc_key}/_install.py")
file(WRITE "${dc_generated}" "${dc_text}")
# file(INSTALL) adds $DESTDIR and records the files in install_manifest.txt.
file(INSTALL DESTINATION "${dc_module_dir}" TYPE FILE
     FILES "${DC_PY_SOURCE_DIR}/__init__.py" "${dc_generated}")
