"""The indexed put's paths (new record vs update, unique keys below and above the index's
largest key, the Oid index value taken from the record key), the inline Oid index read, the
writers' batch path (PersistentMap._put_many) and the transaction's begin/end shortcuts.
Every case checks the database bytes and the TransactionStats counts, not only the API."""

from __future__ import annotations

import struct

import pytest

import zlmdb
from zlmdb import lmdb
from zlmdb._writers import BackgroundWriter, BufferedWriter, WriteError


def _ident(value):
    return value


def make_tables():
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    by_name = zlmdb.MapStringOid(2)
    by_group = zlmdb.MapOidOidOid(3)
    users.attach_index("name", by_name, lambda r: r["name"], nullable=True)
    users.attach_index("group", by_group, lambda r: (r["group"], r["oid"]), unique=False)
    return users, by_name, by_group


def rec(oid, name, group=0):
    return {"oid": oid, "name": name, "group": group}


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def raw_items(db):
    with db.begin() as txn:
        return [(bytes(k), bytes(v)) for k, v in txn._txn.cursor().iternext()]


def test_new_records_write_record_and_index_records(db):
    users, by_name, by_group = make_tables()
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        users[txn, 5] = rec(5, "eve", 2)
        users[txn, 9] = rec(9, "ada", 1)  # a new record whose name sorts below "eve"
    assert (stats.puts, stats.dels) == (6, 0)
    oid5, oid9 = struct.pack(">Q", 5), struct.pack(">Q", 9)
    items = dict(raw_items(db))
    assert items[b"\x00\x02ada"] == oid9 and items[b"\x00\x02eve"] == oid5
    assert items[struct.pack(">HQQ", 3, 1, 9)] == oid9
    assert items[struct.pack(">HQQ", 3, 2, 5)] == oid5
    with db.begin() as txn:
        assert by_name[txn, "ada"] == 9
        assert users[txn, by_name[txn, "eve"]] == rec(5, "eve", 2)


def test_new_record_below_the_index_top_conflicting_writes_nothing(db):
    users, by_name, _ = make_tables()
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, "bob")
        users[txn, 2] = rec(2, "zed")
    before = raw_items(db)
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            users[txn, 3] = rec(3, "bob")  # a new key, its name below the index's top
        assert users[txn, 3] is None
        assert by_name[txn, "bob"] == 1
    assert (stats.puts, stats.dels) == (0, 0)
    assert raw_items(db) == before


def test_conflict_with_a_put_pending_in_the_same_transaction(db):
    users, by_name, _ = make_tables()
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        users[txn, 1] = rec(1, "ada")
        with pytest.raises(zlmdb.UniqueValueConstraint):
            users[txn, 2] = rec(2, "ada")
        assert users[txn, 2] is None
    assert (stats.puts, stats.dels) == (3, 0)
    with db.begin() as txn:
        assert users.count(txn) == 1 and by_name[txn, "ada"] == 1


def test_update_moves_index_records_and_counts_exactly(db):
    users, by_name, by_group = make_tables()
    with db.begin(write=True) as txn:
        users[txn, 4] = rec(4, "ada", 1)
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        users[txn, 4] = rec(4, "bea", 7)
    # the record and two new index records put, two old index records deleted
    assert (stats.puts, stats.dels) == (3, 2)
    items = dict(raw_items(db))
    assert b"\x00\x02ada" not in items and items[b"\x00\x02bea"] == struct.pack(">Q", 4)
    assert struct.pack(">HQQ", 3, 1, 4) not in items
    assert items[struct.pack(">HQQ", 3, 7, 4)] == struct.pack(">Q", 4)


def test_update_with_unchanged_index_keys_puts_only_the_record(db):
    users, _, _ = make_tables()
    with db.begin(write=True) as txn:
        users[txn, 4] = rec(4, "ada", 1)
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        users[txn, 4] = rec(4, "ada", 1)
    assert (stats.puts, stats.dels) == (1, 0)


def test_null_transitions_on_new_and_existing_records(db):
    users, by_name, _ = make_tables()
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        users[txn, 1] = rec(1, None)  # nullable: no name index record
    assert (stats.puts, stats.dels) == (2, 0)
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, "ada")
    with db.begin() as txn:
        assert by_name[txn, "ada"] == 1
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, None)
    with db.begin() as txn:
        assert by_name.count(txn) == 0


def test_non_nullable_null_key_of_a_new_record_writes_nothing(db):
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    users.attach_index("group", zlmdb.MapOidOidOid(3), lambda r: (r["group"], r["oid"]))
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            users[txn, 1] = rec(1, "ada", None)
        assert users[txn, 1] is None
    assert (stats.puts, stats.dels) == (0, 0)
    assert raw_items(db) == []


def test_bad_oid_part_in_an_index_key_raises_and_writes_nothing(db):
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    users.attach_index("group", zlmdb.MapOidOidOid(3), lambda r: (r["group"], r["oid"]))
    for bad, error in ((-1, ValueError), (2**53 + 1, ValueError), ("x", TypeError)):
        with db.begin(write=True) as txn:
            with pytest.raises(error):
                users[txn, 1] = rec(1, "ada", bad)
    assert raw_items(db) == []


def test_index_key_too_long_raises_before_anything_is_written(db):
    users, _, _ = make_tables()
    with db.begin(write=True) as txn:
        with pytest.raises(lmdb.BadValsizeError):
            users[txn, 1] = rec(1, "x" * 4000)
        assert users[txn, 1] is None
    assert raw_items(db) == []


