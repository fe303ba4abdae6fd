"""The actor runtime: shards of in-memory actors on trio, over the durable store.

Implementation in private modules; this namespace lists what the server and
tests use.
"""

from ._clock import Clock as Clock
from ._clock import TrioClock as TrioClock
from ._commands import Send as Send
from ._runtime import Runtime as Runtime
from ._runtime import batch_results as batch_results
from ._runtime import check_depth as check_depth
from ._versions import Version as Version
from ._watch import Hub as Hub
from ._watch import Overflowed as Overflowed
from ._watch import Subscription as Subscription

__all__ = ["Clock", "Hub", "Overflowed", "Runtime", "Send", "Subscription", "TrioClock", "Version", "batch_results", "check_depth"]
