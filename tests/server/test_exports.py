"""The server package's public surface is deliberate, and nothing below it imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import skruntime
import skruntime.server


def test_server_all() -> None:
    assert skruntime.server.__all__ == ["ApiKey", "ApiKeys", "LocalRouter", "Router", "create_app", "serve"]
    public = {name for name in vars(skruntime.server) if not name.startswith("_")}
    assert public == set(skruntime.server.__all__)
    assert skruntime.server.ApiKeys.__module__ == "skruntime.server"


def test_lower_layers_never_import_the_server() -> None:
    root = Path(skruntime.__file__).parent
    offenders = []
    for package in ("runtime", "store", "statechart"):
        for path in sorted((root / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and "server" in node.module.split("."):
                    offenders.append(f"{package}/{path.name}:{node.lineno}")
                elif isinstance(node, ast.Import) and any("server" in a.name.split(".") for a in node.names):
                    offenders.append(f"{package}/{path.name}:{node.lineno}")
    assert offenders == []
