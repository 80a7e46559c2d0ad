"""zlmdb.lmdb behaviours of py-lmdb 3.0 that applications rely on (one behaviour per test)."""

from __future__ import annotations

import threading

import pytest

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


def test_version_names_both_bundled_engines_and_unknown_ones_raise() -> None:
    assert lmdb.version() == (0, 9, 36)
    assert lmdb.version(True) == (0, 9, 36, 1)
    assert lmdb.version(lib_version=0) == (0, 9, 36)
    assert lmdb.version(lib_version=1) == (1, 0, 2)
    assert lmdb.version(True, lib_version=1) == (1, 0, 2, 1)
    with pytest.raises(lmdb.Error, match="no LMDB 2.x engine"):
        lmdb.version(lib_version=2)
    with pytest.raises(TypeError):
        lmdb.version(lib_version="1")
    with pytest.raises(OverflowError):
        lmdb.version(lib_version=-1)


def test_all_lists_the_public_names_without_open() -> None:
    assert "open" not in lmdb.__all__
    assert {"Environment", "Cursor", "Transaction", "_Database", "Error"} <= set(lmdb.__all__)


def test_map_full_error_message_carries_the_hint() -> None:
    exc = lmdb.MapFullError("mdb_put", -30792)
    assert str(exc) == (
        "mdb_put: MDB_MAP_FULL: Environment mapsize limit reached "
        "(Please use a larger Environment(map_size=) parameter)"
    )
    assert exc.code == -30792 and isinstance(exc.reason, str)


def test_second_write_txn_on_same_thread_raises_ebusy(env) -> None:
    txn = env.begin(write=True)
    with pytest.raises(lmdb.Error) as info:
        env.begin(write=True)
    assert info.value.code == 16
    txn.abort()


def test_write_txn_on_other_thread_waits_for_the_first(env) -> None:
    first = env.begin(write=True)
    first.put(b"k", b"first")
    seen = []
    started = threading.Event()

    def writer() -> None:
        started.set()
        with env.begin(write=True) as txn:
            seen.append(txn.get(b"k"))

    t = threading.Thread(target=writer)
    t.start()
    started.wait()
    first.commit()
    t.join()
    assert seen == [b"first"]


def test_opening_an_open_environment_again_raises(tmp_path) -> None:
    path = str(tmp_path / "e")
    env = lmdb.open(path)
    with pytest.raises(lmdb.Error, match="already open"):
        lmdb.open(path)
    env.close()
    lmdb.open(path).close()


def test_main_database_refuses_flags(env) -> None:
    with pytest.raises(ValueError):
        env.open_db(None, dupsort=True)


def test_env_close_invalidates_txn_cursor_and_iterator(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(20):
            txn.put(b"%02d" % i, b"v")
    txn = env.begin()
    cur = txn.cursor()
    it = iter(cur)
    assert next(it) == (b"00", b"v")
    env.close()
    for call in (lambda: next(it), cur.key, lambda: txn.get(b"00")):
        with pytest.raises(lmdb.Error, match=CLOSED):
            call()


def test_set_mapsize_invalidates_read_txns_and_keeps_data(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    txn = env.begin()
    env.set_mapsize(32 << 20)
    with pytest.raises(lmdb.Error):
        txn.get(b"k")
    assert env.info()["map_size"] == 32 << 20
    with env.begin() as txn:
        assert txn.get(b"k") == b"v"


def test_large_values_round_trip_through_get_and_cursor(env) -> None:
    big = bytes(range(256)) * 64  # larger than the in-call copy limit
    with env.begin(write=True) as txn:
        txn.put(b"big", big)
    with env.begin() as txn:
        assert txn.get(b"big") == big
        cur = txn.cursor()
        assert cur.set_key(b"big") and cur.value() == big and cur.item() == (b"big", big)


def test_keyfixed_getmulti_needs_one_key_size(env) -> None:
    db = env.open_db(b"fixed", dupsort=True, dupfixed=True)
    with env.begin(write=True, db=db) as txn:
        txn.put(b"a", b"\x01")
        txn.put(b"bb", b"\x02")
        with pytest.raises(ValueError):
            txn.cursor().getmulti([b"a", b"bb"], dupdata=True, dupfixed_bytes=1, keyfixed=True)


def test_parent_from_another_environment_is_refused(env, tmp_path) -> None:
    other = lmdb.open(str(tmp_path / "other"))
    parent = other.begin(write=True)
    with pytest.raises(lmdb.InvalidParameterError):
        env.begin(write=True, parent=parent)
    parent.abort()
    other.close()
