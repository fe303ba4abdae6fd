"""The store contract: what the runtime may rely on, whatever the backend.

Every backend (the embedded LMDB store today, a PostgreSQL store later, and
the in-memory store used in tests) implements these protocols and passes the
same contract suite (``tests/store/test_contract.py``).  The runtime only
ever talks to these protocols.

The model (``docs/STORAGE.md`` and ARCHITECTURE, "the seams"):

* Actors are spread over a fixed number of logical shards
  (``shard_of(actor_id, shard_count)``), fixed when the store is created.
* A shard is written only by the holder of its latest epoch.
  ``acquire(shard, epoch)`` records the epoch durably and returns a
  :class:`ShardStore`; a commit carrying an older epoch is refused with
  :class:`~skruntime.Fenced` inside the same transaction that would have
  applied it, so a stale owner can never overwrite a newer one.
* Every key is unique and every put overwrites, so retrying a write whose
  outcome is unknown is safe (idempotent).
* Values are JSON-able (``None`` is not a storable value: use a delete).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, Self

from .._config import Config
from ._batch import MetaBatch, ShardBatch

__all__ = ["BadRecord", "MetaStore", "ShardHandle", "ShardLoad", "ShardStore", "Store"]


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that failed verification (quarantined by ``load``, listed by
    ``verify``).

    Attributes:
        database: the database holding the record.
        key: the record's physical key.
        actor_id: the actor it belongs to, when the key names one.
        reason: what is wrong, in one sentence.
    """

    database: str
    key: bytes
    actor_id: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (the key as hex)."""
        return {"database": self.database, "key": self.key.hex(), "actorId": self.actor_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ShardLoad:
    """Everything the runtime needs to resume a shard, from one snapshot.

    Lists are in key order: by actor (length-prefixed id bytes), then by the
    record's own key part.  Every record of a quarantined actor is left out
    of ``actors``, ``timers`` and ``idempotency``; the bad records are in
    ``quarantined``.

    Attributes:
        shard: the shard.
        epoch: the epoch it was acquired at.
        actors: ``(actor_id, snapshot)`` for each actor.
        timers: ``(actor_id, timer_id, value)`` for each pending timer.
        idempotency: ``(actor_id, digest, value)``; ``digest`` is
            ``idempotency_digest(key)`` (the store does not keep the key).
        cursors: ``(deployment ordinal, value)`` for each deployment this
            shard has finished routing.
        quarantined: the records that failed to decode.
        tails: ``(actor_id, seq, value)`` for each ``events`` record of an
            actor whose key seq is above the seq ``load(tail_after=...)``
            named for it, ascending (empty unless asked).
        traces: ``(actor_id, chunk, value)`` for each ``traces`` record, in
            chunk order per actor (the start of long histories, kept out of
            the actor records; see ``runtime._actor``).
    """

    shard: int
    epoch: int
    actors: tuple[tuple[str, Any], ...]
    timers: tuple[tuple[str, str, Any], ...]
    idempotency: tuple[tuple[str, bytes, Any], ...]
    cursors: tuple[tuple[int, Any], ...]
    quarantined: tuple[BadRecord, ...] = ()
    tails: tuple[tuple[str, int, Any], ...] = ()
    traces: tuple[tuple[str, int, Any], ...] = ()

    @property
    def quarantined_actors(self) -> frozenset[str]:
        """The actors with at least one bad record."""
        return frozenset(r.actor_id for r in self.quarantined if r.actor_id is not None)


class ShardHandle:
    """What every backend's shard handle shares: its shard, its epoch, and
    batches stamped with both.  Backends add ``load``, ``get`` and
    ``scan_actor`` (see :class:`ShardStore`)."""

    __slots__ = ("_epoch", "_shard", "_shard_count")

    def __init__(self, shard: int, epoch: int, shard_count: int) -> None:
        self._shard = shard
        self._epoch = epoch
        self._shard_count = shard_count

    @property
    def shard(self) -> int:
        """The shard."""
        return self._shard

    @property
    def epoch(self) -> int:
        """The epoch it was acquired at."""
        return self._epoch

    def batch(self) -> ShardBatch:
        """A new, empty batch for this shard at this epoch."""
        return ShardBatch(self._shard, self._epoch, self._shard_count)


class MetaStore(Protocol):
    """Reads of the metadata tables (versions, deployments, api_keys, meta),
    plus the per-deployment views of shard data an aggregator needs.

    Writes go through ``Store.commit`` with a :class:`MetaBatch`.  Reads see
    committed data only.  A record that fails to decode raises
    :class:`~skruntime.CorruptRecordError` (or ``DecryptionError``).
    """

    def batch(self) -> MetaBatch:
        """A new, empty metadata batch."""
        ...

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in ``table``, or ``None`` if there is none."""
        ...

    async def scan(self, table: str, *, start: object = None, limit: int = 100) -> list[tuple[Any, Any]]:
        """``(key, value)`` pairs of ``table`` in key order, from ``start``
        (inclusive; ``None`` = the beginning), at most ``limit`` of them.

        Key order: version ids and meta names by UTF-8 bytes, deployments by
        ordinal, api keys by hash bytes.  To page, pass the last key + 1
        (ordinals) or re-scan from the last key and drop it.
        """
        ...

    async def deployment_decisions(
        self, ordinal: int, *, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, Any]]:
        """``(actor_id, decision)`` recorded by deployment ``ordinal``, in a
        stable order (by shard, then actor key), starting after actor
        ``after``; at most ``limit``.  Pass the last actor id to page.
        """
        ...

    async def deployment_cursors(self, ordinal: int) -> dict[int, Any]:
        """``{shard: cursor}`` for every shard that has written its cursor for
        deployment ``ordinal`` (a shard without one has not finished)."""
        ...


