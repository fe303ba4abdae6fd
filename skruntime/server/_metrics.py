"""Prometheus metrics of the HTTP and WebSocket edge.

The hot path only increments integers and floats held in plain dicts and
lists (one ``bisect`` per request for the latency histogram); everything else
(actors resident, store commits, readiness) is read when ``/metrics`` is
scraped.  The text format is Prometheus exposition format 0.0.4.

``/metrics`` needs no API key: it carries counts, route templates and problem
slugs only, never an actor id, version id, payload or key (docs/API.md).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Request latency buckets, seconds: dense around the 0.5-5 ms a durable send takes.
_BUCKETS: tuple[float, ...] = (
    0.00025,
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


class _Histogram:
    """Cumulative-on-render histogram: ``counts[i]`` counts observations in
    bucket ``i`` only (the last slot is ``+Inf``)."""

    __slots__ = ("counts", "total", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.total += 1
        self.sum += seconds


class Metrics:
    """The counters the edge keeps, and the gauges it reads at scrape time.

    Args:
        gauges: called at render time; yields ``(name, help, value)``
            triples for values owned by others (actors resident, commits).
    """

    def __init__(self, gauges: Callable[[], Iterable[tuple[str, str, str, float]]] | None = None) -> None:
        self.events_handled: dict[str, int] = {"http": 0, "batch": 0, "ws": 0}  # by transport
        self.events_rejected: dict[str, int] = {}  # by problem slug
        self.spawns = 0
        self.responses: dict[tuple[str, int], int] = {}  # (route, status) -> count
        self.latency: dict[str, _Histogram] = {}  # route -> histogram
        self.ws_connections = 0  # open WebSocket connections (gauge)
        self.ws_overflows = 0  # watchers cut off with 4008
        self._gauges = gauges

    # -- recording (hot path) ------------------------------------------------------

    def request(self, route: str, status: int, seconds: float) -> None:
        """One HTTP request answered."""
        key = (route, status)
        self.responses[key] = self.responses.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = _Histogram()
        histogram.observe(seconds)

    def handled(self, via: str, count: int = 1) -> None:
        self.events_handled[via] = self.events_handled.get(via, 0) + count

    def rejected(self, slug: str) -> None:
        self.events_rejected[slug] = self.events_rejected.get(slug, 0) + 1

    def batch(self, via: str, results: list[dict[str, Any]]) -> None:
        """Count a batch's results: send responses handled, problems rejected
        (by the slug of their ``type``)."""
        handled = 0
        for item in results:
            slug = item.get("type")
            if slug is None:
                handled += 1
            else:
                self.rejected(str(slug).rsplit(":", 1)[-1])
        self.handled(via, handled)

    # -- rendering -----------------------------------------------------------------

    def render(self) -> str:
        """The exposition text."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("skruntime_events_handled_total", "counter", "Events sent through the API that were handled and made durable.")
        for via, count in sorted(self.events_handled.items()):
            out.append(f'skruntime_events_handled_total{{via="{via}"}} {count}')
        family("skruntime_events_rejected_total", "counter", "Events sent through the API that were rejected, by problem type.")
        for slug, count in sorted(self.events_rejected.items()):
            out.append(f'skruntime_events_rejected_total{{reason="{_label(slug)}"}} {count}')
        family("skruntime_spawns_total", "counter", "Actors spawned through the API.")
        out.append(f"skruntime_spawns_total {self.spawns}")
        family("skruntime_http_responses_total", "counter", "HTTP responses by route template and status.")
        for (route, status), count in sorted(self.responses.items()):
            out.append(f'skruntime_http_responses_total{{route="{_label(route)}",status="{status}"}} {count}')
        family(
            "skruntime_http_request_duration_seconds",
            "histogram",
            "Time from routing a request to its answer (authentication, parsing, runtime, durable commit).",
        )
        for route, histogram in sorted(self.latency.items()):
            label = _label(route)
            running = 0
            for bound, count in zip(_BUCKETS, histogram.counts):
                running += count
                out.append(f'skruntime_http_request_duration_seconds_bucket{{route="{label}",le="{bound}"}} {running}')
            out.append(f'skruntime_http_request_duration_seconds_bucket{{route="{label}",le="+Inf"}} {histogram.total}')
            out.append(f'skruntime_http_request_duration_seconds_sum{{route="{label}"}} {histogram.sum!r}')
            out.append(f'skruntime_http_request_duration_seconds_count{{route="{label}"}} {histogram.total}')
        family("skruntime_websocket_connections", "gauge", "Open WebSocket connections on /v1/watch.")
        out.append(f"skruntime_websocket_connections {self.ws_connections}")
        family("skruntime_watch_overflows_total", "counter", "Watchers closed with 4008 because they fell behind.")
        out.append(f"skruntime_watch_overflows_total {self.ws_overflows}")
        if self._gauges is not None:
            for name, kind, help_text, value in self._gauges():
                family(name, kind, help_text)
                out.append(f"{name} {_number(value)}")
        out.append("")
        return "\n".join(out)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))
