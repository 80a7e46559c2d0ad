"""Value serializers of :class:`~zlmdb.store.LmdbObjectStore`: pickle (default), JSON, CBOR, raw.

A serializer turns a Python object into the ``bytes`` stored in LMDB and back. ``loads``
receives a bytes-like object (often a ``memoryview`` straight into the LMDB map, valid only
during the call), so it must not keep a reference to it.
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Callable, Tuple, Union

__all__ = [
    "Serializer",
    "PickleSerializer",
    "JsonSerializer",
    "CborSerializer",
    "RawSerializer",
    "CustomSerializer",
    "SerializerSpec",
    "resolve_serializer",
]


class Serializer:
    """Base class: ``dumps(obj) -> bytes`` and ``loads(bytes_like) -> obj``.

    ``name`` appears in error messages ("Failed to unpickle ..." for pickle, "Failed to
    deserialize ..." for the others).
    """

    name = "serializer"

    def dumps(self, obj: Any) -> bytes:
        """Return the bytes stored for ``obj``. Raises whatever the encoder raises."""
        raise NotImplementedError

    def loads(self, data: Any) -> Any:
        """Return the object stored as ``data`` (bytes-like). Raises on malformed data."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class PickleSerializer(Serializer):
    """``pickle`` at the highest protocol, raw (no header): lmdb-object-store's byte format.

    Unpickling data from an untrusted source runs arbitrary code: use JSON or CBOR for data
    that crosses a trust boundary.
    """

    name = "pickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol
        # Bound once: the put path calls these per item.
        self.dumps = lambda obj, _dumps=pickle.dumps, _p=protocol: _dumps(obj, _p)  # type: ignore[method-assign]
        self.loads = pickle.loads  # type: ignore[method-assign]


class JsonSerializer(Serializer):
    """UTF-8 JSON (compact separators). Values must be JSON-serializable; tuples read back as lists."""

    name = "json"

    def __init__(self) -> None:
        encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
        self._encode = encoder.encode

    def dumps(self, obj: Any) -> bytes:
        """Return compact UTF-8 JSON. Raises TypeError for objects JSON cannot represent."""
        return self._encode(obj).encode("utf-8")

    def loads(self, data: Any) -> Any:
        """Parse UTF-8 JSON. Raises ValueError (json.JSONDecodeError) for malformed data."""
        return json.loads(bytes(data))


class CborSerializer(Serializer):
    """CBOR (RFC 8949) with ``cbor2``'s default encoding: compact, language-neutral, safe to
    load. On PyPy plain data is encoded and decoded by :mod:`zlmdb._cbor` (same bytes and
    values as ``cbor2``, which handles everything else).

    Raises:
        ImportError: at construction when ``cbor2`` is not installed.
    """

    name = "cbor"

    def __init__(self) -> None:
        from .._cbor import FAST_DUMPS, FAST_LOADS

        self.dumps = FAST_DUMPS  # type: ignore[method-assign]
        self._loads = FAST_LOADS

    def loads(self, data: Any) -> Any:
        """Decode CBOR. Raises cbor2's decode error for malformed data."""
        return self._loads(bytes(data))


class RawSerializer(Serializer):
    """No serialization: values are bytes-like and read back as ``bytes``."""

    name = "raw"

    def dumps(self, obj: Any) -> bytes:
        """Return ``obj`` as bytes. Raises TypeError for anything not bytes-like (e.g. ``str``)."""
        if type(obj) is bytes:
            return obj
        if isinstance(obj, str) or obj is None:
            raise TypeError(
                f"raw serializer stores bytes-like values only; got {type(obj).__name__}"
            )
        return bytes(memoryview(obj))

    def loads(self, data: Any) -> bytes:
        """Return a ``bytes`` copy of ``data``."""
        return bytes(data)


class CustomSerializer(Serializer):
    """Wrap a user ``(dumps, loads)`` pair; ``loads`` is given ``bytes``."""

    name = "custom"

    def __init__(self, dumps: Callable[[Any], bytes], loads: Callable[[bytes], Any]) -> None:
        if not callable(dumps) or not callable(loads):
            raise TypeError("serializer=(dumps, loads) needs two callables")
        self._dumps = dumps
        self._loads = loads

    def dumps(self, obj: Any) -> bytes:
        """Call the user's dumps; its result must be bytes-like (else TypeError)."""
        out = self._dumps(obj)
        if type(out) is not bytes:
            if isinstance(out, str) or out is None:
                raise TypeError(f"serializer dumps() must return bytes, got {type(out).__name__}")
            out = bytes(memoryview(out))
        return out

    def loads(self, data: Any) -> Any:
        """Call the user's loads with a ``bytes`` copy of ``data``."""
        return self._loads(bytes(data))


SerializerSpec = Union[str, Serializer, Tuple[Callable[[Any], bytes], Callable[[bytes], Any]], None]

_NAMED = {
    "pickle": PickleSerializer,
    "json": JsonSerializer,
    "cbor": CborSerializer,
    "raw": RawSerializer,
    "bytes": RawSerializer,
}


def resolve_serializer(spec: SerializerSpec) -> Serializer:
    """Return the serializer for a ``serializer=`` argument.

    Accepts ``None``/``"pickle"``, ``"json"``, ``"cbor"``, ``"raw"``/``"bytes"``, a
    :class:`Serializer` (or any object with ``dumps``/``loads`` methods) or a
    ``(dumps, loads)`` pair.

    Raises:
        ValueError: unknown serializer name.
        TypeError: anything else.
        ImportError: ``"cbor"`` without ``cbor2`` installed.
    """
    if spec is None:
        return PickleSerializer()
    if isinstance(spec, str):
        cls = _NAMED.get(spec.lower())
        if cls is None:
            raise ValueError(
                f"unknown serializer {spec!r}; use one of {sorted(_NAMED)} or a (dumps, loads) pair"
            )
        return cls()
    if isinstance(spec, Serializer):
        return spec
    if isinstance(spec, tuple) and len(spec) == 2:
        return CustomSerializer(spec[0], spec[1])
    if callable(getattr(spec, "dumps", None)) and callable(getattr(spec, "loads", None)):
        return CustomSerializer(spec.dumps, spec.loads)
    raise TypeError(
        f"serializer must be a name, a Serializer or a (dumps, loads) pair; got {type(spec).__name__}"
    )
