"""Hot backups, restore, and the periodic backup schedule.

A backup is a directory holding ``data.mdb`` (a compacted copy of one read
snapshot of the environment, made with LMDB's copy function while writers
continue) and ``BACKUP.json`` (format, shard count, time; nothing secret).
It is written under a temporary name, fsynced, then renamed into place, so a
directory with the final name is always complete.  The master key is never
in it: the key file lives outside the data directory and the keyring record
is wrapped under the master key, so a backup is useless without the key.

Restore copies a backup's ``data.mdb`` into a data directory (refusing a
non-empty one unless forced) after checking that its format is one this
skruntime can open.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import lmdb
import orjson
import trio

from .._config import BackupConfig
from .._exceptions import FormatVersionError, StoreError
from ._env import CURRENT_FORMAT, open_environment, raise_store_error, read_header

__all__ = [
    "BackupInfo",
    "backup",
    "copy_environment",
    "prune_backups",
    "restore",
    "run_backup_schedule",
]

log = logging.getLogger("skruntime.store")

MANIFEST: Final = "BACKUP.json"
_DATA_FILE: Final = "data.mdb"
_LOCK_FILE: Final = "lock.mdb"
_SCHEDULED_PREFIX: Final = "skruntime-backup-"
_SCHEDULED_NAME: Final = re.compile(r"^skruntime-backup-\d{8}T\d{6}\.\d{6}Z$")


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A backup (as written, or as found by restore).

    Attributes:
        path: the backup directory.
        format: the store format of the copy.
        shard_count: the store's shard count.
        created: when the copy's snapshot was taken (UTC, ISO 8601).
        size: bytes of ``data.mdb``.
    """

    path: Path
    format: int
    shard_count: int
    created: str
    size: int


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_empty_target(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"backup destination {dest} exists and is not an empty directory")


