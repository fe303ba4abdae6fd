"""Durable event throughput and latency of the HTTP and WebSocket API (issue 4).

In one run, on loopback:

  (floor)  a trivial quart-trio endpoint on hypercorn (parse a small JSON
           body, answer a small JSON body): the framework's own cost;
  (http)   durable single-event sends, POST /v1/actors/{id}/events, at
           concurrency 1, 16 and 64 (p50, p99, events/s), beside the floor
           at the same concurrency;
  (batch)  POST /v1/events/batch with 1,000 events per request;
  (ws)     pipelined sends over WS /v1/watch (events/s), and delivery latency
           (send frame -> change frame on a watching connection);
  (store)  the store's own group-commit rate (bench/store.py, 64 writers).

The servers run in child processes (``python -m skruntime.cli serve``; the
floor app is this file with ``--floor-server``).  The HTTP load generator is
``wrk`` (Debian package ``wrk``) when installed, else httpx in several child
processes (heavier: its numbers are a lower bound).  WebSocket senders are
raw-socket clients in child processes, with pre-encoded frames, so that the
client costs little.  At the end the actors' seqs are summed and compared
with the acknowledged events (nothing acknowledged may be missing).

Usage:
    python bench/events.py [--seconds 5] [--actors 1000] [--no-append]

Results are printed and, unless ``--no-append``, appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.serverproc import free_port  # noqa: E402

ADMIN_KEY = "sk_" + "B" * 43
MACHINE = {"id": "bench", "initial": "a", "states": {"a": {"on": {"PING": "b"}}, "b": {"on": {"PING": "a"}}}}
CONCURRENCY = (1, 16, 64)

# -- the floor: a trivial quart-trio endpoint on the same stack -----------------------------


def run_floor_server(port: int) -> None:
    import orjson
    import trio
    from hypercorn.config import Config as HyperConfig
    from hypercorn.trio import serve
    from quart import request, websocket
    from quart_trio import QuartTrio
    from quart_trio.wrappers import TrioResponse

    app = QuartTrio("floor", static_folder=None)

    @app.post("/floor/<item>")
    async def floor(item: str) -> TrioResponse:
        body = orjson.loads(await request.get_data())
        return TrioResponse(orjson.dumps({"item": item, "type": body.get("type")}), content_type="application/json")

    @app.get("/readyz")
    async def ready() -> TrioResponse:
        return TrioResponse(b"{}", content_type="application/json")

    @app.websocket("/v1/watch")
    async def echo() -> None:
        # the WebSocket floor: parse each frame, answer it with one result frame
        await websocket.accept()
        while True:
            frame = orjson.loads(await websocket.receive())
            await websocket.send(orjson.dumps({"op": "result", "id": frame.get("id"), "status": 200, "body": {}}).decode())

    config = HyperConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.include_server_header = False

    async def main() -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                stop = trio.Event()
                nursery.start_soon(partial(serve, app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
                async for _ in signals:
                    stop.set()
                    return

    trio.run(main)


# -- child processes ---------------------------------------------------------------------------


def wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the server exited with {process.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url}: not ready after {timeout} s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- HTTP load: wrk, or httpx in child processes ------------------------------------------------

WRK_SCRIPT = r"""
local actors = tonumber(os.getenv("BENCH_ACTORS"))
local path_prefix = os.getenv("BENCH_PREFIX")
local path_suffix = os.getenv("BENCH_SUFFIX")
local body = os.getenv("BENCH_BODY")
local headers = {["Content-Type"] = "application/json"}
if os.getenv("BENCH_KEY") ~= "" then headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY") end
local counter = 0
init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  counter = math.random(0, math.max(actors - 1, 0))
end
request = function()
  if actors == 0 then return wrk.format("POST", path_prefix, headers, body) end
  counter = (counter + 1) % actors
  return wrk.format("POST", path_prefix .. counter .. path_suffix, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "socket_errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, prefix: str, suffix: str, body: str, key: str, actors: int, concurrency: int, seconds: float, workdir: Path) -> dict[str, float]:
    script = workdir / "bench.lua"
    script.write_text(WRK_SCRIPT)
    threads = 1 if concurrency == 1 else 2
    env = {**os.environ, "BENCH_ACTORS": str(actors), "BENCH_PREFIX": prefix, "BENCH_SUFFIX": suffix, "BENCH_BODY": body, "BENCH_KEY": key}
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(script), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
    raw = json.loads(line.removeprefix("WRKJSON "))
    ok = raw["requests"] - raw["non2xx"]
    return {
        "requests": raw["requests"],
        "ok": ok,
        "rate": ok / (raw["duration_us"] / 1e6),
        "p50": raw["p50_us"] / 1e6,
        "p99": raw["p99_us"] / 1e6,
        "errors": raw["socket_errors"] + raw["non2xx"],
    }


def httpx_worker(url: str, prefix: str, suffix: str, body: str, key: str, actors: int, tasks: int, seconds: float) -> None:
    """Child process: ``tasks`` concurrent trio tasks posting for ``seconds``;
    prints latencies and counts as JSON."""
    import httpx
    import trio

    parts = set(args.only.split(","))
    if not parts <= {"http", "batch", "ws"}:
        parser.error("--only takes http, batch and ws")
    if parts != {"http", "batch", "ws"}:
        args.no_append = True

    async def main() -> None:
        latencies: list[float] = []
        errors = 0
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_connections=tasks, max_keepalive_connections=tasks)
        async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=10) as client:
            stop_at = time.perf_counter() + seconds

            async def one(i: int) -> None:
                nonlocal errors
                n = random.randrange(actors) if actors else 0
                while time.perf_counter() < stop_at:
                    n = (n + 1) % actors if actors else 0
                    t0 = time.perf_counter()
                    response = await client.post(f"{prefix}{n}{suffix}" if actors else prefix, content=body)
                    if response.status_code >= 300:
                        errors += 1
                    else:
                        latencies.append(time.perf_counter() - t0)

            async with trio.open_nursery() as nursery:
                for i in range(tasks):
                    nursery.start_soon(one, i)
        print(json.dumps({"latencies": latencies, "errors": errors, "seconds": seconds}))

    trio.run(main)


