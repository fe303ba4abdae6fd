"""The statechart core stays pure: it never imports I/O, concurrency or time."""

import ast
from pathlib import Path

import skruntime.statechart

FORBIDDEN = {"trio", "quart", "quart_trio", "hypercorn", "lmdb", "cffi", "time", "datetime", "asyncio", "os", "socket", "random"}
PACKAGE = Path(skruntime.statechart.__file__).parent


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level >= 2:
            # from .. import x: only the exceptions and the pure helpers may be reached
            assert node.module in ("_exceptions", "_util"), f"{path.name}:{node.lineno} imports ..{node.module}"


def test_statechart_imports_nothing_impure():
    offenders = [
        f"{path.name}:{line} imports {name}"
        for path in sorted(PACKAGE.glob("*.py"))
        for name, line in _imports(path)
        if name in FORBIDDEN or name == "skruntime"
    ]
    assert offenders == []
