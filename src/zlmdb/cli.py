"""The ``zlmdb`` command: ``demo``, ``bench``, ``info``, ``stat``, ``dump``, ``load``, ``copy``.

``zlmdb demo`` is the main job on an embedded default: it creates a database in a temporary
directory, writes and reads records through :mod:`zlmdb.lmdb`, the ORM and
:mod:`zlmdb.store`, and prints what it did with throughput figures.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import IO, Any, BinaryIO, Callable, Iterator, List, Optional, Sequence, Tuple

import zlmdb
from zlmdb import lmdb


def _rate(count: int, seconds: float) -> str:
    per_second = count / seconds if seconds > 0 else float("inf")
    if per_second >= 1e6:
        return f"{per_second / 1e6:7.2f} M/s"
    return f"{per_second / 1e3:7.1f} k/s"


def _timed(label: str, count: int, fn: Callable[[], object], out) -> object:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    out.write(f"  {label:<44} {count:>9,} ops {_rate(count, elapsed)}\n")
    return result


def demo_lmdb(path: str, records: int, out) -> None:
    """Write, read, scan and batch-read ``records`` items through zlmdb.lmdb."""
    keys = [b"key-%010d" % i for i in range(records)]
    value = b"v" * 100
    env = lmdb.open(path, map_size=1 << 30, sync=False, max_dbs=4)
    try:

        def write() -> None:
            with env.begin(write=True) as txn:
                put = txn.put
                for key in keys:
                    put(key, value)

        def read() -> int:
            found = 0
            with env.begin() as txn:
                get = txn.get
                for key in keys:
                    found += get(key) is not None
            return found

        def scan() -> int:
            with env.begin() as txn:
                return sum(1 for _ in txn.cursor())

        def getmulti() -> int:
            with env.begin() as txn:
                return len(txn.cursor().getmulti(keys))

        out.write("zlmdb.lmdb (py-lmdb compatible API)\n")
        _timed("put, one write transaction", records, write, out)
        found = _timed("get, every key once", records, read, out)
        scanned = _timed("cursor iteration (key, value)", records, scan, out)
        batched = _timed("getmulti, one call", records, getmulti, out)
        if not (found == scanned == batched == records):
            raise RuntimeError(f"demo read back {found}/{scanned}/{batched} of {records} records")
        out.write(f"  entries in the database: {env.stat()['entries']:,}\n")
    finally:
        env.close()


class DemoUser:
    """A record class for the ORM demo: plain attributes, CBOR through marshal/parse."""

    __slots__ = ("oid", "name", "email", "tags")

    def __init__(self, oid: int, name: str, email: str, tags: List[str]) -> None:
        self.oid, self.name, self.email, self.tags = oid, name, email, tags

    def marshal(self) -> dict:
        return {"oid": self.oid, "name": self.name, "email": self.email, "tags": self.tags}

    @staticmethod
    def parse(data: dict) -> DemoUser:
        return DemoUser(data["oid"], data["name"], data["email"], data["tags"])


def demo_orm(path: str, records: int, out) -> None:
    """Insert users into a CBOR table with a unique index, then read them back by primary key
    and through the index (skipped when the ORM is not available)."""
    if not hasattr(zlmdb, "Database") or not hasattr(zlmdb, "MapOidCbor"):
        out.write("zlmdb ORM: not available in this build, skipped\n")
        return
    users = zlmdb.MapOidCbor(1, marshal=DemoUser.marshal, unmarshal=DemoUser.parse)
    users_by_email = zlmdb.MapStringOid(2)
    users.attach_index("by_email", users_by_email, lambda user: user.email)
    db = zlmdb.Database(path, maxsize=1 << 30, sync=False)
    try:
        out.write("zlmdb ORM (MapOidCbor table + MapStringOid unique index)\n")

        def write() -> None:
            with db.begin(write=True) as txn:
                for oid in range(records):
                    users[txn, oid] = DemoUser(oid, f"user {oid}", f"u{oid}@example.com", ["demo"])

        def read() -> int:
            with db.begin() as txn:
                return sum(1 for oid in range(records) if users[txn, oid] is not None)

        def lookup() -> int:
            found = 0
            with db.begin() as txn:
                for oid in range(records):
                    user_oid = users_by_email[txn, f"u{oid}@example.com"]
                    found += users[txn, user_oid].oid == oid
            return found

        _timed("insert (record + index entry)", records, write, out)
        found = _timed("get by primary key", records, read, out)
        via_index = _timed("get through the unique index", records, lookup, out)
        if not (found == via_index == records):
            raise RuntimeError(f"ORM demo read back {found}/{via_index} of {records} records")
        with db.begin() as txn:
            out.write(f"  records in the table: {users.count(txn):,}\n")
    finally:
        db.close()


def demo_store(path: str, records: int, out) -> None:
    """Put and get objects through the buffered store (skipped when not available)."""
    try:
        from zlmdb.store import LmdbObjectStore
    except ImportError:
        out.write("zlmdb.store: not available in this build, skipped\n")
        return
    out.write("zlmdb.store (LmdbObjectStore)\n")
    with LmdbObjectStore(path, batch_size=1000, map_size=1 << 30) as store:

        def write() -> None:
            for i in range(records):
                store.put(b"obj-%08d" % i, {"n": i, "square": i * i})
            store.flush()

        def read() -> int:
            return sum(1 for i in range(records) if store.get(b"obj-%08d" % i) is not None)

        _timed("buffered put + flush", records, write, out)
        found = _timed("get", records, read, out)
        if found != records:
            raise RuntimeError(f"store demo read back {found} of {records} records")


def cmd_demo(args: argparse.Namespace) -> int:
    out = sys.stdout
    out.write(
        f"zlmdb {zlmdb.__version__} on {sys.implementation.name} "
        f"{'.'.join(map(str, sys.version_info[:3]))}, LMDB "
        f"{'.'.join(map(str, lmdb.version()))}\n"
    )
    with tempfile.TemporaryDirectory(prefix="zlmdb-demo-") as tmp:
        out.write(f"temporary database directory: {tmp}\n")
        demo_lmdb(os.path.join(tmp, "lmdb"), args.records, out)
        demo_orm(os.path.join(tmp, "orm"), min(args.records, 20000), out)
        demo_store(os.path.join(tmp, "store"), min(args.records, 20000), out)
    out.write("demo finished: every record written was read back\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.path.join(os.getcwd(), "bench", "lowlevel.py"),
        os.path.join(here, "..", "..", "bench", "lowlevel.py"),
    ]
    for script in candidates:
        if os.path.isfile(script):
            import runpy

            sys.argv = [script] + list(args.rest)
            runpy.run_path(script, run_name="__main__")
            return 0
    sys.stderr.write("zlmdb bench: bench/lowlevel.py not found (run it from a source checkout)\n")
    return 2


def cmd_info(args: argparse.Namespace) -> int:
    out = sys.stdout
    out.write(f"zlmdb {zlmdb.__version__}\n")
    out.write(
        f"LMDB {'.'.join(map(str, lmdb.version(True)))} (bundled, hardening patches applied)\n"
    )
    out.write(f"Python {sys.implementation.name} {sys.version.split()[0]}\n")
    if args.path:
        return cmd_stat(args)
    if args.lib_version is not None:
        sys.stderr.write("zlmdb info: --lib-version needs a PATH to check\n")
        return 2
    return 0


def _open_readonly(path: str, max_dbs: int = 1024) -> lmdb.Environment:
    subdir = os.path.isdir(path)
    if subdir and not os.path.exists(os.path.join(path, "data.mdb")):
        # LMDB's own answer is a bare "No such file or directory" for a path that exists
        raise lmdb.Error(f"{path}: not an LMDB environment (no data.mdb in this directory)")
    return lmdb.open(path, readonly=True, subdir=subdir, max_dbs=max_dbs, lock=False)


#: LMDB file formats by the name ``--lib-version`` (and the ORM's ``lib_version=``) uses
_FORMATS = ("1.0", "0.9")


class _LibVersionAction(argparse.Action):
    """``--lib-version``: one of :data:`_FORMATS`, else a usage error (exit status 2)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        if values not in _FORMATS:
            parser.error(
                f"Invalid value for '--lib-version': {values!r} "
                f"(the LMDB format must be one of {', '.join(_FORMATS)})"
            )
        setattr(namespace, self.dest, values)


