"""Command-line tool for LMDB environments: ``python -m zlmdb.lmdb [options] <command>``.

Commands:

  copy DIR          consistent backup of the environment into a new directory DIR
                    (``--compact`` drops free pages while copying)
  copyfd            the same, written to the file descriptor ``--out-fd`` (default 1)
  drop NAME..       delete named databases
  dump [NAME=FILE..]
                    write databases in cdbmake format (``:main:`` is the main one);
                    without arguments the ``-d`` database (default main) goes to
                    ``<name>.cdbmake``; ``--all`` dumps every database to ``<name>.cdbmake``
  edit              change the ``-d`` database: ``--set K=V``, ``--set-file K=PATH``,
                    ``--add K=V`` / ``--add-file K=PATH`` (only if K is absent),
                    ``--delete K``, all in one transaction
  get KEY..         print values (``-x`` as a hex dump)
  readers           list reader slots (``-c`` first clears stale ones)
  restore NAME=FILE..
                    load cdbmake files into databases (``:main:`` is the main one)
  rewrite [NAME..]  copy databases (default main) in key order into the new
                    environment ``-E DIR``, which packs its pages densely
  shell             interactive Python console with ENV (and DB) bound
  stat              print ``Environment.stat()`` and ``Environment.info()``
  verify [PATH]     offline structural check of the data file of ``-e`` (or PATH)
                    without opening it through LMDB; ``-s`` for a single-file
                    environment; prints ``verify: OK`` or the problems (exit 1)
  warm              read the data file once so that it sits in the page cache
  watch             print live statistics every ``--interval`` seconds
                    (``--csv`` for CSV; rates averaged over ``--window`` samples)

The cdbmake format has one record per line, ``+KLEN,VLEN:KEY->VALUE`` followed by a
newline, and an empty line at the end.
"""

from __future__ import annotations

import collections
import csv
import optparse
import os
import pprint
import shutil
import sys
import time
from typing import (
    IO,
    Any,
    Callable,
    Collection,
    Deque,
    Dict,
    List,
    NoReturn,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from . import Environment, Error, NotFoundError, Transaction, _Database
from . import open as lmdb_open

#: The environment opened by :func:`main` (tests and ``shell`` use it).
ENV: Optional[Environment] = None
#: The database named by ``-d`` (``None``: the main database).
DB: Optional[_Database] = None

#: How command-line text becomes keys and values.
ENCODING = "utf-8"

_MAIN = ":main:"
_MIB = 1024 * 1024
_IO_BUFFER = 1 << 20


def _to_bytes(s: Any) -> bytes:
    """Return ``str(s)`` encoded as UTF-8 (command-line text to a key or value).

    Raises nothing for ordinary objects (``str()`` of them must not raise).
    """
    return str(s).encode(ENCODING)


def isprint(c: str) -> bool:
    """Return True if the one-character string ``c`` is printable ASCII (space included;
    tabs, newlines and other control characters are not). Raises nothing."""
    return len(c) == 1 and 32 <= ord(c) < 127


def xxd(s: Any) -> str:
    """Return a hex dump of the bytes-like ``s`` in the style of ``xxd``.

    One line per 16 bytes: the offset (7 hex digits and a colon), the bytes in groups of
    two, then the printable characters (others shown as ``.``). Always ends with a
    newline; ``xxd(b'')`` is ``'\\n'``.

    Raises:
        TypeError: ``s`` is not bytes-like.
    """
    data = bytes(s)
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if isprint(chr(b)) else "." for b in chunk)
        lines.append(f"{offset:07x}: {groups:<39}  {text}")
    return "\n".join(lines) + "\n"


def delta(hst: Sequence[float]) -> List[float]:
    """Return the differences between consecutive items of ``hst`` (one fewer item).

    Raises:
        TypeError: items that cannot be subtracted.
    """
    return [hst[i] - hst[i - 1] for i in range(1, len(hst))]


def die(fmt: str, *args: Any) -> NoReturn:
    """Print ``fmt % args`` (or ``fmt`` alone) to stderr and exit with status 1.

    Raises:
        SystemExit: always, with code 1.
    """
    msg = fmt % args if args else fmt
    sys.stderr.write(f"zlmdb.lmdb.tool: {msg}\n")
    raise SystemExit(1)


