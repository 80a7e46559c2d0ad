"""asyncio wrappers for :mod:`zlmdb.lmdb` (py-lmdb's ``lmdb.aio``).

LMDB calls block, so every call that may touch the disk or wait for a lock runs in an
executor (``loop.run_in_executor``); calls that only read cached state (``path()``,
``max_key_size()``, a cursor's ``key()`` …) stay synchronous. Usage::

    import zlmdb.lmdb as lmdb
    import zlmdb.lmdb.aio

    aenv = lmdb.aio.wrap(lmdb.open("/tmp/db"))
    async with aenv.begin(write=True) as txn:
        await txn.put(b"key", b"value")
    async with aenv.begin() as txn:
        async with txn.cursor() as cur:
            async for key, value in cur:
                ...

Threading rules the wrappers enforce:

* A **write** transaction gets a private single-thread executor: its begin, every
  operation on it and on its cursors, and its commit or abort run on one OS thread,
  because LMDB binds the write lock to the thread that took it. Several coroutines that
  open write transactions at once therefore each wait on their own thread for the lock
  and run one after the other; none fails.
* A **read** transaction (LMDB is opened with ``MDB_NOTLS``) uses the environment's
  executor (``None`` = the loop's default one).
* All operations through one :class:`AsyncTransaction` and its cursors share an
  :class:`asyncio.Lock`, so ``asyncio.gather`` over one transaction is safe.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, AsyncIterator, Awaitable, Callable, Generator, Iterable, Optional

from . import Cursor, Environment, Transaction

__all__ = ["wrap", "AsyncEnvironment", "AsyncTransaction", "AsyncCursor"]

# Items fetched per executor round-trip by ``async for`` over a cursor.
_AITER_BATCH = 256


def wrap(env: Environment, executor: Optional[Executor] = None) -> AsyncEnvironment:
    """Return an :class:`AsyncEnvironment` wrapping ``env``.

    ``executor`` runs the blocking calls of the environment and of read transactions
    (``None``: the running loop's default executor). Write transactions always use a
    private single-thread executor instead (see :meth:`AsyncEnvironment.begin`).

    Raises nothing itself; errors of the wrapped calls surface when they are awaited.
    """
    return AsyncEnvironment(env, executor)


async def _in_executor(
    executor: Optional[Executor], func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(func, *args, **kwargs))


class _AsyncContextWrapper:
    """An awaitable that can also be used with ``async with``.

    ``await aenv.begin()`` returns the wrapped object; ``async with aenv.begin() as txn``
    also finishes it (commit/abort, cursor close) on exit.
    """

    __slots__ = ("_coro", "_result")

    def __init__(self, coro: Awaitable[Any]) -> None:
        self._coro = coro
        self._result: Any = None

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    async def __aenter__(self) -> Any:
        self._result = await self._coro
        return self._result

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        return await self._result.__aexit__(exc_type, exc, tb)


# ---------------------------------------------------------------------------------------
# Method factories. Each proxy keeps the wrapped method as ``__wrapped__`` and its
# docstring, so help() and inspect show the real signature and documentation.


def _passthrough(sync: Callable[..., Any]) -> Callable[..., Any]:
    """A synchronous proxy: calls ``sync`` on the wrapped object directly."""

    @functools.wraps(sync)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return sync(self._target(), *args, **kwargs)

    return method


def _in_executor_method(sync: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine proxy running ``sync`` in the wrapper's executor."""

    @functools.wraps(sync)
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await _in_executor(self._executor, sync, self._target(), *args, **kwargs)

    return method


def _locked_method(sync: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine proxy running ``sync`` in the executor while holding the txn lock."""

    @functools.wraps(sync)
    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await _in_executor(self._executor, sync, self._target(), *args, **kwargs)

    return method


def _collecting_method(sync: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine proxy for an iterator method: the iterator runs to its end in the
    executor and the items come back as a list."""

    def collect(target: Any, *args: Any, **kwargs: Any) -> list:
        return list(sync(target, *args, **kwargs))

    @functools.wraps(sync)
    async def method(self: Any, *args: Any, **kwargs: Any) -> list:
        async with self._lock:
            return await _in_executor(self._executor, collect, self._target(), *args, **kwargs)

    method.__doc__ = (
        f"Coroutine: run :meth:`Cursor.{sync.__name__}` to its end in the executor and "
        f"return its items as a list.\n\n{sync.__doc__ or ''}"
    )
    return method


def _install_proxies(
    wrapper: type,
    wrapped: type,
    passthrough: Iterable[str],
    collecting: Iterable[str] = (),
    default: Callable[[Callable[..., Any]], Callable[..., Any]] = _locked_method,
) -> None:
    """Give ``wrapper`` one proxy per public method of ``wrapped`` that it does not
    define itself: synchronous for ``passthrough`` names, list-returning coroutines for
    ``collecting`` names, ``default`` (a coroutine factory) for the rest. Driven by the
    wrapped class so that methods added to the core are proxied automatically."""
    passthrough = set(passthrough)
    collecting = set(collecting)
    for name in dir(wrapped):
        if name.startswith("_") or name in vars(wrapper):
            continue
        sync = getattr(wrapped, name)
        if not callable(sync):
            continue
        if name in passthrough:
            factory = _passthrough
        elif name in collecting:
            factory = _collecting_method
        else:
            factory = default
        proxy = factory(sync)
        proxy.__qualname__ = f"{wrapper.__name__}.{name}"
        setattr(wrapper, name, proxy)


def _forward_attribute(self: Any, name: str) -> Any:
    """``__getattr__`` of the wrappers: data attributes of the wrapped object (such as a
    transaction's ``env`` or a cursor's ``txn``) read through; methods without a proxy
    are refused, since calling them here would block the event loop."""
    if name in type(self).__slots__:  # not yet set: never recurse into _target()
        raise AttributeError(name)
    value = getattr(self._target(), name)
    if callable(value):
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
    return value


# ---------------------------------------------------------------------------------------


class AsyncEnvironment:
    """Async wrapper of an :class:`~zlmdb.lmdb.Environment`; create it with :func:`wrap`.

    Every public method of the environment is available. ``path()``, ``lib_version()``,
    ``max_key_size()``, ``max_readers()`` and ``flags()`` are called directly; the others
    (``stat``, ``info``, ``copy``, ``copyfd``, ``sync``, ``open_db``, ``dbs``,
    ``readers``, ``reader_check``, ``set_mapsize``, ``close``) are coroutines run in
    :attr:`_executor`. ``async with aenv:`` closes the environment on exit.

    Errors are those of the wrapped methods (``zlmdb.lmdb.Error`` and subclasses),
    raised when the coroutine is awaited.
    """

    __slots__ = ("_env", "_executor")

    def __init__(self, env: Environment, executor: Optional[Executor] = None) -> None:
        self._env = env
        self._executor = executor

    def _target(self) -> Environment:
        return self._env

    __getattr__ = _forward_attribute

    async def __aenter__(self) -> AsyncEnvironment:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await _in_executor(self._executor, self._env.close)

    def begin(
        self, db: Any = None, parent: Any = None, write: bool = False, buffers: bool = False
    ) -> _AsyncContextWrapper:
        """Start a transaction; await the result or use it with ``async with``.

        Arguments are those of :meth:`Environment.begin`. A write transaction gets a
        private single-thread executor on which it begins, runs every operation and
        commits or aborts. ``parent`` may be an :class:`AsyncTransaction`: the nested
        write transaction then runs on the parent's thread and shares its lock.

        ``async with`` commits on a clean exit and aborts on an exception. If the
        awaiting task is cancelled while the transaction is still waiting for the write
        lock, the transaction is aborted as soon as it gets it.

        Raises:
            ReadonlyError: a write transaction on a read-only environment.
            Error: the environment is closed; other ``mdb_txn_begin`` failures.
        """
        return _AsyncContextWrapper(self._begin(db, parent, write, buffers))

    async def _begin(self, db: Any, parent: Any, write: bool, buffers: bool) -> AsyncTransaction:
        lock: Optional[asyncio.Lock] = None
        private: Optional[ThreadPoolExecutor] = None
        if isinstance(parent, AsyncTransaction):
            executor = parent._executor
            lock = parent._lock
            parent = parent._txn
        elif write:
            private = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zlmdb-aio-write")
            executor = private
        else:
            executor = self._executor
        call = functools.partial(
            self._env.begin, db=db, parent=parent, write=write, buffers=buffers
        )
        if private is None:
            txn = await _in_executor(executor, call)
            return AsyncTransaction(txn, executor, lock=lock)

        future = private.submit(call)
        try:
            txn = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # The worker may still be waiting for the write lock; whenever it gets the
            # transaction, abort it on that same thread so the lock is released.
            future.add_done_callback(_abort_and_shutdown(private))
            raise
        except BaseException:
            private.shutdown(wait=False)
            raise
        return AsyncTransaction(txn, private, owns_executor=True, lock=lock)


def _abort_and_shutdown(private: ThreadPoolExecutor) -> Callable[[Any], None]:
    def done(future: Any) -> None:
        # Runs on the worker thread that completed the future (or here, if already done).
        if not future.cancelled() and future.exception() is None:
            future.result().abort()
        private.shutdown(wait=False)

    return done


class AsyncTransaction:
    """Async wrapper of a :class:`~zlmdb.lmdb.Transaction`, from :meth:`AsyncEnvironment.begin`.

    Every public method of the transaction is available; ``id()`` is synchronous, the
    others are coroutines run (under :attr:`_lock`) in :attr:`_executor`. ``cursor()``
    returns an awaitable/``async with``-able :class:`AsyncCursor`. ``async with txn:``
    commits on a clean exit, aborts on an exception, and does nothing if the body
    already committed or aborted.

    Errors are those of the wrapped methods, raised when awaited.
    """

    __slots__ = ("_txn", "_executor", "_lock", "_owns_executor", "_done")

    def __init__(
        self,
        txn: Transaction,
        executor: Optional[Executor] = None,
        owns_executor: bool = False,
        lock: Optional[asyncio.Lock] = None,
    ) -> None:
        self._txn = txn
        self._executor = executor
        #: True while ``_executor`` is this transaction's private pool (write txns).
        self._owns_executor = owns_executor
        #: True once commit or abort has been requested.
        self._done = False
        self._lock = lock if lock is not None else asyncio.Lock()

    def _target(self) -> Transaction:
        return self._txn

    __getattr__ = _forward_attribute

    def _release_executor(self) -> None:
        if self._owns_executor:
            self._owns_executor = False
            self._executor.shutdown(wait=False)

    async def _finish(self, commit: bool) -> None:
        async with self._lock:
            if self._done:
                # Finished already: abort() is silent and commit() raises the closed
                # error, as in the sync API. Neither touches LMDB, so any thread will do.
                if commit:
                    self._txn.commit()
                return
            self._done = True
            try:
                await _in_executor(self._executor, self._txn.commit if commit else self._txn.abort)
            finally:
                self._release_executor()

    async def __aenter__(self) -> AsyncTransaction:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._done:
            return
        await self._finish(commit=exc_type is None)

    async def commit(self) -> None:
        """Commit (write) or end (read) the transaction, then release its private executor.

        Raises:
            Error: the transaction already ended (closed error), or ``mdb_txn_commit``
                failed (e.g. ``MapFullError``, ``DiskError``).
        """
        await self._finish(commit=True)

    async def abort(self) -> None:
        """Abort the transaction and release its private executor; a no-op once finished.

        Raises nothing in normal use.
        """
        await self._finish(commit=False)

    def cursor(self, db: Any = None) -> _AsyncContextWrapper:
        """Open an :class:`AsyncCursor` on ``db`` (default: the transaction's database).

        Await it or use ``async with`` (which closes the cursor on exit). The cursor
        shares this transaction's executor and lock.

        Raises:
            Error: the transaction has ended.
        """
        return _AsyncContextWrapper(self._cursor(db))

    async def _cursor(self, db: Any) -> AsyncCursor:
        async with self._lock:
            cur = await _in_executor(self._executor, self._txn.cursor, db)
        return AsyncCursor(cur, self._executor, self._lock)


class AsyncCursor:
    """Async wrapper of a :class:`~zlmdb.lmdb.Cursor`, from :meth:`AsyncTransaction.cursor`.

    ``key()``, ``value()`` and ``item()`` are synchronous; every other method is a
    coroutine run in the transaction's executor under its lock. The ``iter*`` methods
    return lists. ``async for key, value in cur`` walks from the current position (the
    first item when unpositioned) to the end, fetching items in batches; the items are
    ``bytes`` even in a ``buffers=True`` transaction, since a batch outlives the cursor
    position its memoryviews would point at. ``async with cur:`` closes it on exit.

    Errors are those of the wrapped methods, raised when awaited.
    """

    __slots__ = ("_cursor", "_executor", "_lock")

    def __init__(
        self,
        cursor: Cursor,
        executor: Optional[Executor] = None,
        lock: Optional[asyncio.Lock] = None,
    ) -> None:
        self._cursor = cursor
        self._executor = executor
        self._lock = lock if lock is not None else asyncio.Lock()

    def _target(self) -> Cursor:
        return self._cursor

    __getattr__ = _forward_attribute

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # Through the lock and the executor, so closing never races an operation that
        # is still running in a worker thread.
        async with self._lock:
            await _in_executor(self._executor, self._cursor.close)

    def _next_batch(self, started: bool) -> list:
        cur = self._cursor
        batch = []
        if started:
            if not cur.next():
                return batch
        elif not cur.key() and not cur.first():
            return batch
        while True:
            key, value = cur.item()
            batch.append((bytes(key), bytes(value)))
            if len(batch) >= _AITER_BATCH or not cur.next():
                return batch

    async def __aiter__(self) -> AsyncIterator[tuple]:
        """Yield ``(key, value)`` pairs as ``bytes`` from the current item to the end.

        Raises:
            Error: the cursor, its transaction or the environment was closed.
        """
        started = False
        while True:
            async with self._lock:
                batch = await _in_executor(self._executor, self._next_batch, started)
            if not batch:
                return
            started = True
            for item in batch:
                yield item
            if len(batch) < _AITER_BATCH:
                return


_install_proxies(
    AsyncEnvironment,
    Environment,
    passthrough=("path", "lib_version", "max_key_size", "max_readers", "flags"),
    default=_in_executor_method,
)
_install_proxies(AsyncTransaction, Transaction, passthrough=("id",))
_install_proxies(
    AsyncCursor,
    Cursor,
    passthrough=("key", "value", "item"),
    collecting=(
        "iternext",
        "iternext_dup",
        "iternext_nodup",
        "iterprev",
        "iterprev_dup",
        "iterprev_nodup",
    ),
)
