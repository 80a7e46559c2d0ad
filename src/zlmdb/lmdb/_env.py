"""Environment and _Database: an open LMDB environment and its database handles."""

from __future__ import annotations

import errno
import os
import sys
import threading
import warnings
import weakref
from typing import Any, Dict, List, Optional, Tuple

from . import _errors
from ._errors import Error, closed_error, error_for, foreign_db_error, sentence_error
from ._ffi import GC_OWNS, ffi, lib
from ._util import as_buffer, as_int, as_path, refuse_pickle

MAIN_DBI = 1
# The GIL-keeping forms (see _helpers.c); they answer ZL_WOULD_WAIT during a resize, and
# the call is then repeated with the forms that wait with the GIL released.
_env_get = lib.zl_env_get_try
_env_get_result = lib.zl_env_get_result
_env_has = lib.zl_env_has_try
_WOULD_WAIT = lib.ZL_WOULD_WAIT
_WAITING = {_env_get: lib.zl_env_get, _env_has: lib.zl_env_has}
_unpack = ffi.unpack
INVALID_DBI = 0xFFFFFFFF

# Identity ((st_dev, st_ino), or the resolved path where there is no inode) of every data
# and lock file an open Environment of this process uses -> that Environment.
_open_files: Dict[Any, weakref.ref[Environment]] = {}
_open_files_lock = threading.RLock()  # re-entrant: __del__ may run inside a locked section


def _after_fork_in_child() -> None:
    """``os.fork()``: a parent thread that was opening or closing an environment (or a
    database handle) when the process forked does not exist in the child, so the locks it
    may have held are replaced there (the C layer does the same for its own state)."""
    global _open_files_lock
    _open_files_lock = threading.RLock()
    for ref in list(_open_files.values()):
        env = ref()
        if env is not None:
            env._dbs_lock = threading.RLock()
            env._dbi_lock = threading.RLock()
    from . import _cursor

    _cursor._PENDING_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _engine_versions() -> Dict[int, Tuple[int, int, int]]:
    found = {}
    out = ffi.new("int[3]")
    for engine in (0, 1):  # the C side leaves out an engine whose structs do not match
        if lib.zl_engine_version(engine, out, out + 1, out + 2) == 0:
            found[engine] = (out[0], out[1], out[2])
    return found


#: lib_version number -> (major, minor, patch) of every LMDB engine this build has.
ENGINE_VERSIONS: Dict[int, Tuple[int, int, int]] = _engine_versions()


def check_lib_version(lib_version: Optional[int]) -> Optional[int]:
    """Validate a ``lib_version=`` argument and return the engine it names.

    ``None`` means "the default": it is returned as is. ``0`` is LMDB 0.9, ``1`` LMDB 1.0.

    Raises:
        TypeError: not an int.
        OverflowError: a negative value (as py-lmdb, which parses it as unsigned).
        Error: an engine this build does not have.
    """
    if lib_version is None:
        return None
    lib_version = as_int(lib_version, "lib_version")
    if lib_version < 0:
        raise OverflowError("Integer argument must be >= 0")
    if lib_version not in ENGINE_VERSIONS:
        raise Error(f"lib_version={lib_version}: this build has no LMDB {lib_version}.x engine.")
    return int(lib_version)


def default_engine() -> int:
    """Return the engine of new environments: ``$LMDB_DEFAULT_LIB_VERSION`` or 0 (LMDB 0.9).

    A value that names no engine of this build is ignored with a :class:`RuntimeWarning`
    (py-lmdb prints the same notice).
    """
    value = os.environ.get("LMDB_DEFAULT_LIB_VERSION", "")
    if value == "":
        return 0
    if value.isdigit() and int(value) in ENGINE_VERSIONS:
        return int(value)
    warnings.warn(
        f"ignoring LMDB_DEFAULT_LIB_VERSION={value}: no such engine in this build",
        RuntimeWarning,
        stacklevel=3,
    )
    return 0


# Where the meta page's magic number sits: after the page header of LMDB 0.9 (pgno, 8 bytes
# of pad/flags/bounds), after the longer one of LMDB 1.0 (which adds mp_txnid). The data
# format version follows it.
_MAGIC = 0xBEEFC0DE
_MAGIC_AT = (ffi.sizeof("size_t") + 8, 2 * ffi.sizeof("size_t") + 8)  # 16, 24 on 64-bit
#: data format version -> the engine that reads it (0.9 writes 1, 1.0 writes 3)
_FORMAT_ENGINE = {1: 0, 3: 1}


