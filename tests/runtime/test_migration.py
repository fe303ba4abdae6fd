"""History-routed migration: the SPEC's loan story and the guarantees."""

import random

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skruntime._exceptions import Conflict, NotFound, PreviewStale, Unprocessable
from skruntime._fingerprint import path_hash
from skruntime.runtime._migration import ReplayMemo, evaluate_shard
from skruntime.statechart import Machine

from ..statechart.samples import EVENTS, GUARDS, KITCHEN_SINK, LOAN_V1, LOAN_V2
from .conftest import running

PAID = ["SUBMIT_INFO", "PAY_FEE"]
V2_BODY = {"id": "loan-v2", "parentId": "loan-v1", "historyPath": PAID, "definition": LOAN_V2}


async def loan_story(rt):
    await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
    for who, events in [
        ("alice", ["SUBMIT_INFO", "PAY_FEE"]),
        ("bob", ["SUBMIT_INFO", "WAIVE_FEE"]),
        ("carol", ["SUBMIT_INFO"]),
        ("dave", ["SUBMIT_INFO", "PAY_FEE", "APPROVE"]),
    ]:
        await rt.spawn({"versionId": "loan-v1", "actorId": who, "context": {"applicant": who}})
        for event_type in events:
            await rt.send(who, {"type": event_type})


async def test_the_loan_story(runtime):
    await loan_story(runtime)
    preview = runtime.preview(V2_BODY)
    assert preview["migration"]["wouldMigrate"] == [{"actorId": "alice", "from": "awaiting_docs", "to": "income_verify"}]
    stays = {s["actorId"]: s["reason"] for s in preview["migration"]["wouldStay"]}
    assert stays == {"bob": "history-mismatch", "carol": "history-too-short", "dave": "done"}

    result, created = await runtime.deploy({**V2_BODY, "expect": {"previewToken": preview["previewToken"]}})
    assert created
    summary = result["deployment"]
    assert (summary["evaluated"], summary["migrated"], summary["stayed"]) == (4, 1, 3)
    assert summary["byReason"] == {"done": 1, "history-match": 1, "history-mismatch": 1, "history-too-short": 1}

    alice, bob = runtime.get("alice"), runtime.get("bob")
    assert (alice["versionId"], alice["stateValue"], alice["context"]) == ("loan-v2", "income_verify", {"applicant": "alice"})
    assert (bob["versionId"], bob["stateValue"], bob["context"]) == ("loan-v1", "awaiting_docs", {"applicant": "bob"})
    # both keep accepting events, each on its own version
    assert (await runtime.send("alice", {"type": "VERIFY_INCOME"}))["stateValue"] == "awaiting_docs"
    assert (await runtime.send("bob", {"type": "APPROVE"}))["stateValue"] == "approved"

    [alice_decision], _ = await runtime.decisions("alice")
    assert alice_decision["decision"] == "migrate" and alice_decision["reason"] == "history-match"
    assert alice_decision["fromVersion"] == "loan-v1" and alice_decision["toVersion"] == "loan-v2"
    assert alice_decision["prefixHash"] == f"{path_hash(PAID):016x}" == alice_decision["fingerprint"]
    assert (alice_decision["k"], alice_decision["landingState"], alice_decision["seq"]) == (2, "income_verify", 2)
    [bob_decision], _ = await runtime.decisions("bob")
    assert (bob_decision["decision"], bob_decision["reason"], bob_decision["toVersion"]) == ("stay", "history-mismatch", None)
    assert bob_decision["prefixHash"] == f"{path_hash(PAID):016x}" != bob_decision["fingerprint"]
    [carol_decision], _ = await runtime.decisions("carol")
    assert carol_decision["prefixHash"] == f"{path_hash(PAID[:1]):016x}"  # compared with the path's prefix

    deployment = await runtime.deployments.get(summary["deploymentId"])
    assert deployment["status"] == "complete" and deployment["shardsApplied"] == 8 and deployment["migrated"] == 1
    decisions, more = await runtime.deployments.decisions(summary["deploymentId"], cursor=None, limit=100)
    assert sorted(d["actorId"] for d in decisions) == ["alice", "bob", "carol", "dave"] and more is None


