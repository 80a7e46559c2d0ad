"""Database lifecycle, transactions, catalogue (@table / attach_table), stats and errors."""

from __future__ import annotations

import os
import sys
import uuid

import cbor2
import pytest

import zlmdb
from zlmdb import lmdb


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "db")


# -- lifecycle ---------------------------------------------------------------------------------


def test_open_creates_directory_with_data_and_lock(path):
    with zlmdb.Database(path):
        assert sorted(os.listdir(path)) == ["data.mdb", "lock.mdb"]


def test_close_marks_database_closed(path):
    db = zlmdb.Database(path)
    db.close()
    assert not db.is_open


def test_close_is_idempotent(path):
    db = zlmdb.Database(path)
    db.close()
    db.close()
    assert not db.is_open


def test_same_path_twice_raises_runtime_error(path):
    with zlmdb.Database(path):
        with pytest.raises(RuntimeError, match="twice within same process"):
            zlmdb.Database(path)


def test_same_directory_by_another_spelling_is_detected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with zlmdb.Database("db"):
        with pytest.raises(RuntimeError, match="twice within same process"):
            zlmdb.Database("./db")


def test_path_can_be_reopened_after_close(path):
    zlmdb.Database(path).close()
    with zlmdb.Database(path) as db:
        assert db.is_open


def test_database_open_returns_the_open_instance(path):
    db1 = zlmdb.Database.open(path)
    try:
        assert zlmdb.Database.open(path) is db1
    finally:
        db1.close()


def test_open_now_false_opens_on_enter(path):
    db = zlmdb.Database(path, open_now=False)
    assert not db.is_open
    with db:
        assert db.is_open


def test_temporary_database_is_removed_on_close():
    db = zlmdb.Database()
    where = db.dbpath
    db.close()
    assert not os.path.exists(where)


@pytest.mark.parametrize("bad", ["", "1", "1.1", 0.9, 1, "2.0", b"1.0"])
def test_bad_lib_version_raises_before_creating_anything(path, bad):
    with pytest.raises(ValueError):
        zlmdb.Database(path, lib_version=bad)
    assert not os.path.exists(path)


def _format_of(path) -> str:
    """The LMDB format of a data file, read from its meta page: where the magic sits."""
    head = open(os.path.join(path, "data.mdb"), "rb").read(32)
    return {16: "0.9", 24: "1.0"}[head.index((0xBEEFC0DE).to_bytes(4, sys.byteorder))]


@pytest.mark.parametrize("fmt", ["0.9", "1.0"])
def test_lib_version_creates_that_format_and_reopens_in_it(path, fmt):
    with zlmdb.Database(path, lib_version=fmt) as db:
        assert db.lib_version == fmt
        assert db.stats()["lmdb_version"] == {"0.9": "0.9.36", "1.0": "1.0.2"}[fmt]
        table = zlmdb.MapStringString(1)
        with db.begin(write=True) as txn:
            table[txn, "k"] = "v"
    assert _format_of(path) == fmt
    with zlmdb.Database(path) as db:  # omitted: the file's own format
        assert db.lib_version == fmt
        with db.begin() as txn:
            assert zlmdb.MapStringString(1)[txn, "k"] == "v"
    other = {"0.9": "1.0", "1.0": "0.9"}[fmt]
    with pytest.raises(ValueError, match=f'has LMDB format {fmt}, but lib_version="{other}"'):
        zlmdb.Database(path, lib_version=other)
    assert _format_of(path) == fmt  # untouched
    with zlmdb.Database(path, lib_version=fmt) as db:  # and not left registered as open
        assert db.lib_version == fmt


def test_new_database_defaults_to_the_1_0_format_as_upstream(path):
    with zlmdb.Database(path) as db:
        assert db.lib_version == "1.0"
    assert _format_of(path) == "1.0"


def test_missing_database_without_create_raises_lmdb_error(path):
    with pytest.raises(lmdb.Error):
        zlmdb.Database(path, create=False)


def test_failed_open_releases_the_path(path):
    with pytest.raises(lmdb.Error):
        zlmdb.Database(path, create=False)
    with zlmdb.Database(path) as db:
        assert db.is_open


def test_scratch_removes_directory(path):
    zlmdb.Database(path).close()
    zlmdb.Database.scratch(path)
    assert not os.path.exists(path)


def test_scratch_of_missing_path_is_a_no_op(path):
    zlmdb.Database.scratch(path)
    assert not os.path.exists(path)


