"""Key management: the master key and the keyring of data keys.

Two levels of keys (envelope encryption):

* The **master key** (32 bytes) is a key-encryption key.  It never touches the
  data directory: it comes from ``SKRUNTIME_MASTER_KEY`` (base64), else from the
  key file ``SKRUNTIME_KEY_FILE`` (base64 text, mode 0600), which is created
  on the first start of a new store.
* **Data keys** (32 random bytes each, numbered 1, 2, ...) encrypt records.
  The whole keyring (every data key and the id of the current one) is one
  record in the ``meta`` database, AES-256-GCM encrypted under the master key
  with associated data ``b"skruntime.keyring.v1"``.  A wrong master key
  therefore fails to open the keyring: a clear :class:`KeyConfigError` at
  start-up, never garbage.

``rotate`` adds a data key and makes it current (old records stay readable
under their key id); ``rewrap`` encrypts the same keyring under a new master
key.  Keyring blob layout: ``version (1 byte, = 1) | nonce (12) | ciphertext
+ tag`` of the JSON ``{"current": id, "keys": {"<id>": "<base64>"}}``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._config import SecurityConfig
from .._exceptions import KeyConfigError

__all__ = [
    "KEY_BYTES",
    "Keyring",
    "MasterKey",
    "create_key_file",
    "generate_key",
    "load_master_key",
    "parse_master_key",
    "read_key_file",
]

log = logging.getLogger("skruntime.store")

KEY_BYTES: Final = 32
_KEYRING_VERSION: Final = 1
_KEYRING_AAD: Final = b"skruntime.keyring.v1"
_NONCE_BYTES: Final = 12
_MAX_KEY_ID: Final = 0xFFFFFFFF


def generate_key() -> bytes:
    """32 random bytes from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


class MasterKey:
    """The master key and where it came from (for error messages).

    Attributes:
        source: a human description, e.g. ``key file /etc/skruntime.key``.
    """

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) != KEY_BYTES:
            raise KeyConfigError(f"{source}: the master key must be {KEY_BYTES} bytes, got {len(key)}")
        self._key = key
        self.source = source

    @property
    def aead(self) -> AESGCM:
        return AESGCM(self._key)

    def __repr__(self) -> str:  # never show the key
        return f"MasterKey(source={self.source!r})"


def parse_master_key(text: str | bytes, source: str) -> MasterKey:
    """Decode the base64 text of a master key.

    Raises:
        KeyConfigError: not base64, or not 32 bytes once decoded.
    """
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii", "replace")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(
            f"{source} is not a valid master key: expected base64 of {KEY_BYTES} bytes "
            f"(make one with `skruntime keys init`)"
        ) from exc
    if len(key) != KEY_BYTES:
        raise KeyConfigError(
            f"{source} is not a valid master key: it decodes to {len(key)} bytes, expected {KEY_BYTES}"
        )
    return MasterKey(key, source)