def make_parser() -> optparse.OptionParser:
    """Return the option parser of the tool (optparse, as py-lmdb's tool uses).

    Raises nothing; ``parse_args`` exits on bad options.
    """
    parser = optparse.OptionParser(prog="python -m zlmdb.lmdb")
    commands = (__doc__ or "").split("\n", 2)[2].replace("``", "")
    parser.usage = "%prog [options] <command> [arguments]\n\n" + commands
    add = parser.add_option
    add("-e", "--env", help="environment to open (a directory, or a file with -s)")
    add("-d", "--db", help="named database to use (default: the main database)")
    add("-r", "--read", action="store_true", default=False, help="open the environment read-only")
    add("-S", "--map_size", type="int", default=10, help="map size in MiB (default: 10)")
    add(
        "-s",
        "--use-single-file",
        action="store_true",
        default=False,
        help="the environment is a single file (subdir=False), not a directory",
    )
    add("-a", "--all", action="store_true", default=False, help="dump: every database")
    add("-E", "--target_env", help="rewrite: the environment to create")
    add("-x", "--xxd", action="store_true", default=False, help="get: print values as hex dumps")
    add("-M", "--max-dbs", type="int", default=128, help="max named databases (default: 128)")
    add("--out-fd", type="int", default=1, help="copyfd: target file descriptor (default: 1)")

    group = parser.add_option_group("copy")
    group.add_option(
        "--compact", action="store_true", default=False, help="omit free pages while copying"
    )
    group = parser.add_option_group("edit")
    group.add_option("--set", action="append", metavar="KEY=VALUE", help="store a value")
    group.add_option(
        "--set-file", action="append", metavar="KEY=PATH", help="store the contents of a file"
    )
    group.add_option(
        "--add", action="append", metavar="KEY=VALUE", help="store a value if the key is absent"
    )
    group.add_option(
        "--add-file",
        action="append",
        metavar="KEY=PATH",
        help="store a file's contents if the key is absent",
    )
    group.add_option("--delete", action="append", metavar="KEY", help="delete a key")
    group = parser.add_option_group("readers")
    group.add_option(
        "-c", "--clean", action="store_true", default=False, help="clear stale reader slots first"
    )
    group = parser.add_option_group("watch")
    group.add_option("--csv", action="store_true", default=False, help="write CSV")
    group.add_option(
        "--interval", type="int", default=1, help="seconds between samples (default: 1)"
    )
    group.add_option(
        "--window", type="int", default=10, help="samples averaged for rates (default: 10)"
    )
    return parser


# ---------------------------------------------------------------------------------------
# cdbmake dump / restore


def dump_cursor_to_fp(cursor: Any, fp: IO[bytes], skip: Collection[bytes] = ()) -> None:
    """Write every item of ``cursor`` (from its first) to ``fp`` in cdbmake format,
    then the closing empty line. Keys in ``skip`` are left out (``dump`` passes the
    names of the named databases when dumping the main one: their records there are
    LMDB's own bookkeeping, not data).

    Raises:
        Error: the cursor is closed.
        OSError: writing failed.
    """
    cursor.first()
    for key, value in cursor.iternext():
        if skip and bytes(key) in skip:
            continue
        fp.write(b"+%d,%d:" % (len(key), len(value)))
        fp.write(key)
        fp.write(b"->")
        fp.write(value)
        fp.write(b"\n")
    fp.write(b"\n")


def _read_number(fp: IO[bytes], end: bytes, record: int) -> int:
    digits = bytearray()
    while True:
        ch = fp.read(1)
        if not ch:
            die("unexpected end of file in a length field, record #%d", record)
        if ch == end:
            break
        digits += ch
        if len(digits) > 20:
            die("length field too long, record #%d", record)
    if not digits.isdigit():
        die("bad length %r, record #%d", bytes(digits), record)
    return int(digits)


