"""The compiled form of a machine definition: plain objects, no behaviour.

A definition (JSON) is compiled by ``_parse.py`` into a tree of :class:`Node`
objects numbered in document order (pre-order, the order XState assigns), with
every reference already resolved: transition targets are nodes, guards are
small guard objects, actions are ready-made effect dictionaries, and delayed
transitions are expanded into the timer operations their states arm on entry
and cancel on exit.  ``_algorithm.py`` walks this model; nothing here changes
after compilation, so compiled models are safe to share between actors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from ._values import matches_state

__all__ = [
    "ATOMIC",
    "COMPOUND",
    "FINAL",
    "HISTORY",
    "PARALLEL",
    "AndGuard",
    "Arm",
    "Cancel",
    "Guard",
    "NameGuard",
    "Node",
    "NotGuard",
    "OrGuard",
    "StateInGuard",
    "TimerOp",
    "Transition",
]

ATOMIC: Final = "atomic"
COMPOUND: Final = "compound"
PARALLEL: Final = "parallel"
FINAL: Final = "final"
HISTORY: Final = "history"

Effect = Mapping[str, Any]  # {"type": str, "params"?: JSON}; shared, never mutate


class ConfigurationView(Protocol):
    """The configuration as guards see it (implemented by ``_algorithm.View``)."""

    @property
    def active(self) -> Mapping[Node, None]: ...

    @property
    def value(self) -> Any: ...


class Arm:
    """Timer operation: schedule the delayed event ``event_type`` in ``delay`` ms.

    Arming an id that is already pending replaces it.
    """

    __slots__ = ("event_type", "delay")

    def __init__(self, event_type: str, delay: int) -> None:
        self.event_type = event_type
        self.delay = delay

    def __repr__(self) -> str:
        return f"Arm({self.event_type!r}, {self.delay})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arm) and (other.event_type, other.delay) == (self.event_type, self.delay)

    def __hash__(self) -> int:
        return hash(("arm", self.event_type, self.delay))


class Cancel:
    """Timer operation: cancel the pending delayed event ``event_type`` (if any)."""

    __slots__ = ("event_type",)

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type

    def __repr__(self) -> str:
        return f"Cancel({self.event_type!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cancel) and other.event_type == self.event_type

    def __hash__(self) -> int:
        return hash(("cancel", self.event_type))


TimerOp = Arm | Cancel


class Guard:
    """Base of the compiled guard forms.

    ``evaluate(answers, view)`` gets the caller's answers for the event being
    processed (``None`` when the event carries none, e.g. a done event) and a
    view of the configuration (for ``stateIn``): ``view.active`` is the raw
    configuration, ``view.value`` the state value.
    """

    __slots__ = ()

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        raise NotImplementedError


class NameGuard(Guard):
    """A named guard (``"isEligible"`` or ``{type, params}``): the caller answers
    it per event; an unanswered name is false."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        return answers is not None and answers.get(self.name) is True


class AndGuard(Guard):
    """``and``: true when every operand is (true when there are none)."""

    __slots__ = ("guards",)

    def __init__(self, guards: tuple[Guard, ...]) -> None:
        self.guards = guards

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        return all(g.evaluate(answers, view) for g in self.guards)


class OrGuard(Guard):
    """``or``: true when some operand is (false when there are none)."""

    __slots__ = ("guards",)

    def __init__(self, guards: tuple[Guard, ...]) -> None:
        self.guards = guards

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        return any(g.evaluate(answers, view) for g in self.guards)


class NotGuard(Guard):
    """``not``: negates its single operand."""

    __slots__ = ("guard",)

    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        return not self.guard.evaluate(answers, view)


class StateInGuard(Guard):
    """``stateIn``: XState's ``stateIn`` helper.

    ``{"stateValue": "#id"}`` is true when that state is in the (raw)
    configuration; a state value (object or dotted string) is true when
    XState's ``matchesState(pattern, snapshot.value)`` would be.
    """

    __slots__ = ("node", "pattern")

    def __init__(self, node: Node | None, pattern: Any) -> None:
        self.node = node  # for "#id"
        self.pattern = pattern  # otherwise

    def evaluate(self, answers: Mapping[str, bool] | None, view: ConfigurationView) -> bool:
        if self.node is not None:
            return self.node in view.active
        return matches_state(self.pattern, view.value)


