"""Crash safety: a child process committing under load is killed with SIGKILL
at random moments; after every restart each acknowledged write is present and
readable, every commit is whole, and the store verifies clean."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import trio

from skruntime.store import LmdbStore, shard_of

from .conftest import MASTER_B64, make_config

CHILD = Path(__file__).with_name("crash_child.py")
CYCLES = 22
SHARDS = 8


def run_and_kill(data_dir: Path, cycle: int, rng: random.Random) -> list[tuple[str, int]]:
    """Start the child, kill it at a random moment, return what it acknowledged."""
    env = dict(os.environ, SKRUNTIME_MASTER_KEY=MASTER_B64, PYTHONUNBUFFERED="1")
    lines: list[bytes] = []
    ready = threading.Event()
    with subprocess.Popen(
        [sys.executable, str(CHILD), str(data_dir), str(cycle)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:

        def reader() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line == b"ready\n":
                    ready.set()
                lines.append(line)
            ready.set()

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            assert ready.wait(30), "the child did not start"
            time.sleep(rng.uniform(0.02, 0.35))
            proc.kill()  # SIGKILL: no cleanup, no flush, nothing
        finally:
            proc.wait(30)
            thread.join(30)
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
    assert proc.returncode == -9, f"the child died on its own ({proc.returncode}):\n{err}"
    acked = []
    for line in lines:
        if line.endswith(b"\n") and line != b"ready\n":  # a torn last line was never acknowledged
            actor, seq = line.decode().split()
            acked.append((actor, int(seq)))
    return acked


async def check(data_dir: Path, acked: dict[str, int]) -> int:
    store = LmdbStore.open(make_config(data_dir.parent))
    try:
        async with store.running():
            shards = [await store.acquire(s, 1) for s in range(SHARDS)]
            for actor, seq in acked.items():
                shard = shards[shard_of(actor, SHARDS)]
                snapshot = await shard.get("actors", actor)
                assert snapshot is not None and snapshot["seq"] >= seq, (actor, seq, snapshot)
                events = await shard.scan_actor("events", actor, limit=1_000_000)
                assert [s for s, _ in events] == list(range(1, len(events) + 1)), actor
                assert len(events) >= seq, (actor, seq, len(events))
                assert snapshot["seq"] == len(events), "a commit was torn"
        report = store.verify()
        assert report.clean, report.bad[:5]
        return sum(report.counts.values())
    finally:
        store.close()


async def test_acknowledged_writes_survive_sigkill(tmp_path):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    acked: dict[str, int] = {}
    per_cycle = []
    for cycle in range(CYCLES):
        got = await trio.to_thread.run_sync(run_and_kill, data_dir, cycle, rng)
        per_cycle.append(len(got))
        for actor, seq in got:
            acked[actor] = max(acked.get(actor, 0), seq)
        try:
            await check(data_dir, acked)
        except AssertionError as exc:
            raise AssertionError(f"cycle {cycle} (seed {seed}): {exc}") from exc
    assert sum(per_cycle) > CYCLES * 50, per_cycle  # the child really was writing under load
    assert min(per_cycle) >= 0