def run_httpx(url: str, prefix: str, suffix: str, body: str, key: str, actors: int, concurrency: int, seconds: float) -> dict[str, float]:
    processes = max(1, min(concurrency, 4))
    per = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--httpx-worker", json.dumps([url, prefix, suffix, body, key, actors, n, seconds])],
            stdout=subprocess.PIPE,
        )
        for n in per
    ]
    latencies: list[float] = []
    errors = 0
    for child in children:
        out, _ = child.communicate()
        data = json.loads(out)
        latencies += data["latencies"]
        errors += data["errors"]
    latencies.sort()
    return {
        "requests": len(latencies) + errors,
        "ok": len(latencies),
        "rate": len(latencies) / seconds,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "errors": errors,
    }


def http_load(url: str, prefix: str, suffix: str, body: str, key: str, actors: int, concurrency: int, seconds: float, workdir: Path) -> dict[str, float]:
    if wrk_available():
        return run_wrk(url, prefix, suffix, body, key, actors, concurrency, seconds, workdir)
    return run_httpx(url, prefix, suffix, body, key, actors, concurrency, seconds)


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- WebSocket: raw-socket pipelined sender ----------------------------------------------------


def ws_handshake(host: str, port: int, key: str) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = (
        f"GET /v1/watch HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {key}\r\n\r\n"
    )
    sock.sendall(request.encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("the WebSocket handshake failed")
        data += chunk
    if not data.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"the WebSocket handshake was refused: {data[:200]!r}")
    leftover = data.split(b"\r\n\r\n", 1)[1]
    if leftover:
        raise SystemExit("unexpected data after the handshake")
    return sock


