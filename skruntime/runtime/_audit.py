"""Deployment decisions as stored and as the API shows them (SPEC section 6).

A deployment records its decisions in pages: one ``deployment_decisions``
record per ``DECISION_PAGE`` actors of a shard, keyed by the page's first
actor, actors in the store's key order (shorter ids first, then by bytes).
Both audit views read them:

* ``GET /v1/deployments/{id}/decisions`` reads a deployment's pages in
  order;
* ``GET /v1/actors/{id}/decisions`` asks, for each deployment whose parent
  the actor may have been on, for the one page that would hold it
  (``ShardStore.decision_page``: a seek).

Page layouts (see docs/STORAGE.md):

* format 4 (written now): ``{deploymentId, at, fromVersion, toVersion, k,
  rows}``: what every decision of the page shares, once, then one row per
  actor, ``[actorId, decision, reason, seq, fingerprint, prefixHash,
  fromState, landingState, divergedSeq]``;
* formats 1-3: ``{decisions: [[actorId, record], ...]}`` with the whole
  record per actor (those stores also hold a ``decisions`` record per
  actor, which nothing reads any more).

Both read as the same records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._fingerprint import to_hex
from ._actor import iso_time
from ._migration import MIGRATE, Evaluation

__all__ = ["DECISION_PAGE", "decision_pages", "decision_view", "find_decision", "page_decisions"]

DECISION_PAGE = 256  # decisions per deployment_decisions record


def decision_pages(
    evaluation: Evaluation, deployment_id: str, at: float, from_version: str, to_version: str
) -> list[tuple[str, dict[str, Any]]]:
    """A shard's decisions as ``(first actor id, page)`` records."""
    rows: list[list[Any]] = [
        [
            actor.id, outcome.decision, outcome.reason, actor.seq, to_hex(actor.fingerprint),
            outcome.prefix_hex, actor.snapshot.value, outcome.landing_value, outcome.diverged_seq,
        ]
        for actor, outcome in zip(evaluation.actors, evaluation.outcomes)
    ]
    if not rows:
        return []
    rows.sort(key=_key_order)
    head: dict[str, Any] = {
        "deploymentId": deployment_id,
        "at": at,
        "fromVersion": from_version,
        "toVersion": to_version,
        "k": evaluation.outcomes[0].k,
    }
    return [(str(rows[i][0]), {**head, "rows": rows[i : i + DECISION_PAGE]}) for i in range(0, len(rows), DECISION_PAGE)]


def _key_order(row: list[Any]) -> tuple[int, bytes]:
    raw = row[0].encode()
    return len(raw), raw


def page_decisions(page: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(actor id, record)`` for every decision of a page (either layout)."""
    rows = page.get("rows")
    if rows is None:
        return [(actor_id, record) for actor_id, record in page["decisions"]]
    return [(row[0], _record(page, row)) for row in rows]


def find_decision(page: Mapping[str, Any], actor_id: str) -> dict[str, Any] | None:
    """The record of ``actor_id`` in a page, or ``None``."""
    rows = page.get("rows")
    if rows is None:
        for found, record in page["decisions"]:
            if found == actor_id:
                return dict(record)
        return None
    for row in rows:
        if row[0] == actor_id:
            return _record(page, row)
    return None


def _record(page: Mapping[str, Any], row: list[Any]) -> dict[str, Any]:
    _, decision, reason, seq, fingerprint, prefix_hash, from_state, landing_state, diverged_seq = row
    record = {
        "deploymentId": page["deploymentId"],
        "at": page["at"],
        "fromVersion": page["fromVersion"],
        "toVersion": page["toVersion"] if decision == MIGRATE else None,
        "decision": decision,
        "reason": reason,
        "seq": seq,
        "fingerprint": fingerprint,
        "prefixHash": prefix_hash,
        "k": page["k"],
        "fromState": from_state,
        "landingState": landing_state,
    }
    if diverged_seq is not None:
        record["divergedSeq"] = diverged_seq
    return record


def decision_view(actor_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A decision record as the API shows it."""
    view = {"actorId": actor_id, **record}
    view["time"] = iso_time(view.pop("at"))
    return view
