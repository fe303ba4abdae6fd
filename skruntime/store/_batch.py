"""Write batches: what a caller hands to ``Store.commit``.

A batch is a list of puts and deletes built on the caller's side.  Keys are
validated and encoded, and values serialized to JSON, when they are added, so
a mistake (a bad key part, an actor of another shard, a value that is not
JSON-able) raises at the ``put`` that made it, and a value mutated after
``put`` does not change what is written.  Compression and encryption happen
later, in the writer.
"""

from __future__ import annotations

import functools
from typing import Any, Final, NamedTuple

from ._codec import dumps
from ._keys import encode_meta_key, encode_shard_key

__all__ = ["MetaBatch", "Op", "ShardBatch"]

_MAX_SHARDS: Final = 65536


class Op(NamedTuple):
    """One write: a put (``plain`` is the JSON bytes) or a delete (``None``)."""

    database: str  # the LMDB database (= the table's name)
    key: bytes  # the physical key (``_keys``)
    plain: bytes | None  # serialized JSON value; None deletes the key
    actor_id: str | None  # the owning actor, for error reports


class _Batch:
    """The operation list both batch kinds keep, in the order added."""

    __slots__ = ("_ops",)

    def __init__(self) -> None:
        self._ops: list[Op] = []

    @property
    def ops(self) -> tuple[Op, ...]:
        """The operations, in order."""
        return tuple(self._ops)

    def __len__(self) -> int:
        return len(self._ops)


class ShardBatch(_Batch):
    """Puts and deletes on one shard's tables, carrying the writer's epoch.

    Make one with ``ShardStore.batch()`` (which fills in shard, epoch and
    shard count).  ``Store.commit`` applies it atomically and only if the
    shard's stored epoch still equals ``epoch``; otherwise the commit raises
    :class:`~skruntime.Fenced` and applies nothing.  Operations apply in the
    order they were added (a later put of the same key wins).

    Tables and key parts: ``actors (actor_id,)``, ``events (actor_id,
    seq)``, ``traces (actor_id, chunk)``, ``decisions (actor_id, ordinal)``, ``deployment_decisions
    (ordinal, actor_id)``, ``cursors (ordinal,)``, ``timers (actor_id,
    timer_id)``, ``idempotency (actor_id, key)``; a single part may be
    passed bare.

    Attributes:
        shard: the shard every record belongs to.
        epoch: the epoch the writer acquired the shard at.
        shard_count: the store's shard count.
    """

    __slots__ = ("epoch", "shard", "shard_count")

    def __init__(self, shard: int, epoch: int, shard_count: int) -> None:
        if not 1 <= shard_count <= _MAX_SHARDS:
            raise ValueError(f"shard count must be 1..{_MAX_SHARDS}, got {shard_count}")
        if not 0 <= shard < shard_count:
            raise ValueError(f"shard {shard} is out of range 0..{shard_count - 1}")
        if epoch < 1:
            raise ValueError(f"epochs start at 1, got {epoch}")
        self.shard = shard
        self.epoch = epoch
        self.shard_count = shard_count
        super().__init__()

    def put(self, table: str, key: object, value: Any) -> None:
        """Store ``value`` (JSON-able) at ``key`` in ``table``; overwrites.

        Raises:
            ValueError: unknown table, bad key parts, or an actor that does
                not belong to this batch's shard.
            TypeError: a key part of the wrong type, or a value that is not
                JSON-able (``None`` is not storable: use :meth:`delete`).
        """
        raw, actor_id = encode_shard_key(table, self.shard, key, self.shard_count)
        self._ops.append(_op((table, raw, _serialize(value), actor_id)))

    def delete(self, table: str, key: object) -> None:
        """Remove ``key`` from ``table``; deleting a missing key is a no-op.

        Raises:
            ValueError, TypeError: as for :meth:`put`.
        """
        raw, actor_id = encode_shard_key(table, self.shard, key, self.shard_count)
        self._ops.append(_op((table, raw, None, actor_id)))

    def __repr__(self) -> str:
        return f"ShardBatch(shard={self.shard}, epoch={self.epoch}, ops={len(self._ops)})"


class MetaBatch(_Batch):
    """Puts and deletes on the metadata tables (no shard, no epoch).

    Tables and key parts: ``versions (version_id,)``, ``deployments
    (ordinal,)``, ``api_keys (key_hash,)`` (bytes), ``meta (name,)``.
    """

    __slots__ = ()

    def put(self, table: str, key: object, value: Any) -> None:
        """Store ``value`` (JSON-able) at ``key`` in ``table``; overwrites.

        Raises:
            ValueError: unknown table or bad key parts.
            TypeError: a key part of the wrong type, or a value that is not
                JSON-able (``None`` is not storable: use :meth:`delete`).
        """
        raw = encode_meta_key(table, key)
        self._ops.append(_op((table, raw, _serialize(value), None)))

    def delete(self, table: str, key: object) -> None:
        """Remove ``key`` from ``table``; deleting a missing key is a no-op."""
        raw = encode_meta_key(table, key)
        self._ops.append(_op((table, raw, None, None)))

    def __repr__(self) -> str:
        return f"MetaBatch(ops={len(self._ops)})"


# Op's own constructor is a Python-level function; the batch path makes an
# Op per record, so it builds them straight from a tuple.
_op: Final = functools.partial(tuple.__new__, Op)


def _serialize(value: Any) -> bytes:
    if value is None:
        raise TypeError("None is not a storable value (a missing key reads as None); delete the key instead")
    return dumps(value)
