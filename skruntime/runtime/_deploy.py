"""Deployments: history-routed migration, preview, recovery and audit.

A deployment of version V over parent P (ARCHITECTURE, "a deployment is a
durable record plus per-shard cursors"):

1. every shard is paused (a :class:`Task` holds its loop, so events queue)
   and evaluates its actors on P with :func:`evaluate_shard`;
2. the shards' digests combine into the preview token; if the deploy
   carried one that differs, the shards resume and nothing is written
   (409 ``preview-stale``);
3. the version and the deployment record are committed (status
   ``applying``);
4. each shard, still paused, writes its decision pages (which say where
   each migrated actor moved, at which seq), the migrated actors' timers
   and its cursor in one transaction, swaps the actors in and resumes;
5. the deployment is marked ``complete`` with the aggregated counts, and
   the deploy answers;
6. each worker then settles its shards: writes the migrated actors' own
   records and clears the cursor's ``actorsPending`` mark.

A crash after 3 is finished at start-up, before any event is accepted: every
shard without this deployment's cursor evaluates and applies it (its actors
cannot have changed, since it was paused).  A crash before 3 leaves nothing.
A crash between 4 and 6 leaves records from before the move: the start
replays the moves from the pages (``pending_moves``, ``replay_tail``) and
settles.
Each actor thus gets exactly one decision per deployment, and every event is
applied either before its actor's decision (and is in the evaluated history)
or after it (on the decided version).
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
import trio

from .._exceptions import NotFound, PreviewStale, ServiceUnavailable, Unprocessable
from ..store import MetaBatch, ShardStore
from ..statechart import Snapshot
from ._actor import Actor, iso_time
from ._audit import decision_view, find_decision, page_decisions
from ._migration import MIGRATE, Evaluation, ReplayMemo, combine_tokens, evaluate_shard
from ._commands import Task
from ._shard import SETTLE_SLICE, PreparedDeployment, Shard
from ._worker import Worker
from ._versions import Version

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["Deployments", "Move", "check_expect", "pending_moves"]

log = logging.getLogger("skruntime.runtime")


def deployment_id(ordinal: int) -> str:
    return f"dep-{ordinal}"


def parse_deployment_id(text: str) -> int:
    prefix, _, number = text.partition("-")
    if prefix != "dep" or not (number.isascii() and number.isdigit()) or len(number) > 18:
        raise NotFound("deployment", text)  # ordinals are 64-bit keys; longer ids cannot exist
    return int(number)


def aggregate(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum per-shard counts (evaluation counts or cursors)."""
    by_reason: dict[str, int] = {}
    evaluated = migrated = 0
    for part in parts:
        evaluated += part["evaluated"]
        migrated += part["migrated"]
        for reason, n in part["byReason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + n
    return {"evaluated": evaluated, "migrated": migrated, "stayed": evaluated - migrated, "byReason": dict(sorted(by_reason.items()))}


class Move(NamedTuple):
    """A migration a deployment recorded for an actor (in its pages)."""

    seq: int  # the actor's seq when it moved
    from_version: str
    to_version: str
    landing: Any  # the landing state value
    at: float


async def pending_moves(shard_store: ShardStore, cursors: Sequence[tuple[Any, Any]]) -> tuple[dict[str, list[Move]], dict[int, tuple[Any, list[str]]]]:
    """The moves of a shard's deployments whose migrated actors' records
    may not all be written yet (cursor marked ``actorsPending``), read from
    their pages: ``({actor id: moves, oldest first}, {ordinal: (cursor,
    moved actor ids)})``."""
    moves: dict[str, list[Move]] = {}
    unsettled: dict[int, tuple[Any, list[str]]] = {}
    for ordinal, cursor in sorted(((int(o), c) for o, c in cursors), key=lambda item: item[0]):
        if not (isinstance(cursor, Mapping) and cursor.get("actorsPending")):
            continue
        moved: list[str] = []
        for _, page in await shard_store.deployment_pages(ordinal):
            for actor_id, record in page_decisions(page):
                if record["decision"] == MIGRATE:
                    moves.setdefault(actor_id, []).append(
                        Move(int(record["seq"]), record["fromVersion"], record["toVersion"], record["landingState"], float(record["at"]))
                    )
                    moved.append(actor_id)
        unsettled[ordinal] = (cursor, moved)
    return moves, unsettled


class Deployments:
    """The runtime's deployment machinery (one deploy at a time)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.lock = trio.Lock()
        self.next_ordinal = 1
        self.incomplete: list[dict[str, Any]] = []
        self.parents: dict[int, str] = {}  # ordinal -> parent version id, of every deployment recorded
        self.recovered: list[str] = []  # deployments finished at start-up

    # -- start-up -------------------------------------------------------------------

    async def load(self) -> None:
        """Find the next ordinal and the deployments a crash left incomplete."""
        start: object = None
        while True:
            rows = await self.rt.store.meta.scan("deployments", start=start, limit=500)
            for ordinal, record in rows:
                self.next_ordinal = max(self.next_ordinal, int(ordinal) + 1)
                self.parents[int(ordinal)] = record["parentId"]
                if record.get("status") != "complete":
                    self.incomplete.append(record)
            if len(rows) < 500:
                break
            start = int(rows[-1][0]) + 1

    def replay_move(self, actor: Actor, move: Move, memos: dict[str, ReplayMemo]) -> Actor:
        """The actor after a move its deployment recorded but its record
        does not hold yet: landed again by the same replay, which must reach
        the recorded landing state.

        Raises:
            KeyError: the target version is unknown.
            ValueError: the replay lands elsewhere (the actor is then
                quarantined rather than served wrong).
        """
        version = self.rt.versions.get(move.to_version)
        if version is None:
            raise KeyError(f"unknown version {move.to_version!r}")
        memo = memos.get(version.id)
        if memo is None:
            memo = memos[version.id] = ReplayMemo(version.machine)
        configuration = memo.land(actor).configuration
        if configuration is None or configuration.value != move.landing:
            raise ValueError(f"its move to {move.to_version} at seq {move.seq} does not replay to the recorded landing state")
        return actor.moved(version.id, version.machine, Snapshot(configuration, actor.snapshot.context), move.at, actor.timers)

    async def recover(self, cursors: Mapping[int, set[int]]) -> None:
        """Finish incomplete deployments: every shard lacking a cursor
        evaluates and applies, before the shards start serving."""
        for record in self.incomplete:
            ordinal = int(record["ordinal"])
            version = self.rt.versions.get(record["versionId"])
            if version is None or version.parent_id is None:
                continue
            memo = ReplayMemo(version.machine)
            parent_code = self.rt.version_codes[version.parent_id]
            for shard in self.rt.shards:
                if ordinal in cursors.get(shard.index, set()):
                    continue
                evaluation = evaluate_shard(shard.index, shard.actors, shard.resident, parent_code, version.history_path, memo)
                prepared = await shard.apply_deployment(evaluation, record["id"], ordinal, version, version.parent_id, self.rt.commit, self.rt.hub)
                if prepared.moved:
                    await shard.settle_deployment(ordinal, prepared.cursor, list(prepared.moved), self.rt.commit)
            await self._complete(record)
            self.recovered.append(record["id"])
        self.incomplete = []

    # -- preview and deploy ------------------------------------------------------------

    def evaluate_all(self, parent_id: str, path: tuple[str, ...] | None, memo: ReplayMemo) -> list[Evaluation]:
        """Evaluate every shard now, without pausing (a consistent cut: no
        await in between)."""
        code = self.rt.version_codes[parent_id]
        return [evaluate_shard(s.index, s.actors, s.resident, code, path, memo) for s in self.rt.shards]

    def preview(self, parent_id: str, path: tuple[str, ...] | None, machine: Any, *, summary: bool) -> dict[str, Any]:
        return self._preview_of(self.evaluate_all(parent_id, path, ReplayMemo(machine)), summary=summary)

    def preview_nothing(self, *, summary: bool) -> dict[str, Any]:
        """A preview's answer when nothing is evaluated (a redeploy)."""
        return self._preview_of([], summary=summary)

    def _preview_of(self, evaluations: list[Evaluation], *, summary: bool) -> dict[str, Any]:
        result: dict[str, Any] = {
            "previewToken": combine_tokens(evaluations),
            "counts": aggregate([e.counts() for e in evaluations]),
        }
        if not summary:
            would_migrate: list[dict[str, Any]] = []
            would_stay: list[dict[str, Any]] = []
            for evaluation in evaluations:
                for actor, outcome in zip(evaluation.actors, evaluation.outcomes):
                    if outcome.landing is not None:
                        would_migrate.append({"actorId": actor.id, "from": actor.snapshot.value, "to": outcome.landing.value})
                    else:
                        item: dict[str, Any] = {"actorId": actor.id, "reason": outcome.reason, "state": actor.snapshot.value}
                        if outcome.diverged_seq is not None:
                            item["divergedSeq"] = outcome.diverged_seq
                        would_stay.append(item)
            result["migration"] = {"wouldMigrate": would_migrate, "wouldStay": would_stay}
        return result

    async def deploy(self, version: Version, expect_token: str | None) -> dict[str, Any]:
        """Deploy ``version`` (which has a parent) and migrate; see the module docstring."""
        assert version.parent_id is not None
        parent_id = version.parent_id
        workers = self.rt.workers
        ordinal = self.next_ordinal
        dep_id = deployment_id(ordinal)
        memo = ReplayMemo(version.machine)
        parent_code = self.rt.version_codes[parent_id]
        evaluations: dict[int, Evaluation] = {}
        evaluated = trio.Event()
        gate = trio.Event()
        proceed = False
        remaining = len(workers)
        failures: list[Exception] = []  # an evaluation that raised (a bug): nothing is applied
        registered = version  # with its deployment id, once decided

        async def in_worker(worker: Worker) -> list[tuple[Shard, PreparedDeployment]]:
            # Holds the worker (its shards take no events) from evaluation to apply.
            nonlocal remaining
            try:
                for shard in worker.shards.values():
                    evaluations[shard.index] = evaluate_shard(shard.index, shard.actors, shard.resident, parent_code, version.history_path, memo)
            except Exception as exc:
                failures.append(exc)
            finally:
                remaining -= 1
                if remaining == 0:
                    evaluated.set()
            await gate.wait()
            if not proceed:
                return []
            # Every shard of the worker in one commit (each shard's writes
            # stay atomic; one durable round trip instead of one per shard).
            prepared = [
                (shard, shard.prepare_deployment(evaluations[shard.index], dep_id, ordinal, registered, parent_id))
                for shard in worker.shards.values()
            ]
            await self.rt.commit(*[p.batch for _, p in prepared])
            for shard, p in prepared:
                shard.finish_deployment(p, self.rt.hub)
            return prepared

        tasks = [Task(in_worker) for _ in workers]
        for worker, task in zip(workers, tasks):
            await worker.submit(task)
        await evaluated.wait()
        try:
            if failures:  # every worker waits at the gate: release them, apply nothing
                raise failures[0]
            done = list(evaluations.values())
            token = combine_tokens(done)
            counts = aggregate([e.counts() for e in done])
            if expect_token is not None and expect_token != token:
                raise PreviewStale(
                    "the actors changed since the preview; preview again and deploy what you read",
                    {**counts, "previewToken": token},
                )
            registered = Version(
                version.id, version.parent_id, version.history_path, version.definition, version.machine,
                version.created_at, version.digest, dep_id,
            )
            record = {
                "id": dep_id,
                "ordinal": ordinal,
                "versionId": version.id,
                "parentId": parent_id,
                "historyPath": None if version.history_path is None else list(version.history_path),
                "createdAt": version.created_at,
                "previewToken": token,
                "status": "applying",
            }
            batch = MetaBatch()
            batch.put("versions", version.id, registered.record())
            batch.put("deployments", ordinal, record)
            await self.rt.store.commit(batch)
            self.next_ordinal = ordinal + 1
            self.parents[ordinal] = parent_id
            self.rt.register(registered)
            proceed = True
        finally:
            gate.set()
        applied: list[list[tuple[Shard, PreparedDeployment]]] = []
        for task in tasks:
            try:
                applied.append(await task.reply.wait())
            except Exception as exc:
                raise ServiceUnavailable(
                    f"deployment {dep_id} is recorded but a shard could not apply it ({exc}); "
                    "it will be completed when the server restarts"
                ) from exc
        summary = {"deploymentId": dep_id, **aggregate([prepared.cursor for shards in applied for _, prepared in shards])}
        await self._complete(record, summary)
        # The deployment is complete and durable (its pages carry the moves);
        # the migrated actors' records follow, in each worker's loop, a
        # slice of SETTLE_SLICE records per task, so that events queued
        # meanwhile are served between slices.
        for worker, shards in zip(workers, applied):
            failed: list[BaseException] = []  # shared by the worker's slices
            for work in _settle_slices(shards):
                await worker.submit(Task(functools.partial(self._settle, dep_id, ordinal, work, failed)))
        return {"version": self.rt.version_view(registered), "deployment": summary}

    async def _settle(
        self, dep_id: str, ordinal: int, work: list[tuple[Shard, Mapping[str, Any], list[str], bool]], failed: list[BaseException], worker: Worker
    ) -> None:
        """One slice of a worker's settle work.  After a slice failed, no
        later one clears a cursor's mark: the next start must replay the
        moves whose records were not written."""
        del worker  # a Task's function is given its worker; the shards are in ``work``
        parts = []
        for shard, cursor, ids, last in work:
            parts.append((shard, *shard.settle_batch(ordinal, cursor, ids, last=last and not failed)))
            # A shard's records at a time, letting the rest of the loop run:
            # a slice's worth (~30 ms) would hold back, among others, the
            # very answer of the deploy that queued it.
            await trio.sleep(0)
        try:
            await self.rt.commit(*[batch for _, batch, _ in parts])
        except Exception as exc:  # the pages still carry the moves: the next start writes the records
            failed.append(exc)
            log.warning("deployment %s: migrated actors' records not rewritten yet (%r); the next start will", dep_id, exc)
            return
        for shard, _, written in parts:
            shard.settled(written)

    async def _complete(self, record: Mapping[str, Any], summary: Mapping[str, Any] | None = None) -> None:
        if summary is None:
            cursors = await self.rt.store.meta.deployment_cursors(int(record["ordinal"]))
            summary = {"deploymentId": record["id"], **aggregate(list(cursors.values()))}
        batch = MetaBatch()
        batch.put("deployments", int(record["ordinal"]), {**record, "status": "complete", "summary": dict(summary)})
        await self.rt.store.commit(batch)

    # -- audit ------------------------------------------------------------------------

    async def get(self, dep_id: str) -> dict[str, Any]:
        ordinal = parse_deployment_id(dep_id)
        record = await self.rt.store.meta.get("deployments", ordinal)
        if record is None:
            raise NotFound("deployment", dep_id)
        cursors = await self.rt.store.meta.deployment_cursors(ordinal)
        view = {
            "deploymentId": record["id"],
            "versionId": record["versionId"],
            "parentId": record["parentId"],
            "historyPath": record["historyPath"],
            "createdAt": iso_time(record["createdAt"]),
            "status": record["status"],
            "shardsApplied": len(cursors),
            **aggregate(list(cursors.values())),
        }
        return view

    async def decisions(self, dep_id: str, *, cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """A deployment's decisions, paged (``cursor`` from the previous page).

        Decisions are stored in pages (``_audit.decision_pages``); a cursor
        names the last page fully read and how far into the next one we are.
        """
        ordinal = parse_deployment_id(dep_id)
        if await self.rt.store.meta.get("deployments", ordinal) is None:
            raise NotFound("deployment", dep_id)
        after_page, skip = _decode_page_cursor(cursor)
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            pages = await self.rt.store.meta.deployment_decisions(ordinal, after=after_page, limit=4)
            if not pages:
                return items, None
            for first, page in pages:
                entries = page_decisions(page)
                take = entries[skip : skip + (limit - len(items))]
                items.extend(decision_view(actor_id, record) for actor_id, record in take)
                if skip + len(take) < len(entries):
                    return items, _encode_page_cursor(after_page, skip + len(take))
                after_page, skip = first, 0
                if len(items) >= limit:
                    break
        more = await self.rt.store.meta.deployment_decisions(ordinal, after=after_page, limit=1)
        return items, (_encode_page_cursor(after_page, 0) if more else None)


    async def of_actor(self, actor_id: str, version_id: str, shard: Any, *, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """An actor's decisions, oldest first, from deployment ordinal
        ``after`` + 1 on; the second item is the ordinal to pass as
        ``after`` for the next page (``None``: no more).

        Only deployments whose parent the actor may have been on can hold
        one: its version or an ancestor (an actor only ever moves from a
        parent to a child).  Each asks the shard for the one page that
        would hold the actor.
        """
        lineage = set()
        version = self.rt.versions.get(version_id)
        while version is not None:
            lineage.add(version.id)
            version = self.rt.versions.get(version.parent_id) if version.parent_id is not None else None
        items: list[tuple[int, dict[str, Any]]] = []
        for ordinal in sorted(o for o, parent in self.parents.items() if o > after and parent in lineage):
            page = await shard.store.decision_page(ordinal, actor_id)
            record = None if page is None else find_decision(page, actor_id)
            if record is None:
                continue
            if len(items) == limit:
                return [view for _, view in items], items[-1][0]
            items.append((ordinal, decision_view(actor_id, record)))
        return [view for _, view in items], None


def _settle_slices(shards: Sequence[tuple[Shard, PreparedDeployment]]) -> list[list[tuple[Shard, Mapping[str, Any], list[str], bool]]]:
    """A worker's settle work cut into slices of about ``SETTLE_SLICE``
    actors: ``(shard, cursor, actor ids, whether the shard's last)`` each."""
    slices: list[list[tuple[Shard, Mapping[str, Any], list[str], bool]]] = [[]]
    size = 0
    for shard, prepared in shards:
        ids = list(prepared.moved)
        for start in range(0, len(ids), SETTLE_SLICE):
            if size >= SETTLE_SLICE:
                slices.append([])
                size = 0
            part = ids[start : start + SETTLE_SLICE]
            slices[-1].append((shard, prepared.cursor, part, start + SETTLE_SLICE >= len(ids)))
            size += len(part)
    return [work for work in slices if work]


def _encode_page_cursor(after_page: str | None, skip: int) -> str:
    raw = orjson.dumps([after_page, skip])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_cursor(cursor: str | None) -> tuple[str | None, int]:
    if not cursor:
        return None, 0
    try:
        after_page, skip = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if (after_page is None or isinstance(after_page, str)) and isinstance(skip, int) and skip >= 0:
            return after_page, skip
    except (ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise Unprocessable("cursor is not one this server issued", parameter="cursor")


def check_expect(body: Mapping[str, Any]) -> str | None:
    expect = body.get("expect")
    if expect is None:
        return None
    if not isinstance(expect, Mapping) or set(expect) - {"previewToken"} or not isinstance(expect.get("previewToken"), str):
        raise Unprocessable('expect must be {"previewToken": "..."}', "/expect")
    token: str = expect["previewToken"]
    return token

