"""The ``zlmdb`` command: demo, info, stat, dump/load round trip, copy, errors."""

from __future__ import annotations

import io
import sys

import pytest

import zlmdb.lmdb as lmdb
from zlmdb import cli


def run(capsys, *argv: str) -> tuple:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def filled(tmp_path):
    path = str(tmp_path / "src")
    env = lmdb.open(path, max_dbs=4)
    named = env.open_db(b"named")
    with env.begin(write=True) as txn:
        for i in range(50):
            txn.put(b"key-%03d" % i, b"value %d" % i)
        txn.put(b"n1", b"in named", db=named)
        txn.put(b"bin", bytes(range(256)))
    env.close()
    return path


def test_demo_reads_back_everything_it_wrote(capsys) -> None:
    status, out, _ = run(capsys, "demo", "--records", "500")
    assert status == 0
    assert "every record written was read back" in out
    assert "zlmdb.lmdb" in out and "ORM" in out and "zlmdb.store" in out


def test_info_names_the_bundled_lmdb(capsys) -> None:
    status, out, _ = run(capsys, "info")
    assert status == 0
    assert "LMDB 0.9.36" in out


def test_stat_counts_entries_and_named_databases(capsys, filled) -> None:
    status, out, _ = run(capsys, "stat", filled)
    assert status == 0
    assert "entries: 52" in out  # 50 keys, b"bin" and the record of the named db
    assert "db named: 1 entries" in out


def test_dump_and_load_round_trip_binary_values(capsys, filled, tmp_path) -> None:
    dump = str(tmp_path / "dump.cdb")
    assert run(capsys, "dump", filled, "-o", dump)[0] == 0
    target = str(tmp_path / "copy")
    status, out, _ = run(capsys, "load", target, "-i", dump)
    assert status == 0 and "loaded 52 records" in out
    env = lmdb.open(target, readonly=True, max_dbs=4)
    with env.begin() as txn:
        assert txn.get(b"key-007") == b"value 7"
        assert txn.get(b"bin") == bytes(range(256))
    env.close()


def test_dump_of_a_named_database(capsys, filled, monkeypatch) -> None:
    buf = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", type("Out", (), {"buffer": buf})())
    assert cli.main(["dump", filled, "--db", "named"]) == 0
    assert buf.getvalue() == b"+2,8:n1->in named\n\n"


def test_load_rejects_a_truncated_dump(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.cdb"
    bad.write_bytes(b"+3,5:abc->12")
    status, _, err = run(capsys, "load", str(tmp_path / "t"), "-i", str(bad))
    assert status == 1
    assert "truncated" in err


def test_copy_compacts_into_a_new_directory(capsys, filled, tmp_path) -> None:
    target = str(tmp_path / "compact")
    status, out, _ = run(capsys, "copy", filled, target, "--compact")
    assert status == 0
    env = lmdb.open(target, readonly=True, max_dbs=4)
    assert env.stat()["entries"] == 52
    env.close()


def test_missing_database_is_an_error_exit(capsys, tmp_path) -> None:
    status, _, err = run(capsys, "stat", str(tmp_path / "nowhere"))
    assert status == 1
    assert "zlmdb stat:" in err
