"""Cursor: positioned access to one database inside a transaction."""

from __future__ import annotations

import marshal as _marshal
import platform
import threading
from array import array
from itertools import accumulate as _accumulate
from itertools import chain
from operator import length_hint
from struct import iter_unpack as _iter_unpack
from struct import unpack as _struct_unpack
from typing import Any, Iterable, Iterator, List, Optional, Tuple

from ._errors import IncompatibleError, closed_error, error_for, foreign_db_error
from ._ffi import GC_OWNS, ffi, lib
from ._util import as_buffer, as_int, refuse_pickle

_op = lib.zl_cursor_op
_current = lib.zl_cursor_current
_fill = lib.zl_cursor_fill
_unpack = ffi.unpack
_buffer = ffi.buffer
_NULL = ffi.NULL
_NOTFOUND = lib.MDB_NOTFOUND
_KEYEXIST = lib.MDB_KEYEXIST
_FILL_KEYS = lib.ZL_FILL_KEYS
_FILL_VALUES = lib.ZL_FILL_VALUES
_FILL_FORMAT = lib.ZL_FILL_FORMAT
_FORMAT_SKIP_KEYS = lib.ZL_FORMAT_SKIP_KEYS
_FORMAT_SKIP_VALUES = lib.ZL_FORMAT_SKIP_VALUES
_KEYFIXED_SIZE = lib.ZL_KEYFIXED_SIZE
_HELD = lib.ZL_HELD
_UNPOSITIONED = lib.ZL_UNPOSITIONED
_NOCOPY = lib.ZL_NOCOPY
_PRELOAD = lib.ZL_PRELOAD
_step = lib.zl_cursor_step
_unhold = lib.zl_cursor_unhold

FIRST = lib.MDB_FIRST
LAST = lib.MDB_LAST
NEXT = lib.MDB_NEXT
PREV = lib.MDB_PREV
FIRST_DUP = lib.MDB_FIRST_DUP
LAST_DUP = lib.MDB_LAST_DUP
NEXT_DUP = lib.MDB_NEXT_DUP
PREV_DUP = lib.MDB_PREV_DUP
NEXT_NODUP = lib.MDB_NEXT_NODUP
PREV_NODUP = lib.MDB_PREV_NODUP
SET_KEY = lib.MDB_SET_KEY
SET_RANGE = lib.MDB_SET_RANGE
GET_BOTH = lib.MDB_GET_BOTH
GET_BOTH_RANGE = lib.MDB_GET_BOTH_RANGE
GET_CURRENT = lib.MDB_GET_CURRENT

# Block iteration: the first block is small (a loop that stops early wastes little), later
# blocks grow up to this many items or bytes per crossing into C.
_BLOCK_FIRST = 8
# Blocks pay off where each crossing into C is expensive (CPython). PyPy's JIT inlines the
# cffi call, so there one step per item, with no copy into a block, is faster.
_BLOCKS = platform.python_implementation() == "CPython"


def _pack(parts: List[Any]) -> Tuple[Any, List[int]]:
    """Join bytes-like ``parts`` and list their boundaries, at C speed; ``(None, [])`` when
    a part is not a bytes-like object of 1-byte items (the caller goes item by item)."""
    try:
        data = b"".join(parts)
    except TypeError:
        return None, []
    offs = list(_accumulate(map(len, parts), initial=0))
    if offs[-1] != len(data):  # e.g. an array of 4-byte ints: len() counts items
        return None, []
    return data, offs


_getmulti = lib.zl_getmulti
_putmulti = lib.zl_putmulti
_NOT_PLAIN = lib.ZL_NOT_PLAIN
_M_DUPDATA = lib.ZL_MULTI_DUPDATA
_M_VALUES = lib.ZL_MULTI_VALUES
_M_KEYFIXED = lib.ZL_MULTI_KEYFIXED
_M_MARSHAL_IN = lib.ZL_MULTI_MARSHAL_IN
_M_NOSORT = lib.ZL_MULTI_NOSORT
_M_MARSHAL_OUT = lib.ZL_MULTI_MARSHAL_OUT
_M_FORMAT = lib.ZL_MULTI_FORMAT
_M_RECORDS = lib.ZL_MULTI_RECORDS
_dumps = _marshal.dumps
_loads = _marshal.loads


