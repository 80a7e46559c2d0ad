"""Behaviour found by driving lmdb-object-store 0.1.0 and zlmdb.store side by side.

Each test states what the peer does (spec: store-api.md) and checks zlmdb.store does the
same, or the documented improvement.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore

MIB = 1 << 20


# -- constructor options the peer takes without checking --------------------------------------


def test_float_batch_size_flushes_when_the_buffer_reaches_it(make_store):
    store = make_store(batch_size=2.5)
    store.put(b"a", 1)
    store.put(b"b", 2)
    assert len(store.write_buffer) == 2
    store.put(b"c", 3)  # 3 >= 2.5
    assert store.write_buffer == {}
    assert store.batch_size == 2.5


def test_true_batch_size_writes_through(make_store):
    store = make_store(batch_size=True)
    store.put(b"a", 1)
    assert store.write_buffer == {}
    assert store.env.begin().get(b"a") == pickle.dumps(1, protocol=pickle.HIGHEST_PROTOCOL)


def test_zero_max_map_size_never_grows_the_map(make_store):
    store = make_store(map_size=MIB, max_map_size=0, serializer="raw")
    for i in range(20):
        store.put(b"k%02d" % i, b"x" * 100_000)
    with pytest.raises(lmdb.MapFullError, match="configured maximum"):
        store.flush()
    assert store.env.info()["map_size"] == MIB
    assert len(store.write_buffer) == 20
    store.write_buffer.clear()


def test_float_max_map_size_caps_growth_in_whole_bytes(make_store):
    store = make_store(map_size=MIB, max_map_size=4.5 * MIB, serializer="raw")
    for i in range(30):
        store.put(b"k%02d" % i, b"x" * 100_000)
    store.flush()
    assert store.env.info()["map_size"] == int(4.5 * MIB)
    assert store.max_map_size == 4.5 * MIB


def test_infinite_max_map_size_is_unbounded(make_store):
    store = make_store(map_size=MIB, max_map_size=float("inf"), serializer="raw")
    for i in range(30):
        store.put(b"k%02d" % i, b"x" * 100_000)
    store.flush()
    assert store.env.info()["map_size"] > MIB


def test_db_path_keeps_a_bytes_path(tmp_path):
    path = str(tmp_path / "db").encode()
    with LmdbObjectStore(path) as store:
        assert store.db_path == path
        store[b"k"] = 1
    with LmdbObjectStore(Path(path.decode())) as store:
        assert store.db_path == path.decode()
        assert store[b"k"] == 1


# -- messages -----------------------------------------------------------------------------------


def test_str_key_message_is_the_peers(make_store):
    store = make_store()
    with pytest.raises(TypeError) as info:
        store.put("k", 1)
    assert str(info.value) == "str keys are not allowed (set key_encoding='utf-8' etc. to enable)."


@pytest.mark.parametrize("key", [bytearray(b"abc"), bytearray(b"\xff")])
def test_key_error_shows_a_bytearray_key_as_its_repr(db, key):
    with pytest.raises(KeyError) as info:
        db[key]
    assert info.value.args[0] == f"Key not found: {key!r}"
    with pytest.raises(KeyError) as info:
        del db[key]
    assert info.value.args[0] == f"Key not found: {key!r}"


def test_key_error_shows_a_memoryview_key_as_its_repr(db):
    key = memoryview(b"abc")
    with pytest.raises(KeyError, match="Key not found: <memory at 0x"):
        db[key]


def test_get_many_of_none_is_pythons_not_iterable_error(db):
    with pytest.raises(TypeError, match="'NoneType' object is not iterable"):
        db.get_many(None)


# -- order of checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda s, k: s.put(k, 1),
        lambda s, k: s.__setitem__(k, 1),
        lambda s, k: s.delete(k),
    ],
    ids=["put", "setitem", "delete"],
)
def test_closed_and_readonly_are_checked_before_the_key_size(tmp_path, call):
    long_key = b"k" * 600
    closed = LmdbObjectStore(str(tmp_path / "a"))
    closed.close()
    with pytest.raises(lmdb.Error, match="closed") as info:
        call(closed, long_key)
    assert not isinstance(info.value, lmdb.BadValsizeError)
    LmdbObjectStore(str(tmp_path / "b")).close()
    readonly = LmdbObjectStore(str(tmp_path / "b"), readonly=True)
    try:
        with pytest.raises(lmdb.Error, match="read-only"):
            call(readonly, long_key)
    finally:
        readonly.close()
    # An open store still rejects the key at once.
    with LmdbObjectStore(str(tmp_path / "c")) as store:
        with pytest.raises(lmdb.BadValsizeError):
            call(store, long_key)
        assert store.write_buffer == {}


def test_pickling_error_comes_before_the_closed_error(make_store):
    store = make_store()
    store.close()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        store.put(b"k", lambda: 1)


# -- put_many and the empty key -----------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        {b"a": 1, b"": 2},
        [(b"a", 1), (b"", 2)],
        [(b"a", 1), (b"", LmdbObjectStore._DELETION_SENTINEL)],
    ],
    ids=["mapping", "pairs", "delete"],
)
def test_put_many_with_the_empty_key_raises_and_writes_nothing(db, items):
    with pytest.raises(lmdb.BadValsizeError):
        db.put_many(items)
    assert db.get(b"a") is None
    assert db.write_buffer == {}


# -- get_many -----------------------------------------------------------------------------------


def test_get_many_of_a_generator_lists_its_missing_keys(db):
    db[b"a"] = 1
    found, missing = db.get_many(k for k in [b"a", b"nope", b"a", b"nope"])
    assert found == {b"a": 1}
    assert missing == [b"nope", b"nope"]  # the peer's generator case loses these


def test_truthy_decode_not_found_without_encoding_leaves_keys_alone(make_store):
    store = make_store()
    assert store.get_many([b"a"], decode_not_found=1) == ({}, [b"a"])
    with pytest.raises(ValueError):
        store.get_many([b"a"], decode_not_found=True)
    with pytest.raises(ValueError):
        store.get_many([b"a"], decode_keys=1)


# -- subclasses ---------------------------------------------------------------------------------


class Namespaced(LmdbObjectStore):
    """A subclass that normalizes every key its own way (bytes included)."""

    def _norm_key(self, key):
        return b"ns:" + super()._norm_key(key)


def test_subclass_norm_key_applies_to_bytes_keys_everywhere(make_store, tmp_path):
    store = Namespaced(str(tmp_path / "ns"))
    try:
        store.put(b"a", 1)
        store[b"b"] = 2
        assert list(store.write_buffer) == [b"ns:a", b"ns:b"]
        store.put_many({b"c": 3})
        assert store.get(b"a") == 1 and store[b"b"] == 2 and store.exists(b"c")
        assert b"c" in store
        assert store.get_many([b"a", b"x"]) == ({b"ns:a": 1}, [b"x"])
        store.delete(b"a")
        store.flush()
        with store.env.begin() as txn:
            assert txn.get(b"ns:b") is not None and txn.get(b"b") is None
            assert txn.get(b"ns:a") is None
    finally:
        store.close()


class Audited(LmdbObjectStore):
    """A subclass that overrides put(); ``db[k] = v`` must go through it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def put(self, key, obj):
        self.seen.append(key)
        super().put(key, obj)


