"""ORM benchmark: zlmdb's ORM against raw ``zlmdb.lmdb`` and upstream zlmdb, in one run.

Usage (from a checkout; the checkout's ``src`` is put first on ``sys.path``)::

    python bench/orm.py                       # default run (30,000 records), about 1-2 minutes
    python bench/orm.py --quick               # small data set, smoke run (seconds)
    python bench/orm.py --records 50000       # more records per workload
    python bench/orm.py --save orm.json       # also write all figures as JSON
    python bench/orm.py --upstream /path/to/venv-with-zlmdb-26.10.1/bin/python
    python bench/orm.py --upstream none       # skip upstream
    python bench/orm.py --sync --records 5000 # commits wait for the disk (sync=True)
    python bench/orm.py --only "get by primary key" --only "scan (select all)"
    python bench/orm.py --cpu                 # CPU time instead of wall-clock (loaded machines)

Three implementations run the same workloads on the same records:

``zlmdb``
    this checkout's ORM (``zlmdb.Database``, ``Map*`` tables, indexes, writers).
``raw``
    this checkout's ``zlmdb.lmdb`` with the same serializer and the same key bytes
    (``>H`` slot + ``>Q`` oid), written by hand: the floor the ORM's overhead is measured from.
    CBOR is done by the ORM's own functions (``zlmdb._cbor.FAST_DUMPS``/``FAST_LOADS``:
    ``cbor2``'s on CPython, zlmdb's byte-identical encoder/decoder on PyPy).
``upstream``
    upstream zlmdb 26.10.1's ORM, in a subprocess (``zlmdb`` is the import name of both, so they
    cannot share a process). Its interpreter is ``--upstream``, else ``$ZLMDB_UPSTREAM_PYTHON``,
    else ``venv-upstream/bin/python`` next to the checkout when that exists. CPython only
    (upstream needs CPython >= 3.11). The background-writer workload gives upstream the same
    ``BackgroundWriter`` (``src/zlmdb/_writers.py`` is plain Python over the ORM API).

Workloads (records are small dicts ``{oid, name, group, score}``; databases are opened with
``sync=False`` so that disk flushes do not drown the CPU cost; ``--sync`` measures with
``sync=True``, where every commit waits for the disk and batching matters most):

* ``write batch=1 / 100 / 1000``: CBOR records, that many per write transaction
  (batch=1 writes a tenth of the records);
* ``write/read json|cbor|flatbuffers|numpy``: the same record in each value format (NumPy: a
  one-element structured array; zlmdb only, upstream has no NumPy maps); reads select all
  records and touch one field;
* ``get by primary key``: random point reads, one read transaction;
* ``scan (select all)``: keys and values of the whole table;
* ``write 2 indexes`` vs ``write no index``: a unique string index and a non-unique
  ``(group, oid)`` index;
* ``index -> record``: string-index lookup, then table get (``table[txn, index[txn, name]]``);
* ``index -> record (one call)``: the same lookup with ``table.get_by_index(txn, "name", name)``
  (one call into C; upstream has no such call and runs its two gets, raw its two hand-written
  gets, as in ``index -> record``);
* ``count()`` (calls on the whole table) and ``count_range`` (windows of 100 records);
* ``one txn per record`` vs ``background writer``: the same puts, each in its own write
  transaction vs handed to a ``BackgroundWriter``.

``--cpu`` times every workload by the process's CPU time (``time.process_time``: all threads,
so the background writer's worker counts too) instead of the wall clock: on a machine busy with
other work the figures then stay comparable, at the price of not showing time spent waiting
(disk flushes with ``--sync``).

Each workload runs ``--repeat`` times per implementation on a fresh database (best time
counts); zlmdb and raw alternate within a workload, and upstream's runs of that workload follow
in one subprocess, so machine drift hits all three alike. Figures are
operations (records, lookups or calls) per second; ``ours/raw`` and ``ours/up`` are ratios of
zlmdb's figure to the other one (above 1: zlmdb is faster).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
MAXSIZE = 1 << 30
SYNC = os.environ.get("ZLMDB_BENCH_SYNC") == "1"  # set by --sync (inherited by the subprocess)
# --cpu (inherited by the subprocess): time workloads by the process's CPU time (all threads)
# instead of the wall clock, so that other load on the machine does not count
CPU_TIME = os.environ.get("ZLMDB_BENCH_CPU_TIME") == "1"
# The LMDB file format of every side (--lib-version; inherited by the subprocess): "1.0" is
# what new ORM databases get, here and upstream.
LIB_VERSION = os.environ.get("ZLMDB_BENCH_LIB_VERSION", "1.0")

# slots: one per value format, plus a table with two indexes
SLOT_CBOR, SLOT_JSON, SLOT_FB, SLOT_NUMPY, SLOT_INDEXED, SLOT_IDX_NAME, SLOT_IDX_GROUP = range(1, 8)

WORKLOADS = [
    "write batch=1",
    "write batch=100",
    "write batch=1000",
    "write json",
    "write cbor",
    "write flatbuffers",
    "write numpy",
    "read json",
    "read cbor",
    "read flatbuffers",
    "read numpy",
    "get by primary key",
    "scan (select all)",
    "write no index",
    "write 2 indexes",
    "index -> record",
    "index -> record (one call)",
    "count()",
    "count_range",
    "one txn per record",
    "background writer",
]


def make_records(count: int) -> List[Dict[str, Any]]:
    rng = random.Random(7)
    return [
        {"oid": i, "name": f"user-{i:08d}", "group": i % 100, "score": rng.random()}
        for i in range(1, count + 1)
    ]


# --------------------------------------------------------------------------------- FlatBuffers


_FB: Any = None


def _flatbuffers() -> Any:
    """The flatbuffers runtime; import it after ``zlmdb`` (upstream provides a vendored copy)."""
    global _FB
    if _FB is None:
        import flatbuffers

        _FB = flatbuffers
    return _FB


def fb_build(record: Dict[str, Any], builder: Any) -> int:
    """Build the record as a FlatBuffers table (oid, name, group, score) without flatc code."""
    name = builder.CreateString(record["name"])
    builder.StartObject(4)
    builder.PrependUint64Slot(0, record["oid"], 0)
    builder.PrependUOffsetTRelativeSlot(1, name, 0)
    builder.PrependUint32Slot(2, record["group"], 0)
    builder.PrependFloat64Slot(3, record["score"], 0.0)
    return builder.EndObject()


class FbRecord:
    """Lazy accessor over a finished FlatBuffers buffer, like flatc's generated classes."""

    __slots__ = ("_tab",)

    def __init__(self, buf: Any) -> None:
        fb = _FB
        root = fb.encode.Get(fb.packer.uoffset, buf, 0)
        self._tab = fb.table.Table(buf, root)

    def score(self) -> float:
        fb = _FB
        offset = self._tab.Offset(10)
        if offset:
            return self._tab.Get(fb.number_types.Float64Flags, offset + self._tab.Pos)
        return 0.0


