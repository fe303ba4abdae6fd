"""The ``skruntime`` command line: the server and the operator's chores.

Each group of subcommands lives in its own module and registers itself with
:func:`register`-style ``add_parser`` functions listed in ``_COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

# Modules that contribute subcommands; each defines ``add_commands(subparsers)``.
_COMMAND_MODULES = ("skruntime.cli._serve", "skruntime.cli._store", "skruntime.cli._apikeys", "skruntime.cli._remote")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skruntime", description="skruntime statechart hosting server")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skruntime`` script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
