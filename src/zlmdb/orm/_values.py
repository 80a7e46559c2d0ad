"""Value serializers: the mixins that turn a map's values into stored bytes and back.

Each mixin provides ``_serialize_value(value) -> bytes`` and ``_deserialize_value(data)``
(no compression: :class:`~zlmdb.orm._pmap.PersistentMap` wraps that around them). Bytes match
upstream zlmdb 26.10.1. ``_ZERO_COPY`` says whether the decoder accepts a buffer pointing
into the map (``buffers=True`` transactions); the others get ``bytes``.

``_VALUE_KIND`` picks the constructor signature of the generated ``Map*`` classes:
``"plain"`` ``(slot=None, compress=None)``, ``"marshal"`` ``(..., marshal=None,
unmarshal=None)``, ``"flatbuffers"`` ``(..., build=None, cast=None)``.
"""

from __future__ import annotations

import json
import pickle
import struct
import uuid
from typing import Any, Callable, Dict, Optional

from .._cbor import FAST_DUMPS as _cbor_dumps
from .._cbor import FAST_LOADS as _cbor_loads
from ._keys import (
    MAX_OID,
    _pack_be_q,
    _unpack_be_q,
    int_to_timestamp,
    timestamp_to_int,
    uuid_from_bytes,
)

_pack_Q = struct.Struct(">Q").pack
_unpack_Q = struct.Struct(">Q").unpack
_UUID_ZERO = uuid.UUID(int=0)

# Built once: json.dumps() with non-default arguments builds a JSONEncoder on every call.
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=False)
_json_encode = _JSON_ENCODER.encode


def _json_dumps(data: Any) -> bytes:
    return _json_encode(data).encode()


_json_loads = json.loads


def _json_loads_bytes(data: bytes) -> Any:
    return _json_loads(data.decode())


class _ValuesMixin:
    """Base of every value mixin (plain constructor, decoder wants bytes)."""

    _VALUE_KIND = "plain"
    _ZERO_COPY = False


class _StringValuesMixin(_ValuesMixin):
    """``str`` values as UTF-8; ``None`` is stored as empty and reads back as ``None``."""

    def _serialize_value(self, value: Optional[str]) -> bytes:
        if value is None:
            return b""
        if not isinstance(value, str):
            raise TypeError(f"value must be a str or None, not {type(value).__name__}")
        return value.encode("utf8")

    def _deserialize_value(self, data: bytes) -> Optional[str]:
        return data.decode("utf8") if data else None


class _StringSetValuesMixin(_ValuesMixin):
    """Sets of ``str`` (or None) joined by NUL bytes."""

    def _serialize_value(self, value_set: Any) -> bytes:
        if not isinstance(value_set, (set, frozenset)):
            raise TypeError(f"value must be a set, not {type(value_set).__name__}")
        out = []
        for v in value_set:
            if v is None:
                out.append(b"")
            elif isinstance(v, str) and "\x00" not in v:
                out.append(v.encode("utf8"))
            else:
                raise ValueError(f"set members must be str without NUL or None, got {v!r}")
        return b"\x00".join(out)

    def _deserialize_value(self, data: bytes) -> set:
        return {d.decode("utf8") if d else None for d in data.split(b"\x00")}


def _check_oid(value: Any) -> int:
    if type(value) is not int and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"OID value must be an int, not {type(value).__name__}")
    if value < 0 or value > MAX_OID:
        raise ValueError(f"OID value must be in [0, 2**53], got {value}")
    return value


class _OidValuesMixin(_ValuesMixin):
    """OID values: ints in [0, 2**53] as 8 bytes big-endian."""

    # marks the class whose value hooks these are (PersistentMap's hot paths check it)
    _OID_VALUES = True

    def _serialize_value(self, value: int) -> bytes:
        if type(value) is int and 0 <= value <= MAX_OID:
            return _pack_Q(value)
        return _pack_Q(_check_oid(value))

    def _deserialize_value(self, data: bytes) -> int:
        if len(data) != 8:
            raise ValueError(f"OID value needs 8 bytes, got {len(data)}")
        return _unpack_Q(data)[0]


class _OidSetValuesMixin(_ValuesMixin):
    """Sets of OIDs, concatenated 8-byte big-endian, in ascending order (upstream wrote set
    iteration order; both read back the same)."""

    def _serialize_value(self, value_set: Any) -> bytes:
        if not isinstance(value_set, (set, frozenset)):
            raise TypeError(f"value must be a set, not {type(value_set).__name__}")
        return b"".join(sorted(_pack_Q(_check_oid(v)) for v in value_set))

    def _deserialize_value(self, data: bytes) -> set:
        if len(data) % 8:
            raise ValueError(f"OID set value length must be a multiple of 8, got {len(data)}")
        return {_unpack_Q(data[i : i + 8])[0] for i in range(0, len(data), 8)}


