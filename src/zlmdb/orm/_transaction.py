"""ORM transactions: a context manager around a :class:`zlmdb.lmdb.Transaction`."""

from __future__ import annotations

from time import time_ns
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple

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

# Buffered puts are written once this many are pending (one putmulti call into C), and at
# commit. Fewer than _DIRECT pending puts are written one by one (no cursor needed).
FLUSH_AT = 1024
_DIRECT = 4

# The slot tops of a transaction that knows none (see PersistentMap._slot_top): shared and
# read-only, so that a transaction without indexed puts allocates no dict for them; the
# first _slot_top() of a transaction replaces it with the transaction's own dict.
NO_TOPS: Mapping[bytes, bytes] = MappingProxyType({})


class Transaction:
    """A database transaction; create it with :meth:`Database.begin` and use it as a
    context manager: ``__enter__`` begins the LMDB transaction, ``__exit__`` commits it on a
    clean exit and aborts it on an exception.

    ``get``/``put``/``delete`` take raw full keys (slot prefix included). ``_txn`` is the
    underlying :class:`zlmdb.lmdb.Transaction` while the transaction is open.

    Write buffering: a write transaction keeps the records that tables put in a buffer
    (``_pending``, full key -> bytes) and hands them to LMDB in blocks of :data:`FLUSH_AT`
    with one ``putmulti`` call, and at commit, in the order they were put and with plain
    puts (no sorting, no ``MDB_APPEND``), so that LMDB splits its pages as for upstream's
    one put per record and the file's page layout (``Database.stats()``) is upstream's. The tables read through the buffer, so a
    transaction sees its own writes as before; reaching the LMDB transaction from outside
    (``_txn``, :meth:`get`, :meth:`put`, :meth:`delete`) writes the buffer first. A
    :class:`zlmdb.lmdb.MapFullError` can therefore surface at a later put or at commit
    instead of at the put that filled the map (LMDB's transaction is unusable after it
    either way).
    """

    PUT = 1
    DEL = 2

    __slots__ = (
        "_db",
        "_write",
        "_buffers",
        "_stats",
        "_raw",
        "_state",
        "_pending",
        "_fast",
        "_cursor",
        "_tops",
        "_max_key",
    )

    def __init__(
        self,
        db: Database,
        write: bool = False,
        buffers: bool = False,
        stats: Optional[TransactionStats] = None,
    ) -> None:
        self._db = db
        self._write = True if write else False
        self._buffers = True if buffers else False
        self._stats = stats
        # the LMDB transaction while open; the tables' hot paths use it directly
        self._raw: Optional[lmdb.Transaction] = None
        self._state = _NEW
        # buffered puts (write transactions only): full key -> stored bytes
        self._pending: Optional[Dict[bytes, bytes]] = None
        # _pending while no slot top is known (_tops empty): the plain tables' fast path
        self._fast: Optional[Dict[bytes, bytes]] = None
        self._cursor: Optional[lmdb.Cursor] = None
        # slot prefix -> a key no smaller than any key of that slot (see PersistentMap)
        self._tops: Any = NO_TOPS
        self._max_key = db._max_key

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

    @property
    def _txn(self) -> Optional[lmdb.Transaction]:
        """The underlying :class:`zlmdb.lmdb.Transaction` (None when not open), with every
        buffered put written to it: code using it directly sees (and may change) all data."""
        raw = self._raw
        if raw is not None:
            if self._pending:
                self._flush()
            if self._tops:
                self._tops = NO_TOPS  # direct writes may add keys behind the tables' backs
                self._fast = self._pending
        return raw

    def __enter__(self) -> Transaction:
        """Begin the LMDB transaction.

        A finished transaction object can be entered again, as with upstream: each ``with``
        block is a new LMDB transaction (same mode, same ``stats``).

        Raises:
            zlmdb.lmdb.Error: the transaction is open already, or the database is closed.
            zlmdb.lmdb.ReadonlyError: a write transaction on a read-only database.
        """
        if self._state == _OPEN:
            raise lmdb.Error("transaction is already open: nested 'with' on the same transaction")
        env = self._db._env
        if env is None:
            self._db._live_env()  # raises zlmdb.lmdb.Error
        # positional: CPython specializes no call with keywords
        self._raw = env.begin(None, None, self._write, self._buffers)
        if self._write:
            self._pending = self._fast = {}
        self._state = _OPEN
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        txn = self._raw
        if txn is None:
            return
        pending = self._pending
        if exc_type is None and pending:
            try:
                if len(pending) < _DIRECT:  # _flush() inlined for small transactions
                    if len(pending) == 1:  # (popitem: no view and iterator to make)
                        key, data = pending.popitem()
                        txn.put(key, data)
                    else:  # in put order (see _flush)
                        for key, data in pending.items():
                            txn.put(key, data)
                else:
                    self._flush()
            except BaseException:
                self._close()
                txn.abort()
                raise
        # _close() inlined
        self._raw = None
        self._pending = self._fast = None
        self._cursor = None
        if self._tops:
            self._tops = NO_TOPS
        self._state = _DONE
        if exc_type is None:
            txn.commit()
        else:
            txn.abort()

    def _close(self) -> None:
        self._raw = None
        self._pending = self._fast = None
        self._cursor = None
        self._tops = NO_TOPS
        self._state = _DONE

    def _flush(self) -> None:
        """Write the buffered puts to the LMDB transaction."""
        pending = self._pending
        if not pending:
            return
        # a new buffer, also after a failure: LMDB's transaction is unusable then
        self._pending = {}
        self._fast = None if self._tops else self._pending
        raw = self._raw
        assert raw is not None
        if len(pending) < _DIRECT:
            for key, data in pending.items():
                raw.put(key, data)
            return
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = raw.cursor()
        # in the order the tables put them, with plain puts: LMDB then splits its pages as
        # for upstream's one put per record, so stat() (pages, free) matches upstream's
        cursor._put_in_input_order(pending.items())

    def _put_records(self, records: List[Tuple[bytes, bytes]]) -> None:
        """Put ``records`` (full key, stored bytes), in order (a later record of a key wins),
        as buffered puts would: with nothing pending (the writers' fresh transactions)
        straight into LMDB in one ``putmulti`` call, else into the buffer. Only for a write
        transaction keeping no slot tops (``_fast`` is its buffer) and keys LMDB accepts.

        Raises:
            zlmdb.lmdb.MapFullError: the database is full.
        """
        fast = self._fast
        assert fast is not None
        if fast:
            fast.update(records)
            if len(fast) >= FLUSH_AT:
                self._flush()
            return
        raw = self._raw
        assert raw is not None
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = raw.cursor()
        cursor.putmulti(records)

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
