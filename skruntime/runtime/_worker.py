"""Workers: the trio tasks that serve shards.

A worker owns a fixed set of logical shards (ARCHITECTURE: "a trio task owns
a set of shards") and is the only writer of their actors.  It loops:

1. wait for commands on its intake channel (or for its next timer to be due);
2. take every command already queued (and every due timer) and apply them
   one at a time, in arrival order, to in-memory copies of the actors (a
   *turn*), collecting each shard's writes into that shard's
   :class:`~skruntime.store.ShardBatch`;
3. hand all the turn's batches to the store in one ``commit`` (atomic and
   durable; the group-commit writer may pack several workers' commits into
   one LMDB transaction);
4. once they are durable, make the new actor values current, answer the
   callers and publish the changes to watchers.

Turns are pipelined one deep: while turn *n* is being sealed and flushed by
the store's writer thread, the worker already applies turn *n + 1* on top of
turn *n*'s values (its :class:`Pending` overlay has *n*'s as parent).  Turn
*n + 1* is handed to the store only after *n* is durable, and answered only
after itself is; should *n*'s commit fail, *n + 1*'s commands are applied
again from the durable values, so nothing is ever built on a write that did
not happen.  The event loop applies events while the disk flushes instead of
waiting for it.

So an event is acknowledged only once durable, events to one actor apply in
arrival order, a failed commit changes nothing in memory, and a busy worker
amortises one durable commit over everything that queued up meanwhile.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import trio

from .._exceptions import Fenced, RequestError, ServiceUnavailable, StoreError
from ..store import ShardBatch
from ._clock import Clock
from ._commands import Command, Fire, Reply, Send, Spawn, Task
from ._shard import Pending, Shard, put_actor, put_events
from ._watch import Hub

__all__ = ["Worker", "group_shards"]

MAX_COMMANDS_PER_TURN = 4096
TIMER_RETRY = 1.0  # seconds before a due timer whose turn failed to commit fires again
Applied = Send | Spawn | Fire  # what a turn applies (tasks run between turns)
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
        self._retries: list[tuple[float, int, Fire]] = []  # heap: (retry at, tie-breaker, fire) of failed turns
        self._retry_count = 0
        # Items are commands, or lists of commands queued together (a batch);
        # back-pressure counts commands (``_queued``), not items.
        self._send, self._intake = trio.open_memory_channel[Command | list[Command]](MAX_COMMANDS_PER_TURN)
        self._queued = 0
        self._space = trio.lowlevel.ParkingLot()
        self._next_prune = 0.0
        self._flight: _Flight | None = None  # the turn being committed
        self._nursery: trio.Nursery | None = None
        self._waiting: trio.CancelScope | None = None  # set while the loop waits for commands
        for shard in shards:
            shard.timers_sink = self.push_timer
            for actor in shard.actors.values():
                for event_type, fire_at in actor.timers.items():
                    self.push_timer(fire_at, actor.id, shard.index, event_type)

    def push_timer(self, fire_at: float, actor_id: str, shard: int, event_type: str) -> None:
        heapq.heappush(self.timers, (fire_at, actor_id, shard, event_type))

    # -- intake ----------------------------------------------------------------

    async def submit(self, command: Command | list[Command]) -> None:
        """Queue a command, or a list of commands to apply in order.  Waits
        while the intake holds :data:`MAX_COMMANDS_PER_TURN` commands or
        would with these (back-pressure; a list larger than that still goes
        in alone)."""
        n = len(command) if isinstance(command, list) else 1
        while self._queued and self._queued + n > MAX_COMMANDS_PER_TURN:
            await self._space.park()
        try:
            self._send.send_nowait(command)
        except trio.WouldBlock:  # not while _queued bounds the items; kept for safety
            try:
                await self._send.send(command)
            except trio.ClosedResourceError:
                raise ServiceUnavailable("the server is shutting down") from None
        except trio.ClosedResourceError:
            raise ServiceUnavailable("the server is shutting down") from None
        self._queued += n

    def close(self) -> None:
        """Stop taking commands; the loop finishes what is queued, then ends."""
        self._send.close()

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            closing = False
            while not closing:
                commands, closing = await self._collect()
                if commands:
                    await self._process(commands)
                elif self._flight is not None and self._flight.done.is_set():
                    await self._land()
            await self._land()
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
        """The commands queued, and whether the intake is closed.  Waits for
        a first command, a due timer or the turn in flight to land."""
        commands: list[Command] = []
        closing = False
        flight = self._flight
        if flight is None or not flight.done.is_set():
            due = min(self.timers[0][0] if self.timers else float("inf"), self._retries[0][0] if self._retries else float("inf"))
            deadline = self.clock.trio_deadline(due) if due != float("inf") else due
            with trio.move_on_at(deadline) as self._waiting:
                try:
                    self._take(commands, await self._intake.receive())
                except trio.EndOfChannel:
                    closing = True
            self._waiting = None
        while not closing and len(commands) < MAX_COMMANDS_PER_TURN:
            try:
                self._take(commands, self._intake.receive_nowait())
            except trio.WouldBlock:
                break
            except trio.EndOfChannel:
                closing = True
        if not closing:
            commands.extend(self._due_timers())
        return commands, closing

    def _take(self, commands: list[Command], item: Command | list[Command]) -> None:
        if isinstance(item, list):
            commands.extend(item)
            self._queued -= len(item)
        else:
            commands.append(item)
            self._queued -= 1
        self._space.unpark_all()

    def _due_timers(self) -> list[Fire]:
        now = self.clock.now()
        due: list[Fire] = []
        while self._retries and self._retries[0][0] <= now:
            due.append(heapq.heappop(self._retries)[2])  # still checked against the actor's timers when applied
        while self.timers and self.timers[0][0] <= now:
            fire_at, actor_id, shard_index, event_type = heapq.heappop(self.timers)
            actor = self.shards[shard_index].actors.get(actor_id)
            if actor is not None and actor.timers.get(event_type) == fire_at:
                due.append(Fire(actor_id, shard_index, event_type, fire_at))
        return due

    async def _process(self, commands: list[Command]) -> None:
        """Apply commands in order as turns; a task runs alone, after
        everything before it is durable."""
        start = 0
        for i, command in enumerate(commands):
            if isinstance(command, Task):
                if i > start:
                    await self._turn(cast(list[Applied], commands[start:i]))
                await self._land()
                try:
                    command.reply.set(await command.fn(self))
                except BaseException as exc:  # handed to the caller, who re-raises
                    command.reply.fail(exc)
                start = i + 1
        if start < len(commands):
            await self._turn(cast(list[Applied], commands[start:] if start else commands))

    async def _turn(self, commands: list[Applied]) -> None:
        """Apply commands as one turn on top of the turn in flight, then,
        once that one has landed, put this one in flight."""
        flight = self._flight
        turn = self._apply(commands, flight.turn.pending if flight is not None else None)
        if flight is not None:
            if await self._land():
                self._rebase(turn)
            else:
                turn = self._apply(commands, None)  # built on writes that failed: again, on durable values
        self._launch(turn)

    def _rebase(self, turn: _Turn) -> None:
        """The turn's parent has landed: its values are current now.  Actors
        the parent checkpointed were copied into this turn before it did, so
        their checkpoint seqs are brought up to date here, and a record this
        turn meant to write only because of the stale seq is dropped (else
        pipelining would write every busy actor's record every turn)."""
        pending = turn.pending
        pending.parent = None
        shards = self.shards
        for actor_id, actor in pending.actors.items():
            shard = shards[pending.shard_of[actor_id]]
            durable = shard.actors.get(actor_id)
            if durable is not None and durable.checkpoint_seq > actor.checkpoint_seq:
                actor.checkpoint_seq = durable.checkpoint_seq
                if actor_id in pending.dirty and actor.seq - actor.checkpoint_seq < shard.checkpoint_every:
                    del pending.dirty[actor_id]

    def _apply(self, commands: list[Applied], parent: Pending | None) -> _Turn:
        turn = _Turn(self.hub.watched, self.clock.now(), parent)
        shards = self.shards
        for command in commands:
            if not isinstance(command, Fire) and command.reply.ready:
                continue  # answered (503) when this turn was first applied: never apply it again
            shard = shards[command.shard]
            batch = turn.batches.get(command.shard)  # (not `or`: a batch's truth is its length, a call)
            if batch is None:
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
                turn = _Turn(self.hub.watched, self.clock.now(), parent)
                continue
            if isinstance(command, Fire):
                turn.fires.append(command)
            else:
                turn.answers.append((command.reply, result, None))
        now = turn.pending.now
        if now >= self._next_prune:
            self._next_prune = now + 60.0
            for shard in self.shards.values():
                expired = shard.prune_idempotency(now, turn.batch(shard))
                if expired:
                    turn.pruned.append((shard, expired))
        return turn

    def _launch(self, turn: _Turn) -> None:
        """Hand a turn's writes to the store (nothing may be in flight)."""
        assert self._flight is None and self._nursery is not None
        pending = turn.pending
        try:
            shard_of = pending.shard_of
            for actor_id, events in pending.events.items():
                put_events(turn.batches[shard_of[actor_id]], actor_id, events)
            for actor_id in pending.dirty:
                actor = pending.actors[actor_id]
                put_actor(turn.batches[shard_of[actor_id]], actor)
        except Exception:
            log.exception("a turn's writes could not be prepared; it is discarded")
            self._fail(turn, ServiceUnavailable("the server could not apply this request; the error was logged, retry"))
            return
        batches = [b for b in turn.batches.values() if len(b)]
        if not batches:
            self._finish(turn)  # nothing to write, and nothing before it in flight
            return
        flight = self._flight = _Flight(turn, batches)
        self._nursery.start_soon(self._commit_flight, flight)

    async def _commit_flight(self, flight: _Flight) -> None:
        try:
            await self._commit(*flight.batches)
        except Exception as exc:  # the turn's _land answers it
            flight.error = exc
        finally:
            flight.done.set()
            if self._waiting is not None:
                self._waiting.cancel()  # the loop is idle: let it land the turn

    async def _land(self) -> bool:
        """Wait for the turn in flight to be durable and make it current
        (True), or fail its callers if its commit failed (False)."""
        flight = self._flight
        if flight is None:
            return True
        await flight.done.wait()
        self._flight = None
        exc = flight.error
        if exc is None:
            self._finish(flight.turn)
            return True
        if isinstance(exc, Fenced):
            failure = ServiceUnavailable("another skruntime process took over this data directory")
        elif isinstance(exc, StoreError):
            failure = ServiceUnavailable(f"the store could not commit: {exc}")
        else:
            log.error("a turn's commit failed unexpectedly; it is discarded", exc_info=exc)
            failure = ServiceUnavailable("the server could not apply this request; the error was logged, retry")
        self._fail(flight.turn, failure)
        # Its due timers fired into writes that did not happen: they are still
        # the actors' timers, so fire them again a little later (not at once:
        # the store may keep failing for a while).
        retry_at = self.clock.now() + TIMER_RETRY
        for fire in flight.turn.fires:
            self._retry_count += 1
            heapq.heappush(self._retries, (retry_at, self._retry_count, fire))
        return False

    @staticmethod
    def _fail(turn: _Turn, failure: BaseException) -> None:
        """Nothing of the turn is durable: answer, keep serving."""
        for reply, _, _ in turn.answers:
            reply.fail(failure)

    def _finish(self, turn: _Turn) -> None:
        """The turn is durable: make it current, answer, publish."""
        pending = turn.pending
        for actor_id in pending.dirty:
            actor = pending.actors[actor_id]
            actor.checkpoint_seq = actor.seq  # its record is durable now
        for shard_index, actors in pending.by_shard().items():
            self.shards[shard_index].make_current(actors)
        for shard, expired in turn.pruned:
            for key in expired:
                shard.idempotency.pop(key, None)
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


class _Flight:
    """A turn whose writes the store is committing."""

    __slots__ = ("turn", "batches", "done", "error")

    def __init__(self, turn: _Turn, batches: list[ShardBatch]) -> None:
        self.turn = turn
        self.batches = batches
        self.done = trio.Event()
        self.error: Exception | None = None


class _Turn:
    """One loop turn: the overlay of new actor values, one batch per shard
    touched, and the answers to give once durable."""

    __slots__ = ("pending", "batches", "answers", "fires", "pruned")

    def __init__(self, watched: bool, now: float, parent: Pending | None = None) -> None:
        self.pending = Pending(watched, now, parent)
        self.batches: dict[int, ShardBatch] = {}
        self.answers: list[tuple[Reply, Any, BaseException | None]] = []
        self.fires: list[Fire] = []  # due timers applied in this turn
        self.pruned: list[tuple[Shard, list[tuple[str, bytes]]]] = []  # expired idempotency keys deleted

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

