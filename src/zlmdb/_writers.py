"""Write patterns for the ORM: batch many small writes into few write transactions.

One LMDB write transaction costs a commit (an ``fsync`` when the database is opened with
``sync=True``) no matter how few records it carries, so writing one record per transaction is
the slowest way to fill a table. The two writers here group writes to one table:

:class:`BufferedWriter`
    Collects puts and deletes in memory and writes them in one transaction when the batch
    reaches ``batch_size`` operations, when the oldest buffered operation is ``max_delay``
    seconds old (checked on each call, with an injectable clock), on :meth:`~BufferedWriter.flush`
    and on :meth:`~BufferedWriter.close` / context exit. It does its work in the calling thread.

:class:`BackgroundWriter`
    A worker thread fed by a bounded queue: producers (any number of threads) hand over
    operations and return at once; the worker writes whatever has queued up, up to
    ``batch_size`` per transaction (group commit). When the queue is full, ``put`` blocks (or
    raises :class:`queue.Full` after ``timeout``). A failure is never swallowed: it is
    raised as :class:`WriteError` by the next ``put``/``delete``/``flush``/``close`` call.

Both writers apply operations in the order they were accepted. When a batch's transaction fails
(say one record violates a :class:`~zlmdb.NullValueConstraint`), it is aborted and the batch is
replayed one operation per transaction, so one bad record does not take the others with it:
only the operations that fail on their own are lost, and :class:`WriteError` lists them, with
their exceptions, for the caller to inspect or retry. Failures of the database itself
(:class:`zlmdb.lmdb.Error`: map full, database closed, ...) are not replayed: the whole batch
is reported.
"""

from __future__ import annotations

import atexit
import collections
import os
import queue
import sys
import threading
import time
import traceback
from itertools import repeat, starmap
from typing import Any, Callable, Deque, List, NamedTuple, Optional, Sequence, Set, Tuple

__all__ = [
    "BackgroundWriter",
    "BufferedWriter",
    "WriteError",
    "WriteOp",
    "WriterClosedError",
]

_PUT = "put"
_DELETE = "delete"


class WriteOp(NamedTuple):
    """One buffered operation: ``kind`` is ``"put"`` or ``"delete"``; ``value`` is ``None`` for
    deletes."""

    kind: str
    key: Any
    value: Any


# What the writers queue: (kind, key, value), a WriteOp without the namedtuple's cost.
_Op = Tuple[str, Any, Any]


class WriteError(RuntimeError):
    """Operations could not be written; their transactions were rolled back.

    Attributes:
        operations: the :class:`WriteOp` operations that were *not* persisted, in order.
        errors: the exceptions that made them fail, one per failed transaction (the first is
            also ``__cause__``).
    """

    def __init__(self, operations: List[Any], errors: List[BaseException]) -> None:
        # the writers queue plain (kind, key, value) tuples: the named view is made here
        self.operations = [op if type(op) is WriteOp else WriteOp(*op) for op in operations]
        self.errors = list(errors)
        first = errors[0] if errors else None
        super().__init__(
            f"{len(self.operations)} operation(s) not written ({len(self.errors)} failed "
            f"transaction(s)); first error: {type(first).__name__}: {first}"
        )


class WriterClosedError(RuntimeError):
    """The writer was closed; it accepts no more operations."""


# Writers are kept here until closed: one its owner forgets to close is closed at interpreter
# exit, so accepted operations are written rather than dropped; failures go to stderr.
_LIVE_WRITERS: Set[Any] = set()
_LIVE_WRITERS_LOCK = threading.Lock()


def _register(writer: Any) -> None:
    with _LIVE_WRITERS_LOCK:
        _LIVE_WRITERS.add(writer)


def _unregister(writer: Any) -> None:
    with _LIVE_WRITERS_LOCK:
        _LIVE_WRITERS.discard(writer)


def _after_fork_in_child() -> None:
    """``os.fork()`` with writers open: in the child, the operations they hold are the
    parent's (the parent writes them; written again by the child at its exit, they would
    overwrite what the parent wrote since), and the locks may have been held by threads
    that do not exist here. Each writer forgets them (see ``_reset_after_fork``)."""
    global _LIVE_WRITERS_LOCK
    _LIVE_WRITERS_LOCK = threading.Lock()
    for writer in list(_LIVE_WRITERS):
        writer._reset_after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_live_writers() -> None:
    with _LIVE_WRITERS_LOCK:
        writers = list(_LIVE_WRITERS)
    for writer in writers:
        try:
            writer.close()
        except Exception:
            sys.stderr.write(f"zlmdb: {type(writer).__name__} failed while closing at exit:\n")
            traceback.print_exc()


