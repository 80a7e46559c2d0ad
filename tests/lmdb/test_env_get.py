"""Environment.get: a one-shot read in a transaction of its own (zlmdb extension)."""

from __future__ import annotations

import threading

import pytest

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


def test_returns_the_latest_committed_value(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"one")
    assert env.get(b"k") == b"one"
    with env.begin(write=True) as txn:
        txn.put(b"k", b"two")
    assert env.get(b"k") == b"two"


def test_missing_key_returns_the_default(env) -> None:
    assert env.get(b"nope") is None
    assert env.get(b"nope", 42) == 42


def test_does_not_see_uncommitted_writes(env) -> None:
    txn = env.begin(write=True)
    txn.put(b"k", b"pending")
    assert env.get(b"k") is None
    txn.commit()
    assert env.get(b"k") == b"pending"


def test_reads_a_named_database(env) -> None:
    db = env.open_db(b"named")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"in named", db=db)
        txn.put(b"k", b"in main")
    assert env.get(b"k", db=db) == b"in named"
    assert env.get(b"k") == b"in main"


def test_large_values_and_buffer_keys(env) -> None:
    big = bytes(range(256)) * 4096
    with env.begin(write=True) as txn:
        txn.put(b"big", big)
    assert env.get(bytearray(b"big")) == big
    assert env.get(memoryview(b"big")) == big


def test_bad_keys_raise_like_transaction_get(env) -> None:
    with pytest.raises(lmdb.BadValsizeError):
        env.get(b"")
    with pytest.raises(TypeError, match="Unicode"):
        env.get("k")
    with pytest.raises(TypeError):
        env.get(None)
    with pytest.raises(TypeError):
        env.get(b"k", db="main")
    assert env.get(b"x" * 600) is None  # an oversize key simply is not there


def test_closed_environment_raises_the_closed_error(env) -> None:
    env.close()
    with pytest.raises(lmdb.Error, match=CLOSED):
        env.get(b"k")


def test_many_threads_read_consistently(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(200):
            txn.put(b"%04d" % i, b"v%d" % i)
    errors = []

    def reader() -> None:
        try:
            for _ in range(20):
                for i in range(200):
                    assert env.get(b"%04d" % i) == b"v%d" % i
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_reader_slots_are_reused_not_leaked(env) -> None:
    for _ in range(1000):
        env.get(b"k")
    assert env.info()["num_readers"] <= 5


def test_exists_sees_committed_keys_only_and_copies_nothing(env) -> None:
    db = env.open_db(b"named")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v" * 100_000)
        txn.put(b"empty", b"")
        txn.put(b"k", b"x", db=db)
    assert env.exists(b"k") and env.exists(b"empty") and env.exists(b"k", db=db)
    assert not env.exists(b"nope") and not env.exists(b"empty", db=db)
    assert env.exists(bytearray(b"k")) and env.exists(memoryview(b"k"))
    assert not env.exists(b"k" * 5000)  # longer than any key: simply not there
    with env.begin(write=True) as txn:
        txn.delete(b"k")
        assert env.exists(b"k")  # the write is not committed yet
    assert not env.exists(b"k")


def test_exists_raises_like_get(env) -> None:
    with pytest.raises(lmdb.BadValsizeError):
        env.exists(b"")
    with pytest.raises(TypeError):
        env.exists(None)
    with pytest.raises(TypeError):
        env.exists("str")
    with pytest.raises(TypeError):
        env.exists(b"k", db="main")
    env.close()
    with pytest.raises(lmdb.Error):
        env.exists(b"k")
