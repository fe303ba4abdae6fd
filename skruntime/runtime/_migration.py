"""The one evaluation function behind deploy and preview (SPEC section 5).

``evaluate_shard`` takes a shard's committed actors and resident
fingerprints and returns one :class:`Decision` per actor on the parent
version, without writing anything:

1. ``done`` actors stay (reason ``done``);
2. with a ``historyPath`` of length k, the routing pass (C, or its pure twin)
   classifies every actor by fingerprint; candidates are confirmed by
   comparing event types exactly, so a hash collision is a mismatch.  An
   actor whose whole history is a proper prefix of the path stays
   (``history-too-short``: it may match later); any other non-match stays
   (``history-mismatch``);
3. matching actors (every actor, without a path) are landed by replaying
   their whole history (types and guard answers, from the spawn answers on)
   through the new definition; replays are memoised, since thousands of
   actors share a few histories.  An event the new definition does not handle
   keeps the actor where it is (``replay-diverged``, with that event's seq);
4. the rest migrate, keeping their context.

Deploy runs this with every shard paused and then applies the decisions;
preview runs the very same function and returns them.  The preview token is
a digest of the decision set: each shard hashes its decisions (actor id and
outcome) in actor id order (not slot order: slots follow spawn order in a
running process but key order after a restart, and a token must not go
stale across one), and the token is SHA-256 over the shards' counts and
hashes in shard order, so shards can be evaluated separately, in any order.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, cast

import orjson

from .._fingerprint import FNV_OFFSET, to_hex
from .._routing import MATCH, MISMATCH, OTHER, TOO_SHORT, Resident, prefix_hashes
from .._exceptions import InfiniteLoopError
from ..statechart import Arm, Machine, Replay, Snapshot
from ._actor import Actor, TraceEntry

if TYPE_CHECKING:
    from ..statechart._model import TimerOp
    from ..statechart._snapshot import Configuration

__all__ = ["Decision", "Evaluation", "ReplayMemo", "combine_tokens", "evaluate_shard"]

MIGRATE = "migrate"
STAY = "stay"
_NO_TIMERS: Mapping[str, int] = {}


class Decision:
    """One actor's fate in one deployment (a plain slotted class: deployments
    make tens of thousands of these).  It keeps the actor value it was made
    from (actor values are never changed in place, a new event makes a new
    one), so the id, fingerprint, seq and state are those at decision time."""

    __slots__ = ("actor", "decision", "reason", "prefix_hash", "k", "landing", "timers", "diverged_seq")

    def __init__(
        self,
        actor: Actor,
        decision: str,
        reason: str,
        prefix_hash: int | None,
        k: int,
        landing: Snapshot | None = None,
        timers: Mapping[str, int] = _NO_TIMERS,
        diverged_seq: int | None = None,
    ) -> None:
        self.actor = actor
        self.decision = decision  # "migrate" | "stay"
        self.reason = reason  # history-match | no-history-path | done | history-too-short | history-mismatch | replay-diverged
        self.prefix_hash = prefix_hash  # the path hash it was compared with
        self.k = k  # the path length (0: no path)
        self.landing = landing  # where a migrating actor lands
        self.timers = timers  # delayed events pending at landing
        self.diverged_seq = diverged_seq

    @property
    def actor_id(self) -> str:
        return self.actor.id

    @property
    def fingerprint(self) -> int:
        """The actor's last chain value when decided."""
        return self.actor.fingerprint

    @property
    def seq(self) -> int:
        """Its number of handled events when decided."""
        return self.actor.seq

    @property
    def from_state(self) -> Any:
        return self.actor.snapshot.value

    @property
    def migrates(self) -> bool:
        return self.decision == MIGRATE

    def record(self, deployment_id: str, at: float, from_version: str, to_version: str) -> dict[str, Any]:
        """The audit record (SPEC section 6)."""
        rec: dict[str, Any] = {
            "deploymentId": deployment_id,
            "at": at,
            "fromVersion": from_version,
            "toVersion": to_version if self.decision == MIGRATE else None,
            "decision": self.decision,
            "reason": self.reason,
            "seq": self.actor.seq,
            "fingerprint": to_hex(self.actor.fingerprint),
            "prefixHash": None if self.prefix_hash is None else to_hex(self.prefix_hash),
            "k": self.k,
            "fromState": self.actor.snapshot.value,
            "landingState": None if self.landing is None else self.landing.value,
        }
        if self.diverged_seq is not None:
            rec["divergedSeq"] = self.diverged_seq
        return rec