def detect_engine(data_path: str, name: Optional[str] = None) -> Optional[int]:
    """Return the engine (0 or 1) whose format the data file at ``data_path`` is in.

    ``name`` (default ``data_path``) is the environment's path for error messages.

    ``None`` when the file does not exist, is too short, or is not an LMDB file (LMDB itself
    then reports the problem when it opens it).

    Raises:
        Error: an LMDB file in a data format no bundled engine reads (``v2`` is a pre-1.0
            development format, written by lmdb-js for one).
    """
    try:
        with open(data_path, "rb") as fp:
            head = fp.read(32)
    except OSError:
        return None
    for offset in _MAGIC_AT:
        if len(head) < offset + 8:
            break
        if int.from_bytes(head[offset : offset + 4], sys.byteorder) != _MAGIC:
            continue
        version = int.from_bytes(head[offset + 4 : offset + 8], sys.byteorder)
        if version in _FORMAT_ENGINE:
            return _FORMAT_ENGINE[version]
        where = data_path if name is None else name
        if version == 2:
            raise Error(
                f"{where}: written with LMDB data format v2 (a pre-1.0 development version, "
                "e.g. lmdb-js); no released LMDB reads this format."
            )
        raise Error(f"{where}: LMDB data format v{version} is not supported by this build.")
    return None


