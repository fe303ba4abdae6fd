"""Resident fingerprints and the routing pass (SPEC sections 4 and 5).

Each shard keeps its actors' fingerprint chains in a :class:`Resident`: one
contiguous ``uint64`` column per history depth (``columns[d][slot]`` is
``h_{d+1}`` of the actor in ``slot``), a ``uint32`` length column and a
``uint16`` version-code column.  A deployment's pass for a path of length
``k`` then reads column ``k-1`` front to back: one sequential scan, no Python
object touched.

:func:`route` runs the pass in C (``native/route.c``) when the kernel is
built, else in the pure-Python twin :func:`route_pure`; both give identical
verdicts (the test suite runs both).  ``SKRUNTIME_FORCE_PURE=1`` forces the
twin.  Verdicts are only a filter: the caller confirms every candidate by
comparing event types, which rules out hash collisions.
"""

from __future__ import annotations

import bisect
import functools

from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ._exceptions import RoutingError
from ._fingerprint import FNV_OFFSET, chain, extend
from ._native_loader import load_native

__all__ = ["MATCH", "MISMATCH", "OTHER", "TOO_SHORT", "Resident", "prefix_hashes", "route", "route_pure"]

MISMATCH = 0  # on the version, neither matching nor a proper prefix
MATCH = 1  # history has >= k events and h_k equals hash(P)
TOO_SHORT = 2  # history has n < k events and h_n equals hash(P[:n])
OTHER = 3  # on another version (or a free slot)

FREE = 0xFFFF  # version code of a free slot


def prefix_hashes(path: Sequence[str]) -> list[int]:
    """``[hash(P[:0]), hash(P[:1]), ..., hash(P)]`` (a fresh list)."""
    return list(_prefix_hashes(tuple(path)))


@functools.lru_cache(maxsize=256)
def _prefix_hashes(path: tuple[str, ...]) -> tuple[int, ...]:
    # a deployment asks once per shard for the same path
    out = [FNV_OFFSET]
    for event_type in path:
        out.append(extend(out[-1], event_type))
    return tuple(out)


class Resident:
    """One shard's fingerprint columns.

    Rows are kept up to date as turns land (:meth:`update`).  At start-up,
    recovery only notes each loaded actor (:meth:`defer`): the columns are
    filled afterwards, a slice at a time, by a background task
    (:meth:`sync_some`), and at the latest by the first reader (:meth:`route`
    and the column attributes run :meth:`sync`), so a large store starts
    serving sooner.

    Args:
        max_depth: columns kept (the longest routable historyPath); chains
            beyond it are not resident (they are never needed to route).
    """

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.slots: dict[str, int] = {}  # actor id -> slot
        self.actor_ids: list[str] = []  # slot -> actor id
        self._lengths = array("I")
        self._versions = array("H")
        self.done = bytearray()  # slot -> 1 if the actor is done (deployments decide those without touching them)
        self._columns: list[array[int]] = []
        # actor id -> (version code, history, length) noted by defer(), not yet in the columns
        self._deferred: dict[str, tuple[int, Sequence[Sequence[Any]], int]] = {}
        self._key_order = array("I")  # 4 bytes a slot (a list would hold an int object per slot)

    def __len__(self) -> int:
        return len(self.actor_ids)

    @property
    def lengths(self) -> array[int]:
        self.sync()
        return self._lengths

    @property
    def versions(self) -> array[int]:
        self.sync()
        return self._versions

    @property
    def columns(self) -> list[array[int]]:
        self.sync()
        return self._columns

    @property
    def deferred(self) -> int:
        """Rows noted by :meth:`defer` and not filled yet."""
        return len(self._deferred)

    def key_order(self) -> array[int]:
        """Every slot, ordered by the store's key order of its actor id
        (shorter UTF-8 first, then by bytes): the order deployments decide,
        digest and write their pages in.  Kept up to date as slots are
        added (recovery adds them in that order already)."""
        return self._key_order

    def slot(self, actor_id: str) -> int:
        """The actor's slot, allocating one (every column grows by one) if new."""
        found = self.slots.get(actor_id)
        if found is not None:
            return found
        slot = len(self.actor_ids)
        self.slots[actor_id] = slot
        self.actor_ids.append(actor_id)
        order = self._key_order
        if order and _store_key(actor_id) < _store_key(self.actor_ids[order[-1]]):
            bisect.insort(order, slot, key=self._slot_key)
        else:
            order.append(slot)
        self._lengths.append(0)
        self._versions.append(FREE)
        self.done.append(0)
        for column in self._columns:
            column.append(0)
        return slot

    def _slot_key(self, slot: int) -> tuple[int, bytes]:
        return _store_key(self.actor_ids[slot])

    def defer(self, actor_id: str, version_code: int, history: Sequence[Sequence[Any]], length: int, done: bool) -> None:
        """Like :meth:`update`, but fill the fingerprint columns later (a
        slot is allocated now, so slots keep the order actors were added
        in).  ``history``'s first ``length`` entries must not change
        meanwhile (an actor's committed history only grows)."""
        self.done[self.slot(actor_id)] = done
        self._deferred[actor_id] = (version_code, history, length)

    def sync(self) -> None:
        """Fill every deferred row."""
        if self._deferred:
            self.sync_some(len(self._deferred))

    def sync_some(self, limit: int) -> int:
        """Fill up to ``limit`` deferred rows; returns how many are left."""
        deferred = self._deferred
        for _ in range(min(limit, len(deferred))):
            actor_id, (version_code, history, length) = deferred.popitem()
            self._fill(actor_id, self.slots[actor_id], version_code, history, length)
        return len(deferred)

    def update(self, actor_id: str, version_code: int, history: Sequence[Sequence[Any]], length: int, done: bool) -> None:
        """Bring the actor's row up to date.

        ``history`` holds the actor's events (each entry's first item is the
        event type) at least up to ``length``; ``done``: whether the actor
        is in a final state."""
        slot = self.slots.get(actor_id)
        if slot is None:
            slot = self.slot(actor_id)
        elif self._deferred:
            self._deferred.pop(actor_id, None)  # superseded: filled from this newer history
        self.done[slot] = done
        self._fill(actor_id, slot, version_code, history, length)

    def moved_to(self, actor_id: str, version_code: int, done: bool) -> None:
        """The actor (which has a row) moved to another version, with the
        same history."""
        slot = self.slots[actor_id]
        deferred = self._deferred.get(actor_id)
        if deferred is not None:  # filled later: with the new version
            self._deferred[actor_id] = (version_code, deferred[1], deferred[2])
        self._versions[slot] = version_code
        self.done[slot] = done

    def _fill(self, actor_id: str, slot: int, version_code: int, history: Sequence[Sequence[Any]], length: int) -> None:
        known = self._lengths[slot]
        if length < known:
            raise RoutingError(f"history of {actor_id!r} cannot shrink ({known} -> {length})")
        self._versions[slot] = version_code
        depth_limit = min(length, self.max_depth)
        if known < depth_limit:
            columns = self._columns
            h = columns[known - 1][slot] if known else FNV_OFFSET
            while len(columns) < depth_limit:
                columns.append(array("Q", bytes(8 * len(self.actor_ids))))
            values = chain([history[depth][0] for depth in range(known, depth_limit)], h)
            for depth, value in enumerate(values, known):
                columns[depth][slot] = value
        self._lengths[slot] = length

    def route(self, version_code: int, path: Sequence[str], *, pure: bool = False) -> bytes:
        """Verdicts (one byte per slot) for actors on ``version_code`` against
        ``path`` (1 <= len(path) <= max_depth)."""
        if not 1 <= len(path) <= self.max_depth:
            raise RoutingError(f"a path of {len(path)} events cannot be routed (1..{self.max_depth})")
        self.sync()
        prefix = prefix_hashes(path)
        fn = route_pure if pure else route
        return fn(self._columns, self._lengths, self._versions, version_code, len(path), prefix)


