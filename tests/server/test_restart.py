"""SIGKILL the server and start it again: everything acknowledged is there,
and a timer armed before the kill fires after the restart."""

from __future__ import annotations

import signal

import httpx
import trio

from tests import serverproc

from .conftest import ADMIN_KEY, LOAN

TIMER = {
    "id": "timer",
    "initial": "waiting",
    "states": {"waiting": {"after": {"1500": "expired"}, "on": {"POKE": "waiting"}}, "expired": {}},
}


async def poll(client: httpx.AsyncClient, path: str, predicate, timeout: float = 15) -> dict:
    with trio.fail_after(timeout):
        while True:
            body = (await client.get(path)).json()
            if predicate(body):
                return body
            await trio.sleep(0.05)


async def test_sigkill_then_restart_keeps_everything_acknowledged(tmp_path) -> None:
    port = serverproc.free_port()
    url = f"http://127.0.0.1:{port}"
    process = await serverproc.start(tmp_path, port, SKRUNTIME_BOOTSTRAP_KEY=ADMIN_KEY)
    try:
        await serverproc.wait_ready(process, url)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as client:
            assert (await client.post("/v1/machines", json={"id": "loan-v1", "definition": LOAN})).status_code == 201
            assert (await client.post("/v1/machines", json={"id": "timer-v1", "definition": TIMER})).status_code == 201
            assert (await client.post("/v1/actors", json={"versionId": "loan-v1", "actorId": "alice", "context": {"n": 1}})).status_code == 201
            first = await client.post("/v1/actors/alice/events", json={"type": "SUBMIT_INFO", "payload": {"p": 1}})
            paid = await client.post("/v1/actors/alice/events", json={"type": "PAY_FEE"}, headers={"Idempotency-Key": "pay-1"})
            assert first.status_code == paid.status_code == 200
            write_key = (await client.post("/v1/keys", json={"scope": "write"})).json()["key"]
            before = (await client.get("/v1/actors/alice")).json()
            spawned = await client.post("/v1/actors", json={"versionId": "timer-v1", "actorId": "tim"})
            assert spawned.status_code == 201  # its timer (1.5 s) is armed and durable now
    finally:
        assert await serverproc.stop(process, signal.SIGKILL) == -signal.SIGKILL

    port = serverproc.free_port()
    url = f"http://127.0.0.1:{port}"
    process = await serverproc.start(tmp_path, port)  # no bootstrap key: the stored keys must still work
    try:
        await serverproc.wait_ready(process, url)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as client:
            after = (await client.get("/v1/actors/alice")).json()
            assert after == before
            assert after["seq"] == 2 and after["stateValue"] == "awaiting_docs" and after["context"] == {"n": 1}
            history = (await client.get("/v1/actors/alice/events")).json()["items"]
            assert [(e["seq"], e["type"]) for e in history] == [(1, "SUBMIT_INFO"), (2, "PAY_FEE")]
            assert history[0]["payload"] == {"p": 1}
            # the idempotency key survived: the retry answers the first response, applies nothing
            retry = await client.post("/v1/actors/alice/events", json={"type": "PAY_FEE"}, headers={"Idempotency-Key": "pay-1"})
            assert retry.status_code == 200 and retry.json() == paid.json()
            assert (await client.get("/v1/actors/alice")).json()["seq"] == 2
            # the timer armed before the kill fires
            tim = await poll(client, "/v1/actors/tim", lambda body: body["stateValue"] == "expired")
            assert tim["seq"] == 1
            fired = (await client.get("/v1/actors/tim/events")).json()["items"]
            assert len(fired) == 1 and fired[0]["stateValue"] == "expired"
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {write_key}"}) as writer:
                assert (await writer.get("/v1/actors/tim")).status_code == 200
    finally:
        assert await serverproc.stop(process) == 0
