"""Single-key methods, the dict protocol, closed/readonly errors (spec: Methods, Errors)."""

from __future__ import annotations

import pickle
from collections.abc import MutableMapping

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def test_module_exports_the_store():
    import zlmdb.store

    assert "LmdbObjectStore" in zlmdb.store.__all__


def test_put_then_get_returns_equal_object(db):
    db.put("k", {"a": [1, 2]})
    assert db.get("k") == {"a": [1, 2]}


def test_get_missing_returns_default(db):
    assert db.get("nope", 7) == 7


def test_value_is_pickled_at_put_time(db):
    value = [1]
    db.put("k", value)
    value.append(2)
    assert db.get("k") == [1]


def test_unpicklable_value_raises_and_buffers_nothing(db):
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        db.put("k", lambda: None)
    assert db.write_buffer == {}


def test_stored_bytes_are_raw_highest_protocol_pickle(db):
    db.put("k", {"x": 1})
    db.flush()
    with db.env.begin() as txn:
        assert txn.get(b"k") == pickle.dumps({"x": 1}, protocol=pickle.HIGHEST_PROTOCOL)


def test_corrupt_db_value_raises_runtime_error_chained(db):
    with db.env.begin(write=True) as txn:
        txn.put(b"bad", b"NOT A PICKLE")
    with pytest.raises(RuntimeError, match="Failed to unpickle DB key 'bad'") as info:
        db.get("bad")
    assert info.value.__cause__ is not None


def test_corrupt_buffered_value_raises_runtime_error(db):
    db.write_buffer[b"bad"] = b"junk"
    with pytest.raises(RuntimeError, match="Failed to unpickle buffered key"):
        db.get("bad")


def test_delete_missing_key_is_silent(db):
    db.delete("never-there")
    db.flush()
    assert db.get("never-there") is None


def test_delete_puts_sentinel_in_buffer(db):
    db.delete("k")
    assert db.write_buffer[b"k"] is db._DELETION_SENTINEL


def test_delete_after_flush_removes_key(db):
    db["k"] = 1
    db.flush()
    db.delete("k")
    db.flush()
    assert "k" not in db


def test_exists_returns_real_bool(db):
    db["k"] = 0
    assert db.exists("k") is True
    assert db.exists("x") is False


def test_getitem_missing_raises_keyerror(db):
    with pytest.raises(KeyError, match="Key not found"):
        db["missing"]


def test_delitem_missing_raises_keyerror(db):
    with pytest.raises(KeyError, match="Key not found"):
        del db["missing"]


def test_delitem_existing_removes(db):
    db["k"] = 1
    del db["k"]
    assert "k" not in db


def test_contains_never_flushes(db):
    db["a"] = 1
    flushes = []
    db._flush = lambda: flushes.append(1)
    assert "zzz" not in db
    assert flushes == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.put(b"k", 1),
        lambda s: s.put_many({b"k": 1}),
        lambda s: s.get(b"k"),
        lambda s: s.get_many([b"k"]),
        lambda s: s.exists(b"k"),
        lambda s: s.delete(b"k"),
        lambda s: s.flush(),
        lambda s: s[b"k"],
        lambda s: b"k" in s,
        lambda s: s.__delitem__(b"k"),
        lambda s: len(s),
        lambda s: list(s),
    ],
)
def test_every_method_fails_after_close(make_store, call):
    store = make_store()
    store.close()
    with pytest.raises(lmdb.Error, match="closed"):
        call(store)


def _readonly(tmp_path):
    path = str(tmp_path / "ro")
    with LmdbObjectStore(path) as w:
        w[b"k"] = 1
    return LmdbObjectStore(path, readonly=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.put(b"x", 1),
        lambda s: s.put_many({b"x": 1}),
        lambda s: s.delete(b"x"),
        lambda s: s.flush(),
        lambda s: s.__setitem__(b"x", 1),
        lambda s: s.__delitem__(b"k"),
        lambda s: s.clear(),
    ],
)
def test_writes_fail_on_readonly_store(tmp_path, call):
    store = _readonly(tmp_path)
    try:
        with pytest.raises(lmdb.Error, match="read-only"):
            call(store)
    finally:
        store.close()


def test_readonly_store_reads(tmp_path):
    store = _readonly(tmp_path)
    try:
        assert store[b"k"] == 1
    finally:
        store.close()


def test_readonly_delitem_of_missing_key_is_keyerror(tmp_path):
    store = _readonly(tmp_path)
    try:
        with pytest.raises(KeyError):
            del store[b"missing"]
    finally:
        store.close()


def test_readonly_open_of_missing_path_raises(tmp_path):
    with pytest.raises((lmdb.Error, OSError)):
        LmdbObjectStore(str(tmp_path / "nope"), readonly=True)


def test_unknown_open_option_is_type_error(tmp_path):
    with pytest.raises(TypeError):
        LmdbObjectStore(str(tmp_path / "db"), no_such_option=1)


def test_subdir_false_uses_a_file(tmp_path):
    path = tmp_path / "file.mdb"
    with LmdbObjectStore(str(path), subdir=False) as store:
        store[b"k"] = 1
    assert path.is_file()
    assert (tmp_path / "file.mdb-lock").is_file()


def test_pathlike_path_is_accepted(tmp_path):
    with LmdbObjectStore(tmp_path / "db") as store:
        store[b"k"] = 1
        assert store.db_path == str(tmp_path / "db")


def test_public_attributes(make_store):
    store = make_store(
        batch_size=5, autoflush_on_read=False, key_encoding="utf-8", max_map_size=1 << 30
    )
    assert (store.batch_size, store.autoflush_on_read, store.key_encoding) == (5, False, "utf-8")
    assert (store.key_errors, store.str_normalize, store.max_map_size) == ("strict", None, 1 << 30)
    assert isinstance(store.write_buffer, dict)
    assert store.condition is not None and store.lock is not None


def test_is_a_mutable_mapping(db):
    assert isinstance(db, MutableMapping)


def test_empty_store_is_truthy_like_the_peer(db):
    assert bool(db) is True


def test_store_is_hashable_and_compares_by_identity(make_store):
    a = make_store("a")
    b = make_store("b")
    assert a != b and a == a
    assert len({a, b}) == 2


def test_batch_size_must_be_a_number(tmp_path):
    with pytest.raises(TypeError, match="batch_size must be a number"):
        LmdbObjectStore(str(tmp_path / "db"), batch_size="10")
    with pytest.raises(TypeError):
        LmdbObjectStore(str(tmp_path / "db"), batch_size=None)


def test_max_map_size_must_not_be_negative(tmp_path):
    with pytest.raises(ValueError, match="must not be negative"):
        LmdbObjectStore(str(tmp_path / "db"), max_map_size=-1)
    with pytest.raises(TypeError, match="max_map_size must be a number"):
        LmdbObjectStore(str(tmp_path / "db"), max_map_size="1G")
