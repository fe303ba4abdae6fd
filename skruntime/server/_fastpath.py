"""The hot route without Quart's per-request machinery.

``POST /v1/actors/{id}/events`` is what high-rate callers hit one event at a
time.  Quart's request context, signals, URL matching and response objects
cost about 0.3 ms per request on the reference machine (a third of the whole
framework floor), so this ASGI middleware, installed in front of the Quart
app (``app.asgi_app``), answers that one route itself and hands every other
request to Quart unchanged.

It does exactly what the Quart route does (``_routes.send_event`` is shared):
the API-key check for scope ``write``, readiness, the body limit (announced
``Content-Length`` first, then while streaming), JSON parsing, the same
problem documents and metrics.  Anything that is not a well-formed
``POST /v1/actors/<one segment>/events`` falls through to Quart (so 404, 405
and HEAD behave as everywhere else).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import orjson
import trio

from .._exceptions import RequestError, RequestTimeout, ServiceUnavailable
from ._problems import INTERNAL_PROBLEM, JSON_CONTENT_TYPE, PROBLEM_CONTENT_TYPE
from ._routes import BODY_TIMEOUT, SEND_ROUTE, ServerState, parse_json, send_event, too_large

__all__ = ["FastSend"]

log = logging.getLogger("skruntime.server")

ASGIApp = Callable[..., Awaitable[None]]

_PREFIX: Final = "/v1/actors/"
_SUFFIX: Final = "/events"
_DRAIN_TIMEOUT: Final = 2.0


class _Disconnected(Exception):
    """The client went away while we read its body."""


class FastSend:
    """ASGI middleware serving ``POST /v1/actors/{id}/events``.

    Args:
        inner: the Quart app's ``asgi_app``.
        state: the handlers' shared state.
    """

    def __init__(self, inner: ASGIApp, state: ServerState) -> None:
        self.inner = inner
        self.state = state
        self.limit = state.config.limits.max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX):
                actor_id = path[len(_PREFIX) : -len(_SUFFIX)]
                if actor_id and "/" not in actor_id:
                    await self._send_event(actor_id, scope, receive, send)
                    return
        await self.inner(scope, receive, send)

    async def _send_event(self, actor_id: str, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        state = self.state
        authorization = idempotency_key = None
        declared = -1
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = value.decode("latin-1")
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else -1
        body_read = False
        headers: list[tuple[bytes, bytes]] = []
        try:
            try:
                if not state.ready:
                    raise ServiceUnavailable("the server is starting or stopping; retry shortly")
                state.auth.authorize(authorization, "write")
                state.router.require_local(actor_id)
                if declared > self.limit:
                    raise too_large(self.limit)
                with trio.move_on_after(BODY_TIMEOUT) as reading:
                    raw = await self._read_body(receive)
                if reading.cancelled_caught:
                    headers.append((b"connection", b"close"))  # the rest of the body may still come
                    raise RequestTimeout(f"the request body did not arrive within {BODY_TIMEOUT:g} seconds")
                body_read = True
                result = await send_event(state, actor_id, parse_json(raw), idempotency_key)
                status, payload, content_type = 200, orjson.dumps(result), JSON_CONTENT_TYPE
            except RequestError as exc:
                status, payload, content_type = exc.status, orjson.dumps(exc.to_problem()), PROBLEM_CONTENT_TYPE
                if status == 401:
                    headers.append((b"www-authenticate", b'Bearer realm="skruntime"'))
                elif status == 503:
                    headers.append((b"retry-after", b"1"))
                if not body_read and status not in (408, 413):
                    await self._drain(receive)  # keep the connection usable for the next request
            except _Disconnected:
                raise
            except Exception:  # a bug: logged, answered without details
                log.exception("internal error while answering a request")
                status, payload, content_type = 500, orjson.dumps(INTERNAL_PROBLEM), PROBLEM_CONTENT_TYPE
        except _Disconnected:
            return
        headers.append((b"content-type", content_type.encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        state.metrics.request(SEND_ROUTE, status, time.perf_counter() - started)

    async def _read_body(self, receive: Any) -> bytes:
        """The whole body, or :class:`PayloadTooLarge` once it exceeds the limit."""
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected()
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.limit:
                raise too_large(self.limit)
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise too_large(self.limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _drain(self, receive: Any) -> None:
        with trio.move_on_after(_DRAIN_TIMEOUT):
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Disconnected()
                size += len(message.get("body", b""))
                if not message.get("more_body", False) or size > self.limit:
                    return
