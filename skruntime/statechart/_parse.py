"""Compile and validate a definition (XState v5 JSON) into the model.

Validation is strict where XState is lenient, because a deploy is the last
moment an operator can hear about a mistake: an unknown key is an error (it is
usually a typo, or an XState v4 spelling), and so is anything that needs code
(``invoke``, named delays, built-in ``xstate.*`` actions).  Every error is a
:class:`DefinitionError` carrying the JSON Pointer of the offending node.

Object key order follows JavaScript's rules (integer-like keys first, in
ascending order, then the rest in insertion order), because XState derives
document order, and so transition priority, from ``Object.keys``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import DefinitionError
from .._util import CONTROL_CHARACTERS as _CONTROL
from ._algorithm import history_default_targets
from ._events import RESERVED_PREFIX, after_event_type, is_wildcard
from ._model import (
    ATOMIC,
    COMPOUND,
    FINAL,
    HISTORY,
    PARALLEL,
    AndGuard,
    Arm,
    Cancel,
    Guard,
    NameGuard,
    Node,
    NotGuard,
    OrGuard,
    StateInGuard,
    Transition,
)

__all__ = ["CompiledDefinition", "Limits", "compile_definition", "json_pointer"]

_RESERVED_GUARDS = frozenset({"and", "or", "not", "stateIn"})
_NODE_TYPES = frozenset({ATOMIC, COMPOUND, PARALLEL, FINAL, HISTORY})
_MAX_NAME = 128
_MAX_DELAY_MS = 10 * 366 * 24 * 3600 * 1000  # ten years
_LOOKS_LIKE_CODE = re.compile(r"=>|^\s*(async\s+)?function\b|[(){};]")
_ARRAY_INDEX_LIMIT = 2**32 - 1

# Keys that exist in some XState version but need code or were renamed: each
# gets its own explanation instead of a bare "unknown key".
_UNSUPPORTED = {
    "invoke": "invoke runs actors (code); skruntime never runs user code. Model the work as events sent by the caller",
    "delays": "named delays need code; write the delay in milliseconds as the 'after' key",
    "actors": "actors are code; skruntime never runs user code",
    "guards": "guard implementations are code; callers answer guards per event instead",
    "actions": "action implementations are code; skruntime reports actions as effects instead",
    "route": "route transitions are not supported",
    "schemas": "schemas are not supported",
    "types": "TypeScript types are not part of a JSON definition",
    "activities": "activities were removed in XState v5 and need code",
    "onEntry": "XState v4 spelling; use 'entry'",
    "onExit": "XState v4 spelling; use 'exit'",
    "data": "XState v4 spelling; use 'output'",
    "strict": "strict mode was removed in XState v5",
    "predictableActionArguments": "XState v4 option; not needed in v5",
    "preserveActionOrder": "XState v4 option; not needed in v5",
    "parallel": "use \"type\": \"parallel\"",
    "key": "state keys come from the 'states' object",
    "options": "machine options are not part of a JSON definition",
}
_TRANSITION_UNSUPPORTED = {
    "cond": "XState v4 spelling; use 'guard'",
    "internal": "XState v4 spelling; use 'reenter' (internal: false means reenter: true)",
    "in": "XState v4 'in' guard; use {\"type\": \"stateIn\", \"stateValue\": ...}",
    "delay": "delays belong in 'after' keys",
    "event": "the event is the 'on' key",
    "source": "the source is the state the transition is declared on",
}

_ROOT_KEYS = frozenset(
    {"id", "version", "initial", "states", "type", "on", "always", "after", "entry", "exit",
     "context", "output", "tags", "meta", "description", "onDone"}
)
_NODE_KEYS = frozenset(
    {"id", "initial", "states", "type", "on", "always", "after", "entry", "exit", "onDone",
     "output", "tags", "meta", "description"}
)
_HISTORY_KEYS = frozenset({"type", "history", "target", "id", "meta", "description"})
_TRANSITION_KEYS = frozenset({"target", "guard", "actions", "reenter", "description", "meta"})


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits applied while compiling (deploy-time input limits)."""

    max_states: int = 5_000
    max_depth: int = 32


