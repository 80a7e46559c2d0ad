"""Reading records through an index: PersistentMap.get_by_index (one call into C for an
Oid-keyed table with an Oid-valued index map, zlmdb.lmdb.Transaction._get_indirect) and
PersistentMap.select_by_index (the records of a range of index keys). Every case compares
with what the two-step ``table[txn, index[txn, key]]`` reads from the same LMDB file."""

from __future__ import annotations

import struct
import uuid

import pytest

import zlmdb
from zlmdb import lmdb


def _ident(value):
    return value


def rec(oid, name, group=0, email=None):
    return {"oid": oid, "name": name, "group": group, "email": email}


def make_tables():
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    by_name = zlmdb.MapStringOid(2)
    by_group = zlmdb.MapOidOidOid(3)
    by_email = zlmdb.MapStringOid(4)
    users.attach_index("name", by_name, lambda r: r["name"])
    users.attach_index("group", by_group, lambda r: (r["group"], r["oid"]), unique=False)
    users.attach_index("email", by_email, lambda r: r["email"], nullable=True)
    return users, by_name, by_group, by_email


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def fill(db, users):
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, "ada", 10, "ada@x.org")
        users[txn, 2] = rec(2, "bob", 10)
        users[txn, 3] = rec(3, "cy", 20, "cy@x.org")


def two_step(txn, table, index, key):
    table_key = index[txn, key]
    return None if table_key is None else table[txn, table_key]


# -- get_by_index -------------------------------------------------------------------------


def test_get_by_index_unique_nullable_and_composite(db):
    users, by_name, by_group, by_email = make_tables()
    fill(db, users)
    with db.begin() as txn:
        assert users.get_by_index(txn, "name", "bob") == rec(2, "bob", 10)
        assert users.get_by_index(txn, "email", "cy@x.org") == rec(3, "cy", 20, "cy@x.org")
        assert users.get_by_index(txn, "group", (10, 1)) == rec(1, "ada", 10, "ada@x.org")
        assert users.get_by_index(txn, "name", "nobody") is None
        assert users.get_by_index(txn, "email", "bob@x.org") is None  # NULL: no index record
        assert users.get_by_index(txn, "group", (10, 3)) is None
        for name in ("ada", "bob", "cy", "zz"):
            assert users.get_by_index(txn, "name", name) == two_step(txn, users, by_name, name)


def test_get_by_index_sees_pending_writes(db):
    users, by_name, _, by_email = make_tables()
    fill(db, users)
    with db.begin(write=True) as txn:
        users[txn, 4] = rec(4, "dee", 30, "dee@x.org")  # pending: in the write buffer
        users[txn, 2] = rec(2, "bo", 10, "bo@x.org")  # an update: the old name goes
        assert txn._pending  # the reads below must look into the buffer
        assert users.get_by_index(txn, "name", "dee") == rec(4, "dee", 30, "dee@x.org")
        assert users.get_by_index(txn, "name", "bob") is None
        assert users.get_by_index(txn, "name", "bo") == rec(2, "bo", 10, "bo@x.org")
        assert users.get_by_index(txn, "email", "bo@x.org") == rec(2, "bo", 10, "bo@x.org")
        del users[txn, 4]
        assert users.get_by_index(txn, "name", "dee") is None
        # the same in a write transaction with nothing pending: the one-call path
        txn._flush()
        assert not txn._pending
        assert users.get_by_index(txn, "name", "bo") == rec(2, "bo", 10, "bo@x.org")
        # a pending record under a flushed index record
        users[txn, 3] = rec(3, "cy", 21, "cy@x.org")  # same name: its index record stays
        assert txn._pending
        assert users.get_by_index(txn, "name", "cy") == rec(3, "cy", 21, "cy@x.org")
    with db.begin() as txn:
        assert users.get_by_index(txn, "name", "cy") == rec(3, "cy", 21, "cy@x.org")
        assert users.get_by_index(txn, "name", "bo") == rec(2, "bo", 10, "bo@x.org")


def test_get_by_index_in_a_buffers_transaction(db):
    users, by_name, *_ = make_tables()
    fill(db, users)
    with db.begin(buffers=True) as txn:
        assert users.get_by_index(txn, "name", "ada") == rec(1, "ada", 10, "ada@x.org")
        assert users.get_by_index(txn, "name", "nobody") is None


def test_get_by_index_of_a_stale_or_empty_index_record(db):
    users, by_name, *_ = make_tables()
    fill(db, users)
    with db.begin(write=True) as txn:
        txn.put(b"\x00\x02ghost", struct.pack(">Q", 99))  # points to no record
        txn.put(b"\x00\x02empty", b"")  # an empty index value reads as None
        txn.put(b"\x00\x02short", b"\x00\x01")  # not an Oid
    with db.begin() as txn:
        assert users.get_by_index(txn, "name", "ghost") is None
        assert users.get_by_index(txn, "name", "empty") is None
        with pytest.raises(ValueError):
            users.get_by_index(txn, "name", "short")
    with db.begin(write=True) as txn:
        users[txn, 7] = rec(7, "gil")  # something pending: the Python way
        assert users.get_by_index(txn, "name", "ghost") is None
        assert users.get_by_index(txn, "name", "empty") is None
        with pytest.raises(ValueError):
            users.get_by_index(txn, "name", "short")


