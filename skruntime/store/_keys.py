"""The key layout of every table, and the actor-to-shard function.

Keys are byte strings compared lexicographically (LMDB's default order, and
the order the memory store reproduces).  The layout is part of the on-disk
format (``docs/STORAGE.md``): changing it needs a new format version and an
upgrade step in ``_lmdb.py``.

Building blocks::

    shard    2 bytes, big-endian shard number
    actor    1 byte length n (1..255) + n bytes of the actor id in UTF-8
    u64      8 bytes, big-endian (event seq, trace chunk number, deployment ordinal)

Shard-owned tables (written through a ``ShardBatch``), with their key parts::

    actors                (actor_id,)             shard + actor
    events                (actor_id, seq)         shard + actor + u64 seq (of the record's last event)
    traces                (actor_id, chunk)       shard + actor + u64 chunk number
    decisions             (actor_id, ordinal)     shard + actor + u64 ordinal
    deployment_decisions  (ordinal, actor_id)     u64 ordinal + shard + actor
    cursors               (ordinal,)              shard + u64 ordinal
    timers                (actor_id, timer_id)    shard + actor + timer id UTF-8
    idempotency           (actor_id, key)         shard + actor + sha256(key)[:16]

Because the actor part is length-prefixed, ``shard + actor`` is a prefix of
exactly that actor's records: an actor's history and decisions are range
scans in seq / ordinal order, and a shard's records are one range scan.

Metadata tables (written through a ``MetaBatch``)::

    versions     (version_id,)   version id UTF-8
    deployments  (ordinal,)      u64 ordinal
    api_keys     (key_hash,)     the hash bytes (1..64)
    meta         (name,)         b"app:" + name UTF-8

The ``meta`` database also holds the store's own records under ``b"skr:"``
(format, shard count, keyring, per-shard epochs); they are not reachable
through the metadata table API.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "ACTOR_TABLES",
    "ALL_DATABASES",
    "META_TABLES",
    "SHARD_TABLES",
    "MetaTable",
    "ShardTable",
    "actor_of_key",
    "actor_prefix",
    "decode_meta_key",
    "deployment_shard_prefix",
    "decode_shard_key",
    "encode_meta_key",
    "encode_shard_key",
    "epoch_key",
    "idempotency_digest",
    "shard_of",
]

ShardTable: TypeAlias = Literal[
    "actors", "events", "traces", "decisions", "deployment_decisions", "cursors", "timers", "idempotency"
]
MetaTable: TypeAlias = Literal["versions", "deployments", "api_keys", "meta"]

SHARD_TABLES: Final = frozenset(
    {"actors", "events", "traces", "decisions", "deployment_decisions", "cursors", "timers", "idempotency"}
)
META_TABLES: Final = frozenset({"versions", "deployments", "api_keys", "meta"})
# Tables whose keys start with shard + actor (everything an actor owns).
ACTOR_TABLES: Final = frozenset({"actors", "events", "traces", "decisions", "timers", "idempotency"})
# Every LMDB database, in the order ``verify`` reports them.
ALL_DATABASES: Final = (
    "meta",
    "versions",
    "deployments",
    "api_keys",
    "actors",
    "events",
    "traces",
    "decisions",
    "deployment_decisions",
    "cursors",
    "timers",
    "idempotency",
)

MAX_ACTOR_ID_BYTES: Final = 255
MAX_TIMER_ID_BYTES: Final = 200
MAX_NAME_BYTES: Final = 400  # version ids and meta names (LMDB keys stop at 511 bytes)
MAX_KEY_HASH_BYTES: Final = 64
IDEMPOTENCY_DIGEST_BYTES: Final = 16
META_APP_PREFIX: Final = b"app:"
META_STORE_PREFIX: Final = b"skr:"

_SHARD = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_U64_MAX: Final = (1 << 64) - 1
_SHARD_PERSON: Final = b"skr.shard.v1"


def shard_of(actor_id: str, shard_count: int) -> int:
    """The logical shard that owns ``actor_id``; stable forever.

    ``blake2b(utf8(actor_id), digest_size=8, person=b"skr.shard.v1")`` read as
    a big-endian unsigned integer, modulo ``shard_count``.  The value is part
    of the on-disk format (keys carry the shard), so this function can never
    change; the tests pin vectors.

    Args:
        actor_id: the actor's id.
        shard_count: the store's fixed number of shards (1..65536).

    Returns:
        A shard number in ``range(shard_count)``.
    """
    digest = hashlib.blake2b(actor_id.encode("utf-8"), digest_size=8, person=_SHARD_PERSON).digest()
    return int.from_bytes(digest, "big") % shard_count


def idempotency_digest(key: str) -> bytes:
    """The 16-byte digest under which an idempotency key is stored.

    Idempotency keys arrive in HTTP headers and can be long; the store keeps
    ``sha256(utf8(key))[:16]`` in the record key instead.  ``load()`` reports
    entries by this digest, and a ``delete`` accepts it in place of the key.
    """
    return hashlib.sha256(key.encode("utf-8")).digest()[:IDEMPOTENCY_DIGEST_BYTES]


def actor_prefix(shard: int, actor_id: str) -> bytes:
    """``shard + actor``: the key prefix of every record the actor owns."""
    if not isinstance(actor_id, str):
        raise TypeError(f"actor id must be a str, not {type(actor_id).__name__}")
    raw = actor_id.encode("utf-8")
    if not 1 <= len(raw) <= MAX_ACTOR_ID_BYTES:
        raise ValueError(f"actor id must be 1..{MAX_ACTOR_ID_BYTES} bytes of UTF-8, got {len(raw)}")
    return _SHARD.pack(shard) + bytes((len(raw),)) + raw


def deployment_shard_prefix(ordinal: int, shard: int) -> bytes:
    """``u64 ordinal + shard``: the key prefix of one shard's
    ``deployment_decisions`` records of one deployment."""
    return _u64("deployment ordinal", ordinal) + _SHARD.pack(shard)


@functools.lru_cache(maxsize=None)
def epoch_key(shard: int) -> bytes:
    """The ``meta`` key of a shard's epoch record (8-byte big-endian value)."""
    return META_STORE_PREFIX + b"epoch:" + _SHARD.pack(shard)