async def test_redeploy_rules(runtime):
    await loan_story(runtime)
    await runtime.deploy(V2_BODY)
    again, created = await runtime.deploy(V2_BODY)
    assert not created and again["version"]["id"] == "loan-v2"
    decisions, _ = await runtime.decisions("alice")
    assert len(decisions) == 1  # the idempotent redeploy decided nothing again
    with pytest.raises(Conflict):
        await runtime.deploy({**V2_BODY, "historyPath": ["SUBMIT_INFO"]})
    with pytest.raises(NotFound):
        await runtime.deploy({**V2_BODY, "id": "loan-v3", "parentId": "nope"})
    with pytest.raises(Unprocessable) as info:
        await runtime.deploy({"id": "x", "historyPath": ["A"], "definition": LOAN_V1})
    assert info.value.pointer == "/historyPath"
    with pytest.raises(Unprocessable) as info:
        await runtime.deploy({"id": "x", "definition": {"id": "m", "initial": "a", "states": {"a": {"on": {"E": "zz"}}}}})
    assert info.value.pointer == "/definition/states/a/on/E"


async def test_no_history_path_moves_every_actor_by_replay(runtime):
    await loan_story(runtime)
    result, _ = await runtime.deploy({"id": "loan-v2", "parentId": "loan-v1", "definition": LOAN_V2})
    assert result["deployment"]["byReason"] == {"done": 1, "no-history-path": 3}
    assert runtime.get("alice")["stateValue"] == "income_verify"  # replayed through v2
    assert runtime.get("bob")["stateValue"] == "awaiting_docs"
    assert runtime.get("carol")["stateValue"] == "under_review"
    assert runtime.get("dave")["versionId"] == "loan-v1"


async def test_rescue_moves_only_actors_with_the_bad_event(runtime):
    faulty = {"id": "loan", "initial": "submitted", "states": {
        "submitted": {"on": {"SUBMIT_INFO": "under_review"}},
        "under_review": {"on": {"PAY_FEE": "awaiting_docs", "FLAG": "rejected"}},  # bug: FLAG rejects
        "awaiting_docs": {"on": {"APPROVE": "approved"}},
        "approved": {"type": "final"}, "rejected": {"on": {"APPEAL": "under_review"}}}}
    fixed = {**faulty, "states": {**faulty["states"],
        "under_review": {"on": {"PAY_FEE": "awaiting_docs", "FLAG": "manual_check"}},
        "manual_check": {"on": {"CLEAR": "awaiting_docs"}}}}
    await runtime.deploy({"id": "v1", "definition": faulty})
    for i in range(20):
        await runtime.spawn({"versionId": "v1", "actorId": f"a{i}"})
        await runtime.send(f"a{i}", {"type": "SUBMIT_INFO"})
        await runtime.send(f"a{i}", {"type": "FLAG" if i % 4 == 0 else "PAY_FEE"})
    result, _ = await runtime.deploy({"id": "v1-fix", "parentId": "v1", "historyPath": ["SUBMIT_INFO", "FLAG"], "definition": fixed})
    assert result["deployment"]["migrated"] == 5
    for i in range(20):
        actor = runtime.get(f"a{i}")
        expected = ("v1-fix", "manual_check") if i % 4 == 0 else ("v1", "awaiting_docs")
        assert (actor["versionId"], actor["stateValue"]) == expected


async def test_replay_divergence_keeps_the_actor(runtime):
    await loan_story(runtime)
    strict = {**LOAN_V2, "states": {**LOAN_V2["states"], "under_review": {"on": {"PAY_FEE": "income_verify"}}}}
    result, _ = await runtime.deploy({"id": "loan-v2", "parentId": "loan-v1", "definition": strict})
    assert result["deployment"]["byReason"]["replay-diverged"] == 1
    [bob_decision], _ = await runtime.decisions("bob")
    assert (bob_decision["reason"], bob_decision["divergedSeq"]) == ("replay-diverged", 2)
    assert runtime.get("bob")["versionId"] == "loan-v1"


