"""``WS /v1/watch``: watch state changes, and send events at high volume.

JSON text frames (SPEC section 8).  The API key comes in the
``Authorization`` header of the handshake, or, for browsers, in a first
frame ``{"op": "auth", "key": "sk_..."}`` sent within ten seconds.  An
invalid header is refused during the handshake (HTTP 401 problem+json).

Client frames:

* ``{"op": "subscribe", "actorId": ...}`` or ``{"op": "subscribe",
  "versionId": ...}``; an actor subscription may carry ``"fromSeq": n``:
  the history events with ``seq > n`` and the actor's migrations at or
  after seq n are replayed as change frames first (see ``_Replay``), then
  live changes follow, with no gap and no duplicate.
* ``{"op": "unsubscribe", "actorId" | "versionId": ...}``.
* ``{"op": "send", "id": <correlation>, "actorId": ..., "event": {type,
  payload?, guards?}, "idempotencyKey"?: ...}`` (needs scope ``write``).
  Sends are pipelined: the connection submits each to the runtime in the
  order received (so events to one actor apply in that order) without
  waiting for the previous one, and answers each with ``{"op": "result",
  "id", "status", "body"}`` once it is durable (``body`` is the send
  response, or a problem document).
* ``{"op": "batch", "id": <correlation>, "events": [{actorId, type,
  payload?, guards?, idempotencyKey?}, ...]}`` (scope ``write``): many
  events in one frame, exactly as ``POST /v1/events/batch`` takes them (at
  most ``limits.max_batch_events``), pipelined like sends and answered by
  one ``{"op": "result", "id", "status": 200, "body": {"results": [...]}}``
  once all are durable, each item a send response or a problem.  One frame
  per event costs the WebSocket stack more than applying the event does, so
  high-volume senders put many events in a frame.
* ``{"op": "auth", "key": ...}``: authenticate (again).

Server frames: ``change`` (``{op, actorId, versionId, seq, stateValue,
status, event, at}``), ``result``, and ``error`` (``{op, status, type,
detail}``, plus ``pointer`` when there is one) for frames that cannot be
applied.

Close codes: 4001 the key is missing, invalid or was revoked; 4008 the
watcher fell behind (more than ``runtime.watch_queue`` frames queued), resume
with ``fromSeq``; 1001 the server is shutting down.

How a resume avoids gaps and duplicates: the connection subscribes to the
hub *before* it reads the history; while it replays, live frames of that
actor are set aside; after the replay, the set-aside frames with a seq above
the last replayed one are sent, and from then on frames at or below the last
seq sent for that actor are dropped.  Frames for one connection are written
by the ASGI server under one lock, in the order they were produced.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import orjson
import trio
from quart import websocket
from quart_trio.wrappers import TrioResponse as Response
from quart_trio.wrappers import TrioWebsocket

from .._exceptions import (
    BadRequest,
    Forbidden,
    RequestError,
    ServiceUnavailable,
    Unauthorized,
    Unprocessable,
)
from ..runtime import Overflowed, Runtime, Send, Subscription, batch_results
from ._auth import ApiKey
from ._problems import INTERNAL_PROBLEM, problem_response
from ._routes import Api, ServerState

__all__ = ["CLOSE_GOING_AWAY", "CLOSE_OVERFLOW", "CLOSE_UNAUTHORIZED", "watch_routes"]

log = logging.getLogger("skruntime.server")

CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNAUTHORIZED: Final = 4001
CLOSE_OVERFLOW: Final = 4008
AUTH_TIMEOUT: Final = 10.0  # seconds to send the auth frame when there was no header
MAX_IN_FLIGHT: Final = 4096  # events awaiting their result, per connection (a batch frame counts its events; then reading pauses)
MAX_SUBSCRIPTIONS: Final = 10_000  # actors and versions watched, per connection
REPLAY_PAGE: Final = 1000

_SEND_FIELDS: Final = frozenset({"op", "id", "actorId", "event", "idempotencyKey"})
_BATCH_FIELDS: Final = frozenset({"op", "id", "events"})

# What the resulter answers, in submission order: a send's command, a batch's
# commands (each a command or the item's error), or a frame's error.
_Submitted = tuple[Any, Send | list[Send | RequestError] | None, RequestError | None]


def watch_routes(api: Api) -> None:
    """Register ``WS /v1/watch``."""
    state = api.state

    async def watch() -> Response | None:
        ws: TrioWebsocket = websocket._get_current_object()  # type: ignore[attr-defined]
        if not state.ready:
            return problem_response(ServiceUnavailable("the server is starting or stopping; retry shortly"))
        key: ApiKey | None = None
        header = ws.headers.get("Authorization")
        if header:
            try:
                key = state.auth.authenticate(header)
            except Unauthorized as exc:
                return problem_response(exc)
        await ws.accept()
        await _Connection(state, ws, key).run()
        return None

    api.websocket("/v1/watch", watch)


class _Connection:
    """One WebSocket connection: a reader (client frames, replays), a drain
    (live change frames) and a resulter (send results, in submission order)."""

    def __init__(self, state: ServerState, ws: TrioWebsocket, key: ApiKey | None) -> None:
        self.state = state
        self.runtime = state.runtime
        self.ws = ws
        self.key = key
        self.sub: Subscription = state.runtime.hub.open()
        self.capacity = state.runtime.hub.capacity
        self.replaying: dict[str, list[dict[str, Any]]] = {}  # actor -> live frames set aside during its replay
        self.last_seq: dict[str, int] = {}  # actor -> last seq sent (for actors that were replayed)
        self.close_code: int | None = None
        self.close_reason = ""
        self.scope = trio.CancelScope()
        self.results_in, self.results_out = trio.open_memory_channel[_Submitted](MAX_IN_FLIGHT)
        self.in_flight = 0  # events submitted and not yet answered
        self.room = trio.lowlevel.ParkingLot()

    async def run(self) -> None:
        metrics = self.state.metrics
        metrics.ws_connections += 1
        remove_listener = self.state.auth.on_revoke(self._on_revoke)
        try:
            with self.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._drain)
                    nursery.start_soon(self._resulter)
                    nursery.start_soon(self._watch_shutdown)
                    await self._read_loop()
                    nursery.cancel_scope.cancel()
        finally:
            remove_listener()
            self.sub.close()
            metrics.ws_connections -= 1
        if self.close_code is not None:
            if self.close_code == CLOSE_OVERFLOW:
                metrics.ws_overflows += 1
            await self.ws.close(self.close_code, self.close_reason)

    def close(self, code: int, reason: str) -> None:
        """End the connection with ``code`` (the first reason given wins)."""
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        self.scope.cancel()

    def _on_revoke(self, key: ApiKey) -> None:
        if self.key is not None and key.id == self.key.id:
            self.close(CLOSE_UNAUTHORIZED, "the API key was revoked")

    async def _watch_shutdown(self) -> None:
        await self.state.closing.wait()
        self.close(CLOSE_GOING_AWAY, "the server is shutting down")

    async def _send(self, frame: Mapping[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def _error(self, error: RequestError, correlation: Any = None) -> None:
        frame: dict[str, Any] = {"op": "error", "status": error.status, "type": error.type_uri, "detail": error.detail}
        pointer = getattr(error, "pointer", None)
        if pointer is not None:
            frame["pointer"] = pointer
        if correlation is not None:
            frame["id"] = correlation
        await self._send(frame)

    # -- client frames -------------------------------------------------------------

    async def _read_loop(self) -> None:
        pending: str | bytes | None = None
        if self.key is None:
            with trio.move_on_after(AUTH_TIMEOUT):
                pending = await self.ws.receive()
            if pending is None:
                await self._error(Unauthorized('no API key: send {"op": "auth", "key": "sk_..."} first'))
                self.close(CLOSE_UNAUTHORIZED, "authentication timed out")
                return
        while True:
            raw = pending if pending is not None else await self.ws.receive()
            pending = None
            try:
                frame = _parse(raw)
                op = frame.get("op")
                if op == "auth":
                    self.key = self.state.auth.check_secret(frame.get("key"))
                    continue
                if self.key is None:
                    await self._error(Unauthorized("authenticate first: {\"op\": \"auth\", \"key\": \"sk_...\"}"))
                    self.close(CLOSE_UNAUTHORIZED, "not authenticated")
                    return
                if not self.state.auth.is_current(self.key):
                    await self._error(Unauthorized("the API key was revoked"))
                    self.close(CLOSE_UNAUTHORIZED, "the API key was revoked")
                    return
                if op == "send":
                    await self._submit(frame)
                elif op == "batch":
                    await self._submit_batch(frame)
                elif op == "subscribe":
                    await self._subscribe(frame)
                elif op == "unsubscribe":
                    self._unsubscribe(frame)
                else:
                    raise BadRequest("op must be one of 'auth', 'subscribe', 'unsubscribe', 'send', 'batch'")
            except Unauthorized as exc:
                await self._error(exc)
                self.close(CLOSE_UNAUTHORIZED, "invalid API key")
                return
            except RequestError as exc:
                await self._error(exc)

    # -- sends ---------------------------------------------------------------------

    @staticmethod
    def _correlation(frame: Mapping[str, Any]) -> Any:
        """The id of a send or batch frame (BadRequest without one: there
        would be nothing to answer the result to)."""
        correlation = frame.get("id")
        if isinstance(correlation, bool) or not isinstance(correlation, (str, int, float)):
            raise BadRequest(f"a {frame.get('op')} frame needs an 'id' (a string or a number) to correlate its result")
        return correlation

    def _check_writer(self, frame: Mapping[str, Any], fields: frozenset[str]) -> None:
        """Checks every sending frame passes: known fields, scope, readiness."""
        unknown = sorted(set(frame) - fields)
        if unknown:
            raise Unprocessable(f"unknown field {unknown[0]!r}", "/" + unknown[0])
        assert self.key is not None
        if not self.key.allows("write"):
            raise Forbidden(f"this API key has scope {self.key.scope!r}; sending events needs 'write'")
        if not self.runtime.ready:
            raise ServiceUnavailable("the server is starting or stopping; retry shortly")

    async def _submit(self, frame: Mapping[str, Any]) -> None:
        """Validate a send frame and hand it to its shard (in arrival order);
        its result is written by the resulter once durable."""
        correlation = self._correlation(frame)
        try:
            self._check_writer(frame, _SEND_FIELDS)
            actor_id = frame.get("actorId")
            if not isinstance(actor_id, str):
                raise Unprocessable("actorId must be a string", "/actorId")
            idempotency_key = frame.get("idempotencyKey")
            if idempotency_key is not None and (not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 256):
                raise Unprocessable("idempotencyKey must be a string of 1-256 characters", "/idempotencyKey")
            self.state.router.require_local(actor_id)
            command = self.runtime.make_send(actor_id, frame.get("event"), idempotency_key, "/event")
            await self._reserve(1)
            try:
                await self.runtime.submit(command)
            except RequestError:
                self._release(1)
                raise
        except RequestError as exc:
            await self.results_in.send((correlation, None, exc))
            return
        await self.results_in.send((correlation, command, None))

    async def _submit_batch(self, frame: Mapping[str, Any]) -> None:
        """Validate a batch frame and hand its events to their shards (in
        order); one result frame answers all of them once durable."""
        correlation = self._correlation(frame)
        try:
            self._check_writer(frame, _BATCH_FIELDS)
            if not isinstance(frame.get("events"), list):
                raise Unprocessable("events must be a list of events", "/events")
            commands = self.runtime.make_batch(frame["events"])
            n = _submitted(commands)
            await self._reserve(n)
            try:
                await self.runtime.submit_batch(commands)
            except RequestError:
                self._release(n)
                raise
        except RequestError as exc:
            await self.results_in.send((correlation, None, exc))
            return
        await self.results_in.send((correlation, commands, None))

    async def _reserve(self, n: int) -> None:
        """Wait until ``n`` more events may be in flight (reading pauses
        meanwhile); a batch larger than the limit goes in alone."""
        while self.in_flight and self.in_flight + n > MAX_IN_FLIGHT:
            await self.room.park()
        self.in_flight += n

    def _release(self, n: int) -> None:
        self.in_flight -= n
        self.room.unpark_all()

    async def _resulter(self) -> None:
        metrics = self.state.metrics
        async for correlation, command, error in self.results_out:
            body: Any
            if command is not None:
                try:
                    if isinstance(command, list):
                        results = await batch_results(command)
                        metrics.batch("ws", results)
                        body = {"results": results}
                    else:
                        body = await command.reply.wait()
                        metrics.handled("ws")
                    status = 200
                except RequestError as exc:
                    error = exc
                except Exception:  # a bug: logged, answered without details
                    log.exception("a WebSocket send failed unexpectedly")
                    body = dict(INTERNAL_PROBLEM)
                    status = 500
            if error is not None:
                metrics.rejected(error.slug)
                body = error.to_problem()
                status = error.status
            await self._send({"op": "result", "id": correlation, "status": status, "body": body})
            if command is not None:
                self._release(1 if isinstance(command, Send) else _submitted(command))

    # -- watching ------------------------------------------------------------------

    async def _subscribe(self, frame: Mapping[str, Any]) -> None:
        actor_id, version_id = _target(frame)
        if len(self.sub.actors) + len(self.sub.versions) >= MAX_SUBSCRIPTIONS:
            raise Unprocessable(f"a connection watches at most {MAX_SUBSCRIPTIONS} actors and versions; use another connection")
        from_seq = frame.get("fromSeq")
        if version_id is not None:
            if from_seq is not None:
                raise Unprocessable("fromSeq applies to actor subscriptions only", "/fromSeq")
            self.runtime.get_version(version_id)  # 404 if unknown
            self.runtime.hub.subscribe(self.sub, version_id=version_id)
            return
        assert actor_id is not None
        self.state.router.require_local(actor_id)
        self.runtime.actor(actor_id)  # 404, or 409 if quarantined
        if from_seq is None:
            self.runtime.hub.subscribe(self.sub, actor_id=actor_id)
            return
        if isinstance(from_seq, bool) or not isinstance(from_seq, int) or from_seq < 0:
            raise Unprocessable("fromSeq must be an integer >= 0", "/fromSeq")
        await self._replay(actor_id, from_seq)

    async def _replay(self, actor_id: str, from_seq: int) -> None:
        stash: list[dict[str, Any]] = []
        self.replaying[actor_id] = stash
        try:
            self.runtime.hub.subscribe(self.sub, actor_id=actor_id)  # before reading: nothing falls in between
            moves = await self.runtime.migrations(actor_id)
            replay = _Replay(actor_id, moves, from_seq, self.runtime.actor(actor_id))
            after: int | None = from_seq
            while after is not None:
                events, after = await self.runtime.history(actor_id, after=after, limit=REPLAY_PAGE)
                for event in events:
                    for frame in replay.frames(event):
                        await self._send(frame)
            for frame in replay.rest():
                await self._send(frame)
            self.last_seq[actor_id] = max(replay.last, self.last_seq.get(actor_id, -1))
            while stash:  # the drain keeps appending while we send: no await between check and delete
                live = stash.pop(0)
                if live["event"] is None:
                    if (live["seq"], live["versionId"]) not in replay.moved:
                        await self._send(live)
                elif live["seq"] > self.last_seq[actor_id]:
                    self.last_seq[actor_id] = max(live["seq"], self.last_seq[actor_id])
                    await self._send(live)
        finally:
            del self.replaying[actor_id]

    def _unsubscribe(self, frame: Mapping[str, Any]) -> None:
        actor_id, version_id = _target(frame)
        self.runtime.hub.unsubscribe(self.sub, actor_id=actor_id, version_id=version_id)

    async def _drain(self) -> None:
        try:
            async for frame in self.sub:
                actor_id = frame["actorId"]
                stash = self.replaying.get(actor_id)
                if stash is not None:
                    if len(stash) >= self.capacity:
                        raise Overflowed()
                    stash.append(frame)
                    continue
                last = self.last_seq.get(actor_id)
                if last is not None:
                    if frame["event"] is not None and frame["seq"] <= last:
                        continue  # already replayed
                    self.last_seq[actor_id] = max(frame["seq"], last)
                await self._send(frame)
        except Overflowed:
            self.close(CLOSE_OVERFLOW, "the watcher fell behind; reconnect and resume with fromSeq")


class _Replay:
    """The change frames of an actor's past, for a resume from ``fromSeq``:
    a frame per history event after ``from_seq``, each with the version the
    actor was on when it handled it, and a migration frame (``event: null``,
    the new version) for each of the actor's migrations at or after
    ``from_seq``, where it happened: a move at seq n came after event n.
    """

    def __init__(self, actor_id: str, moves: list[dict[str, Any]], from_seq: int, actor: Any) -> None:
        self.actor_id = actor_id
        self.moves = moves
        self.pending = [move for move in moves if move["seq"] >= from_seq]
        self.actor = actor
        self.last = from_seq
        self.moved: set[tuple[int, str]] = set()  # (seq, version) of the migration frames replayed

    def frames(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        seq = event["seq"]
        out = self._moves_before(seq)
        version_id = next((move["fromVersion"] for move in self.moves if move["seq"] >= seq), self.actor.version_id)
        out.append(
            {
                "op": "change",
                "actorId": self.actor_id,
                "versionId": version_id,
                "seq": seq,
                "stateValue": event["stateValue"],
                "status": event["status"],
                "event": event["type"],
                "at": event["time"],
            }
        )
        self.last = seq
        return out

    def rest(self) -> list[dict[str, Any]]:
        """The migrations after the last event."""
        return self._moves_before(None)

    def _moves_before(self, seq: int | None) -> list[dict[str, Any]]:
        out = []
        while self.pending and (seq is None or self.pending[0]["seq"] < seq):
            move = self.pending.pop(0)
            latest = move is self.moves[-1] and move["seq"] == self.actor.seq
            out.append(
                {
                    "op": "change",
                    "actorId": self.actor_id,
                    "versionId": move["toVersion"],
                    "seq": move["seq"],
                    "stateValue": move["landingState"],
                    # a move followed by anything was not into a final state
                    "status": self.actor.snapshot.status if latest else "active",
                    "event": None,
                    "at": move["time"],
                }
            )
            self.moved.add((move["seq"], move["toVersion"]))
        return out


def _submitted(commands: list[Send | RequestError]) -> int:
    return sum(1 for command in commands if isinstance(command, Send))


def _parse(raw: str | bytes) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise BadRequest("frames are JSON text, not binary")
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise BadRequest("a frame is a JSON object with an 'op'")
    return frame


def _target(frame: Mapping[str, Any]) -> tuple[str | None, str | None]:
    actor_id = frame.get("actorId")
    version_id = frame.get("versionId")
    if (actor_id is None) == (version_id is None):
        raise Unprocessable("give exactly one of actorId and versionId")
    if actor_id is not None and not isinstance(actor_id, str):
        raise Unprocessable("actorId must be a string", "/actorId")
    if version_id is not None and not isinstance(version_id, str):
        raise Unprocessable("versionId must be a string", "/versionId")
    return actor_id, version_id
