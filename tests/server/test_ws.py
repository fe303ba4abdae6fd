"""``WS /v1/watch``: watching, resuming, overflow, authentication, pipelined sends."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from .conftest import LOAN, RING, WATCH_QUEUE, Server


def watch(server: Server, key: str | None = None):
    """A WebSocket client on the server's /v1/watch."""
    host, port = server.host_port
    return watch_at(host, port, key)


@asynccontextmanager
async def watch_at(host: str, port: int, key: str | None = None):
    """A WebSocket client on /v1/watch.  The TCP stream is ours to close:
    trio-websocket leaves it open when the server closed first."""
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else None
    stream = await trio.open_tcp_stream(host, port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, host, "/v1/watch", extra_headers=headers)
            try:
                yield ws
            finally:
                await ws.aclose()
    finally:
        await stream.aclose()


async def send(ws: WebSocketConnection, frame: dict[str, Any]) -> None:
    await ws.send_message(json.dumps(frame))


async def receive(ws: WebSocketConnection, timeout: float = 5) -> dict[str, Any]:
    with trio.fail_after(timeout):
        frame: dict[str, Any] = json.loads(await ws.get_message())
    return frame


async def closed_with(ws: WebSocketConnection, timeout: float = 5) -> int:
    """Read until the server closes; returns the close code."""
    with trio.fail_after(timeout):
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.get_message()
    code: int = info.value.reason.code
    return code


async def test_watch_an_actor(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "actorId": "alice", "fromSeq": 0})  # fromSeq: no race with the send below
        await server.send("alice", "SUBMIT_INFO")
        frame = await receive(ws)
        assert frame["op"] == "change" and frame["actorId"] == "alice" and frame["versionId"] == "loan-v1"
        assert frame["seq"] == 1 and frame["stateValue"] == "under_review" and frame["status"] == "active"
        assert frame["event"] == "SUBMIT_INFO" and frame["at"].endswith("Z")
        await send(ws, {"op": "unsubscribe", "actorId": "alice"})
        await send(ws, {"op": "subscribe", "actorId": "nobody"})  # answered after the unsubscribe applied
        assert (await receive(ws))["status"] == 404
        await server.send("alice", "PAY_FEE")
        await send(ws, {"op": "subscribe", "actorId": "nobody"})
        assert (await receive(ws))["op"] == "error"  # no change frame came in between


async def test_resume_from_seq_replays_then_goes_live(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    for _ in range(5):
        assert (await server.send("r", "NEXT")).status_code == 200
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "actorId": "r", "fromSeq": 2})
        replayed = [await receive(ws) for _ in range(3)]
        assert [(f["seq"], f["stateValue"], f["event"]) for f in replayed] == [(3, "s0", "NEXT"), (4, "s1", "NEXT"), (5, "s2", "NEXT")]
        await server.send("r", "NEXT")
        await server.send("r", "NEXT")
        live = [await receive(ws) for _ in range(2)]
        assert [f["seq"] for f in live] == [6, 7]


def renamed_ring(prefix: str) -> dict[str, Any]:
    """RING with its states named ``<prefix>0..2``."""
    return {
        "id": "ring",
        "initial": f"{prefix}0",
        "states": {f"{prefix}{i}": {"on": {"NEXT": f"{prefix}{(i + 1) % 3}"}} for i in range(3)},
    }


async def test_a_resume_replays_migrations_where_they_happened(server: Server) -> None:
    # r handles two events on v1, moves to v2 (landing in t2 by replay),
    # handles one more, and moves to v3; a resume must tell all of it, each
    # event with the version that handled it.
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    for _ in range(2):
        await server.send("r", "NEXT")
    for version, parent, prefix in (("ring-v2", "ring-v1", "t"), ("ring-v3", "ring-v2", "u")):
        body = {"id": version, "parentId": parent, "definition": renamed_ring(prefix)}
        deployed = await server.admin.post("/v1/machines", json=body)
        assert deployed.status_code == 201 and deployed.json()["deployment"]["migrated"] == 1, deployed.text
        if version == "ring-v2":
            await server.send("r", "NEXT")
    expected = [
        (1, "ring-v1", "s1", "NEXT"),
        (2, "ring-v1", "s2", "NEXT"),
        (2, "ring-v2", "t2", None),
        (3, "ring-v2", "t0", "NEXT"),
        (3, "ring-v3", "u0", None),
    ]
    for from_seq, first in ((0, 0), (2, 2), (3, 4)):
        async with watch(server, server.keys["read"]) as ws:
            await send(ws, {"op": "subscribe", "actorId": "r", "fromSeq": from_seq})
            frames = [await receive(ws) for _ in expected[first:]]
            assert [(f["seq"], f["versionId"], f["stateValue"], f["event"]) for f in frames] == expected[first:]
            assert all(f["status"] == "active" and f["at"].endswith("Z") for f in frames)
            await server.send("r", "NEXT")
            live = await receive(ws)
            assert (live["versionId"], live["event"]) == ("ring-v3", "NEXT")
    current = (await server.read.get("/v1/actors/r")).json()
    assert (current["versionId"], current["seq"]) == ("ring-v3", 6)


