"""The XState v5 compatible statechart engine: pure, no I/O, no clock.

Usable on its own::

    from skruntime.statechart import Machine

    machine = Machine(definition)            # validates; DefinitionError on problems
    step = machine.initial_transition()      # Step(snapshot, handled, effects, timers)
    step = machine.transition(step.snapshot, "SUBMIT_INFO", guards={"isEligible": True})
    step.snapshot.value, step.snapshot.status, step.effects

This package never imports trio, quart, lmdb, cffi or ``time`` (a test
enforces it): time, storage and the network belong to the runtime.
"""

from .._exceptions import DefinitionError as DefinitionError
from .._exceptions import InfiniteLoopError as InfiniteLoopError
from .._exceptions import SnapshotError as SnapshotError
from ._algorithm import MacroStep as MacroStep
from ._algorithm import MicroStep as MicroStep
from ._events import after_event_type as after_event_type
from ._events import done_event_type as done_event_type
from ._events import matches_descriptor as matches_descriptor
from ._machine import DEFAULT_MAX_ITERATIONS as DEFAULT_MAX_ITERATIONS
from ._machine import Machine as Machine
from ._machine import Replay as Replay
from ._machine import Step as Step
from ._model import Arm as Arm
from ._model import Cancel as Cancel
from ._parse import Limits as Limits
from ._snapshot import Snapshot as Snapshot

__all__ = [
    "DEFAULT_MAX_ITERATIONS",
    "Arm",
    "Cancel",
    "DefinitionError",
    "InfiniteLoopError",
    "Limits",
    "MacroStep",
    "Machine",
    "MicroStep",
    "Replay",
    "SnapshotError",
    "Snapshot",
    "Step",
    "after_event_type",
    "done_event_type",
    "matches_descriptor",
]

from .._util import fixup_module_metadata as _fixup

_fixup(__name__, globals(), __all__)
del _fixup