def fb_cast(buf: Any) -> FbRecord:
    return FbRecord(buf)


def fb_bytes(record: Dict[str, Any]) -> bytes:
    builder = _FB.Builder(0)
    builder.Finish(fb_build(record, builder))
    return bytes(builder.Output())


# ------------------------------------------------------------------------------------- NumPy

_NP_DTYPE = None


def np_record(record: Dict[str, Any]) -> Any:
    import numpy as np

    global _NP_DTYPE
    if _NP_DTYPE is None:
        _NP_DTYPE = np.dtype([("oid", "<u8"), ("group", "<u4"), ("score", "<f8"), ("name", "S16")])
    return np.array(
        [(record["oid"], record["group"], record["score"], record["name"].encode())],
        dtype=_NP_DTYPE,
    )


# --------------------------------------------------------------------------------- helpers


def timed(fn: Callable[[], int]) -> Tuple[int, float]:
    gc.collect()
    clock = time.process_time if CPU_TIME else time.perf_counter
    start = clock()
    ops = fn()
    return ops, clock() - start


def _identity(value: Any) -> Any:
    return value


def load_writers() -> Any:
    """zlmdb's writers module, loaded by path (works in the upstream subprocess too)."""
    spec = importlib.util.spec_from_file_location(
        "_bench_zlmdb_writers", ROOT / "src" / "zlmdb" / "_writers.py"
    )
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


