"""PersistentMap operations: get/set/delete/in, select bounds, reverse, limit, counts, truncate."""

from __future__ import annotations

import struct

import pytest

import zlmdb
from zlmdb import lmdb


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db")) as database:
        yield database


@pytest.fixture
def oids(db):
    """MapOidString slot 1 with keys 0..9 (values "v<k>"), a neighbour table in slot 2."""
    table = zlmdb.MapOidString(1)
    neighbour = zlmdb.MapOidString(2)
    with db.begin(write=True) as txn:
        for k in range(10):
            table[txn, k] = f"v{k}"
        neighbour[txn, 0] = "other"
    return table


def keys_of(db, table, **kwargs):
    with db.begin() as txn:
        return list(table.select(txn, return_values=False, **kwargs))


def test_get_missing_key_returns_none(db, oids):
    with db.begin() as txn:
        assert oids[txn, 99] is None


def test_contains(db, oids):
    with db.begin() as txn:
        assert (txn, 3) in oids
        assert (txn, 99) not in oids


def test_delete_removes_record(db, oids):
    with db.begin(write=True) as txn:
        del oids[txn, 3]
    with db.begin() as txn:
        assert oids[txn, 3] is None


def test_delete_missing_key_is_ignored(db, oids):
    with db.begin(write=True) as txn:
        del oids[txn, 99]
    with db.begin() as txn:
        assert oids.count(txn) == 10


def test_empty_string_value_reads_as_none(db):
    table = zlmdb.MapOidString(1)
    with db.begin(write=True) as txn:
        table[txn, 1] = ""
        assert table[txn, 1] is None


def test_subscript_without_transaction_raises_type_error(db, oids):
    with pytest.raises(TypeError):
        oids[3]


def test_subscript_with_non_transaction_raises_type_error(db, oids):
    with pytest.raises(TypeError):
        oids[object(), 3]


def test_bad_key_raises_before_writing(db, oids):
    with db.begin(write=True) as txn:
        with pytest.raises(TypeError):
            oids[txn, "3"] = "x"
    with db.begin() as txn:
        assert oids.count(txn) == 10


def test_put_in_read_transaction_raises_readonly_error(db, oids):
    with db.begin() as txn:
        with pytest.raises(lmdb.ReadonlyError):
            oids[txn, 1] = "x"


def test_len_is_not_supported(oids):
    with pytest.raises(NotImplementedError):
        len(oids)


def test_iter_is_not_supported(oids):
    with pytest.raises(NotImplementedError):
        iter(oids)


def test_select_yields_pairs_in_key_order(db, oids):
    with db.begin() as txn:
        assert list(oids.select(txn, to_key=3)) == [(0, "v0"), (1, "v1"), (2, "v2")]


def test_select_values_only(db, oids):
    with db.begin() as txn:
        assert list(oids.select(txn, return_keys=False, from_key=8)) == ["v8", "v9"]


def test_select_neither_keys_nor_values_yields_none_per_record(db, oids):
    with db.begin() as txn:
        assert list(oids.select(txn, return_keys=False, return_values=False, from_key=8)) == [
            None,
            None,
        ]


def test_select_stays_inside_the_slot(db, oids):
    assert keys_of(db, oids) == list(range(10))


def test_select_zero_is_a_real_upper_bound(db, oids):
    assert keys_of(db, oids, from_key=1, to_key=0) == []


def test_select_zero_is_a_real_lower_bound(db, oids):
    assert keys_of(db, oids, from_key=0, to_key=2) == [0, 1]


def test_select_empty_string_is_a_real_bound(db):
    table = zlmdb.MapStringOid(1)
    with db.begin(write=True) as txn:
        table[txn, ""] = 1
        table[txn, "a"] = 2
    assert keys_of(db, table, to_key="") == []
    assert keys_of(db, table, from_key="", to_key="a") == [""]


def test_select_reverse_walks_down_from_below_to_key(db, oids):
    assert keys_of(db, oids, from_key=2, to_key=5, reverse=True) == [4, 3, 2]


def test_select_reverse_without_bounds_walks_whole_table(db, oids):
    assert keys_of(db, oids, reverse=True) == list(range(9, -1, -1))


def test_select_limit(db, oids):
    assert keys_of(db, oids, from_key=5, limit=2) == [5, 6]


def test_select_reverse_limit(db, oids):
    assert keys_of(db, oids, reverse=True, limit=2) == [9, 8]


@pytest.mark.parametrize("limit", [0, -1, 10_000_000])
def test_select_bad_limit_raises_value_error(db, oids, limit):
    with db.begin() as txn:
        with pytest.raises(ValueError):
            oids.select(txn, limit=limit)


def test_select_on_last_slot(db):
    table = zlmdb.MapOidString(65535)
    with db.begin(write=True) as txn:
        table[txn, 1] = "a"
        table[txn, 2] = "b"
    assert keys_of(db, table) == [1, 2]
    assert keys_of(db, table, reverse=True) == [2, 1]


def test_select_in_write_transaction_sees_own_writes(db, oids):
    with db.begin(write=True) as txn:
        oids[txn, 10] = "v10"
        assert list(oids.select(txn, from_key=9, return_values=False)) == [9, 10]


def test_select_on_tuple_keys_by_prefix_range(db):
    table = zlmdb.MapOidOidOid(1)
    with db.begin(write=True) as txn:
        for realm in (1, 2, 3):
            for user in (10, 20):
                table[txn, (realm, user)] = user
    with db.begin() as txn:
        assert list(table.select(txn, return_keys=False, from_key=(2, 0), to_key=(3, 0))) == [
            10,
            20,
        ]


