"""The group-commit writer (skruntime/store/_writer.py), with a fake backend."""

from __future__ import annotations

import threading

import pytest
import trio
import trio.testing

from skruntime import StoreError
from skruntime._exceptions import StoreClosedError
from skruntime.store._writer import GroupCommitWriter, Job


class FakeBackend:
    """Records the groups it is given; can be made to block or fail."""

    def __init__(self) -> None:
        self.groups: list[list[object]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail = False

    def apply(self, jobs: list[Job]) -> None:
        self.entered.set()
        self.gate.wait()
        if self.fail:
            raise RuntimeError("disk on fire")
        self.groups.append([job.payload for job in jobs])
        for job in jobs:
            if job.payload == "bad":
                job.error = ValueError("bad payload")
            else:
                job.result = f"done {job.payload}"


async def test_submit_returns_the_result_and_raises_the_error():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        assert await writer.submit(Job("a", 1)) == "done a"
        with pytest.raises(ValueError, match="bad payload"):
            await writer.submit(Job("bad", 1))
        writer.close()
    assert not writer.running


async def test_a_burst_is_one_group():
    """Submissions made in one scheduling batch reach the thread together."""
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as burst:
            for i in range(25):
                burst.start_soon(writer.submit, Job(i, 1))
        writer.close()
    assert [sorted(g) for g in backend.groups] == [list(range(25))]  # type: ignore[type-var]
    stats = writer.statistics()
    assert (stats.groups, stats.jobs, stats.records, stats.max_group_records, stats.queued) == (1, 25, 25, 25, 0)


async def test_groups_are_bounded():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        async with trio.open_nursery() as burst:
            for i in range(25):
                burst.start_soon(writer.submit, Job(i, 1))
            burst.start_soon(writer.submit, Job("big", 50))  # larger than the bound: alone
        writer.close()
    assert sum(len(g) for g in backend.groups) == 26
    assert ["big"] in backend.groups
    assert all(len(g) <= 10 for g in backend.groups if g != ["big"])
    assert len(backend.groups) <= 5  # 10 + 10 + 5 + big, split once more where big sat in the queue


async def test_a_failing_backend_fails_its_group_only():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        backend.fail = True
        with pytest.raises(StoreError, match="disk on fire"):
            await writer.submit(Job("x", 1))
        backend.fail = False
        assert await writer.submit(Job("y", 1)) == "done y"
        writer.close()


async def test_cancel_while_queued_removes_the_job():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        backend.gate.clear()
        nursery.start_soon(writer.submit, Job("first", 1))
        await trio.to_thread.run_sync(backend.entered.wait)  # the thread is busy with "first"
        with trio.move_on_after(0.05) as scope:
            await writer.submit(Job("cancelled", 1))
        assert scope.cancelled_caught
        backend.gate.set()
        assert await writer.submit(Job("after", 1)) == "done after"
        writer.close()
    assert "cancelled" not in [p for g in backend.groups for p in g]


async def test_cancel_after_the_thread_took_the_job_waits_for_the_outcome():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    results = []
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        backend.gate.clear()

        async def submit_and_record():
            results.append(await writer.submit(Job("taken", 1)))

        with trio.CancelScope() as scope:
            nursery.start_soon(submit_and_record)
            await trio.to_thread.run_sync(backend.entered.wait)
            scope.cancel()
        backend.gate.set()
        await trio.sleep(0.05)
        writer.close()
    assert results == ["done taken"]  # the write happened, and the caller was told


async def test_closing_drains_the_queue_then_refuses():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=1)
    done = []
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)

        async def submit(i):
            done.append(await writer.submit(Job(i, 1)))

        backend.gate.clear()  # hold the thread so that the jobs stay queued
        for i in range(5):
            nursery.start_soon(submit, i)
        await trio.testing.wait_all_tasks_blocked()
        writer.close()
        backend.gate.set()
        with pytest.raises(StoreClosedError):
            await writer.submit(Job("late", 1))
    assert sorted(done) == [f"done {i}" for i in range(5)]


async def test_cancelling_the_writer_finishes_queued_work():
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    done = []
    async with trio.open_nursery() as outer:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            backend.gate.clear()

            async def submit():
                done.append(await writer.submit(Job("x", 1)))

            outer.start_soon(submit)
            await trio.to_thread.run_sync(backend.entered.wait)
            nursery.cancel_scope.cancel()
            backend.gate.set()
    assert done == ["done x"]
    assert not writer.running


async def test_running_twice_is_refused():
    writer = GroupCommitWriter(FakeBackend().apply, max_records=10)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        with pytest.raises(RuntimeError, match="already running"):
            await writer.run()
        writer.close()


async def test_a_submission_right_after_the_writer_is_cancelled_is_still_answered():
    """Cancelling the writer reschedules its kicker at once; a submitter in
    the same scheduling batch must not reschedule it again (trio would fail
    with an internal error): its job is applied while the writer drains."""
    backend = FakeBackend()
    writer = GroupCommitWriter(backend.apply, max_records=100)
    scope = trio.CancelScope()

    async def host(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await writer.run(task_status=task_status)

    async with trio.open_nursery() as nursery:
        await nursery.start(host)
        await trio.testing.wait_all_tasks_blocked()
        scope.cancel()
        assert await writer.submit(Job("late", 1)) == "done late"
    assert backend.groups == [["late"]]
    with pytest.raises(StoreClosedError):
        await writer.submit(Job("later", 1))
