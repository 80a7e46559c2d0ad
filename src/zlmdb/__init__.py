"""zlmdb: LMDB for Python through cffi.

Three APIs over one LMDB binding: :mod:`zlmdb.lmdb` (py-lmdb compatible), the object-relational
layer exported here (upstream zlmdb compatible) and :mod:`zlmdb.store` (a buffered object store).
"""

from zlmdb._version import __version__

__all__ = ["__version__"]