async def test_stale_preview_token_writes_nothing(runtime):
    await loan_story(runtime)
    await runtime.spawn({"versionId": "loan-v1", "actorId": "erin"})
    preview = runtime.preview(V2_BODY, summary=True)
    assert "migration" not in preview and preview["counts"]["evaluated"] == 5
    for event_type in PAID:  # erin now matches: the decision set changed
        await runtime.send("erin", {"type": event_type})
    with pytest.raises(PreviewStale) as info:
        await runtime.deploy({**V2_BODY, "expect": {"previewToken": preview["previewToken"]}})
    assert info.value.counts["migrated"] == 2
    assert runtime.versions.get("loan-v2") is None
    assert (await runtime.decisions("alice"))[0] == []
    # a fresh preview's token is accepted
    fresh = runtime.preview(V2_BODY)
    result, _ = await runtime.deploy({**V2_BODY, "expect": {"previewToken": fresh["previewToken"]}})
    assert result["deployment"]["migrated"] == 2


async def test_a_preview_of_a_deployed_version_says_what_its_redeploy_does(runtime):
    # Deploying an existing id again is an idempotent 200 that moves nobody,
    # or a 409 with another body; the preview must say the same.
    await loan_story(runtime)
    await runtime.deploy(V2_BODY)
    await runtime.spawn({"versionId": "loan-v1", "actorId": "erin"})
    for event_type in PAID:  # erin would match a new deployment, not this one
        await runtime.send("erin", {"type": event_type})
    preview = runtime.preview(V2_BODY)
    assert preview["alreadyDeployed"] is True
    assert preview["migration"] == {"wouldMigrate": [], "wouldStay": []}
    assert preview["counts"] == {"evaluated": 0, "migrated": 0, "stayed": 0, "byReason": {}}
    result, created = await runtime.deploy({**V2_BODY, "expect": {"previewToken": preview["previewToken"]}})
    assert not created and runtime.get("erin")["versionId"] == "loan-v1"
    with pytest.raises(Conflict):
        runtime.preview({**V2_BODY, "historyPath": ["SUBMIT_INFO"]})


async def test_an_evaluation_that_fails_releases_every_worker(runtime, monkeypatch):
    # A bug in one shard's evaluation must fail the deploy, not leave it
    # waiting forever with every other worker held at its gate.
    from skruntime.runtime import _deploy

    await loan_story(runtime)
    calls = {"n": 0}
    real = _deploy.evaluate_shard

    def flaky(index, *args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug in the evaluation")
        return real(index, *args)

    monkeypatch.setattr(_deploy, "evaluate_shard", flaky)
    with trio.fail_after(10), pytest.raises(RuntimeError, match="a bug"):
        await runtime.deploy(V2_BODY)
    assert runtime.versions.get("loan-v2") is None  # nothing applied
    assert (await runtime.send("bob", {"type": "APPROVE"}))["stateValue"] == "approved"  # every shard serves
    monkeypatch.setattr(_deploy, "evaluate_shard", real)
    result, _ = await runtime.deploy(V2_BODY)
    assert result["deployment"]["migrated"] == 1


async def test_hash_collision_is_rejected_by_the_exact_comparison(runtime):
    await loan_story(runtime)
    shard = runtime.shard_for("bob")
    slot = shard.resident.slots["bob"]
    shard.resident.columns[1][slot] = path_hash(PAID)  # bob's hash now collides with the path
    memo = ReplayMemo(Machine(LOAN_V2))
    evaluation = evaluate_shard(shard.index, shard.actors, shard.resident, runtime.version_codes["loan-v1"], tuple(PAID), memo)
    bob = dict(zip(evaluation.ids, evaluation.outcomes))["bob"]
    assert (bob.decision, bob.reason) == ("stay", "history-mismatch")


async def test_actors_with_the_same_fate_share_one_outcome(runtime):
    """A deployment of many actors makes one outcome per landing point and
    kind of stay, not one object per actor; and every actor's trace shares
    its entries (one tuple per distinct event type and guard answers)."""
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    heads = [["SUBMIT_INFO", "PAY_FEE"], ["SUBMIT_INFO", "WAIVE_FEE"], ["SUBMIT_INFO"]]
    for i in range(60):
        await runtime.spawn({"versionId": "loan-v1", "actorId": f"s{i}"})
        await runtime.send_batch({"events": [{"actorId": f"s{i}", "type": t} for t in heads[i % 3]]})
    memo = ReplayMemo(Machine(LOAN_V2))
    outcomes = []
    for shard in runtime.shards:
        evaluation = evaluate_shard(shard.index, shard.actors, shard.resident, runtime.version_codes["loan-v1"], tuple(PAID), memo)
        outcomes += evaluation.outcomes
    assert len(outcomes) == 60
    assert sorted({(o.decision, o.reason) for o in outcomes}) == [
        ("migrate", "history-match"), ("stay", "history-mismatch"), ("stay", "history-too-short")
    ]
    assert len({id(o) for o in outcomes}) == 3
    entries = {id(entry) for shard in runtime.shards for actor in shard.actors.values() for entry in actor.history}
    assert len(entries) == 3  # SUBMIT_INFO, PAY_FEE, WAIVE_FEE


async def test_decisions_survive_restart_and_migrated_timers_are_rearmed(config, mock_clock):
    mock_clock.autojump_threshold = 0.02
    timed_v2 = {**LOAN_V2, "states": {**LOAN_V2["states"], "income_verify": {"on": {"VERIFY_INCOME": "awaiting_docs"}, "after": {"60000": "awaiting_docs"}}}}
    async with running(config) as rt:
        await loan_story(rt)
        await rt.deploy({**V2_BODY, "definition": timed_v2})
        assert "xstate.after.60000.loan.income_verify" in rt.shard_for("alice").actors["alice"].timers
    async with running(config) as rt:
        assert rt.get("alice")["versionId"] == "loan-v2"
        assert len((await rt.decisions("alice"))[0]) == 1
        assert (await rt.deployments.get("dep-1"))["status"] == "complete"
        assert "xstate.after.60000.loan.income_verify" in rt.shard_for("alice").actors["alice"].timers


EVENTS = ["SUBMIT_INFO", "PAY_FEE", "WAIVE_FEE", "APPROVE", "REJECT", "VERIFY_INCOME"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(EVENTS), max_size=5), min_size=1, max_size=30),
       st.sampled_from([None, ["SUBMIT_INFO"], PAID, ["SUBMIT_INFO", "WAIVE_FEE", "APPROVE"]]))
