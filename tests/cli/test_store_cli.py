"""The store's CLI commands, run through the real entry point in a child
process: keys init|rotate|rewrap, verify, backup, restore."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest
import trio

from skruntime._config import Config
from skruntime.cli._store import keys_subparsers
from skruntime.store import LmdbStore, shard_of
from skruntime.store._env import CURRENT_FORMAT
from skruntime.store._keys import encode_shard_key

SHARDS = 8


def cli(tmp_path: Path, *args: str, data_dir: Path | None = None, key_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKRUNTIME_")}
    env["SKRUNTIME_DATA_DIR"] = str(data_dir or tmp_path / "data")
    env["SKRUNTIME_KEY_FILE"] = str(key_file or tmp_path / "skruntime.key")
    return subprocess.run(
        [sys.executable, "-m", "skruntime.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def config_for(tmp_path: Path, data_dir: Path | None = None) -> Config:
    return Config.from_mapping(
        {
            "store": {"data_dir": str(data_dir or tmp_path / "data"), "shards": SHARDS, "map_size": "64MiB"},
            "security": {"key_file": str(tmp_path / "skruntime.key")},
        }
    )


async def seed(tmp_path: Path, actors: list[str]) -> None:
    store = LmdbStore.open(config_for(tmp_path))
    try:
        async with store.running():
            for actor in actors:
                shard = await store.acquire(shard_of(actor, SHARDS), 1)
                batch = shard.batch()
                batch.put("actors", actor, {"id": actor})
                batch.put("events", (actor, 1), {"type": "CREATED"})
                await store.commit(batch)
    finally:
        store.close()


def corrupt(data_dir: Path, actor: str) -> None:
    env = lmdb.open(str(data_dir), max_dbs=16, map_size=64 << 20)
    key, _ = encode_shard_key("actors", shard_of(actor, SHARDS), actor, SHARDS)
    with env.begin(write=True) as txn:
        db = env.open_db(b"actors", txn=txn)
        raw = txn.get(key, db=db)
        assert raw is not None
        value = bytearray(raw)
        value[-3] ^= 1
        txn.put(key, bytes(value), db=db)
    env.close()


def test_keys_init_makes_a_key_file_and_never_overwrites(tmp_path):
    result = cli(tmp_path, "keys", "init")
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / "skruntime.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file) in result.stdout and "Back it up" in result.stdout
    before = key_file.read_bytes()
    again = cli(tmp_path, "keys", "init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert key_file.read_bytes() == before
    other = cli(tmp_path, "keys", "init", "--key-file", str(tmp_path / "elsewhere" / "k"))
    assert other.returncode == 0 and (tmp_path / "elsewhere" / "k").is_file()


async def test_verify_clean_then_dirty(tmp_path):
    await seed(tmp_path, ["alice", "bob", "carol"])
    clean = cli(tmp_path, "verify")
    assert clean.returncode == 0, clean.stderr
    assert "clean" in clean.stdout and "actors 3" in clean.stdout
    report = json.loads(cli(tmp_path, "verify", "--json").stdout)
    assert report["clean"] is True and report["counts"]["events"] == 3

    corrupt(tmp_path / "data", "bob")
    dirty = cli(tmp_path, "verify")
    assert dirty.returncode == 1
    assert "1 bad record" in dirty.stdout and "'bob'" in dirty.stdout and "tag does not verify" in dirty.stdout
    as_json = cli(tmp_path, "verify", "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["clean"] is False
    assert [(b["database"], b["actorId"]) for b in report["bad"]] == [("actors", "bob")]


def test_verify_without_a_store_or_with_a_wrong_key(tmp_path):
    missing = cli(tmp_path, "verify")
    assert missing.returncode == 2 and "there is no store" in missing.stderr
    assert not (tmp_path / "skruntime.key").exists()  # an operator command never makes a key
    trio.run(seed, tmp_path, ["alice"])
    cli(tmp_path, "keys", "init", "--key-file", str(tmp_path / "other.key"))
    wrong = cli(tmp_path, "verify", key_file=tmp_path / "other.key")
    assert wrong.returncode == 2 and "wrong key for this data directory" in wrong.stderr


async def test_rotate_and_reencrypt(tmp_path):
    await seed(tmp_path, [f"a{i}" for i in range(10)])
    rotated = cli(tmp_path, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "data key 2 is now used for new writes" in rotated.stdout
    again = cli(tmp_path, "keys", "rotate", "--reencrypt")
    assert again.returncode == 0, again.stderr
    assert "data key 3" in again.stdout and "re-encrypted 20 records under key 3" in again.stdout
    assert cli(tmp_path, "verify").returncode == 0


async def test_rewrap_moves_the_store_to_a_new_master_key(tmp_path):
    await seed(tmp_path, ["alice"])
    new_key = tmp_path / "new.key"
    assert cli(tmp_path, "keys", "init", "--key-file", str(new_key)).returncode == 0
    rewrapped = cli(tmp_path, "keys", "rewrap", str(new_key))
    assert rewrapped.returncode == 0, rewrapped.stderr
    assert cli(tmp_path, "verify", key_file=new_key).returncode == 0
    old = cli(tmp_path, "verify")
    assert old.returncode == 2 and "does not open this store" in old.stderr


async def test_hot_backup_and_restore(tmp_path):
    """`skruntime backup` copies a store that another process is writing to."""
    store = LmdbStore.open(config_for(tmp_path))
    acked: list[str] = []
    try:
        async with store.running():
            shards = [await store.acquire(s, 1) for s in range(SHARDS)]
            stop = trio.Event()

            async def writer(w: int) -> None:
                n = 0
                while not stop.is_set():
                    actor = f"w{w}-{n}"
                    batch = shards[shard_of(actor, SHARDS)].batch()
                    batch.put("actors", actor, {"n": n})
                    await store.commit(batch)
                    acked.append(actor)
                    n += 1

            async with trio.open_nursery() as nursery:
                for w in range(4):
                    nursery.start_soon(writer, w)
                while len(acked) < 200:
                    await trio.sleep(0.005)
                before = len(acked)
                result = await trio.to_thread.run_sync(lambda: cli(tmp_path, "backup", str(tmp_path / "bk")))
                stop.set()
    finally:
        store.close()
    assert result.returncode == 0, result.stderr
    assert "backed up" in result.stdout and f"format {CURRENT_FORMAT}" in result.stdout
    assert sorted(p.name for p in (tmp_path / "bk").iterdir()) == ["BACKUP.json", "data.mdb"]

    target = tmp_path / "restored"
    restored = cli(tmp_path, "restore", str(tmp_path / "bk"), data_dir=target)
    assert restored.returncode == 0, restored.stderr
    assert cli(tmp_path, "verify", data_dir=target).returncode == 0
    refused = cli(tmp_path, "restore", str(tmp_path / "bk"), data_dir=target)
    assert refused.returncode == 2 and "--force" in refused.stderr
    forced = cli(tmp_path, "restore", str(tmp_path / "bk"), "--force", data_dir=target)
    assert forced.returncode == 0, forced.stderr

    store = LmdbStore.open(config_for(tmp_path, target))
    try:
        report = store.verify()
        assert report.clean and report.counts["actors"] >= before
    finally:
        store.close()
    exists = cli(tmp_path, "backup", str(tmp_path / "bk"))
    assert exists.returncode == 2 and "not an empty directory" in exists.stderr


def test_the_keys_group_is_shared():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    first = keys_subparsers(sub)
    first.add_parser("create")
    assert keys_subparsers(sub) is first
    assert parser.parse_args(["keys", "create"]).keys_command == "create"


@pytest.mark.parametrize("command", [["keys"], ["backup"], ["restore"]])
def test_usage_errors(tmp_path, command):
    result = cli(tmp_path, *command)
    assert result.returncode == 2 and "usage:" in result.stderr


async def test_verify_and_backup_show_progress_on_a_terminal(tmp_path):
    import pty

    await seed(tmp_path, [f"a{i}" for i in range(3000)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKRUNTIME_")}
    env.update(SKRUNTIME_DATA_DIR=str(tmp_path / "data"), SKRUNTIME_KEY_FILE=str(tmp_path / "skruntime.key"), TERM="xterm")
    for args in (["verify"], ["backup", str(tmp_path / "bk")]):
        leader, follower = pty.openpty()
        try:
            done = subprocess.run([sys.executable, "-m", "skruntime.cli", *args], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=follower, text=True, timeout=60)
            os.close(follower)
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(leader)
        assert done.returncode == 0
        # the bar or spinner was drawn on the terminal, and cleared (transient)
        assert b"\x1b[" in shown, shown[:200]
    assert "clean" in subprocess.run([sys.executable, "-m", "skruntime.cli", "verify"], cwd=tmp_path, env=env,
                                     capture_output=True, text=True, timeout=60).stdout
