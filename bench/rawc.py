"""Raw C LMDB (the limit): bench/lowlevel.py's workloads written in C, with ratios.

Compiles ``bench/rawc.c`` against the pinned, patched LMDB that ``build_lmdb.py`` extracts
into ``lmdb-src/build/`` (with the flags the extension uses), runs it on the same keys as
``lowlevel.py`` and prints ops/s; given ``--reference`` files saved by
``lowlevel.py --save``, also the ratio of each binding in them to raw C::

    python bench/lowlevel.py --save /tmp/cpython.json
    pypy3 bench/lowlevel.py --reference /tmp/cpython.json --save /tmp/pypy.json
    python bench/rawc.py --reference /tmp/cpython.json /tmp/pypy.json

Needs a C compiler (``cc``, or ``$CC``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from lowlevel import WORKLOADS, fmt, make_keys  # noqa: E402


def build(tmp: str) -> str:
    """Compile rawc.c with the pinned LMDB; return the executable's path."""
    import build_lmdb

    tree = build_lmdb.prepare_tree()
    exe = os.path.join(tmp, "rawc")
    cc = shlex.split(os.environ.get("CC", "cc"))
    cmd = cc + [
        "-O2",
        *build_lmdb.compile_args(),
        "-I",
        tree,
        os.path.join(HERE, "rawc.c"),
        os.path.join(tree, "mdb.c"),
        os.path.join(tree, "midl.c"),
        "-o",
        exe,
        "-lpthread",
    ]
    subprocess.run(cmd, check=True)
    return exe


def run(count: int, repeat: int) -> Dict[str, float]:
    """Build and run the C benchmark on ``count`` keys; return ops/s per workload."""
    tmp = tempfile.mkdtemp(prefix="zlmdb-rawc-")
    try:
        exe = build(tmp)
        keyfile = os.path.join(tmp, "keys")
        with open(keyfile, "wb") as fp:
            fp.write(b"".join(make_keys(count)))
        data = os.path.join(tmp, "db")
        os.mkdir(data)
        out = subprocess.run(
            [exe, data, keyfile, str(repeat)], check=True, stdout=subprocess.PIPE, text=True
        ).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {}
    for line in out.splitlines():
        name, ops = line.split()
        results[name] = float(ops)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="records (default 200000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload (best counts)")
    parser.add_argument("--quick", action="store_true", help="20000 records, 1 run")
    parser.add_argument(
        "--reference", nargs="*", default=[], help="JSON files saved by lowlevel.py --save"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.repeat = 20_000, 1
    raw = run(args.count, args.repeat)
    columns = []  # (label, figures)
    for path in args.reference:
        with open(path, encoding="utf-8") as fp:
            saved = json.load(fp)
        for impl, label in (("zlmdb.lmdb", "zlmdb"), ("lmdb", "py-lmdb")):
            if impl in saved["results"]:
                columns.append((f"{label} {saved['python'].split()[0]}", saved["results"][impl]))
    print(
        f"raw C LMDB, {args.count:,} records, 16-byte keys, 100-byte values, best of {args.repeat}"
    )
    header = f"{'workload':<34} {'raw C':>8}"
    for label, _ in columns:
        header += f" {label:>16} {'/C':>5}"
    print(header)
    for name, label in WORKLOADS:
        if name not in raw:
            continue
        line = f"{label:<34} {fmt(raw[name]):>8}"
        for _, figures in columns:
            ops = figures.get(name)
            ratio = f"{ops / raw[name]:.2f}" if ops else "-"
            line += f" {fmt(ops):>16} {ratio:>5}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