def test_preview_equals_the_following_deploy(tmp_path_factory, histories, path):
    from .conftest import make_config

    async def scenario():
        async with running(make_config(tmp_path_factory.mktemp("p"))) as rt:
            await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
            for i, history in enumerate(histories):
                await rt.spawn({"versionId": "loan-v1", "actorId": f"a{i}"})
                for event_type in history:
                    try:
                        await rt.send(f"a{i}", {"type": event_type})
                    except Exception:
                        pass
            body = {"id": "loan-v2", "parentId": "loan-v1", "definition": LOAN_V2}
            if path is not None:
                body["historyPath"] = path
            preview = rt.preview(body)
            await rt.deploy({**body, "expect": {"previewToken": preview["previewToken"]}})
            migrated = {m["actorId"]: m["to"] for m in preview["migration"]["wouldMigrate"]}
            stayed = {s["actorId"]: s["reason"] for s in preview["migration"]["wouldStay"]}
            for i in range(len(histories)):
                [decision], _ = await rt.decisions(f"a{i}")
                if decision["decision"] == "migrate":
                    assert migrated[f"a{i}"] == decision["landingState"] == rt.get(f"a{i}")["stateValue"]
                else:
                    assert stayed[f"a{i}"] == decision["reason"]

    trio.run(scenario)


async def test_sends_racing_a_deploy_equal_a_sequential_order(runtime):
    """Guarantees 1 and 2: every actor gets exactly one decision; every
    acknowledged event is applied wholly before its actor's decision (and is
    in the evaluated history) or wholly after it (on the decided version)."""
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    rnd = random.Random(11)
    actors = [f"r{i}" for i in range(60)]
    for actor_id in actors:
        await runtime.spawn({"versionId": "loan-v1", "actorId": actor_id})
    acknowledged = {a: [] for a in actors}

    async def sender(actor_id):
        for _ in range(4):
            event_type = rnd.choice(EVENTS)
            try:
                result = await runtime.send(actor_id, {"type": event_type})
            except Exception:
                continue
            acknowledged[actor_id].append((result["seq"], event_type, result["versionId"]))
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        for actor_id in actors:
            nursery.start_soon(sender, actor_id)
        await trio.sleep(0)
        nursery.start_soon(runtime.deploy, V2_BODY)

    v1, v2 = Machine(LOAN_V1), Machine(LOAN_V2)
    straddled = 0
    for actor_id in actors:
        decisions, _ = await runtime.decisions(actor_id)
        assert len(decisions) == 1
        decision = decisions[0]
        history = [e["type"] for e in (await runtime.history(actor_id, limit=100))[0]]
        assert [t for _, t, _ in sorted(acknowledged[actor_id])] == history
        cut = decision["seq"]
        # the decision is what a sequential deploy after event `cut` decides
        before = history[:cut]
        matches = before[:2] == PAID
        expect_migrate = matches and not v1.replay([(t, None) for t in before]).snapshot.done
        assert (decision["decision"] == "migrate") == expect_migrate
        # events after the cut ran on the decided version, from the landing
        machine = v2 if expect_migrate else v1
        final = machine.replay([(t, None) for t in history]).snapshot
        assert runtime.get(actor_id)["stateValue"] == final.value
        for seq, _, version in acknowledged[actor_id]:
            assert version == ("loan-v2" if expect_migrate and seq > cut else "loan-v1")
        straddled += 0 < cut < len(history)
    assert straddled > 0, "the deploy did not land between any actor's events; the race was not exercised"


