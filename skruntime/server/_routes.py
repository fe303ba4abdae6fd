"""The HTTP routes: each handler only translates HTTP to a runtime call and back.

Routes come in groups; a group is one function taking the :class:`Api` and
registering its routes with ``@api.route(method, path, scope=...)``.
:data:`ROUTE_GROUPS` lists them, and ``create_app`` installs each.  A new
group (the lead's previews, decisions and deployments) is one more function
here and one more entry in the tuple, plus its paths in ``_openapi.py``
(``tests/server/test_openapi.py`` fails until both agree).

What :meth:`Api.route` adds around every handler: the API-key check for the
route's scope (401/403), readiness (503 until recovery is complete), errors
as problem+json (any :class:`RequestError` or HTTP error the handler raises),
and the latency and status metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import trio
from quart import Quart, request
from quart_trio.wrappers import TrioResponse as Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .._config import Config
from .._exceptions import BadRequest, PayloadTooLarge, RequestError, ServiceUnavailable, Unprocessable
from ..runtime import Runtime, check_depth
from ._auth import ApiKeys, validate_key_request
from ._metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ._metrics import Metrics
from ._problems import JSON_CONTENT_TYPE, http_problem, internal_problem, json_response, problem_response
from ._router import Router
from ._ui import ui_routes

__all__ = ["ROUTE_GROUPS", "SEND_ROUTE", "Api", "ServerState", "parse_json", "send_event", "too_large"]

log = logging.getLogger("skruntime.server")

MAX_PAGE: Final = 1000
DEFAULT_PAGE: Final = 100
SEND_ROUTE: Final = "/v1/actors/<actor_id>/events"

Handler = Callable[..., Awaitable[Response]]


@dataclass(slots=True)
class ServerState:
    """What the handlers share.

    Attributes:
        runtime: the actor runtime.
        auth: the API keys.
        config: the process configuration.
        metrics: the edge's counters.
        router: where shards live (always here, single-node).
        closing: set when a graceful shutdown begins (WebSockets close 1001).
        openapi: the encoded ``/v1/openapi.json`` document.
    """

    runtime: Runtime
    auth: ApiKeys
    config: Config
    metrics: Metrics
    router: Router
    closing: trio.Event = field(default_factory=trio.Event)
    openapi: bytes = b"{}"

    @property
    def ready(self) -> bool:
        """Recovery complete, keys loaded, not shutting down."""
        return self.runtime.ready and self.auth.loaded and not self.closing.is_set()


class Api:
    """Registers routes on the Quart app (see the module docstring).

    Args:
        app: the Quart app.
        state: what the handlers share.
    """

    def __init__(self, app: Quart, state: ServerState) -> None:
        self.app = app
        self.state = state

    def route(self, method: str, path: str, *, scope: str | None) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``method path``.

        Args:
            method: one HTTP method.
            path: a Quart rule (``/v1/actors/<actor_id>``).
            scope: the API-key scope the call needs, or ``None`` for a public
                route (health, readiness, metrics, the OpenAPI document).
        """
        state = self.state
        metrics = state.metrics
        auth = state.auth

        def register(handler: Handler) -> Handler:
            async def view(**params: str) -> Response:
                started = time.perf_counter()
                try:
                    if scope is not None:
                        if not state.ready:
                            raise ServiceUnavailable("the server is starting or stopping; retry shortly")
                        auth.authorize(request.headers.get("Authorization"), scope)
                    response = await handler(**params)
                except RequestError as exc:
                    response = problem_response(exc)
                except HTTPException as exc:
                    response = http_problem(exc)
                except Exception as exc:  # a bug: logged, answered without details
                    response = internal_problem(exc)
                metrics.request(path, response.status_code, time.perf_counter() - started)
                return response

            endpoint = f"{method.lower()} {path}"
            view.__name__ = endpoint
            view.__qualname__ = endpoint
            self.app.add_url_rule(path, endpoint, view, methods=[method], provide_automatic_options=False)
            return handler

        return register

    def websocket(self, path: str, handler: Callable[[], Awaitable[Response | None]]) -> None:
        """Register a WebSocket endpoint (its handler authenticates itself)."""
        self.app.add_websocket(path, f"ws {path}", handler)


# -- request helpers -----------------------------------------------------------------


async def read_json(max_bytes: int) -> Any:
    """The request body as JSON.

    Raises:
        PayloadTooLarge: the body (announced or streamed) exceeds ``max_bytes``.
        BadRequest: the body is empty or not JSON.
    """
    try:
        raw = await request.get_data(cache=False, as_text=False, parse_form_data=False)
    except RequestEntityTooLarge:
        raise too_large(max_bytes) from None
    return parse_json(raw)


