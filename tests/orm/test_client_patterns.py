"""How real users of upstream zlmdb drive the ORM: each test replays one usage pattern of a
public client (crossbar.io, cfxdb, upstream's examples, a FastAPI key-value service) on a
real database, with our own schema classes and records. The expected values were checked
against upstream zlmdb 26.10.1 running the same pattern; where upstream raised an
``AssertionError`` we raise the documented ``TypeError``/``ValueError``/``zlmdb.lmdb``
error instead, and the test says so.

Patterns and where they come from:

* catalogued schemas: ``@table(uuid, build=..., cast=...)`` classes, a plain schema class
  with a static ``attach(db)`` calling ``db.attach_table`` and ``attach_index`` (cfxdb
  ``globalschema.py``, ``realmstore/_schema.py``, ``xbr/schema.py``), opened with
  ``Database.open(dbpath=..., maxsize=..., readonly=False, sync=True, context=self)`` and a
  manual ``db.__enter__()`` (crossbar master and cookie store);
* the exporter: ``db._get_slots()``, ``schema.__annotations__`` + table docstrings,
  ``table.count(txn)``, ``select`` over everything, ``table._serialize_key(key)`` (cfxdb
  ``exporter.py``);
* event and index range queries: ``count_range``/``select(..., return_keys=False)`` over
  ``(pub, 0, 0)..(pub + 1, 0, 0)``, ``(oid, "")..(UUID(int(oid) + 1), "")``, big limits
  (crossbar event store scripts, master node);
* a TTL key-value store: ``MapStringCbor`` values with a nullable ``MapTimestampStringCbor``
  expiry index whose key function returns ``(None, None)`` for "no expiry", range selects
  over it, ``del`` on index records, ``count(txn, prefix="ns\\0")``, ``sync(True)``,
  ``stats(False)``, ``__exit__(None, None, None)``;
* custom maps from upstream's mixins (``from zlmdb._types import _StringKeysMixin``,
  ``from zlmdb._pmap import PersistentMap``) with a user-written values mixin;
* raw access: ``txn.get/put/delete``, ``txn._txn.cursor()``, ``db._env.stat()``;
* the module surface they import: ``from zlmdb import flatbuffers`` with
  ``flatbuffers.encode``/``packer``/``number_types``, ``zlmdb._types`` helpers.

(No ``from __future__ import annotations`` here: the exporter pattern reads the table
classes from ``Schema.__annotations__``, as cfxdb's schemas are written.)
"""

import logging
import os
import pickle
import subprocess
import sys
import threading
import uuid
import zlib

import numpy as np
import pytest

import zlmdb
from zlmdb import flatbuffers

# -- a FlatBuffers record with hand-written build/cast (what flatc-generated code does) --------


class Session:
    """A session record: oid (uuid as a byte vector), session id, join time, realm name."""

    def __init__(self, oid=None, session=None, joined_at=None, realm=None):
        self.oid = oid
        self.session = session
        self.joined_at = joined_at
        self.realm = realm

    def build(self, builder):
        realm = builder.CreateString(self.realm) if self.realm else None
        oid = builder.CreateByteVector(self.oid.bytes) if self.oid else None
        builder.StartObject(4)
        if oid is not None:
            builder.PrependUOffsetTRelativeSlot(0, oid, 0)
        if self.session:
            builder.PrependUint64Slot(1, self.session, 0)
        if self.joined_at is not None:
            builder.PrependUint64Slot(2, int(self.joined_at), 0)
        if realm is not None:
            builder.PrependUOffsetTRelativeSlot(3, realm, 0)
        return builder.EndObject()

    @staticmethod
    def cast(buf):
        start = flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0)
        tab = flatbuffers.table.Table(buf, start)
        rec = Session()
        field = tab.Offset(4)
        if field:
            pos, size = tab.Vector(field), tab.VectorLen(field)
            rec.oid = uuid.UUID(bytes=bytes(memoryview(tab.Bytes)[pos : pos + size]))
        field = tab.Offset(6)
        if field:
            rec.session = tab.Get(flatbuffers.number_types.Uint64Flags, field + tab.Pos)
        field = tab.Offset(8)
        if field:
            ns = tab.Get(flatbuffers.number_types.Uint64Flags, field + tab.Pos)
            rec.joined_at = np.datetime64(ns, "ns")
        field = tab.Offset(10)
        if field:
            rec.realm = tab.String(field + tab.Pos).decode("utf8")
        return rec


class Realm:
    """A CBOR record with ``marshal``/``parse`` like cfxdb's ManagementRealm."""

    def __init__(self, oid=None, name=None, owner=None):
        self.oid = oid
        self.name = name
        self.owner = owner

    def marshal(self):
        return {"oid": self.oid.bytes, "name": self.name, "owner": self.owner}

    @staticmethod
    def parse(data):
        return Realm(uuid.UUID(bytes=data["oid"]), data["name"], data["owner"])


@zlmdb.table("6b1b8c0e-2f55-4c4e-9d0c-7d2b3a1f0c01", build=Session.build, cast=Session.cast)
class Sessions(zlmdb.MapUuidFlatBuffers):
    """
    Sessions persisted by a router.

    Map from session oid to :class:`Session`.
    """


