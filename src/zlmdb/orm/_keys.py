"""Key codecs: how a Python key (scalar or tuple) becomes the bytes after the slot prefix.

A key is made of *parts* (:class:`KeyPart`: UUID, string, OID, timestamp, fixed bytes, small
ints). A :class:`KeyCodec` concatenates its parts' bytes; every byte layout matches upstream
zlmdb 26.10.1 so databases are interchangeable (see docs/orm.rst, "Key encodings"). Unlike
upstream, every check raises ``TypeError`` (wrong type or arity) or ``ValueError`` (out of
range, wrong length) instead of ``assert``, and every decoder returns what the encoder took.
"""

from __future__ import annotations

import os
import random
import struct
import uuid
from time import time_ns
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy is a declared dependency
    np = None  # type: ignore[assignment]

_NS = np.dtype("datetime64[ns]") if np is not None else None

#: Largest valid OID: 2**53, the largest integer an IEEE double represents exactly.
MAX_OID = 9007199254740992

_UUID = uuid.UUID
_UUID_ZERO = uuid.UUID(int=0)
_pack_Q = struct.Struct(">Q").pack
_unpack_Q = struct.Struct(">Q").unpack
_pack_be_q = struct.Struct(">q").pack
_unpack_be_q = struct.Struct(">q").unpack
_pack_le_q = struct.Struct("<q").pack
_unpack_le_q = struct.Struct("<q").unpack

# Characters of generated random string keys (no 0/O/D, 1/I, 8/B, 2/Z look-alikes).
CHARSET = "345679ACEFGHJKLMNPQRSTUVWXY"


_SECURE_RANDOM = random.SystemRandom()


def random_string() -> str:
    """Return a random key like ``"CAQH-...-..."``: 4 groups of 6 unambiguous characters."""
    rng = random.SystemRandom()
    chars = "".join(rng.choice(CHARSET) for _ in range(24))
    return "-".join(chars[i : i + 6] for i in range(0, 24, 6))


def _need_numpy() -> Any:
    if np is None:  # pragma: no cover
        raise ImportError("timestamp keys and values need numpy: pip install numpy")
    return np


def timestamp_to_int(value: Any) -> int:
    """Return the nanoseconds since the epoch of a ``numpy.datetime64``.

    Values in another unit are converted to nanoseconds (upstream stored the raw count of
    whatever unit it was given, which then read back as the wrong time).

    Raises:
        TypeError: ``value`` is not a ``numpy.datetime64``.
    """
    numpy = _need_numpy()
    if not isinstance(value, numpy.datetime64):
        raise TypeError(f"timestamp must be a numpy.datetime64, not {type(value).__name__}")
    if value.dtype != _NS:
        value = value.astype(_NS)
    n = value.item()  # an int for unit ns (4x cheaper than astype(int64)); None for NaT
    return n if n is not None else int(value.astype(numpy.int64))


def int_to_timestamp(n: int) -> Any:
    """Return ``numpy.datetime64(n, "ns")``."""
    return _need_numpy().datetime64(n, "ns")


def dt_to_bytes(dt: Any) -> bytes:
    """Encode a ``numpy.datetime64`` as 8 big-endian bytes (ns since the epoch, signed).

    Raises:
        TypeError: ``dt`` is not a ``numpy.datetime64``.
    """
    return _pack_be_q(timestamp_to_int(dt))


def bytes_to_dt(data: Any) -> Any:
    """Decode 8 bytes written by :func:`dt_to_bytes` into ``numpy.datetime64[ns]``.

    Raises:
        ValueError: ``data`` is not 8 bytes long.
    """
    if len(data) != 8:
        raise ValueError(f"timestamp needs 8 bytes, got {len(data)}")
    return int_to_timestamp(_unpack_be_q(bytes(data))[0])


class KeyPart:
    """One component of a key: its name, fixed size (None: variable) and its codec.

    ``encode(value) -> bytes`` raises TypeError/ValueError; ``decode(bytes) -> value``;
    ``zero`` is what a NULL (``None``) becomes in keys that allow it.
    """

    __slots__ = ("name", "size", "encode", "decode", "zero", "new")

    def __init__(
        self,
        name: str,
        size: Optional[int],
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        zero: bytes,
        new: Callable[[], Any],
    ) -> None:
        self.name = name
        self.size = size
        self.encode = encode
        self.decode = decode
        self.zero = zero
        self.new = new


