"""Decisions as stored (pages) and as the audit views show them."""

from skruntime.runtime._audit import decision_pages, find_decision, page_decisions
from skruntime.statechart import Machine

from ..statechart.samples import LOAN_V1, LOAN_V2
from .conftest import running

PAID = ["SUBMIT_INFO", "PAY_FEE"]


def _pages_of(runtime, ordinal_evaluations):
    return [page for evaluation in ordinal_evaluations for _, page in decision_pages(evaluation, "dep-9", 12.5, "loan-v1", "loan-v2")]


async def test_a_page_reads_back_as_the_records_the_api_shows(runtime):
    from skruntime._fingerprint import to_hex
    from skruntime.runtime._migration import ReplayMemo, evaluate_shard

    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    for who, events in [("alice", PAID), ("bob", ["SUBMIT_INFO", "WAIVE_FEE"])]:
        await runtime.spawn({"versionId": "loan-v1", "actorId": who})
        for event_type in events:
            await runtime.send(who, {"type": event_type})
    memo = ReplayMemo(Machine(LOAN_V2))
    evaluations = [
        evaluate_shard(s.index, s.actors, s.resident, runtime.version_codes["loan-v1"], tuple(PAID), memo) for s in runtime.shards
    ]
    records = {actor_id: record for page in _pages_of(runtime, evaluations) for actor_id, record in page_decisions(page)}
    alice = runtime.shard_for("alice").actors["alice"]
    assert records["alice"] == {
        "deploymentId": "dep-9", "at": 12.5, "fromVersion": "loan-v1", "toVersion": "loan-v2",
        "decision": "migrate", "reason": "history-match", "seq": 2, "fingerprint": to_hex(alice.fingerprint),
        "prefixHash": records["alice"]["prefixHash"], "k": 2, "fromState": "awaiting_docs", "landingState": "income_verify",
    }
    assert records["alice"]["prefixHash"] == records["bob"]["prefixHash"] is not None
    assert (records["bob"]["decision"], records["bob"]["toVersion"], records["bob"]["landingState"]) == ("stay", None, None)
    for page in _pages_of(runtime, evaluations):
        for actor_id, record in page_decisions(page):
            assert find_decision(page, actor_id) == record
        assert find_decision(page, "nobody") is None


def test_pages_of_formats_1_to_3_still_read():
    record = {"deploymentId": "dep-1", "at": 1.0, "decision": "stay", "reason": "done"}
    page = {"decisions": [["a", record], ["bb", {**record, "reason": "history-mismatch"}]]}
    assert page_decisions(page) == [("a", record), ("bb", {**record, "reason": "history-mismatch"})]
    assert find_decision(page, "bb")["reason"] == "history-mismatch"
    assert find_decision(page, "c") is None


async def test_an_actors_decisions_page_by_deployment_ordinal(config):
    """Three wildcard deploys in a row move an actor three times; a sibling
    branch never decides it; its decisions page oldest first."""
    async with running(config) as rt:
        await rt.deploy({"id": "v1", "definition": LOAN_V1})
        await rt.spawn({"versionId": "v1", "actorId": "alice"})
        await rt.deploy({"id": "v2", "parentId": "v1", "definition": LOAN_V1})
        await rt.deploy({"id": "side", "parentId": "v1", "definition": LOAN_V2})  # alice is on v2 by now
        await rt.deploy({"id": "v3", "parentId": "v2", "definition": LOAN_V1})
        await rt.deploy({"id": "v4", "parentId": "v3", "definition": LOAN_V1})
        expected = [("dep-1", "v1", "v2"), ("dep-3", "v2", "v3"), ("dep-4", "v3", "v4")]
        everything, more = await rt.decisions("alice")
        assert [(d["deploymentId"], d["fromVersion"], d["toVersion"]) for d in everything] == expected and more is None
        seen, after = [], 0
        while after is not None:
            page, after = await rt.decisions("alice", after=after, limit=2)
            seen += [d["deploymentId"] for d in page]
        assert seen == ["dep-1", "dep-3", "dep-4"]
        first, after = await rt.decisions("alice", limit=2)
        assert [d["deploymentId"] for d in first] == ["dep-1", "dep-3"] and after == 3
    async with running(config) as rt:  # and after a restart
        assert [d["deploymentId"] for d in (await rt.decisions("alice"))[0]] == ["dep-1", "dep-3", "dep-4"]


async def test_a_format_3_store_keeps_its_audit(config):
    """A store written before format 4 holds pages of whole records (and a
    record per actor, no longer read); after the upgrade both audit views
    read the old pages as they read new ones."""
    import lmdb

    from skruntime.runtime._audit import page_decisions as read
    from skruntime.store import LmdbStore, shard_of

    async with running(config) as rt:
        await rt.deploy({"id": "v1", "definition": LOAN_V1})
        for i in range(20):
            await rt.spawn({"versionId": "v1", "actorId": f"a{i}"})
        await rt.deploy({"id": "v2", "parentId": "v1", "definition": LOAN_V1})
        before = {i: (await rt.decisions(f"a{i}"))[0] for i in range(20)}
        listed, _ = await rt.deployments.decisions("dep-1", cursor=None, limit=100)
    store = LmdbStore.open(config)
    rewritten = 0
    try:  # rewrite every page in the format 3 layout
        async with store.running():
            for shard in range(store.shard_count):
                handle = await store.acquire(shard, 2)  # the epoch the next start takes
                batch = handle.batch()
                for first, page in await store.meta.deployment_decisions(1, limit=10_000):
                    if shard_of(first, store.shard_count) == shard:
                        batch.put("deployment_decisions", (1, first), {"decisions": [[a, r] for a, r in read(page)]})
                        rewritten += 1
                if len(batch):
                    await store.commit(batch)
    finally:
        store.close()
    assert rewritten >= 1
    env = lmdb.open(str(config.store.data_dir), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.put(b"skr:format", (3).to_bytes(4, "big"), db=env.open_db(b"meta", txn=txn))
    env.close()
    async with running(config) as rt:
        assert {i: (await rt.decisions(f"a{i}"))[0] for i in range(20)} == before
        assert (await rt.deployments.decisions("dep-1", cursor=None, limit=100))[0] == listed
        assert all(len(before[i]) == 1 for i in range(20))