@zlmdb.table("6b1b8c0e-2f55-4c4e-9d0c-7d2b3a1f0c02")
class IndexSessionsBySession(zlmdb.MapUint64TimestampUuid):
    """Index: (session, joined_at) -> session oid"""


@zlmdb.table("6b1b8c0e-2f55-4c4e-9d0c-7d2b3a1f0c03", marshal=Realm.marshal, parse=Realm.parse)
class Realms(zlmdb.MapUuidCbor):
    """Realms by oid."""


@zlmdb.table("6b1b8c0e-2f55-4c4e-9d0c-7d2b3a1f0c04")
class IndexRealmsByName(zlmdb.MapStringUuid):
    """Index: realm name -> realm oid"""


@zlmdb.table("6b1b8c0e-2f55-4c4e-9d0c-7d2b3a1f0c05")
class IndexRealmsByOwner(zlmdb.MapUuidStringUuid):
    """Index: (owner oid, realm name) -> realm oid"""


class RouterSchema:
    """A plain schema class with annotations and a static attach(db), as cfxdb writes them."""

    sessions: Sessions
    idx_sessions_by_session: IndexSessionsBySession
    realms: Realms
    idx_realms_by_name: IndexRealmsByName
    idx_realms_by_owner: IndexRealmsByOwner

    def __init__(self, db):
        self.db = db

    @staticmethod
    def attach(db):
        schema = RouterSchema(db)
        schema.sessions = db.attach_table(Sessions)
        schema.idx_sessions_by_session = db.attach_table(IndexSessionsBySession)
        schema.sessions.attach_index(
            "idx1", schema.idx_sessions_by_session, lambda s: (s.session, s.joined_at)
        )
        schema.realms = db.attach_table(Realms)
        schema.idx_realms_by_name = db.attach_table(IndexRealmsByName)
        schema.realms.attach_index("idx1", schema.idx_realms_by_name, lambda r: r.name)
        schema.idx_realms_by_owner = db.attach_table(IndexRealmsByOwner)
        schema.realms.attach_index(
            "idx2", schema.idx_realms_by_owner, lambda r: (r.owner, r.name), nullable=True
        )
        return schema


OIDS = [uuid.UUID(int=i + 1) for i in range(6)]
OWNER = uuid.UUID(int=0x100)


def _fill(schema, db):
    with db.begin(write=True) as txn:
        for i, oid in enumerate(OIDS):
            joined = np.datetime64(10**9 * (i + 1), "ns")
            schema.sessions[txn, oid] = Session(oid, 1000 + i % 2, joined, f"realm{i}")
            owner = OWNER if i % 2 else None
            schema.realms[txn, oid] = Realm(oid, f"realm{i}", owner)


@pytest.fixture
def dbpath(tmp_path):
    return str(tmp_path / "db")


@pytest.fixture
def router_db(dbpath):
    db = zlmdb.Database.open(dbpath=dbpath, maxsize=2**24, readonly=False, sync=True, context=1)
    db.__enter__()  # crossbar enters by hand after Database.open()
    schema = RouterSchema.attach(db)
    _fill(schema, db)
    yield db, schema
    db.__exit__(None, None, None)


# -- catalogued schemas ------------------------------------------------------------------------


def test_flatbuffers_records_round_trip_through_build_and_cast(router_db):
    db, schema = router_db
    with db.begin() as txn:
        rec = schema.sessions[txn, OIDS[1]]
    assert (rec.oid, rec.session, rec.joined_at, rec.realm) == (
        OIDS[1],
        1001,
        np.datetime64(2 * 10**9, "ns"),
        "realm1",
    )


def test_composite_index_keys_come_back_as_tuples_in_key_order(router_db):
    db, schema = router_db
    with db.begin() as txn:
        rows = list(schema.idx_sessions_by_session.select(txn))
    assert [key for key, _ in rows] == [
        (1000, np.datetime64(10**9, "ns")),
        (1000, np.datetime64(3 * 10**9, "ns")),
        (1000, np.datetime64(5 * 10**9, "ns")),
        (1001, np.datetime64(2 * 10**9, "ns")),
        (1001, np.datetime64(4 * 10**9, "ns")),
        (1001, np.datetime64(6 * 10**9, "ns")),
    ]
    assert [oid for _, oid in rows] == [OIDS[0], OIDS[2], OIDS[4], OIDS[1], OIDS[3], OIDS[5]]


def test_index_range_by_first_key_part(router_db):
    db, schema = router_db
    zero = np.datetime64(0, "ns")
    with db.begin() as txn:
        found = list(
            schema.idx_sessions_by_session.select(
                txn, from_key=(1001, zero), to_key=(1002, zero), return_keys=False
            )
        )
        counted = schema.idx_sessions_by_session.count_range(
            txn, from_key=(1000, zero), to_key=(1001, zero)
        )
    assert found == [OIDS[1], OIDS[3], OIDS[5]]
    assert counted == 3


def test_uuid_string_index_range_over_one_owner(router_db):
    # crossbar: from_key = (oid, ""), to_key = (UUID(int=int(oid) + 1), "")
    db, schema = router_db
    with db.begin() as txn:
        oids = list(
            schema.idx_realms_by_owner.select(
                txn,
                from_key=(OWNER, ""),
                to_key=(uuid.UUID(int=int(OWNER) + 1), ""),
                return_keys=False,
            )
        )
        keys = list(schema.idx_realms_by_owner.select(txn, return_values=False))
    assert oids == [OIDS[1], OIDS[3], OIDS[5]]
    assert keys == [(OWNER, "realm1"), (OWNER, "realm3"), (OWNER, "realm5")]


