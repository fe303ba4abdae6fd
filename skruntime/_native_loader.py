"""Finds the compiled native kernel, or explains why the pure twin is used.

The kernel (``skruntime._native``, built from ``native/`` by cffi at install
time) is optional: every native function has a pure-Python twin that gives the
same answers.  ``SKRUNTIME_FORCE_PURE=1`` forces the twins, which is how the
test suite checks that both agree.

The record sealer in the kernel (``native/seal.c``) is built only when
OpenSSL and libzstd were found at install time; :func:`load_sealer` says
whether it is there (the store's Python codec does the same work otherwise).
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

__all__ = ["load_native", "load_sealer", "native_status"]

_FORCE_ENV = "SKRUNTIME_FORCE_PURE"
_status = "unloaded"
_module: ModuleType | None = None
_loaded = False
_sealer_checked = False
_sealer: ModuleType | None = None


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


def load_sealer() -> ModuleType | None:
    """The kernel module if it has the record sealer, else ``None``.

    ``None`` under ``SKRUNTIME_FORCE_PURE``, without the kernel (whose
    absence :func:`load_native` reports), or when the kernel was built
    without OpenSSL or libzstd (a warning says so once).
    """
    global _sealer, _sealer_checked
    if _sealer_checked:
        return _sealer
    native = load_native()
    _sealer_checked = True
    if native is None:
        return None
    if not _has_sealer(native):
        warnings.warn(
            "skruntime's native kernel was built without its record sealer (OpenSSL headers or "
            "libzstd were missing at install time); the store seals records in Python, which "
            "is slower. Install libssl-dev and libzstd, then reinstall.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    _sealer = native
    return _sealer


def _has_sealer(native: ModuleType) -> bool:
    # A kernel built before the sealer existed has no skr_seal_available.
    available = getattr(native.lib, "skr_seal_available", None)
    return available is not None and bool(available())


def native_status() -> str:
    """A human-readable word on which implementation is in use."""
    load_native()
    if _module is None:
        return _status
    sealer = "with" if _has_sealer(_module) else "without"
    return f"{_status} ({sealer} the record sealer)"
