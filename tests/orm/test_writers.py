"""BufferedWriter and BackgroundWriter: batching, thresholds, errors, shutdown, threads."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading

import pytest

import zlmdb
from zlmdb._writers import (
    BackgroundWriter,
    BufferedWriter,
    WriteError,
    WriteOp,
    WriterClosedError,
)


class Gate:
    """Makes the writer block inside a write transaction until the test opens the gate.

    Used as the table's ``marshal``: marshalling the value ``"block"`` signals ``entered`` and
    waits for ``release``; every other value passes through.
    """

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, value):
        if value == "block":
            self.entered.set()
            assert self.release.wait(60), "test never opened the gate"
        return value


class Schema(zlmdb.Schema):
    def __init__(self, marshal=None) -> None:
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=marshal or (lambda v: v), unmarshal=lambda v: v)
        # a non-nullable index: a value without "name" makes its whole batch fail
        self.by_name = zlmdb.MapStringOid(2)
        self.items.attach_index(
            "by_name",
            self.by_name,
            lambda v: v.get("name") if isinstance(v, dict) else str(v),
            nullable=False,
        )


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), maxsize=64 * 1024 * 1024) as database:
        yield database


@pytest.fixture
def schema():
    return Schema()


@pytest.fixture
def gate():
    return Gate()


@pytest.fixture
def gated_schema(gate):
    return Schema(marshal=gate)


def stored(db, table):
    with db.begin() as txn:
        return dict(table.select(txn))


def good(i):
    return {"name": f"n{i}", "i": i}


BAD = {"i": -1}  # no name: NullValueConstraint in the non-nullable index


# ---------------------------------------------------------------------------- BufferedWriter


def test_buffered_writer_holds_operations_below_batch_size(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=3)
    writer.put(1, good(1))
    writer.put(2, good(2))
    assert stored(db, schema.items) == {}
    assert writer.pending == 2
    writer.close()


def test_buffered_writer_writes_when_batch_size_is_reached(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=3)
    for i in range(1, 4):
        writer.put(i, good(i))
    assert stored(db, schema.items) == {i: good(i) for i in range(1, 4)}
    assert (writer.pending, writer.written, writer.batches) == (0, 3, 1)


def test_buffered_writer_uses_one_transaction_per_batch(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=10)
    for i in range(1, 36):
        writer.put(i, good(i))
    writer.flush()
    assert (writer.written, writer.batches) == (35, 4)


def test_buffered_writer_flush_writes_pending_operations(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    assert writer.flush() == 1
    assert stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_flush_of_empty_buffer_writes_nothing(db, schema):
    writer = BufferedWriter(db, schema.items)
    assert writer.flush() == 0
    assert writer.batches == 0


def test_buffered_writer_close_flushes(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    writer.close()
    assert stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_context_exit_flushes(db, schema):
    with BufferedWriter(db, schema.items, batch_size=100) as writer:
        writer.put(1, good(1))
    assert stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_context_exit_on_error_writes_accepted_operations(db, schema):
    with pytest.raises(KeyError):
        with BufferedWriter(db, schema.items, batch_size=100) as writer:
            writer.put(1, good(1))
            raise KeyError("boom")
    assert stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_time_threshold_flushes_on_next_put(db, schema):
    now = [100.0]
    writer = BufferedWriter(db, schema.items, batch_size=100, max_delay=5.0, clock=lambda: now[0])
    writer.put(1, good(1))
    now[0] = 104.9
    writer.put(2, good(2))
    assert writer.pending == 2
    now[0] = 105.0
    writer.put(3, good(3))
    assert writer.pending == 0
    assert len(stored(db, schema.items)) == 3


def test_buffered_writer_time_threshold_counts_from_oldest_pending(db, schema):
    now = [0.0]
    writer = BufferedWriter(db, schema.items, batch_size=100, max_delay=5.0, clock=lambda: now[0])
    writer.put(1, good(1))
    now[0] = 5.0
    writer.put(2, good(2))  # flushes 1 and 2
    now[0] = 9.0
    writer.put(3, good(3))  # oldest pending is 3 (t=9): not due
    assert (writer.pending, writer.batches) == (1, 1)
    writer.close()


def test_buffered_writer_poll_flushes_when_due(db, schema):
    now = [0.0]
    writer = BufferedWriter(db, schema.items, batch_size=100, max_delay=1.0, clock=lambda: now[0])
    writer.put(1, good(1))
    now[0] = 1.0
    assert writer.poll() == 1
    assert stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_poll_does_nothing_before_due(db, schema):
    now = [0.0]
    writer = BufferedWriter(db, schema.items, batch_size=100, max_delay=1.0, clock=lambda: now[0])
    writer.put(1, good(1))
    now[0] = 0.5
    assert writer.poll() == 0
    assert writer.pending == 1
    writer.close()


def test_buffered_writer_applies_operations_in_order(db, schema):
    with BufferedWriter(db, schema.items, batch_size=100) as writer:
        writer.put(1, good(1))
        writer.put(2, good(2))
        writer.put(1, {"name": "x", "i": 10})
        writer.delete(2)
    assert stored(db, schema.items) == {1: {"name": "x", "i": 10}}


def test_buffered_writer_delete_maintains_indexes(db, schema):
    with BufferedWriter(db, schema.items) as writer:
        writer.put(1, good(1))
    with BufferedWriter(db, schema.items) as writer:
        writer.delete(1)
    with db.begin() as txn:
        assert schema.by_name.count(txn) == 0


def test_buffered_writer_bad_operation_does_not_take_the_batch_with_it(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    writer.put(2, BAD)
    writer.put(3, good(3))
    with pytest.raises(WriteError):
        writer.flush()
    assert stored(db, schema.items) == {1: good(1), 3: good(3)}


def test_buffered_writer_error_lists_only_failed_operations_and_cause(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    writer.put(2, BAD)
    with pytest.raises(WriteError) as info:
        writer.flush()
    assert info.value.operations == [WriteOp("put", 2, BAD)]
    assert isinstance(info.value.__cause__, zlmdb.NullValueConstraint)


def test_buffered_writer_replay_keeps_operation_order(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    writer.put(2, BAD)
    writer.put(1, {"name": "x", "i": 10})
    writer.delete(3)
    with pytest.raises(WriteError):
        writer.flush()
    assert stored(db, schema.items) == {1: {"name": "x", "i": 10}}


def test_buffered_writer_database_failure_reports_the_whole_batch(tmp_path, schema):
    db = zlmdb.Database(str(tmp_path / "closed"), maxsize=16 * 1024 * 1024)
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(1, good(1))
    writer.put(2, good(2))
    db.close()
    with pytest.raises(WriteError) as info:
        writer.flush()
    assert [op.key for op in info.value.operations] == [1, 2]
    assert len(info.value.errors) == 1
    assert isinstance(info.value.__cause__, zlmdb.lmdb.Error)


def test_buffered_writer_error_from_close_is_raised(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(2, BAD)
    with pytest.raises(WriteError):
        writer.close()
    assert writer.closed


def test_buffered_writer_keeps_working_after_failed_batch(db, schema):
    writer = BufferedWriter(db, schema.items, batch_size=100)
    writer.put(2, BAD)
    with pytest.raises(WriteError):
        writer.flush()
    writer.put(3, good(3))
    writer.flush()
    assert stored(db, schema.items) == {3: good(3)}


def test_buffered_writer_put_after_close_raises(db, schema):
    writer = BufferedWriter(db, schema.items)
    writer.close()
    with pytest.raises(WriterClosedError):
        writer.put(1, good(1))


def test_buffered_writer_close_twice_is_harmless(db, schema):
    writer = BufferedWriter(db, schema.items)
    writer.put(1, good(1))
    writer.close()
    writer.close()
    assert writer.batches == 1


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"batch_size": 1.5}, {"max_delay": -1}])
def test_buffered_writer_rejects_bad_thresholds(db, schema, kwargs):
    with pytest.raises(ValueError):
        BufferedWriter(db, schema.items, **kwargs)


def test_buffered_writer_is_safe_for_many_threads(db, schema):
    threads, per_thread = 8, 250
    barrier = threading.Barrier(threads)
    writer = BufferedWriter(db, schema.items, batch_size=64)

    def produce(t):
        barrier.wait()
        for i in range(per_thread):
            key = t * per_thread + i + 1
            writer.put(key, good(key))

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    writer.close()
    assert len(stored(db, schema.items)) == threads * per_thread
    assert writer.written == threads * per_thread


# -------------------------------------------------------------------------- BackgroundWriter


def test_background_writer_flush_waits_until_written(db, schema):
    writer = BackgroundWriter(db, schema.items)
    for i in range(1, 101):
        writer.put(i, good(i))
    assert writer.flush() is True
    assert len(stored(db, schema.items)) == 100
    writer.close()


def test_background_writer_close_drains_the_queue(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    for i in range(2, 50):
        writer.put(i, good(i))
    gate.release.set()
    writer.close()
    assert len(stored(db, gated_schema.items)) == 49


def test_background_writer_context_exit_drains_the_queue(db, schema):
    with BackgroundWriter(db, schema.items) as writer:
        for i in range(1, 11):
            writer.put(i, good(i))
    assert len(stored(db, schema.items)) == 10


def test_background_writer_batches_what_has_queued(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, batch_size=2)
    writer.put(1, "block")  # the worker takes this alone and blocks in its transaction
    assert gate.entered.wait(60)
    for i in range(2, 7):
        writer.put(i, good(i))
    gate.release.set()
    writer.close()
    assert writer.batches == 1 + 3  # [1], [2, 3], [4, 5], [6]


def test_background_writer_put_raises_full_when_queue_stays_full(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, maxsize=3)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    for i in range(2, 5):
        writer.put(i, good(i))
    with pytest.raises(queue.Full):
        writer.put(5, good(5), timeout=0)
    gate.release.set()
    writer.close()


def test_background_writer_full_queue_refuses_the_operation(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, maxsize=1)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, good(2))
    with pytest.raises(queue.Full):
        writer.put(3, good(3), timeout=0)
    gate.release.set()
    writer.close()
    assert sorted(stored(db, gated_schema.items)) == [1, 2]


def test_background_writer_blocked_put_resumes_when_room(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, maxsize=1)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, good(2))
    producer = threading.Thread(target=writer.put, args=(3, good(3)))  # blocks: queue full
    producer.start()
    gate.release.set()
    producer.join()
    writer.close()
    assert sorted(stored(db, gated_schema.items)) == [1, 2, 3]


def test_background_writer_close_refuses_a_producer_blocked_on_a_full_queue(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, maxsize=1)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, good(2))
    outcome = []

    def produce():
        try:
            writer.put(3, good(3))  # blocks: the queue is full
            outcome.append("queued")
        except WriterClosedError:
            outcome.append("refused")

    producer = threading.Thread(target=produce)
    producer.start()
    closer = threading.Thread(target=writer.close)
    closer.start()  # close() waits for the gated batch; the blocked producer is refused
    producer.join()
    gate.release.set()
    closer.join()
    assert outcome == ["refused"]
    assert sorted(stored(db, gated_schema.items)) == [1, 2]


def test_background_writer_queue_never_exceeds_maxsize(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, maxsize=4)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    for i in range(2, 6):
        writer.put(i, good(i))
    assert writer.pending == 1 + 4  # the batch in flight plus a full queue
    gate.release.set()
    writer.close()


def test_background_writer_error_is_raised_by_flush(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.put(2, BAD)
    with pytest.raises(WriteError) as info:
        writer.flush()
    assert isinstance(info.value.__cause__, zlmdb.NullValueConstraint)
    writer.close()


def test_background_writer_error_is_raised_by_next_put(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.put(2, BAD)
    assert writer.wait_idle() is True
    with pytest.raises(WriteError):
        writer.put(3, good(3))
    writer.close()
    assert stored(db, schema.items) == {}  # the refused put was not queued


def test_background_writer_error_is_raised_by_close(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.put(2, BAD)
    with pytest.raises(WriteError):
        writer.close()


def test_background_writer_error_is_raised_on_context_exit(db, schema):
    with pytest.raises(WriteError):
        with BackgroundWriter(db, schema.items) as writer:
            writer.put(2, BAD)


def test_background_writer_reports_an_error_once(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.put(2, BAD)
    with pytest.raises(WriteError):
        writer.flush()
    assert writer.flush() is True
    writer.close()


def test_background_writer_error_lists_all_failed_operations(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, batch_size=1)
    # the worker blocks on the first put, so the failures below are reported only by flush
    # (a put after a failure was seen would raise it instead)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, BAD)
    writer.put(3, good(3))
    writer.put(4, BAD)
    gate.release.set()
    with pytest.raises(WriteError) as info:
        writer.flush()
    assert [op.key for op in info.value.operations] == [2, 4]
    assert len(info.value.errors) == 2
    writer.close()
    assert stored(db, gated_schema.items) == {1: "block", 3: good(3)}


def test_write_error_operations_are_write_ops(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, batch_size=10)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, BAD)
    writer.delete(3)
    gate.release.set()
    with pytest.raises(WriteError) as info:
        writer.flush()
    writer.close()
    assert all(type(op) is WriteOp for op in info.value.operations)
    assert [(op.kind, op.key, op.value) for op in info.value.operations] == [("put", 2, BAD)]


def test_background_writer_idle_worker_wakes_for_each_new_operation(db, schema):
    with BackgroundWriter(db, schema.items) as writer:
        for oid in range(1, 4):
            writer.put(oid, good(oid))
            assert writer.flush()  # the worker went idle in between: each put wakes it
            assert writer.written == oid
    assert stored(db, schema.items) == {oid: good(oid) for oid in range(1, 4)}


def test_background_writer_bad_operation_does_not_take_others_with_it(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, batch_size=100)
    writer.put(100, "block")  # held, so that keys 1..20 are queued as one batch
    assert gate.entered.wait(60)
    for i in range(1, 21):
        writer.put(i, BAD if i == 7 else good(i))
    gate.release.set()
    with pytest.raises(WriteError) as info:
        writer.close()
    assert [op.key for op in info.value.operations] == [7]
    assert writer.batches == 2
    assert sorted(stored(db, gated_schema.items)) == [i for i in range(1, 21) if i != 7] + [100]


def test_background_writer_keeps_writing_after_a_failed_batch(db, gated_schema, gate):
    writer = BackgroundWriter(db, gated_schema.items, batch_size=1)
    writer.put(1, "block")
    assert gate.entered.wait(60)
    writer.put(2, BAD)
    writer.put(3, good(3))
    gate.release.set()
    with pytest.raises(WriteError):
        writer.close()
    assert stored(db, gated_schema.items) == {1: "block", 3: good(3)}


def test_background_writer_applies_operations_in_order(db, schema):
    with BackgroundWriter(db, schema.items, batch_size=1) as writer:
        writer.put(1, good(1))
        writer.put(1, {"name": "x", "i": 2})
        writer.put(2, good(2))
        writer.delete(2)
    assert stored(db, schema.items) == {1: {"name": "x", "i": 2}}


def test_background_writer_put_after_close_raises(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.close()
    with pytest.raises(WriterClosedError):
        writer.put(1, good(1))


def test_background_writer_close_stops_the_thread(db, schema):
    writer = BackgroundWriter(db, schema.items, name="bg-writer-under-test")
    assert writer.close() is True
    assert "bg-writer-under-test" not in {t.name for t in threading.enumerate()}


def test_background_writer_close_twice_is_harmless(db, schema):
    writer = BackgroundWriter(db, schema.items)
    writer.put(1, good(1))
    writer.close()
    assert writer.close() is True
    assert writer.written == 1


@pytest.mark.parametrize("kwargs", [{"maxsize": 0}, {"batch_size": 0}])
def test_background_writer_rejects_bad_sizes(db, schema, kwargs):
    with pytest.raises(ValueError):
        BackgroundWriter(db, schema.items, **kwargs)


def test_background_writer_many_producers_lose_nothing(db, schema):
    threads, per_thread = 8, 500
    barrier = threading.Barrier(threads)
    writer = BackgroundWriter(db, schema.items, maxsize=100, batch_size=50)

    def produce(t):
        barrier.wait()
        for i in range(per_thread):
            key = t * per_thread + i + 1
            writer.put(key, good(key))

    workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    writer.close()
    data = stored(db, schema.items)
    assert len(data) == threads * per_thread
    assert all(data[k] == good(k) for k in data)


# ------------------------------------------------------------------------ interpreter exit

_EXIT_SCRIPT = textwrap.dedent(
    """
    import sys
    import zlmdb
    from zlmdb._writers import BackgroundWriter, BufferedWriter

    db = zlmdb.Database(sys.argv[1], maxsize=16 * 1024 * 1024)
    table = zlmdb.MapOidCbor(1, marshal=lambda v: v, unmarshal=lambda v: v)
    buffered = BufferedWriter(db, table, batch_size=1000)
    background = BackgroundWriter(db, table)
    for oid in range(1, 51):
        buffered.put(oid, {"by": "buffered"})
        background.put(100 + oid, {"by": "background"})
    # no close(), no flush(): the interpreter exits with operations pending
    """
)


def test_writers_left_open_are_flushed_at_interpreter_exit(tmp_path):
    path = str(tmp_path / "db")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, path], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    table = zlmdb.MapOidCbor(1, marshal=lambda v: v, unmarshal=lambda v: v)
    with zlmdb.Database(path, maxsize=16 * 1024 * 1024) as db:
        assert len(stored(db, table)) == 100


# ------------------------------------------------------------------------------------ fork

_FORK_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, threading
    import zlmdb
    from zlmdb._writers import BackgroundWriter, BufferedWriter, WriterClosedError

    entered, release = threading.Event(), threading.Event()

    def marshal(value):
        if value == "block":  # holds the worker inside its batch's write transaction
            entered.set()
            release.wait()
        return value

    db = zlmdb.Database(sys.argv[1], maxsize=16 * 1024 * 1024)
    table = zlmdb.MapOidCbor(1, marshal=marshal, unmarshal=lambda v: v)
    buffered = BufferedWriter(db, table, batch_size=1000)
    background = BackgroundWriter(db, table)
    buffered.put(1, "old")  # buffered at the fork
    background.put(2, "block")  # in flight at the fork
    entered.wait()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a hang ends the child with SIGALRM
        os.close(write_end)
        os.read(read_end, 1)  # until the parent has written everything
        try:
            background.put(3, "child")
        except WriterClosedError:
            print("closed", background.flush(), background.pending, flush=True)
        sys.exit(0)  # a normal exit: the atexit hook closes the writers left open
    os.close(read_end)
    release.set()
    buffered.put(1, "new")
    buffered.close()
    background.close()
    os.write(write_end, b"x")
    _, status = os.waitpid(pid, 0)
    print("child exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else "killed")
    with db.begin() as txn:
        print(table[txn, 1], table[txn, 2], table[txn, 3])
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_writers_in_a_forked_child_hold_nothing_of_the_parents(tmp_path):
    """A child made by fork() inherits copies of the writers. The BufferedWriter's copy of
    the buffer was written again at the child's exit, over the value the parent had written
    since; the BackgroundWriter's copy waited in flush() for a worker thread that exists only
    in the parent. In the child the buffered writer starts empty, and the background writer
    is closed (put raises WriterClosedError, flush returns at once)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run(
        [sys.executable, "-c", _FORK_SCRIPT, str(tmp_path / "db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["closed True 0", "child exit 0", "new block None"]


# ------------------------------------- waiting for the worker while holding a write txn


@pytest.mark.parametrize("call", ["flush", "wait_idle", "close"])
def test_background_writer_refuses_to_wait_inside_a_write_txn_of_this_thread(db, schema, call):
    """The worker's write transaction waits for this thread's to end, so waiting for the
    worker there would never end (it hung): the call raises, changes nothing, and the
    operation is written once the transaction is over."""
    writer = BackgroundWriter(db, schema.items)
    with db.begin(write=True) as txn:
        schema.items[txn, 7] = good(7)
        writer.put(1, good(1))
        with pytest.raises(RuntimeError, match=rf"BackgroundWriter\.{call}\(\) would wait forever"):
            getattr(writer, call)()
        assert not writer.closed
    assert writer.flush() is True
    writer.close()
    assert stored(db, schema.items) == {1: good(1), 7: good(7)}


def test_background_writer_put_into_a_full_queue_inside_a_write_txn_raises(db, schema):
    writer = BackgroundWriter(db, schema.items, maxsize=1)
    accepted = []
    with db.begin(write=True):
        with pytest.raises(RuntimeError, match=r"BackgroundWriter\.put\(\) would wait forever"):
            for oid in range(1, 4):  # one in the worker's batch, one queued, then full
                writer.put(oid, good(oid))
                accepted.append(oid)
    assert 1 <= len(accepted) <= 2
    writer.close()
    assert stored(db, schema.items) == {oid: good(oid) for oid in accepted}


def test_background_writer_flush_from_another_thread_waits_for_the_write_txn(db, schema):
    writer = BackgroundWriter(db, schema.items)
    results = []
    with db.begin(write=True):
        writer.put(1, good(1))
        other = threading.Thread(target=lambda: results.append(writer.flush()))
        other.start()  # it waits (no error): the transaction ends on this thread
    other.join()
    writer.close()
    assert results == [True] and stored(db, schema.items) == {1: good(1)}


def test_buffered_writer_inside_a_write_txn_of_this_thread_keeps_buffering(db, schema):
    """A batch due inside this thread's write transaction was written in a transaction of
    its own, which failed (this thread already writes) and dropped every operation into a
    WriteError; now the batch waits for the transaction to end."""
    writer = BufferedWriter(db, schema.items, batch_size=2)
    with db.begin(write=True) as txn:
        schema.items[txn, 7] = good(7)
        for oid in (1, 2, 3):  # past batch_size
            writer.put(oid, good(oid))
        assert writer.pending == 3 and writer.poll() == 0
        for call in (writer.flush, writer.close):
            with pytest.raises(
                RuntimeError, match=r"BufferedWriter\.(flush|close)\(\) cannot write now"
            ):
                call()
        assert writer.pending == 3 and not writer.closed
    writer.put(4, good(4))  # the first put after the transaction writes the batch
    assert writer.pending == 0 and writer.batches == 1
    writer.close()
    assert stored(db, schema.items) == {oid: good(oid) for oid in (1, 2, 3, 4, 7)}


class Interrupting:
    """A ``marshal`` hook raising KeyboardInterrupt (as Ctrl-C would arrive) for the value
    ``"interrupt"`` while ``armed``."""

    def __init__(self) -> None:
        self.armed = True

    def __call__(self, value):
        if value == {"name": "interrupt"} and self.armed:
            raise KeyboardInterrupt
        return value


@pytest.mark.parametrize("with_bad_record", [False, True], ids=["batch", "replay"])
def test_buffered_writer_interrupted_flush_raises_keyboardinterrupt_and_keeps_the_batch(
    db, with_bad_record
):
    """Ctrl-C while a batch was written came out as a WriteError (an ``except
    KeyboardInterrupt`` never saw it) and dropped the batch. Now it propagates and the batch
    stays buffered, also when it arrives while a failed batch is replayed op by op."""
    hook = Interrupting()
    schema = Schema(marshal=hook)
    writer = BufferedWriter(db, schema.items, batch_size=100)
    ops = [(1, good(1)), (2, {"name": "interrupt"}), (3, good(3))]
    if with_bad_record:  # the batch fails on it first; the interrupt comes in the replay
        ops.insert(0, (9, BAD))
    for oid, value in ops:
        writer.put(oid, value)
    with pytest.raises(KeyboardInterrupt):
        writer.flush()
    assert writer.pending == len(ops)
    hook.armed = False
    if with_bad_record:
        with pytest.raises(WriteError) as info:
            writer.flush()
        assert [op.key for op in info.value.operations] == [9]
    else:
        assert writer.flush() == 3
    writer.close()
    assert stored(db, schema.items) == {1: good(1), 2: {"name": "interrupt"}, 3: good(3)}
