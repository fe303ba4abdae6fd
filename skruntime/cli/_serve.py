"""``skruntime serve``: run the server (the HTTP API is not built yet)."""

from __future__ import annotations

import argparse
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the server")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    print("skruntime serve: the HTTP server is not built yet (see the open issue on the runtime and API)", file=sys.stderr)
    return 2
