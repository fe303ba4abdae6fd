"""A real server for the edge tests: hypercorn on 127.0.0.1, port 0, in-process.

``server`` starts ``skruntime.server.serve`` in the test's trio loop (it
reports started only once recovery is complete and the keys are loaded) and
stops it gracefully afterwards.  It has an admin key (the bootstrap key), and
creates a write and a read key over HTTP.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from skruntime._config import Config
from skruntime.server import serve
from tests.statechart.samples import LOAN_V1

MASTER_B64 = base64.b64encode(bytes(range(32))).decode()
ADMIN_KEY = "sk_" + "A" * 43
MAX_BODY = 64 * 1024
WATCH_QUEUE = 64

LOAN = LOAN_V1  # the SPEC's loan machine

# NEXT cycles s0 -> s1 -> s2 -> s0: after n events the state is s(n mod 3), so
# every acknowledgement reveals the order its event was applied in.
RING = {
    "id": "ring",
    "initial": "s0",
    "states": {
        "s0": {"on": {"NEXT": "s1"}},
        "s1": {"on": {"NEXT": "s2"}},
        "s2": {"on": {"NEXT": "s0"}},
    },
}


def make_config(root: Path, **sections: dict[str, Any]) -> Config:
    base: dict[str, dict[str, Any]] = {
        "server": {"listen": "127.0.0.1:0", "graceful_timeout": "2s"},
        "store": {"data_dir": str(root / "data"), "shards": 8, "map_size": "64MiB"},
        "security": {"master_key": MASTER_B64, "key_file": str(root / "skruntime.key"), "bootstrap_key": ADMIN_KEY},
        "limits": {"max_body_bytes": MAX_BODY, "max_definition_bytes": 16 * 1024},
        "runtime": {"watch_queue": WATCH_QUEUE},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return Config.from_mapping(base)


@dataclass
class Server:
    """A running server and clients for it."""

    url: str
    admin: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)  # scope -> secret
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)  # scope -> client

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def client(self, key: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A client with ``key`` as its bearer key (``None``: no key)."""
        all_headers = dict(headers)
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.url, headers=all_headers, timeout=10)

    @property
    def write(self) -> httpx.AsyncClient:
        return self.clients["write"]

    @property
    def read(self) -> httpx.AsyncClient:
        return self.clients["read"]

    async def deploy(self, version_id: str, definition: dict[str, Any]) -> dict[str, Any]:
        response = await self.admin.post("/v1/machines", json={"id": version_id, "definition": definition})
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    async def spawn(self, version_id: str, actor_id: str, **extra: Any) -> dict[str, Any]:
        response = await self.write.post("/v1/actors", json={"versionId": version_id, "actorId": actor_id, **extra})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def send(self, actor_id: str, event_type: str, **extra: Any) -> httpx.Response:
        return await self.write.post(f"/v1/actors/{actor_id}/events", json={"type": event_type, **extra})


@pytest.fixture
def server_config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
async def server(server_config: Config) -> AsyncIterator[Server]:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, server_config, shutdown_trigger=stop.wait, handle_signals=False))
        url = binds[0]
        admin = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
        srv = Server(url=url, admin=admin)
        srv.keys["admin"] = ADMIN_KEY
        srv.clients["admin"] = admin
        for scope in ("write", "read"):
            response = await admin.post("/v1/keys", json={"scope": scope, "name": f"test {scope}"})
            assert response.status_code == 201, response.text
            srv.keys[scope] = response.json()["key"]
            srv.clients[scope] = srv.client(srv.keys[scope])
        try:
            yield srv
        finally:
            for client in srv.clients.values():
                await client.aclose()
            stop.set()


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is a problem+json of this status and type."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:skruntime:problem:{slug}", body
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body
