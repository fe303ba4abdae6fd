"""The runtime: versions, shards of actors, and the operations the API offers.

``Runtime`` validates requests, finds the shard that owns an actor
(``shard_of``; single-node, every shard lives here), hands it a command and
waits for the durable answer.  ``run()`` is the lifecycle: acquire every shard
at a new epoch (fencing any older process on the same data), load versions and
actors (recovery), start one task per shard, report ready, and on ``stop()``
drain what is queued before returning.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from .._config import Config
from .._exceptions import (
    BadRequest,
    Conflict,
    DefinitionError,
    InfiniteLoopError,
    InvalidDefinition,
    NotFound,
    RequestError,
    ServiceUnavailable,
    SnapshotError,
    Unprocessable,
)
from .._util import CONTROL_CHARACTERS as _CONTROL
from ..statechart import Limits, Machine
from ..store import MetaBatch, Store, shard_of
from ._actor import Actor, answered_true, events_in, iso_time, trace_entry
from ._clock import Clock, TrioClock
from ._deploy import Deployments, Move, check_expect, pending_moves
from ._commands import Command, Send, Spawn, Task
from ._shard import Shard
from ._worker import Worker, group_shards
from ._versions import Registry, Version, body_digest, version_digest
from ._watch import Hub

__all__ = ["Runtime"]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@~-]{0,127}")
RESERVED_EVENT_PREFIX = "xstate."
_EVENT_FIELDS = frozenset({"type", "payload", "guards"})
_BATCH_FIELDS = _EVENT_FIELDS | {"actorId", "idempotencyKey"}


# Every request computes its actor's shard; a process sees the same actors
# again and again, so the hash is memoised (bounded).
_shard_index = functools.lru_cache(maxsize=1 << 16)(shard_of)
_FILL_SLICE = 256  # resident rows filled between two yields after start-up (~1 ms)
_MAX_ID = 128  # characters of an id (_ID); event types have the same bound


def shard_index(actor_id: str, shard_count: int) -> int:
    """``shard_of``, memoised for strings that can be valid ids: callers
    pass unchecked ones too (URL ids, WebSocket actorIds), and a long one
    kept by the cache would pin up to a request body each."""
    if len(actor_id) > _MAX_ID:
        return shard_of(actor_id, shard_count)
    return _shard_index(actor_id, shard_count)


def _at(pointer: str, index: int | None) -> str:
    return pointer if index is None else f"{pointer}/{index}"


def valid_id(value: Any) -> bool:
    """Whether ``value`` is a valid actor or version id."""
    return type(value) is str and len(value) <= _MAX_ID and _valid_id(value)


def valid_event_type(value: Any) -> bool:
    """Whether ``value`` is a valid event type (see :func:`check_event_type`)."""
    return type(value) is str and len(value) <= _MAX_ID and _event_type_problem(value) is None


def check_id(value: Any, what: str, pointer: str) -> str:
    """Validate an actor or version id."""
    if not valid_id(value):
        raise Unprocessable(
            f"{what} must be 1-128 characters of letters, digits and . _ : @ ~ -, starting with a letter or digit",
            pointer,
        )
    return str(value)


def check_event_type(value: Any, pointer: str) -> str:
    """Validate an event type sent by a caller (SPEC section 3)."""
    if type(value) is str:
        problem = _event_type_problem(value) if len(value) <= _MAX_ID else "an event type is a string of 1-128 characters"
        if problem is None:
            return value
    else:
        problem = "an event type is a string of 1-128 characters"
    raise Unprocessable(problem, pointer)


# Ids and event types repeat from request to request: their checks are
# memoised (bounded, and only for strings short enough to be valid), which
# matters on the batch path.
@functools.lru_cache(maxsize=1 << 14)
def _valid_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


@functools.lru_cache(maxsize=1 << 12)
def _event_type_problem(value: str) -> str | None:
    if not 1 <= len(value) <= 128:
        return "an event type is a string of 1-128 characters"
    if _CONTROL.search(value):
        return "an event type cannot contain control characters"
    if value.startswith(RESERVED_EVENT_PREFIX):
        return "event types starting with 'xstate.' are reserved for the runtime"
    return None


MAX_JSON_DEPTH = 64  # nesting of payloads, contexts and definitions (the store serializes ~250)


def check_depth(value: Any, pointer: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (it could not be stored)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise Unprocessable(f"JSON is nested more than {limit} levels deep", pointer)
        stack.extend((child, depth + 1) for child in children)


def check_guards(value: Any, pointer: str) -> dict[str, bool] | None:
    """Validate guard answers: an object of booleans."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Unprocessable("guards must be an object mapping guard names to true or false", pointer)
    for name, answer in value.items():
        if not isinstance(answer, bool):
            raise Unprocessable(f"the answer for guard {name!r} must be true or false", f"{pointer}/{_escape(name)}")
    return dict(value)


