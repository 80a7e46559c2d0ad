"""Every Map class: names, constructor signatures, round trips, key order and NULL reads."""

from __future__ import annotations

import inspect

import pytest
from samples import KEY_PAIRS, equal, make_map, value_samples

import zlmdb
from zlmdb.orm import EXTRA_MAPS, MAP_TABLE

UPSTREAM_MAPS = {
    "MapSlotUuidUuid", "MapUuidString", "MapUuidOid", "MapUuidJson", "MapUuidCbor",
    "MapUuidPickle", "MapUuidFlatBuffers", "MapUuidTimestampFlatBuffers",
    "MapTimestampUuidFlatBuffers", "MapTimestampFlatBuffers", "MapTimestampStringFlatBuffers",
    "MapTimestampUuidStringFlatBuffers", "MapUuidTimestampUuidFlatBuffers",
    "MapUuidBytes20Uint8FlatBuffers", "MapUuidBytes20Uint8UuidFlatBuffers",
    "MapUuidBytes20Bytes20Uint8UuidFlatBuffers", "MapUint16UuidTimestampFlatBuffers",
    "MapUuidUuid", "MapUuidStringUuid", "MapUuidUuidStringUuid", "MapUuidUuidUuidStringUuid",
    "MapUint64TimestampUuid", "MapUuidUuidSet", "MapUuidStringOid", "MapUuidUuidFlatBuffers",
    "MapUuidStringFlatBuffers", "MapUuidUuidCbor", "MapUuidUuidUuid", "MapUuidUuidUuidUuid",
    "MapUuidUuidUuidUuidUuid", "MapUuidTimestampUuid", "MapUuidTimestampBytes32",
    "MapUuidTimestampCbor", "MapTimestampUuidCbor", "MapStringUuid", "MapStringStringUuid",
    "MapStringStringStringUuid", "MapStringOid", "MapStringOidOid", "MapStringJson",
    "MapStringCbor", "MapStringPickle", "MapStringFlatBuffers", "MapStringTimestampCbor",
    "MapTimestampStringCbor", "MapStringString", "MapOidString", "MapOidUuid", "MapOidJson",
    "MapOidCbor", "MapOidPickle", "MapOidFlatBuffers", "MapOidOidFlatBuffers",
    "MapOidTimestampFlatBuffers", "MapOid3FlatBuffers", "MapOidOid", "MapOidOidSet",
    "MapOidStringOid", "MapOidOidOid", "MapOidTimestampOid", "MapOidTimestampStringOid",
    "MapBytes32Uuid", "MapBytes32Timestamp", "MapBytes32Bytes32", "MapBytes32FlatBuffers",
    "MapBytes32UuidFlatBuffers", "MapUuidBytes32FlatBuffers", "MapBytes32Bytes32FlatBuffers",
    "MapBytes32StringFlatBuffers", "MapTimestampBytes32FlatBuffers",
    "MapUuidUuidStringFlatBuffers", "MapBytes20Uuid", "MapBytes20Bytes16", "MapBytes20Bytes20",
    "MapBytes20Bytes20Timestamp", "MapBytes20TimestampBytes20", "MapBytes20TimestampUuid",
    "MapBytes20FlatBuffers", "MapBytes20Bytes20FlatBuffers", "MapBytes20StringFlatBuffers",
    "MapBytes16FlatBuffers", "MapBytes16TimestampUuid", "MapBytes16TimestampUuidFlatBuffers",
}  # fmt: skip

ALL = [(name, key, value) for name, key, value in MAP_TABLE]
IDS = [name for name, _, _ in ALL]


def test_all_83_upstream_maps_are_exported():
    exported = {n for n in zlmdb.__all__ if n.startswith("Map")}
    assert len(UPSTREAM_MAPS) == 83
    assert exported == UPSTREAM_MAPS | set(EXTRA_MAPS)


@pytest.mark.parametrize("name", sorted(UPSTREAM_MAPS))
def test_constructor_signature_matches_upstream(name):
    params = list(inspect.signature(getattr(zlmdb, name).__init__).parameters)
    value = name[len("Map") :]
    if value.endswith(("Json", "Cbor")):
        assert params == ["self", "slot", "compress", "marshal", "unmarshal"]
    elif value.endswith("FlatBuffers"):
        assert params == ["self", "slot", "compress", "build", "cast"]
    else:
        assert params == ["self", "slot", "compress"]


