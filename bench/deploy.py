"""End-to-end deploy and preview of N actors on a running server (issue 5).

Starts ``skruntime serve`` in a child process, deploys loan-v1, spawns N
actors and gives each a history of 3-20 events (half start SUBMIT_INFO,
PAY_FEE: they match), then times over HTTP:

  * preview, counts only (``?summary=true``; it writes nothing, so it is
    timed five times: the median and the first are reported) and full
    (every actor listed);
  * the deploy of loan-v2 with that historyPath: route, land by replay,
    write the decision pages (which carry the moves) durably, answer.  The
    migrated actors' own records are written after the answer (see
    docs/STORAGE.md, "Deployments").

    python bench/deploy.py [--actors 50000 1000000] [--no-record]

Up to 100,000 actors the set-up goes over HTTP too; beyond that (``--actors
1000000``) it writes the same actors and histories through an in-process
runtime on the server's data directory first (HTTP set-up would take most of
an hour), and the server then recovers them at start-up (reported).

Targets: deploy < 0.3 s including durability and preview < 0.1 s at 50,000
actors; report 1,000,000 too (``--actors 1000000`` takes a long set-up).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import record  # noqa: E402

from tests import serverproc  # noqa: E402

ADMIN_KEY = "sk_" + "D" * 43
PAID = ["SUBMIT_INFO", "PAY_FEE"]
TAIL = ["NOTE", "UPLOAD", "CALL", "REMIND"]
V1 = {"id": "loan", "initial": "submitted", "states": {
    "submitted": {"on": {"SUBMIT_INFO": "under_review"}},
    "under_review": {"on": {"PAY_FEE": "awaiting_docs", "WAIVE_FEE": "awaiting_docs"}},
    "awaiting_docs": {"on": {**{t: "awaiting_docs" for t in TAIL}, "APPROVE": "approved"}},
    "approved": {"type": "final"}}}
V2 = {**V1, "states": {**V1["states"],
    "under_review": {"on": {"PAY_FEE": "income_verify", "WAIVE_FEE": "awaiting_docs"}},
    "income_verify": {"on": {**{t: "income_verify" for t in TAIL}, "VERIFY_INCOME": "awaiting_docs"}}}}


async def populate(client: httpx.AsyncClient, n: int) -> None:
    await client.post("/v1/machines", json={"id": "loan-v1", "definition": V1})
    limiter = trio.Semaphore(48)

    async def spawn(i: int) -> None:
        async with limiter:
            r = await client.post("/v1/actors", json={"versionId": "loan-v1", "actorId": f"a{i}"})
            r.raise_for_status()

    for start in range(0, n, 5000):
        async with trio.open_nursery() as nursery:
            for i in range(start, min(n, start + 5000)):
                nursery.start_soon(spawn, i)
    # Each actor's whole history goes in one batch: batches run concurrently,
    # and only events within one batch keep their order.
    chunks: list[list[dict[str, str]]] = [[]]
    total = 0
    for history in histories(n):
        if len(chunks[-1]) + len(history) > 1000:
            chunks.append([])
        chunks[-1].extend(history)
        total += len(history)

    async def batch(chunk: list[dict[str, str]]) -> None:
        async with limiter:
            r = await client.post("/v1/events/batch", json={"events": chunk})
            r.raise_for_status()
            assert all("seq" in item for item in r.json()["results"])

    async with trio.open_nursery() as nursery:
        for chunk in chunks:
            nursery.start_soon(batch, chunk)
    print(f"populated {n:,} actors, {total:,} events", flush=True)


def histories(n: int) -> Iterator[list[dict[str, str]]]:
    """Every actor's events, the same for both ways of setting up."""
    rnd = random.Random(3)
    for i in range(n):
        head = PAID if i % 2 == 0 else ["SUBMIT_INFO", "WAIVE_FEE"]
        yield [{"actorId": f"a{i}", "type": t} for t in head + [rnd.choice(TAIL) for _ in range(rnd.randint(1, 18))]]


