"""BufferedWriter and BackgroundWriter under failing commits, many threads and a full map.

The fault injector wraps the writers' commit step (``zlmdb._writers._write_batch``: begin the
write transaction, write the batch, commit) and makes a seeded share of the calls raise
``OSError`` before anything is written. A small map adds real ``MapFullError`` failures (the
writers do not grow the map: a map-full batch is reported whole). Every thread keeps a log of
the operations the writer accepted from it; every :class:`WriteError`, whichever thread it
reaches, names operations that were not written. At the end, with the faults off, the database
must hold exactly the thread logs replayed without the reported operations (also after
reopening), and every accepted operation must be written or reported exactly once.
"""

from __future__ import annotations

import queue
import random
import threading
from typing import Any, Dict, List, Optional, Tuple

import pytest
from threadutil import run_threads

import zlmdb
from zlmdb import _writers
from zlmdb._writers import BackgroundWriter, BufferedWriter, WriteError, WriterClosedError

THREADS = 6
OPS_PER_THREAD = 300
KEYS_PER_THREAD = 120
FAULT_RATE = 0.3


def same(value):
    return value


class Schema(zlmdb.Schema):
    def __init__(self) -> None:
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=same, unmarshal=same)
        # non-nullable: a value without "name" fails on its own (replayed, reported alone)
        self.by_name = zlmdb.MapStringOid(2)
        self.items.attach_index("by_name", self.by_name, lambda v: v.get("name"), nullable=False)


class FaultyCommits:
    """Stands in for ``_writers._write_batch``: fails a seeded share of the calls with OSError
    before writing; counts the operations of the calls that committed."""

    def __init__(self, real: Any, seed: int, rate: float = FAULT_RATE) -> None:
        self.real = real
        self.rate = rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.enabled = True
        self.injected = 0
        self.map_full = 0
        self.committed_ops = 0

    def __call__(self, db: Any, table: Any, ops: List[Any]) -> None:
        with self.lock:
            fail = self.enabled and self.rng.random() < self.rate
            if fail:
                self.injected += 1
        if fail:
            raise OSError("injected commit failure")
        try:
            self.real(db, table, ops)
        except zlmdb.lmdb.MapFullError:
            with self.lock:
                self.map_full += 1
            raise
        with self.lock:
            self.committed_ops += len(ops)


def op_id(kind: str, key: int, value: Any) -> Tuple[str, int, Any]:
    """Identifies an operation: puts by their value's serial, deletes by key (a thread deletes
    a key at most once, so that a reported delete names one operation)."""
    return (kind, key, value["s"] if kind == "put" else None)


class Run:
    """What the threads did: per-thread logs of accepted operations and every report."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logs: List[List[Tuple[str, int, Any]]] = [[] for _ in range(THREADS)]
        self.reported: List[Tuple[str, int, Any]] = []
        self.reports = 0
        # (an operation accepted before a flush, what the database held after that flush)
        self.seen_after_flush: List[Tuple[Tuple[str, int, Any], Any]] = []

    def report(self, error: WriteError) -> None:
        assert error.errors, "a WriteError without errors"
        assert error.__cause__ is error.errors[0]
        with self.lock:
            self.reports += 1
            self.reported.extend(op_id(*op) for op in error.operations)

    def expected(self) -> Dict[int, Any]:
        reported = set(self.reported)
        assert len(reported) == len(self.reported), "an operation was reported twice"
        accepted = {op_id(*op) for log in self.logs for op in log}
        assert reported <= accepted, "a reported operation was never accepted"
        model: Dict[int, Any] = {}
        for log in self.logs:
            for kind, key, value in log:
                if op_id(kind, key, value) in reported:
                    continue
                if kind == "put":
                    model[key] = value
                else:
                    model.pop(key, None)
        return model

    def accepted(self) -> int:
        return sum(len(log) for log in self.logs)

    def check_flushes(self) -> None:
        """An operation accepted before a flush()/wait_idle() that returned was written by
        then, unless it was reported (to whichever thread)."""
        reported = set(self.reported)
        for (kind, key, serial), seen in self.seen_after_flush:
            if (kind, key, serial) in reported:
                continue
            if kind == "put":
                assert seen is not None and seen["s"] == serial, (key, serial, seen)
            else:
                assert seen is None, (key, seen)


def stored(db: Any, schema: Schema) -> Tuple[Dict[int, Any], Dict[str, int]]:
    with db.begin() as txn:
        return dict(schema.items.select(txn)), dict(schema.by_name.select(txn))


def check_database(db: Any, schema: Schema, model: Dict[int, Any]) -> None:
    items, index = stored(db, schema)
    assert items == model
    assert index == {v["name"]: k for k, v in model.items()}


def look_after_flush(db: Any, schema: Schema, run: Run, log: List[Any]) -> None:
    """Record what the database holds for the keys of this thread's last operations."""
    last: Dict[int, Any] = {}
    for op in log[-5:]:
        last[op[1]] = op
    with db.begin() as txn:
        seen = [(op_id(*op), schema.items[txn, key]) for key, op in last.items()]
    with run.lock:
        run.seen_after_flush.extend(seen)


