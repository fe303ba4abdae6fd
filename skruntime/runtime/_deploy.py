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
4. each shard, still paused, writes its decisions, the migrated actors and
   its cursor in one transaction, swaps the actors in and resumes;
5. the deployment is marked ``complete`` with the aggregated counts.

A crash after 3 is finished at start-up, before any event is accepted: every
shard without this deployment's cursor evaluates and applies it (its actors
cannot have changed, since it was paused).  A crash before 3 leaves nothing.
Each actor thus gets exactly one decision per deployment, and every event is
applied either before its actor's decision (and is in the evaluated history)
or after it (on the decided version).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import trio

from .._exceptions import NotFound, PreviewStale, ServiceUnavailable, Unprocessable
from ..store import MetaBatch
from ._actor import iso_time
from ._migration import Evaluation, ReplayMemo, combine_tokens, evaluate_shard
from ._commands import Task
from ._worker import Worker
from ._versions import Version

if TYPE_CHECKING:
    from ._runtime import Runtime

__all__ = ["Deployments", "check_expect", "decision_view"]


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


def decision_view(actor_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A decision record as the API shows it."""
    view = {"actorId": actor_id, **record}
    view["time"] = iso_time(view.pop("at"))
    return view


class Deployments:
    """The runtime's deployment machinery (one deploy at a time)."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.lock = trio.Lock()
        self.next_ordinal = 1
        self.incomplete: list[dict[str, Any]] = []
        self.recovered: list[str] = []  # deployments finished at start-up

    # -- start-up -------------------------------------------------------------------

    async def load(self) -> None:
        """Find the next ordinal and the deployments a crash left incomplete."""
        start: object = None
        while True:
            rows = await self.rt.store.meta.scan("deployments", start=start, limit=500)
            for ordinal, record in rows:
                self.next_ordinal = max(self.next_ordinal, int(ordinal) + 1)
                if record.get("status") != "complete":
                    self.incomplete.append(record)
            if len(rows) < 500:
                break
            start = int(rows[-1][0]) + 1

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
                await shard.apply_deployment(evaluation, record["id"], ordinal, version, version.parent_id, self.rt.commit, self.rt.hub)
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
        memo = ReplayMemo(machine)
        evaluations = self.evaluate_all(parent_id, path, memo)
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
        registered = version  # with its deployment id, once decided

        async def in_worker(worker: Worker) -> list[dict[str, Any]]:
            # Holds the worker (its shards take no events) from evaluation to apply.
            nonlocal remaining
            for shard in worker.shards.values():
                evaluations[shard.index] = evaluate_shard(shard.index, shard.actors, shard.resident, parent_code, version.history_path, memo)
            remaining -= 1
            if remaining == 0:
                evaluated.set()
            await gate.wait()
            if not proceed:
                return []
            return [
                await shard.apply_deployment(evaluations[shard.index], dep_id, ordinal, registered, parent_id, self.rt.commit, self.rt.hub)
                for shard in worker.shards.values()
            ]

        tasks = [Task(in_worker) for _ in workers]
        for worker, task in zip(workers, tasks):
            await worker.submit(task)
        await evaluated.wait()
        done = list(evaluations.values())
        token = combine_tokens(done)
        counts = aggregate([e.counts() for e in done])
        try:
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
            self.rt.register(registered)
            proceed = True
        finally:
            gate.set()
        cursors: list[dict[str, Any]] = []
        for task in tasks:
            try:
                cursors.extend(await task.reply.wait())
            except Exception as exc:
                raise ServiceUnavailable(
                    f"deployment {dep_id} is recorded but a shard could not apply it ({exc}); "
                    "it will be completed when the server restarts"
                ) from exc
        summary = {"deploymentId": dep_id, **aggregate(cursors)}
        await self._complete(record, summary)
        return {"version": self.rt.version_view(registered), "deployment": summary}

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

        Decisions are stored in pages (``Shard.decision_pages``); a cursor
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
                entries = page["decisions"]
                take = entries[skip : skip + (limit - len(items))]
                items.extend(decision_view(actor_id, record) for actor_id, record in take)
                if skip + len(take) < len(entries):
                    return items, _encode_page_cursor(after_page, skip + len(take))
                after_page, skip = first, 0
                if len(items) >= limit:
                    break
        more = await self.rt.store.meta.deployment_decisions(ordinal, after=after_page, limit=1)
        return items, (_encode_page_cursor(after_page, 0) if more else None)


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
    raise Unprocessable("cursor is not one this server issued", "cursor")


def check_expect(body: Mapping[str, Any]) -> str | None:
    expect = body.get("expect")
    if expect is None:
        return None
    if not isinstance(expect, Mapping) or set(expect) - {"previewToken"} or not isinstance(expect.get("previewToken"), str):
        raise Unprocessable('expect must be {"previewToken": "..."}', "/expect")
    token: str = expect["previewToken"]
    return token