def parse_json(raw: bytes) -> Any:
    """A request body as JSON.

    Raises:
        BadRequest: empty, or not JSON.
    """
    if not raw:
        raise BadRequest("this call needs a JSON request body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


BODY_TIMEOUT: Final = 30.0  # seconds to receive a whole request body (408 after)


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request bodies are limited to {max_bytes} bytes (limits.max_body_bytes)")


async def send_event(state: ServerState, actor_id: str, body: Any, idempotency_key: str | None) -> dict[str, Any]:
    """``POST /v1/actors/{id}/events`` once the request is read: the one
    place both the Quart route and the fast path (``_fastpath``) send from.

    Raises:
        RequestError: the runtime's answer (counted as a rejection).
    """
    try:
        result: dict[str, Any] = await state.runtime.send(actor_id, body, idempotency_key)
    except RequestError as exc:
        state.metrics.rejected(exc.slug)
        raise
    state.metrics.handled("http")
    return result


async def read_deploy_body(limits: Any) -> Any:
    """A deploy or preview body, with the definition's own size limit."""
    body = await read_json(limits.max_body_bytes)
    if isinstance(body, Mapping) and "definition" in body:
        check_depth(body["definition"], "/definition")  # before serializing it to measure it
        size = len(orjson.dumps(body["definition"]))
        if size > limits.max_definition_bytes:
            raise PayloadTooLarge(
                f"the definition is {size} bytes; definitions are limited to "
                f"{limits.max_definition_bytes} bytes (limits.max_definition_bytes)"
            )
    return body


def int_param(name: str, default: int, low: int, high: int | None = None) -> int:
    """A query parameter that must be an integer in ``[low, high]``.

    Raises:
        BadRequest: not an integer, or out of range.
    """
    raw = request.args.get(name)
    if raw is None:
        return default
    text = raw.strip()
    if not text.isascii() or not (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())) or len(text) > 19:
        raise BadRequest(f"query parameter {name!r} must be an integer")
    value = int(text)
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"query parameter {name!r} must be {bound}")
    return value


def str_param(name: str, max_length: int = 512) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if len(raw) > max_length:
        raise BadRequest(f"query parameter {name!r} is limited to {max_length} characters")
    return raw


# -- route groups ----------------------------------------------------------------------


def health_routes(api: Api) -> None:
    """``/healthz``, ``/readyz``, ``/metrics``, ``/v1/openapi.json``: no API key."""
    state = api.state

    @api.route("GET", "/healthz", scope=None)
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @api.route("GET", "/readyz", scope=None)
    async def readyz() -> Response:
        if not state.ready:
            detail = "shutting down" if state.closing.is_set() else "recovery is not complete yet"
            raise ServiceUnavailable(detail)
        return json_response({"status": "ready"})

    @api.route("GET", "/metrics", scope=None)
    async def metrics() -> Response:
        return Response(state.metrics.render(), status=200, content_type=METRICS_CONTENT_TYPE)

    @api.route("GET", "/v1/openapi.json", scope=None)
    async def openapi() -> Response:
        return Response(state.openapi, status=200, content_type=JSON_CONTENT_TYPE)


def machine_routes(api: Api) -> None:
    """Versions: deploy, list, get."""
    runtime = api.state.runtime
    limits = api.state.config.limits

    @api.route("POST", "/v1/machines", scope="admin")
    async def deploy() -> Response:
        body = await read_deploy_body(limits)
        result, created = await runtime.deploy(body)
        headers = {"Location": f"/v1/machines/{body['id']}"}  # deploy validated it
        return json_response(result, 201 if created else 200, headers)

    @api.route("GET", "/v1/machines", scope="read")
    async def list_machines() -> Response:
        items = []
        for version in runtime.versions:
            view = runtime.version_view(version)
            view.pop("definition", None)
            items.append(view)
        return json_response({"items": items})

    @api.route("GET", "/v1/machines/<version_id>", scope="read")
    async def get_machine(version_id: str) -> Response:
        return json_response(runtime.version_view(runtime.get_version(version_id), with_counts=True))


def actor_routes(api: Api) -> None:
    """Actors: spawn, list, get."""
    state = api.state
    runtime = state.runtime
    metrics = state.metrics
    router = state.router
    limits = state.config.limits

    @api.route("POST", "/v1/actors", scope="write")
    async def spawn() -> Response:
        body = await read_json(limits.max_body_bytes)
        if isinstance(body, Mapping) and isinstance(body.get("actorId"), str):
            router.require_local(body["actorId"])
        view = await runtime.spawn(body)
        metrics.spawns += 1
        return json_response(view, 201, {"Location": f"/v1/actors/{view['actorId']}"})

    @api.route("GET", "/v1/actors", scope="read")
    async def list_actors() -> Response:
        version_id = str_param("versionId")
        if version_id is not None:
            runtime.get_version(version_id)  # 404 for a version that does not exist
        state_path = str_param("state")
        cursor = str_param("cursor")
        limit = int_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        items, next_cursor = runtime.list_actors(version_id=version_id, state=state_path, cursor=cursor, limit=limit)
        return json_response({"items": items, "nextCursor": next_cursor})

    @api.route("GET", "/v1/actors/<actor_id>", scope="read")
    async def get_actor(actor_id: str) -> Response:
        router.require_local(actor_id)
        return json_response(runtime.get(actor_id))


