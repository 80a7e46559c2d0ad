"""The store under 8 threads at once (run on free-threaded CPython too): every operation
kind mixed against a dict model per thread, with read misses handing the buffer to the
committer, and two stores (two named databases) sharing one environment."""

from __future__ import annotations

import pickle
import random
import threading

import pytest
from threadutil import run_threads

from zlmdb.store import LmdbObjectStore

THREADS = 8


def mixed_worker(store: LmdbObjectStore, n: int, model: dict, ops: int) -> None:
    rnd = random.Random(1000 + n)

    def key(i: int) -> bytes:
        return b"s%d-%03d" % (n, i)

    for i in range(ops):
        k = key(rnd.randrange(80))
        op = rnd.random()
        if op < 0.30:
            store.put(k, (n, i))
            model[k] = (n, i)
        elif op < 0.40:
            store.delete(k)
            model.pop(k, None)
        elif op < 0.45:
            batch = {key(rnd.randrange(80)): (n, i, j) for j in range(5)}
            store.put_many(batch)
            model.update(batch)
        elif op < 0.50:
            assert store.pop(k, None) == model.pop(k, None)
        elif op < 0.70:
            assert store.get(k) == model.get(k)
        elif op < 0.80:
            assert store.exists(k) == (k in model)
        elif op < 0.90:
            wanted = [key(rnd.randrange(80)) for _ in range(6)]
            found, missing = store.get_many(wanted)
            assert found == {w: model[w] for w in wanted if w in model}
            assert missing == [w for w in wanted if w not in model]
        elif op < 0.95:
            store.get(b"miss-%d-%d" % (n, i))  # a read miss: hands the buffer over
        else:
            store.flush()


def test_flush_and_put_many_return_after_entries_handed_over_meanwhile_are_committed(
    tmp_path,
) -> None:
    # Writers flush (or put_many, which flushes first) while read misses keep handing the
    # buffer to the committer, whose commits take the handed-over entries only. A flush that
    # waited for such a commit, while its own entries were handed over, once returned with
    # them still in _handed: LMDB lacked them, and a put_many's newer values were then
    # overwritten by the committer (seen as a lost write in the test below).
    store = LmdbObjectStore(str(tmp_path / "db"), batch_size=1000, sync=False)
    stop = threading.Event()
    db = store._db

    def writer(n: int) -> None:
        for i in range(1500):
            key = b"w%d-%d" % (n, i % 7)
            store.put(key, i)
            if i % 2:
                store.flush()
            else:
                store.put_many({b"x%d" % n: i})
            raw = store.env.get(key, None, db)
            assert raw is not None and pickle.loads(raw) == i, (key, i)

    def misser(n: int) -> None:
        i = 0
        while not stop.is_set():
            store.put(b"m%d" % n, i)
            store.get(b"miss-%d" % i)  # hands the buffer over
            i += 1

    def writers() -> None:
        try:
            assert run_threads([lambda n=n: writer(n) for n in range(4)]) == []
        finally:
            stop.set()

    assert run_threads([writers] + [lambda n=n: misser(n) for n in range(2)]) == []
    store.close()


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_eight_threads_all_operations_against_dict_models(tmp_path, batch_size) -> None:
    store = LmdbObjectStore(str(tmp_path / "db"), batch_size=batch_size)
    models = [dict() for _ in range(THREADS)]
    workers = [lambda n=n: mixed_worker(store, n, models[n], 600) for n in range(THREADS)]
    assert run_threads(workers) == []
    expected: dict = {}
    for model in models:
        expected.update(model)
    assert dict(store.items()) == expected
    assert len(store) == len(expected)
    store.close()
    reopened = LmdbObjectStore(str(tmp_path / "db"))
    assert dict(reopened.items()) == expected
    reopened.close()


def test_two_named_stores_on_one_environment_from_eight_threads(tmp_path) -> None:
    path = str(tmp_path / "db")
    stores = [LmdbObjectStore(path, batch_size=5, name="a", max_dbs=4)]
    stores.append(LmdbObjectStore(path, batch_size=5, name="b", max_dbs=4))
    assert stores[0].env is stores[1].env  # one environment per data file
    models = [dict() for _ in range(THREADS)]
    workers = [lambda n=n: mixed_worker(stores[n % 2], n, models[n], 400) for n in range(THREADS)]
    assert run_threads(workers) == []
    for which, store in enumerate(stores):
        expected: dict = {}
        for n in range(which, THREADS, 2):
            expected.update(models[n])
        assert dict(store.items()) == expected
    for store in stores:
        store.close()


