"""Durable-commit benchmark of the store (issue 3).

Measures, in one run and on the same disk:

  (a) raw LMDB: one tiny put per durable (sync) transaction;
  (b) one writer committing encrypted ~500-byte snapshots through the store,
      one commit at a time;
  (c) N concurrent trio writers (default 64) through the group commit;

and, to show where the ceilings are, the same hand-offs with the store's
work taken out: the store's GroupCommitWriter (its threads, queue and trio
wake-ups) driving an ``apply`` that does only raw LMDB work:

  (d) one trio writer whose commit is (a)'s tiny durable transaction;
  (e) N trio writers whose groups put pre-sealed ~500-byte records (no
      sealing, fencing or batching) in one durable transaction;
  (f) N trio writers whose groups do nothing at all (the event loop's and
      the hand-offs' own ceiling).

Usage:
    python bench/store.py [--seconds 5] [--writers 64] [--zstd-level 1] [--append]

``--append`` adds the table to bench/RESULTS.md with the date and machine.
Temporary stores live under bench/out/ (git-ignored) and are removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info  # noqa: E402
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from skruntime._config import Config  # noqa: E402
from skruntime._native_loader import native_status  # noqa: E402
from skruntime.store import LmdbStore, shard_of  # noqa: E402
from skruntime.store._codec import RecordCodec, dumps  # noqa: E402
from skruntime.store._keyring import Keyring  # noqa: E402
from skruntime.store._writer import GroupCommitWriter, Job  # noqa: E402

SHARDS = 64
ROUNDS = 5  # turns taken by the latency runs (a), (b) and (d)


def snapshot(actor: str, seq: int, rng: random.Random) -> dict[str, object]:
    """A realistic ~500-byte actor snapshot (JSON)."""
    return {
        "actorId": actor,
        "versionId": "loan-v1",
        "stateValue": {"review": "awaiting_docs", "payment": "paid"},
        "status": "active",
        "seq": seq,
        "fingerprint": f"{rng.getrandbits(64):016x}",
        "context": {
            "applicant": {"name": "Alice Example", "email": "alice@example.com", "income": rng.randint(1, 10**6)},
            "amount": rng.randint(1000, 500000),
            "currency": "EUR",
            "termMonths": 240,
            "documents": [{"kind": "id", "ok": True}, {"kind": "payslip", "ok": False}],
            "notes": "applicant requested a callback on tuesday afternoon",
        },
        "createdAt": "2025-01-02T03:04:05.678Z",
        "updatedAt": "2025-01-02T03:04:09.012Z",
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_codec(level: int, native: bool, group: int) -> float | None:
    """Seconds to seal one ~500-byte snapshot, in groups of ``group``
    (``None`` when the native sealer is asked for and not built)."""
    try:
        codec = RecordCodec(Keyring.new(), zstd_level=level, native=native)
    except RuntimeError:
        return None
    rng = random.Random(1)
    items = [("actors", b"\x00\x01\x0dloan-00000001", dumps(snapshot("loan-00000001", 1, rng)))] * group
    rounds = 20000 // group
    t0 = time.perf_counter()
    for _ in range(rounds):
        codec.seal_many(items)
    return (time.perf_counter() - t0) / (rounds * group)


def codec_summary(level: int) -> str:
    native = [bench_codec(level, True, n) for n in (64, 1)]
    python = [bench_codec(level, False, n) for n in (64, 1)]
    text = "codec (zstd + AES-GCM) per ~500 B snapshot, in groups of 64 / alone: "
    if native[0] is not None and native[1] is not None:
        text += f"C sealer {native[0] * 1e6:.1f} / {native[1] * 1e6:.1f} us, "
    else:
        text += "C sealer not built, "
    assert python[0] is not None and python[1] is not None
    return text + f"Python {python[0] * 1e6:.1f} / {python[1] * 1e6:.1f} us"


def bench_raw(workdir: Path, n: int) -> list[float]:
    path = Path(tempfile.mkdtemp(prefix="raw-", dir=workdir))
    env = lmdb.open(str(path), map_size=1 << 30, max_dbs=16, sync=True, metasync=True)
    db = env.open_db(b"actors")
    lat = []
    try:
        for i in range(n + 20):
            t0 = time.perf_counter()
            with env.begin(write=True) as txn:
                txn.put(b"k%d" % (i % 1000), b"v", db=db)
            if i >= 20:  # warm-up
                lat.append(time.perf_counter() - t0)
    finally:
        env.close()
        shutil.rmtree(path)
    return lat


def open_store(workdir: Path, level: int, name: str) -> LmdbStore:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    config = Config.from_mapping(
        {
            "store": {"data_dir": str(path / "data"), "shards": SHARDS, "map_size": 4 << 30, "zstd_level": level},
            "security": {"master_key": "", "key_file": str(path / "key")},
        }
    )
    return LmdbStore.open(config)


async def bench_single(workdir: Path, level: int, n: int) -> list[float]:
    store = open_store(workdir, level, "single")
    rng = random.Random(2)
    lat = []
    try:
        async with store.running():
            actor = "loan-00000001"
            shard = await store.acquire(shard_of(actor, SHARDS), 1)
            variants = [snapshot(actor, seq, rng) for seq in range(16)]
            for seq in range(n + 20):
                batch = shard.batch()
                batch.put("actors", actor, variants[seq % 16])
                t0 = time.perf_counter()
                await store.commit(batch)
                if seq >= 20:
                    lat.append(time.perf_counter() - t0)
    finally:
        store.close()
        shutil.rmtree(store.data_dir.parent)
    return lat


async def bench_concurrent(workdir: Path, level: int, writers: int, seconds: float) -> tuple[int, float, list[float], float]:
    store = open_store(workdir, level, "group")
    lat: list[float] = []
    count = 0
    try:
        async with store.running():
            shards = {s: await store.acquire(s, 1) for s in range(SHARDS)}
            stop_at = 0.0

            async def writer(i: int) -> None:
                nonlocal count
                rng = random.Random(i)
                actor = f"loan-{i:08d}"
                shard = shards[shard_of(actor, SHARDS)]
                variants = [snapshot(actor, seq, rng) for seq in range(16)]
                seq = 0
                while time.perf_counter() < stop_at:
                    seq += 1
                    batch = shard.batch()
                    batch.put("actors", actor, variants[seq % 16])
                    t0 = time.perf_counter()
                    await store.commit(batch)
                    t1 = time.perf_counter()
                    if t1 <= stop_at:
                        lat.append(t1 - t0)
                        count += 1

            for duration in (0.5, seconds):  # a warm-up, then the measured run
                before = store.statistics()
                count = 0
                lat.clear()
                start = time.perf_counter()
                stop_at = start + duration
                async with trio.open_nursery() as nursery:
                    for i in range(writers):
                        nursery.start_soon(writer, i)
                elapsed = stop_at - start
                after = store.statistics()
            groups = after.groups - before.groups
            per_txn = (after.records - before.records) / groups if groups else 0.0
    finally:
        store.close()
        shutil.rmtree(store.data_dir.parent)
    return count, elapsed, list(lat), per_txn


def raw_env(workdir: Path) -> tuple[lmdb.Environment, Any, Path]:
    path = Path(tempfile.mkdtemp(prefix="floor-", dir=workdir))
    env = lmdb.open(str(path), map_size=1 << 30, max_dbs=16, sync=True, metasync=True)
    return env, env.open_db(b"actors"), path


def raw_apply(env: lmdb.Environment, db: Any) -> Callable[[list[Job]], None]:
    """A writer ``apply`` that puts each job's (key, value) payload in one
    durable transaction and nothing else."""

    def apply(jobs: list[Job]) -> None:
        with env.begin(write=True) as txn, txn.cursor(db=db) as cursor:
            cursor.putmulti([job.payload for job in jobs])

    return apply


async def bench_floor_single(workdir: Path, n: int) -> list[float]:
    env, db, path = raw_env(workdir)
    writer = GroupCommitWriter(raw_apply(env, db), max_records=1000)
    lat = []
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(n + 20):
                t0 = time.perf_counter()
                await writer.submit(Job((b"k%d" % (i % 1000), b"v"), 1))
                if i >= 20:  # warm-up
                    lat.append(time.perf_counter() - t0)
            writer.close()
    finally:
        env.close()
        shutil.rmtree(path)
    return lat


async def bench_floor_group(workdir: Path, writers: int, seconds: float, *, commit: bool) -> float:
    """Records/s of ``writers`` trio writers through the store's group-commit
    writer whose groups are raw durable puts of pre-sealed ~500-byte records
    (``commit``) or nothing at all."""
    env, db, path = raw_env(workdir)
    writer = GroupCommitWriter(raw_apply(env, db) if commit else (lambda jobs: None), max_records=1000)
    codec = RecordCodec(Keyring.new())
    count = 0
    stop_at = 0.0
    try:

        async def one(i: int) -> None:
            nonlocal count
            actor = f"loan-{i:08d}"
            key = b"\x00" + actor.encode()
            sealed = codec.encode("actors", key, snapshot(actor, 1, random.Random(i)))
            while time.perf_counter() < stop_at:
                await writer.submit(Job((key, sealed), 1))
                if time.perf_counter() <= stop_at:
                    count += 1

        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for duration in (0.5, seconds):  # a warm-up, then the measured run
                count = 0
                start = time.perf_counter()
                stop_at = start + duration
                async with trio.open_nursery() as inner:
                    for i in range(writers):
                        inner.start_soon(one, i)
            writer.close()
    finally:
        env.close()
        shutil.rmtree(path)
    return count / seconds


def machine() -> str:
    return f"{platform.node()}: {machine_info()}, LMDB {'.'.join(map(str, lmdb.version()))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the concurrent run")
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--commits", type=int, default=1000, help="commits in each of the latency runs (a), (b) and (d)")
    parser.add_argument("--zstd-level", type=int, default=-1)
    parser.add_argument("--append", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()

    workdir = ROOT / "bench" / "out"
    workdir.mkdir(parents=True, exist_ok=True)

    codec = codec_summary(args.zstd_level)
    # (a), (b) and (d) are compared as latencies: they take turns, in
    # ROUNDS rounds, so that a slow stretch of the machine hits all three.
    raw: list[float] = []
    single: list[float] = []
    floor_single: list[float] = []
    per_round = max(1, args.commits // ROUNDS)
    for _ in range(ROUNDS):
        raw += bench_raw(workdir, per_round)
        single += trio.run(bench_single, workdir, args.zstd_level, per_round)
        floor_single += trio.run(bench_floor_single, workdir, per_round)
    count, elapsed, group_lat, per_txn = trio.run(
        bench_concurrent, workdir, args.zstd_level, args.writers, args.seconds
    )
    floor_group = trio.run(functools.partial(bench_floor_group, workdir, args.writers, args.seconds, commit=True))
    floor_loop = trio.run(functools.partial(bench_floor_group, workdir, args.writers, args.seconds, commit=False))

    raw_rate = len(raw) / sum(raw)
    single_rate = len(single) / sum(single)
    group_rate = count / elapsed
    rows = [
        ("(a) raw LMDB, 1 tiny put per durable txn", f"{raw_rate:,.0f} commits/s", pct(raw, 0.5), pct(raw, 0.99), "1.00x latency"),
        (
            "(b) store, 1 writer, encrypted ~500 B snapshot",
            f"{single_rate:,.0f} commits/s",
            pct(single, 0.5),
            pct(single, 0.99),
            f"{pct(single, 0.5) / pct(raw, 0.5):.2f}x raw latency (p50), "
            f"{statistics.mean(single) / statistics.mean(raw):.2f}x (mean)",
        ),
        (
            f"(c) store, {args.writers} trio writers, group commit",
            f"{group_rate:,.0f} records/s",
            pct(group_lat, 0.5),
            pct(group_lat, 0.99),
            f"{group_rate / single_rate:.1f}x single writer; {per_txn:.1f} records/txn",
        ),
        (
            "(d) ceiling: (a)'s commit behind the writer's hand-offs, 1 trio writer",
            f"{len(floor_single) / sum(floor_single):,.0f} commits/s",
            pct(floor_single, 0.5),
            pct(floor_single, 0.99),
            f"{pct(floor_single, 0.5) / pct(raw, 0.5):.2f}x raw latency (p50)",
        ),
        (
            f"(e) ceiling: pre-sealed puts behind the writer's hand-offs, {args.writers} trio writers",
            f"{floor_group:,.0f} records/s",
            None,
            None,
            f"{floor_group / group_rate:.2f}x (c)",
        ),
        (
            f"(f) ceiling: the hand-offs alone (no LMDB), {args.writers} trio writers",
            f"{floor_loop:,.0f} records/s",
            None,
            None,
            f"{floor_loop / group_rate:.2f}x (c)",
        ),
    ]
    lines = [
        "| run | throughput | p50 | p99 | ratio |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, rate, p50, p99, ratio in rows:
        p50_text = "" if p50 is None else f"{p50 * 1e6:,.0f} us"
        p99_text = "" if p99 is None else f"{p99 * 1e6:,.0f} us"
        lines.append(f"| {name} | {rate} | {p50_text} | {p99_text} | {ratio} |")
    targets = (
        f"Targets: (c) >= 60,000 records/s: {'met' if group_rate >= 60000 else 'NOT met'}; "
        f"(c) >= 15x (b): {'met' if group_rate >= 15 * single_rate else 'NOT met'}; "
        f"(b) <= 1.3x (a) latency (p50): {'met' if pct(single, 0.5) <= 1.3 * pct(raw, 0.5) else 'NOT met'}. "
        f"Ceilings of this design on this machine: (d) {pct(floor_single, 0.5) / pct(raw, 0.5):.2f}x (a) latency, "
        f"(e) {floor_group:,.0f} records/s."
    )
    header = (
        f"zstd level {args.zstd_level}; {codec}; store sealer: {native_status()}; "
        f"{args.writers} writers for {args.seconds:g} s; {args.commits} commits in each of (a), (b) and (d)."
    )
    table = "\n".join(lines)
    print(header)
    print(table)
    print(targets)
    if args.append:
        results = ROOT / "bench" / "RESULTS.md"
        if not results.exists():
            results.write_text("# Benchmark results\n")
        text = results.read_text()
        if "## store" not in text:
            text = text.rstrip("\n") + "\n\n## store\n"
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        entry = f"\n### {stamp}\n\n{machine()}\n\n{header}\n\n{table}\n\n{targets}\n"
        # keep the store entries together: insert before the next "## " section, if any
        head, sep, tail = text.partition("## store\n")
        nxt = tail.find("\n## ")
        if nxt == -1:
            body = tail.rstrip("\n")
            text = head + sep + (body + "\n" if body else "") + entry
        else:
            text = head + sep + tail[:nxt].rstrip("\n") + "\n" + entry + tail[nxt:]
        results.write_text(text)
        print(f"appended to {results}")


if __name__ == "__main__":
    main()
