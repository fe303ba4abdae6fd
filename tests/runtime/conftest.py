"""A runtime over a real LMDB store in a temporary directory."""

import base64
import contextlib
import os

import pytest
import trio

from skruntime._config import Config
from skruntime.runtime import Runtime
from skruntime.store import LmdbStore


def make_config(path):
    key = base64.b64encode(os.urandom(32)).decode()
    return Config.from_mapping(
        {
            "store": {"data_dir": str(path / "data"), "shards": 8, "map_size": "256MiB"},
            "security": {"master_key": key, "key_file": str(path / "unused.key")},
            "runtime": {"watch_queue": 64},
        }
    )


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


@contextlib.asynccontextmanager
async def running(config, clock=None):
    """Open the store, run a runtime until the block exits, close the store."""
    store = LmdbStore.open(config)
    try:
        async with trio.open_nursery() as nursery:
            runtime = await nursery.start(Runtime(config, store, clock).run)
            try:
                yield runtime
            finally:
                runtime.stop()
    finally:
        store.close()


@pytest.fixture
async def runtime(config):
    async with running(config) as rt:
        yield rt
