"""PersistentMap: a typed table in one slot of the database, and its indexes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import MutableMapping
from itertools import islice, repeat
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from uuid import UUID

from .. import lmdb
from ._errors import NullValueConstraint, UniqueValueConstraint
from ._keys import MAX_OID, OID, STRING
from ._keys import UUID as UUID_PART
from ._transaction import FLUSH_AT, NO_TOPS, Transaction

try:
    import snappy  # type: ignore[import-not-found]
except ImportError:
    snappy = None

#: select(limit=...) must be below this (upstream's bound).
MAX_SELECT_LIMIT = 10_000_000

_pack_slot = struct.Struct(">H").pack
_pack_slot_oid = struct.Struct(">HQ").pack
_unpack_oid_from = struct.Struct(">Q").unpack_from

# Larger than every LMDB key (at most 511 bytes on LMDB 0.9, 1978 on 1.0 with 4 KiB pages):
# the end bound of the last slot.
_AFTER_ALL_KEYS = b"\xff" * 2048

# The largest int CPython 3.11 compares without a generic call (one 30-bit digit): the hot
# paths' range check of Oid keys up to it; larger Oids are checked against MAX_OID.
_SMALL_INT = (1 << 30) - 1
_INT_ONLY = {int}
_BYTES_ONLY = {bytes}

# How a map's keys are encoded on the hot paths: by the codec of a scalar Oid, String or
# Uuid key inlined into __getitem__/__setitem__/select, or (generic) by _serialize_key.
_KEY_UNPREPARED, _KEY_GENERIC, _KEY_OID, _KEY_STRING, _KEY_UUID, _KEY_OIDS = -1, 0, 1, 2, 3, 4
_KEY_KINDS = {id(OID): _KEY_OID, id(STRING): _KEY_STRING, id(UUID_PART): _KEY_UUID}


class Index:
    """Bookkeeping of one index attached to a table: ``name``, ``fkey`` (value -> index
    key), the index ``pmap``, ``nullable`` and ``unique``."""

    __slots__ = ("_name", "_fkey", "_pmap", "_nullable", "_unique")

    def __init__(
        self,
        name: str,
        fkey: Callable[[Any], Any],
        pmap: PersistentMap,
        nullable: bool = False,
        unique: bool = True,
    ) -> None:
        self._name = name
        self._fkey = fkey
        self._pmap = pmap
        self._nullable = nullable
        self._unique = unique

    @property
    def name(self) -> str:
        """The index name (unique per table)."""
        return self._name

    @property
    def fkey(self) -> Callable[[Any], Any]:
        """The function extracting the index key from a table value."""
        return self._fkey

    @property
    def pmap(self) -> PersistentMap:
        """The map holding the index records."""
        return self._pmap

    @property
    def nullable(self) -> bool:
        """Whether a NULL index key is allowed (then no index record is written)."""
        return self._nullable

    @property
    def unique(self) -> bool:
        """Whether an index key may point to one record only."""
        return self._unique


def is_null(value: Any) -> bool:
    """True if ``value`` is None, or a tuple/list with a None element."""
    if value is None:
        return True
    if type(value) is tuple or type(value) is list:
        for v in value:
            if v is None:
                return True
    return False


def _defined_by(cls: type, name: str) -> Optional[type]:
    """The class of ``cls``'s MRO whose body defines ``name`` (None: nowhere)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def _oid_valued(pmap: PersistentMap) -> bool:
    """True if ``pmap`` stores its values with the Oid value mixin's own codec (8 bytes
    big-endian, uncompressed): the bytes an Oid key is stored as."""
    cls = type(pmap)
    owner = _defined_by(cls, "_OID_VALUES")
    return (
        owner is not None
        and pmap._compress is None
        and _defined_by(cls, "_serialize_value") is owner
        and _defined_by(cls, "_deserialize_value") is owner
    )


def _key_kind_of(pmap: PersistentMap) -> int:
    """The inline key encoding a map's hot paths use for a scalar String or Oid key
    (_KEY_STRING, _KEY_OID), decided by its class alone; _KEY_GENERIC otherwise."""
    cls = type(pmap)
    codec = getattr(cls, "_KEY_CODEC", None)
    if codec is None or codec.arity != 1 or pmap._prefix is None:
        return _KEY_GENERIC
    owner = _defined_by(cls, "_KEY_CODEC")
    if (
        _defined_by(cls, "_serialize_key") is not owner
        or _defined_by(cls, "_deserialize_key") is not owner
    ):
        return _KEY_GENERIC
    kind = _KEY_KINDS.get(id(codec.parts[0]), _KEY_GENERIC)
    return kind if kind in (_KEY_STRING, _KEY_OID) else _KEY_GENERIC


def qual(obj: Any) -> str:
    """Return ``module.ClassName`` of ``obj``'s class."""
    return f"{obj.__class__.__module__}.{obj.__class__.__name__}"


def _raw(txn: Any) -> lmdb.Transaction:
    """The LMDB transaction of ``txn`` for point reads and writes, which go through its
    buffer of pending puts (see :class:`~zlmdb.orm.Transaction`)."""
    if not isinstance(txn, Transaction):
        raise TypeError(f"expected a zlmdb.Transaction, not {type(txn).__name__}")
    raw = txn._raw
    if raw is None:
        raise lmdb.Error("transaction is not open: use it inside 'with db.begin() as txn:'")
    return raw


def _flushed(txn: Any) -> lmdb.Transaction:
    """The LMDB transaction of ``txn`` holding every pending put: for cursors and ranges."""
    raw = _raw(txn)
    if txn._pending:
        txn._flush()
    return raw


def _lookup(pending: Optional[Dict[bytes, bytes]], raw: lmdb.Transaction, key: bytes) -> Any:
    """The stored bytes of ``key`` as the transaction sees them (pending puts first)."""
    if pending:
        data = pending.get(key)
        if data is not None:
            return data
    return raw.get(key)


def _stage(txn: Transaction, key: bytes, data: Any) -> None:
    """Put ``key`` in a write transaction: into its buffer, or straight into LMDB for data
    that is not ``bytes`` and for keys LMDB will refuse (so that the error comes now)."""
    pending = txn._pending
    if pending is not None and type(data) is bytes and len(key) <= txn._max_key:
        pending[key] = data
        if len(pending) >= FLUSH_AT:
            txn._flush()
    else:
        raw = _raw(txn)  # not open: raises zlmdb.lmdb.Error
        if pending:
            pending.pop(key, None)
        raw.put(key, data)  # read transaction: raises ReadonlyError
    tops = txn._tops
    if tops:
        _raise_top(tops, key)


