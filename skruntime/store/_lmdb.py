"""The embedded store: one LMDB environment under the data directory.

Layout: twelve named databases (``_keys.ALL_DATABASES``); keys as in
``_keys``; every value a record envelope (``_codec``) except the store's own
plain records in ``meta`` (format, shard count, per-shard epochs) and the
keyring (wrapped under the master key, ``_keyring``).

Writes: every write transaction is made by the group-commit writer thread
(``_writer``), so commits, shard acquisitions and key maintenance are
serialized in one place and the event loop never waits for the LMDB write
lock.  Reads: point reads run on the event loop (a read transaction on the
memory map costs about a microsecond; decoding one record a few), scans and
shard loads in a worker thread.

Opening checks the store format: a newer format raises
:class:`FormatVersionError`; an older one is upgraded in place, in one write
transaction, by the steps in ``_UPGRADES``.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self, cast

import lmdb
import orjson
import trio

from .._config import Config
from .._exceptions import (
    CorruptRecordError,
    Fenced,
    FormatVersionError,
    KeyConfigError,
    StoreError,
    StoreFullError,
)
from . import _backup
from ._batch import MetaBatch, Op, ShardBatch
from ._codec import RecordCodec, record_key_id
from ._contract import BadRecord, ShardHandle, ShardLoad
from ._env import (
    CURRENT_FORMAT,
    FORMAT_KEY,
    KEYRING_KEY,
    SHARDS_KEY,
    U32,
    U64,
    open_environment,
    raise_store_error,
    read_header,
)
from ._keyring import Keyring, MasterKey, load_master_key
from ._keys import (
    ALL_DATABASES,
    META_APP_PREFIX,
    META_STORE_PREFIX,
    SHARD_TABLES,
    actor_of_key,
    actor_prefix,
    deployment_shard_prefix,
    decode_meta_key,
    decode_shard_key,
    encode_meta_key,
    encode_shard_key,
    epoch_key,
    shard_of,
)
from ._writer import GroupCommitWriter, Job, WriterStatistics

__all__ = ["LmdbMetaStore", "LmdbShardStore", "LmdbStore", "VerifyReport"]

log = logging.getLogger("skruntime.store")

_EPOCH_PREFIX: Final = META_STORE_PREFIX + b"epoch:"
_INLINE_SCAN_LIMIT: Final = 32  # scans up to this many records run on the event loop


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The result of :meth:`LmdbStore.verify`.

    Attributes:
        counts: records checked, per database.
        bad: every record that failed, in scan order.
    """

    counts: dict[str, int]
    bad: tuple[BadRecord, ...] = field(default=())

    @property
    def clean(self) -> bool:
        """No bad record."""
        return not self.bad

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (``skruntime verify --json``)."""
        return {
            "clean": self.clean,
            "records": sum(self.counts.values()),
            "counts": dict(self.counts),
            "bad": [b.to_json() for b in self.bad],
        }


# --------------------------------------------------------------------------
# Format upgrades.  Each step takes the store from format n to n + 1 inside
# the opening write transaction; the format record is bumped by the caller.
#
# Format 0 was a pre-release development layout that never shipped: it kept
# every shard's epoch in one JSON list under ``skr:epochs``.  Its step exists
# so that the upgrade path is exercised by a real (synthetic) old store.


def _upgrade_0_to_1(env: lmdb.Environment, txn: lmdb.Transaction) -> None:
    meta = env.open_db(b"meta", txn=txn)
    raw = txn.get(META_STORE_PREFIX + b"epochs", db=meta)
    if raw is not None:
        for shard, epoch in enumerate(orjson.loads(raw)):
            if epoch:
                txn.put(epoch_key(shard), U64.pack(int(epoch)), db=meta)
        txn.delete(META_STORE_PREFIX + b"epochs", db=meta)


def _upgrade_1_to_2(env: lmdb.Environment, txn: lmdb.Transaction) -> None:
    # Format 2 adds the ``traces`` database: an actor record may keep the
    # start of its history there, in fixed chunks, instead of inline.  Format
    # 1 records (whole history inline) stay valid as they are; the number
    # only stops an older skruntime from reading a newer store's records as
    # if their history were complete.
    env.open_db(b"traces", txn=txn)


def _upgrade_2_to_3(env: lmdb.Environment, txn: lmdb.Transaction) -> None:
    # Format 3: an ``events`` record may hold several events (those one turn
    # handled for one actor), keyed by the last one's seq.  Format 2 records
    # (one event each) are such records already; the number only stops an
    # older skruntime from reading a record of several events as one.
    del env, txn


def _upgrade_3_to_4(env: lmdb.Environment, txn: lmdb.Transaction) -> None:
    # Format 4: a deployment's decisions are only in its pages, in a compact
    # layout (shared fields once, a row per actor); the ``decisions``
    # records per actor are no longer written or read.  Format 3 pages
    # (whole records) still read; their per-actor twins are left in place.
    del env, txn


_UPGRADES: dict[int, Callable[[lmdb.Environment, lmdb.Transaction], None]] = {
    0: _upgrade_0_to_1,
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
    3: _upgrade_3_to_4,
}


# --------------------------------------------------------------------------
# Writer payloads (applied in the writer thread, inside the group transaction)


@dataclass(slots=True)
class _GroupState:
    txn: lmdb.Transaction[bytes]
    epochs: dict[int, int] = field(default_factory=dict)  # shard -> epoch, as of this txn so far
    ops: list[Op] = field(default_factory=list)  # accepted, not yet written (see _flush)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Whether the commit certainly makes a new LMDB transaction id (a put
    # was made: LMDB does not commit a transaction that changed nothing),
    # and whether arbitrary code (_Call) ran in it; see _WriterView.
    put: bool = False
    called: bool = False


class _WriterView:
    """What the writer thread knows of the store between its transactions:
    the shard epochs and the keyring as of the last transaction it
    committed, and that transaction's id.

    LMDB gives a write transaction the id of the last committed one plus
    one, whichever process committed it.  So when a group's transaction id
    follows the remembered one, nobody else has written since: the epochs
    and the keyring are still current, and the group skips reading them (a
    group of 64 shards saves 64 reads).  Any other id (another process
    wrote: a rotation, a newer owner of a shard) and the view is dropped and
    read again.  The view is kept only after a commit that certainly made a
    new transaction id and ran no ``_Call``; an empty transaction leaves the
    id unused, and another process could take it.
    """

    __slots__ = ("epochs", "txn_id")

    def __init__(self) -> None:
        self.txn_id: int | None = None
        self.epochs: dict[int, int] = {}

    def current(self, txn_id: int) -> bool:
        return self.txn_id is not None and txn_id == self.txn_id + 1

    def committed(self, txn_id: int, group: _GroupState) -> None:
        if group.put and not group.called:
            self.txn_id = txn_id
            self.epochs = group.epochs
        else:
            self.forget()

    def forget(self) -> None:
        self.txn_id = None
        self.epochs = {}


class _Commit:
    __slots__ = ("batches",)

    def __init__(self, batches: tuple[ShardBatch | MetaBatch, ...]) -> None:
        self.batches = batches


class _Acquire:
    __slots__ = ("epoch", "shard")

    def __init__(self, shard: int, epoch: int) -> None:
        self.shard = shard
        self.epoch = epoch


class _Call:
    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[_GroupState], Any]) -> None:
        self.fn = fn


class LmdbStore:
    """The embedded LMDB store (implements :class:`~skruntime.store.Store`).

    Open it with :meth:`open`; write inside ``async with store.running()``.
    Operator methods (:meth:`verify`, :meth:`backup`) block: call them from
    a worker thread (``trio.to_thread.run_sync``) when on the event loop.
    """

    def __init__(
        self,
        *,
        env: lmdb.Environment,
        dbs: dict[str, Any],
        master: MasterKey,
        keyring_blob: bytes,
        keyring: Keyring,
        shard_count: int,
        config: Config,
    ) -> None:
        # Use LmdbStore.open(); this constructor trusts its arguments.
        self._env = env
        self._dbs = dbs
        self._master = master
        self._keyring_blob = keyring_blob  # the wrapped keyring the codec's keyring came from
        self._codec = RecordCodec(keyring, self._reload_keyring, zstd_level=config.store.zstd_level)
        self._shard_count = shard_count
        self._config = config
        self._data_dir = Path(config.store.data_dir)
        self._writer = GroupCommitWriter(self._apply_group, max_records=config.store.max_batch_records)
        self._view = _WriterView()  # writer thread only
        self._meta = LmdbMetaStore(self)
        self._closed = False

    # ------------------------------------------------------------------ open

    @classmethod
    def open(cls, config: Config, *, create: bool = True) -> Self:
        """Open the store in ``config.store.data_dir``, creating it if needed.

        A new store gets the configured shard count, format
        ``CURRENT_FORMAT`` and a fresh keyring; if no master key is
        configured, a key file is created (loudly) at
        ``security.key_file``.  An existing store is checked: its format
        (older ones are upgraded in place) and its master key.

        Args:
            config: the configuration (``[store]`` and ``[security]``).
            create: create a new store when there is none; with ``False``
                a missing store raises ``StoreError`` (operator commands).

        Raises:
            KeyConfigError: the master key is missing, malformed or wrong.
            FormatVersionError: the store was written by a newer skruntime.
            StoreError: the environment cannot be opened (or does not exist
                and ``create`` is false).
        """
        data_dir = Path(config.store.data_dir)
        if not create and not (data_dir / "data.mdb").is_file():
            raise StoreError(f"there is no store in {data_dir} (check SKRUNTIME_DATA_DIR)")
        try:
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {data_dir}: {exc.strerror}") from exc
        env = open_environment(data_dir, map_size=config.store.map_size)
        try:
            return cls._open_env(env, config, data_dir)
        except BaseException:
            env.close()
            raise

    @classmethod
    def _open_env(cls, env: lmdb.Environment, config: Config, data_dir: Path) -> Self:
        with env.begin() as txn:
            fmt, shards = read_header(env, txn)
            has_data = _has_named_databases(txn)
        if fmt is None and has_data:
            raise StoreError(f"{data_dir} holds an LMDB environment that is not a skruntime store (no format record)")
        master = load_master_key(config.security, data_dir, may_create=fmt is None)
        if fmt is not None and fmt > CURRENT_FORMAT:
            raise FormatVersionError(
                f"the store in {data_dir} has format {fmt}, newer than this skruntime's format "
                f"{CURRENT_FORMAT}; upgrade skruntime"
            )
        try:
            with env.begin(write=True) as txn:
                if fmt is None:
                    shards = config.store.shards
                    keyring = Keyring.new()
                    blob = keyring.wrap(master)
                    dbs = {name: env.open_db(name.encode(), txn=txn) for name in ALL_DATABASES}
                    txn.put(FORMAT_KEY, U32.pack(CURRENT_FORMAT), db=dbs["meta"])
                    txn.put(SHARDS_KEY, U32.pack(shards), db=dbs["meta"])
                    txn.put(KEYRING_KEY, blob, db=dbs["meta"])
                    log.info("created a new store in %s: format %d, %d shards", data_dir, CURRENT_FORMAT, shards)
                else:
                    meta = env.open_db(b"meta", txn=txn)
                    raw = txn.get(KEYRING_KEY, db=meta)
                    if raw is None:
                        raise KeyConfigError(f"the store in {data_dir} has no keyring record; it cannot be opened")
                    blob = bytes(raw)
                    keyring = Keyring.unwrap(blob, master)  # before touching anything
                    for step in range(fmt, CURRENT_FORMAT):
                        _UPGRADES[step](env, txn)
                        log.warning("upgraded the store in %s from format %d to %d", data_dir, step, step + 1)
                    if fmt != CURRENT_FORMAT:
                        txn.put(FORMAT_KEY, U32.pack(CURRENT_FORMAT), db=meta)
                    dbs = {name: env.open_db(name.encode(), txn=txn) for name in ALL_DATABASES}
                    if shards is None:
                        raise StoreError(f"the store in {data_dir} has no shard count record")
        except lmdb.Error as exc:
            raise_store_error(exc, f"cannot open the store in {data_dir}")
        if shards != config.store.shards:
            log.info("the store in %s has %d shards (store.shards=%d applies to new stores only)", data_dir, shards, config.store.shards)
        return cls(
            env=env, dbs=dbs, master=master, keyring_blob=blob, keyring=keyring, shard_count=shards, config=config
        )

    # ------------------------------------------------------------ properties

    @property
    def shard_count(self) -> int:
        """The fixed number of shards, from the store's metadata."""
        return self._shard_count

    @property
    def meta(self) -> LmdbMetaStore:
        """Metadata reads."""
        return self._meta

    @property
    def data_dir(self) -> Path:
        """The data directory."""
        return self._data_dir

    @property
    def key_ids(self) -> tuple[int, int]:
        """``(current data key id, number of data keys)``."""
        keyring = self._codec.keyring
        return keyring.current, len(keyring.key_ids)

    def statistics(self) -> WriterStatistics:
        """The group-commit writer's counters."""
        return self._writer.statistics()

    # ------------------------------------------------------------- lifecycle

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Run the group-commit writer for the duration of the block.

        On exit (normal, error or cancellation) the writes already submitted
        are committed, then the writer stops.
        """
        if self._closed:
            raise StoreError("the store is closed")
        async with trio.open_nursery() as nursery:
            await nursery.start(self._writer.run)
            try:
                yield self
            finally:
                self._writer.close()

    def close(self) -> None:
        """Close the LMDB environment; idempotent.

        Raises:
            RuntimeError: the writer is still running.
        """
        if self._writer.running:
            raise RuntimeError("close() inside store.running(); leave the block first")
        if not self._closed:
            self._closed = True
            self._env.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- writes

    async def acquire(self, shard: int, epoch: int) -> LmdbShardStore:
        """Take ``shard`` at ``epoch``, durably (see ``Store.acquire``).

        Raises:
            Fenced: a newer epoch holds the shard.
            ValueError: shard out of range or epoch < 1.
        """
        if not 0 <= shard < self._shard_count:
            raise ValueError(f"shard {shard} is out of range 0..{self._shard_count - 1}")
        if epoch < 1:
            raise ValueError(f"epochs start at 1, got {epoch}")
        await self._writer.submit(Job(_Acquire(shard, epoch), 1))
        return LmdbShardStore(self, shard, epoch)

    async def commit(self, *batches: ShardBatch | MetaBatch) -> None:
        """Apply the batches atomically and durably (see ``Store.commit``).

        Raises:
            Fenced: a shard batch's epoch is not the shard's current epoch.
            StoreClosedError: outside ``running()``.
            StoreFullError: the LMDB map is full.
            StoreError: another storage failure.
        """
        records = 0
        for batch in batches:
            if type(batch) is ShardBatch:
                if batch.shard_count != self._shard_count:
                    raise ValueError(f"batch built for {batch.shard_count} shards; this store has {self._shard_count}")
            elif not isinstance(batch, (ShardBatch, MetaBatch)):
                raise TypeError(f"commit() takes ShardBatch or MetaBatch, not {type(batch).__name__}")
            records += len(batch)
        await self._writer.submit(Job(_Commit(batches), records))

    async def rotate(self) -> int:
        """Add a data key and make it current for new writes.

        Old records stay readable under their key ids; :meth:`reencrypt`
        rewrites them.  Returns the new key id.
        """

        def rotate(group: _GroupState) -> int:
            keyring = Keyring.unwrap(self._raw_keyring(group.txn), self._master).rotated()
            blob = keyring.wrap(self._master)
            group.txn.put(KEYRING_KEY, blob, db=self._dbs["meta"])
            group.after_commit.append(functools.partial(self._install_keyring, keyring, blob))
            return keyring.current

        result: int = await self._writer.submit(Job(_Call(rotate), 1))
        log.warning("rotated the data key: new writes use key id %d", result)
        return result

    async def rewrap(self, new_master: MasterKey) -> None:
        """Re-encrypt the keyring under ``new_master`` (change the master key).

        Write the new key file first and keep it safe: once this returns,
        only ``new_master`` opens the store.
        """

        def rewrap(group: _GroupState) -> None:
            keyring = Keyring.unwrap(self._raw_keyring(group.txn), self._master)
            blob = keyring.wrap(new_master)
            group.txn.put(KEYRING_KEY, blob, db=self._dbs["meta"])

            def install() -> None:
                self._master = new_master
                self._install_keyring(keyring, blob)

            group.after_commit.append(install)

        await self._writer.submit(Job(_Call(rewrap), 1))
        log.warning("re-wrapped the keyring under the master key from %s", new_master.source)

    async def reencrypt(self, *, batch_records: int = 1000) -> int:
        """Rewrite every record not under the current data key, in bounded
        transactions of at most ``batch_records`` scanned records, each
        through the writer (so it can run in the background while serving).

        Records that fail to decode are left as they are (``verify`` reports
        them).  Returns the number of records rewritten.
        """
        total = 0
        for database in ALL_DATABASES:
            start: bytes | None = META_APP_PREFIX if database == "meta" else b""
            while start is not None:
                step = functools.partial(self._reencrypt_step, database, start, batch_records)
                rewritten, start = await self._writer.submit(Job(_Call(step), batch_records))
                total += rewritten
        return total

    def _reencrypt_step(self, database: str, start: bytes, limit: int, group: _GroupState) -> tuple[int, bytes | None]:
        db = self._dbs[database]
        current = self._codec.keyring.current
        prefix = META_APP_PREFIX if database == "meta" else b""
        todo: list[tuple[bytes, bytes]] = []
        next_start: bytes | None = None
        scanned = 0
        with group.txn.cursor(db=db) as cursor:
            if cursor.set_range(start):
                for key, blob in cursor:
                    if not key.startswith(prefix):
                        break
                    if scanned == limit:
                        next_start = key
                        break
                    scanned += 1
                    key_id = record_key_id(blob)
                    if key_id is not None and key_id != current:
                        todo.append((key, blob))
        rewritten = 0
        for key, blob in todo:
            try:
                plain = self._codec.open(database, key, blob)
            except CorruptRecordError:
                continue
            group.txn.put(key, self._codec.seal(database, key, plain), db=db)
            rewritten += 1
        return rewritten, next_start

    # --------------------------------------------------------- writer thread

    def _apply_group(self, jobs: list[Job]) -> None:
        """Apply one group in one write transaction (writer thread).

        Each job is checked before anything of it is written (fencing, for
        commits), so a failing job leaves no trace; the writes of accepted
        commits are sealed together (``RecordCodec.seal_group``) and put in
        order just before the next job that reads the transaction, and at
        the end.
        """
        try:
            txn = self._env.begin(write=True)
        except lmdb.Error as exc:
            for job in jobs:
                job.error = _group_error(exc)
            return
        view = self._view
        txn_id = txn.id()
        current = view.current(txn_id)
        group = _GroupState(txn, epochs=dict(view.epochs) if current else {})
        ops = group.ops
        try:
            if not current:
                self._refresh_keyring(txn)
            for job in jobs:
                payload = job.payload
                try:
                    if type(payload) is _Commit:
                        batches = payload.batches
                        self._check_fences(batches, group)
                        for batch in batches:
                            ops += batch._ops  # the batch's own list: no copy
                    else:
                        self._flush(group)
                        job.result = self._apply_job(payload, group)
                except (StoreError, ValueError, TypeError) as exc:
                    job.error = exc
            self._flush(group)
            txn.commit()
        except BaseException as exc:
            view.forget()
            txn.abort()
            for job in jobs:
                job.result = None
                if job.error is None or not isinstance(job.error, Fenced):
                    job.error = _group_error(exc)
            return
        view.committed(txn_id, group)
        for hook in group.after_commit:
            try:
                hook()
            except Exception:  # pragma: no cover - hooks only swap references
                log.exception("store: post-commit hook failed")

    def _apply_job(self, payload: object, group: _GroupState) -> Any:
        if isinstance(payload, _Acquire):
            current = self._epoch(group, payload.shard)
            if current > payload.epoch:
                raise Fenced(payload.shard, payload.epoch, current)
            if current != payload.epoch:
                group.txn.put(epoch_key(payload.shard), U64.pack(payload.epoch), db=self._dbs["meta"])
                group.epochs[payload.shard] = payload.epoch
                group.put = True
            return None
        if isinstance(payload, _Call):
            group.called = True
            return payload.fn(group)
        raise TypeError(f"unknown writer payload {payload!r}")  # pragma: no cover

    def _check_fences(self, batches: tuple[ShardBatch | MetaBatch, ...], group: _GroupState) -> None:
        epochs = group.epochs
        for batch in batches:
            if type(batch) is ShardBatch:
                current = epochs.get(batch.shard)
                if current is None:
                    current = self._epoch(group, batch.shard)
                if current != batch.epoch:
                    raise Fenced(batch.shard, batch.epoch, current)

    def _flush(self, group: _GroupState) -> None:
        """Seal and write the accepted operations.

        Operations are taken database by database, each database's in
        their order: only operations on the same key can affect each other,
        and those share a database.  A database's puts are sealed in one
        call and written with one ``putmulti`` (its loop is in C); one with
        deletes among them is written operation by operation.
        """
        ops = group.ops
        if not ops:
            return
        txn = group.txn
        dbs = self._dbs
        codec = self._codec
        by_database: dict[str, list[Op]] = {}
        for op in ops:
            found = by_database.get(op[0])
            if found is None:
                found = by_database[op[0]] = []
            found.append(op)
        for database, todo in by_database.items():
            db = dbs[database]
            plains = [op[2] for op in todo]
            if not group.put and any(plain is not None for plain in plains):
                group.put = True
            if None not in plains:
                keys = [op[1] for op in todo]
                with txn.cursor(db=db) as cursor:
                    cursor.putmulti(zip(keys, codec.seal_group(database, keys, cast(list[bytes], plains))))
                continue
            puts = [op for op in todo if op[2] is not None]
            values = iter(codec.seal_group(database, [op[1] for op in puts], [cast(bytes, op[2]) for op in puts]))
            for op in todo:
                if op[2] is None:
                    txn.delete(op[1], db=db)
                else:
                    txn.put(op[1], next(values), db=db)
        ops.clear()

    def _epoch(self, group: _GroupState, shard: int) -> int:
        epoch = group.epochs.get(shard)
        if epoch is None:
            raw = group.txn.get(epoch_key(shard), db=self._dbs["meta"])
            epoch = 0 if raw is None else int(U64.unpack(raw)[0])
            group.epochs[shard] = epoch
        return epoch

    # --------------------------------------------------------------- keyring

    def _raw_keyring(self, txn: lmdb.Transaction) -> bytes:
        raw = txn.get(KEYRING_KEY, db=self._dbs["meta"])
        if raw is None:
            raise KeyConfigError("the store's keyring record is missing")
        return bytes(raw)

    def _install_keyring(self, keyring: Keyring, blob: bytes) -> None:
        self._keyring_blob = blob
        self._codec.keyring = keyring

    def _refresh_keyring(self, txn: lmdb.Transaction) -> None:
        """Pick up a keyring changed by another process (a rotation)."""
        blob = self._raw_keyring(txn)
        if blob != self._keyring_blob:
            try:
                self._install_keyring(Keyring.unwrap(blob, self._master), blob)
            except KeyConfigError:
                log.error("the store's keyring was re-wrapped under another master key; restart with that key")
                self._keyring_blob = blob

    def _reload_keyring(self) -> Keyring | None:
        """Codec callback: a record names a key id we do not have."""
        with self._env.begin() as txn:
            blob = self._raw_keyring(txn)
        try:
            keyring = Keyring.unwrap(blob, self._master)
        except KeyConfigError:
            return None
        self._keyring_blob = blob
        return keyring

    # ----------------------------------------------------------------- reads

    def _read(self, database: str, key: bytes, actor_id: str | None) -> Any:
        try:
            with self._env.begin() as txn:
                blob = txn.get(key, db=self._dbs[database])
        except lmdb.Error as exc:
            raise_store_error(exc, f"cannot read {database}")
        if blob is None:
            return None
        return self._codec.decode(database, key, blob, actor_id=actor_id)

    def _scan(
        self, database: str, start: bytes, prefix: bytes, limit: int, skip: bytes | None = None
    ) -> list[tuple[bytes, Any]]:
        out: list[tuple[bytes, Any]] = []
        if limit <= 0:
            return out
        decode = self._codec.decode
        try:
            with self._env.begin() as txn, txn.cursor(db=self._dbs[database]) as cursor:
                if not cursor.set_range(start):
                    return out
                for key, blob in cursor:
                    if not key.startswith(prefix):
                        break
                    if key == skip:
                        continue
                    out.append((key, decode(database, key, blob, actor_id=actor_of_key(database, key))))
                    if len(out) >= limit:
                        break
        except lmdb.Error as exc:
            raise_store_error(exc, f"cannot scan {database}")
        return out

    def _floor(self, database: str, key: bytes, prefix: bytes) -> Any | None:
        """The value of the greatest key at or before ``key`` that starts
        with ``prefix``, or ``None``."""
        try:
            with self._env.begin() as txn, txn.cursor(db=self._dbs[database]) as cursor:
                if cursor.set_range(key):
                    if cursor.key() != key and not cursor.prev():
                        return None
                elif not cursor.last():
                    return None
                found, blob = cursor.item()
        except lmdb.Error as exc:
            raise_store_error(exc, f"cannot read {database}")
        if not found.startswith(prefix):
            return None
        return self._codec.decode(database, found, blob, actor_id=actor_of_key(database, found))

    async def _scan_async(
        self, database: str, start: bytes, prefix: bytes, limit: int, skip: bytes | None = None
    ) -> list[tuple[bytes, Any]]:
        if limit <= _INLINE_SCAN_LIMIT:
            await trio.lowlevel.checkpoint()
            return self._scan(database, start, prefix, limit, skip)
        return await trio.to_thread.run_sync(self._scan, database, start, prefix, limit, skip)

    def _load_shard(self, shard: int, epoch: int, tail_after: Callable[[str, Any], int | None] | None = None) -> ShardLoad:
        prefix = shard.to_bytes(2, "big")
        bad: list[BadRecord] = []
        tables: dict[str, list[tuple[tuple[Any, ...], Any]]] = {}
        with self._env.begin() as txn:
            for database in ("actors", "traces", "timers", "idempotency", "cursors"):
                rows: list[tuple[tuple[Any, ...], Any]] = []
                with txn.cursor(db=self._dbs[database]) as cursor:
                    if cursor.set_range(prefix):
                        for key, blob in cursor:
                            if not key.startswith(prefix):
                                break
                            actor_id = actor_of_key(database, key)
                            try:
                                parts = decode_shard_key(database, key)[1]
                            except ValueError as exc:
                                bad.append(BadRecord(database, key, None, f"key does not match the layout: {exc}"))
                                continue
                            try:
                                rows.append((parts, self._codec.decode(database, key, blob, actor_id=actor_id)))
                            except CorruptRecordError as exc:
                                bad.append(BadRecord(database, key, actor_id, exc.reason))
                tables[database] = rows
            tails: list[tuple[str, int, Any]] = []
            if tail_after is not None:
                with txn.cursor(db=self._dbs["events"]) as cursor:
                    for parts, value in tables["actors"]:
                        self._read_tail(cursor, shard, parts[0], tail_after(parts[0], value), tails, bad)
        for record in bad:
            log.error("quarantined %s/%s (actor %r): %s", record.database, record.key.hex(), record.actor_id, record.reason)
        held = {b.actor_id for b in bad if b.actor_id is not None}
        return ShardLoad(
            shard,
            epoch,
            actors=tuple((parts[0], value) for parts, value in tables["actors"] if parts[0] not in held),
            traces=tuple((parts[0], parts[1], value) for parts, value in tables["traces"] if parts[0] not in held),
            timers=tuple((parts[0], parts[1], value) for parts, value in tables["timers"] if parts[0] not in held),
            idempotency=tuple(
                (parts[0], parts[1], value) for parts, value in tables["idempotency"] if parts[0] not in held
            ),
            cursors=tuple((parts[0], value) for parts, value in tables["cursors"]),
            quarantined=tuple(bad),
            tails=tuple(t for t in tails if t[0] not in held),
        )

    def _read_tail(
        self,
        cursor: lmdb.Cursor,
        shard: int,
        actor_id: str,
        after: int | None,
        tails: list[tuple[str, int, Any]],
        bad: list[BadRecord],
    ) -> None:
        """Append the actor's events with seq > ``after`` (none if ``after`` is None)."""
        if after is None:
            return
        start, _ = encode_shard_key("events", shard, (actor_id, after + 1), self._shard_count)
        actor_prefix = start[:-8]  # the key without its seq
        if not cursor.set_range(start):
            return
        for raw_key, raw_blob in cursor:
            key, blob = bytes(raw_key), bytes(raw_blob)
            if not key.startswith(actor_prefix) or len(key) != len(start):
                break
            seq = decode_shard_key("events", key)[1][1]
            try:
                tails.append((actor_id, seq, self._codec.decode("events", key, blob, actor_id=actor_id)))
            except CorruptRecordError as exc:
                bad.append(BadRecord("events", key, actor_id, exc.reason))

    # ------------------------------------------------------------ operations

    def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Decode every record of every database (blocking).

        Checks each key against the layout (shard in range, actor on the
        right shard) and each value against its envelope, plus the store's
        own records.  Runs in one read transaction: a consistent snapshot,
        concurrent writers are not blocked.

        Args:
            progress: called now and then with (records checked, total).
        """
        counts: dict[str, int] = {}
        bad: list[BadRecord] = []
        with self._env.begin() as txn:
            total = sum(txn.stat(self._dbs[database])["entries"] for database in ALL_DATABASES)
            done = 0
            for database in ALL_DATABASES:
                n = 0
                with txn.cursor(db=self._dbs[database]) as cursor:
                    for key, blob in cursor:
                        n += 1
                        problem = self._check(database, key, blob)
                        if problem is not None:
                            bad.append(problem)
                        if progress is not None and (done + n) % 1000 == 0:
                            progress(done + n, total)
                counts[database] = n
                done += n
            if progress is not None:
                progress(done, total)
        return VerifyReport(counts, tuple(bad))

    def _check(self, database: str, key: bytes, blob: bytes) -> BadRecord | None:
        actor_id = actor_of_key(database, key)

        def problem(reason: str) -> BadRecord:
            return BadRecord(database, key, actor_id, reason)

        if database == "meta" and key.startswith(META_STORE_PREFIX):
            return self._check_store_record(key, blob)
        try:
            if database in SHARD_TABLES:
                shard, parts = decode_shard_key(database, key)
                if shard >= self._shard_count:
                    return problem(f"shard {shard} is out of range")
                if actor_id is not None and shard_of(actor_id, self._shard_count) != shard:
                    return problem(f"actor {actor_id!r} does not belong to shard {shard}")
            else:
                decode_meta_key(database, key)
        except ValueError as exc:
            return problem(f"key does not match the layout of {database}: {exc}")
        try:
            self._codec.decode(database, key, blob, actor_id=actor_id)
        except CorruptRecordError as exc:
            return problem(exc.reason)
        return None

    def _check_store_record(self, key: bytes, blob: bytes) -> BadRecord | None:
        def problem(reason: str) -> BadRecord:
            return BadRecord("meta", key, None, reason)

        if key == FORMAT_KEY:
            ok = len(blob) == 4 and U32.unpack(blob)[0] == CURRENT_FORMAT
            return None if ok else problem("format record is not the current format")
        if key == SHARDS_KEY:
            ok = len(blob) == 4 and U32.unpack(blob)[0] == self._shard_count
            return None if ok else problem("shard count record changed")
        if key == KEYRING_KEY:
            try:
                Keyring.unwrap(blob, self._master)
            except KeyConfigError as exc:
                return problem(str(exc))
            return None
        if key.startswith(_EPOCH_PREFIX) and len(key) == len(_EPOCH_PREFIX) + 2:
            shard = int.from_bytes(key[-2:], "big")
            if shard >= self._shard_count or len(blob) != 8:
                return problem("bad epoch record")
            return None
        return problem("unknown store record")

    def backup(self, dest: str | os.PathLike[str]) -> _backup.BackupInfo:
        """Write a consistent, compacted copy of the store to directory ``dest``
        while writers continue (blocking).

        The copy is of one read snapshot, so it holds every commit that
        returned before this was called.  It contains no secret: the master
        key stays outside the data directory and the keyring is wrapped.

        Raises:
            StoreError: ``dest`` exists and is not empty, or the copy failed.
        """
        return _backup.copy_environment(self._env, Path(dest))

    # ---------------------------------------------------------------- helpers

    def _shard_key(self, table: str, shard: int, key: object) -> tuple[bytes, str | None]:
        if table not in SHARD_TABLES:
            raise ValueError(f"{table!r} is not a shard table (one of {sorted(SHARD_TABLES)})")
        return encode_shard_key(table, shard, key, self._shard_count)


class LmdbShardStore(ShardHandle):
    """One shard of an :class:`LmdbStore`, held at one epoch."""

    __slots__ = ("_store",)

    def __init__(self, store: LmdbStore, shard: int, epoch: int) -> None:
        super().__init__(shard, epoch, store.shard_count)
        self._store = store

    async def load(self, *, tail_after: Callable[[str, Any], int | None] | None = None) -> ShardLoad:
        """Everything needed to resume the shard (see ``ShardStore.load``)."""
        return await trio.to_thread.run_sync(self._store._load_shard, self._shard, self._epoch, tail_after)

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in shard table ``table``, or ``None``."""
        raw, actor_id = self._store._shard_key(table, self._shard, key)
        await trio.lowlevel.checkpoint()
        return self._store._read(table, raw, actor_id)

    async def scan_actor(self, table: str, actor_id: str, *, start: int = 0, limit: int = 100) -> list[tuple[int, Any]]:
        """One actor's ``events`` or ``decisions``, ascending from ``start``."""
        if table not in ("events", "decisions"):
            raise ValueError(f"scan_actor() reads events or decisions, not {table!r}")
        first, _ = self._store._shard_key(table, self._shard, (actor_id, start))
        prefix = actor_prefix(self._shard, actor_id)
        rows = await self._store._scan_async(table, first, prefix, limit)
        return [(int(U64.unpack(key[-8:])[0]), value) for key, value in rows]


    async def deployment_pages(self, ordinal: int) -> list[tuple[str, Any]]:
        """This shard's pages of deployment ``ordinal`` (see ``ShardStore.deployment_pages``)."""
        prefix = deployment_shard_prefix(ordinal, self._shard)
        rows = await self._store._scan_async("deployment_decisions", prefix, prefix, 1 << 62)
        return [(decode_shard_key("deployment_decisions", key)[1][1], value) for key, value in rows]

    async def decision_page(self, ordinal: int, actor_id: str) -> Any | None:
        """The page of deployment ``ordinal`` that would hold ``actor_id``
        (see ``ShardStore.decision_page``)."""
        key, _ = self._store._shard_key("deployment_decisions", self._shard, (ordinal, actor_id))
        await trio.lowlevel.checkpoint()
        return self._store._floor("deployment_decisions", key, deployment_shard_prefix(ordinal, self._shard))

