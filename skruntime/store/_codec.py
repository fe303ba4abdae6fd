"""The record envelope: every stored value, compressed then encrypted.

Layout of a format-1 record (``docs/STORAGE.md`` is the reference)::

    offset  size  field
    0       1     format byte, 1
    1       4     data key id, unsigned big-endian
    5       12    nonce, random (os.urandom) for every write
    17      n+16  AES-256-GCM(data key, nonce, zstd(orjson(value)), aad) with its 16-byte tag

    aad = b"skruntime.record.v1" | len(database) (1 byte) | database (ASCII)
          | bytes 0..5 of the record (format + key id) | the record's key

Binding the database name and the key into the associated data means a
record copied under another key or into another database fails to decrypt,
as does one whose header was edited.  The plaintext is the orjson encoding of
a JSON-able value, compressed with zstd (content size in the frame).

Decoding verifies in this order and raises: too short or unknown format byte
-> :class:`CorruptRecordError`; unknown key id or a tag that does not verify
-> :class:`DecryptionError`; bad zstd or bad JSON (possible only for a record
written by a broken writer, since the tag verified) -> ``CorruptRecordError``.

zstd compression contexts are not thread-safe, so each thread keeps its own
compressor and decompressor (``threading.local``).

Sealing has two implementations that make the same records: the C sealer of
the native kernel (``native/seal.c``: one call per database of a group,
run without the GIL, zstd from the system's libzstd, AES-GCM and nonces
from OpenSSL), used when it was built, and the Python code below (``zstandard`` and
``cryptography``), which is the reference and the fallback (with a warning
when the kernel lacks the sealer, silently under ``SKRUNTIME_FORCE_PURE``).
Decoding is always Python.
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
import zstandard
from cryptography.exceptions import InvalidTag

from .._exceptions import CorruptRecordError, DecryptionError
from .._native_loader import load_sealer
from ._keyring import Keyring

__all__ = ["FORMAT", "HEADER_BYTES", "ZSTD_LEVEL", "RecordCodec", "dumps", "record_key_id"]

FORMAT: Final = 1
_AAD_TAG: Final = b"skruntime.record.v1"
_PREFIX = struct.Struct(">BI")  # format, key id
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
HEADER_BYTES: Final = _PREFIX.size + _NONCE_BYTES
_MIN_BYTES: Final = HEADER_BYTES + _TAG_BYTES
# Default zstd level (``store.zstd_level``).  On ~500-byte JSON snapshots,
# level -1 saves about 10% of the bytes for ~2.5 us, level 1 about 30% for
# ~5.3 us (both measured on the reference machine); above 1 costs more time
# for almost no gain.  Compression is on the writer's critical path, so the
# default is the fast one.
ZSTD_LEVEL: Final = -1


def dumps(value: Any) -> bytes:
    """Serialize a JSON-able value as the codec does (orjson, str keys only).

    Raises:
        TypeError: the value is not JSON-able.
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"value is not JSON-serializable: {exc}") from exc


def record_key_id(blob: bytes) -> int | None:
    """The data key id in a record's header, or ``None`` if not format 1."""
    if len(blob) < _MIN_BYTES or blob[0] != FORMAT:
        return None
    return int(_PREFIX.unpack_from(blob)[1])


class _ThreadState(threading.local):
    def __init__(self, level: int) -> None:
        self.compressor = zstandard.ZstdCompressor(level=level, write_checksum=False)
        self.decompressor = zstandard.ZstdDecompressor()


