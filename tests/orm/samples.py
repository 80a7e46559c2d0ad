"""Sample keys per key codec and sample values per value serializer, for the map tests."""

from __future__ import annotations

import uuid

import numpy as np
from user_model import User

import zlmdb

MAX_OID = 2**53
U0 = uuid.UUID(int=0)
U1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
U2 = uuid.UUID("ffffffff-0000-4000-8000-000000000002")
T1 = np.datetime64(1_600_000_000_000_000_000, "ns")
T2 = np.datetime64(1_700_000_000_000_000_001, "ns")
B16 = bytes(range(16))
B20 = bytes(range(20))
B32 = bytes(range(32))
X16 = b"\xfe" * 16
X20 = b"\xfe" * 20
X32 = b"\xfe" * 32

#: (low key, high key) per codec: distinct keys, low sorts first as bytes
KEY_PAIRS = {
    "Uuid": (U1, U2),
    "String": ("", "zürich ✓"),
    "Oid": (0, MAX_OID),
    "Bytes32": (B32, X32),
    "Bytes20": (B20, X20),
    "Bytes16": (B16, X16),
    "Timestamp": (T1, T2),
    "UuidUuid": ((U1, U2), (U2, U1)),
    "UuidUuidUuid": ((U1, U1, U2), (U1, U2, U1)),
    "UuidUuidUuidUuid": ((U1, U1, U1, U1), (U1, U1, U1, U2)),
    "UuidString": ((U1, ""), (U1, "b")),
    "UuidUuidString": ((U1, U2, "a"), (U2, U1, "")),
    "UuidUuidUuidString": ((U1, U1, U1, "a"), (U1, U1, U1, "b")),
    "UuidTimestamp": ((U1, T1), (U1, T2)),
    "UuidBytes32": ((U1, B32), (U2, B32)),
    "UuidTimestampUuid": ((U1, T1, U2), (U1, T2, U1)),
    "UuidBytes20Uint8": ((U1, B20, 0), (U1, B20, 255)),
    "UuidBytes20Uint8Uuid": ((U1, B20, 1, U2), (U1, X20, 1, U1)),
    "UuidBytes20Bytes20Uint8Uuid": ((U1, B20, X20, 7, U1), (U1, X20, B20, 7, U1)),
    "StringString": (("a", "b"), ("b", "")),
    "StringStringString": (("a", "b", "c"), ("a", "c", "")),
    "StringOid": (("user", 7), ("user", MAX_OID)),
    "StringTimestamp": (("s", T1), ("s", T2)),
    "OidOid": ((1, 2), (2, 1)),
    "Oid3": ((1, 2, 3), (1, 2, 4)),
    "OidString": ((1, "x"), (2, "")),
    "OidTimestamp": ((1, T1), (2, T1)),
    "OidTimestampString": ((1, T1, "a"), (1, T1, "b")),
    "TimestampUuid": ((T1, U2), (T2, U1)),
    "TimestampString": ((T1, "z"), (T2, "a")),
    "TimestampUuidString": ((T1, U1, ""), (T1, U1, "x")),
    "TimestampBytes32": ((T1, X32), (T2, B32)),
    "Bytes32Uuid": ((B32, U2), (X32, U1)),
    "Bytes32Bytes32": ((B32, X32), (X32, B32)),
    "Bytes32String": ((B32, "a"), (B32, "b")),
    "Bytes20Bytes20": ((B20, X20), (X20, B20)),
    "Bytes20String": ((B20, ""), (X20, "a")),
    "Bytes20Timestamp": ((B20, T1), (B20, T2)),
    "Bytes16Timestamp": ((B16, T2), (X16, T1)),
    "Bytes16TimestampUuid": ((B16, T1, U2), (B16, T2, U1)),
    "Uint16UuidTimestamp": ((1, U1, T1), (2, U1, T1)),
    "Uint64Timestamp": ((0, T2), (2**64 - 1, T1)),
    "SlotUuid": ((1, U2), (65535, U1)),
}

USER = User(oid=5, name="Grace", authid="grace", email="g@example.com", tags=["a"], ratings=[0.5])


def value_samples(value_kind: str):
    """Two values of ``value_kind`` and what each reads back as."""
    if value_kind == "String":
        return [("hello ✓", "hello ✓"), (None, None)]
    if value_kind == "Oid":
        return [(0, 0), (MAX_OID, MAX_OID)]
    if value_kind == "Uuid":
        return [(U2, U2), (None, U0)]
    if value_kind in ("Json", "Cbor"):
        return [
            (USER, USER),
            (User(oid=MAX_OID, tags=["x", "y"]), User(oid=MAX_OID, tags=["x", "y"])),
        ]
    if value_kind == "Pickle":
        return [({"a": (1, 2), "b": b"\x00"}, {"a": (1, 2), "b": b"\x00"}), (USER, USER)]
    if value_kind == "FlatBuffers":
        return [(USER, USER), (User(), User())]
    if value_kind == "UuidSet":
        return [({U1}, {U1}), ({U1, U2, U0}, {U1, U2, U0})]
    if value_kind == "OidSet":
        return [({0}, {0}), ({1, 2, MAX_OID}, {1, 2, MAX_OID})]
    if value_kind == "Timestamp":
        return [(T1, T1), (None, np.datetime64(0, "ns"))]
    if value_kind in ("Bytes16", "Bytes20", "Bytes32"):
        n = int(value_kind[5:])
        return [(bytes(range(n)), bytes(range(n))), (None, bytes(n))]
    if value_kind == "Bytes20Timestamp":
        return [((B20, T1), (B20, T1)), ((None, T2), (bytes(20), T2))]
    if value_kind == "Numpy":
        a = np.arange(6, dtype="<f8").reshape(2, 3)
        b = np.array([[1, 2], [3, 4]], dtype=">u2")
        return [(a, a), (b, b)]
    raise KeyError(value_kind)


def make_map(name: str, slot: int = 1, compress=None):
    """An instance of map class ``name`` with the hooks its value type needs."""
    klass = getattr(zlmdb, name)
    kind = klass.__mro__[2]._VALUE_KIND
    if kind == "marshal":
        return klass(slot, compress=compress, marshal=User.marshal, unmarshal=User.parse)
    if kind == "flatbuffers":
        return klass(slot, compress=compress, build=User.build, cast=User.cast)
    return klass(slot, compress=compress)


def equal(a, b) -> bool:
    """Equality that also works for NumPy arrays and datetime64 tuples."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
