"""A deployment's migrated actors are rewritten after it answers (it
"settles"); until then its pages carry the moves, and a start after a crash
in between replays them."""

import pytest

from skruntime.runtime import _shard
from skruntime.store import LmdbStore

from ..statechart.samples import LOAN_V1, LOAN_V2
from .test_checkpoints import _as_mapping, crash_after
from .conftest import running

PAID = ["SUBMIT_INFO", "PAY_FEE"]
V3 = {**LOAN_V2, "states": {**LOAN_V2["states"], "income_verify": {"on": {"VERIFY_INCOME": "approved"}}}}


def _with_checkpoints(config, every):
    return type(config).from_mapping({**_as_mapping(config), "runtime": {"checkpoint_every": every}})


async def _pending_cursors(config):
    """(ordinal, shard) of every cursor still marked ``actorsPending``."""
    store = LmdbStore.open(config)
    try:
        pending = []
        for ordinal in range(1, 6):
            cursors = await store.meta.deployment_cursors(ordinal)
            pending += [(ordinal, shard) for shard, cursor in cursors.items() if cursor.get("actorsPending")]
        return pending
    finally:
        store.close()


async def _snapshot(rt, ids):
    return {i: {k: v for k, v in rt.get(i).items() if k != "updatedAt"} for i in ids}


@pytest.mark.parametrize("every", [1000, 2])
async def test_moves_not_yet_settled_are_replayed_at_start(config, monkeypatch, every):
    """Two deployments move actors (the second moves some of the first's
    again), events land on the new versions, and the process dies before
    either settled: the next start replays each move at its seq, between
    the right events, and then settles.  With checkpoints every 2 events,
    some records were written after a move and must not move again."""
    config = _with_checkpoints(config, every)

    async def never(self, *args, **kwargs):
        return None

    monkeypatch.setattr(_shard.Shard, "settle_deployment", never)
    ids = [f"a{i}" for i in range(30)]

    async def scenario(rt):
        await rt.deploy({"id": "v1", "definition": LOAN_V1})
        for i, actor_id in enumerate(ids):
            await rt.spawn({"versionId": "v1", "actorId": actor_id, "context": {"n": i}})
            head = PAID if i % 2 == 0 else ["SUBMIT_INFO", "WAIVE_FEE"]
            await rt.send_batch({"events": [{"actorId": actor_id, "type": t} for t in head]})
        result, _ = await rt.deploy({"id": "v2", "parentId": "v1", "historyPath": PAID, "definition": LOAN_V2})
        assert result["deployment"]["migrated"] == 15
        for actor_id in ids[:10]:  # after the move: v2 handles VERIFY_INCOME (v1 would not)
            if rt.get(actor_id)["versionId"] == "v2":
                await rt.send(actor_id, {"type": "VERIFY_INCOME"})
        result, _ = await rt.deploy({"id": "v3", "parentId": "v2", "definition": V3})
        for actor_id in ids[:4]:
            if rt.get(actor_id)["versionId"] == "v3" and rt.get(actor_id)["stateValue"] == "awaiting_docs":
                await rt.send(actor_id, {"type": "APPROVE"})
        state["before"] = await _snapshot(rt, ids)

    state = {}
    await crash_after(config, scenario)
    assert len(await _pending_cursors(config)) >= 2  # both deployments left moves to replay
    monkeypatch.undo()
    async with running(config) as rt:
        assert not rt.quarantined
        assert await _snapshot(rt, ids) == state["before"]
        versions = {rt.get(i)["versionId"] for i in ids}
        assert versions == {"v1", "v3"}
    assert await _pending_cursors(config) == []  # settled at that start
    async with running(config) as rt:  # and the records say so on their own
        assert await _snapshot(rt, ids) == state["before"]


async def test_a_deploy_settles_in_the_background(config):
    async with running(config) as rt:
        await rt.deploy({"id": "v1", "definition": LOAN_V1})
        for i in range(20):
            await rt.spawn({"versionId": "v1", "actorId": f"b{i}"})
            await rt.send_batch({"events": [{"actorId": f"b{i}", "type": t} for t in PAID]})
        await rt.deploy({"id": "v2", "parentId": "v1", "historyPath": PAID, "definition": LOAN_V2})
        await rt.send("b0", {"type": "VERIFY_INCOME"})  # queued behind the settle in b0's worker
        for i in range(1, 20):
            actor = rt.actor(f"b{i}")
            assert actor.checkpoint_seq == actor.seq == 2  # its record is durable and current
        assert rt.actor("b0").checkpoint_seq == 2 < rt.actor("b0").seq  # settled, then the event
    assert await _pending_cursors(config) == []
    async with running(config) as rt:
        assert (await rt.shard_for("b3").store.get("actors", "b3"))["versionId"] == "v2"