def restore_cursor_from_fp(txn: Transaction, fp: IO[bytes], db: Optional[_Database]) -> int:
    """Read cdbmake records from ``fp`` and ``put`` each into ``db`` through ``txn``.

    Returns the number of lines consumed: the records plus the closing empty line.

    Raises:
        SystemExit: malformed input (via :func:`die`), naming the record number.
        Error: a ``put`` failed (e.g. ``MapFullError``).
    """
    record = 0
    while True:
        record += 1
        first = fp.read(1)
        if first == b"\n":
            return record
        if first != b"+":
            die("bad or missing '+', record #%d", record)
        klen = _read_number(fp, b",", record)
        vlen = _read_number(fp, b":", record)
        key = fp.read(klen)
        if len(key) != klen:
            die("short key, record #%d", record)
        if fp.read(2) != b"->":
            die("bad or missing '->' separator, record #%d", record)
        value = fp.read(vlen)
        if len(value) != vlen:
            die("short value, record #%d", record)
        if fp.read(1) != b"\n":
            die("bad line ending, record #%d", record)
        txn.put(key, value, db=db)


def _env() -> Environment:
    if ENV is None:
        die("no environment is open")
    return ENV


def _open_named(name: Optional[str], create: bool = True) -> _Database:
    env = _env()
    if name is None or name == _MAIN:
        return env.open_db(None)
    try:
        return env.open_db(_to_bytes(name), create=create)
    except NotFoundError:
        die("no database named %r", name)


def db_map_from_args(args: Sequence[str], create: bool = True) -> Dict[str, Tuple[_Database, str]]:
    """Parse ``NAME=FILE`` arguments into ``{name: (database, file)}`` using :data:`ENV`.

    ``:main:`` names the main database. Without arguments the map is
    ``{':main:': (main database, 'main.cdbmake')}``. ``create=False`` refuses names that
    do not exist yet.

    Raises:
        SystemExit: an argument without ``=``, a name given twice, or (with
            ``create=False``) a missing database.
    """
    db_map: Dict[str, Tuple[_Database, str]] = {}
    for arg in args:
        name, sep, path = arg.partition("=")
        if not sep or not name or not path:
            die("expected NAME=FILE, got %r", arg)
        if name in db_map:
            die("database %r given twice", name)
        db_map[name] = (_open_named(name, create), path)
    if not db_map:
        db_map[_MAIN] = (_open_named(None), "main.cdbmake")
    return db_map


def _named_dbs(txn: Transaction) -> Set[bytes]:
    """Return the main database's keys that are named databases' records.

    LMDB 1.0 stores a name with its terminating NUL (``b"name\\0"``), LMDB 0.9 without.
    """
    env = _env()
    nul = b"\0" if env.lib_version()[0] >= 1 else b""
    return {bytes(name) + nul for name in env.dbs(txn)}


def _file_name_for(name: str) -> str:
    safe = name.replace(os.sep, "_").replace("/", "_")
    return f"{safe}.cdbmake"


# ---------------------------------------------------------------------------------------
# commands: cmd_<name>(opts, args)


def cmd_copy(opts: optparse.Values, args: List[str]) -> None:
    """``copy DIR``: back up the environment into the new directory DIR.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    if len(args) != 1:
        die("copy: give exactly one target directory")
    target = args[0]
    if os.path.exists(target):
        die("copy: target %r already exists", target)
    os.makedirs(target, 0o755)
    print(f"Copying to {target!r}...")
    _env().copy(target, compact=opts.compact)


def cmd_copyfd(opts: optparse.Values, args: List[str]) -> None:
    """``copyfd``: back up the environment to the file descriptor ``--out-fd``.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    if args:
        die("copyfd takes no arguments (the target is --out-fd)")
    try:
        os.fstat(opts.out_fd)
    except OSError as exc:
        die("bad --out-fd %d: %s", opts.out_fd, exc)
    _env().copyfd(opts.out_fd, compact=opts.compact)


def cmd_drop(opts: optparse.Values, args: List[str]) -> None:
    """``drop NAME..``: delete named databases.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    if not args:
        die("drop: name at least one database")
    if _MAIN in args:
        die("drop: the main database cannot be dropped")
    env = _env()
    dbs = [(name, _open_named(name, create=False)) for name in args]
    with env.begin(write=True) as txn:
        for name, db in dbs:
            print(f"Dropping database {name!r}...")
            txn.drop(db, delete=True)


def cmd_dump(opts: optparse.Values, args: List[str]) -> None:
    """``dump [NAME=FILE..]`` or ``dump --all``: write databases in cdbmake format.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    if opts.all:
        if args:
            die("dump: --all cannot be combined with NAME=FILE arguments")
        db_map = {_MAIN: (env.open_db(None), "main.cdbmake")}
        for raw in env.dbs():
            name = bytes(raw).decode(ENCODING, "backslashreplace")
            db_map[name] = (env.open_db(bytes(raw), create=False), _file_name_for(name))
    elif not args and opts.db:
        db_map = {opts.db: (_open_named(opts.db, create=False), _file_name_for(opts.db))}
    else:
        db_map = db_map_from_args(args, create=False)
    with env.begin(buffers=True) as txn:
        for name, (db, path) in db_map.items():
            print(f"Dumping to {path!r}...")
            with open(path, "wb", _IO_BUFFER) as fp:
                dump_cursor_to_fp(txn.cursor(db=db), fp, _named_dbs(txn) if name == _MAIN else ())