def test_nullable_composite_index_skips_records_with_a_none_part(router_db):
    db, schema = router_db
    with db.begin() as txn:
        assert schema.idx_realms_by_owner.count(txn) == 3
        assert schema.idx_realms_by_name.count(txn) == 6
        assert schema.idx_realms_by_name[txn, "realm4"] == OIDS[4]
        assert schema.idx_realms_by_name[txn, "nope"] is None


def test_deleting_a_record_removes_its_index_entries(router_db):
    db, schema = router_db
    with db.begin(write=True) as txn:
        del schema.realms[txn, OIDS[3]]
        del schema.realms[txn, OIDS[0]]  # its nullable index part is None
        del schema.realms[txn, uuid.uuid4()]  # missing: ignored
    with db.begin() as txn:
        assert schema.idx_realms_by_name[txn, "realm3"] is None
        assert schema.idx_realms_by_name.count(txn) == 4
        assert list(schema.idx_realms_by_owner.select(txn, return_keys=False)) == [
            OIDS[1],
            OIDS[5],
        ]


def test_select_with_limit_and_reverse(router_db):
    db, schema = router_db
    with db.begin() as txn:
        first = [r.name for r in schema.realms.select(txn, limit=1, return_keys=False)]
        last = list(schema.realms.select(txn, return_values=False, reverse=True, limit=2))
        everything = list(schema.realms.select(txn, limit=1000000 - 1, return_values=False))
        nothing = list(schema.realms.select(txn, return_keys=False, return_values=False, limit=2))
    assert first == ["realm0"]
    assert last == [OIDS[5], OIDS[4]]
    assert everything == OIDS
    assert nothing == [None, None]


def test_flatbuffers_cast_reads_from_a_buffer_transaction(router_db):
    db, schema = router_db
    with db.begin(buffers=True) as txn:
        realms = [s.realm for s in schema.sessions.select(txn, return_keys=False)]
        rec = schema.sessions[txn, OIDS[4]]
        assert (rec.oid, rec.session) == (OIDS[4], 1000)
    assert realms == [f"realm{i}" for i in range(6)]


def test_contains_and_missing_keys_read_as_none(router_db):
    db, schema = router_db
    with db.begin() as txn:
        assert (txn, OIDS[0]) in schema.realms
        assert (txn, uuid.UUID(int=999)) not in schema.realms
        assert schema.sessions[txn, uuid.UUID(int=999)] is None


def test_slots_catalogue_as_the_exporter_reads_it(router_db):
    db, schema = router_db
    slots = db._get_slots()
    assert isinstance(slots, dict)
    by_name = {slot.name: (oid, slot) for oid, slot in slots.items()}
    assert sorted(by_name) == [
        "IndexRealmsByName",
        "IndexRealmsByOwner",
        "IndexSessionsBySession",
        "Realms",
        "Sessions",
    ]
    oid, slot = by_name["Sessions"]
    assert oid == Sessions._zlmdb_oid and slot.oid == oid
    assert slot.slot == schema.sessions._slot == 1
    # the class docstring, stripped (Python 3.13+ dedents docstrings when compiling)
    assert slot.description == Sessions.__doc__.strip()
    assert slot.description.startswith("Sessions persisted by a router.\n\n")
    assert slot.description.endswith("Map from session oid to :class:`Session`.")
    assert slot.creator == "unknown"
    assert sorted(slot.marshal()) == ["creator", "description", "name", "oid", "slot"]


def test_exporter_walks_annotations_counts_and_serializes_keys(router_db):
    db, schema = router_db
    first_lines = {
        name: kind.__doc__.strip().splitlines()[0]
        for name, kind in RouterSchema.__annotations__.items()
    }
    assert first_lines["realms"] == "Realms by oid."
    exported = {}
    with db.begin() as txn:
        for name in RouterSchema.__annotations__:
            tab = schema.__dict__[name]
            records = []
            for key, value in tab.select(txn, return_keys=True, return_values=True):
                if hasattr(value, "marshal"):
                    value = value.marshal()
                records.append((tab._serialize_key(key), value))
            assert len(records) == tab.count(txn)
            exported[name] = records
    assert exported["realms"][0] == (
        OIDS[0].bytes,
        {"oid": OIDS[0].bytes, "name": "realm0", "owner": None},
    )
    assert exported["idx_realms_by_owner"][0][0] == OWNER.bytes + b"realm1"


def test_stats_with_slots_lists_every_catalogued_table(router_db):
    db, _ = router_db
    stats = db.stats(include_slots=True)
    assert stats["num_slots"] == 5
    rows = {row["name"]: row for row in stats["slots"]}
    assert sorted(rows["Realms"]) == ["description", "name", "oid", "records", "slot"]
    assert rows["Realms"]["records"] == 6
    assert rows["IndexRealmsByOwner"]["records"] == 3
    assert rows["Sessions"]["oid"] == str(Sessions._zlmdb_oid)


