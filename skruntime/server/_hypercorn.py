"""What skruntime changes in hypercorn's behaviour, and why.

Three things, installed by :func:`install` (idempotent) before the server
starts, by replacing four methods of hypercorn; if a hypercorn release no
longer has one, :func:`install` logs a warning and leaves hypercorn's own
behaviour, and the tests that check the behaviour
(``tests/server/test_routes.py``) notice.

* **Problem documents for the requests hypercorn refuses before the app
  runs.**  hypercorn answers a request it cannot parse (a malformed request
  line, a header section over its limit, ...) itself, at the HTTP/1.1
  layer, with an empty body.  Every other error of the API is RFC 9457
  ``application/problem+json`` (SPEC section 7), so that answer gets the
  same status and a problem document (``bad-request``,
  ``headers-too-large``, ...); so does a WebSocket handshake it refuses.
  (``H11Protocol._send_error_response``, ``WSStream._send_error_response``.)
* **Idle connections close.**  hypercorn's keep-alive timer was never
  re-armed after a response (see :func:`_keep_alive_kept`), so an idle
  HTTP/1.1 connection stayed open; it closes after ``keep_alive_timeout``
  (5 s) again.  (``TCPServer.protocol_send``.)
* **One connection's failure stays that connection's.**  Under trio, an
  exception escaping hypercorn's handling of one connection (its HTTP/2
  and WebSocket layers have such bugs, reachable by any client before
  authentication) ends the listener's nursery, and so the whole server.
  Each connection's handler now logs such an exception and closes that
  connection only; cancellation still propagates.  (``TCPServer.run``.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import h11
import orjson
import trio

from ._problems import HTTP_SLUGS, PROBLEM_CONTENT_TYPE, PROBLEM_PREFIX

__all__ = ["install", "problem_body"]

log = logging.getLogger("skruntime.server")


def problem_body(status: int) -> bytes:
    """The problem document for a request refused at the HTTP layer."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Bad request"
    slug = HTTP_SLUGS.get(status, "internal" if status >= 500 else "bad-request")
    if status == 501:
        detail = "the request uses an HTTP feature this server does not implement (a transfer coding other than chunked)"
    elif status >= 500:
        detail = "the server failed to answer this request; the error was logged"
    else:
        detail = "the server could not read this HTTP request (malformed, or over the HTTP layer's limits)"
    return orjson.dumps({"type": PROBLEM_PREFIX + slug, "title": title, "status": status, "detail": detail})


def _problem_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]


def install() -> None:
    """Install the changes (see the module docstring); idempotent."""
    try:
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.protocol.ws_stream import WSStream
        from hypercorn.trio.tcp_server import TCPServer
    except ImportError as exc:  # pragma: no cover - depends on the hypercorn release
        log.warning("hypercorn's internals moved (%s): its own error answers stay empty, and a failing connection can stop the server", exc)
        return
    _replace(H11Protocol, "_send_error_response", _h11_problem_answer)
    _replace(WSStream, "_send_error_response", _websocket_problem_answer)
    _replace(TCPServer, "run", _isolated)
    _replace(TCPServer, "protocol_send", _keep_alive_kept)


def _replace(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    """``owner.name = make(original)``, once; a warning if hypercorn lacks it."""
    original = getattr(owner, name, None)
    if original is None:  # pragma: no cover - depends on the hypercorn release
        log.warning("hypercorn has no %s.%s: that change to its behaviour is not made", owner.__name__, name)
        return
    if getattr(original, "_skruntime", False):
        return
    replacement = make(original)
    replacement._skruntime = True
    setattr(owner, name, replacement)


def _h11_problem_answer(original: Any) -> Any:
    async def send_problem(self: Any, status_code: int) -> None:
        body = problem_body(status_code)
        headers = [*_problem_headers(body), *self.config.response_headers("h11")]
        await self._send_h11_event(h11.Response(status_code=status_code, headers=headers))
        await self._send_h11_event(h11.Data(data=body))
        await self._send_h11_event(h11.EndOfMessage())

    return send_problem


def _websocket_problem_answer(original: Any) -> Any:
    """The same for a WebSocket handshake hypercorn refuses (a missing
    ``Sec-WebSocket-Key``, an unsupported version, ...)."""
    from hypercorn.protocol.events import Body, EndBody, Response

    async def send_problem(self: Any, status_code: int) -> None:
        body = problem_body(status_code)
        await self.send(Response(stream_id=self.stream_id, status_code=status_code, headers=_problem_headers(body)))
        await self.send(Body(stream_id=self.stream_id, data=body))
        await self.send(EndBody(stream_id=self.stream_id))

    return send_problem


def _isolated(original: Any) -> Any:
    async def run(self: Any) -> None:
        try:
            await original(self)
        except Exception as exc:  # cancellation (a BaseException) still propagates
            log.warning("a connection failed inside the HTTP server and was closed: %r", exc)
            try:
                await self.stream.aclose()
            except Exception:  # pragma: no cover - already gone
                pass

    return run


def _keep_alive_kept(original: Any) -> Any:
    """After an HTTP/1.1 response hypercorn restarts the connection's
    keep-alive timer from the task that sent the response; quart-trio
    cancels that task as soon as the response is out, which cancelled the
    restart too: no timer ran, and an idle connection stayed open forever (a
    client could hold the server's file descriptors without a key).  The
    restart is short and now runs shielded."""
    from hypercorn.events import Updated

    async def protocol_send(self: Any, event: Any) -> None:
        if isinstance(event, Updated):
            with trio.CancelScope(shield=True):
                await original(self, event)
        else:
            await original(self, event)

    return protocol_send