def cmd_stat(args: argparse.Namespace) -> int:
    env = _open_readonly(args.path)
    try:
        out = sys.stdout
        engine = env.lib_version()
        found = "1.0" if engine[0] >= 1 else "0.9"
        wanted = getattr(args, "lib_version", None)
        if wanted is not None and wanted != found:
            sys.stderr.write(
                f'zlmdb {args.command}: database "{args.path}" has LMDB format {found}, '
                f"not the requested {wanted}\n"
            )
            return 1
        info = env.info()
        stat = env.stat()
        out.write(f"path: {args.path}\n")
        out.write(f"lib_version: {found}\n")
        out.write(f"lmdb_version: {engine[0]}.{engine[1]}.{engine[2]}\n")
        for key in ("map_size", "last_pgno", "last_txnid", "max_readers", "num_readers"):
            out.write(f"  {key}: {info[key]:,}\n")
        for key in ("psize", "depth", "branch_pages", "leaf_pages", "overflow_pages", "entries"):
            out.write(f"  {key}: {stat[key]:,}\n")
        for name in env.dbs():
            db = env.open_db(name, create=False)
            with env.begin(db=db) as txn:
                entries = txn.stat(db)["entries"]
            out.write(f"  db {name.decode('utf-8', 'backslashreplace')}: {entries:,} entries\n")
    finally:
        env.close()
    return 0


