"""cffi build script for skruntime's native kernel (out-of-line API mode).

Used by setup.py (``cffi_modules``) at install time; run directly
(``python native/build_native.py``) to build the module in place.

The record sealer (``seal.c``) needs OpenSSL 3's headers and libcrypto, and
libzstd's runtime library (its header is not needed).  A probe compiles and
links a small program against them first; when that fails (or
``SKRUNTIME_NATIVE_SEAL=0``), ``seal_stub.c`` is built instead, the kernel
reports the sealer unavailable, and the store seals in Python.  Either way
the build succeeds.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
import tempfile
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
void skr_fnv_chain(uint64_t h, const uint8_t *data, const size_t *lens, size_t n, uint64_t *out);
size_t skr_route(const uint64_t *const *columns, size_t n_columns,
                 const uint32_t *lengths, const uint16_t *versions, size_t n_slots,
                 uint16_t version, uint32_t k, const uint64_t *prefix,
                 uint8_t *out);

#define SKR_SEAL_OK 0
#define SKR_SEAL_UNAVAILABLE -1
#define SKR_SEAL_SPACE -2
#define SKR_SEAL_RANDOM -3
#define SKR_SEAL_ZSTD -4
#define SKR_SEAL_CRYPTO -5
typedef struct skr_sealer skr_sealer;
int skr_seal_available(void);
skr_sealer *skr_sealer_new(void);
void skr_sealer_free(skr_sealer *s);
int skr_seal_group(skr_sealer *s, const uint8_t *key, const uint8_t *header, int level,
                   const uint8_t *dbpart, size_t dbpart_len,
                   const uint8_t *keys, const size_t *key_lens,
                   const uint8_t *plains, const size_t *plain_lens, size_t n,
                   uint8_t *out, size_t out_capacity, size_t *out_lens);
"""

_PROBE = """
#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
size_t ZSTD_compressBound(size_t src_size);
int main(void)
{
    unsigned char b[1];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_CIPHER *gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL); /* OpenSSL 3 */
    EVP_CIPHER_free(gcm);
    EVP_CIPHER_CTX_free(c);
    return (int)(ZSTD_compressBound(1) == 0) + RAND_bytes(b, 1) - 1 + (EVP_aes_256_gcm() == NULL);
}
"""

# libzstd: the development link name if present, else the runtime library
# by its file name (GNU ld's -l:name).
_ZSTD_CANDIDATES = ("zstd", ":libzstd.so.1")


def _links(libraries: list[str]) -> bool:
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "probe.c"
        source.write_text(_PROBE)
        command = [*compiler, str(source), "-o", str(Path(tmp) / "probe"), *(f"-l{name}" for name in libraries)]
        try:
            done = subprocess.run(command, capture_output=True, check=False, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0


def sealer_libraries() -> list[str] | None:
    """The libraries to link the sealer with, or ``None`` to build the stub."""
    if os.environ.get("SKRUNTIME_NATIVE_SEAL", "") == "0":
        return None
    for zstd in _ZSTD_CANDIDATES:
        libraries = ["crypto", zstd]
        if _links(libraries):
            return libraries
    return None


def make_builder(module: str = "skruntime._native", *, absolute: bool = False) -> FFI:
    """The cffi builder; paths are relative to the repository (as setuptools
    wants) unless ``absolute`` (to compile elsewhere, as the tests do)."""
    libraries = sealer_libraries()
    seal = "seal.c" if libraries is not None else "seal_stub.c"
    print(f"skruntime native kernel: record sealer {'with ' + ' '.join(libraries) if libraries else 'stub (OpenSSL or libzstd missing)'}")
    builder = FFI()
    builder.cdef(CDEF)
    builder.set_source(
        module,
        '#include "skr_native.h"',
        sources=[str(HERE / name if absolute else (HERE / name).relative_to(ROOT)) for name in ("fnv.c", "route.c", seal)],
        include_dirs=[str(HERE if absolute else HERE.relative_to(ROOT))],
        libraries=libraries or [],
        extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra"],
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=str(ROOT), verbose=True)
