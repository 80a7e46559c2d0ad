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
from typing import Any

import numpy as np

MAGIC = b"ZLNA"
VERSION = 1
_HEAD = struct.Struct("<4sBBH")


def _descriptor(dtype: Any) -> bytes:
    if dtype.fields is not None or dtype.subdtype is not None:
        return repr(np.lib.format.dtype_to_descr(dtype)).encode("ascii")
    return dtype.str.encode("ascii")


def _dtype(descriptor: str) -> Any:
    if descriptor.startswith(("[", "(")):
        return np.lib.format.descr_to_dtype(ast.literal_eval(descriptor))
    return np.dtype(descriptor)


def encode_array(value: Any) -> bytes:
    """Serialize ``value`` (an ``ndarray`` of a fixed-size dtype) as header + raw bytes.

    Raises:
        TypeError: not an ``ndarray``, or an object dtype.
    """
    if not isinstance(value, np.ndarray):
        raise TypeError(f"value must be a numpy.ndarray, not {type(value).__name__}")
    if value.dtype.hasobject:
        raise TypeError("arrays of Python objects cannot be stored (dtype has objects)")
    descriptor = _descriptor(value.dtype)
    head = _HEAD.pack(MAGIC, VERSION, value.ndim, len(descriptor))
    shape = struct.pack(f"<{value.ndim}Q", *value.shape)
    return b"".join((head, descriptor, shape, np.ascontiguousarray(value).tobytes()))


def decode_array(data: Any) -> Any:
    """Rebuild the array written by :func:`encode_array`.

    Raises:
        ValueError: not this format, an unknown version or a truncated buffer.
    """
    view = memoryview(data).toreadonly()
    if len(view) < _HEAD.size:
        raise ValueError("value is too short to be a zlmdb NumPy array")
    magic, version, ndim, n = _HEAD.unpack(view[: _HEAD.size])
    if magic != MAGIC:
        raise ValueError("value is not a zlmdb NumPy array (bad magic)")
    if version != VERSION:
        raise ValueError(f"unknown zlmdb NumPy array format version {version}")
    pos = _HEAD.size
    dtype = _dtype(bytes(view[pos : pos + n]).decode("ascii"))
    pos += n
    shape = struct.unpack(f"<{ndim}Q", view[pos : pos + 8 * ndim])
    pos += 8 * ndim
    count = 1
    for dim in shape:
        count *= dim
    if len(view) - pos != count * dtype.itemsize:
        raise ValueError("zlmdb NumPy array value has the wrong payload size")
    if count == 0:
        return np.empty(shape, dtype)
    array = np.frombuffer(view, dtype=dtype, count=count, offset=pos).reshape(shape)
    if isinstance(data, bytes):
        return array.copy()
    return array
