"""Spawn, send, read: durability, ordering, idempotency, timers, recovery."""

import pytest
import trio
import trio.testing

from skruntime.runtime import TrioClock
from skruntime._exceptions import (
    ActorDone,
    ActorExists,
    EventLoop,
    EventNotHandled,
    NotFound,
    Unprocessable,
)

from ..statechart.samples import LOAN_V1
from .conftest import running

COUNTER = {
    "id": "counter",
    "initial": "s0",
    "states": {f"s{i}": {"on": {"NEXT": f"s{(i + 1) % 10}"}} for i in range(10)},
}
TIMED = {
    "id": "timed",
    "initial": "waiting",
    "states": {
        "waiting": {"after": {"5000": "expired"}, "on": {"PING": {"actions": "pong"}, "STOP": "stopped"}},
        "expired": {"entry": [{"type": "notify", "params": {"why": "timeout"}}]},
        "stopped": {},
    },
}
LOOPING = {"id": "loop", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"always": "c"}, "c": {"always": "b"}}}


async def test_spawn_send_get_history(runtime):
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    spawned = await runtime.spawn({"versionId": "loan-v1", "actorId": "alice", "context": {"amount": 100}})
    assert spawned["stateValue"] == "submitted" and spawned["seq"] == 0 and spawned["effects"] == []
    r1 = await runtime.send("alice", {"type": "SUBMIT_INFO", "payload": {"doc": 1}})
    r2 = await runtime.send("alice", {"type": "PAY_FEE"})
    assert (r1["seq"], r1["stateValue"]) == (1, "under_review")
    assert (r2["seq"], r2["stateValue"], r2["changed"]) == (2, "awaiting_docs", True)
    actor = runtime.get("alice")
    assert actor["context"] == {"amount": 100} and actor["fingerprint"] == "2eeb7ab5fafc25f1"
    events, more = await runtime.history("alice")
    assert [(e["seq"], e["type"]) for e in events] == [(1, "SUBMIT_INFO"), (2, "PAY_FEE")]
    assert events[0]["payload"] == {"doc": 1} and more is None


async def test_rejections_record_nothing(runtime):
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    await runtime.spawn({"versionId": "loan-v1", "actorId": "a"})
    with pytest.raises(EventNotHandled) as info:
        await runtime.send("a", {"type": "APPROVE"})
    assert info.value.accepted == ("SUBMIT_INFO",)
    with pytest.raises(NotFound):
        await runtime.send("nobody", {"type": "X"})
    with pytest.raises(ActorExists):
        await runtime.spawn({"versionId": "loan-v1", "actorId": "a"})
    with pytest.raises(NotFound):
        await runtime.spawn({"versionId": "nope", "actorId": "b"})
    with pytest.raises(Unprocessable) as bad:
        await runtime.send("a", {"type": "SUBMIT_INFO", "guards": {"ok": "yes"}})
    assert bad.value.pointer == "/guards/ok"
    with pytest.raises(Unprocessable):
        await runtime.send("a", {"type": "xstate.after.1.x"})
    for t in ("SUBMIT_INFO", "PAY_FEE", "APPROVE"):
        await runtime.send("a", {"type": t})
    with pytest.raises(ActorDone):
        await runtime.send("a", {"type": "APPROVE"})
    assert runtime.get("a")["seq"] == 3


async def test_infinite_loop_rejects_the_event(runtime):
    await runtime.deploy({"id": "loop-v1", "definition": LOOPING})
    await runtime.spawn({"versionId": "loop-v1", "actorId": "l"})
    with pytest.raises(EventLoop):
        await runtime.send("l", {"type": "GO"})
    assert runtime.get("l")["stateValue"] == "a" and runtime.get("l")["seq"] == 0


async def test_idempotent_retries(runtime):
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    first = await runtime.send("c", {"type": "NEXT"}, idempotency_key="k1")
    again = await runtime.send("c", {"type": "NEXT"}, idempotency_key="k1")
    assert again == first and runtime.get("c")["seq"] == 1
    with pytest.raises(Unprocessable):
        await runtime.send("c", {"type": "NEXT", "payload": {"n": 1}}, idempotency_key="k1")