def test_count_whole_table(db, oids):
    with db.begin() as txn:
        assert oids.count(txn) == 10


def test_count_with_string_prefix(db):
    table = zlmdb.MapStringOid(1)
    with db.begin(write=True) as txn:
        for name in ("test-1", "test-10", "test-11", "test-2", "other"):
            table[txn, name] = 1
    with db.begin() as txn:
        assert table.count(txn, "test-1") == 3


def test_count_with_zero_prefix_counts_only_that_key(db, oids):
    with db.begin() as txn:
        assert oids.count(txn, 0) == 1


def test_count_range(db, oids):
    with db.begin() as txn:
        assert oids.count_range(txn, 2, 5) == 3


def test_count_range_with_inverted_bounds_is_zero(db, oids):
    with db.begin() as txn:
        assert oids.count_range(txn, 1, 0) == 0


def test_count_range_with_open_bounds(db, oids):
    with db.begin() as txn:
        assert oids.count_range(txn, None, None) == 10


def test_truncate_deletes_only_this_table(db, oids):
    with db.begin(write=True) as txn:
        assert oids.truncate(txn) == 10
    with db.begin() as txn:
        assert oids.count(txn) == 0
        assert zlmdb.MapOidString(2).count(txn) == 1


def test_truncate_counts_deletes_in_stats(db, oids):
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        oids.truncate(txn)
    assert (stats.puts, stats.dels) == (0, 10)


def test_operation_on_finished_transaction_raises_lmdb_error(db, oids):
    with db.begin() as txn:
        pass
    with pytest.raises(lmdb.Error):
        oids[txn, 1]


@pytest.mark.parametrize("map_name, key", [("MapOidCbor", 1), ("MapStringCbor", "k")])
@pytest.mark.parametrize(
    "operation",
    [
        lambda t, txn, key: t[txn, key],
        lambda t, txn, key: t.__setitem__((txn, key), {"a": 2}),
        lambda t, txn, key: t.__delitem__((txn, key)),
        lambda t, txn, key: (txn, key) in t,
        lambda t, txn, key: list(t.select(txn)),
    ],
)
def test_every_operation_on_a_finished_transaction_raises_lmdb_error(db, map_name, key, operation):
    table = getattr(zlmdb, map_name)(5, marshal=lambda v: v, unmarshal=lambda d: d)
    with db.begin(write=True) as txn:
        table[txn, key] = {"a": 1}
    with pytest.raises(lmdb.Error):
        operation(table, txn, key)


def test_map_without_slot_raises_value_error(db):
    table = zlmdb.MapOidString()
    with db.begin() as txn:
        with pytest.raises(ValueError):
            table[txn, 1]


def test_subclass_hooks_are_used(db):
    class Upper(zlmdb.MapStringString):
        def _serialize_value(self, value):
            return value.upper().encode()

    table = Upper(1)
    with db.begin(write=True) as txn:
        table[txn, "k"] = "abc"
        assert table[txn, "k"] == "ABC"


def test_deleting_while_selecting_visits_every_record(db, oids):
    with db.begin(write=True) as txn:
        seen = []
        for key in oids.select(txn, return_values=False):
            seen.append(key)
            del oids[txn, key]
        assert seen == list(range(10)) and oids.count(txn) == 0


def test_marshal_hooks_assigned_after_first_use_are_used(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as db:
        table = zlmdb.MapOidCbor(1, marshal=lambda v: v, unmarshal=lambda d: d)
        with db.begin(write=True) as txn:
            table[txn, 1] = {"a": 1}
            table._marshal = lambda v: {"wrapped": v}
            table._unmarshal = lambda d: ("read", d)
            table[txn, 2] = {"a": 2}
            assert table[txn, 2] == ("read", {"wrapped": {"a": 2}})


def test_overridden_value_hooks_are_used_on_every_path(tmp_path):
    class Upper(zlmdb.MapStringString):
        def _serialize_value(self, value):
            return value.upper().encode()

        def _deserialize_value(self, data):
            return "read:" + data.decode()

    with zlmdb.Database(str(tmp_path / "db"), sync=False) as db:
        table = Upper(1)
        with db.begin(write=True) as txn:
            table[txn, "k"] = "abc"
            assert table[txn, "k"] == "read:ABC"
            assert list(table.select(txn)) == [("k", "read:ABC")]


def test_overridden_key_hooks_are_used_on_every_path(tmp_path):
    class Reversed(zlmdb.MapOidString):
        def _serialize_key(self, key):
            return struct.pack("<Q", key)

        def _deserialize_key(self, data):
            return struct.unpack("<Q", data)[0]

    with zlmdb.Database(str(tmp_path / "db"), sync=False) as db:
        table = Reversed(1)
        with db.begin(write=True) as txn:
            table[txn, 1] = "one"
            assert txn.get(b"\x00\x01" + struct.pack("<Q", 1)) == b"one"
            assert table[txn, 1] == "one"
            assert list(table.select(txn)) == [(1, "one")]


def test_flatbuffers_cast_assigned_after_first_use_is_used(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as db:
        table = zlmdb.MapOidFlatBuffers(1, build=None, cast=lambda buf: ("first", bytes(buf)))
        with db.begin(write=True) as txn:
            txn.put(b"\x00\x01" + struct.pack(">Q", 1), b"data")
            assert table[txn, 1] == ("first", b"data")
            table._cast = lambda buf: ("second", bytes(buf))
            assert table[txn, 1] == ("second", b"data")
            assert list(table.select(txn, return_keys=False)) == [("second", b"data")]