async def populate_direct(root: Path, n: int) -> None:
    """Write the actors through an in-process runtime on the server's data
    directory and key file (the server is not running yet)."""
    from skruntime._config import Config
    from skruntime.runtime import Runtime
    from skruntime.store import LmdbStore

    config = Config.from_mapping(
        {
            "store": {"data_dir": str(root / "data"), "shards": 256, "map_size": "64GiB"},
            "security": {"key_file": str(root / "skruntime.key")},
        }
    )
    store = LmdbStore.open(config)
    try:
        async with trio.open_nursery() as nursery:
            rt = await nursery.start(Runtime(config, store).run)
            await rt.deploy({"id": "loan-v1", "definition": V1})
            for start in range(0, n, 2000):
                async with trio.open_nursery() as spawns:
                    for i in range(start, min(n, start + 2000)):
                        spawns.start_soon(rt.spawn, {"versionId": "loan-v1", "actorId": f"a{i}"})
            chunk: list[dict[str, str]] = []
            async with trio.open_nursery() as sends:
                limiter = trio.Semaphore(8)

                async def send(events: list[dict[str, str]]) -> None:
                    async with limiter:
                        results = await rt.send_batch({"events": events})
                        assert all("seq" in item for item in results)

                for history in histories(n):
                    if len(chunk) + len(history) > 1000:
                        await limiter.acquire()  # back-pressure: at most 8 batches queued
                        limiter.release()
                        sends.start_soon(send, chunk)
                        chunk = []
                    chunk.extend(history)
                sends.start_soon(send, chunk)
            rt.stop()
    finally:
        store.close()


async def measure(url: str, n: int, setup: float | None) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=600) as client:
        if setup is None:
            t0 = time.perf_counter()
            await populate(client, n)
            setup = time.perf_counter() - t0
        body = {"id": "loan-v2", "parentId": "loan-v1", "historyPath": PAID, "definition": V2}
        summaries = []  # a preview writes nothing: time it a few times (this machine is noisy), report the median and the first
        for _ in range(PREVIEW_RUNS):
            t0 = time.perf_counter()
            r = await client.post("/v1/machines/preview", params={"summary": "true"}, json=body)
            summaries.append(time.perf_counter() - t0)
            r.raise_for_status()
        t0 = time.perf_counter()
        full = await client.post("/v1/machines/preview", json=body)
        full_s = time.perf_counter() - t0
        token = full.json()["previewToken"]
        t0 = time.perf_counter()
        r = await client.post("/v1/machines", json={**body, "expect": {"previewToken": token}})
        deploy_s = time.perf_counter() - t0
        r.raise_for_status()
        deployment = r.json()["deployment"]
        assert deployment["evaluated"] == n and deployment["migrated"] == (n + 1) // 2, deployment
        return {"setup": setup, "summary": statistics.median(summaries), "first": summaries[0], "full": full_s, "deploy": deploy_s}


DIRECT_ABOVE = 100_000
PREVIEW_RUNS = 5


async def run(n: int, direct: bool) -> dict[str, float]:
    (HERE / "out").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        root = Path(tmp)
        setup = None
        if direct:
            t0 = time.perf_counter()
            await populate_direct(root, n)
            setup = time.perf_counter() - t0
            print(f"populated {n:,} actors in-process in {setup:.0f} s", flush=True)
        port = serverproc.free_port()
        process = await serverproc.start(root, port, SKRUNTIME_BOOTSTRAP_KEY=ADMIN_KEY, SKRUNTIME_STORE_SHARDS="256",
                                         SKRUNTIME_STORE_MAP_SIZE="64GiB")
        url = f"http://127.0.0.1:{port}"
        try:
            t0 = time.perf_counter()
            await serverproc.wait_ready(process, url, timeout=3600)
            recovery = time.perf_counter() - t0
            result = await measure(url, n, setup)
            return {**result, "recovery": recovery}
        finally:
            await serverproc.stop(process, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, nargs="+", default=[50_000])
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--direct", action="store_true", help=f"set up in-process at any size (default: above {DIRECT_ABOVE:,} actors)")
    args = parser.parse_args()
    lines = [
        f"| actors | preview (counts): median of {PREVIEW_RUNS} (first) | preview (full list) | deploy (durable) | deploy per actor | set-up | server start-up (recovery) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in args.actors:
        direct = args.direct or n > DIRECT_ABOVE
        r = trio.run(run, n, direct)
        how = "in-process" if direct else "HTTP"
        lines.append(
            f"| {n:,} | {r['summary']:.3f} s ({r['first']:.3f} s) | {r['full']:.3f} s | {r['deploy']:.3f} s | {r['deploy'] / n * 1e6:.1f} µs "
            f"| {r['setup']:.0f} s ({how}) | {r['recovery']:.1f} s |"
        )
        print(lines[-1], flush=True)
    lines.append("")
    lines.append("Histories of 3-20 events, half matching the path; over HTTP on loopback against `skruntime serve`.")
    lines.append("Targets at 50,000 actors: deploy < 0.3 s including durability, preview < 0.1 s.")
    text = "\n".join(lines)
    print(text)
    if not args.no_record:
        record("deploy (bench/deploy.py)", text)


if __name__ == "__main__":
    main()