def test_slot_may_be_passed_positionally():
    assert zlmdb.MapOidPickle(7).slot == 7


def test_maps_are_persistent_maps_with_upstream_mixins():
    import zlmdb._types as types

    assert issubclass(zlmdb.MapUuidCbor, types._UuidKeysMixin)
    assert issubclass(zlmdb.MapUuidCbor, types._CborValuesMixin)
    assert issubclass(zlmdb.MapUuidCbor, zlmdb.PersistentMap)


@pytest.mark.parametrize("name,key_kind,value_kind", ALL, ids=IDS)
def test_round_trip(tmp_path, name, key_kind, value_kind):
    table = make_map(name)
    low, high = KEY_PAIRS[key_kind]
    (v1, r1), (v2, r2) = value_samples(value_kind)
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin(write=True) as txn:
            table[txn, low] = v1
            table[txn, high] = v2
        with db.begin() as txn:
            assert equal(table[txn, low], r1)
            assert equal(table[txn, high], r2)


@pytest.mark.parametrize("name,key_kind,value_kind", ALL, ids=IDS)
def test_select_decodes_keys_in_byte_order(tmp_path, name, key_kind, value_kind):
    table = make_map(name)
    low, high = KEY_PAIRS[key_kind]
    (v1, _), _ = value_samples(value_kind)
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin(write=True) as txn:
            table[txn, high] = v1
            table[txn, low] = v1
        with db.begin() as txn:
            keys = list(table.select(txn, return_values=False))
    assert len(keys) == 2
    assert equal(keys[0], low) and equal(keys[1], high)


@pytest.mark.parametrize("name,key_kind,value_kind", ALL, ids=IDS)
def test_missing_key_reads_none(tmp_path, name, key_kind, value_kind):
    table = make_map(name)
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin() as txn:
            assert table[txn, KEY_PAIRS[key_kind][0]] is None


@pytest.mark.parametrize("name,key_kind,value_kind", ALL, ids=IDS)
def test_buffers_transaction_reads_the_same_values(tmp_path, name, key_kind, value_kind):
    table = make_map(name)
    low, _ = KEY_PAIRS[key_kind]
    (v1, r1), _ = value_samples(value_kind)
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin(write=True) as txn:
            table[txn, low] = v1
        with db.begin(buffers=True) as txn:
            assert equal(table[txn, low], r1)
            ((key, value),) = list(table.select(txn))
            assert equal(key, low) and equal(value, r1)


def test_compressed_map_round_trip(tmp_path):
    table = zlmdb.MapOidPickle(1, compress=zlmdb.PersistentMap.COMPRESS_ZLIB)
    value = {"text": "x" * 1000}
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin(write=True) as txn:
            table[txn, 1] = value
            assert len(txn.get(b"\x00\x01" + b"\x00" * 7 + b"\x01")) < 100
        with db.begin() as txn:
            assert table[txn, 1] == value


def test_unknown_compression_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.MapOidPickle(1, compress=7)


def test_json_map_without_hooks_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidJson(1)


@pytest.mark.parametrize("slot", [0, 65536, -1])
def test_slot_out_of_range_raises_value_error(slot):
    with pytest.raises(ValueError):
        zlmdb.MapOidPickle(slot)


def test_slot_of_wrong_type_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidPickle("1")


def test_new_key_of_mixins_returns_valid_keys():
    for name in IDS:
        table = make_map(name)
        table._serialize_key(type(table).new_key())


def test_custom_map_from_upstream_mixins(tmp_path):
    import zlmdb._types as types

    class MapUuidCborCustom(types._UuidKeysMixin, types._CborValuesMixin, zlmdb.PersistentMap):
        def __init__(self, slot=None, compress=None, marshal=None, unmarshal=None):
            zlmdb.PersistentMap.__init__(self, slot=slot, compress=compress)
            types._CborValuesMixin.__init__(self, marshal=marshal, unmarshal=unmarshal)

    table = MapUuidCborCustom(3, marshal=lambda v: v, unmarshal=lambda v: v)
    key = KEY_PAIRS["Uuid"][0]
    with zlmdb.Database(str(tmp_path / "db")) as db:
        with db.begin(write=True) as txn:
            table[txn, key] = {"a": 1}
        with db.begin(buffers=True) as txn:
            assert table[txn, key] == {"a": 1}
