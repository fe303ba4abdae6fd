"""skruntime's durable store (SPEC section 7; layout in docs/STORAGE.md).

General layout: the implementation lives in private modules, and this
namespace re-exports the public names (``X as X``, so type checkers see them
as re-exports).  Nothing else is public; ``tests/store/test_exports.py``
fails when a name is added here by accident.

* ``_contract``  the protocols every backend implements: :class:`Store`,
  :class:`ShardStore`, :class:`MetaStore`, and their result types.
* ``_batch``     :class:`ShardBatch` / :class:`MetaBatch`, what ``commit`` takes.
* ``_keys``      the key layout and :func:`shard_of`.
* ``_codec``     the versioned record envelope (zstd, then AES-256-GCM).
* ``_keyring``   the master key and the data keys.
* ``_writer``    the group-commit writer.
* ``_lmdb``      :class:`LmdbStore`, the embedded backend; ``_env`` its environment.
* ``_memory``    :class:`MemoryStore`, the in-memory backend.
* ``_backup``    hot backups, restore and the backup schedule.
"""

from ._backup import BackupInfo as BackupInfo
from ._backup import backup as backup
from ._backup import restore as restore
from ._backup import run_backup_schedule as run_backup_schedule
from ._batch import MetaBatch as MetaBatch
from ._batch import ShardBatch as ShardBatch
from ._contract import BadRecord as BadRecord
from ._contract import MetaStore as MetaStore
from ._contract import ShardLoad as ShardLoad
from ._contract import ShardStore as ShardStore
from ._contract import Store as Store
from ._keyring import MasterKey as MasterKey
from ._keyring import create_key_file as create_key_file
from ._keyring import read_key_file as read_key_file
from ._keys import idempotency_digest as idempotency_digest
from ._keys import shard_of as shard_of
from ._lmdb import LmdbStore as LmdbStore
from ._lmdb import VerifyReport as VerifyReport
from ._memory import MemoryStore as MemoryStore
from ._writer import WriterStatistics as WriterStatistics

__all__ = [
    "BackupInfo",
    "BadRecord",
    "LmdbStore",
    "MasterKey",
    "MemoryStore",
    "MetaBatch",
    "MetaStore",
    "ShardBatch",
    "ShardLoad",
    "ShardStore",
    "Store",
    "VerifyReport",
    "WriterStatistics",
    "backup",
    "create_key_file",
    "idempotency_digest",
    "read_key_file",
    "restore",
    "run_backup_schedule",
    "shard_of",
]

from .._util import fixup_module_metadata as _fixup

_fixup(__name__, globals(), __all__)
del _fixup
