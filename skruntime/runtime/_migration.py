"""The one evaluation function behind deploy and preview (SPEC section 5).

``evaluate_shard`` takes a shard's committed actors and resident
fingerprints and returns an :class:`Evaluation`: each actor on the parent
version with its :class:`Outcome` (shared by every actor with the same
fate), without writing anything:

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
outcome) in the store's key order of the ids (``Resident.key_order``; not
slot order: slots follow spawn order in a running process but key order
after a restart, and a token must not go stale across one), and the token
is SHA-256 over the shards' counts and hashes in shard order, so shards can
be evaluated separately, in any order.
"""

from __future__ import annotations

import base64
import collections
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .._fingerprint import FNV_OFFSET, to_hex
from .._routing import MATCH, MISMATCH, OTHER, TOO_SHORT, Resident, prefix_hashes
from .._exceptions import InfiniteLoopError
from ..statechart import Arm, Machine, Replay, Snapshot
from ._actor import Actor, TraceEntry

if TYPE_CHECKING:
    from ..statechart._model import TimerOp
    from ..statechart._snapshot import Configuration

__all__ = ["Evaluation", "Outcome", "ReplayMemo", "combine_tokens", "evaluate_shard"]

MIGRATE = "migrate"
STAY = "stay"
_NO_TIMERS: Mapping[str, int] = {}


class Outcome:
    """What a deployment does with one kind of actor: everything about a
    decision except the actor.  Actors with the same fate get the same
    outcome object (handed out by ``_Decider``), so a deployment of 50,000
    actors makes a few hundred of these, not 50,000."""

    __slots__ = ("decision", "reason", "prefix_hash", "k", "landing", "timers", "diverged_seq", "prefix_hex", "landing_value", "token")

    def __init__(
        self,
        decision: str,
        reason: str,
        prefix_hash: int | None,
        k: int,
        landing: Configuration | None = None,
        timers: Mapping[str, int] = _NO_TIMERS,
        diverged_seq: int | None = None,
    ) -> None:
        self.decision = decision  # "migrate" | "stay"
        self.reason = reason  # history-match | no-history-path | done | history-too-short | history-mismatch | replay-diverged
        self.prefix_hash = prefix_hash  # the path hash it was compared with
        self.k = k  # the path length (0: no path)
        self.landing = landing  # where a migrating actor lands (its context stays its own)
        self.timers = timers  # delayed events pending at landing
        self.diverged_seq = diverged_seq
        # As the audit records them:
        self.prefix_hex = None if prefix_hash is None else to_hex(prefix_hash)
        self.landing_value = None if landing is None else landing.value
        # Its part of the preview token (after the actor id): the outcome as
        # SPEC section 5 lists it; ids cannot hold NUL, so the NUL that
        # starts it ends the id.
        self.token = "\x00" + orjson.dumps([decision, reason, self.landing_value], option=orjson.OPT_SORT_KEYS).decode() + "\n"


