"""The record envelope (skruntime/store/_codec.py).

Every test taking the ``codec`` fixture runs twice: sealing with the native
C sealer (skipped when it is not built) and with the Python codec.
"""

from __future__ import annotations

import struct

import pytest

from skruntime import CorruptRecordError, DecryptionError
from skruntime._native_loader import load_sealer
from skruntime.store._codec import FORMAT, HEADER_BYTES, RecordCodec, record_key_id
from skruntime.store._keyring import Keyring

needs_sealer = pytest.mark.skipif(load_sealer() is None, reason="the native record sealer is not built")

KEY = b"\x00\x03\x05alice"
VALUE = {"stateValue": {"review": "pending"}, "context": {"amount": 125000, "note": "ünïcødé"}, "seq": 3}


@pytest.fixture(params=[pytest.param(True, marks=needs_sealer, id="native"), pytest.param(False, id="python")])
def codec(request) -> RecordCodec:
    codec = RecordCodec(Keyring.new(), native=request.param)
    assert codec.native is request.param
    return codec


def test_round_trip(codec):
    blob = codec.encode("actors", KEY, VALUE)
    assert codec.decode("actors", KEY, blob) == VALUE
    assert blob[0] == FORMAT and record_key_id(blob) == 1


def test_every_write_has_a_fresh_nonce(codec):
    a, b = codec.encode("actors", KEY, VALUE), codec.encode("actors", KEY, VALUE)
    assert a[5:HEADER_BYTES] != b[5:HEADER_BYTES] and a != b


def test_envelope_layout(codec):
    blob = codec.encode("actors", KEY, VALUE)
    fmt, key_id = struct.unpack(">BI", blob[:5])
    assert (fmt, key_id) == (1, 1)
    assert len(blob) >= HEADER_BYTES + 16  # header, then ciphertext and the 16-byte tag


def test_tampering_with_any_byte_fails(codec):
    blob = codec.encode("actors", KEY, VALUE)
    for i in range(len(blob)):
        for flip in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= flip
            with pytest.raises(CorruptRecordError) as info:
                codec.decode("actors", KEY, bytes(bad))
            if i >= 1:  # past the format byte everything is authenticated
                assert isinstance(info.value, DecryptionError), i
            assert info.value.database == "actors" and info.value.key == KEY


def test_record_moved_to_another_key_fails(codec):
    blob = codec.encode("actors", KEY, VALUE)
    with pytest.raises(DecryptionError, match="tag does not verify"):
        codec.decode("actors", b"\x00\x03\x03bob", blob)


def test_record_moved_to_another_database_fails(codec):
    blob = codec.encode("actors", KEY, VALUE)
    with pytest.raises(DecryptionError):
        codec.decode("timers", KEY, blob)


def test_wrong_key_fails(codec):
    blob = codec.encode("actors", KEY, VALUE)
    other = RecordCodec(Keyring.new())  # also key id 1, different bytes
    with pytest.raises(DecryptionError, match="tag does not verify") as info:
        other.decode("actors", KEY, blob, actor_id="alice")
    assert info.value.actor_id == "alice"
    assert "alice" in str(info.value) and "actors" in str(info.value)


def test_unknown_key_id_fails_clearly(codec):
    blob = bytearray(codec.encode("actors", KEY, VALUE))
    blob[1:5] = struct.pack(">I", 9)
    with pytest.raises(DecryptionError, match="key id 9"):
        codec.decode("actors", KEY, bytes(blob))


def test_rotation_keeps_old_records_readable(codec):
    old = codec.encode("actors", KEY, VALUE)
    codec.keyring = codec.keyring.rotated()
    new = codec.encode("actors", KEY, {"v": 2})
    assert record_key_id(old) == 1 and record_key_id(new) == 2
    assert codec.decode("actors", KEY, old) == VALUE
    assert codec.decode("actors", KEY, new) == {"v": 2}


def test_unknown_key_id_triggers_a_keyring_reload():
    keyring = Keyring.new()
    rotated = keyring.rotated()
    writer = RecordCodec(rotated)
    reader = RecordCodec(keyring, reload=lambda: rotated)  # e.g. rotated by another process
    assert reader.decode("actors", KEY, writer.encode("actors", KEY, VALUE)) == VALUE
    assert reader.keyring is rotated


@pytest.mark.parametrize("size", [0, 1, 5, HEADER_BYTES, HEADER_BYTES + 15])
def test_truncated_records_are_corrupt(codec, size):
    blob = codec.encode("actors", KEY, VALUE)[:size]
    with pytest.raises(CorruptRecordError, match="truncated") as info:
        codec.decode("actors", KEY, blob)
    assert not isinstance(info.value, DecryptionError)


def test_truncated_tail_fails_the_tag(codec):
    blob = codec.encode("actors", KEY, VALUE)
    with pytest.raises(DecryptionError):
        codec.decode("actors", KEY, blob[:-1])


def test_unknown_format_byte(codec):
    blob = bytearray(codec.encode("actors", KEY, VALUE))
    blob[0] = 7
    with pytest.raises(CorruptRecordError, match="unknown record format byte 7"):
        codec.decode("actors", KEY, bytes(blob))
    assert record_key_id(bytes(blob)) is None


def test_garbage_is_corrupt(codec):
    with pytest.raises(CorruptRecordError):
        codec.decode("actors", KEY, b"\x01" + b"\x00" * 60)


def test_a_writer_bug_that_stores_bad_zstd_or_json_is_reported(codec):
    """If the tag verifies but the payload does not decode (a broken writer),
    the error is CorruptRecordError translated from the dependency's."""
    keyring = codec.keyring
    prefix = struct.pack(">BI", 1, 1)
    nonce = b"\x00" * 12
    aad = b"skruntime.record.v1" + bytes((6,)) + b"actors" + prefix + KEY
    not_zstd = prefix + nonce + keyring.aead(1).encrypt(nonce, b"plainly not zstd", aad)
    with pytest.raises(CorruptRecordError, match="not valid zstd") as info:
        codec.decode("actors", KEY, not_zstd)
    assert info.value.__cause__ is not None
    not_json = codec.seal("actors", KEY, b"{not json")
    with pytest.raises(CorruptRecordError, match="not valid JSON"):
        codec.decode("actors", KEY, not_json)


def test_values_must_be_json(codec):
    with pytest.raises(TypeError):
        codec.encode("actors", KEY, {"when": object()})


def test_seal_many_matches_seal(codec):
    items = [("events", b"\x00\x01\x01a" + i.to_bytes(8, "big"), b'{"seq":%d,"pad":"%s"}' % (i, b"p" * i)) for i in range(40)]
    blobs = codec.seal_many(items)
    assert len({b[5:HEADER_BYTES] for b in blobs}) == 40  # distinct nonces
    for (database, key, plain), blob in zip(items, blobs, strict=True):
        assert codec.open(database, key, blob) == plain
    assert codec.seal_many(items[:1])[0] != blobs[0]  # the one-item path works too
    assert codec.seal_many([]) == []


def test_compression_shrinks_repetitive_values(codec):
    value = {"history": ["SUBMIT_INFO"] * 200}
    assert len(codec.encode("actors", KEY, value)) < len(str(value)) // 4