async def test_resume_while_events_flow_has_no_gap_and_no_duplicate(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    total = 120

    async def writer() -> None:
        for _ in range(total):
            assert (await server.send("r", "NEXT")).status_code == 200

    async with watch(server, server.keys["read"]) as ws:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer)
            await trio.sleep(0)  # let a few events go first
            for _ in range(3):
                await trio.lowlevel.checkpoint()
            await send(ws, {"op": "subscribe", "actorId": "r", "fromSeq": 0})
            seqs = []
            while not seqs or seqs[-1] < total:
                frame = await receive(ws)
                seqs.append(frame["seq"])
                assert frame["stateValue"] == f"s{frame['seq'] % 3}"
        assert seqs == list(range(1, total + 1))


async def test_watch_a_version(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.deploy("ring-v1", RING)
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "versionId": "loan-v1"})
        await send(ws, {"op": "subscribe", "versionId": "nope"})
        assert (await receive(ws))["status"] == 404  # the first subscribe is active now
        await server.spawn("loan-v1", "a1")
        await server.spawn("ring-v1", "other")
        await server.spawn("loan-v1", "a2")
        await server.send("other", "NEXT")
        await server.send("a2", "SUBMIT_INFO")
        frames = [await receive(ws) for _ in range(3)]
        assert [(f["actorId"], f["seq"]) for f in frames] == [("a1", 0), ("a2", 0), ("a2", 1)]
        assert all(f["versionId"] == "loan-v1" for f in frames)
        assert frames[2]["event"] == "SUBMIT_INFO"
        await send(ws, {"op": "subscribe", "versionId": "loan-v1", "fromSeq": -1})
        assert (await receive(ws))["status"] == 422


async def test_a_version_resume_replays_what_its_watchers_saw(server: Server) -> None:
    # a handles two events on v1 and moves to v2 (its path matches), then one
    # more on v2; b stays on v1 and handles one more there.
    await server.deploy("ring-v1", RING)
    for actor in ("a", "b"):
        await server.spawn("ring-v1", actor)
    for actor, n in (("a", 2), ("b", 1)):
        for _ in range(n):
            await server.send(actor, "NEXT")
    body = {"id": "ring-v2", "parentId": "ring-v1", "historyPath": ["NEXT", "NEXT"], "definition": renamed_ring("t")}
    assert (await server.admin.post("/v1/machines", json=body)).json()["deployment"]["migrated"] == 1
    await server.send("a", "NEXT")
    await server.send("b", "NEXT")
    seen = {
        # a watcher of v1 saw a's events on v1 and its move out, and b's events
        "ring-v1": {"a": [(1, "ring-v1", "NEXT"), (2, "ring-v1", "NEXT"), (2, "ring-v2", None)], "b": [(1, "ring-v1", "NEXT"), (2, "ring-v1", "NEXT")]},
        # a watcher of v2 saw a's move in and its event there
        "ring-v2": {"a": [(2, "ring-v2", None), (3, "ring-v2", "NEXT")]},
    }
    for version, expected in seen.items():
        async with watch(server, server.keys["read"]) as ws:
            await send(ws, {"op": "subscribe", "versionId": version, "fromSeq": 0})
            frames = [await receive(ws) for _ in range(sum(map(len, expected.values())))]
            got: dict[str, list[tuple[int, str, str | None]]] = {}
            for f in frames:
                got.setdefault(f["actorId"], []).append((f["seq"], f["versionId"], f["event"]))
            assert got == expected
            # then live, for the version's actors only
            await server.send("b" if version == "ring-v1" else "a", "NEXT")
            live = await receive(ws)
            assert live["event"] == "NEXT" and live["versionId"] == version
    # a resume from seq 2 of v1 replays only what came after it
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "versionId": "ring-v1", "fromSeq": 2})
        frames = [await receive(ws) for _ in range(2)]
        assert sorted((f["actorId"], f["seq"], f["event"]) for f in frames) == [("a", 2, None), ("b", 3, "NEXT")]


