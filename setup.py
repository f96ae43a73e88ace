"""The shim setuptools needs: cffi_modules is accepted only through setup().

Metadata lives in pyproject.toml. The build_ext subclass gives cffi its ``pre_run`` hook,
where build_ffi.py obtains libzmq and generates the cdef (never at import: setuptools
imports this file for every command, sdist included).

The licence files are given here rather than in pyproject.toml: libzmq's (COPYING and
COPYING.LESSER, from its tarball) exist only in an sdist made by tools/build_dist.py and
in what is built from it, and pyproject.toml cannot name a file that may be absent.

cffi compiles the extension against the stable ABI (Py_LIMITED_API, the ``.abi3.so``
suffix) on CPython with the GIL; from 3.12 on the wheel says so (``cp312-abi3``): one wheel
for 3.12 and every later CPython. 3.10 and 3.11 keep a wheel each; a free-threaded build
has no stable ABI to target.
"""

import os
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import build_ffi  # noqa: E402


class BuildExt(build_ext):
    def pre_run(self, ext, ffi):
        build_ffi.prepare(ext, ffi)


LICENSE_FILES = ["LICENSE", *sorted(
    os.path.relpath(path, HERE) for path in (HERE / "vendor" / "libzmq").glob("COPYING*"))]

STABLE_ABI = (sys.implementation.name == "cpython" and sys.version_info >= (3, 12)
              and not sysconfig.get_config_var("Py_GIL_DISABLED"))

setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
    license_files=LICENSE_FILES,
    options={"bdist_wheel": {"py_limited_api": "cp312"}} if STABLE_ABI else {},
)