def cmd_restore(opts: optparse.Values, args: List[str]) -> None:
    """``restore NAME=FILE..``: load cdbmake files into databases.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    if not args and opts.db:
        db_map = {opts.db: (_open_named(opts.db), _file_name_for(opts.db))}
    else:
        db_map = db_map_from_args(args)
    with env.begin(write=True) as txn:
        for _name, (db, path) in db_map.items():
            print(f"Restoring from {path!r}...")
            with open(path, "rb", _IO_BUFFER) as fp:
                lines = restore_cursor_from_fp(txn, fp, db)
            print(f"Loaded {lines - 1} records from {path!r}")


def _split_pair(text: str, what: str) -> Tuple[bytes, bytes]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        die("edit: %s expects KEY=..., got %r", what, text)
    return _to_bytes(key), _to_bytes(value)


def _read_file(path: bytes) -> bytes:
    try:
        with open(path, "rb") as fp:
            return fp.read()
    except OSError as exc:
        die("cannot read %r: %s", path.decode(ENCODING, "replace"), exc)


def cmd_edit(opts: optparse.Values, args: List[str]) -> None:
    """``edit``: apply --add, --set, --delete, --add-file, --set-file (in that order).

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    if args:
        die("edit takes only options (--set, --add, --delete, ...), not arguments")
    with _env().begin(write=True, db=DB) as txn:
        for item in opts.add or ():
            key, value = _split_pair(item, "--add")
            txn.put(key, value, overwrite=False)
        for item in opts.set or ():
            key, value = _split_pair(item, "--set")
            txn.put(key, value)
        for key in opts.delete or ():
            txn.delete(_to_bytes(key))
        for item in opts.add_file or ():
            key, path = _split_pair(item, "--add-file")
            txn.put(key, _read_file(path), overwrite=False)
        for item in opts.set_file or ():
            key, path = _split_pair(item, "--set-file")
            txn.put(key, _read_file(path))


def cmd_get(opts: optparse.Values, args: List[str]) -> None:
    """``get KEY..``: print the values of keys (``-x``: as hex dumps).

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    with _env().begin(db=DB) as txn:
        for arg in args:
            value = txn.get(_to_bytes(arg))
            if value is None:
                print(f"{arg!r}: missing")
                continue
            if len(args) > 1:
                print(f"{arg!r}:")
            print(xxd(value) if opts.xxd else value)


def cmd_readers(opts: optparse.Values, args: List[str]) -> None:
    """``readers``: print the reader table (``-c``: clear stale slots first).

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    if opts.clean:
        print(f"Cleaned {env.reader_check()} stale entries.")
    print(env.readers())