def drive(
    writer: Any, db: Any, schema: Schema, run: Run, n: int, seed: int, pad: int, background: bool
) -> None:
    """One thread: random puts, deletes, flushes and reads of the writer's counters."""
    rng = random.Random(seed * 1000 + n)
    log = run.logs[n]
    base = n * 10_000
    deleted: set = set()
    for i in range(OPS_PER_THREAD):
        key = base + rng.randrange(KEYS_PER_THREAD) + 1
        roll = rng.random()
        if roll < 0.05:
            try:
                writer.flush()
            except WriteError as error:
                run.report(error)
            look_after_flush(db, schema, run, log)
            continue
        if roll < 0.08:
            if background:
                writer.wait_idle()  # reports nothing: the errors stay for the next call
                look_after_flush(db, schema, run, log)
            else:
                try:
                    writer.poll()
                except WriteError as error:
                    run.report(error)
            assert writer.pending >= 0 and writer.written >= 0 and writer.batches >= 0
            assert not writer.closed
            continue
        if roll < 0.25 and key not in deleted:
            deleted.add(key)
            op: Tuple[str, int, Any] = ("delete", key, None)
        elif roll < 0.27:  # no name: fails on its own in the non-nullable index
            op = ("put", key, {"s": f"{n}-{i}"})
        else:
            op = ("put", key, {"s": f"{n}-{i}", "name": f"t{n}-{i}", "pad": "x" * pad})
        kind, key, value = op
        timeout: Optional[float] = 0 if background and rng.random() < 0.1 else None
        if not background:
            # a BufferedWriter accepts the operation even when the put raises: the put
            # wrote the batch holding it, and the WriteError names it if it was lost
            log.append(op)
        try:
            if kind == "put":
                writer.put(key, value, timeout=timeout) if background else writer.put(key, value)
            else:
                writer.delete(key, timeout=timeout) if background else writer.delete(key)
        except WriteError as error:
            run.report(error)
            if background and kind == "delete":  # a BackgroundWriter did not queue it
                deleted.discard(key)
            continue
        except queue.Full:
            if kind == "delete":
                deleted.discard(key)
            continue
        if background:
            log.append(op)


def make_writer(kind: str, db: Any, schema: Schema, batch_size: int) -> Any:
    if kind == "background":
        return BackgroundWriter(
            db, schema.items, maxsize=max(2, batch_size * 3), batch_size=batch_size
        )
    ticks = [0]
    ticks_lock = threading.Lock()

    def clock() -> float:  # advances on every call: max_delay triggers a flush now and then
        with ticks_lock:
            ticks[0] += 1
            return float(ticks[0])

    return BufferedWriter(db, schema.items, batch_size=batch_size, max_delay=40.0, clock=clock)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
@pytest.mark.parametrize("map_size", [256 * 1024, 64 * 1024 * 1024], ids=["tiny-map", "big-map"])
@pytest.mark.parametrize("kind", ["buffered", "background"])
def test_writers_under_failing_commits_match_thread_models(
    tmp_path, monkeypatch, kind, map_size, batch_size, seed
) -> None:
    faults = FaultyCommits(_writers._write_batch, seed)
    monkeypatch.setattr(_writers, "_write_batch", faults)
    path = str(tmp_path / "db")
    schema = Schema()
    run = Run()
    pad = 300 if map_size < 1024 * 1024 else 40
    with zlmdb.Database(path, maxsize=map_size) as db:
        writer = make_writer(kind, db, schema, batch_size)
        barrier = threading.Barrier(THREADS)

        def thread(n: int) -> None:
            barrier.wait()
            drive(writer, db, schema, run, n, seed, pad, kind == "background")

        thread_errors = run_threads([lambda n=n: thread(n) for n in range(THREADS)])
        faults.enabled = False
        try:
            writer.flush()
        except WriteError as error:
            run.report(error)
        try:
            writer.close()
        except WriteError as error:
            run.report(error)
        assert thread_errors == []
        assert writer.closed
        assert writer.pending == 0
        model = run.expected()
        run.check_flushes()
        # every accepted operation was written or reported, exactly once
        assert writer.written + len(run.reported) == run.accepted()
        assert writer.written == faults.committed_ops
        assert faults.injected > 0
        if map_size < 1024 * 1024:
            assert faults.map_full > 0
        check_database(db, schema, model)
    with zlmdb.Database(path, maxsize=map_size) as db:
        check_database(db, schema, model)


