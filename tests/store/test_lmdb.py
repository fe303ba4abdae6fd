"""The LMDB store (skruntime/store/_lmdb.py): what only a real disk shows."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import orjson
import pytest
import trio

from skruntime import (
    CorruptRecordError,
    DecryptionError,
    Fenced,
    FormatVersionError,
    KeyConfigError,
    StoreError,
    StoreFullError,
)
from skruntime.store import LmdbStore, MetaBatch, create_key_file, read_key_file, shard_of
from skruntime.store._codec import record_key_id
from skruntime.store._env import CURRENT_FORMAT
from skruntime.store._keys import encode_shard_key, epoch_key

from .conftest import SHARDS, flip_byte, make_config, raw_env
from .test_contract import actors_of


async def fill(store: LmdbStore, actors: list[str], *, epoch: int = 1) -> None:
    """Give each actor a snapshot, two events and a timer."""
    shards = {}
    for actor in actors:
        shard = shard_of(actor, SHARDS)
        if shard not in shards:
            shards[shard] = await store.acquire(shard, epoch)
        batch = shards[shard].batch()
        batch.put("actors", actor, {"id": actor, "context": {"n": len(actor)}})
        batch.put("events", (actor, 1), {"type": "A"})
        batch.put("events", (actor, 2), {"type": "B"})
        batch.put("timers", (actor, "t"), {"fireAt": 1})
        await store.commit(batch)


async def test_commits_survive_a_reopen(config):
    actors = [f"loan-{i}" for i in range(30)]
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, actors)
        meta = MetaBatch()
        meta.put("versions", "loan-v1", {"definition": {"id": "loan"}})
        await store.commit(meta)
    store.close()
    store = LmdbStore.open(config)
    try:
        async with store.running():
            shard = await store.acquire(shard_of("loan-7", SHARDS), 1)
            assert await shard.get("actors", "loan-7") == {"id": "loan-7", "context": {"n": 6}}
            assert [seq for seq, _ in await shard.scan_actor("events", "loan-7")] == [1, 2]
            assert await store.meta.get("versions", "loan-v1") == {"definition": {"id": "loan"}}
        report = store.verify()
        assert report.clean
        assert report.counts["actors"] == 30 and report.counts["events"] == 60
    finally:
        store.close()


async def test_epochs_are_durable(config):
    store = LmdbStore.open(config)
    async with store.running():
        await store.acquire(4, 7)
    store.close()
    store = LmdbStore.open(config)
    try:
        async with store.running():
            with pytest.raises(Fenced) as info:
                await store.acquire(4, 6)
            assert info.value.current == 7
    finally:
        store.close()


async def test_shard_count_is_fixed_at_creation(tmp_path):
    LmdbStore.open(make_config(tmp_path, shards=8)).close()
    store = LmdbStore.open(make_config(tmp_path, shards=64))
    try:
        assert store.shard_count == 8
    finally:
        store.close()


def _rewrite_as_format_0(data_dir: str, epochs: list[int]) -> None:
    """Turn a store into the (never shipped) format 0: the epochs live in
    one JSON list under skr:epochs instead of one record per shard."""
    env = raw_env(data_dir)
    try:
        meta = env.open_db(b"meta")
        with env.begin(write=True) as txn:
            txn.put(b"skr:format", (0).to_bytes(4, "big"), db=meta)
            for shard in range(SHARDS):
                txn.delete(epoch_key(shard), db=meta)
            txn.put(b"skr:epochs", orjson.dumps(epochs), db=meta)
    finally:
        env.close()


async def test_an_older_format_is_upgraded_in_place(config, caplog):
    data_dir = config.store.data_dir
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, ["alice", "bob"], epoch=3)
    store.close()
    epochs = [0] * SHARDS
    epochs[shard_of("alice", SHARDS)] = 3
    epochs[shard_of("bob", SHARDS)] = 3
    _rewrite_as_format_0(data_dir, epochs)

    store = LmdbStore.open(config)
    try:
        assert "upgraded the store" in caplog.text
        async with store.running():
            with pytest.raises(Fenced):  # the epochs came across
                await store.acquire(shard_of("alice", SHARDS), 2)
            shard = await store.acquire(shard_of("alice", SHARDS), 3)
            alice = await shard.get("actors", "alice")
            assert alice is not None and alice["id"] == "alice"
        assert store.verify().clean  # skr:epochs is gone, the format record is current
    finally:
        store.close()
    env = raw_env(data_dir)
    with env.begin() as txn:
        meta = env.open_db(b"meta", txn=txn, create=False)
        assert txn.get(b"skr:format", db=meta) == CURRENT_FORMAT.to_bytes(4, "big")
        assert txn.get(b"skr:epochs", db=meta) is None
    env.close()


def test_a_newer_format_is_refused(config):
    LmdbStore.open(config).close()
    env = raw_env(config.store.data_dir)
    with env.begin(write=True) as txn:
        txn.put(b"skr:format", (CURRENT_FORMAT + 1).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    newer = f"format {CURRENT_FORMAT + 1}, newer than this skruntime's format {CURRENT_FORMAT}"
    with pytest.raises(FormatVersionError, match=newer):
        LmdbStore.open(config)


def test_a_foreign_lmdb_environment_is_refused(config):
    env = raw_env(config.store.data_dir)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=env.open_db(b"something", txn=txn))
    env.close()
    with pytest.raises(StoreError, match="not a skruntime store"):
        LmdbStore.open(config)


def test_open_without_create(config):
    with pytest.raises(StoreError, match="there is no store"):
        LmdbStore.open(config, create=False)


async def test_a_tampered_record_quarantines_only_its_actor(config):
    actors = actors_of(2, 6, prefix="q")
    victim = actors[3]
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, actors)
    store.close()
    key, _ = encode_shard_key("actors", 2, victim, SHARDS)
    flip_byte(config.store.data_dir, "actors", key)

    store = LmdbStore.open(config)
    try:
        async with store.running():
            shard = await store.acquire(2, 1)
            loaded = await shard.load()
            assert loaded.quarantined_actors == {victim}
            (bad,) = loaded.quarantined
            assert (bad.database, bad.key, bad.actor_id) == ("actors", key, victim)
            assert "tag does not verify" in bad.reason
            assert sorted(a for a, _ in loaded.actors) == sorted(set(actors) - {victim})
            assert {a for a, _, _ in loaded.timers} == set(actors) - {victim}  # all of the victim is held back
            with pytest.raises(DecryptionError) as info:
                await shard.get("actors", victim)
            assert info.value.actor_id == victim
            assert await shard.scan_actor("events", victim) != []  # its other records still read
        report = store.verify()
        assert [(b.database, b.actor_id) for b in report.bad] == [("actors", victim)]
    finally:
        store.close()


async def test_verify_checks_keys_and_store_records(config):
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, ["alice"])
    store.close()
    env = raw_env(config.store.data_dir)
    with env.begin(write=True) as txn:
        actors = env.open_db(b"actors", txn=txn)
        meta = env.open_db(b"meta", txn=txn)
        good_key, _ = encode_shard_key("actors", shard_of("alice", SHARDS), "alice", SHARDS)
        blob = txn.get(good_key, db=actors)
        assert blob is not None
        bob_key, _ = encode_shard_key("actors", shard_of("bob", SHARDS), "bob", SHARDS)
        txn.put(bob_key, blob, db=actors)  # alice's record copied under bob's key
        txn.put(b"\xff", b"junk", db=actors)  # not the layout
        txn.put(b"skr:mystery", b"?", db=meta)
        txn.put(b"app:x", b"\x01" + b"\x00" * 40, db=meta)
    env.close()
    store = LmdbStore.open(config)
    try:
        report = store.verify()
    finally:
        store.close()
    reasons = {(b.database, b.key): b.reason for b in report.bad}
    bob_key, _ = encode_shard_key("actors", shard_of("bob", SHARDS), "bob", SHARDS)
    assert "tag does not verify" in reasons[("actors", bob_key)]
    assert "layout" in reasons[("actors", b"\xff")]
    assert reasons[("meta", b"skr:mystery")] == "unknown store record"
    assert ("meta", b"app:x") in reasons
    assert not report.clean and report.to_json()["clean"] is False
    assert report.to_json()["bad"][0]["key"]  # hex, JSON-able


async def test_rotation_and_reencryption(config):
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, [f"r{i}" for i in range(20)])
        meta = MetaBatch()
        meta.put("meta", "counter", 1)
        await store.commit(meta)
        assert await store.rotate() == 2
        await fill(store, ["after-rotation"])
        assert store.key_ids == (2, 2)
    store.close()

    def key_ids() -> dict[int, int]:
        env = raw_env(config.store.data_dir)
        counts: dict[int, int] = {}
        with env.begin() as txn:
            for name in (b"actors", b"events", b"timers", b"meta"):
                for key, blob in txn.cursor(db=env.open_db(name, txn=txn, create=False)):
                    key_id = record_key_id(blob)
                    if not key.startswith(b"skr:") and key_id is not None:
                        counts[key_id] = counts.get(key_id, 0) + 1
        env.close()
        return counts

    assert key_ids() == {1: 81, 2: 4}
    store = LmdbStore.open(config)  # the new key id survives a restart
    try:
        async with store.running():
            assert store.key_ids == (2, 2)
            shard = await store.acquire(shard_of("r3", SHARDS), 1)
            r3 = await shard.get("actors", "r3")
            assert r3 is not None and r3["id"] == "r3"  # old records read
            assert await store.reencrypt(batch_records=7) == 81
            assert await store.reencrypt() == 0
        assert store.verify().clean
    finally:
        store.close()
    assert key_ids() == {2: 85}


async def test_rewrap_changes_the_master_key(tmp_path, config):
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, ["alice"])
        new_master = create_key_file(tmp_path / "new.key")
        await store.rewrap(new_master)
        await fill(store, ["bob"])  # still writing after the swap
    store.close()
    with pytest.raises(KeyConfigError):
        LmdbStore.open(config)
    new_config = make_config(tmp_path, key=None)
    os.rename(tmp_path / "new.key", tmp_path / "skruntime.key")
    assert read_key_file(tmp_path / "skruntime.key")
    store = LmdbStore.open(new_config)
    try:
        assert store.verify().clean
    finally:
        store.close()


async def test_a_full_map_is_a_clear_error(tmp_path):
    store = LmdbStore.open(make_config(tmp_path, map_size="1MiB"))
    try:
        async with store.running():
            shard = await store.acquire(0, 1)
            actor = actors_of(0, 1)[0]
            batch = shard.batch()
            for seq in range(3000):
                batch.put("events", (actor, seq), {"blob": os.urandom(300).hex()})
            with pytest.raises(StoreFullError, match="map_size"):
                await store.commit(batch)
            small = shard.batch()
            small.put("actors", actor, {"ok": True})
            await store.commit(small)  # nothing of the failed commit, and the store still works
            assert await shard.scan_actor("events", actor) == []
            assert await shard.get("actors", actor) == {"ok": True}
    finally:
        store.close()


async def test_group_commit_packs_concurrent_writers(lmdb_store):
    shards = [await lmdb_store.acquire(s, 1) for s in range(SHARDS)]
    before = lmdb_store.statistics()

    async def writer(i: int) -> None:
        for n in range(10):
            actor = f"g{i}"
            batch = shards[shard_of(actor, SHARDS)].batch()
            batch.put("events", (actor, n), {"n": n})
            await lmdb_store.commit(batch)

    async with trio.open_nursery() as nursery:
        for i in range(32):
            nursery.start_soon(writer, i)
    after = lmdb_store.statistics()
    assert after.records - before.records == 320
    assert after.groups - before.groups < 100  # many commits per transaction
    assert after.max_group_records >= 16


async def test_the_event_loop_keeps_running_during_commits(lmdb_store):
    """Commits wait on the disk in the writer thread, not on the event loop."""
    shard = await lmdb_store.acquire(0, 1)
    actor = actors_of(0, 1)[0]
    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        for n in range(20):
            batch = shard.batch()
            batch.put("events", (actor, n), {"n": n})
            await lmdb_store.commit(batch)
        done = True
    assert ticks > 20


async def test_close_inside_running_is_refused(config):
    store = LmdbStore.open(config)
    async with store.running():
        with pytest.raises(RuntimeError):
            store.close()
    store.close()
    store.close()  # idempotent


def in_another_process(config, steps: str) -> None:
    """Run ``steps`` (statements using ``store``) in a second process that
    opens the same store and runs its writer, while this one runs."""
    child = textwrap.dedent(
        f"""
        import trio
        from skruntime._config import Config
        from skruntime.store import LmdbStore
        config = Config.from_mapping({{"store": {{"data_dir": {str(config.store.data_dir)!r}}},
                                      "security": {{"master_key": {config.security.master_key!r}}}}})
        store = LmdbStore.open(config)
        async def main():
            async with store.running():
        """
    ) + textwrap.indent(textwrap.dedent(steps).strip("\n"), " " * 8) + "\ntrio.run(main)\nstore.close()\n"
    subprocess.run([sys.executable, "-c", child], check=True, timeout=60)


async def test_a_key_rotated_by_another_process_is_picked_up(config, tmp_path):
    store = LmdbStore.open(config)
    try:
        async with store.running():
            await fill(store, ["alice"])
            in_another_process(
                config,
                f"""
                await store.rotate()
                shard = await store.acquire({shard_of("bob", SHARDS)}, 1)
                batch = shard.batch()
                batch.put("actors", "bob", {{"by": "child"}})
                await store.commit(batch)
                """,
            )
            shard = await store.acquire(shard_of("bob", SHARDS), 1)
            assert await shard.get("actors", "bob") == {"by": "child"}  # written under key 2
            await fill(store, ["carol"])  # our next write uses key 2 as well
        with store._env.begin() as txn:
            key, _ = encode_shard_key("actors", shard_of("carol", SHARDS), "carol", SHARDS)
            blob = txn.get(key, db=store._dbs["actors"])
            assert blob is not None and record_key_id(blob) == 2
    finally:
        store.close()


def acquire_in_another_process(config, shard: int, epoch: int) -> None:
    """A second process takes ``shard`` at ``epoch`` while this one runs."""
    in_another_process(config, f"await store.acquire({shard}, {epoch})")


async def test_a_shard_taken_by_another_process_fences_the_next_commit(config):
    # The writer remembers the epochs between its own transactions; a write
    # by another process in between must make it read them again.
    shard_id = shard_of("alice", SHARDS)
    store = LmdbStore.open(config)
    try:
        async with store.running():
            shard = await store.acquire(shard_id, 1)
            await fill(store, ["alice"])
            acquire_in_another_process(config, shard_id, 2)
            batch = shard.batch()
            batch.put("actors", "alice", {"late": True})
            with pytest.raises(Fenced):
                await store.commit(batch)
            assert (await shard.get("actors", "alice"))["id"] == "alice"
    finally:
        store.close()


async def test_a_transaction_that_wrote_nothing_vouches_for_no_later_one(config):
    # A group whose only commit is fenced writes nothing, so LMDB leaves its
    # transaction id unused and another process's next commit takes it; the
    # writer must not then take its following id as "nobody else wrote".
    (alice,), (bob,) = actors_of(2, 1), actors_of(3, 1)  # two shards
    store = LmdbStore.open(config)
    try:
        async with store.running():
            other = await store.acquire(shard_of(bob, SHARDS), 1)
            shard = await store.acquire(shard_of(alice, SHARDS), 1)
            await fill(store, [alice])  # the writer now knows both epochs
            stray = other.batch()
            stray.epoch = 5  # an epoch nobody holds: fenced, nothing written
            stray.put("actors", bob, {"id": bob})
            with pytest.raises(Fenced):
                await store.commit(stray)
            acquire_in_another_process(config, shard_of(alice, SHARDS), 2)
            batch = shard.batch()
            batch.put("actors", alice, {"late": True})
            with pytest.raises(Fenced):
                await store.commit(batch)
    finally:
        store.close()


def test_corrupt_record_error_names_the_record():
    error = CorruptRecordError("events", b"\x00\x01", "bad", actor_id="alice")
    assert "events/0001" in str(error) and "alice" in str(error)


async def test_a_key_that_breaks_the_layout_is_reported_not_fatal(config):
    (a,) = actors_of(1, 1)
    store = LmdbStore.open(config)
    async with store.running():
        await fill(store, [a])
    store.close()
    env = raw_env(config.store.data_dir)
    with env.begin(write=True) as txn:
        txn.put(b"\x00\x01\x00", b"x" * 40, db=env.open_db(b"timers", txn=txn))  # shard 1, zero-length actor id
    env.close()
    store = LmdbStore.open(config)
    try:
        async with store.running():
            loaded = await (await store.acquire(1, 1)).load()
        assert [a_ for a_, _ in loaded.actors] == [a]
        (bad,) = loaded.quarantined
        assert bad.database == "timers" and "layout" in bad.reason
    finally:
        store.close()
