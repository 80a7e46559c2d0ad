"""Crash safety: a writer killed with SIGKILL mid-transaction loses no committed data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import zlmdb.lmdb as lmdb

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX only")

WRITER = r"""
import sys
import zlmdb.lmdb as lmdb

env = lmdb.open(sys.argv[1], map_size=64 << 20)
i = 0
while True:
    txn = env.begin(write=True)
    for j in range(50):
        txn.put(b"%08d-%02d" % (i, j), b"v" * 100)
    if i == 20:
        # Committed transactions 0..19 are reported, then one is left half-written.
        print("ready", flush=True)
        sys.stdin.readline()  # the parent kills us while this txn is open
    txn.commit()
    i += 1
"""


def test_sigkill_during_write_keeps_committed_data_and_reopens(tmp_path) -> None:
    path = str(tmp_path / "env")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reopened = lmdb.open(path, map_size=64 << 20)
    try:
        with reopened.begin() as txn:
            keys = [bytes(k) for k, _ in txn.cursor()]
        assert len(keys) == 20 * 50
        assert keys[0] == b"00000000-00" and keys[-1] == b"00000019-49"
        assert reopened.reader_check() >= 0
        with reopened.begin(write=True) as txn:  # the dead writer's lock is released
            txn.put(b"after", b"crash")
        with reopened.begin() as txn:
            assert txn.get(b"after") == b"crash"
    finally:
        reopened.close()
