"""Child process for the deploy crash test.

    python deploy_child.py populate DATA_DIR KEY N   -> spawn N loan actors, exit
    python deploy_child.py deploy DATA_DIR KEY       -> print READY, deploy loan-v2
    python deploy_child.py unsettled DATA_DIR KEY    -> the same, but the migrated
        actors' records are never written after the answer (print DEPLOYED, hang)

The parent SIGKILLs the deploy at a random moment (or, for ``unsettled``,
once it has answered).
"""

import base64
import random
import sys

import trio

sys.path.insert(0, sys.argv[-1])  # repo root, appended by the parent

from skruntime._config import Config  # noqa: E402
from skruntime.runtime import Runtime  # noqa: E402
from skruntime.store import LmdbStore  # noqa: E402
from tests.statechart.samples import LOAN_V1, LOAN_V2  # noqa: E402

V2_BODY = {"id": "loan-v2", "parentId": "loan-v1", "historyPath": ["SUBMIT_INFO", "PAY_FEE"], "definition": LOAN_V2}


def config(data_dir: str, key: str) -> Config:
    return Config.from_mapping({"store": {"data_dir": data_dir, "shards": 16, "map_size": "512MiB"}, "security": {"master_key": key}})


async def populate(cfg: Config, n: int) -> None:
    store = LmdbStore.open(cfg)
    async with trio.open_nursery() as nursery:
        rt = await nursery.start(Runtime(cfg, store).run)
        await rt.deploy({"id": "loan-v1", "definition": LOAN_V1})
        rnd = random.Random(5)
        for start in range(0, n, 500):
            async with trio.open_nursery() as spawns:
                for i in range(start, min(n, start + 500)):
                    spawns.start_soon(rt.spawn, {"versionId": "loan-v1", "actorId": f"a{i}"})
            events = []
            for i in range(start, min(n, start + 500)):
                kind = rnd.choice([["SUBMIT_INFO", "PAY_FEE"], ["SUBMIT_INFO", "WAIVE_FEE"], ["SUBMIT_INFO"], []])
                events += [{"actorId": f"a{i}", "type": t} for t in kind]
            for j in range(0, len(events), 1000):
                await rt.send_batch({"events": events[j : j + 1000]})
        rt.stop()
    store.close()


async def deploy(cfg: Config) -> None:
    store = LmdbStore.open(cfg)
    async with trio.open_nursery() as nursery:
        rt = await nursery.start(Runtime(cfg, store).run)
        print("READY", flush=True)
        started = trio.current_time()
        await rt.deploy(V2_BODY)
        print("DEPLOYED", trio.current_time() - started, flush=True)
        rt.stop()
    store.close()


if __name__ == "__main__":
    mode, data_dir, key = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = config(data_dir, key)
    if mode == "populate":
        trio.run(populate, cfg, int(sys.argv[4]))
    else:
        if mode == "unsettled":
            from skruntime.runtime import _shard

            async def hang(*args: object, **kwargs: object) -> None:
                await trio.sleep_forever()

            _shard.Shard.settle_deployment = hang  # type: ignore[method-assign]
        trio.run(deploy, cfg)
