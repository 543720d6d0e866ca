# SPDX-License-Identifier: MIT
"""densecl_build: the PEP 517 build backend of `pip install .` (pyproject.toml's backend-path).

Standard library only, so that pip needs nothing from an index: `pip install .` works offline,
with or without build isolation. It runs CMake (the same build as README's, from Debian's
packages: tools/setup.sh installs them) in a temporary directory, builds the shared library
alone (target densecl_shared), and writes a wheel of the Python module with the library inside:

    densecl/__init__.py                         python/densecl/__init__.py
    densecl/_install.py                         LIBDIR = "lib" (python/densecl/_install.py.in)
    densecl/lib/libdensecl.so                   the library (its SONAME libdensecl.so.0)
    densecl/share/densecl/imagenet-classes.txt  the 1000 ImageNet names (Engine.classify)

The module finds the library through _install.LIBDIR, as in a `cmake --install` tree, and the
names through LIBDIR/../share/densecl. The wheel is tagged py3-none-<platform>: pure ctypes, any
Python 3, but a native library for this machine.

Settings (pip's --config-settings KEY=VALUE, or the environment):
    build-dir   / DENSECL_PIP_BUILD_DIR   a build directory to use and keep (reused by later
                                          builds) instead of a temporary one
    cmake-args  / DENSECL_CMAKE_ARGS      more arguments for CMake's configure step, split as a
                                          shell would (-DDENSECL_CLBLAST=OFF, ...)
The build's parallelism is CMAKE_BUILD_PARALLEL_LEVEL's, else the number of CPUs.
"""

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_NAME = "densecl"
_SUMMARY = "DenseNet inference on any OpenCL device (Python module over libdensecl.so)"


def _version():
    with open(os.path.join(_ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"^project\(densecl VERSION ([0-9.]+)", f.read(), re.M)
    if not m:
        raise RuntimeError("densecl_build: no project(densecl VERSION ...) in CMakeLists.txt")
    return m.group(1)


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _metadata(version):
    with open(os.path.join(_ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return "\n".join([
        "Metadata-Version: 2.1",
        f"Name: {_NAME}",
        f"Version: {version}",
        f"Summary: {_SUMMARY}",
        "License: MIT",
        "Requires-Python: >=3.8",
        "Requires-Dist: numpy",
        "Provides-Extra: images",
        'Requires-Dist: Pillow; extra == "images"',
        "Description-Content-Type: text/markdown",
        "",
        readme,
    ])


def _dist_info_files(version):
    """{name within NAME-VERSION.dist-info: bytes}, RECORD left out."""
    with open(os.path.join(_ROOT, "LICENSE"), "rb") as f:
        licence = f.read()
    wheel = "\n".join(["Wheel-Version: 1.0", "Generator: densecl_build (python/backend)",
                       "Root-Is-Purelib: false", f"Tag: {_tag()}", ""])
    return {"METADATA": _metadata(version).encode(), "WHEEL": wheel.encode(),
            "top_level.txt": b"densecl\n", "LICENSE": licence}


def _setting(config_settings, key, env):
    value = (config_settings or {}).get(key)
    if isinstance(value, list):  # pip passes repeated --config-settings as a list
        value = " ".join(value)
    return value if value else os.environ.get(env, "")


def _run(cmd):
    # pip shows a failing backend's output; CMake's goes to stderr so that it is seen with -v too.
    print("densecl_build: " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"densecl_build: {cmd[0]} failed with status {proc.returncode}: "
                           "see its output above (tools/setup.sh installs what the build needs)")


def _build_library(build_dir, cmake_args):
    cmake = shutil.which("cmake")
    if not cmake:
        raise RuntimeError("densecl_build: cmake not found: run tools/setup.sh (Debian: "
                           "apt-get install cmake) first")
    _run([cmake, "-S", _ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
          "-DDENSECL_TESTS=OFF", "-DDENSECL_SHARED=ON"] + cmake_args)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
    _run([cmake, "--build", build_dir, "--target", "densecl_shared", "--parallel", jobs])
    lib = os.path.realpath(os.path.join(build_dir, "libdensecl.so"))
    if not os.path.isfile(lib):
        raise RuntimeError(f"densecl_build: the build made no {lib}")
    return lib


def _wheel_files(lib):
    """[(path in the wheel, bytes)] of the module."""
    def read(path):
        with open(path, "rb") as f:
            return f.read()

    with open(os.path.join(_ROOT, "python", "densecl", "_install.py.in"), encoding="utf-8") as f:
        install = f.read().replace("@DENSECL_PY_LIBDIR@", "lib")
    return [
        ("densecl/__init__.py", read(os.path.join(_ROOT, "python", "densecl", "__init__.py"))),
        ("densecl/_install.py", install.encode()),
        ("densecl/lib/libdensecl.so", read(lib)),
        ("densecl/share/densecl/imagenet-classes.txt",
         read(os.path.join(_ROOT, "models", "imagenet-classes.txt"))),
    ]


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _write_wheel(wheel_directory, files, version):
    dist_info = f"{_NAME}-{version}.dist-info"
    files = list(files) + [(f"{dist_info}/{k}", v) for k, v in _dist_info_files(version).items()]
    record = [_record_line(n, d) for n, d in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    name = f"{_NAME}-{version}-{_tag()}.whl"
    os.makedirs(wheel_directory, exist_ok=True)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            # the library is executable, like an installed one; the rest is read-write
            mode = 0o755 if path.endswith(".so") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return name


# ---------------------------------------------------------------------------------------------
# PEP 517 hooks


def get_requires_for_build_wheel(config_settings=None):
    return []  # CMake and the compilers come from Debian (tools/setup.sh), not from an index


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    dist_info = os.path.join(metadata_directory, f"{_NAME}-{version}.dist-info")
    os.makedirs(dist_info, exist_ok=True)
    for name, data in _dist_info_files(version).items():
        with open(os.path.join(dist_info, name), "wb") as f:
            f.write(data)
    return os.path.basename(dist_info)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    cmake_args = shlex.split(_setting(config_settings, "cmake-args", "DENSECL_CMAKE_ARGS"))
    build_dir = _setting(config_settings, "build-dir", "DENSECL_PIP_BUILD_DIR")
    if build_dir:
        lib = _build_library(os.path.abspath(build_dir), cmake_args)
        return _write_wheel(wheel_directory, _wheel_files(lib), version)
    with tempfile.TemporaryDirectory(prefix="densecl-pip-build.") as tmp:
        lib = _build_library(tmp, cmake_args)
        return _write_wheel(wheel_directory, _wheel_files(lib), version)