def _raise_top(tops: Dict[bytes, bytes], key: bytes) -> None:
    prefix = key[:2]
    top = tops.get(prefix)
    if top is not None and key > top:
        tops[prefix] = key


def _delete(txn: Transaction, raw: lmdb.Transaction, key: bytes) -> bool:
    """Delete ``key`` (pending or stored); return whether it existed."""
    pending = txn._pending
    found = bool(pending) and pending.pop(key, None) is not None  # type: ignore[union-attr]
    if raw.delete(key):
        found = True
    if found:
        stats = txn._stats
        if stats is not None:
            stats.dels += 1
    return found


def _points_to(
    pending: Optional[Dict[bytes, bytes]],
    raw: lmdb.Transaction,
    index_key: bytes,
    index_data: bytes,
    table: Optional[PersistentMap] = None,
    index_map: Optional[PersistentMap] = None,
    full_key: Optional[bytes] = None,
) -> bool:
    """Whether the index record ``index_key`` points to the table record whose index value
    is ``index_data`` (and whose full table key is ``full_key``)."""
    current = _lookup(pending, raw, index_key)
    if current is None:
        return False
    if current == index_data:
        return True
    return table is not None and table._same_record(index_map, current, full_key)


def _flushing(txn: Transaction, records: Iterator[Any]) -> Iterator[Any]:
    """``records`` of a cursor in a write transaction, with the puts made while the caller
    handles one record written before the cursor steps on (as unbuffered puts would be)."""
    if txn._pending:
        txn._flush()
    for record in records:
        yield record
        if txn._pending:
            txn._flush()


def _split(txn_key: Any) -> Tuple[Any, Any]:
    if type(txn_key) is not tuple or len(txn_key) != 2:
        raise TypeError("index a table with [txn, key]")
    return txn_key


