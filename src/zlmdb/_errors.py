"""Upstream-compatible module of the ORM's exceptions (upstream has NullValueConstraint)."""

from zlmdb.orm._errors import NullValueConstraint, TableDefinitionError, UniqueValueConstraint

__all__ = ["NullValueConstraint", "TableDefinitionError", "UniqueValueConstraint"]
