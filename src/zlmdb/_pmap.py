"""Upstream-compatible module of :class:`PersistentMap`, its iterator helpers and every
``Map*`` class (defined in :mod:`zlmdb.orm`)."""

from zlmdb.orm._maps import MAPS
from zlmdb.orm._pmap import MAX_SELECT_LIMIT, Index, PersistentMap, is_null, qual

globals().update(MAPS)

__all__ = ["Index", "MAX_SELECT_LIMIT", "PersistentMap", "is_null", "qual", *sorted(MAPS)]
