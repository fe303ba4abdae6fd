"""cffi build script for skruntime's native kernel (out-of-line API mode).

Used by setup.py (``cffi_modules``) at install time; run directly
(``python native/build_native.py``) to build the module in place.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CDEF = """
uint64_t skr_fnv_extend(uint64_t h, const uint8_t *data, size_t len);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "skruntime._native",
    '#include "skr_native.h"',
    sources=[str((HERE / name).relative_to(ROOT)) for name in ("fnv.c",)],
    include_dirs=[str(HERE.relative_to(ROOT))],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
