"""Run ``python -m skruntime.cli serve`` as a real child process (tests only).

The child gets a clean environment with its data directory, key file and
listen address; :func:`wait_ready` polls ``/readyz`` with a deadline rather
than sleeping.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import trio

SHARDS = "8"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(root: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKRUNTIME_")}
    env.update(
        {
            "SKRUNTIME_DATA_DIR": str(root / "data"),
            "SKRUNTIME_KEY_FILE": str(root / "skruntime.key"),
            "SKRUNTIME_LISTEN": f"127.0.0.1:{port}",
            "SKRUNTIME_STORE_SHARDS": SHARDS,
            "SKRUNTIME_STORE_MAP_SIZE": "64MiB",
            "SKRUNTIME_SERVER_GRACEFUL_TIMEOUT": "3s",
        }
    )
    env.update(extra)
    return env


async def start(root: Path, port: int, log_name: str = "server.log", **extra: str) -> trio.Process:
    """Start the server (stdout and stderr to ``root/log_name``)."""
    log = open(root / log_name, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = await trio.lowlevel.open_process(
            [sys.executable, "-m", "skruntime.cli", "serve"],
            cwd=root,
            env=server_env(root, port, **extra),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()
    return process


async def wait_ready(process: trio.Process, url: str, timeout: float = 30) -> None:
    """Poll ``/readyz`` until 200; fail if the process exits or time runs out."""
    with trio.fail_after(timeout):
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            while True:
                if process.poll() is not None:
                    raise AssertionError(f"the server exited with {process.returncode} before it was ready")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.05)


async def stop(process: trio.Process, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> int:
    """Send ``sig`` and wait for the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
    with trio.fail_after(timeout):
        return await process.wait()