class Progress:
    """A one-line progress bar on a terminal stream; silent when the stream is not a terminal.

    ``update(done)`` redraws at most every ``1/256`` of ``total`` (and at the end), so that
    calling it per record costs an integer comparison.
    """

    def __init__(self, total: int, stream: Optional[IO[str]] = None, unit: str = "") -> None:
        self.stream = sys.stderr if stream is None else stream
        self.total = total
        self.unit = unit
        self.enabled = total > 0 and self.stream.isatty()
        self._step = max(1, total // 256)
        self._next = 0

    def update(self, done: int) -> None:
        """Show ``done`` of ``total``; redraws only when the bar moved."""
        if not self.enabled or done < self._next:
            return
        self._next = done + self._step
        done = min(done, self.total)
        width = 30
        filled = width * done // self.total
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{self.total:,}{self.unit}"
        )
        self.stream.flush()

    def finish(self) -> None:
        """Draw the full bar and end its line."""
        if self.enabled:
            self._next = 0
            self.update(self.total)
            self.stream.write("\n")
            self.stream.flush()


def cmd_dump(args: argparse.Namespace) -> int:
    """Dump a database in cdbmake format (``+klen,vlen:key->value`` lines, blank line at end)."""
    env = _open_readonly(args.path)
    try:
        db = env.open_db(args.db.encode(), create=False) if args.db else None
        out = open(args.output, "wb") if args.output else sys.stdout.buffer
        try:
            with env.begin(db=db) as txn:
                total = txn.stat(db)["entries"] if db is not None else env.stat()["entries"]
                progress = Progress(total, unit=" records")
                for n, (key, value) in enumerate(txn.cursor(), 1):
                    out.write(b"+%d,%d:%s->%s\n" % (len(key), len(value), key, value))
                    progress.update(n)
                out.write(b"\n")
                progress.finish()
        finally:
            if args.output:
                out.close()
    finally:
        env.close()
    return 0


class CdbReader:
    """Iterates the ``(key, value)`` records of a cdbmake stream, reading it in large blocks.

    A record is ``+klen,vlen:key->value\\n``; a blank line (or the end of the stream) ends the
    dump. :attr:`consumed` is the number of bytes of the stream parsed so far.

    Raises (while iterating):
        ValueError: a malformed or truncated record.
    """

    #: longest ``+klen,vlen:`` header accepted (two 20-digit lengths and punctuation)
    MAX_HEADER = 48

    def __init__(self, stream: BinaryIO, block_size: int = 1 << 20) -> None:
        self._stream = stream
        self._block_size = block_size
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self.consumed = 0

    def _fill(self, needed: int) -> bool:
        """Make ``needed`` bytes available from the current position; False at end of stream."""
        buf = self._buf
        while len(buf) - self._pos < needed and not self._eof:
            if self._pos:
                del buf[: self._pos]
                self._pos = 0
            data = self._stream.read(max(self._block_size, needed - len(buf)))
            if data:
                buf += data
            else:
                self._eof = True
        return len(buf) - self._pos >= needed

    def __iter__(self) -> Iterator[Tuple[bytes, bytes]]:
        buf = self._buf
        while True:
            if not self._fill(1):
                return
            pos = self._pos
            if buf[pos] == 0x0A:  # the blank line that ends a dump
                self.consumed += 1
                return
            if buf[pos] != 0x2B:
                raise ValueError("bad cdbmake record: expected '+'")
            self._fill(self.MAX_HEADER)
            pos = self._pos
            colon = buf.find(b":", pos, pos + self.MAX_HEADER)
            if colon < 0:
                if len(buf) - pos < self.MAX_HEADER:
                    raise ValueError("truncated cdbmake header")
                raise ValueError("bad cdbmake header: no ':' after the lengths")
            lengths = bytes(buf[pos + 1 : colon]).split(b",")
            if len(lengths) != 2 or not all(part.isdigit() for part in lengths):
                raise ValueError(f"bad cdbmake header {bytes(buf[pos : colon + 1])!r}")
            klen, vlen = int(lengths[0]), int(lengths[1])
            header = colon + 1 - pos
            size = header + klen + 2 + vlen + 1
            if not self._fill(size):  # may move the record to the start of the buffer
                raise ValueError("truncated cdbmake record")
            pos = self._pos
            key_at = pos + header
            value_at = key_at + klen + 2
            if buf[key_at + klen : value_at] != b"->" or buf[value_at + vlen] != 0x0A:
                raise ValueError("bad cdbmake record: expected '->' and a newline")
            key = bytes(buf[key_at : key_at + klen])
            value = bytes(buf[value_at : value_at + vlen])
            self._pos = pos + size
            self.consumed += size
            yield key, value


