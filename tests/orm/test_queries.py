"""select / count / count_range bound edge cases, and index maintenance.

Written against the ORM spec (shared/api/orm-api.md §6-8): bounds are tested with ``is None``,
so ``0`` and ``""`` are real bounds (upstream treats them as "unbounded"); a NULL-constraint
failure writes nothing.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zlmdb


class User:
    """A picklable record with three indexed attributes."""

    def __init__(self, oid, authid, email=None, realm=None):
        self.oid = oid
        self.authid = authid
        self.email = email
        self.realm = realm

    def __eq__(self, other):
        return isinstance(other, User) and vars(self) == vars(other)

    def __repr__(self):
        return f"User({vars(self)})"


class Schema(zlmdb.Schema):
    def __init__(self) -> None:
        super().__init__()
        self.numbers = zlmdb.MapOidString(1)
        self.words = zlmdb.MapStringOid(2)
        self.events = zlmdb.MapTimestampUuidCbor(3, marshal=lambda v: v, unmarshal=lambda v: v)

        self.users = zlmdb.MapOidPickle(10)
        # unique, not nullable: every user has an authid
        self.idx_authid = zlmdb.MapStringOid(11)
        self.users.attach_index("authid", self.idx_authid, lambda u: u.authid)
        # unique, nullable: email is optional
        self.idx_email = zlmdb.MapStringOid(12)
        self.users.attach_index("email", self.idx_email, lambda u: u.email, nullable=True)
        # non-unique (realm, oid): many users per realm, realm optional
        self.idx_realm = zlmdb.MapOidOidOid(13)
        self.users.attach_index(
            "realm", self.idx_realm, lambda u: (u.realm, u.oid), nullable=True, unique=False
        )


NUMBERS = [0, 1, 2, 5, 10, 2**53]
WORDS = ["", "a", "ab", "abc", "b", "test-1", "test-10", "test-2"]


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), maxsize=64 * 1024 * 1024) as database:
        yield database


@pytest.fixture
def schema(db):
    s = Schema()
    with db.begin(write=True) as txn:
        for n in NUMBERS:
            s.numbers[txn, n] = f"n{n}"
        for i, w in enumerate(WORDS):
            s.words[txn, w] = i
    return s


def keys(rows):
    return list(rows)


# ------------------------------------------------------------------------------- select bounds


def test_select_without_bounds_returns_all_in_key_order(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, return_values=False)) == NUMBERS


def test_select_from_key_is_inclusive_to_key_exclusive(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, from_key=1, to_key=5, return_values=False))
    assert got == [1, 2]


def test_select_none_bounds_mean_unbounded(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, from_key=None, to_key=None, return_values=False))
    assert got == NUMBERS


def test_select_to_key_zero_is_a_real_bound(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, to_key=0)) == []


def test_select_from_one_to_zero_is_empty(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, from_key=1, to_key=0)) == []


def test_select_from_zero_to_one_returns_key_zero(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, from_key=0, to_key=1)) == [(0, "n0")]


def test_select_empty_string_to_key_is_a_real_bound(db, schema):
    with db.begin() as txn:
        assert keys(schema.words.select(txn, to_key="")) == []


def test_select_from_empty_string_includes_the_empty_key(db, schema):
    with db.begin() as txn:
        got = keys(schema.words.select(txn, from_key="", to_key="a", return_values=False))
    assert got == [""]


def test_select_empty_bytes_is_not_an_unbounded_marker(db):
    table = zlmdb.MapBytes32Uuid(20)
    with db.begin() as txn, pytest.raises((ValueError, TypeError)):
        list(table.select(txn, to_key=b""))


def test_select_equal_bounds_is_empty(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, from_key=5, to_key=5)) == []


def test_select_bounds_between_keys(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, from_key=3, to_key=11, return_values=False))
    assert got == [5, 10]


def test_select_stays_inside_its_table(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, from_key=10, return_values=False))
    assert got == [10, 2**53]  # the next slot's records are not included


def test_select_reverse_without_bounds(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, reverse=True, return_values=False))
    assert got == NUMBERS[::-1]


def test_select_reverse_excludes_to_key_and_includes_from_key(db, schema):
    with db.begin() as txn:
        got = keys(
            schema.numbers.select(txn, from_key=1, to_key=10, reverse=True, return_values=False)
        )
    assert got == [5, 2, 1]


def test_select_reverse_with_to_key_between_keys(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, to_key=4, reverse=True, return_values=False))
    assert got == [2, 1, 0]


def test_select_reverse_with_to_key_zero_is_empty(db, schema):
    with db.begin() as txn:
        assert keys(schema.numbers.select(txn, to_key=0, reverse=True)) == []


def test_select_reverse_from_key_zero_includes_zero(db, schema):
    with db.begin() as txn:
        got = keys(
            schema.numbers.select(txn, from_key=0, to_key=2, reverse=True, return_values=False)
        )
    assert got == [1, 0]


def test_select_reverse_of_last_table_stops_at_table_start(db, schema):
    with db.begin() as txn:
        got = keys(schema.words.select(txn, to_key="a", reverse=True, return_values=False))
    assert got == [""]  # does not walk into the numbers table (slot 1) below


def test_select_limit(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, limit=2, return_values=False))
    assert got == [0, 1]


def test_select_limit_with_reverse_takes_the_last(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, reverse=True, limit=2, return_values=False))
    assert got == [2**53, 10]


def test_select_limit_larger_than_range(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, from_key=5, limit=100, return_values=False))
    assert got == [5, 10, 2**53]


def test_select_values_only(db, schema):
    with db.begin() as txn:
        got = keys(schema.numbers.select(txn, to_key=2, return_keys=False))
    assert got == ["n0", "n1"]


def test_select_tuple_keys_by_time_range(db, schema):
    t0 = np.datetime64("2026-01-01T00:00:00", "ns")
    ids = [uuid.UUID(int=i) for i in range(3)]
    with db.begin(write=True) as txn:
        for s in range(5):
            for u in ids:
                schema.events[txn, (t0 + np.timedelta64(s, "s"), u)] = {"s": s}
    lo, hi = (t0 + np.timedelta64(1, "s"), None), (t0 + np.timedelta64(3, "s"), None)
    with db.begin() as txn:
        got = [v["s"] for v in schema.events.select(txn, from_key=lo, to_key=hi, return_keys=False)]
    assert got == [1, 1, 1, 2, 2, 2]


# ------------------------------------------------------------------------- count / count_range


def test_count_whole_table(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count(txn) == len(NUMBERS)


def test_count_prefix_zero_is_a_real_prefix(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count(txn, 0) == 1


def test_count_string_prefix_counts_keys_starting_with_it(db, schema):
    with db.begin() as txn:
        assert schema.words.count(txn, "test-1") == 2


def test_count_prefix_without_matches_is_zero(db, schema):
    with db.begin() as txn:
        assert schema.words.count(txn, "zzz") == 0


def test_count_of_empty_table_is_zero(db, schema):
    with db.begin() as txn:
        assert schema.users.count(txn) == 0


def test_count_range_is_from_inclusive_to_exclusive(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count_range(txn, 1, 10) == 3


def test_count_range_from_zero(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count_range(txn, 0, 2) == 2


def test_count_range_to_zero_is_empty(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count_range(txn, 0, 0) == 0


def test_count_range_inverted_is_zero(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count_range(txn, 10, 1) == 0


def test_count_range_none_bounds_mean_unbounded_within_the_table(db, schema):
    with db.begin() as txn:
        counts = (
            schema.numbers.count_range(txn, None, 5),
            schema.numbers.count_range(txn, 5, None),
            schema.numbers.count_range(txn, None, None),
        )
    assert counts == (3, 3, len(NUMBERS))


def test_count_range_matches_select(db, schema):
    with db.begin() as txn:
        selected = len(keys(schema.words.select(txn, from_key="a", to_key="test-1")))
        assert schema.words.count_range(txn, "a", "test-1") == selected == 4


def test_count_range_stays_inside_its_table(db, schema):
    with db.begin() as txn:
        assert schema.numbers.count_range(txn, 10, 2**53) == 1


# ----------------------------------------------------------------------------------- indexes


def add(db, schema, *users):
    with db.begin(write=True) as txn:
        for u in users:
            schema.users[txn, u.oid] = u


def index_rows(db, index):
    with db.begin() as txn:
        return dict(index.select(txn))


def test_insert_writes_unique_index_entry(db, schema):
    add(db, schema, User(1, "alice"))
    assert index_rows(db, schema.idx_authid) == {"alice": 1}


def test_index_lookup_finds_the_record(db, schema):
    add(db, schema, User(1, "alice"), User(2, "bob"))
    with db.begin() as txn:
        oid = schema.idx_authid[txn, "bob"]
        assert schema.users[txn, oid] == User(2, "bob")


def test_update_moves_the_index_entry(db, schema):
    add(db, schema, User(1, "alice"))
    add(db, schema, User(1, "alicia"))
    assert index_rows(db, schema.idx_authid) == {"alicia": 1}


def test_update_with_same_indexed_value_keeps_one_entry(db, schema):
    add(db, schema, User(1, "alice", email="a@x"))
    add(db, schema, User(1, "alice", email="a@x"))
    assert index_rows(db, schema.idx_email) == {"a@x": 1}


def test_delete_removes_the_index_entries(db, schema):
    add(db, schema, User(1, "alice", email="a@x", realm=7))
    with db.begin(write=True) as txn:
        del schema.users[txn, 1]
    assert (
        index_rows(db, schema.idx_authid),
        index_rows(db, schema.idx_email),
        index_rows(db, schema.idx_realm),
    ) == ({}, {}, {})


def test_delete_of_missing_record_is_ignored(db, schema):
    with db.begin(write=True) as txn:
        del schema.users[txn, 99]
    assert index_rows(db, schema.idx_authid) == {}


def test_nullable_index_skips_null_value(db, schema):
    add(db, schema, User(1, "alice", email=None))
    assert index_rows(db, schema.idx_email) == {}


def test_null_to_value_adds_the_index_entry(db, schema):
    add(db, schema, User(1, "alice", email=None))
    add(db, schema, User(1, "alice", email="a@x"))
    assert index_rows(db, schema.idx_email) == {"a@x": 1}


def test_value_to_null_removes_the_index_entry(db, schema):
    add(db, schema, User(1, "alice", email="a@x"))
    add(db, schema, User(1, "alice", email=None))
    assert index_rows(db, schema.idx_email) == {}


def test_delete_record_with_null_indexed_value(db, schema):
    add(db, schema, User(1, "alice", email=None, realm=None))
    with db.begin(write=True) as txn:
        del schema.users[txn, 1]
        assert schema.users[txn, 1] is None


def test_tuple_with_null_element_is_null(db, schema):
    add(db, schema, User(1, "alice", realm=None))
    assert index_rows(db, schema.idx_realm) == {}


def test_non_unique_index_holds_many_records_per_value(db, schema):
    add(db, schema, User(1, "a", realm=7), User(2, "b", realm=7), User(3, "c", realm=8))
    with db.begin() as txn:
        in_realm_7 = list(
            schema.idx_realm.select(txn, from_key=(7, 0), to_key=(8, 0), return_keys=False)
        )
    assert in_realm_7 == [1, 2]


def test_non_unique_index_count_range_per_value(db, schema):
    add(db, schema, User(1, "a", realm=7), User(2, "b", realm=7), User(3, "c", realm=8))
    with db.begin() as txn:
        assert schema.idx_realm.count_range(txn, (7, 0), (8, 0)) == 2


def test_non_unique_index_update_moves_between_values(db, schema):
    add(db, schema, User(1, "a", realm=7), User(2, "b", realm=7))
    add(db, schema, User(1, "a", realm=8))
    assert index_rows(db, schema.idx_realm) == {(7, 2): 2, (8, 1): 1}


def test_null_in_non_nullable_index_raises(db, schema):
    with pytest.raises(zlmdb.NullValueConstraint):
        add(db, schema, User(1, None))


def test_null_value_constraint_is_a_runtime_error():
    assert issubclass(zlmdb.NullValueConstraint, RuntimeError)


def test_constraint_failure_writes_nothing_in_the_transaction(db, schema):
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            schema.users[txn, 1] = User(1, None, email="a@x", realm=7)
    # the transaction committed: nothing of the failed put may be in it
    with db.begin() as txn:
        assert schema.users[txn, 1] is None
        assert schema.idx_email.count(txn) == 0
        assert schema.idx_realm.count(txn) == 0


def test_constraint_failure_on_update_keeps_the_old_record_and_indexes(db, schema):
    add(db, schema, User(1, "alice", email="a@x", realm=7))
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.NullValueConstraint):
            schema.users[txn, 1] = User(1, None, email="b@x", realm=8)
    with db.begin() as txn:
        assert schema.users[txn, 1] == User(1, "alice", email="a@x", realm=7)
    assert index_rows(db, schema.idx_email) == {"a@x": 1}
    assert index_rows(db, schema.idx_realm) == {(7, 1): 1}


def test_transaction_stats_count_table_and_index_writes(db, schema):
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        for i in range(1, 11):
            email = None if i % 2 else f"u{i}@x"  # 5 NULL emails
            schema.users[txn, i] = User(i, f"user{i}", email=email, realm=1)
    assert stats.puts == 10 * (1 + 3) - 5


def test_truncate_clears_table_and_indexes(db, schema):
    add(db, schema, User(1, "a", email="a@x", realm=7), User(2, "b", realm=7))
    with db.begin(write=True) as txn:
        # 2 records + 2 authid + 1 email + 2 realm entries
        assert schema.users.truncate(txn) == 7
    with db.begin() as txn:
        assert (schema.users.count(txn), schema.idx_authid.count(txn)) == (0, 0)


def test_rebuild_index_restores_entries_from_records(db, schema):
    add(db, schema, User(1, "a", email="a@x"), User(2, "b"))
    with db.begin(write=True) as txn:
        schema.idx_email.truncate(txn)
        schema.users.rebuild_index(txn, "email")
    assert index_rows(db, schema.idx_email) == {"a@x": 1}


# ---------------------------------------------------------------------------- unique indexes


def test_unique_index_conflict_raises(db, schema):
    add(db, schema, User(1, "alice"))
    with pytest.raises(zlmdb.UniqueValueConstraint):
        add(db, schema, User(2, "alice"))


def test_unique_value_constraint_is_a_runtime_error():
    assert issubclass(zlmdb.UniqueValueConstraint, RuntimeError)


def test_unique_conflict_writes_nothing_in_the_transaction(db, schema):
    add(db, schema, User(1, "alice", email="a@x"))
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            schema.users[txn, 2] = User(2, "bob", email="a@x", realm=7)
    with db.begin() as txn:
        assert schema.users[txn, 2] is None
    assert index_rows(db, schema.idx_authid) == {"alice": 1}
    assert index_rows(db, schema.idx_realm) == {}


def test_unique_conflict_on_update_keeps_the_old_record(db, schema):
    add(db, schema, User(1, "alice"), User(2, "bob"))
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.UniqueValueConstraint):
            schema.users[txn, 2] = User(2, "alice")
    with db.begin() as txn:
        assert schema.users[txn, 2] == User(2, "bob")
    assert index_rows(db, schema.idx_authid) == {"alice": 1, "bob": 2}


def test_unique_key_freed_by_update_can_be_reused(db, schema):
    add(db, schema, User(1, "alice"))
    add(db, schema, User(1, "alicia"))
    add(db, schema, User(2, "alice"))
    assert index_rows(db, schema.idx_authid) == {"alice": 2, "alicia": 1}


def test_unique_key_freed_by_delete_can_be_reused(db, schema):
    add(db, schema, User(1, "alice"))
    with db.begin(write=True) as txn:
        del schema.users[txn, 1]
        schema.users[txn, 2] = User(2, "alice")
    assert index_rows(db, schema.idx_authid) == {"alice": 2}


def test_unique_keys_swapped_in_one_transaction_via_a_free_key(db, schema):
    add(db, schema, User(1, "a"), User(2, "b"))
    with db.begin(write=True) as txn:
        schema.users[txn, 1] = User(1, "tmp")
        schema.users[txn, 2] = User(2, "a")
        schema.users[txn, 1] = User(1, "b")
    assert index_rows(db, schema.idx_authid) == {"a": 2, "b": 1}


class TagSchema(zlmdb.Schema):
    """A plain (non-composite) key with ``unique=False``: the last writer owns the entry."""

    def __init__(self) -> None:
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=lambda v: v, unmarshal=lambda v: v)
        self.idx_tag = zlmdb.MapStringOid(2)
        self.items.attach_index("tag", self.idx_tag, lambda v: v["tag"], unique=False)


def test_non_unique_plain_key_is_overwritten_by_the_last_put(db):
    s = TagSchema()
    with db.begin(write=True) as txn:
        s.items[txn, 1] = {"tag": "red"}
        s.items[txn, 2] = {"tag": "red"}
    assert index_rows(db, s.idx_tag) == {"red": 2}


def test_deleting_a_record_keeps_an_index_entry_owned_by_another(db):
    s = TagSchema()
    with db.begin(write=True) as txn:
        s.items[txn, 1] = {"tag": "red"}
        s.items[txn, 2] = {"tag": "red"}
        del s.items[txn, 1]
    assert index_rows(db, s.idx_tag) == {"red": 2}


# ------------------------------------------------------------------ select against a model

_OIDS = st.integers(min_value=0, max_value=40)
_BOUND = st.one_of(st.none(), _OIDS)
_MODEL_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _load(db, table, oids):
    with db.begin(write=True) as txn:
        table.truncate(txn)
        for oid in oids:
            table[txn, oid] = f"n{oid}"


@_MODEL_SETTINGS
@given(
    oids=st.sets(_OIDS, max_size=25),
    from_key=_BOUND,
    to_key=_BOUND,
    reverse=st.booleans(),
    limit=st.one_of(st.none(), st.integers(min_value=1, max_value=30)),
)
def test_select_matches_a_sorted_list_model(db, oids, from_key, to_key, reverse, limit):
    table = zlmdb.MapOidString(1)
    _load(db, table, oids)
    expected = [
        k
        for k in sorted(oids)
        if (from_key is None or k >= from_key) and (to_key is None or k < to_key)
    ]
    if reverse:
        expected.reverse()
    if limit is not None:
        expected = expected[:limit]
    with db.begin() as txn:
        got = list(
            table.select(
                txn,
                from_key=from_key,
                to_key=to_key,
                reverse=reverse,
                limit=limit,
                return_values=False,
            )
        )
    assert got == expected


@_MODEL_SETTINGS
@given(oids=st.sets(_OIDS, max_size=25), from_key=_OIDS, to_key=_OIDS)
def test_count_range_matches_a_sorted_list_model(db, oids, from_key, to_key):
    table = zlmdb.MapOidString(1)
    _load(db, table, oids)
    with db.begin() as txn:
        assert table.count_range(txn, from_key, to_key) == sum(
            1 for k in oids if from_key <= k < to_key
        )


def test_unique_nullable_index_allows_many_nulls(db, schema):
    add(db, schema, User(1, "a", email=None), User(2, "b", email=None))
    with db.begin() as txn:
        assert schema.users.count(txn) == 2
    assert index_rows(db, schema.idx_email) == {}


def test_composite_index_null_to_value_to_null(db, schema):
    add(db, schema, User(1, "a", realm=None))
    add(db, schema, User(1, "a", realm=7))
    assert index_rows(db, schema.idx_realm) == {(7, 1): 1}
    add(db, schema, User(1, "a", realm=None))
    assert index_rows(db, schema.idx_realm) == {}
