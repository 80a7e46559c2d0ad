"""Stores that only the cyclic garbage collector frees.

The finalizer of a store that was never closed writes its buffer and releases the shared
environment. A collection can run at any allocation, also one made while this thread is
inside the store machinery's registry lock (opening another store's environment, say):
before 2026-12-04 that lock was not re-entrant and the process hung there forever (2000
stores in reference cycles, each on its own path, hung CPython 3.11 and PyPy 3.9 every time).
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import gc, sys, tempfile
from zlmdb.store import LmdbObjectStore
base = tempfile.mkdtemp(dir=sys.argv[1])
class Holder:
    def __init__(self, store):
        self.store, self.me = store, self  # a cycle: only the cyclic collector frees it
n = 2000
for i in range(n):
    s = LmdbObjectStore(f"{base}/{i}", map_size=1 << 20)  # a new environment each time
    s.put(b"k", i)  # buffered: the finalizer writes it
    Holder(s)
    del s
gc.collect()
for i in (0, n // 2, n - 1):
    with LmdbObjectStore(f"{base}/{i}", map_size=1 << 20) as s:
        assert s.get(b"k") == i, (i, s.get(b"k"))
print("ok")
"""


def test_stores_freed_by_the_cyclic_collector_while_others_open_neither_hang_nor_lose_writes(
    tmp_path,
):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))  # the zlmdb under test
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,  # a hang (the old lock) fails the test instead of the suite
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
