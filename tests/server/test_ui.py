"""The dashboard's files under /ui (no browser: tests/ui drives one), and
``GET /v1/deployments``, the list the dashboard's deployments page reads."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from skruntime.server._ui import CONTENT_SECURITY_POLICY, ui_files

from .conftest import LOAN, Server, assert_problem

ROOT = Path(__file__).resolve().parents[2]
UI_DIR = ROOT / "skruntime" / "server" / "ui"

LOAN_V2 = {
    **LOAN,
    "states": {
        **LOAN["states"],
        "under_review": {"on": {"PAY_FEE": "income_verify", "WAIVE_FEE": "awaiting_docs"}},
        "income_verify": {"on": {"VERIFY_INCOME": "awaiting_docs"}},
    },
}


def _shipped() -> list[Path]:
    return sorted(p for p in UI_DIR.rglob("*") if p.is_file())


# -- the files --------------------------------------------------------------------------------


async def test_index_and_files_are_served_with_a_strict_policy(server: Server) -> None:
    async with server.client() as anonymous:  # the files need no key; the API calls they make do
        index = await anonymous.get("/ui/")
        redirect = await anonymous.get("/ui")
        script = await anonymous.get("/ui/static/app.js")
        page = await anonymous.get("/ui/static/pages/actor.js")
        style = await anonymous.get("/ui/static/app.css")
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert page.status_code == 200 and "export async function actorPage" in page.text
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    for response in (index, redirect, script, style):
        csp = response.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_files_are_revalidated_with_their_etag(server: Server) -> None:
    async with server.client() as anonymous:
        first = await anonymous.get("/ui/static/app.js")
        again = await anonymous.get("/ui/static/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    ["/ui/static/nope.js", "/ui/static/../_ui.py", "/ui/static/%2e%2e/_ui.py", "/ui/static/", "/ui/index.html", "/ui/static/pages"],
)
async def test_only_shipped_files_are_served(server: Server, path: str) -> None:
    async with server.client() as anonymous:
        response = await anonymous.get(path)
    assert_problem(response, 404, "not-found")


async def test_the_ui_is_not_writable(server: Server) -> None:
    response = await server.admin.post("/ui/", content=b"{}")
    assert_problem(response, 405, "method-not-allowed")


def test_every_shipped_file_is_package_data() -> None:
    """A non-editable install must carry the dashboard: every file under
    skruntime/server/ui matches a package-data pattern, and is served."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["skruntime"]
    served = ui_files()
    for path in _shipped():
        relative = path.relative_to(ROOT / "skruntime").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not package data"
        assert path.relative_to(UI_DIR).as_posix() in served, f"{relative} is not served"


def test_no_inline_code_and_nothing_from_elsewhere() -> None:
    """No inline script or style (the policy would block them), no URL of
    another origin (the dashboard works offline), and data never goes through
    an HTML parser: no innerHTML and friends, no eval."""
    index = (UI_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>", index):
        assert "src=" in tag, tag
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", index) is None, "inline script"
    assert "<style" not in index and " style=" not in index
    assert re.search(r"\son[a-z]+=", index) is None, "inline event handler"
    forbidden = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*[\"']on")
    for path in _shipped():
        text = path.read_text()
        if path.suffix == ".js":
            assert forbidden.search(text) is None, f"{path.name}: {forbidden.search(text)}"
        urls = [u for u in re.findall(r"https?://[^\s\"')]+", text) if u != "http://www.w3.org/2000/svg"]
        assert urls == [], f"{path.name} refers to {urls}"


# -- GET /v1/deployments ------------------------------------------------------------------------


async def test_list_deployments_paged_with_counts(server: Server) -> None:
    empty = await server.read.get("/v1/deployments")
    assert empty.status_code == 200 and empty.json() == {"items": [], "nextCursor": None}

    await server.deploy("dl-v1", LOAN)
    for actor_id, events in (("ann", ["SUBMIT_INFO", "PAY_FEE"]), ("ben", ["SUBMIT_INFO", "WAIVE_FEE"])):
        await server.spawn("dl-v1", actor_id)
        for event in events:
            assert (await server.send(actor_id, event)).status_code == 200
    for version_id, parent_id in (("dl-v2", "dl-v1"), ("dl-v3", "dl-v1")):
        body = {"id": version_id, "parentId": parent_id, "historyPath": ["SUBMIT_INFO", "PAY_FEE"], "definition": LOAN_V2}
        assert (await server.admin.post("/v1/machines", json=body)).status_code == 201

    everything = (await server.read.get("/v1/deployments")).json()
    assert everything["nextCursor"] is None
    first, second = everything["items"]
    assert first["deploymentId"] != second["deploymentId"]
    assert (first["versionId"], first["parentId"]) == ("dl-v2", "dl-v1")
    assert first["historyPath"] == ["SUBMIT_INFO", "PAY_FEE"]
    assert first["status"] == "complete"
    assert (first["evaluated"], first["migrated"], first["stayed"]) == (2, 1, 1)
    assert first["byReason"] == {"history-match": 1, "history-mismatch": 1}
    assert first == (await server.read.get(f"/v1/deployments/{first['deploymentId']}")).json()
    assert second["versionId"] == "dl-v3" and second["evaluated"] == 1  # ann left dl-v1 with dl-v2

    page = (await server.read.get("/v1/deployments", params={"limit": 1})).json()
    assert [d["deploymentId"] for d in page["items"]] == [first["deploymentId"]]
    rest = (await server.read.get("/v1/deployments", params={"limit": 1, "cursor": page["nextCursor"]})).json()
    assert [d["deploymentId"] for d in rest["items"]] == [second["deploymentId"]]
    assert rest["nextCursor"] is None


async def test_list_deployments_errors(server: Server) -> None:
    async with server.client() as anonymous:
        assert_problem(await anonymous.get("/v1/deployments"), 401, "unauthorized")
    assert assert_problem(await server.read.get("/v1/deployments", params={"cursor": "nope"}), 422, "validation")["parameter"] == "cursor"
    assert_problem(await server.read.get("/v1/deployments", params={"cursor": "dep-x"}), 422, "validation")
    assert_problem(await server.read.get("/v1/deployments", params={"limit": 0}), 400, "bad-request")