async def test_concurrent_senders_apply_in_arrival_order(runtime):
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    acks = []

    async def sender(i):
        result = await runtime.send("c", {"type": "NEXT", "payload": {"i": i}})
        acks.append((result["seq"], i))

    async with trio.open_nursery() as nursery:
        for i in range(200):
            nursery.start_soon(sender, i)
    events, _ = await runtime.history("c", limit=1000)
    assert [e["seq"] for e in events] == list(range(1, 201))
    by_seq = dict(acks)
    assert all(by_seq[e["seq"]] == e["payload"]["i"] for e in events)
    assert runtime.get("c")["stateValue"] == "s0"  # 200 steps around a 10-cycle


async def test_batch_keeps_order_and_isolates_failures(runtime):
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    items = [{"actorId": "c", "type": "NEXT", "payload": {"i": i}} for i in range(5)]
    items.insert(2, {"actorId": "ghost", "type": "NEXT"})
    items.insert(3, {"actorId": "c", "type": 7})
    results = await runtime.send_batch({"events": items})
    assert [r.get("seq") for r in results] == [1, 2, None, None, 3, 4, 5]
    assert results[2]["status"] == 404 and results[3]["status"] == 422
    with pytest.raises(Unprocessable):
        await runtime.send_batch({"events": [{"actorId": "c", "type": "NEXT"}] * 1001})


async def test_timers_fire_and_are_cancelled(runtime, mock_clock):
    # Jump only after 20 ms of real idleness: waiting on an LMDB commit in a
    # worker thread must not count as idle.
    mock_clock.autojump_threshold = 0.02
    await runtime.deploy({"id": "t-v1", "definition": TIMED})
    await runtime.spawn({"versionId": "t-v1", "actorId": "t1"})
    await runtime.spawn({"versionId": "t-v1", "actorId": "t2"})
    await runtime.send("t2", {"type": "STOP"})  # leaving 'waiting' cancels the timer
    await trio.sleep(4.0)
    assert runtime.get("t1")["stateValue"] == "waiting"
    await trio.sleep(2.0)
    assert runtime.get("t1")["stateValue"] == "expired"
    assert runtime.get("t2")["stateValue"] == "stopped"
    events, _ = await runtime.history("t1")
    assert [e["type"] for e in events] == ["xstate.after.5000.timed.waiting"]


async def test_everything_survives_a_restart_and_due_timers_fire(config, mock_clock):
    mock_clock.autojump_threshold = 0.02
    clock = TrioClock()  # one wall clock for both runs, following the mock
    async with running(config, clock) as rt:
        await rt.deploy({"id": "t-v1", "definition": TIMED})
        await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
        await rt.spawn({"versionId": "t-v1", "actorId": "t"})
        await rt.spawn({"versionId": "loan-v1", "actorId": "alice", "context": {"k": [1, 2]}})
        await rt.send("alice", {"type": "SUBMIT_INFO"}, idempotency_key="once")
    await trio.sleep(10)  # the server is down while the timer is due
    async with running(config, clock) as rt:
        alice = rt.get("alice")
        assert (alice["stateValue"], alice["seq"], alice["context"]) == ("under_review", 1, {"k": [1, 2]})
        again = await rt.send("alice", {"type": "SUBMIT_INFO"}, idempotency_key="once")
        assert again["seq"] == 1  # the key survived the restart
        with trio.fail_after(0.5):  # due at start-up: fires at once, not 5 s later
            while rt.get("t")["stateValue"] != "expired":
                await trio.sleep(0.01)


async def test_list_filters_and_pages(runtime):
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    for i in range(30):
        await runtime.spawn({"versionId": "loan-v1", "actorId": f"l{i:02d}"})
        if i % 3 == 0:
            await runtime.send(f"l{i:02d}", {"type": "SUBMIT_INFO"})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    seen, cursor = [], None
    while True:
        page, cursor = runtime.list_actors(version_id="loan-v1", cursor=cursor, limit=7)
        seen.extend(a["actorId"] for a in page)
        if cursor is None:
            break
    assert sorted(seen) == [f"l{i:02d}" for i in range(30)]
    reviewing, _ = runtime.list_actors(version_id="loan-v1", state="under_review", limit=100)
    assert sorted(a["actorId"] for a in reviewing) == [f"l{i:02d}" for i in range(0, 30, 3)]
    counts = runtime.count_actors("loan-v1")
    assert counts["byState"] == {"submitted": 20, "under_review": 10}


