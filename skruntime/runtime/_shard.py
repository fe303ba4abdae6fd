"""A logical shard: its actors, their fingerprint columns, idempotency keys,
and the functions that apply commands to them.

A shard has no task of its own: a :class:`~skruntime.runtime._worker.Worker`
serves a set of shards and calls :meth:`Shard.apply` for each command, with a
:class:`Pending` overlay of new actor values and this shard's batch of
writes; it makes the new values current (:meth:`Shard.make_current`) only
after the batch is durable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .._exceptions import (
    ActorDone,
    ActorExists,
    ActorUnavailable,
    EventLoop,
    EventNotHandled,
    InfiniteLoopError,
    NotFound,
    RequestError,
    Unprocessable,
)
from .._routing import Resident
from ..statechart import Arm, Snapshot, Step
from ..store import ShardBatch, ShardStore, idempotency_digest
from ._actor import Actor, answered_true, events_record, iso_time, trace_entry
from ._audit import decision_pages
from ._clock import Clock
from ._commands import Command, Fire, Send, Spawn
from ._migration import Evaluation
from ._versions import Version

__all__ = ["Pending", "Shard", "put_actor", "put_events"]


class Pending:
    """What one worker turn has done so far, before it is durable.

    ``parent`` is the overlay of the turn still being committed, which this
    one builds on (the worker pipelines turns one deep); lookups fall through
    to it, then to the shard's durable values."""

    __slots__ = ("actors", "shard_of", "dirty", "events", "idempotency", "timers", "changes", "watched", "now", "parent")

    def __init__(self, watched: bool, now: float, parent: Pending | None = None) -> None:
        self.parent = parent
        self.now = now  # wall time of this turn: every event of the turn gets it
        self.actors: dict[str, Actor] = {}  # new values
        self.shard_of: dict[str, int] = {}  # their shards
        self.dirty: dict[str, None] = {}  # actor records to write
        self.events: dict[str, list[dict[str, Any]]] = {}  # each actor's events of this turn, in order
        self.idempotency: dict[int, dict[tuple[str, bytes], dict[str, Any]]] = {}
        self.timers: list[tuple[float, str, int, str]] = []  # to push on the worker's heap
        self.changes: list[tuple[dict[str, Any], tuple[str, ...]]] = []  # frames to publish
        self.watched = watched  # build frames only when someone watches

    def put(self, shard: int, actor: Actor, *, dirty: bool = True) -> None:
        self.actors[actor.id] = actor
        self.shard_of[actor.id] = shard
        if dirty:
            self.dirty[actor.id] = None

    def actor(self, actor_id: str) -> Actor | None:
        """The actor's newest value in this overlay or its parent's."""
        found = self.actors.get(actor_id)
        if found is None and self.parent is not None:
            found = self.parent.actors.get(actor_id)
        return found

    def seen(self, shard: int, key: tuple[str, bytes]) -> dict[str, Any] | None:
        """An idempotency record this overlay or its parent's holds."""
        found = self.idempotency.get(shard)
        record = found.get(key) if found is not None else None
        if record is None and self.parent is not None:
            found = self.parent.idempotency.get(shard)
            record = found.get(key) if found is not None else None
        return record

    def by_shard(self) -> dict[int, dict[str, Actor]]:
        out: dict[int, dict[str, Actor]] = {}
        for actor_id, actor in self.actors.items():
            out.setdefault(self.shard_of[actor_id], {})[actor_id] = actor
        return out


SETTLE_SLICE = 2000  # migrated actors' records per transaction when a deployment settles


class PreparedDeployment(NamedTuple):
    """A shard's writes for a deployment, and what to do once durable."""

    batch: ShardBatch
    moved: dict[str, Actor]
    heap_entries: list[tuple[float, str, str]]
    cursor: dict[str, Any]
    parent_id: str