def test_config_keys(path):
    with zlmdb.Database(path) as db:
        assert set(db.config()) == {
            "is_temp", "dbpath", "maxsize", "readonly", "lock", "sync", "create", "open_now",
            "writemap", "context",
        }  # fmt: skip


def test_properties(path):
    with zlmdb.Database(path, maxsize=2**22, sync=False, context="ctx") as db:
        assert (db.dbpath, db.maxsize, db.is_sync, db.is_readonly, db.context) == (
            path, 2**22, False, False, "ctx"
        )  # fmt: skip


# -- transactions ------------------------------------------------------------------------------


def test_commit_on_clean_exit(path):
    with zlmdb.Database(path) as db:
        with db.begin(write=True) as txn:
            txn.put(b"\x00\x05k", b"v")
        with db.begin() as txn:
            assert txn.get(b"\x00\x05k") == b"v"


def test_abort_on_exception(path):
    with zlmdb.Database(path) as db:
        with pytest.raises(KeyError):
            with db.begin(write=True) as txn:
                txn.put(b"\x00\x05k", b"v")
                raise KeyError("boom")
        with db.begin() as txn:
            assert txn.get(b"\x00\x05k") is None


def test_transaction_cannot_be_entered_twice_at_once(path):
    with zlmdb.Database(path) as db:
        txn = db.begin()
        with txn:
            with pytest.raises(lmdb.Error):
                txn.__enter__()
        with txn:  # after its block it may begin again (as upstream)
            assert isinstance(txn.id(), int)


def test_transaction_id_increases_with_commits(path):
    with zlmdb.Database(path) as db:
        with db.begin(write=True) as txn:
            first = txn.id()
            txn.put(b"\x00\x05k", b"v")
        with db.begin(write=True) as txn:
            assert txn.id() == first + 1


def test_put_returns_false_without_overwrite(path):
    with zlmdb.Database(path) as db:
        with db.begin(write=True) as txn:
            txn.put(b"\x00\x05k", b"v")
            assert txn.put(b"\x00\x05k", b"w", overwrite=False) is False


def test_stats_count_puts_and_deletes(path):
    stats = zlmdb.TransactionStats()
    with zlmdb.Database(path) as db:
        with db.begin(write=True, stats=stats) as txn:
            txn.put(b"\x00\x05a", b"1")
            txn.put(b"\x00\x05b", b"1")
            txn.delete(b"\x00\x05a")
            txn.delete(b"\x00\x05zz")
    assert (stats.puts, stats.dels) == (2, 1)


def test_stats_reset(path):
    stats = zlmdb.TransactionStats()
    stats.puts = 3
    stats.reset()
    assert (stats.puts, stats.dels) == (0, 0) and stats.duration >= 0


def test_write_on_readonly_database_raises_readonly_error(path):
    zlmdb.Database(path).close()
    with zlmdb.Database(path, readonly=True) as db:
        with pytest.raises(lmdb.ReadonlyError):
            db.begin(write=True)


def test_begin_on_closed_database_raises_lmdb_error(path):
    db = zlmdb.Database(path)
    db.close()
    with pytest.raises(lmdb.Error):
        db.begin()


def test_map_full_raises_map_full_error(path):
    table = zlmdb.MapOidPickle(1)
    with zlmdb.Database(path, maxsize=64 * 1024) as db:
        with pytest.raises(lmdb.MapFullError):
            with db.begin(write=True) as txn:
                for oid in range(1000):
                    table[txn, oid] = b"x" * 1000


# -- catalogue ---------------------------------------------------------------------------------


@zlmdb.table("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f70", marshal=lambda v: v, parse=lambda v: v)
class Events(zlmdb.MapOidCbor):
    """Things that happened."""


@zlmdb.table("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f71")
class Names(zlmdb.MapStringOid):
    pass


def test_attach_table_allocates_slot_one_first(path):
    with zlmdb.Database(path) as db:
        assert db.attach_table(Events).slot == 1


def test_attach_table_gives_same_slot_after_reopen(path):
    with zlmdb.Database(path) as db:
        db.attach_table(Events)
        names_slot = db.attach_table(Names).slot
    with zlmdb.Database(path) as db:
        assert db.attach_table(Names).slot == names_slot == 2


def test_attach_table_passes_hooks(path):
    with zlmdb.Database(path) as db:
        events = db.attach_table(Events)
        with db.begin(write=True) as txn:
            events[txn, 1] = {"what": "x"}
            assert events[txn, 1] == {"what": "x"}