class _UuidValuesMixin(_ValuesMixin):
    """UUID values as 16 bytes; ``None`` is stored as the all-zero UUID."""

    def _serialize_value(self, value: Optional[uuid.UUID]) -> bytes:
        if value is None:
            return bytes(16)
        if not isinstance(value, uuid.UUID):
            raise TypeError(f"value must be a uuid.UUID or None, not {type(value).__name__}")
        return value.bytes

    def _deserialize_value(self, data: bytes) -> uuid.UUID:
        if not data:
            return _UUID_ZERO
        if len(data) != 16:
            raise ValueError(f"UUID value needs 16 bytes, got {len(data)}")
        return uuid_from_bytes(data)


class _UuidSetValuesMixin(_ValuesMixin):
    """Sets of UUIDs, concatenated 16-byte, in ascending byte order (upstream wrote set
    iteration order; both read back the same)."""

    def _serialize_value(self, value_set: Any) -> bytes:
        if not isinstance(value_set, (set, frozenset)):
            raise TypeError(f"value must be a set, not {type(value_set).__name__}")
        out = []
        for v in value_set:
            if not isinstance(v, uuid.UUID):
                raise TypeError(f"set members must be uuid.UUID, not {type(v).__name__}")
            out.append(v.bytes)
        return b"".join(sorted(out))

    def _deserialize_value(self, data: bytes) -> set:
        if len(data) % 16:
            raise ValueError(f"UUID set value length must be a multiple of 16, got {len(data)}")
        return {uuid_from_bytes(data[i : i + 16]) for i in range(0, len(data), 16)}


class _TimestampValuesMixin(_ValuesMixin):
    """``numpy.datetime64`` values as 8 bytes big-endian ns; ``None`` is stored as zero."""

    def _serialize_value(self, value: Any) -> bytes:
        if value is None:
            return bytes(8)
        return _pack_be_q(timestamp_to_int(value))

    def _deserialize_value(self, data: bytes) -> Any:
        if not data:
            return None
        if len(data) != 8:
            raise ValueError(f"timestamp value needs 8 bytes, got {len(data)}")
        return int_to_timestamp(_unpack_be_q(data)[0])


def _fixed_bytes_mixin(size: int) -> type:
    def _serialize_value(self: Any, value: Any) -> bytes:
        if value is None:
            return bytes(size)
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"value must be bytes[{size}] or None, not {type(value).__name__}")
        value = bytes(value)
        if not value:
            return bytes(size)
        if len(value) != size:
            raise ValueError(f"value must be bytes[{size}], got {len(value)} bytes")
        return value

    def _deserialize_value(self: Any, data: bytes) -> Optional[bytes]:
        if not data:
            return None
        if len(data) != size:
            raise ValueError(f"value needs {size} bytes, got {len(data)}")
        return data

    return type(
        f"_Bytes{size}ValuesMixin",
        (_ValuesMixin,),
        {
            "__doc__": f"Fixed {size}-byte values; ``None`` or ``b''`` is stored as zeros.",
            "_serialize_value": _serialize_value,
            "_deserialize_value": _deserialize_value,
        },
    )


_Bytes16ValuesMixin = _fixed_bytes_mixin(16)
_Bytes20ValuesMixin = _fixed_bytes_mixin(20)
_Bytes32ValuesMixin = _fixed_bytes_mixin(32)


class _Bytes20TimestampValuesMixin(_ValuesMixin):
    """``(bytes20, datetime64)`` values: 20 bytes (falsy: zeros) + 8-byte timestamp."""

    def _serialize_value(self, values: Any) -> bytes:
        if not isinstance(values, tuple) or len(values) != 2:
            raise TypeError("value must be a tuple (bytes20, numpy.datetime64)")
        first, ts = values
        if not first:
            first = bytes(20)
        elif not isinstance(first, (bytes, bytearray, memoryview)) or len(first) != 20:
            raise ValueError("first part of the value must be bytes[20]")
        return bytes(first) + _pack_be_q(timestamp_to_int(ts))

    def _deserialize_value(self, data: bytes) -> tuple:
        if len(data) != 28:
            raise ValueError(f"(bytes20, timestamp) value needs 28 bytes, got {len(data)}")
        return data[:20], int_to_timestamp(_unpack_be_q(data[20:])[0])


