"""The py-lmdb exception hierarchy and the mapping from LMDB/errno return codes to it."""

from __future__ import annotations

import errno as _errno
import os as _os

from ._ffi import ffi, lib

__all__ = [
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

CLOSED_MESSAGE = "Attempt to operate on closed/deleted/dropped object."

# Codes only the 1.0 engine returns (the names are part of py-lmdb's API).
_MDB_PROBLEM = -30779
_MDB_BAD_CHECKSUM = -30778
_MDB_CRYPTO_FAIL = -30777
_MDB_ENV_ENCRYPTION = -30776
_MDB_IS_READONLY = -30770


def _strerror(code: int) -> str:
    if code == 0:
        return "Successful return: 0"
    if code <= -30700:
        return ffi.string(lib.zl_strerror(code)).decode("utf-8", "replace")
    return _os.strerror(code)


class Error(Exception):
    """Base class of every zlmdb.lmdb error.

    Attributes: ``what`` (the failing C function, or a sentence for zlmdb's own checks),
    ``code`` (the LMDB or errno return code, 0 for zlmdb's own checks) and ``reason``
    (the text of that code).
    """

    MDB_NAME: str = "MDB_SUCCESS"
    MDB_HINT: str | None = None

    def __init__(self, what: object = "", code: int = 0) -> None:
        self.what = what
        self.code = code
        self.reason = _strerror(code)
        if code == 0:
            msg = f"{what}"
        else:
            msg = f"{what}: {self.reason}"
            if self.MDB_HINT:
                msg += f" ({self.MDB_HINT})"
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.what, self.code))


def _define(name: str, mdb_name: str, doc: str, hint: str | None = None) -> type:
    attrs = {"MDB_NAME": mdb_name, "__doc__": doc, "__module__": "zlmdb.lmdb"}
    if hint:
        attrs["MDB_HINT"] = hint
    return type(name, (Error,), attrs)


KeyExistsError = _define("KeyExistsError", "MDB_KEYEXIST", "Key/data pair already exists.")
NotFoundError = _define("NotFoundError", "MDB_NOTFOUND", "No matching key/data pair found.")
PageNotFoundError = _define("PageNotFoundError", "MDB_PAGE_NOTFOUND", "Requested page not found.")
CorruptedError = _define("CorruptedError", "MDB_CORRUPTED", "Located page was of the wrong type.")
PanicError = _define("PanicError", "MDB_PANIC", "Update of meta page failed.")
VersionMismatchError = _define(
    "VersionMismatchError", "MDB_VERSION_MISMATCH", "Database environment version mismatch."
)
InvalidError = _define("InvalidError", "MDB_INVALID", "File is not an MDB file.")
MapFullError = _define(
    "MapFullError",
    "MDB_MAP_FULL",
    "Environment map_size= limit reached.",
    "Please use a larger Environment(map_size=) parameter",
)
DbsFullError = _define(
    "DbsFullError",
    "MDB_DBS_FULL",
    "Environment max_dbs= limit reached.",
    "Please use a larger Environment(max_dbs=) parameter",
)
ReadersFullError = _define(
    "ReadersFullError",
    "MDB_READERS_FULL",
    "Environment max_readers= limit reached.",
    "Please use a larger Environment(max_readers=) parameter",
)
TlsFullError = _define("TlsFullError", "MDB_TLS_FULL", "Thread-local storage keys full.")
TxnFullError = _define(
    "TxnFullError",
    "MDB_TXN_FULL",
    "Transaction has too many dirty pages.",
    "Please do less work within your transaction",
)
CursorFullError = _define(
    "CursorFullError", "MDB_CURSOR_FULL", "Internal cursor stack limit reached."
)
PageFullError = _define("PageFullError", "MDB_PAGE_FULL", "Internal page space exhausted.")
MapResizedError = _define(
    "MapResizedError", "MDB_MAP_RESIZED", "Database contents grew beyond environment map_size=."
)
IncompatibleError = _define(
    "IncompatibleError", "MDB_INCOMPATIBLE", "Operation and DB incompatible, or DB flags changed."
)
BadRslotError = _define("BadRslotError", "MDB_BAD_RSLOT", "Invalid reuse of reader locktable slot.")
BadTxnError = _define(
    "BadTxnError", "MDB_BAD_TXN", "Transaction must abort, has a child, or is invalid."
)
BadValsizeError = _define(
    "BadValsizeError",
    "MDB_BAD_VALSIZE",
    "Unsupported size of key/DB name/data, or wrong DUPFIXED size.",
)
BadDbiError = _define("BadDbiError", "MDB_BAD_DBI", "The specified DBI was changed unexpectedly.")
ProblemError = _define(
    "ProblemError", "MDB_PROBLEM", "Unexpected problem; transaction should abort (LMDB 1.0)."
)
BadChecksumError = _define(
    "BadChecksumError", "MDB_BAD_CHECKSUM", "Page checksum mismatch (LMDB 1.0)."
)
CryptoFailError = _define(
    "CryptoFailError", "MDB_CRYPTO_FAIL", "Encryption/decryption failed (LMDB 1.0)."
)
EnvEncryptionError = _define(
    "EnvEncryptionError", "MDB_ENV_ENCRYPTION", "Environment encryption mismatch (LMDB 1.0)."
)
ReadonlyError = _define(
    "ReadonlyError", "EACCES", "An attempt was made to modify a read-only database."
)
InvalidParameterError = _define(
    "InvalidParameterError", "EINVAL", "An invalid parameter was specified."
)
LockError = _define("LockError", "EAGAIN", "The environment was locked by another process.")
MemoryError = _define("MemoryError", "ENOMEM", "Out of memory.")  # noqa: A001 - py-lmdb's name
DiskError = _define("DiskError", "ENOSPC", "No more disk space.")

