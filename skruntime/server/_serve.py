"""``serve()``: the server's lifecycle on one trio loop.

Start-up, in order:

1. check the configuration and open the store (a missing or wrong master key
   fails here, before anything listens; a new key file is announced loudly);
2. start hypercorn on ``server.listen``: ``/healthz`` answers at once,
   ``/readyz`` and every authenticated route answer 503 until step 4;
3. run the runtime (it recovers every shard before it reports started);
4. load the API keys, bootstrap the first admin key if there is none
   (printed once, loudly, when generated), and report
   ``task_status.started(bound_addresses)``.

Shutdown (SIGINT/SIGTERM, or the ``shutdown_trigger``): ``/readyz`` turns
503, new authenticated calls get 503 and WebSockets close with 1001; the
runtime drains what it has queued (every accepted event is answered once
durable, within ``server.graceful_timeout``); then hypercorn stops, giving
open connections the same grace.  A second SIGINT aborts at once.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve as hypercorn_serve

from .._config import Config
from .._exceptions import ConfigError
from ..runtime import Runtime
from ..store import LmdbStore, run_backup_schedule
from ._app import create_app, server_state
from ._auth import ApiKeys, looks_like_key
from ._hypercorn import install as adjust_hypercorn

__all__ = ["serve"]

log = logging.getLogger("skruntime.server")


async def serve(
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    handle_signals: bool = True,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the v1 API until a shutdown signal, then shut down gracefully.

    Args:
        config: the process configuration.
        shutdown_trigger: an awaitable that returns when the server should
            stop (tests); signals work as well unless ``handle_signals`` is
            false.
        handle_signals: stop on SIGINT/SIGTERM (only from the main thread).
        task_status: receives the bound addresses (``["http://127.0.0.1:8640"]``)
            once the server is ready: recovery complete, keys loaded.

    Raises:
        ConfigError: an invalid setting (e.g. a malformed bootstrap key).
        KeyConfigError: the master key is missing, malformed or wrong.
        StoreError: the data directory cannot be opened.
        OSError: the listen address cannot be bound.
    """
    bootstrap_key = config.security.bootstrap_key
    if bootstrap_key and not looks_like_key(bootstrap_key):
        raise ConfigError("SKRUNTIME_BOOTSTRAP_KEY", "must be an API key: 'sk_' followed by 43 URL-safe base64 characters")
    key_file = Path(config.security.key_file)
    may_create_key = not config.security.master_key and not key_file.exists()
    store = LmdbStore.open(config)
    try:
        if may_create_key and key_file.exists():
            _announce_key_file(key_file.absolute(), Path(config.store.data_dir).absolute())
        runtime = Runtime(config, store)
        auth = ApiKeys(store)
        app = create_app(runtime, auth, config)
        state = server_state(app)
        stop = trio.Event()
        server_stop = trio.Event()
        async with trio.open_nursery() as outer:
            if handle_signals:
                outer.start_soon(_wait_for_signal, stop)
            if shutdown_trigger is not None:
                outer.start_soon(_wait_for_trigger, shutdown_trigger, stop)
            async with trio.open_nursery() as server:
                binds: list[str] = await server.start(_run_hypercorn, app, _hypercorn_config(config), server_stop.wait)
                async with trio.open_nursery() as running:
                    await running.start(runtime.run)  # recovery
                    await auth.load()
                    secret = await auth.bootstrap(bootstrap_key)
                    if secret is not None:
                        _announce_bootstrap_key(secret)
                    outer.start_soon(auth.refresh_forever)
                    await outer.start(run_backup_schedule, store, config.backup)  # returns at once when disabled
                    task_status.started(binds)
                    await stop.wait()
                    log.info("shutting down: draining queued events, then closing connections")
                    state.closing.set()  # readyz 503, new calls 503, WebSockets close 1001
                    runtime.stop()  # runtime.run answers what is queued (bounded by graceful_timeout), then returns
                server_stop.set()  # hypercorn: stop accepting, give open connections graceful_timeout
            outer.cancel_scope.cancel()  # signal and trigger waiters, the key refresher
    finally:
        store.close()


async def _run_hypercorn(
    app: object,
    config: HyperConfig,
    shutdown_trigger: Callable[[], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    adjust_hypercorn()
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger, task_status=task_status)  # type: ignore[arg-type]


def _hypercorn_config(config: Config) -> HyperConfig:
    hyper = HyperConfig()
    hyper.bind = [config.server.listen]
    hyper.graceful_timeout = config.server.graceful_timeout
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.websocket_max_message_size = config.limits.max_body_bytes
    hyper.include_server_header = False
    return hyper


async def _wait_for_signal(stop: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.warning("received %s: shutting down (send SIGINT again to abort)", signal.Signals(signum).name)
            stop.set()
            return


async def _wait_for_trigger(trigger: Callable[[], Awaitable[None]], stop: trio.Event) -> None:
    await trigger()
    stop.set()


def _banner(lines: list[str]) -> None:
    width = max(len(line) for line in lines) + 4
    rule = "!" * width
    print(rule, file=sys.stderr)
    for line in lines:
        print(f"! {line.ljust(width - 4)} !", file=sys.stderr)
    print(rule, file=sys.stderr, flush=True)


def _announce_key_file(path: Path, data_dir: Path) -> None:
    _banner(
        [
            "CREATED A NEW MASTER KEY FILE:",
            f"  {path}",
            f"Every record in {data_dir} is encrypted under it.",
            "Back it up now, separately from the data: without it the data cannot be read.",
        ]
    )


def _announce_bootstrap_key(secret: str) -> None:
    _banner(
        [
            "The store had no API keys: created this admin key (shown once, never again):",
            f"  {secret}",
            "Use it as 'Authorization: Bearer <key>'; create narrower keys with POST /v1/keys.",
        ]
    )
