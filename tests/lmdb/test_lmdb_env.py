"""zlmdb.lmdb.Environment: opening, information, maintenance and database handles."""

from __future__ import annotations

import os

import pytest

import zlmdb.lmdb as lmdb

CLOSED = "Attempt to operate on closed/deleted/dropped object."


def test_open_is_environment_and_module_is_not_builtins() -> None:
    assert lmdb.open is lmdb.Environment
    assert lmdb.Environment.__module__ not in ("builtins", "lmdb.cffi")


def test_open_creates_the_directory_with_data_and_lock_files(tmp_path) -> None:
    path = tmp_path / "new"
    env = lmdb.open(str(path))
    assert sorted(os.listdir(path)) == ["data.mdb", "lock.mdb"]
    assert env.path() == str(path)
    env.close()


def test_subdir_false_uses_the_path_as_data_file(tmp_path) -> None:
    path = str(tmp_path / "single.mdb")
    env = lmdb.open(path, subdir=False)
    assert os.path.isfile(path) and os.path.isfile(path + "-lock")
    assert env.flags()["subdir"] is False
    env.close()


def test_missing_path_without_create_raises_enoent(tmp_path) -> None:
    with pytest.raises(lmdb.Error) as info:
        lmdb.open(str(tmp_path / "missing"), create=False)
    assert info.value.code == 2 and info.value.what == str(tmp_path / "missing")


def test_unknown_keyword_raises_type_error(tmp_path) -> None:
    with pytest.raises(TypeError):
        lmdb.open(str(tmp_path / "e"), no_such_option=True)


def test_negative_map_size_raises_overflow_error(tmp_path) -> None:
    with pytest.raises(OverflowError):
        lmdb.open(str(tmp_path / "e"), map_size=-1)


def test_lib_version_two_is_refused_at_open(tmp_path) -> None:
    with pytest.raises(lmdb.Error, match="no LMDB 2.x engine"):
        lmdb.open(str(tmp_path / "e"), lib_version=2)
    assert not (tmp_path / "e").exists()


def test_flags_reflect_the_open_arguments(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), sync=False, metasync=False, readahead=False, writemap=True)
    flags = env.flags()
    assert flags["sync"] is False and flags["metasync"] is False
    assert flags["readahead"] is False and flags["writemap"] is True
    assert flags["readonly"] is False and flags["lock"] is True
    env.close()


def test_stat_and_info_report_entries_and_map(env) -> None:
    with env.begin(write=True) as txn:
        for i in range(10):
            txn.put(b"k%d" % i, b"v")
    st = env.stat()
    assert st["entries"] == 10 and st["psize"] > 0 and st["depth"] == 1
    info = env.info()
    assert info["map_size"] == 10485760 and info["last_txnid"] >= 1
    assert info["max_readers"] == 126


def test_max_key_size_is_the_engines(env, engine) -> None:
    assert env.max_key_size() == (511, 1978)[engine]
    with env.begin(write=True) as txn:
        txn.put(b"k" * env.max_key_size(), b"v")
        with pytest.raises(lmdb.BadValsizeError):
            txn.put(b"k" * (env.max_key_size() + 1), b"v")
        assert txn.get(b"k" * (env.max_key_size() + 1)) is None


def test_readers_lists_nothing_without_read_txns(env) -> None:
    assert env.readers() == "(no active readers)\n"
    txn = env.begin()
    assert "pid" in env.readers()
    txn.abort()


def test_reader_check_clears_nothing_in_a_healthy_env(env) -> None:
    assert env.reader_check() == 0


def test_copy_writes_a_consistent_snapshot(env, tmp_path) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"a", b"1")
    target = tmp_path / "copy"
    target.mkdir()
    env.copy(str(target), compact=True)
    copied = lmdb.open(str(target))
    with copied.begin() as txn:
        assert txn.get(b"a") == b"1"
    copied.close()


def test_copy_with_txn_requires_compact(env, tmp_path) -> None:
    txn = env.begin()
    with pytest.raises(TypeError, match="compact=True"):
        env.copy(str(tmp_path), txn=txn)
    txn.abort()


def test_copy_to_missing_directory_raises(env, tmp_path) -> None:
    with pytest.raises(lmdb.Error) as info:
        env.copy(str(tmp_path / "nowhere"))
    assert info.value.code == 2


def test_copyfd_writes_to_a_file_descriptor(env, tmp_path) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"a", b"1")
    target = str(tmp_path / "fd.mdb")
    with open(target, "wb") as fp:
        env.copyfd(fp.fileno())
    copied = lmdb.open(target, subdir=False)
    with copied.begin() as txn:
        assert txn.get(b"a") == b"1"
    copied.close()


def test_copy_arguments_are_checked_before_lmdb_sees_them(env, tmp_path) -> None:
    # as py-lmdb: a negative fd is an OverflowError, a txn that is no Transaction a TypeError
    with pytest.raises(OverflowError):
        env.copyfd(-1)
    with pytest.raises(OverflowError):
        env.copyfd(-1, compact=True)
    with pytest.raises(OverflowError):  # beyond a C int, before the txn's type is looked at
        env.copyfd(2**40, compact=True, txn="x")
    target = tmp_path / "copy"
    target.mkdir()
    with pytest.raises(TypeError):
        env.copy(str(target), compact=True, txn=1)
    with pytest.raises(TypeError):
        env.copyfd(0, compact=True, txn=object())
    assert list(target.iterdir()) == []


