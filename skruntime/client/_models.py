"""Typed results of the SDK's calls (frozen dataclasses built from JSON).

Each keeps the raw JSON in ``raw`` so fields added by newer servers are not
lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Actor", "ApiKey", "DecisionRecord", "Deployment", "DeployResult", "Event", "Preview", "SendResult", "Version"]


@dataclass(frozen=True, slots=True)
class Version:
    id: str
    parent_id: str | None
    history_path: list[str] | None
    definition: dict[str, Any]
    created_at: str
    deployment_id: str | None = None
    actors: dict[str, Any] | None = None  # counts, when the server included them
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Version:
        return cls(data["id"], data.get("parentId"), data.get("historyPath"), data.get("definition", {}),
                   data.get("createdAt", ""), data.get("deploymentId"), data.get("actors"), data)


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment's outcome: how many actors were evaluated, moved, kept."""

    deployment_id: str
    evaluated: int
    migrated: int
    stayed: int
    by_reason: dict[str, int]
    status: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        return cls(data["deploymentId"], data["evaluated"], data["migrated"], data["stayed"],
                   dict(data.get("byReason", {})), data.get("status"), data)


@dataclass(frozen=True, slots=True)
class DeployResult:
    version: Version
    deployment: Deployment | None  # None for a root version
    created: bool  # False: an identical redeploy


@dataclass(frozen=True, slots=True)
class Preview:
    """What a deploy would do (``would_migrate``/``would_stay`` are empty when
    asked for a summary)."""

    preview_token: str
    counts: dict[str, Any]
    would_migrate: list[dict[str, Any]]
    would_stay: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preview:
        migration = data.get("migration", {})
        return cls(data["previewToken"], data["counts"], migration.get("wouldMigrate", []), migration.get("wouldStay", []), data)


@dataclass(frozen=True, slots=True)
class Actor:
    """An actor's snapshot (``effects`` only on spawn)."""

    actor_id: str
    version_id: str
    state_value: Any
    status: str
    context: dict[str, Any]
    seq: int
    fingerprint: str
    created_at: str
    updated_at: str
    effects: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Actor:
        return cls(data["actorId"], data["versionId"], data["stateValue"], data["status"], data.get("context", {}),
                   data["seq"], data["fingerprint"], data["createdAt"], data["updatedAt"], data.get("effects", []), data)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The answer to a handled event, once it is durable."""

    actor_id: str
    version_id: str
    seq: int
    state_value: Any
    status: str
    changed: bool
    effects: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SendResult:
        return cls(data["actorId"], data["versionId"], data["seq"], data["stateValue"], data["status"],
                   data["changed"], data.get("effects", []), data)


@dataclass(frozen=True, slots=True)
class Event:
    """One handled event of an actor's history."""

    seq: int
    type: str
    time: str
    state_value: Any
    status: str
    payload: Any = None
    guards: dict[str, bool] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(data["seq"], data["type"], data["time"], data.get("stateValue"), data.get("status", ""),
                   data.get("payload"), data.get("guards"))


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One migration decision (SPEC section 6)."""

    actor_id: str
    deployment_id: str
    time: str
    from_version: str
    to_version: str | None
    decision: str
    reason: str
    fingerprint: str
    prefix_hash: str | None
    k: int
    landing_state: Any
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecisionRecord:
        return cls(data["actorId"], data["deploymentId"], data["time"], data["fromVersion"], data.get("toVersion"),
                   data["decision"], data["reason"], data["fingerprint"], data.get("prefixHash"), data["k"],
                   data.get("landingState"), data)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    scope: str
    name: str | None
    key: str | None = None  # the secret: only when just created
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiKey:
        return cls(data["id"], data["scope"], data.get("name"), data.get("key"), data)
