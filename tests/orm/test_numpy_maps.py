"""NumPy array maps (a zlmdb addition): format, dtypes and shapes, zero-copy reads."""

from __future__ import annotations

import struct
import uuid

import numpy as np
import pytest

import zlmdb

T1 = np.datetime64(1_600_000_000_000_000_000, "ns")


@pytest.fixture
def db(tmp_path):
    with zlmdb.Database(str(tmp_path / "db"), sync=False) as database:
        yield database


def round_trip(db, array, table=None):
    table = table or zlmdb.MapOidNumpy(1)
    with db.begin(write=True) as txn:
        table[txn, 1] = array
    with db.begin() as txn:
        return table[txn, 1]


def test_header_layout():
    data = zlmdb.MapOidNumpy(1)._serialize_value(np.array([[1, 2, 3]], dtype="<i4"))
    assert data[:8] == b"ZLNA" + bytes([1, 2]) + struct.pack("<H", 3)
    assert data[8:11] == b"<i4"
    assert struct.unpack("<2Q", data[11:27]) == (1, 3)
    assert data[27:] == np.array([1, 2, 3], dtype="<i4").tobytes()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype="<f8").reshape(3, 4),
        np.array([1, 2, 3], dtype=">u2"),
        np.array(7, dtype="<i8"),
        np.zeros((0, 3), dtype="<f4"),
        np.array([True, False]),
        np.array(["ab", "c"], dtype="<U2"),
        np.array([T1, T1], dtype="datetime64[ns]"),
        np.array([1 + 2j], dtype="<c16"),
        np.zeros((2, 2, 2, 2), dtype="u1"),
    ],
    ids=["f8-2d", "u2-big-endian", "0d", "empty", "bool", "unicode", "datetime", "complex", "4d"],
)
def test_round_trip_keeps_dtype_shape_and_values(db, array):
    result = round_trip(db, array)
    assert result.dtype == array.dtype and result.shape == array.shape
    assert np.array_equal(result, array)


def test_structured_dtype_round_trip(db):
    dtype = np.dtype([("id", "<u4"), ("pos", "<f8", (2,))])
    array = np.array([(1, (0.5, 1.5)), (2, (2.5, 3.5))], dtype=dtype)
    result = round_trip(db, array)
    assert result.dtype == dtype and result.tobytes() == array.tobytes()


def test_non_contiguous_array_is_stored_in_c_order(db):
    array = np.arange(12).reshape(3, 4).T
    assert np.array_equal(round_trip(db, array), array)


def test_read_outside_buffers_transaction_is_writable_copy(db):
    result = round_trip(db, np.arange(3.0))
    result[0] = 9.0
    assert result.flags.writeable


def test_read_in_buffers_transaction_is_read_only_view(db):
    table = zlmdb.MapOidNumpy(1)
    with db.begin(write=True) as txn:
        table[txn, 1] = np.arange(4.0)
    with db.begin(buffers=True) as txn:
        view = table[txn, 1]
        assert not view.flags.writeable and not view.flags.owndata
        assert view.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_compressed_numpy_map_round_trip(db):
    table = zlmdb.MapOidNumpy(1, compress=zlmdb.PersistentMap.COMPRESS_ZLIB)
    array = np.zeros(1000)
    with db.begin(write=True) as txn:
        table[txn, 1] = array
    with db.begin(buffers=True) as txn:
        assert np.array_equal(table[txn, 1], array)


@pytest.mark.parametrize(
    "name,key",
    [
        ("MapBytes20Numpy", b"\x01" * 20),
        ("MapUuidNumpy", uuid.UUID(int=5)),
        ("MapStringNumpy", "sensor-1"),
        ("MapUuidTimestampNumpy", (uuid.UUID(int=5), T1)),
    ],
)
def test_every_numpy_map_round_trips(db, name, key):
    table = getattr(zlmdb, name)(1)
    array = np.linspace(0, 1, 5)
    with db.begin(write=True) as txn:
        table[txn, key] = array
    with db.begin() as txn:
        assert np.array_equal(table[txn, key], array)


def test_object_array_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidNumpy(1)._serialize_value(np.array([object()]))


def test_non_array_raises_type_error():
    with pytest.raises(TypeError):
        zlmdb.MapOidNumpy(1)._serialize_value([1, 2])


def test_foreign_value_raises_value_error():
    with pytest.raises(ValueError):
        zlmdb.MapOidNumpy(1)._deserialize_value(b"not an array at all")


def test_truncated_value_raises_value_error():
    data = zlmdb.MapOidNumpy(1)._serialize_value(np.arange(4.0))
    with pytest.raises(ValueError):
        zlmdb.MapOidNumpy(1)._deserialize_value(data[:-1])


def test_large_array_read_is_writable_aligned_copy(db):
    array = np.arange(10_000, dtype="<f8")
    got = round_trip(db, array)
    assert got.flags.writeable and got.flags.aligned
    assert np.array_equal(got, array)


def test_structured_arrays_of_one_dtype_decode_alike():
    dtype = np.dtype([("oid", "<u8"), ("name", "S8")])
    table = zlmdb.MapOidNumpy(1)
    for i in range(3):
        array = np.array([(i, b"x%d" % i)], dtype=dtype)
        got = table._deserialize_value(table._serialize_value(array))
        assert got.dtype == dtype and got.tolist() == array.tolist()


def test_bad_dtype_descriptor_raises_value_error():
    table = zlmdb.MapOidNumpy(1)
    data = bytearray(table._serialize_value(np.zeros(2, dtype="<i4")))
    data[8:11] = b"<z9"
    with pytest.raises(ValueError):
        table._deserialize_value(bytes(data))
