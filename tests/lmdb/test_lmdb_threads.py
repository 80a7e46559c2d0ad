"""Threads, fork and object lifetime: closing from anywhere never crashes, only raises."""

from __future__ import annotations

import gc
import os
import threading

import pytest
from forkutil import child_status, start_child
from threadutil import run_threads

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


def fill(env: lmdb.Environment, n: int = 200, size: int = 64) -> None:
    with env.begin(write=True) as txn:
        for i in range(n):
            txn.put(b"%05d" % i, b"v" * size)


def test_env_close_on_another_thread_turns_reads_into_closed_errors(env) -> None:
    fill(env, size=6000)  # values big enough to be copied under the txn's hold
    txn = env.begin()
    cur = txn.cursor()
    started = threading.Barrier(2)
    outcomes = []

    def reader() -> None:
        started.wait()
        try:
            for _ in range(200000):
                txn.get(b"00001")
                cur.set_key(b"00002")
                cur.value()
        except lmdb.Error as exc:
            outcomes.append(str(exc))
        else:
            outcomes.append("finished")

    def closer() -> None:
        started.wait()
        env.close()

    assert run_threads([reader, closer]) == []
    assert outcomes in ([CLOSED], ["finished"])
    with pytest.raises(lmdb.Error, match=CLOSED):
        txn.get(b"00001")


def test_abort_on_another_thread_stops_an_iteration(env) -> None:
    fill(env, n=2000)
    txn = env.begin()
    it = txn.cursor().iternext()
    next(it)
    assert run_threads([txn.abort]) == []
    with pytest.raises(lmdb.Error):
        for _ in it:
            pass


def test_resizing_while_other_threads_read_never_crashes(env) -> None:
    fill(env)
    stop = threading.Event()
    resizes = []

    def reader() -> None:
        while not stop.is_set():
            try:
                with env.begin() as txn:
                    assert txn.get(b"00010") == b"v" * 64
            except lmdb.Error:
                pass  # a read txn aborted by the resize

    def resizer() -> None:
        try:
            for i in range(50):
                env.set_mapsize((12 + i) << 20)
                resizes.append(i)
        finally:
            stop.set()

    assert run_threads([reader, reader, resizer]) == []
    assert len(resizes) == 50
    with env.begin() as txn:
        assert txn.get(b"00010") == b"v" * 64


def test_aborting_a_write_txn_after_an_exception_wakes_the_waiting_writer(env) -> None:
    holding = threading.Event()
    done = []

    def first() -> None:
        try:
            with env.begin(write=True) as txn:
                txn.put(b"k", b"first")
                holding.set()
                raise KeyError("boom")
        except KeyError:
            pass

    def second() -> None:
        holding.wait()
        with env.begin(write=True) as txn:
            txn.put(b"k", b"second")
        done.append(True)

    assert run_threads([first, second]) == []
    assert done == [True]
    with env.begin() as txn:
        assert txn.get(b"k") == b"second"


def test_read_txn_may_move_between_threads(env) -> None:
    fill(env)
    txn = env.begin()
    got = []
    assert run_threads([lambda: got.append(txn.get(b"00003"))]) == []
    assert got == [b"v" * 64]
    txn.abort()


