"""Hot backups, restore and the backup schedule (skruntime/store/_backup.py)."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import orjson
import pytest
import trio

from skruntime import FormatVersionError, StoreError
from skruntime._config import BackupConfig
from skruntime.store import LmdbStore, backup, restore, run_backup_schedule, shard_of
from skruntime.store._backup import prune_backups
from skruntime.store._env import CURRENT_FORMAT

from .conftest import SHARDS, make_config, raw_env


async def test_hot_backup_while_writing(config, tmp_path):
    """A backup taken while writers run holds every write acknowledged before
    it began, restores, and verifies clean."""
    store = LmdbStore.open(config)
    acked: list[str] = []
    try:
        async with store.running():
            shards = [await store.acquire(s, 1) for s in range(SHARDS)]
            stop = trio.Event()

            async def writer(w: int) -> None:
                n = 0
                while not stop.is_set():
                    actor = f"w{w}-{n}"
                    batch = shards[shard_of(actor, SHARDS)].batch()
                    batch.put("actors", actor, {"w": w, "n": n, "pad": "x" * 300})
                    batch.put("events", (actor, 1), {"type": "CREATED"})
                    await store.commit(batch)
                    acked.append(actor)
                    n += 1

            async with trio.open_nursery() as nursery:
                for w in range(8):
                    nursery.start_soon(writer, w)
                while len(acked) < 400:
                    await trio.sleep(0.005)
                before = list(acked)
                info = await trio.to_thread.run_sync(store.backup, tmp_path / "backup")
                during = len(acked) - len(before)
                while len(acked) < len(before) + during + 200:  # keep writing after it, too
                    await trio.sleep(0.005)
                stop.set()
    finally:
        store.close()

    assert during > 0, "no write happened during the backup; the test proves nothing"
    assert info.format == CURRENT_FORMAT and info.shard_count == SHARDS and info.size > 0
    manifest = orjson.loads((tmp_path / "backup" / "BACKUP.json").read_bytes())
    assert manifest["format"] == CURRENT_FORMAT and manifest["shards"] == SHARDS
    assert stat.S_IMODE((tmp_path / "backup" / "data.mdb").stat().st_mode) == 0o600

    restored_root = tmp_path / "restored"
    restore(tmp_path / "backup", restored_root / "data")
    store = LmdbStore.open(make_config(restored_root))
    try:
        report = store.verify()
        assert report.clean
        async with store.running():
            shards = [await store.acquire(s, 1) for s in range(SHARDS)]
            for actor in before:
                value = await shards[shard_of(actor, SHARDS)].get("actors", actor)
                assert value is not None and value["pad"] == "x" * 300, actor
        assert report.counts["actors"] >= len(before)
    finally:
        store.close()


async def test_backup_by_directory_needs_no_key(config, tmp_path):
    store = LmdbStore.open(config)
    async with store.running():
        shard = await store.acquire(shard_of("a", SHARDS), 1)
        batch = shard.batch()
        batch.put("actors", "a", {"v": 1})
        await store.commit(batch)
    store.close()  # one process opens an environment once; the CLI test backs up a live store
    info = backup(config.store.data_dir, tmp_path / "b1")
    assert info.path == tmp_path / "b1"
    with pytest.raises(StoreError, match="not an empty directory"):
        backup(config.store.data_dir, tmp_path / "b1")
    with pytest.raises(StoreError, match="no store"):
        backup(tmp_path / "nowhere", tmp_path / "b2")
    assert not any(p.name.startswith(".b2") for p in tmp_path.iterdir())


def test_restore_refuses_a_non_empty_data_dir(config, tmp_path):
    LmdbStore.open(config).close()
    backup(config.store.data_dir, tmp_path / "b")
    with pytest.raises(StoreError, match="not empty; pass --force"):
        restore(tmp_path / "b", config.store.data_dir)
    info = restore(tmp_path / "b", config.store.data_dir, force=True)
    assert info.format == CURRENT_FORMAT
    assert sorted(p.name for p in Path(config.store.data_dir).iterdir()) == ["data.mdb"]
    store = LmdbStore.open(config)
    try:
        assert store.verify().clean
    finally:
        store.close()


def test_restore_checks_the_source(config, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a backup"):
        restore(tmp_path / "empty", tmp_path / "target")
    LmdbStore.open(config).close()
    backup(config.store.data_dir, tmp_path / "b")
    env = raw_env(tmp_path / "b")
    with env.begin(write=True) as txn:
        txn.put(b"skr:format", (9).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    (tmp_path / "b" / "lock.mdb").unlink(missing_ok=True)
    with pytest.raises(FormatVersionError):
        restore(tmp_path / "b", tmp_path / "target")
    assert not (tmp_path / "target").exists()


def test_prune_keeps_the_newest_and_ignores_strangers(tmp_path):
    names = [f"skruntime-backup-2025010{d}T000000.000000Z" for d in range(1, 6)]
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "BACKUP.json").write_text("{}")
    (tmp_path / "skruntime-backup-manual").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    removed = prune_backups(tmp_path, keep=2)
    assert [p.name for p in removed] == names[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[3:], "skruntime-backup-manual", "notes.txt"])


async def test_the_schedule_backs_up_and_prunes(config, tmp_path, autojump_clock):
    store = LmdbStore.open(config)
    ticks = iter(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=h) for h in range(100))
    taken = []
    done = trio.Event()

    def on_backup(info):
        taken.append(info)
        if len(taken) == 5:
            done.set()

    schedule = BackupConfig(interval=3600.0, dir=str(tmp_path / "backups"), keep=3)
    start = trio.current_time()
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: run_backup_schedule(
                    store, schedule, now=lambda: next(ticks), on_backup=on_backup, task_status=task_status
                )
            )
            await done.wait()
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    assert trio.current_time() - start >= 5 * 3600
    kept = sorted(p.name for p in (tmp_path / "backups").iterdir())
    assert kept == [
        "skruntime-backup-20250101T020000.000000Z",
        "skruntime-backup-20250101T030000.000000Z",
        "skruntime-backup-20250101T040000.000000Z",
    ]


async def test_a_disabled_schedule_returns(config):
    store = LmdbStore.open(config)
    try:
        with trio.fail_after(1):
            await run_backup_schedule(store, BackupConfig(interval=0.0))
    finally:
        store.close()
