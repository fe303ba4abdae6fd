"""Problem documents for the requests hypercorn refuses before the app runs.

hypercorn answers a request it cannot parse (a malformed request line, a
header section over its limit, ...) itself, at the HTTP/1.1 layer, with an
empty body: the application never sees it.  Every other error of the API is
RFC 9457 ``application/problem+json`` (SPEC section 7), so
:func:`install` replaces that answer with the same status and a problem
document (``bad-request``, ``headers-too-large``, ...).

This hooks one method of hypercorn's HTTP/1.1 protocol
(``H11Protocol._send_error_response(status_code)``).  If a hypercorn release
no longer has it, :func:`install` logs a warning and leaves hypercorn's
answer as it is; ``tests/server/test_routes.py`` checks the answer, so an
upgrade that changes it is noticed.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import h11
import orjson

from ._problems import HTTP_SLUGS, PROBLEM_CONTENT_TYPE, PROBLEM_PREFIX

__all__ = ["install", "problem_body"]

log = logging.getLogger("skruntime.server")


def problem_body(status: int) -> bytes:
    """The problem document for a request refused at the HTTP layer."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Bad request"
    slug = HTTP_SLUGS.get(status, "bad-request")
    return orjson.dumps(
        {
            "type": PROBLEM_PREFIX + slug,
            "title": title,
            "status": status,
            "detail": "the server could not read this HTTP request (malformed, or over the HTTP layer's limits)",
        }
    )


def install() -> None:
    """Make hypercorn's own HTTP/1.1 error answers problem documents
    (idempotent)."""
    try:
        from hypercorn.protocol.h11 import H11Protocol
    except ImportError:  # pragma: no cover - hypercorn moved it
        log.warning("hypercorn's HTTP/1.1 protocol was not found: its own error answers stay empty")
        return
    original = getattr(H11Protocol, "_send_error_response", None)
    if original is None:  # pragma: no cover - depends on the hypercorn release
        log.warning("hypercorn has no _send_error_response: its own error answers stay empty")
        return
    if getattr(original, "_skruntime", False):
        return

    async def send_problem(self: Any, status_code: int) -> None:
        body = problem_body(status_code)
        headers = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            *self.config.response_headers("h11"),
        ]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())

    send_problem._skruntime = True  # type: ignore[attr-defined]
    setattr(H11Protocol, "_send_error_response", send_problem)