def test_database_open_returns_the_open_instance_and_the_constructor_refuses(router_db, dbpath):
    db, _ = router_db
    assert zlmdb.Database.open(dbpath=dbpath) is db
    with pytest.raises(RuntimeError, match="twice within same process"):
        zlmdb.Database(dbpath=dbpath)


def test_attaching_again_finds_the_same_slots(router_db):
    db, schema = router_db
    again = RouterSchema.attach(db)
    assert again.realms._slot == schema.realms._slot
    with db.begin() as txn:
        assert again.realms.count(txn) == 6


def test_reopened_read_only_database_reads_and_refuses_writes(dbpath):
    with zlmdb.Database(dbpath=dbpath, maxsize=2**24) as db:
        _fill(RouterSchema.attach(db), db)
    db = zlmdb.Database(dbpath, maxsize=2**24, readonly=True)
    try:
        schema = RouterSchema.attach(db)
        with db.begin() as txn:
            assert schema.sessions.count(txn) == 6
            assert schema.realms[txn, OIDS[2]].name == "realm2"
        # upstream raises a bare Exception("database is read-only")
        with pytest.raises(zlmdb.lmdb.ReadonlyError):
            with db.begin(write=True):
                pass
    finally:
        db.__exit__(None, None, None)


def test_scratch_removes_the_database_and_ignores_a_missing_one(dbpath):
    with zlmdb.Database(dbpath=dbpath) as db:
        RouterSchema.attach(db)
    zlmdb.Database.scratch(dbpath)
    assert not os.path.exists(dbpath)
    zlmdb.Database.scratch(dbpath)


# -- an event store: MapOid3FlatBuffers-like composite oids ------------------------------------


def test_event_range_count_and_select_per_publication(tmp_path):
    events = zlmdb.MapOid3FlatBuffers(1, build=Session.build, cast=Session.cast)
    with zlmdb.Database(str(tmp_path / "events")) as db:
        with db.begin(write=True) as txn:
            for pub in (7, 8, 9):
                for sub in (1, 2):
                    for receiver in (10, 11):
                        events[txn, (pub, sub, receiver)] = Session(session=receiver)
        with db.begin() as txn:
            total = events.count(txn)
            found = events.count_range(txn, from_key=(8, 0, 0), to_key=(8 + 1, 0, 0))
            receivers = [
                e.session
                for e in events.select(txn, from_key=(8, 0, 0), to_key=(9, 0, 0), return_keys=False)
            ]
    assert total == 12
    assert found == 4
    assert receivers == [10, 11, 10, 11]


# -- a TTL key-value store (FastAPI service over zlmdb) ----------------------------------------


def _identity(value):
    return value


def _expiry_dt(seconds):
    return np.datetime64(seconds, "s").astype("datetime64[ns]")


def _expiry_key(record):
    expires_at = record.get("expires_at") if isinstance(record, dict) else 0
    if not expires_at:
        return None, None  # a NULL index key: the record is not in the expiry index
    return _expiry_dt(expires_at), record["data_key"]


@pytest.fixture
def kv_store(tmp_path):
    path = tmp_path / "store.zlmdb"
    path.mkdir()
    db = zlmdb.Database(str(path), maxsize=64 * 2**20, sync=False, writemap=False)
    values = zlmdb.MapStringCbor(100, marshal=_identity, unmarshal=_identity)
    expiry = zlmdb.MapTimestampStringCbor(101, marshal=_identity, unmarshal=_identity)
    values.attach_index("expires_at", expiry, _expiry_key, nullable=True)
    with db.begin(write=True) as txn:
        for i in range(6):
            key = f"ns{i % 2}\0key{i}"
            values[txn, key] = {"data_key": key, "expires_at": (1000 + i) if i % 3 else 0, "v": i}
    yield db, values, expiry
    db.__exit__(None, None, None)


def test_kv_count_by_namespace_prefix(kv_store):
    db, values, _ = kv_store
    with db.begin() as txn:
        assert values.count(txn) == 6
        assert values.count(txn, prefix=None) == 6
        assert values.count(txn, prefix="ns0\0") == 3
        assert values.count(txn, prefix="ns1\0") == 3
        assert values[txn, "ns1\0key1"] == {"data_key": "ns1\0key1", "expires_at": 1001, "v": 1}
        assert values[txn, "ns9\0key1"] is None


def test_kv_expiry_index_holds_only_records_that_expire(kv_store):
    db, _, expiry = kv_store
    with db.begin() as txn:
        rows = list(expiry.select(txn))
    # the index value is the record's key, stored with the index map's (CBOR) serializer
    assert rows == [
        ((_expiry_dt(1001), "ns1\0key1"), "ns1\0key1"),
        ((_expiry_dt(1002), "ns0\0key2"), "ns0\0key2"),
        ((_expiry_dt(1004), "ns0\0key4"), "ns0\0key4"),
        ((_expiry_dt(1005), "ns1\0key5"), "ns1\0key5"),
    ]


def test_kv_expired_range_select_with_limit(kv_store):
    db, _, expiry = kv_store
    with db.begin() as txn:
        due = list(
            expiry.select(
                txn,
                from_key=(np.datetime64(0, "ns"), ""),
                to_key=(_expiry_dt(1003), "\uffff"),
                limit=100,
            )
        )
    assert [key for key, _ in due] == [
        (_expiry_dt(1001), "ns1\0key1"),
        (_expiry_dt(1002), "ns0\0key2"),
    ]


