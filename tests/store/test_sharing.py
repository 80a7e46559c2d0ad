"""Several stores on one file in one process share its environment ([zlmdb] env sharing)."""

from __future__ import annotations

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def test_second_store_on_same_path_shares_the_env(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path) as a, LmdbObjectStore(path, key_encoding="utf-8") as b:
        assert a.env is b.env


def test_nested_stores_see_each_others_flushed_writes(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path) as a:
        with LmdbObjectStore(path, key_encoding="utf-8") as b:
            b["k"] = 1
        assert a[b"k"] == 1


def test_env_stays_open_until_last_store_closes(tmp_path):
    path = str(tmp_path / "db")
    a = LmdbObjectStore(path)
    b = LmdbObjectStore(path)
    a.close()
    b.put_many({b"x": 1})
    assert b[b"x"] == 1
    b.close()
    with pytest.raises(lmdb.Error):
        b.env.info()


def test_reopen_after_all_closed_gets_a_new_env(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path) as a:
        first = a.env
    with LmdbObjectStore(path) as b:
        assert b.env is not first


def test_same_file_through_another_spelling_is_shared(tmp_path):
    (tmp_path / "sub").mkdir()
    with LmdbObjectStore(str(tmp_path / "db")) as a:
        with LmdbObjectStore(str(tmp_path / "sub" / ".." / "db")) as b:
            assert a.env is b.env


def test_conflicting_options_raise_naming_the_option(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path):
        with pytest.raises(lmdb.Error, match="sync"):
            LmdbObjectStore(path, sync=False)


def test_readonly_second_store_on_writable_env_conflicts(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path):
        with pytest.raises(lmdb.Error, match="readonly"):
            LmdbObjectStore(path, readonly=True)


def test_map_size_may_differ_between_stores(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path), LmdbObjectStore(path, map_size=1 << 25) as b:
        b[b"k"] = 1


def test_failed_second_open_leaves_first_store_working(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path) as a:
        with pytest.raises(lmdb.Error):
            LmdbObjectStore(path, writemap=True)
        a[b"k"] = 1
        assert a[b"k"] == 1


def test_buffers_are_per_store(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, autoflush_on_read=False) as a, LmdbObjectStore(path) as b:
        a.put(b"k", 1)
        assert b.get(b"k") is None
