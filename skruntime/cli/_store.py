"""The store's operator commands: ``keys init|rotate|rewrap``, ``verify``,
``backup``, ``restore``.

They read the same configuration as ``skruntime serve`` (``SKRUNTIME_CONFIG``
or ``conf/skruntime.toml``, then environment variables such as
``SKRUNTIME_DATA_DIR`` and ``SKRUNTIME_KEY_FILE``).  Exit codes: 0 success,
1 ``verify`` found bad records, 2 an error (message on stderr).

``backup`` and ``verify`` are safe while a server runs on the same data
directory (LMDB readers do not block its writer); ``keys rotate`` too (the
server picks up the new key for reading at once).  ``restore`` and
``keys rewrap`` want the server stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import trio
from rich.console import Console

from .._config import Config
from .._exceptions import SkRuntimeError
from ..store import LmdbStore, backup, create_key_file, read_key_file, restore

__all__ = ["add_commands", "keys_subparsers"]

_Handler = Callable[[argparse.Namespace], int]


def keys_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The ``keys`` command group, created on first use.

    The master-key commands live here; the API-key commands (``keys
    create|list|revoke``) join the same group: their module calls
    ``keys_subparsers(sub)`` from its ``add_commands`` and adds parsers.
    """
    parser: argparse.ArgumentParser | None = sub.choices.get("keys")
    if parser is None:
        parser = sub.add_parser("keys", help="manage keys: the master key, data keys and API keys")
        group: argparse._SubParsersAction = parser.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND")  # type: ignore[type-arg]
        group.required = True
        return group
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the keys parser has no subcommands")  # pragma: no cover


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``keys init|rotate|rewrap``, ``verify``, ``backup`` and ``restore``."""
    keys = keys_subparsers(sub)

    p = keys.add_parser("init", help="create a new master key file (never overwrites one)")
    p.add_argument("--key-file", help="where to write it (default: SKRUNTIME_KEY_FILE / security.key_file)")
    p.set_defaults(handler=_guard(_keys_init))

    p = keys.add_parser("rotate", help="add a data key and use it for new writes")
    p.add_argument("--reencrypt", action="store_true", help="then rewrite every older record under the new key")
    p.set_defaults(handler=_guard(_keys_rotate))

    p = keys.add_parser("rewrap", help="re-encrypt the keyring under another master key (server stopped)")
    p.add_argument("new_key_file", help="a key file made with `skruntime keys init --key-file PATH`")
    p.set_defaults(handler=_guard(_keys_rewrap))

    p = sub.add_parser("verify", help="decode every record of the store; exit 1 if any is bad")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_guard(_verify))

    p = sub.add_parser("backup", help="write a consistent hot copy of the store to DEST")
    p.add_argument("dest", help="a new (or empty) directory")
    p.set_defaults(handler=_guard(_backup))

    p = sub.add_parser("restore", help="restore a backup into the data directory (server stopped)")
    p.add_argument("src", help="a directory written by `skruntime backup`")
    p.add_argument("--force", action="store_true", help="replace the store already in the data directory")
    p.set_defaults(handler=_guard(_restore))


def _guard(handler: _Handler) -> _Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except SkRuntimeError as exc:
            print(f"skruntime: error: {exc}", file=sys.stderr)
            return 2

    return run


def _keys_init(args: argparse.Namespace) -> int:
    path = Path(args.key_file or Config.load().security.key_file)
    create_key_file(path)
    print(f"wrote a new master key to {path} (mode 0600)")
    print("Back it up, separately from the data: without it the store cannot be read.")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    store = LmdbStore.open(Config.load(), create=False)

    async def rotate() -> tuple[int, int | None]:
        async with store.running():
            key_id = await store.rotate()
            rewritten = await store.reencrypt() if args.reencrypt else None
        return key_id, rewritten

    try:
        key_id, rewritten = trio.run(rotate)
    finally:
        store.close()
    print(f"data key {key_id} is now used for new writes; older keys stay readable")
    if rewritten is not None:
        print(f"re-encrypted {rewritten} records under key {key_id}")
    return 0


def _keys_rewrap(args: argparse.Namespace) -> int:
    new_master = read_key_file(args.new_key_file)
    store = LmdbStore.open(Config.load(), create=False)

    async def rewrap() -> None:
        async with store.running():
            await store.rewrap(new_master)

    try:
        trio.run(rewrap)
    finally:
        store.close()
    print(f"the keyring is now encrypted under the master key in {args.new_key_file}")
    print("Point SKRUNTIME_KEY_FILE at it (or set SKRUNTIME_MASTER_KEY) before the next start.")
    return 0


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr when it is a terminal; ``advance(done, total)``."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextlib.contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner on stderr when it is a terminal (for work with no measure)."""
    if not sys.stderr.isatty():
        yield
        return
    with Console(stderr=True).status(description):
        yield


def _verify(args: argparse.Namespace) -> int:
    store = LmdbStore.open(Config.load(), create=False)
    try:
        with progress_bar("verifying records", enabled=not args.json) as advance:
            report = store.verify(advance)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        total = sum(report.counts.values())
        verdict = "clean" if report.clean else f"{len(report.bad)} bad record(s)"
        print(f"verified {total} records in {len(report.counts)} databases: {verdict}")
        print("  " + ", ".join(f"{name} {count}" for name, count in report.counts.items()))
        for bad in report.bad:
            who = f" (actor {bad.actor_id!r})" if bad.actor_id is not None else ""
            print(f"  BAD {bad.database}/{bad.key.hex()}{who}: {bad.reason}")
    return 0 if report.clean else 1


def _backup(args: argparse.Namespace) -> int:
    config = Config.load()
    with spinner(f"backing up {config.store.data_dir}"):
        info = backup(config.store.data_dir, args.dest)
    print(
        f"backed up {config.store.data_dir} to {info.path} "
        f"(format {info.format}, {info.shard_count} shards, {info.size} bytes)"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    config = Config.load()
    info = restore(args.src, config.store.data_dir, force=args.force)
    print(
        f"restored {info.path} into {config.store.data_dir} "
        f"(format {info.format}, {info.shard_count} shards); run `skruntime verify` to check it"
    )
    return 0
