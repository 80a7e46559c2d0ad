"""zlmdb.lmdb.tool: the ``python -m zlmdb.lmdb`` command line, on real environments."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.lmdb import tool


@pytest.fixture(autouse=True)
def close_tool_env():
    yield
    if tool.ENV is not None:
        tool.ENV.close()
    tool.ENV = None
    tool.DB = None


def run_tool(*argv):
    try:
        tool.main(list(argv))
    finally:
        if tool.ENV is not None:
            tool.ENV.close()
        tool.ENV = None
        tool.DB = None


@pytest.fixture
def path(tmp_path):
    """An environment with three keys in the main db and a dupsort db ``dups``."""
    p = str(tmp_path / "env")
    env = lmdb.open(p, max_dbs=4)
    with env.begin(write=True) as txn:
        for i in (1, 2, 3):
            txn.put(b"key%d" % i, b"value%d" % i)
    dups = env.open_db(b"dups", dupsort=True)
    with env.begin(write=True, db=dups) as txn:
        for v in (b"x", b"y", b"z"):
            txn.put(b"d", v)
    env.close()
    return p


def read(path, key, db_name=None):
    env = lmdb.open(path, max_dbs=4, readonly=True)
    try:
        db = env.open_db(db_name) if db_name else None
        with env.begin(db=db) as txn:
            return txn.get(key)
    finally:
        env.close()


# -- helpers ------------------------------------------------------------------------------


def test_to_bytes():
    assert tool._to_bytes("abc") == b"abc"
    assert tool._to_bytes(42) == b"42"
    assert tool._to_bytes("\u00e9") == b"\xc3\xa9"


@pytest.mark.parametrize(
    "char, printable",
    [
        ("A", True),
        (" ", True),
        ("~", True),
        ("\t", False),
        ("\n", False),
        ("\x00", False),
        ("\x7f", False),
        ("\u00e9", False),
    ],
)
def test_isprint(char, printable):
    assert tool.isprint(char) is printable


def test_xxd_layout():
    assert tool.xxd(b"") == "\n"
    assert tool.xxd(b"AB\x00") == "0000000: 4142 00" + " " * 32 + "  AB.\n"
    lines = tool.xxd(bytes(range(65, 82))).splitlines()
    assert lines == [
        "0000000: 4142 4344 4546 4748 494a 4b4c 4d4e 4f50  ABCDEFGHIJKLMNOP",
        "0000010: 51" + " " * 37 + "  Q",
    ]


def test_delta():
    assert tool.delta([1, 3, 6, 10]) == [2, 3, 4]
    assert tool.delta([5]) == []


def test_die_prints_and_exits_1(capsys):
    with pytest.raises(SystemExit) as exc:
        tool.die("bad %s", "thing")
    assert exc.value.code == 1
    assert "bad thing" in capsys.readouterr().err


def test_parser_defaults_and_read_flag():
    opts, args = tool.make_parser().parse_args(["-r", "stat"])
    assert opts.read and args == ["stat"]
    opts, _ = tool.make_parser().parse_args([])
    assert (opts.map_size, opts.max_dbs, opts.interval, opts.window) == (10, 128, 1, 10)
    assert not opts.read and not opts.compact and not opts.csv and opts.env is None


# -- cdbmake format -----------------------------------------------------------------------


def test_dump_cursor_writes_cdbmake(env):
    with env.begin(write=True) as txn:
        txn.put(b"a", b"line\nbreak")
        txn.put(b"b", b"")
    fp = io.BytesIO()
    with env.begin() as txn:
        tool.dump_cursor_to_fp(txn.cursor(), fp)
    assert fp.getvalue() == b"+1,10:a->line\nbreak\n+1,0:b->\n\n"


def test_restore_reads_cdbmake_and_counts_lines(env):
    data = b"+1,10:a->line\nbreak\n+3,1:\x00\xff\x01->v\n\n"
    with env.begin(write=True) as txn:
        assert tool.restore_cursor_from_fp(txn, io.BytesIO(data), None) == 3
    with env.begin() as txn:
        assert list(txn.cursor()) == [(b"\x00\xff\x01", b"v"), (b"a", b"line\nbreak")]


@pytest.mark.parametrize(
    "data",
    [
        b"X1,1:a->b\n\n",
        b"+1,1:aXXb\n\n",
        b"+x,1:a->b\n\n",
        b"+9,1:a->b\n\n",
        b"+1,1:a->bX\n",
        b"+1,1:a->b\n",
        b"+1",
    ],
    ids=["plus", "separator", "length", "short", "line-end", "no-blank-line", "eof"],
)
def test_restore_rejects_malformed_input(env, data):
    with env.begin(write=True) as txn, pytest.raises(SystemExit):
        tool.restore_cursor_from_fp(txn, io.BytesIO(data), None)


# -- commands -----------------------------------------------------------------------------


def test_stat(path, capsys):
    run_tool("-e", path, "stat")
    out = capsys.readouterr().out
    assert "'entries': 4" in out and "'last_txnid'" in out


def test_get(path, capsys):
    run_tool("-e", path, "get", "key1")
    assert capsys.readouterr().out == "b'value1'\n"
    run_tool("-e", path, "get", "key2", "nope")
    assert capsys.readouterr().out == "'key2':\nb'value2'\n'nope': missing\n"
    run_tool("-e", path, "-x", "get", "key3")
    assert capsys.readouterr().out.startswith("0000000: 7661 6c75 6533")
    run_tool("-e", path, "-d", "dups", "get", "d")
    assert capsys.readouterr().out == "b'x'\n"


def test_read_only_flag(path):
    tool.main(["-e", path, "-r", "stat"])
    assert tool.ENV.flags()["readonly"]
    tool.main(["-e", path, "-r", "READ", "stat"])  # the older spelling
    assert tool.ENV.flags()["readonly"]
    with pytest.raises(SystemExit):
        tool.main(["-e", path, "-r", "edit", "--set", "a=b"])
    assert read(path, b"a") is None


def test_edit(path, tmp_path):
    content = tmp_path / "content"
    content.write_bytes(b"\x00file\xff")
    run_tool(
        "-e",
        path,
        "edit",
        "--set",
        "new=1",
        "--set",
        "key1=changed",
        "--add",
        "key2=kept",
        "--add",
        "added=2",
        "--delete",
        "key3",
        "--set-file",
        f"f={content}",
    )
    assert [read(path, k) for k in (b"new", b"key1", b"key2", b"added", b"key3", b"f")] == [
        b"1",
        b"changed",
        b"value2",
        b"2",
        None,
        b"\x00file\xff",
    ]
    with pytest.raises(SystemExit):
        run_tool("-e", path, "edit", "positional")


def test_dump_and_restore_round_trip(path, tmp_path):
    dump = tmp_path / "main.cdbmake"
    run_tool("-e", path, "dump", f":main:={dump}", f"dups={tmp_path / 'dups.cdbmake'}")
    # the main db's record of the named db "dups" is bookkeeping, not data
    assert dump.read_bytes() == (b"+4,6:key1->value1\n+4,6:key2->value2\n+4,6:key3->value3\n\n")
    assert (tmp_path / "dups.cdbmake").read_bytes() == b"+1,1:d->x\n+1,1:d->y\n+1,1:d->z\n\n"

    target = str(tmp_path / "restored")
    env = lmdb.open(target, max_dbs=4)
    env.open_db(b"dups", dupsort=True)
    env.close()
    run_tool("-e", target, "restore", f":main:={dump}", f"dups={tmp_path / 'dups.cdbmake'}")
    assert read(target, b"key2") == b"value2"
    env = lmdb.open(target, max_dbs=4, readonly=True)
    with env.begin(db=env.open_db(b"dups")) as txn:
        assert list(txn.cursor().iternext_dup()) == []  # unpositioned: nothing
        cur = txn.cursor()
        cur.set_key(b"d")
        assert list(cur.iternext_dup()) == [b"x", b"y", b"z"]
    env.close()


def test_dump_all_and_default_file_names(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_tool("-e", path, "dump", "--all")
    assert sorted(p.name for p in tmp_path.glob("*.cdbmake")) == ["dups.cdbmake", "main.cdbmake"]
    with pytest.raises(SystemExit):
        run_tool("-e", path, "dump", "--all", "x=y")
    with pytest.raises(SystemExit):
        run_tool("-e", path, "dump", "nosuchdb=out")
    with pytest.raises(SystemExit):
        run_tool("-e", path, "dump", "noequals")


def test_db_map_from_args(path):
    tool.ENV = lmdb.open(path, max_dbs=4)
    db_map = tool.db_map_from_args([])
    assert list(db_map) == [":main:"] and db_map[":main:"][1] == "main.cdbmake"
    with pytest.raises(SystemExit):
        tool.db_map_from_args([":main:=a", ":main:=b"])


def test_copy_and_compact_copy(path, tmp_path):
    run_tool("-e", path, "copy", str(tmp_path / "copy"))
    run_tool("-e", path, "--compact", "copy", str(tmp_path / "compact"))
    assert read(str(tmp_path / "copy"), b"key1") == b"value1"
    assert read(str(tmp_path / "compact"), b"key1") == b"value1"
    with pytest.raises(SystemExit):  # refuses an existing target
        run_tool("-e", path, "copy", str(tmp_path / "copy"))
    with pytest.raises(SystemExit):
        run_tool("-e", path, "copy")


def test_copyfd(path, tmp_path):
    os.mkdir(tmp_path / "out")
    fd = os.open(tmp_path / "out" / "data.mdb", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        run_tool("-e", path, "--out-fd", str(fd), "copyfd")
    finally:
        os.close(fd)
    assert read(str(tmp_path / "out"), b"key3") == b"value3"
    with pytest.raises(SystemExit):
        run_tool("-e", path, "copyfd", "extra")


def test_drop(path):
    run_tool("-e", path, "drop", "dups")
    env = lmdb.open(path, max_dbs=4, readonly=True)
    assert env.dbs() == []
    env.close()
    with pytest.raises(SystemExit):
        run_tool("-e", path, "drop", ":main:")
    with pytest.raises(SystemExit):
        run_tool("-e", path, "drop")
    with pytest.raises(SystemExit):
        run_tool("-e", path, "drop", "never-existed")


def test_rewrite_keeps_flags_and_duplicates(path, tmp_path):
    target = str(tmp_path / "rewritten")
    run_tool("-e", path, "-E", target, "rewrite", ":main:", "dups")
    env = lmdb.open(target, max_dbs=4, readonly=True)
    dups = env.open_db(b"dups")
    assert dups.flags()["dupsort"]
    with env.begin() as txn:
        assert txn.get(b"key1") == b"value1"
        assert txn.stat()["entries"] == 4  # three keys + the "dups" record
        assert list(txn.cursor(db=dups)) == [(b"d", b"x"), (b"d", b"y"), (b"d", b"z")]
    env.close()
    with pytest.raises(SystemExit):
        run_tool("-e", path, "rewrite")


def test_readers(path, capsys):
    run_tool("-e", path, "-c", "readers")
    out = capsys.readouterr().out
    assert out.startswith("Cleaned 0 stale entries.\n")


def test_warm(path, capsys, tmp_path):
    run_tool("-e", path, "warm")
    assert capsys.readouterr().out.startswith("Warmed ")
    single = str(tmp_path / "single.mdb")
    lmdb.open(single, subdir=False).close()
    run_tool("-e", single, "-s", "warm")
    assert capsys.readouterr().out.startswith("Warmed ")


@pytest.mark.parametrize("csv", [True, False])
def test_watch_until_interrupted(path, capsys, monkeypatch, csv):
    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(tool.time, "sleep", interrupt)
    run_tool("-e", path, *(["--csv"] if csv else []), "watch")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert ("Depth" in lines[0]) and ("Recs" in lines[0])
    assert ('"4"' if csv else " 4 ") in lines[1]


def test_usage_errors(path):
    with pytest.raises(SystemExit):
        tool.main([])
    with pytest.raises(SystemExit):
        tool.main(["stat"])  # no environment
    with pytest.raises(SystemExit):
        tool.main(["-e", path, "frobnicate"])
    with pytest.raises(SystemExit):  # never creates an environment
        tool.main(["-e", path + "-missing", "stat"])
    assert not os.path.exists(path + "-missing")


def test_python_dash_m_entry_point(path):
    src = os.path.dirname(os.path.dirname(os.path.dirname(lmdb.__file__)))
    env = dict(os.environ, PYTHONPATH=src)
    proc = subprocess.run(
        [sys.executable, "-m", "zlmdb.lmdb", "-e", path, "get", "key1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "b'value1'\n"


def test_dump_and_restore_default_to_the_d_database(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_tool("-e", path, "-d", "dups", "dump")
    assert (tmp_path / "dups.cdbmake").read_bytes() == b"+1,1:d->x\n+1,1:d->y\n+1,1:d->z\n\n"
    (tmp_path / "dups.cdbmake").write_bytes(b"+1,1:e->w\n\n")
    run_tool("-e", path, "-d", "dups", "restore")
    assert read(path, b"e", b"dups") == b"w"


def test_shell_binds_env_and_db(path, monkeypatch):
    import code

    seen = {}

    def fake_interact(banner=None, local=None, **kwargs):
        seen.update(local)
        seen["entries"] = local["ENV"].stat()["entries"]
        seen["dupsort"] = local["DB"].flags()["dupsort"]

    monkeypatch.setattr(code, "interact", fake_interact)
    run_tool("-e", path, "-d", "dups", "shell")
    assert seen["entries"] == 4
    assert seen["dupsort"]
    assert seen["lmdb"] is lmdb


def test_rewrite_into_a_target_with_data_reports_skipped_records(path, tmp_path, capsys):
    target = str(tmp_path / "target")
    env = lmdb.open(target)
    with env.begin(write=True) as txn:
        txn.put(b"key2", b"old")
    env.close()
    run_tool("-e", path, "-E", target, "rewrite")
    out = capsys.readouterr().out
    assert "1 records written, 2 skipped" in out
    assert read(target, b"key2") == b"old"
    assert read(target, b"key3") == b"value3"
