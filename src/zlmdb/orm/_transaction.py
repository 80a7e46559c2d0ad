"""ORM transactions: a context manager around a :class:`zlmdb.lmdb.Transaction`."""

from __future__ import annotations

from time import time_ns
from typing import TYPE_CHECKING, Any, Optional

from .. import lmdb

if TYPE_CHECKING:  # pragma: no cover
    from ._database import Database


class TransactionStats:
    """Counters of one or more transactions: ``puts`` and ``dels`` (successful writes and
    deletes, index records included), and the time since creation or :meth:`reset`."""

    __slots__ = ("puts", "dels", "_started")

    def __init__(self) -> None:
        self.puts = 0
        self.dels = 0
        self._started = time_ns()

    @property
    def started(self) -> int:
        """Wall-clock time (ns since the epoch) of creation or the last :meth:`reset`."""
        return self._started

    @property
    def duration(self) -> int:
        """Nanoseconds elapsed since :attr:`started`."""
        return time_ns() - self._started

    def reset(self) -> None:
        """Zero the counters and restart the clock."""
        self.puts = 0
        self.dels = 0
        self._started = time_ns()


_NEW, _OPEN, _DONE = 0, 1, 2


class Transaction:
    """A database transaction; create it with :meth:`Database.begin` and use it as a
    context manager: ``__enter__`` begins the LMDB transaction, ``__exit__`` commits it on a
    clean exit and aborts it on an exception.

    ``get``/``put``/``delete`` take raw full keys (slot prefix included). ``_txn`` is the
    underlying :class:`zlmdb.lmdb.Transaction` while the transaction is open.
    """

    PUT = 1
    DEL = 2

    __slots__ = ("_db", "_write", "_buffers", "_stats", "_txn", "_state")

    def __init__(
        self,
        db: Database,
        write: bool = False,
        buffers: bool = False,
        stats: Optional[TransactionStats] = None,
    ) -> None:
        self._db = db
        self._write = bool(write)
        self._buffers = bool(buffers)
        self._stats = stats
        self._txn: Optional[lmdb.Transaction] = None
        self._state = _NEW

    @property
    def write(self) -> bool:
        """True for a write transaction."""
        return self._write

    @property
    def buffers(self) -> bool:
        """True when reads return buffers into the map instead of ``bytes``."""
        return self._buffers

    @property
    def stats(self) -> Optional[TransactionStats]:
        """The :class:`TransactionStats` counting this transaction's writes, if any."""
        return self._stats

    def __enter__(self) -> Transaction:
        """Begin the LMDB transaction.

        Raises:
            zlmdb.lmdb.Error: the transaction was already entered, or the database is closed.
            zlmdb.lmdb.ReadonlyError: a write transaction on a read-only database.
        """
        if self._state != _NEW:
            raise lmdb.Error("transaction already used: begin a new one with Database.begin()")
        env = self._db._live_env()
        self._txn = lmdb.Transaction(env, write=self._write, buffers=self._buffers)
        self._state = _OPEN
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        txn = self._txn
        if txn is None:
            return
        self._txn = None
        self._state = _DONE
        if exc_type is None:
            txn.commit()
        else:
            txn.abort()

    def _live(self) -> lmdb.Transaction:
        txn = self._txn
        if txn is None:
            raise lmdb.Error("transaction is not open: use it inside 'with db.begin() as txn:'")
        return txn

    def id(self) -> int:
        """Return the LMDB transaction id.

        Raises:
            zlmdb.lmdb.Error: the transaction is not open.
        """
        return self._live().id()

    def get(self, key: bytes) -> Any:
        """Return the value stored under the raw ``key``, or None.

        Raises:
            zlmdb.lmdb.Error: the transaction is not open.
        """
        return self._live().get(key)

    def put(self, key: bytes, data: bytes, overwrite: bool = True) -> bool:
        """Store ``data`` under the raw ``key``; return whether it was written
        (``overwrite=False`` leaves an existing key alone and returns False).

        Raises:
            zlmdb.lmdb.ReadonlyError: in a read transaction.
            zlmdb.lmdb.MapFullError: the database is full.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        written = self._live().put(key, data, overwrite=overwrite)
        if written and self._stats is not None:
            self._stats.puts += 1
        return written

    def delete(self, key: bytes) -> bool:
        """Delete the raw ``key``; return whether it existed.

        Raises:
            zlmdb.lmdb.ReadonlyError: in a read transaction.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        deleted = self._live().delete(key)
        if deleted and self._stats is not None:
            self._stats.dels += 1
        return deleted