def test_kv_updates_and_deletes_keep_the_expiry_index_in_step(kv_store):
    db, values, expiry = kv_store
    with db.begin(write=True) as txn:
        del values[txn, "ns1\0key1"]
        del values[txn, "ns0\0key0"]  # never expired: no index record to remove
        values[txn, "ns0\0key2"] = {"data_key": "ns0\0key2", "expires_at": 5000, "v": 2}
        del expiry[txn, (_expiry_dt(1004), "ns0\0key4")]  # an index record, deleted directly
    with db.begin() as txn:
        keys = list(expiry.select(txn, return_values=False))
        left = list(values.select(txn, return_values=False))
    assert keys == [(_expiry_dt(1005), "ns1\0key5"), (_expiry_dt(5000), "ns0\0key2")]
    assert left == ["ns0\0key2", "ns0\0key4", "ns1\0key3", "ns1\0key5"]


def test_kv_stats_sync_and_exit(kv_store):
    db, _, _ = kv_store
    stats = db.stats(False)
    assert stats["num_slots"] == 0  # fixed slots are not catalogued
    assert {k: type(v) for k, v in stats.items() if k in ("free", "read_only", "entries")} == {
        "free": float,
        "read_only": bool,
        "entries": int,
    }
    assert stats["entries"] == 10
    assert db.sync(True) is None
    db.__exit__(None, None, None)
    assert not db.is_open
    db.__exit__(None, None, None)  # a second exit is harmless


def test_kv_reads_from_worker_threads(kv_store):
    db, values, _ = kv_store
    seen = []
    lock = threading.Lock()

    def read():
        with db.begin() as txn:
            value = values[txn, "ns1\0key3"]
        with lock:
            seen.append(value["v"])

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [3, 3, 3, 3]


# -- custom maps from upstream's mixins ---------------------------------------------------------


def test_custom_values_mixin_on_upstream_key_mixin(tmp_path):
    from zlmdb._pmap import PersistentMap
    from zlmdb._types import _StringKeysMixin

    class _ProtocolFourValuesMixin:
        def __init__(self, marshal=None, unmarshal=None):
            self._marshal = marshal
            self._unmarshal = unmarshal

        def _serialize_value(self, value):
            return pickle.dumps(value, protocol=4)

        def _deserialize_value(self, data):
            return pickle.loads(data)

    class MapStringFrames(_StringKeysMixin, _ProtocolFourValuesMixin, PersistentMap):
        def __init__(self, slot=None, compress=None):
            PersistentMap.__init__(self, slot=slot, compress=compress)

    class FrameSchema(zlmdb.Schema):
        samples: MapStringFrames

        def __init__(self):  # no super().__init__(), as in upstream's example
            self.samples = MapStringFrames(1)

    schema = FrameSchema()
    with zlmdb.Database(str(tmp_path / "frames")) as db:
        with db.begin(write=True) as txn:
            for i in range(4):
                schema.samples[txn, f"key{i}"] = {"i": i, "rows": list(range(i))}
    with zlmdb.Database(str(tmp_path / "frames")) as db:
        with db.begin() as txn:
            assert schema.samples[txn, "key2"] == {"i": 2, "rows": [0, 1]}
            assert list(schema.samples.select(txn, return_values=False)) == [
                "key0",
                "key1",
                "key2",
                "key3",
            ]
            raw = txn.get(b"\x00\x01key3")
    assert raw == pickle.dumps({"i": 3, "rows": [0, 1, 2]}, protocol=4)


# -- transaction statistics, compression, raw access -------------------------------------------


class PickleSchema(zlmdb.Schema):
    def __init__(self):
        super().__init__()
        self.zipped = zlmdb.MapOidPickle(2, compress=zlmdb.PersistentMap.COMPRESS_ZLIB)
        self.plain = zlmdb.MapOidPickle(3)


def test_transaction_stats_count_puts_and_deletes(tmp_path):
    schema = PickleSchema()
    stats = zlmdb.TransactionStats()
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with db.begin(write=True, stats=stats) as txn:
            for i in range(10):
                schema.zipped[txn, i] = "x" * 100
                schema.plain[txn, i] = b"y" * i
            del schema.plain[txn, 3]
            del schema.plain[txn, 99]  # missing: not counted
        assert (stats.puts, stats.dels) == (20, 1)
        assert isinstance(stats.started, int) and isinstance(stats.duration, int)
        stats.reset()
        assert (stats.puts, stats.dels) == (0, 0)


def test_zlib_compressed_values_are_stored_compressed(tmp_path):
    schema = PickleSchema()
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with db.begin(write=True) as txn:
            schema.zipped[txn, 5] = "x" * 100
        with db.begin() as txn:
            raw = txn.get(b"\x00\x02" + (5).to_bytes(8, "big"))
            assert zlib.decompress(raw) == pickle.dumps("x" * 100, protocol=2)
            assert schema.zipped[txn, 5] == "x" * 100
        with db.begin(buffers=True) as txn:
            assert schema.zipped[txn, 5] == "x" * 100


