"""The async SDK against a real server on 127.0.0.1: every call, every mapped error."""

import httpx
import pytest
import trio

from skruntime.client import (
    ActorDoneError,
    ApiError,
    AsyncClient,
    AuthError,
    ConflictError,
    EventNotHandledError,
    InvalidDefinitionError,
    NotFoundError,
    PreviewStaleError,
    SendResult,
    TransportError,
    ValidationError,
)
from tests import serverproc

from .conftest import ADMIN_KEY, LOAN

LOAN_V2 = {**LOAN, "states": {**LOAN["states"], "under_review": {"on": {"PAY_FEE": "income_verify", "WAIVE_FEE": "awaiting_docs"}},
                              "income_verify": {"on": {"VERIFY_INCOME": "awaiting_docs"}}}}
PAID = ["SUBMIT_INFO", "PAY_FEE"]


@pytest.fixture
async def sk(server):
    async with AsyncClient(server.url, api_key=ADMIN_KEY) as client:
        yield client


async def test_the_loan_story_through_the_sdk(sk):
    root = await sk.deploy("loan-v1", LOAN)
    assert root.created and root.deployment is None and root.version.id == "loan-v1"
    assert not (await sk.deploy("loan-v1", LOAN)).created
    for who, events in [("alice", PAID), ("bob", ["SUBMIT_INFO", "WAIVE_FEE"])]:
        actor = await sk.spawn("loan-v1", actor_id=who, context={"name": who})
        assert actor.state_value == "submitted" and actor.context == {"name": who}
        for event_type in events:
            result = await sk.send(who, event_type)
            assert isinstance(result, SendResult)
    preview = await sk.preview("loan-v2", LOAN_V2, parent_id="loan-v1", history_path=PAID)
    assert preview.would_migrate == [{"actorId": "alice", "from": "awaiting_docs", "to": "income_verify"}]
    assert [s["reason"] for s in preview.would_stay] == ["history-mismatch"]
    summary = await sk.preview("loan-v2", LOAN_V2, parent_id="loan-v1", history_path=PAID, summary=True)
    assert summary.would_migrate == [] and summary.counts == preview.counts
    deployed = await sk.deploy("loan-v2", LOAN_V2, parent_id="loan-v1", history_path=PAID, expect_token=preview.preview_token)
    assert deployed.created and deployed.deployment.migrated == 1 and deployed.deployment.stayed == 1
    alice = await sk.get("alice")
    assert (alice.version_id, alice.state_value) == ("loan-v2", "income_verify")
    [decision] = await sk.decisions("alice")
    assert (decision.decision, decision.reason, decision.landing_state) == ("migrate", "history-match", "income_verify")
    deployment = await sk.deployment(deployed.deployment.deployment_id)
    assert deployment.status == "complete" and deployment.by_reason == {"history-match": 1, "history-mismatch": 1}
    ids = [d.actor_id async for d in sk.deployment_decisions(deployment.deployment_id, page_size=1)]
    assert sorted(ids) == ["alice", "bob"]
    versions = await sk.versions()
    assert [v.id for v in versions] == ["loan-v1", "loan-v2"]
    assert (await sk.version("loan-v2")).actors["total"] == 1


async def test_listing_history_and_batches(sk):
    await sk.deploy("loan-v1", LOAN)
    for i in range(12):
        await sk.spawn("loan-v1", actor_id=f"a{i:02d}")
    results = await sk.send_batch([{"actorId": "a00", "type": "SUBMIT_INFO"}, {"actorId": "nobody", "type": "X"},
                                   {"actorId": "a00", "type": "PAY_FEE", "payload": {"amount": 3}}])
    assert isinstance(results[0], SendResult) and isinstance(results[1], NotFoundError) and results[2].seq == 2
    ids = [a.actor_id async for a in sk.list_actors(version_id="loan-v1", page_size=5)]
    assert sorted(ids) == [f"a{i:02d}" for i in range(12)]
    reviewing = [a.actor_id async for a in sk.list_actors(state="awaiting_docs")]
    assert reviewing == ["a00"]
    history = [e async for e in sk.history("a00", page_size=1)]
    assert [(e.seq, e.type) for e in history] == [(1, "SUBMIT_INFO"), (2, "PAY_FEE")] and history[1].payload == {"amount": 3}


