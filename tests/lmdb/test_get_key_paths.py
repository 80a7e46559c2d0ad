"""Transaction.get by every way a key can arrive: on PyPy a bytes key of up to ZL_KEYBUF bytes
is copied into the transaction's key buffer (zl_getk), anything else is passed as a pointer;
on CPython every key is passed as a pointer. Both engines, real environments, values checked.
"""

from __future__ import annotations

import random
import threading

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.lmdb._ffi import lib

CLOSED = "Attempt to operate on closed/deleted/dropped object."
KEYBUF = lib.ZL_KEYBUF


@pytest.fixture(params=[0, 1], ids=["lmdb0.9", "lmdb1.0"])
def env(request, tmp_path):
    e = lmdb.open(str(tmp_path / "db"), map_size=1 << 26, max_dbs=4, lib_version=request.param)
    yield e
    e.close()


def key_of(n: int, tag: int = 0) -> bytes:
    return bytes((tag + i * 7) % 251 + 1 for i in range(n))


def lengths(env) -> list:
    top = env.max_key_size()
    return sorted({1, 2, 15, 16, 17, 255, KEYBUF - 1, KEYBUF, KEYBUF + 1, top - 1, top} - {0})


def test_keys_of_every_length_read_back_as_bytes_bytearray_and_memoryview(env) -> None:
    items = {key_of(n): b"v%d" % n * 3 for n in lengths(env) if n <= env.max_key_size()}
    with env.begin(write=True) as txn:
        for k, v in items.items():
            assert txn.put(k, v)
    with env.begin() as txn:
        for k, v in items.items():
            assert txn.get(k) == v
            assert txn.get(bytearray(k)) == v
            assert txn.get(memoryview(k)) == v
        too_long = key_of(env.max_key_size() + 1)
        assert txn.get(too_long) is None  # simply absent
        assert txn.get(too_long, b"d") == b"d"


def test_a_shorter_key_after_a_longer_one_with_the_same_prefix(env) -> None:
    long_key = b"ab" + b"c" * 300
    with env.begin(write=True) as txn:
        txn.put(b"ab", b"short")
        txn.put(b"abc", b"middle")
        txn.put(long_key, b"long")
    with env.begin() as txn:
        for _ in range(3):
            assert txn.get(long_key) == b"long"
            assert txn.get(b"ab") == b"short"
            assert txn.get(b"abc") == b"middle"
            assert txn.get(b"a") is None
            assert txn.get(b"abcc") is None


def test_db_argument_and_the_transactions_default_db(env) -> None:
    named = env.open_db(b"named")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"main")
        txn.put(b"k", b"named", db=named)
    with env.begin() as txn:
        assert txn.get(b"k") == b"main"
        assert txn.get(b"k", db=named) == b"named"
        assert txn.get(b"k" * 600, db=named) is None
        with pytest.raises(TypeError):
            txn.get(b"k", db="named")
        with pytest.raises(TypeError):
            txn.get(b"k" * 600, db=object())
    with env.begin(db=named) as txn:
        assert txn.get(b"k") == b"named"
        assert txn.get(bytearray(b"k")) == b"named"


def test_missing_empty_none_str_and_ended(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
        txn.put(b"e", b"")
    txn = env.begin()
    assert txn.get(b"nope") is None
    assert txn.get(b"nope", 5) == 5
    assert txn.get(b"e") == b""
    with pytest.raises(lmdb.BadValsizeError):
        txn.get(b"")
    with pytest.raises(TypeError, match="key must be given"):
        txn.get(None)
    with pytest.raises(TypeError):
        txn.get("k")
    with pytest.raises(TypeError):
        txn.get(5)
    assert txn.get(b"k") == b"v"
    txn.commit()
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"k")
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"k" * 600)


def test_buffers_views_and_large_values(env) -> None:
    big = bytes(range(256)) * 64  # beyond ZL_COPY_MAX: handed out held, then copied
    with env.begin(write=True) as txn:
        txn.put(b"small", b"12345")
        txn.put(b"empty", b"")
        txn.put(b"big", big)
    with env.begin(buffers=True) as txn:
        view = txn.get(b"small")
        assert isinstance(view, memoryview) and view.readonly and bytes(view) == b"12345"
        empty = txn.get(b"empty")
        assert isinstance(empty, memoryview) and bytes(empty) == b""
        assert bytes(txn.get(b"big")) == big
        assert txn.get(b"missing") is None
    with env.begin() as txn:
        assert txn.get(b"big") == big
        assert txn.get(b"small") == b"12345"


def test_write_txn_reads_its_own_writes_between_gets(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(200):
            k = b"key%05d" % i
            assert txn.get(k) is None
            txn.put(k, b"v%d" % i)
            assert txn.get(k) == b"v%d" % i
            if i:
                assert txn.get(b"key%05d" % (i - 1)) == b"v%d" % (i - 1)
        txn.delete(b"key00007")
        assert txn.get(b"key00007") is None


def test_interleaved_gets_of_two_snapshots(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"old")
    old = env.begin()
    with env.begin(write=True) as txn:
        txn.put(b"k", b"new")
    new = env.begin()
    for _ in range(5):
        assert old.get(b"k") == b"old"
        assert new.get(b"k") == b"new"
    old.abort()
    new.abort()


def test_threads_each_with_their_own_read_txn(env) -> None:
    items = {key_of(random.Random(i).randint(1, 40), i): b"%d" % i * 5 for i in range(500)}
    with env.begin(write=True) as txn:
        for k, v in items.items():
            txn.put(k, v)
    keys = list(items)
    errors: list = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with env.begin() as txn:
                for _ in range(3000):
                    k = rng.choice(keys)
                    got = txn.get(k)
                    if got != items[k]:
                        errors.append((k, got))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_get_then_an_index_lookup_in_one_transaction(env) -> None:
    """get() (PyPy: through the key buffer) and _get_indirect() in one read transaction:
    each returns its own value, in every order (they keep different per-txn buffers)."""
    with env.begin(write=True) as txn:
        txn.put(b"index-a", b"K1")
        txn.put(b"index-b", b"K2")
        txn.put(b"\x00\x07K1", b"record one")
        txn.put(b"\x00\x07K2", b"record two, longer")
    with env.begin() as txn:
        assert txn.get(b"index-a") == b"K1"
        assert txn._get_indirect(b"index-a", b"\x00\x07") == b"record one"
        assert txn.get(b"index-b") == b"K2"
        assert txn._get_indirect(b"index-b", b"\x00\x07") == b"record two, longer"
        assert txn._get_indirect(b"index-a", b"\x00\x07") == b"record one"
        assert txn.get(b"\x00\x07K2") == b"record two, longer"
        assert txn.get(b"index-a") == b"K1"
