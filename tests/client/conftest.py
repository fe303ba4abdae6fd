"""Servers for the SDK tests: in-process (async tests) and a real child
process (sync tests: a blocking client cannot share the server's loop)."""

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests import serverproc
from tests.server.conftest import ADMIN_KEY, LOAN, server, server_config  # noqa: F401 - fixtures

__all__ = ["ADMIN_KEY", "LOAN"]


@pytest.fixture(scope="module")
def process_server(tmp_path_factory):
    """``python -m skruntime.cli serve`` on a free port; yields its URL."""
    root = tmp_path_factory.mktemp("sdk-server")
    port = serverproc.free_port()
    env = serverproc.server_env(root, port, SKRUNTIME_BOOTSTRAP_KEY=ADMIN_KEY)
    with open(root / "server.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "skruntime.cli", "serve"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (root / "server.log").read_text()
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not become ready"
        time.sleep(0.05)
    try:
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
