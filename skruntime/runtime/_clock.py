"""Time, injected.

The runtime reads wall-clock time (event timestamps, durable timer deadlines,
which must survive a restart) and sleeps on trio's clock.  ``TrioClock`` ties
the two together: wall time is trio time plus a fixed offset taken at start,
so under ``trio.testing.MockClock`` every timestamp and timer follows the
mock, and tests never sleep for real.
"""

from __future__ import annotations

import time
from typing import Protocol

import trio

__all__ = ["Clock", "TrioClock"]


class Clock(Protocol):
    """Wall-clock time for the runtime."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def trio_deadline(self, wall_time: float) -> float:
        """The trio-clock deadline corresponding to ``wall_time``."""
        ...


class TrioClock:
    """Wall time derived from trio's clock (real or mocked).

    Args:
        epoch: the wall time corresponding to trio time zero of the running
            loop; default: now, read once.
    """

    def __init__(self, epoch: float | None = None) -> None:
        self._offset = (time.time() - trio.current_time()) if epoch is None else epoch

    def now(self) -> float:
        return self._offset + trio.current_time()

    def trio_deadline(self, wall_time: float) -> float:
        return wall_time - self._offset
