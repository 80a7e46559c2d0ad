"""Upstream-compatible module of :class:`Database` and its catalogue :class:`Slot`."""

from zlmdb.orm._database import DEFAULT_LIB_VERSION, ConfigurationElement, Database, Slot

#: LMDB file formats by name, as upstream (zlmdb opens and creates both).
_LIB_VERSION_TO_MAJOR = {"0.9": 0, "1.0": 1}

__all__ = ["ConfigurationElement", "DEFAULT_LIB_VERSION", "Database", "Slot"]
