"""How real users of lmdb-object-store 0.1.0 use the store, on a real LMDB file.

Each test is a pattern from the peer's README/examples or a side-by-side comparison with
lmdb-object-store (the differential script in the project's diff tools) that a client can
observe: return values, exception types and messages, what is on disk. Run against
lmdb-object-store 0.1.0 itself (imports swapped), all pass except the two that name a
zlmdb difference (the committer's ``_handed`` batch; two stores on one path, which py-lmdb 3
refuses the peer).
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import logging
import os
import pickle
import threading
import uuid

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


def test_flush_commits_the_buffer_even_when_a_background_commit_was_taken_meanwhile(tmp_path):
    # flush() must return with everything buffered when it was called committed, also
    # when the committer took a batch of handed-over entries only (leaving the buffer)
    # while flush() was waiting for the commit before it. A race (the committer thread
    # starts with a fresh store), so it is run on many stores; before the fix about a
    # third of them kept the deletion in the buffer after flush().
    for i in range(100):
        with LmdbObjectStore(str(tmp_path / f"db{i}"), key_encoding="utf-8") as db:
            for n in (1, 2, 3, 2, 1, 4):  # get-or-compute: each miss hands the buffer over
                if db.get(f"sq:{n}") is None:
                    db[f"sq:{n}"] = n * n
            assert db.exists("sq:2") and not db.exists("sq:9")
            db.delete("sq:3")
            db.flush()
            assert not db.write_buffer, i
            assert raw_get(db, b"sq:3") is None, i
            assert db.env.stat()["entries"] == 3, i


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


def test_subdir_false_makes_a_data_file_and_a_lock_file(tmp_path):
    path = str(tmp_path / "cache.lmdb")
    with LmdbObjectStore(path, subdir=False) as db:
        db[b"a"] = 1
    assert sorted(os.listdir(tmp_path)) == ["cache.lmdb", "cache.lmdb-lock"]
    with LmdbObjectStore(path, subdir=False, readonly=True) as db:
        assert db[b"a"] == 1


# -- the README's quick start and the usual client idioms -------------------------------------


def test_readme_quick_start(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(
        path,
        batch_size=1000,
        autoflush_on_read=True,
        key_encoding="utf-8",
        map_size=128 * 1024 * 1024,
        subdir=True,
        readonly=False,
        max_map_size=4 * 1024 * 1024 * 1024,
    ) as store:
        store["user:42"] = {"name": "Ada", "plan": "pro"}
        assert store.get("user:42") == {"name": "Ada", "plan": "pro"}
        assert "user:42" in store
        assert store.exists("user:42", flush=False) is True
        del store["user:42"]
        store.put_many({f"k{i}": {"i": i} for i in range(10_000)})
        found, not_found = store.get_many(["k1", "kX"], decode_keys=True)
        assert found == {"k1": {"i": 1}} and not_found == ["kX"]
    store = LmdbObjectStore(path, key_encoding="utf-8")
    try:
        store["x"] = 1
        store.close(strict=True)
    finally:
        store.close()  # idempotent
    with LmdbObjectStore(path, key_encoding="utf-8", readonly=True) as store:
        assert store.get_many(["x", "k9999", "user:42"]) == (
            {b"x": 1, b"k9999": {"i": 9999}},
            ["user:42"],
        )


def test_memoizing_cache_workflow(make_store, tmp_path):
    db = make_store(key_encoding="utf-8")
    computed = []

    def cached(n):
        value = db.get(f"sq:{n}")
        if value is None:
            computed.append(n)
            value = n * n
            db[f"sq:{n}"] = value
        return value

    assert [cached(n) for n in (1, 2, 3, 2, 1, 4)] == [1, 4, 9, 4, 1, 16]
    assert computed == [1, 2, 3, 4]
    assert len(db.write_buffer) == 1  # the last put; every miss before it flushed
    assert db.exists("sq:2") is True and db.exists("sq:9") is False
    assert len(db.write_buffer) == 0
    db.delete("sq:3")
    assert db.get("sq:3") is None and db.get("sq:3", "gone") == "gone" and "sq:3" not in db
    db.flush()
    assert db.env.stat()["entries"] == 3
    db.close()
    with LmdbObjectStore(str(tmp_path / "db"), key_encoding="utf-8") as again:
        assert again.get_many([f"sq:{n}" for n in range(5)], decode_keys=True) == (
            {"sq:1": 1, "sq:2": 4, "sq:4": 16},
            ["sq:0", "sq:3"],
        )


def test_context_manager_flushes_when_the_block_raises(tmp_path):
    path = str(tmp_path / "db")
    with pytest.raises(ValueError, match="boom"):
        with LmdbObjectStore(path, batch_size=100) as db:
            db[b"a"] = 1
            raise ValueError("boom")
    assert db._is_closed
    assert LmdbObjectStore(path).__exit__(None, None, None) is None  # never suppresses
    with db:  # a closed store: entering and leaving again is harmless
        pass
    with LmdbObjectStore(path, readonly=True) as ro:
        assert ro.get_many([b"a", b"b"]) == ({b"a": 1}, [b"b"])


def test_dict_style_access_and_its_key_errors(db):
    db["user:42"] = {"name": "Ada"}
    db[b"none"] = None
    assert db["user:42"] == {"name": "Ada"}
    assert db[b"none"] is None and db.get(b"none", "default") is None
    with pytest.raises(KeyError, match=r"Key not found: 'user:44'"):
        db["user:44"]
    with pytest.raises(KeyError, match=r"Key not found: 0x0001"):
        db[b"\x00\x01"]
    with pytest.raises(KeyError, match=r"Key not found: 'z{47}\.\.\.'"):
        db["z" * 80]
    assert ("user:42" in db, b"user:42" in db, bytearray(b"user:42") in db) == (True, True, True)
    del db["user:42"]
    with pytest.raises(KeyError, match="Key not found: 'user:42'"):
        del db["user:42"]
    with pytest.raises(TypeError, match="Key must be bytes-like or str; got int"):
        db[42] = 1
    with pytest.raises(TypeError, match="Key must be bytes-like or str; got int"):
        42 in db  # noqa: B015
    with pytest.raises(TypeError, match="Key cannot be None"):
        db.get(None)
    for _ in range(3):
        db["counter"] = db.get("counter", 0) + 1
    assert db["counter"] == 3


def test_mixed_key_types_in_put_many_and_get_many(db):
    db.put_many([("s", 1), (b"b", 2), (bytearray(b"ba"), 3), (memoryview(b"mv"), 4), ("é", 5)])
    with pytest.raises(TypeError, match="got int"):
        db.put_many([("ok", 1), (7, 2)])
    with pytest.raises(TypeError, match="got int"):
        db.put_many({"ok2": 1, 8: 2})
    assert db.get("ok") is None and db.get("ok2") is None  # atomic: nothing written
    keys = ["s", b"b", bytearray(b"ba"), memoryview(b"mv"), "é", "nope", b"nope", "s"]
    found, not_found = db.get_many(keys)
    assert found == {b"s": 1, b"b": 2, b"ba": 3, b"mv": 4, "é".encode(): 5}
    assert not_found == ["nope", b"nope"] and type(not_found[1]) is bytes
    found, not_found = db.get_many(["s", b"b", "nope", bytearray(b"x")], decode_keys=True)
    assert found == {"s": 1, "b": 2} and not_found == ["nope", "x"]
    assert db.get_many(["s", b"zz"], decode_keys=True, decode_not_found=False) == (
        {"s": 1},
        [b"zz"],
    )
    assert db.get_many(["s", b"zz"], decode_not_found=True) == ({b"s": 1}, ["zz"])
    assert db.get_many(("s", "b")) == ({b"s": 1, b"b": 2}, [])
    assert db.get_many({"s": 0, "nope": 0}.keys()) == ({b"s": 1}, ["nope"])
    assert db.get_many("sb") == ({b"s": 1, b"b": 2}, [])  # a str iterates its characters
    with pytest.raises(TypeError, match="got int"):
        db.get_many(b"sb")  # a bytes object iterates ints
    db.put("buf", 9)
    db.delete("s")
    assert db.get_many(["s", "buf", "missing"]) == ({b"buf": 9}, ["s", "missing"])
    db.put_many([["l1", 1], ["l2", 2]])
    db.put_many(zip(["z1", "z2"], [1, 2]))
    db.put_many({"v1": 1}.items())
    db.put_many((f"g{i}", i) for i in range(3))
    db.put_many([])
    assert db.get_many(["l1", "l2", "z1", "z2", "v1", "g0", "g2"], decode_keys=True)[0] == {
        "l1": 1,
        "l2": 2,
        "z1": 1,
        "z2": 2,
        "v1": 1,
        "g0": 0,
        "g2": 2,
    }


class _RefusesPickling:
    def __reduce__(self):
        raise TypeError("no pickling for you")


@pytest.mark.parametrize(
    "value",
    [
        lambda: 1,
        threading.Lock(),
        (i for i in range(3)),
        _RefusesPickling(),
        memoryview(b"x"),
        {"x": [lambda: 2]},
    ],
    ids=["lambda", "lock", "generator", "reduce-raises", "memoryview", "nested-lambda"],
)
def test_unpicklable_values_raise_pickles_own_error_and_store_nothing(db, value):
    with pytest.raises(Exception) as expected:
        pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    error = type(expected.value)  # TypeError, AttributeError or PicklingError, as pickle says
    with pytest.raises(error):
        db.put(b"k", value)
    with pytest.raises(error):
        db[b"k"] = value
    with pytest.raises(error):
        db.put_many({b"ok": 1, b"k": value})
    assert db.write_buffer == {} and db.get(b"ok") is None and b"k" not in db


def test_common_values_round_trip_as_highest_protocol_pickles(db, tmp_path):
    values = {
        b"none": None,
        b"false": False,
        b"zero": 0,
        b"empty": "",
        b"list": [],
        b"bytes": b"\x00raw",
        b"bytearray": bytearray(b"x"),
        b"tuple": (1, (2, 3)),
        b"set": {1, 2},
        b"frozenset": frozenset([3]),
        b"complex": 1 + 2j,
        b"datetime": datetime.datetime(2024, 1, 2, 3, 4, 5),
        b"decimal": decimal.Decimal("1.10"),
        b"fraction": fractions.Fraction(1, 3),
        b"ordered": collections.OrderedDict(a=1),
        b"uuid": uuid.UUID(int=5),
        b"big": 2**100,
    }
    for key, value in values.items():
        db.put(key, value)
    assert all(
        db.write_buffer[k] == pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for k, v in values.items()
    )
    assert [db.get(k) for k in values] == list(values.values())
    db.flush()
    assert [db.get(k) for k in values] == list(values.values())
    assert db.get_many(list(values))[0] == values
    got = db.get(b"list")
    got.append(1)
    assert db.get(b"list") == []  # every read unpickles a fresh object
    with db.env.begin() as txn:
        raw = {bytes(k): bytes(v) for k, v in txn.cursor()}
    assert raw == {k: pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for k, v in values.items()}


# -- big values, map growth, reopening ----------------------------------------------------------


def test_huge_values_grow_the_default_map_and_survive_reopening(tmp_path, caplog):
    path = str(tmp_path / "db")
    big = bytes(range(256)) * (30 * 4096)  # 30 MiB, more than the 10 MiB default map
    with caplog.at_level(logging.WARNING, logger="zlmdb.store"):
        with LmdbObjectStore(path) as db:
            db.put(b"big", big)
            db.flush()
            assert db.env.info()["map_size"] == 10485760 + 64 * 1024 * 1024
            assert db.get(b"big") == big
            db.put_many({b"a": big[: 20 << 20], b"b": big[: 20 << 20], b"c": big[: 20 << 20]})
            assert db.env.info()["map_size"] == 2 * (10485760 + 64 * 1024 * 1024)
    assert [r.getMessage() for r in caplog.records] == [
        "MapFullError: growing mapsize from 10485760 to 77594624",
        "MapFullError: growing mapsize from 77594624 to 155189248",
    ]
    with LmdbObjectStore(path, readonly=True) as db:
        found, not_found = db.get_many([b"big", b"a", b"c", b"d"])
        assert found[b"big"] == big and found[b"a"] == found[b"c"] == big[: 20 << 20]
        assert not_found == [b"d"]


def test_a_capped_map_refuses_more_and_keeps_the_buffer(make_store, caplog):
    db = make_store(map_size=1 << 20, max_map_size=4 << 20)
    db.put(b"x", b"y" * (8 << 20))
    with caplog.at_level(logging.ERROR, logger="zlmdb.store"):
        with pytest.raises(lmdb.MapFullError, match="Map size at configured maximum"):
            db.flush()
    assert "Cannot resize: map size (4194304) is already at its configured maximum (4194304)." in (
        caplog.text
    )
    assert list(db.write_buffer) == [b"x"]
    with pytest.raises(lmdb.MapFullError, match="Map size at configured maximum"):
        db.put_many({b"z": b"y" * (8 << 20)})
    assert b"z" not in db and db.env.info()["map_size"] == 4 << 20
    db.delete(b"x")  # the entry that did not fit is replaced: the store closes cleanly
    db.close(strict=True)


def test_reopen_readonly_reads_and_refuses_every_write(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path) as db:
        db[b"k"] = 1
    with LmdbObjectStore(path, readonly=True) as ro:
        assert ro.get(b"k") == 1 and b"k" in ro and ro.get_many([b"k", b"z"]) == ({b"k": 1}, [b"z"])
        message = "Environment is read-only; write operations are not allowed."
        for write in (
            lambda: ro.put(b"k", 2),
            lambda: ro.__setitem__(b"k", 2),
            lambda: ro.delete(b"k"),
            lambda: ro.__delitem__(b"k"),
            lambda: ro.flush(),
            lambda: ro.put_many({b"a": 1}),
        ):
            with pytest.raises(lmdb.Error, match=message):
                write()
        with pytest.raises(KeyError, match="Key not found"):
            del ro[b"zz"]  # missing: the KeyError comes first, as in lmdb-object-store


# -- several stores, threads, processes ----------------------------------------------------------


def test_two_stores_on_one_path_in_one_process(tmp_path):
    # py-lmdb 1.x let lmdb-object-store open a path twice in a process; py-lmdb 3 refuses
    # (the peer then raises lmdb.Error). zlmdb shares the environment.
    path = str(tmp_path / "db")
    a = LmdbObjectStore(path)
    b = LmdbObjectStore(path)
    a.put(b"k", 1)
    assert b.get(b"k") is None  # buffers are per store
    a.flush()
    assert b.get(b"k") == 1
    b.close()
    a.put(b"j", 2)
    a.close()
    with LmdbObjectStore(path) as again:
        assert again.get_many([b"k", b"j"]) == ({b"k": 1, b"j": 2}, [])


def test_threads_writing_and_reading_one_store(make_store):
    db = make_store(batch_size=50, key_encoding="utf-8")
    errors = []

    def worker(t):
        try:
            for i in range(300):
                db[f"t{t}:{i:04d}"] = (t, i)
                if i % 7 == 0:  # read-your-writes: every key written before, unless deleted
                    j = i // 2
                    expected = None if (j + 1) % 11 == 0 else (t, j)
                    assert db.get(f"t{t}:{j:04d}") == expected
                if i % 11 == 0:
                    db.delete(f"t{t}:{i - 1:04d}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    deleted = {f"t{t}:{i - 1:04d}" for t in range(4) for i in range(0, 300, 11)}
    keys = [f"t{t}:{i:04d}" for t in range(4) for i in range(300)]
    found, not_found = db.get_many(keys, decode_keys=True)
    assert set(not_found) == deleted & set(keys)
    assert found == {k: (int(k[1]), int(k[3:])) for k in keys if k not in deleted}


CHILD_READER = """
import sys
from zlmdb.store import LmdbObjectStore
with LmdbObjectStore(sys.argv[1], key_encoding="utf-8") as db:
    print(sorted(db.get_many(["p1", "p2", "p3"], decode_keys=True)[0]))
