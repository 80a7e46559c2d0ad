"""The ORM's own exceptions (everything else is a built-in or a :mod:`zlmdb.lmdb` error)."""

from __future__ import annotations


class NullValueConstraint(RuntimeError):
    """A put would store a NULL index key (None, or a tuple with a None element) in an
    index attached with ``nullable=False``. Raised before anything is written."""


class UniqueValueConstraint(RuntimeError):
    """A put would make a unique index key (``attach_index(..., unique=True)``, the
    default) point to a second record. Raised before anything is written."""


class TableDefinitionError(ValueError, AssertionError):
    """``@table`` was applied twice to one UUID with different arguments.

    Also an ``AssertionError`` because upstream zlmdb raised that here."""