def test_get_by_index_of_an_empty_record(db):
    users, *_ = make_tables()
    fill(db, users)
    with db.begin(write=True) as txn:
        txn.put(struct.pack(">HQ", 1, 2), b"")  # the record of "bob", stored empty
    with db.begin() as txn:
        assert users[txn, 2] is None
        assert users.get_by_index(txn, "name", "bob") is None


def test_get_by_index_general_maps():
    """A String-keyed table with a String-valued index: no one-call path, same answers."""
    users = zlmdb.MapStringJson(1, marshal=_ident, unmarshal=_ident)
    by_mail = zlmdb.MapStringString(2)
    by_id = zlmdb.MapUuidString(3)
    users.attach_index("mail", by_mail, lambda r: r["mail"])
    users.attach_index("id", by_id, lambda r: uuid.UUID(r["id"]))
    ident = uuid.uuid4()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        with zlmdb.Database(tmp + "/db", sync=False) as db:
            with db.begin(write=True) as txn:
                users[txn, "ada"] = {"mail": "a@x", "id": str(ident)}
                assert users.get_by_index(txn, "mail", "a@x")["id"] == str(ident)  # pending
            with db.begin() as txn:
                assert users.get_by_index(txn, "mail", "a@x") == {"mail": "a@x", "id": str(ident)}
                assert users.get_by_index(txn, "id", ident)["mail"] == "a@x"
                assert users.get_by_index(txn, "mail", "b@x") is None


def test_get_by_index_errors(db, tmp_path):
    users, *_ = make_tables()
    fill(db, users)
    with db.begin() as txn:
        with pytest.raises(ValueError):
            users.get_by_index(txn, "nope", "ada")
        with pytest.raises(TypeError):
            users.get_by_index(txn, "name", 5)  # a String index
        with pytest.raises(TypeError):
            users.get_by_index(txn, "group", (1, "x"))
        with pytest.raises(TypeError):
            users.get_by_index(txn, "group", (1, 2, 3))  # wrong arity
        with pytest.raises(ValueError):
            users.get_by_index(txn, "group", (1, -2))
        with pytest.raises(TypeError):
            users.get_by_index(txn, "name", None)
        with pytest.raises(TypeError):
            users.get_by_index(txn._txn, "name", "ada")  # not a zlmdb.Transaction
        with pytest.raises(TypeError):
            users.get_by_index(None, "name", "ada")
    with pytest.raises(lmdb.Error):
        users.get_by_index(txn, "name", "ada")  # ended
    fresh = db.begin()
    with pytest.raises(lmdb.Error):
        users.get_by_index(fresh, "name", "ada")  # never entered
    plain = zlmdb.MapOidCbor(9, marshal=_ident, unmarshal=_ident)
    with db.begin() as txn2:
        with pytest.raises(ValueError):
            plain.get_by_index(txn2, "name", "ada")  # no indexes at all


def test_get_by_index_after_detach(db):
    users, *_ = make_tables()
    fill(db, users)
    with db.begin() as txn:
        assert users.get_by_index(txn, "name", "ada")["oid"] == 1
        users.detach_index("name")
        with pytest.raises(ValueError):
            users.get_by_index(txn, "name", "ada")


def test_get_indirect_is_get_of_get(db):
    with db.begin(write=True) as txn:
        raw = txn._txn
        raw.put(b"\x00\x05k", b"tail")
        raw.put(b"\x00\x06tail", b"value")
        assert raw._get_indirect(b"\x00\x05k", b"\x00\x06") == b"value"
        assert raw._get_indirect(b"\x00\x05k", b"\x00\x07") is None
        assert raw._get_indirect(b"\x00\x05k", b"\x00\x07", default=0) == 0
        assert raw._get_indirect(b"\x00\x05x", b"\x00\x06") is None
        with pytest.raises(ValueError):
            raw._get_indirect(b"\x00\x05k", b"\x00\x06", 8)
        with pytest.raises(lmdb.BadValsizeError):
            raw._get_indirect(b"", b"\x00\x06")
        with pytest.raises(TypeError):
            raw._get_indirect("k", b"\x00\x06")
        raw.put(b"\x00\x06big", b"v" * 10000)  # a large value: still in the map
        raw.put(b"\x00\x05b", b"big")
        assert raw._get_indirect(b"\x00\x05b", b"\x00\x06") == b"v" * 10000
        raw.put(b"\x00\x05long", b"k" * 3000)  # names a key longer than LMDB takes
        assert raw._get_indirect(b"\x00\x05long", b"\x00\x06") is None
        with pytest.raises(ValueError):
            raw._get_indirect(b"\x00\x05long", b"\x00\x06", 8)
    with db.begin(buffers=True) as txn:
        got = txn._txn._get_indirect(b"\x00\x05b", b"\x00\x06")
        assert isinstance(got, memoryview) and bytes(got) == b"v" * 10000


