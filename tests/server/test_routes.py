"""Every HTTP route against a real server, with its error paths."""

from __future__ import annotations

import json

import trio

from .conftest import LOAN, MAX_BODY, RING, Server, assert_problem

# -- health ------------------------------------------------------------------------------


async def test_health_and_readiness_need_no_key(server: Server) -> None:
    async with server.client() as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        doc = await anonymous.get("/v1/openapi.json")
        assert doc.status_code == 200 and doc.json()["openapi"].startswith("3.1")


# -- machines ----------------------------------------------------------------------------


async def test_deploy_created_then_idempotent_then_conflict(server: Server) -> None:
    first = await server.admin.post("/v1/machines", json={"id": "loan-v1", "definition": LOAN})
    assert first.status_code == 201, first.text
    assert first.headers["location"] == "/v1/machines/loan-v1"
    view = first.json()["version"]
    assert view["id"] == "loan-v1" and view["parentId"] is None and view["definition"] == LOAN
    again = await server.admin.post("/v1/machines", json={"definition": LOAN, "id": "loan-v1"})
    assert again.status_code == 200 and again.json()["version"] == view
    # an explicit null parentId or historyPath is the same body as an absent one
    nulls = await server.admin.post("/v1/machines", json={"id": "loan-v1", "parentId": None, "historyPath": None, "definition": LOAN})
    assert nulls.status_code == 200 and nulls.json()["version"] == view
    other = dict(LOAN, initial="under_review")
    assert_problem(await server.admin.post("/v1/machines", json={"id": "loan-v1", "definition": other}), 409, "conflict")


async def test_deploy_errors(server: Server) -> None:
    admin = server.admin
    body = assert_problem(await admin.post("/v1/machines", json={"id": "bad", "definition": {"initial": "nope", "states": {"a": {}}}}), 422, "invalid-definition")
    assert body["pointer"].startswith("/definition")
    invoke = {"initial": "a", "states": {"a": {"invoke": {"src": "x"}}}}
    body = assert_problem(await admin.post("/v1/machines", json={"id": "bad2", "definition": invoke}), 422, "invalid-definition")
    assert body["pointer"] == "/definition/states/a/invoke"
    assert_problem(await admin.post("/v1/machines", json={"id": "x", "parentId": "nope", "definition": LOAN}), 404, "not-found")
    assert_problem(await admin.post("/v1/machines", json={"id": "x", "historyPath": ["A"], "definition": LOAN}), 422, "validation")
    assert_problem(await admin.post("/v1/machines", json={"id": 5, "definition": LOAN}), 422, "validation")
    assert_problem(await admin.post("/v1/machines", json={"id": "x", "definition": LOAN, "extra": 1}), 422, "validation")
    assert_problem(await admin.post("/v1/machines", json=["not", "an", "object"]), 400, "bad-request")
    assert_problem(await admin.post("/v1/machines", content=b"{not json"), 400, "bad-request")
    assert_problem(await admin.post("/v1/machines"), 400, "bad-request")


async def test_definition_size_limit(server: Server, server_config) -> None:
    limit = server_config.limits.max_definition_bytes
    assert limit < MAX_BODY  # the body limit would answer first otherwise
    big = {"initial": "a", "states": {"a": {}}, "description": "x" * limit}
    assert_problem(await server.admin.post("/v1/machines", json={"id": "big", "definition": big}), 413, "payload-too-large")


