"""Where a shard lives (docs/ARCHITECTURE.md, seam 6).

The edge asks a :class:`Router` before it hands an actor-addressed call to
the runtime.  Single-node, every shard is owned by this process and the
answer is always "here" (:class:`LocalRouter`).  A clustered deployment will
answer with the owning node, and the edge will forward the call (or tell the
client where to go); the handlers already make the call, so that is an
addition, not a rewrite.
"""

from __future__ import annotations

from typing import Protocol

from ..store import shard_of

__all__ = ["LocalRouter", "Router"]


class Router(Protocol):
    """Maps an actor to the node that owns its shard."""

    def shard(self, actor_id: str) -> int:
        """The actor's logical shard (fixed for the store's lifetime)."""
        ...

    def is_local(self, shard: int) -> bool:
        """Whether this process owns ``shard`` right now."""
        ...

    def require_local(self, actor_id: str) -> None:
        """Raise unless this process serves ``actor_id``.

        Raises:
            ServiceUnavailable: the shard is owned elsewhere (clustered
                deployments only; never raised single-node).
        """
        ...


class LocalRouter:
    """Single node: this process owns every shard.

    Args:
        shard_count: the store's fixed shard count.
    """

    __slots__ = ("shard_count",)

    def __init__(self, shard_count: int) -> None:
        self.shard_count = shard_count

    def shard(self, actor_id: str) -> int:
        return shard_of(actor_id, self.shard_count)

    def is_local(self, shard: int) -> bool:
        return True

    def require_local(self, actor_id: str) -> None:
        # Always here today; kept as a call so that the edge's shape is the
        # clustered one (a remote owner would raise or forward from here).
        return None

