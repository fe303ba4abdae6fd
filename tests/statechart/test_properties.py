"""Properties the runtime relies on: determinism, persistence, replay."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from skruntime.statechart import Machine

from .samples import ALL, EVENTS, GUARDS

machine_names = st.sampled_from(sorted(ALL))
answers = st.dictionaries(st.sampled_from(GUARDS), st.booleans(), max_size=3)
events = st.lists(st.tuples(st.sampled_from(EVENTS), answers), max_size=25)


def run(machine, history, spawn_guards=None):
    step = machine.initial_transition(guards=spawn_guards)
    trace = [(step.snapshot.value, step.snapshot.status, step.effects, step.timers)]
    snapshot = step.snapshot
    for event_type, guards in history:
        step = machine.transition(snapshot, event_type, guards)
        trace.append((step.handled, step.snapshot.value, step.snapshot.status, step.effects, step.timers))
        snapshot = step.snapshot
    return snapshot, trace


@settings(max_examples=300, deadline=None)
@given(machine_names, events, answers)
def test_deterministic_across_machine_instances(name, history, spawn):
    # Two independently compiled machines (separate caches) agree step by step.
    _, a = run(Machine(ALL[name]), history, spawn)
    _, b = run(Machine(ALL[name]), history, spawn)
    assert a == b


@settings(max_examples=300, deadline=None)
@given(machine_names, events)
def test_cached_transitions_equal_the_full_algorithm(name, history):
    machine = Machine(ALL[name])
    snapshot = machine.initial_transition().snapshot
    for event_type, guards in history:
        fresh = machine.macrostep(snapshot, event_type, guards)
        step = machine.transition(snapshot, event_type, guards)
        assert step.handled == (fresh.handled and not snapshot.done)
        if step.handled:
            assert step.snapshot.configuration.nodes == fresh.configuration
            assert step.effects == tuple(e for m in fresh.microsteps for e in m.effects)
            assert step.timers == tuple(t for m in fresh.microsteps for t in m.timers)
        snapshot = step.snapshot


@settings(max_examples=300, deadline=None)
@given(machine_names, events, events)
def test_snapshots_survive_a_json_round_trip(name, before, after):
    original = Machine(ALL[name])
    snapshot, _ = run(original, before)
    reloaded = Machine(ALL[name])  # as after a restart: a fresh compile
    restored = reloaded.restore(json.loads(json.dumps(snapshot.to_json())))
    assert restored.to_json() == snapshot.to_json()
    # ... and behaves the same from there on.
    a, b = snapshot, restored
    for event_type, guards in after:
        sa = original.transition(a, event_type, guards)
        sb = reloaded.transition(b, event_type, guards)
        assert (sa.handled, sa.snapshot.to_json(), sa.effects, sa.timers) == (
            sb.handled, sb.snapshot.to_json(), sb.effects, sb.timers,
        )
        a, b = sa.snapshot, sb.snapshot


@settings(max_examples=300, deadline=None)
@given(machine_names, events, answers)
def test_replay_equals_stepping(name, history, spawn):
    machine = Machine(ALL[name])
    snapshot = machine.initial_transition(guards=spawn).snapshot
    handled_prefix = []
    diverged = None
    for index, (event_type, guards) in enumerate(history):
        step = machine.transition(snapshot, event_type, guards)
        if not step.handled:
            diverged = index
            break
        handled_prefix.append((event_type, guards))
        snapshot = step.snapshot
    replay = Machine(ALL[name]).replay(history, spawn_guards=spawn)
    assert replay.diverged_at == diverged
    if diverged is None:
        assert replay.snapshot.to_json() == snapshot.to_json()
    # Replaying only the handled events always lands where stepping did.
    clean = Machine(ALL[name]).replay(handled_prefix, spawn_guards=spawn)
    assert clean.diverged_at is None
    assert clean.snapshot.to_json() == snapshot.to_json()


@given(machine_names, events)
def test_context_is_carried_unchanged(name, history):
    machine = Machine(ALL[name])
    context = {"customer": {"id": 7}, "tags": ["x"]}
    snapshot = machine.initial_transition(context=context).snapshot
    for event_type, guards in history:
        snapshot = machine.transition(snapshot, event_type, guards).snapshot
        assert snapshot.context is context
