"""The public surface is deliberate: adding a public name must be a decision."""

import skruntime
import skruntime.statechart


def test_top_level_all():
    assert set(skruntime.__all__) == {
        "FNV_OFFSET", "ConfigError", "CorruptRecordError", "DecryptionError", "DefinitionError",
        "ExecutionError", "Fenced", "FormatVersionError", "InfiniteLoopError", "KeyConfigError",
        "RoutingError", "SkRuntimeError", "SnapshotError", "StoreClosedError", "StoreError", "StoreFullError", "fingerprint_chain",
        "fingerprint_hex", "path_hash",
    }


def test_statechart_all():
    assert set(skruntime.statechart.__all__) == {
        "DEFAULT_MAX_ITERATIONS", "Arm", "Cancel", "DefinitionError", "InfiniteLoopError", "Limits",
        "MacroStep", "Machine", "MicroStep", "Replay", "SnapshotError", "Snapshot", "Step",
        "after_event_type", "done_event_type", "matches_descriptor",
    }


def test_every_exported_name_exists():
    for module in (skruntime, skruntime.statechart):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_public_classes_show_public_module():
    assert skruntime.StoreError.__module__ == "skruntime"
    assert skruntime.statechart.Machine.__module__ == "skruntime.statechart"


def test_no_unlisted_public_names():
    for module in (skruntime, skruntime.statechart):
        public = {n for n in vars(module) if not n.startswith("_")}
        # submodules imported as a side effect are not API
        public -= {"statechart", "cli", "store", "runtime", "server", "client"}
        assert public <= set(module.__all__) | {"annotations"}, public - set(module.__all__)