def test_catalogue_record_layout(path):
    with zlmdb.Database(path) as db:
        db.attach_table(Events)
        with db.begin() as txn:
            record = cbor2.loads(txn.get(b"\x00\x00\x00\x01"))
    assert record == {
        "oid": "7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f70",
        "name": "Events",
        "description": "Things that happened.",
        "creator": "unknown",
        "slot": 1,
    }
    assert list(record) == ["oid", "name", "description", "creator", "slot"]


def test_get_slots_lists_catalogue(path):
    with zlmdb.Database(path) as db:
        db.attach_table(Events)
        slots = db._get_slots()
    assert slots[Events._zlmdb_oid].slot == 1


def test_stats_include_slots(path):
    with zlmdb.Database(path) as db:
        events = db.attach_table(Events)
        with db.begin(write=True) as txn:
            events[txn, 1] = {}
            events[txn, 2] = {}
        stats = db.stats(include_slots=True)
    assert stats["num_slots"] == 1 and stats["slots"][0]["records"] == 2
    assert stats["entries"] == 3 and stats["lmdb_version"] == "1.0.2"  # a new database: LMDB 1.0


def test_stats_keys(path):
    with zlmdb.Database(path) as db:
        stats = db.stats()
    for key in ("current_size", "max_size", "page_size", "pages", "used", "free", "read_only",
                "sync_enabled", "lib_version", "psize", "depth", "map_size", "last_txnid"):  # fmt: skip
        assert key in stats


@pytest.mark.parametrize("bad", [42, zlmdb.MapOidCbor, object])
def test_attach_table_of_non_table_raises_type_error(path, bad):
    with zlmdb.Database(path) as db:
        with pytest.raises(TypeError):
            db.attach_table(bad)


def test_table_registers_by_uuid():
    assert zlmdb.TABLES_BY_UUID[uuid.UUID("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f71")] is Names


def test_table_redefinition_with_other_args_raises():
    with pytest.raises(AssertionError):

        @zlmdb.table("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f71", compress=1)
        class Other(zlmdb.MapStringOid):
            pass


def test_table_redecoration_with_same_args_returns_the_class():
    oid = "7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f7f"

    @zlmdb.table(oid)
    class First(zlmdb.MapStringOid):
        pass

    @zlmdb.table(oid)
    class Again(zlmdb.MapStringOid):
        pass

    assert Again is not None and zlmdb.TABLES_BY_UUID[uuid.UUID(oid)] is Again


def test_table_with_unpaired_hooks_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.table("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f72", marshal=lambda v: v)


def test_schema_subclass_with_fixed_slots(path):
    class MySchema(zlmdb.Schema):
        def __init__(self):
            super().__init__()
            self.users = zlmdb.MapOidPickle(1)

    schema = MySchema()
    with zlmdb.Database(path) as db:
        with db.begin(write=True) as txn:
            schema.users[txn, 1] = "x"
            assert schema.users[txn, 1] == "x"
    assert zlmdb.Schema.SLOT_DATA_TABLE == 4


# -- threads -------------------------------------------------------------------------------------


def run_in_threads(target, n=8):
    import threading

    results, errors = [], []
    barrier = threading.Barrier(n)

    def worker():
        barrier.wait()
        try:
            results.append(target())
        except Exception as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_opens_of_one_path_admit_exactly_one(path):
    results, errors = run_in_threads(lambda: zlmdb.Database(path))
    try:
        assert len(results) == 1
        assert len(errors) == 7 and all(isinstance(e, RuntimeError) for e in errors)
    finally:
        for db in results:
            db.close()


@zlmdb.table("7e0ca1f2-1b5c-4d3e-9a10-2b3c4d5e6f73")
class Shared(zlmdb.MapOidOid):
    pass


def test_concurrent_attach_table_allocates_one_slot(path):
    with zlmdb.Database(path) as db:
        results, errors = run_in_threads(lambda: db.attach_table(Shared).slot)
        assert errors == [] and set(results) == {1}
        assert len(db._get_slots(cached=False)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_closes_a_database_another_parent_thread_was_closing(tmp_path):
    """A parent thread inside a Database call (here: holding its lock, as close() does)
    when the process forked does not exist in the child: the child's close() waited for
    that lock forever."""
    import threading

    from forkutil import child_status, start_child

    db = zlmdb.Database(str(tmp_path / "db"), maxsize=16 * 1024 * 1024)
    inside, release = threading.Event(), threading.Event()

    def busy() -> None:
        with db._mutex:
            inside.set()
            release.wait()

    thread = threading.Thread(target=busy)
    thread.start()
    inside.wait()
    pid = start_child(db.close)
    release.set()
    thread.join()
    assert child_status(pid) == "exit 0"
    db.close()
