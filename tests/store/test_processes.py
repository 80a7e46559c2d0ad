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


_FORK = """
import os, sys
from zlmdb.store import LmdbObjectStore
path = sys.argv[1]
store = LmdbObjectStore(path, batch_size=1000)
store.put(b"early", "e")
store.flush()
store.put(b"k", "old")  # buffered when the process forks
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(write_end)
    os.read(read_end, 1)  # until the parent has committed its newer value
    # the child's copy holds nothing of the parent's buffer, and still reads
    print("child sees", store.get(b"early"), store.get(b"k"), store.get(b"gone", "-"), flush=True)
    sys.exit(0)  # a normal exit: finalizers and atexit hooks run
os.close(read_end)
store.put(b"k", "new")
store.flush()
os.write(write_end, b"x")
os.close(write_end)
_, status = os.waitpid(pid, 0)
print("child exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else status)
store.close()
with LmdbObjectStore(path) as again:
    print("k", again.get(b"k"))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_never_writes_what_the_parent_had_buffered(tmp_path, run_child):
    """A child made by fork() inherits a copy of the store's write buffer. Written at the
    child's exit (its finalizer), it overwrote what the parent committed meanwhile: the
    parent's later value was lost. The child's copy starts empty instead."""
    out = run_child(_FORK, tmp_path / "db").stdout.splitlines()
    assert out == ["child sees e new -", "child exit 0", "k new"]


_FORK_DURING_TRANSACTION = """
import os, signal, sys, threading
from zlmdb.store import LmdbObjectStore
path = sys.argv[1]
store = LmdbObjectStore(path, batch_size=1000)
inside, release = threading.Event(), threading.Event()

def block():
    with store.transaction():
        store.put(b"parent", 1)
        inside.set()
        release.wait()

thread = threading.Thread(target=block)
thread.start()
inside.wait()
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a hang ends the child with SIGALRM
    store.close()  # the other thread's block does not exist here: nothing to wait for
    with LmdbObjectStore(path) as fresh:  # the documented way: open again in the child
        fresh.put(b"child", 2)
        fresh.flush()  # waits for the parent's block (LMDB's write lock)
    os._exit(0)
release.set()
thread.join()
_, status = os.waitpid(pid, 0)
print("child", os.WEXITSTATUS(status) if os.WIFEXITED(status) else "killed")
store.close()
with LmdbObjectStore(path) as again:
    print(again.get(b"parent"), again.get(b"child"))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_closes_and_reopens_while_a_parent_thread_was_in_a_transaction(
    tmp_path, run_child
):
    """The parent forked while another of its threads was inside ``transaction()`` (the
    environment's write slot and LMDB's write transaction held). The child's close() waited
    for that thread's write slot, which no thread of the child would ever give back."""
    out = run_child(_FORK_DURING_TRANSACTION, tmp_path / "db").stdout.splitlines()
    assert out == ["child 0", "1 2"]
