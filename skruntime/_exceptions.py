"""Every exception skruntime raises, in one tree.

::

    SkRuntimeError
    ├── DefinitionError          a machine definition is invalid or needs code
    ├── ExecutionError           a valid definition misbehaved while running
    │   └── InfiniteLoopError    a macrostep did not reach a stable state
    ├── SnapshotError            a persisted snapshot does not fit its machine
    ├── StoreError               the durable store failed
    │   ├── CorruptRecordError   a record does not decode (bad envelope)
    │   │   └── DecryptionError  a record's GCM tag does not verify
    │   ├── KeyConfigError       the master key is missing, malformed or wrong
    │   ├── FormatVersionError   the data directory was written by a newer skruntime
    │   ├── StoreFullError       the LMDB map is full
    │   ├── StoreClosedError     the store's writer is not running
    │   └── Fenced               a newer epoch owns the shard
    ├── RoutingError             the routing kernel was given inconsistent input
    ├── ConfigError              a configuration value is invalid
    └── RequestError             a request cannot be applied (HTTP: problem+json)
        ├── BadRequest           400 bad-request: malformed JSON, wrong types
        ├── Unauthorized         401 unauthorized
        ├── Forbidden            403 forbidden
        ├── NotFound             404 not-found
        ├── RequestTimeout       408 request-timeout: the body did not arrive in time
        ├── Conflict             409 conflict
        │   ├── EventNotHandled  409 event-not-handled (lists accepted events)
        │   ├── ActorDone        409 actor-done
        │   ├── ActorExists      409 actor-exists
        │   ├── EventLoop        409 infinite-loop (the definition loops on it)
        │   ├── ActorUnavailable 409 actor-quarantined (its records failed to decrypt)
        │   └── PreviewStale     409 preview-stale
        ├── PayloadTooLarge      413 payload-too-large
        ├── Unprocessable        422 validation (with a JSON Pointer when there is one)
        │   └── InvalidDefinition 422 invalid-definition
        └── ServiceUnavailable   503 unavailable: not ready yet, or shutting down

Each exception carries the context a caller needs to act on it (the JSON
Pointer of a bad definition node, the database and key of a bad record, ...)
and its docstring says when it is raised and what to do about it.  Errors from
dependencies (lmdb, cryptography, zstandard) are translated at the boundary
with ``raise ... from exc`` and never reach an API caller untranslated.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CorruptRecordError",
    "DecryptionError",
    "DefinitionError",
    "ExecutionError",
    "Fenced",
    "FormatVersionError",
    "ActorDone",
    "ActorExists",
    "ActorUnavailable",
    "BadRequest",
    "Conflict",
    "EventLoop",
    "EventNotHandled",
    "Forbidden",
    "InfiniteLoopError",
    "InvalidDefinition",
    "NotFound",
    "PayloadTooLarge",
    "PreviewStale",
    "RequestError",
    "RequestTimeout",
    "ServiceUnavailable",
    "Unauthorized",
    "Unprocessable",
    "KeyConfigError",
    "RoutingError",
    "SkRuntimeError",
    "SnapshotError",
    "StoreClosedError",
    "StoreError",
    "StoreFullError",
]


class SkRuntimeError(Exception):
    """Root of every error raised by skruntime itself."""


class DefinitionError(SkRuntimeError):
    """A machine definition is invalid, or uses a feature that needs code.

    Raised when a definition is compiled (on deploy and preview).  Fix the
    definition at ``pointer`` (an RFC 6901 JSON Pointer into the definition
    document; ``""`` is the whole document) and deploy again.

    Attributes:
        pointer: where in the definition the problem is.
        reason: one sentence saying what is wrong.
    """

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


class ExecutionError(SkRuntimeError):
    """A valid definition could not process an event.

    The actor is unchanged: the event is rejected and nothing is recorded.
    """


class InfiniteLoopError(ExecutionError):
    """A macrostep does not come to rest.

    This happens when eventless (``always``) transitions form a cycle whose
    guards all pass, e.g. ``a -> b -> a``.  XState itself would loop forever;
    skruntime stops as soon as the cycle shows (a microstep starting where an
    earlier one did), or after ``max_iterations`` microsteps, and rejects
    the event.
    Fix the definition (guard one of the transitions) and deploy a new version.

    Attributes:
        event_type: the event whose macrostep did not terminate.
        max_iterations: the bound that was exceeded.
    """

    def __init__(self, event_type: str, max_iterations: int) -> None:
        super().__init__(
            f"processing {event_type!r} does not reach a stable state (a cycle of microsteps, or more "
            f"than {max_iterations}): eventless transitions probably form a cycle"
        )
        self.event_type = event_type
        self.max_iterations = max_iterations


class SnapshotError(SkRuntimeError):
    """A persisted snapshot names states its machine does not have.

    Raised by ``Machine.restore``; it means the snapshot was stored for another
    definition or was damaged.  The actor cannot be resumed on this machine.
    """


class StoreError(SkRuntimeError):
    """The durable store failed; the operation that raised it did not commit."""


class CorruptRecordError(StoreError):
    """A stored record cannot be decoded.

    Attributes:
        database: the LMDB database holding the record.
        key: the record's key (bytes).
        actor_id: the actor the record belongs to, when known.
    """

    def __init__(self, database: str, key: bytes, reason: str, *, actor_id: str | None = None) -> None:
        who = f" (actor {actor_id!r})" if actor_id is not None else ""
        super().__init__(f"record {database}/{key.hex()}{who}: {reason}")
        self.database = database
        self.key = key
        self.actor_id = actor_id
        self.reason = reason


class DecryptionError(CorruptRecordError):
    """A record's AES-GCM tag did not verify: it was tampered with, moved to
    another key, or written under a master key that is not configured.

    The owning actor is quarantined; everything else keeps serving.
    """


class KeyConfigError(StoreError):
    """The master key is missing, malformed, or does not open this store.

    Raised at start-up; check ``SKRUNTIME_MASTER_KEY`` / ``SKRUNTIME_KEY_FILE``.
    """


class FormatVersionError(StoreError):
    """The data directory was written by a newer skruntime than this one.

    Upgrade skruntime; older formats are upgraded in place automatically.
    """


class StoreFullError(StoreError):
    """The LMDB map is full; raise ``store.map_size`` and restart."""


class StoreClosedError(StoreError):
    """A write was submitted while the store's group-commit writer is not
    running: before ``async with store.running()`` was entered, or after it
    exited.  Nothing was written.

    This is a bug in the owner's start-up or shutdown order (shard tasks must
    run inside ``store.running()``), not a property of the data.
    """


class Fenced(StoreError):
    """A newer epoch owns the shard: this writer must stop using it.

    Attributes:
        shard: the shard number.
        epoch: the epoch this writer held.
        current: the epoch recorded in the store.
    """

    def __init__(self, shard: int, epoch: int, current: int) -> None:
        super().__init__(f"shard {shard} is held at epoch {current}; epoch {epoch} is fenced")
        self.shard = shard
        self.epoch = epoch
        self.current = current


class RoutingError(SkRuntimeError):
    """The routing kernel was called with inconsistent arguments (a bug in
    the caller, never a property of the data)."""


class ConfigError(SkRuntimeError):
    """A configuration value is invalid.

    Attributes:
        setting: the setting's name (TOML key or environment variable).
    """

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class RequestError(SkRuntimeError):
    """A request cannot be applied.  The HTTP edge answers it as an RFC 9457
    ``application/problem+json`` document: ``type`` is ``urn:skruntime:problem:``
    followed by :attr:`slug` (stable, part of the API), ``status`` is
    :attr:`status`, ``detail`` is the message, and :meth:`extensions` adds
    fields specific to the problem.

    Nothing was changed by a request that raised one of these.
    """

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def type_uri(self) -> str:
        return f"urn:skruntime:problem:{self.slug}"

    def extensions(self) -> dict[str, object]:
        """Problem fields beyond type/title/status/detail."""
        return {}

    def to_problem(self) -> dict[str, object]:
        """The problem+json document."""
        doc: dict[str, object] = {"type": self.type_uri, "title": self.title, "status": self.status, "detail": self.detail}
        doc.update(self.extensions())
        return doc


class BadRequest(RequestError):
    """The request is malformed (not JSON, wrong types, unknown fields)."""

    status = 400
    slug = "bad-request"
    title = "Bad request"


class Unauthorized(RequestError):
    """No API key, or one the server does not know (or revoked)."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(RequestError):
    """The API key's scope does not allow this call."""

    status = 403
    slug = "forbidden"
    title = "Forbidden"


