"""The NumPy array value format of the ``Map*Numpy`` classes (a zlmdb addition).

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"ZLNA"
    4       1     format version, 1
    5       1     ndim (0..32)
    6       2     L: length of the dtype descriptor
    8       L     dtype descriptor, ASCII: ``dtype.str`` (e.g. ``<f8``, ``|u1``, ``<M8[ns]``)
                  or, for structured dtypes, ``repr(numpy.lib.format.dtype_to_descr(dtype))``
    8+L     8*n   shape, one uint64 per dimension
    ...           the array's bytes in C order

Decoding a buffer (``buffers=True`` transaction) gives a read-only view into the map, valid
while the transaction is open; decoding ``bytes`` gives a writable copy.
"""

from __future__ import annotations

import ast
import struct
from functools import lru_cache
from typing import Any, Tuple

import numpy as np

MAGIC = b"ZLNA"
VERSION = 1
_HEAD = struct.Struct("<4sBBH")
_unpack_head = _HEAD.unpack_from
_HEAD_SIZE = _HEAD.size
_ndarray = np.ndarray
_frombuffer = np.frombuffer

# Parsing a descriptor (ast.literal_eval for structured dtypes) costs tens of microseconds:
# headers are parsed and built once per distinct dtype and shape (the caches are bounded;
# tables usually hold few distinct ones).
_CACHE_SIZE = 1024

# Payloads up to this size are copied as bytes (the array may be unaligned); larger ones
# with ndarray.copy() (aligned).
_SMALL_PAYLOAD = 4096


def _descriptor(dtype: Any) -> bytes:
    if dtype.fields is not None or dtype.subdtype is not None:
        return repr(np.lib.format.dtype_to_descr(dtype)).encode("ascii")
    return dtype.str.encode("ascii")


def _dtype(descriptor: str) -> Any:
    if descriptor.startswith(("[", "(")):
        return np.lib.format.descr_to_dtype(ast.literal_eval(descriptor))
    return np.dtype(descriptor)


@lru_cache(maxsize=_CACHE_SIZE)
def _header(dtype: Any, shape: Tuple[int, ...]) -> bytes:
    """The header of an array of ``dtype`` and ``shape``.

    Raises:
        TypeError: an object dtype.
    """
    if dtype.hasobject:
        raise TypeError("arrays of Python objects cannot be stored (dtype has objects)")
    descriptor = _descriptor(dtype)
    ndim = len(shape)
    head = _HEAD.pack(MAGIC, VERSION, ndim, len(descriptor))
    return head + descriptor + struct.pack(f"<{ndim}Q", *shape)


def encode_array(value: Any) -> bytes:
    """Serialize ``value`` (an ``ndarray`` of a fixed-size dtype) as header + raw bytes.

    Raises:
        TypeError: not an ``ndarray``, or an object dtype.
    """
    if not isinstance(value, _ndarray):
        raise TypeError(f"value must be a numpy.ndarray, not {type(value).__name__}")
    # (len(value),) is cheaper than .shape on PyPy (a tuple built through cpyext)
    shape = (len(value),) if value.ndim == 1 else value.shape
    return _header(value.dtype, shape) + value.tobytes()


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_header(header: bytes) -> Tuple[Any, Tuple[int, ...], int]:
    """(dtype, shape, payload bytes) of a complete header (as cut by :func:`decode_array`).

    Raises:
        ValueError: bad magic or version, or a bad descriptor.
    """
    magic, version, ndim, n = _unpack_head(header, 0)
    if magic != MAGIC:
        raise ValueError("value is not a zlmdb NumPy array (bad magic)")
    if version != VERSION:
        raise ValueError(f"unknown zlmdb NumPy array format version {version}")
    try:
        dtype = _dtype(header[_HEAD_SIZE : _HEAD_SIZE + n].decode("ascii"))
    except (SyntaxError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"bad dtype descriptor in a zlmdb NumPy array: {exc}") from None
    shape = struct.unpack_from(f"<{ndim}Q", header, _HEAD_SIZE + n)
    count = 1
    for dim in shape:
        count *= dim
    return dtype, shape, count


def decode_array(data: Any) -> Any:
    """Rebuild the array written by :func:`encode_array`: a writable copy from ``bytes``,
    a read-only view of any other buffer.

    Raises:
        ValueError: not this format, an unknown version or a truncated buffer.
    """
    size = len(data)
    if size < _HEAD_SIZE:
        raise ValueError("value is too short to be a zlmdb NumPy array")
    _, _, ndim, n = _unpack_head(data, 0)
    offset = _HEAD_SIZE + n + 8 * ndim
    if size < offset:
        raise ValueError("zlmdb NumPy array value has a truncated header")
    header = data[:offset]
    if type(header) is not bytes:
        header = bytes(header)
    dtype, shape, count = _parse_header(header)
    nbytes = size - offset
    if nbytes != count * dtype.itemsize:
        raise ValueError("zlmdb NumPy array value has the wrong payload size")
    if count == 0:
        return np.empty(shape, dtype)
    if type(data) is not bytes:
        array = _frombuffer(memoryview(data).toreadonly(), dtype, count, offset)
    elif nbytes <= _SMALL_PAYLOAD:
        # a writable array over a bytearray copy: ndarray.copy() of a small structured
        # array costs several times more than copying its bytes
        array = _frombuffer(bytearray(data), dtype, count, offset)
    else:
        array = _frombuffer(data, dtype, count, offset).copy()  # aligned
    return array if ndim == 1 else array.reshape(shape)
