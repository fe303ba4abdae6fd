"""Commands the runtime hands to workers, and the replies callers await."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from ._versions import Version

if TYPE_CHECKING:
    from ._worker import Worker

__all__ = ["Command", "Fire", "Reply", "Send", "Spawn", "Task"]


class Reply:
    """A one-shot answer a caller waits for.

    The trio event behind :meth:`wait` is made only when a caller waits on a
    reply that is not ready yet: a batch's replies are mostly ready by the
    time it looks at them, and an event per reply was a tenth of the batch
    path's cost.  Everything runs on one trio loop, so there is no race
    between ``set`` and ``wait``.
    """

    __slots__ = ("_done", "_event", "_value", "_error")

    def __init__(self) -> None:
        self._done = False
        self._event: trio.Event | None = None
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any) -> None:
        self._value = value
        self._finish()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._finish()

    def _finish(self) -> None:
        self._done = True
        if self._event is not None:
            self._event.set()

    @property
    def ready(self) -> bool:
        return self._done

    def result(self) -> Any:
        """The answer of a ready reply (raises its error)."""
        if self._error is not None:
            raise self._error
        return self._value

    async def wait(self) -> Any:
        if not self._done:
            if self._event is None:
                self._event = trio.Event()
            await self._event.wait()
        return self.result()


@dataclass(slots=True)
class Send:
    """Deliver an event to an actor."""

    actor_id: str
    shard: int
    event_type: str
    payload: Any
    guards: Mapping[str, bool] | None
    idempotency_key: str | None
    digest: str | None  # of the request body, for idempotent retries
    reply: Reply = field(default_factory=Reply)


@dataclass(slots=True)
class Spawn:
    """Create an actor on a version."""

    actor_id: str
    shard: int
    version: Version
    context: Mapping[str, Any] | None
    guards: Mapping[str, bool] | None
    reply: Reply = field(default_factory=Reply)


@dataclass(slots=True)
class Fire:
    """A due timer (made by the worker itself)."""

    actor_id: str
    shard: int
    event_type: str
    fire_at: float


@dataclass(slots=True)
class Task:
    """Run ``fn(worker)`` inside the worker loop, with intake paused: the hook
    deployments use to route shards atomically with respect to their events.
    The function may await (e.g. commit)."""

    fn: Callable[[Worker], Awaitable[Any]]
    reply: Reply = field(default_factory=Reply)


Command = Send | Spawn | Fire | Task

