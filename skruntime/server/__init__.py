"""The HTTP and WebSocket edge: a quart-trio app served by hypercorn.

General layout: implementation in private modules, public names re-exported
here (``X as X``).

* ``_app``       :func:`create_app`, the ASGI app.
* ``_routes``    the HTTP route groups; handlers translate HTTP to runtime calls.
* ``_ws``        ``WS /v1/watch``.
* ``_auth``      API keys (:class:`ApiKeys`).
* ``_problems``  errors as RFC 9457 problem+json.
* ``_openapi``   the ``/v1/openapi.json`` document.
* ``_metrics``   Prometheus counters.
* ``_router``    where a shard lives (always here, single-node).
* ``_serve``     :func:`serve`, the lifecycle.
"""

from ._app import create_app as create_app
from ._auth import ApiKey as ApiKey
from ._auth import ApiKeys as ApiKeys
from ._router import LocalRouter as LocalRouter
from ._router import Router as Router
from ._serve import serve as serve

__all__ = ["ApiKey", "ApiKeys", "LocalRouter", "Router", "create_app", "serve"]

# Tracebacks and reprs show the public path (skruntime.server.ApiKeys).
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith(__name__ + "."):
        _obj.__module__ = __name__
del _name, _obj
