"""``Client`` and ``AsyncClient``: the Python SDK over httpx.

``BaseClient`` builds requests and decodes answers (pure, no I/O); the two
clients only move bytes, with mirrored method names (``close``/``aclose``).
Pass ``transport=`` to run against an in-process app (httpx's
``ASGITransport``) or a mock.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import anyio
import httpx

from ._errors import ApiError, TransportError, error_from_problem
from ._models import (
    Actor,
    ApiKey,
    DecisionRecord,
    Deployment,
    DeployResult,
    Event,
    Preview,
    SendResult,
    Version,
)

__all__ = ["AsyncClient", "BaseClient", "Client"]

DEFAULT_URL = "http://127.0.0.1:8640"
_RETRY_STATUSES = frozenset({502, 503, 504})


class BaseClient:
    """Request building and response decoding shared by both clients.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8640``.
        api_key: an ``sk_...`` key (sent as a bearer token).
        timeout: seconds per request.
        retries: how often an event send is retried (with the same
            idempotency key) after a transport error or a 503.
    """

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, *, timeout: float = 30.0, retries: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries

    def _headers(self) -> dict[str, str]:
        return {} if self.api_key is None else {"Authorization": f"Bearer {self.api_key}"}

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code == 204:
            return None
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if response.is_success:
            return body
        if isinstance(body, dict) and "status" in body:
            raise error_from_problem(body)
        raise error_from_problem({"status": response.status_code, "type": "about:blank", "detail": response.text[:200]})

    @staticmethod
    def _deploy_body(
        version_id: str,
        definition: Mapping[str, Any],
        parent_id: str | None,
        history_path: Sequence[str] | None,
        expect_token: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": version_id, "definition": dict(definition)}
        if parent_id is not None:
            body["parentId"] = parent_id
        if history_path is not None:
            body["historyPath"] = list(history_path)
        if expect_token is not None:
            body["expect"] = {"previewToken": expect_token}
        return body

    @staticmethod
    def _deploy_result(data: dict[str, Any], created: bool) -> DeployResult:
        deployment = data.get("deployment")
        return DeployResult(Version.from_json(data["version"]), None if deployment is None else Deployment.from_json(deployment), created)

    @staticmethod
    def _spawn_body(
        version_id: str, actor_id: str | None, context: Mapping[str, Any] | None, guards: Mapping[str, bool] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"versionId": version_id}
        if actor_id is not None:
            body["actorId"] = actor_id
        if context is not None:
            body["context"] = dict(context)
        if guards:
            body["guards"] = dict(guards)
        return body

    @staticmethod
    def _event_body(event_type: str, payload: Mapping[str, Any] | None, guards: Mapping[str, bool] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": event_type}
        if payload is not None:
            body["payload"] = payload
        if guards:
            body["guards"] = dict(guards)
        return body

    @staticmethod
    def _batch_item(item: Any) -> ApiError | SendResult:
        if isinstance(item, dict) and "seq" in item:
            return SendResult.from_json(item)
        return error_from_problem(item)

    def _ws_url(self) -> str:
        return ("ws" + self.base_url[4:] if self.base_url.startswith("http") else self.base_url) + "/v1/watch"


class Client(BaseClient):
    """Synchronous client.  Use as a context manager or call :meth:`close`.

    Example::

        with Client("http://127.0.0.1:8640", api_key=key) as sk:
            sk.deploy("loan-v1", definition)
            sk.spawn("loan-v1", actor_id="alice")
            result = sk.send("alice", "SUBMIT_INFO")
    """

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, *, timeout: float = 30.0,
                 retries: int = 3, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retries=retries)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, retry: bool = False) -> tuple[Any, int]:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, json=json_body, params=_params(params), headers=headers)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(_backoff(attempt))
                    continue
                raise TransportError(f"{method} {path}: {exc}") from exc
            if retry and response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                time.sleep(_backoff(attempt))
                continue
            return self._decode(response), response.status_code
        raise AssertionError("unreachable")

    # -- versions and deployments ---------------------------------------------------

    def deploy(self, version_id: str, definition: Mapping[str, Any], *, parent_id: str | None = None,
               history_path: Sequence[str] | None = None, expect_token: str | None = None) -> DeployResult:
        """Deploy a version (and migrate the parent's actors if ``parent_id``)."""
        body = self._deploy_body(version_id, definition, parent_id, history_path, expect_token)
        data, status = self._request("POST", "/v1/machines", json_body=body)
        return self._deploy_result(data, status == 201)

    def preview(self, version_id: str, definition: Mapping[str, Any], *, parent_id: str,
                history_path: Sequence[str] | None = None, summary: bool = False) -> Preview:
        """Evaluate a deploy without writing anything."""
        body = self._deploy_body(version_id, definition, parent_id, history_path)
        data, _ = self._request("POST", "/v1/machines/preview", json_body=body, params={"summary": "true" if summary else None})
        return Preview.from_json(data)

    def version(self, version_id: str) -> Version:
        data, _ = self._request("GET", f"/v1/machines/{version_id}")
        return Version.from_json(data)

    def versions(self) -> list[Version]:
        data, _ = self._request("GET", "/v1/machines")
        return [Version.from_json(v) for v in data["items"]]

    def deployment(self, deployment_id: str) -> Deployment:
        data, _ = self._request("GET", f"/v1/deployments/{deployment_id}")
        return Deployment.from_json(data)

    def deployment_decisions(self, deployment_id: str, *, page_size: int = 500) -> Iterator[DecisionRecord]:
        """Every decision of a deployment (pages fetched as you iterate)."""
        cursor = None
        while True:
            data, _ = self._request("GET", f"/v1/deployments/{deployment_id}/decisions", params={"cursor": cursor, "limit": page_size})
            yield from (DecisionRecord.from_json(d) for d in data["items"])
            cursor = data.get("nextCursor")
            if not cursor:
                return

    # -- actors ---------------------------------------------------------------------------

    def spawn(self, version_id: str, *, actor_id: str | None = None, context: Mapping[str, Any] | None = None,
              guards: Mapping[str, bool] | None = None) -> Actor:
        body = self._spawn_body(version_id, actor_id, context, guards)
        data, _ = self._request("POST", "/v1/actors", json_body=body)
        return Actor.from_json(data)

    def send(self, actor_id: str, event_type: str, *, payload: Mapping[str, Any] | None = None, guards: Mapping[str, bool] | None = None,
             idempotency_key: str | None = None) -> SendResult:
        """Send an event; returns once it is durable.  Retried on transport
        errors and 503 with the same idempotency key (generated if not given),
        so a retry never applies the event twice."""
        key = idempotency_key or uuid.uuid4().hex
        data, _ = self._request("POST", f"/v1/actors/{actor_id}/events", json_body=self._event_body(event_type, payload, guards),
                                headers={"Idempotency-Key": key}, retry=True)
        return SendResult.from_json(data)

    def send_batch(self, events: Sequence[Mapping[str, Any]]) -> list[SendResult | ApiError]:
        """Up to 1,000 events ``{actorId, type, payload?, guards?, idempotencyKey?}``;
        results in order, each a :class:`SendResult` or the :class:`ApiError` for that item."""
        data, _ = self._request("POST", "/v1/events/batch", json_body={"events": [dict(e) for e in events]})
        return [self._batch_item(item) for item in data["results"]]

    def get(self, actor_id: str) -> Actor:
        data, _ = self._request("GET", f"/v1/actors/{actor_id}")
        return Actor.from_json(data)

    def list_actors(self, *, version_id: str | None = None, state: str | None = None, page_size: int = 500) -> Iterator[Actor]:
        """Actors, optionally filtered (pages fetched as you iterate)."""
        cursor = None
        while True:
            data, _ = self._request("GET", "/v1/actors", params={"versionId": version_id, "state": state, "cursor": cursor, "limit": page_size})
            yield from (Actor.from_json(a) for a in data["items"])
            cursor = data.get("nextCursor")
            if not cursor:
                return

    def history(self, actor_id: str, *, after: int = 0, page_size: int = 500) -> Iterator[Event]:
        """The actor's handled events after seq ``after``."""
        while True:
            data, _ = self._request("GET", f"/v1/actors/{actor_id}/events", params={"after": after, "limit": page_size})
            yield from (Event.from_json(e) for e in data["items"])
            if data.get("nextAfter") is None:
                return
            after = data["nextAfter"]

    def decisions(self, actor_id: str) -> list[DecisionRecord]:
        data, _ = self._request("GET", f"/v1/actors/{actor_id}/decisions")
        return [DecisionRecord.from_json(d) for d in data["items"]]

    # -- keys ---------------------------------------------------------------------------

    def create_key(self, scope: str, name: str | None = None) -> ApiKey:
        data, _ = self._request("POST", "/v1/keys", json_body={"scope": scope, **({"name": name} if name else {})})
        return ApiKey.from_json(data)

    def list_keys(self) -> list[ApiKey]:
        data, _ = self._request("GET", "/v1/keys")
        return [ApiKey.from_json(k) for k in data["items"]]

    def revoke_key(self, key_id: str) -> None:
        self._request("DELETE", f"/v1/keys/{key_id}")

    def watch(self, *, actor_id: str | None = None, version_id: str | None = None, from_seq: int | None = None) -> Iterator[dict[str, Any]]:
        """Change frames of one actor or one version, reconnecting (and, for an
        actor, resuming after the last seq seen) when the connection drops."""
        from httpx_ws import WebSocketDisconnect, connect_ws

        last = from_seq
        while True:
            try:
                with connect_ws(self._ws_url(), self._http) as ws:  # type: ignore[var-annotated]
                    ws.send_text(json.dumps(_subscribe(actor_id, version_id, last)))
                    while True:
                        frame = json.loads(ws.receive_text())
                        if frame.get("op") == "error":
                            raise error_from_problem(frame)
                        if frame.get("op") == "change":
                            if actor_id is not None:
                                last = frame["seq"]
                            yield frame
            except (WebSocketDisconnect, httpx.TransportError):
                time.sleep(0.05)


class AsyncClient(BaseClient):
    """Asynchronous client (trio or asyncio, through httpx/anyio).  Use as an
    async context manager or call :meth:`aclose`.  Methods mirror
    :class:`Client`."""

    def __init__(self, base_url: str = DEFAULT_URL, api_key: str | None = None, *, timeout: float = 30.0,
                 retries: int = 3, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, api_key, timeout=timeout, retries=retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers(), timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, json_body: Any = None, params: Mapping[str, Any] | None = None,
                       headers: Mapping[str, str] | None = None, retry: bool = False) -> tuple[Any, int]:
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            try:
                response = await self._http.request(method, path, json=json_body, params=_params(params), headers=headers)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    await _async_sleep(_backoff(attempt))
                    continue
                raise TransportError(f"{method} {path}: {exc}") from exc
            if retry and response.status_code in _RETRY_STATUSES and attempt + 1 < attempts:
                await _async_sleep(_backoff(attempt))
                continue
            return self._decode(response), response.status_code
        raise AssertionError("unreachable")

    async def deploy(self, version_id: str, definition: Mapping[str, Any], *, parent_id: str | None = None,
                     history_path: Sequence[str] | None = None, expect_token: str | None = None) -> DeployResult:
        body = self._deploy_body(version_id, definition, parent_id, history_path, expect_token)
        data, status = await self._request("POST", "/v1/machines", json_body=body)
        return self._deploy_result(data, status == 201)

    async def preview(self, version_id: str, definition: Mapping[str, Any], *, parent_id: str,
                      history_path: Sequence[str] | None = None, summary: bool = False) -> Preview:
        body = self._deploy_body(version_id, definition, parent_id, history_path)
        data, _ = await self._request("POST", "/v1/machines/preview", json_body=body, params={"summary": "true" if summary else None})
        return Preview.from_json(data)

    async def version(self, version_id: str) -> Version:
        data, _ = await self._request("GET", f"/v1/machines/{version_id}")
        return Version.from_json(data)

    async def versions(self) -> list[Version]:
        data, _ = await self._request("GET", "/v1/machines")
        return [Version.from_json(v) for v in data["items"]]

    async def deployment(self, deployment_id: str) -> Deployment:
        data, _ = await self._request("GET", f"/v1/deployments/{deployment_id}")
        return Deployment.from_json(data)

    async def deployment_decisions(self, deployment_id: str, *, page_size: int = 500) -> AsyncIterator[DecisionRecord]:
        cursor = None
        while True:
            data, _ = await self._request("GET", f"/v1/deployments/{deployment_id}/decisions", params={"cursor": cursor, "limit": page_size})
            for d in data["items"]:
                yield DecisionRecord.from_json(d)
            cursor = data.get("nextCursor")
            if not cursor:
                return

    async def spawn(self, version_id: str, *, actor_id: str | None = None, context: Mapping[str, Any] | None = None,
                    guards: Mapping[str, bool] | None = None) -> Actor:
        body = self._spawn_body(version_id, actor_id, context, guards)
        data, _ = await self._request("POST", "/v1/actors", json_body=body)
        return Actor.from_json(data)

    async def send(self, actor_id: str, event_type: str, *, payload: Mapping[str, Any] | None = None, guards: Mapping[str, bool] | None = None,
                   idempotency_key: str | None = None) -> SendResult:
        key = idempotency_key or uuid.uuid4().hex
        data, _ = await self._request("POST", f"/v1/actors/{actor_id}/events", json_body=self._event_body(event_type, payload, guards),
                                      headers={"Idempotency-Key": key}, retry=True)
        return SendResult.from_json(data)

    async def send_batch(self, events: Sequence[Mapping[str, Any]]) -> list[SendResult | ApiError]:
        data, _ = await self._request("POST", "/v1/events/batch", json_body={"events": [dict(e) for e in events]})
        return [self._batch_item(item) for item in data["results"]]

    async def get(self, actor_id: str) -> Actor:
        data, _ = await self._request("GET", f"/v1/actors/{actor_id}")
        return Actor.from_json(data)

    async def list_actors(self, *, version_id: str | None = None, state: str | None = None, page_size: int = 500) -> AsyncIterator[Actor]:
        cursor = None
        while True:
            data, _ = await self._request("GET", "/v1/actors", params={"versionId": version_id, "state": state, "cursor": cursor, "limit": page_size})
            for a in data["items"]:
                yield Actor.from_json(a)
            cursor = data.get("nextCursor")
            if not cursor:
                return

    async def history(self, actor_id: str, *, after: int = 0, page_size: int = 500) -> AsyncIterator[Event]:
        while True:
            data, _ = await self._request("GET", f"/v1/actors/{actor_id}/events", params={"after": after, "limit": page_size})
            for e in data["items"]:
                yield Event.from_json(e)
            if data.get("nextAfter") is None:
                return
            after = data["nextAfter"]

    async def decisions(self, actor_id: str) -> list[DecisionRecord]:
        data, _ = await self._request("GET", f"/v1/actors/{actor_id}/decisions")
        return [DecisionRecord.from_json(d) for d in data["items"]]

    async def create_key(self, scope: str, name: str | None = None) -> ApiKey:
        data, _ = await self._request("POST", "/v1/keys", json_body={"scope": scope, **({"name": name} if name else {})})
        return ApiKey.from_json(data)

    async def list_keys(self) -> list[ApiKey]:
        data, _ = await self._request("GET", "/v1/keys")
        return [ApiKey.from_json(k) for k in data["items"]]

    async def revoke_key(self, key_id: str) -> None:
        await self._request("DELETE", f"/v1/keys/{key_id}")

    async def watch(self, *, actor_id: str | None = None, version_id: str | None = None,
                    from_seq: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Change frames, as :meth:`Client.watch` (an async iterator)."""
        from httpx_ws import WebSocketDisconnect, aconnect_ws

        last = from_seq
        while True:
            try:
                async with aconnect_ws(self._ws_url(), self._http) as ws:  # type: ignore[var-annotated]
                    await ws.send_text(json.dumps(_subscribe(actor_id, version_id, last)))
                    while True:
                        frame = json.loads(await ws.receive_text())
                        if frame.get("op") == "error":
                            raise error_from_problem(frame)
                        if frame.get("op") == "change":
                            if actor_id is not None:
                                last = frame["seq"]
                            yield frame
            except (WebSocketDisconnect, httpx.TransportError):
                await _async_sleep(0.05)


def _subscribe(actor_id: str | None, version_id: str | None, from_seq: int | None) -> dict[str, Any]:
    if (actor_id is None) == (version_id is None):
        raise ValueError("watch exactly one of actor_id or version_id")
    frame: dict[str, Any] = {"op": "subscribe"}
    if actor_id is not None:
        frame["actorId"] = actor_id
        if from_seq is not None:
            frame["fromSeq"] = from_seq
    else:
        frame["versionId"] = version_id
    return frame


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else {k: v for k, v in params.items() if v is not None}


def _backoff(attempt: int) -> float:
    return min(2.0, 0.05 * 2.0**attempt)


async def _async_sleep(seconds: float) -> None:
    # trio or asyncio, whichever runs the caller (anyio comes with httpx)
    await anyio.sleep(seconds)