def _is_int(value: Any) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _enc_uuid(value: Any) -> bytes:
    if type(value) is _UUID or isinstance(value, _UUID):
        return value.bytes
    raise TypeError(f"key part must be a uuid.UUID, not {type(value).__name__}")


def _uuid_from_bytes_factory() -> Callable[[Any], uuid.UUID]:
    """Return ``uuid_from_bytes(data)``: ``uuid.UUID(bytes=data)`` for exactly 16 bytes,
    without UUID.__init__'s argument parsing (about 3x faster on CPython).

    The shortcut fills the two slots UUID has had since Python 3.8 (``int``, ``is_safe``);
    it is used only if it builds a UUID indistinguishable from the constructor's here, else
    the constructor is.
    """
    new = object.__new__
    set_slot = object.__setattr__
    from_bytes = int.from_bytes
    unknown = uuid.SafeUUID.unknown

    def uuid_from_bytes(data: Any) -> uuid.UUID:
        value = new(_UUID)
        set_slot(value, "int", from_bytes(data, "big"))
        set_slot(value, "is_safe", unknown)
        return value

    def uuid_from_bytes_slow(data: Any) -> uuid.UUID:
        return _UUID(bytes=bytes(data))

    try:
        sample = _UUID("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0")
        fast = uuid_from_bytes(sample.bytes)
        if (
            fast == sample
            and hash(fast) == hash(sample)
            and repr(fast) == repr(sample)
            and fast.is_safe is sample.is_safe
            and fast.__reduce__() == sample.__reduce__()
            and not hasattr(fast, "__dict__")
        ):
            return uuid_from_bytes
    except Exception:  # pragma: no cover - a Python whose UUID is built differently
        pass
    return uuid_from_bytes_slow  # pragma: no cover


#: ``uuid.UUID(bytes=data)`` for 16 bytes (the caller checks the length).
uuid_from_bytes = _uuid_from_bytes_factory()


def _dec_uuid(data: bytes) -> uuid.UUID:
    return uuid_from_bytes(data)


def _enc_string(value: Any) -> bytes:
    if type(value) is str or isinstance(value, str):
        return value.encode()  # UTF-8; lone surrogates raise UnicodeEncodeError (ValueError)
    raise TypeError(f"key part must be a str, not {type(value).__name__}")


def _dec_string(data: bytes) -> str:
    return data.decode()


def _enc_oid(value: Any) -> bytes:
    if type(value) is int and 0 <= value <= MAX_OID:
        return _pack_Q(value)
    if not _is_int(value):
        raise TypeError(f"OID must be an int, not {type(value).__name__}")
    if value < 0 or value > MAX_OID:
        raise ValueError(f"OID must be in [0, 2**53], got {value}")
    return _pack_Q(value)


def _dec_uint64(data: bytes) -> int:
    return _unpack_Q(data)[0]


def _enc_uint(bits: int, fmt: str) -> Callable[[Any], bytes]:
    packer = struct.Struct(fmt).pack
    limit = 1 << bits

    def encode(value: Any) -> bytes:
        if type(value) is tuple and len(value) == 1:  # upstream decoded these as 1-tuples
            value = value[0]
        if not _is_int(value):
            raise TypeError(f"uint{bits} key part must be an int, not {type(value).__name__}")
        if value < 0 or value >= limit:
            raise ValueError(f"uint{bits} key part must be in [0, {limit}), got {value}")
        return packer(value)

    return encode


def _dec_uint(fmt: str) -> Callable[[bytes], int]:
    unpacker = struct.Struct(fmt).unpack

    def decode(data: bytes) -> int:
        return unpacker(data)[0]

    return decode


def _enc_bytes(size: int) -> Callable[[Any], bytes]:
    def encode(value: Any) -> bytes:
        if type(value) is not bytes:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"key part must be bytes[{size}], not {type(value).__name__}")
            value = bytes(value)
        if len(value) != size:
            raise ValueError(f"key part must be bytes[{size}], got {len(value)} bytes")
        return value

    return encode


def _dec_bytes(data: bytes) -> bytes:
    return data


def _enc_timestamp(value: Any) -> bytes:
    return _pack_be_q(timestamp_to_int(value))


def _dec_timestamp(data: bytes) -> Any:
    return int_to_timestamp(_unpack_be_q(data)[0])


