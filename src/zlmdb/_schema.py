"""Upstream-compatible module of :class:`Schema` (fixed-slot schemas)."""

from zlmdb.orm._schema import Schema, Slot

__all__ = ["Schema", "Slot"]