def test_raw_transaction_access_next_to_the_tables(tmp_path):
    schema = PickleSchema()
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with db.begin(write=True) as txn:
            for i in range(5):
                schema.plain[txn, i] = i
            assert txn.put(b"\x00\x09k", b"v") is True
            assert txn.put(b"\x00\x09k", b"w", overwrite=False) is False
            assert txn.delete(b"\x00\x09k") is True
            assert txn.delete(b"\x00\x09k") is False
            assert isinstance(txn.id(), int)
        with db.begin() as txn:
            assert txn.get(b"\x00\x03" + (4).to_bytes(8, "big")) == pickle.dumps(4, protocol=2)
            cursor = txn._txn.cursor()
            assert cursor.set_range(b"\x00\x03") is True
            assert cursor.key() == b"\x00\x03" + (0).to_bytes(8, "big")
            with pytest.raises(zlmdb.lmdb.ReadonlyError):
                txn.put(b"\x00\x09k", b"v")
            with pytest.raises(zlmdb.lmdb.ReadonlyError):
                schema.plain[txn, 100] = b"z"
        assert sorted(db._env.stat()) == [
            "branch_pages",
            "depth",
            "entries",
            "leaf_pages",
            "overflow_pages",
            "psize",
        ]


def test_value_serializer_hooks_are_callable_directly():
    tab = zlmdb.MapOidPickle(3)
    assert tab._serialize_value(b"abc") == pickle.dumps(b"abc", protocol=2)
    assert tab._deserialize_value(pickle.dumps(7, protocol=2)) == 7
    assert tab._serialize_key(5) == (5).to_bytes(8, "big")
    assert tab._deserialize_key((5).to_bytes(8, "big")) == 5


def test_a_failing_block_aborts_the_transaction(tmp_path):
    tab = zlmdb.MapOidCbor(5, marshal=_identity, unmarshal=_identity)
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with pytest.raises(KeyError):
            with db.begin(write=True) as txn:
                tab[txn, 7] = {"x": 1}
                raise KeyError("boom")
        with db.begin() as txn:
            assert tab[txn, 7] is None


def test_a_transaction_object_is_entered_again_for_each_batch(tmp_path):
    # upstream begins a new LMDB transaction on every __enter__ of the same object
    tab = zlmdb.MapOidCbor(5, marshal=_identity, unmarshal=_identity)
    stats = zlmdb.TransactionStats()
    with zlmdb.Database(str(tmp_path / "p")) as db:
        txn = db.begin(write=True, stats=stats)
        ids = []
        for batch in range(3):
            with txn:
                for i in range(4):
                    tab[txn, batch * 10 + i] = {"batch": batch}
                ids.append(txn.id())
        assert stats.puts == 12
        assert ids[0] < ids[1] < ids[2]
        with db.begin() as reader:
            assert tab.count(reader) == 12
            assert tab[reader, 23] == {"batch": 2}
        with pytest.raises(zlmdb.lmdb.Error):
            tab[txn, 99] = {}  # between batches it is not open
        with pytest.raises(zlmdb.lmdb.Error):
            with txn:
                with txn:  # but never twice at once
                    pass


def test_nested_read_transaction_sees_only_committed_data(tmp_path):
    tab = zlmdb.MapOidCbor(5, marshal=_identity, unmarshal=_identity)
    with zlmdb.Database(str(tmp_path / "p"), open_now=False) as db:
        with db.begin(write=True) as txn:
            tab[txn, 1] = {"a": 1}
            with db.begin() as reader:
                assert tab[reader, 1] is None
            assert tab[txn, 1] == {"a": 1}


# -- errors users catch --------------------------------------------------------------------------


def test_misuse_raises_documented_errors(tmp_path):
    users = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    by_name = zlmdb.MapStringOid(2)
    users.attach_index("idx1", by_name, lambda u: u.get("name"))
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with pytest.raises(zlmdb.NullValueConstraint):
            with db.begin(write=True) as txn:
                users[txn, 1] = {"name": None}
        assert issubclass(zlmdb.NullValueConstraint, RuntimeError)
        # upstream: bare Exception / AssertionError; ours: subclasses users can catch
        with pytest.raises(Exception, match="already exists"):
            users.attach_index("idx1", zlmdb.MapStringOid(3), lambda u: u)
        with pytest.raises(TypeError):
            db.attach_table(zlmdb.MapOidCbor)
        with pytest.raises(TypeError):
            db.attach_table(users)
        with db.begin() as txn:
            with pytest.raises(TypeError):
                users[txn, "not-an-oid"]
            with pytest.raises(TypeError):
                users[5]
            with pytest.raises(NotImplementedError):
                len(users)
            with pytest.raises(ValueError):
                list(users.select(txn, limit=0))
    with pytest.raises(zlmdb.lmdb.Error):
        db.begin().__enter__()


# -- module surface ------------------------------------------------------------------------------


def test_flatbuffers_runtime_modules_under_zlmdb():
    builder = flatbuffers.Builder(0)
    root = Session(OIDS[0], 5, np.datetime64(9, "ns"), "r").build(builder)
    builder.Finish(root)
    rec = Session.cast(builder.Output())
    assert (rec.oid, rec.session, rec.joined_at, rec.realm) == (
        OIDS[0],
        5,
        np.datetime64(9, "ns"),
        "r",
    )
    for name in ("encode", "packer", "number_types", "table", "builder", "util", "compat"):
        assert hasattr(zlmdb.flatbuffers, name), name


