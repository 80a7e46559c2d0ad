"""zlmdb.lmdb: a py-lmdb 3.0 compatible binding of LMDB through cffi.

``import zlmdb.lmdb as lmdb`` runs code written for py-lmdb unchanged. The classes are
:class:`Environment` (also :func:`open`), :class:`Transaction`, :class:`Cursor` and
:class:`_Database`; errors derive from :class:`Error`.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

from ._cursor import Cursor
from ._env import LMDB_VERSION, Environment, _Database
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
    """Return the version of the bundled LMDB engine, ``(0, 9, 36)``.

    ``subpatch=True`` adds a fourth item, 1, saying the bundled sources carry py-lmdb's
    hardening patches. ``lib_version`` selects an engine by major version; only ``0``
    (LMDB 0.9) is built.

    Raises:
        OverflowError: ``lib_version`` is negative.
        TypeError: ``lib_version`` is not an int.
        Error: ``lib_version`` names an engine this build does not have.
    """
    _check_lib_version(lib_version, from_env=False)
    if subpatch:
        return LMDB_VERSION + (1,)
    return LMDB_VERSION


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

for _cls in (Environment, Transaction, Cursor, _Database):
    _cls.__module__ = "zlmdb.lmdb"
del _cls
