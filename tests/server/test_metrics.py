"""``/metrics``: Prometheus text, no key needed, no identifiers in it."""

from __future__ import annotations

import re

from .conftest import LOAN, Server


def sample(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(label_text) + r"\}" if labels else "") + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in metrics"
    return float(match.group(1))


async def test_metrics_count_what_happens(server: Server) -> None:
    await server.deploy("loan-v1", LOAN)
    await server.spawn("loan-v1", "alice-secret-name")
    await server.send("alice-secret-name", "SUBMIT_INFO")
    await server.send("alice-secret-name", "APPROVE")  # not handled
    await server.send("nobody", "X")
    await server.write.post("/v1/events/batch", json={"events": [{"actorId": "alice-secret-name", "type": "PAY_FEE"}]})
    async with server.client() as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample(text, "skruntime_events_handled_total", via="http") == 1
    assert sample(text, "skruntime_events_handled_total", via="batch") == 1
    assert sample(text, "skruntime_events_rejected_total", reason="event-not-handled") == 1
    assert sample(text, "skruntime_events_rejected_total", reason="not-found") == 1
    assert sample(text, "skruntime_spawns_total") == 1
    assert sample(text, "skruntime_actors_resident") == 1
    assert sample(text, "skruntime_ready") == 1
    assert sample(text, "skruntime_store_commits_total") >= 3
    route = "/v1/actors/<actor_id>/events"
    assert sample(text, "skruntime_http_request_duration_seconds_count", route=route) == 3
    assert sample(text, "skruntime_http_request_duration_seconds_bucket", route=route, le="+Inf") == 3
    assert sample(text, "skruntime_http_responses_total", route=route, status="409") == 1
    # ids, payloads and keys never appear
    assert "alice-secret-name" not in text and "loan-v1" not in text and "sk_" not in text
    for line in text.splitlines():
        assert line.startswith("#") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? \S+", line), line
