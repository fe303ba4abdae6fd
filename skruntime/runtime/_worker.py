"""Workers: the trio tasks that serve shards.

A worker owns a fixed set of logical shards (ARCHITECTURE: "a trio task owns
a set of shards") and is the only writer of their actors.  It loops:

1. wait for commands on its intake channel (or for its next timer to be due);
2. take every command already queued (and every due timer) and apply them
   one at a time, in arrival order, to in-memory copies of the actors,
   collecting each shard's writes into that shard's
   :class:`~skruntime.store.ShardBatch`;
3. hand all the batches to the store in one ``commit`` (atomic and durable;
   the group-commit writer may pack several workers' commits into one LMDB
   transaction) and wait until they are durable;
4. only then make the new actor values current, answer the callers and
   publish the changes to watchers.

So an event is acknowledged only once durable, events to one actor apply in
arrival order, a failed commit changes nothing in memory, and a busy worker
amortises one durable commit over everything that queued up meanwhile.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio

from .._exceptions import Fenced, RequestError, ServiceUnavailable, StoreError
from ..store import ShardBatch
from ._clock import Clock
from ._commands import Command, Fire, Reply, Task
from ._shard import Pending, Shard
from ._watch import Hub

__all__ = ["Worker", "group_shards"]

MAX_COMMANDS_PER_TURN = 4096
log = logging.getLogger("skruntime.runtime")


class Worker:
    """One trio task serving ``shards``.

    Args:
        index: the worker's number.
        shards: the shards it serves (each served by exactly one worker).
        commit: ``await commit(*batches)``: durable, atomic group commit.
        clock: wall time.
        hub: where changes are published.
    """

    def __init__(
        self,
        index: int,
        shards: Sequence[Shard],
        commit: Callable[..., Awaitable[None]],
        clock: Clock,
        hub: Hub,
    ) -> None:
        self.index = index
        self.shards = {shard.index: shard for shard in shards}
        self._commit = commit
        self.clock = clock
        self.hub = hub
        self.timers: list[tuple[float, str, int, str]] = []  # heap: (fire_at, actor, shard, event type)
        self._send, self._intake = trio.open_memory_channel[Command](MAX_COMMANDS_PER_TURN)
        self._next_prune = 0.0
        for shard in shards:
            shard.timers_sink = self.push_timer
            for actor in shard.actors.values():
                for event_type, fire_at in actor.timers.items():
                    self.push_timer(fire_at, actor.id, shard.index, event_type)

    def push_timer(self, fire_at: float, actor_id: str, shard: int, event_type: str) -> None:
        heapq.heappush(self.timers, (fire_at, actor_id, shard, event_type))

    # -- intake ----------------------------------------------------------------

    async def submit(self, command: Command) -> None:
        """Queue a command (waits while the intake is full: back-pressure)."""
        try:
            self._send.send_nowait(command)
        except trio.WouldBlock:
            try:
                await self._send.send(command)
            except trio.ClosedResourceError:
                raise ServiceUnavailable("the server is shutting down") from None
        except trio.ClosedResourceError:
            raise ServiceUnavailable("the server is shutting down") from None

    def close(self) -> None:
        """Stop taking commands; the loop finishes what is queued, then ends."""
        self._send.close()

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        closing = False
        while not closing:
            commands, closing = await self._collect()
            if commands:
                await self._process(commands)
        await self.checkpoint_all()

    async def checkpoint_all(self) -> None:
        """Write the record of every actor with events since its last one
        (at shutdown, so that the next start replays nothing)."""
        batches = []
        written = []
        for shard in self.shards.values():
            batch = shard.store.batch()
            written.extend(shard.checkpoint_all(batch))
            if len(batch):
                batches.append(batch)
        if batches:
            await self._commit(*batches)
            for actor in written:
                actor.checkpoint_seq = actor.seq

    async def _collect(self) -> tuple[list[Command], bool]:
        commands: list[Command] = []
        closing = False
        deadline = self.clock.trio_deadline(self.timers[0][0]) if self.timers else float("inf")
        with trio.move_on_at(deadline):
            try:
                commands.append(await self._intake.receive())
            except trio.EndOfChannel:
                closing = True
        while not closing and len(commands) < MAX_COMMANDS_PER_TURN:
            try:
                commands.append(self._intake.receive_nowait())
            except trio.WouldBlock:
                break
            except trio.EndOfChannel:
                closing = True
        if not closing:
            commands.extend(self._due_timers())
        return commands, closing

    def _due_timers(self) -> list[Fire]:
        now = self.clock.now()
        due: list[Fire] = []
        while self.timers and self.timers[0][0] <= now:
            fire_at, actor_id, shard_index, event_type = heapq.heappop(self.timers)
            actor = self.shards[shard_index].actors.get(actor_id)
            if actor is not None and actor.timers.get(event_type) == fire_at:
                due.append(Fire(actor_id, shard_index, event_type, fire_at))
        return due

    async def _process(self, commands: list[Command]) -> None:
        turn = _Turn(self.hub.watched, self.clock.now())
        for command in commands:
            if isinstance(command, Task):
                # Tasks run alone, between turns: finish what came before.
                await self._finish(turn)
                turn = _Turn(self.hub.watched, self.clock.now())
                try:
                    command.reply.set(await command.fn(self))
                except BaseException as exc:  # handed to the caller, who re-raises
                    command.reply.fail(exc)
                continue
            shard = self.shards[command.shard]
            batch = turn.batch(shard)
            try:
                result = shard.apply(command, turn.pending, batch)
            except RequestError as exc:
                if not isinstance(command, Fire):
                    turn.answers.append((command.reply, None, exc))
                continue
            except Exception:
                # A bug, never the input's fault: drop the whole turn (nothing
                # of it was written or made current) rather than the worker.
                log.exception("a command failed unexpectedly; its turn is discarded")
                failure = ServiceUnavailable("the server could not apply this request; the error was logged, retry")
                if not isinstance(command, Fire):
                    command.reply.fail(failure)
                for reply, _, _ in turn.answers:
                    reply.fail(failure)
                turn = _Turn(self.hub.watched, self.clock.now())
                continue
            if not isinstance(command, Fire):
                turn.answers.append((command.reply, result, None))
        now = turn.pending.now
        if now >= self._next_prune:
            self._next_prune = now + 60.0
            for shard in self.shards.values():
                shard.prune_idempotency(now, turn.batch(shard))
        await self._finish(turn)

    async def _finish(self, turn: _Turn) -> None:
        pending = turn.pending
        try:
            for actor_id in pending.dirty:
                actor = pending.actors[actor_id]
                turn.batches[pending.shard_of[actor_id]].put("actors", actor_id, actor.record())
            batches = [b for b in turn.batches.values() if len(b)]
            if batches:
                await self._commit(*batches)
        except Exception as exc:  # nothing of the turn is durable: answer, keep serving
            if isinstance(exc, Fenced):
                failure = ServiceUnavailable("another skruntime process took over this data directory")
            elif isinstance(exc, StoreError):
                failure = ServiceUnavailable(f"the store could not commit: {exc}")
            else:
                log.exception("a turn's writes could not be prepared; it is discarded")
                failure = ServiceUnavailable("the server could not apply this request; the error was logged, retry")
            for reply, _, _ in turn.answers:
                reply.fail(failure)
            return
        for actor_id in pending.dirty:
            actor = pending.actors[actor_id]
            actor.checkpoint_seq = actor.seq  # its record is durable now
        for shard_index, actors in pending.by_shard().items():
            self.shards[shard_index].make_current(actors)
        for shard_index, entries in pending.idempotency.items():
            self.shards[shard_index].idempotency.update(entries)
        for fire_at, actor_id, shard_index, event_type in pending.timers:
            self.push_timer(fire_at, actor_id, shard_index, event_type)
        for reply, value, error in turn.answers:
            if error is None:
                reply.set(value)
            else:
                reply.fail(error)
        for frame, extra in pending.changes:
            self.hub.publish(frame, *extra)


class _Turn:
    """One loop turn: the overlay of new actor values, one batch per shard
    touched, and the answers to give once durable."""

    __slots__ = ("pending", "batches", "answers")

    def __init__(self, watched: bool, now: float) -> None:
        self.pending = Pending(watched, now)
        self.batches: dict[int, ShardBatch] = {}
        self.answers: list[tuple[Reply, Any, BaseException | None]] = []

    def batch(self, shard: Shard) -> ShardBatch:
        found = self.batches.get(shard.index)
        if found is None:
            found = self.batches[shard.index] = shard.store.batch()
        return found


def group_shards(shards: Sequence[Shard], workers: int) -> list[list[Shard]]:
    """Shards dealt round-robin to ``workers`` workers."""
    groups: list[list[Shard]] = [[] for _ in range(min(workers, len(shards)) or 1)]
    for shard in shards:
        groups[shard.index % len(groups)].append(shard)
    return groups

