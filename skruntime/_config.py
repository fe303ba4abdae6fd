"""Configuration: one typed object, read from TOML, overridden by environment.

Precedence, lowest first: the defaults below (also written out, with comments,
in ``conf/skruntime.toml``), the TOML file named by ``SKRUNTIME_CONFIG`` (or
``conf/skruntime.toml`` in the working directory when it exists), then
environment variables.  The variables of SPEC section 8 keep their fixed names
(``SKRUNTIME_LISTEN``, ``SKRUNTIME_DATA_DIR``, ``SKRUNTIME_MASTER_KEY``,
``SKRUNTIME_KEY_FILE``, ``SKRUNTIME_BOOTSTRAP_KEY``); every other setting is
``SKRUNTIME_<SECTION>_<NAME>`` in upper case, e.g.
``SKRUNTIME_LIMITS_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._exceptions import ConfigError

__all__ = ["Config", "DAYS", "GIB", "HOURS", "KIB", "MIB", "MINUTES", "SECONDS"]

SECONDS = 1.0
MINUTES = 60 * SECONDS
HOURS = 60 * MINUTES
DAYS = 24 * HOURS
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# Settings whose environment names are fixed by the SPEC.
_FIXED_ENV = {
    ("server", "listen"): "SKRUNTIME_LISTEN",
    ("store", "data_dir"): "SKRUNTIME_DATA_DIR",
    ("security", "master_key"): "SKRUNTIME_MASTER_KEY",
    ("security", "key_file"): "SKRUNTIME_KEY_FILE",
    ("security", "bootstrap_key"): "SKRUNTIME_BOOTSTRAP_KEY",
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:8640"  # host:port
    graceful_timeout: float = 10 * SECONDS  # drain deadline on shutdown


@dataclass(frozen=True, slots=True)
class StoreConfig:
    data_dir: str = "./data"
    map_size: int = 8 * GIB  # LMDB map size; grows the file lazily
    shards: int = 256  # fixed when a store is created; kept in its metadata
    max_batch_records: int = 20_000  # group commit: records per transaction, at most
    zstd_level: int = -1  # record compression: -1 ~2.5 us per 500 B record; 1 is ~25% smaller, ~5 us


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    master_key: str = ""  # base64 of 32 bytes; env only in practice
    key_file: str = "./skruntime.key"
    bootstrap_key: str = ""  # an sk_... key made admin when the store has none


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    max_body_bytes: int = 1 * MIB  # any request body (413 above)
    max_definition_bytes: int = 512 * KIB
    max_states: int = 5_000  # state nodes per definition
    max_depth: int = 32  # nesting depth of a definition
    max_batch_events: int = 1_000  # POST /v1/events/batch
    max_history_path: int = 256  # events in a historyPath
    max_iterations: int = 1_000  # microsteps per macrostep before InfiniteLoopError


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    idempotency_ttl: float = 1 * DAYS
    watch_queue: int = 1_000  # frames buffered per WebSocket subscriber before 4008
    workers: int = 4  # trio tasks serving the shards (each owns a fixed set of shards)
    checkpoint_every: int = 16  # events between rewrites of an actor's record (replayed at recovery)


@dataclass(frozen=True, slots=True)
class BackupConfig:
    interval: float = 0.0  # seconds between scheduled backups; 0 disables
    dir: str = "./backups"
    keep: int = 7  # scheduled backups retained


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of a skruntime process.

    Build it with :meth:`load` (file + environment), :meth:`from_toml`, or
    :meth:`from_mapping`; all three validate and raise :class:`ConfigError`
    naming the bad setting.
    """

    server: ServerConfig = field(default_factory=ServerConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Config:
        """Build from a nested mapping shaped like the TOML file."""
        sections: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = data.get(f.name, {})
            if not isinstance(raw, Mapping):
                raise ConfigError(f.name, "must be a table")
            defaults = _section_defaults(f)
            values: dict[str, Any] = {}
            known = {sf.name: sf for sf in dataclasses.fields(defaults)}
            for key, value in raw.items():
                if key not in known:
                    raise ConfigError(f"{f.name}.{key}", "unknown setting")
                values[key] = _coerce(f"{f.name}.{key}", getattr(defaults, key), value)
            sections[f.name] = dataclasses.replace(defaults, **values)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(sorted(unknown)[0], "unknown section")
        config = cls(**sections)
        config._validate()
        return config

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Config:
        """Read a TOML file (no environment overrides)."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        return cls.from_mapping(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
        """The process configuration: file (if any), then environment overrides.

        Args:
            path: a TOML file; default ``$SKRUNTIME_CONFIG``, else
                ``conf/skruntime.toml`` if it exists, else built-in defaults.
            env: the environment to read (default ``os.environ``).
        """
        env = os.environ if env is None else env
        if path is None:
            path = env.get("SKRUNTIME_CONFIG") or None
            if path is None and Path("conf/skruntime.toml").is_file():
                path = "conf/skruntime.toml"
        data: dict[str, Any] = {}
        if path is not None:
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except OSError as exc:
                raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
        merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
        for f in dataclasses.fields(cls):
            for sf in dataclasses.fields(_section_defaults(f)):
                name = _FIXED_ENV.get((f.name, sf.name), f"SKRUNTIME_{f.name}_{sf.name}".upper())
                if name in env:
                    merged.setdefault(f.name, {})[sf.name] = env[name]
        return cls.from_mapping(merged)

    @property
    def listen_host(self) -> str:
        return self.server.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.server.listen.rsplit(":", 1)[1])

    def _validate(self) -> None:
        host, sep, port = self.server.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError("server.listen", f"expected host:port, got {self.server.listen!r}")
        if not 1 <= self.store.shards <= 65536:
            raise ConfigError("store.shards", "must be between 1 and 65536")
        if self.store.map_size < 1 * MIB:
            raise ConfigError("store.map_size", "must be at least 1 MiB")
        if not -100 <= self.store.zstd_level <= 22:
            raise ConfigError("store.zstd_level", "must be between -100 and 22")
        positive = {
            "limits.max_body_bytes": self.limits.max_body_bytes,
            "limits.max_definition_bytes": self.limits.max_definition_bytes,
            "limits.max_states": self.limits.max_states,
            "limits.max_depth": self.limits.max_depth,
            "limits.max_batch_events": self.limits.max_batch_events,
            "limits.max_history_path": self.limits.max_history_path,
            "limits.max_iterations": self.limits.max_iterations,
            "runtime.watch_queue": self.runtime.watch_queue,
            "runtime.workers": self.runtime.workers,
            "runtime.checkpoint_every": self.runtime.checkpoint_every,
            "store.max_batch_records": self.store.max_batch_records,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(name, "must be positive")
        if self.backup.interval < 0 or self.backup.keep < 1:
            raise ConfigError("backup", "interval must be >= 0 and keep >= 1")


def _section_defaults(f: dataclasses.Field[Any]) -> Any:
    """A config section's default instance (every section field has a factory)."""
    factory = f.default_factory
    assert callable(factory)
    return factory()


_UNITS = {"kib": KIB, "mib": MIB, "gib": GIB, "kb": KIB, "mb": MIB, "gb": GIB, "b": 1}
_DURATIONS = {"ms": 0.001, "s": SECONDS, "m": MINUTES, "h": HOURS, "d": DAYS}


def _coerce(name: str, default: Any, value: Any) -> Any:
    """Convert a TOML or environment value to the type of the default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            return str(value).lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            text = str(value).strip().lower().replace("_", "")
            for unit, factor in _UNITS.items():
                if text.endswith(unit) and text[: -len(unit)].strip().replace(".", "", 1).isdigit():
                    return int(float(text[: -len(unit)]) * factor)
            return int(text)
        if isinstance(default, float):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            text = str(value).strip().lower()
            for unit in ("ms", "s", "m", "h", "d"):
                if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
                    return float(text[: -len(unit)]) * _DURATIONS[unit]
            return float(text)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        pass
    raise ConfigError(name, f"invalid value {value!r}")
