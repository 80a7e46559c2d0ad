"""Database: one LMDB environment holding every table of an application, and its catalogue."""

from __future__ import annotations

import errno
import importlib.util
import inspect
import logging
import os
import pprint
import shutil
import struct
import sys
import tempfile
import threading
import time
import uuid
import weakref
from typing import Any, Dict, List, Optional, Type

import cbor2

from .. import lmdb
from ..lmdb._env import detect_engine
from ._log import TxaioStyleLogger
from ._pmap import PersistentMap
from ._transaction import _NEW as _TXN_NEW
from ._transaction import NO_TOPS, Transaction, TransactionStats

#: lib_version -> zlmdb.lmdb engine: LMDB 0.9 (engine 0) and LMDB 1.0 (engine 1) files
_LIB_ENGINES = {"0.9": 0, "1.0": 1}
SUPPORTED_LIB_VERSIONS = tuple(_LIB_ENGINES)
#: the format of new databases when lib_version is omitted (upstream's default)
DEFAULT_LIB_VERSION = "1.0"

#: Open databases of this process by real path (guarded by _OPEN_LOCK).
_OPEN: weakref.WeakValueDictionary[str, Database] = weakref.WeakValueDictionary()
_OPEN_LOCK = threading.Lock()
_new_object = object.__new__


def _after_fork_in_child() -> None:
    """``os.fork()``: the parent's other threads, which may have held these locks (opening
    or closing a database), do not exist in the child; give it unlocked ones."""
    global _OPEN_LOCK
    _OPEN_LOCK = threading.Lock()
    for database in list(_OPEN.values()):
        database._mutex = threading.RLock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)

_CATALOGUE_START = b"\x00\x00"
_CATALOGUE_STOP = b"\x00\x01"
_LOCK_RETRY_DELAYS = (0.0, 0.01, 0.02)
# our own messages always go to logging (a caller's `log` may be a txaio logger, whose
# methods take format keywords, not %-arguments)
_LOG = logging.getLogger("zlmdb")
# what Database.log is without a `log` argument: callers use it as upstream's txaio logger
_DEFAULT_LOG = TxaioStyleLogger(_LOG)


