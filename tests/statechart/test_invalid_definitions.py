"""Invalid definitions are rejected with the JSON Pointer of the bad node.

Each case is (definition, expected pointer, a phrase the reason contains).
"""

import pytest

from skruntime.statechart import DefinitionError, Limits, Machine


def m(**states):
    """A machine whose root has the given states, initial = the first one."""
    return {"id": "m", "initial": next(iter(states)), "states": states}


OK = {"on": {"GO": "b"}}

CASES = [
    # -- shape ---------------------------------------------------------------
    ("not-an-object", [], "", "JSON object"),
    ("root-id-type", {"id": 3, "initial": "a", "states": {"a": {}}}, "/id", "string"),
    ("root-id-dot", {"id": "m.v2", "initial": "a", "states": {"a": {}}}, "/id", "'.'"),
    ("root-id-empty", {"id": "", "initial": "a", "states": {"a": {}}}, "/id", "empty"),
    ("context-not-object", {"id": "m", "context": [1], "initial": "a", "states": {"a": {}}}, "/context", "object"),
    ("state-not-object", m(a="b"), "/states/a", "JSON object"),
    ("states-not-object", m(a={"initial": "x", "states": ["x"]}), "/states/a/states", "JSON object"),
    ("unknown-root-key", {"id": "m", "intial": "a", "states": {"a": {}}}, "/intial", "unknown key"),
    ("unknown-state-key", m(a={"onn": {}}), "/states/a/onn", "unknown key"),
    ("context-not-on-root", m(a={"context": {}}), "/states/a/context", "root"),
    ("version-type", {"id": "m", "version": 2, "initial": "a", "states": {"a": {}}}, "/version", "string"),
    # -- compound / initial ---------------------------------------------------
    ("compound-no-initial", {"id": "m", "states": {"a": {}}}, "", "initial"),
    ("nested-no-initial", m(a={"states": {"x": {}}}), "/states/a", "initial"),
    ("initial-unknown", {"id": "m", "initial": "zz", "states": {"a": {}}}, "/initial", "not a child"),
    ("initial-not-string", {"id": "m", "initial": {"target": "a"}, "states": {"a": {}}}, "/initial", "key of a child"),
    ("initial-on-parallel", m(p={"type": "parallel", "initial": "r", "states": {"r": {}}}), "/states/p/initial", "parallel"),
    ("initial-on-atomic", m(a={"initial": "x"}), "/states/a/initial", "atomic"),
    ("only-history-children", m(a={"initial": "h", "states": {"h": {"type": "history"}}}), "/states/a", "history"),
    ("parallel-no-regions", m(p={"type": "parallel"}), "/states/p", "region"),
    ("final-with-states", m(f={"type": "final", "states": {"x": {}}}), "/states/f/states", "final"),
    ("atomic-with-states", m(a={"type": "atomic", "states": {"x": {}}}), "/states/a/states", "atomic"),
    ("unknown-type", m(a={"type": "choice"}), "/states/a/type", "unknown state type"),
    ("compound-type-no-states", m(a={"type": "compound"}), "/states/a/type", "child states"),
    # -- keys and ids ----------------------------------------------------------
    ("key-with-dot", {"id": "m", "initial": "a", "states": {"a": {}, "b.c": {}}}, "/states/b.c", "'.'"),
    ("key-empty", {"id": "m", "initial": "a", "states": {"a": {}, "": {}}}, "/states/", "empty"),
    ("key-hash", {"id": "m", "initial": "a", "states": {"a": {}, "#b": {}}}, "/states/#b", "'#'"),
    ("key-with-slash-pointer", {"id": "m", "initial": "a", "states": {"a": {"on": {"E": "zz"}}, "x/y": {}}}, "/states/a/on/E", "no child"),
    ("duplicate-custom-id", m(a={"id": "dup"}, b={"id": "dup"}), "/states/b/id", "duplicate"),
    ("custom-id-clashes-root", m(a={"id": "m"}, b={}), "/states/a/id", "duplicate"),
    ("custom-id-not-string", m(a={"id": 7}), "/states/a/id", "string"),
    # -- transitions ------------------------------------------------------------
    ("unknown-target", m(a={"on": {"GO": "nowhere"}}), "/states/a/on/GO", "no child state 'nowhere'"),
    ("unknown-id-target", m(a={"on": {"GO": "#nope"}}), "/states/a/on/GO", "no state has id"),
    ("root-bare-target", {"id": "m", "initial": "a", "on": {"GO": "a"}, "states": {"a": {}}}, "/on/GO", "did you mean"),
    ("target-object-list-item", m(a={"on": {"GO": [{"target": "b"}, {"target": "zz"}]}}, b={}), "/states/a/on/GO/1/target", "no child"),
    ("target-wrong-type", m(a={"on": {"GO": {"target": 5}}}), "/states/a/on/GO/target", "string"),
    ("transition-wrong-type", m(a={"on": {"GO": 5}}), "/states/a/on/GO", "transition must be"),
    ("transition-null", m(a={"on": {"GO": None}}), "/states/a/on/GO", "cannot be null"),  # XState refuses it
    ("transition-null-in-list", m(a={"on": {"GO": [{"actions": "x"}, None]}}), "/states/a/on/GO/1", "cannot be null"),
    ("target-null", m(a={"on": {"GO": {"target": None, "actions": "x"}}}), "/states/a/on/GO/target", "cannot be null"),
    ("always-null", m(a={"always": None}), "/states/a/always", "cannot be null"),
    ("multi-target-same-region", m(a={"on": {"GO": {"target": ["b", "c"]}}}, b={}, c={}), "/states/a/on/GO/target", "not a parallel"),
    ("multi-target-nested", m(a={"on": {"GO": {"target": ["b", "b.x"]}}}, b={"initial": "x", "states": {"x": {}}}), "/states/a/on/GO/target", "nested"),
    ("multi-target-twice", m(a={"on": {"GO": {"target": ["b", "b"]}}}, b={}), "/states/a/on/GO/target", "twice"),
    ("empty-event", m(a={"on": {"": "a"}}), "/states/a/on/", "always"),
    ("event-too-long", m(a={"on": {"E" * 129: "a"}}), "/states/a/on/" + "E" * 129, "128"),
    ("v4-cond", m(a={"on": {"GO": {"target": "a", "cond": "ok"}}}), "/states/a/on/GO/cond", "guard"),
    ("v4-internal", m(a={"on": {"GO": {"target": "a", "internal": False}}}), "/states/a/on/GO/internal", "reenter"),
    ("unknown-transition-key", m(a={"on": {"GO": {"target": "a", "tagret": "b"}}}), "/states/a/on/GO/tagret", "unknown transition key"),
    ("reenter-not-bool", m(a={"on": {"GO": {"target": "a", "reenter": "yes"}}}), "/states/a/on/GO/reenter", "true or false"),
    ("on-not-object", m(a={"on": ["GO"]}), "/states/a/on", "JSON object"),
    ("always-bad-target", m(a={"always": {"target": "q"}}), "/states/a/always/target", "no child"),
    ("ondone-on-atomic", m(a={"onDone": "a"}), "/states/a/onDone", "never completes"),
    ("ondone-on-root", {"id": "m", "initial": "a", "onDone": "a", "states": {"a": {}}}, "/onDone", "never fires"),
    ("ondone-bad-target", m(a={"initial": "x", "states": {"x": {"type": "final"}}, "onDone": "zz"}), "/states/a/onDone", "no child"),
    # -- needs code ---------------------------------------------------------------
    ("invoke", m(a={"invoke": {"src": "fetchUser"}}), "/states/a/invoke", "never runs user code"),
    ("root-invoke", {"id": "m", "initial": "a", "invoke": {"src": "x"}, "states": {"a": {}}}, "/invoke", "never runs user code"),
    ("named-delay", m(a={"after": {"SHORT": "a"}}), "/states/a/after/SHORT", "named delays"),
    ("float-delay", m(a={"after": {"1.5": "a"}}), "/states/a/after/1.5", "milliseconds"),
    ("negative-delay", m(a={"after": {"-5": "a"}}), "/states/a/after/-5", "milliseconds"),
    ("leading-zero-delay", m(a={"after": {"010": "a"}}), "/states/a/after/010", "leading zeros"),
    ("root-delays-map", {"id": "m", "delays": {"x": 5}, "initial": "a", "states": {"a": {}}}, "/delays", "named delays"),
    ("string-in-after-list", m(a={"after": {"50": [{"target": "a", "guard": "g"}, "b"]}}, b={}), "/states/a/after/50/1", "targetless"),
    ("builtin-action", m(a={"entry": {"type": "xstate.spawnChild"}}), "/states/a/entry/type", "built-in"),
    ("builtin-action-string", m(a={"exit": ["log", "xstate.raise"]}), "/states/a/exit/1", "built-in"),
    ("inline-code-action", m(a={"entry": "(ctx) => ctx.count++"}), "/states/a/entry", "inline code"),
    ("inline-code-guard", m(a={"on": {"GO": {"target": "a", "guard": "function (x) { return true }"}}}), "/states/a/on/GO/guard", "inline code"),
    ("v4-onentry", m(a={"onEntry": "x"}), "/states/a/onEntry", "entry"),
    ("activities", m(a={"activities": ["beep"]}), "/states/a/activities", "code"),
    # -- actions ---------------------------------------------------------------------
    ("action-not-name", m(a={"entry": 5}), "/states/a/entry", "name or an object"),
    ("action-no-type", m(a={"entry": {"params": {}}}), "/states/a/entry/type", "string 'type'"),
    ("action-extra-key", m(a={"entry": {"type": "x", "exec": "y"}}), "/states/a/entry/exec", "unexpected key"),
    ("action-empty-name", m(a={"on": {"GO": {"actions": [""]}}}), "/states/a/on/GO/actions/0", "empty"),
    # -- guards ----------------------------------------------------------------------
    ("guard-reserved-name", m(a={"on": {"GO": {"target": "a", "guard": "and"}}}), "/states/a/on/GO/guard", "reserved"),
    ("guard-not-needs-one", m(a={"on": {"GO": {"target": "a", "guard": {"type": "not", "guards": ["x", "y"]}}}}), "/states/a/on/GO/guard/guards", "exactly one"),
    ("guard-and-not-list", m(a={"on": {"GO": {"target": "a", "guard": {"type": "and", "guards": "x"}}}}), "/states/a/on/GO/guard/guards", "list"),
    ("guard-nested-bad", m(a={"on": {"GO": {"target": "a", "guard": {"type": "or", "guards": ["ok", {"type": 3}]}}}}), "/states/a/on/GO/guard/guards/1/type", "string 'type'"),
    ("guard-wrong-type", m(a={"on": {"GO": {"target": "a", "guard": 1}}}), "/states/a/on/GO/guard", "name or an object"),
    ("stateIn-unknown", m(a={"on": {"GO": {"target": "a", "guard": {"type": "stateIn", "stateValue": "zz"}}}}), "/states/a/on/GO/guard/stateValue", "no child state"),
    ("stateIn-unknown-id", m(a={"on": {"GO": {"target": "a", "guard": {"type": "stateIn", "stateValue": "#zz"}}}}), "/states/a/on/GO/guard/stateValue", "no state has id"),
    ("stateIn-missing", m(a={"on": {"GO": {"target": "a", "guard": {"type": "stateIn"}}}}), "/states/a/on/GO/guard", "stateValue"),
    ("guard-extra-key", m(a={"on": {"GO": {"target": "a", "guard": {"type": "ok", "check": 1}}}}), "/states/a/on/GO/guard/check", "unexpected key"),
    # -- history, output, misc -----------------------------------------------------------
    ("history-extra-key", m(a={"initial": "x", "states": {"x": {}, "h": {"type": "history", "on": {}}}}), "/states/a/states/h/on", "history state only"),
    ("history-bad-kind", m(a={"initial": "x", "states": {"x": {}, "h": {"type": "history", "history": "wide"}}}), "/states/a/states/h/history", "shallow"),
    ("history-bad-target", m(a={"initial": "x", "states": {"x": {}, "h": {"type": "history", "target": "zz"}}}), "/states/a/states/h/target", "no child"),
    ("history-target-outside", {"id": "m", "initial": "a", "states": {"a": {"initial": "x", "states": {"x": {}, "h": {"type": "history", "target": "#m.b"}}}, "b": {}}}, "/states/a/states/h/target", "descendant"),
    ("root-history", {"id": "m", "type": "history"}, "", "root"),
    # a history default that leads back to a history state being resolved: XState overflows its stack
    ("history-initial-without-target", m(c={"initial": "h", "states": {"h": {"type": "history"}, "a": {}}}), "/states/c/states/h", "leads back"),
    (
        "history-targets-in-a-cycle",
        m(o={"on": {"IN": "c.h1"}}, c={"initial": "a", "states": {"h1": {"type": "history", "target": "h2"}, "h2": {"type": "history", "target": "h1"}, "a": {}}}),
        "/states/c/states/h1",
        "leads back",
    ),
    ("history-targets-itself", m(o={"on": {"IN": "c.h"}}, c={"initial": "a", "states": {"h": {"type": "history", "target": "h"}, "a": {}}}), "/states/c/states/h", "leads back"),
    (
        "history-initial-deeper-down",  # entering b enters c's initial, a history state that is its own default
        m(o={"on": {"IN": "b.h"}}, b={"initial": "x", "states": {"h": {"type": "history", "target": "c"}, "x": {}, "c": {"initial": "hh", "states": {"hh": {"type": "history"}, "y": {}}}}}),
        "/states/b/states/c/states/hh",
        "leads back",
    ),
    ("history-key-on-state", m(a={"type": "atomic", "history": "deep"}), "/states/a/history", "history states"),
    ("output-on-atomic", m(a={"output": 1}), "/states/a/output", "final"),
    ("tags-not-strings", m(a={"tags": ["x", 1]}), "/states/a/tags", "strings"),
    ("description-not-string", m(a={"description": 1}), "/states/a/description", "string"),
]