async def test_json_nested_too_deep_is_refused_everywhere(runtime):
    import orjson

    deep = orjson.loads("[" * 300 + "]" * 300)  # parses fine; could not be stored
    await runtime.deploy({"id": "loan-v1", "definition": LOAN_V1})
    await runtime.spawn({"versionId": "loan-v1", "actorId": "a"})
    for call, pointer in (
        (runtime.send("a", {"type": "SUBMIT_INFO", "payload": {"d": deep}}), "/payload"),
        (runtime.spawn({"versionId": "loan-v1", "actorId": "b", "context": {"x": deep}}), "/context"),
        (runtime.deploy({"id": "v9", "definition": {**LOAN_V1, "states": {**LOAN_V1["states"], "approved": {"type": "final", "meta": deep}}}}), "/definition"),
    ):
        with pytest.raises(Unprocessable) as info:
            await call
        assert info.value.pointer == pointer and "nested" in info.value.detail
    [result] = await runtime.send_batch({"events": [{"actorId": "a", "type": "SUBMIT_INFO", "payload": {"d": deep}}]})
    assert (result["status"], result["pointer"]) == (422, "/events/0/payload")
    assert (await runtime.send("a", {"type": "SUBMIT_INFO", "payload": {"d": orjson.loads("[" * 60 + "]" * 60)}}))["seq"] == 1


async def test_an_unexpected_error_discards_its_turn_not_the_worker(runtime, monkeypatch):
    from skruntime._exceptions import ServiceUnavailable
    from skruntime.runtime._shard import Shard

    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    original = Shard.apply
    calls = {"n": 0}

    def failing_once(self, command, pending, batch):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug")
        return original(self, command, pending, batch)

    monkeypatch.setattr(Shard, "apply", failing_once)
    with pytest.raises(ServiceUnavailable):
        await runtime.send("c", {"type": "NEXT"})
    assert runtime.get("c")["seq"] == 0  # nothing of the discarded turn was applied
    assert (await runtime.send("c", {"type": "NEXT"}))["seq"] == 1  # the worker still serves


async def _gated_commits(runtime, monkeypatch, fail_first: bool):
    """Hold every worker's first commit until ``gate`` is set (then fail it
    if ``fail_first``); later commits go through.  Returns the gate, an event
    set once the first commit waits, and a list that records, for every turn
    applied, whether it was applied on top of a turn in flight."""
    from skruntime._exceptions import StoreError
    from skruntime.runtime._worker import Worker

    stacked = []
    real_apply = Worker._apply

    def apply(self, commands, parent):
        stacked.append(parent is not None)
        return real_apply(self, commands, parent)

    monkeypatch.setattr(Worker, "_apply", apply)

    gate = trio.Event()
    entered = trio.Event()
    state = {"first": True}
    for worker in runtime.workers:
        real = worker._commit

        async def commit(*batches, _real=real):
            if state["first"]:
                state["first"] = False
                entered.set()
                await gate.wait()
                if fail_first:
                    raise StoreError("disk on fire")
            await _real(*batches)

        worker._commit = commit
    return gate, entered, stacked