class PersistentMap(MutableMapping):
    """Abstract base of every table: a map from typed keys to typed values, stored in one
    slot of the database (keys prefixed by the slot as 2 bytes big-endian).

    Subclasses provide ``_serialize_key``/``_deserialize_key`` and
    ``_serialize_value``/``_deserialize_value`` (normally through the key and value mixins
    of :mod:`zlmdb._types`). All operations take the transaction first: ``table[txn, key]``.

    ``slot``: 1..65535 (None: not usable until given one). ``compress``: None,
    :attr:`COMPRESS_ZLIB` or :attr:`COMPRESS_SNAPPY` (values only).

    Raises:
        TypeError: ``slot`` not an int.
        ValueError: ``slot`` out of range, unknown ``compress``, or snappy not installed.
    """

    COMPRESS_ZLIB = 1
    COMPRESS_SNAPPY = 2

    # set on classes by @zlmdb.table
    _zlmdb_oid: Any = None
    _zlmdb_marshal: Optional[Callable] = None
    _zlmdb_parse: Optional[Callable] = None
    _zlmdb_build: Optional[Callable] = None
    _zlmdb_cast: Optional[Callable] = None
    _zlmdb_compress: Optional[int] = None

    _ZERO_COPY = False

    # The hot paths' view of this map, filled by _prepare() on first use (hooks such as
    # marshal= may be set after PersistentMap.__init__): see _prepare.
    _ready = False
    _plain_oid = False
    _key_kind = _KEY_UNPREPARED  # also the hot paths' "prepared" flag: see _hooks_changed
    # The largest Oid key __getitem__ (_oid_upto) and __setitem__ (_plain_upto) pack inline
    # after one chained comparison, 0 <= key <= upto: _SMALL_INT on a prepared Oid-keyed map
    # (__setitem__: without indexes), else -1, which no key passes.
    _oid_upto = -1
    _plain_upto = -1
    _v_marshal: Optional[Callable[[Any], Any]] = None
    _v_dumps: Callable[[Any], bytes]
    _v_loads: Callable[[Any], Any]
    _v_unmarshal: Optional[Callable[[Any], Any]] = None
    _v_buffers = False
    _v_oid = False
    _index_plan: Tuple[Tuple[Index, PersistentMap, bool, Callable, bool, Optional[bytes]], ...] = ()
    _index_via: Dict[str, Tuple[PersistentMap, bool, int, Optional[bytes]]] = {}

    def __init__(self, slot: Optional[int] = None, compress: Optional[int] = None) -> None:
        if slot is not None:
            if type(slot) is not int and (not isinstance(slot, int) or isinstance(slot, bool)):
                raise TypeError(f"slot must be an int, not {type(slot).__name__}")
            if not 0 < slot < 65536:
                raise ValueError(f"slot must be in [1, 65535], got {slot}")
        self._slot = slot
        self._prefix = _pack_slot(slot) if slot is not None else None
        self._next_prefix = _pack_slot(slot + 1) if slot is not None and slot < 65535 else None
        if not compress:
            self._compress: Optional[Callable[[bytes], bytes]] = None
            self._decompress: Optional[Callable[[Any], bytes]] = None
        elif compress == PersistentMap.COMPRESS_ZLIB:
            self._compress = zlib.compress
            self._decompress = zlib.decompress
        elif compress == PersistentMap.COMPRESS_SNAPPY:
            if snappy is None:
                raise ValueError("snappy compression requested, but python-snappy is not installed")
            self._compress = snappy.compress
            self._decompress = snappy.uncompress
        else:
            raise ValueError(f"invalid compression mode {compress!r}")
        self._index_attached_to: Optional[PersistentMap] = None
        self._indexes: Dict[str, Index] = {}
        self._hooks_changed()

    # identity semantics: Mapping's __eq__ would iterate the (unbounded) table
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    @property
    def slot(self) -> Optional[int]:
        """The slot number of this table."""
        return self._slot

    def __repr__(self) -> str:
        return f"<{type(self).__name__} slot={self._slot}>"

    # -- the four serialization hooks ------------------------------------------------------

    def _serialize_key(self, key: Any) -> bytes:
        raise NotImplementedError("must be implemented in derived class")

    def _deserialize_key(self, data: bytes) -> Any:
        raise NotImplementedError("must be implemented in derived class")

    def _serialize_value(self, value: Any) -> bytes:
        raise NotImplementedError("must be implemented in derived class")

    def _deserialize_value(self, data: bytes) -> Any:
        raise NotImplementedError("must be implemented in derived class")

    # -- helpers ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Choose the hot paths of this map: on first use, and again after
        :meth:`_hooks_changed`. Values are assigned before ``_key_kind``, which the hot
        paths read as "prepared", so a concurrent reader never sees half a choice.

        Keys: a scalar Oid, String or Uuid key whose ``_serialize_key``/``_deserialize_key``
        are the codec's own (not overridden) is encoded inline. Values: the value mixin may
        offer ``_fast_value_codec()`` -> ``(marshal, dumps, loads, unmarshal, buffers)`` when
        its hooks are not overridden; otherwise ``_serialize_value``/``_deserialize_value``
        are called directly, or, for compressed maps, ``_encode_value``/``_decode_payload``.
        ``buffers``: ``loads`` accepts buffers (memoryviews) as well as bytes.
        """
        cls = type(self)
        self._key_prefix()  # no slot: raise here, stay unprepared
        kind = _KEY_GENERIC
        self._encode_key: Callable[[Any], bytes] = self._serialize_key
        self._decode_key: Callable[[bytes], Any] = self._deserialize_key
        codec = getattr(cls, "_KEY_CODEC", None)
        if codec is not None:
            owner = _defined_by(cls, "_KEY_CODEC")
            if (
                _defined_by(cls, "_serialize_key") is owner
                and _defined_by(cls, "_deserialize_key") is owner
            ):
                # the codec's functions, without the mixin methods around them
                self._encode_key, self._decode_key = codec.encode, codec.decode
                if codec.arity == 1:
                    kind = _KEY_KINDS.get(id(codec.parts[0]), _KEY_GENERIC)
                elif all(part is OID for part in codec.parts):
                    # (Oid, Oid[, Oid]): one struct call with the slot
                    kind = _KEY_OIDS
                    self._oids_arity = codec.arity
                    self._oids_pack = struct.Struct(">H" + "Q" * codec.arity).pack
        if self._compress is None:
            fast = None
            owner = _defined_by(cls, "_fast_value_codec")
            if (
                owner is not None
                and _defined_by(cls, "_serialize_value") is owner
                and _defined_by(cls, "_deserialize_value") is owner
            ):
                fast = self._fast_value_codec()  # type: ignore[attr-defined]
            if fast is None:
                fast = (None, self._serialize_value, self._deserialize_value, None, self._ZERO_COPY)
        else:
            fast = (None, self._encode_value, self._decode_payload, None, True)
        self._v_marshal, self._v_dumps, self._v_loads, self._v_unmarshal, self._v_buffers = fast
        # _put_indexed's view of the indexes: (index, index map, whether the index value is
        # the tail of the record's full key (an Oid-keyed table, an Oid-valued index map),
        # fkey, unique, the index map's slot prefix)
        self._index_plan = tuple(
            (
                index,
                index._pmap,
                kind == _KEY_OID and _oid_valued(index._pmap),
                index._fkey,
                index._unique,
                index._pmap._prefix,
            )
            for index in self._indexes.values()
        )
        # get_by_index's view of the indexes: name -> (index map, whether the index value
        # is the tail of the record's full key, the index map's key kind (the codec's,
        # fixed by its class) and slot prefix); emptied by _hooks_changed
        self._index_via = {
            entry[0]._name: (entry[1], entry[2], _key_kind_of(entry[1]), entry[1]._prefix)
            for entry in self._index_plan
        }
        # __getitem__ decodes Oid values (what indexes hold) inline
        self._v_oid = _oid_valued(self)
        # __setitem__'s shortest path: a scalar Oid key and no index to maintain
        self._plain_oid = kind == _KEY_OID and not self._indexes
        self._key_kind = kind
        self._ready = True
        self._oid_upto = _SMALL_INT if kind == _KEY_OID else -1
        self._plain_upto = _SMALL_INT if self._plain_oid else -1

    def _hooks_changed(self) -> None:
        """Make the next operation choose the hot paths again (_prepare)."""
        self._oid_upto = self._plain_upto = -1
        self._ready = False
        self._plain_oid = False
        self._key_kind = _KEY_UNPREPARED
        self._index_via = {}  # get_by_index: prepare again (an index may be gone)

    def _key_prefix(self) -> bytes:
        prefix = self._prefix
        if prefix is None:
            raise ValueError(f"{type(self).__name__} has no slot: pass slot= or use attach_table()")
        return prefix

    def _full_key(self, key: Any) -> bytes:
        """Slot prefix + serialized key."""
        if not self._ready:
            self._prepare()
        kind = self._key_kind
        if kind == _KEY_OID:
            if type(key) is int and 0 <= key <= MAX_OID:
                return _pack_slot_oid(self._slot, key)
        elif kind == _KEY_STRING:
            if type(key) is str:
                return self._prefix + key.encode()
        elif kind == _KEY_UUID:
            if type(key) is UUID:
                return self._prefix + key.bytes
        elif kind == _KEY_OIDS:
            if type(key) is tuple and len(key) == self._oids_arity:
                for part in key:
                    if type(part) is not int or not 0 <= part <= MAX_OID:
                        break
                else:
                    return self._oids_pack(self._slot, *key)
        return self._key_prefix() + self._encode_key(key)

    def _encode(self, value: Any) -> bytes:
        """The stored bytes of ``value`` (serialized, compressed), by the hot path."""
        if not self._ready:
            self._prepare()
        marshal = self._v_marshal
        return self._v_dumps(value if marshal is None else marshal(value))

    def _decode(self, data: Any) -> Any:
        """The value of stored bytes (None for missing or empty), by the hot path."""
        if not data:
            return None
        if not self._ready:
            self._prepare()
        if type(data) is not bytes and not self._v_buffers:
            data = bytes(data)
        value = self._v_loads(data)
        unmarshal = self._v_unmarshal
        return value if unmarshal is None else unmarshal(value)

    def _encode_value(self, value: Any) -> bytes:
        data = self._serialize_value(value)
        if self._compress is not None:
            data = self._compress(data)
        return data

    def _decode_payload(self, data: Any) -> Any:
        if self._decompress is not None:
            data = self._decompress(data)
        elif type(data) is not bytes and not self._ZERO_COPY:
            data = bytes(data)
        return self._deserialize_value(data)

    def _decode_value(self, data: Any) -> Any:
        if not data:
            return None
        return self._decode_payload(data)

    # -- single records --------------------------------------------------------------------

    def __contains__(self, txn_key: Any) -> bool:
        """``(txn, key) in table``.

        Raises:
            TypeError: not a ``(txn, key)`` pair, or a bad key.
            ValueError: a bad key.
        """
        txn, key = _split(txn_key)
        raw = _raw(txn)
        return _lookup(txn._pending, raw, self._full_key(key)) is not None

    # __getitem__ and __setitem__ inline _full_key, _decode and _encode: a Python call
    # costs as much as LMDB's own get on the common scalar keys.

    def __getitem__(self, txn_key: Any) -> Any:
        """``table[txn, key]``: the value, or None when missing (or stored empty).

        Raises:
            TypeError: not a ``(txn, key)`` pair, or a bad key.
            ValueError: a bad key.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        try:
            txn, key = txn_key
            raw = txn._raw
        except (TypeError, ValueError, AttributeError):
            txn, key = _split(txn_key)
            raw = _raw(txn)
        if type(key) is int and 0 <= key <= self._oid_upto:  # a prepared Oid-keyed map
            full_key = _pack_slot_oid(self._slot, key)
        elif type(key) is str and self._key_kind == _KEY_STRING:
            full_key = self._prefix + key.encode()
        else:
            full_key = self._full_key(key)  # runs _prepare() on first use
        pending = txn._pending
        try:
            if pending:
                data = pending.get(full_key)
                if data is None:
                    data = raw.get(full_key)
            else:
                data = raw.get(full_key)
        except AttributeError:
            if raw is None:
                _raw(txn)  # the transaction is not open: raises zlmdb.lmdb.Error
            raise
        if not data:
            return None
        if self._v_oid and len(data) == 8:
            return _unpack_oid_from(data, 0)[0]  # an index lookup: the Oid value inline
        if txn._buffers and not self._v_buffers and type(data) is not bytes:
            data = bytes(data)  # (only a buffers=True transaction returns buffers)
        # the hooks are read as attributes, then called: self._v_loads(data) would be a
        # method lookup (type, then instance dict) that 3.11 cannot specialize
        loads = self._v_loads
        unmarshal = self._v_unmarshal
        if unmarshal is None:
            return loads(data)
        return unmarshal(loads(data))

    def __setitem__(self, txn_key: Any, value: Any) -> None:
        """``table[txn, key] = value``; keeps every attached index up to date.

        All checks (key, value, index constraints) happen before anything is written, so a
        failed assignment leaves the database unchanged.

        Raises:
            TypeError, ValueError: a bad key or value.
            NullValueConstraint: a non-nullable index key is NULL.
            UniqueValueConstraint: a unique index key already points to another record.
            zlmdb.lmdb.ReadonlyError: in a read transaction.
        """
        try:
            txn, key = txn_key
            fast = txn._fast  # the write buffer, if no put needs more than buffering
        except (TypeError, ValueError, AttributeError):
            txn, key = _split(txn_key)
            _raw(txn)
            fast = txn._fast
        if type(key) is int and 0 <= key <= self._plain_upto:
            # _full_key, _encode and _stage inlined for the most common table (a prepared
            # Oid-keyed map without indexes; larger Oids: _full_key checks them)
            full_key = _pack_slot_oid(self._slot, key)
            marshal = self._v_marshal
            dumps = self._v_dumps  # an attribute, then a call: see __getitem__
            data = dumps(value if marshal is None else marshal(value))
            if fast is not None and type(data) is bytes:
                fast[full_key] = data
                if len(fast) >= FLUSH_AT:
                    txn._flush()
                stats = txn._stats
                if stats is not None:
                    stats.puts += 1
                return
        else:
            kind = self._key_kind
            if type(key) is int and kind == _KEY_OID and 0 <= key <= _SMALL_INT:
                full_key = _pack_slot_oid(self._slot, key)
            elif type(key) is str and kind == _KEY_STRING:
                full_key = self._prefix + key.encode()
            else:
                full_key = self._full_key(key)  # runs _prepare() on first use
            marshal = self._v_marshal
            dumps = self._v_dumps
            data = dumps(value if marshal is None else marshal(value))
            if self._indexes:
                raw = txn._raw
                if raw is None:
                    _raw(txn)  # the transaction is not open: raises zlmdb.lmdb.Error
                if txn._tops is NO_TOPS:  # _put_indexed updates the tops it reads
                    txn._tops = {}
                self._put_indexed(txn, raw, key, full_key, value, data)
                return
        _stage(txn, full_key, data)
        stats = txn._stats
        if stats is not None:
            stats.puts += 1

    def _put_many(self, txn: Transaction, ops: List[Tuple[Any, Any, Any]], put: Any) -> None:
        """Apply ``ops`` (``(kind, key, value)``; ``kind == put`` for a put, any other kind
        deletes ``key``) in order, as ``table[txn, key] = value`` / ``del table[txn, key]``
        would: the writers' batch loop. A plain Oid-keyed table (no index) takes its puts
        straight into the transaction's buffer, without a call per record.

        Raises:
            the errors of ``__setitem__`` and ``__delitem__`` (the operations before the
            failing one are applied in ``txn``).
        """
        if not self._ready:
            self._prepare()
        if self._plain_oid and len(ops) > 1 and self._put_many_plain(txn, ops, put):
            return
        pack = _pack_slot_oid
        slot = self._slot
        marshal = self._v_marshal
        dumps = self._v_dumps
        stats = txn._stats
        for kind, key, value in ops:
            if kind != put:
                self.__delitem__((txn, key))
                continue
            fast = txn._fast
            if fast is not None and self._plain_oid and type(key) is int and 0 <= key <= MAX_OID:
                data = dumps(value if marshal is None else marshal(value))
                if type(data) is bytes:
                    fast[pack(slot, key)] = data
                    if len(fast) >= FLUSH_AT:
                        txn._flush()
                else:  # e.g. a bytearray: straight into LMDB, encoded once
                    _stage(txn, pack(slot, key), data)
                if stats is not None:
                    stats.puts += 1
                continue
            self.__setitem__((txn, key), value)

    def _put_many_plain(self, txn: Transaction, ops: List[Tuple[Any, Any, Any]], put: Any) -> bool:
        """_put_many's batch of puts only, on a plain Oid-keyed table: every key checked,
        every value encoded and the records handed to the transaction by C-level loops
        (map, zip) instead of a Python loop per record. Returns False, having done nothing,
        when the batch needs the general loop (a delete, a key that is not an Oid in range,
        or a transaction that keeps slot tops).

        Raises:
            the errors of the map's marshal hook and serializer: then none of the batch's
            puts is applied.
        """
        if txn._fast is None:  # not open, a read transaction, or slot tops to maintain
            return False
        kinds, keys, values = zip(*ops)
        if kinds.count(put) != len(kinds):
            return False
        if set(map(type, keys)) != _INT_ONLY or min(keys) < 0 or max(keys) > MAX_OID:
            return False
        marshal = self._v_marshal
        if marshal is not None:
            values = map(marshal, values)
        data = list(map(self._v_dumps, values))
        records = list(zip(map(_pack_slot_oid, repeat(self._slot, len(keys)), keys), data))
        if set(map(type, data)) == _BYTES_ONLY:
            txn._put_records(records)
        else:  # e.g. bytearrays from a custom serializer: staged one by one, encoded once
            for full_key, value_data in records:
                _stage(txn, full_key, value_data)
        stats = txn._stats
        if stats is not None:
            stats.puts += len(data)
        return True

    def __delitem__(self, txn_key: Any) -> None:
        """``del table[txn, key]``: delete the record (a missing key is ignored) and its
        index records.

        Raises:
            TypeError, ValueError: a bad key.
            zlmdb.lmdb.ReadonlyError: in a read transaction.
        """
        txn, key = _split(txn_key)
        raw = _raw(txn)
        full_key = self._full_key(key)
        if self._indexes:
            pending = txn._pending
            old_value = self._decode(_lookup(pending, raw, full_key))
            if old_value is not None:
                for index in self._indexes.values():
                    index_key, index_data = self._index_record(index, key, old_value)
                    if index_key is not None and _points_to(
                        pending, raw, index_key, index_data, self, index._pmap, full_key
                    ):
                        _delete(txn, raw, index_key)
        _delete(txn, raw, full_key)

    def __len__(self) -> int:
        raise NotImplementedError("a table has no len(): use count(txn)")

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("a table is not iterable: use select(txn)")

    # -- indexes ---------------------------------------------------------------------------

    def indexes(self) -> List[str]:
        """Return the sorted names of the attached indexes."""
        return sorted(self._indexes)

    def is_index(self) -> bool:
        """Return True if this map is attached as an index of another map."""
        return self._index_attached_to is not None

    def attach_index(
        self,
        name: str,
        pmap: PersistentMap,
        fkey: Callable[[Any], Any],
        nullable: bool = False,
        unique: bool = True,
    ) -> None:
        """Attach ``pmap`` as index ``name``: for every record, ``pmap[fkey(value)] = key``.

        ``nullable``: a NULL ``fkey`` (None, or a tuple containing None) writes no index
        record instead of raising :class:`NullValueConstraint`. ``unique``: a put whose index
        key already points to another record raises :class:`UniqueValueConstraint`; with
        ``unique=False`` the index record is overwritten (upstream's behaviour; model
        one-to-many indexes by putting the table key into the index key).

        Raises:
            ValueError: ``name`` is already used, ``pmap`` already is an index, or this map
                itself is an index.
            TypeError: ``pmap`` is not a PersistentMap or ``fkey`` not callable.
        """
        if not isinstance(pmap, PersistentMap):
            raise TypeError(f"index must be a PersistentMap, not {type(pmap).__name__}")
        if not callable(fkey):
            raise TypeError("fkey must be callable")
        if self._index_attached_to is not None:
            raise ValueError(
                f"cannot attach an index to an index (this map is an index of {self._index_attached_to!r})"
            )
        if pmap._index_attached_to is not None:
            raise ValueError(f"index already attached (to {pmap._index_attached_to!r})")
        if pmap is self:
            raise ValueError("a map cannot be its own index")
        if name in self._indexes:
            raise ValueError(f'index with name "{name}" already exists')
        self._indexes[name] = Index(name, fkey, pmap, nullable, unique)
        pmap._index_attached_to = self
        self._hooks_changed()  # the hot paths depend on having indexes

    def detach_index(self, name: str) -> None:
        """Detach index ``name`` (no-op when absent); its records stay in the database."""
        index = self._indexes.pop(name, None)
        if index is not None:
            index.pmap._index_attached_to = None
            self._hooks_changed()

    def get_by_index(self, txn: Transaction, name: str, index_key: Any) -> Any:
        """The record that index ``name`` maps ``index_key`` to, or None: what
        ``table[txn, index[txn, index_key]]`` returns, in one call.

        None when the index has no record for ``index_key``, or the table record it points
        to is missing (or stored empty). Sees the transaction's own pending writes. An
        Oid-keyed table with an Oid-valued index map (``MapStringOid``, ``MapOidOid``,
        ``MapOidOidOid``, ...) is read in one call into C: the index record, then the table
        record its value names. ``index_key`` is a key of the index map's type (for a
        composite index, the whole tuple; use :meth:`select_by_index` for ranges).

        Raises:
            ValueError: no index of that name is attached, a bad ``index_key``, or an index
                record that is not a key of this table.
            TypeError: a bad ``index_key`` or a ``txn`` that is not a zlmdb.Transaction.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        via = self._index_via.get(name)
        if via is None:
            if self._ready:
                raise ValueError(f'no index "{name}" attached')
            self._prepare()
            return self.get_by_index(txn, name, index_key)
        pmap, tail, kind, index_prefix = via
        if type(index_key) is str and kind == _KEY_STRING:
            ikey = index_prefix + index_key.encode()
        elif type(index_key) is int and kind == _KEY_OID and 0 <= index_key <= MAX_OID:
            ikey = _pack_slot_oid(pmap._slot, index_key)
        else:
            ikey = pmap._full_key(index_key)
        try:
            raw = txn._raw
            pending = txn._pending
        except AttributeError:
            raw = _raw(txn)  # raises TypeError
            pending = None
        if raw is None:
            _raw(txn)  # the transaction is not open: raises zlmdb.lmdb.Error
        if tail and not pending:
            data = raw._get_indirect(ikey, self._prefix, 8)
        else:
            data = self._get_through(txn, raw, pmap, tail, ikey)
        if not data:
            return None
        if type(data) is not bytes and not self._v_buffers:
            data = bytes(data)
        value = self._v_loads(data)
        unmarshal = self._v_unmarshal
        return value if unmarshal is None else unmarshal(value)

    def _get_through(
        self, txn: Transaction, raw: lmdb.Transaction, pmap: PersistentMap, tail: bool, ikey: bytes
    ) -> Any:
        """The stored bytes of the table record the index record ``ikey`` points to (None:
        none), reading through the transaction's pending puts: get_by_index's general way."""
        pending = txn._pending
        index_data = _lookup(pending, raw, ikey)
        if not index_data:
            return None
        if tail:
            if len(index_data) != 8:
                raise ValueError("the value of the index key is not 8 bytes long")
            full_key = self._prefix + bytes(index_data)
        else:
            table_key = pmap._decode(index_data)
            if table_key is None:
                return None
            full_key = self._full_key(table_key)
        return _lookup(pending, raw, full_key)

    def select_by_index(
        self,
        txn: Transaction,
        name: str,
        from_key: Any = None,
        to_key: Any = None,
        return_keys: bool = False,
        reverse: bool = False,
        limit: Optional[int] = None,
    ) -> Iterator[Any]:
        """Iterate over the records that index ``name`` maps the index keys
        ``from_key <= index key < to_key`` to, in index key order: the records of a
        non-unique (composite) index key, e.g. ``from_key=(realm, 0), to_key=(realm + 1, 0)``
        on a ``(realm, oid)`` index.

        Bounds are those of :meth:`select` on the index map (``None``: open). Yields records,
        or ``(table key, record)`` with ``return_keys=True``; index records whose table
        record is missing (or stored empty) are skipped. ``limit`` caps the records yielded.
        Sees the transaction's pending writes; valid only while ``txn`` is open.

        Raises:
            ValueError: no index of that name is attached, a bad bound, or ``limit`` not in
                (0, 10_000_000).
            TypeError: a bad bound or ``limit`` not an int.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        index = self._indexes.get(name)
        if index is None:
            raise ValueError(f'no index "{name}" attached')
        if limit is not None:
            if type(limit) is not int:
                raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
            if not 0 < limit < MAX_SELECT_LIMIT:
                raise ValueError(f"limit must be in (0, {MAX_SELECT_LIMIT}), got {limit}")
        table_keys = index._pmap.select(
            txn, from_key, to_key, return_keys=False, return_values=True, reverse=reverse
        )
        return self._records_of(txn, table_keys, bool(return_keys), limit)

    def _records_of(
        self, txn: Transaction, table_keys: Iterator[Any], return_keys: bool, limit: Optional[int]
    ) -> Iterator[Any]:
        left = limit
        for table_key in table_keys:
            if table_key is None:
                continue
            record = self[txn, table_key]
            if record is None:
                continue
            yield (table_key, record) if return_keys else record
            if left is not None:
                left -= 1
                if not left:
                    return

    def _index_record(self, index: Index, key: Any, value: Any) -> Tuple[Optional[bytes], bytes]:
        """(full index key or None for NULL, index value bytes) of one table record."""
        pmap = index._pmap
        index_data = pmap._encode(key)
        fkey = index._fkey(value)
        if is_null(fkey):
            return None, index_data
        return pmap._full_key(fkey), index_data

    def _put_indexed(
        self,
        txn: Transaction,
        raw: lmdb.Transaction,
        key: Any,
        full_key: bytes,
        value: Any,
        data: bytes,
    ) -> None:
        """Put a record of an indexed table and keep its index records up to date.

        Every check (NULL keys, unique keys, key sizes) is made before anything is written,
        so a failed put changes nothing. Reads go through the transaction's pending puts.
        A key above the largest key of its slot is known to be new without a read (see
        :meth:`_slot_top`): appending inserts read nothing, and a new unique index key above
        its index's top needs no conflict read either. An update reads the old record once;
        an index record whose key did not change and already points here is left alone."""
        pending = txn._pending
        max_key = txn._max_key
        tops = txn._tops
        writable = pending is not None and len(full_key) <= max_key
        old_value = None
        top = full_key
        if writable:
            top = tops.get(self._prefix)
            if top is None:
                top = self._slot_top(txn)
                pending = txn._pending  # a new buffer if _slot_top() wrote the old one
            if full_key <= top:
                old_value = self._decode(_lookup(pending, raw, full_key))
        deletes: Optional[List[bytes]] = None
        puts: List[Tuple[bytes, bytes, bytes]] = []  # (index key, index data, index prefix)
        for index, pmap, tail, fkey_of, unique, index_prefix in self._index_plan:
            kind = pmap._key_kind
            if kind == _KEY_UNPREPARED:
                pmap._prepare()
                kind = pmap._key_kind
            if tail:
                index_data = full_key[2:]  # an Oid key's bytes are the Oid value's
            else:
                marshal = pmap._v_marshal
                index_data = pmap._v_dumps(key if marshal is None else marshal(key))
            fkey = fkey_of(value)
            new_key = None
            # the common index keys inline (neither can be NULL); LMDB takes any Oid key
            if kind == _KEY_STRING and type(fkey) is str:
                new_key = pmap._prefix + fkey.encode()
                if len(new_key) > max_key:
                    raw.put(new_key, index_data)  # raises BadValsizeError (ReadonlyError)
            elif kind == _KEY_OIDS and type(fkey) is tuple and len(fkey) == pmap._oids_arity:
                if len(fkey) == 2:
                    a, b = fkey
                    if (
                        type(a) is int
                        and type(b) is int
                        and 0 <= a <= MAX_OID
                        and 0 <= b <= MAX_OID
                    ):
                        new_key = pmap._oids_pack(pmap._slot, a, b)
                else:
                    for part in fkey:
                        if type(part) is not int or not 0 <= part <= MAX_OID:
                            break
                    else:
                        new_key = pmap._oids_pack(pmap._slot, *fkey)
            if new_key is None:
                if is_null(fkey):
                    if not index._nullable:
                        raise NullValueConstraint(
                            f'cannot insert NULL value into non-nullable index "{qual(self)}::{index._name}"'
                        )
                else:
                    new_key = pmap._full_key(fkey)
                    if len(new_key) > max_key:
                        raw.put(new_key, index_data)  # raises BadValsizeError (ReadonlyError)
            if not writable:
                continue  # only the checks above; the put below raises
            if old_value is None:
                # a new record (or one stored empty): no old index record to move
                if new_key is None:
                    continue
                if unique:
                    index_top = tops.get(index_prefix)
                    if index_top is None:
                        index_top = pmap._slot_top(txn)
                        pending = txn._pending
                    if new_key <= index_top:
                        current = _lookup(pending, raw, new_key)
                        if (
                            current is not None
                            and current != index_data
                            and self._index_target_exists(txn, raw, pmap, current)
                        ):
                            raise UniqueValueConstraint(
                                f'unique index "{qual(self)}::{index._name}" already has key '
                                f"{index._fkey(value)!r} for another record"
                            )
                puts.append((new_key, index_data, index_prefix))
                continue
            old_key = None
            old_fkey = index._fkey(old_value)
            if not is_null(old_fkey):
                old_key = pmap._full_key(old_fkey)
            if new_key is not None:
                if old_key == new_key:
                    current = _lookup(pending, raw, new_key)
                elif index._unique:
                    index_top = tops.get(index_prefix)
                    if index_top is None:
                        index_top = pmap._slot_top(txn)
                        pending = txn._pending
                    current = None if new_key > index_top else _lookup(pending, raw, new_key)
                else:
                    current = None
                if current is None:
                    puts.append((new_key, index_data, index_prefix))
                elif current != index_data:
                    if (
                        index._unique
                        and self._index_target_exists(txn, raw, pmap, current)
                        and not self._same_record(pmap, current, full_key)
                    ):
                        raise UniqueValueConstraint(
                            f'unique index "{qual(self)}::{index._name}" already has key '
                            f"{index._fkey(value)!r} for another record"
                        )
                    puts.append((new_key, index_data, index_prefix))
            if old_key is not None and old_key != new_key:
                if _points_to(pending, raw, old_key, index_data, self, pmap, full_key):
                    if deletes is None:
                        deletes = []
                    deletes.append(old_key)
        if not writable:
            raw.put(full_key, data)  # raises ReadonlyError (read txn) or BadValsizeError
            raise lmdb.Error("unreachable: LMDB accepted a put it must refuse")
        # all checks passed: write
        if deletes is not None:
            for index_key in deletes:
                _delete(txn, raw, index_key)
        pending = txn._pending
        if type(data) is bytes and len(pending) + len(puts) < FLUSH_AT:
            # _stage inlined: every key was checked above, the tops are known
            pending[full_key] = data
            if full_key > top:
                tops[self._prefix] = full_key
            for index_key, index_data, index_prefix in puts:
                if type(index_data) is not bytes:
                    _stage(txn, index_key, index_data)
                    continue
                pending[index_key] = index_data
                index_top = tops.get(index_prefix)
                if index_top is not None and index_key > index_top:
                    tops[index_prefix] = index_key
        else:
            _stage(txn, full_key, data)
            for index_key, index_data, _ in puts:
                _stage(txn, index_key, index_data)
        stats = txn._stats
        if stats is not None:
            stats.puts += 1 + len(puts)

    def _oids_key(self, key: tuple) -> bytes:
        """Full key of an (Oid, Oid[, Oid]) key map: one struct call."""
        if len(key) == self._oids_arity:
            for part in key:
                if type(part) is not int or not 0 <= part <= MAX_OID:
                    break
            else:
                return self._oids_pack(self._slot, *key)
        return self._full_key(key)

    def _slot_top(self, txn: Transaction) -> bytes:
        """The largest key of this map's slot in ``txn`` (the slot prefix when it is empty),
        remembered in ``txn._tops`` and raised by every later put of the transaction: a key
        above it is new. One cursor lookup per slot and transaction."""
        raw = _flushed(txn)
        cursor = txn._cursor
        if cursor is None:
            cursor = txn._cursor = raw.cursor()
        prefix = self._key_prefix()
        after = self._next_prefix
        if after is not None and cursor.set_range(after):
            found = cursor.prev()
        else:
            found = cursor.last()
        top = prefix
        if found:
            last = cursor.key()
            if type(last) is not bytes:
                last = bytes(last)
            if last[:2] == prefix:
                top = last
        tops = txn._tops
        if tops is NO_TOPS:  # the transaction's first top: its own dict
            tops = txn._tops = {}
        tops[prefix] = top
        txn._fast = None  # from now on every put maintains the tops (_stage)
        return top

    def _same_record(self, pmap: Any, index_data: Any, full_key: Optional[bytes]) -> bool:
        """Whether the index value ``index_data`` (of index map ``pmap``) names the record
        stored under ``full_key`` although its bytes differ from what this put computed: the
        record was written under another spelling of the same key, which this table's key
        hooks store alike (a custom ``_serialize_key`` that folds case, ``(n,)`` for ``n``).
        Only reached when the bytes differ, so the common paths pay nothing."""
        if pmap is None or full_key is None:
            return False
        try:
            return self._full_key(pmap._decode(index_data)) == full_key
        except (TypeError, ValueError, AttributeError, UnicodeDecodeError):
            return False

    def _index_target_exists(
        self, txn: Transaction, raw: lmdb.Transaction, pmap: PersistentMap, index_data: Any
    ) -> bool:
        """Whether the table record an index record points to exists (a stale index record,
        e.g. left by an older writer, may be overwritten even in a unique index)."""
        try:
            key = pmap._decode(index_data)
            return _lookup(txn._pending, raw, self._full_key(key)) is not None
        except (TypeError, ValueError):
            return True

    def rebuild_index(self, txn: Transaction, name: str) -> Tuple[int, int]:
        """Rebuild index ``name`` from the table: every record gets an index record whose
        value is the record's own key. Returns ``(deleted, inserted)`` index records.

        Raises:
            ValueError: no index of that name.
            NullValueConstraint, UniqueValueConstraint: a record violates the index (then
                nothing was changed).
        """
        index = self._indexes.get(name)
        if index is None:
            raise ValueError(f'no index "{name}" attached')
        raw = _flushed(txn)
        entries: Dict[bytes, bytes] = {}
        for data_key, data in self._iter_raw(raw, self._key_prefix(), self._next_prefix, True):
            value = self._decode(data)
            if value is None:
                continue
            key = self._deserialize_key(data_key[2:])
            index_key, index_data = self._index_record(index, key, value)
            if index_key is None:
                if index.nullable:
                    continue
                raise NullValueConstraint(
                    f'cannot insert NULL value into non-nullable index "{qual(self)}::{name}"'
                )
            if index.unique and entries.get(index_key, index_data) != index_data:
                raise UniqueValueConstraint(
                    f'unique index "{qual(self)}::{name}": two records have key {index.fkey(value)!r}'
                )
            entries[index_key] = index_data
        deleted = index.pmap.truncate(txn)
        for index_key, index_data in entries.items():
            txn.put(index_key, index_data)
        return deleted, len(entries)

    def rebuild_indexes(self, txn: Transaction) -> Tuple[int, int]:
        """Rebuild every attached index (in name order); return summed ``(deleted, inserted)``.

        Raises:
            the errors of :meth:`rebuild_index`.
        """
        total_deleted = total_inserted = 0
        for name in sorted(self._indexes):
            deleted, inserted = self.rebuild_index(txn, name)
            total_deleted += deleted
            total_inserted += inserted
        return total_deleted, total_inserted

    # -- ranges ----------------------------------------------------------------------------

    def _bounds(self, from_key: Any, to_key: Any) -> Tuple[bytes, Optional[bytes]]:
        prefix = self._key_prefix()
        start = prefix if from_key is None else prefix + self._serialize_key(from_key)
        stop = self._next_prefix if to_key is None else prefix + self._serialize_key(to_key)
        return start, stop

    @staticmethod
    def _iter_raw(
        raw: lmdb.Transaction,
        start: bytes,
        stop: Optional[bytes],
        values: bool,
        reverse: bool = False,
    ) -> Iterator[Any]:
        """Raw records in ``[start, stop)`` (``stop=None``: to the end), keys as bytes."""
        cursor = raw.cursor()
        if reverse:
            if stop is not None and cursor.set_range(stop):
                found = cursor.prev()
            else:
                found = cursor.last()
            if not found:
                return
            items = cursor.iterprev(keys=True, values=values)
        else:
            if not cursor.set_range(start):
                return
            items = cursor.iternext(keys=True, values=values)
        for item in items:
            key = item[0] if values else item
            if type(key) is not bytes:
                key = bytes(key)
            if reverse:
                if key < start:
                    return
            elif stop is not None and key >= stop:
                return
            yield (key, item[1]) if values else key

    def select(
        self,
        txn: Transaction,
        from_key: Any = None,
        to_key: Any = None,
        return_keys: bool = True,
        return_values: bool = True,
        reverse: bool = False,
        limit: Optional[int] = None,
    ) -> Iterator[Any]:
        """Iterate over the records with ``from_key <= key < to_key`` in key-byte order.

        ``None`` bounds are open (``0``, ``""`` and ``b""`` are real bounds). Yields
        ``(key, value)``, ``key``, ``value`` or ``None`` per record following the
        ``return_*`` flags; ``reverse=True`` walks down from just below ``to_key``;
        ``limit`` caps the number of records. Valid only while ``txn`` is open.

        Raises:
            TypeError, ValueError: a bad bound, or ``limit`` not an int in (0, 10_000_000).
            zlmdb.lmdb.Error: the transaction is not open.
        """
        if limit is not None:
            if type(limit) is not int:
                raise TypeError(f"limit must be an int or None, not {type(limit).__name__}")
            if not 0 < limit < MAX_SELECT_LIMIT:
                raise ValueError(f"limit must be in (0, {MAX_SELECT_LIMIT}), got {limit}")
        raw = _flushed(txn)
        start, stop = self._bounds(from_key, to_key)
        records = self._select(
            raw, start, stop, bool(return_keys), bool(return_values), bool(reverse), limit
        )
        return _flushing(txn, records) if txn._write else records

    def _select(
        self,
        raw: lmdb.Transaction,
        start: bytes,
        stop: Optional[bytes],
        return_keys: bool,
        return_values: bool,
        reverse: bool,
        limit: Optional[int],
    ) -> Iterator[Any]:
        if stop is not None and stop <= start:
            return iter(())
        if not self._ready:
            self._prepare()
        if reverse:
            records = self._select_reverse(raw, start, stop, return_keys, return_values)
        elif return_values:
            records = self._select_values(raw, start, stop, return_keys)
        else:
            records = self._select_keys(raw, start, stop, return_keys)
        return records if limit is None else islice(records, limit)

    def _select_values(
        self, raw: lmdb.Transaction, start: bytes, stop: Optional[bytes], return_keys: bool
    ) -> Iterator[Any]:
        # the hot loop of select(): _decode and the Oid key decoder inlined
        cursor = raw.cursor()
        if not cursor.set_range(start):
            return
        if stop is None:
            stop = _AFTER_ALL_KEYS
        oid_keys = self._key_kind == _KEY_OID
        decode_key = self._decode_key
        loads = self._v_loads
        unmarshal = self._v_unmarshal
        any_buffer = self._v_buffers
        for key, data in cursor.iternext(keys=True, values=True):
            if type(key) is not bytes:
                key = bytes(key)
            if key >= stop:
                return
            if not data:
                value = None
            else:
                if type(data) is not bytes and not any_buffer:
                    data = bytes(data)
                value = loads(data)
                if unmarshal is not None:
                    value = unmarshal(value)
            if not return_keys:
                yield value
            elif oid_keys and len(key) == 10:
                yield _unpack_oid_from(key, 2)[0], value
            else:
                yield decode_key(key[2:]), value

    def _select_keys(
        self, raw: lmdb.Transaction, start: bytes, stop: Optional[bytes], return_keys: bool
    ) -> Iterator[Any]:
        cursor = raw.cursor()
        if not cursor.set_range(start):
            return
        if stop is None:
            stop = _AFTER_ALL_KEYS
        oid_keys = self._key_kind == _KEY_OID
        decode_key = self._decode_key
        for key in cursor.iternext(keys=True, values=False):
            if type(key) is not bytes:
                key = bytes(key)
            if key >= stop:
                return
            if not return_keys:
                yield None
            elif oid_keys and len(key) == 10:
                yield _unpack_oid_from(key, 2)[0]
            else:
                yield decode_key(key[2:])

    def _select_reverse(
        self,
        raw: lmdb.Transaction,
        start: bytes,
        stop: Optional[bytes],
        return_keys: bool,
        return_values: bool,
    ) -> Iterator[Any]:
        decode_key = self._decode_key
        decode = self._decode
        for item in self._iter_raw(raw, start, stop, return_values, True):
            if return_values:
                key, data = item
                value = decode(data)
                yield (decode_key(key[2:]), value) if return_keys else value
            elif return_keys:
                yield decode_key(item[2:])
            else:
                yield None

    def count(self, txn: Transaction, prefix: Any = None) -> int:
        """Count the records whose serialized key starts with ``serialize(prefix)``
        (``None``: the whole table). ``prefix`` is a complete key of this map's type.

        Raises:
            TypeError, ValueError: a bad prefix.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        raw = _flushed(txn)
        start = self._key_prefix()
        if prefix is not None:
            start += self._serialize_key(prefix)
        return raw.count_range(start, None, prefix=True)

    def count_range(self, txn: Transaction, from_key: Any, to_key: Any) -> int:
        """Count the records with ``from_key <= key < to_key`` (``None``: open bound).

        Raises:
            TypeError, ValueError: a bad bound.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        raw = _flushed(txn)
        start, stop = self._bounds(from_key, to_key)
        if stop is not None and stop <= start:
            return 0
        return raw.count_range(start, stop)

    def truncate(self, txn: Transaction, rebuild_indexes: bool = True) -> int:
        """Delete every record of the table, then (by default) empty every attached index.
        Returns the number of records deleted (table and index records).

        Raises:
            zlmdb.lmdb.ReadonlyError: in a read transaction.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        raw = _flushed(txn)
        prefix = self._key_prefix()
        cursor = raw.cursor()
        stats = txn._stats
        count = 0
        if cursor.set_range(prefix):
            while bytes(cursor.key()[:2]) == prefix:
                if not cursor.delete():
                    break
                count += 1
                if stats is not None:
                    stats.dels += 1
        if rebuild_indexes:
            for name in sorted(self._indexes):
                count += self._indexes[name].pmap.truncate(txn)
        return count
