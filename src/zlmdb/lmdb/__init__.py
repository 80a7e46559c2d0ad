"""zlmdb.lmdb: a py-lmdb 3.0 compatible binding of LMDB through cffi.

``import zlmdb.lmdb as lmdb`` runs code written for py-lmdb unchanged. The classes are
:class:`Environment` (also :func:`open`), :class:`Transaction`, :class:`Cursor` and
:class:`_Database`; errors derive from :class:`Error`.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

from ._cursor import Cursor
from ._env import ENGINE_VERSIONS, Environment, _Database
from ._env import check_lib_version as _check_lib_version
from ._errors import (
    BadChecksumError,
    BadDbiError,
    BadRslotError,
    BadTxnError,
    BadValsizeError,
    CorruptedError,
    CryptoFailError,
    CursorFullError,
    DbsFullError,
    DiskError,
    EnvEncryptionError,
    Error,
    IncompatibleError,
    InvalidError,
    InvalidParameterError,
    KeyExistsError,
    LockError,
    MapFullError,
    MapResizedError,
    MemoryError,
    NotFoundError,
    PageFullError,
    PageNotFoundError,
    PanicError,
    ProblemError,
    ReadersFullError,
    ReadonlyError,
    TlsFullError,
    TxnFullError,
    VersionMismatchError,
)
from ._txn import Transaction

#: The py-lmdb version whose API this module implements.
__version__ = "3.0.0"

open = Environment  # noqa: A001 - py-lmdb's name


def version(
    subpatch: bool = False, lib_version: Optional[int] = None
) -> Union[Tuple[int, int, int], Tuple[int, int, int, int]]:
    """Return the version of a bundled LMDB engine: ``(0, 9, 36)`` by default.

    zlmdb bundles two engines: LMDB 0.9 (``lib_version=0``, the default for new
    environments) and LMDB 1.0 (``lib_version=1``, ``(1, 0, 2)``), which writes a different
    file format. ``subpatch=True`` adds a fourth item, 1, saying the bundled sources carry
    py-lmdb's hardening patches.

    Raises:
        OverflowError: ``lib_version`` is negative.
        TypeError: ``lib_version`` is not an int.
        Error: ``lib_version`` names an engine this build does not have.
    """
    engine = _check_lib_version(lib_version)
    found = ENGINE_VERSIONS[0 if engine is None else engine]
    if subpatch:
        return found + (1,)
    return found


def enable_drop_gil() -> None:
    """Do nothing: kept for py-lmdb compatibility (cffi releases the GIL around every call)."""


__all__ = [
    "Environment",
    "Cursor",
    "Transaction",
    "_Database",
    "enable_drop_gil",
    "version",
    "Error",
    "KeyExistsError",
    "NotFoundError",
    "PageNotFoundError",
    "CorruptedError",
    "PanicError",
    "VersionMismatchError",
    "InvalidError",
    "MapFullError",
    "DbsFullError",
    "ReadersFullError",
    "TlsFullError",
    "TxnFullError",
    "CursorFullError",
    "PageFullError",
    "MapResizedError",
    "IncompatibleError",
    "BadRslotError",
    "BadTxnError",
    "BadValsizeError",
    "BadDbiError",
    "ProblemError",
    "BadChecksumError",
    "CryptoFailError",
    "EnvEncryptionError",
    "ReadonlyError",
    "InvalidParameterError",
    "LockError",
    "MemoryError",
    "DiskError",
]

for _cls in (Environment, Transaction, Cursor, _Database, Error):
    _cls.__module__ = "zlmdb.lmdb"
del _cls
