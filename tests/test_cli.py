"""The ``zlmdb`` command: demo, info, stat, dump/load round trip, copy, errors."""

from __future__ import annotations

import io
import re
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


def test_directory_without_a_database_says_so(capsys, tmp_path) -> None:
    for command in ("stat", "dump"):
        status, _, err = run(capsys, command, str(tmp_path))
        assert status == 1
        assert (
            err
            == f"zlmdb {command}: {tmp_path}: not an LMDB environment (no data.mdb in this directory)\n"
        )


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, so that progress bars are drawn."""

    def isatty(self) -> bool:
        return True


def write_dump(path, records) -> None:
    with open(path, "wb") as out:
        for key, value in records:
            out.write(b"+%d,%d:%s->%s\n" % (len(key), len(value), key, value))
        out.write(b"\n")


def test_cdb_reader_handles_records_across_block_boundaries() -> None:
    records = [(b"k\n->" * i + b"x", b"->\n+1,1:" * (i % 4)) for i in range(1, 40)]
    data = b"".join(b"+%d,%d:%s->%s\n" % (len(k), len(v), k, v) for k, v in records) + b"\n"
    for block_size in (1, 7, 64, 1 << 20):
        reader = cli.CdbReader(io.BytesIO(data + b"ignored after the end"), block_size)
        assert list(reader) == records
        assert reader.consumed == len(data)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"-1,1:a->b\n\n", "expected '+'"),
        (b"+a,1:a->b\n\n", "bad cdbmake header"),
        (b"+-1,1:a->b\n\n", "bad cdbmake header"),
        (b"+1,1,1:a->b\n\n", "bad cdbmake header"),
        (b"+" + b"1" * 60 + b",1:a->b\n\n", "no ':'"),
        (b"+1,1", "truncated cdbmake header"),
        (b"+1,1:a-b\n\n", "expected '->'"),
        (b"+1,1:a->bc\n", "expected '->' and a newline"),
        (b"+1,5:a->b\n", "truncated cdbmake record"),
    ],
)
def test_cdb_reader_rejects_malformed_dumps(data, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        list(cli.CdbReader(io.BytesIO(data)))


def test_load_grows_the_map_until_the_dump_fits(capsys, tmp_path) -> None:
    dump = tmp_path / "big.cdb"
    records = [(b"key-%06d" % i, bytes([i % 251]) * 1000) for i in range(6000)]  # ~6 MB
    write_dump(dump, records)
    target = str(tmp_path / "grown")
    status, out, err = run(capsys, "load", target, "-i", str(dump), "--map-size", "1")
    assert (status, err) == (0, "")
    assert "loaded 6,000 records" in out
    env = lmdb.open(target, readonly=True)
    assert env.info()["map_size"] > 6_000_000
    with env.begin() as txn:
        assert list(txn.cursor()) == records
    env.close()


class Pipe(io.BytesIO):
    """Standard input that cannot seek, like a pipe."""

    def seekable(self) -> bool:
        return False

    def seek(self, *args):
        raise io.UnsupportedOperation("not seekable")


def test_load_from_a_pipe_grows_the_map_too(capsys, tmp_path, monkeypatch) -> None:
    dump = tmp_path / "big.cdb"
    records = [(b"%08d" % i, b"v" * 2000) for i in range(3000)]
    write_dump(dump, records)
    monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": Pipe(dump.read_bytes())})())
    target = str(tmp_path / "piped")
    status, out, _ = run(capsys, "load", target, "--map-size", "1")
    assert status == 0 and "loaded 3,000 records" in out
    env = lmdb.open(target, readonly=True)
    assert env.stat()["entries"] == 3000
    env.close()


def test_a_failed_load_writes_nothing(capsys, tmp_path) -> None:
    dump = tmp_path / "bad.cdb"
    dump.write_bytes(b"+1,1:a->b\n+1,1:c->d\n+1,1:e-f\n\n")
    target = str(tmp_path / "t")
    status, _, err = run(capsys, "load", target, "-i", str(dump))
    assert status == 1 and "expected '->'" in err
    env = lmdb.open(target, readonly=True)
    assert env.stat()["entries"] == 0
    env.close()


def test_load_of_an_empty_key_is_an_error_exit(capsys, tmp_path) -> None:
    dump = tmp_path / "empty-key.cdb"
    dump.write_bytes(b"+0,1:->b\n\n")
    status, _, err = run(capsys, "load", str(tmp_path / "t"), "-i", str(dump))
    assert status == 1 and "zlmdb load:" in err


def test_load_dupsort_keeps_every_duplicate(capsys, tmp_path) -> None:
    dump = tmp_path / "dups.cdb"
    records = [(b"k", b"1"), (b"k", b"2"), (b"k", b"3"), (b"l", b"1")]
    write_dump(dump, records)
    target = str(tmp_path / "dups")
    status, out, _ = run(capsys, "load", target, "--db", "d", "--dupsort", "-i", str(dump))
    assert status == 0 and "loaded 4 records" in out
    env = lmdb.open(target, max_dbs=2)
    db = env.open_db(b"d", dupsort=True)
    with env.begin(db=db) as txn:
        assert list(txn.cursor()) == records
    env.close()
    assert run(capsys, "load", target, "--dupsort", "-i", str(dump))[0] == 1


def test_dump_draws_a_progress_bar_on_a_terminal(capsys, filled, tmp_path, monkeypatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["dump", filled, "-o", str(tmp_path / "d.cdb")]) == 0
    assert terminal.getvalue().endswith(f"\r[{'#' * 30}] 52/52 records\n")


def test_load_and_copy_draw_progress_bars_on_a_terminal(capsys, filled, tmp_path, monkeypatch):
    dump = str(tmp_path / "d.cdb")
    assert cli.main(["dump", filled, "-o", dump]) == 0
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    size = (tmp_path / "d.cdb").stat().st_size
    assert cli.main(["load", str(tmp_path / "loaded"), "-i", dump]) == 0
    assert terminal.getvalue().endswith(f"] {size:,}/{size:,} bytes\n")
    terminal.truncate(0)
    assert cli.main(["copy", filled, str(tmp_path / "copied")]) == 0
    assert terminal.getvalue().endswith(" bytes\n") and "#" * 30 in terminal.getvalue()
    env = lmdb.open(str(tmp_path / "copied"), readonly=True, max_dbs=4)
    assert env.stat()["entries"] == 52
    env.close()


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = cli.Progress(10, stream)
    progress.update(5)
    progress.finish()
    assert stream.getvalue() == ""


def _make_env(path: str, engine: int) -> None:
    env = lmdb.open(path, lib_version=engine)
    with env.begin(write=True) as txn:
        txn.put(b"key", b"value")
    env.close()


@pytest.mark.parametrize("engine, fmt", [(0, "0.9"), (1, "1.0")])
def test_info_path_reports_the_lmdb_format(capsys, tmp_path, engine, fmt) -> None:
    path = str(tmp_path / "db")
    _make_env(path, engine)
    status, out, _ = run(capsys, "info", path)
    assert status == 0
    assert f"\nlib_version: {fmt}\n" in out
    assert re.search(rf"\nlmdb_version: {re.escape(fmt)}\.\d+\n", out)
    assert "entries: 1" in out
    assert run(capsys, "info", path, "--lib-version", fmt)[0] == 0


@pytest.mark.parametrize("engine, found, wanted", [(0, "0.9", "1.0"), (1, "1.0", "0.9")])
def test_info_lib_version_mismatch_exits_1(capsys, tmp_path, engine, found, wanted) -> None:
    path = str(tmp_path / "db")
    _make_env(path, engine)
    status, out, err = run(capsys, "info", path, "--lib-version", wanted)
    assert status == 1
    assert found in err and wanted in err
    assert "lib_version:" not in out


def test_info_bad_lib_version_is_a_usage_error(capsys, tmp_path) -> None:
    path = str(tmp_path / "db")
    _make_env(path, 0)
    with pytest.raises(SystemExit) as exc:
        cli.main(["info", path, "--lib-version", "2.0"])
    assert exc.value.code == 2
    assert "Invalid value for '--lib-version'" in capsys.readouterr().err
    assert run(capsys, "info", "--lib-version", "0.9")[0] == 2  # nothing to check


def test_info_of_a_missing_database_creates_nothing(capsys, tmp_path) -> None:
    path = str(tmp_path / "nope")
    status, _, err = run(capsys, "info", path)
    assert status == 1 and "nope" in err
    assert not (tmp_path / "nope").exists()


def test_main_runs_like_a_click_command(capsys, tmp_path) -> None:
    # upstream's zlmdb.cli.main is a click group: .name and .main(args, prog_name, ...)
    path = str(tmp_path / "db")
    _make_env(path, 1)
    assert cli.main.name == "zlmdb"
    with pytest.raises(SystemExit) as exc:
        cli.main.main(args=["info", path], prog_name="zlmdb")
    assert exc.value.code == 0
    assert "lib_version: 1.0" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main.main(args=["info", path, "--lib-version", "0.9"])
    assert exc.value.code == 1
    assert cli.main.main(args=["info", path], standalone_mode=False) == 0


def test_python_dash_m_zlmdb_runs_the_command(tmp_path, filled) -> None:
    # `python -m zlmdb` is the console script without PATH: same commands, same exit codes.
    import os
    import subprocess

    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(cli.__file__))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    ok = subprocess.run(
        [sys.executable, "-m", "zlmdb", "stat", filled],
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "  entries: 52\n" in ok.stdout  # 50 keys, "bin" and the named db's record
    missing = subprocess.run(
        [sys.executable, "-m", "zlmdb", "stat", str(tmp_path / "absent")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 1
    assert "zlmdb stat:" in missing.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "zlmdb", "no-such-command"], capture_output=True, text=True, env=env
    )
    assert usage.returncode == 2
    assert "python -m zlmdb" in usage.stderr