"""


def test_another_process_sees_what_a_read_miss_or_flush_committed(tmp_path, run_child):
    db = LmdbObjectStore(str(tmp_path / "db"), key_encoding="utf-8")
    db["p1"] = 1
    assert db.get("zz") is None  # publishes p1 (committed in the background)
    db["p2"] = 2  # buffered after the miss: private to this store until a flush point
    db.flush()  # waits for p1's background commit too, and commits p2
    db["p3"] = 3
    assert run_child(CHILD_READER, tmp_path / "db").stdout.split() == ["['p1',", "'p2']"]
    db.close()  # flushes p3
    assert "'p3'" in run_child(CHILD_READER, tmp_path / "db").stdout


# -- the file format: files of lmdb-object-store and zlmdb.store are interchangeable ----------


VALUES = {
    "user:1": {"name": "Ada", "roles": ["admin"]},
    "n": 42,
    "none": None,
    "blob": b"\x00\xff" * 1000,
    "when": datetime.date(2024, 5, 6),
}


def test_a_file_written_by_lmdb_object_store_reads_here_and_back(tmp_path):
    peer = pytest.importorskip("lmdb_object_store")
    path = str(tmp_path / "db")
    with peer.LmdbObjectStore(path, key_encoding="utf-8") as theirs:
        theirs.put_many(VALUES)
        theirs["buffered"] = [1, 2]
        theirs.delete("n")
    with LmdbObjectStore(path, key_encoding="utf-8") as ours:
        found, not_found = ours.get_many([*VALUES, "buffered"], decode_keys=True)
        assert not_found == ["n"]
        assert found == {**{k: v for k, v in VALUES.items() if k != "n"}, "buffered": [1, 2]}
        ours["mine"] = {"x": 1}
        del ours["none"]
    with peer.LmdbObjectStore(path, key_encoding="utf-8", readonly=True) as theirs:
        assert theirs.get_many(["mine", "none", "user:1"], decode_keys=True) == (
            {"mine": {"x": 1}, "user:1": VALUES["user:1"]},
            ["none"],
        )


def test_raw_file_contents_are_the_peers_highest_protocol_pickles(tmp_path):
    pylmdb = pytest.importorskip("lmdb")
    if pylmdb is lmdb:
        pytest.skip("py-lmdb is not installed (lmdb is zlmdb.lmdb here)")
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, key_encoding="utf-8") as db:
        db.put_many(VALUES)
    env = pylmdb.open(path, readonly=True)
    try:
        with env.begin() as txn:
            raw = {bytes(k): bytes(v) for k, v in txn.cursor()}
    finally:
        env.close()
    assert raw == {k.encode(): pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for k, v in VALUES.items()}


# -- the peer's private error helpers, which subclasses override --------------------------------


def test_the_peers_error_helpers_exist_and_subclasses_can_override_them(tmp_path):
    class Store(LmdbObjectStore):
        def _key_not_found_error(self, key):
            return KeyError(f"no such record: {self._format_key_for_display(key)}")

        def _unpickle_error(self, key, context, original_error):
            return ValueError(f"corrupt {context} record {key!r}")

    with Store(str(tmp_path / "db"), key_encoding="utf-8") as db:
        assert db._format_key_for_display(b"\xff\xfe") == "0xfffe"
        assert db._format_key_for_display("user:1") == "'user:1'"
        with pytest.raises(KeyError, match="no such record: 'nope'"):
            db["nope"]
        with pytest.raises(KeyError, match="no such record: 'nope'"):
            del db["nope"]
        db.write_buffer[b"bad"] = b"not a pickle"
        with pytest.raises(ValueError, match=r"corrupt buffered record b'bad'"):
            db.get(b"bad")
        db.write_buffer.clear()
        with db.env.begin(write=True) as txn:
            txn.put(b"bad", b"not a pickle")
        with pytest.raises(ValueError, match=r"corrupt DB record b'bad'"):
            db.get(b"bad")
        with pytest.raises(ValueError, match=r"corrupt DB record b'bad'"):
            db.get_many([b"bad"])
    with LmdbObjectStore(str(tmp_path / "db")) as db:  # the defaults: the peer's messages
        error = db._unpickle_error(b"k", "DB", EOFError("x"))
        assert isinstance(error, RuntimeError) and str(error) == "Failed to unpickle DB key 'k': x"
        assert str(db._key_not_found_error(b"k")) == "\"Key not found: 'k'\""
        with pytest.raises(RuntimeError, match="Failed to unpickle DB key 'bad'") as info:
            db.get(b"bad")
        with pytest.raises(Exception) as expected:
            pickle.loads(b"not a pickle")
        assert type(info.value.__cause__) is type(expected.value)  # chained to pickle's error
