"""Benchmark zlmdb.store.LmdbObjectStore against lmdb-object-store, diskcache and sqlitedict.

Runs the same workloads against every store importable in this interpreter and prints ops/s
and the ratio of zlmdb.store to each other store (``x`` > 1 means zlmdb.store is faster)::

    PYTHONPATH=src python bench/store.py            # ~1 minute
    PYTHONPATH=src python bench/store.py --quick    # a few seconds (smoke test)

Workloads: buffered put (+ final flush), put_many (atomic batches of 1000), get, get_many
(batches of 100), exists, dict set (+ flush), dict get, and a 4-thread mix of 90% reads /
10% writes over the same keys. Every store runs with its defaults, which give the same
durability promise: data is on disk once ``flush()``/``commit()``/``close()`` returned
(diskcache commits every write; sqlitedict commits at the end of each workload).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

VALUE = {"name": "widget", "count": 12, "tags": ["a", "b"], "price": 9.5}


# -- adapters: one small class per store, all with the same methods ---------------------------


class ObjectStoreAdapter:
    """zlmdb.store and lmdb-object-store share an API."""

    def __init__(self, cls: Any, path: str) -> None:
        self.db = cls(path, map_size=1 << 30)

    def put(self, key: bytes, value: Any) -> None:
        self.db.put(key, value)

    def put_many(self, items: Dict[bytes, Any]) -> None:
        self.db.put_many(items)

    def get(self, key: bytes) -> Any:
        return self.db.get(key)

    def get_many(self, keys: List[bytes]) -> Any:
        return self.db.get_many(keys)

    def exists(self, key: bytes) -> bool:
        return self.db.exists(key)

    def setitem(self, key: bytes, value: Any) -> None:
        self.db[key] = value

    def getitem(self, key: bytes) -> Any:
        return self.db[key]

    def flush(self) -> None:
        self.db.flush()

    def close(self) -> None:
        self.db.close()


class DiskcacheAdapter(ObjectStoreAdapter):
    def __init__(self, cls: Any, path: str) -> None:
        self.db = cls(path)

    def put(self, key: bytes, value: Any) -> None:
        self.db.set(key, value)

    def put_many(self, items: Dict[bytes, Any]) -> None:
        with self.db.transact():
            for key, value in items.items():
                self.db.set(key, value)

    def get_many(self, keys: List[bytes]) -> Any:
        get = self.db.get
        return {k: get(k) for k in keys}

    def exists(self, key: bytes) -> bool:
        return key in self.db

    def flush(self) -> None:
        pass


class SqlitedictAdapter(ObjectStoreAdapter):
    def __init__(self, cls: Any, path: str) -> None:
        self.db = cls(os.path.join(path, "db.sqlite"), autocommit=False)
        self.lock = threading.Lock()  # SqliteDict serializes through one connection thread

    def put(self, key: bytes, value: Any) -> None:
        self.db[key.decode()] = value

    def put_many(self, items: Dict[bytes, Any]) -> None:
        self.db.update({k.decode(): v for k, v in items.items()})
        self.db.commit()

    def get(self, key: bytes) -> Any:
        return self.db.get(key.decode())

    def get_many(self, keys: List[bytes]) -> Any:
        get = self.db.get
        return {k: get(k.decode()) for k in keys}

    def exists(self, key: bytes) -> bool:
        return key.decode() in self.db

    def setitem(self, key: bytes, value: Any) -> None:
        self.db[key.decode()] = value

    def getitem(self, key: bytes) -> Any:
        return self.db[key.decode()]

    def flush(self) -> None:
        self.db.commit()


# diskcache and sqlitedict commit to SQLite per write; a fifth of the keys keeps the default run
# near a minute (ops/s are rates, so the smaller run still compares).
SLOW_STORE_SCALE = 5


def available_stores() -> Dict[str, Callable[[str], Any]]:
    from zlmdb.store import LmdbObjectStore as ZStore

    stores: Dict[str, Callable[[str], Any]] = {
        "zlmdb.store": lambda p: ObjectStoreAdapter(ZStore, p)
    }
    try:
        from lmdb_object_store import LmdbObjectStore as PeerStore

        stores["lmdb-object-store"] = lambda p: ObjectStoreAdapter(PeerStore, p)
    except ImportError:
        pass
    try:
        import diskcache

        stores["diskcache"] = lambda p: DiskcacheAdapter(diskcache.Cache, p)
    except ImportError:
        pass
    try:
        from sqlitedict import SqliteDict

        stores["sqlitedict"] = lambda p: SqlitedictAdapter(SqliteDict, p)
    except ImportError:
        pass
    return stores


# -- workloads ---------------------------------------------------------------------------------


def run_workloads(make: Callable[[str], Any], n: int, mix_ops: int) -> Dict[str, float]:
    keys = [b"key%010d" % i for i in range(n)]
    lookup = keys[:]
    random.Random(1).shuffle(lookup)
    results: Dict[str, float] = {}
    root = tempfile.mkdtemp(prefix="store-bench-")
    try:

        def timed(name: str, ops: int, body: Callable[[], None]) -> None:
            t0 = time.perf_counter()
            body()
            results[name] = ops / (time.perf_counter() - t0)

        path = os.path.join(root, "a")
        os.mkdir(path)
        db = make(path)

        def buffered_put() -> None:
            put = db.put
            for k in keys:
                put(k, VALUE)
            db.flush()

        timed("buffered put", n, buffered_put)

        def put_many() -> None:
            for i in range(0, n, 1000):
                db.put_many({k: VALUE for k in keys[i : i + 1000]})

        timed("put_many", n, put_many)
        timed("get", n, lambda: [db.get(k) for k in lookup])
        batches = [lookup[i : i + 100] for i in range(0, n, 100)]
        timed("get_many", n, lambda: [db.get_many(b) for b in batches])
        timed("exists", n, lambda: [db.exists(k) for k in lookup])

        def dict_set() -> None:
            setitem = db.setitem
            for k in keys:
                setitem(k, VALUE)
            db.flush()

        timed("dict set", n, dict_set)
        timed("dict get", n, lambda: [db.getitem(k) for k in lookup])

        def mix() -> None:
            per_thread = mix_ops // 4

            def worker(seed: int) -> None:
                rnd = random.Random(seed)
                for _ in range(per_thread):
                    k = keys[rnd.randrange(n)]
                    if rnd.random() < 0.1:
                        db.put(k, VALUE)
                    else:
                        db.get(k)

            threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            db.flush()

        timed("4-thread 90/10 mix", mix_ops, mix)
        db.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument(
        "-n", type=int, default=None, help="keys per workload (default 20000, quick 1000)"
    )
    parser.add_argument("--only", action="append", help="run only this store (repeatable)")
    parser.add_argument(
        "--rounds", type=int, default=None, help="rounds per store, best kept (default 3, quick 1)"
    )
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.quick else 20000)
    mix_ops = 2000 if args.quick else 20000
    args.rounds = args.rounds or (1 if args.quick else 3)
    stores = available_stores()
    if args.only:
        stores = {k: v for k, v in stores.items() if k in args.only}
    print(
        f"python {sys.version.split()[0]} ({sys.implementation.name}), {n} keys, mix {mix_ops} ops"
    )
    table: Dict[str, Dict[str, float]] = {}
    # Rounds interleave the stores and keep each store's best round: a busy machine then
    # slows every store alike instead of whichever ran during the disturbance.
    for round_no in range(args.rounds):
        for name, make in stores.items():
            t0 = time.perf_counter()
            scale = 1 if name in ("zlmdb.store", "lmdb-object-store") else SLOW_STORE_SCALE
            result = run_workloads(make, max(100, n // scale), max(400, mix_ops // scale))
            best = table.setdefault(name, {})
            for workload, ops in result.items():
                best[workload] = max(best.get(workload, 0.0), ops)
            print(f"  round {round_no + 1}: {name} in {time.perf_counter() - t0:.1f}s", flush=True)
    names = list(table)
    workloads = list(next(iter(table.values())))
    header = f"{'workload':<20}" + "".join(f"{name:>20}" for name in names)
    others = [name for name in names if name != "zlmdb.store"]
    header += "".join(f"{'vs ' + name:>22}" for name in others)
    print(header)
    for workload in workloads:
        row = f"{workload:<20}" + "".join(f"{table[name][workload]:>16,.0f} op/s" for name in names)
        mine = table["zlmdb.store"][workload]
        row += "".join(f"{mine / table[name][workload]:>21.2f}x" for name in others)
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
