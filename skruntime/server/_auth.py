"""API keys: bearer secrets with scopes, stored only as hashes.

A key is ``sk_`` followed by 43 URL-safe base64 characters (32 random
bytes).  The store keeps only its SHA-256 in the meta table ``api_keys``
(record key: the 32 hash bytes; value ``{id, name, scope, createdAt}``), so a
copy of the data (even decrypted) yields no usable key.  The server holds
every record in memory, keyed by hash: checking a request is one SHA-256 and
one dict lookup.

Scopes nest: ``admin`` ⊃ ``write`` ⊃ ``read``.  ``admin`` deploys and
manages keys, ``write`` spawns and sends, ``read`` reads and watches.

Changes made over HTTP apply to the cache as soon as they are durable
(revocation is effective for the next request, and closes WebSocket
connections using the key).  Changes made offline with ``skruntime keys``
while a server runs reach it through :meth:`ApiKeys.refresh_forever`, which
re-reads the table every couple of seconds.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import trio

from .._exceptions import ConfigError, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from .._util import CONTROL_CHARACTERS as _CONTROL
from ..store import MetaBatch, Store

__all__ = [
    "SCOPES",
    "ApiKey",
    "ApiKeys",
    "generate_secret",
    "hash_secret",
    "looks_like_key",
    "read_key_records",
    "validate_key_request",
]

log = logging.getLogger("skruntime.server")

SCOPES: Final = ("read", "write", "admin")  # weakest first
_RANK: Final = {scope: rank for rank, scope in enumerate(SCOPES)}
_KEY: Final = re.compile(r"sk_[A-Za-z0-9_-]{43}")
_TABLE: Final = "api_keys"
MAX_NAME: Final = 128


def generate_secret() -> str:
    """A new API key: ``sk_`` + 32 random bytes, URL-safe base64 without padding."""
    return "sk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def looks_like_key(text: object) -> bool:
    """Whether ``text`` has the shape of an API key."""
    return isinstance(text, str) and _KEY.fullmatch(text) is not None


def hash_secret(secret: str) -> bytes:
    """The stored form of a key: SHA-256 of its text (32 bytes).

    A plain hash suffices: the secret has 256 bits of entropy, so there is
    nothing for a salt or a slow hash to protect.
    """
    return hashlib.sha256(secret.encode("ascii", "replace")).digest()


def _now_iso() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key, without its secret.

    Attributes:
        id: public identifier (``key_`` + 16 hex digits); used to revoke it.
        name: an operator's label, or ``None``.
        scope: ``admin``, ``write`` or ``read``.
        created_at: ISO 8601 UTC.
    """

    id: str
    name: str | None
    scope: str
    created_at: str

    def allows(self, scope: str) -> bool:
        """Whether this key may make a call that needs ``scope``."""
        return _RANK[self.scope] >= _RANK[scope]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scope": self.scope, "createdAt": self.created_at}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ApiKey:
        scope = record.get("scope")
        if scope not in _RANK:
            raise ValueError(f"unknown scope {scope!r}")
        return cls(str(record["id"]), record.get("name"), str(scope), str(record.get("createdAt", "")))

    @classmethod
    def new(cls, scope: str, name: str | None) -> ApiKey:
        return cls("key_" + secrets.token_hex(8), name, scope, _now_iso())


def validate_key_request(body: Any) -> tuple[str, str | None]:
    """Check a ``POST /v1/keys`` body ``{scope, name?}``; returns ``(scope, name)``.

    Raises:
        Unprocessable: unknown fields, a bad scope or a bad name.
    """
    if not isinstance(body, Mapping):
        raise Unprocessable("the body must be a JSON object {scope, name?}", "")
    unknown = sorted(set(body) - {"scope", "name"})
    if unknown:
        raise Unprocessable(f"unknown field {unknown[0]!r}", "/" + unknown[0].replace("~", "~0").replace("/", "~1"))
    scope = body.get("scope")
    if not isinstance(scope, str) or scope not in _RANK:
        raise Unprocessable("scope must be one of 'admin', 'write', 'read'", "/scope")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or _CONTROL.search(name)):
        raise Unprocessable(f"name must be 1-{MAX_NAME} characters without control characters", "/name")
    return str(scope), name


async def read_key_records(store: Store) -> dict[bytes, ApiKey]:
    """Every stored key, by hash.  Records that do not decode are skipped
    (and logged): a damaged key record must not keep the server down."""
    keys: dict[bytes, ApiKey] = {}
    start: object = None
    while True:
        rows = await store.meta.scan(_TABLE, start=start, limit=500)
        for digest, record in rows:
            if digest == start:
                continue
            try:
                keys[bytes(digest)] = ApiKey.from_record(record)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("ignoring a damaged API key record %s: %s", bytes(digest).hex()[:12], exc)
        if len(rows) < 500:
            return keys
        start = rows[-1][0]


async def _put(store: Store, digest: bytes, key: ApiKey) -> None:
    batch = MetaBatch()
    batch.put(_TABLE, digest, key.to_json())
    await store.commit(batch)


async def _delete(store: Store, digest: bytes) -> None:
    batch = MetaBatch()
    batch.delete(_TABLE, digest)
    await store.commit(batch)


