"""Snapshots: an actor's position in its machine, as immutable values.

A :class:`Snapshot` pairs an interned :class:`Configuration` (the active
states in configuration order, the recorded history, the state value and the
status, shared by every actor in the same place) with the actor's context.
Its persisted form is plain JSON (:meth:`Snapshot.to_json`): the state value,
status, context, output, the configuration as state ids in order, and the
recorded history by id.  No node objects or functions are ever persisted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._algorithm import HistoryValue, state_value
from ._model import Node

__all__ = ["Configuration", "Snapshot", "StateValue"]

StateValue = str | dict[str, Any]


class Configuration:
    """One place in a machine, interned by the machine.

    Two actors in the same configuration with the same recorded history share
    one ``Configuration`` object, which also caches the transitions taken from
    it, so a repeated transition costs a dictionary lookup.
    """

    __slots__ = ("root", "nodes", "history", "value", "done", "active", "cache", "accepted")

    def __init__(self, root: Node, nodes: tuple[Node, ...], history: HistoryValue, done: bool) -> None:
        self.root = root
        self.nodes = nodes  # configuration order
        self.history = history
        self.done = done
        self.value: StateValue = state_value(root, nodes)
        self.active: dict[Node, None] = dict.fromkeys(nodes)
        self.cache: dict[Any, Any] = {}  # (event type, guard key) -> result
        self.accepted: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"<Configuration {self.value!r}{' done' if self.done else ''}>"


class Snapshot:
    """An actor's snapshot: where it is, its status, its context.

    Attributes:
        value: the state value in XState's shape (a string for an atomic
            top-level state, nested objects otherwise).  Shared: never mutate.
        status: ``"active"`` or ``"done"``.
        context: the actor's context (never changed by the engine).
        output: the machine's ``output`` once done (``None`` otherwise).
    """

    __slots__ = ("configuration", "context")

    def __init__(self, configuration: Configuration, context: Mapping[str, Any]) -> None:
        self.configuration = configuration
        self.context = context

    @property
    def output(self) -> Any:
        root = self.configuration.root
        return root.output if self.configuration.done and root.has_output else None

    @property
    def value(self) -> StateValue:
        return self.configuration.value

    @property
    def status(self) -> str:
        return "done" if self.configuration.done else "active"

    @property
    def done(self) -> bool:
        return self.configuration.done

    def to_json(self) -> dict[str, Any]:
        """The persisted form (JSON-able, restorable with ``Machine.restore``)."""
        cfg = self.configuration
        data: dict[str, Any] = {
            "value": cfg.value,
            "status": self.status,
            "context": self.context,
            "configuration": [n.id for n in cfg.nodes],
            "historyValue": {h.id: [n.id for n in remembered] for h, remembered in cfg.history},
        }
        if self.configuration.done and self.configuration.root.has_output:
            data["output"] = self.output
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        a, b = self.configuration, other.configuration
        return (
            a.nodes == b.nodes
            and a.history == b.history
            and a.done == b.done
            and self.context == other.context
        )

    def __hash__(self) -> int:  # snapshots hold a dict context; compare, don't hash
        raise TypeError("Snapshot is not hashable")

    def __repr__(self) -> str:
        return f"Snapshot(value={self.value!r}, status={self.status!r})"