def copy_environment(env: lmdb.Environment, dest: Path, *, now: Callable[[], dt.datetime] = _utcnow) -> BackupInfo:
    """Copy an open store environment to the new directory ``dest``.

    Raises:
        StoreError: ``dest`` is not free, or the copy failed.
    """
    dest = Path(dest)
    _check_empty_target(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir(mode=0o700)
    try:
        with env.begin() as txn:
            fmt, shards = read_header(env, txn)
            if fmt is None or shards is None:
                raise StoreError("the environment holds no skruntime store")
            created = now().astimezone(dt.timezone.utc).isoformat()
            try:
                env.copy(str(partial), compact=True, txn=txn)
            except lmdb.Error as exc:
                raise_store_error(exc, f"backup to {dest} failed")
        data = partial / _DATA_FILE
        os.chmod(data, 0o600)
        _fsync_path(data)
        manifest = {"format": fmt, "shards": shards, "created": created, "kind": "skruntime-backup"}
        (partial / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n")
        _fsync_path(partial / MANIFEST)
        _fsync_path(partial)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.rename(partial, dest)
        _fsync_path(dest.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupInfo(dest, fmt, shards, created, (dest / _DATA_FILE).stat().st_size)


def backup(data_dir: str | os.PathLike[str], dest: str | os.PathLike[str]) -> BackupInfo:
    """Hot backup of the store in ``data_dir`` (no master key needed).

    Safe while a server writes to the same directory (LMDB readers do not
    block writers).  Blocking.

    Raises:
        StoreError: no store in ``data_dir``, ``dest`` not free, copy failed.
    """
    path = Path(data_dir)
    if not (path / _DATA_FILE).is_file():
        raise StoreError(f"no store in {path}")
    env = open_environment(path, map_size=1 << 20, create=False)
    try:
        return copy_environment(env, Path(dest))
    finally:
        env.close()


def _inspect(src: Path) -> BackupInfo:
    if not (src / _DATA_FILE).is_file():
        raise StoreError(f"{src} is not a backup: it has no {_DATA_FILE}")
    env = open_environment(src, map_size=1 << 20, readonly=True, lock=False, create=False)
    try:
        with env.begin() as txn:
            fmt, shards = read_header(env, txn)
    finally:
        env.close()
    if fmt is None or shards is None:
        raise StoreError(f"{src} is not a skruntime backup (no format record)")
    if fmt > CURRENT_FORMAT:
        raise FormatVersionError(
            f"the backup in {src} has format {fmt}, newer than this skruntime's format {CURRENT_FORMAT}"
        )
    created = ""
    try:
        created = str(orjson.loads((src / MANIFEST).read_bytes()).get("created", ""))
    except (OSError, orjson.JSONDecodeError, AttributeError):
        pass  # the manifest is informative; data.mdb is the backup
    return BackupInfo(src, fmt, shards, created, (src / _DATA_FILE).stat().st_size)


def restore(src: str | os.PathLike[str], data_dir: str | os.PathLike[str], *, force: bool = False) -> BackupInfo:
    """Copy the backup in ``src`` into ``data_dir`` (blocking).

    Stop the server that uses ``data_dir`` first.  The restored store opens
    with the master key it was backed up under.

    Args:
        src: a backup directory.
        data_dir: the data directory to restore into.
        force: replace the store already in ``data_dir``; without it a
            non-empty ``data_dir`` is refused.

    Raises:
        StoreError: ``src`` is not a backup, or ``data_dir`` is not empty.
        FormatVersionError: the backup is from a newer skruntime.
    """
    source = Path(src)
    target = Path(data_dir)
    info = _inspect(source)
    if target.exists() and any(target.iterdir()) and not force:
        raise StoreError(f"{target} is not empty; pass --force to replace the store in it")
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = target / f".{_DATA_FILE}.restoring-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copyfile(source / _DATA_FILE, tmp)
        os.chmod(tmp, 0o600)
        _fsync_path(tmp)
        (target / _LOCK_FILE).unlink(missing_ok=True)
        os.replace(tmp, target / _DATA_FILE)
        _fsync_path(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.warning("restored %s into %s (format %d, %d shards)", source, target, info.format, info.shard_count)
    return info


def prune_backups(directory: str | os.PathLike[str], keep: int) -> list[Path]:
    """Delete scheduled backups in ``directory`` beyond the newest ``keep``.

    Only directories named like the scheduler's (``skruntime-backup-<UTC
    time>``) that hold a manifest are considered; anything else is left
    alone.  Returns the removed paths.
    """
    path = Path(directory)
    ours = sorted(
        p for p in path.iterdir() if p.is_dir() and _SCHEDULED_NAME.match(p.name) and (p / MANIFEST).is_file()
    )
    doomed = ours[:-keep] if keep > 0 else ours
    for old in doomed:
        shutil.rmtree(old)
    return doomed


class _Backuper(Protocol):  # the part of LmdbStore the scheduler needs
    def backup(self, dest: str | os.PathLike[str]) -> BackupInfo: ...


async def run_backup_schedule(
    store: _Backuper,
    config: BackupConfig,
    *,
    now: Callable[[], dt.datetime] = _utcnow,
    on_backup: Callable[[BackupInfo], object] | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Take a hot backup every ``config.interval`` seconds, keeping ``config.keep``.

    Run it in the server's nursery (``await nursery.start(run_backup_schedule,
    store, config.backup)``); it runs until cancelled and returns at once if
    the interval is 0 (disabled).  Backups go to ``config.dir`` as
    ``skruntime-backup-<UTC time>``; a failed backup is logged and retried at
    the next interval.  Timing uses trio's clock (tests use ``MockClock``).

    Args:
        store: the open store (its :meth:`~LmdbStore.backup` is called in a
            worker thread).
        config: the ``[backup]`` configuration.
        now: the wall clock used to name backups (injectable for tests).
        on_backup: called on the event loop after each backup and pruning.
    """
    if config.interval <= 0:
        task_status.started()
        return
    directory = Path(config.dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    task_status.started()
    deadline = trio.current_time() + config.interval
    while True:
        await trio.sleep_until(deadline)
        deadline = max(deadline + config.interval, trio.current_time())
        stamp = now().astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = directory / f"{_SCHEDULED_PREFIX}{stamp}"
        try:
            info = await trio.to_thread.run_sync(store.backup, dest)
            removed = await trio.to_thread.run_sync(prune_backups, directory, config.keep)
        except (StoreError, OSError) as exc:
            log.error("scheduled backup to %s failed: %s", dest, exc)
            continue
        log.info("scheduled backup %s (%d bytes); pruned %d old", dest, info.size, len(removed))
        if on_backup is not None:
            on_backup(info)
