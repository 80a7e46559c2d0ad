"""The two bundled LMDB engines: 0.9 (default) and 1.0, which writes another file format.

Choosing the engine (``lib_version=``, ``$LMDB_DEFAULT_LIB_VERSION``, the format of an
existing file), files of one engine under the other, and the same files read by py-lmdb when
it is installed. The behaviour tests of the other modules run on both engines (conftest).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import warnings

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.lmdb import verify

try:  # py-lmdb, to cross-check the files (CPython only)
    import lmdb as pylmdb
except ImportError:  # pragma: no cover - PyPy
    pylmdb = None


def _magic_offset(path) -> int:
    head = open(os.path.join(str(path), "data.mdb"), "rb").read(32)
    magic = (0xBEEFC0DE).to_bytes(4, sys.byteorder)
    return head.index(magic)


def _value(i: int) -> bytes:
    return b"value-%d" % i * (1 + i % 7)


def _fill(env, n=300, db=None) -> None:
    with env.begin(write=True, db=db) as txn:
        for i in range(n):
            txn.put(b"key%05d" % i, _value(i))


def test_lib_version_one_writes_the_1_0_format_and_reopens_by_itself(tmp_path) -> None:
    path = str(tmp_path / "e")
    env = lmdb.open(path, lib_version=1)
    assert env.lib_version() == (1, 0, 2)
    _fill(env)
    env.close()
    assert _magic_offset(path) == 24  # after 1.0's 24-byte page header (0.9: 16)
    again = lmdb.open(path)  # no lib_version: the file's format decides
    assert again.lib_version() == (1, 0, 2)
    with again.begin() as txn:
        assert txn.get(b"key00007") == _value(7)
        assert txn.stat()["entries"] == 300
    again.close()


def test_default_engine_is_0_9_and_a_0_9_file_stays_0_9(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "e")
    env = lmdb.open(path)
    assert env.lib_version() == (0, 9, 36)
    env.close()
    assert _magic_offset(path) == 16
    monkeypatch.setenv("LMDB_DEFAULT_LIB_VERSION", "1")
    env = lmdb.open(path)  # the existing file wins over the default
    assert env.lib_version() == (0, 9, 36)
    env.close()
    fresh = lmdb.open(str(tmp_path / "fresh"))
    assert fresh.lib_version() == (1, 0, 2)
    fresh.close()


@pytest.mark.parametrize("value", ["7", "x", " 1", "1.0", "-1"])
def test_unknown_default_engine_is_ignored_with_a_warning(tmp_path, monkeypatch, value) -> None:
    monkeypatch.setenv("LMDB_DEFAULT_LIB_VERSION", value)
    with pytest.warns(RuntimeWarning, match="ignoring LMDB_DEFAULT_LIB_VERSION"):
        env = lmdb.open(str(tmp_path / "e"))
    assert env.lib_version() == (0, 9, 36)
    env.close()


def test_forcing_the_other_engine_on_a_file_raises_invalid(tmp_path) -> None:
    for made, forced in ((0, 1), (1, 0)):
        path = str(tmp_path / f"made{made}")
        lmdb.open(path, lib_version=made).close()
        with pytest.raises(lmdb.InvalidError, match=f"opened with lib_version={forced}"):
            lmdb.open(path, lib_version=forced)
        # The failed open left the file usable by its own engine.
        env = lmdb.open(path)
        assert env.lib_version()[0] == made
        env.close()


def test_bool_lib_version_is_an_int_as_in_py_lmdb(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=True)
    assert env.lib_version() == (1, 0, 2)
    env.close()


def test_both_engines_in_one_process_keep_their_own_files(tmp_path) -> None:
    old = lmdb.open(str(tmp_path / "old"), lib_version=0, max_dbs=2)
    new = lmdb.open(str(tmp_path / "new"), lib_version=1, max_dbs=2)
    for env in (old, new):
        dups = env.open_db(b"dups", dupsort=True)
        _fill(env)
        with env.begin(write=True, db=dups) as txn:
            for v in (b"c", b"a", b"b"):
                txn.put(b"k", v)
    for env in (old, new):
        dups = env.open_db(b"dups", dupsort=True)
        with env.begin(db=dups) as txn:
            cur = txn.cursor()
            assert cur.set_key(b"k") and list(cur.iternext_dup()) == [b"a", b"b", b"c"]
            assert cur.count() == 3
            assert cur.getmulti([b"k"], dupdata=True) == [(b"k", b"a"), (b"k", b"b"), (b"k", b"c")]
        with env.begin() as txn:
            got = list(txn.cursor().iternext(values=False))
            assert got[:2] == [b"dups" + (b"\0" if env is new else b""), b"key00000"]
        assert env.get(b"key00299") == _value(299)
        assert env.dbs() == [b"dups"]
    old.close()
    new.close()


def test_batch_calls_and_one_shot_reads_on_1_0(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=1, map_size=1 << 26)
    items = [(b"%08d" % i, os.urandom(i % 300)) for i in range(5000)]
    with env.begin(write=True) as txn:
        assert txn.cursor().putmulti(items) == (5000, 5000)
    with env.begin(buffers=True) as txn:
        cur = txn.cursor()
        assert [(bytes(k), bytes(v)) for k, v in cur.iternext()] == items
        assert txn.count_range(b"00001000", b"00002000") == 1000
    with env.begin() as txn:
        keys = [k for k, _ in items[::97]]
        assert txn.cursor().getmulti(keys) == [(k, v) for k, v in items[::97]]
    assert env.get(b"00004999") == items[-1][1]
    assert env.get(b"missing") is None
    big = b"x" * 100_000  # overflow pages
    with env.begin(write=True) as txn:
        txn.put(b"big", big)
        assert txn.replace(b"big", b"small") == big
        assert txn.pop(b"big") == b"small"
    env.close()


def test_map_full_and_resize_on_1_0(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=1, map_size=64 * 1024)
    with pytest.raises(lmdb.MapFullError):
        with env.begin(write=True) as txn:
            for i in range(10_000):
                txn.put(b"%08d" % i, b"v" * 100)
    env.set_mapsize(16 << 20)
    _fill(env, 2000)
    assert env.stat()["entries"] == 2000
    env.close()


def test_compact_copy_keeps_the_1_0_format(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=1)
    _fill(env)
    os.mkdir(str(tmp_path / "copy"))
    env.copy(str(tmp_path / "copy"), compact=True)
    env.close()
    assert _magic_offset(tmp_path / "copy") == 24
    copy = lmdb.open(str(tmp_path / "copy"))
    assert copy.lib_version() == (1, 0, 2) and copy.stat()["entries"] == 300
    copy.close()


def test_verify_reads_a_1_0_file_written_by_us(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=1, max_dbs=2)
    env.open_db(b"named")
    _fill(env, 3000)
    env.close()
    assert verify.verify(str(tmp_path / "e")) == []


def test_tool_stat_works_on_a_1_0_file(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), lib_version=1)
    _fill(env, 10)
    env.close()
    out = subprocess.run(
        [sys.executable, "-m", "zlmdb.lmdb.tool", "-e", str(tmp_path / "e"), "stat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'entries': 10" in out


@pytest.mark.skipif(pylmdb is None, reason="py-lmdb is not installed (PyPy)")
def test_files_of_either_engine_read_the_same_in_py_lmdb(tmp_path) -> None:
    for engine in (0, 1):
        ours = str(tmp_path / f"ours{engine}")
        env = lmdb.open(ours, lib_version=engine)
        _fill(env)
        env.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs_env = pylmdb.open(ours)
        assert theirs_env.lib_version()[0] == engine
        with theirs_env.begin() as txn:
            assert list(txn.cursor()) == [
                (b"key%05d" % i, b"value-%d" % i * (1 + i % 7)) for i in range(300)
            ]
        theirs_env.close()

        theirs = str(tmp_path / f"theirs{engine}")
        theirs_env = pylmdb.open(theirs, lib_version=engine)
        _fill(theirs_env)
        theirs_env.close()
        env = lmdb.open(theirs)
        assert env.lib_version()[0] == engine
        with env.begin() as txn:
            assert list(txn.cursor()) == [
                (b"key%05d" % i, b"value-%d" % i * (1 + i % 7)) for i in range(300)
            ]
        env.close()


@pytest.mark.parametrize(
    ("offset", "version", "message"),
    [
        (16, 2, "LMDB data format v2 (a pre-1.0 development version"),
        (24, 2, "LMDB data format v2 (a pre-1.0 development version"),
        (16, 999, "LMDB data format v999 is not supported by this build."),
    ],
)
def test_data_formats_no_engine_reads_raise_a_clear_error(tmp_path, offset, version, message):
    path = tmp_path / "e"
    path.mkdir()
    data = bytearray(64)
    struct.pack_into("=II", data, offset, 0xBEEFC0DE, version)
    (path / "data.mdb").write_bytes(bytes(data))
    with pytest.raises(lmdb.Error, match=message.replace("(", r"\(")) as info:
        lmdb.open(str(path))
    assert str(info.value).startswith(str(path))
    assert (path / "data.mdb").read_bytes() == bytes(data)  # untouched


@pytest.mark.parametrize("engine", [0, 1])
def test_large_values_read_after_many_commits(tmp_path, engine) -> None:
    # The overflow-page bounds check reads the page header before a large value: its size
    # differs between the engines (1.0 adds a txnid), and a txnid above the page count
    # must not look like a page number out of bounds.
    env = lmdb.open(str(tmp_path / "e"), lib_version=engine)
    for i in range(300):
        with env.begin(write=True) as txn:
            txn.put(b"k%d" % i, b"v")
    big = os.urandom(3000)
    with env.begin(write=True) as txn:
        txn.put(b"big", big)
    assert env.info()["last_txnid"] > env.info()["last_pgno"]
    with env.begin() as txn:
        assert txn.get(b"big") == big
        assert txn.cursor().set_key(b"big") and txn.cursor().get(b"big") == big
    with env.begin(buffers=True) as txn:
        assert bytes(txn.get(b"big")) == big
    env.close()
