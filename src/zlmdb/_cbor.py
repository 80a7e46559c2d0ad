"""A CBOR encoder and decoder for plain data, written for PyPy's JIT, that agree with cbor2.

On PyPy ``cbor2`` has no C extension, so every record went through its general pure-Python
encoder and decoder (a class with a per-type dispatch table, a file object, hooks). This module
handles the plain data that records are made of, with the bytes and values ``cbor2`` gives for
them with its default options, and hands everything else to ``cbor2`` itself:

* :func:`dumps` encodes ``dict``, ``list``, ``tuple``, ``str``, ``bytes``, ``int`` (bignums as
  tags 2 and 3), ``float`` (always 8 bytes; NaN and the infinities as 2-byte floats, as
  ``cbor2``), ``bool`` and ``None`` -- exact types only (a subclass such as ``OrderedDict`` or
  an ``IntEnum`` may be encoded differently by ``cbor2``, so it goes there). Map keys keep
  their order (``cbor2``'s default is not canonical). When it meets anything else, or fails for
  any reason (a lone surrogate in a string, a cycle, containers nested more than 50 deep),
  it returns ``cbor2.dumps(obj)`` instead, which encodes it or raises ``cbor2``'s error.
* :func:`loads` decodes definite-length items of major types 0-5, bignums (tags 2 and 3 on a
  non-empty byte string), 2-, 4- and 8-byte floats, ``false``/``true``/``null``; a map key
  must be a scalar. Anything else -- other tags, indefinite lengths, ``undefined`` and other
  simple values, a container as a map key, nesting more than 50 deep, invalid UTF-8, truncated
  data, bytes after the item, an argument that is not ``bytes`` -- makes it return
  ``cbor2.loads(data)``, which decodes it or raises ``cbor2``'s error.

So ``dumps(x) == cbor2.dumps(x)`` and ``loads(b) == cbor2.loads(b)`` (same values and types,
same exceptions) for every input, with one exception: a 2-byte NaN with a payload decodes to a
NaN whose bits may differ from ``cbor2``'s (on CPython ``struct``'s half-float conversion
quiets it and drops the payload; PyPy matches ``cbor2`` bit for bit; either way the value is
a NaN). ``tests/orm/test_cbor.py`` checks this with property tests against the installed
``cbor2``. :data:`FAST_DUMPS` / :data:`FAST_LOADS` are the functions
the ORM and the store use: these on PyPy, ``cbor2``'s own (a C/Rust extension) on CPython,
where they are faster.
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Callable, List

import cbor2

try:  # PyPy: appends without a list of parts, one copy at the end
    from __pypy__.builders import BytesBuilder as _Builder
except ImportError:  # CPython
    _Builder = None

__all__ = ["dumps", "loads", "FAST_DUMPS", "FAST_LOADS"]

_cbor2_dumps = cbor2.dumps
_cbor2_loads = cbor2.loads

_pack_B_B = struct.Struct(">BB").pack
_pack_B_H = struct.Struct(">BH").pack
_pack_B_I = struct.Struct(">BI").pack
_pack_B_Q = struct.Struct(">BQ").pack
_pack_fb = struct.Struct(">Bd").pack
_unpack_H = struct.Struct(">H").unpack_from
_unpack_I = struct.Struct(">I").unpack_from
_unpack_Q = struct.Struct(">Q").unpack_from
_unpack_e = struct.Struct(">e").unpack_from
_unpack_f = struct.Struct(">f").unpack_from
_unpack_d = struct.Struct(">d").unpack_from

_U64 = 1 << 64
_INF = float("inf")
_NAN_BYTES = b"\xf9\x7e\x00"
_INF_BYTES = b"\xf9\x7c\x00"
_NINF_BYTES = b"\xf9\xfc\x00"

# one-byte heads: _HEADS[major][n] for n < 24
_HEADS = [[bytes(((major << 5) | n,)) for n in range(24)] for major in range(8)]
_UINT, _NINT, _BYTES, _TEXT, _ARRAY, _MAP = _HEADS[:6]


# The decoder's cache of short text map keys: slot -> (encoded key, key). Records of one table
# repeat the same field names: handing out the same str objects saves decoding them and, on
# PyPy, hashing them again for the result dict (a str caches its hash). A slot holds one key;
# a clash replaces it (the cache is only ever a shortcut; the bytes are compared in full).
_KEY_SLOTS = 1023
_KEYS: List[Any] = [None] * (_KEY_SLOTS + 1)


# Containers nested deeper than this go to cbor2, which then encodes or decodes them or fails
# as it does (its pure-Python version runs out of stack sooner than this module would).
_MAX_DEPTH = 50


class _Fallback(Exception):
    """Raised inside this module for input that cbor2 must handle."""


def _head(major: int, n: int) -> bytes:
    """The head of a data item: major type and argument ``n`` (0 <= n < 2**64)."""
    if n < 24:
        return _HEADS[major][n]
    mt = major << 5
    if n < 0x100:
        return _pack_B_B(mt | 24, n)
    if n < 0x10000:
        return _pack_B_H(mt | 25, n)
    if n < 0x100000000:
        return _pack_B_I(mt | 26, n)
    return _pack_B_Q(mt | 27, n)


def _bignum(tag: int, n: int) -> bytes:
    """Tag 2 (tag 3 for a negative) around the big-endian bytes of ``n`` (n >= 2**64)."""
    payload = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return _HEADS[6][tag] + _head(2, len(payload)) + payload


def _int(obj: int) -> bytes:
    if obj >= 0:
        if obj < _U64:
            return _head(0, obj)
        return _bignum(2, obj)
    n = -1 - obj
    if n < _U64:
        return _head(1, n)
    return _bignum(3, n)


def _float(obj: float) -> bytes:
    if obj != obj:
        return _NAN_BYTES
    if obj == _INF:
        return _INF_BYTES
    if obj == -_INF:
        return _NINF_BYTES
    return _pack_fb(0xFB, obj)


def _encode(obj: Any, out: Callable[[bytes], Any], depth: int) -> None:
    """Append the encoding of ``obj`` to ``out`` (a list's ``append``).

    Containers' items of the common scalar types are encoded in the loops themselves (one
    function call per nested container, none per scalar), which is what lets PyPy's JIT turn
    a record into straight-line code.
    """
    t = type(obj)
    if t is dict:
        depth += 1
        if depth > _MAX_DEPTH:
            raise _Fallback
        out(_head(5, len(obj)))
        for k, v in obj.items():
            t = type(k)
            if t is str:
                b = k.encode()
                n = len(b)
                out(_TEXT[n] if n < 24 else _head(3, n))
                out(b)
            elif t is int and 0 <= k < 24:
                out(_UINT[k])
            else:
                _encode(k, out, depth)
            t = type(v)
            if t is str:
                b = v.encode()
                n = len(b)
                out(_TEXT[n] if n < 24 else _head(3, n))
                out(b)
            elif t is int:
                out(_UINT[v] if 0 <= v < 24 else _int(v))
            elif t is float:
                out(_float(v))
            else:
                _encode(v, out, depth)
    elif t is list or t is tuple:
        depth += 1
        if depth > _MAX_DEPTH:
            raise _Fallback
        out(_head(4, len(obj)))
        for v in obj:
            t = type(v)
            if t is str:
                b = v.encode()
                n = len(b)
                out(_TEXT[n] if n < 24 else _head(3, n))
                out(b)
            elif t is int:
                out(_UINT[v] if 0 <= v < 24 else _int(v))
            elif t is float:
                out(_float(v))
            else:
                _encode(v, out, depth)
    elif t is str:
        b = obj.encode()
        out(_head(3, len(b)))
        out(b)
    elif t is int:
        out(_int(obj))
    elif t is float:
        out(_float(obj))
    elif t is bool:
        out(b"\xf5" if obj else b"\xf4")
    elif obj is None:
        out(b"\xf6")
    elif t is bytes:
        out(_head(2, len(obj)))
        out(obj)
    else:
        raise _Fallback


def dumps(obj: Any) -> bytes:
    """Return ``cbor2.dumps(obj)`` (cbor2's default options), computed here for plain data.

    Raises:
        cbor2.CBOREncodeError: whatever ``cbor2.dumps(obj)`` raises (this function then
            returns or raises exactly what ``cbor2`` does).
    """
    if _Builder is not None:
        builder = _Builder()
        try:
            _encode(obj, builder.append, 0)
        except Exception:
            return _cbor2_dumps(obj)
        return builder.build()
    parts: List[bytes] = []
    try:
        _encode(obj, parts.append, 0)
    except Exception:
        return _cbor2_dumps(obj)
    return b"".join(parts)


def _decode(data: bytes, pos: int, depth: int) -> Any:
    """Decode the item at ``data[pos]``: returns ``(value, position after it)``.

    Raises _Fallback (or IndexError, struct.error, UnicodeDecodeError on bad data) for
    anything :func:`loads` leaves to cbor2.
    """
    ib = data[pos]
    major = ib >> 5
    ai = ib & 31
    pos += 1
    if major == 7:
        if ai == 27:
            return _unpack_d(data, pos)[0], pos + 8
        if ai == 20:
            return False, pos
        if ai == 21:
            return True, pos
        if ai == 22:
            return None, pos
        if ai == 25:
            return _unpack_e(data, pos)[0], pos + 2
        if ai == 26:
            return _unpack_f(data, pos)[0], pos + 4
        raise _Fallback
    # the argument
    if ai < 24:
        n = ai
    elif ai == 24:
        n = data[pos]
        pos += 1
    elif ai == 25:
        n = _unpack_H(data, pos)[0]
        pos += 2
    elif ai == 26:
        n = _unpack_I(data, pos)[0]
        pos += 4
    elif ai == 27:
        n = _unpack_Q(data, pos)[0]
        pos += 8
    else:
        raise _Fallback  # indefinite length or reserved
    if major == 0:
        return n, pos
    if major == 3:
        end = pos + n
        if end > len(data):
            raise _Fallback
        return data[pos:end].decode(), end
    if major == 5:
        depth += 1
        if n > len(data) - pos or depth > _MAX_DEPTH:
            raise _Fallback
        result = {}
        keys = _KEYS
        for _ in range(n):
            ib = data[pos]
            if 0x61 <= ib < 0x78:  # short text key: look in the key cache first
                end = pos + 1 + (ib - 0x60)
                slot = ((data[pos + 1] << 5) ^ (data[end - 1] << 1) ^ ib) & _KEY_SLOTS
                entry = keys[slot]
                if entry is not None and data.startswith(entry[0], pos):
                    key = entry[1]
                else:
                    if end > len(data):
                        raise _Fallback
                    raw = data[pos:end]
                    key = raw[1:].decode()
                    keys[slot] = (raw, key)
                pos = end
            else:
                key, pos = _decode(data, pos, depth)
                t = type(key)
                if t is list or t is dict:
                    raise _Fallback  # cbor2 turns these into tuples/frozen dicts
            ib = data[pos]
            if ib < 0x18:
                result[key] = ib
                pos += 1
            elif ib == 0x18:
                result[key] = data[pos + 1]
                pos += 2
            elif ib == 0x19:
                result[key] = _unpack_H(data, pos + 1)[0]
                pos += 3
            elif ib == 0x1A:
                result[key] = _unpack_I(data, pos + 1)[0]
                pos += 5
            elif 0x60 <= ib < 0x78:
                end = pos + 1 + (ib - 0x60)
                if end > len(data):
                    raise _Fallback
                result[key] = data[pos + 1 : end].decode()
                pos = end
            elif ib == 0xFB:
                result[key] = _unpack_d(data, pos + 1)[0]
                pos += 9
            else:
                result[key], pos = _decode(data, pos, depth)
        return result, pos
    if major == 4:
        depth += 1
        if n > len(data) - pos or depth > _MAX_DEPTH:
            raise _Fallback
        items = []
        append = items.append
        for _ in range(n):
            ib = data[pos]
            if ib < 0x18:
                append(ib)
                pos += 1
            elif 0x60 <= ib < 0x78:
                end = pos + 1 + (ib - 0x60)
                if end > len(data):
                    raise _Fallback
                append(data[pos + 1 : end].decode())
                pos = end
            elif ib == 0xFB:
                append(_unpack_d(data, pos + 1)[0])
                pos += 9
            else:
                value, pos = _decode(data, pos, depth)
                append(value)
        return items, pos
    if major == 1:
        return -1 - n, pos
    if major == 2:
        end = pos + n
        if end > len(data):
            raise _Fallback
        return data[pos:end], end
    # major 6: tags; only the bignums (tag 2, tag 3 on a definite byte string)
    if n == 2 or n == 3:
        ib = data[pos]
        if ib >> 5 == 2:
            payload, pos = _decode(data, pos, depth)
            if not payload:
                raise _Fallback  # cbor2 5 raises for an empty bignum, cbor2 6 reads 0
            value = int.from_bytes(payload, "big")
            return (value if n == 2 else -1 - value), pos
    raise _Fallback


def loads(data: Any) -> Any:
    """Return ``cbor2.loads(data)`` (cbor2's default options), computed here for plain data.

    Raises:
        cbor2.CBORDecodeError: whatever ``cbor2.loads(data)`` raises (malformed or truncated
            data; this function then returns or raises exactly what ``cbor2`` does).
        TypeError: ``data`` is not bytes-like (from ``cbor2``).
    """
    if type(data) is bytes:
        try:
            value, pos = _decode(data, 0, 0)
            if pos == len(data):
                return value
        except Exception:
            pass
    return _cbor2_loads(data)


_PYPY = sys.implementation.name == "pypy"

#: The CBOR encoder the ORM and the store use: this module's on PyPy, ``cbor2.dumps`` elsewhere.
FAST_DUMPS: Callable[[Any], bytes] = dumps if _PYPY else _cbor2_dumps
#: The CBOR decoder the ORM and the store use: this module's on PyPy, ``cbor2.loads`` elsewhere.
FAST_LOADS: Callable[[Any], Any] = loads if _PYPY else _cbor2_loads