class ApiKeys:
    """The API keys of a running server (an in-memory cache over the store).

    Args:
        store: the opened store; writes need its writer running.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_hash: dict[bytes, ApiKey] = {}
        self._by_id: dict[str, bytes] = {}  # invariant: the inverse of _by_hash (id -> hash)
        self._generation = 0  # bumped by every local change (refresh must not undo them)
        self._listeners: list[Callable[[ApiKey], None]] = []
        self.loaded = False

    # -- lifecycle -----------------------------------------------------------------

    async def load(self) -> None:
        """Read every key from the store."""
        self._install(await read_key_records(self._store))
        self._generation += 1
        self.loaded = True

    async def bootstrap(self, configured: str = "") -> str | None:
        """Make sure an admin can get in: when the store has no key at all,
        ``configured`` (``SKRUNTIME_BOOTSTRAP_KEY``) becomes the first admin
        key, or a new one is generated.

        Returns:
            The generated secret (print it once), or ``None``.

        Raises:
            ConfigError: ``configured`` is set but is not an ``sk_`` key.
        """
        if configured and not looks_like_key(configured):
            raise ConfigError(
                "SKRUNTIME_BOOTSTRAP_KEY", "must be an API key: 'sk_' followed by 43 URL-safe base64 characters"
            )
        if self._by_hash:
            if configured:
                log.info("SKRUNTIME_BOOTSTRAP_KEY is ignored: the store already has API keys")
            return None
        secret = configured or generate_secret()
        key = ApiKey.new("admin", "bootstrap")
        digest = hash_secret(secret)
        await _put(self._store, digest, key)
        self._by_hash[digest] = key
        self._by_id[key.id] = digest
        self._generation += 1
        return None if configured else secret

    async def refresh(self) -> None:
        """Re-read the table (keys created or revoked offline by ``skruntime
        keys`` while this server runs)."""
        generation = self._generation
        fresh = await read_key_records(self._store)
        if generation != self._generation:
            return  # a local change raced with the read; the next refresh sees both
        gone = [key for digest, key in self._by_hash.items() if digest not in fresh]
        self._install(fresh)
        for key in gone:
            self._notify(key)

    async def refresh_forever(self, interval: float = 2.0) -> None:
        """Call :meth:`refresh` every ``interval`` seconds until cancelled."""
        while True:
            await trio.sleep(interval)
            try:
                await self.refresh()
            except Exception:  # a failed read must not stop serving; retry next time
                log.exception("re-reading the API keys failed")

    # -- checking requests ---------------------------------------------------------

    def check_secret(self, secret: object) -> ApiKey:
        """The key whose secret is ``secret``.

        Raises:
            Unauthorized: not a key, or not one this server knows.
        """
        if not isinstance(secret, str) or len(secret) != 46 or not secret.startswith("sk_"):
            raise Unauthorized("invalid API key")
        # The secret is never compared: its SHA-256 is looked up.  Timing of
        # the lookup can only reveal (parts of) hashes of existing keys,
        # which do not help to find a secret (that needs a preimage).
        key = self._by_hash.get(hash_secret(secret))
        if key is None:
            raise Unauthorized("invalid API key")
        return key

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key of an ``Authorization: Bearer sk_...`` header value.

        Raises:
            Unauthorized: missing header, another scheme, unknown key.
        """
        if not authorization:
            raise Unauthorized("this call needs an API key: send 'Authorization: Bearer sk_...'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("use the Bearer scheme: 'Authorization: Bearer sk_...'")
        return self.check_secret(token.strip())

    def authorize(self, authorization: str | None, scope: str) -> ApiKey:
        """:meth:`authenticate`, then check that the key allows ``scope``.

        Raises:
            Unauthorized: as for :meth:`authenticate`.
            Forbidden: the key's scope is too weak.
        """
        key = self.authenticate(authorization)
        if _RANK[key.scope] < _RANK[scope]:
            raise Forbidden(f"this API key has scope {key.scope!r}; this call needs {scope!r}")
        return key

    def is_current(self, key: ApiKey) -> bool:
        """Whether ``key`` has not been revoked."""
        return key.id in self._by_id

    # -- management ----------------------------------------------------------------

    def list(self) -> list[ApiKey]:
        """Every key, oldest first."""
        return sorted(self._by_hash.values(), key=lambda k: (k.created_at, k.id))

    async def create(self, scope: str, name: str | None) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (shown this once only)."""
        if scope not in _RANK:
            raise Unprocessable("scope must be one of 'admin', 'write', 'read'", "/scope")
        secret = generate_secret()
        key = ApiKey.new(scope, name)
        digest = hash_secret(secret)
        await _put(self._store, digest, key)
        self._by_hash[digest] = key
        self._by_id[key.id] = digest
        self._generation += 1
        return key, secret

    async def revoke(self, key_id: str) -> ApiKey:
        """Delete a key; effective for the next request.

        Raises:
            NotFound: no key has this id.
            Conflict: it is the last admin key (create another one first).
        """
        digest = self._by_id.get(key_id)
        if digest is None:
            raise NotFound("key", key_id)
        key = self._by_hash[digest]
        if key.scope == "admin" and sum(k.scope == "admin" for k in self._by_hash.values()) == 1:
            raise Conflict("this is the last admin key; create another admin key before revoking it")
        await _delete(self._store, digest)
        if self._by_hash.get(digest) is key:
            del self._by_hash[digest]
            del self._by_id[key.id]
        self._generation += 1
        self._notify(key)
        return key

    def _install(self, keys: dict[bytes, ApiKey]) -> None:
        self._by_hash = keys
        self._by_id = {key.id: digest for digest, key in keys.items()}

    def on_revoke(self, listener: Callable[[ApiKey], None]) -> Callable[[], None]:
        """Call ``listener(key)`` whenever a key is revoked; returns a function
        that removes the listener."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, key: ApiKey) -> None:
        for listener in list(self._listeners):
            listener(key)
