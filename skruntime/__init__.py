"""skruntime: a self-hosted statechart hosting server.

General layout: implementation lives in private modules (``_name.py`` and
subpackages); this namespace re-exports the public names, each as ``X as X``.
``skruntime.statechart`` is the pure XState-compatible engine, usable alone.
"""

from ._exceptions import ConfigError as ConfigError
from ._exceptions import CorruptRecordError as CorruptRecordError
from ._exceptions import DecryptionError as DecryptionError
from ._exceptions import DefinitionError as DefinitionError
from ._exceptions import ExecutionError as ExecutionError
from ._exceptions import Fenced as Fenced
from ._exceptions import FormatVersionError as FormatVersionError
from ._exceptions import InfiniteLoopError as InfiniteLoopError
from ._exceptions import KeyConfigError as KeyConfigError
from ._exceptions import RoutingError as RoutingError
from ._exceptions import SkRuntimeError as SkRuntimeError
from ._exceptions import SnapshotError as SnapshotError
from ._exceptions import StoreClosedError as StoreClosedError
from ._exceptions import StoreError as StoreError
from ._exceptions import StoreFullError as StoreFullError
from ._fingerprint import FNV_OFFSET as FNV_OFFSET
from ._fingerprint import chain as fingerprint_chain
from ._fingerprint import path_hash as path_hash
from ._fingerprint import to_hex as fingerprint_hex

__version__ = "0.1.0"

__all__ = [
    "FNV_OFFSET",
    "ConfigError",
    "CorruptRecordError",
    "DecryptionError",
    "DefinitionError",
    "ExecutionError",
    "Fenced",
    "FormatVersionError",
    "InfiniteLoopError",
    "KeyConfigError",
    "RoutingError",
    "SkRuntimeError",
    "SnapshotError",
    "StoreClosedError",
    "StoreError",
    "StoreFullError",
    "fingerprint_chain",
    "fingerprint_hex",
    "path_hash",
]


from ._util import fixup_module_metadata as _fixup

_fixup(__name__, globals(), __all__)
del _fixup
