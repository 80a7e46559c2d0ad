"""with db.transaction(): atomic read-modify-write ([zlmdb] 5)."""

from __future__ import annotations

import threading

import pytest

import zlmdb.lmdb as lmdb


def test_transaction_commits_on_clean_exit(db):
    with db.transaction():
        db["a"] = 1
        db.delete("b")
    assert db["a"] == 1


def test_transaction_rolls_back_on_exception(db):
    db.put_many({"a": 1})
    with pytest.raises(KeyError), db.transaction():
        db["a"] = 2
        db["b"] = 3
        raise KeyError("abort")
    assert (db["a"], db.get("b")) == (1, None)


def test_reads_inside_see_uncommitted_writes(db):
    with db.transaction():
        db["a"] = 1
        assert db["a"] == 1 and "a" in db and len(db) == 1
        assert list(db.items()) == [(b"a", 1)]


def test_transaction_flushes_the_buffer_first(db):
    db["a"] = 1
    with db.transaction():
        assert db.write_buffer == {}
        assert db["a"] == 1


def test_writes_inside_are_not_buffered(db):
    with db.transaction():
        db["a"] = 1
        assert db.write_buffer == {}


def test_nested_transaction_joins_outer(db):
    with pytest.raises(ValueError), db.transaction():
        with db.transaction():
            db["a"] = 1
        raise ValueError("outer fails")
    assert db.get("a") is None


def test_put_many_and_get_many_inside(db):
    with db.transaction():
        db.put_many({"a": 1, "b": 2})
        assert db.get_many(["a", "b", "c"]) == ({b"a": 1, b"b": 2}, ["c"])


def test_delete_then_exists_inside(db):
    db.put_many({"a": 1})
    with db.transaction():
        db.delete("a")
        assert not db.exists("a")


def test_clear_inside_is_rolled_back_on_error(db):
    db.put_many({"a": 1})
    with pytest.raises(RuntimeError), db.transaction():
        db.clear()
        raise RuntimeError
    assert db["a"] == 1


def test_close_inside_transaction_raises(db):
    with db.transaction(), pytest.raises(lmdb.Error):
        db.close()


def test_transaction_on_readonly_store_raises(tmp_path):
    from zlmdb.store import LmdbObjectStore

    path = str(tmp_path / "db")
    LmdbObjectStore(path).close()
    with LmdbObjectStore(path, readonly=True) as store:
        with pytest.raises(lmdb.Error, match="read-only"), store.transaction():
            pass


def test_concurrent_increments_lose_nothing(db):
    db.put_many({"n": 0})

    def worker():
        for _ in range(50):
            with db.transaction():
                db["n"] = db["n"] + 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db["n"] == 200
