"""The key layout and the actor-to-shard function (skruntime/store/_keys.py)."""

from __future__ import annotations

import random

import pytest

from skruntime.store import idempotency_digest, shard_of
from skruntime.store._keys import (
    actor_of_key,
    actor_prefix,
    decode_meta_key,
    decode_shard_key,
    encode_meta_key,
    encode_shard_key,
)

# shard_of is part of the on-disk format: these values can never change.
SHARD_VECTORS = [
    # actor id, blake2b-64 (person "skr.shard.v1") hex, mod 256, mod 7, mod 65536
    ("alice", "629b874d9a6a3edf", 223, 2, 16095),
    ("bob", "a3420547960ee425", 37, 4, 58405),
    ("loan-000001", "4a433ef7fa58fc0b", 11, 1, 64523),
    ("ünïcødé-ätor", "14f762b57fffd085", 133, 0, 53381),
    ("x" * 255, "b85837867d110703", 3, 1, 1795),
]


@pytest.mark.parametrize(("actor", "digest", "m256", "m7", "m65536"), SHARD_VECTORS)
def test_shard_of_is_pinned(actor, digest, m256, m7, m65536):
    assert shard_of(actor, 256) == m256 == int(digest, 16) % 256
    assert shard_of(actor, 7) == m7
    assert shard_of(actor, 65536) == m65536
    assert shard_of(actor, 1) == 0


def test_shard_of_spreads_sequential_ids():
    counts = [0] * 16
    for i in range(16_000):
        counts[shard_of(f"order-{i}", 16)] += 1
    assert min(counts) > 850 and max(counts) < 1150


def test_idempotency_digest_is_pinned():
    assert idempotency_digest("req-1").hex() == "9456bdfa12ea76959c94a3572f5d91c7"  # sha256(...)[:16]
    assert idempotency_digest("req-1") == idempotency_digest("req-1") != idempotency_digest("req-2")


def _owned(table: str, parts: tuple, n: int = 8) -> tuple[int, tuple[bytes, str | None]]:  # type: ignore[type-arg]
    actor = parts[1] if table == "deployment_decisions" else parts[0]
    shard = shard_of(actor, n) if isinstance(actor, str) else 3
    return shard, encode_shard_key(table, shard, parts, n)


@pytest.mark.parametrize(
    ("table", "parts"),
    [
        ("actors", ("alice",)),
        ("events", ("alice", 17)),
        ("decisions", ("alice", 2**64 - 1)),
        ("deployment_decisions", (5, "alice")),
        ("cursors", (9,)),
        ("timers", ("alice", "xstate.after.1000.loan.review")),
        ("idempotency", ("alice", idempotency_digest("k"))),
    ],
)
def test_shard_keys_round_trip(table, parts):
    shard, (key, actor) = _owned(table, parts)
    assert decode_shard_key(table, key) == (shard, parts)
    assert actor_of_key(table, key) == actor
    if table != "deployment_decisions":
        assert key[:2] == shard.to_bytes(2, "big")  # every shard-owned record starts with its shard


def test_idempotency_keys_are_hashed():
    shard = shard_of("alice", 8)
    by_key, _ = encode_shard_key("idempotency", shard, ("alice", "my-request-123"), 8)
    by_digest, _ = encode_shard_key("idempotency", shard, ("alice", idempotency_digest("my-request-123")), 8)
    assert by_key == by_digest
    assert b"my-request-123" not in by_key


def test_an_actors_records_are_one_range():
    """Length-prefixed ids: 'ab' and 'abc' never interleave, and an actor's
    events sort by seq (big-endian)."""
    n = 1
    keys = []
    for actor in ("ab", "abc", "a", "b"):
        for seq in (1, 2, 255, 256, 70000):
            keys.append((encode_shard_key("events", 0, (actor, seq), n)[0], actor, seq))
    random.Random(4).shuffle(keys)
    ordered = sorted(keys)
    by_actor: dict[str, list[int]] = {}
    runs: list[str] = []
    for _, actor, seq in ordered:
        by_actor.setdefault(actor, []).append(seq)
        if not runs or runs[-1] != actor:
            runs.append(actor)
    assert len(runs) == 4  # contiguous per actor
    assert all(seqs == sorted(seqs) for seqs in by_actor.values())
    prefix = actor_prefix(0, "ab")
    assert [a for k, a, _ in ordered if k.startswith(prefix)] == ["ab"] * 5


def test_deployment_decisions_group_by_deployment():
    a = encode_shard_key("deployment_decisions", shard_of("zed", 8), (1, "zed"), 8)[0]
    b = encode_shard_key("deployment_decisions", shard_of("amy", 8), (2, "amy"), 8)[0]
    assert a < b and a[:8] == (1).to_bytes(8, "big")


@pytest.mark.parametrize(
    ("table", "parts", "error"),
    [
        ("actors", ("",), ValueError),
        ("actors", ("x" * 256,), ValueError),
        ("actors", (7,), TypeError),
        ("events", ("alice",), ValueError),
        ("events", ("alice", -1), ValueError),
        ("events", ("alice", 2**64), ValueError),
        ("events", ("alice", True), TypeError),
        ("timers", ("alice", ""), ValueError),
        ("idempotency", ("alice", b"short"), TypeError),
        ("versions", ("v1",), ValueError),
    ],
)
def test_bad_key_parts(table, parts, error):
    shard = shard_of("alice", 8)
    with pytest.raises(error):
        encode_shard_key(table, shard, parts, 8)


def test_actor_of_the_wrong_shard_is_refused():
    wrong = (shard_of("alice", 8) + 1) % 8
    with pytest.raises(ValueError, match="belongs to shard"):
        encode_shard_key("actors", wrong, "alice", 8)


@pytest.mark.parametrize(
    ("table", "part"), [("versions", "loan-v1"), ("deployments", 42), ("api_keys", b"\x01" * 32), ("meta", "next-ordinal")]
)
def test_meta_keys_round_trip(table, part):
    assert decode_meta_key(table, encode_meta_key(table, part)) == part


def test_meta_table_names_are_namespaced():
    assert encode_meta_key("meta", "format") == b"app:format"  # never collides with the store's skr: records
    with pytest.raises(ValueError):
        decode_meta_key("meta", b"skr:format")


def test_garbage_keys_do_not_decode():
    for table in ("actors", "events", "cursors", "deployment_decisions", "idempotency", "timers"):
        with pytest.raises(ValueError):
            decode_shard_key(table, b"\x00")
    assert actor_of_key("actors", b"\x00\x01\x09ab") is None