def test_setitem_calls_an_overridden_put(tmp_path):
    with Audited(str(tmp_path / "a")) as store:
        store[b"k"] = 1
        store.update({b"j": 2})
        assert store.seen == [b"k", b"j"]
        assert store[b"k"] == 1


def test_base_class_setitem_is_put_itself():
    assert LmdbObjectStore.__setitem__ is LmdbObjectStore.put


# -- small and large flushes --------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 5, 47, 48, 200])
def test_flush_of_puts_and_deletes_at_every_batch_size(make_store, n):
    store = make_store(batch_size=10**6)
    store.put_many({b"old%04d" % i: i for i in range(n)})
    for i in range(n):
        store.put(b"new%04d" % i, i)
        store.delete(b"old%04d" % i)
    store.flush()
    assert store.write_buffer == {}
    assert len(store) == n
    assert store.get_many([b"new%04d" % i for i in range(n)])[1] == []
    assert store.get_many([b"old%04d" % i for i in range(n)])[0] == {}


@pytest.mark.parametrize("n", [3, 100])
def test_flush_writes_injected_deletion_markers(make_store, n):
    store = make_store(batch_size=10**6)
    store.put_many({b"k%03d" % i: i for i in range(n)})
    for i in range(n):
        store.write_buffer[b"k%03d" % i] = store._DELETION_SENTINEL
    store.put(b"z", 1)
    store.flush()
    assert len(store) == 1
