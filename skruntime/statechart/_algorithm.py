"""The statechart algorithm: macrosteps and microsteps as pure functions.

This is the SCXML algorithm (https://www.w3.org/TR/scxml/#AlgorithmforSCXMLInterpretation)
with the variations XState v5 makes, because XState's behaviour is our oracle
(the conformance suite replays fixtures recorded from the real ``xstate``
package).  Functions take the compiled model plus plain data (the active
configuration, the recorded history, the event's type and guard answers) and
return plain data; nothing here executes an action, reads a clock or does I/O.

Semantics, as decided (each point is one small function below):

* **Configuration order.**  The active configuration is an ordered set: a
  state keeps its position while it stays active and is appended when it is
  entered.  XState iterates its configuration in this order when it selects
  eventless transitions, so we keep the same order (and persist it).
* **The completed configuration** (``complete_configuration``).  Some
  combinations of simultaneous transitions leave XState's configuration
  without a state that its state value still shows (for instance a region
  re-entered through a history state while a sibling region's transition
  exits the whole parallel state).  XState computes the state value from the
  configuration completed with every ancestor and every missing region's
  initial states, and selects transitions (and answers ``stateIn`` with a
  state value) by walking that value, while eventless selection, exit sets,
  history and ``stateIn("#id")`` use the raw configuration.  We keep both
  views exactly as XState does.
* **Selecting transitions for an event** (``select_transitions``): walk the
  state value (not the configuration) from the root.  A state offers the concatenation of its
  active children's choices (one child for a compound state, every region of
  a parallel one, in order), or else its own first enabled candidate.  A state's candidates are the transitions
  declared under the exact event type, then those under matching wildcards,
  longer descriptors first; the first whose guard passes is enabled.
* **Selecting eventless transitions** (``select_eventless_transitions``): for
  each active atomic state in configuration order, the first passing
  ``always`` transition of the state or of its nearest ancestor that has one.
* **Conflicts** (``remove_conflicting_transitions``): two transitions
  conflict when their exit sets intersect; the one whose source is a
  descendant of the other's wins, otherwise the earlier one does.
* **Transition domain** (``get_transition_domain``): the source itself when
  the transition does not re-enter and every target is the source or inside
  it; else the least common proper ancestor of source and targets; a
  re-entering transition from the root has no domain and exits everything.
* **Macrostep** (``macrostep``): the event's microstep, then, until the
  configuration is stable: eventless transitions first, then the next
  internal (done) event.  Eventless transitions are re-selected only when the
  previous microstep changed the configuration or the recorded history.
  Guards see the answers of the event being processed: the sent event's
  answers until an internal done event is taken, then none.
* **Completion**: entering a final child of a compound state queues its
  ``xstate.done.state.<id>`` event; a parallel state whose regions are all
  final queues its own; reaching the root makes the actor ``done``, and every
  active state's exit actions then run (deepest, latest first).
* **Actions** come out in execution order: exit actions (deepest first),
  transition actions (in selection order), entry actions (document order).
  Delayed transitions come out as timer operations: a state arms its ``after``
  timers on entry and cancels them on exit.
* **Termination**: a macrostep whose loop turn starts where an earlier turn
  did, or that takes more than ``max_iterations`` turns, raises
  :class:`InfiniteLoopError` (XState would loop forever).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple

from .._exceptions import InfiniteLoopError
from ._events import done_event_type, matches_descriptor
from ._model import COMPOUND, FINAL, HISTORY, PARALLEL, Effect, Node, TimerOp, Transition, _UNSET

__all__ = [
    "HistoryValue",
    "MacroStep",
    "MicroStep",
    "compute_entry_set",
    "compute_exit_set",
    "get_transition_domain",
    "initial_macrostep",
    "macrostep",
    "remove_conflicting_transitions",
    "select_eventless_transitions",
    "select_transitions",
    "state_value",
]

Active = dict[Node, None]  # ordered set of active states
Answers = Mapping[str, bool] | None
# Recorded history: history node -> the states it remembers, sorted by the
# history node's document order so that equal histories compare equal.
HistoryValue = tuple[tuple[Node, tuple[Node, ...]], ...]

_CANDIDATE_CACHE_LIMIT = 256


class MicroStep(NamedTuple):
    """One microstep: the transitions taken together and what they did.

    ``event`` is the type of the event that selected the transitions, or
    ``None`` for eventless ones.  The order inside each tuple is part of the
    contract: ``exited`` deepest first, ``entered`` in document order,
    ``effects`` and ``timers`` in execution order.
    """

    event: str | None
    transitions: tuple[Transition, ...]
    exited: tuple[Node, ...]
    entered: tuple[Node, ...]
    effects: tuple[Effect, ...]
    timers: tuple[TimerOp, ...]


class MacroStep(NamedTuple):
    """The result of processing one external event (or the initial entry).

    ``handled`` is true when at least one transition was selected, including
    eventless ones enabled by the event's guard answers.
    """

    configuration: tuple[Node, ...]
    history: HistoryValue
    done: bool
    handled: bool
    microsteps: tuple[MicroStep, ...]


# -- tree helpers -------------------------------------------------------------


def is_descendant(node: Node, ancestor: Node | None) -> bool:
    """Strict descendant test; every state is inside the absent (``None``) domain."""
    return ancestor is None or ancestor in node.ancestors


def proper_ancestors(node: Node, stop: Node | None) -> list[Node]:
    """Ancestors of ``node`` from its parent upward, excluding ``stop`` and above."""
    if node is stop:
        return []
    out: list[Node] = []
    for a in node.ancestors:
        if a is stop:
            break
        out.append(a)
    return out


def find_lcca(nodes: list[Node]) -> Node | None:
    """The nearest proper ancestor of ``nodes[0]`` that contains all the others."""
    head, tail = nodes[0], nodes[1:]
    for ancestor in head.ancestors:
        if all(ancestor in n.ancestors for n in tail):
            return ancestor
    return None


def is_in_final_state(active: Mapping[Node, None], node: Node) -> bool:
    """Whether ``node`` has completed given the active set."""
    if node.type == COMPOUND:
        return any(c.type == FINAL and c in active for c in node.children)
    if node.type == PARALLEL:
        return all(is_in_final_state(active, c) for c in node.children)
    return node.type == FINAL


def history_lookup(history: HistoryValue, node: Node) -> tuple[Node, ...] | None:
    for hist_node, remembered in history:
        if hist_node is node:
            return remembered
    return None


def initial_states(node: Node) -> dict[Node, None]:
    """``node`` and the states its default entry reaches (history states included
    where an ``initial`` names one), in visiting order."""
    found: dict[Node, None] = {}

    def visit(n: Node) -> None:
        if n in found:
            return
        found[n] = None
        if n.type == COMPOUND:
            assert n.initial is not None
            visit(n.initial)
        elif n.type == PARALLEL:
            for child in n.children:
                visit(child)

    visit(node)
    return found


def _initial_states_with_ancestors(node: Node) -> dict[Node, None]:
    found = initial_states(node)
    for s in list(found):
        for a in proper_ancestors(s, node):
            found[a] = None
    return found


def complete_configuration(nodes: Iterable[Node]) -> dict[Node, None]:
    """The configuration completed as XState completes it to compute the state
    value: compound states with no active child get their initial states,
    parallel states get their missing regions, and every ancestor is added."""
    completed = dict.fromkeys(nodes)
    with_children = {n.parent for n in completed if n.parent is not None}
    order = list(completed)
    i = 0
    while i < len(order):
        n = order[i]
        i += 1
        if n.type == COMPOUND and n not in with_children:
            additions: Iterable[Node] = _initial_states_with_ancestors(n)
        elif n.type == PARALLEL:
            additions = [x for c in n.children if c not in completed for x in _initial_states_with_ancestors(c)]
        else:
            continue
        for x in additions:
            if x not in completed:
                completed[x] = None
                order.append(x)
    i = 0
    while i < len(order):
        parent = order[i].parent
        i += 1
        while parent is not None:
            if parent not in completed:
                completed[parent] = None
                order.append(parent)
            parent = parent.parent
    return completed


def value_children(completed: Mapping[Node, None]) -> dict[Node, list[Node]]:
    """Children of each state within a completed configuration, in its order."""
    children: dict[Node, list[Node]] = {}
    for n in completed:
        if n.parent is not None:
            children.setdefault(n.parent, []).append(n)
    return children


def state_value(root: Node, nodes: Iterable[Node]) -> Any:
    """The state value of a configuration, in XState's shape.

    Computed over the completed configuration, children in its order; a
    compound state whose first child is atomic shows just that child's key.
    """
    children = value_children(complete_configuration(nodes))

    def value_of(node: Node) -> Any:
        kids = children.get(node)
        if not kids:
            return {}
        if node.type == COMPOUND and kids[0].is_atomic:
            return kids[0].key
        return {k.key: value_of(k) for k in kids}

    return value_of(root)


class View:
    """What guards see of the configuration: the raw active set and, computed
    only when asked, the state value (see ``complete_configuration``)."""

    __slots__ = ("root", "active", "_value")

    def __init__(self, root: Node, active: Mapping[Node, None]) -> None:
        self.root = root
        self.active = active
        self._value: Any = _UNSET

    @property
    def value(self) -> Any:
        if self._value is _UNSET:
            self._value = state_value(self.root, self.active)
        return self._value


# -- transition selection ------------------------------------------------------


def candidates_for(node: Node, event_type: str) -> tuple[Transition, ...]:
    """Transitions of ``node`` for ``event_type``: exact ones first, then wildcard
    ones by descending descriptor length (declaration order among equals)."""
    exact = node.candidates.get(event_type, ())
    if not node.wildcards:
        return exact
    cached = node._candidate_cache.get(event_type)
    if cached is not None:
        return cached
    matching = [d for d in node.wildcards if d != event_type and matches_descriptor(event_type, d)]
    matching.sort(key=len, reverse=True)
    result = exact + tuple(t for d in matching for t in node.candidates[d])
    if len(node._candidate_cache) >= _CANDIDATE_CACHE_LIMIT:
        node._candidate_cache.clear()
    node._candidate_cache[event_type] = result
    return result


def enabled_transition(node: Node, event_type: str, answers: Answers, view: View) -> Transition | None:
    """The first candidate of ``node`` whose guard passes, if any."""
    for t in candidates_for(node, event_type):
        if t.guard is None or t.guard.evaluate(answers, view):
            return t
    return None


def select_transitions(root: Node, active: Active, event_type: str, answers: Answers) -> list[Transition]:
    """Transitions enabled by an event, walking the state value from ``root``."""
    view = View(root, active)
    return _select_in(root, view.value, event_type, answers, view)


def _select_in(node: Node, value: Any, event_type: str, answers: Answers, view: View) -> list[Transition]:
    # A string names an atomic child; an object with one key a compound
    # child; any other object is walked like a parallel state (every key,
    # in order).  If nothing below offers a transition, the node itself may.
    if isinstance(value, str):
        own_child = enabled_transition(node.states[value], event_type, answers, view)
        inner = [own_child] if own_child is not None else []
    else:
        inner = []
        for key, sub in value.items():
            inner.extend(_select_in(node.states[key], sub, event_type, answers, view))
    if inner:
        return inner
    own = enabled_transition(node, event_type, answers, view)
    return [own] if own is not None else []


def select_eventless_transitions(root: Node, active: Active, history: HistoryValue, answers: Answers) -> list[Transition]:
    """Enabled ``always`` transitions, one per active atomic state at most."""
    enabled: dict[Transition, None] = {}
    view = View(root, active)
    for state in active:
        if not state.is_atomic:
            continue
        for s in (state, *state.ancestors):
            chosen = None
            for t in s.always:
                if t.guard is None or t.guard.evaluate(answers, view):
                    chosen = t
                    break
            if chosen is not None:
                enabled[chosen] = None
                break
    if not enabled:
        return []
    return remove_conflicting_transitions(list(enabled), active, history)


def remove_conflicting_transitions(
    transitions: list[Transition], active: Active, history: HistoryValue
) -> list[Transition]:
    """Keep a conflict-free subset (see the module docstring)."""
    if len(transitions) < 2:
        return transitions
    # Kept transitions never share an exited state, so each exited state has
    # at most one owner among them: the transitions a new one conflicts with
    # are found by lookups, not by comparing it with every kept one.
    kept: dict[Transition, None] = {}
    exits: dict[Transition, list[Node]] = {}
    owner: dict[Node, Transition] = {}
    for t1 in transitions:
        exits[t1] = compute_exit_set((t1,), active, history)
        conflicts = dict.fromkeys(owner[n] for n in exits[t1] if n in owner)
        if any(not is_descendant(t1.source, t2.source) for t2 in conflicts):
            continue  # preempted by a transition kept before it
        for t2 in conflicts:
            del kept[t2]
            for n in exits[t2]:
                del owner[n]
        kept[t1] = None
        for n in exits[t1]:
            owner[n] = t1
    return list(kept)


# -- exit and entry sets ------------------------------------------------------------


def history_default_targets(node: Node) -> tuple[tuple[Node, ...], bool]:
    """Where a history state with nothing recorded leads: its own default
    target, the parent itself for a parallel parent, else the parent's initial
    state.  The flag says whether it is the parent's initial transition."""
    parent = node.parent
    assert parent is not None
    if node.history_target is not None:
        return node.history_target, False
    if parent.type == PARALLEL:
        return (parent,), False
    assert parent.initial is not None
    return (parent.initial,), True