class Evaluation:
    """One shard's decisions and their digest."""

    __slots__ = ("shard", "decisions", "migrated", "_by_reason", "_parts", "_outcomes")

    def __init__(self, shard: int = 0) -> None:
        self.shard = shard
        self.decisions: list[Decision] = []
        self.migrated = 0
        self._by_reason: dict[str, int] = {}
        self._parts: list[bytes] = []  # each decision's part of the token
        self._outcomes: dict[tuple[str, str, int], bytes] = {}

    def add(self, decision: Decision) -> None:
        self.decisions.append(decision)
        reason = decision.reason
        self._by_reason[reason] = self._by_reason.get(reason, 0) + 1
        if decision.decision == MIGRATE:
            self.migrated += 1
        # The decision's part of the preview token: the actor id and its
        # outcome (decision, reason, landing state value); ids cannot hold
        # NUL, so the NUL that starts an outcome ends the id.
        landing = decision.landing
        key = (decision.decision, decision.reason, id(landing.configuration) if landing is not None else 0)
        outcome = self._outcomes.get(key)
        if outcome is None:
            value = None if landing is None else landing.value
            outcome = self._outcomes[key] = b"\x00" + orjson.dumps([decision.decision, decision.reason, value], option=orjson.OPT_SORT_KEYS) + b"\n"
        self._parts.append(decision.actor.id.encode() + outcome)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the decisions so far, in actor id order (the order
        they were added in depends on the shard's slots, see above)."""
        h = hashlib.sha256()
        for part in sorted(self._parts):  # ids are unique and hold no NUL
            h.update(part)
        return h.digest()

    def counts(self) -> dict[str, Any]:
        n = len(self.decisions)
        return {"evaluated": n, "migrated": self.migrated, "stayed": n - self.migrated, "byReason": dict(self._by_reason)}


class _Point:
    """Where a replay stands: an (interned) configuration and the delayed
    events pending there, with the point each next history entry leads to
    (``None``: that entry is not handled here)."""

    __slots__ = ("configuration", "timers", "following", "result")

    def __init__(self, configuration: Configuration, timers: tuple[tuple[str, int], ...], context: Mapping[str, Any]) -> None:
        self.configuration = configuration
        self.timers = timers
        self.following: dict[TraceEntry, _Point | None] = {}
        self.result = Replay(Snapshot(configuration, context), None, dict(timers))


class ReplayMemo:
    """Replays through one machine, sharing every step they have in common.

    A replay walks an actor's history from the point its spawn answers lead
    to; each step, from a point (configuration and pending delayed events)
    by one history entry (type and guard answers), is computed once and
    remembered, so thousands of actors whose histories differ only in their
    tails cost a dictionary lookup per event.  The result equals
    :meth:`Machine.replay` of the same history (tests compare them).
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._starts: dict[tuple[str, ...], _Point | None] = {}
        self._points: dict[tuple[Configuration, tuple[tuple[str, int], ...]], _Point] = {}

    def replay(self, actor: Actor) -> Replay:
        guards = actor.spawn_guards
        point: _Point | None = self._starts[guards] if guards in self._starts else self._start(guards)
        if point is None:
            return _DIVERGED_AT_SPAWN
        for i, entry in enumerate(islice(actor.trace, actor.seq)):
            following = point.following.get(entry, _ABSENT)
            if following is _ABSENT:
                following = point.following[entry] = self._step(point, entry)
            if following is None:
                return Replay(None, i)
            point = following
        return point.result

    def _start(self, spawn_guards: tuple[str, ...]) -> _Point | None:
        try:
            step = self.machine.initial_transition(guards=dict.fromkeys(spawn_guards, True) if spawn_guards else None)
        except InfiniteLoopError:
            point = None
        else:
            pending: dict[str, int] = {}
            _timer_ops(pending, step.timers)
            point = self._point(step.snapshot.configuration, pending)
        self._starts[spawn_guards] = point
        return point

    def _step(self, point: _Point, entry: TraceEntry) -> _Point | None:
        event_type, names = entry
        advanced = self.machine.advance(point.configuration, event_type, dict.fromkeys(names, True) if names else None)
        if advanced is None:
            return None
        configuration, ops = advanced
        pending = dict(point.timers)
        pending.pop(event_type, None)  # a delayed event in the history fired its timer, as it did live
        _timer_ops(pending, ops)
        return self._point(configuration, pending)

    def _point(self, configuration: Configuration, pending: dict[str, int]) -> _Point:
        key = (configuration, tuple(pending.items()))
        point = self._points.get(key)
        if point is None:
            point = self._points[key] = _Point(configuration, key[1], self.machine.initial_context)
        return point


_DIVERGED_AT_SPAWN = Replay(None, 0)
_ABSENT = cast(_Point, object())  # a step not computed yet


def _timer_ops(pending: dict[str, int], ops: Sequence[TimerOp]) -> None:
    for op in ops:
        pending.pop(op.event_type, None)
        if isinstance(op, Arm):
            pending[op.event_type] = op.delay


def evaluate_shard(
    shard: int,
    actors: Mapping[str, Actor],
    resident: Resident,
    parent_code: int,
    path: Sequence[str] | None,
    memo: ReplayMemo,
    *,
    pure: bool = False,
) -> Evaluation:
    """Decide every actor of one shard that is on the parent version.

    Args:
        shard: the shard's index.
        actors: the shard's committed actors, by id.
        resident: the shard's fingerprint columns (in step with ``actors``).
        parent_code: the parent version's code in ``resident``.
        path: the historyPath; ``None`` or empty: every actor is eligible.
        memo: replays through the new machine, shared across shards.
        pure: use the pure-Python routing pass (tests compare both).
    """
    evaluation = Evaluation(shard)
    k = len(path) if path else 0
    if k:
        verdicts = resident.route(parent_code, path, pure=pure)  # type: ignore[arg-type]
        prefixes = prefix_hashes(path)  # type: ignore[arg-type]
    else:
        verdicts = bytes(MISMATCH if v == parent_code else OTHER for v in resident.versions)
        prefixes = [FNV_OFFSET]
    ids = resident.actor_ids
    add = evaluation.add
    for slot, verdict in enumerate(verdicts):
        if verdict != OTHER:
            add(_decide(actors[ids[slot]], verdict, path, k, prefixes, memo))
    return evaluation


def _decide(actor: Actor, verdict: int, path: Sequence[str] | None, k: int, prefixes: list[int], memo: ReplayMemo) -> Decision:
    if actor.snapshot.done:
        return Decision(actor, STAY, "done", None, k)
    if k:
        assert path is not None
        n = actor.seq
        compared = prefixes[k] if n >= k else prefixes[n]
        if verdict == MISMATCH:
            return Decision(actor, STAY, "history-mismatch", compared, k)
        trace = actor.trace
        for i in range(min(n, k)):  # the exact comparison behind the hash filter
            if trace[i][0] != path[i]:
                return Decision(actor, STAY, "history-mismatch", compared, k)
        if verdict == TOO_SHORT:
            return Decision(actor, STAY, "history-too-short", compared, k)
        reason = "history-match"
    else:
        compared = None
        reason = "no-history-path"
    replay = memo.replay(actor)
    if replay.snapshot is None:
        assert replay.diverged_at is not None
        return Decision(actor, STAY, "replay-diverged", compared, k, diverged_seq=replay.diverged_at + 1)
    landing = Snapshot(replay.snapshot.configuration, actor.snapshot.context)
    return Decision(actor, MIGRATE, reason, compared, k, landing, replay.timers)


def combine_tokens(evaluations: Sequence[Evaluation]) -> str:
    """The preview token of a whole deployment from its shards' evaluations
    (given in any order)."""
    ordered = sorted(evaluations, key=lambda e: e.shard)
    h = hashlib.sha256(b"skruntime-preview-v2")
    for evaluation in ordered:
        h.update(evaluation.shard.to_bytes(4, "big") + len(evaluation.decisions).to_bytes(8, "big") + evaluation.digest)
    return "pt_" + base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")