def _lock_byte_held_by_other(dbpath: str) -> bool:
    """True if the reader-lock byte of our PID in lock.mdb is held by another process
    (the same PID in another PID namespace)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    try:
        fd = os.open(os.path.join(dbpath, "lock.mdb"), os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, os.getpid())
    except OSError as exc:
        return exc.errno in (errno.EACCES, errno.EAGAIN)
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, os.getpid())
        return False
    finally:
        os.close(fd)


class ConfigurationElement:
    """A named, described catalogue entry (``oid``, ``name``, ``description``, ``tags``)."""

    __slots__ = ("_oid", "_name", "_description", "_tags")

    def __init__(
        self,
        oid: Optional[uuid.UUID] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[List[str]] = None,
    ) -> None:
        self._oid = oid
        self._name = name
        self._description = description
        self._tags = tags

    @property
    def oid(self) -> Optional[uuid.UUID]:
        """The UUID of the element."""
        return self._oid

    @property
    def name(self) -> Optional[str]:
        """The name of the element."""
        return self._name

    @property
    def description(self) -> Optional[str]:
        """The description of the element."""
        return self._description

    @property
    def tags(self) -> Optional[List[str]]:
        """The tags of the element."""
        return self._tags

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, self.__class__):
            return False
        return (
            other.oid == self.oid
            and other.name == self.name
            and other.description == self.description
            and set(other.tags or ()) == set(self.tags or ())
        )

    def __ne__(self, other: Any) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return pprint.pformat(self.marshal())

    def marshal(self) -> Dict[str, Any]:
        """Return the element as a dict: oid (str), name, description/tags when set."""
        value: Dict[str, Any] = {"oid": str(self._oid), "name": self._name}
        if self._description:
            value["description"] = self._description
        if self._tags:
            value["tags"] = self._tags
        return value

    @staticmethod
    def parse(value: Dict[str, Any]) -> ConfigurationElement:
        """Build an element from :meth:`marshal` output.

        Raises:
            TypeError: ``value`` is not a dict.
        """
        if not isinstance(value, dict):
            raise TypeError(f"expected a dict, not {type(value).__name__}")
        oid = value.get("oid")
        return ConfigurationElement(
            oid=uuid.UUID(oid) if oid else None,
            name=value.get("name"),
            description=value.get("description"),
            tags=value.get("tags"),
        )


class Slot(ConfigurationElement):
    """A catalogue entry: the table with UUID ``oid`` lives in slot ``slot``."""

    __slots__ = ("_slot", "_creator")

    def __init__(
        self,
        oid: Optional[uuid.UUID] = None,
        name: Optional[str] = None,
        description: Optional[str] = None,
        tags: Optional[List[str]] = None,
        slot: Optional[int] = None,
        creator: Optional[str] = None,
    ) -> None:
        ConfigurationElement.__init__(self, oid=oid, name=name, description=description, tags=tags)
        self._slot = slot
        self._creator = creator

    @property
    def creator(self) -> Optional[str]:
        """Who created the slot (``"unknown"`` for slots made by attach_table)."""
        return self._creator

    @property
    def slot(self) -> Optional[int]:
        """The slot number."""
        return self._slot

    def marshal(self) -> Dict[str, Any]:
        """Return the catalogue record (this dict, CBOR-encoded, is what is stored)."""
        value = ConfigurationElement.marshal(self)
        value["creator"] = self._creator
        value["slot"] = self._slot
        return value

    @staticmethod
    def parse(data: Dict[str, Any]) -> Slot:
        """Build a slot from a catalogue record.

        Raises:
            TypeError: ``data`` is not a dict.
        """
        base = ConfigurationElement.parse(data)
        return Slot(
            oid=base.oid,
            name=base.name,
            description=base.description,
            tags=base.tags,
            slot=data.get("slot"),
            creator=data.get("creator"),
        )


_TWISTED_INSTALLED: Optional[bool] = None  # found once per process, on first use


def _twisted_installed() -> bool:
    """True when Twisted can be imported, found without importing it (~50 ms)."""
    global _TWISTED_INSTALLED
    if "twisted" in sys.modules:
        return True
    if _TWISTED_INSTALLED is None:  # a race only computes the same answer twice
        try:
            _TWISTED_INSTALLED = importlib.util.find_spec("twisted") is not None
        except (ImportError, ValueError):
            _TWISTED_INSTALLED = False
    return _TWISTED_INSTALLED


def _table_name(klass: type) -> str:
    """The name the catalogue records for a new table slot, byte for byte upstream's.

    Upstream records ``twisted.python.reflect.qual(klass)`` (``"module.Class"``) when Twisted
    is importable -- as in every crossbar/cfxdb installation -- and ``klass.__name__``
    otherwise; so does this, without importing Twisted.
    """
    if _twisted_installed():
        return klass.__module__ + "." + klass.__name__  # twisted.python.reflect.qual
    return klass.__name__


def _read_catalogue(raw: lmdb.Transaction) -> Dict[uuid.UUID, Slot]:
    slots: Dict[uuid.UUID, Slot] = {}
    cursor = raw.cursor()
    if not cursor.set_range(_CATALOGUE_START):
        return slots
    for key, value in cursor.iternext():
        key = bytes(key)
        if key >= _CATALOGUE_STOP:
            break
        if len(key) < 4:
            continue
        slot_index = struct.unpack(">H", key[2:4])[0]
        slot = Slot.parse(cbor2.loads(bytes(value)))
        if slot.slot != slot_index or slot.oid is None:
            raise lmdb.CorruptedError(f"catalogue record of slot {slot_index} is inconsistent")
        slots[slot.oid] = slot
    return slots


class Database:
    """An LMDB environment (a directory with ``data.mdb`` and ``lock.mdb``) holding tables.

    ``dbpath=None`` uses a private temporary directory, removed on :meth:`close` (or when
    the object is collected). ``maxsize`` is the map size in bytes. With ``open_now=False``
    the environment opens on ``__enter__``. ``lib_version`` names the LMDB file format,
    ``"0.9"`` or ``"1.0"``: omitted, an existing database opens in its own format and a new
    one is created as LMDB 1.0 (as upstream zlmdb does). ``log`` is kept as ``db.log`` for
    the caller's use (zlmdb's own messages go to the ``zlmdb`` :mod:`logging` logger);
    without it, ``db.log`` is a :class:`~zlmdb.orm._log.TxaioStyleLogger` over that logger,
    which takes upstream's txaio-style calls (``db.log.info("{n} rows", n=3)``,
    ``db.log.failure()``) as well as %-style ones. A path may be open only once per process.

    Raises:
        ValueError: ``lib_version`` is not None, "0.9" or "1.0" (checked before anything is
            created), or names the other format than an existing database's.
        RuntimeError: the path is already open in this process (message contains "twice
            within same process"), or the environment stays locked after 3 attempts
            (message mentions "PID namespace" when another process with our PID holds it).
        zlmdb.lmdb.Error: LMDB cannot open the environment (e.g. missing with create=False).
    """

    # the environment's largest key (a write buffered by a transaction is checked against it)
    _max_key = 511

    def __init__(
        self,
        dbpath: Optional[str] = None,
        maxsize: int = 10485760,
        readonly: bool = False,
        lock: bool = True,
        sync: bool = True,
        create: bool = True,
        open_now: bool = True,
        writemap: bool = False,
        context: Any = None,
        log: Any = None,
        lib_version: Optional[str] = None,
    ) -> None:
        if lib_version is not None and (
            not isinstance(lib_version, str) or lib_version not in _LIB_ENGINES
        ):
            raise ValueError(
                f'invalid lib_version {lib_version!r}: must be "0.9" or "1.0" (or omitted)'
            )
        self._requested_lib_version = lib_version
        #: the ``log`` given, else a txaio-style adapter over the ``zlmdb`` logging logger
        self.log = log if log is not None else _DEFAULT_LOG
        self._context = context
        self._tempdir: Optional[tempfile.TemporaryDirectory] = None
        if dbpath:
            self._is_temp = False
            self._dbpath = os.fspath(dbpath)
        else:
            self._is_temp = True
            self._tempdir = tempfile.TemporaryDirectory(prefix="zlmdb-")
            self._dbpath = self._tempdir.name
        self._realpath: Optional[str] = None
        self._maxsize = maxsize
        self._readonly = bool(readonly)
        self._lock = lock
        self._sync = sync
        self._create = create
        self._open_now = open_now
        self._writemap = writemap
        self._lib_version = lib_version or DEFAULT_LIB_VERSION  # the file's, once open
        self._mutex = threading.RLock()
        self._slots: Optional[Dict[uuid.UUID, Slot]] = None
        self._env: Optional[lmdb.Environment] = None
        if open_now:
            self.__enter__()

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Database:
        """Open the environment if it is not open yet; return self.

        Raises:
            the errors of the constructor.
        """
        with self._mutex:
            if self._env is not None:
                return self
            if self._is_temp and self._tempdir is None:
                self._tempdir = tempfile.TemporaryDirectory(prefix="zlmdb-")
                self._dbpath = self._tempdir.name
            realpath = os.path.realpath(self._dbpath)
            with _OPEN_LOCK:
                other = _OPEN.get(realpath)
                if other is not None and other is not self:
                    raise RuntimeError(
                        f'tried to open same dbpath "{self._dbpath}" twice within same process '
                        f"(PID {os.getpid()}): already opened as {other!r}; use Database.open() "
                        "to share the instance, or close() the other one first"
                    )
                _OPEN[realpath] = self
            try:
                self._env = self._open_env()
                self._max_key = self._env.max_key_size()
                self._lib_version = "1.0" if self._env.lib_version()[0] >= 1 else "0.9"
            except BaseException:
                with _OPEN_LOCK:
                    if _OPEN.get(realpath) is self:
                        del _OPEN[realpath]
                raise
            self._realpath = realpath
            self._slots = None
        return self

    def _engine_to_open(self) -> Optional[int]:
        """The zlmdb.lmdb engine for ``lmdb.open``: the requested format's, the default
        format's for a new database, None (the file's own) for an existing one.

        Raises:
            ValueError: the requested format is not the existing database's.
        """
        existing = detect_engine(os.path.join(self._dbpath, "data.mdb"), self._dbpath)
        wanted = self._requested_lib_version
        if wanted is None:
            return None if existing is not None else _LIB_ENGINES[DEFAULT_LIB_VERSION]
        if existing is not None and existing != _LIB_ENGINES[wanted]:
            found = "1.0" if existing else "0.9"
            raise ValueError(
                f'database "{self._dbpath}" has LMDB format {found}, but lib_version="{wanted}" '
                "was requested: omit lib_version to open it in its own format, or convert the "
                "database"
            )
        return _LIB_ENGINES[wanted]

    def _open_env(self) -> lmdb.Environment:
        last: Optional[Exception] = None
        engine = self._engine_to_open()
        for delay in _LOCK_RETRY_DELAYS:
            if delay:
                time.sleep(delay)
            try:
                return lmdb.open(
                    self._dbpath,
                    map_size=self._maxsize,
                    create=self._create,
                    readonly=self._readonly,
                    sync=self._sync,
                    subdir=True,
                    lock=self._lock,
                    writemap=self._writemap,
                    lib_version=engine,
                )
            except lmdb.LockError as exc:
                last = exc
            except (lmdb.InvalidError, lmdb.VersionMismatchError) as exc:
                if self._requested_lib_version is not None or engine is None:
                    raise
                # Another process created the database in the other format since we looked:
                # open it in the format it has.
                engine = None
                last = exc
        if _lock_byte_held_by_other(self._dbpath):
            raise RuntimeError(
                f'cannot open LMDB environment "{self._dbpath}": another process with the same '
                f"PID ({os.getpid()}) has it open. Processes in different PID namespaces (e.g. "
                "containers) cannot share a database: give them a shared PID namespace"
            ) from last
        raise RuntimeError(
            f"cannot open LMDB environment (giving up after {len(_LOCK_RETRY_DELAYS)} retries): {last}"
        ) from last

    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the environment and release the path (idempotent). Transactions still open
        become unusable. A temporary database's directory is removed."""
        with self._mutex:
            env, self._env = self._env, None
            if env is not None:
                env.close()
            realpath, self._realpath = self._realpath, None
            if realpath is not None:
                with _OPEN_LOCK:
                    if _OPEN.get(realpath) is self:
                        del _OPEN[realpath]
            if self._tempdir is not None:
                self._tempdir.cleanup()
                self._tempdir = None
            self._slots = None

    def __repr__(self) -> str:
        state = "open" if self._env is not None else "closed"
        return f"<zlmdb.Database {self._dbpath!r} {state}>"

    @staticmethod
    def open(
        dbpath: Optional[str] = None,
        maxsize: int = 10485760,
        readonly: bool = False,
        lock: bool = True,
        sync: bool = True,
        create: bool = True,
        open_now: bool = True,
        writemap: bool = False,
        context: Any = None,
        log: Any = None,
        lib_version: Optional[str] = None,
    ) -> Database:
        """Return the database already open at ``dbpath`` in this process, else a new one.

        Raises:
            the errors of :class:`Database`.
        """
        if dbpath:
            with _OPEN_LOCK:
                existing = _OPEN.get(os.path.realpath(os.fspath(dbpath)))
            if existing is not None:
                return existing
        return Database(
            dbpath=dbpath,
            maxsize=maxsize,
            readonly=readonly,
            lock=lock,
            sync=sync,
            create=create,
            open_now=open_now,
            writemap=writemap,
            context=context,
            log=log,
            lib_version=lib_version,
        )

    @staticmethod
    def scratch(dbpath: str) -> None:
        """Remove the database directory (or file) at ``dbpath`` if it exists.

        Raises:
            OSError: it exists but cannot be removed.
        """
        if os.path.exists(dbpath):
            if os.path.isdir(dbpath):
                shutil.rmtree(dbpath)
            else:
                os.remove(dbpath)

    # -- properties ------------------------------------------------------------------------

    @property
    def context(self) -> Any:
        """The ``context`` given to the constructor."""
        return self._context

    @property
    def lib_version(self) -> str:
        """The LMDB file format of the database, ``"0.9"`` or ``"1.0"`` (before the database
        is opened: the requested format, or the default of new databases)."""
        return self._lib_version

    @property
    def dbpath(self) -> str:
        """The database directory."""
        return self._dbpath

    @property
    def maxsize(self) -> int:
        """The map size in bytes."""
        return self._maxsize

    @property
    def is_sync(self) -> bool:
        """Whether commits are flushed to disk."""
        return self._sync

    @property
    def is_readonly(self) -> bool:
        """Whether the database was opened read-only."""
        return self._readonly

    @property
    def is_writemap(self) -> bool:
        """Whether LMDB writes through a writable memory map."""
        return self._writemap

    @property
    def is_open(self) -> bool:
        """Whether the environment is open."""
        return self._env is not None

    def _live_env(self) -> lmdb.Environment:
        env = self._env
        if env is None:
            raise lmdb.Error(f"database {self._dbpath!r} is closed")
        return env

    # -- transactions ----------------------------------------------------------------------

    def begin(
        self, write: bool = False, buffers: bool = False, stats: Optional[TransactionStats] = None
    ) -> Transaction:
        """Return a transaction (not started: use it as ``with db.begin() as txn:``).

        ``buffers=True`` makes reads return buffers into the map (zero-copy for FlatBuffers
        and NumPy values), valid while the transaction is open. ``stats`` counts the writes.

        Raises:
            zlmdb.lmdb.Error: the database is closed.
            zlmdb.lmdb.ReadonlyError: ``write=True`` on a read-only database.
        """
        if self._env is None:
            self._live_env()  # raises zlmdb.lmdb.Error
        if write and self._readonly:
            raise lmdb.ReadonlyError("database is read-only")
        # Transaction(self, write, buffers, stats) without the call of __init__ (a type call
        # and a frame, as much as the rest of a small transaction's Python): the same fields
        txn = _new_object(Transaction)
        txn._db = self
        txn._write = True if write else False
        txn._buffers = True if buffers else False
        txn._stats = stats
        txn._raw = None
        txn._state = _TXN_NEW
        txn._pending = None
        txn._fast = None
        txn._cursor = None
        txn._tops = NO_TOPS
        txn._max_key = self._max_key
        return txn

    def sync(self, force: bool = False) -> None:
        """Flush the data buffers to disk.

        Raises:
            zlmdb.lmdb.Error: the database is closed.
        """
        self._live_env().sync(force)

    def config(self) -> Dict[str, Any]:
        """Return the configuration as a dict."""
        return {
            "is_temp": self._is_temp,
            "dbpath": self._dbpath,
            "maxsize": self._maxsize,
            "readonly": self._readonly,
            "lock": self._lock,
            "sync": self._sync,
            "create": self._create,
            "open_now": self._open_now,
            "writemap": self._writemap,
            "context": str(self._context) if self._context else None,
        }

    def stats(self, include_slots: bool = False) -> Dict[str, Any]:
        """Return size and usage statistics (plus LMDB's ``stat()`` and ``info()`` keys);
        ``include_slots=True`` adds ``"slots"``: one dict per catalogued table with its
        record count.

        Raises:
            zlmdb.lmdb.Error: the database is closed.
        """
        env = self._live_env()
        stat = env.stat()
        pages = stat["leaf_pages"] + stat["overflow_pages"] + stat["branch_pages"]
        used = stat["psize"] * pages
        slots = self._get_slots(cached=False)
        result: Dict[str, Any] = {
            "num_slots": len(slots),
            "current_size": os.path.getsize(os.path.join(self._dbpath, "data.mdb")),
            "max_size": self._maxsize,
            "page_size": stat["psize"],
            "pages": pages,
            "used": used,
            "free": 1.0 - float(used) / float(self._maxsize),
            "read_only": self._readonly,
            "sync_enabled": self._sync,
            "lib_version": self._lib_version,
            "lmdb_version": "{}.{}.{}".format(*env.lib_version()),
        }
        result.update(stat)
        result.update(env.info())
        if include_slots:
            result["slots"] = []
            with self.begin() as txn:
                for oid, slot in slots.items():
                    result["slots"].append(
                        {
                            "oid": str(oid),
                            "slot": slot.slot,
                            "name": slot.name,
                            "description": slot.description,
                            "records": PersistentMap(slot.slot).count(txn),
                        }
                    )
        return result

    # -- catalogue -------------------------------------------------------------------------

    def _cache_slots(self) -> None:
        with self.begin() as txn:
            self._slots = _read_catalogue(txn._txn)

    def _get_slots(self, cached: bool = True) -> Dict[uuid.UUID, Slot]:
        """Return the catalogue ``{table UUID: Slot}``.

        Raises:
            zlmdb.lmdb.Error: the database is closed.
        """
        with self._mutex:
            if self._slots is None or not cached:
                self._cache_slots()
            return dict(self._slots or {})

    def _get_free_slot(self) -> int:
        """Return the next slot number a new table would get (highest used + 1, or 1)."""
        slots = self._get_slots()
        return max((s.slot for s in slots.values()), default=0) + 1

    def _set_slot(self, slot_index: int, slot: Optional[Slot]) -> None:
        """Write (``slot``) or delete (None) the catalogue record of ``slot_index``.

        Raises:
            ValueError: ``slot_index`` out of range or not ``slot.slot``.
        """
        if not 0 < slot_index < 65536:
            raise ValueError(f"slot index must be in [1, 65535], got {slot_index}")
        if slot is not None and slot.slot != slot_index:
            raise ValueError("slot.slot differs from slot_index")
        key = _CATALOGUE_START + struct.pack(">H", slot_index)
        with self._mutex:
            with self.begin(write=True) as txn:
                if slot is not None:
                    txn._txn.put(key, cbor2.dumps(slot.marshal()))
                else:
                    txn._txn.delete(key)
            self._slots = None

    def attach_table(self, klass: Type[PersistentMap]) -> PersistentMap:
        """Return an instance of the ``@table``-decorated map class ``klass`` bound to its
        slot, allocating the slot (highest catalogued + 1) and writing its catalogue record
        on first use. The slot is looked up and allocated inside one write transaction, so
        concurrent processes agree on it.

        Raises:
            TypeError: ``klass`` is not a class, not a PersistentMap subclass, or not
                decorated with ``@table``.
            RuntimeError: all 65535 slots are used.
            zlmdb.lmdb.ReadonlyError: a new table on a read-only database.
        """
        if not inspect.isclass(klass):
            raise TypeError(
                f"cannot attach object {klass!r} as database table: a subclass of zlmdb.PersistentMap is required"
            )
        name = _table_name(klass)
        if not issubclass(klass, PersistentMap):
            raise TypeError(
                f"cannot attach object of class {name} as a database table: a subclass of zlmdb.PersistentMap is required"
            )
        oid = getattr(klass, "_zlmdb_oid", None)
        if not oid:
            raise TypeError(f"{name} is not decorated as table slot (use @zlmdb.table)")
        with self._mutex:
            slots = self._get_slots()
            if oid in slots:
                slot_index = int(slots[oid].slot or 0)  # _read_catalogue checked it
            else:
                slot_index = self._allocate_slot(oid, name, klass)
        compress = klass._zlmdb_compress
        if klass._zlmdb_marshal is not None:
            return klass(
                slot_index,
                marshal=klass._zlmdb_marshal,
                unmarshal=klass._zlmdb_parse,
                compress=compress,
            )
        if klass._zlmdb_build is not None:
            return klass(
                slot_index, build=klass._zlmdb_build, cast=klass._zlmdb_cast, compress=compress
            )
        return klass(slot_index, compress=compress)

    def _allocate_slot(self, oid: uuid.UUID, name: str, klass: type) -> int:
        description = klass.__doc__.strip() if klass.__doc__ else None
        with self.begin(write=True) as txn:
            catalogue = _read_catalogue(txn._txn)
            if oid in catalogue:
                slot_index = int(catalogue[oid].slot or 0)
            else:
                slot_index = max((s.slot for s in catalogue.values()), default=0) + 1
                if slot_index > 65535:
                    raise RuntimeError("no free slot: the catalogue already uses slot 65535")
                slot = Slot(
                    oid=oid, creator="unknown", slot=slot_index, name=name, description=description
                )
                txn._txn.put(
                    _CATALOGUE_START + struct.pack(">H", slot_index), cbor2.dumps(slot.marshal())
                )
                catalogue[oid] = slot
                _LOG.info("allocated slot %d for table %s <%s>", slot_index, name, oid)
        self._slots = catalogue
        return slot_index