def _write_batch(db: Any, table: Any, ops: List[_Op]) -> None:
    """Apply ``ops`` to ``table`` in one write transaction of ``db`` (atomic)."""
    with db.begin(write=True) as txn:
        # zlmdb's tables apply a batch in one call (tables of other ORMs: one by one)
        put_many = getattr(table, "_put_many", None)
        if put_many is not None:
            put_many(txn, ops, _PUT)
            return
        for kind, key, value in ops:
            if kind == _PUT:
                table[txn, key] = value
            else:
                del table[txn, key]


def _writing_here(db: Any) -> bool:
    """True when the calling thread holds a write transaction of ``db`` (a zlmdb Database):
    a writer's own write transaction would then wait for it forever (or, on this thread,
    fail), so its batch must wait until that transaction ends."""
    writing_here = getattr(getattr(db, "_env", None), "_writing_here", None)
    return writing_here is not None and bool(writing_here())


def _refuse_inside_write_txn(db: Any, call: str) -> None:
    if _writing_here(db):
        raise RuntimeError(
            f"{call}() cannot write now: this thread holds a write transaction of the "
            "writer's database, which the writer's own transaction would wait for; commit "
            "or abort it first"
        )


def _is_database_failure(exc: BaseException) -> bool:
    """True for errors of the database itself, which replaying single operations cannot fix."""
    try:
        from zlmdb.lmdb import Error
    except ImportError:  # pragma: no cover - only when loaded outside the package
        return False
    return isinstance(exc, Error) or not isinstance(exc, Exception)


def _apply(
    db: Any, table: Any, ops: List[_Op], interruptible: bool = False
) -> Tuple[List[_Op], List[BaseException]]:
    """Write ``ops``: one transaction, or one per operation when that fails.

    ``interruptible``: an exception that is not an ``Exception`` (``KeyboardInterrupt``,
    ``SystemExit``) propagates instead of being reported as a failure of the operations;
    the caller keeps them (written again, a batch that was committed has the same effect).

    Returns:
        the operations not written and the exceptions of the failed transactions.
    """
    try:
        _write_batch(db, table, ops)
        return [], []
    except BaseException as exc:  # reported to the caller, never dropped
        if interruptible and not isinstance(exc, Exception):
            raise
        if len(ops) == 1 or _is_database_failure(exc):
            return list(ops), [exc]
    failed: List[_Op] = []
    errors: List[BaseException] = []
    for position, op in enumerate(ops):
        try:
            _write_batch(db, table, [op])
        except BaseException as exc:
            if interruptible and not isinstance(exc, Exception):
                raise
            errors.append(exc)
            if _is_database_failure(exc):
                failed.extend(ops[position:])
                break
            failed.append(op)
    return failed, errors


