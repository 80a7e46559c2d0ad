"""The ``Map*`` classes, generated from one table of (class name, key codec, value mixin).

Each class is ``Map<Key><Value>(key mixin, value mixin, PersistentMap)`` with upstream's
exact name and constructor signature; fixing a codec fixes every map that uses it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from ._keys import KEY_MIXINS
from ._pmap import PersistentMap
from ._values import VALUE_MIXINS, _FlatBuffersValuesMixin, _MarshalValuesMixin

#: (class name, key codec name, value mixin name). The 83 upstream classes, then ours.
MAP_TABLE: Tuple[Tuple[str, str, str], ...] = (
    # key Uuid
    ("MapUuidString", "Uuid", "String"),
    ("MapUuidOid", "Uuid", "Oid"),
    ("MapUuidUuid", "Uuid", "Uuid"),
    ("MapUuidJson", "Uuid", "Json"),
    ("MapUuidCbor", "Uuid", "Cbor"),
    ("MapUuidPickle", "Uuid", "Pickle"),
    ("MapUuidFlatBuffers", "Uuid", "FlatBuffers"),
    ("MapUuidUuidSet", "Uuid", "UuidSet"),
    # key String
    ("MapStringString", "String", "String"),
    ("MapStringOid", "String", "Oid"),
    ("MapStringUuid", "String", "Uuid"),
    ("MapStringJson", "String", "Json"),
    ("MapStringCbor", "String", "Cbor"),
    ("MapStringPickle", "String", "Pickle"),
    ("MapStringFlatBuffers", "String", "FlatBuffers"),
    # key Oid
    ("MapOidString", "Oid", "String"),
    ("MapOidOid", "Oid", "Oid"),
    ("MapOidUuid", "Oid", "Uuid"),
    ("MapOidJson", "Oid", "Json"),
    ("MapOidCbor", "Oid", "Cbor"),
    ("MapOidPickle", "Oid", "Pickle"),
    ("MapOidFlatBuffers", "Oid", "FlatBuffers"),
    ("MapOidOidSet", "Oid", "OidSet"),
    # fixed-size bytes and timestamp keys
    ("MapBytes32Uuid", "Bytes32", "Uuid"),
    ("MapBytes32FlatBuffers", "Bytes32", "FlatBuffers"),
    ("MapBytes32Timestamp", "Bytes32", "Timestamp"),
    ("MapBytes32Bytes32", "Bytes32", "Bytes32"),
    ("MapBytes20Uuid", "Bytes20", "Uuid"),
    ("MapBytes20FlatBuffers", "Bytes20", "FlatBuffers"),
    ("MapBytes20Bytes16", "Bytes20", "Bytes16"),
    ("MapBytes20Bytes20", "Bytes20", "Bytes20"),
    ("MapBytes20Bytes20Timestamp", "Bytes20", "Bytes20Timestamp"),
    ("MapBytes16FlatBuffers", "Bytes16", "FlatBuffers"),
    ("MapTimestampFlatBuffers", "Timestamp", "FlatBuffers"),
    # composite keys
    ("MapUuidUuidUuid", "UuidUuid", "Uuid"),
    ("MapUuidUuidCbor", "UuidUuid", "Cbor"),
    ("MapUuidUuidFlatBuffers", "UuidUuid", "FlatBuffers"),
    ("MapUuidStringOid", "UuidString", "Oid"),
    ("MapUuidStringUuid", "UuidString", "Uuid"),
    ("MapUuidStringFlatBuffers", "UuidString", "FlatBuffers"),
    ("MapUuidTimestampUuid", "UuidTimestamp", "Uuid"),
    ("MapUuidTimestampCbor", "UuidTimestamp", "Cbor"),
    ("MapUuidTimestampFlatBuffers", "UuidTimestamp", "FlatBuffers"),
    ("MapUuidTimestampBytes32", "UuidTimestamp", "Bytes32"),
    ("MapUuidBytes32FlatBuffers", "UuidBytes32", "FlatBuffers"),
    ("MapUuidUuidUuidUuid", "UuidUuidUuid", "Uuid"),
    ("MapUuidUuidUuidUuidUuid", "UuidUuidUuidUuid", "Uuid"),
    ("MapUuidUuidStringUuid", "UuidUuidString", "Uuid"),
    ("MapUuidUuidStringFlatBuffers", "UuidUuidString", "FlatBuffers"),
    ("MapUuidUuidUuidStringUuid", "UuidUuidUuidString", "Uuid"),
    ("MapUuidTimestampUuidFlatBuffers", "UuidTimestampUuid", "FlatBuffers"),
    ("MapUuidBytes20Uint8FlatBuffers", "UuidBytes20Uint8", "FlatBuffers"),
    ("MapUuidBytes20Uint8UuidFlatBuffers", "UuidBytes20Uint8Uuid", "FlatBuffers"),
    ("MapUuidBytes20Bytes20Uint8UuidFlatBuffers", "UuidBytes20Bytes20Uint8Uuid", "FlatBuffers"),
    ("MapStringStringUuid", "StringString", "Uuid"),
    ("MapStringStringStringUuid", "StringStringString", "Uuid"),
    ("MapStringOidOid", "StringOid", "Oid"),
    ("MapStringTimestampCbor", "StringTimestamp", "Cbor"),
    ("MapOidOidOid", "OidOid", "Oid"),
    ("MapOidOidFlatBuffers", "OidOid", "FlatBuffers"),
    ("MapOid3FlatBuffers", "Oid3", "FlatBuffers"),
    ("MapOidStringOid", "OidString", "Oid"),
    ("MapOidTimestampOid", "OidTimestamp", "Oid"),
    ("MapOidTimestampFlatBuffers", "OidTimestamp", "FlatBuffers"),
    ("MapOidTimestampStringOid", "OidTimestampString", "Oid"),
    ("MapTimestampUuidCbor", "TimestampUuid", "Cbor"),
    ("MapTimestampUuidFlatBuffers", "TimestampUuid", "FlatBuffers"),
    ("MapTimestampStringCbor", "TimestampString", "Cbor"),
    ("MapTimestampStringFlatBuffers", "TimestampString", "FlatBuffers"),
    ("MapTimestampUuidStringFlatBuffers", "TimestampUuidString", "FlatBuffers"),
    ("MapTimestampBytes32FlatBuffers", "TimestampBytes32", "FlatBuffers"),
    ("MapBytes32UuidFlatBuffers", "Bytes32Uuid", "FlatBuffers"),
    ("MapBytes32Bytes32FlatBuffers", "Bytes32Bytes32", "FlatBuffers"),
    ("MapBytes32StringFlatBuffers", "Bytes32String", "FlatBuffers"),
    ("MapBytes20Bytes20FlatBuffers", "Bytes20Bytes20", "FlatBuffers"),
    ("MapBytes20StringFlatBuffers", "Bytes20String", "FlatBuffers"),
    ("MapBytes20TimestampUuid", "Bytes20Timestamp", "Uuid"),
    ("MapBytes20TimestampBytes20", "Bytes20Timestamp", "Bytes20"),
    ("MapBytes16TimestampUuid", "Bytes16Timestamp", "Uuid"),
    ("MapBytes16TimestampUuidFlatBuffers", "Bytes16TimestampUuid", "FlatBuffers"),
    ("MapUint16UuidTimestampFlatBuffers", "Uint16UuidTimestamp", "FlatBuffers"),
    ("MapUint64TimestampUuid", "Uint64Timestamp", "Uuid"),
    ("MapSlotUuidUuid", "SlotUuid", "Uuid"),
    # zlmdb additions: NumPy array values (see zlmdb.orm._numpy)
    ("MapBytes20Numpy", "Bytes20", "Numpy"),
    ("MapUuidNumpy", "Uuid", "Numpy"),
    ("MapOidNumpy", "Oid", "Numpy"),
    ("MapStringNumpy", "String", "Numpy"),
    ("MapUuidTimestampNumpy", "UuidTimestamp", "Numpy"),
)

#: Names of the maps upstream zlmdb does not have.
EXTRA_MAPS = (
    "MapBytes20Numpy",
    "MapUuidNumpy",
    "MapOidNumpy",
    "MapStringNumpy",
    "MapUuidTimestampNumpy",
)


def _plain_init(self: Any, slot: Optional[int] = None, compress: Optional[int] = None) -> None:
    PersistentMap.__init__(self, slot=slot, compress=compress)


def _marshal_init(
    self: Any,
    slot: Optional[int] = None,
    compress: Optional[int] = None,
    marshal: Optional[Callable] = None,
    unmarshal: Optional[Callable] = None,
) -> None:
    PersistentMap.__init__(self, slot=slot, compress=compress)
    _MarshalValuesMixin.__init__(self, marshal=marshal, unmarshal=unmarshal)


def _flatbuffers_init(
    self: Any,
    slot: Optional[int] = None,
    compress: Optional[int] = None,
    build: Optional[Callable] = None,
    cast: Optional[Callable] = None,
) -> None:
    PersistentMap.__init__(self, slot=slot, compress=compress)
    _FlatBuffersValuesMixin.__init__(self, build=build, cast=cast)


_INITS = {"plain": _plain_init, "marshal": _marshal_init, "flatbuffers": _flatbuffers_init}

_RAISES = """
    Raises:
        TypeError: a key, value or hook of the wrong type.
        ValueError: a key or value out of range or of the wrong length, bad slot/compress."""


def _make_map(name: str, key: str, value: str) -> type:
    key_mixin = KEY_MIXINS[key]
    value_mixin = VALUE_MIXINS[value]
    kind = value_mixin._VALUE_KIND
    parts = ", ".join(p.name for p in key_mixin._KEY_CODEC.parts)
    doc = f"Persistent map: keys ({parts}), values {value}.\n{_RAISES}\n"
    return type(
        name,
        (key_mixin, value_mixin, PersistentMap),
        {"__doc__": doc, "__module__": "zlmdb._pmap", "__init__": _INITS[kind]},
    )


#: Every generated map class by name.
MAPS: Dict[str, type] = {name: _make_map(name, key, value) for name, key, value in MAP_TABLE}
