"""The fast path answers POST /v1/actors/{id}/events exactly as the Quart route does."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import trio

from skruntime.runtime import Runtime
from skruntime.server import ApiKeys, create_app
from skruntime.store import MemoryStore

from .conftest import ADMIN_KEY, LOAN, MAX_BODY, make_config

REQUESTS = [
    # (path, headers, body)
    ("/v1/actors/alice/events", {}, b'{"type": "SUBMIT_INFO"}'),
    ("/v1/actors/alice/events", {"Idempotency-Key": "k"}, b'{"type": "PAY_FEE"}'),
    ("/v1/actors/alice/events", {"Idempotency-Key": "k"}, b'{"type": "PAY_FEE"}'),
    ("/v1/actors/alice/events", {"Idempotency-Key": "k"}, b'{"type": "WAIVE_FEE"}'),
    ("/v1/actors/alice/events", {}, b'{"type": "NOPE"}'),
    ("/v1/actors/alice/events", {}, b'{"type": 1}'),
    ("/v1/actors/alice/events", {}, b"[]"),
    ("/v1/actors/alice/events", {}, b"{"),
    ("/v1/actors/alice/events", {}, b""),
    ("/v1/actors/alice/events", {}, b'{"type": "X", "payload": "' + b"x" * MAX_BODY + b'"}'),
    ("/v1/actors/ghost/events", {}, b'{"type": "X"}'),
    ("/v1/actors/alice/events", {"Authorization": "Bearer sk_" + "Q" * 43}, b'{"type": "X"}'),
    ("/v1/actors/alice/events", {"Authorization": ""}, b'{"type": "X"}'),
    ("/v1/actors/alice/events", {"Authorization": "read"}, b'{"type": "X"}'),
    ("/v1/actors/alice/events/", {}, b'{"type": "X"}'),
    ("/v1/actors//events", {}, b'{"type": "X"}'),
    ("/v1/actors/a%2Fb/events", {}, b'{"type": "X"}'),
]


@asynccontextmanager
async def app_client(tmp_path, fast_path: bool):
    config = make_config(tmp_path)
    store = MemoryStore(4)
    runtime = Runtime(config, store)
    auth = ApiKeys(store)
    app = create_app(runtime, auth, config, fast_path=fast_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(runtime.run)
        await auth.load()
        await auth.bootstrap(ADMIN_KEY)
        _, read_secret = await auth.create("read", None)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            assert (await client.post("/v1/machines", json={"id": "loan-v1", "definition": LOAN})).status_code == 201
            assert (await client.post("/v1/actors", json={"versionId": "loan-v1", "actorId": "alice"})).status_code == 201
            yield client, read_secret
        runtime.stop()


async def run_all(tmp_path, fast_path: bool) -> list[tuple[int, str, object]]:
    answers = []
    async with app_client(tmp_path, fast_path) as (client, read_secret):
        for path, headers, body in REQUESTS:
            if headers.get("Authorization") == "read":
                headers = {**headers, "Authorization": f"Bearer {read_secret}"}
            response = await client.post(path, headers=headers, content=body)
            payload = response.json()
            if isinstance(payload, dict):
                payload.pop("detail", None)  # wording may differ (werkzeug's 404 text); the type may not
            answers.append((response.status_code, response.headers.get("content-type"), payload, response.headers.get("www-authenticate")))
        metrics = (await client.get("/metrics")).text
    counters = sorted(line for line in metrics.splitlines() if line.startswith("skruntime_events_"))
    answers.append((0, "metrics", counters, None))
    return answers


async def test_fast_path_matches_the_quart_route(tmp_path) -> None:
    fast = await run_all(tmp_path / "fast", True)
    plain = await run_all(tmp_path / "plain", False)
    assert fast == plain
    statuses = [answer[0] for answer in fast[:-1]]
    assert statuses == [200, 200, 200, 422, 409, 422, 400, 400, 400, 413, 404, 401, 401, 403, 409, 404, 404]
