"""Upstream-compatible module of :class:`Database` and its catalogue :class:`Slot`."""

from zlmdb.orm._database import ConfigurationElement, Database, Slot

#: The LMDB file format of new databases: zlmdb bundles LMDB 0.9 only.
DEFAULT_LIB_VERSION = "0.9"

#: LMDB file formats by name, as upstream (only "0.9" can be opened by this build).
_LIB_VERSION_TO_MAJOR = {"0.9": 0, "1.0": 1}

__all__ = ["ConfigurationElement", "DEFAULT_LIB_VERSION", "Database", "Slot"]