def test_timestamp_helpers_of_upstream_types_module():
    from zlmdb import _types

    data = _types.dt_to_bytes(np.datetime64(1, "ns"))
    assert data == b"\x00\x00\x00\x00\x00\x00\x00\x01"
    assert _types.bytes_to_dt(data) == np.datetime64(1, "ns")
    assert len(_types._random_string()) == 27
    assert isinstance(zlmdb.MapUuidCbor.new_key(), uuid.UUID)


@pytest.mark.parametrize(
    "expression",
    [
        "zlmdb._types.dt_to_bytes(numpy.datetime64(1, 'ns'))",
        "zlmdb._pmap.PersistentMap",
        "zlmdb._database.Database",
        "zlmdb._transaction.TransactionStats",
        "zlmdb._schema.Schema",
        "zlmdb._errors.NullValueConstraint",
    ],
)
def test_upstream_private_modules_are_attributes_after_a_bare_import(expression):
    # upstream's __init__ imports these, so client code reaches them without importing them;
    # a fresh interpreter, so that no earlier import of the submodule hides a missing one
    code = f"import numpy, zlmdb; print(repr({expression}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_unknown_private_names_still_raise_attribute_error():
    assert not hasattr(zlmdb, "_no_such_module")


def test_upstream_types_module_constants_and_clock():
    from zlmdb import _pmap, _types

    before = _types.time_ns()
    assert isinstance(before, int) and before > 1_500_000_000 * 10**9
    assert _types.HAS_NUMPY is True
    assert (_types.CHAR_GROUPS, _types.CHARS_PER_GROUP, _types.GROUP_SEP) == (4, 6, "-")
    groups = _types._random_string().split(_types.GROUP_SEP)
    assert [len(g) for g in groups] == [_types.CHARS_PER_GROUP] * _types.CHAR_GROUPS
    assert all(c in _types.CHARSET for g in groups for c in g)
    assert isinstance(_pmap.HAS_SNAPPY, bool)


_RESET_REGISTRY = """
import zlmdb

@zlmdb.table("a1b2c3d4-0000-4000-8000-000000000001", marshal=repr, parse=eval)
class Before(zlmdb.MapUuidCbor):
    pass

assert zlmdb.TABLES_BY_UUID[Before._zlmdb_oid] is Before
zlmdb.TABLES_BY_UUID = {}  # what cfxdb's test modules do before defining their tables

@zlmdb.table("a1b2c3d4-0000-4000-8000-000000000001", marshal=str, parse=str)
class After(zlmdb.MapUuidCbor):
    pass

assert After is not None and After._zlmdb_marshal is str
assert list(zlmdb.TABLES_BY_UUID.values()) == [After]
print("ok")
"""


def test_rebinding_tables_by_uuid_starts_a_new_registry():
    # in a fresh interpreter: the rebinding must not leak into this test run's registry
    out = subprocess.run([sys.executable, "-c", _RESET_REGISTRY], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_the_same_uuid_with_other_hooks_still_conflicts_without_a_reset():
    @zlmdb.table("a1b2c3d4-0000-4000-8000-000000000002", marshal=repr, parse=eval)
    class First(zlmdb.MapUuidCbor):
        pass

    with pytest.raises(zlmdb.TableDefinitionError):

        @zlmdb.table("a1b2c3d4-0000-4000-8000-000000000002", marshal=str, parse=str)
        class Second(zlmdb.MapUuidCbor):
            pass


# -- db.log: upstream hands out a txaio logger, and clients log through it -------------------


def test_database_log_takes_txaio_style_calls(tmp_path, caplog):
    # crossbar's event store: self.log = db.log; self.log.info("... {cnt} ...", cnt=cnt)
    with zlmdb.Database(str(tmp_path / "p")) as db:
        log = db.log
        with caplog.at_level(logging.DEBUG, logger="zlmdb"):
            log.info("Starting store ..")
            log.debug("processed {cnt} records in {duration_ms} ms", cnt=3, duration_ms=7)
            log.warn("writer hit {errs} errors", errs=1)
            log.error("{klass}: session {session} not in store", klass="Store", session=42)
            log.trace("not shown at DEBUG {x}", x=1)
            try:
                raise ValueError("bad record")
            except ValueError:
                log.failure()
                log.failure("could not store {what}", what="event")
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "zlmdb"]
    assert messages == [
        (logging.INFO, "Starting store .."),
        (logging.DEBUG, "processed 3 records in 7 ms"),
        (logging.WARNING, "writer hit 1 errors"),
        (logging.ERROR, "Store: session 42 not in store"),
        (logging.ERROR, "bad record"),
        (logging.ERROR, "could not store event"),
    ]
    failures = [r for r in caplog.records if r.getMessage() == "bad record"]
    assert failures[0].exc_info[0] is ValueError


def test_database_log_also_takes_logging_style_calls_and_bad_formats(tmp_path, caplog):
    with zlmdb.Database(str(tmp_path / "p")) as db:
        with caplog.at_level(logging.INFO, logger="zlmdb"):
            db.log.info("opened %s with %d tables", "db", 2)
            db.log.info("missing {field}", other=1)  # never raises
            db.log.info("literal {braces} kept")
    assert [r.getMessage() for r in caplog.records if r.name == "zlmdb"] == [
        "opened db with 2 tables",
        "missing {field} {'other': 1}",
        "literal {braces} kept",
    ]