def test_sync_accepts_force_positionally(env) -> None:
    env.sync(True)
    env.sync(force=False)


def test_every_method_raises_the_closed_error_after_close(env) -> None:
    env.close()
    env.close()  # idempotent
    for call in (env.stat, env.info, env.path, env.flags, env.readers, env.begin, env.open_db):
        with pytest.raises(lmdb.Error, match=CLOSED):
            call()


def test_context_manager_closes(tmp_path) -> None:
    with lmdb.open(str(tmp_path / "e")) as env:
        env.stat()
    with pytest.raises(lmdb.Error):
        env.stat()


def test_named_db_needs_max_dbs(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"))
    with pytest.raises(lmdb.DbsFullError, match="max_dbs"):
        env.open_db(b"named")
    env.close()


def test_open_db_validates_the_name(env) -> None:
    with pytest.raises(TypeError):
        env.open_db("text")
    with pytest.raises(lmdb.BadValsizeError):
        env.open_db(b"")


def test_open_db_without_create_raises_not_found(env) -> None:
    with pytest.raises(lmdb.NotFoundError):
        env.open_db(b"absent", create=False)


def test_open_db_of_an_ordinary_key_raises_incompatible_on_0_9(env, engine) -> None:
    with env.begin(write=True) as txn:
        txn.put(b"plainkey", b"value")
    if engine == 0:
        with pytest.raises(lmdb.IncompatibleError):
            env.open_db(b"plainkey")
    else:  # LMDB 1.0 stores the name as b"plainkey\0": no clash with the record
        env.open_db(b"plainkey")
        with env.begin() as txn:
            assert txn.get(b"plainkey") == b"value"
            assert txn.get(b"plainkey\0") is not None


def test_stored_flags_win_over_arguments(env) -> None:
    env.open_db(b"d", dupsort=True)
    again = env.open_db(b"d")
    assert again.flags()["dupsort"] is True


def test_integerdup_implies_dupfixed_and_dupsort(env) -> None:
    flags = env.open_db(b"ints", integerdup=True).flags()
    assert flags["dupsort"] and flags["dupfixed"] and flags["integerdup"]


def test_open_db_in_aborted_txn_leaves_no_database(env) -> None:
    txn = env.begin(write=True)
    env.open_db(b"temp", txn=txn)
    txn.abort()
    with pytest.raises(lmdb.NotFoundError):
        env.open_db(b"temp", create=False)


def test_dbs_lists_named_databases_sorted(env) -> None:
    env.open_db(b"zeta")
    env.open_db(b"alpha")
    assert env.dbs() == [b"alpha", b"zeta"]


def test_readonly_env_refuses_writes_and_creation(tmp_path) -> None:
    path = str(tmp_path / "e")
    lmdb.open(path, max_dbs=2).close()
    env = lmdb.open(path, readonly=True, max_dbs=2)
    with pytest.raises(lmdb.ReadonlyError) as info:
        env.begin(write=True)
    assert info.value.code == 13
    with pytest.raises(lmdb.ReadonlyError):
        env.open_db(b"new")
    env.close()


def test_map_full_raises_map_full_error(tmp_path) -> None:
    env = lmdb.open(str(tmp_path / "e"), map_size=64 * 1024)
    with pytest.raises(lmdb.MapFullError):
        with env.begin(write=True) as txn:
            for i in range(1000):
                txn.put(b"%06d" % i, b"x" * 200)
    env.close()


def test_set_mapsize_is_refused_during_a_write_txn(env) -> None:
    txn = env.begin(write=True)
    with pytest.raises(lmdb.Error):
        env.set_mapsize(20 << 20)
    txn.abort()


def test_set_mapsize_keeps_named_db_handles(env) -> None:
    db = env.open_db(b"kept")
    with env.begin(write=True, db=db) as txn:
        txn.put(b"k", b"v")
    env.set_mapsize(20 << 20)
    with env.begin(db=db) as txn:
        assert txn.get(b"k") == b"v"


def test_reopen_after_files_were_recreated_is_allowed(tmp_path) -> None:
    path = tmp_path / "e"
    first = lmdb.open(str(path))
    for name in os.listdir(path):
        os.unlink(path / name)
    os.rmdir(path)
    second = lmdb.open(str(path))
    second.close()
    first.close()


def test_hard_link_to_an_open_data_file_is_refused(tmp_path) -> None:
    path = str(tmp_path / "data.mdb")
    env = lmdb.open(path, subdir=False)
    link = str(tmp_path / "link.mdb")
    os.link(path, link)
    with pytest.raises(lmdb.Error, match="already open"):
        lmdb.open(link, subdir=False)
    env.close()


def test_database_name_ends_at_the_first_nul_like_a_c_string(env) -> None:
    env.open_db(b"name\x00ignored")
    assert env.dbs() == [b"name"]
