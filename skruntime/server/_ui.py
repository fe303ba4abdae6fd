"""The operator dashboard under ``/ui``: static files shipped in the package.

The dashboard is a handful of plain HTML, CSS and ES module files in
``skruntime/server/ui/`` (no build step, nothing fetched at run time).  It is
a client of the public v1 API like any other: the browser keeps the API key
in ``sessionStorage`` and sends it as a bearer key, and watches over
``WS /v1/watch`` with the ``auth`` frame.  These routes therefore need no key
themselves; they only hand out the files.

* ``GET /ui`` redirects to ``/ui/``, which serves ``index.html``.
* ``GET /ui/static/<name>`` serves one of the shipped files.  The set of
  names is read once, when the app is built, so a request can only ever name
  a file in that set (no path is joined from the request).

Every answer carries a strict Content-Security-Policy (scripts, styles and
connections from this origin only, no inline code, no framing), and the files
are revalidated with their ETag.  The dashboard is not part of the v1 API, so
these routes are not in ``/v1/openapi.json``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from typing import TYPE_CHECKING, Final

from quart import request
from quart_trio.wrappers import TrioResponse as Response

from .._exceptions import NotFound

if TYPE_CHECKING:
    from ._routes import Api

__all__ = ["CONTENT_SECURITY_POLICY", "UI_HEADERS", "ui_routes", "ui_files"]

# 'self' covers same-origin ws:/wss: in CSP Level 3 (what the dashboard's
# WebSocket connects to); nothing else may be loaded or connected to.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

UI_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class UiFile:
    """One shipped file, read once."""

    body: bytes
    content_type: str
    etag: str


def ui_files() -> dict[str, UiFile]:
    """The shipped dashboard files by path relative to ``ui/`` (``index.html``,
    ``static/app.js``, ``static/pages/actor.js``...)."""
    root = resources.files("skruntime.server").joinpath("ui")
    files: dict[str, UiFile] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            name = prefix + child.name
            if child.is_dir():
                walk(child, name + "/")
                continue
            suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
            content_type = _TYPES.get(suffix)
            if content_type is None:
                continue  # only the kinds of file the dashboard is made of
            body = child.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            files[name] = UiFile(body, content_type, etag)

    if root.is_dir():
        walk(root, "")
    return files


def _serve(file: UiFile) -> Response:
    headers = dict(UI_HEADERS)
    headers["ETag"] = file.etag
    if file.etag in _if_none_match():
        return Response(b"", status=304, headers=headers)
    return Response(file.body, status=200, headers=headers, content_type=file.content_type)


def _if_none_match() -> set[str]:
    raw = request.headers.get("If-None-Match", "")
    return {part.strip().removeprefix("W/") for part in raw.split(",") if part.strip()}


def ui_routes(api: Api) -> None:
    """``GET /ui``, ``GET /ui/`` and ``GET /ui/static/<name>``: no API key."""
    files = ui_files()

    @api.route("GET", "/ui", scope=None)
    async def ui_redirect() -> Response:
        headers = dict(UI_HEADERS)
        headers["Location"] = "/ui/"
        return Response(b"", status=308, headers=headers)

    @api.route("GET", "/ui/", scope=None)
    async def ui_index() -> Response:
        index = files.get("index.html")
        if index is None:
            raise NotFound("file", "index.html")
        return _serve(index)

    @api.route("GET", "/ui/static/<path:name>", scope=None)
    async def ui_static(name: str) -> Response:
        file = files.get("static/" + name)
        if file is None:
            raise NotFound("file", name)
        return _serve(file)
