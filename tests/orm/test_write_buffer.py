"""Write transactions buffer the tables' puts and hand them to LMDB in blocks: a transaction
still sees its own writes everywhere, errors still come from the put that caused them, and
an aborted transaction leaves nothing behind."""

from __future__ import annotations

import cbor2
import pytest

import zlmdb
from zlmdb.orm._transaction import FLUSH_AT

# more puts than one block, so that some are written to LMDB and some still pending
MANY = FLUSH_AT + FLUSH_AT // 2


def _identity(value):
    return value


class Schema(zlmdb.Schema):
    def __init__(self):
        super().__init__()
        self.items = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
        self.users = zlmdb.MapOidCbor(2, marshal=_identity, unmarshal=_identity)
        self.by_name = zlmdb.MapStringOid(3)
        self.by_group = zlmdb.MapOidOidOid(4)
        self.users.attach_index("by_name", self.by_name, lambda u: u["name"])
        self.users.attach_index(
            "by_group", self.by_group, lambda u: (u["group"], u["oid"]), unique=False
        )


def user(oid, name=None, group=0):
    return {"oid": oid, "name": name or f"user-{oid}", "group": group}


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


@pytest.fixture
def s():
    return Schema()


@pytest.mark.parametrize("count", [1, 3, MANY])
def test_reads_in_the_writing_transaction_see_its_puts(db, s, count):
    with db.begin(write=True) as txn:
        for oid in range(1, count + 1):
            s.items[txn, oid] = {"n": oid}
        assert s.items[txn, count] == {"n": count}
        assert (txn, 1) in s.items
        assert s.items.count(txn) == count
        assert s.items.count_range(txn, 1, count + 1) == count
        assert [k for k in s.items.select(txn, return_values=False)] == list(range(1, count + 1))
        assert next(s.items.select(txn, reverse=True, return_values=False)) == count


def test_commit_writes_every_buffered_put(db, s):
    with db.begin(write=True) as txn:
        for oid in range(1, MANY + 1):
            s.items[txn, oid] = {"n": oid}
    with db.begin() as txn:
        assert s.items.count(txn) == MANY
        assert s.items[txn, MANY] == {"n": MANY}


def test_an_exception_discards_buffered_puts(db, s):
    with pytest.raises(KeyError):
        with db.begin(write=True) as txn:
            for oid in range(1, MANY + 1):
                s.items[txn, oid] = {"n": oid}
            raise KeyError("abort")
    with db.begin() as txn:
        assert s.items.count(txn) == 0


def test_raw_transaction_sees_buffered_puts(db, s):
    with db.begin(write=True) as txn:
        s.items[txn, 5] = {"n": 5}
        assert cbor2.loads(txn._txn.get(b"\x00\x01" + (5).to_bytes(8, "big"))) == {"n": 5}
        assert txn.get(b"\x00\x01" + (5).to_bytes(8, "big")) is not None


def test_later_put_of_the_same_key_wins(db, s):
    with db.begin(write=True) as txn:
        s.items[txn, 1] = {"n": 1}
        s.items[txn, 1] = {"n": 2}
        assert s.items[txn, 1] == {"n": 2}
    with db.begin() as txn:
        assert s.items[txn, 1] == {"n": 2}


def test_delete_of_a_buffered_put_removes_it(db, s):
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        s.items[txn, 1] = {"n": 1}
        del s.items[txn, 1]
        assert s.items[txn, 1] is None
    assert (stats.puts, stats.dels) == (1, 1)
    with db.begin() as txn:
        assert s.items.count(txn) == 0


def test_delete_of_a_buffered_overwrite_removes_the_stored_record_too(db, s):
    with db.begin(write=True) as txn:
        s.items[txn, 1] = {"n": 1}
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        s.items[txn, 1] = {"n": 2}
        del s.items[txn, 1]
    assert stats.dels == 1
    with db.begin() as txn:
        assert s.items[txn, 1] is None


def test_oversize_key_raises_at_the_put_and_the_transaction_goes_on(db):
    names = zlmdb.MapStringOid(5)
    with db.begin(write=True) as txn:
        names[txn, "short"] = 1
        with pytest.raises(zlmdb.lmdb.BadValsizeError):
            names[txn, "x" * 2000] = 2  # longer than either engine allows
        names[txn, "other"] = 3
    with db.begin() as txn:
        assert names.count(txn) == 2


def test_oversize_index_key_raises_before_anything_is_written(db, s):
    with db.begin(write=True) as txn:
        with pytest.raises(zlmdb.lmdb.BadValsizeError):
            s.users[txn, 1] = user(1, name="x" * 2000)
        assert s.users[txn, 1] is None
        assert s.by_group.count(txn) == 0


