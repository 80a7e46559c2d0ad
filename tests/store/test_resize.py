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
