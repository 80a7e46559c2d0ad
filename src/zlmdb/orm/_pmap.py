"""PersistentMap: a typed table in one slot of the database, and its indexes."""

from __future__ import annotations

import struct
import zlib
from collections.abc import MutableMapping
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .. import lmdb
from ._errors import NullValueConstraint, UniqueValueConstraint
from ._transaction import Transaction

try:
    import snappy  # type: ignore[import-not-found]
except ImportError:
    snappy = None

#: select(limit=...) must be below this (upstream's bound).
MAX_SELECT_LIMIT = 10_000_000

_pack_slot = struct.Struct(">H").pack


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
    if type(value) in (tuple, list):
        return any(v is None for v in value)
    return value is None


def qual(obj: Any) -> str:
    """Return ``module.ClassName`` of ``obj``'s class."""
    return f"{obj.__class__.__module__}.{obj.__class__.__name__}"


def _raw(txn: Any) -> lmdb.Transaction:
    if not isinstance(txn, Transaction):
        raise TypeError(f"expected a zlmdb.Transaction, not {type(txn).__name__}")
    raw = txn._txn
    if raw is None:
        raise lmdb.Error("transaction is not open: use it inside 'with db.begin() as txn:'")
    return raw


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

    def _key_prefix(self) -> bytes:
        prefix = self._prefix
        if prefix is None:
            raise ValueError(f"{type(self).__name__} has no slot: pass slot= or use attach_table()")
        return prefix

    def _full_key(self, key: Any) -> bytes:
        prefix = self._prefix
        if prefix is None:
            prefix = self._key_prefix()
        return prefix + self._serialize_key(key)

    def _encode_value(self, value: Any) -> bytes:
        data = self._serialize_value(value)
        if self._compress is not None:
            data = self._compress(data)
        return data

    def _decode_value(self, data: Any) -> Any:
        if not data:
            return None
        if self._decompress is not None:
            data = self._decompress(data)
        elif type(data) is not bytes and not self._ZERO_COPY:
            data = bytes(data)
        return self._deserialize_value(data)

    # -- single records --------------------------------------------------------------------

    def __contains__(self, txn_key: Any) -> bool:
        """``(txn, key) in table``.

        Raises:
            TypeError: not a ``(txn, key)`` pair, or a bad key.
            ValueError: a bad key.
        """
        txn, key = _split(txn_key)
        return _raw(txn).get(self._full_key(key)) is not None

    def __getitem__(self, txn_key: Any) -> Any:
        """``table[txn, key]``: the value, or None when missing (or stored empty).

        Raises:
            TypeError: not a ``(txn, key)`` pair, or a bad key.
            ValueError: a bad key.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        txn, key = _split(txn_key)
        return self._decode_value(_raw(txn).get(self._full_key(key)))

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
        txn, key = _split(txn_key)
        raw = _raw(txn)
        full_key = self._full_key(key)
        data = self._encode_value(value)
        if not self._indexes:
            txn.put(full_key, data)
            return
        deletes, puts = self._plan_index_update(raw, key, full_key, value)
        txn.put(full_key, data)
        for index_key in deletes:
            txn.delete(index_key)
        for index_key, index_data in puts:
            txn.put(index_key, index_data)

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
            old = raw.get(full_key)
            old_value = self._decode_value(old) if old else None
            if old_value is not None:
                for index in self._indexes.values():
                    index_key, index_data = self._index_record(index, key, old_value)
                    if index_key is not None and _points_to(raw, index_key, index_data):
                        txn.delete(index_key)
        txn.delete(full_key)

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

    def detach_index(self, name: str) -> None:
        """Detach index ``name`` (no-op when absent); its records stay in the database."""
        index = self._indexes.pop(name, None)
        if index is not None:
            index.pmap._index_attached_to = None

    def _index_record(self, index: Index, key: Any, value: Any) -> Tuple[Optional[bytes], bytes]:
        """(full index key or None for NULL, index value bytes) of one table record."""
        pmap = index.pmap
        index_data = pmap._encode_value(key)
        fkey = index.fkey(value)
        if is_null(fkey):
            return None, index_data
        return pmap._full_key(fkey), index_data

    def _plan_index_update(
        self, raw: lmdb.Transaction, key: Any, full_key: bytes, value: Any
    ) -> Tuple[List[bytes], List[Tuple[bytes, bytes]]]:
        """Check every index for a put of ``value`` under ``key``; return the index records
        to delete and to put. Raises before anything is written."""
        old = raw.get(full_key)
        old_value = self._decode_value(old) if old else None
        deletes: List[bytes] = []
        puts: List[Tuple[bytes, bytes]] = []
        for index in self._indexes.values():
            new_key, index_data = self._index_record(index, key, value)
            if new_key is None:
                if not index.nullable:
                    raise NullValueConstraint(
                        f'cannot insert NULL value into non-nullable index "{qual(self)}::{index.name}"'
                    )
            elif index.unique:
                current = raw.get(new_key)
                if (
                    current is not None
                    and bytes(current) != index_data
                    and self._index_target_exists(raw, index, current)
                ):
                    raise UniqueValueConstraint(
                        f'unique index "{qual(self)}::{index.name}" already has key '
                        f"{index.fkey(value)!r} for another record"
                    )
            if old_value is not None:
                old_key, _ = self._index_record(index, key, old_value)
                if (
                    old_key is not None
                    and old_key != new_key
                    and _points_to(raw, old_key, index_data)
                ):
                    deletes.append(old_key)
            if new_key is not None:
                puts.append((new_key, index_data))
        return deletes, puts

    def _index_target_exists(self, raw: lmdb.Transaction, index: Index, index_data: Any) -> bool:
        """Whether the table record an index record points to exists (a stale index record,
        e.g. left by an older writer, may be overwritten even in a unique index)."""
        try:
            key = index.pmap._decode_value(index_data)
            return raw.get(self._full_key(key)) is not None
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
        raw = _raw(txn)
        entries: Dict[bytes, bytes] = {}
        for data_key, data in self._iter_raw(raw, self._key_prefix(), self._next_prefix, True):
            value = self._decode_value(data)
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
        raw = _raw(txn)
        start, stop = self._bounds(from_key, to_key)
        return self._select(
            raw, start, stop, bool(return_keys), bool(return_values), bool(reverse), limit
        )

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
            return
        remaining = limit if limit is not None else -1
        decode_key = self._deserialize_key
        decode_value = self._decode_value
        for item in self._iter_raw(raw, start, stop, return_values, reverse):
            if return_values:
                key, data = item
                value = decode_value(data)
                yield (decode_key(key[2:]), value) if return_keys else value
            elif return_keys:
                yield decode_key(item[2:])
            else:
                yield None
            remaining -= 1
            if remaining == 0:
                return

    def count(self, txn: Transaction, prefix: Any = None) -> int:
        """Count the records whose serialized key starts with ``serialize(prefix)``
        (``None``: the whole table). ``prefix`` is a complete key of this map's type.

        Raises:
            TypeError, ValueError: a bad prefix.
            zlmdb.lmdb.Error: the transaction is not open.
        """
        raw = _raw(txn)
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
        raw = _raw(txn)
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
        raw = _raw(txn)
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


def _points_to(raw: lmdb.Transaction, index_key: bytes, index_data: bytes) -> bool:
    current = raw.get(index_key)
    return current is not None and bytes(current) == index_data