def test_put_in_a_read_transaction_raises_readonly(db, s):
    with db.begin() as txn:
        with pytest.raises(zlmdb.lmdb.ReadonlyError):
            s.items[txn, 1] = {"n": 1}
        with pytest.raises(zlmdb.lmdb.ReadonlyError):
            s.users[txn, 1] = user(1)


def test_map_full_aborts_the_whole_transaction(tmp_path):
    table = zlmdb.MapOidPickle(1)
    with zlmdb.Database(str(tmp_path / "small"), maxsize=256 * 1024, sync=False) as small:
        with pytest.raises(zlmdb.lmdb.MapFullError):
            with small.begin(write=True) as txn:
                for oid in range(10_000):
                    table[txn, oid] = b"v" * 100
        with small.begin() as txn:
            assert table.count(txn) == 0


def test_select_in_a_write_transaction_sees_puts_made_while_iterating(db, s):
    with db.begin(write=True) as txn:
        s.items[txn, 1] = {"n": 1}
        seen = []
        for key in s.items.select(txn, return_values=False):
            seen.append(key)
            if key < 5:
                s.items[txn, key + 1] = {"n": key + 1}
        assert seen == [1, 2, 3, 4, 5]


def test_unique_conflict_with_a_buffered_record_writes_nothing(db, s):
    stats = zlmdb.TransactionStats()
    with db.begin(write=True, stats=stats) as txn:
        s.users[txn, 1] = user(1, name="ada")
        with pytest.raises(zlmdb.UniqueValueConstraint):
            s.users[txn, 2] = user(2, name="ada")
        assert s.users[txn, 2] is None
        assert s.by_name[txn, "ada"] == 1
        assert s.by_group.count(txn) == 1
    assert stats.puts == 3


def test_update_below_the_largest_key_moves_index_records(db, s):
    with db.begin(write=True) as txn:
        for oid in range(1, 11):
            s.users[txn, oid] = user(oid, group=1)
    with db.begin(write=True) as txn:
        s.users[txn, 5] = user(5, name="renamed", group=2)
    with db.begin() as txn:
        assert s.by_name[txn, "user-5"] is None
        assert s.by_name[txn, "renamed"] == 5
        assert s.by_group[txn, (1, 5)] is None
        assert s.by_group[txn, (2, 5)] == 5
        assert s.by_name.count(txn) == 10
        assert s.by_group.count(txn) == 10


def test_update_within_the_transaction_that_inserted(db, s):
    with db.begin(write=True) as txn:
        s.users[txn, 1] = user(1, name="a")
        s.users[txn, 1] = user(1, name="b")
        assert s.by_name[txn, "a"] is None
    with db.begin() as txn:
        assert s.by_name[txn, "b"] == 1
        assert s.by_name.count(txn) == 1


def test_record_written_through_the_raw_transaction_is_seen_as_old_value(db, s):
    key20 = b"\x00\x02" + (20).to_bytes(8, "big")
    with db.begin(write=True) as txn:
        s.users[txn, 10] = user(10)  # the transaction now knows slot 2's largest key
        txn._txn.put(key20, cbor2.dumps(user(20, name="raw")))
        txn._txn.put(b"\x00\x03raw", (20).to_bytes(8, "big"))
        s.users[txn, 20] = user(20, name="orm")
    with db.begin() as txn:
        assert s.by_name[txn, "raw"] is None
        assert s.by_name[txn, "orm"] == 20


def test_deleted_largest_key_then_reinserted_is_indexed_once(db, s):
    with db.begin(write=True) as txn:
        s.users[txn, 1] = user(1)
        s.users[txn, 2] = user(2)
        del s.users[txn, 2]
        s.users[txn, 2] = user(2, name="again")
    with db.begin() as txn:
        assert s.by_name[txn, "user-2"] is None
        assert s.by_name[txn, "again"] == 2
        assert s.by_name.count(txn) == 2


def test_truncate_removes_buffered_puts(db, s):
    with db.begin(write=True) as txn:
        for oid in range(1, 10):
            s.items[txn, oid] = {"n": oid}
        assert s.items.truncate(txn) == 9
        assert s.items[txn, 1] is None
    with db.begin() as txn:
        assert s.items.count(txn) == 0


def test_buffers_transaction_reads_buffered_and_stored_values(db, s):
    with db.begin(write=True) as txn:
        s.users[txn, 1] = user(1)
    with db.begin(write=True, buffers=True) as txn:
        s.users[txn, 2] = user(2)
        s.users[txn, 1] = user(1, name="moved")
        assert s.by_name[txn, "moved"] == 1
        assert s.by_name[txn, "user-1"] is None
