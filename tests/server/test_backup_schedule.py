"""``skruntime serve`` takes the scheduled hot backups of ``[backup]``."""

from functools import partial
from pathlib import Path

import trio

from skruntime._config import Config
from skruntime.server import serve
from skruntime.store import LmdbStore

from .conftest import make_config


async def test_scheduled_backups_run_while_serving_and_are_pruned(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    config = make_config(tmp_path, backup={"interval": "0.2s", "dir": str(backups), "keep": 2})
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(serve, config, shutdown_trigger=stop.wait, handle_signals=False))
        with trio.fail_after(20):
            while len(list(backups.glob("skruntime-backup-*"))) < 2:
                await trio.sleep(0.05)
            await trio.sleep(0.5)  # a few more intervals: retention keeps the newest two
        taken = sorted(backups.glob("skruntime-backup-*"))
        stop.set()
    assert len(taken) == 2
    newest = Config.from_mapping({"store": {"data_dir": str(taken[-1]), "shards": 8, "map_size": "64MiB"},
                                  "security": {"master_key": config.security.master_key}})
    restored = LmdbStore.open(newest, create=False)
    try:
        assert restored.verify().clean
    finally:
        restored.close()