def _marshal_v2_ok() -> bool:
    """True when marshal version 2 writes and reads the exact bytes zl_getmulti and
    zl_putmulti parse and write (a list of bytes, a list of 2-tuples of bytes)."""
    pairs = b"[\x01\x00\x00\x00(\x02\x00\x00\x00s\x01\x00\x00\x00ks\x00\x00\x00\x00"
    keys = b"[\x01\x00\x00\x00s\x01\x00\x00\x00k"
    try:
        return (
            _dumps([(b"k", b"")], 2) == pairs
            and _dumps([b"k"], 2) == keys
            and _loads(memoryview(pairs)) == [(b"k", b"")]
            and _loads(memoryview(keys)) == [b"k"]
        )
    except Exception:  # noqa: BLE001 - any surprise: the joined-buffer path
        return False


# getmulti/putmulti hand the items to C as marshal bytes (one C pass over the objects,
# CPython) and getmulti builds its result list with marshal.loads. PyPy's marshal is slower
# than its JIT-compiled join and slicing, so there the joined buffer and the block stay.
_MARSHAL_IN = _BLOCKS and _marshal_v2_ok()
_MARSHAL_OUT = _MARSHAL_IN


def _marshalled(items: List[Any]) -> Optional[bytes]:
    """``items`` as marshal version 2 data for zl_getmulti/zl_putmulti, or None when marshal
    cannot write one of them (e.g. a non-contiguous buffer): the caller packs them itself."""
    try:
        return _dumps(items, 2)
    except ValueError:
        return None


def _pack_plain_pairs(items: List[Any]) -> Tuple[Any, List[int]]:
    """Join putmulti's items and list the boundaries of their keys and values; ``(None,
    [])`` unless every item is a 2-tuple of bytes (the caller goes item by item)."""
    parts = []
    offs = [0]
    total = 0
    for item in items:
        if type(item) is not tuple or len(item) != 2:
            return None, []
        k, v = item
        if type(k) is not bytes or type(v) is not bytes:
            return None, []
        parts.append(k)
        parts.append(v)
        total += len(k)
        offs.append(total)
        total += len(v)
        offs.append(total)
    return b"".join(parts), offs


_BLOCK_MAX = 512
_BLOCK_BYTES = 1 << 18

# How an interrupted block iteration puts the LMDB cursor back on the item last yielded.
_RESYNC_EXACT = 0  # per-item iteration: that (key, value) pair
_RESYNC_FIRST_DUP = 1  # next_nodup iteration: the key's first duplicate
_RESYNC_LAST_DUP = 2  # prev_nodup iteration: the key's last duplicate


# Blocks handed out by unfinished block iterators: id(items) -> (items, C cursor).
_PENDING: dict = {}
_PENDING_LOCK = threading.Lock()


def drop_closed_blocks() -> None:
    """Empty the unfinished blocks of cursors that are now closed (directly, or through
    their transaction or environment), so that their iterators stop at the next step and
    raise the closed error. Called after every close; cheap when nothing is iterating."""
    if _PENDING:
        with _PENDING_LOCK:
            for items, c in list(_PENDING.values()):
                if c.state:
                    items.clear()


