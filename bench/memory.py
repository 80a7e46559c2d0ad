"""Memory check: RSS stays flat while zlmdb.lmdb reads or iterates millions of items.

Usage: ``python bench/memory.py [--records 1000000] [--passes 10]``

Writes ``--records`` items once, then makes ``--passes`` passes of random ``get`` and of
cursor iteration (keys and values, ``values=False``, ``getmulti``), printing the resident set
size after each pass. A per-item leak shows up as RSS growing pass after pass; the map itself
counts towards RSS once, as its pages are touched by the first pass.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time

import zlmdb.lmdb as lmdb


def rss_mib() -> float:
    """Resident set size of this process in MiB (Linux /proc, else ru_maxrss)."""
    try:
        with open("/proc/self/statm") as fp:
            pages = int(fp.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except (OSError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=10)
    args = parser.parse_args(argv)
    keys = [b"%016d" % i for i in range(args.records)]
    with tempfile.TemporaryDirectory() as tmp:
        env = lmdb.open(tmp, map_size=1 << 33, sync=False)
        with env.begin(write=True) as txn:
            cursor = txn.cursor()
            cursor.putmulti([(k, b"v" * 100) for k in keys], append=True)
        shuffled = keys[:]
        random.Random(1).shuffle(shuffled)
        print(f"{args.records:,} records; RSS after writing: {rss_mib():.1f} MiB")
        first = None
        for n in range(1, args.passes + 1):
            start = time.perf_counter()
            with env.begin() as txn:
                get = txn.get
                for key in shuffled:
                    get(key)
                for _item in txn.cursor():
                    pass
                for _key in txn.cursor().iternext(values=False):
                    pass
                txn.cursor().getmulti(shuffled[:100_000])
            gc.collect()
            rss = rss_mib()
            first = rss if first is None else first
            items = 3 * args.records + 100_000
            print(
                f"pass {n:2}: {items:,} items in {time.perf_counter() - start:5.1f} s, "
                f"RSS {rss:7.1f} MiB ({rss - first:+.1f} since pass 1)"
            )
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
