"""How real users of lmdb-object-store 0.1.0 use the store, on a real LMDB file.

Each test is a pattern from the peer's README/examples or a side-by-side comparison with
lmdb-object-store (the differential script in the project's diff tools) that a client can
observe: return values, exception types and messages, what is on disk.
"""

from __future__ import annotations

import os
import pickle

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def raw_get(db: LmdbObjectStore, key: bytes):
    """The value under ``key`` as a raw LMDB reader sees it (None if absent)."""
    with db.env.begin() as txn:
        data = txn.get(key)
    return None if data is None else pickle.loads(data)


# -- buffering as clients observe it ------------------------------------------------------------


def test_every_read_miss_empties_the_buffer_even_while_a_commit_is_queued(make_store):
    # lmdb-object-store flushes on every read miss, so ``write_buffer`` is empty after it;
    # clients (and tests written like the peer's) look at len(db.write_buffer). Holding
    # db.lock keeps the background committer from taking the store off its queue, so the
    # second miss finds the store still queued.
    db = make_store(key_encoding="utf-8")
    with db.lock:
        db["a"] = 1
        assert db.get("zz") is None
        assert len(db.write_buffer) == 0
        db["b"] = 2
        assert db.get("zz") is None
        assert len(db.write_buffer) == 0
        db["c"] = 3
        assert db.exists("zz") is False
        assert len(db.write_buffer) == 0
        db["d"] = 4
        assert db.get_many(["zz"]) == ({}, ["zz"])
        assert len(db.write_buffer) == 0
        assert [db.get(k) for k in "abcd"] == [1, 2, 3, 4]
    db.flush()
    assert [raw_get(db, k) for k in (b"a", b"b", b"c", b"d")] == [1, 2, 3, 4]


def test_background_commit_holds_what_was_buffered_at_the_read_miss_only(make_store):
    # lmdb-object-store commits the buffer at a read miss and nothing else until the next
    # flush point, so puts made after it stay private to the store (and are committed
    # together at the next flush point). The background commit must not take them along.
    db = make_store(key_encoding="utf-8")
    with db.lock:  # keeps the committer from starting until both puts are made
        db["a"] = 1
        assert db.get("zz") is None  # hands {a} over
        db["b"] = 2
        db["c"] = 3
    with db.condition:
        assert db.condition.wait_for(lambda: not db._handed and db._inflight is None, 60)
    assert raw_get(db, b"a") == 1
    assert raw_get(db, b"b") is None and raw_get(db, b"c") is None
    assert sorted(db.write_buffer) == [b"b", b"c"]
    assert db["b"] == 2  # read-your-writes from the buffer
    db.flush()
    assert raw_get(db, b"b") == 2 and raw_get(db, b"c") == 3


# -- opening ----------------------------------------------------------------------------------


def test_missing_parent_directory_raises_the_oserror_clients_catch(tmp_path):
    # lmdb-object-store (py-lmdb) raises os.mkdir's FileNotFoundError here; a client that
    # creates the parents on FileNotFoundError and retries must keep working.
    path = str(tmp_path / "no" / "such" / "db")
    with pytest.raises(FileNotFoundError) as info:
        LmdbObjectStore(path)
    assert info.value.filename == path
    os.makedirs(os.path.dirname(path))
    with LmdbObjectStore(path) as db:
        db[b"k"] = 1
    with LmdbObjectStore(path, readonly=True) as db:
        assert db[b"k"] == 1
    (tmp_path / "afile").write_text("")
    with pytest.raises(NotADirectoryError):
        LmdbObjectStore(str(tmp_path / "afile" / "db"))
    # A read-only open of a missing path stays LMDB's error, as in py-lmdb.
    with pytest.raises(lmdb.Error, match="No such file or directory"):
        LmdbObjectStore(str(tmp_path / "missing"), readonly=True)
