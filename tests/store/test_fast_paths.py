"""The shortcuts of the hot paths give the same answers as the general paths.

A flush of puts only hands the buffer to LMDB in one call; get_many with an empty buffer
reads every key in one call; single-key reads skip the buffer when nothing is pending.
Each test drives the shortcut into the case it must hand back to the general path.
"""

from __future__ import annotations

import pickle

import pytest

import zlmdb.lmdb as lmdb


def _stored(store, key: bytes):
    with store.env.begin() as txn:
        raw = txn.get(key)
    return None if raw is None else pickle.loads(raw)


# -- flush -------------------------------------------------------------------------------------


def test_flush_of_puts_only_writes_every_entry(make_store):
    store = make_store()
    for i in range(50):
        store.put(b"k%02d" % i, i)
    store.flush()
    assert [_stored(store, b"k%02d" % i) for i in range(50)] == list(range(50))


def test_flush_with_a_delete_deletes_and_puts(make_store):
    store = make_store()
    store.put_many({b"old": 1})
    store.put(b"new", 2)
    store.delete(b"old")
    store.flush()
    assert _stored(store, b"old") is None
    assert _stored(store, b"new") == 2


def test_deletion_marker_put_into_the_buffer_directly_deletes(make_store):
    store = make_store()
    store.put_many({b"gone": 1})
    store.put(b"kept", 2)
    store.write_buffer[b"gone"] = store._DELETION_SENTINEL
    store.flush()
    assert _stored(store, b"gone") is None
    assert _stored(store, b"kept") == 2


def test_oversize_key_put_into_the_buffer_directly_is_dropped_alone(make_store):
    store = make_store()
    store.put(b"a", 1)
    store.write_buffer[b"x" * 600] = pickle.dumps(0)
    store.put(b"z", 3)
    with pytest.raises(lmdb.BadValsizeError, match="1 buffered entry not written"):
        store.flush()
    assert (_stored(store, b"a"), _stored(store, b"z")) == (1, 3)
    assert store.write_buffer == {}


def test_delete_survives_a_failed_commit_and_is_written_by_the_next(make_store):
    store = make_store(map_size=64 * 1024, max_map_size=64 * 1024)
    store.put_many({b"victim": 1})
    store.delete(b"victim")
    store.put(b"big", b"x" * 200_000)
    with pytest.raises(lmdb.MapFullError):
        store.flush()
    del store.write_buffer[b"big"]
    store.flush()
    assert _stored(store, b"victim") is None


# -- get_many with nothing buffered ------------------------------------------------------------


def test_get_many_unbuffered_reports_oversize_keys_missing(make_store):
    store = make_store()
    store.put_many({b"a": 1})
    long_key = b"y" * 600
    assert store.get_many([b"a", long_key]) == ({b"a": 1}, [long_key])


def test_get_many_unbuffered_empty_key_raises_like_get(make_store):
    store = make_store()
    store.put_many({b"a": 1})
    with pytest.raises(lmdb.BadValsizeError):
        store.get(b"")
    with pytest.raises(lmdb.BadValsizeError):
        store.get_many([b"a", b""])


def test_get_many_unbuffered_duplicates_and_order(make_store):
    store = make_store()
    store.put_many({b"a": 1, b"b": 2})
    found, missing = store.get_many([b"b", b"x", b"a", b"b", b"x"])
    assert list(found.items()) == [(b"b", 2), (b"a", 1)]
    assert missing == [b"x", b"x"]


def test_get_many_unbuffered_keeps_original_key_objects(make_store):
    store = make_store(key_encoding="utf-8")
    store.put_many({"a": 1})
    missing_key = bytearray(b"nope")
    found, missing = store.get_many(["a", missing_key])
    assert found == {b"a": 1}
    assert missing[0] is missing_key


def test_get_many_unbuffered_undecodable_value_names_the_key(make_store):
    store = make_store()
    with store.env.begin(write=True) as txn:
        txn.put(b"junk", b"not a pickle")
    with pytest.raises(RuntimeError, match="Failed to unpickle DB key 'junk'"):
        store.get_many([b"junk"])


def test_get_many_unbuffered_on_a_closed_store_raises(make_store):
    store = make_store()
    store.close()
    with pytest.raises(lmdb.Error, match="closed"):
        store.get_many([b"a"])


# -- single-key reads --------------------------------------------------------------------------


def test_get_sees_entries_of_a_commit_in_flight(make_store):
    store = make_store(autoflush_on_read=False)
    store.put(b"k", 1)
    store._inflight = dict(store.write_buffer)  # as a flush does while it commits
    store.write_buffer.clear()
    try:
        assert store.get(b"k") == 1
        assert store.exists(b"k")
    finally:
        store.write_buffer.update(store._inflight)
        store._inflight = None


def test_exists_flush_true_commits_even_when_the_key_is_missing(make_store):
    store = make_store(autoflush_on_read=False)
    store.put(b"a", 1)
    assert not store.exists(b"zzz", flush=True)
    assert store.write_buffer == {}
    assert _stored(store, b"a") == 1
