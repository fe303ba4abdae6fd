"""Actor records are checkpoints; events after one are replayed at recovery."""

import orjson
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from skruntime._exceptions import ActorUnavailable
from skruntime.runtime import Runtime
from skruntime.runtime._actor import TRACE_CHUNK, Actor
from skruntime.store import LmdbStore, shard_of

from ..store.conftest import raw_env
from .conftest import make_config, running
from .test_runtime import COUNTER


async def crash_after(config, scenario):
    """Run ``scenario(runtime)``, then stop the way a kill does: no graceful
    shutdown, so nothing is checkpointed on the way out."""
    store = LmdbStore.open(config)
    try:
        async with trio.open_nursery() as nursery:
            runtime = await nursery.start(Runtime(config, store).run)
            await scenario(runtime)
            nursery.cancel_scope.cancel()
    finally:
        store.close()


@pytest.fixture
def config(tmp_path):
    cfg = make_config(tmp_path)
    return type(cfg).from_mapping({**_as_mapping(cfg), "runtime": {"checkpoint_every": 4}})


def _as_mapping(cfg):
    return {
        "store": {"data_dir": cfg.store.data_dir, "shards": cfg.store.shards, "map_size": cfg.store.map_size},
        "security": {"master_key": cfg.security.master_key, "key_file": cfg.security.key_file},
    }


async def test_events_after_the_checkpoint_are_replayed(config):
    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        for i in range(10):
            await rt.send("c", {"type": "NEXT", "guards": {"g": i % 2 == 0}})
        assert rt.actor("c").checkpoint_seq == 8  # written at 4 and 8; 9 and 10 only as events

    await crash_after(config, scenario)
    async with running(config) as rt:
        actor = rt.actor("c")
        assert (actor.seq, actor.snapshot.value, actor.checkpoint_seq) == (10, "s0", 8)
        assert [g for _, g in actor.history] == [("g",) if i % 2 == 0 else () for i in range(10)]
        assert (await rt.send("c", {"type": "NEXT"}))["seq"] == 11
    async with running(config) as rt:  # the graceful stop above checkpointed everything
        assert rt.actor("c").checkpoint_seq == rt.actor("c").seq == 11


async def test_a_tail_that_does_not_replay_quarantines_only_that_actor(config):
    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        for name in ("bad", "good"):
            await rt.spawn({"versionId": "c-v1", "actorId": name})
            await rt.send(name, {"type": "NEXT"})

    await crash_after(config, scenario)
    store = LmdbStore.open(config)  # forge an event the machine would not have recorded
    try:
        async with store.running():
            shard = await store.acquire(shard_of("bad", config.store.shards), 1)  # the crashed run's epoch
            batch = shard.batch()
            batch.put("events", ("bad", 2), {"seq": 2, "type": "NEXT", "at": 0.0, "stateValue": "s7", "status": "active"})
            await store.commit(batch)
    finally:
        store.close()
    async with running(config) as rt:
        assert rt.get("good")["seq"] == 1
        with pytest.raises(ActorUnavailable):
            rt.get("bad")
        assert any(q.get("actorId") == "bad" for q in rt.quarantined)


def _config_with(config, **runtime):
    return type(config).from_mapping({**_as_mapping(config), "runtime": runtime})


async def _read(config, table, key, actor_id):
    """One record, read straight from the store (the runtime is not running)."""
    store = LmdbStore.open(config)
    try:
        async with store.running():
            shard = await store.acquire(shard_of(actor_id, config.store.shards), 1)  # the crashed run's epoch
            return await shard.get(table, key)
    finally:
        store.close()


async def test_a_long_history_is_kept_in_chunks_and_comes_back_whole(config):
    answers = [("g",) if i % 3 == 0 else () for i in range(150)]
    before = {}

    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        for answer in answers:
            await rt.send("c", {"type": "NEXT", "guards": {"g": bool(answer)}})
        actor = rt.actor("c")
        before.update(fingerprint=actor.fingerprint, checkpoint=actor.checkpoint_seq)

    await crash_after(config, scenario)
    assert before["checkpoint"] == 148
    # The record holds only the history after the last whole chunk; each
    # chunk was written once, with the first record that needed it.
    record = await _read(config, "actors", "c", "c")
    assert (record["seq"], record["traceBase"], len(record["trace"])) == (148, 2 * TRACE_CHUNK, 148 - 2 * TRACE_CHUNK)
    for n in range(2):
        chunk = await _read(config, "traces", ("c", n), "c")
        assert [tuple(g) for _, g in chunk["trace"]] == answers[n * TRACE_CHUNK : (n + 1) * TRACE_CHUNK]
    assert await _read(config, "traces", ("c", 2), "c") is None
    async with running(config) as rt:
        actor = rt.actor("c")
        assert (actor.seq, actor.checkpoint_seq, actor.fingerprint) == (150, 148, before["fingerprint"])
        assert [g for _, g in actor.history] == answers
        assert (await rt.send("c", {"type": "NEXT"}))["seq"] == 151