def _file_id(path: str) -> Any:
    """Return the identity of an existing file, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if st.st_ino else os.path.realpath(path)


def _file_ids(data_path: str, lock_path: str, lock: bool) -> List[Any]:
    paths = (data_path, lock_path) if lock else (data_path,)
    return [i for i in map(_file_id, paths) if i is not None]


def checked_db(db: Any, env_ref: Any) -> _Database:
    """``db`` if it is a database handle of the environment whose weakref is ``env_ref``
    (``Environment._ref``).

    Raises:
        TypeError: ``db`` is not a _Database.
        Error: ``db`` belongs to another environment.
    """
    if not isinstance(db, _Database):
        raise TypeError(f"db must be a _Database, not {type(db).__name__}")
    if db._env_ref is not env_ref:
        raise foreign_db_error()
    return db


class _Database:
    """A handle of one database (the main one or a named one) inside an Environment.

    Obtained from :meth:`Environment.open_db`; pass it as ``db=`` to transactions and cursors.
    """

    __slots__ = ("_env_ref", "_dbi", "_name", "_flags", "_dupsort", "__weakref__")

    #: Not picklable or copyable (raises TypeError): the object owns LMDB state.
    __reduce_ex__ = __reduce__ = refuse_pickle

    def __init__(self, env: Environment, name: Optional[bytes], dbi: int, flags: int) -> None:
        # Weak: the environment holds its handles (main db, open_db cache), and a strong
        # reference back would make a cycle that keeps a dropped, unclosed environment (its
        # map, lock file and "already open" registration) alive until a cyclic collection.
        # One weakref object per environment (Environment._ref): identity tells the owner.
        self._env_ref = env._ref
        self._name = name
        self._dbi = dbi
        self._flags = flags
        self._dupsort = bool(flags & lib.MDB_DUPSORT)

    def flags(self, *args: Any) -> Dict[str, bool]:
        """Return the stored flags of this database as a dict of bools.

        One optional positional argument (a transaction, ignored) is accepted for py-lmdb
        compatibility.

        Raises:
            TypeError: more than one argument.
            Error: the environment is closed or the database was dropped.
        """
        if len(args) > 1:
            raise TypeError("too many positional arguments.")
        env = self._env_ref()
        if env is None or env._e is None or self._dbi == INVALID_DBI:
            raise closed_error()
        f = self._flags
        return {
            "reverse_key": bool(f & lib.MDB_REVERSEKEY),
            "dupsort": bool(f & lib.MDB_DUPSORT),
            "integerkey": bool(f & lib.MDB_INTEGERKEY),
            "integerdup": bool(f & lib.MDB_INTEGERDUP),
            "dupfixed": bool(f & lib.MDB_DUPFIXED),
        }

    def _invalidate(self) -> None:
        self._dbi = INVALID_DBI

    def __repr__(self) -> str:
        return f"<zlmdb.lmdb._Database {self._name!r} dbi={self._dbi}>"


class Environment:
    """An LMDB environment: one memory-mapped database file and its lock file.

    ``Environment(path, map_size=10485760, subdir=True, readonly=False, metasync=True,
    sync=True, map_async=False, mode=0o755, create=True, readahead=True, writemap=False,
    meminit=True, max_readers=126, max_dbs=0, max_spare_txns=0, lock=True, lib_version=-1)``
    behaves like py-lmdb 3.0's ``lmdb.open``. It is always opened with ``MDB_NOTLS``, so
    read transactions may move between threads.

    Raises:
        TypeError: unknown keyword or wrong argument type.
        OverflowError: negative sizes or ``lib_version``.
        Error: the path cannot be opened (``what`` is the path, ``code`` the errno), the
            environment is already open in this process, or ``lib_version`` names an engine
            this build lacks; subclasses of :class:`Error` for LMDB failures.
        OSError: ``subdir=True`` and the directory cannot be created (as py-lmdb:
            ``FileNotFoundError`` for a missing parent, ``NotADirectoryError``, ...).
    """

    #: Not picklable or copyable (raises TypeError): the object owns LMDB state.
    __reduce_ex__ = __reduce__ = refuse_pickle

    def __init__(
        self,
        path: Any,
        map_size: int = 10485760,
        subdir: bool = True,
        readonly: bool = False,
        metasync: bool = True,
        sync: bool = True,
        map_async: bool = False,
        mode: int = 0o755,
        create: bool = True,
        readahead: bool = True,
        writemap: bool = False,
        meminit: bool = True,
        max_readers: int = 126,
        max_dbs: int = 0,
        max_spare_txns: int = 0,
        lock: bool = True,
        lib_version: Optional[int] = None,
    ) -> None:
        self._e = None
        self._file_keys: List[Any] = []
        engine = check_lib_version(lib_version)
        map_size = as_int(map_size, "map_size")
        max_readers = as_int(max_readers, "max_readers")
        max_dbs = as_int(max_dbs, "max_dbs")
        max_spare_txns = as_int(max_spare_txns, "max_spare_txns")
        mode = as_int(mode, "mode")
        for name, value in (
            ("map_size", map_size),
            ("max_readers", max_readers),
            ("max_dbs", max_dbs),
            ("max_spare_txns", max_spare_txns),
            ("mode", mode),
        ):
            if value < 0:
                raise OverflowError(f"{name} must not be negative")
        self._path = as_path(path)
        self._readonly = bool(readonly)
        self._flag_dict = {
            "subdir": bool(subdir),
            "readonly": bool(readonly),
            "metasync": bool(metasync),
            "sync": bool(sync),
            "map_async": bool(map_async),
            "readahead": bool(readahead),
            "writemap": bool(writemap),
            "meminit": bool(meminit),
            "lock": bool(lock),
        }
        flags = 0
        if not subdir:
            flags |= lib.MDB_NOSUBDIR
        if readonly:
            flags |= lib.MDB_RDONLY
        if not metasync:
            flags |= lib.MDB_NOMETASYNC
        if not sync:
            flags |= lib.MDB_NOSYNC
        if map_async:
            flags |= lib.MDB_MAPASYNC
        if not readahead:
            flags |= lib.MDB_NORDAHEAD
        if writemap:
            flags |= lib.MDB_WRITEMAP
        if not meminit:
            flags |= lib.MDB_NOMEMINIT
        if not lock:
            flags |= lib.MDB_NOLOCK

        path_str = self._path
        if subdir:
            if not os.path.exists(path_str):
                if not create or readonly:
                    raise Error(path_str, errno.ENOENT)
                try:
                    os.mkdir(path_str, mode)
                except FileExistsError:
                    pass
                # Any other OSError propagates as it is (FileNotFoundError for a missing
                # parent, NotADirectoryError, PermissionError), as py-lmdb's open raises it.
            data_path = os.path.join(path_str, "data.mdb")
            lock_path = os.path.join(path_str, "lock.mdb")
        else:
            data_path = path_str
            lock_path = path_str + "-lock"
            if not create and not os.path.exists(path_str):
                raise Error(path_str, errno.ENOENT)

        self._ref = weakref.ref(self)  # shared by this environment's _Database handles
        # Placeholder handle for the main db until its stored flags are read below.
        self._main_db = _Database(self, None, MAIN_DBI, 0)
        self._dbs: Dict[bytes, _Database] = {}
        self._dbs_lock = threading.RLock()  # __del__ of a txn may re-enter
        # open_db()/dbs() without txn=: their own transactions register names one at a time
        # (see _open_own). Re-entrant for the same reason as _dbs_lock.
        self._dbi_lock = threading.RLock()
        with _open_files_lock:
            for key in _file_ids(data_path, lock_path, True):
                ref = _open_files.get(key)
                other = ref() if ref is not None else None
                if other is not None and other._e is not None:
                    raise Error(f"The environment '{path_str}' is already open in this process.")
            found = detect_engine(data_path, path_str)
            if engine is None:  # an existing file's format wins over the default
                engine = default_engine() if found is None else found
            elif found is not None and found != engine:
                raise sentence_error(  # InvalidError, as py-lmdb, but saying why
                    _errors.InvalidError,
                    f"{path_str}: an LMDB {ENGINE_VERSIONS[found][0]}."
                    f"{ENGINE_VERSIONS[found][1]} file opened with lib_version={engine} (omit "
                    "lib_version to open either format)",
                    lib.MDB_INVALID,
                )
            out = ffi.new("zl_env **")
            # Data and lock files never need execute bits (py-lmdb strips them too).
            rc = lib.zl_env_open(
                engine,
                os.fsencode(path_str),
                flags,
                mode & ~0o111,
                map_size,
                max_readers,
                max_dbs,
                max_spare_txns,
                out,
            )
            if rc:
                raise error_for(path_str, rc)
            self._e = out[0]
            self._engine = engine
            self._file_keys = _file_ids(data_path, lock_path, lock)
            me = weakref.ref(self)
            for key in self._file_keys:
                _open_files[key] = me
        try:
            txn = self.begin(write=False)
            try:
                self._main_db = self._open_dbi(txn, None, 0)
            finally:
                txn.commit()
        except BaseException:
            self.close()
            raise

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the environment; idempotent.

        Every live transaction and cursor of this environment is aborted/closed first (they
        raise the closed :class:`Error` afterwards); a call running on another thread is
        waited for.

        Raises:
            Never raises; a second call does nothing.
        """
        e = self._e
        if e is None:
            return
        lib.zl_env_close(e)
        drop_closed_blocks()
        self._forget_files()
        with self._dbs_lock:
            for db in list(self._dbs.values()):
                db._invalidate()
            self._dbs.clear()

    def _forget_files(self) -> None:
        with _open_files_lock:
            for key in getattr(self, "_file_keys", ()):
                ref = _open_files.get(key)
                if ref is not None and ref() in (self, None):
                    del _open_files[key]

    def __del__(self, _release: Any = lib.zl_env_release) -> None:  # see Transaction
        e = getattr(self, "_e", None)
        if e is not None:
            self._e = None
            _release(e)
            try:
                self._forget_files()
            except (AttributeError, TypeError):  # interpreter exit: the registry is gone
                pass

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _live(self):
        e = self._e
        if e is None or lib.zl_env_is_closed(e):
            raise closed_error()
        return e

    # -- information -----------------------------------------------------------------------

    def path(self) -> str:
        """Return the path given to the constructor. Raises :class:`Error` when closed."""
        self._live()
        return self._path

    def lib_version(self) -> Tuple[int, int, int]:
        """Return the LMDB version of this environment's engine: ``(0, 9, 36)`` or ``(1, 0, 2)``.

        Raises:
            Error: the environment is closed.
        """
        self._live()
        return ENGINE_VERSIONS[self._engine]

    def stat(self) -> Dict[str, int]:
        """Return the main database's statistics (psize, depth, pages, entries).

        Raises:
            Error: the environment is closed.
        """
        st = ffi.new("MDB_stat *")
        rc = lib.zl_env_stat(self._live(), st)
        if rc:
            raise error_for("mdb_env_stat", rc)
        return stat_dict(st)

    def info(self) -> Dict[str, int]:
        """Return map address and size, last page and txn id, reader counts.

        Raises:
            Error: the environment is closed.
        """
        info = ffi.new("MDB_envinfo *")
        rc = lib.zl_env_info(self._live(), info)
        if rc:
            raise error_for("mdb_env_info", rc)
        return {
            "map_addr": int(ffi.cast("uintptr_t", info.me_mapaddr)),
            "map_size": info.me_mapsize,
            "last_pgno": info.me_last_pgno,
            "last_txnid": info.me_last_txnid,
            "max_readers": info.me_maxreaders,
            "num_readers": info.me_numreaders,
        }

    def flags(self) -> Dict[str, bool]:
        """Return the open flags (subdir, readonly, metasync, sync, map_async, readahead,
        writemap, meminit, lock). Raises :class:`Error` when closed."""
        self._live()
        return dict(self._flag_dict)

    def _writing_here(self) -> bool:
        """True when the calling thread has this environment's write transaction open (a
        wait for another thread's write would then never end); False when closed."""
        e = self._e
        return e is not None and bool(lib.zl_env_writing_here(e))

    def max_key_size(self) -> int:
        """Return the largest key size LMDB accepts: 511 (LMDB 0.9), 1978 (LMDB 1.0, 4 KiB pages).

        Raises:
            Error: the environment is closed.
        """
        out = ffi.new("int *")
        rc = lib.zl_env_get_maxkeysize(self._live(), out)
        if rc:
            raise error_for("mdb_env_get_maxkeysize", rc)
        return out[0]

    def max_readers(self) -> int:
        """Return the configured maximum of reader slots. Raises :class:`Error` when closed."""
        out = ffi.new("unsigned int *")
        rc = lib.zl_env_get_maxreaders(self._live(), out)
        if rc:
            raise error_for("mdb_env_get_maxreaders", rc)
        return out[0]

    def readers(self) -> str:
        """Return LMDB's reader table listing (``'(no active readers)\\n'`` when empty).

        Raises:
            Error: the environment is closed.
        """
        out = ffi.new("char **")
        rc = lib.zl_env_readers(self._live(), out)
        if rc:
            raise error_for("mdb_reader_list", rc)
        try:
            return ffi.string(out[0]).decode("utf-8", "replace")
        finally:
            lib.zl_free(out[0])

    def reader_check(self) -> int:
        """Clear reader slots of dead processes; return how many were cleared.

        Raises:
            Error: the environment is closed.
        """
        out = ffi.new("int *")
        rc = lib.zl_env_reader_check(self._live(), out)
        if rc:
            raise error_for("mdb_reader_check", rc)
        return out[0]

    # -- maintenance -----------------------------------------------------------------------

    def sync(self, force: bool = False) -> None:
        """Flush buffers to disk (``force=True`` also when the env was opened with sync off).

        Raises:
            Error: the environment is closed, or the flush failed.
        """
        rc = lib.zl_env_sync(self._live(), 1 if force else 0)
        if rc:
            raise error_for("mdb_env_sync", rc)

    def set_mapsize(self, map_size: int) -> None:
        """Change the map size (0 adopts the size another process set).

        Must not be called while this process has a write transaction on the environment.

        Raises:
            OverflowError: negative size.
            InvalidParameterError: a write transaction is active.
            Error: the environment is closed.
        """
        map_size = as_int(map_size, "map_size")
        if map_size < 0:
            raise OverflowError("map_size must not be negative")
        rc = lib.zl_env_set_mapsize(self._live(), map_size)
        drop_closed_blocks()  # the remap aborted every read transaction
        if rc:
            raise error_for("mdb_env_set_mapsize", rc)

    def copy(self, path: Any, compact: bool = False, txn: Any = None) -> None:
        """Copy the environment to the existing directory ``path`` (a consistent snapshot).

        ``compact=True`` omits free pages and renumbers; ``txn`` (a read transaction) copies
        that snapshot and is only allowed with ``compact=True``.

        Raises:
            TypeError: ``txn`` without ``compact=True``, or not a :class:`Transaction`.
            Error: the target cannot be written (``what='mdb_env_copy3'``), or closed env.
        """
        e = self._live()
        t = self._copy_txn(compact, txn)
        rc = lib.zl_env_copy(e, os.fsencode(as_path(path)), lib.MDB_CP_COMPACT if compact else 0, t)
        if rc:
            raise error_for("mdb_env_copy3", rc)

    def copyfd(self, fd: int, compact: bool = False, txn: Any = None) -> None:
        """Copy the environment to an open file descriptor; arguments as :meth:`copy`.

        Raises:
            TypeError: ``txn`` without ``compact=True``, or ``fd`` not an int.
            OverflowError: negative ``fd``, or one beyond a C int.
            Error: writing failed (``what='mdb_env_copyfd3'``), or closed env.
        """
        e = self._live()
        fd = as_int(fd, "fd")
        if fd < 0 or fd > 0x7FFFFFFF:
            raise OverflowError("fd must be a non-negative C int")
        t = self._copy_txn(compact, txn)
        rc = lib.zl_env_copyfd(e, fd, lib.MDB_CP_COMPACT if compact else 0, t)
        if rc:
            raise error_for("mdb_env_copyfd3", rc)

    @staticmethod
    def _copy_txn(compact: bool, txn: Any):
        if txn is None:
            return ffi.NULL
        if not compact:
            raise TypeError("txn argument only compatible with compact=True")
        if not isinstance(txn, Transaction):
            raise TypeError(f"txn must be a Transaction, not {type(txn).__name__}")
        return txn._t

    # -- databases and transactions --------------------------------------------------------

    def get(self, key: Any, default: Any = None, db: Optional[_Database] = None) -> Any:
        """Read one key in a read transaction of its own, in one call into C (a zlmdb
        extension): the latest committed value of ``key``, or ``default``.

        The same as ``with env.begin(db=db) as txn: return txn.get(key, default)``, several
        times faster: the C helper renews a reset read transaction, copies the value and
        resets the transaction again. Safe from any thread.

        Raises:
            BadValsizeError: empty key.
            TypeError: ``key`` is ``None``, ``str`` or not bytes-like; ``db`` is not a
                :class:`_Database`.
            Error: the environment is closed, or ``db`` belongs to another environment.
        """
        # Inlined (not _one_shot): this is the hot path of zlmdb.store reads.
        if db is None:
            dbi = MAIN_DBI
        elif type(db) is _Database and db._env_ref is self._ref:
            dbi = db._dbi
        else:
            dbi = checked_db(db, self._ref)._dbi
        try:
            n = _env_get(self._e, dbi, key, len(key))
        except TypeError:
            n = self._one_shot(_env_get, key, db)
        if n >= 0:
            return _unpack(_env_get_result(), n)
        if n == lib.MDB_NOTFOUND:
            return default
        if n == _WOULD_WAIT:
            n = self._one_shot(lib.zl_env_get, key, db)
            if n >= 0:
                return _unpack(_env_get_result(), n)
            if n == lib.MDB_NOTFOUND:
                return default
        raise error_for("mdb_get", n if n <= -30000 else -n)

    def exists(self, key: Any, db: Optional[_Database] = None) -> bool:
        """Tell whether ``key`` is in the latest committed state, in one call into C and
        without copying the value (a zlmdb extension; see :meth:`get`).

        Raises:
            BadValsizeError: empty key.
            TypeError: ``key`` is ``None``, ``str`` or not bytes-like; ``db`` is not a
                :class:`_Database`.
            Error: the environment is closed, or ``db`` belongs to another environment.
        """
        n = self._one_shot(_env_has, key, db)
        if n >= 0:
            return True
        if n == lib.MDB_NOTFOUND:
            return False
        raise error_for("mdb_get", n if n <= -30000 else -n)

    def _one_shot(self, fn: Any, key: Any, db: Optional[_Database]) -> int:
        if db is None:
            dbi = MAIN_DBI
        elif type(db) is _Database and db._env_ref is self._ref:
            dbi = db._dbi
        else:
            dbi = checked_db(db, self._ref)._dbi
        try:
            kn = len(key)
            n = fn(self._e, dbi, key, kn)
        except TypeError:
            if self._e is None:
                raise closed_error() from None
            if key is None:
                raise TypeError("key must be given.") from None
            key, kn = as_buffer(key)
            n = fn(self._e, dbi, key, kn)
        if n == _WOULD_WAIT:  # a resize is in progress: wait for it with the GIL released
            n = _WAITING.get(fn, fn)(self._e, dbi, key, kn)
        return n

    def begin(
        self,
        db: Optional[_Database] = None,
        parent: Any = None,
        write: bool = False,
        buffers: bool = False,
    ) -> Transaction:
        """Start a transaction; same as ``Transaction(self, db, parent, write, buffers)``.

        Raises:
            The errors of :class:`Transaction`.
        """
        e = self._e
        if db is None and parent is None and e is not None:
            # The common cases, built here without Transaction.__init__'s frame and checks:
            # one C call (every error path goes through __init__ or _begin_failed).
            if not write and not buffers:
                t = _begin_read(e)  # one argument, GIL kept; never waits (fails in a resize)
                if not t:
                    t = self._begin_failed(e, 0)
            elif not write:
                t = _txn_new_read(e, _TXN_NOCOPY)
                if not t:
                    t = self._begin_failed(e, _TXN_NOCOPY)
            elif not self._readonly:
                t = _txn_new(e, _NULL, _TXN_WRITE | (_TXN_NOCOPY if buffers else 0))
                if not t:
                    t = self._begin_failed(e, _TXN_WRITE | (_TXN_NOCOPY if buffers else 0))
            else:
                return Transaction(self, db, parent, write, buffers)  # raises ReadonlyError
            txn = _new_object(Transaction)
            txn._t = _gc(t, _txn_drop) if GC_OWNS else t
            txn.env = self
            main = self._main_db
            txn._db = main
            txn._dbi = main._dbi
            txn._dupsort = main._dupsort
            txn._write = True if write else False
            txn._buffers = True if buffers else False
            txn._parent = None
            txn._opened = None
            txn._mv = None
            return txn
        return Transaction(self, db, parent, write, buffers)

    def _begin_failed(self, e: Any, flags: int) -> Any:
        """A begin failed: wait out a resize in the waiting form (GIL-keeping read begins),
        reclaim what dropped transactions hold (reader slots, this thread's write lock) when
        that is the reason, or raise."""
        err = lib.zl_last_error()
        if err == _WOULD_WAIT:
            t = _txn_new(e, _NULL, flags)
            if t:
                return t
            err = lib.zl_last_error()
        if err == (lib.ZL_BUSY_SAME_THREAD if flags & _TXN_WRITE else lib.MDB_READERS_FULL):
            t = txn_after_collect(e, flags)
            if t:
                return t
            err = lib.zl_last_error()
        raise error_for("mdb_txn_begin", err)

    def open_db(
        self,
        key: Any = None,
        txn: Any = None,
        reverse_key: bool = False,
        dupsort: bool = False,
        create: bool = True,
        integerkey: bool = False,
        integerdup: bool = False,
        dupfixed: bool = False,
    ) -> _Database:
        """Open (or create) a database and return its handle.

        ``key=None`` is the main database; otherwise the name of a named database (needs
        ``max_dbs >= 1``). Stored flags of an existing database win over the arguments.
        Without ``txn`` a transaction of its own is used and committed; with ``txn`` the
        handle becomes permanent when that transaction commits.

        Raises:
            TypeError: ``key`` is ``str`` or not bytes-like.
            BadValsizeError: empty name or longer than :meth:`max_key_size`.
            DbsFullError: ``max_dbs`` is exhausted.
            NotFoundError: missing and ``create=False``.
            ReadonlyError: creating it in a read-only environment or transaction.
            IncompatibleError: the name is an ordinary key of the main database.
            Error: the environment is closed.
        """
        self._live()
        if key is None:
            if reverse_key or dupsort or integerkey or integerdup or dupfixed:
                raise ValueError("May not set flags on the main database")
            return self._main_db
        flags = 0
        if reverse_key:
            flags |= lib.MDB_REVERSEKEY
        if dupsort:
            flags |= lib.MDB_DUPSORT
        if integerkey:
            flags |= lib.MDB_INTEGERKEY
        if integerdup:  # as py-lmdb: integerdup implies dupfixed, both imply dupsort
            flags |= lib.MDB_INTEGERDUP | lib.MDB_DUPFIXED | lib.MDB_DUPSORT
        if dupfixed:
            flags |= lib.MDB_DUPFIXED | lib.MDB_DUPSORT
        if create:
            flags |= lib.MDB_CREATE
        name = None
        if key is not None:
            if isinstance(key, str):
                raise TypeError(_errors_unicode())
            buf, n = as_buffer(key)
            name = bytes(ffi.buffer(buf, n)) if not isinstance(buf, bytes) else buf
            # LMDB takes the name as a C string: like py-lmdb, it ends at the first NUL.
            name = name.split(b"\0", 1)[0]
            # 1.0 stores a name with its terminating NUL, so names are one byte shorter there.
            if not name or len(name) > self.max_key_size() - self._engine:
                raise error_for("mdb_dbi_open", lib.MDB_BAD_VALSIZE)
        if txn is None:
            return self._open_own(name, flags)
        return self._open_dbi(txn, name, flags)

    def _open_own(self, name: Optional[bytes], flags: int) -> _Database:
        """open_db() without ``txn``: in a transaction of its own, registering the name while
        no other such open (or :meth:`dbs` probe) of this environment is.

        LMDB registers a new name in the first slot its transaction's view of the open
        databases (taken at begin) shows free, so two transactions opening different names
        at once could both take one slot, and one handle would read the other's database.
        Read transactions (read-only environments) begin inside the lock, so each sees the
        names the previous one published; write transactions are exclusive already and take
        the lock after beginning (a thread holding it never waits for the write lock, so
        this cannot deadlock with a thread that holds a write transaction).
        """
        if self._readonly:
            with self._dbi_lock:
                with self.begin() as own:
                    return self._open_dbi(own, name, flags)
        with self.begin(write=True) as own:
            with self._dbi_lock:
                return self._open_dbi(own, name, flags)

    def _open_dbi(self, txn: Transaction, name: Optional[bytes], flags: int) -> _Database:
        out = ffi.new("unsigned int[2]")
        rc = lib.zl_dbi_open(txn._t, name if name is not None else ffi.NULL, flags, out)
        if rc:
            raise error_for("mdb_dbi_open", rc)
        rc = lib.zl_dbi_flags(txn._t, out[0], out + 1)
        if rc:
            raise error_for("mdb_dbi_flags", rc)
        with self._dbs_lock:
            cached = self._dbs.get(name)
            if cached is not None and cached._dbi == out[0] and cached._flags == out[1]:
                return cached
            db = _Database(self, name, out[0], out[1])
            if name is not None:
                self._dbs[name] = db
        if name is not None:
            txn._note_opened(db)
        return db

    def _forget_db(self, db: _Database) -> None:
        with self._dbs_lock:
            if self._dbs.get(db._name) is db:
                del self._dbs[db._name]
        db._invalidate()

    def dbs(self, txn: Any = None) -> List[bytes]:
        """Return the names of the named databases, sorted.

        Raises:
            Error: the environment is closed.
        """
        self._live()
        if txn is not None:
            return self._dbs_in(txn)
        with self._dbi_lock:  # its probes register names: one at a time, as _open_own
            own = self.begin()
            try:
                return self._dbs_in(own)
            finally:
                own.abort()

    def _dbs_in(self, txn: Any) -> List[bytes]:
        names = []
        cur = txn.cursor(self._main_db)
        for key, value in cur.iternext():
            if len(value) != 48:  # sizeof(MDB_db): only such records can be databases
                continue
            name = bytes(key)
            if b"\0" in name.rstrip(b"\0"):
                continue
            probe = name.rstrip(b"\0")
            out = ffi.new("unsigned int *")
            rc = lib.zl_dbi_open(txn._t, probe, 0, out)
            if rc == 0 or rc == lib.MDB_DBS_FULL:
                names.append(probe)
        return sorted(names)


def _errors_unicode() -> str:
    from ._util import UNICODE_MESSAGE

    return UNICODE_MESSAGE


def stat_dict(st: Any) -> Dict[str, int]:
    return {
        "psize": st.ms_psize,
        "depth": st.ms_depth,
        "branch_pages": st.ms_branch_pages,
        "leaf_pages": st.ms_leaf_pages,
        "overflow_pages": st.ms_overflow_pages,
        "entries": st.ms_entries,
    }


from ._cursor import drop_closed_blocks  # noqa: E402
from ._txn import Transaction, txn_after_collect  # noqa: E402  (needs this module)

_txn_new = lib.zl_txn_new
_txn_new_read = lib.zl_txn_new_read
_begin_read = lib.zl_txn_begin_read
_txn_drop = lib.zl_txn_drop
_gc = ffi.gc
_NULL = ffi.NULL
_TXN_WRITE = lib.ZL_TXN_WRITE
_TXN_NOCOPY = lib.ZL_TXN_NOCOPY
_new_object = object.__new__

__all__ = [
    "Environment",
    "_Database",
    "stat_dict",
    "ENGINE_VERSIONS",
    "check_lib_version",
    "default_engine",
    "detect_engine",
    "sentence_error",
    "_errors",
]
