"""Group commit: many concurrent writers, one durable transaction at a time.

Shard tasks call ``await writer.submit(job)``.  One writer thread takes
everything pending (up to ``max_records`` records, but always at least one
job), applies it in a single write transaction through the backend's
``apply`` function, commits durably, and only then wakes each submitter with
its own outcome.  While the thread waits on the disk, the event loop keeps
running and new submissions pile up for the next group, so the number of
records per transaction grows with the load by itself, with no timer.

Why a dedicated thread rather than one ``trio.to_thread.run_sync`` per
group: every ``to_thread`` round trip costs about 95 us on the reference
machine (a thread hand-off in each direction plus trio's bookkeeping),
which is a third of a durable LMDB commit (~280 us) and would break the
single-writer latency budget.  The thread is still owned by trio: it is
hosted by ``trio.to_thread.run_sync`` inside :meth:`GroupCommitWriter.run`,
so it lives exactly as long as the task that runs it, and it reports back
with ``TrioToken.run_sync_soon`` (one wake-up per group, not per job).

Submitters never touch the LMDB lock: they append to an in-memory queue
under a ``threading.Lock`` held for a few instructions, then park.

Coalescing: a submitter does not wake an idle writer thread itself; it
reschedules the writer's *kicker* task, which trio runs in its next
scheduling batch, after every task of the current batch (typically all the
shard tasks woken by the previous group) has had its turn to submit.  The
kicker then wakes the thread, which finds the whole burst queued.  Waking
the thread at the first submission instead would let it start a tiny group
while the loop is still busy, and the two would keep alternating between a
large and a small group, paying an extra flush per cycle.

Why no pipelining (committing one half of the writers while the loop serves
the other half): measured, it is slower here.  The thread needs the GIL
back after every GIL-free step (sealing, the durable commit), and a busy
event loop only gives it up when its scheduling batch ends (or after the
5 ms switch interval), so each overlap turns into a wait; with two groups
of 32 the 64-writer benchmark fell from ~40,000 to ~30,000 records/s.  One
group per cycle, taken when the loop is idle, never contends.

Cancellation: a submitter cancelled while its job is still queued removes it
(nothing is written); once the thread has taken the job, cancellation waits
for the outcome, so a cancelled ``submit`` always means "not written".
"""

from __future__ import annotations

import collections
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from .._exceptions import StoreClosedError, StoreError

__all__ = ["GroupCommitWriter", "Job", "WriterStatistics"]


class Job:
    """One submission: a payload for the backend's ``apply`` and its outcome.

    ``apply`` (in the writer thread) sets ``result`` or ``error`` for every
    job it is given.
    """

    __slots__ = ("error", "payload", "records", "result", "taken", "task")

    def __init__(self, payload: Any, records: int) -> None:
        self.payload = payload
        self.records = max(1, records)  # counted against max_records
        self.result: Any = None
        self.error: BaseException | None = None
        self.taken = False  # set by the thread (under the lock) when it takes the job
        self.task: trio.lowlevel.Task | None = None


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """Counters since the writer was created.

    Attributes:
        groups: transactions committed (or failed) by the writer.
        jobs: submissions processed.
        records: records (puts and deletes) processed.
        max_group_records: the largest group, in records.
        queued: submissions waiting for the next group right now.
    """

    groups: int
    jobs: int
    records: int
    max_group_records: int
    queued: int


