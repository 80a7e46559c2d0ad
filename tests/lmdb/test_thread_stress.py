"""Several threads on one Environment at once (run on free-threaded CPython too, where no GIL
serialises the Python side): shared reads, serialised writers, cursors per thread, named
databases opened concurrently, and a close while others read."""

from __future__ import annotations

import threading

import pytest
from threadutil import run_threads

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."
THREADS = 8


def make_named(path: str, n: int) -> None:
    env = lmdb.open(path, max_dbs=n + 2)
    for i in range(n):
        db = env.open_db(b"db%02d" % i)
        with env.begin(write=True, db=db) as txn:
            txn.put(b"who", b"db%02d" % i)
    env.close()


def open_all_at_once(path: str, readonly: bool) -> None:
    env = lmdb.open(path, readonly=readonly, max_dbs=THREADS + 2)
    handles: dict = {}
    barrier = threading.Barrier(THREADS)

    def opener(name: bytes) -> None:
        barrier.wait()
        handles[name] = env.open_db(name, create=False)

    names = [b"db%02d" % i for i in range(THREADS)]
    assert run_threads([lambda n=n: opener(n) for n in names]) == []
    with env.begin() as txn:
        assert {n: txn.get(b"who", db=handles[n]) for n in names} == {n: n for n in names}
    assert sorted(env.dbs()) == names
    env.close()


@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "writable"])
def test_named_dbs_opened_concurrently_each_get_their_own_handle(tmp_path, readonly) -> None:
    # LMDB registers a name in the slot its transaction's (stale) view shows free: two
    # concurrent opens used to share one slot, and one handle read the other database.
    path = str(tmp_path / "e")
    make_named(path, THREADS)
    for _ in range(10):
        open_all_at_once(path, readonly)


def test_named_dbs_created_concurrently_hold_their_own_records(env_path) -> None:
    env = lmdb.open(env_path, max_dbs=THREADS + 2)
    barrier = threading.Barrier(THREADS)

    def creator(i: int) -> None:
        barrier.wait()
        db = env.open_db(b"new%d" % i)
        for j in range(50):
            with env.begin(write=True, db=db) as txn:
                txn.put(b"%03d" % j, b"%d" % i)

    assert run_threads([lambda i=i: creator(i) for i in range(THREADS)]) == []
    for i in range(THREADS):
        db = env.open_db(b"new%d" % i, create=False)
        with env.begin(db=db) as txn:
            assert set(txn.cursor().iternext(keys=False)) == {b"%d" % i}
            assert txn.stat(db)["entries"] == 50
    env.close()


@pytest.fixture
def env_path(tmp_path) -> str:
    return str(tmp_path / "shared")


def test_shared_env_readers_writers_and_cursors_per_thread(env_path) -> None:
    env = lmdb.open(env_path, map_size=64 << 20)
    with env.begin(write=True) as txn:
        for i in range(500):
            txn.put(b"base%04d" % i, b"%d" % i)
    rounds = 60

    def writer(n: int) -> None:
        for r in range(rounds):
            with env.begin(write=True) as txn:  # writers of one env are serialised
                count = int(txn.get(b"counter", b"0"))
                txn.put(b"counter", b"%d" % (count + 1))
                txn.put(b"w%d-%03d" % (n, r), b"%d" % r)

    def reader() -> None:
        for _ in range(rounds):
            with env.begin() as txn:
                cur = txn.cursor()  # a cursor of this thread's own transaction
                assert cur.set_range(b"base")
                seen = 0
                for key, value in cur:
                    if not key.startswith(b"base"):
                        break
                    assert value == b"%d" % int(key[4:])
                    seen += 1
                assert seen == 500
                written = sum(1 for k in txn.cursor().iternext(values=False) if k[:1] == b"w")
                assert int(txn.get(b"counter", b"0")) == written  # one snapshot, consistent

    writers = [lambda n=n: writer(n) for n in range(4)]
    readers = [reader for _ in range(4)]
    assert run_threads(writers + readers) == []
    with env.begin() as txn:
        assert txn.get(b"counter") == b"%d" % (4 * rounds)
    env.close()


def test_one_read_txn_used_by_threads_in_turn_reads_consistently(env_path) -> None:
    # One transaction, one thread at a time (the documented rule: its copy buffer is its
    # own, not the calling thread's), handed around by a lock among 8 threads.
    env = lmdb.open(env_path)
    with env.begin(write=True) as txn:
        for i in range(300):
            txn.put(b"%04d" % i, b"x" * (i % 50) + b"%d" % i)
    txn = env.begin()
    turn = threading.Lock()

    def reader(n: int) -> None:
        for i in range(n, 300 * 20, THREADS):
            k = i % 300
            with turn:
                got = txn.get(b"%04d" % k)
                cur = txn.cursor()
                cur.set_key(b"%04d" % k)
                item = cur.item()
            assert got == b"x" * (k % 50) + b"%d" % k
            assert item == (b"%04d" % k, got)

    assert run_threads([lambda n=n: reader(n) for n in range(THREADS)]) == []
    txn.abort()
    env.close()


def close_while_reading(env_path: str, warmup: int) -> None:
    env = lmdb.open(env_path)
    with env.begin(write=True) as txn:
        for i in range(200):
            txn.put(b"%04d" % i, b"v" * (10 + (i % 7) * 1000))
    started = threading.Barrier(THREADS + 1)
    outcomes: list = []

    def reader() -> None:
        started.wait()
        try:
            for i in range(100000):
                if i % 3 == 0:
                    with env.begin() as txn:
                        txn.get(b"%04d" % (i % 200))
                elif i % 3 == 1:
                    env.get(b"%04d" % (i % 200))
                else:
                    with env.begin() as txn:
                        cur = txn.cursor()
                        cur.set_range(b"%04d" % (i % 200))
                        cur.item()
                        cur.next()
        except lmdb.Error as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append("finished")

    def closer() -> None:
        started.wait()
        with env.begin() as txn:  # let the readers get going
            for i in range(warmup):
                txn.get(b"%04d" % (i % 200))
        env.close()

    assert run_threads([reader] * THREADS + [closer]) == []
    assert len(outcomes) == THREADS
    assert set(outcomes) <= {CLOSED, "finished"}
    with pytest.raises(lmdb.Error, match=CLOSED):
        env.begin()


def test_env_close_while_threads_read_raises_the_closed_error_everywhere(env_path) -> None:
    for round_ in range(5):
        close_while_reading(env_path, 200 * (round_ + 1))