def _seekable(stream: BinaryIO) -> BinaryIO:
    """``stream`` if it can be re-read from the start, else a temporary file holding it."""
    try:
        if stream.seekable():
            stream.seek(0, os.SEEK_CUR)
            return stream
    except (OSError, ValueError):
        pass
    spool = tempfile.TemporaryFile()
    shutil.copyfileobj(stream, spool, 1 << 20)
    spool.seek(0)
    return spool


def load_cdb(
    env: lmdb.Environment, db: Any, source: BinaryIO, dupdata: bool = False, batch: int = 4096
) -> int:
    """Write every record of the cdbmake stream ``source`` into ``db`` in one write transaction.

    The load is atomic: it commits everything or nothing. When the map fills up, the
    transaction is aborted, the map size doubled and the load started again from the
    beginning of the stream (a stream that cannot seek, like a pipe, is first copied to a
    temporary file). Shows a progress bar (bytes of the dump) when stderr is a terminal.

    ``dupdata=True`` (for a dupsort ``db``) adds every record as a duplicate; otherwise a
    repeated key keeps its last value.

    Returns:
        the number of records read.

    Raises:
        ValueError: a malformed or truncated dump (nothing is written).
        zlmdb.lmdb.Error: LMDB refused a record (e.g. ``BadValsizeError`` for an empty or
            oversize key); nothing is written.
    """
    source = _seekable(source)
    start = source.tell()
    total = os.fstat(source.fileno()).st_size - start if hasattr(source, "fileno") else 0
    while True:
        source.seek(start)
        reader = CdbReader(source)
        progress = Progress(total, unit=" bytes")
        count = 0
        try:
            with env.begin(write=True, db=db) as txn:
                putmulti = txn.cursor().putmulti
                records = iter(reader)
                while True:
                    chunk = list(itertools.islice(records, batch))
                    if not chunk:
                        break
                    putmulti(chunk, dupdata=dupdata)
                    count += len(chunk)
                    progress.update(reader.consumed)
        except lmdb.MapFullError:
            env.set_mapsize(env.info()["map_size"] * 2)
            continue
        progress.finish()
        return count


def cmd_load(args: argparse.Namespace) -> int:
    """Load a cdbmake dump into a database (created if missing), atomically."""
    env = lmdb.open(args.path, map_size=args.map_size << 20, max_dbs=1024)
    try:
        if args.dupsort and not args.db:
            raise ValueError("--dupsort needs --db: the main database cannot be dupsort")
        db = env.open_db(args.db.encode(), dupsort=args.dupsort) if args.db else None
        source = open(args.input, "rb") if args.input else sys.stdin.buffer
        try:
            count = load_cdb(env, db, source, dupdata=args.dupsort)
        finally:
            if args.input:
                source.close()
        sys.stdout.write(f"loaded {count:,} records\n")
    finally:
        env.close()
    return 0


def copy_env(env: lmdb.Environment, target: str, compact: bool = False) -> None:
    """Copy ``env`` into the directory ``target`` (created if missing), with a progress bar
    on a terminal stderr that follows the size of the copy's data file.

    Raises:
        zlmdb.lmdb.Error: the copy failed (e.g. the target already holds a data file).
        OSError: ``target`` cannot be created.
    """
    os.makedirs(target, exist_ok=True)
    info, stat = env.info(), env.stat()
    progress = Progress((info["last_pgno"] + 1) * stat["psize"], unit=" bytes")
    if not progress.enabled:
        env.copy(target, compact=compact)
        return
    done = threading.Event()
    data_file = os.path.join(target, "data.mdb")

    def watch() -> None:
        while not done.wait(0.2):
            try:
                progress.update(os.path.getsize(data_file))
            except OSError:
                pass

    watcher = threading.Thread(target=watch, name="zlmdb-copy-progress", daemon=True)
    watcher.start()
    try:
        env.copy(target, compact=compact)
    finally:
        done.set()
        watcher.join()
    progress.finish()