class GroupCommitWriter:
    """Runs ``apply`` on groups of jobs in one writer thread.

    Args:
        apply: called in the writer thread with the jobs of one group; it
            must set ``result`` or ``error`` on each and must not raise
            (if it does, every job of the group fails with ``StoreError``).
        max_records: bound on records per group (a single larger job still
            goes through, alone).
    """

    def __init__(self, apply: Callable[[list[Job]], None], *, max_records: int) -> None:
        self._apply = apply
        self._max_records = max_records
        self._lock = threading.Lock()
        # One token wakes the thread from idle; put only when _idle was set,
        # so every token matches exactly one wait (no stale wake-ups).
        self._signal: queue.SimpleQueue[None] = queue.SimpleQueue()
        # Guarded by _lock:
        self._pending: collections.deque[Job] = collections.deque()
        self._idle = False  # the thread is blocked (or about to block) on _signal
        self._open = False  # accepting submissions
        self._active = False  # run() is hosting the thread
        self._groups = 0
        self._jobs = 0
        self._records = 0
        self._max_group = 0
        self._token: trio.lowlevel.TrioToken | None = None
        # Event-loop side only:
        self._kicker: trio.lowlevel.Task | None = None  # parked while _kicked is False
        self._kicked = False  # the kicker has been rescheduled and has not run yet

    @property
    def running(self) -> bool:
        """Whether submissions are accepted."""
        return self._open

    def statistics(self) -> WriterStatistics:
        """A snapshot of the writer's counters."""
        with self._lock:
            return WriterStatistics(self._groups, self._jobs, self._records, self._max_group, len(self._pending))

    async def submit(self, job: Job) -> Any:
        """Queue ``job``, wait until its group is durable, return its result.

        Raises:
            StoreClosedError: the writer is not running.
            BaseException: whatever ``apply`` set as the job's error.
        """
        job.task = trio.lowlevel.current_task()
        with self._lock:
            if not self._open:
                raise StoreClosedError("the store is not running: writes go inside `async with store.running()`")
            self._pending.append(job)
        if not self._kicked and self._kicker is not None:
            self._kicked = True
            trio.lowlevel.reschedule(self._kicker)

        # wait_task_rescheduled is the checkpoint: a task already cancelled
        # aborts at once, and its job is removed before the thread sees it.
        def abort(_: Any) -> trio.lowlevel.Abort:
            with self._lock:
                if not job.taken:
                    self._pending.remove(job)
                    return trio.lowlevel.Abort.SUCCEEDED
            return trio.lowlevel.Abort.FAILED

        await trio.lowlevel.wait_task_rescheduled(abort)
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        """Stop accepting submissions; the thread finishes what is queued,
        then exits.  Idempotent; safe to call from any thread."""
        with self._lock:
            self._open = False
            wake = self._idle
            self._idle = False
        if wake:
            self._signal.put(None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Host the writer thread until :meth:`close` or cancellation.

        Either way, queued jobs are finished before this returns.

        Raises:
            RuntimeError: the writer is already running.
        """
        with self._lock:
            if self._active:
                raise RuntimeError("the writer is already running")
            self._active = True
            self._open = True
        self._token = trio.lowlevel.current_trio_token()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self._kick_forever)
                task_status.started()
                await trio.to_thread.run_sync(self._thread_main)
                nursery.cancel_scope.cancel()
        finally:
            with self._lock:
                self._open = False
                self._active = False

    async def _kick_forever(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The kicker: wakes the idle thread once per scheduling batch with
        submissions; on cancellation, closes the writer (so that run() can
        finish: the thread drains the queue and exits)."""
        self._kicker = trio.lowlevel.current_task()
        task_status.started()

        def abort(_: Any) -> trio.lowlevel.Abort:
            # Cancelled: trio reschedules the kicker itself, so a submitter
            # in the same scheduling batch must not (close() below wakes
            # the thread for whatever is still queued).
            self._kicker = None
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            while True:
                await trio.lowlevel.wait_task_rescheduled(abort)
                self._kicked = False
                with self._lock:
                    wake = self._idle and bool(self._pending)
                    if wake:
                        self._idle = False
                if wake:
                    self._signal.put(None)
        finally:
            self._kicker = None
            self._kicked = False
            self.close()

    def _thread_main(self) -> None:
        token = self._token
        assert token is not None
        pending = self._pending
        limit = self._max_records
        while True:
            group: list[Job] = []
            records = 0
            with self._lock:
                if not pending:
                    if not self._open:
                        return  # closed and drained
                    self._idle = True
                else:
                    while pending and (not group or records + pending[0].records <= limit):
                        job = pending.popleft()
                        job.taken = True
                        group.append(job)
                        records += job.records
            if not group:
                self._signal.get()
                continue
            try:
                self._apply(group)
            except BaseException as exc:  # a bug in apply: never strand a submitter
                for job in group:
                    job.result = None
                    job.error = StoreError(f"the store's writer failed; nothing of this commit was applied: {exc!r}")
            with self._lock:
                self._groups += 1
                self._jobs += len(group)
                self._records += records
                self._max_group = max(self._max_group, records)
            token.run_sync_soon(_deliver, group)


def _deliver(group: list[Job]) -> None:
    reschedule = trio.lowlevel.reschedule
    for job in group:
        assert job.task is not None
        reschedule(job.task)
