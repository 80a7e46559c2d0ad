"""The process-wide registry of open environments shared by stores on the same file.

LMDB forbids opening one database file twice in a process (closing either handle drops the
other's POSIX locks), so every :class:`~zlmdb.store.LmdbObjectStore` on the same data file
shares one :class:`SharedEnv`: one ``Environment``, one lock, one reader counter for map
resizes. The environment is closed when the last store releases it.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Dict, Optional

# Not ``from .. import lmdb``: that asks zlmdb.__getattr__ first, which loads the ORM
# (and numpy, whose BLAS threads then compete for the CPU) before importing the binding.
import zlmdb.lmdb as lmdb

# lmdb.open() keyword arguments and the defaults the store opens with.
OPEN_DEFAULTS: Dict[str, Any] = {
    "map_size": 10485760,
    "subdir": True,
    "readonly": False,
    "metasync": True,
    "sync": True,
    "map_async": False,
    "mode": 0o755,
    "create": True,
    "readahead": True,
    "writemap": False,
    "meminit": True,
    "max_readers": 126,
    "max_dbs": 0,
    "max_spare_txns": 1,  # not lmdb.open()'s 0: the store passes 1 unless told otherwise
    "lock": True,
}

# Options that only matter when the file is first opened (the map size is grown at run time
# anyway, and create/mode only act on a missing file), so a second store may differ there.
_FREE_OPTIONS = ("map_size", "create", "mode")
_INT_OPTIONS = ("max_readers", "max_spare_txns")

_ABSENT = object()

_registry: Dict[str, SharedEnv] = {}
# Re-entrant: the finalizer of a store the cyclic collector frees releases its environment,
# and a collection can run at any allocation, also one made holding this lock (inside
# lmdb.open, say). With a plain Lock that thread waited for itself forever.
_registry_lock = threading.RLock()


class WriteTransaction:
    """State of an open ``LmdbObjectStore.transaction()``: the LMDB write txn and its log."""

    __slots__ = ("owner", "txn", "log", "base_id", "depth")

    def __init__(self, owner: int, txn: Any) -> None:
        self.owner = owner
        self.txn = txn
        self.log: list = []  # (dbi handle, key, value-or-None) replayed after a map resize
        self.base_id = txn.id()
        self.depth = 1


class SharedEnv:
    """One open environment and the state every store on it shares.

    ``lock`` guards the stores' buffers and flags, every write transaction and the counters;
    ``condition`` (on ``lock``) wakes ``close()`` and map resizes waiting for readers.
    """

    def __init__(self, key: str, path: str, options: Dict[str, Any], env: Any) -> None:
        self.key = key
        self.path = path
        self.options = options
        self.env = env
        self.refs = 0
        self.lock = threading.RLock()
        self.condition = threading.Condition(self.lock)
        self.readers = 0  # in-flight read transactions of all stores on this env
        self.resizing = False  # a map resize waits for readers; new readers wait for it
        self.tx: Optional[WriteTransaction] = None
        # A flush commits outside ``lock`` (so readers and writers of the buffers go on during
        # its fsync); ``committing`` (a flush took a batch and commits it) makes every other
        # flush wait for it. ``write_owner`` is the thread holding the write slot, taken under
        # ``lock`` by every write transaction of the store machinery (_run_write), re-entrant
        # (``write_depth``): a write that waits to grow the map releases ``lock``, and
        # another thread's write must not begin meanwhile (nor take over the slot's owner).
        self.committing = False
        self.write_owner = 0
        self.write_depth = 0
        # Buffers of stores garbage collected on the thread that was committing: written
        # by that thread once its own commit is done.
        self.orphans: list = []
        self.stores: weakref.WeakSet[Any] = weakref.WeakSet()
        # Stores whose read misses handed entries to the committer thread (started on the
        # first hand-over; it stops once ``stopping`` is set and the queue is empty).
        self.queue: list = []
        self.committer: Optional[threading.Thread] = None
        self.stopping = False
        self.readonly = bool(options["readonly"])
        self.max_key_size = env.max_key_size()

    def reset_after_fork(self) -> None:
        """In a forked child: the parent's other threads do not exist here, so the locks
        they may have held are replaced and what they were doing (reading, committing,
        writing, the committer thread) is forgotten; so are the entries the parent's stores
        had not committed yet (see :func:`_after_fork_in_child`). State of the thread that
        forked (a ``transaction()`` block it is in) is kept."""
        me = threading.get_ident()
        self.lock = threading.RLock()
        self.condition = threading.Condition(self.lock)
        self.readers = 0
        self.resizing = False
        self.committing = False
        if self.write_owner != me:
            self.write_owner = 0
            self.write_depth = 0
        if self.tx is not None and self.tx.owner != me:
            self.tx = None
        self.orphans = []
        self.queue = []
        self.committer = None
        for store in list(self.stores):
            store._reset_after_fork(self)


def data_file_key(path: str, subdir: bool) -> str:
    """Return the identity of the data file ``path`` names (its real path)."""
    real = os.path.realpath(path)
    return os.path.join(real, "data.mdb") if subdir else real


def normalize_options(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Return ``kwargs`` completed with py-lmdb's defaults (to compare two stores' options)."""
    options = dict(OPEN_DEFAULTS)
    options.update(kwargs)
    return options