@pytest.mark.parametrize(("name", "definition", "pointer", "phrase"), CASES, ids=[c[0] for c in CASES])
def test_rejected_with_pointer(name, definition, pointer, phrase):
    with pytest.raises(DefinitionError) as info:
        Machine(definition)
    assert info.value.pointer == pointer
    assert phrase in info.value.reason


def test_there_are_at_least_forty_cases():
    assert len(CASES) >= 40


def test_limits_on_size_and_depth():
    wide = {"id": "m", "initial": "s0", "states": {f"s{i}": {} for i in range(20)}}
    with pytest.raises(DefinitionError) as info:
        Machine(wide, limits=Limits(max_states=10))
    assert info.value.pointer == "/states/s9"
    deep: dict = {}
    node = deep
    for _ in range(6):
        node["initial"] = "x"
        node["states"] = {"x": {}}
        node = node["states"]["x"]
    with pytest.raises(DefinitionError) as info:
        Machine({"id": "m", **deep}, limits=Limits(max_depth=4))
    assert info.value.pointer == "/states/x/states/x/states/x/states/x/states/x"


def test_pointer_escapes_slash_and_tilde():
    with pytest.raises(DefinitionError) as info:
        Machine(m(a={"on": {"a/b~c": "nowhere"}}))
    assert info.value.pointer == "/states/a/on/a~1b~0c"


def test_error_message_names_the_pointer():
    with pytest.raises(DefinitionError) as info:
        Machine(m(a={"on": {"GO": "nowhere"}}))
    assert str(info.value).startswith("/states/a/on/GO: ")
