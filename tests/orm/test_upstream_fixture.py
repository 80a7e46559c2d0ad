"""Compatibility with upstream zlmdb 26.10.1: read the database it wrote, write the same
records and compare bytes (fixture: fixtures/make_upstream_fixture.py)."""

from __future__ import annotations

import json
import os
import shutil
import uuid

import numpy as np
import pytest
from user_model import User

import zlmdb

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "upstream")
with open(os.path.join(FIXTURE, "expected.json"), encoding="utf8") as _f:
    EXPECTED = json.load(_f)
RECORDS = EXPECTED["records"]
RECORD_IDS = [f"{r['map']}-{i}" for i, r in enumerate(RECORDS)]


def decode(value):
    """Inverse of the fixture script's tagged JSON encoding."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "$uuid":
        return uuid.UUID(inner)
    if tag == "$ts":
        return np.datetime64(inner, "ns")
    if tag == "$bytes":
        return bytes.fromhex(inner)
    if tag == "$tuple":
        return tuple(decode(v) for v in inner)
    if tag == "$set":
        return {decode(v) for v in inner}
    if tag == "$dict":
        return {decode(k): decode(v) for k, v in inner}
    if tag == "$user":
        return User.parse(decode(inner))
    raise ValueError(tag)


def identity(value):
    return value


def make_table(name, slot, compress=None):
    klass = getattr(zlmdb, name)
    kind = klass.__mro__[2]._VALUE_KIND
    if kind == "marshal":
        return klass(slot, compress=compress, marshal=identity, unmarshal=identity)
    if kind == "flatbuffers":
        return klass(slot, compress=compress, build=User.build, cast=User.cast)
    return klass(slot, compress=compress)


def read_back(name, value):
    """What a stored value reads back as (upstream stores None as empty / zero UUID)."""
    if value is None and name.endswith("Uuid"):
        return uuid.UUID(int=0)
    return value


def same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# The same records in the two file formats: LMDB 0.9 (upstream's lib_version="0.9") and
# LMDB 1.0 (upstream's default, fixtures/upstream10: expected.json is the same).
FORMATS = {"0.9": FIXTURE, "1.0": os.path.join(os.path.dirname(FIXTURE), "upstream10")}


@pytest.fixture(scope="module", params=sorted(FORMATS), ids=lambda f: f"lmdb{f}")
def upstream_db(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("upstream") / "db"
    os.makedirs(path)
    shutil.copy(os.path.join(FORMATS[request.param], "data.mdb"), path / "data.mdb")
    with zlmdb.Database(str(path), readonly=True) as db:
        assert db.lib_version == request.param
        yield db


@pytest.mark.parametrize("record", RECORDS, ids=RECORD_IDS)
def test_reads_upstream_value(upstream_db, record):
    table = make_table(record["map"], record["slot"], record["compress"])
    with upstream_db.begin() as txn:
        assert same(
            table[txn, decode(record["key"])], read_back(record["map"], decode(record["value"]))
        )


@pytest.mark.parametrize("record", RECORDS, ids=RECORD_IDS)
def test_serializes_key_like_upstream(record):
    table = make_table(record["map"], record["slot"], record["compress"])
    assert table._serialize_key(decode(record["key"])).hex() == record["key_bytes"]


SET_MAPS = {"MapUuidUuidSet": 16, "MapOidOidSet": 8}
SET_SLOTS = {r["slot"]: SET_MAPS[r["map"]] for r in RECORDS if r["map"] in SET_MAPS}


def set_chunks(hex_value, size):
    """Set values: upstream wrote members in set iteration order, we write them sorted."""
    data = bytes.fromhex(hex_value)
    return sorted(data[i : i + size] for i in range(0, len(data), size))


def normalized(raw):
    out = []
    for key, value in raw:
        slot = int(key[:4], 16)
        out.append([key, set_chunks(value, SET_SLOTS[slot]) if slot in SET_SLOTS else value])
    return out


@pytest.mark.parametrize("record", RECORDS, ids=RECORD_IDS)
def test_serializes_value_like_upstream(record):
    table = make_table(record["map"], record["slot"], record["compress"])
    ours = table._encode_value(decode(record["value"])).hex()
    if record["map"] in SET_MAPS:
        size = SET_MAPS[record["map"]]
        assert set_chunks(ours, size) == set_chunks(record["value_bytes"], size)
    else:
        assert ours == record["value_bytes"]


@pytest.mark.parametrize(
    "record", EXPECTED["null_keys"], ids=[r["map"] for r in EXPECTED["null_keys"]]
)
def test_serializes_null_key_parts_like_upstream(record):
    table = make_table(record["map"], 1)
    assert table._serialize_key(decode(record["key"])).hex() == record["key_bytes"]


def test_select_decodes_every_upstream_key(upstream_db):
    by_slot = {}
    for record in RECORDS:
        by_slot.setdefault((record["map"], record["slot"], record["compress"]), []).append(record)
    with upstream_db.begin() as txn:
        for (name, slot, compress), records in by_slot.items():
            table = make_table(name, slot, compress)
            found = sorted(
                table.select(txn, return_values=False), key=lambda k: table._serialize_key(k)
            )
            expected = sorted(
                (decode(r["key"]) for r in records), key=lambda k: table._serialize_key(k)
            )
            assert len(found) == len(expected) and all(
                same(a, b) for a, b in zip(found, expected)
            ), name


def test_index_records_point_to_table_keys(upstream_db):
    index = zlmdb.MapStringOid(EXPECTED["indexed"]["index_slot"])
    with upstream_db.begin() as txn:
        assert list(index.select(txn)) == [("alice", 1), ("bob", 2), ("carol", 3)]


@zlmdb.table("8a2b6a1c-7d0e-4c55-9f3b-1c2d3e4f5a6b", marshal=User.marshal, parse=User.parse)
class Users(zlmdb.MapOidCbor):
    """All users, by oid."""


@zlmdb.table("0d9f8e7c-6b5a-4938-8271-605f4e3d2c1b", build=User.build, cast=User.cast)
class UserLog(zlmdb.MapTimestampUuidFlatBuffers):
    """Changes of users over time."""


def test_catalogued_tables_are_found_in_upstream_slots(upstream_db):
    users = upstream_db.attach_table(Users)
    log = upstream_db.attach_table(UserLog)
    key, value = EXPECTED["table_records"]["UserLog"]
    with upstream_db.begin() as txn:
        assert users.slot == EXPECTED["tables"]["Users"]["slot"]
        assert users[txn, 7] == decode(EXPECTED["table_records"]["Users"][1])
        assert log[txn, decode(key)] == decode(value)


def test_writing_the_same_records_gives_upstreams_database(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), maxsize=2**24) as db:
        with db.begin(write=True) as txn:
            for record in RECORDS:
                table = make_table(record["map"], record["slot"], record["compress"])
                table[txn, decode(record["key"])] = decode(record["value"])
            users = zlmdb.MapOidCbor(400, marshal=User.marshal, unmarshal=User.parse)
            users.attach_index("by_authid", zlmdb.MapStringOid(401), lambda u: u.authid)
            for item in EXPECTED["indexed"]["users"]:
                users[txn, item["oid"]] = decode(item["user"])
        users_table = db.attach_table(Users)
        log = db.attach_table(UserLog)
        with db.begin(write=True) as txn:
            users_table[txn, 7] = decode(EXPECTED["table_records"]["Users"][1])
            key, value = EXPECTED["table_records"]["UserLog"]
            log[txn, decode(key)] = decode(value)
        with db.begin() as txn:
            raw = [[bytes(k).hex(), bytes(v).hex()] for k, v in txn._txn.cursor().iternext()]
    assert normalized(raw) == normalized(EXPECTED["raw"])