def test_database_log_is_the_callers_logger_when_given(tmp_path):
    class Recorder:
        def __init__(self):
            self.lines = []

        def info(self, fmt, **kw):
            self.lines.append(fmt.format(**kw))

    recorder = Recorder()
    with zlmdb.Database(str(tmp_path / "p"), log=recorder) as db:
        assert db.log is recorder
        db.log.info("{n} tables", n=0)
    assert recorder.lines == ["0 tables"]


@pytest.mark.parametrize(
    "name",
    [
        "MapOidCbor",
        "MapOidOidOid",
        "MapOid3FlatBuffers",
        "MapOidTimestampOid",
        "MapOidTimestampStringOid",
        "MapOidStringOid",
        "MapStringOidOid",
        "MapUuidCbor",
    ],
)
def test_new_key_takes_upstreams_secure_flag(name):
    # upstream's OID key mixins have new_key(secure=False)
    kind = getattr(zlmdb, name)
    for secure in (True, False):
        key = kind.new_key(secure=secure)
        assert kind.__new__(kind)._serialize_key(key)


# -- page layout: stats() as upstream's one put per record gives it ------------------------------


def _layout(env):
    stat = env.stat()
    return {k: stat[k] for k in ("depth", "branch_pages", "leaf_pages", "overflow_pages")}


def test_buffered_writes_split_pages_as_one_put_per_record(tmp_path):
    # cfxdb's test_dbstats asserts the exact page count and "free" after 10,000 inserts:
    # the ORM's write buffer must leave the B-tree as single puts in the same order would
    records = [
        (i, {"name": f"user-{(i * 7919) % 5000:05d}", "pad": "x" * (300 + i % 50)})
        for i in range(5000)
    ]
    users = zlmdb.MapOidCbor(1, marshal=_identity, unmarshal=_identity)
    by_name = zlmdb.MapStringOid(2)
    users.attach_index("by_name", by_name, lambda u: u["name"])
    with zlmdb.Database(str(tmp_path / "orm"), maxsize=2**27) as db:
        with db.begin(write=True) as txn:
            for oid, user in records:
                users[txn, oid] = user
        orm_layout = _layout(db._env)
        orm_pages = db.stats()["pages"]
        engine = db._env.lib_version()[0]  # the raw copy in the same LMDB file format
        with db.begin() as txn:
            pairs = list(txn._txn.cursor().iternext())
    # the same records, one put each, in the order the table and its index write them
    env = zlmdb.lmdb.open(str(tmp_path / "raw"), map_size=2**27, lib_version=engine)
    by_key = dict(pairs)
    with env.begin(write=True) as txn:
        for oid, user in records:
            key = b"\x00\x01" + oid.to_bytes(8, "big")
            txn.put(key, by_key[key])
            index_key = b"\x00\x02" + user["name"].encode()
            txn.put(index_key, by_key[index_key])
    raw_layout = _layout(env)
    env.close()
    assert orm_layout == raw_layout
    assert orm_pages == raw_layout["branch_pages"] + raw_layout["leaf_pages"]


# -- a custom key hook that stores several spellings alike ----------------------------------------


class CaselessNames(zlmdb.MapStringCbor):
    """Keys fold case on the way in (a user-written _serialize_key), as in upstream's docs."""

    def _serialize_key(self, key):
        return key.lower().encode("utf8")

    def _deserialize_key(self, data):
        return bytes(data).decode("utf8")


@pytest.fixture
def caseless(tmp_path):
    db = zlmdb.Database(str(tmp_path / "caseless"))
    names = CaselessNames(1, marshal=_identity, unmarshal=_identity)
    by_tag = zlmdb.MapStringString(2)
    names.attach_index("by_tag", by_tag, lambda v: v["tag"])
    with db.begin(write=True) as txn:
        names[txn, "Hello"] = {"tag": "h"}
        names[txn, "WORLD"] = {"tag": "w"}
    yield db, names, by_tag
    db.close()


def test_custom_key_hook_reads_and_ranges(caseless):
    db, names, by_tag = caseless
    with db.begin() as txn:
        assert names[txn, "HELLO"] == {"tag": "h"}
        assert list(names.select(txn, return_values=False)) == ["hello", "world"]
        assert names.count(txn, prefix="hel") == 1
        # the index value is the key as the caller spelled it
        assert list(by_tag.select(txn)) == [("h", "Hello"), ("w", "WORLD")]


def test_custom_key_hook_delete_under_another_spelling_removes_the_index_record(caseless):
    db, names, by_tag = caseless
    with db.begin(write=True) as txn:
        del names[txn, "hello"]
    with db.begin() as txn:
        assert list(names.select(txn, return_values=False)) == ["world"]
        assert list(by_tag.select(txn)) == [("w", "WORLD")]


def test_custom_key_hook_update_under_another_spelling_is_the_same_record(caseless):
    db, names, by_tag = caseless
    with db.begin(write=True) as txn:
        names[txn, "HELLO"] = {"tag": "h", "v": 2}  # same record: no unique conflict
        names[txn, "world"] = {"tag": "x"}  # index key moves: the old one goes
    with db.begin() as txn:
        assert names[txn, "hello"] == {"tag": "h", "v": 2}
        assert list(by_tag.select(txn)) == [("h", "HELLO"), ("x", "world")]