class Cursor:
    """A cursor over ``db`` inside ``txn``; normally created with :meth:`Transaction.cursor`.

    A new cursor is unpositioned: :meth:`key`, :meth:`value` and :meth:`item` return empty
    values until a positioning method succeeds. Positioning methods return False (and leave
    the cursor unpositioned) when there is no such item. Usable as a context manager that
    closes it.

    Every method raises the closed :class:`Error` once the cursor, its transaction or its
    environment is closed.

    Raises:
        TypeError: ``db`` is not a database handle or ``txn`` not a transaction.
        Error: ``txn`` has ended, or ``db`` belongs to another environment.
    """

    __slots__ = (
        "_c",
        "txn",
        "db",
        "_dupsort",
        "_buffers",
        "_blk",
        "_wk",
        "_wv",
        "_wkv",
        "__weakref__",
    )

    #: Not picklable or copyable (raises TypeError): the object owns LMDB state.
    __reduce_ex__ = __reduce__ = refuse_pickle

    def __init__(self, db: Any, txn: Any) -> None:
        self._c = None
        self._blk = None
        if not isinstance(db, _Database):
            raise TypeError("db must be a _Database")
        if not isinstance(txn, Transaction):
            raise TypeError("txn must be a Transaction")
        if txn._t is None:
            raise closed_error()
        if db._env_ref is not txn.env._ref:
            raise foreign_db_error()
        c = lib.zl_cursor_new(txn._t, db._dbi)
        if c == _NULL:
            raise error_for("mdb_cursor_open", lib.zl_last_error())
        self._c = ffi.gc(c, lib.zl_cursor_release) if GC_OWNS else c
        self.txn = txn
        self.db = db
        self._dupsort = db._dupsort
        self._buffers = txn._buffers
        # What key()/value()/item() ask C to publish: copies, or map pointers (buffers=True;
        # then value pages are touched in C, as py-lmdb's preload does).
        nocopy = _NOCOPY if self._buffers else 0
        self._wk = _FILL_KEYS | nocopy
        self._wv = _FILL_VALUES | nocopy | (_PRELOAD if nocopy else 0)
        self._wkv = _FILL_KEYS | _FILL_VALUES | nocopy | (_PRELOAD if nocopy else 0)

    if not GC_OWNS:

        def __del__(self, _release: Any = lib.zl_cursor_release) -> None:  # see Transaction
            c = self._c
            if c is not None:
                self._c = None
                _release(c)

    def close(self) -> None:
        """Close the cursor; idempotent.

        Raises:
            Never raises.
        """
        if self._c is not None:
            lib.zl_cursor_close(self._c)
            if _PENDING:
                drop_closed_blocks()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _move(self, op: int, key: Any = b"", value: Any = b"") -> bool:
        if self._blk is not None:
            self._resync()
        try:
            rc = _op(self._c, op, key, len(key), value, len(value))
        except TypeError:
            if self._c is None:
                raise closed_error() from None
            if (key is None or value is None) and op != GET_BOTH and op != GET_BOTH_RANGE:
                # py-lmdb: key lookups need a real key; the pair lookups take None as b""
                raise TypeError("a bytes-like object is required, not 'NoneType'") from None
            kb, kn = as_buffer(key)
            vb, vn = as_buffer(value)
            rc = _op(self._c, op, kb, kn, vb, vn)
        if rc == 0:
            return True
        if rc == _NOTFOUND:
            return False
        raise error_for("mdb_cursor_get", rc)

    def _need_dupsort(self) -> None:
        if not self._dupsort:
            raise IncompatibleError("mdb_cursor_get", lib.MDB_INCOMPATIBLE)

    def _resync(self) -> None:
        """Put the LMDB cursor back on the item a block iterator handed out last, and end
        that block (the iterator then continues from wherever the cursor moves)."""
        it, items, n, how = self._blk
        self._blk = None
        i = max(n - 1 - length_hint(it), 0)
        items.clear()
        c = self._c
        o = c.offs
        key = _unpack(c.buf + o[2 * i], o[2 * i + 1] - o[2 * i])
        if self._dupsort and how == _RESYNC_EXACT:
            value = _unpack(c.buf + o[2 * i + 1], o[2 * i + 2] - o[2 * i + 1])
            rc = _op(c, GET_BOTH, key, len(key), value, len(value))
        else:
            rc = _op(c, SET_KEY, key, len(key), b"", 0)
            if rc == 0 and self._dupsort and how == _RESYNC_LAST_DUP:
                rc = _op(c, LAST_DUP, b"", 0, b"", 0)
        if rc and rc != _NOTFOUND:
            raise error_for("mdb_cursor_get", rc)

    def _ready(self):
        """The C cursor, put back on the item a block iterator yielded last (no refresh:
        like py-lmdb, count() and delete() act on LMDB's cursor as it is)."""
        if self._blk is not None:
            self._resync()
        c = self._c
        if c is None:
            raise closed_error()
        return c

    def _publish(self, what: int):
        """Refresh and publish the current item (one crossing); True when it is held."""
        if self._blk is not None:
            self._resync()
        c = self._c
        if c is None:
            raise closed_error()
        rc = _current(c, what)
        if rc == 0:
            return False
        if rc == _HELD:
            return True
        raise error_for("mdb_cursor_get", rc)

    # -- current item ----------------------------------------------------------------------

    def key(self) -> Any:
        """Return the current key (``b''`` when unpositioned).

        Raises:
            Error: the cursor is closed.
        """
        c = self._c
        if self._publish(self._wk):
            try:
                return _unpack(c.ok, c.okl)
            finally:
                _unhold(c)
        if self._buffers:
            return memoryview(_buffer(c.ok, c.okl)).toreadonly()
        return _unpack(c.ok, c.okl)

    def value(self) -> Any:
        """Return the current value (``b''`` when unpositioned).

        Raises:
            Error: the cursor is closed.
        """
        c = self._c
        if self._publish(self._wv):
            try:
                return _unpack(c.ov, c.ovl)
            finally:
                _unhold(c)
        if self._buffers:
            return memoryview(_buffer(c.ov, c.ovl)).toreadonly()
        return _unpack(c.ov, c.ovl)

    def item(self) -> Tuple[Any, Any]:
        """Return ``(key, value)`` of the current item (empty values when unpositioned).

        Raises:
            Error: the cursor is closed.
        """
        c = self._c
        if self._publish(self._wkv):
            try:
                return _unpack(c.ok, c.okl), _unpack(c.ov, c.ovl)
            finally:
                _unhold(c)
        if self._buffers:
            return (
                memoryview(_buffer(c.ok, c.okl)).toreadonly(),
                memoryview(_buffer(c.ov, c.ovl)).toreadonly(),
            )
        return _unpack(c.ok, c.okl), _unpack(c.ov, c.ovl)

    # -- positioning -----------------------------------------------------------------------

    def first(self) -> bool:
        """Move to the first item; False on an empty db.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(FIRST)

    def last(self) -> bool:
        """Move to the last item; False on an empty db.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(LAST)

    def next(self) -> bool:
        """Move to the next item (``first()`` on a fresh cursor); False past the end.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(NEXT)

    def prev(self) -> bool:
        """Move to the previous item (``last()`` on a fresh cursor); False past the start.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(PREV)

    def first_dup(self) -> bool:
        """Move to the current key's first duplicate (dupsort dbs only).

        Raises:
            IncompatibleError: not a dupsort db.
            InvalidParameterError: the cursor is unpositioned.
        """
        return self._move(FIRST_DUP)

    def last_dup(self) -> bool:
        """Move to the current key's last duplicate (dupsort dbs only); raises as first_dup.

        Raises:
            IncompatibleError: not a dupsort db.
            InvalidParameterError: the cursor is unpositioned.
        """
        return self._move(LAST_DUP)

    def next_dup(self) -> bool:
        """Move to the current key's next duplicate; False after the last (dupsort only).

        Raises:
            IncompatibleError: not a dupsort db.
        """
        return self._move(NEXT_DUP)

    def prev_dup(self) -> bool:
        """Move to the current key's previous duplicate; False before the first.

        Raises:
            IncompatibleError: not a dupsort db (when positioned).
        """
        return self._move(PREV_DUP)

    def next_nodup(self) -> bool:
        """Move to the first duplicate of the next key; False past the end.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(NEXT_NODUP)

    def prev_nodup(self) -> bool:
        """Move to the last duplicate of the previous key; False before the start.

        Raises:
            Error: the cursor, its transaction or environment is closed.
        """
        return self._move(PREV_NODUP)

    def set_key(self, key: Any) -> bool:
        """Move to ``key`` exactly; False (unpositioned) if absent.

        Raises:
            BadValsizeError: empty key.
            TypeError: ``str`` or non-bytes-like key.
        """
        return self._move(SET_KEY, key)

    def set_key_dup(self, key: Any, value: Any) -> bool:
        """Move to the exact ``(key, value)`` pair of a dupsort db; False if absent.

        ``None`` stands for ``b""`` here (as in py-lmdb).

        Raises:
            IncompatibleError: not a dupsort db.
            BadValsizeError: an empty (or None) key or value on a dupsort db.
            TypeError: ``str`` or non-bytes-like key or value.
        """
        return self._move(GET_BOTH, key, value)

    def set_range(self, key: Any) -> bool:
        """Move to the first key >= ``key`` (``b''`` means the first); False past the end.

        Raises:
            TypeError: ``key`` is None, ``str`` or not bytes-like.
        """
        return self._move(SET_RANGE, key)  # C turns an empty key into MDB_FIRST

    def set_range_dup(self, key: Any, value: Any) -> bool:
        """On ``key``, move to the first duplicate >= ``value``; False if none.

        ``None`` stands for ``b""`` here (as in py-lmdb).

        Raises:
            IncompatibleError: not a dupsort db.
            BadValsizeError: an empty (or None) key or value on a dupsort db.
            TypeError: ``str`` or non-bytes-like key or value.
        """
        return self._move(GET_BOTH_RANGE, key, value)

    def get(self, key: Any, default: Any = None) -> Any:
        """Move to ``key`` and return its value, or ``default`` if absent.

        Raises:
            TypeError: ``key`` is None, ``str`` or not bytes-like.
            BadValsizeError: empty key.
        """
        if key is None:
            raise TypeError("key must be given.")
        if self._move(SET_KEY, key):
            return self.value()
        return default

    def count(self) -> int:
        """Return the number of duplicates of the current key.

        Raises:
            IncompatibleError: not a dupsort db.
            InvalidParameterError: the cursor is unpositioned.
        """
        c = self._ready()
        out = ffi.new("size_t *")
        rc = lib.zl_cursor_count(c, out)
        if rc:
            raise error_for("mdb_cursor_count", rc)
        return out[0]

    # -- writes ----------------------------------------------------------------------------

    def put(
        self,
        key: Any,
        value: Any,
        dupdata: bool = True,
        overwrite: bool = True,
        append: bool = False,
    ) -> bool:
        """Store ``(key, value)`` as :meth:`Transaction.put`; the cursor ends on it.

        Raises:
            The errors of :meth:`Transaction.put`.
        """
        if self._blk is not None:
            self._resync()
        flags = put_flags(dupdata, overwrite, append, self._dupsort)
        try:
            rc = lib.zl_cursor_put(self._c, key, len(key), value, len(value), flags)
        except TypeError:
            kb, kn = as_buffer(key)
            vb, vn = as_buffer(value)
            rc = lib.zl_cursor_put(self._c, kb, kn, vb, vn, flags)
        if rc == 0:
            return True
        if rc == _KEYEXIST:
            return False
        raise error_for("mdb_put", rc)

    def delete(self, dupdata: bool = False) -> bool:
        """Delete the current item (with ``dupdata=True`` every duplicate of its key).

        The cursor then sits on the following item. Returns False when unpositioned.

        Raises:
            ReadonlyError: in a read-only transaction.
        """
        c = self._ready()
        flags = lib.MDB_NODUPDATA if dupdata and self._dupsort else 0
        rc = lib.zl_cursor_del(c, flags)
        if rc == 0:
            return True
        if rc == _UNPOSITIONED:
            return False
        raise error_for("mdb_cursor_del", rc)

    def replace(self, key: Any, value: Any) -> Any:
        """Store ``value`` under ``key`` and return the old value (None if none); the
        cursor ends on the new item. On dupsort dbs every old duplicate is replaced.

        Raises:
            The errors of :meth:`Transaction.put` (``what`` names the failing LMDB call).
        """
        if self._blk is not None:
            self._resync()
        kb, kn = as_buffer(key)
        vb, vn = as_buffer(value)
        c = self._c
        rc = lib.zl_cursor_replace(c, kb, kn, vb, vn)
        if rc:
            raise error_for(REPLACE_STAGES[self.txn._t.stage], rc)
        t = self.txn._t
        if t.vp == _NULL:
            return None
        return _unpack(t.vp, t.vl)

    def pop(self, key: Any) -> Any:
        """Delete ``key`` (its first duplicate) and return its value, or None if absent.

        Raises:
            BadValsizeError: empty key.
            ReadonlyError: in a read-only transaction.
        """
        if self._blk is not None:
            self._resync()
        kb, kn = as_buffer(key)
        rc = lib.zl_cursor_pop(self._c, kb, kn)
        if rc == _NOTFOUND:
            return None
        if rc:
            raise error_for(REPLACE_STAGES[self.txn._t.stage], rc)
        t = self.txn._t
        return _unpack(t.vp, t.vl)

    def putmulti(
        self, items: Iterable, dupdata: bool = True, overwrite: bool = True, append: bool = False
    ) -> Tuple[int, int]:
        """Store many ``(key, value)`` 2-tuples in one call; return ``(consumed, added)``.

        The results are those of putting the items one by one in input order: for each key
        its items are put in input order (with ``overwrite=True`` the last one wins, with
        ``overwrite=False`` or ``dupdata=False`` the first), and the counts are the same.
        Large calls put the items in key order (much faster on a large database); the cursor
        still ends on the last item. ``append=True`` always goes in input order.

        Raises:
            TypeError: an item that is not a 2-tuple of bytes-like objects.
            BadValsizeError: an empty or too long key (or a too long value in a dupsort db):
                the items before it stay written in the transaction, and the error names its
                index.
            MapFullError, ...: as :meth:`put`. After an error that depends on the database
                (a full map, too many dirty pages) LMDB lets the transaction only be aborted;
                which of the items were written before it is unspecified.
        """
        return self._put_many(items, put_flags(dupdata, overwrite, append, self._dupsort), 0)

    def _put_in_input_order(self, items: Iterable) -> Tuple[int, int]:
        """:meth:`putmulti` with its defaults, always putting the items in input order with
        plain puts (no sorting, no ``MDB_APPEND``): the pages LMDB then splits are those of
        putting the items one by one, which the ORM's buffered writes need so that a
        database's page layout (``stat()``) is the one upstream zlmdb's single puts give.

        Raises:
            the errors of :meth:`putmulti`.
        """
        return self._put_many(items, put_flags(True, True, False, self._dupsort), _M_NOSORT)

    def _put_many(self, items: Iterable, flags: int, mode: int) -> Tuple[int, int]:
        if self._blk is not None:
            self._resync()
        if type(items) is not list:
            items = list(items)
        c = self._c
        rc = _NOT_PLAIN
        if _MARSHAL_IN and items:
            # One C pass over the objects; anything but 2-tuples of bytes is ZL_NOT_PLAIN.
            m = _marshalled(items)
            if m is not None:
                rc = _putmulti(c, m, len(m), _NULL, 0, flags, _M_MARSHAL_IN | mode)
        if rc == _NOT_PLAIN:
            if not _BLOCKS:  # PyPy: one loop the JIT compiles
                data, offs = _pack_plain_pairs(items)
            elif set(map(type, items)) == {tuple} and set(map(len, items)) == {2}:
                data, offs = _pack(list(chain.from_iterable(items)))
            else:
                data = None
            if data is None:  # not all (bytes, bytes): item by item, with the errors they deserve
                flat, offs = self._pack_pairs_checked(items)
                data = b"".join(flat)
            n = (len(offs) - 1) // 2
            if n == 0:
                if c is not None and not lib.zl_txn_alive(self.txn._t):
                    raise closed_error()
                return 0, 0
            rc = _putmulti(c, data, 0, ffi.new("size_t[]", offs), n, flags, mode)
        if rc:
            raise error_for(f"mdb_cursor_put() element #{c.mfailed}", rc)
        return c.mconsumed, c.madded

    @staticmethod
    def _pack_pairs_checked(items: Iterable) -> Tuple[List[Any], List[int]]:
        """putmulti's items item by item, with the errors a bad one deserves."""
        parts: List[Any] = []
        offs = [0]
        total = 0
        for item in items:
            if type(item) is not tuple or len(item) != 2:
                raise TypeError("putmulti() items must be (key, value) 2-tuples")
            k, v = item
            if k is None or v is None:  # as py-lmdb (put() alone takes None as b"")
                raise TypeError("a bytes-like object is required, not 'NoneType'")
            if type(k) is not bytes:
                kb, kn = as_buffer(k)
                k = kb if type(kb) is bytes else bytes(_buffer(kb, kn))
            if type(v) is not bytes:
                vb, vn = as_buffer(v)
                v = vb if type(vb) is bytes else bytes(_buffer(vb, vn))
            parts.append(k)
            parts.append(v)
            total += len(k)
            offs.append(total)
            total += len(v)
            offs.append(total)
        return parts, offs

    def getmulti(
        self,
        keys: Iterable,
        dupdata: bool = False,
        dupfixed_bytes: Optional[int] = None,
        keyfixed: bool = False,
        values: bool = True,
    ) -> Any:
        """Look up many keys in one call; missing keys are skipped.

        Returns a list of ``(key, value)`` tuples (every duplicate with ``dupdata=True``), or
        of keys with ``values=False``, in the order of ``keys`` (a key given twice is
        reported twice). ``dupfixed_bytes=N`` reads dupfixed duplicates in N-byte units; with
        ``keyfixed=True`` the result is one read-only memoryview of packed key+value records. Large calls
        look the keys up in key order (much faster on a large database) and report them in
        input order; the cursor still ends where looking up the last key leaves it.

        Raises:
            TypeError: ``values=False`` with ``dupdata=True``, ``dupfixed_bytes`` without
                ``dupdata``, ``keyfixed`` without ``dupfixed_bytes``; a key that is not
                bytes-like.
            OverflowError: negative ``dupfixed_bytes``.
            ValueError: ``keyfixed=True`` and keys of different sizes were found.
            BadValsizeError: an empty key.
        """
        if dupfixed_bytes is not None:
            if isinstance(dupfixed_bytes, bool):
                raise TypeError("dupfixed_bytes must be an int")
            dupfixed_bytes = as_int(dupfixed_bytes, "dupfixed_bytes")
            if dupfixed_bytes < 0:
                raise OverflowError("Integer argument must be >= 0")
        if (dupfixed_bytes or keyfixed) and not dupdata:
            raise TypeError("dupdata is required for dupfixed_bytes/keyfixed.")
        if keyfixed and not dupfixed_bytes:
            raise TypeError("dupfixed_bytes is required for keyfixed.")
        if not values and dupdata:
            raise TypeError("values=False is incompatible with dupdata.")
        if self._blk is not None:
            self._resync()
        if type(keys) is not list:
            keys = list(keys)
        mode = (_M_DUPDATA if dupdata else 0) | (_M_VALUES if values else 0)
        if keyfixed:
            mode |= _M_KEYFIXED  # one block of records
        elif self._buffers:
            mode |= _M_FORMAT  # memoryviews over struct.unpack's bytes
        else:
            # One key size and one value size (the usual case): struct.iter_unpack cuts the
            # (key, value) tuples out of back-to-back records; else marshal.loads (CPython).
            mode |= _M_RECORDS | (_M_MARSHAL_OUT if _MARSHAL_OUT else 0)
        c = self._c
        dfb = dupfixed_bytes or 0
        n = _NOT_PLAIN
        if _MARSHAL_IN and keys:
            m = _marshalled(keys)
            if m is not None:
                if c is None:
                    raise closed_error()
                n = _getmulti(c, m, len(m), _NULL, 0, mode | _M_MARSHAL_IN, dfb)
        if n == _NOT_PLAIN:
            data, offs = _pack(keys)
            if data is None:  # not all plain bytes: item by item, with the errors they deserve
                parts = []
                offs = [0]
                total = 0
                for k in keys:
                    if type(k) is not bytes:
                        kb, kn = as_buffer(k)
                        k = kb if type(kb) is bytes else bytes(_buffer(kb, kn))
                    parts.append(k)
                    total += len(k)
                    offs.append(total)
                data = b"".join(parts)
            if c is None:
                raise closed_error()
            n = _getmulti(c, data, 0, ffi.new("size_t[]", offs), len(offs) - 1, mode, dfb)
        if n < 0:
            if n == _KEYFIXED_SIZE:
                raise ValueError("keyfixed=True requires all keys to be the same size")
            raise error_for("mdb_cursor_get", n if n <= -30000 else -n)
        if n == 0:
            return memoryview(b"") if keyfixed else []
        if keyfixed:  # a memoryview, as py-lmdb returns (callers .cast() or .tobytes() it)
            return memoryview(_unpack(c.buf, c.mlen))
        kind = c.mkind
        if kind == 2:  # records of one key size and one value size
            return list(_iter_unpack(_unpack(c.fmt, c.fmtlen), _buffer(c.buf, c.mlen)))
        if kind:
            return _loads(_buffer(c.buf, c.mlen))
        if not _BLOCKS and not self._buffers:
            # PyPy: a loop the JIT compiles beats struct.unpack with a new format each call.
            offs = c.offs
            raw = _buffer(c.buf, offs[2 * n])[:]
            if not values:
                return [raw[offs[2 * i] : offs[2 * i + 1]] for i in range(n)]
            return [
                (raw[offs[2 * i] : offs[2 * i + 1]], raw[offs[2 * i + 1] : offs[2 * i + 2]])
                for i in range(n)
            ]
        flat = _struct_unpack(_unpack(c.fmt, c.fmtlen), _buffer(c.buf, c.offs[2 * n]))
        if self._buffers:
            flat = tuple(map(memoryview, flat))
        if not values:
            return list(flat)
        pairs = iter(flat)
        return list(zip(pairs, pairs))

    # -- iteration -------------------------------------------------------------------------

    def _iterate(
        self,
        start_op: int,
        step_op: int,
        keys: bool,
        values: bool,
        how: int,
        start_unpositioned: bool = True,
    ) -> Iterator:
        # As py-lmdb: an unpositioned cursor is moved to its start when the iterator is
        # made; the iterator yields the current item first, then steps, and ends as soon as
        # the cursor is unpositioned. ``values=False`` yields keys, else ``keys=False``
        # yields values, else (key, value) pairs.
        if self._blk is not None:
            self._resync()
        c = self._c
        if c is None or c.state:
            raise closed_error()
        if not values:
            keys = True
        elif not keys:
            values = True
        if not c.positioned and start_unpositioned:
            rc = _op(c, start_op, b"", 0, b"", 0)
            if rc and rc != _NOTFOUND:
                raise error_for("mdb_cursor_get", rc)
        if self.txn._write or self._buffers or not _BLOCKS:
            return self._iterate_steps(GET_CURRENT, step_op, keys, values)
        return self._iterate_blocks(GET_CURRENT, step_op, keys, values, how)

    def _iterate_steps(self, op: int, step_op: int, keys: bool, values: bool) -> Iterator:
        """One crossing per item: used in write transactions, where the caller may change
        the database between items, and for buffers=True, where items point into the map.
        Without buffers C copies each item out of the map during the step."""
        c = self._c
        if c.state:
            raise closed_error()
        if not c.positioned:
            return
        buffers = self._buffers
        what = (_FILL_KEYS if keys else 0) | (_FILL_VALUES if values else 0)
        if buffers:
            what |= _NOCOPY
        unpack = (lambda p, n: memoryview(_buffer(p, n)).toreadonly()) if buffers else _unpack
        # The first item is the current one, re-read if the txn changed (as key()/item()).
        rc = _current(c, what)
        while True:
            if rc:
                if rc == _NOTFOUND:
                    return
                if rc != _HELD:
                    raise error_for("mdb_cursor_get", rc)
                try:  # a large item, still in the map: copy it, then let go
                    if keys and values:
                        item = _unpack(c.ok, c.okl), _unpack(c.ov, c.ovl)
                    elif keys:
                        item = _unpack(c.ok, c.okl)
                    else:
                        item = _unpack(c.ov, c.ovl)
                finally:
                    _unhold(c)
                yield item
            elif keys and values:
                yield unpack(c.ok, c.okl), unpack(c.ov, c.ovl)
            elif keys:
                yield unpack(c.ok, c.okl)
            else:
                yield unpack(c.ov, c.ovl)
            rc = _step(c, step_op, what)

    def _iterate_blocks(
        self, op: int, step_op: int, keys: bool, values: bool, how: int
    ) -> Iterator:
        """Read-only transactions on CPython: C packs a block of items per crossing together
        with a struct format of it ("<16s100s16s100s..."); one ``struct.unpack`` cuts the
        block into bytes objects, and the items are handed out with ``yield from`` over a
        list iterator, so no Python bytecode runs per item.

        The LMDB cursor runs ahead of the item handed out last. ``self._blk`` holds the list
        iterator, whose remaining length tells :meth:`_resync` which item that was; a close
        of the cursor, its transaction or environment is noticed at the next block."""
        c = self._c
        what = _FILL_KEYS | _FILL_FORMAT
        if not keys:
            what |= _FORMAT_SKIP_KEYS
        if values or (self._dupsort and how == _RESYNC_EXACT):
            what |= _FILL_VALUES
            if not values:
                what |= _FORMAT_SKIP_VALUES
        size = _BLOCK_FIRST
        while True:
            n = _fill(c, op, step_op, what, size, _BLOCK_BYTES)
            if n <= 0:
                self._blk = None
                if n < 0:
                    raise error_for("mdb_cursor_get", n if n <= -30000 else -n)
                return
            flat = _struct_unpack(_unpack(c.fmt, c.fmtlen), _buffer(c.buf, c.offs[2 * n]))
            if keys and values:
                pairs = iter(flat)
                items = list(zip(pairs, pairs))
            else:
                items = list(flat)
            it = iter(items)
            blk = self._blk = (it, items, n, how)
            token = id(items)
            with _PENDING_LOCK:
                _PENDING[token] = (items, c)
            try:
                yield from it
            finally:
                with _PENDING_LOCK:
                    _PENDING.pop(token, None)
            if c.state:
                # The cursor, its transaction or its environment was closed meanwhile.
                self._blk = None
                raise closed_error()
            if self._blk is blk:
                self._blk = None
            elif not c.positioned:
                # Another method moved the cursor off every item: like py-lmdb, stop.
                return
            op = step_op
            if size < _BLOCK_MAX:
                size *= 4

    def iternext(self, keys: bool = True, values: bool = True) -> Iterator:
        """Iterate forward from the current item (from the first when unpositioned),
        yielding ``(key, value)``, keys or values.

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(FIRST, NEXT, keys, values, _RESYNC_EXACT)

    def iternext_dup(self, keys: bool = False, values: bool = True) -> Iterator:
        """Iterate over the remaining duplicates of the current key (values by default).

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(FIRST, NEXT_DUP, keys, values, _RESYNC_EXACT, False)

    def iternext_nodup(self, keys: bool = True, values: bool = False) -> Iterator:
        """Iterate forward one item per key (keys by default).

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(FIRST, NEXT_NODUP, keys, values, _RESYNC_FIRST_DUP)

    def iterprev(self, keys: bool = True, values: bool = True) -> Iterator:
        """Iterate backward from the current item (from the last when unpositioned).

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(LAST, PREV, keys, values, _RESYNC_EXACT)

    def iterprev_dup(self, keys: bool = False, values: bool = True) -> Iterator:
        """Iterate backward over the current key's duplicates (values by default).

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(LAST, PREV_DUP, keys, values, _RESYNC_EXACT, False)

    def iterprev_nodup(self, keys: bool = True, values: bool = False) -> Iterator:
        """Iterate backward one item per key (keys by default).

        Raises:
            Error: the cursor is closed (also on a later step of the iterator).
        """
        return self._iterate(LAST, PREV_NODUP, keys, values, _RESYNC_LAST_DUP)

    def __iter__(self) -> Iterator:
        return self.iternext()


from ._env import _Database  # noqa: E402
from ._txn import REPLACE_STAGES, Transaction, put_flags  # noqa: E402

__all__ = ["Cursor", "array"]
