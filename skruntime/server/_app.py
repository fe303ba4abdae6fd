"""The Quart-trio application: routes, WebSocket, errors, metrics."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from quart_trio import QuartTrio

from .._config import Config
from ..runtime import Runtime
from ._auth import ApiKeys
from ._fastpath import FastSend
from ._metrics import Metrics
from ._openapi import openapi_document
from ._problems import install_error_handlers
from ._router import LocalRouter, Router
from ._routes import BODY_TIMEOUT, ROUTE_GROUPS, Api, ServerState
from ._ws import watch_routes

__all__ = ["create_app", "server_state"]

_STATE_KEY = "skruntime"


def create_app(
    runtime: Runtime, auth: ApiKeys, config: Config, *, router: Router | None = None, fast_path: bool = True
) -> QuartTrio:
    """Build the ASGI app serving the v1 API.

    The app does not run anything itself: the caller runs ``runtime.run``,
    loads ``auth`` and serves the app (see :func:`skruntime.server.serve`).
    Until the runtime is ready and the keys are loaded, authenticated routes
    answer 503 and ``/readyz`` says so.

    Args:
        runtime: the actor runtime.
        auth: the API keys.
        config: the configuration (limits).
        router: where shards live; default: all of them here.
        fast_path: answer ``POST /v1/actors/{id}/events`` in front of Quart
            (``_fastpath``); off only to test the plain Quart route.

    Returns:
        The QuartTrio app.
    """
    app = QuartTrio("skruntime.server", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT
    # Requests for //v1//actors must not be answered with a redirect.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False

    metrics = Metrics(gauges=lambda: _gauges(runtime, auth))
    state = ServerState(
        runtime=runtime,
        auth=auth,
        config=config,
        metrics=metrics,
        router=router if router is not None else LocalRouter(runtime.store.shard_count),
    )
    api = Api(app, state)
    for group in ROUTE_GROUPS:
        group(api)
    watch_routes(api)
    state.openapi = orjson.dumps(openapi_document())
    install_error_handlers(app)
    app.extensions[_STATE_KEY] = state
    if fast_path:
        app.asgi_app = FastSend(app.asgi_app, state)  # type: ignore[method-assign,assignment]
    return app


def server_state(app: QuartTrio) -> ServerState:
    """The state shared by an app's handlers (tests, ``serve``)."""
    state: ServerState = app.extensions[_STATE_KEY]
    return state


def _gauges(runtime: Runtime, auth: ApiKeys) -> Iterator[tuple[str, str, str, float]]:
    yield "skruntime_ready", "gauge", "1 once recovery is complete and the keys are loaded.", int(runtime.ready and auth.loaded)
    yield (
        "skruntime_actors_resident",
        "gauge",
        "Actors held in memory.",
        sum(len(shard.actors) for shard in runtime.shards),
    )
    yield "skruntime_actors_quarantined", "gauge", "Actors whose records failed to load.", len(runtime.quarantined)
    yield "skruntime_versions", "gauge", "Deployed versions.", len(runtime.versions)
    statistics = getattr(runtime.store, "statistics", None)
    if statistics is not None:
        stats = statistics()
        yield "skruntime_store_commits_total", "counter", "Durable LMDB transactions (group commits).", stats.groups
        yield "skruntime_store_commit_jobs_total", "counter", "Commit submissions packed into them.", stats.jobs
        yield "skruntime_store_records_total", "counter", "Records written (puts and deletes).", stats.records
        yield "skruntime_store_commit_queue", "gauge", "Submissions waiting for the next group commit.", stats.queued