def _enc_timestamp_native(value: Any) -> bytes:
    # Upstream's (Oid, Timestamp[, String]) keys store datetime64.tobytes(): little-endian.
    return _pack_le_q(timestamp_to_int(value))


def _dec_timestamp_native(data: bytes) -> Any:
    return int_to_timestamp(_unpack_le_q(data)[0])


def _now() -> Any:
    return int_to_timestamp(time_ns())


UUID = KeyPart("Uuid", 16, _enc_uuid, _dec_uuid, bytes(16), uuid.uuid4)
STRING = KeyPart("String", None, _enc_string, _dec_string, b"", random_string)
OID = KeyPart("Oid", 8, _enc_oid, _dec_uint64, bytes(8), lambda: random.randint(0, MAX_OID))
# upstream checks only the type of the OID in (String, Oid) and (Oid, String) keys: any
# uint64 is valid there (e.g. the exclusive range bound (name, 2**53 + 1))
OID_UNCHECKED = KeyPart(
    "Oid", 8, _enc_uint(64, ">Q"), _dec_uint64, bytes(8), lambda: random.randint(0, MAX_OID)
)
UINT64 = KeyPart(
    "Uint64", 8, _enc_uint(64, ">Q"), _dec_uint64, bytes(8), lambda: random.randint(1, 2**64 - 1)
)
UINT8 = KeyPart(
    "Uint8", 1, _enc_uint(8, "B"), _dec_uint("B"), bytes(1), lambda: random.randint(0, 255)
)
# upstream packs this part with struct "H": native order, i.e. little-endian on every platform
# it ships for; we fix the order to little-endian so files stay portable.
UINT16 = KeyPart(
    "Uint16", 2, _enc_uint(16, "<H"), _dec_uint("<H"), bytes(2), lambda: random.randint(0, 65535)
)
SLOT = KeyPart(
    "Slot", 2, _enc_uint(16, ">H"), _dec_uint(">H"), bytes(2), lambda: random.randint(1, 65535)
)
TIMESTAMP = KeyPart("Timestamp", 8, _enc_timestamp, _dec_timestamp, bytes(8), _now)
TIMESTAMP_LE = KeyPart("Timestamp", 8, _enc_timestamp_native, _dec_timestamp_native, bytes(8), _now)
BYTES16 = KeyPart("Bytes16", 16, _enc_bytes(16), _dec_bytes, bytes(16), lambda: os.urandom(16))
BYTES20 = KeyPart("Bytes20", 20, _enc_bytes(20), _dec_bytes, bytes(20), lambda: os.urandom(20))
BYTES32 = KeyPart("Bytes32", 32, _enc_bytes(32), _dec_bytes, bytes(32), lambda: os.urandom(32))

#: How a composite key treats NULL parts: NULL_NONE rejects them, NULL_ZERO turns every
#: ``None`` into the part's zero bytes, NULL_FIRST_FALSY turns a falsy *first* part (None,
#: b"") into zero bytes (upstream's Bytes16/Bytes20 + timestamp keys).
NULL_NONE, NULL_ZERO, NULL_FIRST_FALSY = 0, 1, 2


