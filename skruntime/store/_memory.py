"""An in-memory store with the same contract as the LMDB store.

It keeps the same physical keys (so scans come back in the same order) and
the same JSON values, without encryption or durability: nothing survives the
process.  It exists to prove the contract is backend-neutral (the contract
suite runs against both) and for fast tests of code above the store.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Self

import orjson
import trio

from .._config import Config
from .._exceptions import Fenced, StoreClosedError
from ._batch import MetaBatch, ShardBatch
from ._contract import ShardHandle, ShardLoad
from ._env import U64
from ._keys import (
    ALL_DATABASES,
    META_APP_PREFIX,
    META_TABLES,
    SHARD_TABLES,
    actor_prefix,
    deployment_shard_prefix,
    decode_meta_key,
    decode_shard_key,
    encode_meta_key,
    encode_shard_key,
    shard_of,
)

__all__ = ["MemoryMetaStore", "MemoryShardStore", "MemoryStore"]


class _Table:
    """A sorted map of bytes to serialized JSON."""

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._values: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []  # sorted; same members as _values

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self._values:
            bisect.insort(self._keys, key)
        self._values[key] = value

    def delete(self, key: bytes) -> None:
        if self._values.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def get(self, key: bytes) -> bytes | None:
        return self._values.get(key)

    def floor(self, key: bytes) -> tuple[bytes, bytes] | None:
        """The greatest entry at or before ``key``."""
        i = bisect.bisect_right(self._keys, key)
        if i == 0:
            return None
        found = self._keys[i - 1]
        return found, self._values[found]

    def range(self, start: bytes, prefix: bytes) -> list[tuple[bytes, bytes]]:
        out = []
        for i in range(bisect.bisect_left(self._keys, start), len(self._keys)):
            key = self._keys[i]
            if not key.startswith(prefix):
                break
            out.append((key, self._values[key]))
        return out


class MemoryStore:
    """The in-memory store (implements :class:`~skruntime.store.Store`).

    Args:
        shard_count: the number of shards.
    """

    def __init__(self, shard_count: int = 16) -> None:
        if not 1 <= shard_count <= 65536:
            raise ValueError("shard count must be 1..65536")
        self._shard_count = shard_count
        self._tables = {name: _Table() for name in ALL_DATABASES}
        self._epochs: dict[int, int] = {}
        self._running = False
        self._meta = MemoryMetaStore(self)

    @classmethod
    def open(cls, config: Config) -> Self:
        """A new, empty store with ``config.store.shards`` shards."""
        return cls(config.store.shards)

    @property
    def shard_count(self) -> int:
        """The number of shards."""
        return self._shard_count

    @property
    def meta(self) -> MemoryMetaStore:
        """Metadata reads."""
        return self._meta

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Accept writes for the duration of the block."""
        if self._running:
            raise RuntimeError("the store is already running")
        self._running = True
        try:
            await trio.lowlevel.checkpoint()
            yield self
        finally:
            self._running = False

    def close(self) -> None:
        """Nothing to release; idempotent."""

    def _check_running(self) -> None:
        if not self._running:
            raise StoreClosedError("the store is not running: writes go inside `async with store.running()`")

    async def acquire(self, shard: int, epoch: int) -> MemoryShardStore:
        """Take ``shard`` at ``epoch`` (see ``Store.acquire``)."""
        if not 0 <= shard < self._shard_count:
            raise ValueError(f"shard {shard} is out of range 0..{self._shard_count - 1}")
        if epoch < 1:
            raise ValueError(f"epochs start at 1, got {epoch}")
        await trio.lowlevel.checkpoint()
        self._check_running()
        current = self._epochs.get(shard, 0)
        if current > epoch:
            raise Fenced(shard, epoch, current)
        self._epochs[shard] = epoch
        return MemoryShardStore(self, shard, epoch)

    async def commit(self, *batches: ShardBatch | MetaBatch) -> None:
        """Apply the batches atomically (see ``Store.commit``)."""
        for batch in batches:
            if not isinstance(batch, (ShardBatch, MetaBatch)):
                raise TypeError(f"commit() takes ShardBatch or MetaBatch, not {type(batch).__name__}")
            if isinstance(batch, ShardBatch) and batch.shard_count != self._shard_count:
                raise ValueError(f"batch built for {batch.shard_count} shards; this store has {self._shard_count}")
        await trio.lowlevel.checkpoint()
        self._check_running()
        for batch in batches:
            if isinstance(batch, ShardBatch):
                current = self._epochs.get(batch.shard, 0)
                if current != batch.epoch:
                    raise Fenced(batch.shard, batch.epoch, current)
        for batch in batches:
            for op in batch.ops:
                if op.plain is None:
                    self._tables[op.database].delete(op.key)
                else:
                    self._tables[op.database].put(op.key, op.plain)

    def _read(self, database: str, key: bytes) -> Any | None:
        raw = self._tables[database].get(key)
        return None if raw is None else orjson.loads(raw)

    def _scan(
        self, database: str, start: bytes, prefix: bytes, limit: int, skip: bytes | None = None
    ) -> list[tuple[bytes, Any]]:
        out: list[tuple[bytes, Any]] = []
        if limit <= 0:
            return out
        for key, raw in self._tables[database].range(start, prefix):
            if key == skip:
                continue
            out.append((key, orjson.loads(raw)))
            if len(out) >= limit:
                break
        return out