class Shard:
    """One logical shard's state.

    Args:
        index: the shard number.
        store: the shard store, acquired at the runtime's epoch.
        clock: wall time.
        idempotency_ttl: seconds an idempotency key is remembered.
        version_codes: shared map of version id -> code in the resident columns.
        resident_depth: fingerprint columns kept (the longest routable path).
        checkpoint_every: an actor's record is rewritten after this many
            events (and at spawn, migration and shutdown); the events since
            are replayed at recovery.  Every event record is written at once,
            so nothing acknowledged depends on the checkpoint.
    """

    def __init__(
        self,
        index: int,
        store: ShardStore,
        clock: Clock,
        idempotency_ttl: float,
        version_codes: Mapping[str, int],
        resident_depth: int,
        checkpoint_every: int = 16,
    ) -> None:
        self.index = index
        self.checkpoint_every = checkpoint_every
        self.store = store
        self.clock = clock
        self.idempotency_ttl = idempotency_ttl
        self.actors: dict[str, Actor] = {}
        self.quarantined: dict[str, str] = {}  # actor id -> reason
        self.idempotency: dict[tuple[str, bytes], dict[str, Any]] = {}
        self.version_codes = version_codes
        self.resident = Resident(resident_depth)
        # set by the serving worker: schedules a timer on its heap
        self.timers_sink: Callable[[float, str, int, str], None] = lambda *_: None

    def add_loaded(self, actor: Actor) -> None:
        """An actor loaded at start-up (its resident row is filled later,
        see ``Resident.defer``)."""
        self.actors[actor.id] = actor
        self.resident.defer(actor.id, self.version_codes[actor.version_id], actor.trace, actor.seq, actor.snapshot.done)

    def make_current(self, actors: Mapping[str, Actor]) -> None:
        """Install new actor values (their writes are durable)."""
        codes = self.version_codes
        for actor_id, actor in actors.items():
            self.actors[actor_id] = actor
            self.resident.update(actor_id, codes[actor.version_id], actor.trace, actor.seq, actor.snapshot.done)

    def checkpoint_all(self, batch: ShardBatch) -> list[Actor]:
        """Add a record for every actor with events since its checkpoint;
        returns them (mark them checkpointed once the batch is durable)."""
        behind = [actor for actor in self.actors.values() if actor.seq > actor.checkpoint_seq]
        for actor in behind:
            put_actor(batch, actor)
        return behind

    def prune_idempotency(self, now: float, batch: ShardBatch) -> list[tuple[str, bytes]]:
        """Add deletes of up to 1,000 expired idempotency records to
        ``batch``; returns their keys, to forget once the batch is durable
        (forgotten earlier, a failed commit would leave them on disk for good)."""
        horizon = now - self.idempotency_ttl
        expired = [k for k, rec in self.idempotency.items() if rec["at"] < horizon][:1000]
        for key in expired:
            batch.delete("idempotency", key)
        return expired

    # -- deployments ------------------------------------------------------------------

    async def apply_deployment(
        self,
        evaluation: Evaluation,
        deployment_id: str,
        ordinal: int,
        version: Version,
        parent_id: str,
        commit: Callable[..., Any],
        hub: Any,
    ) -> PreparedDeployment:
        """Write one shard's decisions (the pages, which carry the moves),
        the migrated actors' timers and the cursor in one transaction; then
        swap the migrated actors in and tell watchers.

        Runs inside the serving worker's loop (a :class:`Task`) or before
        workers start, so no event of this shard is applied meanwhile.
        The migrated actors' own records are written later, by
        :meth:`settle_deployment`; until then recovery replays the moves
        from the pages.  Returns what was written (its ``cursor`` holds the
        shard's counts).
        """
        prepared = self.prepare_deployment(evaluation, deployment_id, ordinal, version, parent_id)
        await commit(prepared.batch)
        self.finish_deployment(prepared, hub)
        return prepared

    def prepare_deployment(
        self, evaluation: Evaluation, deployment_id: str, ordinal: int, version: Version, parent_id: str
    ) -> PreparedDeployment:
        """The shard's writes for a deployment (the decision pages, the
        migrated actors' timers, the cursor), not yet committed.

        A migrated actor's record is not rewritten here: the pages say
        where it moved, at which seq, and writing 25,000 records would
        triple a deployment's cost.  The cursor is marked ``actorsPending``
        until :meth:`settle_deployment` has written them."""
        now = self.clock.now()
        batch = self.store.batch()
        moved: dict[str, Actor] = {}
        heap_entries: list[tuple[float, str, str]] = []
        for actor, outcome in zip(evaluation.actors, evaluation.outcomes):
            if outcome.landing is None:
                continue
            for event_type in actor.timers:
                batch.delete("timers", (actor.id, event_type))
            timers: dict[str, float] = {}
            for event_type, delay in outcome.timers.items():
                fire_at = now + delay / 1000.0
                timers[event_type] = fire_at
                batch.put("timers", (actor.id, event_type), {"fireAt": fire_at, "delay": delay})
                heap_entries.append((fire_at, actor.id, event_type))
            moved[actor.id] = actor.moved(version.id, version.machine, Snapshot(outcome.landing, actor.snapshot.context), now, timers)
        for first, page in decision_pages(evaluation, deployment_id, now, parent_id, version.id):
            batch.put("deployment_decisions", (ordinal, first), page)
        cursor: dict[str, Any] = {"deploymentId": deployment_id, "at": now, "digest": evaluation.digest.hex(), **evaluation.counts()}
        if moved:
            cursor["actorsPending"] = True
        batch.put("cursors", ordinal, cursor)
        return PreparedDeployment(batch, moved, heap_entries, cursor, parent_id)

    def settle_batch(self, ordinal: int, cursor: Mapping[str, Any], actor_ids: Sequence[str], *, last: bool) -> tuple[ShardBatch, list[Actor]]:
        """The records of (some of) the actors deployment ``ordinal`` moved,
        as they are now, and, with the ``last`` of them, the cursor without
        its ``actorsPending`` mark (recovery then no longer reads the
        pages).  Mark the returned actors :meth:`settled` once the batch is
        durable."""
        batch = self.store.batch()
        written = []
        for actor_id in actor_ids:
            actor = self.actors.get(actor_id)
            if actor is not None:
                put_actor(batch, actor)
                written.append(actor)
        if last:
            batch.put("cursors", ordinal, {key: value for key, value in cursor.items() if key != "actorsPending"})
        return batch, written

    @staticmethod
    def settled(actors: Sequence[Actor]) -> None:
        """Their records (written by a settle batch) are durable."""
        for actor in actors:
            actor.checkpoint_seq = actor.seq

    async def settle_deployment(self, ordinal: int, cursor: Mapping[str, Any], actor_ids: Sequence[str], commit: Callable[..., Any]) -> None:
        """Write the records of every actor deployment ``ordinal`` moved, a
        slice per transaction (before workers start: recovery)."""
        for start in range(0, max(len(actor_ids), 1), SETTLE_SLICE):
            batch, written = self.settle_batch(
                ordinal, cursor, actor_ids[start : start + SETTLE_SLICE], last=start + SETTLE_SLICE >= len(actor_ids)
            )
            await commit(batch)
            self.settled(written)

    def finish_deployment(self, prepared: PreparedDeployment, hub: Any) -> dict[str, Any]:
        """After the prepared batch is durable: make the migrated actors
        current, arm their timers, tell watchers; returns the cursor."""
        # A move changes an actor's version and state, not its history: only
        # the version code and done flag of its resident row change.
        actors = self.actors
        moved_to = self.resident.moved_to
        codes = self.version_codes
        for actor_id, actor in prepared.moved.items():
            actors[actor_id] = actor
            moved_to(actor_id, codes[actor.version_id], actor.snapshot.configuration.done)
        for fire_at, actor_id, event_type in prepared.heap_entries:
            self.timers_sink(fire_at, actor_id, self.index, event_type)
        if hub.watched:
            for actor in prepared.moved.values():
                hub.publish(frame(actor, None), prepared.parent_id)
        return prepared.cursor

    # -- applying commands ---------------------------------------------------------

    def current(self, actor_id: str, pending: Pending | None = None) -> Actor:
        """The actor's latest value (including this batch's), or raise."""
        actor = pending.actor(actor_id) if pending is not None else None
        if actor is None:
            actor = self.actors.get(actor_id)
        if actor is None:
            if actor_id in self.quarantined:
                raise ActorUnavailable(f"actor {actor_id!r} is quarantined: {self.quarantined[actor_id]}")
            raise NotFound("actor", actor_id)
        return actor

    def apply(self, command: Command, pending: Pending, batch: ShardBatch) -> Any:
        """Apply one command to the overlay, adding its writes to ``batch``.

        Raises:
            RequestError: the command is rejected; nothing was added.
        """
        if isinstance(command, Send):
            return self._apply_send(command, pending, batch)
        if isinstance(command, Spawn):
            return self._apply_spawn(command, pending, batch)
        if isinstance(command, Fire):
            return self._apply_fire(command, pending, batch)
        raise TypeError(f"unknown command {command!r}")

    def _apply_send(self, command: Send, pending: Pending, batch: ShardBatch) -> dict[str, Any]:
        actor = pending.actors.get(command.actor_id) or self.current(command.actor_id, pending)
        idem_key = None
        if command.idempotency_key is not None:
            idem_key = (actor.id, idempotency_digest(command.idempotency_key))
            seen = pending.seen(self.index, idem_key) or self.idempotency.get(idem_key)
            if seen is not None:
                if seen["digest"] != command.digest:
                    raise Unprocessable("this Idempotency-Key was already used with a different request body")
                response: dict[str, Any] = seen["response"]
                return response
        snapshot = actor.snapshot
        if snapshot.done:
            raise ActorDone(actor.id)
        step = _transition(actor, command.event_type, command.guards)
        if not step.handled:
            raise EventNotHandled(actor.id, command.event_type, actor.machine.accepted_events(snapshot), snapshot.value)
        new = self._record_event(actor, step, command.event_type, command.payload, command.guards, pending, batch)
        landed = new.snapshot
        response = {
            "actorId": new.id,
            "versionId": new.version_id,
            "seq": new.seq,
            "stateValue": landed.value,
            "status": landed.status,
            "changed": landed.configuration is not snapshot.configuration,
            "effects": list(step.effects),
        }
        if idem_key is not None:
            record = {"digest": command.digest, "response": response, "at": new.updated_at}
            pending.idempotency.setdefault(self.index, {})[idem_key] = record
            batch.put("idempotency", (actor.id, command.idempotency_key), record)
        return response

    def _apply_fire(self, command: Fire, pending: Pending, batch: ShardBatch) -> None:
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
            pending.put(self.index, actor.with_timers(timers), dirty=False)
            return None
        self._record_event(actor, step, command.event_type, None, None, pending, batch, timers=timers)
        return None

    def _apply_spawn(self, command: Spawn, pending: Pending, batch: ShardBatch) -> dict[str, Any]:
        actor_id = command.actor_id
        if pending.actor(actor_id) is not None or actor_id in self.actors or actor_id in self.quarantined:
            raise ActorExists(f"actor {actor_id!r} already exists")
        version = command.version
        try:
            step = version.machine.initial_transition(context=command.context, guards=command.guards)
        except InfiniteLoopError as exc:
            raise EventLoop(str(exc)) from None
        now = pending.now
        actor = Actor.spawned(actor_id, version.id, version.machine, step.snapshot, now, answered_true(command.guards))
        actor.timers = self._apply_timers(actor, step, {}, now, pending, batch)
        pending.put(self.index, actor)
        if pending.watched:
            pending.changes.append((frame(actor, "xstate.init"), ()))
        return {**actor.view(), "effects": list(step.effects)}

    def _record_event(
        self,
        actor: Actor,
        step: Step,
        event_type: str,
        payload: Any,
        guards: Mapping[str, bool] | None,
        pending: Pending,
        batch: ShardBatch,
        timers: dict[str, float] | None = None,
    ) -> Actor:
        now = pending.now
        if timers is None:
            timers = actor.timers
        if step.timers:
            timers = self._apply_timers(actor, step, timers, now, pending, batch)
        snapshot = step.snapshot
        new = actor.advanced(snapshot, trace_entry(event_type, answered_true(guards) if guards else ()), now, timers)
        seq = new.seq
        event: dict[str, Any] = {"seq": seq, "type": event_type, "at": now, "stateValue": snapshot.value, "status": snapshot.status}
        if payload is not None:
            event["payload"] = payload
        if guards:
            event["guards"] = dict(guards)
        run = pending.events.get(actor.id)
        if run is None:
            pending.events[actor.id] = [event]  # written as one record at launch (events_record)
        else:
            run.append(event)
        pending.put(self.index, new, dirty=seq - new.checkpoint_seq >= self.checkpoint_every)
        if pending.watched:
            pending.changes.append((frame(new, event_type), ()))
        return new

    def _apply_timers(
        self, actor: Actor, step: Step, timers: dict[str, float], now: float, pending: Pending, batch: ShardBatch
    ) -> dict[str, float]:
        if not step.timers:
            return timers
        timers = dict(timers)
        for op in step.timers:
            if isinstance(op, Arm):
                fire_at = now + op.delay / 1000.0
                timers[op.event_type] = fire_at
                batch.put("timers", (actor.id, op.event_type), {"fireAt": fire_at, "delay": op.delay})
                pending.timers.append((fire_at, actor.id, self.index, op.event_type))
            elif timers.pop(op.event_type, None) is not None:
                batch.delete("timers", (actor.id, op.event_type))
        return timers


def put_events(batch: ShardBatch, actor_id: str, events: list[dict[str, Any]]) -> None:
    """Add the ``events`` record of an actor's events of one turn (see
    ``_actor.events_record``)."""
    key, value = events_record(events)
    batch.put("events", (actor_id, key), value)


def put_actor(batch: ShardBatch, actor: Actor, since: int | None = None) -> None:
    """Add the actor's record to ``batch``, with the ``traces`` records it
    needs beyond those of its last durable record (at seq ``since``,
    default its ``checkpoint_seq``)."""
    actor_id = actor.id
    for n, chunk in actor.trace_chunks(actor.checkpoint_seq if since is None else since):
        batch.put("traces", (actor_id, n), chunk)
    batch.put("actors", actor_id, actor.record())


def frame(actor: Actor, event_type: str | None) -> dict[str, Any]:
    """A watch ``change`` frame for an actor's new state."""
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


def _transition(actor: Actor, event_type: str, guards: Mapping[str, bool] | None, quiet: bool = False) -> Step:
    try:
        return actor.machine.transition(actor.snapshot, event_type, guards)
    except InfiniteLoopError as exc:
        if quiet:
            return Step(actor.snapshot, False, (), ())
        raise EventLoop(str(exc)) from None
