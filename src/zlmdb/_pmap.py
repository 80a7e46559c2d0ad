"""Upstream-compatible module of :class:`PersistentMap`, its iterator helpers and every
``Map*`` class (defined in :mod:`zlmdb.orm`)."""

from zlmdb.orm._maps import MAPS
from zlmdb.orm._pmap import MAX_SELECT_LIMIT, Index, PersistentMap, is_null, qual, snappy

#: True when python-snappy is installed (``PersistentMap.COMPRESS_SNAPPY`` works).
HAS_SNAPPY = snappy is not None
del snappy

globals().update(MAPS)

__all__ = [
    "HAS_SNAPPY",
    "Index",
    "MAX_SELECT_LIMIT",
    "PersistentMap",
    "is_null",
    "qual",
    *sorted(MAPS),
]
