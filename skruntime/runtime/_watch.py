"""Change notifications for WebSocket watchers.

Shards publish a change after it is durable; the hub fans it out to the
subscribers of that actor and of that version.  Publishing never waits: each
subscriber has a bounded queue, and a subscriber whose queue is full is cut
off (its stream ends with :class:`Overflowed`; the WebSocket closes with code
4008 and the client resumes with ``fromSeq``).  Slow readers therefore never
slow writers down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio

__all__ = ["Hub", "Overflowed", "Subscription"]


class Overflowed(Exception):
    """The subscriber fell more than its queue's length behind."""


class Subscription:
    """One watcher's stream of change frames.

    Iterate it (``async for frame in sub``); the iteration ends with
    :class:`Overflowed` if the watcher fell behind, or stops when closed.
    """

    def __init__(self, hub: Hub, capacity: int) -> None:
        self._hub = hub
        self._send, self._receive = trio.open_memory_channel[dict[str, Any]](capacity)
        self.actors: set[str] = set()
        self.versions: set[str] = set()
        self.overflowed = False

    def offer(self, frame: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self.overflowed = True
            self._hub.drop(self)
            self._send.close()
        except trio.ClosedResourceError:
            pass

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame produced by the watcher's own connection (replays);
        counts against the same bound."""
        self.offer(frame)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        async for frame in self._receive:
            yield frame
        if self.overflowed:
            raise Overflowed()

    def close(self) -> None:
        self._hub.drop(self)
        self._send.close()


class Hub:
    """Routes change frames to subscriptions by actor id and by version id."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._by_actor: dict[str, set[Subscription]] = {}
        self._by_version: dict[str, set[Subscription]] = {}

    def open(self, capacity: int | None = None) -> Subscription:
        return Subscription(self, self.capacity if capacity is None else capacity)

    def subscribe(self, sub: Subscription, *, actor_id: str | None = None, version_id: str | None = None) -> None:
        if actor_id is not None:
            sub.actors.add(actor_id)
            self._by_actor.setdefault(actor_id, set()).add(sub)
        if version_id is not None:
            sub.versions.add(version_id)
            self._by_version.setdefault(version_id, set()).add(sub)

    def unsubscribe(self, sub: Subscription, *, actor_id: str | None = None, version_id: str | None = None) -> None:
        if actor_id is not None:
            sub.actors.discard(actor_id)
            _discard(self._by_actor, actor_id, sub)
        if version_id is not None:
            sub.versions.discard(version_id)
            _discard(self._by_version, version_id, sub)

    def drop(self, sub: Subscription) -> None:
        for actor_id in list(sub.actors):
            _discard(self._by_actor, actor_id, sub)
        for version_id in list(sub.versions):
            _discard(self._by_version, version_id, sub)

    @property
    def watched(self) -> bool:
        return bool(self._by_actor or self._by_version)

    def publish(self, frame: dict[str, Any], *extra_versions: str) -> None:
        """Deliver ``frame`` to watchers of its actor and of its version (and
        of ``extra_versions``, e.g. the version a migration left)."""
        targets: set[Subscription] = set()
        subs = self._by_actor.get(frame["actorId"])
        if subs:
            targets |= subs
        for version_id in (frame["versionId"], *extra_versions):
            subs = self._by_version.get(version_id)
            if subs:
                targets |= subs
        for sub in targets:
            sub.offer(frame)


def _discard(index: dict[str, set[Subscription]], key: str, sub: Subscription) -> None:
    subs = index.get(key)
    if subs is not None:
        subs.discard(sub)
        if not subs:
            del index[key]

