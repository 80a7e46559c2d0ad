"""Transaction: a read or write transaction of an Environment."""

from __future__ import annotations

import errno
import sys
import sysconfig
import weakref
from typing import Any, Dict, List, Optional

from . import _errors
from ._errors import closed_error, error_for, foreign_db_error, sentence_error
from ._ffi import GC_OWNS, ffi, lib
from ._util import as_buffer, refuse_pickle

_get = lib.zl_get
_get_default = lib.zl_get_default
_get_via = lib.zl_get_via
_VIA_SIZE = lib.ZL_VIA_SIZE
_getk = lib.zl_getk
_KEYBUF = lib.ZL_KEYBUF
#: PyPy: get() hands bytes keys over through this thread's key buffer in C (see zl_getk).
_KEY_COPY = sys.implementation.name == "pypy"
_drop = lib.zl_txn_drop
_commit_read = lib.zl_txn_commit_read
_abort_read = lib.zl_txn_abort_read
_abort = lib.zl_txn_abort
_WOULD_WAIT = lib.ZL_WOULD_WAIT
_gc = ffi.gc
_commit = lib.zl_txn_commit
_CLOSED = lib.ZL_CLOSED
_put = lib.zl_put
_del = lib.zl_del
_unpack = ffi.unpack
_buffer = ffi.buffer
_NULL = ffi.NULL
_NOTFOUND = lib.MDB_NOTFOUND
_KEYEXIST = lib.MDB_KEYEXIST
_NOOVERWRITE = lib.MDB_NOOVERWRITE
_NODUPDATA = lib.MDB_NODUPDATA
_APPEND = lib.MDB_APPEND
_APPENDDUP = lib.MDB_APPENDDUP
_HELD = lib.ZL_HELD
_TXN_WRITE = lib.ZL_TXN_WRITE
_TXN_NOCOPY = lib.ZL_TXN_NOCOPY
#: Nothing of a get()'s result is kept in the transaction, so threads sharing one read
#: transaction (py-lmdb code does) each get their own value. CPython: zl_get copies a small
#: value into the calling thread's slot of one process-wide arena and answers slot offset
#: + length (>= ZL_SLOT_SIZE); get() slices one buffer object over the arena (cheaper than
#: a second call for the pointer and ffi.unpack). Other copies (PyPy always: its JIT makes
#: ffi.unpack the cheaper) and held large values are at zl_thread_vp()/zl_thread_vl(),
#: which answer for the calling thread.
_SLOT = lib.ZL_SLOT_SIZE
_SLOT_START = -lib.ZL_SLOT_SIZE  # n & _SLOT_START: the slot's offset in slot offset + length
_ARENA = lib.zl_arena_base()
# One buffer object over the whole arena (it touches no memory); None on PyPy (no arena).
_ARENA_BUF = _buffer(_ARENA, lib.ZL_SLOTS * lib.ZL_SLOT_SIZE) if _ARENA != ffi.NULL else None
_thread_vp = lib.zl_thread_vp
_thread_vl = lib.zl_thread_vl
_thread_kbuf = lib.zl_thread_kbuf
#: zl_get in a buffers=True transaction: ZL_MAPPED (1 << 62) | map offset (< 2^40) <<
#: ZL_MAPPED_LEN_BITS | length (see _helpers.c).
_MAPPED_SHIFT = lib.ZL_MAPPED_LEN_BITS
_MAPPED = 1 << 62
_MAPPED_OFF = (1 << 40) - 1
_MAPPED_LEN = (1 << _MAPPED_SHIFT) - 1
#: buffers=True values are slices of one read-only view of the whole map per transaction
#: on CPython with the GIL (one object per value). Not on PyPy, where converting such a
#: slice to bytes goes byte by byte (1.8 ms for 20 KB, against 4 us for a view of its own),
#: nor on free-threaded CPython, where threads sharing a transaction would slice one
#: memoryview at once ("operation forbidden on released memoryview object" seen on 3.13t).
_ONE_MAP_VIEW = not GC_OWNS and not sysconfig.get_config_var("Py_GIL_DISABLED")


# The LMDB call a failed replace()/pop() names, by zl_txn.stage.
REPLACE_STAGES = ("mdb_cursor_get", "mdb_cursor_del", "mdb_put", "mdb_cursor_open")


