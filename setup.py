"""The shim setuptools needs: cffi_modules is accepted only through setup().

Metadata lives in pyproject.toml. The build_ext subclass gives cffi its ``pre_run`` hook,
where build_ffi.py obtains libzmq and generates the cdef (never at import: setuptools
imports this file for every command, sdist included).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build_ffi  # noqa: E402


class BuildExt(build_ext):
    def pre_run(self, ext, ffi):
        build_ffi.prepare(ext, ffi)


setup(cffi_modules=["build_ffi.py:ffibuilder"], cmdclass={"build_ext": BuildExt})
