"""The write buffer, flush triggers, get_many and put_many (spec: Buffering, Methods)."""

from __future__ import annotations

import pickle

import pytest

import zlmdb.lmdb as lmdb


def _in_lmdb(store, key: bytes) -> bool:
    with store.env.begin() as txn:
        return txn.get(key) is not None


def test_puts_stay_buffered_below_batch_size(make_store):
    store = make_store(batch_size=3)
    store.put(b"a", 1)
    store.put(b"b", 2)
    assert len(store.write_buffer) == 2
    assert not _in_lmdb(store, b"a")


def test_reaching_batch_size_flushes(make_store):
    store = make_store(batch_size=3)
    for key in (b"a", b"b", b"c"):
        store.put(key, 1)
    assert store.write_buffer == {}
    assert _in_lmdb(store, b"c")


def test_overwrite_counts_once(make_store):
    store = make_store(batch_size=3)
    store.put(b"a", 1)
    store.put(b"a", 2)
    store.delete(b"a")
    assert len(store.write_buffer) == 1


def test_batch_size_one_writes_through(make_store):
    store = make_store(batch_size=1)
    store.put(b"a", 1)
    assert _in_lmdb(store, b"a")


def test_batch_size_zero_writes_through(make_store):
    store = make_store(batch_size=0)
    store.delete(b"a")
    assert store.write_buffer == {}


def test_read_of_buffered_key_does_not_flush(make_store):
    store = make_store()
    store.put(b"a", 1)
    assert store.get(b"a") == 1
    assert b"a" in store.write_buffer


def test_read_miss_flushes_with_autoflush(make_store):
    # The read hands the buffer to the background committer and does not wait for the
    # commit: the entry is readable through the store at once, on disk once flush() returns.
    store = make_store()
    store.put(b"a", 1)
    store.get(b"other")
    assert store.write_buffer == {}
    assert store.get(b"a") == 1
    store.flush()
    assert _in_lmdb(store, b"a")


def test_read_miss_commit_lands_without_an_explicit_flush(make_store):
    store = make_store()
    store.put(b"a", 1)
    store.get(b"other")
    with store.condition:
        assert store.condition.wait_for(
            lambda: not store._handed and store._inflight is None and not store._queued, 60
        )
    assert _in_lmdb(store, b"a")


def test_read_miss_keeps_buffer_without_autoflush(make_store):
    store = make_store(autoflush_on_read=False)
    store.put(b"a", 1)
    assert store.get(b"other") is None
    assert b"a" in store.write_buffer


def test_buffered_delete_hides_stored_value_without_autoflush(make_store):
    store = make_store(autoflush_on_read=False)
    store.put_many({b"a": 1})
    store.delete(b"a")
    assert store.get(b"a", "gone") == "gone"


def test_exists_flush_true_flushes_even_without_autoflush(make_store):
    store = make_store(autoflush_on_read=False)
    store.put(b"a", 1)
    store.exists(b"zz", flush=True)
    assert store.write_buffer == {}


def test_exists_flush_false_does_not_flush(make_store):
    store = make_store()
    store.put(b"a", 1)
    store.exists(b"zz", flush=False)
    assert b"a" in store.write_buffer


def test_flush_on_empty_buffer_still_checks_closed(make_store):
    store = make_store()
    store.close()
    with pytest.raises(lmdb.Error, match="closed"):
        store.flush()


def test_flush_sync_true_writes(make_store):
    store = make_store(sync=False)
    store.put(b"a", 1)
    store.flush(sync=True)
    assert _in_lmdb(store, b"a")


def test_internal_flushes_use_the_patched_flush(make_store):
    store = make_store(batch_size=2)
    calls = []
    original = store._flush
    store._flush = lambda: (calls.append(1), original())
    store.put(b"a", 1)
    store.put(b"b", 1)
    assert calls == [1]


