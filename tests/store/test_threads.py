"""Thread safety under concurrent put/get/delete/flush (spec: Thread safety)."""

from __future__ import annotations

import random
import threading

from zlmdb.store import LmdbObjectStore


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_eight_threads_mixing_operations_match_a_dict_model(tmp_path):
    store = LmdbObjectStore(str(tmp_path / "db"), batch_size=16)
    models = [dict() for _ in range(8)]
    errors = []

    def worker(n: int) -> None:
        rnd = random.Random(n)
        model = models[n]
        try:
            for i in range(400):
                key = b"t%d-%03d" % (n, rnd.randrange(60))
                op = rnd.random()
                if op < 0.4:
                    store.put(key, (n, i))
                    model[key] = (n, i)
                elif op < 0.6:
                    store.delete(key)
                    model.pop(key, None)
                elif op < 0.95:
                    assert store.get(key) == model.get(key)
                else:
                    store.flush()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    _run([threading.Thread(target=worker, args=(n,)) for n in range(8)])
    assert errors == []
    expected = {}
    for model in models:
        expected.update(model)
    assert dict(store.items()) == expected
    store.close()


def test_concurrent_get_many_and_put_many(tmp_path):
    store = LmdbObjectStore(str(tmp_path / "db"))
    store.put_many({b"k%03d" % i: i for i in range(100)})
    errors = []

    def reader() -> None:
        for _ in range(50):
            found, missing = store.get_many([b"k%03d" % i for i in range(100)])
            if missing or found[b"k050"] not in (50, -50):
                errors.append((missing, found[b"k050"]))

    def writer() -> None:
        for j in range(50):
            store.put_many({b"k050": -50 if j % 2 else 50})

    _run([threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)])
    assert errors == []
    store.close()


def test_iteration_during_concurrent_writes_sees_each_key_once(tmp_path):
    store = LmdbObjectStore(str(tmp_path / "db"))
    store.put_many({b"k%05d" % i: i for i in range(2000)})
    seen = []

    def iterate() -> None:
        seen.extend(store.keys())

    def write() -> None:
        for i in range(200):
            store.put(b"k%05d" % (i * 7), -i)

    _run([threading.Thread(target=iterate), threading.Thread(target=write)])
    assert seen == sorted(set(seen)) and len(seen) == 2000
    store.close()


def test_read_in_progress_does_not_block_writers(tmp_path):
    """A get() deserializing its value holds no lock: a put+flush can run meanwhile."""
    done = threading.Event()
    holder = {}

    def loads(data):
        writer = threading.Thread(
            target=lambda: (holder["store"].put(b"w", b"1"), holder["store"].flush(), done.set())
        )
        writer.start()
        holder["wrote"] = done.wait(60)  # a deadlock would show as False, not as a hang
        writer.join()
        return bytes(data)

    store = LmdbObjectStore(str(tmp_path / "db"), serializer=(bytes, loads))
    holder["store"] = store
    store.put_many({b"k": b"v"})
    assert store.get(b"k") == b"v"
    assert holder["wrote"] is True
    store.close()


def test_map_resize_during_deserialization_keeps_the_value_intact(tmp_path):
    """get() hands the deserializer a private copy: the map may grow (and be remapped)
    while it runs, and the value read stays correct."""
    seen = {}
    holder = {}

    def loads(data):
        store = holder["store"]
        if "grown" not in seen:
            before = store.env.info()["map_size"]
            writer = threading.Thread(
                target=store.put_many, args=({b"big%d" % i: b"x" * 100_000 for i in range(30)},)
            )
            writer.start()
            writer.join()  # the resize completes while this read's value is in use
            seen["grown"] = store.env.info()["map_size"] > before
            seen["value"] = bytes(data)
        return bytes(data)

    store = LmdbObjectStore(str(tmp_path / "db"), map_size=1 << 20, serializer=(bytes, loads))
    holder["store"] = store
    store.put_many({b"k": b"v"})
    assert store.get(b"k") == b"v"
    assert seen == {"grown": True, "value": b"v"}
    assert store.get(b"big29") == b"x" * 100_000
    store.close()


def test_read_your_writes_while_read_misses_hand_the_buffer_to_the_committer(tmp_path):
    # Every read miss of another thread hands the buffer over, so each thread's last write
    # keeps moving buffer -> handed -> in flight -> LMDB while the thread reads it back
    # (single-key reads with an empty buffer look at those stages without the lock).
    store = LmdbObjectStore(str(tmp_path / "db"))
    errors = []

    def worker(n: int) -> None:
        key = b"own-%d" % n
        try:
            for i in range(1500):
                store.put(key, i)
                store.get(b"miss-%d-%d" % (n, i))  # a miss: hands the buffer over
                got = store.get(key)
                if got != i or not store.exists(key):
                    errors.append((n, i, got))
                    return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    _run([threading.Thread(target=worker, args=(n,)) for n in range(4)])
    assert errors == []
    store.close()
    reopened = LmdbObjectStore(str(tmp_path / "db"))
    assert {k: reopened.get(k) for k in (b"own-%d" % n for n in range(4))} == {
        b"own-%d" % n: 1499 for n in range(4)
    }
    reopened.close()