def acquire(path: str, kwargs: Dict[str, Any], need_dbs: bool) -> SharedEnv:
    """Open ``path`` (or join the store already using it) and return its SharedEnv.

    ``need_dbs`` (a named sub-database is wanted) raises ``max_dbs`` to at least 16 unless
    the caller set it.

    Raises:
        TypeError: unknown open option.
        lmdb.Error: the file is already open in this process with different options, or any
            error of ``lmdb.open`` (missing path, permissions, ...).
    """
    explicit_dbs = "max_dbs" in kwargs
    kwargs = dict(kwargs)
    if need_dbs and not explicit_dbs:
        kwargs["max_dbs"] = 16
    # One cached reset read transaction lets the next read renew it instead of taking a new
    # reader slot (measured: about 8% off a single-key read).
    kwargs.setdefault("max_spare_txns", OPEN_DEFAULTS["max_spare_txns"])
    options = normalize_options(kwargs)
    key = data_file_key(path, bool(options["subdir"]))
    with _registry_lock:
        shared = _registry.get(key)
        if shared is not None and shared.env is not None:
            # Counted first: a store of this environment finalized by a collection while
            # we look must not close it under us.
            shared.refs += 1
            try:
                _check_compatible(shared, options, explicit_dbs, need_dbs)
            except BaseException:
                release(shared)
                raise
            return shared
        env = lmdb.open(path, **kwargs)
        shared = SharedEnv(key, path, options, env)
        shared.refs = 1
        _registry[key] = shared
        return shared


def _check_compatible(
    shared: SharedEnv, options: Dict[str, Any], explicit_dbs: bool, need_dbs: bool
) -> None:
    have = shared.options
    conflicts = []
    for name, value in options.items():
        if name in _FREE_OPTIONS or name == "max_dbs":
            continue
        if name not in OPEN_DEFAULTS or name in _INT_OPTIONS:
            same = value == have.get(name, _ABSENT)
        else:
            same = bool(value) == bool(have[name])
        if not same:
            conflicts.append(name)
    if explicit_dbs and options["max_dbs"] != have["max_dbs"]:
        conflicts.append("max_dbs")
    elif need_dbs and have["max_dbs"] < 1:
        conflicts.append("max_dbs")
    if conflicts:
        detail = ", ".join(
            f"{n}={options[n]!r} (open with {have.get(n, '<unset>')!r})" for n in conflicts
        )
        raise lmdb.Error(
            f"The environment {shared.path!r} is already open in this process with different options: {detail}. "
            "Stores on one file share its environment, so their open options must match."
        )


def _after_fork_in_child() -> None:
    """``os.fork()`` in a process with open stores: in the child, drop what the parent's
    stores had buffered or were committing (the parent writes it; the child would write it
    at its exit, over whatever the parent wrote since) and replace the locks the parent's
    other threads may have held when it forked."""
    global _registry_lock
    _registry_lock = threading.RLock()
    for shared in list(_registry.values()):
        shared.reset_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def release(shared: SharedEnv) -> None:
    """Drop one reference; close the environment when it was the last one.

    Never raises: an environment already closed behind the store's back is fine.
    """
    with _registry_lock:
        shared.refs -= 1
        if shared.refs > 0:
            return
        if _registry.get(shared.key) is shared:
            del _registry[shared.key]
        env = shared.env
    with shared.lock:  # not under _registry_lock: close() calls us holding shared.lock
        shared.stopping = True
        shared.condition.notify_all()
    try:
        env.close()
    except Exception:  # pragma: no cover - close() of zlmdb.lmdb does not raise
        pass
