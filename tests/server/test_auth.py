"""API keys: scopes, 401/403, key management over HTTP, storage as hashes."""

from __future__ import annotations

import hashlib

import pytest

from skruntime import ConfigError
from skruntime.server import ApiKeys
from skruntime.server._auth import generate_secret, hash_secret, looks_like_key
from skruntime.store import MemoryStore

from .conftest import ADMIN_KEY, LOAN, Server, assert_problem


async def test_missing_and_invalid_keys_are_401(server: Server) -> None:
    async with server.client() as anonymous:
        response = await anonymous.get("/v1/actors")
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    for header in ("Bearer sk_" + "B" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "sk_" + "A" * 43, ""):
        async with server.client(Authorization=header) as client:
            response = await client.get("/v1/actors")
            assert_problem(response, 401, "unauthorized")
            assert "WWW-Authenticate" in response.headers
    # the scheme is case-insensitive
    async with server.client(Authorization=f"bearer {ADMIN_KEY}") as client:
        assert (await client.get("/v1/actors")).status_code == 200


async def test_scopes_nest(server: Server) -> None:
    deploy = {"id": "loan-v1", "definition": LOAN}
    assert_problem(await server.write.post("/v1/machines", json=deploy), 403, "forbidden")
    assert_problem(await server.read.post("/v1/machines", json=deploy), 403, "forbidden")
    assert (await server.admin.post("/v1/machines", json=deploy)).status_code == 201
    spawn = {"versionId": "loan-v1", "actorId": "alice"}
    assert_problem(await server.read.post("/v1/actors", json=spawn), 403, "forbidden")
    assert (await server.write.post("/v1/actors", json=spawn)).status_code == 201
    assert (await server.admin.post("/v1/actors", json={**spawn, "actorId": "bob"})).status_code == 201
    event = {"type": "SUBMIT_INFO"}
    assert_problem(await server.read.post("/v1/actors/alice/events", json=event), 403, "forbidden")
    assert_problem(await server.read.post("/v1/events/batch", json={"events": []}), 403, "forbidden")
    assert (await server.write.post("/v1/actors/alice/events", json=event)).status_code == 200
    for client in (server.read, server.write, server.admin):
        assert (await client.get("/v1/actors/alice")).status_code == 200
        assert (await client.get("/v1/actors/alice/events")).status_code == 200
        assert (await client.get("/v1/machines")).status_code == 200
    for client in (server.read, server.write):
        assert_problem(await client.get("/v1/keys"), 403, "forbidden")
        assert_problem(await client.post("/v1/keys", json={"scope": "read"}), 403, "forbidden")
        assert_problem(await client.delete("/v1/keys/key_0000000000000000"), 403, "forbidden")


async def test_scope_is_checked_before_the_body(server: Server) -> None:
    assert_problem(await server.read.post("/v1/machines", content=b"not json"), 403, "forbidden")
    async with server.client() as anonymous:
        assert_problem(await anonymous.post("/v1/actors", content=b"x" * 10), 401, "unauthorized")


async def test_create_list_revoke(server: Server) -> None:
    created = await server.admin.post("/v1/keys", json={"scope": "write", "name": "ci"})
    assert created.status_code == 201
    body = created.json()
    assert set(body) >= {"id", "key", "scope", "name"} and body["scope"] == "write" and body["name"] == "ci"
    assert looks_like_key(body["key"]) and body["id"].startswith("key_")
    assert created.headers["cache-control"] == "no-store"
    listing = (await server.admin.get("/v1/keys")).json()["items"]
    assert body["id"] in {k["id"] for k in listing}
    assert all(set(k) == {"id", "name", "scope", "createdAt"} for k in listing)
    assert body["key"] not in (await server.admin.get("/v1/keys")).text
    async with server.client(body["key"]) as ci:
        assert (await ci.get("/v1/actors")).status_code == 200
        revoked = await server.admin.delete(f"/v1/keys/{body['id']}")
        assert revoked.status_code == 204 and revoked.content == b""
        assert_problem(await ci.get("/v1/actors"), 401, "unauthorized")  # at once
    assert body["id"] not in {k["id"] for k in (await server.admin.get("/v1/keys")).json()["items"]}
    assert_problem(await server.admin.delete(f"/v1/keys/{body['id']}"), 404, "not-found")


