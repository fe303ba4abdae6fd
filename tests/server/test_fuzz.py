"""No input gets a 500: hypothesis-generated requests against a real server.

Methods, paths from the real route table with random ids, query strings,
JSON values, garbage bytes and headers (keys of every scope and none,
content types, idempotency keys) go to one server that runs, for the whole
module, in its own thread and trio loop.  Every answer must be below 500,
and every error answer a problem+json document with a ``type``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skruntime.server import serve
from skruntime.server._openapi import openapi_document

from .conftest import ADMIN_KEY, LOAN, make_config

EXAMPLES = 1500


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server in a thread: ``{"url", "keys"}``."""
    config = make_config(tmp_path_factory.mktemp("fuzz"))
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        stop = trio.Event()
        box["token"] = trio.lowlevel.current_trio_token()
        box["stop"] = stop
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, config, shutdown_trigger=stop.wait, handle_signals=False))
            box["url"] = binds[0]
            ready.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # surfaced by the fixture
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="fuzz-server", daemon=True)
    thread.start()
    assert ready.wait(60), "the server did not start"
    assert "error" not in box, box.get("error")
    url = box["url"]
    keys = {"admin": ADMIN_KEY}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        assert admin.post("/v1/machines", json={"id": "fz-v1", "definition": LOAN}).status_code == 201
        assert admin.post("/v1/actors", json={"versionId": "fz-v1", "actorId": "fz-actor"}).status_code == 201
        for scope in ("write", "read"):
            keys[scope] = admin.post("/v1/keys", json={"scope": scope}).json()["key"]
    try:
        yield {"url": url, "keys": keys}
    finally:
        trio.from_thread.run_sync(box["stop"].set, trio_token=box["token"])
        thread.join(30)
        assert "error" not in box, box.get("error")


# -- strategies ---------------------------------------------------------------------------

TEMPLATES = sorted(openapi_document()["paths"]) + ["/", "/v1", "/v1/", "/v1/actors/{x}/decisions", "/v1/deployments/{x}"]
KNOWN_IDS = ["fz-actor", "fz-v1", "nobody", "", "a" * 300, "..", "%2F", "key_0000000000000000"]

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=60)
any_text = st.text(max_size=60)
ids = st.one_of(st.sampled_from(KNOWN_IDS), any_text.map(lambda s: urllib.parse.quote(s, safe="")))


@st.composite
def paths(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return "/" + draw(any_text.map(lambda s: urllib.parse.quote(s, safe="/")))
    template = draw(st.sampled_from(TEMPLATES))
    parts = template.split("/")
    return "/".join(draw(ids) if p.startswith("{") else p for p in parts)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["SUBMIT_INFO", "PAY_FEE", "APPROVE", "xstate.init", ""]), any_text)},
    optional={"payload": json_values, "guards": json_values | st.dictionaries(any_text, st.booleans(), max_size=3), "actorId": ids},
)
deploy_like = st.fixed_dictionaries(
    {"id": st.one_of(st.just("fz-v2"), any_text), "definition": st.one_of(json_values, st.just(LOAN))},
    optional={"parentId": st.one_of(st.just("fz-v1"), any_text), "historyPath": json_values},
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    event_like.map(lambda v: json.dumps(v).encode()),
    deploy_like.map(lambda v: json.dumps(v).encode()),
    st.lists(event_like, max_size=5).map(lambda events: json.dumps({"events": events}).encode()),
    st.fixed_dictionaries({"versionId": st.one_of(st.just("fz-v1"), any_text)}, optional={"actorId": any_text, "context": json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries({"scope": st.one_of(st.sampled_from(["read", "write", "admin"]), any_text)}, optional={"name": json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
)
queries = st.dictionaries(
    st.one_of(st.sampled_from(["limit", "after", "cursor", "versionId", "state"]), any_text),
    st.one_of(st.integers(-5, 2000).map(str), any_text),
    max_size=4,
)


@st.composite
def requests(draw: st.DrawFn, keys: dict[str, str]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["admin", "write", "read", "none", "garbage"]))
    if auth in keys:
        headers["Authorization"] = f"Bearer {keys[auth]}"
    elif auth == "garbage":
        headers["Authorization"] = draw(header_text)
    if draw(st.booleans()):
        headers["Content-Type"] = draw(st.one_of(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]), header_text))
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(header_text)
    encoded = {name: value.encode("latin-1") for name, value in headers.items()}
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    path = draw(paths())
    return {"method": method, "url": path, "params": draw(queries), "content": draw(bodies), "headers": encoded}


def test_no_input_gets_a_500(live: dict[str, Any]) -> None:
    failures: list[str] = []
    history: list[dict[str, Any]] = []
    with httpx.Client(base_url=live["url"], timeout=10) as client:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(request=requests(live["keys"]))
        def check(request: dict[str, Any]) -> None:
            history.append(request)
            try:
                response = client.request(**request)
            except httpx.LocalProtocolError:
                return  # httpx refused to send it (an invalid header value): not the server's concern
            except httpx.TimeoutException:
                raise AssertionError(f"no answer; the last requests were {history[-3:]}") from None
            assert response.status_code < 500, (request, response.status_code, response.text)
            if response.status_code >= 400 and request["method"] != "HEAD":
                assert response.headers.get("content-type") == "application/problem+json", (request, response.headers)
                body = response.json()
                assert body["type"].startswith("urn:skruntime:problem:"), body
                assert body["status"] == response.status_code
                if len(failures) < 3 and "Traceback" in response.text:
                    failures.append(response.text)

        check()
    assert failures == []
