"""``/v1/openapi.json`` describes exactly the routes the app serves."""

from __future__ import annotations

import re

from skruntime.runtime import Runtime
from skruntime.server import ApiKeys, create_app
from skruntime.server._openapi import openapi_document
from skruntime.store import MemoryStore

from .conftest import Server, make_config

_IGNORED = {"HEAD", "OPTIONS"}  # added by the framework for every GET / route
_NOT_API = ("/ui",)  # the dashboard's static files (skruntime/server/_ui.py) are not part of the v1 API


def _template(path: str) -> str:
    """``/v1/actors/<actor_id>`` and ``/v1/actors/{actorId}`` -> ``/v1/actors/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def served_routes(tmp_path) -> dict[str, set[str]]:
    config = make_config(tmp_path)
    store = MemoryStore(4)
    app = create_app(Runtime(config, store), ApiKeys(store), config)
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(_NOT_API):
            continue
        methods = set(rule.methods or ()) - _IGNORED
        if rule.websocket:
            methods = {"GET"}
        routes.setdefault(_template(rule.rule), set()).update(methods)
    return routes


def documented_routes(document) -> dict[str, set[str]]:
    verbs = {"get", "put", "post", "delete", "patch"}
    return {_template(path): {m.upper() for m in item if m in verbs} for path, item in document["paths"].items()}


def test_every_route_is_documented_and_nothing_else(tmp_path) -> None:
    served = served_routes(tmp_path)
    documented = documented_routes(openapi_document())
    assert served == documented


def test_document_is_well_formed() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    refs = re.findall(r"#/components/(\w+)/(\w+)", str(document))
    for section, name in refs:
        assert name in document["components"][section], f"dangling $ref {section}/{name}"
    assert {"Problem", "Actor", "SendResponse", "BatchRequest", "CreatedKey"} <= set(schemas)
    for path, item in document["paths"].items():
        params = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            assert op["responses"], (path, method)
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == params, (path, method, declared, params)
            if op.get("security"):
                assert "401" in op["responses"], (path, method)


async def test_served_document_is_the_same(server: Server) -> None:
    async with server.client() as anonymous:
        response = await anonymous.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi_document()
