"""Named sub-databases of one file ([zlmdb] 4)."""

from __future__ import annotations

import pytest

import zlmdb.lmdb as lmdb
from zlmdb.store import LmdbObjectStore


def test_named_stores_are_separate_keyspaces(tmp_path):
    path = str(tmp_path / "db")
    with (
        LmdbObjectStore(path, name="users") as users,
        LmdbObjectStore(path, name="orders") as orders,
    ):
        users.put_many({b"1": "ann"})
        orders.put_many({b"1": "book"})
        assert (users[b"1"], orders[b"1"]) == ("ann", "book")
        assert len(users) == 1


def test_named_stores_share_the_env(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, name="a") as a, LmdbObjectStore(path, db=b"b") as b:
        assert a.env is b.env


def test_named_db_persists(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, name="a") as a:
        a[b"k"] = 1
    with LmdbObjectStore(path, name="a") as again:
        assert again[b"k"] == 1


def test_name_and_db_together_is_type_error(tmp_path):
    with pytest.raises(TypeError):
        LmdbObjectStore(str(tmp_path / "db"), name="a", db="b")


def test_named_db_needs_max_dbs_when_env_already_open_without(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path):
        with pytest.raises(lmdb.Error, match="max_dbs"):
            LmdbObjectStore(path, name="a")


def test_clear_empties_only_its_sub_database(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, name="a") as a, LmdbObjectStore(path, name="b") as b:
        a.put_many({b"k": 1})
        b.put_many({b"k": 2})
        a.clear()
        assert (len(a), b[b"k"]) == (0, 2)


def test_one_transaction_across_sub_databases(tmp_path):
    path = str(tmp_path / "db")
    with LmdbObjectStore(path, name="a") as a, LmdbObjectStore(path, name="b") as b:
        with pytest.raises(RuntimeError), a.transaction():
            a[b"k"] = 1
            b[b"k"] = 2
            raise RuntimeError("roll back both")
        assert (a.get(b"k"), b.get(b"k")) == (None, None)
