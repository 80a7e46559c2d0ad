"""Value serializers: exact bytes, None handling, hooks, compression, zero-copy reads."""

from __future__ import annotations

import json
import pickle
import uuid
import zlib

import cbor2
import numpy as np
import pytest
from user_model import User

import zlmdb

U1 = uuid.UUID("00000000-0000-4000-8000-000000000001")


def ident(value):
    return value


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def test_string_value_is_utf8():
    assert zlmdb.MapOidString(1)._serialize_value("zürich") == "zürich".encode()


def test_string_none_is_stored_empty():
    assert zlmdb.MapOidString(1)._serialize_value(None) == b""


def test_string_value_of_wrong_type_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidString(1)._serialize_value(5)


def test_oid_value_is_8_bytes_big_endian():
    assert zlmdb.MapOidOid(1)._serialize_value(1) == b"\x00" * 7 + b"\x01"


def test_oid_value_out_of_range_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.MapOidOid(1)._serialize_value(2**53 + 1)


def test_uuid_none_is_stored_as_zero_uuid():
    assert zlmdb.MapOidUuid(1)._serialize_value(None) == bytes(16)


def test_uuid_value_of_wrong_type_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidUuid(1)._serialize_value(str(U1))


def test_bytes_value_of_wrong_length_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.MapBytes32Bytes32(1)._serialize_value(b"x")


def test_set_values_decode_every_member():
    table = zlmdb.MapOidOidSet(1)
    assert table._deserialize_value(table._serialize_value({1, 2, 3})) == {1, 2, 3}


def test_json_bytes_are_compact_utf8_in_key_order():
    table = zlmdb.MapOidJson(1, marshal=ident, unmarshal=ident)
    assert table._serialize_value({"b": "ü", "a": [1, 2]}) == '{"b":"ü","a":[1,2]}'.encode()


def test_json_bytes_equal_json_dumps():
    value = {"x": [1.5, None, True], "y": {"z": "✓"}}
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf8")
    assert (
        zlmdb.MapStringJson(1, marshal=ident, unmarshal=ident)._serialize_value(value) == expected
    )


@pytest.mark.parametrize(
    "value,encoded",
    [
        (0, "00"),
        (-1, "20"),
        (2**64 - 1, "1bffffffffffffffff"),
        (1.5, "fb3ff8000000000000"),
        ("ü", "62c3bc"),
        (b"\x01", "4101"),
        ([1, [2]], "82018102"),
        ({"a": None, "b": True}, "a26161f66162f5"),
    ],
)
def test_cbor_bytes_match_known_vectors(value, encoded):
    table = zlmdb.MapOidCbor(1, marshal=ident, unmarshal=ident)
    assert table._serialize_value(value).hex() == encoded


def test_cbor_uses_marshal_and_unmarshal(db):
    table = zlmdb.MapOidCbor(1, marshal=User.marshal, unmarshal=User.parse)
    user = User(oid=1, name="x")
    assert cbor2.loads(table._serialize_value(user)) == user.marshal()
    with db.begin(write=True) as txn:
        table[txn, 1] = user
        assert table[txn, 1] == user


def test_pickle_uses_protocol_2():
    data = zlmdb.MapOidPickle(1)._serialize_value({"a": 1})
    assert data == pickle.dumps({"a": 1}, protocol=2)


def test_flatbuffers_bytes_are_the_finished_builder_output():
    import flatbuffers

    table = zlmdb.MapOidFlatBuffers(1, build=User.build, cast=User.cast)
    user = User(oid=3, name="n")
    builder = flatbuffers.Builder(0)
    builder.Finish(user.build(builder))
    assert table._serialize_value(user) == bytes(builder.Output())


def test_flatbuffers_bytes_do_not_depend_on_the_records_before():
    # The builder starts at the size earlier records needed: small, large, then small again
    # must give exactly what a fresh Builder(0) gives for each.
    import flatbuffers

    table = zlmdb.MapOidFlatBuffers(1, build=User.build, cast=User.cast)
    for n in (1, 5000, 2, 100, 200000, 0, 3):
        user = User(oid=n, name="n" * n)
        builder = flatbuffers.Builder(0)
        builder.Finish(user.build(builder))
        expected = bytes(builder.Output())
        assert table._serialize_value(user) == expected
        assert User.cast(expected).name == user.name


def test_flatbuffers_hooks_fall_back_to_table_attributes():
    @zlmdb.table("5b6c7d8e-0000-4000-8000-00000000f1a7", build=User.build, cast=User.cast)
    class Users(zlmdb.MapOidFlatBuffers):
        pass

    assert Users(1)._deserialize_value(Users(1)._serialize_value(User(oid=9))) == User(oid=9)


def test_flatbuffers_cast_gets_buffer_in_buffers_transaction(db):
    seen = []

    def cast(buf):
        seen.append(type(buf))
        return User.cast(buf)

    table = zlmdb.MapOidFlatBuffers(1, build=User.build, cast=cast)
    with db.begin(write=True) as txn:
        table[txn, 1] = User(oid=1)
    with db.begin(buffers=True) as txn:
        assert table[txn, 1] == User(oid=1)
    assert seen == [memoryview]


def test_flatbuffers_cast_gets_bytes_in_normal_transaction(db):
    seen = []

    def cast(buf):
        seen.append(type(buf))
        return User.cast(buf)

    table = zlmdb.MapOidFlatBuffers(1, build=User.build, cast=cast)
    with db.begin(write=True) as txn:
        table[txn, 1] = User(oid=1)
        table[txn, 1]
    assert seen == [bytes]


def test_string_value_decodes_from_buffers_transaction(db):
    table = zlmdb.MapOidString(1)
    with db.begin(write=True) as txn:
        table[txn, 1] = "x"
    with db.begin(buffers=True) as txn:
        assert table[txn, 1] == "x"


def test_zlib_compression_wraps_serialized_value():
    table = zlmdb.MapOidString(1, compress=zlmdb.PersistentMap.COMPRESS_ZLIB)
    assert table._encode_value("abc" * 10) == zlib.compress(("abc" * 10).encode())


def test_snappy_compression_needs_python_snappy():
    try:
        import snappy  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError):
            zlmdb.MapOidString(1, compress=zlmdb.PersistentMap.COMPRESS_SNAPPY)
    else:  # pragma: no cover - only where python-snappy is installed
        zlmdb.MapOidString(1, compress=zlmdb.PersistentMap.COMPRESS_SNAPPY)


def test_timestamp_value_round_trip():
    table = zlmdb.MapBytes32Timestamp(1)
    ts = np.datetime64(-5, "ns")
    assert table._deserialize_value(table._serialize_value(ts)) == ts


def test_bytes20_timestamp_value_layout():
    table = zlmdb.MapBytes20Bytes20Timestamp(1)
    data = table._serialize_value((b"\x01" * 20, np.datetime64(1, "ns")))
    assert data == b"\x01" * 20 + b"\x00" * 7 + b"\x01"


def test_pickle5_mixin_round_trips_out_of_band_buffers():
    from zlmdb._types import _Pickle5ValuesMixin

    mixin = _Pickle5ValuesMixin()
    value = pickle.PickleBuffer(bytearray(b"abc"))
    assert bytes(mixin._deserialize_value(mixin._serialize_value(value))) == b"abc"
