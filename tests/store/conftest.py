"""Fixtures for the store tests: configurations, stores, raw LMDB access."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import lmdb
import pytest

from skruntime._config import Config
from skruntime.store import LmdbStore, MemoryStore

# A fixed master key: tests are deterministic and can reopen stores.
MASTER = bytes(range(32))
MASTER_B64 = base64.b64encode(MASTER).decode()
OTHER_B64 = base64.b64encode(bytes(range(1, 33))).decode()
SHARDS = 8


def make_config(root: Path, *, key: str | None = MASTER_B64, shards: int = SHARDS, **store: Any) -> Config:
    """A config with its data directory under ``root``; ``key=None`` uses
    the key file ``root/skruntime.key`` instead of the environment key."""
    return Config.from_mapping(
        {
            "store": {"data_dir": str(root / "data"), "shards": shards, "map_size": "64MiB", **store},
            "security": {"master_key": key or "", "key_file": str(root / "skruntime.key")},
        }
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def lmdb_store(config: Config) -> AsyncIterator[LmdbStore]:
    store = LmdbStore.open(config)
    async with store.running():
        yield store
    store.close()


@pytest.fixture(params=["lmdb", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """A factory opening the store under test (the same one on every call)."""
    if request.param == "memory":
        memory = MemoryStore(SHARDS)
        return lambda: memory
    return lambda: LmdbStore.open(make_config(tmp_path))


@pytest.fixture
async def store(backend: Callable[[], Any]) -> AsyncIterator[Any]:
    opened = backend()
    async with opened.running():
        yield opened
    opened.close()


def raw_env(data_dir: str | Path) -> lmdb.Environment:
    """A raw LMDB handle on a store's directory (the store must be closed)."""
    return lmdb.open(str(data_dir), max_dbs=16, map_size=64 << 20)


def flip_byte(data_dir: str | Path, database: str, key: bytes, offset: int = -5) -> None:
    """Flip one byte of a record's value on disk, as bit rot or an attacker would."""
    env = raw_env(data_dir)
    try:
        db = env.open_db(database.encode())
        with env.begin(write=True) as txn:
            raw = txn.get(key, db=db)
            assert raw is not None
            value = bytearray(raw)
            value[offset] ^= 0x40
            txn.put(key, bytes(value), db=db)
    finally:
        env.close()
