"""close(), the context manager, and no silent loss of buffered writes (spec: close, [zlmdb] 6)."""

from __future__ import annotations

import gc
import logging
import threading
from unittest.mock import patch

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def test_close_flushes_the_buffer(tmp_path):
    path = str(tmp_path / "db")
    store = LmdbObjectStore(path)
    store.put(b"a", 1)
    store.close()
    with LmdbObjectStore(path) as again:
        assert again[b"a"] == 1


def test_close_is_idempotent(make_store):
    store = make_store()
    store.close()
    store.close()
    assert store._is_closed


def test_exit_flushes_even_when_block_raised(tmp_path):
    path = str(tmp_path / "db")
    with pytest.raises(ZeroDivisionError), LmdbObjectStore(path) as store:
        store.put(b"a", 1)
        raise ZeroDivisionError("body failed")
    with LmdbObjectStore(path) as again:
        assert again[b"a"] == 1


def test_enter_returns_the_store(tmp_path):
    store = LmdbObjectStore(str(tmp_path / "db"))
    with store as entered:
        assert entered is store


def test_close_logs_failed_flush_with_entry_count(make_store, caplog):
    store = make_store()
    store.put(b"a", 1)
    store.put(b"b", 2)
    with (
        patch.object(store, "_flush", side_effect=lmdb.DiskError("boom")),
        caplog.at_level(logging.ERROR),
    ):
        store.close()
    text = caplog.text
    assert "Error during final flush on close" in text and "boom" in text
    assert "2 buffered entries not written" in text


def test_close_strict_raises_chained_runtime_error(make_store):
    store = make_store()
    store.put(b"a", 1)
    with patch.object(store, "_flush", side_effect=ValueError("bad")):
        with pytest.raises(RuntimeError, match="Final flush failed during close") as info:
            store.close(strict=True)
    assert isinstance(info.value.__cause__, ValueError)
    assert store._is_closed


def test_close_reports_dropped_empty_key(make_store, caplog):
    store = make_store()
    store.put(b"", 1)
    with caplog.at_level(logging.ERROR):
        store.close()
    assert "1 buffered entry not written" in caplog.text


def test_close_tolerates_env_closed_behind_its_back(make_store):
    store = make_store()
    store.env.close()
    store.close()
    assert store._is_closed


def test_readonly_close_does_not_log_sync_warning(tmp_path, caplog):
    path = str(tmp_path / "db")
    LmdbObjectStore(path).close()
    store = LmdbObjectStore(path, readonly=True)
    with caplog.at_level(logging.WARNING):
        store.close()
    assert caplog.records == []


def test_concurrent_close_from_many_threads(make_store):
    store = make_store()
    store.put(b"a", 1)
    errors = []

    def closer():
        try:
            store.close()
        except Exception as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=closer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store._is_closed


def test_close_does_not_wait_for_deserialization_of_a_copied_value(tmp_path):
    """get() copies the stored bytes inside one C call; close() can complete while the
    deserializer still runs, and the value returned is intact."""
    holder = {}

    def loads(data):
        store = holder["store"]
        closer = threading.Thread(target=store.close)
        closer.start()
        closer.join()  # would deadlock if close() waited for this read
        holder["closed_while_reading"] = store._is_closed
        return bytes(data)

    store = LmdbObjectStore(str(tmp_path / "db"), serializer=(bytes, loads))
    holder["store"] = store
    store.put_many({b"k": b"v"})
    assert store.get(b"k") == b"v"
    assert holder["closed_while_reading"] is True
    with pytest.raises(lmdb.Error, match="closed"):
        store.get(b"k")


def test_garbage_collected_store_flushes_its_buffer(tmp_path):
    path = str(tmp_path / "db")
    store = LmdbObjectStore(path)
    store.put(b"a", 1)
    del store
    gc.collect()
    with LmdbObjectStore(path) as again:
        assert again[b"a"] == 1


def test_garbage_collected_store_logs_unwritable_entries(tmp_path, caplog):
    store = LmdbObjectStore(str(tmp_path / "db"))
    store.put(b"", 1)
    with caplog.at_level(logging.ERROR, logger="zlmdb.store"):
        del store
        gc.collect()
    assert "1 entry with unstorable keys not written" in caplog.text


def test_interpreter_exit_flushes_unclosed_store(tmp_path, run_child):
    path = str(tmp_path / "db")
    run_child(
        "import sys\n"
        "from zlmdb.store import LmdbObjectStore\n"
        "db = LmdbObjectStore(sys.argv[1])\n"
        "for i in range(10):\n"
        "    db.put(b'k%d' % i, i)\n"
        "keep = [db]  # still referenced at exit: the atexit finalizer must flush\n",
        path,
    )
    with LmdbObjectStore(path) as again:
        assert again[b"k9"] == 9


def test_store_collected_during_another_stores_write_is_not_lost(tmp_path):
    """A finalizer that runs on the thread holding the write transaction (GC inside a
    put_many) hands its buffer over; it is written once that transaction commits."""
    path = str(tmp_path / "db")
    holder = {"b": LmdbObjectStore(path)}
    holder["b"].put(b"from-b", 1)

    def dumps(obj):
        if "b" in holder:  # runs inside a's write transaction (a Mapping is encoded there)
            del holder["b"]
            gc.collect()
        return repr(obj).encode()

    a = LmdbObjectStore(path, serializer=(dumps, bytes))
    a.put_many({b"from-a": 2})
    with a.env.begin() as txn:
        assert txn.get(b"from-b") is not None
        assert txn.get(b"from-a") == b"2"
    a.close()
