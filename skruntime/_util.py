"""Small helpers shared by the package's namespaces."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["CONTROL_CHARACTERS", "fixup_module_metadata"]

# Unicode's control characters (category Cc): C0, DEL and C1.  Names, ids
# and event types refuse them (SPEC section 3: "no control characters").
CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def fixup_module_metadata(module_name: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Make classes and functions re-exported by ``module_name`` report it as
    their ``__module__``, so tracebacks and reprs show the public path
    (``skruntime.store.LmdbStore``), not the private module they live in."""
    for name in names:
        obj = namespace[name]
        if getattr(obj, "__module__", "").startswith(module_name + "."):
            obj.__module__ = module_name
