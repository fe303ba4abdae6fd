"""Actor records are checkpoints; events after one are replayed at recovery."""

import pytest
import trio

from skruntime._exceptions import ActorUnavailable
from skruntime.runtime import Runtime
from skruntime.store import LmdbStore, shard_of

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
