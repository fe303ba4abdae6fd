"""cffi build script for skruntime's native kernel (out-of-line API mode).

Used by setup.py (``cffi_modules``) at install time; run directly
(``python native/build_native.py``) to build the module in place.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CDEF = """
#define SKR_MISMATCH 0
#define SKR_MATCH 1
#define SKR_TOO_SHORT 2
#define SKR_OTHER 3
uint64_t skr_fnv_extend(uint64_t h, const uint8_t *data, size_t len);
size_t skr_route(const uint64_t *const *columns, size_t n_columns,
                 const uint32_t *lengths, const uint16_t *versions, size_t n_slots,
                 uint16_t version, uint32_t k, const uint64_t *prefix,
                 uint8_t *out);
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "skruntime._native",
    '#include "skr_native.h"',
    sources=[str((HERE / name).relative_to(ROOT)) for name in ("fnv.c", "route.c")],
    include_dirs=[str(HERE.relative_to(ROOT))],
    extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
)

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
