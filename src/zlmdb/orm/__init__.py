"""The object-relational layer: databases, tables (``Map*``), indexes and schemas.

Layers, top down: :mod:`._database` (Database, catalogue) and :mod:`._schema` (``@table``,
Schema) → :mod:`._pmap` (PersistentMap, indexes, ranges) → :mod:`._maps` (the generated
``Map*`` classes) → :mod:`._keys` / :mod:`._values` / :mod:`._numpy` (byte encodings) →
:mod:`zlmdb.lmdb`. Everything public is re-exported by :mod:`zlmdb`.
"""

# The binding first: the modules below import it as ``from .. import lmdb``, which would
# otherwise ask zlmdb's lazy __getattr__ for it and load the ORM surface (this package)
# while this package is still being imported (``import zlmdb.orm`` as the first import).
import zlmdb.lmdb  # noqa: F401  # isort: skip

from ._database import Database, Slot
from ._errors import NullValueConstraint, TableDefinitionError, UniqueValueConstraint
from ._maps import EXTRA_MAPS, MAP_TABLE, MAPS
from ._pmap import Index, PersistentMap, is_null
from ._schema import TABLES_BY_UUID, Schema, table
from ._transaction import Transaction, TransactionStats

__all__ = [
    "Database",
    "Slot",
    "NullValueConstraint",
    "UniqueValueConstraint",
    "TableDefinitionError",
    "EXTRA_MAPS",
    "MAP_TABLE",
    "MAPS",
    "Index",
    "PersistentMap",
    "is_null",
    "TABLES_BY_UUID",
    "Schema",
    "table",
    "Transaction",
    "TransactionStats",
]