class BufferedWriter:
    """Group puts and deletes to one table into batched write transactions.

    Args:
        db: an open :class:`zlmdb.Database`.
        table: the :class:`zlmdb.PersistentMap` to write to (its indexes are maintained as usual).
        batch_size: write as soon as this many operations are buffered (>= 1).
        max_delay: seconds; write when the oldest buffered operation is this old. Checked
            on every :meth:`put`/:meth:`delete` and by :meth:`poll` (there is no timer thread:
            call :meth:`poll` from your loop when you may go idle). ``None`` disables it.
        clock: monotonic seconds, ``time.monotonic`` by default (inject a fake in tests).

    Usage::

        with BufferedWriter(db, schema.samples, batch_size=500) as writer:
            for key, value in source:
                writer.put(key, value)
        # everything is written here

    Thread safety: calls from several threads are serialised by an internal lock; the batch is
    written by whichever thread triggers the flush.

    A writer still open at interpreter exit is closed (flushed) by an :mod:`atexit` hook, its
    errors printed to stderr; close writers yourself to handle those errors.

    A ``KeyboardInterrupt`` (or ``SystemExit``) while a batch is written propagates as it
    is, not as a :class:`WriteError`, and the batch stays buffered for the next flush.

    Inside a write transaction of the same database on the calling thread (which the
    writer's own transaction would wait for), puts keep buffering: the batch is written by
    the first put, :meth:`poll` or :meth:`flush` after that transaction ends; :meth:`flush`
    and :meth:`close` raise :class:`RuntimeError` there.

    ``os.fork()``: the child's copy of the writer starts empty (the operations buffered at
    the fork are the parent's to write, and are not written again at the child's exit).

    Raises:
        ValueError: ``batch_size`` < 1 or ``max_delay`` < 0.
    """

    def __init__(
        self,
        db: Any,
        table: Any,
        batch_size: int = 1000,
        max_delay: Optional[float] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        if max_delay is not None and max_delay < 0:
            raise ValueError(f"max_delay must be >= 0 or None, not {max_delay!r}")
        self._db = db
        self._table = table
        self._batch_size = batch_size
        self._max_delay = max_delay
        self._clock = clock
        self._lock = threading.RLock()
        self._ops: List[_Op] = []
        self._oldest: Optional[float] = None
        self._closed = False
        self._written = 0
        self._batches = 0
        _register(self)

    @property
    def pending(self) -> int:
        """Operations buffered and not yet written."""
        with self._lock:
            return len(self._ops)

    @property
    def written(self) -> int:
        """Operations committed so far."""
        with self._lock:
            return self._written

    @property
    def batches(self) -> int:
        """Batches written so far (a batch replayed after a failure counts once)."""
        with self._lock:
            return self._batches

    @property
    def closed(self) -> bool:
        """``True`` after :meth:`close`."""
        with self._lock:
            return self._closed

    def put(self, key: Any, value: Any) -> None:
        """Buffer ``table[txn, key] = value``; may write the batch (see the class doc).

        Raises:
            WriterClosedError: the writer is closed.
            WriteError: this call triggered a write and operations of the batch failed.
        """
        self._add((_PUT, key, value))

    def delete(self, key: Any) -> None:
        """Buffer ``del table[txn, key]``; may write the batch (see the class doc).

        Raises:
            WriterClosedError: the writer is closed.
            WriteError: this call triggered a write and operations of the batch failed.
        """
        self._add((_DELETE, key, None))

    def _add(self, op: WriteOp) -> None:
        with self._lock:
            if self._closed:
                raise WriterClosedError("put/delete on a closed BufferedWriter")
            if not self._ops:
                self._oldest = self._clock()
            self._ops.append(op)
            if (len(self._ops) >= self._batch_size or self._is_due()) and not _writing_here(
                self._db
            ):  # inside this thread's write transaction the batch waits for its end
                self._flush_locked()

    def _is_due(self) -> bool:
        if self._max_delay is None or self._oldest is None:
            return False
        return self._clock() - self._oldest >= self._max_delay

    def poll(self) -> int:
        """Write the buffer if its oldest operation is older than ``max_delay``.

        Returns:
            the number of operations written (0 when nothing was due).

        Raises:
            WriteError: operations of the batch failed (the others were written).
        """
        with self._lock:
            if self._ops and self._is_due() and not _writing_here(self._db):
                return self._flush_locked()
            return 0

    def flush(self) -> int:
        """Write all buffered operations in one transaction now.

        Returns:
            the number of operations written.

        Raises:
            WriteError: operations failed; the others were written and the buffer is empty
                (the lost operations are in ``WriteError.operations``).
            RuntimeError: operations are buffered and the calling thread holds a write
                transaction of the database (nothing is written; the buffer is kept).
        """
        with self._lock:
            if self._ops:
                _refuse_inside_write_txn(self._db, "BufferedWriter.flush")
            return self._flush_locked()

    def _flush_locked(self) -> int:
        oldest = self._oldest
        ops, self._ops, self._oldest = self._ops, [], None
        if not ops:
            return 0
        try:
            failed, errors = _apply(self._db, self._table, ops, interruptible=True)
        except BaseException:
            # KeyboardInterrupt, SystemExit: raised as they are, and the batch stays
            # buffered (written again, what was committed of it has the same effect)
            self._ops[:0] = ops
            self._oldest = oldest
            raise
        written = len(ops) - len(failed)
        self._written += written
        if written:
            self._batches += 1
        if errors:
            raise WriteError(failed, errors) from errors[0]
        return written

    def close(self) -> None:
        """Flush and refuse further operations. Calling it again does nothing.

        Raises:
            WriteError: the final batch failed (the writer is closed anyway).
            RuntimeError: operations are buffered and the calling thread holds a write
                transaction of the database (the writer stays open, the buffer is kept).
        """
        with self._lock:
            if self._closed:
                return
            if self._ops:
                _refuse_inside_write_txn(self._db, "BufferedWriter.close")
            self._closed = True
            _unregister(self)
            self._flush_locked()

    def _reset_after_fork(self) -> None:
        """In a fork child: drop the buffered operations (the parent's to write) and take a
        new lock; the writer goes on working in the child."""
        self._lock = threading.RLock()
        self._ops = []
        self._oldest = None

    def __enter__(self) -> BufferedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # Operations accepted before an exception in the block are still written; a failing
        # flush then raises with the block's exception as its __context__ (nothing is lost).
        self.close()


class BackgroundWriter:
    """A worker thread that writes operations for one table from a bounded queue.

    Producers call :meth:`put`/:meth:`delete` from any number of threads; the worker takes
    everything queued (up to ``batch_size``) and writes it in one transaction, so batches grow
    on their own when producers are faster than commits.

    Args:
        db: an open :class:`zlmdb.Database`.
        table: the :class:`zlmdb.PersistentMap` to write to.
        maxsize: queue capacity in operations (>= 1); bounds the memory held for unwritten data.
        batch_size: most operations per write transaction (>= 1).
        name: the worker thread's name.

    Back-pressure: when ``maxsize`` operations are waiting, :meth:`put` blocks until the worker
    makes room, or raises :class:`queue.Full` once ``timeout`` seconds have passed.

    Errors: failed operations (see the module doc) are remembered. The next :meth:`put`, :meth:`delete`,
    :meth:`flush` or :meth:`close` (in whichever thread comes first) raises :class:`WriteError`
    for all failures since the last report; a ``put``/``delete`` that raises did *not* enqueue
    its operation. The worker keeps writing later operations. Should the worker thread itself
    fail (an exception outside a batch's transaction, such as :class:`MemoryError`), the
    operations it held and those queued are reported the same way and the writer closes.

    Shutdown: :meth:`close` (or context exit) writes everything already queued, stops the
    thread and then reports errors. Use it as ``with BackgroundWriter(db, table) as w: ...``.
    A writer still open at interpreter exit is closed by an :mod:`atexit` hook (its errors are
    printed to stderr), so queued operations are not lost with the process.

    ``os.fork()``: the child's copy of the writer is closed (its worker thread runs only in
    the parent, which writes what was queued); create a new writer in the child.

    Raises:
        ValueError: ``maxsize`` or ``batch_size`` < 1.
    """

    def __init__(
        self,
        db: Any,
        table: Any,
        maxsize: int = 10_000,
        batch_size: int = 1000,
        name: str = "zlmdb-background-writer",
    ) -> None:
        if not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1, not {maxsize!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, not {batch_size!r}")
        self._db = db
        self._table = table
        self._maxsize = maxsize
        self._batch_size = batch_size
        lock = threading.Lock()
        # Two conditions on one lock: the worker waits on _work (operations queued, or
        # closing) and is woken only when it is idle, so that a put costs one lock round
        # trip; producers, flush() and close() wait on _cond (room, progress). Every field
        # below is read and written with the lock held.
        self._lock = lock
        self._cond = threading.Condition(lock)
        self._work = threading.Condition(lock)
        self._idle = False  # the worker waits on _work
        self._queue: Deque[_Op] = collections.deque()
        # operations accepted = _taken + len(_queue): producers only append
        self._taken = 0  # operations the worker took off the queue
        self._finished = 0  # operations taken off the queue and written or failed
        self._written = 0
        self._batches = 0
        self._failed_ops: List[_Op] = []
        self._errors: List[BaseException] = []
        self._closing = False
        self._stop = False  # _errors or _closing: a put must take the slow path
        self._died: Optional[BaseException] = None  # what ended the worker thread early
        self._in_flight: Sequence[_Op] = ()  # the worker's current batch (for _worker_failed)
        self._forked = False  # a fork child's copy (see _reset_after_fork)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _register(self)

    @property
    def pending(self) -> int:
        """Operations accepted and not yet written (queued or in the current batch)."""
        with self._cond:
            return self._taken + len(self._queue) - self._finished

    @property
    def written(self) -> int:
        """Operations committed so far."""
        with self._cond:
            return self._written

    @property
    def batches(self) -> int:
        """Batches written so far (a batch replayed after a failure counts once)."""
        with self._cond:
            return self._batches

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` has begun (or the worker thread failed)."""
        with self._cond:
            return self._closing

    def put(self, key: Any, value: Any, timeout: Optional[float] = None) -> None:
        """Queue ``table[txn, key] = value``.

        Args:
            timeout: seconds to wait for room in a full queue; ``None`` waits as long as needed.

        Raises:
            WriteError: an earlier batch failed (this operation was not queued).
            WriterClosedError: the writer is closed (or its worker thread failed).
            queue.Full: the queue stayed full for ``timeout`` seconds.
            RuntimeError: the queue is full and the calling thread holds a write
                transaction of the database (the worker could never make room).
        """
        # _enqueue inlined: the producers' hot path.
        with self._lock:  # not acquire(); try: a signal in between would leave it held
            if self._stop or len(self._queue) >= self._maxsize:
                self._wait_for_room_locked(timeout)
            self._queue.append((_PUT, key, value))
            if self._idle:
                self._idle = False
                self._work.notify()

    def delete(self, key: Any, timeout: Optional[float] = None) -> None:
        """Queue ``del table[txn, key]``; see :meth:`put` for ``timeout`` and errors.

        Raises:
            WriteError: an earlier batch failed (this operation was not queued).
            WriterClosedError: the writer is closed (or its worker thread failed).
            queue.Full: the queue stayed full for ``timeout`` seconds.
            RuntimeError: the queue is full and the calling thread holds a write
                transaction of the database (the worker could never make room).
        """
        self._enqueue((_DELETE, key, None), timeout)

    def _enqueue(self, op: Tuple[str, Any, Any], timeout: Optional[float]) -> None:
        with self._lock:
            if self._stop or len(self._queue) >= self._maxsize:
                self._wait_for_room_locked(timeout)
            self._queue.append(op)
            if self._idle:
                self._idle = False
                self._work.notify()

    def _wait_for_room_locked(self, timeout: Optional[float]) -> None:
        """Raise pending errors, refuse when closing, wait while the queue is full."""
        self._raise_errors_locked()
        if self._closing:
            self._raise_closed_locked()
        if len(self._queue) >= self._maxsize:
            self._refuse_to_wait_for_worker("put")
            has_room = self._cond.wait_for(
                lambda: len(self._queue) < self._maxsize or self._closing or self._errors,
                timeout,
            )
            if not has_room:
                raise queue.Full(f"BackgroundWriter queue full ({self._maxsize} operations)")
            self._raise_errors_locked()
            if self._closing:
                self._raise_closed_locked()

    def _reset_after_fork(self) -> None:
        """In a fork child: the worker thread is the parent's, and so are the operations
        queued or in flight (the parent writes them). The child's copy forgets them, takes
        new locks and is closed: ``put``/``delete`` raise :class:`WriterClosedError`,
        ``flush``/``close`` return at once."""
        lock = threading.Lock()
        self._lock = lock
        self._cond = threading.Condition(lock)
        self._work = threading.Condition(lock)
        self._idle = False
        self._taken += len(self._queue)
        self._queue.clear()
        self._finished = self._taken
        self._in_flight = ()
        self._failed_ops, self._errors = [], []
        self._closing = self._stop = True
        self._forked = True
        _LIVE_WRITERS.discard(self)  # nothing for the child's exit to close

    def _raise_closed_locked(self) -> None:
        if self._forked:
            raise WriterClosedError(
                "put/delete on a BackgroundWriter inherited from the parent process: its "
                "worker thread runs in the parent; create a new writer after fork()"
            )
        if self._died is not None:
            raise WriterClosedError(
                "put/delete on a BackgroundWriter whose worker thread failed "
                f"({type(self._died).__name__}: {self._died})"
            )
        raise WriterClosedError("put/delete on a closed BackgroundWriter")

    def _refuse_to_wait_for_worker(self, call: str) -> None:
        """Raise instead of waiting for the worker when the calling thread holds a write
        transaction of the database: the worker's transaction waits for that one to end,
        and the caller would wait for the worker forever."""
        if _writing_here(self._db):
            raise RuntimeError(
                f"BackgroundWriter.{call}() would wait forever: this thread holds a write "
                "transaction of the writer's database, which the worker needs to end "
                "first; commit or abort it before waiting for the writer"
            )

    def _raise_errors_locked(self) -> None:
        if self._errors:
            error = WriteError(self._failed_ops, self._errors)
            cause = self._errors[0]
            self._failed_ops, self._errors = [], []
            self._stop = self._closing
            raise error from cause

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Wait until every operation accepted before this call is written (or has failed).

        Args:
            timeout: seconds to wait; ``None`` waits as long as needed.

        Returns:
            ``True`` when everything was written, ``False`` when ``timeout`` ran out first.

        Raises:
            WriteError: a batch failed since the last report.
            RuntimeError: the calling thread holds a write transaction of the database
                while the worker has operations to write (waiting would never end).
        """
        with self._cond:
            target = self._taken + len(self._queue)
            if self._finished < target:
                self._refuse_to_wait_for_worker("flush")
            done = self._cond.wait_for(lambda: self._finished >= target, timeout)
            self._raise_errors_locked()
            return done

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Wait until every operation accepted so far was written or has failed.

        Unlike :meth:`flush` this reports no errors (they stay pending for the next call).

        Returns:
            ``True`` when idle, ``False`` when ``timeout`` seconds ran out first.

        Raises:
            RuntimeError: the calling thread holds a write transaction of the database
                while the worker has operations to write (waiting would never end).
        """
        with self._cond:
            target = self._taken + len(self._queue)
            if self._finished < target:
                self._refuse_to_wait_for_worker("wait_idle")
            return self._cond.wait_for(lambda: self._finished >= target, timeout)

    def close(self, timeout: Optional[float] = None) -> bool:
        """Write everything queued, stop the worker thread and report errors.

        Operations still arriving from other threads after ``close`` began are refused with
        :class:`WriterClosedError`. Calling ``close`` again only reports errors (if any).

        Args:
            timeout: seconds to wait for the worker; ``None`` waits as long as needed.

        Returns:
            ``True`` when the worker has stopped, ``False`` when ``timeout`` ran out first
            (the worker keeps draining in the background; call ``close`` again).

        Raises:
            WriteError: a batch failed since the last report.
            RuntimeError: the calling thread holds a write transaction of the database
                while the worker has operations to write (nothing is closed then).
        """
        with self._cond:
            if self._finished < self._taken + len(self._queue):
                self._refuse_to_wait_for_worker("close")  # before closing: nothing changes
            self._closing = self._stop = True
            self._cond.notify_all()
            self._work.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if stopped:
            _unregister(self)
        with self._cond:
            self._raise_errors_locked()
        return stopped

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def _run(self) -> None:
        try:
            self._work_loop()
        except BaseException as exc:  # reported to the caller, never dropped
            self._worker_failed(exc)

    def _work_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._idle = True
                    self._work.wait()
                self._idle = False
                if not self._queue:
                    return  # closing and drained
                count = min(len(self._queue), self._batch_size)
                # popleft() count times by C-level loops (starmap over empty argument tuples)
                batch = list(starmap(self._queue.popleft, repeat((), count)))
                self._in_flight = batch
                self._taken += count
                self._cond.notify_all()  # room for blocked producers
            failed, errors = _apply(self._db, self._table, batch)
            with self._cond:
                self._finished += len(batch)
                self._written += len(batch) - len(failed)
                if len(failed) < len(batch):
                    self._batches += 1
                if errors:
                    self._errors.extend(errors)
                    self._failed_ops.extend(failed)
                    self._stop = True
                self._in_flight = ()
                self._cond.notify_all()

    def _worker_failed(self, exc: BaseException) -> None:
        """The worker thread ends on an exception of its own (not one of a batch's transaction,
        which _apply reports): without this, producers blocked on the full queue and flush()
        would wait forever for it, and the batch it held would vanish unreported. Report that
        batch and everything queued as failed with ``exc``, and close the writer."""
        with self._cond:
            # the batch in flight, unless the worker had counted it finished already
            lost = list(self._in_flight) if self._finished < self._taken else []
            lost.extend(self._queue)
            self._taken += len(self._queue)
            self._queue.clear()
            self._finished = self._taken
            self._failed_ops.extend(lost)
            self._errors.append(exc)
            self._died = exc
            self._closing = self._stop = True
            self._cond.notify_all()
