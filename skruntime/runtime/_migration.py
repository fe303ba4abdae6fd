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


class Decision:
    """One actor's fate in one deployment (a plain slotted class: deployments
    make tens of thousands of these)."""

    __slots__ = ("actor_id", "decision", "reason", "fingerprint", "seq", "prefix_hash", "k", "from_state", "landing", "timers", "diverged_seq")

    def __init__(
        self,
        actor: Actor,
        decision: str,
        reason: str,
        prefix_hash: int | None,
        k: int,
        landing: Snapshot | None = None,
        timers: Mapping[str, int] | None = None,
        diverged_seq: int | None = None,
    ) -> None:
        self.actor_id = actor.id
        self.decision = decision  # "migrate" | "stay"
        self.reason = reason  # history-match | no-history-path | done | history-too-short | history-mismatch | replay-diverged
        self.fingerprint = actor.fingerprint  # the actor's last chain value when decided
        self.seq = actor.seq  # its number of handled events when decided
        self.prefix_hash = prefix_hash  # the path hash it was compared with
        self.k = k  # the path length (0: no path)
        self.from_state = actor.snapshot.value
        self.landing = landing  # where a migrating actor lands
        self.timers = timers or {}  # delayed events pending at landing
        self.diverged_seq = diverged_seq

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


class Evaluation:
    """One shard's decisions and their digest."""

    __slots__ = ("decisions", "digest_sum", "_outcomes")

    def __init__(self) -> None:
        self.decisions: list[Decision] = []
        self.digest_sum = 0
        self._outcomes: dict[tuple[str, str, int], bytes] = {}

    def add(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self.digest_sum = (self.digest_sum + self._digest(decision)) % _MOD

    def _digest(self, decision: Decision) -> int:
        # The decision's contribution to the preview token: SHA-256 of the
        # actor id and its outcome (decision, reason, landing state value).
        landing = decision.landing
        key = (decision.decision, decision.reason, id(landing.configuration) if landing is not None else 0)
        outcome = self._outcomes.get(key)
        if outcome is None:
            value = None if landing is None else landing.value
            outcome = self._outcomes[key] = b"\x00" + orjson.dumps([decision.decision, decision.reason, value], option=orjson.OPT_SORT_KEYS)
        return int.from_bytes(hashlib.sha256(decision.actor_id.encode() + outcome).digest(), "big")

    def counts(self) -> dict[str, Any]:
        by_reason: dict[str, int] = {}
        migrated = 0
        for d in self.decisions:
            by_reason[d.reason] = by_reason.get(d.reason, 0) + 1
            migrated += d.decision == MIGRATE
        return {"evaluated": len(self.decisions), "migrated": migrated, "stayed": len(self.decisions) - migrated, "byReason": by_reason}


class ReplayMemo:
    """Replays of identical histories through one machine, computed once.

    Keyed by (fingerprint, length, spawn answers) and confirmed by comparing
    the whole history (types and guard answers), so a fingerprint collision
    can never hand one actor another's landing.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._memo: dict[tuple[int, int, tuple[str, ...]], list[tuple[list[Any], Replay]]] = {}

    def replay(self, actor: Actor) -> Replay:
        history = actor.history
        bucket = self._memo.setdefault((actor.fingerprint, actor.seq, actor.spawn_guards), [])
        for seen, result in bucket:
            if seen == history:
                return result
        events = [(event_type, dict.fromkeys(names, True) if names else None) for event_type, names in history]
        spawn = dict.fromkeys(actor.spawn_guards, True) if actor.spawn_guards else None
        result = self.machine.replay(events, spawn_guards=spawn)
        bucket.append((history, result))
        return result


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


def combine_tokens(parts: Sequence[tuple[int, int]]) -> str:
    """The preview token of a whole deployment from ``(count, digest sum)``
    pairs, one per shard, in any order."""
    count = sum(c for c, _ in parts)
    total = sum(s for _, s in parts) % _MOD
    raw = hashlib.sha256(b"skruntime-preview-v1" + count.to_bytes(8, "big") + total.to_bytes(32, "big")).digest()
    return "pt_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