def test_replay_tail_puts_each_move_between_the_right_events():
    from skruntime.runtime._actor import Actor
    from skruntime.runtime._deploy import Move
    from skruntime.runtime._runtime import replay_tail
    from skruntime.statechart import Machine

    machine = Machine({"id": "c", "initial": "s0", "states": {f"s{i}": {"on": {"NEXT": f"s{i + 1}"}} for i in range(9)} | {"s9": {}}})
    actor = Actor.spawned("a", "v1", machine, machine.initial_transition().snapshot, 0.0, ())
    events = [{"seq": i, "type": "NEXT", "at": float(i), "stateValue": f"s{i}", "status": "active"} for i in range(1, 5)]
    landed = []

    def land(a, move):
        landed.append((move.to_version, a.seq))
        return a.moved(move.to_version, machine, a.snapshot, move.at, a.timers)

    moves = [
        Move(0, "v0", "v1", "s0", 0.5),  # the record holds it already (another version): skipped
        Move(2, "v1", "v2", "s2", 2.5),  # after event 2, before event 3
        Move(2, "v1", "v9", "s2", 2.6),  # from v1, but the actor is on v2 by then: skipped
        Move(4, "v2", "v3", "s4", 4.5),  # after the last event
    ]
    out = replay_tail(actor, events, moves, land)
    assert landed == [("v2", 2), ("v3", 4)]
    assert (out.version_id, out.seq, out.snapshot.value) == ("v3", 4, "s4")
    with pytest.raises(ValueError, match="past its history"):
        replay_tail(actor, events, [Move(7, "v1", "v2", "s7", 7.5)], land)


def test_settle_slices_cover_every_moved_actor_once_and_end_each_shard_once(monkeypatch):
    from skruntime.runtime import _deploy
    from skruntime.runtime._shard import PreparedDeployment

    monkeypatch.setattr(_deploy, "SETTLE_SLICE", 10)
    sizes = [0, 3, 25, 10, 7, 0, 11]
    shards = [
        (f"shard{i}", PreparedDeployment(None, {f"s{i}-{j}": None for j in range(n)}, [], {"n": i}, "v1"))
        for i, n in enumerate(sizes)
    ]
    slices = _deploy._settle_slices(shards)
    seen = [actor_id for work in slices for _, _, ids, _ in work for actor_id in ids]
    assert seen == [f"s{i}-{j}" for i, n in enumerate(sizes) for j in range(n)]
    lasts = [shard for work in slices for shard, _, _, last in work if last]
    assert lasts == [f"shard{i}" for i, n in enumerate(sizes) if n]  # each shard with moves ends once, after its ids
    assert all(sum(len(ids) for _, _, ids, _ in work) < 2 * 10 for work in slices)
    assert all(cursor == {"n": int(shard[5:])} for work in slices for shard, cursor, _, _ in work)


async def test_a_failed_settle_slice_leaves_the_moves_to_the_next_start(config, monkeypatch):
    """The first slice's commit fails; the later slices write their records
    but must not clear their cursors' marks, so the next start (after a
    crash: no graceful checkpoint) replays the moves whose records are
    missing."""
    from skruntime import StoreError
    from skruntime.runtime import _deploy
    from skruntime.store import shard_of

    monkeypatch.setattr(_deploy, "SETTLE_SLICE", 3)
    ids = [f"c{i}" for i in range(40)]
    state = {}

    async def scenario(rt):
        await rt.deploy({"id": "v1", "definition": LOAN_V1})
        for actor_id in ids:
            await rt.spawn({"versionId": "v1", "actorId": actor_id})
            await rt.send_batch({"events": [{"actorId": actor_id, "type": t} for t in PAID]})
        commit = rt.commit
        failures = []

        async def flaky(*batches):
            if not failures and any(op.database == "actors" for b in batches for op in b.ops):
                failures.append(batches)
                raise StoreError("disk on fire")
            await commit(*batches)

        monkeypatch.setattr(rt, "commit", flaky)
        await rt.deploy({"id": "v2", "parentId": "v1", "historyPath": PAID, "definition": LOAN_V2})
        shards = config.store.shards
        flush = {shard_of(f"f{i}", shards): f"f{i}" for i in range(200)}
        for actor_id in flush.values():  # each queued behind every settle slice of its worker
            await rt.spawn({"versionId": "v1", "actorId": actor_id})
        assert failures
        state["before"] = await _snapshot(rt, ids)

    await crash_after(config, scenario)
    assert await _pending_cursors(config)  # not cleared after the failure
    async with running(config) as rt:
        assert not rt.quarantined
        assert await _snapshot(rt, ids) == state["before"]
        assert {rt.get(i)["versionId"] for i in ids} == {"v2"}
    assert await _pending_cursors(config) == []
