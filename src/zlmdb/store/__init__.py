"""zlmdb.store: LmdbObjectStore, a buffered, thread-safe object store over LMDB.

A drop-in replacement for lmdb-object-store 0.1.0::

    from zlmdb.store import LmdbObjectStore

    with LmdbObjectStore("data", key_encoding="utf-8") as db:
        db["answer"] = {"value": 42}
        print(db["answer"])

See ``docs/store.rst`` for buffering, durability, threads, processes and serializers.
"""

from ._serializers import (
    CborSerializer,
    CustomSerializer,
    JsonSerializer,
    PickleSerializer,
    RawSerializer,
    Serializer,
)
from ._store import LmdbObjectStore, StoreItemsView, StoreKeysView, StoreValuesView

__all__ = [
    "LmdbObjectStore",
    "Serializer",
    "PickleSerializer",
    "JsonSerializer",
    "CborSerializer",
    "RawSerializer",
    "CustomSerializer",
    "StoreKeysView",
    "StoreValuesView",
    "StoreItemsView",
]
