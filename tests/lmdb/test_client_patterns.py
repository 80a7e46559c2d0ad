"""How real projects use py-lmdb, run against ``zlmdb.lmdb`` (and py-lmdb when it is installed).

Each test is one usage pattern seen in code built on py-lmdb: image/sample dataset loaders
(PyTorch, caffe), key-value caches and dict wrappers, a slab-style store that grows its map on
``MapFullError`` and replays, dupsort indexes, backup by ``copy(compact=True, txn=...)``, worker
processes made by ``fork`` and ``multiprocessing``, and threads. The ``lm`` fixture runs every
test once with ``zlmdb.lmdb`` and once with py-lmdb (skipped where py-lmdb is absent, e.g. on
PyPy); the assertions are the same for both, so they state py-lmdb's behaviour and check that
zlmdb reproduces it on a real LMDB file.
"""

from __future__ import annotations

import copy
import os
import pickle
import struct
import threading

import pytest

import zlmdb.lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


@pytest.fixture(params=["zlmdb", "py-lmdb"])
def lm(request):
    """The binding under test: ``zlmdb.lmdb``, or py-lmdb itself for comparison."""
    if request.param == "zlmdb":
        return zlmdb.lmdb
    return pytest.importorskip("lmdb")


def _fill_samples(lm, path, count=20):
    """Write a dataset the way converters do: pickled samples under ASCII keys plus a count."""
    env = lm.open(path, map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(count):
            sample = {"index": i, "label": i % 3, "pixels": bytes([i]) * 64}
            txn.put(f"image-{i:09d}".encode("ascii"), pickle.dumps(sample))
        txn.put(b"num-samples", str(count).encode())
    env.close()


# --- dataset loaders ---------------------------------------------------------------------------


def test_dataset_reader_readonly_nolock(lm, tmp_path):
    path = str(tmp_path / "train.lmdb")
    _fill_samples(lm, path)
    env = lm.open(path, max_readers=1, readonly=True, lock=False, readahead=False, meminit=False)
    assert env  # loaders test `if not env:` after opening
    with env.begin(write=False) as txn:
        length = int(txn.get(b"num-samples"))
        assert txn.stat()["entries"] == length + 1
    assert env.stat()["entries"] == length + 1
    for index in (0, 7, 19):
        with env.begin(write=False) as txn:
            sample = pickle.loads(txn.get(f"image-{index:09d}".encode("ascii")))
        assert sample["index"] == index and sample["pixels"] == bytes([index]) * 64
    with env.begin() as txn:
        assert txn.get(b"image-000000099") is None
        with pytest.raises(TypeError, match="Won't implicitly convert Unicode"):
            txn.get("num-samples")
    with pytest.raises(lm.ReadonlyError):
        env.begin(write=True)
    env.close()


def test_dataset_map_size_positional_and_keys_list(lm, tmp_path):
    path = str(tmp_path / "ds")
    env = lm.open(path, 1 << 23)  # map_size passed positionally
    assert env.info()["map_size"] == 1 << 23
    with env.begin(write=True) as txn:
        for i in range(5):
            txn.put(b"%03d" % i, struct.pack("<I", i))
    env.close()
    env = lm.open(path, 1 << 23, readonly=True, create=False, readahead=False, lock=False)
    with env.begin() as txn:
        keys = list(txn.cursor().iternext(values=False))
        assert keys == [b"000", b"001", b"002", b"003", b"004"]
        assert [struct.unpack("<I", v)[0] for v in txn.cursor().iternext(keys=False)] == list(
            range(5)
        )
        assert dict(txn.cursor())[b"003"] == struct.pack("<I", 3)
    env.close()


def test_dataset_single_file_subdir_false(lm, tmp_path):
    path = str(tmp_path / "points.lmdb")
    env = lm.open(path, subdir=False, map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(b"0", pickle.dumps([1.5, 2.5]))
    assert sorted(os.listdir(tmp_path)) == ["points.lmdb", "points.lmdb-lock"]
    assert env.flags()["subdir"] is False
    env.close()
    env = lm.open(path, subdir=False, readonly=True, lock=False, readahead=False, meminit=False)
    with env.begin() as txn:
        assert pickle.loads(txn.get(b"0")) == [1.5, 2.5]
    env.close()
    with pytest.raises(lm.Error, match="Not a directory"):
        lm.open(path, readonly=True)  # subdir=True on a file
    with pytest.raises(lm.Error, match="No such file or directory"):
        lm.open(str(tmp_path / "missing.lmdb"), subdir=False, readonly=True)


def test_sizes_computed_with_numpy(lm, tmp_path):
    """Converters size the map from array sizes: ``map_size`` etc. arrive as numpy ints."""
    np = pytest.importorskip("numpy")
    images = np.zeros((8, 16, 16, 3), dtype=np.uint8)
    map_size = images.nbytes * np.int64(64)
    assert type(map_size) is not int
    env = lm.open(
        str(tmp_path / "np"), map_size=map_size, max_dbs=np.int32(2), max_readers=np.uint16(8)
    )
    assert env.info()["map_size"] == int(map_size) and env.max_readers() == 8
    db = env.open_db(b"fixed", dupsort=True, dupfixed=True)
    with env.begin(write=True) as txn:
        for i, image in enumerate(images):
            txn.put(b"%03d" % i, image)  # a C-contiguous array is a buffer
            txn.put(b"k", struct.pack("<I", i), db=db)
        restored = np.frombuffer(txn.get(b"007"), dtype=np.uint8).reshape(16, 16, 3)
        assert restored.shape == (16, 16, 3) and not restored.any()
        got = txn.cursor(db).getmulti([b"k"], dupdata=True, dupfixed_bytes=np.int64(4))
        assert len(got) == 8
    env.set_mapsize(np.int64(2) * map_size)
    assert env.info()["map_size"] == 2 * int(map_size)
    with pytest.raises(TypeError):
        env.set_mapsize(float(map_size))
    with pytest.raises(TypeError):
        lm.open(str(tmp_path / "float"), map_size=1e9)
    env.close()


def test_single_file_without_lock_makes_no_lock_file(lm, tmp_path):
    env = lm.open(str(tmp_path / "one.mdb"), subdir=False, lock=False)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    assert os.listdir(tmp_path) == ["one.mdb"]
    assert env.flags()["lock"] is False
    env.close()


def test_loader_never_closing_its_read_txns(lm, tmp_path):
    """``env.begin().get(key)`` per sample, the transaction left to the garbage collector.

    On PyPy the collector frees such transactions late, so their reader slots must be
    reclaimed when the reader table is full rather than raising ``ReadersFullError``.
    """
    path = str(tmp_path / "leaky")
    _fill_samples(lm, path, count=3)
    env = lm.open(path, max_readers=4, readonly=True)
    for i in range(600):
        assert pickle.loads(env.begin(write=False).get(b"image-%09d" % (i % 3)))["index"] == i % 3
        cur = env.begin(buffers=True).cursor()
        assert cur.first()
    env.close()


def test_reader_table_really_full_still_raises(lm, tmp_path):
    path = str(tmp_path / "full-readers")
    _fill_samples(lm, path, count=1)
    env = lm.open(path, max_readers=1, max_dbs=1)
    db = env.open_db()
    held = []
    with pytest.raises(
        lm.ReadersFullError, match=r"Please use a larger Environment\(max_readers=\)"
    ):
        for i in range(1000):
            held.append(env.begin(db=db) if i % 2 else env.begin(buffers=True))
    assert 0 < len(held) < 1000
    with pytest.raises(lm.ReadersFullError):
        env.begin()
    held.pop().abort()
    assert env.begin().get(b"num-samples") == b"1"
    for txn in held:
        txn.abort()
    env.close()


def test_buffers_values_copied_with_bytes(lm, tmp_path):
    env = lm.open(str(tmp_path / "buf"))
    with env.begin(write=True) as txn:
        txn.put(b"a", b"12345")
        txn.put(b"b", struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
    with env.begin(buffers=True) as txn:
        view = txn.get(b"a")
        assert isinstance(view, memoryview)
        assert bytes(view) == b"12345" and view == b"12345" and view[1:3].tobytes() == b"23"
        floats = struct.unpack("<4f", txn.get(b"b"))
        assert floats == (1.0, 2.0, 3.0, 4.0)
        copied = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
        assert copied[0] == (b"a", b"12345")
        assert txn.get(b"zz", default=b"d") == b"d"
    env.close()


# --- pickling and copying (DataLoader spawn, dataset copies) -----------------------------------


def test_handles_cannot_be_pickled_or_copied(lm, tmp_path):
    env = lm.open(str(tmp_path / "p"), max_dbs=1)
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    txn = env.begin()
    cur = txn.cursor()
    db = env.open_db()
    for obj, name in (
        (env, "Environment"),
        (txn, "Transaction"),
        (cur, "Cursor"),
        (db, "_Database"),
    ):
        with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
            pickle.dumps(obj)
        with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
            copy.copy(obj)
        with pytest.raises(TypeError, match=f"cannot pickle '{name}' object"):
            copy.deepcopy(obj)
    # a failed copy must not have produced a second owner of the same handles
    assert cur.first() and txn.get(b"k") == b"v"
    txn.abort()
    with env.begin() as txn2:
        assert txn2.get(b"k") == b"v"
    env.close()


class _LazyDataset:
    """A loader that drops its environment when pickled and reopens it on first use."""

    def __init__(self, lm, path):
        self.lm = lm.__name__
        self.path = path
        self.env = None
        with self._open().begin() as txn:
            self.length = txn.stat()["entries"]
        self.env.close()
        self.env = None

    def _open(self):
        if self.env is None:
            import importlib

            self.env = importlib.import_module(self.lm).open(self.path, readonly=True, lock=False)
        return self.env

    def __getstate__(self):
        state = dict(self.__dict__)
        state["env"] = None
        return state

    def __getitem__(self, index):
        with self._open().begin() as txn:
            return pickle.loads(txn.get(f"image-{index:09d}".encode()))


def test_dataset_with_getstate_survives_pickle(lm, tmp_path):
    path = str(tmp_path / "lazy")
    _fill_samples(lm, path, count=4)
    ds = _LazyDataset(lm, path)
    assert ds.length == 5
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.env is None and clone[2]["index"] == 2
    clone.env.close()


# --- key-value caches and dict wrappers --------------------------------------------------------


def test_cache_wrapper_named_dbs(lm, tmp_path):
    env = lm.Environment(str(tmp_path / "cache"), map_size=1 << 22, max_dbs=4)
    meta = env.open_db(b"meta")
    blobs = env.open_db(key=b"blobs", integerkey=False)
    with env.begin(write=True, db=meta) as txn:
        assert txn.put(b"version", b"1")
        assert txn.put(b"k1", b"x", db=blobs)
    with env.begin(db=meta) as txn:
        assert txn.get(b"version") == b"1"
        assert txn.get(b"k1") is None
        assert txn.get(b"k1", db=blobs) == b"x"
        assert txn.stat(blobs)["entries"] == 1
    assert sorted(env.open_db(b"meta").flags().items()) == sorted(
        {
            "reverse_key": False,
            "dupsort": False,
            "integerkey": False,
            "integerdup": False,
            "dupfixed": False,
        }.items()
    )
    with env.begin() as txn:
        assert txn.stat()["entries"] == 2  # the main db holds the two db records
        assert list(txn.cursor().iternext(values=False)) == [b"blobs", b"meta"]
    with pytest.raises(lm.NotFoundError):
        env.open_db(b"absent", create=False)
    with pytest.raises(TypeError):
        env.open_db("meta")
    with pytest.raises(lm.DbsFullError):
        for i in range(10):
            env.open_db(b"extra%d" % i)
    env.close()


def test_cache_get_set_delete_pop_replace(lm, tmp_path):
    env = lm.open(str(tmp_path / "kv"))
    with env.begin(write=True) as txn:
        assert txn.put(b"a", pickle.dumps({"x": 1}))
        assert txn.put(b"a", b"2", overwrite=False) is False
        assert txn.replace(b"a", b"3") == pickle.dumps({"x": 1})
        assert txn.replace(b"new", b"n") is None
        assert txn.pop(b"a") == b"3"
        assert txn.pop(b"a") is None
        assert txn.delete(b"a") is False
        assert txn.delete(b"new", b"ignored-on-plain-db") is True
        with pytest.raises(TypeError, match="Won't implicitly convert Unicode"):
            txn.put("a", b"1")
        with pytest.raises(TypeError, match="Won't implicitly convert Unicode"):
            txn.put(b"a", "1")
        with pytest.raises(lm.BadValsizeError):
            txn.put(b"", b"1")
        with pytest.raises(lm.BadValsizeError):
            txn.put(b"k" * 512, b"1")
        assert txn.get(b"k" * 512) is None
        assert txn.put(bytearray(b"ba"), memoryview(b"xyz")[1:])
        assert txn.get(bytearray(b"ba")) == b"yz"
    env.close()


def test_unbound_transaction_methods_with_db_keyword(lm, tmp_path):
    """A store that dispatches through ``lmdb.Transaction.put`` etc. as plain functions."""
    env = lm.open(str(tmp_path / "slab"), max_dbs=2)
    db = env.open_db(b"hist", dupsort=True)
    with env.begin(write=True) as txn:
        put = lm.Transaction.put
        assert put(txn, b"k", b"v1", dupdata=True, overwrite=True, append=False, db=db)
        assert put(txn, b"k", b"v2", db=db)
        assert lm.Transaction.get(txn, b"k", db=db) == b"v1"
        assert lm.Transaction.delete(txn, b"k", None, db=db) is True  # None value: all dups
        assert lm.Transaction.get(txn, b"k", db=db) is None
        put(txn, b"k", b"v1", db=db)
        put(txn, b"k", b"v2", db=db)
        assert lm.Transaction.replace(txn, b"k", b"v3", db=db) == b"v1"
        assert list(txn.cursor(db=db).iternext()) == [(b"k", b"v3")]
        put(txn, b"k", b"v4", db=db)
        assert lm.Transaction.pop(txn, b"k", db=db) == b"v3"
        assert list(txn.cursor(db=db)) == [(b"k", b"v4")]
        assert lm.Cursor(db, txn).first()
    env.close()


def test_dupsort_index_scans(lm, tmp_path):
    env = lm.open(str(tmp_path / "idx"), max_dbs=2)
    index = env.open_db(b"by_tag", dupsort=True)
    with env.begin(write=True, db=index) as txn:
        for tag in (b"blue", b"red"):
            for ident in (b"3", b"1", b"2"):
                txn.put(tag, ident)
    with env.begin(db=index) as txn, txn.cursor() as cur:
        assert cur.set_key(b"blue")
        assert cur.count() == 3
        assert list(cur.iternext_dup()) == [b"1", b"2", b"3"]
        assert cur.set_key(b"red")
        assert list(cur.iternext_dup(keys=True)) == [(b"red", b"1"), (b"red", b"2"), (b"red", b"3")]
        assert list(txn.cursor().iternext_nodup()) == [b"blue", b"red"]
        assert cur.set_key(b"red") and cur.last_dup() and cur.value() == b"3"
        assert list(cur.iterprev_dup()) == [b"3", b"2", b"1"]
        assert cur.set_range_dup(b"blue", b"15") and cur.item() == (b"blue", b"2")
        assert cur.set_key_dup(b"red", b"2") and not cur.set_key_dup(b"red", b"9")
        assert not cur.set_key(b"green")
        assert cur.getmulti([b"red", b"green", b"blue"]) == [(b"red", b"1"), (b"blue", b"1")]
        assert len(cur.getmulti([b"red", b"blue"], dupdata=True)) == 6
    # walk every key with its values: first(), iternext_dup(), next_nodup()
    with env.begin(db=index) as txn:
        cur = txn.cursor()
        grouped = []
        if cur.first():
            while True:
                key = cur.key()
                grouped.append((key, list(cur.iternext_dup())))
                if not cur.next_nodup():
                    break
        assert grouped == [(b"blue", [b"1", b"2", b"3"]), (b"red", [b"1", b"2", b"3"])]
    env.close()


def test_prefix_and_range_scans(lm, tmp_path):
    env = lm.open(str(tmp_path / "scan"))
    with env.begin(write=True) as txn:
        for word in (b"apple", b"apricot", b"banana", b"blueberry", b"cherry"):
            txn.put(word, word.upper())
    with env.begin() as txn:
        cur = txn.cursor()
        found = []
        if cur.set_range(b"ap"):
            for key, value in cur:
                if not key.startswith(b"ap"):
                    break
                found.append(value)
        assert found == [b"APPLE", b"APRICOT"]
        assert not cur.set_range(b"zzz") and cur.key() == b""
        # backwards from a bound: step back if set_range passed it, then iterprev
        assert cur.set_range(b"c") and cur.key() == b"cherry"
        assert cur.prev()
        assert list(cur.iterprev(values=False)) == [b"blueberry", b"banana", b"apricot", b"apple"]
        assert list(txn.cursor().iterprev(keys=False))[0] == b"CHERRY"
        assert cur.last() and cur.key() == b"cherry"
        assert cur.get(b"banana") == b"BANANA" and cur.get(b"kiwi", b"none") == b"none"
    env.close()


def test_cursor_delete_while_walking(lm, tmp_path):
    env = lm.open(str(tmp_path / "del"))
    with env.begin(write=True) as txn:
        for i in range(10):
            txn.put(b"%d" % i, b"x")
    with env.begin(write=True) as txn:
        cur = txn.cursor()
        cur.first()
        while cur.key():
            if int(cur.key()) % 2:
                cur.delete()  # moves to the next item
            else:
                cur.next()
        assert list(txn.cursor().iternext(values=False)) == [b"0", b"2", b"4", b"6", b"8"]
        for key, _ in txn.cursor():
            txn.delete(key)
        assert txn.stat()["entries"] == 0
    env.close()


def test_putmulti_batches(lm, tmp_path):
    env = lm.open(str(tmp_path / "pm"), max_dbs=2)
    db = env.open_db(b"d", dupsort=True)
    rows = [(b"%04d" % i, b"v") for i in range(100)]
    with env.begin(write=True) as txn:
        with txn.cursor() as cur:
            assert cur.putmulti(rows) == (100, 100)
            assert cur.putmulti([(b"0000", b"again")], overwrite=False) == (1, 0)
            assert txn.get(b"0000") == b"v"
            assert cur.putmulti(iter([(b"x", b"1"), (b"x", b"2")]), overwrite=False) == (2, 1)
            assert cur.putmulti({b"y": b"1"}.items()) == (1, 1)
            with pytest.raises(TypeError):
                cur.putmulti([[b"z", b"1"]])
        with txn.cursor(db=db) as cur:
            assert cur.putmulti([(b"a", b"1"), (b"a", b"1"), (b"a", b"2")], dupdata=False) == (3, 2)
            assert cur.putmulti(rows[:3], dupdata=True, append=True) == (3, 3)
            assert cur.putmulti(rows[:3], dupdata=True, append=True) == (3, 0)
    with env.begin(db=db) as txn:
        assert txn.stat()["entries"] == 5
    env.close()


def test_open_db_inside_write_txn_then_abort(lm, tmp_path):
    env = lm.open(str(tmp_path / "odb"), max_dbs=3)
    with env.begin(write=True) as txn:
        db = env.open_db(b"x", txn=txn, dupsort=True)
        txn.put(b"k", b"1", db=db)
        txn.put(b"k", b"2", db=db)
    with env.begin() as txn:
        assert list(txn.cursor(db=db)) == [(b"k", b"1"), (b"k", b"2")]
    txn = env.begin(write=True)
    env.open_db(b"y", txn=txn)
    txn.abort()
    with pytest.raises(lm.NotFoundError):
        env.open_db(b"y", create=False)
    handle = env.open_db(b"x")  # open_db(txn=None) inside a write txn would deadlock py-lmdb
    with env.begin(write=True) as txn:
        txn.drop(handle, delete=True)
    with pytest.raises(lm.NotFoundError):
        env.open_db(b"x", create=False)
    env.close()


def test_integerkey_native_order(lm, tmp_path):
    env = lm.open(str(tmp_path / "ik"), max_dbs=2)
    db = env.open_db(b"ids", integerkey=True)
    with env.begin(write=True, db=db) as txn:
        for i in (300, 2, 1 << 40, 7):
            txn.put(struct.pack("=Q", i), b"v")
        keys = [struct.unpack("=Q", k)[0] for k in txn.cursor().iternext(values=False)]
    assert keys == [2, 7, 300, 1 << 40]
    dups = env.open_db(b"dups", dupsort=True, integerdup=True, dupfixed=True)
    with env.begin(write=True, db=dups) as txn:
        for i in (300, 2, 7):
            txn.put(b"k", struct.pack("=I", i))
        cur = txn.cursor()
        assert cur.first()
        assert [struct.unpack("=I", v)[0] for v in cur.iternext_dup()] == [2, 7, 300]
        got = txn.cursor().getmulti([b"k"], dupdata=True, dupfixed_bytes=4)
        assert [struct.unpack("=I", v)[0] for _, v in got] == [2, 7, 300]
    env.close()


# --- a store that grows its map on MapFullError ------------------------------------------------


def test_mapfull_grow_and_retry(lm, tmp_path):
    env = lm.open(str(tmp_path / "grow"), map_size=64 * 1024)
    batch = [(b"%05d" % i, b"x" * 1000) for i in range(200)]
    grown = 0
    while True:
        try:
            with env.begin(write=True) as txn:
                for key, value in batch:
                    txn.put(key, value)
            break
        except lm.MapFullError as exc:
            assert exc.code == -30792 and exc.what == "mdb_put"
            assert "Please use a larger Environment(map_size=) parameter" in str(exc)
            grown += 1
            env.set_mapsize(env.info()["map_size"] * 2)
    assert grown >= 1
    assert env.info()["map_size"] == 64 * 1024 * 2**grown
    assert env.stat()["entries"] == 200
    with env.begin() as txn:
        assert txn.get(b"00199") == b"x" * 1000
    env.close()


def test_txn_after_mapfull_must_abort(lm, tmp_path):
    env = lm.open(str(tmp_path / "full"), map_size=64 * 1024)
    txn = env.begin(write=True)
    with pytest.raises(lm.MapFullError):
        for i in range(200):
            txn.put(b"%05d" % i, b"x" * 1000)
    with pytest.raises(lm.BadTxnError):
        txn.put(b"a", b"b")
    with pytest.raises(lm.BadTxnError):
        txn.get(b"00000")
    with pytest.raises(lm.BadTxnError):
        txn.commit()
    txn.abort()
    assert env.stat()["entries"] == 0
    env.set_mapsize(1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"a", b"b")
    assert env.stat()["entries"] == 1
    env.close()


def test_handles_survive_set_mapsize(lm, tmp_path):
    env = lm.open(str(tmp_path / "ms"), map_size=1 << 20, max_dbs=2)
    db = env.open_db(b"named")
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v", db=db)
    env.set_mapsize(1 << 21)
    with env.begin(write=True) as txn:
        txn.put(b"k2", b"v2", db=db)
    with env.begin(db=db) as txn:
        assert list(txn.cursor()) == [(b"k", b"v"), (b"k2", b"v2")]
    env.set_mapsize(0)  # adopt the size in use
    assert env.info()["map_size"] == 1 << 21
    env.close()


# --- backups -----------------------------------------------------------------------------------


def test_backup_copy_compact_snapshot(lm, tmp_path):
    env = lm.open(str(tmp_path / "src"), max_dbs=2)
    db = env.open_db(b"one")
    with env.begin(write=True) as txn:
        for i in range(100):
            txn.put(b"%03d" % i, b"v" * 100, db=db)
    snapshot = env.begin()
    with env.begin(write=True) as txn:
        for i in range(50):
            txn.delete(b"%03d" % i, db=db)
    for name in ("full", "compact", "snap"):
        os.mkdir(tmp_path / name)
    env.copy(str(tmp_path / "full"))
    env.copy(str(tmp_path / "compact"), compact=True)
    env.copy(str(tmp_path / "snap"), compact=True, txn=snapshot)
    with pytest.raises(TypeError):
        env.copy(str(tmp_path / "snap"), txn=snapshot)
    snapshot.abort()
    with pytest.raises(lm.Error):
        env.copy(str(tmp_path / "missing-dir"))
    expected = {"full": 50, "compact": 50, "snap": 100}
    for name, entries in expected.items():
        copied = lm.open(str(tmp_path / name), max_dbs=2, readonly=True)
        handle = copied.open_db(b"one", create=False)
        with copied.begin() as txn:
            assert txn.stat(handle)["entries"] == entries
        copied.close()
    size_full = os.path.getsize(tmp_path / "full" / "data.mdb")
    assert os.path.getsize(tmp_path / "compact" / "data.mdb") <= size_full
    env.close()


def test_env_introspection(lm, tmp_path):
    env = lm.open(str(tmp_path / "intro"), max_dbs=2, max_spare_txns=2)
    assert set(env.info()) >= {
        "map_addr",
        "map_size",
        "last_pgno",
        "last_txnid",
        "max_readers",
        "num_readers",
    }
    assert set(env.stat()) == {
        "psize",
        "depth",
        "branch_pages",
        "leaf_pages",
        "overflow_pages",
        "entries",
    }
    assert env.reader_check() == 0
    assert env.max_key_size() == 511 and env.max_readers() == 126
    assert env.path() == str(tmp_path / "intro")
    assert lm.version() == (0, 9, 36) and lm.version(True)[:3] == (0, 9, 36)
    assert tuple(int(p) for p in lm.__version__.split(".")[:2]) >= (1, 0)
    with env.begin() as txn:
        assert txn.id() == 0
    with env.begin(write=True) as txn:
        txn.put(b"a", b"b")
    assert env.info()["last_txnid"] == 1
    env.sync()
    env.sync(True)
    with env as same:
        assert same is env
    with pytest.raises(lm.Error, match=CLOSED):
        env.stat()
    env.close()


def test_context_managers_commit_and_abort(lm, tmp_path):
    env = lm.open(str(tmp_path / "ctx"))
    with env.begin(write=True) as txn, txn.cursor() as cur:
        cur.put(b"a", b"1")
        cur.put(b"b", b"2")
    with pytest.raises(lm.Error, match=CLOSED):
        cur.key()
    with pytest.raises(lm.Error, match=CLOSED):
        txn.get(b"a")
    with pytest.raises(KeyError):
        with env.begin(write=True) as txn:
            txn.put(b"c", b"3")
            raise KeyError("abort")
    with env.begin() as txn:
        assert txn.get(b"b") == b"2" and txn.get(b"c") is None
    with lm.open(str(tmp_path / "ctx2")) as env2:
        with env2.begin(write=True) as txn:
            txn.put(b"k", b"v")
            txn.commit()  # committing inside `with` is fine
    env.close()


def test_iterator_outliving_transaction_raises(lm, tmp_path):
    env = lm.open(str(tmp_path / "it"))
    with env.begin(write=True) as txn:
        txn.put(b"a", b"1")
        txn.put(b"b", b"2")
    with env.begin() as txn:
        gen = txn.cursor().iternext()
        assert next(gen) == (b"a", b"1")
    with pytest.raises(lm.Error, match=CLOSED):
        next(gen)
    env.close()


# --- threads -----------------------------------------------------------------------------------


def test_threads_write_and_read_with_lock(lm, tmp_path):
    env = lm.open(str(tmp_path / "thr"), lock=True, max_spare_txns=4)
    errors = []

    def work(n):
        try:
            for j in range(30):
                with env.begin(write=True) as txn:
                    txn.put(b"%d-%d" % (n, j), b"x")
                with env.begin() as txn:
                    assert txn.get(b"%d-%d" % (n, j)) == b"x"
        except Exception as exc:  # reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert env.stat()["entries"] == 120
    env.close()


def test_read_txn_used_from_another_thread(lm, tmp_path):
    env = lm.open(str(tmp_path / "xthr"))
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")
    txn = env.begin()
    seen = []
    worker = threading.Thread(target=lambda: seen.append(txn.get(b"k")))
    worker.start()
    worker.join()
    assert seen == [b"v"]
    txn.abort()
    env.close()


def test_write_txn_abandoned_by_an_exception(lm, tmp_path):
    """A writer that lets a failed batch's transaction go without ``abort()``.

    Dropping it aborts it; on PyPy that happens only when the collector frees it, so the next
    ``begin(write=True)`` on the thread must not report the abandoned one as still open.
    """
    env = lm.open(str(tmp_path / "abandon"), max_dbs=1)
    db = env.open_db(b"rows")

    def write_batch(n, fail):
        txn = env.begin(write=True, db=db) if n % 4 == 1 else env.begin(write=True)
        txn.put(b"row-%d" % n, b"x", db=db)
        if fail:
            raise ValueError("bad row")
        txn.commit()

    written = 0
    for n in range(40):
        try:
            write_batch(n, n % 2 == 1)
            written += 1
        except ValueError:
            pass
    assert written == 20
    with env.begin(db=db) as txn:
        assert txn.stat()["entries"] == 20 and txn.get(b"row-1") is None
    env.close()


def test_second_write_txn_same_thread_refused(lm, tmp_path):
    env = lm.open(str(tmp_path / "busy"))
    txn = env.begin(write=True)
    with pytest.raises(lm.Error, match="would deadlock"):
        env.begin(write=True)
    txn.abort()
    env.begin(write=True).abort()
    env.close()


# --- worker processes: fork and multiprocessing ------------------------------------------------


def _in_child(fn):
    """Run ``fn`` in a forked child; return ``('ok', result)`` or ``('exc', type, message)``."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.close(read_end)
            try:
                outcome = ("ok", fn())
            except BaseException as exc:
                outcome = ("exc", type(exc).__name__, str(exc))
            os.write(write_end, pickle.dumps(outcome))
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return pickle.loads(b"".join(chunks))


fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@fork_only
def test_fork_worker_reads_inherited_readonly_env(lm, tmp_path):
    path = str(tmp_path / "ds")
    _fill_samples(lm, path, count=5)
    env = lm.open(path, readonly=True, lock=False, readahead=False, meminit=False)

    def worker():
        with env.begin() as txn:
            return [pickle.loads(txn.get(b"image-000000003"))["index"], txn.stat()["entries"]]

    assert _in_child(worker) == ("ok", [3, 6])
    with env.begin() as txn:
        assert txn.get(b"num-samples") == b"5"
    env.close()


@fork_only
def test_fork_child_cannot_reopen_an_env_the_parent_holds(lm, tmp_path):
    path = str(tmp_path / "held")
    _fill_samples(lm, path, count=2)
    env = lm.open(path, readonly=True, lock=False)
    outcome = _in_child(lambda: lm.open(path, readonly=True, lock=False).stat())
    assert outcome[:2] == ("exc", "Error") and "is already open in this process" in outcome[2]
    env.close()
    # the usual fix: the parent closes before forking and each worker opens its own
    outcome = _in_child(
        lambda: lm.open(path, readonly=True, lock=False).begin().get(b"num-samples")
    )
    assert outcome == ("ok", b"2")


@fork_only
def test_fork_child_dropping_inherited_objects_leaves_parent_intact(lm, tmp_path):
    env = lm.open(str(tmp_path / "inh"))
    with env.begin(write=True) as txn:
        for i in range(10):
            txn.put(b"%d" % i, b"v")
    txn = env.begin()
    cur = txn.cursor()
    assert cur.first()
    readers_before = env.readers()
    holder = {"txn": txn, "cur": cur}

    def child_drops():
        import gc

        holder.clear()
        gc.collect()
        return "dropped"

    assert _in_child(child_drops) == ("ok", "dropped")
    assert env.readers() == readers_before
    if lm is zlmdb.lmdb:
        # py-lmdb's close() in the child aborts the inherited read txn and so frees the
        # parent's reader slot in the shared lock file; zlmdb's leaves LMDB alone
        def child_closes():
            env.close()
            return "closed"

        assert _in_child(child_closes) == ("ok", "closed")
        assert env.readers() == readers_before
    assert cur.key() == b"0" and txn.get(b"5") == b"v"
    assert list(cur.iternext(values=False))[-1] == b"9"
    txn.abort()
    with env.begin(write=True) as wtxn:
        wtxn.put(b"after", b"fork")
    with env.begin() as rtxn:
        assert rtxn.get(b"after") == b"fork"
    env.close()


@fork_only
def test_fork_child_reads_through_locked_env(lm, tmp_path):
    env = lm.open(str(tmp_path / "locked"))
    with env.begin(write=True) as txn:
        txn.put(b"k", b"v")

    def worker():
        with env.begin() as txn:
            return txn.get(b"k")

    assert _in_child(worker) == ("ok", b"v")
    with env.begin(write=True) as txn:
        txn.put(b"k2", b"v2")
    assert env.stat()["entries"] == 2
    env.close()


def _pool_read(args):
    module, path, key = args
    import importlib

    lmod = importlib.import_module(module)
    env = lmod.open(path, readonly=True, lock=False)
    try:
        with env.begin() as txn:
            return pickle.loads(txn.get(key))["label"]
    finally:
        env.close()


def _pool_write_in_read_txn(args):
    module, path = args
    import importlib

    lmod = importlib.import_module(module)
    env = lmod.open(path, readonly=True, lock=False)
    try:
        with env.begin() as txn:
            txn.put(b"k", b"v")
    finally:
        env.close()


@fork_only
def test_multiprocessing_pool_workers_open_their_own_env(lm, tmp_path):
    import multiprocessing

    path = str(tmp_path / "pool")
    _fill_samples(lm, path, count=6)
    ctx = multiprocessing.get_context("fork")
    keys = [f"image-{i:09d}".encode() for i in range(6)]
    with ctx.Pool(2) as pool:
        labels = pool.map(_pool_read, [(lm.__name__, path, k) for k in keys])
        assert labels == [0, 1, 2, 0, 1, 2]
        # an lmdb exception raised in a worker arrives in the parent as the same class
        with pytest.raises(lm.ReadonlyError, match="mdb_put: Permission denied"):
            pool.apply(_pool_write_in_read_txn, ((lm.__name__, path),))