def cmd_copy(args: argparse.Namespace) -> int:
    """Copy (optionally compact) an environment into an existing or new directory."""
    env = _open_readonly(args.path)
    try:
        copy_env(env, args.target, compact=args.compact)
    finally:
        env.close()
    sys.stdout.write(f"copied {args.path} to {args.target}\n")
    return 0


def make_parser(prog: str = "zlmdb") -> argparse.ArgumentParser:
    """Return the argument parser of the ``zlmdb`` command (``prog`` names it in usage)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the demo job on a temporary database")
    demo.add_argument(
        "--records", type=int, default=200000, help="records to write (default 200000)"
    )
    demo.set_defaults(func=cmd_demo)
    bench = sub.add_parser("bench", help="run bench/lowlevel.py (source checkout only)")
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    info = sub.add_parser("info", help="print versions (and statistics of PATH)")
    info.add_argument("path", nargs="?")
    info.add_argument(
        "--lib-version",
        action=_LibVersionAction,
        metavar="{1.0,0.9}",
        help="with PATH: exit with status 1 unless the database has this LMDB format",
    )
    info.set_defaults(func=cmd_info)
    stat = sub.add_parser("stat", help="print statistics of a database")
    stat.add_argument("path")
    stat.set_defaults(func=cmd_stat)
    dump = sub.add_parser("dump", help="dump a database in cdbmake format")
    dump.add_argument("path")
    dump.add_argument("--db", help="named database (default: the main one)")
    dump.add_argument("-o", "--output", help="file to write (default: stdout)")
    dump.set_defaults(func=cmd_dump)
    load = sub.add_parser("load", help="load a cdbmake dump")
    load.add_argument("path")
    load.add_argument("--db", help="named database (default: the main one)")
    load.add_argument("-i", "--input", help="file to read (default: stdin)")
    load.add_argument(
        "--map-size",
        type=int,
        default=64,
        help="initial map size in MiB (default 64; doubled as often as the load needs)",
    )
    load.add_argument(
        "--dupsort", action="store_true", help="create --db as a dupsort database, keep duplicates"
    )
    load.set_defaults(func=cmd_load)
    copy = sub.add_parser("copy", help="copy a database to another directory")
    copy.add_argument("path")
    copy.add_argument("target")
    copy.add_argument("--compact", action="store_true", help="omit free pages")
    copy.set_defaults(func=cmd_copy)
    return parser


class Command:
    """The ``zlmdb`` command line entry point (the console script calls :data:`main`).

    ``main(argv=None)`` parses ``argv`` (default: ``sys.argv[1:]``), runs the command and
    returns its exit status: 0 on success; 1 when the command fails with an LMDB error, a
    malformed dump (``ValueError``) or an operating-system error, whose message is printed
    to stderr, or when ``info PATH --lib-version`` finds the other LMDB format; bad arguments
    raise ``SystemExit(2)`` (argparse prints the usage error).

    ``main.main(args=None, prog_name=None, standalone_mode=True)`` is the same run shaped like
    a click command's ``main`` (upstream zlmdb's ``zlmdb.cli.main`` is a click group): it
    exits with ``SystemExit(status)``, or returns the status when ``standalone_mode`` is
    false, so ``click.testing.CliRunner().invoke(main, [...])`` works without zlmdb
    depending on click.
    """

    name = "zlmdb"

    def __call__(self, argv: Optional[Sequence[str]] = None, prog: str = "zlmdb") -> int:
        parser = make_parser(prog)
        args = parser.parse_args(list(argv) if argv is not None else None)
        try:
            return int(args.func(args) or 0)
        except (lmdb.Error, ValueError, OSError) as exc:
            sys.stderr.write(f"zlmdb {args.command}: {exc}\n")
            return 1

    def main(
        self,
        args: Optional[Sequence[str]] = None,
        prog_name: Optional[str] = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        """Run like :meth:`__call__`; exit with ``SystemExit(status)`` in standalone mode.

        Raises:
            SystemExit: always in standalone mode (status as above); without it only for
                bad arguments (status 2).
        """
        status = self(args, prog=prog_name or self.name)
        if standalone_mode:
            raise SystemExit(status)
        return status


#: the ``zlmdb`` console script: ``main(argv=None) -> exit status`` (see :class:`Command`)
main = Command()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__: List[str] = ["main", "make_parser", "Command"]