class ShardStore(Protocol):
    """One shard, held at one epoch.  Reads never check the epoch; writes
    (``Store.commit`` of ``batch()``) do."""

    @property
    def shard(self) -> int: ...

    @property
    def epoch(self) -> int: ...

    def batch(self) -> ShardBatch:
        """A new, empty batch for this shard at this epoch."""
        ...

    async def load(self, *, tail_after: Callable[[str, Any], int | None] | None = None) -> ShardLoad:
        """Everything needed to resume the shard, from one consistent snapshot.

        A record that fails to decode is not fatal: it is reported in
        ``quarantined`` and its actor left out; everything else loads.

        Args:
            tail_after: called with each actor's id and ``actors`` record;
                when it returns a seq, the actor's ``events`` after that seq
                are returned in ``tails`` (the runtime checkpoints actor
                records every few events and replays the rest).
        """
        ...

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in shard table ``table``, or ``None``.

        Raises:
            CorruptRecordError: the record does not decode.
            ValueError: the key names an actor of another shard.
        """
        ...

    async def scan_actor(
        self, table: str, actor_id: str, *, start: int = 0, limit: int = 100
    ) -> list[tuple[int, Any]]:
        """``(number, value)`` for one actor's ``events`` (number = seq) or
        ``decisions`` (number = deployment ordinal), ascending, from
        ``start`` (inclusive), at most ``limit``.  Page with last + 1.

        Raises:
            CorruptRecordError: a record in the page does not decode.
        """
        ...


    async def deployment_pages(self, ordinal: int) -> list[tuple[str, Any]]:
        """Every ``deployment_decisions`` record of deployment ``ordinal`` in
        this shard, as ``(first actor id, value)`` in key order.

        Raises:
            CorruptRecordError: a record does not decode.
        """
        ...

    async def decision_page(self, ordinal: int, actor_id: str) -> Any | None:
        """The ``deployment_decisions`` record of deployment ``ordinal`` in
        this shard that holds ``actor_id`` if any: the one keyed by the
        greatest actor at or before ``actor_id`` in key order (a page is
        keyed by its first actor), or ``None``.

        Raises:
            CorruptRecordError: the record does not decode.
            ValueError: the actor belongs to another shard.
        """
        ...

class Store(Protocol):
    """A durable, fenced, sharded store.

    Lifecycle: ``store = Backend.open(config)`` (blocking; start-up only),
    then ``async with store.running():`` around everything that writes (it
    runs the group-commit writer in the caller's nursery), then
    ``store.close()``.

    ``commit`` contract:

    * **Atomic**: the batches of one ``commit`` call apply together or not
      at all.
    * **Durable**: when ``commit`` returns, the data survives a crash
      (process kill or power loss); when it raises, nothing of the call was
      applied.  If the calling task is cancelled, either the call had not
      been handed to the writer yet (nothing is written, ``Cancelled``
      propagates) or the cancellation waits until the outcome is known and
      the call returns or raises it.
    * **Fenced**: each :class:`ShardBatch` applies only if its shard's stored
      epoch equals the batch's epoch, checked in the same transaction;
      otherwise the call raises :class:`~skruntime.Fenced`.  Calls grouped
      into the same transaction are independent: one fenced or failing call
      does not affect another.
    * **Idempotent**: a put overwrites; replaying a call has the same result.
    * Errors: :class:`~skruntime.StoreClosedError` outside ``running()``,
      :class:`~skruntime.StoreFullError` when the store is full, another
      :class:`~skruntime.StoreError` otherwise.
    """

    @classmethod
    def open(cls, config: Config) -> Self:
        """Open (creating if needed) the store described by ``config``."""
        ...

    @property
    def shard_count(self) -> int:
        """The fixed number of shards, from the store's metadata."""
        ...

    @property
    def meta(self) -> MetaStore:
        """Metadata reads."""
        ...

    def running(self) -> AbstractAsyncContextManager[Self]:
        """Run the writer for the duration of the ``async with`` block.

        On exit, writes already submitted are finished, then the writer
        stops; later writes raise ``StoreClosedError``.
        """
        ...

    async def acquire(self, shard: int, epoch: int) -> ShardStore:
        """Take ``shard`` at ``epoch`` (>= 1), durably.

        Acquiring at the stored epoch again is allowed (the same owner
        restarting); a higher epoch takes over and fences every holder of a
        lower one.

        Raises:
            Fenced: the stored epoch is higher than ``epoch``.
        """
        ...

    async def commit(self, *batches: ShardBatch | MetaBatch) -> None:
        """Apply the batches atomically and durably (see the class docstring)."""
        ...

    def close(self) -> None:
        """Release the store's resources; idempotent."""
        ...