async def test_deployment_decisions_page_through_every_actor(runtime, monkeypatch):
    from skruntime.runtime import _audit

    monkeypatch.setattr(_audit, "DECISION_PAGE", 3)  # many pages per shard
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    for i in range(57):
        await runtime.spawn({"versionId": "loan-v1", "actorId": f"actor-{i}"})
    result, _ = await runtime.deploy({"id": "loan-v2", "parentId": "loan-v1", "definition": LOAN_V2})
    dep = result["deployment"]["deploymentId"]
    for limit in (1, 4, 7, 100):
        seen, cursor = [], None
        while True:
            page, cursor = await runtime.deployments.decisions(dep, cursor=cursor, limit=limit)
            assert len(page) <= limit
            seen.extend(d["actorId"] for d in page)
            if cursor is None:
                break
        assert sorted(seen) == sorted(f"actor-{i}" for i in range(57)) and len(seen) == 57
    # Each actor's own decision is found by a seek to the one page that holds
    # it (first, middle or last of its page; ids of one and two digits sort
    # by length first).
    for i in range(57):
        [decision], more = await runtime.decisions(f"actor-{i}")
        assert (decision["actorId"], decision["deploymentId"], decision["decision"], more) == (f"actor-{i}", dep, "migrate", None)


async def test_unknown_or_impossible_deployment_ids_are_404(runtime):
    for dep_id in ("dep-7", "dep-99999999999999999999999", "dep-x", "nope", "dep-٣"):
        with pytest.raises(NotFound):
            await runtime.deployments.get(dep_id)
        with pytest.raises(NotFound):
            await runtime.deployments.decisions(dep_id, cursor=None, limit=10)


_SINK_MEMO = ReplayMemo(Machine(KITCHEN_SINK))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spawn=st.frozensets(st.sampled_from(["valid", "autoStart", "force"])),
    history=st.lists(
        st.tuples(
            st.sampled_from(EVENTS),
            st.frozensets(st.sampled_from(GUARDS)),
        ),
        max_size=25,
    ),
)
def test_memoised_replay_equals_the_machines_replay(spawn, history):
    """The step memo (shared across examples, like across a deployment's
    actors) lands every history exactly where Machine.replay does: same
    configuration, same divergence index, same pending delayed events."""
    from skruntime._fingerprint import FNV_OFFSET
    from skruntime.runtime._actor import Actor

    machine = _SINK_MEMO.machine
    spawn_guards = tuple(sorted(spawn))
    trace = [(event_type, tuple(sorted(names))) for event_type, names in history]
    start = machine.initial_transition(guards=dict.fromkeys(spawn_guards, True) or None).snapshot
    actor = Actor("a", "v", machine, start, len(trace), FNV_OFFSET, 0.0, 0.0, spawn_guards, trace + [("STALE", ())], {})
    expected = machine.replay(
        [(event_type, dict.fromkeys(names, True) if names else None) for event_type, names in trace],
        spawn_guards=dict.fromkeys(spawn_guards, True) or None,
    )
    got = _SINK_MEMO.replay(actor)
    assert got.diverged_at == expected.diverged_at
    if expected.snapshot is None:
        assert got.snapshot is None
    else:
        assert got.snapshot.configuration is expected.snapshot.configuration
        assert got.snapshot.value == expected.snapshot.value
        assert list(got.timers.items()) == list(expected.timers.items())


