"""``skruntime keys create|list|revoke``: API keys, offline.

They work on the store directly (the same configuration as ``serve``), and
join the ``keys`` group of ``_store.py`` (master and data keys).  Meant for
when the server is stopped, e.g. to get an admin key back; a running server
notices keys created or revoked this way within a few seconds (it re-reads
the table), while ``POST /v1/keys`` and ``DELETE /v1/keys/{id}`` take effect
at once.  Exit codes: 0 success, 2 an error (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from .._config import Config
from .._exceptions import RequestError, SkRuntimeError
from ..store import LmdbStore
from ._store import keys_subparsers

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = keys_subparsers(sub)

    p = keys.add_parser("create", help="create an API key and print its secret (shown once)")
    p.add_argument("--scope", required=True, choices=("admin", "write", "read"))
    p.add_argument("--name", help="a label for the key")
    p.add_argument("--json", action="store_true", help="print {id, key, scope, name, createdAt} as JSON")
    p.set_defaults(handler=_create)

    p = keys.add_parser("list", help="list API keys (never their secrets)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=_list)

    p = keys.add_parser("revoke", help="revoke an API key by id")
    p.add_argument("key_id", help="the key's id (key_...), from `skruntime keys list`")
    p.set_defaults(handler=_revoke)


def _run(fn: Any) -> Any:
    """Open the store (it must exist), run ``fn(auth)`` with its writer
    running, close it."""
    from ..server import ApiKeys  # the server package only for these commands

    store = LmdbStore.open(Config.load(), create=False)

    async def main() -> tuple[Any, SkRuntimeError | None]:
        async with store.running():
            auth = ApiKeys(store)
            try:  # caught inside, so that it does not leave wrapped in the writer's nursery
                await auth.load()
                return await fn(auth), None
            except SkRuntimeError as exc:
                return None, exc

    try:
        result, error = trio.run(main)
    finally:
        store.close()
    if error is not None:
        raise error
    return result


def _guarded(fn: Any) -> tuple[int, Any]:
    try:
        return 0, _run(fn)
    except SkRuntimeError as exc:  # RequestError included (unknown id, last admin key)
        print(f"skruntime: error: {exc}", file=sys.stderr)
        return 2, None


def _create(args: argparse.Namespace) -> int:
    name = args.name
    if name is not None:
        from ..server._auth import validate_key_request

        try:
            validate_key_request({"scope": args.scope, "name": name})
        except RequestError as exc:
            print(f"skruntime: error: {exc.detail}", file=sys.stderr)
            return 2

    async def create(auth: Any) -> Any:
        return await auth.create(args.scope, name)

    code, result = _guarded(create)
    if code:
        return code
    key, secret = result
    if args.json:
        print(json.dumps({**key.to_json(), "key": secret}))
    else:
        print(f"created {key.scope} key {key.id}" + (f" ({key.name})" if key.name else ""))
        print(f"  {secret}")
        print("This is the only time the secret is shown; store it now.")
    return 0


def _list(args: argparse.Namespace) -> int:
    async def listing(auth: Any) -> Any:
        return auth.list()

    code, keys = _guarded(listing)
    if code:
        return code
    if args.json:
        print(json.dumps([key.to_json() for key in keys], indent=2))
        return 0
    if not keys:
        print("no API keys (the next `skruntime serve` creates an admin key)")
        return 0
    print(f"{'ID':<22} {'SCOPE':<6} {'CREATED':<25} NAME")
    for key in keys:
        print(f"{key.id:<22} {key.scope:<6} {key.created_at:<25} {key.name or ''}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    async def revoke(auth: Any) -> Any:
        return await auth.revoke(args.key_id)

    code, key = _guarded(revoke)
    if code:
        return code
    print(f"revoked {key.scope} key {key.id}" + (f" ({key.name})" if key.name else ""))
    return 0