CODE_TO_CLASS: dict = {
    lib.MDB_KEYEXIST: KeyExistsError,
    lib.MDB_NOTFOUND: NotFoundError,
    lib.MDB_PAGE_NOTFOUND: PageNotFoundError,
    lib.MDB_CORRUPTED: CorruptedError,
    lib.MDB_PANIC: PanicError,
    lib.MDB_VERSION_MISMATCH: VersionMismatchError,
    lib.MDB_INVALID: InvalidError,
    lib.MDB_MAP_FULL: MapFullError,
    lib.MDB_DBS_FULL: DbsFullError,
    lib.MDB_READERS_FULL: ReadersFullError,
    lib.MDB_TLS_FULL: TlsFullError,
    lib.MDB_TXN_FULL: TxnFullError,
    lib.MDB_CURSOR_FULL: CursorFullError,
    lib.MDB_PAGE_FULL: PageFullError,
    lib.MDB_MAP_RESIZED: MapResizedError,
    lib.MDB_INCOMPATIBLE: IncompatibleError,
    lib.MDB_BAD_RSLOT: BadRslotError,
    lib.MDB_BAD_TXN: BadTxnError,
    lib.MDB_BAD_VALSIZE: BadValsizeError,
    lib.MDB_BAD_DBI: BadDbiError,
    _MDB_PROBLEM: ProblemError,
    _MDB_BAD_CHECKSUM: BadChecksumError,
    _MDB_CRYPTO_FAIL: CryptoFailError,
    _MDB_ENV_ENCRYPTION: EnvEncryptionError,
    _MDB_IS_READONLY: ReadonlyError,
    _errno.EACCES: ReadonlyError,
    _errno.EINVAL: InvalidParameterError,
    _errno.EAGAIN: LockError,
    _errno.ENOMEM: MemoryError,
    _errno.ENOSPC: DiskError,
}


def closed_error() -> Error:
    """The error every method of a closed environment, finished txn or closed cursor raises."""
    return Error(CLOSED_MESSAGE)


def foreign_db_error() -> Error:
    """A database handle of one environment was passed to another one's transaction or cursor
    (its dbi number would name a different database there)."""
    return Error("Database handle belongs to another environment.")


def error_for(what: str, code: int) -> Error:
    """Build the exception for LMDB/errno return ``code`` of the C call ``what``."""
    if code == lib.ZL_CLOSED:
        return closed_error()
    if code == lib.ZL_BUSY_SAME_THREAD:
        return sentence_error(
            Error,
            "Attempt to start a write transaction while another write transaction is active "
            "on the same thread. This would deadlock.",
            _errno.EBUSY,
        )
    if code == lib.ZL_NESTED_READONLY:
        return sentence_error(
            InvalidParameterError, "Read-only transactions cannot be nested.", _errno.EINVAL
        )
    if code == lib.ZL_FORKED:
        return sentence_error(
            Error,
            "Cannot commit a write transaction begun in the parent process (fork): its "
            "writes are not written; the transaction was aborted in this process",
            _errno.EPERM,
        )
    if code == lib.ZL_NO_MEMORY:
        return MemoryError(what, _errno.ENOMEM)
    return CODE_TO_CLASS.get(code, Error)(what, code)


def sentence_error(cls: type, text: str, code: int) -> Error:
    """An error of zlmdb's own check: ``what`` is the sentence ``text``, ``code`` an errno.

    Like py-lmdb, the message is ``f"{text}: {strerror(code)}"``.
    """
    return cls(text, code)
