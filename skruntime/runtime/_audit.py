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

* format 4 (written now): what every decision of the page shares, once
  (``deploymentId, at, fromVersion, toVersion, k``), the shard's distinct
  outcomes (``outcomes``: ``[decision, reason, prefixHash, landingState,
  divergedSeq]`` each), then one column per actor field: ``actors``,
  ``outcome`` (an index into ``outcomes``), ``seq``, ``fingerprint`` (the
  integer) and ``fromState``.  A deployment makes few distinct outcomes,
  so this is small, and columns are cheap to build;
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
    actors = evaluation.actors
    if not actors:
        return []
    outcomes = evaluation.outcomes  # both in key order already (evaluate_shard)
    table = {outcome: i for i, outcome in enumerate(dict.fromkeys(outcomes))}  # the shard's distinct outcomes
    head: dict[str, Any] = {
        "deploymentId": deployment_id,
        "at": at,
        "fromVersion": from_version,
        "toVersion": to_version,
        "k": outcomes[0].k,
        "outcomes": [[o.decision, o.reason, o.prefix_hex, o.landing_value, o.diverged_seq] for o in table],
    }
    pages = []
    for start in range(0, len(actors), DECISION_PAGE):
        part = actors[start : start + DECISION_PAGE]
        page = {
            **head,
            "actors": [a.id for a in part],
            "outcome": [table[o] for o in outcomes[start : start + DECISION_PAGE]],
            "seq": [a.seq for a in part],
            "fingerprint": [a.fingerprint for a in part],
            "fromState": [a.snapshot.value for a in part],
        }
        pages.append((part[0].id, page))
    return pages


def page_decisions(page: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(actor id, record)`` for every decision of a page (either layout)."""
    if "decisions" in page:  # formats 1-3
        return [(actor_id, record) for actor_id, record in page["decisions"]]
    return [(actor_id, _record(page, i)) for i, actor_id in enumerate(page["actors"])]


def find_decision(page: Mapping[str, Any], actor_id: str) -> dict[str, Any] | None:
    """The record of ``actor_id`` in a page, or ``None``."""
    if "decisions" in page:  # formats 1-3
        for found, record in page["decisions"]:
            if found == actor_id:
                return dict(record)
        return None
    try:
        return _record(page, page["actors"].index(actor_id))
    except ValueError:
        return None


def _record(page: Mapping[str, Any], i: int) -> dict[str, Any]:
    decision, reason, prefix_hash, landing_state, diverged_seq = page["outcomes"][page["outcome"][i]]
    record = {
        "deploymentId": page["deploymentId"],
        "at": page["at"],
        "fromVersion": page["fromVersion"],
        "toVersion": page["toVersion"] if decision == MIGRATE else None,
        "decision": decision,
        "reason": reason,
        "seq": page["seq"][i],
        "fingerprint": to_hex(page["fingerprint"][i]),
        "prefixHash": prefix_hash,
        "k": page["k"],
        "fromState": page["fromState"][i],
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