async def test_errors_are_typed(sk, server):
    await sk.deploy("loan-v1", LOAN)
    await sk.spawn("loan-v1", actor_id="a")
    with pytest.raises(EventNotHandledError) as info:
        await sk.send("a", "APPROVE")
    assert info.value.accepted == ["SUBMIT_INFO"] and info.value.status == 409
    with pytest.raises(NotFoundError):
        await sk.get("missing")
    with pytest.raises(ValidationError) as info:
        await sk.send("a", "SUBMIT_INFO", guards={"x": "yes"})  # type: ignore[dict-item]
    assert info.value.pointer == "/guards/x"
    with pytest.raises(InvalidDefinitionError) as info:
        await sk.deploy("bad", {"id": "m", "initial": "a", "states": {"a": {"on": {"E": "nowhere"}}}})
    assert info.value.pointer == "/definition/states/a/on/E"
    with pytest.raises(ConflictError):
        await sk.deploy("loan-v1", {**LOAN, "initial": "approved"})
    for event_type in ("SUBMIT_INFO", "PAY_FEE", "APPROVE"):
        await sk.send("a", event_type)
    with pytest.raises(ActorDoneError):
        await sk.send("a", "REJECT")
    preview = await sk.preview("loan-v2", LOAN_V2, parent_id="loan-v1")
    await sk.spawn("loan-v1", actor_id="late")  # the decision set changes
    with pytest.raises(PreviewStaleError) as info:
        await sk.deploy("loan-v2", LOAN_V2, parent_id="loan-v1", expect_token=preview.preview_token)
    assert info.value.counts["evaluated"] == 2
    async with AsyncClient(server.url, api_key="sk_" + "x" * 43) as stranger:
        with pytest.raises(AuthError) as info:
            await stranger.get("a")
        assert info.value.status == 401
    async with AsyncClient(server.url, api_key=server.keys["read"]) as reader:
        with pytest.raises(AuthError) as info:
            await reader.send("late", "SUBMIT_INFO")
        assert info.value.status == 403
        assert (await reader.get("late")).seq == 0
    async with AsyncClient(f"http://127.0.0.1:{serverproc.free_port()}", api_key=ADMIN_KEY, retries=1) as nowhere:
        with pytest.raises(TransportError):
            await nowhere.get("a")
    assert issubclass(TransportError, Exception) and issubclass(EventNotHandledError, ApiError)


class LoseFirstResponse(httpx.AsyncBaseTransport):
    """Delivers every request, but loses the first event response (as if the
    connection dropped after the server committed)."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/events") and not self.lost:
            self.lost += 1
            await response.aread()
            raise httpx.ReadError("connection reset after the request was sent")
        return response

    async def aclose(self):
        await self.inner.aclose()


async def test_sends_are_retried_with_their_idempotency_key(server):
    transport = LoseFirstResponse()
    async with AsyncClient(server.url, api_key=ADMIN_KEY, transport=transport) as sk:
        await sk.deploy("loan-v1", LOAN)
        await sk.spawn("loan-v1", actor_id="r")
        result = await sk.send("r", "SUBMIT_INFO")
        assert transport.lost == 1 and result.seq == 1
        assert (await sk.get("r")).seq == 1  # applied once, though sent twice


async def test_keys(sk, server):
    created = await sk.create_key("read", "dashboard")
    assert created.key.startswith("sk_") and created.scope == "read"
    listed = {k.id: k for k in await sk.list_keys()}
    assert created.id in listed and listed[created.id].key is None
    await sk.revoke_key(created.id)
    async with AsyncClient(server.url, api_key=created.key) as revoked:
        with pytest.raises(AuthError):
            await revoked.versions()


async def test_watch_resumes_after_the_last_seq(sk):
    await sk.deploy("loan-v1", LOAN)
    await sk.spawn("loan-v1", actor_id="w")
    await sk.send("w", "SUBMIT_INFO")
    seen = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def watcher():
                async for frame in sk.watch(actor_id="w", from_seq=0):
                    seen.append((frame["seq"], frame["stateValue"]))
                    if len(seen) == 3:
                        nursery.cancel_scope.cancel()

            nursery.start_soon(watcher)
            while not seen:
                await trio.sleep(0.01)
            await sk.send("w", "PAY_FEE")
            await sk.send("w", "APPROVE")
    assert seen == [(1, "under_review"), (2, "awaiting_docs"), (3, "approved")]
