"""Every error the edge answers, as an RFC 9457 ``application/problem+json``.

Three sources, one shape (``type``, ``title``, ``status``, ``detail`` and
extensions):

* :class:`~skruntime._exceptions.RequestError` raised by the runtime or the
  edge: its own ``to_problem()``;
* werkzeug ``HTTPException`` raised by routing and body reading (unknown
  route 404, wrong method 405, body over the limit 413, ...): a slug from
  :data:`HTTP_SLUGS`;
* anything else is a bug: it is logged with its traceback and answered with
  a generic ``internal`` 500 that says nothing about the code.

The ``type`` is ``urn:skruntime:problem:<slug>``; slugs are part of the API
(docs/API.md lists them).
"""

from __future__ import annotations

import logging
from typing import Any, Final

import orjson
import trio
from quart import Quart, request
from quart_trio.wrappers import TrioResponse as Response
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing.exceptions import WebsocketMismatch

from .._exceptions import RequestError

__all__ = [
    "HTTP_SLUGS",
    "drain_body",
    "JSON_CONTENT_TYPE",
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_PREFIX",
    "http_problem",
    "install_error_handlers",
    "internal_problem",
    "json_response",
    "problem_response",
]

log = logging.getLogger("skruntime.server")

DRAIN_TIMEOUT: Final = 2.0  # seconds an error answer waits for the rest of the body

PROBLEM_CONTENT_TYPE = "application/problem+json"
JSON_CONTENT_TYPE = "application/json"
PROBLEM_PREFIX = "urn:skruntime:problem:"

# Problems made by the HTTP layer itself (routing, body reading).
HTTP_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    411: "length-required",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    426: "upgrade-required",
    431: "headers-too-large",
    500: "internal",
    501: "not-implemented",
    503: "unavailable",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (orjson-encoded)."""
    return Response(orjson.dumps(body), status=status, headers=headers, content_type=JSON_CONTENT_TYPE)


def problem_response(error: RequestError) -> Response:
    """The answer to a :class:`RequestError`.

    401 carries ``WWW-Authenticate: Bearer`` (RFC 6750) and 503 a
    ``Retry-After`` hint.
    """
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="skruntime"'
    elif error.status == 503:
        headers["Retry-After"] = "1"
    return Response(
        orjson.dumps(error.to_problem()), status=error.status, headers=headers, content_type=PROBLEM_CONTENT_TYPE
    )


def http_problem(error: HTTPException) -> Response:
    """The answer to a werkzeug ``HTTPException`` (routing, body limits)."""
    if isinstance(error, WebsocketMismatch):  # a WebSocket route asked over plain HTTP (or the reverse)
        upgrade = {
            "type": PROBLEM_PREFIX + "upgrade-required",
            "title": "Upgrade required",
            "status": 426,
            "detail": "this is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)",
        }
        return Response(orjson.dumps(upgrade), status=426, headers={"Upgrade": "websocket"}, content_type=PROBLEM_CONTENT_TYPE)
    status = error.code or 500
    if status >= 500:
        return internal_problem(error)
    slug = HTTP_SLUGS.get(status) or _slug_of(error.name)
    detail = error.description or error.name
    if status == 413:
        detail = "the request body is larger than this server accepts (limits.max_body_bytes)"
    doc: dict[str, Any] = {"type": PROBLEM_PREFIX + slug, "title": error.name, "status": status, "detail": detail}
    headers = {k: v for k, v in error.get_headers() if k.lower() not in ("content-type", "content-length")}
    if status == 405:
        allowed = getattr(error, "valid_methods", None)
        if allowed:
            doc["allowed"] = sorted(allowed)
    return Response(orjson.dumps(doc), status=status, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# The one problem document for a bug: the traceback goes to the log, never to
# the caller (HTTP routes, the send fast path and WebSocket results use it).
INTERNAL_PROBLEM: Final[dict[str, object]] = {
    "type": PROBLEM_PREFIX + "internal",
    "title": "Internal error",
    "status": 500,
    "detail": "the server failed to answer this request; the error was logged",
}


def internal_problem(error: BaseException | None) -> Response:
    """A generic 500 (see :data:`INTERNAL_PROBLEM`)."""
    if error is not None:
        log.error("internal error while answering a request", exc_info=error)
    return Response(orjson.dumps(INTERNAL_PROBLEM), status=500, content_type=PROBLEM_CONTENT_TYPE)


async def drain_body() -> bool:
    """Read and drop what is left of the request body; whether it was read
    to its end.

    Installed as an ``after_request`` hook, so it runs before every answer
    (handlers, routing errors, problems).  Answering while the client is
    still sending a body the handler did not read makes hypercorn close the
    connection, and in a race leaves the client's next request on it
    unanswered (found by tests/server/test_fuzz.py); waiting for the body
    avoids both.  Bounded by the body limit and a short timeout."""
    drained = False
    try:
        with trio.move_on_after(DRAIN_TIMEOUT):
            await request.get_data(cache=False, as_text=False, parse_form_data=False)
            drained = True
    except HTTPException:  # over the limit, or too slow
        pass
    return drained



def install_error_handlers(app: Quart) -> None:
    """Make Quart answer every error it handles as problem+json."""

    async def on_request_error(error: RequestError) -> Response:
        return problem_response(error)

    async def on_http_exception(error: HTTPException) -> Response:
        return http_problem(error)

    async def on_internal(error: InternalServerError) -> Response:
        return internal_problem(getattr(error, "original_exception", None) or error)

    async def on_exception(error: Exception) -> Response:
        return internal_problem(error)

    app.register_error_handler(RequestError, on_request_error)
    app.register_error_handler(HTTPException, on_http_exception)
    app.register_error_handler(InternalServerError, on_internal)
    app.register_error_handler(Exception, on_exception)

    async def drain(response: Response) -> Response:
        if not await drain_body() or response.status_code in (408, 413):
            # What is left of the body is not read: the connection cannot
            # carry another request, so it closes after this answer (else a
            # keep-alive client would wait on it forever).
            response.headers["Connection"] = "close"
        return response

    app.after_request(drain)


def _slug_of(name: str) -> str:
    return "-".join(name.lower().replace("'", "").split()) or "error"
