"""A KeyboardInterrupt (a signal handler's exception) can arrive right after a lock's
``acquire()`` returns, before a following ``try:`` is entered; code written
``lock.acquire(); try: ... finally: lock.release()`` then leaves the lock held for good and
every later user of it (the writer's worker, ``flush``/``close``, the store's exit-time
flush) hangs. The store's and the background writer's hot paths take their locks with a
``with`` statement instead, whose ``__enter__`` is one C call. These tests stand in for the
signal with a lock whose ``acquire()`` raises KeyboardInterrupt just after acquiring, and
check that the real lock is free afterwards (probed from another thread, waiting at most
10 s: the writer's worker may hold it for a moment).
"""

from __future__ import annotations

import threading

import pytest

import zlmdb
from zlmdb._writers import BackgroundWriter
from zlmdb.store import LmdbObjectStore


class InterruptedAfterAcquire:
    """Wraps a real lock: ``acquire()`` acquires, then raises KeyboardInterrupt (once)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.armed = True

    def acquire(self, *args, **kwargs):
        got = self.inner.acquire(*args, **kwargs)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return got

    def release(self) -> None:
        self.inner.release()

    def __enter__(self):
        return self.inner.__enter__()

    def __exit__(self, *exc):
        return self.inner.__exit__(*exc)


def free_in_another_thread(lock) -> bool:
    """True when another thread gets ``lock`` within 10 s (the writer's worker may hold it
    for a moment: a non-blocking probe failed then; a lock left held never comes free)."""
    result = []

    def probe() -> None:
        got = lock.acquire(timeout=10)
        if got:
            lock.release()
        result.append(got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return result[0]


def call_interrupted(call) -> None:
    try:
        call()
    except KeyboardInterrupt:
        pass


@pytest.mark.parametrize("op", ["put", "delete", "get", "exists"])
def test_store_lock_is_free_after_an_interrupt_at_acquire(tmp_path, op) -> None:
    store = LmdbObjectStore(str(tmp_path / "db"), batch_size=1000)
    store.put(b"other", 1)  # something buffered: get/exists take the lock too
    real = store.lock
    store.lock = InterruptedAfterAcquire(real)
    try:
        calls = {
            "put": lambda: store.put(b"k", 2),
            "delete": lambda: store.delete(b"k"),
            "get": lambda: store.get(b"other"),
            "exists": lambda: store.exists(b"other", flush=False),
        }
        call_interrupted(calls[op])
        assert free_in_another_thread(real)
    finally:
        store.lock = real
    store.flush()
    assert store.get(b"other") == 1
    store.close()


class Items(zlmdb.Schema):
    def __init__(self) -> None:
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=lambda v: v, unmarshal=lambda v: v)


def test_background_writer_lock_is_free_after_an_interrupt_at_acquire(tmp_path) -> None:
    schema = Items()
    with zlmdb.Database(str(tmp_path / "db"), maxsize=1 << 24) as db:
        writer = BackgroundWriter(db, schema.items)
        real = writer._lock
        writer._lock = InterruptedAfterAcquire(real)
        try:
            call_interrupted(lambda: writer.put(1, {"a": 1}))
            assert free_in_another_thread(real)
        finally:
            writer._lock = real
        writer.put(2, {"b": 2})
        writer.close()  # would hang with the lock left held
        with db.begin() as txn:
            assert schema.items[txn, 2] == {"b": 2}