@dataclass(frozen=True, slots=True)
class CompiledDefinition:
    """The result of compiling a definition."""

    root: Node
    nodes: tuple[Node, ...]  # document order; nodes[i].order == i
    by_id: Mapping[str, Node]
    context: Mapping[str, Any]
    guard_names: frozenset[str]  # every name a caller may be asked to answer
    event_descriptors: frozenset[str]  # every 'on' key


def json_pointer(*parts: str | int) -> str:
    """RFC 6901 pointer from path segments."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < _ARRAY_INDEX_LIMIT


def js_keys(obj: Mapping[str, Any]) -> list[str]:
    """Object keys in JavaScript's ``Object.keys`` order."""
    keys = list(obj)
    indices = [k for k in keys if _is_array_index(k)]
    if not indices:
        return keys
    indices.sort(key=int)
    return indices + [k for k in keys if not _is_array_index(k)]


def compile_definition(definition: Any, limits: Limits | None = None) -> CompiledDefinition:
    """Validate ``definition`` and compile it.

    Args:
        definition: the machine config, decoded JSON.
        limits: size limits (defaults: :class:`Limits`).

    Returns:
        The compiled model.

    Raises:
        DefinitionError: with the JSON Pointer of the first problem found.
    """
    return _Compiler(limits or Limits()).compile(definition)


