"""Deployed versions: immutable definitions with their compiled machines.

A version record (meta table ``versions``, keyed by version id) is
``{id, parentId, historyPath, definition, createdAt, digest}``; ``digest`` is
the SHA-256 of the canonical deploy body, which makes an identical redeploy an
idempotent 200 and a different body under the same id a 409.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..statechart import Machine

__all__ = ["Registry", "Version", "body_digest", "version_digest"]


def body_digest(body: Mapping[str, Any]) -> str:
    """SHA-256 of a JSON value with sorted keys (key order does not matter)."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def version_digest(body: Mapping[str, Any]) -> str:
    """What makes two deploy bodies "identical" (SPEC section 5): the body
    without ``expect`` (a guard on applying, not part of the version), and
    with an explicit ``null`` ``parentId`` or ``historyPath`` the same as an
    absent one."""
    return body_digest(
        {k: v for k, v in body.items() if k != "expect" and not (v is None and k in ("parentId", "historyPath"))}
    )


@dataclass(frozen=True, slots=True)
class Version:
    """One deployed version.

    Attributes:
        id: the version id (``loan-v1``).
        parent_id: the version it was deployed over, or ``None`` for a root.
        history_path: the routing path (empty: every actor of the parent is eligible).
        definition: the definition as deployed.
        machine: the compiled machine.
        created_at: wall-clock seconds.
        digest: digest of the deploy body, for idempotent redeploys.
        deployment_id: the deployment that introduced it (``None`` for a root).
    """

    id: str
    parent_id: str | None
    history_path: tuple[str, ...] | None
    definition: Mapping[str, Any]
    machine: Machine = field(repr=False, compare=False)
    created_at: float
    digest: str
    deployment_id: str | None = None

    def record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": self.id,
            "parentId": self.parent_id,
            "historyPath": None if self.history_path is None else list(self.history_path),
            "definition": self.definition,
            "createdAt": self.created_at,
            "digest": self.digest,
        }
        if self.deployment_id is not None:
            rec["deploymentId"] = self.deployment_id
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], machine: Machine) -> Version:
        path = rec.get("historyPath")
        return cls(
            id=rec["id"],
            parent_id=rec.get("parentId"),
            history_path=None if path is None else tuple(path),
            definition=rec["definition"],
            machine=machine,
            created_at=float(rec["createdAt"]),
            digest=rec["digest"],
            deployment_id=rec.get("deploymentId"),
        )


class Registry:
    """The versions this runtime knows, by id (insertion = deploy order)."""

    def __init__(self) -> None:
        self._versions: dict[str, Version] = {}

    def __contains__(self, version_id: object) -> bool:
        return version_id in self._versions

    def __iter__(self) -> Iterator[Version]:
        return iter(self._versions.values())

    def __len__(self) -> int:
        return len(self._versions)

    def get(self, version_id: str) -> Version | None:
        return self._versions.get(version_id)

    def add(self, version: Version) -> None:
        self._versions[version.id] = version
