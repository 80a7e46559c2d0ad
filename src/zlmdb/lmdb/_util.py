"""Conversion of Python objects to the (pointer, length) pairs the C helpers take."""

from __future__ import annotations

import operator
from typing import Any, Tuple

from ._ffi import ffi

UNICODE_MESSAGE = "Won't implicitly convert Unicode to bytes; use .encode()"

_from_buffer = ffi.from_buffer


def as_buffer(obj: Any) -> Tuple[Any, int]:
    """Return ``(c_argument, nbytes)`` for a key or value (the slow path).

    ``bytes`` pass through; other buffer-protocol objects are wrapped with ``ffi.from_buffer``
    (no copy; non-contiguous buffers are copied). ``None`` is the empty value.

    Raises:
        TypeError: for ``str`` (with py-lmdb's message) and for objects without the buffer
            protocol.
    """
    if type(obj) is bytes:
        return obj, len(obj)
    if obj is None:
        return b"", 0
    if isinstance(obj, str):
        raise TypeError(UNICODE_MESSAGE)
    if isinstance(obj, bytes):
        return bytes(obj), len(obj)
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"a bytes-like object is required, not '{type(obj).__name__}'") from None
    if not view.c_contiguous:
        data = view.tobytes()
        return data, len(data)
    if view.nbytes == 0:
        return b"", 0
    return _from_buffer("char[]", obj), view.nbytes


def as_path(path: Any) -> str:
    """Return a filesystem path as ``str``; accepts ``str``, ``bytes`` and ``os.PathLike``.

    Raises:
        TypeError: for anything else.
    """
    import os

    if isinstance(path, (str, bytes)) or hasattr(path, "__fspath__"):
        path = os.fsdecode(os.fspath(path))
        return path
    raise TypeError(f"path must be str or bytes, not {type(path).__name__}")


def refuse_pickle(self: Any, *args: Any) -> Any:
    """``__reduce_ex__`` of the handle classes: they own LMDB state and cannot be copied.

    ``pickle``, ``copy.copy`` and ``copy.deepcopy`` all go through ``__reduce_ex__``; without
    this a shallow copy would share the C handle and a second ``close()`` or ``__del__``
    would free it twice.

    Raises:
        TypeError: always, with the message py-lmdb gives (``cannot pickle 'Environment'
            object``).
    """
    raise TypeError(f"cannot pickle {type(self).__name__!r} object")


def as_int(value: Any, name: str) -> int:
    """Return an integer argument as ``int``: ``int`` itself or any object with ``__index__``.

    py-lmdb accepts numpy integers (``map_size=np.int64(...)``, common when a size is computed
    from array sizes), so this does too.

    Raises:
        TypeError: ``value`` is not an integer (``float``, ``str``, ...).
    """
    if type(value) is int:
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
