"""``Machine``: a compiled definition and the pure functions that run it.

``Machine(definition)`` validates and compiles; ``initial_transition`` and
``transition`` take data and return data (a :class:`Step`), never executing an
action.  Because the engine never runs user code, the result of a transition
depends only on the configuration, the recorded history, the event type and
the guard answers, so results are cached per interned configuration: a
repeated transition costs one dictionary lookup (the "flat tables" of the
design), and the full algorithm runs only the first time.
"""

from __future__ import annotations

import functools

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .._exceptions import InfiniteLoopError, SnapshotError
from ._algorithm import HistoryValue, MacroStep, initial_macrostep, macrostep
from ._events import RESERVED_PREFIX
from ._model import HISTORY, Arm, Effect, Node, TimerOp
from ._parse import Limits, compile_definition
from ._snapshot import Configuration, Snapshot

__all__ = ["DEFAULT_MAX_ITERATIONS", "Machine", "Replay", "Step"]

DEFAULT_MAX_ITERATIONS = 1_000
_CONFIG_LIMIT = 100_000  # interned configurations per machine before the table is reset
_RESULT_LIMIT = 1_024  # cached transitions per configuration (bounded against event-type floods)
_NOT_HANDLED: Any = object()

GuardKey = frozenset[str] | None


class Step(NamedTuple):
    """The result of a transition.

    Attributes:
        snapshot: the new snapshot (the same object when not handled).
        handled: whether any transition was selected.
        effects: actions to perform, in XState's order, as ``{type, params?}``
            dictionaries (shared; never mutate them).
        timers: timer operations (:class:`Arm` / :class:`Cancel`) in order;
            applying them in order to the pending timers gives the new set.
    """

    snapshot: Snapshot
    handled: bool
    effects: tuple[Effect, ...]
    timers: tuple[TimerOp, ...]


# A NamedTuple's own constructor is a Python function; every handled event
# makes a Step, so the hot path builds it straight from a tuple.
_new_step = functools.partial(tuple.__new__, Step)


class Replay(NamedTuple):
    """The result of replaying a history (see :meth:`Machine.replay`).

    ``diverged_at`` is the index of the first event the machine did not handle
    (``snapshot`` is then ``None``); otherwise ``snapshot`` is where it lands
    and ``timers`` the delayed events pending there (``{event type: delay}``,
    in arming order).
    """

    snapshot: Snapshot | None
    diverged_at: int | None
    timers: Mapping[str, int] = {}


