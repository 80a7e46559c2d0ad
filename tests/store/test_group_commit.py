"""Flushes commit outside the store lock: other threads keep buffering and reading meanwhile.

``_commit_buffer`` (the store's own commit step, real LMDB underneath) is wrapped so that a
commit can be held open while the test looks at what other threads can do.
"""

from __future__ import annotations

import pickle
import threading

import pytest

import zlmdb.store._store as store_module
from zlmdb.store import LmdbObjectStore


class HeldCommit:
    """Wraps _commit_buffer: the first commit waits for ``release`` (then runs or fails)."""

    def __init__(self, monkeypatch, fail: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail
        self.real = store_module._commit_buffer
        self.calls = 0
        monkeypatch.setattr(store_module, "_commit_buffer", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(60)
            if self.fail:
                raise OSError("disk unplugged")
        return self.real(*args, **kwargs)


def _flush_in_thread(store):
    errors = []

    def run():
        try:
            store.flush()
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _in_other_thread(fn):
    """Run fn on another thread; return its result, or 'blocked' if it did not finish."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn()))
    thread.start()
    thread.join(60)
    return out.get("value", "blocked")


@pytest.fixture
def store(tmp_path):
    db = LmdbObjectStore(str(tmp_path / "db"), batch_size=1000)
    yield db
    db.close()


def test_puts_proceed_while_a_flush_commits(store, monkeypatch):
    held = HeldCommit(monkeypatch)
    store.put(b"x", 1)
    flusher, errors = _flush_in_thread(store)
    assert held.entered.wait(60)
    assert _in_other_thread(lambda: store.put(b"y", 2)) is None
    held.release.set()
    flusher.join()
    assert errors == []
    assert b"y" in store.write_buffer


def test_entries_being_committed_are_readable(store, monkeypatch):
    held = HeldCommit(monkeypatch)
    store.put(b"x", 1)
    flusher, _ = _flush_in_thread(store)
    assert held.entered.wait(60)
    assert _in_other_thread(lambda: store.get(b"x")) == 1
    held.release.set()
    flusher.join()


def test_read_miss_does_not_queue_behind_another_threads_commit(store, monkeypatch):
    store.put_many({b"stored": "v"})
    held = HeldCommit(monkeypatch)
    store.put(b"x", 1)
    flusher, _ = _flush_in_thread(store)
    assert held.entered.wait(60)
    assert _in_other_thread(lambda: store.get(b"stored")) == "v"
    held.release.set()
    flusher.join()


def test_explicit_flush_waits_for_the_running_commit(store, monkeypatch):
    held = HeldCommit(monkeypatch)
    store.put(b"x", 1)
    flusher, _ = _flush_in_thread(store)
    assert held.entered.wait(60)
    second, _ = _flush_in_thread(store)
    held.release.set()
    flusher.join()
    second.join()
    with store.env.begin() as txn:
        assert txn.get(b"x") is not None


def test_failed_commit_puts_entries_back_and_newer_writes_win(store, monkeypatch):
    held = HeldCommit(monkeypatch, fail=True)
    store.put(b"x", 1)
    store.put(b"z", 3)
    flusher, errors = _flush_in_thread(store)
    assert held.entered.wait(60)
    assert _in_other_thread(lambda: store.put(b"x", 2)) is None
    held.release.set()
    flusher.join()
    assert [type(e) for e in errors] == [OSError]
    assert pickle.loads(store.write_buffer[b"x"]) == 2
    assert pickle.loads(store.write_buffer[b"z"]) == 3
    store.flush()
    assert (store[b"x"], store[b"z"]) == (2, 3)


# -- read misses hand the buffer to the background committer ----------------------------------


def _committer_idle(store):
    with store.condition:
        return store.condition.wait_for(
            lambda: not store._handed and store._inflight is None and not store._queued, 60
        )


def test_read_miss_does_not_wait_for_the_commit_it_starts(store, monkeypatch):
    store.put_many({b"stored": "v"})
    held = HeldCommit(monkeypatch)
    store.put(b"x", 1)
    assert store.get(b"stored") == "v"  # returns while the committer's commit is held
    assert held.entered.wait(60)
    assert store.write_buffer == {}
    assert store.get(b"x") == 1  # from the batch being committed
    with store.env.begin() as txn:
        assert txn.get(b"x") is None
    held.release.set()
    store.flush()  # waits for the running commit
    with store.env.begin() as txn:
        assert txn.get(b"x") is not None


def test_failed_background_commit_keeps_the_entries_and_the_next_flush_writes_them(
    store, monkeypatch
):
    held = HeldCommit(monkeypatch, fail=True)
    store.put(b"x", 1)
    store.get(b"other")
    assert held.entered.wait(60)
    held.release.set()
    with store.condition:
        assert store.condition.wait_for(lambda: store._async_error is not None, 60)
    assert pickle.loads(store.write_buffer[b"x"]) == 1
    assert store.get(b"x") == 1
    store.get(b"other")  # after a failure a read miss flushes in the caller (and succeeds)
    assert store._async_error is None and store.write_buffer == {}
    with store.env.begin() as txn:
        assert txn.get(b"x") is not None


def test_put_many_after_a_hand_off_is_not_overwritten_by_the_older_entry(store):
    store.put(b"k", "old")
    store.get(b"other")
    store.put_many({b"k": "new"})
    assert _committer_idle(store)
    assert store[b"k"] == "new"
    with store.env.begin() as txn:
        assert pickle.loads(txn.get(b"k")) == "new"


def test_close_writes_what_a_read_miss_handed_over(tmp_path):
    path = str(tmp_path / "db")
    db = LmdbObjectStore(path)
    db.put(b"k", "v")
    db.get(b"other")
    db.close()
    with LmdbObjectStore(path) as again:
        assert again.get(b"k") == "v"


def test_replaced_flush_is_called_by_a_read_miss(store):
    calls = []
    original = store._flush
    store._flush = lambda: (calls.append(1), original())
    store.put(b"x", 1)
    store.get(b"other")
    assert calls == [1]
    with store.env.begin() as txn:
        assert txn.get(b"x") is not None


def test_read_miss_of_a_queued_store_hands_its_buffer_to_the_queued_commit(store, monkeypatch):
    held = HeldCommit(monkeypatch)
    store.put(b"a", 1)
    store.get(b"other")  # hands {a} over; the committer's commit of it is held
    assert held.entered.wait(60)
    store.put(b"b", 2)
    store.get(b"other")  # hands {b} over and queues the store again
    assert store._queued and store._handed
    store.put(b"c", 3)
    assert store.get(b"other") is None  # queued already: c joins the handed-over batch
    assert not store.write_buffer and store._handed == {
        b"b": pickle.dumps(2, 5),
        b"c": pickle.dumps(3, 5),
    }
    assert store.get(b"c") == 3 and store.exists(b"c")
    held.release.set()
    with store.condition:  # no flush: the committer's next commit takes b and c
        assert store.condition.wait_for(
            lambda: not store.write_buffer and not store._handed and not store._queued, 60
        )
        assert store.condition.wait_for(lambda: store._inflight is None, 60)
    with store.env.begin() as txn:
        assert [pickle.loads(txn.get(k)) for k in (b"a", b"b", b"c")] == [1, 2, 3]


def test_put_many_waiting_for_a_failing_commit_is_not_overwritten_by_its_batch(store, monkeypatch):
    # The committer's commit of {k: old} is held, then fails and puts k back into the buffer;
    # a put_many that waited for it must write after those entries, not under them.
    held = HeldCommit(monkeypatch, fail=True)
    store.put(b"k", "old")
    store.get(b"other")  # hands {k} over
    assert held.entered.wait(60)
    waiting = threading.Event()
    errors = []

    def writer():
        with store.lock:
            waiting.set()
            try:
                store.put_many({b"k": "new"})
            except Exception as exc:  # reported below
                errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    assert waiting.wait(60)
    with store.lock:  # acquired once the writer waits for the held commit
        pass
    held.release.set()
    thread.join(60)
    assert errors == []
    assert store[b"k"] == "new"
    store.flush()
    with store.env.begin() as txn:
        assert pickle.loads(txn.get(b"k")) == "new"


class _PausingDict(dict):
    """A dict whose truth test pauses the one thread named ``reader`` once, between a
    lock-free read's look at the buffer and its look at the batch in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()
        self.resume = threading.Event()

    def __len__(self) -> int:
        if threading.current_thread().name == "reader" and not self.inside.is_set():
            self.inside.set()
            assert self.resume.wait(60)
        return super().__len__()


def test_read_without_the_lock_sees_the_batch_a_failing_commit_puts_back(store, monkeypatch):
    # get() looks at the buffer (empty: k is being committed), then, paused here, the commit
    # fails and moves k back into the buffer and clears the batch in flight; the read finds
    # no batch in flight and LMDB without k, and must read again instead of missing k.
    handed = _PausingDict()
    monkeypatch.setattr(store, "_handed", handed)
    held = HeldCommit(monkeypatch, fail=True)
    store.put(b"k", "v")
    store.get(b"other")  # hands {k} over; the committer's commit of it is held
    assert held.entered.wait(60)
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("k", store.get(b"k")), name="reader")
    reader.start()
    assert handed.inside.wait(60)
    held.release.set()
    with store.condition:
        assert store.condition.wait_for(
            lambda: store._async_error is not None and store._inflight is None, 60
        )
    assert store._requeued == 1 and b"k" in store.write_buffer
    handed.resume.set()
    reader.join(60)
    assert got == {"k": "v"}
    assert store.exists(b"k") and store[b"k"] == "v"
