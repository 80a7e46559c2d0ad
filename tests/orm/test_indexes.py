"""Indexes: maintenance on put/delete, NULLs, unique and non-unique, constraints, rebuild."""

from __future__ import annotations

import pytest
from user_model import User

import zlmdb


class Schema(zlmdb.Schema):
    def __init__(self, nullable=False, unique=True):
        super().__init__()
        self.users = zlmdb.MapOidPickle(1)
        self.by_authid = zlmdb.MapStringOid(2)
        self.users.attach_index(
            "by_authid", self.by_authid, lambda u: u.authid, nullable=nullable, unique=unique
        )


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def raw_items(db):
    with db.begin() as txn:
        return list(txn._txn.cursor().iternext())


def put(db, table, key, value):
    with db.begin(write=True) as txn:
        table[txn, key] = value


def test_put_writes_index_record_pointing_to_key(db):
    s = Schema()
    put(db, s.users, 7, User(oid=7, authid="ada"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 7


def test_update_moves_index_record(db):
    s = Schema()
    put(db, s.users, 7, User(oid=7, authid="ada"))
    put(db, s.users, 7, User(oid=7, authid="lovelace"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] is None
        assert s.by_authid[txn, "lovelace"] == 7


def test_delete_removes_index_record(db):
    s = Schema()
    put(db, s.users, 7, User(oid=7, authid="ada"))
    with db.begin(write=True) as txn:
        del s.users[txn, 7]
    with db.begin() as txn:
        assert s.by_authid.count(txn) == 0


def test_null_in_non_nullable_index_raises(db):
    s = Schema()
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            s.users[txn, 7] = User(oid=7, authid=None)


def test_null_constraint_failure_writes_nothing(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="a"))
    before = raw_items(db)
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            s.users[txn, 1] = User(oid=1, authid=None)
    assert raw_items(db) == before


def test_null_value_constraint_is_a_runtime_error():
    assert issubclass(zlmdb.NullValueConstraint, RuntimeError)


def test_null_in_nullable_index_writes_no_index_record(db):
    s = Schema(nullable=True)
    put(db, s.users, 7, User(oid=7, authid=None))
    with db.begin() as txn:
        assert s.users[txn, 7] == User(oid=7)
        assert s.by_authid.count(txn) == 0


def test_value_to_null_transition_removes_index_record(db):
    s = Schema(nullable=True)
    put(db, s.users, 7, User(oid=7, authid="ada"))
    put(db, s.users, 7, User(oid=7, authid=None))
    with db.begin() as txn:
        assert s.by_authid.count(txn) == 0


def test_null_to_value_transition_adds_index_record(db):
    s = Schema(nullable=True)
    put(db, s.users, 7, User(oid=7, authid=None))
    put(db, s.users, 7, User(oid=7, authid="ada"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 7


def test_delete_record_with_null_index_key(db):
    s = Schema(nullable=True)
    put(db, s.users, 7, User(oid=7, authid=None))
    with db.begin(write=True) as txn:
        del s.users[txn, 7]
    with db.begin() as txn:
        assert s.users.count(txn) == 0


def test_tuple_with_none_is_null(db):
    table = zlmdb.MapOidPickle(1)
    index = zlmdb.MapOidOidOid(2)
    table.attach_index("pair", index, lambda u: (u.oid, u.birthday or None))
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            table[txn, 1] = User(oid=1)


def test_unique_index_rejects_key_of_another_record(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada"))
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            s.users[txn, 2] = User(oid=2, authid="ada")


def test_unique_constraint_failure_writes_nothing(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada"))
    put(db, s.users, 2, User(oid=2, authid="bob"))
    before = raw_items(db)
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            s.users[txn, 2] = User(oid=2, authid="ada")
    assert raw_items(db) == before


def test_unique_constraint_failure_on_insert_writes_nothing(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada"))
    before = raw_items(db)
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            s.users[txn, 2] = User(oid=2, authid="ada")
        assert s.users[txn, 2] is None
    assert raw_items(db) == before
    assert (stats.puts, stats.dels) == (0, 0)


def test_unique_conflict_in_second_index_takes_back_first_index_record(db):
    users = zlmdb.MapOidPickle(1)
    by_authid, by_email = zlmdb.MapStringOid(2), zlmdb.MapStringOid(3)
    users.attach_index("by_authid", by_authid, lambda u: u.authid)
    users.attach_index("by_email", by_email, lambda u: u.email)
    put(db, users, 1, User(oid=1, authid="ada", email="a@x"))
    before = raw_items(db)
    for oid in (1, 2):  # an update and an insert
        with db.begin(write=True) as txn:
            users[txn, 3] = User(oid=3, authid="cy", email="c@x")
            with pytest.raises(zlmdb.UniqueValueConstraint):
                users[txn, oid] = User(oid=oid, authid="bob", email="c@x")
            assert by_authid[txn, "bob"] is None
            del users[txn, 3]
        assert raw_items(db) == before


def test_failing_index_function_on_update_writes_nothing(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada"))
    before = raw_items(db)
    users = zlmdb.MapOidPickle(1)
    users.attach_index("by_authid", zlmdb.MapStringOid(2), lambda u: u.authid.upper())
    with db.begin(write=True) as txn:
        with pytest.raises(AttributeError):
            users[txn, 1] = User(oid=1, authid=None)
    assert raw_items(db) == before


def test_update_with_unchanged_index_key_rewrites_only_the_record(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada", name="A"))
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        s.users[txn, 1] = User(oid=1, authid="ada", name="B")
    assert (stats.puts, stats.dels) == (1, 0)
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 1
        assert s.users[txn, 1].name == "B"


def test_update_restores_missing_index_record_with_unchanged_key(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada", name="A"))
    with db.begin(write=True) as txn:
        del s.by_authid[txn, "ada"]
        s.users[txn, 1] = User(oid=1, authid="ada", name="B")
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 1


def test_unique_index_allows_rewriting_same_record(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada", name="A"))
    put(db, s.users, 1, User(oid=1, authid="ada", name="B"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 1


def test_unique_index_key_freed_by_update_can_be_reused(db):
    s = Schema()
    put(db, s.users, 1, User(oid=1, authid="ada"))
    put(db, s.users, 1, User(oid=1, authid="ada2"))
    put(db, s.users, 2, User(oid=2, authid="ada"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 2


def test_non_unique_index_overwrites_like_upstream(db):
    s = Schema(unique=False)
    put(db, s.users, 1, User(oid=1, authid="ada"))
    put(db, s.users, 2, User(oid=2, authid="ada"))
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 2


def test_deleting_overwritten_record_keeps_other_records_index_entry(db):
    s = Schema(unique=False)
    put(db, s.users, 1, User(oid=1, authid="ada"))
    put(db, s.users, 2, User(oid=2, authid="ada"))
    with db.begin(write=True) as txn:
        del s.users[txn, 1]
    with db.begin() as txn:
        assert s.by_authid[txn, "ada"] == 2


def test_composite_index_models_one_to_many(db):
    users = zlmdb.MapOidPickle(1)
    by_realm = zlmdb.MapOidOidOid(2)
    users.attach_index("by_realm", by_realm, lambda u: (u.birthday, u.oid))
    with db.begin(write=True) as txn:
        for oid, realm in ((1, 10), (2, 10), (3, 11)):
            users[txn, oid] = User(oid=oid, birthday=realm)
    with db.begin() as txn:
        found = list(by_realm.select(txn, return_keys=False, from_key=(10, 0), to_key=(11, 0)))
    assert found == [1, 2]


def test_stats_count_one_put_per_index(db):
    s = Schema(nullable=True)
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        for oid in range(10):
            s.users[txn, oid] = User(oid=oid, authid=None if oid == 0 else f"u{oid}")
    assert stats.puts == 10 * 2 - 1


def test_truncate_also_empties_indexes(db):
    s = Schema()
    for oid in range(3):
        put(db, s.users, oid, User(oid=oid, authid=f"u{oid}"))
    with db.begin(write=True) as txn:
        assert s.users.truncate(txn) == 6
    with db.begin() as txn:
        assert s.by_authid.count(txn) == 0


def test_rebuild_index_stores_record_key(db):
    s = Schema()
    plain = zlmdb.MapOidPickle(1)  # the same slot, written without the index
    with db.begin(write=True) as txn:
        plain[txn, 5] = User(oid=99, authid="x")
    with db.begin(write=True) as txn:
        assert s.users.rebuild_index(txn, "by_authid") == (0, 1)
    with db.begin() as txn:
        assert s.by_authid[txn, "x"] == 5


def test_rebuild_index_replaces_stale_records(db):
    s = Schema()
    stale = zlmdb.MapStringOid(2)
    with db.begin(write=True) as txn:
        stale[txn, "ghost"] = 1
        zlmdb.MapOidPickle(1)[txn, 1] = User(oid=1, authid="real")
    with db.begin(write=True) as txn:
        assert s.users.rebuild_indexes(txn) == (1, 1)
    with db.begin() as txn:
        assert list(s.by_authid.select(txn)) == [("real", 1)]


def test_rebuild_unknown_index_raises_value_error(db):
    s = Schema()
    with db.begin(write=True) as txn:
        with pytest.raises(ValueError):
            s.users.rebuild_index(txn, "nope")


def test_indexes_and_is_index(db):
    s = Schema()
    assert s.users.indexes() == ["by_authid"]
    assert s.by_authid.is_index() and not s.users.is_index()


def test_attach_index_twice_under_same_name_raises():
    s = Schema()
    with pytest.raises(ValueError):
        s.users.attach_index("by_authid", zlmdb.MapStringOid(3), lambda u: u.authid)


def test_attach_same_index_map_twice_raises():
    s = Schema()
    with pytest.raises(ValueError):
        zlmdb.MapOidPickle(5).attach_index("x", s.by_authid, lambda u: u.authid)


def test_attach_index_to_an_index_raises():
    s = Schema()
    with pytest.raises(ValueError):
        s.by_authid.attach_index("x", zlmdb.MapStringOid(3), lambda u: u)


def test_detach_index_stops_maintenance(db):
    s = Schema()
    s.users.detach_index("by_authid")
    put(db, s.users, 1, User(oid=1, authid="ada"))
    with db.begin() as txn:
        assert s.by_authid.count(txn) == 0


def test_unique_index_may_overwrite_stale_record(db):
    s = Schema()
    with db.begin(write=True) as txn:
        s.by_authid[txn, "ada"] = 99  # points to a record that does not exist
        s.users[txn, 1] = User(oid=1, authid="ada")
        assert s.by_authid[txn, "ada"] == 1


def test_list_with_none_is_null_like_a_tuple(db):
    users = zlmdb.MapOidPickle(1)
    by_pair = zlmdb.MapOidOidOid(2)
    users.attach_index("by_pair", by_pair, lambda u: [u.birthday, u.oid], nullable=True)
    put(db, users, 1, User(oid=1, birthday=None))
    with db.begin() as txn:
        assert by_pair.count(txn) == 0
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            strict = zlmdb.MapOidPickle(3)
            strict.attach_index("by_pair", zlmdb.MapOidOidOid(4), lambda u: [u.birthday, u.oid])
            strict[txn, 1] = User(oid=1, birthday=None)