@pytest.mark.parametrize("kind", ["buffered", "background"])
def test_close_racing_with_producers_under_failing_commits(tmp_path, monkeypatch, kind) -> None:
    faults = FaultyCommits(_writers._write_batch, 7)
    monkeypatch.setattr(_writers, "_write_batch", faults)
    schema = Schema()
    run = Run()
    started = threading.Barrier(THREADS + 1)
    with zlmdb.Database(str(tmp_path / "db"), maxsize=64 * 1024 * 1024) as db:
        writer = make_writer(kind, db, schema, 7)
        background = kind == "background"

        def producer(n: int) -> None:
            log = run.logs[n]
            started.wait()
            i = 0
            while True:
                i += 1
                key = n * 10_000 + i % 50 + 1
                value = {"s": f"{n}-{i}", "name": f"t{n}-{i}"}
                if not background:
                    log.append(("put", key, value))
                try:
                    writer.put(key, value)
                except WriterClosedError:
                    if not background:
                        log.pop()  # refused: not accepted
                    return
                except WriteError as error:
                    run.report(error)
                    continue
                if background:
                    log.append(("put", key, value))

        def closer() -> None:
            started.wait()
            for _ in range(20):  # let the producers get going (no timing: yields only)
                try:
                    writer.flush()
                except WriteError as error:
                    run.report(error)
            try:
                writer.close()
            except WriteError as error:
                run.report(error)

        targets = [lambda n=n: producer(n) for n in range(THREADS)] + [closer]
        assert run_threads(targets) == []
        faults.enabled = False
        try:  # errors left by operations that were in flight while close() reported
            writer.close()
        except WriteError as error:
            run.report(error)
        model = run.expected()
        assert writer.written + len(run.reported) == run.accepted()
        assert writer.written == faults.committed_ops
        check_database(db, schema, model)


# ----------------------------------------------------------------- the worker thread dies


class DyingWorker:
    """Stands in for ``_writers._apply`` (which catches whatever the commit raises): holds the
    first batch until released, then raises MemoryError, an exception no code of the worker
    catches, as an allocation failure while it takes or records a batch would."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, db: Any, table: Any, ops: List[Any]) -> Any:
        self.entered.set()
        assert self.release.wait(60), "test never released the worker"
        raise MemoryError("injected: the worker fails outside the batch's try")


def test_background_writer_worker_death_reports_its_operations_and_closes(tmp_path, monkeypatch):
    dying = DyingWorker()
    monkeypatch.setattr(_writers, "_apply", dying)
    schema = Schema()
    with zlmdb.Database(str(tmp_path / "db"), maxsize=16 * 1024 * 1024) as db:
        writer = BackgroundWriter(db, schema.items, maxsize=2, batch_size=1)
        writer.put(1, {"s": "1", "name": "a"})
        assert dying.entered.wait(60)
        writer.put(2, {"s": "2", "name": "b"})
        writer.delete(3)  # the queue is full now
        dying.release.set()
        writer._thread.join()  # the worker is gone
        # nothing is left waiting for a worker that will never come: the batch it held and
        # the queued operations are reported, not lost
        assert writer.pending == 0
        with pytest.raises(WriteError) as info:
            writer.flush(timeout=0)
        assert [(op.kind, op.key) for op in info.value.operations] == [
            ("put", 1),
            ("put", 2),
            ("delete", 3),
        ]
        assert isinstance(info.value.__cause__, MemoryError)
        # a put no longer waits for room that will never come
        with pytest.raises(WriterClosedError):
            writer.put(4, {"s": "4", "name": "d"}, timeout=0)
        assert writer.closed
        assert writer.close() is True  # reported once, above
        assert stored(db, schema) == ({}, {})


def test_background_writer_worker_death_wakes_a_producer_blocked_on_a_full_queue(
    tmp_path, monkeypatch
):
    dying = DyingWorker()
    monkeypatch.setattr(_writers, "_apply", dying)
    schema = Schema()
    with zlmdb.Database(str(tmp_path / "db"), maxsize=16 * 1024 * 1024) as db:
        writer = BackgroundWriter(db, schema.items, maxsize=1, batch_size=1)
        writer.put(1, {"s": "1", "name": "a"})
        assert dying.entered.wait(60)
        writer.put(2, {"s": "2", "name": "b"})  # the queue is full now
        outcome: List[BaseException] = []

        def produce() -> None:
            try:  # (the timeout only keeps a broken writer from hanging the test run)
                writer.put(3, {"s": "3", "name": "c"}, timeout=60)
                outcome.append(AssertionError("queued behind a dead worker"))
            except BaseException as exc:
                outcome.append(exc)

        producer = threading.Thread(target=produce)
        producer.start()
        while not writer._cond._waiters:  # until the producer waits for room (no sleep)
            pass
        dying.release.set()
        producer.join()
        assert len(outcome) == 1 and isinstance(outcome[0], WriteError), outcome
        assert [op.key for op in outcome[0].operations] == [1, 2]
        with pytest.raises(WriterClosedError):
            writer.put(4, {"s": "4", "name": "d"})
        assert writer.close() is True