def _hooks_changed(obj: Any) -> None:
    """Tell PersistentMap's hot paths (which hold on to the hooks) to read them again."""
    changed = getattr(obj, "_hooks_changed", None)
    if changed is not None:
        changed()


def _hook(self: Any, given: Optional[Callable], *attrs: str) -> Optional[Callable]:
    """``given``, else the first of the class attributes ``attrs`` that is set (read from
    the class dict: a plain function stored there must not become a bound method)."""
    if given is not None:
        return given
    for attr in attrs:
        for klass in type(self).__mro__:
            if attr in klass.__dict__:
                found = klass.__dict__[attr]
                if isinstance(found, (staticmethod, classmethod)):
                    found = found.__get__(None, type(self))
                if found is not None:
                    return found
                break
    return None


class _MarshalValuesMixin(_ValuesMixin):
    """Values turned into plain data by ``marshal`` and rebuilt by ``unmarshal``."""

    _VALUE_KIND = "marshal"

    def __init__(
        self, marshal: Optional[Callable] = None, unmarshal: Optional[Callable] = None
    ) -> None:
        """Use ``marshal(obj) -> data`` and ``unmarshal(data) -> obj``; either falls back to
        the class attributes ``_zlmdb_marshal`` / ``_zlmdb_parse`` set by ``@table``.

        Raises:
            TypeError: a hook is missing or not callable.
        """
        self._marshal = _hook(self, marshal, "_zlmdb_marshal")
        self._unmarshal = _hook(self, unmarshal, "_zlmdb_unmarshal", "_zlmdb_parse")
        if not callable(self._marshal) or not callable(self._unmarshal):
            raise TypeError(f"{type(self).__name__} needs callable marshal= and unmarshal= hooks")

    # PersistentMap's hot paths hold on to the hooks: assigning one makes them look again.

    @property
    def _marshal(self) -> Callable:
        return self._marshal_hook

    @_marshal.setter
    def _marshal(self, hook: Callable) -> None:
        self._marshal_hook = hook
        _hooks_changed(self)

    @property
    def _unmarshal(self) -> Callable:
        return self._unmarshal_hook

    @_unmarshal.setter
    def _unmarshal(self, hook: Callable) -> None:
        self._unmarshal_hook = hook
        _hooks_changed(self)


class _JsonValuesMixin(_MarshalValuesMixin):
    """JSON values: compact UTF-8 ``json.dumps(marshal(value))``, key order kept."""

    def _serialize_value(self, value: Any) -> bytes:
        return _json_encode(self._marshal(value)).encode()

    def _deserialize_value(self, data: bytes) -> Any:
        return self._unmarshal(_json_loads(data.decode()))

    def _fast_value_codec(self) -> tuple:
        # (marshal, dumps, loads, unmarshal, loads takes buffers): see PersistentMap._prepare
        return self._marshal, _json_dumps, _json_loads_bytes, self._unmarshal, False


class _CborValuesMixin(_MarshalValuesMixin):
    """CBOR values: ``cbor2.dumps(marshal(value))`` with cbor2's defaults (on PyPy computed by
    :mod:`zlmdb._cbor`, which gives the same bytes and values for plain data)."""

    def _serialize_value(self, value: Any) -> bytes:
        return _cbor_dumps(self._marshal(value))

    def _deserialize_value(self, data: bytes) -> Any:
        return self._unmarshal(_cbor_loads(data))

    def _fast_value_codec(self) -> tuple:
        # (marshal, dumps, loads, unmarshal, loads takes buffers): see PersistentMap._prepare
        return self._marshal, _cbor_dumps, _cbor_loads, self._unmarshal, False


class _PickleValuesMixin(_ValuesMixin):
    """Any picklable value, pickle protocol 2 (as upstream, for cross-version files)."""

    PROTOCOL = 2

    def _serialize_value(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=self.PROTOCOL)

    def _deserialize_value(self, data: bytes) -> Any:
        return pickle.loads(data)


class _Pickle5ValuesMixin(_ValuesMixin):
    """Pickle protocol 5 with out-of-band buffers: ``>I`` length-prefixed chunks (pickle
    first, then each buffer). No Map class uses it; kept for upstream compatibility."""

    PROTOCOL = 5

    def _serialize_value(self, value: Any) -> bytes:
        buffers: list = []
        body = pickle.dumps(value, protocol=self.PROTOCOL, buffer_callback=buffers.append)
        out = [struct.pack(">I", len(body)), body]
        for buf in buffers:
            raw = buf.raw()
            out.append(struct.pack(">I", raw.nbytes))
            out.append(bytes(raw))
        return b"".join(out)

    def _deserialize_value(self, data: bytes) -> Any:
        view = memoryview(data)
        n = struct.unpack(">I", view[:4])[0]
        body = view[4 : 4 + n]
        pos = 4 + n
        buffers = []
        while pos < len(view):
            m = struct.unpack(">I", view[pos : pos + 4])[0]
            buffers.append(view[pos + 4 : pos + 4 + m])
            pos += 4 + m
        return pickle.loads(body, buffers=buffers)


