"""The per-transaction fast paths of zlmdb.lmdb: kept C structs, the copy arena, read txns
ended and dropped in GIL-keeping calls, the transaction's default database in C.

Every test checks values read back from a real environment; none measures time."""

from __future__ import annotations

import gc
import threading

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.lmdb._ffi import lib

CLOSED = "Attempt to operate on closed/deleted/dropped object."


def fill(env, n: int = 50, size: int = 100) -> dict:
    items = {b"key%04d" % i: (b"%04d" % i) * (size // 4) for i in range(n)}
    with env.begin(write=True) as txn:
        for k, v in items.items():
            txn.put(k, v)
    return items


def test_every_copy_of_a_txn_stays_intact_after_later_gets(env) -> None:
    items = fill(env)
    with env.begin() as txn:
        got = [txn.get(k) for k in items]
    assert got == list(items.values())


def test_values_at_the_copy_limit_and_beyond_read_back(env) -> None:
    sizes = [0, 1, lib.ZL_COPY_MAX - 1, lib.ZL_COPY_MAX, lib.ZL_COPY_MAX + 1, 3 * 4096]
    with env.begin(write=True) as txn:
        for n in sizes:
            txn.put(b"s%05d" % n, bytes(range(256)) * (n // 256) + b"z" * (n % 256))
    for _ in range(2):  # a fresh txn's first get answers differently from its later ones
        with env.begin() as txn:
            for n in sizes:
                value = txn.get(b"s%05d" % n)
                assert type(value) is bytes and len(value) == n
                assert value == bytes(range(256)) * (n // 256) + b"z" * (n % 256)


def test_empty_value_first_and_later_in_a_txn(env) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"empty", b"")
        txn.put(b"full", b"x")
    with env.begin() as txn:
        assert txn.get(b"empty") == b""
        assert txn.get(b"full") == b"x"
        assert txn.get(b"empty") == b""
    with env.begin() as txn:
        assert txn.get(b"full") == b"x"
        assert txn.get(b"empty") == b""


def test_more_live_txn_objects_than_arena_slots_all_read_correctly(env) -> None:
    # Each ended txn keeps its C struct (and arena slot) while Python holds it, so more
    # than ZL_SLOTS of them make the later ones copy without a slot.
    items = fill(env, 20)
    keys = list(items)
    held = []
    for i in range(lib.ZL_SLOTS + 50):
        txn = env.begin()
        k1, k2 = keys[i % 20], keys[(i + 7) % 20]
        v1 = txn.get(k1)
        v2 = txn.get(k2)
        assert (v1, v2) == (items[k1], items[k2])
        txn.commit()
        held.append((txn, v1, k1))
    for txn, v1, k1 in held:
        assert v1 == items[k1]
        with pytest.raises(lmdb.Error, match=CLOSED):
            txn.get(k1)
    del held, txn
    gc.collect()
    with env.begin() as txn:  # the slots are free again
        assert [txn.get(k) for k in keys] == list(items.values())


def test_commit_and_abort_of_a_read_txn_end_it(env) -> None:
    fill(env, 3)
    txn = env.begin()
    assert txn.get(b"key0001") is not None
    txn.commit()
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"key0001")
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.commit()
    txn.abort()  # idempotent, also after commit
    txn = env.begin()
    txn.abort()
    txn.abort()
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"key0001")
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.commit()


def test_read_txn_ended_in_its_block_exits_quietly(env) -> None:
    fill(env, 3)
    with env.begin() as txn:
        txn.abort()
    with env.begin() as txn:
        txn.commit()
    with pytest.raises(KeyError), env.begin() as txn:
        assert txn.get(b"key0000") is not None
        raise KeyError("body")
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"key0000")


def test_dropped_live_read_txn_frees_its_reader_slot(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), max_spare_txns=0)
    try:
        fill(env, 3)
        assert env.readers().count("\n") - 1 == 0
        txn = env.begin()
        assert txn.get(b"key0000") is not None
        assert env.readers().count("\n") - 1 == 1
        del txn
        gc.collect()
        assert env.readers().count("\n") - 1 == 0
        for _ in range(20):  # kept structs are reused; each txn still ends
            with env.begin() as txn:
                assert txn.get(b"key0002") == b"0002" * 25
        del txn
        assert env.readers().count("\n") - 1 == 0
    finally:
        env.close()


def test_env_close_ends_live_and_kept_txns(tmp_path) -> None:
    path = str(tmp_path / "e")
    env = lmdb.open(path)
    items = fill(env, 5)
    for _ in range(10):  # fill the environment's kept structs
        with env.begin() as txn:
            txn.get(b"key0001")
    live = env.begin()
    assert live.get(b"key0001") == items[b"key0001"]
    buf = env.begin(buffers=True)
    view = buf.get(b"key0002")
    assert bytes(view) == items[b"key0002"]
    env.close()
    for txn in (live, buf):
        with pytest.raises(lmdb.Error, match=CLOSED):
            txn.get(b"key0001")
        with pytest.raises(lmdb.Error, match=CLOSED):
            txn.commit()
        txn.abort()
    with pytest.raises(lmdb.Error, match=CLOSED):
        env.begin()
    del live, buf, txn
    gc.collect()
    env = lmdb.open(path)  # reopened: fresh structs, same data
    try:
        with env.begin() as txn:
            assert [txn.get(k) for k in items] == list(items.values())
    finally:
        env.close()


def test_buffers_views_raise_after_the_txn_ends(env) -> None:
    items = fill(env, 3)
    txn = env.begin(buffers=True)
    view = txn.get(b"key0001")
    assert bytes(view) == items[b"key0001"]
    txn.commit()
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"key0001")


