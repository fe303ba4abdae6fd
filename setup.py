"""Build hook: compiles the native kernel (native/) with cffi in API mode.

Everything else about the package lives in pyproject.toml.
"""

from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])