class NotFound(RequestError):
    """The actor, version, deployment or key does not exist.

    Attributes:
        kind: ``actor``, ``version``, ``deployment`` or ``key``.
        ident: the id that was looked up.
    """

    status = 404
    slug = "not-found"
    title = "Not found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} does not exist")
        self.kind = kind
        self.ident = ident

    def extensions(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.ident}


class Conflict(RequestError):
    """The request conflicts with the current state (e.g. an id in use)."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class EventNotHandled(Conflict):
    """The actor's current state does not handle the event; nothing was recorded.

    Attributes:
        accepted: the event types the current state accepts.
    """

    slug = "event-not-handled"
    title = "Event not handled"

    def __init__(self, actor_id: str, event_type: str, accepted: tuple[str, ...], state_value: object) -> None:
        super().__init__(f"actor {actor_id!r} does not handle {event_type!r} in its current state")
        self.actor_id = actor_id
        self.event_type = event_type
        self.accepted = accepted
        self.state_value = state_value

    def extensions(self) -> dict[str, object]:
        return {"actorId": self.actor_id, "eventType": self.event_type, "accepted": list(self.accepted), "stateValue": self.state_value}


class ActorDone(Conflict):
    """The actor reached a top-level final state and takes no more events."""

    slug = "actor-done"
    title = "Actor done"

    def __init__(self, actor_id: str) -> None:
        super().__init__(f"actor {actor_id!r} is done and takes no more events")
        self.actor_id = actor_id

    def extensions(self) -> dict[str, object]:
        return {"actorId": self.actor_id}


class ActorExists(Conflict):
    """An actor with this id already exists (spawn with another id)."""

    slug = "actor-exists"
    title = "Actor exists"


class EventLoop(Conflict):
    """The definition's eventless transitions loop forever on this event
    (:class:`InfiniteLoopError`); the event was rejected.  Deploy a fixed
    version (a rescue deploy) to move the actor on."""

    slug = "infinite-loop"
    title = "Infinite loop"


class ActorUnavailable(Conflict):
    """The actor is quarantined: one of its records failed to decrypt or
    decode at load.  Everything else keeps serving; see ``skruntime verify``."""

    slug = "actor-quarantined"
    title = "Actor quarantined"


class PreviewStale(Conflict):
    """A deploy carried a preview token that no longer matches its own
    evaluation; nothing was written.

    Attributes:
        counts: the new evaluation's counts.
    """

    slug = "preview-stale"
    title = "Preview stale"

    def __init__(self, detail: str, counts: dict[str, object]) -> None:
        super().__init__(detail)
        self.counts = counts

    def extensions(self) -> dict[str, object]:
        return {"counts": self.counts}


class RequestTimeout(RequestError):
    """The request body did not arrive within the server's time limit (the
    connection is closed after the answer)."""

    status = 408
    slug = "request-timeout"
    title = "Request timeout"


class PayloadTooLarge(RequestError):
    """The request body exceeds the configured limit."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class Unprocessable(RequestError):
    """Well-formed JSON that is not acceptable (a bad event type, a guard
    answer that is not a boolean, a reused idempotency key, ...).

    Attributes:
        pointer: JSON Pointer into the request body, when the problem is in
            the body.
        parameter: the query parameter or header at fault, when it is one of
            those.
    """

    status = 422
    slug = "validation"
    title = "Unprocessable request"

    def __init__(self, detail: str, pointer: str | None = None, *, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.pointer = pointer
        self.parameter = parameter

    def extensions(self) -> dict[str, object]:
        found: dict[str, object] = {}
        if self.pointer is not None:
            found["pointer"] = self.pointer
        if self.parameter is not None:
            found["parameter"] = self.parameter
        return found


class InvalidDefinition(Unprocessable):
    """A deployed definition is invalid; ``pointer`` points into it."""

    slug = "invalid-definition"
    title = "Invalid definition"


class ServiceUnavailable(RequestError):
    """The server is still recovering, or shutting down; retry later."""

    status = 503
    slug = "unavailable"
    title = "Service unavailable"