def cmd_rewrite(opts: optparse.Values, args: List[str]) -> None:
    """``rewrite [NAME..] -E DIR``: copy databases in key order into a new environment.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    if not opts.target_env:
        die("rewrite: give the target environment with -E")
    env = _env()
    names = args or [_MAIN]
    sources = [(name, _open_named(name, create=False)) for name in names]
    target = lmdb_open(
        opts.target_env,
        map_size=max(env.info()["map_size"], opts.map_size * _MIB),
        subdir=not opts.use_single_file,
        max_dbs=opts.max_dbs,
        sync=False,
        metasync=False,
    )
    try:
        for name, src in sources:
            key = None if name == _MAIN else _to_bytes(name)
            dst = target.open_db(key, **src.flags())
            print(f"Writing {name!r}...")
            with env.begin(db=src) as rtxn, target.begin(db=dst, write=True) as wtxn:
                items = rtxn.cursor().iternext()
                if name == _MAIN:
                    skip = _named_dbs(rtxn)
                    items = (item for item in items if item[0] not in skip)
                # Keys (and dups) arrive in the database's own order: append is safe.
                # Appending refuses keys not above the target's last one (False, not an
                # error), so a target that already holds data keeps its records.
                read, written = wtxn.cursor().putmulti(items, append=True)
            print(
                f"  {written} records written"
                + (
                    f", {read - written} skipped (not above the target's existing keys)"
                    if written < read
                    else ""
                )
            )
        print("Syncing...")
        target.sync(True)
    finally:
        target.close()


def cmd_shell(opts: optparse.Values, args: List[str]) -> None:
    """``shell``: interactive console with ``ENV``, ``DB`` and ``lmdb`` bound.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    import code

    from .. import lmdb as lmdb_module

    try:
        import readline  # noqa: F401  (line editing when available)
    except ImportError:
        pass
    code.interact(
        banner="zlmdb.lmdb shell: ENV, DB and lmdb are bound",
        local={"ENV": ENV, "DB": DB, "lmdb": lmdb_module},
    )


def cmd_stat(opts: optparse.Values, args: List[str]) -> None:
    """``stat``: print environment statistics and info.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    pprint.pprint(env.stat())
    pprint.pprint(env.info())


def cmd_verify(opts: optparse.Values, args: List[str]) -> None:
    """``verify [PATH]``: offline structural check; never opens the file through LMDB.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    from . import verify as verifier

    if len(args) > 1:
        die("verify: give at most one path")
    path = args[0] if args else opts.env
    if not path:
        die("verify: give a path, or the environment with -e")
    try:
        problems = verifier.verify(path, subdir=False if opts.use_single_file else None)
    except (verifier.VerifyError, OSError) as exc:
        die("verify: %s", exc)
    if problems:
        for line in problems:
            print(line)
        die("verify: FAILED (%d problem%s)", len(problems), "" if len(problems) == 1 else "s")
    print("verify: OK")


def _data_file(opts: optparse.Values) -> str:
    return opts.env if opts.use_single_file else os.path.join(opts.env, "data.mdb")


def cmd_warm(opts: optparse.Values, args: List[str]) -> None:
    """``warm``: read the used part of the data file once to fill the page cache.

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    wanted = env.stat()["psize"] * (env.info()["last_pgno"] + 1)
    started = time.monotonic()
    done = 0
    buf = bytearray(1 << 16)
    with open(_data_file(opts), "rb", buffering=0) as fp:
        while done < wanted:
            n = fp.readinto(buf)
            if not n:
                break
            done += n
    ms = (time.monotonic() - started) * 1000
    print(f"Warmed {done / _MIB:.2f} MiB in {ms:.0f} ms")


def _find_diskstat(path: str) -> Optional[str]:
    """Return the ``/sys`` statistics file of the block device holding ``path``, or None
    (not Linux, or no such device, e.g. tmpfs). Raises nothing."""
    try:
        st = os.stat(path)
        stat_path = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/stat"
    except (OSError, AttributeError):
        return None
    return stat_path if os.path.exists(stat_path) else None


class _DiskStats:
    """Sector counters of one block device, re-read by :meth:`refresh`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sectors_read = 0
        self.sectors_written = 0
        self.refresh()

    def refresh(self) -> None:
        with open(self.path) as fp:
            fields = fp.read().split()
        self.sectors_read = int(fields[2])
        self.sectors_written = int(fields[6])


