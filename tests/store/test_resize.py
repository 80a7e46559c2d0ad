"""Automatic map growth, the max_map_size cap, and maps grown by other processes."""

from __future__ import annotations

import logging

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore

MIB = 1 << 20


def test_flush_grows_a_full_map(make_store, caplog):
    store = make_store(map_size=512 * 1024, max_map_size=20 * MIB, serializer="raw")
    with caplog.at_level(logging.WARNING, logger="zlmdb.store"):
        for i in range(20):
            store.put(b"k%02d" % i, b"x" * 100_000)
        store.flush()
    assert "growing mapsize from 524288 to 20971520" in caplog.text
    assert store.env.info()["map_size"] == 20 * MIB
    assert store[b"k19"] == b"x" * 100_000


def test_map_grows_several_times_up_to_the_cap(make_store, caplog):
    store = make_store(map_size=MIB, max_map_size=100 * MIB, batch_size=8, serializer="raw")
    blob = b"\x01" * MIB
    with caplog.at_level(logging.WARNING, logger="zlmdb.store"):
        for i in range(80):
            store.put(b"blob%03d" % i, blob)
        store.flush()
    grows = [r for r in caplog.records if "growing mapsize" in r.getMessage()]
    assert len(grows) == 2
    assert store.env.info()["map_size"] == 100 * MIB
    assert len(store) == 80


def test_full_map_at_cap_raises_and_keeps_buffer(make_store):
    store = make_store(map_size=MIB, max_map_size=MIB, serializer="raw")
    for i in range(20):
        store.put(b"k%02d" % i, b"x" * 100_000)
    with pytest.raises(lmdb.MapFullError, match="configured maximum"):
        store.flush()
    assert len(store.write_buffer) == 20


def test_grown_file_reopens_with_its_original_small_map_size(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, map_size=MIB, serializer="raw") as store:
        store.put_many({b"k%d" % i: b"x" * 100_000 for i in range(20)})
    with LmdbObjectStore(path, map_size=MIB, serializer="raw") as again:
        assert again[b"k19"] == b"x" * 100_000


def test_unbounded_growth_without_max(make_store):
    store = make_store(map_size=MIB, serializer="raw")
    store.put_many({b"k%d" % i: b"x" * 100_000 for i in range(20)})
    assert store.env.info()["map_size"] == MIB + 64 * MIB


def test_transaction_survives_growth(make_store):
    store = make_store(map_size=MIB, serializer="raw")
    with store.transaction():
        for i in range(20):
            store[b"k%02d" % i] = b"x" * 100_000
        assert store[b"k00"] == b"x" * 100_000
    assert len(store) == 20


_GROW_IN_CHILD = """
import sys
from zlmdb.store import LmdbObjectStore
with LmdbObjectStore(sys.argv[1], map_size=64 << 20, serializer="raw") as db:
    db.put_many({b"child%02d" % i: b"y" * 100_000 for i in range(40)})
"""


def test_read_after_another_process_grew_the_map(tmp_path, run_child):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, map_size=MIB, serializer="raw") as store:
        store.put_many({b"mine": b"1"})
        run_child(_GROW_IN_CHILD, path)
        assert store[b"child39"] == b"y" * 100_000


def test_write_after_another_process_grew_the_map(tmp_path, run_child):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, map_size=MIB, serializer="raw") as store:
        store.put_many({b"mine": b"1"})
        run_child(_GROW_IN_CHILD, path)
        store.put_many({b"after": b"2"})
        assert store.env.info()["map_size"] >= 64 * MIB
        assert store[b"after"] == b"2"


def _big_transaction(store):
    with store.transaction():
        for i in range(20):
            store.put(b"p%02d" % i, b"p" * 100_000)


@pytest.mark.parametrize(
    "write",
    [
        lambda store: store.put_many({b"p%02d" % i: b"p" * 100_000 for i in range(20)}),
        _big_transaction,
    ],
    ids=["put_many", "transaction"],
)
def test_flush_does_not_write_while_another_threads_write_grows_the_map(
    tmp_path, monkeypatch, write
):
    # A put_many fills the map; growing it waits for a reader with the lock released. A
    # flush of another thread then took its batch, began its own write, filled the map too
    # and waited for that resize; when the put_many finished it reset the writer (the one
    # slot it had saved and restored), and the flush waited for itself forever; a
    # transaction() growing the map was rolled back by the flush's commit. Now every write
    # holds the environment's write slot, so the flush waits for the other write first.
    import threading

    import zlmdb.store._store as store_module

    store = LmdbObjectStore(str(tmp_path / "db"), map_size=MIB, serializer="raw")
    real_resize = store_module._resize_map
    resizing = threading.Event()

    def resize(shared, size):
        resizing.set()
        return real_resize(shared, size)

    monkeypatch.setattr(store_module, "_resize_map", resize)
    real_commit = store_module._commit_buffer
    flushing = threading.Event()

    def commit(*args, **kwargs):
        flushing.set()
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(store_module, "_commit_buffer", commit)
    with store.lock:
        store._enter_read_locked()  # an open read (as get_many's): the resize waits for it
    errors = []

    def run(fn):
        def target():
            try:
                fn()
            except Exception as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    writer = run(lambda: write(store))
    assert resizing.wait(60)
    for i in range(20):
        store.put(b"f%02d" % i, b"f" * 100_000)
    flusher = run(store.flush)
    assert flushing.wait(60)
    store._exit_read()
    writer.join(60)
    flusher.join(60)
    assert not writer.is_alive() and not flusher.is_alive()
    assert errors == []
    assert len(store) == 40
    assert store[b"p19"] == b"p" * 100_000 and store[b"f19"] == b"f" * 100_000
    store.close()
