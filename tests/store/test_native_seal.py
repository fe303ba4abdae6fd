"""The native record sealer (native/seal.c) against the Python codec.

The C sealer must make format-1 records the Python codec reads, and the other
way round; tampering must still be caught; the build and the loader must
fall back to the Python codec when the sealer is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import zstandard

from skruntime import CorruptRecordError, DecryptionError
from skruntime import _native_loader
from skruntime._native_loader import load_sealer
from skruntime.store import _codec
from skruntime.store._codec import HEADER_BYTES, RecordCodec, record_key_id
from skruntime.store._keyring import Keyring

ROOT = Path(__file__).resolve().parents[2]
needs_sealer = pytest.mark.skipif(load_sealer() is None, reason="the native record sealer is not built")
KEY = b"\x00\x03\x05alice"


def _items(n: int) -> list[tuple[str, bytes, bytes]]:
    databases = ("actors", "events", "deployment_decisions", "idempotency")
    return [
        (databases[i % 4], b"\x00\x02" + bytes((5,)) + b"actor" + i.to_bytes(8, "big"), b'{"seq":%d,"note":"%s"}' % (i, b"x" * (i * 7 % 900)))
        for i in range(n)
    ]


def _frame(keyring: Keyring, database: str, key: bytes, blob: bytes) -> bytes:
    """The zstd frame inside a record, decrypted independently of the codec."""
    name = database.encode("ascii")
    aad = b"skruntime.record.v1" + bytes((len(name),)) + name + blob[:5] + key
    aead = keyring.aead(record_key_id(blob) or 0)
    assert aead is not None
    return aead.decrypt(blob[5:HEADER_BYTES], blob[HEADER_BYTES:], aad)


@needs_sealer
@pytest.mark.parametrize("level", [-1, 1, 3])
def test_native_records_read_with_the_python_codec_and_back(level):
    keyring = Keyring.new()
    native = RecordCodec(keyring, zstd_level=level, native=True)
    python = RecordCodec(keyring, zstd_level=level, native=False)
    items = _items(300)  # more than one batch of nonces (256) in C
    for writer, reader in ((native, python), (python, native), (native, native)):
        blobs = writer.seal_many(items)
        assert len(blobs) == len(items)
        for (database, key, plain), blob in zip(items, blobs, strict=True):
            assert blob[:5] == b"\x01\x00\x00\x00\x01"
            assert reader.open(database, key, blob) == plain
    one = native.seal("actors", KEY, b'{"a":1}')
    assert python.decode("actors", KEY, one) == {"a": 1}


@needs_sealer
def test_native_frames_are_like_the_python_codecs():
    """Same envelope, and a zstd frame with the content size and no checksum."""
    keyring = Keyring.new()
    native = RecordCodec(keyring, native=True)
    python = RecordCodec(keyring, native=False)
    plain = b'{"context":{"notes":"' + b"callback on tuesday " * 30 + b'"}}'
    for codec in (native, python):
        blob = codec.seal("actors", KEY, plain)
        frame = _frame(keyring, "actors", KEY, blob)
        params = zstandard.get_frame_parameters(frame)
        assert params.content_size == len(plain) and not params.has_checksum
        assert len(frame) < len(plain) // 4
        assert len(blob) == HEADER_BYTES + len(frame) + 16


@needs_sealer
def test_native_nonces_are_fresh_within_and_across_groups():
    codec = RecordCodec(Keyring.new(), native=True)
    items = _items(600)
    nonces = [blob[5:HEADER_BYTES] for blob in codec.seal_many(items) + codec.seal_many(items)]
    assert len(set(nonces)) == len(nonces) == 1200


@needs_sealer
def test_tampering_with_a_native_record_fails():
    codec = RecordCodec(Keyring.new(), native=True)
    python = RecordCodec(codec.keyring, native=False)
    blob = codec.encode("actors", KEY, {"stateValue": "review", "amount": 125000})
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x04
        with pytest.raises(CorruptRecordError) as info:
            python.decode("actors", KEY, bytes(bad))
        assert i == 0 or isinstance(info.value, DecryptionError), i
    with pytest.raises(DecryptionError):
        python.decode("events", KEY, blob)  # the database is authenticated
    with pytest.raises(DecryptionError):
        python.decode("actors", KEY + b"x", blob)  # so is the key


@needs_sealer
def test_native_sealer_follows_key_changes():
    """The C side caches the key schedule; a rotation or another keyring
    with the same key id must still seal under the right key."""
    first, second = Keyring.new(), Keyring.new()  # both key id 1, different bytes
    codec = RecordCodec(first, native=True)
    a = codec.seal("actors", KEY, b"1")
    codec.keyring = second
    b = codec.seal("actors", KEY, b"2")
    codec.keyring = second.rotated()
    c = codec.seal("actors", KEY, b"3")
    assert RecordCodec(first, native=False).open("actors", KEY, a) == b"1"
    assert RecordCodec(second, native=False).open("actors", KEY, b) == b"2"
    assert record_key_id(c) == 2 and RecordCodec(codec.keyring, native=False).open("actors", KEY, c) == b"3"
    with pytest.raises(DecryptionError):
        RecordCodec(first, native=False).open("actors", KEY, b)


@needs_sealer
def test_native_sealer_handles_odd_sizes():
    keyring = Keyring.new()
    codec = RecordCodec(keyring, native=True)
    python = RecordCodec(keyring, native=False)
    incompressible = os.urandom(300_000)  # zstd's bound, not the input size, sizes the output
    items = [("actors", KEY, b""), ("meta", b"app:x", b"7"), ("events", KEY + b"\x00" * 8, incompressible), ("timers", KEY + b"t" * 200, b"[]")]
    for (database, key, plain), blob in zip(items, codec.seal_many(items), strict=True):
        assert python.open(database, key, blob) == plain
    assert codec.seal_many([]) == []


@needs_sealer
async def test_native_sealer_runs_in_other_threads():
    """Each thread gets its own C contexts (zstd and cipher state)."""
    import trio

    codec = RecordCodec(Keyring.new(), native=True)
    python = RecordCodec(codec.keyring, native=False)
    items = _items(64)

    def work() -> list[bytes]:
        return codec.seal_many(items)

    async with trio.open_nursery() as nursery:
        results: list[list[bytes]] = []

        async def run() -> None:
            results.append(await trio.to_thread.run_sync(work))

        for _ in range(4):
            nursery.start_soon(run)
    for blobs in results:
        for (database, key, plain), blob in zip(items, blobs, strict=True):
            assert python.open(database, key, blob) == plain


def test_the_python_codec_is_used_without_the_sealer(monkeypatch):
    monkeypatch.setattr(_codec, "load_sealer", lambda: None)
    codec = RecordCodec(Keyring.new())
    assert not codec.native
    assert codec.decode("actors", KEY, codec.encode("actors", KEY, {"a": 1})) == {"a": 1}
    with pytest.raises(RuntimeError, match="not available"):
        RecordCodec(Keyring.new(), native=True)


class _StubLib:
    @staticmethod
    def skr_seal_available() -> int:
        return 0


class _StubKernel:
    lib = _StubLib()


def test_a_kernel_built_without_the_sealer_warns_once(monkeypatch):
    monkeypatch.setattr(_native_loader, "_sealer_checked", False)
    monkeypatch.setattr(_native_loader, "_sealer", None)
    monkeypatch.setattr(_native_loader, "load_native", lambda: _StubKernel)
    with pytest.warns(RuntimeWarning, match="without its record sealer"):
        assert _native_loader.load_sealer() is None
    assert _native_loader.load_sealer() is None  # no second warning (warnings are errors here)


def test_force_pure_uses_the_python_codec_silently():
    code = textwrap.dedent(
        """
        import warnings
        warnings.simplefilter("error")
        from skruntime.store._codec import RecordCodec
        from skruntime.store._keyring import Keyring
        from skruntime._native_loader import native_status
        codec = RecordCodec(Keyring.new())
        print(codec.native, native_status())
        """
    )
    env = {**os.environ, "SKRUNTIME_FORCE_PURE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.startswith("False pure (SKRUNTIME_FORCE_PURE is set)")


def test_the_sealer_is_built_wherever_it_can_be(monkeypatch):
    """The tests marked ``needs_sealer`` skip only on machines that cannot
    build it: where the probe finds OpenSSL and libzstd, the installed kernel
    must have the sealer (else those skips would hide a broken build)."""
    sys.path.insert(0, str(ROOT / "native"))
    try:
        import build_native
    finally:
        sys.path.remove(str(ROOT / "native"))
    monkeypatch.delenv("SKRUNTIME_NATIVE_SEAL", raising=False)
    if build_native.sealer_libraries() is not None:
        assert load_sealer() is not None


def test_the_build_probe_fails_without_a_compiler(monkeypatch):
    sys.path.insert(0, str(ROOT / "native"))
    try:
        import build_native
    finally:
        sys.path.remove(str(ROOT / "native"))
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert build_native.sealer_libraries() is None
    monkeypatch.setenv("CC", "")
    monkeypatch.setenv("SKRUNTIME_NATIVE_SEAL", "0")
    assert build_native.sealer_libraries() is None


def test_the_kernel_builds_with_the_stub_sealer(tmp_path):
    """Without OpenSSL or libzstd the build still succeeds, with a sealer
    that reports itself unavailable (the store then seals in Python)."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, "native")
        import build_native
        builder = build_native.make_builder("_skr_stub_kernel", absolute=True)
        builder.compile(tmpdir={str(tmp_path)!r})
        sys.path.insert(0, {str(tmp_path)!r})
        import _skr_stub_kernel as k
        print(k.lib.skr_seal_available(), k.lib.skr_sealer_new() == k.ffi.NULL,
              k.lib.skr_seal_group(k.ffi.NULL, k.ffi.NULL, k.ffi.NULL, 0, k.ffi.NULL, 0, k.ffi.NULL, k.ffi.NULL, k.ffi.NULL, k.ffi.NULL, 0, k.ffi.NULL, 0, k.ffi.NULL),
              k.lib.skr_fnv_extend(0, b"a", 1) != 0)
        """
    )
    env = {**os.environ, "SKRUNTIME_NATIVE_SEAL": "0"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "record sealer stub" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "0 True -1 True"


async def test_a_store_reads_records_sealed_by_either_codec(tmp_path, monkeypatch):
    """Records written by a store that seals in C read back in a store that
    seals in Python, and the other way round, through the real writer."""
    from skruntime.store import LmdbStore, shard_of

    from .conftest import SHARDS, make_config, raw_env

    config = make_config(tmp_path)
    value = {"context": {"notes": "sealed " * 40}, "seq": 1}
    actors = [f"actor-{i}" for i in range(20)]

    async def write(tag: str) -> bool:
        store = LmdbStore.open(config)
        async with store.running():
            for actor in actors:
                shard = await store.acquire(shard_of(actor, SHARDS), 1)
                batch = shard.batch()
                batch.put("actors", actor, {**value, "by": tag})
                batch.put("events", (actor, 1), {"type": "GO", "by": tag})
                await store.commit(batch)
        native = store._codec.native
        store.close()
        return native

    async def read() -> set[str]:
        store = LmdbStore.open(config)
        seen = set()
        async with store.running():
            for actor in actors:
                shard = await store.acquire(shard_of(actor, SHARDS), 1)
                snapshot = await shard.get("actors", actor)
                event = await shard.get("events", (actor, 1))
                assert snapshot["context"] == value["context"] and event["by"] == snapshot["by"]
                seen.add(snapshot["by"])
        store.close()
        return seen

    expect_native = load_sealer() is not None
    assert await write("first") is expect_native
    monkeypatch.setattr(_codec, "load_sealer", lambda: None)
    assert await read() == {"first"}  # read (and written: acquire) by the Python codec
    assert await write("second") is False
    monkeypatch.undo()
    assert await read() == {"second"}
    env = raw_env(config.store.data_dir)
    try:
        with env.begin() as txn:
            blobs = [bytes(v) for _, v in txn.cursor(db=env.open_db(b"actors", txn=txn))]
    finally:
        env.close()
    assert len(blobs) == len(actors) and all(b"sealed" not in blob for blob in blobs)