def put_flags(dupdata: bool, overwrite: bool, append: bool, dupsort: bool) -> int:
    flags = 0
    if not dupdata:
        flags |= _NODUPDATA
    if not overwrite:
        flags |= _NOOVERWRITE
    if append:
        flags |= _APPENDDUP if dupsort else _APPEND
    return flags


def _forget_if_alive(env: Any, opened: List[Any], t: Any) -> None:
    """The end of a dropped transaction that opened databases (PyPy; see GC_OWNS): forget
    their handles if it was still live, and release it now rather than at a later
    collection (this finalizer held the last reference)."""
    if opened and lib.zl_txn_alive(t):
        for db in opened:
            env._forget_db(db)
    ffi.release(t)


def txn_after_collect(e: Any, flags: int) -> Any:
    """Retry a ``begin()`` that failed for want of something a dropped transaction holds.

    A transaction dropped without ``commit()``/``abort()`` (``env.begin().get(key)``, or a
    write transaction left behind by an exception) keeps its reader slot, or this thread's
    write lock, until the garbage collector frees it, which on PyPy happens late. Called when
    a read ``begin()`` found the reader table full or a write ``begin()`` found this thread's
    write transaction still open: one collection hands those back (a dropped write
    transaction is aborted, as when it is freed at once). Returns the new C transaction or
    NULL (``zl_last_error()`` then says why).
    """
    import gc

    gc.collect()
    return lib.zl_txn_new(e, _NULL, flags)


def _retry_worth(err: int, write: int) -> bool:
    if write:
        return err == lib.ZL_BUSY_SAME_THREAD
    return err == lib.MDB_READERS_FULL