def test_stores_opened_on_named_databases_from_several_threads(tmp_path) -> None:
    path = str(tmp_path / "db")
    first = LmdbObjectStore(path, name="seed", max_dbs=THREADS + 2)
    got: dict = {}
    barrier = threading.Barrier(THREADS)

    def opener(n: int) -> None:
        barrier.wait()
        store = LmdbObjectStore(path, name=f"n{n}", max_dbs=THREADS + 2)
        store.put(b"who", n)
        store.flush()
        got[n] = store

    assert run_threads([lambda n=n: opener(n) for n in range(THREADS)]) == []
    for n, store in got.items():
        assert store.get(b"who") == n
        assert len(store) == 1
    for store in got.values():
        store.close()
    first.close()


class FlakyCommits:
    """Wraps the store's commit step (real LMDB underneath): a seeded share of commits fail
    with OSError before they write anything, as a disk error would."""

    def __init__(self, monkeypatch, rate: float, seed: int) -> None:
        import zlmdb.store._store as store_module

        self.real = store_module._commit_buffer
        self.rate = rate
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.enabled = True
        self.failed = 0
        monkeypatch.setattr(store_module, "_commit_buffer", self)

    def __call__(self, *args, **kwargs):
        with self.lock:
            fail = self.enabled and self.rnd.random() < self.rate
            self.failed += fail
        if fail:
            raise OSError("injected commit failure")
        return self.real(*args, **kwargs)


def faulty_worker(store: LmdbObjectStore, n: int, model: dict, ops: int, pops: bool) -> None:
    """Like mixed_worker, while commits fail: a put/delete whose triggered flush fails is
    still buffered; a failed put_many wrote nothing; a read that raises is not checked."""
    rnd = random.Random(7000 + n)

    def key(i: int) -> bytes:
        return b"s%d-%03d" % (n, i)

    for i in range(ops):
        k = key(rnd.randrange(40))
        op = rnd.random()
        try:
            if op < 0.25:
                model[k] = (n, i)
                store.put(k, (n, i))
            elif op < 0.35:
                model.pop(k, None)
                store.delete(k)
            elif op < 0.42:
                batch = {key(rnd.randrange(40)): (n, i, j) for j in range(4)}
                store.put_many(batch)
                model.update(batch)
            elif op < 0.47 and pops:  # only without triggered flushes: then pop raising
                assert store.pop(k, None) == model.pop(k, None)  # means nothing was deleted
            elif op < 0.65:
                assert store.get(k) == model.get(k)
            elif op < 0.75:
                assert store.exists(k) == (k in model)
            elif op < 0.85:
                wanted = [key(rnd.randrange(40)) for _ in range(5)]
                found, _ = store.get_many(wanted)
                assert found == {w: model[w] for w in wanted if w in model}
            elif op < 0.93:
                store.get(b"miss-%d-%d" % (n, i))
            else:
                store.flush()
        except OSError:
            pass


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_eight_threads_against_dict_models_while_commits_fail(
    tmp_path, monkeypatch, caplog, batch_size
) -> None:
    # Found a deadlock (two writes growing the map at once) and checks the failure paths:
    # batches put back into the buffer, put_many and reads around them.
    import logging

    caplog.set_level(logging.CRITICAL, logger="zlmdb.store")
    flaky = FlakyCommits(monkeypatch, 0.3, seed=batch_size)
    store = LmdbObjectStore(str(tmp_path / "db"), batch_size=batch_size, sync=False)
    models = [dict() for _ in range(THREADS)]
    pops = batch_size >= 1000
    workers = [lambda n=n: faulty_worker(store, n, models[n], 3000, pops) for n in range(THREADS)]
    assert run_threads(workers) == []
    assert flaky.failed > 10
    flaky.enabled = False
    store.flush()
    expected: dict = {}
    for model in models:
        expected.update(model)
    assert dict(store.items()) == expected
    store.close()
    reopened = LmdbObjectStore(str(tmp_path / "db"))
    assert dict(reopened.items()) == expected
    reopened.close()