async def test_a_migration_writes_the_history_chunks_its_record_needs(tmp_path):
    # No checkpoint since spawn: the record the deployment writes is the
    # first one past a whole chunk, so it must bring the chunk with it.
    config = _config_with(make_config(tmp_path), checkpoint_every=1000)

    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        for _ in range(TRACE_CHUNK + 6):
            await rt.send("c", {"type": "NEXT"})
        assert rt.actor("c").checkpoint_seq == 0
        result, _ = await rt.deploy({"id": "c-v2", "parentId": "c-v1", "definition": {**COUNTER, "id": "counter2"}})
        assert result["deployment"]["migrated"] == 1

    await crash_after(config, scenario)
    async with running(config) as rt:
        actor = rt.actor("c")
        assert (actor.version_id, actor.seq, len(actor.history)) == ("c-v2", TRACE_CHUNK + 6, TRACE_CHUNK + 6)
        assert not rt.quarantined


async def test_a_missing_history_chunk_quarantines_only_that_actor(config):
    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        for name in ("lost", "kept"):
            await rt.spawn({"versionId": "c-v1", "actorId": name})
            for _ in range(TRACE_CHUNK + 4):
                await rt.send(name, {"type": "NEXT"})

    await crash_after(config, scenario)
    store = LmdbStore.open(config)
    try:
        async with store.running():
            shard = await store.acquire(shard_of("lost", config.store.shards), 1)
            batch = shard.batch()
            batch.delete("traces", ("lost", 0))
            await store.commit(batch)
    finally:
        store.close()
    async with running(config) as rt:
        assert rt.get("kept")["seq"] == TRACE_CHUNK + 4
        with pytest.raises(ActorUnavailable):
            rt.get("lost")
        (problem,) = [q for q in rt.quarantined if q.get("actorId") == "lost"]
        assert "traces chunk 0" in problem["reason"]