class Evaluation:
    """One shard's decisions (``actors[i]`` gets ``outcomes[i]``), in the
    store's key order of the actor ids, and their digest."""

    __slots__ = ("shard", "ids", "outcomes", "parts", "_source", "_digest")

    def __init__(self, shard: int, source: Mapping[str, Actor]) -> None:
        self.shard = shard
        self.ids: list[str] = []
        self.outcomes: list[Outcome] = []
        self._source = source  # the shard's actors, unchanged until the evaluation is used (no await in between, or paused)
        self.parts: list[str] = []  # each decision's part of the digest: actor id + outcome token
        self._digest: bytes | None = None

    @property
    def actors(self) -> list[Actor]:
        """The decided actors' values (those the decisions were made from)."""
        source = self._source
        return [source[actor_id] for actor_id in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def digest(self) -> bytes:
        """SHA-256 of the decisions, in key order (not slot order, see the
        module docstring)."""
        if self._digest is None:  # computed once: an evaluation is complete when it is read
            # Ids hold no NUL: the NUL that starts each outcome ends the id.
            self._digest = hashlib.sha256("".join(self.parts).encode()).digest()
            self.parts = []
        return self._digest

    def counts(self) -> dict[str, Any]:
        by_reason: dict[str, int] = {}
        migrated = 0
        for outcome, n in collections.Counter(self.outcomes).items():
            by_reason[outcome.reason] = by_reason.get(outcome.reason, 0) + n
            if outcome.decision == MIGRATE:
                migrated += n
        total = len(self.ids)
        return {"evaluated": total, "migrated": migrated, "stayed": total - migrated, "byReason": by_reason}


class _Point:
    """Where a replay stands: an (interned) configuration and the delayed
    events pending there, with the point each next history entry leads to
    (``_DIVERGED``: that entry is not handled here)."""

    __slots__ = ("configuration", "timers", "following", "result")

    def __init__(self, configuration: Configuration | None, timers: tuple[tuple[str, int], ...], context: Mapping[str, Any]) -> None:
        self.configuration = configuration
        self.timers = timers
        self.following: dict[TraceEntry, _Point] = {}
        self.result = None if configuration is None else Replay(Snapshot(configuration, context), None, dict(timers))


_DIVERGED = _Point(None, (), {})  # the step's event is not handled


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
        self._starts: dict[tuple[str, ...], _Point] = {}
        self._points: dict[tuple[Configuration, tuple[tuple[str, int], ...]], _Point] = {}
        self._deciders: dict[tuple[str, ...], _Decider] = {}

    def replay(self, actor: Actor) -> Replay:
        point = self.land(actor)
        if point.result is not None:
            return point.result
        return Replay(None, self._diverged_at(actor))

    def land(self, actor: Actor) -> _Point:
        """The point the actor's whole history leads to (``_DIVERGED`` if
        an event of it is not handled)."""
        guards = actor.spawn_guards
        point = self._starts.get(guards)
        if point is None:
            point = self._start(guards)
        n = actor.seq
        trace = actor.trace
        for entry in trace if len(trace) == n else trace[:n]:
            following = point.following.get(entry)
            if following is None:
                if point is _DIVERGED:  # (shared by every memo: nothing is stored in it)
                    return point
                following = point.following[entry] = self._step(point, entry)
            point = following
        return point

    def _diverged_at(self, actor: Actor) -> int:
        """The index of the history entry the new machine does not handle
        (``land`` gave ``_DIVERGED``; every step is memoised by now)."""
        point = self._starts[actor.spawn_guards]
        if point is _DIVERGED:
            return 0
        for i, entry in enumerate(actor.trace[: actor.seq]):
            point = point.following[entry]
            if point is _DIVERGED:
                return i
        raise AssertionError("the history did not diverge")  # pragma: no cover

    def decider(self, path: Sequence[str] | None) -> _Decider:
        """The per-actor decision for ``path`` (one per memo and path)."""
        key = tuple(path) if path else ()
        found = self._deciders.get(key)
        if found is None:
            found = self._deciders[key] = _Decider(self, key)
        return found

    def _start(self, spawn_guards: tuple[str, ...]) -> _Point:
        try:
            step = self.machine.initial_transition(guards=dict.fromkeys(spawn_guards, True) if spawn_guards else None)
        except InfiniteLoopError:
            point = _DIVERGED
        else:
            pending: dict[str, int] = {}
            _timer_ops(pending, step.timers)
            point = self._point(step.snapshot.configuration, pending)
        self._starts[spawn_guards] = point
        return point

    def _step(self, point: _Point, entry: TraceEntry) -> _Point:
        event_type, names = entry
        assert point.configuration is not None
        advanced = self.machine.advance(point.configuration, event_type, dict.fromkeys(names, True) if names else None)
        if advanced is None:
            return _DIVERGED
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


def _timer_ops(pending: dict[str, int], ops: Sequence[TimerOp]) -> None:
    for op in ops:
        pending.pop(op.event_type, None)
        if isinstance(op, Arm):
            pending[op.event_type] = op.delay


class _Decider:
    """Decides actors for one deployment (a memo and a path), handing out
    shared :class:`Outcome` objects: one per kind of stay, one per landing
    point, one per divergence index."""

    def __init__(self, memo: ReplayMemo, path: tuple[str, ...]) -> None:
        self.memo = memo
        self.path = path
        self.k = k = len(path)
        self.prefixes = prefix_hashes(path) if k else [FNV_OFFSET]
        self.done = Outcome(STAY, "done", None, k)
        self.mismatch = [Outcome(STAY, "history-mismatch", self.prefixes[depth], k) for depth in range(k + 1)]
        self._short: dict[int, Outcome] = {}
        self._landings: dict[_Point, Outcome] = {}
        self._diverged: dict[int, Outcome] = {}

    def __call__(self, actor: Actor, verdict: int) -> Outcome:
        """The outcome of an actor that is not done, whose verdict is
        ``MATCH`` or ``TOO_SHORT`` (every eligible actor is a ``MATCH``
        without a path); ``evaluate_shard`` decides the others itself."""
        k = self.k
        if k:
            n = actor.seq
            trace = actor.trace
            path = self.path
            for i in range(n if n < k else k):  # the exact comparison behind the hash filter
                if trace[i][0] != path[i]:
                    return self.mismatch[n if n < k else k]
            if verdict == TOO_SHORT:
                outcome = self._short.get(n)
                if outcome is None:
                    outcome = self._short[n] = Outcome(STAY, "history-too-short", self.prefixes[n], k)
                return outcome
        point = self.memo.land(actor)
        outcome = self._landings.get(point)
        if outcome is None:
            if point is _DIVERGED:
                at = self.memo._diverged_at(actor) + 1
                outcome = self._diverged.get(at)
                if outcome is None:
                    outcome = self._diverged[at] = Outcome(
                        STAY, "replay-diverged", self.prefixes[k] if k else None, k, diverged_seq=at
                    )
                return outcome
            outcome = self._landings[point] = Outcome(
                MIGRATE, "history-match" if k else "no-history-path", self.prefixes[k] if k else None, k,
                point.configuration, dict(point.timers),
            )
        return outcome


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
    evaluation = Evaluation(shard, actors)
    if path:
        verdicts = resident.route(parent_code, path, pure=pure)
    else:
        verdicts = bytes(MATCH if v == parent_code else OTHER for v in resident.versions)
    decide = memo.decider(path)
    done = decide.done
    mismatch = decide.mismatch  # by min(seq, k)
    k = decide.k
    ids = resident.actor_ids
    finished = resident.done
    lengths = resident.lengths  # each actor's seq
    decided = evaluation.ids.append
    outcomes = evaluation.outcomes.append
    parts = evaluation.parts.append
    # Done and mismatching actors are decided from the resident columns
    # alone: touching 50,000 actor objects is most of an evaluation's cost.
    for slot in resident.key_order():  # the order of the digest and the pages
        verdict = verdicts[slot]
        if verdict == OTHER:
            continue
        actor_id = ids[slot]
        if finished[slot]:
            outcome = done
        elif verdict == MISMATCH:  # the hashes differ, so do the types (only with a path)
            n = lengths[slot]
            outcome = mismatch[n if n < k else k]
        else:
            outcome = decide(actors[actor_id], verdict)
        decided(actor_id)
        outcomes(outcome)
        parts(actor_id + outcome.token)
    return evaluation


def combine_tokens(evaluations: Sequence[Evaluation]) -> str:
    """The preview token of a whole deployment from its shards' evaluations
    (given in any order)."""
    ordered = sorted(evaluations, key=lambda e: e.shard)
    h = hashlib.sha256(b"skruntime-preview-v2")
    for evaluation in ordered:
        h.update(evaluation.shard.to_bytes(4, "big") + len(evaluation).to_bytes(8, "big") + evaluation.digest)
    return "pt_" + base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")
