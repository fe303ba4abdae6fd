"""A shard: the actors of one logical shard, served by one trio task.

The shard task is the only writer of its actors.  It loops:

1. wait for commands on its intake channel (or for its next timer to be due);
2. take every command already queued (and every due timer), apply them one
   at a time in arrival order to in-memory copies of the actors, collecting
   all their writes into one :class:`~skruntime.store.ShardBatch`;
3. hand the batch to the store's group-commit writer and wait until it is
   durable (the writer packs many shards' batches into one LMDB
   transaction);
4. only then make the new actor values current, answer the callers and
   publish the changes to watchers.

So an event is acknowledged only once durable, events to one actor apply in
arrival order, a failed commit changes nothing in memory, and a busy shard
amortises one durable commit over everything that queued up meanwhile.
"""

from __future__ import annotations

import heapq
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import trio

from .._exceptions import (
    ActorDone,
    ActorExists,
    ActorUnavailable,
    EventLoop,
    EventNotHandled,
    Fenced,
    InfiniteLoopError,
    NotFound,
    RequestError,
    ServiceUnavailable,
    StoreError,
    Unprocessable,
)
from ..statechart import Arm, Step
from ..store import ShardBatch, ShardStore, idempotency_digest
from .._routing import Resident
from ._actor import Actor, answered_true, iso_time
from ._migration import Evaluation
from ._clock import Clock
from ._versions import Version
from ._watch import Hub

__all__ = ["Fire", "Reply", "Send", "Shard", "Spawn", "Task"]

MAX_COMMANDS_PER_BATCH = 4096


class Reply:
    """A one-shot answer a caller waits for."""

    __slots__ = ("_done", "_value", "_error")

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


@dataclass(slots=True)
class Send:
    """Deliver an event to an actor."""

    actor_id: str
    event_type: str
    payload: Any
    guards: Mapping[str, bool] | None
    idempotency_key: str | None
    digest: str | None  # of the request body, for idempotent retries
    reply: Reply = field(default_factory=Reply)


@dataclass(slots=True)
class Spawn:
    """Create an actor on a version."""

    actor_id: str
    version: Version
    context: Mapping[str, Any] | None
    guards: Mapping[str, bool] | None
    reply: Reply = field(default_factory=Reply)


@dataclass(slots=True)
class Fire:
    """A due timer (made by the shard itself)."""

    actor_id: str
    event_type: str
    fire_at: float


@dataclass(slots=True)
class Task:
    """Run ``fn(shard)`` inside the shard loop, with intake paused: the hook
    deployments use to route a shard's actors atomically with respect to its
    events.  The function may await (e.g. commit)."""

    fn: Callable[[Shard], Awaitable[Any]]
    reply: Reply = field(default_factory=Reply)


Command = Send | Spawn | Fire | Task


@dataclass(slots=True)
class _Pending:
    """What one batch has done so far, before it is durable."""

    actors: dict[str, Actor] = field(default_factory=dict)  # new values
    dirty: dict[str, None] = field(default_factory=dict)  # actor records to write
    idempotency: dict[tuple[str, bytes], dict[str, Any]] = field(default_factory=dict)
    timers: list[tuple[float, str, str]] = field(default_factory=list)  # to push on the heap
    changes: list[dict[str, Any]] = field(default_factory=list)  # frames to publish


