"""Operator commands that talk to a running server through the SDK.

``deploy FILE``, ``preview FILE``, ``spawn``, ``send``, ``get``,
``decisions``, ``deployment``.  The server and key come from ``--url`` /
``--key``, else ``SKRUNTIME_URL`` / ``SKRUNTIME_API_KEY``, else the file
``~/.config/skruntime/cli.toml`` (``url = ...``, ``key = ...``), else
``http://127.0.0.1:8640``.  Definitions may be JSON or YAML.  ``--json``
prints the server's answer as JSON for scripts.

Exit codes (stable, for scripts): 0 success; 1 the server rejected the
request (its problem is printed); 2 usage or input error; 3 the server could
not be reached or was unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._store import spinner

__all__ = ["add_commands", "EXIT_OK", "EXIT_REJECTED", "EXIT_USAGE", "EXIT_UNREACHABLE"]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
DEFAULT_URL = "http://127.0.0.1:8640"
CONFIG_FILE = Path("~/.config/skruntime/cli.toml")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    def command(name: str, help: str, handler: Callable[[argparse.Namespace, Any], int]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help)
        p.add_argument("--url", help=f"server URL (env SKRUNTIME_URL; default {DEFAULT_URL})")
        p.add_argument("--key", help="API key (env SKRUNTIME_API_KEY)")
        p.add_argument("--json", action="store_true", help="print the answer as JSON")
        p.set_defaults(handler=lambda args: _run(args, handler))
        return p

    p = command("deploy", "deploy a version from a JSON or YAML file", _deploy)
    _definition_args(p)
    p.add_argument("--expect-token", help="apply only if the evaluation matches this preview token")

    p = command("preview", "show what deploying a version would do, without writing", _preview)
    _definition_args(p)
    p.add_argument("--sample", type=int, default=10, help="actors shown per group (default 10)")
    p.add_argument("--summary", action="store_true", help="counts only")

    p = command("spawn", "spawn an actor", _spawn)
    p.add_argument("version_id")
    p.add_argument("--actor-id")
    p.add_argument("--context", help="JSON object")
    p.add_argument("--guard", action="append", default=[], metavar="NAME=true|false", help="spawn guard answer (repeatable)")

    p = command("send", "send an event to an actor", _send)
    p.add_argument("actor_id")
    p.add_argument("event_type")
    p.add_argument("--payload", help="JSON object")
    p.add_argument("--guard", action="append", default=[], metavar="NAME=true|false", help="guard answer (repeatable)")
    p.add_argument("--idempotency-key")

    p = command("get", "show an actor", _get)
    p.add_argument("actor_id")

    p = command("decisions", "show an actor's migration decisions", _decisions)
    p.add_argument("actor_id")

    p = command("deployment", "show what a deployment did", _deployment)
    p.add_argument("deployment_id")


def _definition_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a definition, or a whole deploy body {id, parentId?, historyPath?, definition}")
    p.add_argument("--id", dest="version_id", help="version id (default: the body's id)")
    p.add_argument("--parent", help="parent version id")
    p.add_argument("--path", help="historyPath as comma-separated event types")


class UsageError(Exception):
    pass


def _run(args: argparse.Namespace, handler: Callable[[argparse.Namespace, Any], int]) -> int:
    from ..client import ApiError, Client, ServerUnavailableError, TransportError

    url, key = _connection(args)
    try:
        with Client(url, api_key=key) as client:
            return handler(args, client)
    except UsageError as exc:
        print(f"skruntime: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServerUnavailableError as exc:
        _print_problem(exc, args)
        return EXIT_UNREACHABLE
    except ApiError as exc:
        _print_problem(exc, args)
        return EXIT_REJECTED
    except TransportError as exc:
        print(f"skruntime: cannot reach {url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _connection(args: argparse.Namespace) -> tuple[str, str | None]:
    file_settings: dict[str, Any] = {}
    path = CONFIG_FILE.expanduser()
    if path.is_file():
        try:
            file_settings = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            file_settings = {}
    url = args.url or os.environ.get("SKRUNTIME_URL") or file_settings.get("url") or DEFAULT_URL
    key = args.key or os.environ.get("SKRUNTIME_API_KEY") or file_settings.get("key")
    return str(url), (None if key is None else str(key))


def _print_problem(exc: Any, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(exc.problem, indent=2), file=sys.stderr)
        return
    line = f"error: {exc.status} {exc.slug}: {exc.detail}"
    pointer = exc.problem.get("pointer")
    if pointer:
        line += f" (at {pointer})"
    accepted = exc.problem.get("accepted")
    if accepted is not None:
        line += f"; accepted events: {', '.join(accepted) or 'none'}"
    print(line, file=sys.stderr)


def _emit(args: argparse.Namespace, data: Any, render: Callable[[Any], None]) -> int:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render(data)
    return EXIT_OK


def _console() -> Any:
    from rich.console import Console

    return Console()


def _load_body(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.file)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # yaml and json raise different types; both are input errors
        raise UsageError(f"{path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON object")
    body = data if "definition" in data else {"definition": data}
    if args.version_id:
        body["id"] = args.version_id
    if args.parent:
        body["parentId"] = args.parent
    if args.path:
        body["historyPath"] = [t.strip() for t in args.path.split(",") if t.strip()]
    if "id" not in body:
        raise UsageError("give the version id with --id (or an 'id' in the file)")
    return body


def _guards(items: list[str]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or value not in ("true", "false"):
            raise UsageError(f"--guard {item!r}: expected NAME=true or NAME=false")
        out[name] = value == "true"
    return out


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None


# -- commands -------------------------------------------------------------------------


def _deploy(args: argparse.Namespace, client: Any) -> int:
    body = _load_body(args)
    with spinner(f"deploying {body['id']}"):
        result = client.deploy(body["id"], body["definition"], parent_id=body.get("parentId"),
                               history_path=body.get("historyPath"), expect_token=args.expect_token)

    def render(_: Any) -> None:
        console = _console()
        verb = "deployed" if result.created else "already deployed (identical body)"
        console.print(f"[bold]{result.version.id}[/bold] {verb}")
        if result.deployment is not None:
            _counts_table(console, result.deployment.raw, f"deployment {result.deployment.deployment_id}")

    return _emit(args, {"version": result.version.raw, "deployment": None if result.deployment is None else result.deployment.raw,
                        "created": result.created}, render)


def _preview(args: argparse.Namespace, client: Any) -> int:
    body = _load_body(args)
    if "parentId" not in body:
        raise UsageError("a preview needs a parent: --parent VERSION (or parentId in the file)")
    with spinner(f"evaluating the actors of {body['parentId']}"):
        preview = client.preview(body["id"], body["definition"], parent_id=body["parentId"], history_path=body.get("historyPath"),
                                 summary=args.summary)

    def render(_: Any) -> None:
        from rich.table import Table

        console = _console()
        _counts_table(console, preview.counts, f"preview of {body['id']} over {body['parentId']}")
        if not args.summary:
            landings: dict[str, list[str]] = {}
            for item in preview.would_migrate:
                landings.setdefault(json.dumps(item["to"]), []).append(item["actorId"])
            table = Table(title="would migrate, by landing state")
            table.add_column("landing state")
            table.add_column("actors", justify="right")
            table.add_column("sample")
            for landing, actors in sorted(landings.items(), key=lambda kv: -len(kv[1])):
                table.add_row(landing, str(len(actors)), ", ".join(actors[: args.sample]))
            console.print(table)
            stays: dict[str, list[str]] = {}
            for item in preview.would_stay:
                stays.setdefault(item["reason"], []).append(item["actorId"])
            table = Table(title="would stay, by reason")
            table.add_column("reason")
            table.add_column("actors", justify="right")
            table.add_column("sample")
            for reason, actors in sorted(stays.items()):
                table.add_row(reason, str(len(actors)), ", ".join(actors[: args.sample]))
            console.print(table)
        console.print(f"preview token: [bold]{preview.preview_token}[/bold]")
        console.print("deploy exactly this with: skruntime deploy FILE --expect-token TOKEN")

    return _emit(args, preview.raw, render)


def _counts_table(console: Any, counts: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("")
    table.add_column("actors", justify="right")
    table.add_row("evaluated", str(counts.get("evaluated", 0)))
    table.add_row("migrated", str(counts.get("migrated", 0)))
    table.add_row("stayed", str(counts.get("stayed", 0)))
    for reason, n in sorted(counts.get("byReason", {}).items()):
        table.add_row(f"  {reason}", str(n))
    console.print(table)


def _spawn(args: argparse.Namespace, client: Any) -> int:
    context = _json_arg(args.context, "--context")
    if context is not None and not isinstance(context, dict):
        raise UsageError("--context must be a JSON object")
    actor = client.spawn(args.version_id, actor_id=args.actor_id, context=context, guards=_guards(args.guard))
    return _emit(args, actor.raw, lambda _: _actor_table(actor.raw))


def _send(args: argparse.Namespace, client: Any) -> int:
    result = client.send(args.actor_id, args.event_type, payload=_json_arg(args.payload, "--payload"),
                         guards=_guards(args.guard), idempotency_key=args.idempotency_key)

    def render(_: Any) -> None:
        console = _console()
        console.print(f"{result.actor_id} seq {result.seq}: {json.dumps(result.state_value)} ({result.status})")
        for effect in result.effects:
            console.print(f"  effect {effect['type']}" + (f" {json.dumps(effect['params'])}" if "params" in effect else ""))

    return _emit(args, result.raw, render)


def _get(args: argparse.Namespace, client: Any) -> int:
    actor = client.get(args.actor_id)
    return _emit(args, actor.raw, lambda _: _actor_table(actor.raw))


def _actor_table(data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(show_header=False)
    for key in ("actorId", "versionId", "stateValue", "status", "context", "seq", "fingerprint", "createdAt", "updatedAt", "effects"):
        if key in data:
            value = data[key]
            table.add_row(key, value if isinstance(value, str) else json.dumps(value))
    _console().print(table)


def _decisions(args: argparse.Namespace, client: Any) -> int:
    decisions = client.decisions(args.actor_id)

    def render(_: Any) -> None:
        from rich.table import Table

        table = Table(title=f"decisions for {args.actor_id} (--json for fingerprints and times)")
        for column in ("deployment", "versions", "decision", "reason", "landing"):
            table.add_column(column, overflow="fold")
        for d in decisions:
            versions = f"{d.from_version} -> {d.to_version}" if d.to_version else d.from_version
            table.add_row(d.deployment_id, versions, d.decision, d.reason, json.dumps(d.landing_state))
        _console().print(table)

    return _emit(args, [d.raw for d in decisions], render)


def _deployment(args: argparse.Namespace, client: Any) -> int:
    deployment = client.deployment(args.deployment_id)
    return _emit(args, deployment.raw, lambda _: _counts_table(_console(), deployment.raw, f"deployment {deployment.deployment_id}"))