def event_routes(api: Api) -> None:
    """Events: send one, read history, send a batch."""
    state = api.state
    runtime = state.runtime
    metrics = state.metrics
    router = state.router
    limits = state.config.limits

    # The fast path (_fastpath.py) answers this route before Quart sees it;
    # this handler serves when the fast path is not installed (tests of the
    # bare app) and keeps the route in the table.
    @api.route("POST", SEND_ROUTE, scope="write")
    async def send(actor_id: str) -> Response:
        router.require_local(actor_id)
        body = await read_json(limits.max_body_bytes)
        return json_response(await send_event(state, actor_id, body, request.headers.get("Idempotency-Key")))

    @api.route("GET", "/v1/actors/<actor_id>/events", scope="read")
    async def history(actor_id: str) -> Response:
        router.require_local(actor_id)
        after = int_param("after", 0, 0)
        limit = int_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        events, next_after = await runtime.history(actor_id, after=after, limit=limit)
        return json_response({"items": events, "nextAfter": next_after})

    @api.route("POST", "/v1/events/batch", scope="write")
    async def batch() -> Response:
        body = await read_json(limits.max_body_bytes)
        results = await runtime.send_batch(body)
        metrics.batch("batch", results)
        return json_response({"results": results})


def key_routes(api: Api) -> None:
    """API keys: create, list, revoke (admin only)."""
    state = api.state
    auth = state.auth
    limits = state.config.limits

    @api.route("POST", "/v1/keys", scope="admin")
    async def create_key() -> Response:
        scope, name = validate_key_request(await read_json(limits.max_body_bytes))
        key, secret = await auth.create(scope, name)
        body = {"id": key.id, "key": secret, "scope": key.scope, "name": key.name, "createdAt": key.created_at}
        return json_response(body, 201, {"Location": f"/v1/keys/{key.id}", "Cache-Control": "no-store"})

    @api.route("GET", "/v1/keys", scope="admin")
    async def list_keys() -> Response:
        return json_response({"items": [key.to_json() for key in auth.list()]})

    @api.route("DELETE", "/v1/keys/<key_id>", scope="admin")
    async def revoke_key(key_id: str) -> Response:
        await auth.revoke(key_id)
        return Response(b"", status=204)


def migration_routes(api: Api) -> None:
    """Preview, and the audit: an actor's decisions, a deployment and its decisions."""
    state = api.state
    runtime = state.runtime
    limits = state.config.limits

    @api.route("POST", "/v1/machines/preview", scope="admin")
    async def preview() -> Response:
        body = await read_deploy_body(limits)
        summary = (str_param("summary") or "false").lower()
        if summary not in ("true", "false", "1", "0"):
            raise BadRequest("summary must be true or false")
        return json_response(runtime.preview(body, summary=summary in ("true", "1")))

    @api.route("GET", "/v1/actors/<actor_id>/decisions", scope="read")
    async def actor_decisions(actor_id: str) -> Response:
        after = int_param("after", 0, 0)
        limit = int_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        items, next_after = await runtime.decisions(actor_id, after=after, limit=limit)
        return json_response({"items": items, "nextAfter": next_after})

    @api.route("GET", "/v1/deployments/<deployment_id>", scope="read")
    async def deployment(deployment_id: str) -> Response:
        return json_response(await runtime.deployments.get(deployment_id))

    @api.route("GET", "/v1/deployments/<deployment_id>/decisions", scope="read")
    async def deployment_decisions(deployment_id: str) -> Response:
        cursor = str_param("cursor")
        limit = int_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        items, next_cursor = await runtime.deployments.decisions(deployment_id, cursor=cursor, limit=limit)
        return json_response({"items": items, "nextCursor": next_cursor})


def deployment_list_routes(api: Api) -> None:
    """``GET /v1/deployments``: every deployment, in deploy order, paged."""
    runtime = api.state.runtime

    @api.route("GET", "/v1/deployments", scope="read")
    async def list_deployments() -> Response:
        start = _deployment_cursor(str_param("cursor"))
        limit = int_param("limit", DEFAULT_PAGE, 1, MAX_PAGE)
        rows = await runtime.store.meta.scan("deployments", start=start, limit=limit + 1)
        items = [await runtime.deployments.get(record["id"]) for _, record in rows[:limit]]
        next_cursor = f"dep-{rows[limit][0]}" if len(rows) > limit else None
        return json_response({"items": items, "nextCursor": next_cursor})


def _deployment_cursor(cursor: str | None) -> int | None:
    """A ``nextCursor`` of ``GET /v1/deployments`` (``dep-N``) as the ordinal to start from."""
    if cursor is None or cursor == "":
        return None
    prefix, _, number = cursor.partition("-")
    if prefix != "dep" or not number.isascii() or not number.isdigit() or len(number) > 18:
        raise Unprocessable("cursor is not one this server issued", parameter="cursor")
    return int(number)


# Installed in this order by create_app.
ROUTE_GROUPS: Final[tuple[Callable[[Api], None], ...]] = (
    health_routes,
    machine_routes,
    migration_routes,
    deployment_list_routes,
    actor_routes,
    event_routes,
    key_routes,
    ui_routes,
)