class LmdbMetaStore:
    """Metadata reads of an :class:`LmdbStore`."""

    __slots__ = ("_store",)

    def __init__(self, store: LmdbStore) -> None:
        self._store = store

    def batch(self) -> MetaBatch:
        """A new, empty metadata batch."""
        return MetaBatch()

    async def get(self, table: str, key: object) -> Any | None:
        """The value at ``key`` in ``table``, or ``None``."""
        raw = encode_meta_key(table, key)
        await trio.lowlevel.checkpoint()
        return self._store._read(table, raw, None)

    async def scan(self, table: str, *, start: object = None, limit: int = 100) -> list[tuple[Any, Any]]:
        """``(key, value)`` pairs of ``table`` in key order (see ``MetaStore.scan``)."""
        if table not in ("versions", "deployments", "api_keys", "meta"):
            raise ValueError(f"{table!r} is not a metadata table")
        prefix = META_APP_PREFIX if table == "meta" else b""
        first = encode_meta_key(table, start) if start is not None else prefix
        rows = await self._store._scan_async(table, first, prefix, limit)
        return [(decode_meta_key(table, key), value) for key, value in rows]

    async def deployment_decisions(
        self, ordinal: int, *, after: str | None = None, limit: int = 100
    ) -> list[tuple[str, Any]]:
        """Decisions of deployment ``ordinal`` (see ``MetaStore.deployment_decisions``)."""
        prefix = U64.pack(ordinal)
        if after is None:
            first, skip = prefix, None
        else:
            shard = shard_of(after, self._store.shard_count)
            first = encode_shard_key("deployment_decisions", shard, (ordinal, after), self._store.shard_count)[0]
            skip = first
        rows = await self._store._scan_async("deployment_decisions", first, prefix, limit, skip)
        return [(decode_shard_key("deployment_decisions", key)[1][1], value) for key, value in rows]

    async def deployment_cursors(self, ordinal: int) -> dict[int, Any]:
        """``{shard: cursor}`` for deployment ``ordinal``."""

        def read() -> dict[int, Any]:
            out: dict[int, Any] = {}
            for shard in range(self._store.shard_count):
                raw = encode_shard_key("cursors", shard, (ordinal,), self._store.shard_count)[0]
                value = self._store._read("cursors", raw, None)
                if value is not None:
                    out[shard] = value
            return out

        return await trio.to_thread.run_sync(read)


def _has_named_databases(txn: lmdb.Transaction) -> bool:
    with txn.cursor() as cursor:  # the main database lists the named ones
        return bool(cursor.first())


def _group_error(exc: BaseException) -> StoreError:
    if isinstance(exc, lmdb.MapFullError):
        error: StoreError = StoreFullError(
            "the LMDB map is full; raise store.map_size and restart (nothing of this commit was written)"
        )
    elif isinstance(exc, StoreError):
        error = type(exc)(*exc.args) if type(exc) in (StoreError, StoreFullError) else StoreError(str(exc))
    else:
        error = StoreError(f"the write transaction failed, nothing of this commit was written: {exc!r}")
    error.__cause__ = exc
    return error
