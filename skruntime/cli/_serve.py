"""``skruntime serve``: run the server in the foreground.

Configuration as everywhere (``SKRUNTIME_CONFIG`` or ``conf/skruntime.toml``,
then environment variables).  Exit codes: 0 after a clean shutdown (SIGINT
or SIGTERM), 2 for a configuration, key or start-up error, reported as one
line on stderr without a traceback.
"""

from __future__ import annotations

import argparse
import errno
import gc
import logging
import socket
import sys
from pathlib import Path

import trio

from .._config import Config
from .._exceptions import SkRuntimeError

__all__ = ["add_commands"]


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the HTTP and WebSocket server")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default: info")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)  # we say where we listen ourselves
    try:
        config = Config.load()
        trio.run(_main, config)
    except KeyboardInterrupt:
        print("skruntime: aborted", file=sys.stderr)
        return 130
    except BaseException as exc:  # operator errors become one line; bugs keep their traceback
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in _leaves(exc)):
            print("skruntime: aborted", file=sys.stderr)
            return 130
        message = _startup_error(exc)
        if message is None:
            raise
        print(f"skruntime: error: {message}", file=sys.stderr)
        return 2
    print("skruntime: stopped", file=sys.stderr)
    return 0


async def _main(config: Config) -> None:
    from ..server import serve  # the server's imports (quart, hypercorn) only for this command

    # The server holds every actor in memory: millions of long-lived objects
    # that the collector's default thresholds rescan again and again whenever
    # a deploy or a batch allocates quickly (measured: half of a 50,000-actor
    # preview).  Collect the young generation less often, and once recovery
    # has loaded the actors, move them out of the collector's sight.  Only
    # cyclic garbage waits longer; everything else is freed by refcounting.
    gc.set_threshold(50_000, 20, 100)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve, config)
        gc.freeze()
        _print_started(config, binds)


def _print_started(config: Config, binds: list[str]) -> None:
    data_dir = Path(config.store.data_dir).absolute()
    if config.security.master_key:
        key_source = "SKRUNTIME_MASTER_KEY"
    else:
        key_source = f"key file {Path(config.security.key_file).absolute()}"
    for url in binds:
        print(f"skruntime: serving on {url}  (API: {url}/v1, OpenAPI: {url}/v1/openapi.json)", file=sys.stderr)
        print(f"skruntime: operator dashboard at {url}/ui/", file=sys.stderr)
    print(f"skruntime: data in {data_dir}; master key from {key_source}", file=sys.stderr)
    print("skruntime: ready; stop with Ctrl-C or SIGTERM", file=sys.stderr, flush=True)


def _startup_error(exc: BaseException) -> str | None:
    """A one-line message for an error that is the operator's to fix (bad
    configuration, key, data directory, address in use), else ``None``."""
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, SkRuntimeError):
            return str(leaf)
    for leaf in leaves:
        if isinstance(leaf, OSError):
            if leaf.errno == errno.EADDRINUSE:
                return f"cannot listen: the address is already in use ({leaf.strerror}); set SKRUNTIME_LISTEN"
            if leaf.errno in (errno.EACCES, errno.EADDRNOTAVAIL, errno.EPERM):
                return f"cannot listen: {leaf.strerror}; check SKRUNTIME_LISTEN"
        if isinstance(leaf, socket.gaierror):
            return f"cannot listen: unknown host ({leaf.strerror}); check SKRUNTIME_LISTEN"
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        out: list[BaseException] = []
        for inner in exc.exceptions:
            out.extend(_leaves(inner))
        return out
    return [exc]
