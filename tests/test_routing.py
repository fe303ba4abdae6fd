"""The routing pass: the C kernel agrees with its pure twin, and candidates
are only ever confirmed by exact event types."""

import random
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skruntime import RoutingError, _routing
from skruntime._fingerprint import path_hash
from skruntime._native_loader import load_native
from skruntime._routing import MATCH, MISMATCH, OTHER, TOO_SHORT, Resident, prefix_hashes, route_pure

TYPES = ["SUBMIT_INFO", "PAY_FEE", "WAIVE_FEE", "APPROVE", "X"]

histories = st.lists(st.lists(st.sampled_from(TYPES), max_size=8), max_size=60)
paths = st.lists(st.sampled_from(TYPES), min_size=1, max_size=6)


def build(hist, versions, depth=16):
    r = Resident(depth)
    for i, h in enumerate(hist):
        r.update(f"a{i}", versions[i], [(t,) for t in h], len(h), False)
    return r


def expected_verdict(history, path, on_version):
    if not on_version:
        return OTHER
    n, k = len(history), len(path)
    if n >= k:
        return MATCH if history[:k] == path else MISMATCH
    return TOO_SHORT if history == path[:n] else MISMATCH


@settings(max_examples=400, deadline=None)
@given(histories, paths, st.randoms(use_true_random=False))
def test_native_equals_pure_equals_definition(hist, path, rnd):
    versions = [rnd.choice([1, 2]) for _ in hist]
    r = build(hist, versions)
    pure = r.route(1, path, pure=True)
    native = r.route(1, path)
    assert native == pure
    assert list(pure) == [expected_verdict(h, path, v == 1) for h, v in zip(hist, versions)]


def test_native_kernel_is_in_use():
    if load_native() is not None:
        assert _routing.route is not route_pure


def test_forced_collision_is_only_a_candidate():
    # Make an actor's resident hash at depth 2 equal hash(P) although its
    # types differ: the pass reports a candidate, the exact comparison in
    # evaluate_shard must then reject it (tested in tests/runtime).  Here:
    # the kernel and the twin both report the forced candidate.
    r = build([["SUBMIT_INFO", "WAIVE_FEE"], ["SUBMIT_INFO", "PAY_FEE"]], [1, 1])
    path = ["SUBMIT_INFO", "PAY_FEE"]
    r.columns[1][0] = path_hash(path)  # collision injected
    assert r.route(1, path) == r.route(1, path, pure=True) == bytes([MATCH, MATCH])


def test_prefix_hashes():
    assert prefix_hashes(["A", "B"]) == [path_hash([]), path_hash(["A"]), path_hash(["A", "B"])]


def test_shard_without_deep_columns_still_detects_too_short():
    r = build([["SUBMIT_INFO"], []], [1, 1])
    assert len(r.columns) == 1
    assert r.route(1, ["SUBMIT_INFO", "PAY_FEE"]) == bytes([TOO_SHORT, TOO_SHORT])


def test_history_beyond_resident_depth():
    r = build([["A"] * 10], [1], depth=4)
    assert len(r.columns) == 4 and r.lengths[0] == 10
    assert r.route(1, ["A"] * 4) == bytes([MATCH])
    with pytest.raises(RoutingError):
        r.route(1, ["A"] * 5)


def test_large_random_shard_agrees():
    rnd = random.Random(7)
    hist = [[rnd.choice(TYPES) for _ in range(rnd.randint(0, 12))] for _ in range(20000)]
    r = build(hist, [rnd.choice([0, 1, 2]) for _ in hist])
    for path in (["SUBMIT_INFO"], ["SUBMIT_INFO", "PAY_FEE"], ["X"] * 7):
        assert r.route(2, path) == r.route(2, path, pure=True)


def test_route_pure_direct_arrays():
    cols = [array("Q", [5, 6])]
    out = route_pure(cols, array("I", [1, 1]), array("H", [1, 1]), 1, 1, [0, 5])
    assert out == bytes([MATCH, MISMATCH])


def test_deferred_rows_fill_to_what_updates_give():
    histories = {
        f"a{i}": [(t, ()) for t in (["SUBMIT_INFO", "PAY_FEE", "APPROVE"] if i % 2 else ["SUBMIT_INFO", "WAIVE_FEE"])][: i % 4]
        for i in range(40)
    }
    eager, lazy = Resident(8), Resident(8)
    for actor_id, history in histories.items():
        eager.update(actor_id, 1, history, len(history), False)
        lazy.defer(actor_id, 1, history, len(history), False)
    assert lazy.deferred == 40 and lazy.actor_ids == eager.actor_ids  # slots in the same order
    # an actor that moves on before its row is filled: the newer history wins
    longer = [*histories["a3"], ("APPROVE", ())]
    eager.update("a3", 2, longer, len(longer), False)
    lazy.update("a3", 2, longer, len(longer), False)
    assert lazy.sync_some(10) == 29  # a3 was taken off by its update
    assert lazy.deferred == 29
    for path in (["SUBMIT_INFO"], ["SUBMIT_INFO", "PAY_FEE"], ["SUBMIT_INFO", "WAIVE_FEE"]):
        assert lazy.route(1, path) == eager.route(1, path)  # routing fills the rest first
    assert lazy.deferred == 0
    assert (lazy.lengths, lazy.versions, lazy.columns) == (eager.lengths, eager.versions, eager.columns)


@given(st.lists(st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s and len(s.encode()) <= 255), unique=True, max_size=80))
@settings(max_examples=200, deadline=None)
def test_key_order_is_the_stores_key_order_whatever_order_actors_arrive_in(ids):
    """Deployments decide, digest and write pages in the store's key order
    (shorter UTF-8 first, then bytes); the resident keeps that order as
    slots are added, in any order (spawns) or already sorted (recovery)."""
    def key(actor_id):
        return len(actor_id.encode()), actor_id.encode()

    for arrival in (ids, sorted(ids, key=key)):
        r = Resident(4)
        for actor_id in arrival:
            r.slot(actor_id)
        assert [r.actor_ids[slot] for slot in r.key_order()] == sorted(ids, key=key)


def test_a_move_changes_only_the_version_and_done_flag_even_of_a_deferred_row():
    r = Resident(4)
    r.update("a", 1, [("X",), ("Y",)], 2, False)
    r.defer("b", 1, [("X",)], 1, False)
    before = [list(column) for column in r._columns]
    r.moved_to("a", 2, True)
    r.moved_to("b", 2, False)
    assert list(r.versions) == [2, 2]  # b's deferred fill keeps the new version
    assert (r.done[0], r.done[1]) == (1, 0)
    assert [list(column)[:1] for column in r.columns] == [column[:1] for column in before]
