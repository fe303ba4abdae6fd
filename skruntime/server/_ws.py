"""``WS /v1/watch``: watch state changes, and send events at high volume.

JSON text frames (SPEC section 8).  The API key comes in the
``Authorization`` header of the handshake, or, for browsers, in a first
frame ``{"op": "auth", "key": "sk_..."}`` sent within ten seconds.  An
invalid header is refused during the handshake (HTTP 401 problem+json).

Client frames:

* ``{"op": "subscribe", "actorId": ...}`` or ``{"op": "subscribe",
  "versionId": ...}``, optionally with ``"fromSeq": n``: the history events
  with ``seq > n`` and the migrations at or after seq n are replayed as
  change frames first (see ``_Replay``; for a version, of each actor now on
  it or on a descendant, what a watcher of the version saw), then live
  changes follow, with no gap and no duplicate.
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
hub *before* it reads the history; while it replays, live frames are set
aside; after the replay, the set-aside frames that the replay did not send
already are sent (an event frame above the last seq replayed for its actor,
a migration frame not replayed), and from then on event frames at or below
the last seq sent for a replayed actor are dropped.  Frames for one
connection are written by the ASGI server under one lock, in the order they
were produced.
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
MAX_VERSION_REPLAY: Final = 10_000  # actors a version resume (fromSeq) replays

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
        self.stash: list[dict[str, Any]] | None = None  # live frames set aside while a replay runs
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
        if from_seq is not None and (isinstance(from_seq, bool) or not isinstance(from_seq, int) or from_seq < 0):
            raise Unprocessable("fromSeq must be an integer >= 0", "/fromSeq")
        hub = self.runtime.hub
        if version_id is not None:
            self.runtime.get_version(version_id)  # 404 if unknown
            if from_seq is None:
                hub.subscribe(self.sub, version_id=version_id)
                return
            actor_ids = await self._version_actors(version_id)
            hub.subscribe(self.sub, version_id=version_id)  # before reading: nothing falls in between
            await self._replay(actor_ids, from_seq, version_id)
            return
        assert actor_id is not None
        self.state.router.require_local(actor_id)
        self.runtime.actor(actor_id)  # 404, or 409 if quarantined
        hub.subscribe(self.sub, actor_id=actor_id)  # before reading: nothing falls in between
        if from_seq is not None:
            self.last_seq[actor_id] = max(from_seq, self.last_seq.get(actor_id, -1))
            await self._replay([actor_id], from_seq, None)

    async def _version_actors(self, version_id: str) -> list[str]:
        """The actors a resume of a version subscription replays: those on
        the version and on its descendants (which may have moved from it).
        A scan of every resident actor, one shard between checkpoints."""
        versions = {version_id}
        for version in self.runtime.versions:  # deploy order: a parent comes before its children
            if version.parent_id in versions:
                versions.add(version.id)
        found: list[str] = []
        for shard in self.runtime.shards:
            await trio.lowlevel.checkpoint()
            for actor_id, actor in list(shard.actors.items()):
                if actor.version_id in versions:
                    found.append(actor_id)
                    if len(found) > MAX_VERSION_REPLAY:
                        raise Unprocessable(
                            f"a version resume replays at most {MAX_VERSION_REPLAY:,} actors, and {version_id} "
                            "has more (with its descendants): subscribe without fromSeq, and read current "
                            "states from GET /v1/actors?versionId=",
                            "/fromSeq",
                        )
        return found

    async def _replay(self, actor_ids: list[str], from_seq: int, version_id: str | None) -> None:
        """Send the past of ``actor_ids`` after ``from_seq`` (for a version,
        only what its watchers saw live), then the live frames that arrived
        meanwhile, without duplicates.  The caller has subscribed already."""
        stash: list[dict[str, Any]] = []
        self.stash = stash
        moved: dict[str, set[tuple[int, str]]] = {}
        try:
            for actor_id in actor_ids:
                try:
                    actor = self.runtime.actor(actor_id)
                    moves = await self.runtime.migrations(actor_id)
                except RequestError:
                    if version_id is None:
                        raise
                    continue  # quarantined, or gone since the list was made
                replay = _Replay(actor_id, moves, from_seq, actor, version_id)
                after: int | None = from_seq
                while after is not None:
                    events, after = await self.runtime.history(actor_id, after=after, limit=REPLAY_PAGE)
                    for event in events:
                        for frame in replay.frames(event):
                            await self._send(frame)
                for frame in replay.rest():
                    await self._send(frame)
                if replay.sent:
                    self.last_seq[actor_id] = max(replay.last, self.last_seq.get(actor_id, -1))
                if replay.moved:
                    moved[actor_id] = replay.moved
            while stash:  # the drain keeps appending while we send: no await between check and delete
                live = stash.pop(0)
                if self._fresh(live, moved):
                    await self._send(live)
        finally:
            self.stash = None

    def _fresh(self, frame: Mapping[str, Any], moved: Mapping[str, set[tuple[int, str]]] | None = None) -> bool:
        """Whether a live frame was not sent already by a replay."""
        actor_id = frame["actorId"]
        if frame["event"] is None:  # a migration: at the seq of the event it followed
            return moved is None or (frame["seq"], frame["versionId"]) not in moved.get(actor_id, ())
        last = self.last_seq.get(actor_id)
        if last is not None:
            if frame["seq"] <= last:
                return False
            self.last_seq[actor_id] = frame["seq"]
        return True

    def _unsubscribe(self, frame: Mapping[str, Any]) -> None:
        actor_id, version_id = _target(frame)
        self.runtime.hub.unsubscribe(self.sub, actor_id=actor_id, version_id=version_id)

    async def _drain(self) -> None:
        try:
            async for frame in self.sub:
                stash = self.stash
                if stash is not None:
                    if len(stash) >= self.capacity:
                        raise Overflowed()
                    stash.append(frame)
                    continue
                if self._fresh(frame):
                    await self._send(frame)
        except Overflowed:
            self.close(CLOSE_OVERFLOW, "the watcher fell behind; reconnect and resume with fromSeq")


class _Replay:
    """The change frames of an actor's past, for a resume from ``fromSeq``:
    a frame per history event after ``from_seq``, each with the version the
    actor was on when it handled it, and a migration frame (``event: null``,
    the new version) for each of the actor's migrations at or after
    ``from_seq``, where it happened: a move at seq n came after event n.
    For a version's watcher (``version_id``), only what it saw live: the
    events handled on that version, and the moves into or out of it.
    """

    def __init__(self, actor_id: str, moves: list[dict[str, Any]], from_seq: int, actor: Any, version_id: str | None) -> None:
        self.actor_id = actor_id
        self.moves = moves
        self.pending = [move for move in moves if move["seq"] >= from_seq]
        self.actor = actor
        self.version_id = version_id
        self.last = from_seq
        self.sent = False
        self.moved: set[tuple[int, str]] = set()  # (seq, version) of the migration frames replayed

    def frames(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        seq = event["seq"]
        out = self._moves_before(seq)
        version_id = next((move["fromVersion"] for move in self.moves if move["seq"] >= seq), self.actor.version_id)
        if self.version_id is None or version_id == self.version_id:
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
            self.sent = True
        return out

    def rest(self) -> list[dict[str, Any]]:
        """The migrations after the last event."""
        return self._moves_before(None)

    def _moves_before(self, seq: int | None) -> list[dict[str, Any]]:
        out = []
        while self.pending and (seq is None or self.pending[0]["seq"] < seq):
            move = self.pending.pop(0)
            if self.version_id is not None and self.version_id not in (move["fromVersion"], move["toVersion"]):
                continue
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
            self.sent = True
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
