"""Key codecs: exact bytes (upstream layouts), validation errors, NULL parts, decoding."""

from __future__ import annotations

import struct
import uuid

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zlmdb
from zlmdb._types import bytes_to_dt, dt_to_bytes
from zlmdb.orm._keys import KEY_CODECS

U1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
T1 = np.datetime64(1_600_000_000_000_000_000, "ns")
MAX_OID = 2**53


def key_bytes(map_name, key):
    return getattr(zlmdb, map_name)(1)._serialize_key(key)


# -- exact layouts ----------------------------------------------------------------------------


def test_oid_key_is_8_bytes_big_endian():
    assert key_bytes("MapOidOid", 258) == b"\x00" * 6 + b"\x01\x02"


def test_timestamp_key_is_big_endian_nanoseconds():
    assert key_bytes("MapTimestampFlatBuffers", T1) == struct.pack(">q", 1_600_000_000_000_000_000)


def test_negative_timestamp_is_twos_complement():
    assert key_bytes("MapTimestampFlatBuffers", np.datetime64(-1, "ns")) == b"\xff" * 8


def test_oid_timestamp_key_keeps_upstreams_little_endian_timestamp():
    expected = struct.pack(">Q", 9) + struct.pack("<q", 1_600_000_000_000_000_000)
    assert key_bytes("MapOidTimestampOid", (9, T1)) == expected


def test_uint16_part_is_little_endian():
    assert key_bytes("MapUint16UuidTimestampFlatBuffers", (1, U1, T1))[:2] == b"\x01\x00"


def test_string_string_parts_are_joined_by_nul():
    assert key_bytes("MapStringStringUuid", ("ab", "c")) == b"ab\x00c"


def test_uuid_bytes32_key_is_uuid_then_bytes():
    assert key_bytes("MapUuidBytes32FlatBuffers", (U1, b"\x07" * 32)) == U1.bytes + b"\x07" * 32


def test_slot_uuid_key_is_uint16_big_endian_then_uuid():
    assert key_bytes("MapSlotUuidUuid", (258, U1)) == b"\x01\x02" + U1.bytes


def test_non_nanosecond_timestamp_is_converted_to_nanoseconds():
    seconds = np.datetime64(1_600_000_000, "s")
    assert key_bytes("MapTimestampFlatBuffers", seconds) == key_bytes("MapTimestampFlatBuffers", T1)


def test_dt_helpers_round_trip():
    assert dt_to_bytes(T1) == struct.pack(">q", int(T1.astype(np.int64)))
    assert bytes_to_dt(dt_to_bytes(T1)) == T1


# -- NULL parts -----------------------------------------------------------------------------


def test_none_in_uuid_composite_becomes_zero_uuid():
    assert key_bytes("MapUuidUuidUuid", (None, U1)) == bytes(16) + U1.bytes


def test_none_timestamp_in_composite_becomes_zero():
    assert key_bytes("MapUuidTimestampUuid", (U1, None)) == U1.bytes + bytes(8)


def test_falsy_first_part_of_bytes20_timestamp_becomes_zeros():
    assert key_bytes("MapBytes20TimestampUuid", (b"", T1))[:20] == bytes(20)


def test_none_in_oid_composite_is_rejected():
    with pytest.raises(TypeError):
        key_bytes("MapOidOidOid", (None, 1))


def test_none_as_single_uuid_key_is_rejected():
    with pytest.raises(TypeError):
        key_bytes("MapUuidUuid", None)


# -- validation errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "map_name,key",
    [
        ("MapOidOid", "1"),
        ("MapOidOid", 1.0),
        ("MapOidOid", True),
        ("MapUuidUuid", str(U1)),
        ("MapStringUuid", b"abc"),
        ("MapBytes20Uuid", "x" * 20),
        ("MapTimestampFlatBuffers", 5),
        ("MapOidOidOid", [1, 2]),
        ("MapOidOidOid", (1, 2, 3)),
        ("MapOidOidOid", (1,)),
        ("MapUuidUuidUuid", U1),
        ("MapStringOidOid", ("a", "b")),
        ("MapUuidBytes20Uint8FlatBuffers", (U1, bytes(20), "1")),
    ],
)
def test_wrong_key_type_or_arity_raises_type_error(map_name, key):
    with pytest.raises(TypeError):
        key_bytes(map_name, key)


@pytest.mark.parametrize(
    "map_name,key",
    [
        ("MapOidOid", -1),
        ("MapOidOid", MAX_OID + 1),
        ("MapBytes20Uuid", bytes(19)),
        ("MapBytes32Uuid", bytes(33)),
        ("MapUuidBytes20Uint8FlatBuffers", (U1, bytes(20), 256)),
        ("MapUint16UuidTimestampFlatBuffers", (65536, U1, T1)),
        ("MapSlotUuidUuid", (-1, U1)),
        ("MapStringStringUuid", ("a\x00b", "c")),
    ],
)
def test_out_of_range_key_raises_value_error(map_name, key):
    with pytest.raises(ValueError):
        key_bytes(map_name, key)


def test_max_oid_is_valid():
    assert key_bytes("MapOidOid", MAX_OID) == struct.pack(">Q", MAX_OID)


def test_uint8_part_accepts_upstreams_one_tuple():
    table = zlmdb.MapUuidBytes20Uint8FlatBuffers(1)
    assert table._serialize_key((U1, bytes(20), (5,))) == table._serialize_key((U1, bytes(20), 5))