class _NativeSealer:
    """Seals groups of records with the kernel's ``skr_seal_group``."""

    __slots__ = ("_alloc", "_dbparts", "_ffi", "_level", "_lib", "_local")

    def __init__(self, native: Any, level: int) -> None:
        self._ffi = native.ffi
        self._lib = native.lib
        self._level = level
        # The output buffer is written before it is read: no need to clear it.
        self._alloc = self._ffi.new_allocator(should_clear_after_alloc=False)
        self._local = threading.local()
        self._dbparts: dict[str, bytes] = {}

    def _context(self) -> Any:
        context = getattr(self._local, "context", None)
        if context is None:
            raw = self._lib.skr_sealer_new()
            if raw == self._ffi.NULL:
                raise MemoryError("cannot allocate the record sealer's contexts")
            context = self._ffi.gc(raw, self._lib.skr_sealer_free)
            self._local.context = context
        return context

    def seal_group(self, data_key: bytes, prefix: bytes, database: str, keys: Sequence[bytes], plains: Sequence[bytes]) -> list[bytes]:
        n = len(keys)
        if not n:
            return []
        ffi = self._ffi
        part = self._dbparts.get(database)
        if part is None:
            name = database.encode("ascii")
            part = self._dbparts[database] = bytes((len(name),)) + name
        plain_data = b"".join(plains)
        # Room for every record: header, nonce and tag (33 bytes) plus
        # ZSTD_compressBound(s) = s + s/256 + at most 64 (zstd.h); the sum
        # of the plaintexts bounds the sum of s/256.
        capacity = len(plain_data) + (len(plain_data) >> 8) + 98 * n
        out = self._alloc("uint8_t[]", capacity)
        out_lens = ffi.new("size_t[]", n)
        # cffi releases the GIL for the call: the whole group is sealed in C.
        rc = self._lib.skr_seal_group(
            self._context(), data_key, prefix, self._level, part, len(part),
            b"".join(keys), list(map(len, keys)), plain_data, list(map(len, plains)), n,
            out, capacity, out_lens,
        )
        if rc != 0:
            raise RuntimeError(f"the native record sealer failed (code {rc})")
        buffer = ffi.buffer(out)
        ends = list(itertools.accumulate(out_lens[0:n]))
        return [buffer[start:end] for start, end in zip([0, *ends], ends)]