def get_effective_target_states(t: Transition, history: HistoryValue) -> list[Node]:
    """Targets with history states replaced by what they remember (or their default)."""
    if t.targets is None:
        return []
    return list(_effective_targets(t.targets, history))


def _effective_targets(targets: Iterable[Node], history: HistoryValue) -> dict[Node, None]:
    out: dict[Node, None] = {}
    for target in targets:
        if target.type == HISTORY:
            remembered = history_lookup(history, target)
            if remembered is not None:
                out.update(dict.fromkeys(remembered))
            else:
                out.update(_effective_targets(history_default_targets(target)[0], history))
        else:
            out[target] = None
    return out


def get_transition_domain(t: Transition, history: HistoryValue) -> Node | None:
    """The state whose descendants the transition exits and enters (``None``:
    the whole configuration, root included)."""
    if t.history_free:
        cached = t._domain
        if cached is _UNSET:
            cached = t._domain = _compute_domain(t, history)
        return cached  # type: ignore[return-value]
    return _compute_domain(t, history)


def _compute_domain(t: Transition, history: HistoryValue) -> Node | None:
    targets = get_effective_target_states(t, history)
    source = t.source
    if not t.reenter and all(s is source or source in s.ancestors for s in targets):
        return source
    lca = find_lcca(targets + [source])
    if lca is not None:
        return lca
    if t.reenter:
        return None
    root = source.ancestors[-1] if source.ancestors else source
    return root


