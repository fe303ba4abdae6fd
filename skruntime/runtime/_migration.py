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
an order-independent digest of the decision set: SHA-256 over the count and
the sum (mod 2**256) of per-decision hashes, so shards can be digested
separately and combined.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._fingerprint import FNV_OFFSET, to_hex
from .._routing import MATCH, MISMATCH, OTHER, TOO_SHORT, Resident, prefix_hashes
from ..statechart import Machine, Replay, Snapshot
from ._actor import Actor

__all__ = ["Decision", "Evaluation", "ReplayMemo", "combine_tokens", "evaluate_shard"]

MIGRATE = "migrate"
STAY = "stay"
_MOD = 1 << 256


@dataclass(frozen=True, slots=True)
class Decision:
    """One actor's fate in one deployment."""

    actor_id: str
    decision: str  # "migrate" | "stay"
    reason: str  # history-match | no-history-path | done | history-too-short | history-mismatch | replay-diverged
    fingerprint: int  # the actor's last chain value when decided
    seq: int  # the actor's number of handled events when decided
    prefix_hash: int | None  # the path hash it was compared with
    k: int  # the path length (0: no path)
    from_state: Any
    landing: Snapshot | None = None  # where a migrating actor lands
    timers: Mapping[str, int] = field(default_factory=dict)  # delayed events pending at landing
    diverged_seq: int | None = None

    @property
    def migrates(self) -> bool:
        return self.decision == MIGRATE

    def digest(self) -> int:
        """This decision's contribution to the preview token."""
        landing = None if self.landing is None else self.landing.value
        raw = orjson.dumps([self.actor_id, self.decision, self.reason, landing], option=orjson.OPT_SORT_KEYS)
        return int.from_bytes(hashlib.sha256(raw).digest(), "big")

    def record(self, deployment_id: str, at: float, from_version: str, to_version: str) -> dict[str, Any]:
        """The audit record (SPEC section 6)."""
        rec: dict[str, Any] = {
            "deploymentId": deployment_id,
            "at": at,
            "fromVersion": from_version,
            "toVersion": to_version if self.migrates else None,
            "decision": self.decision,
            "reason": self.reason,
            "seq": self.seq,
            "fingerprint": to_hex(self.fingerprint),
            "prefixHash": None if self.prefix_hash is None else to_hex(self.prefix_hash),
            "k": self.k,
            "fromState": self.from_state,
            "landingState": None if self.landing is None else self.landing.value,
        }
        if self.diverged_seq is not None:
            rec["divergedSeq"] = self.diverged_seq
        return rec


@dataclass(slots=True)
class Evaluation:
    """One shard's decisions and their digest."""

    decisions: list[Decision] = field(default_factory=list)
    digest_sum: int = 0

    def add(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self.digest_sum = (self.digest_sum + decision.digest()) % _MOD

    def counts(self) -> dict[str, Any]:
        by_reason: dict[str, int] = {}
        migrated = 0
        for d in self.decisions:
            by_reason[d.reason] = by_reason.get(d.reason, 0) + 1
            migrated += d.migrates
        return {"evaluated": len(self.decisions), "migrated": migrated, "stayed": len(self.decisions) - migrated, "byReason": by_reason}


class ReplayMemo:
    """Replays of identical histories through one machine, computed once."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._memo: dict[tuple[Any, ...], Replay] = {}
        self.hits = 0

    def replay(self, actor: Actor) -> Replay:
        key = (actor.spawn_guards, *actor.history)
        found = self._memo.get(key)
        if found is not None:
            self.hits += 1
            return found
        events = [(event_type, dict.fromkeys(names, True) if names else None) for event_type, names in actor.history]
        spawn = dict.fromkeys(actor.spawn_guards, True) if actor.spawn_guards else None
        found = self._memo[key] = self.machine.replay(events, spawn_guards=spawn)
        return found


def evaluate_shard(
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
        actors: the shard's committed actors, by id.
        resident: the shard's fingerprint columns (in step with ``actors``).
        parent_code: the parent version's code in ``resident``.
        path: the historyPath; ``None`` or empty: every actor is eligible.
        memo: replays through the new machine, shared across shards.
        pure: use the pure-Python routing pass (tests compare both).
    """
    evaluation = Evaluation()
    k = len(path) if path else 0
    if k:
        verdicts = resident.route(parent_code, path, pure=pure)  # type: ignore[arg-type]
        prefixes = prefix_hashes(path)  # type: ignore[arg-type]
    else:
        verdicts = bytes(MISMATCH if v == parent_code else OTHER for v in resident.versions)
        prefixes = [FNV_OFFSET]
    for slot, verdict in enumerate(verdicts):
        if verdict == OTHER:
            continue
        actor = actors[resident.actor_ids[slot]]
        evaluation.add(_decide(actor, verdict, path, k, prefixes, memo))
    return evaluation


def _decide(actor: Actor, verdict: int, path: Sequence[str] | None, k: int, prefixes: list[int], memo: ReplayMemo) -> Decision:
    base = {"actor_id": actor.id, "fingerprint": actor.fingerprint, "seq": actor.seq, "k": k, "from_state": actor.snapshot.value}
    if actor.done:
        return Decision(decision=STAY, reason="done", prefix_hash=None, **base)
    history = actor.history
    if k:
        n = len(history)
        compared = prefixes[k] if n >= k else prefixes[n]
        types_match = verdict != MISMATCH and all(history[i][0] == path[i] for i in range(min(n, k)))  # type: ignore[index]
        if not types_match:
            return Decision(decision=STAY, reason="history-mismatch", prefix_hash=compared, **base)
        if verdict == TOO_SHORT:
            return Decision(decision=STAY, reason="history-too-short", prefix_hash=compared, **base)
        assert verdict == MATCH
        reason = "history-match"
    else:
        compared = None
        reason = "no-history-path"
    replay = memo.replay(actor)
    if replay.snapshot is None:
        assert replay.diverged_at is not None
        return Decision(
            decision=STAY, reason="replay-diverged", prefix_hash=compared, diverged_seq=replay.diverged_at + 1, **base
        )
    landing = Snapshot(replay.snapshot.configuration, actor.snapshot.context)
    return Decision(decision=MIGRATE, reason=reason, prefix_hash=compared, landing=landing, timers=replay.timers, **base)


def combine_tokens(parts: Sequence[tuple[int, int]]) -> str:
    """The preview token of a whole deployment from ``(count, digest sum)``
    pairs, one per shard, in any order."""
    count = sum(c for c, _ in parts)
    total = sum(s for _, s in parts) % _MOD
    raw = hashlib.sha256(b"skruntime-preview-v1" + count.to_bytes(8, "big") + total.to_bytes(32, "big")).digest()
    return "pt_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
