"""skruntime.store's public surface is deliberate."""

import skruntime.store

EXPECTED = {
    "BackupInfo",
    "BadRecord",
    "LmdbStore",
    "MasterKey",
    "MemoryStore",
    "MetaBatch",
    "MetaStore",
    "ShardBatch",
    "ShardLoad",
    "ShardStore",
    "Store",
    "VerifyReport",
    "WriterStatistics",
    "backup",
    "create_key_file",
    "idempotency_digest",
    "read_key_file",
    "restore",
    "run_backup_schedule",
    "shard_of",
}


def test_store_all_is_pinned_and_sorted():
    assert set(skruntime.store.__all__) == EXPECTED
    assert list(skruntime.store.__all__) == sorted(skruntime.store.__all__)


def test_no_unlisted_public_names():
    public = {n for n in vars(skruntime.store) if not n.startswith("_")}
    assert public <= EXPECTED | {"annotations"}, public - EXPECTED


def test_public_names_show_the_public_module():
    for name in EXPECTED:
        assert getattr(skruntime.store, name).__module__ == "skruntime.store", name


def test_both_backends_provide_the_contract():
    for backend in (skruntime.store.LmdbStore, skruntime.store.MemoryStore):
        for member in ("open", "shard_count", "meta", "running", "acquire", "commit", "close"):
            assert hasattr(backend, member), (backend, member)


def _backends_satisfy_the_protocols(
    lmdb_store: skruntime.store.LmdbStore, memory: skruntime.store.MemoryStore
) -> None:  # checked by mypy, never called
    stores: list[skruntime.store.Store] = [lmdb_store, memory]
    metas: list[skruntime.store.MetaStore] = [lmdb_store.meta, memory.meta]
    del stores, metas


async def _shard_stores_satisfy_the_protocol(
    lmdb_store: skruntime.store.LmdbStore, memory: skruntime.store.MemoryStore
) -> None:  # checked by mypy, never called
    shards: list[skruntime.store.ShardStore] = [await lmdb_store.acquire(0, 1), await memory.acquire(0, 1)]
    del shards