_WALK_ABOVE: Final = 32  # active states beyond which compute_exit_set walks down from the domain


def compute_exit_set(transitions: Iterable[Transition], active: Active, history: HistoryValue) -> list[Node]:
    """States the transitions exit: the active states below each domain
    (unordered: the microstep sorts them).  In a large configuration they
    are found by walking down from the domain, so that a transition inside
    one of many parallel regions costs the size of its region, not of the
    whole configuration; in a small one, by testing each active state."""
    out: dict[Node, None] = {}
    walk = len(active) > _WALK_ABOVE
    for t in transitions:
        if not t.targets:
            continue
        domain = get_transition_domain(t, history)
        if domain is None:
            out.update(dict.fromkeys(active))
            continue
        if t.reenter and t.source is domain:
            out[domain] = None
        if not walk:
            for s in active:
                if domain in s.ancestors:
                    out[s] = None
            continue
        below = [domain]
        while below:
            for child in below.pop().children:
                if child in active:
                    out[child] = None
                below.append(child)
    return list(out)



class _EntrySet(dict[Node, None]):
    """The states to enter (a dict used as an ordered set), and, on demand,
    every proper ancestor of them (:meth:`covered`): "is some state to enter
    below this region?" becomes a set lookup.  Scanning the states for each
    region instead made a microstep cubic in the number of parallel regions
    (a machine of 1,000 regions took minutes).  Entries are only ever added,
    in order, so the set is brought up to date from the new ones alone."""

    __slots__ = ("_covered", "_counted")

    def __init__(self) -> None:
        super().__init__()
        self._covered: set[Node] = set()
        self._counted = 0

    def covered(self) -> set[Node]:
        if self._counted < len(self):
            for node in itertools.islice(self, self._counted, None):
                self._covered.update(node.ancestors)
            self._counted = len(self)
        return self._covered