class Transition:
    """One transition, with its targets resolved.

    ``targets`` is ``None`` for a targetless transition (it runs actions and
    exits nothing).  ``event`` is the descriptor it was declared under (``""``
    for eventless ones).  ``history_free`` is true when no target is a history
    node, so the transition domain does not depend on recorded history.
    """

    __slots__ = ("source", "targets", "reenter", "guard", "effects", "event", "pointer", "history_free", "_domain")

    def __init__(
        self,
        source: Node,
        targets: tuple[Node, ...] | None,
        reenter: bool,
        guard: Guard | None,
        effects: tuple[Effect, ...],
        event: str,
        pointer: str,
    ) -> None:
        self.source = source
        self.targets = targets
        self.reenter = reenter
        self.guard = guard
        self.effects = effects
        self.event = event
        self.pointer = pointer
        self.history_free = targets is None or all(t.type != HISTORY for t in targets)
        self._domain: object = _UNSET  # cache for history-free transitions

    def __repr__(self) -> str:
        targets = None if self.targets is None else [t.id for t in self.targets]
        return f"<Transition {self.pointer} {self.event!r} -> {targets}>"


_UNSET: Final = object()


class Node:
    """A state node.  ``order`` is its document-order index (root is 0).

    Invariants (established by ``_parse.py``):
    - ``children`` lists the non-history child states in document order;
      ``history_children`` the history ones; ``states`` maps every child key.
    - ``ancestors`` runs from the parent up to the root.
    - ``entry_effects``/``exit_effects`` are the user's actions; ``entry_timers``
      arms every ``after`` delay of the node (ascending key order, as XState
      orders numeric object keys), ``exit_timers`` cancels them.
    - ``candidates`` maps an event descriptor to its transitions in declaration
      order; ``wildcards`` lists the wildcard descriptors (``*``, ``a.*``) in
      declaration order.
    """

    __slots__ = (
        "order",
        "key",
        "id",
        "type",
        "parent",
        "states",
        "children",
        "history_children",
        "ancestors",
        "depth",
        "initial",
        "candidates",
        "wildcards",
        "always",
        "entry_effects",
        "exit_effects",
        "entry_timers",
        "exit_timers",
        "history",
        "history_target",
        "output",
        "has_output",
        "tags",
        "meta",
        "description",
        "pointer",
        "_candidate_cache",
    )

    def __init__(self, order: int, key: str, node_id: str, node_type: str, parent: Node | None, pointer: str) -> None:
        self.order = order
        self.key = key
        self.id = node_id
        self.type = node_type
        self.parent = parent
        self.pointer = pointer
        self.states: dict[str, Node] = {}
        self.children: tuple[Node, ...] = ()
        self.history_children: tuple[Node, ...] = ()
        self.ancestors: tuple[Node, ...] = () if parent is None else (parent, *parent.ancestors)
        self.depth = len(self.ancestors)
        self.initial: Node | None = None
        self.candidates: dict[str, tuple[Transition, ...]] = {}
        self.wildcards: tuple[str, ...] = ()
        self.always: tuple[Transition, ...] = ()
        self.entry_effects: tuple[Effect, ...] = ()
        self.exit_effects: tuple[Effect, ...] = ()
        self.entry_timers: tuple[TimerOp, ...] = ()
        self.exit_timers: tuple[TimerOp, ...] = ()
        self.history: str | None = None  # "shallow" | "deep" on history nodes
        self.history_target: tuple[Node, ...] | None = None  # explicit default target
        self.output: Any = None
        self.has_output = False
        self.tags: tuple[str, ...] = ()
        self.meta: Any = None
        self.description: str | None = None
        self._candidate_cache: dict[str, tuple[Transition, ...]] = {}

    def __repr__(self) -> str:
        return f"<Node #{self.id} {self.type}>"

    @property
    def is_atomic(self) -> bool:
        return self.type == ATOMIC or self.type == FINAL