async def test_list_and_get_machines(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.deploy("ring-v1", RING)
    await server.spawn("loan-v1", "alice")
    await server.spawn("loan-v1", "bob")
    await server.send("bob", "SUBMIT_INFO")
    listing = (await server.read.get("/v1/machines")).json()["items"]
    assert [v["id"] for v in listing] == ["loan-v1", "ring-v1"]
    assert all("definition" not in v for v in listing)
    one = (await server.read.get("/v1/machines/loan-v1")).json()
    assert one["definition"] == LOAN
    assert one["actors"] == {"total": 2, "active": 2, "done": 0, "byState": {"submitted": 1, "under_review": 1}}
    assert_problem(await server.read.get("/v1/machines/nope"), 404, "not-found")


# -- actors --------------------------------------------------------------------------------


async def test_spawn_get_and_list(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    spawned = await server.write.post("/v1/actors", json={"versionId": "loan-v1", "actorId": "alice", "context": {"amount": 5}})
    assert spawned.status_code == 201 and spawned.headers["location"] == "/v1/actors/alice"
    view = spawned.json()
    assert view["actorId"] == "alice" and view["stateValue"] == "submitted" and view["seq"] == 0
    assert view["context"] == {"amount": 5} and view["effects"] == []
    assert view["fingerprint"] == "cbf29ce484222325"
    generated = (await server.write.post("/v1/actors", json={"versionId": "loan-v1"})).json()
    assert generated["actorId"].startswith("act_")
    got = (await server.read.get("/v1/actors/alice")).json()
    assert {k: got[k] for k in ("actorId", "versionId", "stateValue", "status", "context", "seq")} == {
        "actorId": "alice", "versionId": "loan-v1", "stateValue": "submitted", "status": "active", "context": {"amount": 5}, "seq": 0,
    }
    assert "effects" not in got
    listing = (await server.read.get("/v1/actors", params={"versionId": "loan-v1"})).json()
    assert {a["actorId"] for a in listing["items"]} == {"alice", generated["actorId"]} and listing["nextCursor"] is None


async def test_spawn_errors(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    write = server.write
    assert_problem(await write.post("/v1/actors", json={"versionId": "loan-v1", "actorId": "alice"}), 409, "actor-exists")
    assert_problem(await write.post("/v1/actors", json={"versionId": "nope"}), 404, "not-found")
    assert_problem(await write.post("/v1/actors", json={"versionId": "loan-v1", "actorId": "has space"}), 422, "validation")
    assert_problem(await write.post("/v1/actors", json={"versionId": "loan-v1", "context": [1]}), 422, "validation")
    assert_problem(await write.post("/v1/actors", json={"versionId": 3}), 422, "validation")
    assert_problem(await write.post("/v1/actors", json="loan-v1"), 400, "bad-request")
    assert_problem(await server.read.get("/v1/actors/nobody"), 404, "not-found")


async def test_list_filters_and_paging(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.deploy("ring-v1", RING)
    for i in range(7):
        await server.spawn("loan-v1", f"loan-{i}")
    for i in range(3):
        await server.spawn("ring-v1", f"ring-{i}")
    for i in range(3):
        assert (await server.send(f"loan-{i}", "SUBMIT_INFO")).status_code == 200
    seen: list[str] = []
    cursor = None
    while True:
        params = {"versionId": "loan-v1", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = (await server.read.get("/v1/actors", params=params)).json()
        assert len(page["items"]) <= 2
        seen += [a["actorId"] for a in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"loan-{i}" for i in range(7)]
    reviewing = (await server.read.get("/v1/actors", params={"state": "under_review"})).json()["items"]
    assert sorted(a["actorId"] for a in reviewing) == ["loan-0", "loan-1", "loan-2"]
    everything = (await server.read.get("/v1/actors", params={"limit": "1000"})).json()["items"]
    assert len(everything) == 10
    read = server.read
    assert_problem(await read.get("/v1/actors", params={"limit": "0"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors", params={"limit": "1001"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors", params={"limit": "ten"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors", params={"versionId": "nope"}), 404, "not-found")
    body = assert_problem(await read.get("/v1/actors", params={"cursor": "garbage!"}), 422, "validation")
    assert body["parameter"] == "cursor" and "pointer" not in body  # a query parameter is no place in the body


# -- events ----------------------------------------------------------------------------------


async def test_send_and_history(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    sent = await server.send("alice", "SUBMIT_INFO", payload={"form": 1})
    assert sent.status_code == 200
    assert sent.json() == {
        "actorId": "alice", "versionId": "loan-v1", "seq": 1, "stateValue": "under_review", "status": "active",
        "changed": True, "effects": [],
    }
    await server.send("alice", "PAY_FEE", guards={"whatever": True})
    history = (await server.read.get("/v1/actors/alice/events")).json()
    assert history["nextAfter"] is None
    items = history["items"]
    assert [(e["seq"], e["type"], e["stateValue"]) for e in items] == [(1, "SUBMIT_INFO", "under_review"), (2, "PAY_FEE", "awaiting_docs")]
    assert items[0]["payload"] == {"form": 1} and items[1]["guards"] == {"whatever": True}
    page = (await server.read.get("/v1/actors/alice/events", params={"limit": "1"})).json()
    assert [e["seq"] for e in page["items"]] == [1] and page["nextAfter"] == 1
    page = (await server.read.get("/v1/actors/alice/events", params={"after": "1", "limit": "1"})).json()
    assert [e["seq"] for e in page["items"]] == [2] and page["nextAfter"] is None
    read = server.read
    assert_problem(await read.get("/v1/actors/alice/events", params={"after": "-1"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors/alice/events", params={"after": "x"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors/alice/events", params={"limit": "5000"}), 400, "bad-request")
    assert_problem(await read.get("/v1/actors/nobody/events"), 404, "not-found")


async def test_send_errors(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    body = assert_problem(await server.send("alice", "APPROVE"), 409, "event-not-handled")
    assert body["accepted"] == ["SUBMIT_INFO"] and body["stateValue"] == "submitted"
    assert_problem(await server.send("nobody", "SUBMIT_INFO"), 404, "not-found")
    assert_problem(await server.send("alice", ""), 422, "validation")
    assert_problem(await server.send("alice", "x" * 129), 422, "validation")
    assert_problem(await server.send("alice", "BAD\x00TYPE"), 422, "validation")
    assert_problem(await server.send("alice", "BAD\u0085TYPE"), 422, "validation")  # C1 controls too
    assert_problem(await server.send("alice", "SUBMIT_INFO", guards={"g": "yes"}), 422, "validation")
    assert_problem(await server.send("alice", "SUBMIT_INFO", extra=1), 422, "validation")
    for payload in ("a string", 7, [1], True):  # a payload is an object (SPEC section 3)
        assert assert_problem(await server.send("alice", "SUBMIT_INFO", payload=payload), 422, "validation")["pointer"] == "/payload"
    # the runtime's own event types (timers, spawn) cannot be sent
    assert_problem(await server.send("alice", "xstate.after.1000.loan.submitted"), 422, "validation")
    write = server.write
    assert_problem(await write.post("/v1/actors/alice/events", json={"type": 5}), 422, "validation")
    assert_problem(await write.post("/v1/actors/alice/events", json=["SUBMIT_INFO"]), 400, "bad-request")
    assert_problem(await write.post("/v1/actors/alice/events", content=b'{"type": "SUBMIT_INFO"'), 400, "bad-request")
    assert_problem(await write.post("/v1/actors/alice/events", content=b"\xff\xfe garbage"), 400, "bad-request")
    assert_problem(await write.post("/v1/actors/alice/events", content=b""), 400, "bad-request")
    # nothing of that was recorded
    assert (await server.read.get("/v1/actors/alice")).json()["seq"] == 0


async def test_done_actor(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "carol")
    for event_type in ("SUBMIT_INFO", "WAIVE_FEE", "APPROVE"):
        assert (await server.send("carol", event_type)).status_code == 200
    assert (await server.read.get("/v1/actors/carol")).json()["status"] == "done"
    assert_problem(await server.send("carol", "REJECT"), 409, "actor-done")


async def test_idempotent_retries(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    headers = {"Idempotency-Key": "abc-1"}
    first = await server.write.post("/v1/actors/r/events", json={"type": "NEXT", "payload": {"n": 1}}, headers=headers)
    again = await server.write.post("/v1/actors/r/events", json={"payload": {"n": 1}, "type": "NEXT"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["seq"] == 1
    other = await server.write.post("/v1/actors/r/events", json={"type": "NEXT", "payload": {"n": 2}}, headers=headers)
    assert_problem(other, 422, "validation")
    assert (await server.read.get("/v1/actors/r")).json()["seq"] == 1  # applied once
    body = assert_problem(await server.write.post("/v1/actors/r/events", json={"type": "NEXT"}, headers={"Idempotency-Key": "k" * 257}), 422, "validation")
    assert body["parameter"] == "Idempotency-Key" and "pointer" not in body


async def test_concurrent_senders_to_one_actor_keep_order(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "ring")
    results: dict[int, dict] = {}

    async def sender(i: int) -> None:
        response = await server.write.post("/v1/actors/ring/events", json={"type": "NEXT", "payload": {"sender": i}})
        assert response.status_code == 200, response.text
        results[i] = response.json()

    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(sender, i)
    # every event got its own seq, and the state each acknowledgement reports
    # is the one applying the events in seq order gives
    assert sorted(r["seq"] for r in results.values()) == list(range(1, 51))
    for r in results.values():
        assert r["stateValue"] == f"s{r['seq'] % 3}"
    # history holds them in the order the server acknowledged them
    history = (await server.read.get("/v1/actors/ring/events", params={"limit": "100"})).json()["items"]
    by_seq = {r["seq"]: sender for sender, r in results.items()}
    assert [e["payload"]["sender"] for e in history] == [by_seq[seq] for seq in range(1, 51)]
    assert [e["stateValue"] for e in history] == [f"s{seq % 3}" for seq in range(1, 51)]


async def test_batch(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    events = [
        {"actorId": "alice", "type": "SUBMIT_INFO"},
        {"actorId": "ghost", "type": "SUBMIT_INFO"},
        {"actorId": "alice", "type": "PAY_FEE", "idempotencyKey": "pay"},
        {"actorId": "alice", "type": "PAY_FEE", "idempotencyKey": "pay"},
        {"actorId": "alice", "type": "SUBMIT_INFO"},
        "not an object",
        {"actorId": "alice", "type": ""},
    ]
    response = await server.write.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(events)
    assert results[0]["seq"] == 1 and results[0]["stateValue"] == "under_review"
    assert results[1]["type"] == "urn:skruntime:problem:not-found" and results[1]["status"] == 404
    assert results[2]["seq"] == 2 and results[3] == results[2]
    assert results[4]["type"] == "urn:skruntime:problem:event-not-handled" and results[4]["accepted"] == ["APPROVE", "REJECT"]
    assert results[5]["status"] == 400 and results[6]["status"] == 422
    assert (await server.read.get("/v1/actors/alice")).json()["seq"] == 2


async def test_batch_limits(server: Server) -> None:
    assert_problem(await server.write.post("/v1/events/batch", json={"events": [{"actorId": "a", "type": "X"}] * 1001}), 422, "validation")
    assert_problem(await server.write.post("/v1/events/batch", json={"events": {}}), 400, "bad-request")
    assert_problem(await server.write.post("/v1/events/batch", json=[]), 400, "bad-request")
    body = assert_problem(await server.write.post("/v1/events/batch", json={"events": [], "x": 1}), 422, "validation")
    assert body["pointer"] == "/x"


# -- the HTTP layer itself ---------------------------------------------------------------


async def test_unknown_route_and_wrong_method(server: Server) -> None:
    body = assert_problem(await server.admin.get("/v1/nothing-here"), 404, "not-found")
    assert "Traceback" not in body["detail"]
    assert_problem(await server.admin.get("/"), 404, "not-found")
    assert_problem(await server.admin.get("//v1//actors"), 404, "not-found")
    response = await server.admin.put("/v1/actors")
    body = assert_problem(response, 405, "method-not-allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_problem(await server.admin.delete("/v1/machines/loan-v1"), 405, "method-not-allowed")
    assert_problem(await server.admin.patch("/v1/keys"), 405, "method-not-allowed")


async def raw_exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; read one answer (up to its Content-Length, or until
    the server closes)."""
    host, port = server.host_port
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(request)
        data = b""
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                data += chunk
                head, found, body = data.partition(b"\r\n\r\n")
                length = [line for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
                if found and length and len(body) >= int(length[0].split(b":")[1]):
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


async def test_requests_the_http_layer_refuses_get_problem_documents(server: Server) -> None:
    # hypercorn answers these itself, before the application runs
    for request, status, slug in (
        (b"GARBAGE\r\n\r\n", 400, "bad-request"),
        (b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "headers-too-large"),
        (b"POST /healthz HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n", 501, "not-implemented"),
        # a WebSocket handshake hypercorn refuses (no Sec-WebSocket-Key)
        (b"GET /v1/watch HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\n\r\n", 400, "bad-request"),
    ):
        got, headers, body = await raw_exchange(server, request)
        assert got == status and headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert (problem["status"], problem["type"]) == (status, f"urn:skruntime:problem:{slug}") and problem["title"]


async def test_a_connection_that_breaks_the_http_layer_does_not_stop_the_server(server: Server) -> None:
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    host, port = server.host_port

    async def send_and_drop(request: bytes, wait: float) -> None:
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(request)
            with trio.move_on_after(wait):
                while await stream.receive_some(65536):
                    pass

    # a WebSocket upgrade followed by stray bytes (an error inside hypercorn's
    # WebSocket layer, before any authentication), and bodies that stall
    # until their clients give up: each may fail its connection, never the server
    upgrade = (
        b"GET /v1/watch HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: bKdPyn3u98cTfZJSh4TNeQ==\r\n\r\nx\n"
    )
    stalled = (
        b"POST /v1/actors/r/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server.keys["write"].encode()
        + b"\r\nContent-Length: 100\r\n\r\n" + b'{"type":'
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_and_drop, upgrade, 1.0)
        for _ in range(20):
            nursery.start_soon(send_and_drop, stalled, 0.5)
    await trio.sleep(0.5)
    assert (await server.read.get("/healthz")).status_code == 200
    assert (await server.send("r", "NEXT")).status_code == 200


async def test_an_http2_request_that_trips_hypercorn_does_not_stop_the_server(server: Server) -> None:
    # Cleartext HTTP/2 (prior knowledge), no key: a body streamed past the
    # point where hypercorn has answered (405 here) makes its HTTP/2 layer
    # raise for the next DATA frame.  That connection may fail; the server must not.
    import h2.config
    import h2.connection
    import h2.events
    import h2.exceptions

    host, port = server.host_port
    stream = await trio.open_tcp_stream(host, port)
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    connection.initiate_connection()
    connection.send_headers(1, [(":method", "POST"), (":path", "/healthz"), (":scheme", "http"), (":authority", "x")])
    body, sent = b"x" * 1_300_000, 0
    try:
        await stream.send_all(connection.data_to_send())
        with trio.move_on_after(5):
            while sent < len(body):
                window = min(connection.local_flow_control_window(1), connection.max_outbound_frame_size)
                if window > 0:
                    chunk = body[sent : sent + window]
                    sent += len(chunk)
                    connection.send_data(1, chunk, end_stream=sent >= len(body))
                    await stream.send_all(connection.data_to_send())
                    continue
                data = await stream.receive_some(65536)
                if not data or any(isinstance(e, h2.events.StreamReset) for e in connection.receive_data(data)):
                    break
                await stream.send_all(connection.data_to_send())
    except (h2.exceptions.ProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the server dropped the stream or the connection: fine
    finally:
        await stream.aclose()
    assert sent > MAX_BODY  # past the point where the server answered
    await trio.sleep(0.3)
    assert (await server.read.get("/healthz")).status_code == 200


async def test_an_idle_keep_alive_connection_is_closed(server: Server) -> None:
    # hypercorn's keep-alive timer (5 s) must be running after a response:
    # idle connections left open would let anyone hold the server's file
    # descriptors.
    host, port = server.host_port
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        with trio.fail_after(5):
            while b'"ok"' not in data:
                data += await stream.receive_some(65536)
        assert data.startswith(b"HTTP/1.1 200")
        with trio.fail_after(10):  # closed by the server: the read ends with EOF
            assert await stream.receive_some(65536) == b""


async def test_an_unread_body_closes_its_connection(server: Server) -> None:
    # After a 413 the rest of the body is not read, so the connection cannot
    # carry the next request: the server says so and closes it.
    request = b"POST /v1/machines HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (
        server.keys["admin"].encode(),
        MAX_BODY + 1,
    )
    status, headers, _ = await raw_exchange(server, request + b"{" * (MAX_BODY + 1) + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 413 and headers["connection"] == "close"


async def test_a_stalled_send_body_times_out(server: Server, monkeypatch) -> None:
    from skruntime.server import _fastpath

    monkeypatch.setattr(_fastpath, "BODY_TIMEOUT", 0.3)
    await server.deploy("ring-v1", RING)
    await server.spawn("ring-v1", "r")
    request = (
        b"POST /v1/actors/r/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server.keys["write"].encode()
        + b"\r\nContent-Length: 100\r\n\r\n" + b'{"type":'
    )
    status, headers, body = await raw_exchange(server, request)  # returns once the server closes
    assert status == 408 and headers["connection"] == "close"
    assert json.loads(body)["type"] == "urn:skruntime:problem:request-timeout"
    assert (await server.read.get("/v1/actors/r")).json()["seq"] == 0


async def test_oversize_body(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    big = b'{"type": "SUBMIT_INFO", "payload": "' + b"x" * MAX_BODY + b'"}'
    assert_problem(await server.write.post("/v1/actors/alice/events", content=big), 413, "payload-too-large")

    # without a Content-Length (chunked): the streaming limit answers
    async def chunks():
        for _ in range(MAX_BODY // 1024 + 8):
            yield b"x" * 1024

    async with server.client(server.keys["write"]) as client:
        response = await client.post("/v1/actors/alice/events", content=chunks())
    assert_problem(response, 413, "payload-too-large")
    assert (await server.read.get("/v1/actors/alice")).json()["seq"] == 0


async def test_websocket_route_over_plain_http(server: Server) -> None:
    assert_problem(await server.admin.get("/v1/watch"), 426, "upgrade-required")


async def test_deeply_nested_json_is_a_422_and_the_server_keeps_serving(server: Server) -> None:
    deep = "[" * 300 + "]" * 300  # valid JSON the store could not serialize
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice")
    response = await server.write.post("/v1/actors/alice/events", content='{"type": "SUBMIT_INFO", "payload": ' + deep + "}",
                                       headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["pointer"] == "/payload"
    response = await server.admin.post("/v1/machines", content='{"id": "x", "definition": {"id": "m", "meta": ' + deep + "}}",
                                       headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert (await server.send("alice", "SUBMIT_INFO")).json()["seq"] == 1