async def test_a_format_1_store_is_upgraded_and_its_whole_history_records_load(config, caplog):
    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        for _ in range(TRACE_CHUNK - 1):  # below one chunk, the record is a format 1 record
            await rt.send("c", {"type": "NEXT"})

    await crash_after(config, scenario)
    env = raw_env(config.store.data_dir)  # make it the format 1 store an older skruntime wrote
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"traces", txn=txn), delete=True)
        txn.put(b"skr:format", (1).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    async with running(config) as rt:
        assert "from format 1 to 2" in caplog.text
        assert rt.actor("c").seq == len(rt.actor("c").history) == TRACE_CHUNK - 1
        for _ in range(10):  # past a chunk: the new layout from here on
            await rt.send("c", {"type": "NEXT"})
    async with running(config) as rt:
        assert rt.actor("c").seq == len(rt.actor("c").history) == TRACE_CHUNK + 9


@given(
    steps=st.lists(st.tuples(st.integers(1, 90), st.booleans()), min_size=1, max_size=12),
)
@settings(max_examples=150, deadline=None)
def test_records_and_chunks_written_at_any_checkpoints_rebuild_the_history(steps):
    # An actor advances by a few events between checkpoints; each checkpoint
    # writes what put_actor writes (chunks since the last durable record,
    # then the record), sometimes with a stale (lower) "since" as a
    # pipelined turn has.  The last record and the chunks rebuild it whole.
    from skruntime.statechart import Machine

    machine = Machine(COUNTER)
    actor = Actor.spawned("a", "v", machine, machine.initial_transition().snapshot, 0.0, ())
    disk_chunks: dict[int, object] = {}
    record = None
    for n, stale in steps:
        for i in range(n):
            actor = actor.advanced(actor.snapshot, ("NEXT", ("g",) if (actor.seq + i) % 5 == 0 else ()), 0.0, {})
        since = 0 if stale else actor.checkpoint_seq
        for number, chunk in actor.trace_chunks(since):
            disk_chunks[number] = orjson.loads(orjson.dumps(chunk))
        record = orjson.loads(orjson.dumps(actor.record()))
        assert len(record["trace"]) < TRACE_CHUNK
        actor.checkpoint_seq = actor.seq
    loaded = Actor.from_record("a", record, machine, {}, disk_chunks)
    assert loaded.history == actor.history and loaded.seq == actor.seq


async def test_the_events_one_turn_handles_for_an_actor_are_one_record(tmp_path):
    config = _config_with(make_config(tmp_path), checkpoint_every=1000)
    before = {}

    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        for name in ("c", "d"):
            await rt.spawn({"versionId": "c-v1", "actorId": name})
        items = [{"actorId": "c", "type": "NEXT", "guards": {"g": i % 2 == 0}} for i in range(5)]
        results = await rt.send_batch({"events": [*items, {"actorId": "d", "type": "NEXT"}]})  # one turn
        assert [r["seq"] for r in results] == [1, 2, 3, 4, 5, 1]
        before["history"], _ = await rt.history("c")
        assert [e["seq"] for e in before["history"]] == [1, 2, 3, 4, 5]

    await crash_after(config, scenario)
    record = await _read(config, "events", ("c", 5), "c")  # keyed by its last event
    assert [e["seq"] for e in record["events"]] == [1, 2, 3, 4, 5]
    assert await _read(config, "events", ("c", 1), "c") is None
    single = await _read(config, "events", ("d", 1), "d")  # one event stays a plain event record
    assert (single["seq"], single["type"]) == (1, "NEXT")
    async with running(config) as rt:
        actor = rt.actor("c")  # no checkpoint since spawn: the record was replayed
        assert (actor.seq, actor.checkpoint_seq, actor.snapshot.value) == (5, 0, "s5")
        assert [g for _, g in actor.history] == [("g",), (), ("g",), (), ("g",)]
        assert (await rt.history("c"))[0] == before["history"]
        page, after = await rt.history("c", after=2, limit=2)  # starts inside the record
        assert ([e["seq"] for e in page], after) == ([3, 4], 4)
        page, after = await rt.history("c", after=4, limit=2)
        assert ([e["seq"] for e in page], after) == ([5], None)
        assert (await rt.send("c", {"type": "NEXT"}))["seq"] == 6


async def test_history_pages_across_many_records(runtime):
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    for _ in range(3):  # three events a record
        await runtime.send_batch({"events": [{"actorId": "c", "type": "NEXT"}] * 3})
    for _ in range(31):  # one event a record
        await runtime.send("c", {"type": "NEXT"})
    seen, after = [], 0
    while after is not None:
        page, after = await runtime.history("c", after=after, limit=7)
        assert 1 <= len(page) <= 7
        seen.extend(e["seq"] for e in page)
    assert seen == list(range(1, 41))
    page, after = await runtime.history("c", after=0, limit=35)  # more records than one read takes
    assert ([e["seq"] for e in page], after) == (list(range(1, 36)), 35)


async def test_a_format_1_record_of_a_long_history_is_rewritten_with_its_chunks(config):
    """A format 1 record keeps a history of 64 events or more inline and has
    no chunks on disk; the first record written after the upgrade must bring
    them (found by review: it used to write only the chunks after the record's
    seq, and the actor was quarantined at the next start)."""
    n = 2 * TRACE_CHUNK + 10

    async def scenario(rt):
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        for i in range(n):
            await rt.send("c", {"type": "NEXT", "guards": {"g": i % 5 == 0}})

    await crash_after(config, scenario)
    store = LmdbStore.open(config)  # rewrite the record as format 1 kept it: the whole history inline
    try:
        async with store.running():
            shard = await store.acquire(shard_of("c", config.store.shards), 1)
            record = await shard.get("actors", "c")
            chunks = [await shard.get("traces", ("c", i)) for i in range(record.pop("traceBase") // TRACE_CHUNK)]
            record["trace"] = [entry for chunk in chunks for entry in chunk["trace"]] + record["trace"]
            batch = shard.batch()
            batch.put("actors", "c", record)
            await store.commit(batch)
    finally:
        store.close()
    env = raw_env(config.store.data_dir)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(b"traces", txn=txn), delete=True)
        txn.put(b"skr:format", (1).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    async with running(config) as rt:
        assert rt.actor("c").seq == n and not rt.quarantined
        await rt.send("c", {"type": "NEXT"})  # its next record brings every chunk
    async with running(config) as rt:
        assert not rt.quarantined
        actor = rt.actor("c")
        assert actor.seq == len(actor.history) == n + 1
        assert [g for _, g in actor.history][:n] == [("g",) if i % 5 == 0 else () for i in range(n)]


def test_a_tail_event_repeated_after_replay_began_is_refused():
    from skruntime.runtime._runtime import replay_tail
    from skruntime.statechart import Machine

    machine = Machine(COUNTER)
    actor = Actor.spawned("a", "v", machine, machine.initial_transition().snapshot, 0.0, ())
    for _ in range(3):
        actor = actor.advanced(machine.transition(actor.snapshot, "NEXT").snapshot, ("NEXT", ()), 0.0, {})

    def event(seq, state):
        return {"seq": seq, "type": "NEXT", "at": 0.0, "stateValue": state, "status": "active"}

    replayed = replay_tail(actor, [event(2, "s2"), event(3, "s3"), event(4, "s4")])  # a record starting before the checkpoint
    assert replayed.seq == 4
    with pytest.raises(ValueError, match="follows seq"):
        replay_tail(actor, [event(4, "s4"), event(4, "s4")])
