"""``skruntime serve`` and ``skruntime keys create|list|revoke`` as child processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests import serverproc

BOOTSTRAP = "sk_" + "b" * 43


def log_of(root: Path) -> str:
    return (root / "server.log").read_text()


async def test_first_start_announces_key_file_and_bootstrap_key_then_stops_cleanly(tmp_path) -> None:
    port = serverproc.free_port()
    url = f"http://127.0.0.1:{port}"
    process = await serverproc.start(tmp_path, port)
    try:
        await serverproc.wait_ready(process, url)
    finally:
        assert await serverproc.stop(process, signal.SIGTERM) == 0
    log = log_of(tmp_path)
    assert f"serving on {url}" in log
    assert str(tmp_path / "data") in log
    assert "CREATED A NEW MASTER KEY FILE" in log and str(tmp_path / "skruntime.key") in log
    (secret,) = [word for word in log.split() if word.startswith("sk_")]
    assert len(secret) == 46
    assert "skruntime: stopped" in log
    assert (tmp_path / "skruntime.key").stat().st_mode & 0o777 == 0o600

    # the key printed once works; the next start prints no key
    port = serverproc.free_port()
    url = f"http://127.0.0.1:{port}"
    process = await serverproc.start(tmp_path, port, log_name="second.log")
    try:
        await serverproc.wait_ready(process, url)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {secret}"}) as client:
            assert (await client.get("/v1/keys")).status_code == 200
    finally:
        assert await serverproc.stop(process, signal.SIGINT) == 0
    second = (tmp_path / "second.log").read_text()
    assert "sk_" not in second and "CREATED A NEW MASTER KEY" not in second


def run_cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skruntime.cli", *args],
        cwd=root,
        env=serverproc.server_env(root, serverproc.free_port(), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("skruntime: error:")]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_bad_configuration_exits_2_with_one_line(tmp_path) -> None:
    assert_one_line_error(run_cli(tmp_path, "serve", SKRUNTIME_BOOTSTRAP_KEY="sk_short"), "SKRUNTIME_BOOTSTRAP_KEY")
    assert_one_line_error(run_cli(tmp_path, "serve", SKRUNTIME_MASTER_KEY="not base64!"), "SKRUNTIME_MASTER_KEY")
    assert_one_line_error(run_cli(tmp_path, "serve", SKRUNTIME_LISTEN="nonsense"), "server.listen")


async def test_wrong_master_key_exits_2(tmp_path) -> None:
    port = serverproc.free_port()
    process = await serverproc.start(tmp_path, port)
    await serverproc.wait_ready(process, f"http://127.0.0.1:{port}")
    assert await serverproc.stop(process) == 0
    other = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="  # 32 bytes, not this store's key
    assert_one_line_error(run_cli(tmp_path, "serve", SKRUNTIME_MASTER_KEY=other), "does not open this store")
    os.remove(tmp_path / "skruntime.key")
    assert_one_line_error(run_cli(tmp_path, "serve"), "does not exist")


def test_address_in_use_exits_2(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "skruntime.cli", "serve"],
            cwd=tmp_path,
            env=serverproc.server_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert_one_line_error(result, "already in use")


def test_api_keys_offline(tmp_path) -> None:
    assert_one_line_error(run_cli(tmp_path, "keys", "list"), "no store")
    # create a store (and its bootstrap key) with a first start
    created = run_cli(tmp_path, "keys", "create", "--scope", "read")
    assert created.returncode == 2
    result = subprocess.run(
        [sys.executable, "-c", "import trio; from skruntime._config import Config; from skruntime.store import LmdbStore; LmdbStore.open(Config.load()).close()"],
        cwd=tmp_path,
        env=serverproc.server_env(tmp_path, 1),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    created = run_cli(tmp_path, "keys", "create", "--scope", "admin", "--name", "ops", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["scope"] == "admin" and key["name"] == "ops" and key["key"].startswith("sk_")
    listed = run_cli(tmp_path, "keys", "list", "--json")
    items = json.loads(listed.stdout)
    assert [k["id"] for k in items] == [key["id"]] and "key" not in items[0]
    text = run_cli(tmp_path, "keys", "list").stdout
    assert key["id"] in text and "ops" in text and key["key"] not in text
    assert_one_line_error(run_cli(tmp_path, "keys", "revoke", key["id"]), "last admin key")
    reader = json.loads(run_cli(tmp_path, "keys", "create", "--scope", "read", "--json").stdout)
    revoked = run_cli(tmp_path, "keys", "revoke", reader["id"])
    assert revoked.returncode == 0 and reader["id"] in revoked.stdout
    assert_one_line_error(run_cli(tmp_path, "keys", "revoke", reader["id"]), "does not exist")
    assert_one_line_error(run_cli(tmp_path, "keys", "create", "--scope", "read", "--name", "a\tb"), "name")