async def test_slow_subscriber_is_closed_4008(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "actorId": "r", "fromSeq": 0})
        events = [{"actorId": "r", "type": "NEXT"}] * 1000
        response = await server.write.post("/v1/events/batch", json={"events": events})
        assert response.status_code == 200
        # more than WATCH_QUEUE frames were published in one go: the watcher is cut off
        received = 0
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as info:
            while True:
                await ws.get_message()
                received += 1
        assert info.value.reason.code == 4008
        assert received < 1000
    assert WATCH_QUEUE < 1000
    metrics = (await server.read.get("/metrics")).text
    assert "skruntime_watch_overflows_total 1" in metrics


async def test_invalid_header_is_refused_at_handshake(server: Server) -> None:
    # a raw handshake (trio-websocket leaks its socket when a handshake is refused)
    handshake = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    async with server.client("sk_" + "Z" * 43, **handshake) as client:
        response = await client.get("/v1/watch")
    assert response.status_code == 401
    assert response.json()["type"] == "urn:skruntime:problem:unauthorized"
    async with server.client(server.keys["read"], **handshake) as client:
        response = await client.get("/v1/watch")
    assert response.status_code == 101  # the same handshake with a valid key is accepted


async def test_auth_frame(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    async with watch(server) as ws:
        await send(ws, {"op": "auth", "key": server.keys["read"]})
        await send(ws, {"op": "subscribe", "actorId": "alice", "fromSeq": 0})
        await server.send("alice", "SUBMIT_INFO")
        assert (await receive(ws))["seq"] == 1
    async with watch(server) as ws:
        await send(ws, {"op": "subscribe", "actorId": "alice"})
        error = await receive(ws)
        assert error["op"] == "error" and error["status"] == 401 and error["type"] == "urn:skruntime:problem:unauthorized"
        assert await closed_with(ws) == 4001
    async with watch(server) as ws:
        await send(ws, {"op": "auth", "key": "sk_wrong"})
        assert (await receive(ws))["status"] == 401
        assert await closed_with(ws) == 4001


async def test_revoking_a_key_closes_its_connections(server: Server) -> None:
    created = (await server.admin.post("/v1/keys", json={"scope": "read"})).json()
    async with watch(server, created["key"]) as ws:
        await send(ws, {"op": "subscribe", "actorId": "nobody"})
        assert (await receive(ws))["status"] == 404  # connected and authenticated
        assert (await server.admin.delete(f"/v1/keys/{created['id']}")).status_code == 204
        assert await closed_with(ws) == 4001


async def test_pipelined_sends(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    for i in range(4):
        await server.spawn("ring-v1", f"r{i}")
    count = 400
    async with watch(server, server.keys["write"]) as ws:
        for n in range(count):
            await send(ws, {"op": "send", "id": n, "actorId": f"r{n % 4}", "event": {"type": "NEXT", "payload": {"n": n}}})
        results = {}
        while len(results) < count:
            frame = await receive(ws)
            assert frame["op"] == "result" and frame["status"] == 200, frame
            results[frame["id"]] = frame["body"]
    # per actor, seqs follow the order the frames were sent in
    for i in range(4):
        ids = [n for n in range(count) if n % 4 == i]
        assert [results[n]["seq"] for n in ids] == list(range(1, len(ids) + 1))
        assert all(results[n]["stateValue"] == f"s{results[n]['seq'] % 3}" for n in ids)
    history = (await server.read.get("/v1/actors/r1/events", params={"limit": "1000"})).json()["items"]
    assert [e["payload"]["n"] for e in history] == [n for n in range(count) if n % 4 == 1]


async def test_send_frames_with_idempotency_and_errors(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    async with watch(server, server.keys["write"]) as ws:
        frames = [
            {"op": "send", "id": "a", "actorId": "alice", "event": {"type": "SUBMIT_INFO"}, "idempotencyKey": "k1"},
            {"op": "send", "id": "b", "actorId": "alice", "event": {"type": "SUBMIT_INFO"}, "idempotencyKey": "k1"},
            {"op": "send", "id": "c", "actorId": "alice", "event": {"type": "APPROVE"}},
            {"op": "send", "id": "d", "actorId": "ghost", "event": {"type": "SUBMIT_INFO"}},
            {"op": "send", "id": "e", "actorId": "alice", "event": {"type": ""}},
            {"op": "send", "id": "f", "actorId": "alice", "event": "SUBMIT_INFO"},
            {"op": "send", "id": "g", "actorId": 5, "event": {"type": "X"}},
            {"op": "send", "id": "h", "actorId": "alice", "event": {"type": "PAY_FEE"}, "idempotencyKey": ""},
        ]
        for frame in frames:
            await send(ws, frame)
        results = {}
        while len(results) < len(frames):
            frame = await receive(ws)
            results[frame["id"]] = frame
        assert results["a"]["status"] == 200 and results["a"]["body"]["seq"] == 1
        assert results["b"] == {**results["a"], "id": "b"}
        assert results["c"]["status"] == 409 and results["c"]["body"]["accepted"] == ["PAY_FEE", "WAIVE_FEE"]
        assert results["d"]["status"] == 404
        assert results["e"]["status"] == 422 and results["e"]["body"]["pointer"] == "/event/type"
        assert results["f"]["status"] == 400
        assert results["g"]["status"] == 422
        assert results["h"]["status"] == 422
        # frames that cannot be correlated are answered with error frames
        await ws.send_message("{not json")
        assert (await receive(ws))["status"] == 400
        await ws.send_message(b"binary")
        assert (await receive(ws))["status"] == 400
        await send(ws, {"op": "dance"})
        assert (await receive(ws))["status"] == 400
        await send(ws, {"op": "send", "actorId": "alice", "event": {"type": "PAY_FEE"}})
        assert (await receive(ws)) == {
            "op": "error", "status": 400, "type": "urn:skruntime:problem:bad-request",
            "detail": "a send frame needs an 'id' (a string or a number) to correlate its result",
        }
        await send(ws, {"op": "subscribe", "actorId": "alice", "versionId": "loan-v1"})
        assert (await receive(ws))["status"] == 422
    assert (await server.read.get("/v1/actors/alice")).json()["seq"] == 1


async def test_batch_frames(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    for i in range(3):
        await server.spawn("ring-v1", f"r{i}")
    async with watch(server, server.keys["write"]) as ws:
        # pipelined batch frames, events to one actor spread across frames
        for n in range(5):
            events = [{"actorId": f"r{i % 3}", "type": "NEXT", "payload": {"frame": n, "i": i}} for i in range(30)]
            await send(ws, {"op": "batch", "id": f"b{n}", "events": events})
        results = {}
        while len(results) < 5:
            frame = await receive(ws)
            assert frame["op"] == "result" and frame["status"] == 200, frame
            results[frame["id"]] = frame["body"]["results"]
        for n in range(5):
            assert len(results[f"b{n}"]) == 30
            # actor r{k} gets 10 events per frame: seqs continue frame after frame
            assert [r["seq"] for r in results[f"b{n}"][0::3]] == list(range(10 * n + 1, 10 * n + 11))
        history = (await server.read.get("/v1/actors/r2/events", params={"limit": "1000"})).json()["items"]
        assert [(e["payload"]["frame"], e["payload"]["i"]) for e in history] == [
            (n, i) for n in range(5) for i in range(30) if i % 3 == 2
        ]
        # bad items are answered in place; the rest apply
        await send(
            ws,
            {
                "op": "batch",
                "id": 7,
                "events": [
                    {"actorId": "r0", "type": "NEXT"},
                    {"actorId": "ghost", "type": "NEXT"},
                    {"actorId": "r0", "type": "NOPE"},
                    {"actorId": "r0", "type": "NEXT", "extra": 1},
                    "NEXT",
                    {"actorId": "r0", "type": "NEXT", "idempotencyKey": "k"},
                    {"actorId": "r0", "type": "NEXT", "idempotencyKey": "k"},
                ],
            },
        )
        frame = await receive(ws)
        assert frame["id"] == 7 and frame["status"] == 200
        items = frame["body"]["results"]
        assert items[0]["seq"] == 51
        assert items[1]["status"] == 404
        assert items[2]["status"] == 409 and items[2]["accepted"] == ["NEXT"]
        assert items[3]["status"] == 422 and items[3]["pointer"] == "/events/3/extra"
        assert items[4]["status"] == 400
        assert items[5]["seq"] == 52 and items[6] == items[5]
        # frame-level errors are one result frame with a problem body
        await send(ws, {"op": "batch", "id": 8, "events": {"actorId": "r0"}})
        await send(ws, {"op": "batch", "id": 9, "events": [], "junk": True})
        await send(ws, {"op": "batch", "id": 10, "events": [{"actorId": "r0", "type": "NEXT"}] * 1001})
        await send(ws, {"op": "batch", "events": []})
        received = [await receive(ws) for _ in range(4)]
        # an uncorrelated error frame is written at once, results in order
        (error,) = [f for f in received if f["op"] == "error"]
        assert error["status"] == 400 and "needs an 'id'" in error["detail"]
        frames = [f for f in received if f["op"] == "result"]
        assert [(f["id"], f["status"]) for f in frames] == [(8, 422), (9, 422), (10, 422)]
        assert frames[0]["body"]["pointer"] == "/events"
        assert frames[1]["body"]["pointer"] == "/junk"
        assert frames[2]["body"]["detail"] == "a batch holds at most 1000 events"
    assert (await server.read.get("/v1/actors/r0/events", params={"after": "50"})).json()["items"][-1]["seq"] == 52
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "batch", "id": 1, "events": [{"actorId": "r0", "type": "NEXT"}]})
        result = await receive(ws)
        assert result["status"] == 403 and result["body"]["type"] == "urn:skruntime:problem:forbidden"
    assert (await server.read.get("/v1/actors/r0")).json()["seq"] == 52


async def test_read_key_cannot_send(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "send", "id": 1, "actorId": "alice", "event": {"type": "SUBMIT_INFO"}})
        result = await receive(ws)
        assert result["op"] == "result" and result["status"] == 403
        assert result["body"]["type"] == "urn:skruntime:problem:forbidden"
    assert (await server.read.get("/v1/actors/alice")).json()["seq"] == 0


async def test_subscriptions_per_connection_are_bounded(server: Server, monkeypatch) -> None:
    from skruntime.server import _ws

    monkeypatch.setattr(_ws, "MAX_SUBSCRIPTIONS", 2)
    await server.deploy("loan-v1", LOAN)
    for name in ("a", "b", "c"):
        await server.spawn("loan-v1", name)
    async with watch(server, server.keys["read"]) as ws:
        await send(ws, {"op": "subscribe", "actorId": "a"})
        await send(ws, {"op": "subscribe", "versionId": "loan-v1"})
        await send(ws, {"op": "subscribe", "actorId": "c"})
        refused = await receive(ws)
        assert (refused["op"], refused["status"]) == ("error", 422) and "at most 2" in refused["detail"]
        await send(ws, {"op": "unsubscribe", "actorId": "a"})
        await send(ws, {"op": "subscribe", "actorId": "c"})  # room again
        await server.send("c", "SUBMIT_INFO")
        frame = await receive(ws)
        assert (frame["op"], frame["actorId"]) == ("change", "c")


async def test_batch_frames_count_their_events_in_flight(server: Server, monkeypatch) -> None:
    """Reading pauses while the events awaiting results (a batch frame counts
    each of its events) would pass the limit."""
    from skruntime.server import _ws

    monkeypatch.setattr(_ws, "MAX_IN_FLIGHT", 10)
    gate = trio.Event()
    real_results = _ws.batch_results

    async def held_results(commands):
        await gate.wait()
        return await real_results(commands)

    monkeypatch.setattr(_ws, "batch_results", held_results)
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r0")
    async with watch(server, server.keys["write"]) as ws:
        events = [{"actorId": "r0", "type": "NEXT"}] * 8
        await send(ws, {"op": "batch", "id": "a", "events": events})  # 8 in flight, result held
        await send(ws, {"op": "batch", "id": "b", "events": events})  # 8 + 8 > 10: reading pauses here
        await send(ws, {"op": "dance"})  # not read until "a" is answered
        with trio.move_on_after(0.5):
            frame = await ws.get_message()
            pytest.fail(f"the server kept reading: {frame}")
        gate.set()
        frames = [await receive(ws) for _ in range(3)]
        assert [f.get("id") for f in frames if f["op"] == "result"] == ["a", "b"]
        assert [f["status"] for f in frames if f["op"] == "error"] == [400]
    assert (await server.read.get("/v1/actors/r0")).json()["seq"] == 16
