"""The child process of test_crash.py: commits under load until killed.

Usage: ``python crash_child.py DATA_DIR CYCLE`` with the master key in
``SKRUNTIME_MASTER_KEY``.  Prints ``ready`` once every shard is acquired,
then one line ``<actor> <seq>`` per commit, written and flushed only after
``commit`` returned (the acknowledgement the parent holds the store to).
Each commit writes an actor's snapshot and its event together, so the
parent can also check atomicity: a snapshot always matches its last event.
"""

from __future__ import annotations

import os
import sys

import trio

from skruntime._config import Config
from skruntime.store import LmdbStore, shard_of

SHARDS = 8
TASKS = 16


async def main(data_dir: str, cycle: int) -> None:
    config = Config.from_mapping(
        {
            "store": {"data_dir": data_dir, "shards": SHARDS, "map_size": "256MiB"},
            "security": {"master_key": os.environ["SKRUNTIME_MASTER_KEY"]},
        }
    )
    store = LmdbStore.open(config)
    async with store.running():
        shards = [await store.acquire(shard, 1) for shard in range(SHARDS)]
        print("ready", flush=True)

        async def writer(task: int) -> None:
            actor = f"c{cycle}-t{task}"
            shard = shards[shard_of(actor, SHARDS)]
            seq = 0
            while True:
                seq += 1
                batch = shard.batch()
                batch.put("actors", actor, {"seq": seq, "cycle": cycle, "pad": "p" * 200})
                batch.put("events", (actor, seq), {"type": "TICK", "seq": seq})
                await store.commit(batch)
                sys.stdout.write(f"{actor} {seq}\n")
                sys.stdout.flush()

        async with trio.open_nursery() as nursery:
            for task in range(TASKS):
                nursery.start_soon(writer, task)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]))
