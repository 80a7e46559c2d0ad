"""Low-level benchmark: zlmdb.lmdb against py-lmdb (and upstream zlmdb's binding), same run.

Usage (from a checkout, with zlmdb installed or ``PYTHONPATH=src``)::

    python bench/lowlevel.py                 # zlmdb.lmdb, and py-lmdb when importable
    python bench/lowlevel.py --quick         # smaller data set, for a smoke run
    python bench/lowlevel.py --save ref.json # also write the figures as JSON
    pypy3 bench/lowlevel.py --reference ref.json   # PyPy run, ratios against a CPython run
    python bench/lowlevel.py --upstream /path/to/venv-with-upstream-zlmdb/bin/python

Each workload runs ``--repeat`` times per implementation (best time counts) on a fresh
environment in a temporary directory: 16-byte keys, 100-byte values, ``sync=False``.
Implementations alternate per workload, so machine drift hits both alike. Figures are
operations per second; ``ratio`` is zlmdb / reference.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

VALUE = b"x" * 100


def make_keys(count: int, seed: int = 1) -> List[bytes]:
    rng = random.Random(seed)
    keys = [b"%016d" % (i * 7919) for i in range(count)]
    rng.shuffle(keys)
    return keys


class Workloads:
    """The workloads, each returning (operations, seconds) for one run on module ``lmdb``."""

    def __init__(self, lmdb: Any, count: int, tmp: str) -> None:
        self.lmdb = lmdb
        self.count = count
        self.tmp = tmp
        self.keys = make_keys(count)
        self.sorted_keys = sorted(self.keys)
        self._env = None

    # helpers
    def fresh_env(self, **kwargs: Any) -> Any:
        self.close()
        path = tempfile.mkdtemp(dir=self.tmp)
        self._env = self.lmdb.open(
            path, map_size=1 << 31, sync=False, metasync=False, max_dbs=2, **kwargs
        )
        return self._env

    def filled_env(self) -> Any:
        env = self.fresh_env()
        with env.begin(write=True) as txn:
            for key in self.sorted_keys:
                txn.put(key, VALUE, append=True)
        return env

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    @staticmethod
    def timed(fn: Callable[[], int]) -> Tuple[int, float]:
        gc.collect()
        start = time.perf_counter()
        ops = fn()
        return ops, time.perf_counter() - start

    # workloads
    def put(self) -> Tuple[int, float]:
        env = self.fresh_env()
        keys = self.keys

        def run() -> int:
            with env.begin(write=True) as txn:
                put = txn.put
                for key in keys:
                    put(key, VALUE)
            return len(keys)

        return self.timed(run)

    def get(self, buffers: bool = False) -> Tuple[int, float]:
        env = self.filled_env()
        keys = self.keys

        def run() -> int:
            with env.begin(buffers=buffers) as txn:
                get = txn.get
                for key in keys:
                    get(key)
            return len(keys)

        return self.timed(run)

    def get_buffers(self) -> Tuple[int, float]:
        return self.get(buffers=True)

    def iterate(self) -> Tuple[int, float]:
        env = self.filled_env()

        def run() -> int:
            n = 0
            with env.begin() as txn:
                for _key, _value in txn.cursor():
                    n += 1
            return n

        return self.timed(run)

    def iterate_keys(self) -> Tuple[int, float]:
        env = self.filled_env()

        def run() -> int:
            n = 0
            with env.begin() as txn:
                for _key in txn.cursor().iternext(values=False):
                    n += 1
            return n

        return self.timed(run)

    def iterate_dupsort(self) -> Tuple[int, float]:
        env, _db = self.dupsort_env()

        def run() -> int:
            n = 0
            with env.begin(db=_db) as txn:
                for _key, _value in txn.cursor():
                    n += 1
            return n

        return self.timed(run)

    def dupsort_env(self) -> Tuple[Any, Any]:
        env = self.fresh_env()
        db = env.open_db(b"dups", dupsort=True)
        with env.begin(write=True, db=db) as txn:
            for i in range(self.count // 100):
                key = b"%016d" % i
                for j in range(100):
                    txn.put(key, b"%08d" % j)
        return env, db

    def get_dupsort(self) -> Tuple[int, float]:
        env, db = self.dupsort_env()
        keys = [b"%016d" % i for i in range(self.count // 100)] * 100
        random.Random(2).shuffle(keys)

        def run() -> int:
            with env.begin(db=db) as txn:
                get = txn.get
                for key in keys:
                    get(key)
            return len(keys)

        return self.timed(run)

    def getmulti(self) -> Tuple[int, float]:
        env = self.filled_env()
        keys = self.keys

        def run() -> int:
            with env.begin() as txn:
                return len(txn.cursor().getmulti(keys))

        return self.timed(run)

    def putmulti(self) -> Tuple[int, float]:
        env = self.fresh_env()
        items = [(key, VALUE) for key in self.keys]

        def run() -> int:
            with env.begin(write=True) as txn:
                return txn.cursor().putmulti(items)[0]

        return self.timed(run)

    def put_txn_each(self) -> Tuple[int, float]:
        env = self.fresh_env()
        keys = self.keys[: max(self.count // 20, 100)]

        def run() -> int:
            for key in keys:
                with env.begin(write=True) as txn:
                    txn.put(key, VALUE)
            return len(keys)

        return self.timed(run)

    def one_shot_read(self) -> Tuple[int, float]:
        env = self.filled_env()
        keys = self.keys[: max(self.count // 2, 100)]
        return self.timed(lambda: _one_shot_reads(env, keys))

    def get_txn_each(self) -> Tuple[int, float]:
        env = self.filled_env()
        keys = self.keys[: max(self.count // 2, 100)]

        def run() -> int:
            for key in keys:
                with env.begin() as txn:
                    txn.get(key)
            return len(keys)

        return self.timed(run)


def _one_shot_reads(env: Any, keys: List[bytes]) -> int:
    get = getattr(env, "get", None)
    if get is not None:  # zlmdb: the read in its own transaction, in one call
        for key in keys:
            get(key)
    else:  # py-lmdb: the same operation spelled out
        for key in keys:
            with env.begin() as txn:
                txn.get(key)
    return len(keys)


WORKLOADS = [
    ("put", "put, one write txn"),
    ("get", "get, random keys"),
    ("get_buffers", "get, random keys, buffers=True"),
    ("get_dupsort", "get, dupsort db"),
    ("iterate", "cursor iteration (key, value)"),
    ("iterate_keys", "cursor iteration, values=False"),
    ("iterate_dupsort", "cursor iteration, dupsort db"),
    ("getmulti", "getmulti, random keys"),
    ("putmulti", "putmulti, one write txn"),
    ("put_txn_each", "one write txn per put"),
    ("get_txn_each", "one read txn per get"),
    ("one_shot_read", "one-shot read (env.get / txn per get)"),
]


def run_module(
    module_name: str, count: int, repeat: int, only: Optional[List[str]]
) -> Dict[str, float]:
    """Run every workload for one implementation; return ops/s (best of ``repeat``)."""
    lmdb = importlib.import_module(module_name)
    results: Dict[str, float] = {}
    tmp = tempfile.mkdtemp(prefix="zlmdb-bench-")
    try:
        bench = Workloads(lmdb, count, tmp)
        for name, _label in WORKLOADS:
            if only and name not in only:
                continue
            best = 0.0
            for _ in range(repeat):
                ops, seconds = getattr(bench, name)()
                best = max(best, ops / seconds)
            results[name] = best
        bench.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def interleaved(
    impls: List[str], count: int, repeat: int, only: Optional[List[str]]
) -> Dict[str, Dict[str, float]]:
    """Run workload by workload, alternating implementations, so drift hits all alike."""
    out: Dict[str, Dict[str, float]] = {impl: {} for impl in impls}
    for name, _label in WORKLOADS:
        if only and name not in only:
            continue
        for _ in range(repeat):
            for impl in impls:
                ops = run_module(impl, count, 1, [name])[name]
                out[impl][name] = max(out[impl].get(name, 0.0), ops)
    return out


def fmt(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="records (default 200000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best counts)")
    parser.add_argument("--quick", action="store_true", help="20000 records, 1 run")
    parser.add_argument("--only", nargs="*", help="workload names to run")
    parser.add_argument("--save", help="write the figures to this JSON file")
    parser.add_argument(
        "--reference", help="JSON from a --save run to compare against (e.g. CPython py-lmdb)"
    )
    parser.add_argument(
        "--upstream",
        help="python of a venv with upstream zlmdb 26.10.1 (its binding is measured in a subprocess)",
    )
    parser.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 20_000, 1

    impls = ["zlmdb.lmdb"]
    try:
        import lmdb  # noqa: F401  (py-lmdb, the reference)

        impls.append("lmdb")
    except ImportError:
        pass
    if args.json_only:
        print(json.dumps(run_module("zlmdb.lmdb", args.count, args.repeat, args.only)))
        return 0

    results = interleaved(impls, args.count, args.repeat, args.only)
    if args.upstream:
        proc = subprocess.run(
            [
                args.upstream,
                os.path.abspath(__file__),
                "--json-only",
                "--count",
                str(args.count),
                "--repeat",
                str(args.repeat),
            ]
            + (["--only"] + args.only if args.only else []),
            stdout=subprocess.PIPE,
            check=True,
            text=True,
            cwd=tempfile.gettempdir(),
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        results["upstream"] = json.loads(proc.stdout.strip().splitlines()[-1])
    reference: Dict[str, float] = {}
    ref_label = "py-lmdb"
    if "lmdb" in results:
        reference = results["lmdb"]
    if args.reference:
        with open(args.reference, encoding="utf-8") as fp:
            saved = json.load(fp)
        reference = saved["results"].get("lmdb", {})
        ref_label = f"py-lmdb ({saved['python']})"

    py = f"{platform.python_implementation()} {platform.python_version()}"
    print(
        f"zlmdb.lmdb benchmark on {py}, {platform.machine()}, {os.cpu_count()} cores; "
        f"{args.count:,} records, 16-byte keys, 100-byte values, best of {args.repeat}; ops/s"
    )
    header = f"{'workload':<34} {'zlmdb':>8} {ref_label:>14} {'ratio':>6}"
    if "upstream" in results:
        header += f" {'upstream':>9} {'vs up':>6}"
    print(header)
    for name, label in WORKLOADS:
        if args.only and name not in args.only:
            continue
        ours = results["zlmdb.lmdb"].get(name)
        ref = reference.get(name)
        ratio = f"{ours / ref:.2f}" if ours and ref else "-"
        line = f"{label:<34} {fmt(ours):>8} {fmt(ref):>14} {ratio:>6}"
        if "upstream" in results:
            up = results["upstream"].get(name)
            line += f" {fmt(up):>9} {(f'{ours / up:.2f}' if ours and up else '-'):>6}"
        print(line)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as fp:
            json.dump({"python": py, "count": args.count, "results": results}, fp, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