def _u64(name: str, value: object) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{name} must be in 0..2**64-1, got {value}")
    return _U64.pack(value)


def _parts(table: str, key_parts: object, n: int) -> tuple[Any, ...]:
    parts = key_parts if isinstance(key_parts, tuple) else (key_parts,)
    if len(parts) != n:
        raise ValueError(f"table {table!r} takes {n} key part(s), got {len(parts)}: {parts!r}")
    return parts


def encode_shard_key(table: str, shard: int, key_parts: object, shard_count: int) -> tuple[bytes, str | None]:
    """The physical key of a shard-owned record.

    Args:
        table: one of ``SHARD_TABLES``.
        shard: the shard the record belongs to.
        key_parts: the table's key parts (see the module docstring); a
            single part may be given bare instead of as a 1-tuple.
        shard_count: the store's shard count, to check that an actor belongs
            to ``shard``.

    Returns:
        ``(key, actor_id)``; ``actor_id`` is ``None`` for ``cursors``.

    Raises:
        ValueError: unknown table, wrong number or range of key parts, or an
            actor that does not belong to ``shard``.
        TypeError: a key part of the wrong type.
    """
    # The two writes of every event first, checked as fully as below but
    # without the general path's steps (this runs once per record).
    if table == "events" and type(key_parts) is tuple and len(key_parts) == 2:
        actor_id, number = key_parts
        if type(actor_id) is str and type(number) is int and 0 <= number <= _U64_MAX:
            owner, prefix = _placement(actor_id, shard_count)
            if owner == shard:
                return prefix + _U64.pack(number), actor_id
    elif table == "actors" and type(key_parts) is str:
        owner, prefix = _placement(key_parts, shard_count)
        if owner == shard:
            return prefix, key_parts
    if table == "actors":
        (actor_id,) = _parts(table, key_parts, 1)
        return _owned(shard, actor_id, shard_count), actor_id
    if table == "events" or table == "decisions" or table == "traces":
        actor_id, number = _parts(table, key_parts, 2)
        what = {"events": "seq", "decisions": "deployment ordinal", "traces": "chunk number"}[table]
        return _owned(shard, actor_id, shard_count) + _u64(what, number), actor_id
    if table == "deployment_decisions":
        ordinal, actor_id = _parts(table, key_parts, 2)
        return _u64("deployment ordinal", ordinal) + _owned(shard, actor_id, shard_count), actor_id
    if table == "cursors":
        (ordinal,) = _parts(table, key_parts, 1)
        return _SHARD.pack(shard) + _u64("deployment ordinal", ordinal), None
    if table == "timers":
        actor_id, timer_id = _parts(table, key_parts, 2)
        if not isinstance(timer_id, str):
            raise TypeError(f"timer id must be a str, not {type(timer_id).__name__}")
        raw = timer_id.encode("utf-8")
        if not 1 <= len(raw) <= MAX_TIMER_ID_BYTES:
            raise ValueError(f"timer id must be 1..{MAX_TIMER_ID_BYTES} bytes of UTF-8, got {len(raw)}")
        return _owned(shard, actor_id, shard_count) + raw, actor_id
    if table == "idempotency":
        actor_id, key = _parts(table, key_parts, 2)
        if isinstance(key, str):
            digest = idempotency_digest(key)
        elif isinstance(key, bytes) and len(key) == IDEMPOTENCY_DIGEST_BYTES:
            digest = key
        else:
            raise TypeError("idempotency key must be a str, or the 16-byte digest reported by load()")
        return _owned(shard, actor_id, shard_count) + digest, actor_id
    raise ValueError(f"{table!r} is not a shard table (one of {sorted(SHARD_TABLES)})")