def check_context(value: Any, pointer: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Unprocessable("context must be a JSON object", pointer)
    check_depth(value, pointer)
    return dict(value)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Runtime:
    """Everything between the HTTP edge and the store.

    Args:
        config: the process configuration.
        store: an opened store (its writer is run by :meth:`run`).
        clock: wall time; default: :class:`TrioClock`.
    """

    def __init__(self, config: Config, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self.hub = Hub(config.runtime.watch_queue)
        self.versions = Registry()
        self.version_codes: dict[str, int] = {}  # version id -> code in resident columns
        self.deployments = Deployments(self)
        self.shards: list[Shard] = []
        self.workers: list[Worker] = []
        self._worker_of: list[Worker] = []  # shard index -> serving worker
        self.epoch = 0
        self.ready = False
        self.quarantined: list[dict[str, Any]] = []
        self._stop = trio.Event()
        self._limits = Limits(max_states=config.limits.max_states, max_depth=config.limits.max_depth)

    @property
    def clock(self) -> Clock:
        if self._clock is None:
            self._clock = TrioClock()
        return self._clock

    # -- lifecycle ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[Runtime] = trio.TASK_STATUS_IGNORED) -> None:
        """Recover, serve until :meth:`stop`, then drain.  Signals readiness
        (``task_status.started(self)``) once every actor is loaded."""
        async with self.store.running():
            await self._recover()
            async with trio.open_nursery() as nursery:
                for worker in self.workers:
                    await nursery.start(worker.run)
                self.ready = True
                task_status.started(self)
                nursery.start_soon(self._fill_residents)
                await self._stop.wait()
                self.ready = False
                for worker in self.workers:
                    worker.close()
                nursery.cancel_scope.deadline = trio.current_time() + self.config.server.graceful_timeout

    def stop(self) -> None:
        """Begin a graceful shutdown: queued commands finish, then ``run`` returns."""
        self._stop.set()

    async def _fill_residents(self) -> None:
        """Fill the resident rows recovery deferred (``Resident.defer``), a
        slice at a time, letting everything else run in between; a
        deployment or preview fills what is left itself."""
        for shard in self.shards:
            while shard.resident.deferred and not self._stop.is_set():
                shard.resident.sync_some(_FILL_SLICE)
                await trio.sleep(0)

    async def _recover(self) -> None:
        meta = self.store.meta
        previous = await meta.get("meta", "epoch")
        self.epoch = int(previous or 0) + 1
        batch = MetaBatch()
        batch.put("meta", "epoch", self.epoch)
        await self.store.commit(batch)
        await self._load_versions()
        await self.deployments.load()
        cursors: dict[int, set[int]] = {}
        for index in range(self.store.shard_count):
            shard_store = await self.store.acquire(index, self.epoch)
            shard = Shard(
                index, shard_store, self.clock, self.config.runtime.idempotency_ttl,
                self.version_codes, self.config.limits.max_history_path, self.config.runtime.checkpoint_every,
            )
            load = await shard_store.load(tail_after=_checkpointed_seq)
            cursors[index] = {ordinal for ordinal, _ in load.cursors}
            moves, unsettled = await pending_moves(shard_store, load.cursors)
            land = functools.partial(self.deployments.replay_move, memos={})
            timers: dict[str, dict[str, float]] = {}
            for actor_id, event_type, value in load.timers:
                timers.setdefault(actor_id, {})[event_type] = float(value["fireAt"])
            tails: dict[str, list[Any]] = {}
            for actor_id, _, record in load.tails:
                tails.setdefault(actor_id, []).extend(events_in(record))
            chunks: dict[str, dict[int, Any]] = {}
            for actor_id, number, chunk in load.traces:
                chunks.setdefault(actor_id, {})[number] = chunk
            for record in load.quarantined:
                if record.actor_id is not None:
                    shard.quarantined[record.actor_id] = record.reason
                self.quarantined.append(record.to_json())
            for actor_id, record in load.actors:
                version = self.versions.get(record.get("versionId", ""))
                try:
                    if version is None:
                        raise KeyError(f"unknown version {record.get('versionId')!r}")
                    actor = Actor.from_record(actor_id, record, version.machine, timers.get(actor_id, {}), chunks.get(actor_id))
                    actor = replay_tail(actor, tails.get(actor_id, ()), moves.get(actor_id, ()), land)
                except (KeyError, ValueError, TypeError, SnapshotError, InfiniteLoopError) as exc:
                    shard.quarantined[actor_id] = f"its snapshot does not load: {exc}"
                    self.quarantined.append({"database": "actors", "actorId": actor_id, "reason": str(exc)})
                    continue
                shard.add_loaded(actor)
            for (actor_id, digest, value) in load.idempotency:
                shard.idempotency[(actor_id, digest)] = value
            for ordinal, (cursor, moved) in sorted(unsettled.items()):  # a crash came before they settled
                await shard.settle_deployment(ordinal, cursor, moved, self.commit)
            self.shards.append(shard)
        await self.deployments.recover(cursors)
        owners: dict[int, Worker] = {}
        for i, group in enumerate(group_shards(self.shards, self.config.runtime.workers)):
            worker = Worker(i, group, self.commit, self.clock, self.hub)
            self.workers.append(worker)
            owners.update(dict.fromkeys(worker.shards, worker))
        self._worker_of = [owners[i] for i in range(len(self.shards))]

    async def _load_versions(self) -> None:
        start: object = None
        while True:
            rows = await self.store.meta.scan("versions", start=start, limit=500)
            for key, record in rows:
                if key == start:
                    continue
                machine = Machine(record["definition"], limits=self._limits, max_iterations=self.config.limits.max_iterations)
                self.versions.add(Version.from_record(record, machine))
            if len(rows) < 500:
                break
            start = rows[-1][0]
        # deploy order, not id order
        ordered = sorted(self.versions, key=lambda v: v.created_at)
        self.versions = Registry()
        for v in ordered:
            self.register(v)

    def register(self, version: Version) -> None:
        """Make a version known (and give it a code in the resident columns)."""
        self.versions.add(version)
        if version.id not in self.version_codes:
            if len(self.version_codes) >= 0xFFFE:
                raise ServiceUnavailable("too many versions for one process (65,534)")
            self.version_codes[version.id] = len(self.version_codes)

    async def commit(self, *batches: Any) -> None:
        """Durable, atomic commit of shard batches (group-committed)."""
        await self.store.commit(*batches)

    def _require_ready(self) -> None:
        if not self.ready:
            raise ServiceUnavailable("the server is starting or stopping; retry shortly")

    def shard_for(self, actor_id: str) -> Shard:
        return self.shards[shard_index(actor_id, len(self.shards))]

    def worker_for(self, shard: Shard) -> Worker:
        return self._worker_of[shard.index]

    # -- versions -------------------------------------------------------------------

    async def deploy(self, body: Any) -> tuple[dict[str, Any], bool]:
        """``POST /v1/machines``; returns ``(response, created)``.

        Raises:
            Unprocessable, InvalidDefinition, NotFound, Conflict, PreviewStale:
                see SPEC section 5.
        """
        self._require_ready()
        version_id, parent_id, path, definition = self._check_deploy_body(body)
        expect = check_expect(body)
        digest = version_digest(body)
        async with self.deployments.lock:
            existing = self.versions.get(version_id)
            if existing is not None:
                if existing.digest != digest:
                    raise Conflict(f"version {version_id!r} already exists with a different body; deploy a new id")
                return {"version": self.version_view(existing)}, False
            if parent_id is not None and parent_id not in self.versions:
                raise NotFound("version", parent_id)
            machine = self._compile(definition)
            version = Version(version_id, parent_id, path, definition, machine, self.clock.now(), digest)
            if parent_id is not None:
                return await self.deployments.deploy(version, expect), True
            if expect is not None:
                raise Unprocessable("a root version migrates nothing, so it takes no preview token", "/expect")
            batch = MetaBatch()
            batch.put("versions", version_id, version.record())
            await self.store.commit(batch)
            self.register(version)
            return {"version": self.version_view(version)}, True

    def preview(self, body: Any, *, summary: bool = False) -> dict[str, Any]:
        """``POST /v1/machines/preview``: the deploy's evaluation, no writes."""
        self._require_ready()
        version_id, parent_id, path, definition = self._check_deploy_body(body)
        check_expect(body)
        if parent_id is None:
            raise Unprocessable("a preview needs a parentId: it evaluates the parent's actors", "/parentId")
        head = {"versionId": version_id, "parentId": parent_id, "historyPath": None if path is None else list(path)}
        existing = self.versions.get(version_id)
        if existing is not None:
            # What the deploy would do: another body is a conflict; the same
            # body is an idempotent redeploy, which evaluates and moves nothing.
            if existing.digest != version_digest(body):
                raise Conflict(f"version {version_id!r} already exists with a different body; deploy a new id")
            return {**head, "alreadyDeployed": True, **self.deployments.preview_nothing(summary=summary)}
        if parent_id not in self.versions:
            raise NotFound("version", parent_id)
        machine = self._compile(definition)
        return {**head, **self.deployments.preview(parent_id, path, machine, summary=summary)}

    async def decisions(self, actor_id: str, *, after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """``GET /v1/actors/{id}/decisions``: oldest first, paged by deployment ordinal."""
        self._require_ready()
        shard = self.shard_for(actor_id)
        actor = shard.current(actor_id)
        return await self.deployments.of_actor(actor_id, actor.version_id, shard, after=after, limit=limit)

    async def migrations(self, actor_id: str) -> list[dict[str, Any]]:
        """The actor's migrations, oldest first: its ``migrate`` decisions
        (each with ``seq``, ``fromVersion``, ``toVersion``, ``landingState``
        and ``time``)."""
        found: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            items, after = await self.decisions(actor_id, after=after, limit=100)
            found.extend(item for item in items if item["decision"] == "migrate")
        return found

    def _check_deploy_body(self, body: Any) -> tuple[str, str | None, tuple[str, ...] | None, dict[str, Any]]:
        if not isinstance(body, Mapping):
            raise BadRequest("the body must be a JSON object")
        unknown = set(body) - {"id", "parentId", "historyPath", "definition", "expect"}
        if unknown:
            name = sorted(unknown)[0]
            raise Unprocessable(f"unknown field {name!r}", f"/{_escape(name)}")
        version_id = check_id(body.get("id"), "id", "/id")
        parent_id = body.get("parentId")
        if parent_id is not None:
            check_id(parent_id, "parentId", "/parentId")
        raw_path = body.get("historyPath")
        path: tuple[str, ...] | None = None
        if raw_path is not None:
            if parent_id is None:
                raise Unprocessable("historyPath needs a parentId: a root version has no actors to route", "/historyPath")
            if not isinstance(raw_path, list):
                raise Unprocessable("historyPath must be a list of event types", "/historyPath")
            if len(raw_path) > self.config.limits.max_history_path:
                raise Unprocessable(f"historyPath is limited to {self.config.limits.max_history_path} events", "/historyPath")
            path = tuple(_check_path_item(t, f"/historyPath/{i}") for i, t in enumerate(raw_path))
        definition = body.get("definition")
        if not isinstance(definition, Mapping):
            raise Unprocessable("definition must be a JSON object (an XState v5 machine config)", "/definition")
        check_depth(definition, "/definition")
        return version_id, parent_id, path, dict(definition)

    def _compile(self, definition: Mapping[str, Any]) -> Machine:
        try:
            return Machine(definition, limits=self._limits, max_iterations=self.config.limits.max_iterations)
        except DefinitionError as exc:
            raise InvalidDefinition(exc.reason, "/definition" + exc.pointer) from None

    def get_version(self, version_id: str) -> Version:
        version = self.versions.get(version_id)
        if version is None:
            raise NotFound("version", version_id)
        return version

    def version_view(self, version: Version, *, with_counts: bool = False) -> dict[str, Any]:
        view: dict[str, Any] = {
            "id": version.id,
            "parentId": version.parent_id,
            "historyPath": None if version.history_path is None else list(version.history_path),
            "createdAt": iso_time(version.created_at),
            "definition": version.definition,
        }
        if version.deployment_id is not None:
            view["deploymentId"] = version.deployment_id
        if with_counts:
            view["actors"] = self.count_actors(version.id)
        return view

    def count_actors(self, version_id: str) -> dict[str, Any]:
        """Actors on a version: total, by status, and by atomic state path."""
        by_state: dict[str, int] = {}
        total = done = 0
        for shard in self.shards:
            for actor in shard.actors.values():
                if actor.version_id != version_id:
                    continue
                total += 1
                done += actor.done
                for path in leaf_paths(actor.snapshot.value):
                    by_state[path] = by_state.get(path, 0) + 1
        return {"total": total, "active": total - done, "done": done, "byState": dict(sorted(by_state.items()))}

    # -- actors -----------------------------------------------------------------------

    async def spawn(self, body: Any) -> dict[str, Any]:
        """``POST /v1/actors``: ``{versionId, context?, actorId?, guards?}``."""
        self._require_ready()
        if not isinstance(body, Mapping):
            raise BadRequest("the body must be a JSON object")
        unknown = set(body) - {"versionId", "context", "actorId", "guards"}
        if unknown:
            name = sorted(unknown)[0]
            raise Unprocessable(f"unknown field {name!r}", f"/{_escape(name)}")
        version_id = check_id(body.get("versionId"), "versionId", "/versionId")
        version = self.get_version(version_id)
        actor_id = body.get("actorId")
        actor_id = check_id(actor_id, "actorId", "/actorId") if actor_id is not None else "act_" + secrets.token_hex(10)
        shard = self.shard_for(actor_id)
        command = Spawn(
            actor_id, shard.index, version, check_context(body.get("context"), "/context"), check_guards(body.get("guards"), "/guards")
        )
        await self.worker_for(shard).submit(command)
        result: dict[str, Any] = await command.reply.wait()
        return result

    def make_send(self, actor_id: str, body: Any, idempotency_key: str | None, pointer: str = "") -> Send:
        """Validate one event (``{type, payload?, guards?}``) into a command."""
        if not isinstance(body, Mapping):
            raise BadRequest("an event must be a JSON object")
        return self._send_command(actor_id, body, _EVENT_FIELDS, idempotency_key, pointer)

    def _send_command(
        self,
        actor_id: str,
        body: Mapping[str, Any],
        fields: frozenset[str],
        idempotency_key: str | None,
        pointer: str,
        index: int | None = None,
    ) -> Send:
        """The command for one valid event; ``pointer`` (and ``index``, for
        a batch item) locate it in the body for problems.  The pointers are
        built only for a problem: on the batch path they were a tenth of the
        validation's cost."""
        if not body.keys() <= fields:
            name = sorted(set(body) - fields)[0]
            raise Unprocessable(f"unknown field {name!r}", f"{_at(pointer, index)}/{_escape(name)}")
        event_type: Any = body.get("type")
        if not valid_event_type(event_type):
            check_event_type(event_type, f"{_at(pointer, index)}/type")  # raises, saying why
        guards = body.get("guards")
        if guards is not None:
            guards = check_guards(guards, f"{_at(pointer, index)}/guards")
        payload = body.get("payload")
        if payload is not None:
            if type(payload) is not dict and not isinstance(payload, Mapping):
                raise Unprocessable("payload must be a JSON object", f"{_at(pointer, index)}/payload")
            check_depth(payload, f"{_at(pointer, index)}/payload")
        digest = None
        if idempotency_key is not None:
            if not 1 <= len(idempotency_key) <= 256:
                where = _at(pointer, index)
                if where:
                    raise Unprocessable("an idempotency key is 1-256 characters", f"{where}/idempotencyKey")
                raise Unprocessable("an idempotency key is 1-256 characters", parameter="Idempotency-Key")
            event = {k: v for k, v in body.items() if k != "actorId" and k != "idempotencyKey"}
            digest = body_digest({"actorId": actor_id, **event})
        return Send(actor_id, shard_index(actor_id, len(self.shards)), event_type, payload, guards, idempotency_key, digest)

    async def submit(self, command: Send) -> None:
        """Queue a validated command (from :meth:`make_send`) without waiting
        for its reply; commands queued by one caller apply in that order.
        Await ``command.reply.wait()`` for the durable answer."""
        await self._worker_of[command.shard].submit(command)

    async def send(self, actor_id: str, body: Any, idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /v1/actors/{id}/events``: durable once it returns."""
        self._require_ready()
        command = self.make_send(actor_id, body, idempotency_key)
        await self.submit(command)
        result: dict[str, Any] = await command.reply.wait()
        return result

    def make_batch(self, items: Any, pointer: str = "/events") -> list[Send | RequestError]:
        """Validate a batch's items (``{actorId, type, payload?, guards?,
        idempotencyKey?}``): a command for each valid one, the error of each
        invalid one, in order."""
        if not isinstance(items, list):
            raise BadRequest('the body must be {"events": [...]}')
        limit = self.config.limits.max_batch_events
        if len(items) > limit:
            raise Unprocessable(f"a batch holds at most {limit} events", pointer)
        commands: list[Send | RequestError] = []
        for i, item in enumerate(items):
            try:
                if type(item) is not dict and not isinstance(item, Mapping):
                    raise BadRequest(f"event {i} must be a JSON object")
                actor_id: Any = item.get("actorId")
                if not valid_id(actor_id):
                    check_id(actor_id, "actorId", f"{pointer}/{i}/actorId")  # raises
                key = item.get("idempotencyKey")
                if key is not None and not isinstance(key, str):
                    raise Unprocessable("idempotencyKey must be a string", f"{pointer}/{i}/idempotencyKey")
                commands.append(self._send_command(actor_id, item, _BATCH_FIELDS, key, pointer, i))
            except RequestError as exc:
                commands.append(exc)
        return commands

    async def submit_batch(self, commands: Sequence[Send | RequestError]) -> None:
        """Queue a batch's commands, one hand-over per worker; commands to
        one actor apply in batch order."""
        per_worker: dict[Worker, list[Command]] = {}
        workers = self._worker_of
        for command in commands:
            if isinstance(command, Send):
                worker = workers[command.shard]
                queued = per_worker.get(worker)
                if queued is None:
                    queued = per_worker[worker] = []
                queued.append(command)
        for worker, queued in per_worker.items():
            await worker.submit(queued)

    async def send_batch(self, body: Any) -> list[dict[str, Any]]:
        """``POST /v1/events/batch``: results in order, each a send response or
        a problem; events to one actor apply in batch order."""
        self._require_ready()
        if not isinstance(body, Mapping):
            raise BadRequest('the body must be {"events": [...]}')
        unknown = set(body) - {"events"}
        if unknown:
            name = sorted(unknown)[0]
            raise Unprocessable(f"unknown field {name!r}", f"/{_escape(name)}")
        commands = self.make_batch(body.get("events"))
        await self.submit_batch(commands)
        return await batch_results(commands)

    def get(self, actor_id: str) -> dict[str, Any]:
        """``GET /v1/actors/{id}``."""
        self._require_ready()
        return self.shard_for(actor_id).current(actor_id).view()

    def actor(self, actor_id: str) -> Actor:
        return self.shard_for(actor_id).current(actor_id)

    def list_actors(
        self, *, version_id: str | None = None, state: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Actors filtered by version and state (``a.b`` matches
        ``{"a": "b"}`` and anything below it), in a stable order, paged."""
        self._require_ready()
        shard_index, position = _decode_cursor(cursor, len(self.shards))
        pattern = None if state is None else state.split(".")
        out: list[dict[str, Any]] = []
        while shard_index < len(self.shards):
            shard = self.shards[shard_index]
            order = shard.resident.actor_ids  # creation order: slots are never reused
            while position < len(order):
                actor = shard.actors.get(order[position])
                position += 1
                if actor is None:
                    continue
                if version_id is not None and actor.version_id != version_id:
                    continue
                if pattern is not None and not matches_path(pattern, actor.snapshot.value):
                    continue
                out.append(actor.view())
                if len(out) >= limit:
                    more = shard_index < len(self.shards) - 1 or position < len(order)
                    return out, _encode_cursor(shard_index, position) if more else None
            shard_index += 1
            position = 0
        return out, None

    async def history(self, actor_id: str, *, after: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """``GET /v1/actors/{id}/events``: handled events after seq ``after``."""
        self._require_ready()
        shard = self.shard_for(actor_id)
        actor = shard.current(actor_id)
        # A record holds one or more events (up to a turn's) and is keyed by
        # its last one: the first record at or after after + 1 holds it.
        # Records are read at most 16 at a time, and never more than the
        # events still wanted (each holds at least one), so a page decodes
        # at most 16 records it does not need.
        events: list[dict[str, Any]] = []
        start = after + 1
        while len(events) < limit:
            want = min(limit - len(events), 16)
            rows = await shard.store.scan_actor("events", actor_id, start=start, limit=want)
            for _, record in rows:
                events.extend(event_view(e) for e in events_in(record) if e["seq"] > after)
            if len(rows) < want:
                break
            start = rows[-1][0] + 1
        del events[limit:]
        last = events[-1]["seq"] if events else after
        return events, (last if last < actor.seq and len(events) == limit else None)


async def batch_results(commands: Sequence[Send | RequestError]) -> list[dict[str, Any]]:
    """A submitted batch's results in order: each send response, or the
    problem object of a rejected item."""
    results: list[dict[str, Any]] = []
    for command in commands:
        if isinstance(command, RequestError):
            results.append(command.to_problem())
            continue
        reply = command.reply
        try:
            # answers come a turn at a time: most are ready once one is
            results.append(reply.result() if reply.ready else await reply.wait())
        except RequestError as exc:
            results.append(exc.to_problem())
    return results


def _checkpointed_seq(actor_id: str, record: Any) -> int | None:
    """For ``ShardStore.load``: events after the record's seq are its tail."""
    seq = record.get("seq") if isinstance(record, Mapping) else None
    return seq if isinstance(seq, int) else None


def replay_tail(
    actor: Actor,
    events: Sequence[Mapping[str, Any]],
    moves: Sequence[Move] = (),
    land: Callable[[Actor, Move], Actor] | None = None,
) -> Actor:
    """Bring a checkpointed actor up to date with the events recorded after
    its checkpoint, checking each lands where it did live, and with the
    moves deployments recorded for it that its record does not hold yet
    (``land`` applies one): a move at seq n comes after event n and before
    event n + 1, and applies only to an actor still on the version it moved
    from (a record written after the move holds it already).

    Raises:
        ValueError: an event does not replay to its recorded state (the
            actor is then quarantined rather than served wrong).
    """
    todo = list(moves)

    def moved(actor: Actor) -> Actor:
        while todo and todo[0].seq <= actor.seq:
            move = todo.pop(0)
            if move.seq == actor.seq and move.from_version == actor.version_id:
                assert land is not None
                actor = land(actor, move)
        return actor

    replayed = False
    for event in events:
        if event["seq"] <= actor.seq and not replayed:
            continue  # in the checkpoint already (the first record may start before it)
        replayed = True
        if event["seq"] != actor.seq + 1:
            raise ValueError(f"event {event['seq']} follows seq {actor.seq}")
        if todo:
            actor = moved(actor)
        guards = event.get("guards")
        step = actor.machine.transition(actor.snapshot, event["type"], guards)
        if not step.handled or step.snapshot.value != event["stateValue"] or step.snapshot.status != event["status"]:
            raise ValueError(f"event {event['seq']} ({event['type']}) does not replay to its recorded state")
        actor = actor.advanced(step.snapshot, trace_entry(event["type"], answered_true(guards)), float(event["at"]), actor.timers)
    if todo:
        actor = moved(actor)
        if todo:  # a move after the last event this store holds: events are missing
            raise ValueError(f"its move to {todo[0].to_version} at seq {todo[0].seq} is past its history ({actor.seq} events)")
    return actor


def event_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``events`` record as the API shows it."""
    view = {"seq": record["seq"], "type": record["type"], "time": iso_time(record["at"])}
    if "payload" in record:
        view["payload"] = record["payload"]
    if "guards" in record:
        view["guards"] = record["guards"]
    view["stateValue"] = record["stateValue"]
    view["status"] = record["status"]
    return view


def _check_path_item(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 128 or _CONTROL.search(value):
        raise Unprocessable("each historyPath item is an event type of 1-128 characters", pointer)
    return value


def leaf_paths(value: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the atomic states in a state value."""
    if isinstance(value, str):
        return [prefix + value]
    if not value:
        return [prefix[:-1]] if prefix else []
    out: list[str] = []
    for key, sub in value.items():
        out.extend(leaf_paths(sub, f"{prefix}{key}."))
    return out


def matches_path(pattern: Sequence[str], value: Any) -> bool:
    """Whether the dotted state path ``pattern`` is active in ``value``."""
    for key in pattern:
        if isinstance(value, str):
            if value != key:
                return False
            value = {}
        elif isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return False
    return True


def _encode_cursor(shard: int, position: int) -> str:
    return base64.urlsafe_b64encode(f"{shard}:{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, shards: int) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        shard_text, position_text = raw.split(":")
        shard, position = int(shard_text), int(position_text)
    except (ValueError, UnicodeDecodeError):
        raise Unprocessable("cursor is not one this server issued", parameter="cursor") from None
    if not (0 <= shard < shards and position >= 0):
        raise Unprocessable("cursor is not one this server issued", parameter="cursor")
    return shard, position