# -- select_by_index ----------------------------------------------------------------------


def test_select_by_index_non_unique_composite(db):
    users, _, by_group, _ = make_tables()
    fill(db, users)
    with db.begin() as txn:
        assert [r["oid"] for r in users.select_by_index(txn, "group", (10, 0), (11, 0))] == [1, 2]
        assert list(users.select_by_index(txn, "group", (20, 0), (21, 0), return_keys=True)) == [
            (3, rec(3, "cy", 20, "cy@x.org"))
        ]
        assert list(users.select_by_index(txn, "group", (11, 0), (20, 0))) == []
        got = users.select_by_index(txn, "group", (10, 0), (11, 0), reverse=True, limit=1)
        assert [r["oid"] for r in got] == [2]
        assert [r["oid"] for r in users.select_by_index(txn, "group")] == [1, 2, 3]
        assert [r["oid"] for r in users.select_by_index(txn, "name", "b")] == [2, 3]
        assert [r["oid"] for r in users.select_by_index(txn, "email")] == [1, 3]  # NULL: none
        expected = [
            users[txn, k]
            for k in by_group.select(txn, (10, 0), (11, 0), return_keys=False)  # two steps
        ]
        assert list(users.select_by_index(txn, "group", (10, 0), (11, 0))) == expected


def test_select_by_index_sees_pending_writes_and_skips_stale(db):
    users, *_ = make_tables()
    fill(db, users)
    with db.begin(write=True) as txn:
        users[txn, 4] = rec(4, "dee", 10)
        txn.put(struct.pack(">HQQ", 3, 10, 50), struct.pack(">Q", 50))  # stale: no record 50
        got = list(users.select_by_index(txn, "group", (10, 0), (11, 0), return_keys=True))
        assert [k for k, _ in got] == [1, 2, 4]
        assert [r["oid"] for r in users.select_by_index(txn, "group", (10, 0), limit=2)] == [1, 2]
        # writes while iterating are seen by the rest of the walk
        walk = users.select_by_index(txn, "group", (10, 0), (11, 0))
        assert next(walk)["oid"] == 1
        users[txn, 2] = rec(2, "bob", 10, "bob@x.org")
        assert next(walk) == rec(2, "bob", 10, "bob@x.org")


def test_select_by_index_errors(db):
    users, *_ = make_tables()
    fill(db, users)
    with db.begin() as txn:
        with pytest.raises(ValueError):
            users.select_by_index(txn, "nope")
        with pytest.raises(TypeError):
            users.select_by_index(txn, "group", limit=1.5)
        with pytest.raises(ValueError):
            users.select_by_index(txn, "group", limit=0)
        with pytest.raises(TypeError):
            users.select_by_index(txn, "group", from_key="x")
    with pytest.raises(lmdb.Error):
        users.select_by_index(txn, "group")


def test_get_by_index_custom_index_key_encoding(db):
    """An index map overriding its key hooks is encoded by them, not inline."""

    class LowerStringOid(zlmdb.MapStringOid):
        def _serialize_key(self, key):
            return super()._serialize_key(key.lower())

    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    by_name = LowerStringOid(2)
    users.attach_index("name", by_name, lambda r: r["name"])
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, "Ada")
    with db.begin() as txn:
        assert txn._txn.get(b"\x00\x02ada") == struct.pack(">Q", 1)
        assert users.get_by_index(txn, "name", "ADA") == rec(1, "Ada")
        assert users.get_by_index(txn, "name", "ada") == two_step(txn, users, by_name, "ada")


def test_get_by_index_follows_attach_and_detach(db):
    users = zlmdb.MapOidCbor(1, marshal=_ident, unmarshal=_ident)
    with db.begin(write=True) as txn:
        users[txn, 1] = rec(1, "ada")  # prepared without indexes
        with pytest.raises(ValueError):
            users.get_by_index(txn, "name", "ada")
        by_name = zlmdb.MapStringOid(2)
        users.attach_index("name", by_name, lambda r: r["name"])
        assert users.get_by_index(txn, "name", "ada") is None  # not rebuilt yet
        users.rebuild_index(txn, "name")
        assert users.get_by_index(txn, "name", "ada") == rec(1, "ada")
        users.detach_index("name")
        with pytest.raises(ValueError):
            users.get_by_index(txn, "name", "ada")