def create_key_file(path: str | os.PathLike[str]) -> MasterKey:
    """Write a new random master key to ``path`` (mode 0600); never overwrite.

    The file holds the key as base64 text and one newline.  It is fsynced,
    and so is its directory, before this returns.

    Raises:
        KeyConfigError: the file already exists, or cannot be written.
    """
    path = Path(path)
    key = generate_key()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyConfigError(f"key file {path} already exists; refusing to overwrite it") from exc
    except OSError as exc:
        raise KeyConfigError(f"cannot create key file {path}: {exc.strerror}") from exc
    try:
        os.write(fd, base64.b64encode(key) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)
    return MasterKey(key, f"key file {path}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_master_key(security: SecurityConfig, data_dir: Path, *, may_create: bool) -> MasterKey:
    """Find the master key: ``SKRUNTIME_MASTER_KEY``, else the key file.

    Args:
        security: the ``[security]`` configuration.
        data_dir: the store's data directory; the key file must be outside it
            (a copy of the data must be useless without the key).
        may_create: create the key file if it is absent (a new store's first
            start); an existing store never gets a new key silently.

    Raises:
        KeyConfigError: missing, malformed, or misplaced key.
    """
    if security.master_key:
        return parse_master_key(security.master_key, "SKRUNTIME_MASTER_KEY")
    if not security.key_file:
        raise KeyConfigError("no master key: set SKRUNTIME_MASTER_KEY or SKRUNTIME_KEY_FILE")
    path = Path(security.key_file).absolute()
    data = data_dir.absolute()
    if path == data or data in path.parents:
        raise KeyConfigError(
            f"key file {path} is inside the data directory {data}; keep it elsewhere "
            "so that a copy of the data is useless without it"
        )
    if not path.exists():
        if not may_create:
            raise KeyConfigError(
                f"key file {path} does not exist, and the store in {data} was created with a master key: "
                "restore that key file, or set SKRUNTIME_MASTER_KEY"
            )
        master = create_key_file(path)
        log.warning(
            "CREATED A NEW MASTER KEY in %s. Every record of the store in %s is encrypted under it: "
            "back this file up now, separately from the data; without it the data cannot be read.",
            path,
            data,
        )
        return master
    return read_key_file(path)


def read_key_file(path: str | os.PathLike[str]) -> MasterKey:
    """Read a master key file (base64 text of 32 bytes).

    Raises:
        KeyConfigError: the file is missing, unreadable or malformed.
    """
    path = Path(path)
    try:
        text = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyConfigError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyConfigError(f"cannot read key file {path}: {exc.strerror}") from exc
    if mode & 0o077:
        log.warning("key file %s is readable by other users (mode %o); chmod 600 it", path, mode & 0o777)
    return parse_master_key(text, f"key file {path}")


class Keyring:
    """An immutable set of data keys and the id used for new writes.

    Attributes:
        current: the key id new records are written under.
    """

    __slots__ = ("_aeads", "_keys", "current")

    def __init__(self, keys: Mapping[int, bytes], current: int) -> None:
        if current not in keys:
            raise ValueError("the current key id is not in the keyring")
        self._keys = dict(keys)
        self._aeads = {key_id: AESGCM(key) for key_id, key in self._keys.items()}
        self.current = current

    @classmethod
    def new(cls) -> Keyring:
        """A keyring with one fresh data key, id 1."""
        return cls({1: generate_key()}, 1)

    @property
    def key_ids(self) -> list[int]:
        return sorted(self._keys)

    def aead(self, key_id: int) -> AESGCM | None:
        """The cipher for ``key_id``, or ``None`` if the keyring lacks it."""
        return self._aeads.get(key_id)

    def rotated(self) -> Keyring:
        """A copy with one more data key (id = highest + 1), made current."""
        new_id = max(self._keys) + 1
        if new_id > _MAX_KEY_ID:
            raise KeyConfigError("the keyring has run out of key ids")
        return Keyring({**self._keys, new_id: generate_key()}, new_id)

    def wrap(self, master: MasterKey) -> bytes:
        """The keyring record: this keyring encrypted under ``master``."""
        body = orjson.dumps(
            {
                "current": self.current,
                "keys": {str(k): base64.b64encode(v).decode("ascii") for k, v in sorted(self._keys.items())},
            }
        )
        nonce = os.urandom(_NONCE_BYTES)
        return bytes((_KEYRING_VERSION,)) + nonce + master.aead.encrypt(nonce, body, _KEYRING_AAD)

    @classmethod
    def unwrap(cls, blob: bytes, master: MasterKey) -> Keyring:
        """Open a keyring record with ``master``.

        Raises:
            KeyConfigError: wrong master key, or a damaged keyring record.
        """
        if len(blob) < 1 + _NONCE_BYTES + 16 or blob[0] != _KEYRING_VERSION:
            raise KeyConfigError("the store's keyring record is damaged (unknown layout)")
        nonce = blob[1 : 1 + _NONCE_BYTES]
        try:
            body = master.aead.decrypt(nonce, blob[1 + _NONCE_BYTES :], _KEYRING_AAD)
        except InvalidTag as exc:
            raise KeyConfigError(
                f"the master key from {master.source} does not open this store's keyring: "
                "it is the wrong key for this data directory (or the keyring record is damaged)"
            ) from exc
        try:
            doc = orjson.loads(body)
            keys = {int(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
            current = int(doc["current"])
            if any(len(k) != KEY_BYTES for k in keys.values()):
                raise ValueError("bad data key length")
            return cls(keys, current)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise KeyConfigError("the store's keyring record is damaged (bad contents)") from exc
