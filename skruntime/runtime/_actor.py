"""Actors in memory, and the records that make them durable.

An :class:`Actor` is an immutable value: every handled event produces a new
one, which replaces the old only once its write is durable.  (The trace list
is shared between successive values and only ever appended to, so a value
reads ``trace[:trace_len]``; a write that failed leaves an extra entry that
the next append overwrites.)

Records (all JSON, all encrypted by the store; see docs/STORAGE.md):

* ``actors/(actor)``: ``{versionId, snapshot, seq, fingerprint, createdAt,
  updatedAt, spawnGuards?, traceBase?, trace}``, where the history's
  ``[type, [guards answered true]]`` pairs are what replaying the actor
  needs: ``trace`` holds those from ``traceBase`` (default 0) on, and the
  ``traceBase`` before it are in ``traces`` records.  It is a checkpoint,
  rewritten every few events (``checkpoint_seq``); the events after it are
  replayed at recovery.
* ``traces/(actor, n)``: ``{trace}``, the pairs ``n * TRACE_CHUNK`` up to
  ``(n + 1) * TRACE_CHUNK``, written once, with the first record whose
  ``traceBase`` covers them.  So a checkpoint costs the same at the
  10,000th event as at the 10th (it used to rewrite the whole history).
* ``events/(actor, seq)``: the history, with the state each event led to
  (watch resumes from it): one event ``{seq, type, payload?, guards?, at,
  stateValue, status}``, or ``{events: [...]}``, the events one turn
  handled for the actor, in order.  Either way the key's seq is the last
  event's, so the record holding event n is the first at or after n.  One
  record per actor and turn instead of one per event: under load, an actor
  handles several events a turn, and each record costs a seal and a put.
* ``timers/(actor, event type)``: ``{fireAt, delay}``.
* ``idempotency/(actor, key)``: ``{digest, response, at}``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

from .._fingerprint import FNV_OFFSET, extend, to_hex
from ..statechart import Machine, Snapshot

__all__ = ["TRACE_CHUNK", "Actor", "TraceEntry", "answered_true", "events_in", "events_record", "iso_time", "trace_entry"]

TraceEntry = tuple[str, tuple[str, ...]]  # (event type, guard names answered true)
TRACE_CHUNK: Final = 64  # history pairs per ``traces`` record (part of the store format)

# Every actor's trace holds the same few entries (a definition's event types
# and guard answers), so they are shared: one tuple per distinct entry
# instead of one per event, and two histories compare entry by identity (the
# deployment evaluation compares thousands).  Bounded, since a wildcard
# transition accepts any event type: past the bound, entries are not shared.
_ENTRIES: dict[TraceEntry, TraceEntry] = {}
_MAX_SHARED_ENTRIES: Final = 65536


def trace_entry(event_type: str, guards: tuple[str, ...]) -> TraceEntry:
    """The (shared) trace entry of one handled event."""
    entry = (event_type, guards)
    found = _ENTRIES.get(entry)
    if found is not None:
        return found
    if len(_ENTRIES) < _MAX_SHARED_ENTRIES:
        _ENTRIES[entry] = entry
    return entry


def answered_true(guards: Mapping[str, bool] | None) -> tuple[str, ...]:
    """The names a caller answered ``true``, sorted (all that replay needs)."""
    if not guards:
        return ()
    return tuple(sorted(name for name, value in guards.items() if value is True))


class Actor:
    """One actor's committed state.

    Attributes:
        id: the actor id.
        version_id: the version it runs on.
        machine: that version's compiled machine.
        snapshot: where it is (and its context).
        seq: the number of handled events.
        fingerprint: the last fingerprint chain value (``FNV_OFFSET`` if none).
        created_at, updated_at: wall-clock seconds.
        spawn_guards: the guard answers given at spawn (replay needs them).
        trace: shared list; this value's trace is ``trace[:seq]``.
        timers: pending delayed events, ``{event type: fire-at wall time}``.
    """

    __slots__ = (
        "id",
        "version_id",
        "machine",
        "snapshot",
        "seq",
        "fingerprint",
        "created_at",
        "updated_at",
        "spawn_guards",
        "trace",
        "timers",
        "checkpoint_seq",
    )

    def __init__(
        self,
        actor_id: str,
        version_id: str,
        machine: Machine,
        snapshot: Snapshot,
        seq: int,
        fingerprint: int,
        created_at: float,
        updated_at: float,
        spawn_guards: tuple[str, ...],
        trace: list[TraceEntry],
        timers: dict[str, float],
    ) -> None:
        self.id = actor_id
        self.version_id = version_id
        self.machine = machine
        self.snapshot = snapshot
        self.seq = seq
        self.fingerprint = fingerprint
        self.created_at = created_at
        self.updated_at = updated_at
        self.spawn_guards = spawn_guards
        self.trace = trace
        self.timers = timers
        # The seq of this actor's last durable ``actors`` record: events after
        # it are replayed from ``events`` at recovery (see _shard.py), and
        # the ``traces`` chunks before its traceBase are durable too.
        self.checkpoint_seq = seq

    def __repr__(self) -> str:
        return f"<Actor {self.id!r} {self.version_id} {self.snapshot.value!r} seq={self.seq}>"

    @classmethod
    def spawned(
        cls,
        actor_id: str,
        version_id: str,
        machine: Machine,
        snapshot: Snapshot,
        now: float,
        spawn_guards: tuple[str, ...],
    ) -> Actor:
        return cls(actor_id, version_id, machine, snapshot, 0, FNV_OFFSET, now, now, spawn_guards, [], {})

    def advanced(self, snapshot: Snapshot, entry: TraceEntry, now: float, timers: dict[str, float]) -> Actor:
        """The actor after handling one more event (not yet checkpointed)."""
        trace = self.trace
        if len(trace) != self.seq:
            del trace[self.seq :]  # a failed write left an entry behind
        trace.append(entry)
        advanced = Actor(
            self.id,
            self.version_id,
            self.machine,
            snapshot,
            self.seq + 1,
            extend(self.fingerprint, entry[0]),
            self.created_at,
            now,
            self.spawn_guards,
            trace,
            timers,
        )
        advanced.checkpoint_seq = self.checkpoint_seq
        return advanced

    def moved(self, version_id: str, machine: Machine, snapshot: Snapshot, now: float, timers: dict[str, float]) -> Actor:
        """The actor migrated to another version (history unchanged).  Its
        durable record is still the one before the move (the deployment's
        pages record the move), so the checkpoint seq carries over."""
        moved = Actor(
            self.id, version_id, machine, snapshot, self.seq, self.fingerprint,
            self.created_at, now, self.spawn_guards, self.trace, timers,
        )
        moved.checkpoint_seq = self.checkpoint_seq
        return moved

    def with_timers(self, timers: dict[str, float]) -> Actor:
        """The same actor with other pending timers (nothing else changes)."""
        actor = Actor(
            self.id, self.version_id, self.machine, self.snapshot, self.seq, self.fingerprint,
            self.created_at, self.updated_at, self.spawn_guards, self.trace, timers,
        )
        actor.checkpoint_seq = self.checkpoint_seq
        return actor

    @property
    def history(self) -> list[TraceEntry]:
        return self.trace[: self.seq]

    @property
    def done(self) -> bool:
        return self.snapshot.done

    # -- wire and disk forms ----------------------------------------------------

    def view(self) -> dict[str, Any]:
        """The snapshot as the API returns it (SPEC section 8)."""
        snapshot = self.snapshot
        out: dict[str, Any] = {
            "actorId": self.id,
            "versionId": self.version_id,
            "stateValue": snapshot.value,
            "status": snapshot.status,
            "context": snapshot.context,
            "seq": self.seq,
            "fingerprint": to_hex(self.fingerprint),
            "createdAt": iso_time(self.created_at),
            "updatedAt": iso_time(self.updated_at),
        }
        output = snapshot.output
        if output is not None:
            out["output"] = output
        tags = self.machine.tags(snapshot)
        if tags:
            out["tags"] = list(tags)
        return out

    def record(self) -> dict[str, Any]:
        """The ``actors`` record (write :meth:`trace_chunks` with it)."""
        seq = self.seq
        base = seq - seq % TRACE_CHUNK
        rec: dict[str, Any] = {
            "versionId": self.version_id,
            "snapshot": self.snapshot.to_json(),
            "seq": self.seq,
            "fingerprint": to_hex(self.fingerprint),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            # (type, names) tuples serialize as [type, [names...]]: no per-entry Python work
            "trace": self.trace[base:seq],
        }
        if base:
            rec["traceBase"] = base
        if self.spawn_guards:
            rec["spawnGuards"] = list(self.spawn_guards)
        return rec

    def trace_chunks(self, since: int) -> list[tuple[int, dict[str, Any]]]:
        """The ``traces`` records that a record written now needs and a
        record written at seq ``since`` (a durable one) did not: ``(chunk
        number, value)``.  Writing one again is harmless (same value)."""
        chunk = TRACE_CHUNK
        trace = self.trace
        return [(n, {"trace": trace[n * chunk : (n + 1) * chunk]}) for n in range(since // chunk, self.seq // chunk)]

    @classmethod
    def from_record(
        cls,
        actor_id: str,
        record: Mapping[str, Any],
        machine: Machine,
        timers: dict[str, float],
        chunks: Mapping[int, Any] | None = None,
    ) -> Actor:
        """Rebuild from an ``actors`` record and its ``traces`` records
        (``chunks``, by chunk number); raises ``SnapshotError``, ``KeyError``
        or ``ValueError`` on records that do not fit."""
        snapshot = machine.restore(record["snapshot"])
        base = int(record.get("traceBase", 0))
        if base < 0 or base % TRACE_CHUNK:
            raise ValueError(f"traceBase {base} is not a multiple of {TRACE_CHUNK}")
        raw: list[Any] = []
        for n in range(base // TRACE_CHUNK):
            chunk = None if chunks is None else chunks.get(n)
            if chunk is None:
                raise ValueError(f"its history record (traces chunk {n}) is missing")
            entries = chunk["trace"]
            if len(entries) != TRACE_CHUNK:
                raise ValueError(f"traces chunk {n} holds {len(entries)} events, not {TRACE_CHUNK}")
            raw.extend(entries)
        raw.extend(record["trace"])
        trace: list[TraceEntry] = [trace_entry(e[0], tuple(e[1]) if len(e) > 1 else ()) for e in raw]
        seq = int(record["seq"])
        if seq != len(trace):
            raise ValueError(f"seq {seq} does not match a trace of {len(trace)} events")
        actor = cls(
            actor_id,
            record["versionId"],
            machine,
            snapshot,
            seq,
            int(record["fingerprint"], 16),
            float(record["createdAt"]),
            float(record["updatedAt"]),
            tuple(record.get("spawnGuards", ())),
            trace,
            timers,
        )
        if base == 0 and seq >= TRACE_CHUNK:
            # A record from before format 2 (its whole history inline, no
            # chunks on disk): count it as no record in today's layout, so
            # that the next one written (at its next events, a migration or
            # shutdown) brings every chunk with it.
            actor.checkpoint_seq = 0
        return actor


def events_record(events: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The key seq and value of the ``events`` record of consecutive events."""
    if len(events) == 1:
        return events[0]["seq"], events[0]
    return events[-1]["seq"], {"events": events}


def events_in(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The events an ``events`` record holds, in order."""
    events = record.get("events")
    return [record] if events is None else list(events)


def iso_time(t: float) -> str:
    """RFC 3339 UTC with milliseconds, as the API writes times."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