class Transaction:
    """A transaction; normally created with :meth:`Environment.begin`.

    ``Transaction(env, db=None, parent=None, write=False, buffers=False)``: ``db`` is the
    default database of every method taking ``db=None``; ``parent`` nests a write
    transaction; ``buffers=True`` makes reads return memoryviews into the map, valid until
    the next operation on this transaction and never after it ends.

    Used as a context manager it commits on a clean exit and aborts on an exception (and
    does nothing if the body already committed or aborted).

    Raises:
        ReadonlyError: a write transaction on a read-only environment.
        Error: the environment is closed, or a write transaction is already open on this
            thread (it would deadlock); a write transaction on another thread is waited for;
            ``db`` belongs to another environment.
        TypeError: ``db`` is not a database handle.
        InvalidParameterError: a read-only nested transaction.
    """

    __slots__ = (
        "_t",
        "env",
        "_db",
        "_dbi",
        "_dupsort",
        "_write",
        "_buffers",
        "_parent",
        "_opened",
        "_mv",
        "__weakref__",
    )

    #: Not picklable or copyable (raises TypeError): the object owns LMDB state.
    __reduce_ex__ = __reduce__ = refuse_pickle

    def __init__(
        self,
        env: Environment,
        db: Optional[_Database] = None,
        parent: Optional[Transaction] = None,
        write: bool = False,
        buffers: bool = False,
    ) -> None:
        self._t = None
        if type(env) is not Environment and not isinstance(env, Environment):
            raise TypeError("env must be an Environment")
        e = env._e  # a closed environment makes zl_txn_new fail with the closed error
        if e is None:
            raise closed_error()
        db = env._main_db if db is None else checked_db(db, env._ref)
        if parent is not None:
            if not isinstance(parent, Transaction):
                raise TypeError("parent must be a Transaction")
            if parent._t is None or parent.env is not env:
                raise sentence_error(
                    _errors.InvalidParameterError,
                    "Parent transaction belongs to another environment.",
                    errno.EINVAL,
                )
        if write and env._readonly:
            raise sentence_error(
                _errors.ReadonlyError,
                "Cannot start write transaction with read-only environment.",
                errno.EACCES,
            )
        if parent is not None:
            if not write or not parent._write:
                raise error_for("mdb_txn_begin", lib.ZL_NESTED_READONLY)
            pt = parent._t
        else:
            pt = _NULL
        flags = (_TXN_WRITE if write else 0) | (_TXN_NOCOPY if buffers else 0)
        t = lib.zl_txn_new(e, pt, flags)
        if t == _NULL:
            err = lib.zl_last_error()
            if pt == _NULL and _retry_worth(err, write):
                t = txn_after_collect(e, flags)
                err = lib.zl_last_error()
            if t == _NULL:
                raise error_for("mdb_txn_begin", err)
        if db._dbi != MAIN_DBI:  # zl_get_default's database (C starts with the main one)
            t.dbi = db._dbi
        self._t = _gc(t, _drop) if GC_OWNS else t
        self.env = env
        self._db = db
        self._dbi = db._dbi
        self._dupsort = db._dupsort
        self._write = True if write else False
        self._buffers = True if buffers else False
        self._parent = parent
        self._opened: Optional[List[_Database]] = None
        self._mv: Any = None  # read-only view of the map, made by the first buffers get()

    if not GC_OWNS:
        # The C functions are bound as defaults: at interpreter exit a transaction left
        # open may be collected after this module's globals were cleared.
        def __del__(self, _drop: Any = _drop, _alive: Any = lib.zl_txn_alive) -> None:
            t = self._t
            if t is not None:
                self._t = None
                if self._opened and _alive(t):
                    self._discard_opened()
                _drop(t)  # zl_txn_release, keeping the GIL

    # -- bookkeeping -----------------------------------------------------------------------

    def _note_opened(self, db: _Database) -> None:
        if self._opened is None:
            self._opened = []
            if GC_OWNS:  # no __del__ there: forget the handles if this txn is dropped alive
                fin = weakref.finalize(self, _forget_if_alive, self.env, self._opened, self._t)
                fin.atexit = False  # at exit the txn may still be in use: leave it be
        self._opened.append(db)

    def _discard_opened(self) -> None:
        opened, self._opened = self._opened, None
        for db in opened or ():
            self.env._forget_db(db)

    def _check(self) -> None:
        if self._t is None or not lib.zl_txn_alive(self._t):
            raise closed_error()

    # -- lifetime --------------------------------------------------------------------------

    def id(self) -> int:
        """Return the transaction id (snapshot id for reads, last committed + 1 for writes).

        Raises:
            Error: the transaction has ended.
        """
        out = ffi.new("size_t *")
        rc = lib.zl_txn_id(self._t, out)
        if rc:
            raise error_for("mdb_txn_id", rc)
        return out[0]

    def commit(self) -> None:
        """Commit a write transaction (or end a read one).

        Raises:
            Error: already ended (the closed error), or the commit failed (e.g.
                :class:`MapFullError`, :class:`DiskError`).
        """
        t = self._t
        if t is None:
            raise closed_error()
        if self._opened:
            return self._commit_with_opened_dbs(t)
        # One crossing; an already-ended txn answers with the closed error. A read txn ends
        # in the GIL-keeping call unless something holds it busy.
        if self._write:
            rc = _commit(t)
        else:
            rc = _commit_read(t)
            if rc == _WOULD_WAIT:
                rc = _commit(t)
        if _PENDING:
            drop_closed_blocks()
        if rc:
            raise error_for("mdb_txn_commit", rc)

    def _commit_with_opened_dbs(self, t: Any) -> None:
        """Commit a transaction that opened databases: their handles live or die with it."""
        was_alive = lib.zl_txn_alive(t)
        rc = _commit(t)
        if _PENDING:
            drop_closed_blocks()
        if rc:
            if was_alive:
                self._discard_opened()
            raise error_for("mdb_txn_commit", rc)
        if self._parent is not None:
            for db in self._opened:
                self._parent._note_opened(db)
            self._opened = None

    def abort(self) -> None:
        """Abort the transaction, discarding its writes; idempotent (also after commit).

        Raises:
            Never raises (also not after commit() or env.close()).
        """
        t = self._t
        if t is not None:
            if self._opened and lib.zl_txn_alive(t):
                self._discard_opened()
            if self._write or _abort_read(t) == _WOULD_WAIT:
                _abort(t)  # idempotent in C (zl_txn_abort_read answers ZL_CLOSED)
            if _PENDING:
                drop_closed_blocks()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        t = self._t
        if t is None:
            return
        if exc_type is not None:
            self.abort()
        elif self._opened:
            if lib.zl_txn_alive(t):
                self._commit_with_opened_dbs(t)
        else:
            if self._write:
                rc = _commit(t)
            else:
                rc = _commit_read(t)  # GIL-keeping; ZL_WOULD_WAIT: busy, use zl_txn_commit
                if rc == _WOULD_WAIT:
                    rc = _commit(t)
            if _PENDING:
                drop_closed_blocks()
            if rc and rc != _CLOSED:  # committed or aborted inside the block already: fine
                raise error_for("mdb_txn_commit", rc)

    # -- data ------------------------------------------------------------------------------

    def get(self, key: Any, default: Any = None, db: Optional[_Database] = None) -> Any:
        """Return the value of ``key`` (the first duplicate on dupsort dbs) or ``default``.

        A key longer than the maximum key size is simply absent.

        Raises:
            BadValsizeError: empty key.
            TypeError: ``key`` is ``str``, ``None`` or not bytes-like.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        t = self._t
        try:
            if db is None:  # the txn's db, which the C struct knows: one argument less
                n = _get_default(t, key, len(key))
            elif db._env_ref is self._db._env_ref:
                n = _get(t, db._dbi, key, len(key))
            else:
                raise foreign_db_error()
        except (TypeError, AttributeError):
            if key is None:
                raise TypeError("key must be given.") from None
            if db is not None:
                checked_db(db, self._db._env_ref)
            kb, kn = as_buffer(key)
            n = _get(t, self._dbi if db is None else db._dbi, kb, kn)
        # _got() inlined (one frame less on CPython's hottest path):
        if n >= 0:  # the value's length (+ the arena slot's offset)
            if self._buffers:  # a read-only view: the map is mapped read-only
                if n >= _MAPPED:  # in the map: offset and length
                    off = (n >> _MAPPED_SHIFT) & _MAPPED_OFF
                    if _ONE_MAP_VIEW:  # a slice of one view of the whole map, made once per txn
                        mv = self._mv
                        if mv is None:
                            mv = self._mv = memoryview(_buffer(t.map, t.mapsize)).toreadonly()
                        return mv[off : off + (n & _MAPPED_LEN)]
                    return memoryview(_buffer(t.map + off, n & _MAPPED_LEN)).toreadonly()
                return memoryview(_buffer(_thread_vp(), n)).toreadonly()  # e.g. a dirty page
            if n >= _SLOT:  # CPython: the copy is in this thread's arena slot
                return _ARENA_BUF[n & _SLOT_START : n]
            if n == 0:  # empty values are not copied
                return b""
            return _unpack(_thread_vp(), n)  # copied for this thread, without a slot
        if n == _NOTFOUND:
            return default
        if n == _HELD:  # a large value, still in the map: copy it, then let go
            try:
                return _unpack(_thread_vp(), _thread_vl())
            finally:
                lib.zl_txn_unhold(t)
        raise error_for("mdb_get", n if n <= -30000 else -n)

    if _KEY_COPY:

        def get(self, key: Any, default: Any = None, db: Optional[_Database] = None) -> Any:  # noqa: F811
            """Return the value of ``key`` (the first duplicate on dupsort dbs) or ``default``.

            A key longer than the maximum key size is simply absent.

            Raises:
                BadValsizeError: empty key.
                TypeError: ``key`` is ``str``, ``None`` or not bytes-like.
                Error: the transaction has ended, or ``db`` belongs to another environment.
            """
            # PyPy's form: a bytes key is copied into this thread's key buffer in C (not
            # the transaction's: threads may share a read transaction) through a buffer
            # object, and looked up by zl_getk, instead of being passed as a char *
            # argument (see zl_getk).
            t = self._t
            if type(key) is bytes and 0 < len(key) <= _KEYBUF:
                if t is None:
                    raise closed_error()
                kn = len(key)
                _buffer(_thread_kbuf(), kn)[0:kn] = key
                if db is None:
                    n = _getk(t, self._dbi, kn)
                elif type(db) is _Database and db._env_ref is self._db._env_ref:
                    n = _getk(t, db._dbi, kn)
                else:
                    n = _get(t, checked_db(db, self._db._env_ref)._dbi, key, kn)
            else:
                if key is None:
                    raise TypeError("key must be given.")
                dbi = self._dbi if db is None else checked_db(db, self._db._env_ref)._dbi
                kp, kn = as_buffer(key)
                n = _get(t, dbi, kp, kn)
            return self._got(t, n, default)  # a call the JIT inlines

    def put(
        self,
        key: Any,
        value: Any,
        dupdata: bool = True,
        overwrite: bool = True,
        append: bool = False,
        db: Optional[_Database] = None,
    ) -> bool:
        """Store ``value`` under ``key``; return True if written.

        ``overwrite=False`` returns False when the key exists; ``dupdata=False`` returns
        False when the exact pair exists (dupsort); ``append=True`` uses ``MDB_APPEND``
        (``MDB_APPENDDUP`` on dupsort dbs) and returns False when the key is not the largest.

        Raises:
            BadValsizeError: empty, ``None`` or oversize key, or a bad dupsort value size.
            TypeError: ``str`` or non-bytes-like key or value.
            ReadonlyError: in a read-only transaction.
            MapFullError: the map is full.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        if db is None:
            dbi = self._dbi
            if dupdata and not append:  # the common cases without a call
                flags = 0 if overwrite else _NOOVERWRITE
            else:
                flags = put_flags(dupdata, overwrite, append, self._dupsort)
        else:
            checked_db(db, self._db._env_ref)
            dbi = db._dbi
            flags = put_flags(dupdata, overwrite, append, db._dupsort)
        try:
            rc = _put(self._t, dbi, key, len(key), value, len(value), flags)
        except TypeError:
            kb, kn = as_buffer(key)
            vb, vn = as_buffer(value)
            rc = _put(self._t, dbi, kb, kn, vb, vn, flags)
        if rc == 0:
            return True
        if rc == _KEYEXIST:
            return False
        raise error_for("mdb_put", rc)

    def replace(self, key: Any, value: Any, db: Optional[_Database] = None) -> Any:
        """Store ``value`` and return the previous value (None if there was none).

        On a dupsort db every old duplicate is removed and the first one returned.

        Raises:
            the errors of :meth:`put`.
        """
        dbi = self._dbi if db is None else checked_db(db, self._db._env_ref)._dbi
        kb, kn = as_buffer(key)
        vb, vn = as_buffer(value)
        t = self._t
        rc = lib.zl_replace(t, dbi, kb, kn, vb, vn)
        if rc:
            raise error_for(REPLACE_STAGES[t.stage], rc)
        if t.vp == _NULL:
            return None
        return _unpack(t.vp, t.vl)

    def pop(self, key: Any, db: Optional[_Database] = None) -> Any:
        """Delete ``key`` and return its value (the first duplicate only), or None.

        Raises:
            BadValsizeError: empty key.
            ReadonlyError: in a read-only transaction.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        dbi = self._dbi if db is None else checked_db(db, self._db._env_ref)._dbi
        kb, kn = as_buffer(key)
        t = self._t
        rc = lib.zl_pop(t, dbi, kb, kn)
        if rc == _NOTFOUND:
            return None
        if rc:
            raise error_for(REPLACE_STAGES[t.stage], rc)
        return _unpack(t.vp, t.vl)

    def delete(self, key: Any, value: Any = b"", db: Optional[_Database] = None) -> bool:
        """Delete ``key``; return False if it was absent.

        On dupsort dbs a non-empty ``value`` deletes only that pair; otherwise ``value`` is
        ignored and every duplicate goes.

        Raises:
            BadValsizeError: empty key.
            ReadonlyError: in a read-only transaction.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        if db is None:
            dbi, dupsort = self._dbi, self._dupsort
        else:
            checked_db(db, self._db._env_ref)
            dbi, dupsort = db._dbi, db._dupsort
        try:
            if dupsort and value:
                rc = _del(self._t, dbi, key, len(key), value, len(value))
            else:
                rc = _del(self._t, dbi, key, len(key), b"", 0)
        except TypeError:
            kb, kn = as_buffer(key)
            vb, vn = as_buffer(value) if dupsort else (b"", 0)
            rc = _del(self._t, dbi, kb, kn, vb, vn)
        if rc == 0:
            return True
        if rc == _NOTFOUND:
            return False
        raise error_for("mdb_del", rc)

    def drop(self, db: _Database, delete: bool = True) -> None:
        """Empty ``db``; with ``delete=True`` (named dbs) remove it and its handle.

        The transaction's cursors on a deleted db are closed; on an emptied one they stay
        open, unpositioned.

        Raises:
            ReadonlyError: in a read-only transaction.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        checked_db(db, self._db._env_ref)
        rc = lib.zl_drop(self._t, db._dbi, 1 if delete else 0)
        if _PENDING:
            drop_closed_blocks()
        if rc:
            raise error_for("mdb_drop", rc)
        if delete and db._name is not None:
            self.env._forget_db(db)

    def stat(self, db: Optional[_Database] = None) -> Dict[str, int]:
        """Return the statistics of ``db`` (default: the transaction's db).

        Raises:
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        dbi = self._dbi if db is None else checked_db(db, self._db._env_ref)._dbi
        st = ffi.new("MDB_stat *")
        rc = lib.zl_stat(self._t, dbi, st)
        if rc:
            raise error_for("mdb_stat", rc)
        return stat_dict(st)

    def count_range(
        self,
        start: Any = None,
        stop: Any = None,
        db: Optional[_Database] = None,
        prefix: bool = False,
    ) -> int:
        """Count the items with ``start <= key < stop`` in one call into C (zlmdb extension).

        ``start=None`` counts from the first key, ``stop=None`` to the end; with
        ``prefix=True`` only keys starting with ``start`` count. Duplicates count one each.
        Keys are compared with the database's own order.

        Raises:
            TypeError: non-bytes-like bounds.
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        dbi = self._dbi if db is None else checked_db(db, self._db._env_ref)._dbi
        sb, sn = as_buffer(start) if start is not None else (b"", 0)
        if stop is None:
            eb, en = _NULL, 0
        else:
            eb, en = as_buffer(stop)
            if en == 0:
                return 0
        out = ffi.new("size_t *")
        rc = lib.zl_count_range(self._t, dbi, sb, sn, eb, en, sn if prefix else 0, out)
        if rc:
            raise error_for("mdb_cursor_get", rc)
        return out[0]

    def _get_indirect(self, key: Any, prefix: bytes, size: int = 0, default: Any = None) -> Any:
        """Internal (zlmdb's ORM): look ``key`` up, and return the value stored under
        ``prefix`` + that first value (both in the transaction's database), in one call
        into C: an index lookup that returns the record. Like :meth:`get` otherwise
        (``buffers=True`` transactions return memoryviews).

        Returns ``default`` when ``key`` is missing, its value is empty, or the second key
        is missing (or longer than LMDB takes). ``size``: the length the first value must
        have (0: any).

        Raises:
            ValueError: the first value is not ``size`` bytes long.
            BadValsizeError: empty ``key``.
            TypeError: ``key`` or ``prefix`` not ``bytes``, or ``size`` not an int.
            Error: the transaction has ended.
        """
        t = self._t
        n = _get_via(t, self._dbi, key, len(key), prefix, len(prefix), size)
        if n == _VIA_SIZE:
            raise ValueError(f"the value of the index key is not {size} bytes long")
        return self._got(t, n, default)

    def _got(self, t: Any, n: int, default: Any) -> Any:
        """The value a zl_get-style call on ``t`` answered ``n`` for (its length, or a
        negative code), as :meth:`get` returns it: CPython's :meth:`get` inlines this.

        Raises:
            Error: the call's error code (e.g. the transaction has ended).
        """
        if n >= 0:  # the value's length (+ the arena slot's offset)
            if self._buffers:  # a read-only view: the map is mapped read-only
                if n >= _MAPPED:  # in the map: offset and length
                    off = (n >> _MAPPED_SHIFT) & _MAPPED_OFF
                    if _ONE_MAP_VIEW:  # a slice of one view of the whole map, made once per txn
                        mv = self._mv
                        if mv is None:
                            mv = self._mv = memoryview(_buffer(t.map, t.mapsize)).toreadonly()
                        return mv[off : off + (n & _MAPPED_LEN)]
                    return memoryview(_buffer(t.map + off, n & _MAPPED_LEN)).toreadonly()
                return memoryview(_buffer(_thread_vp(), n)).toreadonly()  # e.g. a dirty page
            if n >= _SLOT:  # CPython: the copy is in this thread's arena slot
                return _ARENA_BUF[n & _SLOT_START : n]
            if n == 0:  # empty values are not copied
                return b""
            return _unpack(_thread_vp(), n)  # copied for this thread, without a slot
        if n == _NOTFOUND:
            return default
        if n == _HELD:  # a large value, still in the map: copy it, then let go
            try:
                return _unpack(_thread_vp(), _thread_vl())
            finally:
                lib.zl_txn_unhold(t)
        raise error_for("mdb_get", n if n <= -30000 else -n)

    def cursor(self, db: Optional[_Database] = None) -> Cursor:
        """Return a new :class:`Cursor` on ``db`` (default: the transaction's db).

        Raises:
            Error: the transaction has ended, or ``db`` belongs to another environment.
        """
        return Cursor(self._db if db is None else db, self)


from ._cursor import _PENDING, Cursor, drop_closed_blocks  # noqa: E402
from ._env import MAIN_DBI, Environment, _Database, checked_db, stat_dict  # noqa: E402
