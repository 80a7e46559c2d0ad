"""The public names of the ``zlmdb`` package (the ORM surface, upstream zlmdb compatible).

``zlmdb/__init__.py`` loads this module on the first access of any of these names, so that
``import zlmdb.lmdb`` (the py-lmdb compatible binding) does not import the ORM, NumPy or
cbor2. ``from zlmdb import Database`` and ``zlmdb.MapOidCbor`` work as before.
"""

import sys
from typing import Optional

from zlmdb import lmdb
from zlmdb._timeseries import TimeSeries, to_datetime64
from zlmdb._version import __version__
from zlmdb._writers import (
    BackgroundWriter,
    BufferedWriter,
    WriteError,
    WriteOp,
    WriterClosedError,
)
from zlmdb.orm import (
    MAPS,
    TABLES_BY_UUID,
    Database,
    NullValueConstraint,
    PersistentMap,
    Schema,
    TableDefinitionError,
    Transaction,
    TransactionStats,
    UniqueValueConstraint,
    table,
)

try:
    from zlmdb import flatbuffers
except ImportError:  # pragma: no cover - flatbuffers is a declared dependency
    flatbuffers = None  # type: ignore[assignment]

globals().update(MAPS)


def setup_flatbuffers_import() -> None:
    """Make ``import flatbuffers`` work for generated code.

    A no-op when the ``flatbuffers`` package is installed (it is a dependency of zlmdb):
    unlike upstream, zlmdb never replaces an installed ``flatbuffers`` in ``sys.modules``.

    Raises:
        ImportError: no FlatBuffers runtime is available at all.
    """
    if flatbuffers is None:
        raise ImportError("the flatbuffers package is not installed: pip install flatbuffers")
    sys.modules.setdefault("flatbuffers", sys.modules["flatbuffers"])


def check_autobahn_flatbuffers_version_in_sync() -> str:
    """Return the FlatBuffers runtime version if autobahn's vendored copy has the same.

    Raises:
        ImportError: autobahn (or flatbuffers) is not installed.
        RuntimeError: the versions differ.
    """
    import autobahn.flatbuffers  # type: ignore[import-not-found]

    ours: Optional[str] = getattr(flatbuffers, "__version__", None)
    theirs = getattr(autobahn.flatbuffers, "__version__", None)
    if ours != theirs:
        raise RuntimeError(
            f"FlatBuffers version mismatch: zlmdb uses {ours!r}, autobahn has {theirs!r}"
        )
    return str(ours)


__all__ = [
    "__version__",
    "lmdb",
    "flatbuffers",
    "setup_flatbuffers_import",
    "check_autobahn_flatbuffers_version_in_sync",
    "Database",
    "Schema",
    "table",
    "Transaction",
    "TransactionStats",
    "PersistentMap",
    "NullValueConstraint",
    "UniqueValueConstraint",
    "TableDefinitionError",
    "TABLES_BY_UUID",
    "BackgroundWriter",
    "BufferedWriter",
    "WriteError",
    "WriteOp",
    "WriterClosedError",
    "TimeSeries",
    "to_datetime64",
    *sorted(MAPS),
]
