"""Upstream-compatible module of :class:`Database` and its catalogue :class:`Slot`."""

from zlmdb.orm._database import ConfigurationElement, Database, Slot

__all__ = ["ConfigurationElement", "Database", "Slot"]
