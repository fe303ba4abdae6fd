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
    └── ConfigError              a configuration value is invalid

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
    "InfiniteLoopError",
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
    """A macrostep took more microsteps than allowed without coming to rest.

    This happens when eventless (``always``) transitions form a cycle whose
    guards all pass, e.g. ``a -> b -> a``.  XState itself would loop forever;
    skruntime stops after ``max_iterations`` microsteps and rejects the event.
    Fix the definition (guard one of the transitions) and deploy a new version.

    Attributes:
        event_type: the event whose macrostep did not terminate.
        max_iterations: the bound that was exceeded.
    """

    def __init__(self, event_type: str, max_iterations: int) -> None:
        super().__init__(
            f"processing {event_type!r} took more than {max_iterations} microsteps "
            "without reaching a stable state; eventless transitions probably form a cycle"
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
