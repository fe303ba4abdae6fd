"""Finds the compiled native kernel, or explains why the pure twin is used.

The kernel (``skruntime._native``, built from ``native/`` by cffi at install
time) is optional: every native function has a pure-Python twin that gives the
same answers.  ``SKRUNTIME_FORCE_PURE=1`` forces the twins, which is how the
test suite checks that both agree.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

__all__ = ["load_native", "native_status"]

_FORCE_ENV = "SKRUNTIME_FORCE_PURE"
_status = "unloaded"
_module: ModuleType | None = None
_loaded = False


def load_native() -> ModuleType | None:
    """Return the cffi module (with ``.ffi`` and ``.lib``), or ``None``.

    ``None`` when ``SKRUNTIME_FORCE_PURE`` is set, or when the module was not
    built (a warning says so once: the pure twins are much slower).
    """
    global _module, _loaded, _status
    if _loaded:
        return _module
    _loaded = True
    if os.environ.get(_FORCE_ENV, "") not in ("", "0"):
        _status = f"pure ({_FORCE_ENV} is set)"
        return None
    try:
        from skruntime import _native  # type: ignore[attr-defined]
    except ImportError as exc:  # pragma: no cover - depends on the install
        _status = f"pure (native kernel not built: {exc})"
        warnings.warn(
            "skruntime's native kernel is not built; using the slower pure-Python "
            "twins. Reinstall with a C compiler available (pip install .).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    _module = _native
    _status = "native"
    return _module


def native_status() -> str:
    """A human-readable word on which implementation is in use."""
    load_native()
    return _status