class Shard:
    """One logical shard's actors and its serving task.

    Args:
        index: the shard number.
        store: the shard store, acquired at the runtime's epoch.
        commit: ``await commit(batch)``: durable group commit.
        clock: wall time.
        hub: where changes are published.
        idempotency_ttl: seconds an idempotency key is remembered.
    """

    def __init__(
        self,
        index: int,
        store: ShardStore,
        commit: Callable[[ShardBatch], Awaitable[None]],
        clock: Clock,
        hub: Hub,
        idempotency_ttl: float,
        version_codes: Mapping[str, int],
        resident_depth: int,
    ) -> None:
        self.index = index
        self.store = store
        self._commit = commit
        self.clock = clock
        self.hub = hub
        self.idempotency_ttl = idempotency_ttl
        self.actors: dict[str, Actor] = {}
        self.order: list[str] = []  # actor ids in creation order (list paging)
        self.quarantined: dict[str, str] = {}  # actor id -> reason
        self.idempotency: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._timers: list[tuple[float, str, str]] = []  # heap of (fire_at, actor, event type)
        self._intake_send, self._intake = trio.open_memory_channel[Command](MAX_COMMANDS_PER_BATCH)
        self.fenced = False
        self._next_prune = 0.0
        self.version_codes = version_codes  # shared: version id -> resident code
        self.resident = Resident(resident_depth)

    # -- intake ----------------------------------------------------------------

    async def submit(self, command: Command) -> None:
        """Queue a command (waits while the intake is full: back-pressure)."""
        try:
            await self._intake_send.send(command)
        except trio.ClosedResourceError:
            raise ServiceUnavailable("the server is shutting down") from None

    def close(self) -> None:
        """Stop taking commands; the loop finishes what is queued, then ends."""
        self._intake_send.close()

    # -- loading -----------------------------------------------------------------

    def add_loaded(self, actor: Actor) -> None:
        self.actors[actor.id] = actor
        self.order.append(actor.id)
        self.resident.update(actor.id, self.version_codes[actor.version_id], actor.trace, actor.seq)
        for event_type, fire_at in actor.timers.items():
            heapq.heappush(self._timers, (fire_at, actor.id, event_type))

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        closing = False
        while not closing:
            commands, closing = await self._collect()
            if commands:
                await self._process(commands)

    async def _collect(self) -> tuple[list[Command], bool]:
        commands: list[Command] = []
        closing = False
        deadline = self.clock.trio_deadline(self._timers[0][0]) if self._timers else float("inf")
        with trio.move_on_at(deadline):
            try:
                commands.append(await self._intake.receive())
            except trio.EndOfChannel:
                closing = True
        while not closing and len(commands) < MAX_COMMANDS_PER_BATCH:
            try:
                commands.append(self._intake.receive_nowait())
            except trio.WouldBlock:
                break
            except trio.EndOfChannel:
                closing = True
        if not closing:
            commands.extend(self._due_timers())
        return commands, closing

    def _due_timers(self) -> list[Fire]:
        now = self.clock.now()
        due: list[Fire] = []
        while self._timers and self._timers[0][0] <= now:
            fire_at, actor_id, event_type = heapq.heappop(self._timers)
            actor = self.actors.get(actor_id)
            if actor is not None and actor.timers.get(event_type) == fire_at:
                due.append(Fire(actor_id, event_type, fire_at))
        return due

    async def _process(self, commands: list[Command]) -> None:
        pending = _Pending()
        batch = self.store.batch()
        answers: list[tuple[Reply, Any, BaseException | None]] = []
        for command in commands:
            if isinstance(command, Task):
                # Tasks run alone, between batches: finish what came before.
                await self._finish(pending, batch, answers)
                pending, batch, answers = _Pending(), self.store.batch(), []
                try:
                    command.reply.set(await command.fn(self))
                except BaseException as exc:  # handed to the caller, who re-raises
                    command.reply.fail(exc)
                continue
            try:
                result = self._apply(command, pending, batch)
            except RequestError as exc:
                if not isinstance(command, Fire):
                    answers.append((command.reply, None, exc))
                continue
            if not isinstance(command, Fire):
                answers.append((command.reply, result, None))
        self._maybe_prune(batch)
        await self._finish(pending, batch, answers)

    async def _finish(self, pending: _Pending, batch: ShardBatch, answers: list[tuple[Reply, Any, BaseException | None]]) -> None:
        for actor_id in pending.dirty:
            batch.put("actors", actor_id, pending.actors[actor_id].record())
        if len(batch):
            try:
                await self._commit(batch)
            except Fenced:
                self.fenced = True
                failure = ServiceUnavailable("another skruntime process took over this data directory")
                for reply, _, _ in answers:
                    reply.fail(failure)
                return
            except StoreError as exc:
                failure = ServiceUnavailable(f"the store could not commit: {exc}")
                for reply, _, _ in answers:
                    reply.fail(failure)
                return
        self._make_current(pending.actors)
        self.idempotency.update(pending.idempotency)
        for entry in pending.timers:
            heapq.heappush(self._timers, entry)
        for reply, value, error in answers:
            if error is None:
                reply.set(value)
            else:
                reply.fail(error)
        if self.hub.watched:
            for frame in pending.changes:
                self.hub.publish(frame)

    def _make_current(self, actors: Mapping[str, Actor]) -> None:
        codes = self.version_codes
        for actor_id, actor in actors.items():
            if actor_id not in self.actors:
                self.order.append(actor_id)
            self.actors[actor_id] = actor
            self.resident.update(actor_id, codes[actor.version_id], actor.trace, actor.seq)

    # -- deployments ------------------------------------------------------------------

    async def apply_deployment(
        self,
        evaluation: Evaluation,
        deployment_id: str,
        ordinal: int,
        version: Version,
        parent_id: str,
    ) -> dict[str, Any]:
        """Write one shard's decisions, reassignments and cursor in one
        transaction; then swap the migrated actors in and tell watchers.

        Runs inside the shard loop (a :class:`Task`), so no event of this
        shard is applied meanwhile.  Returns the shard's counts (the cursor).
        """
        now = self.clock.now()
        batch = self.store.batch()
        moved: dict[str, Actor] = {}
        heap_entries: list[tuple[float, str, str]] = []
        audit: list[tuple[str, dict[str, Any]]] = []
        for decision in evaluation.decisions:
            record = decision.record(deployment_id, now, parent_id, version.id)
            batch.put("decisions", (decision.actor_id, ordinal), record)
            audit.append((decision.actor_id, record))
            if not decision.migrates:
                continue
            actor = self.actors[decision.actor_id]
            assert decision.landing is not None
            for event_type in actor.timers:
                batch.delete("timers", (actor.id, event_type))
            timers: dict[str, float] = {}
            for event_type, delay in decision.timers.items():
                fire_at = now + delay / 1000.0
                timers[event_type] = fire_at
                batch.put("timers", (actor.id, event_type), {"fireAt": fire_at, "delay": delay})
                heap_entries.append((fire_at, actor.id, event_type))
            new = actor.moved(version.id, version.machine, decision.landing, now, timers)
            batch.put("actors", actor.id, new.record())
            moved[actor.id] = new
        for first, page in decision_pages(audit):
            batch.put("deployment_decisions", (ordinal, first), {"decisions": page})
        cursor = {"deploymentId": deployment_id, "at": now, "digestSum": format(evaluation.digest_sum, "x"), **evaluation.counts()}
        batch.put("cursors", ordinal, cursor)
        await self._commit(batch)
        self._make_current(moved)
        for entry in heap_entries:
            heapq.heappush(self._timers, entry)
        if self.hub.watched:
            for actor in moved.values():
                self.hub.publish(self._frame(actor, None), parent_id)
        return cursor

    # -- applying commands ---------------------------------------------------------

    def current(self, actor_id: str, pending: _Pending | None = None) -> Actor:
        """The actor's latest value (including this batch's), or raise."""
        actor = pending.actors.get(actor_id) if pending is not None else None
        if actor is None:
            actor = self.actors.get(actor_id)
        if actor is None:
            if actor_id in self.quarantined:
                raise ActorUnavailable(f"actor {actor_id!r} is quarantined: {self.quarantined[actor_id]}")
            raise NotFound("actor", actor_id)
        return actor

    def _apply(self, command: Command, pending: _Pending, batch: ShardBatch) -> Any:
        if isinstance(command, Send):
            return self._apply_send(command, pending, batch)
        if isinstance(command, Spawn):
            return self._apply_spawn(command, pending, batch)
        if isinstance(command, Fire):
            return self._apply_fire(command, pending, batch)
        raise TypeError(f"unknown command {command!r}")

    def _apply_send(self, command: Send, pending: _Pending, batch: ShardBatch) -> dict[str, Any]:
        actor = self.current(command.actor_id, pending)
        idem_key = None
        if command.idempotency_key is not None:
            idem_key = (actor.id, idempotency_digest(command.idempotency_key))
            seen = pending.idempotency.get(idem_key) or self.idempotency.get(idem_key)
            if seen is not None:
                if seen["digest"] != command.digest:
                    raise Unprocessable("this Idempotency-Key was already used with a different request body")
                response: dict[str, Any] = seen["response"]
                return response
        if actor.done:
            raise ActorDone(actor.id)
        step = _transition(actor, command.event_type, command.guards)
        if not step.handled:
            raise EventNotHandled(
                actor.id, command.event_type, actor.machine.accepted_events(actor.snapshot), actor.snapshot.value
            )
        new = self._record_event(actor, step, command.event_type, command.payload, command.guards, pending, batch)
        response = {
            "actorId": new.id,
            "versionId": new.version_id,
            "seq": new.seq,
            "stateValue": new.snapshot.value,
            "status": new.snapshot.status,
            "changed": step.snapshot.configuration is not actor.snapshot.configuration,
            "effects": list(step.effects),
        }
        if idem_key is not None:
            record = {"digest": command.digest, "response": response, "at": new.updated_at}
            pending.idempotency[idem_key] = record
            batch.put("idempotency", (actor.id, command.idempotency_key), record)
        return response

    def _apply_fire(self, command: Fire, pending: _Pending, batch: ShardBatch) -> None:
        try:
            actor = self.current(command.actor_id, pending)
        except RequestError:
            return None
        if actor.timers.get(command.event_type) != command.fire_at:
            return None  # cancelled or re-armed since
        timers = dict(actor.timers)
        del timers[command.event_type]
        batch.delete("timers", (actor.id, command.event_type))
        step = None if actor.done else _transition(actor, command.event_type, None, quiet=True)
        if step is None or not step.handled:
            pending.actors[actor.id] = actor.moved(actor.version_id, actor.machine, actor.snapshot, actor.updated_at, timers)
            return None
        self._record_event(actor, step, command.event_type, None, None, pending, batch, timers=timers)
        return None

    def _apply_spawn(self, command: Spawn, pending: _Pending, batch: ShardBatch) -> dict[str, Any]:
        actor_id = command.actor_id
        if actor_id in pending.actors or actor_id in self.actors or actor_id in self.quarantined:
            raise ActorExists(f"actor {actor_id!r} already exists")
        version = command.version
        try:
            step = version.machine.initial_transition(context=command.context, guards=command.guards)
        except InfiniteLoopError as exc:
            raise EventLoop(str(exc)) from None
        now = self.clock.now()
        actor = Actor.spawned(actor_id, version.id, version.machine, step.snapshot, now, answered_true(command.guards))
        actor.timers = self._apply_timers(actor, step, {}, now, pending, batch)
        pending.actors[actor_id] = actor
        pending.dirty[actor_id] = None
        pending.changes.append(self._frame(actor, "xstate.init"))
        return {**actor.view(), "effects": list(step.effects)}

    def _record_event(
        self,
        actor: Actor,
        step: Step,
        event_type: str,
        payload: Any,
        guards: Mapping[str, bool] | None,
        pending: _Pending,
        batch: ShardBatch,
        timers: dict[str, float] | None = None,
    ) -> Actor:
        now = self.clock.now()
        timers = self._apply_timers(actor, step, actor.timers if timers is None else timers, now, pending, batch)
        new = actor.advanced(step.snapshot, (event_type, answered_true(guards)), now, timers)
        event: dict[str, Any] = {
            "seq": new.seq,
            "type": event_type,
            "at": now,
            "stateValue": new.snapshot.value,
            "status": new.snapshot.status,
        }
        if payload is not None:
            event["payload"] = payload
        if guards:
            event["guards"] = dict(guards)
        batch.put("events", (actor.id, new.seq), event)
        pending.actors[actor.id] = new
        pending.dirty[actor.id] = None
        pending.changes.append(self._frame(new, event_type))
        return new

    def _apply_timers(
        self, actor: Actor, step: Step, timers: dict[str, float], now: float, pending: _Pending, batch: ShardBatch
    ) -> dict[str, float]:
        if not step.timers:
            return timers
        timers = dict(timers)
        for op in step.timers:
            if isinstance(op, Arm):
                fire_at = now + op.delay / 1000.0
                timers[op.event_type] = fire_at
                batch.put("timers", (actor.id, op.event_type), {"fireAt": fire_at, "delay": op.delay})
                pending.timers.append((fire_at, actor.id, op.event_type))
            elif timers.pop(op.event_type, None) is not None:
                batch.delete("timers", (actor.id, op.event_type))
        return timers

    def _frame(self, actor: Actor, event_type: str | None) -> dict[str, Any]:
        return {
            "op": "change",
            "actorId": actor.id,
            "versionId": actor.version_id,
            "seq": actor.seq,
            "stateValue": actor.snapshot.value,
            "status": actor.snapshot.status,
            "event": event_type,
            "at": iso_time(actor.updated_at),
        }

    def _maybe_prune(self, batch: ShardBatch) -> None:
        now = self.clock.now()
        if now < self._next_prune:
            return
        self._next_prune = now + min(self.idempotency_ttl, 60.0)
        horizon = now - self.idempotency_ttl
        expired = [k for k, rec in self.idempotency.items() if rec["at"] < horizon]
        for key in expired[:1000]:
            del self.idempotency[key]
            batch.delete("idempotency", key)


DECISION_PAGE = 256  # decisions per deployment_decisions record


def decision_pages(audit: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, list[list[Any]]]]:
    """A shard's decisions for one deployment, in the store's key order
    (shorter actor ids first, then by bytes), cut into pages keyed by their
    first actor.  One record per page instead of one per actor keeps a large
    deployment's audit cheap to write; actors' own decisions stay per actor."""
    audit.sort(key=lambda item: (len(item[0].encode()), item[0].encode()))
    return [
        (audit[i][0], [[actor_id, record] for actor_id, record in audit[i : i + DECISION_PAGE]])
        for i in range(0, len(audit), DECISION_PAGE)
    ]


def _transition(actor: Actor, event_type: str, guards: Mapping[str, bool] | None, quiet: bool = False) -> Step:
    try:
        return actor.machine.transition(actor.snapshot, event_type, guards)
    except InfiniteLoopError as exc:
        if quiet:
            return Step(actor.snapshot, False, (), ())
        raise EventLoop(str(exc)) from None
