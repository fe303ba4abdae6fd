"""The store contract (skruntime/store/_contract.py), written once and run
against every backend: the LMDB store and the in-memory store.  A future
backend (PostgreSQL) must pass this file unchanged.
"""

from __future__ import annotations

import random

import pytest
import trio

from skruntime import Fenced
from skruntime._exceptions import StoreClosedError  # not yet re-exported by skruntime (see the report)
from skruntime.store import MetaBatch, ShardBatch, idempotency_digest, shard_of

from .conftest import SHARDS


def actors_of(shard: int, n: int, prefix: str = "actor") -> list[str]:
    """``n`` actor ids that live on ``shard``."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        candidate = f"{prefix}-{i}"
        if shard_of(candidate, SHARDS) == shard:
            out.append(candidate)
        i += 1
    return out


async def test_commit_then_read(store):
    shard = await store.acquire(0, 1)
    (alice,) = actors_of(0, 1)
    batch = shard.batch()
    batch.put("actors", alice, {"state": "submitted", "context": {"n": 1}})
    batch.put("events", (alice, 1), {"type": "SUBMIT"})
    await store.commit(batch)
    assert await shard.get("actors", alice) == {"state": "submitted", "context": {"n": 1}}
    assert await shard.get("events", (alice, 1)) == {"type": "SUBMIT"}


async def test_missing_keys_return_none(store):
    shard = await store.acquire(1, 1)
    (bob,) = actors_of(1, 1)
    assert await shard.get("actors", bob) is None
    assert await shard.get("events", (bob, 1)) is None
    assert await shard.scan_actor("events", bob) == []
    assert await store.meta.get("versions", "nope") is None
    assert await store.meta.get("deployments", 1) is None
    assert await store.meta.scan("api_keys") == []
    assert await store.meta.deployment_decisions(1) == []
    assert await store.meta.deployment_cursors(1) == {}


async def test_put_overwrites_and_delete_removes(store):
    shard = await store.acquire(2, 1)
    (a,) = actors_of(2, 1)
    for value in ({"v": 1}, {"v": 2}):
        batch = shard.batch()
        batch.put("actors", a, value)
        await store.commit(batch)
    assert await shard.get("actors", a) == {"v": 2}
    batch = shard.batch()
    batch.delete("actors", a)
    batch.delete("timers", (a, "never-existed"))  # deleting a missing key is a no-op
    await store.commit(batch)
    assert await shard.get("actors", a) is None


async def test_a_retried_put_is_idempotent(store):
    shard = await store.acquire(3, 1)
    (a,) = actors_of(3, 1)
    batch = shard.batch()
    batch.put("events", (a, 1), {"type": "GO"})
    batch.put("decisions", (a, 4), {"decision": "stay"})
    batch.put("deployment_decisions", (4, a), {"decision": "stay"})
    batch.put("idempotency", (a, "req-1"), {"status": 200})
    await store.commit(batch)
    await store.commit(batch)  # the same batch again: an unknown outcome retried
    assert await shard.scan_actor("events", a) == [(1, {"type": "GO"})]
    assert await shard.scan_actor("decisions", a) == [(4, {"decision": "stay"})]
    assert await store.meta.deployment_decisions(4) == [(a, {"decision": "stay"})]
    loaded = await shard.load()
    assert loaded.idempotency == ((a, idempotency_digest("req-1"), {"status": 200}),)


async def test_a_commit_is_all_or_nothing(store):
    s0, s1 = await store.acquire(0, 1), await store.acquire(1, 1)
    await store.acquire(1, 2)  # a newer owner takes shard 1
    (a,), (b,) = actors_of(0, 1), actors_of(1, 1)
    good, fenced = s0.batch(), s1.batch()
    good.put("actors", a, {"v": 1})
    good.put("events", (a, 1), {"type": "X"})
    fenced.put("actors", b, {"v": 1})
    meta = MetaBatch()
    meta.put("versions", "v1", {"definition": {}})
    with pytest.raises(Fenced):
        await store.commit(good, meta, fenced)
    assert await s0.get("actors", a) is None
    assert await s0.get("events", (a, 1)) is None
    assert await store.meta.get("versions", "v1") is None


async def test_mistakes_raise_at_put_time(store):
    shard = await store.acquire(4, 1)
    (a,) = actors_of(4, 1)
    (other,) = actors_of(5, 1)
    batch = shard.batch()
    with pytest.raises(ValueError, match="belongs to shard"):
        batch.put("actors", other, {})
    with pytest.raises(TypeError):
        batch.put("actors", a, {"x": {1, 2}})
    with pytest.raises(TypeError, match="None is not a storable value"):
        batch.put("actors", a, None)
    with pytest.raises(ValueError, match="not a shard table"):
        batch.put("versions", "v1", {})
    with pytest.raises(ValueError, match="not a metadata table"):
        MetaBatch().put("actors", a, {})
    assert len(batch) == 0


async def test_fencing(store):
    shard = 5
    (a,) = actors_of(shard, 1)
    old = await store.acquire(shard, 1)
    new = await store.acquire(shard, 2)
    stale = old.batch()
    stale.put("actors", a, {"owner": "old"})
    with pytest.raises(Fenced) as info:
        await store.commit(stale)
    assert (info.value.shard, info.value.epoch, info.value.current) == (shard, 1, 2)
    assert await new.get("actors", a) is None  # nothing was written
    with pytest.raises(Fenced):
        await store.acquire(shard, 1)  # an older epoch cannot take it back
    again = await store.acquire(shard, 2)  # the same owner restarting
    batch = again.batch()
    batch.put("actors", a, {"owner": "new"})
    await store.commit(batch)
    assert await new.get("actors", a) == {"owner": "new"}


async def test_a_shard_never_acquired_is_fenced(store):
    (a,) = actors_of(6, 1)
    batch = ShardBatch(6, 1, SHARDS)
    batch.put("actors", a, {})
    with pytest.raises(Fenced):
        await store.commit(batch)


async def test_fenced_batches_do_not_hurt_their_group(store):
    """Many concurrent commits, some fenced: each gets its own outcome."""
    await store.acquire(7, 1)
    stale_shard = await store.acquire(6, 1)
    await store.acquire(6, 2)
    good = await store.acquire(7, 1)
    ok_actors = actors_of(7, 20)
    (stale_actor,) = actors_of(6, 1)
    outcomes: dict[str, str] = {}

    async def commit(actor, shard_store):
        batch = shard_store.batch()
        batch.put("actors", actor, {"v": actor})
        try:
            await store.commit(batch)
            outcomes[actor] = "ok"
        except Fenced:
            outcomes[actor] = "fenced"

    async with trio.open_nursery() as nursery:
        for i, actor in enumerate(ok_actors):
            nursery.start_soon(commit, actor, good)
            if i % 5 == 0:
                nursery.start_soon(commit, stale_actor, stale_shard)
    assert outcomes.pop(stale_actor) == "fenced"
    assert set(outcomes.values()) == {"ok"}
    for actor in ok_actors:
        assert await good.get("actors", actor) == {"v": actor}


async def test_scans_are_ordered_and_page(store):
    shard = await store.acquire(0, 1)
    a, b = actors_of(0, 2)
    seqs = list(range(1, 251))
    random.Random(7).shuffle(seqs)
    for chunk in range(0, 250, 50):
        batch = shard.batch()
        for seq in seqs[chunk : chunk + 50]:
            batch.put("events", (a, seq), {"seq": seq})
            batch.put("events", (b, seq), {"other": True})
        await store.commit(batch)
    pages, start = [], 0
    while True:
        page = await shard.scan_actor("events", a, start=start, limit=100)
        if not page:
            break
        pages.append(page)
        start = page[-1][0] + 1
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [seq for page in pages for seq, _ in page] == list(range(1, 251))
    assert all(value == {"seq": seq} for page in pages for seq, value in page)
    assert await shard.scan_actor("events", a, start=249, limit=10) == [(249, {"seq": 249}), (250, {"seq": 250})]
    assert await shard.scan_actor("events", a, start=0, limit=0) == []


async def test_meta_scans_are_ordered(store):
    batch = MetaBatch()
    for name in ("loan-v2", "loan-v10", "loan-v1", "auto-v1"):
        batch.put("versions", name, {"id": name})
    for ordinal in (3, 1, 2, 300):
        batch.put("deployments", ordinal, {"ordinal": ordinal})
    batch.put("api_keys", b"\x02" * 32, {"scope": "read"})
    batch.put("api_keys", b"\x01" * 32, {"scope": "admin"})
    batch.put("meta", "next-deployment", 4)
    await store.commit(batch)
    assert [k for k, _ in await store.meta.scan("versions")] == ["auto-v1", "loan-v1", "loan-v10", "loan-v2"]
    assert [k for k, _ in await store.meta.scan("versions", start="loan-v10", limit=2)] == ["loan-v10", "loan-v2"]
    assert [k for k, _ in await store.meta.scan("deployments")] == [1, 2, 3, 300]
    assert [k for k, _ in await store.meta.scan("deployments", start=3)] == [3, 300]
    assert [v["scope"] for _, v in await store.meta.scan("api_keys")] == ["admin", "read"]
    assert await store.meta.scan("meta") == [("next-deployment", 4)]
    assert await store.meta.get("api_keys", b"\x01" * 32) == {"scope": "admin"}


async def test_deployment_decisions_page_across_shards(store):
    ordinal = 9
    everyone: list[str] = []
    for shard in range(SHARDS):
        shard_store = await store.acquire(shard, 1)
        actors = actors_of(shard, 3, prefix="dd")
        everyone += actors
        batch = shard_store.batch()
        for actor in actors:
            batch.put("deployment_decisions", (ordinal, actor), {"actor": actor})
            batch.put("decisions", (actor, ordinal), {"actor": actor})
        batch.put("cursors", ordinal, {"shard": shard})
        if shard % 2:
            batch.put("deployment_decisions", (ordinal + 1, actors[0]), {"other": True})
        await store.commit(batch)
    seen: list[str] = []
    after = None
    while True:
        page = await store.meta.deployment_decisions(ordinal, after=after, limit=5)
        if not page:
            break
        seen += [actor for actor, _ in page]
        assert all(value == {"actor": actor} for actor, value in page)
        after = page[-1][0]
    assert sorted(seen) == sorted(everyone) and len(seen) == len(set(seen))
    assert [shard_of(a, SHARDS) for a in seen] == sorted(shard_of(a, SHARDS) for a in seen)  # stable shard order
    assert await store.meta.deployment_cursors(ordinal) == {s: {"shard": s} for s in range(SHARDS)}
    assert len(await store.meta.deployment_decisions(ordinal + 1)) == SHARDS // 2


async def test_decision_page_finds_the_page_that_would_hold_an_actor(store):
    # Pages are keyed by their first actor; key order is shorter ids first.
    shard = 3
    shard_store = await store.acquire(shard, 1)
    ids = sorted(actors_of(shard, 40, prefix="p"), key=lambda a: (len(a.encode()), a.encode()))
    first, middle = ids[5], ids[20]
    batch = shard_store.batch()
    batch.put("deployment_decisions", (7, first), {"page": 1})
    batch.put("deployment_decisions", (7, middle), {"page": 2})
    neighbour = actors_of(shard + 1, 1, prefix="p")[0]
    other = await store.acquire(shard + 1, 1)
    await store.commit(batch)
    batch = other.batch()
    batch.put("deployment_decisions", (7, neighbour), {"page": "other shard"})
    batch.put("deployment_decisions", (6, neighbour), {"page": "other deployment"})
    await store.commit(batch)

    assert await shard_store.decision_page(7, ids[0]) is None  # before the first page
    assert await shard_store.decision_page(7, first) == {"page": 1}  # a page's own first actor
    assert await shard_store.decision_page(7, ids[19]) == {"page": 1}
    assert await shard_store.decision_page(7, middle) == {"page": 2}
    assert await shard_store.decision_page(7, ids[-1]) == {"page": 2}  # past the last key of the shard
    assert await shard_store.decision_page(8, ids[-1]) is None  # another deployment's pages never answer
    assert await shard_store.decision_page(6, ids[-1]) is None
    with pytest.raises(ValueError):
        await shard_store.decision_page(7, neighbour)
    # and a shard's whole set of pages of one deployment, in key order
    assert await shard_store.deployment_pages(7) == [(first, {"page": 1}), (middle, {"page": 2})]
    assert await other.deployment_pages(7) == [(neighbour, {"page": "other shard"})]
    assert await shard_store.deployment_pages(6) == []


async def test_load_returns_the_shard_and_nothing_else(store):
    mine = await store.acquire(2, 3)
    theirs = await store.acquire(3, 1)
    a, b = actors_of(2, 2)
    (c,) = actors_of(3, 1)
    batch = mine.batch()
    for actor in (a, b):
        batch.put("actors", actor, {"id": actor})
        batch.put("events", (actor, 1), {"type": "E"})
    batch.put("timers", (a, "t1"), {"fireAt": 5})
    batch.put("timers", (a, "t0"), {"fireAt": 3})
    batch.put("idempotency", (b, "key"), {"status": 201})
    batch.put("cursors", 1, {"done": True})
    await store.commit(batch)
    other = theirs.batch()
    other.put("actors", c, {"id": c})
    other.put("timers", (c, "t"), {})
    await store.commit(other)
    loaded = await mine.load()
    assert (loaded.shard, loaded.epoch) == (2, 3)
    assert sorted(loaded.actors) == sorted([(a, {"id": a}), (b, {"id": b})])
    assert loaded.timers == ((a, "t0", {"fireAt": 3}), (a, "t1", {"fireAt": 5}))
    assert loaded.idempotency == ((b, idempotency_digest("key"), {"status": 201}),)
    assert loaded.cursors == ((1, {"done": True}),)
    assert loaded.quarantined == () and loaded.quarantined_actors == frozenset()
    batch = mine.batch()
    batch.delete("idempotency", (b, idempotency_digest("key")))  # expiry by the reported digest
    await store.commit(batch)
    assert (await mine.load()).idempotency == ()


async def test_load_returns_each_actors_tail_after_the_named_seq(store):
    shard = await store.acquire(1, 1)
    a, b, c = actors_of(1, 3)
    batch = shard.batch()
    for actor, checkpoint in ((a, 2), (b, 5), (c, 0)):
        batch.put("actors", actor, {"seq": checkpoint})
        for seq in range(1, 6):
            batch.put("events", (actor, seq), {"seq": seq, "of": actor})
    await store.commit(batch)
    asked = []

    def tail_after(actor_id, record):
        asked.append(actor_id)
        return None if actor_id == c else record["seq"]

    loaded = await shard.load(tail_after=tail_after)
    assert sorted(asked) == sorted([a, b, c])
    assert [(actor, seq) for actor, seq, _ in loaded.tails] == [(a, 3), (a, 4), (a, 5)]  # b is complete, c not asked
    assert all(event == {"seq": seq, "of": actor} for actor, seq, event in loaded.tails)
    assert (await shard.load()).tails == ()


async def test_concurrent_commits_are_all_durable(store):
    shards = [await store.acquire(s, 1) for s in range(SHARDS)]
    tasks, per_task = 40, 15

    async def writer(t):
        for n in range(per_task):
            actor = f"w{t}-{n}"
            shard = shards[shard_of(actor, SHARDS)]
            batch = shard.batch()
            batch.put("actors", actor, {"t": t, "n": n})
            batch.put("events", (actor, 1), {"n": n})
            await store.commit(batch)

    async with trio.open_nursery() as nursery:
        for t in range(tasks):
            nursery.start_soon(writer, t)
    for t in range(tasks):
        for n in range(per_task):
            actor = f"w{t}-{n}"
            shard = shards[shard_of(actor, SHARDS)]
            assert await shard.get("actors", actor) == {"t": t, "n": n}
    total = 0
    for shard in shards:
        total += len((await shard.load()).actors)
    assert total == tasks * per_task


async def test_a_cancelled_commit_writes_nothing(store):
    shard = await store.acquire(1, 1)
    (a,) = actors_of(1, 1)
    batch = shard.batch()
    batch.put("actors", a, {"v": 1})
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.commit(batch)
    assert scope.cancelled_caught
    assert await shard.get("actors", a) is None


async def test_writes_outside_running_are_refused(backend):
    store = backend()
    try:
        batch = MetaBatch()
        batch.put("versions", "v1", {})
        with pytest.raises(StoreClosedError):
            await store.commit(batch)
        with pytest.raises(StoreClosedError):
            await store.acquire(0, 1)
        async with store.running():
            await store.commit(batch)
        with pytest.raises(StoreClosedError):
            await store.commit(batch)
        assert await store.meta.get("versions", "v1") == {}  # reads need no writer
    finally:
        store.close()


async def test_bad_arguments(store):
    with pytest.raises(ValueError):
        await store.acquire(SHARDS, 1)
    with pytest.raises(ValueError):
        await store.acquire(0, 0)
    with pytest.raises(TypeError):
        await store.commit({"not": "a batch"})
    with pytest.raises(ValueError):
        await store.commit(ShardBatch(0, 1, SHARDS + 1))
    shard = await store.acquire(0, 1)
    with pytest.raises(ValueError):
        await shard.scan_actor("actors", actors_of(0, 1)[0])
    assert store.shard_count == SHARDS
