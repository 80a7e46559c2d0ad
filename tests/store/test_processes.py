"""Several processes on one file: visibility after flush, durability after SIGKILL ([zlmdb] 7)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from zlmdb.store import LmdbObjectStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

_WRITER = """
import sys
from zlmdb.store import LmdbObjectStore
db = LmdbObjectStore(sys.argv[1], batch_size=10_000)
for i in range(500):
    db.put(b"flushed%04d" % i, i)
db.flush()
for i in range(500):
    db.put(b"buffered%04d" % i, i)
print("flushed", flush=True)
sys.stdin.readline()  # wait to be killed
"""


def test_everything_flushed_survives_sigkill(tmp_path, child_environ):
    path = str(tmp_path / "db")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path],
        env=child_environ,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "flushed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    with LmdbObjectStore(path) as store:
        found, missing = store.get_many([b"flushed%04d" % i for i in range(500)])
        assert missing == [] and found[b"flushed0499"] == 499
        assert store.get(b"buffered0000") is None


def test_other_process_sees_writes_only_after_flush(tmp_path, run_child):
    path = str(tmp_path / "db")
    reader = (
        "import sys\n"
        "from zlmdb.store import LmdbObjectStore\n"
        "with LmdbObjectStore(sys.argv[1]) as db:\n"
        "    print(db.get(b'k'))\n"
    )
    with LmdbObjectStore(path) as store:
        store.put(b"k", "v")
        before = run_child(reader, path).stdout.strip()
        store.flush()
        after = run_child(reader, path).stdout.strip()
    assert (before, after) == ("None", "v")


def test_reads_see_other_process_commits_immediately(tmp_path, run_child):
    path = str(tmp_path / "db")
    writer = (
        "import sys\n"
        "from zlmdb.store import LmdbObjectStore\n"
        "with LmdbObjectStore(sys.argv[1]) as db:\n"
        "    db.put_many({b'k': 'from child'})\n"
    )
    with LmdbObjectStore(path) as store:
        assert store.get(b"k") is None
        run_child(writer, path)
        assert store.get(b"k") == "from child"