def test_indexed_put_in_a_read_transaction_checks_then_raises_readonly(db):
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    users.attach_index("name", zlmdb.MapStringOid(2), lambda r: r["name"])
    with db.begin() as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            users[txn, 1] = rec(1, None)
        with pytest.raises(lmdb.ReadonlyError):
            users[txn, 1] = rec(1, "ada")
    assert raw_items(db) == []


def test_index_value_of_a_string_keyed_table_is_the_encoded_key(db):
    people = zlmdb.MapStringCbor(1, marshal=_ident, unmarshal=_ident)
    by_email = zlmdb.MapStringString(2)
    people.attach_index("email", by_email, lambda r: r["email"])
    with db.begin(write=True) as txn:
        people[txn, "ada"] = {"email": "a@x"}
    assert dict(raw_items(db))[b"\x00\x02a@x"] == b"ada"
    with db.begin() as txn:
        assert by_email[txn, "a@x"] == "ada"


def test_oid_index_value_of_wrong_length_raises_value_error(db):
    by_name = zlmdb.MapStringOid(2)
    with db.begin(write=True) as txn:
        txn.put(b"\x00\x02ada", b"\x00" * 7)
        txn.put(b"\x00\x02bob", struct.pack(">Q", 12))
    with db.begin() as txn:
        assert by_name[txn, "bob"] == 12
        with pytest.raises(ValueError):
            by_name[txn, "ada"]
    with db.begin(buffers=True) as txn:
        assert by_name[txn, "bob"] == 12


def test_writers_apply_a_mixed_batch_in_order(db):
    plain = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    with BufferedWriter(db, plain, batch_size=100) as writer:
        for oid in range(1, 6):
            writer.put(oid, {"n": oid})
        writer.delete(2)
        writer.put(2, {"n": 22})
        writer.delete(3)
        writer.put(2**53, {"n": "max"})
    with db.begin() as txn:
        assert list(plain.select(txn)) == [
            (1, {"n": 1}),
            (2, {"n": 22}),
            (4, {"n": 4}),
            (5, {"n": 5}),
            (2**53, {"n": "max"}),
        ]


def test_writer_batch_counts_stats_and_flushes_large_batches(db):
    plain = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    ops = [("put", oid, {"n": oid}) for oid in range(3000)] + [("delete", 7, None)]
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        plain._put_many(txn, ops, "put")
        assert plain[txn, 2999] == {"n": 2999} and plain[txn, 7] is None
    assert (stats.puts, stats.dels) == (3000, 1)
    with db.begin() as txn:
        assert plain.count(txn) == 2999


def test_writer_batch_with_a_bad_key_applies_the_operations_before_it(db):
    plain = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    with db.begin(write=True) as txn:
        with pytest.raises(ValueError):
            plain._put_many(txn, [("put", 1, {}), ("put", -1, {}), ("put", 2, {})], "put")
        assert plain[txn, 1] == {} and plain[txn, 2] is None


def test_background_writer_maintains_indexes(db):
    users, by_name, _ = make_tables()
    with BackgroundWriter(db, users, batch_size=10) as writer:
        for oid in range(1, 51):
            writer.put(oid, rec(oid, f"u{oid:03d}", oid % 3))
        writer.delete(10)
    with db.begin() as txn:
        assert users.count(txn) == 49 and by_name.count(txn) == 49
        assert by_name[txn, "u010"] is None and by_name[txn, "u011"] == 11


def test_writer_batch_reports_a_unique_conflict_and_keeps_the_rest(db):
    users, by_name, _ = make_tables()
    writer = BufferedWriter(db, users, batch_size=100)
    writer.put(1, rec(1, "ada"))
    writer.put(2, rec(2, "ada"))
    writer.put(3, rec(3, "cy"))
    with pytest.raises(WriteError) as info:
        writer.close()
    assert [op.key for op in info.value.operations] == [2]
    with db.begin() as txn:
        assert users.count(txn) == 2 and by_name.count(txn) == 2


def test_transaction_on_a_closed_database_raises(tmp_path):
    database = zlmdb.Database(str(tmp_path / "db"), sync=False)
    txn = database.begin(write=True)
    database.close()
    with pytest.raises(lmdb.Error):
        database.begin()
    with pytest.raises(lmdb.Error):
        txn.__enter__()


def test_transaction_ends_cleanly_and_is_unusable_until_entered_again(db):
    plain = zlmdb.MapOidCbor(8, marshal=_ident, unmarshal=_ident)
    users, _, _ = make_tables()
    txn = db.begin(write=True)
    with txn:
        plain[txn, 1] = {"a": 1}
        users[txn, 1] = rec(1, "ada")  # fills the slot tops
        assert txn._tops
        with pytest.raises(lmdb.Error):
            txn.__enter__()  # already open
    assert txn._raw is None and txn._pending is None and txn._tops == {}
    with pytest.raises(lmdb.Error):
        plain[txn, 2] = {}
    with db.begin() as rtxn:
        assert plain[rtxn, 1] == {"a": 1} and users[rtxn, 1] == rec(1, "ada")
    # as with upstream, entering the finished object again begins a new transaction
    with txn:
        assert txn._tops == {}
        plain[txn, 2] = {"b": 2}
        users[txn, 2] = rec(2, "bob")
    with db.begin() as rtxn:
        assert plain[rtxn, 2] == {"b": 2} and users[rtxn, 2] == rec(2, "bob")