def test_default_db_of_the_txn_is_used_by_get(env) -> None:
    sub = env.open_db(b"sub")
    dups = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"main")
        txn.put(b"k", b"sub", db=sub)
        txn.put(b"k", b"d2", db=dups)
        txn.put(b"k", b"d1", db=dups)
    with env.begin(db=sub) as txn:
        assert txn.get(b"k") == b"sub"
        assert txn.get(b"k", db=env.open_db()) == b"main"
        assert txn.get(b"k", db=dups) == b"d1"
        assert txn.get(b"k") == b"sub"
    with env.begin(db=dups) as txn:
        assert txn.get(b"k") == b"d1"
    with lmdb.Transaction(env, db=sub) as txn:
        assert txn.get(b"k") == b"sub"
    with env.begin(write=True, db=sub) as txn:
        assert txn.get(b"k") == b"sub"
        txn.put(b"k2", b"new")
        assert txn.get(b"k2") == b"new"
        assert txn.get(b"k2", db=env.open_db()) is None


def test_nested_write_txns_commit_and_abort(env) -> None:
    sub = env.open_db(b"sub")
    with env.begin(write=True) as parent:
        with env.begin(write=True, parent=parent, db=sub) as child:
            child.put(b"a", b"1")
            assert child.get(b"a") == b"1"
        assert parent.get(b"a", db=sub) == b"1"
        child = env.begin(write=True, parent=parent)
        child.put(b"b", b"2")
        child.abort()
        assert parent.get(b"b") is None
        with pytest.raises(lmdb.Error, match=CLOSED):
            child.get(b"b")
    with env.begin() as txn:
        assert txn.get(b"a", db=sub) == b"1"
        assert txn.get(b"b") is None


def test_failed_write_commit_leaves_the_txn_ended(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), map_size=64 * 1024)
    try:
        txn = env.begin(write=True)
        with pytest.raises(lmdb.MapFullError):
            for i in range(10_000):
                txn.put(b"%08d" % i, b"v" * 200)
        with pytest.raises(lmdb.Error):
            txn.commit()
        with pytest.raises(lmdb.Error, match=CLOSED):
            txn.get(b"00000000")
        txn.abort()
        with env.begin() as txn:  # the next read txn (a kept struct) works
            assert txn.get(b"00000000") is None
        with env.begin(write=True) as txn:
            txn.put(b"ok", b"1")
        with env.begin() as txn:
            assert txn.get(b"ok") == b"1"
    finally:
        env.close()


def test_read_txns_on_many_threads_read_their_own_values(env) -> None:
    items = fill(env, 64)
    keys = list(items)
    errors = []

    def reader(seed: int) -> None:
        try:
            for i in range(400):
                k = keys[(seed * 31 + i) % len(keys)]
                with env.begin() as txn:
                    v = txn.get(k)
                    w = txn.get(keys[(i + 1) % len(keys)])
                if v != items[k] or w != items[keys[(i + 1) % len(keys)]]:
                    errors.append((seed, i))
                if env.get(k) != items[k]:
                    errors.append((seed, i, "env.get"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_read_txn_begun_on_one_thread_is_read_and_ended_on_another(env) -> None:
    items = fill(env, 8)
    txn = env.begin()
    first = txn.get(b"key0003")
    out = {}

    def other() -> None:
        out["v"] = txn.get(b"key0004")
        out["w"] = txn.get(b"key0003")
        txn.commit()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert first == items[b"key0003"]
    assert out == {"v": items[b"key0004"], "w": items[b"key0003"]}
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"key0003")

    # A struct freed on one thread is reused by a begin on another.
    def churn() -> None:
        for _ in range(20):
            with env.begin() as t2:
                assert t2.get(b"key0001") == items[b"key0001"]

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for th in threads:
        th.start()
    churn()
    for th in threads:
        th.join()


def test_txn_dropped_on_another_thread_than_its_begin(env) -> None:
    items = fill(env, 4)
    txns = [env.begin() for _ in range(4)]
    assert all(t.get(b"key0002") == items[b"key0002"] for t in txns)

    def drop() -> None:
        txns.clear()  # the last references go here: the structs end and are released
        gc.collect()

    th = threading.Thread(target=drop)
    th.start()
    th.join()
    assert env.readers().count("\n") - 1 == 0
    with env.begin() as txn:
        assert txn.get(b"key0002") == items[b"key0002"]


_LEAKED_HOLD = r"""
import gc, sys
import zlmdb.lmdb as lmdb
from zlmdb.lmdb._ffi import lib

env = lmdb.open(sys.argv[1], map_size=1 << 24)
with env.begin(write=True) as txn:
    txn.put(b"big", b"x" * (4 * lib.ZL_COPY_MAX))
txn = env.begin()
# What an exception landing between a held result and its release leaves behind: the large
# value's hold on the transaction is never let go.
assert lib.zl_get(txn._t, txn._dbi, b"big", 3) == lib.ZL_HELD
del txn
gc.collect()
with env.begin() as txn:
    assert len(txn.get(b"big")) == 4 * lib.ZL_COPY_MAX
env.close()
print("ok")
"""


def test_dropping_a_txn_whose_hold_leaked_neither_hangs_nor_blocks_close(tmp_path) -> None:
    # A hold Python never released (an asynchronous exception between zl_get's ZL_HELD and
    # zl_txn_unhold) must not make dropping the transaction, or closing its environment,
    # wait forever: once Python dropped the transaction nothing else can be using it.
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _LEAKED_HOLD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
