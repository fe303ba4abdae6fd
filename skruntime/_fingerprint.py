"""Event-history fingerprints (SPEC section 4).

A fingerprint is a rolling FNV-1a 64-bit hash over the types of the events an
actor has handled: ``h0 = 0xcbf29ce484222325`` and each handled type ``t``
continues the hash over ``utf8(t)`` followed by the separator byte ``0x1f``.
An actor keeps its chain ``h1..hn``; a migration's ``historyPath`` of length
``k`` is hashed the same way and compared with ``h_k``.

``extend`` is on the per-event hot path, so it memoises ``(h, type) -> h'``
(actors share a handful of paths, so the memo hits almost always) and computes
misses in C when the native kernel is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ._native_loader import load_native

__all__ = [
    "FNV_OFFSET",
    "FNV_PRIME",
    "chain",
    "extend",
    "extend_pure",
    "path_hash",
    "to_hex",
]

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
SEPARATOR = 0x1F
_MASK = 0xFFFFFFFFFFFFFFFF
_MEMO_LIMIT = 1 << 16


def extend_pure(h: int, event_type: str) -> int:
    """Continue hash ``h`` over one event type (pure Python reference)."""
    for byte in event_type.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & _MASK
    return ((h ^ SEPARATOR) * FNV_PRIME) & _MASK


def _make_extend_native() -> Callable[[int, str], int] | None:
    native = load_native()
    if native is None:
        return None
    lib = native.lib

    def extend_native(h: int, event_type: str) -> int:
        data = event_type.encode("utf-8")
        return int(lib.skr_fnv_extend(h, data, len(data)))

    return extend_native


_compute: Callable[[int, str], int] = _make_extend_native() or extend_pure
_memo: dict[tuple[int, str], int] = {}


def extend(h: int, event_type: str) -> int:
    """Continue hash ``h`` over one event type, memoised.

    Args:
        h: the previous chain value (``FNV_OFFSET`` for an empty history).
        event_type: the handled event's type.

    Returns:
        The next chain value, an unsigned 64-bit integer.
    """
    key = (h, event_type)
    try:
        return _memo[key]
    except KeyError:
        pass
    value: int = _compute(h, event_type)
    if len(_memo) >= _MEMO_LIMIT:
        _memo.clear()
    _memo[key] = value
    return value


def _make_chain_native() -> Callable[[int, list[str]], list[int]] | None:
    native = load_native()
    if native is None:
        return None
    ffi, lib = native.ffi, native.lib

    def chain_native(h: int, event_types: list[str]) -> list[int]:
        data = [event_type.encode("utf-8") for event_type in event_types]
        out = ffi.new("uint64_t[]", len(data))
        lib.skr_fnv_chain(h, b"".join(data), list(map(len, data)), len(data), out)
        return list(out)

    return chain_native


_chain_native = _make_chain_native()
_CHAIN_IN_C = 4  # from this many events on, one C call (a turn usually adds fewer; 32 measured no better)


def chain(event_types: Iterable[str], h: int = FNV_OFFSET) -> list[int]:
    """The chain ``h1..hn`` of a history, one value per event, continuing
    from ``h``.  Long chains (recovery fills whole histories) are computed
    in one C call when the kernel is built; short ones hit ``extend``'s memo."""
    types = event_types if isinstance(event_types, list) else list(event_types)
    if _chain_native is not None and len(types) >= _CHAIN_IN_C:
        return _chain_native(h, types)
    out: list[int] = []
    for event_type in types:
        h = extend(h, event_type)
        out.append(h)
    return out


def path_hash(event_types: Iterable[str]) -> int:
    """The hash of a path (``hash(P)`` in SPEC section 4); ``FNV_OFFSET`` if empty."""
    h = FNV_OFFSET
    for event_type in event_types:
        h = extend(h, event_type)
    return h


def to_hex(h: int) -> str:
    """The 16-digit lowercase hex form used on the wire and in the audit."""
    return f"{h:016x}"