def test_uint64_part_takes_full_range():
    assert key_bytes("MapUint64TimestampUuid", (2**64 - 1, T1))[:8] == b"\xff" * 8


# -- decoding fixes ----------------------------------------------------------------------------


def test_string_oid_key_decodes_whole_string():
    table = zlmdb.MapStringOidOid(1)
    assert table._deserialize_key(table._serialize_key(("a-long-user-name", 3))) == (
        "a-long-user-name",
        3,
    )


def test_string_string_key_decodes_to_str():
    table = zlmdb.MapStringStringStringUuid(1)
    assert table._deserialize_key(b"a\x00b\x00c") == ("a", "b", "c")


def test_uint8_part_decodes_to_int():
    table = zlmdb.MapUuidBytes20Uint8FlatBuffers(1)
    assert table._deserialize_key(U1.bytes + bytes(20) + b"\x09") == (U1, bytes(20), 9)


def test_oid_timestamp_string_key_decodes():
    table = zlmdb.MapOidTimestampStringOid(1)
    key = (3, T1, "x")
    assert table._deserialize_key(table._serialize_key(key)) == key


def test_lone_surrogate_in_string_key_raises_value_error():
    with pytest.raises(ValueError):
        key_bytes("MapStringOid", "\ud800")


def test_wrong_length_key_data_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.MapUuidUuidUuid(1)._deserialize_key(bytes(31))


# -- ordering ----------------------------------------------------------------------------------


@given(st.integers(0, MAX_OID), st.integers(0, MAX_OID))
def test_oid_byte_order_is_numeric_order(a, b):
    table = zlmdb.MapOidOid(1)
    assert (table._serialize_key(a) < table._serialize_key(b)) == (a < b)


@given(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1))
def test_non_negative_timestamp_byte_order_is_time_order(a, b):
    table = zlmdb.MapTimestampFlatBuffers(1)
    ka = table._serialize_key(np.datetime64(a, "ns"))
    kb = table._serialize_key(np.datetime64(b, "ns"))
    assert (ka < kb) == (a < b)


# UTF-8 cannot encode lone surrogates (category Cs): such strings raise UnicodeEncodeError,
# a ValueError, like any other unencodable key
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
TEXT_NO_NUL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
)


@given(TEXT, TEXT)
def test_string_keys_round_trip(a, b):
    table = zlmdb.MapStringTimestampCbor(1, marshal=lambda v: v, unmarshal=lambda v: v)
    assert table._deserialize_key(table._serialize_key((a + b, T1))) == (a + b, T1)


# -- every codec round-trips arbitrary keys ------------------------------------------------------

_PART_STRATEGIES = {
    "Uuid": st.uuids(),
    "Oid": st.integers(0, MAX_OID),
    "Uint64": st.integers(0, 2**64 - 1),
    "Uint8": st.integers(0, 255),
    "Uint16": st.integers(0, 65535),
    "Slot": st.integers(0, 65535),
    "Timestamp": st.integers(-(2**63) + 1, 2**63 - 1).map(lambda n: np.datetime64(n, "ns")),
    "Bytes16": st.binary(min_size=16, max_size=16),
    "Bytes20": st.binary(min_size=20, max_size=20),
    "Bytes32": st.binary(min_size=32, max_size=32),
}


def _key_strategy(codec):
    parts = []
    for part in codec.parts:
        if part.name == "String":
            parts.append(TEXT_NO_NUL if codec.separator else TEXT)
        else:
            parts.append(_PART_STRATEGIES[part.name])
    return parts[0] if len(parts) == 1 else st.tuples(*parts)


@pytest.mark.parametrize("name", sorted(KEY_CODECS))
def test_codec_round_trips_arbitrary_keys(name):
    codec = KEY_CODECS[name]

    @settings(max_examples=40, deadline=None)
    @given(_key_strategy(codec))
    def check(key):
        decoded = codec.decode(codec.encode(key))
        assert decoded == key if not isinstance(key, tuple) else tuple(decoded) == key

    check()


def test_decoded_uuid_keys_behave_like_constructed_ones():
    import copy
    import pickle

    table = zlmdb.MapUuidString(1)
    for original in (uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        decoded = table._deserialize_key(table._serialize_key(original))
        assert type(decoded) is uuid.UUID
        assert decoded == original and hash(decoded) == hash(original)
        assert str(decoded) == str(original) and decoded.is_safe is original.is_safe
        assert pickle.loads(pickle.dumps(decoded)) == original
        assert copy.deepcopy(decoded) == original
        with pytest.raises(TypeError):
            decoded.int = 5


def test_uuid_value_of_wrong_length_raises_value_error():
    table = zlmdb.MapOidUuid(1)
    with pytest.raises(ValueError):
        table._deserialize_value(b"\x01" * 15)


@pytest.mark.parametrize(
    "value",
    [
        np.datetime64(1_600_000_000_123_456_789, "ns"),
        np.datetime64(-5, "ns"),
        np.datetime64("NaT", "ns"),
        np.datetime64(1_600_000_000_123, "ms"),
    ],
)
def test_timestamp_key_bytes_are_the_int64_nanoseconds(value):
    expected = struct.pack(">q", int(value.astype("datetime64[ns]").astype(np.int64)))
    assert zlmdb.MapTimestampFlatBuffers(1)._serialize_key(value) == expected