def test_memoised_replay_drops_a_delayed_event_that_fired_in_place():
    """A targetless delayed transition fires without leaving its state: the
    landing must not still count it as pending (nor re-arm it)."""
    from skruntime._fingerprint import FNV_OFFSET
    from skruntime.runtime._actor import Actor

    machine = Machine({"id": "t", "initial": "a", "states": {"a": {"after": {"20": {"actions": "tick"}, "50": "b"}}, "b": {}}})
    tick = "xstate.after.20.t.a"
    memo = ReplayMemo(machine)
    start = machine.initial_transition().snapshot
    for trace, pending in [([], {tick: 20, "xstate.after.50.t.a": 50}), ([(tick, ())], {"xstate.after.50.t.a": 50})]:
        actor = Actor("a", "v", machine, start, len(trace), FNV_OFFSET, 0.0, 0.0, (), trace, {})
        got = memo.replay(actor)
        assert got.snapshot.value == "a" and dict(got.timers) == pending
        assert dict(machine.replay([(e, None) for e, _ in trace]).timers) == pending


async def test_a_preview_token_survives_a_restart(config):
    # The token digests the decision *set*: a restart reloads the actors in
    # key order (shorter ids first), not in the order they were spawned, and
    # must not make a preview read before it stale.
    ids = ["a" * n for n in range(24, 0, -1)]  # spawned longest first
    async with running(config) as rt:
        await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
        for actor_id in ids:
            await rt.spawn({"versionId": "loan-v1", "actorId": actor_id})
            await rt.send(actor_id, {"type": "SUBMIT_INFO"})
        preview = rt.preview(V2_BODY, summary=True)
    async with running(config) as rt:
        assert rt.preview(V2_BODY, summary=True)["previewToken"] == preview["previewToken"]
        result, created = await rt.deploy({**V2_BODY, "expect": {"previewToken": preview["previewToken"]}})
        assert created and result["deployment"]["evaluated"] == len(ids)


async def test_done_actors_are_decided_from_the_resident_after_a_restart_too(config):
    """Done and mismatching actors are decided from the resident's columns
    (done flag, length) without touching the actors: those must follow the
    actors through events, deploys and a restart."""
    async with running(config) as rt:
        await loan_story(rt)  # dave is done
        await rt.send("carol", {"type": "WAIVE_FEE"})
        await rt.send("carol", {"type": "REJECT"})  # carol is done now too
        before = rt.preview(V2_BODY)
    async with running(config) as rt:
        for shard in rt.shards:
            for actor_id, actor in shard.actors.items():
                slot = shard.resident.slots[actor_id]
                assert (shard.resident.done[slot], shard.resident.lengths[slot]) == (actor.snapshot.done, actor.seq)
        after = rt.preview(V2_BODY)
        stays = {s["actorId"]: s["reason"] for s in after["migration"]["wouldStay"]}
        assert stays == {"bob": "history-mismatch", "carol": "done", "dave": "done"}
        assert after["previewToken"] == before["previewToken"]


async def test_a_preview_right_after_a_restart_routes_on_filled_rows(config, monkeypatch):
    """Recovery defers the resident rows (filled by a background task): a
    preview before that task is through fills them itself and routes the same."""
    from skruntime.runtime import _runtime

    monkeypatch.setattr(_runtime, "_FILL_SLICE", 1)  # one row between yields
    async with running(config) as rt:
        await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
        for i in range(30):
            await rt.spawn({"versionId": "loan-v1", "actorId": f"a{i}"})
            for event_type in (PAID if i % 3 == 0 else ["SUBMIT_INFO", "WAIVE_FEE"])[: 1 + i % 2]:
                await rt.send(f"a{i}", {"type": event_type})
        body = {"id": "loan-v2", "parentId": "loan-v1", "historyPath": PAID, "definition": LOAN_V2}
        before = rt.preview(body)
    async with running(config) as rt:
        assert sum(shard.resident.deferred for shard in rt.shards) > 20  # hardly any filled yet
        after = rt.preview(body)
        assert after == before
        await trio.testing.wait_all_tasks_blocked()
        assert sum(shard.resident.deferred for shard in rt.shards) == 0