def cmd_watch(opts: optparse.Values, args: List[str]) -> None:
    """``watch``: print live statistics until interrupted (Ctrl-C).

    Raises:
        SystemExit: bad arguments (via :func:`die`).
        Error: an LMDB call failed (:func:`main` prints it and exits 1).
    """
    env = _env()
    sample: Dict[str, Dict[str, int]] = {"stat": {}, "info": {}}

    def rate(get: Callable[[], float]) -> Callable[[], float]:
        history: Deque[float] = collections.deque(maxlen=max(2, opts.window))

        def average() -> float:
            history.append(get())
            if len(history) < 2:
                return 0.0
            return sum(delta(list(history))) / (len(history) - 1) / max(opts.interval, 1)

        return average

    def stat(name: str) -> Callable[[], float]:
        return lambda: sample["stat"][name]

    def info(name: str) -> Callable[[], float]:
        return lambda: sample["info"][name]

    def env_mib() -> float:
        return (sample["info"]["last_pgno"] + 1) * sample["stat"]["psize"] / _MIB

    columns: List[Tuple[str, str, Callable[[], float]]] = [
        ("%d", "Depth", stat("depth")),
        ("%d", "Branch", stat("branch_pages")),
        ("%d", "Leaf", stat("leaf_pages")),
        ("%+d", "Leaf/s", rate(stat("leaf_pages"))),
        ("%d", "Oflow", stat("overflow_pages")),
        ("%+d", "Oflow/s", rate(stat("overflow_pages"))),
        ("%d", "Recs", stat("entries")),
        ("%+d", "Recs/s", rate(stat("entries"))),
        ("%d", "Rdrs", info("num_readers")),
        ("%.2f", "EnvMb", env_mib),
        ("%+.2f", "EnvMb/s", rate(env_mib)),
        ("%d", "Txs", info("last_txnid")),
        ("%+.2f", "Txs/s", rate(info("last_txnid"))),
    ]
    disk_path = _find_diskstat(env.path())
    disk = _DiskStats(disk_path) if disk_path else None
    if disk is not None:
        columns.append(("%+d", "SctRd/s", rate(lambda: disk.sectors_read)))
        columns.append(("%+d", "SctWr/s", rate(lambda: disk.sectors_written)))

    widths = [len(head) for _, head, _ in columns]
    writer = csv.writer(sys.stdout, quoting=csv.QUOTE_ALL) if opts.csv else None
    if writer is not None:
        writer.writerow([head for _, head, _ in columns])
    rows = 0
    try:
        while True:
            sample["stat"] = env.stat()
            sample["info"] = env.info()
            if disk is not None:
                disk.refresh()
            values = [fmt % get() for fmt, _, get in columns]
            widths = [max(w, len(v)) for w, v in zip(widths, values)]
            if writer is not None:
                writer.writerow(values)
            else:
                height = shutil.get_terminal_size().lines
                if rows % max(height - 2, 1) == 0:
                    print("".join(h.rjust(w + 1) for (_, h, _), w in zip(columns, widths)))
                print("".join(v.rjust(w + 1) for v, w in zip(values, widths)))
            sys.stdout.flush()
            rows += 1
            time.sleep(opts.interval)
    except KeyboardInterrupt:
        pass


_COMMANDS: Dict[str, Callable[[optparse.Values, List[str]], None]] = {
    name[4:]: func for name, func in globals().items() if name.startswith("cmd_")
}


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the tool with ``argv`` (default ``sys.argv[1:]``).

    Opens ``-e`` (never creating it; read-only with ``-r``) into :data:`ENV`, the ``-d``
    database into :data:`DB`, and runs the command. ``verify`` never opens the
    environment. After a successful command :data:`ENV` stays open (the next call
    closes it); after a failed one it is closed.

    Raises:
        SystemExit: usage errors, a missing environment or database, and LMDB errors,
            which are printed rather than raised.
    """
    global ENV, DB
    opts, args = make_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    # Older releases spelled read-only mode "-r READ"; -r is now a flag.
    if opts.read and args[:1] == ["READ"]:
        args = args[1:]
    if not args:
        die("give a command (see --help)")
    command, args = args[0], args[1:]
    func = _COMMANDS.get(command)
    if func is None:
        die("no such command: %r (see --help)", command)
    if command == "verify":
        func(opts, args)
        return
    if not opts.env:
        die("give the environment with -e/--env")

    if ENV is not None:
        ENV.close()
    ENV, DB = None, None
    try:
        ENV = lmdb_open(
            opts.env,
            map_size=opts.map_size * _MIB,
            subdir=not opts.use_single_file,
            max_dbs=opts.max_dbs,
            create=False,
            readonly=bool(opts.read),
        )
        if opts.db:
            DB = _open_named(opts.db, create=not opts.read)
        func(opts, args)
    except BaseException as exc:
        # A failed command leaves nothing open behind it.
        if ENV is not None:
            ENV.close()
        ENV, DB = None, None
        if isinstance(exc, Error):
            die("%s", exc)
        raise


if __name__ == "__main__":
    main()