class OrmWorkloads:
    """The workloads on an ORM module (ours or upstream's: they share the API)."""

    def __init__(self, zl: Any, count: int, tmp: str) -> None:
        self.zl = zl
        self.count = count
        self.tmp = tmp
        self.records = make_records(count)
        self.writers = load_writers()
        _flatbuffers()
        self._db: Optional[Any] = None
        zl_ = zl
        self.cbor = zl_.MapOidCbor(SLOT_CBOR, marshal=_identity, unmarshal=_identity)
        self.json = zl_.MapOidJson(SLOT_JSON, marshal=_identity, unmarshal=_identity)
        self.fb = zl_.MapOidFlatBuffers(SLOT_FB, build=fb_build, cast=fb_cast)
        numpy_map = getattr(zl_, "MapOidNumpy", None)
        self.numpy = numpy_map(SLOT_NUMPY) if numpy_map is not None else None
        self.indexed = zl_.MapOidCbor(SLOT_INDEXED, marshal=_identity, unmarshal=_identity)
        self.idx_name = zl_.MapStringOid(SLOT_IDX_NAME)
        self.idx_group = zl_.MapOidOidOid(SLOT_IDX_GROUP)
        self.indexed.attach_index("name", self.idx_name, lambda r: r["name"])
        self.indexed.attach_index(
            "group", self.idx_group, lambda r: (r["group"], r["oid"]), unique=False
        )

    # database lifecycle
    def fresh(self) -> Any:
        self.close()
        path = tempfile.mkdtemp(dir=self.tmp)
        self._db = self.zl.Database(path, maxsize=MAXSIZE, sync=SYNC, lib_version=LIB_VERSION)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.__exit__(None, None, None)
            shutil.rmtree(self._db.dbpath, ignore_errors=True)
            self._db = None

    def fill(self, table: Any, values: Optional[List[Any]] = None) -> Any:
        db = self.fresh()
        values = values if values is not None else self.records
        with db.begin(write=True) as txn:
            for record, value in zip(self.records, values):
                table[txn, record["oid"]] = value
        return db

    def values_for(self, fmt: str) -> Tuple[Any, List[Any]]:
        table = {"json": self.json, "cbor": self.cbor, "flatbuffers": self.fb}.get(fmt)
        if fmt == "numpy":
            return self.numpy, [np_record(r) for r in self.records]
        return table, self.records

    # workloads: each returns (operations, seconds) or None when not supported
    def write_batch(self, per_txn: int) -> Tuple[int, float]:
        records = self.records if per_txn > 1 else self.records[: max(100, self.count // 10)]
        db = self.fresh()
        table = self.cbor

        def run() -> int:
            for i in range(0, len(records), per_txn):
                with db.begin(write=True) as txn:
                    for record in records[i : i + per_txn]:
                        table[txn, record["oid"]] = record
            return len(records)

        return timed(run)

    def write_format(self, fmt: str) -> Optional[Tuple[int, float]]:
        table, values = self.values_for(fmt)
        if table is None:
            return None
        db = self.fresh()
        records = self.records

        def run() -> int:
            with db.begin(write=True) as txn:
                for record, value in zip(records, values):
                    table[txn, record["oid"]] = value
            return len(records)

        return timed(run)

    def read_format(self, fmt: str) -> Optional[Tuple[int, float]]:
        table, values = self.values_for(fmt)
        if table is None:
            return None
        db = self.fill(table, values)

        def run() -> int:
            total = 0.0
            n = 0
            with db.begin() as txn:
                for value in table.select(txn, return_keys=False):
                    if fmt == "flatbuffers":
                        total += value.score()
                    elif fmt == "numpy":
                        total += float(value["score"][0])
                    else:
                        total += value["score"]
                    n += 1
            return n

        return timed(run)

    def get_pk(self) -> Tuple[int, float]:
        db = self.fill(self.cbor)
        oids = [r["oid"] for r in self.records]
        random.Random(3).shuffle(oids)
        table = self.cbor

        def run() -> int:
            with db.begin() as txn:
                for oid in oids:
                    table[txn, oid]
            return len(oids)

        return timed(run)

    def scan(self) -> Tuple[int, float]:
        db = self.fill(self.cbor)
        table = self.cbor

        def run() -> int:
            n = 0
            with db.begin() as txn:
                for _key, _value in table.select(txn):
                    n += 1
            return n

        return timed(run)

    def write_indexed(self, with_indexes: bool) -> Tuple[int, float]:
        db = self.fresh()
        table = self.indexed if with_indexes else self.cbor
        records = self.records

        def run() -> int:
            with db.begin(write=True) as txn:
                for record in records:
                    table[txn, record["oid"]] = record
            return len(records)

        return timed(run)

    def index_lookup(self) -> Tuple[int, float]:
        db = self.fill(self.indexed)
        names = [r["name"] for r in self.records]
        random.Random(5).shuffle(names)
        table, index = self.indexed, self.idx_name

        def run() -> int:
            with db.begin() as txn:
                for name in names:
                    table[txn, index[txn, name]]
            return len(names)

        return timed(run)

    def index_lookup_one_call(self) -> Optional[Tuple[int, float]]:
        table = self.indexed
        get_by_index = getattr(table, "get_by_index", None)
        if get_by_index is None:  # upstream has no such call: its way is the two gets
            return self.index_lookup()
        db = self.fill(table)
        names = [r["name"] for r in self.records]
        random.Random(5).shuffle(names)

        def run() -> int:
            with db.begin() as txn:
                for name in names:
                    get_by_index(txn, "name", name)
            return len(names)

        return timed(run)

    def count_all(self) -> Tuple[int, float]:
        db = self.fill(self.cbor)
        calls = 20

        def run() -> int:
            with db.begin() as txn:
                for _ in range(calls):
                    assert self.cbor.count(txn) == self.count
            return calls

        return timed(run)

    def count_range(self) -> Tuple[int, float]:
        db = self.fill(self.cbor)
        rng = random.Random(9)
        starts = [rng.randint(1, max(1, self.count - 100)) for _ in range(1000)]

        def run() -> int:
            with db.begin() as txn:
                for start in starts:
                    self.cbor.count_range(txn, start, start + 100)
            return len(starts)

        return timed(run)

    def txn_per_record(self) -> Tuple[int, float]:
        return self.write_batch(1)

    def background(self) -> Tuple[int, float]:
        records = self.records[: max(100, self.count // 10)]
        db = self.fresh()
        table = self.cbor

        def run() -> int:
            with self.writers.BackgroundWriter(db, table, maxsize=10_000, batch_size=1000) as w:
                for record in records:
                    w.put(record["oid"], record)
            return len(records)

        return timed(run)

    def run(self, name: str) -> Optional[Tuple[int, float]]:
        table: Dict[str, Callable[[], Optional[Tuple[int, float]]]] = {
            "write batch=1": lambda: self.write_batch(1),
            "write batch=100": lambda: self.write_batch(100),
            "write batch=1000": lambda: self.write_batch(1000),
            "get by primary key": self.get_pk,
            "scan (select all)": self.scan,
            "write no index": lambda: self.write_indexed(False),
            "write 2 indexes": lambda: self.write_indexed(True),
            "index -> record": self.index_lookup,
            "index -> record (one call)": self.index_lookup_one_call,
            "count()": self.count_all,
            "count_range": self.count_range,
            "one txn per record": self.txn_per_record,
            "background writer": self.background,
        }
        for fmt in ("json", "cbor", "flatbuffers", "numpy"):
            table[f"write {fmt}"] = lambda fmt=fmt: self.write_format(fmt)
            table[f"read {fmt}"] = lambda fmt=fmt: self.read_format(fmt)
        try:
            return table[name]()
        finally:
            self.close()


class RawWorkloads:
    """The same workloads by hand on ``zlmdb.lmdb``: same key bytes, same serializers."""

    def __init__(self, lmdb: Any, count: int, tmp: str) -> None:
        import types

        # The ORM's CBOR functions (cbor2's own on CPython, zlmdb._cbor's on PyPy: same
        # bytes), so that ours/raw measures the ORM's overhead and not a faster encoder.
        from zlmdb._cbor import FAST_DUMPS, FAST_LOADS

        self.lmdb = lmdb
        self.cbor2 = types.SimpleNamespace(dumps=FAST_DUMPS, loads=FAST_LOADS)
        self.count = count
        self.tmp = tmp
        self.records = make_records(count)
        self._env: Optional[Any] = None
        _flatbuffers()

    def fresh(self) -> Any:
        self.close()
        self._env = self.lmdb.open(
            tempfile.mkdtemp(dir=self.tmp),
            map_size=MAXSIZE,
            sync=SYNC,
            lib_version={"0.9": 0, "1.0": 1}[LIB_VERSION],
        )
        return self._env

    def close(self) -> None:
        if self._env is not None:
            path = self._env.path()
            self._env.close()
            shutil.rmtree(path, ignore_errors=True)
            self._env = None

    @staticmethod
    def key(slot: int, oid: int) -> bytes:
        return struct.pack(">HQ", slot, oid)

    def codec(self, fmt: str) -> Tuple[Callable[[Any], bytes], Callable[[bytes], Any], int]:
        if fmt == "json":
            return (
                lambda r: json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode("utf8"),
                lambda b: json.loads(b.decode("utf8")),
                SLOT_JSON,
            )
        if fmt == "cbor":
            return self.cbor2.dumps, self.cbor2.loads, SLOT_CBOR
        if fmt == "flatbuffers":
            return fb_bytes, fb_cast, SLOT_FB
        import numpy as np

        return (
            lambda r: np_record(r).tobytes(),
            lambda b: np.frombuffer(b, dtype=_NP_DTYPE),
            SLOT_NUMPY,
        )

    def fill(self, fmt: str = "cbor") -> Any:
        encode, _, slot = self.codec(fmt)
        env = self.fresh()
        with env.begin(write=True) as txn:
            for r in self.records:
                txn.put(self.key(slot, r["oid"]), encode(r))
        return env

    def write_batch(self, per_txn: int) -> Tuple[int, float]:
        records = self.records if per_txn > 1 else self.records[: max(100, self.count // 10)]
        env = self.fresh()
        dumps, key = self.cbor2.dumps, self.key

        def run() -> int:
            for i in range(0, len(records), per_txn):
                with env.begin(write=True) as txn:
                    for r in records[i : i + per_txn]:
                        txn.put(key(SLOT_CBOR, r["oid"]), dumps(r))
            return len(records)

        return timed(run)

    def write_format(self, fmt: str) -> Tuple[int, float]:
        encode, _, slot = self.codec(fmt)
        env = self.fresh()
        records, key = self.records, self.key
        if fmt == "numpy":
            arrays = [np_record(r) for r in records]
            encode_arrays = [a.tobytes for a in arrays]

            def run_np() -> int:
                with env.begin(write=True) as txn:
                    for r, tobytes in zip(records, encode_arrays):
                        txn.put(key(slot, r["oid"]), tobytes())
                return len(records)

            return timed(run_np)

        def run() -> int:
            with env.begin(write=True) as txn:
                for r in records:
                    txn.put(key(slot, r["oid"]), encode(r))
            return len(records)

        return timed(run)

    def read_format(self, fmt: str) -> Tuple[int, float]:
        _, decode, slot = self.codec(fmt)
        env = self.fill(fmt)
        prefix = struct.pack(">H", slot)

        def run() -> int:
            total = 0.0
            n = 0
            with env.begin() as txn:
                cursor = txn.cursor()
                cursor.set_range(prefix)
                for key, value in cursor:
                    if key[:2] != prefix:
                        break
                    obj = decode(value)
                    if fmt == "flatbuffers":
                        total += obj.score()
                    elif fmt == "numpy":
                        total += float(obj["score"][0])
                    else:
                        total += obj["score"]
                    n += 1
            return n

        return timed(run)

    def get_pk(self) -> Tuple[int, float]:
        env = self.fill()
        oids = [r["oid"] for r in self.records]
        random.Random(3).shuffle(oids)
        loads, key = self.cbor2.loads, self.key

        def run() -> int:
            with env.begin() as txn:
                for oid in oids:
                    loads(txn.get(key(SLOT_CBOR, oid)))
            return len(oids)

        return timed(run)

    def scan(self) -> Tuple[int, float]:
        env = self.fill()
        loads = self.cbor2.loads
        prefix = struct.pack(">H", SLOT_CBOR)

        def run() -> int:
            n = 0
            with env.begin() as txn:
                cursor = txn.cursor()
                cursor.set_range(prefix)
                for key, value in cursor:
                    if key[:2] != prefix:
                        break
                    struct.unpack(">Q", key[2:])
                    loads(value)
                    n += 1
            return n

        return timed(run)

    def write_indexed(self, with_indexes: bool) -> Tuple[int, float]:
        env = self.fresh()
        records, key, dumps = self.records, self.key, self.cbor2.dumps
        name_prefix = struct.pack(">H", SLOT_IDX_NAME)

        def run() -> int:
            with env.begin(write=True) as txn:
                for r in records:
                    oid = struct.pack(">Q", r["oid"])
                    txn.put(key(SLOT_INDEXED, r["oid"]), dumps(r))
                    if with_indexes:
                        txn.put(name_prefix + r["name"].encode("utf8"), oid)
                        txn.put(struct.pack(">HQQ", SLOT_IDX_GROUP, r["group"], r["oid"]), oid)
            return len(records)

        return timed(run)

    def index_lookup(self) -> Tuple[int, float]:
        env = self.fresh()
        dumps, loads = self.cbor2.dumps, self.cbor2.loads
        name_prefix = struct.pack(">H", SLOT_IDX_NAME)
        slot_prefix = struct.pack(">H", SLOT_INDEXED)
        with env.begin(write=True) as txn:
            for r in self.records:
                txn.put(self.key(SLOT_INDEXED, r["oid"]), dumps(r))
                txn.put(name_prefix + r["name"].encode("utf8"), struct.pack(">Q", r["oid"]))
        names = [r["name"] for r in self.records]
        random.Random(5).shuffle(names)

        def run() -> int:
            with env.begin() as txn:
                for name in names:
                    oid = txn.get(name_prefix + name.encode("utf8"))
                    loads(txn.get(slot_prefix + oid))
            return len(names)

        return timed(run)

    def _count(self, txn: Any, start: bytes, end: bytes) -> int:
        cursor = txn.cursor()
        n = 0
        if cursor.set_range(start):
            for key in cursor.iternext(keys=True, values=False):
                if key >= end:
                    break
                n += 1
        return n

    def count_all(self) -> Tuple[int, float]:
        env = self.fill()
        start, end = struct.pack(">H", SLOT_CBOR), struct.pack(">H", SLOT_CBOR + 1)

        def run() -> int:
            with env.begin() as txn:
                for _ in range(20):
                    assert self._count(txn, start, end) == self.count
            return 20

        return timed(run)

    def count_range(self) -> Tuple[int, float]:
        env = self.fill()
        rng = random.Random(9)
        starts = [rng.randint(1, max(1, self.count - 100)) for _ in range(1000)]
        key = self.key

        def run() -> int:
            with env.begin() as txn:
                for s in starts:
                    self._count(txn, key(SLOT_CBOR, s), key(SLOT_CBOR, s + 100))
            return len(starts)

        return timed(run)

    def run(self, name: str) -> Optional[Tuple[int, float]]:
        table: Dict[str, Callable[[], Optional[Tuple[int, float]]]] = {
            "write batch=1": lambda: self.write_batch(1),
            "write batch=100": lambda: self.write_batch(100),
            "write batch=1000": lambda: self.write_batch(1000),
            "get by primary key": self.get_pk,
            "scan (select all)": self.scan,
            "write no index": lambda: self.write_indexed(False),
            "write 2 indexes": lambda: self.write_indexed(True),
            "index -> record": self.index_lookup,
            "index -> record (one call)": self.index_lookup,  # the same two gets by hand
            "count()": self.count_all,
            "count_range": self.count_range,
            "one txn per record": lambda: self.write_batch(1),
        }
        for fmt in ("json", "cbor", "flatbuffers", "numpy"):
            table[f"write {fmt}"] = lambda fmt=fmt: self.write_format(fmt)
            table[f"read {fmt}"] = lambda fmt=fmt: self.read_format(fmt)
        try:
            fn = table.get(name)
            return fn() if fn is not None else None
        finally:
            self.close()


def run_once(runner: Any, name: str) -> Optional[float]:
    """One run of workload ``name``: ops/s, or ``None`` when unsupported or failed."""
    try:
        outcome = runner.run(name)
    except Exception as exc:  # report and go on: one broken workload spoils no others
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if outcome is None:
        return None
    ops, seconds = outcome
    return ops / seconds if seconds > 0 else float("inf")


def best_of(rates: List[Optional[float]]) -> Optional[float]:
    present = [r for r in rates if r is not None]
    return max(present) if present else None


def make_runner(impl: str, count: int, tmp: str) -> Any:
    """The workloads of ``zlmdb`` (ORM), ``raw`` (zlmdb.lmdb) or ``upstream`` (its ORM)."""
    if impl == "raw":
        import zlmdb.lmdb as lmdb

        return RawWorkloads(lmdb, count, tmp)
    import zlmdb

    return OrmWorkloads(zlmdb, count, tmp)


def worker(impl: str, count: int, repeat: int, names: List[str]) -> Dict[str, Optional[float]]:
    """Measure one implementation in this process (the upstream subprocess uses this)."""
    tmp = tempfile.mkdtemp(prefix=f"zlmdb-bench-orm-{impl}-")
    try:
        runner = make_runner(impl, count, tmp)
        return {name: best_of([run_once(runner, name) for _ in range(repeat)]) for name in names}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def find_upstream(option: Optional[str]) -> Optional[str]:
    if option is not None:
        return None if option.lower() == "none" else option
    env = os.environ.get("ZLMDB_UPSTREAM_PYTHON")
    if env:
        return env
    candidate = ROOT.parent / "venv-upstream" / "bin" / "python"
    if candidate.exists() and platform.python_implementation() == "CPython":
        return str(candidate)
    return None


def run_upstream(
    python: str, count: int, repeat: int, names: List[str]
) -> Tuple[Optional[Dict[str, Any]], str]:
    """Measure ``names`` with upstream zlmdb in a subprocess; (results, version) or
    (None, error line)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = [python, str(Path(__file__).resolve()), "--worker", "upstream"]
    args += ["--records", str(count), "--repeat", str(repeat)]
    for name in names:
        args += ["--only", name]
    proc = subprocess.run(args, env=env, cwd=tempfile.gettempdir(), capture_output=True)
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        return None, lines[-1] if lines else f"exit status {proc.returncode}"
    payload = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return payload["results"], payload["version"]


def fmt_rate(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data set, one repeat")
    parser.add_argument("--records", type=int, default=None, help="records per workload")
    parser.add_argument("--repeat", type=int, default=None, help="runs per workload (best)")
    parser.add_argument("--upstream", default=None, help="python with upstream zlmdb, or none")
    parser.add_argument("--save", default=None, help="write all figures to this JSON file")
    parser.add_argument("--sync", action="store_true", help="open databases with sync=True")
    parser.add_argument(
        "--cpu", action="store_true", help="time by process CPU time, not the wall clock"
    )
    parser.add_argument(
        "--lib-version", choices=["0.9", "1.0"], default=None, help="LMDB file format (1.0)"
    )
    parser.add_argument("--worker", choices=["zlmdb", "raw", "upstream"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", action="append", metavar="WORKLOAD", help="run only this workload (repeatable)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.only or ()) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {WORKLOADS}")
    global SYNC, LIB_VERSION, CPU_TIME
    if args.sync:
        SYNC = True
        os.environ["ZLMDB_BENCH_SYNC"] = "1"
    if args.cpu:
        CPU_TIME = True
        os.environ["ZLMDB_BENCH_CPU_TIME"] = "1"
    if args.lib_version:
        LIB_VERSION = args.lib_version
        os.environ["ZLMDB_BENCH_LIB_VERSION"] = args.lib_version
    count = args.records or (2_000 if args.quick else 30_000)
    repeat = args.repeat or (1 if args.quick else 3)

    if args.worker:
        # upstream: the interpreter's own zlmdb (this script's directory has no zlmdb package)
        results = worker(args.worker, count, repeat, args.only or WORKLOADS)
        import zlmdb

        print(json.dumps({"version": zlmdb.__version__, "results": results}))
        return 0

    sys.path.insert(0, str(ROOT / "src"))
    import zlmdb

    started = time.perf_counter()
    print(
        f"zlmdb {zlmdb.__version__} ORM benchmark on {platform.python_implementation()} "
        f"{platform.python_version()}: {count} records, best of {repeat}, sync={SYNC}, "
        f"LMDB {LIB_VERSION} files, {'CPU' if CPU_TIME else 'wall-clock'} time"
    )
    tmp = tempfile.mkdtemp(prefix="zlmdb-bench-orm-")
    runners: Dict[str, Any] = {"raw": make_runner("raw", count, tmp)}
    if hasattr(zlmdb, "Database"):
        runners["zlmdb"] = make_runner("zlmdb", count, tmp)
    else:
        print("zlmdb: this checkout has no ORM yet (zlmdb.Database missing)")
    upstream_python = find_upstream(args.upstream)
    if upstream_python is None:
        print("upstream: skipped (no --upstream interpreter)")
    results: Dict[str, Dict[str, Optional[float]]] = {"zlmdb": {}, "raw": {}, "upstream": {}}
    ours, raw, up = results["zlmdb"], results["raw"], results["upstream"]
    upstream_version = ""
    print(
        f"\n{'workload (ops/s)':<26} {'zlmdb':>9} {'raw':>9} {'upstream':>9} "
        f"{'ours/raw':>9} {'ours/up':>8}"
    )
    try:
        for name in args.only or WORKLOADS:
            # implementations alternate within a workload, so machine drift hits all alike
            rates: Dict[str, List[Optional[float]]] = {impl: [] for impl in runners}
            for _ in range(repeat):
                for impl, runner in runners.items():
                    rates[impl].append(run_once(runner, name))
            for impl in runners:
                results[impl][name] = best_of(rates[impl])
            if upstream_python is not None:
                figures, info = run_upstream(upstream_python, count, repeat, [name])
                if figures is None:
                    print(f"upstream: skipped ({info})")
                    upstream_python = None
                else:
                    up[name] = figures.get(name)
                    upstream_version = info
            print(
                f"{name:<26} {fmt_rate(ours.get(name)):>9} {fmt_rate(raw.get(name)):>9} "
                f"{fmt_rate(up.get(name)):>9} {fmt_ratio(ours.get(name), raw.get(name)):>9} "
                f"{fmt_ratio(ours.get(name), up.get(name)):>8}",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if up:
        print(f"(upstream: zlmdb {upstream_version} via {find_upstream(args.upstream)})")

    print()
    print(f"{'within one implementation':<44} {'zlmdb':>8} {'upstream':>9}")
    comparisons = [
        ("batch=1000 / batch=1 (writes)", "write batch=1000", "write batch=1"),
        ("batch=100 / batch=1 (writes)", "write batch=100", "write batch=1"),
        ("2 indexes / no index (writes)", "write 2 indexes", "write no index"),
        ("background writer / one txn per record", "background writer", "one txn per record"),
        ("cbor / json (writes)", "write cbor", "write json"),
        ("flatbuffers / json (writes)", "write flatbuffers", "write json"),
        ("numpy / json (writes)", "write numpy", "write json"),
        ("cbor / json (reads)", "read cbor", "read json"),
        ("flatbuffers / json (reads)", "read flatbuffers", "read json"),
        ("numpy / json (reads)", "read numpy", "read json"),
        ("index -> record / get by primary key", "index -> record", "get by primary key"),
        (
            "index -> record (one call) / get by pk",
            "index -> record (one call)",
            "get by primary key",
        ),
    ]
    for label, a, b in comparisons:
        print(
            f"{label:<44} {fmt_ratio(ours.get(a), ours.get(b)):>8} "
            f"{fmt_ratio(up.get(a), up.get(b)):>9}"
        )
    print(f"\n(count() and count_range are calls/s; count() walks {count} records per call)")
    print(f"total time {time.perf_counter() - started:.1f} s")

    if args.save:
        with open(args.save, "w", encoding="utf-8") as fp:
            json.dump(
                {
                    "python": f"{platform.python_implementation()} {platform.python_version()}",
                    "records": count,
                    "repeat": repeat,
                    "results": results,
                },
                fp,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
