"""Upstream-compatible home of the key and value mixins (``_UuidKeysMixin``,
``_CborValuesMixin``, ...) and the timestamp helpers, for code that builds its own maps::

    class MapMyKeyCbor(_types._UuidKeysMixin, _types._CborValuesMixin, zlmdb.PersistentMap):
        ...

The mixins are generated in :mod:`zlmdb.orm._keys` / defined in :mod:`zlmdb.orm._values`.
"""

from time import time_ns  # noqa: F401 - upstream clients import it from here

from zlmdb.orm._keys import (
    CHARSET,
    KEY_CODECS,
    KEY_MIXINS,
    MAX_OID,
    bytes_to_dt,
    dt_to_bytes,
    random_string,
)
from zlmdb.orm._values import (  # noqa: F401 - re-exported names
    VALUE_MIXINS,
    _Bytes16ValuesMixin,
    _Bytes20TimestampValuesMixin,
    _Bytes20ValuesMixin,
    _Bytes32ValuesMixin,
    _CborValuesMixin,
    _FlatBuffersValuesMixin,
    _JsonValuesMixin,
    _NumpyValuesMixin,
    _OidSetValuesMixin,
    _OidValuesMixin,
    _Pickle5ValuesMixin,
    _PickleValuesMixin,
    _StringSetValuesMixin,
    _StringValuesMixin,
    _TimestampValuesMixin,
    _UuidSetValuesMixin,
    _UuidValuesMixin,
)

#: upstream's name of :func:`zlmdb.orm._keys.random_string`.
_random_string = random_string

#: the shape of :func:`_random_string`'s keys (4 groups of 6 characters joined by "-").
CHAR_GROUPS = 4
CHARS_PER_GROUP = 6
GROUP_SEP = "-"

#: NumPy is a dependency of the ORM (timestamps are ``numpy.datetime64``).
HAS_NUMPY = True

for _name, _mixin in KEY_MIXINS.items():
    globals()[f"_{_name}KeysMixin"] = _mixin
del _name, _mixin

__all__ = [
    "CHARSET",
    "CHAR_GROUPS",
    "CHARS_PER_GROUP",
    "GROUP_SEP",
    "HAS_NUMPY",
    "KEY_CODECS",
    "MAX_OID",
    "VALUE_MIXINS",
    "bytes_to_dt",
    "dt_to_bytes",
    "time_ns",
]
