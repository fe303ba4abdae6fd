"""SPEC section 5, guarantee 3: a deployment killed at any moment is, after
recovery, either absent or fully applied, with one decision per actor."""

import base64
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from .conftest import running
from .deploy_child import V2_BODY, config

CHILD = Path(__file__).with_name("deploy_child.py")
ROOT = str(Path(__file__).resolve().parents[2])
ACTORS = 3000
CYCLES = 10


def run_child(*args, **kwargs):
    return subprocess.Popen([sys.executable, str(CHILD), *args, ROOT], stdout=subprocess.PIPE, text=True, **kwargs)


def test_sigkill_during_deploy_leaves_it_absent_or_complete(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    seed_dir = tmp_path / "seed"
    populate = run_child("populate", str(seed_dir), key, str(ACTORS))
    assert populate.wait(timeout=120) == 0
    populate.stdout.close()
    rnd = random.Random(2024)
    outcomes = []
    for cycle in range(CYCLES):
        data = tmp_path / f"cycle{cycle}"
        shutil.copytree(seed_dir, data)
        child = run_child("deploy", str(data), key)
        assert child.stdout.readline().strip() == "READY"
        # kill points spread over a clean deploy's ~0.1 s: evaluation (nothing
        # written yet), shards applying, done
        time.sleep(cycle * 0.012 + rnd.uniform(0.0, 0.004))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        outcomes.append(trio.run(check_recovered, config(str(data), key)))
    # the kill points must cover both outcomes and the recovery path, or the
    # test proves little
    assert "absent" in outcomes and "recovered" in outcomes, outcomes


def test_sigkill_after_the_answer_before_the_records_leaves_it_applied(tmp_path):
    """Killed after the deploy answered, before any migrated actor's record
    was rewritten: the next start replays every move from the pages."""
    key = base64.b64encode(os.urandom(32)).decode()
    data = tmp_path / "data"
    populate = run_child("populate", str(data), key, str(ACTORS))
    assert populate.wait(timeout=120) == 0
    populate.stdout.close()
    child = run_child("unsettled", str(data), key)
    assert child.stdout.readline().strip() == "READY"
    assert child.stdout.readline().startswith("DEPLOYED")
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    cfg = config(str(data), key)
    assert trio.run(pending_shards, cfg) > 0  # the records were never rewritten
    assert trio.run(check_recovered, cfg) == "applied"
    assert trio.run(pending_shards, cfg) == 0  # settled by that start


async def pending_shards(cfg) -> int:
    from skruntime.store import LmdbStore

    store = LmdbStore.open(cfg)
    try:
        cursors = await store.meta.deployment_cursors(1)
        return sum(1 for cursor in cursors.values() if cursor.get("actorsPending"))
    finally:
        store.close()


async def check_recovered(cfg) -> str:
    async with running(cfg) as rt:
        version = rt.versions.get("loan-v2")
        per_actor = []
        for i in range(ACTORS):
            decisions, _ = await rt.decisions(f"a{i}")
            per_actor.append(decisions)
        if version is None:
            assert all(d == [] for d in per_actor)
            assert all(rt.get(f"a{i}")["versionId"] == "loan-v1" for i in range(ACTORS))
            return "absent"
        deployment = await rt.deployments.get(version.deployment_id)
        assert deployment["status"] == "complete"
        assert deployment["shardsApplied"] == rt.store.shard_count
        assert deployment["evaluated"] == ACTORS
        for i, decisions in enumerate(per_actor):
            assert len(decisions) == 1, f"a{i} has {len(decisions)} decisions"
            expected_version = "loan-v2" if decisions[0]["decision"] == "migrate" else "loan-v1"
            assert rt.get(f"a{i}")["versionId"] == expected_version
        # the recovered deploy is the one a clean deploy would have made
        assert deployment["migrated"] == sum(1 for d in per_actor if d[0]["reason"] == "history-match")
        again, created = await rt.deploy(V2_BODY)
        assert not created
        return "recovered" if rt.deployments.recovered else "applied"