def _store_key(actor_id: str) -> tuple[int, bytes]:
    """Where an actor id sorts among keys: length-prefixed UTF-8."""
    raw = actor_id.encode()
    return len(raw), raw


def route_pure(
    columns: Sequence[array[int]],
    lengths: array[int],
    versions: array[int],
    version: int,
    k: int,
    prefix: Sequence[int],
) -> bytes:
    """The routing pass in pure Python (the reference for ``native/route.c``)."""
    out = bytearray(len(lengths))
    if k == 0:
        for i, v in enumerate(versions):
            out[i] = MISMATCH if v == version else OTHER
        return bytes(out)
    column_k = columns[k - 1] if k <= len(columns) else None
    target = prefix[k]
    for i, n in enumerate(lengths):
        if versions[i] != version:
            out[i] = OTHER
        elif n >= k:
            out[i] = MATCH if column_k is not None and column_k[i] == target else MISMATCH
        else:
            h = columns[n - 1][i] if n else FNV_OFFSET
            out[i] = TOO_SHORT if h == prefix[n] else MISMATCH
    return bytes(out)


RouteFn = Callable[[Sequence["array[int]"], "array[int]", "array[int]", int, int, Sequence[int]], bytes]


def _make_native_route() -> RouteFn | None:
    native = load_native()
    if native is None:
        return None
    ffi, lib = native.ffi, native.lib

    def route_native(
        columns: Sequence[array[int]],
        lengths: array[int],
        versions: array[int],
        version: int,
        k: int,
        prefix: Sequence[int],
    ) -> bytes:
        n = len(lengths)
        out = bytearray(n)
        if n == 0:
            return bytes(out)
        keep = [ffi.from_buffer("uint64_t[]", c) for c in columns]  # alive for the call
        column_ptrs = ffi.new("uint64_t *[]", keep or 1)
        prefix_buf = ffi.new("uint64_t[]", list(prefix))
        lib.skr_route(
            column_ptrs,
            len(columns),
            ffi.from_buffer("uint32_t[]", lengths),
            ffi.from_buffer("uint16_t[]", versions),
            n,
            version,
            k,
            prefix_buf,
            ffi.from_buffer("uint8_t[]", out),
        )
        return bytes(out)

    return route_native


route: RouteFn = _make_native_route() or route_pure