def _owned(shard: int, actor_id: object, shard_count: int) -> bytes:
    if not isinstance(actor_id, str):
        raise TypeError(f"actor id must be a str, not {type(actor_id).__name__}")
    owner, prefix = _placement(actor_id, shard_count)
    if owner != shard:
        raise ValueError(f"actor {actor_id!r} belongs to shard {owner}, not {shard}")
    return prefix


@functools.lru_cache(maxsize=1 << 16)
def _placement(actor_id: str, shard_count: int) -> tuple[int, bytes]:
    """``(shard, actor prefix)``, memoised: every write computes it, and a
    process sees the same actors again and again."""
    shard = shard_of(actor_id, shard_count)
    return shard, actor_prefix(shard, actor_id)


def _split_actor(key: bytes, offset: int) -> tuple[str, int]:
    """Read a length-prefixed actor id at ``offset``; return it and the end."""
    if len(key) <= offset:
        raise ValueError("key ends before the actor id")
    n = key[offset]
    end = offset + 1 + n
    if n == 0 or len(key) < end:
        raise ValueError("bad actor id length")
    return key[offset + 1 : end].decode("utf-8"), end


def decode_shard_key(table: str, key: bytes) -> tuple[int, tuple[Any, ...]]:
    """Inverse of :func:`encode_shard_key`: ``(shard, key_parts)``.

    Idempotency keys come back as their 16-byte digest.

    Raises:
        ValueError: the key does not have the table's layout.
    """
    try:
        if table == "deployment_decisions":
            if len(key) < 11:
                raise ValueError("key too short")
            ordinal = _U64.unpack_from(key, 0)[0]
            shard = _SHARD.unpack_from(key, 8)[0]
            actor_id, end = _split_actor(key, 10)
            if end != len(key):
                raise ValueError("trailing bytes")
            return shard, (ordinal, actor_id)
        if len(key) < 2:
            raise ValueError("key too short")
        shard = _SHARD.unpack_from(key, 0)[0]
        if table == "cursors":
            if len(key) != 10:
                raise ValueError("cursor keys are 10 bytes")
            return shard, (_U64.unpack_from(key, 2)[0],)
        actor_id, end = _split_actor(key, 2)
        rest = key[end:]
        if table == "actors":
            if rest:
                raise ValueError("trailing bytes")
            return shard, (actor_id,)
        if table in ("events", "decisions", "traces"):
            if len(rest) != 8:
                raise ValueError("expected an 8-byte suffix")
            return shard, (actor_id, _U64.unpack(rest)[0])
        if table == "timers":
            if not rest:
                raise ValueError("missing timer id")
            return shard, (actor_id, rest.decode("utf-8"))
        if table == "idempotency":
            if len(rest) != IDEMPOTENCY_DIGEST_BYTES:
                raise ValueError("expected a 16-byte digest")
            return shard, (actor_id, bytes(rest))
    except UnicodeDecodeError as exc:
        raise ValueError(f"key is not valid UTF-8: {exc}") from exc
    raise ValueError(f"{table!r} is not a shard table")