class KeyCodec:
    """Serializes keys made of ``parts``; a single part means a scalar key, else a tuple.

    ``separator`` (only for string-only composites) is put between parts; such parts must
    not contain it.
    """

    def __init__(
        self, name: str, parts: Sequence[KeyPart], nulls: int = NULL_NONE, separator: bytes = b""
    ) -> None:
        self.name = name
        self.parts = tuple(parts)
        self.nulls = nulls
        self.separator = separator
        self.arity = len(self.parts)
        variable = [i for i, p in enumerate(self.parts) if p.size is None]
        if len(variable) > 1 and not separator:
            raise ValueError(f"{name}: more than one variable-size part needs a separator")
        self.fixed_size = sum(p.size or 0 for p in self.parts)
        self.variable_index = variable[0] if variable else None
        if self.arity == 1:
            part = self.parts[0]
            self.encode = part.encode
            decode = part.decode
            size = part.size
            if size is None:
                self.decode = decode
            else:

                def decode_fixed(data: bytes) -> Any:
                    if len(data) != size:
                        raise ValueError(f"{name} key needs {size} bytes, got {len(data)}")
                    return decode(data)

                self.decode = decode_fixed
        else:
            self._encoders = tuple(p.encode for p in self.parts)
            if all(p is OID for p in self.parts):
                self.encode = self._oid_tuple_encoder()
            elif nulls == NULL_NONE and not separator:
                self.encode = self._encode_plain_tuple
            else:
                self.encode = self._encode_tuple
            self.decode = self._decode_separated if separator else self._decode_tuple

    def new_key(self, secure: bool = False) -> Any:
        """Return a random key of this codec's type.

        ``secure=True`` (upstream's flag of its OID key mixins, accepted by every key type
        here) draws the OID parts from the operating system's random source; UUID and bytes
        parts always come from it.

        Raises:
            nothing.
        """
        if secure:
            values = tuple(
                _SECURE_RANDOM.randint(0, MAX_OID) if p.size == 8 and p.name == "Oid" else p.new()
                for p in self.parts
            )
        else:
            values = tuple(p.new() for p in self.parts)
        return values[0] if self.arity == 1 else values

    def _check_tuple(self, key: Any) -> None:
        if not isinstance(key, tuple):
            raise TypeError(
                f"{self.name} key must be a tuple of {self.arity} parts, not {type(key).__name__}"
            )
        if len(key) != self.arity:
            raise TypeError(f"{self.name} key must have {self.arity} parts, got {len(key)}")

    def _oid_tuple_encoder(self) -> Callable[[Any], bytes]:
        # (Oid, Oid[, Oid]) keys: one struct call when every part is a plain int in range
        arity = self.arity
        pack = struct.Struct(">" + "Q" * arity).pack
        general = self._encode_plain_tuple

        def encode(key: Any) -> bytes:
            if type(key) is tuple and len(key) == arity:
                for value in key:
                    if type(value) is not int or not 0 <= value <= MAX_OID:
                        return general(key)
                return pack(*key)
            return general(key)

        return encode

    def _encode_plain_tuple(self, key: Any) -> bytes:
        # no NULL handling, no separator: the parts' bytes concatenated
        if type(key) is not tuple or len(key) != self.arity:
            self._check_tuple(key)
        return b"".join([encode(value) for encode, value in zip(self._encoders, key)])

    def _encode_tuple(self, key: Any) -> bytes:
        if type(key) is not tuple or len(key) != self.arity:
            self._check_tuple(key)
        out = []
        nulls = self.nulls
        for i, (part, value) in enumerate(zip(self.parts, key)):
            if value is None and nulls == NULL_ZERO:
                out.append(part.zero)
            elif nulls == NULL_FIRST_FALSY and i == 0 and not value:
                out.append(part.zero)
            else:
                data = part.encode(value)
                if self.separator and self.separator in data:
                    raise ValueError(f"{self.name} key parts must not contain {self.separator!r}")
                out.append(data)
        return self.separator.join(out)

    def _decode_tuple(self, data: bytes) -> Tuple[Any, ...]:
        n = len(data)
        fixed = self.fixed_size
        if self.variable_index is None:
            if n != fixed:
                raise ValueError(f"{self.name} key needs {fixed} bytes, got {n}")
        elif n < fixed:
            raise ValueError(f"{self.name} key needs at least {fixed} bytes, got {n}")
        out = []
        pos = 0
        for part in self.parts:
            size = part.size if part.size is not None else n - fixed
            out.append(part.decode(data[pos : pos + size]))
            pos += size
        return tuple(out)

    def _decode_separated(self, data: bytes) -> Tuple[Any, ...]:
        chunks = data.split(self.separator)
        if len(chunks) != self.arity:
            raise ValueError(f"{self.name} key needs {self.arity} parts, got {len(chunks)}")
        return tuple(part.decode(chunk) for part, chunk in zip(self.parts, chunks))


def _codec(name: str, *parts: KeyPart, nulls: int = NULL_NONE, separator: bytes = b"") -> KeyCodec:
    return KeyCodec(name, parts, nulls, separator)