def compute_entry_set(transitions: Iterable[Transition], history: HistoryValue) -> dict[Node, None]:
    """States the transitions enter (unordered; entry sorts by document order)."""
    to_enter = _EntrySet()
    for t in transitions:
        domain = get_transition_domain(t, history)
        for s in t.targets or ():
            if s.type != HISTORY and (s is not t.source or t.source is not domain or t.reenter):
                to_enter[s] = None
            add_descendant_states_to_enter(s, history, to_enter)
        for s in get_effective_target_states(t, history):
            ancestors = proper_ancestors(s, domain)
            if domain is not None and domain.type == PARALLEL:
                ancestors.append(domain)
            reentrancy_domain = None if (t.source.parent is None and t.reenter) else domain
            add_ancestor_states_to_enter(to_enter, history, ancestors, reentrancy_domain)
    return to_enter


def add_descendant_states_to_enter(node: Node, history: HistoryValue, to_enter: _EntrySet) -> None:
    """Add what entering ``node`` implies below it (initial states, regions, history)."""
    if node.type == HISTORY:
        parent = node.parent
        assert parent is not None
        remembered = history_lookup(history, node)
        targets = remembered if remembered is not None else history_default_targets(node)[0]
        for s in targets:
            to_enter[s] = None
            add_descendant_states_to_enter(s, history, to_enter)
        for s in targets:
            add_ancestor_states_to_enter(to_enter, history, proper_ancestors(s, parent), None)
    elif node.type == COMPOUND:
        initial = node.initial
        assert initial is not None
        if initial.type != HISTORY:
            to_enter[initial] = None
        add_descendant_states_to_enter(initial, history, to_enter)
        add_ancestor_states_to_enter(to_enter, history, proper_ancestors(initial, node), None)
    elif node.type == PARALLEL:
        # entering a region adds states below it only: the others' check stands
        covered = to_enter.covered()
        for child in node.children:
            if child not in covered:
                to_enter[child] = None
                add_descendant_states_to_enter(child, history, to_enter)