class Machine:
    """A validated, compiled XState v5 JSON definition.

    Args:
        definition: the machine config (decoded JSON).  Not copied: do not
            mutate it afterwards.
        limits: size limits enforced while compiling.
        max_iterations: bound on the microsteps of one macrostep.

    Raises:
        DefinitionError: the definition is invalid or needs code; carries the
            JSON Pointer of the problem.
    """

    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
    ) -> None:
        compiled = compile_definition(definition, limits)
        self.definition = definition
        self.root: Node = compiled.root
        self.id: str = compiled.root.id
        self.nodes: tuple[Node, ...] = compiled.nodes
        self.by_id: Mapping[str, Node] = compiled.by_id
        self.guard_names: frozenset[str] = compiled.guard_names
        self.initial_context: Mapping[str, Any] = compiled.context
        self.max_iterations = max_iterations
        self._configurations: dict[tuple[tuple[Node, ...], HistoryValue, bool], Configuration] = {}
        self._initial: dict[GuardKey, Any] = {}

    def __repr__(self) -> str:
        return f"<Machine {self.id!r} ({len(self.nodes)} states)>"

    # -- running -------------------------------------------------------------

    def initial_transition(
        self, *, context: Mapping[str, Any] | None = None, guards: Mapping[str, bool] | None = None
    ) -> Step:
        """Enter the initial configuration (a spawn).

        Args:
            context: the actor's context; default: the definition's ``context``.
            guards: answers for guards evaluated during this first macrostep.

        Raises:
            InfiniteLoopError: eventless transitions did not come to rest.
        """
        key = self.guard_key(guards)
        result = self._initial.get(key)
        if result is None:
            try:
                macro = initial_macrostep(self.root, self._answers(key), self.max_iterations)
                result = (self._intern(macro), *_flatten(macro))
            except InfiniteLoopError as exc:
                result = exc
            self._initial[key] = result
        if isinstance(result, InfiniteLoopError):
            raise result
        configuration, effects, timers = result
        return Step(Snapshot(configuration, self.initial_context if context is None else context), True, effects, timers)

    def transition(self, snapshot: Snapshot, event_type: str, guards: Mapping[str, bool] | None = None) -> Step:
        """Process one event.

        Args:
            snapshot: the actor's current snapshot (from this machine).
            event_type: the event's type.
            guards: the caller's answers, by guard name; unanswered is false.

        Returns:
            The step; ``handled`` is false (and nothing changed) when no
            transition was selected, or when the actor is done.

        Raises:
            InfiniteLoopError: eventless transitions did not come to rest; the
                snapshot is unchanged.
        """
        configuration = snapshot.configuration
        if configuration.root is not self.root:
            raise ValueError("this snapshot belongs to another machine")
        if configuration.done:
            return Step(snapshot, False, (), ())
        gkey = self.guard_key(guards) if guards else None
        cache_key = event_type if gkey is None else (event_type, gkey)
        result = configuration.cache.get(cache_key)
        if result is None:
            try:
                macro = macrostep(
                    self.root, configuration.nodes, configuration.history, event_type, self._answers(gkey), self.max_iterations
                )
                result = (self._intern(macro), *_flatten(macro)) if macro.handled else _NOT_HANDLED
            except InfiniteLoopError as exc:
                result = exc
            if len(configuration.cache) >= _RESULT_LIMIT:
                configuration.cache.clear()
            configuration.cache[cache_key] = result
        if result is _NOT_HANDLED:
            return Step(snapshot, False, (), ())
        if isinstance(result, InfiniteLoopError):
            raise result
        next_configuration, effects, timers = result
        return _new_step((Snapshot(next_configuration, snapshot.context), True, effects, timers))

    def macrostep(self, snapshot: Snapshot, event_type: str, guards: Mapping[str, bool] | None = None) -> MacroStep:
        """The full, uncached :class:`MacroStep` of an event (microsteps with
        the transitions, exited and entered states): for inspection and tests."""
        configuration = snapshot.configuration
        return macrostep(
            self.root, configuration.nodes, configuration.history, event_type,
            self._answers(self.guard_key(guards)), self.max_iterations,
        )

    def replay(
        self,
        events: Iterable[tuple[str, Mapping[str, bool] | None]],
        *,
        context: Mapping[str, Any] | None = None,
        spawn_guards: Mapping[str, bool] | None = None,
    ) -> Replay:
        """Fold a history through this machine from its initial state.

        Args:
            events: ``(type, guard answers)`` pairs, oldest first.
            context: the actor's context (kept as it is).
            spawn_guards: the answers the actor was spawned with.

        Returns:
            Where the history lands, or the index of the first event this
            machine does not handle.  An infinite loop counts as not handled.
        """
        pending: dict[str, int] = {}
        try:
            step = self.initial_transition(context=context, guards=spawn_guards)
        except InfiniteLoopError:
            return Replay(None, 0)
        _apply_timer_ops(pending, step.timers)
        configuration = step.snapshot.configuration
        for index, (event_type, guards) in enumerate(events):
            # A delayed event in the history fired its timer, as it did live.
            pending.pop(event_type, None)
            advanced = self.advance(configuration, event_type, guards)
            if advanced is None:
                return Replay(None, index)
            configuration, timers = advanced
            if timers:
                _apply_timer_ops(pending, timers)
        return Replay(Snapshot(configuration, self.initial_context if context is None else context), None, pending)

    def advance(
        self, configuration: Configuration, event_type: str, guards: Mapping[str, bool] | None
    ) -> tuple[Configuration, tuple[TimerOp, ...]] | None:
        """One handled event at the level of interned configurations (no
        snapshot or step objects): the next configuration and the timer
        operations, or ``None`` if the event is not handled (or loops).
        The hot path of replays."""
        if configuration.done:
            return None
        gkey = self.guard_key(guards) if guards else None
        result = configuration.cache.get(event_type if gkey is None else (event_type, gkey))
        if result is None:
            try:
                step = self.transition(Snapshot(configuration, {}), event_type, guards)
            except InfiniteLoopError:
                return None
            return (step.snapshot.configuration, step.timers) if step.handled else None
        if result is _NOT_HANDLED or isinstance(result, InfiniteLoopError):
            return None
        return result[0], result[2]

    # -- reading ------------------------------------------------------------

    def accepted_events(self, snapshot: Snapshot) -> tuple[str, ...]:
        """Event descriptors the active states declare (``xstate.*`` excluded),
        innermost states first; what a 409 ``event-not-handled`` lists."""
        configuration = snapshot.configuration
        if configuration.accepted is None:
            seen: dict[str, None] = {}
            if not configuration.done:
                for node in sorted(configuration.nodes, key=lambda n: -n.depth):
                    for descriptor, transitions in node.candidates.items():
                        if descriptor.startswith(RESERVED_PREFIX):
                            continue
                        if any(t.targets is not None or t.effects or t.reenter for t in transitions):
                            seen[descriptor] = None
            configuration.accepted = tuple(seen)
        return configuration.accepted

    def tags(self, snapshot: Snapshot) -> tuple[str, ...]:
        """The tags of the active states, without duplicates."""
        seen: dict[str, None] = {}
        for node in snapshot.configuration.nodes:
            seen.update(dict.fromkeys(node.tags))
        return tuple(seen)

    def guard_key(self, guards: Mapping[str, bool] | None) -> GuardKey:
        """The part of the answers that can matter: names this machine uses
        that were answered true."""
        if not guards:
            return None
        names = self.guard_names
        key = frozenset(name for name, answer in guards.items() if answer is True and name in names)
        return key or None

    # -- persistence -----------------------------------------------------------

    def restore(self, data: Mapping[str, Any]) -> Snapshot:
        """Rebuild a snapshot from its persisted form (:meth:`Snapshot.to_json`).

        Raises:
            SnapshotError: the data names states this machine does not have,
                or is not a consistent configuration.
        """
        try:
            context = data.get("context", {})
            if "configuration" in data:
                nodes = tuple(self._node(i) for i in data["configuration"])
            else:
                nodes = self._nodes_from_value(data["value"])
            history = tuple(
                sorted(
                    ((self._node(h), tuple(self._node(i) for i in ids)) for h, ids in data.get("historyValue", {}).items()),
                    key=lambda kv: kv[0].order,
                )
            )
            done = data.get("status", "active") == "done"
        except (KeyError, TypeError, AttributeError) as exc:
            raise SnapshotError(f"malformed snapshot: {exc}") from exc
        # XState itself can leave a configuration without some ancestors (see
        # _algorithm.complete_configuration), so only the basics are checked;
        # the stored state value must match what the configuration shows.
        if len(set(nodes)) != len(nodes) or self.root not in nodes:
            raise SnapshotError("the configuration must list the root once and no state twice")
        for n in nodes:
            if n.type == HISTORY:
                raise SnapshotError(f"history state #{n.id} cannot be active")
        for h, _ in history:
            if h.type != HISTORY:
                raise SnapshotError(f"#{h.id} is not a history state")
        configuration = self._intern_parts(nodes, history, done)
        if "value" in data and data["value"] != configuration.value:
            raise SnapshotError("the state value does not match the configuration")
        return Snapshot(configuration, context)

    # -- internals -------------------------------------------------------------

    def _node(self, node_id: Any) -> Node:
        if not isinstance(node_id, str) or node_id not in self.by_id:
            raise SnapshotError(f"machine {self.id!r} has no state #{node_id}")
        return self.by_id[node_id]

    def _nodes_from_value(self, value: Any) -> tuple[Node, ...]:
        found: list[Node] = [self.root]

        def walk(node: Node, v: Any) -> None:
            if isinstance(v, str):
                if v not in node.states:
                    raise SnapshotError(f"state #{node.id} has no child {v!r}")
                found.append(node.states[v])
                return
            if not isinstance(v, Mapping):
                raise SnapshotError("a state value is a string or an object")
            for key, sub in v.items():
                if key not in node.states:
                    raise SnapshotError(f"state #{node.id} has no child {key!r}")
                found.append(node.states[key])
                walk(node.states[key], sub)

        walk(self.root, value)
        return tuple(sorted(found, key=lambda n: n.order))

    def _answers(self, key: GuardKey) -> Mapping[str, bool] | None:
        return None if key is None else dict.fromkeys(key, True)

    def _intern(self, macro: MacroStep) -> Configuration:
        return self._intern_parts(macro.configuration, macro.history, macro.done)

    def _intern_parts(self, nodes: tuple[Node, ...], history: HistoryValue, done: bool) -> Configuration:
        key = (nodes, history, done)
        found = self._configurations.get(key)
        if found is None:
            if len(self._configurations) >= _CONFIG_LIMIT:
                self._configurations.clear()
            found = self._configurations[key] = Configuration(self.root, nodes, history, done)
        return found


def _apply_timer_ops(pending: dict[str, int], ops: tuple[TimerOp, ...]) -> None:
    for op in ops:
        pending.pop(op.event_type, None)
        if isinstance(op, Arm):
            pending[op.event_type] = op.delay


def _flatten(macro: MacroStep) -> tuple[tuple[Effect, ...], tuple[TimerOp, ...]]:
    effects: list[Effect] = []
    timers: list[TimerOp] = []
    for step in macro.microsteps:
        effects.extend(step.effects)
        timers.extend(step.timers)
    return tuple(effects), tuple(timers)

