"""Schemas: the ``@table`` decorator, its registry and the :class:`Schema` base class."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any, Callable, Dict, Optional, Type, TypeVar, Union

from ._errors import TableDefinitionError
from ._pmap import PersistentMap

#: Every ``@table``-decorated class by its UUID (guarded by :data:`TABLES_LOCK`).
TABLES_BY_UUID: Dict[uuid.UUID, type] = {}
TABLES_LOCK = threading.Lock()

_COMPRESSIONS = (None, PersistentMap.COMPRESS_ZLIB, PersistentMap.COMPRESS_SNAPPY)


def _registry() -> Dict[uuid.UUID, type]:
    """The registry ``@table`` uses: ``zlmdb.TABLES_BY_UUID`` as the package has it now.

    Upstream's decorator looks the name up in its package on every call, so clients start
    afresh with ``zlmdb.TABLES_BY_UUID = {}`` (cfxdb's test modules do, before defining
    tables whose UUIDs other modules used with other hooks); rebinding it here works the same.
    """
    package = sys.modules.get("zlmdb")
    current = package.__dict__.get("TABLES_BY_UUID") if package is not None else None
    return current if isinstance(current, dict) else TABLES_BY_UUID


T = TypeVar("T", bound=type)


def _as_uuid(oid: Any) -> uuid.UUID:
    if isinstance(oid, uuid.UUID):
        return oid
    if isinstance(oid, str):
        return uuid.UUID(oid)
    raise TypeError(f"table oid must be a uuid.UUID or its string, not {type(oid).__name__}")


def _check_hooks(
    marshal: Optional[Callable],
    parse: Optional[Callable],
    build: Optional[Callable],
    cast: Optional[Callable],
    compress: Optional[int],
) -> None:
    for name, hook in (("marshal", marshal), ("parse", parse), ("build", build), ("cast", cast)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable, not {type(hook).__name__}")
    has_marshal = marshal is not None or parse is not None
    has_build = build is not None or cast is not None
    if has_marshal and (marshal is None or parse is None or has_build):
        raise ValueError("give marshal and parse together (and no build/cast)")
    if has_build and (build is None or cast is None or has_marshal):
        raise ValueError("give build and cast together (and no marshal/parse)")
    if compress not in _COMPRESSIONS:
        raise ValueError(f"invalid compression mode {compress!r}")


def table(
    oid: Union[str, uuid.UUID],
    marshal: Optional[Callable] = None,
    parse: Optional[Callable] = None,
    build: Optional[Callable] = None,
    cast: Optional[Callable] = None,
    compress: Optional[int] = None,
) -> Callable[[T], T]:
    """Class decorator declaring a ``PersistentMap`` subclass as the table with UUID ``oid``.

    ``marshal``/``parse`` (JSON/CBOR maps) or ``build``/``cast`` (FlatBuffers maps) are
    passed to the map when :meth:`Database.attach_table` creates it; ``compress`` likewise.
    The class is registered in ``zlmdb.TABLES_BY_UUID`` (rebinding that name to a new dict
    starts a new registry, as with upstream). Decorating again with the same UUID and the
    same arguments re-registers the (new) class.

    Raises:
        TypeError: ``oid`` neither a UUID nor a string; a hook not callable; the decorated
            object not a class.
        ValueError: a malformed UUID string, hooks not in pairs, an unknown ``compress``.
        TableDefinitionError: the UUID is already registered with other arguments (also an
            ``AssertionError``, like upstream).
    """
    oid = _as_uuid(oid)
    _check_hooks(marshal, parse, build, cast, compress)

    def decorate(klass: T) -> T:
        if not isinstance(klass, type):
            raise TypeError(f"@table decorates classes, not {type(klass).__name__}")
        with TABLES_LOCK:
            registry = _registry()
            known = registry.get(oid)
            if known is not None:
                same = (
                    known._zlmdb_marshal == marshal
                    and known._zlmdb_parse == parse
                    and known._zlmdb_build == build
                    and known._zlmdb_cast == cast
                    and known._zlmdb_compress == compress
                )
                if not same:
                    raise TableDefinitionError(
                        f"table {oid} is already defined (as {known.__name__}) with other arguments"
                    )
            klass._zlmdb_oid = oid
            klass._zlmdb_marshal = marshal
            klass._zlmdb_parse = parse
            klass._zlmdb_build = build
            klass._zlmdb_cast = cast
            klass._zlmdb_compress = compress
            registry[oid] = klass
        return klass

    return decorate


class Slot:
    """A slot of a :class:`Schema`: its number, name and map."""

    __slots__ = ("slot", "name", "pmap")

    def __init__(self, slot: int, name: str, pmap: Any) -> None:
        self.slot = slot
        self.name = name
        self.pmap = pmap


class Schema:
    """Base class for fixed-slot schemas: subclass it, create maps with explicit slot
    numbers in ``__init__`` (after ``super().__init__()``) and attach indexes there.

    The ``SLOT_DATA_*`` constants name kinds of slot contents (upstream compatibility).
    """

    SLOT_DATA_EMPTY = 0
    SLOT_DATA_METADATA = 1
    SLOT_DATA_TYPE = 2
    SLOT_DATA_SEQUENCE = 3
    SLOT_DATA_TABLE = 4
    SLOT_DATA_INDEX = 5
    SLOT_DATA_REPLICATION = 6
    SLOT_DATA_MATERIALIZATION = 7

    def __init__(self) -> None:
        self._index_to_slot: Dict[int, Slot] = {}
        self._name_to_slot: Dict[str, Slot] = {}

    def slot(
        self,
        slot_index: int,
        marshal: Optional[Callable] = None,
        unmarshal: Optional[Callable] = None,
        build: Optional[Callable] = None,
        cast: Optional[Callable] = None,
        compress: Optional[int] = None,
    ) -> Callable[[Any], Any]:
        """Decorator registering a map class (or instance) in slot ``slot_index``.

        A class is instantiated with the slot and hooks; the instance is returned.

        Raises:
            ValueError: the slot index or the class name is already used here.
            TypeError: not a PersistentMap class or instance.
        """

        def decorate(obj: Any) -> Any:
            if isinstance(obj, type) and issubclass(obj, PersistentMap):
                kwargs: Dict[str, Any] = {"compress": compress or None}
                if marshal is not None or unmarshal is not None:
                    kwargs.update(marshal=marshal, unmarshal=unmarshal)
                elif build is not None or cast is not None:
                    kwargs.update(build=build, cast=cast)
                pmap = obj(slot_index, **kwargs)
            elif isinstance(obj, PersistentMap):
                pmap = obj
            else:
                raise TypeError("Schema.slot() decorates PersistentMap classes or instances")
            name = type(pmap).__name__ if not isinstance(obj, type) else obj.__name__
            if slot_index in self._index_to_slot:
                raise ValueError(f"slot {slot_index} is already used in this schema")
            if name in self._name_to_slot:
                raise ValueError(f"name {name} is already used in this schema")
            record = Slot(slot_index, name, pmap)
            self._index_to_slot[slot_index] = record
            self._name_to_slot[name] = record
            return pmap

        return decorate


def registered_table(oid: Union[str, uuid.UUID]) -> Optional[Type[PersistentMap]]:
    """Return the class registered for ``oid`` with ``@table``, or None."""
    with TABLES_LOCK:
        return _registry().get(_as_uuid(oid))
