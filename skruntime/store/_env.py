"""The LMDB environment: opening it, its store records, error translation.

Shared by the store (``_lmdb.py``) and by backup/restore (``_backup.py``),
which open a data directory without a master key.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Final, NoReturn

import lmdb

from .._exceptions import StoreError, StoreFullError
from ._keys import META_STORE_PREFIX

__all__ = [
    "CURRENT_FORMAT",
    "FORMAT_KEY",
    "KEYRING_KEY",
    "MAX_DBS",
    "SHARDS_KEY",
    "U32",
    "U64",
    "open_environment",
    "read_header",
    "raise_store_error",
]

# The store format: the envelope, key layout and store records together.
# Bump it (and add an upgrade step in _lmdb._UPGRADES) for any change to them.
CURRENT_FORMAT: Final = 4
MAX_DBS: Final = 16  # 12 in use; room for a few more without a format change
FORMAT_KEY: Final = META_STORE_PREFIX + b"format"  # U32, plain
SHARDS_KEY: Final = META_STORE_PREFIX + b"shards"  # U32, plain
KEYRING_KEY: Final = META_STORE_PREFIX + b"keyring"  # wrapped under the master key
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")


def raise_store_error(exc: lmdb.Error, doing: str) -> NoReturn:
    """Re-raise an lmdb error as the most specific :class:`StoreError`."""
    if isinstance(exc, lmdb.MapFullError):
        raise StoreFullError(
            f"{doing}: the LMDB map is full; raise store.map_size and restart (nothing was written)"
        ) from exc
    raise StoreError(f"{doing}: {exc}") from exc


def open_environment(
    path: Path, *, map_size: int, readonly: bool = False, lock: bool = True, create: bool = True
) -> lmdb.Environment:
    """Open the LMDB environment in directory ``path``.

    Durable settings: ``sync=True`` and ``metasync=True`` (a commit returns
    after the data and the meta page are flushed), files mode 0600.

    Raises:
        StoreError: LMDB refused (not a directory, no permission, ...).
    """
    try:
        return lmdb.open(
            str(path),
            map_size=map_size,
            subdir=True,
            readonly=readonly,
            lock=lock,
            create=create,
            sync=True,
            metasync=True,
            max_dbs=MAX_DBS,
            max_readers=256,
            mode=0o600,
        )
    except lmdb.Error as exc:
        raise_store_error(exc, f"cannot open the store in {path}")


def read_header(env: lmdb.Environment, txn: lmdb.Transaction) -> tuple[int | None, int | None]:
    """``(format, shard count)`` of the store, ``(None, None)`` when the
    environment holds no store yet."""
    try:
        meta = env.open_db(b"meta", txn=txn, create=False)
    except lmdb.NotFoundError:
        return None, None
    raw_format = txn.get(FORMAT_KEY, db=meta)
    raw_shards = txn.get(SHARDS_KEY, db=meta)
    fmt = U32.unpack(raw_format)[0] if raw_format is not None and len(raw_format) == 4 else None
    shards = U32.unpack(raw_shards)[0] if raw_shards is not None and len(raw_shards) == 4 else None
    return fmt, shards