def client_frame(text: str) -> bytes:
    """A masked text frame (the zero mask leaves the payload as is)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return header + b"\x00\x00\x00\x00" + payload


def ws_worker(host: str, port: int, key: str, first_actor: int, actors: int, count: int, window: int, per_frame: int = 1) -> None:
    """Child process: send ``count`` events in pipelined frames (at most
    ``window`` events unanswered), ``per_frame`` events a frame (1: ``send``
    frames, more: ``batch`` frames); count the acknowledged events; prints
    JSON."""
    import selectors

    sock = ws_handshake(host, port, key)
    if per_frame == 1:
        frames = [
            client_frame(json.dumps({"op": "send", "id": i, "actorId": f"bench-{first_actor + i % actors}", "event": {"type": "PING"}}))
            for i in range(count)
        ]
    else:
        count -= count % per_frame
        frames = [
            client_frame(
                json.dumps(
                    {
                        "op": "batch",
                        "id": n,
                        "events": [{"actorId": f"bench-{first_actor + i % actors}", "type": "PING"} for i in range(n * per_frame, (n + 1) * per_frame)],
                    }
                )
            )
            for n in range(count // per_frame)
        ]
        window = max(1, window // per_frame)
        count //= per_frame
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    buffer = bytearray()
    sent = received = ok = 0
    outgoing = b""
    start = time.perf_counter()
    while received < count:
        if not outgoing and sent < count and sent - received < window:
            batch = min(count - sent, window - (sent - received), 256)
            outgoing = b"".join(frames[sent : sent + batch])
            sent += batch
        if outgoing:
            try:
                n = sock.send(outgoing)
                outgoing = outgoing[n:]
            except BlockingIOError:
                pass
        for _ in selector.select(timeout=0 if outgoing else 1):
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise SystemExit("the server closed the WebSocket")
            buffer += chunk
        # parse complete server frames (unmasked)
        pos = 0
        while len(buffer) - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if len(buffer) - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if len(buffer) - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            if len(buffer) - pos < head + length:
                break
            payload = bytes(buffer[pos + head : pos + head + length])
            pos += head + length
            if payload.startswith(b'{"op":"result"'):
                received += 1
                ok += payload.count(b'"seq":') if per_frame > 1 else b'"status":200' in payload
        del buffer[:pos]
    elapsed = time.perf_counter() - start
    sock.close()
    print(json.dumps({"received": received, "ok": ok, "seconds": elapsed}))


def run_ws_senders(
    host: str, port: int, key: str, actors: int, per_process: int, processes: int, window: int, per_frame: int = 1
) -> dict[str, float]:
    share = actors // processes
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--ws-worker", json.dumps([host, port, key, i * share, share, per_process, window, per_frame])],
            stdout=subprocess.PIPE,
        )
        for i in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate()
        results.append(json.loads(out))
    ok = sum(r["ok"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    return {"ok": ok, "sent": processes * per_process, "rate": ok / elapsed, "seconds": elapsed}


async def ws_delivery_latency(host: str, port: int, key: str, actor: str, samples: int) -> list[float]:
    """Send frame -> change frame on the same connection, one at a time."""
    import trio
    from trio_websocket import wrap_client_stream

    stream = await trio.open_tcp_stream(host, port)
    latencies: list[float] = []
    try:
        async with trio.open_nursery() as nursery:
            ws = await wrap_client_stream(nursery, stream, host, "/v1/watch", extra_headers=[(b"authorization", f"Bearer {key}".encode())])
            await ws.send_message(json.dumps({"op": "subscribe", "actorId": actor}))
            for i in range(samples + 20):
                t0 = time.perf_counter()
                await ws.send_message(json.dumps({"op": "send", "id": i, "actorId": actor, "event": {"type": "PING"}}))
                while True:
                    frame = json.loads(await ws.get_message())
                    if frame["op"] == "change":
                        break
                if i >= 20:  # warm-up
                    latencies.append(time.perf_counter() - t0)
            await ws.aclose()
    finally:
        await stream.aclose()
    return latencies


# -- the run -------------------------------------------------------------------------------------


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each HTTP run")
    parser.add_argument("--actors", type=int, default=1000)
    parser.add_argument("--ws-events", type=int, default=40000, help="events per WebSocket sender process")
    parser.add_argument("--ws-processes", type=int, default=2)
    parser.add_argument("--ws-frame-events", type=int, default=500, help="events per WebSocket batch frame")
    parser.add_argument("--only", default="http,batch,ws", help="comma-separated parts to run: http, batch, ws (for iterating; a full run appends)")
    parser.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument("--floor-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--httpx-worker", help=argparse.SUPPRESS)
    parser.add_argument("--ws-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        run_floor_server(args.floor_server)
        return
    if args.httpx_worker:
        httpx_worker(*json.loads(args.httpx_worker))
        return
    if args.ws_worker:
        ws_worker(*json.loads(args.ws_worker))
        return

    import httpx
    import trio

    parts = set(args.only.split(","))
    if not parts <= {"http", "batch", "ws"}:
        parser.error("--only takes http, batch and ws")
    if parts != {"http", "batch", "ws"}:
        args.no_append = True

    workdir = Path(tempfile.mkdtemp(prefix="events-", dir=ROOT / "bench" / "out"))
    floor_port, port = free_port(), free_port()
    floor_url, url = f"http://127.0.0.1:{floor_port}", f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKRUNTIME_")}
    env.update(
        {
            "SKRUNTIME_DATA_DIR": str(workdir / "data"),
            "SKRUNTIME_KEY_FILE": str(workdir / "skruntime.key"),
            "SKRUNTIME_LISTEN": f"127.0.0.1:{port}",
            "SKRUNTIME_BOOTSTRAP_KEY": ADMIN_KEY,
            "SKRUNTIME_LIMITS_MAX_BODY_BYTES": "4MiB",
        }
    )
    generator = "wrk" if wrk_available() else "httpx in child processes (wrk not installed: `apt-get install wrk`)"
    floor = subprocess.Popen([sys.executable, __file__, "--floor-server", str(floor_port)])
    server = subprocess.Popen(
        [sys.executable, "-m", "skruntime.cli", "serve", "--log-level", "warning"], cwd=workdir, env=env, stderr=subprocess.DEVNULL
    )
    rows: list[tuple[str, str, str, str, str]] = []
    notes: list[str] = []
    try:
        wait_ready(floor, floor_url)
        wait_ready(server, url)
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
        admin.post("/v1/machines", json={"id": "bench-v1", "definition": MACHINE}).raise_for_status()
        for i in range(args.actors):
            admin.post("/v1/actors", json={"versionId": "bench-v1", "actorId": f"bench-{i}"}).raise_for_status()
        write_key = admin.post("/v1/keys", json={"scope": "write"}).json()["key"]
        acknowledged = 0
        body = json.dumps({"type": "PING"})
        floor_rates: dict[int, float] = {}
        durable_rates: dict[int, float] = {}
        p50_c1 = float("nan")
        # warm-up both servers
        http_load(floor_url, "/floor/", "", body, "", args.actors, 16, 1, workdir)
        acknowledged += int(http_load(url, "/v1/actors/bench-", "/events", body, write_key, args.actors, 16, 1, workdir)["ok"])
        for concurrency in CONCURRENCY if "http" in parts else ():
            f = http_load(floor_url, "/floor/", "", body, "", args.actors, concurrency, args.seconds, workdir)
            d = http_load(url, "/v1/actors/bench-", "/events", body, write_key, args.actors, concurrency, args.seconds, workdir)
            acknowledged += int(d["ok"])
            floor_rates[concurrency], durable_rates[concurrency] = f["rate"], d["rate"]
            if concurrency == 1:
                p50_c1 = d["p50"]
            rows.append((f"floor endpoint, c={concurrency}", fmt_rate(f["rate"]) + " req/s", fmt_ms(f["p50"]), fmt_ms(f["p99"]), ""))
            rows.append(
                (
                    f"durable send (HTTP), c={concurrency}",
                    fmt_rate(d["rate"]) + " events/s",
                    fmt_ms(d["p50"]),
                    fmt_ms(d["p99"]),
                    f"{d['rate'] / f['rate']:.0%} of floor" + (f"; {int(d['errors'])} errors" if d["errors"] else ""),
                )
            )
        # batch: 1,000 events per request, across all actors
        b = {"rate": float("nan")}
        batch_body = json.dumps({"events": [{"actorId": f"bench-{i % args.actors}", "type": "PING"} for i in range(1000)]})
        probe = admin.post("/v1/events/batch", content=batch_body).json()["results"]
        assert all("seq" in r for r in probe), "batch items failed"
        acknowledged += len(probe)
        if "batch" in parts:
            for in_flight in (4, 8):
                run = http_load(url, "/v1/events/batch", "", batch_body, write_key, 0, in_flight, args.seconds, workdir)
                run = {**run, "rate": run["rate"] * 1000}
                acknowledged += int(run["ok"]) * 1000
                rows.append(
                    (
                        f"batch send (HTTP, 1,000 per request, {in_flight} in flight)",
                        fmt_rate(run["rate"]) + " events/s",
                        fmt_ms(run["p50"]),
                        fmt_ms(run["p99"]),
                        "p50/p99 per request",
                    )
                )
                if run["rate"] > b["rate"] or b["rate"] != b["rate"]:
                    b = run
        w = wb = {"rate": float("nan")}
        latencies = []
        if "ws" in parts:
            # WebSocket pipelined sends, beside the same client against an echo endpoint (the floor)
            wf = run_ws_senders("127.0.0.1", floor_port, write_key, args.actors, args.ws_events, args.ws_processes, 2000)
            rows.append(
                (
                    f"floor WebSocket echo ({args.ws_processes} connections, 2,000 in flight each)",
                    fmt_rate(wf["rate"]) + " frames/s",
                    "",
                    "",
                    "one result frame per frame, nothing else",
                )
            )
            w = run_ws_senders("127.0.0.1", port, write_key, args.actors, args.ws_events, args.ws_processes, 2000)
            acknowledged += int(w["ok"])
            rows.append(
                (
                    f"pipelined send (WebSocket, {args.ws_processes} connections, 2,000 in flight each)",
                    fmt_rate(w["rate"]) + " events/s",
                    "",
                    "",
                    f"{int(w['ok'])}/{int(w['sent'])} ok; {w['rate'] / wf['rate']:.0%} of the echo floor",
                )
            )
            per_frame = args.ws_frame_events
            wb = run_ws_senders("127.0.0.1", port, write_key, args.actors, args.ws_events * 5 // 2, 2 * args.ws_processes, 8 * per_frame, per_frame)
            acknowledged += int(wb["ok"])
            rows.append(
                (
                    f"batch frames (WebSocket, {2 * args.ws_processes} connections, {per_frame} events a frame, 8 frames in flight each)",
                    fmt_rate(wb["rate"]) + " events/s",
                    "",
                    "",
                    f"{int(wb['ok'])}/{int(wb['sent'])} ok",
                )
            )
            latencies = sorted(trio.run(ws_delivery_latency, "127.0.0.1", port, write_key, "bench-0", 500))
            acknowledged += len(latencies) + 20
            rows.append(
                (
                    "WebSocket delivery (send -> change frame), sequential",
                    f"{1 / statistics.mean(latencies):,.0f} events/s",
                    fmt_ms(percentile(latencies, 0.5)),
                    fmt_ms(percentile(latencies, 0.99)),
                    "",
                )
            )
        # integrity: every acknowledged event is in the actors' seqs
        total_seq = 0
        cursor = None
        while True:
            page = admin.get("/v1/actors", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}).json()
            total_seq += sum(a["seq"] for a in page["items"])
            cursor = page["nextCursor"]
            if cursor is None:
                break
        admin.close()
    finally:
        stop_process(server)
        stop_process(floor)
    # the store's own group-commit rate
    store_rate = None
    logging.getLogger("skruntime").setLevel(logging.ERROR)  # its temporary stores' key files are not news
    try:
        if len(parts) < 3:
            raise RuntimeError("a partial run (--only)")
        import store as store_bench

        count, elapsed, _, per_txn = trio.run(store_bench.bench_concurrent, workdir, 1, 64, 3.0)
        store_rate = count / elapsed
        rows.append(("store group commit (bench/store.py, 64 writers, ~500 B records)", fmt_rate(store_rate) + " records/s", "", "", f"{per_txn:.0f} records/txn"))
    except Exception as exc:  # the store bench is optional here
        notes.append(f"store group-commit rate skipped: {exc!r}")
    shutil.rmtree(workdir, ignore_errors=True)

    notes.append(f"integrity: {acknowledged:,} events acknowledged, actors' seqs sum to {total_seq:,} (>= acknowledged: {total_seq >= acknowledged}; the excess is requests in flight when a run's clock stopped)")
    targets = []
    if "http" in parts:
        ratio64 = durable_rates[64] / floor_rates[64]
        targets += [
            f"p50 at c=1 < 1.5 ms: {fmt_ms(p50_c1)} -> {'met' if p50_c1 < 0.0015 else 'NOT met'}",
            f"c=64 durable >= 80% of floor: {ratio64:.0%} -> {'met' if ratio64 >= 0.8 else 'NOT met'}",
        ]
    if "batch" in parts:
        targets.append(f"batch >= 50,000 events/s: {fmt_rate(b['rate'])} (the better of 4 and 8 in flight) -> {'met' if b['rate'] >= 50000 else 'NOT met'}")
    if "ws" in parts:
        ws_best = max(w["rate"], wb["rate"])
        targets.append(
            f"WebSocket sends >= 50,000 events/s: {fmt_rate(ws_best)} (batch frames; one event a frame: {fmt_rate(w['rate'])}) -> "
            f"{'met' if ws_best >= 50000 else 'NOT met'}"
        )
    table = ["| run | throughput | p50 | p99 | note |", "| --- | ---: | ---: | ---: | --- |"]
    table += [f"| {a} | {b_} | {c} | {d} | {e} |" for a, b_, c, d, e in rows]
    text = "\n".join(
        [
            f"Load generator: {generator}; {args.seconds:g} s per HTTP run; {args.actors} actors on a two-state machine "
            "(every event handled); default configuration (256 shards, zstd level 1).",
            "",
            *table,
            "",
            "Targets (issue 4):",
            *[f"- {t}" for t in targets],
            "",
            *[f"- {n}" for n in notes],
        ]
    )
    print(text)
    if not args.no_append:
        from _common import record

        record("events (HTTP and WebSocket)", text)
        print("appended to bench/RESULTS.md")


if __name__ == "__main__":
    main()