def actor_of_key(database: str, key: bytes) -> str | None:
    """The actor a physical key belongs to, or ``None`` (for reports)."""
    if database not in ACTOR_TABLES and database != "deployment_decisions":
        return None
    try:
        _, parts = decode_shard_key(database, key)
    except ValueError:
        return None
    actor_id = parts[1] if database == "deployment_decisions" else parts[0]
    return actor_id if isinstance(actor_id, str) else None


def encode_meta_key(table: str, key_parts: object) -> bytes:
    """The physical key of a metadata record.

    Raises:
        ValueError: unknown table, or a key part out of range.
        TypeError: a key part of the wrong type.
    """
    if table == "deployments":
        (ordinal,) = _parts(table, key_parts, 1)
        return _u64("deployment ordinal", ordinal)
    if table == "api_keys":
        (key_hash,) = _parts(table, key_parts, 1)
        if not isinstance(key_hash, bytes):
            raise TypeError(f"api key hash must be bytes, not {type(key_hash).__name__}")
        if not 1 <= len(key_hash) <= MAX_KEY_HASH_BYTES:
            raise ValueError(f"api key hash must be 1..{MAX_KEY_HASH_BYTES} bytes")
        return key_hash
    if table == "versions" or table == "meta":
        (name,) = _parts(table, key_parts, 1)
        if not isinstance(name, str):
            raise TypeError(f"{table} key must be a str, not {type(name).__name__}")
        raw = name.encode("utf-8")
        if not 1 <= len(raw) <= MAX_NAME_BYTES:
            raise ValueError(f"{table} key must be 1..{MAX_NAME_BYTES} bytes of UTF-8, got {len(raw)}")
        return META_APP_PREFIX + raw if table == "meta" else raw
    raise ValueError(f"{table!r} is not a metadata table (one of {sorted(META_TABLES)})")


def decode_meta_key(table: str, key: bytes) -> str | int | bytes:
    """Inverse of :func:`encode_meta_key` (the single key part).

    Raises:
        ValueError: the key does not have the table's layout.
    """
    if table == "deployments":
        if len(key) != 8:
            raise ValueError("deployment keys are 8 bytes")
        return int(_U64.unpack(key)[0])
    if table == "api_keys":
        return bytes(key)
    try:
        if table == "versions":
            return key.decode("utf-8")
        if table == "meta":
            if not key.startswith(META_APP_PREFIX):
                raise ValueError("not an application meta key")
            return key[len(META_APP_PREFIX) :].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"key is not valid UTF-8: {exc}") from exc
    raise ValueError(f"{table!r} is not a metadata table")
