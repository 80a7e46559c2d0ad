"""LmdbObjectStore: a thread-safe, write-buffered object store over one LMDB database.

Layering: keys are normalized by :mod:`._keys`, values encoded by :mod:`._serializers`,
the environment is shared per data file through :mod:`._envs`, and LMDB is reached only
through :mod:`zlmdb.lmdb`.

Locking: every store on one data file shares the environment's ``RLock`` (``store.lock``).
It guards the write buffers, the state flags, every write transaction and the reader
counters. Reads hold it only to look at the buffer (and flush, with ``autoflush_on_read``),
then count themselves as in-flight readers and run their LMDB read transaction without it;
single-key reads with an empty buffer do not take it (``_pending_unlocked``).
A map resize waits (on ``store.condition``) until no read transaction of the environment is
open, because LMDB remaps the file and values handed out as buffers would dangle.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import operator
import os
import pickle
import threading
import weakref
from collections.abc import ItemsView, KeysView, Mapping, MutableMapping, ValuesView
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

# Not ``from .. import lmdb``: that asks zlmdb.__getattr__ first, which loads the ORM
# (and numpy, whose BLAS threads then compete for the CPU) before importing the binding.
import zlmdb.lmdb as lmdb

from . import _envs
from ._keys import check_key_options, display_key, normalize_key, prefix_successor
from ._serializers import PickleSerializer, SerializerSpec, resolve_serializer

__all__ = ["LmdbObjectStore"]

log = logging.getLogger("zlmdb.store")

_MISSING = object()  # private "not found" marker (never stored)
_FLUSH_FIRST = object()  # a single-key read must flush before reading LMDB
_GROW_STEP = 64 * 1024 * 1024
_SCAN_CHUNK = 512  # items per read transaction when iterating
# Below this many entries a flush writes them one put() at a time: Cursor.putmulti's fixed
# cost (packing the batch, one cursor) only pays off for larger batches (measured: about
# 5 us fixed, 0.1 us an entry cheaper; even at about 50 entries).
_PUTMULTI_MIN = 48

_get_ident = threading.get_ident
_pickle_dumps = pickle.dumps
_first = operator.itemgetter(0)

CLOSED_MESSAGE = "Database is closed or in the process of closing."
READONLY_MESSAGE = "Environment is read-only; write operations are not allowed."

KeyLike = Union[bytes, bytearray, memoryview, str]


def _closed_error() -> lmdb.Error:
    return lmdb.Error(CLOSED_MESSAGE)


def _readonly_error() -> lmdb.Error:
    return lmdb.Error(READONLY_MESSAGE)


def _entries(n: int, what: str = "buffered entry") -> str:
    """``"1 buffered entry"`` / ``"3 buffered entries"``."""
    return f"{n} {what}" if n == 1 else f"{n} {what[:-1]}ies"


# -- writing and map growth, shared by stores and their finalizers ---------------------------


def _resize_map(shared: _envs.SharedEnv, size: int) -> None:
    """Set the map size once no read transaction of the environment is open.

    ``size=0`` adopts the size another process has grown the file to.
    """
    with shared.lock:
        me = _get_ident()
        # Let another resize finish, and a flush committing outside the lock or another
        # thread's write (LMDB refuses to resize while a write transaction is open; the
        # caller's own was aborted by it).
        while shared.resizing or (
            shared.write_owner != me and (shared.committing or shared.write_owner)
        ):
            shared.condition.wait()
        shared.resizing = True
        try:
            while shared.readers > 0:
                shared.condition.wait()
            shared.env.set_mapsize(size)
        finally:
            shared.resizing = False
            shared.condition.notify_all()


def _grow_map(shared: _envs.SharedEnv, max_map_size: Optional[int]) -> None:
    """Grow the map after a MapFullError: double it (at least +64 MiB), capped.

    Raises:
        lmdb.MapFullError: the map is already at ``max_map_size``.
    """
    current = shared.env.info()["map_size"]
    if max_map_size is not None:
        # A float cap (1e9) counts in whole bytes; an infinite one (or NaN) bounds nothing.
        max_map_size = int(max_map_size) if math.isfinite(max_map_size) else None
    if max_map_size is not None and current >= max_map_size:
        log.error(
            "Cannot resize: map size (%d) is already at its configured maximum (%d).",
            current,
            max_map_size,
        )
        raise lmdb.MapFullError("Map size at configured maximum")
    new_size = max(current * 2, current + _GROW_STEP)
    if max_map_size is not None:
        new_size = min(new_size, max_map_size)
    log.warning("MapFullError: growing mapsize from %d to %d", current, new_size)
    _resize_map(shared, new_size)


def _begin_write(shared: _envs.SharedEnv, db: Any, buffers: bool = False) -> Any:
    """Start a write transaction, adopting a map grown by another process if needed."""
    while True:
        try:
            return shared.env.begin(db=db, write=True, buffers=buffers)
        except lmdb.MapResizedError:
            _resize_map(shared, 0)


def _run_write(
    shared: _envs.SharedEnv, db: Any, max_map_size: Optional[int], apply: Callable[[Any], None]
) -> None:
    """Run ``apply(txn)`` in one write transaction and commit; grow the map and retry on
    MapFullError. Holds the environment's write slot (``shared.write_owner``) throughout,
    waiting for another thread's write to end first: growing the map waits for readers with
    the lock released, and no other write may begin (or commit) in between.

    Raises:
        lmdb.MapFullError: the map cannot grow (``max_map_size``).
        whatever ``apply`` raises (the transaction is aborted).
    """
    _take_write_slot(shared)
    try:
        while True:
            txn = _begin_write(shared, db)
            try:
                apply(txn)
                txn.commit()
                return
            except lmdb.MapFullError:
                txn.abort()
                _grow_map(shared, max_map_size)
            except BaseException:
                txn.abort()
                raise
    finally:
        _release_write_slot(shared)


def _take_write_slot(shared: _envs.SharedEnv) -> None:
    """Become the thread writing the environment (re-entrant): wait for another thread's
    write, or a map resize, to end."""
    me = _get_ident()
    with shared.lock:
        while shared.write_owner not in (0, me) or (shared.resizing and shared.write_owner != me):
            shared.condition.wait()
        shared.write_owner = me
        shared.write_depth += 1


def _release_write_slot(shared: _envs.SharedEnv) -> None:
    """End one _take_write_slot; the last one wakes waiting writers and writes the buffers
    of stores collected meanwhile on this thread."""
    with shared.lock:
        shared.write_depth -= 1
        if not shared.write_depth:
            shared.write_owner = 0
            shared.condition.notify_all()
            if shared.orphans:
                _drain_orphans(shared)


def _wait_writers_idle(shared: _envs.SharedEnv) -> None:
    """Wait until no flush is committing outside the lock and no other thread's write runs
    (the caller holds the lock)."""
    me = _get_ident()
    while shared.write_owner != me and (shared.committing or shared.write_owner):
        shared.condition.wait()


def _commit_buffer(
    shared: _envs.SharedEnv,
    db: Any,
    buffer: Dict[bytes, Any],
    sentinel: object,
    max_map_size: Optional[int],
    puts_only: bool = False,
) -> List[bytes]:
    """Write ``buffer`` in one transaction and clear it; return the keys LMDB cannot store
    (empty or oversize), which are dropped rather than left to poison later flushes.

    ``puts_only``: no ``delete()`` went into ``buffer``, so it is first handed to LMDB as
    it is, in one call into C; an entry put into ``write_buffer`` directly (a deletion
    marker, an unstorable key) makes that call fail before or without writing it, and the
    entry-by-entry path below then writes the batch in the same transaction."""
    limit = shared.max_key_size
    dropped: List[bytes] = []

    def apply(txn: Any) -> None:
        dropped.clear()
        if len(buffer) < _PUTMULTI_MIN:
            # A small batch: one put/delete per entry costs less than preparing putmulti.
            put = txn.put
            delete = txn.delete
            for key, value in buffer.items():
                size = len(key)
                if size == 0 or size > limit:
                    dropped.append(key)
                elif value is sentinel:
                    delete(key)
                else:
                    put(key, value)
            return
        if puts_only and b"" not in buffer:
            try:
                with txn.cursor() as cursor:
                    cursor.putmulti(buffer.items())
                return
            except (TypeError, lmdb.BadValsizeError):
                pass
        # Each key is in the buffer once, so deletes and puts commute: deletes one by one,
        # then all puts in one call into C.
        puts = []
        delete = txn.delete
        for key, value in buffer.items():
            size = len(key)
            if size == 0 or size > limit:
                dropped.append(key)
            elif value is sentinel:
                delete(key)
            else:
                puts.append((key, value))
        if puts:
            with txn.cursor() as cursor:
                cursor.putmulti(puts)

    _run_write(shared, db, max_map_size, apply)
    buffer.clear()
    return dropped


def _write_abandoned(
    shared: _envs.SharedEnv,
    db: Any,
    buffer: Dict[bytes, Any],
    sentinel: object,
    max_map_size: Optional[int],
    path: str,
) -> None:
    """Write the buffer of a store that was never closed, or log how much is lost.
    The caller holds ``shared.lock`` and no other writer runs."""
    count = len(buffer)
    try:
        dropped = _commit_buffer(shared, db, buffer, sentinel, max_map_size)
    except Exception as exc:
        log.error(
            "LmdbObjectStore(%r) was not closed and its final flush failed: %s were not written (%s)",
            path,
            _entries(count),
            exc,
        )
        return
    if dropped:
        log.error(
            "LmdbObjectStore(%r) was not closed: %s with unstorable keys not written",
            path,
            _entries(len(dropped), "entry"),
        )
    else:
        log.info("LmdbObjectStore(%r) was not closed: flushed %d buffered entries", path, count)


def _committer_loop(shared: _envs.SharedEnv) -> None:
    """The environment's background committer: commits the entries that read misses handed
    over (``LmdbObjectStore._hand_off``), one store at a time, with the same synced commit
    as any flush (``_flush``, called without the lock held, so that it commits outside it).
    A failure puts the entries back into the store's buffer and makes its next flush run
    in the caller (which then raises). Exits when the environment is released."""
    lock = shared.lock
    while True:
        with lock:
            while not shared.queue and not shared.stopping:
                shared.condition.wait()
            if not shared.queue:
                shared.committer = None
                return
            store = shared.queue.pop(0)
            store._queued = False
            if store._closing or store._is_closed or not store._handed:
                shared.condition.notify_all()  # nothing to commit: waiters may go on
                continue  # a flush, put_many or close() took (or takes) the entries
        try:
            # What the read misses handed over, not what was buffered since: as with
            # lmdb-object-store, those stay in the buffer until the next flush point.
            store._flush(handed_only=True)
        except BaseException as exc:  # noqa: BLE001 - recorded; the next flush raises it
            with lock:
                store._async_error = exc
                shared.condition.notify_all()
            log.warning(
                "Background commit to %r failed (the next flush retries it): %s",
                store.db_path,
                exc,
            )
        store = None


def _drain_orphans(shared: _envs.SharedEnv) -> None:
    with shared.lock:
        while shared.orphans:
            _write_abandoned(shared, *shared.orphans.pop(0))


def _finalize(
    shared: _envs.SharedEnv,
    db: Any,
    buffer: Dict[bytes, Any],
    handed: Dict[bytes, Any],
    sentinel: object,
    max_map_size: Optional[int],
    path: str,
) -> None:
    """Last chance for a store that was never closed (garbage collected or interpreter exit):
    write its buffer (and what it handed to the committer), or log how many entries are
    lost; then release the environment."""
    try:
        if (buffer or handed) and not shared.readonly:
            with shared.lock:
                writing = shared.write_owner == _get_ident()
                if not writing:
                    _wait_writers_idle(shared)  # a commit of handed entries may be running
                if handed:
                    merged = dict(handed)
                    merged.update(buffer)  # the buffer is newer
                    handed.clear()
                    buffer = merged
                if not buffer:
                    return
                if writing:
                    # Collected on the thread that is writing: it cannot open a second write
                    # transaction, so the running write takes the buffer when it is done.
                    shared.orphans.append((db, buffer, sentinel, max_map_size, path))
                    return
                _write_abandoned(shared, db, buffer, sentinel, max_map_size, path)
    finally:
        _envs.release(shared)


# -- views -----------------------------------------------------------------------------------


class _ScanArgs:
    __slots__ = ("start", "stop", "prefix", "reverse", "decode_keys")

    def __init__(
        self, start: Any, stop: Any, prefix: Any, reverse: bool, decode_keys: bool
    ) -> None:
        self.start = start
        self.stop = stop
        self.prefix = prefix
        self.reverse = reverse
        self.decode_keys = decode_keys

    def ranged(self) -> bool:
        return self.start is not None or self.stop is not None or self.prefix is not None

    def scan(
        self, store: LmdbObjectStore, keys: bool, values: bool, reverse: Optional[bool] = None
    ) -> Iterator[Any]:
        return store._scan(
            self.start,
            self.stop,
            self.prefix,
            self.reverse if reverse is None else reverse,
            keys,
            values,
            self.decode_keys,
        )


class StoreKeysView(KeysView):
    """The keys of a store (or of a key range of it), in LMDB's bytewise order."""

    def __init__(self, store: LmdbObjectStore, args: _ScanArgs) -> None:
        super().__init__(store)
        self._args = args

    def __iter__(self) -> Iterator[Any]:
        return self._args.scan(self._mapping, True, False)

    def __reversed__(self) -> Iterator[Any]:
        return self._args.scan(self._mapping, True, False, not self._args.reverse)

    def __len__(self) -> int:
        if not self._args.ranged():
            return len(self._mapping)
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if not self._args.ranged():
            return key in self._mapping
        norm = self._mapping._norm_key(key)
        return any(self._mapping._norm_key(k) == norm for k in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


class StoreValuesView(ValuesView):
    """The values of a store (or of a key range of it), in key order."""

    def __init__(self, store: LmdbObjectStore, args: _ScanArgs) -> None:
        super().__init__(store)
        self._args = args

    def __iter__(self) -> Iterator[Any]:
        return self._args.scan(self._mapping, False, True)

    def __reversed__(self) -> Iterator[Any]:
        return self._args.scan(self._mapping, False, True, not self._args.reverse)

    def __len__(self) -> int:
        if not self._args.ranged():
            return len(self._mapping)
        return sum(1 for _ in self._args.scan(self._mapping, True, False))

    def __contains__(self, value: object) -> bool:
        return any(v is value or v == value for v in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


class StoreItemsView(ItemsView):
    """The ``(key, value)`` pairs of a store (or of a key range of it), in key order."""

    def __init__(self, store: LmdbObjectStore, args: _ScanArgs) -> None:
        super().__init__(store)
        self._args = args

    def __iter__(self) -> Iterator[Tuple[Any, Any]]:
        return self._args.scan(self._mapping, True, True)

    def __reversed__(self) -> Iterator[Tuple[Any, Any]]:
        return self._args.scan(self._mapping, True, True, not self._args.reverse)

    def __len__(self) -> int:
        if not self._args.ranged():
            return len(self._mapping)
        return sum(1 for _ in self._args.scan(self._mapping, True, False))

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        key, value = item
        norm = self._mapping._norm_key(key)
        for k, v in self:
            if self._mapping._norm_key(k) == norm:
                return v is value or v == value
        return False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


# -- the store -------------------------------------------------------------------------------


class _NoKeyType:
    """No key has this type: disables the ``bytes`` shortcut of the hot paths."""


class LmdbObjectStore(MutableMapping):
    """A thread-safe, write-buffered store of Python objects in one LMDB database.

    A drop-in replacement for ``lmdb_object_store.LmdbObjectStore`` 0.1.0 (same arguments,
    attributes, errors and on-disk format), plus ``len``/iteration/range scans, the full
    ``MutableMapping`` API, pluggable serializers, named sub-databases, atomic
    ``transaction()`` blocks and no silent loss of buffered writes.

    ``LmdbObjectStore(db_path, batch_size=1000, *, autoflush_on_read=True,
    key_encoding=None, key_errors="strict", str_normalize=None, serializer=None, name=None,
    **lmdb_kwargs)``:

    * ``batch_size``: buffered entries (unique keys) that trigger a flush; ``<= 1`` writes
      through.
    * ``autoflush_on_read``: a read of a key not in the buffer first flushes the buffer.
    * ``key_encoding``/``key_errors``/``str_normalize``: how ``str`` keys become bytes
      (``key_encoding=None`` rejects ``str`` keys).
    * ``serializer``: ``"pickle"`` (default), ``"json"``, ``"cbor"``, ``"raw"``, a
      :class:`~zlmdb.store.Serializer` or a ``(dumps, loads)`` pair.
    * ``name`` (alias ``db``): a named sub-database of the file (sets ``max_dbs`` to 16
      unless given).
    * ``max_map_size``: upper bound of automatic map growth (bytes; ``None`` = unbounded).
    * everything else goes to ``zlmdb.lmdb.open`` (``map_size``, ``subdir``, ``readonly``,
      ``sync``, ``max_dbs``, ...).

    Raises:
        TypeError: a bad argument type or an unknown ``lmdb.open`` option.
        ValueError: bad ``str_normalize``, ``batch_size``, ``max_map_size`` or serializer.
        LookupError: unknown ``key_encoding`` codec or ``key_errors`` handler.
        lmdb.Error: the environment cannot be opened (missing path, readonly without a
            file, ...) or is already open in this process with different options.
    """

    _DELETION_SENTINEL = object()

    # Slots for the state (plus a __dict__, so that attributes such as ``_flush`` can still
    # be replaced on an instance, as lmdb-object-store's tests do): CPython 3.11 shares the
    # keys of at most 30 instance attributes, beyond that every attribute read of the hot
    # paths becomes a dict lookup.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_async_error",
        "_closing",
        "_committed",
        "_db",
        "_decode_verb",
        "_deletes_buffered",
        "_dumps",
        "_env_exists",
        "_env_get",
        "_finalizer",
        "_handed",
        "_inflight",
        "_is_closed",
        "_loads",
        "_max_key_size",
        "_partial",
        "_pickle_protocol",
        "_plain_key",
        "_queued",
        "_readers",
        "_readonly",
        "_requeued",
        "_serializer",
        "_shared",
        "_taken",
        "autoflush_on_read",
        "batch_size",
        "condition",
        "db_path",
        "env",
        "key_encoding",
        "key_errors",
        "lock",
        "max_map_size",
        "name",
        "str_normalize",
        "write_buffer",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # ``db[k] = v`` is ``put`` itself (one frame less); a subclass that overrides put()
        # gets a __setitem__ that calls its put(), as in lmdb-object-store.
        if cls.__setitem__ is LmdbObjectStore.put and cls.put is not LmdbObjectStore.put:

            def __setitem__(self: LmdbObjectStore, key: Any, value: Any) -> None:
                self.put(key, value)

            cls.__setitem__ = __setitem__  # type: ignore[method-assign]

    def __init__(
        self,
        db_path: Union[str, os.PathLike[str]],
        batch_size: int = 1000,
        *,
        autoflush_on_read: bool = True,
        key_encoding: Optional[str] = None,
        key_errors: str = "strict",
        str_normalize: Optional[str] = None,
        serializer: SerializerSpec = None,
        name: Optional[KeyLike] = None,
        db: Optional[KeyLike] = None,
        **lmdb_kwargs: Any,
    ) -> None:
        self._is_closed = True  # until the environment is open
        # The hot paths take a ``bytes`` key as it is, without calling _norm_key; not when a
        # subclass normalizes keys its own way.
        self._plain_key = bytes if type(self)._norm_key is _BASE_NORM_KEY else _NoKeyType
        self._closing = False
        self._finalizer: Optional[weakref.finalize] = None
        # lmdb-object-store compares the buffer length with batch_size, so any real number
        # works there (a float, a bool); anything else would only fail at the first put.
        if not isinstance(batch_size, numbers.Real):
            raise TypeError(f"batch_size must be a number; got {type(batch_size).__name__}")
        check_key_options(key_encoding, key_errors, str_normalize)
        max_map_size = lmdb_kwargs.pop("max_map_size", None)
        if max_map_size is not None:
            if not isinstance(max_map_size, numbers.Real):
                raise TypeError(
                    f"max_map_size must be a number of bytes or None; got {type(max_map_size).__name__}"
                )
            if max_map_size < 0:
                raise ValueError("max_map_size must not be negative")
        if name is not None and db is not None:
            raise TypeError("pass the sub-database name as name= or db=, not both")
        sub_name = name if name is not None else db
        self._serializer = resolve_serializer(serializer)
        self._dumps = self._serializer.dumps
        self._loads = self._serializer.loads
        # The default serializer is called straight (pickle.dumps(obj, protocol)), without
        # the frame of a wrapper; None for every other serializer.
        self._pickle_protocol: Optional[int] = (
            self._serializer.protocol if type(self._serializer) is PickleSerializer else None
        )
        self._decode_verb = "unpickle" if self._serializer.name == "pickle" else "deserialize"

        # db_path keeps the caller's str (or bytes) as lmdb-object-store does; a PathLike
        # becomes its str.
        self.db_path = os.fspath(db_path)
        path = os.fsdecode(self.db_path)
        self.batch_size = batch_size
        self.autoflush_on_read = autoflush_on_read
        self.key_encoding = key_encoding
        self.key_errors = key_errors
        self.str_normalize = str_normalize
        self.max_map_size = max_map_size
        self.write_buffer: Dict[bytes, Any] = {}
        self._inflight: Optional[Dict[bytes, Any]] = None  # the batch a flush is committing
        # Entries a read miss handed to the environment's background committer (see
        # _hand_off), not yet taken by a commit: newer than _inflight, older than the buffer.
        self._handed: Dict[bytes, Any] = {}
        self._queued = False  # this store is in the committer's queue
        self._async_error: Optional[BaseException] = None  # the committer's last failure
        self._deletes_buffered = False  # a delete() is in write_buffer (see _commit_buffer)
        # Batches are numbered as flushes take them from the buffer (one commit at a time
        # per environment, so in order): the last one taken, and the last one committed.
        self._taken = 0
        self._committed = 0
        self._partial = 0  # the last batch taken without the buffer (handed_only)
        # Failed commits so far: each moved its batch back into the buffer, the one move
        # against the stages' order, which a read without the lock re-checks (see get()).
        self._requeued = 0
        self._readers = 0
        self._readonly = bool(lmdb_kwargs.get("readonly", False))

        name_bytes = None
        if sub_name is not None:
            name_bytes = (
                self._norm_key(sub_name)
                if not isinstance(sub_name, str)
                else sub_name.encode("utf-8")
            )
            if not name_bytes:
                raise ValueError("a sub-database name must not be empty")
        self.name = name_bytes

        shared = _envs.acquire(path, lmdb_kwargs, need_dbs=name_bytes is not None)
        try:
            self._readonly = shared.readonly
            self._db = shared.env.open_db(name_bytes, create=not shared.readonly)
        except BaseException:
            _envs.release(shared)
            raise
        self._shared = shared
        self.env = shared.env
        self._env_get = shared.env.get
        self._env_exists = shared.env.exists
        self.lock = shared.lock
        self.condition = shared.condition
        self._max_key_size = shared.max_key_size
        with shared.lock:
            shared.stores.add(self)
        self._finalizer = weakref.finalize(
            self,
            _finalize,
            shared,
            self._db,
            self.write_buffer,
            self._handed,
            self._DELETION_SENTINEL,
            max_map_size,
            path,
        )
        self._is_closed = False

    # -- helpers -----------------------------------------------------------------------------

    def _norm_key(self, key: Any) -> bytes:
        """Return the LMDB key for ``key``.

        ``bytes`` as is; ``bytearray``/``memoryview`` copied; ``str`` normalized with
        ``str_normalize`` and encoded with ``key_encoding``/``key_errors``.

        Raises:
            TypeError: ``None`` ("Key cannot be None."), a ``str`` without
                ``key_encoding`` ("str keys are not allowed ..."), or another type ("Key
                must be bytes-like ...").
            UnicodeEncodeError: the ``str`` key cannot be encoded.
        """
        if type(key) is bytes:
            return key
        return normalize_key(key, self.key_encoding, self.key_errors, self.str_normalize)

    def _ensure_open(self) -> None:
        if self._closing or self._is_closed:
            raise _closed_error()

    def _ensure_writable(self) -> None:
        if self._readonly:
            raise _readonly_error()

    def _check_key_size(self, key: bytes) -> None:
        if len(key) > self._max_key_size:
            raise lmdb.BadValsizeError(
                f"Key of {len(key)} bytes is longer than LMDB's maximum key size "
                f"({self._max_key_size}): {display_key(key)}"
            )

    def _decode(self, key: bytes, data: Any, where: str) -> Any:
        try:
            return self._loads(data)
        except Exception as exc:
            raise self._unpickle_error(key, where, exc) from exc

    # lmdb-object-store's error helpers, kept with their names and signatures: subclasses
    # override them to change the errors the store raises.

    def _format_key_for_display(self, key: Any) -> str:
        """Return ``key`` as error messages show it (see :func:`._keys.display_key`)."""
        return display_key(key)

    def _key_not_found_error(self, key: Any) -> KeyError:
        """Return the ``KeyError`` raised for a missing ``key`` (``db[k]``, ``del db[k]``,
        ``pop``)."""
        return KeyError(f"Key not found: {self._format_key_for_display(key)}")

    def _unpickle_error(self, key: Any, context: str, original_error: Exception) -> Exception:
        """Return the error raised when the value of ``key`` cannot be deserialized;
        ``context`` is ``"buffered"`` or ``"DB"``. The store raises it ``from`` the original."""
        return RuntimeError(
            f"Failed to {self._decode_verb} {context} key "
            f"{self._format_key_for_display(key)}: {original_error}"
        )

    def _active_tx(self) -> Optional[_envs.WriteTransaction]:
        tx = self._shared.tx
        if tx is not None and tx.owner == _get_ident():
            return tx
        return None

    def _reset_after_fork(self, shared: _envs.SharedEnv) -> None:
        """In a forked child (see ``SharedEnv.reset_after_fork``): take the environment's
        new lock and forget the entries not committed yet, which are the parent's to write
        (the buffer is emptied in place: the finalizer holds it)."""
        self.lock = shared.lock
        self.condition = shared.condition
        self.write_buffer.clear()
        self._handed.clear()
        self._inflight = None
        self._queued = False
        self._async_error = None
        self._deletes_buffered = False
        self._committed = self._taken
        self._partial = 0
        self._readers = 0

    def _enter_read_locked(self) -> None:
        """Count an in-flight read; the caller holds the lock. Waits out a map resize."""
        shared = self._shared
        while shared.resizing:
            self.condition.wait()
        if self._closing or self._is_closed:
            raise _closed_error()
        self._readers += 1
        shared.readers += 1

    def _exit_read(self) -> None:
        shared = self._shared
        with self.lock:
            self._readers -= 1
            shared.readers -= 1
            if self._closing or shared.resizing:
                self.condition.notify_all()

    def _begin_read(self, buffers: bool = True) -> Any:
        """Start a read transaction; the caller is a counted reader."""
        while True:
            try:
                return self.env.begin(db=self._db, buffers=buffers)
            except lmdb.MapResizedError:
                # Another process grew the map: stop counting as a reader so the resize
                # can drain, adopt the new size, count again and retry.
                self._exit_read()
                _resize_map(self._shared, 0)
                with self.lock:
                    self._enter_read_locked()

    def _read_after_resize(self, key: bytes) -> Any:
        """After ``Environment.get`` raised MapResizedError (another process grew the map):
        adopt the new size and read ``key`` again (``_MISSING`` if absent)."""
        while True:
            _resize_map(self._shared, 0)
            try:
                return self._env_get(key, _MISSING, self._db)
            except lmdb.MapResizedError:
                continue

    def _write(self, apply: Callable[[Any], None]) -> None:
        _run_write(self._shared, self._db, self.max_map_size, apply)

    def _flush(self, handed_only: bool = False) -> None:
        """Commit the buffer in one write transaction (no closed/readonly checks).

        Returns once everything buffered when it was called is committed (with
        ``handed_only``, the background committer's call: only what read misses handed
        over; the buffer is left for the next flush point). The commit runs outside the
        lock when the caller does not hold it: the entries move to
        ``_inflight`` (reads still see them), other threads keep buffering and reading, and
        writes that arrive meanwhile go into the next commit (group commit).

        Raises:
            lmdb.BadValsizeError: buffered keys LMDB cannot store (the empty key) were
                dropped; everything else was committed.
            lmdb.MapFullError: the map is at ``max_map_size`` (the entries stay buffered).
        """
        buffer = self.write_buffer
        shared = self._shared
        lock = self.lock
        with lock:
            tx = self._active_tx()
            if tx is not None:
                items = list(buffer.items())
                buffer.clear()
                for key, value in items:
                    self._tx_write(tx, key, None if value is self._DELETION_SENTINEL else value)
                return
            # What was buffered when we were called goes into the next batch taken (also
            # entries put into write_buffer directly); what is in flight is the last one.
            handed = self._handed
            if handed_only:
                buffer = {}  # left alone: this commit neither takes nor clears it
            if buffer or handed:
                target = self._taken + 1
            elif self._inflight is not None:
                target = self._taken
            else:
                return
            while True:
                if self._committed >= target:
                    if handed_only or self._partial < target:
                        break
                    # A background commit of the handed-over entries only was taken after
                    # we were called and left entries in the buffer: what we found buffered
                    # may be among them, still buffered or handed over since (an empty
                    # buffer proves nothing: a read miss may have moved it to _handed), so
                    # commit what is pending now, or return below if nothing is.
                    target = self._taken + 1
                    continue
                if shared.committing and shared.write_owner != _get_ident():
                    self.condition.wait()  # another flush commits; ours may be in it
                    continue
                if not buffer and not handed:
                    break  # committed by another flush (a failed one puts its batch back)
                if handed:
                    batch = dict(handed)
                    batch.update(buffer)  # the buffer is newer
                else:
                    batch = dict(buffer)
                self._inflight = batch  # before the buffer empties: reads look at both
                buffer.clear()
                handed.clear()
                puts_only = not self._deletes_buffered
                if not handed_only:  # else the buffer may still hold the deletes
                    self._deletes_buffered = False
                self._taken += 1
                number = self._taken
                if handed_only and self.write_buffer:
                    self._partial = number  # this batch leaves buffered entries behind
                shared.committing = True
                state = lock._release_save()  # type: ignore[attr-defined]
                if state[0] > 1:
                    # A caller up the stack holds the lock (close, len, pop, ...): it may
                    # rely on it, so commit while holding it.
                    lock._acquire_restore(state)  # type: ignore[attr-defined]
                    state = None
                error: Optional[BaseException] = None
                dropped: List[bytes] = []
                try:
                    dropped = _commit_buffer(
                        shared,
                        self._db,
                        batch,
                        self._DELETION_SENTINEL,
                        self.max_map_size,
                        puts_only,
                    )
                except BaseException as exc:
                    error = exc
                finally:
                    if state is not None:
                        lock._acquire_restore(state)  # type: ignore[attr-defined]
                    if error is not None:
                        # Back into the buffer before the in-flight batch goes: a read
                        # without the lock (_pending_unlocked) must find it in one or the
                        # other. Newer writes to the same keys win.
                        for key, value in batch.items():
                            if key not in self.write_buffer and key not in handed:
                                self.write_buffer[key] = value
                        if not puts_only:
                            self._deletes_buffered = True
                        self._requeued += 1  # before the in-flight batch goes (see get())
                    shared.committing = False
                    self._inflight = None
                    self.condition.notify_all()
                if error is not None:
                    raise error
                self._committed = number
                self._async_error = None
                if dropped:
                    shown = ", ".join(display_key(k) for k in dropped[:5])
                    failure = lmdb.BadValsizeError(
                        f"{_entries(len(dropped))} not written: LMDB cannot store key(s) {shown} "
                        f"(empty or over {self._max_key_size} bytes); the rest of the buffer was committed"
                    )
                    failure.dropped_keys = dropped  # type: ignore[attr-defined]
                    raise failure

    def _buffered(self, key: bytes) -> Any:
        """The buffered (or being committed) value of ``key``, else ``_MISSING``; the caller
        holds the lock."""
        value = self.write_buffer.get(key, _MISSING)
        if value is _MISSING:
            if self._handed:
                value = self._handed.get(key, _MISSING)
            if value is _MISSING and self._inflight is not None:
                value = self._inflight.get(key, _MISSING)
        return value

    def _pending_unlocked(self, norm: bytes) -> Any:
        """A single-key read with no hand-over to make (the buffer empty; a read that finds
        entries buffered takes the lock and hands them over) and no other thread's
        ``transaction()`` open (those reads still wait for the block), without taking the
        lock: the value of ``norm`` buffered, handed to the committer or being committed,
        else ``_MISSING`` (read LMDB).

        Taking the lock here made the readers of a busy store queue on it behind each other
        and behind the committer (a convoy: every contended acquisition costs a thread
        switch). Without it the read is still exact, with no reliance on the GIL: entries
        only move forward, buffer -> handed -> in flight -> LMDB, each move copying into the
        next stage before clearing the previous one (a failed commit puts its batch back
        into the buffer before clearing the in-flight batch), and the read looks at the
        stages in that same order. So a write that completed before the read, found in no
        earlier stage, is in a later one when the read looks there; a write running
        concurrently may or may not be seen, as with the lock. The one move backwards, a
        failed commit's, counts ``_requeued`` before it clears the in-flight batch, and
        ``get()``/``exists()`` read again when the count changed while they looked. Each
        look is one dict lookup or attribute read, which is atomic on every interpreter.

        Raises:
            lmdb.Error: the store is closed.
        """
        if self._closing or self._is_closed:
            raise _closed_error()
        value = _MISSING
        if self.write_buffer:
            value = self.write_buffer.get(norm, _MISSING)
        if value is _MISSING and self._handed:
            value = self._handed.get(norm, _MISSING)
        if value is _MISSING:
            inflight = self._inflight
            if inflight is not None:
                value = inflight.get(norm, _MISSING)
        return value

    def _buffered_locked(self, norm: bytes, autoflush: bool, forced: bool) -> Any:
        """A single-key read while entries are pending (the caller holds the lock): the
        buffered (or handed over, or being committed) value of ``norm``, else
        ``_FLUSH_FIRST`` when the read must flush first, else ``_MISSING`` (read LMDB).

        A miss with ``autoflush`` hands the buffer to the background committer and reads
        on (see :meth:`_hand_off`); only ``forced`` (``exists(flush=True)``), or a store
        whose flush cannot be handed over, flushes and waits. LMDB's answer for a key that
        is in none of the three is the right one either way.
        """
        value = self._buffered(norm)
        if value is _MISSING and autoflush and self.write_buffer:
            if forced:
                return _FLUSH_FIRST
            if self._can_hand_off():
                self._hand_off()
            elif not self._shared.committing:
                return _FLUSH_FIRST
        return value

    def _can_hand_off(self) -> bool:
        """May a read miss hand the buffer to the committer instead of flushing? Not when
        ``_flush`` is replaced (on the instance or in a subclass: it must be called), after
        a failed background commit (the next flush runs, and raises, in the caller), or with
        the empty key buffered (its flush raises). The caller holds the lock."""
        return (
            self._async_error is None
            and b"" not in self.write_buffer
            and type(self)._flush is _BASE_FLUSH
            and "_flush" not in self.__dict__
        )

    def _hand_off(self) -> None:
        """Move the buffer into ``_handed`` and queue this store for the environment's
        committer thread, which commits it (a synced commit, as any flush) while the reader
        goes on. Reads keep finding the entries in memory until the commit is done;
        ``flush()``/``close()`` commit them (or wait for that commit). The caller holds the
        lock."""
        self._handed.update(self.write_buffer)  # the buffer is newer
        self.write_buffer.clear()
        if not self._queued:
            self._queued = True
            shared = self._shared
            shared.queue.append(self)
            committer = shared.committer
            if committer is None or not committer.is_alive():  # not started, or a fork
                thread = threading.Thread(
                    target=_committer_loop, args=(shared,), name="zlmdb.store-committer"
                )
                thread.daemon = True
                shared.committer = thread
                thread.start()
            shared.condition.notify_all()

    def _flush_then_buffered(self, norm: bytes) -> Any:
        """Flush (outside the lock, so the commit does not block others), then look at the
        buffer again: a put may have arrived meanwhile."""
        self._flush()
        with self.lock:
            if self._closing or self._is_closed:
                raise _closed_error()
            return self._buffered(norm)

    def _split_buffered(
        self, unique: List[bytes], may_flush: bool
    ) -> Tuple[Dict[bytes, Any], List[bytes], bool]:
        """Split ``unique`` keys into buffered values and keys to read from LMDB; count the
        caller as a reader unless it must flush first (returned flag)."""
        buffered: Dict[bytes, Any] = {}
        with self.lock:
            self._ensure_open()
            if self._pending():
                wanted = []
                for norm in unique:
                    value = self._buffered(norm)
                    if value is _MISSING:
                        wanted.append(norm)
                    else:
                        buffered[norm] = value
            else:
                wanted = unique
            if not wanted:
                return buffered, wanted, False
            if may_flush and self.autoflush_on_read and self.write_buffer:
                if self._can_hand_off():
                    self._hand_off()
                elif not self._shared.committing:
                    return buffered, wanted, True
            self._enter_read_locked()
        return buffered, wanted, False

    def _pending(self) -> bool:
        """True if entries are buffered or being committed; the caller holds the lock."""
        return bool(self.write_buffer) or bool(self._handed) or self._inflight is not None

    # -- transactions --------------------------------------------------------------------------

    def _tx_restart(self, tx: _envs.WriteTransaction) -> None:
        """After a map resize: begin a new write txn and replay the transaction's writes.

        Raises:
            lmdb.MapFullError: another writer committed while the map grew (the reads of
                the transaction may be stale), so the transaction is rolled back.
        """
        shared = self._shared
        while True:
            txn = _begin_write(shared, self._db, buffers=True)
            if txn.id() != tx.base_id:
                txn.abort()
                raise lmdb.MapFullError(
                    "The map was grown during transaction(), and another writer committed "
                    "meanwhile; the transaction was rolled back: retry it."
                )
            try:
                for db, key, value in tx.log:
                    if key is None:
                        txn.drop(db, delete=False)
                    elif value is None:
                        txn.delete(key, db=db)
                    else:
                        txn.put(key, value, db=db)
            except lmdb.MapFullError:
                txn.abort()
                _grow_map(shared, self.max_map_size)
                continue
            except BaseException:
                txn.abort()
                raise
            tx.txn = txn
            return

    def _tx_write(
        self, tx: _envs.WriteTransaction, key: Optional[bytes], value: Optional[bytes]
    ) -> None:
        """Apply one write (``value=None`` deletes; ``key=None`` empties the db) in ``tx``."""
        db = self._db
        while True:
            try:
                txn = tx.txn
                if key is None:
                    txn.drop(db, delete=False)
                elif value is None:
                    txn.delete(key, db=db)
                else:
                    txn.put(key, value, db=db)
                tx.log.append((db, key, value))
                return
            except lmdb.MapFullError:
                tx.txn.abort()
                _grow_map(self._shared, self.max_map_size)
                self._tx_restart(tx)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[LmdbObjectStore]:
        """Group reads and writes of this thread into one LMDB write transaction.

        ``with db.transaction(): db[k] = db.get(k, 0) + 1`` is an atomic
        read-modify-write: nothing else (no other thread, store or process) can write the
        environment in between. Inside the block this thread's operations on *every* store
        sharing the environment (e.g. named sub-databases of the same file) go to the
        transaction, unbuffered; reads see its uncommitted writes. A clean exit commits,
        an exception rolls everything back. Other threads using stores of this file wait
        until the block ends. Nested blocks join the outer one.

        Raises:
            lmdb.Error: the store is closed or read-only.
            lmdb.MapFullError: the map is at ``max_map_size``; or it had to grow while the
                block ran and another process wrote meanwhile (rolled back: retry).
        """
        shared = self._shared
        tx = self._active_tx()
        if tx is not None:
            yield self
            return
        with self.lock:
            self._ensure_open()
            self._ensure_writable()
            # Every store's pending writes first (the block reads LMDB, not the buffers);
            # the flushes and the wait release the lock, so look again until none is left.
            while True:
                pending = [
                    store
                    for store in list(shared.stores)
                    if store._pending() and not store._closing and not store._is_closed
                ]
                for store in pending:
                    store._flush()
                _wait_writers_idle(shared)
                self._ensure_open()
                if not pending:
                    break
            # The write slot for the whole block: a map growth inside it waits for readers
            # with the lock released, and no other write may begin meanwhile.
            _take_write_slot(shared)
            try:
                txn = _begin_write(shared, self._db, buffers=True)
            except BaseException:
                _release_write_slot(shared)
                raise
            tx = _envs.WriteTransaction(_get_ident(), txn)
            shared.tx = tx
            committed = False
            try:
                yield self
                while True:
                    try:
                        tx.txn.commit()
                        committed = True
                        break
                    except lmdb.MapFullError:
                        tx.txn.abort()
                        _grow_map(shared, self.max_map_size)
                        self._tx_restart(tx)
            finally:
                shared.tx = None
                if not committed:
                    tx.txn.abort()
                _release_write_slot(shared)

    def _tx_get(self, tx: _envs.WriteTransaction, key: bytes, default: Any) -> Any:
        raw = tx.txn.get(key, None, db=self._db)
        if raw is None:
            return default
        return self._decode(key, raw, "DB")

    # -- single keys -------------------------------------------------------------------------

    def put(self, key: Any, obj: Any) -> None:
        """Buffer ``obj`` (serialized now) under ``key``; flush when the buffer reaches
        ``batch_size`` entries.

        Raises:
            TypeError, UnicodeEncodeError: a bad key (see :meth:`_norm_key`).
            pickle's (the serializer's) own error: ``obj`` cannot be serialized.
            lmdb.Error: the store is closed or read-only.
            lmdb.BadValsizeError: the key is longer than LMDB's maximum key size.
            lmdb.MapFullError: a triggered flush hit ``max_map_size``.
        """
        # As lmdb-object-store: the key, then the value, then (under the lock) the state.
        norm = key if type(key) is self._plain_key else self._norm_key(key)
        protocol = self._pickle_protocol
        value = _pickle_dumps(obj, protocol) if protocol is not None else self._dumps(obj)
        with self.lock:  # not acquire(); try: a signal in between would leave it held
            if self._closing or self._is_closed:
                raise _closed_error()
            tx = self._shared.tx
            if tx is not None and tx.owner == _get_ident():
                self._tx_put(norm, value)
                return
            if self._readonly:
                raise _readonly_error()
            if len(norm) > self._max_key_size:
                self._check_key_size(norm)
            buffer = self.write_buffer
            buffer[norm] = value
            if len(buffer) < self.batch_size:
                return
        self._flush()

    def _tx_put(self, norm: bytes, value: Optional[bytes]) -> None:
        """put/delete inside this thread's transaction() (``value=None`` deletes)."""
        self._check_key_size(norm)
        if not norm:
            if value is None:
                return  # nothing is stored under the empty key
            raise lmdb.BadValsizeError("LMDB cannot store an empty key")
        self._tx_write(self._shared.tx, norm, value)

    def delete(self, key: Any) -> None:
        """Buffer the deletion of ``key`` (a missing key is not an error).

        Raises:
            TypeError, UnicodeEncodeError: a bad key.
            lmdb.Error: the store is closed or read-only.
            lmdb.BadValsizeError: the key is longer than LMDB's maximum key size.
        """
        norm = key if type(key) is self._plain_key else self._norm_key(key)
        with self.lock:  # not acquire(); try: a signal in between would leave it held
            if self._closing or self._is_closed:
                raise _closed_error()
            tx = self._shared.tx
            if tx is not None and tx.owner == _get_ident():
                self._tx_put(norm, None)
                return
            if self._readonly:
                raise _readonly_error()
            self._check_key_size(norm)
            buffer = self.write_buffer
            buffer[norm] = self._DELETION_SENTINEL
            self._deletes_buffered = True
            if len(buffer) < self.batch_size:
                return
        self._flush()

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the object stored under ``key`` (buffered writes included), or ``default``.

        With ``autoflush_on_read`` a key not in the buffer flushes the buffer first.

        Raises:
            TypeError, UnicodeEncodeError: a bad key.
            lmdb.Error: the store is closed.
            lmdb.BadValsizeError: the empty key, when it is not buffered.
            RuntimeError: the stored bytes cannot be deserialized ("Failed to unpickle ...").
        """
        norm = key if type(key) is self._plain_key else self._norm_key(key)
        tx = self._shared.tx
        if tx is not None and tx.owner == _get_ident():
            self._ensure_open()
            return self._tx_get(tx, norm, default)
        requeued = self._requeued
        buffer = self.write_buffer
        if tx is None and not buffer and not self._handed and self._inflight is None:
            # Nothing pending in any stage (looked at in _pending_unlocked's order): LMDB.
            if self._closing or self._is_closed:
                raise _closed_error()
            value = _MISSING
        # The lock only when entries are buffered (a miss hands them over, so the buffer is
        # empty when the read returns, as after lmdb-object-store's flush; see
        # _pending_unlocked), or when another thread's transaction() is open (reads wait
        # for the block).
        elif tx is not None or buffer:
            with self.lock:  # not acquire(); try: a signal in between would leave it held
                if self._closing or self._is_closed:
                    raise _closed_error()
                value = self._buffered_locked(norm, self.autoflush_on_read, False)
        else:
            value = self._pending_unlocked(norm)
        if value is _FLUSH_FIRST:
            value = self._flush_then_buffered(norm)
        if value is not _MISSING:
            if value is self._DELETION_SENTINEL:
                return default
            return self._decode(norm, value, "buffered")
        # Not counted as an in-flight reader: Environment.get copies the value inside one C
        # call, which close() and map resizes wait for; nothing of the map escapes.
        try:
            raw = self._env_get(norm, _MISSING, self._db)
        except lmdb.MapResizedError:
            raw = self._read_after_resize(norm)
        if self._requeued != requeued:
            # A commit failed while we looked, moving its batch back into the buffer after
            # we had looked there and before we looked at the batch in flight: read again.
            return self.get(key, default)
        if raw is _MISSING:
            return default
        try:
            return self._loads(raw)
        except Exception:
            return self._decode(norm, raw, "DB")  # raises, naming the key

    def exists(self, key: Any, *, flush: Optional[bool] = None) -> bool:
        """Return True if ``key`` has a value (buffered deletes and puts count).

        ``flush=None`` flushes a key-miss when ``autoflush_on_read``; ``True`` always,
        ``False`` never.

        Raises:
            TypeError, UnicodeEncodeError: a bad key.
            lmdb.Error: the store is closed.
            lmdb.BadValsizeError: the empty key, when it is not buffered.
        """
        norm = key if type(key) is self._plain_key else self._norm_key(key)
        tx = self._shared.tx
        if tx is not None and tx.owner == _get_ident():
            self._ensure_open()
            return tx.txn.get(norm, None, db=self._db) is not None
        requeued = self._requeued
        buffer = self.write_buffer
        if tx is None and not buffer and not self._handed and self._inflight is None:
            # Nothing pending in any stage (looked at in _pending_unlocked's order): LMDB.
            if self._closing or self._is_closed:
                raise _closed_error()
            value = _MISSING
        elif tx is not None or buffer:
            with self.lock:  # not acquire(); try: a signal in between would leave it held
                if self._closing or self._is_closed:
                    raise _closed_error()
                if flush is None:
                    value = self._buffered_locked(norm, self.autoflush_on_read, False)
                else:
                    value = self._buffered_locked(norm, flush, flush)
        else:
            value = self._pending_unlocked(norm)
        if value is _FLUSH_FIRST:
            value = self._flush_then_buffered(norm)
        if value is not _MISSING:
            return value is not self._DELETION_SENTINEL
        try:
            found = self._env_exists(norm, self._db)  # one call into C, no copy
        except lmdb.MapResizedError:
            found = self._read_after_resize(norm) is not _MISSING
        if self._requeued != requeued:
            return self.exists(key, flush=flush)  # a commit failed meanwhile (see get())
        return found

    # -- many keys ---------------------------------------------------------------------------

    def get_many(
        self,
        keys: Iterable[Any],
        *,
        decode_keys: bool = False,
        decode_not_found: Optional[bool] = None,
    ) -> Tuple[Dict[Any, Any], List[Any]]:
        """Return ``(found, not_found)`` for ``keys`` using one read transaction.

        ``found`` maps each normalized key (``str`` with ``decode_keys=True``) to its object,
        in request order; ``not_found`` lists the caller's key objects that have no value,
        in request order with duplicates (decoded to ``str`` with ``decode_not_found``,
        which defaults to ``decode_keys``).

        Raises:
            ValueError: decoding requested without ``key_encoding``.
            TypeError: ``keys`` not iterable, or a bad key.
            lmdb.Error: the store is closed.
            RuntimeError: a value cannot be deserialized.
        """
        if (decode_keys or decode_not_found is True) and not self.key_encoding:
            raise ValueError("Decoding requested but key_encoding is not set.")
        if decode_not_found is None:
            decode_not_found = decode_keys
        if not self.key_encoding:
            # A truthy non-True decode_not_found without key_encoding is not an error (the
            # check above is for ``is True``); there is nothing to decode with.
            decode_keys = decode_not_found = False
        originals = keys if type(keys) is list else list(keys)  # TypeError if not iterable
        norm_key = self._norm_key
        plain = self._plain_key
        norms = [k if type(k) is plain else norm_key(k) for k in originals]
        tx = self._shared.tx
        if tx is not None and tx.owner == _get_ident():
            self._ensure_open()
            found: Dict[Any, Any] = {}
            for norm in norms:
                if norm not in found:
                    found[norm] = self._tx_get(tx, norm, _MISSING)
            found = {k: v for k, v in found.items() if v is not _MISSING}
        else:
            with self.lock:
                self._ensure_open()
                direct = not self.write_buffer and not self._handed and self._inflight is None
                if direct:
                    self._enter_read_locked()
            if direct:
                # Nothing buffered: all keys in one call into C, found in request order.
                found = self._decode_pairs(self._read_many(norms, counted=True))
            else:
                found = self._get_many_buffered(norms)
        if len(found) < len(norms):
            not_found = [o for o, k in zip(originals, norms) if k not in found]
        else:
            not_found = []
        if decode_keys:
            encoding, errors = self.key_encoding, self.key_errors
            found = {k.decode(encoding, errors): v for k, v in found.items()}
        if decode_not_found:
            encoding, errors = self.key_encoding, self.key_errors
            not_found = [
                bytes(k).decode(encoding, errors)
                if isinstance(k, (bytes, bytearray, memoryview))
                else k
                for k in not_found
            ]
        return found, not_found

    def _read_many(self, norms: List[bytes], counted: bool) -> List[Tuple[bytes, bytes]]:
        """``(key, stored bytes)`` of the stored ``norms``, in order (duplicates repeated),
        read in one read transaction with one call into C (the values are copies).
        ``counted``: the caller already counted itself as a reader (this ends it).

        Raises:
            lmdb.BadValsizeError: an empty key (as ``get`` raises); oversize keys are missing.
        """
        if not counted:
            with self.lock:
                self._enter_read_locked()
        try:
            txn = self._begin_read(buffers=False)
            try:
                with txn.cursor() as cursor:
                    try:
                        return cursor.getmulti(norms)
                    except lmdb.BadValsizeError:
                        if all(norms):
                            raise
                txn.get(b"")  # LMDB's error for the empty key, the one get() raises
                raise AssertionError("unreachable")  # pragma: no cover
            finally:
                txn.abort()
        finally:
            self._exit_read()

    def _decode_pairs(self, pairs: List[Tuple[bytes, bytes]]) -> Dict[bytes, Any]:
        loads = self._loads
        found: Dict[bytes, Any] = {}
        key = raw = b""
        try:
            for key, raw in pairs:
                found[key] = loads(raw)
        except Exception as exc:
            self._decode(key, raw, "DB")  # raises the RuntimeError naming the key
            raise exc  # pragma: no cover - a second decode succeeded
        return found

    def _get_many_buffered(self, norms: List[bytes]) -> Dict[bytes, Any]:
        """get_many's path while entries are buffered: buffer first, then (after the
        optional autoflush) LMDB for the rest; the found objects in request order."""
        unique = list(dict.fromkeys(norms))
        buffered, wanted, flush_first = self._split_buffered(unique, True)
        if flush_first:
            self._flush()
            buffered, wanted, _ = self._split_buffered(unique, False)
        sentinel = self._DELETION_SENTINEL
        values: Dict[bytes, Any] = {}
        for norm, value in buffered.items():
            if value is not sentinel:
                values[norm] = self._decode(norm, value, "buffered")
        if wanted:
            values.update(self._decode_pairs(self._read_many(wanted, counted=True)))
        return {k: values[k] for k in unique if k in values}

    def _encode_items(
        self, items: Union[Mapping, Iterable[Tuple[Any, Any]]], check_sizes: bool = True
    ) -> List[Tuple[bytes, Any]]:
        """Normalize and serialize ``items`` (values that are the deletion sentinel stay).
        ``check_sizes=False`` leaves empty and oversize keys to the write (put_many's
        apply: LMDB rejects them, and :meth:`_check_pair_keys` then names the key).

        Raises:
            TypeError, UnicodeEncodeError, lmdb.BadValsizeError: a bad key.
            the serializer's error: a value cannot be serialized.
        """
        sentinel = self._DELETION_SENTINEL
        norm_key = self._norm_key
        plain = self._plain_key
        source = items.items() if isinstance(items, Mapping) else items
        protocol = self._pickle_protocol
        if protocol is not None:
            dumps = _pickle_dumps
            pairs = [
                (
                    key if type(key) is plain else norm_key(key),
                    value if value is sentinel else dumps(value, protocol),
                )
                for key, value in source
            ]
        else:
            dumps = self._dumps
            pairs = [
                (
                    key if type(key) is plain else norm_key(key),
                    value if value is sentinel else dumps(value),
                )
                for key, value in source
            ]
        if pairs and check_sizes:
            sizes = list(map(len, map(_first, pairs)))
            if min(sizes) == 0 or max(sizes) > self._max_key_size:
                self._check_pair_keys(pairs)
        return pairs

    def _check_pair_keys(self, pairs: List[Tuple[bytes, Any]]) -> None:
        """Raise lmdb.BadValsizeError for the first key of ``pairs`` LMDB cannot store."""
        for key, _ in pairs:
            self._check_key_size(key)
            if not key:
                raise lmdb.BadValsizeError("LMDB cannot store an empty key")

    def put_many(self, items: Union[Mapping, Iterable[Tuple[Any, Any]]]) -> None:
        """Write ``items`` (a mapping or ``(key, value)`` pairs) atomically in one write
        transaction, bypassing the buffer (which is flushed first). Last write wins for
        duplicate keys.

        Raises:
            lmdb.Error: the store is closed or read-only.
            TypeError, UnicodeEncodeError, lmdb.BadValsizeError: a bad key (nothing written).
            the serializer's error: a value cannot be serialized (nothing written).
            lmdb.MapFullError: the map is at ``max_map_size`` (nothing written).
        """
        sentinel = self._DELETION_SENTINEL
        tx = self._active_tx()
        if tx is not None:
            self._ensure_open()
            for norm, value in self._encode_items(items):
                self._tx_write(tx, norm, None if value is sentinel else value)
            return
        with self.lock:
            self._ensure_open()
            self._ensure_writable()
            # Also what a read miss handed over and what is being committed: older than
            # items. A commit that fails puts its batch back into the buffer, so writing
            # items after only waiting for it would let those entries overwrite them; and
            # the waits release the lock, so look again until nothing is pending.
            while True:
                if self._pending():
                    self._flush()
                _wait_writers_idle(self._shared)
                self._ensure_open()
                if not self._pending():
                    break
            # Encoded once, before the transaction, so a retry after map growth replays them.
            pairs = self._encode_items(items, check_sizes=False)

            def apply(txn: Any) -> None:
                try:
                    try:
                        with txn.cursor() as cursor:
                            cursor.putmulti(pairs)  # in order, so the last duplicate wins
                        return
                    except TypeError:
                        pass  # a deletion marker (not bytes): item by item below, in order
                    self._check_pair_keys(pairs)  # LMDB's delete ignores the empty key
                    put = txn.put
                    delete = txn.delete
                    for norm, value in pairs:
                        if value is sentinel:
                            delete(norm)
                        else:
                            put(norm, value)
                except lmdb.BadValsizeError:
                    # An empty or oversize key (the transaction is aborted): name it.
                    self._check_pair_keys(pairs)
                    raise

            self._write(apply)

    def flush(self, *, sync: bool = False) -> None:
        """Write all buffered puts and deletes in one transaction.

        ``sync=True`` also forces the data to disk (``env.sync(True)``), which matters when
        the store was opened with ``sync=False``.

        Raises:
            lmdb.Error: the store is closed or read-only.
            lmdb.BadValsizeError: unstorable buffered keys were dropped (the rest committed).
            lmdb.MapFullError: the map is at ``max_map_size`` (the buffer is kept).
        """
        with self.lock:
            self._ensure_open()
            self._ensure_writable()
        self._flush()  # outside the lock: it commits without blocking other threads
        if sync and self._active_tx() is None:
            self.env.sync(True)

    def close(self, *, strict: bool = False) -> None:
        """Flush the buffer, wait for in-flight reads and release the environment.

        Idempotent and safe to call from many threads at once. A failed final flush is
        logged at ERROR with the number of entries not written; ``strict=True`` also raises.

        Raises:
            RuntimeError: ``strict=True`` and the final flush failed ("Final flush failed
                during close()", chained to the cause).
            lmdb.Error: called inside this thread's ``transaction()`` block.
        """
        if self._active_tx() is not None:
            raise lmdb.Error("close() cannot run inside transaction(); leave the block first.")
        flush_error: Optional[BaseException] = None
        with self.lock:
            if self._is_closed or self._closing:
                return
            self._closing = True
            if not self._readonly:
                pending = len(self.write_buffer) + len(self._handed)
                try:
                    self._flush()
                except Exception as exc:
                    lost = (
                        len(getattr(exc, "dropped_keys", ())) or len(self.write_buffer) or pending
                    )
                    log.error(
                        "Error during final flush on close: %s (%s not written to %s)",
                        exc,
                        _entries(lost),
                        self.db_path,
                        exc_info=True,
                    )
                    flush_error = exc
            while self._readers > 0:
                self.condition.wait()
            if not self._readonly:
                try:
                    self.env.sync()
                except Exception:
                    log.warning("env.sync() failed during close()", exc_info=True)
            finalizer = self._finalizer
            if finalizer is not None:
                finalizer.detach()
            self._shared.stores.discard(self)
            _envs.release(self._shared)
            self._is_closed = True
        if flush_error is not None and strict:
            raise RuntimeError("Final flush failed during close()") from flush_error

    def __enter__(self) -> LmdbObjectStore:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    # -- dict protocol -----------------------------------------------------------------------

    # ``db[k] = v`` is put itself, not a method calling it: one Python frame less per set.
    __setitem__ = put

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise self._key_not_found_error(key)
        return value

    def __delitem__(self, key: Any) -> None:
        if not self.exists(key, flush=False):
            raise self._key_not_found_error(key)
        self.delete(key)

    def __contains__(self, key: object) -> bool:
        return self.exists(key, flush=False)

    def __bool__(self) -> bool:
        # lmdb-object-store has no __len__, so a store was always truthy; keep that.
        return True

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        state = "closed" if self._is_closed or self._closing else "open"
        sub = f", name={self.name!r}" if getattr(self, "name", None) else ""
        return f"<LmdbObjectStore {getattr(self, 'db_path', '?')!r}{sub} {state}>"

    # -- beyond lmdb-object-store: size, iteration, ranges -----------------------------------

    def _prepare_scan(self) -> None:
        """Make the buffer visible to a scan: flush it (the caller holds the lock)."""
        self._ensure_open()
        if self._pending() and not self._readonly:
            self._flush()

    def __len__(self) -> int:
        """Return the number of keys (the buffer is flushed first).

        Raises:
            lmdb.Error: the store is closed.
        """
        tx = self._active_tx()
        if tx is not None:
            self._ensure_open()
            return tx.txn.stat(self._db)["entries"]
        with self.lock:
            self._prepare_scan()
            self._enter_read_locked()
        try:
            txn = self._begin_read()
            try:
                return txn.stat(self._db)["entries"]
            finally:
                txn.abort()
        finally:
            self._exit_read()

    def __iter__(self) -> Iterator[bytes]:
        return self._scan(None, None, None, False, True, False, False)

    def __reversed__(self) -> Iterator[bytes]:
        return self._scan(None, None, None, True, True, False, False)

    def keys(  # type: ignore[override]
        self,
        prefix: Any = None,
        *,
        start: Any = None,
        stop: Any = None,
        reverse: bool = False,
        decode_keys: bool = False,
    ) -> StoreKeysView:
        """Return a view of the keys in bytewise order, optionally a range.

        ``prefix`` limits to keys starting with it; ``start`` (inclusive) and ``stop``
        (exclusive) bound the range; ``reverse=True`` iterates from the end;
        ``decode_keys=True`` yields ``str`` (needs ``key_encoding``). Iterating flushes the
        buffer first; each block of 512 keys is read from one snapshot.

        Raises:
            ValueError: ``decode_keys`` without ``key_encoding``.
            TypeError: bad bound types. lmdb.Error: the store is closed (on iteration).
        """
        return StoreKeysView(self, self._scan_args(prefix, start, stop, reverse, decode_keys))

    def values(  # type: ignore[override]
        self, prefix: Any = None, *, start: Any = None, stop: Any = None, reverse: bool = False
    ) -> StoreValuesView:
        """Return a view of the values in key order; arguments as :meth:`keys`.

        Raises:
            TypeError: bad bound types. lmdb.Error: closed store. RuntimeError: undecodable value.
        """
        return StoreValuesView(self, self._scan_args(prefix, start, stop, reverse, False))

    def items(  # type: ignore[override]
        self,
        prefix: Any = None,
        *,
        start: Any = None,
        stop: Any = None,
        reverse: bool = False,
        decode_keys: bool = False,
    ) -> StoreItemsView:
        """Return a view of ``(key, value)`` pairs in key order; arguments as :meth:`keys`.

        Raises:
            ValueError: ``decode_keys`` without ``key_encoding``.
            TypeError: bad bound types. lmdb.Error: closed store. RuntimeError: undecodable value.
        """
        return StoreItemsView(self, self._scan_args(prefix, start, stop, reverse, decode_keys))

    def _scan_args(
        self, prefix: Any, start: Any, stop: Any, reverse: bool, decode_keys: bool
    ) -> _ScanArgs:
        if decode_keys and not self.key_encoding:
            raise ValueError("Decoding requested but key_encoding is not set.")
        norm = self._norm_key
        return _ScanArgs(
            None if start is None else norm(start),
            None if stop is None else norm(stop),
            None if prefix is None else norm(prefix),
            bool(reverse),
            decode_keys,
        )

    def _scan(
        self,
        start: Optional[bytes],
        stop: Optional[bytes],
        prefix: Optional[bytes],
        reverse: bool,
        keys: bool,
        values: bool,
        decode_keys: bool,
    ) -> Iterator[Any]:
        low, high = start, stop
        if prefix is not None:
            if low is None or low < prefix:
                low = prefix
            successor = prefix_successor(prefix)
            if successor is not None and (high is None or successor < high):
                high = successor
        encoding, errors = self.key_encoding, self.key_errors
        resume: Optional[bytes] = None
        while True:
            chunk, done = self._scan_chunk(low, high, prefix, reverse, resume, values)
            for key, raw in chunk:
                shown = key.decode(encoding, errors) if decode_keys else key
                if values:
                    value = self._decode(key, raw, "DB")
                    yield (shown, value) if keys else value
                else:
                    yield shown
            if done or not chunk:
                return
            resume = chunk[-1][0]

    def _scan_chunk(
        self,
        low: Optional[bytes],
        high: Optional[bytes],
        prefix: Optional[bytes],
        reverse: bool,
        resume: Optional[bytes],
        values: bool,
    ) -> Tuple[List[Tuple[bytes, Any]], bool]:
        tx = self._active_tx()
        if tx is not None:
            self._ensure_open()
            return self._collect(tx.txn, low, high, prefix, reverse, resume, values, None), True
        with self.lock:
            self._prepare_scan()
            self._enter_read_locked()
        try:
            txn = self._begin_read()
            try:
                out = self._collect(txn, low, high, prefix, reverse, resume, values, _SCAN_CHUNK)
            finally:
                txn.abort()
        finally:
            self._exit_read()
        return out, len(out) < _SCAN_CHUNK

    def _collect(
        self,
        txn: Any,
        low: Optional[bytes],
        high: Optional[bytes],
        prefix: Optional[bytes],
        reverse: bool,
        resume: Optional[bytes],
        values: bool,
        limit: Optional[int],
    ) -> List[Tuple[bytes, Any]]:
        """Read up to ``limit`` ``(key, value-bytes)`` pairs within the bounds (copied)."""
        out: List[Tuple[bytes, Any]] = []
        with txn.cursor(self._db) as cursor:
            if not reverse:
                begin = resume if resume is not None else low
                ok = cursor.set_range(begin) if begin else cursor.first()
                if ok and resume is not None and bytes(cursor.key()) == resume:
                    ok = cursor.next()
                if not ok:
                    return out
                iterator = cursor.iternext(keys=True, values=values)
            else:
                bound = resume if resume is not None else high
                if bound is None:
                    ok = cursor.last()
                else:
                    ok = cursor.prev() if cursor.set_range(bound) else cursor.last()
                if not ok:
                    return out
                iterator = cursor.iterprev(keys=True, values=values)
            for item in iterator:
                if values:
                    key, value = bytes(item[0]), bytes(item[1])
                else:
                    key, value = bytes(item), None
                if not reverse:
                    if high is not None and key >= high:
                        break
                elif low is not None and key < low:
                    break
                if prefix is not None and not key.startswith(prefix):
                    break
                out.append((key, value))
                if limit is not None and len(out) >= limit:
                    break
        return out

    # -- beyond lmdb-object-store: the rest of MutableMapping --------------------------------

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its object (``default`` if missing).

        Raises:
            KeyError: missing and no ``default``.
            lmdb.Error: closed or read-only store. TypeError: a bad key.
        """
        with self.lock:
            value = self.get(key, _MISSING)
            if value is _MISSING:
                if default is _MISSING:
                    raise self._key_not_found_error(key)
                return default
            self.delete(key)
            return value

    def popitem(self) -> Tuple[bytes, Any]:
        """Remove and return the ``(key, value)`` pair with the smallest key.

        Raises:
            KeyError: the store is empty. lmdb.Error: closed or read-only store.
        """
        with self.lock:
            self._ensure_writable()
            for key, value in self._scan(None, None, None, False, True, True, False):
                self.delete(key)
                return key, value
            raise KeyError("popitem(): store is empty")

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Return the object under ``key``; store and return ``default`` if missing.

        Raises:
            lmdb.Error: closed store, or read-only and missing. TypeError: a bad key.
        """
        with self.lock:
            value = self.get(key, _MISSING)
            if value is _MISSING:
                self.put(key, default)
                return default
            return value

    def clear(self) -> None:
        """Delete every key of this (sub-)database, buffered writes included, atomically.

        Raises:
            lmdb.Error: closed or read-only store.
        """
        tx = self._active_tx()
        if tx is not None:
            self._ensure_open()
            self._tx_write(tx, None, None)
            return
        with self.lock:
            self._ensure_open()
            self._ensure_writable()
            _wait_writers_idle(self._shared)
            self._ensure_open()
            self.write_buffer.clear()
            self._handed.clear()
            db = self._db
            self._write(lambda txn: txn.drop(db, delete=False))

    @property
    def serializer(self) -> Any:
        """The :class:`~zlmdb.store.Serializer` encoding this store's values."""
        return self._serializer


_BASE_NORM_KEY = LmdbObjectStore._norm_key
_BASE_FLUSH = LmdbObjectStore._flush
