"""Where skruntime deliberately differs from XState (README, "Semantics").
Each difference is asserted here; the conformance suite asserts everything
else matches."""

import pytest

from skruntime.statechart import Arm, Cancel, DefinitionError, InfiniteLoopError, Machine

LOOP = {"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"always": "c"}, "c": {"always": "b"}}}


def test_an_infinite_eventless_loop_rejects_the_event_and_keeps_the_snapshot():
    # XState loops forever (or, with maxIterations, puts the actor in error).
    machine = Machine(LOOP, max_iterations=50)
    snapshot = machine.initial_transition().snapshot
    with pytest.raises(InfiniteLoopError) as info:
        machine.transition(snapshot, "GO")
    assert info.value.max_iterations == 50 and info.value.event_type == "GO"
    assert snapshot.value == "a"  # untouched; the next event is processed normally


def test_a_loop_is_recognised_when_it_comes_back_not_after_the_bound():
    # A microstep that starts where an earlier one did will loop forever
    # (guard answers are fixed and no code runs): with a bound no macrostep
    # could reach, the event is still rejected.
    machine = Machine(LOOP, max_iterations=10**9)
    with pytest.raises(InfiniteLoopError):
        machine.transition(machine.initial_transition().snapshot, "GO")
    # many parallel regions cycling at once (a hostile definition that once
    # took minutes per event); and the same regions settling instead
    regions = {f"r{i}": {"initial": "x", "states": {"x": {"always": "y"}, "y": {"always": "x"}}} for i in range(600)}
    with pytest.raises(InfiniteLoopError):
        Machine({"id": "p", "type": "parallel", "states": regions}, max_iterations=10**9).initial_transition()
    settling = {f"r{i}": {"initial": "x", "states": {"x": {"always": "y"}, "y": {"always": "z"}, "z": {}}} for i in range(600)}
    step = Machine({"id": "p", "type": "parallel", "states": settling}).initial_transition()
    assert step.snapshot.value == {f"r{i}": "z" for i in range(600)}


def test_a_loop_at_spawn_is_an_error_too():
    definition = {"id": "m", "initial": "b", "states": {"b": {"always": "c"}, "c": {"always": "b"}}}
    with pytest.raises(InfiniteLoopError):
        Machine(definition).initial_transition()


def test_re_entering_an_active_state_restarts_its_timer_instead_of_doubling_it():
    # Entering a state that is already active (a transition to its parent's
    # history state that points back at it) re-runs its entry.  XState then
    # schedules its delayed event a second time; skruntime arms one timer per
    # delayed event, so the second arm replaces the first.
    definition = {
        "id": "m",
        "initial": "p",
        "states": {
            "p": {
                "initial": "a",
                "states": {
                    "a": {"after": {"100": "b"}, "on": {"BACK": "h"}},
                    "b": {},
                    "h": {"type": "history", "target": "a"},
                },
            }
        },
    }
    machine = Machine(definition)
    step = machine.initial_transition()
    assert step.timers == (Arm("xstate.after.100.m.p.a", 100),)
    step = machine.transition(step.snapshot, "BACK")
    assert step.handled and step.snapshot.value == {"p": "a"}
    pending: dict = {}
    for op in machine.initial_transition().timers + step.timers:
        pending.pop(op.event_type, None)
        if isinstance(op, Arm):
            pending[op.event_type] = op.delay
    assert pending == {"xstate.after.100.m.p.a": 100}  # one timer, not two
    assert not any(isinstance(op, Cancel) for op in step.timers)  # the state was not exited


def test_a_bare_string_inside_an_after_list_is_rejected():
    # XState spreads such a string into a targetless transition.
    definition = {"id": "m", "initial": "a", "states": {"a": {"after": {"5": [{"target": "b", "guard": "g"}, "b"]}}, "b": {}}}
    with pytest.raises(DefinitionError) as info:
        Machine(definition)
    assert info.value.pointer == "/states/a/after/5/1"


def test_unknown_keys_and_v4_spellings_are_errors_not_ignored():
    with pytest.raises(DefinitionError) as info:
        Machine({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"target": "a", "cond": "ok"}}}}})
    assert info.value.pointer == "/states/a/on/GO/cond"


def test_unanswered_guards_are_false():
    definition = {"id": "m", "initial": "a", "states": {"a": {"on": {"GO": [{"target": "b", "guard": "ok"}, {"target": "c"}]}}, "b": {}, "c": {}}}
    machine = Machine(definition)
    start = machine.initial_transition().snapshot
    assert machine.transition(start, "GO").snapshot.value == "c"
    assert machine.transition(start, "GO", {"ok": True}).snapshot.value == "b"
    assert machine.transition(start, "GO", {"ok": False}).snapshot.value == "c"