async def test_key_request_validation(server: Server) -> None:
    admin = server.admin
    assert_problem(await admin.post("/v1/keys", json={"scope": "root"}), 422, "validation")
    for scope in ([], {}, 7, None):  # not hashable, or not a string: still a 422, never a 500
        assert_problem(await admin.post("/v1/keys", json={"scope": scope}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={"scope": "read", "name": "a\u0085b"}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={"scope": "read", "name": 7}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={"scope": "read", "name": "x" * 129}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={"scope": "read", "name": "a\nb"}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json={"scope": "read", "other": 1}), 422, "validation")
    assert_problem(await admin.post("/v1/keys", json=["read"]), 422, "validation")
    assert_problem(await admin.post("/v1/keys", content=b"{"), 400, "bad-request")
    no_name = (await admin.post("/v1/keys", json={"scope": "read"})).json()
    assert no_name["name"] is None


async def test_last_admin_key_cannot_be_revoked(server: Server) -> None:
    keys = (await server.admin.get("/v1/keys")).json()["items"]
    (bootstrap,) = [k for k in keys if k["scope"] == "admin"]
    assert bootstrap["name"] == "bootstrap"
    assert_problem(await server.admin.delete(f"/v1/keys/{bootstrap['id']}"), 409, "conflict")
    second = (await server.admin.post("/v1/keys", json={"scope": "admin"})).json()
    assert (await server.admin.delete(f"/v1/keys/{bootstrap['id']}")).status_code == 204
    assert_problem(await server.admin.get("/v1/keys"), 401, "unauthorized")
    async with server.client(second["key"]) as admin2:
        assert (await admin2.get("/v1/keys")).status_code == 200


# -- ApiKeys over a store ---------------------------------------------------------------


@pytest.fixture
async def memory_store():
    store = MemoryStore(4)
    async with store.running():
        yield store


async def test_keys_are_stored_only_as_hashes(memory_store) -> None:
    auth = ApiKeys(memory_store)
    await auth.load()
    key, secret = await auth.create("read", "dashboard")
    rows = await memory_store.meta.scan("api_keys")
    assert len(rows) == 1
    stored_key, value = rows[0]
    assert bytes(stored_key) == hashlib.sha256(secret.encode()).digest() == hash_secret(secret)
    assert value == {"id": key.id, "name": "dashboard", "scope": "read", "createdAt": key.created_at}
    assert secret not in repr(rows) and secret[3:] not in repr(rows)
    # a fresh cache over the same store knows the key
    again = ApiKeys(memory_store)
    await again.load()
    assert again.check_secret(secret) == key


async def test_bootstrap(memory_store) -> None:
    auth = ApiKeys(memory_store)
    await auth.load()
    with pytest.raises(ConfigError):
        await auth.bootstrap("sk_tooshort")
    generated = await auth.bootstrap("")
    assert generated is not None and looks_like_key(generated)
    assert auth.check_secret(generated).scope == "admin"
    # keys exist now: a configured bootstrap key is ignored
    assert await auth.bootstrap(ADMIN_KEY) is None
    with pytest.raises(Exception, match="invalid API key"):
        auth.check_secret(ADMIN_KEY)


async def test_configured_bootstrap_key(memory_store) -> None:
    auth = ApiKeys(memory_store)
    await auth.load()
    assert await auth.bootstrap(ADMIN_KEY) is None
    assert auth.check_secret(ADMIN_KEY).scope == "admin"


async def test_refresh_sees_offline_changes(memory_store) -> None:
    server_side = ApiKeys(memory_store)
    await server_side.load()
    offline = ApiKeys(memory_store)  # what `skruntime keys create|revoke` does
    await offline.load()
    key, secret = await offline.create("write", None)
    await server_side.refresh()
    assert server_side.check_secret(secret) == key
    revoked: list[str] = []
    server_side.on_revoke(lambda k: revoked.append(k.id))
    await offline.create("admin", None)  # so that the write key is not the last admin
    await offline.revoke(key.id)
    await server_side.refresh()
    assert revoked == [key.id]
    with pytest.raises(Exception, match="invalid API key"):
        server_side.check_secret(secret)


def test_generated_secrets() -> None:
    secrets = {generate_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(looks_like_key(s) and len(s) == 46 for s in secrets)