#: Every key codec, by upstream's mixin name stem (``_<name>KeysMixin``).
KEY_CODECS: Dict[str, KeyCodec] = {
    c.name: c
    for c in (
        _codec("Uuid", UUID),
        _codec("String", STRING),
        _codec("Oid", OID),
        _codec("Bytes32", BYTES32),
        _codec("Bytes20", BYTES20),
        _codec("Bytes16", BYTES16),
        _codec("Timestamp", TIMESTAMP),
        _codec("UuidUuid", UUID, UUID, nulls=NULL_ZERO),
        _codec("UuidUuidUuid", UUID, UUID, UUID, nulls=NULL_ZERO),
        _codec("UuidUuidUuidUuid", UUID, UUID, UUID, UUID, nulls=NULL_ZERO),
        _codec("UuidString", UUID, STRING, nulls=NULL_ZERO),
        _codec("UuidUuidString", UUID, UUID, STRING),
        _codec("UuidUuidUuidString", UUID, UUID, UUID, STRING),
        _codec("UuidTimestamp", UUID, TIMESTAMP, nulls=NULL_ZERO),
        _codec("UuidBytes32", UUID, BYTES32),
        _codec("UuidTimestampUuid", UUID, TIMESTAMP, UUID, nulls=NULL_ZERO),
        _codec("UuidBytes20Uint8", UUID, BYTES20, UINT8, nulls=NULL_ZERO),
        _codec("UuidBytes20Uint8Uuid", UUID, BYTES20, UINT8, UUID, nulls=NULL_ZERO),
        _codec("UuidBytes20Bytes20Uint8Uuid", UUID, BYTES20, BYTES20, UINT8, UUID, nulls=NULL_ZERO),
        _codec("StringString", STRING, STRING, separator=b"\x00"),
        _codec("StringStringString", STRING, STRING, STRING, separator=b"\x00"),
        _codec("StringOid", STRING, OID_UNCHECKED),
        _codec("StringTimestamp", STRING, TIMESTAMP, nulls=NULL_ZERO),
        _codec("OidOid", OID, OID),
        _codec("Oid3", OID, OID, OID),
        _codec("OidString", OID_UNCHECKED, STRING),
        _codec("OidTimestamp", OID, TIMESTAMP_LE),
        _codec("OidTimestampString", OID, TIMESTAMP_LE, STRING),
        _codec("TimestampUuid", TIMESTAMP, UUID, nulls=NULL_ZERO),
        _codec("TimestampString", TIMESTAMP, STRING, nulls=NULL_ZERO),
        _codec("TimestampUuidString", TIMESTAMP, UUID, STRING, nulls=NULL_ZERO),
        _codec("TimestampBytes32", TIMESTAMP, BYTES32, nulls=NULL_ZERO),
        _codec("Bytes32Uuid", BYTES32, UUID),
        _codec("Bytes32Bytes32", BYTES32, BYTES32),
        _codec("Bytes32String", BYTES32, STRING),
        _codec("Bytes20Bytes20", BYTES20, BYTES20),
        _codec("Bytes20String", BYTES20, STRING),
        _codec("Bytes20Timestamp", BYTES20, TIMESTAMP, nulls=NULL_FIRST_FALSY),
        _codec("Bytes16Timestamp", BYTES16, TIMESTAMP, nulls=NULL_FIRST_FALSY),
        _codec("Bytes16TimestampUuid", BYTES16, TIMESTAMP, UUID, nulls=NULL_FIRST_FALSY),
        _codec("Uint16UuidTimestamp", UINT16, UUID, TIMESTAMP, nulls=NULL_ZERO),
        _codec("Uint64Timestamp", UINT64, TIMESTAMP, nulls=NULL_ZERO),
        _codec("SlotUuid", SLOT, UUID),
    )
}


def _key_mixin(codec: KeyCodec) -> type:
    encode = codec.encode
    decode = codec.decode

    def _serialize_key(self: Any, key: Any) -> bytes:
        return encode(key)

    def _deserialize_key(self: Any, data: bytes) -> Any:
        return decode(data)

    names = ", ".join(p.name for p in codec.parts)
    return type(
        f"_{codec.name}KeysMixin",
        (),
        {
            "__doc__": f"Keys of {names} (see docs/orm.rst, 'Key encodings').",
            "__module__": "zlmdb._types",
            "_KEY_CODEC": codec,
            "_serialize_key": _serialize_key,
            "_deserialize_key": _deserialize_key,
            "new_key": staticmethod(codec.new_key),
        },
    )


#: The upstream-named key mixins (``_UuidKeysMixin`` ...), generated from :data:`KEY_CODECS`.
KEY_MIXINS: Dict[str, type] = {name: _key_mixin(codec) for name, codec in KEY_CODECS.items()}
KEY_MIXINS["Oid"].MAX_OID = MAX_OID  # type: ignore[attr-defined]