def add_ancestor_states_to_enter(
    to_enter: _EntrySet, history: HistoryValue, ancestors: list[Node], reentrancy_domain: Node | None
) -> None:
    """Add ancestors being entered, and the other regions of parallel ones."""
    for anc in ancestors:
        if reentrancy_domain is None or reentrancy_domain in anc.ancestors:
            to_enter[anc] = None
        if anc.type == PARALLEL:
            covered = to_enter.covered()
            for child in anc.children:
                if child not in covered:
                    to_enter[child] = None
                    add_descendant_states_to_enter(child, history, to_enter)


# -- microstep and macrostep -----------------------------------------------------


class _State:
    """Mutable working state of one macrostep (never escapes this module)."""

    __slots__ = ("active", "history", "done", "queue")

    def __init__(self, active: Active, history: HistoryValue) -> None:
        self.active = active
        self.history = history
        self.done = False
        self.queue: list[str] = []


def _microstep(
    state: _State, transitions: list[Transition], event: str | None, is_initial: bool, root: Node
) -> tuple[MicroStep, bool]:
    """Take ``transitions`` together; returns the step and whether it changed
    the configuration or the recorded history (https://www.w3.org/TR/scxml/#microstepProcedure)."""
    effects: list[Effect] = []
    timers: list[TimerOp] = []
    active = state.active
    original_order = tuple(active)
    before = set(original_order)
    history_touched = False
    filtered = remove_conflicting_transitions(transitions, active, state.history)

    exited: list[Node] = []
    if not is_initial:
        exited = compute_exit_set(filtered, active, state.history)
        exited.sort(key=lambda n: n.order, reverse=True)
        recorded: dict[Node, tuple[Node, ...]] | None = None
        for s in exited:
            for h in s.history_children:
                if recorded is None:
                    recorded = dict(state.history)
                if h.history == "deep":
                    recorded[h] = tuple(n for n in active if n.is_atomic and s in n.ancestors)
                else:
                    recorded[h] = tuple(n for n in active if n.parent is s)
        if recorded is not None:
            history_touched = True
            state.history = tuple(sorted(recorded.items(), key=lambda kv: kv[0].order))
        for s in exited:
            effects.extend(s.exit_effects)
            timers.extend(s.exit_timers)
            del active[s]

    for t in filtered:
        effects.extend(t.effects)

    to_enter = compute_entry_set(filtered, state.history)
    entered = sorted(to_enter, key=lambda n: n.order)
    completed: set[Node] = set()
    for s in entered:
        active[s] = None
        effects.extend(s.entry_effects)
        timers.extend(s.entry_timers)
        if s.type != FINAL:
            continue
        parent = s.parent
        marker = parent if parent is not None and parent.type == PARALLEL else (parent.parent if parent is not None else None)
        if parent is not None and parent.type == COMPOUND:
            state.queue.append(done_event_type(parent.id))
        while marker is not None and marker.type == PARALLEL and marker not in completed and is_in_final_state(active, marker):
            completed.add(marker)
            state.queue.append(done_event_type(marker.id))
            marker = marker.parent
        if marker is None:
            state.done = True

    if state.done:
        for s in sorted(active, key=lambda n: n.order, reverse=True):
            effects.extend(s.exit_effects)
            timers.extend(s.exit_timers)

    same_states = before == set(active)
    if same_states and not history_touched:
        # XState keeps the previous snapshot's configuration (and so its
        # order) when a microstep leaves the set of states and the history
        # unchanged, even if states were exited and re-entered.
        state.active = dict.fromkeys(original_order)
    changed = history_touched or state.done or not same_states
    step = MicroStep(event, tuple(filtered), tuple(exited), tuple(entered), tuple(effects), tuple(timers))
    return step, changed