class _Compiler:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.nodes: list[Node] = []
        self.by_id: dict[str, Node] = {}
        self.guard_names: set[str] = set()
        self.descriptors: set[str] = set()
        self.configs: dict[Node, Mapping[str, Any]] = {}

    # -- structure ---------------------------------------------------------

    def compile(self, definition: Any) -> CompiledDefinition:
        if not isinstance(definition, Mapping):
            raise DefinitionError("", "a definition must be a JSON object")
        machine_id = definition.get("id", "(machine)")
        if not isinstance(machine_id, str):
            raise DefinitionError("/id", "the machine id must be a string")
        self._check_id(machine_id, "/id")
        version = definition.get("version")
        if version is not None and not isinstance(version, str):
            raise DefinitionError("/version", "version must be a string")
        context = definition.get("context", {})
        if not isinstance(context, Mapping):
            raise DefinitionError("/context", "context must be a JSON object")
        root = self._build(definition, key=machine_id, parent=None, pointer="", machine_id=machine_id)
        # Second pass: everything that refers to other nodes.
        for node in self.nodes:
            self._link(node, self.configs[node])
        self._check_history_defaults()
        return CompiledDefinition(
            root=root,
            nodes=tuple(self.nodes),
            by_id=dict(self.by_id),
            context=context,
            guard_names=frozenset(self.guard_names),
            event_descriptors=frozenset(self.descriptors),
        )

    def _build(self, config: Any, key: str, parent: Node | None, pointer: str, machine_id: str) -> Node:
        if not isinstance(config, Mapping):
            raise DefinitionError(pointer, "a state must be a JSON object")
        if len(self.nodes) >= self.limits.max_states:
            raise DefinitionError(pointer, f"the definition has more than {self.limits.max_states} states")
        depth = 0 if parent is None else parent.depth + 1
        if depth > self.limits.max_depth:
            raise DefinitionError(pointer, f"states are nested more than {self.limits.max_depth} levels deep")

        node_type = self._node_type(config, pointer)
        allowed = _ROOT_KEYS if parent is None else (_HISTORY_KEYS if node_type == HISTORY else _NODE_KEYS)
        for k in config:
            if k not in allowed:
                self._reject_key(k, pointer, node_type)

        custom_id = config.get("id") if parent is not None else None
        if custom_id is not None:
            if not isinstance(custom_id, str):
                raise DefinitionError(json_pointer_join(pointer, "id"), "a state id must be a string")
            self._check_id(custom_id, json_pointer_join(pointer, "id"))
            node_id = custom_id
        elif parent is None:
            node_id = machine_id
        else:
            path = [n.key for n in reversed((parent, *parent.ancestors)) if n.parent is not None]
            node_id = ".".join([machine_id, *path, key])
        if node_id in self.by_id:
            where = self.by_id[node_id].pointer or "/"
            raise DefinitionError(
                json_pointer_join(pointer, "id") if custom_id is not None else pointer,
                f"duplicate state id {node_id!r} (also used by the state at {where})",
            )

        node = Node(len(self.nodes), key, node_id, node_type, parent, pointer)
        self.nodes.append(node)
        self.by_id[node_id] = node
        self.configs[node] = config

        if node_type == HISTORY:
            if parent is None:
                raise DefinitionError(pointer, "the root cannot be a history state")
            history = config.get("history", "shallow")
            if history is True:
                history = "shallow"
            if history not in ("shallow", "deep"):
                raise DefinitionError(json_pointer_join(pointer, "history"), "history must be \"shallow\" or \"deep\"")
            node.history = history
            return node

        states = config.get("states")
        if states is not None:
            if not isinstance(states, Mapping):
                raise DefinitionError(json_pointer_join(pointer, "states"), "states must be a JSON object")
            if states and node_type in (ATOMIC, FINAL):
                raise DefinitionError(json_pointer_join(pointer, "states"), f"a {node_type} state cannot have child states")
            children: list[Node] = []
            history_children: list[Node] = []
            for child_key in js_keys(states):
                child_pointer = json_pointer_join(pointer, "states", child_key)
                self._check_key(child_key, child_pointer)
                child = self._build(states[child_key], child_key, node, child_pointer, machine_id)
                node.states[child_key] = child
                (history_children if child.type == HISTORY else children).append(child)
            node.children = tuple(children)
            node.history_children = tuple(history_children)
        if node_type == COMPOUND and not node.children:
            raise DefinitionError(pointer, "a compound state needs at least one child state that is not a history state")
        if node_type == PARALLEL and not node.children:
            raise DefinitionError(pointer, "a parallel state needs at least one region")

        # Properties that need no other node.
        if node_type == COMPOUND:
            initial = config.get("initial")
            if initial is None:
                raise DefinitionError(pointer, "a compound state needs an 'initial' child state")
            if not isinstance(initial, str):
                raise DefinitionError(json_pointer_join(pointer, "initial"), "initial must be the key of a child state")
            if initial not in node.states:
                raise DefinitionError(json_pointer_join(pointer, "initial"), f"initial state {initial!r} is not a child of this state")
            node.initial = node.states[initial]
        elif "initial" in config:
            raise DefinitionError(json_pointer_join(pointer, "initial"), f"a {node_type} state has no initial child")

        node.entry_effects = self._actions(config.get("entry"), json_pointer_join(pointer, "entry"))
        node.exit_effects = self._actions(config.get("exit"), json_pointer_join(pointer, "exit"))
        if "output" in config:
            if node_type != FINAL and parent is not None:
                raise DefinitionError(json_pointer_join(pointer, "output"), "output is only allowed on final states and the root")
            node.output = config["output"]
            node.has_output = True
        tags = config.get("tags")
        if tags is not None:
            tag_list = [tags] if isinstance(tags, str) else tags
            if not isinstance(tag_list, list) or not all(isinstance(t, str) for t in tag_list):
                raise DefinitionError(json_pointer_join(pointer, "tags"), "tags must be a string or a list of strings")
            node.tags = tuple(tag_list)
        description = config.get("description")
        if description is not None and not isinstance(description, str):
            raise DefinitionError(json_pointer_join(pointer, "description"), "description must be a string")
        node.description = description
        node.meta = config.get("meta")
        if "onDone" in config and parent is None:
            raise DefinitionError(
                json_pointer_join(pointer, "onDone"),
                "the machine stops when the root completes, so onDone on the root never fires",
            )
        if "onDone" in config and node_type not in (COMPOUND, PARALLEL):
            raise DefinitionError(json_pointer_join(pointer, "onDone"), f"a {node_type} state never completes; onDone needs a compound or parallel state")
        return node

    def _node_type(self, config: Mapping[str, Any], pointer: str) -> str:
        declared = config.get("type")
        if declared is not None:
            if declared not in _NODE_TYPES:
                raise DefinitionError(
                    json_pointer_join(pointer, "type"),
                    f"unknown state type {declared!r}; expected one of atomic, compound, parallel, final, history",
                )
            if declared == COMPOUND and not config.get("states"):
                raise DefinitionError(json_pointer_join(pointer, "type"), "a compound state needs child states")
            return str(declared)
        states = config.get("states")
        if isinstance(states, Mapping) and states:
            return COMPOUND
        if config.get("history"):
            return HISTORY
        return ATOMIC

    def _reject_key(self, key: str, pointer: str, node_type: str) -> None:
        where = json_pointer_join(pointer, key)
        if key in _UNSUPPORTED:
            raise DefinitionError(where, f"'{key}' is not supported: {_UNSUPPORTED[key]}")
        if node_type == HISTORY:
            raise DefinitionError(where, f"a history state only takes type, history, target, id, meta and description, not '{key}'")
        if key == "context":
            raise DefinitionError(where, "context belongs on the root of the machine")
        if key == "version":
            raise DefinitionError(where, "version belongs on the root of the machine")
        if key in ("history", "target"):
            raise DefinitionError(where, f"'{key}' is only allowed on history states (\"type\": \"history\")")
        raise DefinitionError(where, f"unknown key '{key}'")

    def _check_key(self, key: str, pointer: str) -> None:
        if not key:
            raise DefinitionError(pointer, "a state key cannot be empty")
        if len(key) > _MAX_NAME:
            raise DefinitionError(pointer, f"a state key is at most {_MAX_NAME} characters")
        if "." in key or "\\" in key:
            raise DefinitionError(pointer, f"state key {key!r} cannot contain '.' or '\\', which separate target paths")
        if key.startswith("#"):
            raise DefinitionError(pointer, f"state key {key!r} cannot start with '#', which marks #id targets")
        if _CONTROL.search(key):
            raise DefinitionError(pointer, "a state key cannot contain control characters")

    def _check_id(self, node_id: str, pointer: str) -> None:
        if not node_id:
            raise DefinitionError(pointer, "an id cannot be empty")
        if len(node_id) > _MAX_NAME:
            raise DefinitionError(pointer, f"an id is at most {_MAX_NAME} characters")
        if "." in node_id or "\\" in node_id or node_id.startswith("#"):
            raise DefinitionError(pointer, f"id {node_id!r} cannot contain '.' or '\\' or start with '#' (they are target syntax)")
        if _CONTROL.search(node_id):
            raise DefinitionError(pointer, "an id cannot contain control characters")

    # -- links -------------------------------------------------------------

    def _link(self, node: Node, config: Mapping[str, Any]) -> None:
        pointer = node.pointer
        if node.type == HISTORY:
            if "target" in config and config["target"] not in (None, ""):
                assert node.parent is not None
                node.history_target = self._history_target(node, config["target"], json_pointer_join(pointer, "target"))
            return

        candidates: dict[str, list[Transition]] = {}
        on = config.get("on")
        if on is not None:
            if not isinstance(on, Mapping):
                raise DefinitionError(json_pointer_join(pointer, "on"), "on must be a JSON object mapping event types to transitions")
            for descriptor in js_keys(on):
                at = json_pointer_join(pointer, "on", descriptor)
                self._check_descriptor(descriptor, at)
                self.descriptors.add(descriptor)
                candidates[descriptor] = self._transitions(node, on[descriptor], descriptor, at)
        if "onDone" in config:
            descriptor = f"xstate.done.state.{node.id}"
            candidates[descriptor] = self._transitions(node, config["onDone"], descriptor, json_pointer_join(pointer, "onDone"))
        after = config.get("after")
        if after is not None:
            if not isinstance(after, Mapping):
                raise DefinitionError(json_pointer_join(pointer, "after"), "after must be a JSON object mapping delays in ms to transitions")
            arms: list[Arm | Cancel] = []
            cancels: list[Arm | Cancel] = []
            for delay_key in js_keys(after):
                at = json_pointer_join(pointer, "after", delay_key)
                delay = self._delay(delay_key, at)
                event_type = after_event_type(delay, node.id)
                arms.append(Arm(event_type, delay))
                cancels.append(Cancel(event_type))
                delayed = after[delay_key]
                if isinstance(delayed, list):
                    for i, item in enumerate(delayed):
                        if isinstance(item, str):
                            raise DefinitionError(
                                json_pointer_join(at, i),
                                f"inside an 'after' list write {{\"target\": {json.dumps(item)}}}: "
                                "XState turns a bare string here into a targetless transition",
                            )
                candidates.setdefault(event_type, []).extend(self._transitions(node, delayed, event_type, at))
            node.entry_timers = tuple(arms)
            node.exit_timers = tuple(cancels)
        if "always" in config:
            node.always = tuple(self._transitions(node, config["always"], "", json_pointer_join(pointer, "always")))
        node.candidates = {k: tuple(v) for k, v in candidates.items()}
        node.wildcards = tuple(k for k in candidates if is_wildcard(k))

    def _check_history_defaults(self) -> None:
        """A history state with nothing recorded enters its default
        (``history_default_targets``); entering that may enter history
        states again (as targets, or as initial states).  If that leads back
        to a history state still being resolved (one that is its parent's
        initial state with no target, or default targets in a cycle), the
        entry never ends: XState overflows its stack on such machines."""
        resolving: set[Node] = set()
        resolved: set[Node] = set()

        def entered(node: Node) -> list[Node]:
            """The history states entering ``node`` enters by default."""
            if node.type == HISTORY:
                return [node]
            if node.type == COMPOUND:
                assert node.initial is not None
                return entered(node.initial)
            if node.type == PARALLEL:
                return [h for child in node.children for h in entered(child)]
            return []

        def visit(history: Node) -> None:
            if history in resolved:
                return
            if history in resolving:
                raise DefinitionError(
                    history.pointer,
                    f"history state #{history.id} leads back to itself when it has nothing recorded "
                    "(give it a 'target' that is not itself, or make another child the parent's initial state)",
                )
            resolving.add(history)
            targets, _ = history_default_targets(history)
            for target in targets:
                for found in entered(target):
                    visit(found)
            resolving.discard(history)
            resolved.add(history)

        for node in self.nodes:
            if node.type == HISTORY:
                visit(node)

    def _check_descriptor(self, descriptor: str, pointer: str) -> None:
        if not descriptor:
            raise DefinitionError(pointer, "an empty event type is not allowed; use 'always' for eventless transitions")
        if len(descriptor) > _MAX_NAME:
            raise DefinitionError(pointer, f"an event type is at most {_MAX_NAME} characters")
        if _CONTROL.search(descriptor):
            raise DefinitionError(pointer, "an event type cannot contain control characters")

    def _delay(self, key: str, pointer: str) -> int:
        if not (key.isascii() and key.isdigit()):
            raise DefinitionError(
                pointer,
                f"delay {key!r} is not a number of milliseconds; named delays need code and are not supported",
            )
        if len(key) > 1 and key[0] == "0":
            raise DefinitionError(pointer, f"write delay {key!r} without leading zeros")
        delay = int(key)
        if delay > _MAX_DELAY_MS:
            raise DefinitionError(pointer, "a delay is at most ten years")
        return delay

    def _transitions(self, node: Node, config: Any, descriptor: str, pointer: str) -> list[Transition]:
        if isinstance(config, list):
            return [self._transition(node, item, descriptor, json_pointer_join(pointer, i)) for i, item in enumerate(config)]
        return [self._transition(node, config, descriptor, pointer)]

    def _transition(self, node: Node, config: Any, descriptor: str, pointer: str) -> Transition:
        if config is None:
            # XState refuses it (at creation, or as a null target when taken)
            raise DefinitionError(pointer, "a transition cannot be null: leave the event out, or write {} for a targetless transition")
        if isinstance(config, Mapping) and "target" in config and config["target"] is None:
            raise DefinitionError(json_pointer_join(pointer, "target"), "target cannot be null: leave it out for a targetless transition")
        if isinstance(config, str):
            config = {"target": config}
            target_pointer = pointer
        elif isinstance(config, Mapping):
            target_pointer = json_pointer_join(pointer, "target")
            for k in config:
                if k in _TRANSITION_UNSUPPORTED:
                    raise DefinitionError(json_pointer_join(pointer, k), f"'{k}' is not supported: {_TRANSITION_UNSUPPORTED[k]}")
                if k not in _TRANSITION_KEYS:
                    raise DefinitionError(json_pointer_join(pointer, k), f"unknown transition key '{k}'")
        else:
            raise DefinitionError(pointer, "a transition must be a target string, an object, or a list of those")
        reenter = config.get("reenter", False)
        if not isinstance(reenter, bool):
            raise DefinitionError(json_pointer_join(pointer, "reenter"), "reenter must be true or false")
        targets = self._targets(node, config.get("target"), target_pointer)
        guard = None
        if config.get("guard") is not None:
            guard = self._guard(config["guard"], json_pointer_join(pointer, "guard"))
        effects = self._actions(config.get("actions"), json_pointer_join(pointer, "actions"))
        description = config.get("description")
        if description is not None and not isinstance(description, str):
            raise DefinitionError(json_pointer_join(pointer, "description"), "description must be a string")
        return Transition(node, targets, reenter, guard, effects, descriptor, pointer)

    def _targets(self, node: Node, target: Any, pointer: str) -> tuple[Node, ...] | None:
        if target is None or target == "":
            return None
        resolved: tuple[Node, ...]
        if isinstance(target, str):
            resolved = (self._resolve_target(node, target, pointer),)
        elif isinstance(target, list):
            if not target:
                return None
            items: list[Node] = []
            for i, t in enumerate(target):
                if not isinstance(t, str) or not t:
                    raise DefinitionError(json_pointer_join(pointer, i), "a target must be a non-empty string")
                items.append(self._resolve_target(node, t, json_pointer_join(pointer, i)))
            resolved = tuple(items)
        else:
            raise DefinitionError(pointer, "a target must be a string or a list of strings")
        self._check_target_set(resolved, pointer)
        return resolved

    def _check_target_set(self, targets: tuple[Node, ...], pointer: str) -> None:
        for i, a in enumerate(targets):
            for b in targets[i + 1 :]:
                if a is b:
                    raise DefinitionError(pointer, f"state #{a.id} is targeted twice")
                if a in b.ancestors or b in a.ancestors:
                    raise DefinitionError(pointer, f"targets #{a.id} and #{b.id} are nested; a multi-target names states in different parallel regions")
                lca = next(x for x in a.ancestors if x in b.ancestors)
                if lca.type != PARALLEL:
                    raise DefinitionError(
                        pointer,
                        f"targets #{a.id} and #{b.id} cannot be active together: their common ancestor #{lca.id} is not a parallel state",
                    )

    def _resolve_target(self, node: Node, target: str, pointer: str) -> Node:
        try:
            if target.startswith("#"):
                return self._by_id_path(target)
            if target.startswith("."):
                if node.parent is None:
                    return self._by_path(node, target[1:])
                return self._by_path(node.parent, node.key + target)
            if node.parent is None:
                raise _Unresolved(f"target {target!r} is not valid on the root; did you mean '.{target}'?")
            return self._by_path(node.parent, target)
        except _Unresolved as exc:
            raise DefinitionError(pointer, str(exc)) from None

    def _history_target(self, node: Node, target: Any, pointer: str) -> tuple[Node, ...]:
        assert node.parent is not None
        items = target if isinstance(target, list) else [target]
        resolved: list[Node] = []
        for i, t in enumerate(items):
            at = json_pointer_join(pointer, i) if isinstance(target, list) else pointer
            if not isinstance(t, str) or not t:
                raise DefinitionError(at, "a history target must be a non-empty string")
            try:
                found = self._by_id_path(t) if t.startswith("#") else self._by_path(node.parent, t)
            except _Unresolved as exc:
                raise DefinitionError(at, str(exc)) from None
            if node.parent not in found.ancestors:
                raise DefinitionError(at, f"a history default target must be a descendant of #{node.parent.id}")
            resolved.append(found)
        self._check_target_set(tuple(resolved), pointer)
        return tuple(resolved)

    def _by_id_path(self, target: str) -> Node:
        segments = target.split(".")
        node_id = segments[0][1:]
        if node_id not in self.by_id:
            raise _Unresolved(f"no state has id {node_id!r}")
        return self._walk(self.by_id[node_id], segments[1:])

    def _by_path(self, start: Node, path: str) -> Node:
        return self._walk(start, path.split("."))

    def _walk(self, node: Node, segments: list[str]) -> Node:
        for key in segments:
            if not key:
                break
            if key.startswith("#"):
                return self._by_id_path(".".join(segments[segments.index(key):]))
            if key not in node.states:
                raise _Unresolved(f"state #{node.id} has no child state {key!r}")
            node = node.states[key]
        return node

    # -- guards and actions ------------------------------------------------

    def _guard(self, config: Any, pointer: str) -> Guard:
        if isinstance(config, str):
            self._check_name(config, pointer, "guard")
            if config in _RESERVED_GUARDS:
                raise DefinitionError(pointer, f"{config!r} is a reserved guard combinator; write {{\"type\": \"{config}\", ...}}")
            self.guard_names.add(config)
            return NameGuard(config)
        if not isinstance(config, Mapping):
            raise DefinitionError(pointer, "a guard must be a name or an object with a 'type'")
        kind = config.get("type")
        if not isinstance(kind, str):
            raise DefinitionError(json_pointer_join(pointer, "type"), "a guard object needs a string 'type'")
        if kind in ("and", "or", "not"):
            self._only_keys(config, {"type", "guards"}, pointer)
            operands = config.get("guards")
            if not isinstance(operands, list):
                raise DefinitionError(json_pointer_join(pointer, "guards"), f"'{kind}' needs a list of guards")
            if kind == "not" and len(operands) != 1:
                raise DefinitionError(json_pointer_join(pointer, "guards"), "'not' takes exactly one guard")
            compiled = tuple(self._guard(g, json_pointer_join(pointer, "guards", i)) for i, g in enumerate(operands))
            if kind == "and":
                return AndGuard(compiled)
            if kind == "or":
                return OrGuard(compiled)
            return NotGuard(compiled[0])
        if kind == "stateIn":
            self._only_keys(config, {"type", "stateValue"}, pointer)
            if "stateValue" not in config:
                raise DefinitionError(pointer, "'stateIn' needs a 'stateValue'")
            value = config["stateValue"]
            nodes = self._state_pattern(value, json_pointer_join(pointer, "stateValue"))
            if isinstance(value, str) and value.startswith("#"):
                return StateInGuard(nodes[0], None)
            return StateInGuard(None, value)
        self._check_name(kind, json_pointer_join(pointer, "type"), "guard")
        self._only_keys(config, {"type", "params"}, pointer)
        self.guard_names.add(kind)
        return NameGuard(kind)

    def _state_pattern(self, value: Any, pointer: str) -> tuple[Node, ...]:
        root = self.nodes[0]
        if isinstance(value, str):
            if not value:
                raise DefinitionError(pointer, "stateValue cannot be empty")
            if value.startswith("#"):
                try:
                    return (self._by_id_path(value),)
                except _Unresolved as exc:
                    raise DefinitionError(pointer, str(exc)) from None
            value = _dotted_to_value(value)
        found: list[Node] = []

        def walk(node: Node, v: Any, at: str) -> None:
            if isinstance(v, str):
                if v not in node.states:
                    raise DefinitionError(at, f"state #{node.id} has no child state {v!r}")
                found.append(node.states[v])
                return
            if not isinstance(v, Mapping):
                raise DefinitionError(at, "a state value is a string or an object")
            for k in v:
                if k not in node.states:
                    raise DefinitionError(at, f"state #{node.id} has no child state {k!r}")
                child = node.states[k]
                found.append(child)
                walk(child, v[k], json_pointer_join(at, k))

        walk(root, value, pointer)
        return tuple(found)

    def _actions(self, config: Any, pointer: str) -> tuple[dict[str, Any], ...]:
        if config is None:
            return ()
        items = config if isinstance(config, list) else [config]
        out: list[dict[str, Any]] = []
        for i, item in enumerate(items):
            at = json_pointer_join(pointer, i) if isinstance(config, list) else pointer
            if isinstance(item, str):
                self._check_action_name(item, at)
                out.append({"type": item})
            elif isinstance(item, Mapping):
                kind = item.get("type")
                if not isinstance(kind, str):
                    raise DefinitionError(json_pointer_join(at, "type"), "an action object needs a string 'type'")
                self._check_action_name(kind, json_pointer_join(at, "type"))
                self._only_keys(item, {"type", "params"}, at)
                effect: dict[str, Any] = {"type": kind}
                if "params" in item:  # XState reports an explicit null too
                    effect["params"] = item["params"]
                out.append(effect)
            else:
                raise DefinitionError(at, "an action must be a name or an object with a 'type'")
        return tuple(out)

    def _check_action_name(self, name: str, pointer: str) -> None:
        self._check_name(name, pointer, "action")
        if name.startswith(RESERVED_PREFIX):
            raise DefinitionError(
                pointer,
                f"{name!r} is a built-in XState action; built-ins (spawn, raise, sendTo, ...) need code and are not supported",
            )

    def _check_name(self, name: str, pointer: str, what: str) -> None:
        if not name:
            raise DefinitionError(pointer, f"a {what} name cannot be empty")
        if len(name) > _MAX_NAME:
            raise DefinitionError(pointer, f"a {what} name is at most {_MAX_NAME} characters")
        if _CONTROL.search(name):
            raise DefinitionError(pointer, f"a {what} name cannot contain control characters")
        if _LOOKS_LIKE_CODE.search(name):
            raise DefinitionError(pointer, f"{what} {name!r} looks like inline code; skruntime never runs user code, use a name")

    def _only_keys(self, config: Mapping[str, Any], allowed: set[str], pointer: str) -> None:
        for k in config:
            if k not in allowed:
                raise DefinitionError(json_pointer_join(pointer, k), f"unexpected key '{k}' (allowed: {', '.join(sorted(allowed))})")


class _Unresolved(Exception):
    pass


def json_pointer_join(pointer: str, *parts: str | int) -> str:
    return pointer + json_pointer(*parts)


def _dotted_to_value(path: str) -> Any:
    # "a.b.c" -> {"a": {"b": "c"}}, as XState's toStateValue does.
    segments = path.split(".")
    value: Any = segments[-1]
    for segment in reversed(segments[:-1]):
        value = {segment: value}
    return value