class MemoryShardStore(ShardHandle):
    """One shard of a :class:`MemoryStore`, held at one epoch."""

    __slots__ = ("_store",)

    def __init__(self, store: MemoryStore, shard: int, epoch: int) -> None:
        super().__init__(shard, epoch, store.shard_count)
        self._store = store

    async def load(self, *, tail_after: Callable[[str, Any], int | None] | None = None) -> ShardLoad:
        """Everything needed to resume the shard (see ``ShardStore.load``)."""
        await trio.lowlevel.checkpoint()
        prefix = self._shard.to_bytes(2, "big")
        rows = {name: self._store._scan(name, prefix, prefix, 1 << 62) for name in ("actors", "traces", "timers", "idempotency", "cursors")}
        actors = tuple((decode_shard_key("actors", k)[1][0], v) for k, v in rows["actors"])
        tails: list[tuple[str, int, Any]] = []
        if tail_after is not None:
            for actor_id, value in actors:
                after = tail_after(actor_id, value)
                if after is None:
                    continue
                start, _ = encode_shard_key("events", self._shard, (actor_id, after + 1), self._store.shard_count)
                for key, event in self._store._scan("events", start, start[:-8], 1 << 62):
                    tails.append((actor_id, decode_shard_key("events", key)[1][1], event))
        return ShardLoad(
            self._shard,
            self._epoch,
            actors,
            tuple((*decode_shard_key("timers", k)[1], v) for k, v in rows["timers"]),
            tuple((*decode_shard_key("idempotency", k)[1], v) for k, v in rows["idempotency"]),
            tuple((decode_shard_key("cursors", k)[1][0], v) for k, v in rows["cursors"]),
            tails=tuple(tails),
            traces=tuple((*decode_shard_key("traces", k)[1], v) for k, v in rows["traces"]),
        )

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in shard table ``table``, or ``None``."""
        if table not in SHARD_TABLES:
            raise ValueError(f"{table!r} is not a shard table (one of {sorted(SHARD_TABLES)})")
        raw, _ = encode_shard_key(table, self._shard, key, self._store.shard_count)
        await trio.lowlevel.checkpoint()
        return self._store._read(table, raw)

    async def scan_actor(self, table: str, actor_id: str, *, start: int = 0, limit: int = 100) -> list[tuple[int, Any]]:
        """One actor's ``events`` or ``decisions``, ascending from ``start``."""
        if table not in ("events", "decisions"):
            raise ValueError(f"scan_actor() reads events or decisions, not {table!r}")
        first, _ = encode_shard_key(table, self._shard, (actor_id, start), self._store.shard_count)
        await trio.lowlevel.checkpoint()
        rows = self._store._scan(table, first, actor_prefix(self._shard, actor_id), limit)
        return [(int(U64.unpack(key[-8:])[0]), value) for key, value in rows]


    async def deployment_pages(self, ordinal: int) -> list[tuple[str, Any]]:
        """This shard's pages of deployment ``ordinal`` (see ``ShardStore.deployment_pages``)."""
        prefix = deployment_shard_prefix(ordinal, self._shard)
        await trio.lowlevel.checkpoint()
        rows = self._store._scan("deployment_decisions", prefix, prefix, 1 << 62)
        return [(decode_shard_key("deployment_decisions", key)[1][1], value) for key, value in rows]

    async def decision_page(self, ordinal: int, actor_id: str) -> Any | None:
        """The page of deployment ``ordinal`` that would hold ``actor_id``
        (see ``ShardStore.decision_page``)."""
        key, _ = encode_shard_key("deployment_decisions", self._shard, (ordinal, actor_id), self._store.shard_count)
        await trio.lowlevel.checkpoint()
        found = self._store._tables["deployment_decisions"].floor(key)
        if found is None or not found[0].startswith(deployment_shard_prefix(ordinal, self._shard)):
            return None
        return orjson.loads(found[1])

class MemoryMetaStore:
    """Metadata reads of a :class:`MemoryStore`."""

    __slots__ = ("_store",)

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def batch(self) -> MetaBatch:
        """A new, empty metadata batch."""
        return MetaBatch()

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in ``table``, or ``None``."""
        raw = encode_meta_key(table, key)
        await trio.lowlevel.checkpoint()
        return self._store._read(table, raw)

    async def scan(self, table: str, *, start: object = None, limit: int = 100) -> list[tuple[Any, Any]]:
        """``(key, value)`` pairs of ``table`` in key order (see ``MetaStore.scan``)."""
        if table not in META_TABLES:
            raise ValueError(f"{table!r} is not a metadata table")
        prefix = META_APP_PREFIX if table == "meta" else b""
        first = encode_meta_key(table, start) if start is not None else prefix
        await trio.lowlevel.checkpoint()
        return [(decode_meta_key(table, k), v) for k, v in self._store._scan(table, first, prefix, limit)]

    async def deployment_decisions(
        self, ordinal: int, *, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, Any]]:
        """Decisions of deployment ``ordinal`` (see ``MetaStore.deployment_decisions``)."""
        prefix = U64.pack(ordinal)
        first, skip = prefix, None
        if after is not None:
            shard = shard_of(after, self._store.shard_count)
            first = skip = encode_shard_key("deployment_decisions", shard, (ordinal, after), self._store.shard_count)[0]
        await trio.lowlevel.checkpoint()
        rows = self._store._scan("deployment_decisions", first, prefix, limit, skip)
        return [(decode_shard_key("deployment_decisions", k)[1][1], v) for k, v in rows]

    async def deployment_cursors(self, ordinal: int) -> dict[int, Any]:
        """``{shard: cursor}`` for deployment ``ordinal``."""
        await trio.lowlevel.checkpoint()
        out: dict[int, Any] = {}
        for shard in range(self._store.shard_count):
            raw = encode_shard_key("cursors", shard, (ordinal,), self._store.shard_count)[0]
            value = self._store._read("cursors", raw)
            if value is not None:
                out[shard] = value
        return out