def test_txn_and_cursor_outliving_their_closed_env_are_collected_safely(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"))
    fill(env)
    txn = env.begin()
    cur = txn.cursor()
    cur.first()
    env.close()
    del env
    gc.collect()
    with pytest.raises(lmdb.Error, match=CLOSED):
        cur.key()
    del txn
    gc.collect()
    del cur
    gc.collect()


def test_dropping_the_env_reference_first_keeps_txn_usable_until_collected(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"))
    fill(env)
    txn = env.begin()
    del env
    gc.collect()
    assert txn.get(b"00001") == b"v" * 64  # the txn keeps its environment alive
    txn.abort()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_dropping_inherited_txn_leaves_parent_readers_alone(env) -> None:
    fill(env)
    txn = env.begin()
    cur = txn.cursor()
    before = env.readers()
    pid = os.fork()
    if pid == 0:  # child: drop the inherited objects, then leave without cleanup
        try:
            del cur, txn
            gc.collect()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert env.readers() == before
    assert txn.get(b"00001") == b"v" * 64
    txn.abort()
    with env.begin() as fresh:  # no BadRslotError in the parent
        assert fresh.get(b"00002") == b"v" * 64


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_closes_env_while_parent_threads_held_and_waited_for_the_writer(
    tmp_path,
) -> None:
    """When the parent forked, one thread held a write transaction and another was inside
    begin(write=True) waiting for it. Those threads do not exist in the child: its close()
    must not wait for their calls (it hung), and a fresh environment on the same file
    writes once the parent's writers are done (LMDB's write lock is across processes)."""
    from zlmdb.lmdb._ffi import lib

    path = str(tmp_path / "e")
    env = lmdb.open(path)
    fill(env, n=5)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with env.begin(write=True) as txn:
            txn.put(b"holder", b"1")
            held.set()
            release.wait()

    def waiter() -> None:
        with env.begin(write=True) as txn:
            txn.put(b"waiter", b"1")

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    held.wait()
    base = lib.zl_env_calls(env._e)
    threads.append(threading.Thread(target=waiter))
    threads[1].start()
    while lib.zl_env_calls(env._e) == base:  # until the waiter is inside begin()
        pass

    def child() -> None:
        env.close()
        fresh = lmdb.open(path)
        with fresh.begin(write=True) as txn:  # waits for the parent's writers
            txn.put(b"child", b"1")
        fresh.close()

    pid = start_child(child)
    release.set()
    for t in threads:
        t.join()
    assert child_status(pid) == "exit 0"
    with env.begin() as txn:
        assert [txn.get(k) for k in (b"holder", b"waiter", b"child")] == [b"1"] * 3
    env.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_children_reading_an_inherited_env_leave_no_reader_slots_behind(tmp_path) -> None:
    """A child's read transactions and env.get() kept their reset transactions for reuse,
    as the parent does; but a child never renews them, and never closes the inherited
    environment, so each child left reader slots taken in the table it shares with the
    parent (two per child here) until the parent closed it: enough children and the parent
    got ReadersFullError. A child now ends them, giving the slots back."""
    env = lmdb.open(str(tmp_path / "e"), max_spare_txns=1)
    fill(env, n=5)
    with env.begin() as txn:  # the parent's own kept transactions
        txn.get(b"00001")
    env.get(b"00001")
    before = env.readers()

    def child() -> None:
        with env.begin() as txn:
            assert txn.get(b"00001") == b"v" * 64
        assert env.get(b"00002") == b"v" * 64

    for _ in range(3):
        assert child_status(start_child(child)) == "exit 0"
    assert env.readers() == before
    env.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_forked_child_cannot_commit_the_write_txn_it_inherited(tmp_path) -> None:
    """The process forked inside a write transaction and the child went on to commit it:
    the child only forgets the parent's transaction, so its commit wrote nothing yet
    returned as if it had (its writes were silently lost). It raises now."""
    env = lmdb.open(str(tmp_path / "e"))
    txn = env.begin(write=True)
    txn.put(b"parent", b"1")

    def child() -> None:
        txn.put(b"child", b"1")
        with pytest.raises(lmdb.Error, match="begun in the parent process"):
            txn.commit()
        with env.begin() as reader:  # the child still reads the file
            assert reader.get(b"child") is None

    assert child_status(start_child(child)) == "exit 0"
    txn.commit()
    with env.begin() as reader:
        assert (reader.get(b"parent"), reader.get(b"child")) == (b"1", None)
    env.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_opens_and_closes_while_a_parent_thread_was_opening(tmp_path) -> None:
    """A parent thread inside open()/close() (holding the lock of the open-files registry)
    when the process forked does not exist in the child: the child's open() and close()
    waited for that lock forever."""
    from zlmdb.lmdb import _env

    env = lmdb.open(str(tmp_path / "inherited"))
    inside, release = threading.Event(), threading.Event()

    def opening() -> None:
        with _env._open_files_lock:
            inside.set()
            release.wait()

    thread = threading.Thread(target=opening)
    thread.start()
    inside.wait()

    def child() -> None:
        env.close()
        other = lmdb.open(str(tmp_path / "child"))
        with other.begin(write=True) as txn:
            txn.put(b"k", b"v")
        other.close()

    pid = start_child(child)
    release.set()
    thread.join()
    assert child_status(pid) == "exit 0"
    env.close()


def test_calls_that_keep_the_gil_never_wait_for_a_resize(env) -> None:
    """Read begins and env.get keep the GIL on CPython, so they must not wait for a resize
    that waits for another thread: they fall back to the waiting (GIL-releasing) form."""
    from zlmdb.lmdb._ffi import lib

    big = b"B" * 10000  # larger than the copy buffer: get() holds the txn until copied
    with env.begin(write=True) as txn:
        txn.put(b"big", big)
        txn.put(b"k", b"v")
    holder = env.begin()
    assert lib.zl_get(holder._t, holder._dbi, b"big", 3) == lib.ZL_HELD  # hold taken
    resized: list = []
    resizer = threading.Thread(target=lambda: resized.append(env.set_mapsize(64 << 20)))
    resizer.start()
    # The resize now waits for the hold; a GIL-keeping read begin says so instead of waiting.
    for _ in range(1_000_000):
        t = lib.zl_txn_new_read(env._e, 0)
        if not t:
            break
        lib.zl_txn_release(t)
    assert not t and lib.zl_last_error() == lib.ZL_WOULD_WAIT
    assert lib.zl_env_get_try(env._e, 1, b"k", 1) == lib.ZL_WOULD_WAIT
    results: list = []

    def readers() -> None:  # these wait (GIL released) until the resize is done
        results.append(env.get(b"k"))
        results.append(env.exists(b"k"))
        with env.begin() as txn:
            results.append(txn.get(b"big"))

    reader = threading.Thread(target=readers)
    reader.start()
    lib.zl_txn_unhold(holder._t)  # let the resize finish
    resizer.join()
    reader.join()
    assert resized == [None]
    assert results == [b"v", True, big]
    assert env.info()["map_size"] == 64 << 20
    with pytest.raises(lmdb.Error, match="closed"):
        holder.get(b"k")  # the resize aborted it


@pytest.mark.parametrize("buffers", [False, True], ids=["copies", "buffers"])
@pytest.mark.parametrize("size", [10, 3000, 20_000], ids=["small", "copied", "held"])
def test_threads_sharing_one_read_transaction_each_get_their_own_values(env, size, buffers) -> None:
    # py-lmdb code shares a read transaction between threads (MDB_NOTLS). The value of a
    # get() was handed back through the transaction (its copy slot, its value pointer), so
    # a thread could return another thread's value: 7 of 8 threads did, on every build
    # (buffers=True: the value's offset in the map).
    def value(i: int) -> bytes:
        return (b"%05d" % i) * (size // 5)

    with env.begin(write=True) as txn:
        for i in range(300):
            txn.put(b"k%05d" % i, value(i))
    shared = env.begin(buffers=buffers)

    def reader(n: int) -> None:
        for r in range(3000):
            i = (n * 37 + r) % 300
            got = shared.get(b"k%05d" % i)
            assert got is not None and bytes(got) == value(i), (i, got and bytes(got[:10]))

    try:
        assert run_threads([lambda n=n: reader(n) for n in range(8)]) == []
    finally:
        shared.abort()


def test_many_short_threads_reading_one_transaction(env) -> None:
    # Each thread copies values through an arena slot of its own, given back when the thread
    # ends; past the arena's 1024 slots (or when none is free) copies go through a buffer of
    # the thread's own. 1100 threads one after another, each checking what it reads.
    with env.begin(write=True) as txn:
        for i in range(50):
            txn.put(b"k%02d" % i, b"v%02d" % i)
    shared = env.begin()
    errors: list = []

    def reader(n: int) -> None:
        try:
            for i in range(n % 50, 50):
                assert shared.get(b"k%02d" % i) == b"v%02d" % i
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        for n in range(1100):
            thread = threading.Thread(target=reader, args=(n,))
            thread.start()
            thread.join()
    finally:
        shared.abort()
    assert errors == []