async def test_the_next_turn_applies_while_one_commits_and_answers_after_it(runtime, monkeypatch):
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    gate, entered, stacked = await _gated_commits(runtime, monkeypatch, fail_first=False)
    answers = []

    async def send(i):
        answers.append((i, (await runtime.send("c", {"type": "NEXT", "payload": {"i": i}}))["seq"]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, 0)
        await entered.wait()  # turn 1 is being committed
        nursery.start_soon(send, 1)
        await trio.testing.wait_all_tasks_blocked()
        # turn 2 was applied on top of turn 1 but neither is answered or current
        assert stacked == [False, True]
        assert answers == [] and runtime.get("c")["seq"] == 0
        gate.set()
    assert sorted(answers) == [(0, 1), (1, 2)] and stacked == [False, True]
    events, _ = await runtime.history("c")
    assert [(e["seq"], e["payload"]) for e in events] == [(1, {"i": 0}), (2, {"i": 1})]


async def test_a_turn_built_on_a_failed_commit_is_applied_again(runtime, monkeypatch):
    from skruntime._exceptions import ServiceUnavailable

    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    gate, entered, stacked = await _gated_commits(runtime, monkeypatch, fail_first=True)
    outcomes = {}

    async def send(i):
        try:
            outcomes[i] = (await runtime.send("c", {"type": "NEXT", "payload": {"i": i}}, idempotency_key=f"k{i}"))["seq"]
        except ServiceUnavailable as exc:
            outcomes[i] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, 0)
        await entered.wait()
        nursery.start_soon(send, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert stacked == [False, True]
        gate.set()
    assert stacked == [False, True, False]  # applied again, on nothing in flight
    # the first failed; the second, applied on top of it at first, was applied
    # again on the durable state: it is seq 1, not 2, and nothing has a gap
    assert isinstance(outcomes[0], ServiceUnavailable) and outcomes[1] == 1
    events, _ = await runtime.history("c")
    assert [(e["seq"], e["payload"]) for e in events] == [(1, {"i": 1})]
    assert runtime.get("c")["seq"] == 1 and runtime.get("c")["stateValue"] == "s1"
    # the failed request's idempotency key was not remembered: a retry applies
    assert (await runtime.send("c", {"type": "NEXT", "payload": {"n": 0}}, idempotency_key="k0"))["seq"] == 2


async def test_pipelined_turns_checkpoint_as_often_as_sequential_ones(runtime, monkeypatch):
    from skruntime.store import ShardBatch

    every = runtime.shards[0].checkpoint_every
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    for _ in range(every - 1):
        await runtime.send("c", {"type": "NEXT"})
    records = []
    real_put = ShardBatch.put

    def put(self, table, key, value):
        if table == "actors":
            records.append(value["seq"])
        return real_put(self, table, key, value)

    monkeypatch.setattr(ShardBatch, "put", put)
    gate, entered, stacked = await _gated_commits(runtime, monkeypatch, fail_first=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(runtime.send, "c", {"type": "NEXT"})  # seq `every`: a checkpoint
        await entered.wait()
        nursery.start_soon(runtime.send, "c", {"type": "NEXT"})  # built on it before it was durable
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert stacked == [False, True]
    assert records == [every]  # not rewritten at every + 1
    assert runtime.actor("c").checkpoint_seq == every and runtime.get("c")["seq"] == every + 1


async def test_a_request_answered_503_is_not_applied_when_its_turn_is_applied_again(runtime, monkeypatch):
    # A bug while applying a pipelined turn fails the turn's requests (503,
    # retry); if the turn in flight beneath it then fails too, the turn is
    # applied again: the requests already answered must not be part of it.
    from skruntime._exceptions import ServiceUnavailable
    from skruntime.runtime._shard import Shard

    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    gate, entered, stacked = await _gated_commits(runtime, monkeypatch, fail_first=True)
    original = Shard.apply
    bug = {"armed": True}

    def buggy(self, command, pending, batch):
        if bug["armed"] and getattr(command, "payload", None) == {"call": "boom"}:
            bug["armed"] = False
            raise RuntimeError("a bug")
        return original(self, command, pending, batch)

    monkeypatch.setattr(Shard, "apply", buggy)
    outcomes = {}

    async def first():
        try:
            outcomes["first"] = await runtime.send("c", {"type": "NEXT", "payload": {"call": "first"}})
        except ServiceUnavailable as exc:
            outcomes["first"] = exc

    async def batch():  # one turn: "ok" applies, then the bug fails both
        events = [{"actorId": "c", "type": "NEXT", "payload": {"call": p}} for p in ("ok", "boom")]
        outcomes["batch"] = await runtime.send_batch({"events": events})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(first)
        await entered.wait()  # its turn is being committed (and will fail)
        nursery.start_soon(batch)
        await trio.testing.wait_all_tasks_blocked()
        assert stacked == [False, True]
        gate.set()
    assert stacked == [False, True, False]
    assert isinstance(outcomes["first"], ServiceUnavailable)
    assert [r["status"] for r in outcomes["batch"]] == [503, 503]
    # every request was answered 503: none was applied (the next one is seq 1)
    assert (await runtime.send("c", {"type": "NEXT", "payload": {"call": "after"}}))["seq"] == 1
    events, _ = await runtime.history("c")
    assert [e["payload"] for e in events] == [{"call": "after"}]


async def test_memoised_checks_do_not_keep_long_strings(runtime):
    # Ids and event types are memoised; a string longer than any valid one
    # (a WebSocket send frame's actorId is any string) must not be kept, else
    # a client holds up to the caches' sizes times the frame limit in memory.
    from skruntime.runtime import _runtime as rt_module

    caches = [rt_module._shard_index, rt_module._valid_id, rt_module._event_type_problem]
    rt_module.check_event_type("NEXT", "/type")  # a valid one is kept
    before = [cache.cache_info().currsize for cache in caches]
    long = "a" * 100_000
    with pytest.raises(NotFound):
        await runtime.send(long, {"type": "NEXT"})
    with pytest.raises(NotFound):
        runtime.get(long + "b")
    with pytest.raises(Unprocessable):
        rt_module.check_id(long + "c", "actorId", "/actorId")
    with pytest.raises(Unprocessable):
        rt_module.check_event_type(long + "d", "/type")
    assert [cache.cache_info().currsize for cache in caches] == before


async def test_queued_batches_count_their_events_against_the_intake_limit(runtime, monkeypatch):
    """A batch reaches a worker as one list, but back-pressure counts its
    commands: with room for 10, a second list of 8 waits until the worker
    takes the first."""
    from skruntime.runtime import _worker, batch_results

    monkeypatch.setattr(_worker, "MAX_COMMANDS_PER_TURN", 10)
    await runtime.deploy({"id": "c-v1", "definition": COUNTER})
    await runtime.spawn({"versionId": "c-v1", "actorId": "c"})
    gate, entered, _ = await _gated_commits(runtime, monkeypatch, fail_first=False)
    queued = []

    async def batch(name):
        commands = runtime.make_batch([{"actorId": "c", "type": "NEXT"}] * 8)
        await runtime.submit_batch(commands)
        queued.append(name)
        assert all("seq" in result for result in await batch_results(commands))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(runtime.send, "c", {"type": "NEXT"})
        await entered.wait()  # turn 1 commits (held); the worker is free
        nursery.start_soon(batch, "a")  # taken at once: applied on top of turn 1, then the worker waits for it to land
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(batch, "b")  # queued: 8 of 10
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(batch, "c")  # 8 + 8 > 10: waits
        await trio.testing.wait_all_tasks_blocked()
        assert queued == ["a", "b"]
        gate.set()
    assert queued == ["a", "b", "c"]
    assert runtime.get("c")["seq"] == 25


async def test_a_timer_whose_turn_failed_to_commit_fires_again(runtime, mock_clock):
    """The store fails while a timer is due: the firing is not durable, the
    actor still has its timer, and it fires once the store works again."""
    from skruntime._exceptions import StoreError

    mock_clock.autojump_threshold = 0.02
    await runtime.deploy({"id": "t-v1", "definition": TIMED})
    await runtime.spawn({"versionId": "t-v1", "actorId": "t1"})
    failing = {"on": True, "failed": 0}
    for worker in runtime.workers:
        real = worker._commit

        async def commit(*batches, _real=real):
            if failing["on"]:
                failing["failed"] += 1
                raise StoreError("disk full")
            await _real(*batches)

        worker._commit = commit
    await trio.sleep(5.5)  # due at 5 s: its turn fails
    assert failing["failed"] >= 1
    assert runtime.get("t1")["stateValue"] == "waiting"
    failing["on"] = False
    # The retry is due a second after the failure; poll rather than sleep a
    # fixed time: the mock clock may jump while a slow commit is in a thread.
    with trio.fail_after(60):
        while runtime.get("t1")["stateValue"] != "expired":
            await trio.sleep(0.5)
    events, _ = await runtime.history("t1")
    assert [e["type"] for e in events] == ["xstate.after.5000.timed.waiting"]


async def test_expired_idempotency_records_are_forgotten_only_once_deleted(config, mock_clock):
    """Pruning expired idempotency records in a turn whose commit fails keeps
    them in memory, so the next pruning deletes them from disk."""
    from skruntime._exceptions import ServiceUnavailable, StoreError

    mock_clock.autojump_threshold = 0.02
    ttl = config.runtime.idempotency_ttl
    async with running(config) as rt:
        await rt.deploy({"id": "c-v1", "definition": COUNTER})
        await rt.spawn({"versionId": "c-v1", "actorId": "c"})
        await rt.send("c", {"type": "NEXT"}, idempotency_key="k1")
        await trio.sleep(ttl + 120)
        failing = {"on": True}
        for worker in rt.workers:
            real = worker._commit

            async def commit(*batches, _real=real):
                if failing["on"]:
                    raise StoreError("disk full")
                await _real(*batches)

            worker._commit = commit
        with pytest.raises(ServiceUnavailable):
            await rt.send("c", {"type": "NEXT"})  # its turn prunes k1; the commit fails
        failing["on"] = False
        await trio.sleep(120)
        await rt.send("c", {"type": "NEXT"})  # prunes again, durably
        assert not any(shard.idempotency for shard in rt.shards)
    async with running(config) as rt:
        assert not any(shard.idempotency for shard in rt.shards)  # nothing left on disk