def macrostep(
    root: Node,
    configuration: Iterable[Node],
    history: HistoryValue,
    event_type: str,
    answers: Answers,
    max_iterations: int,
) -> MacroStep:
    """Process one external event to a stable configuration.

    Args:
        root: the machine's root node.
        configuration: the active states, in configuration order.
        history: the recorded history.
        event_type: the event's type.
        answers: the caller's guard answers for this event.
        max_iterations: bound on loop turns after the event's own microstep.

    Raises:
        InfiniteLoopError: the configuration did not come to rest.
    """
    state = _State(dict.fromkeys(configuration), history)
    steps: list[MicroStep] = []
    transitions = select_transitions(root, state.active, event_type, answers)
    handled = bool(transitions)
    if transitions:
        step, _ = _microstep(state, transitions, event_type, False, root)
        steps.append(step)
    handled |= _settle(state, steps, event_type, answers, max_iterations, root)
    return MacroStep(tuple(state.active), state.history, state.done, handled, tuple(steps))


def initial_macrostep(root: Node, answers: Answers, max_iterations: int) -> MacroStep:
    """Enter the initial configuration and settle it (the spawn macrostep).

    ``answers`` are the spawn request's guard answers, seen by the eventless
    transitions of this first macrostep.
    """
    state = _State({root: None}, ())
    initial_targets = list(initial_states(root))
    entry = Transition(root, tuple(initial_targets), True, None, (), "", "")
    step, _ = _microstep(state, [entry], None, True, root)
    steps = [step]
    _settle(state, steps, "xstate.init", answers, max_iterations, root)
    return MacroStep(tuple(state.active), state.history, state.done, True, tuple(steps))


def _settle(
    state: _State, steps: list[MicroStep], event_type: str, answers: Answers, max_iterations: int, root: Node
) -> bool:
    """Run eventless transitions and internal events until stable; True if any
    transition was taken."""
    took_any = False
    reselect = True
    iterations = 0
    current_event = event_type
    current_answers = answers
    # Every turn is determined by what is below (guard answers are fixed for
    # the macrostep, and no code runs), so a turn that starts where an
    # earlier one did will loop forever: stop at once instead of after
    # max_iterations turns (which, with many parallel regions, took minutes).
    seen: set[tuple[Any, ...]] = set()
    while not state.done:
        iterations += 1
        if iterations > max_iterations:
            raise InfiniteLoopError(event_type, max_iterations)
        if iterations > 1:  # most macrosteps end in their first turn: it is not recorded
            turn = (frozenset(state.active), state.history, tuple(state.queue), current_answers is None, reselect)
            if turn in seen:
                raise InfiniteLoopError(event_type, max_iterations)
            seen.add(turn)
        transitions = select_eventless_transitions(root, state.active, state.history, current_answers) if reselect else []
        eventless = bool(transitions)
        if not eventless:
            if not state.queue:
                break
            current_event = state.queue.pop(0)
            current_answers = None
            transitions = select_transitions(root, state.active, current_event, None)
        if transitions:
            took_any = True
            step, changed = _microstep(state, transitions, None if eventless else current_event, False, root)
            steps.append(step)
        else:
            changed = False
        reselect = changed if eventless else True
    return took_any