class RecordCodec:
    """Encodes and decodes record envelopes under a (swappable) keyring.

    Thread-safe: the keyring is immutable and swapped by one assignment; zstd
    contexts are per thread.

    Args:
        keyring: the data keys.
        reload: called when a record names a key id the keyring lacks (a key
            rotated by another process); returns a fresher keyring or
            ``None``.
        zstd_level: the compression level for writes.
        native: seal with the kernel's C sealer: ``None`` (the default)
            when it is available, ``False`` never (the Python codec),
            ``True`` always (``RuntimeError`` if it is not built).
    """

    def __init__(
        self,
        keyring: Keyring,
        reload: Callable[[], Keyring | None] | None = None,
        *,
        zstd_level: int = ZSTD_LEVEL,
        native: bool | None = None,
    ) -> None:
        self.keyring = keyring
        self._reload = reload
        self._local = _ThreadState(zstd_level)
        self._native: _NativeSealer | None = None
        if native is not False:
            kernel = load_sealer()
            if kernel is None and native:
                raise RuntimeError("the native record sealer is not available (see skruntime._native_loader)")
            if kernel is not None:
                self._native = _NativeSealer(kernel, zstd_level)

    @property
    def native(self) -> bool:
        """Whether records are sealed by the C sealer."""
        return self._native is not None

    def encode(self, database: str, key: bytes, value: Any) -> bytes:
        """Envelope for a JSON-able value stored at ``database``/``key``.

        Raises:
            TypeError: the value is not JSON-able.
        """
        return self.seal(database, key, dumps(value))

    def seal(self, database: str, key: bytes, plain: bytes) -> bytes:
        """Envelope for already serialized JSON bytes (see :func:`dumps`)."""
        if self._native is not None:
            return self.seal_group(database, (key,), (plain,))[0]
        keyring = self.keyring
        prefix = _PREFIX.pack(FORMAT, keyring.current)
        nonce = os.urandom(_NONCE_BYTES)
        aead = keyring.aead(keyring.current)
        assert aead is not None  # Keyring guarantees the current key exists
        compressed = self._local.compressor.compress(plain)
        return prefix + nonce + aead.encrypt(nonce, compressed, _aad(database, key, prefix))

    def seal_group(self, database: str, keys: Sequence[bytes], plains: Sequence[bytes]) -> list[bytes]:
        """Envelopes for many records of one database (``keys[i]`` with
        ``plains[i]``): what the writer seals a group with.  With the C
        sealer it is one call without the GIL and no Python loop per record
        on the way in."""
        if self._native is None:
            return self._seal_python([(database, key, plain) for key, plain in zip(keys, plains)])
        keyring = self.keyring
        # The raw data key: Keyring keeps it private and offers no accessor.
        data_key = keyring._keys[keyring.current]
        return self._native.seal_group(data_key, _PREFIX.pack(FORMAT, keyring.current), database, keys, plains)

    def seal_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        """Envelopes for many ``(database, key, plain)`` at once.

        Same records as :meth:`seal`.  With the C sealer, one call per
        database (:meth:`seal_group`); in Python, one zstd call for all
        plaintexts and one ``os.urandom`` call for all nonces.  Those calls
        release the GIL; doing it once per group instead of twice per record
        is what keeps the writer thread from handing the GIL to a busy event
        loop and then waiting to get it back (a convoy) for every record.
        """
        if self._native is None:
            return self._seal_python(items)
        positions: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            found = positions.get(item[0])
            if found is None:
                found = positions[item[0]] = []
            found.append(i)
        out: list[bytes] = [b""] * len(items)
        for database, where in positions.items():
            sealed = self.seal_group(database, [items[i][1] for i in where], [items[i][2] for i in where])
            for i, blob in zip(where, sealed):
                out[i] = blob
        return out

    def _seal_python(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        if len(items) < 2:
            return [self.seal(database, key, plain) for database, key, plain in items]
        keyring = self.keyring
        prefix = _PREFIX.pack(FORMAT, keyring.current)
        aead = keyring.aead(keyring.current)
        assert aead is not None
        compressor = self._local.compressor
        plains = [plain for _, _, plain in items]
        # python-zstandard calls multi_compress_to_buffer experimental; should
        # it ever go, compress one by one (same frames, more GIL releases).
        multi = getattr(compressor, "multi_compress_to_buffer", None)
        frames = multi(plains) if multi is not None else [compressor.compress(plain) for plain in plains]
        nonces = os.urandom(_NONCE_BYTES * len(items))
        out = []
        for i, (database, key, _) in enumerate(items):
            nonce = nonces[i * _NONCE_BYTES : (i + 1) * _NONCE_BYTES]
            frame = frames[i]  # a BufferSegment: it has the buffer protocol, which the stubs omit
            out.append(prefix + nonce + aead.encrypt(nonce, frame, _aad(database, key, prefix)))
        return out

    def decode(self, database: str, key: bytes, blob: bytes, *, actor_id: str | None = None) -> Any:
        """The value stored in an envelope, verified.

        Args:
            database: the database the record was read from.
            key: the key it was read under.
            blob: the stored bytes.
            actor_id: the owning actor, if known (for the error).

        Raises:
            DecryptionError: the tag does not verify, or the key id is unknown.
            CorruptRecordError: truncated, unknown format, bad zstd or JSON.
        """
        plain = self.open(database, key, blob, actor_id=actor_id)
        try:
            return orjson.loads(plain)
        except orjson.JSONDecodeError as exc:
            raise CorruptRecordError(database, bytes(key), f"payload is not valid JSON: {exc}", actor_id=actor_id) from exc

    def open(self, database: str, key: bytes, blob: bytes, *, actor_id: str | None = None) -> bytes:
        """The serialized JSON bytes in an envelope, verified (see :meth:`decode`)."""
        if len(blob) < _MIN_BYTES:
            raise CorruptRecordError(
                database, bytes(key), f"truncated record: {len(blob)} bytes, an envelope has at least {_MIN_BYTES}", actor_id=actor_id
            )
        fmt, key_id = _PREFIX.unpack_from(blob)
        if fmt != FORMAT:
            raise CorruptRecordError(database, bytes(key), f"unknown record format byte {fmt}", actor_id=actor_id)
        aead = self.keyring.aead(key_id)
        if aead is None and self._reload is not None:
            fresher = self._reload()
            if fresher is not None:
                self.keyring = fresher
                aead = fresher.aead(key_id)
        if aead is None:
            raise DecryptionError(
                database, bytes(key), f"written under data key id {key_id}, which this store's keyring does not have", actor_id=actor_id
            )
        nonce = blob[_PREFIX.size : HEADER_BYTES]
        try:
            compressed = aead.decrypt(nonce, blob[HEADER_BYTES:], _aad(database, key, blob[: _PREFIX.size]))
        except InvalidTag as exc:
            raise DecryptionError(
                database,
                bytes(key),
                "authentication tag does not verify: the record was altered, copied from another key or "
                "database, or written under a key this store does not have",
                actor_id=actor_id,
            ) from exc
        try:
            return self._local.decompressor.decompress(compressed)
        except zstandard.ZstdError as exc:
            raise CorruptRecordError(database, bytes(key), f"payload is not valid zstd: {exc}", actor_id=actor_id) from exc


def _aad(database: str, key: bytes, prefix: bytes) -> bytes:
    name = database.encode("ascii")
    return b"".join((_AAD_TAG, bytes((len(name),)), name, prefix, key))