#: Largest starting size of a FlatBuffers builder (bigger records grow the buffer as needed).
_FB_SIZE_MAX = 1 << 16


class _FlatBuffersValuesMixin(_ValuesMixin):
    """FlatBuffers values: ``build(value, builder)`` returns the root offset; ``cast(buf)``
    wraps a buffer (zero-copy in ``buffers=True`` transactions)."""

    _VALUE_KIND = "flatbuffers"
    _ZERO_COPY = True
    _fb_size = 64  # the builder's starting size: grows to the largest record seen (capped)

    def __init__(self, build: Optional[Callable] = None, cast: Optional[Callable] = None) -> None:
        """Use ``build``/``cast``; each falls back to ``_zlmdb_build`` / ``_zlmdb_cast``."""
        self._build = _hook(self, build, "_zlmdb_build")
        self._cast = _hook(self, cast, "_zlmdb_cast")
        _hooks_changed(self)

    def _serialize_value(self, value: Any) -> bytes:
        if self._build is None:
            raise TypeError(f"{type(self).__name__} has no build= function")
        import flatbuffers

        # Start at the size the last record needed, so the builder does not regrow (and copy)
        # its buffer from zero on every record; the output does not depend on the start size.
        builder = flatbuffers.Builder(self._fb_size)
        root = self._build(value, builder)
        builder.Finish(root)
        out = bytes(builder.Output())
        if len(out) > self._fb_size:  # a hint only: a racing thread's value is as good
            self._fb_size = min(1 << (len(out) - 1).bit_length(), _FB_SIZE_MAX)
        return out

    def _deserialize_value(self, data: Any) -> Any:
        if self._cast is None:
            raise TypeError(f"{type(self).__name__} has no cast= function")
        return self._cast(data)

    def _fast_value_codec(self) -> Optional[tuple]:
        # (marshal, dumps, loads, unmarshal, loads takes buffers): PersistentMap._prepare
        cast = self._cast
        return None if cast is None else (None, self._serialize_value, cast, None, True)

    # PersistentMap's hot paths hold on to cast: assigning it makes them look again.

    @property
    def _cast(self) -> Optional[Callable]:
        return self._cast_hook

    @_cast.setter
    def _cast(self, hook: Optional[Callable]) -> None:
        self._cast_hook = hook
        _hooks_changed(self)


def _numpy_mixin() -> type:
    from ._numpy import decode_array, encode_array

    class _NumpyValuesMixin(_ValuesMixin):
        """``numpy.ndarray`` values of any fixed dtype and shape (header + raw bytes, see
        :mod:`zlmdb.orm._numpy`); read-only zero-copy views in ``buffers=True``
        transactions, writable copies otherwise."""

        _ZERO_COPY = True

        def _serialize_value(self, value: Any) -> bytes:
            return encode_array(value)

        def _deserialize_value(self, data: Any) -> Any:
            return decode_array(data)

        def _fast_value_codec(self) -> tuple:
            # (marshal, dumps, loads, unmarshal, loads takes buffers): PersistentMap._prepare
            return None, encode_array, decode_array, None, True

    return _NumpyValuesMixin


_NumpyValuesMixin = _numpy_mixin()

#: Every value mixin, by upstream's mixin name stem (``_<name>ValuesMixin``).
VALUE_MIXINS: Dict[str, type] = {
    "String": _StringValuesMixin,
    "StringSet": _StringSetValuesMixin,
    "Oid": _OidValuesMixin,
    "OidSet": _OidSetValuesMixin,
    "Uuid": _UuidValuesMixin,
    "UuidSet": _UuidSetValuesMixin,
    "Timestamp": _TimestampValuesMixin,
    "Bytes16": _Bytes16ValuesMixin,
    "Bytes20": _Bytes20ValuesMixin,
    "Bytes32": _Bytes32ValuesMixin,
    "Bytes20Timestamp": _Bytes20TimestampValuesMixin,
    "Json": _JsonValuesMixin,
    "Cbor": _CborValuesMixin,
    "Pickle": _PickleValuesMixin,
    "Pickle5": _Pickle5ValuesMixin,
    "FlatBuffers": _FlatBuffersValuesMixin,
    "Numpy": _NumpyValuesMixin,
}