def test_unstorable_empty_key_does_not_poison_the_buffer(make_store):
    store = make_store()
    store.put(b"", 1)
    store.put(b"good", 2)
    with pytest.raises(lmdb.BadValsizeError, match="1 buffered entry not written"):
        store.flush()
    assert store.write_buffer == {}
    assert _in_lmdb(store, b"good")


def test_flush_after_dropped_key_works_again(make_store):
    store = make_store()
    store.put(b"", 1)
    with pytest.raises(lmdb.BadValsizeError):
        store.flush()
    store.put(b"next", 3)
    store.flush()
    assert _in_lmdb(store, b"next")


# -- get_many ----------------------------------------------------------------------------------


def test_get_many_mixes_buffer_and_lmdb(db):
    db.put_many({"a": 1, "b": 2})
    db["c"] = 3
    db.delete("b")
    found, missing = db.get_many(["a", "b", "c", "d"])
    assert found == {b"a": 1, b"c": 3}
    assert missing == ["b", "d"]


def test_get_many_found_is_in_request_order(db):
    db.put_many({"a": 1, "b": 2})
    db["c"] = 3
    found, _ = db.get_many(["c", "b", "a"])
    assert list(found) == [b"c", b"b", b"a"]


def test_get_many_keeps_original_missing_keys_and_duplicates(db):
    key = bytearray(b"x")
    found, missing = db.get_many([key, "x", key])
    assert found == {}
    assert missing == [key, "x", key]
    assert missing[0] is key


def test_get_many_decode_keys(db):
    db["a"] = 1
    found, missing = db.get_many([b"a", b"z"], decode_keys=True)
    assert found == {"a": 1}
    assert missing == ["z"]


def test_get_many_decode_not_found_false_keeps_bytes(db):
    found, missing = db.get_many([b"z"], decode_keys=True, decode_not_found=False)
    assert missing == [b"z"]


def test_get_many_decode_without_encoding_is_value_error(make_store):
    store = make_store()
    with pytest.raises(ValueError):
        store.get_many([b"a"], decode_keys=True)


def test_get_many_accepts_any_iterable(db):
    db["a"] = 1
    found, _ = db.get_many(k for k in ["a"])
    assert found == {b"a": 1}


def test_get_many_none_is_type_error(db):
    with pytest.raises(TypeError):
        db.get_many(None)


def test_get_many_empty(db):
    assert db.get_many([]) == ({}, [])


def test_get_many_without_lmdb_keys_does_not_flush(db):
    db["a"] = 1
    db.get_many(["a"])
    assert b"a" in db.write_buffer


# -- put_many ----------------------------------------------------------------------------------


def test_put_many_bypasses_the_buffer(db):
    db.put_many({"a": 1})
    assert db.write_buffer == {}
    assert _in_lmdb(db, b"a")


def test_put_many_flushes_pending_buffer_once(db):
    db["x"] = 0
    calls = []
    original = db._flush
    db._flush = lambda: (calls.append(1), original())
    db.put_many({"a": 1, "b": 2})
    assert calls == [1]


def test_put_many_last_write_wins(db):
    db.put_many([("a", 1), ("a", 2)])
    assert db["a"] == 2


def test_put_many_from_generator(db):
    db.put_many((f"k{i}", i) for i in range(5))
    assert db["k4"] == 4


def test_put_many_is_atomic_on_bad_key(db):
    with pytest.raises(TypeError):
        db.put_many([("a", 1), (None, 2)])
    assert db.get("a") is None


def test_put_many_is_atomic_on_unpicklable_value(db):
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        db.put_many({"a": 1, "b": lambda: 0})
    assert db.get("a") is None


def test_put_many_sentinel_value_deletes(db):
    db.put_many({"a": 1})
    db.put_many({"a": db._DELETION_SENTINEL})
    assert "a" not in db


def test_put_many_atomic_when_map_cannot_grow(make_store):
    store = make_store(map_size=1 << 20, max_map_size=1 << 20, serializer="raw")
    with pytest.raises(lmdb.MapFullError):
        store.put_many({b"k%d" % i: b"x" * 100_000 for i in range(30)})
    assert store.get(b"k0") is None
